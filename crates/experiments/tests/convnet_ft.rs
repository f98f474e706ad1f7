//! `convnet-ft`: the smoke profile end to end; the width fit on a known power law; the SPEC
//! §16 rule (slope + z·se < 0) just inside and just outside.

use ftnn_experiments::convnet::ft::{
    mean_se, width_fit, width_verdict, ModelErrors, SiteError, WidthFit,
};
use ftnn_experiments::find;
use ftnn_lab::{run_experiment, Paths, Profile, ResultsFile, RunStatus, Verdict};
use indicatif::{MultiProgress, ProgressDrawTarget};

#[test]
fn smoke_profile_runs_end_to_end() {
    let t = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
    let exp = find("convnet-ft").expect("registered");
    let hidden = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
    let status = run_experiment(exp.as_ref(), Profile::Smoke, &paths, false, None, &hidden)
        .expect("smoke run");
    let RunStatus::Ran { figures, .. } = status else {
        panic!("expected a run, got {status:?}");
    };
    assert_eq!(figures.len(), 2, "{figures:?}");
    assert!(figures.iter().all(|f| f.exists()));
    let file = ResultsFile::load(&paths.results_file("convnet-ft")).unwrap();
    let models = file.results["models"].as_array().unwrap();
    // Widths 0.25 and 0.5, then the shipped MNIST CNN.
    assert_eq!(models.len(), 3);
    assert_eq!(models[2]["model"], "shipped-mnist");
    for m in models {
        let sites = m["sites"].as_array().unwrap();
        assert!(sites.len() > 2, "every site is crashed: {m}");
        assert_eq!(sites[0]["site"], 0);
        for s in sites {
            assert_eq!(s["mean_sq"].as_array().unwrap().len(), 3);
            assert_eq!(s["var_sq"].as_array().unwrap().len(), 3);
        }
    }
    let section = exp.report(&file);
    assert!(!section.is_unreadable(), "{section:?}");
    // Two widths cannot be fitted: not comparable, said so.
    assert_eq!(section.verdict.label(), "not comparable");
    assert!(file.results["skipped"].as_array().unwrap().len() == 1);
    eprintln!("smoke run: {:?}", t.elapsed());
}

fn model(width: f64, values: [f64; 3]) -> ModelErrors {
    ModelErrors {
        model: format!("width-{width}"),
        width: Some(width),
        trained: None,
        parameters: 0,
        sites: vec![SiteError {
            site: 0,
            label: "input".into(),
            size: 1,
            mean_sq: values.to_vec(),
            var_sq: values.iter().map(|v| v * v).collect(),
        }],
    }
}

/// Errors exactly 2·m^−1.5 (runs equal): slope −1.5, se 0; the variance measure (squared)
/// −3.0.
#[test]
fn width_fit_recovers_a_power_law() {
    let ms: Vec<ModelErrors> = [0.5, 1.0, 2.0, 4.0]
        .iter()
        .map(|&w| {
            let v = 2.0 * f64::powf(w, -1.5);
            model(w, [v, v, v])
        })
        .collect();
    let f = width_fit(&ms, false).unwrap();
    assert!((f.slope + 1.5).abs() < 1e-9, "{f:?}");
    assert!(f.se.abs() < 1e-9);
    let g = width_fit(&ms, true).unwrap();
    assert!((g.slope + 3.0).abs() < 1e-9, "{g:?}");
    // Two widths: no fit.
    assert!(width_fit(&ms[..2], false).is_none());
}

#[test]
fn mean_se_by_hand() {
    // {1, 2, 3}: mean 2, sd 1, se 1/√3.
    let (m, se) = mean_se(&[1.0, 2.0, 3.0]);
    assert!((m - 2.0).abs() < 1e-12);
    assert!((se - 1.0 / 3f64.sqrt()).abs() < 1e-12);
}

/// Reproduced ⇔ slope + 2·se < 0.
#[test]
fn width_rule_just_inside_and_outside() {
    let v = |slope, se| width_verdict(WidthFit { slope, se }, 2.0);
    assert_eq!(v(-0.5, 0.249), Verdict::Reproduced);
    assert_eq!(v(-0.5, 0.251).label(), "differs");
    assert_eq!(v(-0.5, 0.25).label(), "differs");
    assert_eq!(v(0.3, 0.01).label(), "differs");
    assert_eq!(v(f64::NAN, 0.1).label(), "differs");
}
