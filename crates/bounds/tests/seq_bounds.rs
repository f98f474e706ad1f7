//! b3, b4 and b5 on Sequential networks (`seq_b3`, `seq_b4`, `seq_b5`) against references
//! computed here, independent of the code under test:
//!
//! * b3 against central finite differences of the network's own forward pass from each site
//!   (`forward_from_site`), element by element (`y_{s,i}` scaled by 1 ± h);
//! * b4 against single-crash forward passes with explicit 0/1 masks (`forward_masked`);
//! * b5's second-order term against central second differences;
//! * all three against the MLP bounds on an MLP converted with `Sequential::from_mlp`;
//! * b3, b4 against exact enumeration (`seq_exact_delta`) at a tiny p, b5 closer to it than
//!   b3 where the network is curved.

use candle_core::{Device, Tensor};
use ftnn_bounds::{b3, b4, b5, seq_b3, seq_b4, seq_b5, BoundsError, SEQ_B5_MAX_SITE};
use ftnn_model::seq::{seq_exact_delta, Architecture, Sequential};
use ftnn_model::{Activation, FailureVector, Init, Inputs, Mlp, ModelError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn uniform(r: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| r.random_range(lo..hi)).collect()
}

/// A network with seeded random parameters: weights and biases uniform in
/// [−scale, scale), running variances in [0.5, 1.5).
fn network(json: &str, seed: u64, scale: f32) -> Sequential {
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
fn inputs(net: &Sequential, n: usize, seed: u64, lo: f32, hi: f32) -> Tensor {
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

fn vals(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Every tensor of the network's layer zoo: grouped conv + folded batch norm + tanh, 2×2 max
/// pooling of 7×7 (windows that do not tile), conv with unequal padding, softplus, standalone
/// batch norm, 3×3/2 average pooling with padding, flatten, linear, softmax.
const ZOO: &str = r#"{"input_shape": [2, 7, 7], "layers": [
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
const STRIDES: &str = r#"{"input_shape": [1, 9, 8], "layers": [
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
const SMALL: &str = r#"{"input_shape": [1, 4, 4], "layers": [
    {"op": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": 1},
    {"op": "tanh"},
    {"op": "avgpool2d", "kernel_size": 2},
    {"op": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 2},
    {"op": "softplus"},
    {"op": "flatten"},
    {"op": "linear", "in_features": 3, "out_features": 2}]}"#;

/// The clean output `[n, n_out]` of a batch from site s with value `v`.
fn from_site(net: &Sequential, s: usize, v: &Tensor) -> Vec<f32> {
    let none = vec![None; net.n_sites()];
    vals(&net.forward_from_site(s, v, &none).unwrap())
}

/// The outputs `[size · factors, n_out]` of the network from site s for input j's site
/// tensor `y` with element i scaled by each factor in turn (row `i·factors.len() + f`).
fn scaled(net: &Sequential, s: usize, y: &[f32], factors: &[f32]) -> Vec<f64> {
    let size = y.len();
    let mut rows = Vec::with_capacity(factors.len() * size * size);
    for i in 0..size {
        for &f in factors {
            let mut r = y.to_vec();
            r[i] *= f;
            rows.extend(r);
        }
    }
    let v = Tensor::from_vec(rows, (factors.len() * size, size), &Device::Cpu).unwrap();
    from_site(net, s, &v).iter().map(|&v| v as f64).collect()
}

/// How the derivatives along `t ↦ F(y + t·y_i·e_i)` at t = 0 are taken by differences.
#[derive(Clone, Copy)]
enum Fd {
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
fn fit_lowest(ts: &[f64], v: &[f64], p: i32) -> f64 {
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
fn derivatives(net: &Sequential, s: usize, x: &Tensor, order: usize, fd: Fd) -> Vec<f64> {
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
        let f = scaled(net, s, &y[j * size..(j + 1) * size], &factors);
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
fn b3_reference(
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
fn b5_term_reference(net: &Sequential, p: &[f64], x: &Tensor, fd: Fd) -> Vec<f64> {
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
fn single_crashes(net: &Sequential, s: usize, x: &Tensor) -> Vec<f64> {
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
fn b4_reference(
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
fn assert_close(got: &[f64], want: &[f64], rtol: f64, atol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rtol * scale + atol,
            "{what}[{i}]: got {g:e}, want {w:e} (scale {scale:e})\n got  {got:?}\n want {want:?}"
        );
    }
}

fn fv(p: &[f64]) -> FailureVector {
    FailureVector::new(p.to_vec()).unwrap()
}

/// [`ZOO`] and [`STRIDES`] without kinks: max pooling → average pooling, relu6 → tanh.
fn smooth(json: &str) -> String {
    json.replace("maxpool2d", "avgpool2d")
        .replace("relu6", "tanh")
}

/// Max pooling straight on the input (`pool` its fields), then conv, tanh, linear, softmax.
/// With [`separated`] inputs no window's maximum changes under the differences' steps.
fn maxnet(pool: &str, side: usize, pooled: usize) -> String {
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
fn separated(net: &Sequential, n: usize, seed: u64) -> Tensor {
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
fn maxnets() -> Vec<String> {
    vec![
        maxnet(r#""kernel_size": 3, "stride": 2, "padding": 1"#, 5, 3),
        maxnet(r#""kernel_size": 2"#, 7, 3),
        maxnet(r#""kernel_size": 3, "stride": 1"#, 5, 3),
    ]
}

/// b3 against [`b3_reference`] with p at every site and at each site alone.
fn check_b3(net: &Sequential, p: &[f64], x: &Tensor, fd: Fd, rtol: f64, what: &str) {
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

#[test]
fn b3_matches_finite_differences_on_every_layer_kind() {
    // The f32 forward pass carries its own rounding δ ≈ 1e-7..1e-6 of |F|, which a difference
    // divides by its step: the steps are as large as the network allows.
    // Smooth networks: least-squares fit over steps up to h = 0.2 (truncation ~h⁶, rounding
    // ~δ/h per element, summed over up to 196 elements of both signs): 1e-3 of the largest
    // entry (seen: 2.5e-4).
    for (json, seed, p) in [
        (smooth(ZOO), 1, vec![0.01, 0.02, 0.05, 0.1]),
        (smooth(STRIDES), 2, vec![0.03, 0.01, 0.2, 0.05]),
    ] {
        let net = network(&json, seed, 1.0);
        assert_eq!(net.n_sites(), p.len());
        let x = inputs(&net, 3, seed + 10, -1.0, 1.0);
        check_b3(&net, &p, &x, Fd::Fit(0.2), 1e-3, &json);
    }
    // Max pooling on separated values: the fit over steps up to h = 0.08 never moves a
    // window's maximum (seen: 1e-4).
    for (i, json) in maxnets().iter().enumerate() {
        let net = network(json, 3 + i as u64, 1.0);
        let x = separated(&net, 2, 13 + i as u64);
        check_b3(&net, &[0.02, 0.05, 0.1], &x, Fd::Fit(0.08), 1e-3, json);
    }
    // With the kinks (max pooling of tanh and sigmoid outputs, relu6): the fit over steps up
    // to h = 0.01, small enough not to cross a kink at these seeds; rounding ~δ/h per element,
    // summed over up to 196 elements: 1 % (seen: 6.5e-3).
    for (json, seed, p) in [
        (ZOO, 1, vec![0.01, 0.02, 0.05, 0.1]),
        (STRIDES, 2, vec![0.03, 0.01, 0.2, 0.05]),
    ] {
        let net = network(json, seed, 1.0);
        let x = inputs(&net, 3, seed + 10, -1.0, 1.0);
        check_b3(&net, &p, &x, Fd::Fit(0.01), 1e-2, json);
    }
}

#[test]
fn b3_and_b4_respect_the_input_crash_mask() {
    let net = network(STRIDES, 3, 1.0);
    let x = inputs(&net, 2, 4, -1.0, 1.0);
    let mut mask = vec![0f32; 72];
    for i in [3, 10, 17, 40, 41, 70] {
        mask[i] = 1.0;
    }
    let p = [0.1, 0.0, 0.05, 0.0];
    let got = seq_b3(&net, &fv(&p), &x, Some(&mask)).unwrap();
    // Plain differences, h = 1e-3 (rounding ~δ/h per element; kinks as in the test above).
    let (mean, std) = b3_reference(&net, &p, &x, Some(&mask), Fd::Plain(1e-3));
    assert_close(&got.mean, &mean, 1e-2, 1e-9, "masked b3 mean");
    assert_close(&got.std, &std, 1e-2, 1e-9, "masked b3 std");
    let got = seq_b4(&net, &fv(&p), &x, Some(&mask)).unwrap();
    let (mean, std) = b4_reference(&net, &p, &x, Some(&mask));
    assert_close(&got.mean, &mean, 1e-5, 1e-7, "masked b4 mean");
    assert_close(&got.std, &std, 1e-5, 1e-7, "masked b4 std");
    // An all-zero mask: nothing at the input can crash.
    let zero = vec![0f32; 72];
    let p = [0.5, 0.0, 0.0, 0.0];
    for b in [
        seq_b3(&net, &fv(&p), &x, Some(&zero)).unwrap(),
        seq_b4(&net, &fv(&p), &x, Some(&zero)).unwrap(),
    ] {
        assert!(b.mean.iter().chain(&b.std).all(|&v| v == 0.0));
    }
    assert!(seq_b5(&net, &fv(&p), &x, Some(&zero))
        .unwrap()
        .iter()
        .all(|&v| v == 0.0));
}

#[test]
fn b4_matches_explicit_single_crash_passes() {
    for (json, seed, p) in [
        (ZOO, 5, vec![0.01, 0.02, 0.05, 0.1]),
        (STRIDES, 6, vec![0.03, 0.01, 0.2, 0.05]),
    ] {
        let net = network(json, seed, 1.0);
        let x = inputs(&net, 3, seed + 10, -1.0, 1.0);
        let got = seq_b4(&net, &fv(&p), &x, None).unwrap();
        let (mean, std) = b4_reference(&net, &p, &x, None);
        // Both are f32 forward passes differenced in f64; the reference differences full
        // outputs, so it carries ~ε·|y| per crash.
        assert_close(&got.mean, &mean, 1e-4, 1e-7, "b4 mean");
        assert_close(&got.std, &std, 1e-4, 1e-7, "b4 std");
    }
}

#[test]
fn b5_second_order_term_matches_second_differences() {
    // b5 − b3 = ½ Σ_s p_s Σ_i y_{s,i}² ∂²F/∂y_{s,i}², against central second differences of
    // the f32 forward pass, site by site. Their error is truncation ~h²/12·y⁴∂⁴F plus
    // rounding ~4δ/h² per element, δ ≈ 1e-6 the forward pass's own rounding — against
    // per-element terms of 1e-5..1e-3 that leaves ~10 % at the best h (0.2; 0.08 on the
    // max-pooling networks, whose windows' maxima must not move). So this checks the
    // structure of the jets through every layer kind (a wrong or missing term is O(1)); the
    // converted MLPs check them to 1e-5 and the exact enumeration checks b5's accuracy.
    let mut cases: Vec<(String, Sequential, Tensor, Vec<f64>, f32)> = Vec::new();
    for (json, seed, p) in [
        (smooth(ZOO), 7, vec![0.01, 0.02, 0.05, 0.1]),
        (smooth(STRIDES), 8, vec![0.03, 0.01, 0.2, 0.05]),
    ] {
        let net = network(&json, seed, 1.0);
        let x = inputs(&net, 2, seed + 10, -1.0, 1.0);
        cases.push((json, net, x, p, 0.2));
    }
    for (i, json) in maxnets().into_iter().enumerate() {
        let net = network(&json, 9 + i as u64, 1.0);
        let x = separated(&net, 2, 19 + i as u64);
        cases.push((json, net, x, vec![0.02, 0.05, 0.1], 0.08));
    }
    let curved = |json: &str, net: &Sequential, s: usize| {
        let after = net.sites()[s].layer_after.map_or(0, |j| j + 1);
        let arch = Architecture::from_json(json).unwrap();
        arch.layers[after..].iter().any(|l| {
            !matches!(
                l.op(),
                "relu" | "relu6" | "conv2d" | "linear" | "flatten" | "dropout"
            ) && !l.op().contains("pool")
                && l.op() != "batchnorm2d"
        })
    };
    for (json, net, x, p, h) in cases {
        for s in 0..p.len() {
            let mut q = vec![0.0; p.len()];
            q[s] = p[s];
            let got = seq_b5(&net, &fv(&q), &x, None).unwrap();
            let first = seq_b3(&net, &fv(&q), &x, None).unwrap();
            if s + 1 == p.len() || !curved(&json, &net, s) {
                // The output site, or only piecewise-linear layers after the site.
                assert_eq!(got, first.mean);
                continue;
            }
            let term: Vec<f64> = got.iter().zip(&first.mean).map(|(a, b)| a - b).collect();
            let want = b5_term_reference(&net, &q, &x, Fd::Plain(h));
            assert_close(
                &term,
                &want,
                0.15,
                1e-9,
                &format!("{json}: b5 − b3, p {q:?}"),
            );
        }
    }
}

#[test]
fn equal_the_mlp_bounds_on_a_converted_mlp() {
    for (act, k, seed) in [
        (Activation::Sigmoid, 1.0, 11),
        (Activation::Tanh, 0.7, 12),
        (Activation::Softplus, 1.3, 13),
        (Activation::Relu, 1.0, 14),
    ] {
        let sizes = [6, 9, 7, 5, 3];
        let mlp = Mlp::init(&sizes, act, k, Init::Paper, &mut rng(seed)).unwrap();
        let net = Sequential::from_mlp(&mlp, &Device::Cpu).unwrap();
        let n = 5;
        let xv = uniform(&mut rng(seed + 100), n * 6, -1.5, 1.5);
        let xi = Inputs::new(xv.clone(), n, 6).unwrap();
        let xt = Tensor::from_vec(xv, (n, 6), &Device::Cpu).unwrap();
        for p in [
            vec![0.01, 0.02, 0.03, 0.05, 0.1],
            vec![0.0, 0.1, 0.0, 0.0, 0.0],
            vec![0.2, 0.0, 0.0, 0.3, 0.0],
        ] {
            let p = fv(&p);
            let what = format!("{act:?} p = {:?}", p.as_slice());
            let (a, b) = (
                seq_b3(&net, &p, &xt, None).unwrap(),
                b3(&mlp, &p, &xi).unwrap(),
            );
            assert_close(&a.mean, &b.mean, 1e-5, 1e-9, &format!("b3 mean, {what}"));
            assert_close(&a.std, &b.std, 1e-5, 1e-9, &format!("b3 std, {what}"));
            let (a, b) = (
                seq_b4(&net, &p, &xt, None).unwrap(),
                b4(&mlp, &p, &xi).unwrap(),
            );
            assert_close(&a.mean, &b.mean, 1e-5, 1e-9, &format!("b4 mean, {what}"));
            assert_close(&a.std, &b.std, 1e-5, 1e-9, &format!("b4 std, {what}"));
            let (a, b) = (
                seq_b5(&net, &p, &xt, None).unwrap(),
                b5(&mlp, &p, &xi).unwrap(),
            );
            assert_close(&a, &b, 1e-5, 1e-9, &format!("b5, {what}"));
        }
    }
}

/// p = 1e-4 at the input (8 pixels allowed), at the 3-element softplus site and at the
/// output: 13 crashable elements, 2^13 patterns.
fn exact_case(x_scale: f32) -> (Sequential, FailureVector, Tensor, Vec<f32>, usize) {
    let net = network(SMALL, 21, 1.0);
    let x = inputs(&net, 3, 22, -x_scale, x_scale);
    let mut mask = vec![0f32; 16];
    for i in [0, 2, 5, 6, 9, 11, 12, 15] {
        mask[i] = 1.0;
    }
    let m = 8 + 3 + 2;
    (net, fv(&[1e-4, 0.0, 1e-4, 1e-4]), x, mask, m)
}

#[test]
fn b3_and_b4_agree_with_exact_enumeration_at_tiny_p() {
    // With m crashable elements, each crashing with probability p, and single-crash changes
    // e_i (pair changes Δ_ij ≈ e_i + e_j):
    //   E Δ = (1 − p)^{m−1} p Σ_i e_i + p²(1 − p)^{m−2} Σ_{i<j} Δ_ij + O(p³)
    //       = p Σ_i e_i + R,   |R| ≲ (m − 1)p·pΣ|e_i| + (m − 1)p·pΣ|e_i| ≤ 2pm·pΣ_i|e_i|,
    //   Var Δ = p(1−p) Σ_i e_i² (1 + O(pm))  ⇒  std relative error O(pm).
    // So b4 is within 2pm·pΣ|e_i| (pm = 1.3e-3) of the exact mean, and its std within a
    // relative 2pm. b3 differs from b4 by the single-crash Taylor remainders r_i = e_i + d_i:
    //   b3 − b4 = −p Σ_i r_i,  so |b3 − exact| ≤ |b4 − exact| + p Σ_i |r_i|,
    // with e_i from explicit single crashes and d_i from finite differences. The inputs are
    // small (|x| ≤ 0.2) so that the remainders are a small part of the mean.
    let (net, p, x, mask, m) = exact_case(0.2);
    let exact = seq_exact_delta(&net, &p, &x, Some(&mask), 20).unwrap();
    assert_eq!(exact.crashable, m);
    let pm = 1e-4 * m as f64;
    let bound4 = seq_b4(&net, &p, &x, Some(&mask)).unwrap();
    let bound3 = seq_b3(&net, &p, &x, Some(&mask)).unwrap();
    let (b3_mean, _) = b3_reference(&net, p.as_slice(), &x, Some(&mask), Fd::Fit(0.05));
    let (b4_mean, _) = b4_reference(&net, p.as_slice(), &x, Some(&mask));
    // p Σ_i |e_i| and p Σ_i |r_i| per input and output, from the references.
    let n_out = net.n_outputs();
    let mut first = vec![0f64; exact.mean.len()];
    let mut remainder = vec![0f64; exact.mean.len()];
    for (s, &ps) in p.as_slice().iter().enumerate() {
        if ps == 0.0 {
            continue;
        }
        let size = net.sites()[s].size;
        let e = single_crashes(&net, s, &x);
        let d = derivatives(&net, s, &x, 1, Fd::Fit(0.05));
        for j in 0..3 {
            for i in 0..size {
                if s == 0 && mask[i] == 0.0 {
                    continue;
                }
                for k in 0..n_out {
                    let at = (j * size + i) * n_out + k;
                    first[j * n_out + k] += ps * e[at].abs();
                    remainder[j * n_out + k] += ps * (e[at] + d[at]).abs();
                }
            }
        }
    }
    for i in 0..exact.mean.len() {
        let (g, w) = (bound4.mean[i], exact.mean[i]);
        let tol4 = 2.0 * pm * first[i] + 1e-12;
        assert!(
            (g - w).abs() <= tol4,
            "b4 mean[{i}]: {g:e} vs exact {w:e} (tol {tol4:e})"
        );
        let (g, w) = (bound4.std[i], exact.std[i]);
        assert!(
            (g - w).abs() <= 2.0 * pm * w,
            "b4 std[{i}]: {g:e} vs exact {w:e}"
        );
        let (g, w) = (bound3.mean[i], exact.mean[i]);
        let tol = tol4 + remainder[i];
        assert!(
            (g - w).abs() <= tol,
            "b3 mean[{i}]: {g:e} vs exact {w:e} (tol {tol:e})"
        );
        // The remainders are a small part of the mean: b3 is a first-order estimate here.
        assert!(
            remainder[i] < 0.2 * w.abs(),
            "remainder {:e} vs mean {w:e}",
            remainder[i]
        );
        assert_close(&[g], &[b3_mean[i]], 1e-4, 1e-12, "b3 vs its reference");
        assert_close(
            &[bound4.mean[i]],
            &[b4_mean[i]],
            1e-4,
            1e-12,
            "b4 vs its reference",
        );
        // std: first order in p, b3's Taylor error enters through e_i² vs d_i².
        let (g, w) = (bound3.std[i], exact.std[i]);
        assert!(
            (g - w).abs() <= 0.2 * w,
            "b3 std[{i}]: {g:e} vs exact {w:e}"
        );
    }
}

#[test]
fn b5_is_closer_to_exact_than_b3_where_the_network_is_curved() {
    // Inputs in [−1, 1), p = 1e-4 at the input (8 pixels) and at the softplus site (not at
    // the output, whose exact −p·y is the same in every bound): the single-crash Taylor
    // remainders are a noticeable part of E Δ, and the second-order term captures most of
    // them (the third-order rest is smaller). b4 is the reference for what is left at O(p²).
    let (net, _, x, mask, _) = exact_case(1.0);
    let p = fv(&[1e-4, 0.0, 1e-4, 0.0]);
    let exact = seq_exact_delta(&net, &p, &x, Some(&mask), 20).unwrap();
    let first = seq_b3(&net, &p, &x, Some(&mask)).unwrap();
    let second = seq_b5(&net, &p, &x, Some(&mask)).unwrap();
    let single = seq_b4(&net, &p, &x, Some(&mask)).unwrap();
    let err = |b: &[f64]| -> f64 { b.iter().zip(&exact.mean).map(|(a, w)| (a - w).abs()).sum() };
    let (e3, e5, e4) = (err(&first.mean), err(&second), err(&single.mean));
    let scale: f64 = exact.mean.iter().map(|v| v.abs()).sum();
    assert!(
        e3 > 0.03 * scale,
        "noticeable curvature: b3 error {e3:e} vs |E Δ| {scale:e}"
    );
    assert!(e5 < 0.35 * e3, "b5 error {e5:e} vs b3 error {e3:e}");
    assert!(e4 < 1e-3 * scale, "b4 error {e4:e} vs |E Δ| {scale:e}");
}

/// A saturating softplus (|scale·z| up to ~60): candle's backward of the network's
/// `log1p(e^{−|t|})` is 0/0 there; the bounds must stay finite and right.
#[test]
fn saturated_softplus_stays_finite() {
    let json = r#"{"input_shape": [4], "layers": [
        {"op": "linear", "in_features": 4, "out_features": 5},
        {"op": "softplus", "scale": 30.0, "gain": 0.1},
        {"op": "linear", "in_features": 5, "out_features": 2}]}"#;
    let net = network(json, 51, 1.0);
    let x = inputs(&net, 4, 52, -1.0, 1.0);
    let p = [0.05, 0.1, 0.0];
    check_b3(&net, &p, &x, Fd::Fit(0.05), 1e-3, "saturated softplus");
    let b = seq_b5(&net, &fv(&p), &x, None).unwrap();
    assert!(b.iter().all(|v| v.is_finite()));
}

#[test]
fn typed_errors() {
    let net = network(SMALL, 31, 1.0);
    let x = inputs(&net, 2, 32, -1.0, 1.0);
    // Wrong number of probabilities.
    let p3 = fv(&[0.1, 0.1, 0.1]);
    for e in [
        seq_b3(&net, &p3, &x, None).unwrap_err(),
        seq_b4(&net, &p3, &x, None).unwrap_err(),
        seq_b5(&net, &p3, &x, None).unwrap_err(),
    ] {
        assert!(
            matches!(
                e,
                BoundsError::Model(ModelError::SiteCount {
                    expected: 4,
                    got: 3
                })
            ),
            "{e}"
        );
    }
    let p = fv(&[0.1, 0.1, 0.1, 0.1]);
    // Wrong input shapes.
    for bad in [
        Tensor::zeros((2, 1, 4, 5), candle_core::DType::F32, &Device::Cpu).unwrap(),
        Tensor::zeros((2, 15), candle_core::DType::F32, &Device::Cpu).unwrap(),
        Tensor::zeros(16, candle_core::DType::F32, &Device::Cpu).unwrap(),
    ] {
        let e = seq_b3(&net, &p, &bad, None).unwrap_err();
        assert!(
            matches!(e, BoundsError::Model(ModelError::Shape { .. })),
            "{e}"
        );
        let e = seq_b4(&net, &p, &bad, None).unwrap_err();
        assert!(
            matches!(e, BoundsError::Model(ModelError::Shape { .. })),
            "{e}"
        );
    }
    // The flat layout `[N, input size]` is accepted and means the same.
    let flat = x.reshape((2, 16)).unwrap();
    assert_eq!(
        seq_b3(&net, &p, &flat, None).unwrap(),
        seq_b3(&net, &p, &x, None).unwrap()
    );
    // Bad crash masks.
    let e = seq_b3(&net, &p, &x, Some(&[1.0; 15])).unwrap_err();
    assert!(
        matches!(e, BoundsError::Model(ModelError::Shape { .. })),
        "{e}"
    );
    let mut m = vec![1.0f32; 16];
    m[3] = 0.5;
    let e = seq_b4(&net, &p, &x, Some(&m)).unwrap_err();
    assert!(
        matches!(e, BoundsError::Model(ModelError::Shape { .. })),
        "{e}"
    );
    // Non-finite inputs give non-finite bounds: an error, not NaN.
    let mut v = vals(&x);
    v[5] = f32::NAN;
    let nan = Tensor::from_vec(v, (2, 1, 4, 4), &Device::Cpu).unwrap();
    for e in [
        seq_b3(&net, &p, &nan, None).unwrap_err(),
        seq_b4(&net, &p, &nan, None).unwrap_err(),
        seq_b5(&net, &p, &nan, None).unwrap_err(),
    ] {
        assert!(
            matches!(e, BoundsError::Model(ModelError::NonFinite { .. })),
            "{e}"
        );
    }
}

#[test]
fn b5_refuses_large_curved_sites_only() {
    // A tanh site of 2·40·40 = 3200 elements is fine; 3·40·40 = 4800 is not, unless only
    // piecewise-linear layers follow it (then its second-order term is zero).
    let json = |c: usize, act: &str| {
        format!(
            r#"{{"input_shape": [1, 40, 40], "layers": [
            {{"op": "conv2d", "in_channels": 1, "out_channels": {c}, "kernel_size": 1}},
            {{"op": "relu"}},
            {{"op": "adaptive_avgpool2d", "output_size": [1, 1]}},
            {{"op": "flatten"}},
            {{"op": "linear", "in_features": {c}, "out_features": 2}},
            {{"op": "{act}"}},
            {{"op": "linear", "in_features": 2, "out_features": 2}}]}}"#
        )
    };
    let p = fv(&[0.0, 0.01, 0.0, 0.0]);
    let big = network(&json(3, "tanh"), 41, 1.0);
    assert!(big.sites()[1].size > SEQ_B5_MAX_SITE);
    let x = inputs(&big, 1, 42, -1.0, 1.0);
    let e = seq_b5(&big, &p, &x, None).unwrap_err();
    assert!(
        matches!(e, BoundsError::NotApplicable { bound: "b5", .. }),
        "{e}"
    );
    assert!(e.to_string().contains("4800"), "{e}");
    let flat = network(&json(3, "relu"), 41, 1.0);
    let b = seq_b5(&flat, &p, &x, None).unwrap();
    assert_eq!(b, seq_b3(&flat, &p, &x, None).unwrap().mean);
    let ok = network(&json(2, "tanh"), 43, 1.0);
    assert!(seq_b5(&ok, &p, &x, None).is_ok());
}
