//! Every plot helper writes a non-empty PNG and an SVG that carries the title; bars keep each
//! label with its own value when sorted. Set `FTNN_KEEP_FIGURES=DIR` to keep the figures.

use ftnn_plot::{self as plot, Axes, BarOrder, FitLine, Group, LogLogSeries, Scale, Series};
use std::path::{Path, PathBuf};

fn out_dir() -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var_os("FTNN_KEEP_FIGURES") {
        Some(d) => (None, PathBuf::from(d)),
        None => {
            let t = tempfile::tempdir().unwrap();
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    }
}

fn check(png: &Path, title: &str) {
    let bytes = std::fs::read(png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", png.display());
    assert!(
        bytes.len() > 10_000,
        "{} is suspiciously small",
        png.display()
    );
    let svg = std::fs::read_to_string(png.with_extension("svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{}", png.display());
    assert!(svg.contains(title), "title {title:?} missing from the SVG");
    // No temporary file of this figure is left.
    let stem = png.file_stem().unwrap().to_string_lossy().into_owned();
    for e in std::fs::read_dir(png.parent().unwrap()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with(&format!(".{stem}.")), "{name}");
    }
}

/// A deterministic pseudo-random sample.
fn sample(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            let mut u = 0.0;
            for _ in 0..6 {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                u += (s >> 11) as f64 / (1u64 << 53) as f64;
            }
            u - 3.0
        })
        .collect()
}

/// Least-squares line through (ln n, mean of ln y): slope and intercept.
fn loglog_line(widths: &[f64], values: &[Vec<f64>]) -> (f64, f64) {
    let xs: Vec<f64> = widths.iter().map(|n| n.ln()).collect();
    let ys: Vec<f64> = values
        .iter()
        .map(|v| v.iter().map(|y| y.ln()).sum::<f64>() / v.len() as f64)
        .collect();
    let k = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / k, ys.iter().sum::<f64>() / k);
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    let a = sxy / sxx;
    (a, my - a * mx)
}

#[test]
fn every_helper_writes_png_and_svg() {
    let (_keep, dir) = out_dir();
    let bars: Vec<(String, f64)> = [
        ("b4 var", 0.031),
        ("b3 var", 0.036),
        ("crash MAE", 0.056),
        ("crash acc", 0.177),
        ("correct acc", 0.317),
        ("b1 (uninformative)", 0.5),
    ]
    .iter()
    .map(|&(l, v)| (l.to_string(), v))
    .collect();
    let png = plot::bar_chart(
        &dir,
        "bars",
        "Rank loss per quantity",
        "rank loss",
        &bars,
        BarOrder::Descending,
    )
    .unwrap();
    check(&png, "Rank loss per quantity");
    let groups = vec![
        Group::new("exp − b3", sample(2000, 1)),
        Group::new(
            "exp − b4",
            sample(2000, 2).iter().map(|v| 0.5 * v + 0.8).collect(),
        ),
    ];
    let axes = Axes::new("Error of the bounds", "exp − bound", "count");
    check(
        &plot::histogram(&dir, "hist", &axes, &groups, 40).unwrap(),
        "Error of the bounds",
    );

    let rel: Vec<Group> = (0..4)
        .map(|k| {
            Group::new(
                format!("b{}", k + 1),
                sample(300, k)
                    .iter()
                    .map(|v| (0.3 * v + 0.2 * k as f64).abs())
                    .collect(),
            )
        })
        .collect();
    let axes = Axes::new(
        "Relative error of the bounds",
        "bound",
        "|exp − bound| / |exp|",
    );
    check(
        &plot::box_plots(&dir, "boxes", &axes, &rel).unwrap(),
        "Relative error of the bounds",
    );

    let xs: Vec<f64> = (1..200).map(|i| 1e-4 * 1.04f64.powi(i)).collect();
    let s1 = Series::new(
        "b3",
        xs.clone(),
        xs.iter()
            .enumerate()
            .map(|(i, x)| x * (1.0 + 0.3 * sample(1, i as u64)[0].abs()))
            .collect(),
    );
    let s2 = Series::new(
        "b4",
        xs.clone(),
        xs.iter()
            .enumerate()
            .map(|(i, x)| x * (1.0 + 0.05 * sample(1, 1000 + i as u64)[0]))
            .collect(),
    );
    let axes = Axes::new("Bound vs experiment", "experiment std Δ", "bound std Δ")
        .log_x()
        .log_y();
    check(
        &plot::scatter(&dir, "scatter", &axes, &[s1, s2], true).unwrap(),
        "Bound vs experiment",
    );

    let epochs: Vec<f64> = (0..300).map(f64::from).collect();
    let loss = Series::new(
        "train loss",
        epochs.clone(),
        epochs
            .iter()
            .map(|e| 2.0 * (-e / 60.0).exp() + 0.1)
            .collect(),
    );
    let val = Series::new(
        "val loss",
        epochs.clone(),
        epochs
            .iter()
            .map(|e| 2.1 * (-e / 60.0).exp() + 0.15)
            .collect(),
    );
    let axes = Axes::new("Training", "epoch", "MAE").log_y();
    check(
        &plot::line_plot(&dir, "lines", &axes, &[loss.clone(), val]).unwrap(),
        "Training",
    );

    let widths = vec![
        50.0, 200.0, 350.0, 500.0, 650.0, 800.0, 950.0, 1100.0, 1250.0, 1500.0,
    ];
    let d: Vec<Vec<f64>> = widths
        .iter()
        .enumerate()
        .map(|(i, n): (usize, &f64)| {
            sample(10, i as u64)
                .iter()
                .map(|e| 3.0 / n * (0.15 * e).exp())
                .collect()
        })
        .collect();
    let h: Vec<Vec<f64>> = widths
        .iter()
        .enumerate()
        .map(|(i, n): (usize, &f64)| {
            sample(10, 50 + i as u64)
                .iter()
                .map(|e| 40.0 / (n * n) * (0.2 * e).exp())
                .collect()
        })
        .collect();
    let with_fit = |label: &str, values: Vec<Vec<f64>>| {
        let (a, c) = loglog_line(&widths, &values);
        LogLogSeries::with_line(label, widths.clone(), values, a, c, f64::NAN)
    };
    let dl = with_fit("D", d);
    let mut hl = with_fit("H_diag", h.clone());
    let (a, c) = loglog_line(&widths[4..], &h[4..]);
    hl.fits.push(FitLine::new(
        "H_diag fit, n ≥ 650",
        a,
        c,
        0.01,
        650.0,
        1500.0,
    ));
    let axes = Axes::new("Continuity metrics vs width", "width n", "metric");
    check(
        &plot::loglog_fit(&dir, "loglog", &axes, &[dl, hl]).unwrap(),
        "Continuity metrics vs width",
    );

    let acc = Series::new(
        "accuracy",
        epochs.clone(),
        epochs
            .iter()
            .map(|e| 0.97 - 0.5 * (-e / 40.0).exp())
            .collect(),
    );
    let axes = Axes::new("Accuracy and loss", "epoch", "accuracy");
    check(
        &plot::twin_axis(&dir, "twin", &axes, "loss", Scale::Log, &[acc], &[loss]).unwrap(),
        "Accuracy and loss",
    );
}

#[test]
fn bars_keep_labels_with_values() {
    let (_keep, dir) = out_dir();
    let bars = vec![
        ("small".to_string(), 1.0),
        ("large".to_string(), 3.0),
        ("middle".to_string(), 2.0),
    ];
    let png = plot::bar_chart(&dir, "pairs", "Pairs", "value", &bars, BarOrder::Ascending).unwrap();
    let svg = std::fs::read_to_string(png.with_extension("svg")).unwrap();
    // Each value is printed next to its own label: in the SVG, the labels appear in the same
    // vertical order as the values.
    let y_of = |text: &str| -> f64 {
        let i = svg
            .find(&format!(">\n{text}\n</text>"))
            .unwrap_or_else(|| panic!("{text} missing"));
        let tag = &svg[svg[..i].rfind("<text").unwrap()..i];
        let y = tag.split("y=\"").nth(1).unwrap();
        y[..y.find('"').unwrap()].parse().unwrap()
    };
    for (label, value) in [("small", "1.000"), ("middle", "2.000"), ("large", "3.000")] {
        assert!(
            (y_of(label) - y_of(value)).abs() < 12.0,
            "{label} not beside {value}"
        );
    }
    assert!(y_of("small") < y_of("middle") && y_of("middle") < y_of("large"));
}
