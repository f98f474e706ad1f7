//! Result types shared by the error comparisons (`error-comparison-random`,
//! `error-comparison-boston`): one part's per-point bounds and experiment, its correlations and
//! its ranking of the bounds.

use ftnn_bounds::ComparisonRow;
use serde::{Deserialize, Serialize};

/// Per-point values of one bound.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BoundPoints {
    /// Bound name (`b3`, `b1_2`, …).
    pub name: String,
    /// Mean per point.
    pub mean: Vec<f64>,
    /// Std per point, where the bound has one.
    pub std: Option<Vec<f64>>,
}

/// Results of one part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartResult {
    /// `A` or `B`.
    pub label: String,
    /// Measured E Δ per point.
    pub exp_mean: Vec<f64>,
    /// Measured std Δ per point.
    pub exp_std: Vec<f64>,
    /// Standard error of the measured mean per point.
    pub exp_stderr: Vec<f64>,
    /// Bound values per point.
    pub bounds: Vec<BoundPoints>,
    /// Comparison rows, best |correlation| first.
    pub ranking: Vec<RankingRow>,
}

impl PartResult {
    /// The Pearson correlation of quantity `q` (e.g. `b4 std`), NaN when absent or undefined.
    pub fn correlation(&self, q: &str) -> f64 {
        self.ranking
            .iter()
            .find(|x| x.quantity == q)
            .and_then(|x| x.pearson)
            .unwrap_or(f64::NAN)
    }
}

/// A serialisable comparison row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RankingRow {
    /// E.g. `b4 std`.
    pub quantity: String,
    /// What it is compared with.
    pub against: String,
    /// Pearson correlation.
    pub pearson: Option<f64>,
    /// Rank loss.
    pub rank_loss: f64,
    /// Median clipped relative error.
    pub median_rel_error: f64,
}

impl From<&ComparisonRow> for RankingRow {
    fn from(r: &ComparisonRow) -> Self {
        Self {
            quantity: r.quantity.clone(),
            against: r.against.clone(),
            pearson: r.pearson,
            rank_loss: r.rank_loss,
            median_rel_error: r.median_rel_error,
        }
    }
}
