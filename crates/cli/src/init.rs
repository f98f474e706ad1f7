//! `ftnn init`: a new network with seeded random weights (SPEC §2 initialisations), saved in
//! the ftnn model format — the random networks of the paper's `RandomExperiment`, or a
//! starting point for experiments.

use crate::CliError;
use anyhow::anyhow;
use ftnn_model::{Activation, Init, Mlp};
use rand::SeedableRng;
use std::path::PathBuf;

/// Arguments of `ftnn init`.
#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// Layer sizes n_0,…,n_L, comma-separated (e.g. 784,100,50,10).
    #[arg(long)]
    sizes: String,
    /// Hidden activation.
    #[arg(long, value_parser = |s: &str| s.parse::<Activation>())]
    activation: Activation,
    /// Lipschitz constant K of the activation.
    #[arg(long, default_value_t = 1.0)]
    k_lips: f64,
    /// Initialisation: `paper` (N(0,1)·sqrt(2/n_in)/K, bias N(0,1)), `lecun`
    /// (N(0,1)/sqrt(n_in), bias 0) or `random` (N(0,1)·s/n_in + μ with --scale, --mean).
    #[arg(long, value_enum, default_value_t = InitKind::Paper)]
    init: InitKind,
    /// Weight scale s of `--init random` (default 1; an error with another --init).
    #[arg(long)]
    scale: Option<f64>,
    /// Mean μ of `--init random` (default 0; an error with another --init).
    #[arg(long, allow_hyphen_values = true)]
    mean: Option<f64>,
    /// Seed of the weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to write the model (safetensors, written atomically).
    #[arg(long)]
    output: PathBuf,
}

/// Initialisation schemes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum InitKind {
    /// The paper's training initialisation.
    Paper,
    /// LeCun initialisation.
    Lecun,
    /// The random networks of the bound comparisons.
    Random,
}

impl InitKind {
    /// The name on the command line.
    fn name(self) -> &'static str {
        match self {
            Self::Paper => "paper",
            Self::Lecun => "lecun",
            Self::Random => "random",
        }
    }
}

/// Runs `ftnn init`.
pub fn run(args: InitArgs) -> Result<(), CliError> {
    let sizes = args
        .sizes
        .split(',')
        .map(|s| s.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            CliError::input(anyhow!(
                "--sizes `{}` is not a list of integers",
                args.sizes
            ))
        })?;
    // --scale and --mean parametrise `--init random` only: never ignore them silently.
    if args.init != InitKind::Random {
        let given: Vec<&str> = [("--scale", args.scale), ("--mean", args.mean)]
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(name, _)| *name)
            .collect();
        if !given.is_empty() {
            return Err(CliError::input(anyhow!(
                "{} only apply to --init random (the initialisation is {}); drop {} or add \
                 --init random",
                given.join(" and "),
                args.init.name(),
                if given.len() == 1 { "it" } else { "them" }
            )));
        }
    }
    let (scale, mean) = (args.scale.unwrap_or(1.0), args.mean.unwrap_or(0.0));
    if !(scale.is_finite() && mean.is_finite()) {
        return Err(CliError::input(anyhow!(
            "--scale and --mean must be finite"
        )));
    }
    let init = match args.init {
        InitKind::Paper => Init::Paper,
        InitKind::Lecun => Init::LeCun,
        InitKind::Random => Init::Random { scale, mean },
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
    let net = Mlp::init(&sizes, args.activation, args.k_lips, init, &mut rng)?;
    net.save(&args.output)?;
    eprintln!(
        "wrote {} ({:?}, {}, K = {})",
        args.output.display(),
        net.sizes(),
        net.activation(),
        net.k_lips()
    );
    Ok(())
}
