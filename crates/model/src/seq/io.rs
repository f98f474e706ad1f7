//! The Sequential model file of SPEC §11 and PyTorch state-dict import.
//!
//! The file is safetensors whose `__metadata__` key `"architecture"` holds the architecture
//! JSON ([`Architecture`]) and whose tensors are `{i}.weight`, `{i}.bias`,
//! `{i}.running_mean`, `{i}.running_var` with PyTorch's shapes (f32 written; f16, bf16 and
//! f64 read and converted). A PyTorch state dict (`.safetensors` or zip `.pth`) is imported
//! with an architecture given separately; its keys are the layers' names or indices,
//! optionally under one common prefix such as `features.`.
//!
//! Reading goes through the one safetensors / PyTorch-zip reader of ftnn,
//! [`ftnn_data::parse_safetensors`] and [`ftnn_data::load_weights`]; writing through
//! [`crate::io::write_atomic`].

use super::arch::Architecture;
use super::network::Sequential;
use crate::error::{ModelError, Result};
use candle_core::{DType, Device};
use ftnn_data::DataError;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::Path;

/// Metadata key holding the architecture JSON.
pub const META_ARCHITECTURE: &str = "architecture";

fn file_err(path: &Path, reason: String) -> ModelError {
    ModelError::ModelFile {
        path: path.to_path_buf(),
        reason,
    }
}

/// A reader error as a [`ModelError`] on the model file.
pub(crate) fn data_err(path: &Path, e: DataError) -> ModelError {
    match e {
        DataError::Io { path, source } => ModelError::Io { path, source },
        DataError::Weights { reason, .. } => file_err(
            path,
            format!("not a valid weights file (truncated or corrupt?): {reason}"),
        ),
        other => file_err(path, other.to_string()),
    }
}

/// An architecture or layer error as found in `path`.
pub(crate) fn in_file(path: &Path, e: ModelError) -> ModelError {
    match e {
        e @ (ModelError::Io { .. }
        | ModelError::ModelFile { .. }
        | ModelError::MissingTensor { .. }
        | ModelError::WrongTensorShape { .. }
        | ModelError::InFile { .. }) => e,
        other => ModelError::InFile {
            path: path.to_path_buf(),
            error: Box::new(other),
        },
    }
}

impl Sequential {
    /// Serialises to the Sequential model file (SPEC §11): f32 tensors keyed `{i}.{parameter}`
    /// and the architecture (layer names dropped, since the keys are indices) as metadata.
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>> {
        let bufs = self
            .parameters()
            .iter()
            .map(|(name, t)| {
                let data: Vec<u8> = t
                    .to_dtype(DType::F32)?
                    .flatten_all()?
                    .to_vec1::<f32>()?
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect();
                Ok((name.clone(), data, t.dims().to_vec()))
            })
            .collect::<Result<Vec<_>>>()?;
        let views = bufs
            .iter()
            .map(|(name, data, shape)| {
                TensorView::new(Dtype::F32, shape.clone(), data).map(|v| (name.clone(), v))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| ModelError::Architecture(e.to_string()))?;
        let meta = HashMap::from([(
            META_ARCHITECTURE.to_string(),
            self.architecture().without_names().to_json(),
        )]);
        safetensors::serialize(views, Some(meta))
            .map_err(|e| ModelError::Architecture(e.to_string()))
    }

    /// Saves to `path` in the Sequential model format, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::io::write_atomic(path, &self.to_safetensors_bytes()?)
    }

    /// Loads a Sequential model file (SPEC §11) onto `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_safetensors_bytes(path, &bytes, device)
    }

    /// [`Sequential::load`] from the bytes of a file (`path` is used in messages).
    pub fn from_safetensors_bytes(path: &Path, bytes: &[u8], device: &Device) -> Result<Self> {
        let st =
            ftnn_data::parse_safetensors(path, bytes, device).map_err(|e| data_err(path, e))?;
        let json = st
            .metadata()
            .get(META_ARCHITECTURE)
            .cloned()
            .ok_or_else(|| {
                file_err(
                    path,
                    format!(
                        "metadata has no `{META_ARCHITECTURE}` entry (the architecture JSON of a \
                     Sequential model file); for a PyTorch state dict give the architecture \
                     separately"
                    ),
                )
            })?;
        let arch = Architecture::from_json(&json).map_err(|e| in_file(path, e))?;
        Self::build(arch, &st.into_map(), path, device).map_err(|e| in_file(path, e))
    }

    /// The trained MNIST CNN shipped in `data/` (data/README.md): `models/mnist-cnn.pth`
    /// imported through `models/mnist-cnn.arch.json`, both checked against `SHA256SUMS`.
    pub fn mnist_cnn(dir: &ftnn_data::DataDir, device: &Device) -> Result<Self> {
        use ftnn_data::{MNIST_CNN_ARCH, MNIST_CNN_PTH};
        let arch_path = dir.file(MNIST_CNN_ARCH);
        let bytes = dir
            .read_verified(MNIST_CNN_ARCH)
            .map_err(|e| data_err(&arch_path, e))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| file_err(&arch_path, format!("not UTF-8 text: {e}")))?;
        let arch = Architecture::from_json(text).map_err(|e| in_file(&arch_path, e))?;
        let pth = dir
            .verified_path(MNIST_CNN_PTH)
            .map_err(|e| data_err(&dir.file(MNIST_CNN_PTH), e))?;
        Self::from_state_dict(&pth, &arch, device)
    }

    /// Imports a PyTorch state dict (`.safetensors` or zip `.pth`) for the architecture
    /// `arch`: layer i's tensors are `{prefix}{name}.{parameter}` with `name` the layer's
    /// `name` (default: i) and `prefix` empty or common to all (e.g. `features.`). A missing
    /// tensor or one of the wrong shape is an error naming the key and both shapes.
    pub fn from_state_dict(path: &Path, arch: &Architecture, device: &Device) -> Result<Self> {
        if let Err(source) = std::fs::metadata(path) {
            return Err(ModelError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
        let st = ftnn_data::load_weights(path, device).map_err(|e| data_err(path, e))?;
        Self::build(arch.clone(), &st.into_map(), path, device).map_err(|e| in_file(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seq::{Layer, LayerSpec, Linear};
    use candle_core::Tensor;
    use std::collections::BTreeMap;

    fn tiny() -> Sequential {
        let arch = Architecture {
            input_shape: vec![2],
            layers: vec![Layer::named(
                "fc",
                LayerSpec::Linear(Linear {
                    in_features: 2,
                    out_features: 1,
                    bias: true,
                }),
            )],
        };
        let t = BTreeMap::from([
            (
                "fc.weight".to_string(),
                Tensor::new(&[[1f32, 2.0]], &Device::Cpu).unwrap(),
            ),
            (
                "fc.bias".to_string(),
                Tensor::new(&[0.5f32], &Device::Cpu).unwrap(),
            ),
        ]);
        Sequential::new(arch, &t, &Device::Cpu).unwrap()
    }

    /// Saving drops layer names: the file's tensors are keyed by index and load back.
    #[test]
    fn names_are_dropped_on_save() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        let net = tiny();
        net.save(&p).unwrap();
        let back = Sequential::load(&p, &Device::Cpu).unwrap();
        assert_eq!(back.architecture().layers[0].name, None);
        assert!(back.parameters().contains_key("0.weight"));
        let x = Tensor::new(&[[1f32, 1.0]], &Device::Cpu).unwrap();
        let y = back.forward(&x).unwrap().flatten_all().unwrap();
        assert_eq!(y.to_vec1::<f32>().unwrap(), vec![3.5]);
    }

    #[test]
    fn architecture_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        let data = [0u8; 4];
        let views = vec![(
            "0.weight".to_string(),
            TensorView::new(Dtype::F32, vec![1, 1], &data).unwrap(),
        )];
        let meta = HashMap::from([(
            META_ARCHITECTURE.to_string(),
            r#"{"input_shape": [1], "layers": [{"op": "conv3d"}]}"#.to_string(),
        )]);
        std::fs::write(&p, safetensors::serialize(views, Some(meta)).unwrap()).unwrap();
        let e = Sequential::load(&p, &Device::Cpu).unwrap_err();
        assert!(matches!(e.inner(), ModelError::UnknownOp { layer: 0, op } if op == "conv3d"));
        assert!(e.to_string().contains("m.safetensors"), "{e}");
        assert!(e.is_input_error());
    }
}
