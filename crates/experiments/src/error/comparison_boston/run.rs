//! The three parts of `error-comparison-boston` (one network, several networks, the width
//! sweep) and their summary.

use super::{FitQuality, NetPoint, NetsResult, Params, SingleResult, TrainSpec, WidthPoint};
use crate::common::boston::BostonData;
use crate::common::parts::{BoundPoints, PartResult, RankingRow};
use crate::error::numpy_init::original_init;
use ftnn_bounds::{compare_with_experiment, evaluate, BoundKind, BoundOutput};
use ftnn_decay::fit::{fit_line, LineFit};
use ftnn_lab::{Context, Csv, Outcome};
use ftnn_model::{DeltaStats, FailureVector, Inputs, Mlp, MonteCarlo};
use ftnn_train::{Loss, TrainConfig, Trainer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// MSE of `net` on `data`'s training and test rows.
fn fit_of(net: &Mlp, data: &BostonData) -> anyhow::Result<FitQuality> {
    Ok(FitQuality {
        train_mse: ftnn_train::evaluate(net, &data.train, Loss::Mse)?.mse,
        test_mse: ftnn_train::evaluate(net, &data.test, Loss::Mse)?.mse,
    })
}

/// Trains one network from the original's initialisation with `np.random.seed(init_seed)`
/// (MSE loss); returns it, its fit, and the training MSE before every step.
pub(crate) fn train(
    spec: &TrainSpec,
    data: &BostonData,
    init_seed: u32,
) -> anyhow::Result<(Mlp, FitQuality, Vec<f64>)> {
    anyhow::ensure!(
        spec.batch_size >= data.train.rows(),
        "error-comparison-boston trains in full batches (SPEC §15)"
    );
    let config = TrainConfig::new(spec.sizes.clone())
        .activation(spec.activation)
        .loss(Loss::Mse)
        .optimizer(spec.optimizer)
        .epochs(spec.epochs)
        .batch_size(spec.batch_size)
        .seed(u64::from(init_seed));
    let init = original_init(&spec.sizes, spec.activation, 1.0, init_seed)?;
    let mut trainer = Trainer::from_model(config, &init)?;
    let mut before = Vec::with_capacity(spec.epochs);
    for _ in 0..spec.epochs {
        let record = trainer.epoch(&data.train, None, &mut |_| {})?;
        // Full batch: the epoch's training loss is the loss before its one step.
        before.push(record.train.mse);
    }
    let net = trainer.model()?;
    let fit = fit_of(&net, data)?;
    Ok((net, fit, before))
}

/// Crashes at the first hidden layer of a network with `layers` layers of neurons.
pub(crate) fn first_layer(layers: usize, p: f64) -> anyhow::Result<FailureVector> {
    Ok(FailureVector::single(layers, 1, p)?)
}

/// Seed of network `index` of part `part` (also its numpy initialisation seed, 32 bits).
pub(crate) fn net_seed(seed: u64, part: u64, index: u64) -> u64 {
    (seed ^ (part << 24) ^ (index << 8)) & 0xffff_ffff
}

/// Monte Carlo and every bound on `x`.
pub(crate) fn measure(
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
pub(crate) fn part_result(
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

/// Part A: the original's network (numpy seed 2), all 506 inputs.
pub(crate) fn run_single(
    ctx: &Context,
    params: &Params,
    data: &BostonData,
) -> anyhow::Result<SingleResult> {
    let a = &params.a;
    let (net, fit, before) = train(&a.net, data, a.init_seed)?;
    let p = first_layer(a.net.sizes.len(), a.p)?;
    let bar = ctx.progress(
        (data.all.rows() * a.repetitions) as u64,
        "part A: crashed passes",
    );
    let seed = net_seed(params.seed, 1, 0);
    let (mc, bounds) = measure(&net, &p, &data.all, a.repetitions, seed + 1, |done| {
        bar.set_position(done)
    })?;
    bar.finish_and_clear();
    Ok(SingleResult {
        part: part_result("A", &mc, bounds)?,
        fit,
        initial_train_mse: before.first().copied().unwrap_or(f64::NAN),
        last_logged_train_mse: before.last().copied().unwrap_or(f64::NAN),
    })
}

pub(crate) fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The one random row (0..506) of part B, the same for every network.
pub(crate) fn random_row(seed: u64, rows: usize) -> usize {
    ChaCha8Rng::seed_from_u64(seed ^ 0xb0_5705).random_range(0..rows)
}

/// Part B: one point per trained network, all on one random row.
pub(crate) fn run_nets(
    ctx: &Context,
    params: &Params,
    data: &BostonData,
) -> anyhow::Result<NetsResult> {
    let b = &params.b;
    let row = random_row(params.seed, data.all.rows());
    let x = Inputs::from_rows(&[data.all.row(row).to_vec()])?;
    let keys: Vec<String> = (0..b.nets).map(|j| format!("net-{j}")).collect();
    let points: Vec<NetPoint> = ctx.jobs("part-b", &keys, |j, _| {
        let seed = net_seed(params.seed, 2, j as u64);
        let (net, fit, _) = train(&b.net, data, seed as u32)?;
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
        row,
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

/// Part C: Var Δ at x_train[0] of trained `[13, n, second, 1]` networks for each width n.
pub(crate) fn run_sweep(
    ctx: &Context,
    params: &Params,
    data: &BostonData,
) -> anyhow::Result<SweepResult> {
    let c = &params.c;
    let jobs: Vec<(usize, usize)> = c
        .widths
        .iter()
        .flat_map(|&n| (0..c.nets).map(move |r| (n, r)))
        .collect();
    let keys: Vec<String> = jobs.iter().map(|(n, r)| format!("n{n}-net{r}")).collect();
    let x = Inputs::from_rows(&[data.train.input(0).to_vec()])?;
    let points: Vec<WidthPoint> = ctx.jobs("part-c", &keys, |i, _| {
        let (n, r) = jobs[i];
        let seed = net_seed(params.seed, 3, ((n as u64) << 12) ^ r as u64);
        let spec = TrainSpec {
            sizes: vec![13, n, c.second, 1],
            activation: c.activation,
            epochs: c.epochs,
            batch_size: c.batch_size,
            optimizer: c.optimizer,
        };
        let (net, fit, _) = train(&spec, data, seed as u32)?;
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
    /// Fit of log(mean over nets of Var Δ) on log n.
    pub fit: SlopeFit,
}

/// The slope of part C (SPEC §15: least squares of log(mean over nets of Var Δ) on log n).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SlopeFit {
    /// Slope.
    pub slope: f64,
    /// Intercept (natural log).
    pub intercept: f64,
    /// Bootstrap standard error of the slope (networks resampled within each width).
    pub bootstrap_se: f64,
    /// Networks per width (the smallest group).
    pub nets: usize,
}

/// Least squares of log(mean of `values[w]`) on log `widths[w]` (widths whose mean is not
/// positive are left out).
pub fn slope_of_mean(widths: &[f64], values: &[Vec<f64>]) -> LineFit {
    let (xs, ys): (Vec<f64>, Vec<f64>) = widths
        .iter()
        .zip(values)
        .filter_map(|(&n, v)| {
            let m = mean(v);
            (m > 0.0 && n > 0.0 && !v.is_empty()).then(|| (n.ln(), m.ln()))
        })
        .unzip();
    fit_line(&xs, &ys)
}

/// [`slope_of_mean`] with a bootstrap standard error: the networks of every width are
/// resampled with replacement (`resamples` times, seeded).
pub fn slope_with_se(widths: &[f64], values: &[Vec<f64>], resamples: usize, seed: u64) -> SlopeFit {
    let fit = slope_of_mean(widths, values);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let slopes: Vec<f64> = (0..resamples)
        .map(|_| {
            let re: Vec<Vec<f64>> = values
                .iter()
                .map(|v| {
                    (0..v.len())
                        .map(|_| v[rng.random_range(0..v.len())])
                        .collect()
                })
                .collect();
            slope_of_mean(widths, &re).slope
        })
        .collect();
    let m = mean(&slopes);
    let sd = (slopes.iter().map(|s| (s - m).powi(2)).sum::<f64>()
        / (slopes.len().max(2) - 1) as f64)
        .sqrt();
    SlopeFit {
        slope: fit.slope,
        intercept: fit.intercept,
        bootstrap_se: if resamples >= 2 { sd } else { f64::NAN },
        nets: values.iter().map(Vec::len).min().unwrap_or(0),
    }
}

/// The fit, the tables and the conclusion.
pub(crate) fn summarise(
    params: &Params,
    a: SingleResult,
    b: NetsResult,
    c: SweepResult,
) -> Outcome<Results> {
    let widths: Vec<f64> = c.widths.iter().map(|w| w.width as f64).collect();
    let values: Vec<Vec<f64>> = c
        .widths
        .iter()
        .map(|w| w.points.iter().map(|q| q.var_exp).collect())
        .collect();
    let fit = slope_with_se(&widths, &values, 1000, params.seed ^ 0x5107e);
    let conclusion = super::report::conclusion(params, &a, &b, &fit);
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
