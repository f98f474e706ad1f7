//! Shared helpers of the Sequential tests: seeded random parameters, safetensors writing and
//! a direct nested-loop f64 reference implementation of every layer (one example at a time),
//! independent of the candle code under test.
#![allow(dead_code)]

use candle_core::{Device, Tensor};
use ftnn_model::{Architecture, Sequential};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// One example's tensor: shape and row-major values.
#[derive(Debug, Clone)]
pub struct T {
    pub s: Vec<usize>,
    pub v: Vec<f64>,
}

impl T {
    pub fn new(s: &[usize], v: Vec<f64>) -> Self {
        assert_eq!(s.iter().product::<usize>(), v.len());
        T { s: s.to_vec(), v }
    }
}

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` values uniform in [lo, hi).
pub fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// Random parameters for every tensor of `arch` (keys as the architecture names them);
/// running variances in [0.5, 1.5), everything else in [-1, 1).
pub fn random_params(arch: &Architecture, seed: u64) -> BTreeMap<String, Vec<f32>> {
    let mut r = rng(seed);
    arch.tensors()
        .into_iter()
        .map(|(_, key, shape)| {
            let n = shape.iter().product();
            let v = if key.ends_with("running_var") {
                uniform(&mut r, n, 0.5, 1.5)
            } else {
                uniform(&mut r, n, -1.0, 1.0)
            };
            (key, v)
        })
        .collect()
}

/// The parameters as candle tensors with the architecture's shapes.
pub fn tensors(arch: &Architecture, p: &BTreeMap<String, Vec<f32>>) -> BTreeMap<String, Tensor> {
    arch.tensors()
        .into_iter()
        .map(|(_, key, shape)| {
            let t = Tensor::from_slice(&p[&key], shape.as_slice(), &Device::Cpu).unwrap();
            (key, t)
        })
        .collect()
}

/// A network from JSON with random parameters.
pub fn random_net(json: &str, seed: u64) -> (Sequential, BTreeMap<String, Vec<f32>>) {
    let arch = Architecture::from_json(json).unwrap();
    let p = random_params(&arch, seed);
    let net = Sequential::new(arch.clone(), &tensors(&arch, &p), &Device::Cpu).unwrap();
    (net, p)
}

/// A batch tensor `[B, *shape]` of the examples.
pub fn batch(xs: &[T]) -> Tensor {
    let mut dims = vec![xs.len()];
    dims.extend_from_slice(&xs[0].s);
    let v: Vec<f32> = xs
        .iter()
        .flat_map(|x| x.v.iter().map(|&a| a as f32))
        .collect();
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

/// Random examples of a shape, values in [-2, 2).
pub fn random_inputs(shape: &[usize], n: usize, seed: u64) -> Vec<T> {
    let mut r = rng(seed);
    let size = shape.iter().product();
    (0..n)
        .map(|_| {
            let v = uniform(&mut r, size, -2.0, 2.0);
            T::new(shape, v.into_iter().map(f64::from).collect())
        })
        .collect()
}

pub fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// |got − want| ≤ tol·(1 + |want|) everywhere.
pub fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}

/// Writes a safetensors file; `dtype` F32, F64, F16 or BF16 (values converted from f32).
pub fn write_st(
    path: &Path,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    dtype: Dtype,
    meta: Option<HashMap<String, String>>,
) {
    let bufs: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(n, s, d)| {
            let bytes: Vec<u8> = match dtype {
                Dtype::F32 => d.iter().flat_map(|v| v.to_le_bytes()).collect(),
                Dtype::F64 => d.iter().flat_map(|&v| (v as f64).to_le_bytes()).collect(),
                Dtype::F16 => d
                    .iter()
                    .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                    .collect(),
                Dtype::BF16 => d
                    .iter()
                    .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
                    .collect(),
                other => panic!("unsupported {other:?}"),
            };
            (n.clone(), bytes, s.clone())
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bufs
        .iter()
        .map(|(n, d, s)| (n.clone(), TensorView::new(dtype, s.clone(), d).unwrap()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, meta).unwrap()).unwrap();
}

// ---------------------------------------------------------------------------------------
// Reference layers, one example at a time, plain loops in f64.

/// Convolution: weight `[o, c/groups, kh, kw]`, zero padding, per-axis stride.
#[allow(clippy::too_many_arguments)]
pub fn conv(
    x: &T,
    w: &[f32],
    o: usize,
    (kh, kw): (usize, usize),
    b: Option<&[f32]>,
    (sh, sw): (usize, usize),
    (ph, pw): (usize, usize),
    groups: usize,
) -> T {
    let (c, h, wd) = (x.s[0], x.s[1], x.s[2]);
    let cg = c / groups;
    let og = o / groups;
    let ho = (h + 2 * ph - kh) / sh + 1;
    let wo = (wd + 2 * pw - kw) / sw + 1;
    let mut y = vec![0f64; o * ho * wo];
    for oc in 0..o {
        let g = oc / og;
        for i in 0..ho {
            for j in 0..wo {
                let mut acc = b.map_or(0.0, |b| b[oc] as f64);
                for ci in 0..cg {
                    let cin = g * cg + ci;
                    for a in 0..kh {
                        for bb in 0..kw {
                            let r = (i * sh + a) as isize - ph as isize;
                            let q = (j * sw + bb) as isize - pw as isize;
                            if r < 0 || q < 0 || r >= h as isize || q >= wd as isize {
                                continue;
                            }
                            let xv = x.v[(cin * h + r as usize) * wd + q as usize];
                            let wv = w[((oc * cg + ci) * kh + a) * kw + bb] as f64;
                            acc += xv * wv;
                        }
                    }
                }
                y[(oc * ho + i) * wo + j] = acc;
            }
        }
    }
    T::new(&[o, ho, wo], y)
}

/// `y = W x + b` over the last axis, weight `[out, in]`.
pub fn linear(x: &T, w: &[f32], out: usize, b: Option<&[f32]>) -> T {
    let n_in = *x.s.last().unwrap();
    let rows = x.v.len() / n_in;
    let mut y = Vec::with_capacity(rows * out);
    for r in 0..rows {
        for o in 0..out {
            let mut acc = b.map_or(0.0, |b| b[o] as f64);
            for i in 0..n_in {
                acc += w[o * n_in + i] as f64 * x.v[r * n_in + i];
            }
            y.push(acc);
        }
    }
    let mut s = x.s.clone();
    *s.last_mut().unwrap() = out;
    T::new(&s, y)
}

/// Max (`max = true`, padding ignored) or average (padding counted as zeros) pooling.
pub fn pool(
    x: &T,
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    (ph, pw): (usize, usize),
    max: bool,
) -> T {
    let (c, h, wd) = (x.s[0], x.s[1], x.s[2]);
    let ho = (h + 2 * ph - kh) / sh + 1;
    let wo = (wd + 2 * pw - kw) / sw + 1;
    let mut y = Vec::with_capacity(c * ho * wo);
    for ch in 0..c {
        for i in 0..ho {
            for j in 0..wo {
                let mut m = f64::NEG_INFINITY;
                let mut s = 0.0;
                for a in 0..kh {
                    for b in 0..kw {
                        let r = (i * sh + a) as isize - ph as isize;
                        let q = (j * sw + b) as isize - pw as isize;
                        if r < 0 || q < 0 || r >= h as isize || q >= wd as isize {
                            continue;
                        }
                        let v = x.v[(ch * h + r as usize) * wd + q as usize];
                        m = m.max(v);
                        s += v;
                    }
                }
                y.push(if max { m } else { s / (kh * kw) as f64 });
            }
        }
    }
    T::new(&[c, ho, wo], y)
}

/// PyTorch's adaptive average pooling.
pub fn adaptive(x: &T, oh: usize, ow: usize) -> T {
    let (c, h, wd) = (x.s[0], x.s[1], x.s[2]);
    let mut y = Vec::new();
    for ch in 0..c {
        for i in 0..oh {
            let (r0, r1) = (i * h / oh, ((i + 1) * h).div_ceil(oh));
            for j in 0..ow {
                let (q0, q1) = (j * wd / ow, ((j + 1) * wd).div_ceil(ow));
                let mut s = 0.0;
                for r in r0..r1 {
                    for q in q0..q1 {
                        s += x.v[(ch * h + r) * wd + q];
                    }
                }
                y.push(s / ((r1 - r0) * (q1 - q0)) as f64);
            }
        }
    }
    T::new(&[c, oh, ow], y)
}

/// Inference batch norm over the channels of `[C, H, W]`.
pub fn batchnorm(x: &T, gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32], eps: f64) -> T {
    let per = x.v.len() / x.s[0];
    let v = x
        .v
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            let c = k / per;
            (v - mean[c] as f64) / (var[c] as f64 + eps).sqrt() * gamma[c] as f64 + beta[c] as f64
        })
        .collect();
    T::new(&x.s, v)
}

pub fn map(x: &T, f: impl Fn(f64) -> f64) -> T {
    T::new(&x.s, x.v.iter().map(|&v| f(v)).collect())
}

pub fn relu(t: f64) -> f64 {
    t.max(0.0)
}
pub fn sigmoid(t: f64) -> f64 {
    1.0 / (1.0 + (-t).exp())
}
pub fn softplus(t: f64) -> f64 {
    // ln(1 + e^t) without overflow
    if t > 30.0 {
        t + (-t).exp()
    } else {
        t.exp().ln_1p()
    }
}

pub fn softmax(x: &T) -> T {
    let n = *x.s.last().unwrap();
    let mut y = Vec::with_capacity(x.v.len());
    for row in x.v.chunks(n) {
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = row.iter().map(|v| (v - m).exp()).sum();
        y.extend(row.iter().map(|v| (v - m).exp() / s));
    }
    T::new(&x.s, y)
}

pub fn flatten(x: &T) -> T {
    T::new(&[x.v.len()], x.v.clone())
}
