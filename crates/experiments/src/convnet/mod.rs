//! Convolutional networks (SPEC §9, §10): the four CNN experiments of the catalogue —
//! `convnet-mnist` (b3 against Monte Carlo on the softplus MNIST CNN, ConvNetTest-MNIST),
//! `convnet-vgg16` (10 crashable red-channel pixels of `chelsea` at p = 0.5 on VGG16 and on
//! the shipped EfficientNet-Lite0 stand-in, ConvNetTest-VGG16), `convnet-ft` (crash error of
//! pretrained CNNs of several widths, ConvNetTest-ft) and `adversarial-dropout` (crash
//! tolerance against adversarial robustness, AE_fgsm_mnist / AE_onepixel_mnist).
//!
//! Written so far: [`mnist`], [`vgg16`], [`ft`], [`adversarial_dropout`].

pub mod adversarial_dropout;
pub mod ft;
pub mod mnist;
pub mod vgg16;
