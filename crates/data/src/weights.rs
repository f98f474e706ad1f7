//! Pretrained weights: named, shape-checked tensors from safetensors files and PyTorch zip
//! state dicts, with the expected-shape tables of the CNNs the experiments use.
//!
//! * [`load_safetensors`] / [`load_pth`] / [`load_weights`] read any file (no checksum);
//! * [`load_mnist_cnn`], [`load_efficientnet_lite0`] read the shipped files of the data
//!   folder (checksum verified, architecture checked);
//! * the VGG configuration, loader and importer are in [`crate::vgg`].

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::dir::DataDir;
use crate::error::{DataError, WeightProblem};

/// Relative name of the trained MNIST CNN (PyTorch zip state dict).
pub const MNIST_CNN_PTH: &str = "models/mnist-cnn.pth";
/// The architecture of [`MNIST_CNN_PTH`] as Sequential JSON (SPEC §11), relative to `data/`.
pub const MNIST_CNN_ARCH: &str = "models/mnist-cnn.arch.json";
/// Relative name of EfficientNet-Lite0 (safetensors, lukemelas naming).
pub const EFFICIENTNET_LITE0: &str = "models/efficientnet-lite0.safetensors";
/// The architecture of [`EFFICIENTNET_LITE0`] as Sequential JSON (SPEC §11, with `zeropad2d`
/// and `add`), relative to `data/`.
pub const EFFICIENTNET_LITE0_ARCH: &str = "models/efficientnet-lite0.arch.json";
/// Relative name of the user-imported VGG16 weights (not shipped, git-ignored).
pub const VGG16_SAFETENSORS: &str = "models/vgg16.safetensors";
/// Number of tensors of `efficientnet-lite0.safetensors` (BatchNorm counters included).
pub const EFFICIENTNET_LITE0_TENSORS: usize = 296;

/// What to do when the VGG16 weights are absent.
pub const VGG16_HINT: &str =
    "VGG16 weights are not shipped (528 MB). Get torchvision's `vgg16` ImageNet weights, save \
     the state dict as safetensors (torchvision naming `features.N.*` / `classifier.N.*`), then \
     run `cargo xtask data import-vgg16 PATH`";

/// Tensors of a weights file, by name.
#[derive(Debug, Clone)]
pub struct NamedTensors {
    path: PathBuf,
    tensors: BTreeMap<String, Tensor>,
    metadata: BTreeMap<String, String>,
}

/// An expected tensor: name and shape.
pub type Expected = (String, Vec<usize>);

impl NamedTensors {
    /// Wraps tensors read from `path` (used in error messages).
    pub fn new(
        path: impl Into<PathBuf>,
        tensors: BTreeMap<String, Tensor>,
        metadata: BTreeMap<String, String>,
    ) -> Self {
        NamedTensors {
            path: path.into(),
            tensors,
            metadata,
        }
    }

    /// The file the tensors came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// True when there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// `(name, tensor)` pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The safetensors `__metadata__` (empty for PyTorch files).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Total number of scalar values over all tensors.
    pub fn num_elements(&self) -> usize {
        self.tensors.values().map(Tensor::elem_count).sum()
    }

    /// The tensor `name`, whatever its shape, if present.
    pub fn try_get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// The tensor `name`, which must have shape `expected` (dtype as stored).
    pub fn get(&self, name: &str, expected: &[usize]) -> Result<Tensor, DataError> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| DataError::MissingTensor {
                path: self.path.clone(),
                name: name.to_owned(),
                expected: expected.to_vec(),
            })?;
        if t.dims() != expected {
            return Err(DataError::WrongShape {
                path: self.path.clone(),
                name: name.to_owned(),
                expected: expected.to_vec(),
                actual: t.dims().to_vec(),
            });
        }
        Ok(t.clone())
    }

    /// Like [`NamedTensors::get`], converted to f32.
    pub fn get_f32(&self, name: &str, expected: &[usize]) -> Result<Tensor, DataError> {
        Ok(self.get(name, expected)?.to_dtype(DType::F32)?)
    }

    /// Names and shapes of all tensors, sorted by name.
    pub fn shapes(&self) -> Vec<Expected> {
        self.tensors
            .iter()
            .map(|(k, t)| (k.clone(), t.dims().to_vec()))
            .collect()
    }

    /// Checks every expected tensor at once; errors with [`DataError::WeightsMismatch`]
    /// listing every missing or mis-shaped tensor. Extra tensors are allowed and returned.
    pub fn validate(
        &self,
        architecture: &str,
        expected: &[Expected],
    ) -> Result<Vec<String>, DataError> {
        let found: BTreeMap<String, TensorSpec> = self
            .tensors
            .iter()
            .map(|(k, t)| {
                (
                    k.clone(),
                    TensorSpec {
                        shape: t.dims().to_vec(),
                        dtype: format!("{:?}", t.dtype()),
                        is_float: t.dtype().is_float(),
                    },
                )
            })
            .collect();
        check_against(&self.path, architecture, expected, &found, false)
    }

    /// The tensors, by name.
    pub fn into_map(self) -> BTreeMap<String, Tensor> {
        self.tensors
    }
}

/// Name-independent description of a stored tensor (from a safetensors header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Shape.
    pub shape: Vec<usize>,
    /// Stored dtype, as written by the format (`F32`, `I64`, …).
    pub dtype: String,
    /// Whether the dtype is a floating-point type.
    pub is_float: bool,
}

/// The header of a safetensors file, see [`inspect_safetensors`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetensorsHeader {
    /// Tensor name → shape and dtype.
    pub tensors: BTreeMap<String, TensorSpec>,
    /// The `__metadata__` entries.
    pub metadata: BTreeMap<String, String>,
}

/// Compares found tensors with an expected table; all problems are reported together.
/// Returns the names of unexpected extra tensors.
pub(crate) fn check_against(
    path: &Path,
    architecture: &str,
    expected: &[Expected],
    found: &BTreeMap<String, TensorSpec>,
    require_float: bool,
) -> Result<Vec<String>, DataError> {
    let mut problems = Vec::new();
    for (name, shape) in expected {
        match found.get(name) {
            None => problems.push(WeightProblem::Missing {
                name: name.clone(),
                expected: shape.clone(),
            }),
            Some(spec) if &spec.shape != shape => problems.push(WeightProblem::WrongShape {
                name: name.clone(),
                expected: shape.clone(),
                actual: spec.shape.clone(),
            }),
            Some(spec) if require_float && !spec.is_float => {
                problems.push(WeightProblem::WrongDtype {
                    name: name.clone(),
                    actual: spec.dtype.clone(),
                })
            }
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return Err(DataError::WeightsMismatch {
            path: path.to_owned(),
            architecture: architecture.to_owned(),
            problems,
        });
    }
    let expected_names: std::collections::HashSet<&str> =
        expected.iter().map(|(n, _)| n.as_str()).collect();
    Ok(found
        .keys()
        .filter(|k| !expected_names.contains(k.as_str()))
        .cloned()
        .collect())
}

fn weights_err(path: &Path, reason: impl std::fmt::Display) -> DataError {
    DataError::Weights {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

fn read_file(path: &Path, hint: &str) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|e| DataError::from_io(path, e, hint))
}

const USER_FILE_HINT: &str = "check the path";

/// Parses safetensors bytes into tensors on `device` (path used in messages).
pub fn parse_safetensors(
    path: &Path,
    bytes: &[u8],
    device: &Device,
) -> Result<NamedTensors, DataError> {
    let (_, meta) =
        safetensors::SafeTensors::read_metadata(bytes).map_err(|e| weights_err(path, e))?;
    let metadata: BTreeMap<String, String> = meta
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let tensors = candle_core::safetensors::load_buffer(bytes, device)
        .map_err(|e| weights_err(path, e))?
        .into_iter()
        .collect();
    Ok(NamedTensors::new(path, tensors, metadata))
}

/// Reads a safetensors file (any path; no checksum) onto `device`.
pub fn load_safetensors(
    path: impl AsRef<Path>,
    device: &Device,
) -> Result<NamedTensors, DataError> {
    let path = path.as_ref();
    let bytes = read_file(path, USER_FILE_HINT)?;
    parse_safetensors(path, &bytes, device)
}

/// Reads the header of a safetensors file only (cheap even for 500 MB files) and checks
/// that the file length matches it: tensor name → shape and dtype, plus `__metadata__`.
pub fn inspect_safetensors(path: impl AsRef<Path>) -> Result<SafetensorsHeader, DataError> {
    let path = path.as_ref();
    let mut file =
        std::fs::File::open(path).map_err(|e| DataError::from_io(path, e, USER_FILE_HINT))?;
    let io = |e: std::io::Error| DataError::Io {
        path: path.to_owned(),
        source: e,
    };
    let file_len = file.metadata().map_err(io)?.len();
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes).map_err(|_| {
        weights_err(
            path,
            "file shorter than the 8-byte safetensors header length",
        )
    })?;
    let n = u64::from_le_bytes(len_bytes);
    if n > 100_000_000 || n + 8 > file_len {
        return Err(weights_err(
            path,
            format!("header length {n} does not fit a {file_len}-byte file"),
        ));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(io)?;
    let meta: safetensors::tensor::Metadata = serde_json::from_slice(&header)
        .map_err(|e| weights_err(path, format!("bad header: {e}")))?;
    let data_len = meta.data_len() as u64;
    // A valid header can describe up to 2⁶⁴ − 8 bytes of data: add without wrapping.
    if 8u64.checked_add(n).and_then(|x| x.checked_add(data_len)) != Some(file_len) {
        return Err(weights_err(
            path,
            format!(
                "truncated or padded: header describes {} bytes of data, the file holds {}",
                data_len,
                file_len - 8 - n
            ),
        ));
    }
    let specs = meta
        .tensors()
        .into_iter()
        .map(|(name, info)| {
            let dtype = format!("{:?}", info.dtype);
            let is_float = matches!(
                info.dtype,
                safetensors::Dtype::F16
                    | safetensors::Dtype::BF16
                    | safetensors::Dtype::F32
                    | safetensors::Dtype::F64
            );
            (
                name,
                TensorSpec {
                    shape: info.shape.clone(),
                    dtype,
                    is_float,
                },
            )
        })
        .collect();
    let metadata = meta
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok(SafetensorsHeader {
        tensors: specs,
        metadata,
    })
}

/// Reads a PyTorch zip-format state dict (`torch.save(model.state_dict())`) through candle's
/// pickle reader, onto `device` (any path; no checksum).
pub fn load_pth(path: impl AsRef<Path>, device: &Device) -> Result<NamedTensors, DataError> {
    let path = path.as_ref();
    // Open first, so that a missing file is reported as such rather than as a zip error.
    let mut file =
        std::fs::File::open(path).map_err(|e| DataError::from_io(path, e, USER_FILE_HINT))?;
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() || &magic != b"PK\x03\x04" {
        return Err(weights_err(
            path,
            "not a zip archive; only the zip format of torch.save (PyTorch ≥ 1.6) is supported",
        ));
    }
    let file_len = file
        .metadata()
        .map_err(|e| DataError::from_io(path, e, USER_FILE_HINT))?
        .len();
    drop(file);
    // candle's pickle reader trusts the file: it shifts, multiplies and indexes without
    // checks (panics on a corrupt pickle) and allocates whatever shape the pickle announces
    // (an abort on a huge one). So: read the tensor table first, under a guard, check every
    // tensor's size against the file, and only then read the data (under the guard too).
    let infos = guard_panics(path, || {
        candle_core::pickle::read_pth_tensor_info(path, false, None)
    })?;
    for info in &infos {
        let layout = &info.layout;
        let bytes = layout
            .dims()
            .iter()
            .try_fold(info.dtype.size_in_bytes(), |a, &d| a.checked_mul(d))
            .and_then(|b| b.checked_add(layout.start_offset()));
        // torch.save stores its entries uncompressed: a tensor cannot hold more than the file.
        if bytes.is_none_or(|b| b as u64 > file_len) {
            return Err(weights_err(
                path,
                format!(
                    "tensor `{}` of shape {:?} ({:?}, offset {} bytes) needs more bytes than the \
                     {file_len}-byte file holds; the archive is corrupt",
                    info.name,
                    layout.dims(),
                    info.dtype,
                    layout.start_offset()
                ),
            ));
        }
    }
    let list = guard_panics(path, || candle_core::pickle::read_all(path))?;
    if list.is_empty() {
        return Err(weights_err(path, "no tensors found (is it a state dict?)"));
    }
    let mut tensors = BTreeMap::new();
    for (name, t) in list {
        let t = if device.is_cpu() {
            t
        } else {
            t.to_device(device)?
        };
        tensors.insert(name, t);
    }
    Ok(NamedTensors::new(path, tensors, BTreeMap::new()))
}

/// Runs a reader of an untrusted file and turns a panic inside it into an error on the file.
fn guard_panics<T>(
    path: &Path,
    read: impl FnOnce() -> candle_core::Result<T>,
) -> Result<T, DataError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(result) => result.map_err(|e| weights_err(path, e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(weights_err(
                path,
                format!("corrupt PyTorch archive: its pickle cannot be read ({what})"),
            ))
        }
    }
}

/// Reads a weights file of either format: PyTorch zip (detected by its `PK` magic) or
/// safetensors.
pub fn load_weights(path: impl AsRef<Path>, device: &Device) -> Result<NamedTensors, DataError> {
    let path = path.as_ref();
    let mut magic = [0u8; 4];
    let is_zip = std::fs::File::open(path)
        .map_err(|e| DataError::from_io(path, e, USER_FILE_HINT))?
        .read_exact(&mut magic)
        .is_ok()
        && &magic == b"PK\x03\x04";
    if is_zip {
        load_pth(path, device)
    } else {
        load_safetensors(path, device)
    }
}

/// Names and shapes of the shipped MNIST CNN (`conv_layers.{0,3,6}`, `fc_layers.{0,2}`):
/// conv 1→32, 32→64, 64→128 (3×3), linear 1152→256, 256→10.
pub fn mnist_cnn_expected() -> Vec<Expected> {
    let mut v = Vec::new();
    for (i, (cin, cout)) in [(0usize, (1usize, 32usize)), (3, (32, 64)), (6, (64, 128))] {
        v.push((format!("conv_layers.{i}.weight"), vec![cout, cin, 3, 3]));
        v.push((format!("conv_layers.{i}.bias"), vec![cout]));
    }
    for (i, (fin, fout)) in [(0usize, (1152usize, 256usize)), (2, (256, 10))] {
        v.push((format!("fc_layers.{i}.weight"), vec![fout, fin]));
        v.push((format!("fc_layers.{i}.bias"), vec![fout]));
    }
    v
}

/// Fixed-shape tensors of EfficientNet-Lite0 (stem, head, classifier, their BatchNorms) and
/// the weight of every block's depthwise and project convolutions (shape not fixed here).
pub fn efficientnet_lite0_expected() -> Vec<Expected> {
    let mut v = vec![
        ("_conv_stem.weight".to_owned(), vec![32, 3, 3, 3]),
        ("_conv_head.weight".to_owned(), vec![1280, 320, 1, 1]),
        ("_fc.weight".to_owned(), vec![1000, 1280]),
        ("_fc.bias".to_owned(), vec![1000]),
    ];
    for (bn, c) in [("_bn0", 32usize), ("_bn1", 1280)] {
        for p in ["weight", "bias", "running_mean", "running_var"] {
            v.push((format!("{bn}.{p}"), vec![c]));
        }
    }
    v
}

/// Loads the shipped MNIST CNN (checksum verified, every tensor shape checked) onto `device`.
pub fn load_mnist_cnn(dir: &DataDir, device: &Device) -> Result<NamedTensors, DataError> {
    let path = dir.verified_path(MNIST_CNN_PTH)?;
    let t = load_pth(&path, device)?;
    t.validate(
        "the MNIST CNN (conv_layers.{0,3,6}, fc_layers.{0,2})",
        &mnist_cnn_expected(),
    )?;
    Ok(t)
}

/// Loads the shipped EfficientNet-Lite0 (checksum verified, 296 tensors, stem/head/classifier
/// shapes and all 16 blocks checked) onto `device`.
pub fn load_efficientnet_lite0(dir: &DataDir, device: &Device) -> Result<NamedTensors, DataError> {
    let bytes = dir.read_verified(EFFICIENTNET_LITE0)?;
    let path = dir.file(EFFICIENTNET_LITE0);
    let t = parse_safetensors(&path, &bytes, device)?;
    let arch = "EfficientNet-Lite0 (lukemelas naming)";
    t.validate(arch, &efficientnet_lite0_expected())?;
    let mut problems = Vec::new();
    for b in 0..16 {
        for conv in ["_depthwise_conv", "_project_conv"] {
            let name = format!("_blocks.{b}.{conv}.weight");
            match t.try_get(&name) {
                Some(w) if w.rank() == 4 => {}
                Some(w) => problems.push(WeightProblem::WrongShape {
                    name,
                    expected: vec![0, 0, 0, 0],
                    actual: w.dims().to_vec(),
                }),
                None => problems.push(WeightProblem::Missing {
                    name,
                    expected: vec![],
                }),
            }
        }
    }
    if !problems.is_empty() {
        return Err(DataError::WeightsMismatch {
            path,
            architecture: arch.to_owned(),
            problems,
        });
    }
    if t.len() != EFFICIENTNET_LITE0_TENSORS {
        return Err(DataError::corrupt(
            &path,
            format!("{} tensors, expected {EFFICIENTNET_LITE0_TENSORS}", t.len()),
        ));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnist_cnn_table() {
        let e = mnist_cnn_expected();
        assert_eq!(e.len(), 10);
        assert!(e.contains(&("fc_layers.0.weight".into(), vec![256, 1152])));
    }
}
