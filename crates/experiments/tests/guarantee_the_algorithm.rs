//! `the-algorithm` (Algorithm 1, SPEC §6): the smoke profile end to end, resuming after an
//! interrupted iteration, the parameter checks, and the verdict rules on constructed traces.

use ftnn_certify::algorithm::{Action, Record, Rule};
use ftnn_experiments::find;
use ftnn_experiments::guarantee::the_algorithm::verdict::{self, judge, overall, stages};
use ftnn_experiments::guarantee::the_algorithm::{
    IterationStep, ParamsError, Results, TheAlgorithm,
};
use ftnn_lab::{run_experiment, Experiment, Paths, Profile, ResultsFile, RunStatus, Verdict};
use indicatif::{MultiProgress, ProgressDrawTarget};
use std::path::{Path, PathBuf};

fn hidden() -> MultiProgress {
    MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
}

/// Runs the smoke profile into `root`.
fn smoke(root: &Path) -> (Paths, RunStatus) {
    let paths = Paths::new(root.join("results"), root.join("figures"));
    let exp = find("the-algorithm").expect("registered");
    let status =
        run_experiment(exp.as_ref(), Profile::Smoke, &paths, false, None, &hidden()).unwrap();
    (paths, status)
}

/// The stored records (without the timings).
fn records(paths: &Paths) -> Vec<Record> {
    let file = ResultsFile::load(&paths.results_file("the-algorithm")).expect("results");
    let results: Results = serde_json::from_value(file.results).expect("typed results");
    results.history()
}

/// Every stored iteration step file under `root`.
fn step_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("iteration-") && n.ends_with(".json"))
            {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out.sort();
    out
}

#[test]
fn smoke_runs_resumes_and_reports() {
    let a = tempfile::tempdir().unwrap();
    let (paths, status) = smoke(a.path());
    let RunStatus::Ran { figures, .. } = status else {
        panic!("expected a run, got {status:?}");
    };
    assert_eq!(figures.len(), 2, "{figures:?}");
    assert!(figures.iter().all(|f| f.exists()));
    let history = records(&paths);
    // Smoke: at most 2 iterations; the first starts at N = 1, where δ₀ = exp(−q·KL(α‖p)) ≥
    // exp(−KL(e^2.5·0.01 ‖ 0.01)) ≈ 0.82 > 1/6 whatever q ≤ 1 is, so rule 2 widens.
    assert!(!history.is_empty() && history.len() <= 2);
    assert_eq!(history[0].n, 1);
    assert_eq!(history[0].rule, Rule::Chernoff);
    assert!(history[0].delta0 > 0.81, "{}", history[0].delta0);
    if history.len() == 2 {
        assert_eq!(history[1].n, 101);
    }
    // The stored report has the seven verdict rows; smoke's set-up is not the paper's.
    let file = ResultsFile::load(&paths.results_file("the-algorithm")).unwrap();
    let section = find("the-algorithm").unwrap().report(&file);
    assert_eq!(section.rows.len(), 7, "{:?}", section.rows);
    assert!(
        matches!(section.verdict, Verdict::NotComparable(_)),
        "{:?}",
        section.verdict
    );
    // R = ⌈2 ln(1e5)/ln 3⌉ = ⌈20.96⌉ = 21 is comparable in every profile.
    let r = section.rows.last().unwrap();
    assert_eq!(r.ours, "21");
    assert_eq!(r.verdict, Verdict::Reproduced);
    assert!(section.notes.contains("| 1 | 1 |"), "our trace table");

    // Interrupt a second run after its first iteration: drop the later steps and the results,
    // run again — the same records, bit for bit.
    let b = tempfile::tempdir().unwrap();
    let (paths_b, _) = smoke(b.path());
    let steps = step_files(b.path());
    assert_eq!(steps.len(), history.len());
    for s in &steps[1..] {
        std::fs::remove_file(s).unwrap();
    }
    std::fs::remove_file(paths_b.results_file("the-algorithm")).unwrap();
    let (_, status) = smoke(b.path());
    assert!(matches!(status, RunStatus::Ran { .. }), "{status:?}");
    assert_eq!(records(&paths_b), history);
}

#[test]
fn bad_parameters_are_typed_errors() {
    let good = TheAlgorithm.params(Profile::Smoke);
    assert!(good.validate().is_ok());
    let mut p = good.clone();
    p.max_iterations = 0;
    assert!(matches!(p.validate(), Err(ParamsError::NoIterations)));
    let mut p = good.clone();
    p.example = 1_000;
    assert!(matches!(
        p.validate(),
        Err(ParamsError::Example {
            example: 1000,
            train: 1000
        })
    ));
    let mut p = good.clone();
    p.train_examples = Some(0);
    assert!(matches!(p.validate(), Err(ParamsError::EmptyData(_))));
    let mut p = good.clone();
    p.settings.p = 0.5; // α = e^2.5 · 0.5 > 1
    assert!(matches!(p.validate(), Err(ParamsError::Settings(_))));
    let mut p = good;
    p.settings.verify = 0;
    assert!(matches!(p.validate(), Err(ParamsError::Settings(_))));
}

#[test]
fn the_paper_profile_is_the_papers_setup() {
    let paper = TheAlgorithm.params(Profile::Paper);
    assert_eq!(verdict::setup_difference(&paper), None);
    let s = &paper.settings;
    assert_eq!(
        (s.epochs, s.batch_size, s.verify, s.n_step),
        (30, 1000, 10_000, 100)
    );
    assert_eq!(
        (s.p, s.epsilon, s.delta, s.hidden2),
        (0.01, 0.009, 1e-5, 100)
    );
    assert_eq!(s.thresholds.d_max, 100.0);
    assert_eq!((paper.train_examples, paper.example), (None, 0));
    assert_eq!(paper.steps_per_iteration(), 1_800);
    let quick = TheAlgorithm.params(Profile::Quick);
    let why = verdict::setup_difference(&quick).expect("quick differs");
    assert!(why.contains("10000 of the 60 000"), "{why}");
    // Quick changes sizes only.
    assert_eq!(quick.settings.batch_size, 1000);
    assert_eq!(quick.settings.thresholds, s.thresholds);
    assert_eq!(quick.settings.verify, 10_000);
}

/// A record of iteration `k` with the given final values (fields that no rule reads are
/// copied from `base`).
fn record(base: &Record, k: usize, n: usize, action: Action) -> Record {
    let mut r = base.clone();
    r.iteration = k;
    r.n = n;
    r.action = action;
    r
}

/// The paper's ten iterations as records, the last one with the given values.
fn paper_like(base: &Record, last_n: usize, accuracy: f64, tail: f64, upper: f64) -> Results {
    let mut iterations = Vec::new();
    for (i, p) in verdict::PAPER_TRACE.iter().enumerate() {
        let mut r = record(base, i + 1, p.n, p.action);
        r.lambda = p.lambda;
        r.psi_d = p.psi_d;
        r.psi_s = p.psi_d * 100.0;
        iterations.push(IterationStep {
            record: r,
            seconds: 1.0,
        });
    }
    let last = &mut iterations.last_mut().unwrap().record;
    last.n = last_n;
    last.valid_accuracy = accuracy;
    last.tail = tail;
    last.upper = upper;
    Results {
        iterations,
        copies: 21,
        train_rows: 60_000,
        valid_rows: 10_000,
    }
}

#[test]
fn verdict_rules_decide_on_constructed_traces() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = smoke(dir.path());
    let base = records(&paths)[0].clone();
    let paper = TheAlgorithm::paper_params();

    // The paper's own trace is reproduced.
    let same = paper_like(&base, 501, 0.9157, 0.07, 0.077);
    let rows = judge(&paper, &same);
    assert!(
        rows.iter().all(|r| r.verdict == Verdict::Reproduced),
        "{rows:?}"
    );
    assert_eq!(overall(&paper, &rows), Verdict::Reproduced);

    // Accuracy tolerance: 2·√(se² + se_paper²) + .01 with se = √(a(1 − a)/1e4): 0.01820 at
    // a = 0.8987 and 0.01824 at a = 0.8967 — so 0.9157 − 0.0170 passes, 0.9157 − 0.0190 does not.
    let acc = |a: f64| {
        judge(&paper, &paper_like(&base, 501, a, 0.07, 0.077))[4]
            .verdict
            .clone()
    };
    assert_eq!(acc(0.9157 - 0.0170), Verdict::Reproduced);
    assert!(matches!(acc(0.9157 - 0.0190), Verdict::Differs(_)));

    // Two width steps away, or a tail that the Monte Carlo check does not verify, differ.
    let rows = judge(&paper, &paper_like(&base, 701, 0.9157, 0.07, 0.077));
    assert!(matches!(rows[2].verdict, Verdict::Differs(_)));
    assert!(matches!(overall(&paper, &rows), Verdict::Differs(_)));
    let rows = judge(&paper, &paper_like(&base, 501, 0.9157, 0.10, 0.34));
    assert!(
        matches!(rows[5].verdict, Verdict::Differs(_)),
        "{:?}",
        rows[5]
    );

    // A loop that hit the iteration limit is never reproduced.
    let mut cut = paper_like(&base, 501, 0.9157, 0.07, 0.077);
    cut.iterations.pop();
    let rows = judge(&paper, &cut);
    assert!(matches!(rows[0].verdict, Verdict::Differs(_)));

    // On the quick set-up everything but R is not comparable.
    let quick = TheAlgorithm.params(Profile::Quick);
    let rows = judge(&quick, &same);
    assert!(rows[..6]
        .iter()
        .all(|r| matches!(r.verdict, Verdict::NotComparable(_))));
    assert_eq!(rows[6].verdict, Verdict::Reproduced);
    assert!(matches!(overall(&quick, &rows), Verdict::NotComparable(_)));
}

#[test]
fn stages_merge_repeated_actions() {
    let a = [
        Action::Widen,
        Action::RaisePsi,
        Action::RaisePsi,
        Action::RaiseLambdaAndWiden,
        Action::RaiseLambdaAndWiden,
        Action::StopCertified,
    ];
    assert_eq!(stages(a), verdict::PAPER_STAGES.to_vec());
    assert_eq!(
        stages(verdict::PAPER_TRACE.iter().map(|p| p.action)),
        verdict::PAPER_STAGES.to_vec()
    );
}
