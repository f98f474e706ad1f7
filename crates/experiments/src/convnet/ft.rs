//! `convnet-ft` — crash error of CNNs of several widths and of pretrained CNNs (SPEC §9
//! "Pretrained-model comparison", §10 row convnet-ft; original notebook `ConvNetTest-ft.ipynb`).
//!
//! **Quantities.** Crashes with p = 0.01 at the network input, and separately at every crash
//! site (SPEC §11: every activation's output and the output). For one input x and one run of
//! R draws: `E = ‖mean_r Δ‖² = Σ_k (mean Δ_k)²` and `V = Σ_k (var Δ_k)²`, averaged over the
//! inputs. Each is reported as mean ± standard error over 5 independent runs of 500 draws.
//!
//! **Models.** SPEC §9's MNIST CNN (softplus) with every width × m, m ∈ {0.5, 1, 2, 4},
//! trained alike (Adadelta lr 1.0, batch 128, seeded; input /255 repeated to 3 channels; x =
//! the first test image); the shipped `mnist-cnn.pth` (ReLU; MNIST normalisation; same
//! image); EfficientNet-Lite0 on `data/images/*.png` (its own preprocessing,
//! [`ftnn_data::images::Preprocess::Efficientnet`]); VGG16 (ImageNet preprocessing) only when
//! `data/models/vgg16.safetensors` has been imported — otherwise skipped with a note.
//!
//! **Rule (SPEC §16, fixed before the run).** The paper's claim "wider → smaller error" is
//! tested on the width family: least squares of ln E (and ln V) at the input site on ln m,
//! slope b with its standard error; *reproduced* when `b + z·se(b) < 0` (z = 2), *differs*
//! otherwise. The paper gives no number, only the direction. The claim is about trained
//! networks: when a width's CNN is below [`crate::common::cnn::TRAINED_ACCURACY`] test
//! accuracy the headline is *not comparable*.
//!
//! **Profiles.** `paper`: the original's 5 runs × 500 draws, every site of every model, the
//! width family trained 10 epochs on 60 000. `quick` (sizes only): 2 epochs on the first
//! 38 400 training images (600 Adadelta steps, past the softplus CNN's initial plateau), 5 runs × 100 draws, every site of the MNIST-sized models,
//! EfficientNet at the input only, one image. `smoke`: widths 0.25 and 0.5 trained 1 epoch on
//! 300 images, 3 runs × 20 draws, no ImageNet model.

use crate::common::cnn::{
    batch, load_images, mnist_normalise, ols, train_mnist_cnn, untrained, CnnTraining, TrainedInfo,
};
use candle_core::Tensor;
use ftnn_data::images::{load_image, Preprocess};
use ftnn_data::{DataDir, VGG16_SAFETENSORS};
use ftnn_lab::rule::fmt_num;
use ftnn_lab::{Context, Csv, Experiment, Outcome, PaperRow, Profile, ReportSection, Verdict};
use ftnn_model::seq::{ActKind, SeqMonteCarlo, Sequential, VggTransforms};
use ftnn_model::FailureVector;
use ftnn_plot::{self as plot, Axes, Band};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `convnet-ft` experiment.
pub struct ConvnetFt;

/// Parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Crash probability at the crashed site.
    pub p: f64,
    /// Independent runs per (model, site).
    pub runs: usize,
    /// Draws per run.
    pub repetitions: usize,
    /// Width multipliers of the trained family.
    pub widths: Vec<f64>,
    /// Their training.
    pub training: CnnTraining,
    /// Include the shipped MNIST CNN.
    pub shipped_mnist: bool,
    /// Include EfficientNet-Lite0 (and VGG16 when present).
    pub imagenet: bool,
    /// Crash every site of the ImageNet models too (else the input only).
    pub imagenet_all_sites: bool,
    /// Images (file names under data/images) for the ImageNet models.
    pub images: Vec<String>,
    /// z of the rule.
    pub z: f64,
    /// Seed.
    pub seed: u64,
}

/// The two error measures at one site, mean and se over the runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteError {
    /// Site index (0 = input).
    pub site: usize,
    /// Site label.
    pub label: String,
    /// Elements of the site.
    pub size: usize,
    /// Per run: ‖E Δ‖² averaged over inputs.
    pub mean_sq: Vec<f64>,
    /// Per run: Σ_k (Var Δ_k)² averaged over inputs.
    pub var_sq: Vec<f64>,
}

impl SiteError {
    /// Mean and standard error over runs of ‖E Δ‖².
    pub fn mean_sq_stat(&self) -> (f64, f64) {
        mean_se(&self.mean_sq)
    }
    /// Mean and standard error over runs of Σ_k (Var Δ_k)².
    pub fn var_sq_stat(&self) -> (f64, f64) {
        mean_se(&self.var_sq)
    }
}

/// Mean and standard error of the mean.
pub fn mean_se(v: &[f64]) -> (f64, f64) {
    use crate::common::mnist::{mean, sd};
    (mean(v), sd(v) / (v.len() as f64).sqrt())
}

/// One model's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelErrors {
    /// Key (`width-1`, `shipped-mnist`, `efficientnet-lite0`, `vgg16`).
    pub model: String,
    /// Width multiplier (the trained family only).
    pub width: Option<f64>,
    /// Training record (the trained family only).
    pub trained: Option<TrainedInfo>,
    /// Parameters (number of scalars).
    pub parameters: usize,
    /// Per site, the site 0 (input) first.
    pub sites: Vec<SiteError>,
}

/// Stored results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Every model.
    pub models: Vec<ModelErrors>,
    /// Why models were skipped.
    pub skipped: Vec<String>,
}

/// The width fit of one quantity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WidthFit {
    /// Slope of ln error on ln m.
    pub slope: f64,
    /// Its standard error.
    pub se: f64,
}

/// The rule of the module docs: reproduced ⇔ slope + z·se < 0.
pub fn width_verdict(fit: WidthFit, z: f64) -> Verdict {
    let upper = fit.slope + z * fit.se;
    if upper < 0.0 {
        Verdict::Reproduced
    } else {
        Verdict::Differs(format!(
            "slope {} + {}·{} = {} is not below 0",
            fmt_num(fit.slope),
            fmt_num(z),
            fmt_num(fit.se),
            fmt_num(upper)
        ))
    }
}

/// Fit of ln(quantity at the input site) on ln width over the width family; `None` with
/// fewer than 3 widths or a non-positive value.
pub fn width_fit(models: &[ModelErrors], var: bool) -> Option<WidthFit> {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for m in models {
        let (Some(w), Some(s)) = (m.width, m.sites.first()) else {
            continue;
        };
        let v = if var {
            s.var_sq_stat().0
        } else {
            s.mean_sq_stat().0
        };
        if !(v > 0.0 && v.is_finite()) {
            return None;
        }
        x.push(w.ln());
        y.push(v.ln());
    }
    if x.len() < 3 {
        return None;
    }
    let (_, slope, se) = ols(&x, &y);
    Some(WidthFit { slope, se })
}

/// Runs `runs` × `repetitions` draws with p at `site` only, for the inputs `x`.
fn site_error(
    net: &Sequential,
    site: usize,
    x: &Tensor,
    params: &Params,
    seed: u64,
) -> anyhow::Result<SiteError> {
    let mut pv = vec![0.0; net.n_sites()];
    pv[site] = params.p;
    let p = FailureVector::new(pv)?;
    let mut mean_sq = Vec::new();
    let mut var_sq = Vec::new();
    for r in 0..params.runs {
        let st = SeqMonteCarlo::new(net, p.clone())?
            .repetitions(params.repetitions)
            .seed(seed.wrapping_add(r as u64))
            .run(x)?;
        let n = st.n_outputs;
        let (mut a, mut b) = (0.0, 0.0);
        for i in 0..st.n_inputs {
            a += st.mean[i * n..(i + 1) * n]
                .iter()
                .map(|m| m * m)
                .sum::<f64>();
            b += st.std[i * n..(i + 1) * n]
                .iter()
                .map(|s| s.powi(4))
                .sum::<f64>();
        }
        mean_sq.push(a / st.n_inputs as f64);
        var_sq.push(b / st.n_inputs as f64);
    }
    let s = &net.sites()[site];
    Ok(SiteError {
        site,
        label: s.label.clone(),
        size: s.size,
        mean_sq,
        var_sq,
    })
}

/// Every site (or the input only) of `net`.
fn all_sites(
    net: &Sequential,
    x: &Tensor,
    params: &Params,
    every: bool,
    seed: u64,
) -> anyhow::Result<Vec<SiteError>> {
    let n = if every { net.n_sites() } else { 1 };
    (0..n)
        .map(|s| site_error(net, s, x, params, seed + 100 * s as u64))
        .collect()
}

fn n_parameters(net: &Sequential) -> usize {
    net.parameters().values().map(|t| t.elem_count()).sum()
}

/// The ImageNet images as a batch for `net` (input `[3, H, W]`).
fn image_batch(net: &Sequential, params: &Params, pre: Preprocess) -> anyhow::Result<Tensor> {
    let dir = DataDir::locate()?;
    let shape = net.input_shape().to_vec();
    let mut v = Vec::new();
    for name in &params.images {
        v.extend(load_image(
            &dir.file(&format!("images/{name}")),
            pre,
            &shape,
        )?);
    }
    let mut dims = vec![params.images.len()];
    dims.extend(&shape);
    Ok(Tensor::from_vec(v, dims, net.device())?)
}

impl Experiment for ConvnetFt {
    type Params = Params;
    type Results = Results;

    fn id(&self) -> &'static str {
        "convnet-ft"
    }
    fn title(&self) -> &'static str {
        "Crash error (p = 0.01 per site) of CNNs of several widths and of pretrained CNNs"
    }
    fn origin(&self) -> &'static str {
        "ConvNetTest-ft.ipynb"
    }
    fn params(&self, profile: Profile) -> Params {
        let (widths, epochs, train, test, runs, reps, imagenet, all) = match profile {
            Profile::Smoke => (
                vec![0.25, 0.5],
                1,
                Some(300),
                Some(300),
                3,
                20,
                false,
                false,
            ),
            // Widths ×2 and ×4 cost 4× and 16× the FLOPs of ×1 to train: on a 2-core machine
            // the quick profile keeps the three narrowest (enough for the fit) and 600 steps
            // (2 epochs of 38 400), enough to leave the softplus CNN's initial plateau.
            Profile::Quick => (
                vec![0.25, 0.5, 1.0],
                2,
                Some(38_400),
                None,
                5,
                100,
                true,
                false,
            ),
            Profile::Paper => (vec![0.5, 1.0, 2.0, 4.0], 10, None, None, 5, 500, true, true),
        };
        Params {
            p: 0.01,
            runs,
            repetitions: reps,
            widths,
            training: CnnTraining {
                epochs,
                batch_size: 128,
                train_examples: train,
                test_examples: test,
            },
            shipped_mnist: true,
            imagenet,
            imagenet_all_sites: all,
            images: if profile == Profile::Paper {
                vec![
                    "astronaut.png".into(),
                    "chelsea.png".into(),
                    "coffee.png".into(),
                ]
            } else {
                vec!["chelsea.png".into()]
            },
            z: 2.0,
            seed: 0,
        }
    }

    fn run(&self, ctx: &Context, params: &Params) -> anyhow::Result<Outcome<Results>> {
        anyhow::ensure!(
            params.p > 0.0 && params.p <= 1.0,
            "p = {} is not in (0, 1]",
            params.p
        );
        anyhow::ensure!(
            params.runs >= 2,
            "need at least 2 runs for a standard error"
        );
        anyhow::ensure!(
            params.widths.iter().all(|w| w.is_finite() && *w > 0.0),
            "widths must be positive"
        );
        let dir = DataDir::locate()?;
        let mut keys: Vec<String> = params.widths.iter().map(|w| format!("width-{w}")).collect();
        if params.shipped_mnist {
            keys.push("shipped-mnist".into());
        }
        let mut skipped = Vec::new();
        if params.imagenet {
            keys.push("efficientnet-lite0".into());
            if dir.file(VGG16_SAFETENSORS).exists() {
                keys.push("vgg16".into());
            } else {
                skipped.push(format!(
                    "VGG16: {} not found (import it with `cargo xtask data import-vgg16 PATH`)",
                    dir.file(VGG16_SAFETENSORS).display()
                ));
            }
        } else {
            skipped.push("EfficientNet-Lite0 and VGG16: not in this profile".into());
        }
        let nw = params.widths.len();
        let device = ctx.device();
        let models = ctx.jobs("models", &keys, |k, key| {
            let seed = params.seed + 10_000 * k as u64;
            if k < nw {
                let t = &params.training;
                let data = load_images(t.train_examples, t.test_examples)?;
                let w = params.widths[k];
                let (net, info) =
                    train_mnist_cnn(ActKind::Softplus, w, t, &data, params.seed, device)?;
                let x = batch(&data.test, &[0], 3, |v| v, device)?;
                return Ok(ModelErrors {
                    model: key.into(),
                    width: Some(w),
                    trained: Some(info),
                    parameters: n_parameters(&net),
                    sites: all_sites(&net, &x, params, true, seed)?,
                });
            }
            let (net, x, every) = match key {
                "shipped-mnist" => {
                    let data = load_images(Some(1), Some(1))?;
                    let net = Sequential::mnist_cnn(&dir, device)?;
                    let x = batch(&data.test, &[0], 1, mnist_normalise, device)?;
                    (net, x, true)
                }
                "efficientnet-lite0" => {
                    let net = Sequential::efficientnet_lite0(&dir, device)?;
                    let x = image_batch(&net, params, Preprocess::Efficientnet)?;
                    (net, x, params.imagenet_all_sites)
                }
                _ => {
                    let net = Sequential::vgg16(&dir, &VggTransforms::default(), device)?;
                    let x = image_batch(&net, params, Preprocess::Imagenet)?;
                    (net, x, params.imagenet_all_sites)
                }
            };
            Ok(ModelErrors {
                model: key.into(),
                width: None,
                trained: None,
                parameters: n_parameters(&net),
                sites: all_sites(&net, &x, params, every, seed)?,
            })
        })?;
        let results = Results { models, skipped };
        let conclusion = conclusion(&results, params);
        let rows = results
            .models
            .iter()
            .flat_map(|m| {
                m.sites.iter().map(move |s| {
                    let (a, ase) = s.mean_sq_stat();
                    let (b, bse) = s.var_sq_stat();
                    vec![
                        m.model.clone(),
                        m.width.map_or(String::new(), |w| w.to_string()),
                        s.site.to_string(),
                        s.label.clone(),
                        s.size.to_string(),
                        format!("{a:.6e}"),
                        format!("{ase:.3e}"),
                        format!("{b:.6e}"),
                        format!("{bse:.3e}"),
                    ]
                })
            })
            .collect();
        Ok(Outcome {
            results,
            conclusion,
            tables: vec![Csv {
                name: "errors.csv".into(),
                header: vec![
                    "model",
                    "width",
                    "site",
                    "label",
                    "elements",
                    "mean_sq",
                    "mean_sq_se",
                    "var_sq",
                    "var_sq_se",
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
        let fam: Vec<&ModelErrors> = stored
            .results
            .models
            .iter()
            .filter(|m| m.width.is_some() && !m.sites.is_empty())
            .collect();
        let xs: Vec<f64> = fam.iter().filter_map(|m| m.width).collect();
        let band = |label: &str, f: fn(&SiteError) -> (f64, f64), s: usize| {
            let st: Vec<(f64, f64)> = fam
                .iter()
                .map(|m| m.sites.get(s).map_or((f64::NAN, 0.0), f))
                .collect();
            Band {
                label: label.into(),
                xs: xs.clone(),
                mid: st.iter().map(|v| v.0).collect(),
                lo: st.iter().map(|v| (v.0 - v.1).max(v.0 * 1e-3)).collect(),
                hi: st.iter().map(|v| v.0 + v.1).collect(),
                dashed: false,
                color: None,
            }
        };
        let p = stored.params.p;
        let f1 = plot::band_plot(
            dir,
            "width_input",
            &Axes::new(
                format!("Input crashes (p = {p}) against width, mean ± se over runs"),
                "width multiplier",
                "error",
            )
            .log_x()
            .log_y(),
            &[
                band("‖E Δ‖²", SiteError::mean_sq_stat, 0),
                band("Σ_k (Var Δ_k)²", SiteError::var_sq_stat, 0),
            ],
        )?;
        // Per-site panel: Σ_k (Var Δ_k)² against the site index, one line per model.
        let bands: Vec<Band> = stored
            .results
            .models
            .iter()
            .filter(|m| m.sites.len() > 1)
            .map(|m| {
                let st: Vec<(f64, f64)> = m.sites.iter().map(SiteError::var_sq_stat).collect();
                Band {
                    label: m.model.clone(),
                    xs: m.sites.iter().map(|s| s.site as f64).collect(),
                    mid: st.iter().map(|v| v.0).collect(),
                    lo: st.iter().map(|v| (v.0 - v.1).max(v.0 * 1e-3)).collect(),
                    hi: st.iter().map(|v| v.0 + v.1).collect(),
                    dashed: false,
                    color: None,
                }
            })
            .collect();
        let mut out = vec![f1];
        if !bands.is_empty() {
            out.push(plot::band_plot(
                dir,
                "per_site",
                &Axes::new(
                    format!("Σ_k (Var Δ_k)² with p = {p} at one site (0 = input)"),
                    "crash site",
                    "Σ_k (Var Δ_k)²",
                )
                .log_y(),
                &bands,
            )?);
        }
        Ok(out)
    }

    fn report(&self, stored: &ftnn_lab::Stored<Params, Results>) -> ReportSection {
        let r = &stored.results;
        let z = stored.params.z;
        let mut rows = Vec::new();
        let mut verdicts = Vec::new();
        for (var, name) in [(false, "‖E Δ‖²"), (true, "Σ_k (Var Δ_k)²")] {
            let quantity = format!("slope of ln {name} (input crashes) on ln width");
            let rule = format!(
                "reproduced ⇔ slope + {}·se < 0 (fixed before the run)",
                fmt_num(z)
            );
            match width_fit(&r.models, var) {
                Some(fit) => {
                    let v = width_verdict(fit, z);
                    verdicts.push(v.clone());
                    rows.push(
                        PaperRow::new(
                            quantity,
                            "< 0 (\"wider → smaller error\")",
                            format!("{} ± {}", fmt_num(fit.slope), fmt_num(fit.se)),
                            v,
                        )
                        .with_rule(
                            rule,
                            Some(if fit.se > 0.0 {
                                format!("{:.1}σ", fit.slope / fit.se)
                            } else {
                                "σ = 0".into()
                            }),
                        ),
                    );
                }
                None => {
                    let v = Verdict::NotComparable(
                        "fewer than 3 widths, or a zero error: no fit".into(),
                    );
                    verdicts.push(v.clone());
                    rows.push(PaperRow::new(quantity, "< 0", "no fit", v).with_rule(rule, None));
                }
            }
        }
        for m in &r.models {
            if let Some(s) = m.sites.first() {
                let (a, ase) = s.mean_sq_stat();
                let (b, bse) = s.var_sq_stat();
                rows.push(PaperRow::new(
                    format!("{}: input crashes, ‖E Δ‖² / Σ_k (Var Δ_k)²", m.model),
                    "not given",
                    format!(
                        "{} ± {} / {} ± {}",
                        fmt_num(a),
                        fmt_num(ase),
                        fmt_num(b),
                        fmt_num(bse)
                    ),
                    Verdict::NotComparable("the paper gives no per-model number".into()),
                ));
            }
        }
        let untrained: Vec<String> = r
            .models
            .iter()
            .filter_map(|m| {
                let t = m.trained.as_ref()?;
                untrained(&format!("width ×{}", t.width), t)
            })
            .collect();
        let verdict = if !untrained.is_empty() {
            Verdict::NotComparable(untrained.join("; "))
        } else if verdicts.iter().all(|v| *v == Verdict::Reproduced) {
            Verdict::Reproduced
        } else if let Some(v) = verdicts.iter().find(|v| v.label() == "differs") {
            v.clone()
        } else {
            verdicts
                .first()
                .cloned()
                .unwrap_or(Verdict::NotComparable("no width family".into()))
        };
        let t = &stored.params.training;
        ReportSection {
            rows,
            verdict,
            notes: format!(
                "p = {} at one site at a time; {} runs of {} draws per (model, site); errors \
                 averaged over the inputs (MNIST models: the first test image; ImageNet models: \
                 {}). Width family: SPEC §9 softplus CNN × {:?}, Adadelta, batch {}, {} \
                 epoch(s) on {} training images{}. {}",
                stored.params.p,
                stored.params.runs,
                stored.params.repetitions,
                stored.params.images.join(", "),
                stored.params.widths,
                t.batch_size,
                t.epochs,
                t.train_examples.map_or("60 000".into(), |n| n.to_string()),
                if stored.profile == Profile::Paper {
                    ""
                } else {
                    " (sizes only: fewer epochs, examples and draws than the original)"
                },
                if r.skipped.is_empty() {
                    String::new()
                } else {
                    format!("Skipped: {}.", r.skipped.join("; "))
                }
            ),
        }
    }
}

/// The conclusion, generated from the numbers.
fn conclusion(r: &Results, params: &Params) -> String {
    let mut parts = Vec::new();
    for (var, name) in [(false, "‖E Δ‖²"), (true, "Σ_k (Var Δ_k)²")] {
        match width_fit(&r.models, var) {
            Some(fit) => parts.push(format!(
                "Input crashes, {name} against width: log–log slope {} ± {} ({}).",
                fmt_num(fit.slope),
                fmt_num(fit.se),
                match width_verdict(fit, params.z) {
                    Verdict::Reproduced => "wider networks have a smaller error, as the paper \
                                            claims"
                        .to_string(),
                    _ if fit.slope > params.z * fit.se => {
                        "wider networks have a larger error, against the paper's claim".into()
                    }
                    _ => "no significant trend with width".into(),
                }
            )),
            None => parts.push(format!("{name}: no width fit (fewer than 3 widths).")),
        }
    }
    for m in &r.models {
        if let Some(s) = m.sites.first() {
            let (a, _) = s.mean_sq_stat();
            let (b, _) = s.var_sq_stat();
            let worst = m
                .sites
                .iter()
                .max_by(|x, y| x.var_sq_stat().0.total_cmp(&y.var_sq_stat().0));
            parts.push(format!(
                "{}{}: input ‖E Δ‖² = {}, Σ(Var)² = {}{}.",
                m.model,
                m.trained.as_ref().map_or(String::new(), |t| format!(
                    " (test accuracy {:.4})",
                    t.test_accuracy
                )),
                fmt_num(a),
                fmt_num(b),
                match worst {
                    Some(w) if m.sites.len() > 1 =>
                        format!("; the most sensitive site is {} ({})", w.site, w.label),
                    _ => String::new(),
                }
            ));
        }
    }
    parts.join(" ")
}
