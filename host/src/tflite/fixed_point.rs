//! TFLite's integer helpers (`quantization_util`, `common.h`) and the
//! gemmlowp fixed-point functions its softmax uses, bit for bit.
//!
//! A `FixedPoint<i32, I>` of gemmlowp is here a plain `i32` raw value: the
//! integer-bit count `I` lives in the function names and comments.

pub use npu_spec::requant::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul as srdhm};

/// A real multiplier as TFLite stores it: `multiplier * 2^shift / 2^31`,
/// `shift` > 0 a left shift, < 0 a right shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantizedMultiplier {
    pub multiplier: i32,
    pub shift: i32,
}

/// TFLite's `QuantizeMultiplier`: `frexp`, then the significand rounded to
/// Q31 (half away from zero), with its two corrections.
pub fn quantize_multiplier(real: f64) -> QuantizedMultiplier {
    if real == 0.0 {
        return QuantizedMultiplier { multiplier: 0, shift: 0 };
    }
    let (q, mut shift) = frexp(real);
    let mut q_fixed = (q * (1u64 << 31) as f64).round() as i64;
    assert!(q_fixed <= 1i64 << 31, "frexp's significand is below 1");
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        return QuantizedMultiplier { multiplier: 0, shift: 0 };
    }
    QuantizedMultiplier { multiplier: q_fixed as i32, shift }
}

/// C's `frexp` for finite, non-zero `x`: `x = q * 2^e` with `|q|` in [0.5, 1).
fn frexp(x: f64) -> (f64, i32) {
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    if exponent == 0 {
        // Subnormal: scale into the normal range first.
        let (q, e) = frexp(x * (1u64 << 54) as f64);
        return (q, e - 54);
    }
    let q = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (q, exponent - 1022)
}

/// TFLite's `MultiplyByQuantizedMultiplier` (double rounding: the high
/// multiply rounds, then the divide rounds). A left shift multiplies first,
/// wrapping as the C++ does on its two's complement targets.
pub fn multiply_by_quantized_multiplier(x: i32, m: QuantizedMultiplier) -> i32 {
    let left = m.shift.max(0) as u32;
    let right = (-m.shift).max(0) as u8;
    rounding_divide_by_pot(srdhm(x.wrapping_mul(1i32.wrapping_shl(left)), m.multiplier), right)
}

/// The single-rounding form of `MultiplyByQuantizedMultiplier` (TFLite's
/// `TFLITE_SINGLE_ROUNDING`, and ruy's): `(x * m + 2^(t-1)) >> t` with
/// `t = 31 - shift`, in 64 bits: one rounding, half up.
pub fn multiply_by_quantized_multiplier_single_round(x: i32, m: QuantizedMultiplier) -> i32 {
    let total_shift = 31 - m.shift;
    let round = 1i64 << (total_shift - 1);
    ((i64::from(x) * i64::from(m.multiplier) + round) >> total_shift) as i32
}

/// TFLite's `MultiplyByQuantizedMultiplierGreaterThanOne`.
pub fn multiply_by_quantized_multiplier_greater_than_one(x: i32, multiplier: i32, left_shift: i32) -> i32 {
    srdhm(x.wrapping_mul(1i32.wrapping_shl(left_shift as u32)), multiplier)
}

/// TFLite's `Quantize` of a constant (`CalculateActivationRangeQuantized`):
/// `zero_point + round(f / scale)`, in `float`.
pub fn quantize_constant(f: f32, scale: f32, zero_point: i32) -> i32 {
    zero_point + (f / scale).round() as i32
}

/// gemmlowp's `SaturatingRoundingMultiplyByPOT<exponent>`: a saturating
/// left shift, or a rounding right shift.
pub fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent > 0 {
        let threshold = (1i32 << (31 - exponent)) - 1;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x << exponent
        }
    } else {
        rounding_divide_by_pot(x, (-exponent) as u8)
    }
}

/// gemmlowp's `Rescale<dst>` of a fixed-point value with `src` integer bits.
pub fn rescale(x: i32, src_integer_bits: i32, dst_integer_bits: i32) -> i32 {
    saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)
}

/// gemmlowp's `RoundingHalfSum` for `i32`.
pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = i64::from(a) + i64::from(b);
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// gemmlowp's `exp_on_interval_between_negative_one_quarter_and_0_excl`
/// (Q0.31 in and out): a Taylor expansion around -1/8.
fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1_895_147_668; // exp(-1/8)
    const ONE_OVER_THREE: i32 = 715_827_883;
    let x = a.wrapping_add(1 << 28); // a + 1/8
    let x2 = srdhm(x, x);
    let x3 = srdhm(x2, x);
    let x4 = srdhm(x2, x2);
    let x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
    let sum = saturating_rounding_multiply_by_pot(srdhm(x4_over_4.wrapping_add(x3), ONE_OVER_THREE).wrapping_add(x2), -1);
    CONSTANT_TERM.wrapping_add(srdhm(CONSTANT_TERM, x.wrapping_add(sum)))
}

/// gemmlowp's `exp_on_negative_values`: `a` a Q`integer_bits` value at or
/// below 0, the result Q0.31.
pub fn exp_on_negative_values(a: i32, integer_bits: i32) -> i32 {
    let fractional_bits = 31 - integer_bits;
    let one_quarter = 1i32 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    // exp(-2^e) for e = -2..=4, in Q0.31: the barrel shifter.
    const MULTIPLIERS: [(i32, i32); 7] =
        [(-2, 1_672_461_947), (-1, 1_302_514_674), (0, 790_015_084), (1, 290_630_308), (2, 39_332_535), (3, 720_401), (4, 242)];
    for (exponent, multiplier) in MULTIPLIERS {
        if integer_bits > exponent {
            let bit = fractional_bits + exponent;
            if remainder & (1i32 << bit) != 0 {
                result = srdhm(result, multiplier);
            }
        }
    }
    if integer_bits > 5 {
        let clamp = -(1i32 << (36 - integer_bits));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = i32::MAX; // One() with no integer bits
    }
    result
}

/// gemmlowp's `one_over_one_plus_x_for_x_in_0_1` (Q0.31 in and out):
/// Newton-Raphson division, three steps.
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let half_denominator = rounding_half_sum(a, i32::MAX);
    const FORTY_EIGHT_OVER_17: i32 = 1_515_870_810; // Q2.29
    const NEG_THIRTY_TWO_OVER_17: i32 = -1_010_580_540; // Q2.29
    const ONE_Q2: i32 = 1 << 29;
    let mut x = FORTY_EIGHT_OVER_17.wrapping_add(srdhm(half_denominator, NEG_THIRTY_TWO_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = srdhm(half_denominator, x);
        let one_minus = ONE_Q2.wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(rescale(srdhm(x, one_minus), 4, 2));
    }
    // ExactMulByPot<-1> keeps the raw value as a Q1.30, then Rescale<0>.
    rescale(x, 1, 0)
}

/// TFLite's `GetReciprocal`: 1 / x for a Q`integer_bits` `x` > 0, as a
/// Q0.31 scale and the bits the sum had above 1.0.
pub fn get_reciprocal(x: i32, integer_bits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let num_bits_over_unit = integer_bits - headroom_plus_one;
    let shifted_sum_minus_one = ((x as u32).wrapping_shl(headroom_plus_one as u32)).wrapping_sub(1u32 << 31) as i32;
    (one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_multiplier_matches_frexp_rules() {
        assert_eq!(quantize_multiplier(0.5), QuantizedMultiplier { multiplier: 1 << 30, shift: 0 });
        assert_eq!(quantize_multiplier(0.25), QuantizedMultiplier { multiplier: 1 << 30, shift: -1 });
        assert_eq!(quantize_multiplier(3.0), QuantizedMultiplier { multiplier: 3 << 29, shift: 2 });
        assert_eq!(quantize_multiplier(1e-12), QuantizedMultiplier { multiplier: 0, shift: 0 });
        // Rounding up to 2^31 moves to the next power of two.
        assert_eq!(quantize_multiplier(1.0 - 1e-12), QuantizedMultiplier { multiplier: 1 << 30, shift: 1 });
        let m = quantize_multiplier(0.003);
        assert!((f64::from(m.multiplier) / 2f64.powi(31) * 2f64.powi(m.shift) - 0.003).abs() < 1e-12);
    }

    #[test]
    fn frexp_of_subnormals_and_negatives() {
        assert_eq!(frexp(1.0), (0.5, 1));
        assert_eq!(frexp(-3.0), (-0.75, 2));
        assert_eq!(frexp(f64::MIN_POSITIVE / 4.0), (0.5, -1023));
    }

    #[test]
    fn exp_is_close_to_exp() {
        // Q5.26 inputs: exp(0) is One, exp(-1), exp(-8).
        assert_eq!(exp_on_negative_values(0, 5), i32::MAX);
        for x in [-0.1f64, -1.0, -2.5, -8.0, -20.0] {
            let raw = (x * f64::from(1 << 26)) as i32;
            let got = f64::from(exp_on_negative_values(raw, 5)) / 2f64.powi(31);
            assert!((got - x.exp()).abs() < 1e-6, "exp({x}) = {got}");
        }
    }

    #[test]
    fn reciprocal_is_close() {
        for x in [1.0f64, 1.5, 3.0, 100.0, 2047.0] {
            let raw = (x * f64::from(1 << 19)) as i32; // Q12.19
            let (scale, bits) = get_reciprocal(raw, 12);
            let got = f64::from(scale) / 2f64.powi(31) / 2f64.powi(bits);
            assert!((got - 1.0 / x).abs() < 1e-6 / x, "1/{x} = {got}");
        }
    }

    #[test]
    fn multiply_with_left_and_right_shifts() {
        let half = QuantizedMultiplier { multiplier: 1 << 30, shift: 0 };
        assert_eq!(multiply_by_quantized_multiplier(10, half), 5);
        assert_eq!(multiply_by_quantized_multiplier(10, QuantizedMultiplier { shift: 2, ..half }), 20);
        assert_eq!(multiply_by_quantized_multiplier(-10, QuantizedMultiplier { shift: -2, ..half }), -1); // -1.25
        // One rounding where the double rounding makes a tie: 590 * m / 2^35 = 18.49.
        let m = QuantizedMultiplier { multiplier: 1_076_921_458, shift: -4 };
        assert_eq!(multiply_by_quantized_multiplier(590, m), 19);
        assert_eq!(multiply_by_quantized_multiplier_single_round(590, m), 18);
        assert_eq!(multiply_by_quantized_multiplier_single_round(-10, QuantizedMultiplier { multiplier: 1 << 30, shift: -2 }), -1); // -1.25
        assert_eq!(multiply_by_quantized_multiplier_single_round(-6, QuantizedMultiplier { multiplier: 1 << 30, shift: -2 }), -1); // -1.5 rounds up
        assert_eq!(saturating_rounding_multiply_by_pot(i32::MAX / 2, 2), i32::MAX);
        assert_eq!(saturating_rounding_multiply_by_pot(i32::MIN / 2, 2), i32::MIN);
    }
}
