//! The fully connected network of SPEC §2 with crash masks.
//!
//! Sizes `[n_0, …, n_L]`; layer l = 1..L has weight `W_l` of shape `[n_l, n_{l−1}]` (PyTorch
//! `nn.Linear` layout) and bias `b_l` of shape `[n_l]`. With crash masks `m_l ∈ {0,1}^{n_l}`:
//!
//! ```text
//! y_0 = x ⊙ m_0
//! y_l = φ(W_l y_{l−1} + b_l) ⊙ m_l        l = 1..L−1
//! y_L = (W_L y_{L−1} + b_L) ⊙ m_L         (linear output)
//! ```
//!
//! The weights are kept twice: row-major `W_l` for the f64 reference forward and the future
//! analytic backward, and `W_lᵀ` (`[n_{l−1}, n_l]`, contiguous) both as a slice — row i of
//! `W_lᵀ` is the column of `W_l` that a crash of neuron (l−1, i) subtracts (SPEC §14) — and as
//! a candle tensor for GEMM.

use crate::activation::Activation;
use crate::error::{check_finite, check_len, ModelError, Result};
use candle_core::{Device, Tensor};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// One affine layer `z = W y + b`.
#[derive(Debug, Clone)]
pub struct Dense {
    n_in: usize,
    n_out: usize,
    weight: Vec<f32>,
    weight_t: Vec<f32>,
    weight_t_tensor: Tensor,
    weight_tensor: Tensor,
    bias: Vec<f32>,
}

impl Dense {
    /// A layer from a row-major weight `[n_out, n_in]` and a bias `[n_out]`; all values finite.
    /// Its GEMM tensors live on the host: the MLP engine's hot loops are CPU loops (use
    /// [`Dense::new_on`] for another device).
    pub fn new(weight: Vec<f32>, bias: Vec<f32>, n_out: usize, n_in: usize) -> Result<Self> {
        Self::new_on(weight, bias, n_out, n_in, &Device::Cpu)
    }

    /// [`Dense::new`] with the GEMM tensors (`W`, `Wᵀ`) on `device`; the GEMM helpers
    /// ([`Dense::matmul_rows`], [`Dense::backward_rows`], …) then run there, taking and
    /// returning host vectors.
    pub fn new_on(
        weight: Vec<f32>,
        bias: Vec<f32>,
        n_out: usize,
        n_in: usize,
        device: &Device,
    ) -> Result<Self> {
        if n_in == 0 || n_out == 0 {
            return Err(ModelError::Architecture(format!(
                "a layer of shape [{n_out}, {n_in}] has no neurons"
            )));
        }
        check_len(
            "weight",
            weight.len(),
            n_out * n_in,
            &format!("[{n_out}, {n_in}]"),
        )?;
        check_len("bias", bias.len(), n_out, &format!("[{n_out}]"))?;
        check_finite("weight", &weight)?;
        check_finite("bias", &bias)?;
        let mut weight_t = vec![0f32; n_in * n_out];
        for o in 0..n_out {
            for i in 0..n_in {
                weight_t[i * n_out + o] = weight[o * n_in + i];
            }
        }
        let weight_t_tensor = Tensor::from_slice(&weight_t, (n_in, n_out), device)?;
        let weight_tensor = Tensor::from_slice(&weight, (n_out, n_in), device)?;
        Ok(Self {
            n_in,
            n_out,
            weight,
            weight_t,
            weight_t_tensor,
            weight_tensor,
            bias,
        })
    }

    /// Number of inputs n_{l−1}.
    pub fn n_in(&self) -> usize {
        self.n_in
    }
    /// Number of outputs n_l.
    pub fn n_out(&self) -> usize {
        self.n_out
    }
    /// Row-major weight `[n_out, n_in]`.
    pub fn weight(&self) -> &[f32] {
        &self.weight
    }
    /// Row-major transposed weight `[n_in, n_out]`: row i is column i of W.
    pub fn weight_t(&self) -> &[f32] {
        &self.weight_t
    }
    /// Column i of W (the effect of input neuron i on every output), contiguous.
    #[inline]
    pub fn column(&self, i: usize) -> &[f32] {
        &self.weight_t[i * self.n_out..(i + 1) * self.n_out]
    }
    /// The device of the GEMM tensors.
    pub fn device(&self) -> &Device {
        self.weight_tensor.device()
    }
    /// `Wᵀ` as a candle tensor `[n_in, n_out]` (on the host unless built by [`Dense::new_on`]).
    pub fn weight_t_tensor(&self) -> &Tensor {
        &self.weight_t_tensor
    }
    /// `W` as a candle tensor `[n_out, n_in]` (on [`Dense::device`]).
    pub fn weight_tensor(&self) -> &Tensor {
        &self.weight_tensor
    }
    /// Bias `[n_out]`.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// `Wᵀ Gᵀ` for `cols` column vectors `Gᵀ` (`[n_out, cols]`, row-major): the backward step
    /// that maps derivatives with respect to this layer's outputs to its inputs, in the
    /// column layout that keeps the GEMM's inner dimension contiguous (`[n_in, cols]`).
    pub fn backward_cols(&self, gt: Vec<f32>, cols: usize) -> Result<Vec<f32>> {
        debug_assert_eq!(gt.len(), cols * self.n_out);
        let gt = Tensor::from_vec(gt, (self.n_out, cols), self.device())?;
        Ok(self
            .weight_t_tensor
            .matmul(&gt)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }

    /// `G W` for `rows` stacked row vectors `G` (`[rows, n_out]`, row-major): the same backward
    /// step as [`Dense::backward_cols`] (a vector–Jacobian product through `z = W y + b`,
    /// SPEC §4/§8 back-propagation) in the row layout, giving `[rows, n_in]`.
    pub fn backward_rows(&self, g: Vec<f32>, rows: usize) -> Result<Vec<f32>> {
        backward_rows(&self.weight_tensor, g, rows)
    }

    /// `Z = Y Wᵀ` for `rows` stacked inputs `Y` (`[rows, n_in]`, row-major), by candle's GEMM.
    /// The bias is not added: callers fuse it with the activation.
    pub fn matmul_rows(&self, y: Vec<f32>, rows: usize) -> Result<Vec<f32>> {
        debug_assert_eq!(y.len(), rows * self.n_in);
        let y = Tensor::from_vec(y, (rows, self.n_in), self.device())?;
        Ok(y.matmul(&self.weight_t_tensor)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }

    /// `S = Y (W ⊙ W)ᵀ` for `rows` stacked inputs `Y` (`[rows, n_in]`): `S_{n,j} = Σ_i
    /// W_{j,i}² Y_{n,i}`, by one candle GEMM. With `Y = y ⊙ y` this is the sum over the
    /// neurons i of layer l−1 of the squared first-order effect `(y_i ∂z_j/∂y_i)²` that the
    /// second-order Taylor bound b5 needs (SPEC §4).
    pub fn matmul_rows_squared_weights(&self, y: Vec<f32>, rows: usize) -> Result<Vec<f32>> {
        debug_assert_eq!(y.len(), rows * self.n_in);
        let y = Tensor::from_vec(y, (rows, self.n_in), self.device())?;
        Ok(y.matmul(&self.weight_t_tensor.sqr()?)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }
}

/// `G W` for `rows` stacked row vectors `G` (`[rows, n_out]`) and a weight tensor `W`
/// (`[n_out, n_in]`): the row-layout backward step through a linear layer, by one candle GEMM
/// `[rows, n_out] × [n_out, n_in]`. [`Dense::backward_rows`] is this step on a layer of a
/// network; the analytic training step calls it on the weights being trained. It runs on the
/// device of `w`.
pub fn backward_rows(w: &Tensor, g: Vec<f32>, rows: usize) -> Result<Vec<f32>> {
    let n_out = w.dims2()?.0;
    debug_assert_eq!(g.len(), rows * n_out);
    let g = Tensor::from_vec(g, (rows, n_out), w.device())?;
    Ok(g.matmul(w)?.flatten_all()?.to_vec1::<f32>()?)
}

/// All layer values of a crash-free batched forward pass ([`Mlp::forward_trace`]).
#[derive(Debug, Clone)]
pub struct Trace {
    /// Number of stacked inputs.
    pub rows: usize,
    /// Outputs of every layer of neurons, `y[l]` is `[rows, n_l]`.
    pub y: Vec<Vec<f32>>,
    /// Pre-activations, `z[l]` is `[rows, n_l]` for l ≥ 1 (`z[0]` is empty).
    pub z: Vec<Vec<f32>>,
}

impl Trace {
    /// The trace of the inputs `range` only (copies their rows).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Trace {
        let cut = |v: &Vec<f32>| {
            let w = v.len() / self.rows.max(1);
            v[range.start * w..range.end * w].to_vec()
        };
        Trace {
            rows: range.len(),
            y: self.y.iter().map(cut).collect(),
            z: self.z.iter().map(cut).collect(),
        }
    }
}

/// How to draw the weights of a new network (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Init {
    /// Training init of the paper: `W_l ~ N(0,1)·sqrt(2/n_{l−1})/K`, `b_l ~ N(0,1)`.
    Paper,
    /// `RandomExperiment`: `W_l ~ N(0,1)·s/n_{l−1} + μ`, `b_l ~ N(0,1)·s/n_l + μ`.
    Random {
        /// Weight scale s.
        scale: f64,
        /// Mean μ.
        mean: f64,
    },
    /// LeCun: `W_l ~ N(0,1)/sqrt(n_{l−1})`, `b_l = 0`.
    LeCun,
}

/// A crash-injecting multilayer perceptron.
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Dense>,
    activation: Activation,
    k_lips: f32,
}

impl Mlp {
    /// A network from its affine layers, checking that consecutive widths agree.
    pub fn new(layers: Vec<Dense>, activation: Activation, k_lips: f64) -> Result<Self> {
        if layers.is_empty() {
            return Err(ModelError::Architecture(
                "a network needs at least one layer of weights".into(),
            ));
        }
        if !(k_lips.is_finite() && k_lips > 0.0) {
            return Err(ModelError::InvalidKLips(k_lips));
        }
        for (l, pair) in layers.windows(2).enumerate() {
            if pair[0].n_out != pair[1].n_in {
                return Err(ModelError::Shape {
                    what: format!("input width of weight layer {}", l + 2),
                    expected: format!("{} (outputs of layer {})", pair[0].n_out, l + 1),
                    got: pair[1].n_in.to_string(),
                });
            }
        }
        Ok(Self {
            layers,
            activation,
            k_lips: k_lips as f32,
        })
    }

    /// A network with sizes `[n_0, …, n_L]` and weights drawn by `init` from `rng`.
    pub fn init<R: Rng>(
        sizes: &[usize],
        activation: Activation,
        k_lips: f64,
        init: Init,
        rng: &mut R,
    ) -> Result<Self> {
        if sizes.len() < 2 {
            return Err(ModelError::Architecture(format!(
                "sizes {sizes:?}: need at least an input and an output layer"
            )));
        }
        if !(k_lips.is_finite() && k_lips > 0.0) {
            return Err(ModelError::InvalidKLips(k_lips));
        }
        let mut layers = Vec::with_capacity(sizes.len() - 1);
        for w in sizes.windows(2) {
            let (n_in, n_out) = (w[0], w[1]);
            let (w_std, w_mean, b_std, b_mean) = match init {
                Init::Paper => ((2.0 / n_in as f64).sqrt() / k_lips, 0.0, 1.0, 0.0),
                Init::Random { scale, mean } => {
                    (scale / n_in as f64, mean, scale / n_out as f64, mean)
                }
                Init::LeCun => (1.0 / (n_in as f64).sqrt(), 0.0, 0.0, 0.0),
            };
            let mut draw = |n: usize, std: f64, mean: f64| -> Vec<f32> {
                (0..n)
                    .map(|_| {
                        let z: f64 = StandardNormal.sample(rng);
                        (z * std + mean) as f32
                    })
                    .collect()
            };
            let weight = draw(n_in * n_out, w_std, w_mean);
            let bias = draw(n_out, b_std, b_mean);
            layers.push(Dense::new(weight, bias, n_out, n_in)?);
        }
        Self::new(layers, activation, k_lips)
    }

    /// The affine layers; `layers()[l − 1]` maps layer l−1 to layer l.
    pub fn layers(&self) -> &[Dense] {
        &self.layers
    }
    /// The hidden activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }
    /// The Lipschitz constant K of the activation.
    pub fn k_lips(&self) -> f64 {
        self.k_lips as f64
    }
    /// Sizes `[n_0, …, n_L]`.
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = vec![self.layers[0].n_in];
        s.extend(self.layers.iter().map(|d| d.n_out));
        s
    }
    /// Number of layers of neurons, L + 1 (the length of a failure vector).
    pub fn n_neuron_layers(&self) -> usize {
        self.layers.len() + 1
    }
    /// Input width n_0.
    pub fn n_inputs(&self) -> usize {
        self.layers[0].n_in
    }
    /// Output width n_L.
    pub fn n_outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].n_out
    }
    /// Index L of the output layer.
    pub fn output_layer(&self) -> usize {
        self.layers.len()
    }

    /// Fused `y = φ(z + b)` (hidden layer) or `y = z + b` (output layer `l = L`) over stacked
    /// rows, in place.
    #[inline]
    pub fn bias_activate(&self, l: usize, z: &mut [f32]) {
        let bias = &self.layers[l - 1].bias;
        if l == self.output_layer() {
            for row in z.chunks_exact_mut(bias.len()) {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v += b;
                }
            }
        } else {
            self.activation.apply_rows_f32(z, bias, self.k_lips);
        }
    }

    /// Crash-free forward pass of `rows` stacked inputs keeping every layer:
    /// `y[l]` = outputs of layer l (`[rows, n_l]`, l = 0..=L) and `z[l]` = pre-activations
    /// `W_l y_{l−1} + b_l` (l = 1..=L; `z[0]` is empty).
    pub fn forward_trace(&self, x: &[f32], rows: usize) -> Result<Trace> {
        check_len("input", x.len(), rows * self.n_inputs(), "rows × n_0")?;
        let mut y = vec![x.to_vec()];
        let mut z = vec![Vec::new()];
        for l in 1..=self.layers.len() {
            let d = &self.layers[l - 1];
            let mut zl = d.matmul_rows(y[l - 1].clone(), rows)?;
            for row in zl.chunks_exact_mut(d.n_out) {
                for (v, b) in row.iter_mut().zip(&d.bias) {
                    *v += b;
                }
            }
            let mut yl = zl.clone();
            if l < self.layers.len() {
                self.activation.apply_rows_f32(&mut yl, &[], self.k_lips);
            }
            check_finite(&format!("the outputs of layer {l} (overflow)"), &yl)?;
            z.push(zl);
            y.push(yl);
        }
        Ok(Trace { rows, y, z })
    }

    /// Crash-free forward pass of `rows` stacked inputs (`[rows, n_0]`), by GEMM.
    /// Returns the outputs of every layer of neurons, `y_0 … y_L`, each `[rows, n_l]`; an
    /// overflow to a non-finite value is an error.
    pub fn forward_layers(&self, x: &[f32], rows: usize) -> Result<Vec<Vec<f32>>> {
        check_len("input", x.len(), rows * self.n_inputs(), "rows × n_0")?;
        let mut ys = vec![x.to_vec()];
        for l in 1..=self.layers.len() {
            let mut z = self.layers[l - 1].matmul_rows(ys[l - 1].clone(), rows)?;
            self.bias_activate(l, &mut z);
            check_finite(&format!("the outputs of layer {l} (overflow)"), &z)?;
            ys.push(z);
        }
        Ok(ys)
    }

    /// Crash-free outputs `y_L` of `rows` stacked inputs.
    pub fn forward(&self, x: &[f32], rows: usize) -> Result<Vec<f32>> {
        Ok(self
            .forward_layers(x, rows)?
            .pop()
            .expect("at least one layer"))
    }

    /// Reference forward pass of one input in f64 with optional crash masks
    /// (`masks[l][i] == true` means neuron i of layer l crashed). Plain loops, no GEMM: this
    /// is the ground truth that exact enumeration and tests rely on.
    pub fn forward_f64(&self, x: &[f64], masks: Option<&[Vec<bool>]>) -> Vec<f64> {
        let crashed = |l: usize, i: usize| masks.is_some_and(|m| m[l][i]);
        let mut y: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| if crashed(0, i) { 0.0 } else { v })
            .collect();
        let (act, k) = (self.activation, self.k_lips as f64);
        for (idx, d) in self.layers.iter().enumerate() {
            let l = idx + 1;
            let mut next = vec![0f64; d.n_out];
            for (o, out) in next.iter_mut().enumerate() {
                if crashed(l, o) {
                    continue;
                }
                let row = &d.weight[o * d.n_in..(o + 1) * d.n_in];
                let z =
                    d.bias[o] as f64 + row.iter().zip(&y).map(|(&w, &v)| w as f64 * v).sum::<f64>();
                *out = if l == self.layers.len() {
                    z
                } else {
                    act.apply_f64(z, k)
                };
            }
            y = next;
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two backward layouts by hand: W = [[1, 2], [3, 4]], G = [[1, 0], [0, 1], [1, 1]]:
    /// G W = [[1, 2], [3, 4], [4, 6]], and Wᵀ Gᵀ is its transpose.
    #[test]
    fn backward_steps_by_hand() {
        let d = Dense::new(vec![1.0, 2.0, 3.0, 4.0], vec![0.0, 0.0], 2, 2).unwrap();
        let rows = d
            .backward_rows(vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0], 3)
            .unwrap();
        assert_eq!(rows, vec![1.0, 2.0, 3.0, 4.0, 4.0, 6.0]);
        let cols = d
            .backward_cols(vec![1.0, 0.0, 1.0, 0.0, 1.0, 1.0], 3)
            .unwrap();
        assert_eq!(cols, vec![1.0, 3.0, 4.0, 2.0, 4.0, 6.0]);
    }
    use rand::SeedableRng;

    fn tiny() -> Mlp {
        // 2 → 2 → 1, relu, K = 1.
        let l1 = Dense::new(vec![1.0, -1.0, 0.5, 2.0], vec![0.0, -1.0], 2, 2).unwrap();
        let l2 = Dense::new(vec![3.0, -2.0], vec![0.5], 1, 2).unwrap();
        Mlp::new(vec![l1, l2], Activation::Relu, 1.0).unwrap()
    }

    #[test]
    fn forward_by_hand() {
        let net = tiny();
        // x = (1, 2): z1 = (1−2, 0.5+4−1) = (−1, 3.5) → y1 = (0, 3.5); y2 = 0 − 7 + 0.5 = −6.5
        let y = net.forward(&[1.0, 2.0], 1).unwrap();
        assert_eq!(y, vec![-6.5]);
        assert_eq!(net.forward_f64(&[1.0, 2.0], None), vec![-6.5]);
        // crash hidden neuron 1: output = 0.5
        let masks = vec![vec![false, false], vec![false, true], vec![false]];
        assert_eq!(net.forward_f64(&[1.0, 2.0], Some(&masks)), vec![0.5]);
        // crash input 0: x = (0, 2): z1 = (−2, 3) → y1 = (0, 3); y2 = −6 + 0.5
        let masks = vec![vec![true, false], vec![false, false], vec![false]];
        assert_eq!(net.forward_f64(&[1.0, 2.0], Some(&masks)), vec![-5.5]);
        assert_eq!(net.sizes(), vec![2, 2, 1]);
        assert_eq!(net.layers()[0].column(1), &[-1.0, 2.0]);
    }

    #[test]
    fn rejects_bad_architectures() {
        let l1 = Dense::new(vec![1.0; 6], vec![0.0; 3], 3, 2).unwrap();
        let l2 = Dense::new(vec![1.0; 2], vec![0.0], 1, 2).unwrap();
        assert!(matches!(
            Mlp::new(vec![l1.clone(), l2], Activation::Relu, 1.0),
            Err(ModelError::Shape { .. })
        ));
        assert!(matches!(
            Mlp::new(vec![l1.clone()], Activation::Relu, f64::NAN),
            Err(ModelError::InvalidKLips(_))
        ));
        assert!(matches!(
            Dense::new(vec![1.0; 5], vec![0.0; 3], 3, 2),
            Err(ModelError::Shape { .. })
        ));
        assert!(matches!(
            Dense::new(vec![f32::NAN; 6], vec![0.0; 3], 3, 2),
            Err(ModelError::NonFinite { .. })
        ));
    }

    #[test]
    fn gemm_forward_matches_f64_reference() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for act in Activation::ALL {
            let net = Mlp::init(&[7, 9, 5, 3], act, 1.3, Init::Paper, &mut rng).unwrap();
            let x: Vec<f32> = (0..4 * 7)
                .map(|i| ((i * 37 % 11) as f32 - 5.0) / 5.0)
                .collect();
            let y = net.forward(&x, 4).unwrap();
            for r in 0..4 {
                let xr: Vec<f64> = x[r * 7..(r + 1) * 7].iter().map(|&v| v as f64).collect();
                let y64 = net.forward_f64(&xr, None);
                for o in 0..3 {
                    assert!((y[r * 3 + o] as f64 - y64[o]).abs() < 1e-4 * (1.0 + y64[o].abs()));
                }
            }
        }
    }

    #[test]
    fn inits_have_the_documented_scale() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let net = Mlp::init(&[400, 300], Activation::Relu, 2.0, Init::Paper, &mut rng).unwrap();
        let w = net.layers()[0].weight();
        let var = w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / w.len() as f64;
        let expected = 2.0 / 400.0 / 4.0;
        // 120 000 samples: relative standard error of a variance estimate is sqrt(2/n) ≈ 0.4 %.
        assert!((var / expected - 1.0).abs() < 0.02, "{var} vs {expected}");
        let net = Mlp::init(&[400, 300], Activation::Relu, 1.0, Init::LeCun, &mut rng).unwrap();
        assert!(net.layers()[0].bias().iter().all(|&b| b == 0.0));
        let net = Mlp::init(
            &[400, 300],
            Activation::Relu,
            1.0,
            Init::Random {
                scale: 3.0,
                mean: 0.1,
            },
            &mut rng,
        )
        .unwrap();
        let w = net.layers()[0].weight();
        let mean = w.iter().map(|&v| v as f64).sum::<f64>() / w.len() as f64;
        // std of one weight is 3/400; standard error of the mean ≈ 2.2e-5.
        assert!((mean - 0.1).abs() < 1e-4, "{mean}");
    }
}
