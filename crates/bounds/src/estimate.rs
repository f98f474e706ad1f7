//! Bound results and which bound applies to which failure vector.

use crate::error::{BoundsError, Result};
use ftnn_model::{FailureVector, Mlp};
use serde::Serialize;

/// Estimated mean and standard deviation of Δ per input and output, row-major
/// `[n_inputs, n_outputs]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeanStd {
    /// Number of inputs.
    pub n_inputs: usize,
    /// Number of outputs.
    pub n_outputs: usize,
    /// Estimated E Δ.
    pub mean: Vec<f64>,
    /// Estimated std Δ = sqrt(estimated Var Δ).
    pub std: Vec<f64>,
}

impl MeanStd {
    pub(crate) fn from_moments(
        n_inputs: usize,
        n_outputs: usize,
        mean: Vec<f64>,
        var: Vec<f64>,
    ) -> Result<Self> {
        check_finite("bound mean", &mean)?;
        check_finite("bound variance", &var)?;
        Ok(Self {
            n_inputs,
            n_outputs,
            mean,
            std: var.iter().map(|v| v.max(0.0).sqrt()).collect(),
        })
    }
}

/// The analytic estimates of SPEC §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum BoundKind {
    /// Norm product with the operator 1-norm.
    B1One,
    /// Norm product with the spectral norm.
    B1Two,
    /// Norm product with the operator ∞-norm.
    B1Inf,
    /// Absolute-value propagation.
    B2,
    /// First-order Taylor expansion (Theorem 1).
    B3,
    /// Exact single-crash sum.
    B4,
    /// Second-order mean.
    B5,
}

impl BoundKind {
    /// Every bound, in report order.
    pub const ALL: [BoundKind; 7] = [
        Self::B3,
        Self::B4,
        Self::B5,
        Self::B2,
        Self::B1One,
        Self::B1Two,
        Self::B1Inf,
    ];

    /// The name used in JSON and on the command line (`b1_1`, `b1_2`, `b1_inf`, `b2`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::B1One => "b1_1",
            Self::B1Two => "b1_2",
            Self::B1Inf => "b1_inf",
            Self::B2 => "b2",
            Self::B3 => "b3",
            Self::B4 => "b4",
            Self::B5 => "b5",
        }
    }

    /// Parses `b1` (all three norms), `b1_1`, …, `b5`, or `all`, comma-separated.
    pub fn parse_list(s: &str) -> std::result::Result<Vec<BoundKind>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let add: Vec<BoundKind> = match part {
                "all" => Self::ALL.to_vec(),
                "b1" => vec![Self::B1One, Self::B1Two, Self::B1Inf],
                other => match Self::ALL.iter().find(|k| k.name() == other) {
                    Some(&k) => vec![k],
                    None => {
                        return Err(format!(
                            "unknown bound `{other}` (all, b1, b1_1, b1_2, b1_inf, b2, b3, b4, b5)"
                        ))
                    }
                },
            };
            for k in add {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
        if out.is_empty() {
            return Err("no bound named".into());
        }
        Ok(out)
    }

    /// Whether the bound estimates a standard deviation (b1 and b5 give a mean only).
    pub fn has_std(self) -> bool {
        matches!(self, Self::B2 | Self::B3 | Self::B4)
    }

    /// Checks that the bound is defined for `net` and `p`: b3, b4, b5 for any failure vector;
    /// b1 and b2 (as in the paper) only for crashes at the first hidden layer alone.
    pub fn check_applicable(self, net: &Mlp, p: &FailureVector) -> Result<()> {
        p.check_len(net.n_neuron_layers())?;
        match self {
            Self::B3 | Self::B4 | Self::B5 => Ok(()),
            Self::B2 | Self::B1One | Self::B1Two | Self::B1Inf => {
                let name = self.name();
                if net.output_layer() < 2 {
                    return Err(BoundsError::NotApplicable {
                        bound: name,
                        reason: "the network has no hidden layer".into(),
                    });
                }
                let others: Vec<usize> = p
                    .crashing_layers()
                    .into_iter()
                    .filter(|&l| l != 1)
                    .collect();
                if !others.is_empty() || p[1] == 0.0 {
                    return Err(BoundsError::NotApplicable {
                        bound: name,
                        reason: format!(
                            "it needs crashes at the first hidden layer only (p = [0, p₁ > 0, 0, …]); \
                             p has non-zero entries at layers {:?}",
                            p.crashing_layers()
                        ),
                    });
                }
                Ok(())
            }
        }
    }
}

/// [`ftnn_model::check_finite`] as a [`BoundsError`].
pub(crate) fn check_finite<T: Copy + Into<f64>>(what: &str, v: &[T]) -> Result<()> {
    Ok(ftnn_model::check_finite(what, v)?)
}
