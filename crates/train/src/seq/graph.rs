//! The training forward pass of a Sequential network, written with candle ops that candle's
//! autodiff differentiates (the inference forward of [`ftnn_model::seq::Sequential`] uses CPU
//! fast paths that autodiff cannot see). Per layer, on batches `[B, *shape]` (SPEC §11):
//!
//! * conv2d `y = b + w ⋆ x_pad` (candle `conv2d`; unequal paddings pad explicitly first);
//! * linear `y = x Wᵀ + b`;
//! * max pooling as a max over the window axes, average pooling by candle, both with
//!   stride = kernel and padding 0 (floor mode: the last rows and
//!   columns that do not fill a window are dropped first); adaptive average pooling to 1×1;
//! * activations `φ(scale·z)·gain` (softplus as `max(t, 0) + ln(1 + e^{−|t|})`);
//! * flatten, zeropad2d, `add` (skip connections), and dropout layers;
//! * a final softmax is **not** applied: the pass returns the logits and the loss takes their
//!   log-softmax (SPEC §9's cross-entropy, numerically stable).
//!
//! Masks multiply the network input (index 0) and the output of layer j (index j + 1): the
//! crash-dropout masks of SPEC §7 (values 0/1) and the inverted-dropout masks of dropout
//! layers (values 0 and 1/(1 − p)). batchnorm2d is refused (it is not trained here).

use super::cpu_ops::{Im2col, MaxPool, Softplus};
use crate::error::{Result, TrainError};
use candle_core::{DType, Tensor, D};
use ftnn_model::seq::{ActKind, Architecture, LayerSpec};

/// Where each layer's parameters start in the flat parameter list (`arch.tensors()` order).
pub(crate) fn param_offsets(arch: &Architecture) -> Result<Vec<usize>> {
    let mut offsets = Vec::with_capacity(arch.layers.len());
    let mut next = 0;
    for (j, layer) in arch.layers.iter().enumerate() {
        if let LayerSpec::BatchNorm2d(_) = layer.spec {
            return Err(TrainError::Config(format!(
                "layer {j} (batchnorm2d) cannot be trained by the Sequential trainer"
            )));
        }
        offsets.push(next);
        next += layer.spec.tensors().len();
    }
    Ok(offsets)
}

/// Whether `t` can take the CPU kernels of [`super::cpu_ops`] (f32 or f64 on the CPU).
fn fast_cpu(t: &Tensor) -> bool {
    t.device().is_cpu() && matches!(t.dtype(), DType::F32 | DType::F64)
}

/// The logits `[B, n_out]` of the batch `x` `[B, *input_shape]` with the parameters `params`
/// (the trainer's variables for a step, detached copies for an evaluation), each mask `masks[i]` (when
/// present) multiplying the network input (i = 0) or the output of layer i − 1.
pub(crate) fn forward(
    arch: &Architecture,
    offsets: &[usize],
    params: &[Tensor],
    x: &Tensor,
    masks: &[Option<Tensor>],
) -> Result<Tensor> {
    let mask = |i: usize, h: Tensor| -> Result<Tensor> {
        Ok(match masks.get(i).and_then(Option::as_ref) {
            Some(m) => h.mul(m)?,
            None => h,
        })
    };
    let mut h = mask(0, x.clone())?;
    let n = arch.layers.len();
    let mut inputs: Vec<Tensor> = Vec::with_capacity(n);
    for (j, layer) in arch.layers.iter().enumerate() {
        inputs.push(h.clone());
        let p = |k: usize| &params[offsets[j] + k];
        let unsupported = |what: &str| {
            Err(TrainError::Config(format!(
                "layer {j} ({}): {what} is not supported in training",
                layer.op()
            )))
        };
        h = match &layer.spec {
            LayerSpec::Conv2d(c) => {
                if c.stride.0 != c.stride.1 {
                    return unsupported("an unequal stride");
                }
                let (ph, pw) = (c.padding.0, c.padding.1);
                let (h2, pad) = if ph == pw {
                    (h, ph)
                } else {
                    (h.pad_with_zeros(2, ph, ph)?.pad_with_zeros(3, pw, pw)?, 0)
                };
                let bias = c.bias.then(|| p(1));
                if c.groups == 1 {
                    conv2d_im2col(&h2, p(0), bias, pad, c.stride.0)?
                } else {
                    let y = h2.conv2d(p(0), pad, c.stride.0, 1, c.groups)?;
                    match bias {
                        Some(b) => y.broadcast_add(&b.reshape((1, c.out_channels, 1, 1))?)?,
                        None => y,
                    }
                }
            }
            LayerSpec::Linear(l) => {
                let y = h.matmul(&p(0).t()?)?;
                if l.bias {
                    y.broadcast_add(p(1))?
                } else {
                    y
                }
            }
            LayerSpec::MaxPool2d(pl) | LayerSpec::AvgPool2d(pl) => {
                let s = pl.stride();
                if s != pl.kernel_size || pl.padding.0 != 0 || pl.padding.1 != 0 {
                    return unsupported("pooling with stride ≠ kernel or with padding");
                }
                let (k0, k1) = (pl.kernel_size.0, pl.kernel_size.1);
                let (_, _, hh, ww) = h.dims4()?;
                let max = matches!(layer.spec, LayerSpec::MaxPool2d(_));
                if max && fast_cpu(&h) && hh >= k0 && ww >= k1 {
                    h = mask(j + 1, h.contiguous()?.apply_op1(MaxPool { k0, k1 })?)?;
                    continue;
                }
                let h2 = h.narrow(2, 0, hh / k0 * k0)?.narrow(3, 0, ww / k1 * k1)?;
                if let LayerSpec::MaxPool2d(_) = layer.spec {
                    // max over the window axes of [B, C, H/k0, k0, W/k1, k1]: candle's own
                    // max_pool2d backward scales the gradient by 1/(k0·k1) (found by the
                    // finite-difference test), a reduce-max's backward does not.
                    let (b, c, hh, ww) = h2.dims4()?;
                    h2.reshape((b, c, hh / k0, k0, ww / k1, k1))?
                        .max(5)?
                        .max(3)?
                } else {
                    h2.avg_pool2d((k0, k1))?
                }
            }
            LayerSpec::AdaptiveAvgPool2d(a) => {
                if a.output_size.0 != 1 || a.output_size.1 != 1 {
                    return unsupported("an output size other than 1×1");
                }
                h.mean_keepdim(3)?.mean_keepdim(2)?
            }
            LayerSpec::Flatten => h.flatten_from(1)?,
            LayerSpec::Dropout(_) => h,
            LayerSpec::Activation(a) => {
                let t = if a.scale == 1.0 {
                    h
                } else {
                    h.affine(a.scale, 0.0)?
                };
                let y = match a.kind {
                    ActKind::Relu => t.relu()?,
                    ActKind::Relu6 => t.relu()?.minimum(6.0)?,
                    ActKind::Sigmoid => candle_nn::ops::sigmoid(&t)?,
                    ActKind::Tanh => t.tanh()?,
                    ActKind::Softplus if fast_cpu(&t) => t.contiguous()?.apply_op1(Softplus)?,
                    ActKind::Softplus => {
                        let tail = t.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
                        (t.relu()? + tail)?
                    }
                };
                if a.gain == 1.0 {
                    y
                } else {
                    y.affine(a.gain, 0.0)?
                }
            }
            LayerSpec::Softmax => {
                if j + 1 != n {
                    return unsupported("softmax before the last layer");
                }
                h
            }
            LayerSpec::ZeroPad2d(z) => {
                let pd = z.padding;
                h.pad_with_zeros(2, pd.top, pd.bottom)?
                    .pad_with_zeros(3, pd.left, pd.right)?
            }
            LayerSpec::Add(a) => (h + &inputs[a.from])?,
            LayerSpec::BatchNorm2d(_) => return unsupported("batchnorm2d"),
        };
        h = mask(j + 1, h)?;
    }
    Ok(h.flatten_from(1)?)
}

/// A convolution (groups 1) as im2col by candle ops and one GEMM, so that its backward is
/// a GEMM too (candle's own conv2d backward runs a direct `conv_transpose2d` for the input
/// gradient, which is orders of magnitude slower on CPU):
/// `patches[b, y, x, c·kh·kw + i·kw + j] = x_pad[b, c, s·y + i, s·x + j]`,
/// `out[b, o, y, x] = Σ_q patches[b, y, x, q] · w[o, q]`.
fn conv2d_im2col(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    pad: usize,
    stride: usize,
) -> Result<Tensor> {
    let (o, c, kh, kw) = w.dims4()?;
    if fast_cpu(x) {
        let (b, xc, hh, ww) = x.dims4()?;
        if xc != c || hh + 2 * pad < kh || ww + 2 * pad < kw || stride == 0 {
            return Err(TrainError::Config(format!(
                "a {o}×{c}×{kh}×{kw} convolution (padding {pad}, stride {stride}) on a \
                 {xc}×{hh}×{ww} input"
            )));
        }
        let geometry = Im2col {
            b,
            c,
            h: hh,
            w: ww,
            kh,
            kw,
            stride,
            pad,
        };
        let (oh, ow) = geometry.out_hw();
        let y = x
            .contiguous()?
            .apply_op1(geometry)?
            .matmul(&w.reshape((o, c * kh * kw))?.t()?)?;
        let y = match bias {
            Some(bias) => y.broadcast_add(bias)?,
            None => y,
        };
        return Ok(y
            .reshape((b, oh, ow, o))?
            .permute((0, 3, 1, 2))?
            .contiguous()?);
    }
    let x = if pad > 0 {
        x.pad_with_zeros(2, pad, pad)?.pad_with_zeros(3, pad, pad)?
    } else {
        x.clone()
    };
    let (b, _, hh, ww) = x.dims4()?;
    if hh < kh || ww < kw {
        return Err(TrainError::Config(format!(
            "a {kh}×{kw} convolution on a {hh}×{ww} input"
        )));
    }
    let (oh, ow) = ((hh - kh) / stride + 1, (ww - kw) / stride + 1);
    // [B, H, W, C]
    let xt = x.permute((0, 2, 3, 1))?.contiguous()?;
    let device = x.device();
    let mut taps = Vec::with_capacity(kh * kw);
    for i in 0..kh {
        for j in 0..kw {
            let t = if stride == 1 {
                xt.narrow(1, i, oh)?.narrow(2, j, ow)?
            } else {
                let rows: Vec<u32> = (0..oh).map(|y| (i + stride * y) as u32).collect();
                let cols: Vec<u32> = (0..ow).map(|y| (j + stride * y) as u32).collect();
                let rows = Tensor::from_vec(rows, oh, device)?;
                let cols = Tensor::from_vec(cols, ow, device)?;
                xt.index_select(&rows, 1)?.index_select(&cols, 2)?
            };
            taps.push(t);
        }
    }
    // [B, oh, ow, C, kh·kw] → [B·oh·ow, C·kh·kw]
    let patches = Tensor::stack(&taps, 4)?.reshape((b * oh * ow, c * kh * kw))?;
    let y = patches.matmul(&w.reshape((o, c * kh * kw))?.t()?)?;
    let y = y.reshape((b, oh, ow, o))?.permute((0, 3, 1, 2))?;
    Ok(match bias {
        Some(bias) => y.broadcast_add(&bias.reshape((1, o, 1, 1))?)?,
        None => y,
    })
}

/// The cross-entropy `mean_b −Σ_k t_bk log softmax(z_b)_k` of logits `z` `[B, K]` against
/// (smoothed) one-hot targets `t` `[B, K]`.
pub(crate) fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let b = logits.dim(0)? as f64;
    Ok((logp * targets)?.sum_all()?.affine(-1.0 / b, 0.0)?)
}
