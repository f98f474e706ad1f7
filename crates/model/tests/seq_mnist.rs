//! The shipped trained MNIST CNN (`data/models/mnist-cnn.pth`, PyTorch zip state dict with keys
//! `conv_layers.N.*` / `fc_layers.N.*`) imported through `data/models/mnist-cnn.arch.json`
//! classifies the first 2000 MNIST test images with the independently measured accuracy of
//! data/README.md, 98.75 %.

use candle_core::{Device, Tensor};
use ftnn_data::{load_mnist, DataDir, ImageSet, Split};
use ftnn_model::Sequential;

#[test]
fn mnist_cnn_accuracy_matches_the_documented_value() {
    let dir = DataDir::locate().unwrap();
    let net = Sequential::mnist_cnn(&dir, &Device::Cpu).unwrap();
    // input, four ReLU outputs, logits
    let sizes: Vec<usize> = net.sites().iter().map(|s| s.size).collect();
    assert_eq!(
        sizes,
        vec![784, 32 * 28 * 28, 64 * 14 * 14, 128 * 7 * 7, 256, 10]
    );

    let test = load_mnist(&dir, ImageSet::Mnist, Split::Test)
        .unwrap()
        .subset(0..2000);
    assert_eq!(test.len(), 2000);
    // pixels are already x/255; normalise with MNIST's mean and std
    let x: Vec<f32> = test.images.iter().map(|&v| (v - 0.1307) / 0.3081).collect();
    let mut correct = 0usize;
    for (c, labels) in x.chunks(500 * 784).zip(test.labels.chunks(500)) {
        let b = labels.len();
        let xt = Tensor::from_slice(c, (b, 1, 28, 28), &Device::Cpu).unwrap();
        let y = net.forward(&xt).unwrap();
        assert_eq!(y.dims(), &[b, 10]);
        let pred = y.argmax(1).unwrap().to_vec1::<u32>().unwrap();
        correct += pred
            .iter()
            .zip(labels)
            .filter(|&(&p, &l)| p == u32::from(l))
            .count();
    }
    let acc = correct as f64 / 2000.0;
    assert!(
        (acc - 0.9875).abs() <= 0.001 + 1e-12,
        "accuracy {acc} ({correct}/2000), documented 0.9875"
    );
}
