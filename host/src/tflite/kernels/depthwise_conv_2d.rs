//! DEPTHWISE_CONV_2D, int8 with per-channel weights: TFLite's
//! `reference_integer_ops::DepthwisePerChannel`. Each input channel `ci`
//! gives `depth_multiplier` output channels `ci * depth_multiplier + m`.
//! It runs on the host: each output channel has only a filter's taps of
//! work (K of 9 for 3x3), which a GEMM on the array would mostly spend on
//! moving operands.

use super::window::Axis;
use super::{ActivationRange, Nhwc};
use crate::tflite::fixed_point::{multiply_by_quantized_multiplier, QuantizedMultiplier};

#[derive(Debug, Clone)]
pub struct DepthwiseConv2d {
    pub input: Nhwc,
    pub rows: Axis,
    pub cols: Axis,
    pub depth_multiplier: usize,
    /// `[1][filter rows][filter cols][output channels]`.
    pub filter: Vec<i8>,
    pub bias: Vec<i32>,
    pub input_offset: i32,
    pub output_offset: i32,
    pub multipliers: Vec<QuantizedMultiplier>,
    pub range: ActivationRange,
}

impl DepthwiseConv2d {
    pub fn output(&self) -> Nhwc {
        Nhwc { n: self.input.n, h: self.rows.output, w: self.cols.output, c: self.input.c * self.depth_multiplier }
    }

    pub fn reference(&self, input: &[i8]) -> Vec<i8> {
        let out = self.output();
        let mut result = vec![0i8; out.len()];
        for n in 0..out.n {
            for y in 0..out.h {
                for x in 0..out.w {
                    for ci in 0..self.input.c {
                        for m in 0..self.depth_multiplier {
                            let co = ci * self.depth_multiplier + m;
                            let mut acc = 0i32;
                            for fy in 0..self.rows.filter {
                                let Some(iy) = self.rows.source(y, fy) else { continue };
                                for fx in 0..self.cols.filter {
                                    let Some(ix) = self.cols.source(x, fx) else { continue };
                                    let v = i32::from(input[self.input.at(n, iy, ix, ci)]) + self.input_offset;
                                    let w = i32::from(self.filter[(fy * self.cols.filter + fx) * out.c + co]);
                                    acc = acc.wrapping_add(v * w);
                                }
                            }
                            acc = acc.wrapping_add(self.bias[co]);
                            let scaled = multiply_by_quantized_multiplier(acc, self.multipliers[co]);
                            result[out.at(n, y, x, co)] = self.range.clamp(scaled.saturating_add(self.output_offset));
                        }
                    }
                }
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::super::window::Padding;
    use super::*;

    #[test]
    fn each_channel_sees_only_its_own_input() {
        // Two input channels, multiplier 2: output channel 2c+m = input c * (m + 1).
        let input = Nhwc { n: 1, h: 1, w: 1, c: 2 };
        let d = DepthwiseConv2d {
            input,
            rows: Axis::new(1, 3, 1, 1, Padding::Same),
            cols: Axis::new(1, 3, 1, 1, Padding::Same),
            depth_multiplier: 2,
            filter: (0..9).flat_map(|t| if t == 4 { vec![1, 2, 1, 2] } else { vec![9, 9, 9, 9] }).collect(),
            bias: vec![0; 4],
            input_offset: 0,
            output_offset: 0,
            multipliers: vec![QuantizedMultiplier { multiplier: 1 << 30, shift: 1 }; 4],
            range: ActivationRange { min: -128, max: 127 },
        };
        assert_eq!(d.reference(&[10, -20]), vec![10, 20, -20, -40]);
    }
}
