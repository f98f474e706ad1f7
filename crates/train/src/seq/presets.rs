//! The convolutional networks of the paper's experiments as [`Architecture`]s.
//!
//! * [`mnist_cnn`]: SPEC §9's MNIST CNN (ConvNetTest-MNIST, the Keras `mnist_cnn` example with
//!   an extra pair of "same" convolutions): input `[3, 28, 28]` (the gray image repeated to 3
//!   channels), conv32 3×3, conv64 3×3, maxpool 2, conv64 3×3 same, conv64 3×3 same,
//!   maxpool 2, dropout .25, flatten, dense128, dropout .5, dense10, softmax; an activation
//!   after every conv and after dense128. Every channel count and the 128 are multiplied by
//!   `width` (rounded, at least 1): ×0.5, ×1, ×2, ×4 in the convnet-ft experiment (§9).
//! * [`adversarial_cnn`]: the network of the original `notebooks/AE_fgsm_mnist.ipynb`
//!   (`ModelDropoutCNN`, which is cleverhans' `ModelBasicCNN` with 64 filters plus a
//!   crash-dropout of the input — `tf.nn.dropout(x, keep)·keep`, survivors not rescaled):
//!   input `[1, 28, 28]`, conv64 8×8 stride 2 "same" (TensorFlow pads 3 on every side for a
//!   28×28 input), relu, conv128 6×6 stride 2 "valid", relu, conv128 5×5 "valid", relu,
//!   flatten, dense10, softmax. It is not the MNIST CNN above. The input dropout is site 0 of
//!   the crash sites: train it with `SeqTrainConfig::crash_dropout(0, p)`. The notebook
//!   trained it with Adam (1e-3), batch 128, 6 epochs, label smoothing 0.1 and He-normal
//!   initialisation (ours: Glorot-uniform, [`super::init`]).

use crate::error::{Result, TrainError};
use ftnn_model::seq::{ActKind, Architecture};
use serde_json::json;

/// SPEC §9's MNIST CNN with activation `act` (softplus in the paper) and every width × `width`.
pub fn mnist_cnn(act: ActKind, width: f64) -> Result<Architecture> {
    if !(width.is_finite() && width > 0.0 && width <= 64.0) {
        return Err(TrainError::Config(format!(
            "width multiplier {width} is not in (0, 64]"
        )));
    }
    let w = |c: f64| ((c * width).round() as usize).max(1);
    let (c32, c64, d128) = (w(32.0), w(64.0), w(128.0));
    let a = act.name();
    let conv = |i: usize, o: usize, pad: usize| {
        json!({"op": "conv2d", "in_channels": i, "out_channels": o, "kernel_size": 3,
               "padding": pad})
    };
    let layers = vec![
        conv(3, c32, 0),
        json!({"op": a}),
        conv(c32, c64, 0),
        json!({"op": a}),
        json!({"op": "maxpool2d", "kernel_size": 2}),
        conv(c64, c64, 1),
        json!({"op": a}),
        conv(c64, c64, 1),
        json!({"op": a}),
        json!({"op": "maxpool2d", "kernel_size": 2}),
        json!({"op": "dropout", "p": 0.25}),
        json!({"op": "flatten"}),
        json!({"op": "linear", "in_features": c64 * 36, "out_features": d128}),
        json!({"op": a}),
        json!({"op": "dropout", "p": 0.5}),
        json!({"op": "linear", "in_features": d128, "out_features": 10}),
        json!({"op": "softmax"}),
    ];
    Ok(Architecture::from_value(
        json!({"input_shape": [3, 28, 28], "layers": layers}),
    )?)
}

/// The CNN of the original `AE_fgsm_mnist.ipynb` (see the module doc); site 0 (the input)
/// takes the notebook's input dropout.
pub fn adversarial_cnn() -> Architecture {
    let layers = json!([
        {"op": "conv2d", "in_channels": 1, "out_channels": 64, "kernel_size": 8, "stride": 2,
         "padding": 3},
        {"op": "relu"},
        {"op": "conv2d", "in_channels": 64, "out_channels": 128, "kernel_size": 6, "stride": 2},
        {"op": "relu"},
        {"op": "conv2d", "in_channels": 128, "out_channels": 128, "kernel_size": 5},
        {"op": "relu"},
        {"op": "flatten"},
        {"op": "linear", "in_features": 128, "out_features": 10},
        {"op": "softmax"}
    ]);
    // A fixed, valid architecture (tested): parsing cannot fail.
    Architecture::from_value(json!({"input_shape": [1, 28, 28], "layers": layers}))
        .expect("the adversarial CNN is a valid architecture")
}
