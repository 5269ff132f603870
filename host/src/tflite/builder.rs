//! `.tflite` files written from Rust with the same planus code that reads
//! them: the project's own test models, one per operator and edge case
//! (`test_models`), checked against TFLite's reference interpreter like the
//! shared models.

use npu_tflite_schema as fb;
use npu_spec::rng::XorShift;

/// A one-subgraph model under construction. Buffer 0 is the empty buffer
/// every activation points at, as TFLite's converter writes it.
pub struct ModelBuilder {
    tensors: Vec<fb::Tensor>,
    buffers: Vec<fb::Buffer>,
    codes: Vec<fb::BuiltinOperator>,
    operators: Vec<fb::Operator>,
}

impl Default for ModelBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn shape(s: &[usize]) -> Option<Vec<i32>> {
    Some(s.iter().map(|&d| d as i32).collect())
}

impl ModelBuilder {
    pub fn new() -> Self {
        Self { tensors: vec![], buffers: vec![fb::Buffer::default()], codes: vec![], operators: vec![] }
    }

    fn tensor(&mut self, name: &str, dims: &[usize], type_: fb::TensorType, quant: Option<fb::QuantizationParameters>, data: Option<Vec<u8>>) -> i32 {
        let buffer = match data {
            Some(d) => {
                self.buffers.push(fb::Buffer { data: Some(d) });
                (self.buffers.len() - 1) as u32
            }
            None => 0,
        };
        self.tensors.push(fb::Tensor { shape: shape(dims), type_, buffer, name: Some(name.into()), quantization: quant.map(Box::new), ..Default::default() });
        (self.tensors.len() - 1) as i32
    }

    /// An int8 activation of one scale and zero point.
    pub fn int8(&mut self, name: &str, dims: &[usize], scale: f32, zero_point: i64) -> i32 {
        let q = fb::QuantizationParameters { scale: Some(vec![scale]), zero_point: Some(vec![zero_point]), ..Default::default() };
        self.tensor(name, dims, fb::TensorType::Int8, Some(q), None)
    }

    pub fn float32(&mut self, name: &str, dims: &[usize]) -> i32 {
        self.tensor(name, dims, fb::TensorType::Float32, None, None)
    }

    /// Constant int8 weights, symmetric, one scale per channel along `axis`.
    pub fn weights(&mut self, name: &str, dims: &[usize], values: &[i8], scales: &[f32], axis: i32) -> i32 {
        let q = fb::QuantizationParameters { scale: Some(scales.to_vec()), zero_point: Some(vec![0; scales.len()]), quantized_dimension: axis, ..Default::default() };
        self.tensor(name, dims, fb::TensorType::Int8, Some(q), Some(values.iter().map(|&v| v as u8).collect()))
    }

    /// A constant int32 bias (its scales: input scale x each weight scale).
    pub fn bias(&mut self, name: &str, values: &[i32], scales: &[f32]) -> i32 {
        let q = fb::QuantizationParameters { scale: Some(scales.to_vec()), zero_point: Some(vec![0; scales.len()]), ..Default::default() };
        self.tensor(name, &[values.len()], fb::TensorType::Int32, Some(q), Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()))
    }

    pub fn op(&mut self, code: fb::BuiltinOperator, inputs: &[i32], outputs: &[i32], options: Option<fb::BuiltinOptions>) {
        let index = match self.codes.iter().position(|&c| c == code) {
            Some(i) => i,
            None => {
                self.codes.push(code);
                self.codes.len() - 1
            }
        };
        self.operators.push(fb::Operator {
            opcode_index: index as u32,
            inputs: Some(inputs.to_vec()),
            outputs: Some(outputs.to_vec()),
            builtin_options: options,
            ..Default::default()
        });
    }

    /// The flatbuffer, with TFLite's file identifier `TFL3` after the root
    /// offset, where TFLite's verifier looks for it. (planus 1.3 writes an
    /// identifier before the offset, which no reader accepts, so the buffer
    /// is finished without one and the identifier put in front: 8 bytes, to
    /// keep every 8-byte alignment, the old offset left as unused padding.)
    pub fn finish(self, input: i32, output: i32, description: &str) -> Vec<u8> {
        let codes = self
            .codes
            .iter()
            .map(|&c| fb::OperatorCode { deprecated_builtin_code: (c as i32).min(127) as i8, builtin_code: c, version: 1, ..Default::default() })
            .collect();
        let graph = fb::SubGraph { tensors: Some(self.tensors), inputs: Some(vec![input]), outputs: Some(vec![output]), operators: Some(self.operators), name: Some("main".into()) };
        let model = fb::Model { version: 3, operator_codes: Some(codes), subgraphs: Some(vec![graph]), description: Some(description.into()), buffers: Some(self.buffers), ..Default::default() };
        let mut builder = fb::planus::Builder::new();
        let plain = builder.finish(&model, None);
        let root = u32::from_le_bytes(plain[..4].try_into().expect("a root offset")) + 8;
        let mut out = Vec::with_capacity(plain.len() + 8);
        out.extend_from_slice(&root.to_le_bytes());
        out.extend_from_slice(b"TFL3");
        out.extend_from_slice(plain);
        out
    }
}

/// Random int8 values and a per-channel scale each, for test weights.
fn random_weights(rng: &mut XorShift, len: usize, channels: usize) -> (Vec<i8>, Vec<f32>) {
    let values = (0..len).map(|_| rng.next_u64() as i8).collect();
    let scales = (0..channels).map(|c| 0.002 + 0.0007 * c as f32).collect();
    (values, scales)
}

fn conv_options(padding: fb::Padding, stride: i32, activation: fb::ActivationFunctionType) -> fb::BuiltinOptions {
    fb::BuiltinOptions::Conv2DOptions(Box::new(fb::Conv2DOptions { padding, stride_w: stride, stride_h: stride, fused_activation_function: activation, dilation_w_factor: 1, dilation_h_factor: 1 }))
}

/// A CONV_2D layer from `x` (NHWC `[1, h, w, cin]`, `scale`) to a new int8 tensor.
#[allow(clippy::too_many_arguments)]
fn conv(b: &mut ModelBuilder, rng: &mut XorShift, x: i32, (h, w, cin): (usize, usize, usize), scale: f32, (kh, kw, cout): (usize, usize, usize), padding: fb::Padding, stride: usize, activation: fb::ActivationFunctionType, out_scale: f32, out_zero: i64) -> (i32, (usize, usize)) {
    let (weights, scales) = random_weights(rng, cout * kh * kw * cin, cout);
    let filter = b.weights("conv/filter", &[cout, kh, kw, cin], &weights, &scales, 0);
    let bias_values: Vec<i32> = (0..cout).map(|_| (rng.next_u64() % 4001) as i32 - 2000).collect();
    let bias_scales: Vec<f32> = scales.iter().map(|s| s * scale).collect();
    let bias = b.bias("conv/bias", &bias_values, &bias_scales);
    let out = |n: usize, k: usize| match padding {
        fb::Padding::Same => n.div_ceil(stride),
        fb::Padding::Valid => (n - k) / stride + 1,
    };
    let (oh, ow) = (out(h, kh), out(w, kw));
    let y = b.int8("conv/output", &[1, oh, ow, cout], out_scale, out_zero);
    b.op(fb::BuiltinOperator::Conv2d, &[x, filter, bias], &[y], Some(conv_options(padding, stride as i32, activation)));
    (y, (oh, ow))
}

/// The project's own test models: each operator and edge case `npu run`
/// supports, small enough for every simulator. Deterministic: the same
/// bytes every time (`tests/tflite_models.rs` checks the committed files).
pub fn test_models() -> Vec<(&'static str, Vec<u8>)> {
    use fb::ActivationFunctionType::{None as Linear, Relu, Relu6};
    let mut models = vec![];
    let mut rng = XorShift::new(2026);

    // CONV_2D, SAME padding at stride 2 (odd sizes: the extra pixel at the
    // end), ReLU6, an input zero point folded into the bias.
    let mut b = ModelBuilder::new();
    let x = b.int8("input", &[1, 9, 7, 3], 0.05, -5);
    let (y, _) = conv(&mut b, &mut rng, x, (9, 7, 3), 0.05, (3, 3, 5), fb::Padding::Same, 2, Relu6, 0.04, -128);
    models.push(("conv_same_stride2_relu6", b.finish(x, y, "CONV_2D SAME stride 2 RELU6")));

    // CONV_2D, VALID, stride 1, a 2x4 kernel, ReLU.
    let mut b = ModelBuilder::new();
    let x = b.int8("input", &[1, 6, 8, 2], 0.1, 3);
    let (y, _) = conv(&mut b, &mut rng, x, (6, 8, 2), 0.1, (2, 4, 6), fb::Padding::Valid, 1, Relu, 0.08, -128);
    models.push(("conv_valid_relu", b.finish(x, y, "CONV_2D VALID stride 1 RELU")));

    // DEPTHWISE_CONV_2D, depth multiplier 2, SAME, then MAX_POOL_2D SAME stride 2.
    let mut b = ModelBuilder::new();
    let x = b.int8("input", &[1, 8, 8, 3], 0.05, 0);
    let (weights, scales) = random_weights(&mut rng, 3 * 3 * 6, 6);
    let filter = b.weights("dw/filter", &[1, 3, 3, 6], &weights, &scales, 3);
    let bias_scales: Vec<f32> = scales.iter().map(|s| s * 0.05).collect();
    let bias = b.bias("dw/bias", &[100, -200, 300, -400, 500, 0], &bias_scales);
    let d = b.int8("dw/output", &[1, 8, 8, 6], 0.03, -10);
    let options = fb::DepthwiseConv2DOptions { padding: fb::Padding::Same, stride_w: 1, stride_h: 1, depth_multiplier: 2, fused_activation_function: Relu6, dilation_w_factor: 1, dilation_h_factor: 1 };
    b.op(fb::BuiltinOperator::DepthwiseConv2d, &[x, filter, bias], &[d], Some(fb::BuiltinOptions::DepthwiseConv2DOptions(Box::new(options))));
    let p = b.int8("pool/output", &[1, 4, 4, 6], 0.03, -10);
    let pool = fb::Pool2DOptions { padding: fb::Padding::Same, stride_w: 2, stride_h: 2, filter_width: 3, filter_height: 3, fused_activation_function: Linear };
    b.op(fb::BuiltinOperator::MaxPool2d, &[d], &[p], Some(fb::BuiltinOptions::Pool2DOptions(Box::new(pool))));
    models.push(("depthwise_maxpool", b.finish(x, p, "DEPTHWISE_CONV_2D x2 RELU6, MAX_POOL_2D SAME")));

    // ADD of two tensors of different scales and zero points (the input and
    // a 1x1 convolution of it), ReLU, then AVERAGE_POOL_2D VALID.
    let mut b = ModelBuilder::new();
    let x = b.int8("input", &[1, 6, 6, 4], 0.07, 7);
    let (c, _) = conv(&mut b, &mut rng, x, (6, 6, 4), 0.07, (1, 1, 4), fb::Padding::Valid, 1, Linear, 0.2, -3);
    let s = b.int8("add/output", &[1, 6, 6, 4], 0.15, -100);
    let add = fb::AddOptions { fused_activation_function: Relu, ..Default::default() };
    b.op(fb::BuiltinOperator::Add, &[x, c], &[s], Some(fb::BuiltinOptions::AddOptions(Box::new(add))));
    let p = b.int8("pool/output", &[1, 3, 3, 4], 0.15, -100);
    let pool = fb::Pool2DOptions { padding: fb::Padding::Valid, stride_w: 2, stride_h: 2, filter_width: 2, filter_height: 2, fused_activation_function: Linear };
    b.op(fb::BuiltinOperator::AveragePool2d, &[s], &[p], Some(fb::BuiltinOptions::Pool2DOptions(Box::new(pool))));
    models.push(("add_scales_avgpool", b.finish(x, p, "ADD of different scales RELU, AVERAGE_POOL_2D VALID")));

    // A float interface: QUANTIZE, FULLY_CONNECTED, RESHAPE, SOFTMAX, DEQUANTIZE.
    let mut b = ModelBuilder::new();
    let x = b.float32("input", &[1, 20]);
    let q = b.int8("quantized", &[1, 20], 0.03, 2);
    b.op(fb::BuiltinOperator::Quantize, &[x], &[q], None);
    let (weights, _) = random_weights(&mut rng, 10 * 20, 1);
    let filter = b.weights("fc/filter", &[10, 20], &weights, &[0.01], 0);
    let bias = b.bias("fc/bias", &(0..10).map(|i| i * 50 - 250).collect::<Vec<_>>(), &[0.0003]);
    let f = b.int8("fc/output", &[1, 10], 0.1, 5);
    let fc = fb::FullyConnectedOptions { fused_activation_function: Linear, ..Default::default() };
    b.op(fb::BuiltinOperator::FullyConnected, &[q, filter, bias], &[f], Some(fb::BuiltinOptions::FullyConnectedOptions(Box::new(fc))));
    let new_shape = b.tensor("reshape/shape", &[2], fb::TensorType::Int32, None, Some([1i32, 10].iter().flat_map(|v| v.to_le_bytes()).collect()));
    let r = b.int8("reshape/output", &[1, 10], 0.1, 5);
    let reshape = fb::ReshapeOptions { new_shape: Some(vec![1, 10]) };
    b.op(fb::BuiltinOperator::Reshape, &[f, new_shape], &[r], Some(fb::BuiltinOptions::ReshapeOptions(Box::new(reshape))));
    let sm = b.int8("softmax/output", &[1, 10], 1.0 / 256.0, -128);
    b.op(fb::BuiltinOperator::Softmax, &[r], &[sm], Some(fb::BuiltinOptions::SoftmaxOptions(Box::new(fb::SoftmaxOptions { beta: 1.0 }))));
    let y = b.float32("output", &[1, 10]);
    b.op(fb::BuiltinOperator::Dequantize, &[sm], &[y], None);
    models.push(("float_interface", b.finish(x, y, "QUANTIZE, FULLY_CONNECTED, RESHAPE, SOFTMAX, DEQUANTIZE")));

    // Two residual blocks as ResNet-8 has them, small, with channel counts
    // no array side divides: a stem; a block whose ADD adds the stem's
    // output; a block at stride 2 whose ADD adds a 1x1 shortcut
    // convolution's; a global AVERAGE_POOL_2D (16 pixels), RESHAPE and
    // FULLY_CONNECTED.
    let mut b = ModelBuilder::new();
    let add = |b: &mut ModelBuilder, inputs: &[i32], output: i32| {
        let options = fb::AddOptions { fused_activation_function: Relu, ..Default::default() };
        b.op(fb::BuiltinOperator::Add, inputs, &[output], Some(fb::BuiltinOptions::AddOptions(Box::new(options))));
    };
    let x = b.int8("input", &[1, 8, 8, 3], 0.02, -1);
    let (stem, _) = conv(&mut b, &mut rng, x, (8, 8, 3), 0.02, (3, 3, 6), fb::Padding::Same, 1, Relu, 0.05, -128);
    let (c1, _) = conv(&mut b, &mut rng, stem, (8, 8, 6), 0.05, (3, 3, 6), fb::Padding::Same, 1, Relu, 0.04, -128);
    let (c2, _) = conv(&mut b, &mut rng, c1, (8, 8, 6), 0.04, (3, 3, 6), fb::Padding::Same, 1, Linear, 0.06, 3);
    let a1 = b.int8("add1/output", &[1, 8, 8, 6], 0.07, -128);
    add(&mut b, &[stem, c2], a1);
    let (c3, _) = conv(&mut b, &mut rng, a1, (8, 8, 6), 0.07, (3, 3, 10), fb::Padding::Same, 2, Relu, 0.05, -128);
    let (c4, _) = conv(&mut b, &mut rng, c3, (4, 4, 10), 0.05, (3, 3, 10), fb::Padding::Same, 1, Linear, 0.08, -2);
    let (shortcut, _) = conv(&mut b, &mut rng, a1, (8, 8, 6), 0.07, (1, 1, 10), fb::Padding::Valid, 2, Linear, 0.06, 4);
    let a2 = b.int8("add2/output", &[1, 4, 4, 10], 0.09, -128);
    add(&mut b, &[c4, shortcut], a2);
    let p = b.int8("pool/output", &[1, 1, 1, 10], 0.09, -128);
    let pool = fb::Pool2DOptions { padding: fb::Padding::Valid, stride_w: 1, stride_h: 1, filter_width: 4, filter_height: 4, fused_activation_function: Linear };
    b.op(fb::BuiltinOperator::AveragePool2d, &[a2], &[p], Some(fb::BuiltinOptions::Pool2DOptions(Box::new(pool))));
    let new_shape = b.tensor("reshape/shape", &[2], fb::TensorType::Int32, None, Some([1i32, 10].iter().flat_map(|v| v.to_le_bytes()).collect()));
    let r = b.int8("reshape/output", &[1, 10], 0.09, -128);
    let reshape = fb::ReshapeOptions { new_shape: Some(vec![1, 10]) };
    b.op(fb::BuiltinOperator::Reshape, &[p, new_shape], &[r], Some(fb::BuiltinOptions::ReshapeOptions(Box::new(reshape))));
    let (weights, _) = random_weights(&mut rng, 5 * 10, 1);
    let filter = b.weights("fc/filter", &[5, 10], &weights, &[0.01], 0);
    let bias = b.bias("fc/bias", &[300, -200, 100, 0, -400], &[0.0009]);
    let y = b.int8("output", &[1, 5], 0.1, 0);
    let fc = fb::FullyConnectedOptions { fused_activation_function: Linear, ..Default::default() };
    b.op(fb::BuiltinOperator::FullyConnected, &[r, filter, bias], &[y], Some(fb::BuiltinOptions::FullyConnectedOptions(Box::new(fc))));
    models.push(("residual_blocks", b.finish(x, y, "two residual blocks (identity and 1x1 shortcuts), global AVERAGE_POOL_2D, FULLY_CONNECTED")));

    models
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tflite::model::Model;

    #[test]
    fn every_test_model_reads_back() {
        for (name, bytes) in test_models() {
            let m = Model::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!m.layers.is_empty(), "{name}");
        }
    }

    #[test]
    fn an_unsupported_operator_is_named_with_its_index() {
        let mut b = ModelBuilder::new();
        let x = b.int8("input", &[1, 4], 0.1, 0);
        let y = b.int8("tanh", &[1, 4], 0.1, 0);
        let z = b.int8("output", &[1, 4], 0.1, 0);
        b.op(fb::BuiltinOperator::Reshape, &[x], &[y], None);
        b.op(fb::BuiltinOperator::Tanh, &[y], &[z], None);
        let e = Model::parse(&b.finish(x, z, "")).unwrap_err().to_string();
        assert!(e.starts_with("operator 1 is TANH, which `npu run` does not support"), "{e}");
    }

    #[test]
    fn a_uint8_model_is_refused_in_one_line() {
        let mut b = ModelBuilder::new();
        let q = fb::QuantizationParameters { scale: Some(vec![0.1]), zero_point: Some(vec![128]), ..Default::default() };
        let x = b.tensor("input", &[1, 4], fb::TensorType::Uint8, Some(q.clone()), None);
        let y = b.tensor("output", &[1, 4], fb::TensorType::Uint8, Some(q), None);
        b.op(fb::BuiltinOperator::Reshape, &[x], &[y], None);
        let e = Model::parse(&b.finish(x, y, "")).unwrap_err().to_string();
        assert!(e.contains("legacy uint8") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn the_file_identifier_follows_the_root_offset() {
        let bytes = ModelBuilder::new().finish(0, 0, "");
        assert_eq!(&bytes[4..8], b"TFL3");
    }

    #[test]
    fn garbage_is_not_a_model() {
        let e = Model::parse(b"not a flatbuffer at all").unwrap_err().to_string();
        assert!(e.contains("not a TensorFlow Lite flatbuffer"), "{e}");
    }
}
