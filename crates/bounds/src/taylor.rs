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
//! ([`Mlp::backward_cols`], the network's one backward walk). The second
//! derivatives along each neuron are forward-mode: starting from `u = W_{l+1}[:, i]`, `u' = 0`,
//! each hidden layer maps `(u, u') ↦ (W (φ'⊙u), W (φ''⊙u² + φ'⊙u'))`, batched over neurons.
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
fn first_order(
    net: &Mlp,
    p: &FailureVector,
    trace: &Trace,
    gt: Vec<f32>,
    r: usize,
    mean: &mut [f64],
    var: &mut [f64],
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
            for i in 0..n_l {
                let g = &mut gt[i * cols..(i + 1) * cols];
                for n in 0..rows {
                    let d = d1[n * n_l + i];
                    g[n * r..(n + 1) * r].iter_mut().for_each(|v| *v *= d);
                }
            }
        }
    };
    let at_y = |l: usize, gt: &[f32]| -> Result<()> {
        let n_l = sizes[l];
        if p[l] > 0.0 {
            let (pl, ql) = (p[l], p[l] * (1.0 - p[l]));
            // Blocks of BLOCK neurons are summed in f32 (vectorised), the blocks in f64.
            const BLOCK: usize = 32;
            let (mut s1, mut s2) = (vec![0f64; cols], vec![0f64; cols]);
            let (mut t1, mut t2, mut yexp) = (vec![0f32; cols], vec![0f32; cols], vec![0f32; cols]);
            for block in (0..n_l).step_by(BLOCK) {
                t1.fill(0.0);
                t2.fill(0.0);
                for i in block..(block + BLOCK).min(n_l) {
                    for n in 0..rows {
                        yexp[n * r..(n + 1) * r].fill(trace.y[l][n * n_l + i]);
                    }
                    let g = &gt[i * cols..(i + 1) * cols];
                    for c in 0..cols {
                        let d = yexp[c] * g[c];
                        t1[c] += d;
                        t2[c] += d * d;
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
        // Gᵀ = I for every input: row k has a 1 in column n·n_L + k.
        let cols = range.len() * n_out;
        let mut eye = vec![0f32; n_out * cols];
        for n in 0..range.len() {
            for k in 0..n_out {
                eye[k * cols + n * n_out + k] = 1.0;
            }
        }
        let s = range.start * n_out..range.end * n_out;
        first_order(
            net,
            p,
            &trace,
            eye,
            n_out,
            &mut mean[s.clone()],
            &mut var[s],
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
        )?;
    }
    check_finite("b3 loss mean", &mean)?;
    check_finite("b3 loss variance", &var)?;
    Ok(LossMoments { mean, var })
}

/// Second derivatives `∂²y_L/∂y_{l,i}²` for every neuron i of layer l < L − 1 and every input
/// of `trace`: `[rows · n_l, n_L]`. (For l ≥ L − 1 the output is linear in y_l: all zero.)
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
pub(crate) fn b5_checked(net: &Mlp, p: &FailureVector, x: &Inputs) -> Result<Vec<f64>> {
    let mut mean = b3_checked(net, p, x)?.mean;
    let n_out = net.n_outputs();
    let sizes = net.sizes();
    for l in p.crashing_layers() {
        if l + 1 >= net.output_layer() {
            continue;
        }
        let n_l = sizes[l];
        for range in input_chunks(x.rows(), n_l) {
            let trace = chunk_trace(net, x, &range)?;
            let second = second_derivatives(net, &trace, l)?;
            for (j, n) in range.clone().enumerate() {
                let y = &trace.y[l][j * n_l..(j + 1) * n_l];
                for k in 0..n_out {
                    let s: f64 = (0..n_l)
                        .map(|i| {
                            let yi = y[i] as f64;
                            yi * yi * second[(j * n_l + i) * n_out + k] as f64
                        })
                        .sum();
                    mean[n * n_out + k] += 0.5 * p[l] * s;
                }
            }
        }
    }
    check_finite("b5 mean", &mean)?;
    Ok(mean)
}
