//! ADD, int8: TFLite's `reference_integer_ops::Add` with the parameters its
//! `Prepare` computes. Both inputs are brought to a common scale (twice the
//! larger input scale) with 20 bits of headroom, added, and rescaled to the
//! output.

use super::ActivationRange;
use crate::tflite::fixed_point::{multiply_by_quantized_multiplier, quantize_multiplier, QuantizedMultiplier};

#[derive(Debug, Clone, Copy)]
pub struct Add {
    pub input1_offset: i32,
    pub input2_offset: i32,
    pub output_offset: i32,
    pub left_shift: u32,
    pub input1_multiplier: QuantizedMultiplier,
    pub input2_multiplier: QuantizedMultiplier,
    pub output_multiplier: QuantizedMultiplier,
    pub range: ActivationRange,
}

impl Add {
    /// TFLite's `Prepare` for int8 (`kernels/add.cc`); scales are the
    /// tensors' `float`s, the arithmetic `double` as there.
    pub fn new(input1: (f32, i32), input2: (f32, i32), output: (f32, i32), range: ActivationRange) -> Self {
        let left_shift = 20;
        let twice_max_input_scale = f64::from(2.0 * input1.0.max(input2.0));
        let output_real = twice_max_input_scale / f64::from((1u32 << left_shift) as f32 * output.0);
        Self {
            input1_offset: -input1.1,
            input2_offset: -input2.1,
            output_offset: output.1,
            left_shift,
            input1_multiplier: quantize_multiplier(f64::from(input1.0) / twice_max_input_scale),
            input2_multiplier: quantize_multiplier(f64::from(input2.0) / twice_max_input_scale),
            output_multiplier: quantize_multiplier(output_real),
            range,
        }
    }

    pub fn reference(&self, a: &[i8], b: &[i8]) -> Vec<i8> {
        a.iter().zip(b).map(|(&x, &y)| self.element(x, y)).collect()
    }

    fn element(&self, x: i8, y: i8) -> i8 {
        let shifted1 = (self.input1_offset + i32::from(x)) * (1 << self.left_shift);
        let shifted2 = (self.input2_offset + i32::from(y)) * (1 << self.left_shift);
        let scaled1 = multiply_by_quantized_multiplier(shifted1, self.input1_multiplier);
        let scaled2 = multiply_by_quantized_multiplier(shifted2, self.input2_multiplier);
        let raw = multiply_by_quantized_multiplier(scaled1 + scaled2, self.output_multiplier) + self.output_offset;
        self.range.clamp(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_scales_add_in_real_terms() {
        let full = ActivationRange { min: -128, max: 127 };
        let add = Add::new((0.5, 0), (0.5, 0), (0.5, 0), full);
        assert_eq!(add.reference(&[1, 100, -100, 3], &[2, 100, -100, -3]), vec![3, 127, -128, 0]);
        // Different scales and zero points: 0.1 * (20 - 10) + 0.2 * (5 - (-5)) = 3.0 -> 3.0 / 0.25 + 1 = 13.
        let mixed = Add::new((0.1, 10), (0.2, -5), (0.25, 1), full);
        assert_eq!(mixed.reference(&[20], &[5]), vec![13]);
    }
}
