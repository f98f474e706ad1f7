//! The smoke profiles of `taylor-checks` and `riemann` run end to end, and their stored results
//! show the behaviour the experiments are about.

use ftnn_experiments::limit::taylor_checks::{
    b4_rule, neuron_weights, original_slope_ok, single_neuron,
};
use ftnn_experiments::limit::{riemann, taylor_checks};
use ftnn_lab::{run_experiment, AnyExperiment, Paths, Profile, ResultsFile, RunStatus, Verdict};
use indicatif::MultiProgress;

fn run(exp: &dyn AnyExperiment) -> (tempfile::TempDir, Paths, ResultsFile) {
    let dir = tempfile::tempdir().unwrap();
    let multi = MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
    let paths = Paths::new(dir.path().join("results"), dir.path().join("figures"));
    let status = run_experiment(exp, Profile::Smoke, &paths, false, None, &multi).unwrap();
    let RunStatus::Ran { figures, .. } = status else {
        panic!("expected a run")
    };
    assert!(!figures.is_empty());
    for f in &figures {
        assert!(f.exists(), "{}", f.display());
    }
    let stored = ResultsFile::load(&paths.results_file(exp.id())).unwrap();
    (dir, paths, stored)
}

#[test]
fn taylor_checks_smoke() {
    let (_dir, _paths, stored) = run(&taylor_checks::TaylorChecks);
    // The report reads the stored results back: the paper's rows, and the b4 row agrees.
    let section = taylor_checks::TaylorChecks.report(&stored);
    assert_eq!(section.rows.len(), 6, "{section:?}");
    assert_eq!(section.rows[1].verdict, Verdict::Reproduced, "{section:?}");
    let a = &stored.results["a"];
    let nets = a["nets"].as_array().unwrap();
    assert!(!nets.is_empty());
    // Pooled over networks: b4 within 3 standard errors of the Monte Carlo mean, b3 farther.
    let (mut d3, mut d4, mut var) = (0.0, 0.0, 0.0);
    for n in nets {
        let f = |k: &str| n[k].as_f64().unwrap();
        d3 += f("b3") - f("mc_mean");
        d4 += f("b4") - f("mc_mean");
        var += f("mc_se").powi(2);
    }
    let se = var.sqrt();
    // The paper's pattern: b4 within Monte Carlo error, b3 detectably off (smoke pools
    // 6 × 10⁶ repetitions, a pooled standard error of well under 1 % of E Δ).
    assert!(d4.abs() <= 3.0 * se, "b4 off by {d4:e}, se {se:e}");
    assert!(d3.abs() > 3.0 * se, "b3 off by only {d3:e}, se {se:e}");
    // The stored pooled z-scores are the same numbers.
    let pooled = a["pooled"].as_array().unwrap();
    let z4 = pooled.iter().find(|p| p["bound"] == "b4").unwrap()["pooled_z"]
        .as_f64()
        .unwrap();
    assert!((z4 - d4 / se).abs() < 1e-9 * (1.0 + z4.abs()));
    // Part B: the stored variance of a draw is the exact variance of Δ = σ(Σ_{alive} w_i) − σ(Σ w_i),
    // recomputed here by an independent enumeration.
    let params = &stored.params["b"];
    let (p, seed) = (
        params["p"].as_f64().unwrap(),
        params["seed"].as_u64().unwrap(),
    );
    let dims = stored.results["b"]["dims"].as_array().unwrap();
    let last = dims.last().unwrap();
    let d = last["d"].as_u64().unwrap() as usize;
    let w = neuron_weights(seed, d, 0);
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp()); // K = 1/4: σ(4·z/4)
    let full = sig(w.iter().map(|&v| v as f64).sum());
    let (mut m1, mut m2) = (0.0, 0.0);
    for mask in 0u32..(1 << d) {
        let mut prob = 1.0;
        let mut z = 0.0;
        for (i, &wi) in w.iter().enumerate() {
            if mask >> i & 1 == 1 {
                prob *= p;
            } else {
                prob *= 1.0 - p;
                z += wi as f64;
            }
        }
        let delta = sig(z) - full;
        m1 += prob * delta;
        m2 += prob * delta * delta;
    }
    let exact = m2 - m1 * m1;
    let stored_var = last["var"][0].as_f64().unwrap();
    assert!(
        (stored_var / exact - 1.0).abs() < 1e-6,
        "{stored_var:e} vs {exact:e}"
    );
    // The network really is the neuron: its output equals σ(w·1).
    let net = single_neuron(w.clone(), 0.25).unwrap();
    let y = net.forward_f64(&vec![1.0; d], None)[0];
    assert!((y - full).abs() < 1e-12);
    // Part B, the original's sweep (w = 1/d, x = 1, so z = 1): with k of the d inputs kept,
    // y = σ(k/d) and k ~ Binomial(d, 1 − p). The stored exact variance equals this closed form
    // at every d.
    let choose =
        |n: usize, k: usize| (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64);
    let mut logs = Vec::new();
    for r in dims {
        let d = r["d"].as_u64().unwrap() as usize;
        let (mut m1, mut m2) = (0.0, 0.0);
        for k in 0..=d {
            let prob = choose(d, k) * (1.0 - p).powi(k as i32) * p.powi((d - k) as i32);
            let y = sig(k as f64 / d as f64);
            m1 += prob * y;
            m2 += prob * y * y;
        }
        let exact = m2 - m1 * m1;
        let stored_var = r["var_original"].as_f64().unwrap();
        assert!(
            (stored_var / exact - 1.0).abs() < 1e-4,
            "d = {d}: {stored_var:e} vs {exact:e}"
        );
        logs.push(((d as f64).ln(), exact.ln()));
    }
    // The published slope −1.0774 (SPEC §15), from the stored fit and from the closed form.
    let slope = stored.results["b"]["fit_original"]["slope"]
        .as_f64()
        .unwrap();
    assert!(original_slope_ok(slope), "slope {slope}");
    let n = logs.len() as f64;
    let (mx, my) = (
        logs.iter().map(|l| l.0).sum::<f64>() / n,
        logs.iter().map(|l| l.1).sum::<f64>() / n,
    );
    let closed_form_slope = logs.iter().map(|l| (l.0 - mx) * (l.1 - my)).sum::<f64>()
        / logs.iter().map(|l| (l.0 - mx).powi(2)).sum::<f64>();
    assert!(
        (closed_form_slope - -1.0774).abs() < 1e-3,
        "{closed_form_slope}"
    );
    assert!(
        (slope - closed_form_slope).abs() < 1e-4,
        "{slope} vs {closed_form_slope}"
    );
    assert_eq!(section.rows[4].verdict, Verdict::Reproduced, "{section:?}");
    assert!(
        matches!(section.rows[5].verdict, Verdict::NotComparable(_)),
        "{section:?}"
    );
}

#[test]
fn original_slope_rule_edges() {
    // The rule of part B, just inside and just outside |slope + 1.0774| ≤ 1e-3.
    assert!(original_slope_ok(-1.0774));
    assert!(original_slope_ok(-1.0774 + 0.00099));
    assert!(original_slope_ok(-1.0774 - 0.00099));
    assert!(!original_slope_ok(-1.0774 + 0.00101));
    assert!(!original_slope_ok(-1.0774 - 0.00101));
    assert!(!original_slope_ok(f64::NAN));
}

#[test]
fn b4_rule_edges() {
    // Part A's b4 rule: |pooled z| ≤ 3.
    let judge = |z: f64| b4_rule().judge(z, 0.0).verdict.label();
    assert_eq!(judge(2.99), "reproduced");
    assert_eq!(judge(-2.99), "reproduced");
    assert_eq!(judge(3.01), "differs");
    assert_eq!(judge(-3.01), "differs");
}

#[test]
fn riemann_smoke() {
    let (_dir, _paths, stored) = run(&riemann::Riemann);
    let section = riemann::Riemann.report(&stored);
    assert!(
        matches!(section.verdict, Verdict::NotComparable(ref r) if r.contains("figure")),
        "{section:?}"
    );
    assert_eq!(section.rows.len(), 5);
    let r = &stored.results;
    let integral = r["integral"].as_f64().unwrap();
    // Independent check: Gauss–Legendre (5 points) on 2000 panels.
    let nodes = [
        (0.0, 128.0 / 225.0),
        (-0.538_469_310_105_683_1, 0.478_628_670_499_366_5),
        (0.538_469_310_105_683_1, 0.478_628_670_499_366_5),
        (-0.906_179_845_938_664, 0.236_926_885_056_189_1),
        (0.906_179_845_938_664, 0.236_926_885_056_189_1),
    ];
    let panels = 2000;
    let h = 1.0 / panels as f64;
    let gl: f64 = (0..panels)
        .map(|k| {
            let c = (k as f64 + 0.5) * h;
            nodes
                .iter()
                .map(|&(x, w)| w * riemann::z(c + 0.5 * h * x))
                .sum::<f64>()
                * 0.5
                * h
        })
        .sum();
    assert!((integral - gl).abs() < 1e-11, "{integral} vs {gl}");
    // The drawn sums are the paper's 10, 20, 30 bars, and the errors fall with n.
    let bars = r["bars"].as_array().unwrap();
    let ns: Vec<u64> = bars.iter().map(|b| b["n"].as_u64().unwrap()).collect();
    assert_eq!(ns, vec![10, 20, 30]);
    for key in ["left_error", "midpoint_error"] {
        let errs: Vec<f64> = r["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e[key].as_f64().unwrap().abs())
            .collect();
        assert!(errs.windows(2).all(|w| w[1] < w[0]), "{key}: {errs:?}");
    }
    // Rates: left sums 1/n, midpoint 1/n² (the fits are deterministic).
    let slope = |k: &str| r[k]["slope"].as_f64().unwrap();
    assert!(
        (slope("left_fit") + 1.0).abs() < 0.05,
        "{}",
        slope("left_fit")
    );
    assert!(
        (slope("midpoint_fit") + 2.0).abs() < 0.1,
        "{}",
        slope("midpoint_fit")
    );
    // The stored left sum at n = 10 is the sum of the bars.
    let left10: f64 = (0..10).map(|k| riemann::z(k as f64 / 10.0)).sum::<f64>() / 10.0;
    assert!((bars[0]["left"].as_f64().unwrap() - left10).abs() < 1e-14);
}

#[test]
fn riemann_rate_rules_edges() {
    use ftnn_experiments::limit::riemann::{left_rule, midpoint_rule};
    let label = |r: ftnn_lab::Rule, v: f64| r.judge(v, 0.01).verdict.label();
    // Allowed distance: 2·0.01 + 0.1 = 0.12.
    assert_eq!(label(left_rule(), -1.119), "reproduced");
    assert_eq!(label(left_rule(), -0.881), "reproduced");
    assert_eq!(label(left_rule(), -1.121), "differs");
    assert_eq!(label(midpoint_rule(), -2.119), "reproduced");
    assert_eq!(label(midpoint_rule(), -1.879), "differs");
}

#[test]
fn filter_playground_rules_edges() {
    use ftnn_experiments::limit::filter_playground::{smooth_rule, tv_rule};
    let label = |r: ftnn_lab::Rule, v: f64| r.judge(v, 0.0).verdict.label();
    assert_eq!(label(tv_rule(), 31.7349), "reproduced");
    assert_eq!(label(tv_rule(), 31.7251), "reproduced");
    assert_eq!(label(tv_rule(), 31.7351), "differs");
    assert_eq!(label(smooth_rule(200), 0.47049), "reproduced");
    assert_eq!(label(smooth_rule(200), 0.46949), "differs");
}
