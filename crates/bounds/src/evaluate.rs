//! One entry point for every bound, and the comparison of a set of bounds with a Monte Carlo
//! run over the same points (SPEC §5).

use crate::compare::{pearson, rank_loss, relative_errors};
use crate::error::{BoundsError, Result};
use crate::estimate::BoundKind;
use crate::norms::{b1_checked, b2_checked, Norm};
use crate::single_crash::b4_checked;
use crate::taylor::{b3_checked, b5_checked};
use ftnn_model::{DeltaStats, FailureVector, Inputs, Mlp};
use serde::Serialize;

/// The values of one bound: `mean` (and `std` where the bound has one) per input and output,
/// row-major `[N, n_L]`, or — for b1 — one value per input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoundOutput {
    /// Which bound.
    pub kind: BoundKind,
    /// Estimated mean (b1: the norm-product bound per input).
    pub mean: Vec<f64>,
    /// Estimated standard deviation, for b2, b3, b4.
    pub std: Option<Vec<f64>>,
    /// True for b1: one value per input rather than per input and output.
    pub per_input: bool,
}

/// Computes one bound on a Sequential network (CNNs, SPEC §9): b3, b4 and b5 at every crash
/// site ([`crate::seq_b3`], [`crate::seq_b4`], [`crate::seq_b5`]), with the optional input
/// crash mask; b1 and b2 are defined for MLPs only and are refused with the reason.
pub fn evaluate_seq(
    kind: BoundKind,
    net: &ftnn_model::seq::Sequential,
    p: &FailureVector,
    x: &candle_core::Tensor,
    crash_mask: Option<&[f32]>,
) -> Result<BoundOutput> {
    let (mean, std) = match kind {
        BoundKind::B3 => {
            let m = crate::seq_b3(net, p, x, crash_mask)?;
            (m.mean, Some(m.std))
        }
        BoundKind::B4 => {
            let m = crate::seq_b4(net, p, x, crash_mask)?;
            (m.mean, Some(m.std))
        }
        BoundKind::B5 => (crate::seq_b5(net, p, x, crash_mask)?, None),
        BoundKind::B2 | BoundKind::B1One | BoundKind::B1Two | BoundKind::B1Inf => {
            return Err(BoundsError::NotApplicable {
                bound: kind.name(),
                reason: "it is defined for MLPs with crashes at the first hidden layer only; \
                         this network has other layers"
                    .into(),
            })
        }
    };
    Ok(BoundOutput {
        kind,
        mean,
        std,
        per_input: false,
    })
}

/// Computes one bound after checking, once, that it applies to `net` and `p`
/// ([`BoundKind::check_applicable`], which includes the length of `p`).
pub fn evaluate(kind: BoundKind, net: &Mlp, p: &FailureVector, x: &Inputs) -> Result<BoundOutput> {
    kind.check_applicable(net, p)?;
    let (mean, std, per_input) = match kind {
        BoundKind::B3 => {
            let e = b3_checked(net, p, x)?;
            (e.mean, Some(e.std), false)
        }
        BoundKind::B4 => {
            let e = b4_checked(net, p, x)?;
            (e.mean, Some(e.std), false)
        }
        BoundKind::B2 => {
            let e = b2_checked(net, p, x)?;
            (e.mean, Some(e.std), false)
        }
        BoundKind::B5 => (b5_checked(net, p, x)?, None, false),
        BoundKind::B1One => (b1_checked(net, p, x, Norm::One)?, None, true),
        BoundKind::B1Two => (b1_checked(net, p, x, Norm::Two)?, None, true),
        BoundKind::B1Inf => (b1_checked(net, p, x, Norm::Inf)?, None, true),
    };
    Ok(BoundOutput {
        kind,
        mean,
        std,
        per_input,
    })
}

/// How well one bound quantity follows the experiment over the points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparisonRow {
    /// E.g. `b4 std`.
    pub quantity: String,
    /// What it is compared with, e.g. `std Δ` or `‖E Δ‖_2`.
    pub against: String,
    /// Number of points.
    pub points: usize,
    /// Pearson correlation (None when either side is constant).
    pub pearson: Option<f64>,
    /// Rank loss, min(r, 1 − r).
    pub rank_loss: f64,
    /// Median clipped relative error.
    pub median_rel_error: f64,
    /// Mean clipped relative error.
    pub mean_rel_error: f64,
    /// Per-point clipped relative errors.
    #[serde(skip)]
    pub rel_errors: Vec<f64>,
}

fn row(quantity: String, against: &str, exp: &[f64], bound: &[f64]) -> Result<ComparisonRow> {
    let rel = relative_errors(exp, bound)?;
    let mut sorted = rel.clone();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.is_empty() {
        0.0
    } else if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        0.5 * (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2])
    };
    Ok(ComparisonRow {
        quantity,
        against: against.into(),
        points: exp.len(),
        pearson: pearson(exp, bound)?,
        rank_loss: rank_loss(exp, bound)?,
        median_rel_error: median,
        mean_rel_error: rel.iter().sum::<f64>() / rel.len().max(1) as f64,
        rel_errors: rel,
    })
}

/// Compares bounds with a Monte Carlo run on the same inputs. Points are (input, output)
/// pairs for mean and std; b1 (a bound on the q-norm of the output error) is compared per
/// input with the q-norm of the measured E Δ over outputs. Rows are sorted by decreasing
/// |Pearson correlation|.
pub fn compare_with_experiment(
    bounds: &[BoundOutput],
    mc: &DeltaStats,
) -> Result<Vec<ComparisonRow>> {
    let mut rows = Vec::new();
    for b in bounds {
        let name = b.kind.name();
        if b.per_input {
            let q = match b.kind {
                BoundKind::B1One => Norm::One,
                BoundKind::B1Two => Norm::Two,
                _ => Norm::Inf,
            };
            let exp: Vec<f64> = mc
                .mean
                .chunks(mc.n_outputs)
                .map(|m| {
                    let v: Vec<f32> = m.iter().map(|&x| x as f32).collect();
                    crate::norms::vector_norm(&v, q)
                })
                .collect();
            let label = match q {
                Norm::One => "‖E Δ‖_1",
                Norm::Two => "‖E Δ‖_2",
                _ => "‖E Δ‖_∞",
            };
            rows.push(row(name.to_string(), label, &exp, &b.mean)?);
        } else {
            rows.push(row(format!("{name} mean"), "E Δ", &mc.mean, &b.mean)?);
            if let Some(std) = &b.std {
                rows.push(row(format!("{name} std"), "std Δ", &mc.std, std)?);
            }
        }
    }
    rows.sort_by(|a, b| {
        let key = |r: &ComparisonRow| r.pearson.map_or(-1.0, f64::abs);
        key(b).total_cmp(&key(a))
    });
    Ok(rows)
}
