//! The (input, ε) pairs of `tail-bound`: the empirical tail of Δ on the loss beside the
//! Chebyshev term and the bound δ₀ + Var Δ/(ε − E Δ)² ([`input_tails`]), each pair's class
//! ([`PairClass`]) and the counts behind the verdict ([`summarise_pairs`], [`guarantee_holds`]).

use ftnn_certify::{
    certify, clopper_pearson_upper, monte_carlo_tail, Settings, VerdictKind, CP_CONFIDENCE,
};
use ftnn_model::{FailureVector, Inputs, Loss, Mlp};
use serde::{Deserialize, Serialize};

/// The empirical tail and the bounds of one input at one ε.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TailPoint {
    /// ε.
    pub epsilon: f64,
    /// Draws with Δ > ε.
    pub exceed: u64,
    /// P̂(Δ > ε).
    pub tail: f64,
    /// Clopper–Pearson lower bound (confidence 1 − 10⁻³).
    pub lower: f64,
    /// Clopper–Pearson upper bound (confidence 1 − 10⁻³).
    pub upper: f64,
    /// Var Δ/(ε − E Δ)², `None` when E Δ ≥ ε.
    pub chebyshev: Option<f64>,
    /// δ₀ + Chebyshev term, `None` when E Δ ≥ ε.
    pub bound: Option<f64>,
}

/// What one (input, ε) pair says about the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PairClass {
    /// E Δ ≥ ε: the bound says nothing.
    Infeasible,
    /// The bound is ≥ 1: true but empty.
    Trivial,
    /// The bound is at or above the empirical tail.
    Holds,
    /// The bound is below P̂ but not below its Clopper–Pearson lower bound.
    BelowEstimate,
    /// The bound is below the Clopper–Pearson lower bound: a significant violation.
    Violated,
}

impl TailPoint {
    /// The class of this pair for the paper's bound δ₀ + Chebyshev (module documentation).
    pub fn class(&self) -> PairClass {
        classify(self.tail, self.lower, self.bound)
    }
    /// The class of this pair for the Chebyshev term alone (b3's moments without δ₀).
    pub fn chebyshev_class(&self) -> PairClass {
        classify(self.tail, self.lower, self.chebyshev)
    }
}

/// The class of a pair from the empirical tail, its Clopper–Pearson lower bound and a bound
/// (`None`: E Δ ≥ ε).
pub fn classify(tail: f64, lower: f64, bound: Option<f64>) -> PairClass {
    match bound {
        None => PairClass::Infeasible,
        Some(b) if b >= 1.0 => PairClass::Trivial,
        Some(b) if b < lower => PairClass::Violated,
        Some(b) if b < tail => PairClass::BelowEstimate,
        Some(_) => PairClass::Holds,
    }
}

/// One Monte Carlo input: b3's moments, the certificate at ε and the tail curve.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputTail {
    /// Index in the training set.
    pub index: usize,
    /// b3 E Δ on the loss.
    pub mean: f64,
    /// b3 Var Δ on the loss.
    pub var: f64,
    /// The first-order verdict at ε.
    pub verdict: VerdictKind,
    /// P̂(Δ > ε) at the certificate's ε.
    pub tail_at_epsilon: f64,
    /// Its Clopper–Pearson upper bound; verified when below 1/3.
    pub upper_at_epsilon: f64,
    /// One point per ε of the grid.
    pub points: Vec<TailPoint>,
}

/// Counts of the pairs over the grid and the inputs, and the headline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViolationSummary {
    /// All pairs.
    pub pairs: usize,
    /// Pairs with E Δ ≥ ε.
    pub infeasible: usize,
    /// Pairs whose bound is ≥ 1.
    pub trivial: usize,
    /// Informative pairs (the others).
    pub informative: usize,
    /// Informative pairs with the bound below P̂.
    pub below_estimate: usize,
    /// Informative pairs with the bound below the Clopper–Pearson lower bound.
    pub violated: usize,
    /// violated / informative (NaN without informative pairs).
    pub violated_fraction: f64,
    /// Inputs with at least one violated pair.
    pub inputs_violated: usize,
    /// Largest P̂ / bound over the violated pairs (NaN without one).
    pub max_ratio: f64,
    /// Per ε of the grid, the fraction of informative pairs violated (NaN where none).
    pub fraction_by_epsilon: Vec<f64>,
}

/// The one-sided Clopper–Pearson lower bound at `confidence` from `k` of `n`: 1 − the upper
/// bound of the complementary count (0 when k = 0).
pub fn clopper_pearson_lower(k: u64, n: u64, confidence: f64) -> f64 {
    if k == 0 {
        0.0
    } else {
        1.0 - clopper_pearson_upper(n - k, n, confidence)
    }
}

/// The certificate of `net` on `x` at ε and, for every ε of `epsilons`, the Monte Carlo tail
/// (`repetitions` draws, the same `seed` at every ε) against the Chebyshev term and the bound.
#[allow(clippy::too_many_arguments)]
pub fn input_tails(
    net: &Mlp,
    p: &FailureVector,
    x: &Inputs,
    targets: &[f32],
    epsilon: f64,
    delta: f64,
    epsilons: &[f64],
    repetitions: usize,
    seed: u64,
) -> anyhow::Result<(f64, Vec<InputTail>)> {
    let settings = Settings {
        loss: Loss::Mse,
        epsilon,
        delta,
        verify: repetitions,
        seed,
    };
    let cert = certify(net, p, x, targets, &settings)?;
    let delta0 = cert.network.delta0;
    let mut curves: Vec<Vec<TailPoint>> = vec![Vec::new(); x.rows()];
    for &eps in epsilons {
        let tails = monte_carlo_tail(net, p, x, targets, Loss::Mse, eps, repetitions, seed)?;
        for (i, t) in tails.iter().enumerate() {
            let c = &cert.inputs[i];
            let chebyshev = ftnn_certify::chebyshev(c.mean, c.var, eps);
            curves[i].push(TailPoint {
                epsilon: eps,
                exceed: t.exceed,
                tail: t.tail,
                lower: clopper_pearson_lower(t.exceed, repetitions as u64, CP_CONFIDENCE),
                upper: t.upper,
                chebyshev,
                bound: chebyshev.map(|c| delta0 + c),
            });
        }
    }
    let inputs = cert
        .inputs
        .iter()
        .zip(curves)
        .enumerate()
        .map(|(i, (c, points))| {
            let e = c.empirical.expect("certify ran the Monte Carlo check");
            InputTail {
                index: i,
                mean: c.mean,
                var: c.var,
                verdict: c.verdict.kind(),
                tail_at_epsilon: e.tail,
                upper_at_epsilon: e.upper,
                points,
            }
        })
        .collect();
    Ok((delta0, inputs))
}

/// Counts the classes of every pair (module documentation).
pub fn summarise_pairs(inputs: &[InputTail], epsilons: &[f64]) -> ViolationSummary {
    summarise_by(inputs, epsilons, |pt| (pt.class(), pt.bound))
}

/// [`summarise_pairs`] for the Chebyshev term alone.
pub fn summarise_chebyshev(inputs: &[InputTail], epsilons: &[f64]) -> ViolationSummary {
    summarise_by(inputs, epsilons, |pt| (pt.chebyshev_class(), pt.chebyshev))
}

/// Counts the classes that `judge` gives every pair (with the bound it judged).
fn summarise_by(
    inputs: &[InputTail],
    epsilons: &[f64],
    judge: impl Fn(&TailPoint) -> (PairClass, Option<f64>),
) -> ViolationSummary {
    let mut s = ViolationSummary {
        pairs: 0,
        infeasible: 0,
        trivial: 0,
        informative: 0,
        below_estimate: 0,
        violated: 0,
        violated_fraction: f64::NAN,
        inputs_violated: 0,
        max_ratio: f64::NAN,
        fraction_by_epsilon: Vec::new(),
    };
    let mut per_eps = vec![(0usize, 0usize); epsilons.len()];
    for input in inputs {
        let mut any = false;
        for (j, pt) in input.points.iter().enumerate() {
            s.pairs += 1;
            let (class, bound) = judge(pt);
            match class {
                PairClass::Infeasible => s.infeasible += 1,
                PairClass::Trivial => s.trivial += 1,
                _ => {
                    s.informative += 1;
                    if let Some(c) = per_eps.get_mut(j) {
                        c.0 += 1;
                    }
                }
            }
            if matches!(class, PairClass::BelowEstimate | PairClass::Violated) {
                s.below_estimate += 1;
            }
            if class == PairClass::Violated {
                s.violated += 1;
                any = true;
                if let Some(c) = per_eps.get_mut(j) {
                    c.1 += 1;
                }
                let ratio = pt.tail / bound.unwrap_or(f64::NAN);
                if s.max_ratio.is_nan() || ratio > s.max_ratio {
                    s.max_ratio = ratio;
                }
            }
        }
        s.inputs_violated += usize::from(any);
    }
    if s.informative > 0 {
        s.violated_fraction = s.violated as f64 / s.informative as f64;
    }
    s.fraction_by_epsilon = per_eps
        .iter()
        .map(|&(n, v)| if n > 0 { v as f64 / n as f64 } else { f64::NAN })
        .collect();
    s
}

/// Whether the guarantee holds by the rule of the module documentation.
pub fn guarantee_holds(s: &ViolationSummary, tolerance: f64) -> bool {
    s.informative > 0 && s.violated_fraction <= tolerance
}
