//! The error of the bounds against the experiment (SPEC §10): random and trained networks,
//! the error during training, and its additivity over layers.

pub mod additivity;
pub mod comparison_boston;
pub mod comparison_random;
pub mod numpy_init;
pub mod on_training;
pub mod verdicts;
