//! The runner skips up-to-date results, resumes interrupted runs from their stored steps, and
//! recomputes on --force or when the parameters change.

use ftnn_experiments::{run_experiment, Context, Experiment, Outcome, Profile, RunStatus};
use indicatif::MultiProgress;
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
        let mut total = 0usize;
        for k in 0..3 {
            total += ctx.step(&format!("step-{k}"), || {
                if *self.fail_at.lock().unwrap() == Some(k) {
                    anyhow::bail!("interrupted at step {k}");
                }
                self.computed.fetch_add(1, Ordering::SeqCst);
                Ok(k * self.size)
            })?;
        }
        Ok(Outcome {
            results: serde_json::json!({ "total": total }),
            conclusion: format!("total {total}"),
            tables: vec![],
        })
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
    // Interrupted after two steps: nothing final is written.
    assert!(run_experiment(&exp, Profile::Smoke, dir.path(), false, &multi).is_err());
    assert_eq!(exp.computed.load(Ordering::SeqCst), 2);
    assert!(!dir.path().join("counting/results.json").exists());
    // Resumed: only the third step is computed.
    *exp.fail_at.lock().unwrap() = None;
    let status = run_experiment(&exp, Profile::Smoke, dir.path(), false, &multi).unwrap();
    assert!(matches!(status, RunStatus::Ran { ref conclusion, .. } if conclusion == "total 30"));
    assert_eq!(exp.computed.load(Ordering::SeqCst), 3);
    let stored: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("counting/results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(stored["results"]["total"], 30);
    assert_eq!(stored["profile"], "smoke");
    // Up to date: nothing runs.
    let status = run_experiment(&exp, Profile::Smoke, dir.path(), false, &multi).unwrap();
    assert_eq!(status, RunStatus::UpToDate);
    assert_eq!(exp.computed.load(Ordering::SeqCst), 3);
    // Another profile has other parameters: it runs.
    run_experiment(&exp, Profile::Quick, dir.path(), false, &multi).unwrap();
    assert_eq!(exp.computed.load(Ordering::SeqCst), 6);
    // --force recomputes every step.
    run_experiment(&exp, Profile::Quick, dir.path(), true, &multi).unwrap();
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
    run_experiment(exp.as_ref(), Profile::Smoke, dir.path(), false, &multi).unwrap();
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("ntk/results.json")).unwrap(),
    )
    .unwrap();
    let slope = |i: usize| v["results"]["fits"][i]["fit"]["slope"].as_f64().unwrap();
    assert_eq!(v["results"]["fits"][0]["scheme"], "lecun");
    assert!(slope(0) > -0.1, "LeCun slope {}", slope(0));
    assert!(slope(1) < -0.3 && slope(1) > -0.7, "1/n slope {}", slope(1));
    assert!(dir.path().join("ntk/widths.csv").exists());
}
