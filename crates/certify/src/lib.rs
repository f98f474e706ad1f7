//! # ftnn-certify — the tail guarantee P(Δ > ε) ≤ δ and its empirical check
//!
//! SPEC §6 (and the `ftnn certify` rules of SPEC §11). For a network whose neurons crash at
//! one layer l with probability p, and the loss perturbation Δ = L(ŷ_crashed, t) − L(ŷ, t) of
//! the per-example loss L (MSE: mean over outputs of squared errors; cross-entropy:
//! −Σ t log softmax(ŷ)):
//!
//! | quantity | formula | function |
//! |---|---|---|
//! | balancedness | q = min_i ‖W_l\[i,:\]‖₁ / max_i ‖W_l\[i,:\]‖₁ | [`balancedness`] |
//! | Chernoff term | α = e^{2.5}p, δ₀ = exp(−n_l q KL(α‖p)) if α < 1, else 1 | [`chernoff`], [`kl_bernoulli`] |
//! | moments | E Δ, Var Δ: b3 on the loss (first order, p(1 − p)) | [`ftnn_bounds::b3_loss`] |
//! | Chebyshev term | Var Δ/(ε − E Δ)² when E Δ < ε | [`chebyshev`] |
//! | copies | R = ⌈2 ln(1/δ)/ln 3⌉ | [`copies`] |
//! | verdict | infeasible (E Δ ≥ ε), certified (δ₀ + Chebyshev < 1/3), not certified | [`Verdict`] |
//! | check | P̂(Δ > ε) from R draws, Clopper–Pearson upper u (1 − 10⁻³), verified: u < 1/3 | [`monte_carlo_tail`] |
//!
//! **The certificate is only as good as b3.** E Δ and Var Δ are a first-order estimate, not
//! a bound: where the loss gradient is near zero the second-order term dominates and the
//! first-order rule can certify inputs whose true tail is far above its bound. The Monte Carlo
//! check ([`empirical`]) is the statistical statement; [`exact_tail`] is the ground truth on
//! small networks.
//!
//! [`algorithm`] is Algorithm 1 of SPEC §6: it grows and regularizes an MNIST network
//! (training with `ftnn-train`) until it is certified and verified.

pub mod algorithm;
pub mod certificate;
pub mod empirical;
pub mod error;
pub mod quantities;
pub mod stats;
pub mod verdict;

pub use certificate::{
    certify, crashing_layer, network_quantities, Certificate, InputCertificate, NetworkQuantities,
    Settings,
};
pub use empirical::{exact_tail, monte_carlo_tail, TailEstimate};
pub use error::{CertifyError, Result};
pub use quantities::{
    balancedness, chebyshev, chernoff, copies, kl_bernoulli, layer_balancedness, Chernoff,
};
pub use stats::{clopper_pearson_upper, regularized_incomplete_beta, CP_CONFIDENCE};
pub use verdict::{Condition, Verdict, VerdictKind};
