//! `ftnn analyze`: Monte Carlo (and optionally exact) statistics of Δ for the user's model.

use crate::npy::read_inputs;
use crate::report::AnalyzeReport;
use crate::CliError;
use anyhow::Context;
use ftnn_model::{exact_delta, Activation, FailureVector, Mlp, ModelError, MonteCarlo};
use std::path::{Path, PathBuf};

/// Arguments of `ftnn analyze`.
#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// Model: an ftnn safetensors file, or a PyTorch nn.Sequential state dict
    /// (.safetensors or .pth) together with --activation.
    #[arg(long)]
    model: PathBuf,
    /// Inputs: a 2-D float32/float64 .npy array [N, n_0].
    #[arg(long)]
    inputs: PathBuf,
    /// Crash probability per layer of neurons (input, hidden…, output), comma-separated.
    #[arg(long, allow_hyphen_values = true)]
    p: String,
    /// Crash patterns drawn per input.
    #[arg(long, default_value_t = 10_000)]
    repetitions: usize,
    /// Seed of the crash patterns.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also compute E Δ and std Δ exactly by enumerating every crash pattern (at most
    /// 20 neurons with 0 < p < 1).
    #[arg(long)]
    exact: bool,
    /// Write the report here (atomically) instead of stdout; JSON when it ends in .json.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Report format (default: table, or json when --output ends in .json).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Hidden activation of a plain PyTorch state dict (its file does not record it).
    #[arg(long, value_parser = |s: &str| s.parse::<Activation>())]
    activation: Option<Activation>,
    /// Lipschitz constant K of the activation of a plain state dict (ReLU: φ(z) = K·max(0, z)).
    #[arg(long, default_value_t = 1.0)]
    k_lips: f64,
}

/// Report formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// A table for humans.
    Table,
    /// The JSON document of SPEC §11.
    Json,
}

/// Runs `ftnn analyze`.
pub fn run(args: AnalyzeArgs) -> Result<(), CliError> {
    // Validate everything before any work, so that bad input fails fast and writes nothing.
    if args.repetitions == 0 {
        return Err(ModelError::ZeroRepetitions.into());
    }
    let p = FailureVector::parse(&args.p).map_err(|e| wrap(e, "--p"))?;
    let net = match args.activation {
        Some(act) => Mlp::from_state_dict(&args.model, act, args.k_lips),
        None => Mlp::load(&args.model),
    }
    .map_err(|e| wrap(e, "cannot load the model"))?;
    p.check_len(net.n_neuron_layers())
        .map_err(|e| wrap(e, &format!("--p for a network of sizes {:?}", net.sizes())))?;
    let inputs = read_inputs(&args.inputs).map_err(CliError::input)?;
    inputs
        .check_width(net.n_inputs())
        .map_err(|e| wrap(e, &format!("inputs {}", args.inputs.display())))?;
    let format = args.format.unwrap_or(match &args.output {
        Some(o)
            if o.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json")) =>
        {
            Format::Json
        }
        _ => Format::Table,
    });
    if let Some(out) = &args.output {
        check_writable(out).map_err(CliError::input)?;
    }

    let mc = MonteCarlo::new(&net, p.clone())?
        .repetitions(args.repetitions)
        .seed(args.seed);
    let bar = progress_bar(mc.total_rows(inputs.rows()));
    let stats = mc.run_with_progress(&inputs, |done| bar.set_position(done))?;
    bar.finish_and_clear();

    let mut notes = Vec::new();
    let exact = if args.exact {
        match exact_delta(&net, &p, &inputs, ftnn_model::DEFAULT_MAX_CRASHABLE) {
            Ok(e) => Some(e),
            Err(e @ ModelError::TooManyCrashable { .. }) => {
                let msg = format!("exact enumeration skipped: {e}");
                eprintln!("warning: {msg}");
                notes.push(msg);
                None
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };

    let report = AnalyzeReport::new(&net, &p, args.seed, &stats, exact.as_ref(), notes);
    let text = match format {
        Format::Json => report.to_json(),
        Format::Table => report.to_table(if args.output.is_some() {
            usize::MAX
        } else {
            20
        }),
    };
    match &args.output {
        Some(out) => {
            ftnn_model::io::write_atomic(out, text.as_bytes()).map_err(CliError::failure)?
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn wrap(e: ModelError, context: &str) -> CliError {
    let code = if e.is_input_error() { 2 } else { 1 };
    CliError {
        code,
        error: anyhow::Error::new(e).context(context.to_string()),
    }
}

/// Fails early when `path` cannot be written: its directory must exist and accept a file.
fn check_writable(path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!("--output {} is a directory", path.display());
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let probe = dir.join(format!(".ftnn-write-check-{}", std::process::id()));
    std::fs::File::create(&probe)
        .with_context(|| format!("--output {} cannot be written", path.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn progress_bar(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr_with_hz(4),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} crashed passes {human_pos}/{human_len} [{bar:30}] {percent}% ({eta} left)",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}
