//! The gradients of b3: `∂y_out,k/∂y_s` at every crashing site s, for every input and output,
//! by reverse mode taken layer by layer.
//!
//! For a chunk of inputs, the clean forward pass keeps every layer's input. The cotangent
//! starts as a one-hot selector: `[N·n_out, *output_shape]`, row `n·n_out + k` the unit
//! vector of output k (input n replicated once per output). Going down from the last layer,
//! layer j maps the cotangent g of its output to that of its input, `gᵀ ∂out_j/∂in_j`, for
//! all inputs and outputs of the chunk at once:
//!
//! * by candle's autodiff ([`autodiff_vjp`]) — `backward` of `Σ (layer_j(v) ⊙ g)` with `v` a
//!   [`Var`] holding the layer's clean input replicated n_out times — for linear layers,
//!   unfolded batch norm, adaptive average pooling, softmax, and convolutions off the CPU;
//! * by the products of `seq::vjp` where candle's is wrong, fails or is slow: max and
//!   average pooling, activations, convolutions on the CPU;
//! * an activation followed by a pooling layer is one scatter, `a′(z) ⊙ poolᵀ(g)`
//!   ([`pool_activation_vjp`]), unless the activation's output is a crashing site;
//! * flatten and dropout reshape the cotangent; zero padding cuts the padded border off;
//! * an `add` from layer i passes its cotangent on unchanged and also keeps it for layer i's
//!   input, where it is added to the cotangent arriving through the block (the tensor entering
//!   layer i feeds both the block and the skip).
//!
//! When one sweep over all outputs would not fit the tensor budget (EfficientNet's 1000
//! outputs on 112 × 112 feature maps), the outputs are swept in groups, one input at a time.
//!
//! At the output of a layer that is a crashing site, the cotangent is `∂y_out,k/∂y_s` and is
//! contracted with `y_s` on the spot. Conventions at kinks (measure zero): relu′(0) = 1
//! (candle's), relu6′ = 1 on [0, 6), a max-pooling window passes its cotangent to its first
//! largest element (row-major, PyTorch's choice).

use super::vjp::{activation_vjp, conv_vjp, pool_activation_vjp, pool_vjp, PoolKind};
use super::{add_output_site, first_layer_after, largest_tensor, layer_values, to_vec};
use super::{Prepared, TENSOR_BUDGET};
use crate::error::Result;
use crate::taylor::MAX_ROWS;
use candle_core::{Device, Tensor, Var};
use ftnn_model::seq::LayerSpec;
use ftnn_model::{ModelError, Sequential};

/// b3's E Δ and Var Δ, `[N, n_out]` each.
pub(crate) fn first_order(net: &Sequential, prep: &Prepared) -> Result<(Vec<f64>, Vec<f64>)> {
    first_order_within(net, prep, TENSOR_BUDGET)
}

/// [`first_order`] with `budget` values per tensor held at once.
fn first_order_within(
    net: &Sequential,
    prep: &Prepared,
    budget: usize,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let (n, n_out) = (prep.n, prep.n_out);
    let (mut mean, mut var) = (vec![0f64; n * n_out], vec![0f64; n * n_out]);
    let Some(&s0) = prep.sites.first() else {
        return Ok((mean, var));
    };
    let last = net.n_sites() - 1;
    let start = first_layer_after(net, s0);
    let per_row = largest_tensor(net, start.saturating_sub(1)).max(1);
    let budget_rows = MAX_ROWS.min(budget / per_row).max(1);
    // Outputs per sweep: all of them, or groups of them when all would not fit.
    let group = n_out.min(budget_rows).max(1);
    let max_rows = budget_rows.max(n_out);
    let chunks = if group < n_out {
        prep.chunks(n_out, 1)
    } else {
        prep.chunks(n_out, max_rows)
    };
    for range in chunks {
        let x = prep
            .x
            .narrow(0, range.start, range.len())
            .map_err(ModelError::from)?;
        let values = layer_values(net, &x)?;
        if prep.sites == [last] {
            let y = to_vec(values.last().expect("a network has layers"))?;
            add_output_site(prep.p[last], &y, range, n_out, &mut mean, Some(&mut var));
            continue;
        }
        let at = range.start * n_out..range.end * n_out;
        let (m, v) = (&mut mean[at.clone()], &mut var[at]);
        for k0 in (0..n_out).step_by(group) {
            let outputs = k0..(k0 + group).min(n_out);
            let r = outputs.len();
            site_gradients(net, prep, &values, outputs, |s, y, g| {
                let mut y = to_vec(y)?;
                if s == 0 {
                    if let Some(mask) = &prep.mask {
                        for row in y.chunks_exact_mut(mask.len()) {
                            row.iter_mut().zip(mask).for_each(|(v, &k)| *v *= k);
                        }
                    }
                }
                let g = to_vec(g)?;
                let (ps, qs) = (prep.p[s], prep.p[s] * (1.0 - prep.p[s]));
                let size = net.sites()[s].size;
                for (row, g) in g.chunks_exact(size).enumerate() {
                    let y = &y[(row / r) * size..(row / r + 1) * size];
                    let (mut s1, mut s2) = (0f64, 0f64);
                    for (&a, &b) in y.iter().zip(g) {
                        let d = a as f64 * b as f64;
                        s1 += d;
                        s2 += d * d;
                    }
                    let at = (row / r) * n_out + k0 + row % r;
                    m[at] -= ps * s1;
                    v[at] += qs * s2;
                }
                Ok(())
            })?;
        }
    }
    Ok((mean, var))
}

/// Calls `at_site(s, y_s, g_s)` for every crashing site s of `prep` (decreasing), with `y_s`
/// the clean tensor `[B, *shape_s]` and `g_s = ∂y_out/∂y_s` for the outputs `outputs`,
/// `[B·r, *shape_s]` with r = `outputs.len()` (row `n·r + k`: output `outputs.start + k` of
/// input n). `values` are [`layer_values`] of the chunk.
pub(crate) fn site_gradients(
    net: &Sequential,
    prep: &Prepared,
    values: &[Tensor],
    outputs: std::ops::Range<usize>,
    mut at_site: impl FnMut(usize, &Tensor, &Tensor) -> Result<()>,
) -> Result<()> {
    let r = outputs.len();
    let Some(&s0) = prep.sites.first() else {
        return Ok(());
    };
    let start = first_layer_after(net, s0);
    let n_layers = net.architecture().layers.len();
    let b = values[0].dim(0).map_err(ModelError::from)?;
    let device = values[0].device().clone();
    let mut g = one_hot(b, outputs, prep.n_out, net.output_shape(), &device)?;
    let crashing = |s: usize| prep.sites.contains(&s);
    let site_of_layer = |j: usize| net.sites().iter().position(|s| s.layer_after == Some(j));
    let layers = &net.architecture().layers;
    // Cotangents kept for the inputs of layers that `add` layers reference: pending[i] is
    // added to the cotangent of layer i's input when the sweep gets there.
    let mut pending: Vec<Option<Tensor>> = vec![None; n_layers + 1];
    let merge = |i: usize, g: Tensor, pending: &mut Vec<Option<Tensor>>| -> Result<Tensor> {
        match pending[i].take() {
            Some(p) => Ok(g.add(&p).map_err(ModelError::from)?),
            None => Ok(g),
        }
    };
    let mut j = n_layers;
    while j > start {
        j -= 1;
        g = merge(j + 1, g, &mut pending)?;
        if let Some(s) = site_of_layer(j).filter(|&s| crashing(s)) {
            at_site(s, &values[j + 1], &g)?;
        }
        // A pooling layer right after an activation whose output needs no cotangent of its
        // own (not a crashing site, no skip taken from it): both VJPs in one scatter.
        if j > start && pending[j].is_none() && site_of_layer(j - 1).is_none_or(|s| !crashing(s)) {
            let pool = match &layers[j].spec {
                LayerSpec::MaxPool2d(p) => Some((PoolKind::Max, p)),
                LayerSpec::AvgPool2d(p) => Some((PoolKind::Avg, p)),
                _ => None,
            };
            if let (Some((kind, pool)), LayerSpec::Activation(a)) = (pool, &layers[j - 1].spec) {
                g = pool_activation_vjp(kind, pool, a, &values[j - 1], &values[j], &g, r)?;
                j -= 1;
                continue;
            }
        }
        if let LayerSpec::Add(add) = &layers[j].spec {
            // Skips from before `start` carry no dependence on the crashing sites.
            if add.from >= start {
                let kept = match pending[add.from].take() {
                    Some(p) => p.add(&g).map_err(ModelError::from)?,
                    None => g.clone(),
                };
                pending[add.from] = Some(kept);
            }
        }
        g = layer_vjp(net, j, &values[j], &g, r)?;
    }
    g = merge(start, g, &mut pending)?;
    at_site(s0, &values[start], &g)
}

/// `[b·r, *shape]` with r = `outputs.len()`: row `n·r + k` is the unit vector of output
/// `outputs.start + k` among the `n_out` elements of `shape`.
fn one_hot(
    b: usize,
    outputs: std::ops::Range<usize>,
    n_out: usize,
    shape: &[usize],
    device: &Device,
) -> Result<Tensor> {
    let r = outputs.len();
    let mut v = vec![0f32; b * r * n_out];
    for row in 0..b * r {
        v[row * n_out + outputs.start + row % r] = 1.0;
    }
    let mut dims = vec![b * r];
    dims.extend_from_slice(shape);
    Ok(Tensor::from_vec(v, dims, device).map_err(ModelError::from)?)
}

/// `[b·r, …]` from `[b, …]`: every row repeated r times in place.
pub(crate) fn repeat_rows(t: &Tensor, r: usize) -> Result<Tensor> {
    if r == 1 {
        return Ok(t.clone());
    }
    let b = t.dim(0).map_err(ModelError::from)?;
    let idx: Vec<u32> = (0..b * r).map(|i| (i / r) as u32).collect();
    let idx = Tensor::from_vec(idx, b * r, t.device()).map_err(ModelError::from)?;
    Ok(t.index_select(&idx, 0).map_err(ModelError::from)?)
}

/// The cotangent of layer j's input, `[b·r, *input shape]`, from that of its output `g`
/// `[b·r, *output shape]`, at the clean input `input` `[b, *input shape]` (row n·r + k of `g`
/// belongs to input n).
pub(crate) fn layer_vjp(
    net: &Sequential,
    j: usize,
    input: &Tensor,
    g: &Tensor,
    r: usize,
) -> Result<Tensor> {
    let rows = g.dim(0).map_err(ModelError::from)?;
    let mut in_dims = vec![rows];
    in_dims.extend_from_slice(&input.dims()[1..]);
    match &net.architecture().layers[j].spec {
        LayerSpec::MaxPool2d(pool) => pool_vjp(PoolKind::Max, pool, input, g, r),
        LayerSpec::AvgPool2d(pool) => pool_vjp(PoolKind::Avg, pool, input, g, r),
        LayerSpec::Activation(a) => activation_vjp(a, input, g, r),
        LayerSpec::Flatten | LayerSpec::Dropout(_) => {
            Ok(g.reshape(in_dims).map_err(ModelError::from)?)
        }
        // The skip's share is kept by `site_gradients`; the body's passes on unchanged.
        LayerSpec::Add(_) => Ok(g.clone()),
        LayerSpec::ZeroPad2d(z) => {
            let p = z.padding;
            let (h, w) = (in_dims[2], in_dims[3]);
            Ok(g.narrow(2, p.top, h)
                .and_then(|t| t.narrow(3, p.left, w))
                .map_err(ModelError::from)?)
        }
        LayerSpec::Conv2d(conv) => match net.conv_weight(j) {
            Some(w) if g.device().is_cpu() => conv_vjp(conv, w, input.dims(), g),
            _ => {
                // candle 0.11's conv2d backward sizes the transposed convolution of both axes
                // by the height's remainder (H + 2p − k) mod s; a zero band at the end of the
                // axis with the smaller remainder equalises them without changing the output.
                let s = conv.stride.0;
                let (h, w) = (in_dims[2], in_dims[3]);
                let extra = if conv.stride.0 == conv.stride.1 && s > 1 {
                    let rh = (h + 2 * conv.padding.0 - conv.kernel_size.0) % s;
                    let rw = (w + 2 * conv.padding.1 - conv.kernel_size.1) % s;
                    (rw.saturating_sub(rh), rh.saturating_sub(rw))
                } else {
                    (0, 0)
                };
                autodiff_vjp(net, j, input, g, r, extra)
            }
        },
        _ => autodiff_vjp(net, j, input, g, r, (0, 0)),
    }
}

/// [`layer_vjp`] by candle's autodiff: `∂/∂v Σ (layer_j(v) ⊙ g)` at v = the input replicated
/// r times, with `extra` = (rows, columns) of zeros appended to the last two axes of v (and
/// cut from the gradient).
fn autodiff_vjp(
    net: &Sequential,
    j: usize,
    input: &Tensor,
    g: &Tensor,
    r: usize,
    extra: (usize, usize),
) -> Result<Tensor> {
    let c = |t: candle_core::Result<Tensor>| t.map_err(ModelError::from);
    let mut v = repeat_rows(input, r)?;
    for (axis, n) in [(2, extra.0), (3, extra.1)] {
        if n > 0 {
            let mut dims = v.dims().to_vec();
            dims[axis] = n;
            let zeros = c(Tensor::zeros(dims, v.dtype(), v.device()))?;
            v = c(Tensor::cat(&[&v, &zeros], axis))?;
        }
    }
    let v = Var::from_tensor(&v).map_err(ModelError::from)?;
    let out = net.forward_layers(j..j + 1, v.as_tensor())?;
    let grads = out
        .mul(g)
        .and_then(|t| t.sum_all())
        .and_then(|t| t.backward())
        .map_err(ModelError::from)?;
    let mut gi = match grads.get(v.as_tensor()) {
        Some(gi) => gi.clone(),
        // The output does not depend on the input (cannot happen for these layers).
        None => c(v.as_tensor().zeros_like())?,
    };
    let dims = input.dims();
    for (axis, n) in [(2, extra.0), (3, extra.1)] {
        if n > 0 {
            gi = c(gi.narrow(axis, 0, dims[axis]))?;
        }
    }
    Ok(gi)
}

#[cfg(test)]
mod tests {
    //! The hand-written vector–Jacobian products against candle's autodiff where candle's is
    //! right (and the autodiff path that non-CPU devices take, with its stride fix).
    use super::*;
    use crate::seq::vjp::conv_vjp;
    use ftnn_model::seq::Architecture;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    fn random(n: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    fn network(json: &str, seed: u64) -> Sequential {
        let arch = Architecture::from_json(json).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let tensors: BTreeMap<String, Tensor> = arch
            .tensors()
            .into_iter()
            .map(|(_, key, shape)| {
                let n = shape.iter().product();
                let mut v = random(n, &mut rng);
                if key.ends_with("running_var") {
                    v.iter_mut().for_each(|x| *x = 1.0 + 0.5 * *x);
                }
                (key, Tensor::from_vec(v, shape, &Device::Cpu).unwrap())
            })
            .collect();
        Sequential::new(arch, &tensors, &Device::Cpu).unwrap()
    }

    /// Every layer's VJP as [`layer_vjp`] computes it and by candle's autodiff, at random
    /// inputs and cotangents (3 inputs, 2 rows each).
    fn compare(json: &str, seed: u64, skip: &[&str]) {
        let net = network(json, seed);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed + 1);
        let mut dims = vec![3];
        dims.extend_from_slice(net.input_shape());
        let n: usize = dims.iter().product();
        let x = Tensor::from_vec(random(n, &mut rng), dims, &Device::Cpu).unwrap();
        let values = layer_values(&net, &x).unwrap();
        for (j, layer) in net.architecture().layers.iter().enumerate() {
            if skip.contains(&layer.op()) {
                continue;
            }
            let out = &values[j + 1];
            let mut gd = out.dims().to_vec();
            gd[0] *= 2;
            let m: usize = gd.iter().product();
            let g = Tensor::from_vec(random(m, &mut rng), gd, &Device::Cpu).unwrap();
            let ours = to_vec(&layer_vjp(&net, j, &values[j], &g, 2).unwrap()).unwrap();
            let theirs = autodiff_vjp(&net, j, &values[j], &g, 2, (0, 0)).and_then(|t| to_vec(&t));
            let theirs = match (&layer.spec, theirs) {
                (_, Ok(t)) => t,
                // candle's conv2d backward on non-square inputs with stride: the padded path.
                (LayerSpec::Conv2d(conv), Err(_)) => {
                    let w = net.conv_weight(j).unwrap();
                    let via = conv_vjp(conv, w, values[j].dims(), &g).unwrap();
                    let (h, wd) = (values[j].dims()[2], values[j].dims()[3]);
                    let s = conv.stride.0;
                    let rh = (h + 2 * conv.padding.0 - conv.kernel_size.0) % s;
                    let rw = (wd + 2 * conv.padding.1 - conv.kernel_size.1) % s;
                    let extra = (rw.saturating_sub(rh), rh.saturating_sub(rw));
                    assert_ne!(extra, (0, 0));
                    let t = autodiff_vjp(&net, j, &values[j], &g, 2, extra).unwrap();
                    assert_eq!(via.dims(), t.dims());
                    to_vec(&t).unwrap()
                }
                (_, Err(e)) => panic!("layer {j}: {e}"),
            };
            assert_eq!(ours.len(), theirs.len(), "layer {j}");
            let scale = theirs.iter().fold(0f32, |a, v| a.max(v.abs()));
            for (a, b) in ours.iter().zip(&theirs) {
                assert!(
                    (a - b).abs() <= 1e-5 * scale + 1e-6,
                    "layer {j} ({}): {a} vs {b}",
                    layer.op()
                );
            }
        }
    }

    /// Sweeping the outputs in groups (when all of them would not fit the budget) gives the
    /// sums of one sweep, with skip connections and zero padding on the way.
    #[test]
    fn output_groups_give_the_same_b3() {
        let net = network(
            r#"{"input_shape": [2, 4, 4], "layers": [
            {"op": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 3, "padding": 1},
            {"op": "tanh"},
            {"op": "zeropad2d", "padding": [1, 0, 1, 0]},
            {"op": "conv2d", "in_channels": 3, "out_channels": 3, "kernel_size": 2, "groups": 3},
            {"op": "sigmoid"},
            {"op": "add", "from": 2},
            {"op": "flatten"},
            {"op": "linear", "in_features": 48, "out_features": 7}]}"#,
            5,
        );
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        let x = Tensor::from_vec(random(3 * 32, &mut rng), (3, 2, 4, 4), &Device::Cpu).unwrap();
        let p = ftnn_model::FailureVector::new(vec![0.1, 0.05, 0.2, 0.01]).unwrap();
        let prep = Prepared::new(&net, &p, &x, None).unwrap();
        let (m1, v1) = first_order(&net, &prep).unwrap();
        // 48 values per row: budgets of 1, 3 and 7 rows.
        for rows in [1, 3, 7] {
            let (m2, v2) = first_order_within(&net, &prep, 48 * rows).unwrap();
            for (a, b) in m1.iter().zip(&m2).chain(v1.iter().zip(&v2)) {
                assert!(
                    (a - b).abs() <= 1e-12 * (1.0 + a.abs()),
                    "{rows}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn hand_written_vjps_equal_candles_autodiff() {
        // Grouped and strided convolutions (square and not, the axes' remainders equal and
        // not), unequal stride and padding, folded and standalone batch norm, every
        // activation, average pooling whose windows tile the input. (Not max pooling: candle
        // 0.11 multiplies a window's cotangent by (number of maxima)/(kh·kw) instead of
        // dividing it by the number of maxima — 1/4 of the gradient for a 2×2 window.)
        compare(
            r#"{"input_shape": [4, 9, 8], "layers": [
            {"op": "conv2d", "in_channels": 4, "out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1, "groups": 2},
            {"op": "batchnorm2d", "num_features": 6},
            {"op": "relu"},
            {"op": "conv2d", "in_channels": 6, "out_channels": 4, "kernel_size": [2, 2], "stride": [1, 2], "padding": [1, 0]},
            {"op": "sigmoid", "scale": 2.0},
            {"op": "batchnorm2d", "num_features": 4},
            {"op": "conv2d", "in_channels": 4, "out_channels": 4, "kernel_size": 1, "groups": 4},
            {"op": "tanh"},
            {"op": "maxpool2d", "kernel_size": 2},
            {"op": "relu6", "scale": 4.0},
            {"op": "softplus", "scale": 0.5, "gain": 2.0},
            {"op": "avgpool2d", "kernel_size": [1, 1]},
            {"op": "flatten"},
            {"op": "linear", "in_features": 12, "out_features": 3},
            {"op": "softmax"}]}"#,
            3,
            &["maxpool2d"],
        );
        compare(
            r#"{"input_shape": [2, 8, 8], "layers": [
            {"op": "conv2d", "in_channels": 2, "out_channels": 3, "kernel_size": 3, "stride": 3},
            {"op": "conv2d", "in_channels": 3, "out_channels": 3, "kernel_size": 2, "stride": 2, "padding": 1, "bias": false},
            {"op": "adaptive_avgpool2d", "output_size": [2, 1]}]}"#,
            4,
            &[],
        );
    }
}
