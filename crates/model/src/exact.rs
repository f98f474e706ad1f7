//! Exact mean and standard deviation of Δ by enumeration of every crash pattern (SPEC §3).
//!
//! Let the m crashable neurons be those with 0 < p_l < 1 (neurons with p_l = 1 always crash,
//! with p_l = 0 never). For each of the 2^m patterns s, with weight
//! `w(s) = Π_{crashed} p_l · Π_{alive} (1 − p_l)`, the reference f64 forward pass
//! ([`Mlp::forward_f64`]) gives Δ(s) = ŷ(s) − y. Then
//! `E Δ = Σ_s w(s) Δ(s)` and `Var Δ = Σ_s w(s) (Δ(s) − E Δ)²` (two passes, f64), the ground
//! truth against which Monte Carlo and the bounds are tested.

use crate::error::{ModelError, Result};
use crate::failure::FailureVector;
use crate::inputs::Inputs;
use crate::mlp::Mlp;
use rayon::prelude::*;

/// Default largest number of crashable neurons (2^20 ≈ 10⁶ patterns).
pub const DEFAULT_MAX_CRASHABLE: usize = 20;
/// Patterns per parallel task; sums are combined in task order (deterministic).
const PATTERNS_PER_TASK: usize = 4096;

/// Exact moments of Δ, row-major `[n_inputs, n_outputs]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExactStats {
    /// Number of inputs.
    pub n_inputs: usize,
    /// Number of outputs.
    pub n_outputs: usize,
    /// Number of crashable neurons m (2^m patterns were enumerated).
    pub crashable: usize,
    /// E Δ.
    pub mean: Vec<f64>,
    /// sqrt(Var Δ).
    pub std: Vec<f64>,
}

/// Neurons `(layer, index)` with 0 < p < 1, in layer order.
pub fn crashable_neurons(net: &Mlp, p: &FailureVector) -> Result<Vec<(usize, usize)>> {
    p.check_len(net.n_neuron_layers())?;
    Ok(net
        .sizes()
        .iter()
        .enumerate()
        .filter(|&(l, _)| p[l] > 0.0 && p[l] < 1.0)
        .flat_map(|(l, &n)| (0..n).map(move |i| (l, i)))
        .collect())
}

/// Exact E Δ and std Δ for every input; errors when more than `max_crashable` neurons have
/// 0 < p < 1.
pub fn exact_delta(
    net: &Mlp,
    p: &FailureVector,
    inputs: &Inputs,
    max_crashable: usize,
) -> Result<ExactStats> {
    inputs.check_width(net.n_inputs())?;
    let neurons = crashable_neurons(net, p)?;
    let m = neurons.len();
    if m > max_crashable {
        return Err(ModelError::TooManyCrashable {
            crashable: m,
            max: max_crashable,
        });
    }
    let sizes = net.sizes();
    let n_out = net.n_outputs();
    let mut base_masks: Vec<Vec<bool>> = sizes.iter().map(|&n| vec![false; n]).collect();
    for (l, mask) in base_masks.iter_mut().enumerate() {
        if p[l] >= 1.0 {
            mask.fill(true);
        }
    }
    let n_patterns = 1usize << m;
    let mut stats = ExactStats {
        n_inputs: inputs.rows(),
        n_outputs: n_out,
        crashable: m,
        mean: Vec::new(),
        std: Vec::new(),
    };
    for row in 0..inputs.rows() {
        let x: Vec<f64> = inputs.row(row).iter().map(|&v| v as f64).collect();
        let y = net.forward_f64(&x, None);
        // Pass 1: Δ for every pattern, kept for pass 2, with the weighted sum.
        let tasks: Vec<(Vec<f64>, Vec<f64>)> = (0..n_patterns.div_ceil(PATTERNS_PER_TASK))
            .into_par_iter()
            .map(|t| {
                let mut masks = base_masks.clone();
                let range = t * PATTERNS_PER_TASK..((t + 1) * PATTERNS_PER_TASK).min(n_patterns);
                let mut deltas = Vec::with_capacity(range.len() * (n_out + 1));
                let mut sum = vec![0f64; n_out];
                for s in range {
                    let mut w = 1.0;
                    for (bit, &(l, i)) in neurons.iter().enumerate() {
                        let crashed = s >> bit & 1 == 1;
                        masks[l][i] = crashed;
                        w *= if crashed { p[l] } else { 1.0 - p[l] };
                    }
                    let yhat = net.forward_f64(&x, Some(&masks));
                    deltas.push(w);
                    for k in 0..n_out {
                        let d = yhat[k] - y[k];
                        deltas.push(d);
                        sum[k] += w * d;
                    }
                }
                (deltas, sum)
            })
            .collect();
        let mut mean = vec![0f64; n_out];
        for (_, s) in &tasks {
            for k in 0..n_out {
                mean[k] += s[k];
            }
        }
        let var_parts: Vec<Vec<f64>> = tasks
            .par_iter()
            .map(|(deltas, _)| {
                let mut v = vec![0f64; n_out];
                for rec in deltas.chunks_exact(n_out + 1) {
                    for k in 0..n_out {
                        let e = rec[k + 1] - mean[k];
                        v[k] += rec[0] * e * e;
                    }
                }
                v
            })
            .collect();
        let mut var = vec![0f64; n_out];
        for v in &var_parts {
            for k in 0..n_out {
                var[k] += v[k];
            }
        }
        stats.mean.extend_from_slice(&mean);
        stats.std.extend(var.iter().map(|v| v.max(0.0).sqrt()));
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, Dense};

    /// A linear output layer with crashes at the output only: Δ_k = −y_k·ξ_k with
    /// ξ_k ~ Bernoulli(p), so E Δ = −p·y and std Δ = |y|·sqrt(p(1 − p)).
    #[test]
    fn output_crashes_closed_form() {
        let l1 = Dense::new(vec![1.0, 2.0, -1.0, 0.5], vec![0.1, -0.2], 2, 2).unwrap();
        let net = Mlp::new(vec![l1], Activation::Relu, 1.0).unwrap();
        let p = FailureVector::new(vec![0.0, 0.3]).unwrap();
        let x = Inputs::new(vec![1.0, -1.0], 1, 2).unwrap();
        let s = exact_delta(&net, &p, &x, 20).unwrap();
        let y = [1.0 - 2.0 + 0.1, -1.0 - 0.5 - 0.2];
        for k in 0..2 {
            assert!((s.mean[k] + 0.3 * y[k]).abs() < 1e-6);
            assert!((s.std[k] - y[k].abs() * (0.3f64 * 0.7).sqrt()).abs() < 1e-6);
        }
    }

    /// One hidden neuron feeding one linear output: Δ is −w·y_1 with probability p (by hand).
    #[test]
    fn single_hidden_neuron_by_hand() {
        let l1 = Dense::new(vec![2.0], vec![0.0], 1, 1).unwrap();
        let l2 = Dense::new(vec![3.0], vec![1.0], 1, 1).unwrap();
        let net = Mlp::new(vec![l1, l2], Activation::Relu, 1.0).unwrap();
        let p = FailureVector::new(vec![0.0, 0.25, 0.0]).unwrap();
        let x = Inputs::new(vec![1.5], 1, 1).unwrap();
        let s = exact_delta(&net, &p, &x, 20).unwrap();
        // y_1 = 3, crash removes 3·3 = 9.
        assert!((s.mean[0] + 0.25 * 9.0).abs() < 1e-12);
        assert!((s.std[0] - 9.0 * (0.25f64 * 0.75).sqrt()).abs() < 1e-12);
        assert_eq!(s.crashable, 1);
    }

    #[test]
    fn limits() {
        let l1 = Dense::new(vec![1.0; 30], vec![0.0; 30], 30, 1).unwrap();
        let l2 = Dense::new(vec![1.0; 30], vec![0.0], 1, 30).unwrap();
        let net = Mlp::new(vec![l1, l2], Activation::Relu, 1.0).unwrap();
        let x = Inputs::new(vec![1.0], 1, 1).unwrap();
        let p = FailureVector::new(vec![0.0, 0.5, 0.0]).unwrap();
        assert!(matches!(
            exact_delta(&net, &p, &x, 20),
            Err(ModelError::TooManyCrashable {
                crashable: 30,
                max: 20
            })
        ));
        // p = 1 everywhere in the hidden layer: deterministic, nothing to enumerate.
        let p = FailureVector::new(vec![0.0, 1.0, 0.0]).unwrap();
        let s = exact_delta(&net, &p, &x, 20).unwrap();
        assert_eq!(s.crashable, 0);
        assert!((s.mean[0] + 30.0).abs() < 1e-12);
        assert_eq!(s.std[0], 0.0);
    }
}
