//! Where results live: `results/<id>/results.json`, `results/<id>/*.csv`, and per-step
//! checkpoints under `results/<id>/steps/<profile>-<params hash>/`. Every file is written
//! atomically (temporary file + rename).

use anyhow::Context as _;
use serde::{de::DeserializeOwned, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The results directory of one experiment.
#[derive(Debug, Clone)]
pub struct ExperimentDir {
    dir: PathBuf,
}

impl ExperimentDir {
    /// `root/<id>`, created if needed.
    pub fn new(root: &Path, id: &str) -> anyhow::Result<Self> {
        let dir = root.join(id);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create results directory {}", dir.display()))?;
        Ok(Self { dir })
    }
    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }
    /// A file in it.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    /// The checkpoint directory of one (profile, parameters) combination.
    pub fn steps_dir(&self, key: &str) -> anyhow::Result<PathBuf> {
        let d = self.dir.join("steps").join(key);
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        Ok(d)
    }
}

/// Writes `value` as pretty JSON to `path`, atomically.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)? + "\n";
    ftnn_model::io::write_atomic(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Reads JSON from `path`, `None` if the file does not exist or does not parse (a partial
/// write cannot happen, but a file from an older format can).
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes CSV text atomically.
pub fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let mut text = header.join(",") + "\n";
    for r in rows {
        text += &r.join(",");
        text.push('\n');
    }
    ftnn_model::io::write_atomic(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Hex SHA-256 of the canonical JSON of `value` (the identity of a set of parameters).
pub fn hash_json(value: &serde_json::Value) -> String {
    let digest = Sha256::digest(value.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
