//! The differentiable forward pass used in training: an MLP (SPEC §2) built from candle ops
//! over [`Var`] parameters, with optional crash-dropout masks, and the pieces the
//! regularizers need (activation derivatives, the scaled Jacobian d_{l,i}).

use crate::error::Result;
use candle_core::{DType, Tensor, Var};
use ftnn_model::Activation;

/// The trainable parameters as candle variables: `weights[l−1]` is W_l `[n_l, n_{l−1}]`,
/// `biases[l−1]` is b_l `[n_l]`.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub weights: Vec<Var>,
    pub biases: Vec<Var>,
}

/// One forward pass over a batch, keeping what the loss and the regularizers need.
pub(crate) struct ForwardGraph {
    activation: Activation,
    k: f64,
    weights: Vec<Tensor>,
    biases: Vec<Tensor>,
    /// Pre-activations z_l, l = 1..=L (index l − 1).
    zs: Vec<Tensor>,
    /// Crash-free activations φ(z_l) of hidden layers, l = 1..L−1 (index l − 1).
    acts: Vec<Tensor>,
    /// Layer outputs after the masks, y_0..y_L.
    ys: Vec<Tensor>,
    /// Crash-dropout masks per layer of neurons (`None`: nothing crashes there).
    masks: Vec<Option<Tensor>>,
}

impl ForwardGraph {
    /// y_0 = x ⊙ m_0, y_l = φ(W_l y_{l−1} + b_l) ⊙ m_l, y_L = (W_L y_{L−1} + b_L) ⊙ m_L.
    pub fn build(
        params: &Params,
        activation: Activation,
        k: f64,
        x: &Tensor,
        masks: Vec<Option<Tensor>>,
    ) -> Result<Self> {
        let weights: Vec<Tensor> = params
            .weights
            .iter()
            .map(|v| v.as_tensor().clone())
            .collect();
        let biases: Vec<Tensor> = params
            .biases
            .iter()
            .map(|v| v.as_tensor().clone())
            .collect();
        let n_layers = weights.len();
        let apply_mask = |t: Tensor, m: &Option<Tensor>| -> candle_core::Result<Tensor> {
            match m {
                Some(m) => t * m,
                None => Ok(t),
            }
        };
        let mut ys = vec![apply_mask(x.clone(), &masks[0])?];
        let (mut zs, mut acts) = (Vec::with_capacity(n_layers), Vec::new());
        for l in 1..=n_layers {
            let z = ys[l - 1]
                .matmul(&weights[l - 1].t()?)?
                .broadcast_add(&biases[l - 1])?;
            let y = if l < n_layers {
                let a = activate(activation, k, &z)?;
                acts.push(a.clone());
                a
            } else {
                z.clone()
            };
            zs.push(z);
            ys.push(apply_mask(y, &masks[l])?);
        }
        Ok(Self {
            activation,
            k,
            weights,
            biases,
            zs,
            acts,
            ys,
            masks,
        })
    }

    /// The network output y_L `[batch, n_L]`.
    pub fn output(&self) -> &Tensor {
        self.ys.last().expect("at least one layer")
    }

    /// The weight matrices W_1..W_L.
    pub fn weights(&self) -> &[Tensor] {
        &self.weights
    }

    /// The bias vectors b_1..b_L.
    pub fn biases(&self) -> &[Tensor] {
        &self.biases
    }

    /// ∂y_l/∂z_l = φ'(z_l) ⊙ m_l for a hidden layer l, `[batch, n_l]`.
    fn local_derivative(&self, l: usize) -> Result<Tensor> {
        let (a, z, k) = (&self.acts[l - 1], &self.zs[l - 1], self.k);
        let d = match self.activation {
            Activation::Sigmoid => (a * a.affine(-1.0, 1.0)?)?.affine(4.0 * k, 0.0)?,
            Activation::Relu => z.gt(0.0)?.to_dtype(DType::F32)?.affine(k, 0.0)?,
            Activation::Tanh => a.sqr()?.affine(-k, k)?,
            Activation::Softplus => candle_nn::ops::sigmoid(&z.affine(k, 0.0)?)?.affine(k, 0.0)?,
        };
        Ok(match &self.masks[l] {
            Some(m) => (d * m)?,
            None => d,
        })
    }

    /// d_{l,i} = y_{l,i} · ∂y_L/∂y_{l,i} for every example, `[batch, n_L, n_l]` (SPEC §4, b3),
    /// differentiable: J = W_L D_{L−1} W_{L−1} ··· D_{l+1} W_{l+1} with D_k = diag(φ'(z_k) ⊙ m_k),
    /// built right to left as stacked GEMMs.
    pub fn scaled_jacobian(&self, l: usize) -> Result<Tensor> {
        let n_layers = self.weights.len();
        let batch = self.ys[0].dim(0)?;
        let w_last = &self.weights[n_layers - 1];
        let n_out = w_last.dim(0)?;
        // G = ∂y_L/∂y_{L−1} for every example: [batch, n_L, n_{L−1}].
        let mut g = w_last
            .unsqueeze(0)?
            .broadcast_as((batch, n_out, w_last.dim(1)?))?;
        for k in (l + 1..n_layers).rev() {
            let dk = self.local_derivative(k)?.unsqueeze(1)?; // [batch, 1, n_k]
            let gk = g.broadcast_mul(&dk)?; // [batch, n_L, n_k]
            let n_k = gk.dim(2)?;
            let wk = &self.weights[k - 1]; // [n_k, n_{k−1}]
            g = gk.reshape((batch * n_out, n_k))?.matmul(wk)?.reshape((
                batch,
                n_out,
                wk.dim(1)?,
            ))?;
        }
        Ok(g.broadcast_mul(&self.ys[l].unsqueeze(1)?)?)
    }
}

/// φ(z) of SPEC §2 with Lipschitz constant K, from differentiable candle ops.
pub(crate) fn activate(activation: Activation, k: f64, z: &Tensor) -> candle_core::Result<Tensor> {
    match activation {
        Activation::Sigmoid => candle_nn::ops::sigmoid(&z.affine(4.0 * k, 0.0)?),
        Activation::Relu => z.relu()?.affine(k, 0.0),
        Activation::Tanh => z.affine(k, 0.0)?.tanh(),
        Activation::Softplus => {
            // ln(1 + e^t) = max(t, 0) + ln(1 + e^{−|t|}), stable for large |t|.
            let t = z.affine(k, 0.0)?;
            t.relu()? + t.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?
        }
    }
}

/// The smooth() operators of the `continuous` regularizer, built once per training run:
/// one per non-output layer l, for its n_l neurons (W_l `[n_l, n_{l−1}]` and b_l `[n_l]` share
/// it) (SPEC §7).
#[derive(Debug, Default)]
pub(crate) struct Smoothers(Vec<ftnn_continuity::Smoother>);

impl Smoothers {
    /// Operators for the hidden layers of a network of widths `sizes` when `needed`, on
    /// `device`.
    pub fn new(sizes: &[usize], needed: bool, device: &candle_core::Device) -> Result<Self> {
        if !needed {
            return Ok(Self::default());
        }
        let hidden = &sizes[1..sizes.len() - 1];
        Ok(Self(
            hidden
                .iter()
                .map(|&n| ftnn_continuity::Smoother::new(n, DType::F32, device))
                .collect::<std::result::Result<_, _>>()?,
        ))
    }

    /// Σ over non-output layers l of ψ_d·derivative + ψ_s·smoothness of W_l and of b_l.
    pub fn term(
        &self,
        weights: &[Tensor],
        biases: &[Tensor],
        psi_d: f64,
        psi_s: f64,
    ) -> Result<Tensor> {
        let mut acc: Option<Tensor> = None;
        for (l, smoother) in self.0.iter().enumerate() {
            for t in [&weights[l], &biases[l]] {
                let s = smoother.apply(t, psi_d, psi_s)?;
                acc = Some(match acc {
                    Some(a) => (a + s)?,
                    None => s,
                });
            }
        }
        match acc {
            Some(a) => Ok(a),
            // No hidden layer: a zero on the device of the parameters.
            None => match weights.first() {
                Some(w) => Ok(Tensor::zeros((), DType::F32, w.device())?),
                None => Ok(Tensor::zeros((), DType::F32, &candle_core::Device::Cpu)?),
            },
        }
    }
}
