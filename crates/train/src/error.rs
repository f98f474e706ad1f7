//! Typed errors of the training crate.

use thiserror::Error;

/// What can go wrong when configuring or running a training.
#[derive(Debug, Error)]
pub enum TrainError {
    /// An invalid training configuration (sizes, epochs, batch size, optimizer, …).
    #[error("invalid training configuration: {0}")]
    Config(String),
    /// A regularizer specification that does not parse or is out of range.
    #[error("invalid regularizer `{spec}`: {reason}")]
    Regularizer {
        /// The specification as given.
        spec: String,
        /// Why it is refused.
        reason: String,
    },
    /// A data set that does not fit the network or holds non-finite values.
    #[error("invalid data: {0}")]
    Data(String),
    /// The objective became non-finite.
    #[error("training diverged in epoch {epoch}: the objective is {value} (lower the learning rate or the regularization)")]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// The non-finite value.
        value: f64,
    },
    /// The run was interrupted (for example by Ctrl-C) between two mini-batches.
    #[error("training interrupted in epoch {epoch}")]
    Interrupted {
        /// 1-based epoch.
        epoch: usize,
    },
    /// An error of the network crate.
    #[error(transparent)]
    Model(#[from] ftnn_model::ModelError),
    /// An error of the smooth() regularizer.
    #[error(transparent)]
    Continuity(#[from] ftnn_continuity::ContinuityError),
    /// A tensor error from candle.
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;
