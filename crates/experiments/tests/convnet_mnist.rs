//! `convnet-mnist`: the smoke profile end to end; the pooled Monte Carlo std against the exact
//! enumeration on a tiny CNN (fixed seed, tolerance from the standard error over runs); the
//! SPEC §16 rule just inside and just outside the paper's range.

use candle_core::{Device, Tensor};
use ftnn_experiments::common::cnn::batched_mc;
use ftnn_experiments::convnet::mnist::ratio_rule;
use ftnn_experiments::find;
use ftnn_lab::{run_experiment, Paths, Profile, ResultsFile, RunStatus, Verdict};
use ftnn_model::seq::{seq_exact_delta, Architecture};
use ftnn_model::FailureVector;
use ftnn_train::seq::init::{init_values, sequential_from_values};
use indicatif::{MultiProgress, ProgressDrawTarget};

#[test]
fn smoke_profile_runs_end_to_end() {
    let t = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
    let exp = find("convnet-mnist").expect("registered");
    let hidden = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
    let status = run_experiment(exp.as_ref(), Profile::Smoke, &paths, false, None, &hidden)
        .expect("smoke run");
    let RunStatus::Ran { figures, .. } = status else {
        panic!("expected a run, got {status:?}");
    };
    assert_eq!(figures.len(), 3, "{figures:?}");
    assert!(figures.iter().all(|f| f.exists()));
    let file = ResultsFile::load(&paths.results_file("convnet-mnist")).unwrap();
    let models = file.results["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0]["model"], "softplus");
    assert_eq!(models[1]["model"], "shipped");
    // The shipped CNN is trained: far above chance on the smoke test subset.
    assert!(models[1]["test_accuracy"].as_f64().unwrap() > 0.9);
    for m in models {
        let digits = m["digits"].as_array().unwrap();
        assert_eq!(digits.len(), 2);
        for (c, d) in digits.iter().enumerate() {
            assert_eq!(d["class"], c);
            assert!(d["b3_std"].as_f64().unwrap() > 0.0, "{d}");
            assert!(d["b4_std"].as_f64().unwrap() > 0.0, "{d}");
            assert!(d["exp_std"].as_f64().unwrap() >= 0.0, "{d}");
        }
    }
    let section = exp.report(&file);
    assert!(!section.is_unreadable(), "{section:?}");
    // 2 judged rows, 2 shipped rows (not comparable), the accuracy row; 2 of 10 classes
    // cannot decide the headline.
    assert_eq!(section.rows.len(), 5);
    assert!(section.rows[2..4]
        .iter()
        .all(|r| r.verdict.label() == "not comparable"));
    assert_eq!(section.verdict.label(), "not comparable");
    eprintln!("smoke run: {:?}", t.elapsed());
}

/// A CNN small enough to enumerate: input [1, 3, 3] (9 crashable elements, 512 patterns).
fn tiny_cnn() -> ftnn_model::Sequential {
    let arch = Architecture::from_json(
        r#"{"input_shape": [1, 3, 3], "layers": [
            {"op": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 2},
            {"op": "softplus"},
            {"op": "flatten"},
            {"op": "linear", "in_features": 8, "out_features": 3}
        ]}"#,
    )
    .unwrap();
    sequential_from_values(&arch, &init_values(&arch, 5), &Device::Cpu).unwrap()
}

/// The pooled Monte Carlo std (10 runs of 2000 draws) is within 4 of its standard errors of
/// the exact std on every output, and the exact std is not trivially zero.
#[test]
fn pooled_monte_carlo_std_agrees_with_exact_enumeration() {
    let net = tiny_cnn();
    let x = Tensor::from_vec(
        vec![0.9f32, 0.2, 0.7, 0.4, 1.0, 0.3, 0.8, 0.6, 0.5],
        (1, 1, 3, 3),
        &Device::Cpu,
    )
    .unwrap();
    let mut pv = vec![0.0; net.n_sites()];
    pv[0] = 0.3;
    let p = FailureVector::new(pv).unwrap();
    let exact = seq_exact_delta(&net, &p, &x, None, 20).unwrap();
    assert_eq!(exact.crashable, 9);
    let mc = batched_mc(&net, &p, &x, 10, 2000, 11).unwrap();
    assert_eq!(mc.per_run, vec![2000; 10]);
    for k in 0..3 {
        assert!(exact.std[k] > 1e-4, "{:?}", exact.std);
        assert!(mc.std_se[k] > 0.0);
        let z = (mc.std[k] - exact.std[k]).abs() / mc.std_se[k];
        assert!(
            z < 4.0,
            "output {k}: MC std {} vs exact {} (se {})",
            mc.std[k],
            exact.std[k],
            mc.std_se[k]
        );
        // The standard error is that of 20 000 draws: well below the std itself.
        assert!(mc.std_se[k] < 0.05 * exact.std[k]);
    }
}

#[test]
fn batched_mc_refuses_a_single_run() {
    let net = tiny_cnn();
    let x = Tensor::zeros((1, 1, 3, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
    let mut pv = vec![0.0; net.n_sites()];
    pv[0] = 0.1;
    let p = FailureVector::new(pv).unwrap();
    assert!(batched_mc(&net, &p, &x, 1, 100, 0).is_err());
}

/// Range [1.2, 1.6], tolerance 0.1, z = 2: with se = 0.01 the allowed band is
/// [1.2 − 0.12, 1.6 + 0.12] = [1.08, 1.72].
#[test]
fn ratio_rule_just_inside_and_outside() {
    let r = ratio_rule(3);
    assert_eq!(r.judge(1.4, 0.01).verdict, Verdict::Reproduced);
    assert_eq!(r.judge(1.719, 0.01).verdict, Verdict::Reproduced);
    assert_eq!(r.judge(1.721, 0.01).verdict.label(), "differs");
    assert_eq!(r.judge(1.081, 0.01).verdict, Verdict::Reproduced);
    assert_eq!(r.judge(1.079, 0.01).verdict.label(), "differs");
    assert_eq!(r.judge(f64::NAN, 0.01).verdict.label(), "differs");
    assert!(r.quantity.contains("digit 3"));
}
