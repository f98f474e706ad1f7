//! Arguments and steps shared by the subcommands: loading the model, the failure vector and
//! the inputs with clear errors, the bounds to compute, writing the report, progress bars.

use crate::images::{self, InputFiles, Preprocess};
use crate::limits::{self, Budget, Footprint, Shape};
use crate::network::{ModelArgs, Network};
use crate::npy::{peek_header, read_array, read_inputs};
use crate::CliError;
use anyhow::Context;
use candle_core::{Device, Tensor};
use ftnn_bounds::{BoundKind, BoundsError};
use ftnn_model::runtime::{DeviceError, DeviceSpec};
use ftnn_model::seq::Sequential;
use ftnn_model::{FailureVector, Inputs, Mlp, ModelError, MonteCarlo};
use std::path::{Path, PathBuf};

/// The model, its failure vector and the inputs.
#[derive(clap::Args, Debug)]
pub struct ProblemArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Inputs: a float32/float64 .npy array [N, n_0] (MLP) or [N, *input_shape] (Sequential),
    /// or one or more PNG/JPEG images for a Sequential network of input [C, H, W] (with
    /// --preprocess).
    #[arg(long, required = true, num_args = 1..)]
    pub inputs: Vec<PathBuf>,
    /// How image inputs become the network's [C, H, W] inputs; required with images, an error
    /// with a .npy array.
    #[arg(long, value_enum)]
    pub preprocess: Option<Preprocess>,
    /// Crash probability per crash site, comma-separated: for an MLP one per layer of
    /// neurons (input, hidden…, output); for a Sequential network the input, every
    /// activation's output and the output (`ftnn inspect` lists them).
    #[arg(long, allow_hyphen_values = true, value_parser = |s: &str| s.parse::<FailureVector>())]
    pub p: FailureVector,
    /// A 0/1 .npy array of one example's input shape: only input entries where it is 1 may
    /// crash (SPEC §11).
    #[arg(long)]
    pub crash_mask: Option<PathBuf>,
    /// Crash patterns drawn per input (streamed: memory does not grow with it; inputs ×
    /// repetitions at most 2^53).
    #[arg(long, default_value_t = 10_000)]
    pub repetitions: usize,
    /// Seed of the crash patterns.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Memory budget, e.g. 512M or 16G: a run whose model, inputs and working memory would
    /// need more (estimated from the files' sizes and headers) is refused before they are read
    /// [default: FTNN_MAX_MEMORY, else 3/4 of the physical memory]. README, "Limits".
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
    /// Device of the tensors: cpu, cuda or cuda:N (a build with `--features cuda`). On a CUDA
    /// device `analyze` runs the Sequential engine there (an MLP included: batched masks and
    /// GEMMs in candle, the masks drawn on the host from the same seeded streams as on the
    /// CPU); the MLP engine of `compare` and `certify` is host code and stays on the CPU.
    #[arg(long, default_value = "cpu", value_parser = device_spec)]
    pub device: DeviceSpec,
}

/// Parses `--device` (clap value parser): `cpu`, `cuda` or `cuda:N`.
pub fn device_spec(s: &str) -> Result<DeviceSpec, DeviceError> {
    s.parse()
}

/// Opens the `--device`: a CUDA device on a build without the `cuda` feature is invalid usage
/// (exit code 2, "this ftnn was built without the cuda feature"); a CUDA build that cannot open
/// the GPU fails with candle's error (exit code 1).
pub fn open_device(spec: DeviceSpec) -> Result<Device, CliError> {
    spec.open().map_err(|e| {
        if e.is_input_error() {
            CliError::input(e)
        } else {
            CliError::failure(e)
        }
    })
}

/// A loaded, validated problem on the MLP engine.
pub struct Problem {
    /// The network.
    pub net: Mlp,
    /// Its failure vector.
    pub p: FailureVector,
    /// The inputs.
    pub inputs: Inputs,
}

/// A loaded, validated problem on a Sequential network (CNNs).
pub struct SeqProblem {
    /// The network.
    pub net: Sequential,
    /// One crash probability per site.
    pub p: FailureVector,
    /// The inputs `[N, *input_shape]`.
    pub x: Tensor,
    /// The input crash mask (one example's input, flattened), if any.
    pub crash_mask: Option<Vec<f32>>,
}

/// Either kind of problem.
pub enum AnyProblem {
    /// An MLP, on the MLP engine.
    Mlp(Problem),
    /// A Sequential network.
    Seq(SeqProblem),
}

impl ProblemArgs {
    /// Loads and cross-checks everything; every failure is bad input (exit code 2). On a
    /// device other than the CPU an MLP goes to the Sequential engine on that device.
    pub fn load_any(&self) -> Result<AnyProblem, CliError> {
        self.load_with(true)
    }

    /// [`ProblemArgs::load_any`]; with `mlp_on_device` false an MLP stays on the MLP engine
    /// (host) whatever `--device`.
    pub fn load_with(&self, mlp_on_device: bool) -> Result<AnyProblem, CliError> {
        if self.repetitions == 0 {
            return Err(ModelError::ZeroRepetitions.into());
        }
        let device = open_device(self.device)?;
        let budget = Budget::resolve(self.max_memory.as_deref())?;
        limits::check_file(&self.model.model, 2, "the model", &budget)?;
        let files = images::classify(&self.inputs, self.preprocess)?;
        let net = self.model.load_on(&device)?;
        // A crash mask needs the Sequential engine, which takes MLPs too; so does a device
        // other than the host (the MLP engine's loops are CPU code).
        let to_seq = self.crash_mask.is_some() || (mlp_on_device && !device.is_cpu());
        let net = match net {
            Network::Mlp(m) if to_seq => Network::Seq(Box::new(
                Sequential::from_mlp(&m, &device).map_err(CliError::from)?,
            )),
            net => net,
        };
        match net {
            Network::Mlp(net) => {
                // The one check of p against the network (SPEC §1): everything downstream
                // trusts it.
                let p = self.p.clone().for_network(&net).map_err(|e| {
                    wrap(e, &format!("--p for a network of sizes {:?}", net.sizes()))
                })?;
                let path = match &files {
                    InputFiles::Npy(path) => path,
                    InputFiles::Images(paths, _) => {
                        return Err(images::not_an_image_network(&paths[0], &[net.n_inputs()]))
                    }
                };
                let sizes: Vec<u64> = net.sizes().iter().map(|&n| n as u64).collect();
                let width = net.n_inputs() as u64;
                let rows = limits::block_rows(p.as_slice(), &sizes);
                self.check_limits(&budget, &files, width, &sizes, rows, net.n_outputs() as u64)?;
                let inputs = read_inputs(path).map_err(CliError::input)?;
                inputs
                    .check_width(net.n_inputs())
                    .map_err(|e| wrap(e, &format!("inputs {}", path.display())))?;
                Ok(AnyProblem::Mlp(Problem { net, p, inputs }))
            }
            Network::Seq(net) => {
                let net = *net;
                if self.p.len() != net.n_sites() {
                    let sites: Vec<String> = net.sites().iter().map(|s| s.label.clone()).collect();
                    return Err(CliError::input(anyhow::anyhow!(
                        "--p has {} entries but the network has {} crash sites ({}); give one \
                         probability per site",
                        self.p.len(),
                        net.n_sites(),
                        sites.join(", ")
                    )));
                }
                // The mask is one input, read first: its crashable entries bound the crashed
                // rows of the estimate (its errors are reported in their usual place below).
                let mask = match &self.crash_mask {
                    None => None,
                    Some(path) => {
                        limits::check_file(path, 3, "the crash mask", &budget)?;
                        Some(read_array(path, "crash mask"))
                    }
                };
                let sizes: Vec<u64> = net.sites().iter().map(|s| s.size as u64).collect();
                let width = net.input_shape().iter().product::<usize>() as u64;
                let mut crashable = sizes.clone();
                if let Some(Ok(m)) = &mask {
                    crashable[0] = m.data.iter().filter(|&&v| v == 1.0).count() as u64;
                }
                let rows = limits::block_rows(self.p.as_slice(), &crashable);
                self.check_limits(&budget, &files, width, &sizes, rows, net.n_outputs() as u64)?;
                let a = match &files {
                    InputFiles::Npy(path) => read_array(path, "inputs").map_err(CliError::input)?,
                    InputFiles::Images(paths, pre) => {
                        images::read_images(paths, *pre, net.input_shape())?
                    }
                };
                let x = Tensor::from_vec(a.data, a.shape, &device)
                    .map_err(|e| CliError::from(ModelError::from(e)))?;
                // Shapes are checked here, before any work.
                net.forward(
                    &x.narrow(0, 0, 1.min(x.dims()[0]))
                        .map_err(|e| CliError::from(ModelError::from(e)))?,
                )
                .map_err(|e| wrap(e, &format!("inputs {}", files.describe())))?;
                let crash_mask = match &self.crash_mask {
                    None => None,
                    Some(path) => {
                        let m = mask.expect("read above").map_err(CliError::input)?;
                        if m.shape != net.input_shape() {
                            return Err(CliError::input(anyhow::anyhow!(
                                "--crash-mask {}: shape {:?}, but one input is {:?}",
                                path.display(),
                                m.shape,
                                net.input_shape()
                            )));
                        }
                        Some(m.data)
                    }
                };
                Ok(AnyProblem::Seq(SeqProblem {
                    net,
                    p: self.p.clone(),
                    x,
                    crash_mask,
                }))
            }
        }
    }

    /// Refuses a run that exceeds the [`crate::limits`]: the inputs (their `.npy` header, or
    /// the number of images of `input_values` values) with the network's crash `sites` (values
    /// per example at each), `block_rows` crashed rows per Monte Carlo block
    /// ([`limits::block_rows`]) and `n_outputs` outputs must fit in the budget, inputs ×
    /// repetitions in 2⁵³.
    fn check_limits(
        &self,
        budget: &Budget,
        files: &InputFiles,
        input_values: u64,
        sites: &[u64],
        block_rows: u64,
        n_outputs: u64,
    ) -> Result<(), CliError> {
        let model_file = std::fs::metadata(&self.model.model).map_or(0, |m| m.len());
        let (n_inputs, values_per_input, inputs_file, bytes_per_value) = match files {
            InputFiles::Npy(path) => {
                limits::check_file(path, 1, "the inputs file", budget)?;
                // An unreadable header is left to the reader, which names the problem.
                let Ok(h) = peek_header(path) else {
                    return Ok(());
                };
                let n = h.shape.first().copied().unwrap_or(1);
                let values = h
                    .shape
                    .iter()
                    .skip(1)
                    .fold(1u64, |a, &d| a.saturating_mul(d));
                (n, values, h.file_len, 12)
            }
            InputFiles::Images(paths, _) => (paths.len() as u64, input_values, 0, 8),
        };
        let shape = Shape {
            model_file,
            inputs_file,
            bytes_per_value,
            n_inputs,
            values_per_input,
            site_values: sites.iter().sum(),
            largest_site: sites.iter().copied().max().unwrap_or(0),
            block_rows,
            n_outputs,
        };
        Footprint::estimate(&shape, limits::threads()).check(n_inputs, budget)?;
        limits::check_rows(n_inputs, self.repetitions)
    }

    /// [`ProblemArgs::load_any`] for commands that need the MLP engine (the bounds b1/b2 and
    /// the comparisons), which runs on the host whatever `--device` (it is still opened, so
    /// an unusable device is reported).
    pub fn load(&self) -> Result<Problem, CliError> {
        match self.load_with(false)? {
            AnyProblem::Mlp(p) => Ok(p),
            AnyProblem::Seq(_) => Err(CliError::input(anyhow::anyhow!(
                "this command needs an MLP (linear and activation layers); {} is a Sequential \
                 network with other layers — use `ftnn analyze` for it",
                self.model.model.display()
            ))),
        }
    }

    /// The configured Monte Carlo run.
    pub fn monte_carlo<'a>(&self, problem: &'a Problem) -> Result<MonteCarlo<'a>, CliError> {
        Ok(MonteCarlo::new(&problem.net, problem.p.clone())?
            .repetitions(self.repetitions)
            .seed(self.seed))
    }
}

/// The bounds named by `--bounds` that apply to the problem. With `all` (or a group such as
/// `b1`… inside `all`), undefined bounds are skipped with a note; a bound named explicitly that
/// is undefined is an error.
pub fn select_bounds(
    list: &str,
    problem: &Problem,
) -> Result<(Vec<BoundKind>, Vec<String>), CliError> {
    let requested = BoundKind::parse_list(list)
        .map_err(|e| CliError::input(anyhow::anyhow!("--bounds: {e}")))?;
    let all = list.split(',').any(|s| s.trim() == "all");
    let (mut kinds, mut notes) = (Vec::new(), Vec::new());
    for kind in requested {
        match kind.check_applicable(&problem.net, &problem.p) {
            Ok(()) => kinds.push(kind),
            Err(e) if all => notes.push(format!("{} omitted: {e}", kind.name())),
            Err(e) => return Err(CliError::input(anyhow::Error::new(e).context("--bounds"))),
        }
    }
    Ok((kinds, notes))
}

/// Bound failures: a network that overflows on the inputs is bad input (exit 2).
pub fn bounds_error(e: BoundsError) -> CliError {
    match e {
        BoundsError::Model(m) => m.into(),
        other => CliError::input(other),
    }
}

/// A model error with context, keeping its exit code.
pub fn wrap(e: ModelError, context: &str) -> CliError {
    let code = if e.is_input_error() { 2 } else { 1 };
    CliError {
        code,
        error: anyhow::Error::new(e).context(context.to_string()),
    }
}

/// Fails early when `path` cannot be written: its directory must exist and accept a file.
pub fn check_writable(path: &Path) -> Result<(), CliError> {
    let inner = || -> anyhow::Result<()> {
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
    };
    inner().map_err(CliError::input)
}

/// Writes `text` to `--output` atomically, or prints it.
pub fn emit(output: Option<&Path>, text: &str) -> Result<(), CliError> {
    match output {
        Some(out) => ftnn_model::io::write_atomic(out, text.as_bytes()).map_err(CliError::failure),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// True when `path` ends in `.ext` (case-insensitive).
pub fn has_extension(path: Option<&Path>, ext: &str) -> bool {
    path.and_then(Path::extension)
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr_with_hz(4),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {what} {{human_pos}}/{{human_len}} [{{bar:30}}] {{percent}}% ({{eta}} left)"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

/// Test-only hook (`crates/cli/tests/cli_train_kill.rs`): when `FTNN_TEST_PAUSE_AT` equals
/// `point`, creates the file named by `FTNN_TEST_PAUSED_FLAG` (if set) and sleeps until the
/// process is killed. Points: `train:model-written` (the model is written, the history not).
/// Never set it otherwise.
pub fn pause_point(point: &str) {
    if std::env::var_os("FTNN_TEST_PAUSE_AT").is_none_or(|at| at != point) {
        return;
    }
    if let Some(flag) = std::env::var_os("FTNN_TEST_PAUSED_FLAG") {
        let _ = std::fs::write(flag, b"paused");
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
