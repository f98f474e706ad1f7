//! Monte Carlo against exact enumeration, the fast path against the dense path, edge cases and
//! thread-count independence.

use ftnn_model::{exact_delta, Activation, FailureVector, Init, Inputs, Mlp, MonteCarlo, Strategy};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn net(sizes: &[usize], act: Activation, seed: u64) -> Mlp {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Mlp::init(
        sizes,
        act,
        1.0,
        Init::Random {
            scale: 3.0,
            mean: 0.1,
        },
        &mut rng,
    )
    .unwrap()
}

fn inputs(n: usize, width: usize, seed: u64) -> Inputs {
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data = (0..n * width)
        .map(|_| {
            let z: f32 = StandardNormal.sample(&mut rng);
            2.0 * z
        })
        .collect();
    Inputs::new(data, n, width).unwrap()
}

/// The full distribution of Δ for one input by brute force: (probability, Δ) per pattern.
fn distribution(net: &Mlp, p: &FailureVector, x: &[f32]) -> Vec<(f64, Vec<f64>)> {
    let sizes = net.sizes();
    let neurons: Vec<(usize, usize)> = sizes
        .iter()
        .enumerate()
        .flat_map(|(l, &n)| (0..n).map(move |i| (l, i)))
        .filter(|&(l, _)| p[l] > 0.0)
        .collect();
    let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let y = net.forward_f64(&x, None);
    (0..1usize << neurons.len())
        .map(|s| {
            let mut masks: Vec<Vec<bool>> = sizes.iter().map(|&n| vec![false; n]).collect();
            let mut w = 1.0;
            for (b, &(l, i)) in neurons.iter().enumerate() {
                let c = s >> b & 1 == 1;
                masks[l][i] = c;
                w *= if c { p[l] } else { 1.0 - p[l] };
            }
            let yh = net.forward_f64(&x, Some(&masks));
            (w, yh.iter().zip(&y).map(|(a, b)| a - b).collect())
        })
        .collect()
}

/// Monte Carlo mean and variance agree with exact enumeration within 5 standard errors, where
/// the standard error of the sample variance is sqrt((μ₄ − σ⁴)/R) from the exact distribution.
#[test]
fn monte_carlo_matches_exact_enumeration() {
    let cases: Vec<(Vec<usize>, Activation, Vec<f64>)> = vec![
        (vec![3, 6, 4, 2], Activation::Relu, vec![0.0, 0.1, 0.0, 0.0]),
        (
            vec![3, 6, 4, 2],
            Activation::Sigmoid,
            vec![0.2, 0.0, 0.0, 0.0],
        ),
        (vec![3, 6, 4, 2], Activation::Tanh, vec![0.0, 0.3, 0.2, 0.0]),
        (
            vec![3, 5, 4, 2],
            Activation::Softplus,
            vec![0.05, 0.05, 0.05, 0.05],
        ),
        (vec![4, 8, 3], Activation::Relu, vec![0.0, 0.5, 0.0]),
        (vec![4, 8, 3], Activation::Sigmoid, vec![0.0, 0.0, 0.4]),
    ];
    let reps = 40_000;
    for (case, (sizes, act, p)) in cases.into_iter().enumerate() {
        let net = net(&sizes, act, case as u64);
        let p = FailureVector::new(p).unwrap();
        let x = inputs(2, sizes[0], 100 + case as u64);
        let mc = MonteCarlo::new(&net, p.clone())
            .unwrap()
            .repetitions(reps)
            .seed(case as u64)
            .run(&x)
            .unwrap();
        let ex = exact_delta(&net, &p, &x, 20).unwrap();
        let n_out = net.n_outputs();
        for i in 0..2 {
            let dist = distribution(&net, &p, x.row(i));
            for k in 0..n_out {
                let idx = i * n_out + k;
                let (mu, sd) = (ex.mean[idx], ex.std[idx]);
                // The test's own enumeration agrees with the library's.
                let mu_b: f64 = dist.iter().map(|(w, d)| w * d[k]).sum();
                assert!((mu - mu_b).abs() <= 1e-9 * (1.0 + mu.abs()));
                let var = sd * sd;
                let mu4: f64 = dist.iter().map(|(w, d)| w * (d[k] - mu).powi(4)).sum();
                let se_mean = sd / (reps as f64).sqrt();
                let se_var = ((mu4 - var * var).max(0.0) / reps as f64).sqrt();
                let tol_f32 = 1e-5 * (1.0 + mu.abs());
                assert!(
                    (mc.mean[idx] - mu).abs() <= 5.0 * se_mean + tol_f32,
                    "case {case} input {i} out {k}: mean {} vs exact {mu} (se {se_mean})",
                    mc.mean[idx]
                );
                let mc_var = mc.std[idx].powi(2);
                assert!(
                    (mc_var - var).abs() <= 5.0 * se_var + 1e-9,
                    "case {case} input {i} out {k}: var {mc_var} vs exact {var} (se {se_var})"
                );
                assert!((mc.stderr[idx] - mc.std[idx] / (reps as f64).sqrt()).abs() < 1e-15);
            }
        }
    }
}

/// The incremental path (prefix reuse, sparse AXPY or GEMM at the first crashing layer,
/// skipped crash-free rows) and the dense path see the same crash patterns and give the same
/// Δ up to f32 rounding.
#[test]
fn incremental_path_matches_dense_path() {
    let sizes = [20, 30, 25, 5];
    let net = net(&sizes, Activation::Sigmoid, 9);
    let x = inputs(3, 20, 10);
    let cases = [
        vec![0.01, 0.0, 0.0, 0.0],
        vec![0.0, 0.02, 0.0, 0.0],
        vec![0.0, 0.3, 0.0, 0.0],
        vec![0.0, 0.0, 0.05, 0.0],
        vec![0.0, 0.0, 0.0, 0.1],
        vec![0.0, 0.05, 0.05, 0.05],
        vec![0.1, 0.01, 1.0, 0.0],
        vec![0.0, 0.0, 0.0, 1.0],
    ];
    for p in cases {
        let p = FailureVector::new(p).unwrap();
        let run = |s| {
            MonteCarlo::new(&net, p.clone())
                .unwrap()
                .repetitions(777)
                .seed(42)
                .strategy(s)
                .run(&x)
                .unwrap()
        };
        let (a, b) = (run(Strategy::Incremental), run(Strategy::Dense));
        for (u, v) in a.mean.iter().zip(&b.mean).chain(a.std.iter().zip(&b.std)) {
            assert!(
                (u - v).abs() <= 2e-5 * (1.0 + v.abs()),
                "p={p:?}: {u} vs {v}"
            );
        }
    }
}

#[test]
fn no_crash_gives_zero_error() {
    let net = net(&[6, 7, 3], Activation::Relu, 1);
    let p = FailureVector::new(vec![0.0; 3]).unwrap();
    for s in [Strategy::Incremental, Strategy::Dense] {
        let st = MonteCarlo::new(&net, p.clone())
            .unwrap()
            .repetitions(500)
            .strategy(s)
            .run(&inputs(4, 6, 2))
            .unwrap();
        assert!(st
            .mean
            .iter()
            .chain(&st.std)
            .chain(&st.stderr)
            .all(|&v| v == 0.0));
    }
}

#[test]
fn output_always_crashed_gives_minus_y() {
    let net = net(&[6, 7, 3], Activation::Tanh, 2);
    let x = inputs(4, 6, 3);
    let y = net.forward(x.data(), 4).unwrap();
    let p = FailureVector::new(vec![0.0, 0.0, 1.0]).unwrap();
    for s in [Strategy::Incremental, Strategy::Dense] {
        let st = MonteCarlo::new(&net, p.clone())
            .unwrap()
            .repetitions(300)
            .strategy(s)
            .run(&x)
            .unwrap();
        for (m, &yk) in st.mean.iter().zip(&y) {
            assert!(
                (m + yk as f64).abs() <= 1e-6 * (1.0 + yk.abs() as f64),
                "{m} vs {yk}"
            );
        }
        assert!(st.std.iter().all(|&v| v < 1e-6));
    }
}

/// The same seed gives bit-identical statistics with 1 and 2 threads (several chunks of blocks,
/// GEMM and sparse paths).
#[test]
fn same_numbers_whatever_the_thread_count() {
    let net = net(&[40, 64, 32, 4], Activation::Sigmoid, 5);
    let x = inputs(5, 40, 6);
    for p in [vec![0.0, 0.02, 0.0, 0.0], vec![0.0, 0.2, 0.1, 0.01]] {
        let p = FailureVector::new(p).unwrap();
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    MonteCarlo::new(&net, p.clone())
                        .unwrap()
                        .repetitions(9_000)
                        .seed(11)
                        .run(&x)
                        .unwrap()
                })
        };
        let (a, b) = (run(1), run(2));
        assert_eq!(a, b);
    }
}

#[test]
fn bad_configurations_are_rejected() {
    let net = net(&[3, 4, 2], Activation::Relu, 0);
    let x = inputs(1, 3, 0);
    let p = FailureVector::new(vec![0.0, 0.1]).unwrap();
    assert!(MonteCarlo::new(&net, p).is_err());
    let p = FailureVector::new(vec![0.0, 0.1, 0.0]).unwrap();
    let mc = MonteCarlo::new(&net, p).unwrap();
    assert!(matches!(
        mc.clone().repetitions(0).run(&x),
        Err(ftnn_model::ModelError::ZeroRepetitions)
    ));
    assert!(matches!(
        mc.run(&inputs(1, 4, 0)),
        Err(ftnn_model::ModelError::Shape { .. })
    ));
}
