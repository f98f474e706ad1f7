//! Tests of `adversarial-dropout`: FGSM against a hand-computed sign gradient, the
//! differential evolution on toy problems with a known optimum, the one-pixel attack on a toy
//! network whose best pixel is known, parameter validation, the relation rule, and a smoke run.

use candle_core::{Device, Tensor};
use ftnn_experiments::convnet::adversarial_dropout::fgsm::{fgsm_step, input_gradient, logits};
use ftnn_experiments::convnet::adversarial_dropout::onepixel::{
    differential_evolution, one_pixel_attack, DeParams,
};
use ftnn_experiments::convnet::adversarial_dropout::{
    architecture, validate_p, AdversarialDropout, LineFit,
};
use ftnn_experiments::find;
use ftnn_lab::{run_experiment, Experiment, Paths, Profile, ResultsFile, RunStatus};
use ftnn_model::seq::Architecture;
use ftnn_model::Sequential;
use indicatif::{MultiProgress, ProgressDrawTarget};
use std::collections::BTreeMap;

/// A linear softmax classifier on a 1×2×2 image: logits z = W x + b.
fn linear_net(w: &[f32], b: &[f32], k: usize) -> Sequential {
    let arch = Architecture::from_json(&format!(
        r#"{{"input_shape": [1, 2, 2], "layers": [{{"op": "flatten"}},
        {{"op": "linear", "in_features": 4, "out_features": {k}}}, {{"op": "softmax"}}]}}"#
    ))
    .unwrap();
    let t = BTreeMap::from([
        (
            "1.weight".to_string(),
            Tensor::from_slice(w, (k, 4), &Device::Cpu).unwrap(),
        ),
        (
            "1.bias".to_string(),
            Tensor::from_slice(b, k, &Device::Cpu).unwrap(),
        ),
    ]);
    Sequential::new(arch, &t, &Device::Cpu).unwrap()
}

/// For a linear softmax classifier, ∇ₓ(−log softmax(z)_y) = Σ_k (s_k − [k = y]) W_k; computed by
/// hand here for two classes, then compared with the autodiff gradient and the FGSM step.
#[test]
fn fgsm_matches_hand_computed_sign_gradient() {
    let w = [1.0f32, -2.0, 0.5, 0.0, -1.0, 1.0, 0.5, 3.0];
    let net = linear_net(&w, &[0.1, -0.2], 2);
    let x = [0.2f32, 0.4, 0.6, 0.8];
    // z0 = 0.2 − 0.8 + 0.3 + 0 + 0.1 = −0.2; z1 = −0.2 + 0.4 + 0.3 + 2.4 − 0.2 = 2.7.
    let (z0, z1) = (-0.2f64, 2.7f64);
    let s0 = 1.0 / (1.0 + (z1 - z0).exp());
    let s1 = 1.0 - s0;
    // label 0: grad = (s0 − 1) W0 + s1 W1.
    let hand: Vec<f64> = (0..4)
        .map(|i| (s0 - 1.0) * w[i] as f64 + s1 * w[4 + i] as f64)
        .collect();
    let g = input_gradient(&net, &x, &[0]).unwrap();
    for (a, b) in g.iter().zip(&hand) {
        assert!((*a as f64 - b).abs() < 1e-5, "{a} vs {b}");
    }
    let adv = fgsm_step(&x, &g, 0.3, 0.0, 1.0);
    let expected: Vec<f32> = x
        .iter()
        .zip(&hand)
        .map(|(&v, &h)| (v + 0.3 * h.signum() as f32).clamp(0.0, 1.0))
        .collect();
    assert_eq!(adv, expected);
    // clipping: 0.8 + 0.3 > 1 is clipped to 1 when the sign is +; 0.2 − 0.3 < 0 to 0.
    assert_eq!(
        fgsm_step(&[0.8, 0.2, 0.5], &[1.0, -1.0, 0.0], 0.3, 0.0, 1.0),
        vec![1.0, 0.0, 0.5]
    );
}

/// The autodiff forward pass agrees with the inference forward on the experiment's CNN.
#[test]
fn differentiable_forward_matches_inference() {
    let arch = architecture(2).unwrap();
    let values = ftnn_train::seq::init::init_values(&arch, 3);
    let net = ftnn_train::seq::init::sequential_from_values(&arch, &values, &Device::Cpu).unwrap();
    let x: Vec<f32> = (0..2 * 784)
        .map(|i| ((i * 37) % 101) as f32 / 100.0)
        .collect();
    let t = Tensor::from_slice(&x, (2, 1, 28, 28), &Device::Cpu).unwrap();
    let z = logits(&net, &t).unwrap();
    let p_autodiff =
        candle_core::Tensor::exp(&z.broadcast_sub(&z.max_keepdim(1).unwrap()).unwrap()).unwrap();
    let p_autodiff = p_autodiff
        .broadcast_div(&p_autodiff.sum_keepdim(1).unwrap())
        .unwrap();
    let a = p_autodiff.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = net
        .forward(&t)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for (u, v) in a.iter().zip(&b) {
        assert!((u - v).abs() < 1e-5, "{u} vs {v}");
    }
}

/// DE finds the minimum of a shifted sphere in 3 dimensions, and is reproducible.
#[test]
fn de_minimises_a_sphere() {
    let bounds = [(0.0, 28.0), (0.0, 28.0), (0.0, 256.0)];
    let target = [7.3, 20.1, 190.0];
    let f = |pop: &[Vec<f64>]| {
        Ok(pop
            .iter()
            .map(|c| c.iter().zip(&target).map(|(a, b)| (a - b) * (a - b)).sum())
            .collect())
    };
    let params = DeParams {
        population: 40,
        max_iter: 200,
        mutation_lo: 0.5,
        mutation_hi: 1.0,
    };
    let r = differential_evolution(&bounds, &params, 5, f, |_| Ok(false)).unwrap();
    for (a, b) in r.best.iter().zip(&target) {
        assert!((a - b).abs() < 0.05, "{:?}", r.best);
    }
    assert_eq!(r.generations, 200);
    let r2 = differential_evolution(&bounds, &params, 5, f, |_| Ok(false)).unwrap();
    assert_eq!(r.best, r2.best);
    // the stop callback ends the search
    let r3 = differential_evolution(&bounds, &params, 5, f, |_| Ok(true)).unwrap();
    assert_eq!(r3.generations, 0);
    let bad = DeParams {
        population: 3,
        ..params
    };
    assert!(differential_evolution(&bounds, &bad, 5, f, |_| Ok(false)).is_err());
}

/// A toy network whose true-class logit falls only with pixel (1, 0): the best one-pixel attack
/// sets that pixel to 255; the DE attack finds it.
#[test]
fn one_pixel_attack_finds_the_known_pixel() {
    // class 0 logit = −4·x[2] (pixel row 1, col 0) + 1; class 1 logit = 0.
    let w = [0.0f32, 0.0, -4.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    let net = linear_net(&w, &[1.0, 0.0], 2);
    let image = [0.0f32; 4];
    let params = DeParams {
        population: 20,
        max_iter: 50,
        mutation_lo: 0.5,
        mutation_hi: 1.0,
    };
    let a = one_pixel_attack(&net, &image, 0, 0, &params, 11).unwrap();
    assert!(a.clean_correct);
    assert!(a.misclassified);
    assert_eq!((a.pixel.0, a.pixel.1), (1, 0));
    // misclassified once 4·v/255 > 1, i.e. value ≥ 64; the drop is positive.
    assert!(a.pixel.2 >= 64, "{:?}", a.pixel);
    let prior = 1.0 / (1.0 + (-1.0f64).exp());
    assert!((a.prior - prior).abs() < 1e-6);
    assert!(a.after < 0.5);
}

#[test]
fn p_outside_range_is_rejected() {
    assert!(validate_p(-0.1).is_err());
    assert!(validate_p(1.5).is_err());
    assert!(validate_p(f64::NAN).is_err());
    assert!(validate_p(1.0).is_err());
    assert!(validate_p(0.0).is_ok() && validate_p(0.75).is_ok());
    let mut params = AdversarialDropout.params(Profile::Smoke);
    params.ps.push(2.0);
    assert!(params.validate().is_err());
}

/// The relation rule: |slope| > 2 se. Points on y = x + (+e, −e, …) with known residuals.
#[test]
fn relation_rule_boundary() {
    // x = 0,1,2,3; y = b·x + [e, −e, −e, e]: the fitted slope is b (the residual pattern is
    // orthogonal to x − x̄), residuals ±e, rss = 4e², se = √(4e²/2 / 5) = e·√0.4.
    let se_for = |e: f64| e * 0.4f64.sqrt();
    let xs = [0.0, 1.0, 2.0, 3.0];
    let fit = |b: f64, e: f64| {
        let ys: Vec<f64> = xs
            .iter()
            .zip([e, -e, -e, e])
            .map(|(x, r)| b * x + r)
            .collect();
        LineFit::fit(&xs, &ys)
    };
    let e = 0.1;
    let f = fit(2.0 * se_for(e) * 1.01, e);
    assert!((f.slope_se - se_for(e)).abs() < 1e-12);
    assert!(f.relation_present());
    assert!(!fit(2.0 * se_for(e) * 0.99, e).relation_present());
    assert!(!fit(-2.0 * se_for(e) * 0.99, e).relation_present());
    assert!(fit(-2.0 * se_for(e) * 1.01, e).relation_present());
}

/// The experiment's network at 64 filters is the trainer's preset of the notebook's CNN.
#[test]
fn architecture_is_the_notebook_cnn() {
    assert_eq!(
        architecture(64).unwrap().to_value(),
        ftnn_train::seq::presets::adversarial_cnn().to_value()
    );
    assert!(architecture(0).is_err());
}

/// The smoke profile runs end to end through the lab driver, with its three figures.
#[test]
fn smoke_runs() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
    let exp = find("adversarial-dropout").expect("registered");
    let hidden = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
    let status = run_experiment(exp.as_ref(), Profile::Smoke, &paths, false, None, &hidden)
        .expect("smoke run");
    let RunStatus::Ran { figures, .. } = status else {
        panic!("expected a run, got {status:?}");
    };
    assert_eq!(figures.len(), 3, "{figures:?}");
    assert!(figures.iter().all(|f| f.exists()));
    let file = ResultsFile::load(&paths.results_file("adversarial-dropout")).unwrap();
    let nets = file.results["nets"].as_array().unwrap();
    assert_eq!(nets.len(), 2);
    for n in nets {
        let acc = n["clean_accuracy"].as_f64().unwrap();
        let adv = n["fgsm_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc) && (0.0..=1.0).contains(&adv));
        assert!(n["b3_variance"].as_f64().unwrap() > 0.0);
        assert_eq!(n["attacks"].as_array().unwrap().len(), 3);
    }
}
