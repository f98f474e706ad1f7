//! Loading the user's model, whatever its format (SPEC §11): an ftnn MLP file, a Sequential
//! model file (CNNs and MLPs, architecture in the metadata), or a PyTorch state dict with
//! `--architecture ARCH.json` (any Sequential) or `--activation` (an MLP).
//!
//! Every format loads into one network description; a Sequential network that is an MLP
//! (`linear, act, …, linear` with one activation) runs on the MLP engine, which has the fast
//! Monte Carlo paths and every bound — the planner's choice, not a second model.
//!
//! **A PyTorch import means PyTorch's functions**: a state dict loaded with `--activation
//! sigmoid` is the network with `nn.Sigmoid`, σ(z) (ftnn's MLP sigmoid σ(4Kz) with K = ¼),
//! unless `--k-lips` is given, which keeps ftnn's convention φ_K of SPEC §2. The report
//! prints the function as understood.

use crate::common::wrap;
use crate::CliError;
use anyhow::Context;
use candle_core::Device;
use ftnn_model::seq::{Architecture, Sequential};
use ftnn_model::{Activation, Mlp};
use std::path::{Path, PathBuf};

/// The model arguments shared by the commands that analyse a network.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model: an ftnn MLP file, a Sequential model file (CNN or MLP, architecture in its
    /// metadata), or a PyTorch state dict (.safetensors or .pth) together with --architecture
    /// (any Sequential network) or --activation (an MLP).
    #[arg(long)]
    pub model: PathBuf,
    /// Architecture JSON (SPEC §11) of a PyTorch nn.Sequential state dict: CNNs and MLPs.
    #[arg(long, conflicts_with = "activation")]
    pub architecture: Option<PathBuf>,
    /// Hidden activation of a plain PyTorch MLP state dict: PyTorch's function (sigmoid is
    /// σ(z), softplus ln(1 + eᶻ)) unless --k-lips is given.
    #[arg(long, value_parser = |s: &str| s.parse::<Activation>())]
    pub activation: Option<Activation>,
    /// Lipschitz constant K in ftnn's convention (SPEC §2: sigmoid σ(4Kz), ReLU K·max(0, z),
    /// tanh(Kz), softplus ln(1 + e^{Kz})) for a state dict loaded with --activation.
    #[arg(long, requires = "activation")]
    pub k_lips: Option<f64>,
}

/// A loaded network: the MLP engine's type, or a general Sequential network.
pub enum Network {
    /// An MLP (from an MLP file, an MLP state dict, or a Sequential file that is an MLP).
    Mlp(Mlp),
    /// Any other Sequential network (CNNs).
    Seq(Box<Sequential>),
}

/// PyTorch's K for an activation in ftnn's convention: σ(z) = σ(4·¼·z); the others K = 1.
pub fn pytorch_k(act: Activation) -> f64 {
    match act {
        Activation::Sigmoid => 0.25,
        _ => 1.0,
    }
}

/// The function an MLP applies, as PyTorch users read it: `sigmoid(z)`, `sigmoid(4z)`,
/// `1.5·relu(z)`, `tanh(2z)`, `softplus(z)`.
pub fn function_name(act: Activation, k: f64) -> String {
    let scaled = |c: f64| {
        if c == 1.0 {
            "z".to_string()
        } else {
            format!("{c}z")
        }
    };
    match act {
        Activation::Sigmoid => format!("sigmoid({})", scaled(4.0 * k)),
        Activation::Relu if k == 1.0 => "relu(z)".into(),
        Activation::Relu => format!("{k}·relu(z)"),
        Activation::Tanh => format!("tanh({})", scaled(k)),
        Activation::Softplus => format!("softplus({})", scaled(k)),
    }
}

impl ModelArgs {
    /// Loads the model onto the host; every failure is bad input (exit code 2) unless it is
    /// an I/O or internal error.
    pub fn load(&self) -> Result<Network, CliError> {
        self.load_on(&Device::Cpu)
    }

    /// [`ModelArgs::load`] with a Sequential network's tensors on `device` (an MLP keeps its
    /// weights on the host: the MLP engine's loops are CPU code).
    pub fn load_on(&self, device: &Device) -> Result<Network, CliError> {
        let what = || format!("cannot load the model {}", self.model.display());
        if let Some(arch_path) = &self.architecture {
            let arch = read_architecture(arch_path)?;
            let seq = Sequential::from_state_dict(&self.model, &arch, device)
                .map_err(|e| wrap(e, &what()))?;
            return Ok(plan(seq));
        }
        if let Some(act) = self.activation {
            let k = self.k_lips.unwrap_or_else(|| pytorch_k(act));
            let mlp = Mlp::from_state_dict(&self.model, act, k).map_err(|e| wrap(e, &what()))?;
            return Ok(Network::Mlp(mlp));
        }
        if has_architecture(&self.model) {
            let seq = Sequential::load(&self.model, device).map_err(|e| wrap(e, &what()))?;
            return Ok(plan(seq));
        }
        Ok(Network::Mlp(
            Mlp::load(&self.model).map_err(|e| wrap(e, &what()))?,
        ))
    }
}

/// The engine for a Sequential network: the MLP engine when it is an MLP.
fn plan(seq: Sequential) -> Network {
    match seq.as_mlp() {
        Some(mlp) => Network::Mlp(mlp),
        None => Network::Seq(Box::new(seq)),
    }
}

/// Whether `path` is a safetensors file whose metadata holds an architecture. Reads the
/// header only ([`ftnn_data::inspect_safetensors`]), so the weights are parsed once, by the
/// loader that follows. Anything unreadable answers no, and the MLP loader reports the problem.
fn has_architecture(path: &Path) -> bool {
    ftnn_data::inspect_safetensors(path)
        .map(|h| h.metadata.contains_key(ftnn_model::seq::META_ARCHITECTURE))
        .unwrap_or(false)
}

/// Reads an architecture JSON file.
pub fn read_architecture(path: &Path) -> Result<Architecture, CliError> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --architecture {}", path.display()))
        .map_err(CliError::input)?;
    Architecture::from_json(&text)
        .map_err(|e| wrap(e, &format!("--architecture {}", path.display())))
}
