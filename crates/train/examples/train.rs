//! README "From Rust" (`ftnn-train`): a 784-100-50-10 MNIST network trained for one epoch on
//! 5 000 examples with the continuity regularizer (smooth(), Eq. 1), then its test accuracy.
//!
//! `cargo run --release -p ftnn-train --example train` (reads `data/` of the checkout)

use ftnn_data::{load_mnist, DataDir, ImageSet, Split};
use ftnn_train::{Dataset, Regularizer, TrainConfig, Trainer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = DataDir::locate()?;
    let train =
        Dataset::from_images(&load_mnist(&dir, ImageSet::Mnist, Split::Train)?)?.subset(0..5000)?;
    let test = Dataset::from_images(&load_mnist(&dir, ImageSet::Mnist, Split::Test)?)?;
    let config = TrainConfig::new(vec![784, 100, 50, 10])
        .epochs(1)
        .regularizer("continuous=1e-4,1e-2".parse::<Regularizer>()?);
    let mut trainer = Trainer::new(config)?;
    let history = trainer.fit(&train, Some(&test), &mut |_| {})?; // or trainer.epoch(...) one at a time
    let net = trainer.model()?; // an ftnn_model::Mlp
    let last = history.epochs.last().ok_or("no epoch ran")?;
    let valid = last.valid.as_ref().ok_or("no validation metrics")?;
    println!(
        "network {:?}: objective {:.4}, test accuracy {:.4} after {} epoch(s)",
        net.sizes(),
        last.objective,
        valid.accuracy.unwrap_or(f64::NAN),
        history.epochs.len()
    );
    Ok(())
}
