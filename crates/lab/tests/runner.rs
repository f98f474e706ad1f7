//! The runner skips up-to-date results, resumes interrupted runs from their stored steps, and
//! recomputes on --force or when the parameters change; sweeps resume job by job, run in
//! shards, and merge from the shards' stored jobs.

use ftnn_lab::{
    merge_experiment, run_experiment, Context, Experiment, Outcome, PaperRow, Paths, Profile,
    ReportSection, RunStatus, Shard, ShardIncomplete, Stored, Verdict,
};
use indicatif::MultiProgress;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Three steps; fails at step `fail_at` while it is set; counts the steps it computes.
struct Counting {
    computed: AtomicUsize,
    fail_at: Mutex<Option<usize>>,
    size: usize,
}

/// The parameters of [`Counting`].
#[derive(Serialize, Deserialize)]
struct CountingParams {
    size: usize,
    profile: Profile,
}

/// The results of [`Counting`].
#[derive(Serialize, Deserialize)]
struct CountingResults {
    total: usize,
    steps: Vec<usize>,
}

/// Writes a stand-in figure `dir/NAME.png` (and `.svg`), as a plot helper would.
fn figure(dir: &Path, name: &str, title: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(format!("{name}.svg")),
        format!("<svg>{title}</svg>"),
    )?;
    let png = dir.join(format!("{name}.png"));
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n")?;
    Ok(png)
}

impl Experiment for Counting {
    type Params = CountingParams;
    type Results = CountingResults;

    fn id(&self) -> &'static str {
        "counting"
    }
    fn title(&self) -> &'static str {
        "test experiment"
    }
    fn origin(&self) -> &'static str {
        "none"
    }
    fn params(&self, profile: Profile) -> CountingParams {
        CountingParams {
            size: self.size,
            profile,
        }
    }
    fn run(&self, ctx: &Context, _: &CountingParams) -> anyhow::Result<Outcome<CountingResults>> {
        let mut steps = Vec::new();
        for k in 0..3 {
            steps.push(ctx.step(&format!("step-{k}"), || {
                if *self.fail_at.lock().unwrap() == Some(k) {
                    anyhow::bail!("interrupted at step {k}");
                }
                self.computed.fetch_add(1, Ordering::SeqCst);
                Ok(k * self.size)
            })?);
        }
        let total: usize = steps.iter().sum();
        Ok(Outcome {
            results: CountingResults { total, steps },
            conclusion: format!("total {total}"),
            tables: vec![],
        })
    }
    fn figures(
        &self,
        stored: &Stored<CountingParams, CountingResults>,
        dir: &Path,
    ) -> anyhow::Result<Vec<PathBuf>> {
        assert_eq!(stored.results.steps.len(), 3);
        Ok(vec![figure(dir, "steps", "Counting: value of each step")?])
    }
    fn report(&self, stored: &Stored<CountingParams, CountingResults>) -> ReportSection {
        let total = stored.results.total as u64;
        let verdict = if total == 3 * self.size as u64 {
            Verdict::Reproduced
        } else {
            Verdict::Differs(format!("total {total}"))
        };
        ReportSection {
            rows: vec![PaperRow::new(
                "total",
                (3 * self.size).to_string(),
                total.to_string(),
                verdict.clone(),
            )],
            verdict,
            notes: String::new(),
        }
    }
}

#[test]
fn skip_resume_force() {
    let dir = tempfile::tempdir().unwrap();
    let multi = MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
    let exp = Counting {
        computed: AtomicUsize::new(0),
        fail_at: Mutex::new(Some(2)),
        size: 10,
    };
    let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
    // Interrupted after two steps: nothing final is written.
    assert!(run_experiment(&exp, Profile::Smoke, &paths, false, None, &multi).is_err());
    assert_eq!(exp.computed.load(Ordering::SeqCst), 2);
    assert!(!paths.results_file("counting").exists());
    assert!(!paths.figures_dir("counting").exists());
    // Resumed: only the third step is computed.
    *exp.fail_at.lock().unwrap() = None;
    let status = run_experiment(&exp, Profile::Smoke, &paths, false, None, &multi).unwrap();
    assert!(matches!(status, RunStatus::Ran { ref conclusion, .. } if conclusion == "total 30"));
    let RunStatus::Ran { figures, .. } = &status else {
        unreachable!()
    };
    assert_eq!(
        figures,
        &vec![paths.figures_dir("counting").join("steps.png")]
    );
    assert!(paths.figures_dir("counting").join("steps.svg").exists());
    assert_eq!(exp.computed.load(Ordering::SeqCst), 3);
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(paths.results_file("counting")).unwrap())
            .unwrap();
    assert_eq!(stored["results"]["total"], 30);
    assert_eq!(stored["profile"], "smoke");
    // Up to date: nothing runs, but missing figures are redrawn from the stored results.
    std::fs::remove_dir_all(paths.figures_dir("counting")).unwrap();
    let status = run_experiment(&exp, Profile::Smoke, &paths, false, None, &multi).unwrap();
    assert_eq!(status, RunStatus::UpToDate);
    assert_eq!(exp.computed.load(Ordering::SeqCst), 3);
    assert!(paths.figures_dir("counting").join("steps.png").exists());
    // Another profile has other parameters: it runs.
    run_experiment(&exp, Profile::Quick, &paths, false, None, &multi).unwrap();
    assert_eq!(exp.computed.load(Ordering::SeqCst), 6);
    // --force recomputes every step.
    run_experiment(&exp, Profile::Quick, &paths, true, None, &multi).unwrap();
    assert_eq!(exp.computed.load(Ordering::SeqCst), 9);
    // No temporary files are left anywhere.
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            assert!(!p.to_string_lossy().ends_with(".tmp"), "{}", p.display());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
}

/// The report has a summary, a section per experiment with the paper-vs-ours table, the
/// verdict and the figures (relative links); an experiment without results says how to run
/// it. Writing it redraws figures from stored results without recomputing anything.
#[test]
fn report_from_stored_results() {
    let dir = tempfile::tempdir().unwrap();
    let multi = MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
    let exp = Counting {
        computed: AtomicUsize::new(0),
        fail_at: Mutex::new(None),
        size: 7,
    };
    let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
    run_experiment(&exp, Profile::Smoke, &paths, false, None, &multi).unwrap();
    assert_eq!(exp.computed.load(Ordering::SeqCst), 3);
    std::fs::remove_dir_all(&paths.figures).unwrap();
    let never_run = Sweep::new();
    let out = dir.path().join("REPORT.md");
    ftnn_lab::write_report(&[&exp, &never_run], &paths, &out).unwrap();
    assert_eq!(exp.computed.load(Ordering::SeqCst), 3, "nothing recomputed");
    assert!(paths.figures_dir("counting").join("steps.png").exists());
    let md = std::fs::read_to_string(&out).unwrap();
    for needle in [
        "# ftnn — reproduction report",
        "## Summary",
        "| [`counting`](#counting) | smoke | reproduced |",
        "## counting",
        "| total | 21 | 21 | — | — | reproduced |",
        "**Verdict: reproduced**",
        "**Conclusion.** total 21",
        "![counting: steps](figures/counting/steps.png)",
        "## sweep",
        "Not run yet: `cargo xtask run sweep`.",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
    // A report elsewhere links back with relative paths.
    let out2 = dir.path().join("sub/R.md");
    ftnn_lab::write_report(&[&exp], &paths, &out2).unwrap();
    let md2 = std::fs::read_to_string(&out2).unwrap();
    assert!(md2.contains("](../figures/counting/steps.png)"), "{md2}");
}

/// A sweep of five jobs after one plain step; counts what it computes, and fails at job
/// `fail_at` while it is set.
struct Sweep {
    setups: AtomicUsize,
    jobs: Mutex<Vec<usize>>,
    fail_at: Mutex<Option<usize>>,
}

impl Sweep {
    fn new() -> Self {
        Self {
            setups: AtomicUsize::new(0),
            jobs: Mutex::new(Vec::new()),
            fail_at: Mutex::new(None),
        }
    }
    /// The jobs computed so far, sorted, and forgets them.
    fn take_jobs(&self) -> Vec<usize> {
        let mut v = std::mem::take(&mut *self.jobs.lock().unwrap());
        v.sort_unstable();
        v
    }
}

/// The parameters of [`Sweep`].
#[derive(Serialize, Deserialize)]
struct SweepParams {
    widths: Vec<u64>,
    profile: Profile,
}

/// The results of [`Sweep`].
#[derive(Serialize, Deserialize)]
struct SweepResults {
    values: Vec<u64>,
    total: u64,
}

impl Experiment for Sweep {
    type Params = SweepParams;
    type Results = SweepResults;

    fn id(&self) -> &'static str {
        "sweep"
    }
    fn title(&self) -> &'static str {
        "test sweep"
    }
    fn origin(&self) -> &'static str {
        "none"
    }
    fn params(&self, profile: Profile) -> SweepParams {
        SweepParams {
            widths: vec![1, 10, 100, 1000, 10000],
            profile,
        }
    }
    fn run(&self, ctx: &Context, params: &SweepParams) -> anyhow::Result<Outcome<SweepResults>> {
        let widths = &params.widths;
        let offset: u64 = ctx.step("setup", || {
            self.setups.fetch_add(1, Ordering::SeqCst);
            Ok(7)
        })?;
        let keys: Vec<String> = widths.iter().map(|n| format!("width-{n}")).collect();
        let values: Vec<u64> = ctx.jobs("widths", &keys, |i, key| {
            assert_eq!(key, keys[i]);
            if *self.fail_at.lock().unwrap() == Some(i) {
                anyhow::bail!("interrupted at job {i}");
            }
            self.jobs.lock().unwrap().push(i);
            Ok(widths[i] * 3 + offset)
        })?;
        let total: u64 = values.iter().sum();
        Ok(Outcome {
            results: SweepResults { values, total },
            conclusion: format!("total {total}"),
            tables: vec![],
        })
    }
    fn figures(
        &self,
        _stored: &Stored<SweepParams, SweepResults>,
        _dir: &Path,
    ) -> anyhow::Result<Vec<PathBuf>> {
        Ok(Vec::new())
    }
    fn report(&self, _stored: &Stored<SweepParams, SweepResults>) -> ReportSection {
        ReportSection {
            rows: Vec::new(),
            verdict: Verdict::Reproduced,
            notes: String::new(),
        }
    }
}

fn hidden() -> MultiProgress {
    MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
}

fn shard(s: &str) -> Option<Shard> {
    Some(s.parse().unwrap())
}

/// `results.json` without the fields that depend on when and how fast it ran.
fn stored_results(paths: &Paths) -> serde_json::Value {
    let text = std::fs::read_to_string(paths.results_file("sweep")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("seconds");
    o.remove("finished");
    v
}

/// Copies the tree `from` into `to` (what `cp -r` of a shard's `steps/` does).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Shards 0/2 and 1/2 on two machines each compute their own jobs and stop without results;
/// merging their copied steps computes nothing and writes the results of an unsharded run.
#[test]
fn shards_compute_their_jobs_and_merge() {
    let dir = tempfile::tempdir().unwrap();
    let multi = hidden();
    let at = |name: &str| Paths::new(dir.path().join(name), dir.path().join(name).join("fig"));
    let exp = Sweep::new();

    let whole = at("whole");
    let status = run_experiment(&exp, Profile::Smoke, &whole, false, None, &multi).unwrap();
    assert!(matches!(status, RunStatus::Ran { .. }), "{status:?}");
    assert_eq!(exp.take_jobs(), vec![0, 1, 2, 3, 4]);

    let (s0, s1) = (at("shard0"), at("shard1"));
    let status = run_experiment(&exp, Profile::Smoke, &s0, false, shard("0/2"), &multi).unwrap();
    assert_eq!(
        status,
        RunStatus::Partial {
            computed: 3,
            total: 5,
            missing: vec!["widths/width-10".into(), "widths/width-1000".into()],
        }
    );
    assert_eq!(exp.take_jobs(), vec![0, 2, 4]);
    assert!(!s0.results_file("sweep").exists());
    // Run again, the shard finds its jobs stored.
    let status = run_experiment(&exp, Profile::Smoke, &s0, false, shard("0/2"), &multi).unwrap();
    assert!(
        matches!(
            status,
            RunStatus::Partial {
                computed: 0,
                total: 5,
                ..
            }
        ),
        "{status:?}"
    );
    assert_eq!(exp.take_jobs(), Vec::<usize>::new());
    let status = run_experiment(&exp, Profile::Smoke, &s1, false, shard("1/2"), &multi).unwrap();
    assert!(
        matches!(
            status,
            RunStatus::Partial {
                computed: 2,
                total: 5,
                ..
            }
        ),
        "{status:?}"
    );
    assert_eq!(exp.take_jobs(), vec![1, 3]);
    assert!(!s1.results_file("sweep").exists());
    // Every shard ran the plain step.
    assert_eq!(exp.setups.load(Ordering::SeqCst), 3);

    // Merging only shard 0's steps computes nothing and names the missing jobs and the shard.
    let merged = at("merged");
    assert_eq!(
        merge_experiment(&exp, Profile::Smoke, &merged, &multi).unwrap(),
        None
    );
    copy_tree(
        &s0.results.join("sweep/steps"),
        &merged.results.join("sweep/steps"),
    );
    let err = merge_experiment(&exp, Profile::Smoke, &merged, &multi).unwrap_err();
    let incomplete = err
        .downcast_ref::<ShardIncomplete>()
        .expect("a ShardIncomplete");
    assert_eq!(incomplete.computed, 0);
    assert_eq!(
        incomplete.missing,
        vec![
            "widths/width-10".to_string(),
            "widths/width-1000".to_string()
        ]
    );
    assert_eq!(
        incomplete.commands,
        vec!["cargo xtask run sweep --profile smoke --shard 1/2".to_string()]
    );
    let message = format!("{err:#}");
    assert!(
        message.contains("3 of 5 jobs stored, 2 missing: widths/width-10, widths/width-1000"),
        "{message}"
    );
    assert!(!merged.results_file("sweep").exists());
    assert_eq!(exp.take_jobs(), Vec::<usize>::new());

    // With shard 1's steps too, the merge writes the results of the unsharded run.
    copy_tree(
        &s1.results.join("sweep/steps"),
        &merged.results.join("sweep/steps"),
    );
    let status = merge_experiment(&exp, Profile::Smoke, &merged, &multi).unwrap();
    let Some(RunStatus::Ran { conclusion, .. }) = status else {
        panic!("expected a merge, got {status:?}")
    };
    assert_eq!(conclusion, "total 33368");
    assert_eq!(exp.take_jobs(), Vec::<usize>::new());
    assert_eq!(exp.setups.load(Ordering::SeqCst), 3);
    assert_eq!(stored_results(&merged), stored_results(&whole));
    // Nothing left to merge; runs are up to date, sharded or not.
    assert_eq!(
        merge_experiment(&exp, Profile::Smoke, &merged, &multi).unwrap(),
        None
    );
    for s in [None, shard("1/2")] {
        let status = run_experiment(&exp, Profile::Smoke, &merged, false, s, &multi).unwrap();
        assert_eq!(status, RunStatus::UpToDate);
    }
    // Another profile has no stored steps: nothing to merge.
    assert_eq!(
        merge_experiment(&exp, Profile::Quick, &merged, &multi).unwrap(),
        None
    );
}

/// On a shared file system the last shard finds every job stored and writes the results.
#[test]
fn last_shard_on_a_shared_file_system_writes_the_results() {
    let dir = tempfile::tempdir().unwrap();
    let multi = hidden();
    let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
    let exp = Sweep::new();
    let status = run_experiment(&exp, Profile::Smoke, &paths, false, shard("1/3"), &multi).unwrap();
    assert!(
        matches!(status, RunStatus::Partial { computed: 2, .. }),
        "{status:?}"
    );
    let status = run_experiment(&exp, Profile::Smoke, &paths, false, shard("0/3"), &multi).unwrap();
    let RunStatus::Partial {
        computed, missing, ..
    } = status
    else {
        panic!("expected a partial run, got {status:?}")
    };
    assert_eq!(
        (computed, missing),
        (2, vec!["widths/width-100".to_string()])
    );
    let status = run_experiment(&exp, Profile::Smoke, &paths, false, shard("2/3"), &multi).unwrap();
    assert!(matches!(status, RunStatus::Ran { .. }), "{status:?}");
    assert_eq!(exp.take_jobs(), vec![0, 1, 2, 3, 4]);
    assert!(paths.results_file("sweep").exists());
    // --force would discard the other shards' jobs.
    let err = run_experiment(&exp, Profile::Smoke, &paths, true, shard("0/3"), &multi).unwrap_err();
    assert!(
        format!("{err:#}").contains("--force cannot be combined with --shard"),
        "{err:#}"
    );
}

/// An interrupted sweep resumes job by job, sharded or not.
#[test]
fn interrupted_sweep_recomputes_only_missing_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let multi = hidden();
    let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
    let exp = Sweep::new();
    *exp.fail_at.lock().unwrap() = Some(2);
    let err = run_experiment(&exp, Profile::Smoke, &paths, false, None, &multi).unwrap_err();
    assert!(
        format!("{err:#}").contains("interrupted at job 2"),
        "{err:#}"
    );
    assert!(err.downcast_ref::<ShardIncomplete>().is_none());
    assert_eq!(exp.take_jobs(), vec![0, 1]);
    assert!(!paths.results_file("sweep").exists());
    *exp.fail_at.lock().unwrap() = None;
    let status = run_experiment(&exp, Profile::Smoke, &paths, false, None, &multi).unwrap();
    assert!(matches!(status, RunStatus::Ran { .. }), "{status:?}");
    assert_eq!(exp.take_jobs(), vec![2, 3, 4]);
    assert_eq!(exp.setups.load(Ordering::SeqCst), 1);

    // A failing job fails a shard (it is no partial success).
    let quick = Profile::Quick;
    *exp.fail_at.lock().unwrap() = Some(2);
    let err = run_experiment(&exp, quick, &paths, false, shard("0/2"), &multi).unwrap_err();
    assert!(
        format!("{err:#}").contains("interrupted at job 2"),
        "{err:#}"
    );
    assert_eq!(exp.take_jobs(), vec![0]);
    *exp.fail_at.lock().unwrap() = None;
    let status = run_experiment(&exp, quick, &paths, false, shard("0/2"), &multi).unwrap();
    assert!(
        matches!(
            status,
            RunStatus::Partial {
                computed: 2,
                total: 5,
                ..
            }
        ),
        "{status:?}"
    );
    assert_eq!(exp.take_jobs(), vec![2, 4]);
    // An unsharded run computes the rest.
    let status = run_experiment(&exp, quick, &paths, false, None, &multi).unwrap();
    assert!(matches!(status, RunStatus::Ran { .. }), "{status:?}");
    assert_eq!(exp.take_jobs(), vec![1, 3]);
}

#[test]
fn shard_strings() {
    for (s, index, count) in [("0/1", 0, 1), ("1/3", 1, 3), ("3/4", 3, 4)] {
        let shard: Shard = s.parse().unwrap();
        assert_eq!((shard.index(), shard.count()), (index, count));
        assert_eq!(shard.to_string(), s);
    }
    let shard: Shard = "1/3".parse().unwrap();
    let held: Vec<usize> = (0..8).filter(|&j| shard.contains(j)).collect();
    assert_eq!(held, vec![1, 4, 7]);
    for (s, needle) in [
        ("2/2", "must be below k"),
        ("5/2", "must be below k"),
        ("0/0", "at least 1"),
        ("a/b", "`a` is not a non-negative integer"),
        ("1/b", "`b` is not a non-negative integer"),
        ("-1/2", "`-1` is not a non-negative integer"),
        ("1", "not of the form i/k"),
        ("", "not of the form i/k"),
        ("1/2/3", "`2/3` is not a non-negative integer"),
    ] {
        let err = s.parse::<Shard>().unwrap_err();
        assert!(err.contains(needle), "{s:?}: {err}");
    }
    assert!(Shard::new(2, 2).is_err());
}
