//! Result types shared by the error comparisons (`error-comparison-random`,
//! `error-comparison-boston`): one part's per-point bounds and experiment, its correlations and
//! its ranking of the bounds.

use ftnn_bounds::ComparisonRow;
use ftnn_plot::{self as plot, Axes, Group};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
    /// Draws `rel_error_{tag}` into `dir`: one box per bound with a std, of its relative error
    /// |exp − bound| / |exp| in percent over the part's points (clipped at 200 %).
    pub fn std_error_boxes(&self, dir: &Path, tag: &str) -> anyhow::Result<PathBuf> {
        let groups: Vec<Group> = self
            .bounds
            .iter()
            .filter_map(|b| Some((b.name.as_str(), b.std.as_ref()?)))
            .map(|(name, std)| {
                let rel =
                    ftnn_bounds::compare::relative_errors(&self.exp_std, std).unwrap_or_default();
                Group::new(
                    format!("{name} std"),
                    rel.iter().map(|v| 100.0 * v).collect(),
                )
            })
            .collect();
        plot::box_plots(
            dir,
            &format!("rel_error_{tag}"),
            &Axes::new(
                format!(
                    "Part {}: relative error of the std bounds (clipped at 200 %)",
                    self.label
                ),
                "bound",
                "|exp − bound| / |exp| (%)",
            ),
            &groups,
        )
    }
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
