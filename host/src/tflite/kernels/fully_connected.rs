//! FULLY_CONNECTED, int8, as TFLite's interpreter computes it:
//! `acc = bias[o] + sum_k (in[k] + input_offset) * filter[o][k]`, requantized
//! by one multiplier (or one per output, for per-channel weights).
//!
//! Unlike CONV_2D, the requantization rounds once (TFLite's single-rounding
//! `MultiplyByQuantizedMultiplier`, as ruy does), not gemmlowp's twice.
//! Measured against ai-edge-litert 2.3.0's BUILTIN_REF interpreter on the two
//! shared models: the double-rounding formula differs on 9 of ResNet-8's
//! 200 FULLY_CONNECTED outputs (20 inputs), the single-rounding one on none.
//! The NPU's requantizer rounds twice, so this layer's sums come back from
//! the NPU as INT32 and are requantized on the host.
//! On the NPU it is the GEMM `input x filter^T` with the offset folded into
//! the bias, like CONV_2D.

use super::ActivationRange;
use crate::tflite::fixed_point::{multiply_by_quantized_multiplier_single_round, QuantizedMultiplier};
use npu_spec::Matrix;

#[derive(Debug, Clone)]
pub struct FullyConnected {
    pub batch: usize,
    pub depth: usize,
    pub outputs: usize,
    /// `[outputs][depth]`.
    pub filter: Vec<i8>,
    pub bias: Vec<i32>,
    pub input_offset: i32,
    pub output_offset: i32,
    /// One, or one per output.
    pub multipliers: Vec<QuantizedMultiplier>,
    pub range: ActivationRange,
}

impl FullyConnected {
    pub fn multiplier(&self, o: usize) -> QuantizedMultiplier {
        self.multipliers[if self.multipliers.len() == 1 { 0 } else { o }]
    }

    pub fn reference(&self, input: &[i8]) -> Vec<i8> {
        let acc = Matrix::from_fn(self.batch, self.outputs, |b, o| {
            let mut acc = 0i32;
            for k in 0..self.depth {
                let v = i32::from(input[b * self.depth + k]) + self.input_offset;
                acc = acc.wrapping_add(v * i32::from(self.filter[o * self.depth + k]));
            }
            acc.wrapping_add(self.bias[o])
        });
        self.requantize(&acc)
    }

    pub fn requantize(&self, acc: &Matrix<i32>) -> Vec<i8> {
        let mut out = Vec::with_capacity(acc.rows() * acc.cols());
        for b in 0..acc.rows() {
            for o in 0..acc.cols() {
                let scaled = multiply_by_quantized_multiplier_single_round(acc.get(b, o), self.multiplier(o));
                out.push(self.range.clamp(scaled.saturating_add(self.output_offset)));
            }
        }
        out
    }

    /// The GEMM's B: depth down, outputs across.
    pub fn weights(&self) -> Matrix<i8> {
        Matrix::from_fn(self.depth, self.outputs, |k, o| self.filter[o * self.depth + k])
    }

    /// The bias with the input offset folded in (see `fold_input_offset`).
    pub fn folded_bias(&self) -> Vec<i32> {
        super::fold_input_offset(&self.bias, &self.filter, self.input_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_gemm_equals_the_reference() {
        let mut rng = npu_spec::rng::XorShift::new(11);
        let fc = FullyConnected {
            batch: 3,
            depth: 17,
            outputs: 5,
            filter: (0..85).map(|_| rng.next_u64() as i8).collect(),
            bias: vec![100, -100, 0, 7, 1 << 20],
            input_offset: 128,
            output_offset: 10,
            multipliers: vec![crate::tflite::fixed_point::quantize_multiplier(0.0037)],
            range: ActivationRange { min: 10, max: 127 },
        };
        let input: Vec<i8> = (0..51).map(|_| rng.next_u64() as i8).collect();
        let a = Matrix::from_fn(3, 17, |b, k| input[b * 17 + k]);
        let gemm = npu_spec::gemm_reference(&a, &fc.weights()).unwrap();
        let bias = fc.folded_bias();
        let acc = Matrix::from_fn(3, 5, |b, o| gemm.get(b, o).wrapping_add(bias[o]));
        assert_eq!(fc.requantize(&acc), fc.reference(&input));
    }
}
