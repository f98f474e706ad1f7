//! Training speed (issue 5): seconds per MNIST epoch for 784-100-50-10 (batch 100) and
//! 784-1000-100-10 (batch 1000), sigmoid, MSE, Adam; and the cost of each regularizer as the
//! time of 10 mini-batches of 100 on 784-100-50-10; and one Adadelta step (batch 128) of
//! SPEC §9's softplus MNIST CNN at widths ×0.25 and ×1 (the CPU kernels of `seq::cpu_ops`).
//!
//! `cargo bench -p ftnn-train --bench epoch`

use criterion::{criterion_group, criterion_main, Criterion};
use ftnn_data::{load_mnist, DataDir, ImageSet, Split};
use ftnn_model::seq::ActKind;
use ftnn_model::FailureVector;
use ftnn_train::seq::{presets, SeqTrainConfig, SeqTrainer};
use ftnn_train::{Dataset, Regularizer, TrainConfig, Trainer};
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn mnist() -> Dataset {
    let dir = DataDir::locate().expect("data directory (run from the repository)");
    let images = load_mnist(&dir, ImageSet::Mnist, Split::Train).expect("MNIST");
    Dataset::from_images(&images).expect("dataset")
}

fn epochs(c: &mut Criterion) {
    ftnn_model::runtime::configure_candle_threads();
    let data = mnist();
    let mut group = c.benchmark_group("mnist_epoch");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    for (sizes, batch) in [
        (vec![784, 100, 50, 10], 100),
        (vec![784, 1000, 100, 10], 1000),
    ] {
        let name = format!(
            "{}_batch{batch}",
            sizes
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join("-")
        );
        let config = TrainConfig::new(sizes).batch_size(batch).epochs(1);
        let mut trainer = Trainer::new(config).expect("trainer");
        group.bench_function(name, |b| {
            b.iter(|| trainer.epoch(&data, None, &mut |_| {}).expect("epoch"))
        });
    }
    group.finish();
}

fn regularizers(c: &mut Criterion) {
    ftnn_model::runtime::configure_candle_threads();
    let data = mnist().subset(0..1000).expect("subset");
    let mut group = c.benchmark_group("ten_batches_784-100-50-10");
    group.sample_size(20);
    let cases: Vec<(&str, Option<Regularizer>, Option<FailureVector>)> = vec![
        ("plain", None, None),
        ("l1", Some("l1=1e-4".parse().unwrap()), None),
        ("l2", Some("l2=1e-4".parse().unwrap()), None),
        ("balanced", Some("balanced=1e-3".parse().unwrap()), None),
        (
            "continuous",
            Some("continuous=1e-4,1e-2".parse().unwrap()),
            None,
        ),
        (
            "vardelta",
            Some("vardelta=1e-3@0.05".parse().unwrap()),
            None,
        ),
        (
            "p_train",
            None,
            Some(FailureVector::new(vec![0.0, 0.05, 0.0, 0.0]).unwrap()),
        ),
    ];
    for (name, reg, p) in cases {
        let mut config = TrainConfig::new(vec![784, 100, 50, 10])
            .batch_size(100)
            .epochs(1);
        if let Some(r) = reg {
            config = config.regularizer(r);
        }
        if let Some(p) = p {
            config = config.p_train(p);
        }
        let mut trainer = Trainer::new(config).expect("trainer");
        group.bench_function(name, |b| {
            b.iter(|| trainer.epoch(&data, None, &mut |_| {}).expect("epoch"))
        });
    }
    group.finish();
}

fn cnn_steps(c: &mut Criterion) {
    ftnn_model::runtime::configure_candle_threads();
    let data = mnist();
    let mut group = c.benchmark_group("mnist_cnn_step");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let idx: Vec<u32> = (0..128).collect();
    for width in [0.25, 1.0] {
        let arch = presets::mnist_cnn(ActKind::Softplus, width).expect("preset");
        let config = SeqTrainConfig::new()
            .optimizer(ftnn_train::Optimizer::adadelta())
            .repeat_channels(3);
        let mut trainer =
            SeqTrainer::new(config, &arch, &candle_core::Device::Cpu).expect("trainer");
        let mut stream = 0;
        group.bench_function(format!("softplus_width{width}_batch128"), |b| {
            b.iter(|| {
                stream += 1;
                trainer.train_batch(&data, &idx, stream).expect("step")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, epochs, regularizers, cnn_steps);
criterion_main!(benches);
