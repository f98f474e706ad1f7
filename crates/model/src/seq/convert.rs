//! The MLP of SPEC §2 as a Sequential network and back (SPEC §11: "both formats load into one
//! network type").
//!
//! An [`Mlp`] with activation φ_K and L weight layers is `linear, act, linear, act, …, linear`
//! where each `act` computes `φ(scale·z)·gain` with φ standard and
//!
//! | MLP activation (SPEC §2) | Sequential layer |
//! |---|---|
//! | sigmoid: σ(4Kz) | `sigmoid`, scale 4K, gain 1 |
//! | relu: K·max(0, z) = max(0, Kz) (K > 0) | `relu`, scale K, gain 1 |
//! | tanh: tanh(Kz) | `tanh`, scale K, gain 1 |
//! | softplus: ln(1 + e^{Kz}) | `softplus`, scale K, gain 1 |
//!
//! Both have the same crash sites: input, every hidden layer, output (L + 1).
//! [`Sequential::as_mlp`] recognises such a network (dropout and flatten layers, identities on
//! a 1-D input, are skipped; a relu's K is scale·gain) so the fast MLP engine can run it.

use super::arch::{Architecture, Layer, LayerSpec};
use super::layers::{ActKind, ActivationSpec, Linear};
use super::network::Sequential;
use super::ops::values;
use crate::activation::Activation;
use crate::error::Result;
use crate::mlp::{Dense, Mlp};
use candle_core::{Device, Tensor};
use std::collections::BTreeMap;

impl Sequential {
    /// The MLP of SPEC §2 as `linear, act, …, linear` (see the module table) on `device`.
    pub fn from_mlp(mlp: &Mlp, device: &Device) -> Result<Self> {
        let k = mlp.k_lips();
        let (kind, scale) = match mlp.activation() {
            Activation::Sigmoid => (ActKind::Sigmoid, 4.0 * k),
            Activation::Relu => (ActKind::Relu, k),
            Activation::Tanh => (ActKind::Tanh, k),
            Activation::Softplus => (ActKind::Softplus, k),
        };
        let act = ActivationSpec {
            kind,
            scale,
            gain: 1.0,
        };
        let n = mlp.layers().len();
        let mut layers = Vec::with_capacity(2 * n - 1);
        let mut tensors = BTreeMap::new();
        for (l, d) in mlp.layers().iter().enumerate() {
            let i = layers.len();
            layers.push(Layer::new(LayerSpec::Linear(Linear {
                in_features: d.n_in(),
                out_features: d.n_out(),
                bias: true,
            })));
            tensors.insert(
                format!("{i}.weight"),
                Tensor::from_slice(d.weight(), (d.n_out(), d.n_in()), device)?,
            );
            tensors.insert(
                format!("{i}.bias"),
                Tensor::from_slice(d.bias(), d.n_out(), device)?,
            );
            if l + 1 < n {
                layers.push(Layer::new(LayerSpec::Activation(act)));
            }
        }
        let arch = Architecture {
            input_shape: vec![mlp.n_inputs()],
            layers,
        };
        Self::new(arch, &tensors, device)
    }

    /// The network as an [`Mlp`] when it is `linear, act, linear, …, linear` on a 1-D input
    /// with one activation (same kind, scale and gain everywhere) that the MLP can express:
    /// sigmoid with gain 1 (K = scale/4), relu with scale, gain > 0 (K = scale·gain), tanh or
    /// softplus with gain 1 (K = scale). Dropout and flatten layers are skipped. `None`
    /// otherwise.
    pub fn as_mlp(&self) -> Option<Mlp> {
        let arch = self.architecture();
        if arch.input_shape.len() != 1 {
            return None;
        }
        let layers: Vec<(usize, &LayerSpec)> = arch
            .layers
            .iter()
            .enumerate()
            .filter(|(_, l)| !matches!(l.spec, LayerSpec::Dropout(_) | LayerSpec::Flatten))
            .map(|(i, l)| (i, &l.spec))
            .collect();
        let mut act: Option<ActivationSpec> = None;
        let mut dense = Vec::new();
        for (pos, (i, spec)) in layers.iter().enumerate() {
            match (pos % 2, spec) {
                (0, LayerSpec::Linear(l)) => dense.push(self.dense(*i, l)?),
                (1, LayerSpec::Activation(a)) => match act {
                    None => act = Some(*a),
                    Some(prev) if prev == *a => {}
                    Some(_) => return None,
                },
                _ => return None,
            }
        }
        if layers.len().is_multiple_of(2) {
            return None; // ends in an activation
        }
        let (activation, k) = match act {
            None => (Activation::Relu, 1.0),
            Some(a) => {
                let positive = a.scale > 0.0;
                match a.kind {
                    ActKind::Sigmoid if positive && a.gain == 1.0 => {
                        (Activation::Sigmoid, a.scale / 4.0)
                    }
                    ActKind::Relu if positive && a.gain > 0.0 => {
                        (Activation::Relu, a.scale * a.gain)
                    }
                    ActKind::Tanh if positive && a.gain == 1.0 => (Activation::Tanh, a.scale),
                    ActKind::Softplus if positive && a.gain == 1.0 => {
                        (Activation::Softplus, a.scale)
                    }
                    _ => return None,
                }
            }
        };
        Mlp::new(dense, activation, k).ok()
    }

    /// Layer `i` (a linear layer) as a [`Dense`].
    fn dense(&self, i: usize, l: &Linear) -> Option<Dense> {
        let p = self.parameters();
        let w = values(p.get(&format!("{i}.weight"))?).ok()?;
        let b = match p.get(&format!("{i}.bias")) {
            Some(b) if l.bias => values(b).ok()?,
            _ => vec![0.0; l.out_features],
        };
        Dense::new(w, b, l.out_features, l.in_features).ok()
    }
}
