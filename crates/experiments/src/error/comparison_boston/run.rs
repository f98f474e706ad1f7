//! The three parts of `error-comparison-boston` (one network, several networks, the width
//! sweep) and their summary.

use super::{FitQuality, NetPoint, NetsResult, Params, SingleResult, TrainSpec, WidthPoint};
use crate::common::boston::BostonData;
use crate::common::fit::{fit_loglog, StoredFit};
use crate::common::parts::{BoundPoints, PartResult, RankingRow};
use ftnn_bounds::{compare_with_experiment, evaluate, BoundKind, BoundOutput};
use ftnn_lab::{Context, Csv, Outcome};
use ftnn_model::{DeltaStats, FailureVector, Inputs, Mlp, MonteCarlo};
use ftnn_train::{Loss, TrainConfig, Trainer};
use serde::{Deserialize, Serialize};

/// Trains one network on the training rows; returns it with its fit.
pub(crate) fn train(
    spec: &TrainSpec,
    data: &BostonData,
    seed: u64,
) -> anyhow::Result<(Mlp, FitQuality)> {
    let config = TrainConfig::new(spec.sizes.clone())
        .activation(spec.activation)
        .loss(Loss::Mse)
        .epochs(spec.epochs)
        .batch_size(spec.batch_size)
        .seed(seed);
    let mut trainer = Trainer::new(config)?;
    trainer.fit(&data.train, None, &mut |_| {})?;
    let net = trainer.model()?;
    let fit = FitQuality {
        train_mse: ftnn_train::evaluate(&net, &data.train, Loss::Mse)?.mse,
        test_mse: ftnn_train::evaluate(&net, &data.test, Loss::Mse)?.mse,
    };
    Ok((net, fit))
}

/// Crashes at the first hidden layer of a network with `layers` layers of neurons.
pub(crate) fn first_layer(layers: usize, p: f64) -> anyhow::Result<FailureVector> {
    Ok(FailureVector::single(layers, 1, p)?)
}

/// Seed of network `index` of part `part`.
pub(crate) fn net_seed(seed: u64, part: u64, index: u64) -> u64 {
    seed ^ (part << 40) ^ (index << 8)
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

/// Part A: one trained network, all 506 inputs.
pub(crate) fn run_single(
    ctx: &Context,
    params: &Params,
    data: &BostonData,
) -> anyhow::Result<SingleResult> {
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

pub(crate) fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Part B: one point per trained network (means over its inputs).
pub(crate) fn run_nets(
    ctx: &Context,
    params: &Params,
    data: &BostonData,
) -> anyhow::Result<NetsResult> {
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
pub(crate) fn median_err(r: &PartResult, q: &str) -> f64 {
    r.ranking
        .iter()
        .find(|x| x.quantity == q)
        .map_or(f64::NAN, |x| x.median_rel_error)
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
