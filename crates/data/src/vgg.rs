//! VGG networks in torchvision's layout (SPEC §9): [`VggConfig`] gives the tensor names and
//! shapes of VGG16 or of any VGG-shaped network, [`load_vgg16`] reads the user-imported
//! `data/models/vgg16.safetensors` and [`import_vgg16`] validates a user's file and copies it
//! there (the weights are not shipped).

use std::path::{Path, PathBuf};

use candle_core::Device;

use crate::dir::DataDir;
use crate::error::DataError;
use crate::weights::{
    check_against, inspect_safetensors, load_safetensors, Expected, NamedTensors, VGG16_HINT,
    VGG16_SAFETENSORS,
};

/// One module of a torchvision VGG `features` sequence that holds parameters or pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VggLayer {
    /// `features.{index}`: 3×3 convolution, padding 1, followed by ReLU at `index + 1`.
    Conv {
        /// Index in `features`.
        index: usize,
        /// Input channels.
        in_channels: usize,
        /// Output channels.
        out_channels: usize,
    },
    /// `features.{index}`: 2×2 max-pool, stride 2.
    MaxPool {
        /// Index in `features`.
        index: usize,
    },
}

/// Shape of a VGG network in torchvision layout: `features` (conv blocks, each followed by a
/// max-pool), adaptive average pool to `pool_size × pool_size`, `classifier` = Linear, ReLU,
/// Dropout, Linear, ReLU, Dropout, Linear (indices 0, 3, 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VggConfig {
    /// Input channels (3 for RGB).
    pub in_channels: usize,
    /// Output channels of the convolutions, block by block.
    pub blocks: Vec<Vec<usize>>,
    /// Side of the adaptive average pool's output (7 for torchvision).
    pub pool_size: usize,
    /// Width of the two hidden dense layers (4096).
    pub hidden: usize,
    /// Number of classes (1000).
    pub num_classes: usize,
}

impl VggConfig {
    /// Standard VGG16 (configuration "D"): 13 convolutions, 3 dense layers, ImageNet.
    pub fn vgg16() -> Self {
        VggConfig {
            in_channels: 3,
            blocks: vec![
                vec![64, 64],
                vec![128, 128],
                vec![256, 256, 256],
                vec![512, 512, 512],
                vec![512, 512, 512],
            ],
            pool_size: 7,
            hidden: 4096,
            num_classes: 1000,
        }
    }

    /// VGG16's layout with every channel count divided by `width_divisor` and the given
    /// dense width, class count and pool size (small networks for tests).
    pub fn vgg16_scaled(
        width_divisor: usize,
        hidden: usize,
        num_classes: usize,
        pool_size: usize,
    ) -> Self {
        let d = width_divisor.max(1);
        let mut c = VggConfig::vgg16();
        for block in &mut c.blocks {
            for ch in block.iter_mut() {
                *ch = (*ch / d).max(1);
            }
        }
        c.hidden = hidden;
        c.num_classes = num_classes;
        c.pool_size = pool_size;
        c
    }

    /// The `features` modules that matter, in order (ReLUs sit at conv index + 1).
    pub fn features(&self) -> Vec<VggLayer> {
        let mut out = Vec::new();
        let mut index = 0;
        let mut cin = self.in_channels;
        for block in &self.blocks {
            for &cout in block {
                out.push(VggLayer::Conv {
                    index,
                    in_channels: cin,
                    out_channels: cout,
                });
                cin = cout;
                index += 2;
            }
            out.push(VggLayer::MaxPool { index });
            index += 1;
        }
        out
    }

    /// Channels after the last convolution.
    pub fn last_channels(&self) -> usize {
        self.blocks
            .iter()
            .rev()
            .find_map(|b| b.last().copied())
            .unwrap_or(self.in_channels)
    }

    /// The three dense layers: `(classifier index, in, out)`.
    pub fn classifier(&self) -> [(usize, usize, usize); 3] {
        let flat = self.last_channels() * self.pool_size * self.pool_size;
        [
            (0, flat, self.hidden),
            (3, self.hidden, self.hidden),
            (6, self.hidden, self.num_classes),
        ]
    }

    /// Every tensor name (torchvision naming) with its shape.
    pub fn expected_shapes(&self) -> Vec<Expected> {
        let mut v = Vec::new();
        for layer in self.features() {
            if let VggLayer::Conv {
                index,
                in_channels,
                out_channels,
            } = layer
            {
                v.push((
                    format!("features.{index}.weight"),
                    vec![out_channels, in_channels, 3, 3],
                ));
                v.push((format!("features.{index}.bias"), vec![out_channels]));
            }
        }
        for (index, fin, fout) in self.classifier() {
            v.push((format!("classifier.{index}.weight"), vec![fout, fin]));
            v.push((format!("classifier.{index}.bias"), vec![fout]));
        }
        v
    }

    /// Checks a safetensors file's header against this configuration (every problem at
    /// once; tensors must be floating point). Returns the names of extra tensors.
    pub fn validate_file(&self, path: impl AsRef<Path>) -> Result<Vec<String>, DataError> {
        let path = path.as_ref();
        let header = inspect_safetensors(path)?;
        check_against(
            path,
            &self.describe(),
            &self.expected_shapes(),
            &header.tensors,
            true,
        )
    }

    fn describe(&self) -> String {
        if *self == VggConfig::vgg16() {
            "VGG16 (torchvision naming features.N.* / classifier.N.*)".to_owned()
        } else {
            format!(
                "a VGG network (torchvision naming) with blocks {:?}, {}×{} pool, hidden {}, {} classes",
                self.blocks, self.pool_size, self.pool_size, self.hidden, self.num_classes
            )
        }
    }
}

/// Loads the user-imported VGG16 weights `data/models/vgg16.safetensors` onto `device`,
/// checking every tensor. A missing file gives [`DataError::Missing`] with the import hint.
pub fn load_vgg16(dir: &DataDir, device: &Device) -> Result<NamedTensors, DataError> {
    let path = dir.file(VGG16_SAFETENSORS);
    if !path.is_file() {
        return Err(DataError::Missing {
            path,
            hint: VGG16_HINT.to_owned(),
        });
    }
    let cfg = VggConfig::vgg16();
    cfg.validate_file(&path)?;
    load_safetensors(&path, device)
}

/// What [`import_vgg16`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Where the weights were copied.
    pub destination: PathBuf,
    /// Number of tensors checked.
    pub tensors: usize,
    /// Bytes copied.
    pub bytes: u64,
    /// Tensors present in the file but not part of VGG16 (kept, ignored by loaders).
    pub extra: Vec<String>,
}

/// Validates a user's VGG16 safetensors file (torchvision naming; every expected tensor
/// present with the right shape, floating point) and copies it atomically to
/// `data/models/vgg16.safetensors`.
pub fn import_vgg16(source: impl AsRef<Path>, dir: &DataDir) -> Result<ImportReport, DataError> {
    import_vgg_like(source.as_ref(), dir, &VggConfig::vgg16())
}

/// [`import_vgg16`] for any VGG-shaped configuration (tests use a small one).
pub fn import_vgg_like(
    source: &Path,
    dir: &DataDir,
    config: &VggConfig,
) -> Result<ImportReport, DataError> {
    let extra = config.validate_file(source)?;
    let destination = dir.file(VGG16_SAFETENSORS);
    let io = |path: &Path, e: std::io::Error| DataError::Io {
        path: path.to_owned(),
        source: e,
    };
    if let Some(parent) = destination.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    let tmp = destination.with_extension("safetensors.tmp");
    let bytes = std::fs::copy(source, &tmp).map_err(|e| io(source, e))?;
    std::fs::rename(&tmp, &destination).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(&destination, e)
    })?;
    Ok(ImportReport {
        destination,
        tensors: config.expected_shapes().len(),
        bytes,
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vgg16_table_matches_torchvision() {
        let e = VggConfig::vgg16().expected_shapes();
        assert_eq!(e.len(), 32);
        let idx: Vec<usize> = VggConfig::vgg16()
            .features()
            .iter()
            .filter_map(|l| match l {
                VggLayer::Conv { index, .. } => Some(*index),
                VggLayer::MaxPool { .. } => None,
            })
            .collect();
        assert_eq!(idx, [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]);
        let get = |n: &str| e.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(get("features.0.weight"), [64, 3, 3, 3]);
        assert_eq!(get("features.28.weight"), [512, 512, 3, 3]);
        assert_eq!(get("classifier.0.weight"), [4096, 25088]);
        assert_eq!(get("classifier.6.bias"), [1000]);
        let params: usize = e.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
        assert_eq!(params, 138_357_544); // torchvision's VGG16 parameter count
    }
}
