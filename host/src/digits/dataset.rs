//! The UCI optical digits (1797 images of 8x8 pixels 0..16), built into the
//! binary so the example runs anywhere.

use anyhow::{bail, Context, Result};
use npu_spec::Matrix;
use std::io::Read;

/// The data file, as copied into the repository.
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../../data/digits/digits.csv.gz");

/// Pixels per image.
pub const PIXELS: usize = 64;
/// Classes (the digits 0..9).
pub const CLASSES: usize = 10;

pub struct Digits {
    /// One row per image: 64 pixels, 0..16.
    pub pixels: Matrix<i8>,
    pub labels: Vec<u8>,
}

impl Digits {
    /// The built-in data set.
    pub fn load() -> Result<Self> {
        Self::parse_gz(DIGITS_CSV_GZ)
    }

    /// Parses gzip-compressed CSV: 64 pixels then the label on each line.
    pub fn parse_gz(gz: &[u8]) -> Result<Self> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(gz).read_to_string(&mut text).context("the digits file is not gzip-compressed text")?;
        let mut pixels = vec![];
        let mut labels = vec![];
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let values: Vec<u8> = line
                .split(',')
                .map(|v| v.trim().parse::<u8>())
                .collect::<Result<_, _>>()
                .with_context(|| format!("digits line {}: not a list of small integers", n + 1))?;
            if values.len() != PIXELS + 1 || values[..PIXELS].iter().any(|&p| p > 16) || values[PIXELS] as usize >= CLASSES {
                bail!("digits line {}: expected 64 pixels 0..16 and a label 0..9", n + 1);
            }
            pixels.extend(values[..PIXELS].iter().map(|&p| p as i8));
            labels.push(values[PIXELS]);
        }
        let rows = labels.len();
        Ok(Self { pixels: Matrix::from_vec(rows, PIXELS, pixels)?, labels })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The held-out test images: every fifth (index divisible by 5).
    pub fn is_test(index: usize) -> bool {
        index.is_multiple_of(5)
    }

    /// The first `n` images.
    pub fn first(&self, n: usize) -> Self {
        let n = n.min(self.len());
        Self { pixels: Matrix::from_fn(n, PIXELS, |i, j| self.pixels.get(i, j)), labels: self.labels[..n].to_vec() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_set_is_whole() {
        let d = Digits::load().unwrap();
        assert_eq!(d.len(), 1797);
        assert_eq!(d.pixels.cols(), 64);
        let mut per_class = [0usize; 10];
        d.labels.iter().for_each(|&l| per_class[l as usize] += 1);
        assert!(per_class.iter().all(|&c| (170..=190).contains(&c)), "{per_class:?}");
        assert_eq!((0..d.len()).filter(|&i| Digits::is_test(i)).count(), 360);
    }
}
