//! CPU fast paths of the convolution and max pooling (SPEC §14: candle for the GEMM, the hot
//! loops our own).
//!
//! candle 0.11's CPU `conv2d` runs a tiled direct convolution, about a third of the GEMM rate
//! on the MNIST CNN. Here a convolution with one group is lowered to a matrix product: for each
//! example, the im2col matrix `X[(c, i, j), (h, w)] = x_pad[c, s_h·h + i, s_w·w + j]`
//! (`K = C·kh·kw` rows, `N = H_out·W_out` columns, zero padding written in place) and
//! `y[o, (h, w)] = Σ_k W[o, k] X[k, (h, w)]`, one candle GEMM `[O, K] × [K, N]` per example,
//! whose `[B, O, N]` result is already the NCHW output. Per-axis stride and padding are
//! handled directly; the bias is added while the GEMM's result is copied out. Max pooling is a
//! direct loop over the windows (candle's allocates a padded copy first).
//!
//! Used only for f32 tensors on the CPU that are not part of an autodiff graph (the bounds
//! differentiate through candle's own ops); the results equal candle's up to the order of the
//! sums (tested against the direct loops of the layer tests and PyTorch's outputs).

use super::layers::Pair;
use candle_core::{DType, Device, Result, Storage, Tensor};

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
    let (b, c, h, w) = x.dims4()?;
    let o = w2d.dim(0)?;
    let (kh, kw) = (kernel.0, kernel.1);
    let ho = (h + 2 * padding.0 - kh) / stride.0 + 1;
    let wo = (w + 2 * padding.1 - kw) / stride.1 + 1;
    let (k, n) = (c * kh * kw, ho * wo);
    let x = x.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("im2col: not a CPU tensor")
    };
    let data = &cpu.as_slice::<f32>()?[layout.start_offset()..];
    // Examples per GEMM: the im2col block stays within about 1 MiB (cache), not B·K·N floats.
    let per = (COLS_FLOATS / (k * n).max(1)).clamp(1, b.max(1));
    let mut out = Vec::with_capacity(b * o * n);
    let mut cols = vec![0f32; per * k * n];
    for start in (0..b).step_by(per) {
        let m = per.min(b - start);
        let block = &mut cols[..m * k * n];
        block.fill(0.0);
        for (e, col) in block.chunks_exact_mut(k * n).enumerate() {
            let img = &data[(start + e) * c * h * w..(start + e + 1) * c * h * w];
            im2col(img, (c, h, w), (kh, kw), stride, padding, (ho, wo), col);
        }
        let t = Tensor::from_slice(block, (m, k, n), &Device::Cpu)?;
        let y = w2d.broadcast_left(m)?.matmul(&t)?;
        let (ys, yl) = y.storage_and_layout();
        let Storage::Cpu(ycpu) = &*ys else {
            candle_core::bail!("im2col: not a CPU tensor")
        };
        let yv = &ycpu.as_slice::<f32>()?[yl.start_offset()..][..m * o * n];
        match bias {
            // y[e, o, :] + b[o] while copying out of the GEMM's buffer.
            Some(bias) => {
                for (row, &bo) in yv.chunks_exact(n).zip(bias.iter().cycle()) {
                    out.extend(row.iter().map(|&v| v + bo));
                }
            }
            None => out.extend_from_slice(yv),
        }
    }
    drop(storage);
    Tensor::from_vec(out, (b, o, ho, wo), &Device::Cpu)
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
    drop(storage);
    Tensor::from_vec(out, (b, c, ho, wo), &Device::Cpu)
}

/// Floats of im2col matrix built per GEMM.
const COLS_FLOATS: usize = 1 << 18;

/// The im2col matrix of one example `[C, H, W]` into `out` `[C·kh·kw, H_out·W_out]`
/// (zero where the window reaches into the padding).
fn im2col(
    img: &[f32],
    (c, h, w): (usize, usize, usize),
    (kh, kw): (usize, usize),
    stride: Pair,
    padding: Pair,
    (ho, wo): (usize, usize),
    out: &mut [f32],
) {
    let n = ho * wo;
    for ch in 0..c {
        let plane = &img[ch * h * w..(ch + 1) * h * w];
        for i in 0..kh {
            for j in 0..kw {
                let row = &mut out[((ch * kh + i) * kw + j) * n..][..n];
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
