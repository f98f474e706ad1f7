//! Which code computed stored results, and whether that code has changed since.
//!
//! Every `results.json` records the ftnn version and the *source revision* of the tree that
//! computed it ([`current_revision`]), found at run time with `git` in the workspace:
//!
//! * `<commit>` — a clean tree at that commit (40 hex digits);
//! * `<commit>-dirty-<hash>` — uncommitted changes on top of it: `<hash>` is 12 hex digits of
//!   the SHA-256 of `git diff HEAD --binary` plus every untracked file (names and bytes),
//!   restricted to the [`SOURCE_PATHS`], so two runs of the same uncommitted code agree;
//! * `unknown` — no `.git` in the workspace (a tarball) or no `git` program.
//!
//! Only the [`SOURCE_PATHS`] count (`crates/` less each crate's `tests/`, `benches/` and
//! `examples/`, `data/`, `Cargo.lock`): editing the README, the report, `xtask/` or a test
//! does not change the revision of a clean tree's results.
//!
//! ## When results are stale
//!
//! [`freshness`] compares a stored revision with the working tree. Stored results are
//! **current** when
//!
//! * their revision equals the current one (the same commit and, if dirty, the same changes), or
//! * they were computed from a clean commit `C` and the working tree's source paths equal `C`'s:
//!   `git diff --quiet C -- <SOURCE_PATHS>` succeeds and no untracked files lie there,
//!   or
//! * neither has a revision (`unknown` both: a tarball computing its own results).
//!
//! Otherwise they are **stale**, with the reason: no revision recorded (results of ftnn before
//! provenance — unknown provenance), computed without git, computed from uncommitted changes
//! that differ from the working tree's, the sources changed since commit `C`, or `C` is not in
//! this repository (a shallow clone).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The paths whose contents decide the revision and staleness of results: git pathspecs,
/// the crates without their integration tests, benchmarks and examples (code that computes
/// no stored result), the data and the lock file.
pub const SOURCE_PATHS: [&str; 6] = [
    "crates",
    "data",
    "Cargo.lock",
    ":(exclude,glob)crates/*/tests/**",
    ":(exclude,glob)crates/*/benches/**",
    ":(exclude,glob)crates/*/examples/**",
];

/// [`SOURCE_PATHS`] for people.
pub const SOURCE_PATHS_TEXT: &str =
    "crates/ without crates/*/{tests,benches,examples}/, data/, Cargo.lock";

/// The revision of a tree without git.
pub const UNKNOWN: &str = "unknown";

/// The ftnn version of this build.
pub fn ftnn_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The workspace root this crate was built in (`crates/lab/../..`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

/// The revision of the workspace this process runs from, found once per process.
pub fn current_revision() -> &'static str {
    static REV: OnceLock<String> = OnceLock::new();
    REV.get_or_init(|| detect_revision(&workspace_root()))
}

/// The revision of the git tree at `root` ([`UNKNOWN`] without `root/.git` or `git`).
pub fn detect_revision(root: &Path) -> String {
    detect(root).unwrap_or_else(|| UNKNOWN.to_string())
}

fn detect(root: &Path) -> Option<String> {
    // Without this check git would walk up and describe an enclosing repository.
    if !root.join(".git").exists() {
        return None;
    }
    let commit = git_text(root, &["rev-parse", "--verify", "HEAD"])?;
    let commit = commit.trim().to_string();
    let mut status = vec!["status", "--porcelain", "--untracked-files=all", "--"];
    status.extend(SOURCE_PATHS);
    if git_text(root, &status)?.trim().is_empty() {
        return Some(commit);
    }
    let mut hasher = Sha256::new();
    let mut diff = vec!["diff", "--no-ext-diff", "--binary", "HEAD", "--"];
    diff.extend(SOURCE_PATHS);
    hasher.update(git_bytes(root, &diff)?);
    let mut others = vec!["ls-files", "-z", "--others", "--exclude-standard", "--"];
    others.extend(SOURCE_PATHS);
    let names = git_bytes(root, &others)?;
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name);
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(std::fs::read(root.join(&*name)).unwrap_or_default());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let short: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    Some(format!("{commit}-dirty-{short}"))
}

/// The standard output of a successful `git -C root args…`.
fn git_bytes(root: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

fn git_text(root: &Path, args: &[&str]) -> Option<String> {
    String::from_utf8(git_bytes(root, args)?).ok()
}

/// The commit of a revision, if it has one (`abc…-dirty-…` → `abc…`).
pub fn commit_of(revision: &str) -> Option<&str> {
    let commit = revision.split("-dirty-").next()?;
    (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())).then_some(commit)
}

/// Whether a revision has uncommitted changes.
pub fn is_dirty(revision: &str) -> bool {
    revision.contains("-dirty-")
}

/// A revision for people: the first 9 hex digits of the commit, `+dirty` when it had
/// uncommitted changes, `unknown` without git, `none recorded` for results without one.
pub fn short(revision: Option<&str>) -> String {
    match revision {
        None => "none recorded".into(),
        Some(r) => match commit_of(r) {
            Some(c) => format!(
                "{}{}",
                &c[..c.len().min(9)],
                if is_dirty(r) { "+dirty" } else { "" }
            ),
            None => r.to_string(),
        },
    }
}

/// Whether stored results were computed by the code of the working tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Computed by the same source code.
    Current,
    /// Computed by other (or unknown) code; why.
    Stale(String),
}

impl Freshness {
    /// Whether [`Freshness::Stale`].
    pub fn is_stale(&self) -> bool {
        matches!(self, Self::Stale(_))
    }
}

/// The freshness of results computed by `stored` (`None`: no revision recorded) against the
/// working tree of this process ([`current_revision`], [`workspace_root`]).
pub fn freshness(stored: Option<&str>) -> Freshness {
    freshness_in(&workspace_root(), current_revision(), stored)
}

/// The freshness of results computed by `stored` against the tree at `root`, whose revision
/// is `current` (the rules of the module documentation).
pub fn freshness_in(root: &Path, current: &str, stored: Option<&str>) -> Freshness {
    let Some(stored) = stored else {
        return Freshness::Stale(
            "unknown provenance: no source revision recorded (computed by an older ftnn)".into(),
        );
    };
    if stored == current {
        return Freshness::Current;
    }
    let who = format!("computed by revision {}", short(Some(stored)));
    let Some(commit) = commit_of(stored) else {
        return Freshness::Stale(format!("unknown provenance: {who} (no git)"));
    };
    if is_dirty(stored) {
        return Freshness::Stale(format!(
            "{who}, from uncommitted changes that differ from the working tree's"
        ));
    }
    if current == UNKNOWN {
        return Freshness::Stale(format!(
            "{who}; without git here, whether the sources changed cannot be checked"
        ));
    }
    let mut diff = vec!["diff", "--quiet", commit, "--"];
    diff.extend(SOURCE_PATHS);
    let status = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(&diff)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match status.ok().and_then(|s| s.code()) {
        Some(0) => {
            let mut others = vec!["ls-files", "--others", "--exclude-standard", "--"];
            others.extend(SOURCE_PATHS);
            match git_text(root, &others) {
                Some(list) if list.trim().is_empty() => Freshness::Current,
                Some(_) => Freshness::Stale(format!("{who}; untracked source files since")),
                None => Freshness::Stale(format!("{who}; git cannot list untracked files")),
            }
        }
        Some(1) => Freshness::Stale(format!(
            "{who}; the sources ({SOURCE_PATHS_TEXT}) changed since"
        )),
        _ => Freshness::Stale(format!("{who}, a commit not in this repository")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms() {
        let c = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(short(Some(c)), "012345678");
        assert_eq!(
            short(Some(&format!("{c}-dirty-aabbccddeeff"))),
            "012345678+dirty"
        );
        assert_eq!(short(Some(UNKNOWN)), "unknown");
        assert_eq!(short(None), "none recorded");
        assert_eq!(commit_of(UNKNOWN), None);
        assert!(!is_dirty(c));
    }

    #[test]
    fn without_git_the_revision_is_unknown() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(detect_revision(d.path()), UNKNOWN);
        // Unknown on both sides counts as the same tree; no revision at all never does.
        assert_eq!(
            freshness_in(d.path(), UNKNOWN, Some(UNKNOWN)),
            Freshness::Current
        );
        assert!(freshness_in(d.path(), UNKNOWN, None).is_stale());
        assert!(freshness_in(d.path(), "abcdef1234567", Some(UNKNOWN)).is_stale());
    }
}
