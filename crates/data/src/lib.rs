//! Data sets and pretrained weights for ftnn, verified against `data/SHA256SUMS`.
//!
//! * [`DataDir`]: the data folder (`$FTNN_DATA`, else `data/` above the current directory,
//!   else the repository's `data/`); every file read through it is checked against the
//!   sha256 recorded in `SHA256SUMS`.
//! * MNIST and Fashion-MNIST ([`load_mnist`]): images as f32 in `[0, 1]`, `[N, 784]` or
//!   `[N, 1, 28, 28]`, labels as indices or one-hot.
//! * Boston Housing ([`load_boston`]) with the Keras split ([`Boston::keras_split`]),
//!   computed with our own [`Mt19937`] and numpy's legacy shuffle.
//! * Weights ([`load_safetensors`], [`load_pth`], [`load_mnist_cnn`],
//!   [`load_efficientnet_lite0`], [`load_vgg16`], [`import_vgg16`]): named, shape-checked
//!   tensors ([`NamedTensors`]); [`VggConfig`] gives torchvision's VGG16 names and shapes.
//! * Images ([`images`]): PNG/JPEG decoding and the preprocessing of each shipped network
//!   ([`images::Preprocess`], [`images::load_image`]).
//!
//! Every problem with a file (missing, corrupt, truncated, wrong shape, …) is a
//! [`DataError`] that names the file and says what to do; nothing here panics on bad input.
//!
//! ```no_run
//! use ftnn_data::{load_mnist, DataDir, ImageSet, Split};
//! let dir = DataDir::locate()?;
//! let test = load_mnist(&dir, ImageSet::Mnist, Split::Test)?;
//! assert_eq!(test.label_counts()[1], 1135);
//! # Ok::<(), ftnn_data::DataError>(())
//! ```

/// Re-exported so that callers (e.g. `xtask`) can name devices and tensors without a direct
/// dependency.
pub use candle_core;

mod boston;
mod dir;
mod error;
pub mod images;
mod mnist;
mod mt19937;
mod vgg;
mod weights;

pub use boston::{
    load_boston, load_boston_keras_permutation, parse_boston_csv, parse_permutation, Boston,
    BostonSplit, BOSTON_CSV, BOSTON_SPLIT, KERAS_SEED, KERAS_TEST_SPLIT,
};
pub use dir::{
    clear_checksum_cache, sha256_file, sha256_hex, DataDir, FileCheck, DATA_ENV, MANIFEST,
};
pub use error::{DataError, WeightProblem};
pub use mnist::{
    gunzip, load_mnist, parse_idx_images, parse_idx_labels, parse_idx_pair, ImageData, ImageSet,
    Split, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, NUM_CLASSES,
};
pub use mt19937::{numpy_legacy_permutation, Mt19937};
pub use vgg::{import_vgg16, import_vgg_like, load_vgg16, ImportReport, VggConfig, VggLayer};
pub use weights::{
    efficientnet_lite0_expected, inspect_safetensors, load_efficientnet_lite0, load_mnist_cnn,
    load_pth, load_safetensors, load_weights, mnist_cnn_expected, parse_safetensors, Expected,
    NamedTensors, TensorSpec, EFFICIENTNET_LITE0, EFFICIENTNET_LITE0_ARCH,
    EFFICIENTNET_LITE0_TENSORS, MNIST_CNN_ARCH, MNIST_CNN_PTH, VGG16_HINT, VGG16_SAFETENSORS,
};
