//! `the-algorithm` — Algorithm 1 of SPEC §6 on MNIST (original notebook `TheAlgorithm.ipynb`).
//!
//! 784 → N → 100 → 10 sigmoid networks, crashes with p = 0.01 at hidden layer 1, target
//! P(Δ > ε) ≤ δ with ε = 0.009, δ = 1e-5 and Δ the change of the MSE of training example 0.
//! Every iteration trains a fresh network (Adam lr 1e-3, batch 1000, 30 epochs in the paper's
//! set-up, SPEC §15) with MSE + balanced(μ) + vardelta(λ, p) + continuous(ψ_d, ψ_s) (SPEC §7),
//! measures q, δ₀, D, E Δ, Var Δ (b3 on the loss) and the Monte Carlo tail (10⁴ draws), and
//! takes the decision of SPEC §6. All of it is `ftnn_certify::algorithm` — this module only
//! runs [`algorithm::iteration`] once per lab step, so that an interrupted run resumes at its
//! last completed iteration ([`algorithm::resume_state`] checks the stored history) with the
//! same numbers as an uninterrupted one.
//!
//! **D as the original computed it.** The notebook's `continuity(exp)` calls
//! `Continuous(1, 1)` on the first kernel, i.e. `smoothness_scale_free(Wᵀ)` of
//! `fault_tolerance/continuity.py`: the mean over the four derivative stencils of
//! Σ_j Σ_i |(c ⋆ W_{·j})_i|, convolved along the N neurons, **not normalised** by N or by the
//! 784 inputs — the same D as SPEC §7 and `ftnn_certify::algorithm::derivative_part`, with the
//! same threshold 100. Its log shows D = 4446.5 at N = 101 before ψ grew (the weights of the
//! always-black MNIST pixels keep their random initial values, Σ|W_{i+1,j} − W_ij| ≈ 40 N),
//! and the rule D ≥ 100 firing four times, until ψ = (1e-4, 1e-2) brought D to 66.9. So every
//! profile keeps D and `d_max = 100` unchanged.
//!
//! Verdicts ([`verdict`]) are fixed here, before any run; the report ([`report`]) prints our
//! trace beside the paper's.

pub mod report;
pub mod verdict;

use crate::common::mnist::{DataParams, LazyMnist};
use ftnn_certify::algorithm::{
    self, AlgorithmError, Data, Hyper, Observer, Record, Settings, Start, Thresholds,
};
use ftnn_lab::{Context, Csv, Experiment, Outcome, Profile, ReportSection, Stored};
use ftnn_model::{Inputs, Mlp};
use ftnn_train::BatchProgress;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The `the-algorithm` experiment.
pub struct TheAlgorithm;

/// Parameters of `the-algorithm`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Everything that defines the loop (network, p, ε, δ, epochs, batch, Monte Carlo draws,
    /// seed, width step, start, thresholds).
    pub settings: Settings,
    /// Training examples: the first n of the 60 000 (all when `None`).
    pub train_examples: Option<usize>,
    /// Validation examples: the first n of the 10 000 test images (all when `None`).
    pub valid_examples: Option<usize>,
    /// The training example whose Δ is certified (the paper: x_train[0]).
    pub example: usize,
    /// The loop stops after this many iterations at the latest.
    pub max_iterations: usize,
}

/// Bad parameters of `the-algorithm`.
#[derive(Debug)]
pub enum ParamsError {
    /// The settings of Algorithm 1 are invalid.
    Settings(AlgorithmError),
    /// `max_iterations` is 0.
    NoIterations,
    /// A data-set size is 0.
    EmptyData(&'static str),
    /// The certified example is not among the training examples.
    Example {
        /// Its index.
        example: usize,
        /// The number of training examples.
        train: usize,
    },
}

impl fmt::Display for ParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Settings(e) => write!(f, "{e}"),
            Self::NoIterations => f.write_str("max_iterations must be ≥ 1"),
            Self::EmptyData(what) => write!(f, "{what} must be ≥ 1 when given"),
            Self::Example { example, train } => write!(
                f,
                "example {example} is not among the {train} training examples"
            ),
        }
    }
}

impl std::error::Error for ParamsError {}

impl Params {
    /// Checks the parameters without loading any data.
    pub fn validate(&self) -> Result<(), ParamsError> {
        self.settings.validate().map_err(ParamsError::Settings)?;
        if self.max_iterations == 0 {
            return Err(ParamsError::NoIterations);
        }
        if self.train_examples == Some(0) {
            return Err(ParamsError::EmptyData("train_examples"));
        }
        if self.valid_examples == Some(0) {
            return Err(ParamsError::EmptyData("valid_examples"));
        }
        let train = self.train_examples.unwrap_or(60_000);
        if self.example >= train {
            return Err(ParamsError::Example {
                example: self.example,
                train,
            });
        }
        Ok(())
    }

    /// Adam steps per iteration (batches per epoch × epochs).
    pub fn steps_per_iteration(&self) -> usize {
        let n = self.train_examples.unwrap_or(60_000);
        n.div_ceil(self.settings.batch_size.min(n)) * self.settings.epochs
    }
}

/// One completed iteration as stored by its lab step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationStep {
    /// The record of `ftnn_certify::algorithm`.
    pub record: Record,
    /// Wall-clock seconds of training, measuring and deciding (not part of the numbers that
    /// must agree between runs).
    pub seconds: f64,
}

/// The stored `results`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// Every iteration, in order.
    pub iterations: Vec<IterationStep>,
    /// The number of copies R = ⌈2 ln(1/δ)/ln 3⌉ of the median-of-R amplification.
    pub copies: usize,
    /// Training examples used.
    pub train_rows: usize,
    /// Validation examples used.
    pub valid_rows: usize,
}

impl Results {
    /// The records alone.
    pub fn history(&self) -> Vec<Record> {
        self.iterations.iter().map(|s| s.record.clone()).collect()
    }
    /// How the loop ended.
    pub fn outcome(&self) -> algorithm::Outcome {
        algorithm::outcome(&self.history())
    }
}

/// The paper's settings (SPEC §6, §15) with `epochs` epochs per iteration.
fn settings(epochs: usize, verify: usize) -> Settings {
    Settings {
        hidden2: 100,
        p: 0.01,
        epsilon: 0.009,
        delta: 1e-5,
        epochs,
        batch_size: 1000,
        verify,
        seed: 0,
        n_step: 100,
        start: Start::default(),
        thresholds: Thresholds::default(),
    }
}

impl TheAlgorithm {
    /// The parameters of the paper's run (the `paper` profile): the set-up every other
    /// profile is compared with.
    pub fn paper_params() -> Params {
        Params {
            settings: settings(30, 10_000),
            train_examples: None,
            valid_examples: None,
            example: 0,
            max_iterations: 20,
        }
    }
}

impl Experiment for TheAlgorithm {
    type Params = Params;
    type Results = Results;

    fn id(&self) -> &'static str {
        "the-algorithm"
    }
    fn title(&self) -> &'static str {
        "Algorithm 1: grow and regularize an MNIST network until P(Δ > ε) ≤ δ is certified"
    }
    fn origin(&self) -> &'static str {
        "TheAlgorithm.ipynb"
    }
    fn params(&self, profile: Profile) -> Params {
        match profile {
            // Seconds: 1 000 examples, 1 epoch (1 Adam step), 2 iterations, 2 000 draws.
            Profile::Smoke => Params {
                settings: settings(1, 2_000),
                train_examples: Some(1_000),
                valid_examples: Some(1_000),
                example: 0,
                max_iterations: 2,
            },
            // Minutes: 10 000 examples × 8 epochs = 80 Adam steps per iteration (the paper:
            // 1 800); same optimizer, batch, definitions, thresholds and 10⁴ draws.
            Profile::Quick => Params {
                settings: settings(8, 10_000),
                train_examples: Some(10_000),
                valid_examples: None,
                example: 0,
                max_iterations: 12,
            },
            Profile::Paper => Self::paper_params(),
        }
    }

    fn run(&self, ctx: &Context, params: &Params) -> anyhow::Result<Outcome<Results>> {
        params.validate()?;
        let copies = params.settings.copies()?;
        let data = LazyMnist::new(DataParams {
            train_examples: params.train_examples,
            test_examples: params.valid_examples,
            bound_inputs: 1,
        });
        let mut iterations: Vec<IterationStep> = Vec::new();
        loop {
            let history: Vec<Record> = iterations.iter().map(|s| s.record.clone()).collect();
            let Some(state) = algorithm::resume_state(&params.settings, &history)? else {
                break;
            };
            if iterations.len() >= params.max_iterations {
                break;
            }
            let k = iterations.len() + 1;
            let step = ctx.step(&format!("iteration-{k:03}"), || {
                let d = data.get()?;
                anyhow::ensure!(
                    params.example < d.train.rows(),
                    ParamsError::Example {
                        example: params.example,
                        train: d.train.rows()
                    }
                );
                let example =
                    Inputs::new(d.train.input(params.example).to_vec(), 1, d.train.n_in())?;
                let target = d.train.target(params.example).to_vec();
                let data = Data {
                    train: &d.train,
                    valid: &d.test,
                    example: &example,
                    target: &target,
                };
                let start = std::time::Instant::now();
                let mut obs = Progress {
                    ctx,
                    inc: None,
                    finish: None,
                    total: params.steps_per_iteration() as u64,
                };
                let done = algorithm::iteration(&params.settings, &data, k, state, None, &mut obs);
                obs.finish();
                let (record, _net) = done?;
                ctx.println(&format!(
                    "  iteration {k}: N = {}, D = {:.1}, rule {} → {}",
                    record.n,
                    record.d,
                    record.rule.describe(),
                    record.action.describe(params.settings.n_step)
                ));
                Ok(IterationStep {
                    record,
                    seconds: start.elapsed().as_secs_f64(),
                })
            })?;
            iterations.push(step);
        }
        let (train_rows, valid_rows) = (
            params.train_examples.unwrap_or(60_000).min(60_000),
            params.valid_examples.unwrap_or(10_000).min(10_000),
        );
        let results = Results {
            iterations,
            copies,
            train_rows,
            valid_rows,
        };
        let conclusion = report::conclusion(params, &results);
        let tables = vec![trace_csv(&results, params.settings.n_step)];
        Ok(Outcome {
            results,
            conclusion,
            tables,
        })
    }

    fn figures(
        &self,
        stored: &Stored<Params, Results>,
        dir: &Path,
    ) -> anyhow::Result<Vec<PathBuf>> {
        report::figures(&stored.params, &stored.results, dir)
    }

    fn report(&self, stored: &Stored<Params, Results>) -> ReportSection {
        if stored.results.iterations.is_empty() {
            return ReportSection::unreadable("no iterations");
        }
        report::section(&stored.params, &stored.results)
    }
}

/// A progress bar over the Adam steps of the running iteration (kept as closures: the bar's
/// type belongs to the lab).
struct Progress<'a> {
    ctx: &'a Context,
    inc: Option<Box<dyn Fn() + 'a>>,
    finish: Option<Box<dyn Fn() + 'a>>,
    total: u64,
}

impl Progress<'_> {
    fn finish(&mut self) {
        if let Some(f) = self.finish.take() {
            f();
        }
        self.inc = None;
    }
}

impl Observer for Progress<'_> {
    fn iteration_start(&mut self, iteration: usize, hyper: &Hyper) {
        let bar = self.ctx.progress(
            self.total,
            &format!("iteration {iteration} (N = {})", hyper.n),
        );
        let done = bar.clone();
        self.inc = Some(Box::new(move || bar.inc(1)));
        self.finish = Some(Box::new(move || done.finish_and_clear()));
    }
    fn batch(&mut self, _iteration: usize, _progress: BatchProgress) {
        if let Some(inc) = &self.inc {
            inc();
        }
    }
    fn iteration_done(
        &mut self,
        _record: &Record,
        _net: &Mlp,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(())
    }
}

/// The trace as `trace.csv`.
fn trace_csv(results: &Results, n_step: usize) -> Csv {
    let rows = results
        .iterations
        .iter()
        .map(|s| {
            let r = &s.record;
            let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6e}"));
            vec![
                r.iteration.to_string(),
                r.n.to_string(),
                format!("{:e}", r.mu),
                format!("{:e}", r.lambda),
                format!("{:e}", r.psi_d),
                format!("{:e}", r.psi_s),
                format!("{:.6}", r.q),
                format!("{:.6e}", r.delta0),
                format!("{:.6}", r.d),
                format!("{:.6e}", r.mean),
                format!("{:.6e}", r.var),
                opt(r.chebyshev),
                opt(r.bound),
                format!("{:.6}", r.valid_accuracy),
                format!("{:.6}", r.tail),
                format!("{:.6}", r.upper),
                r.rule.describe().to_string(),
                r.action.describe(n_step),
                format!("{:.1}", s.seconds),
            ]
        })
        .collect();
    Csv {
        name: "trace.csv".into(),
        header: vec![
            "iteration",
            "n",
            "mu",
            "lambda",
            "psi_d",
            "psi_s",
            "q",
            "delta0",
            "d",
            "mean_delta",
            "var_delta",
            "chebyshev",
            "bound",
            "valid_accuracy",
            "tail",
            "tail_upper",
            "rule",
            "action",
            "seconds",
        ],
        rows,
    }
}
