//! The architecture of a [`Sequential`](super::Sequential) network: the JSON layer list of
//! SPEC §11 ("Sequential model file"), `{"input_shape": [C, H, W] | [n], "layers": [...]}`.
//!
//! Every layer is an object with an `"op"` and the fields of its PyTorch module
//! ([`super::layers`]), with PyTorch's defaults: `conv2d` stride `[1, 1]`, padding `[0, 0]`,
//! groups 1, bias `true`; pooling stride = `kernel_size`, padding 0; `batchnorm2d` eps 1e-5;
//! activations `scale` 1 and `gain` 1 (the layer computes `φ(scale·z)·gain`, φ the standard
//! function).
//! `kernel_size`, `stride`, `padding` and `output_size` take an integer or a pair `[h, w]`.
//!
//! Two ops beyond `nn.Sequential`, for networks such as EfficientNet:
//! * `{"op": "zeropad2d", "padding": [left, right, top, bottom]}` (PyTorch's `nn.ZeroPad2d`;
//!   an integer pads all four sides): `[C, H, W]` → `[C, top + H + bottom, left + W + right]`.
//!   TensorFlow's "SAME" padding of a convolution on a fixed input size is a `zeropad2d`
//!   (total max((⌈H/s⌉ − 1)·s + k − H, 0), the smaller half before) and a conv2d without padding;
//! * `{"op": "add", "from": i}`: a skip connection, adding to the current tensor the tensor
//!   that entered layer i (i = 0: the network input), for i smaller than the add's own index;
//!   both must have the same shape. It has no parameters and is not a crash site: a crash at a
//!   site before layer i reaches the sum through both paths. The input of a batchnorm2d that is
//!   folded into the conv2d before it cannot be referenced.
//!
//! A layer may carry a `"name"`: the prefix of its tensors in a state dict (default: its index),
//! e.g. `"conv_layers.0"` for the tensors `conv_layers.0.weight` and `conv_layers.0.bias`.
//! Unknown ops and unknown fields are errors that name the layer; shape inference
//! ([`Architecture::shapes`], in [`super::shape`]) names the layer, its op and both shapes when
//! the layers do not chain.

use super::layers::{
    ActKind, ActParams, ActivationSpec, AdaptivePool2d, Add, BatchNorm2d, Conv2d, Dropout, Linear,
    NoFields, Pool2d, ZeroPad2d,
};
use crate::error::{ModelError, Result};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// The ops a layer may name, in the order of SPEC §11 (then `zeropad2d` and `add`).
pub const OPS: [&str; 16] = [
    "conv2d",
    "linear",
    "batchnorm2d",
    "maxpool2d",
    "avgpool2d",
    "adaptive_avgpool2d",
    "flatten",
    "dropout",
    "relu",
    "relu6",
    "sigmoid",
    "tanh",
    "softplus",
    "softmax",
    "zeropad2d",
    "add",
];

/// What a layer computes (its op and the op's fields).
#[derive(Debug, Clone, PartialEq)]
pub enum LayerSpec {
    /// `conv2d`.
    Conv2d(Conv2d),
    /// `linear`.
    Linear(Linear),
    /// `batchnorm2d` (folded into a directly preceding conv2d).
    BatchNorm2d(BatchNorm2d),
    /// `maxpool2d` (padding counts as −∞).
    MaxPool2d(Pool2d),
    /// `avgpool2d` (padding counts as 0).
    AvgPool2d(Pool2d),
    /// `adaptive_avgpool2d`.
    AdaptiveAvgPool2d(AdaptivePool2d),
    /// `flatten`: `[C, H, W]` → `[C·H·W]`, row-major.
    Flatten,
    /// `dropout`: identity.
    Dropout(Dropout),
    /// `relu`, `relu6`, `sigmoid`, `tanh`, `softplus`.
    Activation(ActivationSpec),
    /// `softmax` over the last axis; last layer only.
    Softmax,
    /// `zeropad2d`: zero padding of the last two axes.
    ZeroPad2d(ZeroPad2d),
    /// `add`: a skip connection from the input of an earlier layer.
    Add(Add),
}

impl LayerSpec {
    /// The op name of SPEC §11.
    pub fn op(&self) -> &'static str {
        match self {
            Self::Conv2d(_) => "conv2d",
            Self::Linear(_) => "linear",
            Self::BatchNorm2d(_) => "batchnorm2d",
            Self::MaxPool2d(_) => "maxpool2d",
            Self::AvgPool2d(_) => "avgpool2d",
            Self::AdaptiveAvgPool2d(_) => "adaptive_avgpool2d",
            Self::Flatten => "flatten",
            Self::Dropout(_) => "dropout",
            Self::Activation(a) => a.kind.name(),
            Self::Softmax => "softmax",
            Self::ZeroPad2d(_) => "zeropad2d",
            Self::Add(_) => "add",
        }
    }

    /// The parameter tensors of the layer: `(parameter name, PyTorch shape)`.
    pub fn tensors(&self) -> Vec<(&'static str, Vec<usize>)> {
        match self {
            Self::Conv2d(c) => {
                let per_group = c.in_channels / c.groups.max(1);
                let mut v = vec![(
                    "weight",
                    vec![c.out_channels, per_group, c.kernel_size.0, c.kernel_size.1],
                )];
                if c.bias {
                    v.push(("bias", vec![c.out_channels]));
                }
                v
            }
            Self::Linear(l) => {
                let mut v = vec![("weight", vec![l.out_features, l.in_features])];
                if l.bias {
                    v.push(("bias", vec![l.out_features]));
                }
                v
            }
            Self::BatchNorm2d(b) => {
                let c = vec![b.num_features];
                let mut v = Vec::new();
                if b.affine {
                    v.push(("weight", c.clone()));
                    v.push(("bias", c.clone()));
                }
                v.push(("running_mean", c.clone()));
                v.push(("running_var", c));
                v
            }
            _ => Vec::new(),
        }
    }

    fn to_value(&self) -> Value {
        let fields = match self {
            Self::Conv2d(c) => serde_json::to_value(c),
            Self::Linear(l) => serde_json::to_value(l),
            Self::BatchNorm2d(b) => serde_json::to_value(b),
            Self::MaxPool2d(p) | Self::AvgPool2d(p) => serde_json::to_value(p),
            Self::AdaptiveAvgPool2d(p) => serde_json::to_value(p),
            Self::Dropout(d) => serde_json::to_value(d),
            Self::ZeroPad2d(z) => serde_json::to_value(z),
            Self::Add(a) => serde_json::to_value(a),
            Self::Activation(a) => serde_json::to_value(ActParams {
                scale: a.scale,
                gain: a.gain,
            }),
            Self::Flatten | Self::Softmax => Ok(Value::Object(Map::new())),
        };
        let mut map = match fields {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        map.insert("op".into(), Value::String(self.op().into()));
        Value::Object(map)
    }
}

/// One entry of the layer list: what it computes and, optionally, the state-dict prefix of
/// its tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Prefix of the layer's tensors in a state dict (`None`: the layer's index).
    pub name: Option<String>,
    /// The op and its fields.
    pub spec: LayerSpec,
}

impl Layer {
    /// An unnamed layer.
    pub fn new(spec: LayerSpec) -> Self {
        Self { name: None, spec }
    }

    /// A layer whose tensors are `{name}.weight`, … in a state dict.
    pub fn named(name: impl Into<String>, spec: LayerSpec) -> Self {
        Self {
            name: Some(name.into()),
            spec,
        }
    }

    /// The op name.
    pub fn op(&self) -> &'static str {
        self.spec.op()
    }

    /// The state-dict prefix of layer `index`: its name, else the index.
    pub fn key(&self, index: usize) -> String {
        self.name.clone().unwrap_or_else(|| index.to_string())
    }

    /// Parses layer `index` from its JSON object (errors name the index and the op).
    pub fn from_value(index: usize, value: Value) -> Result<Self> {
        let invalid = |op: &str, reason: String| ModelError::InvalidLayer {
            layer: index,
            op: op.to_string(),
            reason,
        };
        let mut map = match value {
            Value::Object(map) => map,
            other => {
                return Err(invalid(
                    "?",
                    format!("a layer must be a JSON object, got {other}"),
                ));
            }
        };
        let op = match map.remove("op") {
            Some(Value::String(s)) => s,
            Some(other) => return Err(invalid("?", format!("`op` must be a string, got {other}"))),
            None => return Err(invalid("?", "the layer has no `op`".into())),
        };
        let name = match map.remove("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(other) => {
                return Err(invalid(
                    &op,
                    format!("`name` must be a string, got {other}"),
                ));
            }
        };
        let rest = Value::Object(map);
        fn parse<T: serde::de::DeserializeOwned>(rest: Value, index: usize, op: &str) -> Result<T> {
            serde_json::from_value(rest).map_err(|e| ModelError::InvalidLayer {
                layer: index,
                op: op.to_string(),
                reason: e.to_string(),
            })
        }
        let act = |kind: ActKind, rest: Value| -> Result<LayerSpec> {
            let p: ActParams = parse(rest, index, &op)?;
            Ok(LayerSpec::Activation(ActivationSpec {
                kind,
                scale: p.scale,
                gain: p.gain,
            }))
        };
        let spec = match op.as_str() {
            "conv2d" => LayerSpec::Conv2d(parse(rest, index, &op)?),
            "linear" => LayerSpec::Linear(parse(rest, index, &op)?),
            "batchnorm2d" => LayerSpec::BatchNorm2d(parse(rest, index, &op)?),
            "maxpool2d" => LayerSpec::MaxPool2d(parse(rest, index, &op)?),
            "avgpool2d" => LayerSpec::AvgPool2d(parse(rest, index, &op)?),
            "adaptive_avgpool2d" => LayerSpec::AdaptiveAvgPool2d(parse(rest, index, &op)?),
            "flatten" => {
                parse::<NoFields>(rest, index, &op)?;
                LayerSpec::Flatten
            }
            "dropout" => LayerSpec::Dropout(parse(rest, index, &op)?),
            "zeropad2d" => LayerSpec::ZeroPad2d(parse(rest, index, &op)?),
            "add" => LayerSpec::Add(parse(rest, index, &op)?),
            "softmax" => {
                parse::<NoFields>(rest, index, &op)?;
                LayerSpec::Softmax
            }
            other => match ActKind::ALL.into_iter().find(|k| k.name() == other) {
                Some(kind) => act(kind, rest)?,
                None => {
                    return Err(ModelError::UnknownOp {
                        layer: index,
                        op: op.clone(),
                    })
                }
            },
        };
        Ok(Self { name, spec })
    }

    /// The layer as its JSON object.
    pub fn to_value(&self) -> Value {
        let mut v = self.spec.to_value();
        if let (Some(name), Value::Object(map)) = (&self.name, &mut v) {
            map.insert("name".into(), Value::String(name.clone()));
        }
        v
    }
}

/// A Sequential network's architecture (SPEC §11): the per-example input shape (`[C, H, W]`
/// or `[n]`, without the batch axis) and the layers in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    /// Shape of one example.
    pub input_shape: Vec<usize>,
    /// The layers, applied in order.
    pub layers: Vec<Layer>,
}

impl Architecture {
    /// Parses the architecture JSON and validates it ([`Architecture::shapes`]).
    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| ModelError::ArchitectureJson(e.to_string()))?;
        Self::from_value(value)
    }

    /// [`Architecture::from_json`] on a parsed JSON value.
    pub fn from_value(value: Value) -> Result<Self> {
        let bad = ModelError::ArchitectureJson;
        let mut map = match value {
            Value::Object(map) => map,
            other => {
                return Err(bad(format!(
                    "expected an object {{\"input_shape\": [...], \"layers\": [...]}}, got {other}"
                )));
            }
        };
        let input_shape: Vec<usize> = match map.remove("input_shape") {
            Some(v) => serde_json::from_value(v)
                .map_err(|e| bad(format!("`input_shape` must be a list of sizes: {e}")))?,
            None => return Err(bad("missing `input_shape`".into())),
        };
        let layers = match map.remove("layers") {
            Some(Value::Array(a)) => a,
            Some(other) => return Err(bad(format!("`layers` must be a list, got {other}"))),
            None => return Err(bad("missing `layers`".into())),
        };
        if let Some(key) = map.keys().next() {
            return Err(bad(format!(
                "unknown key `{key}` (expected `input_shape` and `layers`)"
            )));
        }
        let layers = layers
            .into_iter()
            .enumerate()
            .map(|(i, v)| Layer::from_value(i, v))
            .collect::<Result<Vec<_>>>()?;
        let arch = Self {
            input_shape,
            layers,
        };
        arch.shapes()?;
        Ok(arch)
    }

    /// The architecture as a JSON value.
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("input_shape".into(), Value::from(self.input_shape.clone()));
        map.insert(
            "layers".into(),
            Value::Array(self.layers.iter().map(Layer::to_value).collect()),
        );
        Value::Object(map)
    }

    /// The architecture JSON (one line).
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    /// The same architecture with every layer's `name` removed (tensors keyed by index).
    pub fn without_names(&self) -> Self {
        Self {
            input_shape: self.input_shape.clone(),
            layers: self
                .layers
                .iter()
                .map(|l| Layer::new(l.spec.clone()))
                .collect(),
        }
    }

    /// Every parameter tensor: `(layer index, state-dict key, PyTorch shape)`, the key being
    /// `{name or index}.{weight|bias|running_mean|running_var}`.
    pub fn tensors(&self) -> Vec<(usize, String, Vec<usize>)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                let key = l.key(i);
                l.spec
                    .tensors()
                    .into_iter()
                    .map(move |(p, s)| (i, format!("{key}.{p}"), s))
            })
            .collect()
    }
}

impl Serialize for Architecture {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Architecture {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Self::from_value(value).map_err(de::Error::custom)
    }
}
