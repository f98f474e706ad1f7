//! `dropout-comparison` — which quantity tells how crash-tolerant a trained network is?
//! (SPEC §10, §15; original notebook `ComparisonIncreasingDropoutMNIST.ipynb`.)
//!
//! 784-100-50-10 sigmoid networks (K = 1) are trained on MNIST (/255, one-hot targets) with
//! MSE and Keras' Adadelta (lr 1.0), batch 100, 10 epochs (SPEC §15), under crash-dropout
//! p_train ∈ linspace(0, 0.06, 10) at hidden layer 1 (crashed neurons output 0, no
//! rescaling). For every network we measure the original's 14 quantities ([`NetQuantities`]):
//! accuracies and MAEs with and without crashes (p_inf = 0.05 at hidden layer 1, 6 passes
//! over the data) on train and test, and the b2–b4 means and variances over the training
//! inputs. Each quantity is judged by how well it orders the networks by p_train: the
//! **between-bins rank loss** of SPEC §15 ([`verdict::rank_loss_between_bins`]) over the bins
//! p_train ≤ 0.03. The paper: b4 and b3 variances best (.031, .036), the correct accuracy
//! worst (.317 train / .399 test); crashed test accuracy .9442 → .9536 at p_train .02 while
//! the correct test accuracy stays .9602 → .9600.

mod verdict;

use crate::common::mnist::{
    group_by_value, job_seed, linspace, measure, train_net, CrashEvalParams, DataParams, LazyMnist,
    NetQuantities, Quantity,
};
use ftnn_lab::Profile;
use ftnn_lab::{Context, Csv, Experiment, Outcome, ReportSection};
use ftnn_model::FailureVector;
use ftnn_plot::{self as plot, Axes, Band, BarOrder, Scale};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use verdict::{rank_loss_between_bins, RankLoss};

/// The `dropout-comparison` experiment.
pub struct DropoutComparison;

/// Parameters of `dropout-comparison`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Params {
    /// Layer sizes.
    pub sizes: Vec<usize>,
    /// Crash-dropout probabilities at hidden layer 1 during training (the bins).
    pub p_train: Vec<f64>,
    /// Networks per p_train.
    pub nets: usize,
    /// Training epochs.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Crashes at inference (hidden layer 1), passes of the crashed evaluation, bound inputs.
    pub crash: CrashEvalParams,
    /// Rank losses are taken over the bins with p_train at most this.
    pub rank_max_p_train: f64,
    /// The part of MNIST used.
    pub data: DataParams,
    /// Base seed.
    pub seed: u64,
}

/// One trained network and its quantities.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetRecord {
    /// Its crash-dropout probability during training.
    pub p_train: f64,
    /// Index among the networks of its p_train.
    pub net: usize,
    /// Seed of its training.
    pub seed: u64,
    /// Mean objective of the last epoch.
    pub final_objective: f64,
    /// Seconds of training and measuring.
    pub seconds: f64,
    /// The 14 quantities.
    pub quantities: NetQuantities,
}

/// The rank loss of one quantity against p_train.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RankRow {
    /// The quantity's label ([`Quantity::label`]).
    pub quantity: String,
    /// SPEC §15 between-bins rank loss min(r, 1 − r).
    pub rank_loss: f64,
    /// Its delete-one-network jackknife standard error.
    pub se: f64,
    /// Pairs of networks from different bins.
    pub pairs: usize,
}

/// The stored `results`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// Every network.
    pub nets: Vec<NetRecord>,
    /// Networks entering the rank losses.
    pub rank_nets: usize,
    /// Best (lowest `rank_loss`) first.
    pub rank: Vec<RankRow>,
}

/// The original's p_train values: linspace(0, 1.2 · p_inf, 10).
fn paper_p_train() -> Vec<f64> {
    linspace(0.0, 0.06, 10)
}

impl Experiment for DropoutComparison {
    type Params = Params;
    type Results = Results;

    fn id(&self) -> &'static str {
        "dropout-comparison"
    }
    fn title(&self) -> &'static str {
        "Which quantity orders MNIST networks by their training crash-dropout?"
    }
    fn origin(&self) -> &'static str {
        "ComparisonIncreasingDropoutMNIST.ipynb"
    }
    /// Every profile trains with the §15 set-up (Adadelta, batch 100); `quick` keeps the 10
    /// epochs and the five bins p_train ≤ 0.03 that the rank losses and the accuracy rows use,
    /// with 2 networks per bin and the bounds over the first 10 000 training inputs; `smoke`
    /// is 1 epoch on 5 000 images (nothing comparable).
    fn params(&self, profile: Profile) -> Params {
        let all = paper_p_train();
        let (p_train, nets, epochs, data, bound_inputs) = match profile {
            Profile::Smoke => (
                vec![all[0], all[3]],
                2,
                1,
                DataParams {
                    train_examples: Some(5000),
                    test_examples: Some(2000),
                    bound_inputs: 1,
                },
                1000,
            ),
            Profile::Quick => (all[..5].to_vec(), 2, 10, DataParams::full(1), 10_000),
            Profile::Paper => (all, 10, 10, DataParams::full(1), 60_000),
        };
        Params {
            sizes: vec![784, 100, 50, 10],
            p_train,
            nets,
            epochs,
            batch_size: 100,
            crash: CrashEvalParams {
                p_inf: 0.05,
                repetitions: 6,
                bound_train_inputs: bound_inputs,
            },
            rank_max_p_train: 0.03,
            data,
            seed: 0,
        }
    }

    fn run(&self, ctx: &Context, params: &Params) -> anyhow::Result<Outcome<Results>> {
        let data = LazyMnist::new(params.data.clone());
        let mut keys = Vec::new();
        for i in 0..params.p_train.len() {
            for j in 0..params.nets {
                keys.push(format!("p{i:02}-net{j:02}"));
            }
        }
        let nets = ctx.jobs("nets", &keys, |k, _| {
            let (i, j) = (k / params.nets, k % params.nets);
            train_and_measure(params, &data, i, j)
        })?;
        summarise(params, nets)
    }

    fn figures(
        &self,
        stored: &ftnn_lab::Stored<Params, Results>,
        dir: &Path,
    ) -> anyhow::Result<Vec<PathBuf>> {
        let st = &stored.results;
        let bars: Vec<(String, f64)> = st
            .rank
            .iter()
            .map(|r| (r.quantity.clone(), r.rank_loss))
            .collect();
        let max_p = stored.params.rank_max_p_train;
        let rank = plot::bar_chart(
            dir,
            "rank_loss",
            &format!(
                "Rank loss against p_train between bins ({} networks, p_train ≤ {max_p}; lower is better)",
                st.rank_nets
            ),
            "rank loss",
            &bars,
            BarOrder::Ascending,
        )?;
        let groups = group_by_value(&st.nets, |n| n.p_train);
        let ps: Vec<f64> = groups.iter().map(|g| g.0).collect();
        let band = |q: Quantity| {
            let v: Vec<Vec<f64>> = groups
                .iter()
                .map(|g| g.1.iter().map(|n| n.quantities.get(q)).collect())
                .collect();
            Band::mean_sd(q.label(), &ps, &v)
        };
        let p_inf = stored.params.crash.p_inf;
        // The paper's figure: correct (green) and crashed (red) accuracy, test solid and train
        // dashed, mean ± 1 sd over networks; the b3 variance on the right axis.
        let accuracy = plot::twin_band_plot(
            dir,
            "accuracy_vs_p_train",
            &Axes::new(
                format!("Accuracy, correct and with p_inf = {p_inf} at hidden layer 1"),
                "p_train (crash-dropout at hidden layer 1)",
                "accuracy (mean ± 1 sd over networks)",
            ),
            "b3 variance (mean over train inputs, outputs)",
            Scale::Linear,
            &[
                band(Quantity::CorrectAccTest).color(2),
                band(Quantity::CrashAccTest).color(3),
                band(Quantity::CorrectAccTrain).color(2).dashed(),
                band(Quantity::CrashAccTrain).color(3).dashed(),
            ],
            &[band(Quantity::B3Var).color(0)],
        )?;
        let variance = plot::band_plot(
            dir,
            "variance_vs_p_train",
            &Axes::new(
                format!("Bound variance of the crash error (p_inf = {p_inf})"),
                "p_train (crash-dropout at hidden layer 1)",
                "mean Var Δ over train inputs and outputs (± 1 sd)",
            )
            .log_y(),
            &[band(Quantity::B3Var), band(Quantity::B4Var)],
        )?;
        Ok(vec![rank, accuracy, variance])
    }

    fn report(&self, stored: &ftnn_lab::Stored<Params, Results>) -> ReportSection {
        let st = &stored.results;
        if !st.nets.is_empty() && st.rank.len() == Quantity::ALL.len() {
            verdict::report_section(&stored.params, st)
        } else {
            ReportSection::unreadable("unexpected shape")
        }
    }
}

/// Trains network `j` of p_train index `i` and measures it.
fn train_and_measure(
    params: &Params,
    data: &LazyMnist,
    i: usize,
    j: usize,
) -> anyhow::Result<NetRecord> {
    let start = std::time::Instant::now();
    let data = data.get()?;
    let p_train = params.p_train[i];
    // The same seed for network j at every p_train (common random numbers: the same
    // initialisation and data order), so p_train is the only difference between them.
    let seed = job_seed(params.seed, 0, j);
    let config = super::paper_setup(params.sizes.clone(), params.epochs, params.batch_size, seed)
        .p_train(FailureVector::single(params.sizes.len(), 1, p_train)?);
    let (net, final_objective) = train_net(config, data)?;
    let quantities = measure(&net, data, params.crash, job_seed(params.seed, 1 + i, j))?;
    Ok(NetRecord {
        p_train,
        net: j,
        seed,
        final_objective,
        seconds: start.elapsed().as_secs_f64(),
        quantities,
    })
}

/// Rank losses, the tables and the conclusion.
fn summarise(params: &Params, nets: Vec<NetRecord>) -> anyhow::Result<Outcome<Results>> {
    let (rank, rank_nets) = verdict::rank_table(&nets, params.rank_max_p_train)?;
    let st = Results {
        rank_nets,
        rank,
        nets,
    };
    let conclusion = verdict::conclusion(params, &st);
    let mut rows = Vec::new();
    for n in &st.nets {
        let mut row = vec![
            format!("{:.6}", n.p_train),
            n.net.to_string(),
            n.seed.to_string(),
        ];
        row.extend(
            Quantity::ALL
                .iter()
                .map(|&q| format!("{:.6e}", n.quantities.get(q))),
        );
        rows.push(row);
    }
    let mut header = vec!["p_train", "net", "seed"];
    header.extend(Quantity::ALL.iter().map(|q| q.label()));
    let rank_rows = st
        .rank
        .iter()
        .map(|r| {
            vec![
                r.quantity.clone(),
                format!("{:.4}", r.rank_loss),
                format!("{:.4}", r.se),
                r.pairs.to_string(),
            ]
        })
        .collect();
    Ok(Outcome {
        results: st,
        conclusion,
        tables: vec![
            Csv {
                name: "nets.csv".into(),
                header,
                rows,
            },
            Csv {
                name: "rank_loss.csv".into(),
                header: vec![
                    "quantity",
                    "rank_loss_between_bins",
                    "jackknife_se",
                    "pairs",
                ],
                rows: rank_rows,
            },
        ],
    })
}
