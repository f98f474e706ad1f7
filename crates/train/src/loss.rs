//! Training losses (SPEC §7), as candle graphs for training and in f64 for evaluation.
//!
//! All three average over the batch; MSE and MAE also average over outputs, as Keras does:
//! - `mse`: mean_{b,k} (ŷ_bk − t_bk)²;
//! - `mae`: mean_{b,k} |ŷ_bk − t_bk|;
//! - `cross-entropy`: mean_b −Σ_k t_bk · log softmax(ŷ_b)_k (the network's output is the logits).

use crate::error::{Result, TrainError};
use candle_core::{Tensor, D};
use std::fmt;
use std::str::FromStr;

/// The data loss minimised by training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Mean squared error (the paper's loss, on one-hot targets for classification).
    #[default]
    Mse,
    /// Mean absolute error (`ErrorOnTraining`).
    Mae,
    /// Softmax cross-entropy on one-hot targets.
    CrossEntropy,
}

impl LossKind {
    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mse => "mse",
            Self::Mae => "mae",
            Self::CrossEntropy => "cross-entropy",
        }
    }

    /// The batch loss as a differentiable scalar; `y` and `t` are `[batch, n_out]`.
    pub fn graph(self, y: &Tensor, t: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Mse => (y - t)?.sqr()?.mean_all(),
            Self::Mae => (y - t)?.abs()?.mean_all(),
            Self::CrossEntropy => {
                let logp = candle_nn::ops::log_softmax(y, D::Minus1)?;
                (logp * t)?.sum(D::Minus1)?.neg()?.mean_all()
            }
        }
    }

    /// The loss of one example in f64: its contribution to the batch mean.
    pub fn sample(self, y: &[f32], t: &[f32]) -> f64 {
        let n = y.len() as f64;
        match self {
            Self::Mse => {
                y.iter()
                    .zip(t)
                    .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                    .sum::<f64>()
                    / n
            }
            Self::Mae => {
                y.iter()
                    .zip(t)
                    .map(|(&a, &b)| (a as f64 - b as f64).abs())
                    .sum::<f64>()
                    / n
            }
            Self::CrossEntropy => {
                let max = y.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
                let lse = max + y.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
                y.iter()
                    .zip(t)
                    .map(|(&a, &b)| -(b as f64) * (a as f64 - lse))
                    .sum()
            }
        }
    }
}

impl fmt::Display for LossKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LossKind {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mse" => Ok(Self::Mse),
            "mae" => Ok(Self::Mae),
            "cross-entropy" | "crossentropy" | "ce" => Ok(Self::CrossEntropy),
            _ => Err(TrainError::Config(format!(
                "unknown loss `{s}` (mse, mae or cross-entropy)"
            ))),
        }
    }
}
