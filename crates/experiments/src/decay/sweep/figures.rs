//! The figures of a sweep experiment, drawn from its stored results.

use super::results::{geo_mean, Metric, Results};
use super::run::upper_from;
use crate::common::fit::FitText;
use ftnn_plot::{self as plot, signed, Axes, FitLine, LogLogSeries, Series};
use std::path::{Path, PathBuf};

/// Reads the stored results.
pub(crate) fn stored(r: &Results) -> anyhow::Result<&Results> {
    anyhow::ensure!(
        r.sweeps.iter().all(|s| s.spec.widths.len() >= 2),
        "a stored sweep has fewer than two widths"
    );
    Ok(r)
}

/// The figures of an experiment from its stored results: per sweep the derivatives (D, H) with
/// their fits and the continuous-limit slopes, Var Δ when measured, the per-layer weight norms
/// and (separately) their product; then the training seconds per step against n.
pub fn figures(file: &Results, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let r = stored(file)?;
    let mut out = Vec::new();
    for s in &r.sweeps {
        let widths: Vec<f64> = s.spec.widths.iter().map(|&n| n as f64).collect();
        let (lo, hi) = (widths[0], widths[widths.len() - 1]);
        let series = |metrics: &[Metric], reference: bool| -> Vec<LogLogSeries> {
            metrics
                .iter()
                .filter_map(|&m| {
                    let f = s.fit(m)?;
                    let values = s.values(m);
                    let mut fits = vec![f.fit.line(&format!("{} fit", m.key()), lo, hi)];
                    if reference {
                        if let Some(e) = m.limit_slope() {
                            fits.push(reference_line(e, widths[0], &values[0], hi));
                        }
                    }
                    // With three widths or fewer the upper widths are all of them: no second line.
                    let upper = f.upper.as_ref().filter(|_| upper_from(widths.len()) > 0);
                    if let Some(u) = upper {
                        let from = widths[upper_from(widths.len())];
                        fits.push(u.line(&format!("{} fit, n ≥ {from}", m.key()), from, hi));
                    }
                    Some(LogLogSeries {
                        label: m.label(),
                        widths: widths.clone(),
                        values,
                        fits,
                    })
                })
                .collect()
        };
        let title = s.spec.short_label();
        let derivs = series(&[Metric::D, Metric::HDiag, Metric::HAll], true);
        if !derivs.is_empty() {
            out.push(plot::loglog_fit(
                dir,
                &format!("{}_derivatives", s.spec.name),
                &Axes::new(
                    format!("D and H vs width — {title}"),
                    "first hidden width n",
                    "D, H_diag, H_all (dashed: continuous-limit slope)",
                ),
                &derivs,
            )?);
        }
        let var = series(&[Metric::VarDelta], true);
        if !var.is_empty() {
            let p = s.spec.var_delta.map_or(0.0, |v| v.p);
            out.push(plot::loglog_fit(
                dir,
                &format!("{}_var_delta", s.spec.name),
                &Axes::new(
                    format!("Crash variance vs width — {title}"),
                    "first hidden width n",
                    format!("Var Δ, p = {p} at hidden layer 1 (dashed: slope −1)"),
                ),
                &var,
            )?);
        }
        // The per-layer norms and their product in two figures: with all four on one pair
        // of axes the legend covered the W_prod points at the smallest widths (the four
        // series fill every corner); alone, W_prod leaves two corners free.
        let mut norms = series(&[Metric::W(1), Metric::W(2), Metric::W(3)], false);
        for s in norms.iter_mut() {
            s.fits.truncate(1);
        }
        out.push(plot::loglog_fit(
            dir,
            &format!("{}_weights", s.spec.name),
            &Axes::new(
                format!("Weight norms vs width — {title}"),
                "first hidden width n",
                "‖W_l‖_∞ (max row sum of |W_l|)",
            ),
            &norms,
        )?);
        // W_prod with its fit over the upper widths (which decides "levels off").
        let prod = series(&[Metric::WProd], false);
        out.push(plot::loglog_fit(
            dir,
            &format!("{}_w_prod", s.spec.name),
            &Axes::new(
                format!("Product of the weight norms vs width — {title}"),
                "first hidden width n",
                "W_prod = Π_l ‖W_l‖_∞",
            ),
            &prod,
        )?);
    }
    let mut timing = Vec::new();
    for s in &r.sweeps {
        let steps = (s.spec.epochs * s.spec.steps_per_epoch()).max(1) as f64;
        let ys: Vec<f64> = s
            .spec
            .widths
            .iter()
            .map(|&n| {
                let t: Vec<f64> = s
                    .nets
                    .iter()
                    .filter(|r| r.width == n)
                    .map(|r| r.train_seconds / steps)
                    .collect();
                t.iter().sum::<f64>() / t.len().max(1) as f64
            })
            .collect();
        let xs = s.spec.widths.iter().map(|&n| n as f64).collect();
        timing.push(Series::new(
            format!(
                "{}: this run's training (batch {})",
                s.spec.name, s.spec.batch_size
            ),
            xs,
            ys,
        ));
    }
    if let Some(e) = &r.estimate {
        for t in &e.sweeps {
            let (xs, ys) = t
                .step_times
                .iter()
                .map(|s| (s.width as f64, s.seconds))
                .unzip();
            timing.push(Series::new(
                format!(
                    "{}: timed steps of the {} profile (batch {})",
                    t.name, e.profile, t.batch_size
                ),
                xs,
                ys,
            ));
        }
    }
    out.push(plot::line_plot(
        dir,
        "timing",
        &Axes::new(
            "Seconds per training step vs width (this machine)",
            "first hidden width n",
            "seconds per step (mean over networks)",
        ),
        &timing,
    )?);
    Ok(out)
}

/// A dashed line of slope `slope` through the geometric mean of `first` at width `n0`, drawn
/// to `to`: the continuous limit's prediction from the smallest width on.
pub(crate) fn reference_line(slope: f64, n0: f64, first: &[f64], to: f64) -> FitLine {
    let m = geo_mean(first).ln();
    FitLine {
        label: format!("continuous limit: slope {}", signed(slope, 0)),
        slope,
        intercept: m - slope * n0.ln(),
        from: n0,
        to,
    }
}
