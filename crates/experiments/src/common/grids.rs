//! Grids of widths and probabilities.

/// `n` widths evenly spaced from `a` to `b`, truncated to integers as the original does
/// (`[int(t) for t in np.linspace(a, b, n)]`).
pub fn int_linspace(a: usize, b: usize, n: usize) -> Vec<usize> {
    linspace(a as f64, b as f64, n)
        .into_iter()
        // The tiny margin keeps an exact integer computed as k − ε from truncating to k − 1.
        .map(|t| (t + 1e-9).floor() as usize)
        .collect()
}

/// `n` evenly spaced values from `a` to `b`, computed as numpy's `linspace` does
/// (`a + i·step`, the last value exactly `b`).
pub fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![a],
        _ => {
            let step = (b - a) / (n - 1) as f64;
            let mut v: Vec<f64> = (0..n).map(|i| a + i as f64 * step).collect();
            v[n - 1] = b;
            v
        }
    }
}
