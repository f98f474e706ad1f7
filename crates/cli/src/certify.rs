//! `ftnn certify`: the tail guarantee P(Δ > ε) ≤ δ of SPEC §6 for the loss perturbation
//! Δ = L(ŷ_crashed, t) − L(ŷ, t), per input and overall, with its Monte Carlo check — the JSON
//! document of SPEC §11 ("`ftnn certify`") or a table.
//!
//! The first-order verdict rests on b3 on the loss, an estimate, not a bound; `--verify R`
//! (default 10 000) adds R Monte Carlo draws per input, the empirical tail, its
//! Clopper–Pearson upper bound at confidence 1 − 10⁻³ and whether it is below 1/3 (*verified*).
//! MLPs only (and Sequential files that are MLPs); other Sequential networks are refused.

use crate::common::{check_writable, emit, has_extension, AnyProblem, ProblemArgs};
use crate::inspect::describe;
use crate::network::{ModelArgs, Network};
use crate::CliError;
use anyhow::{anyhow, bail, Context};
use ftnn_certify::{
    certify, crashing_layer, Certificate, CertifyError, InputCertificate, Settings, Verdict,
    VerdictKind, CP_CONFIDENCE,
};
use ftnn_model::{FailureVector, Loss};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Arguments of `ftnn certify`.
#[derive(clap::Args, Debug)]
pub struct CertifyArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Inputs: a float32/float64 .npy array [N, n_0].
    #[arg(long)]
    inputs: PathBuf,
    /// Targets: a float .npy array [N, n_L] (regression targets; one-hot or probability
    /// vectors for ce), or for ce a 1-D array of N integer class labels. For mse on a network
    /// with one output a 1-D array [N] is also accepted.
    #[arg(long)]
    targets: PathBuf,
    /// The per-example loss of Δ: mse (mean over outputs of squared errors) or ce
    /// (−Σ t log softmax(ŷ), the network's outputs being logits).
    #[arg(long, value_enum)]
    loss: CertifyLoss,
    /// Crash probability per layer of neurons (input, hidden…, output), comma-separated;
    /// exactly one layer, not the input, may have p > 0.
    #[arg(long, allow_hyphen_values = true, value_parser = |s: &str| s.parse::<FailureVector>())]
    p: FailureVector,
    /// ε > 0 of the guarantee P(Δ > ε) ≤ δ.
    #[arg(long, allow_hyphen_values = true)]
    epsilon: f64,
    /// δ ∈ (0, 1) of the guarantee, reached by the median of `copies` networks.
    #[arg(long, allow_hyphen_values = true)]
    delta: f64,
    /// Monte Carlo draws per input for the empirical check (0: first-order only).
    #[arg(long, default_value_t = 10_000)]
    verify: usize,
    /// Seed of the Monte Carlo draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the report here (atomically) instead of stdout; JSON when it ends in .json.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Report format (default: table, or json when --output ends in .json).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Device: cpu, cuda or cuda:N (a build with `--features cuda`). The certificate's
    /// quantities and its Monte Carlo check are the MLP engine's host loops, so they run on the
    /// CPU; the device is opened, so an unusable one is reported.
    #[arg(long, default_value = "cpu", value_parser = crate::common::device_spec)]
    device: ftnn_model::runtime::DeviceSpec,
}

/// The losses `certify` takes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CertifyLoss {
    /// Mean squared error over the outputs.
    Mse,
    /// Softmax cross-entropy on the logits.
    Ce,
}

impl CertifyLoss {
    fn loss(self) -> Loss {
        match self {
            CertifyLoss::Mse => Loss::Mse,
            CertifyLoss::Ce => Loss::CrossEntropy,
        }
    }
    fn name(self) -> &'static str {
        match self {
            CertifyLoss::Mse => "mse",
            CertifyLoss::Ce => "ce",
        }
    }
}

/// Report formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// A table for humans.
    Table,
    /// The JSON document of SPEC §11.
    Json,
}

/// A certification error with its exit code.
fn certify_error(e: CertifyError) -> CliError {
    if e.is_input_error() {
        CliError::input(e)
    } else {
        CliError::failure(e)
    }
}

/// Runs `ftnn certify`.
pub fn run(args: CertifyArgs) -> Result<(), CliError> {
    // Validate everything before any work: bad input fails fast and writes nothing.
    let loss = args.loss.loss();
    ftnn_certify::quantities::check_epsilon(args.epsilon)
        .map_err(|e| CliError::input(anyhow::Error::new(e).context("--epsilon")))?;
    ftnn_certify::quantities::check_delta(args.delta)
        .map_err(|e| CliError::input(anyhow::Error::new(e).context("--delta")))?;
    crashing_layer(&args.p).map_err(|e| CliError::input(anyhow::Error::new(e).context("--p")))?;
    let output = args.output.as_deref();
    let format = args.format.unwrap_or(if has_extension(output, "json") {
        Format::Json
    } else {
        Format::Table
    });
    let problem = ProblemArgs {
        model: args.model.clone(),
        inputs: vec![args.inputs.clone()],
        preprocess: None,
        p: args.p.clone(),
        crash_mask: None,
        repetitions: 1,
        seed: args.seed,
        max_memory: None,
        device: args.device,
    }
    .load_with(false)?;
    let problem = match problem {
        AnyProblem::Mlp(p) => p,
        AnyProblem::Seq(_) => {
            return Err(CliError::input(anyhow!(
                "not supported yet: `ftnn certify` needs an MLP (linear layers and one kind of \
                 activation); {} is a Sequential network with other layers (convolution, \
                 pooling, normalisation). The quantities of SPEC §6 (balancedness of the \
                 weights into the crashing layer, b3 on the loss) are implemented for MLPs",
                args.model.model.display()
            )))
        }
    };
    let targets = read_targets(
        &args.targets,
        problem.inputs.rows(),
        problem.net.n_outputs(),
        args.loss,
    )
    .map_err(CliError::input)?;
    if let Some(out) = output {
        check_writable(out)?;
    }
    let settings = Settings {
        loss,
        epsilon: args.epsilon,
        delta: args.delta,
        verify: args.verify,
        seed: args.seed,
    };
    let cert = certify(
        &problem.net,
        &problem.p,
        &problem.inputs,
        &targets,
        &settings,
    )
    .map_err(certify_error)?;
    let model = describe(&Network::Mlp(problem.net.clone()));
    let doc = document(model, &args, &cert);
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&doc).expect("plain data serialises") + "\n",
        Format::Table => table(
            &doc.model,
            &args,
            &cert,
            if output.is_some() { usize::MAX } else { 20 },
        ),
    };
    emit(output, &text)
}

/// The JSON document of SPEC §11 "`ftnn certify`" (keys in its order), with the seed of the
/// check.
#[derive(Serialize)]
struct Report<'a> {
    ftnn_version: &'static str,
    model: serde_json::Value,
    p: &'a [f64],
    loss: &'static str,
    epsilon: f64,
    delta: f64,
    seed: u64,
    network: NetworkJson,
    inputs: Vec<InputJson>,
    verdict: &'static str,
    copies: usize,
}

/// `"network"`: the quantities that do not depend on the input.
#[derive(Serialize)]
struct NetworkJson {
    crashing_layer: usize,
    width: usize,
    q: f64,
    alpha: f64,
    delta0: f64,
}

/// One entry of `"inputs"`; `chebyshev` and `bound` are null when E Δ ≥ ε, `empirical` with
/// `--verify 0`.
#[derive(Serialize)]
struct InputJson {
    mean: f64,
    var: f64,
    chebyshev: Option<f64>,
    bound: Option<f64>,
    verdict: &'static str,
    empirical: Option<EmpiricalJson>,
}

/// The Monte Carlo check of one input.
#[derive(Serialize)]
struct EmpiricalJson {
    tail: f64,
    stderr: f64,
    upper: f64,
    repetitions: usize,
    verified: bool,
}

/// The report of a certificate.
fn document<'a>(model: serde_json::Value, args: &'a CertifyArgs, cert: &Certificate) -> Report<'a> {
    let n = &cert.network;
    Report {
        ftnn_version: env!("CARGO_PKG_VERSION"),
        model,
        p: args.p.as_slice(),
        loss: args.loss.name(),
        epsilon: args.epsilon,
        delta: args.delta,
        seed: args.seed,
        network: NetworkJson {
            crashing_layer: n.crashing_layer,
            width: n.width,
            q: n.q,
            alpha: n.alpha,
            delta0: n.delta0,
        },
        inputs: cert
            .inputs
            .iter()
            .map(|c| InputJson {
                mean: c.mean,
                var: c.var,
                chebyshev: c.chebyshev,
                bound: c.bound,
                verdict: c.verdict.kind().as_str(),
                empirical: c.empirical.map(|e| EmpiricalJson {
                    tail: e.tail,
                    stderr: e.stderr,
                    upper: e.upper,
                    repetitions: e.repetitions,
                    verified: e.verified,
                }),
            })
            .collect(),
        verdict: cert.verdict.as_str(),
        copies: cert.copies,
    }
}

/// Why an input is not certified, or its margins, in words.
fn reason(v: &Verdict) -> String {
    match v {
        Verdict::Certified {
            feasibility_margin,
            bound_margin,
        } => format!("ε − EΔ = {feasibility_margin:.3e}, 1/3 − bound = {bound_margin:.3e}"),
        Verdict::NotCertified { condition, excess } => {
            format!("{} (by {excess:.3e})", condition.describe())
        }
        Verdict::Infeasible { excess } => format!("EΔ ≥ ε (by {excess:.3e})"),
    }
}

/// 1/3 − bound of a certified input (+∞ otherwise).
fn bound_margin(c: &InputCertificate) -> f64 {
    match c.verdict {
        Verdict::Certified { bound_margin, .. } => bound_margin,
        _ => f64::INFINITY,
    }
}

/// The human table.
fn table(
    m: &serde_json::Value,
    args: &CertifyArgs,
    cert: &Certificate,
    max_inputs: usize,
) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let n = &cert.network;
    let _ = writeln!(
        s,
        "model    {} {} (K = {}), i.e. {}",
        m["sizes"],
        m["activation"].as_str().unwrap_or("?"),
        m["k_lips"],
        m["function"].as_str().unwrap_or("?")
    );
    let _ = writeln!(s, "p        {:?}", args.p.as_slice());
    let _ = writeln!(
        s,
        "target   P(Δ > ε) ≤ δ for Δ = change of the {} loss, ε = {}, δ = {}",
        args.loss.name(),
        args.epsilon,
        args.delta
    );
    let _ = writeln!(
        s,
        "network  crashing layer {} (width {}): q = {:.6}, α = e^2.5·p = {:.6}, δ₀ = {:.6e}",
        n.crashing_layer, n.width, n.q, n.alpha, n.delta0
    );
    let _ = writeln!(
        s,
        "copies   R = {} (median of R networks, each failing with probability < 1/3, fails \
         with probability < δ)",
        cert.copies
    );
    if args.verify > 0 {
        let _ = writeln!(
            s,
            "verify   {} crash patterns per input, seed {}; Clopper–Pearson upper bound u at \
             confidence {}, verified when u < 1/3",
            args.verify, args.seed, CP_CONFIDENCE
        );
    }
    s.push('\n');
    let _ = write!(
        s,
        "{:>6} {:>13} {:>11} {:>11} {:>11} {:>14}",
        "input", "E Δ (b3)", "Var Δ (b3)", "chebyshev", "bound", "verdict"
    );
    if args.verify > 0 {
        let _ = write!(
            s,
            " {:>11} {:>10} {:>10} {:>9}",
            "P̂(Δ>ε)", "stderr", "upper u", "verified"
        );
    }
    s.push('\n');
    let opt = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.4e}"));
    for (i, c) in cert.inputs.iter().enumerate().take(max_inputs) {
        let _ = write!(
            s,
            "{:>6} {:>13.5e} {:>11.4e} {:>11} {:>11} {:>14}",
            i,
            c.mean,
            c.var,
            opt(c.chebyshev),
            opt(c.bound),
            c.verdict.kind().as_str()
        );
        if let Some(e) = c.empirical {
            let _ = write!(
                s,
                " {:>11.4e} {:>10.3e} {:>10.4e} {:>9}",
                e.tail,
                e.stderr,
                e.upper,
                if e.verified { "yes" } else { "no" }
            );
        }
        s.push('\n');
    }
    let total = cert.inputs.len();
    if total > max_inputs {
        let _ = writeln!(
            s,
            "… {} more inputs (use --format json or --output FILE.json for all)",
            total - max_inputs
        );
    }
    s.push('\n');
    let _ = writeln!(s, "verdict  {} (first order, b3 on the loss)", cert.verdict);
    // The input that decided the verdict: the first of its kind, or for a certified network
    // the one with the least margin.
    let decisive = if cert.verdict == VerdictKind::Certified {
        cert.inputs
            .iter()
            .enumerate()
            .min_by(|a, b| bound_margin(a.1).total_cmp(&bound_margin(b.1)))
    } else {
        cert.inputs
            .iter()
            .enumerate()
            .find(|(_, c)| c.verdict.kind() == cert.verdict)
    };
    if let Some((i, c)) = decisive {
        let _ = writeln!(s, "         input {i}: {}", reason(&c.verdict));
    }
    if let Some(all) = cert.all_verified() {
        let failed = cert
            .inputs
            .iter()
            .filter(|c| c.empirical.is_some_and(|e| !e.verified))
            .count();
        let _ = writeln!(
            s,
            "verified {} (Monte Carlo{})",
            if all { "yes" } else { "no" },
            if all {
                ": every input's upper bound u < 1/3".to_string()
            } else {
                format!(": {failed} of {total} inputs have u ≥ 1/3")
            }
        );
    }
    let _ = writeln!(
        s,
        "note     E Δ and Var Δ come from b3, a first-order estimate, not a bound; the \
         Monte Carlo check (--verify) is the empirical statement"
    );
    s
}

/// Reads the targets as `[N, n_L]` f32 (SPEC §11): a float (or integer) array `[N, n_L]`; for
/// ce a 1-D array of N integer class labels in 0..n_L (one-hot encoded here); for mse on a
/// network with one output a 1-D array `[N]`.
fn read_targets(
    path: &Path,
    n: usize,
    n_out: usize,
    loss: CertifyLoss,
) -> anyhow::Result<Vec<f32>> {
    let what = || format!("--targets {}", path.display());
    let (shape, values) = read_numbers(path).with_context(what)?;
    let data = match shape[..] {
        [rows, cols] => {
            if rows != n || cols != n_out {
                bail!(
                    "{}: shape {shape:?}, but the inputs have {n} rows and the network {n_out} \
                     outputs: expected [{n}, {n_out}]",
                    what()
                );
            }
            values.into_iter().map(|v| v as f32).collect()
        }
        [rows] => {
            if rows != n {
                bail!("{}: {rows} targets, but the inputs have {n} rows", what());
            }
            match loss {
                CertifyLoss::Ce => {
                    let mut t = vec![0f32; n * n_out];
                    for (i, &v) in values.iter().enumerate() {
                        if v.fract() != 0.0 || v < 0.0 || v >= n_out as f64 {
                            bail!(
                                "{}: label {v} of row {i} is not a class index in 0..{n_out}",
                                what()
                            );
                        }
                        t[i * n_out + v as usize] = 1.0;
                    }
                    t
                }
                CertifyLoss::Mse if n_out == 1 => values.into_iter().map(|v| v as f32).collect(),
                CertifyLoss::Mse => bail!(
                    "{}: a 1-D array of labels is accepted for --loss ce only; for mse give \
                     [N, n_L] = [{n}, {n_out}] targets",
                    what()
                ),
            }
        }
        _ => bail!(
            "{}: targets must be [N, n_L] or, for ce, 1-D class labels [N]; got shape {shape:?}",
            what()
        ),
    };
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        bail!(
            "{}: value {} at position {i} is not finite",
            what(),
            data[i]
        );
    }
    Ok(data)
}

/// The shape and values of a float or integer `.npy` array (C order).
fn read_numbers(path: &Path) -> anyhow::Result<(Vec<usize>, Vec<f64>)> {
    let bytes = std::fs::read(path).context("cannot read the file")?;
    // Shapes whose element count overflows are refused before npyz multiplies them.
    crate::npy::check_npy_header(&bytes).map_err(|e| anyhow!("not a valid .npy file: {e}"))?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| anyhow!("not a valid .npy file: {e}"))?;
    let dtype = match npy.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        other => bail!("unsupported dtype {other:?}"),
    };
    if matches!(&dtype[1..], "f4" | "f8") {
        let a = crate::npy::read_array(path, "targets")?;
        return Ok((a.shape, a.data.into_iter().map(f64::from).collect()));
    }
    if npy.order() == npyz::Order::Fortran && npy.shape().len() > 1 {
        bail!("integer targets must be in C order (save them with numpy's default order)");
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let count: usize = shape.iter().product();
    let truncated = |e: std::io::Error| anyhow!("cannot read {count} values ({e}); truncated?");
    let values: Vec<f64> = match &dtype[1..] {
        "i1" => npy
            .into_vec::<i8>()
            .map_err(truncated)?
            .into_iter()
            .map(f64::from)
            .collect(),
        "i2" => npy
            .into_vec::<i16>()
            .map_err(truncated)?
            .into_iter()
            .map(f64::from)
            .collect(),
        "i4" => npy
            .into_vec::<i32>()
            .map_err(truncated)?
            .into_iter()
            .map(f64::from)
            .collect(),
        "i8" => npy
            .into_vec::<i64>()
            .map_err(truncated)?
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        "u1" => npy
            .into_vec::<u8>()
            .map_err(truncated)?
            .into_iter()
            .map(f64::from)
            .collect(),
        "u2" => npy
            .into_vec::<u16>()
            .map_err(truncated)?
            .into_iter()
            .map(f64::from)
            .collect(),
        "u4" => npy
            .into_vec::<u32>()
            .map_err(truncated)?
            .into_iter()
            .map(f64::from)
            .collect(),
        "u8" => npy
            .into_vec::<u64>()
            .map_err(truncated)?
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        _ => {
            bail!("dtype {dtype} is not supported; save the targets as float32/float64 or integers")
        }
    };
    if values.len() != count {
        bail!(
            "expected {count} values for shape {shape:?}, found {}",
            values.len()
        );
    }
    Ok((shape, values))
}
