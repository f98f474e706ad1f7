//! Monte Carlo and exact enumeration on Sequential networks (SPEC §3, §11) against
//! independent references: the MLP engine's f64 exact enumeration, crash patterns enumerated
//! by hand through the f64 MLP reference, and Monte Carlo against exact results with a
//! tolerance from the standard error.

mod seq_common;

use candle_core::{Device, Tensor};
use ftnn_model::seq::{seq_exact_delta, SeqMonteCarlo, Sequential};
use ftnn_model::{exact_delta, Activation, FailureVector, Init, Inputs, Mlp, ModelError};
use seq_common::{batch, random_inputs, random_net};

fn mlp(sizes: &[usize], act: Activation, seed: u64) -> Mlp {
    let mut rng = seq_common::rng(seed);
    Mlp::init(sizes, act, 1.3, Init::Paper, &mut rng).unwrap()
}

fn inputs(n: usize, w: usize) -> Vec<f32> {
    (0..n * w).map(|i| ((i as f32) * 0.71).sin()).collect()
}

/// A small CNN with 16 input pixels and two activation sites: exact enumeration is feasible
/// at the input (16 elements) and at the last hidden site (4 elements).
const CNN: &str = r#"{"input_shape": [1, 4, 4], "layers": [
    {"op": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": 1},
    {"op": "tanh"},
    {"op": "avgpool2d", "kernel_size": 2},
    {"op": "flatten"},
    {"op": "linear", "in_features": 8, "out_features": 4},
    {"op": "sigmoid", "scale": 2.0},
    {"op": "linear", "in_features": 4, "out_features": 3}
]}"#;

/// The Sequential exact enumeration of an MLP equals the MLP engine's (f64 reference
/// forward): the same 2^m patterns and weights, an independent forward pass.
#[test]
fn exact_matches_the_mlp_engine_on_mlps() {
    for (act, p) in [
        (Activation::Sigmoid, vec![0.0, 0.1, 0.0, 0.0]),
        (Activation::Relu, vec![0.05, 0.0, 0.2, 0.0]),
        (Activation::Tanh, vec![0.0, 0.3, 0.1, 0.5]),
    ] {
        let m = mlp(&[3, 5, 4, 2], act, 3);
        let seq = Sequential::from_mlp(&m, &Device::Cpu).unwrap();
        let x = inputs(2, 3);
        let fv = FailureVector::new(p).unwrap();
        let want = exact_delta(&m, &fv, &Inputs::new(x.clone(), 2, 3).unwrap(), 20).unwrap();
        let t = Tensor::from_vec(x, (2, 3), &Device::Cpu).unwrap();
        let got = seq_exact_delta(&seq, &fv, &t, None, 20).unwrap();
        assert_eq!(got.crashable, want.crashable);
        for (i, (a, b)) in got.mean.iter().zip(&want.mean).enumerate() {
            assert!(
                (a - b).abs() <= 2e-6 * (1.0 + b.abs()),
                "{act} mean[{i}]: {a} vs {b}"
            );
        }
        for (i, (a, b)) in got.std.iter().zip(&want.std).enumerate() {
            assert!(
                (a - b).abs() <= 2e-5 * (1.0 + b.abs()),
                "{act} std[{i}]: {a} vs {b}"
            );
        }
    }
}

/// A crash mask at the input: only the allowed pixels crash. Reference: the 2^2 patterns of
/// the two allowed inputs enumerated by hand through the f64 MLP forward pass.
#[test]
fn crash_mask_restricts_input_crashes() {
    let m = mlp(&[4, 6, 2], Activation::Sigmoid, 5);
    let seq = Sequential::from_mlp(&m, &Device::Cpu).unwrap();
    let x = inputs(1, 4);
    let p = 0.3;
    let fv = FailureVector::new(vec![p, 0.0, 0.0]).unwrap();
    let mask = [0.0, 1.0, 0.0, 1.0];
    let clean = m.forward_f64(&x.iter().map(|&v| v as f64).collect::<Vec<_>>(), None);
    let (mut mean, mut second) = ([0f64; 2], [0f64; 2]);
    for c in 0..4 {
        let mut xc: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let mut w = 1.0;
        for (b, &i) in [1usize, 3].iter().enumerate() {
            if c >> b & 1 == 1 {
                xc[i] = 0.0;
                w *= p;
            } else {
                w *= 1.0 - p;
            }
        }
        let y = m.forward_f64(&xc, None);
        for k in 0..2 {
            let d = y[k] - clean[k];
            mean[k] += w * d;
            second[k] += w * d * d;
        }
    }
    let t = Tensor::from_vec(x, (1, 4), &Device::Cpu).unwrap();
    let got = seq_exact_delta(&seq, &fv, &t, Some(&mask), 20).unwrap();
    assert_eq!(got.crashable, 2);
    for k in 0..2 {
        let std = (second[k] - mean[k] * mean[k]).max(0.0).sqrt();
        assert!(
            (got.mean[k] - mean[k]).abs() < 1e-6,
            "{} vs {}",
            got.mean[k],
            mean[k]
        );
        assert!((got.std[k] - std).abs() < 1e-5, "{} vs {std}", got.std[k]);
    }
    // Monte Carlo with the same mask: never a crash outside it, so it agrees with exact.
    let mc = SeqMonteCarlo::new(&seq, fv)
        .unwrap()
        .repetitions(40_000)
        .seed(2)
        .crash_mask(&mask)
        .unwrap()
        .run(&t)
        .unwrap();
    for k in 0..2 {
        let z = (mc.mean[k] - got.mean[k]) / mc.stderr[k];
        assert!(
            z.abs() < 4.5,
            "output {k}: MC {} ± {}, exact {}",
            mc.mean[k],
            mc.stderr[k],
            got.mean[k]
        );
    }
}

/// Monte Carlo on a CNN against exact enumeration, crashes at 12 of the 16 input pixels
/// (a crash mask) and at the last hidden site (4 neurons) at once: |MC − exact| within 4.5
/// standard errors for every input and output (fixed seed), and the std within 3 %
/// (R = 60 000).
#[test]
fn cnn_monte_carlo_matches_exact() {
    let (net, _) = random_net(CNN, 11);
    assert_eq!(net.n_sites(), 4, "input, tanh, sigmoid, output");
    let x = batch(&random_inputs(&[1, 4, 4], 2, 12));
    let fv = FailureVector::new(vec![0.1, 0.0, 0.2, 0.0]).unwrap();
    let mask: Vec<f32> = (0..16)
        .map(|i| if i % 4 == 3 { 0.0 } else { 1.0 })
        .collect();
    let exact = seq_exact_delta(&net, &fv, &x, Some(&mask), 20).unwrap();
    assert_eq!(exact.crashable, 16);
    let mc = SeqMonteCarlo::new(&net, fv)
        .unwrap()
        .repetitions(60_000)
        .seed(7)
        .crash_mask(&mask)
        .unwrap()
        .run(&x)
        .unwrap();
    for i in 0..exact.mean.len() {
        let z = (mc.mean[i] - exact.mean[i]) / mc.stderr[i];
        assert!(
            z.abs() < 4.5,
            "[{i}] MC {} ± {} vs exact {}",
            mc.mean[i],
            mc.stderr[i],
            exact.mean[i]
        );
        let r = mc.std[i] / exact.std[i];
        assert!(
            (r - 1.0).abs() < 0.03,
            "[{i}] std MC {} vs exact {}",
            mc.std[i],
            exact.std[i]
        );
    }
}

/// Exact enumeration on a CNN against the 2^8 patterns enumerated in the test through
/// [`Sequential::forward_masked`] (4 allowed input pixels, the 4 sigmoid neurons), with the
/// weights and moments computed here in f64.
#[test]
fn cnn_exact_matches_enumeration_by_hand() {
    let (net, _) = random_net(CNN, 19);
    let x = batch(&random_inputs(&[1, 4, 4], 1, 20));
    let (p_in, p_hid) = (0.15, 0.3);
    let fv = FailureVector::new(vec![p_in, 0.0, p_hid, 0.0]).unwrap();
    let allowed = [0usize, 5, 10, 15];
    let mut mask = vec![0f32; 16];
    allowed.iter().for_each(|&i| mask[i] = 1.0);
    let got = seq_exact_delta(&net, &fv, &x, Some(&mask), 20).unwrap();
    assert_eq!(got.crashable, 8);
    let dev = Device::Cpu;
    let none: Vec<Option<Tensor>> = vec![None; 4];
    let clean = seq_common::flat(&net.forward_masked(&x, &none).unwrap());
    let (mut mean, mut second) = ([0f64; 3], [0f64; 3]);
    for c in 0..256usize {
        let mut m_in = vec![1f32; 16];
        let mut m_hid = vec![1f32; 4];
        let mut w = 1.0;
        for b in 0..8 {
            let crashed = c >> b & 1 == 1;
            let pb = if b < 4 { p_in } else { p_hid };
            w *= if crashed { pb } else { 1.0 - pb };
            if crashed {
                if b < 4 {
                    m_in[allowed[b]] = 0.0;
                } else {
                    m_hid[b - 4] = 0.0;
                }
            }
        }
        let masks = vec![
            Some(Tensor::from_vec(m_in, (1, 1, 4, 4), &dev).unwrap()),
            None,
            Some(Tensor::from_vec(m_hid, (1, 4), &dev).unwrap()),
            None,
        ];
        let y = seq_common::flat(&net.forward_masked(&x, &masks).unwrap());
        for k in 0..3 {
            let d = (y[k] - clean[k]) as f64;
            mean[k] += w * d;
            second[k] += w * d * d;
        }
    }
    for k in 0..3 {
        let std = (second[k] - mean[k] * mean[k]).max(0.0).sqrt();
        assert!(
            (got.mean[k] - mean[k]).abs() < 1e-6,
            "{} vs {}",
            got.mean[k],
            mean[k]
        );
        assert!((got.std[k] - std).abs() < 1e-5, "{} vs {std}", got.std[k]);
        assert!(std > 1e-3, "the crashes must matter: {std}");
    }
}

/// The same seed gives bit-identical results with one thread and with several.
#[test]
fn monte_carlo_is_bit_identical_whatever_the_threads() {
    let (net, _) = random_net(CNN, 13);
    let x = batch(&random_inputs(&[1, 4, 4], 3, 14));
    let fv = FailureVector::new(vec![0.05, 0.1, 0.1, 0.01]).unwrap();
    let mc = SeqMonteCarlo::new(&net, fv)
        .unwrap()
        .repetitions(3000)
        .seed(9);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| mc.run(&x).unwrap())
    };
    let (a, b) = (run(1), run(3));
    assert_eq!(a, b);
    assert!(a.std.iter().any(|&s| s > 0.0));
}

/// Nothing can crash: Δ is 0 and costs nothing; a crash mask of zeros means the same.
#[test]
fn no_crash_gives_zero() {
    let (net, _) = random_net(CNN, 15);
    let x = batch(&random_inputs(&[1, 4, 4], 2, 16));
    let zero = FailureVector::new(vec![0.0; 4]).unwrap();
    let s = SeqMonteCarlo::new(&net, zero)
        .unwrap()
        .repetitions(100)
        .run(&x)
        .unwrap();
    assert!(s.mean.iter().chain(&s.std).all(|&v| v == 0.0));
    let input_only = FailureVector::new(vec![0.5, 0.0, 0.0, 0.0]).unwrap();
    let s = SeqMonteCarlo::new(&net, input_only.clone())
        .unwrap()
        .repetitions(100)
        .crash_mask(&[0.0; 16])
        .unwrap()
        .run(&x)
        .unwrap();
    assert!(s.mean.iter().chain(&s.std).all(|&v| v == 0.0));
    let e = seq_exact_delta(&net, &input_only, &x, Some(&[0.0; 16]), 20).unwrap();
    assert_eq!(e.crashable, 0);
    assert!(e.mean.iter().chain(&e.std).all(|&v| v == 0.0));
}

/// Bad input is a typed error: a failure vector of the wrong length, a crash mask of the
/// wrong size or with entries other than 0/1, zero repetitions, too many crashable elements.
#[test]
fn bad_input_is_an_error() {
    let (net, _) = random_net(CNN, 17);
    let x = batch(&random_inputs(&[1, 4, 4], 1, 18));
    let short = FailureVector::new(vec![0.1, 0.0]).unwrap();
    assert!(matches!(
        SeqMonteCarlo::new(&net, short.clone()),
        Err(ModelError::SiteCount {
            expected: 4,
            got: 2
        })
    ));
    assert!(matches!(
        seq_exact_delta(&net, &short, &x, None, 20),
        Err(ModelError::SiteCount { .. })
    ));
    let fv = FailureVector::new(vec![0.1, 0.0, 0.0, 0.0]).unwrap();
    let mc = SeqMonteCarlo::new(&net, fv.clone()).unwrap();
    assert!(mc.clone().crash_mask(&[1.0; 15]).is_err());
    let mut half = [1.0f32; 16];
    half[3] = 0.5;
    assert!(mc.clone().crash_mask(&half).is_err());
    assert!(matches!(
        mc.clone().repetitions(0).run(&x),
        Err(ModelError::ZeroRepetitions)
    ));
    let every = FailureVector::new(vec![0.1, 0.1, 0.1, 0.1]).unwrap();
    assert!(matches!(
        seq_exact_delta(&net, &every, &x, None, 20),
        Err(ModelError::TooManyCrashable {
            crashable: 55,
            max: 20
        })
    ));
}
