//! The stored form of `results/<id>/results.json` ([`ResultsFile`]), with parameters and
//! results as JSON, and the provenance of the results (ftnn version, source revision).

use crate::error::LabError;
use crate::nonfinite;
use crate::profile::Profile;
use crate::store::read_json;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The stored form of `results/<id>/results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultsFile {
    /// Experiment id.
    pub id: String,
    /// Description.
    pub title: String,
    /// Original notebook.
    pub origin: String,
    /// Profile of the run.
    pub profile: Profile,
    /// Parameters of the run.
    pub params: serde_json::Value,
    /// Hash of id, profile and parameters.
    pub params_hash: String,
    /// ftnn version that produced it (empty in files that lack it).
    #[serde(default)]
    pub ftnn_version: String,
    /// Source revision of the tree that computed it ([`crate::provenance`]): a commit,
    /// `<commit>-dirty-<hash>`, or `unknown` without git; `None` in files of older versions
    /// (unknown provenance, always stale).
    #[serde(default)]
    pub revision: Option<String>,
    /// Wall-clock seconds of the last run.
    pub seconds: f64,
    /// Conclusion.
    pub conclusion: String,
    /// When the run finished (`YYYY-MM-DD HH:MM UTC`; absent in files of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// The results.
    pub results: serde_json::Value,
}

impl ResultsFile {
    /// Reads `path`; `None` if it does not exist or does not parse.
    pub fn load(path: &Path) -> Option<Self> {
        read_json(path)
    }
    /// Reads `path`: `Ok(None)` if it does not exist, an error naming the file if it cannot be
    /// read or does not hold a results file (malformed JSON, a missing or mistyped field).
    pub fn read(path: &Path) -> Result<Option<Self>, LabError> {
        let unreadable =
            |why: String| LabError::Unreadable(vec![format!("{}: {why}", path.display())]);
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unreadable(e.to_string())),
        };
        let value =
            serde_json::from_str(&text).map_err(|e| unreadable(format!("not JSON: {e}")))?;
        nonfinite::from_value(value)
            .map(Some)
            .map_err(|e| unreadable(format!("not a results file: {e}")))
    }
    /// Whether the code that computed these results is that of the working tree
    /// ([`crate::provenance::freshness`]).
    pub fn freshness(&self) -> crate::provenance::Freshness {
        crate::provenance::freshness(self.revision.as_deref())
    }
    /// When the run finished: the stored time, else the file's modification time.
    pub fn finished_or_mtime(&self, path: &Path) -> Option<String> {
        self.finished.clone().or_else(|| {
            let t = std::fs::metadata(path).ok()?.modified().ok()?;
            Some(utc_string(t))
        })
    }
}

/// `YYYY-MM-DD HH:MM UTC` of a system time.
pub fn utc_string(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_names_a_malformed_file_and_skips_a_missing_one() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("results.json");
        assert!(ResultsFile::read(&path).unwrap().is_none());
        for text in ["", "{", "[]", "{\"id\": 3}", "{\"id\": \"x\"}"] {
            std::fs::write(&path, text).unwrap();
            let err = ResultsFile::read(&path).unwrap_err().to_string();
            assert!(err.contains(&path.display().to_string()), "{err}");
        }
    }
}
