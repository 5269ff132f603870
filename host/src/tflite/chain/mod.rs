//! Layers chained on chip: a run of convolutions (and a FULLY_CONNECTED
//! after a RESHAPE at its end) done item by item, each layer's INT8 output
//! MOVEd from OUT to where the next layer reads it. Only the first layer's
//! input and the last layer's output cross the link.
//!
//! On a device with ADD's tables a chain may end in an ADD of its last
//! convolution's output and an earlier layer's (a residual block): that
//! earlier output is kept in B rather than sent back, and the ADD runs on
//! chip right after the last convolution's REQUANT. Blocks join into one
//! chain ([`joined`]), and the last may go on into a global pool.
//!
//! This file finds the chains; `plan.rs` lays one out in the memories,
//! `taps.rs` places the maps of a chain by taps and costs an item,
//! `run.rs` runs it item by item.

mod plan;
mod run;
mod taps;

pub use run::{run, ChainRun, StepCost};

use super::kernels::add::Add;
use super::kernels::conv_2d::Conv2d;
use super::kernels::pooling::Pool2d;
use super::kernels::window::Axis;
use super::model::{Model, Op};
use crate::conv_on_chip::{padded_map, ConvOnChip, MapSource};
use crate::driver::Requant;
use crate::im2col::Window;
use npu_spec::protocol::Bank;
use npu_spec::requant::{RequantParams, MAX_SHIFT};
use npu_spec::Matrix;

/// A convolution as the on-chip path takes it.
pub struct ConvParams {
    pub window: Window,
    pub requant: Requant,
    /// The input's zero point.
    pub zero_point: i8,
    pub weights: Matrix<i8>,
}

impl ConvParams {
    /// `None` when the hardware cannot do `c` on chip: a scale it cannot
    /// express, a zero point outside INT8, dilation, unequal strides.
    pub fn of(c: &Conv2d) -> Option<Self> {
        let requant = super::runtime::hardware_requant(c.folded_bias(), &c.multipliers, c.output_offset, c.range)?;
        let zero_point = i8::try_from(-c.input_offset).ok()?;
        if c.rows.dilation != 1 || c.cols.dilation != 1 || c.cols.stride != c.rows.stride {
            return None;
        }
        let window = Window { kernel_h: c.rows.filter, kernel_w: c.cols.filter, stride: c.rows.stride, pad_top: c.rows.pad, pad_left: c.cols.pad, out_h: c.rows.output, out_w: c.cols.output };
        Some(Self { window, requant, zero_point, weights: c.weights() })
    }

    /// Whether the padded map is fewer bytes on the link than the im2col
    /// operand the host would write (not so for a strided 1x1
    /// convolution, which reads a quarter of its map).
    pub fn map_is_smaller(&self, channels: usize) -> bool {
        let w = &self.window;
        let map = padded_map(w, channels, Bank::B, 0);
        map.height * map.width * channels < w.out_h * w.out_w * w.patch(channels)
    }

    pub fn on_chip<'a>(&'a self, c: &Conv2d, input: MapSource<'a>) -> ConvOnChip<'a> {
        ConvOnChip { input, height: c.input.h, width: c.input.w, channels: c.input.c, window: self.window, zero_point: self.zero_point, weights: &self.weights }
    }
}

/// An ADD a chain does on chip, right after the convolution before it
/// (whose output is the ADD's first input, in OUT), its other input kept
/// in B from when it is computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainAdd {
    /// The ADD's layer.
    pub layer: usize,
    /// The convolution whose output is the ADD's other input.
    pub kept: usize,
    /// A convolution between the block's last convolution and the ADD that
    /// reads the block's input (a residual block's shortcut), from the
    /// block's first convolution's map.
    pub shortcut: Option<usize>,
}

/// Layers `first..=last` of a model (indices into `Model::layers`): the
/// convolutions, and at the end a RESHAPE and its FULLY_CONNECTED; or
/// residual blocks, each ending in an ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub first: usize,
    pub last: usize,
    /// Layers before `last` whose output other layers read too: it also
    /// comes back to the host.
    pub tees: Vec<usize>,
    /// The ADDs done on chip, in order; the `i`-th uses tables `2i` and
    /// `2i + 1`.
    pub adds: Vec<ChainAdd>,
}

impl Chain {
    /// Whether layer `l` is a block's shortcut.
    fn is_shortcut(&self, l: usize) -> bool {
        self.adds.iter().any(|a| a.shortcut == Some(l))
    }

    /// The ADD (its index in `adds`) done right after layer `l`.
    fn add_after(&self, l: usize) -> Option<usize> {
        self.adds.iter().position(|a| a.layer == l + 1)
    }

    /// The tensor layer `l`'s step leaves: its output, or its ADD's.
    fn leaves(&self, model: &Model, l: usize) -> usize {
        model.layers[self.add_after(l).map_or(l, |a| self.adds[a].layer)].output
    }

    /// The same chain (of one block) without its ADD and its shortcut (and
    /// what follows them): the kept layer's output a tee again, or the
    /// chain's last. `None` for a chain without an ADD or of several blocks.
    pub fn without_add(&self) -> Option<Self> {
        let [add] = self.adds.as_slice() else { return None };
        if add.shortcut.is_some() {
            return Some(Self { first: self.first, last: add.kept, tees: self.tees.clone(), adds: vec![] });
        }
        let mut tees = self.tees.clone();
        tees.push(add.kept);
        tees.sort_unstable();
        Some(Self { first: self.first, last: add.layer - 1, tees, adds: vec![] })
    }
}

/// The chains of `model`: where a convolution's output is read by the
/// next layer, a convolution (its output then also comes back when others
/// read it too), or by a RESHAPE alone whose output a FULLY_CONNECTED alone
/// reads; and every convolution can be done on chip. With `adds` (a device
/// with ADD's tables), a chain goes on into an ADD right after it whose
/// other input is a tee's output read by nothing else.
pub fn chains(model: &Model, adds: bool) -> Vec<Chain> {
    let readers = |t: usize| model.readers(t).count();
    let conv = |i: usize| match model.layers.get(i).map(|l| &l.op) {
        Some(Op::Conv2d(c)) => ConvParams::of(c).is_some(),
        _ => false,
    };
    // Whether layer i's output goes on chip to layer i + 1 (a convolution;
    // and whether it comes back too) or through a RESHAPE to a
    // FULLY_CONNECTED (then the chain ends there).
    let link = |i: usize| -> Option<(usize, bool)> {
        let out = model.layers[i].output;
        if model.layers.get(i + 1)?.inputs.first() != Some(&out) {
            return None;
        }
        let shared = out == model.output || readers(out) != 1;
        if conv(i + 1) {
            return Some((i + 1, shared));
        }
        if shared {
            return None;
        }
        let (reshape, fc) = (&model.layers[i + 1], model.layers.get(i + 2)?);
        let fc_ok = matches!(reshape.op, Op::Reshape) && matches!(fc.op, Op::FullyConnected(_)) && reshape.output != model.output && readers(reshape.output) == 1 && fc.inputs.first() == Some(&reshape.output);
        fc_ok.then_some((i + 2, false))
    };
    let mut out = vec![];
    let mut i = 0;
    while i < model.layers.len() {
        if conv(i) {
            let (mut last, mut tees) = (i, vec![]);
            while let Some((next, shared)) = link(last) {
                if shared {
                    tees.push(last);
                }
                last = next;
                if !conv(last) {
                    break;
                }
            }
            if last > i {
                let mut chain = Chain { first: i, last, tees, adds: vec![] };
                if adds {
                    if let Some(fused) = with_add(model, &chain).or_else(|| with_shortcut(model, &chain)) {
                        chain = fused;
                    }
                    if let Some(pooled) = with_pool(model, &chain) {
                        chain = pooled;
                    }
                }
                i = chain.last + 1;
                out.push(chain);
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Consecutive `chains` joined into one where each ends in an ADD done on
/// chip whose output only the next one's convolutions read (its first, and
/// its shortcut): that output then goes on chip into the next block's map
/// instead of to the host and back. Every such join of two or more chains,
/// the longest first (a device tries them in turn: the longest that fits).
pub fn joined(model: &Model, chains: &[Chain]) -> Vec<Chain> {
    let joins = |a: &Chain, b: &Chain| {
        let out = model.layers[a.last].output;
        let mut readers = model.readers(out).peekable();
        let convs_of_b = readers.peek().is_some() && readers.all(|l| (b.first..=b.last).contains(&l) && matches!(model.layers[l].op, Op::Conv2d(_)));
        b.first == a.last + 1 && a.adds.last().is_some_and(|x| x.layer == a.last) && out != model.output && model.layers[b.first].inputs.first() == Some(&out) && convs_of_b
    };
    let mut out: Vec<(usize, Chain)> = vec![];
    for i in 0..chains.len() {
        let mut whole = chains[i].clone();
        for (j, next) in chains.iter().enumerate().skip(i + 1) {
            if !joins(&whole, next) {
                break;
            }
            whole.last = next.last;
            whole.tees.extend(&next.tees);
            whole.adds.extend(next.adds.iter().cloned());
            out.push((j + 1 - i, whole.clone()));
        }
    }
    out.sort_by_key(|(blocks, c)| (std::cmp::Reverse(*blocks), c.first));
    out.into_iter().map(|(_, c)| c).collect()
}

/// `chain` going on into the ADD after it, when that ADD adds its last
/// convolution's output (read by nothing else) and a tee's (read by the
/// next layer and the ADD alone), of one shape, and the hardware takes the
/// ADD's output scale.
fn with_add(model: &Model, chain: &Chain) -> Option<Chain> {
    let readers = |t: usize| model.readers(t).count();
    let out = model.layers[chain.last].output;
    let add_layer = model.layers.get(chain.last + 1)?;
    let Op::Add(add) = &add_layer.op else { return None };
    if !matches!(model.layers[chain.last].op, Op::Conv2d(_)) || readers(out) != 1 || out == model.output || add_layer.inputs.len() != 2 || !add_layer.inputs.contains(&out) {
        return None;
    }
    let other = add_layer.inputs.iter().copied().find(|&t| t != out)?;
    let kept = chain.tees.iter().copied().find(|&t| model.layers[t].output == other)?;
    let shape = |t: usize| model.tensors[t].as_ref().map(|a| a.item_len());
    if readers(other) != 2 || other == model.output || shape(other) != shape(out) || add_requant(add).is_none() {
        return None;
    }
    let tees = chain.tees.iter().copied().filter(|&t| t != kept).collect();
    Some(Chain { first: chain.first, last: chain.last + 1, tees, adds: vec![ChainAdd { layer: chain.last + 1, kept, shortcut: None }] })
}

/// `chain` going on into a shortcut convolution after it and their ADD:
/// the shortcut reads the chain's input (with no padding, from the first
/// convolution's map, which has none at its top and left), the ADD adds the
/// shortcut's output and the chain's last (read by nothing else), of one
/// shape, at a scale the hardware takes.
fn with_shortcut(model: &Model, chain: &Chain) -> Option<Chain> {
    let readers = |t: usize| model.readers(t).count();
    let (Some(Op::Conv2d(first)), Some(side), Some(add_layer)) = (model.layers.get(chain.first).map(|l| &l.op), model.layers.get(chain.last + 1), model.layers.get(chain.last + 2)) else { return None };
    let (Op::Conv2d(shortcut), Op::Add(add)) = (&side.op, &add_layer.op) else { return None };
    let (out, side_out) = (model.layers[chain.last].output, side.output);
    let input = model.layers[chain.first].inputs[0];
    let (f, s) = (ConvParams::of(first)?, ConvParams::of(shortcut)?);
    let reach = |w: &Window| ((w.out_h - 1) * w.stride + w.kernel_h, (w.out_w - 1) * w.stride + w.kernel_w);
    let map = padded_map(&f.window, first.input.c, Bank::B, 0);
    let fits = s.window.pad_top == 0 && s.window.pad_left == 0 && f.window.pad_top == 0 && f.window.pad_left == 0 && reach(&s.window).0 <= map.height && reach(&s.window).1 <= map.width;
    let shape = |t: usize| model.tensors[t].as_ref().map(|a| a.item_len());
    let adds_them = add_layer.inputs.len() == 2 && add_layer.inputs.contains(&out) && add_layer.inputs.contains(&side_out);
    if !fits || side.inputs.first() != Some(&input) || !chain.tees.is_empty() || !matches!(model.layers[chain.last].op, Op::Conv2d(_)) || readers(out) != 1 || readers(side_out) != 1 || !adds_them || shape(out) != shape(side_out) || add_requant(add).is_none() {
        return None;
    }
    Some(Chain { first: chain.first, last: chain.last + 2, tees: vec![], adds: vec![ChainAdd { layer: chain.last + 2, kept: chain.last, shortcut: Some(chain.last + 1) }] })
}

/// `chain`, ending in an ADD done on chip, going on into a global
/// AVERAGE_POOL_2D of the ADD's output (read by nothing else), the RESHAPE
/// of the pool's and the FULLY_CONNECTED of the RESHAPE's: the pool is a
/// GEMM on chip (see [`pool_requant`]), and only the FULLY_CONNECTED's sums
/// come back.
fn with_pool(model: &Model, chain: &Chain) -> Option<Chain> {
    let only_read_by = |t: usize, l: &super::model::Layer| t != model.output && l.inputs.first() == Some(&t) && model.readers(t).count() == 1;
    let (pool, reshape, fc) = (model.layers.get(chain.last + 1)?, model.layers.get(chain.last + 2)?, model.layers.get(chain.last + 3)?);
    let (Op::AveragePool2d(p), Op::Reshape, Op::FullyConnected(_)) = (&pool.op, &reshape.op, &fc.op) else { return None };
    let ends_in_add = chain.adds.last().is_some_and(|a| a.layer == chain.last);
    let reads = only_read_by(model.layers[chain.last].output, pool) && only_read_by(pool.output, reshape) && only_read_by(reshape.output, fc);
    (ends_in_add && reads && pool_requant(p).is_some()).then(|| Chain { last: chain.last + 3, ..chain.clone() })
}

/// A global AVERAGE_POOL_2D (one window, the whole input, of a power of two
/// pixels) as the requantization of a GEMM that sums each channel's pixels
/// times 2: gemmlowp's doubling high multiply by 2^30 gives the sum exactly,
/// and its rounding right shift by log2(pixels) divides by the count
/// rounding half away from zero, as TFLite's pool does. `None` for any other pool.
fn pool_requant(p: &Pool2d) -> Option<RequantParams> {
    let count = p.input.h * p.input.w;
    let whole = |a: &Axis, size: usize| a.filter == size && a.output == 1 && a.pad == 0;
    let shift = u8::try_from(count.trailing_zeros()).ok().filter(|&s| s <= MAX_SHIFT)?;
    if !whole(&p.rows, p.input.h) || !whole(&p.cols, p.input.w) || !count.is_power_of_two() {
        return None;
    }
    Some(RequantParams { multiplier: 1 << 30, shift, zero_point: 0, min: i8::try_from(p.range.min).ok()?, max: i8::try_from(p.range.max).ok()? })
}

/// The ADD's output requantization, as the hardware does it on the sum of
/// its tables (`None` when the scale is not one it takes).
fn add_requant(add: &Add) -> Option<Requant> {
    super::runtime::hardware_requant(vec![0], &[add.output_multiplier], add.output_offset, add.range)
}

/// The ADD's two tables: for its first input (the chain's last output,
/// in OUT) and its second (the kept tensor, in B), each indexed by an
/// INT8's bits read unsigned.
fn add_tables(add: &Add, last_is_input1: bool) -> [Vec<i32>; 2] {
    let table = |f: &dyn Fn(i8) -> i32| (0..=255u8).map(|u| f(u as i8)).collect::<Vec<i32>>();
    let (t1, t2) = (table(&|x| add.rescaled1(x)), table(&|y| add.rescaled2(y)));
    if last_is_input1 { [t1, t2] } else { [t2, t1] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str) -> Model {
        Model::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(name)).unwrap()
    }

    #[test]
    fn a_convolution_read_by_one_convolution_or_a_flattened_fully_connected_chains() {
        // micro_speech: CONV_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX.
        assert_eq!(chains(&model("micro_speech.tflite"), true), vec![Chain { first: 0, last: 2, tees: vec![], adds: vec![] }]);
        // ResNet-8: each block's first convolution feeds its second alone;
        // the stem feeds the first block and its ADD (a tee); the blocks'
        // second convolutions feed an ADD, the shortcuts too.
        let chained: Vec<(usize, usize, Vec<usize>)> = chains(&model("resnet8_cifar10.tflite"), false).into_iter().map(|c| (c.first, c.last, c.tees)).collect();
        assert_eq!(chained, vec![(0, 2, vec![0]), (4, 5, vec![]), (8, 9, vec![])]);
        // With ADD's tables the first block goes on into its ADD, the stem's
        // output kept on chip for it rather than sent back; the other two
        // go on into their shortcut (reading the block's first map) and
        // their ADD, the second convolution's output kept on chip.
        let with_adds = chains(&model("resnet8_cifar10.tflite"), true);
        assert_eq!(with_adds[0], Chain { first: 0, last: 3, tees: vec![], adds: vec![ChainAdd { layer: 3, kept: 0, shortcut: None }] });
        assert_eq!(with_adds[0].without_add(), Some(Chain { first: 0, last: 2, tees: vec![0], adds: vec![] }));
        assert_eq!(with_adds[1..], [Chain { first: 4, last: 7, tees: vec![], adds: vec![ChainAdd { layer: 7, kept: 5, shortcut: Some(6) }] }, Chain { first: 8, last: 14, tees: vec![], adds: vec![ChainAdd { layer: 11, kept: 9, shortcut: Some(10) }] }]);
        // (The last block goes on into the global pool, its RESHAPE and the FULLY_CONNECTED.)
        assert_eq!(with_adds[2].without_add(), Some(Chain { first: 8, last: 9, tees: vec![], adds: vec![] }));
        assert_eq!(with_adds[1].without_add(), Some(Chain { first: 4, last: 5, tees: vec![], adds: vec![] }));
    }

    #[test]
    fn a_global_pool_is_a_gemm_by_twos_requantized_exactly() {
        use super::super::kernels::window::Padding;
        use super::super::kernels::{ActivationRange, Nhwc};
        let pool = |h: usize, w: usize, range: ActivationRange| Pool2d { input: Nhwc { n: 1, h, w, c: 1 }, rows: Axis::new(h, h, 1, 1, Padding::Valid), cols: Axis::new(w, w, 1, 1, Padding::Valid), range };
        let full = ActivationRange { min: -128, max: 127 };
        // Every sum 64 INT8s can have, and some of 2 and 4: TFLite's
        // average (the reference kernel on one channel of pixels that sum
        // to it) equals the hardware's requantization of twice the sum.
        for (h, w) in [(8, 8), (1, 2), (2, 2)] {
            let p = pool(h, w, full);
            let q = pool_requant(&p).expect("a power of two pixels");
            let n = (h * w) as i32;
            for sum in (-128 * n..=127 * n).step_by(if n == 64 { 1 } else { 3 }) {
                let mut x = vec![0i8; h * w];
                let mut left = sum;
                for v in x.iter_mut() {
                    *v = left.clamp(-128, 127) as i8;
                    left -= i32::from(*v);
                }
                assert_eq!(npu_spec::requant::requantize(2 * sum, 0, &q), p.average(&x)[0], "{h}x{w}, sum {sum}");
            }
        }
        // A clamped range is the requantizer's; not a power of two, or not
        // one window, is refused.
        let relu = pool(8, 8, ActivationRange { min: 0, max: 127 });
        assert_eq!(pool_requant(&relu).map(|q| (q.min, q.max, q.shift)), Some((0, 127, 6)));
        assert!(pool_requant(&pool(3, 3, full)).is_none());
        let mut windows = pool(8, 8, full);
        windows.rows = Axis::new(8, 4, 4, 1, Padding::Valid);
        assert!(pool_requant(&windows).is_none());
    }
}
