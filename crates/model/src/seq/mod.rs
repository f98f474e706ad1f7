//! Sequential networks (SPEC §11 "Sequential model file", §9): CNNs and MLPs as one layer list
//! — conv2d, linear, batchnorm2d, pooling, flatten, dropout, activations, softmax, zero padding,
//! skip connections (`add`) — with
//! parameters as candle tensors on any device, and the crash sites of SPEC §11 "Crash sites"
//! (input, every activation output, output) at which Monte Carlo crashes elements (SPEC §1).
//!
//! * [`arch`]: the architecture JSON ([`Architecture`], [`Layer`], [`LayerSpec`]);
//! * [`layers`]: the fields of each op ([`Conv2d`], [`Pool2d`], [`ActivationSpec`], …);
//! * [`shape`]: shape inference ([`Architecture::shapes`]);
//! * [`network`]: [`Sequential`], its forward pass, sites ([`Site`]) and masked forward;
//! * [`io`]: the model file and PyTorch state-dict import;
//! * [`convert`]: to and from the [`Mlp`](crate::Mlp) of SPEC §2;
//! * [`efficientnet`]: the shipped EfficientNet-Lite0 ([`Sequential::efficientnet_lite0`]);
//! * [`montecarlo`]: Monte Carlo of Δ with crashes at any site ([`SeqMonteCarlo`]);
//! * [`exact`]: exact E Δ and std Δ by enumeration ([`seq_exact_delta`]);
//! * [`vgg`]: torchvision VGG networks with the SPEC §9 transforms ([`VggTransforms`]).

pub mod arch;
pub mod convert;
mod cpu;
pub mod efficientnet;
pub mod exact;
mod fused;
pub mod io;
pub mod layers;
pub mod montecarlo;
pub mod network;
mod ops;
pub mod shape;
pub mod vgg;

pub use arch::{Architecture, Layer, LayerSpec, OPS};
pub use exact::seq_exact_delta;
pub use io::META_ARCHITECTURE;
pub use layers::{
    ActKind, ActivationSpec, AdaptivePool2d, Add, BatchNorm2d, Conv2d, Dropout, Linear, Pad4, Pair,
    Pool2d, ZeroPad2d,
};
pub use montecarlo::SeqMonteCarlo;
pub use network::{Sequential, Site};
pub use vgg::{vgg_architecture, VggActivation, VggTransforms};
