//! The derivative-decay metric D of SPEC §8.
//!
//! ```text
//! D = (1/N) Σ_s (1/n_1) Σ_i |∂L(ŷ(x_s), t_s)/∂y_{1,i}|
//! ```
//!
//! the mean over all N samples of the mean absolute derivative of the per-sample loss with
//! respect to the outputs of the first hidden layer (after the activation). In the continuous
//! limit D decays like 1/n_1.
//!
//! # Computation
//! Samples are processed in chunks of [`CHUNK_ROWS`] rows, so memory is bounded whatever N
//! (784→1500→100→10: about 40 MB per chunk). Per chunk: one batched crash-free forward
//! pass (candle GEMMs, bias and activation fused in place, keeping only the pre-activations
//! of layers ≥ 2 — lighter than [`Mlp::forward_trace`], which also keeps y_0, z_1 and y_1),
//! the loss gradient `G_L = ∂L/∂y_L` per row
//! (f64, [`Loss::grad`]), then the same backward recursion as the b3 bound on the loss
//! (`ftnn_bounds::b3_loss`) but stopped at y_1 and in row layout,
//! `G_{m−1} = (G_m ⊙ φ'(Z_m)) W_m` (φ' = 1 at the linear output), one f32 GEMM per layer
//! ([`Mlp::backward_rows`], the network's one backward walk).
//! (`b3_loss` returns only Σ_i y_i g_i and Σ_i (y_i g_i)², not the g_i themselves, so its
//! backward cannot be called for |g_i|.) The sums over neurons and samples are f64; the
//! GEMMs are f32, so D carries a relative error of a few 1e-6 (the f32 rounding of ŷ is
//! amplified in ŷ − t when ŷ ≈ t; at most 5e-6 against f64 finite differences in the tests).

use crate::error::Result;
use crate::hessian::check_hidden;
use ftnn_model::{check_finite, check_len, Inputs, Loss, Mlp, ModelError, Stop};
use rayon::prelude::*;

/// Samples per batched forward/backward pass.
pub const CHUNK_ROWS: usize = 2048;
/// Rows per parallel task of the elementwise passes.
const ROWS_PER_TASK: usize = 64;

/// The values of one chunk's crash-free forward pass that the backward pass needs.
struct ChunkForward {
    /// `z[m]` = `[rows, n_m]` pre-activations for m ≥ 2 (`z[0]`, `z[1]` empty).
    z: Vec<Vec<f32>>,
    /// The outputs y_L, `[rows, n_L]`.
    y_out: Vec<f32>,
}

/// Forward pass of `rows` stacked inputs keeping only what the backward pass needs: y_1 is
/// formed in place from the GEMM output (fused bias + activation, rows in parallel) and
/// dropped after the next GEMM, and z_1 is never stored. Any overflow is an error.
fn chunk_forward(net: &Mlp, x: &[f32], rows: usize) -> Result<ChunkForward> {
    let big_l = net.output_layer();
    let mut z = vec![Vec::new(), Vec::new()];
    let first = &net.layers()[0];
    let mut y = first.matmul_rows(x.to_vec(), rows)?;
    let n1 = first.n_out();
    y.par_chunks_mut(ROWS_PER_TASK * n1)
        .for_each(|c| net.bias_activate(1, c));
    check_finite_rows("the outputs of layer 1 (overflow)", &y)?;
    for m in 2..=big_l {
        let d = &net.layers()[m - 1];
        let mut zm = d.matmul_rows(y, rows)?;
        for row in zm.chunks_exact_mut(d.n_out()) {
            for (v, b) in row.iter_mut().zip(d.bias()) {
                *v += b;
            }
        }
        y = zm.clone();
        if m < big_l {
            net.activation()
                .apply_rows_f32(&mut y, &[], net.k_lips() as f32);
        }
        check_finite_rows(&format!("the outputs of layer {m} (overflow)"), &y)?;
        z.push(zm);
    }
    Ok(ChunkForward { z, y_out: y })
}

/// Errors on the first non-finite value (the check itself runs vectorised and in parallel).
fn check_finite_rows(what: &str, v: &[f32]) -> Result<()> {
    let ok = v
        .par_chunks(1 << 16)
        .all(|c| c.iter().fold(true, |a, x| a & x.is_finite()));
    if ok {
        return Ok(());
    }
    Ok(check_finite(what, v)?)
}

/// `Σ_k |v_k|` in f64 with eight partial sums (so the loop vectorises).
fn abs_sum(v: &[f32]) -> f64 {
    let mut acc = [0f64; 8];
    let chunks = v.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(|&x| (x as f64).abs()).sum();
    for c in chunks {
        for j in 0..8 {
            acc[j] += (c[j] as f64).abs();
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Per sample s, `(1/n_1) Σ_i |∂L(ŷ(x_s), t_s)/∂y_{1,i}|`, for every row of `x`
/// (`targets` is `[N, n_L]`). [`derivative_decay`] is their mean.
pub fn mean_abs_gradient(net: &Mlp, x: &Inputs, targets: &[f32], loss: Loss) -> Result<Vec<f64>> {
    check_hidden(net)?;
    x.check_width(net.n_inputs())?;
    let n_out = net.n_outputs();
    check_len("targets", targets.len(), x.rows() * n_out, "N × n_L")?;
    check_finite("targets", targets)?;
    let big_l = net.output_layer();
    let n1 = net.sizes()[1];
    let k = net.k_lips() as f32;
    let mut out = Vec::with_capacity(x.rows());
    for start in (0..x.rows()).step_by(CHUNK_ROWS) {
        let end = (start + CHUNK_ROWS).min(x.rows());
        let rows = end - start;
        let w = x.cols();
        let fw = chunk_forward(net, &x.data()[start * w..end * w], rows)?;
        // G_L = ∂L/∂y_L per row, in f64, stored as f32 for the GEMMs.
        let t_chunk = &targets[start * n_out..end * n_out];
        let g: Vec<f32> = fw
            .y_out
            .par_chunks(n_out)
            .zip(t_chunk.par_chunks(n_out))
            .flat_map_iter(|(y, t)| {
                let y: Vec<f64> = y.iter().map(|&v| v as f64).collect();
                let t: Vec<f64> = t.iter().map(|&v| v as f64).collect();
                let mut g = vec![0f64; n_out];
                loss.grad(&y, &t, &mut g);
                g.into_iter().map(|v| v as f32)
            })
            .collect();
        // G_{m−1} = (G_m ⊙ φ'(Z_m)) W_m, down to G_1.
        let scale = |m: usize, g: &mut [f32]| {
            if m < big_l {
                let (mut d1, mut d2) = (vec![0f32; g.len()], vec![0f32; g.len()]);
                net.activation()
                    .derivatives_f32(&fw.z[m], k, &mut d1, &mut d2);
                g.iter_mut().zip(&d1).for_each(|(v, a)| *v *= a);
            }
        };
        let none = |_: usize, _: &[f32]| -> Result<()> { Ok(()) };
        let g = net.backward_rows(g, rows, big_l, Stop::Y(1), scale, none, none)?;
        let means: Vec<f64> = g
            .par_chunks(n1)
            .map(|row| abs_sum(row) / n1 as f64)
            .collect();
        if let Some(index) = means.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite {
                what: "the gradient with respect to y_1".into(),
                index: start + index,
                value: means[index],
            }
            .into());
        }
        out.extend(means);
    }
    Ok(out)
}

/// D = mean over all samples of `mean_i |∂L/∂y_{1,i}|` (SPEC §8), with `x` the N inputs and
/// `targets` `[N, n_L]`. Pass [`Loss::Mse`] (Keras' mean squared error) for the
/// SPEC's metric.
pub fn derivative_decay(net: &Mlp, x: &Inputs, targets: &[f32], loss: Loss) -> Result<f64> {
    let per_sample = mean_abs_gradient(net, x, targets, loss)?;
    Ok(per_sample.iter().sum::<f64>() / per_sample.len() as f64)
}
