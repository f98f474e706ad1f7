//! b3 by forward mode, for calls where few elements can crash: the derivatives
//! `d_{s,i} = y_{s,i} ∂y_out/∂y_{s,i}` for all outputs at once, one tangent per crashable
//! element, instead of one cotangent per output (`seq::grad`). With an input crash mask of a
//! few pixels on a network of 1000 outputs (EfficientNet-Lite0) that is a handful of passes
//! instead of 1000.
//!
//! A tangent starts at site s as `y_{s,i} e_i` and goes through the layers after s at the
//! clean forward pass of its input: affine layers by their linear part
//! ([`Sequential::layer_linear_part`]: conv2d, linear, batch norm, average pooling, zero
//! padding, flatten, dropout); an activation multiplies by `a′(z)`; max pooling passes each
//! window's first largest clean element; softmax `u′ = y ⊙ (u − ⟨y, u⟩)`; an `add` from layer
//! i adds the tangent that entered layer i (zero when layer i comes before s). The sums over
//! elements are those of `seq::grad`, in f64.

use super::second::{clean_layers, Clean};
use super::{add_output_site, first_layer_after, largest_tensor, layer_values, to_vec};
use super::{crash_rows, crash_tangents};
use super::{Prepared, TENSOR_BUDGET};
use crate::error::Result;
use crate::taylor::MAX_ROWS;
use candle_core::{Tensor, D};
use ftnn_model::seq::LayerSpec;
use ftnn_model::{ModelError, Sequential};

/// The number of elements per input that can crash at the sites other than the output.
fn crashable(net: &Sequential, prep: &Prepared) -> usize {
    let last = net.n_sites() - 1;
    prep.sites
        .iter()
        .filter(|&&s| s != last)
        .map(|&s| match (s, &prep.mask) {
            (0, Some(m)) => m.iter().filter(|&&v| v == 1.0).count(),
            _ => net.sites()[s].size,
        })
        .sum()
}

/// Whether forward mode is the cheaper way: at most half as many crashable elements per
/// input as outputs.
pub(crate) fn preferred(net: &Sequential, prep: &Prepared) -> bool {
    let m = crashable(net, prep);
    m > 0 && 2 * m <= prep.n_out
}

/// b3's E Δ and Var Δ, `[N, n_out]` each, by forward mode.
pub(crate) fn first_order(net: &Sequential, prep: &Prepared) -> Result<(Vec<f64>, Vec<f64>)> {
    let (n, n_out) = (prep.n, prep.n_out);
    let (mut mean, mut var) = (vec![0f64; n * n_out], vec![0f64; n * n_out]);
    let Some(&s0) = prep.sites.first() else {
        return Ok((mean, var));
    };
    let last = net.n_sites() - 1;
    let layers = &net.architecture().layers;
    let n_layers = layers.len();
    let c = |r: candle_core::Result<Tensor>| r.map_err(ModelError::from);
    // The layer inputs that `add` layers reference: their tangents are kept.
    let mut kept_input = vec![false; n_layers];
    for l in layers {
        if let LayerSpec::Add(a) = l.spec {
            kept_input[a.from] = true;
        }
    }
    let first = first_layer_after(net, s0);
    let per_row = largest_tensor(net, first.saturating_sub(1)).max(1);
    let batch = (TENSOR_BUDGET / per_row).clamp(1, MAX_ROWS);
    let m = crashable(net, prep).max(1);
    for range in prep.chunks(m, MAX_ROWS.max(m)) {
        let x = c(prep.x.narrow(0, range.start, range.len()))?;
        let values = layer_values(net, &x)?;
        if prep.sites.contains(&last) {
            let y = to_vec(values.last().expect("a network has layers"))?;
            add_output_site(
                prep.p[last],
                &y,
                range.clone(),
                n_out,
                &mut mean,
                Some(&mut var),
            );
        }
        let clean = clean_layers(net, &values, first)?;
        for &s in prep.sites.iter().filter(|&&s| s != last) {
            let (ps, qs) = (prep.p[s], prep.p[s] * (1.0 - prep.p[s]));
            let site = &net.sites()[s];
            let size = site.size;
            let start = first_layer_after(net, s);
            let ys = to_vec(&values[start])?;
            let rows = crash_rows(prep, s, &ys, range.len(), size);
            for part in rows.chunks(batch) {
                let b = part.len();
                let (mut u, idx) = crash_tangents(net, part, &ys, &site.shape, size)?;
                let mut kept: Vec<Option<Tensor>> = vec![None; n_layers];
                for jj in start..n_layers {
                    if kept_input[jj] {
                        kept[jj] = Some(u.clone());
                    }
                    if let LayerSpec::Add(a) = layers[jj].spec {
                        // A skip from before the site carries no tangent.
                        if let Some(t) = &kept[a.from] {
                            u = c(u.add(t))?;
                        }
                        continue;
                    }
                    u = match &clean[jj] {
                        Clean::Affine => net.layer_linear_part(jj, &u)?.ok_or_else(|| {
                            ModelError::Architecture(format!(
                                "layer {jj} is not affine (internal error)"
                            ))
                        })?,
                        Clean::Act(a1, _) => c(u.mul(&c(a1.index_select(&idx, 0))?))?,
                        Clean::Max(arg, shape) => {
                            let arg = c(c(arg.index_select(&idx, 0))?.contiguous())?;
                            let mut out = vec![b];
                            out.extend_from_slice(shape);
                            c(c(c(u.flatten_from(1))?.contiguous())?
                                .gather(&arg, 1)
                                .and_then(|t| t.reshape(out.as_slice())))?
                        }
                        Clean::Softmax(y) => {
                            let y = c(y.index_select(&idx, 0))?;
                            let dot = c(c(y.mul(&u))?.sum_keepdim(D::Minus1))?;
                            c(y.mul(&c(u.broadcast_sub(&dot))?))?
                        }
                    };
                }
                let d = to_vec(&u)?;
                for (&(j, _), row) in part.iter().zip(d.chunks_exact(n_out)) {
                    let at = (range.start + j) * n_out;
                    for (k, &v) in row.iter().enumerate() {
                        mean[at + k] -= ps * v as f64;
                        var[at + k] += qs * (v as f64).powi(2);
                    }
                }
            }
        }
    }
    Ok((mean, var))
}
