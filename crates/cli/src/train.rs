//! `ftnn train`: train an MLP on MNIST, Fashion-MNIST or Boston Housing with crash-dropout and
//! the fault-tolerance regularizers (SPEC §7), writing the model in the ftnn format (readable
//! by `ftnn analyze`) and the per-epoch history as JSON.
//!
//! Ctrl-C stops training between two mini-batches and writes nothing; both files are written
//! atomically (temporary file + rename) only after the last epoch, the model first: a run
//! killed at any moment leaves each file absent or complete, never half-written
//! (`tests/cli_train_kill.rs`).

use crate::common::{check_writable, pause_point, progress_bar};
use crate::CliError;
use anyhow::{anyhow, Context};
use ftnn_data::{load_boston, load_mnist, DataDir, ImageSet, Split};
use ftnn_model::{Activation, FailureVector};
use ftnn_train::{Dataset, Loss, Optimizer, Regularizer, TrainConfig, TrainError, Trainer};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[path = "train_seq.rs"]
mod seq;

/// Arguments of `ftnn train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Data set: the training split is trained on, the test split is the validation set.
    #[arg(long, value_enum)]
    data: DataSet,
    /// Hidden layer widths, comma-separated (the input and output widths come from the data).
    #[arg(long, default_value = "100,50")]
    hidden: String,
    /// Hidden activation.
    #[arg(long, default_value = "sigmoid", value_parser = |s: &str| s.parse::<Activation>())]
    activation: Activation,
    /// Lipschitz constant K of the activation.
    #[arg(long, default_value_t = 1.0)]
    k_lips: f64,
    /// Passes over the training set.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Examples per mini-batch.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Optimizer: adam (lr 1e-3, β 0.9/0.999, ε 1e-7) or adadelta (lr 1, ρ 0.95, ε 1e-7).
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Learning rate (overrides the optimizer's default).
    #[arg(long)]
    lr: Option<f64>,
    /// Loss: mse (on one-hot targets for classification), mae or cross-entropy.
    #[arg(long, default_value = "mse", value_parser = |s: &str| s.parse::<Loss>())]
    loss: Loss,
    /// Crash-dropout probabilities during training, one per layer of neurons (input … output),
    /// e.g. 0,0.05,0,0; crashed neurons output 0 and survivors are not rescaled.
    #[arg(long, value_parser = |s: &str| s.parse::<FailureVector>())]
    p_train: Option<FailureVector>,
    /// A regularizer, repeatable: l1=C, l2=C, balanced=MU, continuous=PSI_D,PSI_S,
    /// vardelta=LAMBDA@P[@LAYER] (layer 1 by default), e.g.
    /// `--reg continuous=1e-4,1e-2 --reg vardelta=3.25@0.05`.
    #[arg(long = "reg")]
    regularizers: Vec<String>,
    /// Also report the validation metrics under crashes with these probabilities (one per
    /// layer of neurons) after every epoch.
    #[arg(long, value_parser = |s: &str| s.parse::<FailureVector>())]
    crash_p: Option<FailureVector>,
    /// Passes over the validation set for the crashed metrics of --crash-p (default 3).
    #[arg(long, requires = "crash_p")]
    crash_repetitions: Option<usize>,
    /// Train on the first N training examples only.
    #[arg(long)]
    train_subset: Option<usize>,
    /// Seed of the initialisation, the data order and the crash-dropout masks.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train a Sequential network (CNN) from this architecture JSON (SPEC §11) instead of an
    /// MLP; cross-entropy on the logits. Rows of 784 pixels fill a `[C, 28, 28]` input by
    /// repeating the gray image over the C channels.
    #[arg(long, conflicts_with_all = ["preset", "hidden", "p_train", "regularizers", "crash_p"])]
    architecture: Option<PathBuf>,
    /// Train a preset CNN: `mnist-cnn[:WIDTH]` (SPEC §9's MNIST CNN, softplus, channel and
    /// dense widths × WIDTH, default 1) or `adversarial-cnn` (the CNN of AE_fgsm_mnist.ipynb).
    #[arg(long, conflicts_with_all = ["hidden", "p_train", "regularizers", "crash_p"])]
    preset: Option<String>,
    /// CNN crash-dropout `SITE=P`, repeatable: every element of crash site SITE (an index of
    /// SPEC §11's crash sites, or `input` for 0) outputs 0 with probability P in training,
    /// survivors are not rescaled.
    #[arg(long = "crash-dropout")]
    crash_dropout: Vec<String>,
    /// Where to write the trained model (ftnn safetensors format; the Sequential model format
    /// for --architecture / --preset).
    #[arg(long)]
    output: PathBuf,
    /// Where to write the per-epoch history (JSON); default: the model path with
    /// `.history.json` in place of its extension.
    #[arg(long)]
    history: Option<PathBuf>,
    /// The data directory (default: `FTNN_DATA` or the repository's `data/`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Device of the parameters, mini-batches and GEMMs: cpu, cuda or cuda:N (needs a build
    /// with `--features cuda`); the optimizer update stays on the host.
    #[arg(long, default_value = "cpu", value_parser = crate::common::device_spec)]
    device: ftnn_model::runtime::DeviceSpec,
}

/// The data sets `ftnn train` knows.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DataSet {
    /// MNIST digits, 784 inputs, 10 classes.
    Mnist,
    /// Fashion-MNIST, 784 inputs, 10 classes.
    FashionMnist,
    /// Boston Housing (Keras split), 13 inputs, 1 target.
    Boston,
}

fn train_error(e: TrainError) -> CliError {
    match e {
        TrainError::Config(_) | TrainError::Regularizer { .. } | TrainError::Data(_) => {
            CliError::input(e)
        }
        TrainError::Model(m) => m.into(),
        other => CliError::failure(other),
    }
}

fn load(args: &TrainArgs) -> Result<(Dataset, Dataset), CliError> {
    let dir = match &args.data_dir {
        Some(d) => DataDir::new(d.clone()),
        None => DataDir::locate().map_err(CliError::input)?,
    };
    let (mut train, test) = match args.data {
        DataSet::Boston => {
            let split = load_boston(&dir).map_err(CliError::input)?.keras_split();
            Dataset::boston(&split).map_err(train_error)?
        }
        DataSet::Mnist | DataSet::FashionMnist => {
            let set = if args.data == DataSet::Mnist {
                ImageSet::Mnist
            } else {
                ImageSet::FashionMnist
            };
            let tr = load_mnist(&dir, set, Split::Train).map_err(CliError::input)?;
            let te = load_mnist(&dir, set, Split::Test).map_err(CliError::input)?;
            (
                Dataset::from_images(&tr).map_err(train_error)?,
                Dataset::from_images(&te).map_err(train_error)?,
            )
        }
    };
    if let Some(n) = args.train_subset {
        if n == 0 || n > train.rows() {
            return Err(CliError::input(anyhow!(
                "--train-subset {n}: the training set has {} examples",
                train.rows()
            )));
        }
        train = train.subset(0..n).map_err(train_error)?;
    }
    Ok((train, test))
}

fn config(args: &TrainArgs, n_in: usize, n_out: usize) -> Result<TrainConfig, CliError> {
    let mut sizes = vec![n_in];
    for h in args.hidden.split(',').filter(|s| !s.trim().is_empty()) {
        sizes.push(h.trim().parse::<usize>().map_err(|_| {
            CliError::input(anyhow!(
                "--hidden `{}` is not a list of widths",
                args.hidden
            ))
        })?);
    }
    sizes.push(n_out);
    let mut optimizer = Optimizer::from_name(&args.optimizer).map_err(train_error)?;
    if let Some(lr) = args.lr {
        optimizer = optimizer.with_lr(lr);
    }
    let mut config = TrainConfig::new(sizes)
        .activation(args.activation)
        .k_lips(args.k_lips)
        .loss(args.loss)
        .optimizer(optimizer)
        .epochs(args.epochs)
        .batch_size(args.batch_size)
        .seed(args.seed);
    if let Some(p) = &args.p_train {
        config = config.p_train(p.clone());
    }
    for r in &args.regularizers {
        config = config.regularizer(r.parse::<Regularizer>().map_err(train_error)?);
    }
    if let Some(p) = &args.crash_p {
        config = config.crash_eval(p.clone(), args.crash_repetitions.unwrap_or(3));
    }
    config.validate().map_err(train_error)?;
    Ok(config)
}

fn history_path(args: &TrainArgs) -> PathBuf {
    args.history
        .clone()
        .unwrap_or_else(|| args.output.with_extension("history.json"))
}

/// Runs `ftnn train`.
pub fn run(args: TrainArgs) -> Result<(), CliError> {
    let history_file = history_path(&args);
    check_writable(&args.output)?;
    check_writable(&history_file)?;
    let device = crate::common::open_device(args.device)?;
    if args.architecture.is_some() || args.preset.is_some() {
        return seq::run(&args, &device, &history_file);
    }
    if !args.crash_dropout.is_empty() {
        return Err(CliError::input(anyhow!(
            "--crash-dropout needs --architecture or --preset (MLPs take --p-train)"
        )));
    }
    let (train, test) = load(&args)?;
    let config = config(&args, train.n_in(), train.n_out())?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second handler cannot be installed in the same process (tests); then Ctrl-C
        // simply terminates, which also leaves no file behind.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed));
    }
    let mut trainer = Trainer::new_on(config.clone(), &device)
        .map_err(train_error)?
        .with_interrupt(stop);
    let batches = train.rows().div_ceil(config.batch_size.min(train.rows()));
    let bar = progress_bar((batches * config.epochs) as u64, "training");
    let mut history = ftnn_train::History::default();
    for _ in 0..config.epochs {
        let record = trainer
            .epoch(&train, Some(&test), &mut |b| {
                bar.inc(1);
                bar.set_message(format!(
                    "epoch {}/{} loss {:.5}",
                    b.epoch, config.epochs, b.running_objective
                ));
            })
            .map_err(|e| match e {
                TrainError::Interrupted { .. } => {
                    CliError::failure(anyhow!("{e}; nothing was written"))
                }
                other => train_error(other),
            })?;
        bar.suspend(|| eprintln!("{}", summary(&record, config.epochs)));
        history.epochs.push(record);
    }
    bar.finish_and_clear();
    let net = trainer.model().map_err(train_error)?;
    write_outputs(&args.output, &history_file, &net, &config, &history)
}

fn summary(r: &ftnn_train::EpochRecord, epochs: usize) -> String {
    let mut s = format!(
        "epoch {}/{epochs} ({:.2} s): loss {:.5}",
        r.epoch, r.seconds, r.objective
    );
    let metric = |m: &ftnn_train::Metrics| match m.accuracy {
        Some(a) => format!("accuracy {a:.4}"),
        None => format!("MAE {:.4}", m.mae),
    };
    if let Some(v) = &r.valid {
        s += &format!(", validation loss {:.5} {}", v.loss, metric(v));
    }
    if let Some(c) = &r.valid_crashed {
        s += &format!(", under crashes {}", metric(c));
    }
    s
}

fn write_outputs(
    model: &Path,
    history_file: &Path,
    net: &ftnn_model::Mlp,
    config: &TrainConfig,
    history: &ftnn_train::History,
) -> Result<(), CliError> {
    let json = serde_json::json!({
        "ftnn_version": env!("CARGO_PKG_VERSION"),
        "config": config,
        "epochs": history.epochs,
    });
    let text = serde_json::to_string_pretty(&json)
        .context("history JSON")
        .map_err(CliError::failure)?;
    net.save(model)?;
    pause_point("train:model-written");
    ftnn_model::io::write_atomic(history_file, text.as_bytes()).map_err(CliError::failure)?;
    eprintln!("wrote {} and {}", model.display(), history_file.display());
    Ok(())
}
