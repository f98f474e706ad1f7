//! Image files as inputs of a convolutional network (SPEC §9, §11 `ftnn analyze --inputs
//! cat.png --preprocess …`): decoding PNG/JPEG, resizing and cropping, and the normalisation
//! each shipped network expects ([`Preprocess`]). Used by `ftnn analyze`, the CNN experiments
//! and the model tests, so that all of them feed a network the same numbers.
//!
//! A file is PNG or JPEG by extension (`.png`, `.jpg`, `.jpeg`, any case; [`image_format`]).
//! An image becomes one input `[C, H, W]` (channels first, row-major) for a network whose input
//! shape is `[C, H, W]` with C ∈ {1, 3} ([`image_shape`]; any other input shape is an
//! [`ImageError`]). [`load_image`] decodes and preprocesses one file.
//!
//! Decoding is the `image` crate's: an alpha channel is dropped and 16-bit images are reduced
//! to 8 bits, so every pipeline starts from integer samples v ∈ {0, …, 255}. "RGB" is the
//! image's three colour channels (a gray image gives R = G = B = v); "luma" is the `image`
//! crate's Rec. 709 gray value L = ⌊(2126 R + 7152 G + 722 B) / 10000⌋ (a gray image gives
//! L = v; PIL's `convert("L")` uses the Rec. 601 weights 299, 587, 114 instead). The arithmetic
//! after decoding is f32, written exactly as below.
//!
//! **Resizing** ("bilinear") is the `image` crate's separable triangle filter
//! (`FilterType::Triangle`), which is PIL's `BILINEAR` (antialiased when shrinking). Along an
//! axis of n input pixels resized to m, with r = n/m and s = max(r, 1), output pixel o is
//! centred at c = (o + ½)·r − ½ in input coordinates and is Σ_i w_i v_i with
//! w_i = max(0, 1 − |i − c|/s) over the input pixels i ∈ [0, n), normalised so that Σ_i w_i = 1.
//! When enlarging (s = 1) this is linear interpolation between the two pixels around c, with
//! the edge pixel repeated outside [0, n − 1]. Rows are resampled first (kept in f32), then
//! columns, and the result is rounded to the nearest integer in [0, 255]. An image that
//! already has the target size is not resampled.
//!
//! **`imagenet`** (torchvision's `Resize(256)`, `CenterCrop(224)`, `ToTensor()`,
//! `Normalize(mean, std)`), for a network input [3, H, W] (C = 3 only):
//! 1. RGB; S = max(256, H, W) (256 for ImageNet's 224 × 224);
//! 2. resize the shorter side to S: an image w × h (width × height) with w ≤ h becomes
//!    S × ⌊S·h/w⌋, otherwise ⌊S·w/h⌋ × S (call it w′ × h′);
//! 3. centre-crop H × W: rows top … top + H − 1 and columns left … left + W − 1 with
//!    top = round((h′ − H)/2), left = round((w′ − W)/2), ties to even (as torchvision);
//! 4. x[c, y, x] = (v/255 − mean_c) / std_c with mean = (0.485, 0.456, 0.406) and
//!    std = (0.229, 0.224, 0.225), channels first (R, G, B).
//!
//! **`efficientnet`** (the input of the shipped EfficientNet-Lite0, data/README.md), for a
//! network input [3, H, W] (C = 3 only; 224 × 224 for EfficientNet-Lite0):
//! 1. RGB; centre square crop: side S = min(w, h), columns ⌊(w − S)/2⌋ … and rows
//!    ⌊(h − S)/2⌋ … (S of each);
//! 2. resize (bilinear) to W × H;
//! 3. x[c, y, x] = (v − 127) / 128, channels first (R, G, B).
//!
//! **`mnist`** (the normalisation of the shipped MNIST CNN), for [1, H, W] or [3, H, W]
//! (28 × 28 for MNIST):
//! 1. luma L;
//! 2. resize to W × H (both sides; the aspect ratio is not kept);
//! 3. x = (L/255 − 0.1307) / 0.3081, the same plane in each of the C channels.
//!
//! MNIST digits are light strokes on a dark background; invert a dark-on-light picture
//! before using it.
//!
//! **`none`**: the image must be W × H already (an error names both sizes otherwise); C = 3
//! takes RGB, C = 1 luma, and x = v/255.

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, ImageFormat, RgbImage};
use std::path::{Path, PathBuf};

/// How image files become network inputs (the module documentation gives the formulas).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

impl Preprocess {
    /// The pipeline's name (`imagenet`, `efficientnet`, `mnist`, `none`).
    pub fn name(self) -> &'static str {
        match self {
            Preprocess::Imagenet => "imagenet",
            Preprocess::Efficientnet => "efficientnet",
            Preprocess::Mnist => "mnist",
            Preprocess::None => "none",
        }
    }
}

/// The ImageNet per-channel mean (R, G, B), on the [0, 1] scale.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// The ImageNet per-channel standard deviation (R, G, B), on the [0, 1] scale.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// What the `efficientnet` pipeline subtracts from the 8-bit samples.
pub const EFFICIENTNET_MEAN: f32 = 127.0;
/// What the `efficientnet` pipeline divides the centred samples by.
pub const EFFICIENTNET_SCALE: f32 = 128.0;
/// The MNIST mean, on the [0, 1] scale.
pub const MNIST_MEAN: f32 = 0.1307;
/// The MNIST standard deviation, on the [0, 1] scale.
pub const MNIST_STD: f32 = 0.3081;
/// The shorter side ImageNet images are resized to before cropping.
const IMAGENET_RESIZE: u32 = 256;
/// The largest resized image accepted (pixels), against absurd aspect ratios.
const MAX_RESIZED_PIXELS: u64 = 1 << 28;

/// A problem with an image file or with what it is asked to feed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The extension is not `.png`, `.jpg` or `.jpeg`.
    #[error("{}: unsupported image type; give a PNG or JPEG file (.png, .jpg, .jpeg)", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
    },
    /// The file cannot be opened.
    #[error("cannot read image {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a decodable image of its format.
    #[error(
        "{}: cannot decode it as a {format} image ({reason}); the file is corrupt, truncated or \
         not a {format}", path.display()
    )]
    Decode {
        /// The file.
        path: PathBuf,
        /// `PNG` or `JPEG`.
        format: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// The network's input is not `[C, H, W]` with C ∈ {1, 3}.
    #[error(
        "image inputs need a network whose input is [C, H, W] with C = 1 or 3; this network's \
         input is {input_shape:?}"
    )]
    NotAnImageNetwork {
        /// The network's input shape.
        input_shape: Vec<usize>,
    },
    /// An RGB-only pipeline for a network whose input has one channel.
    #[error(
        "preprocessing `{preprocess}` needs a network whose input is [3, H, W] (RGB); this \
         network's input is {input_shape:?}"
    )]
    NeedsRgb {
        /// The pipeline's name.
        preprocess: &'static str,
        /// The network's input shape.
        input_shape: Vec<usize>,
    },
    /// The network's input is larger than an image can be.
    #[error(
        "the network's input is too large for an image; this network's input is {input_shape:?}"
    )]
    TooLarge {
        /// The network's input shape.
        input_shape: Vec<usize>,
    },
    /// Resizing would make an absurdly large image (extreme aspect ratio).
    #[error(
        "the image is {width}×{height}: resized to a shorter side of {side} it would be \
         {new_width}×{new_height}, too large (aspect ratio too extreme)"
    )]
    ResizedTooLarge {
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
        /// The shorter side it would be resized to.
        side: u32,
        /// Width after resizing.
        new_width: u32,
        /// Height after resizing.
        new_height: u32,
    },
    /// `none` on an image whose size is not the network's.
    #[error(
        "the image is {width}×{height} (width × height) but the network takes \
         {net_width}×{net_height}; preprocessing `none` does not resize (use imagenet, \
         efficientnet or mnist)"
    )]
    WrongSize {
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
        /// The network's W.
        net_width: u32,
        /// The network's H.
        net_height: u32,
    },
}

/// The image format of a file by its extension (`.png`; `.jpg`, `.jpeg`; any case), `None`
/// for anything else.
pub fn image_format(path: &Path) -> Option<ImageFormat> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("png") => Some(ImageFormat::Png),
        Some("jpg" | "jpeg") => Some(ImageFormat::Jpeg),
        _ => None,
    }
}

/// The network's input `[C, H, W]` as (C, H, W) when images can feed it through
/// `preprocess`: C ∈ {1, 3}, and C = 3 for `imagenet` and `efficientnet`.
pub fn image_shape(
    preprocess: Preprocess,
    input_shape: &[usize],
) -> Result<(usize, u32, u32), ImageError> {
    let &[c, h, w] = input_shape else {
        return Err(ImageError::NotAnImageNetwork {
            input_shape: input_shape.to_vec(),
        });
    };
    if c != 1 && c != 3 {
        return Err(ImageError::NotAnImageNetwork {
            input_shape: input_shape.to_vec(),
        });
    }
    if matches!(preprocess, Preprocess::Imagenet | Preprocess::Efficientnet) && c != 3 {
        return Err(ImageError::NeedsRgb {
            preprocess: preprocess.name(),
            input_shape: input_shape.to_vec(),
        });
    }
    let (Ok(h), Ok(w)) = (u32::try_from(h), u32::try_from(w)) else {
        return Err(ImageError::TooLarge {
            input_shape: input_shape.to_vec(),
        });
    };
    Ok((c, h, w))
}

/// Decodes one PNG or JPEG file (format by extension, [`image_format`]).
pub fn decode(path: &Path) -> Result<DynamicImage, ImageError> {
    let format = image_format(path).ok_or_else(|| ImageError::Unsupported {
        path: path.to_path_buf(),
    })?;
    let name = if format == ImageFormat::Png {
        "PNG"
    } else {
        "JPEG"
    };
    let mut reader = image::io::Reader::open(path).map_err(|source| ImageError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    reader.set_format(format);
    reader.decode().map_err(|e| ImageError::Decode {
        path: path.to_path_buf(),
        format: name,
        reason: e.to_string(),
    })
}

/// One image file as the input `[C, H, W]` (flattened, channels first) of a network whose
/// input shape is `input_shape`, by the pipeline `preprocess`.
pub fn load_image(
    path: &Path,
    preprocess: Preprocess,
    input_shape: &[usize],
) -> Result<Vec<f32>, ImageError> {
    let (c, h, w) = image_shape(preprocess, input_shape)?;
    preprocess_image(&decode(path)?, preprocess, c, h, w)
}

/// One decoded image's inputs `[C, H, W]`, channels first, by the pipeline `preprocess`
/// (C ∈ {1, 3}; C = 3 for `imagenet` and `efficientnet`, which take RGB).
pub fn preprocess_image(
    image: &DynamicImage,
    preprocess: Preprocess,
    c: usize,
    h: u32,
    w: u32,
) -> Result<Vec<f32>, ImageError> {
    match preprocess {
        Preprocess::Imagenet => imagenet(&image.to_rgb8(), h, w),
        Preprocess::Efficientnet => Ok(efficientnet(&image.to_rgb8(), h, w)),
        Preprocess::Mnist => {
            let resized = resize_gray(&image.to_luma8(), w, h);
            let plane: Vec<f32> = resized
                .as_raw()
                .iter()
                .map(|&v| (v as f32 / 255.0 - MNIST_MEAN) / MNIST_STD)
                .collect();
            Ok(plane.repeat(c))
        }
        Preprocess::None => {
            if image.width() != w || image.height() != h {
                return Err(ImageError::WrongSize {
                    width: image.width(),
                    height: image.height(),
                    net_width: w,
                    net_height: h,
                });
            }
            Ok(if c == 3 {
                channels_first(&image.to_rgb8(), |v| v as f32 / 255.0)
            } else {
                image
                    .to_luma8()
                    .as_raw()
                    .iter()
                    .map(|&v| v as f32 / 255.0)
                    .collect()
            })
        }
    }
}

/// The `imagenet` pipeline on an RGB image: shorter side to max(256, H, W), centre crop H × W,
/// per-channel normalisation, channels first.
fn imagenet(rgb: &RgbImage, h: u32, w: u32) -> Result<Vec<f32>, ImageError> {
    let (iw, ih) = rgb.dimensions();
    let side = IMAGENET_RESIZE.max(h).max(w);
    let (nw, nh) = shorter_side_to(iw, ih, side);
    if u64::from(nw) * u64::from(nh) > MAX_RESIZED_PIXELS {
        return Err(ImageError::ResizedTooLarge {
            width: iw,
            height: ih,
            side,
            new_width: nw,
            new_height: nh,
        });
    }
    let resized = if (nw, nh) == (iw, ih) {
        rgb.clone()
    } else {
        image::imageops::resize(rgb, nw, nh, FilterType::Triangle)
    };
    let (top, left) = (centre_offset(nh, h), centre_offset(nw, w));
    let cropped = image::imageops::crop_imm(&resized, left, top, w, h).to_image();
    let mut x = channels_first(&cropped, |v| v as f32 / 255.0);
    let plane = (h as usize) * (w as usize);
    for (ch, values) in x.chunks_mut(plane).enumerate() {
        for v in values {
            *v = (*v - IMAGENET_MEAN[ch]) / IMAGENET_STD[ch];
        }
    }
    Ok(x)
}

/// The `efficientnet` pipeline on an RGB image: centre square crop, resize to W × H,
/// (v − 127)/128, channels first.
fn efficientnet(rgb: &RgbImage, h: u32, w: u32) -> Vec<f32> {
    let (iw, ih) = rgb.dimensions();
    let side = iw.min(ih);
    let square =
        image::imageops::crop_imm(rgb, (iw - side) / 2, (ih - side) / 2, side, side).to_image();
    let resized = if (side, side) == (w, h) {
        square
    } else {
        image::imageops::resize(&square, w, h, FilterType::Triangle)
    };
    channels_first(&resized, |v| {
        (v as f32 - EFFICIENTNET_MEAN) / EFFICIENTNET_SCALE
    })
}

/// The size (width, height) of a `w × h` image whose shorter side is resized to `s`, the
/// longer one to ⌊s·long/short⌋ (torchvision's `Resize(s)`).
fn shorter_side_to(w: u32, h: u32, s: u32) -> (u32, u32) {
    let scaled = |long: u32, short: u32| {
        u32::try_from(u64::from(s) * u64::from(long) / u64::from(short)).unwrap_or(u32::MAX)
    };
    if w <= h {
        (s, scaled(h, w))
    } else {
        (scaled(w, h), s)
    }
}

/// The offset of a centred window of `inner` pixels in `outer` (≥ `inner`):
/// round((outer − inner)/2), ties to even, as torchvision's `center_crop`.
fn centre_offset(outer: u32, inner: u32) -> u32 {
    let d = outer - inner;
    let half = d / 2;
    if d % 2 == 1 && half % 2 == 1 {
        half + 1
    } else {
        half
    }
}

/// A gray image resized to `w × h` with the triangle filter (a copy when it has that size).
fn resize_gray(gray: &GrayImage, w: u32, h: u32) -> GrayImage {
    if gray.dimensions() == (w, h) {
        gray.clone()
    } else {
        image::imageops::resize(gray, w, h, FilterType::Triangle)
    }
}

/// An RGB image's samples as [3, H, W] (channels first), each mapped by `f`.
fn channels_first(rgb: &RgbImage, f: impl Fn(u8) -> f32) -> Vec<f32> {
    let plane = (rgb.width() as usize) * (rgb.height() as usize);
    let mut x = vec![0f32; 3 * plane];
    for (i, px) in rgb.pixels().enumerate() {
        for ch in 0..3 {
            x[ch * plane + i] = f(px.0[ch]);
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic RGB image with distinct, uneven values in every channel.
    fn synthetic(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                ((x * 37 + y * 11) % 256) as u8,
                ((x * x + 3 * y * y + 7) % 256) as u8,
                ((255 + x * 5) as i64 - (y * 13) as i64).rem_euclid(256) as u8,
            ])
        })
    }

    /// Reference resampling weights along one axis, written out from the filter's definition:
    /// the triangle max(0, 1 − |t|) stretched by s = max(n/m, 1), centred at (o + ½)·n/m − ½,
    /// normalised over the input pixels 0 … n − 1.
    fn weights(n: u32, m: u32, o: u32) -> Vec<f64> {
        let r = n as f64 / m as f64;
        let s = r.max(1.0);
        let c = (o as f64 + 0.5) * r - 0.5;
        let w: Vec<f64> = (0..n)
            .map(|i| (1.0 - (i as f64 - c).abs() / s).max(0.0))
            .collect();
        let sum: f64 = w.iter().sum();
        w.into_iter().map(|v| v / sum).collect()
    }

    /// Plain bilinear interpolation at output pixel o (the enlarging case): the two input
    /// pixels around c = (o + ½)·n/m − ½, clamped to the edges.
    fn bilinear_1d(n: u32, m: u32, o: u32) -> Vec<f64> {
        let c = ((o as f64 + 0.5) * n as f64 / m as f64 - 0.5).clamp(0.0, (n - 1) as f64);
        let i0 = c.floor() as usize;
        let i1 = (i0 + 1).min(n as usize - 1);
        let f = c - i0 as f64;
        let mut w = vec![0.0; n as usize];
        w[i0] += 1.0 - f;
        w[i1] += f;
        w
    }

    /// The reference `imagenet` pipeline in f64, with resampling weights from `axis`: each
    /// value, and whether its resampled pixel lies within 0.02 of a half level, where the
    /// `image` crate's f32 arithmetic may round to the other level (its f32 sample positions
    /// are off by up to ~10⁻⁴ pixel, and this synthetic image changes by up to ~100 per pixel).
    fn reference_imagenet(
        img: &RgbImage,
        h: u32,
        w: u32,
        axis: fn(u32, u32, u32) -> Vec<f64>,
    ) -> Vec<(f64, bool)> {
        let (iw, ih) = img.dimensions();
        let s = 256u32.max(h).max(w);
        let (nw, nh) = if iw <= ih {
            (s, (s as f64 * ih as f64 / iw as f64).floor() as u32)
        } else {
            ((s as f64 * iw as f64 / ih as f64).floor() as u32, s)
        };
        // round half to even of (n' − n)/2, as Python's round()
        let off = |outer: u32, inner: u32| {
            let v = (outer - inner) as f64 / 2.0;
            let r = v.round();
            if (v - v.trunc() - 0.5).abs() < 1e-12 && r as i64 % 2 != 0 {
                r - 1.0
            } else {
                r
            }
        };
        let (top, left) = (off(nh, h) as u32, off(nw, w) as u32);
        let mean = [0.485, 0.456, 0.406];
        let std = [0.229, 0.224, 0.225];
        let mut out = vec![(0.0, false); 3 * (h * w) as usize];
        for y in 0..h {
            let wy = axis(ih, nh, top + y);
            for x in 0..w {
                let wx = axis(iw, nw, left + x);
                for ch in 0..3 {
                    let mut v = 0.0;
                    for (sy, a) in wy.iter().enumerate().filter(|(_, a)| **a != 0.0) {
                        for (sx, b) in wx.iter().enumerate().filter(|(_, b)| **b != 0.0) {
                            v += a * b * img.get_pixel(sx as u32, sy as u32).0[ch] as f64;
                        }
                    }
                    let tie = (v - v.floor() - 0.5).abs() < 0.02;
                    let v = v.round().clamp(0.0, 255.0);
                    out[ch * (h * w) as usize + (y * w + x) as usize] =
                        ((v / 255.0 - mean[ch]) / std[ch], tie);
                }
            }
        }
        out
    }

    /// Compares with the reference: equal to f32 precision, except that a resampled value on
    /// a half level may round to the neighbouring level (1/255/std).
    fn assert_close(ours: &[f32], reference: &[(f64, bool)]) {
        assert_eq!(ours.len(), reference.len());
        let level = 1.0 / 255.0 / 0.224 * 1.01;
        for (i, (&a, &(b, tie))) in ours.iter().zip(reference).enumerate() {
            let d = (a as f64 - b).abs();
            let allowed = if tie { level + 1e-5 } else { 1e-5 };
            assert!(
                d < allowed,
                "element {i}: {a} vs {b} (on a half level: {tie})"
            );
        }
    }

    /// Enlarging (a 13 × 9 image to 369 × 256): plain bilinear interpolation, then an odd
    /// centre crop (ties to even) and the normalisation.
    #[test]
    fn imagenet_enlarging_is_bilinear() {
        let img = synthetic(13, 9);
        let (h, w) = (7, 10);
        let ours = imagenet(&img, h, w).unwrap();
        assert_eq!(ours.len(), 3 * 7 * 10);
        assert_close(&ours, &reference_imagenet(&img, h, w, bilinear_1d));
        // The crop is centred: 256 − 7 = 249 → top 124 (124.5 to even); ⌊256·13/9⌋ = 369,
        // 369 − 10 = 359 → left 180 (179.5 to even).
        assert_eq!(shorter_side_to(13, 9, 256), (369, 256));
        assert_eq!((centre_offset(256, 7), centre_offset(369, 10)), (124, 180));
        assert_eq!((centre_offset(256, 224), centre_offset(10, 7)), (16, 2));
    }

    /// Shrinking (a portrait 300 × 520 image to 256 × 443): the antialiased triangle filter;
    /// and 224 × 224 from it, as for ImageNet networks.
    #[test]
    fn imagenet_shrinking_is_the_antialiased_triangle_filter() {
        let img = synthetic(300, 520);
        assert_eq!(shorter_side_to(300, 520, 256), (256, 443));
        let ours = imagenet(&img, 224, 224).unwrap();
        assert_close(&ours, &reference_imagenet(&img, 224, 224, weights));
    }

    /// A network input larger than 256: the shorter side goes to max(H, W).
    #[test]
    fn imagenet_large_inputs_resize_to_the_larger_side() {
        let img = synthetic(40, 30);
        let ours = imagenet(&img, 260, 300).unwrap();
        assert_eq!(ours.len(), 3 * 260 * 300);
        assert_eq!(shorter_side_to(40, 30, 300), (400, 300));
        assert_close(&ours, &reference_imagenet(&img, 260, 300, bilinear_1d));
    }

    /// `efficientnet` crops the centre square (offset ⌊(w − S)/2⌋) and maps v to
    /// (v − 127)/128, channels first; a square image of another size is resized to H × W.
    #[test]
    fn efficientnet_pipeline() {
        for (iw, ih) in [(7u32, 5u32), (5, 8)] {
            let img = DynamicImage::ImageRgb8(synthetic(iw, ih));
            let rgb = img.to_rgb8();
            let x = preprocess_image(&img, Preprocess::Efficientnet, 3, 5, 5).unwrap();
            let (left, top) = ((iw - 5) / 2, (ih - 5) / 2);
            for c in 0..3 {
                for y in 0..5u32 {
                    for xx in 0..5u32 {
                        let v = rgb.get_pixel(xx + left, y + top).0[c] as f32;
                        let got = x[c * 25 + (y * 5 + xx) as usize];
                        assert_eq!(got, (v - 127.0) / 128.0, "{iw}x{ih} c {c} ({y}, {xx})");
                    }
                }
            }
        }
        let img = DynamicImage::ImageRgb8(synthetic(9, 9));
        let x = preprocess_image(&img, Preprocess::Efficientnet, 3, 4, 4).unwrap();
        let resized = image::imageops::resize(&img.to_rgb8(), 4, 4, FilterType::Triangle);
        assert_eq!(x, channels_first(&resized, |v| (v as f32 - 127.0) / 128.0));
    }

    /// `mnist` resizes the luma to H × W and normalises; C = 3 repeats the plane.
    #[test]
    fn mnist_pipeline() {
        let gray = GrayImage::from_fn(14, 14, |x, y| image::Luma([(x * 18 + y) as u8]));
        let img = DynamicImage::ImageLuma8(gray.clone());
        let one = preprocess_image(&img, Preprocess::Mnist, 1, 28, 28).unwrap();
        let three = preprocess_image(&img, Preprocess::Mnist, 3, 28, 28).unwrap();
        assert_eq!(one.len(), 784);
        assert_eq!(three, one.repeat(3));
        for y in 0..28u32 {
            let wy = bilinear_1d(14, 28, y);
            for x in 0..28u32 {
                let wx = bilinear_1d(14, 28, x);
                let mut v = 0.0;
                for (sy, a) in wy.iter().enumerate() {
                    for (sx, b) in wx.iter().enumerate() {
                        v += a * b * gray.get_pixel(sx as u32, sy as u32).0[0] as f64;
                    }
                }
                let expected = (v.round() / 255.0 - 0.1307) / 0.3081;
                let got = one[(y * 28 + x) as usize] as f64;
                assert!(
                    (got - expected).abs() < 1.01 / 255.0 / 0.3081,
                    "{got} vs {expected}"
                );
            }
        }
        // Luma of a colour image: ⌊(2126 R + 7152 G + 722 B)/10000⌋.
        let rgb = RgbImage::from_pixel(28, 28, image::Rgb([200, 100, 50]));
        let x =
            preprocess_image(&DynamicImage::ImageRgb8(rgb), Preprocess::Mnist, 1, 28, 28).unwrap();
        let l = (2126 * 200 + 7152 * 100 + 722 * 50) / 10000;
        assert_eq!(x[0], (l as f32 / 255.0 - MNIST_MEAN) / MNIST_STD);
    }

    /// `none` keeps the pixels (x/255) and names both sizes when they differ.
    #[test]
    fn none_pipeline() {
        let img = DynamicImage::ImageRgb8(synthetic(5, 4));
        let x = preprocess_image(&img, Preprocess::None, 3, 4, 5).unwrap();
        assert_eq!(x[0], 0.0);
        assert_eq!(x[20 + 1], 8.0 / 255.0); // G at (x 1, y 0): 1² + 0 + 7
        let err = preprocess_image(&img, Preprocess::None, 3, 5, 5).unwrap_err();
        assert!(err.to_string().contains("5×4") && err.to_string().contains("5×5"));
    }
}
