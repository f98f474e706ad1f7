//! The whole certificate of SPEC §6 for an MLP, a set of inputs and their targets: the
//! network's quantities (crashing layer, width, q, α, δ₀), per input b3 on the loss with the
//! Chebyshev term, the bound and the verdict, optionally the Monte Carlo check, the overall
//! verdict and the number of copies R (SPEC §11 "`ftnn certify`").

use crate::empirical::{monte_carlo_tail, TailEstimate};
use crate::error::{CertifyError, Result};
use crate::quantities::{
    chebyshev, check_delta, check_epsilon, chernoff, copies, layer_balancedness,
};
use crate::verdict::{Verdict, VerdictKind};
use ftnn_bounds::b3_loss;
use ftnn_model::{FailureVector, Inputs, Loss, Mlp};
use serde::Serialize;

/// What to certify: the loss, ε, δ and the Monte Carlo check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// The per-example loss L of Δ = L(ŷ_crashed, t) − L(ŷ, t).
    pub loss: Loss,
    /// ε > 0 of the target P(Δ > ε) ≤ δ.
    pub epsilon: f64,
    /// δ ∈ (0, 1) of the target, reached by the median of R copies.
    pub delta: f64,
    /// Monte Carlo draws per input for the empirical check (0: first-order only).
    pub verify: usize,
    /// Seed of the Monte Carlo draws.
    pub seed: u64,
}

/// The quantities of the network (SPEC §6): they do not depend on the input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NetworkQuantities {
    /// The layer l whose neurons crash (the only one with p > 0).
    pub crashing_layer: usize,
    /// Its width n_l.
    pub width: usize,
    /// Its crash probability p_l.
    pub p: f64,
    /// Balancedness of the weights into layer l.
    pub q: f64,
    /// α = e^{2.5}·p_l.
    pub alpha: f64,
    /// δ₀ = exp(−n_l·q·KL(α‖p_l)) when α < 1, else 1.
    pub delta0: f64,
}

/// The certificate of one input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputCertificate {
    /// E Δ from b3 on the loss (first order).
    pub mean: f64,
    /// Var Δ from b3 on the loss, with p(1 − p).
    pub var: f64,
    /// Var Δ/(ε − E Δ)², `None` when E Δ ≥ ε.
    pub chebyshev: Option<f64>,
    /// δ₀ + chebyshev, `None` when E Δ ≥ ε.
    pub bound: Option<f64>,
    /// The first-order verdict with its margins.
    pub verdict: Verdict,
    /// The Monte Carlo check, when asked for.
    pub empirical: Option<TailEstimate>,
}

/// The certificate of a network over a set of inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Certificate {
    /// The network's quantities.
    pub network: NetworkQuantities,
    /// One certificate per input.
    pub inputs: Vec<InputCertificate>,
    /// Certified iff every input is; infeasible if any input is; else not certified.
    pub verdict: VerdictKind,
    /// R = ⌈2 ln(1/δ)/ln 3⌉ copies for the median-of-R amplification.
    pub copies: usize,
}

impl Certificate {
    /// Whether every input passed the Monte Carlo check (`None` without one).
    pub fn all_verified(&self) -> Option<bool> {
        self.inputs
            .iter()
            .map(|c| c.empirical.map(|e| e.verified))
            .collect::<Option<Vec<bool>>>()
            .map(|v| v.iter().all(|&b| b))
    }
}

/// The single crashing layer of `p` (SPEC §11: exactly one layer with p > 0, not the input).
pub fn crashing_layer(p: &FailureVector) -> Result<usize> {
    match p.crashing_layers()[..] {
        [0] => Err(CertifyError::InputLayer),
        [l] => Ok(l),
        ref layers => Err(CertifyError::CrashingLayers(layers.to_vec())),
    }
}

/// The network's quantities for crashes at the single crashing layer of `p`.
pub fn network_quantities(net: &Mlp, p: &FailureVector) -> Result<NetworkQuantities> {
    p.check_len(net.n_neuron_layers())?;
    let l = crashing_layer(p)?;
    let q = layer_balancedness(&net.layers()[l - 1])?;
    let width = net.sizes()[l];
    let c = chernoff(width, q, p[l])?;
    Ok(NetworkQuantities {
        crashing_layer: l,
        width,
        p: p[l],
        q,
        alpha: c.alpha,
        delta0: c.delta0,
    })
}

/// Certifies `net` under the failure vector `p` (crashes at exactly one layer) on the inputs
/// `x` with targets `targets` (`[N, n_L]`): SPEC §6 with E Δ and Var Δ from b3 on the loss
/// ([`ftnn_bounds::b3_loss`]: the gradient of the per-example loss with respect to the
/// crashing layer's outputs, variance with p(1 − p)), and with `settings.verify > 0` the
/// Monte Carlo check of [`crate::empirical`].
pub fn certify(
    net: &Mlp,
    p: &FailureVector,
    x: &Inputs,
    targets: &[f32],
    settings: &Settings,
) -> Result<Certificate> {
    check_epsilon(settings.epsilon)?;
    check_delta(settings.delta)?;
    let network = network_quantities(net, p)?;
    let chern = crate::quantities::Chernoff {
        alpha: network.alpha,
        delta0: network.delta0,
    };
    let moments = b3_loss(net, p, x, targets, settings.loss)?;
    let empirical = if settings.verify > 0 {
        Some(monte_carlo_tail(
            net,
            p,
            x,
            targets,
            settings.loss,
            settings.epsilon,
            settings.verify,
            settings.seed,
        )?)
    } else {
        None
    };
    let eps = settings.epsilon;
    let inputs: Vec<InputCertificate> = (0..x.rows())
        .map(|i| {
            let (mean, var) = (moments.mean[i], moments.var[i]);
            let cheb = chebyshev(mean, var, eps);
            InputCertificate {
                mean,
                var,
                chebyshev: cheb,
                bound: cheb.map(|c| network.delta0 + c),
                verdict: Verdict::decide(chern, mean, var, eps),
                empirical: empirical.as_ref().map(|e| e[i]),
            }
        })
        .collect();
    Ok(Certificate {
        network,
        verdict: VerdictKind::overall(inputs.iter().map(|c| c.verdict.kind())),
        inputs,
        copies: copies(settings.delta)?,
    })
}
