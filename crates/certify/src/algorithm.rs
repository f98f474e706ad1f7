//! Algorithm 1 of SPEC §6: grow and regularize a network until its tail guarantee holds.
//!
//! The network is 784 → N → 100 → 10 (sigmoid, MSE on one-hot targets) with crashes at hidden
//! layer 1 with probability p; Δ is the change of the per-example MSE on one training example.
//! Every iteration trains a fresh network (Adam, lr 1e-3, batch 1000, 30 epochs in the paper's
//! set-up, SPEC §15) with the objective
//!
//! ```text
//! MSE + balanced(μ) + vardelta(λ, p at layer 1) + l1(ν) + continuous(ψ_d, ψ_s)     (ν = 0)
//! ```
//!
//! then measures q (balancedness of W¹), δ₀ (Chernoff), D (the derivative part of smooth(W¹)),
//! E Δ and Var Δ (b3 on the loss) and the Monte Carlo tail ([`crate::certify`]), and
//! [`decide`]s, **in the order of SPEC §6**:
//!
//! | # | condition | action |
//! |---|---|---|
//! | 1 | q ≤ 0.01 | μ ×10, retry |
//! | 2 | δ₀ > 1/6 | N += 100, retry |
//! | 3 | D ≥ 100 | ψ_d, ψ_s ×10, retry |
//! | 4 | E Δ ≥ ε | stop: infeasible |
//! | 5 | Var Δ/(ε − E Δ)² ≥ 1/3 | λ ×10 and N += 100, retry |
//! | 6 | δ₀ + Var Δ/(ε − E Δ)² ≥ 1/3 | λ ×10 and N += 100, retry (ftnn) |
//! | 7 | Monte Carlo upper bound u ≥ 1/3 (not verified) | λ ×10 and N += 100, retry (ftnn) |
//! | 8 | otherwise | stop: certified and verified |
//!
//! Rules 1–5 and the final return are SPEC §6 verbatim. Rules 6 and 7 are ftnn's: SPEC's
//! rules 2 and 5 let δ₀ + Chebyshev reach 1/6 + 1/3 = 1/2, which is not the certificate's
//! condition (bound < 1/3, [`crate::Verdict`]), and SPEC's "verify by Monte Carlo that the
//! empirical P(Δ > ε) < 1/3" says what to check but not what to do when the check fails. Both
//! failures are a tail that is too heavy, so they take rule 5's remedy (a variance penalty ten
//! times stronger and a wider first layer). The loop therefore stops only on a network that
//! `ftnn certify` certifies **and** the Monte Carlo check verifies, on a clear infeasible
//! verdict, or at the iteration limit.
//!
//! Everything is seeded: the same settings give the same iterations, bit for bit, so a run
//! resumed from its history ([`State::next`] of the last record) continues exactly as the
//! uninterrupted run would. μ, λ and ψ are kept as integer numbers of ×10 steps
//! ([`State`]), so resuming never depends on parsing a float back from text.

use crate::certificate::{certify, Settings as CertifySettings};
use crate::error::CertifyError;
use crate::quantities::ONE_THIRD;
use crate::verdict::VerdictKind;
use ftnn_model::{FailureVector, Inputs, Loss, Mlp};
use ftnn_train::{
    BatchProgress, Dataset, Optimizer, Regularizer, TrainConfig, TrainError, Trainer,
};
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The thresholds of the decision order (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Rule 1: q ≤ `q_min` raises μ (0.01).
    pub q_min: f64,
    /// Rule 2: δ₀ > `delta0_max` widens the first layer (1/6).
    pub delta0_max: f64,
    /// Rule 3: D ≥ `d_max` raises ψ (100).
    pub d_max: f64,
    /// Rule 5: Var Δ/(ε − E Δ)² ≥ `chebyshev_max` raises λ and widens (1/3).
    pub chebyshev_max: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            q_min: 0.01,
            delta0_max: 1.0 / 6.0,
            d_max: 100.0,
            chebyshev_max: ONE_THIRD,
        }
    }
}

/// The regularization coefficients and first-layer width at the start (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Start {
    /// N at the start (1).
    pub n: usize,
    /// μ of `balanced` at the start (1e-10).
    pub mu: f64,
    /// λ of `vardelta` at the start (1e-10).
    pub lambda: f64,
    /// ψ_d of `continuous` at the start (1e-8).
    pub psi_d: f64,
    /// ψ_s of `continuous` at the start (1e-6).
    pub psi_s: f64,
}

impl Default for Start {
    fn default() -> Self {
        Self {
            n: 1,
            mu: 1e-10,
            lambda: 1e-10,
            psi_d: 1e-8,
            psi_s: 1e-6,
        }
    }
}

/// Everything that defines a run of Algorithm 1 (the paper's values by default, SPEC §6, §15).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Width of the second hidden layer (100).
    pub hidden2: usize,
    /// Crash probability of hidden layer 1 (0.01).
    pub p: f64,
    /// ε of the guarantee (0.009).
    pub epsilon: f64,
    /// δ of the guarantee (1e-5); it sets the number of copies R.
    pub delta: f64,
    /// Training epochs per iteration (30).
    pub epochs: usize,
    /// Mini-batch size (1000).
    pub batch_size: usize,
    /// Monte Carlo draws of the check (10 000); must be ≥ 1.
    pub verify: usize,
    /// Seed of every training run and of the Monte Carlo check.
    pub seed: u64,
    /// Width added by rules 2, 5, 6 and 7 (100).
    pub n_step: usize,
    /// The starting point.
    pub start: Start,
    /// The thresholds of the decision order.
    pub thresholds: Thresholds,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            hidden2: 100,
            p: 0.01,
            epsilon: 0.009,
            delta: 1e-5,
            epochs: 30,
            batch_size: 1000,
            verify: 10_000,
            seed: 0,
            n_step: 100,
            start: Start::default(),
            thresholds: Thresholds::default(),
        }
    }
}

impl Settings {
    /// Checks every field; the message names the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(AlgorithmError::Settings(m));
        crate::quantities::check_epsilon(self.epsilon)?;
        crate::quantities::check_delta(self.delta)?;
        let alpha = crate::quantities::CHERNOFF_FACTOR_LN.exp() * self.p;
        if !(self.p > 0.0 && alpha < 1.0) {
            return bad(format!(
                "p = {} must be in (0, e^-2.5 ≈ 0.0821): the Chernoff step needs α = e^2.5·p < 1, \
                 otherwise δ₀ = 1 and no width certifies",
                self.p
            ));
        }
        if self.hidden2 == 0 || self.start.n == 0 || self.n_step == 0 {
            return bad("the widths (start N, N step, second hidden layer) must be ≥ 1".into());
        }
        let t = &self.thresholds;
        for (name, v) in [
            ("q_min", t.q_min),
            ("delta0_max", t.delta0_max),
            ("d_max", t.d_max),
            ("chebyshev_max", t.chebyshev_max),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("threshold {name} = {v} must be finite and ≥ 0"));
            }
        }
        if self.epochs == 0 || self.batch_size == 0 {
            return bad("epochs and batch size must be ≥ 1".into());
        }
        if self.verify == 0 {
            return bad(
                "the Monte Carlo check needs at least one draw: Algorithm 1 stops only on a \
                 verified network"
                    .into(),
            );
        }
        let s = &self.start;
        for (name, v) in [
            ("μ", s.mu),
            ("λ", s.lambda),
            ("ψ_d", s.psi_d),
            ("ψ_s", s.psi_s),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{name} = {v} must be finite and ≥ 0"));
            }
        }
        Ok(())
    }

    /// The number of copies R = ⌈2 ln(1/δ)/ln 3⌉ of the median-of-R amplification.
    pub fn copies(&self) -> Result<usize> {
        Ok(crate::quantities::copies(self.delta)?)
    }
}

/// Where the search stands before an iteration: N and how many ×10 steps μ, λ and ψ have
/// taken. Integers, so a resumed run continues exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Width N of hidden layer 1.
    pub n: usize,
    /// μ = start μ · 10^mu_steps.
    pub mu_steps: u32,
    /// λ = start λ · 10^lambda_steps.
    pub lambda_steps: u32,
    /// ψ = start ψ · 10^psi_steps (both ψ_d and ψ_s).
    pub psi_steps: u32,
}

/// The coefficients of one iteration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    /// Width N of hidden layer 1.
    pub n: usize,
    /// μ of `balanced`.
    pub mu: f64,
    /// λ of `vardelta`.
    pub lambda: f64,
    /// ψ_d of `continuous`.
    pub psi_d: f64,
    /// ψ_s of `continuous`.
    pub psi_s: f64,
}

impl State {
    /// The starting state.
    pub fn start(settings: &Settings) -> Self {
        Self {
            n: settings.start.n,
            mu_steps: 0,
            lambda_steps: 0,
            psi_steps: 0,
        }
    }

    /// The coefficients of this state.
    pub fn hyper(&self, settings: &Settings) -> Hyper {
        let s = &settings.start;
        Hyper {
            n: self.n,
            mu: times_ten_to(s.mu, self.mu_steps),
            lambda: times_ten_to(s.lambda, self.lambda_steps),
            psi_d: times_ten_to(s.psi_d, self.psi_steps),
            psi_s: times_ten_to(s.psi_s, self.psi_steps),
        }
    }

    /// The state after `action` (a stop leaves it unchanged).
    pub fn next(&self, action: Action, n_step: usize) -> Self {
        let mut s = *self;
        match action {
            Action::RaiseMu => s.mu_steps += 1,
            Action::Widen => s.n += n_step,
            Action::RaisePsi => s.psi_steps += 1,
            Action::RaiseLambdaAndWiden => {
                s.lambda_steps += 1;
                s.n += n_step;
            }
            Action::StopInfeasible | Action::StopCertified => {}
        }
        s
    }
}

/// x · 10^k as the double nearest the decimal number (1e-6 · 10 is 1e-5, not
/// 9.999999999999999e-6): the decimal exponent of x's shortest representation is shifted by k.
pub fn times_ten_to(x: f64, k: u32) -> f64 {
    let text = format!("{x:e}");
    match text.split_once('e') {
        Some((mantissa, exp)) if x.is_finite() && x != 0.0 => {
            let exp: i64 = exp.parse().expect("Rust's {:e} writes an integer exponent");
            format!("{mantissa}e{}", exp + k as i64)
                .parse()
                .expect("a valid float literal")
        }
        _ => x,
    }
}

/// What an iteration measured, the input of [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measurements {
    /// Balancedness q of W¹.
    pub q: f64,
    /// The Chernoff term δ₀.
    pub delta0: f64,
    /// D = derivative part of smooth(W¹) (SPEC §7, Eq. 1).
    pub d: f64,
    /// E Δ from b3 on the loss.
    pub mean: f64,
    /// Var Δ from b3 on the loss.
    pub var: f64,
    /// Whether the Monte Carlo check verified the tail (Clopper–Pearson upper bound < 1/3).
    pub verified: bool,
}

/// Which rule of the decision order fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// 1: q ≤ 0.01.
    Unbalanced,
    /// 2: δ₀ > 1/6.
    Chernoff,
    /// 3: D ≥ 100.
    Rough,
    /// 4: E Δ ≥ ε.
    Infeasible,
    /// 5: Var Δ/(ε − E Δ)² ≥ 1/3.
    Chebyshev,
    /// 6 (ftnn): δ₀ + Var Δ/(ε − E Δ)² ≥ 1/3.
    Sum,
    /// 7 (ftnn): the Monte Carlo check failed.
    NotVerified,
    /// 8: every condition holds.
    Certified,
}

impl Rule {
    /// The condition, for humans.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::Unbalanced => "q ≤ 0.01",
            Rule::Chernoff => "δ₀ > 1/6",
            Rule::Rough => "D ≥ 100",
            Rule::Infeasible => "E Δ ≥ ε",
            Rule::Chebyshev => "Var Δ/(ε − E Δ)² ≥ 1/3",
            Rule::Sum => "δ₀ + Var Δ/(ε − E Δ)² ≥ 1/3",
            Rule::NotVerified => "Monte Carlo upper bound u ≥ 1/3",
            Rule::Certified => "certified and verified",
        }
    }
}

/// What the loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// μ ×10, retry.
    RaiseMu,
    /// N += 100, retry.
    Widen,
    /// ψ_d, ψ_s ×10, retry.
    RaisePsi,
    /// λ ×10 and N += 100, retry.
    RaiseLambdaAndWiden,
    /// Stop: E Δ ≥ ε, no width or regularization of this loop helps.
    StopInfeasible,
    /// Stop: the network is certified and verified.
    StopCertified,
}

impl Action {
    /// Whether the loop ends here.
    pub fn is_stop(self) -> bool {
        matches!(self, Action::StopInfeasible | Action::StopCertified)
    }

    /// The action, for humans, with the width step (100 in SPEC §6).
    pub fn describe(self, n_step: usize) -> String {
        match self {
            Action::RaiseMu => "μ ×10".into(),
            Action::Widen => format!("N += {n_step}"),
            Action::RaisePsi => "ψ ×10".into(),
            Action::RaiseLambdaAndWiden => format!("λ ×10, N += {n_step}"),
            Action::StopInfeasible => "stop: infeasible".into(),
            Action::StopCertified => "stop: certified".into(),
        }
    }
}

/// The decision of SPEC §6 in its order (module documentation): the first rule whose
/// condition holds, and its action. A pure function of the measurements.
pub fn decide(m: &Measurements, epsilon: f64, t: &Thresholds) -> (Rule, Action) {
    if m.q <= t.q_min {
        return (Rule::Unbalanced, Action::RaiseMu);
    }
    if m.delta0 > t.delta0_max {
        return (Rule::Chernoff, Action::Widen);
    }
    if m.d >= t.d_max {
        return (Rule::Rough, Action::RaisePsi);
    }
    if m.mean >= epsilon {
        return (Rule::Infeasible, Action::StopInfeasible);
    }
    let chebyshev = m.var.max(0.0) / (epsilon - m.mean).powi(2);
    if chebyshev >= t.chebyshev_max {
        return (Rule::Chebyshev, Action::RaiseLambdaAndWiden);
    }
    if m.delta0 + chebyshev >= ONE_THIRD {
        return (Rule::Sum, Action::RaiseLambdaAndWiden);
    }
    if !m.verified {
        return (Rule::NotVerified, Action::RaiseLambdaAndWiden);
    }
    (Rule::Certified, Action::StopCertified)
}

/// One completed iteration: one line of the history file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// 1-based iteration.
    pub iteration: usize,
    /// Width N of hidden layer 1.
    pub n: usize,
    /// μ of `balanced`.
    pub mu: f64,
    /// λ of `vardelta`.
    pub lambda: f64,
    /// ψ_d of `continuous`.
    pub psi_d: f64,
    /// ψ_s of `continuous`.
    pub psi_s: f64,
    /// The state these coefficients came from (×10 steps as integers).
    pub state: State,
    /// Objective (loss + regularization) averaged over the last epoch's batches.
    pub train_objective: f64,
    /// Validation MSE after the last epoch.
    pub valid_loss: f64,
    /// Validation accuracy after the last epoch.
    pub valid_accuracy: f64,
    /// Balancedness q of W¹.
    pub q: f64,
    /// The Chernoff term δ₀.
    pub delta0: f64,
    /// D = derivative part of smooth(W¹).
    pub d: f64,
    /// E Δ (b3 on the loss).
    pub mean: f64,
    /// Var Δ (b3 on the loss).
    pub var: f64,
    /// Var Δ/(ε − E Δ)², `None` when E Δ ≥ ε.
    pub chebyshev: Option<f64>,
    /// δ₀ + Chebyshev, `None` when E Δ ≥ ε.
    pub bound: Option<f64>,
    /// The certificate's first-order verdict (`ftnn certify`).
    pub verdict: VerdictKind,
    /// Empirical P̂(Δ > ε) from `verify` draws.
    pub tail: f64,
    /// Its standard error.
    pub stderr: f64,
    /// Its Clopper–Pearson upper bound u (confidence 1 − 10⁻³).
    pub upper: f64,
    /// u < 1/3.
    pub verified: bool,
    /// The rule that fired.
    pub rule: Rule,
    /// The action taken.
    pub action: Action,
}

impl Record {
    /// The measurements the decision was made on.
    pub fn measurements(&self) -> Measurements {
        Measurements {
            q: self.q,
            delta0: self.delta0,
            d: self.d,
            mean: self.mean,
            var: self.var,
            verified: self.verified,
        }
    }
}

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Certified and verified by the last iteration.
    Certified,
    /// E Δ ≥ ε in the last iteration.
    Infeasible,
    /// The iteration limit was reached first.
    IterationLimit,
}

/// The data of a run.
pub struct Data<'a> {
    /// The training set (784 inputs, 10 one-hot targets).
    pub train: &'a Dataset,
    /// The validation set.
    pub valid: &'a Dataset,
    /// The example whose loss change Δ is certified, one row.
    pub example: &'a Inputs,
    /// Its target (one-hot).
    pub target: &'a [f32],
}

/// Callbacks of [`run`].
pub trait Observer {
    /// After every mini-batch of iteration `iteration`.
    fn batch(&mut self, _iteration: usize, _progress: BatchProgress) {}
    /// Before the training of an iteration starts.
    fn iteration_start(&mut self, _iteration: usize, _hyper: &Hyper) {}
    /// After an iteration, with its network; an error stops the run (e.g. it cannot be saved).
    fn iteration_done(
        &mut self,
        record: &Record,
        net: &Mlp,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// Errors of Algorithm 1.
#[derive(Debug, thiserror::Error)]
pub enum AlgorithmError {
    /// Invalid settings.
    #[error("invalid Algorithm 1 settings: {0}")]
    Settings(String),
    /// A history that cannot be resumed.
    #[error("cannot resume: {0}")]
    Resume(String),
    /// Training failed (or was interrupted).
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The certificate failed.
    #[error(transparent)]
    Certify(#[from] CertifyError),
    /// The observer refused an iteration.
    #[error("{0}")]
    Observer(Box<dyn std::error::Error + Send + Sync>),
}

/// Result alias of Algorithm 1.
pub type Result<T> = std::result::Result<T, AlgorithmError>;

/// The failure vector of the 4-layer network: p at hidden layer 1.
pub fn failure_vector(p: f64) -> FailureVector {
    FailureVector::new(vec![0.0, p, 0.0, 0.0]).expect("p was validated")
}

/// The training configuration of one iteration (SPEC §6, §15): 784 → N → hidden2 → 10 sigmoid,
/// MSE, Adam (lr 1e-3), `balanced(μ)`, `vardelta(λ, p)` at layer 1, `continuous(ψ_d, ψ_s)`
/// (`l1(ν)` with ν = 0 is left out: it adds nothing).
pub fn train_config(settings: &Settings, hyper: &Hyper, n_in: usize, n_out: usize) -> TrainConfig {
    TrainConfig::new(vec![n_in, hyper.n, settings.hidden2, n_out])
        .loss(Loss::Mse)
        .optimizer(Optimizer::adam())
        .epochs(settings.epochs)
        .batch_size(settings.batch_size)
        .seed(settings.seed)
        .regularizer(Regularizer::Balanced { mu: hyper.mu })
        .regularizer(Regularizer::VarDelta {
            lambda: hyper.lambda,
            p: settings.p,
            layer: 1,
        })
        .regularizer(Regularizer::Continuous {
            psi_d: hyper.psi_d,
            psi_s: hyper.psi_s,
        })
}

/// D = derivative part of smooth(W¹) (SPEC §6, §7), W¹ = the weights into hidden layer 1.
pub fn derivative_part(net: &Mlp) -> f64 {
    let w1 = &net.layers()[0];
    let w: Vec<f64> = w1.weight().iter().map(|&v| v as f64).collect();
    ftnn_continuity::smooth_parts_f64(&w, w1.n_out(), w1.n_in()).0
}

/// Trains, measures and decides one iteration from `state`.
pub fn iteration(
    settings: &Settings,
    data: &Data<'_>,
    iteration: usize,
    state: State,
    interrupt: Option<Arc<AtomicBool>>,
    observer: &mut dyn Observer,
) -> Result<(Record, Mlp)> {
    let hyper = state.hyper(settings);
    observer.iteration_start(iteration, &hyper);
    let config = train_config(settings, &hyper, data.train.n_in(), data.train.n_out());
    let mut trainer = Trainer::new(config)?;
    if let Some(flag) = interrupt {
        trainer = trainer.with_interrupt(flag);
    }
    let mut last = None;
    for e in 0..settings.epochs {
        // Only the last epoch is evaluated on the validation set.
        let valid = (e + 1 == settings.epochs).then_some(data.valid);
        last = Some(trainer.epoch(data.train, valid, &mut |b| observer.batch(iteration, b))?);
    }
    let last = last.expect("epochs ≥ 1");
    let valid = last.valid.expect("the last epoch is evaluated");
    let net = trainer.model()?;
    let p = failure_vector(settings.p);
    let cert = certify(
        &net,
        &p,
        data.example,
        data.target,
        &CertifySettings {
            loss: Loss::Mse,
            epsilon: settings.epsilon,
            delta: settings.delta,
            verify: settings.verify,
            seed: settings.seed,
        },
    )?;
    let input = &cert.inputs[0];
    let empirical = input.empirical.expect("verify ≥ 1 was validated");
    let measurements = Measurements {
        q: cert.network.q,
        delta0: cert.network.delta0,
        d: derivative_part(&net),
        mean: input.mean,
        var: input.var,
        verified: empirical.verified,
    };
    let (rule, action) = decide(&measurements, settings.epsilon, &settings.thresholds);
    let record = Record {
        iteration,
        n: hyper.n,
        mu: hyper.mu,
        lambda: hyper.lambda,
        psi_d: hyper.psi_d,
        psi_s: hyper.psi_s,
        state,
        train_objective: last.objective,
        valid_loss: valid.loss,
        valid_accuracy: valid.accuracy.unwrap_or(f64::NAN),
        q: measurements.q,
        delta0: measurements.delta0,
        d: measurements.d,
        mean: measurements.mean,
        var: measurements.var,
        chebyshev: input.chebyshev,
        bound: input.bound,
        verdict: input.verdict.kind(),
        tail: empirical.tail,
        stderr: empirical.stderr,
        upper: empirical.upper,
        verified: empirical.verified,
        rule,
        action,
    };
    Ok((record, net))
}

/// Checks that `history` is a run of these settings that can be continued: iterations
/// 1, 2, … in order, each state the successor of the one before. Returns the state of the
/// next iteration, or `None` when the last record stopped the loop.
pub fn resume_state(settings: &Settings, history: &[Record]) -> Result<Option<State>> {
    let mut state = State::start(settings);
    for (i, r) in history.iter().enumerate() {
        if r.iteration != i + 1 {
            return Err(AlgorithmError::Resume(format!(
                "record {} of the history is iteration {}, expected {}",
                i + 1,
                r.iteration,
                i + 1
            )));
        }
        if r.state != state {
            return Err(AlgorithmError::Resume(format!(
                "iteration {} ran from {:?}, but the decision of the iteration before leads to {:?}",
                r.iteration, r.state, state
            )));
        }
        if r.action.is_stop() && i + 1 != history.len() {
            return Err(AlgorithmError::Resume(format!(
                "iteration {} stopped the loop but more iterations follow it",
                r.iteration
            )));
        }
        state = state.next(r.action, settings.n_step);
    }
    Ok(match history.last() {
        Some(r) if r.action.is_stop() => None,
        _ => Some(state),
    })
}

/// How a finished history ends.
pub fn outcome(history: &[Record]) -> Outcome {
    match history.last().map(|r| r.action) {
        Some(Action::StopCertified) => Outcome::Certified,
        Some(Action::StopInfeasible) => Outcome::Infeasible,
        _ => Outcome::IterationLimit,
    }
}

/// Runs Algorithm 1 until it stops or `max_iterations` iterations exist in total, continuing
/// after the records of `history` (empty for a fresh run). Every new record is appended to
/// `history` after the observer accepted it.
pub fn run(
    settings: &Settings,
    data: &Data<'_>,
    history: &mut Vec<Record>,
    max_iterations: usize,
    interrupt: Option<Arc<AtomicBool>>,
    observer: &mut dyn Observer,
) -> Result<Outcome> {
    settings.validate()?;
    let Some(mut state) = resume_state(settings, history)? else {
        return Ok(outcome(history));
    };
    while history.len() < max_iterations {
        let k = history.len() + 1;
        let (record, net) = iteration(settings, data, k, state, interrupt.clone(), observer)?;
        observer
            .iteration_done(&record, &net)
            .map_err(AlgorithmError::Observer)?;
        state = state.next(record.action, settings.n_step);
        let stop = record.action.is_stop();
        history.push(record);
        if stop {
            break;
        }
    }
    Ok(outcome(history))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_of_state() {
        let s = Settings::default();
        let st = State {
            n: 201,
            mu_steps: 2,
            lambda_steps: 4,
            psi_steps: 4,
        };
        let h = st.hyper(&s);
        assert_eq!(h.n, 201);
        assert!((h.mu / 1e-8 - 1.0).abs() < 1e-12);
        assert!((h.lambda / 1e-6 - 1.0).abs() < 1e-12);
        assert!((h.psi_d / 1e-4 - 1.0).abs() < 1e-12);
        assert!((h.psi_s / 1e-2 - 1.0).abs() < 1e-12);
        assert_eq!(times_ten_to(1e-6, 1), 1e-5);
        assert_eq!(times_ten_to(1e-10, 4), 1e-6);
        assert_eq!(times_ten_to(2.5e-3, 2), 0.25);
        assert_eq!(times_ten_to(0.0, 3), 0.0);
        assert_eq!(times_ten_to(7.0, 0), 7.0);
    }
}
