//! Typed errors of the decay crate.

/// Why a decay metric could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum DecayError {
    /// The metrics differentiate with respect to the first hidden layer, which a network
    /// without hidden layer does not have.
    #[error(
        "the network has no hidden layer (sizes {sizes:?}): the decay metrics are taken at \
         the first hidden layer"
    )]
    NoHiddenLayer {
        /// Sizes of the network.
        sizes: Vec<usize>,
    },
    /// A count (samples, repetitions) is outside its allowed range.
    #[error("{what} = {got} is invalid: {reason}")]
    Count {
        /// Which count.
        what: &'static str,
        /// The value given.
        got: usize,
        /// What is allowed.
        reason: String,
    },
    /// An error of the network, its inputs or the Monte Carlo engine, including an argument
    /// that disagrees with the network on a size
    /// ([`ModelError::Shape`](ftnn_model::ModelError::Shape)) and a value that must be finite
    /// but is not — an input, a target, or a result that overflowed
    /// ([`ModelError::NonFinite`](ftnn_model::ModelError::NonFinite)).
    #[error(transparent)]
    Model(#[from] ftnn_model::ModelError),
    /// An error from candle (GEMM).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Result alias of the decay crate.
pub type Result<T> = std::result::Result<T, DecayError>;
