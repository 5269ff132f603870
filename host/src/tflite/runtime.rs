//! A batch through a model: GEMM-shaped layers (CONV_2D as im2col GEMMs,
//! FULLY_CONNECTED) on the NPU, the rest with TFLite's reference kernels on
//! the host. Each layer runs once for the whole batch, so its weights cross
//! the link once.

use super::kernels::{ActivationRange, Nhwc};
use super::fixed_point::QuantizedMultiplier;
use super::kernels::quantize;
use super::model::{DType, Layer, Model, Op};
use super::chain;
use super::report::{LayerReport, Place, Report, RunFacts};
use super::kernels::conv_2d::Conv2d;
use crate::conv_on_chip::MapSource;
use crate::driver::{ChannelScale, DriverError, Requant};
use crate::link::DeviceTime;
use crate::Cluster;
use npu_spec::requant::{RequantParams, MAX_SHIFT};
use npu_spec::Matrix;
use std::time::{Duration, Instant};

/// A tensor's values for the whole batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Int8(Vec<i8>),
    Float32(Vec<f32>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Int8(v) => v.len(),
            Values::Float32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many values differ from `other`'s (floats compared bit for bit).
    pub fn differences(&self, other: &Values) -> usize {
        match (self, other) {
            (Values::Int8(a), Values::Int8(b)) => a.iter().zip(b).filter(|(x, y)| x != y).count() + a.len().abs_diff(b.len()),
            (Values::Float32(a), Values::Float32(b)) => a.iter().zip(b).filter(|(x, y)| x.to_bits() != y.to_bits()).count() + a.len().abs_diff(b.len()),
            _ => self.len().max(other.len()),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Values::Int8(_) => DType::Int8,
            Values::Float32(_) => DType::Float32,
        }
    }

    fn int8(&self) -> &[i8] {
        match self {
            Values::Int8(v) => v,
            Values::Float32(_) => unreachable!("the model's types were checked when it was read"),
        }
    }

    fn float32(&self) -> &[f32] {
        match self {
            Values::Float32(v) => v,
            Values::Int8(_) => unreachable!("the model's types were checked when it was read"),
        }
    }
}

/// Where the NPU layers go: devices, or none (every layer on the host,
/// with the reference kernels: `Runtime::reference`).
pub struct Runtime<'a> {
    cluster: Option<&'a mut Cluster>,
    /// Called after each layer with (layers done, layers).
    pub progress: Option<Box<dyn FnMut(usize, usize) + 'a>>,
}

impl<'a> Runtime<'a> {
    pub fn new(cluster: &'a mut Cluster) -> Self {
        Self { cluster: Some(cluster), progress: None }
    }

    /// Every layer on the host with TFLite's reference kernels.
    pub fn reference() -> Self {
        Self { cluster: None, progress: None }
    }

    /// Runs `batch` items of `input` (the model's input dtype, `batch` x the
    /// model's item shape) and returns the model's output for each.
    pub fn run(&mut self, model: &Model, input: Values, batch: usize) -> Result<(Values, Report), DriverError> {
        let item = model.input().item_len();
        assert_eq!(input.len(), batch * item, "the caller checks the input's shape");
        let mut values: Vec<Option<Values>> = vec![None; model.tensors.len()];
        values[model.input] = Some(input);
        let mut layers = Vec::new();
        let started = Instant::now();
        // One device: its counters before and after, for the measured split.
        let counted = match self.devices() {
            [npu] => Some(npu.counters()?),
            _ => None,
        };
        let adds = self.devices().first().is_some_and(|d| d.info().add_tables >= 2);
        let chains = if self.one_device_with_mover() { chain::chains(model, adds) } else { vec![] };
        // Residual blocks joined into one chain first, the longest join
        // that fits, else each block alone.
        let joined = chain::joined(model, &chains);
        let mut done = 0;
        while done < model.layers.len() {
            let mut ran = None;
            for c in joined.iter().chain(&chains).filter(|c| c.first == done) {
                ran = self.chain(model, c, &mut values, batch)?;
                if ran.is_some() {
                    break;
                }
            }
            if let Some(reports) = ran {
                // (A report a layer: fewer when the chain ran without its ADD.)
                done += reports.len();
                layers.extend(reports);
                if let Some(p) = self.progress.as_mut() {
                    p(done, model.layers.len());
                }
                continue;
            }
            let layer = &model.layers[done];
            let before = self.device_time();
            let link_before = self.link_bytes();
            let host_started = Instant::now();
            let (out, place) = self.layer(model, layer, &values, batch)?;
            let host = host_started.elapsed();
            let device = self.device_time().since(&before);
            let link = self.link_bytes() - link_before;
            layers.push(LayerReport::new(model, layer, place, batch, device, if place == Place::Host { host } else { Duration::ZERO }, link));
            values[layer.output] = Some(out);
            done += 1;
            if let Some(p) = self.progress.as_mut() {
                p(done, model.layers.len());
            }
        }
        let output = values[model.output].take().expect("the model's output is written by a layer");
        let bytes = |a: &super::model::Activ| a.item_len() * a.dtype.bytes();
        let pes = self.devices().iter().map(|d| d.info().rows * d.info().cols).sum();
        let baud = self.devices().first().map_or(1, |d| d.info().baud);
        let facts = RunFacts { core_hz: self.core_hz(), pes, baud, io_bytes: bytes(model.input()) + bytes(model.output()) };
        let mut report = Report::new(layers, batch, started.elapsed(), facts);
        if let (Some(before), [npu]) = (counted, self.devices()) {
            report = report.with_counted_cycles(&npu.counters()?.since(&before));
        }
        Ok((output, report))
    }

    /// Runs `c` on chip (see [`chain`]): its last layer's output into
    /// `values`, and a report a layer; `None` when it does not fit, before
    /// anything was sent.
    fn chain(&mut self, model: &Model, c: &chain::Chain, values: &mut [Option<Values>], batch: usize) -> Result<Option<Vec<LayerReport>>, DriverError> {
        let layers = &model.layers[c.first..=c.last];
        let x = values[layers[0].inputs[0]].as_ref().expect("layers run in order");
        let npu = &mut self.devices()[0];
        // (A chain whose ADD does not fit is tried without it.)
        let (c, ran) = match chain::run(npu, model, c, x.int8(), batch)? {
            Some(ran) => (c.clone(), ran),
            None => match c.without_add() {
                Some(plain) => match chain::run(npu, model, &plain, x.int8(), batch)? {
                    Some(ran) => (plain, ran),
                    None => return Ok(None),
                },
                None => return Ok(None),
            },
        };
        let c = &c;
        let layers = &model.layers[c.first..=c.last];
        values[layers[layers.len() - 1].output] = Some(Values::Int8(ran.output));
        for (&t, v) in c.tees.iter().zip(ran.tees) {
            values[model.layers[t].output] = Some(Values::Int8(v));
        }
        let place = |l: &Layer| if ran.by_taps && matches!(l.op, Op::Conv2d(_)) { Place::NpuByTaps } else { Place::NpuChained };
        Ok(Some(layers.iter().zip(ran.costs).map(|(l, cost)| LayerReport::new(model, l, place(l), batch, cost.device, Duration::ZERO, cost.link_bytes).with_last_item(cost.last_item_bytes, &cost.last_item_device)).collect()))
    }

    /// Whether the runtime has one device, and it has the mover: chains
    /// need every layer's channels on one device.
    fn one_device_with_mover(&mut self) -> bool {
        let d = self.devices();
        d.len() == 1 && d[0].info().mover
    }

    fn core_hz(&mut self) -> u64 {
        self.devices().first().map_or(1, |d| d.info().core_hz)
    }

    /// The device time so far: the slowest device's, as they run in parallel.
    fn device_time(&mut self) -> DeviceTime {
        self.devices().iter().map(|d| d.link_stats().time).max_by_key(DeviceTime::total).unwrap_or_default()
    }

    fn link_bytes(&mut self) -> u64 {
        self.devices().iter().map(|d| d.link_stats().bytes_sent + d.link_stats().bytes_received).sum()
    }

    fn devices(&mut self) -> &mut [crate::Npu] {
        match self.cluster.as_mut() {
            Some(c) => c.devices(),
            None => &mut [],
        }
    }

    fn layer(&mut self, model: &Model, layer: &Layer, values: &[Option<Values>], batch: usize) -> Result<(Values, Place), DriverError> {
        let x = values[layer.inputs[0]].as_ref().expect("layers run in order");
        let act = |i: usize| model.tensors[i].as_ref().expect("an activation");
        Ok(match &layer.op {
            Op::Conv2d(c) if self.cluster.is_none() => (Values::Int8(c.clone().with_batch(batch).reference(x.int8())), Place::Host),
            Op::FullyConnected(f) if self.cluster.is_none() => {
                let mut f = f.clone();
                f.batch *= batch;
                (Values::Int8(f.reference(x.int8())), Place::Host)
            }
            Op::Conv2d(c) => {
                if let Some(out) = self.conv_on_chip(c, x.int8(), batch)? {
                    return Ok((Values::Int8(out), Place::NpuOnChip));
                }
                let c = c.clone().with_batch(batch);
                let bias = c.folded_bias();
                let q = hardware_requant(bias.clone(), &c.multipliers, c.output_offset, c.range);
                let out = self.gemm_layer(&c.im2col(x.int8()), &c.weights(), bias, q, |acc| c.requantize(acc))?;
                (Values::Int8(out.0), out.1)
            }
            Op::FullyConnected(f) => {
                let mut f = f.clone();
                f.batch *= batch;
                let a = Matrix::from_vec(f.batch, f.depth, x.int8().to_vec()).expect("shape checked when read");
                // Rounded once, unlike the hardware: see kernels::fully_connected.
                let out = self.gemm_layer(&a, &f.weights(), f.folded_bias(), None, |acc| f.requantize(acc))?;
                (Values::Int8(out.0), out.1)
            }
            Op::DepthwiseConv2d(d) => {
                let mut d = d.clone();
                d.input.n = batch;
                (Values::Int8(d.reference(x.int8())), Place::Host)
            }
            Op::AveragePool2d(p) | Op::MaxPool2d(p) => {
                let mut p = p.clone();
                p.input.n = batch;
                let out = if matches!(layer.op, Op::AveragePool2d(_)) { p.average(x.int8()) } else { p.max(x.int8()) };
                (Values::Int8(out), Place::Host)
            }
            Op::Add(a) => {
                let y = values[layer.inputs[1]].as_ref().expect("layers run in order");
                (Values::Int8(a.reference(x.int8(), y.int8())), Place::Host)
            }
            Op::Reshape => (x.clone(), Place::Host),
            Op::Softmax(s) => {
                let depth = *act(layer.inputs[0]).shape.last().expect("shape checked when read");
                (Values::Int8(s.reference(x.int8(), depth)), Place::Host)
            }
            Op::Quantize => {
                let y = act(layer.output);
                (Values::Int8(quantize::quantize(x.float32(), y.scale, y.zero_point)), Place::Host)
            }
            Op::Dequantize => {
                let a = act(layer.inputs[0]);
                (Values::Float32(quantize::dequantize(x.int8(), a.scale, a.zero_point)), Place::Host)
            }
        })
    }

    /// A convolution item by item with its im2col operand built on chip
    /// from the map (see [`crate::conv_on_chip`]), when every device has
    /// the mover, the hardware can requantize it, and it fits; `None` when
    /// not, before any item ran.
    fn conv_on_chip(&mut self, c: &Conv2d, x: &[i8], batch: usize) -> Result<Option<Vec<i8>>, DriverError> {
        let cluster = self.cluster.as_mut().expect("GEMM layers go to the host without devices");
        let Some(p) = chain::ConvParams::of(c) else { return Ok(None) };
        if !cluster.has_mover() || !p.map_is_smaller(c.input.c) {
            return Ok(None);
        }
        let item = c.input.h * c.input.w * c.input.c;
        let mut out = Vec::with_capacity(batch * p.window.out_h * p.window.out_w * c.out_channels);
        for n in 0..batch {
            let conv = p.on_chip(c, MapSource::Host(&x[n * item..(n + 1) * item]));
            match cluster.conv_requant(&conv, &p.requant)? {
                Some(y) => out.extend_from_slice(y.as_slice()),
                None if n == 0 => return Ok(None),
                None => return Err(DriverError::Unsupported("a device refused an item of a convolution it took before".into())),
            }
        }
        Ok(Some(out))
    }

    /// `a x b` on the NPU, requantized by the hardware with `q` when given;
    /// otherwise (a scale the hardware cannot express, or a rounding it does
    /// not do) the GEMM's INT32 sums come back and `host_requantize` finishes
    /// them, `bias` added first.
    fn gemm_layer(&mut self, a: &Matrix<i8>, b: &Matrix<i8>, bias: Vec<i32>, q: Option<Requant>, host_requantize: impl Fn(&Matrix<i32>) -> Vec<i8>) -> Result<(Vec<i8>, Place), DriverError> {
        let cluster = self.cluster.as_mut().expect("GEMM layers go to the host without devices");
        if let Some(q) = q {
            let out = cluster.gemm_requant(a, b, &q)?;
            return Ok((out.as_slice().to_vec(), Place::Npu));
        }
        let mut acc = cluster.gemm(a, b)?;
        for i in 0..acc.rows() {
            for (j, b) in bias.iter().enumerate() {
                acc.set(i, j, acc.get(i, j).wrapping_add(*b));
            }
        }
        Ok((host_requantize(&acc), Place::NpuHostRequant))
    }
}

/// The requantization as the hardware does it, when it can: every scale a
/// right shift of at most 31, the zero point and range in int8.
pub fn hardware_requant(bias: Vec<i32>, multipliers: &[QuantizedMultiplier], output_offset: i32, range: ActivationRange) -> Option<Requant> {
    let right_shift = |m: &QuantizedMultiplier| u8::try_from(-m.shift).ok().filter(|&s| s <= MAX_SHIFT);
    let scales: Option<Vec<ChannelScale>> = multipliers.iter().map(|m| Some(ChannelScale { multiplier: m.multiplier, shift: right_shift(m)? })).collect();
    let scales = scales?;
    let first = *scales.first()?;
    let params = RequantParams {
        multiplier: first.multiplier,
        shift: first.shift,
        zero_point: i8::try_from(output_offset).ok()?,
        min: i8::try_from(range.min).ok()?,
        max: i8::try_from(range.max).ok()?,
    };
    let per_channel = scales.iter().any(|s| *s != first);
    Some(Requant { params, bias: Some(bias), channels: per_channel.then_some(scales), residual: None })
}

impl super::kernels::conv_2d::Conv2d {
    fn with_batch(mut self, n: usize) -> Self {
        self.input = Nhwc { n, ..self.input };
        self
    }
}
