//! Networks, inputs and independent references (finite differences, explicit single-crash
//! passes) shared by the tests of the bounds on Sequential networks.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use candle_core::{Device, Tensor};
use ftnn_bounds::seq_b3;
use ftnn_model::seq::{Architecture, Sequential};
use ftnn_model::FailureVector;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn uniform(r: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| r.random_range(lo..hi)).collect()
}

/// A network with seeded random parameters: weights and biases uniform in
/// [−scale, scale), running variances in [0.5, 1.5).
pub fn network(json: &str, seed: u64, scale: f32) -> Sequential {
    let arch = Architecture::from_json(json).unwrap();
    let mut r = rng(seed);
    let tensors: BTreeMap<String, Tensor> = arch
        .tensors()
        .into_iter()
        .map(|(_, key, shape)| {
            let n = shape.iter().product();
            let v = if key.ends_with("running_var") {
                uniform(&mut r, n, 0.5, 1.5)
            } else {
                uniform(&mut r, n, -scale, scale)
            };
            (key, Tensor::from_vec(v, shape, &Device::Cpu).unwrap())
        })
        .collect();
    Sequential::new(arch, &tensors, &Device::Cpu).unwrap()
}

/// Inputs `[n, *input_shape]` uniform in [lo, hi).
pub fn inputs(net: &Sequential, n: usize, seed: u64, lo: f32, hi: f32) -> Tensor {
    let mut dims = vec![n];
    dims.extend_from_slice(net.input_shape());
    let size: usize = net.input_shape().iter().product();
    Tensor::from_vec(
        uniform(&mut rng(seed), n * size, lo, hi),
        dims,
        &Device::Cpu,
    )
    .unwrap()
}

pub fn vals(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Every tensor of the network's layer zoo: grouped conv + folded batch norm + tanh, 2×2 max
/// pooling of 7×7 (windows that do not tile), conv with unequal padding, softplus, standalone
/// batch norm, 3×3/2 average pooling with padding, flatten, linear, softmax.
pub const ZOO: &str = r#"{"input_shape": [2, 7, 7], "layers": [
    {"op": "conv2d", "in_channels": 2, "out_channels": 4, "kernel_size": 3, "padding": 1, "groups": 2},
    {"op": "batchnorm2d", "num_features": 4},
    {"op": "tanh"},
    {"op": "maxpool2d", "kernel_size": 2},
    {"op": "conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 2, "padding": [1, 0]},
    {"op": "softplus", "scale": 2.0, "gain": 0.5},
    {"op": "batchnorm2d", "num_features": 4},
    {"op": "avgpool2d", "kernel_size": 3, "stride": 2, "padding": 1},
    {"op": "flatten"},
    {"op": "linear", "in_features": 8, "out_features": 3},
    {"op": "softmax"}]}"#;

/// Strided convolution on a non-square input (the two axes' remainders differ), sigmoid,
/// 3×3/2 max pooling with padding, a convolution with unequal strides, relu6, adaptive average
/// pooling to bins that do not divide the input, dropout, linear.
pub const STRIDES: &str = r#"{"input_shape": [1, 9, 8], "layers": [
    {"op": "conv2d", "in_channels": 1, "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1},
    {"op": "sigmoid", "scale": 1.5},
    {"op": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1},
    {"op": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": [2, 1], "stride": [1, 2]},
    {"op": "relu6", "scale": 3.0},
    {"op": "adaptive_avgpool2d", "output_size": [3, 1]},
    {"op": "flatten"},
    {"op": "dropout"},
    {"op": "linear", "in_features": 12, "out_features": 2}]}"#;

/// A small CNN whose later crash sites are small enough for exact enumeration.
pub const SMALL: &str = r#"{"input_shape": [1, 4, 4], "layers": [
    {"op": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": 1},
    {"op": "tanh"},
    {"op": "avgpool2d", "kernel_size": 2},
    {"op": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 2},
    {"op": "softplus"},
    {"op": "flatten"},
    {"op": "linear", "in_features": 3, "out_features": 2}]}"#;

/// The clean output `[n, n_out]` of a batch from site s with value `v`, with the skip
/// tensors `skips` when a skip connection spans the site.
pub fn from_site(net: &Sequential, s: usize, v: &Tensor, skips: &[Tensor]) -> Vec<f32> {
    let none = vec![None; net.n_sites()];
    vals(
        &net.forward_from_site_with_skips(s, v, &none, skips)
            .unwrap(),
    )
}

/// The outputs `[size · factors, n_out]` of the network from site s for input j's site
/// tensor `y` with element i scaled by each factor in turn (row `i·factors.len() + f`);
/// `xj` `[1, *input_shape]` is input j (for the clean skip tensors of a site inside a block).
pub fn scaled(net: &Sequential, s: usize, xj: &Tensor, y: &[f32], factors: &[f32]) -> Vec<f64> {
    let size = y.len();
    let mut rows = Vec::with_capacity(factors.len() * size * size);
    for i in 0..size {
        for &f in factors {
            let mut r = y.to_vec();
            r[i] *= f;
            rows.extend(r);
        }
    }
    let b = factors.len() * size;
    let v = Tensor::from_vec(rows, (b, size), &Device::Cpu).unwrap();
    let (_, skips) = net
        .forward_trace_with_inputs(xj, &net.site_skip_inputs(s))
        .unwrap();
    let skips: Vec<Tensor> = skips
        .iter()
        .map(|t| {
            let mut dims = t.dims().to_vec();
            dims[0] = b;
            t.broadcast_as(dims).unwrap().contiguous().unwrap()
        })
        .collect();
    from_site(net, s, &v, &skips)
        .iter()
        .map(|&v| v as f64)
        .collect()
}

/// How the derivatives along `t ↦ F(y + t·y_i·e_i)` at t = 0 are taken by differences.
#[derive(Clone, Copy)]
pub enum Fd {
    /// Central differences with step h: `(F(h) − F(−h))/2h`, `(F(h) − 2F(0) + F(−h))/h²`.
    Plain(f32),
    /// Least squares over the steps t = h·m/6, m = 1..6: the odd part
    /// `(F(t) − F(−t))/2 = a₁t + a₃t³ + a₅t⁵` (first derivative a₁) or the even part
    /// `(F(t) + F(−t))/2 − F(0) = a₂t² + a₄t⁴ + a₆t⁶` (second derivative 2a₂). Truncation
    /// O(h⁶); averaging twelve evaluations tames the f32 rounding that a single difference
    /// divides by h or h².
    Fit(f32),
}

/// The least-squares coefficient of the lowest power in `v(t) ≈ Σ_j c_j t^{p + 2j}`, j < 3.
pub fn fit_lowest(ts: &[f64], v: &[f64], p: i32) -> f64 {
    let mut a = [[0f64; 3]; 3];
    let mut b = [0f64; 3];
    for (&t, &y) in ts.iter().zip(v) {
        let basis = [t.powi(p), t.powi(p + 2), t.powi(p + 4)];
        for r in 0..3 {
            b[r] += basis[r] * y;
            for c in 0..3 {
                a[r][c] += basis[r] * basis[c];
            }
        }
    }
    // Gaussian elimination (3×3, well conditioned for t scaled to [0, 1]).
    for col in 0..3 {
        for r in col + 1..3 {
            let f = a[r][col] / a[col][col];
            for c in col..3 {
                a[r][c] -= f * a[col][c];
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = [0f64; 3];
    for r in (0..3).rev() {
        let rest: f64 = (r + 1..3).map(|c| a[r][c] * x[c]).sum();
        x[r] = (b[r] - rest) / a[r][r];
    }
    x[0]
}

/// `[N, size_s, n_out]`: `y_{s,i}·∂F_k/∂y_{s,i}` (order 1) or `y_{s,i}²·∂²F_k/∂y_{s,i}²`
/// (order 2) for every input, element and output, by differences of the network's own f32
/// forward pass from site s.
pub fn derivatives(net: &Sequential, s: usize, x: &Tensor, order: usize, fd: Fd) -> Vec<f64> {
    let n = x.dim(0).unwrap();
    let n_out = net.n_outputs();
    let size = net.sites()[s].size;
    let y = vals(&net.forward_trace(x).unwrap()[s]);
    // Steps t > 0 (each used as ±t), in units of h.
    let (h, units): (f32, Vec<f32>) = match fd {
        Fd::Plain(h) => (h, vec![1.0]),
        Fd::Fit(h) => (h, (1..=6).map(|m| m as f32 / 6.0).collect()),
    };
    let mut factors = vec![1.0f32];
    for &u in &units {
        factors.push(1.0 + u * h);
        factors.push(1.0 - u * h);
    }
    let nf = factors.len();
    // The steps as actually applied (f32 rounding of 1 ± t), in units of h.
    let ts: Vec<f64> = units
        .iter()
        .map(|&u| ((1.0 + u * h) as f64 - 1.0) / h as f64)
        .collect();
    let mut out = Vec::with_capacity(n * size * n_out);
    for j in 0..n {
        let xj = x.narrow(0, j, 1).unwrap();
        let f = scaled(net, s, &xj, &y[j * size..(j + 1) * size], &factors);
        for i in 0..size {
            for k in 0..n_out {
                let at = |r: usize| f[(i * nf + r) * n_out + k];
                let parts: Vec<f64> = (0..units.len())
                    .map(|m| match order {
                        1 => (at(1 + 2 * m) - at(2 + 2 * m)) / 2.0,
                        _ => (at(1 + 2 * m) + at(2 + 2 * m)) / 2.0 - at(0),
                    })
                    .collect();
                let h = h as f64;
                out.push(match (fd, order) {
                    (Fd::Plain(_), 1) => parts[0] / h,
                    (Fd::Plain(_), _) => 2.0 * parts[0] / (h * h),
                    (Fd::Fit(_), 1) => fit_lowest(&ts, &parts, 1) / h,
                    (Fd::Fit(_), _) => 2.0 * fit_lowest(&ts, &parts, 2) / (h * h),
                });
            }
        }
    }
    out
}

/// Reference b3 (mean, std) `[N, n_out]` from [`derivatives`] of order 1.
pub fn b3_reference(
    net: &Sequential,
    p: &[f64],
    x: &Tensor,
    mask: Option<&[f32]>,
    fd: Fd,
) -> (Vec<f64>, Vec<f64>) {
    let n = x.dim(0).unwrap();
    let n_out = net.n_outputs();
    let (mut mean, mut var) = (vec![0f64; n * n_out], vec![0f64; n * n_out]);
    for (s, site) in net.sites().iter().enumerate() {
        if p[s] == 0.0 {
            continue;
        }
        let d = derivatives(net, s, x, 1, fd);
        for j in 0..n {
            for i in 0..site.size {
                if s == 0 && mask.is_some_and(|m| m[i] == 0.0) {
                    continue;
                }
                for k in 0..n_out {
                    let v = d[(j * site.size + i) * n_out + k];
                    mean[j * n_out + k] -= p[s] * v;
                    var[j * n_out + k] += p[s] * (1.0 - p[s]) * v * v;
                }
            }
        }
    }
    (mean, var.iter().map(|v| v.sqrt()).collect())
}

/// Reference second-order term of b5, `½ Σ_s p_s Σ_i y_{s,i}² ∂²F/∂y_{s,i}²`, `[N, n_out]`.
pub fn b5_term_reference(net: &Sequential, p: &[f64], x: &Tensor, fd: Fd) -> Vec<f64> {
    let n = x.dim(0).unwrap();
    let n_out = net.n_outputs();
    let mut term = vec![0f64; n * n_out];
    for (s, site) in net.sites().iter().enumerate() {
        if p[s] == 0.0 {
            continue;
        }
        let d = derivatives(net, s, x, 2, fd);
        for j in 0..n {
            for i in 0..site.size {
                for k in 0..n_out {
                    term[j * n_out + k] += 0.5 * p[s] * d[(j * site.size + i) * n_out + k];
                }
            }
        }
    }
    term
}

/// Single-crash output changes `[n, size_s, n_out]` of site s by forward passes with explicit
/// masks: input j repeated size_s times, row i with a mask that zeroes element i of site s.
pub fn single_crashes(net: &Sequential, s: usize, x: &Tensor) -> Vec<f64> {
    let n = x.dim(0).unwrap();
    let n_out = net.n_outputs();
    let size = net.sites()[s].size;
    let clean = vals(&net.forward(x).unwrap());
    let in_size: usize = net.input_shape().iter().product();
    let xv = vals(x);
    let mut e = Vec::with_capacity(n * size * n_out);
    for j in 0..n {
        let rep: Vec<f32> = (0..size)
            .flat_map(|_| xv[j * in_size..(j + 1) * in_size].iter().copied())
            .collect();
        let xr = Tensor::from_vec(rep, (size, in_size), &Device::Cpu).unwrap();
        let mut m = vec![1f32; size * size];
        for i in 0..size {
            m[i * size + i] = 0.0;
        }
        let mut masks = vec![None; net.n_sites()];
        masks[s] = Some(Tensor::from_vec(m, (size, size), &Device::Cpu).unwrap());
        let out = vals(&net.forward_masked(&xr, &masks).unwrap());
        for i in 0..size {
            for k in 0..n_out {
                e.push(out[i * n_out + k] as f64 - clean[j * n_out + k] as f64);
            }
        }
    }
    e
}

/// Reference b4 from [`single_crashes`].
pub fn b4_reference(
    net: &Sequential,
    p: &[f64],
    x: &Tensor,
    mask: Option<&[f32]>,
) -> (Vec<f64>, Vec<f64>) {
    let n = x.dim(0).unwrap();
    let n_out = net.n_outputs();
    let (mut mean, mut var) = (vec![0f64; n * n_out], vec![0f64; n * n_out]);
    for (s, site) in net.sites().iter().enumerate() {
        if p[s] == 0.0 {
            continue;
        }
        let e = single_crashes(net, s, x);
        for j in 0..n {
            for i in 0..site.size {
                if s == 0 && mask.is_some_and(|m| m[i] == 0.0) {
                    continue;
                }
                for k in 0..n_out {
                    let v = e[(j * site.size + i) * n_out + k];
                    mean[j * n_out + k] += p[s] * v;
                    var[j * n_out + k] += p[s] * (1.0 - p[s]) * v * v;
                }
            }
        }
    }
    (mean, var.iter().map(|v| v.sqrt()).collect())
}

/// `|got − want| ≤ rtol · max|want| + atol` elementwise.
pub fn assert_close(got: &[f64], want: &[f64], rtol: f64, atol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rtol * scale + atol,
            "{what}[{i}]: got {g:e}, want {w:e} (scale {scale:e})\n got  {got:?}\n want {want:?}"
        );
    }
}

pub fn fv(p: &[f64]) -> FailureVector {
    FailureVector::new(p.to_vec()).unwrap()
}

/// [`ZOO`] and [`STRIDES`] without kinks: max pooling → average pooling, relu6 → tanh.
pub fn smooth(json: &str) -> String {
    json.replace("maxpool2d", "avgpool2d")
        .replace("relu6", "tanh")
}

/// Max pooling straight on the input (`pool` its fields), then conv, tanh, linear, softmax.
/// With [`separated`] inputs no window's maximum changes under the differences' steps.
pub fn maxnet(pool: &str, side: usize, pooled: usize) -> String {
    let conv = pooled - 1;
    format!(
        r#"{{"input_shape": [2, {side}, {side}], "layers": [
        {{"op": "maxpool2d", {pool}}},
        {{"op": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 2}},
        {{"op": "tanh"}},
        {{"op": "flatten"}},
        {{"op": "linear", "in_features": {}, "out_features": 3}},
        {{"op": "softmax"}}]}}"#,
        3 * conv * conv
    )
}

/// Inputs whose values are ±0.05·1.1^k, k = 0, 1, …, each magnitude once with each sign, in
/// random order: scaling one of them by 1 ± h with h < 0.09 never changes the order of two
/// values, so no window's maximum moves.
pub fn separated(net: &Sequential, n: usize, seed: u64) -> Tensor {
    let size: usize = net.input_shape().iter().product();
    let mut r = rng(seed);
    let mut v: Vec<f32> = Vec::with_capacity(n * size);
    for _ in 0..n {
        let mut grid: Vec<f32> = (0..size)
            .map(|k| {
                let m = 0.05 * 1.1f32.powi((k / 2) as i32);
                if k % 2 == 0 {
                    m
                } else {
                    -m
                }
            })
            .collect();
        for i in (1..grid.len()).rev() {
            grid.swap(i, r.random_range(0..=i));
        }
        v.extend(&grid);
    }
    let mut dims = vec![n];
    dims.extend_from_slice(net.input_shape());
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

/// The three max-pooling networks: 3×3/2 windows with padding on 5×5, 2×2 on 7×7 (the
/// windows do not tile), 3×3/1 overlapping windows on 5×5.
pub fn maxnets() -> Vec<String> {
    vec![
        maxnet(r#""kernel_size": 3, "stride": 2, "padding": 1"#, 5, 3),
        maxnet(r#""kernel_size": 2"#, 7, 3),
        maxnet(r#""kernel_size": 3, "stride": 1"#, 5, 3),
    ]
}

/// b3 against [`b3_reference`] with p at every site and at each site alone.
pub fn check_b3(net: &Sequential, p: &[f64], x: &Tensor, fd: Fd, rtol: f64, what: &str) {
    let mut cases = vec![p.to_vec()];
    for s in 0..p.len() {
        let mut q = vec![0.0; p.len()];
        q[s] = p[s];
        cases.push(q);
    }
    for q in cases {
        let got = seq_b3(net, &fv(&q), x, None).unwrap();
        let (mean, std) = b3_reference(net, &q, x, None, fd);
        assert_close(
            &got.mean,
            &mean,
            rtol,
            1e-9,
            &format!("{what}: b3 mean, p {q:?}"),
        );
        assert_close(
            &got.std,
            &std,
            rtol,
            1e-9,
            &format!("{what}: b3 std, p {q:?}"),
        );
    }
}
