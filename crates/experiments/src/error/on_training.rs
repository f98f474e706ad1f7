//! `error-on-training` — do the bounds predict how the loss reacts to crashes *during*
//! training? (SPEC §10; original notebook `ErrorOnTraining.ipynb`, the prediction of AP9 in the
//! supplementary.)
//!
//! A `[13, 20, 19, 1]` sigmoid network is trained on the Keras split of Boston Housing with the
//! MAE loss and Adadelta (lr 1, ρ 0.95, ε 10⁻⁷, Keras' mini-batches of 32) for 300 epochs.
//! Under crashes the output moves by Δ and, to first order, the MAE loss |f(x) − y| by
//! sign(f(x) − y) · Δ. After every epoch we evaluate, over the 404 training inputs,
//!
//! `E_x[sign(f(x) − y) · E Δ(x)]`
//!
//! with E Δ from b3 (first-order Taylor) and b4 (exact single-crash sum), and every 50 epochs
//! with the Monte Carlo mean (the experiment) in their place. The paper finds b4 on top of the
//! experiment (0.01541 vs 0.01541 at epoch 50) and b3 two to three times too low.
//!
//! Choices: crashes hit the first hidden layer with p = 10⁻² (the paper's value in the other
//! Boston experiments; SPEC does not state the notebook's). The run is made twice, with the
//! **raw** features (as in the original; values up to 700 saturate the first-layer sigmoids)
//! and with features **standardised** by the training split's mean and std (as in
//! `error-comparison-boston`); the target is raw in both. The raw run is the one compared with
//! the paper: b3's shortfall comes from the curvature of the saturated sigmoids, and with
//! standardised features b3 is no longer systematically low in our runs, only erratic (see
//! the report). Since the signed average can cross 0 during training, per-epoch ratios are
//! meaningless near 0; each bound is summarised instead by the least-squares factor k with
//! experiment ≈ k · bound over the Monte Carlo epochs (k = Σ exp · bound / Σ bound²; 1 is
//! exact, the paper's b3 has k ≈ 2–3), and b4 also by its largest distance from the
//! experiment in standard errors. The network is snapshotted at every Monte Carlo epoch so
//! that training and each Monte Carlo run are separate resumable steps.

use crate::common::boston::BostonData;
use ftnn_lab::Profile;
use ftnn_lab::{Context, Csv, Experiment, Outcome};
use ftnn_lab::{PaperRow, ReportSection, Verdict};
use ftnn_model::{Activation, Dense, FailureVector, Inputs, Mlp, MonteCarlo};
use ftnn_plot::{self as plot, Axes, Series};
use ftnn_train::{Dataset, Loss, Optimizer, TrainConfig, Trainer};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `error-on-training` experiment.
pub struct ErrorOnTraining;

/// How the features are fed to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Features {
    /// As in the data file (the original).
    Raw,
    /// Shifted and scaled by the training split's mean and std.
    Standardised,
}

impl Features {
    /// `raw` or `standardised`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Standardised => "standardised",
        }
    }
}

/// Parameters of `error-on-training`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Params {
    /// The feature scalings to run, the first compared with the paper.
    pub features: Vec<Features>,
    /// Layer sizes.
    pub sizes: Vec<usize>,
    /// Training epochs.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// The optimizer.
    pub optimizer: Optimizer,
    /// Crash probability at the first hidden layer.
    pub p: f64,
    /// Monte Carlo every this many epochs.
    pub mc_every: usize,
    /// Monte Carlo repetitions per training input.
    pub repetitions: usize,
    /// Seed of the initialisation, the data order and the crashes.
    pub seed: u64,
}

/// The first-order loss change predicted by the bounds after one epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochPoint {
    /// 1-based epoch.
    pub epoch: usize,
    /// MAE on the training rows after the epoch.
    pub train_mae: f64,
    /// E_x[sign(f − y) · b3 mean].
    pub b3: f64,
    /// E_x[sign(f − y) · b4 mean].
    pub b4: f64,
}

/// The network's parameters after an epoch, to rerun Monte Carlo on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// 1-based epoch.
    pub epoch: usize,
    /// Per layer: weight `[n_out, n_in]` row-major and bias.
    pub layers: Vec<(Vec<f32>, Vec<f32>)>,
}

/// The training run: the curves and the snapshots.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Training {
    /// One point per epoch.
    pub epochs: Vec<EpochPoint>,
    /// The network at every Monte Carlo epoch.
    pub snapshots: Vec<Snapshot>,
}

/// The experiment at one epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct McPoint {
    /// 1-based epoch.
    pub epoch: usize,
    /// E_x[sign(f − y) · Monte Carlo mean of Δ].
    pub experiment: f64,
    /// Its standard error (from the per-input standard errors).
    pub stderr: f64,
}

/// The results of one feature scaling.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    /// The feature scaling.
    pub features: Features,
    /// One point per epoch.
    pub epochs: Vec<EpochPoint>,
    /// One point per Monte Carlo epoch.
    pub mc: Vec<McPoint>,
}

impl Params {
    fn sample(epochs: usize, mc_every: usize, repetitions: usize) -> Self {
        Self {
            features: vec![Features::Raw, Features::Standardised],
            sizes: vec![13, 20, 19, 1],
            epochs,
            batch_size: 32,
            optimizer: Optimizer::adadelta(),
            p: 1e-2,
            mc_every,
            repetitions,
            seed: 0,
        }
    }
    /// The failure vector: p at the first hidden layer.
    fn failure(&self) -> anyhow::Result<FailureVector> {
        Ok(FailureVector::single(self.sizes.len(), 1, self.p)?)
    }
}

impl Experiment for ErrorOnTraining {
    type Params = Params;
    type Results = Results;

    fn id(&self) -> &'static str {
        "error-on-training"
    }
    fn title(&self) -> &'static str {
        "First-order change of the MAE loss under crashes during training: b3, b4, experiment"
    }
    fn origin(&self) -> &'static str {
        "ErrorOnTraining.ipynb"
    }
    fn params(&self, profile: Profile) -> Params {
        match profile {
            Profile::Smoke => Params::sample(20, 10, 2_000),
            Profile::Quick => Params::sample(300, 50, 50_000),
            Profile::Paper => Params::sample(300, 50, 100_000),
        }
    }

    fn run(&self, ctx: &Context, params: &Params) -> anyhow::Result<Outcome<Results>> {
        let mut runs = Vec::new();
        for &features in &params.features {
            let data = BostonData::load(features == Features::Standardised)?;
            let name = features.name();
            let training = ctx.step(&format!("{name}-training"), || {
                train(ctx, params, &data.train)
            })?;
            let mut mc = Vec::new();
            for s in &training.snapshots {
                mc.push(ctx.step(&format!("{name}-mc-epoch-{}", s.epoch), || {
                    experiment(params, &data.train, s)
                })?);
            }
            runs.push(Run {
                features,
                epochs: training.epochs,
                mc,
            });
        }
        Ok(summarise(params, runs))
    }

    fn figures(
        &self,
        stored: &ftnn_lab::Stored<Params, Results>,
        dir: &Path,
    ) -> anyhow::Result<Vec<PathBuf>> {
        let st = &stored.results;
        let mut out = Vec::new();
        let mut scatter = Vec::new();
        for run in &st.runs {
            let name = run.features.name();
            let epochs: Vec<f64> = run.epochs.iter().map(|e| e.epoch as f64).collect();
            let mc_epochs: Vec<f64> = run.mc.iter().map(|m| m.epoch as f64).collect();
            let experiment = Series::new(
                "experiment (Monte Carlo)",
                mc_epochs.clone(),
                run.mc.iter().map(|m| m.experiment).collect(),
            );
            let at_mc = |f: fn(&EpochPoint) -> f64| -> Vec<f64> {
                run.mc
                    .iter()
                    .map(|m| bounds_at(&run.epochs, m).map_or(f64::NAN, f))
                    .collect()
            };
            let title =
                |what: &str| format!("{what}: {name} features, p = {} at h1", stored.params.p);
            let y_label = "E_x[sign(f(x) − y) · E Δ(x)]";
            out.push(plot::line_plot(
                dir,
                &format!("loss_change_at_mc_epochs_{name}"),
                &Axes::new(
                    title("Loss change at the Monte Carlo epochs"),
                    "epoch",
                    y_label,
                ),
                &[
                    experiment.clone(),
                    Series::new("b4", mc_epochs.clone(), at_mc(|e| e.b4)),
                    Series::new("b3", mc_epochs, at_mc(|e| e.b3)),
                ],
            )?);
            out.push(plot::line_plot(
                dir,
                &format!("loss_change_every_epoch_{name}"),
                &Axes::new(title("Loss change after every epoch"), "epoch", y_label),
                &[
                    experiment,
                    Series::new(
                        "b4",
                        epochs.clone(),
                        run.epochs.iter().map(|e| e.b4).collect(),
                    ),
                    Series::new("b3", epochs, run.epochs.iter().map(|e| e.b3).collect()),
                ],
            )?);
            let exp: Vec<f64> = run.mc.iter().map(|m| m.experiment).collect();
            scatter.push(Series::new(
                format!("b4, {name}"),
                exp.clone(),
                at_mc(|e| e.b4),
            ));
            scatter.push(Series::new(format!("b3, {name}"), exp, at_mc(|e| e.b3)));
        }
        out.push(plot::scatter(
            dir,
            "bound_vs_experiment",
            &Axes::new(
                "Bound vs experiment at the Monte Carlo epochs (one point per epoch)",
                "experiment E_x[sign(f − y) · E Δ]",
                "bound",
            ),
            &scatter,
            true,
        )?);
        Ok(out)
    }

    fn report(&self, stored: &ftnn_lab::Stored<Params, Results>) -> ReportSection {
        let st = &stored.results;
        if st.runs.iter().all(|r| !r.mc.is_empty()) && !st.runs.is_empty() {
            report_section(st)
        } else {
            ReportSection::unreadable("no Monte Carlo epoch")
        }
    }
}

/// sign(f(x) − y) per training row (0 where the network is exact).
fn signs(net: &Mlp, data: &Dataset) -> anyhow::Result<Vec<f64>> {
    let y = net.forward(data.x(), data.rows())?;
    Ok(y.iter()
        .zip(data.targets())
        .map(|(&f, &t)| {
            let d = f64::from(f) - f64::from(t);
            if d == 0.0 {
                0.0
            } else {
                d.signum()
            }
        })
        .collect())
}

/// E_x[s(x) · m(x)].
fn signed_mean(s: &[f64], m: &[f64]) -> f64 {
    s.iter().zip(m).map(|(a, b)| a * b).sum::<f64>() / s.len().max(1) as f64
}

fn inputs(data: &Dataset) -> anyhow::Result<Inputs> {
    Ok(Inputs::new(data.x().to_vec(), data.rows(), data.n_in())?)
}

/// Trains epoch by epoch, evaluating b3 and b4 after each and snapshotting the network at
/// every Monte Carlo epoch.
fn train(ctx: &Context, params: &Params, data: &Dataset) -> anyhow::Result<Training> {
    let config = TrainConfig::new(params.sizes.clone())
        .activation(Activation::Sigmoid)
        .loss(Loss::Mae)
        .optimizer(params.optimizer)
        .epochs(params.epochs)
        .batch_size(params.batch_size)
        .seed(params.seed);
    let mut trainer = Trainer::new(config)?;
    let p = params.failure()?;
    let x = inputs(data)?;
    let bar = ctx.progress(params.epochs as u64, "error-on-training: epochs");
    let (mut epochs, mut snapshots) = (Vec::new(), Vec::new());
    for epoch in 1..=params.epochs {
        trainer.epoch(data, None, &mut |_| {})?;
        let net = trainer.model()?;
        let s = signs(&net, data)?;
        epochs.push(EpochPoint {
            epoch,
            train_mae: ftnn_train::evaluate(&net, data, Loss::Mae)?.mae,
            b3: signed_mean(&s, &ftnn_bounds::b3(&net, &p, &x)?.mean),
            b4: signed_mean(&s, &ftnn_bounds::b4(&net, &p, &x)?.mean),
        });
        if epoch % params.mc_every == 0 {
            snapshots.push(Snapshot {
                epoch,
                layers: net
                    .layers()
                    .iter()
                    .map(|d| (d.weight().to_vec(), d.bias().to_vec()))
                    .collect(),
            });
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(Training { epochs, snapshots })
}

/// The network of a snapshot.
fn restore(params: &Params, s: &Snapshot) -> anyhow::Result<Mlp> {
    let layers = params
        .sizes
        .windows(2)
        .zip(&s.layers)
        .map(|(w, (weight, bias))| Dense::new(weight.clone(), bias.clone(), w[1], w[0]))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Mlp::new(layers, Activation::Sigmoid, 1.0)?)
}

/// The Monte Carlo counterpart of the bounds' curve at a snapshot.
fn experiment(params: &Params, data: &Dataset, s: &Snapshot) -> anyhow::Result<McPoint> {
    let net = restore(params, s)?;
    let sign = signs(&net, data)?;
    let mc = MonteCarlo::new(&net, params.failure()?)?
        .repetitions(params.repetitions)
        .seed(params.seed ^ ((s.epoch as u64) << 20))
        .run(&inputs(data)?)?;
    let n = sign.len() as f64;
    let stderr = mc.stderr.iter().map(|e| e * e).sum::<f64>().sqrt() / n;
    Ok(McPoint {
        epoch: s.epoch,
        experiment: signed_mean(&sign, &mc.mean),
        stderr,
    })
}

/// The stored `results` of `error-on-training`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// One per training run.
    pub runs: Vec<Run>,
}

/// The bounds' point at the epoch of `m`.
fn bounds_at<'a>(epochs: &'a [EpochPoint], m: &McPoint) -> Option<&'a EpochPoint> {
    epochs.iter().find(|e| e.epoch == m.epoch)
}

/// How the bounds compare with the experiment over the Monte Carlo epochs of one run.
struct Agreement {
    /// Largest |b4 − experiment| in standard errors of the experiment.
    b4_z: f64,
    /// Least-squares k with experiment ≈ k · b4.
    k_b4: f64,
    /// Least-squares k with experiment ≈ k · b3.
    k_b3: f64,
}

/// Σ exp · bound / Σ bound² over the pairs.
fn factor(pairs: &[(f64, f64)]) -> f64 {
    let num: f64 = pairs.iter().map(|(e, b)| e * b).sum();
    let den: f64 = pairs.iter().map(|(_, b)| b * b).sum();
    num / den
}

fn agreement(run: &Run) -> Agreement {
    let (mut b4, mut b3, mut b4_z) = (Vec::new(), Vec::new(), 0f64);
    for m in &run.mc {
        if let Some(e) = bounds_at(&run.epochs, m) {
            b4_z = b4_z.max((e.b4 - m.experiment).abs() / m.stderr);
            b4.push((m.experiment, e.b4));
            b3.push((m.experiment, e.b3));
        }
    }
    Agreement {
        b4_z,
        k_b4: factor(&b4),
        k_b3: factor(&b3),
    }
}

/// One sentence on a run.
fn describe(run: &Run) -> String {
    let a = agreement(run);
    let first = run.mc.first().and_then(|m| {
        let e = bounds_at(&run.epochs, m)?;
        Some(format!(
            "at epoch {}: experiment {:.5} ± {:.5}, b4 {:.5}, b3 {:.5}",
            m.epoch, m.experiment, m.stderr, e.b4, e.b3
        ))
    });
    format!(
        "{} features (final training MAE {:.2}): {}; b4 within {:.1} standard errors of the \
         experiment at every Monte Carlo epoch; least-squares experiment ≈ k · bound with k = \
         {:.3} for b4 and {:.2} for b3",
        run.features.name(),
        run.epochs.last().map_or(f64::NAN, |e| e.train_mae),
        first.unwrap_or_default(),
        a.b4_z,
        a.k_b4,
        a.k_b3,
    )
}

fn summarise(params: &Params, runs: Vec<Run>) -> Outcome<Results> {
    let conclusion = format!(
        "[13,20,19,1] sigmoid, MAE loss, Adadelta, {} epochs; p = {} at h1. First-order change \
         of the MAE loss under crashes, E_x[sign(f − y) · E Δ]. {}.",
        params.epochs,
        params.p,
        runs.iter().map(describe).collect::<Vec<_>>().join(". "),
    );
    let rows = runs
        .iter()
        .flat_map(|run| {
            run.epochs.iter().map(move |e| {
                let m = run.mc.iter().find(|m| m.epoch == e.epoch);
                vec![
                    run.features.name().to_string(),
                    e.epoch.to_string(),
                    format!("{:.5}", e.train_mae),
                    format!("{:.6e}", e.b3),
                    format!("{:.6e}", e.b4),
                    m.map_or(String::new(), |m| format!("{:.6e}", m.experiment)),
                    m.map_or(String::new(), |m| format!("{:.6e}", m.stderr)),
                ]
            })
        })
        .collect();
    Outcome {
        results: Results { runs },
        conclusion,
        tables: vec![Csv {
            name: "epochs.csv".into(),
            header: vec![
                "features",
                "epoch",
                "train_mae",
                "b3",
                "b4",
                "experiment",
                "experiment_stderr",
            ],
            rows,
        }],
    }
}

/// The rows of one run; `compared` marks the run set beside the paper's numbers. Also returns
/// what differs from the paper (empty when everything agrees).
fn run_rows(run: &Run, compared: bool) -> (Vec<PaperRow>, Vec<String>) {
    let a = agreement(run);
    let name = run.features.name();
    let m = &run.mc[0];
    let (b3, b4) = bounds_at(&run.epochs, m).map_or((f64::NAN, f64::NAN), |e| (e.b3, e.b4));
    // Agreement within the Monte Carlo noise (3 standard errors) or within 5 %: with enough
    // repetitions b4's own O(p²) error becomes measurable.
    let b4_ok = (b4 - m.experiment).abs() <= (3.0 * m.stderr).max(0.05 * m.experiment.abs());
    let tracks = a.b4_z <= 3.0 || (a.k_b4 - 1.0).abs() <= 0.05;
    // The paper's 2–3, widened for a new training run.
    let b3_low = (1.5..=4.0).contains(&a.k_b3);
    let b3_why = if a.k_b3 > 4.0 {
        format!("b3 is {:.1}× too low, more than the paper's 2–3×", a.k_b3)
    } else {
        format!("experiment ≈ {:.2} · b3: b3 is not 2–3× too low", a.k_b3)
    };
    let verdict = |ok: bool, why: String| {
        if !compared {
            Verdict::NotComparable(format!("not the original's setting; {why}"))
        } else if ok {
            Verdict::Reproduced
        } else {
            Verdict::Differs(why)
        }
    };
    let rows = vec![
        PaperRow::new(
            format!(
                "E_x[sign(f − y) · E Δ] at epoch {}, {name} features: b4 vs experiment",
                m.epoch
            ),
            "0.01541 vs 0.01541 (epoch 50)",
            format!("{b4:.5} vs {:.5} ± {:.5}", m.experiment, m.stderr),
            verdict(
                b4_ok,
                format!(
                    "b4 is {:.1} standard errors from the experiment",
                    (b4 - m.experiment).abs() / m.stderr
                ),
            ),
        ),
        PaperRow::new(
            format!("b4 − experiment over the Monte Carlo epochs, {name} features"),
            "b4 ≈ experiment",
            format!(
                "at most {:.1} standard errors; experiment ≈ {:.3} · b4",
                a.b4_z, a.k_b4
            ),
            verdict(tracks, format!("up to {:.1} standard errors apart", a.b4_z)),
        ),
        PaperRow::new(
            format!("least-squares k in experiment ≈ k · b3 over the Monte Carlo epochs, {name} features"),
            "2–3 (b3 too low)",
            format!("{:.2} (b3 at epoch {}: {b3:.5})", a.k_b3, m.epoch),
            verdict(b3_low, b3_why.clone()),
        ),
    ];
    let mut differs = Vec::new();
    if !(b4_ok && tracks) {
        differs.push("b4 does not track the experiment".into());
    }
    if !b3_low {
        differs.push(b3_why);
    }
    (rows, differs)
}

fn report_section(st: &Results) -> ReportSection {
    let mut rows = Vec::new();
    let mut differs = Vec::new();
    for (i, run) in st.runs.iter().enumerate() {
        let (r, d) = run_rows(run, i == 0);
        rows.extend(r);
        if i == 0 {
            differs = d;
        }
    }
    ReportSection {
        verdict: if differs.is_empty() {
            Verdict::Reproduced
        } else {
            Verdict::Differs(format!(
                "b4 ≈ experiment {}; {}",
                if differs.iter().any(|d| d.starts_with("b4")) {
                    "not reproduced"
                } else {
                    "reproduced"
                },
                differs.join("; ")
            ))
        },
        rows,
        notes: format!(
            "Crashes at the first hidden layer with p = 10⁻²; E_x is over the 404 training \
             inputs, with sign(f − y) of the crash-free network; the experiment's standard \
             error combines the per-input standard errors of the Monte Carlo means. The first \
             feature scaling (raw, as in the original) is compared with the paper. Our network \
             is a new training run, so the absolute level is not expected to match 0.01541: \
             the comparison is b4 and b3 against the experiment on the same network. The \
             signed average can cross 0 during training, so each bound is summarised by the \
             least-squares factor k with experiment ≈ k · bound over the Monte Carlo epochs \
             rather than by per-epoch ratios. {}",
            st.runs
                .iter()
                .map(|run| {
                    let a = agreement(run);
                    format!(
                        "With {} features k = {:.3} for b4 and {:.2} for b3.",
                        run.features.name(),
                        a.k_b4,
                        a.k_b3
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftnn_lab::{run_experiment, Paths, RunStatus};
    use ftnn_model::Init;
    use indicatif::{MultiProgress, ProgressDrawTarget};
    use rand::SeedableRng;

    #[test]
    fn least_squares_factor() {
        assert!((factor(&[(2.0, 1.0), (4.0, 2.0)]) - 2.0).abs() < 1e-12);
        assert!((factor(&[(1.0, 1.0), (-1.0, -1.0)]) - 1.0).abs() < 1e-12);
        assert_eq!(signed_mean(&[1.0, -1.0, 0.0], &[2.0, 3.0, 5.0]), -1.0 / 3.0);
    }

    #[test]
    fn snapshots_restore_the_network() {
        let params: Params = ErrorOnTraining.params(Profile::Smoke);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let net = Mlp::init(
            &params.sizes,
            Activation::Sigmoid,
            1.0,
            Init::Paper,
            &mut rng,
        )
        .unwrap();
        let snapshot = Snapshot {
            epoch: 1,
            layers: net
                .layers()
                .iter()
                .map(|d| (d.weight().to_vec(), d.bias().to_vec()))
                .collect(),
        };
        let back = restore(&params, &snapshot).unwrap();
        let x: Vec<f32> = (0..13).map(|i| i as f32 / 13.0).collect();
        assert_eq!(net.forward(&x, 1).unwrap(), back.forward(&x, 1).unwrap());
    }

    #[test]
    fn smoke_profile_runs_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::beside(dir.path().join("results"));
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let exp = ErrorOnTraining;
        let status = run_experiment(&exp, Profile::Smoke, &paths, false, None, &multi).unwrap();
        let RunStatus::Ran { figures, .. } = status else {
            panic!("expected a run, got {status:?}");
        };
        assert_eq!(figures.len(), 5);
        let stored = ftnn_lab::ResultsFile::load(&paths.results_file(exp.id())).unwrap();
        let st = ftnn_lab::Stored::<Params, Results>::from_file(&stored)
            .unwrap()
            .results;
        assert_eq!(st.runs.len(), 2);
        assert!(st
            .runs
            .iter()
            .all(|r| r.epochs.len() == 20 && r.mc.len() == 2));
        assert_eq!(ftnn_lab::AnyExperiment::report(&exp, &stored).rows.len(), 6);
    }
}
