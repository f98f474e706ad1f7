//! VGG networks in torchvision's layout as [`Sequential`] networks, with the transforms of
//! SPEC §9 ("VGG16"): ReLU → softplus with a real scale, max pooling → average pooling,
//! output slicing to chosen classes. (torchvision's VGG has no softmax: its output is
//! logits, which is what "softmax removed" asks for. Restricting crashes to chosen input
//! entries is the `--crash-mask` of SPEC §11, not a change of the network.)
//!
//! The network is `features` (3×3 convolutions with padding 1, each followed by the
//! activation; a 2×2 pool after each block), `avgpool` (adaptive average pool to
//! `pool_size × pool_size`), flatten, and `classifier` = linear, activation, dropout, linear,
//! activation, dropout, linear — tensors named `features.{i}.*` and `classifier.{i}.*` as in
//! torchvision ([`VggConfig::expected_shapes`]).
//!
//! The softplus transform with scale β is PyTorch's `Softplus(beta = β)`:
//! y = softplus(β·z)/β, which tends to ReLU as β → ∞ (the original notebook's `softplus10`
//! divided and multiplied by a scaler fixed at 1, so its "scale" was ignored — SPEC §12).

use super::arch::{Architecture, Layer, LayerSpec};
use super::layers::{
    ActKind, ActivationSpec, AdaptivePool2d, Conv2d, Dropout, Linear, Pair, Pool2d,
};
use super::network::Sequential;
use crate::error::{ModelError, Result};
use candle_core::{Device, Tensor};
use ftnn_data::{DataDir, VggConfig, VggLayer};
use std::collections::BTreeMap;
use std::path::Path;

/// The hidden activation of a transformed VGG network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VggActivation {
    /// torchvision's ReLU.
    Relu,
    /// softplus(β·z)/β (PyTorch's `Softplus(beta = β)`), β > 0 finite.
    Softplus {
        /// β.
        scale: f64,
    },
}

/// The SPEC §9 transforms of a VGG network. [`VggTransforms::default`] is the network as
/// trained: ReLU, max pooling, every class, 224×224 RGB input.
#[derive(Debug, Clone, PartialEq)]
pub struct VggTransforms {
    /// Hidden activation (default ReLU).
    pub activation: VggActivation,
    /// Replace every 2×2 max pool by a 2×2 average pool (default false).
    pub avg_pool: bool,
    /// Keep only these output classes, in this order (default: all).
    pub classes: Option<Vec<usize>>,
    /// Input height and width (default 224×224; at least 32 so that five 2×2 pools leave a
    /// pixel).
    pub input_size: (usize, usize),
}

impl Default for VggTransforms {
    fn default() -> Self {
        Self {
            activation: VggActivation::Relu,
            avg_pool: false,
            classes: None,
            input_size: (224, 224),
        }
    }
}

impl VggTransforms {
    /// The activation layer these transforms put after every convolution and hidden dense
    /// layer.
    fn activation_layer(&self) -> Result<LayerSpec> {
        Ok(LayerSpec::Activation(match self.activation {
            VggActivation::Relu => ActivationSpec::standard(ActKind::Relu),
            VggActivation::Softplus { scale } => {
                if !(scale.is_finite() && scale > 0.0) {
                    return Err(ModelError::Architecture(format!(
                        "the softplus scale β = {scale} must be a positive finite number"
                    )));
                }
                ActivationSpec {
                    kind: ActKind::Softplus,
                    scale,
                    gain: 1.0 / scale,
                }
            }
        }))
    }
}

/// The architecture (SPEC §11 JSON) of the VGG network `config` under `transforms`, with
/// torchvision's tensor names as layer names.
pub fn vgg_architecture(config: &VggConfig, transforms: &VggTransforms) -> Result<Architecture> {
    let act = transforms.activation_layer()?;
    let pool = Pool2d {
        kernel_size: Pair::square(2),
        stride: None,
        padding: Pair::default(),
    };
    let mut layers = Vec::new();
    for layer in config.features() {
        match layer {
            VggLayer::Conv {
                index,
                in_channels,
                out_channels,
            } => {
                layers.push(Layer::named(
                    format!("features.{index}"),
                    LayerSpec::Conv2d(Conv2d {
                        in_channels,
                        out_channels,
                        kernel_size: Pair::square(3),
                        stride: Pair::ones(),
                        padding: Pair::ones(),
                        groups: 1,
                        bias: true,
                    }),
                ));
                layers.push(Layer::new(act.clone()));
            }
            VggLayer::MaxPool { .. } => layers.push(Layer::new(if transforms.avg_pool {
                LayerSpec::AvgPool2d(pool.clone())
            } else {
                LayerSpec::MaxPool2d(pool.clone())
            })),
        }
    }
    layers.push(Layer::new(LayerSpec::AdaptiveAvgPool2d(AdaptivePool2d {
        output_size: Pair::square(config.pool_size),
    })));
    layers.push(Layer::new(LayerSpec::Flatten));
    let dense = config.classifier();
    for (k, &(index, fin, fout)) in dense.iter().enumerate() {
        let last = k + 1 == dense.len();
        let out_features = match (&transforms.classes, last) {
            (Some(keep), true) => {
                check_classes(keep, fout)?;
                keep.len()
            }
            _ => fout,
        };
        layers.push(Layer::named(
            format!("classifier.{index}"),
            LayerSpec::Linear(Linear {
                in_features: fin,
                out_features,
                bias: true,
            }),
        ));
        if !last {
            layers.push(Layer::new(act.clone()));
            layers.push(Layer::new(LayerSpec::Dropout(Dropout { p: Some(0.5) })));
        }
    }
    let (h, w) = transforms.input_size;
    let arch = Architecture {
        input_shape: vec![config.in_channels, h, w],
        layers,
    };
    arch.shapes()?;
    Ok(arch)
}

fn check_classes(keep: &[usize], n_classes: usize) -> Result<()> {
    if keep.is_empty() {
        return Err(ModelError::Architecture(
            "output slicing keeps no class: give at least one class index".into(),
        ));
    }
    if let Some(&bad) = keep.iter().find(|&&c| c >= n_classes) {
        return Err(ModelError::Architecture(format!(
            "output slicing: class {bad} does not exist (the network has {n_classes} classes, \
             0..{})",
            n_classes - 1
        )));
    }
    Ok(())
}

impl Sequential {
    /// A VGG network `config` from a torchvision-named state dict (`.safetensors` or `.pth`)
    /// under `transforms` (module docs). Every tensor's name and shape is checked first
    /// (all problems reported together); output slicing keeps the rows `classes` of the last
    /// layer's weight and bias.
    pub fn vgg(
        path: &Path,
        config: &VggConfig,
        transforms: &VggTransforms,
        device: &Device,
    ) -> Result<Self> {
        if path.extension().is_some_and(|e| e == "safetensors") {
            config
                .validate_file(path)
                .map_err(|e| ModelError::ModelFile {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
        }
        let arch = vgg_architecture(config, transforms)?;
        let weights = ftnn_data::load_weights(path, device).map_err(|e| ModelError::ModelFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let tensors = slice_classes(weights.into_map(), config, transforms)?;
        Self::build(arch, &tensors, path, device)
    }

    /// VGG16 from the user-imported `data/models/vgg16.safetensors`
    /// (`cargo xtask data import-vgg16 PATH`) under `transforms`. A missing file is an error
    /// that names it and says how to import it.
    pub fn vgg16(dir: &DataDir, transforms: &VggTransforms, device: &Device) -> Result<Self> {
        let path = dir.file(ftnn_data::VGG16_SAFETENSORS);
        let config = VggConfig::vgg16();
        let weights = ftnn_data::load_vgg16(dir, device).map_err(|e| ModelError::ModelFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let arch = vgg_architecture(&config, transforms)?;
        let tensors = slice_classes(weights.into_map(), &config, transforms)?;
        Self::build(arch, &tensors, &path, device)
    }
}

/// The state dict with the last layer's rows restricted to `transforms.classes`.
fn slice_classes(
    mut tensors: BTreeMap<String, Tensor>,
    config: &VggConfig,
    transforms: &VggTransforms,
) -> Result<BTreeMap<String, Tensor>> {
    let Some(keep) = &transforms.classes else {
        return Ok(tensors);
    };
    let (index, _, n_classes) = config.classifier()[2];
    check_classes(keep, n_classes)?;
    let device = tensors
        .values()
        .next()
        .map(|t| t.device().clone())
        .unwrap_or(Device::Cpu);
    let rows = Tensor::from_vec(
        keep.iter().map(|&c| c as u32).collect::<Vec<_>>(),
        keep.len(),
        &device,
    )?;
    for what in ["weight", "bias"] {
        // The key may carry a common prefix (e.g. `module.`), as state dicts often do.
        let suffix = format!("classifier.{index}.{what}");
        let keys: Vec<String> = tensors
            .keys()
            .filter(|k| *k == &suffix || k.ends_with(&format!(".{suffix}")))
            .cloned()
            .collect();
        for key in keys {
            let sliced = tensors[&key].index_select(&rows, 0)?;
            tensors.insert(key, sliced);
        }
    }
    Ok(tensors)
}
