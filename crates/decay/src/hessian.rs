//! The gradient and Hessian of the per-sample loss with respect to the first hidden layer
//! (SPEC §8), computed analytically in f64.
//!
//! # Notation
//! Layers of neurons l = 0..L; y = y_1 is the output of the first hidden layer (after the
//! activation, where a crash acts). For m = 2..L, `z_m = W_m y_{m−1} + b_m`,
//! `y_m = φ(z_m)` for m < L and `y_L = z_L` (linear output). L(y_L, t) is the per-sample
//! loss ([`Loss::Mse`] unless another [`Loss`] is given).
//!
//! # Recursion (back-propagation of first and second derivatives)
//! Write `g_m = ∂L/∂y_m` and `H_m = ∂²L/∂y_m²`. Start from the loss:
//! `g_L = ∂L/∂y_L`, `H_L = ∂²L/∂y_L²` ([`Loss::grad`], [`Loss::hessian`]). For m = L, L−1, …, 2, with
//! `φ'_m = φ'(z_m)`, `φ''_m = φ''(z_m)` (both taken as 1 and 0 at the linear output m = L):
//!
//! ```text
//! δ_m   = ∂L/∂z_m   = φ'_m ⊙ g_m
//! Hz_m  = ∂²L/∂z_m² = diag(φ'_m) H_m diag(φ'_m) + diag(φ''_m ⊙ g_m)
//! g_{m−1} = W_mᵀ δ_m
//! H_{m−1} = W_mᵀ Hz_m W_m
//! ```
//!
//! (chain rule for y_{m−1} ↦ z_m ↦ y_m: the first term of Hz_m is the curvature passed down
//! from above, the second the curvature of φ itself weighted by the gradient). The recursion
//! ends at H_1, the `n_1 × n_1` Hessian of SPEC §8. For ReLU φ'' = 0, so only the first term
//! remains (the loss curvature seen through the active units).
//!
//! # Cost and precision
//! Everything is f64: the forward pass (dot products with four f64 accumulators over the f32
//! weights), the loss derivatives, and the two GEMMs per layer (candle's f64 GEMM, `Hz_m W_m`
//! then `W_mᵀ (Hz_m W_m)`). For 784→n→100→10 the last step dominates: `n² · 100`
//! multiply–adds per sample. In the tests the result agrees with candle's double backward to
//! ~1e-15 relative and with finite differences of the loss to within their truncation error
//! (≤ 3e-7); the matrix is not symmetrised (its symmetry is a test of the GEMMs).

use crate::error::{DecayError, Result};
use candle_core::{DType, Tensor};
use ftnn_model::{check_finite, check_len, Inputs, Loss, Mlp};
use rayon::prelude::*;

/// SPEC §8: the Hessian statistics are averaged over the first 10 samples.
pub const HESSIAN_SAMPLES: usize = 10;

/// Summary of the Hessian H = ∂²L/∂y_1² averaged over samples (SPEC §8).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HessianStats {
    /// `H_diag`: mean over samples of `mean_i |H_ii|`.
    pub diag: f64,
    /// `H_all`: mean over samples of `mean_{ij} |H_ij|` (all n_1² entries).
    pub all: f64,
    /// Number of samples averaged.
    pub samples: usize,
}

/// Checks that `net` has a first hidden layer.
pub(crate) fn check_hidden(net: &Mlp) -> Result<()> {
    if net.layers().len() < 2 {
        return Err(DecayError::NoHiddenLayer { sizes: net.sizes() });
    }
    Ok(())
}

/// `Σ_k w_k v_k` with f32 weights and f64 values, in f64 with four partial sums.
#[inline]
pub(crate) fn dot(w: &[f32], v: &[f64]) -> f64 {
    let mut acc = [0f64; 4];
    let (wc, vc) = (w.chunks_exact(4), v.chunks_exact(4));
    let (wr, vr) = (wc.remainder(), vc.remainder());
    for (a, b) in wc.zip(vc) {
        for j in 0..4 {
            acc[j] += a[j] as f64 * b[j];
        }
    }
    let tail: f64 = wr.iter().zip(vr).map(|(&a, b)| a as f64 * b).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `Σ_k |v_k|` in f64 with eight partial sums (so the loop vectorises).
fn abs_sum(v: &[f64]) -> f64 {
    let mut acc = [0f64; 8];
    let chunks = v.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(|x| x.abs()).sum();
    for c in chunks {
        for j in 0..8 {
            acc[j] += c[j].abs();
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// A weight matrix `W_m` (m ≥ 2) as f64 candle tensors for the Hessian GEMMs.
struct LayerF64 {
    /// `W_m`, `[n_m, n_{m−1}]`.
    w: Tensor,
    /// `W_mᵀ`, `[n_{m−1}, n_m]`, contiguous.
    w_t: Tensor,
}

/// A network prepared for f64 gradients and Hessians with respect to y_1.
pub(crate) struct Prepared<'a> {
    net: &'a Mlp,
    /// `later[m − 2]` holds W_m for m = 2..=L.
    later: Vec<LayerF64>,
}

/// Per-layer f64 values of one forward pass: `z[l]`, `y[l]` for l = 0..=L (`z[0]` empty).
struct ForwardF64 {
    z: Vec<Vec<f64>>,
    y: Vec<Vec<f64>>,
}

impl<'a> Prepared<'a> {
    /// Checks that `net` has a hidden layer and converts W_2..W_L to f64 tensors.
    pub(crate) fn new(net: &'a Mlp) -> Result<Self> {
        check_hidden(net)?;
        let later = net.layers()[1..]
            .iter()
            .map(|d| -> Result<LayerF64> {
                let w = d.weight_tensor().to_dtype(DType::F64)?;
                let w_t = w.t()?.contiguous()?;
                Ok(LayerF64 { w, w_t })
            })
            .collect::<Result<_>>()?;
        Ok(Self { net, later })
    }

    /// Checks one input row and its target.
    fn check_sample(&self, x: &[f32], t: &[f32]) -> Result<()> {
        check_len("input row", x.len(), self.net.n_inputs(), "n_0")?;
        check_len("target", t.len(), self.net.n_outputs(), "n_L")?;
        check_finite("input row", x)?;
        Ok(check_finite("target", t)?)
    }

    /// The crash-free forward pass of one input in f64.
    fn forward(&self, x: &[f32]) -> Result<ForwardF64> {
        let (act, k) = (self.net.activation(), self.net.k_lips());
        let big_l = self.net.output_layer();
        let mut z = vec![Vec::new()];
        let mut y = vec![x.iter().map(|&v| v as f64).collect::<Vec<f64>>()];
        for (idx, d) in self.net.layers().iter().enumerate() {
            let l = idx + 1;
            let prev = &y[l - 1];
            let zl: Vec<f64> = (0..d.n_out())
                .map(|o| {
                    d.bias()[o] as f64 + dot(&d.weight()[o * d.n_in()..(o + 1) * d.n_in()], prev)
                })
                .collect();
            let yl: Vec<f64> = if l == big_l {
                zl.clone()
            } else {
                zl.iter().map(|&v| act.apply_f64(v, k)).collect()
            };
            check_finite(&format!("the outputs of layer {l} (overflow)"), &yl)?;
            z.push(zl);
            y.push(yl);
        }
        Ok(ForwardF64 { z, y })
    }

    /// `g_1 = ∂L/∂y_1` and, when `with_hessian`, `H_1 = ∂²L/∂y_1²` (row-major
    /// `[n_1, n_1]`) for one input, by the recursion of the module documentation.
    fn derivatives(
        &self,
        x: &[f32],
        t: &[f32],
        loss: Loss,
        with_hessian: bool,
    ) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
        self.check_sample(x, t)?;
        let fw = self.forward(x)?;
        let net = self.net;
        let (act, k) = (net.activation(), net.k_lips());
        let big_l = net.output_layer();
        let n_out = net.n_outputs();
        let t64: Vec<f64> = t.iter().map(|&v| v as f64).collect();
        let mut g = vec![0f64; n_out];
        loss.grad(&fw.y[big_l], &t64, &mut g);
        let mut h = with_hessian.then(|| {
            let mut h = vec![0f64; n_out * n_out];
            loss.hessian(&fw.y[big_l], &t64, &mut h);
            h
        });
        for m in (2..=big_l).rev() {
            let d = &net.layers()[m - 1];
            let (n_m, n_prev) = (d.n_out(), d.n_in());
            if m < big_l {
                // Hz_m = diag(φ') H_m diag(φ') + diag(φ'' ⊙ g_m); δ_m = φ' ⊙ g_m.
                let d1: Vec<f64> = fw.z[m].iter().map(|&v| act.derivative_f64(v, k)).collect();
                if let Some(h) = h.as_mut() {
                    for i in 0..n_m {
                        let row = &mut h[i * n_m..(i + 1) * n_m];
                        for j in 0..n_m {
                            row[j] *= d1[i] * d1[j];
                        }
                        row[i] += act.second_derivative_f64(fw.z[m][i], k) * g[i];
                    }
                }
                for i in 0..n_m {
                    g[i] *= d1[i];
                }
            }
            // g_{m−1} = W_mᵀ δ_m, accumulated over the rows of W_m in f64.
            let mut next = vec![0f64; n_prev];
            for (o, &go) in g.iter().enumerate() {
                for (v, &w) in next
                    .iter_mut()
                    .zip(&d.weight()[o * n_prev..(o + 1) * n_prev])
                {
                    *v += w as f64 * go;
                }
            }
            g = next;
            // H_{m−1} = W_mᵀ (Hz_m W_m), two f64 GEMMs.
            if let Some(hm) = h.take() {
                let layer = &self.later[m - 2];
                let hz = Tensor::from_vec(hm, (n_m, n_m), layer.w.device())?;
                let a = hz.matmul(&layer.w)?;
                let prod = layer.w_t.matmul(&a)?;
                h = Some(prod.flatten_all()?.to_vec1::<f64>()?);
            }
        }
        check_finite("the gradient with respect to y_1", &g)?;
        if let Some(h) = &h {
            check_finite("the Hessian with respect to y_1", h)?;
        }
        Ok((g, h))
    }
}

/// `∂L/∂y_1` for one input `x_row` (`[n_0]`) and its target (`[n_L]`), in f64: the gradient of
/// the per-sample loss with respect to the outputs of the first hidden layer (the first half of
/// the recursion in the module documentation).
pub fn gradient(net: &Mlp, x_row: &[f32], target: &[f32], loss: Loss) -> Result<Vec<f64>> {
    let prepared = Prepared::new(net)?;
    Ok(prepared.derivatives(x_row, target, loss, false)?.0)
}

/// `H = ∂²L/∂y_1²` for one input `x_row` (`[n_0]`) and its target (`[n_L]`): the `n_1 × n_1`
/// Hessian of the per-sample loss with respect to the first hidden layer's outputs, row-major,
/// by the recursion `H_{m−1} = W_mᵀ [diag(φ'(z_m)) H_m diag(φ'(z_m)) + diag(φ''(z_m) ⊙ g_m)]
/// W_m` of the module documentation (SPEC §8). Pass [`Loss::Mse`] for the SPEC's loss.
pub fn hessian(net: &Mlp, x_row: &[f32], target: &[f32], loss: Loss) -> Result<Vec<f64>> {
    let prepared = Prepared::new(net)?;
    let (_, h) = prepared.derivatives(x_row, target, loss, true)?;
    Ok(h.expect("requested"))
}

/// [`hessian_stats_with_loss`] with the SPEC §8 loss, Keras' mean squared error ([`Loss::Mse`]).
pub fn hessian_stats(
    net: &Mlp,
    x: &Inputs,
    targets: &[f32],
    samples: usize,
) -> Result<HessianStats> {
    hessian_stats_with_loss(net, x, targets, samples, Loss::Mse)
}

/// `H_diag = mean_s mean_i |H_ii|` and `H_all = mean_s mean_{ij} |H_ij|` over the first
/// `samples` inputs of `x` (SPEC §8 uses [`HESSIAN_SAMPLES`] = 10), where H is the Hessian of
/// the per-sample loss with respect to y_1 ([`hessian`]). `targets` is `[N, n_L]` for all N
/// rows of `x`. Errors when `samples` is 0 or larger than N.
pub fn hessian_stats_with_loss(
    net: &Mlp,
    x: &Inputs,
    targets: &[f32],
    samples: usize,
    loss: Loss,
) -> Result<HessianStats> {
    let prepared = Prepared::new(net)?;
    x.check_width(net.n_inputs())?;
    let n_out = net.n_outputs();
    check_len("targets", targets.len(), x.rows() * n_out, "N × n_L")?;
    if samples == 0 || samples > x.rows() {
        return Err(DecayError::Count {
            what: "samples",
            got: samples,
            reason: format!("need 1 ≤ samples ≤ {} (the number of inputs)", x.rows()),
        });
    }
    let n1 = net.sizes()[1];
    let (mut diag, mut all) = (0f64, 0f64);
    for s in 0..samples {
        let t = &targets[s * n_out..(s + 1) * n_out];
        let (_, h) = prepared.derivatives(x.row(s), t, loss, true)?;
        let h = h.expect("requested");
        diag += (0..n1).map(|i| h[i * n1 + i].abs()).sum::<f64>() / n1 as f64;
        // Row sums in parallel, combined in row order (deterministic whatever the threads).
        let rows: Vec<f64> = h.par_chunks(n1).map(abs_sum).collect();
        all += rows.iter().sum::<f64>() / (n1 * n1) as f64;
    }
    Ok(HessianStats {
        diag: diag / samples as f64,
        all: all / samples as f64,
        samples,
    })
}

/// The Hessian statistics of SPEC §15 ("Hessian metrics", the original's definition) beside
/// those of the per-sample |H| ([`hessian_stats_with_loss`]), from one pass over the samples.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HessianSummary {
    /// Of the sample-averaged signed Hessian H̄ = (1/S) Σ_s H_s: `H_diag = mean_i |H̄_ii|`,
    /// `H_all = mean_{ij} |H̄_ij|` (SPEC §15; the verdicts use these).
    pub of_mean: HessianStats,
    /// Of each sample's own Hessian, then averaged: `mean_s mean_i |H_s,ii|`,
    /// `mean_s mean_{ij} |H_s,ij|` (≥ the former entry by entry, by the triangle inequality).
    pub per_sample: HessianStats,
}

/// [`hessian_summary`] with the SPEC loss, Keras' mean squared error ([`Loss::Mse`]), and only
/// the original's statistics (SPEC §15 "Hessian metrics"):
///
/// ```text
/// H̄ = (1/S) Σ_{s<S} ∂²L_s/∂y_1∂y_1   (signed; L_s the per-sample MSE, mean over outputs)
/// H_diag = (1/n_1) Σ_i |H̄_ii|,   H_all = (1/n_1²) Σ_{i,j} |H̄_ij|
/// ```
///
/// over the first `samples` inputs of `x` (the original: [`HESSIAN_SAMPLES`] = 10). The
/// original's graph also carries an extra factor 1/S (it differentiates the *mean* loss over
/// the S samples, then averages the S diagonal blocks); it is left out here — a constant factor
/// that moves the level, not the log–log slope.
pub fn mean_hessian_stats(
    net: &Mlp,
    x: &Inputs,
    targets: &[f32],
    samples: usize,
) -> Result<HessianStats> {
    Ok(hessian_summary(net, x, targets, samples, Loss::Mse)?.of_mean)
}

/// Both Hessian statistics over the first `samples` inputs of `x` ([`HessianSummary`]): those
/// of the sample-averaged signed Hessian (SPEC §15, [`mean_hessian_stats`]) and those of each
/// sample's |H| ([`hessian_stats_with_loss`]). `targets` is `[N, n_L]` for all N rows of `x`.
/// Errors when `samples` is 0 or larger than N, on shapes that disagree with the network and
/// on non-finite values.
pub fn hessian_summary(
    net: &Mlp,
    x: &Inputs,
    targets: &[f32],
    samples: usize,
    loss: Loss,
) -> Result<HessianSummary> {
    let prepared = Prepared::new(net)?;
    x.check_width(net.n_inputs())?;
    let n_out = net.n_outputs();
    check_len("targets", targets.len(), x.rows() * n_out, "N × n_L")?;
    if samples == 0 || samples > x.rows() {
        return Err(DecayError::Count {
            what: "samples",
            got: samples,
            reason: format!("need 1 ≤ samples ≤ {} (the number of inputs)", x.rows()),
        });
    }
    let n1 = net.sizes()[1];
    let (mut diag, mut all) = (0f64, 0f64);
    let mut sum = vec![0f64; n1 * n1];
    for s in 0..samples {
        let t = &targets[s * n_out..(s + 1) * n_out];
        let (_, h) = prepared.derivatives(x.row(s), t, loss, true)?;
        let h = h.expect("requested");
        diag += (0..n1).map(|i| h[i * n1 + i].abs()).sum::<f64>() / n1 as f64;
        let rows: Vec<f64> = h.par_chunks(n1).map(abs_sum).collect();
        all += rows.iter().sum::<f64>() / (n1 * n1) as f64;
        sum.par_chunks_mut(n1)
            .zip(h.par_chunks(n1))
            .for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(a, b)| *a += b));
    }
    let inv = 1.0 / samples as f64;
    sum.par_chunks_mut(n1)
        .for_each(|row| row.iter_mut().for_each(|v| *v *= inv));
    let mean_diag = (0..n1).map(|i| sum[i * n1 + i].abs()).sum::<f64>() / n1 as f64;
    // Row sums in parallel, combined in row order (deterministic whatever the threads).
    let rows: Vec<f64> = sum.par_chunks(n1).map(abs_sum).collect();
    let mean_all = rows.iter().sum::<f64>() / (n1 * n1) as f64;
    Ok(HessianSummary {
        of_mean: HessianStats {
            diag: mean_diag,
            all: mean_all,
            samples,
        },
        per_sample: HessianStats {
            diag: diag * inv,
            all: all * inv,
            samples,
        },
    })
}
