//! b5's second-order term `½ Σ_s p_s Σ_i y_{s,i}² ∂²y_out/∂y_{s,i}²` on Sequential networks,
//! by second-order forward mode (Taylor jets).
//!
//! The second derivative along element i of site s is that of `t ↦ y_out(y_s + t·y_{s,i}·e_i)`
//! at t = 0, which already carries the factor `y_{s,i}²`. A jet `(u, w)` (first and second
//! derivative of a layer's input along t) starts at `(y_{s,i} e_i, 0)` and goes through the
//! layers after s:
//!
//! * affine layers (conv2d, linear, batch norm, average pooling, flatten, dropout):
//!   `(L u, L w)` with L the layer without its bias ([`Sequential::layer_linear_part`]);
//! * an activation `a(z) = gain·φ(scale·z)` at the clean input z:
//!   `(a′ ⊙ u, a′ ⊙ w + a″ ⊙ u²)`;
//! * max pooling: both pass through each window's first largest clean element (the
//!   function is linear around the clean input almost everywhere);
//! * softmax `y = softmax(z)`: `u′ = y ⊙ (u − ⟨y, u⟩)`,
//!   `w′ = y ⊙ (w − ⟨y, w⟩) + u′ ⊙ (u − ⟨y, u⟩) − y ⟨u′, u⟩`.
//!
//! At the output, w is `y_{s,i}² ∂²y_out/∂y_{s,i}²` for every output at once. Rows
//! (input, element) with `y_{s,i} ≠ 0` are batched. Exact up to f32 rounding — no finite
//! differences. Relu and relu6 have zero second derivative (almost everywhere), so a site
//! followed only by piecewise-linear layers contributes nothing and is skipped, whatever its
//! size; other sites must have at most [`SEQ_B5_MAX_SITE`] elements (one jet per element).
//! Networks with skip connections (`add`) are refused ([`check_no_skips`]).

use super::vjp::PoolGeom;
use super::{activation_derivatives, first_layer_after, largest_tensor, layer_values, to_vec};
use super::{crash_rows, crash_tangents};
use super::{Prepared, TENSOR_BUDGET};
use crate::error::{BoundsError, Result};
use crate::taylor::MAX_ROWS;
use candle_core::{Tensor, D};
use ftnn_model::seq::{ActKind, LayerSpec};
use ftnn_model::{ModelError, Sequential};

/// The largest crash site (in elements of one example) whose second-order term b5 computes.
pub const SEQ_B5_MAX_SITE: usize = 4096;

/// Whether a layer has a non-zero second derivative somewhere other than on a set of measure
/// zero.
fn curved(spec: &LayerSpec) -> bool {
    match spec {
        LayerSpec::Activation(a) => !matches!(a.kind, ActKind::Relu | ActKind::Relu6),
        LayerSpec::Softmax => true,
        _ => false,
    }
}

/// The crashing sites (other than the output) followed by a curved layer.
fn curved_sites(net: &Sequential, prep: &Prepared) -> Vec<usize> {
    let layers = &net.architecture().layers;
    let last = net.n_sites() - 1;
    prep.sites
        .iter()
        .copied()
        .filter(|&s| {
            s != last
                && layers[first_layer_after(net, s)..]
                    .iter()
                    .any(|l| curved(&l.spec))
        })
        .collect()
}

/// [`BoundsError::NotApplicable`] when the network has a skip connection: the jets of b5
/// follow one path through the layers, and a perturbation before an `add`'s source reaches the
/// sum through two.
pub(crate) fn check_no_skips(net: &Sequential) -> Result<()> {
    let layers = &net.architecture().layers;
    if let Some(j) = layers
        .iter()
        .position(|l| matches!(l.spec, LayerSpec::Add(_)))
    {
        return Err(BoundsError::NotApplicable {
            bound: "b5",
            reason: format!(
                "the network has skip connections (layer {j} is an `add`); b5's second \
                 derivatives are computed for networks without them (b3 and b4 handle them)"
            ),
        });
    }
    Ok(())
}

/// [`BoundsError::NotApplicable`] when a site that needs jets has more than
/// [`SEQ_B5_MAX_SITE`] elements.
pub(crate) fn check_sizes(net: &Sequential, prep: &Prepared) -> Result<()> {
    for s in curved_sites(net, prep) {
        let site = &net.sites()[s];
        if site.size > SEQ_B5_MAX_SITE {
            return Err(BoundsError::NotApplicable {
                bound: "b5",
                reason: format!(
                    "crash site {s} ({}) has {} elements; b5's second derivatives are computed \
                     one element at a time for sites of at most {SEQ_B5_MAX_SITE} elements \
                     (b3 and b4 have no such limit)",
                    site.label, site.size
                ),
            });
        }
    }
    Ok(())
}

/// What a non-affine layer needs from the clean forward pass of a chunk.
pub(crate) enum Clean {
    /// Affine layer: nothing.
    Affine,
    /// Activation: a′ and a″ (None for zero) at the clean input, `[B, *shape]`.
    Act(Tensor, Option<Tensor>),
    /// Max pooling: per input, the flat input index (within one example) of each output's
    /// source element, `[B, C·OH·OW]` u32, and the output shape.
    Max(Tensor, Vec<usize>),
    /// Softmax: the clean output `[B, *shape]`.
    Softmax(Tensor),
}

/// [`Clean`] for every layer from `start`, from the chunk's [`layer_values`].
pub(crate) fn clean_layers(
    net: &Sequential,
    values: &[Tensor],
    start: usize,
) -> Result<Vec<Clean>> {
    let layers = &net.architecture().layers;
    let mut out = Vec::with_capacity(layers.len());
    for (j, layer) in layers.iter().enumerate() {
        let input = &values[j];
        let c = match &layer.spec {
            _ if j < start => Clean::Affine,
            LayerSpec::Activation(a) => {
                let (a1, a2) = activation_derivatives(a, &to_vec(input)?);
                let like = |v: Vec<f32>| Tensor::from_vec(v, input.dims(), input.device());
                let a2 = a2.map(like).transpose().map_err(ModelError::from)?;
                Clean::Act(like(a1).map_err(ModelError::from)?, a2)
            }
            LayerSpec::MaxPool2d(pool) => {
                let dims = input.dims();
                let geom = PoolGeom::new(pool, &dims[1..])?;
                let plane = geom.h * geom.w;
                let oplane = geom.oh * geom.ow;
                let arg = geom.argmax(&to_vec(input)?);
                let idx: Vec<u32> = arg
                    .iter()
                    .enumerate()
                    .map(|(o, &i)| ((o / oplane) % geom.c * plane) as u32 + i)
                    .collect();
                let b = dims[0];
                let t = Tensor::from_vec(idx, (b, geom.c * oplane), input.device())
                    .map_err(ModelError::from)?;
                Clean::Max(t, vec![geom.c, geom.oh, geom.ow])
            }
            LayerSpec::Softmax => Clean::Softmax(values[j + 1].clone()),
            _ => Clean::Affine,
        };
        out.push(c);
    }
    Ok(out)
}

/// The second-order term of b5, `[N, n_out]`.
pub(crate) fn second_order_term(net: &Sequential, prep: &Prepared) -> Result<Vec<f64>> {
    let (n, n_out) = (prep.n, prep.n_out);
    let mut term = vec![0f64; n * n_out];
    let n_layers = net.architecture().layers.len();
    let c = |r: candle_core::Result<Tensor>| r.map_err(ModelError::from);
    for s in curved_sites(net, prep) {
        let half_p = 0.5 * prep.p[s];
        let site = &net.sites()[s];
        let size = site.size;
        let start = first_layer_after(net, s);
        let per_row = largest_tensor(net, start.saturating_sub(1)).max(1);
        // Two tangents per row.
        let batch = (TENSOR_BUDGET / (2 * per_row)).clamp(1, MAX_ROWS);
        for range in prep.chunks(size, MAX_ROWS.max(size)) {
            let x = c(prep.x.narrow(0, range.start, range.len()))?;
            let values = layer_values(net, &x)?;
            let clean = clean_layers(net, &values, start)?;
            let ys = to_vec(&values[start])?;
            let rows = crash_rows(prep, s, &ys, range.len(), size);
            for part in rows.chunks(batch) {
                let b = part.len();
                let (mut u, idx) = crash_tangents(net, part, &ys, &site.shape, size)?;
                let mut w: Option<Tensor> = None;
                for (jj, cl) in clean.iter().enumerate().take(n_layers).skip(start) {
                    match cl {
                        Clean::Affine => {
                            let lin = |t: &Tensor| -> Result<Tensor> {
                                net.layer_linear_part(jj, t)?.ok_or_else(|| {
                                    ModelError::Architecture(format!(
                                        "layer {jj} is not affine (internal error)"
                                    ))
                                    .into()
                                })
                            };
                            w = w.as_ref().map(lin).transpose()?;
                            u = lin(&u)?;
                        }
                        Clean::Act(a1, a2) => {
                            let a1 = c(a1.index_select(&idx, 0))?;
                            let mut w2 = w.map(|w| c(w.mul(&a1))).transpose()?;
                            if let Some(a2) = a2 {
                                let curv = c(c(a2.index_select(&idx, 0))?.mul(&c(u.sqr())?))?;
                                w2 = Some(match w2 {
                                    Some(w2) => c(w2.add(&curv))?,
                                    None => curv,
                                });
                            }
                            w = w2;
                            u = c(u.mul(&a1))?;
                        }
                        Clean::Max(arg, shape) => {
                            let arg = c(c(arg.index_select(&idx, 0))?.contiguous())?;
                            let mut out = vec![b];
                            out.extend_from_slice(shape);
                            let pick = |t: &Tensor| -> Result<Tensor> {
                                Ok(c(c(c(t.flatten_from(1))?.contiguous())?
                                    .gather(&arg, 1)
                                    .and_then(|t| t.reshape(out.as_slice())))?)
                            };
                            w = w.as_ref().map(pick).transpose()?;
                            u = pick(&u)?;
                        }
                        Clean::Softmax(y) => {
                            let y = c(y.index_select(&idx, 0))?;
                            let dot =
                                |a: &Tensor, b: &Tensor| c(c(a.mul(b))?.sum_keepdim(D::Minus1));
                            let du = c(u.broadcast_sub(&dot(&y, &u)?))?;
                            let u2 = c(y.mul(&du))?;
                            let mut w2 =
                                c(c(u2.mul(&du))?.sub(&c(y.broadcast_mul(&dot(&u2, &u)?))?))?;
                            if let Some(w) = &w {
                                let first = c(y.mul(&c(w.broadcast_sub(&dot(&y, w)?))?))?;
                                w2 = c(w2.add(&first))?;
                            }
                            w = Some(w2);
                            u = u2;
                        }
                    }
                }
                let Some(w) = w else { continue };
                let wv = to_vec(&w)?;
                for (&(j, _), row) in part.iter().zip(wv.chunks_exact(n_out)) {
                    let at = (range.start + j) * n_out;
                    for (k, &v) in row.iter().enumerate() {
                        term[at + k] += half_p * v as f64;
                    }
                }
            }
        }
    }
    Ok(term)
}
