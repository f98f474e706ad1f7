//! Provenance of stored results: every results file records the ftnn version and source
//! revision that computed it; files without them load as unknown provenance; stale results
//! are marked in the report and recomputed (unless kept); checkpoints of other code are not
//! resumed; new results compare with a snapshot number by number.

use ftnn_lab::provenance::{self, current_revision, freshness_in, Freshness, UNKNOWN};
use ftnn_lab::{
    compare, describe, run_experiment, run_experiment_with, Comparison, Context, Experiment,
    Outcome, Paths, Profile, ReportSection, ResultsFile, RunOptions, RunStatus, Stored, Verdict,
};
use indicatif::{MultiProgress, ProgressDrawTarget};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Two steps, counted.
struct Tiny {
    computed: AtomicUsize,
}

#[derive(Serialize, Deserialize)]
struct TinyParams {
    n: usize,
}

#[derive(Serialize, Deserialize)]
struct TinyResults {
    values: Vec<f64>,
}

impl Experiment for Tiny {
    type Params = TinyParams;
    type Results = TinyResults;
    fn id(&self) -> &'static str {
        "tiny"
    }
    fn title(&self) -> &'static str {
        "tiny test experiment"
    }
    fn origin(&self) -> &'static str {
        "none"
    }
    fn params(&self, _: Profile) -> TinyParams {
        TinyParams { n: 2 }
    }
    fn run(&self, ctx: &Context, p: &TinyParams) -> anyhow::Result<Outcome<TinyResults>> {
        let mut values = Vec::new();
        for k in 0..p.n {
            values.push(ctx.step(&format!("s{k}"), || {
                self.computed.fetch_add(1, Ordering::SeqCst);
                Ok(k as f64 + 0.5)
            })?);
        }
        Ok(Outcome {
            results: TinyResults { values },
            conclusion: "done".into(),
            tables: vec![],
        })
    }
    fn figures(
        &self,
        _: &Stored<TinyParams, TinyResults>,
        _: &Path,
    ) -> anyhow::Result<Vec<PathBuf>> {
        Ok(vec![])
    }
    fn report(&self, _: &Stored<TinyParams, TinyResults>) -> ReportSection {
        ReportSection {
            rows: vec![],
            verdict: Verdict::Reproduced,
            notes: String::new(),
        }
    }
}

fn tiny() -> Tiny {
    Tiny {
        computed: AtomicUsize::new(0),
    }
}

fn hidden() -> MultiProgress {
    MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
}

fn setup() -> (tempfile::TempDir, Paths) {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
    (dir, paths)
}

/// Rewrites the stored results of `id` through `edit` of their JSON.
fn edit_stored(paths: &Paths, id: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let file = paths.results_file(id);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&file, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// A commit that is in no repository.
const FOREIGN: &str = "00000000000000000000000000000000deadbeef";

#[test]
fn results_record_version_and_revision() {
    let (_d, paths) = setup();
    let exp = tiny();
    run_experiment(&exp, Profile::Smoke, &paths, false, None, &hidden()).unwrap();
    let text = std::fs::read_to_string(paths.results_file("tiny")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["ftnn_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["revision"], current_revision());
    let back = ResultsFile::read(&paths.results_file("tiny"))
        .unwrap()
        .unwrap();
    assert_eq!(back.revision.as_deref(), Some(current_revision()));
    assert_eq!(back.freshness(), Freshness::Current);
    // Computed by this code: up to date.
    let status = run_experiment(&exp, Profile::Smoke, &paths, false, None, &hidden()).unwrap();
    assert_eq!(status, RunStatus::UpToDate);
    assert_eq!(exp.computed.load(Ordering::SeqCst), 2);
}

#[test]
fn old_files_without_provenance_load_as_unknown_and_are_recomputed() {
    let (_d, paths) = setup();
    let exp = tiny();
    run_experiment(&exp, Profile::Smoke, &paths, false, None, &hidden()).unwrap();
    edit_stored(&paths, "tiny", |v| {
        let o = v.as_object_mut().unwrap();
        o.remove("revision");
        o.remove("ftnn_version");
    });
    let old = ResultsFile::read(&paths.results_file("tiny"))
        .unwrap()
        .unwrap();
    assert_eq!(old.revision, None);
    assert_eq!(old.ftnn_version, "");
    match old.freshness() {
        Freshness::Stale(why) => assert!(why.contains("unknown provenance"), "{why}"),
        Freshness::Current => panic!("results without a revision count as current"),
    }
    // --keep-stale keeps them …
    let keep = RunOptions {
        profile: Profile::Smoke,
        keep_stale: true,
        ..RunOptions::default()
    };
    let status = run_experiment_with(&exp, &keep, &paths, &hidden()).unwrap();
    assert!(
        matches!(status, RunStatus::KeptStale(ref w) if w.contains("unknown")),
        "{status:?}"
    );
    // … a plain run recomputes them, and discards the checkpoints of unknown code.
    std::fs::remove_file(
        paths
            .results
            .join("tiny/steps")
            .read_dir()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
            .join(".revision.json"),
    )
    .unwrap();
    let status = run_experiment(&exp, Profile::Smoke, &paths, false, None, &hidden()).unwrap();
    assert!(matches!(status, RunStatus::Ran { .. }), "{status:?}");
    assert_eq!(exp.computed.load(Ordering::SeqCst), 4, "steps recomputed");
    let new = ResultsFile::read(&paths.results_file("tiny"))
        .unwrap()
        .unwrap();
    assert_eq!(new.revision.as_deref(), Some(current_revision()));
}

#[test]
fn checkpoints_of_other_code_are_not_resumed_but_ours_are() {
    let (_d, paths) = setup();
    let exp = tiny();
    run_experiment(&exp, Profile::Smoke, &paths, false, None, &hidden()).unwrap();
    let steps = paths
        .results
        .join("tiny/steps")
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let marker = steps.join(".revision.json");
    assert_eq!(
        serde_json::from_str::<String>(&std::fs::read_to_string(&marker).unwrap()).unwrap(),
        current_revision()
    );
    // Results gone, checkpoints of this code: resumed, nothing recomputed.
    std::fs::remove_file(paths.results_file("tiny")).unwrap();
    run_experiment(&exp, Profile::Smoke, &paths, false, None, &hidden()).unwrap();
    assert_eq!(exp.computed.load(Ordering::SeqCst), 2);
    // Checkpoints of another commit: discarded, both steps recomputed.
    std::fs::remove_file(paths.results_file("tiny")).unwrap();
    std::fs::write(&marker, format!("\"{FOREIGN}\"")).unwrap();
    run_experiment(&exp, Profile::Smoke, &paths, false, None, &hidden()).unwrap();
    assert_eq!(exp.computed.load(Ordering::SeqCst), 4);
}

#[test]
fn the_report_marks_stale_results() {
    let (d, paths) = setup();
    let exp = tiny();
    run_experiment(&exp, Profile::Smoke, &paths, false, None, &hidden()).unwrap();
    let out = d.path().join("REPORT.md");
    ftnn_lab::write_report(&[&exp], &paths, &out).unwrap();
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(!md.contains("**Stale:**"), "{md}");
    assert!(md.contains("0 of them stale"), "{md}");
    assert!(
        md.contains("out/results/"),
        "the report names the working tree:\n{md}"
    );

    edit_stored(&paths, "tiny", |v| v["revision"] = FOREIGN.into());
    ftnn_lab::write_report(&[&exp], &paths, &out).unwrap();
    let md = std::fs::read_to_string(&out).unwrap();
    for needle in [
        "1 of them stale",
        "| 000000000 — **stale** |",
        "> **Stale:** computed by revision 000000000",
        "revision 000000000",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
}

/// `git -C dir args…`, asserting success.
fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(ok.status.success(), "git {args:?}: {ok:?}");
}

#[test]
fn staleness_follows_the_sources_between_commits() {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("git is not installed: staleness between commits is not tested here");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    std::fs::create_dir_all(root.join("crates/a")).unwrap();
    std::fs::write(root.join("crates/a/lib.rs"), "fn a() {}\n").unwrap();
    std::fs::write(root.join("README.md"), "readme\n").unwrap();
    git(root, &["init", "-q"]);
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "one"]);
    let first = provenance::detect_revision(root);
    assert_eq!(first.len(), 40, "{first}");
    assert_eq!(freshness_in(root, &first, Some(&first)), Freshness::Current);

    // A commit that changes only the README: results of the first commit stay current.
    std::fs::write(root.join("README.md"), "readme 2\n").unwrap();
    git(root, &["commit", "-q", "-am", "readme"]);
    let second = provenance::detect_revision(root);
    assert_ne!(first, second);
    assert_eq!(
        freshness_in(root, &second, Some(&first)),
        Freshness::Current
    );

    // A crate's tests, benchmarks and examples compute no stored result: results stay
    // current when only they change, committed or not (and the tree is not dirty).
    for dir in ["tests", "benches", "examples"] {
        std::fs::create_dir_all(root.join("crates/a").join(dir)).unwrap();
        std::fs::write(root.join("crates/a").join(dir).join("t.rs"), "fn t() {}\n").unwrap();
    }
    assert_eq!(
        provenance::detect_revision(root),
        second,
        "test files make no dirty tree"
    );
    assert_eq!(
        freshness_in(root, &second, Some(&first)),
        Freshness::Current
    );
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "tests"]);
    let with_tests = provenance::detect_revision(root);
    assert_eq!(
        freshness_in(root, &with_tests, Some(&first)),
        Freshness::Current
    );

    // An uncommitted source change: a dirty revision; the first commit's results are stale.
    std::fs::write(root.join("crates/a/lib.rs"), "fn a() { 1; }\n").unwrap();
    let dirty = provenance::detect_revision(root);
    assert!(
        dirty.starts_with(&format!("{with_tests}-dirty-")),
        "{dirty}"
    );
    assert_eq!(
        provenance::detect_revision(root),
        dirty,
        "the same changes, the same id"
    );
    match freshness_in(root, &dirty, Some(&first)) {
        Freshness::Stale(why) => assert!(why.contains("changed since"), "{why}"),
        Freshness::Current => panic!("a source change left results current"),
    }
    assert_eq!(freshness_in(root, &dirty, Some(&dirty)), Freshness::Current);
    // Other uncommitted changes: results of the first dirty tree are stale.
    std::fs::write(root.join("crates/a/new.rs"), "fn b() {}\n").unwrap();
    let dirtier = provenance::detect_revision(root);
    assert_ne!(dirtier, dirty);
    assert!(freshness_in(root, &dirtier, Some(&dirty)).is_stale());
    // Committed: the earlier commit's results stay stale, a foreign commit's too.
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "code"]);
    let third = provenance::detect_revision(root);
    assert!(freshness_in(root, &third, Some(&first)).is_stale());
    match freshness_in(root, &third, Some(FOREIGN)) {
        Freshness::Stale(why) => assert!(why.contains("not in this repository"), "{why}"),
        Freshness::Current => panic!("an unknown commit counts as current"),
    }
    // Without git here nothing of a commit can be checked.
    assert!(freshness_in(root, UNKNOWN, Some(&third)).is_stale());
}

/// A results file of `tiny` holding `results`.
fn file(results: serde_json::Value, revision: &str) -> ResultsFile {
    ResultsFile {
        id: "tiny".into(),
        title: "t".into(),
        origin: "o".into(),
        profile: Profile::Quick,
        params: serde_json::json!({}),
        params_hash: "h".into(),
        ftnn_version: "0.1.0".into(),
        revision: Some(revision.into()),
        seconds: 1.0,
        conclusion: String::new(),
        finished: None,
        results,
    }
}

#[test]
fn comparison_says_identical_or_how_far_each_number_moved() {
    let old = serde_json::json!({
        "fit": {"slope": -0.5, "slope_stderr": 0.01, "seconds": 3.0},
        "nets": [{"mc_mean": 1.0, "mc_se": 0.1, "label": "a"}],
        "ratio": 2.0,
        "train_seconds": 12.0,
    });
    let snapshot = file(old.clone(), FOREIGN);
    // Same numbers, other timings: identical.
    let mut same = old.clone();
    same["fit"]["seconds"] = 9.0.into();
    same["train_seconds"] = 1.0.into();
    let new = file(same, FOREIGN);
    let c = compare(&snapshot, &new);
    assert_eq!(c, Comparison::Identical { numbers: 5 });
    let line = describe(&c, &snapshot, &new, 3);
    assert!(
        line.starts_with("identical to the snapshot: all 5 numbers"),
        "{line}"
    );
    assert!(line.contains("same revision 000000000"), "{line}");

    // Moved numbers: in σ where a standard error is stored, else relative.
    let mut moved = old.clone();
    moved["fit"]["slope"] = (-0.5 + 0.02 * 2f64.sqrt()).into();
    moved["nets"][0]["mc_mean"] = 1.1.into();
    moved["ratio"] = 2.2.into();
    let new = file(moved, "1111111111111111111111111111111111111111");
    let Comparison::Differs { numbers, changed } = compare(&snapshot, &new) else {
        panic!("moved numbers compare identical");
    };
    assert_eq!((numbers, changed.len()), (5, 3));
    let by = |p: &str| changed.iter().find(|d| d.path == p).unwrap().clone();
    assert!((by("fit.slope").sigmas.unwrap() - 2.0).abs() < 1e-9);
    let z = by("nets[0].mc_mean").sigmas.unwrap();
    assert!((z - 0.1 / 0.02f64.sqrt()).abs() < 1e-9, "{z}");
    assert_eq!(by("ratio").sigmas, None);
    assert!((by("ratio").relative - 0.2 / 2.2).abs() < 1e-12);
    assert_eq!(changed[0].path, "fit.slope", "largest deviation first");
    let line = describe(&compare(&snapshot, &new), &snapshot, &new, 2);
    assert!(line.contains("3 of 5 numbers changed"), "{line}");
    assert!(line.contains("fit.slope: -0.5 → "), "{line}");
    assert!(
        line.contains("(+2.00 σ)") && line.contains("… and 1 more"),
        "{line}"
    );
    assert!(
        line.contains("largest deviation +2.00 σ over the 2 changed numbers with a standard error")
            && line.contains("largest relative change 0.09 over the 1 without one"),
        "{line}"
    );

    // Another profile is not compared.
    let mut smoke = file(old, FOREIGN);
    smoke.profile = Profile::Smoke;
    assert!(matches!(
        compare(&snapshot, &smoke),
        Comparison::NotComparable(_)
    ));
}
