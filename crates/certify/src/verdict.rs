//! The typed verdict of a certificate (SPEC §6, §11 "`ftnn certify`").
//!
//! For one input, with E Δ and Var Δ from b3 on the loss and the network's δ₀:
//!
//! * **infeasible** when E Δ ≥ ε (Chebyshev cannot bound the tail at all);
//! * **certified** when `bound = δ₀ + Var Δ/(ε − E Δ)² < 1/3` — then the median of R =
//!   ⌈2 ln(1/δ)/ln 3⌉ independent networks fails with probability < δ;
//! * **not certified** otherwise, naming the condition that fails ([`Condition`]) and by how
//!   much.
//!
//! Over a set of inputs the network is certified iff every input is, infeasible if any input
//! is, and not certified otherwise ([`VerdictKind::overall`]).

use crate::quantities::{Chernoff, ONE_THIRD};
use serde::Serialize;

/// What made an input *not certified*.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// α = e^{2.5}·p ≥ 1: the Chernoff step does not apply, δ₀ = 1.
    ChernoffInapplicable,
    /// δ₀ alone is ≥ 1/3 (the crashing layer is too narrow or too unbalanced).
    Chernoff,
    /// The Chebyshev term Var Δ/(ε − E Δ)² alone is ≥ 1/3 (the loss varies too much).
    Chebyshev,
    /// Each term is below 1/3 but their sum is not.
    Sum,
}

impl Condition {
    /// A phrase for humans.
    pub fn describe(self) -> &'static str {
        match self {
            Condition::ChernoffInapplicable => "α = e^2.5·p ≥ 1, the Chernoff step does not apply",
            Condition::Chernoff => "δ₀ ≥ 1/3",
            Condition::Chebyshev => "Var Δ/(ε − E Δ)² ≥ 1/3",
            Condition::Sum => "δ₀ + Var Δ/(ε − E Δ)² ≥ 1/3",
        }
    }
}

/// The first-order verdict on one input, with its margins.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Every condition holds.
    Certified {
        /// ε − E Δ > 0: how far the estimated mean is below ε.
        feasibility_margin: f64,
        /// 1/3 − (δ₀ + Var Δ/(ε − E Δ)²) > 0: how far the bound is below 1/3.
        bound_margin: f64,
    },
    /// E Δ < ε, but the bound is not below 1/3.
    NotCertified {
        /// The condition that fails.
        condition: Condition,
        /// By how much: α − 1 for [`Condition::ChernoffInapplicable`], else the bound
        /// δ₀ + Var Δ/(ε − E Δ)² minus 1/3 (≥ 0).
        excess: f64,
    },
    /// E Δ ≥ ε.
    Infeasible {
        /// E Δ − ε ≥ 0.
        excess: f64,
    },
}

impl Verdict {
    /// The verdict of one input from the network's Chernoff step, b3's E Δ and Var Δ on the
    /// loss and ε (the rules of the module documentation).
    pub fn decide(chernoff: Chernoff, mean: f64, var: f64, epsilon: f64) -> Verdict {
        let Some(cheb) = crate::quantities::chebyshev(mean, var, epsilon) else {
            return Verdict::Infeasible {
                excess: mean - epsilon,
            };
        };
        let bound = chernoff.delta0 + cheb;
        if bound < ONE_THIRD {
            return Verdict::Certified {
                feasibility_margin: epsilon - mean,
                bound_margin: ONE_THIRD - bound,
            };
        }
        let (condition, excess) = if !chernoff.applies() {
            (Condition::ChernoffInapplicable, chernoff.alpha - 1.0)
        } else if chernoff.delta0 >= ONE_THIRD {
            (Condition::Chernoff, bound - ONE_THIRD)
        } else if cheb >= ONE_THIRD {
            (Condition::Chebyshev, bound - ONE_THIRD)
        } else {
            (Condition::Sum, bound - ONE_THIRD)
        };
        Verdict::NotCertified { condition, excess }
    }

    /// The verdict without its margins.
    pub fn kind(&self) -> VerdictKind {
        match self {
            Verdict::Certified { .. } => VerdictKind::Certified,
            Verdict::NotCertified { .. } => VerdictKind::NotCertified,
            Verdict::Infeasible { .. } => VerdictKind::Infeasible,
        }
    }
}

/// A verdict without margins: of one input, or of the network over all inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum VerdictKind {
    /// `"certified"`.
    #[serde(rename = "certified")]
    Certified,
    /// `"not certified"`.
    #[serde(rename = "not certified")]
    NotCertified,
    /// `"infeasible"`.
    #[serde(rename = "infeasible")]
    Infeasible,
}

impl VerdictKind {
    /// The word of SPEC §11: `certified`, `not certified` or `infeasible`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Certified => "certified",
            VerdictKind::NotCertified => "not certified",
            VerdictKind::Infeasible => "infeasible",
        }
    }

    /// The network's verdict over its inputs (SPEC §11): infeasible if any input is, else
    /// certified iff every input is (and there is at least one), else not certified.
    pub fn overall(verdicts: impl IntoIterator<Item = VerdictKind>) -> VerdictKind {
        let (mut any, mut all_certified, mut infeasible) = (false, true, false);
        for v in verdicts {
            any = true;
            infeasible |= v == VerdictKind::Infeasible;
            all_certified &= v == VerdictKind::Certified;
        }
        if infeasible {
            VerdictKind::Infeasible
        } else if any && all_certified {
            VerdictKind::Certified
        } else {
            VerdictKind::NotCertified
        }
    }
}

impl std::fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(alpha: f64, delta0: f64) -> Chernoff {
        Chernoff { alpha, delta0 }
    }

    #[test]
    fn rules_by_hand() {
        // δ₀ = 0.01, E = 0.001, Var = 1e-6, ε = 0.003: Chebyshev 0.25, bound 0.26 < 1/3;
        // margins ε − E = 0.002 and 1/3 − 0.26 = 0.073333.
        match Verdict::decide(ch(0.12, 0.01), 0.001, 1e-6, 0.003) {
            Verdict::Certified {
                feasibility_margin,
                bound_margin,
            } => {
                assert!((feasibility_margin - 0.002).abs() < 1e-15);
                assert!((bound_margin - (1.0 / 3.0 - 0.26)).abs() < 1e-12);
            }
            v => panic!("{v:?}"),
        }
        // Same with δ₀ = 0.1: bound 0.35 ≥ 1/3, each term below → Sum, excess 0.016667.
        match Verdict::decide(ch(0.12, 0.1), 0.001, 1e-6, 0.003) {
            Verdict::NotCertified { condition, excess } => {
                assert_eq!(condition, Condition::Sum);
                assert!((excess - (0.35 - 1.0 / 3.0)).abs() < 1e-12);
            }
            v => panic!("{v:?}"),
        }
        // Var = 2e-6: Chebyshev 0.5 alone ≥ 1/3.
        assert!(matches!(
            Verdict::decide(ch(0.12, 0.01), 0.001, 2e-6, 0.003),
            Verdict::NotCertified {
                condition: Condition::Chebyshev,
                ..
            }
        ));
        assert!(matches!(
            Verdict::decide(ch(0.12, 0.5), 0.001, 0.0, 0.003),
            Verdict::NotCertified {
                condition: Condition::Chernoff,
                ..
            }
        ));
        // α = 1.2: excess α − 1 = 0.2.
        match Verdict::decide(ch(1.2, 1.0), 0.001, 0.0, 0.003) {
            Verdict::NotCertified { condition, excess } => {
                assert_eq!(condition, Condition::ChernoffInapplicable);
                assert!((excess - 0.2).abs() < 1e-12);
            }
            v => panic!("{v:?}"),
        }
        // E = ε exactly is infeasible (excess 0); E = 0.004 > 0.003 by 0.001.
        assert_eq!(
            Verdict::decide(ch(0.12, 0.0), 0.003, 0.0, 0.003),
            Verdict::Infeasible { excess: 0.0 }
        );
        match Verdict::decide(ch(0.12, 0.0), 0.004, 0.0, 0.003) {
            Verdict::Infeasible { excess } => assert!((excess - 0.001).abs() < 1e-15),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn overall_rule() {
        use VerdictKind::*;
        assert_eq!(VerdictKind::overall([Certified, Certified]), Certified);
        assert_eq!(
            VerdictKind::overall([Certified, NotCertified]),
            NotCertified
        );
        assert_eq!(
            VerdictKind::overall([NotCertified, Infeasible, Certified]),
            Infeasible
        );
        assert_eq!(VerdictKind::overall([]), NotCertified);
        assert_eq!(NotCertified.as_str(), "not certified");
    }
}
