//! Killed at any moment, nothing lost, nothing changed (issue 17, item 3).
//!
//! A real experiment with checkpointed steps (`error-additivity`, smoke profile: 15 steps of
//! Monte Carlo, a CSV table, two figures, `results.json`) runs in a child process — this test
//! binary run again with [`CHILD`] set, so it needs no other binary — and is killed with
//! SIGKILL at several points in a row, each time resumed in the same directory:
//!
//! * during a step, twice (timed: as soon as 3, then 8 steps are stored);
//! * halfway through writing a step's checkpoint, the CSV table and `results.json`, and
//!   before the figures (the test-only hook `FTNN_TEST_PAUSE_AT` of `ftnn_lab::store`
//!   holds the child there until it is killed).
//!
//! After every kill each visible file parses completely (the only other files are the hidden
//! temporary files of the atomic writes, one more after each kill in a write), and the last
//! run's `results.json` equals that of an uninterrupted run byte for byte except the run's
//! duration, finish time and provenance; the checkpoints and the CSV table are byte-identical,
//! the same figures exist, and the checkpoints stored before were resumed, not recomputed. A
//! run on the finished directory changes nothing. Controls show that the checks can fail: a
//! checkpoint one ulp off (what serde_json's default float parser did before
//! `float_roundtrip`) changes `results.json`, and a CSV cut in half is reported.
#![cfg(unix)]

use ftnn_lab::{run_experiment, Paths, Profile};
use indicatif::{MultiProgress, ProgressDrawTarget};
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the child: the results directory to run the experiment in.
const CHILD: &str = "FTNN_KILL_RESUME_CHILD";
/// The experiment.
const ID: &str = "error-additivity";
/// The keys of `results.json` that must not change (the others are the run's duration,
/// finish time and provenance).
const KEPT: [&str; 8] = [
    "id",
    "title",
    "origin",
    "profile",
    "params",
    "params_hash",
    "conclusion",
    "results",
];

/// Not a test of its own: the body of the child process that the tests start (this binary
/// with [`CHILD`] set). Without [`CHILD`] it does nothing.
#[test]
fn child_process_entry() {
    let Some(results) = std::env::var_os(CHILD) else {
        return;
    };
    let exp = ftnn_experiments::registry()
        .into_iter()
        .find(|e| e.id() == ID)
        .expect("registered");
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
    let paths = Paths::beside(PathBuf::from(results));
    run_experiment(exp.as_ref(), Profile::Smoke, &paths, false, None, &multi).expect("run");
}

/// Starts the child on `results`, paused at `pause` (a point of `ftnn_lab::store::pause_point`)
/// with `flag` created when it gets there.
fn spawn(results: &Path, pause: Option<(&str, &Path)>) -> Child {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        "child_process_entry",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, results)
    .env_remove("FTNN_TEST_PAUSE_AT")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if let Some((point, flag)) = pause {
        cmd.env("FTNN_TEST_PAUSE_AT", point)
            .env("FTNN_TEST_PAUSED_FLAG", flag);
    }
    cmd.spawn().expect("start the child")
}

/// Waits (at most a minute) until `ready()`, polling every millisecond; fails if the child
/// exits first.
fn wait_for(child: &mut Child, what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().expect("poll the child") {
            panic!("the child ended ({status}) before {what}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// SIGKILLs the child and checks that it died of it.
fn kill(mut child: Child, what: &str) {
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("reap the child");
    assert_eq!(status.signal(), Some(9), "{what}: the child was not killed");
}

/// Runs the child to the end.
fn complete(results: &Path) {
    let status = spawn(results, None).wait().expect("run the child");
    assert!(status.success(), "the child failed: {status}");
}

/// Whether `name` is the hidden temporary file of an atomic write (`.<name>.<pid>.tmp`, or
/// `.<name>.<pid>.tmp.png` for a bitmap).
fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && (name.ends_with(".tmp") || name.ends_with(".tmp.png"))
}

/// Every file under `dir`, relative path → bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                // A file listed while the child runs may be renamed or removed before it
                // is read (a temporary file renamed into place): it is then left out.
                if let Ok(bytes) = std::fs::read(&path) {
                    out.insert(rel, bytes);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The number of temporary files under `dir` (left by writes that were killed).
fn temporaries(dir: &Path) -> usize {
    files(dir)
        .keys()
        .filter(|rel| is_temporary(rel.rsplit('/').next().unwrap_or(rel)))
        .count()
}

/// The files under `dir` that are not temporary.
fn visible(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files(dir)
        .into_iter()
        .filter(|(rel, _)| !is_temporary(rel.rsplit('/').next().unwrap_or(rel)))
        .collect()
}

/// Every visible file under `run` (results and figures) is complete: JSON parses, CSV rows
/// have the header's number of fields and end in a newline, SVG is closed, PNG ends with its
/// IEND chunk.
fn check_complete(run: &Path, when: &str) {
    let cut = incomplete(run);
    assert!(cut.is_empty(), "{when}: incomplete files {cut:?}");
}

/// The visible files under `run` that are not complete (see [`check_complete`]).
fn incomplete(run: &Path) -> Vec<String> {
    let mut cut = Vec::new();
    for (rel, bytes) in visible(run) {
        let text = String::from_utf8_lossy(&bytes);
        let ok = match rel.rsplit('.').next() {
            Some("json") => serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
            Some("csv") => {
                let fields = |l: &str| l.split(',').count();
                let header = text.lines().next().map_or(0, fields);
                text.ends_with('\n') && header > 1 && text.lines().all(|l| fields(l) == header)
            }
            Some("svg") => text.trim_end().ends_with("</svg>"),
            Some("png") => bytes.starts_with(b"\x89PNG") && bytes.ends_with(b"IEND\xaeB`\x82"),
            _ => true,
        };
        if !ok {
            cut.push(rel);
        }
    }
    cut
}

/// The text of `results.json` without the run's duration, finish time and provenance: the
/// lines of the top-level keys in [`KEPT`], verbatim (pretty JSON, two-space indent).
fn kept_text(results_json: &[u8]) -> String {
    let text = String::from_utf8(results_json.to_vec()).expect("UTF-8");
    let mut out = String::new();
    let mut keep = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("  \"") {
            let key = rest.split('"').next().unwrap_or("");
            keep = KEPT.contains(&key);
        }
        if keep {
            out += line;
            out.push('\n');
        }
    }
    assert!(out.contains("\"results\""), "no results in {text}");
    out
}

/// Copies the directory tree `from` to `to`.
fn copy_dir(from: &Path, to: &Path) {
    for (rel, bytes) in files(from) {
        let path = to.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// The workspace root.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Modification times of the stored steps under `results`.
fn modified_times(results: &Path) -> BTreeMap<String, std::time::SystemTime> {
    visible(results)
        .into_keys()
        .filter(|rel| rel.contains("/subset-"))
        .map(|rel| {
            let t = std::fs::metadata(results.join(&rel))
                .unwrap()
                .modified()
                .unwrap();
            (rel, t)
        })
        .collect()
}

/// Number of stored steps (`subset-*.json`) under `results`.
fn steps_stored(results: &Path) -> usize {
    let Some(key) = std::fs::read_dir(results.join(ID).join("steps"))
        .ok()
        .and_then(|mut rd| rd.next())
        .and_then(Result::ok)
    else {
        return 0;
    };
    std::fs::read_dir(key.path()).map_or(0, |rd| {
        rd.flatten()
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with("subset-") && name.ends_with(".json")
            })
            .count()
    })
}

/// Compares the outcome of `run` with that of the uninterrupted `reference`.
fn assert_same_outcome(reference: &Path, run: &Path) {
    let (a, b) = (visible(reference), visible(run));
    let results = format!("results/{ID}/results.json");
    assert_eq!(
        kept_text(&a[&results]),
        kept_text(&b[&results]),
        "results.json differs from the uninterrupted run's"
    );
    for (rel, bytes) in &a {
        if rel.starts_with("results/") && *rel != results {
            assert!(
                b.get(rel) == Some(bytes),
                "{rel} differs from the uninterrupted run's"
            );
        }
    }
    let names = |m: &BTreeMap<String, Vec<u8>>| -> Vec<String> { m.keys().cloned().collect() };
    assert_eq!(names(&a), names(&b), "different files");
}

#[test]
fn error_additivity_killed_anywhere_resumes_bit_identically() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    // The driver discards checkpoints of other code: sources edited during an attempt (a
    // developer's tree, never CI) change what a resumed child does. Such an attempt is
    // repeated; a failure with the sources unchanged fails the test.
    let revision = || ftnn_lab::provenance::detect_revision(&workspace_root());
    for attempt in 1..=3 {
        let before = revision();
        let outcome = std::panic::catch_unwind(kill_and_resume);
        if revision() == before {
            if let Err(panic) = outcome {
                std::panic::resume_unwind(panic);
            }
            return;
        }
        eprintln!("attempt {attempt}: the sources changed during the attempt; repeating it");
    }
    eprintln!("the sources kept changing: kill-and-resume not checked");
}

/// The scenario of [`error_additivity_killed_anywhere_resumes_bit_identically`].
fn kill_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("reference");
    let start = Instant::now();
    complete(&reference.join("results"));
    let uninterrupted = start.elapsed();

    let run = tmp.path().join("killed");
    let results = run.join("results");
    let flag = tmp.path().join("paused");
    // Killed during a step, twice.
    for steps in [3, 8] {
        let mut child = spawn(&results, None);
        wait_for(&mut child, &format!("{steps} steps are stored"), || {
            steps_stored(&results) >= steps
        });
        kill(child, &format!("after {steps} steps"));
        check_complete(&run, &format!("killed after {steps} steps"));
        assert!(steps_stored(&results) < 15, "the run was not interrupted");
    }
    // The checkpoints stored so far must be resumed, not recomputed.
    let stored = modified_times(&results);
    // Killed halfway through writes, and before the figures and results.json.
    for point in [
        "write:subset-12.json",
        "write:pairs.csv",
        &format!("figures:{ID}"),
        "write:results.json",
    ] {
        let _ = std::fs::remove_file(&flag);
        let before = temporaries(&run);
        let mut child = spawn(&results, Some((point, &flag)));
        wait_for(&mut child, &format!("the child pauses at {point}"), || {
            flag.exists()
        });
        kill(child, point);
        check_complete(&run, &format!("killed at {point}"));
        if point.starts_with("write:") {
            assert!(
                temporaries(&run) > before,
                "{point}: no new temporary file: not killed in a write"
            );
        }
        assert!(
            !results.join(ID).join("results.json").exists(),
            "{point}: results.json exists before the run finished"
        );
    }
    // Control: the comparison sees a checkpoint one ulp off (the symptom of the default
    // float parser), and the completeness check sees a cut file.
    let control = tmp.path().join("control");
    copy_dir(&run, &control);
    let step = visible(&control)
        .into_keys()
        .find(|rel| rel.ends_with("/subset-01.json"))
        .expect("subset-01 stored");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(control.join(&step)).unwrap()).unwrap();
    let x = v["mean"][0].as_f64().unwrap();
    v["mean"][0] = f64::from_bits(x.to_bits() + 1).into();
    std::fs::write(control.join(&step), v.to_string()).unwrap();
    complete(&control.join("results"));
    let path = format!("results/{ID}/results.json");
    assert_ne!(
        kept_text(&visible(&reference)[&path]),
        kept_text(&visible(&control)[&path]),
        "a checkpoint one ulp off went unnoticed"
    );
    let csv = control.join("results").join(ID).join("pairs.csv");
    let text = std::fs::read(&csv).unwrap();
    std::fs::write(&csv, &text[..text.len() / 2]).unwrap();
    assert_eq!(
        incomplete(&control),
        [format!("results/{ID}/pairs.csv")],
        "a half-written CSV went unnoticed"
    );

    complete(&results);
    check_complete(&run, "after the resumed run");
    assert_same_outcome(&reference, &run);
    let now = modified_times(&results);
    for (rel, t) in &stored {
        assert_eq!(now.get(rel), Some(t), "{rel} was recomputed, not resumed");
    }

    // A run on finished results changes nothing (not even the duration).
    let before = visible(&run);
    complete(&results);
    assert!(visible(&run) == before, "a finished run was changed");
    eprintln!(
        "uninterrupted run {:.1} s, whole test {:.1} s",
        uninterrupted.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
}
