//! b3, b4 and b5 on [`Sequential`] networks (CNNs and MLPs alike; SPEC §4 at every crash site
//! of SPEC §11, §9 "b3 on CNNs = derivative of the outputs w.r.t. the crashed tensor").
//!
//! With `y_s` the clean tensor at crash site s (flattened, elements i; at the input only the
//! elements the crash mask allows), `y_out` the output (flattened, outputs k) and
//! `d_{s,i} = y_{s,i} · ∂y_out/∂y_{s,i}`:
//!
//! * **b3** ([`seq_b3`]) `E Δ ≈ −Σ_s p_s Σ_i d_{s,i}`, `Var Δ ≈ Σ_s p_s(1−p_s) Σ_i d_{s,i}²`.
//!   The derivatives come from one reverse sweep layer by layer (`seq::grad`) for every input and
//!   output of a chunk at once (each input replicated once per output, the output's
//!   cotangent a one-hot selector), the gradients at every crashing site read on the way down:
//!   candle's autodiff per layer, and hand-written vector–Jacobian products (`seq::vjp`) for
//!   pooling, activations and CPU convolutions, where candle 0.11's backward is wrong
//!   (pooling), NaN (saturated softplus) or slow (convolution, elementwise ops). When at most
//!   half as many elements per input can crash as there are outputs (a few masked input
//!   pixels of an ImageNet network), forward mode instead (`seq::tangent`): one tangent per
//!   crashable element through the layers after its site.
//! * **b4** ([`seq_b4`]) with `e_{s,i} = y_out(only element i of site s crashed) − y_out`:
//!   `E Δ ≈ Σ_s p_s Σ_i e_{s,i}`, `Var Δ ≈ Σ_s p_s(1−p_s) Σ_i e_{s,i}²` (`seq::single`): batched
//!   single-crash forward passes from site s.
//! * **b5** ([`seq_b5`]) b3's mean plus `½ Σ_s p_s Σ_i y_{s,i}² ∂²y_out/∂y_{s,i}²`
//!   (`seq::second`): the second derivative along each element by second-order forward mode
//!   (Taylor jets), exact up to f32 rounding; sites with at most [`SEQ_B5_MAX_SITE`] elements,
//!   networks without skip connections (`add`).
//!
//! Skip connections (`add` from layer i, SPEC §11 extension): the forward passes take the
//! skip's tensor from the clean pass; b3's reverse sweep adds the cotangent of the sum to that
//! of layer i's input when it gets there (the gradient at a tensor feeding both the block and
//! the skip is the sum of both paths'); b4's single-crash passes from a site inside a block
//! get the clean skip tensor of their input.
//!
//! A crash of output element k changes output k by −y_k and nothing else, so the output site
//! contributes `−p y_k` to the mean and `p(1−p) y_k²` to the variance in all three.
//! Elements whose clean value is exactly 0 contribute nothing and are skipped by b4 and b5.
//! Sums over elements are accumulated in f64.

mod grad;
mod second;
mod single;
mod tangent;
mod vjp;

use crate::error::Result;
use crate::estimate::{check_finite, MeanStd};
use candle_core::{DType, Tensor};
use ftnn_model::seq::{ActKind, ActivationSpec};
use ftnn_model::{FailureVector, ModelError, Sequential};

pub use second::SEQ_B5_MAX_SITE;

/// Values per tensor held at once (rows × largest per-example tensor), 128 MiB of f32.
pub(crate) const TENSOR_BUDGET: usize = 1 << 25;

/// A validated call: inputs on the network's device, the crash mask, the crashing sites.
pub(crate) struct Prepared {
    /// `[N, *input_shape]`, f32, on the network's device.
    pub x: Tensor,
    /// Number of inputs N.
    pub n: usize,
    /// Number of outputs.
    pub n_out: usize,
    /// One example's input crash mask (0/1), when given.
    pub mask: Option<Vec<f32>>,
    /// Sites that can crash: p_s > 0 and, at the input, some element allowed. Increasing.
    pub sites: Vec<usize>,
    /// The failure probabilities.
    pub p: Vec<f64>,
}

impl Prepared {
    /// Checks `p` (one entry per site), `x` (`[N, *input_shape]` or `[N, input size]`, N ≥ 1)
    /// and `crash_mask` (one example's input, 0/1).
    pub(crate) fn new(
        net: &Sequential,
        p: &FailureVector,
        x: &Tensor,
        crash_mask: Option<&[f32]>,
    ) -> Result<Self> {
        let sites = net.sites();
        if p.len() != sites.len() {
            return Err(ModelError::SiteCount {
                expected: sites.len(),
                got: p.len(),
            }
            .into());
        }
        let shape = net.input_shape();
        let size = sites[0].size;
        let dims = x.dims();
        let exact = dims.len() == shape.len() + 1 && &dims[1..] == shape;
        let flat = dims.len() == 2 && dims[1] == size;
        if !(exact || flat) {
            let joined: Vec<String> = shape.iter().map(usize::to_string).collect();
            return Err(ModelError::Shape {
                what: "inputs".into(),
                expected: format!("[N, {}] or [N, {size}]", joined.join(", ")),
                got: format!("{dims:?}"),
            }
            .into());
        }
        let n = dims[0];
        if n == 0 {
            return Err(ModelError::NoInputs.into());
        }
        let mut full = vec![n];
        full.extend_from_slice(shape);
        let x = x
            .to_device(net.device())
            .and_then(|t| t.to_dtype(DType::F32))
            .and_then(|t| t.reshape(full))
            .map_err(ModelError::from)?;
        let mask = match crash_mask {
            None => None,
            Some(m) => {
                ftnn_model::check_len("crash mask", m.len(), size, "one example's input shape")?;
                if let Some(i) = m.iter().position(|&v| v != 0.0 && v != 1.0) {
                    return Err(ModelError::Shape {
                        what: format!("crash mask entry {i}"),
                        expected: "0 or 1".into(),
                        got: m[i].to_string(),
                    }
                    .into());
                }
                Some(m.to_vec())
            }
        };
        let p = p.as_slice().to_vec();
        let input_can_crash = mask.as_ref().is_none_or(|m| m.contains(&1.0));
        let crashing = (0..sites.len())
            .filter(|&s| p[s] > 0.0 && (s > 0 || input_can_crash))
            .collect();
        Ok(Self {
            x,
            n,
            n_out: net.n_outputs(),
            mask,
            sites: crashing,
            p,
        })
    }

    /// Whether element i of site s may crash (the input mask; every element elsewhere).
    pub(crate) fn allowed(&self, s: usize, i: usize) -> bool {
        s > 0 || self.mask.as_ref().is_none_or(|m| m[i] == 1.0)
    }

    /// Input ranges of at most `rows_per_input`·len ≤ `max_rows` rows.
    pub(crate) fn chunks(
        &self,
        rows_per_input: usize,
        max_rows: usize,
    ) -> Vec<std::ops::Range<usize>> {
        let per = (max_rows / rows_per_input.max(1)).max(1);
        (0..self.n)
            .step_by(per)
            .map(|s| s..(s + per).min(self.n))
            .collect()
    }
}

/// The first layer after site `s` (0 for the input).
pub(crate) fn first_layer_after(net: &Sequential, s: usize) -> usize {
    net.sites()[s].layer_after.map_or(0, |j| j + 1)
}

/// The largest per-example tensor among the inputs and outputs of layers `from..`.
pub(crate) fn largest_tensor(net: &Sequential, from: usize) -> usize {
    let shapes = net.layer_shapes();
    let input = if from == 0 {
        net.sites()[0].size
    } else {
        shapes[from - 1].iter().product()
    };
    shapes[from..]
        .iter()
        .map(|s| s.iter().product::<usize>())
        .fold(input, usize::max)
}

/// The clean input of every layer from 0 and the output of the last one for a batch `x`:
/// `[x, out_0, out_1, …]` (`len = layers + 1`), each `[B, *shape]`.
pub(crate) fn layer_values(net: &Sequential, x: &Tensor) -> Result<Vec<Tensor>> {
    let n_layers = net.architecture().layers.len();
    let mut v = Vec::with_capacity(n_layers + 1);
    v.push(x.clone());
    for j in 0..n_layers {
        let skips: Vec<Tensor> = net
            .skip_inputs(j..j + 1)
            .into_iter()
            .map(|i| v[i].clone())
            .collect();
        let h = net.forward_layers_with_skips(j..j + 1, &v[j], &skips)?;
        v.push(h);
    }
    Ok(v)
}

/// `(gain·scale·φ′(scale·z), gain·scale²·φ″(scale·z))`, in f64, rounded to f32; a″ is `None`
/// for relu and relu6. Conventions at kinks: relu′(0) = 1 (candle's), relu6′ = 1 on [0, 6).
pub(crate) fn activation_derivatives(
    a: &ActivationSpec,
    z: &[f32],
) -> (Vec<f32>, Option<Vec<f32>>) {
    let sig = |t: f64| {
        if t >= 0.0 {
            1.0 / (1.0 + (-t).exp())
        } else {
            let e = t.exp();
            e / (1.0 + e)
        }
    };
    let (sc, gn) = (a.scale, a.gain);
    let d = |t: f64| -> (f64, f64) {
        match a.kind {
            ActKind::Relu => (if t >= 0.0 { 1.0 } else { 0.0 }, 0.0),
            ActKind::Relu6 => (if (0.0..6.0).contains(&t) { 1.0 } else { 0.0 }, 0.0),
            ActKind::Sigmoid => {
                let s = sig(t);
                (s * (1.0 - s), s * (1.0 - s) * (1.0 - 2.0 * s))
            }
            ActKind::Tanh => {
                let th = t.tanh();
                (1.0 - th * th, -2.0 * th * (1.0 - th * th))
            }
            ActKind::Softplus => {
                let s = sig(t);
                (s, s * (1.0 - s))
            }
        }
    };
    let (mut a1, mut a2) = (Vec::with_capacity(z.len()), Vec::with_capacity(z.len()));
    for &v in z {
        let (p1, p2) = d(sc * v as f64);
        a1.push((gn * sc * p1) as f32);
        a2.push((gn * sc * sc * p2) as f32);
    }
    let flat = matches!(a.kind, ActKind::Relu | ActKind::Relu6);
    (a1, (!flat).then_some(a2))
}

/// The crash directions of site `s` for a chunk of `inputs` inputs whose clean site values are
/// `ys` (`[inputs, size]` flattened): every (input j, element i) with `y_{j,i} ≠ 0` that the
/// crash mask allows — a zero element's crash changes nothing.
pub(crate) fn crash_rows(
    prep: &Prepared,
    s: usize,
    ys: &[f32],
    inputs: usize,
    size: usize,
) -> Vec<(usize, usize)> {
    (0..inputs)
        .flat_map(|j| (0..size).map(move |i| (j, i)))
        .filter(|&(j, i)| ys[j * size + i] != 0.0 && prep.allowed(s, i))
        .collect()
}

/// One tangent per row of `part` at a site of per-example `shape` (`size` elements): row r is
/// `y_{j,i} e_i` for `part[r] = (j, i)` — the direction along which a crash of element i of
/// input j moves the site — as `[rows, *shape]`, with the input index j of each row (`u32`,
/// to gather the clean tensors of later layers).
pub(crate) fn crash_tangents(
    net: &Sequential,
    part: &[(usize, usize)],
    ys: &[f32],
    shape: &[usize],
    size: usize,
) -> Result<(Tensor, Tensor)> {
    let rows = part.len();
    let device = net.device();
    let mut u0 = vec![0f32; rows * size];
    for (r, &(j, i)) in part.iter().enumerate() {
        u0[r * size + i] = ys[j * size + i];
    }
    let mut dims = vec![rows];
    dims.extend_from_slice(shape);
    let u = Tensor::from_vec(u0, dims, device).map_err(ModelError::from)?;
    let idx: Vec<u32> = part.iter().map(|&(j, _)| j as u32).collect();
    let idx = Tensor::from_vec(idx, rows, device).map_err(ModelError::from)?;
    Ok((u, idx))
}

/// A tensor's values as f32 on the CPU.
pub(crate) fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(ModelError::from)?)
}

/// The output site's contribution (a crash of output k changes output k by −y_k alone):
/// `mean −= p y`, `var += p(1−p) y²` for the inputs `range` of clean outputs `y`.
pub(crate) fn add_output_site(
    p: f64,
    y: &[f32],
    range: std::ops::Range<usize>,
    n_out: usize,
    mean: &mut [f64],
    var: Option<&mut [f64]>,
) {
    let at = range.start * n_out..range.end * n_out;
    for (m, &v) in mean[at.clone()].iter_mut().zip(y) {
        *m -= p * v as f64;
    }
    if let Some(var) = var {
        for (s, &v) in var[at].iter_mut().zip(y) {
            *s += p * (1.0 - p) * (v as f64).powi(2);
        }
    }
}

/// b3's E Δ and Var Δ: by forward mode (`seq::tangent`) when at most half as many elements
/// per input can crash as there are outputs, else by the reverse sweep (`seq::grad`).
fn first_order(net: &Sequential, prep: &Prepared) -> Result<(Vec<f64>, Vec<f64>)> {
    if tangent::preferred(net, prep) {
        tangent::first_order(net, prep)
    } else {
        grad::first_order(net, prep)
    }
}

/// b3 on a Sequential network: per input and output, the first-order estimates of E Δ and
/// std Δ with crashes at every site s with probability `p[s]` (one entry per site of
/// [`Sequential::sites`]); `crash_mask` (one example's input, 0/1) restricts which input
/// elements may crash. `x` is `[N, *input_shape]` or `[N, input size]`. Returns
/// `[N, n_outputs]` arrays.
pub fn seq_b3(
    net: &Sequential,
    p: &FailureVector,
    x: &Tensor,
    crash_mask: Option<&[f32]>,
) -> Result<MeanStd> {
    let prep = Prepared::new(net, p, x, crash_mask)?;
    let (mean, var) = first_order(net, &prep)?;
    MeanStd::from_moments(prep.n, prep.n_out, mean, var)
}

/// b4 on a Sequential network: per input and output, the single-crash estimates of E Δ and
/// std Δ (arguments as [`seq_b3`]).
pub fn seq_b4(
    net: &Sequential,
    p: &FailureVector,
    x: &Tensor,
    crash_mask: Option<&[f32]>,
) -> Result<MeanStd> {
    let prep = Prepared::new(net, p, x, crash_mask)?;
    let (mean, var) = single::single_crash_sums(net, &prep)?;
    MeanStd::from_moments(prep.n, prep.n_out, mean, var)
}

/// b5 on a Sequential network: per input and output (`[N, n_outputs]`), the second-order
/// estimate of E Δ (arguments as [`seq_b3`]). Every crashing site other than the output must
/// have at most [`SEQ_B5_MAX_SITE`] elements, and the network must have no skip connection
/// (`add` layer: the jets would have to follow both paths); [`crate::BoundsError::NotApplicable`]
/// otherwise.
pub fn seq_b5(
    net: &Sequential,
    p: &FailureVector,
    x: &Tensor,
    crash_mask: Option<&[f32]>,
) -> Result<Vec<f64>> {
    let prep = Prepared::new(net, p, x, crash_mask)?;
    second::check_no_skips(net)?;
    second::check_sizes(net, &prep)?;
    let (mut mean, _) = first_order(net, &prep)?;
    let curvature = second::second_order_term(net, &prep)?;
    for (m, c) in mean.iter_mut().zip(&curvature) {
        *m += c;
    }
    check_finite("b5 mean", &mean)?;
    Ok(mean)
}
