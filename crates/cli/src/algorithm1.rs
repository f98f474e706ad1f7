//! `ftnn algorithm1`: Algorithm 1 of SPEC §6 on MNIST — train 784 → N → 100 → 10, certify the
//! loss change Δ on one training example with b3 and the Monte Carlo check, and grow N or
//! strengthen the regularizers in the decision order of SPEC §6 until the network is certified
//! **and** verified, infeasible, or the iteration limit is reached
//! ([`ftnn_certify::algorithm`]).
//!
//! The output directory holds `settings.json` (what defines the run), `history.jsonl` (one
//! JSON line per completed iteration) and `iteration-KKK.safetensors` (each iteration's
//! network). Every file is written atomically, the network before its history line, so an
//! interrupted run (Ctrl-C, a crash, `--max-iterations`) resumes from its last completed
//! iteration when the same command is run again — with the same numbers, bit for bit, as an
//! uninterrupted run. A directory holding a run with other settings is refused (exit 2).

use crate::common::progress_bar;
use crate::CliError;
use anyhow::{anyhow, Context};
use ftnn_certify::algorithm::{
    self, Action, AlgorithmError, Data, Hyper, Observer, Outcome, Record, Settings, Start,
    Thresholds,
};
use ftnn_data::{load_mnist, DataDir, ImageSet, Split};
use ftnn_model::{Inputs, Mlp};
use ftnn_train::{BatchProgress, Dataset, TrainError};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The settings file of a run.
const SETTINGS_FILE: &str = "settings.json";
/// The history file of a run (JSON lines).
const HISTORY_FILE: &str = "history.jsonl";

/// Arguments of `ftnn algorithm1`.
#[derive(clap::Args, Debug)]
pub struct Algorithm1Args {
    /// Directory of the run: settings.json, history.jsonl and one network per iteration. An
    /// existing run there with the same settings is resumed.
    #[arg(long)]
    output_dir: PathBuf,
    /// Train on the first N MNIST training examples (the paper: all 60 000).
    #[arg(long, default_value_t = 60_000)]
    train_examples: usize,
    /// Validate on the first N MNIST test examples.
    #[arg(long, default_value_t = 10_000)]
    valid_examples: usize,
    /// Training epochs per iteration (the paper: 30).
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Mini-batch size (the paper: 1000; Adam, lr 1e-3).
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// ε of the guarantee P(Δ > ε) ≤ δ, Δ the change of the example's MSE.
    #[arg(long, default_value_t = 0.009, allow_hyphen_values = true)]
    epsilon: f64,
    /// δ of the guarantee (sets the number of copies R).
    #[arg(long, default_value_t = 1e-5, allow_hyphen_values = true)]
    delta: f64,
    /// Crash probability of the neurons of hidden layer 1.
    #[arg(long, default_value_t = 0.01, allow_hyphen_values = true)]
    p: f64,
    /// The training example whose Δ is certified (index into the training set).
    #[arg(long, default_value_t = 0)]
    example: usize,
    /// Monte Carlo draws of the check (≥ 1: the loop stops only on a verified network).
    #[arg(long, default_value_t = 10_000)]
    verify: usize,
    /// Stop after this many iterations in total (counting those of a resumed run).
    #[arg(long, default_value_t = 20)]
    max_iterations: usize,
    /// Seed of every training run and of the Monte Carlo check.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Width N of hidden layer 1 at the start.
    #[arg(long, default_value_t = 1)]
    start_n: usize,
    /// Width added to hidden layer 1 when the decision order says N += 100.
    #[arg(long, default_value_t = 100)]
    n_step: usize,
    /// Width of hidden layer 2.
    #[arg(long, default_value_t = 100)]
    hidden2: usize,
    /// Threshold of rule 3 (D ≥ D_MAX raises ψ). SPEC §6 uses 100; D grows with the width
    /// and the number of inputs, so other data or short runs may need another scale.
    #[arg(long, default_value_t = 100.0)]
    d_max: f64,
    /// The data directory (default: `FTNN_DATA` or the repository's `data/`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// What `settings.json` holds; a resumed run must match it exactly.
#[derive(Serialize)]
struct RunFile<'a> {
    ftnn_version: &'static str,
    data: &'static str,
    train_examples: usize,
    valid_examples: usize,
    example: usize,
    settings: &'a Settings,
}

/// One line of `history.jsonl`: the record and the file of its network.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    record: &'a Record,
    model: String,
}

fn model_file(iteration: usize) -> String {
    format!("iteration-{iteration:03}.safetensors")
}

fn settings(args: &Algorithm1Args) -> Settings {
    Settings {
        hidden2: args.hidden2,
        p: args.p,
        epsilon: args.epsilon,
        delta: args.delta,
        epochs: args.epochs,
        batch_size: args.batch_size,
        verify: args.verify,
        seed: args.seed,
        n_step: args.n_step,
        start: Start {
            n: args.start_n,
            ..Start::default()
        },
        thresholds: Thresholds {
            d_max: args.d_max,
            ..Thresholds::default()
        },
    }
}

fn algorithm_error(e: AlgorithmError) -> CliError {
    match e {
        AlgorithmError::Settings(_) | AlgorithmError::Resume(_) => CliError::input(e),
        AlgorithmError::Certify(c) if c.is_input_error() => CliError::input(c),
        AlgorithmError::Train(
            TrainError::Config(_) | TrainError::Regularizer { .. } | TrainError::Data(_),
        ) => CliError::input(e),
        other => CliError::failure(other),
    }
}

/// The training and validation sets, the certified example and its target.
fn load(args: &Algorithm1Args) -> Result<(Dataset, Dataset, Inputs, Vec<f32>), CliError> {
    let dir = match &args.data_dir {
        Some(d) => DataDir::new(d.clone()),
        None => DataDir::locate().map_err(CliError::input)?,
    };
    let data_error = |e: TrainError| CliError::input(anyhow!(e));
    let train = load_mnist(&dir, ImageSet::Mnist, Split::Train).map_err(CliError::input)?;
    let test = load_mnist(&dir, ImageSet::Mnist, Split::Test).map_err(CliError::input)?;
    let train = Dataset::from_images(&train).map_err(data_error)?;
    let test = Dataset::from_images(&test).map_err(data_error)?;
    let check = |n: usize, max: usize, what: &str| {
        if n == 0 || n > max {
            Err(CliError::input(anyhow!(
                "--{what} {n}: must be between 1 and {max}"
            )))
        } else {
            Ok(())
        }
    };
    check(args.train_examples, train.rows(), "train-examples")?;
    check(args.valid_examples, test.rows(), "valid-examples")?;
    if args.example >= args.train_examples {
        return Err(CliError::input(anyhow!(
            "--example {}: the training set has {} examples (0…{})",
            args.example,
            args.train_examples,
            args.train_examples - 1
        )));
    }
    let train = train.subset(0..args.train_examples).map_err(data_error)?;
    let valid = test.subset(0..args.valid_examples).map_err(data_error)?;
    let x = Inputs::new(train.input(args.example).to_vec(), 1, train.n_in())?;
    let t = train.target(args.example).to_vec();
    Ok((train, valid, x, t))
}

/// Reads the history lines of an existing run in `dir` (none when there is no run), after
/// checking that its settings are `settings_text`.
fn existing_run(dir: &Path, settings_text: &str) -> Result<Vec<String>, CliError> {
    let settings_path = dir.join(SETTINGS_FILE);
    let history_path = dir.join(HISTORY_FILE);
    if !settings_path.exists() {
        if history_path.exists() {
            return Err(CliError::input(anyhow!(
                "{} exists without {SETTINGS_FILE}: not a run of `ftnn algorithm1`",
                history_path.display()
            )));
        }
        return Ok(Vec::new());
    }
    let stored = std::fs::read_to_string(&settings_path)
        .with_context(|| format!("reading {}", settings_path.display()))
        .map_err(CliError::input)?;
    if stored != settings_text {
        return Err(CliError::input(anyhow!(
            "{} holds a run with other settings; resume it with the same options or choose \
             another --output-dir (its settings: {})",
            dir.display(),
            stored.trim()
        )));
    }
    if !history_path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&history_path)
        .with_context(|| format!("reading {}", history_path.display()))
        .map_err(CliError::input)?;
    Ok(text.lines().map(str::to_string).collect())
}

/// Writes each iteration's network, then its history line, atomically; prints the progress.
struct Files {
    dir: PathBuf,
    lines: Vec<String>,
    bar: Option<indicatif::ProgressBar>,
    settings: Settings,
    batches: usize,
}

impl Observer for Files {
    fn iteration_start(&mut self, iteration: usize, hyper: &Hyper) {
        let bar = progress_bar(
            (self.batches * self.settings.epochs) as u64,
            &format!(
                "iteration {iteration}: N = {}, μ = {:.0e}, λ = {:.0e}, ψ = ({:.0e}, {:.0e})",
                hyper.n, hyper.mu, hyper.lambda, hyper.psi_d, hyper.psi_s
            ),
        );
        self.bar = Some(bar);
    }

    fn batch(&mut self, _iteration: usize, b: BatchProgress) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!(
                "epoch {}/{} loss {:.5}",
                b.epoch, self.settings.epochs, b.running_objective
            ));
        }
    }

    fn iteration_done(
        &mut self,
        record: &Record,
        net: &Mlp,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let model = model_file(record.iteration);
        net.save(&self.dir.join(&model))?;
        self.lines
            .push(serde_json::to_string(&Line { record, model })?);
        let mut text = self.lines.join("\n");
        text.push('\n');
        ftnn_model::io::write_atomic(&self.dir.join(HISTORY_FILE), text.as_bytes())?;
        println!("{}", row(record, self.settings.n_step));
        Ok(())
    }
}

fn header() -> String {
    format!(
        "{:>4} {:>5} {:>7} {:>7} {:>13} {:>9} {:>10} {:>9} {:>11} {:>10} {:>10} {:>9} {:>9} {:>7}  {}",
        "iter",
        "N",
        "μ",
        "λ",
        "ψ",
        "q",
        "δ₀",
        "D",
        "E Δ",
        "Var Δ",
        "bound",
        "P̂(Δ>ε)",
        "upper u",
        "acc",
        "action"
    )
}

fn row(r: &Record, n_step: usize) -> String {
    format!(
        "{:>4} {:>5} {:>7.0e} {:>7.0e} {:>13} {:>9.4} {:>10.3e} {:>9.3} {:>11.3e} {:>10.3e} {:>10} {:>9.4} {:>9.4} {:>7.4}  {} ({})",
        r.iteration,
        r.n,
        r.mu,
        r.lambda,
        format!("({:.0e},{:.0e})", r.psi_d, r.psi_s),
        r.q,
        r.delta0,
        r.d,
        r.mean,
        r.var,
        r.bound.map_or("—".to_string(), |b| format!("{b:.3e}")),
        r.tail,
        r.upper,
        r.valid_accuracy,
        r.action.describe(n_step),
        r.rule.describe()
    )
}

/// Runs `ftnn algorithm1`.
pub fn run(args: Algorithm1Args) -> Result<(), CliError> {
    let settings = settings(&args);
    settings.validate().map_err(algorithm_error)?;
    if args.max_iterations == 0 {
        return Err(CliError::input(anyhow!("--max-iterations must be ≥ 1")));
    }
    let dir = &args.output_dir;
    if dir.exists() && !dir.is_dir() {
        return Err(CliError::input(anyhow!(
            "--output-dir {} exists and is not a directory",
            dir.display()
        )));
    }
    let settings_text = serde_json::to_string_pretty(&RunFile {
        ftnn_version: env!("CARGO_PKG_VERSION"),
        data: "mnist",
        train_examples: args.train_examples,
        valid_examples: args.valid_examples,
        example: args.example,
        settings: &settings,
    })
    .expect("plain data serialises")
        + "\n";
    let lines = existing_run(dir, &settings_text)?;
    let mut history = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str::<Record>(l).map_err(|e| {
                CliError::input(anyhow!(
                    "{}: line {} is not an iteration record: {e}",
                    dir.join(HISTORY_FILE).display(),
                    i + 1
                ))
            })
        })
        .collect::<Result<Vec<Record>, CliError>>()?;
    let next = algorithm::resume_state(&settings, &history).map_err(algorithm_error)?;
    let (train, valid, example, target) = load(&args)?;

    std::fs::create_dir_all(dir)
        .with_context(|| format!("--output-dir {} cannot be created", dir.display()))
        .map_err(CliError::input)?;
    if !lines.is_empty() || dir.join(SETTINGS_FILE).exists() {
        eprintln!(
            "resuming {} after iteration {}",
            dir.display(),
            history.len()
        );
    } else {
        ftnn_model::io::write_atomic(&dir.join(SETTINGS_FILE), settings_text.as_bytes())
            .map_err(|e| CliError::input(anyhow!(e).context("--output-dir is not writable")))?;
    }
    println!(
        "Algorithm 1: MNIST 784→N→{}→10 sigmoid, {} training / {} validation examples, {} \
         epoch{} per iteration (Adam, batch {}), p = {} at hidden layer 1",
        settings.hidden2,
        args.train_examples,
        args.valid_examples,
        settings.epochs,
        if settings.epochs == 1 { "" } else { "s" },
        settings.batch_size,
        settings.p
    );
    println!(
        "target: P(Δ > ε) ≤ δ, Δ = change of the MSE of training example {}, ε = {}, δ = {}; \
         Monte Carlo check with {} draws, seed {}",
        args.example, settings.epsilon, settings.delta, settings.verify, settings.seed
    );
    println!("{}", header());
    for r in &history {
        println!("{}", row(r, settings.n_step));
    }

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second handler cannot be installed in the same process (tests); then Ctrl-C
        // simply terminates, which leaves the completed iterations behind too.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed));
    }
    let mut files = Files {
        dir: dir.clone(),
        lines,
        bar: None,
        batches: train.rows().div_ceil(settings.batch_size.min(train.rows())),
        settings: settings.clone(),
    };
    let data = Data {
        train: &train,
        valid: &valid,
        example: &example,
        target: &target,
    };
    let outcome = if next.is_none() {
        algorithm::outcome(&history)
    } else {
        algorithm::run(
            &settings,
            &data,
            &mut history,
            args.max_iterations,
            Some(stop),
            &mut files,
        )
        .map_err(|e| {
            if let Some(bar) = files.bar.take() {
                bar.finish_and_clear();
            }
            match e {
                AlgorithmError::Train(TrainError::Interrupted { .. }) => {
                    let saved = match history.len() {
                        0 => "no iteration was completed".to_string(),
                        1 => format!("iteration 1 is saved in {}", dir.display()),
                        k => format!("iterations 1…{k} are saved in {}", dir.display()),
                    };
                    CliError::failure(anyhow!(
                        "{e}; {saved}: run the same command again to resume"
                    ))
                }
                other => algorithm_error(other),
            }
        })?
    };
    println!();
    print!("{}", conclusion(outcome, &history, dir, &settings));
    Ok(())
}

/// The verdict lines at the end of a run.
fn conclusion(outcome: Outcome, history: &[Record], dir: &Path, settings: &Settings) -> String {
    let last = history.last().expect("at least one iteration");
    let hyper = format!(
        "N = {}, μ = {:.0e}, λ = {:.0e}, ψ = ({:.0e}, {:.0e})",
        last.n, last.mu, last.lambda, last.psi_d, last.psi_s
    );
    let network = format!(
        "network  {} (validation accuracy {:.4})",
        dir.join(model_file(last.iteration)).display(),
        last.valid_accuracy
    );
    match outcome {
        Outcome::Certified => format!(
            "verdict  certified and verified at iteration {}: {hyper}\n{network}\n\
             bound    δ₀ + Var Δ/(ε − E Δ)² = {:.4e} < 1/3 (first order, b3 on the loss); \
             Monte Carlo P̂(Δ > ε) = {:.4} (upper u = {:.4} < 1/3)\n\
             copies   R = {}: the median of R such networks fails with probability < δ = {}\n",
            last.iteration,
            last.bound.unwrap_or(f64::NAN),
            last.tail,
            last.upper,
            settings.copies().unwrap_or(0),
            settings.delta
        ),
        Outcome::Infeasible => format!(
            "verdict  infeasible at iteration {}: E Δ = {:.4e} ≥ ε = {} ({hyper}): the Chebyshev \
             step cannot bound the tail, and Algorithm 1 stops (SPEC §6)\n{network}\n",
            last.iteration, last.mean, settings.epsilon
        ),
        Outcome::IterationLimit => format!(
            "verdict  not certified after {} iterations (the limit): the next iteration would \
             run with {}; run again with a larger --max-iterations to continue\n{network}\n",
            history.len(),
            match last.action {
                Action::StopCertified | Action::StopInfeasible => hyper,
                a => {
                    let s = last.state.next(a, settings.n_step).hyper(settings);
                    format!(
                        "N = {}, μ = {:.0e}, λ = {:.0e}, ψ = ({:.0e}, {:.0e})",
                        s.n, s.mu, s.lambda, s.psi_d, s.psi_s
                    )
                }
            }
        ),
    }
}
