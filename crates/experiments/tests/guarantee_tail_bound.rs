//! `tail-bound`: the plumbing of the §6 quantities into the tail curves (against the crates'
//! own functions and exact enumeration on a small network), the pair classification and its
//! counts (by hand), typed parameter errors, and the smoke profile end to end.

use ftnn_certify::{
    balancedness, chebyshev, chernoff, exact_tail, monte_carlo_tail, CertifyError, CP_CONFIDENCE,
};
use ftnn_experiments::find;
use ftnn_experiments::guarantee::tail_bound::{
    clopper_pearson_lower, guarantee_holds, input_tails, summarise_chebyshev, summarise_pairs,
    InputTail, PairClass, Params, TailBound, TailPoint,
};
use ftnn_lab::{run_experiment, Experiment, Paths, Profile, ResultsFile, RunStatus, Verdict};
use ftnn_model::{Activation, FailureVector, Init, Inputs, Loss, Mlp};
use indicatif::{MultiProgress, ProgressDrawTarget};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// A small sigmoid network [4, 8, 3] with p = 0.05 at hidden layer 1 (8 crashable neurons:
/// exact enumeration is cheap), 3 inputs and one-hot targets.
fn small() -> (Mlp, FailureVector, Inputs, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let net = Mlp::init(&[4, 8, 3], Activation::Sigmoid, 1.0, Init::Paper, &mut rng).unwrap();
    let x: Vec<f32> = (0..12)
        .map(|_| {
            let z: f32 = StandardNormal.sample(&mut rng);
            z
        })
        .collect();
    let targets = vec![1., 0., 0., 0., 1., 0., 0., 0., 1.];
    let p = FailureVector::single(3, 1, 0.05).unwrap();
    (net, p, Inputs::new(x, 3, 4).unwrap(), targets)
}

#[test]
fn tails_carry_the_certify_quantities_and_match_the_exact_tail() {
    let (net, p, x, t) = small();
    let eps = [1e-4, 1e-3, 1e-2, 3e-2];
    let r = 20_000;
    let (delta0, inputs) = input_tails(&net, &p, &x, &t, 0.009, 1e-5, &eps, r, 3).unwrap();
    // δ₀ from the crate's own formulas.
    let w = net.layers()[0].weight();
    let q = balancedness(w, 8, 4).unwrap();
    assert_eq!(delta0, chernoff(8, q, 0.05).unwrap().delta0);
    // b3 on the loss, exactly as ftnn-bounds computes it.
    let moments = ftnn_bounds::b3_loss(&net, &p, &x, &t, Loss::Mse).unwrap();
    assert_eq!(inputs.len(), 3);
    for (j, &e) in eps.iter().enumerate() {
        let mc = monte_carlo_tail(&net, &p, &x, &t, Loss::Mse, e, r, 3).unwrap();
        let exact = exact_tail(&net, &p, &x, &t, Loss::Mse, e, 20).unwrap();
        for (i, input) in inputs.iter().enumerate() {
            assert_eq!(input.mean, moments.mean[i]);
            assert_eq!(input.var, moments.var[i]);
            let pt = input.points[j];
            assert_eq!(pt.epsilon, e);
            assert_eq!(pt.exceed, mc[i].exceed);
            assert_eq!(pt.chebyshev, chebyshev(input.mean, input.var, e));
            assert_eq!(pt.bound, pt.chebyshev.map(|c| delta0 + c));
            assert!(pt.lower <= pt.tail && pt.tail <= pt.upper, "{pt:?}");
            // The right loss, targets and crashes: P̂ within 5 standard errors of the exact
            // tail (+ 1/R for a tail near 0).
            let se = (exact[i] * (1.0 - exact[i]) / r as f64).sqrt();
            assert!(
                (pt.tail - exact[i]).abs() <= 5.0 * se + 1.0 / r as f64,
                "input {i}, ε = {e}: P̂ {} vs exact {}",
                pt.tail,
                exact[i]
            );
        }
    }
    // The same seed at every ε: each tail curve is non-increasing.
    for input in &inputs {
        for w in input.points.windows(2) {
            assert!(w[1].exceed <= w[0].exceed);
        }
    }
}

#[test]
fn clopper_pearson_lower_by_hand() {
    assert_eq!(clopper_pearson_lower(0, 100, CP_CONFIDENCE), 0.0);
    // k = n: P(Bin(n, u) ≥ n) = uⁿ = 10⁻³ → u = 10^{−3/n}; n = 10: 0.501187.
    let u = clopper_pearson_lower(10, 10, CP_CONFIDENCE);
    assert!((u - 10f64.powf(-0.3)).abs() < 1e-12, "{u}");
    // k = 1: P(Bin(n, u) ≥ 1) = 1 − (1 − u)ⁿ = 10⁻³ → u = 1 − (1 − 10⁻³)^{1/n}; n = 2.
    let u = clopper_pearson_lower(1, 2, CP_CONFIDENCE);
    assert!((u - (1.0 - 0.999f64.sqrt())).abs() < 1e-12, "{u}");
}

fn point(tail: f64, lower: f64, bound: Option<f64>) -> TailPoint {
    TailPoint {
        epsilon: 0.01,
        exceed: 0,
        tail,
        lower,
        upper: 1.0,
        chebyshev: bound,
        bound,
    }
}

#[test]
fn pairs_are_classified_and_counted() {
    assert_eq!(point(0.1, 0.05, None).class(), PairClass::Infeasible);
    assert_eq!(point(0.1, 0.05, Some(1.0)).class(), PairClass::Trivial);
    assert_eq!(point(0.1, 0.05, Some(0.2)).class(), PairClass::Holds);
    assert_eq!(
        point(0.1, 0.05, Some(0.07)).class(),
        PairClass::BelowEstimate
    );
    assert_eq!(point(0.1, 0.05, Some(0.02)).class(), PairClass::Violated);
    let input = |pts: Vec<TailPoint>| InputTail {
        index: 0,
        mean: 0.0,
        var: 0.0,
        verdict: ftnn_certify::VerdictKind::Certified,
        tail_at_epsilon: 0.0,
        upper_at_epsilon: 0.0,
        points: pts,
    };
    // ε₀: violated (ratio 0.1/0.02 = 5), holds; ε₁: infeasible, below estimate;
    // ε₂: trivial, violated (ratio 0.3/0.01 = 30).
    let inputs = vec![
        input(vec![
            point(0.1, 0.05, Some(0.02)),
            point(0.1, 0.05, None),
            point(0.1, 0.05, Some(2.0)),
        ]),
        input(vec![
            point(0.1, 0.05, Some(0.2)),
            point(0.1, 0.05, Some(0.07)),
            point(0.3, 0.2, Some(0.01)),
        ]),
    ];
    let s = summarise_pairs(&inputs, &[0.01, 0.02, 0.03]);
    assert_eq!(
        (s.pairs, s.infeasible, s.trivial, s.informative),
        (6, 1, 1, 4)
    );
    assert_eq!((s.below_estimate, s.violated, s.inputs_violated), (3, 2, 2));
    assert_eq!(s.violated_fraction, 0.5);
    assert!((s.max_ratio - 30.0).abs() < 1e-12);
    assert_eq!(s.fraction_by_epsilon[0], 0.5);
    assert_eq!(s.fraction_by_epsilon[1], 0.0);
    assert_eq!(s.fraction_by_epsilon[2], 1.0);
    assert!(!guarantee_holds(&s, 0.01));
    assert!(guarantee_holds(&s, 0.5));
    // The Chebyshev term alone: here it equals the bound (δ₀ = 0 in these points) except that
    // the classes use `chebyshev`, set equal to `bound` by `point`.
    assert_eq!(summarise_chebyshev(&inputs, &[0.01, 0.02, 0.03]), s);
    let mut p = point(0.1, 0.05, Some(0.2));
    p.chebyshev = Some(0.01);
    assert_eq!(p.class(), PairClass::Holds);
    assert_eq!(p.chebyshev_class(), PairClass::Violated);
}

#[test]
fn bad_parameters_are_typed_errors() {
    let good = TailBound.params(Profile::Smoke);
    assert!(good.validate().is_ok());
    let check = |f: &dyn Fn(&mut Params), name: &str| {
        let mut p = good.clone();
        f(&mut p);
        match p.validate() {
            Err(CertifyError::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: expected an invalid parameter, got {other:?}"),
        }
    };
    check(&|p| p.p = 0.0, "p");
    check(&|p| p.epsilons = vec![0.01, -1.0], "epsilon");
    check(&|p| p.epsilon = f64::NAN, "epsilon");
    check(&|p| p.epsilons.clear(), "epsilons");
    check(&|p| p.delta = 1.0, "delta");
    check(&|p| p.mc_inputs = 0, "mc_inputs × repetitions");
    check(&|p| p.layer = 3, "layer");
    check(&|p| p.violation_tolerance = 1.5, "violation_tolerance");
}

#[test]
fn smoke_profile_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
    let exp = find("tail-bound").expect("registered");
    let hidden = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
    let status = run_experiment(exp.as_ref(), Profile::Smoke, &paths, false, None, &hidden)
        .expect("smoke run");
    let RunStatus::Ran { figures, .. } = status else {
        panic!("expected a run, got {status:?}");
    };
    assert_eq!(figures.len(), 3, "{figures:?}");
    assert!(figures.iter().all(|f| f.exists()));
    let file = ResultsFile::load(&paths.results_file("tail-bound")).unwrap();
    let params = TailBound.params(Profile::Smoke);
    let inputs = file.results["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), params.mc_inputs);
    for i in inputs {
        assert_eq!(i["points"].as_array().unwrap().len(), params.epsilons.len());
    }
    // R = ⌈2 ln(10⁵)/ln 3⌉ = 21.
    assert_eq!(file.results["network"]["copies"], 21);
    let q = file.results["network"]["q"].as_f64().unwrap();
    assert!(q > 0.0 && q <= 1.0, "{q}");
    let section = exp.report(&file);
    assert_eq!(section.rows.len(), 3);
    // The verdicts follow the rule on the stored counts: the paper's bound (overall and
    // first row) and the Chebyshev term alone (second row).
    for (key, row) in [("summary", 0), ("chebyshev_summary", 1)] {
        let s = &file.results[key];
        let fraction = s["violated_fraction"].as_f64().unwrap_or(f64::NAN);
        let informative = s["informative"].as_u64().unwrap();
        let holds = informative > 0 && fraction <= params.violation_tolerance;
        assert_eq!(
            section.rows[row].verdict == Verdict::Reproduced,
            holds,
            "{section:?}"
        );
    }
    assert_eq!(section.verdict, section.rows[0].verdict);
}
