//! Where results live: `results/<id>/results.json`, `results/<id>/*.csv`, and per-step
//! checkpoints under `results/<id>/steps/<profile>-<params hash>/`. Every file is written
//! atomically (temporary file + fsync + rename); JSON goes through [`crate::nonfinite`], so NaN
//! and ±inf survive a round trip, and floats are read back to the same bits (serde_json's
//! `float_roundtrip`), so a resumed run equals an uninterrupted one bit for bit.
//!
//! **Test-only hook** ([`pause_point`]): with `FTNN_TEST_PAUSE_AT=write:<file name>` a write of
//! that file stops halfway through its temporary file, creates the file named by
//! `FTNN_TEST_PAUSED_FLAG` and sleeps until the process is killed — the kill-and-resume tests
//! (`crates/experiments/tests/kill_resume.rs`) kill it there. Never set it otherwise.

use crate::error::{LabError, Result};
use crate::nonfinite;
use serde::{de::DeserializeOwned, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The results directory of one experiment.
#[derive(Debug, Clone)]
pub struct ExperimentDir {
    dir: PathBuf,
}

impl ExperimentDir {
    /// `root/<id>`, created if needed.
    pub fn new(root: &Path, id: &str) -> Result<Self> {
        let dir = root.join(id);
        create_dir_all(&dir)?;
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
    pub fn steps_dir(&self, key: &str) -> Result<PathBuf> {
        let d = self.dir.join("steps").join(key);
        create_dir_all(&d)?;
        Ok(d)
    }
}

/// `std::fs::create_dir_all` with the path in the error.
pub fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| LabError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to `path` through a temporary file in the same directory, synced and renamed
/// into place, so that a reader never sees a partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io_err = |source| LabError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io_err(std::io::Error::other("not a file path")))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        let (head, tail) = bytes.split_at(bytes.len() / 2);
        f.write_all(head)?;
        pause_point(|| format!("write:{}", name.to_string_lossy()));
        f.write_all(tail)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(e));
    }
    Ok(())
}

/// Test-only: when `FTNN_TEST_PAUSE_AT` equals `point()`, creates the file named by
/// `FTNN_TEST_PAUSED_FLAG` (if set) and sleeps until the process is killed. Points:
/// `write:<file name>` (halfway through writing the temporary file of that name) and
/// `figures:<experiment id>` (results computed and tables written, before the figures and
/// `results.json`). Costs one environment lookup when unset.
pub fn pause_point(point: impl FnOnce() -> String) {
    let Some(at) = std::env::var_os("FTNN_TEST_PAUSE_AT") else {
        return;
    };
    if at.to_string_lossy() != point() {
        return;
    }
    if let Some(flag) = std::env::var_os("FTNN_TEST_PAUSED_FLAG") {
        let _ = std::fs::write(flag, b"paused");
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// Writes `value` as pretty JSON to `path`, atomically (non-finite floats as strings).
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let json_err = |source| LabError::Json {
        what: format!("serialising {}", path.display()),
        source,
    };
    let value = nonfinite::to_value(value).map_err(json_err)?;
    let text = serde_json::to_string_pretty(&value).map_err(json_err)? + "\n";
    write_atomic(path, text.as_bytes())
}

/// Writes `value` like [`write_json`] and returns it as read back from the written text: a
/// run that computed a checkpoint continues with the very value a resumed run reads, so that
/// nothing lossy in a round trip (a NaN's sign or payload, a type's own serialisation) can make
/// the two runs differ.
pub fn write_json_read_back<T: Serialize + DeserializeOwned>(path: &Path, value: &T) -> Result<T> {
    let json_err = |source| LabError::Json {
        what: format!("serialising {}", path.display()),
        source,
    };
    let value = nonfinite::to_value(value).map_err(json_err)?;
    let text = serde_json::to_string_pretty(&value).map_err(json_err)? + "\n";
    write_atomic(path, text.as_bytes())?;
    serde_json::from_str(&text)
        .and_then(nonfinite::from_value)
        .map_err(|source| LabError::Json {
            what: format!("reading back {}", path.display()),
            source,
        })
}

/// Reads JSON from `path`, `None` if the file does not exist or does not parse (a partial
/// write cannot happen, but a file from an older format can).
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let text = std::fs::read_to_string(path).ok()?;
    nonfinite::from_value(serde_json::from_str(&text).ok()?).ok()
}

/// Writes CSV text atomically.
pub fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let mut text = header.join(",") + "\n";
    for r in rows {
        text += &r.join(",");
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

/// Hex SHA-256 of the canonical JSON of `value` (the identity of a set of parameters).
pub fn hash_json(value: &serde_json::Value) -> String {
    let digest = Sha256::digest(value.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_non_finite_floats() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        write_json(&p, &vec![1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains("\"NaN\"") && text.contains("\"-inf\""),
            "{text}"
        );
        let back: Vec<f64> = read_json(&p).unwrap();
        assert_eq!(back[0], 1.0);
        assert!(back[1].is_nan());
        assert_eq!(back[2..], [f64::INFINITY, f64::NEG_INFINITY]);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
