//! Taylor-expansion bounds (SPEC §4): b3 on the outputs, b3 on a loss, and b5.
//!
//! With `d_{l,i} = y_{l,i} · ∂y_L/∂y_{l,i}` (derivative with respect to the neuron's output,
//! after the activation, where the crash mask acts):
//!
//! * **b3** `E Δ ≈ −Σ_l p_l Σ_i d_{l,i}`, `Var Δ ≈ Σ_l p_l(1−p_l) Σ_i d_{l,i}²` per output.
//!   The paper writes p for p(1−p) (equal to first order); ftnn uses p(1−p).
//! * **b3 on the loss**: the same with the scalar loss L(ŷ, target) in place of y_L.
//! * **b5** `E Δ ≈ −Σ_l p_l Σ_i d_{l,i} + ½ Σ_l p_l Σ_i y_{l,i}² ∂²y_L/∂y_{l,i}²`.
//!
//! The derivatives come from an analytic backward pass over a batch of inputs: the Jacobian
//! rows `J_l = ∂y_L/∂y_l` satisfy `J_L = I` and `J_{l−1} = (J_l ⊙ φ'(z_l)) W_l` (φ' = 1 at
//! the linear output), one candle GEMM per layer for all inputs and outputs at once
//! ([`Mlp::backward_cols`], the network's one backward walk). b5's second-order term is
//! contracted with the same pass: `Σ_i y_{l,i}² ∂²y_L/∂y_{l,i}²` is never formed neuron by
//! neuron (see [`b5`]'s implementation notes); [`second_derivatives`] gives the per-neuron
//! values by forward mode for inspection and as the tests' reference.
//! Sums over neurons accumulate in f32 within blocks of 32 neurons and in f64 across blocks.

use crate::error::Result;
use crate::estimate::{check_finite, MeanStd};
use ftnn_model::{check_len, FailureVector, Inputs, Loss, Mlp, Stop, Trace};

/// Largest number of stacked rows (inputs × outputs or inputs × neurons) held at once.
pub(crate) const MAX_ROWS: usize = 1 << 15;

/// Input ranges such that `rows_per_input` rows per input stay below [`MAX_ROWS`].
pub(crate) fn input_chunks(n: usize, rows_per_input: usize) -> Vec<std::ops::Range<usize>> {
    let per = (MAX_ROWS / rows_per_input.max(1)).max(1);
    (0..n).step_by(per).map(|s| s..(s + per).min(n)).collect()
}

/// The trace of a chunk of inputs.
pub(crate) fn chunk_trace(net: &Mlp, x: &Inputs, range: &std::ops::Range<usize>) -> Result<Trace> {
    let w = x.cols();
    Ok(net.forward_trace(&x.data()[range.start * w..range.end * w], range.len())?)
}

/// Propagates `r` derivative vectors per input — `gt` is `[n_L, rows·r]`, column `n·r + j`
/// the derivative of the j-th scalar function of y_L for input n — down to the first crashing
/// layer, adding at each crashing layer l `−p_l Σ_i y_{l,i} g_i` to `mean` and
/// `p_l(1−p_l) Σ_i (y_{l,i} g_i)²` to `var` (both `[rows·r]`). Columns keep the GEMM's
/// inner dimension long: `Gᵀ_{l−1} = W_lᵀ (φ'(z_l) ⊙ Gᵀ_l)`, by [`Mlp::backward_cols`].
/// `also(l, Gᵀ_l)` sees the derivatives with respect to every layer's outputs on the way
/// (b5 collects its second-order term there).
#[allow(clippy::too_many_arguments)]
fn first_order(
    net: &Mlp,
    p: &FailureVector,
    trace: &Trace,
    gt: Vec<f32>,
    r: usize,
    mean: &mut [f64],
    var: &mut [f64],
    mut also: impl FnMut(usize, &[f32]),
) -> Result<()> {
    let big_l = net.output_layer();
    let Some(l0) = p.first_crashing_layer() else {
        return Ok(());
    };
    let rows = trace.rows;
    let cols = rows * r;
    let sizes = net.sizes();
    let scale = |l: usize, gt: &mut [f32]| {
        if l < big_l {
            let n_l = sizes[l];
            let (mut d1, mut d2) = (vec![0f32; rows * n_l], vec![0f32; rows * n_l]);
            net.activation()
                .derivatives_f32(&trace.z[l], net.k_lips() as f32, &mut d1, &mut d2);
            let d1t = transpose(&d1, rows, n_l);
            for (g, d) in gt.chunks_exact_mut(cols).zip(d1t.chunks_exact(rows)) {
                for (g, &d) in g.chunks_exact_mut(r).zip(d) {
                    g.iter_mut().for_each(|v| *v *= d);
                }
            }
        }
    };
    let at_y = |l: usize, gt: &[f32]| -> Result<()> {
        also(l, gt);
        let n_l = sizes[l];
        if p[l] > 0.0 {
            let (pl, ql) = (p[l], p[l] * (1.0 - p[l]));
            // Blocks of BLOCK neurons are summed in f32 (vectorised), the blocks in f64.
            const BLOCK: usize = 32;
            let (mut s1, mut s2) = (vec![0f64; cols], vec![0f64; cols]);
            let (mut t1, mut t2, mut yexp) = (vec![0f32; cols], vec![0f32; cols], vec![0f32; cols]);
            let yt = transpose(&trace.y[l], rows, n_l);
            for block in (0..n_l).step_by(BLOCK) {
                t1.fill(0.0);
                t2.fill(0.0);
                for i in block..(block + BLOCK).min(n_l) {
                    expand(&yt[i * rows..(i + 1) * rows], r, &mut yexp);
                    let g = &gt[i * cols..(i + 1) * cols];
                    for (((t1, t2), &y), &g) in t1.iter_mut().zip(&mut t2).zip(&yexp).zip(g) {
                        let d = y * g;
                        *t1 += d;
                        *t2 += d * d;
                    }
                }
                for c in 0..cols {
                    s1[c] += t1[c] as f64;
                    s2[c] += t2[c] as f64;
                }
            }
            for c in 0..cols {
                mean[c] -= pl * s1[c];
                var[c] += ql * s2[c];
            }
        }
        Ok(())
    };
    net.backward_cols(gt, cols, big_l, Stop::Y(l0), scale, at_y)?;
    Ok(())
}

/// b3 on the outputs: per input and output, the first-order estimates of E Δ and std Δ.
pub fn b3(net: &Mlp, p: &FailureVector, x: &Inputs) -> Result<MeanStd> {
    p.check_len(net.n_neuron_layers())?;
    b3_checked(net, p, x)
}

/// [`b3`] for a failure vector already checked against `net` (by
/// [`crate::BoundKind::check_applicable`] or the public function).
pub(crate) fn b3_checked(net: &Mlp, p: &FailureVector, x: &Inputs) -> Result<MeanStd> {
    x.check_width(net.n_inputs())?;
    let n_out = net.n_outputs();
    let (mut mean, mut var) = (vec![0f64; x.rows() * n_out], vec![0f64; x.rows() * n_out]);
    for range in input_chunks(x.rows(), n_out) {
        let trace = chunk_trace(net, x, &range)?;
        let s = range.start * n_out..range.end * n_out;
        first_order(
            net,
            p,
            &trace,
            identity_columns(range.len(), n_out),
            n_out,
            &mut mean[s.clone()],
            &mut var[s],
            |_, _| {},
        )?;
    }
    MeanStd::from_moments(x.rows(), n_out, mean, var)
}

/// First-order moments of the loss perturbation ΔL = L(ŷ) − L(y) per input.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LossMoments {
    /// Estimated E ΔL per input.
    pub mean: Vec<f64>,
    /// Estimated Var ΔL per input.
    pub var: Vec<f64>,
}

/// b3 on a loss: `targets` is `[N, n_L]` (e.g. one-hot labels).
pub fn b3_loss(
    net: &Mlp,
    p: &FailureVector,
    x: &Inputs,
    targets: &[f32],
    loss: Loss,
) -> Result<LossMoments> {
    p.check_len(net.n_neuron_layers())?;
    x.check_width(net.n_inputs())?;
    let n_out = net.n_outputs();
    check_len("targets", targets.len(), x.rows() * n_out, "N × n_L")?;
    check_finite("targets", targets)?;
    let (mut mean, mut var) = (vec![0f64; x.rows()], vec![0f64; x.rows()]);
    for range in input_chunks(x.rows(), 1) {
        let trace = chunk_trace(net, x, &range)?;
        let cols = range.len();
        let mut g = vec![0f32; n_out * cols];
        let (mut g64, big_l) = (vec![0f64; n_out], net.output_layer());
        for (j, n) in range.clone().enumerate() {
            let y: Vec<f64> = trace.y[big_l][j * n_out..(j + 1) * n_out]
                .iter()
                .map(|&v| v as f64)
                .collect();
            let t: Vec<f64> = targets[n * n_out..(n + 1) * n_out]
                .iter()
                .map(|&v| v as f64)
                .collect();
            loss.grad(&y, &t, &mut g64);
            for k in 0..n_out {
                g[k * cols + j] = g64[k] as f32;
            }
        }
        first_order(
            net,
            p,
            &trace,
            g,
            1,
            &mut mean[range.clone()],
            &mut var[range],
            |_, _| {},
        )?;
    }
    check_finite("b3 loss mean", &mean)?;
    check_finite("b3 loss variance", &var)?;
    Ok(LossMoments { mean, var })
}

/// Second derivatives `∂²y_L/∂y_{l,i}²` for every neuron i of layer l < L − 1 and every input
/// of `trace`: `[rows · n_l, n_L]`. (For l ≥ L − 1 the output is linear in y_l: all zero.)
///
/// Forward mode, batched over neurons: starting from `u = W_{l+1}[:, i]`, `u' = 0`, each
/// hidden layer maps `(u, u') ↦ (W (φ'⊙u), W (φ''⊙u² + φ'⊙u'))`. This costs n_l times a
/// forward pass; [`b5`] needs only the sum over neurons and does not call it.
pub fn second_derivatives(net: &Mlp, trace: &Trace, l: usize) -> Result<Vec<f32>> {
    let big_l = net.output_layer();
    let sizes = net.sizes();
    let (rows, n_l, n_out) = (trace.rows, sizes[l], net.n_outputs());
    if l + 1 >= big_l {
        return Ok(vec![0f32; rows * n_l * n_out]);
    }
    let stacked = rows * n_l;
    // u = ∂z_{l+1}/∂y_{l,i} = column i of W_{l+1}; u' = 0.
    let wt = net.layers()[l].weight_t();
    let mut u1: Vec<f32> = Vec::with_capacity(stacked * sizes[l + 1]);
    for _ in 0..rows {
        u1.extend_from_slice(wt);
    }
    let mut u2 = vec![0f32; stacked * sizes[l + 1]];
    let k = net.k_lips() as f32;
    for m in l + 1..big_l {
        let n_m = sizes[m];
        let (mut d1, mut d2) = (vec![0f32; rows * n_m], vec![0f32; rows * n_m]);
        net.activation()
            .derivatives_f32(&trace.z[m], k, &mut d1, &mut d2);
        for n in 0..rows {
            let (a, b) = (&d1[n * n_m..(n + 1) * n_m], &d2[n * n_m..(n + 1) * n_m]);
            let block = n * n_l * n_m..(n + 1) * n_l * n_m;
            for (r1, r2) in u1[block.clone()]
                .chunks_exact_mut(n_m)
                .zip(u2[block].chunks_exact_mut(n_m))
            {
                for c in 0..n_m {
                    let v1 = r1[c];
                    r2[c] = b[c] * v1 * v1 + a[c] * r2[c];
                    r1[c] = a[c] * v1;
                }
            }
        }
        let layer = &net.layers()[m];
        u1 = layer.matmul_rows(u1, stacked)?;
        u2 = layer.matmul_rows(u2, stacked)?;
    }
    Ok(u2)
}

/// b5: the second-order estimate of E Δ per input and output.
pub fn b5(net: &Mlp, p: &FailureVector, x: &Inputs) -> Result<Vec<f64>> {
    p.check_len(net.n_neuron_layers())?;
    b5_checked(net, p, x)
}

/// [`b5`] for a failure vector already checked against `net`.
///
/// The second-order term `½ Σ_l p_l Σ_i y_{l,i}² ∂²y_L/∂y_{l,i}²` is never formed neuron by
/// neuron. The network is a chain of linear maps and elementwise φ, so the second derivative
/// along one neuron is `∂²y_L/∂y_{l,i}² = Σ_{m>l} ∂y_L/∂y_m · (φ''(z_m) ⊙ (∂z_m/∂y_{l,i})²)`
/// (m over hidden layers; the output is linear), and the sum over neurons moves inside:
///
/// ```text
/// ½ Σ_m ∂y_L/∂y_m · (φ''(z_m) ⊙ V_m),   V_m = Σ_{l<m} p_l Σ_i (y_{l,i} ∂z_m/∂y_{l,i})².
/// ```
///
/// For m = l + 1, `∂z_m/∂y_{l,i}` is column i of W_m, so `V_m = p_l (W_m ⊙ W_m)(y_l ⊙ y_l)`:
/// one GEMM for all inputs. Only for m ≥ l + 2 are the tangents `y_{l,i} ∂z_m/∂y_{l,i}`
/// carried forward neuron by neuron ([`curvature`]). The `∂y_L/∂y_m` are b3's backward pass,
/// so b5 costs one b3 plus one GEMM per crashing layer on networks with one hidden layer
/// above the crashes.
pub(crate) fn b5_checked(net: &Mlp, p: &FailureVector, x: &Inputs) -> Result<Vec<f64>> {
    x.check_width(net.n_inputs())?;
    let (n_out, big_l, sizes) = (net.n_outputs(), net.output_layer(), net.sizes());
    // Crashing layers with a hidden layer above them (for l ≥ L − 1 the term is zero).
    let curved: Vec<usize> = p
        .crashing_layers()
        .into_iter()
        .filter(|&l| l + 1 < big_l)
        .collect();
    // Tangents are stacked one row per (input, neuron) only for crashes two layers below a
    // hidden layer.
    let stacked = curved
        .iter()
        .filter(|&&l| l + 2 < big_l)
        .map(|&l| sizes[l])
        .max()
        .unwrap_or(1);
    let (mut mean, mut var) = (vec![0f64; x.rows() * n_out], vec![0f64; x.rows() * n_out]);
    for range in input_chunks(x.rows(), n_out.max(stacked)) {
        let trace = chunk_trace(net, x, &range)?;
        let curv = curvature(net, p, &trace, &curved)?;
        let mut second = vec![0f64; range.len() * n_out];
        let s = range.start * n_out..range.end * n_out;
        first_order(
            net,
            p,
            &trace,
            identity_columns(range.len(), n_out),
            n_out,
            &mut mean[s.clone()],
            &mut var[s.clone()],
            |m, gt| {
                if let Some(c) = &curv[m] {
                    add_weighted_sums(gt, c, sizes[m], n_out, &mut second);
                }
            },
        )?;
        for (m, v) in mean[s].iter_mut().zip(&second) {
            *m += 0.5 * v;
        }
    }
    check_finite("b5 mean", &mean)?;
    Ok(mean)
}

/// `[cols, rows]` from `[rows, cols]` (row-major both): the per-neuron values of a layer
/// contiguous, so that the column-layout loops read them in order.
fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; v.len()];
    for (n, row) in v.chunks_exact(cols).enumerate() {
        for (i, &x) in row.iter().enumerate() {
            t[i * rows + n] = x;
        }
    }
    t
}

/// `out[n·r + k] = v[n]` for every k < r: one value per input repeated over its r columns.
fn expand(v: &[f32], r: usize, out: &mut [f32]) {
    for (o, &x) in out.chunks_exact_mut(r).zip(v) {
        o.fill(x);
    }
}

/// `Gᵀ = I` for every input: `[n_out, rows·n_out]`, row k has a 1 in column n·n_out + k.
fn identity_columns(rows: usize, n_out: usize) -> Vec<f32> {
    let cols = rows * n_out;
    let mut eye = vec![0f32; n_out * cols];
    for n in 0..rows {
        for k in 0..n_out {
            eye[k * cols + n * n_out + k] = 1.0;
        }
    }
    eye
}

/// `φ''(z_m) ⊙ V_m` of [`b5_checked`] for every hidden layer m above a layer of `curved`
/// (`None` elsewhere), each `[rows, n_m]`.
fn curvature(
    net: &Mlp,
    p: &FailureVector,
    trace: &Trace,
    curved: &[usize],
) -> Result<Vec<Option<Vec<f32>>>> {
    let (big_l, sizes, rows) = (net.output_layer(), net.sizes(), trace.rows);
    let k = net.k_lips() as f32;
    let mut v: Vec<Option<Vec<f32>>> = vec![None; big_l + 1];
    let mut add = |m: usize, pl: f32, s: &[f32]| {
        let acc = v[m].get_or_insert_with(|| vec![0f32; s.len()]);
        acc.iter_mut().zip(s).for_each(|(a, &b)| *a += pl * b);
    };
    for &l in curved {
        let (pl, n_l) = (p[l] as f32, sizes[l]);
        let layers = net.layers();
        // m = l + 1: V += p_l (W ⊙ W)(y ⊙ y).
        let ysq: Vec<f32> = trace.y[l].iter().map(|&y| y * y).collect();
        add(
            l + 1,
            pl,
            &layers[l].matmul_rows_squared_weights(ysq, rows)?,
        );
        if l + 2 >= big_l {
            continue;
        }
        // m ≥ l + 2: tangent rows t_{n,i} = y_{l,i} ∂z_m/∂y_{l,i}, starting from y_{l,i} W[:, i].
        let n_next = sizes[l + 1];
        let mut t = Vec::with_capacity(rows * n_l * n_next);
        for n in 0..rows {
            for i in 0..n_l {
                let y = trace.y[l][n * n_l + i];
                t.extend(layers[l].column(i).iter().map(|&w| y * w));
            }
        }
        for m in l + 2..big_l {
            let n_prev = sizes[m - 1];
            let (mut d1, mut d2) = (vec![0f32; rows * n_prev], vec![0f32; rows * n_prev]);
            net.activation()
                .derivatives_f32(&trace.z[m - 1], k, &mut d1, &mut d2);
            for (n, block) in t.chunks_exact_mut(n_l * n_prev).enumerate() {
                let a = &d1[n * n_prev..(n + 1) * n_prev];
                for row in block.chunks_exact_mut(n_prev) {
                    row.iter_mut().zip(a).for_each(|(u, &d)| *u *= d);
                }
            }
            t = layers[m - 1].matmul_rows(t, rows * n_l)?;
            let n_m = sizes[m];
            let mut s = vec![0f32; rows * n_m];
            for (n, block) in t.chunks_exact(n_l * n_m).enumerate() {
                let out = &mut s[n * n_m..(n + 1) * n_m];
                for row in block.chunks_exact(n_m) {
                    out.iter_mut().zip(row).for_each(|(o, &u)| *o += u * u);
                }
            }
            add(m, pl, &s);
        }
    }
    for (m, vm) in v.iter_mut().enumerate() {
        if let Some(vm) = vm {
            let (mut d1, mut d2) = (vec![0f32; vm.len()], vec![0f32; vm.len()]);
            net.activation()
                .derivatives_f32(&trace.z[m], k, &mut d1, &mut d2);
            vm.iter_mut().zip(&d2).for_each(|(c, &h)| *c *= h);
        }
    }
    Ok(v)
}

/// `acc[n·r + k] += Σ_j gt[j, n·r + k] · c[n, j]` for `gt` `[n_m, rows·r]` and `c`
/// `[rows, n_m]`: the second-order term's contraction with ∂y_L/∂y_m. Blocks of 32 neurons
/// are summed in f32 (vectorised), the blocks in f64, as in the first-order sums.
fn add_weighted_sums(gt: &[f32], c: &[f32], n_m: usize, r: usize, acc: &mut [f64]) {
    const BLOCK: usize = 32;
    let cols = acc.len();
    let rows = cols / r;
    let (mut t, mut cexp) = (vec![0f32; cols], vec![0f32; cols]);
    let ct = transpose(c, rows, n_m);
    for block in (0..n_m).step_by(BLOCK) {
        t.fill(0.0);
        for j in block..(block + BLOCK).min(n_m) {
            expand(&ct[j * rows..(j + 1) * rows], r, &mut cexp);
            let g = &gt[j * cols..(j + 1) * cols];
            for ((t, &g), &w) in t.iter_mut().zip(g).zip(&cexp) {
                *t += g * w;
            }
        }
        acc.iter_mut().zip(&t).for_each(|(a, &t)| *a += t as f64);
    }
}
