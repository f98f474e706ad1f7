//! MNIST and Fashion-MNIST from the canonical gzip-compressed IDX files.
//!
//! IDX format (big-endian): magic `0x00000803` for images (u8, 3 dimensions: count, rows,
//! columns) and `0x00000801` for labels (u8, 1 dimension: count), then the raw bytes.
//! Images become `f32` in `[0, 1]` (`byte / 255`), row-major, one image per row.

use std::io::Read;
use std::ops::Range;
use std::path::Path;

use candle_core::{Device, Tensor};
use flate2::read::GzDecoder;

use crate::dir::DataDir;
use crate::error::DataError;

/// Number of classes of MNIST and Fashion-MNIST.
pub const NUM_CLASSES: usize = 10;

/// IDX magic number of an unsigned-byte 3-D array (images).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// IDX magic number of an unsigned-byte 1-D array (labels).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

/// Which image data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageSet {
    /// Handwritten digits (LeCun, Cortes, Burges).
    Mnist,
    /// Zalando's clothing images (Xiao, Rasul, Vollgraf 2017).
    FashionMnist,
}

impl ImageSet {
    /// Both sets.
    pub const ALL: [ImageSet; 2] = [ImageSet::Mnist, ImageSet::FashionMnist];

    /// Sub-folder of the data folder.
    pub fn folder(self) -> &'static str {
        match self {
            ImageSet::Mnist => "mnist",
            ImageSet::FashionMnist => "fashion-mnist",
        }
    }

    /// Human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            ImageSet::Mnist => "MNIST",
            ImageSet::FashionMnist => "Fashion-MNIST",
        }
    }

    /// Class names, index = label.
    pub fn class_names(self) -> [&'static str; NUM_CLASSES] {
        match self {
            ImageSet::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            ImageSet::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
        }
    }

    /// Relative names of the (images, labels) files of a split.
    pub fn files(self, split: Split) -> (String, String) {
        let prefix = match split {
            Split::Train => "train",
            Split::Test => "t10k",
        };
        (
            format!("{}/{prefix}-images-idx3-ubyte.gz", self.folder()),
            format!("{}/{prefix}-labels-idx1-ubyte.gz", self.folder()),
        )
    }
}

/// Training or test part of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training set (60 000 images for MNIST / Fashion-MNIST).
    Train,
    /// The test set (10 000 images).
    Test,
}

impl Split {
    /// Both splits.
    pub const ALL: [Split; 2] = [Split::Train, Split::Test];

    /// `"train"` or `"test"`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// Grey-scale images with integer labels.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageData {
    /// `n · rows · cols` values in `[0, 1]`, image after image, each row-major.
    pub images: Vec<f32>,
    /// `n` class indices in `0..10`.
    pub labels: Vec<u8>,
    /// Number of images.
    pub n: usize,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
}

impl ImageData {
    /// Number of values per image (`rows · cols`, 784 for MNIST).
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Pixels of image `i` (`rows · cols` values). Panics when `i >= n`.
    pub fn image(&self, i: usize) -> &[f32] {
        let p = self.pixels();
        &self.images[i * p..(i + 1) * p]
    }

    /// Images as an f32 tensor `[n, rows · cols]`.
    pub fn images_tensor(&self, device: &Device) -> Result<Tensor, DataError> {
        Ok(Tensor::from_slice(
            &self.images,
            (self.n, self.pixels()),
            device,
        )?)
    }

    /// Images as an f32 tensor `[n, 1, rows, cols]` (NCHW, for CNNs).
    pub fn images_nchw(&self, device: &Device) -> Result<Tensor, DataError> {
        Ok(Tensor::from_slice(
            &self.images,
            (self.n, 1, self.rows, self.cols),
            device,
        )?)
    }

    /// Labels as a u32 tensor `[n]`.
    pub fn labels_tensor(&self, device: &Device) -> Result<Tensor, DataError> {
        let labels: Vec<u32> = self.labels.iter().map(|&l| u32::from(l)).collect();
        Ok(Tensor::from_vec(labels, self.n, device)?)
    }

    /// One-hot labels, `n · 10` values, row-major.
    pub fn one_hot(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.n * NUM_CLASSES];
        for (row, &l) in out.chunks_exact_mut(NUM_CLASSES).zip(&self.labels) {
            row[usize::from(l)] = 1.0;
        }
        out
    }

    /// One-hot labels as an f32 tensor `[n, 10]`.
    pub fn one_hot_tensor(&self, device: &Device) -> Result<Tensor, DataError> {
        Ok(Tensor::from_vec(
            self.one_hot(),
            (self.n, NUM_CLASSES),
            device,
        )?)
    }

    /// Number of images of each class.
    pub fn label_counts(&self) -> [usize; NUM_CLASSES] {
        let mut counts = [0usize; NUM_CLASSES];
        for &l in &self.labels {
            counts[usize::from(l)] += 1;
        }
        counts
    }

    /// The images with indices in `range` (clamped to `0..n`).
    pub fn subset(&self, range: Range<usize>) -> ImageData {
        let end = range.end.min(self.n);
        let start = range.start.min(end);
        let p = self.pixels();
        ImageData {
            images: self.images[start * p..end * p].to_vec(),
            labels: self.labels[start..end].to_vec(),
            n: end - start,
            rows: self.rows,
            cols: self.cols,
        }
    }
}

/// Loads one split of MNIST or Fashion-MNIST, verifying both files' checksums.
pub fn load_mnist(dir: &DataDir, set: ImageSet, split: Split) -> Result<ImageData, DataError> {
    let (images_name, labels_name) = set.files(split);
    let images_path = dir.file(&images_name);
    let labels_path = dir.file(&labels_name);
    let images_gz = dir.read_verified(&images_name)?;
    let labels_gz = dir.read_verified(&labels_name)?;
    let data = parse_idx_pair(&images_path, &images_gz, &labels_path, &labels_gz)?;
    if (data.rows, data.cols) != (28, 28) {
        return Err(DataError::corrupt(
            &images_path,
            format!(
                "dimension mismatch: images are {}×{}, {} images are 28×28",
                data.rows,
                data.cols,
                set.name()
            ),
        ));
    }
    Ok(data)
}

/// Parses a gzip-compressed IDX image file and label file (paths are used in messages).
pub fn parse_idx_pair(
    images_path: &Path,
    images_gz: &[u8],
    labels_path: &Path,
    labels_gz: &[u8],
) -> Result<ImageData, DataError> {
    let raw_images = gunzip(images_path, images_gz)?;
    let raw_labels = gunzip(labels_path, labels_gz)?;
    let (n, rows, cols, pixels) = parse_idx_images(images_path, &raw_images)?;
    let labels = parse_idx_labels(labels_path, &raw_labels)?;
    if labels.len() != n {
        return Err(DataError::corrupt(
            labels_path,
            format!(
                "dimension mismatch: {} labels but `{}` has {n} images",
                labels.len(),
                images_path.display()
            ),
        ));
    }
    let images: Vec<f32> = pixels.iter().map(|&b| f32::from(b) / 255.0).collect();
    Ok(ImageData {
        images,
        labels: labels.to_vec(),
        n,
        rows,
        cols,
    })
}

/// Decompresses a gzip file held in memory.
pub fn gunzip(path: &Path, gz: &[u8]) -> Result<Vec<u8>, DataError> {
    if gz.len() < 18 || gz[0] != 0x1f || gz[1] != 0x8b {
        return Err(DataError::corrupt(
            path,
            "not a gzip file (missing gzip header 1f 8b)",
        ));
    }
    // The trailer holds the uncompressed size mod 2^32: a good capacity hint (bounded).
    let tail = &gz[gz.len() - 4..];
    let isize = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as usize;
    let mut out = Vec::with_capacity(isize.min(gz.len().saturating_mul(64)).min(1 << 30));
    GzDecoder::new(gz)
        .read_to_end(&mut out)
        .map_err(|e| DataError::corrupt(path, format!("gzip decompression failed: {e}")))?;
    Ok(out)
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses an uncompressed IDX image file: returns (n, rows, cols, pixel bytes).
pub fn parse_idx_images<'a>(
    path: &Path,
    raw: &'a [u8],
) -> Result<(usize, usize, usize, &'a [u8]), DataError> {
    if raw.len() < 16 {
        return Err(DataError::corrupt(
            path,
            format!(
                "truncated: {} bytes, an IDX image header needs 16",
                raw.len()
            ),
        ));
    }
    let magic = be_u32(raw, 0);
    if magic != IDX_IMAGES_MAGIC {
        return Err(DataError::corrupt(
            path,
            format!("bad IDX magic {magic:#010x}, expected {IDX_IMAGES_MAGIC:#010x} (u8 images, 3 dimensions)"),
        ));
    }
    let n = be_u32(raw, 4) as usize;
    let rows = be_u32(raw, 8) as usize;
    let cols = be_u32(raw, 12) as usize;
    let expected = n
        .checked_mul(rows)
        .and_then(|x| x.checked_mul(cols))
        .ok_or_else(|| DataError::corrupt(path, "dimension overflow in IDX header"))?;
    check_len(path, &raw[16..], expected, &format!("{n}×{rows}×{cols}"))?;
    Ok((n, rows, cols, &raw[16..]))
}

/// Parses an uncompressed IDX label file; every label must be below 10.
pub fn parse_idx_labels<'a>(path: &Path, raw: &'a [u8]) -> Result<&'a [u8], DataError> {
    if raw.len() < 8 {
        return Err(DataError::corrupt(
            path,
            format!(
                "truncated: {} bytes, an IDX label header needs 8",
                raw.len()
            ),
        ));
    }
    let magic = be_u32(raw, 0);
    if magic != IDX_LABELS_MAGIC {
        return Err(DataError::corrupt(
            path,
            format!("bad IDX magic {magic:#010x}, expected {IDX_LABELS_MAGIC:#010x} (u8 labels, 1 dimension)"),
        ));
    }
    let n = be_u32(raw, 4) as usize;
    let body = &raw[8..];
    check_len(path, body, n, &format!("{n} labels"))?;
    if let Some(i) = body.iter().position(|&l| usize::from(l) >= NUM_CLASSES) {
        return Err(DataError::corrupt(
            path,
            format!(
                "label {} at index {i} is not a class in 0..{NUM_CLASSES}",
                body[i]
            ),
        ));
    }
    Ok(body)
}

fn check_len(path: &Path, body: &[u8], expected: usize, what: &str) -> Result<(), DataError> {
    if body.len() < expected {
        Err(DataError::corrupt(
            path,
            format!(
                "truncated: header announces {what} = {expected} bytes, only {} present",
                body.len()
            ),
        ))
    } else if body.len() > expected {
        Err(DataError::corrupt(
            path,
            format!(
                "dimension mismatch: header announces {what} = {expected} bytes, {} present",
                body.len()
            ),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ImageData {
        ImageData {
            images: (0..12).map(|i| i as f32 / 11.0).collect(),
            labels: vec![3, 0, 9],
            n: 3,
            rows: 2,
            cols: 2,
        }
    }

    #[test]
    fn one_hot_counts_subset() {
        let d = tiny();
        let oh = d.one_hot();
        assert_eq!(oh.len(), 30);
        assert_eq!(oh[3], 1.0);
        assert_eq!(oh[10], 1.0);
        assert_eq!(oh[29], 1.0);
        assert_eq!(oh.iter().sum::<f32>(), 3.0);
        let c = d.label_counts();
        assert_eq!((c[0], c[3], c[9], c.iter().sum::<usize>()), (1, 1, 1, 3));
        let s = d.subset(1..10);
        assert_eq!((s.n, s.labels.clone()), (2, vec![0, 9]));
        assert_eq!(s.image(0), d.image(1));
        assert!(d.subset(5..7).is_empty());
    }

    #[test]
    fn tensors_have_the_right_shapes() {
        let d = tiny();
        let dev = Device::Cpu;
        assert_eq!(d.images_tensor(&dev).unwrap().dims(), &[3, 4]);
        assert_eq!(d.images_nchw(&dev).unwrap().dims(), &[3, 1, 2, 2]);
        assert_eq!(d.one_hot_tensor(&dev).unwrap().dims(), &[3, 10]);
        let l: Vec<u32> = d.labels_tensor(&dev).unwrap().to_vec1().unwrap();
        assert_eq!(l, vec![3, 0, 9]);
    }

    #[test]
    fn file_names() {
        assert_eq!(
            ImageSet::FashionMnist.files(Split::Test).0,
            "fashion-mnist/t10k-images-idx3-ubyte.gz"
        );
        assert_eq!(
            ImageSet::Mnist.files(Split::Train).1,
            "mnist/train-labels-idx1-ubyte.gz"
        );
    }
}
