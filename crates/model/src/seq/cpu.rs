//! CPU fast paths of the convolution and max pooling (SPEC §14: candle for the GEMM, the hot
//! loops our own).
//!
//! candle 0.11's CPU `conv2d` runs a tiled direct convolution, about a third of the GEMM rate
//! on the MNIST CNN. Here a convolution with one group is lowered to a matrix product: for a
//! block of examples, the im2col matrix `X[(c, i, j), (e, h, w)] = x_pad[e, c, s_h·h + i,
//! s_w·w + j]` (`K = C·kh·kw` rows, the `N = H_out·W_out` columns of each example side by
//! side, zero padding written in place) and `y[o, (e, h, w)] = Σ_k W[o, k] X[k, (e, h, w)]`,
//! one candle GEMM `[O, K] × [K, m·N]` per block. Per-axis stride and padding are handled
//! directly. While the GEMM's result is copied out to NCHW, the bias, the activation that
//! follows, its site's crash mask and a following max pooling are applied plane by plane
//! ([`Epilogue`]): one pass over the output in cache instead of one candle op (and one
//! output-sized allocation) per step. Max pooling alone is a direct loop over the windows
//! (candle's allocates a padded copy first).
//!
//! Used only for f32 tensors on the CPU that are not part of an autodiff graph (the bounds
//! differentiate through candle's own ops); the results equal candle's up to the order of the
//! sums (tested against the direct loops of the layer tests and PyTorch's outputs).

use super::layers::{ActKind, ActivationSpec, Pair};
use candle_core::{DType, Result, Storage, Tensor};

/// Whether the fast paths apply to `x`: f32 on the CPU, outside any autodiff graph.
pub(crate) fn applies(x: &Tensor) -> bool {
    x.dtype() == DType::F32 && x.device().is_cpu() && !x.track_op()
}

/// The convolution of `x` `[B, C, H, W]` with `w2d` `[O, C·kh·kw]` (the weight reshaped) plus
/// `bias` `[O]` by im2col and GEMM: `[B, O, H_out, W_out]`.
pub(crate) fn conv2d_im2col(
    x: &Tensor,
    w2d: &Tensor,
    bias: Option<&[f32]>,
    kernel: Pair,
    stride: Pair,
    padding: Pair,
) -> Result<Tensor> {
    conv2d_fused(x, w2d, bias, kernel, stride, padding, &Epilogue::default())
}

/// What follows a convolution, applied while its GEMM's result is copied out (one pass over
/// the output, in cache, instead of one candle op per step): the activation `φ(scale·z)·gain`,
/// the crash mask of the activation's site (`[B, O·H_out·W_out]`, 0/1) and a max pooling.
#[derive(Default)]
pub(crate) struct Epilogue<'a> {
    /// The activation layer right after the convolution.
    pub act: Option<ActivationSpec>,
    /// The crash mask of the activation's output, row-major `[B, O, H_out, W_out]`.
    pub mask: Option<&'a [f32]>,
    /// A max pooling after the activation: `(kernel, stride, padding)`.
    pub pool: Option<(Pair, Pair, Pair)>,
}

/// [`conv2d_im2col`] followed by `epi`: `pool(mask ⊙ φ(conv(x) + b))`, each step optional.
/// The im2col columns of a block of examples sit side by side (`[C·kh·kw, m·H_out·W_out]`) so
/// that each block is one GEMM `[O, K] × [K, m·N]`; every output element is the same sum, in
/// the same order, whatever the block, so results do not depend on the batch.
pub(crate) fn conv2d_fused(
    x: &Tensor,
    w2d: &Tensor,
    bias: Option<&[f32]>,
    kernel: Pair,
    stride: Pair,
    padding: Pair,
    epi: &Epilogue,
) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    let o = w2d.dim(0)?;
    let (kh, kw) = (kernel.0, kernel.1);
    let ho = (h + 2 * padding.0 - kh) / stride.0 + 1;
    let wo = (w + 2 * padding.1 - kw) / stride.1 + 1;
    let (k, n) = (c * kh * kw, ho * wo);
    if let Some(m) = epi.mask {
        if m.len() != b * o * n {
            candle_core::bail!(
                "fused conv: mask of {} values for a [{b}, {o}, {ho}, {wo}] output",
                m.len()
            )
        }
    }
    let (po_h, po_w) = match epi.pool {
        Some((pk, ps, pp)) => (
            (ho + 2 * pp.0 - pk.0) / ps.0 + 1,
            (wo + 2 * pp.1 - pk.1) / ps.1 + 1,
        ),
        None => (ho, wo),
    };
    let x = x.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("im2col: not a CPU tensor")
    };
    let data = &cpu.as_slice::<f32>()?[layout.start_offset()..];
    // Examples per GEMM: the im2col block stays within about 1 MiB (cache), not B·K·N floats.
    let per = (COLS_FLOATS / (k * n).max(1)).clamp(1, b.max(1));
    let mut out = Vec::with_capacity(b * o * po_h * po_w);
    let mut plane = vec![0f32; n];
    for start in (0..b).step_by(per) {
        let m = per.min(b - start);
        let cols_len = m * n;
        let mut cols = vec![0f32; k * cols_len];
        for e in 0..m {
            let img = &data[(start + e) * c * h * w..(start + e + 1) * c * h * w];
            im2col(
                img,
                (c, h, w),
                (kh, kw),
                stride,
                padding,
                (ho, wo),
                &mut cols[e * n..],
                cols_len,
            );
        }
        let t = Tensor::from_vec(cols, (k, cols_len), w2d.device())?;
        let y = w2d.matmul(&t)?;
        let (ys, yl) = y.storage_and_layout();
        let Storage::Cpu(ycpu) = &*ys else {
            candle_core::bail!("im2col: not a CPU tensor")
        };
        let yv = &ycpu.as_slice::<f32>()?[yl.start_offset()..][..o * cols_len];
        for e in 0..m {
            for ch in 0..o {
                let src = &yv[ch * cols_len + e * n..][..n];
                let bo = bias.map_or(0.0, |b| b[ch]);
                plane.copy_from_slice(src);
                epilogue_plane(&mut plane, bo, epi.act.as_ref());
                if let Some(mask) = epi.mask {
                    let mrow = &mask[((start + e) * o + ch) * n..][..n];
                    plane.iter_mut().zip(mrow).for_each(|(v, &mk)| *v *= mk);
                }
                match epi.pool {
                    Some((pk, ps, pp)) => {
                        let at = out.len();
                        out.resize(at + po_h * po_w, f32::NEG_INFINITY);
                        max_pool_plane(&plane, (ho, wo), pk, ps, pp, (po_h, po_w), &mut out[at..]);
                    }
                    None => out.extend_from_slice(&plane),
                }
            }
        }
    }
    drop(storage);
    Tensor::from_vec(out, (b, o, po_h, po_w), x.device())
}

/// `v ← φ(scale·(v + bias))·gain` over one output plane (the bias alone without activation),
/// with φ as in [`super::ops`]: relu max(0, t), relu6 min(max(0, t), 6), sigmoid
/// 1/(1 + e^{−t}), tanh, softplus max(t, 0) + ln(1 + e^{−|t|}).
fn epilogue_plane(v: &mut [f32], bias: f32, act: Option<&ActivationSpec>) {
    let Some(a) = act else {
        if bias != 0.0 {
            v.iter_mut().for_each(|x| *x += bias);
        }
        return;
    };
    let (s, g) = (a.scale as f32, a.gain as f32);
    let scaled = a.scale != 1.0;
    let pre = |x: f32| {
        let z = x + bias;
        if scaled {
            z * s
        } else {
            z
        }
    };
    match a.kind {
        ActKind::Relu => v.iter_mut().for_each(|x| *x = pre(*x).max(0.0)),
        ActKind::Relu6 => v.iter_mut().for_each(|x| *x = pre(*x).clamp(0.0, 6.0)),
        ActKind::Sigmoid => v
            .iter_mut()
            .for_each(|x| *x = 1.0 / ((-pre(*x)).exp() + 1.0)),
        ActKind::Tanh => v.iter_mut().for_each(|x| *x = pre(*x).tanh()),
        ActKind::Softplus => v.iter_mut().for_each(|x| {
            let t = pre(*x);
            *x = t.max(0.0) + (-t.abs()).exp().ln_1p();
        }),
    }
    if a.gain != 1.0 {
        v.iter_mut().for_each(|x| *x *= g);
    }
}

/// Max pooling of `x` `[B, C, H, W]` with windows padded by −∞: `[B, C, H_out, W_out]`,
/// `y[h, w] = max_{i<kh, j<kw} x_pad[s_h·h + i, s_w·w + j]`.
pub(crate) fn max_pool2d(x: &Tensor, kernel: Pair, stride: Pair, padding: Pair) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    let ho = (h + 2 * padding.0 - kernel.0) / stride.0 + 1;
    let wo = (w + 2 * padding.1 - kernel.1) / stride.1 + 1;
    let x = x.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("max pool: not a CPU tensor")
    };
    let data = &cpu.as_slice::<f32>()?[layout.start_offset()..][..b * c * h * w];
    let mut out = vec![f32::NEG_INFINITY; b * c * ho * wo];
    for (plane, dst) in data.chunks_exact(h * w).zip(out.chunks_exact_mut(ho * wo)) {
        max_pool_plane(plane, (h, w), kernel, stride, padding, (ho, wo), dst);
    }
    drop(storage);
    Tensor::from_vec(out, (b, c, ho, wo), x.device())
}

/// Max pooling of one `[H, W]` plane into `dst` `[H_out, W_out]` (filled with −∞ by the
/// caller), windows padded by −∞. The common 2×2, stride 2, no padding case has its own loop.
fn max_pool_plane(
    plane: &[f32],
    (h, w): (usize, usize),
    kernel: Pair,
    stride: Pair,
    padding: Pair,
    (ho, wo): (usize, usize),
    dst: &mut [f32],
) {
    if kernel == Pair(2, 2) && stride == Pair(2, 2) && padding == Pair(0, 0) {
        for (oy, drow) in dst.chunks_exact_mut(wo).enumerate() {
            let r0 = &plane[2 * oy * w..][..2 * wo];
            let r1 = &plane[(2 * oy + 1) * w..][..2 * wo];
            for ((d, a), b) in drow
                .iter_mut()
                .zip(r0.chunks_exact(2))
                .zip(r1.chunks_exact(2))
            {
                *d = a[0].max(a[1]).max(b[0].max(b[1]));
            }
        }
        return;
    }
    for oy in 0..ho {
        let drow = &mut dst[oy * wo..(oy + 1) * wo];
        for i in 0..kernel.0 {
            let y = (oy * stride.0 + i) as isize - padding.0 as isize;
            if y < 0 || y >= h as isize {
                continue;
            }
            let src = &plane[y as usize * w..(y as usize + 1) * w];
            for (ox, d) in drow.iter_mut().enumerate() {
                for j in 0..kernel.1 {
                    let xx = (ox * stride.1 + j) as isize - padding.1 as isize;
                    if xx >= 0 && xx < w as isize {
                        *d = d.max(src[xx as usize]);
                    }
                }
            }
        }
    }
}

/// Floats of im2col matrix built per GEMM.
const COLS_FLOATS: usize = 1 << 18;

/// The im2col matrix of one example `[C, H, W]` into `out`: row r = (c, i, j) holds the
/// `H_out·W_out` values at `out[r·row_stride ..]` (zero where the window reaches into the
/// padding; `out` must hold zeros there already).
#[allow(clippy::too_many_arguments)]
fn im2col(
    img: &[f32],
    (c, h, w): (usize, usize, usize),
    (kh, kw): (usize, usize),
    stride: Pair,
    padding: Pair,
    (ho, wo): (usize, usize),
    out: &mut [f32],
    row_stride: usize,
) {
    let n = ho * wo;
    for ch in 0..c {
        let plane = &img[ch * h * w..(ch + 1) * h * w];
        for i in 0..kh {
            for j in 0..kw {
                let row = &mut out[((ch * kh + i) * kw + j) * row_stride..][..n];
                for oy in 0..ho {
                    let y = (oy * stride.0 + i) as isize - padding.0 as isize;
                    let dst = &mut row[oy * wo..(oy + 1) * wo];
                    if y < 0 || y >= h as isize {
                        continue; // zero padding (already 0)
                    }
                    let src = &plane[y as usize * w..(y as usize + 1) * w];
                    if stride.1 == 1 {
                        // Columns ox with 0 ≤ ox + j − p < w are a contiguous copy.
                        let lo = padding.1.saturating_sub(j).min(wo);
                        let hi = (w + padding.1).saturating_sub(j).min(wo);
                        if hi > lo {
                            let s0 = lo + j - padding.1;
                            dst[lo..hi].copy_from_slice(&src[s0..s0 + (hi - lo)]);
                        }
                    } else {
                        for (ox, d) in dst.iter_mut().enumerate() {
                            let xx = (ox * stride.1 + j) as isize - padding.1 as isize;
                            if xx >= 0 && xx < w as isize {
                                *d = src[xx as usize];
                            }
                        }
                    }
                }
            }
        }
    }
}
