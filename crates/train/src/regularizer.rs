//! The fault-tolerance regularizers of SPEC §7, combinable in one specification.
//!
//! | spec | term added to the loss |
//! |---|---|
//! | `l1=c` | c · Σ_l Σ_ij \|W_l,ij\| over every weight matrix |
//! | `l2=c` | c · Σ_l Σ_ij W_l,ij² |
//! | `balanced=μ` | μ · max_i s_i / (1e-5 + min_i s_i), s_i = (Σ_j \|W¹_ij\|)² (first layer) |
//! | `continuous=ψ_d,ψ_s` | Σ over every non-output layer of smooth(W_l) + smooth(b_l) (Eq. 1, [`ftnn_continuity`]) |
//! | `vardelta=λ@p[@l]` | λ · mean over batch and outputs of p Σ_i d_{l,i}², d_{l,i} = y_{l,i} ∂y_L/∂y_{l,i} |
//!
//! `vardelta` is the b3 variance (SPEC §4) at the **crashing** layer l (default 1, the first
//! hidden layer); the original sometimes regularized the wrong layer (SPEC §12). Its
//! Jacobian is built inside the training graph, so its gradient flows through φ'.

use crate::error::{Result, TrainError};
use crate::graph::ForwardGraph;
use candle_core::{Tensor, D};
use std::fmt;
use std::str::FromStr;

/// One regularization term.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Regularizer {
    /// c · Σ|W| over every weight matrix.
    L1 {
        /// Coefficient c ≥ 0.
        c: f64,
    },
    /// c · ΣW² over every weight matrix.
    L2 {
        /// Coefficient c ≥ 0.
        c: f64,
    },
    /// μ · max_i s_i / (1e-5 + min_i s_i) on the first layer's rows.
    Balanced {
        /// Coefficient μ ≥ 0.
        mu: f64,
    },
    /// ψ_d · derivative part + ψ_s · smoothness part of smooth() (Eq. 1).
    Continuous {
        /// ψ_d ≥ 0.
        psi_d: f64,
        /// ψ_s ≥ 0.
        psi_s: f64,
    },
    /// λ · mean over batch and outputs of p Σ_i d_{l,i}².
    VarDelta {
        /// Coefficient λ ≥ 0.
        lambda: f64,
        /// Crash probability p ∈ [0, 1] of the crashing layer.
        p: f64,
        /// The crashing layer of neurons (0 = input, 1 = first hidden, …; not the output).
        layer: usize,
    },
}

impl Regularizer {
    /// Checks coefficients (finite, ≥ 0) and p ∈ [0, 1]; `sizes` are the network's widths.
    pub fn validate(&self, sizes: &[usize]) -> Result<()> {
        let spec = self.to_string();
        let refuse = |reason: String| {
            Err(TrainError::Regularizer {
                spec: spec.clone(),
                reason,
            })
        };
        let coefficients: Vec<(&str, f64)> = match *self {
            Self::L1 { c } | Self::L2 { c } => vec![("coefficient", c)],
            Self::Balanced { mu } => vec![("μ", mu)],
            Self::Continuous { psi_d, psi_s } => vec![("ψ_d", psi_d), ("ψ_s", psi_s)],
            Self::VarDelta { lambda, .. } => vec![("λ", lambda)],
        };
        for (name, v) in coefficients {
            if !(v.is_finite() && v >= 0.0) {
                return refuse(format!("{name} = {v} must be finite and ≥ 0"));
            }
        }
        if let Self::VarDelta { p, layer, .. } = *self {
            if !(0.0..=1.0).contains(&p) {
                return refuse(format!("p = {p} is outside [0, 1]"));
            }
            if layer + 1 >= sizes.len() {
                return refuse(format!(
                    "layer {layer} is not a layer that feeds another one (the network has layers 0..={})",
                    sizes.len() - 1
                ));
            }
        }
        Ok(())
    }

    /// The term for the current forward graph, as a differentiable scalar.
    pub(crate) fn term(
        &self,
        graph: &ForwardGraph,
        smooth: &crate::graph::Smoothers,
    ) -> Result<Tensor> {
        let weights = graph.weights();
        let out = match *self {
            Self::L1 { c } => sum_over(weights, |w| w.abs()?.sum_all())?.affine(c, 0.0)?,
            Self::L2 { c } => sum_over(weights, |w| w.sqr()?.sum_all())?.affine(c, 0.0)?,
            Self::Balanced { mu } => {
                let s = weights[0].abs()?.sum(D::Minus1)?.sqr()?;
                let max = s.max(0)?;
                let min = s.min(0)?.affine(1.0, 1e-5)?;
                (max / min)?.affine(mu, 0.0)?
            }
            Self::Continuous { psi_d, psi_s } => {
                smooth.term(graph.weights(), graph.biases(), psi_d, psi_s)?
            }
            Self::VarDelta { lambda, p, layer } => {
                let d = graph.scaled_jacobian(layer)?; // [B, n_L, n_l]
                d.sqr()?
                    .sum(D::Minus1)?
                    .mean_all()?
                    .affine(lambda * p, 0.0)?
            }
        };
        Ok(out)
    }
}

fn sum_over(
    ws: &[Tensor],
    f: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
) -> candle_core::Result<Tensor> {
    let mut acc = f(&ws[0])?;
    for w in &ws[1..] {
        acc = (acc + f(w)?)?;
    }
    Ok(acc)
}

impl fmt::Display for Regularizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::L1 { c } => write!(f, "l1={c:e}"),
            Self::L2 { c } => write!(f, "l2={c:e}"),
            Self::Balanced { mu } => write!(f, "balanced={mu:e}"),
            Self::Continuous { psi_d, psi_s } => write!(f, "continuous={psi_d:e},{psi_s:e}"),
            Self::VarDelta { lambda, p, layer } => write!(f, "vardelta={lambda:e}@{p}@{layer}"),
        }
    }
}

impl FromStr for Regularizer {
    type Err = TrainError;
    /// Parses `l1=C`, `l2=C`, `balanced=MU`, `continuous=PSI_D,PSI_S`,
    /// `vardelta=LAMBDA@P` or `vardelta=LAMBDA@P@LAYER` (layer 1 by default).
    fn from_str(s: &str) -> Result<Self> {
        let refuse = |reason: &str| TrainError::Regularizer {
            spec: s.to_string(),
            reason: reason.to_string(),
        };
        let (name, args) = s
            .split_once('=')
            .ok_or_else(|| refuse("expected NAME=VALUES, e.g. l2=1e-4 or vardelta=3.25@0.05"))?;
        let num = |v: &str| -> Result<f64> {
            let x: f64 = v
                .trim()
                .parse()
                .map_err(|_| refuse(&format!("`{v}` is not a number")))?;
            if !(x.is_finite() && x >= 0.0) {
                return Err(refuse(&format!("{x} must be finite and ≥ 0")));
            }
            Ok(x)
        };
        let reg = match name.trim() {
            "l1" => Self::L1 { c: num(args)? },
            "l2" => Self::L2 { c: num(args)? },
            "balanced" => Self::Balanced { mu: num(args)? },
            "continuous" => {
                let (d, s) = args
                    .split_once(',')
                    .ok_or_else(|| refuse("expected continuous=PSI_D,PSI_S"))?;
                Self::Continuous {
                    psi_d: num(d)?,
                    psi_s: num(s)?,
                }
            }
            "vardelta" => {
                let parts: Vec<&str> = args.split('@').collect();
                if !(2..=3).contains(&parts.len()) {
                    return Err(refuse(
                        "expected vardelta=LAMBDA@P or vardelta=LAMBDA@P@LAYER",
                    ));
                }
                let p = num(parts[1])?;
                if p > 1.0 {
                    return Err(refuse(&format!("p = {p} is outside [0, 1]")));
                }
                let layer = match parts.get(2) {
                    Some(l) => l
                        .trim()
                        .parse()
                        .map_err(|_| refuse(&format!("layer `{l}` is not a layer index")))?,
                    None => 1,
                };
                Self::VarDelta {
                    lambda: num(parts[0])?,
                    p,
                    layer,
                }
            }
            other => {
                return Err(refuse(&format!(
                    "unknown regularizer `{other}` (l1, l2, balanced, continuous, vardelta)"
                )))
            }
        };
        Ok(reg)
    }
}
