//! CONV_2D, int8 with per-channel weights: TFLite's
//! `reference_integer_ops::ConvPerChannel`, and the same arithmetic cut into
//! a GEMM for the NPU (im2col).
//!
//! `acc = bias[co] + sum over taps inside the image of (in + input_offset) * filter`,
//! then `MultiplyByQuantizedMultiplier(acc, channel's multiplier) + output_offset`,
//! clamped to the activation's range. Taps in the padding add nothing.

use super::window::Axis;
use super::{ActivationRange, Nhwc};
use crate::tflite::fixed_point::{multiply_by_quantized_multiplier, QuantizedMultiplier};
use npu_spec::Matrix;

/// A convolution's shapes and quantization, ready to run.
#[derive(Debug, Clone)]
pub struct Conv2d {
    pub input: Nhwc,
    pub rows: Axis,
    pub cols: Axis,
    pub out_channels: usize,
    /// `[out_channels][filter rows][filter cols][in channels]`.
    pub filter: Vec<i8>,
    pub bias: Vec<i32>,
    /// Minus the input's zero point.
    pub input_offset: i32,
    pub output_offset: i32,
    /// One per output channel.
    pub multipliers: Vec<QuantizedMultiplier>,
    pub range: ActivationRange,
}

impl Conv2d {
    pub fn output(&self) -> Nhwc {
        Nhwc { n: self.input.n, h: self.rows.output, w: self.cols.output, c: self.out_channels }
    }

    /// Taps per output: the GEMM's K.
    pub fn taps(&self) -> usize {
        self.rows.filter * self.cols.filter * self.input.c
    }

    /// The reference kernel.
    pub fn reference(&self, input: &[i8]) -> Vec<i8> {
        let acc = self.accumulate(input);
        self.requantize(&acc)
    }

    /// The INT32 sums with the bias, one row per output pixel.
    fn accumulate(&self, input: &[i8]) -> Matrix<i32> {
        let out = self.output();
        let k = self.taps();
        Matrix::from_fn(out.n * out.h * out.w, out.c, |p, co| {
            let (n, y, x) = (p / (out.h * out.w), p / out.w % out.h, p % out.w);
            let mut acc = self.bias[co];
            for fy in 0..self.rows.filter {
                let Some(iy) = self.rows.source(y, fy) else { continue };
                for fx in 0..self.cols.filter {
                    let Some(ix) = self.cols.source(x, fx) else { continue };
                    for ci in 0..self.input.c {
                        let v = i32::from(input[self.input.at(n, iy, ix, ci)]) + self.input_offset;
                        let w = i32::from(self.filter[co * k + (fy * self.cols.filter + fx) * self.input.c + ci]);
                        acc = acc.wrapping_add(v * w);
                    }
                }
            }
            acc
        })
    }

    /// INT32 sums (with the bias) to int8, channel by channel.
    pub fn requantize(&self, acc: &Matrix<i32>) -> Vec<i8> {
        let mut out = Vec::with_capacity(acc.rows() * acc.cols());
        for p in 0..acc.rows() {
            for co in 0..acc.cols() {
                let scaled = multiply_by_quantized_multiplier(acc.get(p, co), self.multipliers[co]);
                out.push(self.range.clamp(scaled.saturating_add(self.output_offset)));
            }
        }
        out
    }

    /// im2col: one row per output pixel, one column per tap (filter row,
    /// filter column, input channel). A tap in the padding holds the input's
    /// zero point, so that it adds nothing once the offset is folded.
    pub fn im2col(&self, input: &[i8]) -> Matrix<i8> {
        let out = self.output();
        let k = self.taps();
        let zero = (-self.input_offset) as i8;
        let mut m = Matrix::<i8>::zeros(out.n * out.h * out.w, k);
        for p in 0..m.rows() {
            let (n, y, x) = (p / (out.h * out.w), p / out.w % out.h, p % out.w);
            for fy in 0..self.rows.filter {
                for fx in 0..self.cols.filter {
                    let source = self.rows.source(y, fy).zip(self.cols.source(x, fx));
                    for ci in 0..self.input.c {
                        let v = source.map_or(zero, |(iy, ix)| input[self.input.at(n, iy, ix, ci)]);
                        m.set(p, (fy * self.cols.filter + fx) * self.input.c + ci, v);
                    }
                }
            }
        }
        m
    }

    /// The filter as the GEMM's B: taps down, output channels across.
    pub fn weights(&self) -> Matrix<i8> {
        let k = self.taps();
        Matrix::from_fn(k, self.out_channels, |t, co| self.filter[co * k + t])
    }

    /// The bias with the input offset folded in: `bias + input_offset * sum(filter)`,
    /// so that the GEMM of the raw input gives the reference's sums (mod 2^32).
    pub fn folded_bias(&self) -> Vec<i32> {
        super::fold_input_offset(&self.bias, &self.filter, self.input_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::super::window::Padding;
    use super::*;
    use crate::tflite::fixed_point::quantize_multiplier;

    fn conv(padding: Padding, stride: usize) -> Conv2d {
        let input = Nhwc { n: 2, h: 5, w: 4, c: 3 };
        let (fh, fw, co) = (3, 2, 4);
        let mut rng = npu_spec::rng::XorShift::new(7);
        Conv2d {
            input,
            rows: Axis::new(input.h, fh, stride, 1, padding),
            cols: Axis::new(input.w, fw, stride, 1, padding),
            out_channels: co,
            filter: (0..co * fh * fw * input.c).map(|_| rng.next_u64() as i8).collect(),
            bias: (0..co as i32).map(|c| c * 1000 - 1500).collect(),
            input_offset: 5,
            output_offset: -3,
            multipliers: (0..co).map(|c| quantize_multiplier(0.001 * (c + 1) as f64)).collect(),
            range: ActivationRange { min: -128, max: 127 },
        }
    }

    #[test]
    fn gemm_of_im2col_with_folded_bias_equals_the_reference() {
        let mut rng = npu_spec::rng::XorShift::new(3);
        for (padding, stride) in [(Padding::Same, 1), (Padding::Same, 2), (Padding::Valid, 1), (Padding::Valid, 2)] {
            let c = conv(padding, stride);
            let input: Vec<i8> = (0..c.input.len()).map(|_| rng.next_u64() as i8).collect();
            let gemm = npu_spec::gemm_reference(&c.im2col(&input), &c.weights()).unwrap();
            let bias = c.folded_bias();
            let acc = Matrix::from_fn(gemm.rows(), gemm.cols(), |p, co| gemm.get(p, co).wrapping_add(bias[co]));
            assert_eq!(acc, c.accumulate(&input), "{padding:?} stride {stride}");
            assert_eq!(c.requantize(&acc), c.reference(&input));
        }
    }

    #[test]
    fn a_one_by_one_identity_passes_the_input() {
        let input = Nhwc { n: 1, h: 2, w: 2, c: 1 };
        let c = Conv2d {
            input,
            rows: Axis::new(2, 1, 1, 1, Padding::Valid),
            cols: Axis::new(2, 1, 1, 1, Padding::Valid),
            out_channels: 1,
            filter: vec![1],
            bias: vec![0],
            input_offset: 0,
            output_offset: 0,
            multipliers: vec![QuantizedMultiplier { multiplier: 1 << 30, shift: 1 }],
            range: ActivationRange { min: -128, max: 127 },
        };
        assert_eq!(c.reference(&[1, -2, 3, 127]), vec![1, -2, 3, 127]);
    }
}
