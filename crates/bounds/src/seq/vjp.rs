//! Vector–Jacobian products written out where candle 0.11's autodiff is wrong, fails or is
//! slow, each checked against finite differences by the tests (`tests/seq_bounds.rs`):
//!
//! * **max and average pooling** ([`pool_vjp`]): candle upsamples the cotangent to the input
//!   size, which assigns it to the wrong elements when the windows do not tile the input
//!   (2×2 pooling of 7×7 in the shipped MNIST CNN), and refuses kernel ≠ stride; its max
//!   pooling backward also multiplies a window's cotangent by (number of maxima)/(kh·kw)
//!   instead of dividing it by the number of maxima (a quarter of the gradient for 2×2);
//! * **activations** ([`activation_vjp`]): `g ⊙ a′(z)` with a′ computed once per input and
//!   applied by one broadcast product over the n_out replicated rows; candle's backward of the
//!   forward pass's softplus, `log1p(e^{−|t|})` written as `ln(v)·u/(v − 1)`, divides 0 by 0
//!   (NaN) where e^{−|t|} underflows against 1 (|t| > 16.6), and its elementwise backward
//!   takes several single-threaded passes over every replicated row (1.1 s of 5.2 s for the
//!   first relu of the MNIST CNN at 100 digits × 10 outputs);
//! * **conv2d on the CPU** ([`conv_vjp`]): the adjoint of the im2col lowering, one GEMM
//!   `Wᵀ G` per block of rows and a scatter-add (col2im, contiguous runs for stride 1),
//!   reading the GEMM's output in place; candle's backward runs its direct
//!   `conv_transpose2d` and also the kernel's gradient, which b3 does not need (3.3 s of 5.2 s
//!   on the MNIST CNN). Grouped convolutions scatter directly. Other devices keep candle's
//!   autodiff.

use super::to_vec;
use crate::error::Result;
use candle_core::{DType, Storage, Tensor};
use ftnn_model::seq::{ActivationSpec, Conv2d, Pool2d};
use ftnn_model::ModelError;
use rayon::prelude::*;

/// Calls `f` with the values of `t` (row-major): the tensor's own buffer when it is a
/// contiguous f32 CPU tensor (no copy: the cotangents of b3 are hundreds of MB per layer),
/// else a converted copy.
fn with_values<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    if t.dtype() == DType::F32 && t.is_contiguous() {
        let (storage, layout) = t.storage_and_layout();
        if let Storage::Cpu(cpu) = &*storage {
            let all = cpu.as_slice::<f32>().map_err(ModelError::from)?;
            return Ok(f(&all[layout.start_offset()..][..t.elem_count()]));
        }
    }
    Ok(f(&to_vec(t)?))
}

/// `g ⊙ a′(z)` for an activation `a(z) = gain·φ(scale·z)` at the clean input `z` `[b, …]`,
/// `g` `[b·r, …]` (row n·r + k belongs to input n). relu′(0) = 1, as candle's.
pub(crate) fn activation_vjp(
    a: &ActivationSpec,
    z: &Tensor,
    g: &Tensor,
    r: usize,
) -> Result<Tensor> {
    let (a1, _) = super::activation_derivatives(a, &to_vec(z)?);
    let b = z.dims()[0];
    let size = a1.len() / b.max(1);
    let c = |t: candle_core::Result<Tensor>| t.map_err(ModelError::from);
    // One broadcast product (candle writes its output once, without zero-filling it first).
    let a1 = c(Tensor::from_vec(a1, (b, 1, size), z.device()))?;
    let out = c(c(g.reshape((b, r, size)))?.broadcast_mul(&a1))?;
    Ok(c(out.reshape(g.dims()))?)
}

/// Rows per GEMM of [`conv_vjp`]: the `[rows, K, N]` column block stays near 4 MiB.
const COL_FLOATS: usize = 1 << 20;

/// The input cotangent `[R, C, H, W]` of a convolution (`weight` `[O, C/groups, kh, kw]`, the
/// layer's stride and padding, input `[·, C, H, W]` = `in_dims`) from the output cotangent
/// `g` `[R, O, OH, OW]`, on the CPU: `cols = W_gᵀ G_g` `[C/groups·kh·kw, OH·OW]` per row and
/// group, scattered back to the input positions it was gathered from (col2im, the adjoint of
/// the forward pass's im2col with zero padding).
pub(crate) fn conv_vjp(
    conv: &Conv2d,
    weight: &Tensor,
    in_dims: &[usize],
    g: &Tensor,
) -> Result<Tensor> {
    let c = |t: candle_core::Result<Tensor>| t.map_err(ModelError::from);
    let &[rows, o, oh, ow] = g.dims() else {
        return Err(shape_error("conv2d output cotangent", g.dims()));
    };
    let &[_, ch, h, w] = in_dims else {
        return Err(shape_error("conv2d input", in_dims));
    };
    let groups = conv.groups.max(1);
    let (kh, kw) = (conv.kernel_size.0, conv.kernel_size.1);
    let (cg, og) = (ch / groups, o / groups);
    let k = cg * kh * kw;
    let n = oh * ow;
    let geom = ColGeom {
        c: ch,
        h,
        w,
        kh,
        kw,
        stride: (conv.stride.0, conv.stride.1),
        padding: (conv.padding.0, conv.padding.1),
        oh,
        ow,
    };
    let mut out = vec![0f32; rows * ch * h * w];
    if groups == 1 {
        let wt = c(c(weight.reshape((o, k)))?.t())?;
        let per = (COL_FLOATS / (k * n).max(1)).clamp(1, rows.max(1));
        for start in (0..rows).step_by(per) {
            let m = per.min(rows - start);
            let gm = c(c(c(g.narrow(0, start, m))?.reshape((m, o, n)))?.contiguous())?;
            let cols = c(c(wt.broadcast_left(m))?.matmul(&gm))?;
            with_values(&cols, |cols| {
                out[start * ch * h * w..(start + m) * ch * h * w]
                    .par_chunks_mut(ch * h * w)
                    .zip(cols.par_chunks(k * n))
                    .for_each(|(x, col)| geom.col2im(col, 0..ch, x));
            })?;
        }
    } else {
        let wv = to_vec(weight)?;
        let gv = to_vec(g)?;
        out.par_chunks_mut(ch * h * w)
            .zip(gv.par_chunks(o * n))
            .for_each(|(x, go)| {
                let mut col = vec![0f32; k * n];
                for gi in 0..groups {
                    // cols[(c', i, j), q] = Σ_{o in group} w[o, c', i, j] g[o, q].
                    col.fill(0.0);
                    for ol in 0..og {
                        let oo = gi * og + ol;
                        let grow = &go[oo * n..(oo + 1) * n];
                        for (kk, cr) in col.chunks_exact_mut(n).enumerate() {
                            let wk = wv[oo * k + kk];
                            if wk != 0.0 {
                                cr.iter_mut().zip(grow).for_each(|(a, &b)| *a += wk * b);
                            }
                        }
                    }
                    geom.col2im(&col, gi * cg..(gi + 1) * cg, x);
                }
            });
    }
    let dims = [rows, ch, h, w];
    Ok(c(Tensor::from_vec(out, &dims[..], g.device()))?)
}

fn shape_error(what: &str, dims: &[usize]) -> crate::error::BoundsError {
    ModelError::Shape {
        what: what.into(),
        expected: "[B, C, H, W]".into(),
        got: format!("{dims:?}"),
    }
    .into()
}

/// Geometry of an im2col lowering.
struct ColGeom {
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    stride: (usize, usize),
    padding: (usize, usize),
    oh: usize,
    ow: usize,
}

impl ColGeom {
    /// Adds the columns `col` `[channels.len()·kh·kw, OH·OW]` back onto the input positions of
    /// the channels `channels` of one example `x` `[C, H, W]` (positions in the zero padding
    /// are dropped).
    fn col2im(&self, col: &[f32], channels: std::ops::Range<usize>, x: &mut [f32]) {
        debug_assert_eq!(x.len(), self.c * self.h * self.w);
        let (h, w, n) = (self.h, self.w, self.oh * self.ow);
        for (cl, ch) in channels.enumerate() {
            let plane = &mut x[ch * h * w..(ch + 1) * h * w];
            for i in 0..self.kh {
                for j in 0..self.kw {
                    let row = &col[((cl * self.kh + i) * self.kw + j) * n..][..n];
                    for oy in 0..self.oh {
                        let y = (oy * self.stride.0 + i) as isize - self.padding.0 as isize;
                        if y < 0 || y >= h as isize {
                            continue;
                        }
                        let dst = &mut plane[y as usize * w..(y as usize + 1) * w];
                        let src = &row[oy * self.ow..(oy + 1) * self.ow];
                        if self.stride.1 == 1 {
                            // Columns ox with 0 ≤ ox + j − p < w add onto a contiguous run
                            // (the adjoint of im2col's contiguous copy; vectorised).
                            let p = self.padding.1;
                            let lo = p.saturating_sub(j).min(self.ow);
                            let hi = (w + p).saturating_sub(j).min(self.ow);
                            if hi > lo {
                                let d0 = lo + j - p;
                                dst[d0..d0 + (hi - lo)]
                                    .iter_mut()
                                    .zip(&src[lo..hi])
                                    .for_each(|(d, &v)| *d += v);
                            }
                            continue;
                        }
                        for (ox, &v) in src.iter().enumerate() {
                            let xx = (ox * self.stride.1 + j) as isize - self.padding.1 as isize;
                            if xx >= 0 && xx < w as isize {
                                dst[xx as usize] += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Which pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolKind {
    /// Maximum over the window (padding is −∞).
    Max,
    /// Sum over the window divided by its size (padding is 0 and counts).
    Avg,
}

/// Geometry of a pooling layer on `[C, H, W]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolGeom {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
}

impl PoolGeom {
    pub(crate) fn new(pool: &Pool2d, dims: &[usize]) -> Result<Self> {
        let &[c, h, w] = dims else {
            return Err(ModelError::Shape {
                what: "pooling input".into(),
                expected: "[C, H, W]".into(),
                got: format!("{dims:?}"),
            }
            .into());
        };
        let (k, s, p) = (pool.kernel_size, pool.stride(), pool.padding);
        let out = |n: usize, k: usize, s: usize, p: usize| (n + 2 * p - k) / s + 1;
        Ok(Self {
            c,
            h,
            w,
            oh: out(h, k.0, s.0, p.0),
            ow: out(w, k.1, s.1, p.1),
            kernel: (k.0, k.1),
            stride: (s.0, s.1),
            padding: (p.0, p.1),
        })
    }

    /// The in-bounds input positions (flat within one H×W plane) of window (a, b).
    fn window(&self, a: usize, b: usize) -> impl Iterator<Item = usize> + '_ {
        let h0 = (a * self.stride.0) as isize - self.padding.0 as isize;
        let w0 = (b * self.stride.1) as isize - self.padding.1 as isize;
        (0..self.kernel.0 as isize).flat_map(move |i| {
            (0..self.kernel.1 as isize).filter_map(move |jj| {
                let (y, x) = (h0 + i, w0 + jj);
                let inside = y >= 0 && x >= 0 && (y as usize) < self.h && (x as usize) < self.w;
                inside.then(|| y as usize * self.w + x as usize)
            })
        })
    }

    /// For every input plane of `x` (`[planes, H, W]` flattened) and window, the flat
    /// position within the plane of the window's first largest element: `[planes, OH·OW]`.
    pub(crate) fn argmax(&self, x: &[f32]) -> Vec<u32> {
        let plane = self.h * self.w;
        let mut out = Vec::with_capacity(x.len() / plane.max(1) * self.oh * self.ow);
        for xp in x.chunks_exact(plane) {
            for a in 0..self.oh {
                for b in 0..self.ow {
                    let mut best: Option<(usize, f32)> = None;
                    for i in self.window(a, b) {
                        if best.is_none_or(|(_, m)| xp[i] > m) {
                            best = Some((i, xp[i]));
                        }
                    }
                    out.push(best.map_or(0, |(i, _)| i as u32));
                }
            }
        }
        out
    }
}

/// The vector–Jacobian product of max or average pooling (the layer's padding included, as
/// the forward pass of [`Sequential`] computes it): from the cotangent of the output `g`
/// `[b·r, C, OH, OW]` to that of the input `[b·r, C, H, W]`, at the clean input `x`
/// `[b, C, H, W]`. Max pooling passes each window's cotangent to its first largest element;
/// average pooling spreads it as `1/(kh·kw)` over the window's in-bounds elements.
pub(crate) fn pool_vjp(
    kind: PoolKind,
    pool: &Pool2d,
    x: &Tensor,
    g: &Tensor,
    r: usize,
) -> Result<Tensor> {
    pool_scaled_vjp(kind, pool, x, g, r, None)
}

/// The input cotangent of an activation followed by a pooling layer, in one scatter:
/// `a′(z) ⊙ poolᵀ(g)` with `z` `[b, C, H, W]` the activation's clean input and `y = a(z)` the
/// pooling's input — [`activation_vjp`] after [`pool_vjp`] without the intermediate
/// `[b·r, C, H, W]` cotangent (the largest tensors of b3 on a CNN).
pub(crate) fn pool_activation_vjp(
    kind: PoolKind,
    pool: &Pool2d,
    act: &ActivationSpec,
    z: &Tensor,
    y: &Tensor,
    g: &Tensor,
    r: usize,
) -> Result<Tensor> {
    let (a1, _) = super::activation_derivatives(act, &to_vec(z)?);
    pool_scaled_vjp(kind, pool, y, g, r, Some(&a1))
}

/// [`pool_vjp`] with each scattered value multiplied by `scale[n, c, h, w]` (per input n) at
/// its destination when `scale` is given.
fn pool_scaled_vjp(
    kind: PoolKind,
    pool: &Pool2d,
    x: &Tensor,
    g: &Tensor,
    r: usize,
    scale: Option<&[f32]>,
) -> Result<Tensor> {
    let geom = PoolGeom::new(pool, &x.dims()[1..])?;
    let rows = g.dim(0).map_err(ModelError::from)?;
    let plane = geom.h * geom.w;
    let mut out = vec![0f32; rows * geom.c * plane];
    with_values(g, |gv| pool_scatter(kind, &geom, x, gv, r, scale, &mut out))??;
    let dims = [rows, geom.c, geom.h, geom.w];
    Ok(Tensor::from_vec(out, &dims[..], g.device()).map_err(ModelError::from)?)
}

/// The scatter of [`pool_vjp`]: the output cotangent `gv` onto the input positions `out`,
/// each value multiplied by `scale` at its destination when given (`[b, C·H·W]`, row n·r + k
/// of `gv` belongs to input n).
fn pool_scatter(
    kind: PoolKind,
    geom: &PoolGeom,
    x: &Tensor,
    gv: &[f32],
    r: usize,
    scale: Option<&[f32]>,
    out: &mut [f32],
) -> Result<()> {
    let (plane, oplane) = (geom.h * geom.w, geom.oh * geom.ow);
    let size = geom.c * plane;
    let per = geom.c * oplane;
    match kind {
        PoolKind::Max => {
            let arg = geom.argmax(&to_vec(x)?);
            gv.par_chunks(per)
                .zip(out.par_chunks_mut(size))
                .enumerate()
                .for_each(|(row, (go, gi))| {
                    let a = &arg[(row / r) * per..(row / r + 1) * per];
                    let d = scale.map(|s| &s[(row / r) * size..(row / r + 1) * size]);
                    for c in 0..geom.c {
                        let gi = &mut gi[c * plane..(c + 1) * plane];
                        let (a, go) = (&a[c * oplane..][..oplane], &go[c * oplane..][..oplane]);
                        match d {
                            Some(d) => {
                                let d = &d[c * plane..(c + 1) * plane];
                                for (&i, &v) in a.iter().zip(go) {
                                    gi[i as usize] += v * d[i as usize];
                                }
                            }
                            None => {
                                for (&i, &v) in a.iter().zip(go) {
                                    gi[i as usize] += v;
                                }
                            }
                        }
                    }
                });
        }
        PoolKind::Avg => {
            let inv = 1.0 / (geom.kernel.0 * geom.kernel.1) as f32;
            gv.par_chunks(per)
                .zip(out.par_chunks_mut(size))
                .enumerate()
                .for_each(|(row, (go, gi))| {
                    let d = scale.map(|s| &s[(row / r) * size..(row / r + 1) * size]);
                    for c in 0..geom.c {
                        let gi = &mut gi[c * plane..(c + 1) * plane];
                        let go = &go[c * oplane..][..oplane];
                        let d = d.map(|d| &d[c * plane..(c + 1) * plane]);
                        for a in 0..geom.oh {
                            for b in 0..geom.ow {
                                let v = go[a * geom.ow + b] * inv;
                                for i in geom.window(a, b) {
                                    gi[i] += d.map_or(v, |d| v * d[i]);
                                }
                            }
                        }
                    }
                });
        }
    }
    Ok(())
}
