//! Typed errors of the continuity crate.

/// Everything that can go wrong when building stencils or evaluating smooth() (SPEC §7).
#[derive(Debug, thiserror::Error)]
pub enum ContinuityError {
    /// The tensor given to smooth() is neither a vector (bias) nor a matrix (weights).
    #[error(
        "smooth() takes a weight matrix [n_out, n_in] or a bias vector [n]; got a tensor of \
         shape {shape:?} (rank {})",
        shape.len()
    )]
    Rank {
        /// Shape of the offending tensor.
        shape: Vec<usize>,
    },
    /// The tensor given to smooth() has no entries.
    #[error("smooth() needs at least one neuron and one input; got shape {shape:?}")]
    Empty {
        /// Shape of the offending tensor.
        shape: Vec<usize>,
    },
    /// The tensor given to smooth() is not floating point.
    #[error("smooth() needs a floating-point tensor (f16, bf16, f32 or f64); got {dtype:?}")]
    DType {
        /// The dtype of the offending tensor.
        dtype: candle_core::DType,
    },
    /// A [`Smoother`](crate::Smoother) built for one number of neurons was given another.
    #[error("this Smoother was built for n_out = {expected} neurons but the tensor has {got}")]
    NeuronCount {
        /// n_out the smoother was built for.
        expected: usize,
        /// Length of axis 0 of the tensor given.
        got: usize,
    },
    /// ψ_d or ψ_s is NaN or infinite.
    #[error("the coefficient {name} = {value} of smooth() is not a finite number")]
    NonFiniteCoefficient {
        /// `"psi_d"` or `"psi_s"`.
        name: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A central-difference accuracy order that is odd or below 2.
    #[error("central first-derivative stencils need an even accuracy order ≥ 2; got {accuracy}")]
    InvalidAccuracy {
        /// The accuracy order asked for.
        accuracy: usize,
    },
    /// The exact (i128 rational) Vandermonde solve overflowed: the accuracy order is too high.
    #[error(
        "the exact Vandermonde solve for accuracy order {accuracy} overflows 128-bit rationals; \
         use a lower order"
    )]
    StencilOverflow {
        /// The accuracy order asked for.
        accuracy: usize,
    },
    /// An error of the tensor library.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Result alias of the continuity crate.
pub type Result<T> = std::result::Result<T, ContinuityError>;
