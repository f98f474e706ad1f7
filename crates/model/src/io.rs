//! Model files (SPEC §11) and atomic writes.
//!
//! The ftnn model file is safetensors with f32 tensors `layers.{i}.weight` `[n_{i+1}, n_i]` and
//! `layers.{i}.bias` `[n_{i+1}]` for i = 0..L−1, and metadata `activation` and `k_lips`.
//! A plain PyTorch `nn.Sequential` state dict (`0.weight`, `0.bias`, `2.weight`, …, either as
//! safetensors or as a zip `.pth` file) is imported with the activation given by the caller;
//! the numeric indices must increase and the weight shapes must chain.
//!
//! Reading goes through the one safetensors / PyTorch-zip reader of ftnn,
//! [`ftnn_data::parse_safetensors`] and [`ftnn_data::load_weights`] (header and length
//! checks, candle's pickle reader); this module only maps tensor names to layers and converts
//! floating-point tensors (f32, f64, f16, bf16) to f32.

use crate::activation::Activation;
use crate::error::{ModelError, Result};
use crate::mlp::{Dense, Mlp};
use candle_core::{DType, Device};
use ftnn_data::{DataError, NamedTensors};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Metadata key holding the activation name.
pub const META_ACTIVATION: &str = "activation";
/// Metadata key holding the Lipschitz constant as a decimal string.
pub const META_K_LIPS: &str = "k_lips";

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed and
/// synced, then renamed over `path`. A crash or Ctrl-C leaves either the old file or the new
/// one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io_err = |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io_err(std::io::Error::other("not a file path")))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(e));
    }
    Ok(())
}

/// The same safetensors file with its JSON header's keys in sorted order (the metadata entries
/// included): `safetensors::serialize` writes the metadata map in hash order, so two saves of
/// one network could differ in their bytes. The data section is unchanged; the header is padded
/// with spaces to a multiple of 8 bytes, as the format recommends.
fn sorted_header(bytes: &[u8]) -> Result<Vec<u8>> {
    let bad = |why: String| ModelError::Architecture(format!("safetensors header: {why}"));
    let n = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
        .ok_or_else(|| bad("shorter than 8 bytes".into()))?;
    let header = bytes
        .get(8..8 + n)
        .ok_or_else(|| bad(format!("length {n} past the end")))?;
    let mut map: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| bad(e.to_string()))?;
    if let Some(meta) = map.remove("__metadata__") {
        let meta: std::collections::BTreeMap<String, String> =
            serde_json::from_value(meta).map_err(|e| bad(e.to_string()))?;
        let meta = serde_json::to_value(meta).map_err(|e| bad(e.to_string()))?;
        map.insert("__metadata__".into(), meta);
    }
    let mut h = serde_json::to_vec(&map).map_err(|e| bad(e.to_string()))?;
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(&bytes[8 + n..]);
    Ok(out)
}

impl Mlp {
    /// Serialises to the ftnn model format (SPEC §11); the same network always gives the
    /// same bytes.
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>> {
        let mut bufs: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::new();
        for (i, d) in self.layers().iter().enumerate() {
            bufs.push((
                format!("layers.{i}.weight"),
                f32_bytes(d.weight()),
                vec![d.n_out(), d.n_in()],
            ));
            bufs.push((
                format!("layers.{i}.bias"),
                f32_bytes(d.bias()),
                vec![d.n_out()],
            ));
        }
        let views = bufs
            .iter()
            .map(|(name, data, shape)| {
                TensorView::new(Dtype::F32, shape.clone(), data).map(|v| (name.clone(), v))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| ModelError::Architecture(e.to_string()))?;
        let meta = HashMap::from([
            (
                META_ACTIVATION.to_string(),
                self.activation().name().to_string(),
            ),
            (META_K_LIPS.to_string(), format!("{}", self.k_lips())),
        ]);
        let bytes = safetensors::serialize(views, Some(meta))
            .map_err(|e| ModelError::Architecture(e.to_string()))?;
        sorted_header(&bytes)
    }

    /// Saves to `path` in the ftnn model format, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_safetensors_bytes()?)
    }

    /// Loads an ftnn model file (SPEC §11).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = read_file(path)?;
        let st = parse_safetensors(path, &bytes)?;
        let meta = st.metadata();
        let activation: Activation = meta
            .get(META_ACTIVATION)
            .ok_or_else(|| {
                file_err(
                    path,
                    "metadata has no `activation` entry (sigmoid, relu, tanh or softplus); \
                 for a plain PyTorch state dict use the state-dict import and name the activation",
                )
            })?
            .parse()
            .map_err(|e: ModelError| file_err(path, &e.to_string()))?;
        let k_lips: f64 = match meta.get(META_K_LIPS) {
            None => return Err(file_err(path, "metadata has no `k_lips` entry")),
            Some(s) => s.trim().parse().map_err(|_| {
                file_err(path, &format!("metadata `k_lips` = `{s}` is not a number"))
            })?,
        };
        let mut layers = Vec::new();
        let mut i = 0;
        while st.try_get(&format!("layers.{i}.weight")).is_some() {
            let w = tensor_f32(path, &st, &format!("layers.{i}.weight"))?;
            let b = tensor_f32(path, &st, &format!("layers.{i}.bias"))?;
            layers.push(dense_from(path, &format!("layers.{i}"), w, b)?);
            i += 1;
        }
        if layers.is_empty() {
            return Err(ModelError::MissingTensor {
                path: path.to_path_buf(),
                name: "layers.0.weight".into(),
                hint: "an ftnn model has tensors layers.{i}.weight and layers.{i}.bias".into(),
            });
        }
        Mlp::new(layers, activation, k_lips).map_err(|e| file_err(path, &e.to_string()))
    }

    /// Imports a PyTorch `nn.Sequential` state dict of `nn.Linear` layers (`0.weight`,
    /// `0.bias`, `2.weight`, …, optionally under a common prefix such as `net.`), from a
    /// safetensors file or a zip `.pth` file; the activation is not stored in a state dict
    /// and must be given.
    pub fn from_state_dict(path: &Path, activation: Activation, k_lips: f64) -> Result<Self> {
        if !path.exists() {
            // Report a missing file as an I/O error on it, as `load` does.
            read_file(path)?;
        }
        // Host read: the MLP keeps its weights as host vectors (its engine's loops are CPU).
        let st = ftnn_data::load_weights(path, &Device::Cpu).map_err(|e| data_err(path, e))?;
        let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = st
            .names()
            .map(|name| {
                let (shape, data) = tensor_f32(path, &st, name)?;
                Ok((name.to_string(), shape, data))
            })
            .collect::<Result<_>>()?;
        // Group `<prefix><index>.<weight|bias>` by index.
        let mut by_index: BTreeMap<usize, (Option<ShapedData>, Option<ShapedData>)> =
            BTreeMap::new();
        let mut prefixes = std::collections::BTreeSet::new();
        for (name, shape, data) in tensors {
            let mut parts = name.rsplitn(3, '.');
            let (kind, idx, prefix) = (parts.next(), parts.next(), parts.next());
            let Some(idx) = idx.and_then(|s| s.parse::<usize>().ok()) else {
                continue;
            };
            prefixes.insert(prefix.unwrap_or("").to_string());
            let slot = by_index.entry(idx).or_default();
            match kind {
                Some("weight") => slot.0 = Some((shape, data)),
                Some("bias") => slot.1 = Some((shape, data)),
                _ => {}
            }
        }
        if prefixes.len() > 1 {
            return Err(file_err(
                path,
                &format!("tensors under several prefixes {prefixes:?}: expected one nn.Sequential"),
            ));
        }
        if by_index.is_empty() {
            return Err(ModelError::MissingTensor {
                path: path.to_path_buf(),
                name: "0.weight".into(),
                hint: "a PyTorch nn.Sequential state dict has tensors `<index>.weight` and `<index>.bias`".into(),
            });
        }
        let mut layers = Vec::new();
        for (idx, (w, b)) in by_index {
            let w = w.ok_or_else(|| ModelError::MissingTensor {
                path: path.to_path_buf(),
                name: format!("{idx}.weight"),
                hint: format!("`{idx}.bias` is present without its weight"),
            })?;
            let b = b.ok_or_else(|| ModelError::MissingTensor {
                path: path.to_path_buf(),
                name: format!("{idx}.bias"),
                hint: "ftnn needs nn.Linear layers with bias".into(),
            })?;
            layers.push(dense_from(path, &idx.to_string(), w, b)?);
        }
        Mlp::new(layers, activation, k_lips).map_err(|e| file_err(path, &e.to_string()))
    }
}

/// A tensor's shape and its values as f32.
type ShapedData = (Vec<usize>, Vec<f32>);

fn file_err(path: &Path, reason: &str) -> ModelError {
    ModelError::ModelFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A reader error as a [`ModelError`] on the model file.
fn data_err(path: &Path, e: DataError) -> ModelError {
    match e {
        DataError::Io { path, source } => ModelError::Io { path, source },
        DataError::Weights { reason, .. } => file_err(path, &reason),
        other => file_err(path, &other.to_string()),
    }
}

/// Parses safetensors bytes by the shared reader (tensors on the host, with the metadata: the
/// values become the MLP's host vectors).
fn parse_safetensors(path: &Path, bytes: &[u8]) -> Result<NamedTensors> {
    ftnn_data::parse_safetensors(path, bytes, &Device::Cpu).map_err(|e| match e {
        DataError::Weights { reason, .. } => file_err(
            path,
            &format!("not a valid safetensors file (truncated or corrupt?): {reason}"),
        ),
        other => data_err(path, other),
    })
}

/// A tensor as f32 values with its shape (f32, f64, f16 and bf16 are accepted).
fn tensor_f32(path: &Path, st: &NamedTensors, name: &str) -> Result<ShapedData> {
    let t = st.try_get(name).ok_or_else(|| ModelError::MissingTensor {
        path: path.to_path_buf(),
        name: name.to_string(),
        hint: "an ftnn model has layers.{i}.weight and layers.{i}.bias for every layer".into(),
    })?;
    if !t.dtype().is_float() {
        return Err(file_err(
            path,
            &format!(
                "tensor `{name}` has dtype {:?}; expected a floating-point type",
                t.dtype()
            ),
        ));
    }
    let data = t
        .to_dtype(DType::F32)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|e| file_err(path, &format!("tensor `{name}`: {e}")))?;
    Ok((t.dims().to_vec(), data))
}

fn dense_from(
    path: &Path,
    name: &str,
    (w_shape, w): ShapedData,
    (b_shape, b): ShapedData,
) -> Result<Dense> {
    let [n_out, n_in] = w_shape[..] else {
        return Err(ModelError::Shape {
            what: format!("{}: {name}.weight", path.display()),
            expected: "[n_out, n_in]".into(),
            got: format!("{w_shape:?}"),
        });
    };
    if b_shape != [n_out] {
        return Err(ModelError::Shape {
            what: format!("{}: {name}.bias", path.display()),
            expected: format!("[{n_out}]"),
            got: format!("{b_shape:?}"),
        });
    }
    Dense::new(w, b, n_out, n_in).map_err(|e| file_err(path, &format!("{name}: {e}")))
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Init;
    use rand::SeedableRng;

    fn net() -> Mlp {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        Mlp::init(&[5, 4, 3], Activation::Tanh, 0.7, Init::Paper, &mut rng).unwrap()
    }

    /// `safetensors::serialize` writes the metadata in hash order (a new random order per
    /// map); the saved bytes must not depend on it.
    #[test]
    fn saved_bytes_are_deterministic() {
        let mlp = net();
        let first = mlp.to_safetensors_bytes().unwrap();
        for _ in 0..32 {
            assert_eq!(mlp.to_safetensors_bytes().unwrap(), first);
        }
        let n = u64::from_le_bytes(first[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0);
        let header = std::str::from_utf8(&first[8..8 + n]).unwrap();
        let (a, k) = (
            header.find("\"activation\"").unwrap(),
            header.find("\"k_lips\"").unwrap(),
        );
        assert!(a < k, "{header}");
        let path = std::env::temp_dir().join(format!("ftnn-sorted-{}.st", std::process::id()));
        mlp.save(&path).unwrap();
        let back = Mlp::load(&path);
        std::fs::remove_file(&path).ok();
        let back = back.unwrap();
        assert_eq!(back.sizes(), mlp.sizes());
        assert_eq!(back.k_lips(), mlp.k_lips());
        assert_eq!(back.activation(), mlp.activation());
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let a = net();
        a.save(&path).unwrap();
        let b = Mlp::load(&path).unwrap();
        assert_eq!(b.sizes(), a.sizes());
        assert_eq!(b.activation(), Activation::Tanh);
        assert_eq!(b.k_lips(), a.k_lips());
        for (la, lb) in a.layers().iter().zip(b.layers()) {
            assert_eq!(la.weight(), lb.weight());
            assert_eq!(la.bias(), lb.bias());
        }
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    fn write_st(
        path: &Path,
        tensors: &[(&str, Vec<usize>, Vec<f32>)],
        meta: Option<HashMap<String, String>>,
    ) {
        let bufs: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
            .iter()
            .map(|(n, s, d)| (n.to_string(), f32_bytes(d), s.clone()))
            .collect();
        let views: Vec<(String, TensorView<'_>)> = bufs
            .iter()
            .map(|(n, d, s)| {
                (
                    n.clone(),
                    TensorView::new(Dtype::F32, s.clone(), d).unwrap(),
                )
            })
            .collect();
        std::fs::write(path, safetensors::serialize(views, meta).unwrap()).unwrap();
    }

    fn meta(act: &str, k: &str) -> Option<HashMap<String, String>> {
        Some(HashMap::from([
            ("activation".to_string(), act.to_string()),
            ("k_lips".to_string(), k.to_string()),
        ]))
    }

    #[test]
    fn bad_files_give_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        // Missing file.
        assert!(matches!(
            Mlp::load(&dir.path().join("none")),
            Err(ModelError::Io { .. })
        ));
        // Truncated file.
        net().save(&p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 7]).unwrap();
        let e = Mlp::load(&p).unwrap_err();
        assert!(matches!(e, ModelError::ModelFile { .. }), "{e}");
        // Garbage.
        std::fs::write(&p, b"hello world, not a model").unwrap();
        assert!(matches!(Mlp::load(&p), Err(ModelError::ModelFile { .. })));
        // Unknown activation.
        let ok = [
            ("layers.0.weight", vec![2, 3], vec![0.5; 6]),
            ("layers.0.bias", vec![2], vec![0.0; 2]),
        ];
        write_st(&p, &ok, meta("swish", "1"));
        let e = Mlp::load(&p).unwrap_err().to_string();
        assert!(e.contains("swish"), "{e}");
        // Bad k_lips.
        write_st(&p, &ok, meta("relu", "abc"));
        assert!(Mlp::load(&p).unwrap_err().to_string().contains("k_lips"));
        // No metadata.
        write_st(&p, &ok, None);
        assert!(Mlp::load(&p)
            .unwrap_err()
            .to_string()
            .contains("activation"));
        // Missing bias.
        write_st(&p, &ok[..1], meta("relu", "1"));
        let e = Mlp::load(&p).unwrap_err();
        assert!(
            matches!(&e, ModelError::MissingTensor { name, .. } if name == "layers.0.bias"),
            "{e}"
        );
        // Wrong bias shape.
        write_st(
            &p,
            &[ok[0].clone(), ("layers.0.bias", vec![3], vec![0.0; 3])],
            meta("relu", "1"),
        );
        assert!(matches!(Mlp::load(&p), Err(ModelError::Shape { .. })));
        // Layers that do not chain.
        write_st(
            &p,
            &[
                ok[0].clone(),
                ok[1].clone(),
                ("layers.1.weight", vec![1, 3], vec![1.0; 3]),
                ("layers.1.bias", vec![1], vec![0.0]),
            ],
            meta("relu", "1"),
        );
        assert!(Mlp::load(&p)
            .unwrap_err()
            .to_string()
            .contains("input width"));
        // NaN weight.
        write_st(
            &p,
            &[
                ("layers.0.weight", vec![1, 1], vec![f32::NAN]),
                ("layers.0.bias", vec![1], vec![0.0]),
            ],
            meta("relu", "1"),
        );
        assert!(Mlp::load(&p)
            .unwrap_err()
            .to_string()
            .contains("non-finite"));
        // No layers at all.
        write_st(&p, &[("other", vec![1], vec![0.0])], meta("relu", "1"));
        assert!(matches!(
            Mlp::load(&p),
            Err(ModelError::MissingTensor { .. })
        ));
    }

    /// Half-precision state dicts (as `model.half()` exports them) are widened to f32.
    #[test]
    fn reads_f16_and_bf16_tensors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("half.safetensors");
        let w = [0.5f32, -1.25, 3.0, 0.0];
        let f16: Vec<u8> = w
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect();
        let bf16: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect();
        let views = vec![
            (
                "0.weight".to_string(),
                TensorView::new(Dtype::F16, vec![2, 2], &f16).unwrap(),
            ),
            (
                "0.bias".to_string(),
                TensorView::new(Dtype::BF16, vec![2], &bf16).unwrap(),
            ),
        ];
        std::fs::write(&p, safetensors::serialize(views, None).unwrap()).unwrap();
        let m = Mlp::from_state_dict(&p, Activation::Relu, 1.0).unwrap();
        assert_eq!(m.layers()[0].weight(), &w);
        assert_eq!(m.layers()[0].bias(), &[1.5, -2.0]);
    }

    #[test]
    fn imports_sequential_state_dict() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sd.safetensors");
        // nn.Sequential(Linear(3,2), ReLU(), Linear(2,1)) under a prefix.
        write_st(
            &p,
            &[
                (
                    "net.0.weight",
                    vec![2, 3],
                    vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
                ),
                ("net.0.bias", vec![2], vec![0.0, 1.0]),
                ("net.2.weight", vec![1, 2], vec![1.0, -1.0]),
                ("net.2.bias", vec![1], vec![0.5]),
            ],
            None,
        );
        let m = Mlp::from_state_dict(&p, Activation::Relu, 1.0).unwrap();
        assert_eq!(m.sizes(), vec![3, 2, 1]);
        // x = (2, 3, 0): hidden (2, 4) → 2 − 4 + 0.5
        assert_eq!(m.forward(&[2.0, 3.0, 0.0], 1).unwrap(), vec![-1.5]);
        write_st(&p, &[("0.weight", vec![2, 3], vec![0.0; 6])], None);
        assert!(matches!(
            Mlp::from_state_dict(&p, Activation::Relu, 1.0),
            Err(ModelError::MissingTensor { .. })
        ));
    }
}
