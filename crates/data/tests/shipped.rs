//! Tests on the data shipped in `data/`: checksums, label counts, the Boston facts of
//! `data/README.md` and the two pretrained CNNs.

use candle_core::{DType, Device, Tensor, D};
use ftnn_data::*;

fn dir() -> DataDir {
    DataDir::locate().expect("data folder")
}

#[test]
fn every_shipped_file_matches_its_checksum() {
    let checks = dir().verify_all().unwrap();
    assert!(checks.len() >= 16, "{} files listed", checks.len());
    for c in &checks {
        assert!(c.result.is_ok(), "{}: {:?}", c.name, c.result);
        assert!(c.size.unwrap() > 0);
    }
}

#[test]
fn mnist_sizes_and_label_counts() {
    let d = dir();
    let train = load_mnist(&d, ImageSet::Mnist, Split::Train).unwrap();
    let test = load_mnist(&d, ImageSet::Mnist, Split::Test).unwrap();
    assert_eq!((train.n, train.rows, train.cols), (60_000, 28, 28));
    assert_eq!((test.n, test.rows, test.cols), (10_000, 28, 28));
    assert_eq!(train.images.len(), 60_000 * 784);
    assert_eq!(
        train.label_counts(),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        test.label_counts(),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    // Pixels are byte / 255: within [0, 1], both ends reached, exact multiples of 1/255.
    let (lo, hi) = test
        .images
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    assert_eq!((lo, hi), (0.0, 1.0));
    assert!(test.image(0).iter().all(|&x| {
        let b = (x * 255.0).round();
        (b / 255.0 - x).abs() == 0.0
    }));
    // The first training digit is a 5, the first test digit a 7 (well-known).
    assert_eq!(train.labels[0], 5);
    assert_eq!(test.labels[0], 7);
    let t = test.images_nchw(&Device::Cpu).unwrap();
    assert_eq!(t.dims(), &[10_000, 1, 28, 28]);
    let oh = test.subset(0..3).one_hot_tensor(&Device::Cpu).unwrap();
    assert_eq!(oh.dims(), &[3, 10]);
    assert_eq!(oh.get(0).unwrap().to_vec1::<f32>().unwrap()[7], 1.0);
}

#[test]
fn fashion_mnist_is_balanced() {
    let d = dir();
    let train = load_mnist(&d, ImageSet::FashionMnist, Split::Train).unwrap();
    let test = load_mnist(&d, ImageSet::FashionMnist, Split::Test).unwrap();
    assert_eq!(train.label_counts(), [6000; 10]);
    assert_eq!(test.label_counts(), [1000; 10]);
    assert_eq!(train.images.len(), 60_000 * 784);
}

#[test]
fn boston_facts_and_keras_split() {
    let d = dir();
    let b = load_boston(&d).unwrap();
    assert_eq!((b.n, b.n_features), (506, 13));
    assert_eq!(b.features.len(), 506 * 13);
    assert_eq!(b.feature_names[0], "CRIM");
    assert_eq!(b.feature_names[12], "LSTAT");
    assert_eq!(b.target_name, "MEDV");
    assert_eq!(b.row(0)[0], 0.00632);
    assert_eq!(b.target[0], 24.0);

    // Our MT19937 + legacy shuffle reproduces the committed permutation exactly.
    let committed = load_boston_keras_permutation(&d).unwrap();
    assert_eq!(committed.len(), 506);
    assert_eq!(numpy_legacy_permutation(KERAS_SEED, 506), committed);

    let s = b.keras_split();
    assert_eq!(s, b.split_by(&committed, 404));
    assert_eq!((s.n_train(), s.n_test()), (404, 102));
    assert_eq!(s.x_train.len(), 404 * 13);
    assert_eq!(s.x_test.len(), 102 * 13);
    assert_eq!(&s.y_train[..5], &[15.2, 42.3, 50.0, 21.1, 17.7]);
    assert_eq!(s.y_test[0], 7.2);
    let mean = s.y_train.iter().sum::<f64>() / 404.0;
    assert!((mean - 22.39505).abs() < 5e-6, "mean(y_train) = {mean}");
    assert_eq!(
        s.train_row(0),
        &[1.23247, 0.0, 8.14, 0.0, 0.538, 6.142, 91.7, 3.9769, 4.0, 307.0, 21.0, 396.9, 18.72]
    );
    let [xt, yt, xs, ys] = s.tensors_f32(&Device::Cpu).unwrap();
    assert_eq!(xt.dims(), &[404, 13]);
    assert_eq!(yt.dims(), &[404]);
    assert_eq!(xs.dims(), &[102, 13]);
    assert_eq!(ys.dims(), &[102]);
}

/// The shipped MNIST CNN loads with the shapes of SOURCES.md and, run with candle, classifies
/// the first 500 test digits (≥ 97 %; 98.75 % on the first 2000 was measured independently).
#[test]
fn mnist_cnn_loads_and_classifies() {
    let d = dir();
    let dev = Device::Cpu;
    let w = load_mnist_cnn(&d, &dev).unwrap();
    assert_eq!(w.len(), 10);
    for (name, shape) in mnist_cnn_expected() {
        let t = w.get(&name, &shape).unwrap();
        assert_eq!(t.dtype(), DType::F32, "{name}");
    }

    let test = load_mnist(&d, ImageSet::Mnist, Split::Test)
        .unwrap()
        .subset(0..500);
    let x = ((test.images_nchw(&dev).unwrap() - 0.1307).unwrap() / 0.3081).unwrap();
    let conv = |x: &Tensor, i: usize, cin: usize, cout: usize| -> Tensor {
        let wt = w
            .get(&format!("conv_layers.{i}.weight"), &[cout, cin, 3, 3])
            .unwrap();
        let b = w.get(&format!("conv_layers.{i}.bias"), &[cout]).unwrap();
        x.conv2d(&wt, 1, 1, 1, 1)
            .unwrap()
            .broadcast_add(&b.reshape((1, cout, 1, 1)).unwrap())
            .unwrap()
            .relu()
            .unwrap()
            .max_pool2d(2)
            .unwrap()
    };
    let x = conv(&x, 0, 1, 32);
    let x = conv(&x, 3, 32, 64);
    let x = conv(&x, 6, 64, 128);
    let x = x.flatten_from(1).unwrap();
    assert_eq!(x.dims(), &[500, 1152]);
    let dense = |x: &Tensor, i: usize, fin: usize, fout: usize| -> Tensor {
        let wt = w
            .get(&format!("fc_layers.{i}.weight"), &[fout, fin])
            .unwrap();
        let b = w.get(&format!("fc_layers.{i}.bias"), &[fout]).unwrap();
        x.matmul(&wt.t().unwrap())
            .unwrap()
            .broadcast_add(&b)
            .unwrap()
    };
    let x = dense(&x, 0, 1152, 256).relu().unwrap();
    let logits = dense(&x, 2, 256, 10);
    let pred: Vec<u32> = logits.argmax(D::Minus1).unwrap().to_vec1().unwrap();
    let correct = pred
        .iter()
        .zip(&test.labels)
        .filter(|(p, l)| **p == u32::from(**l))
        .count();
    assert!(correct >= 485, "accuracy {correct}/500");
}

#[test]
fn efficientnet_lite0_loads() {
    let w = load_efficientnet_lite0(&dir(), &Device::Cpu).unwrap();
    assert_eq!(w.len(), 296);
    assert_eq!(
        w.get("_conv_stem.weight", &[32, 3, 3, 3]).unwrap().dtype(),
        DType::F32
    );
    w.get("_fc.weight", &[1000, 1280]).unwrap();
    w.get("_blocks.0._depthwise_conv.weight", &[32, 1, 3, 3])
        .unwrap();
    assert!(w.metadata().is_empty());
    // 4.65 M parameters plus 49 BatchNorm counters.
    let params: usize = w
        .iter()
        .filter(|(n, _)| !n.ends_with("num_batches_tracked"))
        .map(|(_, t)| t.elem_count())
        .sum();
    assert!((4_600_000..4_700_000).contains(&params), "{params}");
}

#[test]
fn load_weights_detects_the_format() {
    let d = dir();
    let pth = load_weights(d.file(MNIST_CNN_PTH), &Device::Cpu).unwrap();
    assert_eq!(pth.len(), 10);
    let st = load_weights(d.file(EFFICIENTNET_LITE0), &Device::Cpu).unwrap();
    assert_eq!(st.len(), 296);
}
