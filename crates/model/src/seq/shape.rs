//! Shape inference of a Sequential architecture (SPEC §11): the shape of one example after
//! every layer, with PyTorch's formulas (floor mode, dilation 1):
//!
//! ```text
//! conv2d / pooling:  H' = ⌊(H + 2·p_h − k_h) / s_h⌋ + 1     (likewise W)
//! conv2d:            [C, H, W] → [out_channels, H', W']
//! linear:            [..., in_features] → [..., out_features]
//! adaptive pooling:  [C, H, W] → [C, oh, ow]
//! flatten:           [C, H, W] → [C·H·W]
//! zeropad2d:         [C, H, W] → [C, top + H + bottom, left + W + right]
//! add (from i):      s → s, where s must be the shape of layer i's input
//! ```
//!
//! Errors name the layer index and op: [`ModelError::LayerShape`] (with the shape the layer
//! accepts and the one it gets) when the shapes do not chain, [`ModelError::InvalidLayer`]
//! for fields that no input could satisfy (zero sizes, groups not dividing the channels,
//! pooling padding above half the window, softmax before the last layer, an `add` whose
//! `from` is not an earlier layer or is a batch norm folded into its convolution). An `add`
//! whose two tensors differ in shape is a [`ModelError::LayerShape`] naming both shapes.

use super::arch::{Architecture, LayerSpec};
use super::layers::Pair;
use crate::error::{ModelError, Result};

/// `H + 2p`, or `None` on overflow.
fn padded(h: usize, p: usize) -> Option<usize> {
    p.checked_mul(2).and_then(|p2| h.checked_add(p2))
}

/// Output size of a window `k` with stride `s` over `h` padded by `p` on each side, when the
/// window fits.
fn window_out(h: usize, k: usize, s: usize, p: usize) -> Option<usize> {
    let hp = padded(h, p)?;
    (hp >= k).then(|| (hp - k) / s + 1)
}

impl Architecture {
    /// The shape of one example after each layer (`shapes()[i]` = output of layer i, without
    /// the batch axis), validating every layer; the last entry is the output shape.
    pub fn shapes(&self) -> Result<Vec<Vec<usize>>> {
        if self.input_shape.is_empty() || self.input_shape.contains(&0) {
            return Err(ModelError::Architecture(format!(
                "input_shape {:?} must be a non-empty list of positive sizes",
                self.input_shape
            )));
        }
        if self.layers.is_empty() {
            return Err(ModelError::Architecture(
                "a Sequential network needs at least one layer".into(),
            ));
        }
        let mut shape = self.input_shape.clone();
        let mut out: Vec<Vec<usize>> = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            if let LayerSpec::Add(add) = &layer.spec {
                self.check_add(i, add.from, &shape, &out)?;
            }
            shape = layer_output(i, &layer.spec, &shape, i + 1 == self.layers.len())?;
            out.push(shape.clone());
        }
        Ok(out)
    }

    /// Checks the `add` at layer `i` (current tensor of shape `s`) adding the input of layer
    /// `from`; `outputs` are the shapes after layers `0..i`.
    fn check_add(&self, i: usize, from: usize, s: &[usize], outputs: &[Vec<usize>]) -> Result<()> {
        let invalid = |reason: String| ModelError::InvalidLayer {
            layer: i,
            op: "add".into(),
            reason,
        };
        if from >= i {
            return Err(invalid(format!(
                "from = {from} must be the index of an earlier layer (< {i}); the add sums the \
                 tensor that entered layer `from` (0: the network input) into its own input"
            )));
        }
        if from > 0
            && matches!(self.layers[from].spec, LayerSpec::BatchNorm2d(_))
            && matches!(self.layers[from - 1].spec, LayerSpec::Conv2d(_))
        {
            return Err(invalid(format!(
                "from = {from}: layer {from} is a batchnorm2d folded into the conv2d before it, \
                 so its input is not computed; reference the layer after the batch norm"
            )));
        }
        let skip = if from == 0 {
            &self.input_shape
        } else {
            &outputs[from - 1]
        };
        if skip.as_slice() != s {
            return Err(ModelError::LayerShape {
                layer: i,
                op: "add".into(),
                expected: format!(
                    "{skip:?} (the shape of the input of layer {from}, which it adds)"
                ),
                got: s.to_vec(),
            });
        }
        Ok(())
    }

    /// The shape of one output example.
    pub fn output_shape(&self) -> Result<Vec<usize>> {
        Ok(self.shapes()?.pop().unwrap_or_default())
    }
}

/// Number of elements of a shape, or `None` on overflow.
pub(crate) fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// The output shape of layer `i` for the input shape `s`.
fn layer_output(i: usize, spec: &LayerSpec, s: &[usize], last: bool) -> Result<Vec<usize>> {
    let op = spec.op();
    let invalid = |reason: String| ModelError::InvalidLayer {
        layer: i,
        op: op.to_string(),
        reason,
    };
    let mismatch = |expected: String| ModelError::LayerShape {
        layer: i,
        op: op.to_string(),
        expected,
        got: s.to_vec(),
    };
    let positive = |what: &str, p: Pair| {
        if p.0 == 0 || p.1 == 0 {
            Err(invalid(format!("{what} {:?} must be positive", [p.0, p.1])))
        } else {
            Ok(())
        }
    };
    let chw = |c_expected: Option<usize>| -> Result<(usize, usize, usize)> {
        match *s {
            [c, h, w] if c_expected.is_none_or(|e| e == c) => Ok((c, h, w)),
            _ => Err(mismatch(match c_expected {
                Some(c) => format!("[{c}, H, W]"),
                None => "[C, H, W]".into(),
            })),
        }
    };
    // Output size of a window layer, or a shape error naming the window and padding.
    let windowed = |h: usize, w: usize, k: Pair, st: Pair, p: Pair, c: String| match (
        window_out(h, k.0, st.0, p.0),
        window_out(w, k.1, st.1, p.1),
    ) {
        (Some(ho), Some(wo)) => Ok((ho, wo)),
        _ => Err(mismatch(format!(
            "[{c}, H, W] with H + 2·{} ≥ {} and W + 2·{} ≥ {} (window {}×{}, padding {:?})",
            p.0,
            k.0,
            p.1,
            k.1,
            k.0,
            k.1,
            [p.0, p.1]
        ))),
    };
    match spec {
        LayerSpec::Conv2d(c) => {
            if c.in_channels == 0 || c.out_channels == 0 || c.groups == 0 {
                return Err(invalid(
                    "in_channels, out_channels and groups must be positive".into(),
                ));
            }
            positive("kernel_size", c.kernel_size)?;
            positive("stride", c.stride)?;
            if c.in_channels % c.groups != 0 || c.out_channels % c.groups != 0 {
                return Err(invalid(format!(
                    "groups = {} must divide in_channels = {} and out_channels = {}",
                    c.groups, c.in_channels, c.out_channels
                )));
            }
            let (_, h, w) = chw(Some(c.in_channels))?;
            let (ho, wo) = windowed(
                h,
                w,
                c.kernel_size,
                c.stride,
                c.padding,
                c.in_channels.to_string(),
            )?;
            Ok(vec![c.out_channels, ho, wo])
        }
        LayerSpec::Linear(l) => {
            if l.in_features == 0 || l.out_features == 0 {
                return Err(invalid(
                    "in_features and out_features must be positive".into(),
                ));
            }
            match s.last() {
                Some(&n) if n == l.in_features => {
                    let mut o = s.to_vec();
                    let k = o.len() - 1;
                    o[k] = l.out_features;
                    Ok(o)
                }
                _ => Err(mismatch(if s.len() <= 1 {
                    format!("[{}] (in_features)", l.in_features)
                } else {
                    format!("[…, {}] (in_features over the last axis)", l.in_features)
                })),
            }
        }
        LayerSpec::BatchNorm2d(b) => {
            if b.num_features == 0 {
                return Err(invalid("num_features must be positive".into()));
            }
            if !(b.eps.is_finite() && b.eps > 0.0) {
                return Err(invalid(format!("eps = {} must be positive", b.eps)));
            }
            chw(Some(b.num_features))?;
            Ok(s.to_vec())
        }
        LayerSpec::MaxPool2d(p) | LayerSpec::AvgPool2d(p) => {
            positive("kernel_size", p.kernel_size)?;
            positive("stride", p.stride())?;
            if p.padding.0 > p.kernel_size.0 / 2 || p.padding.1 > p.kernel_size.1 / 2 {
                return Err(invalid(format!(
                    "padding {:?} must be at most half the window {:?}",
                    [p.padding.0, p.padding.1],
                    [p.kernel_size.0, p.kernel_size.1]
                )));
            }
            let (c, h, w) = chw(None)?;
            let (ho, wo) = windowed(h, w, p.kernel_size, p.stride(), p.padding, "C".into())?;
            Ok(vec![c, ho, wo])
        }
        LayerSpec::AdaptiveAvgPool2d(p) => {
            positive("output_size", p.output_size)?;
            let (c, _, _) = chw(None)?;
            Ok(vec![c, p.output_size.0, p.output_size.1])
        }
        LayerSpec::Flatten => match numel(s) {
            Some(n) => Ok(vec![n]),
            None => Err(mismatch("a shape whose size fits in memory".into())),
        },
        LayerSpec::Dropout(d) => match d.p {
            Some(p) if !(0.0..=1.0).contains(&p) => {
                Err(invalid(format!("p = {p} must be in [0, 1]")))
            }
            _ => Ok(s.to_vec()),
        },
        LayerSpec::Activation(a) => {
            if !(a.scale.is_finite() && a.gain.is_finite()) {
                return Err(invalid(format!(
                    "scale = {} and gain = {} must be finite",
                    a.scale, a.gain
                )));
            }
            Ok(s.to_vec())
        }
        LayerSpec::ZeroPad2d(z) => {
            let p = z.padding;
            let (c, h, w) = chw(None)?;
            let grown = |n: usize, a: usize, b: usize| n.checked_add(a)?.checked_add(b);
            match (grown(h, p.top, p.bottom), grown(w, p.left, p.right)) {
                (Some(ho), Some(wo)) if numel(&[c, ho, wo]).is_some() => Ok(vec![c, ho, wo]),
                _ => Err(invalid(format!(
                    "padding {:?} is too large",
                    [p.left, p.right, p.top, p.bottom]
                ))),
            }
        }
        LayerSpec::Add(_) => Ok(s.to_vec()),
        LayerSpec::Softmax => {
            if !last {
                return Err(invalid("softmax is allowed only as the last layer".into()));
            }
            Ok(s.to_vec())
        }
    }
}
