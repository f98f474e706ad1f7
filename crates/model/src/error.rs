//! Typed errors of the model crate.

use std::path::PathBuf;

/// Everything that can go wrong when building, loading or running a crash-injecting network.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A failure probability is NaN, infinite or outside [0, 1].
    #[error("failure probability p[{layer}] = {value} is not a number in [0, 1]")]
    InvalidProbability {
        /// Layer of neurons (0 = input).
        layer: usize,
        /// The offending value.
        value: f64,
    },
    /// A failure probability that is not a number at all.
    #[error("failure probability p[{layer}] = `{text}` is not a number")]
    UnparsableProbability {
        /// Layer of neurons (0 = input).
        layer: usize,
        /// The text given.
        text: String,
    },
    /// The failure vector does not have one entry per layer of neurons.
    #[error(
        "the failure vector has {got} entries but the network has {expected} layers of neurons \
         (input, hidden…, output): give one probability per layer"
    )]
    FailureLength {
        /// Number of layers of neurons of the network.
        expected: usize,
        /// Number of entries given.
        got: usize,
    },
    /// Two tensors or a tensor and the network disagree on a shape.
    #[error("shape mismatch for {what}: expected {expected}, got {got}")]
    Shape {
        /// What was being checked.
        what: String,
        /// Expected shape, human readable.
        expected: String,
        /// Actual shape, human readable.
        got: String,
    },
    /// A value that must be finite is NaN or infinite.
    #[error("{what} contains a non-finite value ({value}) at index {index}")]
    NonFinite {
        /// What was being checked.
        what: String,
        /// Flat index of the first offending value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A loss name that ftnn does not know.
    #[error("unknown loss `{0}` (mse, mae or cross-entropy)")]
    UnknownLoss(String),
    /// An activation name that ftnn does not know.
    #[error("unknown activation `{0}` (expected one of: sigmoid, relu, tanh, softplus)")]
    UnknownActivation(String),
    /// The Lipschitz constant is not a positive finite number.
    #[error("k_lips = {0} must be a positive finite number")]
    InvalidKLips(f64),
    /// A network needs at least one layer of weights and non-zero widths.
    #[error("invalid architecture: {0}")]
    Architecture(String),
    /// A tensor the model file must contain is absent.
    #[error("{path}: tensor `{name}` is missing ({hint})")]
    MissingTensor {
        /// File being read.
        path: PathBuf,
        /// Name of the missing tensor.
        name: String,
        /// What the file should contain.
        hint: String,
    },
    /// The model file could not be parsed or has wrong content.
    #[error("{path}: {reason}")]
    ModelFile {
        /// File being read.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An I/O error on a named file.
    #[error("{}", path.display())]
    Io {
        /// File being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A Monte Carlo run was asked for zero repetitions.
    #[error("the number of repetitions must be at least 1")]
    ZeroRepetitions,
    /// There is no input to evaluate.
    #[error("no inputs given: at least one input row is needed")]
    NoInputs,
    /// Exact enumeration would need too many crash patterns.
    #[error(
        "exact enumeration needs 2^{crashable} crash patterns ({crashable} neurons with 0 < p < 1); \
         the limit is {max} neurons"
    )]
    TooManyCrashable {
        /// Number of neurons that may or may not crash.
        crashable: usize,
        /// The configured limit.
        max: usize,
    },
    /// The run was cancelled by its progress callback.
    #[error("cancelled")]
    Cancelled,
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// The architecture JSON of a Sequential network (SPEC §11) is not valid JSON or lacks
    /// `input_shape` / `layers`.
    #[error("architecture JSON: {0}")]
    ArchitectureJson(String),
    /// A layer of a Sequential architecture names an op ftnn does not know.
    #[error(
        "layer {layer}: unknown op `{op}` (expected one of: {})",
        crate::seq::OPS.join(", ")
    )]
    UnknownOp {
        /// Index of the layer in the architecture's layer list.
        layer: usize,
        /// The op given.
        op: String,
    },
    /// A layer of a Sequential architecture has a missing, unknown or invalid field.
    #[error("layer {layer} ({op}): {reason}")]
    InvalidLayer {
        /// Index of the layer in the architecture's layer list.
        layer: usize,
        /// The layer's op (`?` when it has none).
        op: String,
        /// What is wrong.
        reason: String,
    },
    /// The shape a layer receives does not fit the layer (shapes do not chain).
    #[error("layer {layer} ({op}): expects an input of shape {expected} per example, got {got:?}")]
    LayerShape {
        /// Index of the layer in the architecture's layer list.
        layer: usize,
        /// The layer's op.
        op: String,
        /// The input shape the layer accepts, human readable.
        expected: String,
        /// The shape it receives (per example, without the batch axis).
        got: Vec<usize>,
    },
    /// A parameter tensor of a model file has the wrong shape.
    #[error("{path}: tensor `{name}` has shape {got:?}, expected {expected:?}")]
    WrongTensorShape {
        /// File being read.
        path: PathBuf,
        /// Name of the tensor in the file.
        name: String,
        /// The shape the architecture requires.
        expected: Vec<usize>,
        /// The shape found.
        got: Vec<usize>,
    },
    /// The failure vector of a Sequential network does not have one entry per crash site.
    #[error(
        "the failure vector has {got} entries but the network has {expected} crash sites \
         (input, every activation's output, output): give one probability per site"
    )]
    SiteCount {
        /// Number of crash sites of the network.
        expected: usize,
        /// Number of entries given.
        got: usize,
    },
    /// A crash-site index beyond the network's sites.
    #[error("crash site {site} does not exist: the network has {n_sites} sites (0..{n_sites})")]
    InvalidSite {
        /// The index given.
        site: usize,
        /// Number of crash sites of the network.
        n_sites: usize,
    },
    /// An error found in a named file (e.g. a bad architecture in a model file's metadata).
    #[error("{}: {error}", path.display())]
    InFile {
        /// File being read.
        path: PathBuf,
        /// The error (not exposed as `source()`: the message already includes it).
        error: Box<ModelError>,
    },
}

impl ModelError {
    /// True when the error is caused by the caller's input (bad file, bad value, bad shape)
    /// rather than by a failure of the machine; command-line front ends exit with code 2 then.
    pub fn is_input_error(&self) -> bool {
        match self {
            ModelError::InFile { error, .. } => error.is_input_error(),
            _ => !matches!(self, ModelError::Candle(_) | ModelError::Cancelled),
        }
    }

    /// The error itself, or for [`ModelError::InFile`] the error it wraps (recursively).
    pub fn inner(&self) -> &ModelError {
        match self {
            ModelError::InFile { error, .. } => error.inner(),
            other => other,
        }
    }
}

/// Result alias of the model crate.
pub type Result<T> = std::result::Result<T, ModelError>;

/// [`ModelError::Shape`] unless `got == expected` values; `shape` names the expected shape
/// (e.g. `"N × n_L"`). The one length check shared by the ftnn crates.
pub fn check_len(what: &str, got: usize, expected: usize, shape: &str) -> Result<()> {
    if got != expected {
        return Err(ModelError::Shape {
            what: what.to_string(),
            expected: format!("{expected} values ({shape})"),
            got: format!("{got} values"),
        });
    }
    Ok(())
}

/// [`ModelError::NonFinite`] on the first NaN or infinity of `values` (f32 or f64), with its
/// flat index. The one finiteness check shared by the ftnn crates.
pub fn check_finite<T: Copy + Into<f64>>(what: &str, values: &[T]) -> Result<()> {
    match values.iter().position(|&v| !v.into().is_finite()) {
        Some(index) => Err(ModelError::NonFinite {
            what: what.to_string(),
            index,
            value: values[index].into(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_report_the_first_offender() {
        assert!(check_len("x", 3, 3, "n").is_ok());
        let e = check_len("x", 2, 3, "n").unwrap_err();
        assert!(matches!(e, ModelError::Shape { .. }));
        assert!(e.to_string().contains("3 values (n)"));
        assert!(check_finite("v", &[1.0f32, 2.0]).is_ok());
        let e = check_finite("v", &[1.0f32, f32::NAN, f32::INFINITY]).unwrap_err();
        assert!(matches!(e, ModelError::NonFinite { index: 1, .. }));
        let e = check_finite("v", &[0.0f64, 1.0, f64::NEG_INFINITY]).unwrap_err();
        assert!(
            matches!(e, ModelError::NonFinite { index: 2, value, .. } if value == f64::NEG_INFINITY)
        );
    }
}
