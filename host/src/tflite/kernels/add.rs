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
        let raw = multiply_by_quantized_multiplier(self.rescaled1(x) + self.rescaled2(y), self.output_multiplier) + self.output_offset;
        self.range.clamp(raw)
    }

    /// Input 1's value at the common scale: a function of one INT8 value,
    /// so 256 of them are all there are (a table, for hardware that adds
    /// two such and requantizes the sum as a GEMM's).
    pub fn rescaled1(&self, x: i8) -> i32 {
        self.rescaled(x, self.input1_offset, self.input1_multiplier)
    }

    /// Input 2's, likewise.
    pub fn rescaled2(&self, y: i8) -> i32 {
        self.rescaled(y, self.input2_offset, self.input2_multiplier)
    }

    fn rescaled(&self, v: i8, offset: i32, multiplier: QuantizedMultiplier) -> i32 {
        multiply_by_quantized_multiplier((offset + i32::from(v)) * (1 << self.left_shift), multiplier)
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

    /// The arithmetic an on-chip ADD would need: each input through a
    /// 256-entry table of INT32s, their sum, then the output rescale as the
    /// hardware's requantizer does a GEMM's (`npu_spec::requant`, bias 0).
    /// Equal to the kernel for every pair of inputs of ResNet-8's three ADDs
    /// and of one with mixed scales.
    #[test]
    fn an_add_is_two_table_lookups_and_a_gemms_requantization() {
        use crate::tflite::model::{Model, Op};
        use crate::tflite::runtime::hardware_requant;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/resnet8_cifar10.tflite");
        let model = Model::load(&path).unwrap();
        let mut adds: Vec<Add> = model.layers.iter().filter_map(|l| if let Op::Add(a) = &l.op { Some(*a) } else { None }).collect();
        assert_eq!(adds.len(), 3, "ResNet-8 has three ADDs");
        adds.push(Add::new((0.1, 10), (0.2, -5), (0.25, 1), ActivationRange { min: -100, max: 120 }));
        for add in adds {
            let t1: Vec<i32> = (-128..=127).map(|x| add.rescaled1(x)).collect();
            let t2: Vec<i32> = (-128..=127).map(|y| add.rescaled2(y)).collect();
            let q = hardware_requant(vec![0], &[add.output_multiplier], add.output_offset, add.range).expect("the output scale is one the requantizer takes");
            for x in -128..=127i8 {
                for y in -128..=127i8 {
                    let sum = t1[(x as i32 + 128) as usize] + t2[(y as i32 + 128) as usize];
                    assert_eq!(npu_spec::requant::requantize(sum, 0, &q.params), add.element(x, y), "{x} + {y}");
                }
            }
        }
    }
}
