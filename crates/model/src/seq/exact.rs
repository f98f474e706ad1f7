//! Exact E Δ and std Δ on [`Sequential`] networks by enumerating every crash pattern of the
//! crashable elements (SPEC §3, §11: at most 20 elements of sites with 0 < p < 1, after the
//! input crash mask).
//!
//! With m crashable elements (site s, index i) and, for each of the 2^m patterns c,
//! `w(c) = Π_{crashed} p_s · Π_{alive} (1 − p_s)`: `E Δ = Σ_c w(c) Δ(c)` and
//! `Var Δ = Σ_c w(c) (Δ(c) − E Δ)²` — two passes over the stored Δ(c), in f64. Elements of sites
//! with p = 1 crash in every pattern. The crashed passes are the network's own f32 forward
//! from the first crashing site ([`Sequential::forward_from_site`]), batched over patterns.

use crate::error::{ModelError, Result};
use crate::exact::ExactStats;
use crate::failure::FailureVector;
use crate::seq::montecarlo::{allowed_positions, check_sites, CrashedRow, SeqPlan};
use crate::seq::Sequential;
use candle_core::Tensor;

/// Patterns evaluated per batched forward pass.
const PATTERNS_PER_BATCH: usize = 256;

/// Elements `(site, index)` of crash sites.
type Elements = Vec<(usize, u32)>;

/// Crashable elements `(site, index)` with 0 < p < 1 (input elements restricted to the mask's
/// ones), in site order, and the elements that always crash (p = 1).
fn elements(net: &Sequential, p: &FailureVector, allowed: Option<&[u32]>) -> (Elements, Elements) {
    let (mut maybe, mut always) = (Vec::new(), Vec::new());
    for (s, site) in net.sites().iter().enumerate() {
        if p[s] <= 0.0 {
            continue;
        }
        let idx: Vec<u32> = match (s, allowed) {
            (0, Some(a)) => a.to_vec(),
            _ => (0..site.size as u32).collect(),
        };
        let target = if p[s] >= 1.0 { &mut always } else { &mut maybe };
        target.extend(idx.into_iter().map(|i| (s, i)));
    }
    (maybe, always)
}

/// Exact E Δ and std Δ for every input of the batch `x` (`[N, *input_shape]`); `crash_mask`
/// restricts input crashes as in [`crate::seq::SeqMonteCarlo::crash_mask`]. Errors when more
/// than `max_crashable` elements have 0 < p < 1.
pub fn seq_exact_delta(
    net: &Sequential,
    p: &FailureVector,
    x: &Tensor,
    crash_mask: Option<&[f32]>,
    max_crashable: usize,
) -> Result<ExactStats> {
    check_sites(net, p)?;
    let allowed = crash_mask.map(|m| allowed_positions(net, m)).transpose()?;
    let (maybe, always) = elements(net, p, allowed.as_deref());
    let m = maybe.len();
    if m > max_crashable {
        return Err(ModelError::TooManyCrashable {
            crashable: m,
            max: max_crashable,
        });
    }
    let plan = SeqPlan::new(net, p, allowed.as_deref(), x)?;
    let (n, n_out) = (plan.n, plan.n_out);
    let n_patterns = 1usize << m;
    let weights: Vec<f64> = (0..n_patterns)
        .map(|c| {
            maybe
                .iter()
                .enumerate()
                .map(|(b, &(s, _))| if c >> b & 1 == 1 { p[s] } else { 1.0 - p[s] })
                .product()
        })
        .collect();
    let mut stats = ExactStats {
        n_inputs: n,
        n_outputs: n_out,
        crashable: m,
        mean: Vec::with_capacity(n * n_out),
        std: Vec::with_capacity(n * n_out),
    };
    for input in 0..n {
        let mut deltas = Vec::with_capacity(n_patterns * n_out);
        for start in (0..n_patterns).step_by(PATTERNS_PER_BATCH) {
            let rows: Vec<CrashedRow> = (start..(start + PATTERNS_PER_BATCH).min(n_patterns))
                .map(|c| CrashedRow {
                    row: c,
                    input,
                    sites: pattern_sites(&maybe, &always, c),
                })
                .collect();
            // Rows without any crash have Δ = 0 exactly.
            let (crashed, idle): (Vec<_>, Vec<_>) =
                rows.into_iter().partition(|r| !r.sites.is_empty());
            let d = plan.deltas(&crashed)?;
            let mut block = vec![0f32; (crashed.len() + idle.len()) * n_out];
            for (j, r) in crashed.iter().enumerate() {
                let at = (r.row - start) * n_out;
                block[at..at + n_out].copy_from_slice(&d[j * n_out..(j + 1) * n_out]);
            }
            deltas.extend(block);
        }
        let mut mean = vec![0f64; n_out];
        for (w, d) in weights.iter().zip(deltas.chunks_exact(n_out)) {
            mean.iter_mut()
                .zip(d)
                .for_each(|(s, &v)| *s += w * v as f64);
        }
        let mut var = vec![0f64; n_out];
        for (w, d) in weights.iter().zip(deltas.chunks_exact(n_out)) {
            for k in 0..n_out {
                let e = d[k] as f64 - mean[k];
                var[k] += w * e * e;
            }
        }
        stats.mean.extend(&mean);
        stats.std.extend(var.iter().map(|v| v.max(0.0).sqrt()));
    }
    Ok(stats)
}

/// The crashed elements of pattern `c` (bit b set: element b of `maybe` crashes) plus those
/// that always crash, grouped by site in increasing order.
fn pattern_sites(
    maybe: &[(usize, u32)],
    always: &[(usize, u32)],
    c: usize,
) -> Vec<(usize, Vec<u32>)> {
    let mut all: Vec<(usize, u32)> = always.to_vec();
    all.extend(
        maybe
            .iter()
            .enumerate()
            .filter(|(b, _)| c >> b & 1 == 1)
            .map(|(_, &e)| e),
    );
    all.sort_unstable();
    let mut out: Vec<(usize, Vec<u32>)> = Vec::new();
    for (s, i) in all {
        match out.last_mut() {
            Some((t, v)) if *t == s => v.push(i),
            _ => out.push((s, vec![i])),
        }
    }
    out
}
