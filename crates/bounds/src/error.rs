//! Typed errors of the bounds crate.

/// Why a bound could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum BoundsError {
    /// The bound is not defined for this failure vector or network.
    #[error("{bound} is not defined here: {reason}")]
    NotApplicable {
        /// Name of the bound.
        bound: &'static str,
        /// Why.
        reason: String,
    },
    /// Two inputs of a comparison disagree in length or are too short.
    #[error("invalid comparison data: {0}")]
    Comparison(String),
    /// An error of the network or its inputs, including a shape mismatch
    /// ([`ModelError::Shape`](ftnn_model::ModelError::Shape)) or a non-finite value — a
    /// target or a bound that overflowed ([`ModelError::NonFinite`](ftnn_model::ModelError::NonFinite)).
    #[error(transparent)]
    Model(#[from] ftnn_model::ModelError),
}

/// Result alias of the bounds crate.
pub type Result<T> = std::result::Result<T, BoundsError>;
