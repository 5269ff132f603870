//! QUANTIZE (float32 to int8) and DEQUANTIZE (int8 to float32): TFLite's
//! `reference_ops::AffineQuantize` and `Dequantize`.

/// `round(x / scale) + zero_point`, clamped to int8; the division in `float`
/// and the rounding half away from zero, as `TfLiteRound`.
pub fn quantize(input: &[f32], scale: f32, zero_point: i32) -> Vec<i8> {
    input.iter().map(|&x| ((x / scale).round() as i32).saturating_add(zero_point).clamp(-128, 127) as i8).collect()
}

/// `scale * (q - zero_point)`, in `double`, then to `float`.
pub fn dequantize(input: &[i8], scale: f32, zero_point: i32) -> Vec<f32> {
    input.iter().map(|&q| (f64::from(scale) * f64::from(i32::from(q) - zero_point)) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_away_and_saturates() {
        assert_eq!(quantize(&[0.25, -0.25, 0.75, 100.0, -100.0], 0.5, 0), vec![1, -1, 2, 127, -128]);
        assert_eq!(quantize(&[0.0], 0.1, -7), vec![-7]);
        assert_eq!(dequantize(&[-7, 0, 127], 0.5, -7), vec![0.0, 3.5, 67.0]);
    }
}
