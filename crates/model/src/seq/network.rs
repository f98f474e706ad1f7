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
//! **Skip connections** (`add` from layer i): the forward loops keep the tensor entering
//! layer i until the last `add` that uses it. A pass that starts after layer i — resuming at a
//! site inside a block ([`Sequential::forward_from_site_with_skips`]) or running a range of
//! layers ([`Sequential::forward_layers_with_skips`]) — is given that tensor (for a crashed
//! pass: the crash-free one of the same input, since nothing before the starting site
//! crashes); a pass that starts at or before layer i computes it, so crashes before the
//! block reach the sum through both the block and the skip. Networks without `add` run the
//! plain loop.
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
    /// `last_use[i]` = the last `add` layer adding the input of layer i, if any; empty when the
    /// network has no `add`.
    last_use: Vec<Option<usize>>,
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
        let mut last_use = vec![None; ops.len()];
        for (j, op) in ops.iter().enumerate() {
            if let Op::Add { from } = op {
                last_use[*from] = Some(j);
            }
        }
        if last_use.iter().all(Option::is_none) {
            last_use.clear();
        }
        Ok(Self {
            arch,
            shapes,
            params,
            ops,
            sites,
            site_of_layer,
            last_use,
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
        let h = self.conform(x, &self.arch.input_shape, None, "input")?;
        if self.last_use.is_empty() {
            return super::fused::run(&self.ops, 0..self.ops.len(), h, |_| Ok(None));
        }
        self.run(0..self.ops.len(), h, &[], |_, h| Ok(h))
    }

    /// The crash-free tensor at every site, `[B, *site_shape]` each (`[0]` is the input, the
    /// last one the output).
    pub fn forward_trace(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        Ok(self.forward_trace_with_inputs(x, &[])?.0)
    }

    /// [`Sequential::forward_trace`] and, from the same pass, the crash-free tensors that
    /// entered the layers `layers` (`[B, *input shape of layer i]` each, in the order given;
    /// layer 0's is the input): e.g. the skip tensors of
    /// [`Sequential::forward_from_site_with_skips`].
    pub fn forward_trace_with_inputs(
        &self,
        x: &Tensor,
        layers: &[usize],
    ) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
        let n = self.ops.len();
        if let Some(&i) = layers.iter().find(|&&i| i >= n) {
            return Err(ModelError::Architecture(format!(
                "layer {i} outside the network's {n} layers"
            )));
        }
        let h = self.conform(x, &self.arch.input_shape, None, "input")?;
        let mut inputs: Vec<Option<Tensor>> = vec![None; layers.len()];
        let mut keep = |i: usize, h: &Tensor| {
            for (k, &l) in layers.iter().enumerate() {
                if l == i {
                    inputs[k] = Some(h.clone());
                }
            }
        };
        keep(0, &h);
        let mut out = Vec::with_capacity(self.sites.len());
        out.push(h.clone());
        self.run(0..n, h, &[], |j, h| {
            if self.site_of_layer[j].is_some() {
                out.push(h.clone());
            }
            if j + 1 < n {
                keep(j + 1, &h);
            }
            Ok(h)
        })?;
        let inputs = inputs
            .into_iter()
            .map(|t| t.expect("every layer runs"))
            .collect();
        Ok((out, inputs))
    }

    /// The layers before `layers.start` whose input tensors the `add` layers in `layers`
    /// reference (increasing, without repeats): the skip tensors that running `layers` alone
    /// needs. Empty for networks without skip connections.
    pub fn skip_inputs(&self, layers: std::ops::Range<usize>) -> Vec<usize> {
        if self.last_use.is_empty() || layers.start >= layers.end.min(self.ops.len()) {
            return Vec::new();
        }
        let mut out: Vec<usize> = self.ops
            [layers.start.min(self.ops.len())..layers.end.min(self.ops.len())]
            .iter()
            .filter_map(|op| match op {
                Op::Add { from } if *from < layers.start => Some(*from),
                _ => None,
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// [`Sequential::skip_inputs`] of the layers after `site` (empty when no skip connection
    /// spans the site, e.g. for the input site, and for an invalid site).
    pub fn site_skip_inputs(&self, site: usize) -> Vec<usize> {
        match self.sites.get(site) {
            Some(s) => self.skip_inputs(s.layer_after.map_or(0, |j| j + 1)..self.ops.len()),
            None => Vec::new(),
        }
    }

    /// Shape of one example entering layer `i` (the input shape for i = 0).
    pub fn layer_input_shape(&self, i: usize) -> &[usize] {
        match i {
            0 => &self.arch.input_shape,
            _ => &self.shapes[i - 1],
        }
    }

    /// Continues the forward pass from the tensor `value` at `site` (taken as is: the caller
    /// has already crashed its elements) to the output, crashing every later site s:
    /// `y_s ← y_s ⊙ masks[s]` where `masks[s]` is `Some` (a 0/1 tensor `[B, *shape_s]` or
    /// `[B, size_s]`). `masks` has one entry per site; entries for sites ≤ `site` are ignored.
    /// `value` is `[B, *shape_site]` or `[B, size_site]`. Returns the output flattened to
    /// `[B, n_outputs]`.
    ///
    /// When a skip connection spans the site (an `add` after it adds the input of a layer
    /// before it: [`Sequential::site_skip_inputs`] is not empty) the skip's tensor is not
    /// determined by `value`; that is an error here, and
    /// [`Sequential::forward_from_site_with_skips`] takes it.
    pub fn forward_from_site(
        &self,
        site: usize,
        value: &Tensor,
        masks: &[Option<Tensor>],
    ) -> Result<Tensor> {
        self.forward_from_site_with_skips(site, value, masks, &[])
    }

    /// [`Sequential::forward_from_site`] with `skips[k]` the tensor `[B, *shape]` (or
    /// `[B, size]`) entering layer `site_skip_inputs(site)[k]` — for a crashed pass, the
    /// crash-free tensor of the same input (the sites before `site` do not crash), e.g. from
    /// [`Sequential::forward_trace_with_inputs`]. Skip tensors of layers at or after the site's
    /// layer are taken from the pass itself, so crashes at `site` and later reach them.
    pub fn forward_from_site_with_skips(
        &self,
        site: usize,
        value: &Tensor,
        masks: &[Option<Tensor>],
        skips: &[Tensor],
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
        let h = self.conform(value, &s.shape, None, &what)?;
        let start = s.layer_after.map_or(0, |j| j + 1);
        let mask_of = |j: usize| -> Result<Option<Tensor>> {
            let Some(t) = self.site_of_layer[j] else {
                return Ok(None);
            };
            let Some(m) = &masks[t] else {
                return Ok(None);
            };
            let what = format!("the crash mask of site {t}");
            Ok(Some(self.conform(m, &self.sites[t].shape, batch, &what)?))
        };
        let h = if self.last_use.is_empty() && skips.is_empty() {
            super::fused::run(&self.ops, start..self.ops.len(), h, mask_of)?
        } else {
            self.run(start..self.ops.len(), h, skips, |j, h| match mask_of(j)? {
                Some(m) => Ok(h.mul(&m)?),
                None => Ok(h),
            })?
        };
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
    /// [`Sequential::forward`], for gradients taken layer by layer. An `add` in `layers` that
    /// references a layer before `layers.start` needs [`Sequential::forward_layers_with_skips`].
    pub fn forward_layers(&self, layers: std::ops::Range<usize>, h: &Tensor) -> Result<Tensor> {
        self.forward_layers_with_skips(layers, h, &[])
    }

    /// [`Sequential::forward_layers`] with `skips[k]` `[B, *shape]` the tensor entering layer
    /// `skip_inputs(layers)[k]` (what the `add` layers in `layers` add from before the range).
    pub fn forward_layers_with_skips(
        &self,
        layers: std::ops::Range<usize>,
        h: &Tensor,
        skips: &[Tensor],
    ) -> Result<Tensor> {
        if layers.start > layers.end || layers.end > self.ops.len() {
            return Err(ModelError::Architecture(format!(
                "layer range {layers:?} outside the network's {} layers",
                self.ops.len()
            )));
        }
        self.run(layers, h.clone(), skips, |_, h| Ok(h))
    }

    /// Runs the layers `layers` on `h` (the tensor entering `layers.start`), calling
    /// `after(j, output of layer j)` after each layer j, which returns the tensor to go on with
    /// (e.g. crashed). `skips` are the tensors entering the layers
    /// [`Sequential::skip_inputs`]`(layers)`; the inputs of later layers that an `add`
    /// references are kept during the pass (and dropped after their last use).
    fn run(
        &self,
        layers: std::ops::Range<usize>,
        mut h: Tensor,
        skips: &[Tensor],
        mut after: impl FnMut(usize, Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        if self.last_use.is_empty() && skips.is_empty() {
            // No skip connections: the plain loop.
            for j in layers {
                h = self.ops[j].apply(&h)?;
                h = after(j, h)?;
            }
            return Ok(h);
        }
        let needed = self.skip_inputs(layers.clone());
        if skips.len() != needed.len() {
            return Err(ModelError::Shape {
                what: format!("skip tensors for layers {layers:?}"),
                expected: format!(
                    "{} tensor(s): the tensors entering layers {needed:?}, which `add` layers \
                     after layer {} add (a crashed pass takes them from the clean pass of the \
                     same inputs)",
                    needed.len(),
                    layers.start
                ),
                got: format!("{} tensor(s)", skips.len()),
            });
        }
        let batch = h.dims().first().copied();
        let mut saved: Vec<Option<Tensor>> = vec![None; self.ops.len()];
        for (&i, t) in needed.iter().zip(skips) {
            let what = format!("the skip tensor entering layer {i}");
            saved[i] = Some(self.conform(t, self.layer_input_shape(i), batch, &what)?);
        }
        for j in layers {
            if self.last_use[j].is_some() {
                saved[j] = Some(h.clone());
            }
            h = match &self.ops[j] {
                Op::Add { from } => {
                    let skip = saved[*from].as_ref().ok_or_else(|| {
                        ModelError::Architecture(format!(
                            "layer {j} (add) has no tensor for layer {from}'s input (internal \
                             error)"
                        ))
                    })?;
                    let sum = h.add(skip)?;
                    if self.last_use[*from] == Some(j) {
                        saved[*from] = None;
                    }
                    sum
                }
                op => op.apply(&h)?,
            };
            h = after(j, h)?;
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
            Op::AvgPool { .. }
            | Op::AdaptiveAvg(_)
            | Op::Flatten
            | Op::Identity
            | Op::ZeroPad(_) => op.apply(u)?,
            // With respect to the current tensor (the skip held fixed), `x + skip` is the
            // identity plus a constant.
            Op::Add { .. } => u.clone(),
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
            LayerSpec::ZeroPad2d(z) => Op::ZeroPad(z.padding),
            LayerSpec::Add(a) => Op::Add { from: a.from },
        };
        ops.push(op);
    }
    Ok(ops)
}
