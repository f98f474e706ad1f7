//! The statistical check of a certificate (SPEC §6): the tail P(Δ > ε) of the loss
//! perturbation Δ = L(ŷ_crashed, t) − L(ŷ, t), estimated from R seeded Monte Carlo draws, with
//! its Clopper–Pearson upper bound; and the exact tail by enumeration on small networks (the
//! ground truth of the tests).
//!
//! **Monte Carlo.** For input i the R draws are cut into blocks of [`BLOCK_DRAWS`]; block b
//! draws its crash pattern from ChaCha8 stream `i·⌈R/B⌉ + b` of the seed
//! ([`ftnn_model::crash::block_rng`], crash positions by [`ftnn_model::crash::sample_crashes`],
//! the generator and sampler of the Monte Carlo engine of `ftnn-model`), so the counts depend
//! only on the seed, never on the thread count. A draw in which nothing crashes has Δ = 0 and
//! costs nothing; the others start from the clean output of the first crashing layer l₀, are
//! masked there and pushed through layers l₀+1 … L by the network's GEMM and fused
//! bias + activation ([`Mlp::bias_activate`]), masked at every crashing layer on the way. The
//! loss of a crashed output and of the clean output are evaluated by [`Loss::sample`] (f32
//! outputs, f64 sums).
//!
//! **Estimate.** With k draws of Δ > ε among R: `P̂ = k/R`, `stderr = √(P̂(1 − P̂)/R)`, and the
//! one-sided Clopper–Pearson upper bound u at confidence 1 − 10⁻³ ([`CP_CONFIDENCE`]); the
//! input is *verified* when u < 1/3, which is what the median-of-R amplification needs.
//!
//! **Exact.** [`exact_tail`] enumerates the 2^m crash patterns of the m neurons with
//! 0 < p < 1 (m ≤ 20), weighting each by its probability, with the f64 reference forward pass
//! ([`Mlp::forward_f64`]): `P(Δ > ε) = Σ_s w(s) [Δ(s) > ε]`.

use crate::error::{CertifyError, Result};
use crate::quantities::ONE_THIRD;
use crate::stats::{clopper_pearson_upper, CP_CONFIDENCE};
use ftnn_model::crash::{block_rng, sample_crashes};
use ftnn_model::exact::crashable_neurons;
use ftnn_model::{check_len, FailureVector, Inputs, Loss, Mlp};
use rayon::prelude::*;

/// Draws per block of the Monte Carlo check; part of the definition of a seeded run.
pub const BLOCK_DRAWS: usize = 1024;

/// The empirical tail of Δ for one input.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TailEstimate {
    /// Draws with Δ > ε.
    pub exceed: u64,
    /// Draws R.
    pub repetitions: usize,
    /// P̂(Δ > ε) = exceed / R.
    pub tail: f64,
    /// √(P̂(1 − P̂)/R).
    pub stderr: f64,
    /// One-sided Clopper–Pearson upper bound u at confidence 1 − 10⁻³.
    pub upper: f64,
    /// u < 1/3.
    pub verified: bool,
}

impl TailEstimate {
    /// The estimate from `exceed` of `repetitions` draws (`repetitions` ≥ 1).
    pub fn from_counts(exceed: u64, repetitions: usize) -> Self {
        let r = repetitions as f64;
        let tail = exceed as f64 / r;
        let upper = clopper_pearson_upper(exceed, repetitions as u64, CP_CONFIDENCE);
        Self {
            exceed,
            repetitions,
            tail,
            stderr: (tail * (1.0 - tail) / r).sqrt(),
            upper,
            verified: upper < ONE_THIRD,
        }
    }
}

/// Checks the shared arguments of the tail functions.
fn check(net: &Mlp, p: &FailureVector, x: &Inputs, targets: &[f32], epsilon: f64) -> Result<usize> {
    p.check_len(net.n_neuron_layers())?;
    x.check_width(net.n_inputs())?;
    let n_out = net.n_outputs();
    check_len("targets", targets.len(), x.rows() * n_out, "N × n_L")?;
    ftnn_model::check_finite("targets", targets)?;
    if !epsilon.is_finite() {
        return Err(CertifyError::InvalidParameter {
            name: "epsilon",
            value: epsilon,
            reason: "ε must be finite",
        });
    }
    Ok(n_out)
}

/// Monte Carlo estimate of P(Δ > ε) per input from `repetitions` seeded draws of the crash
/// pattern (module documentation); `targets` is `[N, n_L]`. Any failure vector of the
/// network's length is allowed (crashes at several layers too).
#[allow(clippy::too_many_arguments)]
pub fn monte_carlo_tail(
    net: &Mlp,
    p: &FailureVector,
    x: &Inputs,
    targets: &[f32],
    loss: Loss,
    epsilon: f64,
    repetitions: usize,
    seed: u64,
) -> Result<Vec<TailEstimate>> {
    let n_out = check(net, p, x, targets, epsilon)?;
    if repetitions == 0 {
        return Err(ftnn_model::ModelError::ZeroRepetitions.into());
    }
    let n = x.rows();
    let Some(l0) = p.first_crashing_layer() else {
        // Nothing crashes: Δ = 0 in every draw.
        let k = if 0.0 > epsilon { repetitions as u64 } else { 0 };
        return Ok(vec![TailEstimate::from_counts(k, repetitions); n]);
    };
    let ys = net.forward_layers(x.data(), n)?;
    let big_l = net.output_layer();
    let clean_loss: Vec<f64> = (0..n)
        .map(|i| {
            loss.sample(
                &ys[big_l][i * n_out..(i + 1) * n_out],
                &targets[i * n_out..(i + 1) * n_out],
            )
        })
        .collect();
    let blocks = repetitions.div_ceil(BLOCK_DRAWS);
    let sizes = net.sizes();
    let counts: Vec<u64> = (0..n * blocks)
        .into_par_iter()
        .map(|job| -> Result<u64> {
            let (i, b) = (job / blocks, job % blocks);
            let rows = BLOCK_DRAWS.min(repetitions - b * BLOCK_DRAWS);
            let mut rng = block_rng(seed, job as u64);
            // Crashed positions per layer, as (row, neuron) lists.
            let mut crashed: Vec<Vec<Vec<u32>>> = vec![Vec::new(); sizes.len()];
            let mut any = vec![false; rows];
            let mut pos = Vec::new();
            for (l, &width) in sizes.iter().enumerate() {
                if p[l] == 0.0 {
                    continue;
                }
                pos.clear();
                sample_crashes(&mut rng, p[l], rows * width, &mut pos);
                let mut per_row = vec![Vec::new(); rows];
                for &q in &pos {
                    let r = q as usize / width;
                    per_row[r].push(q % width as u32);
                    any[r] = true;
                }
                crashed[l] = per_row;
            }
            let active: Vec<usize> = (0..rows).filter(|&r| any[r]).collect();
            let zero_exceeds = 0.0 > epsilon;
            let mut k = if zero_exceeds {
                (rows - active.len()) as u64
            } else {
                0
            };
            if active.is_empty() {
                return Ok(k);
            }
            let a = active.len();
            let mask = |y: &mut [f32], l: usize| {
                if crashed[l].is_empty() {
                    return;
                }
                let w = sizes[l];
                for (j, &r) in active.iter().enumerate() {
                    for &c in &crashed[l][r] {
                        y[j * w + c as usize] = 0.0;
                    }
                }
            };
            let w0 = sizes[l0];
            let clean = &ys[l0][i * w0..(i + 1) * w0];
            let mut y: Vec<f32> = Vec::with_capacity(a * w0);
            for _ in 0..a {
                y.extend_from_slice(clean);
            }
            mask(&mut y, l0);
            for l in l0 + 1..=big_l {
                let mut z = net.layers()[l - 1].matmul_rows(y, a)?;
                net.bias_activate(l, &mut z);
                mask(&mut z, l);
                y = z;
            }
            let t = &targets[i * n_out..(i + 1) * n_out];
            for out in y.chunks_exact(n_out) {
                let delta = loss.sample(out, t) - clean_loss[i];
                // A NaN (overflow) counts as a failure: the guarantee must not pass it.
                if delta > epsilon || delta.is_nan() {
                    k += 1;
                }
            }
            Ok(k)
        })
        .collect::<Result<_>>()?;
    Ok(counts
        .chunks_exact(blocks)
        .map(|c| TailEstimate::from_counts(c.iter().sum(), repetitions))
        .collect())
}

/// Exact P(Δ > ε) per input by enumerating every crash pattern (module documentation);
/// errors when more than `max_crashable` neurons have 0 < p < 1.
pub fn exact_tail(
    net: &Mlp,
    p: &FailureVector,
    x: &Inputs,
    targets: &[f32],
    loss: Loss,
    epsilon: f64,
    max_crashable: usize,
) -> Result<Vec<f64>> {
    let n_out = check(net, p, x, targets, epsilon)?;
    let neurons = crashable_neurons(net, p)?;
    let m = neurons.len();
    if m > max_crashable {
        return Err(CertifyError::TooManyCrashable {
            crashable: m,
            max: max_crashable,
        });
    }
    let base: Vec<Vec<bool>> = net
        .sizes()
        .iter()
        .enumerate()
        .map(|(l, &w)| vec![p[l] >= 1.0; w])
        .collect();
    let mut tails = Vec::with_capacity(x.rows());
    for i in 0..x.rows() {
        let xi: Vec<f64> = x.row(i).iter().map(|&v| v as f64).collect();
        let t: Vec<f64> = targets[i * n_out..(i + 1) * n_out]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let clean = loss.value(&net.forward_f64(&xi, None), &t);
        const TASK: usize = 4096;
        let n_patterns = 1usize << m;
        let parts: Vec<f64> = (0..n_patterns.div_ceil(TASK))
            .into_par_iter()
            .map(|task| {
                let mut masks = base.clone();
                let mut sum = 0.0;
                for s in task * TASK..((task + 1) * TASK).min(n_patterns) {
                    let mut w = 1.0;
                    for (bit, &(l, j)) in neurons.iter().enumerate() {
                        let c = s >> bit & 1 == 1;
                        masks[l][j] = c;
                        w *= if c { p[l] } else { 1.0 - p[l] };
                    }
                    let delta = loss.value(&net.forward_f64(&xi, Some(&masks)), &t) - clean;
                    if delta > epsilon {
                        sum += w;
                    }
                }
                sum
            })
            .collect();
        tails.push(parts.iter().sum());
    }
    Ok(tails)
}
