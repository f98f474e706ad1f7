//! `error-comparison-boston` — do the bounds follow the crash error of networks *trained* on
//! real data? (SPEC §5, §10; original notebooks `ErrorComparisonBoston.ipynb` and
//! `ErrorComparisonBoston-Architecture.ipynb`.)
//!
//! Networks are trained on the Keras split of Boston Housing (404 training rows; MSE, Adam
//! with the Keras defaults, mini-batches of 32 — Keras' default, the original does not set
//! one) and crash at the first hidden layer with p = 10⁻²:
//! * **A** — one `[13, 50, 49, 1]` sigmoid network trained 50 epochs; every one of the 506
//!   inputs is a point;
//! * **B** — 20 `[13, 50, 50, 1]` ReLU networks trained the same way; each network is one
//!   point, its values the means over the inputs of E Δ, std Δ and of every bound;
//! * **C** — the architecture sweep: `[13, n, 49, 1]` sigmoid networks (the original's
//!   `N = [n, 49]`: only the crashing layer grows) for n = linspace(100, 400, 5), 20 networks
//!   per width (10 in the quick profile), trained 500 epochs as in the original; the measured Var Δ (mean over 50
//!   inputs of the Monte Carlo variance) against n is fitted on log–log axes (paper: slope
//!   −0.70).
//!
//! In A and B every bound's mean and std are compared with the Monte Carlo E Δ and std Δ by
//! Pearson correlation, rank loss and median clipped relative error
//! ([`ftnn_bounds::compare_with_experiment`]); b1 is compared with |E Δ|.
//!
//! **Features are standardised** with the training split's per-feature mean and (population)
//! standard deviation, applied to all 506 rows; the target (MEDV, k$) is left raw. The raw
//! features span 0–700 and drive the first-layer sigmoids deep into saturation; the original
//! fed them raw, and its training log shows the result: after 50 epochs its network still had
//! a training MSE of about 200 (from 531), i.e. it predicted little more than a constant.
//! `standardise = false` in the parameters reproduces that setting; in a quick-profile run with
//! it, part A came out much the same (b3 median relative error 69 / 71 %), but the ReLU
//! networks of part B lost b3's mean correlation (−0.14) and part C's Var Δ no longer fell
//! with n (slope +0.30 ± 0.13): the saturated units stop responding to crashes. Standardised
//! features are the sound choice and bring the slope to about −0.9.

use crate::common::boston::BostonData;
use crate::common::fit::{fit_loglog, FitText, StoredFit};
use crate::common::parts::{BoundPoints, PartResult, RankingRow};
use ftnn_bounds::{compare_with_experiment, evaluate, BoundKind, BoundOutput};
use ftnn_lab::Profile;
use ftnn_lab::{Context, Csv, Experiment, Outcome};
use ftnn_lab::{PaperRow, ReportSection, Verdict};
use ftnn_model::{Activation, DeltaStats, FailureVector, Inputs, Mlp, MonteCarlo};
use ftnn_plot::{self as plot, Axes, BarOrder, Group, Series};
use ftnn_train::{LossKind, TrainConfig, Trainer};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `error-comparison-boston` experiment.
pub struct ErrorComparisonBoston;

/// How one network is trained (MSE, Adam with the Keras defaults, paper initialisation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainSpec {
    /// Layer sizes `[13, …, 1]`.
    pub sizes: Vec<usize>,
    /// Hidden activation.
    pub activation: Activation,
    /// Passes over the 404 training rows.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
}

/// Part A: one network, every input a point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SingleParams {
    /// The network.
    pub net: TrainSpec,
    /// Crash probability at the first hidden layer.
    pub p: f64,
    /// Monte Carlo repetitions per input (all 506 inputs).
    pub repetitions: usize,
}

/// Part B: many networks, each a point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetsParams {
    /// The networks.
    pub net: TrainSpec,
    /// How many networks.
    pub nets: usize,
    /// Inputs per network (the first of a seeded permutation of the 506 rows).
    pub inputs: usize,
    /// Crash probability at the first hidden layer.
    pub p: f64,
    /// Monte Carlo repetitions per input.
    pub repetitions: usize,
}

/// Part C: the width sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepParams {
    /// Widths n of the first (crashing) hidden layer.
    pub widths: Vec<usize>,
    /// Width of the second hidden layer.
    pub second: usize,
    /// Hidden activation.
    pub activation: Activation,
    /// Training epochs.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Networks per width.
    pub nets: usize,
    /// Inputs per network.
    pub inputs: usize,
    /// Crash probability at the first hidden layer.
    pub p: f64,
    /// Monte Carlo repetitions per input.
    pub repetitions: usize,
}

/// Parameters of `error-comparison-boston`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Params {
    /// Standardise the features with the training split's mean and std.
    pub standardise: bool,
    /// Part A.
    pub a: SingleParams,
    /// Part B.
    pub b: NetsParams,
    /// Part C.
    pub c: SweepParams,
    /// Seed of initialisations, data order, input choice and crashes.
    pub seed: u64,
}

/// How well a trained network fits the data.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct FitQuality {
    /// MSE on the 404 training rows.
    pub train_mse: f64,
    /// MSE on the 102 test rows.
    pub test_mse: f64,
}

/// Results of part A.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SingleResult {
    /// The comparison over inputs.
    pub part: PartResult,
    /// The network's fit.
    pub fit: FitQuality,
}

/// One network of part B: its values averaged over the inputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetPoint {
    /// Mean over inputs of the measured E Δ.
    pub exp_mean: f64,
    /// Mean over inputs of the measured std Δ.
    pub exp_std: f64,
    /// Mean over inputs of the standard error of the measured mean.
    pub exp_stderr: f64,
    /// Every bound, averaged over inputs (one value each).
    pub bounds: Vec<BoundPoints>,
    /// The network's fit.
    pub fit: FitQuality,
}

/// Results of part B.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetsResult {
    /// The comparison over networks.
    pub part: PartResult,
    /// The networks' fits.
    pub fits: Vec<FitQuality>,
}

/// One network of part C.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WidthPoint {
    /// Width n of the crashing layer.
    pub width: usize,
    /// Mean over inputs of the Monte Carlo Var Δ.
    pub var_exp: f64,
    /// Mean over inputs of the b3 variance.
    pub var_b3: f64,
    /// Mean over inputs of the b4 variance.
    pub var_b4: f64,
    /// The network's fit.
    pub fit: FitQuality,
}

/// The paper's slope of Var Δ against n (ErrorComparisonBoston-Architecture).
const PAPER_SLOPE: f64 = -0.70;

fn spec(sizes: &[usize], activation: Activation, epochs: usize) -> TrainSpec {
    TrainSpec {
        sizes: sizes.to_vec(),
        activation,
        epochs,
        batch_size: 32,
    }
}

impl Experiment for ErrorComparisonBoston {
    type Params = Params;
    type Results = Results;

    fn id(&self) -> &'static str {
        "error-comparison-boston"
    }
    fn title(&self) -> &'static str {
        "Bounds against Monte Carlo on networks trained on Boston Housing, and Var Δ vs width"
    }
    fn origin(&self) -> &'static str {
        "ErrorComparisonBoston.ipynb, ErrorComparisonBoston-Architecture.ipynb"
    }
    fn params(&self, profile: Profile) -> Params {
        let a_net = |epochs| spec(&[13, 50, 49, 1], Activation::Sigmoid, epochs);
        let b_net = |epochs| spec(&[13, 50, 50, 1], Activation::Relu, epochs);
        let sweep = |widths: Vec<usize>, epochs, nets, inputs, repetitions| SweepParams {
            widths,
            second: 49,
            activation: Activation::Sigmoid,
            epochs,
            batch_size: 32,
            nets,
            inputs,
            p: 1e-2,
            repetitions,
        };
        let paper_widths = vec![100, 175, 250, 325, 400];
        let (a, b, c) = match profile {
            Profile::Smoke => (
                SingleParams {
                    net: a_net(5),
                    p: 1e-2,
                    repetitions: 2_000,
                },
                NetsParams {
                    net: b_net(5),
                    nets: 4,
                    inputs: 20,
                    p: 1e-2,
                    repetitions: 1_000,
                },
                sweep(vec![100, 250, 400], 5, 2, 10, 1_000),
            ),
            Profile::Quick => (
                SingleParams {
                    net: a_net(50),
                    p: 1e-2,
                    repetitions: 50_000,
                },
                NetsParams {
                    net: b_net(50),
                    nets: 20,
                    inputs: 506,
                    p: 1e-2,
                    repetitions: 20_000,
                },
                sweep(paper_widths, 500, 10, 50, 10_000),
            ),
            Profile::Paper => (
                SingleParams {
                    net: a_net(50),
                    p: 1e-2,
                    repetitions: 50_000,
                },
                NetsParams {
                    net: b_net(50),
                    nets: 20,
                    inputs: 506,
                    p: 1e-2,
                    repetitions: 50_000,
                },
                sweep(paper_widths, 500, 20, 50, 10_000),
            ),
        };
        Params {
            standardise: true,
            a,
            b,
            c,
            seed: 0,
        }
    }

    fn run(&self, ctx: &Context, params: &Params) -> anyhow::Result<Outcome<Results>> {
        let data = BostonData::load(params.standardise)?;
        let a = ctx.step("part-a", || run_single(ctx, &params, &data));
        let b = run_nets(ctx, &params, &data);
        let c = run_sweep(ctx, &params, &data);
        let (a, b, c) = (a?, b?, c?);
        Ok(summarise(&params, a, b, c))
    }

    fn figures(
        &self,
        stored: &ftnn_lab::Stored<Params, Results>,
        dir: &Path,
    ) -> anyhow::Result<Vec<PathBuf>> {
        let st = &stored.results;
        let mut out = Vec::new();
        for (r, points) in [(&st.a.part, "input"), (&st.b.part, "network")] {
            let tag = r.label.to_lowercase();
            let corr: Vec<(String, f64)> = r
                .ranking
                .iter()
                .map(|x| (x.quantity.clone(), x.pearson.unwrap_or(f64::NAN)))
                .collect();
            out.push(plot::bar_chart(
                dir,
                &format!("correlation_{tag}"),
                &format!(
                    "Part {}: Pearson correlation with the experiment over {points}s",
                    r.label
                ),
                "correlation",
                &corr,
                BarOrder::Descending,
            )?);
            for (what, exp) in [("std", &r.exp_std), ("mean", &r.exp_mean)] {
                let series: Vec<Series> = ["b3", "b4"]
                    .iter()
                    .filter_map(|name| r.bounds.iter().find(|b| b.name == *name))
                    .filter_map(|b| {
                        let ys = if what == "std" {
                            b.std.clone()?
                        } else {
                            b.mean.clone()
                        };
                        Some(Series::new(b.name.clone(), exp.clone(), ys))
                    })
                    .collect();
                let symbol = if what == "std" { "std Δ" } else { "E Δ" };
                out.push(plot::scatter(
                    dir,
                    &format!("{what}_scatter_{tag}"),
                    &Axes::new(
                        format!(
                            "Part {}: bound vs measured {symbol} (one point per {points})",
                            r.label
                        ),
                        format!("measured {symbol}"),
                        format!("bound {symbol}"),
                    ),
                    &series,
                    true,
                )?);
            }
            let groups: Vec<Group> = r
                .bounds
                .iter()
                .filter_map(|b| Some((b.name.clone(), b.std.as_ref()?)))
                .map(|(name, std)| {
                    let rel =
                        ftnn_bounds::compare::relative_errors(&r.exp_std, std).unwrap_or_default();
                    Group::new(
                        format!("{name} std"),
                        rel.iter().map(|v| 100.0 * v).collect(),
                    )
                })
                .collect();
            out.push(plot::box_plots(
                dir,
                &format!("rel_error_{tag}"),
                &Axes::new(
                    format!(
                        "Part {}: relative error of the std bounds (clipped at 200 %)",
                        r.label
                    ),
                    "bound",
                    "|exp − bound| / |exp| (%)",
                ),
                &groups,
            )?);
        }
        let widths: Vec<f64> = st.c.widths.iter().map(|w| w.width as f64).collect();
        let column = |f: fn(&WidthPoint) -> f64| -> Vec<Vec<f64>> {
            st.c.widths
                .iter()
                .map(|w| w.points.iter().map(f).collect())
                .collect()
        };
        let series = vec![
            crate::common::fit::series_with_fit(
                "experiment Var Δ",
                widths.clone(),
                column(|w| w.var_exp),
            ),
            crate::common::fit::series_with_fit("b4 Var Δ", widths.clone(), column(|w| w.var_b4)),
            crate::common::fit::series_with_fit("b3 Var Δ", widths, column(|w| w.var_b3)),
        ];
        out.push(plot::loglog_fit(
            dir,
            "var_vs_width",
            &Axes::new(
                format!(
                    "Part C: crash variance of [13, n, {}, 1] networks trained on Boston, p = {} at h1",
                    stored.params.c.second, stored.params.c.p
                ),
                "width n of the crashing layer",
                "Var Δ (mean over inputs; one point per network)",
            ),
            &series,
        )?);
        Ok(out)
    }

    fn report(&self, stored: &ftnn_lab::Stored<Params, Results>) -> ReportSection {
        report_section(&stored.results, stored.params.standardise)
    }
}

/// Trains one network on the training rows; returns it with its fit.
fn train(spec: &TrainSpec, data: &BostonData, seed: u64) -> anyhow::Result<(Mlp, FitQuality)> {
    let config = TrainConfig::new(spec.sizes.clone())
        .activation(spec.activation)
        .loss(LossKind::Mse)
        .epochs(spec.epochs)
        .batch_size(spec.batch_size)
        .seed(seed);
    let mut trainer = Trainer::new(config)?;
    trainer.fit(&data.train, None, &mut |_| {})?;
    let net = trainer.model()?;
    let fit = FitQuality {
        train_mse: ftnn_train::evaluate(&net, &data.train, LossKind::Mse)?.mse,
        test_mse: ftnn_train::evaluate(&net, &data.test, LossKind::Mse)?.mse,
    };
    Ok((net, fit))
}

/// Crashes at the first hidden layer of a network with `layers` layers of neurons.
fn first_layer(layers: usize, p: f64) -> anyhow::Result<FailureVector> {
    Ok(FailureVector::single(layers, 1, p)?)
}

/// Seed of network `index` of part `part`.
fn net_seed(seed: u64, part: u64, index: u64) -> u64 {
    seed ^ (part << 40) ^ (index << 8)
}

/// Monte Carlo and every bound on `x`.
fn measure(
    net: &Mlp,
    p: &FailureVector,
    x: &Inputs,
    repetitions: usize,
    seed: u64,
    progress: impl Fn(u64) + Sync,
) -> anyhow::Result<(DeltaStats, Vec<BoundOutput>)> {
    let mc = MonteCarlo::new(net, p.clone())?
        .repetitions(repetitions)
        .seed(seed)
        .run_with_progress(x, progress)?;
    let bounds = BoundKind::ALL
        .iter()
        .map(|&k| evaluate(k, net, p, x))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((mc, bounds))
}

/// The comparison of `bounds` with `mc` as a stored part.
fn part_result(
    label: &str,
    mc: &DeltaStats,
    bounds: Vec<BoundOutput>,
) -> anyhow::Result<PartResult> {
    let ranking = compare_with_experiment(&bounds, mc)?;
    Ok(PartResult {
        label: label.into(),
        exp_mean: mc.mean.clone(),
        exp_std: mc.std.clone(),
        exp_stderr: mc.stderr.clone(),
        bounds: bounds
            .into_iter()
            .map(|b| BoundPoints {
                name: b.kind.name().into(),
                mean: b.mean,
                std: b.std,
            })
            .collect(),
        ranking: ranking.iter().map(RankingRow::from).collect(),
    })
}

/// Part A: one trained network, all 506 inputs.
fn run_single(ctx: &Context, params: &Params, data: &BostonData) -> anyhow::Result<SingleResult> {
    let a = &params.a;
    let seed = net_seed(params.seed, 1, 0);
    let (net, fit) = train(&a.net, data, seed)?;
    let p = first_layer(a.net.sizes.len(), a.p)?;
    let bar = ctx.progress(
        (data.all.rows() * a.repetitions) as u64,
        "part A: crashed passes",
    );
    let (mc, bounds) = measure(&net, &p, &data.all, a.repetitions, seed + 1, |done| {
        bar.set_position(done)
    })?;
    bar.finish_and_clear();
    Ok(SingleResult {
        part: part_result("A", &mc, bounds)?,
        fit,
    })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Part B: one point per trained network (means over its inputs).
fn run_nets(ctx: &Context, params: &Params, data: &BostonData) -> anyhow::Result<NetsResult> {
    let b = &params.b;
    let keys: Vec<String> = (0..b.nets).map(|j| format!("net-{j}")).collect();
    let points: Vec<NetPoint> = ctx.jobs("part-b", &keys, |j, _| {
        let seed = net_seed(params.seed, 2, j as u64);
        let (net, fit) = train(&b.net, data, seed)?;
        let x = data.inputs(b.inputs, seed)?;
        let p = first_layer(b.net.sizes.len(), b.p)?;
        let (mc, bounds) = measure(&net, &p, &x, b.repetitions, seed + 1, |_| {})?;
        Ok(NetPoint {
            exp_mean: mean(&mc.mean),
            exp_std: mean(&mc.std),
            exp_stderr: mean(&mc.stderr),
            bounds: bounds
                .into_iter()
                .map(|o| BoundPoints {
                    name: o.kind.name().into(),
                    mean: vec![mean(&o.mean)],
                    std: o.std.map(|s| vec![mean(&s)]),
                })
                .collect(),
            fit,
        })
    })?;
    let mc = DeltaStats {
        n_inputs: points.len(),
        n_outputs: 1,
        repetitions: b.repetitions,
        mean: points.iter().map(|q| q.exp_mean).collect(),
        std: points.iter().map(|q| q.exp_std).collect(),
        stderr: points.iter().map(|q| q.exp_stderr).collect(),
    };
    let bounds = BoundKind::ALL
        .iter()
        .map(|&kind| {
            let of = |q: &NetPoint| q.bounds.iter().find(|x| x.name == kind.name()).cloned();
            let per_net: Vec<BoundPoints> = points.iter().filter_map(of).collect();
            BoundOutput {
                kind,
                mean: per_net.iter().flat_map(|x| x.mean.clone()).collect(),
                std: per_net
                    .iter()
                    .map(|x| x.std.as_ref().map(|s| s[0]))
                    .collect::<Option<Vec<f64>>>(),
                per_input: matches!(kind, BoundKind::B1One | BoundKind::B1Two | BoundKind::B1Inf),
            }
        })
        .collect();
    Ok(NetsResult {
        part: part_result("B", &mc, bounds)?,
        fits: points.iter().map(|q| q.fit).collect(),
    })
}

/// Results of part C, grouped by width.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepResult {
    /// One entry per width.
    pub widths: Vec<WidthGroup>,
}

/// The networks of one width.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WidthGroup {
    /// Width n.
    pub width: usize,
    /// One entry per network.
    pub points: Vec<WidthPoint>,
}

/// Part C: Var Δ of trained `[13, n, second, 1]` networks for each width n.
fn run_sweep(ctx: &Context, params: &Params, data: &BostonData) -> anyhow::Result<SweepResult> {
    let c = &params.c;
    let jobs: Vec<(usize, usize)> = c
        .widths
        .iter()
        .flat_map(|&n| (0..c.nets).map(move |r| (n, r)))
        .collect();
    let keys: Vec<String> = jobs.iter().map(|(n, r)| format!("n{n}-net{r}")).collect();
    let points: Vec<WidthPoint> = ctx.jobs("part-c", &keys, |i, _| {
        let (n, r) = jobs[i];
        let seed = net_seed(params.seed, 3, ((n as u64) << 16) ^ r as u64);
        let spec = TrainSpec {
            sizes: vec![13, n, c.second, 1],
            activation: c.activation,
            epochs: c.epochs,
            batch_size: c.batch_size,
        };
        let (net, fit) = train(&spec, data, seed)?;
        let x = data.inputs(c.inputs, seed)?;
        let p = first_layer(spec.sizes.len(), c.p)?;
        let mc = MonteCarlo::new(&net, p.clone())?
            .repetitions(c.repetitions)
            .seed(seed + 1)
            .run(&x)?;
        let var = |s: &[f64]| mean(&s.iter().map(|v| v * v).collect::<Vec<_>>());
        Ok(WidthPoint {
            width: n,
            var_exp: var(&mc.std),
            var_b3: var(&ftnn_bounds::b3(&net, &p, &x)?.std),
            var_b4: var(&ftnn_bounds::b4(&net, &p, &x)?.std),
            fit,
        })
    })?;
    let widths = c
        .widths
        .iter()
        .map(|&n| WidthGroup {
            width: n,
            points: points.iter().filter(|q| q.width == n).cloned().collect(),
        })
        .collect();
    Ok(SweepResult { widths })
}

/// The stored `results` of `error-comparison-boston`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// Part a: one network.
    pub a: SingleResult,
    /// Part b: several networks.
    pub b: NetsResult,
    /// Part c: the width sweep.
    pub c: SweepResult,
    /// Fit of Var Δ against width.
    pub fit: StoredFit,
}

/// The median clipped relative error of quantity `q` (NaN when absent).
fn median_err(r: &PartResult, q: &str) -> f64 {
    r.ranking
        .iter()
        .find(|x| x.quantity == q)
        .map_or(f64::NAN, |x| x.median_rel_error)
}

/// The fit, the tables and the conclusion.
fn summarise(params: &Params, a: SingleResult, b: NetsResult, c: SweepResult) -> Outcome<Results> {
    let widths: Vec<f64> = c.widths.iter().map(|w| w.width as f64).collect();
    let values: Vec<Vec<f64>> = c
        .widths
        .iter()
        .map(|w| w.points.iter().map(|q| q.var_exp).collect())
        .collect();
    let fit = fit_loglog(&widths, &values);
    let corr = PartResult::correlation;
    let describe = |r: &PartResult| {
        format!(
            "correlation b4 mean {:.4} / std {:.4}, b3 mean {:.4} / std {:.4}, b2 std {:.3}, \
             b1 (q = 2) {:.3}; median relative error b4 mean {:.1} % / std {:.1} %, b3 mean \
             {:.1} % / std {:.1} %",
            corr(r, "b4 mean"),
            corr(r, "b4 std"),
            corr(r, "b3 mean"),
            corr(r, "b3 std"),
            corr(r, "b2 std"),
            corr(r, "b1_2"),
            100.0 * median_err(r, "b4 mean"),
            100.0 * median_err(r, "b4 std"),
            100.0 * median_err(r, "b3 mean"),
            100.0 * median_err(r, "b3 std"),
        )
    };
    let b_mse = mean(&b.fits.iter().map(|f| f.test_mse).collect::<Vec<_>>());
    let conclusion = format!(
        "A (one [13,50,49,1] sigmoid net, {} epochs, test MSE {:.1}; {} inputs, p = {}, {} \
         repetitions): {}. B ({} [13,50,50,1] ReLU nets, mean test MSE {:.1}; one point per \
         net): {}. C ([13, n, {}, 1] sigmoid, n = {:?}, {} nets each, {} epochs): Var Δ ∝ \
         n^{:.2} (± {:.2}; paper −0.70). Features {}.",
        params.a.net.epochs,
        a.fit.test_mse,
        a.part.exp_mean.len(),
        params.a.p,
        params.a.repetitions,
        describe(&a.part),
        params.b.nets,
        b_mse,
        describe(&b.part),
        params.c.second,
        params.c.widths,
        params.c.nets,
        params.c.epochs,
        fit.slope,
        fit.slope_stderr,
        if params.standardise {
            "standardised with the training split's mean and std"
        } else {
            "raw, as in the original"
        },
    );
    let mut ranking_rows = Vec::new();
    for r in [&a.part, &b.part] {
        for x in &r.ranking {
            ranking_rows.push(vec![
                r.label.clone(),
                x.quantity.clone(),
                x.against.clone(),
                x.pearson.map_or(String::new(), |v| format!("{v:.6}")),
                format!("{:.6}", x.rank_loss),
                format!("{:.6}", x.median_rel_error),
            ]);
        }
    }
    let width_rows = c
        .widths
        .iter()
        .flat_map(|w| {
            w.points.iter().map(|q| {
                vec![
                    q.width.to_string(),
                    format!("{:.6e}", q.var_exp),
                    format!("{:.6e}", q.var_b3),
                    format!("{:.6e}", q.var_b4),
                    format!("{:.3}", q.fit.train_mse),
                    format!("{:.3}", q.fit.test_mse),
                ]
            })
        })
        .collect();
    Outcome {
        results: Results { a, b, c, fit },
        conclusion,
        tables: vec![
            Csv {
                name: "ranking.csv".into(),
                header: vec![
                    "part",
                    "quantity",
                    "against",
                    "pearson",
                    "rank_loss",
                    "median_rel_error",
                ],
                rows: ranking_rows,
            },
            Csv {
                name: "widths.csv".into(),
                header: vec![
                    "width",
                    "var_exp",
                    "var_b3",
                    "var_b4",
                    "train_mse",
                    "test_mse",
                ],
                rows: width_rows,
            },
        ],
    }
}

/// The paper's numbers beside ours (SPEC §10).
fn report_section(st: &Results, standardise: bool) -> ReportSection {
    let corr = PartResult::correlation;
    let (a, b) = (&st.a.part, &st.b.part);
    let four = |name: &str| {
        [
            corr(a, &format!("{name} mean")),
            corr(a, &format!("{name} std")),
            corr(b, &format!("{name} mean")),
            corr(b, &format!("{name} std")),
        ]
    };
    let fmt = |v: &[f64], digits: usize| {
        v.iter()
            .map(|x| format!("{x:.digits$}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let b4 = four("b4");
    let b3 = four("b3");
    let b4_ok = b4.iter().all(|&c| c >= 0.99);
    let b3_ok = b3.iter().all(|&c| c >= 0.85) && b3.iter().zip(&b4).all(|(x, y)| x <= y);
    let pct = |r: &PartResult| {
        [
            100.0 * median_err(r, "b3 mean"),
            100.0 * median_err(r, "b3 std"),
        ]
    };
    let (a_err, b_err) = (pct(a), pct(b));
    // The paper's range, widened by 10 points for a new training run.
    let a_err_ok = a_err.iter().all(|e| (34.0..=86.0).contains(e));
    let b4_errs: Vec<f64> = ["b4 mean", "b4 std"]
        .iter()
        .flat_map(|q| [100.0 * median_err(a, q), 100.0 * median_err(b, q)])
        .collect();
    let slope = st.fit.slope;
    let se = st.fit.stderr();
    let slope_ok = (slope - PAPER_SLOPE).abs() <= 0.15_f64.max(2.0 * se);
    let b1 = [corr(a, "b1_2"), corr(b, "b1_2")];
    let rows = vec![
        PaperRow::new(
            "b4 correlation (A mean / A std / B mean / B std)",
            ".996–.997",
            fmt(&b4, 4),
            if b4_ok {
                Verdict::Reproduced
            } else {
                Verdict::Differs("a correlation below 0.99".into())
            },
        ),
        PaperRow::new(
            "b3 correlation (A mean / A std / B mean / B std)",
            ".89–.98",
            fmt(&b3, 4),
            if b3_ok {
                Verdict::Reproduced
            } else {
                Verdict::Differs("below 0.85, or above b4".into())
            },
        ),
        PaperRow::new(
            "b3 median relative error, A: sigmoid net over inputs (mean / std)",
            "44–76 %",
            format!("{} %", fmt(&a_err, 1)),
            if a_err_ok {
                Verdict::Reproduced
            } else {
                Verdict::Differs(format!("{} % against 44–76 %", fmt(&a_err, 0)))
            },
        ),
        PaperRow::new(
            "b3 median relative error, B: ReLU nets, one point per net (mean / std)",
            "44–76 % (if SPEC's range covers B)",
            format!("{} %", fmt(&b_err, 1)),
            Verdict::Differs(
                "b3 is far closer on ReLU nets: ReLU is piecewise linear, so the first-order \
                 term is exact unless a crash switches a downstream unit"
                    .into(),
            ),
        ),
        PaperRow::new(
            "b4 median relative error (A mean / B mean / A std / B std)",
            "— (b4 ≈ experiment)",
            format!("{} %", fmt(&b4_errs, 1)),
            Verdict::NotComparable("the paper gives no number".into()),
        ),
        PaperRow::new(
            "b1 (norm product, q = 2) correlation (A / B)",
            "— (uninformative in ErrorComparisonRandom)",
            fmt(&b1, 3),
            Verdict::NotComparable("the paper gives no number for Boston".into()),
        ),
        PaperRow::new(
            "log–log slope of Var Δ against the width n of the crashing layer",
            ftnn_plot::signed(PAPER_SLOPE, 2),
            st.fit.text(),
            if slope_ok {
                Verdict::Reproduced
            } else {
                Verdict::Differs(format!("slope {} ± {se:.2}", ftnn_plot::signed(slope, 2)))
            },
        ),
    ];
    let differences: Vec<&str> = [
        (!b4_ok, "b4 correlation"),
        (!b3_ok, "b3 correlation"),
        (!a_err_ok, "b3 relative error on the sigmoid net"),
        (true, "b3 relative error on the ReLU nets"),
        (!slope_ok, "Var Δ slope"),
    ]
    .into_iter()
    .filter_map(|(differs, what)| differs.then_some(what))
    .collect();
    let agree = if b4_ok && b3_ok && a_err_ok {
        "part A's numbers and the ranking b4 > b3 agree; "
    } else {
        ""
    };
    let verdict = Verdict::Differs(format!("{agree}differs: {}", differences.join(", ")));
    let fits = |f: &[FitQuality]| mean(&f.iter().map(|q| q.test_mse).collect::<Vec<_>>());
    let c_fits: Vec<FitQuality> =
        st.c.widths
            .iter()
            .flat_map(|w| w.points.iter().map(|q| q.fit))
            .collect();
    let features = if standardise {
        "Features are standardised with the training split's mean and std (the original fed \
         raw features, 0–700, which saturate the first-layer sigmoids; its network reached a \
         training MSE of only ≈ 200 after 50 epochs)."
    } else {
        "Features are raw, as in the original (0–700; they saturate the first-layer sigmoids)."
    };
    let notes = format!(
        "{features} Test MSE of our networks: A {:.1}, B \
         {:.1} (mean), C {:.1} (mean). SPEC's ranges are applied to both comparisons; \
         whether its 44–76 % also covers the ReLU networks is not stated. Part C uses the \
         original's architecture [13, n, 49, 1] (only the crashing layer grows) and its 500 \
         training epochs; in the figure small points are single networks, large points their \
         geometric mean with a ±1 sd band of log Var Δ.",
        st.a.fit.test_mse,
        fits(&st.b.fits),
        fits(&c_fits),
    );
    ReportSection {
        rows,
        verdict,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftnn_lab::{run_experiment, Paths, RunStatus};
    use indicatif::{MultiProgress, ProgressDrawTarget};

    #[test]
    fn standardised_training_features_have_zero_mean_and_unit_sd() {
        let data = BostonData::load(true).unwrap();
        let (x, f) = (data.train.x(), data.train.n_in());
        let n = data.train.rows() as f64;
        for j in 0..f {
            let col: Vec<f64> = x.iter().skip(j).step_by(f).map(|&v| v as f64).collect();
            let mean = col.iter().sum::<f64>() / n;
            let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
            assert!(mean.abs() < 1e-5, "feature {j}: mean {mean}");
            assert!((sd - 1.0).abs() < 1e-5, "feature {j}: sd {sd}");
        }
        assert_eq!(data.all.rows(), 506);
        assert_eq!(data.all.row(0), data.train.input(0));
        assert_eq!(data.all.row(404), data.test.input(0));
        let raw = BostonData::load(false).unwrap();
        assert_eq!(raw.train.target(0), [15.2]);
    }

    #[test]
    fn input_subsets_are_seeded_rows_of_the_data() {
        let data = BostonData::load(true).unwrap();
        let a = data.inputs(10, 7).unwrap();
        assert_eq!(a, data.inputs(10, 7).unwrap());
        assert_ne!(a, data.inputs(10, 8).unwrap());
        let all: Vec<&[f32]> = (0..506).map(|r| data.all.row(r)).collect();
        assert!((0..10).all(|r| all.contains(&a.row(r))));
        assert_eq!(data.inputs(600, 7).unwrap().rows(), 506);
    }

    #[test]
    fn smoke_profile_runs_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::beside(dir.path().join("results"));
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let exp = ErrorComparisonBoston;
        let status = run_experiment(&exp, Profile::Smoke, &paths, false, None, &multi).unwrap();
        let RunStatus::Ran { figures, .. } = status else {
            panic!("expected a run, got {status:?}");
        };
        assert_eq!(figures.len(), 9);
        let stored = ftnn_lab::ResultsFile::load(&paths.results_file(exp.id())).unwrap();
        let section = ftnn_lab::AnyExperiment::report(&exp, &stored);
        assert_eq!(section.rows.len(), 7);
        assert_eq!(section.rows[0].ours.split(" / ").count(), 4);
    }
}
