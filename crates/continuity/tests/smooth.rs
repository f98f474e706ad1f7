//! smooth() (SPEC §7, Eq. 1): the candle path against the `f64` reference, hand-computed
//! cases, and bad input.

use candle_core::{DType, Device, Tensor};
use ftnn_continuity::{smooth, smooth_parts, smooth_parts_f64, ContinuityError, Smoother};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_matrix(n_out: usize, n_in: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n_out * n_in)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect()
}

fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

fn assert_close(got: f64, expected: f64, rel: f64, what: &str) {
    assert!(
        (got - expected).abs() <= rel * expected.abs().max(1e-12),
        "{what}: got {got}, expected {expected}"
    );
}

#[test]
fn candle_matches_the_reference_on_random_matrices() {
    // n_out = 1: nothing fits; 2: forward difference only; 5: + accuracy 4, m ≤ 1;
    // 19: every stencil, m ≤ 1; 40: m = 2 ([−1, 1]) and m = 4 (even taps);
    // 200: m = 10, 20; 31..=151 straddle the row blocks of the GEMMs; 501 is Algorithm 1's
    // final width and 1500 its largest (m = 75, 150); at 3000 the row blocks are capped.
    let shapes = [
        (1, 4),
        (2, 3),
        (5, 7),
        (19, 2),
        (40, 5),
        (200, 3),
        (31, 2),
        (32, 2),
        (33, 2),
        (63, 2),
        (64, 2),
        (65, 2),
        (150, 1),
        (151, 1),
        (501, 2),
        (1500, 2),
        (3000, 1),
    ];
    for (k, &(n_out, n_in)) in shapes.iter().enumerate() {
        let values = random_matrix(n_out, n_in, 7 + k as u64);
        let (d_ref, s_ref) = smooth_parts_f64(&values, n_out, n_in);
        for dtype in [DType::F64, DType::F32] {
            let rel = if dtype == DType::F64 { 1e-12 } else { 1e-5 };
            let w = Tensor::from_vec(values.clone(), (n_out, n_in), &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let (d, s) = smooth_parts(&w).unwrap();
            assert_eq!(d.dims(), &[] as &[usize]);
            assert_close(
                scalar(&d),
                d_ref,
                rel,
                &format!("D, {n_out}x{n_in} {dtype:?}"),
            );
            assert_close(
                scalar(&s),
                s_ref,
                rel,
                &format!("S, {n_out}x{n_in} {dtype:?}"),
            );
        }
        if n_out == 1 {
            assert_eq!((d_ref, s_ref), (0.0, 0.0));
        } else {
            assert!(d_ref > 0.0);
        }
        if n_out < 20 {
            assert_eq!(
                s_ref, 0.0,
                "m = ⌊n_out/20⌋, ⌊n_out/10⌋ ≤ 1 contributes nothing"
            );
        } else {
            assert!(s_ref > 0.0);
        }
    }
}

#[test]
fn hand_computed_derivative_part() {
    // n_out = 3, one column w = [1, 2, 4]. Only the forward difference fits (5, 11, 15 taps > 3)
    // and m = ⌊3/20⌋ = ⌊3/10⌋ = 0 contributes nothing.
    // Forward difference with TF 'same' padding (w_3 = 0): (w1 − w0, w2 − w1, 0 − w2)
    // = (1, 2, −4), Σ|·| = 7, so D = ¼ · 7 = 1.75 and S = 0.
    let w = Tensor::new(&[[1.0f64], [2.0], [4.0]], &Device::Cpu).unwrap();
    let (d, s) = smooth_parts(&w).unwrap();
    assert_close(scalar(&d), 1.75, 1e-15, "D");
    assert_eq!(scalar(&s), 0.0);
    assert_eq!(smooth_parts_f64(&[1.0, 2.0, 4.0], 3, 1), (1.75, 0.0));
    let reg = smooth(&w, 2.0, 5.0).unwrap();
    assert_close(scalar(&reg), 3.5, 1e-15, "ψ_d · D + ψ_s · S");
}

#[test]
fn hand_computed_one_hot_bias() {
    // A bias vector b = e_0 of n = 20 neurons (read as [20, 1]).
    // Derivative part: the forward difference gives w1 − w0 = −1 at i = 0 and 0 elsewhere; a
    // central stencil with h = accuracy/2 gives (c ⋆ e_0)_i = c_{−i} for i = 0..h, so it
    // contributes Σ_{k=1..h} |c_{−k}|:
    //   accuracy 4:  1/12 + 2/3 = 3/4;
    //   accuracy 10: 5/6 + 5/21 + 5/84 + 5/504 + 1/1260 = 2877/2520;
    //   accuracy 14: 7/8 + 7/24 + 7/72 + 7/264 + 7/1320 + 7/10296 + 1/24024.
    // D = ¼ (1 + 3/4 + 2877/2520 + Σ14).
    // Smoothness part: m = ⌊20/20⌋ = 1 contributes nothing; m = ⌊20/10⌋ = 2 uses [−1, 1]:
    // (g ⋆ b)_i − b_i = b_{i+1} − 2 b_i = −2 at i = 0, 0 elsewhere, so the mean over i is
    // 2/20 and S = ½ · (0 + 0.1) = 0.05.
    let acc14 = 7.0 / 8.0
        + 7.0 / 24.0
        + 7.0 / 72.0
        + 7.0 / 264.0
        + 7.0 / 1320.0
        + 7.0 / 10296.0
        + 1.0 / 24024.0;
    let d_expected = 0.25 * (1.0 + 0.75 + 2877.0 / 2520.0 + acc14);
    let mut values = vec![0.0; 20];
    values[0] = 1.0;
    let b = Tensor::from_vec(values.clone(), 20, &Device::Cpu).unwrap();
    let (d, s) = smooth_parts(&b).unwrap();
    assert_close(scalar(&d), d_expected, 1e-14, "D");
    assert_close(scalar(&s), 0.05, 1e-14, "S");
    let (d_ref, s_ref) = smooth_parts_f64(&values, 20, 1);
    assert_close(d_ref, d_expected, 1e-14, "D reference");
    assert_close(s_ref, 0.05, 1e-14, "S reference");
}

#[test]
fn hand_computed_gaussian_part() {
    // n_out = 30 neurons, two constant columns of ones. m = ⌊30/20⌋ = 1 contributes nothing;
    // m = ⌊30/10⌋ = 3: g_3 = [a, 1 − 2a, a] with a = (Φ(−1) − Φ(−3)) / (Φ(3) − Φ(−3)).
    // Inside, (g ⋆ w)_i − w_i = Σg − 1 = 0; at i = 0 the tap on w_{−1} = 0 is missing, so the
    // argument is −a, and likewise at i = 29. Per column Σ_i |·| = 2a, mean 2a/30; over the two
    // columns and with the ½: S = ½ · 2 · 2a/30 = 2a/30.
    let (phi_m1, phi_m3) = (0.15865525393145707, 0.0013498980316301035);
    let a = (phi_m1 - phi_m3) / (1.0 - 2.0 * phi_m3);
    let w = Tensor::ones((30, 2), DType::F64, &Device::Cpu).unwrap();
    let (_, s) = smooth_parts(&w).unwrap();
    assert_close(scalar(&s), 2.0 * a / 30.0, 1e-13, "S");
    let (_, s_ref) = smooth_parts_f64(&[1.0; 60], 30, 2);
    assert_close(s_ref, 2.0 * a / 30.0, 1e-13, "S reference");
}

#[test]
fn smoother_is_reusable_and_converts_dtypes() {
    let values = random_matrix(45, 6, 3);
    let (d_ref, s_ref) = smooth_parts_f64(&values, 45, 6);
    let smoother = Smoother::new(45, DType::F64, &Device::Cpu).unwrap();
    assert_eq!(smoother.n_out(), 45);
    let w64 = Tensor::from_vec(values, (45, 6), &Device::Cpu).unwrap();
    let w32 = w64.to_dtype(DType::F32).unwrap();
    for _ in 0..2 {
        for w in [&w64, &w32] {
            let (d, s) = smoother.parts(w).unwrap();
            assert_eq!(d.dtype(), w.dtype());
            assert_close(scalar(&d), d_ref, 1e-5, "D");
            assert_close(scalar(&s), s_ref, 1e-5, "S");
            let reg = smoother.apply(w, 0.3, 4.0).unwrap();
            assert_close(scalar(&reg), 0.3 * d_ref + 4.0 * s_ref, 1e-5, "regularizer");
        }
    }
    // A non-contiguous W (a transposed view) is read correctly.
    let wt = w64.t().unwrap().contiguous().unwrap().t().unwrap();
    assert!(!wt.is_contiguous());
    let (d, _) = smoother.parts(&wt).unwrap();
    assert_close(scalar(&d), d_ref, 1e-12, "D of a strided view");
}

#[test]
fn bad_input_is_an_error() {
    let dev = Device::Cpu;
    let scalar_t = Tensor::new(1.0f64, &dev).unwrap();
    assert!(matches!(
        smooth(&scalar_t, 1.0, 1.0),
        Err(ContinuityError::Rank { .. })
    ));
    let cube = Tensor::zeros((2, 3, 4), DType::F32, &dev).unwrap();
    assert!(matches!(
        smooth_parts(&cube),
        Err(ContinuityError::Rank { .. })
    ));
    for shape in [vec![0, 3], vec![3, 0], vec![0]] {
        let empty = Tensor::zeros(shape, DType::F32, &dev).unwrap();
        assert!(matches!(
            smooth(&empty, 1.0, 1.0),
            Err(ContinuityError::Empty { .. })
        ));
    }
    let w = Tensor::ones((10, 2), DType::F32, &dev).unwrap();
    for (psi_d, psi_s) in [(f64::NAN, 1.0), (1.0, f64::INFINITY)] {
        assert!(matches!(
            smooth(&w, psi_d, psi_s),
            Err(ContinuityError::NonFiniteCoefficient { .. })
        ));
    }
    let smoother = Smoother::new(11, DType::F32, &dev).unwrap();
    assert!(matches!(
        smoother.parts(&w),
        Err(ContinuityError::NeuronCount {
            expected: 11,
            got: 10
        })
    ));
    assert!(matches!(
        smoother.apply(
            &Tensor::ones((11, 2), DType::F32, &dev).unwrap(),
            f64::NAN,
            1.0
        ),
        Err(ContinuityError::NonFiniteCoefficient { name: "psi_d", .. })
    ));
    assert!(matches!(
        Smoother::new(0, DType::F32, &dev),
        Err(ContinuityError::Empty { .. })
    ));
    assert!(matches!(
        Smoother::new(10, DType::I64, &dev),
        Err(ContinuityError::DType { .. })
    ));
    let ints = Tensor::ones((10, 2), DType::U32, &dev).unwrap();
    assert!(matches!(
        smooth(&ints, 1.0, 1.0),
        Err(ContinuityError::DType { .. })
    ));
    // The f64 reference signals a wrong length with NaNs instead of panicking.
    let (d, s) = smooth_parts_f64(&[1.0, 2.0, 3.0], 2, 2);
    assert!(d.is_nan() && s.is_nan());
    let (d, s) = smooth_parts_f64(&[], 0, 5);
    assert!(d.is_nan() && s.is_nan());
}
