//! [`Sequential`]: a validated architecture with its parameters as candle tensors, the forward
//! pass on batches, and the crash sites of SPEC §11.
//!
//! **Crash sites** (SPEC §11 "Crash sites", §1): site 0 is the network input; then the output
//! of every activation layer, in order; the last site is the network output. Softmax is not a
//! site (crashing after it is crashing the output), and an activation followed only by
//! dropout or flatten layers (identities on its values) *is* the output site, not a second
//! one. An MLP `linear, act, …, linear` with L weight layers has L + 1 sites. A crashed
//! element of a site's tensor outputs exactly 0; survivors are not rescaled:
//! `y_s ← y_s ⊙ m_s` with `m_s ∈ {0, 1}^{shape_s}`.
//!
//! Parameters are stored as given (keys `{i}.weight`, `{i}.bias`, `{i}.running_mean`,
//! `{i}.running_var`, f32); a batchnorm2d directly after a conv2d is folded into it for the
//! forward pass (`w' = w·γ/√(var + eps)`, `b' = (b − mean)·γ/√(var + eps) + β`).

use super::arch::{Architecture, LayerSpec};
use super::ops::{batchnorm_affine, fold_batchnorm, values, Op};
use super::shape::numel;
use crate::error::{check_finite, ModelError, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::BTreeMap;
use std::path::Path;

/// A crash site: a tensor of the forward pass whose elements may crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Position in [`Sequential::sites`].
    pub index: usize,
    /// The layer whose output this site is (`None`: the network input).
    pub layer_after: Option<usize>,
    /// Shape of one example's tensor at the site.
    pub shape: Vec<usize>,
    /// Number of elements (neurons) of one example at the site.
    pub size: usize,
    /// Human-readable description, e.g. `input`, `layer 1 (relu)`, `output`.
    pub label: String,
}

/// A feed-forward network of SPEC §11 (CNNs and MLPs alike) with crash injection at its sites.
#[derive(Debug, Clone)]
pub struct Sequential {
    arch: Architecture,
    shapes: Vec<Vec<usize>>,
    params: BTreeMap<String, Tensor>,
    ops: Vec<Op>,
    sites: Vec<Site>,
    /// `site_of_layer[j]` = the site whose tensor is the output of layer j, if any.
    site_of_layer: Vec<Option<usize>>,
    device: Device,
}

impl Sequential {
    /// A network from its architecture and its tensors, keyed `{name or index}.{parameter}`
    /// as in a PyTorch state dict, optionally under one common prefix (e.g. `features.`);
    /// floating-point tensors of any precision are converted to f32 on `device`. Missing
    /// tensors, tensors of the wrong shape, non-finite values and tensors the architecture
    /// does not use (other than `num_batches_tracked`) are errors.
    pub fn new(
        arch: Architecture,
        tensors: &BTreeMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self> {
        Self::build(arch, tensors, Path::new("(tensors)"), device)
    }

    /// [`Sequential::new`] with `path` named in the errors.
    pub(crate) fn build(
        arch: Architecture,
        tensors: &BTreeMap<String, Tensor>,
        path: &Path,
        device: &Device,
    ) -> Result<Self> {
        let shapes = arch.shapes()?;
        let params = resolve_params(&arch, tensors, path, device)?;
        let ops = compile(&arch, &params, device)?;
        let (sites, site_of_layer) = crash_sites(&arch, &shapes);
        Ok(Self {
            arch,
            shapes,
            params,
            ops,
            sites,
            site_of_layer,
            device: device.clone(),
        })
    }

    /// The architecture.
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }
    /// The device holding the parameters.
    pub fn device(&self) -> &Device {
        &self.device
    }
    /// The parameters as given (not folded), f32, keyed `{i}.{parameter}` by layer index.
    pub fn parameters(&self) -> &BTreeMap<String, Tensor> {
        &self.params
    }
    /// Shape of one input example.
    pub fn input_shape(&self) -> &[usize] {
        &self.arch.input_shape
    }
    /// Shape of one example after each layer.
    pub fn layer_shapes(&self) -> &[Vec<usize>] {
        &self.shapes
    }
    /// Shape of one output example.
    pub fn output_shape(&self) -> &[usize] {
        self.shapes.last().map(Vec::as_slice).unwrap_or_default()
    }
    /// Number of output values per example.
    pub fn n_outputs(&self) -> usize {
        numel(self.output_shape()).unwrap_or(0)
    }
    /// The crash sites: input, every activation output, output (SPEC §11).
    pub fn sites(&self) -> &[Site] {
        &self.sites
    }
    /// Number of crash sites (the length of a failure vector).
    pub fn n_sites(&self) -> usize {
        self.sites.len()
    }

    /// The crash-free output `[B, *output_shape]` of a batch `x` `[B, *input_shape]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = self.conform(x, &self.arch.input_shape, None, "input")?;
        for op in &self.ops {
            h = op.apply(&h)?;
        }
        Ok(h)
    }

    /// The crash-free tensor at every site, `[B, *site_shape]` each (`[0]` is the input, the
    /// last one the output).
    pub fn forward_trace(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let mut h = self.conform(x, &self.arch.input_shape, None, "input")?;
        let mut out = Vec::with_capacity(self.sites.len());
        out.push(h.clone());
        for (j, op) in self.ops.iter().enumerate() {
            h = op.apply(&h)?;
            if self.site_of_layer[j].is_some() {
                out.push(h.clone());
            }
        }
        Ok(out)
    }

    /// Continues the forward pass from the tensor `value` at `site` (taken as is: the caller
    /// has already crashed its elements) to the output, crashing every later site s:
    /// `y_s ← y_s ⊙ masks[s]` where `masks[s]` is `Some` (a 0/1 tensor `[B, *shape_s]` or
    /// `[B, size_s]`). `masks` has one entry per site; entries for sites ≤ `site` are ignored.
    /// `value` is `[B, *shape_site]` or `[B, size_site]`. Returns the output flattened to
    /// `[B, n_outputs]`.
    pub fn forward_from_site(
        &self,
        site: usize,
        value: &Tensor,
        masks: &[Option<Tensor>],
    ) -> Result<Tensor> {
        let Some(s) = self.sites.get(site) else {
            return Err(ModelError::InvalidSite {
                site,
                n_sites: self.sites.len(),
            });
        };
        if masks.len() != self.sites.len() {
            return Err(ModelError::Shape {
                what: "crash masks".into(),
                expected: format!("one entry (mask or None) per site: {}", self.sites.len()),
                got: format!("{} entries", masks.len()),
            });
        }
        let batch = value.dims().first().copied();
        let what = format!("the value at site {site}");
        let mut h = self.conform(value, &s.shape, None, &what)?;
        let start = s.layer_after.map_or(0, |j| j + 1);
        for j in start..self.ops.len() {
            h = self.ops[j].apply(&h)?;
            if let Some(t) = self.site_of_layer[j] {
                if let Some(m) = &masks[t] {
                    let what = format!("the crash mask of site {t}");
                    let m = self.conform(m, &self.sites[t].shape, batch, &what)?;
                    h = h.mul(&m)?;
                }
            }
        }
        Ok(h.reshape((batch.unwrap_or(0), self.n_outputs()))?)
    }

    /// The output `[B, n_outputs]` with every site s crashed by `masks[s]` when `Some`, the
    /// input included: [`Sequential::forward_from_site`] from site 0 with `x ⊙ masks[0]`.
    pub fn forward_masked(&self, x: &Tensor, masks: &[Option<Tensor>]) -> Result<Tensor> {
        let mut x = self.conform(x, &self.arch.input_shape, None, "input")?;
        if let Some(Some(m)) = masks.first() {
            let b = x.dims().first().copied();
            x =
                x.mul(&self.conform(m, &self.arch.input_shape, b, "the crash mask of site 0")?)?;
        }
        self.forward_from_site(0, &x, masks)
    }

    /// Applies the layers `layers` (indices into the architecture's layer list, e.g. `j..j + 1`)
    /// to `h` `[B, *shape of layer layers.start's input]`, crashing nothing and keeping candle's
    /// autodiff graph (`h` may be a [`candle_core::Var`]): the per-layer pieces of
    /// [`Sequential::forward`], for gradients taken layer by layer.
    pub fn forward_layers(&self, layers: std::ops::Range<usize>, h: &Tensor) -> Result<Tensor> {
        if layers.start > layers.end || layers.end > self.ops.len() {
            return Err(ModelError::Architecture(format!(
                "layer range {layers:?} outside the network's {} layers",
                self.ops.len()
            )));
        }
        let mut h = h.clone();
        for op in &self.ops[layers] {
            h = op.apply(&h)?;
        }
        Ok(h)
    }

    /// The weight `[out_channels, in_channels/groups, kh, kw]` that layer `j` convolves with
    /// (a directly following batch norm folded in); `None` when layer j is not a conv2d. What a
    /// hand-written convolution backward needs.
    pub fn conv_weight(&self, j: usize) -> Option<&Tensor> {
        match self.ops.get(j) {
            Some(Op::Conv { weight, .. }) => Some(weight),
            _ => None,
        }
    }

    /// The tangent map of layer `j` when it is affine, applied to `u` `[B, *shape of its
    /// input]`: the layer without its bias for conv2d (a following batch norm folded in),
    /// linear and an unfolded batchnorm2d (its scale only); the layer itself for average and
    /// adaptive average pooling, flatten, dropout and a folded batch norm. `None` for the
    /// layers that are not affine (activations, max pooling, softmax).
    pub fn layer_linear_part(&self, j: usize, u: &Tensor) -> Result<Option<Tensor>> {
        let Some(op) = self.ops.get(j) else {
            return Err(ModelError::Architecture(format!(
                "layer {j} outside the network's {} layers",
                self.ops.len()
            )));
        };
        let out = match op {
            Op::Conv {
                weight,
                stride,
                padding,
                groups,
                ..
            } => Op::Conv {
                weight: weight.clone(),
                bias: None,
                stride: *stride,
                padding: *padding,
                groups: *groups,
            }
            .apply(u)?,
            Op::Linear { weight_t, .. } => Op::Linear {
                weight_t: weight_t.clone(),
                bias: None,
            }
            .apply(u)?,
            Op::Affine { scale, .. } => u.broadcast_mul(scale)?,
            Op::AvgPool { .. } | Op::AdaptiveAvg(_) | Op::Flatten | Op::Identity => op.apply(u)?,
            Op::MaxPool { .. } | Op::Act(_) | Op::Softmax => return Ok(None),
        };
        Ok(Some(out))
    }

    /// `t` as an f32 tensor on the network's device with shape `[B, *shape]`; `[B, numel]` is
    /// reshaped. `batch`, when given, must be B.
    fn conform(
        &self,
        t: &Tensor,
        shape: &[usize],
        batch: Option<usize>,
        what: &str,
    ) -> Result<Tensor> {
        let dims = t.dims();
        let n = numel(shape).unwrap_or(0);
        let b = dims.first().copied().unwrap_or(0);
        let exact = dims.len() == shape.len() + 1 && &dims[1..] == shape;
        let flat = dims.len() == 2 && dims[1] == n;
        if !(exact || flat) || batch.is_some_and(|want| want != b) {
            let bs = batch.map_or("B".to_string(), |b| b.to_string());
            let joined: Vec<String> = shape.iter().map(usize::to_string).collect();
            return Err(ModelError::Shape {
                what: what.to_string(),
                expected: format!("[{bs}, {}] or [{bs}, {n}]", joined.join(", ")),
                got: format!("{dims:?}"),
            });
        }
        let mut t = if t.device().same_device(&self.device) {
            t.clone()
        } else {
            t.to_device(&self.device)?
        };
        if t.dtype() != DType::F32 {
            t = t.to_dtype(DType::F32)?;
        }
        if !exact {
            let mut full = vec![b];
            full.extend_from_slice(shape);
            t = t.reshape(full)?;
        }
        Ok(t)
    }
}

/// The sites of an architecture and, per layer, the site that is its output.
fn crash_sites(arch: &Architecture, shapes: &[Vec<usize>]) -> (Vec<Site>, Vec<Option<usize>>) {
    let n = arch.layers.len();
    let mut site_of_layer = vec![None; n];
    let mut sites = vec![Site {
        index: 0,
        layer_after: None,
        shape: arch.input_shape.clone(),
        size: numel(&arch.input_shape).unwrap_or(0),
        label: "input".into(),
    }];
    let identity_tail = |j: usize| {
        arch.layers[j + 1..]
            .iter()
            .all(|l| matches!(l.spec, LayerSpec::Dropout(_) | LayerSpec::Flatten))
    };
    let mut output_label = "output".to_string();
    for (j, layer) in arch.layers.iter().enumerate() {
        if !matches!(layer.spec, LayerSpec::Activation(_)) {
            continue;
        }
        if identity_tail(j) {
            output_label = format!("output (layer {j}, {})", layer.op());
            break;
        }
        site_of_layer[j] = Some(sites.len());
        sites.push(Site {
            index: sites.len(),
            layer_after: Some(j),
            shape: shapes[j].clone(),
            size: numel(&shapes[j]).unwrap_or(0),
            label: format!("layer {j} ({})", layer.op()),
        });
    }
    site_of_layer[n - 1] = Some(sites.len());
    sites.push(Site {
        index: sites.len(),
        layer_after: Some(n - 1),
        shape: shapes[n - 1].clone(),
        size: numel(&shapes[n - 1]).unwrap_or(0),
        label: output_label,
    });
    (sites, site_of_layer)
}

/// The tensors of `arch` found in `tensors`, converted to f32 on `device`, keyed
/// `{i}.{parameter}`. The state-dict prefix common to all keys (`""`, `features.`, …) is the
/// shortest one under which every tensor is present.
fn resolve_params(
    arch: &Architecture,
    tensors: &BTreeMap<String, Tensor>,
    path: &Path,
    device: &Device,
) -> Result<BTreeMap<String, Tensor>> {
    let wanted = arch.tensors();
    let prefix = match wanted.first() {
        None => String::new(),
        Some((_, first, _)) => {
            let mut candidates: Vec<&str> = tensors
                .keys()
                .filter_map(|k| k.strip_suffix(first.as_str()))
                .filter(|p| p.is_empty() || p.ends_with('.'))
                .collect();
            candidates.sort_by_key(|p| p.len());
            let complete = candidates.iter().find(|p| {
                wanted
                    .iter()
                    .all(|(_, key, _)| tensors.contains_key(&format!("{p}{key}")))
            });
            complete
                .or(candidates.first())
                .map(|p| p.to_string())
                .unwrap_or_default()
        }
    };
    let mut used = std::collections::BTreeSet::new();
    let mut params = BTreeMap::new();
    for (i, key, shape) in &wanted {
        let name = format!("{prefix}{key}");
        let layer = &arch.layers[*i];
        let t = tensors
            .get(&name)
            .ok_or_else(|| ModelError::MissingTensor {
                path: path.to_path_buf(),
                name: name.clone(),
                hint: format!("layer {i} ({}) needs it with shape {shape:?}", layer.op()),
            })?;
        if t.dims() != shape.as_slice() {
            return Err(ModelError::WrongTensorShape {
                path: path.to_path_buf(),
                name,
                expected: shape.clone(),
                got: t.dims().to_vec(),
            });
        }
        if !t.dtype().is_float() {
            return Err(ModelError::ModelFile {
                path: path.to_path_buf(),
                reason: format!(
                    "tensor `{name}` has dtype {:?}; expected a floating-point type",
                    t.dtype()
                ),
            });
        }
        let v = values(t)?;
        check_finite(&format!("tensor `{name}`"), &v)?;
        let param = key.rsplit('.').next().unwrap_or_default();
        let t = Tensor::from_vec(v, shape.as_slice(), device)?;
        params.insert(format!("{i}.{param}"), t);
        used.insert(name);
    }
    let unused: Vec<&String> = tensors
        .keys()
        .filter(|k| !used.contains(*k) && !k.ends_with("num_batches_tracked"))
        .collect();
    if !unused.is_empty() {
        let shown: Vec<&str> = unused.iter().take(6).map(|s| s.as_str()).collect();
        return Err(ModelError::ModelFile {
            path: path.to_path_buf(),
            reason: format!(
                "{} tensor(s) not used by the architecture ({}{}); check its layers and their \
                 `name`s (tensors are looked up as `{prefix}<name or index>.<parameter>`)",
                unused.len(),
                shown.join(", "),
                if unused.len() > shown.len() {
                    ", …"
                } else {
                    ""
                }
            ),
        });
    }
    Ok(params)
}

/// The parameter `{i}.{name}` (present after [`resolve_params`]).
fn param<'a>(params: &'a BTreeMap<String, Tensor>, i: usize, name: &str) -> Result<&'a Tensor> {
    params.get(&format!("{i}.{name}")).ok_or_else(|| {
        ModelError::Architecture(format!("layer {i} has no tensor `{name}` (internal error)"))
    })
}

/// `[γ, β, mean, var]` of the batch norm at layer `i` (γ = 1, β = 0 when not affine); an
/// error when a variance is negative.
fn batchnorm_stats(
    params: &BTreeMap<String, Tensor>,
    i: usize,
    c: usize,
    affine: bool,
) -> Result<[Vec<f32>; 4]> {
    let (gamma, beta) = if affine {
        (
            values(param(params, i, "weight")?)?,
            values(param(params, i, "bias")?)?,
        )
    } else {
        (vec![1.0; c], vec![0.0; c])
    };
    let mean = values(param(params, i, "running_mean")?)?;
    let var = values(param(params, i, "running_var")?)?;
    if let Some(k) = var.iter().position(|&v| v < 0.0) {
        return Err(ModelError::InvalidLayer {
            layer: i,
            op: "batchnorm2d".into(),
            reason: format!("running_var[{k}] = {} is negative", var[k]),
        });
    }
    Ok([gamma, beta, mean, var])
}

/// One [`Op`] per layer; a batchnorm2d directly after a conv2d is folded into it.
fn compile(
    arch: &Architecture,
    params: &BTreeMap<String, Tensor>,
    device: &Device,
) -> Result<Vec<Op>> {
    let mut ops = Vec::with_capacity(arch.layers.len());
    for (i, layer) in arch.layers.iter().enumerate() {
        let op = match &layer.spec {
            LayerSpec::Conv2d(c) => {
                let w = param(params, i, "weight")?;
                let out = c.out_channels;
                let bias = if c.bias {
                    Some(values(param(params, i, "bias")?)?)
                } else {
                    None
                };
                let next = arch.layers.get(i + 1).map(|l| &l.spec);
                let (weight, bias) = if let Some(LayerSpec::BatchNorm2d(bn)) = next {
                    let [g, b, m, v] = batchnorm_stats(params, i + 1, out, bn.affine)?;
                    let conv_b = bias.unwrap_or_else(|| vec![0.0; out]);
                    let (w2, b2) = fold_batchnorm(&values(w)?, &conv_b, &g, &b, &m, &v, bn.eps);
                    check_finite(&format!("layer {i} folded with batch norm"), &w2)?;
                    check_finite(&format!("layer {i} folded with batch norm"), &b2)?;
                    (Tensor::from_vec(w2, w.dims(), device)?, Some(b2))
                } else {
                    (w.clone(), bias)
                };
                let bias = bias
                    .map(|b| Tensor::from_vec(b, (1, out, 1, 1), device))
                    .transpose()?;
                Op::Conv {
                    weight,
                    bias,
                    stride: c.stride,
                    padding: c.padding,
                    groups: c.groups,
                }
            }
            LayerSpec::Linear(l) => Op::Linear {
                weight_t: param(params, i, "weight")?.t()?.contiguous()?,
                bias: if l.bias {
                    Some(param(params, i, "bias")?.clone())
                } else {
                    None
                },
            },
            LayerSpec::BatchNorm2d(bn) => {
                let after_conv = i > 0 && matches!(arch.layers[i - 1].spec, LayerSpec::Conv2d(_));
                if after_conv {
                    Op::Identity
                } else {
                    let c = bn.num_features;
                    let [g, b, m, v] = batchnorm_stats(params, i, c, bn.affine)?;
                    let (a, shift) = batchnorm_affine(&g, &b, &m, &v, bn.eps);
                    check_finite(&format!("layer {i} (batchnorm2d) scale"), &a)?;
                    Op::Affine {
                        scale: Tensor::from_vec(a, (1, c, 1, 1), device)?,
                        shift: Tensor::from_vec(shift, (1, c, 1, 1), device)?,
                    }
                }
            }
            LayerSpec::MaxPool2d(p) => Op::MaxPool {
                kernel: p.kernel_size,
                stride: p.stride(),
                padding: p.padding,
            },
            LayerSpec::AvgPool2d(p) => Op::AvgPool {
                kernel: p.kernel_size,
                stride: p.stride(),
                padding: p.padding,
            },
            LayerSpec::AdaptiveAvgPool2d(p) => Op::AdaptiveAvg(p.output_size),
            LayerSpec::Flatten => Op::Flatten,
            LayerSpec::Dropout(_) => Op::Identity,
            LayerSpec::Activation(a) => Op::Act(*a),
            LayerSpec::Softmax => Op::Softmax,
        };
        ops.push(op);
    }
    Ok(ops)
}
