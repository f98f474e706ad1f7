//! b4 on Sequential networks: the single-crash output changes
//! `e_{s,i} = y_out(only element i of site s crashed) − y_out`, by batched forward passes.
//!
//! For a crashing site s other than the output, every (input n, element i) with
//! `y_{s,i} ≠ 0` (allowed by the input crash mask at s = 0) is one row: the clean tensor
//! `y_s` of input n with element i set to 0, run through the layers after s. The clean rows of
//! the inputs involved run in the same batch, and each crashed row is compared with its own
//! input's clean row from that batch, so the rounding of the forward pass is the same on both
//! sides. When the network ends in a linear layer (followed only by flatten or dropout), the
//! rows stop at that layer's input and the change is taken as `W (ŷ − y)` there, so it is not
//! lost to cancellation against the layer's bias (as the MLP's [`crate::b4`] does).
//! A crash of output element k changes output k by −y_k alone. When a skip connection spans
//! site s, every row gets the clean skip tensor of its own input.

use super::TENSOR_BUDGET;
use super::{add_output_site, first_layer_after, largest_tensor, layer_values, to_vec, Prepared};
use crate::error::Result;
use crate::taylor::MAX_ROWS;
use candle_core::Tensor;
use ftnn_model::seq::LayerSpec;
use ftnn_model::{ModelError, Sequential};

/// The index of the network's last layer when it is linear on a 1-D input per example and
/// only flatten or dropout layers follow it.
fn final_linear(net: &Sequential) -> Option<usize> {
    let layers = &net.architecture().layers;
    let j = layers
        .iter()
        .rposition(|l| !matches!(l.spec, LayerSpec::Flatten | LayerSpec::Dropout(_)))?;
    let input_rank = match j {
        0 => net.input_shape().len(),
        _ => net.layer_shapes()[j - 1].len(),
    };
    (matches!(layers[j].spec, LayerSpec::Linear(_)) && input_rank == 1).then_some(j)
}

/// b4's E Δ and Var Δ, `[N, n_out]` each.
pub(crate) fn single_crash_sums(net: &Sequential, prep: &Prepared) -> Result<(Vec<f64>, Vec<f64>)> {
    let (n, n_out) = (prep.n, prep.n_out);
    let (mut mean, mut var) = (vec![0f64; n * n_out], vec![0f64; n * n_out]);
    let last = net.n_sites() - 1;
    let n_layers = net.architecture().layers.len();
    let lin = final_linear(net);
    for &s in &prep.sites {
        let (ps, qs) = (prep.p[s], prep.p[s] * (1.0 - prep.p[s]));
        let size = net.sites()[s].size;
        let start = first_layer_after(net, s);
        // Rows stop at the final linear layer's input when it comes after the site.
        let stop = lin.filter(|&j| j >= start).unwrap_or(n_layers);
        let skip_layers = net.skip_inputs(start..stop);
        let per_row = largest_tensor(net, start.saturating_sub(1)).max(1);
        let batch = (TENSOR_BUDGET / per_row).clamp(2, MAX_ROWS);
        for range in prep.chunks(size, MAX_ROWS.max(size)) {
            let x = prep
                .x
                .narrow(0, range.start, range.len())
                .map_err(ModelError::from)?;
            let values = layer_values(net, &x)?;
            if s == last {
                let y = to_vec(&values[n_layers])?;
                add_output_site(ps, &y, range, n_out, &mut mean, Some(&mut var));
                continue;
            }
            let ys = to_vec(&values[start])?;
            let rows: Vec<(usize, usize)> = (0..range.len())
                .flat_map(|j| (0..size).map(move |i| (j, i)))
                .filter(|&(j, i)| ys[j * size + i] != 0.0 && prep.allowed(s, i))
                .collect();
            let site_shape = &net.sites()[s].shape;
            for part in rows.chunks(batch - 1) {
                // Crashed rows, then one clean row per input of the part.
                let mut inputs: Vec<usize> = part.iter().map(|&(j, _)| j).collect();
                inputs.dedup();
                let mut value = Vec::with_capacity((part.len() + inputs.len()) * size);
                for &(j, i) in part {
                    let at = value.len();
                    value.extend_from_slice(&ys[j * size..(j + 1) * size]);
                    value[at + i] = 0.0;
                }
                let mut clean_of = vec![0u32; range.len()];
                for (c, &j) in inputs.iter().enumerate() {
                    clean_of[j] = (part.len() + c) as u32;
                    value.extend_from_slice(&ys[j * size..(j + 1) * size]);
                }
                let total = part.len() + inputs.len();
                let mut dims = vec![total];
                dims.extend_from_slice(site_shape);
                let device = net.device();
                let value = Tensor::from_vec(value, dims, device).map_err(ModelError::from)?;
                let skips = if skip_layers.is_empty() {
                    Vec::new()
                } else {
                    let of_row: Vec<u32> = part
                        .iter()
                        .map(|&(j, _)| j as u32)
                        .chain(inputs.iter().map(|&j| j as u32))
                        .collect();
                    let of_row =
                        Tensor::from_vec(of_row, total, device).map_err(ModelError::from)?;
                    skip_layers
                        .iter()
                        .map(|&i| values[i].index_select(&of_row, 0))
                        .collect::<candle_core::Result<Vec<_>>>()
                        .map_err(ModelError::from)?
                };
                let h = net.forward_layers_with_skips(start..stop, &value, &skips)?;
                let h = h.flatten_from(1).map_err(ModelError::from)?;
                let idx: Vec<u32> = part.iter().map(|&(j, _)| clean_of[j]).collect();
                let idx = Tensor::from_vec(idx, part.len(), device).map_err(ModelError::from)?;
                let mut delta = h
                    .narrow(0, 0, part.len())
                    .and_then(|c| c.sub(&h.index_select(&idx, 0)?))
                    .map_err(ModelError::from)?;
                if stop < n_layers {
                    let w = net
                        .parameters()
                        .get(&format!("{stop}.weight"))
                        .ok_or_else(|| {
                            ModelError::Architecture(format!("layer {stop} has no weight"))
                        })?;
                    delta = delta
                        .matmul(&w.t().map_err(ModelError::from)?)
                        .map_err(ModelError::from)?;
                }
                let d = to_vec(&delta)?;
                for (&(j, _), e) in part.iter().zip(d.chunks_exact(n_out)) {
                    let at = (range.start + j) * n_out;
                    for (k, &v) in e.iter().enumerate() {
                        mean[at + k] += ps * v as f64;
                        var[at + k] += qs * (v as f64).powi(2);
                    }
                }
            }
        }
    }
    Ok((mean, var))
}
