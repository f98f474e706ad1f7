//! `worst-input-search` — how far is the worst input's crash error from the bounds? (SPEC §10
//! last-but-one row; original script `bad_input_search.py`, listed as unused.)
//!
//! A genetic search over inputs for the largest crash error, on two networks with crashes at
//! hidden layer 1 (p = 0.05):
//! * the MNIST network of `dropout-comparison`: 784-100-50-10 sigmoid (K = 1), MSE, Adadelta
//!   (lr 1.0), batch 100, no crash-dropout (p_train = 0), trained here with the shared MNIST
//!   machinery of [`crate::common::mnist`] (SPEC §15 row dropout-comparison);
//! * a random network of the same sizes (`RandomExperiment` init, s = 1, μ = 0, SPEC §2).
//!
//! **Error of an input.** The root-mean-square crash error over the outputs,
//! `e(x) = sqrt((1/n_L) Σ_k E[Δ_k²])`, estimated from R = 1000 Monte Carlo draws by the plug-in
//! second moment `mean_k² + std_k²·(R − 1)/R = (1/R) Σ_r Δ_{k,r}²` (unbiased for E[Δ_k²]). The
//! bounds give the same functional of their E Δ and std Δ: `sqrt((1/n_L) Σ_k (m_k² + s_k²))`
//! for b3 (first order) and b4 (exact single-crash sum).
//!
//! **Search ([`search`]).** Inputs live in the pixel box [0, 1]^784 (MNIST's; the random net
//! uses the same box). Generation 0 evaluates an initial pool (MNIST: the first test images;
//! random net: uniform draws) and keeps the 5 largest errors. Each later generation adds 20
//! Gaussian perturbations (σ per pixel, clipped to the box) of each kept input, evaluates the
//! kept inputs and the children afresh (a new Monte Carlo seed each generation, so a parent's
//! lucky draw is not carried forward), and keeps the 5 largest. 20 generations.
//!
//! **Reported.** Per generation, the worst input's error as a percentage of its b3 and b4
//! values. The selection estimate is biased upwards (the maximum of noisy estimates), so the
//! worst input of each generation is measured again with independent draws (10 runs of 1000,
//! mean and standard error over the runs); the figure and the report use that confirmation.
//!
//! **Verdict.** The original published no number ("shows how far the bound is from the
//! worst case"), so the verdict is *not comparable*; the conclusion states, from the numbers,
//! the ratios at the last generation and whether the search found worse inputs (last minus
//! first generation's error above 3 combined standard errors).
//!
//! **Profiles.** `quick` is `paper` (SPEC §10's sizes: 5 kept, 20 children, 20 generations,
//! 1000 draws; the MNIST network trained for 10 epochs on all 60 000 examples): about a minute
//! and a half on two cores. `smoke`: 2 000 examples, 1 epoch, 10 initial inputs, 2 generations,
//! 200 draws.

use crate::common::mnist::{job_seed, DataParams, LazyMnist};
use ftnn_bounds::{b3, b4, MeanStd};
use ftnn_lab::Profile;
use ftnn_lab::{Context, Csv, Experiment, Outcome};
use ftnn_lab::{PaperRow, ReportSection, Verdict};
use ftnn_model::{Activation, FailureVector, Init, Inputs, Mlp, MonteCarlo};
use ftnn_plot::{self as plot, Axes, Series};
use ftnn_train::{Optimizer, TrainConfig, Trainer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The `worst-input-search` experiment.
pub struct WorstInputSearch;

/// The genetic search's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SearchParams {
    /// Inputs kept per generation.
    pub keep: usize,
    /// Perturbations of each kept input per generation.
    pub children: usize,
    /// Standard deviation of a perturbation, per input coordinate.
    pub sigma: f64,
    /// Generations after generation 0.
    pub generations: usize,
    /// Lower end of the input box.
    pub lo: f32,
    /// Upper end of the input box.
    pub hi: f32,
}

/// A parameter outside its domain.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchError {
    /// The parameter.
    pub name: &'static str,
    /// Why.
    pub reason: String,
}

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worst-input search: {} {}", self.name, self.reason)
    }
}

impl std::error::Error for SearchError {}

impl SearchParams {
    /// Refuses settings outside their domain.
    pub fn validate(&self) -> Result<(), SearchError> {
        let err = |name, reason: String| Err(SearchError { name, reason });
        if self.keep == 0 {
            return err("keep", "must be ≥ 1".into());
        }
        if !(self.sigma.is_finite() && self.sigma >= 0.0) {
            return err("sigma", format!("= {} must be finite and ≥ 0", self.sigma));
        }
        if !(self.lo.is_finite() && self.hi.is_finite() && self.lo <= self.hi) {
            return err(
                "box",
                format!("[{}, {}] must be finite with lo ≤ hi", self.lo, self.hi),
            );
        }
        Ok(())
    }
}

/// One generation of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// 0 for the initial pool.
    pub generation: usize,
    /// Candidates evaluated.
    pub evaluated: usize,
    /// Fitness of the kept inputs, largest first.
    pub kept_fitness: Vec<f64>,
    /// The kept inputs, in the same order.
    pub kept: Vec<Vec<f32>>,
}

/// The genetic search of the module documentation. `fitness(candidates, generation)` returns
/// one value per candidate (larger = worse input); the `generation` index lets it draw fresh
/// Monte Carlo seeds. Perturbations come from `seed`. Ties keep the earlier candidate (parents
/// before children). Returns generation 0 and `params.generations` more.
pub fn search<F>(
    params: &SearchParams,
    initial: Vec<Vec<f32>>,
    seed: u64,
    mut fitness: F,
) -> anyhow::Result<Vec<Generation>>
where
    F: FnMut(&[Vec<f32>], usize) -> anyhow::Result<Vec<f64>>,
{
    params.validate()?;
    anyhow::ensure!(
        !initial.is_empty(),
        SearchError {
            name: "initial pool",
            reason: "must hold ≥ 1 input".into()
        }
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(params.generations + 1);
    let mut candidates = initial;
    for g in 0..=params.generations {
        if g > 0 {
            let parents = &out
                .last()
                .map(|p: &Generation| p.kept.clone())
                .unwrap_or_default();
            candidates = parents.clone();
            for parent in parents {
                for _ in 0..params.children {
                    candidates.push(perturb(parent, params, &mut rng));
                }
            }
        }
        let f = fitness(&candidates, g)?;
        anyhow::ensure!(
            f.len() == candidates.len(),
            "fitness returned {} values for {} candidates",
            f.len(),
            candidates.len()
        );
        let order = select(&f, params.keep);
        out.push(Generation {
            generation: g,
            evaluated: candidates.len(),
            kept_fitness: order.iter().map(|&i| f[i]).collect(),
            kept: order.iter().map(|&i| candidates[i].clone()).collect(),
        });
    }
    Ok(out)
}

/// Indices of the `keep` largest values, largest first; ties (and NaN, ranked lowest) keep
/// the earlier index.
pub fn select(values: &[f64], keep: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    let key = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
    idx.sort_by(|&a, &b| key(values[b]).total_cmp(&key(values[a])).then(a.cmp(&b)));
    idx.truncate(keep);
    idx
}

/// `x` plus N(0, σ²) per coordinate, clipped to the box.
pub fn perturb<R: Rng>(x: &[f32], params: &SearchParams, rng: &mut R) -> Vec<f32> {
    x.iter()
        .map(|&v| {
            let z: f64 = StandardNormal.sample(rng);
            (v + (params.sigma * z) as f32).clamp(params.lo, params.hi)
        })
        .collect()
}

/// RMS over outputs of `sqrt(m² + s²)`, per input, from bound estimates.
pub fn rms_of_bound(b: &MeanStd) -> Vec<f64> {
    (0..b.n_inputs)
        .map(|i| {
            let r = i * b.n_outputs..(i + 1) * b.n_outputs;
            let s: f64 = b.mean[r.clone()]
                .iter()
                .zip(&b.std[r])
                .map(|(m, s)| m * m + s * s)
                .sum();
            (s / b.n_outputs as f64).sqrt()
        })
        .collect()
}

/// Per input, the Monte Carlo estimate of `(1/n_L) Σ_k E[Δ_k²]` from `repetitions` draws.
pub fn mc_second_moment(
    net: &Mlp,
    p: &FailureVector,
    x: &Inputs,
    repetitions: usize,
    seed: u64,
) -> anyhow::Result<Vec<f64>> {
    let st = MonteCarlo::new(net, p.clone())?
        .repetitions(repetitions)
        .seed(seed)
        .run(x)?;
    let r = repetitions as f64;
    let n = st.n_outputs;
    Ok((0..st.n_inputs)
        .map(|i| {
            (i * n..(i + 1) * n)
                .map(|j| st.mean[j].powi(2) + st.std[j].powi(2) * (r - 1.0) / r)
                .sum::<f64>()
                / n as f64
        })
        .collect())
}

/// Parameters of `worst-input-search`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Params {
    /// Layer sizes of both networks.
    pub sizes: Vec<usize>,
    /// Training epochs of the MNIST network.
    pub epochs: usize,
    /// Its mini-batch size.
    pub batch_size: usize,
    /// The part of MNIST used; the initial pool is the first `bound_inputs` test images.
    pub data: DataParams,
    /// Crash probability at hidden layer 1.
    pub p: f64,
    /// The search.
    pub search: SearchParams,
    /// Initial inputs of the random network (uniform in the box).
    pub random_initial: usize,
    /// Monte Carlo draws per candidate.
    pub repetitions: usize,
    /// Independent confirmation runs of the worst input of each generation.
    pub confirm_runs: usize,
    /// Seed.
    pub seed: u64,
}

/// One generation's worst input, measured again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerationRecord {
    /// Generation.
    pub generation: usize,
    /// Candidates evaluated.
    pub evaluated: usize,
    /// RMS error of the worst input as the selection measured it.
    pub selected_error: f64,
    /// RMS error of the worst input from the confirmation runs.
    pub error: f64,
    /// Its standard error (over the confirmation runs, delta method).
    pub error_se: f64,
    /// b3's RMS error at that input.
    pub b3: f64,
    /// b4's RMS error at that input.
    pub b4: f64,
}

impl GenerationRecord {
    /// 100 · error / b3.
    pub fn pct_b3(&self) -> f64 {
        100.0 * self.error / self.b3
    }
    /// 100 · error / b4.
    pub fn pct_b4(&self) -> f64 {
        100.0 * self.error / self.b4
    }
}

/// The search on one network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetSearch {
    /// `mnist` or `random`.
    pub net: String,
    /// Test accuracy (MNIST network only).
    pub test_accuracy: Option<f64>,
    /// One record per generation.
    pub generations: Vec<GenerationRecord>,
}

/// The stored `results`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// MNIST network, then the random one.
    pub nets: Vec<NetSearch>,
}

/// Runs the search on `net` from `initial` and measures each generation's worst input.
fn search_net(
    params: &Params,
    net: &Mlp,
    initial: Vec<Vec<f32>>,
    seed: u64,
) -> anyhow::Result<Vec<GenerationRecord>> {
    let p = FailureVector::single(params.sizes.len(), 1, params.p)?;
    let n_in = params.sizes[0];
    let rows = |v: &[Vec<f32>]| Inputs::new(v.concat(), v.len(), n_in);
    let gens = search(&params.search, initial, seed, |c, g| {
        let m2 = mc_second_moment(net, &p, &rows(c)?, params.repetitions, job_seed(seed, 1, g))?;
        Ok(m2.iter().map(|v| v.sqrt()).collect())
    })?;
    gens.iter()
        .map(|g| {
            let worst = rows(&g.kept[..1])?;
            let runs: Vec<f64> = (0..params.confirm_runs)
                .map(|k| {
                    let s = job_seed(seed, 2 + g.generation, k);
                    Ok(mc_second_moment(net, &p, &worst, params.repetitions, s)?[0])
                })
                .collect::<anyhow::Result<_>>()?;
            let m = crate::common::mnist::mean(&runs);
            let se = crate::common::mnist::sd(&runs) / (runs.len() as f64).sqrt();
            let error = m.sqrt();
            Ok(GenerationRecord {
                generation: g.generation,
                evaluated: g.evaluated,
                selected_error: g.kept_fitness[0],
                error,
                error_se: if error > 0.0 { se / (2.0 * error) } else { 0.0 },
                b3: rms_of_bound(&b3(net, &p, &worst)?)[0],
                b4: rms_of_bound(&b4(net, &p, &worst)?)[0],
            })
        })
        .collect()
}

impl Experiment for WorstInputSearch {
    type Params = Params;
    type Results = Results;

    fn id(&self) -> &'static str {
        "worst-input-search"
    }
    fn title(&self) -> &'static str {
        "Genetic search for the input with the largest crash error, against b3 and b4"
    }
    fn origin(&self) -> &'static str {
        "bad_input_search.py (unused in the original)"
    }
    fn params(&self, profile: Profile) -> Params {
        let (train, epochs, initial, generations, repetitions, confirm) = match profile {
            Profile::Smoke => (Some(2000), 1, 10, 2, 200, 3),
            Profile::Quick => (None, 10, 100, 20, 1000, 10),
            Profile::Paper => (None, 10, 100, 20, 1000, 10),
        };
        Params {
            sizes: vec![784, 100, 50, 10],
            epochs,
            batch_size: 100,
            data: DataParams {
                train_examples: train,
                test_examples: if profile == Profile::Smoke {
                    Some(500)
                } else {
                    None
                },
                bound_inputs: initial,
            },
            p: 0.05,
            search: SearchParams {
                keep: 5,
                children: 20,
                sigma: 0.1,
                generations,
                lo: 0.0,
                hi: 1.0,
            },
            random_initial: initial,
            repetitions,
            confirm_runs: confirm,
            seed: 0,
        }
    }

    fn run(&self, ctx: &Context, params: &Params) -> anyhow::Result<Outcome<Results>> {
        params.search.validate()?;
        anyhow::ensure!(
            params.repetitions > 0 && params.confirm_runs > 1,
            SearchError {
                name: "repetitions / confirm_runs",
                reason: "need ≥ 1 draw and ≥ 2 confirmation runs".into()
            }
        );
        anyhow::ensure!(
            params.sizes.len() >= 3,
            SearchError {
                name: "sizes",
                reason: "need a hidden layer to crash".into()
            }
        );
        let data = LazyMnist::new(params.data.clone());
        let keys = vec!["mnist".to_string(), "random".to_string()];
        let nets = ctx.jobs("nets", &keys, |k, key| {
            let seed = job_seed(params.seed, 10, k);
            let (net, initial, acc) = if k == 0 {
                let data = data.get()?;
                let config = TrainConfig::new(params.sizes.clone())
                    .optimizer(Optimizer::adadelta())
                    .epochs(params.epochs)
                    .batch_size(params.batch_size)
                    .seed(params.seed);
                let mut trainer = Trainer::new(config)?;
                trainer.fit(&data.train, None, &mut |_| {})?;
                let net = trainer.model()?;
                let acc = ftnn_train::evaluate(&net, &data.test, ftnn_model::Loss::Mse)?.accuracy;
                let x = &data.bound_inputs;
                let initial = (0..x.rows()).map(|i| x.row(i).to_vec()).collect();
                (net, initial, acc)
            } else {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let init = Init::Random {
                    scale: 1.0,
                    mean: 0.0,
                };
                let net = Mlp::init(&params.sizes, Activation::Sigmoid, 1.0, init, &mut rng)?;
                let (lo, hi) = (params.search.lo, params.search.hi);
                let initial = (0..params.random_initial)
                    .map(|_| {
                        (0..params.sizes[0])
                            .map(|_| lo + (hi - lo) * rng.random::<f32>())
                            .collect()
                    })
                    .collect();
                (net, initial, None)
            };
            Ok(NetSearch {
                net: key.to_string(),
                test_accuracy: acc,
                generations: search_net(params, &net, initial, seed)?,
            })
        })?;
        let results = Results { nets };
        let conclusion = conclusion(&results);
        let rows = results
            .nets
            .iter()
            .flat_map(|n| {
                n.generations.iter().map(move |g| {
                    vec![
                        n.net.clone(),
                        g.generation.to_string(),
                        g.evaluated.to_string(),
                        format!("{:.6e}", g.selected_error),
                        format!("{:.6e}", g.error),
                        format!("{:.3e}", g.error_se),
                        format!("{:.6e}", g.b3),
                        format!("{:.6e}", g.b4),
                        format!("{:.2}", g.pct_b3()),
                        format!("{:.2}", g.pct_b4()),
                    ]
                })
            })
            .collect();
        Ok(Outcome {
            results,
            conclusion,
            tables: vec![Csv {
                name: "generations.csv".into(),
                header: vec![
                    "net",
                    "generation",
                    "evaluated",
                    "selected_error",
                    "error",
                    "error_se",
                    "b3",
                    "b4",
                    "pct_of_b3",
                    "pct_of_b4",
                ],
                rows,
            }],
        })
    }

    fn figures(
        &self,
        stored: &ftnn_lab::Stored<Params, Results>,
        dir: &Path,
    ) -> anyhow::Result<Vec<PathBuf>> {
        let mut series = Vec::new();
        for n in &stored.results.nets {
            let g: Vec<f64> = n.generations.iter().map(|g| g.generation as f64).collect();
            let pct = |f: fn(&GenerationRecord) -> f64| n.generations.iter().map(f).collect();
            series.push(Series::new(
                format!("{}: % of b3", n.net),
                g.clone(),
                pct(GenerationRecord::pct_b3),
            ));
            series.push(Series::new(
                format!("{}: % of b4", n.net),
                g,
                pct(GenerationRecord::pct_b4),
            ));
        }
        let fig = plot::line_plot(
            dir,
            "worst_error_pct",
            &Axes::new(
                format!(
                    "Worst input's RMS crash error (p = {} at h1) as % of the bound",
                    stored.params.p
                ),
                "generation",
                "Monte Carlo error / bound (%)",
            ),
            &series,
        )?;
        let mut abs = Vec::new();
        for n in &stored.results.nets {
            let g: Vec<f64> = n.generations.iter().map(|g| g.generation as f64).collect();
            abs.push(Series::new(
                format!("{}: Monte Carlo", n.net),
                g.clone(),
                n.generations.iter().map(|g| g.error).collect(),
            ));
        }
        let fig2 = plot::line_plot(
            dir,
            "worst_error",
            &Axes::new(
                "Worst input's RMS crash error per generation (confirmation runs)",
                "generation",
                "sqrt(mean_k E[Δ_k²])",
            )
            .log_y(),
            &abs,
        )?;
        Ok(vec![fig, fig2])
    }

    fn report(&self, stored: &ftnn_lab::Stored<Params, Results>) -> ReportSection {
        let r = &stored.results;
        if r.nets.iter().any(|n| n.generations.is_empty()) || r.nets.is_empty() {
            return ReportSection::unreadable("a search without generations");
        }
        let why = "the original script was unused and published no number";
        let rows = r
            .nets
            .iter()
            .map(|n| {
                let last = n.generations.last().expect("checked");
                let se = |pct: f64| pct * last.error_se / last.error;
                PaperRow::new(
                    format!(
                        "{} net: worst error after {} generations, % of b3 / b4",
                        n.net, last.generation
                    ),
                    "not given (\"how far the bound is from the worst case\")",
                    format!(
                        "{:.1} ± {:.1} % / {:.1} ± {:.1} %",
                        last.pct_b3(),
                        se(last.pct_b3()),
                        last.pct_b4(),
                        se(last.pct_b4())
                    ),
                    Verdict::NotComparable(why.into()),
                )
            })
            .collect();
        ReportSection {
            rows,
            verdict: Verdict::NotComparable(why.into()),
            notes: format!(
                "Error of an input: sqrt(mean over outputs of E[Δ²]) by Monte Carlo; the bounds' \
                 value is the same functional of their E Δ and std Δ. The worst input of each \
                 generation is measured again with {} independent runs of {} draws (± one \
                 standard error). Search: keep {}, {} Gaussian children (σ = {}) per kept input, \
                 inputs clipped to [{}, {}]. The MNIST network trains with Adadelta (lr 1.0) as \
                 SPEC §15 gives for dropout-comparison, without crash-dropout.",
                stored.params.confirm_runs,
                stored.params.repetitions,
                stored.params.search.keep,
                stored.params.search.children,
                stored.params.search.sigma,
                stored.params.search.lo,
                stored.params.search.hi
            ),
        }
    }
}

/// The conclusion, generated from the numbers.
fn conclusion(r: &Results) -> String {
    let parts: Vec<String> = r
        .nets
        .iter()
        .filter_map(|n| {
            let (first, last) = (n.generations.first()?, n.generations.last()?);
            let gap = |pct: f64, se: f64| {
                if (pct - 100.0).abs() <= 3.0 * se {
                    "within 3 standard errors of the bound"
                } else if pct > 100.0 {
                    "above the bound"
                } else {
                    "below the bound"
                }
            };
            let se3 = last.pct_b3() * last.error_se / last.error;
            let se4 = last.pct_b4() * last.error_se / last.error;
            Some(format!(
                "{} net{}: in {} generations the worst RMS crash error went from {:.3e} to \
                 {:.3e} ({:.2}×; {}); at the last worst input the Monte Carlo error is \
                 {:.1} ± {:.1} % of b3 ({}) and {:.1} ± {:.1} % of b4 ({}).",
                n.net,
                n.test_accuracy
                    .map_or(String::new(), |a| format!(" (test accuracy {a:.4})")),
                last.generation,
                first.error,
                last.error,
                last.error / first.error,
                if last.error - first.error > 3.0 * last.error_se.hypot(first.error_se) {
                    "the search found worse inputs"
                } else {
                    "no worse input than the initial pool's, within 3 standard errors"
                },
                last.pct_b3(),
                se3,
                gap(last.pct_b3(), se3),
                last.pct_b4(),
                se4,
                gap(last.pct_b4(), se4),
            ))
        })
        .collect();
    parts.join(" ")
}
