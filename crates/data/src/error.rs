//! Typed errors of the data crate.
//!
//! Every variant names the file it is about and, where the user can do something about it,
//! says what to do (restore the file from the repository, run `cargo xtask data verify`,
//! import the VGG16 weights, …). Nothing in this crate panics on bad input: each problem
//! surfaces as one of these variants.

use std::fmt;
use std::path::PathBuf;

/// What to do about a damaged or missing file that ships with the repository.
pub(crate) const RESTORE_HINT: &str =
    "restore the shipped data with `git checkout -- data/` (a fresh clone holds every data file), \
     then run `cargo xtask data verify`";

/// An error raised while locating, verifying or parsing a data or weights file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// No data folder could be found.
    #[error(
        "cannot find the ftnn data folder (looked for {tried}); set FTNN_DATA to the folder that \
         holds SHA256SUMS, or run from inside the ftnn checkout"
    )]
    DataDirNotFound {
        /// The places that were tried, in order.
        tried: String,
    },

    /// A file that should exist does not.
    #[error("missing file `{}`: {hint}", path.display())]
    Missing {
        /// The file that was looked for.
        path: PathBuf,
        /// What to do about it.
        hint: String,
    },

    /// A file is not listed in the checksum manifest, so it cannot be verified.
    #[error(
        "file `{}` is not listed in `{}`; only files with a recorded sha256 are loaded from the \
         data folder (add a line `<sha256>  ./{name}` if the file is meant to be there)",
        path.display(), manifest.display()
    )]
    Unlisted {
        /// The file that was requested.
        path: PathBuf,
        /// Its name relative to the data folder.
        name: String,
        /// The manifest (`SHA256SUMS`) that lacks it.
        manifest: PathBuf,
    },

    /// A file's sha256 differs from the one recorded in `SHA256SUMS`.
    #[error(
        "checksum mismatch for `{}`: sha256 is {actual} but SHA256SUMS records {expected}; the \
         file is corrupt or was replaced — {RESTORE_HINT}",
        path.display()
    )]
    ChecksumMismatch {
        /// The file whose checksum is wrong.
        path: PathBuf,
        /// The sha256 recorded in the manifest (lower-case hex).
        expected: String,
        /// The sha256 of the file on disk (lower-case hex).
        actual: String,
    },

    /// A file has the right checksum (or none) but its content is not what the format
    /// requires: bad magic number, truncated data, gzip error, dimension mismatch, …
    #[error("corrupt file `{}`: {reason} — {RESTORE_HINT}", path.display())]
    Corrupt {
        /// The file that could not be parsed.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A CSV file has a malformed line.
    #[error("bad CSV file `{}`, line {line}: {reason} — {RESTORE_HINT}", path.display())]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },

    /// A weights file lacks a tensor that was asked for.
    #[error("weights file `{}` has no tensor `{name}` (expected shape {expected:?})", path.display())]
    MissingTensor {
        /// The weights file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// The shape that was expected.
        expected: Vec<usize>,
    },

    /// A tensor of a weights file has an unexpected shape.
    #[error(
        "weights file `{}`: tensor `{name}` has shape {actual:?}, expected {expected:?}",
        path.display()
    )]
    WrongShape {
        /// The weights file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// The shape that was expected.
        expected: Vec<usize>,
        /// The shape found in the file.
        actual: Vec<usize>,
    },

    /// A weights file does not match the expected architecture; every problem is listed.
    #[error(
        "weights file `{}` does not match {architecture}: {} problem(s):\n{}",
        path.display(), problems.len(), ProblemList(problems)
    )]
    WeightsMismatch {
        /// The weights file.
        path: PathBuf,
        /// The architecture it was checked against (e.g. `VGG16 (torchvision naming)`).
        architecture: String,
        /// Every missing or mis-shaped tensor.
        problems: Vec<WeightProblem>,
    },

    /// An I/O error other than "file not found".
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A weights file (PyTorch zip/pickle or safetensors) cannot be parsed.
    #[error(
        "cannot read weights file `{}`: {reason} (is it a complete safetensors / PyTorch zip \
         state-dict file?)",
        path.display()
    )]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// A tensor operation failed (building a tensor from loaded data).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl DataError {
    /// Builds [`DataError::Corrupt`].
    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        DataError::Corrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// Maps an I/O error on `path` to [`DataError::Missing`] (not found) or [`DataError::Io`].
    pub(crate) fn from_io(path: impl Into<PathBuf>, err: std::io::Error, hint: &str) -> Self {
        let path = path.into();
        if err.kind() == std::io::ErrorKind::NotFound {
            DataError::Missing {
                path,
                hint: hint.to_owned(),
            }
        } else {
            DataError::Io { path, source: err }
        }
    }

    /// The file this error is about, when there is one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            DataError::DataDirNotFound { .. } | DataError::Candle(_) => None,
            DataError::Missing { path, .. }
            | DataError::Unlisted { path, .. }
            | DataError::ChecksumMismatch { path, .. }
            | DataError::Corrupt { path, .. }
            | DataError::Csv { path, .. }
            | DataError::MissingTensor { path, .. }
            | DataError::WrongShape { path, .. }
            | DataError::WeightsMismatch { path, .. }
            | DataError::Io { path, .. }
            | DataError::Weights { path, .. } => Some(path),
        }
    }
}

/// One way in which a weights file differs from the expected architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightProblem {
    /// An expected tensor is absent.
    Missing {
        /// The tensor name.
        name: String,
        /// The expected shape.
        expected: Vec<usize>,
    },
    /// A tensor is present with the wrong shape.
    WrongShape {
        /// The tensor name.
        name: String,
        /// The expected shape.
        expected: Vec<usize>,
        /// The shape in the file.
        actual: Vec<usize>,
    },
    /// A tensor is present but not a floating-point tensor.
    WrongDtype {
        /// The tensor name.
        name: String,
        /// The dtype in the file.
        actual: String,
    },
}

impl fmt::Display for WeightProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightProblem::Missing { name, expected } => {
                write!(f, "missing tensor `{name}` (expected shape {expected:?})")
            }
            WeightProblem::WrongShape {
                name,
                expected,
                actual,
            } => write!(
                f,
                "tensor `{name}` has shape {actual:?}, expected {expected:?}"
            ),
            WeightProblem::WrongDtype { name, actual } => {
                write!(
                    f,
                    "tensor `{name}` has dtype {actual}, expected a float type"
                )
            }
        }
    }
}

/// Formats a list of problems one per line.
struct ProblemList<'a>(&'a [WeightProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  - {p}")?;
        }
        Ok(())
    }
}
