//! Conclusion, figures and REPORT section of `adversarial-dropout`, from the stored results
//! alone. The rule that calls a relation present (|slope| > 2 standard errors) is
//! [`super::LineFit::relation_present`]; the paper gives no number, so every row is *not
//! comparable*.

use super::{LineFit, MeanSe, Params, Results};
use ftnn_lab::rule::fmt_num;
use ftnn_lab::{PaperRow, ReportSection, Stored, Verdict};
use ftnn_plot::{self as plot, Axes, Band, Series};
use std::path::{Path, PathBuf};

/// Why no verdict can be reached.
const WHY: &str = "the paper reports no number";
/// The rule, as printed.
const RULE: &str =
    "relation present ⇔ |least-squares slope| > 2 standard errors (fixed before the run)";

/// `slope ± se (r = …): present/absent`.
fn describe(f: &LineFit, what: &str) -> String {
    let sign = if f.slope > 0.0 {
        "increases"
    } else {
        "decreases"
    };
    if f.relation_present() {
        format!(
            "{what} {sign} (slope {} ± {}, r = {:.2}, n = {})",
            fmt_num(f.slope),
            fmt_num(f.slope_se),
            f.r,
            f.n
        )
    } else {
        format!(
            "{what} shows no relation at 2 standard errors (slope {} ± {}, r = {:.2}, n = {})",
            fmt_num(f.slope),
            fmt_num(f.slope_se),
            f.r,
            f.n
        )
    }
}

fn ms(m: &MeanSe) -> String {
    format!("{:.4} ± {:.4}", m.mean, m.se)
}

/// The conclusion, generated from the numbers.
pub fn conclusion(r: &Results, params: &Params) -> String {
    let per_p: Vec<String> = r
        .summary
        .iter()
        .map(|s| {
            format!(
                "p = {}: clean {}, FGSM {}, one-pixel drop {}, b3 var {:.3e}",
                s.p,
                ms(&s.clean),
                ms(&s.fgsm),
                ms(&s.de_drop),
                s.b3_variance.mean
            )
        })
        .collect();
    let f = &r.fits;
    let tolerance = if f.b3_vs_p.relation_present() && f.b3_vs_p.slope < 0.0 {
        "training with input crashes made the networks more crash tolerant (b3 variance falls with p)"
    } else if f.b3_vs_p.relation_present() {
        "training with input crashes made the networks less crash tolerant (b3 variance rises with p)"
    } else {
        "the b3 variance does not change with p at 2 standard errors"
    };
    let robust = match (f.fgsm_vs_b3.relation_present(), f.de_vs_b3.relation_present()) {
        (false, false) => "neither attack's outcome is related to crash tolerance at 2 standard errors: on these numbers crash tolerance does not buy adversarial robustness".to_string(),
        _ => {
            let fg = if f.fgsm_vs_b3.relation_present() {
                if f.fgsm_vs_b3.slope < 0.0 { "more crash-tolerant networks (smaller b3 variance) have higher FGSM accuracy" } else { "more crash-tolerant networks have lower FGSM accuracy" }
            } else { "FGSM accuracy is unrelated to the b3 variance" };
            let de = if f.de_vs_b3.relation_present() {
                if f.de_vs_b3.slope > 0.0 { "more crash-tolerant networks lose less confidence to the one-pixel attack" } else { "more crash-tolerant networks lose more confidence to the one-pixel attack" }
            } else { "the one-pixel drop is unrelated to the b3 variance" };
            format!("{fg}; {de}")
        }
    };
    format!(
        "{} networks ({} per p, {} filters, {} epochs; FGSM ε = {} on {} test images; one-pixel \
         attack on {} images, population {}, ≤ {} generations; b3 at p_inf = {}). {}. Against p: \
         {}; {}; {}. Against the b3 variance: {}; {}. So {}; {}. Rule: {RULE}.",
        r.nets.len(),
        params.nets_per_p,
        params.filters,
        params.epochs,
        params.eps,
        params
            .data
            .test_examples
            .map_or("all".to_string(), |n| n.to_string()),
        r.de_indices.len(),
        params.de.population,
        params.de.max_iter,
        params.p_inf,
        per_p.join("; "),
        describe(&f.fgsm_vs_p, "FGSM accuracy"),
        describe(&f.de_vs_p, "the one-pixel confidence drop"),
        describe(&f.b3_vs_p, "the b3 variance"),
        describe(&f.fgsm_vs_b3, "FGSM accuracy"),
        describe(&f.de_vs_b3, "the one-pixel confidence drop"),
        tolerance,
        robust
    )
}

/// Mean ± 1 standard error as a filled band around its centre line.
fn se_band(label: &str, xs: &[f64], m: &[MeanSe]) -> Band {
    Band {
        label: format!("{label} (mean ± 1 se over nets)"),
        xs: xs.to_vec(),
        mid: m.iter().map(|v| v.mean).collect(),
        lo: m.iter().map(|v| v.mean - v.se).collect(),
        hi: m.iter().map(|v| v.mean + v.se).collect(),
        dashed: false,
        color: None,
    }
}

/// The three figures: FGSM accuracy vs p, one-pixel drop vs p, crash tolerance vs adversarial
/// accuracy.
pub fn figures(stored: &Stored<Params, Results>, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let r = &stored.results;
    let ps: Vec<f64> = r.summary.iter().map(|s| s.p).collect();
    let pick = |f: fn(&super::PSummary) -> MeanSe| r.summary.iter().map(f).collect::<Vec<_>>();
    let a = plot::band_plot(
        dir,
        "fgsm_vs_p",
        &Axes::new(
            format!(
                "FGSM (ε = {}) and clean test accuracy vs training input crash p",
                stored.params.eps
            ),
            "training input crash-dropout p",
            "accuracy",
        ),
        &[
            se_band("FGSM accuracy", &ps, &pick(|s| s.fgsm)),
            se_band("clean accuracy", &ps, &pick(|s| s.clean)),
        ],
    )?;
    let b = plot::twin_band_plot(
        dir,
        "onepixel_vs_p",
        &Axes::new(
            "One-pixel DE attack vs training input crash p",
            "training input crash-dropout p",
            "confidence drop P(true) before − after",
        ),
        "attack success rate",
        plot::Scale::Linear,
        &[se_band("confidence drop", &ps, &pick(|s| s.de_drop))],
        &[se_band("success rate", &ps, &pick(|s| s.de_success)).color(1)],
    )?;
    let scatter = |metric: fn(&super::NetRecord) -> f64, label: &str| -> Vec<Series> {
        ps.iter()
            .map(|&p| {
                let g: Vec<&super::NetRecord> = r.nets.iter().filter(|n| n.p == p).collect();
                Series::new(
                    format!("p = {p}: {label}"),
                    g.iter().map(|n| n.b3_variance).collect(),
                    g.iter().map(|n| metric(n)).collect(),
                )
            })
            .collect()
    };
    let mut pts = scatter(|n| n.fgsm_accuracy, "FGSM accuracy");
    pts.extend(scatter(|n| n.de_drop, "one-pixel drop"));
    let c = plot::scatter(
        dir,
        "tolerance_vs_robustness",
        &Axes::new(
            format!(
                "Crash tolerance (b3 variance at p_inf = {}) vs adversarial outcome, per net",
                stored.params.p_inf
            ),
            "b3 variance of the outputs (input crashes)",
            "FGSM accuracy / one-pixel confidence drop",
        )
        .log_x(),
        &pts,
        false,
    )?;
    Ok(vec![a, b, c])
}

/// The REPORT section.
pub fn section(stored: &Stored<Params, Results>) -> ReportSection {
    let r = &stored.results;
    if r.nets.is_empty() || r.summary.is_empty() {
        return ReportSection::unreadable("no networks in the results");
    }
    let f = &r.fits;
    let row = |what: &str, fit: &LineFit| {
        PaperRow::new(
            what,
            "not given (\"relation between crash tolerance and adversarial robustness\")",
            format!(
                "slope {} ± {}, r = {:.2} → {}",
                fmt_num(fit.slope),
                fmt_num(fit.slope_se),
                fit.r,
                if fit.relation_present() {
                    "present"
                } else {
                    "absent"
                }
            ),
            Verdict::NotComparable(WHY.into()),
        )
        .with_rule(RULE, None)
    };
    let mut rows = vec![
        row("FGSM accuracy vs training p", &f.fgsm_vs_p),
        row("one-pixel confidence drop vs training p", &f.de_vs_p),
        row("b3 variance (crash tolerance) vs training p", &f.b3_vs_p),
        row("FGSM accuracy vs b3 variance", &f.fgsm_vs_b3),
        row("one-pixel confidence drop vs b3 variance", &f.de_vs_b3),
    ];
    for s in &r.summary {
        rows.push(PaperRow::new(
            format!(
                "p = {}: clean / FGSM accuracy / one-pixel drop (mean ± se, {} nets)",
                s.p, s.nets
            ),
            "not given",
            format!("{} / {} / {}", ms(&s.clean), ms(&s.fgsm), ms(&s.de_drop)),
            Verdict::NotComparable(WHY.into()),
        ));
    }
    ReportSection {
        rows,
        verdict: Verdict::NotComparable(WHY.into()),
        notes: format!(
            "The FGSM notebook's CNN with {} filters, input crash-dropout p in training (survivors \
             not rescaled), Adam 1e-3, batch {}, {} epochs, label smoothing {}. FGSM at ε = {} \
             (the notebook's value; the issue text said 0.3) with the network's own predictions \
             as labels (cleverhans' default). One-pixel attack: differential evolution best/1/bin, \
             population {}, ≤ {} generations, stopping at misclassification, on {} seeded test \
             images (the same for every network). p = 1 is excluded: it crashes every training \
             input and the network can only learn the class prior. Crash tolerance = b3 variance \
             of the softmax outputs for input crashes at p_inf = {}, averaged over {} test images.",
            stored.params.filters,
            stored.params.batch_size,
            stored.params.epochs,
            stored.params.label_smoothing,
            stored.params.eps,
            stored.params.de.population,
            stored.params.de.max_iter,
            r.de_indices.len(),
            stored.params.p_inf,
            stored.params.data.bound_inputs
        ),
    }
}
