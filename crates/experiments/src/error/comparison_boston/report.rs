//! The `REPORT.md` section of `error-comparison-boston`.

use super::run::{mean, median_err};
use super::{FitQuality, Results, PAPER_SLOPE};
use crate::common::fit::FitText;
use crate::common::parts::PartResult;
use ftnn_lab::{PaperRow, ReportSection, Verdict};

/// The paper's numbers beside ours (SPEC §10).
pub(crate) fn report_section(st: &Results, standardise: bool) -> ReportSection {
    let corr = PartResult::correlation;
    let (a, b) = (&st.a.part, &st.b.part);
    let four = |name: &str| {
        [
            corr(a, &format!("{name} mean")),
            corr(a, &format!("{name} std")),
            corr(b, &format!("{name} mean")),
            corr(b, &format!("{name} std")),
        ]
    };
    let fmt = |v: &[f64], digits: usize| {
        v.iter()
            .map(|x| format!("{x:.digits$}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let b4 = four("b4");
    let b3 = four("b3");
    let b4_ok = b4.iter().all(|&c| c >= 0.99);
    let b3_ok = b3.iter().all(|&c| c >= 0.85) && b3.iter().zip(&b4).all(|(x, y)| x <= y);
    let pct = |r: &PartResult| {
        [
            100.0 * median_err(r, "b3 mean"),
            100.0 * median_err(r, "b3 std"),
        ]
    };
    let (a_err, b_err) = (pct(a), pct(b));
    // The paper's range, widened by 10 points for a new training run.
    let a_err_ok = a_err.iter().all(|e| (34.0..=86.0).contains(e));
    let b4_errs: Vec<f64> = ["b4 mean", "b4 std"]
        .iter()
        .flat_map(|q| [100.0 * median_err(a, q), 100.0 * median_err(b, q)])
        .collect();
    let slope = st.fit.slope;
    let se = st.fit.stderr();
    let slope_ok = (slope - PAPER_SLOPE).abs() <= 0.15_f64.max(2.0 * se);
    let b1 = [corr(a, "b1_2"), corr(b, "b1_2")];
    let rows = vec![
        PaperRow::new(
            "b4 correlation (A mean / A std / B mean / B std)",
            ".996–.997",
            fmt(&b4, 4),
            if b4_ok {
                Verdict::Reproduced
            } else {
                Verdict::Differs("a correlation below 0.99".into())
            },
        ),
        PaperRow::new(
            "b3 correlation (A mean / A std / B mean / B std)",
            ".89–.98",
            fmt(&b3, 4),
            if b3_ok {
                Verdict::Reproduced
            } else {
                Verdict::Differs("below 0.85, or above b4".into())
            },
        ),
        PaperRow::new(
            "b3 median relative error, A: sigmoid net over inputs (mean / std)",
            "44–76 %",
            format!("{} %", fmt(&a_err, 1)),
            if a_err_ok {
                Verdict::Reproduced
            } else {
                Verdict::Differs(format!("{} % against 44–76 %", fmt(&a_err, 0)))
            },
        ),
        PaperRow::new(
            "b3 median relative error, B: ReLU nets, one point per net (mean / std)",
            "44–76 % (if SPEC's range covers B)",
            format!("{} %", fmt(&b_err, 1)),
            Verdict::Differs(
                "b3 is far closer on ReLU nets: ReLU is piecewise linear, so the first-order \
                 term is exact unless a crash switches a downstream unit"
                    .into(),
            ),
        ),
        PaperRow::new(
            "b4 median relative error (A mean / B mean / A std / B std)",
            "— (b4 ≈ experiment)",
            format!("{} %", fmt(&b4_errs, 1)),
            Verdict::NotComparable("the paper gives no number".into()),
        ),
        PaperRow::new(
            "b1 (norm product, q = 2) correlation (A / B)",
            "— (uninformative in ErrorComparisonRandom)",
            fmt(&b1, 3),
            Verdict::NotComparable("the paper gives no number for Boston".into()),
        ),
        PaperRow::new(
            "log–log slope of Var Δ against the width n of the crashing layer",
            ftnn_plot::signed(PAPER_SLOPE, 2),
            st.fit.text(),
            if slope_ok {
                Verdict::Reproduced
            } else {
                Verdict::Differs(format!("slope {} ± {se:.2}", ftnn_plot::signed(slope, 2)))
            },
        ),
    ];
    let differences: Vec<&str> = [
        (!b4_ok, "b4 correlation"),
        (!b3_ok, "b3 correlation"),
        (!a_err_ok, "b3 relative error on the sigmoid net"),
        (true, "b3 relative error on the ReLU nets"),
        (!slope_ok, "Var Δ slope"),
    ]
    .into_iter()
    .filter_map(|(differs, what)| differs.then_some(what))
    .collect();
    let agree = if b4_ok && b3_ok && a_err_ok {
        "part A's numbers and the ranking b4 > b3 agree; "
    } else {
        ""
    };
    let verdict = Verdict::Differs(format!("{agree}differs: {}", differences.join(", ")));
    let fits = |f: &[FitQuality]| mean(&f.iter().map(|q| q.test_mse).collect::<Vec<_>>());
    let c_fits: Vec<FitQuality> =
        st.c.widths
            .iter()
            .flat_map(|w| w.points.iter().map(|q| q.fit))
            .collect();
    let features = if standardise {
        "Features are standardised with the training split's mean and std (the original fed \
         raw features, 0–700, which saturate the first-layer sigmoids; its network reached a \
         training MSE of only ≈ 200 after 50 epochs)."
    } else {
        "Features are raw, as in the original (0–700; they saturate the first-layer sigmoids)."
    };
    let notes = format!(
        "{features} Test MSE of our networks: A {:.1}, B \
         {:.1} (mean), C {:.1} (mean). SPEC's ranges are applied to both comparisons; \
         whether its 44–76 % also covers the ReLU networks is not stated. Part C uses the \
         original's architecture [13, n, 49, 1] (only the crashing layer grows) and its 500 \
         training epochs; in the figure small points are single networks, large points their \
         geometric mean with a ±1 sd band of log Var Δ.",
        st.a.fit.test_mse,
        fits(&st.b.fits),
        fits(&c_fits),
    );
    ReportSection {
        rows,
        verdict,
        notes,
    }
}
