//! `ftnn train --architecture ARCH.json | --preset NAME`: cross-entropy training of a
//! Sequential network (CNN) on MNIST or Fashion-MNIST (SPEC §9, §7) with crash-dropout at any
//! crash site (`--crash-dropout SITE=P`), the same progress bar, Ctrl-C behaviour and atomic
//! writes as the MLP path; the model is a Sequential model file (SPEC §11) that `ftnn analyze`
//! reads.

use super::{load, summary, train_error, DataSet, TrainArgs};
use crate::common::{pause_point, progress_bar};
use crate::CliError;
use anyhow::{anyhow, Context};
use candle_core::Device;
use ftnn_model::seq::{ActKind, Architecture};
use ftnn_train::seq::{presets, SeqTrainConfig, SeqTrainer};
use ftnn_train::{Optimizer, TrainError};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The architecture of `--architecture` or `--preset`.
fn architecture(args: &TrainArgs) -> Result<Architecture, CliError> {
    if let Some(path) = &args.architecture {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))
            .map_err(CliError::input)?;
        return Architecture::from_json(&text)
            .with_context(|| format!("{}", path.display()))
            .map_err(CliError::input);
    }
    let preset = args.preset.as_deref().unwrap_or_default();
    let (name, width) = match preset.split_once(':') {
        Some((n, w)) => (n, Some(w)),
        None => (preset, None),
    };
    match (name, width) {
        ("mnist-cnn", w) => {
            let width = match w {
                None => 1.0,
                Some(w) => w.parse::<f64>().map_err(|_| {
                    CliError::input(anyhow!(
                        "--preset {preset}: `{w}` is not a width multiplier"
                    ))
                })?,
            };
            presets::mnist_cnn(ActKind::Softplus, width).map_err(train_error)
        }
        ("adversarial-cnn", None) => Ok(presets::adversarial_cnn()),
        _ => Err(CliError::input(anyhow!(
            "--preset `{preset}`: expected mnist-cnn, mnist-cnn:WIDTH or adversarial-cnn"
        ))),
    }
}

/// `SITE=P` with SITE an index or `input`.
fn crash_dropout(spec: &str) -> Result<(usize, f64), CliError> {
    let bad = |why: &str| CliError::input(anyhow!("--crash-dropout `{spec}`: {why}"));
    let (site, p) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected SITE=P, e.g. input=0.1 or 2=0.05"))?;
    let site = match site.trim() {
        "input" => 0,
        s => s
            .parse::<usize>()
            .map_err(|_| bad("SITE is a crash-site index or `input`"))?,
    };
    let p = p
        .trim()
        .parse::<f64>()
        .map_err(|_| bad("P is not a number"))?;
    if !(0.0..=1.0).contains(&p) {
        return Err(bad("P is not a probability in [0, 1]"));
    }
    Ok((site, p))
}

/// Runs the Sequential path of `ftnn train`.
pub(super) fn run(args: &TrainArgs, device: &Device, history_file: &Path) -> Result<(), CliError> {
    if args.data == DataSet::Boston {
        return Err(CliError::input(anyhow!(
            "--architecture / --preset train classifiers on mnist or fashion-mnist, not boston"
        )));
    }
    let arch = architecture(args)?;
    let mut optimizer = Optimizer::from_name(&args.optimizer).map_err(train_error)?;
    if let Some(lr) = args.lr {
        optimizer = optimizer.with_lr(lr);
    }
    let mut config = SeqTrainConfig::new()
        .optimizer(optimizer)
        .epochs(args.epochs)
        .batch_size(args.batch_size)
        .seed(args.seed);
    for spec in &args.crash_dropout {
        let (site, p) = crash_dropout(spec)?;
        config = config.crash_dropout(site, p);
    }
    let (train, test) = load(args)?;
    let input: usize = arch.input_shape.iter().product();
    if arch.input_shape.len() == 3
        && arch.input_shape[0] > 1
        && train.n_in() * arch.input_shape[0] == input
    {
        config = config.repeat_channels(arch.input_shape[0]);
    }
    config.validate().map_err(train_error)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed));
    }
    let mut trainer = SeqTrainer::new(config.clone(), &arch, device)
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
    let json = serde_json::json!({
        "ftnn_version": env!("CARGO_PKG_VERSION"),
        "architecture": arch.to_value(),
        "config": config,
        "epochs": history.epochs,
    });
    let text = serde_json::to_string_pretty(&json)
        .context("history JSON")
        .map_err(CliError::failure)?;
    net.save(&args.output)?;
    pause_point("train:model-written");
    ftnn_model::io::write_atomic(history_file, text.as_bytes()).map_err(CliError::failure)?;
    eprintln!(
        "wrote {} and {}",
        args.output.display(),
        history_file.display()
    );
    Ok(())
}
