//! Where a convolution's or pool's filter window falls: TFLite's
//! `ComputeOutSize` and `ComputePaddingHeightWidth`.

/// TFLite's two paddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Output size `ceil(in / stride)`, the input padded evenly (the odd
    /// pixel at the bottom and right).
    Same,
    /// No padding: only windows wholly inside the input.
    Valid,
}

/// A filter sliding over an image, one axis at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Axis {
    pub input: usize,
    pub filter: usize,
    pub stride: usize,
    pub dilation: usize,
    /// Padding before the first input pixel.
    pub pad: usize,
    pub output: usize,
}

impl Axis {
    pub fn new(input: usize, filter: usize, stride: usize, dilation: usize, padding: Padding) -> Self {
        let effective = (filter - 1) * dilation + 1;
        let output = match padding {
            Padding::Same => input.div_ceil(stride),
            Padding::Valid => (input + stride).saturating_sub(effective) / stride,
        };
        let needed = (output.max(1) - 1) * stride + effective;
        let pad = needed.saturating_sub(input) / 2;
        Self { input, filter, stride, dilation, pad, output }
    }

    /// The input coordinate under filter tap `f` of output `o`, when inside.
    pub fn source(&self, o: usize, f: usize) -> Option<usize> {
        let at = (o * self.stride + f * self.dilation) as isize - self.pad as isize;
        (at >= 0 && (at as usize) < self.input).then_some(at as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_and_valid_sizes() {
        let same = Axis::new(32, 3, 1, 1, Padding::Same);
        assert_eq!((same.output, same.pad), (32, 1));
        let strided = Axis::new(32, 3, 2, 1, Padding::Same);
        assert_eq!((strided.output, strided.pad), (16, 0)); // the odd pixel is at the end
        let valid = Axis::new(49, 10, 2, 1, Padding::Valid);
        assert_eq!((valid.output, valid.pad), (20, 0));
        let odd = Axis::new(5, 4, 1, 1, Padding::Same);
        assert_eq!((odd.output, odd.pad), (5, 1)); // 3 pixels of padding: 1 before, 2 after
        assert_eq!(odd.source(0, 0), None);
        assert_eq!(odd.source(4, 3), None);
        assert_eq!(odd.source(4, 2), None);
        assert_eq!(odd.source(4, 1), Some(4));
    }
}
