//! The fast gradient sign method (FGSM, Goodfellow et al. 2015; SPEC §10 row
//! `adversarial-dropout`, original notebook `AE_fgsm_mnist.ipynb` through cleverhans'
//! `FastGradientMethod`).
//!
//! For an input x with label y (cleverhans' default: the network's own prediction, so the
//! attack does not use the true label), the adversarial input is
//! `x' = clip(x + ε·sign(∇ₓ L(x, y)), 0, 1)` with `L = −log softmax(z(x))_y` the cross-entropy of
//! the logits z (sign(0) = 0). The gradient comes from candle's autodiff over a forward pass
//! written with differentiable candle ops ([`logits`]): the inference forward of
//! [`Sequential`] uses CPU fast paths that autodiff cannot see. A final `softmax` layer is
//! skipped (the loss takes the log-softmax of the logits).

use candle_core::{DType, Tensor, Var, D};
use ftnn_model::seq::{ActKind, LayerSpec};
use ftnn_model::Sequential;

/// The logits `[B, n_out]` of `x` `[B, *input_shape]` through `net`, with candle ops that
/// autodiff differentiates: conv2d (symmetric padding), linear, max pooling with stride =
/// kernel and no padding (reshape and max), flatten, dropout (identity), zero padding, the
/// activations `φ(scale·z)·gain`; a final softmax is skipped. Other layers are an error.
pub fn logits(net: &Sequential, x: &Tensor) -> anyhow::Result<Tensor> {
    let arch = net.architecture();
    let params = net.parameters();
    let n = arch.layers.len();
    let mut h = x.clone();
    for (j, layer) in arch.layers.iter().enumerate() {
        let key = layer.key(j);
        let p = |name: &str| -> anyhow::Result<&Tensor> {
            params
                .get(&format!("{j}.{name}"))
                .or_else(|| params.get(&format!("{key}.{name}")))
                .ok_or_else(|| anyhow::anyhow!("layer {j}: no tensor `{name}`"))
        };
        let unsupported = |what: &str| anyhow::anyhow!("layer {j} ({}): {what}", layer.op());
        h = match &layer.spec {
            LayerSpec::Conv2d(c) => {
                if c.stride.0 != c.stride.1 || c.padding.0 != c.padding.1 {
                    return Err(unsupported("unequal stride or padding is not supported"));
                }
                let y = h.conv2d(p("weight")?, c.padding.0, c.stride.0, 1, c.groups)?;
                if c.bias {
                    y.broadcast_add(&p("bias")?.reshape((1, c.out_channels, 1, 1))?)?
                } else {
                    y
                }
            }
            LayerSpec::Linear(l) => {
                let y = h.matmul(&p("weight")?.t()?)?;
                if l.bias {
                    y.broadcast_add(p("bias")?)?
                } else {
                    y
                }
            }
            LayerSpec::MaxPool2d(pl) => {
                let (k0, k1) = (pl.kernel_size.0, pl.kernel_size.1);
                if pl.stride() != pl.kernel_size || pl.padding.0 != 0 || pl.padding.1 != 0 {
                    return Err(unsupported("pooling with stride ≠ kernel or padding"));
                }
                let (b, c, hh, ww) = h.dims4()?;
                let (oh, ow) = (hh / k0, ww / k1);
                h.narrow(2, 0, oh * k0)?
                    .narrow(3, 0, ow * k1)?
                    .reshape((b, c, oh, k0, ow, k1))?
                    .max(5)?
                    .max(3)?
            }
            LayerSpec::Flatten => h.flatten_from(1)?,
            LayerSpec::Dropout(_) => h,
            LayerSpec::ZeroPad2d(z) => {
                let pd = z.padding;
                h.pad_with_zeros(2, pd.top, pd.bottom)?
                    .pad_with_zeros(3, pd.left, pd.right)?
            }
            LayerSpec::Activation(a) => {
                let t = h.affine(a.scale, 0.0)?;
                let y = match a.kind {
                    ActKind::Relu => t.relu()?,
                    ActKind::Relu6 => t.relu()?.minimum(6.0)?,
                    ActKind::Sigmoid => (t.neg()?.exp()? + 1.0)?.recip()?,
                    ActKind::Tanh => t.tanh()?,
                    ActKind::Softplus => {
                        (t.relu()? + t.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?)?
                    }
                };
                y.affine(a.gain, 0.0)?
            }
            LayerSpec::Softmax if j + 1 == n => h,
            _ => return Err(unsupported("not supported by the FGSM forward pass")),
        };
    }
    Ok(h.flatten_from(1)?)
}

/// `log softmax` over the last axis, `z − max − log Σ exp(z − max)`.
fn log_softmax(z: &Tensor) -> anyhow::Result<Tensor> {
    let m = z.max_keepdim(D::Minus1)?.detach();
    let s = z.broadcast_sub(&m)?;
    let lse = s.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(s.broadcast_sub(&lse)?)
}

/// `∇ₓ Σ_b −log softmax(z(x_b))_{y_b}` for a batch `x` `[B, *input_shape]` and labels `y`
/// (one per row), flattened per row (`[B · input size]`, row-major). Each row's gradient is
/// that of its own cross-entropy term (the rows do not interact).
pub fn input_gradient(net: &Sequential, x: &[f32], labels: &[u32]) -> anyhow::Result<Vec<f32>> {
    let size: usize = net.input_shape().iter().product();
    anyhow::ensure!(
        size > 0 && x.len() == labels.len() * size,
        "FGSM: {} values for {} labels of input size {size}",
        x.len(),
        labels.len()
    );
    let n_out = net.n_outputs();
    anyhow::ensure!(
        labels.iter().all(|&l| (l as usize) < n_out),
        "FGSM: a label is not below the {n_out} outputs"
    );
    let mut dims = vec![labels.len()];
    dims.extend(net.input_shape());
    let v = Var::from_tensor(&Tensor::from_slice(x, dims, net.device())?)?;
    let z = logits(net, v.as_tensor())?;
    let mut onehot = vec![0f32; labels.len() * n_out];
    for (b, &l) in labels.iter().enumerate() {
        onehot[b * n_out + l as usize] = 1.0;
    }
    let t = Tensor::from_vec(onehot, (labels.len(), n_out), net.device())?;
    let loss = (log_softmax(&z)? * t)?.sum_all()?.neg()?;
    let grads = loss.backward()?;
    let g = grads
        .get(v.as_tensor())
        .ok_or_else(|| anyhow::anyhow!("FGSM: no gradient reached the input"))?;
    Ok(g.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

/// `clip(x + ε·sign(g), lo, hi)` elementwise (sign(0) = 0).
pub fn fgsm_step(x: &[f32], g: &[f32], eps: f32, lo: f32, hi: f32) -> Vec<f32> {
    x.iter()
        .zip(g)
        .map(|(&v, &d)| {
            let s = if d > 0.0 {
                1.0
            } else if d < 0.0 {
                -1.0
            } else {
                0.0
            };
            (v + eps * s).clamp(lo, hi)
        })
        .collect()
}

/// The argmax class of every row of `x` (flattened rows of the input size).
pub fn predict(net: &Sequential, x: &[f32]) -> anyhow::Result<Vec<u32>> {
    let probs = outputs(net, x)?;
    let k = net.n_outputs();
    Ok(probs
        .chunks_exact(k)
        .map(|r| {
            let mut best = 0;
            for (i, v) in r.iter().enumerate() {
                if *v > r[best] {
                    best = i;
                }
            }
            best as u32
        })
        .collect())
}

/// The network's outputs (probabilities when it ends in softmax), flattened `[B · n_out]`.
pub fn outputs(net: &Sequential, x: &[f32]) -> anyhow::Result<Vec<f32>> {
    let size: usize = net.input_shape().iter().product();
    anyhow::ensure!(
        size > 0 && x.len().is_multiple_of(size),
        "rows do not fit the input size {size}"
    );
    let mut dims = vec![x.len() / size];
    dims.extend(net.input_shape());
    let y = net.forward(&Tensor::from_slice(x, dims, net.device())?)?;
    Ok(y.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

/// Clean and FGSM accuracy of `net` on the rows `x` with `labels`, in batches of `batch`:
/// the attack uses the network's own predictions as labels (cleverhans' default). Returns
/// `(clean accuracy, adversarial accuracy)`.
pub fn fgsm_accuracy(
    net: &Sequential,
    x: &[f32],
    labels: &[u32],
    eps: f32,
    batch: usize,
) -> anyhow::Result<(f64, f64)> {
    anyhow::ensure!(
        eps.is_finite() && eps >= 0.0,
        "FGSM: ε = {eps} must be finite and ≥ 0"
    );
    let size: usize = net.input_shape().iter().product();
    anyhow::ensure!(
        !labels.is_empty() && x.len() == labels.len() * size,
        "FGSM: bad data"
    );
    let (mut clean, mut adv) = (0usize, 0usize);
    for (xb, yb) in x
        .chunks(batch.max(1) * size)
        .zip(labels.chunks(batch.max(1)))
    {
        let pred = predict(net, xb)?;
        clean += pred.iter().zip(yb).filter(|(a, b)| a == b).count();
        let g = input_gradient(net, xb, &pred)?;
        let xa = fgsm_step(xb, &g, eps, 0.0, 1.0);
        let pa = predict(net, &xa)?;
        adv += pa.iter().zip(yb).filter(|(a, b)| a == b).count();
    }
    let n = labels.len() as f64;
    Ok((clean as f64 / n, adv as f64 / n))
}
