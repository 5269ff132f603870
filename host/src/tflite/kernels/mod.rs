//! TFLite's reference kernels for int8 tensors, one operator per file, with
//! the arithmetic of `tensorflow/lite/kernels/internal/reference/` in plain
//! sight. Tensors are NHWC, row-major. Every kernel is bit-exact with the
//! reference interpreter (`tests/tflite_models.rs` checks the models, the
//! unit tests beside each kernel check hand-worked cases).

pub mod add;
pub mod conv_2d;
pub mod depthwise_conv_2d;
pub mod fully_connected;
pub mod pooling;
pub mod quantize;
pub mod softmax;
pub mod window;

/// The output range a fused activation leaves (TFLite's
/// `CalculateActivationRangeQuantized` for int8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivationRange {
    pub min: i32,
    pub max: i32,
}

/// A fused activation, as the model names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    Relu6,
}

impl ActivationRange {
    /// The range for `activation` on an output of `scale` and `zero_point`.
    pub fn of(activation: Activation, scale: f32, zero_point: i32) -> Self {
        use super::fixed_point::quantize_constant;
        let (qmin, qmax) = (i32::from(i8::MIN), i32::from(i8::MAX));
        match activation {
            Activation::None => Self { min: qmin, max: qmax },
            Activation::Relu => Self { min: qmin.max(quantize_constant(0.0, scale, zero_point)), max: qmax },
            Activation::Relu6 => Self {
                min: qmin.max(quantize_constant(0.0, scale, zero_point)),
                max: qmax.min(quantize_constant(6.0, scale, zero_point)),
            },
        }
    }

    pub fn clamp(&self, x: i32) -> i8 {
        x.clamp(self.min, self.max) as i8
    }
}

/// The bias with the input offset folded in, for filters stored one output
/// channel after another (`filter.len() / bias.len()` taps each):
/// `bias + input_offset * sum(filter)`, so that the GEMM of the raw input
/// gives the reference's sums (mod 2^32). CONV_2D's and FULLY_CONNECTED's.
pub fn fold_input_offset(bias: &[i32], filter: &[i8], input_offset: i32) -> Vec<i32> {
    let taps = filter.len() / bias.len().max(1);
    bias.iter()
        .zip(filter.chunks(taps.max(1)))
        .map(|(&b, row)| {
            let sum: i32 = row.iter().map(|&w| i32::from(w)).sum();
            b.wrapping_add(input_offset.wrapping_mul(sum))
        })
        .collect()
}

/// NHWC dimensions of a 4-D activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nhwc {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Nhwc {
    pub fn at(&self, n: usize, y: usize, x: usize, c: usize) -> usize {
        ((n * self.h + y) * self.w + x) * self.c + c
    }

    pub fn len(&self) -> usize {
        self.n * self.h * self.w * self.c
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
