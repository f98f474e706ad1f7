//! `riemann` — the continuity illustration of the paper (SPEC §10 row `riemann`; original
//! notebook `Riemann.ipynb`).
//!
//! The paper's continuous limit replaces a layer of n neurons by a function on [0, 1], the way
//! a Riemann sum approximates an integral. The notebook draws
//! `z(t) = 1 / (1 + (sin 5t − 0.5)²)` with n = 10, 20, 30 bars. We draw it on **t ∈ [0, 1]**
//! (the neuron axis of the continuous limit; not a whole period 2π/5 of z, on which the
//! periodic z would make every Riemann sum converge faster than any power of 1/n and hide
//! the rate) and compute, for n bars of width h = 1/n,
//! * the **left** Riemann sum `L_n = h Σ_{k=0}^{n−1} z(kh)` (the bars of the figure; error
//!   `I − L_n ≈ h (z(0) − z(1)) / 2`, falling like 1/n),
//! * the **midpoint** sum `M_n = h Σ_{k=0}^{n−1} z((k + ½)h)` (error
//!   `≈ h² (z'(1) − z'(0)) / 24`, like 1/n²),
//! * the integral `I` by composite Simpson with N intervals (error `O(N⁻⁴)`, estimated as
//!   `|S_N − S_{N/2}| / 15`),
//!
//! and fit the log–log slopes of |error| against n over a wider set of n (expected −1 and −2).
//! The paper gives only the figure, so the verdict is "not comparable".

use crate::common::fit::fit_loglog;
use crate::common::fit::{FitText, StoredFit};
use ftnn_lab::Profile;
use ftnn_lab::{Context, Csv, Experiment, Outcome};
use ftnn_lab::{PaperRow, ReportSection, Rule, Verdict};
use ftnn_plot::{self as plot, Axes, LogLogSeries, Series};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `riemann` experiment.
pub struct Riemann;

/// Parameters of `riemann`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Params {
    /// Start of the range of t.
    pub a: f64,
    /// End of the range of t.
    pub b: f64,
    /// Numbers of bars drawn (the paper's 10, 20, 30).
    pub bars: Vec<usize>,
    /// Numbers of bars of the error-vs-n fit.
    pub error_ns: Vec<usize>,
    /// Intervals of the composite Simpson rule (even).
    pub simpson_intervals: usize,
}

/// Sums and errors at one n.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SumsAt {
    /// Number of bars n.
    pub n: usize,
    /// Left Riemann sum.
    pub left: f64,
    /// Midpoint sum.
    pub midpoint: f64,
    /// I − left.
    pub left_error: f64,
    /// I − midpoint.
    pub midpoint_error: f64,
}

/// The illustrated function `z(t) = 1 / (1 + (sin 5t − 0.5)²)`.
pub fn z(t: f64) -> f64 {
    let s = (5.0 * t).sin() - 0.5;
    1.0 / (1.0 + s * s)
}

/// Left Riemann sum of `f` on `[a, b]` with n bars.
pub fn left_sum(f: impl Fn(f64) -> f64, a: f64, b: f64, n: usize) -> f64 {
    let h = (b - a) / n as f64;
    h * (0..n).map(|k| f(a + k as f64 * h)).sum::<f64>()
}

/// Midpoint sum of `f` on `[a, b]` with n bars.
pub fn midpoint_sum(f: impl Fn(f64) -> f64, a: f64, b: f64, n: usize) -> f64 {
    let h = (b - a) / n as f64;
    h * (0..n).map(|k| f(a + (k as f64 + 0.5) * h)).sum::<f64>()
}

/// Composite Simpson rule of `f` on `[a, b]` with `n` intervals (rounded up to even).
pub fn simpson(f: impl Fn(f64) -> f64, a: f64, b: f64, n: usize) -> f64 {
    let n = n.max(2).next_multiple_of(2);
    let h = (b - a) / n as f64;
    let inner: f64 = (1..n)
        .map(|k| {
            let w = if k % 2 == 1 { 4.0 } else { 2.0 };
            w * f(a + k as f64 * h)
        })
        .sum();
    h / 3.0 * (f(a) + f(b) + inner)
}

impl Experiment for Riemann {
    type Params = Params;
    type Results = Results;

    fn id(&self) -> &'static str {
        "riemann"
    }
    fn title(&self) -> &'static str {
        "Riemann sums of z(t) = 1/(1 + (sin 5t − 0.5)²) with n = 10, 20, 30 bars"
    }
    fn origin(&self) -> &'static str {
        "Riemann.ipynb"
    }
    fn params(&self, profile: Profile) -> Params {
        let (error_ns, simpson_intervals) = match profile {
            Profile::Smoke => (vec![10, 20, 30, 40, 80, 160], 1 << 12),
            Profile::Quick => (vec![10, 20, 30, 40, 80, 160, 320, 640, 1280], 1 << 16),
            Profile::Paper => (
                vec![10, 20, 30, 40, 80, 160, 320, 640, 1280, 2560, 5120],
                1 << 20,
            ),
        };
        Params {
            a: 0.0,
            b: 1.0,
            bars: vec![10, 20, 30],
            error_ns,
            simpson_intervals,
        }
    }

    fn run(&self, _ctx: &Context, p: &Params) -> anyhow::Result<Outcome<Results>> {
        anyhow::ensure!(p.b > p.a, "empty range [{}, {}]", p.a, p.b);
        let integral = simpson(z, p.a, p.b, p.simpson_intervals);
        let coarse = simpson(z, p.a, p.b, p.simpson_intervals / 2);
        let simpson_error = (integral - coarse).abs() / 15.0;
        let at = |n: usize| {
            let (left, midpoint) = (left_sum(z, p.a, p.b, n), midpoint_sum(z, p.a, p.b, n));
            SumsAt {
                n,
                left,
                midpoint,
                left_error: integral - left,
                midpoint_error: integral - midpoint,
            }
        };
        let bars: Vec<SumsAt> = p.bars.iter().map(|&n| at(n)).collect();
        let errors: Vec<SumsAt> = p.error_ns.iter().map(|&n| at(n)).collect();
        let ns: Vec<f64> = errors.iter().map(|e| e.n as f64).collect();
        let left_fit = fit_loglog(
            &ns,
            &errors
                .iter()
                .map(|e| vec![e.left_error.abs()])
                .collect::<Vec<_>>(),
        );
        let mid_fit = fit_loglog(
            &ns,
            &errors
                .iter()
                .map(|e| vec![e.midpoint_error.abs()])
                .collect::<Vec<_>>(),
        );
        // First-order predictions of the errors (see the module docs).
        let h_coef_left = (z(p.a) - z(p.b)) * (p.b - p.a) / 2.0;
        let rows: Vec<Vec<String>> = bars
            .iter()
            .chain(&errors)
            .map(|s| {
                vec![
                    s.n.to_string(),
                    format!("{:.12}", s.left),
                    format!("{:.12}", s.midpoint),
                    format!("{:.4e}", s.left_error),
                    format!("{:.4e}", s.midpoint_error),
                ]
            })
            .collect();
        let line = |s: &SumsAt| {
            format!(
                "n = {}: left {:.6} (error {:+.2e}), midpoint {:.6} (error {:+.2e})",
                s.n, s.left, s.left_error, s.midpoint, s.midpoint_error
            )
        };
        let conclusion = format!(
            "∫₀¹ z(t) dt = {integral:.12} (composite Simpson, {} intervals, estimated error \
             {simpson_error:.1e}). {}. Over n = {}…{} the |error| falls with log–log slope \
             {:+.3} (left sums; theory −1, leading term (z(0) − z(1))/(2n) = {:.4}/n) and \
             {:+.3} (midpoint; theory −2). {}",
            p.simpson_intervals,
            bars.iter().map(line).collect::<Vec<_>>().join("; "),
            ns[0],
            ns[ns.len() - 1],
            left_fit.slope,
            h_coef_left,
            mid_fit.slope,
            rates_sentence(
                left_fit.slope,
                left_fit.slope_stderr,
                mid_fit.slope,
                mid_fit.slope_stderr
            ),
        );
        Ok(Outcome {
            results: Results {
                integral,
                simpson_error,
                bars,
                errors,
                left_fit,
                midpoint_fit: mid_fit,
                left_coefficient: h_coef_left,
            },
            conclusion,
            tables: vec![Csv {
                name: "sums.csv".into(),
                header: vec!["n", "left", "midpoint", "left_error", "midpoint_error"],
                rows,
            }],
        })
    }

    fn figures(
        &self,
        stored: &ftnn_lab::Stored<Params, Results>,
        dir: &Path,
    ) -> anyhow::Result<Vec<PathBuf>> {
        let st = &stored.results;
        let p = &stored.params;
        let mut out = Vec::new();
        let fine = 600;
        let ts: Vec<f64> = (0..=fine)
            .map(|k| p.a + (p.b - p.a) * k as f64 / fine as f64)
            .collect();
        let curve = Series::new(
            "z(t) = 1/(1 + (sin 5t − 0.5)²)",
            ts.clone(),
            ts.iter().map(|&t| z(t)).collect(),
        );
        for s in &st.bars {
            let h = (p.b - p.a) / s.n as f64;
            let edges: Vec<f64> = (0..=s.n).map(|k| p.a + k as f64 * h).collect();
            let heights: Vec<f64> = edges[..s.n].iter().map(|&t| z(t)).collect();
            out.push(plot::bars_under_curves(
                dir,
                &format!("bars_n{}", s.n),
                &Axes::new(
                    format!(
                        "Left Riemann sum, n = {}: {:.5} vs ∫ = {:.5}",
                        s.n, s.left, st.integral
                    ),
                    "t",
                    "z(t)",
                ),
                &format!("{} bars (height z at the left edge)", s.n),
                &edges,
                &heights,
                std::slice::from_ref(&curve),
            )?);
        }
        let ns: Vec<f64> = st.errors.iter().map(|e| e.n as f64).collect();
        let (lo, hi) = (ns[0], ns[ns.len() - 1]);
        let series = vec![
            LogLogSeries {
                label: "left sum |I − L_n|".into(),
                widths: ns.clone(),
                values: st.errors.iter().map(|e| vec![e.left_error.abs()]).collect(),
                fits: vec![st.left_fit.line("fit", lo, hi)],
            },
            LogLogSeries {
                label: "midpoint |I − M_n|".into(),
                widths: ns,
                values: st
                    .errors
                    .iter()
                    .map(|e| vec![e.midpoint_error.abs()])
                    .collect(),
                fits: vec![st.midpoint_fit.line("fit", lo, hi)],
            },
        ];
        out.push(plot::loglog_fit(
            dir,
            "error_vs_n",
            &Axes::new(
                "Riemann-sum error vs number of bars (theory: slopes −1 and −2)",
                "number of bars n",
                "|error|",
            ),
            &series,
        )?);
        Ok(out)
    }

    fn report(&self, stored: &ftnn_lab::Stored<Params, Results>) -> ReportSection {
        let st = &stored.results;
        let mut rows: Vec<PaperRow> = st
            .bars
            .iter()
            .map(|s| {
                PaperRow::new(
                    format!("Riemann sum, n = {}", s.n),
                    "figure only",
                    format!(
                        "left {:.6} (error {:+.2e}); midpoint {:.6} (error {:+.2e})",
                        s.left, s.left_error, s.midpoint, s.midpoint_error
                    ),
                    Verdict::NotComparable("figure only".into()),
                )
            })
            .collect();
        rows.push(PaperRow::new(
            "∫₀¹ z(t) dt",
            "—",
            format!(
                "{:.12} (Simpson, error ≈ {:.0e})",
                st.integral, st.simpson_error
            ),
            Verdict::NotComparable("figure only".into()),
        ));
        rows.push(
            PaperRow::new(
                "log–log slope of |error| vs n",
                "— (theory: −1 left, −2 midpoint)",
                format!(
                    "{:+.3} ± {:.3} (left); {:+.3} ± {:.3} (midpoint)",
                    st.left_fit.slope,
                    st.left_fit.stderr(),
                    st.midpoint_fit.slope,
                    st.midpoint_fit.stderr()
                ),
                Verdict::NotComparable(format!(
                    "figure only; against the theory: left {}, midpoint {}",
                    left_rule()
                        .judge(st.left_fit.slope, st.left_fit.stderr())
                        .verdict
                        .label(),
                    midpoint_rule()
                        .judge(st.midpoint_fit.slope, st.midpoint_fit.stderr())
                        .verdict
                        .label()
                )),
            )
            .with_rule(
                format!(
                    "theory, not the paper: {}; {}",
                    left_rule().describe(),
                    midpoint_rule().describe()
                ),
                None,
            ),
        );
        ReportSection {
            rows,
            verdict: Verdict::NotComparable("the paper gives only the figure".into()),
            notes:
                "The figure is drawn on t ∈ [0, 1] with left sums (bars of height z at the left \
                    edge); on a whole period of z every Riemann sum would converge faster than \
                    any power of 1/n and hide the rate. The error plot adds midpoint sums for \
                    comparison."
                    .into(),
        }
    }
}

/// The stored `results` of `riemann`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// The integral (Simpson).
    pub integral: f64,
    /// Estimated error of the Simpson integral.
    pub simpson_error: f64,
    /// The sums drawn as bars.
    pub bars: Vec<SumsAt>,
    /// The sums whose errors are fitted.
    pub errors: Vec<SumsAt>,
    /// Fit of the left-sum error against n.
    pub left_fit: StoredFit,
    /// Fit of the midpoint-sum error against n.
    pub midpoint_fit: StoredFit,
    /// The leading coefficient of the left-sum error.
    pub left_coefficient: f64,
}

/// The theory's rate of the left sums' error (SPEC §16; not a number of the paper): slope −1
/// within 2 standard errors of the fit + 0.1 (higher-order terms at small n).
pub fn left_rule() -> Rule {
    Rule::new("log–log slope of |error|, left sums", -1.0)
        .tolerance(0.1, "higher-order terms at small n")
}

/// The theory's rate of the midpoint sums' error: slope −2, same allowance.
pub fn midpoint_rule() -> Rule {
    Rule::new("log–log slope of |error|, midpoint sums", -2.0)
        .tolerance(0.1, "higher-order terms at small n")
}

/// The conclusion's last sentence, from the two rules.
fn rates_sentence(left: f64, left_se: f64, mid: f64, mid_se: f64) -> &'static str {
    let ok = |r: Rule, v: f64, se: f64| r.judge(v, se).verdict == Verdict::Reproduced;
    match (
        ok(left_rule(), left, left_se),
        ok(midpoint_rule(), mid, mid_se),
    ) {
        (true, true) => {
            "Both rates agree with the theory: the bars of a finite layer approach \
                         the continuous limit at these rates."
        }
        (true, false) => "The left sums follow the theory's rate; the midpoint sums do not.",
        (false, true) => "The midpoint sums follow the theory's rate; the left sums do not.",
        (false, false) => "Neither rate agrees with the theory.",
    }
}
