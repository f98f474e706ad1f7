//! Weight norms and the Monte Carlo variance of the crash error (SPEC §8).
//!
//! * `W_l = ‖W_l‖_∞ = max_o Σ_i |W_l[o, i]|` (max row sum of |W_l|, W_l of shape
//!   `[n_l, n_{l−1}]`) for every weight layer l = 1..L, and `W_prod = Π_l W_l`
//!   ([`weight_norms`]; the norm is [`ftnn_model::operator_norm`] with [`Norm::Inf`]).
//! * `var_delta = (1/n_L) Σ_k Var Δ_k` at one input, with crashes of probability p at one
//!   layer only, estimated by Monte Carlo ([`var_delta`]; SPEC: 50 000 repetitions, p = 0.01 at
//!   hidden layer 1). Var Δ_k is the sample variance (denominator R − 1) of ftnn's engine
//!   ([`ftnn_model::MonteCarlo`]).

use crate::error::{DecayError, Result};
use ftnn_model::{
    check_finite, check_len, operator_norm, FailureVector, Inputs, Mlp, MonteCarlo, Norm,
};

/// SPEC §8: repetitions of the Monte Carlo estimate of Var Δ.
pub const VAR_DELTA_REPETITIONS: usize = 50_000;
/// SPEC §8: crash probability at hidden layer 1 for Var Δ.
pub const VAR_DELTA_P: f64 = 0.01;

/// The ∞-norms of the weight matrices and their product.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WeightNorms {
    /// `‖W_l‖_∞` (max row sum of |W_l|) for l = 1..L, in layer order.
    pub per_layer: Vec<f64>,
    /// `Π_l ‖W_l‖_∞`.
    pub product: f64,
}

/// `‖W_l‖_∞` for every layer and their product (SPEC §8). Sums are f64.
pub fn weight_norms(net: &Mlp) -> WeightNorms {
    let per_layer: Vec<f64> = net
        .layers()
        .iter()
        .map(|d| operator_norm(d, Norm::Inf))
        .collect();
    let product = per_layer.iter().product();
    WeightNorms { per_layer, product }
}

/// The mean over outputs of the Monte Carlo variance of Δ = ŷ(x) − y(x) at one input
/// `x_row` (`[n_0]`), when each neuron of layer `layer` (0 = input, L = output) crashes with
/// probability `p` and no other neuron crashes: `(1/n_L) Σ_k s_k²`, with s_k² the sample
/// variance of Δ_k over `repetitions` seeded crash patterns. SPEC §8 uses
/// [`VAR_DELTA_REPETITIONS`] repetitions and p = [`VAR_DELTA_P`] at layer 1.
pub fn var_delta(
    net: &Mlp,
    x_row: &[f32],
    p: f64,
    layer: usize,
    repetitions: usize,
    seed: u64,
) -> Result<f64> {
    if repetitions < 2 {
        return Err(DecayError::Count {
            what: "repetitions",
            got: repetitions,
            reason: "a sample variance needs at least 2 repetitions".into(),
        });
    }
    let n_layers = net.n_neuron_layers();
    if layer >= n_layers {
        return Err(DecayError::Count {
            what: "layer",
            got: layer,
            reason: format!("the network has layers of neurons 0..={}", n_layers - 1),
        });
    }
    check_len("input row", x_row.len(), net.n_inputs(), "n_0")?;
    check_finite("input row", x_row)?;
    let fv = FailureVector::single(n_layers, layer, p)?;
    let x = Inputs::new(x_row.to_vec(), 1, net.n_inputs())?;
    let stats = MonteCarlo::new(net, fv)?
        .repetitions(repetitions)
        .seed(seed)
        .run(&x)?;
    Ok(stats.std.iter().map(|s| s * s).sum::<f64>() / stats.std.len() as f64)
}
