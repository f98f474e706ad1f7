//! EfficientNet-Lite0 (data/README.md, `models/efficientnet-lite0.safetensors`, lukemelas
//! naming) as a [`Sequential`] network: its architecture generated from the tensor shapes
//! ([`efficientnet_lite0_architecture`]), committed as `data/models/efficientnet-lite0.arch.json`
//! ([`efficientnet_lite0_arch_json`] writes that file's text), and the shipped network
//! ([`Sequential::efficientnet_lite0`]).
//!
//! The network, on a `[3, 224, 224]` input:
//! * stem: conv 3×3 stride 2 (`_conv_stem`), batch norm (`_bn0`), relu6;
//! * 16 MBConv blocks `_blocks.b` (no squeeze-excitation), stride 2 in blocks 1, 3, 5 and 11:
//!   an optional 1×1 expand conv (`_expand_conv`, `_bn0`) and relu6; a depthwise k×k conv
//!   (`_depthwise_conv`, groups = channels, `_bn1`) and relu6; a 1×1 project conv
//!   (`_project_conv`, `_bn2`) without activation; and, when the stride is 1 and the block's
//!   input and output shapes are equal, an identity skip (`add` from the block's first layer);
//! * head: 1×1 conv 320 → 1280 (`_conv_head`, `_bn1`), relu6, global average pooling, flatten,
//!   linear 1280 → 1000 (`_fc`).
//!
//! Kernel sizes and channels come from the tensors' shapes. Batch norms have eps 1e-3 and are
//! folded into the convolution before them. TensorFlow's "SAME" padding of a k×k convolution
//! with stride s on an H × W input pads max((⌈H/s⌉ − 1)·s + k − H, 0) rows in total, the
//! smaller half before (likewise columns): when both halves are equal this is the conv2d's own
//! `padding`, otherwise a `zeropad2d` layer before an unpadded conv2d (the stride-2 layers).

use super::arch::{Architecture, Layer, LayerSpec};
use super::layers::{
    ActKind, ActivationSpec, AdaptivePool2d, Add, BatchNorm2d, Conv2d, Linear, Pad4, Pair,
    ZeroPad2d,
};
use super::network::Sequential;
use crate::error::{ModelError, Result};
use candle_core::Device;
use std::collections::BTreeMap;

/// The input shape of EfficientNet-Lite0.
pub const EFFICIENTNET_LITE0_INPUT: [usize; 3] = [3, 224, 224];
/// Number of MBConv blocks.
const BLOCKS: usize = 16;
/// The blocks with stride 2.
const STRIDE_2: [usize; 4] = [1, 3, 5, 11];
/// Batch-norm ε of the TensorFlow original.
const BN_EPS: f64 = 1e-3;

/// TensorFlow "SAME" padding of one axis of `n` elements, window `k`, stride `s`:
/// (before, after) with before = ⌊total/2⌋.
pub fn same_padding(n: usize, k: usize, s: usize) -> (usize, usize) {
    let total = ((n.div_ceil(s) - 1) * s + k).saturating_sub(n);
    (total / 2, total - total / 2)
}

/// Builds the layer list while tracking the current shape `[C, H, W]`.
struct Builder<'a> {
    shapes: &'a BTreeMap<String, Vec<usize>>,
    layers: Vec<Layer>,
    c: usize,
    h: usize,
    w: usize,
}

impl Builder<'_> {
    fn shape(&self, name: &str) -> Result<&[usize]> {
        self.shapes.get(name).map(Vec::as_slice).ok_or_else(|| {
            ModelError::Architecture(format!(
                "EfficientNet-Lite0: tensor `{name}` is missing from the weights"
            ))
        })
    }

    /// A bias-free conv2d (`{prefix}.weight`) with SAME padding, then the batch norm `bn`.
    fn conv_bn(&mut self, prefix: &str, bn: &str, stride: usize, depthwise: bool) -> Result<()> {
        let name = format!("{prefix}.weight");
        let &[out, per_group, kh, kw] = self.shape(&name)? else {
            return Err(ModelError::Architecture(format!(
                "EfficientNet-Lite0: `{name}` must be 4-D [out, in/groups, kh, kw]"
            )));
        };
        let groups = if depthwise { self.c } else { 1 };
        if per_group * groups != self.c || (depthwise && out != self.c) {
            return Err(ModelError::Architecture(format!(
                "EfficientNet-Lite0: `{name}` has shape {:?}, which does not take {} channels",
                [out, per_group, kh, kw],
                self.c
            )));
        }
        let (top, bottom) = same_padding(self.h, kh, stride);
        let (left, right) = same_padding(self.w, kw, stride);
        let padding = if top == bottom && left == right {
            Pair(top, left)
        } else {
            self.layers.push(Layer::new(LayerSpec::ZeroPad2d(ZeroPad2d {
                padding: Pad4 {
                    left,
                    right,
                    top,
                    bottom,
                },
            })));
            Pair(0, 0)
        };
        self.layers.push(Layer::named(
            prefix,
            LayerSpec::Conv2d(Conv2d {
                in_channels: self.c,
                out_channels: out,
                kernel_size: Pair(kh, kw),
                stride: Pair::square(stride),
                padding,
                groups,
                bias: false,
            }),
        ));
        self.layers.push(Layer::named(
            bn,
            LayerSpec::BatchNorm2d(BatchNorm2d {
                num_features: out,
                eps: BN_EPS,
                affine: true,
            }),
        ));
        self.c = out;
        self.h = (self.h + top + bottom - kh) / stride + 1;
        self.w = (self.w + left + right - kw) / stride + 1;
        Ok(())
    }

    fn relu6(&mut self) {
        self.layers
            .push(Layer::new(LayerSpec::Activation(ActivationSpec::standard(
                ActKind::Relu6,
            ))));
    }
}

/// The architecture of EfficientNet-Lite0 from the names and shapes of its tensors
/// (lukemelas naming: `_conv_stem`, `_bn0`, `_blocks.{0..15}.{_expand_conv, _bn0,
/// _depthwise_conv, _bn1, _project_conv, _bn2}`, `_conv_head`, `_bn1`, `_fc`); layer `name`s
/// are the tensor prefixes. The module documentation gives the layers.
pub fn efficientnet_lite0_architecture(
    shapes: &BTreeMap<String, Vec<usize>>,
) -> Result<Architecture> {
    let [c, h, w] = EFFICIENTNET_LITE0_INPUT;
    let mut b = Builder {
        shapes,
        layers: Vec::new(),
        c,
        h,
        w,
    };
    b.conv_bn("_conv_stem", "_bn0", 2, false)?;
    b.relu6();
    for block in 0..BLOCKS {
        let p = format!("_blocks.{block}");
        let stride = if STRIDE_2.contains(&block) { 2 } else { 1 };
        let start = b.layers.len();
        let in_shape = (b.c, b.h, b.w);
        if shapes.contains_key(&format!("{p}._expand_conv.weight")) {
            b.conv_bn(&format!("{p}._expand_conv"), &format!("{p}._bn0"), 1, false)?;
            b.relu6();
        }
        b.conv_bn(
            &format!("{p}._depthwise_conv"),
            &format!("{p}._bn1"),
            stride,
            true,
        )?;
        b.relu6();
        b.conv_bn(
            &format!("{p}._project_conv"),
            &format!("{p}._bn2"),
            1,
            false,
        )?;
        if stride == 1 && in_shape == (b.c, b.h, b.w) {
            b.layers
                .push(Layer::new(LayerSpec::Add(Add { from: start })));
        }
    }
    b.conv_bn("_conv_head", "_bn1", 1, false)?;
    b.relu6();
    b.layers
        .push(Layer::new(LayerSpec::AdaptiveAvgPool2d(AdaptivePool2d {
            output_size: Pair::ones(),
        })));
    b.layers.push(Layer::new(LayerSpec::Flatten));
    let fc = b.shape("_fc.weight")?.to_vec();
    let &[out_features, in_features] = fc.as_slice() else {
        return Err(ModelError::Architecture(
            "EfficientNet-Lite0: `_fc.weight` must be 2-D".into(),
        ));
    };
    b.layers.push(Layer::named(
        "_fc",
        LayerSpec::Linear(Linear {
            in_features,
            out_features,
            bias: true,
        }),
    ));
    let arch = Architecture {
        input_shape: EFFICIENTNET_LITE0_INPUT.to_vec(),
        layers: b.layers,
    };
    arch.shapes()?;
    Ok(arch)
}

/// The text of `data/models/efficientnet-lite0.arch.json` for `arch`: the architecture JSON
/// with one layer per line, `op` and `name` first.
pub fn efficientnet_lite0_arch_json(arch: &Architecture) -> String {
    use serde_json::Value;
    fn compact(v: &Value) -> String {
        match v {
            Value::Array(a) => {
                let items: Vec<String> = a.iter().map(compact).collect();
                format!("[{}]", items.join(", "))
            }
            other => other.to_string(),
        }
    }
    let layers: Vec<String> = arch
        .layers
        .iter()
        .map(|l| {
            let Value::Object(map) = l.to_value() else {
                return format!("    {}", l.to_value());
            };
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| (k.as_str() != "op", k.as_str() != "name", k.as_str()));
            let fields: Vec<String> = keys
                .iter()
                .map(|k| format!("{}: {}", Value::String(k.to_string()), compact(&map[*k])))
                .collect();
            format!("    {{{}}}", fields.join(", "))
        })
        .collect();
    format!(
        "{{\n  \"input_shape\": {},\n  \"layers\": [\n{}\n  ]\n}}\n",
        compact(&Value::from(arch.input_shape.clone())),
        layers.join(",\n")
    )
}

impl Sequential {
    /// EfficientNet-Lite0 as shipped in `data/` (data/README.md):
    /// `models/efficientnet-lite0.safetensors` through `models/efficientnet-lite0.arch.json`,
    /// both checked against `SHA256SUMS`. Input `[3, 224, 224]` ((v − 127)/128, RGB), output
    /// the 1000 ImageNet logits.
    pub fn efficientnet_lite0(dir: &ftnn_data::DataDir, device: &Device) -> Result<Self> {
        use ftnn_data::{EFFICIENTNET_LITE0, EFFICIENTNET_LITE0_ARCH};
        let arch_path = dir.file(EFFICIENTNET_LITE0_ARCH);
        let bytes = dir
            .read_verified(EFFICIENTNET_LITE0_ARCH)
            .map_err(|e| super::io::data_err(&arch_path, e))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| ModelError::ModelFile {
            path: arch_path.clone(),
            reason: format!("not UTF-8 text: {e}"),
        })?;
        let arch = Architecture::from_json(text).map_err(|e| super::io::in_file(&arch_path, e))?;
        let path = dir.file(EFFICIENTNET_LITE0);
        let tensors = ftnn_data::load_efficientnet_lite0(dir, device)
            .map_err(|e| super::io::data_err(&path, e))?;
        Self::build(arch, &tensors.into_map(), &path, device)
            .map_err(|e| super::io::in_file(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TensorFlow's SAME padding: the total and its split.
    #[test]
    fn same_padding_matches_tensorflow() {
        assert_eq!(same_padding(224, 3, 2), (0, 1));
        assert_eq!(same_padding(112, 3, 1), (1, 1));
        assert_eq!(same_padding(112, 5, 1), (2, 2));
        assert_eq!(same_padding(28, 5, 2), (1, 2));
        assert_eq!(same_padding(7, 1, 1), (0, 0));
        assert_eq!(same_padding(7, 3, 2), (1, 1));
    }
}
