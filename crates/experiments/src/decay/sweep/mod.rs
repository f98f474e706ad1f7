//! The width-sweep engine behind the continuity and decay experiments (SPEC §8, §10): train
//! many `n_0 → n → h → n_L` sigmoid networks over a range of first-hidden widths n, measure
//! each one, and fit how every measurement scales with n on log–log axes.
//!
//! An experiment is a list of [`SweepSpec`]s (usually one; `weight-decay-continuity` has one
//! for MNIST and one for Fashion-MNIST) and a list of the paper's numbers ([`Claim`]s); the
//! six experiments in [`crate::decay::experiments`] are nothing more. For each sweep the engine
//! 1. runs one job per (width n, repetition r) through [`Context::jobs`] (sweep
//!    `nets-<name>`, key `w<n>-r<r>`): each job trains one network with its own seed — derived
//!    from the sweep's seed, n and r only ([`net_seed`]), never from earlier jobs — and returns
//!    a [`NetRecord`]; jobs are stored one by one, so a run resumes job by job and shards with
//!    `--shard i/k`;
//! 2. measures every trained network (SPEC §8, with y = y_1 the first hidden layer and the
//!    per-sample loss Keras' MSE, [`ftnn_decay::Loss::Mse`]):
//!    * `D` = mean over **all training examples of the sweep** of mean_i |∂L/∂y_i|;
//!    * `H_diag`, `H_all` = mean_i |H̄_ii|, mean_ij |H̄_ij| of H̄ = the signed Hessian ∂²L/∂y²
//!      averaged over the first 10 training examples (SPEC §15, the original's definition;
//!      [`ftnn_decay::mean_hessian_stats`]), and beside them, for comparison only, the same
//!      statistics of each example's own |H| averaged (`H_diag_per_sample`, `H_all_per_sample`);
//!    * `W_l` = ‖W_l‖_∞ (max row sum of |W_l|, W_l of shape [n_l, n_{l−1}]) for l = 1, 2, 3 and
//!      `W_prod` = W_1 W_2 W_3;
//!    * `var_delta` (when asked for) = mean over outputs of the Monte Carlo Var Δ at the first
//!      training example, with crashes p at hidden layer 1;
//!    * the test accuracy (classification) or MAE (regression), and the seconds spent training
//!      and measuring;
//! 3. fits log(metric) = a·log(n) + c by least squares with a free slope over the per-width
//!    mean of log(metric) ([`fit_loglog`]; the band of the figures is that mean ± 1 sd over the
//!    repetitions), for D, H_diag, H_all, var_delta, every W_l and W_prod; the weight norms are
//!    also fitted over the upper widths alone ([`upper_from`]: the upper half, at least the
//!    last three), to tell "levels off" from "grows";
//! 4. estimates the wall time of the experiment's `paper` profile on this machine
//!    ([`ProfileEstimate`]): a few of its training steps are timed at each of its widths with
//!    its batch size and regularizers (`calibrate`; a step's cost depends on the width, the
//!    batch and the regularizers, not on the profile's epochs or examples), multiplied by its
//!    epochs and steps per epoch, plus the measuring seconds of the networks just run fitted
//!    linearly in n ([`MeasureTiming`]).
//!
//! The report judges each of the paper's numbers ([`Claim`]) by a SPEC §16 rule fixed before
//! the run (`rules`): slopes within 2 standard errors of our fit plus a modelling tolerance of
//! 0.10, H slopes only while that window can tell plain training (−1.36) from the continuous
//! limit (−1.93), the growth of a weight norm through the log–log slope its end values imply,
//! and a level by "levels off" over the upper widths and "within 2×".

//! **Which weight matrix is the paper's `W_1`.** The original's `W_inf_norm` names the norms
//! `W_0, W_1, …` from 0; its `W_1` — which "grows 12.8 → 82.6" — is therefore the *second*
//! matrix, `n → 100`, whose rows sum over the n inputs. We number layers from 1 (SPEC §8), so
//! the paper's `W_1` is our `W_2`; claims say so.
//!
//! **Hessian convention.** The original (`mean_d2Ldy2`) takes `tf.hessians` of the loss
//! *averaged* over its 10 examples and averages the 10 diagonal blocks before the absolute
//! value: |·| of the mean signed Hessian, times 1/10. We compute the same without the constant
//! 1/10 (it moves the level, not the slope).

mod conclusion;
mod figures;
mod report;
mod results;
mod rules;
mod run;
mod spec;

pub use conclusion::*;
pub use figures::*;
pub use report::*;
pub use results::*;
pub use run::*;
pub use spec::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::grids::int_linspace;

    use ftnn_lab::Profile;

    use ftnn_train::Metrics;

    #[test]
    fn widths_truncate_like_the_original() {
        assert_eq!(
            int_linspace(50, 1000, 15),
            vec![50, 117, 185, 253, 321, 389, 457, 525, 592, 660, 728, 796, 864, 932, 1000]
        );
        assert_eq!(int_linspace(50, 1500, 5), vec![50, 412, 775, 1137, 1500]);
        assert_eq!(
            int_linspace(100, 400, 7),
            vec![100, 150, 200, 250, 300, 350, 400]
        );
    }

    #[test]
    fn linear_fit_and_clamping() {
        let l = Linear::fit(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]);
        assert!((l.intercept - 1.0).abs() < 1e-12 && (l.slope - 2.0).abs() < 1e-12);
        assert_eq!(Linear::fit(&[(1.0, 2.0), (1.0, 4.0)]).at(5.0), 3.0);
        assert_eq!(
            Linear {
                intercept: -1.0,
                slope: 0.0
            }
            .at(3.0),
            0.0
        );
    }

    fn record(width: usize, seconds: f64) -> NetRecord {
        NetRecord {
            width,
            rep: 0,
            seed: 0,
            d: Some(1.0 / width as f64),
            h_diag: None,
            h_all: None,
            h_diag_per_sample: None,
            h_all_per_sample: None,
            w: vec![1.0, 2.0, 3.0],
            w_prod: 6.0,
            var_delta: None,
            test: Metrics::default(),
            final_objective: 0.0,
            train_seconds: seconds,
            derivative_seconds: 0.0,
            var_delta_seconds: 0.0,
            other_seconds: 1.0,
        }
    }

    #[test]
    fn estimate_multiplies_timed_steps_and_adds_measuring() {
        // Measured: D takes 0.1 s per 1000 rows at every width, the rest 1 s per network.
        let spec =
            SweepSpec::new("s", DataSet::Mnist, vec![100, 200], 1, 2, 100).train_examples(1000);
        let mut nets = vec![record(100, 3.0), record(200, 5.0)];
        for r in &mut nets {
            r.derivative_seconds = 0.1;
        }
        let measured = summarise(&spec, nets);
        // Target: 10 epochs of 60 batches of 1000, 3 networks at each of two widths.
        let target = SweepSpec::new("s", DataSet::Mnist, vec![100, 300], 3, 10, 1000);
        assert_eq!(target.steps_per_epoch(), 60);
        let steps = vec![
            StepTime {
                width: 100,
                seconds: 0.5,
            },
            StepTime {
                width: 300,
                seconds: 2.0,
            },
        ];
        let e =
            estimate(&[(measured, Some(steps))], Profile::Paper, &[target]).expect("calibrated");
        let per_net = |step: f64| 10.0 * 60.0 * step + 60.0 * 0.1 + 1.0;
        let want = 3.0 * (per_net(0.5) + per_net(2.0));
        assert!((e.seconds - want).abs() < 1e-9, "{} vs {want}", e.seconds);
        assert_eq!(e.nets, 6);
        assert!((e.sweeps[0].train_seconds - 3.0 * 600.0 * 2.5).abs() < 1e-9);
    }

    #[test]
    fn upper_widths_are_the_upper_half_but_at_least_three() {
        assert_eq!(upper_from(10), 5);
        assert_eq!(upper_from(4), 1);
        assert_eq!(upper_from(3), 0);
        assert_eq!(upper_from(2), 0);
    }

    #[test]
    fn metric_values_and_keys() {
        let r = record(10, 1.0);
        assert_eq!(Metric::W(2).value(&r), Some(2.0));
        assert_eq!(Metric::W(0).value(&r), None);
        assert_eq!(Metric::WProd.key(), "W_prod");
        assert_eq!(Metric::HAll.limit_slope(), Some(-2.0));
        let spec =
            SweepSpec::new("s", DataSet::Boston, vec![1, 2], 1, 1, 1).with_var_delta(0.01, 10);
        assert!(Metric::measured(&spec).contains(&Metric::VarDelta));
        assert_eq!(spec.sizes(7), vec![13, 7, 100, 1]);
    }
}
