//! The compiled layers of a [`Sequential`](super::Sequential) network and their forward
//! computation by candle ops, on batches `[B, *shape]` (SPEC §11):
//!
//! * conv2d `y[o] = b[o] + Σ_{c ∈ group(o)} Σ_{i,j} w[o, c, i, j]·x_pad[c, s_h·h + i, s_w·w + j]`
//!   (zero padding; a directly following batchnorm2d folded in, see [`fold_batchnorm`]);
//! * linear `y = x Wᵀ + b` over the last axis;
//! * batchnorm2d not after a conv2d: the per-channel affine map `y = a·x + (β − a·mean)`,
//!   `a = γ/√(var + eps)`;
//! * max pooling over windows padded with −∞, average pooling over windows padded with 0
//!   divided by `kh·kw` (PyTorch's `count_include_pad=True`);
//! * adaptive average pooling over PyTorch's bins ⌊i·H/o⌋ .. ⌈(i+1)·H/o⌉;
//! * activations `φ(scale·z)·gain` with φ standard: relu max(0, t), relu6 min(max(0, t), 6),
//!   sigmoid 1/(1 + e^{−t}), tanh, softplus ln(1 + eᵗ) = max(t, 0) + log1p(e^{−|t|});
//! * softmax over the last axis, `e^{z_k − max z} / Σ_j e^{z_j − max z}`;
//! * zero padding of the last two axes (`[left, right, top, bottom]`);
//! * `add` (a skip connection) needs the tensor at an earlier layer's input, which
//!   [`Op::apply`] does not have: the network's forward loops compute it (`x + skip`).

use super::layers::{ActKind, ActivationSpec, Pad4, Pair};
use candle_core::{DType, Result, Tensor, D};

/// One layer, ready to run.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// Convolution with weight `[out, in/groups, kh, kw]` and bias `[1, out, 1, 1]`.
    Conv {
        weight: Tensor,
        bias: Option<Tensor>,
        stride: Pair,
        padding: Pair,
        groups: usize,
    },
    /// Affine map over the last axis with `Wᵀ` `[in, out]` and bias `[out]`.
    Linear {
        weight_t: Tensor,
        bias: Option<Tensor>,
    },
    /// Per-channel `a·x + c` with `a`, `c` of shape `[1, C, 1, 1]` (unfolded batchnorm).
    Affine { scale: Tensor, shift: Tensor },
    /// Max pooling.
    MaxPool {
        kernel: Pair,
        stride: Pair,
        padding: Pair,
    },
    /// Average pooling.
    AvgPool {
        kernel: Pair,
        stride: Pair,
        padding: Pair,
    },
    /// Adaptive average pooling to `[oh, ow]`.
    AdaptiveAvg(Pair),
    /// `[B, …]` → `[B, n]`.
    Flatten,
    /// Dropout, or a batchnorm folded into the previous convolution.
    Identity,
    /// `φ(scale·z)·gain`.
    Act(ActivationSpec),
    /// Softmax over the last axis.
    Softmax,
    /// Zero padding of the last two axes.
    ZeroPad(Pad4),
    /// Adds the input of layer `from` (computed by the caller).
    Add { from: usize },
}

impl Op {
    /// The layer applied to a batch.
    pub(crate) fn apply(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Op::Conv {
                weight,
                bias,
                stride,
                padding,
                groups,
            } => {
                if *groups == 1 && super::cpu::applies(x) {
                    let (o, _, kh, kw) = weight.dims4()?;
                    let w2d = weight.reshape((o, weight.elem_count() / o))?;
                    let b = bias.as_ref().map(values).transpose()?;
                    let k = Pair(kh, kw);
                    return super::cpu::conv2d_im2col(x, &w2d, b.as_deref(), k, *stride, *padding);
                }
                if *groups > 1 && super::cpu::applies(x) {
                    let (o, per_group, _, _) = weight.dims4()?;
                    if per_group == 1 && o == *groups && x.dim(1)? == o {
                        let b = bias.as_ref().map(values).transpose()?;
                        return depthwise(x, weight, b.as_deref(), *stride, *padding);
                    }
                }
                let y = conv2d(x, weight, *stride, *padding, *groups)?;
                match bias {
                    Some(b) => y.broadcast_add(b),
                    None => Ok(y),
                }
            }
            Op::Linear { weight_t, bias } => {
                let n_in = x.dim(D::Minus1)?;
                let rows = x.elem_count() / n_in.max(1);
                let y = x.reshape((rows, n_in))?.matmul(weight_t)?;
                let y = match bias {
                    Some(b) => y.broadcast_add(b)?,
                    None => y,
                };
                let mut out = x.dims().to_vec();
                if let Some(last) = out.last_mut() {
                    *last = weight_t.dim(1)?;
                }
                y.reshape(out)
            }
            Op::Affine { scale, shift } => x.broadcast_mul(scale)?.broadcast_add(shift),
            Op::MaxPool {
                kernel,
                stride,
                padding,
            } if super::cpu::applies(x) => super::cpu::max_pool2d(x, *kernel, *stride, *padding),
            Op::MaxPool {
                kernel,
                stride,
                padding,
            } => pad2d(x, *padding, f32::NEG_INFINITY)?
                .max_pool2d_with_stride((kernel.0, kernel.1), (stride.0, stride.1)),
            Op::AvgPool {
                kernel,
                stride,
                padding,
            } => pad2d(x, *padding, 0.0)?
                .avg_pool2d_with_stride((kernel.0, kernel.1), (stride.0, stride.1)),
            Op::AdaptiveAvg(out) => adaptive_avg_pool2d(x, *out),
            Op::Flatten => x.flatten_from(1),
            Op::Identity => Ok(x.clone()),
            Op::Act(a) => activation(x, a),
            Op::ZeroPad(p) => x
                .pad_with_zeros(3, p.left, p.right)?
                .pad_with_zeros(2, p.top, p.bottom),
            Op::Add { from } => candle_core::bail!(
                "the skip connection (add from layer {from}) needs the tensor at that layer's \
                 input (internal error)"
            ),
            Op::Softmax => {
                let m = x.max_keepdim(D::Minus1)?;
                let e = x.broadcast_sub(&m)?.exp()?;
                e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
            }
        }
    }
}

/// A depthwise convolution (groups = channels, one filter per channel: weight `[C, 1, kh, kw]`)
/// of `x` `[B, C, H, W]` (f32, CPU, outside autodiff) by a direct loop over the output planes
/// in parallel: `y[c, i, j] = b[c] + Σ_{a, e} w[c, a, e]·x_pad[c, s_h·i + a, s_w·j + e]` with zero
/// padding. candle 0.11 runs a grouped convolution as one convolution per group, which is
/// slow for the hundreds of channels of EfficientNet's depthwise layers.
fn depthwise(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&[f32]>,
    stride: Pair,
    padding: Pair,
) -> Result<Tensor> {
    use rayon::prelude::*;
    let (b, c, h, w) = x.dims4()?;
    let (_, _, kh, kw) = weight.dims4()?;
    let ho = (h + 2 * padding.0 - kh) / stride.0 + 1;
    let wo = (w + 2 * padding.1 - kw) / stride.1 + 1;
    let xv = x.flatten_all()?.to_vec1::<f32>()?;
    let wv = values(weight)?;
    let mut out = vec![0f32; b * c * ho * wo];
    out.par_chunks_mut(ho * wo)
        .enumerate()
        .for_each(|(plane, y)| {
            let ch = plane % c;
            let xp = &xv[plane * h * w..(plane + 1) * h * w];
            let wk = &wv[ch * kh * kw..(ch + 1) * kh * kw];
            y.fill(bias.map_or(0.0, |b| b[ch]));
            for a in 0..kh {
                for e in 0..kw {
                    let wae = wk[a * kw + e];
                    for i in 0..ho {
                        let r = (i * stride.0 + a) as isize - padding.0 as isize;
                        if r < 0 || r >= h as isize {
                            continue;
                        }
                        let row = &xp[r as usize * w..(r as usize + 1) * w];
                        let yr = &mut y[i * wo..(i + 1) * wo];
                        for (j, v) in yr.iter_mut().enumerate() {
                            let q = (j * stride.1 + e) as isize - padding.1 as isize;
                            if q >= 0 && q < w as isize {
                                *v += wae * row[q as usize];
                            }
                        }
                    }
                }
            }
        });
    Tensor::from_vec(out, (b, c, ho, wo), x.device())
}

/// Pads the last two axes of `[B, C, H, W]` by `p.0` rows and `p.1` columns on each side with
/// `value`.
fn pad2d(x: &Tensor, p: Pair, value: f32) -> Result<Tensor> {
    if p == Pair(0, 0) {
        return Ok(x.clone());
    }
    let (b, c, h, w) = x.dims4()?;
    let mut x = x.clone();
    if p.0 > 0 {
        let band = Tensor::full(value, (b, c, p.0, w), x.device())?.to_dtype(x.dtype())?;
        x = Tensor::cat(&[&band, &x, &band], 2)?;
    }
    if p.1 > 0 {
        let h = h + 2 * p.0;
        let band = Tensor::full(value, (b, c, h, p.1), x.device())?.to_dtype(x.dtype())?;
        x = Tensor::cat(&[&band, &x, &band], 3)?;
    }
    Ok(x)
}

/// Convolution with per-axis stride and padding: candle's `conv2d` takes one stride and one
/// padding for both axes, so unequal paddings are applied by [`pad2d`] and unequal strides by
/// a stride-1 convolution followed by subsampling rows and columns.
fn conv2d(x: &Tensor, w: &Tensor, stride: Pair, padding: Pair, groups: usize) -> Result<Tensor> {
    let (x, pad) = if padding.0 == padding.1 {
        (x.clone(), padding.0)
    } else {
        (pad2d(x, padding, 0.0)?, 0)
    };
    if stride.0 == stride.1 {
        return x.conv2d(w, pad, stride.0, 1, groups);
    }
    let y = x.conv2d(w, pad, 1, 1, groups)?;
    let y = subsample(&y, 2, stride.0)?;
    subsample(&y, 3, stride.1)
}

/// Every `s`-th index of axis `dim`, starting at 0.
fn subsample(x: &Tensor, dim: usize, s: usize) -> Result<Tensor> {
    if s == 1 {
        return Ok(x.clone());
    }
    let n = x.dim(dim)?;
    let idx: Vec<u32> = (0..n).step_by(s).map(|i| i as u32).collect();
    let idx = Tensor::from_vec(idx, n.div_ceil(s), x.device())?;
    x.index_select(&idx, dim)
}

/// PyTorch's adaptive average pooling: output cell (i, j) is the mean of rows
/// ⌊i·H/oh⌋ .. ⌈(i+1)·H/oh⌉ and columns ⌊j·W/ow⌋ .. ⌈(j+1)·W/ow⌉. Averaging the rows, then
/// the columns, gives the mean over the rectangle.
fn adaptive_avg_pool2d(x: &Tensor, out: Pair) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if h % out.0 == 0 && w % out.1 == 0 {
        let k = (h / out.0, w / out.1);
        return x.avg_pool2d_with_stride(k, k);
    }
    let bins = |dim: usize, n: usize, o: usize, x: &Tensor| -> Result<Tensor> {
        let parts = (0..o)
            .map(|i| {
                let start = i * n / o;
                let end = ((i + 1) * n).div_ceil(o);
                x.narrow(dim, start, end - start)?.mean_keepdim(dim)
            })
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&parts, dim)
    };
    let rows = bins(2, h, out.0, x)?;
    bins(3, w, out.1, &rows)
}

/// `φ(scale·z)·gain`, elementwise.
fn activation(x: &Tensor, a: &ActivationSpec) -> Result<Tensor> {
    let t = if a.scale == 1.0 {
        x.clone()
    } else {
        x.affine(a.scale, 0.0)?
    };
    let y = match a.kind {
        ActKind::Relu => t.relu()?,
        ActKind::Relu6 => t.clamp(0f32, 6f32)?,
        ActKind::Sigmoid => (t.neg()?.exp()? + 1.0)?.recip()?,
        ActKind::Tanh => t.tanh()?,
        ActKind::Softplus => (t.relu()? + log1p(&t.abs()?.neg()?.exp()?)?)?,
    };
    if a.gain == 1.0 {
        Ok(y)
    } else {
        y.affine(a.gain, 0.0)
    }
}

/// ln(1 + u) accurate also for tiny u (Goldberg's trick): with `v = 1 + u` rounded,
/// `ln(v)·u/(v − 1)`, and `u` itself where `v = 1`.
fn log1p(u: &Tensor) -> Result<Tensor> {
    let v = (u + 1.0)?;
    let d = (&v - 1.0)?;
    let exact = ((v.log()? * u)? / &d)?;
    d.eq(0f32)?.where_cond(u, &exact)
}

/// Folds an inference batch norm into the convolution before it: with `a = γ/√(var + eps)`,
/// `w'[o] = w[o]·a[o]` and `b'[o] = (b[o] − mean[o])·a[o] + β[o]` (computed in f64).
/// `weight` is `[out, in/groups, kh, kw]` row-major, `bias` `[out]` (zeros when the
/// convolution has none); returns the folded `(weight, bias)`.
pub(crate) fn fold_batchnorm(
    weight: &[f32],
    bias: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f64,
) -> (Vec<f32>, Vec<f32>) {
    let out = bias.len();
    let per = weight.len() / out.max(1);
    let mut w = Vec::with_capacity(weight.len());
    let mut b = Vec::with_capacity(out);
    for o in 0..out {
        let a = gamma[o] as f64 / (var[o] as f64 + eps).sqrt();
        w.extend(
            weight[o * per..(o + 1) * per]
                .iter()
                .map(|&v| (v as f64 * a) as f32),
        );
        b.push(((bias[o] as f64 - mean[o] as f64) * a + beta[o] as f64) as f32);
    }
    (w, b)
}

/// The per-channel affine map of an unfolded batch norm: `(a, β − a·mean)` with
/// `a = γ/√(var + eps)`, in f64, returned as f32.
pub(crate) fn batchnorm_affine(
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f64,
) -> (Vec<f32>, Vec<f32>) {
    gamma
        .iter()
        .zip(beta)
        .zip(mean.iter().zip(var))
        .map(|((&g, &bt), (&m, &v))| {
            let a = g as f64 / (v as f64 + eps).sqrt();
            (a as f32, (bt as f64 - a * m as f64) as f32)
        })
        .unzip()
}

/// An f32 tensor's values (any layout), on the CPU.
pub(crate) fn values(t: &Tensor) -> Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
}
