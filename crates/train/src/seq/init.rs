//! Seeded initialisation of a Sequential network, as Keras initialises the original notebooks'
//! layers: **Glorot-uniform** weights `U(−l, l)`, `l = √(6/(fan_in + fan_out))`, and zero
//! biases. For a conv2d `fan_in = (in/groups)·kh·kw` and `fan_out = out·kh·kw`; for a linear
//! layer `fan_in = in`, `fan_out = out`. A batchnorm2d starts as the identity (γ = 1, β = 0,
//! running mean 0, running variance 1).
//!
//! The values are drawn from `ChaCha8(seed)` in the order of
//! [`Architecture::tensors`](ftnn_model::seq::Architecture::tensors) (layer by layer, weight
//! before bias), so the same seed gives the same network on every machine.

use crate::error::Result;
use candle_core::{Device, Tensor};
use ftnn_model::seq::{Architecture, LayerSpec, Sequential};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// The Glorot-uniform limit `√(6/(fan_in + fan_out))` of a layer's weight.
pub fn glorot_limit(spec: &LayerSpec) -> Option<f64> {
    let (fan_in, fan_out) = match spec {
        LayerSpec::Conv2d(c) => {
            let k = c.kernel_size.0 * c.kernel_size.1;
            (c.in_channels / c.groups.max(1) * k, c.out_channels * k)
        }
        LayerSpec::Linear(l) => (l.in_features, l.out_features),
        _ => return None,
    };
    Some((6.0 / (fan_in + fan_out).max(1) as f64).sqrt())
}

/// The initial parameters of `arch` as flat f32 vectors in `arch.tensors()` order.
pub fn init_values(arch: &Architecture, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    arch.tensors()
        .into_iter()
        .map(|(layer, key, shape)| {
            let n: usize = shape.iter().product();
            let spec = &arch.layers[layer].spec;
            let param = key.rsplit('.').next().unwrap_or_default();
            match (param, glorot_limit(spec)) {
                ("weight", Some(l)) => (0..n).map(|_| rng.random_range(-l..l) as f32).collect(),
                ("weight" | "running_var", None) => vec![1.0; n],
                _ => vec![0.0; n],
            }
        })
        .collect()
}

/// A [`Sequential`] holding `values` (in `arch.tensors()` order) on `device`.
pub fn sequential_from_values(
    arch: &Architecture,
    values: &[Vec<f32>],
    device: &Device,
) -> Result<Sequential> {
    let mut tensors = BTreeMap::new();
    for ((_, key, shape), v) in arch.tensors().into_iter().zip(values) {
        tensors.insert(key, Tensor::from_slice(v, shape, device)?);
    }
    Ok(Sequential::new(arch.clone(), &tensors, device)?)
}
