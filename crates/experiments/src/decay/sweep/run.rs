//! Running a sweep: loading its data once, training and measuring each network as a stored
//! job, timing training steps, fitting the metrics and estimating a profile's wall time.

use super::results::{
    MeasureTiming, Metric, MetricFit, NetRecord, ProfileEstimate, Results, StepTime, SweepEstimate,
    SweepResult,
};
use super::spec::{DataSet, SweepSpec, D_CHUNK_ROWS, VAR_DELTA_SALT};
use crate::common::boston::BostonData;
use crate::common::fit::fit_loglog;
use crate::common::mnist::job_seed;
use anyhow::Context as _;
use ftnn_data::{load_mnist, DataDir, ImageSet, Split};
use ftnn_decay::{
    hessian_summary, mean_abs_gradient, var_delta, weight_norms, Loss, HESSIAN_SAMPLES,
};
use ftnn_lab::Context;
use ftnn_lab::Profile;
use ftnn_model::{Inputs, Mlp};
use ftnn_train::{evaluate, Dataset, Trainer};
use std::sync::OnceLock;
use std::time::Instant;

/// MNIST / Fashion-MNIST / Boston as a sweep uses them, loaded at most once per run and only
/// when a job has to be computed.
pub(crate) struct LazyData {
    pub(crate) spec: SweepSpec,
    pub(crate) cell: OnceLock<SweepData>,
}

/// The training and test sets of a sweep.
pub(crate) struct SweepData {
    pub(crate) train: Dataset,
    pub(crate) test: Dataset,
}

impl LazyData {
    pub(crate) fn new(spec: &SweepSpec) -> Self {
        Self {
            spec: spec.clone(),
            cell: OnceLock::new(),
        }
    }
    pub(crate) fn get(&self) -> anyhow::Result<&SweepData> {
        if let Some(d) = self.cell.get() {
            return Ok(d);
        }
        let data = load_data(&self.spec)?;
        Ok(self.cell.get_or_init(|| data))
    }
}

/// Loads the data of `spec` (checksums verified), cut to its training examples.
pub(crate) fn load_data(spec: &SweepSpec) -> anyhow::Result<SweepData> {
    let rows = spec.train_rows();
    anyhow::ensure!(
        rows >= 1,
        "the sweep `{}` has no training examples",
        spec.name
    );
    let (train, test) = match spec.data {
        DataSet::Boston => {
            let b = BostonData::load(false)?; // raw features (SPEC §15)
            (b.train, b.test)
        }
        DataSet::Mnist | DataSet::Fashion => {
            let set = if spec.data == DataSet::Mnist {
                ImageSet::Mnist
            } else {
                ImageSet::FashionMnist
            };
            let dir = DataDir::locate()
                .with_context(|| format!("locating the data directory for {}", set.name()))?;
            let train = load_mnist(&dir, set, Split::Train)?;
            let test = load_mnist(&dir, set, Split::Test)?;
            (Dataset::from_images(&train)?, Dataset::from_images(&test)?)
        }
    };
    let train = if rows < train.rows() {
        train.subset(0..rows)?
    } else {
        train
    };
    anyhow::ensure!(
        !spec.derivatives || train.rows() >= HESSIAN_SAMPLES,
        "the Hessian needs at least {HESSIAN_SAMPLES} training examples, the sweep `{}` has {}",
        spec.name,
        train.rows()
    );
    Ok(SweepData { train, test })
}

/// The seed of network `rep` of width `n` in a sweep seeded `sweep_seed`: distinct for every
/// (n, rep) of a sweep, unrelated across sweep seeds, the same in every run and shard.
pub fn net_seed(sweep_seed: u64, n: usize, rep: usize) -> u64 {
    // Spreads the sweep seeds apart (odd multiplier: a bijection) so that they do not collide
    // with the n·2³² + rep offsets of `job_seed`.
    job_seed(sweep_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), n, rep)
}

/// Trains the network of width `n`, repetition `rep` and measures it.
pub(crate) fn train_and_measure(
    ctx: &Context,
    spec: &SweepSpec,
    data: &SweepData,
    n: usize,
    rep: usize,
) -> anyhow::Result<NetRecord> {
    let seed = net_seed(spec.seed, n, rep);
    let config = spec.config(n, seed);
    let bar = ctx.progress(
        spec.epochs as u64,
        &format!("{}: n = {n}, net {rep}", spec.name),
    );
    let start = Instant::now();
    let mut trainer = Trainer::new(config)?;
    let history = trainer.fit(&data.train, None, &mut |b| {
        if b.batch == b.batches {
            bar.inc(1);
        }
    })?;
    let train_seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let net = trainer.model()?;
    let final_objective = history.epochs.last().map_or(f64::NAN, |e| e.objective);

    let start = Instant::now();
    let d = if spec.derivatives {
        Some(derivative(&net, &data.train)?)
    } else {
        None
    };
    let derivative_seconds = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let var = match spec.var_delta {
        Some(v) => Some(var_delta(
            &net,
            data.train.input(0),
            v.p,
            1,
            v.repetitions,
            seed ^ VAR_DELTA_SALT,
        )?),
        None => None,
    };
    let var_delta_seconds = start.elapsed().as_secs_f64();

    let start = Instant::now();
    // SPEC §15: |·| of the signed Hessian averaged over the first 10 training examples; the
    // per-sample-|H| variant comes from the same pass, for comparison only.
    let hessians = if spec.derivatives {
        let k = HESSIAN_SAMPLES;
        let n_in = data.train.n_in();
        let x = Inputs::new(data.train.x()[..k * n_in].to_vec(), k, n_in)?;
        let t = &data.train.targets()[..k * data.train.n_out()];
        Some(hessian_summary(&net, &x, t, k, Loss::Mse)?)
    } else {
        None
    };
    let norms = weight_norms(&net);
    let test = evaluate(&net, &data.test, Loss::Mse)?;
    let other_seconds = start.elapsed().as_secs_f64();
    Ok(NetRecord {
        width: n,
        rep,
        seed,
        d,
        h_diag: hessians.map(|h| h.of_mean.diag),
        h_all: hessians.map(|h| h.of_mean.all),
        h_diag_per_sample: hessians.map(|h| h.per_sample.diag),
        h_all_per_sample: hessians.map(|h| h.per_sample.all),
        w: norms.per_layer,
        w_prod: norms.product,
        var_delta: var,
        test,
        final_objective,
        train_seconds,
        derivative_seconds,
        var_delta_seconds,
        other_seconds,
    })
}

/// D over every row of `data`, in chunks of [`D_CHUNK_ROWS`].
pub(crate) fn derivative(net: &Mlp, data: &Dataset) -> anyhow::Result<f64> {
    let (n_in, n_out) = (data.n_in(), data.n_out());
    let mut sum = 0.0;
    for start in (0..data.rows()).step_by(D_CHUNK_ROWS) {
        let end = (start + D_CHUNK_ROWS).min(data.rows());
        let x = Inputs::new(
            data.x()[start * n_in..end * n_in].to_vec(),
            end - start,
            n_in,
        )?;
        let t = &data.targets()[start * n_out..end * n_out];
        sum += mean_abs_gradient(net, &x, t, Loss::Mse)?
            .iter()
            .sum::<f64>();
    }
    Ok(sum / data.rows() as f64)
}

/// Runs every sweep of `specs` (each through its own [`Context::jobs`]), fits, and estimates
/// the wall time of the `target` profile's sweeps (matched by name; usually the paper's) by
/// timing a few of their training steps at each of their widths (`calibrate`, stored as the
/// step `calibration-<name>`). The jobs and the calibration of every sweep are attempted
/// before an error is returned, so that a shard computes its part of each and stores every
/// calibration a later merge needs.
pub fn run_sweeps(
    ctx: &Context,
    specs: &[SweepSpec],
    (target_profile, target): (Profile, &[SweepSpec]),
) -> anyhow::Result<Results> {
    let mut done = Vec::new();
    let mut first_err = None;
    for spec in specs {
        let data = LazyData::new(spec);
        let nets = run_jobs(ctx, spec, &data);
        let calibration = target
            .iter()
            .find(|t| t.name == spec.name)
            .map(|t| {
                ctx.step(&format!("calibration-{}", spec.name), || {
                    calibrate(t, data.get()?)
                })
            })
            .transpose();
        match (nets, calibration) {
            (Ok(nets), Ok(cal)) => done.push((summarise(spec, nets), cal)),
            (Err(e), _) | (_, Err(e)) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let estimate = estimate(&done, target_profile, target);
    Ok(Results {
        sweeps: done.into_iter().map(|(s, _)| s).collect(),
        estimate,
    })
}

/// The jobs of one sweep: one trained and measured network per (width, repetition).
pub(crate) fn run_jobs(
    ctx: &Context,
    spec: &SweepSpec,
    data: &LazyData,
) -> anyhow::Result<Vec<NetRecord>> {
    anyhow::ensure!(
        spec.widths.len() >= 2 && spec.reps >= 1,
        "the sweep `{}` needs at least two widths and one network per width",
        spec.name
    );
    let jobs: Vec<(usize, usize)> = spec
        .widths
        .iter()
        .flat_map(|&n| (0..spec.reps).map(move |r| (n, r)))
        .collect();
    let keys: Vec<String> = jobs.iter().map(|(n, r)| format!("w{n}-r{r}")).collect();
    ctx.jobs(&format!("nets-{}", spec.name), &keys, |i, _| {
        let (n, r) = jobs[i];
        train_and_measure(ctx, spec, data.get()?, n, r)
    })
}

/// Mini-batches timed per width by `calibrate` (after as many for warming up).
pub const CALIBRATION_BATCHES: usize = 3;

/// Seconds per training step of `target`'s networks at each of its widths: one epoch over
/// the first [`CALIBRATION_BATCHES`] mini-batches of `data` warms up, a second is timed.
/// The networks are those of `target` (sizes, regularizers, batch size, seed of repetition 0);
/// the data are the sweep's own training set, which has the same inputs and targets.
pub(crate) fn calibrate(target: &SweepSpec, data: &SweepData) -> anyhow::Result<Vec<StepTime>> {
    let rows = (CALIBRATION_BATCHES * target.batch_size).min(data.train.rows());
    let subset = data.train.subset(0..rows)?;
    let steps = rows.div_ceil(target.batch_size.min(rows));
    target
        .widths
        .iter()
        .map(|&n| {
            let mut trainer = Trainer::new(target.config(n, net_seed(target.seed, n, 0)))?;
            trainer.epoch(&subset, None, &mut |_| {})?;
            let start = Instant::now();
            trainer.epoch(&subset, None, &mut |_| {})?;
            Ok(StepTime {
                width: n,
                seconds: start.elapsed().as_secs_f64() / steps as f64,
            })
        })
        .collect()
}

/// First index of the "upper" widths over which a weight norm's levelling off is judged: the
/// upper half, but at least the last three widths (all of them if fewer).
pub fn upper_from(widths: usize) -> usize {
    (widths / 2).min(widths.saturating_sub(3))
}

/// Fits every measured metric and the measuring seconds.
pub(crate) fn summarise(spec: &SweepSpec, nets: Vec<NetRecord>) -> SweepResult {
    let timing = MeasureTiming::fit(spec, &nets);
    let mut result = SweepResult {
        spec: spec.clone(),
        nets,
        fits: Vec::new(),
        timing,
    };
    let widths: Vec<f64> = spec.widths.iter().map(|&n| n as f64).collect();
    let from = upper_from(widths.len());
    for metric in Metric::measured(spec) {
        let values = result.values(metric);
        let fit = fit_loglog(&widths, &values);
        let upper = metric
            .is_norm()
            .then(|| fit_loglog(&widths[from..], &values[from..]));
        result.fits.push(MetricFit {
            metric: metric.key(),
            fit,
            upper,
        });
    }
    result
}

/// The wall time of the `target` sweeps: their epochs × steps per epoch × the timed seconds
/// per step at each width, plus the measuring seconds of the matching sweep just run;
/// `None` if a target sweep has no calibrated counterpart.
pub(crate) fn estimate(
    done: &[(SweepResult, Option<Vec<StepTime>>)],
    profile: Profile,
    target: &[SweepSpec],
) -> Option<ProfileEstimate> {
    let mut parts = Vec::new();
    for t in target {
        let (measured, steps) = done.iter().find(|(s, _)| s.spec.name == t.name)?;
        let steps = steps.as_ref()?;
        let per_net_steps = (t.epochs * t.steps_per_epoch()) as f64;
        let mut train_seconds = 0.0;
        let mut seconds = 0.0;
        for &n in &t.widths {
            let step = steps.iter().find(|s| s.width == n)?.seconds;
            let train = t.reps as f64 * per_net_steps * step;
            train_seconds += train;
            seconds += train + t.reps as f64 * measured.timing.seconds(t, n);
        }
        parts.push(SweepEstimate {
            name: t.name.clone(),
            description: t.describe(),
            batch_size: t.batch_size,
            step_times: steps.clone(),
            train_seconds,
            seconds,
        });
    }
    Some(ProfileEstimate {
        profile,
        seconds: parts.iter().map(|p| p.seconds).sum(),
        nets: target.iter().map(SweepSpec::nets).sum(),
        sweeps: parts,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    })
}
