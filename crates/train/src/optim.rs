//! Keras-compatible optimizers with their update loops owned by ftnn (SPEC §7).
//!
//! - **Adam** (Kingma & Ba, as in Keras): with step t = 1, 2, …,
//!   m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², α_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ),
//!   w ← w − α_t·m/(√v + ε). Keras defaults lr = 1e-3, β = 0.9/0.999, ε = 1e-7.
//! - **Adadelta** (Zeiler, as in Keras): a ← ρa + (1−ρ)g², u = √(s + ε)/√(a + ε)·g,
//!   s ← ρs + (1−ρ)u², w ← w − lr·u. The paper's defaults lr = 1.0, ρ = 0.95, ε = 1e-7.
//!
//! The state is kept per parameter tensor as flat `f32` slots; updates run in f32 like
//! Keras, with α_t computed in f64.

use crate::error::{Result, TrainError};

/// An optimizer and its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum Optimizer {
    /// Adam.
    Adam {
        /// Learning rate.
        lr: f64,
        /// Decay of the first moment.
        beta1: f64,
        /// Decay of the second moment.
        beta2: f64,
        /// ε added to √v.
        eps: f64,
    },
    /// Adadelta.
    Adadelta {
        /// Learning rate.
        lr: f64,
        /// Decay ρ of both running averages.
        rho: f64,
        /// ε inside both square roots.
        eps: f64,
    },
}

impl Default for Optimizer {
    fn default() -> Self {
        Self::adam()
    }
}

impl Optimizer {
    /// Adam with the Keras defaults (lr 1e-3, β 0.9/0.999, ε 1e-7).
    pub fn adam() -> Self {
        Self::Adam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        }
    }

    /// Adadelta with the paper's settings (lr 1.0, ρ 0.95, ε 1e-7).
    pub fn adadelta() -> Self {
        Self::Adadelta {
            lr: 1.0,
            rho: 0.95,
            eps: 1e-7,
        }
    }

    /// The same optimizer with learning rate `lr`.
    pub fn with_lr(self, lr: f64) -> Self {
        match self {
            Self::Adam {
                beta1, beta2, eps, ..
            } => Self::Adam {
                lr,
                beta1,
                beta2,
                eps,
            },
            Self::Adadelta { rho, eps, .. } => Self::Adadelta { lr, rho, eps },
        }
    }

    /// The learning rate.
    pub fn lr(self) -> f64 {
        match self {
            Self::Adam { lr, .. } | Self::Adadelta { lr, .. } => lr,
        }
    }

    /// `adam` or `adadelta` with their defaults.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "adam" => Ok(Self::adam()),
            "adadelta" => Ok(Self::adadelta()),
            _ => Err(TrainError::Config(format!(
                "unknown optimizer `{name}` (adam or adadelta)"
            ))),
        }
    }

    /// Checks that every hyper-parameter is in range.
    pub fn validate(self) -> Result<()> {
        let bad = |what: &str, v: f64| {
            Err(TrainError::Config(format!(
                "optimizer {what} = {v} is out of range"
            )))
        };
        let unit = |v: f64| (0.0..1.0).contains(&v);
        match self {
            Self::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                if !(lr.is_finite() && lr > 0.0) {
                    return bad("learning rate", lr);
                }
                if !unit(beta1) {
                    return bad("beta1", beta1);
                }
                if !unit(beta2) {
                    return bad("beta2", beta2);
                }
                if !(eps.is_finite() && eps > 0.0) {
                    return bad("epsilon", eps);
                }
            }
            Self::Adadelta { lr, rho, eps } => {
                if !(lr.is_finite() && lr > 0.0) {
                    return bad("learning rate", lr);
                }
                if !unit(rho) {
                    return bad("rho", rho);
                }
                if !(eps.is_finite() && eps > 0.0) {
                    return bad("epsilon", eps);
                }
            }
        }
        Ok(())
    }

    /// Fresh state for parameters of the given lengths.
    pub fn state(self, lengths: &[usize]) -> OptimizerState {
        OptimizerState {
            optimizer: self,
            step: 0,
            slots: lengths
                .iter()
                .map(|&n| (vec![0f32; n], vec![0f32; n]))
                .collect(),
        }
    }
}

/// The running state of an [`Optimizer`] over a fixed list of parameter tensors.
#[derive(Debug, Clone)]
pub struct OptimizerState {
    optimizer: Optimizer,
    step: u64,
    slots: Vec<(Vec<f32>, Vec<f32>)>,
}

impl OptimizerState {
    /// Number of completed steps.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// One update of every parameter: `params[i] ← params[i] − update(grads[i])`.
    pub fn step(&mut self, params: &mut [Vec<f32>], grads: &[Vec<f32>]) -> Result<()> {
        if params.len() != self.slots.len() || grads.len() != self.slots.len() {
            return Err(TrainError::Config(format!(
                "optimizer holds state for {} tensors, got {} parameters and {} gradients",
                self.slots.len(),
                params.len(),
                grads.len()
            )));
        }
        self.step += 1;
        let t = self.step as i32;
        for ((w, g), (s1, s2)) in params.iter_mut().zip(grads).zip(&mut self.slots) {
            if w.len() != g.len() || w.len() != s1.len() {
                return Err(TrainError::Config(format!(
                    "parameter of {} values with a gradient of {} values",
                    w.len(),
                    g.len()
                )));
            }
            match self.optimizer {
                Optimizer::Adam {
                    lr,
                    beta1,
                    beta2,
                    eps,
                } => {
                    let alpha = (lr * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t))) as f32;
                    let (b1, b2, e) = (beta1 as f32, beta2 as f32, eps as f32);
                    // Zipped iterators: no bounds checks, so the loop vectorises.
                    for (((w, &g), m), v) in
                        w.iter_mut().zip(g).zip(s1.iter_mut()).zip(s2.iter_mut())
                    {
                        *m = b1 * *m + (1.0 - b1) * g;
                        *v = b2 * *v + (1.0 - b2) * g * g;
                        *w -= alpha * *m / (v.sqrt() + e);
                    }
                }
                Optimizer::Adadelta { lr, rho, eps } => {
                    let (lr, r, e) = (lr as f32, rho as f32, eps as f32);
                    for (((w, &g), a), s) in
                        w.iter_mut().zip(g).zip(s1.iter_mut()).zip(s2.iter_mut())
                    {
                        *a = r * *a + (1.0 - r) * g * g;
                        let u = (*s + e).sqrt() / (*a + e).sqrt() * g;
                        *s = r * *s + (1.0 - r) * u * u;
                        *w -= lr * u;
                    }
                }
            }
        }
        Ok(())
    }
}
