//! The certificate on small networks: b3 on the loss and the quantities against hand
//! computations, and the Monte Carlo check against the exact tail by enumeration.

use ftnn_certify::{
    certify, crashing_layer, exact_tail, monte_carlo_tail, network_quantities, CertifyError,
    Condition, Settings, Verdict, VerdictKind,
};
use ftnn_model::{Activation, Dense, FailureVector, Init, Inputs, Loss, Mlp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The 1-2-1 ReLU network W₁ = (1, 2)ᵀ, W₂ = (3, −1), no biases: at x = 1, y₁ = (1, 2) and
/// ŷ = 3 − 2 = 1.
fn tiny() -> Mlp {
    Mlp::new(
        vec![
            Dense::new(vec![1.0, 2.0], vec![0.0, 0.0], 2, 1).unwrap(),
            Dense::new(vec![3.0, -1.0], vec![0.0], 1, 2).unwrap(),
        ],
        Activation::Relu,
        1.0,
    )
    .unwrap()
}

fn p_at(net: &Mlp, layer: usize, p: f64) -> FailureVector {
    FailureVector::single(net.n_neuron_layers(), layer, p).unwrap()
}

#[test]
fn tiny_network_by_hand() {
    let net = tiny();
    let p = p_at(&net, 1, 0.01);
    let x = Inputs::new(vec![1.0], 1, 1).unwrap();
    let t = [0.0f32];
    // MSE with one output, target 0: L = ŷ², ∂L/∂ŷ = 2ŷ = 2;
    // d_i = y₁ᵢ · ∂L/∂y₁ᵢ = y₁ᵢ · 2 · W₂ᵢ = (1·2·3, 2·2·(−1)) = (6, −4).
    // E Δ = −p Σ d = −0.01 · 2 = −0.02; Var Δ = p(1 − p) Σ d² = 0.0099 · 52 = 0.5148.
    // q: rows of W₁ have L1 norms 1 and 2 → q = 0.5.
    // α = e^{2.5}·0.01 = 0.121825, KL(α‖p) = 0.199305 (quantities.rs), δ₀ = exp(−2·0.5·0.199305)
    //   = exp(−0.199305) = 0.819300.
    // ε = 1: Chebyshev 0.5148 / 1.02² = 0.494810; bound 1.314110 ≥ 1/3 with δ₀ ≥ 1/3 alone.
    let s = Settings {
        loss: Loss::Mse,
        epsilon: 1.0,
        delta: 1e-5,
        verify: 0,
        seed: 0,
    };
    let c = certify(&net, &p, &x, &t, &s).unwrap();
    assert_eq!(c.network.crashing_layer, 1);
    assert_eq!(c.network.width, 2);
    assert!((c.network.q - 0.5).abs() < 1e-15);
    assert!(
        (c.network.delta0 - 0.819_300).abs() < 1e-6,
        "{}",
        c.network.delta0
    );
    let i = &c.inputs[0];
    assert!((i.mean + 0.02).abs() < 1e-7, "{}", i.mean);
    assert!((i.var - 0.5148).abs() < 1e-6, "{}", i.var);
    assert!((i.chebyshev.unwrap() - 0.494_810).abs() < 1e-6);
    assert!((i.bound.unwrap() - 1.314_110).abs() < 1e-6);
    assert!(matches!(
        i.verdict,
        Verdict::NotCertified {
            condition: Condition::Chernoff,
            ..
        }
    ));
    assert_eq!(c.verdict, VerdictKind::NotCertified);
    assert_eq!(c.copies, 21);
    assert_eq!(i.empirical, None);
    // An infeasible input needs E Δ ≥ ε > 0: with target 2, ŷ − t = −1, ∂L/∂ŷ = −2,
    // d = (−6, 4), E Δ = +0.02 ≥ ε = 0.01.
    let c = certify(&net, &p, &x, &[2.0], &Settings { epsilon: 0.01, ..s }).unwrap();
    assert!((c.inputs[0].mean - 0.02).abs() < 1e-7);
    assert!(matches!(c.inputs[0].verdict, Verdict::Infeasible { .. }));
    assert_eq!(c.inputs[0].chebyshev, None);
    assert_eq!(c.inputs[0].bound, None);
    assert_eq!(c.verdict, VerdictKind::Infeasible);
}

/// The exact tail by hand: crashing neuron 1 gives ŷ = −2 (L = 4, Δ = 3), neuron 2 gives
/// ŷ = 3 (L = 9, Δ = 8), both ŷ = 0 (Δ = −1). P(Δ > 1) = 2 · 0.01 · 0.99 = 0.0198 and
/// P(Δ > 5) = 0.01 · 0.99 = 0.0099. The first-order E Δ = −0.02 misses this entirely: the
/// exact mean is 0.0099·3 + 0.0099·8 − 0.0001 = 0.1088.
#[test]
fn tiny_network_exact_and_monte_carlo_tail() {
    let net = tiny();
    let p = p_at(&net, 1, 0.01);
    let x = Inputs::new(vec![1.0], 1, 1).unwrap();
    let exact = exact_tail(&net, &p, &x, &[0.0], Loss::Mse, 1.0, 20).unwrap();
    assert!((exact[0] - 0.0198).abs() < 1e-12, "{exact:?}");
    let exact5 = exact_tail(&net, &p, &x, &[0.0], Loss::Mse, 5.0, 20).unwrap();
    assert!((exact5[0] - 0.0099).abs() < 1e-12);
    let mc = monte_carlo_tail(&net, &p, &x, &[0.0], Loss::Mse, 1.0, 100_000, 3).unwrap();
    let e = mc[0];
    assert_eq!(e.repetitions, 100_000);
    assert!((e.tail - 0.0198).abs() < 4.0 * e.stderr, "{e:?}");
    assert!(e.upper > 0.0198 && e.upper < 1.0 / 3.0 && e.verified);
    // Same seed, same counts; another seed, other counts.
    let again = monte_carlo_tail(&net, &p, &x, &[0.0], Loss::Mse, 1.0, 100_000, 3).unwrap();
    assert_eq!(again, mc);
    let other = monte_carlo_tail(&net, &p, &x, &[0.0], Loss::Mse, 1.0, 100_000, 4).unwrap();
    assert_ne!(other[0].exceed, e.exceed);
}

fn random_net(sizes: &[usize], act: Activation, seed: u64) -> Mlp {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Mlp::init(sizes, act, 1.0, Init::Paper, &mut rng).unwrap()
}

fn random_inputs(n: usize, width: usize, seed: u64) -> Inputs {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data = (0..n * width)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    Inputs::new(data, n, width).unwrap()
}

/// Regression targets in [0, 1) or one-hot labels.
fn targets(n: usize, n_out: usize, one_hot: bool, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut t = vec![0f32; n * n_out];
    for i in 0..n {
        if one_hot {
            t[i * n_out + rng.random_range(0..n_out)] = 1.0;
        } else {
            for v in &mut t[i * n_out..(i + 1) * n_out] {
                *v = rng.random::<f32>();
            }
        }
    }
    t
}

/// The verified statement against the exact tail (≤ 20 crashable neurons, all 2^m crash
/// patterns enumerated): for fixed seeds, the Clopper–Pearson upper bound from 10⁵ draws lies
/// above the exact P(Δ > ε), and P̂ is within 4 standard errors of it (the exact one,
/// √(P(1 − P)/R), so that P̂ = 0 is judged too). Hidden layers (below the output and below
/// another hidden layer), the output layer, MSE and cross-entropy, several ε.
#[test]
fn monte_carlo_check_agrees_with_exact_enumeration() {
    let reps = 100_000;
    let cases: [(&[usize], Activation, usize, f64, Loss); 5] = [
        (&[4, 12, 3], Activation::Sigmoid, 1, 0.1, Loss::Mse),
        (
            &[3, 10, 6, 2],
            Activation::Sigmoid,
            1,
            0.15,
            Loss::CrossEntropy,
        ),
        (&[4, 12, 3], Activation::Relu, 1, 0.05, Loss::CrossEntropy),
        (&[3, 8, 10, 2], Activation::Tanh, 2, 0.1, Loss::Mse),
        (&[5, 6, 4], Activation::Softplus, 2, 0.2, Loss::CrossEntropy),
    ];
    // Tails strictly inside (10⁻³, 0.999): the check must not pass on trivial 0s and 1s only.
    let mut inner = 0;
    for (case, &(sizes, act, layer, pl, loss)) in cases.iter().enumerate() {
        let net = random_net(sizes, act, 10 + case as u64);
        let p = p_at(&net, layer, pl);
        let n = 3;
        let x = random_inputs(n, sizes[0], 20 + case as u64);
        let t = targets(
            n,
            net.n_outputs(),
            loss == Loss::CrossEntropy,
            30 + case as u64,
        );
        for eps in [1e-4, 1e-2, 0.1] {
            let exact = exact_tail(&net, &p, &x, &t, loss, eps, 20).unwrap();
            let mc = monte_carlo_tail(&net, &p, &x, &t, loss, eps, reps, 7).unwrap();
            for (i, (e, m)) in exact.iter().zip(&mc).enumerate() {
                let what = format!("case {case} ε {eps} input {i}: exact {e}, {m:?}");
                assert!(m.upper >= *e, "upper below the exact tail: {what}");
                let se = (e * (1.0 - e) / reps as f64).sqrt();
                assert!((m.tail - e).abs() <= 4.0 * se + 1e-12, "P̂ too far: {what}");
                inner += usize::from(*e > 1e-3 && *e < 0.999);
            }
        }
    }
    assert!(inner >= 12, "only {inner} of 45 tails are informative");
}

/// A certificate with the check on a wider network: the quantities agree with their
/// definitions and the input verdicts roll up by the rule of SPEC §11.
#[test]
fn certificate_with_monte_carlo_check() {
    let net = random_net(&[6, 200, 3], Activation::Sigmoid, 5);
    let p = p_at(&net, 1, 0.01);
    let x = random_inputs(4, 6, 6);
    let t = targets(4, 3, false, 7);
    let s = Settings {
        loss: Loss::Mse,
        epsilon: 0.05,
        delta: 1e-3,
        verify: 20_000,
        seed: 1,
    };
    let c = certify(&net, &p, &x, &t, &s).unwrap();
    let nq = network_quantities(&net, &p).unwrap();
    assert_eq!(c.network, nq);
    assert_eq!(nq.width, 200);
    assert!(nq.q > 0.0 && nq.q <= 1.0);
    // δ = 1e-3: 2 · 6.907755 / 1.098612 = 12.58 → 13.
    assert_eq!(c.copies, 13);
    for i in &c.inputs {
        let e = i.empirical.unwrap();
        assert_eq!(e.repetitions, 20_000);
        assert_eq!(e.verified, e.upper < 1.0 / 3.0);
    }
    assert_eq!(
        c.verdict,
        VerdictKind::overall(c.inputs.iter().map(|i| i.verdict.kind()))
    );
    assert!(c.all_verified().is_some());
}

#[test]
fn bad_settings_and_failure_vectors_are_refused() {
    let net = random_net(&[3, 5, 4, 2], Activation::Relu, 1);
    let x = random_inputs(2, 3, 2);
    let t = targets(2, 2, false, 3);
    let s = Settings {
        loss: Loss::Mse,
        epsilon: 0.1,
        delta: 1e-5,
        verify: 0,
        seed: 0,
    };
    let two = FailureVector::new(vec![0.0, 0.1, 0.1, 0.0]).unwrap();
    assert!(matches!(
        certify(&net, &two, &x, &t, &s),
        Err(CertifyError::CrashingLayers(l)) if l == vec![1, 2]
    ));
    let none = FailureVector::new(vec![0.0; 4]).unwrap();
    assert!(matches!(
        crashing_layer(&none),
        Err(CertifyError::CrashingLayers(l)) if l.is_empty()
    ));
    let input = p_at(&net, 0, 0.1);
    assert!(matches!(
        certify(&net, &input, &x, &t, &s),
        Err(CertifyError::InputLayer)
    ));
    let p = p_at(&net, 2, 0.01);
    for (eps, delta) in [(0.0, 1e-5), (f64::NAN, 1e-5), (0.1, 0.0), (0.1, 1.0)] {
        let err = certify(
            &net,
            &p,
            &x,
            &t,
            &Settings {
                epsilon: eps,
                delta,
                ..s
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, CertifyError::InvalidParameter { .. }),
            "{err}"
        );
        assert!(err.is_input_error());
    }
    // Targets of the wrong shape.
    let err = certify(&net, &p, &x, &t[..3], &s).unwrap_err();
    assert!(err.is_input_error(), "{err}");
    // Too many neurons to enumerate.
    let err = exact_tail(&net, &p_at(&net, 1, 0.1), &x, &t, Loss::Mse, 0.1, 4).unwrap_err();
    assert!(matches!(
        err,
        CertifyError::TooManyCrashable {
            crashable: 5,
            max: 4
        }
    ));
}
