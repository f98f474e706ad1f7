//! `worst-input-search`: selection and perturbation by hand, the genetic search on a known
//! fitness and on a tiny network whose worst input is known, the error functional against a
//! hand formula, and the smoke profile end to end.

use ftnn_bounds::MeanStd;
use ftnn_experiments::find;
use ftnn_experiments::guarantee::worst_input_search::{
    mc_second_moment, perturb, rms_of_bound, search, select, SearchParams,
};
use ftnn_lab::{run_experiment, Paths, Profile, ResultsFile, RunStatus};
use ftnn_model::{Activation, Dense, FailureVector, Inputs, Mlp};
use indicatif::{MultiProgress, ProgressDrawTarget};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn settings(generations: usize, sigma: f64) -> SearchParams {
    SearchParams {
        keep: 5,
        children: 20,
        sigma,
        generations,
        lo: 0.0,
        hi: 1.0,
    }
}

#[test]
fn select_keeps_the_largest_first_ties_by_index_nan_last() {
    assert_eq!(select(&[1.0, 3.0, 3.0, f64::NAN, 2.0], 3), vec![1, 2, 4]);
    assert_eq!(select(&[f64::NAN, 0.5], 5), vec![1, 0]);
    assert!(select(&[], 2).is_empty());
}

#[test]
fn perturbations_stay_in_the_box_with_the_asked_spread() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let s = settings(1, 0.0);
    assert_eq!(
        perturb(&[0.3, 1.7, -0.2], &s, &mut rng),
        vec![0.3, 1.0, 0.0]
    );
    let s = settings(1, 0.05);
    let x = vec![0.5f32; 20_000];
    let y = perturb(&x, &s, &mut rng);
    assert!(y.iter().all(|v| (0.0..=1.0).contains(v)));
    // Mean 0.5 and sd 0.05 (clipping at 10 sd is negligible): the sample mean within 5
    // standard errors (0.05/√n), the sample sd within 5 of its standard error (≈ sd/√(2n)).
    let n = y.len() as f64;
    let m = y.iter().map(|&v| v as f64).sum::<f64>() / n;
    let sd = (y.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    assert!((m - 0.5).abs() < 5.0 * 0.05 / n.sqrt(), "{m}");
    assert!((sd - 0.05).abs() < 5.0 * 0.05 / (2.0 * n).sqrt(), "{sd}");
}

#[test]
fn search_climbs_a_known_fitness_with_elitism() {
    // Fitness −‖x − t‖², maximal at t; deterministic, so the kept best never gets worse.
    let t = [0.9f32, 0.2, 0.6];
    let f = |c: &[Vec<f32>], _g: usize| -> anyhow::Result<Vec<f64>> {
        Ok(c.iter()
            .map(|x| {
                -x.iter()
                    .zip(&t)
                    .map(|(a, b)| ((a - b) as f64).powi(2))
                    .sum::<f64>()
            })
            .collect())
    };
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let initial: Vec<Vec<f32>> = (0..30)
        .map(|_| (0..3).map(|_| rng.random::<f32>()).collect())
        .collect();
    let gens = search(&settings(15, 0.05), initial, 3, f).unwrap();
    assert_eq!(gens.len(), 16);
    assert_eq!(gens[0].evaluated, 30);
    for g in &gens[1..] {
        assert_eq!(g.evaluated, 5 * 21);
        assert_eq!(g.kept.len(), 5);
        // Largest first.
        assert!(g.kept_fitness.windows(2).all(|w| w[0] >= w[1]));
    }
    for w in gens.windows(2) {
        assert!(w[1].kept_fitness[0] >= w[0].kept_fitness[0]);
    }
    let best = &gens.last().unwrap().kept[0];
    for (b, t) in best.iter().zip(&t) {
        assert!((b - t).abs() < 0.05, "{best:?}");
    }
}

#[test]
fn bad_search_settings_are_errors() {
    let f = |c: &[Vec<f32>], _g: usize| -> anyhow::Result<Vec<f64>> { Ok(vec![0.0; c.len()]) };
    let mut s = settings(2, 0.1);
    s.keep = 0;
    assert!(search(&s, vec![vec![0.5]], 0, f).is_err());
    let mut s = settings(2, 0.1);
    s.sigma = f64::NAN;
    assert!(s.validate().is_err());
    let mut s = settings(2, 0.1);
    s.lo = 2.0;
    assert!(s.validate().is_err());
    assert!(search(&settings(2, 0.1), Vec::new(), 0, f).is_err());
}

#[test]
fn rms_of_a_bound_by_hand() {
    let b = MeanStd {
        n_inputs: 2,
        n_outputs: 2,
        mean: vec![3.0, 0.0, 1.0, 1.0],
        std: vec![0.0, 4.0, 1.0, 1.0],
    };
    let r = rms_of_bound(&b);
    assert!((r[0] - 12.5f64.sqrt()).abs() < 1e-12);
    assert!((r[1] - 2f64.sqrt()).abs() < 1e-12);
}

/// [2, 3, 1] sigmoid with W₁ = 0.25, b₁ = 0, W₂ = 1, b₂ = 0: every hidden neuron outputs
/// y = σ(x₁ + x₂), and with K ~ Bin(3, p) crashed neurons Δ = −K·y, so
/// E[Δ²] = y²·(3p(1 − p) + 9p²), largest at the corner (1, 1) of the box.
fn tiny() -> Mlp {
    let l1 = Dense::new(vec![0.25; 6], vec![0.0; 3], 3, 2).unwrap();
    let l2 = Dense::new(vec![1.0; 3], vec![0.0], 1, 3).unwrap();
    Mlp::new(vec![l1, l2], Activation::Sigmoid, 1.0).unwrap()
}

fn exact_m2(x: &[f32], p: f64) -> f64 {
    let y = 1.0 / (1.0 + (-(x[0] as f64 + x[1] as f64)).exp());
    y * y * (3.0 * p * (1.0 - p) + 9.0 * p * p)
}

#[test]
fn second_moment_matches_the_hand_formula() {
    let (net, p) = (tiny(), FailureVector::single(3, 1, 0.2).unwrap());
    let pts = [[0.0f32, 0.0], [0.3, 0.9], [1.0, 1.0]];
    let x = Inputs::from_rows(&pts.iter().map(|r| r.to_vec()).collect::<Vec<_>>()).unwrap();
    let r = 200_000;
    let m2 = mc_second_moment(&net, &p, &x, r, 5).unwrap();
    for (i, pt) in pts.iter().enumerate() {
        let want = exact_m2(pt, 0.2);
        // Δ² = K²y², K ~ Bin(3, 0.2): E K² = 0.84, E K⁴ = 0.384·1 + 0.096·16 + 0.008·81
        // = 2.568, Var K² = 2.568 − 0.84² = 1.8624; the standard error of the mean of R
        // draws of Δ² is y²·√1.8624/√R with y² = want/0.84.
        let se = (1.8624f64).sqrt() * want / 0.84 / (r as f64).sqrt();
        assert!((m2[i] - want).abs() < 5.0 * se, "{i}: {} vs {want}", m2[i]);
    }
}

#[test]
fn search_finds_the_known_worst_corner_of_a_tiny_net() {
    let (net, p) = (tiny(), FailureVector::single(3, 1, 0.2).unwrap());
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let initial: Vec<Vec<f32>> = (0..20)
        .map(|_| (0..2).map(|_| 0.5 * rng.random::<f32>()).collect())
        .collect();
    let start = initial.iter().map(|x| exact_m2(x, 0.2)).fold(0.0, f64::max);
    let gens = search(&settings(8, 0.15), initial, 6, |c, g| {
        let x = Inputs::from_rows(c).unwrap();
        mc_second_moment(&net, &p, &x, 2000, 100 + g as u64)
    })
    .unwrap();
    let best = &gens.last().unwrap().kept[0];
    // The corner (1, 1) maximises E[Δ²]; the search must end near it and above every
    // initial input in exact terms.
    assert!(best.iter().all(|&v| v > 0.7), "{best:?}");
    assert!(exact_m2(best, 0.2) > start);
}

#[test]
fn smoke_profile_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
    let exp = find("worst-input-search").expect("registered");
    let hidden = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
    let status = run_experiment(exp.as_ref(), Profile::Smoke, &paths, false, None, &hidden)
        .expect("smoke run");
    let RunStatus::Ran { figures, .. } = status else {
        panic!("expected a run, got {status:?}");
    };
    assert_eq!(figures.len(), 2, "{figures:?}");
    assert!(figures.iter().all(|f| f.exists()));
    let file = ResultsFile::load(&paths.results_file("worst-input-search")).unwrap();
    let nets = file.results["nets"].as_array().unwrap();
    assert_eq!(nets.len(), 2);
    for n in nets {
        let gens = n["generations"].as_array().unwrap();
        assert_eq!(gens.len(), 3);
        for g in gens {
            for k in ["error", "b3", "b4"] {
                assert!(g[k].as_f64().unwrap() > 0.0, "{g}");
            }
        }
    }
    let section = exp.report(&file);
    assert_eq!(section.rows.len(), 2);
}
