//! The analytic training step: a hand-written forward and backward pass for MLPs with
//! crash-dropout, used whenever no regularizer needs the data graph (everything but
//! `vardelta`). It computes the same gradients as candle's autodiff (tested), with the GEMMs
//! in candle and everything else fused into a few loops of our own, and without the input
//! gradient that autodiff computes for the first layer and throws away.
//!
//! With δ_l = ∂L/∂z_l (z_l the pre-activation of layer l) and g_l = ∂L/∂y_l:
//! g_L = ∂L/∂ŷ ⊙ m_L, δ_L = g_L; δ_l = g_l ⊙ m_l ⊙ φ'(z_l);
//! ∂L/∂W_l = δ_lᵀ y_{l−1}, ∂L/∂b_l = Σ_batch δ_l, g_{l−1} = δ_l W_l — the network's one
//! backward walk ([`ftnn_model::backward::walk`]) with the weights being trained.
//! Regularizer gradients: l1 c·sign(W) (sign(0) = +1 as candle's), l2 2c·W, balanced by the
//! quotient rule on the extreme rows, continuous by candle autodiff on the weights alone.

use crate::error::{Result, TrainError};
use crate::graph::{Params, Smoothers};
use crate::regularizer::Regularizer;
use candle_core::{Device, Tensor};
use ftnn_model::backward::{self, Stop};
use ftnn_model::Activation;
use ftnn_model::Loss;

/// Widths, activation and loss of the network being trained, and the device of its GEMMs
/// (the fused loops around them run on the host whatever it is).
pub(crate) struct Shape<'a> {
    pub sizes: &'a [usize],
    pub activation: Activation,
    pub k: f32,
    pub loss: Loss,
    pub device: &'a Device,
}

/// `a [rows, inner] · b` where `b` is `[inner, cols]` (`b_t == false`) or `[cols, inner]`
/// (`b_t == true`), by candle's GEMM on `dev`.
fn gemm(
    dev: &Device,
    a: Vec<f32>,
    rows: usize,
    inner: usize,
    b: &[f32],
    cols: usize,
    b_t: bool,
) -> Result<Vec<f32>> {
    let a = Tensor::from_vec(a, (rows, inner), dev)?;
    let b = if b_t {
        Tensor::from_slice(b, (cols, inner), dev)?.t()?
    } else {
        Tensor::from_slice(b, (inner, cols), dev)?
    };
    Ok(a.matmul(&b)?.flatten_all()?.to_vec1::<f32>()?)
}

/// `aᵀ b` for `a [rows, m]`, `b [rows, n]`: `[m, n]`, on `dev`.
fn gemm_tn(
    dev: &Device,
    a: &[f32],
    rows: usize,
    m: usize,
    b: &[f32],
    n: usize,
) -> Result<Vec<f32>> {
    let a = Tensor::from_slice(a, (rows, m), dev)?;
    let b = Tensor::from_slice(b, (rows, n), dev)?;
    Ok(a.t()?.matmul(&b)?.flatten_all()?.to_vec1::<f32>()?)
}

/// φ(z) and φ'(z) in place: `z` becomes φ(z) (by the model's vectorised activation loop),
/// `d` receives φ'(z) computed from φ(z): sigmoid 4K·s(1 − s), tanh K(1 − t²), ReLU K·𝟙(y > 0),
/// softplus K·σ(Kz) = K(1 − e^{−y}).
fn activate(act: Activation, k: f32, z: &mut [f32], d: &mut Vec<f32>) {
    act.apply_rows_f32(z, &[], k);
    d.clear();
    // One loop per activation, so each vectorises.
    match act {
        Activation::Sigmoid => d.extend(z.iter().map(|&y| 4.0 * k * y * (1.0 - y))),
        Activation::Tanh => d.extend(z.iter().map(|&y| k * (1.0 - y * y))),
        Activation::Relu => d.extend(z.iter().map(|&y| if y > 0.0 { k } else { 0.0 })),
        Activation::Softplus => d.extend(z.iter().map(|&y| -k * (-y).exp_m1())),
    }
}

/// Data loss of the batch, its outputs, and the gradient of the data loss with respect to
/// every parameter tensor (W_1, b_1, W_2, …). `masks[l]` is `[n, n_l]` of 0/1 or `None`.
pub(crate) fn data_gradients(
    shape: &Shape,
    host: &[Vec<f32>],
    x: Vec<f32>,
    t: &[f32],
    masks: &[Option<Vec<f32>>],
    n: usize,
) -> Result<(f64, Vec<f32>, Vec<Vec<f32>>)> {
    let sizes = shape.sizes;
    let n_layers = sizes.len() - 1;
    let apply = |v: &mut [f32], m: &Option<Vec<f32>>| {
        if let Some(m) = m {
            for (a, &b) in v.iter_mut().zip(m) {
                *a *= b;
            }
        }
    };
    let mut ys = vec![x];
    apply(&mut ys[0], &masks[0]);
    let mut derivs = vec![Vec::new(); n_layers + 1];
    for l in 1..=n_layers {
        let mut z = gemm(
            shape.device,
            ys[l - 1].clone(),
            n,
            sizes[l - 1],
            &host[2 * (l - 1)],
            sizes[l],
            true,
        )?;
        let bias = &host[2 * (l - 1) + 1];
        for row in z.chunks_exact_mut(sizes[l]) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
        if l < n_layers {
            activate(shape.activation, shape.k, &mut z, &mut derivs[l]);
        }
        apply(&mut z, &masks[l]);
        ys.push(z);
    }
    let y = ys.pop().expect("output layer");
    let n_out = sizes[n_layers];
    let (mut loss, mut g) = (0.0f64, vec![0f32; y.len()]);
    for ((yr, tr), gr) in y
        .chunks_exact(n_out)
        .zip(t.chunks_exact(n_out))
        .zip(g.chunks_exact_mut(n_out))
    {
        loss += shape.loss.sample(yr, tr);
        shape.loss.batch_grad(yr, tr, n, gr);
    }
    loss /= n as f64;
    let mut grads = vec![Vec::new(); 2 * n_layers];
    // g holds ∂L/∂y_l; `scale` turns it into δ_l, `at_z` takes the parameter gradients, and
    // the walk goes down by g_{l−1} = δ_l W_l until δ_1.
    let scale = |l: usize, g: &mut [f32]| {
        apply(g, &masks[l]);
        if l < n_layers {
            for (a, &d) in g.iter_mut().zip(&derivs[l]) {
                *a *= d;
            }
        }
    };
    let at_z = |l: usize, g: &[f32]| -> Result<()> {
        let (n_l, n_prev) = (sizes[l], sizes[l - 1]);
        grads[2 * (l - 1)] = gemm_tn(shape.device, g, n, n_l, &ys[l - 1], n_prev)?;
        let mut db = vec![0f32; n_l];
        for row in g.chunks_exact(n_l) {
            for (s, &v) in db.iter_mut().zip(row) {
                *s += v;
            }
        }
        grads[2 * (l - 1) + 1] = db;
        Ok(())
    };
    let vjp = |l: usize, g: Vec<f32>| -> Result<Vec<f32>> {
        let w = Tensor::from_slice(&host[2 * (l - 1)], (sizes[l], sizes[l - 1]), shape.device)?;
        Ok(ftnn_model::mlp::backward_rows(&w, g, n)?)
    };
    backward::walk(g, n_layers, Stop::Z(1), scale, at_z, |_, _| Ok(()), vjp)?;
    Ok((loss, y, grads))
}

/// Adds the gradients of the weight-only regularizers to `grads` and returns their value.
/// `params` hold the same values as `host` (used for the autodiff of `continuous`).
pub(crate) fn add_regularizers(
    regs: &[Regularizer],
    sizes: &[usize],
    host: &[Vec<f32>],
    params: &Params,
    smoothers: &Smoothers,
    grads: &mut [Vec<f32>],
) -> Result<f64> {
    let n_layers = sizes.len() - 1;
    let mut value = 0.0f64;
    for r in regs {
        match *r {
            Regularizer::L1 { c } => {
                for l in 0..n_layers {
                    let (w, g) = (&host[2 * l], &mut grads[2 * l]);
                    value += c * w.iter().map(|&v| v.abs() as f64).sum::<f64>();
                    for (gi, &v) in g.iter_mut().zip(w) {
                        *gi += if v >= 0.0 { c as f32 } else { -c as f32 };
                    }
                }
            }
            Regularizer::L2 { c } => {
                for l in 0..n_layers {
                    let (w, g) = (&host[2 * l], &mut grads[2 * l]);
                    value += c * w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
                    for (gi, &v) in g.iter_mut().zip(w) {
                        *gi += 2.0 * c as f32 * v;
                    }
                }
            }
            Regularizer::Balanced { mu } => {
                let (w, n_in) = (&host[0], sizes[0]);
                let r: Vec<f64> = w
                    .chunks_exact(n_in)
                    .map(|row| row.iter().map(|&v| v.abs() as f64).sum())
                    .collect();
                let s: Vec<f64> = r.iter().map(|v| v * v).collect();
                let (mut imax, mut imin) = (0, 0);
                for i in 0..s.len() {
                    if s[i] > s[imax] {
                        imax = i;
                    }
                    if s[i] < s[imin] {
                        imin = i;
                    }
                }
                let den = 1e-5 + s[imin];
                value += mu * s[imax] / den;
                // ∂/∂s_max = μ/den, ∂/∂s_min = −μ s_max/den²; ∂s_i/∂W_ij = 2 r_i sign(W_ij).
                let rows = [(imax, mu / den), (imin, -mu * s[imax] / (den * den))];
                for (i, coef) in rows {
                    let factor = (coef * 2.0 * r[i]) as f32;
                    let g = &mut grads[0][i * n_in..(i + 1) * n_in];
                    for (gi, &v) in g.iter_mut().zip(&w[i * n_in..(i + 1) * n_in]) {
                        *gi += if v >= 0.0 { factor } else { -factor };
                    }
                }
            }
            Regularizer::Continuous { psi_d, psi_s } => {
                let hidden = n_layers - 1;
                let ws: Vec<Tensor> = params.weights[..hidden]
                    .iter()
                    .map(|v| v.as_tensor().clone())
                    .collect();
                let bs: Vec<Tensor> = params.biases[..hidden]
                    .iter()
                    .map(|v| v.as_tensor().clone())
                    .collect();
                let total = (hidden > 0)
                    .then(|| smoothers.term(&ws, &bs, psi_d, psi_s))
                    .transpose()?;
                if let Some(total) = total {
                    value += total.to_scalar::<f32>()? as f64;
                    let store = total.backward()?;
                    for l in 0..n_layers - 1 {
                        for (j, v) in [&params.weights[l], &params.biases[l]]
                            .into_iter()
                            .enumerate()
                        {
                            if let Some(gt) = store.get(v.as_tensor()) {
                                let gv = gt.flatten_all()?.to_vec1::<f32>()?;
                                for (a, b) in grads[2 * l + j].iter_mut().zip(gv) {
                                    *a += b;
                                }
                            }
                        }
                    }
                }
            }
            Regularizer::VarDelta { .. } => {
                return Err(TrainError::Config(
                    "vardelta needs the autodiff step (its Jacobian is part of the data graph)"
                        .into(),
                ))
            }
        }
    }
    Ok(value)
}
