//! smooth() — Eq. 1 of the paper (SPEC §7), differentiable with candle and as a plain `f64`
//! reference.
//!
//! For W of shape [n_out, n_in] (a bias vector `[n]` is read as `[n, 1]`), every column W_{·j} is
//! cross-correlated along the neuron axis with zero "same" padding:
//! (c ⋆ w)_i = Σ_t c_t w_{i + t − pad_left}, where w is 0 outside 0..n_out and
//! pad_left = ⌊(taps − 1)/2⌋. For an even number of taps this is TensorFlow's 'same' convention
//! (pad_left = (taps − 1)/2, pad_right = taps/2: the extra zero goes on the right).
//!
//! * derivative part D = ¼ Σ_{c ∈ C} Σ_j Σ_i |(c ⋆ W_{·j})_i|, C = [`derivative_stencils`];
//! * smoothness part S = ½ Σ_{m ∈ {⌊n_out/20⌋, ⌊n_out/10⌋}} Σ_j mean_i |(g_m ⋆ W_{·j})_i − W_ij|,
//!   g_m = [`gaussian_kernel`]`(m)`;
//! * a kernel longer than n_out, or with at most one tap, contributes 0 but still counts in the
//!   ¼ and the ½;
//! * regularizer = ψ_d · D + ψ_s · S.
//!
//! # How the candle path computes it
//!
//! [`Smoother`] caches, for one n_out, each part as Σ |T X|: X gathers overlapping blocks of
//! B + s consecutive zero-padded rows of W side by side, [B + s, blocks · n_in] (s = the widest
//! pad_left + pad_right of the part), and T stacks, for every kernel of the part, the
//! B × (B + s) banded Toeplitz block of that kernel, already multiplied by the positive weight
//! the kernel carries (¼, or ½ / n_out) and, for g_m, minus the identity. One GEMM evaluates
//! every correlation of every column (a second, small one handles the last, partial block).
//!
//! Each part f(W) = Σ |T X(W)| is piecewise linear and positively homogeneous of degree 1, so
//! by Euler's identity f(W) = ⟨W, G⟩ with G = ∇f(W) = Xᵀ(Tᵀ sign(T X(W))) (Xᵀ: scatter-add
//! back onto the rows of W). The part is returned as ⟨W, G⟩ + (f − ⟨W, G⟩) with G and the
//! bracket computed eagerly and detached: the value is f (summed from its positive terms) and
//! candle's backward gives ∂f/∂W = G through one dot product. This costs two GEMMs per part and
//! none of what a graph of |·|, sums and GEMMs costs candle's backward (the useless gradient of
//! the constant T and several broadcast passes over every |·| argument), several times faster
//! on the CPU. Every op used (gather, GEMM, sign, scatter-add) exists on every candle device.
//! Second derivatives are those of f too (zero almost everywhere).
//!
//! [`smooth_parts_f64`] is the direct-loop reference.

use candle_core::{DType, Device, Tensor};

use crate::error::{ContinuityError, Result};
use crate::stencil::{derivative_stencils, gaussian_kernel};

/// Derivative part and smoothness part of smooth(W), as scalar tensors (SPEC §7, Eq. 1).
///
/// Differentiable: `smooth_parts(&w)?.0.backward()` gives ∂D/∂W for a [`candle_core::Var`] W.
/// Builds a [`Smoother`] for W's n_out; keep one when calling repeatedly.
pub fn smooth_parts(w: &Tensor) -> Result<(Tensor, Tensor)> {
    let (n_out, _) = matrix_dims(w)?;
    Smoother::new(n_out, w.dtype(), w.device())?.parts(w)
}

/// smooth(W) = ψ_d · D + ψ_s · S (SPEC §7, Eq. 1), a differentiable scalar tensor.
///
/// `w` is a weight matrix [n_out, n_in] or a bias vector `[n]` (read as `[n, 1]`), f32 or f64.
/// Errors on a tensor of another rank, an empty one, or a non-finite ψ. Builds a [`Smoother`]
/// for W's n_out; keep one when calling repeatedly.
pub fn smooth(w: &Tensor, psi_d: f64, psi_s: f64) -> Result<Tensor> {
    check_coefficients(psi_d, psi_s)?;
    let (n_out, _) = matrix_dims(w)?;
    Smoother::new(n_out, w.dtype(), w.device())?.apply(w, psi_d, psi_s)
}

/// The smooth() operators for weight matrices with a given number of neurons n_out, built once
/// and reused for every evaluation (e.g. every training step).
#[derive(Debug, Clone)]
pub struct Smoother {
    n_out: usize,
    /// The stencils of C that fit (none when n_out = 1).
    derivative: Option<Banded>,
    /// The kernels g_m that fit (none when n_out < 20).
    smoothness: Option<Banded>,
}

impl Smoother {
    /// Builds the operators of Eq. 1 for n_out neurons, as tensors of `dtype` on `device`
    /// (tensors of another dtype or device are still accepted: the small operators are
    /// converted on the fly).
    pub fn new(n_out: usize, dtype: DType, device: &Device) -> Result<Self> {
        if n_out == 0 {
            return Err(ContinuityError::Empty { shape: vec![0] });
        }
        if !dtype.is_float() {
            return Err(ContinuityError::DType { dtype });
        }
        let [derivative, smoothness] = terms(n_out);
        Ok(Self {
            n_out,
            derivative: Banded::new(n_out, &derivative, dtype, device)?,
            smoothness: Banded::new(n_out, &smoothness, dtype, device)?,
        })
    }

    /// The number of neurons n_out (length of axis 0) this smoother accepts.
    pub fn n_out(&self) -> usize {
        self.n_out
    }

    /// Derivative part D and smoothness part S of smooth(W) as differentiable scalar tensors.
    ///
    /// `w`: [n_out, n_in] or `[n_out]` (read as `[n_out, 1]`). A part to which no kernel
    /// contributes (n_out < 20 for S, n_out = 1 for D) is 0 with a zero gradient.
    pub fn parts(&self, w: &Tensor) -> Result<(Tensor, Tensor)> {
        let (n_out, n_in) = matrix_dims(w)?;
        if n_out != self.n_out {
            return Err(ContinuityError::NeuronCount {
                expected: self.n_out,
                got: n_out,
            });
        }
        let w = w.reshape((n_out, n_in))?;
        // The values of W with one zero row appended (row n_out is the zero padding), outside
        // the graph: only the final dot product ⟨W, G⟩ is differentiated.
        let zero_row = Tensor::zeros((1, n_in), w.dtype(), w.device())?;
        let extended = Tensor::cat(&[&w.detach(), &zero_row], 0)?;
        // ⟨W, G⟩ + (f − ⟨W, G⟩) with the bracket detached: value f, accumulated from positive
        // terms (exact Euler identity up to rounding), and gradient G. When no kernel fits,
        // ⟨W, 0⟩ = 0 is still connected to W.
        let part = |banded: &Option<Banded>| -> Result<Tensor> {
            let mut gradient = extended.zeros_like()?;
            let mut value = Tensor::zeros((), w.dtype(), w.device())?;
            for block in banded
                .iter()
                .flat_map(|b| std::iter::once(&b.main).chain(&b.tail))
            {
                let (g, f) = block.gradient_and_value(&extended, n_in, &gradient)?;
                (gradient, value) = (g, (value + f)?);
            }
            let euler = dot(&w, &gradient.narrow(0, 0, n_out)?)?;
            Ok((&euler + (value - euler.detach())?)?)
        };
        Ok((part(&self.derivative)?, part(&self.smoothness)?))
    }

    /// The regularizer ψ_d · D + ψ_s · S as a differentiable scalar tensor.
    pub fn apply(&self, w: &Tensor, psi_d: f64, psi_s: f64) -> Result<Tensor> {
        check_coefficients(psi_d, psi_s)?;
        let (derivative, smoothness) = self.parts(w)?;
        Ok((derivative.affine(psi_d, 0.0)? + smoothness.affine(psi_s, 0.0)?)?)
    }
}

/// Derivative part D and smoothness part S of smooth(W) by direct loops in `f64` (SPEC §7,
/// Eq. 1): the reference for tests, and the value-only path (e.g. Algorithm 1's D).
///
/// `w` is W in row-major order, W_ij = `w[i * n_in + j]`. A slice whose length is not
/// n_out · n_in, or an empty W, gives (NaN, NaN).
pub fn smooth_parts_f64(w: &[f64], n_out: usize, n_in: usize) -> (f64, f64) {
    if n_out.checked_mul(n_in) != Some(w.len()) || w.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mut parts = [0.0; 2];
    visit_arguments(w, n_out, n_in, |part, weight, argument| {
        parts[part] += weight * argument.abs();
    });
    (parts[0], parts[1])
}

/// Calls `visit(part, weight, argument)` for every |·| of Eq. 1 (part 0 = derivative,
/// 1 = smoothness), with the weight it carries in its part; direct loops, `f64`.
pub(crate) fn visit_arguments(
    w: &[f64],
    n_out: usize,
    n_in: usize,
    mut visit: impl FnMut(usize, f64, f64),
) {
    let row = |i: usize| &w[i * n_in..(i + 1) * n_in];
    let mut out = vec![0.0; n_in];
    for (part, kernels) in terms(n_out).iter().enumerate() {
        for term in kernels {
            let pad_left = (term.taps.len() - 1) / 2;
            for i in 0..n_out {
                // Row i of c ⋆ W: Σ_t c_t W_{i + t − pad_left, ·}, zero outside 0..n_out.
                out.fill(0.0);
                for (t, &c) in term.taps.iter().enumerate() {
                    if let Some(src) = (i + t).checked_sub(pad_left).filter(|&s| s < n_out) {
                        out.iter_mut().zip(row(src)).for_each(|(o, &x)| *o += c * x);
                    }
                }
                if term.minus_identity {
                    out.iter_mut().zip(row(i)).for_each(|(o, &x)| *o -= x);
                }
                out.iter()
                    .for_each(|&argument| visit(part, term.weight, argument));
            }
        }
    }
}

/// One kernel of Eq. 1 with its place in the formula.
#[derive(Debug, Clone)]
struct Term {
    /// The kernel (2 ≤ taps ≤ n_out).
    taps: Vec<f64>,
    /// Factor of Σ_ij |·| in its part: ¼, or ½ · 1/n_out (the mean over i).
    weight: f64,
    /// Whether W itself is subtracted from the correlation (the smoothness part).
    minus_identity: bool,
}

/// The kernels that contribute to each part for n_out neurons: [derivative, smoothness].
/// Kernels longer than n_out or with ≤ 1 tap are dropped here (they contribute 0), but the ¼
/// and ½ still count them.
fn terms(n_out: usize) -> [Vec<Term>; 2] {
    let fits = |taps: &Vec<f64>| (2..=n_out).contains(&taps.len());
    let stencils = derivative_stencils();
    let derivative_weight = 1.0 / stencils.len() as f64;
    let derivative = stencils
        .into_iter()
        .filter(fits)
        .map(|taps| Term {
            taps,
            weight: derivative_weight,
            minus_identity: false,
        })
        .collect();
    let widths = [n_out / 20, n_out / 10];
    let smoothness_weight = 1.0 / (widths.len() as f64 * n_out as f64);
    let smoothness = widths
        .into_iter()
        .map(gaussian_kernel)
        .filter(fits)
        .map(|taps| Term {
            taps,
            weight: smoothness_weight,
            minus_identity: true,
        })
        .collect();
    [derivative, smoothness]
}

/// One part of Eq. 1, f(W) = Σ_kernels Σ_ij weight · |(c ⋆ W)_ij (− W_ij)| = Σ |T X(W)|, as
/// GEMMs over blocks of B output rows: ⌊n_out/B⌋ full blocks in one GEMM, the remaining rows
/// (if any) in a second, small one.
#[derive(Debug, Clone)]
struct Banded {
    /// The full blocks.
    main: Block,
    /// The last, partial block (absent when B divides n_out).
    tail: Option<Block>,
}

/// The operator of one set of equally tall blocks and the rows of [W; 0] they read.
#[derive(Debug, Clone)]
struct Block {
    /// T, [rows · kernels, rows + span]: row r · kernels + k holds kernel k (weight folded
    /// in, minus the identity for g_m) for output row r, against the block's padded input rows.
    operator: Tensor,
    /// Tᵀ, contiguous.
    transposed: Tensor,
    /// u32 [(rows + span) · blocks]: entry q · blocks + b is the row of [W; 0] read at
    /// block-local input row q of block b (n_out, the appended zero row, for the padding).
    index: Tensor,
    blocks: usize,
    width: usize,
}

impl Block {
    /// Blocks of `rows` output rows starting at the output rows `starts`; `operator` holds the
    /// rows · kernels rows and rows + span columns of T, row-major.
    fn new(
        operator: Vec<f64>,
        starts: &[usize],
        (rows, kernels, span, pad_left): (usize, usize, usize, usize),
        n_out: usize,
        (dtype, device): (DType, &Device),
    ) -> Result<Self> {
        let width = rows + span;
        let zero_row = u32::try_from(n_out).map_err(|_| {
            candle_core::Error::Msg(format!("n_out = {n_out} exceeds the u32 row index"))
        })?;
        let mut index = Vec::with_capacity(width * starts.len());
        for q in 0..width {
            for &start in starts {
                let src = (start + q).checked_sub(pad_left).filter(|&s| s < n_out);
                // src < n_out ≤ u32::MAX: the cast is lossless.
                index.push(src.map_or(zero_row, |s| s as u32));
            }
        }
        let operator =
            Tensor::from_vec(operator, (rows * kernels, width), device)?.to_dtype(dtype)?;
        Ok(Self {
            transposed: operator.t()?.contiguous()?,
            operator,
            index: Tensor::from_vec(index, width * starts.len(), device)?,
            blocks: starts.len(),
            width,
        })
    }

    /// `acc` ([n_out + 1, n_in]) plus these blocks' gradient Xᵀ (Tᵀ sign(T X)), and their value
    /// Σ |T X|; `extended` is [W; 0].
    fn gradient_and_value(
        &self,
        extended: &Tensor,
        n_in: usize,
        acc: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let (dtype, device) = (extended.dtype(), extended.device());
        let operator = self.operator.to_device(device)?.to_dtype(dtype)?;
        let transposed = self.transposed.to_device(device)?.to_dtype(dtype)?;
        let index = self.index.to_device(device)?;
        // X: [width, blocks · n_in], column block b = padded rows of block b.
        let gathered = extended
            .index_select(&index, 0)?
            .reshape((self.width, self.blocks * n_in))?;
        let product = operator.matmul(&gathered)?;
        let sign = product.sign()?;
        let back = transposed
            .matmul(&sign)?
            .reshape((self.width * self.blocks, n_in))?;
        // Σ |T X| = ⟨T X, sign(T X)⟩, one pass without a temporary.
        Ok((acc.index_add(&index, &back, 0)?, dot(&product, &sign)?))
    }
}

impl Banded {
    /// The part made of `terms` (`None` if there are none), with one padding and one row-block
    /// size for all of them.
    fn new(n_out: usize, terms: &[Term], dtype: DType, device: &Device) -> Result<Option<Self>> {
        if terms.is_empty() {
            return Ok(None);
        }
        let pads: Vec<(usize, usize)> = terms.iter().map(|t| same_padding(t.taps.len())).collect();
        let pad_left = pads.iter().map(|p| p.0).max().unwrap_or(0);
        let span = pad_left + pads.iter().map(|p| p.1).max().unwrap_or(0);
        let kernels = terms.len();
        // T for blocks of `rows` output rows.
        let operator = |rows: usize| {
            let width = rows + span;
            let mut operator = vec![0.0f64; rows * kernels * width];
            for r in 0..rows {
                for (k, (term, &(left, _))) in terms.iter().zip(&pads).enumerate() {
                    let row = &mut operator[(r * kernels + k) * width..][..width];
                    // Output row r reads padded input row r + t + (pad_left − left) at tap t.
                    for (t, &c) in term.taps.iter().enumerate() {
                        row[r + pad_left - left + t] += term.weight * c;
                    }
                    if term.minus_identity {
                        row[r + pad_left] -= term.weight;
                    }
                }
            }
            operator
        };
        let block = block_size(span).min(n_out);
        let (full, rest) = (n_out / block, n_out % block);
        let starts: Vec<usize> = (0..full).map(|b| b * block).collect();
        let layout = |rows| (rows, kernels, span, pad_left);
        let main = Block::new(
            operator(block),
            &starts,
            layout(block),
            n_out,
            (dtype, device),
        )?;
        let tail = if rest == 0 {
            None
        } else {
            let start = [full * block];
            Some(Block::new(
                operator(rest),
                &start,
                layout(rest),
                n_out,
                (dtype, device),
            )?)
        };
        Ok(Some(Self { main, tail }))
    }
}

/// ⟨w, g⟩ as a scalar, differentiable in `w` (g is a constant of the same shape).
fn dot(w: &Tensor, g: &Tensor) -> Result<Tensor> {
    let n = w.elem_count();
    Ok(w.reshape((1, n))?
        .matmul(&g.reshape((n, 1))?)?
        .reshape(())?)
}

/// (pad_left, pad_right) of zero "same" padding for a kernel of `taps` taps; TensorFlow's
/// convention puts the extra zero of an even kernel on the right.
fn same_padding(taps: usize) -> (usize, usize) {
    ((taps - 1) / 2, taps / 2)
}

/// Output rows per block for a group whose kernels span `span` extra rows. The GEMMs cost
/// B + span multiply-adds per output and kernel, the gathered input is (B + span)/B times W, and
/// B must be large enough for the GEMMs to run at full speed: B = span + 1 within [32, 256]
/// (tuned on [1500, 784], where it gives blocks of 32 rows for C and of 150 rows for g_75 and
/// g_150; the cap keeps T, of size ≈ B · (B + span), small for very wide layers).
fn block_size(span: usize) -> usize {
    (span + 1).clamp(32, 256)
}

/// (n_out, n_in) of a weight matrix, or (n, 1) of a bias vector; errors on other ranks, no
/// entries or a non-float dtype.
fn matrix_dims(w: &Tensor) -> Result<(usize, usize)> {
    if !w.dtype().is_float() {
        return Err(ContinuityError::DType { dtype: w.dtype() });
    }
    let dims = w.dims();
    let (n_out, n_in) = match *dims {
        [n] => (n, 1),
        [n_out, n_in] => (n_out, n_in),
        _ => {
            return Err(ContinuityError::Rank {
                shape: dims.to_vec(),
            })
        }
    };
    if n_out == 0 || n_in == 0 {
        return Err(ContinuityError::Empty {
            shape: dims.to_vec(),
        });
    }
    Ok((n_out, n_in))
}

fn check_coefficients(psi_d: f64, psi_s: f64) -> Result<()> {
    for (name, value) in [("psi_d", psi_d), ("psi_s", psi_s)] {
        if !value.is_finite() {
            return Err(ContinuityError::NonFiniteCoefficient { name, value });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// The smallest |argument| of any |·| of Eq. 1 at W.
    fn min_abs_argument(w: &[f64], n_out: usize, n_in: usize) -> f64 {
        let mut min = f64::INFINITY;
        visit_arguments(w, n_out, n_in, |_, _, argument| {
            min = min.min(argument.abs())
        });
        min
    }

    fn gradient(loss: &Tensor, w: &Var) -> Vec<f64> {
        let grads = loss.backward().unwrap();
        let g = grads.get(w).expect("W receives a gradient");
        assert_eq!(g.dims(), w.dims());
        g.to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    #[test]
    fn gradient_matches_finite_differences() {
        const STEP: f64 = 1e-6;
        for (n_out, n_in, seed) in [(5, 2, 1), (23, 2, 2), (40, 3, 3), (200, 1, 4)] {
            let values = random(n_out * n_in, seed);
            // A step of 1e-6 moves every argument by at most 1e-6 · Σ|c| < 3e-6: no kink is
            // crossed.
            assert!(
                min_abs_argument(&values, n_out, n_in) > 1e-5,
                "seed {seed}: near a kink"
            );
            let w = Var::from_vec(values.clone(), (n_out, n_in), &Device::Cpu).unwrap();
            let (d, s) = smooth_parts(&w).unwrap();
            let (grad_d, grad_s) = (gradient(&d, &w), gradient(&s, &w));
            let grad_reg = gradient(&smooth(&w, 0.7, 1.3).unwrap(), &w);
            for k in 0..values.len() {
                let at = |delta: f64| {
                    let mut moved = values.clone();
                    moved[k] += delta;
                    smooth_parts_f64(&moved, n_out, n_in)
                };
                let ((d_plus, s_plus), (d_minus, s_minus)) = (at(STEP), at(-STEP));
                let fd_d = (d_plus - d_minus) / (2.0 * STEP);
                let fd_s = (s_plus - s_minus) / (2.0 * STEP);
                let close = |got: f64, fd: f64| (got - fd).abs() <= 1e-5 * fd.abs().max(1.0);
                assert!(
                    close(grad_d[k], fd_d),
                    "{n_out}x{n_in} ∂D/∂w[{k}]: {} vs {fd_d}",
                    grad_d[k]
                );
                assert!(
                    close(grad_s[k], fd_s),
                    "{n_out}x{n_in} ∂S/∂w[{k}]: {} vs {fd_s}",
                    grad_s[k]
                );
                let fd_reg = 0.7 * fd_d + 1.3 * fd_s;
                assert!(close(grad_reg[k], fd_reg), "{n_out}x{n_in} ∂smooth/∂w[{k}]");
            }
            if n_out >= 20 {
                assert!(
                    grad_s.iter().any(|g| g.abs() > 1e-3),
                    "the smoothness part is exercised"
                );
            }
        }
    }

    #[test]
    fn f32_gradient_matches_f64() {
        let (n_out, n_in) = (120, 4);
        let values = random(n_out * n_in, 11);
        assert!(min_abs_argument(&values, n_out, n_in) > 1e-4);
        let w64 = Var::from_vec(values.clone(), (n_out, n_in), &Device::Cpu).unwrap();
        let w32 = Var::from_tensor(&w64.to_dtype(DType::F32).unwrap()).unwrap();
        let g64 = gradient(&smooth(&w64, 1.0, 10.0).unwrap(), &w64);
        let g32 = gradient(&smooth(&w32, 1.0, 10.0).unwrap(), &w32);
        for (a, b) in g32.iter().zip(&g64) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn bias_vectors_get_gradients() {
        let b = Var::from_vec(random(30, 5), 30, &Device::Cpu).unwrap();
        let g = gradient(&smooth(&b, 1.0, 1.0).unwrap(), &b);
        assert_eq!(g.len(), 30);
        assert!(g.iter().all(|v| v.is_finite()) && g.iter().any(|&v| v != 0.0));
    }

    #[test]
    fn padding_is_tensorflow_same() {
        assert_eq!(same_padding(2), (0, 1));
        assert_eq!(same_padding(5), (2, 2));
        assert_eq!(same_padding(150), (74, 75));
        assert_eq!(same_padding(75), (37, 37));
    }

    #[test]
    fn every_kernel_counts_in_the_weights() {
        // n_out = 5: only 2 of the 4 stencils fit, yet each keeps its weight ¼.
        let [derivative, smoothness] = terms(5);
        assert_eq!(derivative.len(), 2);
        assert!(derivative.iter().all(|t| t.weight == 0.25));
        assert!(smoothness.is_empty());
        // n_out = 20: m = 1 is dropped, m = 2 keeps ½ · 1/20.
        let [derivative, smoothness] = terms(20);
        assert_eq!(derivative.len(), 4);
        assert_eq!(smoothness.len(), 1);
        assert_eq!(smoothness[0].taps, vec![-1.0, 1.0]);
        assert_eq!(smoothness[0].weight, 0.5 / 20.0);
    }
}
