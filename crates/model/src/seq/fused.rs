//! The fused layer loop of the forward passes that need only their output (SPEC §14: own the
//! hot loops): [`Sequential::forward`](super::Sequential::forward) and the crashed passes of
//! Monte Carlo ([`Sequential::forward_from_site`](super::Sequential::forward_from_site)).
//!
//! A convolution with one group directly followed by its activation — and by a max pooling,
//! if one follows — runs as one CPU pass per block of examples ([`cpu::conv2d_fused`]):
//! `pool(m ⊙ φ(scale·(W ∗ x + b))·gain)` with m the crash mask of the activation's site, applied
//! while the GEMM's result is copied out, instead of four candle ops each reading and writing
//! the whole `[B, O, H, W]` tensor. Every other layer runs as in the plain loop: the layer,
//! then its site's mask. Used only where [`cpu::applies`] (f32 on the CPU, outside autodiff) and
//! only for networks without skip connections; the passes that record intermediate tensors
//! (traces, the bounds' layer-by-layer gradients) keep the plain loop.

use super::cpu::{self, Epilogue};
use super::layers::Pair;
use super::ops::Op;
use crate::error::Result;
use candle_core::{DType, Storage, Tensor};

/// Runs `ops[layers]` on `h`, multiplying the output of layer j by `mask_of(j)` when `Some`
/// (the crash mask of the site after layer j, shaped like the layer's output), fusing
/// convolution + activation (+ mask) (+ max pooling) where possible.
pub(crate) fn run(
    ops: &[Op],
    layers: std::ops::Range<usize>,
    mut h: Tensor,
    mask_of: impl Fn(usize) -> Result<Option<Tensor>>,
) -> Result<Tensor> {
    let mut j = layers.start;
    while j < layers.end {
        if let Some((out, used)) = conv_stage(ops, j, layers.end, &h, &mask_of)? {
            h = out;
            j += used;
            continue;
        }
        h = ops[j].apply(&h)?;
        if let Some(m) = mask_of(j)? {
            h = h.mul(&m)?;
        }
        j += 1;
    }
    Ok(h)
}

/// The fused stage starting at layer `j` when it applies: its output and the number of layers
/// it covers (the convolution, identity layers, the activation, and a max pooling if one
/// follows).
fn conv_stage(
    ops: &[Op],
    j: usize,
    end: usize,
    h: &Tensor,
    mask_of: &impl Fn(usize) -> Result<Option<Tensor>>,
) -> Result<Option<(Tensor, usize)>> {
    let Some(Op::Conv {
        weight,
        bias,
        stride,
        padding,
        groups: 1,
    }) = ops.get(j)
    else {
        return Ok(None);
    };
    // Identity layers (a batch norm folded into the convolution, dropout) may sit between the
    // convolution and its activation; none of them is a crash site.
    let mut a = j + 1;
    while a < end && matches!(ops.get(a), Some(Op::Identity)) {
        a += 1;
    }
    let (Some(Op::Act(act)), true) = (ops.get(a), a < end) else {
        return Ok(None);
    };
    if !cpu::applies(h) || (j..a).any(|k| mask_of(k).is_ok_and(|m| m.is_some())) {
        return Ok(None);
    }
    let pool = match ops.get(a + 1) {
        Some(Op::MaxPool {
            kernel,
            stride,
            padding,
        }) if a + 1 < end && mask_of(a + 1)?.is_none() => Some((*kernel, *stride, *padding)),
        _ => None,
    };
    let mask = mask_of(a)?
        .map(|m| m.to_dtype(DType::F32)?.contiguous())
        .transpose()?;
    let (o, _, kh, kw) = weight.dims4()?;
    let w2d = weight.reshape((o, weight.elem_count() / o))?;
    let b = bias
        .as_ref()
        .map(|b| b.flatten_all()?.to_vec1::<f32>())
        .transpose()?;
    let run = |mask: Option<&[f32]>| {
        let epi = Epilogue {
            act: Some(*act),
            mask,
            pool,
        };
        cpu::conv2d_fused(h, &w2d, b.as_deref(), Pair(kh, kw), *stride, *padding, &epi)
    };
    let out = match &mask {
        Some(m) if m.device().is_cpu() => {
            let (storage, layout) = m.storage_and_layout();
            let Storage::Cpu(cpu) = &*storage else {
                return Ok(None);
            };
            let all = cpu.as_slice::<f32>()?;
            run(Some(&all[layout.start_offset()..][..m.elem_count()]))?
        }
        Some(_) => return Ok(None),
        None => run(None)?,
    };
    let used = a + 1 - j + usize::from(pool.is_some());
    Ok(Some((out, used)))
}
