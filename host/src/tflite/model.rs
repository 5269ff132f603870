//! A `.tflite` file read into layers this runtime can run, each prepared as
//! TFLite's `Prepare` would (multipliers, activation ranges, paddings).
//!
//! Everything is checked here, before a byte goes to a device: an operator
//! this runtime lacks, a uint8 model, an option it does not implement. Each
//! refusal is one line that names the operator and its index.

use super::kernels::add::Add;
use super::kernels::conv_2d::Conv2d;
use super::kernels::depthwise_conv_2d::DepthwiseConv2d;
use super::kernels::fully_connected::FullyConnected;
use super::kernels::pooling::Pool2d;
use super::kernels::softmax::Softmax;
use super::kernels::window::{Axis, Padding};
use super::kernels::{Activation, ActivationRange, Nhwc};
use super::fixed_point::quantize_multiplier;
use npu_tflite_schema as fb;
use npu_tflite_schema::planus::ReadAsRoot;
use std::path::Path;

/// Why a model cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{0}: cannot read it: {1}")]
    Io(String, std::io::Error),
    #[error("{0}")]
    Refused(String),
}

fn refuse<T>(why: impl Into<String>) -> Result<T, ModelError> {
    Err(ModelError::Refused(why.into()))
}

/// The element types this runtime moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    Int8,
    Float32,
}

impl DType {
    /// Bytes a value.
    pub fn bytes(self) -> usize {
        match self {
            DType::Int8 => 1,
            DType::Float32 => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::Int8 => "int8",
            DType::Float32 => "float32",
        }
    }
}

/// A tensor that flows between layers (weights are folded into their layer).
#[derive(Debug, Clone)]
pub struct Activ {
    pub name: String,
    /// The model's shape; its first dimension is the batch.
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub scale: f32,
    pub zero_point: i32,
}

impl Activ {
    /// Elements per batch item.
    pub fn item_len(&self) -> usize {
        self.shape.iter().skip(1).product()
    }
}

/// One operator, prepared. Kernel shapes are for a batch of one; the
/// runtime sets the batch.
#[derive(Debug, Clone)]
pub enum Op {
    Conv2d(Conv2d),
    DepthwiseConv2d(DepthwiseConv2d),
    FullyConnected(FullyConnected),
    AveragePool2d(Pool2d),
    MaxPool2d(Pool2d),
    Add(Add),
    Reshape,
    Softmax(Softmax),
    Quantize,
    Dequantize,
}

impl Op {
    /// TFLite's name for it.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv2d(_) => "CONV_2D",
            Op::DepthwiseConv2d(_) => "DEPTHWISE_CONV_2D",
            Op::FullyConnected(_) => "FULLY_CONNECTED",
            Op::AveragePool2d(_) => "AVERAGE_POOL_2D",
            Op::MaxPool2d(_) => "MAX_POOL_2D",
            Op::Add(_) => "ADD",
            Op::Reshape => "RESHAPE",
            Op::Softmax(_) => "SOFTMAX",
            Op::Quantize => "QUANTIZE",
            Op::Dequantize => "DEQUANTIZE",
        }
    }

    /// MACs for one batch item.
    pub fn macs(&self) -> u64 {
        match self {
            Op::Conv2d(c) => (c.output().len() * c.taps()) as u64,
            Op::DepthwiseConv2d(d) => (d.output().len() * d.rows.filter * d.cols.filter) as u64,
            Op::FullyConnected(f) => (f.batch * f.depth * f.outputs) as u64,
            _ => 0,
        }
    }
}

/// The operators `npu run` supports, by TFLite's names.
pub const SUPPORTED: &[&str] =
    &["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "RESHAPE", "SOFTMAX", "QUANTIZE", "DEQUANTIZE"];

#[derive(Debug, Clone)]
pub struct Layer {
    /// The operator's index in the model.
    pub index: usize,
    pub op: Op,
    /// Activation tensors read, and the one written (indices into `Model::tensors`).
    pub inputs: Vec<usize>,
    pub output: usize,
}

#[derive(Debug, Clone)]
pub struct Model {
    /// One per model tensor; `None` for constants (weights, biases, shapes).
    pub tensors: Vec<Option<Activ>>,
    pub layers: Vec<Layer>,
    pub input: usize,
    pub output: usize,
}

impl Model {
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::Io(path.display().to_string(), e))?;
        Self::parse(&bytes)
    }

    /// The layers that read tensor `t`.
    pub fn readers(&self, t: usize) -> impl Iterator<Item = usize> + '_ {
        self.layers.iter().enumerate().filter(move |(_, l)| l.inputs.contains(&t)).map(|(i, _)| i)
    }

    pub fn input(&self) -> &Activ {
        self.tensors[self.input].as_ref().expect("checked when read")
    }

    pub fn output(&self) -> &Activ {
        self.tensors[self.output].as_ref().expect("checked when read")
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let bad = |e: fb::planus::Error| ModelError::Refused(format!("not a TensorFlow Lite flatbuffer: {e}"));
        let root = fb::ModelRef::read_as_root(bytes).map_err(bad)?;
        // Operator codes first, so that an unknown one is named even when
        // the rest of the file would not read.
        let mut codes = Vec::new();
        for code in root.operator_codes().map_err(bad)?.into_iter().flatten() {
            let code = code.map_err(bad)?;
            let deprecated = i32::from(code.deprecated_builtin_code().map_err(bad)?);
            let builtin = code.builtin_code().map(|c| c as i32).unwrap_or(-1);
            codes.push(builtin.max(deprecated));
        }
        let model = fb::Model::try_from(root).map_err(bad)?;
        let graphs = model.subgraphs.as_deref().unwrap_or_default();
        if graphs.len() != 1 {
            return refuse(format!("the model has {} subgraphs; `npu run` runs models with one", graphs.len()));
        }
        let g = &graphs[0];
        let ops = g.operators.as_deref().unwrap_or_default();
        for (i, op) in ops.iter().enumerate() {
            let code = codes.get(op.opcode_index as usize).copied().unwrap_or(-1);
            let name = fb::builtin_operator_name(code).unwrap_or("an operator unknown to this schema");
            if !SUPPORTED.contains(&name) {
                return refuse(format!("operator {i} is {name}, which `npu run` does not support (it runs {})", SUPPORTED.join(", ")));
            }
        }
        let reader = Reader { model: &model, graph: g };
        let ins = g.inputs.as_deref().unwrap_or_default();
        let outs = g.outputs.as_deref().unwrap_or_default();
        if ins.len() != 1 || outs.len() != 1 {
            return refuse(format!("the model has {} inputs and {} outputs; `npu run` runs models with one of each", ins.len(), outs.len()));
        }
        let mut tensors: Vec<Option<Activ>> = vec![None; g.tensors.as_ref().map_or(0, Vec::len)];
        let input = reader.index(ins[0])?;
        tensors[input] = Some(reader.activ(input, "the model's input")?);
        let mut layers = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let name = fb::builtin_operator_name(codes[op.opcode_index as usize]).expect("checked above");
            let layer = reader.layer(i, name, op, &tensors)?;
            tensors[layer.output] = Some(reader.activ(layer.output, &format!("operator {i} ({name})'s output"))?);
            layers.push(layer);
        }
        let output = reader.index(outs[0])?;
        if tensors[output].is_none() {
            return refuse("the model's output is not written by any operator");
        }
        let m = Model { tensors, layers, input, output };
        m.check_batch()?;
        Ok(m)
    }

    fn check_batch(&self) -> Result<(), ModelError> {
        for t in self.tensors.iter().flatten() {
            if t.shape.first() != Some(&1) {
                return refuse(format!("tensor '{}' has shape {:?}; `npu run` needs a batch dimension of 1 first (the batch comes from the input file)", t.name, t.shape));
            }
        }
        Ok(())
    }
}

struct Reader<'a> {
    model: &'a fb::Model,
    graph: &'a fb::SubGraph,
}

/// A tensor's quantization: scales, zero points, and the axis they run along.
struct Quant {
    scales: Vec<f32>,
    zero_points: Vec<i64>,
}

impl<'a> Reader<'a> {
    fn index(&self, i: i32) -> Result<usize, ModelError> {
        let n = self.graph.tensors.as_ref().map_or(0, Vec::len);
        if i < 0 || i as usize >= n {
            return refuse(format!("tensor index {i} is outside the model's {n} tensors"));
        }
        Ok(i as usize)
    }

    fn tensor(&self, i: usize) -> &'a fb::Tensor {
        &self.graph.tensors.as_ref().expect("index checked")[i]
    }

    fn name(&self, i: usize) -> String {
        self.tensor(i).name.clone().unwrap_or_else(|| format!("#{i}"))
    }

    fn shape(&self, i: usize) -> Result<Vec<usize>, ModelError> {
        let t = self.tensor(i);
        t.shape.as_deref().unwrap_or_default().iter().map(|&d| usize::try_from(d).or_else(|_| refuse(format!("tensor '{}' has a dynamic dimension ({d})", self.name(i))))).collect()
    }

    fn quant(&self, i: usize) -> Quant {
        let q = self.tensor(i).quantization.as_deref();
        Quant {
            scales: q.and_then(|q| q.scale.clone()).unwrap_or_default(),
            zero_points: q.and_then(|q| q.zero_point.clone()).unwrap_or_default(),
        }
    }

    fn dtype(&self, i: usize, what: &str) -> Result<DType, ModelError> {
        match self.tensor(i).type_ {
            fb::TensorType::Int8 => Ok(DType::Int8),
            fb::TensorType::Float32 => Ok(DType::Float32),
            fb::TensorType::Uint8 => refuse(format!(
                "{what} '{}' is uint8: this is a legacy uint8 (asymmetric) model, and `npu run` runs int8 models; convert it again with int8 quantization (TFLiteConverter, inference_input_type=tf.int8)",
                self.name(i)
            )),
            other => refuse(format!("{what} '{}' is {other:?}; `npu run` moves int8 and float32 tensors", self.name(i))),
        }
    }

    /// An activation tensor: int8 with one scale, or float32.
    fn activ(&self, i: usize, what: &str) -> Result<Activ, ModelError> {
        let dtype = self.dtype(i, what)?;
        let q = self.quant(i);
        let (scale, zero_point) = match dtype {
            DType::Float32 => (0.0, 0),
            DType::Int8 => {
                if q.scales.len() != 1 || q.zero_points.len() != 1 {
                    return refuse(format!("{what} '{}' has {} scales; an int8 activation needs one", self.name(i), q.scales.len()));
                }
                (q.scales[0], q.zero_points[0] as i32)
            }
        };
        Ok(Activ { name: self.name(i), shape: self.shape(i)?, dtype, scale, zero_point })
    }

    fn constant(&self, i: usize) -> Option<&'a [u8]> {
        let buffer = self.tensor(i).buffer as usize;
        let data = self.model.buffers.as_ref()?.get(buffer)?.data.as_deref()?;
        (!data.is_empty()).then_some(data)
    }

    /// The operator's `k`th input, which must be an activation already computed.
    fn activ_input(&self, at: &str, op: &fb::Operator, k: usize, tensors: &[Option<Activ>]) -> Result<(usize, Activ), ModelError> {
        let i = self.index(*op.inputs.as_deref().unwrap_or_default().get(k).ok_or_else(|| ModelError::Refused(format!("{at} lacks input {k}")))?)?;
        match &tensors[i] {
            Some(a) => Ok((i, a.clone())),
            None if self.constant(i).is_some() => refuse(format!("{at}: input {k} ('{}') is a constant; `npu run` takes constants only as weights and biases", self.name(i))),
            None => refuse(format!("{at}: input {k} ('{}') is not computed before it", self.name(i))),
        }
    }

    fn weights(&self, at: &str, op: &fb::Operator, k: usize, channels: usize) -> Result<(Vec<i8>, Vec<f32>), ModelError> {
        let i = self.index(op.inputs.as_deref().unwrap_or_default()[k])?;
        if self.tensor(i).type_ != fb::TensorType::Int8 {
            return refuse(format!("{at}: its weights '{}' are {:?}; `npu run` needs int8 weights", self.name(i), self.tensor(i).type_));
        }
        let data = self.constant(i).ok_or_else(|| ModelError::Refused(format!("{at}: its weights '{}' are not constant", self.name(i))))?;
        let q = self.quant(i);
        if q.zero_points.iter().any(|&z| z != 0) {
            return refuse(format!("{at}: its weights '{}' have a non-zero zero point; `npu run` needs symmetric int8 weights", self.name(i)));
        }
        if q.scales.len() != 1 && q.scales.len() != channels {
            return refuse(format!("{at}: its weights have {} scales for {channels} output channels", q.scales.len()));
        }
        let len: usize = self.shape(i)?.iter().product();
        if data.len() != len {
            return refuse(format!("{at}: its weights hold {} bytes for {len} values", data.len()));
        }
        Ok((data.iter().map(|&b| b as i8).collect(), q.scales))
    }

    fn bias(&self, at: &str, op: &fb::Operator, channels: usize) -> Result<Vec<i32>, ModelError> {
        let Some(&b) = op.inputs.as_deref().unwrap_or_default().get(2) else { return Ok(vec![0; channels]) };
        if b < 0 {
            return Ok(vec![0; channels]);
        }
        let i = self.index(b)?;
        if self.tensor(i).type_ != fb::TensorType::Int32 {
            return refuse(format!("{at}: its bias '{}' is {:?}; an int8 layer's bias is int32", self.name(i), self.tensor(i).type_));
        }
        let data = self.constant(i).ok_or_else(|| ModelError::Refused(format!("{at}: its bias '{}' is not constant", self.name(i))))?;
        if data.len() != 4 * channels {
            return refuse(format!("{at}: its bias has {} bytes for {channels} channels", data.len()));
        }
        Ok(data.chunks(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect())
    }

    fn output(&self, at: &str, op: &fb::Operator) -> Result<usize, ModelError> {
        let outs = op.outputs.as_deref().unwrap_or_default();
        if outs.len() != 1 {
            return refuse(format!("{at} has {} outputs", outs.len()));
        }
        self.index(outs[0])
    }

    fn layer(&self, index: usize, name: &str, op: &fb::Operator, tensors: &[Option<Activ>]) -> Result<Layer, ModelError> {
        let at = format!("operator {index} ({name})");
        let (input, x) = self.activ_input(&at, op, 0, tensors)?;
        let output = self.output(&at, op)?;
        let y = self.activ(output, &format!("{at}'s output"))?;
        let int8 = |a: &Activ, what: &str| if a.dtype == DType::Int8 { Ok(()) } else { refuse(format!("{at}: its {what} '{}' is {}; it runs on int8", a.name, a.dtype.name())) };
        let options = op.builtin_options.as_ref();
        let activation = |f: fb::ActivationFunctionType| match f {
            fb::ActivationFunctionType::None => Ok(Activation::None),
            fb::ActivationFunctionType::Relu => Ok(Activation::Relu),
            fb::ActivationFunctionType::Relu6 => Ok(Activation::Relu6),
            other => refuse(format!("{at}: fused activation {other:?} is not supported (NONE, RELU and RELU6 are)")),
        };
        let padding = |p: fb::Padding| match p {
            fb::Padding::Same => Padding::Same,
            fb::Padding::Valid => Padding::Valid,
        };
        let positive = |v: i32, what: &str| usize::try_from(v).ok().filter(|&v| v > 0).ok_or_else(|| ModelError::Refused(format!("{at}: {what} {v}")));
        let nhwc = |a: &Activ| -> Result<Nhwc, ModelError> {
            match a.shape[..] {
                [n, h, w, c] => Ok(Nhwc { n, h, w, c }),
                _ => refuse(format!("{at}: '{}' has shape {:?}; it needs NHWC", a.name, a.shape)),
            }
        };
        let mut inputs = vec![input];
        let op = match name {
            "CONV_2D" | "DEPTHWISE_CONV_2D" => {
                int8(&x, "input")?;
                int8(&y, "output")?;
                let xin = nhwc(&x)?;
                let filter_index = self.index(op.inputs.as_deref().unwrap_or_default().get(1).copied().unwrap_or(-1))?;
                let fshape = self.shape(filter_index)?;
                let [fo, fh, fw, fi] = fshape[..] else { return refuse(format!("{at}: its filter has shape {fshape:?}")) };
                let (pad, sh, sw, dh, dw, act, depth_multiplier) = match options {
                    Some(fb::BuiltinOptions::Conv2DOptions(o)) => (o.padding, o.stride_h, o.stride_w, o.dilation_h_factor, o.dilation_w_factor, o.fused_activation_function, 0),
                    Some(fb::BuiltinOptions::DepthwiseConv2DOptions(o)) => (o.padding, o.stride_h, o.stride_w, o.dilation_h_factor, o.dilation_w_factor, o.fused_activation_function, o.depth_multiplier),
                    _ => return refuse(format!("{at} lacks its options")),
                };
                let rows = Axis::new(xin.h, fh, positive(sh, "stride")?, positive(dh, "dilation")?, padding(pad));
                let cols = Axis::new(xin.w, fw, positive(sw, "stride")?, positive(dw, "dilation")?, padding(pad));
                let out_channels = if name == "CONV_2D" { fo } else { fi };
                let (filter, scales) = self.weights(&at, op, 1, out_channels)?;
                let bias = self.bias(&at, op, out_channels)?;
                let multipliers = (0..out_channels)
                    .map(|c| quantize_multiplier(f64::from(x.scale) * f64::from(scales[if scales.len() == 1 { 0 } else { c }]) / f64::from(y.scale)))
                    .collect();
                let range = ActivationRange::of(activation(act)?, y.scale, y.zero_point);
                let expect = [1, rows.output, cols.output, out_channels];
                if y.shape != expect {
                    return refuse(format!("{at}: its output has shape {:?} where {expect:?} follows", y.shape));
                }
                if name == "CONV_2D" {
                    if fi != xin.c {
                        return refuse(format!("{at}: its filter takes {fi} channels but the input has {}; grouped convolutions are not supported", xin.c));
                    }
                    Op::Conv2d(Conv2d { input: xin, rows, cols, out_channels, filter, bias, input_offset: -x.zero_point, output_offset: y.zero_point, multipliers, range })
                } else {
                    if fo != 1 || fi % xin.c != 0 {
                        return refuse(format!("{at}: its filter has shape {fshape:?} for {} input channels", xin.c));
                    }
                    let dm = fi / xin.c;
                    if depth_multiplier != 0 && depth_multiplier as usize != dm {
                        return refuse(format!("{at}: depth multiplier {depth_multiplier} against a filter of {fi} channels"));
                    }
                    Op::DepthwiseConv2d(DepthwiseConv2d { input: xin, rows, cols, depth_multiplier: dm, filter, bias, input_offset: -x.zero_point, output_offset: y.zero_point, multipliers, range })
                }
            }
            "FULLY_CONNECTED" => {
                int8(&x, "input")?;
                int8(&y, "output")?;
                let Some(fb::BuiltinOptions::FullyConnectedOptions(o)) = options else { return refuse(format!("{at} lacks its options")) };
                if o.weights_format != fb::FullyConnectedOptionsWeightsFormat::Default {
                    return refuse(format!("{at}: shuffled weights are not supported"));
                }
                let filter_index = self.index(op.inputs.as_deref().unwrap_or_default().get(1).copied().unwrap_or(-1))?;
                let fshape = self.shape(filter_index)?;
                let [outputs, depth] = fshape[..] else { return refuse(format!("{at}: its filter has shape {fshape:?}")) };
                if depth == 0 || x.item_len() % depth != 0 {
                    return refuse(format!("{at}: an input of {} values per item does not divide into rows of {depth}", x.item_len()));
                }
                let (filter, scales) = self.weights(&at, op, 1, outputs)?;
                let bias = self.bias(&at, op, outputs)?;
                let multipliers = scales.iter().map(|&s| quantize_multiplier(f64::from(x.scale) * f64::from(s) / f64::from(y.scale))).collect();
                let range = ActivationRange::of(activation(o.fused_activation_function)?, y.scale, y.zero_point);
                let batch = x.item_len() / depth;
                if y.item_len() != batch * outputs {
                    return refuse(format!("{at}: its output has shape {:?} for {batch} rows of {outputs}", y.shape));
                }
                Op::FullyConnected(FullyConnected { batch, depth, outputs, filter, bias, input_offset: -x.zero_point, output_offset: y.zero_point, multipliers, range })
            }
            "AVERAGE_POOL_2D" | "MAX_POOL_2D" => {
                int8(&x, "input")?;
                int8(&y, "output")?;
                if (x.scale, x.zero_point) != (y.scale, y.zero_point) {
                    return refuse(format!("{at}: its input and output are quantized differently"));
                }
                let Some(fb::BuiltinOptions::Pool2DOptions(o)) = options else { return refuse(format!("{at} lacks its options")) };
                let xin = nhwc(&x)?;
                let rows = Axis::new(xin.h, positive(o.filter_height, "filter height")?, positive(o.stride_h, "stride")?, 1, padding(o.padding));
                let cols = Axis::new(xin.w, positive(o.filter_width, "filter width")?, positive(o.stride_w, "stride")?, 1, padding(o.padding));
                let range = ActivationRange::of(activation(o.fused_activation_function)?, y.scale, y.zero_point);
                let pool = Pool2d { input: xin, rows, cols, range };
                if y.shape != [1, rows.output, cols.output, xin.c] {
                    return refuse(format!("{at}: its output has shape {:?}", y.shape));
                }
                if name == "AVERAGE_POOL_2D" {
                    Op::AveragePool2d(pool)
                } else {
                    Op::MaxPool2d(pool)
                }
            }
            "ADD" => {
                let (second, x2) = self.activ_input(&at, op, 1, tensors)?;
                int8(&x, "first input")?;
                int8(&x2, "second input")?;
                int8(&y, "output")?;
                if x.shape != x2.shape || x.shape != y.shape {
                    return refuse(format!("{at}: shapes {:?} + {:?} -> {:?}; broadcasting ADD is not supported", x.shape, x2.shape, y.shape));
                }
                let act = match options {
                    Some(fb::BuiltinOptions::AddOptions(o)) => o.fused_activation_function,
                    _ => fb::ActivationFunctionType::None,
                };
                let range = ActivationRange::of(activation(act)?, y.scale, y.zero_point);
                inputs.push(second);
                Op::Add(Add::new((x.scale, x.zero_point), (x2.scale, x2.zero_point), (y.scale, y.zero_point), range))
            }
            "RESHAPE" => {
                if x.item_len() != y.item_len() || x.dtype != y.dtype {
                    return refuse(format!("{at}: {:?} cannot become {:?}", x.shape, y.shape));
                }
                if x.dtype == DType::Int8 && (x.scale, x.zero_point) != (y.scale, y.zero_point) {
                    return refuse(format!("{at}: its input and output are quantized differently"));
                }
                Op::Reshape
            }
            "SOFTMAX" => {
                int8(&x, "input")?;
                int8(&y, "output")?;
                let beta = match options {
                    Some(fb::BuiltinOptions::SoftmaxOptions(o)) => o.beta,
                    _ => 1.0,
                };
                if y.scale != 1.0 / 256.0 || y.zero_point != -128 {
                    return refuse(format!("{at}: an int8 softmax's output has scale 1/256 and zero point -128, not {} and {}", y.scale, y.zero_point));
                }
                if x.shape != y.shape || x.shape.last() == Some(&0) {
                    return refuse(format!("{at}: shapes {:?} -> {:?}", x.shape, y.shape));
                }
                let real = f64::from(beta) * f64::from(x.scale) * f64::from(1u32 << 26);
                if quantize_multiplier(real.min((1u64 << 31) as f64 - 1.0)).shift < 0 {
                    return refuse(format!("{at}: beta x input scale ({}) is below 2^-26", f64::from(beta) * f64::from(x.scale)));
                }
                Op::Softmax(Softmax::new(beta, x.scale))
            }
            "QUANTIZE" => {
                if x.dtype != DType::Float32 || y.dtype != DType::Int8 {
                    return refuse(format!("{at}: {} to {}; `npu run` quantizes float32 to int8 only", x.dtype.name(), y.dtype.name()));
                }
                if x.shape != y.shape {
                    return refuse(format!("{at}: shapes {:?} -> {:?}", x.shape, y.shape));
                }
                Op::Quantize
            }
            "DEQUANTIZE" => {
                if x.dtype != DType::Int8 || y.dtype != DType::Float32 {
                    return refuse(format!("{at}: {} to {}; `npu run` dequantizes int8 to float32 only", x.dtype.name(), y.dtype.name()));
                }
                if x.shape != y.shape {
                    return refuse(format!("{at}: shapes {:?} -> {:?}", x.shape, y.shape));
                }
                Op::Dequantize
            }
            _ => unreachable!("operators were checked against SUPPORTED"),
        };
        Ok(Layer { index, op, inputs, output })
    }
}
