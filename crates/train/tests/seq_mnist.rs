//! (c) A small CNN learns MNIST: > 97 % test accuracy after one epoch over the 60 000 training
//! images (Adam 2e-3, batch 64) of a LeNet-like CNN (conv8 5×5, pool, conv16 5×5, pool, dense10).

use candle_core::Device;
use ftnn_model::seq::Architecture;
use ftnn_train::seq::{accuracy, SeqTrainConfig, SeqTrainer};
use ftnn_train::{Dataset, Optimizer};

#[test]
fn a_small_cnn_learns_mnist() {
    let dir = ftnn_data::DataDir::locate().unwrap();
    let load = |split| {
        Dataset::from_images(
            &ftnn_data::load_mnist(&dir, ftnn_data::ImageSet::Mnist, split).unwrap(),
        )
        .unwrap()
    };
    let (train, test) = (load(ftnn_data::Split::Train), load(ftnn_data::Split::Test));
    let arch = Architecture::from_json(
        r#"{"input_shape": [1, 28, 28], "layers": [
        {"op": "conv2d", "in_channels": 1, "out_channels": 8, "kernel_size": 5},
        {"op": "relu"}, {"op": "maxpool2d", "kernel_size": 2},
        {"op": "conv2d", "in_channels": 8, "out_channels": 16, "kernel_size": 5},
        {"op": "relu"}, {"op": "maxpool2d", "kernel_size": 2},
        {"op": "flatten"},
        {"op": "linear", "in_features": 256, "out_features": 10}, {"op": "softmax"}]}"#,
    )
    .unwrap();
    let config = SeqTrainConfig::new()
        .optimizer(Optimizer::adam().with_lr(2e-3))
        .epochs(1)
        .batch_size(64)
        .seed(1);
    let mut t = SeqTrainer::new(config, &arch, &Device::Cpu).unwrap();
    let h = t.fit(&train, None, &mut |_| {}).unwrap();
    let acc = accuracy(&t.model().unwrap(), &test, 1000).unwrap();
    eprintln!("epoch {:.1} s, test accuracy {acc}", h.epochs[0].seconds);
    assert!(acc > 0.97, "test accuracy {acc}");
}

/// Timing (not a check; run with `--ignored --nocapture`): seconds per 60 000-image epoch of
/// SPEC §9's MNIST CNN at widths ×1 and ×0.5, extrapolated from 20 batches of 128.
#[test]
#[ignore]
fn time_the_spec_mnist_cnn() {
    let dir = ftnn_data::DataDir::locate().unwrap();
    let images =
        ftnn_data::load_mnist(&dir, ftnn_data::ImageSet::Mnist, ftnn_data::Split::Train).unwrap();
    let train = Dataset::from_images(&images).unwrap();
    for width in [1.0, 0.5] {
        let arch =
            ftnn_train::seq::presets::mnist_cnn(ftnn_model::seq::ActKind::Softplus, width).unwrap();
        let config = SeqTrainConfig::new()
            .epochs(1)
            .batch_size(128)
            .train_subset(2560)
            .repeat_channels(3);
        let mut t = SeqTrainer::new(config, &arch, &Device::Cpu).unwrap();
        let h = t.fit(&train, None, &mut |_| {}).unwrap();
        let s = h.epochs[0].seconds;
        eprintln!(
            "width {width}: {s:.1} s for 2560 images → {:.0} s per 60 000-image epoch",
            s * 60_000.0 / 2560.0
        );
    }
}
