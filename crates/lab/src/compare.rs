//! New results against the published snapshot: [`compare`] walks two results files number by
//! number and says whether they are identical, or how far each changed number moved — in
//! units of its standard error where the results carry one, else relatively.
//!
//! The numbers compared are every leaf of `results` except timings (keys containing `seconds`,
//! and the `estimate`, `timing`, `threads` and `step_times` entries), which differ from run to
//! run by nature. A number's standard error is a sibling entry in the same JSON object:
//! `<key>_stderr` or `<key>_se`, `<…>stderr`/`<…>se` for a `<…>mean` (`exp_mean` →
//! `exp_stderr`, `mc_mean` → `mc_se`, `mean` → `stderr`), or `stderr` for `experiment`; the
//! deviation is `(new − old) / √(se_old² + se_new²)`.

use crate::profile::Profile;
use crate::provenance::short;
use crate::results_file::ResultsFile;
use serde_json::Value;
use std::fmt::Write as _;

/// How far one number moved.
#[derive(Debug, Clone, PartialEq)]
pub struct Deviation {
    /// Where it is in `results` (`a.fits[2].slope`).
    pub path: String,
    /// The snapshot's value (NaN when it is not a number or absent there).
    pub old: f64,
    /// The new value (NaN when it is not a number or absent there).
    pub new: f64,
    /// `(new − old)` in units of the combined standard error, where one is stored.
    pub sigmas: Option<f64>,
    /// `|new − old| / max(|old|, |new|)` (infinite for a change of kind or structure).
    pub relative: f64,
}

impl Deviation {
    /// How large the deviation is, for ranking: |σ| where known, else the relative change.
    fn size(&self) -> f64 {
        self.sigmas.map_or(self.relative, f64::abs)
    }
}

/// The verdict of [`compare`].
#[derive(Debug, Clone, PartialEq)]
pub enum Comparison {
    /// Every number equals the snapshot's bit for bit.
    Identical {
        /// How many numbers were compared.
        numbers: usize,
    },
    /// Some numbers differ.
    Differs {
        /// How many numbers were compared.
        numbers: usize,
        /// The changed ones, largest deviation first.
        changed: Vec<Deviation>,
    },
    /// Not comparable (another profile or other parameters); why.
    NotComparable(String),
}

/// Compares new results with the snapshot's.
pub fn compare(snapshot: &ResultsFile, new: &ResultsFile) -> Comparison {
    if snapshot.profile != new.profile {
        return Comparison::NotComparable(format!(
            "the snapshot holds profile {}, these are {}",
            snapshot.profile, new.profile
        ));
    }
    if snapshot.params_hash != new.params_hash {
        return Comparison::NotComparable("the snapshot was computed with other parameters".into());
    }
    let mut walk = Walk::default();
    walk.value("", &snapshot.results, &new.results, None, None);
    walk.changed.sort_by(|a, b| b.size().total_cmp(&a.size()));
    if walk.changed.is_empty() {
        Comparison::Identical {
            numbers: walk.numbers,
        }
    } else {
        Comparison::Differs {
            numbers: walk.numbers,
            changed: walk.changed,
        }
    }
}

/// Keys whose values are timings or machine descriptions, not results.
fn is_timing(key: &str) -> bool {
    key.contains("seconds") || matches!(key, "estimate" | "timing" | "threads" | "step_times")
}

/// The objects (snapshot, new) that hold a leaf, where its standard error may be.
type Siblings<'a> = (
    &'a serde_json::Map<String, Value>,
    &'a serde_json::Map<String, Value>,
);

#[derive(Default)]
struct Walk {
    numbers: usize,
    changed: Vec<Deviation>,
}

impl Walk {
    /// Compares `old` and `new` at `path`; `parents` are the enclosing objects (for the
    /// standard errors of a leaf), `key` its key there.
    fn value(
        &mut self,
        path: &str,
        old: &Value,
        new: &Value,
        parents: Option<Siblings<'_>>,
        key: Option<&str>,
    ) {
        match (old, new) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, va) in a {
                    if is_timing(k) {
                        continue;
                    }
                    let p = join(path, k);
                    match b.get(k) {
                        Some(vb) => self.value(&p, va, vb, Some((a, b)), Some(k)),
                        None => self.structural(&p),
                    }
                }
                for k in b.keys().filter(|k| !a.contains_key(*k) && !is_timing(k)) {
                    self.structural(&join(path, k));
                }
            }
            (Value::Array(a), Value::Array(b)) => {
                if a.len() != b.len() {
                    self.structural(&format!("{path} (length {} → {})", a.len(), b.len()));
                }
                for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                    self.value(&format!("{path}[{i}]"), va, vb, None, None);
                }
            }
            (Value::Number(_), Value::Number(_)) => {
                self.numbers += 1;
                let (x, y) = (number(old), number(new));
                if x.to_bits() == y.to_bits() {
                    return;
                }
                let relative = (y - x).abs() / x.abs().max(y.abs());
                let sigmas = parents.zip(key).and_then(|((pa, pb), k)| {
                    let se = |m: &serde_json::Map<String, Value>| {
                        stderr_keys(k)
                            .iter()
                            .find_map(|s| m.get(s).filter(|v| v.is_number()).map(number))
                    };
                    let (sa, sb) = (se(pa)?, se(pb)?);
                    let combined = (sa * sa + sb * sb).sqrt();
                    (combined > 0.0 && combined.is_finite()).then(|| (y - x) / combined)
                });
                self.changed.push(Deviation {
                    path: path.to_string(),
                    old: x,
                    new: y,
                    sigmas,
                    relative,
                });
            }
            _ => {
                // Strings ("NaN", labels), booleans, null, or a change of kind.
                if old.is_number() || new.is_number() {
                    self.numbers += 1;
                }
                if old != new {
                    self.changed.push(Deviation {
                        path: path.to_string(),
                        old: number(old),
                        new: number(new),
                        sigmas: None,
                        relative: f64::INFINITY,
                    });
                }
            }
        }
    }

    fn structural(&mut self, path: &str) {
        self.changed.push(Deviation {
            path: path.to_string(),
            old: f64::NAN,
            new: f64::NAN,
            sigmas: None,
            relative: f64::INFINITY,
        });
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A JSON value as f64 (NaN when not a number).
fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// The sibling keys that may hold the standard error of `key`.
fn stderr_keys(key: &str) -> Vec<String> {
    let mut keys = vec![format!("{key}_stderr"), format!("{key}_se")];
    if let Some(stem) = key.strip_suffix("mean") {
        keys.push(format!("{stem}stderr"));
        keys.push(format!("{stem}se"));
    }
    if key == "experiment" {
        keys.push("stderr".into());
    }
    keys
}

/// One line (or a few) for `id`: the comparison of new results with the snapshot's, with
/// up to `shown` of the largest deviations and the revisions of both.
pub fn describe(
    comparison: &Comparison,
    snapshot: &ResultsFile,
    new: &ResultsFile,
    shown: usize,
) -> String {
    let same_code = snapshot.revision.is_some() && snapshot.revision == new.revision;
    let revisions = if same_code {
        format!("same revision {}", short(new.revision.as_deref()))
    } else {
        let by = |r: &Option<String>| match r {
            Some(r) => format!("by revision {}", short(Some(r))),
            None => "without a recorded revision".to_string(),
        };
        format!(
            "snapshot {}, these {}",
            by(&snapshot.revision),
            by(&new.revision)
        )
    };
    match comparison {
        Comparison::Identical { numbers } => {
            format!("identical to the snapshot: all {numbers} numbers bit for bit ({revisions})")
        }
        Comparison::NotComparable(why) => format!("not compared with the snapshot: {why}"),
        Comparison::Differs { numbers, changed } => {
            let mut s = format!(
                "differs from the snapshot: {} of {numbers} numbers changed ({revisions}{})",
                changed.len(),
                if same_code {
                    "; a seeded run of the same code should be identical"
                } else {
                    ""
                }
            );
            let with_se: Vec<f64> = changed.iter().filter_map(|d| d.sigmas).collect();
            let max_z = with_se.iter().fold(0.0f64, |m, z| m.max(z.abs()));
            let max_rel = changed
                .iter()
                .filter(|d| d.sigmas.is_none())
                .fold(0.0f64, |m, d| m.max(d.relative));
            let mut largest = Vec::new();
            if !with_se.is_empty() {
                largest.push(format!(
                    "largest deviation {} over the {} changed numbers with a standard error",
                    sigmas(max_z),
                    with_se.len()
                ));
            }
            let others = changed.len() - with_se.len();
            if others > 0 {
                largest.push(format!(
                    "largest relative change {} over the {others} without one",
                    relative(max_rel)
                ));
            }
            let _ = write!(s, "\n    {}", largest.join("; "));
            for d in changed.iter().take(shown) {
                let by = match d.sigmas {
                    Some(z) => sigmas(z),
                    None if d.relative.is_finite() => format!("{} relative", relative(d.relative)),
                    None => "changed kind or structure".into(),
                };
                let _ = write!(
                    s,
                    "\n    {}: {} → {} ({by})",
                    d.path,
                    num(d.old),
                    num(d.new)
                );
            }
            if changed.len() > shown {
                let _ = write!(s, "\n    … and {} more", changed.len() - shown);
            }
            s
        }
    }
}

/// `+1.23 σ`, or `+1.2e-5 σ` for tiny deviations.
fn sigmas(z: f64) -> String {
    if z == 0.0 || z.abs() >= 0.01 {
        format!("{z:+.2} σ")
    } else {
        format!("{z:+.1e} σ")
    }
}

/// A relative change: `2.3e-6`, `0.12`.
fn relative(r: f64) -> String {
    if r.is_infinite() {
        "∞".into()
    } else if r == 0.0 || r >= 0.01 {
        format!("{r:.2}")
    } else {
        format!("{r:.1e}")
    }
}

/// A number in full precision, in scientific notation when very small or large.
fn num(x: f64) -> String {
    if x != 0.0 && x.is_finite() && !(1e-3..1e6).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// The expected seconds of an experiment under `profile` from its snapshot results: their
/// recorded duration when they are of that profile.
pub fn expected_seconds(snapshot: Option<&ResultsFile>, profile: Profile) -> Option<f64> {
    snapshot
        .filter(|r| r.profile == profile && r.seconds.is_finite() && r.seconds >= 0.0)
        .map(|r| r.seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_siblings() {
        assert!(stderr_keys("slope").contains(&"slope_stderr".to_string()));
        assert!(stderr_keys("exp_mean").contains(&"exp_stderr".to_string()));
        assert!(stderr_keys("mc_mean").contains(&"mc_se".to_string()));
        assert!(stderr_keys("mean").contains(&"stderr".to_string()));
        assert!(stderr_keys("experiment").contains(&"stderr".to_string()));
        assert!(is_timing("train_seconds") && is_timing("estimate") && !is_timing("slope"));
    }
}
