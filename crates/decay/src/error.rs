//! Typed errors of the decay crate.

/// Why a decay metric could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum DecayError {
    /// An argument disagrees with the network or with another argument on a size.
    #[error("shape mismatch for {what}: expected {expected}, got {got}")]
    Shape {
        /// What was being checked.
        what: String,
        /// Expected size, human readable.
        expected: String,
        /// Actual size, human readable.
        got: String,
    },
    /// A value that must be finite is NaN or infinite (an input, a target, or a result that
    /// overflowed).
    #[error("{what} contains a non-finite value ({value}) at index {index}")]
    NonFinite {
        /// What was being checked.
        what: String,
        /// Flat index of the first offending value.
        index: usize,
        /// The value.
        value: f64,
    },
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
    /// An error of the network, its inputs or the Monte Carlo engine.
    #[error(transparent)]
    Model(#[from] ftnn_model::ModelError),
    /// An error from candle (GEMM).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Result alias of the decay crate.
pub type Result<T> = std::result::Result<T, DecayError>;

/// Errors unless `got == expected`.
pub(crate) fn check_len(what: &str, got: usize, expected: usize, shape: &str) -> Result<()> {
    if got != expected {
        return Err(DecayError::Shape {
            what: what.to_string(),
            expected: format!("{expected} values ({shape})"),
            got: format!("{got} values"),
        });
    }
    Ok(())
}

/// Errors on the first NaN or infinity of `values`.
pub(crate) fn check_finite_f32(what: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(DecayError::NonFinite {
            what: what.to_string(),
            index,
            value: values[index] as f64,
        }),
        None => Ok(()),
    }
}

/// Errors on the first NaN or infinity of `values`.
pub(crate) fn check_finite_f64(what: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(DecayError::NonFinite {
            what: what.to_string(),
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}
