//! Typed errors of the certification crate.

/// Why a certificate could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum CertifyError {
    /// A parameter of the guarantee is outside its domain (ε, δ, a probability, a count).
    #[error("{name} = {value} is invalid: {reason}")]
    InvalidParameter {
        /// The parameter's name as the user wrote it (`epsilon`, `delta`, …).
        name: &'static str,
        /// The value given.
        value: f64,
        /// What it must be.
        reason: &'static str,
    },
    /// The guarantee of SPEC §6 is stated for crashes at exactly one layer of neurons.
    #[error(
        "the certificate needs crashes at exactly one layer of neurons (one p > 0); {}",
        describe_layers(.0)
    )]
    CrashingLayers(Vec<usize>),
    /// Crashes at the input: balancedness is defined over the weights *into* the crashing
    /// layer, and the input layer has none.
    #[error(
        "crashes at the input layer (layer 0): the balancedness q is defined over the weights \
         into the crashing layer, and the input has none; crash a hidden or the output layer"
    )]
    InputLayer,
    /// Exact enumeration was asked for more crashable neurons than allowed.
    #[error(
        "exact tail: {crashable} crashable neurons, more than the {max} that can be enumerated"
    )]
    TooManyCrashable {
        /// Neurons with 0 < p < 1.
        crashable: usize,
        /// The limit.
        max: usize,
    },
    /// b3 on the loss failed (a shape mismatch, a non-finite target or estimate).
    #[error(transparent)]
    Bounds(#[from] ftnn_bounds::BoundsError),
    /// An error of the network, its inputs or targets.
    #[error(transparent)]
    Model(#[from] ftnn_model::ModelError),
}

fn describe_layers(layers: &[usize]) -> String {
    match layers {
        [] => "no layer crashes (every p is 0)".to_string(),
        _ => format!("layers {layers:?} crash"),
    }
}

impl CertifyError {
    /// Whether the error is caused by the caller's input (bad parameters, shapes or values)
    /// rather than an internal failure.
    pub fn is_input_error(&self) -> bool {
        match self {
            CertifyError::Bounds(ftnn_bounds::BoundsError::Model(e)) | CertifyError::Model(e) => {
                e.is_input_error()
            }
            _ => true,
        }
    }
}

/// Result alias of the certification crate.
pub type Result<T> = std::result::Result<T, CertifyError>;
