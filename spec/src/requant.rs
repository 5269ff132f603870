//! The reference requantization: INT32 accumulators to INT8, with the rules of
//! gemmlowp and TensorFlow Lite, bit for bit.
//!
//! For each accumulator `x` (plus the column's bias when there is one):
//!
//! 1. `y = SaturatingRoundingDoublingHighMul(x, multiplier)`: the high 32 bits
//!    of `2 * x * multiplier`, rounded to nearest with gemmlowp's nudge (a tie
//!    goes up when positive, towards zero when negative); the one overflowing
//!    case, `x = multiplier = INT32_MIN`, saturates to `INT32_MAX`;
//! 2. `z = RoundingDivideByPOT(y, shift)`: `y / 2^shift` rounded half away
//!    from zero (an arithmetic shift with a remainder-based correction);
//! 3. `z + zero_point`, clamped to `[min, max]` (a ReLU is `min = zero_point`).
//!
//! The bias is added to the accumulator with 32-bit wrap, like the GEMM's sums.

/// Per-tensor requantization parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequantParams {
    /// Q31 fixed-point multiplier: the real scale times 2^31 (in [2^30, 2^31)
    /// when the scale is normalised; any value is accepted).
    pub multiplier: i32,
    /// Right shift after the multiply, 0..=31.
    pub shift: u8,
    /// Added after the shift.
    pub zero_point: i8,
    /// Lower clamp.
    pub min: i8,
    /// Upper clamp; at least `min`.
    pub max: i8,
}

/// What REQUANT's request carries: the output's zero point and clamp (each
/// column's multiplier and shift are in the BIAS bank).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequantOutput {
    pub zero_point: i8,
    pub min: i8,
    pub max: i8,
}

impl RequantParams {
    pub fn output(&self) -> RequantOutput {
        RequantOutput { zero_point: self.zero_point, min: self.min, max: self.max }
    }

    /// The BIAS bank's entries 1 and 2 (multiplier, shift) with this scale in
    /// each of `cols` lanes: the data of a WRITE at entry 1.
    pub fn scale_entries(&self, cols: usize) -> Vec<u8> {
        let mut data = Vec::with_capacity(8 * cols);
        data.extend((0..cols).flat_map(|_| self.multiplier.to_le_bytes()));
        data.extend((0..cols).flat_map(|_| i32::from(self.shift).to_le_bytes()));
        data
    }
}

/// The largest shift the rules define (a shift of 32 would drop every bit).
pub const MAX_SHIFT: u8 = 31;

/// gemmlowp's `SaturatingRoundingDoublingHighMul`.
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Division truncates toward zero, as in C.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`.
pub fn rounding_divide_by_pot(x: i32, exponent: u8) -> i32 {
    assert!(exponent <= MAX_SHIFT, "shift {exponent} is above {MAX_SHIFT}");
    let mask: i32 = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// One accumulator (and its column's bias) to INT8.
pub fn requantize(acc: i32, bias: i32, p: &RequantParams) -> i8 {
    let x = acc.wrapping_add(bias);
    let y = saturating_rounding_doubling_high_mul(x, p.multiplier);
    let z = rounding_divide_by_pot(y, p.shift);
    let z = i64::from(z) + i64::from(p.zero_point);
    z.clamp(i64::from(p.min), i64::from(p.max)) as i8
}

/// The Q31 multiplier and shift that scale by `real` (0 < real < 1), as
/// TensorFlow Lite's `QuantizeMultiplierSmallerThanOneExp` chooses them.
pub fn quantize_scale(real: f64) -> Option<(i32, u8)> {
    if !(real > 0.0 && real < 1.0) {
        return None;
    }
    let mut shift = 0u8;
    let mut r = real;
    while r < 0.5 {
        r *= 2.0;
        shift += 1;
        if shift > MAX_SHIFT {
            return None;
        }
    }
    let mut q = (r * (1u64 << 31) as f64).round() as i64;
    if q == 1i64 << 31 {
        q /= 2;
        shift = shift.checked_sub(1)?;
    }
    Some((q as i32, shift))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_mul_edges() {
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MAX, i32::MAX), i32::MAX - 1);
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MAX), -i32::MAX);
        assert_eq!(saturating_rounding_doubling_high_mul(0, i32::MAX), 0);
        // 1 * 2^30 doubled is 2^31: high half 1 after rounding 0.5 up.
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 30), 1);
        // gemmlowp's nudge rounds a negative tie towards zero: -0.5 -> 0.
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
        assert_eq!(saturating_rounding_doubling_high_mul(100, i32::MAX), 100);
    }

    #[test]
    fn divide_rounds_half_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(7, 0), 7);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(-(1 << 30), 31), -1); // -0.5 rounds to -1
    }

    #[test]
    fn requantize_clamps_and_offsets() {
        let p = RequantParams { multiplier: 1 << 30, shift: 0, zero_point: 3, min: -10, max: 20 };
        assert_eq!(requantize(10, 0, &p), 8); // 10 * 0.5 + 3
        assert_eq!(requantize(1000, 0, &p), 20);
        assert_eq!(requantize(-1000, 0, &p), -10);
        assert_eq!(requantize(9, 1, &p), 8); // bias 1
        let relu = RequantParams { multiplier: i32::MAX, shift: 0, zero_point: 0, min: 0, max: 127 };
        assert_eq!(requantize(-5, 0, &relu), 0);
        assert_eq!(requantize(i32::MAX, 1, &relu), 0); // the bias wraps to INT32_MIN
    }

    #[test]
    fn quantize_scale_matches_tflite() {
        assert_eq!(quantize_scale(0.5), Some((1 << 30, 0)));
        assert_eq!(quantize_scale(0.25), Some((1 << 30, 1)));
        let (m, s) = quantize_scale(0.003).unwrap();
        let back = f64::from(m) / (1u64 << 31) as f64 / f64::from(1u32 << s);
        assert!((back - 0.003).abs() < 1e-9);
        assert_eq!(quantize_scale(1.5), None);
    }
}
