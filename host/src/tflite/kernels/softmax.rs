//! SOFTMAX, int8 in and out: TFLite's quantized `reference_ops::Softmax`
//! with the parameters its `Prepare` computes for the reference kernel.
//! All integer: the differences from the row's maximum are scaled to Q5.26,
//! exponentiated with gemmlowp's fixed point, summed in Q12.19, and each
//! divided by the sum through a reciprocal. The output's scale is 1/256 and
//! its zero point -128, as TFLite requires.

use crate::tflite::fixed_point::{exp_on_negative_values, get_reciprocal, multiply_by_quantized_multiplier_greater_than_one, quantize_multiplier, rescale, rounding_divide_by_pot, srdhm};

const SCALED_DIFF_INTEGER_BITS: i32 = 5;
const ACCUMULATION_INTEGER_BITS: i32 = 12;

#[derive(Debug, Clone, Copy)]
pub struct Softmax {
    pub input_multiplier: i32,
    pub input_left_shift: i32,
    pub diff_min: i32,
}

impl Softmax {
    /// `PreprocessSoftmaxScaling` and `CalculateInputRadius`, in `double`.
    pub fn new(beta: f32, input_scale: f32) -> Self {
        let real = (f64::from(beta) * f64::from(input_scale) * f64::from(1u32 << (31 - SCALED_DIFF_INTEGER_BITS))).min((1u64 << 31) as f64 - 1.0);
        let q = quantize_multiplier(real);
        assert!(q.shift >= 0, "a softmax input scale this small is refused when the model is read");
        let max_input_rescaled = f64::from((1 << SCALED_DIFF_INTEGER_BITS) - 1) * (1u64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64 / (1u64 << q.shift) as f64;
        Self { input_multiplier: q.multiplier, input_left_shift: q.shift, diff_min: -(max_input_rescaled.floor() as i32) }
    }

    /// Softmax over the last dimension, `depth` wide.
    pub fn reference(&self, input: &[i8], depth: usize) -> Vec<i8> {
        let mut out = Vec::with_capacity(input.len());
        for row in input.chunks(depth) {
            let max = i32::from(*row.iter().max().expect("depth is above 0"));
            let exps: Vec<Option<i32>> = row.iter().map(|&v| self.exp(i32::from(v) - max)).collect();
            let mut sum = 0i32;
            for e in exps.iter().flatten() {
                sum = sum.wrapping_add(rescale(*e, 0, ACCUMULATION_INTEGER_BITS));
            }
            let (scale, bits_over_unit) = get_reciprocal(sum, ACCUMULATION_INTEGER_BITS);
            let exponent = bits_over_unit + 31 - 8;
            assert!((0..=31).contains(&exponent));
            for e in exps {
                out.push(match e {
                    Some(e) => {
                        let unsat = rounding_divide_by_pot(srdhm(scale, e), exponent as u8);
                        (unsat - 128).clamp(-128, 127) as i8
                    }
                    None => i8::MIN,
                });
            }
        }
        out
    }

    /// exp(beta * scale * diff) in Q0.31, or none when the difference is
    /// below the range that counts.
    fn exp(&self, diff: i32) -> Option<i32> {
        (diff >= self.diff_min).then(|| {
            let rescaled = multiply_by_quantized_multiplier_greater_than_one(diff, self.input_multiplier, self.input_left_shift);
            exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_to_the_real_softmax() {
        let s = Softmax::new(1.0, 0.1);
        let x = [10i8, 0, -10, 20];
        let out = s.reference(&x, 4);
        let e: Vec<f64> = x.iter().map(|&v| (f64::from(v) * 0.1).exp()).collect();
        let total: f64 = e.iter().sum();
        for (o, e) in out.iter().zip(&e) {
            let real = (f64::from(*o) + 128.0) / 256.0;
            assert!((real - e / total).abs() <= 1.0 / 256.0, "{out:?}");
        }
        // Equal inputs share the probability evenly: 1/4 -> 64 - 128.
        assert_eq!(s.reference(&[5, 5, 5, 5], 4), vec![-64; 4]);
    }
}
