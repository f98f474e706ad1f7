//! b4 — the exact single-crash sum (SPEC §4).
//!
//! With `e_{l,i} = y_L(only neuron (l,i) crashed) − y_L(no crash)`:
//! `E Δ ≈ Σ_l p_l Σ_i e_{l,i}` and `Var Δ ≈ Σ_l p_l(1−p_l) Σ_i e_{l,i}²`, correct to O(p²)
//! even when y_{l,i} is not small.
//!
//! Each e_{l,i} is a rank-1 update (SPEC §14): the crash changes the next pre-activation by
//! `Δz = −W_{l+1}[:, i] y_{l,i}`. When l + 1 = L that is e itself; otherwise the rows
//! `φ(z_{l+1} + Δz)` of all neurons of a chunk of inputs go through the remaining layers as one
//! GEMM per layer, and the output change is taken as `W_L (ŷ_{L−1} − y_{L−1})`, so it is not
//! lost to cancellation against the output's bias. A crash of an output neuron gives
//! `e_{L,i} = −y_{L,i}` on output i. Neurons whose output is exactly 0 (dead ReLUs) change
//! nothing and are skipped.

use crate::error::Result;
use crate::estimate::MeanStd;
use crate::taylor::{chunk_trace, input_chunks};
use ftnn_model::{FailureVector, Inputs, Mlp, Trace};
use rayon::prelude::*;

/// The single-crash output changes `e_{l,i}` of every neuron of layer l (< L) with a non-zero
/// output, for every input of a trace.
#[derive(Debug, Clone)]
pub struct SingleCrashEffects {
    /// `(input, neuron)` of each stacked row, inputs in increasing order.
    pub owners: Vec<(usize, u32)>,
    /// `[owners.len(), n_L]`: the output change of each row's crash.
    pub effects: Vec<f32>,
}

/// Computes [`SingleCrashEffects`] for layer `l` < L over the inputs of `trace`.
pub fn single_crash_effects(net: &Mlp, trace: &Trace, l: usize) -> Result<SingleCrashEffects> {
    let big_l = net.output_layer();
    let sizes = net.sizes();
    let (rows, n_l, n_next, n_out) = (trace.rows, sizes[l], sizes[l + 1], net.n_outputs());
    let layer = &net.layers()[l];
    // Stacked rows: (input n, neuron i) with y_{l,i} ≠ 0.
    let mut owners: Vec<(usize, u32)> = Vec::new();
    for n in 0..rows {
        let y = &trace.y[l][n * n_l..(n + 1) * n_l];
        owners.extend((0..n_l).filter(|&i| y[i] != 0.0).map(|i| (n, i as u32)));
    }
    let a = owners.len();
    let mut dz = Vec::with_capacity(a * n_next);
    for &(n, i) in &owners {
        let v = trace.y[l][n * n_l + i as usize];
        dz.extend(layer.column(i as usize).iter().map(|&w| -w * v));
    }
    let e = if l + 1 == big_l {
        dz
    } else {
        // y_{l+1} = φ(z_{l+1} + Δz), input by input (rows of one input are contiguous).
        let mut y = dz;
        let k = net.k_lips() as f32;
        let mut start = 0;
        while start < a {
            let n = owners[start].0;
            let end = start + owners[start..].iter().take_while(|o| o.0 == n).count();
            let zc = &trace.z[l + 1][n * n_next..(n + 1) * n_next];
            net.activation()
                .apply_rows_f32(&mut y[start * n_next..end * n_next], zc, k);
            start = end;
        }
        for m in l + 2..big_l {
            let mut z = net.layers()[m - 1].matmul_rows(y, a)?;
            net.bias_activate(m, &mut z);
            y = z;
        }
        let n_pen = sizes[big_l - 1];
        for (row, &(n, _)) in y.chunks_exact_mut(n_pen).zip(&owners) {
            for (v, &c) in row
                .iter_mut()
                .zip(&trace.y[big_l - 1][n * n_pen..(n + 1) * n_pen])
            {
                *v -= c;
            }
        }
        net.layers()[big_l - 1].matmul_rows(y, a)?
    };
    debug_assert_eq!(e.len(), a * n_out);
    Ok(SingleCrashEffects { owners, effects: e })
}

/// b4: per input and output, the single-crash estimates of E Δ and std Δ.
pub fn b4(net: &Mlp, p: &FailureVector, x: &Inputs) -> Result<MeanStd> {
    p.check_len(net.n_neuron_layers())?;
    b4_checked(net, p, x)
}

/// [`b4`] for a failure vector already checked against `net` (by
/// [`crate::BoundKind::check_applicable`] or the public function).
pub(crate) fn b4_checked(net: &Mlp, p: &FailureVector, x: &Inputs) -> Result<MeanStd> {
    x.check_width(net.n_inputs())?;
    let n_out = net.n_outputs();
    let big_l = net.output_layer();
    let sizes = net.sizes();
    let (mut mean, mut var) = (vec![0f64; x.rows() * n_out], vec![0f64; x.rows() * n_out]);
    for l in p.crashing_layers() {
        let (pl, ql) = (p[l], p[l] * (1.0 - p[l]));
        if l == big_l {
            let y = net.forward(x.data(), x.rows())?;
            for (idx, &v) in y.iter().enumerate() {
                mean[idx] -= pl * v as f64;
                var[idx] += ql * (v as f64).powi(2);
            }
            continue;
        }
        // One trace per chunk of inputs; its single crashes in parallel tasks of at most
        // TASK_ROWS stacked rows (cache-sized, and enough tasks to keep every thread busy).
        const TASK_ROWS: usize = 4096;
        let mut parts: Vec<(std::ops::Range<usize>, Vec<f64>, Vec<f64>)> = Vec::new();
        for range in input_chunks(x.rows(), sizes[l]) {
            let trace = chunk_trace(net, x, &range)?;
            let per_task = (TASK_ROWS / sizes[l]).max(1);
            let tasks: Vec<std::ops::Range<usize>> = (0..range.len())
                .step_by(per_task)
                .map(|s| s..(s + per_task).min(range.len()))
                .collect();
            let done = tasks
                .into_par_iter()
                .map(|sub| {
                    let sc = single_crash_effects(net, &trace.slice(sub.clone()), l)?;
                    let (mut s1, mut s2) =
                        (vec![0f64; sub.len() * n_out], vec![0f64; sub.len() * n_out]);
                    for (row, &(j, _)) in sc.effects.chunks_exact(n_out).zip(&sc.owners) {
                        for k in 0..n_out {
                            let v = row[k] as f64;
                            s1[j * n_out + k] += v;
                            s2[j * n_out + k] += v * v;
                        }
                    }
                    let global = range.start + sub.start..range.start + sub.end;
                    Ok((global, s1, s2))
                })
                .collect::<Result<Vec<_>>>()?;
            parts.extend(done);
        }
        for (range, s1, s2) in parts {
            for (j, n) in range.enumerate() {
                for k in 0..n_out {
                    mean[n * n_out + k] += pl * s1[j * n_out + k];
                    var[n * n_out + k] += ql * s2[j * n_out + k];
                }
            }
        }
    }
    MeanStd::from_moments(x.rows(), n_out, mean, var)
}
