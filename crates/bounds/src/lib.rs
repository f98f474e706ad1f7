//! # ftnn-bounds — analytic estimates of the crash error
//!
//! The bounds of SPEC §4, for any set of crashing layers where the formula allows:
//!
//! | bound | estimates | where |
//! |---|---|---|
//! | [`b3`] | E Δ, std Δ — first-order Taylor (the paper's Theorem 1) | any p |
//! | [`b3_loss`] | E ΔL, Var ΔL for a loss L (any [`Loss`]: MSE, MAE, cross-entropy) | any p |
//! | [`b4`] | E Δ, std Δ — exact single-crash sum, O(p²) | any p |
//! | [`b5`] | E Δ — second-order Taylor | any p |
//! | [`b2`] | mean, std — absolute-value propagation | crashes at hidden layer 1 only |
//! | [`b1`] | norm products with q = 1, 2, ∞ | crashes at hidden layer 1 only |
//! | [`sum_norms`] | Σ_l ‖W_l‖_q, a weight-size baseline | — |
//! | [`seq_b3`], [`seq_b4`], [`seq_b5`] | b3, b4, b5 on Sequential networks (CNNs, SPEC §9) at every crash site, with an input crash mask ([`seq`]) | any p (b5: sites of ≤ [`SEQ_B5_MAX_SITE`] elements unless only piecewise-linear layers follow) |
//!
//! [`compare`] ranks bounds against Monte Carlo results (SPEC §5).

pub mod compare;
pub mod error;
pub mod estimate;
pub mod evaluate;
pub mod norms;
pub mod seq;
pub mod single_crash;
pub mod taylor;

pub use error::{BoundsError, Result};
pub use estimate::{BoundKind, MeanStd};
pub use evaluate::{compare_with_experiment, evaluate, evaluate_seq, BoundOutput, ComparisonRow};
pub use ftnn_model::Loss;
pub use ftnn_model::{operator_norm, vector_norm, Norm};
pub use norms::{b1, b2, sum_norms, SumNorms};
pub use seq::{seq_b3, seq_b4, seq_b5, SEQ_B5_MAX_SITE};
pub use single_crash::b4;
pub use taylor::{b3, b3_loss, b5, LossMoments};
