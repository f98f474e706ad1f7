//! Training for fault tolerance on MNIST (SPEC §10): which quantity orders networks by their
//! crash-dropout, and the regularisers that make a network crash-tolerant. Both use the
//! original runs' set-up (SPEC §15, [`paper_setup`]) in every profile.

pub mod dropout_comparison;
pub mod regularization;

use ftnn_lab::{PaperRow, Verdict};
use ftnn_train::{Optimizer, TrainConfig};

/// The SPEC §15 set-up of both experiments: sigmoid φ(z) = σ(4z) (K = 1), the paper's
/// initialisation W ~ N(0,1)·√(2/n_in), b ~ N(0,1), MSE on one-hot targets, Keras' Adadelta
/// (lr 1.0, ρ 0.95, ε 1e-7), mini-batches of `batch_size`.
pub(crate) fn paper_setup(
    sizes: Vec<usize>,
    epochs: usize,
    batch_size: usize,
    seed: u64,
) -> TrainConfig {
    TrainConfig::new(sizes)
        .optimizer(Optimizer::adadelta())
        .epochs(epochs)
        .batch_size(batch_size)
        .seed(seed)
}

/// The section's verdict from its rows: *differs* when a row differs (naming them), else
/// *not comparable* when a row is, else *reproduced*.
pub(crate) fn overall(rows: &[PaperRow]) -> Verdict {
    let differs: Vec<&str> = rows
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Differs(_)))
        .map(|r| r.quantity.as_str())
        .collect();
    let ok = rows
        .iter()
        .filter(|r| r.verdict == Verdict::Reproduced)
        .count();
    if !differs.is_empty() {
        return Verdict::Differs(format!(
            "{ok} of {} rows reproduced; differs: {}",
            rows.len(),
            differs.join("; ")
        ));
    }
    let nc = rows
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::NotComparable(_)))
        .count();
    if nc == 0 {
        Verdict::Reproduced
    } else {
        Verdict::NotComparable(format!(
            "{nc} of {} rows not comparable ({ok} reproduced): the profile's set-up is not the \
             original's",
            rows.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_is_adadelta_batch_100() {
        let c = paper_setup(vec![784, 100, 50, 10], 10, 100, 3);
        assert_eq!(c.optimizer, Optimizer::adadelta());
        assert_eq!((c.epochs, c.batch_size, c.seed), (10, 100, 3));
        assert_eq!(c.init, ftnn_model::Init::Paper);
        assert_eq!(c.loss, ftnn_train::Loss::Mse);
    }

    #[test]
    fn overall_names_differing_rows() {
        let row = |q: &str, v: Verdict| PaperRow::new(q, "1", "1", v);
        let ok = row("a", Verdict::Reproduced);
        let nc = row("b", Verdict::NotComparable("x".into()));
        let bad = row("c", Verdict::Differs("y".into()));
        assert_eq!(overall(std::slice::from_ref(&ok)), Verdict::Reproduced);
        assert_eq!(overall(&[ok.clone(), nc.clone()]).label(), "not comparable");
        let v = overall(&[ok, nc, bad]);
        assert_eq!(v.label(), "differs");
        assert!(v.reason().contains('c') && v.reason().starts_with("1 of 3"));
    }
}
