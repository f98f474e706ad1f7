//! Tests of Algorithm 1 (SPEC §6): the decision order on hand-made measurements (a pure
//! function, no training), the state transitions and resume checks, and `ftnn algorithm1` end
//! to end on a tiny MNIST setting (200 examples, 1 epoch): the history file's keys, the two
//! stops, resume bit-identity, and bad input (exit 2, nothing written).

mod common;

use common::{bad, ftnn};
use ftnn_certify::algorithm::{
    decide, resume_state, Action, Measurements, Record, Rule, Settings, State, Thresholds,
};
use ftnn_certify::VerdictKind;
use std::path::Path;
use std::process::Output;

const EPS: f64 = 0.009;

/// Measurements that pass every rule: q = 0.5, δ₀ = 0.01, D = 10, E Δ = 0.001,
/// Var Δ = 1e-6 (Chebyshev 1e-6/0.008² = 0.015625), verified.
fn passing() -> Measurements {
    Measurements {
        q: 0.5,
        delta0: 0.01,
        d: 10.0,
        mean: 0.001,
        var: 1e-6,
        verified: true,
    }
}

fn decided(m: Measurements) -> (Rule, Action) {
    decide(&m, EPS, &Thresholds::default())
}

#[test]
fn each_rule_fires_alone_with_its_action() {
    assert_eq!(decided(passing()), (Rule::Certified, Action::StopCertified));
    let cases: [(Measurements, Rule, Action); 7] = [
        (
            Measurements {
                q: 0.005,
                ..passing()
            },
            Rule::Unbalanced,
            Action::RaiseMu,
        ),
        (
            Measurements {
                delta0: 0.2,
                ..passing()
            },
            Rule::Chernoff,
            Action::Widen,
        ),
        (
            Measurements {
                d: 150.0,
                ..passing()
            },
            Rule::Rough,
            Action::RaisePsi,
        ),
        (
            Measurements {
                mean: 0.01,
                ..passing()
            },
            Rule::Infeasible,
            Action::StopInfeasible,
        ),
        // Var/(ε − E)² = 3e-5/0.008² = 0.47 ≥ 1/3.
        (
            Measurements {
                var: 3e-5,
                ..passing()
            },
            Rule::Chebyshev,
            Action::RaiseLambdaAndWiden,
        ),
        // δ₀ = 0.15 ≤ 1/6 and Chebyshev = 1.28e-5/0.008² = 0.2 < 1/3, but the sum is 0.35.
        (
            Measurements {
                delta0: 0.15,
                var: 1.28e-5,
                ..passing()
            },
            Rule::Sum,
            Action::RaiseLambdaAndWiden,
        ),
        (
            Measurements {
                verified: false,
                ..passing()
            },
            Rule::NotVerified,
            Action::RaiseLambdaAndWiden,
        ),
    ];
    for (m, rule, action) in cases {
        assert_eq!(decided(m), (rule, action), "{m:?}");
    }
}

#[test]
fn decision_order_is_specs() {
    // Everything fails: rule 1 (q ≤ 0.01 → μ ×10) comes first.
    let all_bad = Measurements {
        q: 0.001,
        delta0: 0.9,
        d: 1e4,
        mean: 0.05,
        var: 1.0,
        verified: false,
    };
    assert_eq!(decided(all_bad), (Rule::Unbalanced, Action::RaiseMu));
    // Then δ₀ > 1/6 → N += 100 before D, E Δ, Chebyshev and the check.
    let m = Measurements { q: 0.5, ..all_bad };
    assert_eq!(decided(m), (Rule::Chernoff, Action::Widen));
    // Then D ≥ 100 → ψ ×10 before the infeasibility stop.
    let m = Measurements { delta0: 0.1, ..m };
    assert_eq!(decided(m), (Rule::Rough, Action::RaisePsi));
    // Then E Δ ≥ ε stops, before Chebyshev and the check.
    let m = Measurements { d: 99.0, ..m };
    assert_eq!(decided(m), (Rule::Infeasible, Action::StopInfeasible));
    // Then Chebyshev ≥ 1/3 → λ ×10 and N += 100.
    let m = Measurements { mean: 0.0, ..m };
    assert_eq!(decided(m), (Rule::Chebyshev, Action::RaiseLambdaAndWiden));
    // Then δ₀ + Chebyshev ≥ 1/3 (0.1 + 1.944e-5/0.009² = 0.1 + 0.24).
    let m = Measurements { var: 1.944e-5, ..m };
    assert_eq!(decided(m), (Rule::Sum, Action::RaiseLambdaAndWiden));
    // Then the Monte Carlo check.
    let m = Measurements { var: 1e-6, ..m };
    assert_eq!(decided(m), (Rule::NotVerified, Action::RaiseLambdaAndWiden));
    let m = Measurements {
        verified: true,
        ..m
    };
    assert_eq!(decided(m), (Rule::Certified, Action::StopCertified));
}

#[test]
fn thresholds_are_specs_inequalities() {
    // q ≤ 0.01 (inclusive), δ₀ > 1/6 (strict), D ≥ 100 (inclusive), E Δ ≥ ε (inclusive),
    // Var/(ε − E)² ≥ 1/3 (inclusive).
    let t = Thresholds::default();
    assert_eq!((t.q_min, t.d_max), (0.01, 100.0));
    assert_eq!(t.delta0_max, 1.0 / 6.0);
    assert_eq!(t.chebyshev_max, 1.0 / 3.0);
    let at = |m: Measurements| decided(m).0;
    assert_eq!(
        at(Measurements {
            q: 0.01,
            ..passing()
        }),
        Rule::Unbalanced
    );
    assert_eq!(
        at(Measurements {
            delta0: 1.0 / 6.0,
            var: 0.0,
            ..passing()
        }),
        Rule::Certified
    );
    assert_eq!(
        at(Measurements {
            d: 100.0,
            ..passing()
        }),
        Rule::Rough
    );
    assert_eq!(
        at(Measurements {
            mean: EPS,
            ..passing()
        }),
        Rule::Infeasible
    );
    // ε − E = 0.009 exactly at E = 0: Var = 0.009²/3 gives Chebyshev 1/3 (to rounding, ≥).
    let var = EPS * EPS / 3.0 * (1.0 + 1e-12);
    assert_eq!(
        at(Measurements {
            mean: 0.0,
            var,
            ..passing()
        }),
        Rule::Chebyshev
    );
    // A negative E Δ is fine; a negative Var (rounding) counts as 0.
    assert_eq!(
        at(Measurements {
            mean: -0.5,
            var: -1e-20,
            ..passing()
        }),
        Rule::Certified
    );
}

#[test]
fn actions_move_the_state_as_spec_says() {
    let s = Settings::default();
    let start = State::start(&s);
    let h = start.hyper(&s);
    assert_eq!(
        (h.n, h.mu, h.lambda, h.psi_d, h.psi_s),
        (1, 1e-10, 1e-10, 1e-8, 1e-6)
    );
    let step = s.n_step;
    assert_eq!(step, 100);
    let mu = start.next(Action::RaiseMu, step).hyper(&s);
    assert_eq!((mu.n, mu.mu, mu.lambda), (1, 1e-9, 1e-10));
    let w = start.next(Action::Widen, step).hyper(&s);
    assert_eq!((w.n, w.mu, w.lambda), (101, 1e-10, 1e-10));
    let psi = start.next(Action::RaisePsi, step).hyper(&s);
    assert_eq!((psi.n, psi.psi_d, psi.psi_s), (1, 1e-7, 1e-5));
    let lw = start.next(Action::RaiseLambdaAndWiden, step).hyper(&s);
    assert_eq!((lw.n, lw.lambda, lw.mu), (101, 1e-9, 1e-10));
    assert_eq!(start.next(Action::StopCertified, step), start);
    assert_eq!(start.next(Action::StopInfeasible, step), start);
    // The paper's end point: N = 501, λ = 1e-6, ψ = (1e-4, 1e-2).
    let end = State {
        n: 501,
        mu_steps: 0,
        lambda_steps: 4,
        psi_steps: 4,
    }
    .hyper(&s);
    assert_eq!(
        (end.lambda, end.psi_d, end.psi_s),
        (1e-6, 1e-4, 1e-2),
        "decimal steps, not 9.999…e-7"
    );
}

fn record(iteration: usize, state: State, action: Action) -> Record {
    Record {
        iteration,
        n: state.n,
        mu: 0.0,
        lambda: 0.0,
        psi_d: 0.0,
        psi_s: 0.0,
        state,
        train_objective: 0.0,
        valid_loss: 0.0,
        valid_accuracy: 0.0,
        q: 0.0,
        delta0: 0.0,
        d: 0.0,
        mean: 0.0,
        var: 0.0,
        chebyshev: None,
        bound: None,
        verdict: VerdictKind::NotCertified,
        tail: 0.0,
        stderr: 0.0,
        upper: 0.0,
        verified: false,
        rule: Rule::Chernoff,
        action,
    }
}

#[test]
fn resume_checks_the_history() {
    let s = Settings::default();
    let s0 = State::start(&s);
    assert_eq!(resume_state(&s, &[]).unwrap(), Some(s0));
    let s1 = s0.next(Action::Widen, 100);
    let s2 = s1.next(Action::RaisePsi, 100);
    let h = vec![
        record(1, s0, Action::Widen),
        record(2, s1, Action::RaisePsi),
    ];
    assert_eq!(resume_state(&s, &h).unwrap(), Some(s2));
    // A stop ends the run.
    let done = vec![
        record(1, s0, Action::Widen),
        record(2, s1, Action::StopCertified),
    ];
    assert_eq!(resume_state(&s, &done).unwrap(), None);
    // Records out of order, a state that does not follow, records after a stop.
    assert!(resume_state(&s, &[record(2, s0, Action::Widen)]).is_err());
    assert!(resume_state(
        &s,
        &[record(1, s0, Action::Widen), record(2, s0, Action::Widen)]
    )
    .is_err());
    assert!(resume_state(
        &s,
        &[
            record(1, s0, Action::StopInfeasible),
            record(2, s0, Action::Widen)
        ]
    )
    .is_err());
}

// ---- the binary on a tiny setting ----

/// 200 training and 100 validation examples, 1 epoch of 2 batches, a 784-N-10-10 network,
/// N += 10, 1000 Monte Carlo draws: a few iterations take seconds in debug mode.
const TINY: &[&str] = &[
    "--train-examples",
    "200",
    "--valid-examples",
    "100",
    "--epochs",
    "1",
    "--batch-size",
    "100",
    "--hidden2",
    "10",
    "--n-step",
    "10",
    "--verify",
    "1000",
];

fn algorithm1(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["algorithm1", "--output-dir", dir.to_str().unwrap()];
    // TINY's options, unless `extra` sets them.
    for pair in TINY.chunks_exact(2) {
        if !extra.contains(&pair[0]) {
            args.extend_from_slice(pair);
        }
    }
    args.extend_from_slice(extra);
    ftnn(&args)
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn history(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn history_has_every_key_and_the_networks_are_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let stdout = ok(&algorithm1(&dir, &["--max-iterations", "2"]));
    assert!(
        stdout.contains("not certified after 2 iterations"),
        "{stdout}"
    );
    let lines = history(&dir);
    assert_eq!(lines.len(), 2);
    let keys = [
        "iteration",
        "n",
        "mu",
        "lambda",
        "psi_d",
        "psi_s",
        "state",
        "train_objective",
        "valid_loss",
        "valid_accuracy",
        "q",
        "delta0",
        "d",
        "mean",
        "var",
        "chebyshev",
        "bound",
        "verdict",
        "tail",
        "stderr",
        "upper",
        "verified",
        "rule",
        "action",
        "model",
    ];
    for (i, line) in lines.iter().enumerate() {
        let obj = line.as_object().unwrap();
        let got: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut want = keys.to_vec();
        want.sort_unstable();
        let mut got_sorted = got.clone();
        got_sorted.sort_unstable();
        assert_eq!(got_sorted, want);
        assert_eq!(line["iteration"], i + 1);
        for k in ["q", "delta0", "d", "mean", "var", "tail", "upper"] {
            assert!(line[k].as_f64().unwrap().is_finite(), "{k}: {line}");
        }
        let model = dir.join(line["model"].as_str().unwrap());
        let net = ftnn_model::Mlp::load(&model).unwrap();
        assert_eq!(
            net.sizes(),
            vec![784, line["n"].as_u64().unwrap() as usize, 10, 10]
        );
    }
    // Iteration 1 runs the paper's start: N = 1, μ = λ = 1e-10, ψ = (1e-8, 1e-6); one neuron
    // gives δ₀ > 1/6, so rule 2 widens to N = 11.
    let first = &lines[0];
    assert_eq!(first["n"], 1);
    assert_eq!(first["mu"].as_f64(), Some(1e-10));
    assert_eq!(first["lambda"].as_f64(), Some(1e-10));
    assert_eq!(first["psi_d"].as_f64(), Some(1e-8));
    assert_eq!(first["psi_s"].as_f64(), Some(1e-6));
    assert_eq!(first["rule"], "chernoff");
    assert_eq!(first["action"], "widen");
    assert_eq!(lines[1]["n"], 11);
    assert!(dir.join("settings.json").exists());
}

/// The stored networks' weights and biases.
fn weights(path: &Path) -> Vec<Vec<f32>> {
    let net = ftnn_model::Mlp::load(path).unwrap();
    net.layers()
        .iter()
        .flat_map(|d| [d.weight().to_vec(), d.bias().to_vec()])
        .collect()
}

#[test]
fn resumed_run_is_bit_identical_to_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, parts) = (tmp.path().join("whole"), tmp.path().join("parts"));
    ok(&algorithm1(&whole, &["--max-iterations", "3"]));
    ok(&algorithm1(&parts, &["--max-iterations", "2"]));
    assert_eq!(history(&parts).len(), 2);
    let resumed = algorithm1(&parts, &["--max-iterations", "3"]);
    assert!(String::from_utf8_lossy(&resumed.stderr).contains("resuming"));
    ok(&resumed);
    let a = std::fs::read(whole.join("history.jsonl")).unwrap();
    let b = std::fs::read(parts.join("history.jsonl")).unwrap();
    assert_eq!(
        String::from_utf8(a).unwrap(),
        String::from_utf8(b).unwrap(),
        "histories differ"
    );
    for k in 1..=3 {
        let f = format!("iteration-{k:03}.safetensors");
        assert_eq!(weights(&whole.join(&f)), weights(&parts.join(&f)), "{f}");
    }
    // A finished run (here: at its limit) is not run again.
    let again = ok(&algorithm1(&parts, &["--max-iterations", "3"]));
    assert!(
        again.contains("not certified after 3 iterations"),
        "{again}"
    );
    assert_eq!(history(&parts).len(), 3);
}

#[test]
fn stops_certified_or_infeasible() {
    // N = 101 from the start and D's threshold out of the way: with ε = 1 the first network is
    // certified and verified at once; with ε = 1e-6 the loop ends infeasible.
    let tmp = tempfile::tempdir().unwrap();
    let common = [
        "--start-n",
        "101",
        "--d-max",
        "1e9",
        "--max-iterations",
        "4",
    ];
    let dir = tmp.path().join("certified");
    let mut args = common.to_vec();
    args.extend(["--epsilon", "1"]);
    let stdout = ok(&algorithm1(&dir, &args));
    assert!(
        stdout.contains("certified and verified at iteration 1"),
        "{stdout}"
    );
    assert!(stdout.contains("R = 21"), "{stdout}");
    let h = history(&dir);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["action"], "stop-certified");
    assert_eq!(h[0]["verdict"], "certified");
    assert_eq!(h[0]["verified"], true);
    // Running it again reports the result without training.
    let again = ok(&algorithm1(&dir, &args));
    assert!(
        again.contains("certified and verified at iteration 1"),
        "{again}"
    );

    let dir = tmp.path().join("infeasible");
    let mut args = common.to_vec();
    args.extend(["--epsilon", "1e-6"]);
    let stdout = ok(&algorithm1(&dir, &args));
    assert!(stdout.contains("verdict  infeasible"), "{stdout}");
    let h = history(&dir);
    let last = h.last().unwrap();
    assert_eq!(last["action"], "stop-infeasible");
    assert!(last["mean"].as_f64().unwrap() >= 1e-6);
    assert!(last["bound"].is_null() && last["chebyshev"].is_null());
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let cases: [(&[&str], &str); 9] = [
        (&["--epsilon", "0"], "epsilon"),
        (&["--delta", "1"], "delta"),
        (&["--p", "0.1"], "Chernoff"),
        (&["--p", "0"], "p = 0"),
        (&["--verify", "0"], "verified"),
        (&["--max-iterations", "0"], "--max-iterations"),
        (&["--train-examples", "0"], "--train-examples"),
        (&["--valid-examples", "20000"], "--valid-examples"),
        (&["--example", "200"], "--example 200"),
    ];
    for (extra, needle) in cases {
        bad(&algorithm1(&dir, extra), &[needle]);
        assert!(!dir.exists(), "{extra:?} created the output directory");
    }
    // The output directory is a file.
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    bad(&algorithm1(&file, &[]), &["not a directory"]);
    // A run with other settings, or a corrupt history, is refused and left alone.
    ok(&algorithm1(&dir, &["--max-iterations", "1"]));
    let before = std::fs::read(dir.join("history.jsonl")).unwrap();
    bad(
        &algorithm1(&dir, &["--max-iterations", "2", "--seed", "1"]),
        &["other settings"],
    );
    assert_eq!(std::fs::read(dir.join("history.jsonl")).unwrap(), before);
    std::fs::write(dir.join("history.jsonl"), b"{\"iteration\": 1}\n").unwrap();
    bad(
        &algorithm1(&dir, &["--max-iterations", "2"]),
        &["line 1 is not an iteration record"],
    );
    assert!(!dir.join("iteration-002.safetensors").exists());
}
