//! The errors of the store.

use std::path::PathBuf;

/// What can go wrong reading or writing stored files.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A file or directory could not be created, written or renamed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A value could not be converted to or from JSON.
    #[error("{what}: {source}")]
    Json {
        /// What was converted.
        what: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// Stored results that exist but cannot be read: each entry names the file and why.
    #[error(
        "stored results cannot be read (rerun the experiment or delete the file): {}",
        .0.join("; ")
    )]
    Unreadable(Vec<String>),
}

/// The result type of the store.
pub type Result<T, E = LabError> = std::result::Result<T, E>;
