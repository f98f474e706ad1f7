//! CPU kernels of the training forward's three hottest layers, as candle custom ops with their
//! own backward (the composed candle ops they replace spent most of a step in strided copies,
//! broadcasts and page faults; measured with `perf` on SPEC §9's MNIST CNN):
//!
//! * [`Im2col`]: `patches[(b·oh + y)·ow + x, (c·kh + i)·kw + j] = x_pad[b, c, s·y + i, s·x + j]`
//!   with the zero padding done in place; its backward is [`Col2im`], the adjoint
//!   `g_x[b, c, s·y + i − pad, s·x + j − pad] += g_patches[…]` (padding positions dropped);
//! * [`Softplus`]: `softplus(t) = max(t, 0) + ln(1 + e^{−|t|})`, backward
//!   `g_t = g_y · σ(t)`;
//! * [`MaxPool`]: max over non-overlapping `k0×k1` windows (stride = kernel, floor mode), and
//!   its backward [`MaxPoolBackward`], which routes each window's gradient to the window's
//!   first maximal element (PyTorch's argmax rule).
//!
//! Each works on contiguous f32 or f64 tensors on the CPU; `graph` uses them there and the
//! composed candle ops on other devices. Batch elements are processed in parallel with rayon,
//! each by one thread writing its own slice, so the results do not depend on the thread
//! count. The finite-difference test of `tests/seq_train.rs` checks every backward here.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

/// `Err` unless the layout is contiguous from offset 0 … its end.
fn contiguous_range(layout: &Layout, what: &str) -> candle_core::Result<(usize, usize)> {
    match layout.contiguous_offsets() {
        Some(r) => Ok(r),
        None => candle_core::bail!("{what}: the input must be contiguous"),
    }
}

/// Applies `f` to the contiguous f32 or f64 data of `s`, building the same storage type.
macro_rules! by_dtype {
    ($s:expr, $l:expr, $what:expr, |$v:ident| $body:expr) => {{
        let (lo, hi) = contiguous_range($l, $what)?;
        match $s {
            CpuStorage::F32(all) => {
                let $v = &all[lo..hi];
                CpuStorage::F32($body)
            }
            CpuStorage::F64(all) => {
                let $v = &all[lo..hi];
                CpuStorage::F64($body)
            }
            _ => candle_core::bail!("{}: only f32 and f64 are supported", $what),
        }
    }};
}

/// The geometry of a convolution's patches: input `[b, c, h, w]`, kernel `kh×kw`, stride,
/// symmetric zero padding, output `oh×ow`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Im2col {
    pub b: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Im2col {
    /// Output height and width `(h + 2·pad − kh)/s + 1`, `(w + 2·pad − kw)/s + 1`.
    pub fn out_hw(&self) -> (usize, usize) {
        (
            (self.h + 2 * self.pad - self.kh) / self.stride + 1,
            (self.w + 2 * self.pad - self.kw) / self.stride + 1,
        )
    }

    /// Patch length `c·kh·kw`.
    fn q(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// The padded-input row/column of output position `o` and tap `t`, if inside the input.
    #[inline]
    fn src(&self, o: usize, t: usize, len: usize) -> Option<usize> {
        (o * self.stride + t)
            .checked_sub(self.pad)
            .filter(|&v| v < len)
    }

    fn forward<T: Copy + Default + Send + Sync>(&self, x: &[T]) -> Vec<T> {
        let (oh, ow) = self.out_hw();
        let (q, img) = (self.q(), self.c * self.h * self.w);
        let mut out = vec![T::default(); self.b * oh * ow * q];
        out.par_chunks_mut(oh * ow * q)
            .zip(x.par_chunks(img))
            .for_each(|(out, x)| {
                for y in 0..oh {
                    for xo in 0..ow {
                        let row = &mut out[(y * ow + xo) * q..][..q];
                        for c in 0..self.c {
                            for i in 0..self.kh {
                                let Some(r) = self.src(y, i, self.h) else {
                                    continue;
                                };
                                let line = &x[(c * self.h + r) * self.w..][..self.w];
                                let dst = &mut row[(c * self.kh + i) * self.kw..][..self.kw];
                                for (j, d) in dst.iter_mut().enumerate() {
                                    if let Some(col) = self.src(xo, j, self.w) {
                                        *d = line[col];
                                    }
                                }
                            }
                        }
                    }
                }
            });
        out
    }

    fn adjoint<T>(&self, g: &[T]) -> Vec<T>
    where
        T: Copy + Default + Send + Sync + std::ops::AddAssign,
    {
        let (oh, ow) = self.out_hw();
        let (q, img) = (self.q(), self.c * self.h * self.w);
        let mut out = vec![T::default(); self.b * img];
        out.par_chunks_mut(img)
            .zip(g.par_chunks(oh * ow * q))
            .for_each(|(gx, g)| {
                for y in 0..oh {
                    for xo in 0..ow {
                        let row = &g[(y * ow + xo) * q..][..q];
                        for c in 0..self.c {
                            for i in 0..self.kh {
                                let Some(r) = self.src(y, i, self.h) else {
                                    continue;
                                };
                                let line = &mut gx[(c * self.h + r) * self.w..][..self.w];
                                let src = &row[(c * self.kh + i) * self.kw..][..self.kw];
                                for (j, &v) in src.iter().enumerate() {
                                    if let Some(col) = self.src(xo, j, self.w) {
                                        line[col] += v;
                                    }
                                }
                            }
                        }
                    }
                }
            });
        out
    }
}

impl CustomOp1 for Im2col {
    fn name(&self) -> &'static str {
        "ftnn-im2col"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        if l.shape().dims() != [self.b, self.c, self.h, self.w] {
            candle_core::bail!("im2col: input {:?} is not {:?}", l.shape(), self)
        }
        let (oh, ow) = self.out_hw();
        let out = by_dtype!(s, l, "im2col", |v| self.forward(v));
        Ok((out, Shape::from((self.b * oh * ow, self.q()))))
    }

    fn bwd(&self, _: &Tensor, _: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(g.contiguous()?.apply_op1_no_bwd(&Col2im(*self))?))
    }
}

/// The adjoint of [`Im2col`] (the input gradient of a convolution's patches).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Col2im(pub Im2col);

impl CustomOp1 for Col2im {
    fn name(&self) -> &'static str {
        "ftnn-col2im"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.0;
        let (oh, ow) = g.out_hw();
        if l.shape().dims() != [g.b * oh * ow, g.q()] {
            candle_core::bail!("col2im: gradient {:?} does not fit {:?}", l.shape(), g)
        }
        let out = by_dtype!(s, l, "col2im", |v| g.adjoint(v));
        Ok((out, Shape::from((g.b, g.c, g.h, g.w))))
    }
}

/// Elementwise `softplus(t) = max(t, 0) + ln(1 + e^{−|t|})`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Softplus;

impl CustomOp1 for Softplus {
    fn name(&self) -> &'static str {
        "ftnn-softplus"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = by_dtype!(s, l, "softplus", |v| v
            .par_iter()
            .with_min_len(4096)
            .map(|&t| t.max(0.0) + (1.0 + (-t.abs()).exp()).ln())
            .collect());
        Ok((out, l.shape().clone()))
    }

    /// `g_t = g_y · σ(t)`.
    fn bwd(&self, t: &Tensor, _: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(g.mul(&candle_nn::ops::sigmoid(&t.detach())?)?))
    }
}

/// Max pooling over non-overlapping `k0×k1` windows of `[b, c, h, w]` (floor mode).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MaxPool {
    pub k0: usize,
    pub k1: usize,
}

impl MaxPool {
    /// For every window of plane `x` (`h×w`), the index in `x` of its first maximal element.
    fn argmax<T: Copy + PartialOrd>(&self, x: &[T], h: usize, w: usize) -> Vec<usize> {
        let (oh, ow) = (h / self.k0, w / self.k1);
        let mut out = Vec::with_capacity(oh * ow);
        for y in 0..oh {
            for xo in 0..ow {
                let mut best = (y * self.k0) * w + xo * self.k1;
                for i in 0..self.k0 {
                    for j in 0..self.k1 {
                        let at = (y * self.k0 + i) * w + xo * self.k1 + j;
                        // NaN never wins; the first maximum is kept on ties.
                        if x[at] > x[best] {
                            best = at;
                        }
                    }
                }
                out.push(best);
            }
        }
        out
    }

    fn dims(&self, l: &Layout) -> candle_core::Result<(usize, usize, usize)> {
        let (b, c, h, w) = l.shape().dims4()?;
        if h < self.k0 || w < self.k1 {
            candle_core::bail!("max pooling {}×{} of a {h}×{w} input", self.k0, self.k1)
        }
        Ok((b * c, h, w))
    }
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "ftnn-maxpool"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (planes, h, w) = self.dims(l)?;
        let (oh, ow) = (h / self.k0, w / self.k1);
        let out = by_dtype!(s, l, "maxpool", |v| {
            let mut out = vec![Default::default(); planes * oh * ow];
            out.par_chunks_mut(oh * ow)
                .zip(v.par_chunks(h * w))
                .for_each(|(o, x)| {
                    for (o, a) in o.iter_mut().zip(self.argmax(x, h, w)) {
                        *o = x[a];
                    }
                });
            out
        });
        let (b, c, _, _) = l.shape().dims4()?;
        Ok((out, Shape::from((b, c, oh, ow))))
    }

    fn bwd(&self, x: &Tensor, _: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let x = x.detach().contiguous()?;
        Ok(Some(x.apply_op2_no_bwd(
            &g.contiguous()?,
            &MaxPoolBackward(*self),
        )?))
    }
}

/// The input gradient of [`MaxPool`]: arguments (the pooled input, the output gradient).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MaxPoolBackward(pub MaxPool);

impl CustomOp2 for MaxPoolBackward {
    fn name(&self) -> &'static str {
        "ftnn-maxpool-backward"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let p = self.0;
        let (planes, h, w) = p.dims(xl)?;
        let (oh, ow) = (h / p.k0, w / p.k1);
        if gl.shape().elem_count() != planes * oh * ow {
            candle_core::bail!("maxpool backward: gradient {:?} for input {:?}", gl, xl)
        }
        let ((xlo, xhi), (glo, ghi)) = (
            contiguous_range(xl, "maxpool backward")?,
            contiguous_range(gl, "maxpool backward")?,
        );
        macro_rules! route {
            ($x:expr, $g:expr) => {{
                let (x, g) = (&$x[xlo..xhi], &$g[glo..ghi]);
                let mut out = vec![Default::default(); planes * h * w];
                out.par_chunks_mut(h * w)
                    .zip(x.par_chunks(h * w))
                    .zip(g.par_chunks(oh * ow))
                    .for_each(|((o, x), g)| {
                        for (a, &gv) in p.argmax(x, h, w).into_iter().zip(g) {
                            o[a] += gv;
                        }
                    });
                out
            }};
        }
        let out = match (xs, gs) {
            (CpuStorage::F32(x), CpuStorage::F32(g)) => CpuStorage::F32(route!(x, g)),
            (CpuStorage::F64(x), CpuStorage::F64(g)) => CpuStorage::F64(route!(x, g)),
            _ => candle_core::bail!("maxpool backward: f32 or f64 of one dtype"),
        };
        Ok((out, xl.shape().clone()))
    }
}
