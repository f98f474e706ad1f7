//! The runner skips up-to-date results, resumes interrupted runs from their stored steps, and
//! recomputes on --force or when the parameters change.

use ftnn_experiments::plot::{self, BarOrder};
use ftnn_experiments::runner::ResultsFile;
use ftnn_experiments::{
    run_experiment, Context, Experiment, Outcome, PaperRow, Paths, Profile, ReportSection,
    RunStatus, Verdict,
};
use indicatif::MultiProgress;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Three steps; fails at step `fail_at` while it is set; counts the steps it computes.
struct Counting {
    computed: AtomicUsize,
    fail_at: Mutex<Option<usize>>,
    size: usize,
}

impl Experiment for Counting {
    fn id(&self) -> &'static str {
        "counting"
    }
    fn title(&self) -> &'static str {
        "test experiment"
    }
    fn origin(&self) -> &'static str {
        "none"
    }
    fn params(&self, profile: Profile) -> serde_json::Value {
        serde_json::json!({ "size": self.size, "profile": profile })
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Outcome> {
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
            results: serde_json::json!({ "total": total, "steps": steps }),
            conclusion: format!("total {total}"),
            tables: vec![],
        })
    }
    fn figures(&self, stored: &ResultsFile, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        let steps: Vec<usize> = serde_json::from_value(stored.results["steps"].clone())?;
        let bars: Vec<(String, f64)> = steps
            .iter()
            .enumerate()
            .map(|(k, &v)| (format!("step {k}"), v as f64))
            .collect();
        let png = plot::bar_chart(
            dir,
            "steps",
            "Counting: value of each step",
            "value",
            &bars,
            BarOrder::Descending,
        )?;
        Ok(vec![png])
    }
    fn report(&self, stored: &ResultsFile) -> ReportSection {
        let total = stored.results["total"].as_u64().unwrap_or(0);
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
    assert!(run_experiment(&exp, Profile::Smoke, &paths, false, &multi).is_err());
    assert_eq!(exp.computed.load(Ordering::SeqCst), 2);
    assert!(!paths.results_file("counting").exists());
    assert!(!paths.figures_dir("counting").exists());
    // Resumed: only the third step is computed.
    *exp.fail_at.lock().unwrap() = None;
    let status = run_experiment(&exp, Profile::Smoke, &paths, false, &multi).unwrap();
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
    let status = run_experiment(&exp, Profile::Smoke, &paths, false, &multi).unwrap();
    assert_eq!(status, RunStatus::UpToDate);
    assert_eq!(exp.computed.load(Ordering::SeqCst), 3);
    assert!(paths.figures_dir("counting").join("steps.png").exists());
    // Another profile has other parameters: it runs.
    run_experiment(&exp, Profile::Quick, &paths, false, &multi).unwrap();
    assert_eq!(exp.computed.load(Ordering::SeqCst), 6);
    // --force recomputes every step.
    run_experiment(&exp, Profile::Quick, &paths, true, &multi).unwrap();
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

/// The smoke profile of `ntk` reaches the paper-corrected conclusion: under LeCun scaling the
/// crash error does not fall with width, under 1/n scaling it falls roughly like n^{−1/2}.
#[test]
fn ntk_smoke_shows_the_scaling_contrast() {
    let dir = tempfile::tempdir().unwrap();
    let multi = MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
    let exp = ftnn_experiments::find("ntk").unwrap();
    let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
    run_experiment(exp.as_ref(), Profile::Smoke, &paths, false, &multi).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(paths.results_file("ntk")).unwrap()).unwrap();
    let slope = |i: usize| v["results"]["fits"][i]["fit"]["slope"].as_f64().unwrap();
    assert_eq!(v["results"]["fits"][0]["scheme"], "lecun");
    assert!(slope(0) > -0.1, "LeCun slope {}", slope(0));
    assert!(slope(1) < -0.3 && slope(1) > -0.7, "1/n slope {}", slope(1));
    assert!(paths.results.join("ntk/widths.csv").exists());
    for name in ["std_vs_width", "mc_vs_exact"] {
        assert!(paths
            .figures_dir("ntk")
            .join(format!("{name}.png"))
            .exists());
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
    run_experiment(&exp, Profile::Smoke, &paths, false, &multi).unwrap();
    assert_eq!(exp.computed.load(Ordering::SeqCst), 3);
    std::fs::remove_dir_all(&paths.figures).unwrap();
    let ntk = ftnn_experiments::find("ntk").unwrap();
    let out = dir.path().join("REPORT.md");
    ftnn_experiments::report::write_report_for(&[&exp, ntk.as_ref()], &paths, &out).unwrap();
    assert_eq!(exp.computed.load(Ordering::SeqCst), 3, "nothing recomputed");
    assert!(paths.figures_dir("counting").join("steps.png").exists());
    let md = std::fs::read_to_string(&out).unwrap();
    for needle in [
        "# ftnn — reproduction report",
        "## Summary",
        "| [`counting`](#counting) | smoke | reproduced |",
        "## counting",
        "| total | 21 | 21 | reproduced |",
        "**Verdict: reproduced**",
        "**Conclusion.** total 21",
        "![counting: steps](figures/counting/steps.png)",
        "## ntk",
        "Not run yet: `cargo xtask run ntk`.",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
    // A report elsewhere links back with relative paths.
    let out2 = dir.path().join("sub/R.md");
    ftnn_experiments::report::write_report_for(&[&exp], &paths, &out2).unwrap();
    let md2 = std::fs::read_to_string(&out2).unwrap();
    assert!(md2.contains("](../figures/counting/steps.png)"), "{md2}");
}

/// `ntk` draws its figures and writes its section from the committed quick-profile results.
#[test]
fn ntk_figures_and_report_from_committed_results() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results");
    let file = root.join("ntk/results.json");
    let Some(stored) = ResultsFile::load(&file) else {
        eprintln!("skipped: no {}", file.display());
        return;
    };
    let exp = ftnn_experiments::find("ntk").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pngs = exp.figures(&stored, dir.path()).unwrap();
    assert_eq!(pngs.len(), 2);
    for p in &pngs {
        let bytes = std::fs::read(p).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", p.display());
        assert!(p.with_extension("svg").exists());
    }
    let section = exp.report(&stored);
    assert_eq!(section.rows.len(), 4);
    assert!(section.rows[0].paper.contains("0.265"));
    assert!(
        matches!(section.verdict, Verdict::Reproduced | Verdict::Differs(_)),
        "{:?}",
        section.verdict
    );
}
