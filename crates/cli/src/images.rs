//! Image files as inputs of a Sequential network: `ftnn analyze --inputs cat.png dog.jpg
//! --preprocess imagenet|efficientnet|mnist|none`.
//!
//! `--inputs` is either one `.npy` array `[N, *input_shape]` (used as it is; `--preprocess` is
//! then an error) or one or more PNG/JPEG files, told apart by extension (`.png`, `.jpg`,
//! `.jpeg`, any case; mixing the two kinds, or any other extension, is an error). The images
//! become the inputs `[N, C, H, W]` in the order given, where `[C, H, W]` with C ∈ {1, 3} is
//! the network's input shape (any other input shape is an error). `--preprocess` is required.
//!
//! Decoding, resizing, cropping and normalising are ftnn-data's ([`ftnn_data::images`], whose
//! documentation gives every pipeline's formulas); this module sorts the command line's files
//! and turns ftnn-data's errors into usage errors that name the file.

use crate::npy::Array;
use crate::CliError;
use anyhow::anyhow;
use ftnn_data::images::{self, ImageError};
use std::path::{Path, PathBuf};

/// How image files become network inputs (`--preprocess`; the pipelines of
/// [`ftnn_data::images::Preprocess`]).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preprocess {
    /// RGB, shorter side to 256, centre crop to the network's H × W, ImageNet mean and std.
    Imagenet,
    /// RGB, centre square crop, resized to the network's H × W, (v − 127)/128 (EfficientNet-Lite0).
    Efficientnet,
    /// Luma, resized to the network's H × W, (x/255 − 0.1307)/0.3081.
    Mnist,
    /// The image as it is (its size must be the network's H × W), x/255.
    None,
}

impl From<Preprocess> for images::Preprocess {
    fn from(p: Preprocess) -> Self {
        match p {
            Preprocess::Imagenet => images::Preprocess::Imagenet,
            Preprocess::Efficientnet => images::Preprocess::Efficientnet,
            Preprocess::Mnist => images::Preprocess::Mnist,
            Preprocess::None => images::Preprocess::None,
        }
    }
}

impl Preprocess {
    /// The name on the command line.
    fn name(self) -> &'static str {
        images::Preprocess::from(self).name()
    }
}

/// What `--inputs` names.
pub enum InputFiles<'a> {
    /// One `.npy` array.
    Npy(&'a Path),
    /// Image files, with the preprocessing to apply.
    Images(&'a [PathBuf], Preprocess),
}

impl InputFiles<'_> {
    /// The files, for messages.
    pub fn describe(&self) -> String {
        match self {
            InputFiles::Npy(path) => path.display().to_string(),
            InputFiles::Images(paths, _) => paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// Whether `path` names a `.npy` file (any case).
fn is_npy(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case("npy"))
}

/// Sorts `--inputs` into one `.npy` array or a list of images, checking `--preprocess`
/// against them. Every failure is invalid usage (exit code 2).
pub fn classify(
    paths: &[PathBuf],
    preprocess: Option<Preprocess>,
) -> Result<InputFiles<'_>, CliError> {
    let fail = |msg: String| Err(CliError::input(anyhow!(msg)));
    let Some(first) = paths.first() else {
        return fail("--inputs: give one .npy file or one or more PNG/JPEG images".into());
    };
    let (mut npys, mut pictures) = (Vec::new(), Vec::new());
    for path in paths {
        if is_npy(path) {
            npys.push(path);
        } else if images::image_format(path).is_some() {
            pictures.push(path);
        } else {
            return fail(format!(
                "--inputs {}: unsupported file type; give one .npy array or PNG/JPEG \
                 images (.png, .jpg, .jpeg)",
                path.display()
            ));
        }
    }
    if !npys.is_empty() && !pictures.is_empty() {
        return fail(format!(
            "--inputs mixes a .npy array ({}) with images ({}); give one .npy file or only images",
            npys[0].display(),
            pictures[0].display()
        ));
    }
    if npys.len() > 1 {
        return fail(format!(
            "--inputs: give one .npy file, not {} ({}, {}, …)",
            npys.len(),
            npys[0].display(),
            npys[1].display()
        ));
    }
    match (npys.is_empty(), preprocess) {
        (false, None) => Ok(InputFiles::Npy(first)),
        (false, Some(p)) => fail(format!(
            "--preprocess {} applies to image inputs only; {} is a .npy array, used as it is",
            p.name(),
            first.display()
        )),
        (true, None) => fail(format!(
            "--inputs {}: image inputs need --preprocess imagenet, efficientnet, mnist or none",
            first.display()
        )),
        (true, Some(p)) => Ok(InputFiles::Images(paths, p)),
    }
}

/// The error for images given to a network whose input is `input_shape`, not [C, H, W] with
/// C ∈ {1, 3} (`file`: the first image).
pub fn not_an_image_network(file: &Path, input_shape: &[usize]) -> CliError {
    file_error(
        file,
        ImageError::NotAnImageNetwork {
            input_shape: input_shape.to_vec(),
        },
    )
}

/// ftnn-data's error about `file` as a usage error naming it.
fn file_error(file: &Path, e: ImageError) -> CliError {
    match e {
        // These already name the file.
        ImageError::Read { .. } | ImageError::Decode { .. } | ImageError::Unsupported { .. } => {
            CliError::input(anyhow!(e))
        }
        e => CliError::input(anyhow!("--inputs {}: {e}", file.display())),
    }
}

/// Reads, decodes and preprocesses the images into inputs `[N, C, H, W]` for a network whose
/// input shape is `input_shape`.
pub fn read_images(
    paths: &[PathBuf],
    preprocess: Preprocess,
    input_shape: &[usize],
) -> Result<Array, CliError> {
    let pre = images::Preprocess::from(preprocess);
    let (c, h, w) = images::image_shape(pre, input_shape).map_err(|e| file_error(&paths[0], e))?;
    let mut data = Vec::with_capacity(paths.len() * c * (h as usize) * (w as usize));
    for path in paths {
        let x = images::load_image(path, pre, input_shape).map_err(|e| file_error(path, e))?;
        data.extend(x);
    }
    Ok(Array {
        shape: vec![paths.len(), c, h as usize, w as usize],
        data,
    })
}
