//! # ftnn-decay — continuity and decay metrics (SPEC §8)
//!
//! For an MLP of any depth (the uses are 784→n→100→10 for MNIST and 13→n→100→1 for Boston)
//! with y = y_1 the output of the first hidden layer, and the per-sample loss L (Keras' mean
//! squared error [`Loss::Mse`] unless another [`Loss`] is given):
//!
//! | metric | definition | function |
//! |---|---|---|
//! | D | mean over samples of mean_i \|∂L/∂y_i\| | [`derivative_decay`] |
//! | H_diag, H_all | mean_i \|H̄_ii\|, mean_ij \|H̄_ij\| of H̄ = mean over the first 10 samples of the signed ∂²L/∂y² (SPEC §15) | [`mean_hessian_stats`] ([`hessian()`] for one H) |
//! | per-sample variant | the same of each sample's own \|H\|, then averaged over samples (not the original's) | [`hessian_stats`]; both at once: [`hessian_summary`] |
//! | W_l, W_prod | ‖W_l‖_∞ (max row sum of \|W_l\|) and Π_l ‖W_l‖_∞ | [`weight_norms`] |
//! | Var Δ | mean over outputs of the Monte Carlo Var Δ at one input | [`var_delta`] |
//! | slope | least squares log(metric) = a·log(n) + c over widths n | [`fit_loglog`] ([`fit_line`] for any line) |
//!
//! Expected slopes in the continuous limit: D −1, H −2, Var Δ −1.
//!
//! Gradients and Hessians are analytic (back-propagation of first and second derivatives, see
//! [`hessian`](mod@hessian)); sums are accumulated in f64, and every function returns a typed
//! [`DecayError`] rather than panicking on bad input.

pub mod derivative;
pub mod error;
pub mod fit;
pub mod hessian;
pub mod norms;

pub use derivative::{derivative_decay, mean_abs_gradient, CHUNK_ROWS};
pub use error::{DecayError, Result};
pub use fit::{fit_line, fit_loglog, LineFit, LogLogFit};
pub use ftnn_model::Loss;
pub use hessian::{
    gradient, hessian, hessian_stats, hessian_stats_with_loss, hessian_summary, mean_hessian_stats,
    HessianStats, HessianSummary, HESSIAN_SAMPLES,
};
pub use norms::{var_delta, weight_norms, WeightNorms, VAR_DELTA_P, VAR_DELTA_REPETITIONS};
