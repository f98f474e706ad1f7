//! `regularization`: the SPEC §16 rules that judge the paper's headline numbers (fixed here,
//! before any run), the report section and the generated conclusion.

use super::{per_lambda, LambdaSummary, Params, Results, COLLAPSE_LAMBDA, PAPER_LAMBDA};
use ftnn_lab::rule::{fmt_num, Rule};
use ftnn_lab::ReportSection;

/// Modelling tolerance of an accuracy level, and why.
const ACC_TOL: f64 = 0.003;
const ACC_REASON: &str = "systematic level shift of a 10-epoch Adadelta run between frameworks \
    (f32 sums, data order); a quarter of the +.0117 crashed-accuracy gain from λ = 1e-5 to 3.25";
/// Modelling tolerance of the b3 variance (a log-ratio), and why.
const B3_TOL: f64 = 0.1823; // ln 1.2
const B3_REASON: &str = "×1.2: where the penalty balances the MSE after 10 epochs shifts with \
    the training implementation; well below the ×1.8 step from λ = 1 (6.9e-4) to 3.25";
/// Modelling tolerance of the collapsed accuracy at λ = 100, and why.
const COLLAPSE_TOL: f64 = 0.05;
const COLLAPSE_REASON: &str = "the penalty dominates the MSE and training is unstable (the \
    paper's 5 networks spread by sd .105); a network that does not collapse (> .9) stays out";

/// The rules at λ = 3.25 and λ = 100: (λ, which value, rule). Paper values and standard
/// errors (over its 5 networks) from the original's pickles (results/Regularization.ipynb
/// .{fine,coarse}.pkl of LPD-EPFL/nn-fault-tolerance); test accuracies on the 10 000 test
/// images, the b3 variance p Σ_i d_i² over the 60 000 training inputs.
pub(super) fn rules() -> [(f64, Value, Rule); 5] {
    let acc = |what: &str, l: f64, v: f64, se: f64| {
        Rule::new(format!("{what} test accuracy at λ = {l}"), v)
            .paper_se(se)
            .tolerance(ACC_TOL, ACC_REASON)
    };
    let collapse = |what: &str, v: f64, se: f64| {
        Rule::new(format!("{what} test accuracy at λ = {COLLAPSE_LAMBDA}"), v)
            .paper_se(se)
            .tolerance(COLLAPSE_TOL, COLLAPSE_REASON)
    };
    [
        (
            PAPER_LAMBDA,
            Value::Correct,
            acc("correct", PAPER_LAMBDA, 0.9595, 0.00080),
        ),
        (
            PAPER_LAMBDA,
            Value::Crashed,
            acc("crashed", PAPER_LAMBDA, 0.9563, 0.00082),
        ),
        (
            PAPER_LAMBDA,
            Value::B3Var,
            Rule::new(
                format!("b3 variance (p Σ d²) at λ = {PAPER_LAMBDA}"),
                3.8e-4,
            )
            .paper_se(1.21e-5)
            .log_scale()
            .tolerance(B3_TOL, B3_REASON),
        ),
        (
            COLLAPSE_LAMBDA,
            Value::Correct,
            collapse("correct", 0.668, 0.047),
        ),
        (
            COLLAPSE_LAMBDA,
            Value::Crashed,
            collapse("crashed", 0.670, 0.045),
        ),
    ]
}

/// Which value of a [`LambdaSummary`] a rule judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Value {
    Correct,
    Crashed,
    B3Var,
}

impl Value {
    fn of(self, s: &LambdaSummary) -> (f64, f64) {
        match self {
            Self::Correct => s.correct,
            Self::Crashed => s.crashed,
            Self::B3Var => s.b3_var,
        }
    }
}

/// Why this run's set-up cannot be compared with the paper's (SPEC §16), if it cannot. The
/// number of networks per λ only changes the standard error; the bound inputs are a subset of
/// the training inputs (an unbiased estimate of the mean over all of them).
pub(super) fn not_comparable(params: &Params) -> Option<String> {
    let mut why = Vec::new();
    if params.epochs != 10 {
        why.push(format!("{} epochs, not 10", params.epochs));
    }
    if params.batch_size != 100 {
        why.push(format!("batch {}, not 100", params.batch_size));
    }
    if params.data.train_examples.is_some() || params.data.test_examples.is_some() {
        why.push("a subset of MNIST".to_string());
    }
    if params.crash.p_inf != 0.05 || params.vardelta_p != 0.05 {
        why.push("p ≠ 0.05".to_string());
    }
    (!why.is_empty()).then(|| why.join(", "))
}

fn find(summary: &[LambdaSummary], lambda: f64) -> Option<&LambdaSummary> {
    summary
        .iter()
        .find(|s| (s.lambda / lambda - 1.0).abs() < 1e-6)
}

/// The paper's numbers beside ours, each judged by its rule.
pub(super) fn report_section(params: &Params, st: &Results) -> ReportSection {
    let summary = per_lambda(&st.nets, params.crash.p_inf);
    let nc = not_comparable(params);
    let rows: Vec<_> = rules()
        .into_iter()
        .map(
            |(lambda, value, rule)| match (find(&summary, lambda), &nc) {
                (None, _) => rule.not_comparable_row("–", format!("λ = {lambda} was not run")),
                (Some(s), Some(why)) => {
                    let (m, se) = value.of(s);
                    rule.not_comparable_row(
                        format!("{} ± {}", fmt_num(m), fmt_num(se)),
                        why.clone(),
                    )
                }
                (Some(s), None) => {
                    let (m, se) = value.of(s);
                    rule.row(m, se)
                }
            },
        )
        .collect();
    let notes = format!(
        "Set-up of SPEC §15 in every profile: Adadelta (lr 1.0, ρ .95, ε 1e-7), batch 100, MSE \
         on one-hot targets, MNIST /255, init W ~ N(0,1)·√(2/n_in), b ~ N(0,1), no \
         crash-dropout. This run: {} values of λ × {} networks, {} epochs. vardelta penalises \
         λ · mean over batch and outputs of p Σ_i (∂y_k/∂y1_i · y1_i)² at hidden layer 1 with \
         p = {} (the original's Jan-2019 code hit hidden layer 1 here; the later layer-index \
         bug of SPEC §12 did not touch these numbers). The b3 variance rows use the original's \
         p Σ d² (our p(1 − p) value ÷ (1 − p)) averaged over the first {} training inputs. \
         Standard errors are over networks; network j has the same seed at every λ.",
        summary.len(),
        params.nets,
        params.epochs,
        params.vardelta_p,
        params.crash.bound_train_inputs,
    );
    ReportSection {
        verdict: super::super::overall(&rows),
        rows,
        notes,
    }
}

/// The conclusion, generated from the numbers.
pub(super) fn conclusion(params: &Params, summary: &[LambdaSummary]) -> String {
    let mut text = vec![format!(
        "{} networks ({} values of λ × {}, {} epochs, Adadelta, batch {}), vardelta p = {} and \
         crashes p_inf = {} at hidden layer 1.",
        summary.iter().map(|s| s.nets).sum::<usize>(),
        summary.len(),
        params.nets,
        params.epochs,
        params.batch_size,
        params.vardelta_p,
        params.crash.p_inf
    )];
    let line = |s: &LambdaSummary| {
        format!(
            "λ = {}: correct {:.4} ± {:.4}, crashed {:.4} ± {:.4}, b3 variance {:.2e}",
            fmt_num(s.lambda),
            s.correct.0,
            s.correct.1,
            s.crashed.0,
            s.crashed.1,
            s.b3_var.0
        )
    };
    text.push(format!(
        "{}.",
        summary.iter().map(line).collect::<Vec<_>>().join("; ")
    ));
    if let (Some(base), Some(mid)) = (summary.first(), find(summary, PAPER_LAMBDA)) {
        let gap0 = base.correct.0 - base.crashed.0;
        let gap1 = mid.correct.0 - mid.crashed.0;
        text.push(format!(
            "From λ = {} to {PAPER_LAMBDA} the crashed accuracy changes by {} and the correct \
             one by {}; the gap correct − crashed goes {:.4} → {:.4} while the b3 variance \
             falls {:.1}×.",
            fmt_num(base.lambda),
            ftnn_plot::signed(mid.crashed.0 - base.crashed.0, 4),
            ftnn_plot::signed(mid.correct.0 - base.correct.0, 4),
            gap0,
            gap1,
            base.b3_var.0 / mid.b3_var.0
        ));
    }
    if let (Some(base), Some(c)) = (summary.first(), find(summary, COLLAPSE_LAMBDA)) {
        text.push(format!(
            "At λ = {COLLAPSE_LAMBDA} the correct accuracy is {:.3} ({} from the baseline): {}.",
            c.correct.0,
            ftnn_plot::signed(c.correct.0 - base.correct.0, 3),
            if c.correct.0 < 0.9 {
                "the networks collapse"
            } else {
                "no collapse"
            }
        ));
    }
    text.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftnn_lab::{Experiment, Profile, Verdict};

    /// Each rule: a value just inside its window reproduces, one just outside differs.
    #[test]
    fn rules_decide_at_their_edges() {
        for (_, _, rule) in rules() {
            let v = rule.paper_value();
            let ours_se = 0.01 * v.abs();
            for sign in [-1.0, 1.0] {
                let at = |f: f64| {
                    if rule.log {
                        let se = (ours_se / v).hypot(rule.paper_se / v);
                        let allowed = rule.z * se + rule.tolerance;
                        v * (sign * f * allowed).exp()
                    } else {
                        let allowed = rule.z * ours_se.hypot(rule.paper_se) + rule.tolerance;
                        v + sign * f * allowed
                    }
                };
                // On a log scale our se is taken relative to our own value: judge with the
                // se scaled to the value tried, so the window is the one computed above.
                let judge = |x: f64| {
                    let se = if rule.log { ours_se * x / v } else { ours_se };
                    rule.judge(x, se).verdict
                };
                assert_eq!(judge(at(0.99)), Verdict::Reproduced, "{}", rule.quantity);
                assert_eq!(judge(at(1.01)).label(), "differs", "{}", rule.quantity);
            }
        }
    }

    /// A network that does not collapse (.95 at λ = 100) differs from the paper's collapse,
    /// and the b3 variance at λ = 1 (6.9e-4) does not pass for the one at λ = 3.25.
    #[test]
    fn contrasts_are_decidable() {
        let r = rules();
        assert_eq!(r[3].2.judge(0.95, 0.002).verdict.label(), "differs");
        assert_eq!(r[2].2.judge(6.93e-4, 2.5e-5).verdict.label(), "differs");
    }

    #[test]
    fn profiles_and_comparability() {
        let paper = super::super::Regularization.params(Profile::Paper);
        assert!(not_comparable(&paper).is_none());
        assert_eq!((paper.lambdas.len(), paper.nets, paper.epochs), (10, 5, 10));
        let l = &paper.lambdas;
        assert!(l.windows(2).all(|w| w[0] < w[1]));
        assert!((l[9] - COLLAPSE_LAMBDA).abs() < 1e-9 && l.contains(&PAPER_LAMBDA));
        let quick = super::super::Regularization.params(Profile::Quick);
        assert!(not_comparable(&quick).is_none());
        assert!(not_comparable(&super::super::Regularization.params(Profile::Smoke)).is_some());
        for p in [paper, quick] {
            assert!(p.lambdas.contains(&PAPER_LAMBDA) && p.lambdas.contains(&COLLAPSE_LAMBDA));
            assert_eq!(
                (p.batch_size, p.crash.repetitions, p.lambdas[0]),
                (100, 6, 1e-5)
            );
        }
    }
}
