//! The layer objects of the Sequential architecture JSON (SPEC §11): the fields of each op,
//! with PyTorch's defaults, and the integer-or-pair sizes of PyTorch's pooling and convolution
//! modules.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A pair `(height, width)`; in JSON an integer `k` (meaning `[k, k]`) or an array `[h, w]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Pair(pub usize, pub usize);

impl Pair {
    /// `[1, 1]`.
    pub fn ones() -> Self {
        Pair(1, 1)
    }
    /// `[k, k]`.
    pub fn square(k: usize) -> Self {
        Pair(k, k)
    }
}

impl<'de> Deserialize<'de> for Pair {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct PairVisitor;
        impl<'de> Visitor<'de> for PairVisitor {
            type Value = Pair;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or a pair [h, w]")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Pair, E> {
                let k = usize::try_from(v).map_err(|_| E::custom(format!("{v} is too large")))?;
                Ok(Pair(k, k))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Pair, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Pair, A::Error> {
                let h: usize = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let w: usize = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                Ok(Pair(h, w))
            }
        }
        d.deserialize_any(PairVisitor)
    }
}

fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn unit_f64() -> f64 {
    1.0
}
fn bn_eps() -> f64 {
    1e-5
}

/// `nn.Conv2d`: weight `[out_channels, in_channels/groups, kh, kw]`, bias `[out_channels]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2d {
    /// Input channels C.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel `[kh, kw]`.
    pub kernel_size: Pair,
    /// Stride (default `[1, 1]`).
    #[serde(default = "Pair::ones")]
    pub stride: Pair,
    /// Zero padding on each side (default `[0, 0]`).
    #[serde(default)]
    pub padding: Pair,
    /// Groups (default 1; `in_channels` for a depthwise convolution).
    #[serde(default = "one")]
    pub groups: usize,
    /// Whether the layer has a bias (default true).
    #[serde(default = "yes")]
    pub bias: bool,
}

/// `nn.Linear` over the last axis: weight `[out_features, in_features]`, bias `[out_features]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Linear {
    /// Input width.
    pub in_features: usize,
    /// Output width.
    pub out_features: usize,
    /// Whether the layer has a bias (default true).
    #[serde(default = "yes")]
    pub bias: bool,
}

/// `nn.BatchNorm2d` at inference: `y = (x − mean)·γ/√(var + eps) + β` per channel, with the
/// tensors `weight` (γ), `bias` (β), `running_mean`, `running_var`, each `[num_features]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNorm2d {
    /// Channels C.
    pub num_features: usize,
    /// ε (default 1e-5).
    #[serde(default = "bn_eps")]
    pub eps: f64,
    /// Whether γ and β exist (default true; otherwise γ = 1, β = 0).
    #[serde(default = "yes")]
    pub affine: bool,
}

/// `nn.MaxPool2d` / `nn.AvgPool2d` (floor mode; average pooling counts the zero padding).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool2d {
    /// Window `[kh, kw]`.
    pub kernel_size: Pair,
    /// Stride (default: the kernel size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<Pair>,
    /// Padding on each side, at most half the window (default 0).
    #[serde(default)]
    pub padding: Pair,
}

impl Pool2d {
    /// The stride, defaulting to the kernel size.
    pub fn stride(&self) -> Pair {
        self.stride.unwrap_or(self.kernel_size)
    }
}

/// `nn.AdaptiveAvgPool2d`: output `[C, oh, ow]`; cell i averages rows
/// ⌊i·H/oh⌋ .. ⌈(i+1)·H/oh⌉ (and likewise columns), as PyTorch does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptivePool2d {
    /// Output size `[oh, ow]` (default `[1, 1]`).
    #[serde(default = "Pair::ones")]
    pub output_size: Pair,
}

/// `nn.Dropout`: the identity at inference (`p` is accepted and ignored).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dropout {
    /// The training drop probability (unused at inference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
}

/// The standard elementwise nonlinearities of activation layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActKind {
    /// max(0, t).
    Relu,
    /// min(max(0, t), 6).
    Relu6,
    /// 1/(1 + e^{−t}).
    Sigmoid,
    /// tanh t.
    Tanh,
    /// ln(1 + eᵗ).
    Softplus,
}

impl ActKind {
    /// All kinds.
    pub const ALL: [ActKind; 5] = [
        Self::Relu,
        Self::Relu6,
        Self::Sigmoid,
        Self::Tanh,
        Self::Softplus,
    ];
    /// The op name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Relu => "relu",
            Self::Relu6 => "relu6",
            Self::Sigmoid => "sigmoid",
            Self::Tanh => "tanh",
            Self::Softplus => "softplus",
        }
    }
}

/// An activation layer `y = φ(scale·z)·gain` (SPEC §11); PyTorch's `Softplus(beta)` is
/// softplus with `scale = beta`, `gain = 1/beta`. Its output is a crash site.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivationSpec {
    /// φ.
    pub kind: ActKind,
    /// Factor applied before φ (default 1).
    pub scale: f64,
    /// Factor applied after φ (default 1).
    pub gain: f64,
}

impl ActivationSpec {
    /// φ with scale and gain 1.
    pub fn standard(kind: ActKind) -> Self {
        Self {
            kind,
            scale: 1.0,
            gain: 1.0,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActParams {
    #[serde(default = "unit_f64")]
    pub(crate) scale: f64,
    #[serde(default = "unit_f64")]
    pub(crate) gain: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoFields {}

/// Zero padding of the last two axes `[left, right, top, bottom]` (PyTorch's `nn.ZeroPad2d`
/// order); in JSON an integer `p` (all four sides) or an array of four.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pad4 {
    /// Columns added before the first one.
    pub left: usize,
    /// Columns added after the last one.
    pub right: usize,
    /// Rows added before the first one.
    pub top: usize,
    /// Rows added after the last one.
    pub bottom: usize,
}

impl Pad4 {
    /// The same padding on all four sides.
    pub fn all(p: usize) -> Self {
        Self {
            left: p,
            right: p,
            top: p,
            bottom: p,
        }
    }
}

impl Serialize for Pad4 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        [self.left, self.right, self.top, self.bottom].serialize(s)
    }
}

impl<'de> Deserialize<'de> for Pad4 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Pad4Visitor;
        impl<'de> Visitor<'de> for Pad4Visitor {
            type Value = Pad4;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or [left, right, top, bottom]")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Pad4, E> {
                let k = usize::try_from(v).map_err(|_| E::custom(format!("{v} is too large")))?;
                Ok(Pad4::all(k))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Pad4, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Pad4, A::Error> {
                let mut v = [0usize; 4];
                for (i, slot) in v.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                }
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(5, &self));
                }
                Ok(Pad4 {
                    left: v[0],
                    right: v[1],
                    top: v[2],
                    bottom: v[3],
                })
            }
        }
        d.deserialize_any(Pad4Visitor)
    }
}

/// `nn.ZeroPad2d`: `[C, H, W]` → `[C, top + H + bottom, left + W + right]`, the new elements 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZeroPad2d {
    /// `[left, right, top, bottom]`.
    pub padding: Pad4,
}

/// A skip connection: adds to the current tensor the tensor that entered layer `from` (0: the
/// network input), which must have the same shape and come before this layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Add {
    /// The layer whose input is added.
    pub from: usize,
}
