//! `convnet-vgg16`: the smoke profile end to end; Monte Carlo against the exact enumeration
//! on the real stand-in (EfficientNet-Lite0, fixed seed, tolerance from the standard errors);
//! the SPEC §16 rule just inside and just outside 2×; the overall verdict; a missing VGG16
//! file skips its rows with a message naming the file.

use ftnn_data::images::{load_image, Preprocess};
use ftnn_data::DataDir;
use ftnn_experiments::convnet::vgg16::{
    crash_mask, measure, overall_verdict, ratio_rule, vgg16_status, ConvnetVgg16, OutputKind,
    Results, Row, Skipped, ORIGINAL_CLASSES,
};
use ftnn_experiments::find;
use ftnn_lab::{run_experiment, Experiment, Paths, Profile, ResultsFile, RunStatus, Verdict};
use ftnn_model::Sequential;
use indicatif::{MultiProgress, ProgressDrawTarget};

#[test]
fn smoke_profile_runs_end_to_end() {
    let t = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
    let exp = find("convnet-vgg16").expect("registered");
    let hidden = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
    let status = run_experiment(exp.as_ref(), Profile::Smoke, &paths, false, None, &hidden)
        .expect("smoke run");
    let RunStatus::Ran { figures, .. } = status else {
        panic!("expected a run, got {status:?}");
    };
    assert!(figures.len() >= 2, "{figures:?}");
    assert!(figures.iter().all(|f| f.exists()));
    let file = ResultsFile::load(&paths.results_file("convnet-vgg16")).unwrap();
    let rows = file.results["rows"].as_array().unwrap();
    let stand_in = &rows[0];
    assert_eq!(stand_in["model"], "efficientnet-lite0");
    assert_eq!(stand_in["patterns"], 8);
    for k in ["exact_std", "mc_std", "b3_std", "b4_std"] {
        let v = stand_in[k].as_array().unwrap();
        assert_eq!(v.len(), 5, "{k}");
        assert!(v.iter().all(|x| x.as_f64().unwrap() > 0.0), "{k}: {v:?}");
    }
    let section = exp.report(&file);
    assert!(!section.is_unreadable(), "{section:?}");
    let data = DataDir::locate().unwrap();
    if vgg16_status(&data).is_err() {
        // No VGG16 imported: its row says which file was looked for, and nothing failed.
        let skipped = file.results["skipped"].as_array().unwrap();
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("vgg16.safetensors"));
        assert!(section
            .rows
            .iter()
            .any(|r| r.ours.contains("skipped") && r.ours.contains("vgg16.safetensors")));
        assert_eq!(section.verdict.label(), "not comparable");
    }
    eprintln!("smoke run: {:?}", t.elapsed());
}

/// Monte Carlo's std and mean agree with the exact enumeration within 4 standard errors (the
/// errors from the spread of 8 independent runs of 16 draws) on the shipped EfficientNet-Lite0
/// with 4 crashable pixels (16 patterns), fixed seed.
#[test]
fn monte_carlo_agrees_with_exact_on_the_stand_in() {
    let exp_params = {
        let mut p = Experiment::params(&ConvnetVgg16, Profile::Quick);
        p.crashable = 4;
        p.mc_batches = 8;
        p.mc_per_batch = 16;
        p.seed = 7;
        p
    };
    let dir = DataDir::locate().unwrap();
    let net = Sequential::efficientnet_lite0(&dir, &candle_core::Device::Cpu).unwrap();
    let x = load_image(
        &dir.file("images/chelsea.png"),
        Preprocess::Efficientnet,
        net.input_shape(),
    )
    .unwrap();
    let (mask, pos) = crash_mask(4, 224, 224).unwrap();
    assert_eq!(pos, vec![0, 224, 448, 672]);
    let m = measure(&net, &x, &mask, &exp_params, &ORIGINAL_CLASSES).unwrap();
    assert_eq!(m.patterns, 16);
    assert_eq!(m.mc_draws, 128);
    for k in 0..5 {
        assert!(m.exact_std[k] > 0.0 && m.mc_std_se[k] > 0.0);
        let zs = (m.mc_std[k] - m.exact_std[k]).abs() / m.mc_std_se[k];
        let zm = (m.mc_mean[k] - m.exact_mean[k]).abs() / m.mc_mean_se[k];
        assert!(
            zs < 4.0,
            "class {k}: MC std {} vs exact {} (SE {})",
            m.mc_std[k],
            m.exact_std[k],
            m.mc_std_se[k]
        );
        assert!(
            zm < 4.0,
            "class {k}: MC mean {} vs exact {} (SE {})",
            m.mc_mean[k],
            m.exact_mean[k],
            m.mc_mean_se[k]
        );
    }
}

#[test]
fn ratio_rule_just_inside_and_outside_2x() {
    let r = ratio_rule(285);
    for v in [1.0, 1.99, 0.51] {
        assert_eq!(r.judge(v, 0.0).verdict, Verdict::Reproduced, "{v}");
    }
    for v in [2.01, 0.49, 0.0, f64::NAN] {
        assert_eq!(r.judge(v, 0.0).verdict.label(), "differs", "{v}");
    }
}

/// A row whose b3 / exact ratios are `ratios` (exact std 1e-3).
fn row(model: &str, stand_in: bool, ratios: &[f64]) -> Row {
    let n = ratios.len();
    let exact = vec![1e-3; n];
    Row {
        model: model.into(),
        stand_in,
        output: OutputKind::Probabilities,
        classes: ORIGINAL_CLASSES[..n].to_vec(),
        clean: vec![0.1; n],
        patterns: 1024,
        exact_mean: vec![0.0; n],
        exact_std: exact.clone(),
        mc_draws: 1000,
        mc_mean: vec![0.0; n],
        mc_mean_se: vec![1e-5; n],
        mc_std: exact.clone(),
        mc_std_se: vec![1e-5; n],
        b3_mean: vec![0.0; n],
        b3_std: ratios.iter().map(|r| r * 1e-3).collect(),
        b4_mean: vec![0.0; n],
        b4_std: exact,
    }
}

#[test]
fn overall_verdict_follows_the_vgg16_rows_only() {
    let stand_in = row("efficientnet-lite0", true, &[1.5, 3.0]);
    let inside = Results {
        crash_positions: vec![0],
        rows: vec![stand_in.clone(), row("vgg16", false, &[1.9, 0.6])],
        skipped: vec![],
    };
    assert_eq!(overall_verdict(&inside), Verdict::Reproduced);
    let outside = Results {
        rows: vec![stand_in.clone(), row("vgg16", false, &[1.9, 2.1])],
        ..inside.clone()
    };
    assert_eq!(overall_verdict(&outside).label(), "differs");
    // Without VGG16, even a stand-in inside 2× does not decide.
    let skipped = Results {
        crash_positions: vec![0],
        rows: vec![row("efficientnet-lite0", true, &[1.0, 1.0])],
        skipped: vec![Skipped {
            model: "vgg16".into(),
            file: "/x/models/vgg16.safetensors".into(),
            reason: "not found".into(),
        }],
    };
    let v = overall_verdict(&skipped);
    assert_eq!(v.label(), "not comparable");
    assert!(v.reason().contains("/x/models/vgg16.safetensors"), "{v}");
    assert!(v.reason().contains("2 of 2"), "{v}");
}

#[test]
fn missing_vgg16_is_skipped_with_the_file_named() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("SHA256SUMS"), "").unwrap();
    let dir = DataDir::new(tmp.path());
    let s = vgg16_status(&dir).unwrap_err();
    assert_eq!(s.model, "vgg16");
    assert!(s.file.ends_with("models/vgg16.safetensors"), "{}", s.file);
    assert!(s.reason.contains(&s.file) && s.reason.contains("import-vgg16"));
    // Present (any content): the row is attempted.
    std::fs::create_dir_all(tmp.path().join("models")).unwrap();
    std::fs::write(tmp.path().join("models/vgg16.safetensors"), b"x").unwrap();
    assert!(vgg16_status(&dir).is_ok());
}
