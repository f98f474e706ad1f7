//! Bad input gives a clear, typed error that names the file — never a panic.
//!
//! Each test builds a small fake data folder in a temporary directory, with its own
//! `SHA256SUMS`, so that the loaders get past the checksum and reach the parser.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use flate2::{write::GzEncoder, Compression};
use ftnn_data::*;
use tempfile::TempDir;

/// A fake data folder whose manifest lists every file written through it.
struct Fake {
    tmp: TempDir,
    sums: Vec<(String, String)>,
}

impl Fake {
    fn new() -> Self {
        Fake {
            tmp: tempfile::tempdir().unwrap(),
            sums: Vec::new(),
        }
    }

    fn dir(&self) -> DataDir {
        DataDir::new(self.tmp.path())
    }

    /// Writes a file and records its (true) checksum.
    fn put(&mut self, name: &str, bytes: &[u8]) {
        self.put_with_sum(name, bytes, &sha256_hex(bytes));
    }

    /// Writes a file and records the given checksum.
    fn put_with_sum(&mut self, name: &str, bytes: &[u8], sum: &str) {
        let path = self.tmp.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        self.sums.retain(|(n, _)| n != name);
        self.sums.push((name.to_owned(), sum.to_owned()));
        let manifest: String = self
            .sums
            .iter()
            .map(|(n, s)| format!("{s}  ./{n}\n"))
            .collect();
        std::fs::write(self.tmp.path().join(MANIFEST), manifest).unwrap();
    }
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn idx_images(magic: u32, n: u32, rows: u32, cols: u32, body_len: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [magic, n, rows, cols] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend((0..body_len).map(|i| (i % 256) as u8));
    v
}

fn idx_labels(magic: u32, labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&magic.to_be_bytes());
    v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

const IMAGES: &str = "mnist/t10k-images-idx3-ubyte.gz";
const LABELS: &str = "mnist/t10k-labels-idx1-ubyte.gz";

/// A fake folder with valid MNIST-shaped test files of 3 images.
fn fake_mnist() -> Fake {
    let mut f = Fake::new();
    f.put(
        IMAGES,
        &gz(&idx_images(IDX_IMAGES_MAGIC, 3, 28, 28, 3 * 784)),
    );
    f.put(LABELS, &gz(&idx_labels(IDX_LABELS_MAGIC, &[1, 2, 3])));
    f
}

fn load_test(f: &Fake) -> Result<ImageData, DataError> {
    load_mnist(&f.dir(), ImageSet::Mnist, Split::Test)
}

/// Asserts the error's message names the file `name` and returns the message.
fn names(err: &DataError, name: &str) -> String {
    let msg = err.to_string();
    let file = Path::new(name).file_name().unwrap().to_str().unwrap();
    assert!(msg.contains(file), "message does not name `{file}`: {msg}");
    assert!(err.path().is_some_and(|p| p.ends_with(name)), "{err:?}");
    msg
}

#[test]
fn a_valid_fake_set_loads() {
    let d = load_test(&fake_mnist()).unwrap();
    assert_eq!((d.n, d.labels.clone()), (3, vec![1, 2, 3]));
    assert_eq!(d.images[1], 1.0 / 255.0);
}

#[test]
fn bad_idx_magic() {
    let mut f = fake_mnist();
    f.put(IMAGES, &gz(&idx_images(0x0000_0801, 3, 28, 28, 3 * 784)));
    let err = load_test(&f).unwrap_err();
    assert!(matches!(err, DataError::Corrupt { .. }), "{err:?}");
    assert!(names(&err, IMAGES).contains("magic"));

    let mut f = fake_mnist();
    f.put(LABELS, &gz(&idx_labels(0x0000_0803, &[1, 2, 3])));
    let err = load_test(&f).unwrap_err();
    assert!(names(&err, LABELS).contains("magic"));
}

#[test]
fn truncated_idx_body_and_header() {
    let mut f = fake_mnist();
    f.put(
        IMAGES,
        &gz(&idx_images(IDX_IMAGES_MAGIC, 3, 28, 28, 2 * 784 + 5)),
    );
    let err = load_test(&f).unwrap_err();
    assert!(matches!(err, DataError::Corrupt { .. }));
    assert!(names(&err, IMAGES).contains("truncated"));

    let mut f = fake_mnist();
    f.put(LABELS, &gz(&[0, 0, 8]));
    let err = load_test(&f).unwrap_err();
    assert!(names(&err, LABELS).contains("truncated"));
}

#[test]
fn dimension_mismatches() {
    // More labels than images.
    let mut f = fake_mnist();
    f.put(LABELS, &gz(&idx_labels(IDX_LABELS_MAGIC, &[1, 2, 3, 4])));
    let err = load_test(&f).unwrap_err();
    assert!(names(&err, LABELS).contains("dimension mismatch"));
    // Body longer than the header says.
    let mut f = fake_mnist();
    f.put(
        IMAGES,
        &gz(&idx_images(IDX_IMAGES_MAGIC, 3, 28, 28, 4 * 784)),
    );
    let err = load_test(&f).unwrap_err();
    assert!(names(&err, IMAGES).contains("dimension mismatch"));
    // Not 28×28.
    let mut f = fake_mnist();
    f.put(
        IMAGES,
        &gz(&idx_images(IDX_IMAGES_MAGIC, 3, 20, 20, 3 * 400)),
    );
    let err = load_test(&f).unwrap_err();
    assert!(names(&err, IMAGES).contains("28×28"));
    // A label that is not a class.
    let mut f = fake_mnist();
    f.put(LABELS, &gz(&idx_labels(IDX_LABELS_MAGIC, &[1, 12, 3])));
    let err = load_test(&f).unwrap_err();
    assert!(names(&err, LABELS).contains("label 12"));
}

#[test]
fn corrupt_and_truncated_gzip() {
    let good = gz(&idx_images(IDX_IMAGES_MAGIC, 3, 28, 28, 3 * 784));
    // Truncated stream.
    let mut f = fake_mnist();
    f.put(IMAGES, &good[..good.len() / 2]);
    let err = load_test(&f).unwrap_err();
    assert!(matches!(err, DataError::Corrupt { .. }));
    assert!(names(&err, IMAGES).contains("gzip"));
    // Flipped bytes in the deflate data (the CRC or the stream fails).
    let mut bad = good.clone();
    for b in &mut bad[20..40] {
        *b ^= 0x5a;
    }
    let mut f = fake_mnist();
    f.put(IMAGES, &bad);
    let err = load_test(&f).unwrap_err();
    assert!(matches!(err, DataError::Corrupt { .. }), "{err:?}");
    names(&err, IMAGES);
    // Not gzip at all.
    let mut f = fake_mnist();
    f.put(IMAGES, &idx_images(IDX_IMAGES_MAGIC, 3, 28, 28, 3 * 784));
    let err = load_test(&f).unwrap_err();
    assert!(names(&err, IMAGES).contains("not a gzip file"));
}

#[test]
fn checksum_mismatch_missing_and_unlisted_files() {
    let mut f = fake_mnist();
    let bytes = gz(&idx_labels(IDX_LABELS_MAGIC, &[1, 2, 3]));
    f.put_with_sum(LABELS, &bytes, &"0".repeat(64));
    let err = load_test(&f).unwrap_err();
    match &err {
        DataError::ChecksumMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, &"0".repeat(64));
            assert_eq!(actual, &sha256_hex(&bytes));
        }
        other => panic!("{other:?}"),
    }
    let msg = names(&err, LABELS);
    assert!(msg.contains("git checkout") && msg.contains("cargo xtask data verify"));

    // Listed but missing.
    let f = fake_mnist();
    std::fs::remove_file(f.tmp.path().join(IMAGES)).unwrap();
    let err = load_test(&f).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }));
    assert!(names(&err, IMAGES).contains("git checkout"));

    // Present but not listed.
    let f = fake_mnist();
    let err = load_mnist(&f.dir(), ImageSet::FashionMnist, Split::Test).unwrap_err();
    assert!(matches!(
        err,
        DataError::Missing { .. } | DataError::Unlisted { .. }
    ));
    let f = fake_mnist();
    std::fs::create_dir_all(f.tmp.path().join("fashion-mnist")).unwrap();
    std::fs::copy(
        f.tmp.path().join(IMAGES),
        f.tmp.path().join("fashion-mnist/t10k-images-idx3-ubyte.gz"),
    )
    .unwrap();
    let err = load_mnist(&f.dir(), ImageSet::FashionMnist, Split::Test).unwrap_err();
    assert!(matches!(err, DataError::Unlisted { .. }), "{err:?}");
    assert!(err.to_string().contains("SHA256SUMS"));

    // No manifest at all.
    let f = fake_mnist();
    std::fs::remove_file(f.tmp.path().join(MANIFEST)).unwrap();
    let err = load_test(&f).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }));
    names(&err, MANIFEST);

    // verify_all reports each file, the bad one included.
    let mut f = fake_mnist();
    f.put_with_sum(LABELS, &bytes, &"0".repeat(64));
    let checks = f.dir().verify_all().unwrap();
    assert_eq!(checks.len(), 2);
    assert!(checks.iter().any(|c| c.name == LABELS && c.result.is_err()));
    assert!(checks.iter().any(|c| c.name == IMAGES && c.result.is_ok()));
}

#[test]
fn a_modified_file_is_rehashed_after_a_successful_load() {
    let mut f = fake_mnist();
    load_test(&f).unwrap();
    // Same length, different content, manifest unchanged: the cache must not hide it.
    let good = gz(&idx_labels(IDX_LABELS_MAGIC, &[1, 2, 3]));
    let sum = sha256_hex(&good);
    let mut bad = good.clone();
    let k = bad.len() - 1;
    bad[k] ^= 1;
    std::thread::sleep(std::time::Duration::from_millis(20));
    f.put_with_sum(LABELS, &bad, &sum);
    let err = load_test(&f).unwrap_err();
    assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err:?}");
}

const CSV: &str = "boston_house_prices.csv";

fn boston_csv(rows: &[&str]) -> String {
    let mut s = format!("{},3,,,\n\"A\",\"B\",\"C\",\"MEDV\"\n", rows.len());
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

fn boston_err(text: &str) -> DataError {
    let mut f = Fake::new();
    f.put(CSV, text.as_bytes());
    load_boston(&f.dir()).unwrap_err()
}

#[test]
fn boston_csv_good_and_bad_rows() {
    let mut f = Fake::new();
    f.put(CSV, boston_csv(&["1,2,3,4", "5,6,7,8"]).as_bytes());
    let b = load_boston(&f.dir()).unwrap();
    assert_eq!(
        (b.n, b.n_features, b.target.clone()),
        (2, 3, vec![4.0, 8.0])
    );
    assert_eq!(b.feature_names, ["A", "B", "C"]);

    let err = boston_err(&boston_csv(&["1,2,3,4", "5,6,7"]));
    match &err {
        DataError::Csv { line, reason, .. } => {
            assert_eq!(*line, 4);
            assert!(reason.contains("3 fields, expected 4"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(names(&err, CSV).contains("line 4"));

    let err = boston_err(&boston_csv(&["1,2,x3,4", "5,6,7,8"]));
    match &err {
        DataError::Csv { line, reason, .. } => {
            assert_eq!(*line, 3);
            assert!(
                reason.contains("not a number") && reason.contains("x3"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    names(&err, CSV);

    let err = boston_err(&boston_csv(&["1,2,3,NaN", "5,6,7,8"]));
    assert!(matches!(err, DataError::Csv { line: 3, .. }), "{err:?}");

    // Fewer rows than announced.
    let text = boston_csv(&["1,2,3,4", "5,6,7,8"]).replacen("2,3", "5,3", 1);
    let err = boston_err(&text);
    assert!(names(&err, CSV).contains("truncated"));

    // Bad first line, missing names line, empty file.
    let err = boston_err("rows,3\n");
    assert!(matches!(err, DataError::Csv { line: 1, .. }), "{err:?}");
    let err = boston_err("2,3\n");
    assert!(matches!(err, DataError::Csv { line: 2, .. }), "{err:?}");
    let err = boston_err("");
    assert!(matches!(err, DataError::Corrupt { .. }), "{err:?}");
}

#[test]
fn bad_permutation_file() {
    let mut f = Fake::new();
    f.put(BOSTON_SPLIT, b"0\n2\n2\n");
    let err = load_boston_keras_permutation(&f.dir()).unwrap_err();
    assert!(names(&err, BOSTON_SPLIT).contains("not a permutation"));
    f.put(BOSTON_SPLIT, b"0\nx\n");
    let err = load_boston_keras_permutation(&f.dir()).unwrap_err();
    assert!(matches!(err, DataError::Csv { line: 2, .. }));
}

/// Random tensors for every entry of an expected table.
fn random_tensors(expected: &[(String, Vec<usize>)]) -> HashMap<String, Tensor> {
    expected
        .iter()
        .map(|(n, s)| {
            (
                n.clone(),
                Tensor::randn(0f32, 0.1, s.as_slice(), &Device::Cpu).unwrap(),
            )
        })
        .collect()
}

fn small_vgg() -> VggConfig {
    VggConfig::vgg16_scaled(32, 16, 10, 1)
}

#[test]
fn small_vgg_safetensors_validates_imports_and_loads() {
    let cfg = small_vgg();
    let expected = cfg.expected_shapes();
    assert_eq!(expected.len(), 32);
    assert!(expected.contains(&("features.0.weight".into(), vec![2, 3, 3, 3])));
    assert!(expected.contains(&("classifier.0.weight".into(), vec![16, 16])));

    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("my-vgg.safetensors");
    let mut tensors = random_tensors(&expected);
    tensors.insert(
        "extra.tensor".into(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &src).unwrap();

    assert_eq!(cfg.validate_file(&src).unwrap(), vec!["extra.tensor"]);
    let w = load_safetensors(&src, &Device::Cpu).unwrap();
    assert_eq!(
        w.validate("small VGG", &expected).unwrap(),
        vec!["extra.tensor"]
    );
    let t = w.get("features.28.weight", &[16, 16, 3, 3]).unwrap();
    assert_eq!(t.dtype(), DType::F32);

    // Import into a data folder, then it is where the loaders look for it.
    let data = DataDir::new(tmp.path().join("data"));
    let report = import_vgg_like(&src, &data, &cfg).unwrap();
    assert_eq!(report.destination, data.file(VGG16_SAFETENSORS));
    assert_eq!(report.tensors, 32);
    assert_eq!(report.extra, vec!["extra.tensor"]);
    let copied = std::fs::read(&report.destination).unwrap();
    assert_eq!(copied, std::fs::read(&src).unwrap());
    // The real VGG16 table rejects the small network, listing every tensor.
    let err = load_vgg16(&data, &Device::Cpu).unwrap_err();
    match &err {
        DataError::WeightsMismatch { problems, .. } => assert_eq!(problems.len(), 32),
        other => panic!("{other:?}"),
    }
}

#[test]
fn weights_with_missing_tensor_or_wrong_shape() {
    let cfg = small_vgg();
    let expected = cfg.expected_shapes();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("broken-vgg.safetensors");
    let mut tensors = random_tensors(&expected);
    tensors.remove("features.5.bias");
    tensors.insert(
        "classifier.3.weight".into(),
        Tensor::zeros((16, 17), DType::F32, &Device::Cpu).unwrap(),
    );
    tensors.insert(
        "classifier.6.bias".into(),
        Tensor::zeros(10, DType::I64, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &src).unwrap();

    // Header validation reports all three problems at once.
    let err = cfg.validate_file(&src).unwrap_err();
    match &err {
        DataError::WeightsMismatch { problems, .. } => {
            assert_eq!(problems.len(), 3, "{problems:?}");
            assert!(problems.contains(&WeightProblem::Missing {
                name: "features.5.bias".into(),
                expected: vec![4],
            }));
            assert!(problems.contains(&WeightProblem::WrongShape {
                name: "classifier.3.weight".into(),
                expected: vec![16, 16],
                actual: vec![16, 17],
            }));
        }
        other => panic!("{other:?}"),
    }
    let msg = names(&err, "broken-vgg.safetensors");
    assert!(msg.contains("features.5.bias") && msg.contains("classifier.3.weight"));

    // The import refuses it and writes nothing.
    let data = DataDir::new(tmp.path().join("data"));
    assert!(import_vgg_like(&src, &data, &cfg).is_err());
    assert!(!data.file(VGG16_SAFETENSORS).exists());

    // Shape-checked access on loaded tensors.
    let w = load_safetensors(&src, &Device::Cpu).unwrap();
    let err = w.get("features.5.bias", &[4]).unwrap_err();
    assert!(matches!(err, DataError::MissingTensor { .. }));
    names(&err, "broken-vgg.safetensors");
    let err = w.get("classifier.3.weight", &[16, 16]).unwrap_err();
    match &err {
        DataError::WrongShape {
            expected, actual, ..
        } => assert_eq!(
            (expected.clone(), actual.clone()),
            (vec![16, 16], vec![16, 17])
        ),
        other => panic!("{other:?}"),
    }
    assert!(names(&err, "broken-vgg.safetensors").contains("[16, 17]"));
    let err = w.validate("small VGG", &expected).unwrap_err();
    assert!(matches!(err, DataError::WeightsMismatch { ref problems, .. } if problems.len() == 2));
}

#[test]
fn unreadable_weights_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dev = Device::Cpu;
    // Truncated safetensors.
    let src = tmp.path().join("cut.safetensors");
    let t = random_tensors(&[("a".into(), vec![4, 4])]);
    candle_core::safetensors::save(&t, &src).unwrap();
    let bytes = std::fs::read(&src).unwrap();
    std::fs::write(&src, &bytes[..bytes.len() - 10]).unwrap();
    let err = load_safetensors(&src, &dev).unwrap_err();
    assert!(matches!(err, DataError::Weights { .. }), "{err:?}");
    names(&err, "cut.safetensors");
    let err = inspect_safetensors(&src).unwrap_err();
    assert!(names(&err, "cut.safetensors").contains("truncated"));
    // Garbage.
    let junk = tmp.path().join("junk.safetensors");
    std::fs::write(&junk, b"hello").unwrap();
    assert!(matches!(
        load_safetensors(&junk, &dev).unwrap_err(),
        DataError::Weights { .. }
    ));
    assert!(matches!(
        VggConfig::vgg16().validate_file(&junk).unwrap_err(),
        DataError::Weights { .. }
    ));
    // Not a zip / a broken zip for the PyTorch reader.
    let err = load_pth(&junk, &dev).unwrap_err();
    assert!(names(&err, "junk.safetensors").contains("not a zip"));
    let pth = tmp.path().join("broken.pth");
    std::fs::write(&pth, b"PK\x03\x04 this is not really a zip archive").unwrap();
    let err = load_pth(&pth, &dev).unwrap_err();
    assert!(matches!(err, DataError::Weights { .. }), "{err:?}");
    names(&err, "broken.pth");
    // A shipped .pth cut in half.
    let real = DataDir::locate().unwrap().file(MNIST_CNN_PTH);
    let half = std::fs::read(real).unwrap();
    std::fs::write(&pth, &half[..half.len() / 2]).unwrap();
    let err = load_pth(&pth, &dev).unwrap_err();
    assert!(matches!(err, DataError::Weights { .. }), "{err:?}");
    // Missing files.
    let err = load_pth(tmp.path().join("nope.pth"), &dev).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }));
    names(&err, "nope.pth");
    let err = load_safetensors(tmp.path().join("nope.safetensors"), &dev).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }));
}

#[test]
fn absent_vgg16_says_how_to_import_it() {
    let f = Fake::new();
    let err = load_vgg16(&f.dir(), &Device::Cpu).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }));
    let msg = names(&err, VGG16_SAFETENSORS);
    assert!(msg.contains("cargo xtask data import-vgg16"), "{msg}");
}

#[test]
fn shipped_weights_with_a_bad_checksum_are_refused() {
    let real = DataDir::locate().unwrap();
    let mut f = Fake::new();
    let bytes = std::fs::read(real.file(MNIST_CNN_PTH)).unwrap();
    f.put_with_sum(MNIST_CNN_PTH, &bytes, &"1".repeat(64));
    let err = load_mnist_cnn(&f.dir(), &Device::Cpu).unwrap_err();
    assert!(matches!(err, DataError::ChecksumMismatch { .. }));
    names(&err, MNIST_CNN_PTH);
}
