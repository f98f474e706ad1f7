//! Figures and the REPORT section of `convnet-vgg16`, from the stored results only: per model
//! and output kind, exact / Monte Carlo / b3 / b4 std per kept class; the ratios to the exact
//! std with the 2× band; the verdict of the rule fixed in [`super::ratio_rule`].

use super::{fmt, max, min, ratio_rule, OutputKind, Params, Results, Row};
use super::{ORIGINAL_CLASSES, PAPER_B3_STD, PAPER_MC_STD};
use ftnn_lab::{PaperRow, ReportSection, Stored, Verdict};
use ftnn_plot::{self as plot, Axes, Series};
use std::path::{Path, PathBuf};

/// One std figure per row, then the ratio figure.
pub(super) fn figures(
    stored: &Stored<Params, Results>,
    dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for row in &stored.results.rows {
        out.push(plot::line_plot(
            dir,
            &format!("std_{}_{}", row.model, row.output.name()),
            &std_axes(row),
            &std_series(row),
        )?);
    }
    let Some(first) = stored.results.rows.first() else {
        return Ok(out);
    };
    let xs: Vec<f64> = (1..=first.classes.len()).map(|i| i as f64).collect();
    let mut series = Vec::new();
    for row in &stored.results.rows {
        let label = format!("{} ({})", row.model, row.output.name());
        series.push(Series::new(
            format!("{label}: b3 / exact"),
            xs.clone(),
            row.b3_ratio(),
        ));
        series.push(Series::new(
            format!("{label}: b4 / exact"),
            xs.clone(),
            row.b4_ratio(),
        ));
    }
    series.push(Series::new("2× band: 2", xs.clone(), vec![2.0; xs.len()]));
    series.push(Series::new("2× band: 1/2", xs.clone(), vec![0.5; xs.len()]));
    out.push(plot::line_plot(
        dir,
        "ratio_to_exact",
        &Axes::new(
            format!(
                "Bound std / exact std per kept class (p = {}, {} crashable pixels)",
                stored.params.p, stored.params.crashable
            ),
            format!(
                "kept class, in the original's order ({})",
                class_key(&first.classes)
            ),
            "std ratio",
        )
        .log_y(),
        &series,
    )?);
    Ok(out)
}

/// A row summarising the logits (SPEC §9's softmax-removed variant), information only.
fn logits_row(row: &Row) -> PaperRow {
    let b3 = row.b3_ratio();
    let within = count_within(&b3);
    PaperRow::new(
        format!(
            "b3 std / exact std ({}, logits), over the kept classes",
            row.model
        ),
        "not measured (the original measured probabilities)",
        format!(
            "{}–{} ({within} of {} within 2×); b4 / exact {}–{}",
            fmt(min(&b3)),
            fmt(max(&b3)),
            b3.len(),
            fmt(min(&row.b4_ratio())),
            fmt(max(&row.b4_ratio()))
        ),
        Verdict::NotComparable(
            "SPEC §9's softmax-removed variant; the paper's claim is about probabilities".into(),
        ),
    )
}

/// A row on the Monte Carlo engine against the exact enumeration, information only.
fn mc_row(row: &Row) -> PaperRow {
    PaperRow::new(
        format!(
            "Monte Carlo std vs exact ({}, {}), largest |difference| / SE",
            row.model,
            row.output.name()
        ),
        "not given (the original had no exact enumeration)",
        format!("{:.2} ({} draws)", max(&row.mc_z()), row.mc_draws),
        Verdict::NotComparable("a check of our Monte Carlo engine".into()),
    )
}

/// How many ratios the rule of SPEC §16 accepts.
fn count_within(ratios: &[f64]) -> usize {
    ratios
        .iter()
        .filter(|&&v| ratio_rule(0).judge(v, 0.0).verdict == Verdict::Reproduced)
        .count()
}

/// The overall verdict: VGG16's probability rows decide; without them, not comparable.
pub fn overall_verdict(r: &Results) -> Verdict {
    let vgg = r
        .rows
        .iter()
        .find(|row| !row.stand_in && row.output == OutputKind::Probabilities);
    let stand_in = r
        .rows
        .iter()
        .find(|row| row.stand_in && row.output == OutputKind::Probabilities);
    match (vgg, stand_in) {
        (Some(v), _) => {
            let b3 = v.b3_ratio();
            let within = count_within(&b3);
            if within == b3.len() {
                Verdict::Reproduced
            } else {
                Verdict::Differs(format!(
                    "b3 std within 2× of the exact std on {within} of {} classes (ratios {}–{})",
                    b3.len(),
                    fmt(min(&b3)),
                    fmt(max(&b3))
                ))
            }
        }
        (None, s) => {
            let file = r
                .skipped
                .first()
                .map_or("the VGG16 weights".to_string(), |s| s.file.clone());
            let info = s.map_or(String::new(), |s| {
                let b3 = s.b3_ratio();
                format!(
                    "; the EfficientNet-Lite0 stand-in (a different model) has b3 within 2× on \
                     {} of {} classes — information only",
                    count_within(&b3),
                    b3.len()
                )
            });
            Verdict::NotComparable(format!("VGG16 not run ({file} not found){info}"))
        }
    }
}

/// The REPORT section.
pub(super) fn report(stored: &Stored<Params, Results>) -> ReportSection {
    let r = &stored.results;
    if r.rows.is_empty()
        || r.rows.iter().any(|row| {
            let n = row.classes.len();
            n == 0
                || [
                    &row.exact_std,
                    &row.mc_std,
                    &row.b3_std,
                    &row.b4_std,
                    &row.mc_std_se,
                ]
                .iter()
                .any(|v| v.len() != n)
        })
    {
        return ReportSection::unreadable("rows without classes or with mismatched lengths");
    }
    let p = stored.params.p;
    let mut rows = Vec::new();
    for row in r
        .rows
        .iter()
        .filter(|row| row.output == OutputKind::Probabilities)
    {
        rows.extend((0..row.classes.len()).map(|i| class_row(row, i, p)));
    }
    for s in &r.skipped {
        rows.push(PaperRow::new(
            format!("b3 std / exact std ({}, probabilities)", s.model),
            "within ~2×",
            format!("skipped: {} not found", s.file),
            Verdict::NotComparable(s.reason.clone()),
        ));
    }
    for row in r.rows.iter().filter(|row| row.output == OutputKind::Logits) {
        rows.push(logits_row(row));
    }
    rows.extend(r.rows.iter().map(mc_row));
    let models: Vec<String> = r
        .rows
        .iter()
        .map(|row| {
            format!(
                "{} ({}) used {}",
                row.output.name(),
                if row.stand_in {
                    "stand-in"
                } else {
                    "paper's network"
                },
                row.model
            )
        })
        .collect();
    let sp = &stored.params;
    ReportSection {
        rows,
        verdict: overall_verdict(r),
        notes: format!(
            "Models: {}. The EfficientNet-Lite0 rows are a stand-in (shipped, ReLU6 as trained, \
             preprocessing `efficientnet`): a different network from the paper's VGG16, so they \
             inform and do not decide. VGG16 (when `data/models/vgg16.safetensors` is imported) \
             runs with softplus(β·z)/β, β = {} (honoured; the original's scaler was ignored, \
             SPEC §12), {} pooling, input {}×{}, preprocessing `imagenet`. Crashable elements: \
             the red channel of column 0, rows 0–{} (flattened CHW indices {:?}), p = {}; all \
             {} patterns enumerated for the exact std; Monte Carlo {} runs × {} draws, seeds \
             {}…, standard errors from the spread of the runs. b3 uses Var = p(1−p) Σ d² (SPEC \
             §4); the original used p, a std √(1/(1−p)) larger, shown beside ours. The \
             original's b3 / MC ratios (its cells 19–20) are shown as the paper's values.",
            models.join("; "),
            sp.vgg.softplus_scale,
            if sp.vgg.avg_pool { "average" } else { "max" },
            sp.vgg.input_size,
            sp.vgg.input_size,
            sp.crashable.saturating_sub(1),
            r.crash_positions,
            p,
            1usize << sp.crashable.min(30),
            sp.mc_batches,
            sp.mc_per_batch,
            sp.seed,
        ),
    }
}

/// Plot helper: one series per estimate over the class rank.
fn std_series(row: &Row) -> Vec<Series> {
    let xs: Vec<f64> = (1..=row.classes.len()).map(|i| i as f64).collect();
    vec![
        Series::new(
            format!("exact ({} patterns)", row.patterns),
            xs.clone(),
            row.exact_std.clone(),
        ),
        Series::new(
            format!("Monte Carlo ({} draws)", row.mc_draws),
            xs.clone(),
            row.mc_std.clone(),
        ),
        Series::new("b3", xs.clone(), row.b3_std.clone()),
        Series::new("b4", xs, row.b4_std.clone()),
    ]
}

/// Plot helper: the axes of a std figure.
fn std_axes(row: &Row) -> Axes {
    let names: Vec<String> = row.classes.iter().map(usize::to_string).collect();
    Axes::new(
        format!(
            "{}{}: std Δ of the {} (classes {})",
            row.model,
            if row.stand_in { " (stand-in)" } else { "" },
            row.output.name(),
            names.join(", ")
        ),
        format!(
            "kept class, in the original's order ({})",
            class_key(&row.classes)
        ),
        "std Δ",
    )
    .log_y()
}

/// The report rows' helper: a row for one class of one model's probabilities.
fn class_row(row: &Row, i: usize, p: f64) -> PaperRow {
    let class = row.classes[i];
    let rule = ratio_rule(class);
    let ours = row.b3_std[i] / row.exact_std[i];
    let orig = ours / (1.0 - p).sqrt();
    let text = format!(
        "{} (b3 {} / exact {}; with the original's p-variance {})",
        fmt(ours),
        fmt(row.b3_std[i]),
        fmt(row.exact_std[i]),
        fmt(orig)
    );
    let paper_ratio = ORIGINAL_CLASSES
        .iter()
        .position(|&c| c == class)
        .map(|k| PAPER_B3_STD[k] / PAPER_MC_STD[k]);
    let mut out = if row.stand_in {
        let j = rule.judge(ours, 0.0);
        rule.not_comparable_row(
            format!("{}: {text}", row.model),
            format!(
                "EfficientNet-Lite0 stand-in, a different model from the paper's VGG16 (the \
                 rule alone would say: {})",
                j.verdict.label()
            ),
        )
    } else {
        rule.row_with(ours, 0.0, format!("{}: {text}", row.model))
    };
    out.quantity = format!(
        "{} ({}), class {class}",
        out.quantity.split(", class").next().unwrap_or_default(),
        row.output.name()
    );
    out.paper = match paper_ratio {
        Some(v) => format!("within ~2× (the original's b3/MC: {})", fmt(v)),
        None => "within ~2×".into(),
    };
    out
}

/// `1 = 285, 2 = 281, …`: the x positions of the kept classes.
fn class_key(classes: &[usize]) -> String {
    let parts: Vec<String> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} = {c}", i + 1))
        .collect();
    parts.join(", ")
}
