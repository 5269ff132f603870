//! Layers chained on chip: a run of convolutions (and a FULLY_CONNECTED
//! after a RESHAPE at its end) done item by item, each layer's INT8 output
//! MOVEd from OUT to where the next layer reads it. Only the first layer's
//! input and the last layer's output cross the link.
//!
//! Memory, for one device: each link between two layers gets a region at
//! the top of A (the next convolution's padded map, with one entry of its
//! zero point after it; or the FULLY_CONNECTED's operand, in lane 0), the
//! FULLY_CONNECTED's and each convolution's weights the top of B; the
//! convolutions build their operands and stage them in what is left. So
//! every layer's weights stay on chip from one item to the next.
//!
//! On a device with ADD's tables a chain may end in an ADD of its last
//! convolution's output and an earlier layer's (a residual block): that
//! earlier output is kept in B (below the weights) rather than sent back,
//! and the ADD runs on chip right after the last convolution's REQUANT.

use super::kernels::add::Add;
use super::kernels::conv_2d::Conv2d;
use super::kernels::fully_connected::FullyConnected;
use super::kernels::pooling::Pool2d;
use super::kernels::window::Axis;
use super::model::{Model, Op};
use crate::conv_on_chip::{padded_map, ConvLayout, ConvOnChip, MapSource, Room};
use crate::driver::{AOperand, DriverError, Npu, Requant, Residual, Sink};
use crate::im2col::{FeatureMap, Window};
use crate::link::DeviceTime;
use crate::placement::{pad_moves, Placement};
use crate::plan::{GemmPlan, Geometry};
use npu_spec::protocol::{Bank, Info};
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
    let readers = |t: usize| model.layers.iter().filter(|l| l.inputs.contains(&t)).count();
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
        let mut readers = (0..model.layers.len()).filter(|&l| model.layers[l].inputs.contains(&out)).peekable();
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
    let readers = |t: usize| model.layers.iter().filter(|l| l.inputs.contains(&t)).count();
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
    let readers = |t: usize| model.layers.iter().filter(|l| l.inputs.contains(&t)).count();
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
    let only_read_by = |t: usize, l: &super::model::Layer| t != model.output && l.inputs.first() == Some(&t) && model.layers.iter().filter(|x| x.inputs.contains(&t)).count() == 1;
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

/// One layer of a chain as it ran: device time and link bytes, all items,
/// and the link bytes and device time of the last item alone (its weights
/// and program already on chip, in a batch of two or more).
#[derive(Debug, Clone, Copy, Default)]
pub struct StepCost {
    pub device: DeviceTime,
    pub link_bytes: u64,
    pub last_item_bytes: u64,
    /// The last item's device time alone.
    pub last_item_device: DeviceTime,
}

/// Where a convolution's output (or its ADD's) goes besides its places on
/// chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Back {
    /// Nowhere else.
    No,
    /// To the host: the chain's output.
    Output,
    /// To the host: tee `i`'s output.
    Tee(usize),
}

/// What runs a chain needs per layer.
enum Step<'a> {
    /// `places`: where its output (its ADD's, with `residual`) goes on chip
    /// (the next convolution's map, a kept tensor in B, a FULLY_CONNECTED's
    /// operand); `back`: whether it also comes back. `shares`: its input map
    /// is its block's first convolution's (a shortcut), padded by that one.
    Conv { c: &'a Conv2d, p: Box<ConvParams>, room: Room, input: Option<FeatureMap>, places: Vec<Placement>, back: Back, residual: Option<Residual>, shares: bool },
    Reshape,
    /// Done with the convolution before it (its `residual`).
    Add,
    /// A global AVERAGE_POOL_2D: the GEMM of its input (placed transposed
    /// in A by the step before) by `twos`, requantized by `q`, its output
    /// placed in the FULLY_CONNECTED's operand.
    Pool { plan: GemmPlan, twos: Matrix<i8>, q: Requant, place: Option<Placement> },
    /// `f` for one item, its INT32 sums requantized on the host.
    Fc { f: Box<FullyConnected>, weights: Matrix<i8>, plan: GemmPlan, bias: Vec<i32> },
}

/// A chain's run: the last layer's output for every item, each tee's
/// (in the order of `Chain::tees`), and each layer's cost (in order,
/// `first..=last`).
pub struct ChainRun {
    pub output: Vec<i8>,
    pub tees: Vec<Vec<i8>>,
    pub costs: Vec<StepCost>,
}

/// Runs `chain` for `batch` items of `x` (the first layer's input) on
/// `npu`. `Ok(None)` when it does not fit the device's memories: nothing
/// was sent.
pub fn run(npu: &mut Npu, model: &Model, chain: &Chain, x: &[i8], batch: usize) -> Result<Option<ChainRun>, DriverError> {
    let Some(steps) = plan(npu.info(), model, chain, true).or_else(|| plan(npu.info(), model, chain, false).filter(|s| worth_resending(s, batch))) else { return Ok(None) };
    let mut costs = vec![StepCost::default(); steps.len()];
    let Step::Conv { c: first, .. } = &steps[0] else { unreachable!("a chain starts with a convolution") };
    let item = first.input.h * first.input.w * first.input.c;
    if x.len() != batch * item {
        return Err(DriverError::Shape(format!("the chain's input has {} values, not {batch} x {item}", x.len())));
    }
    let mut out = vec![];
    let mut tees = vec![vec![]; chain.tees.len()];
    // The ADDs' tables, once for the batch.
    for (i, a) in chain.adds.iter().enumerate() {
        let Op::Add(add) = &model.layers[a.layer].op else { unreachable!("the plan checked the chain's ADDs") };
        let last_is_input1 = model.layers[a.layer].inputs[0] == model.layers[a.layer - 1].output;
        npu.write_tables(2 * i, &add_tables(add, last_is_input1))?;
    }
    // What stays in B from one item to the next (weights, the pool's 2s)
    // before the first item: its commands are then every other item's, so
    // the second item stores their stretches (see crate::program).
    for (s, step) in steps.iter().enumerate() {
        let (before, bytes) = (npu.link_stats().time, npu.link_stats().bytes_sent + npu.link_stats().bytes_received);
        match step {
            Step::Conv { p, room: Room { weights: Some(w), .. }, .. } => npu.write_panels(w.start, &p.weights)?,
            Step::Pool { plan, twos, .. } => npu.write_panels(plan.b_base, twos)?,
            Step::Fc { plan, weights, .. } => npu.write_panels(plan.b_base, weights)?,
            _ => {}
        }
        let stats = npu.link_stats();
        costs[s].device += stats.time.since(&before);
        costs[s].link_bytes += stats.bytes_sent + stats.bytes_received - bytes;
    }
    for n in 0..batch {
        for (s, step) in steps.iter().enumerate() {
            let (before, bytes) = (npu.link_stats().time, npu.link_stats().bytes_sent + npu.link_stats().bytes_received);
            match step {
                Step::Conv { c, p, room, input, places, back, residual, shares } => {
                    let source = match input {
                        Some(map) => {
                            // Nothing but this chain writes its maps between
                            // items, and the layer before writes only the
                            // inside: the padding stays after the first.
                            if n == 0 && !shares {
                                fill_padding(npu, map, p, c)?;
                            }
                            MapSource::OnChip(*map)
                        }
                        None => MapSource::Host(&x[n * item..(n + 1) * item]),
                    };
                    let sink = match (places.as_slice(), back) {
                        ([], _) => Sink::Host,
                        ([placed], Back::No) => Sink::OnChip(*placed),
                        ([placed], _) => Sink::Both(*placed),
                        ([placed, kept], _) => Sink::Twice(*placed, *kept),
                        _ => unreachable!("the plan places an output at most twice"),
                    };
                    let with_add = residual.map(|r| Requant { residual: Some(r), ..p.requant.clone() });
                    let y = npu.conv_step(&p.on_chip(c, source), with_add.as_ref().unwrap_or(&p.requant), room, sink)?;
                    let y = y.ok_or_else(|| DriverError::Unsupported("a convolution of a chain no longer fits".into()))?;
                    match back {
                        Back::Output => out.extend_from_slice(y.as_slice()),
                        Back::Tee(t) => tees[*t].extend_from_slice(y.as_slice()),
                        Back::No => {}
                    }
                }
                Step::Reshape | Step::Add => {}
                Step::Pool { plan, twos, q, place } => {
                    let place = place.expect("the plan places a pool's output");
                    npu.run_plan_checked(plan, AOperand::OnChip, twos, q, Sink::OnChip(place), &mut Matrix::zeros(plan.m, 1))?;
                }
                Step::Fc { f, weights, plan, bias } => {
                    let acc = npu.gemm_a_on_chip(plan, weights)?;
                    let acc = Matrix::from_fn(1, f.outputs, |_, j| acc.get(0, j).wrapping_add(bias[j]));
                    out.extend(f.requantize(&acc));
                }
            }
            let stats = npu.link_stats();
            costs[s].device += stats.time.since(&before);
            let item_bytes = stats.bytes_sent + stats.bytes_received - bytes;
            costs[s].link_bytes += item_bytes;
            costs[s].last_item_bytes = item_bytes;
            costs[s].last_item_device = stats.time.since(&before);
        }
    }
    Ok(Some(ChainRun { output: out, tees, costs }))
}

/// Whether a chain whose weights are sent again for every item still
/// moves fewer bytes than its layers one by one, which send each layer's
/// weights once for the batch but its output and input over the link.
fn worth_resending(steps: &[Step], batch: usize) -> bool {
    let mut weights = 0;
    let mut saved = 0;
    for step in steps {
        if let Step::Conv { c, p, input, places, back, .. } = step {
            weights += p.weights.rows() * p.weights.cols();
            if input.is_some() {
                saved += c.input.h * c.input.w * c.input.c;
            }
            if !places.is_empty() && *back == Back::No {
                saved += c.rows.output * c.cols.output * c.out_channels;
            }
        }
    }
    weights * (batch - 1) < saved * batch
}

/// The padding of an on-chip map: its zero point written into the entry
/// after the map (a WRITE the driver skips when the entry holds it), then
/// MOVEd around the inside.
fn fill_padding(npu: &mut Npu, map: &FeatureMap, p: &ConvParams, c: &Conv2d) -> Result<(), DriverError> {
    let rows = npu.info().rows;
    let zp_entry = (map.first_byte + map.height * map.width * map.pixel_bytes).div_ceil(rows);
    npu.write_entries(Bank::A, zp_entry, &vec![p.zero_point as u8; rows])?;
    let moves = pad_moves(map, &p.window, c.input.h, c.input.w, zp_entry * rows, rows).map_err(DriverError::Shape)?;
    npu.move_all(&moves)
}

/// Each layer's memory, or `None` when the chain does not fit. With
/// `resident`, each convolution's weights are kept apart at the top of B;
/// else they open B, where the next layer's overwrite them (the driver
/// sends them again for the next item).
///
/// B from the top down: each ADD's kept tensor (N block by N block), the
/// FULLY_CONNECTED's weights, each convolution's. A from the top down: a
/// padded map (and an entry of its zero point) for each tensor that
/// convolutions read on chip (one for a block's first convolution and its
/// shortcut), the FULLY_CONNECTED's operand. Each convolution builds its
/// operand and stages it in what is left.
fn plan<'a>(info: &Info, model: &'a Model, chain: &Chain, resident: bool) -> Option<Vec<Step<'a>>> {
    let g = Geometry::from(info);
    let rows = info.rows;
    let layers = chain.first..=chain.last;
    if 2 * chain.adds.len() > info.add_tables {
        return None;
    }
    let conv_at = |l: usize| match &model.layers[l].op {
        Op::Conv2d(c) => Some(c),
        _ => None,
    };
    let is_shortcut = |l: usize| chain.adds.iter().any(|a| a.shortcut == Some(l));
    // The ADD done right after layer l, and the tensor l's step leaves.
    let add_after = |l: usize| chain.adds.iter().position(|a| a.layer == l + 1);
    let leaves = |l: usize| model.layers[add_after(l).map_or(l, |a| chain.adds[a].layer)].output;
    // Each kept tensor at the top of B: (first entry, blocks, pixels).
    let mut b_end = g.b_depth;
    let mut kept = vec![];
    for a in &chain.adds {
        let c = conv_at(a.kept)?;
        let (blocks, pixels) = (c.out_channels.div_ceil(g.cols), c.rows.output * c.cols.output);
        b_end = b_end.checked_sub(blocks * pixels)?;
        kept.push((b_end, blocks, pixels));
    }
    let mut fc = None;
    if let Some(Op::FullyConnected(f)) = model.layers.get(chain.last).map(|l| &l.op) {
        let b_entries = f.depth * f.outputs.div_ceil(g.cols);
        b_end = b_end.checked_sub(b_entries)?;
        fc = Some((f, b_end..b_end + b_entries));
    }
    // A global pool's operand (its input, transposed) at the top of A,
    // its 2s in B: (layer, first A entry, first B entry).
    let mut a_end = g.a_depth;
    let mut pool = None;
    for l in layers.clone() {
        if let Op::AveragePool2d(p) = &model.layers[l].op {
            let pixels = p.input.h * p.input.w;
            if pool.is_some() || !rows.is_multiple_of(g.cols) {
                return None;
            }
            b_end = b_end.checked_sub(pixels)?;
            a_end = a_end.checked_sub(p.input.c.div_ceil(rows) * pixels)?;
            pool = Some((l, a_end, b_end));
        }
    }
    // The maps in A: (tensor, map, its first reader).
    let mut maps: Vec<(usize, FeatureMap, usize)> = vec![];
    for l in layers.clone().filter(|&l| l != chain.first && !is_shortcut(l)) {
        let Some(c) = conv_at(l) else { continue };
        let map = padded_map(&ConvParams::of(c)?.window, c.input.c, Bank::A, 0);
        a_end = a_end.checked_sub((map.height * map.width * map.pixel_bytes).div_ceil(rows) + 1)?;
        maps.push((model.layers[l].inputs[0], FeatureMap { first_byte: a_end * rows, ..map }, l));
    }
    let mut steps: Vec<Step> = vec![];
    for l in layers.clone() {
        let layer = &model.layers[l];
        match &layer.op {
            Op::Conv2d(c) => {
                let p = ConvParams::of(c)?;
                // Its weights kept at the top of B, below those before it.
                let mut weights = None;
                if resident {
                    let entries = p.weights.rows() * c.out_channels.div_ceil(g.cols);
                    weights = Some(b_end.checked_sub(entries)?..b_end);
                    b_end -= entries;
                }
                let input = maps.iter().find(|m| m.0 == layer.inputs[0]).map(|m| m.1);
                let mut places = vec![];
                if let Some(&(_, map, reader)) = maps.iter().find(|m| m.0 == leaves(l)) {
                    let next = conv_at(reader)?;
                    places.push(Placement::into_map(&map, &ConvParams::of(next)?.window, next.input.h, next.input.w));
                }
                if let Some((_, a0, _)) = pool.filter(|&(p, _, _)| model.layers[p].inputs[0] == leaves(l)) {
                    places.push(Placement::into_blocks(Bank::A, a0, rows, c.rows.output, c.cols.output));
                }
                if let Some(k) = chain.adds.iter().position(|a| a.kept == l) {
                    places.push(Placement::into_blocks(Bank::B, kept[k].0, g.cols, c.rows.output, c.cols.output));
                }
                let back = match chain.tees.iter().position(|&t| t == l) {
                    Some(t) => Back::Tee(t),
                    None if leaves(l) == model.layers[chain.last].output => Back::Output,
                    None => Back::No,
                };
                let residual = match add_after(l) {
                    Some(a) => {
                        let Op::Add(add) = &model.layers[chain.adds[a].layer].op else { return None };
                        let (skip_entry, blocks, pixels) = kept[a];
                        if c.out_channels.div_ceil(g.cols) != blocks || c.rows.output * c.cols.output != pixels {
                            return None;
                        }
                        Some(Residual { skip_entry, pixels, pixel0: 0, table1: (2 * a) as u8, table2: (2 * a + 1) as u8, params: add_requant(add)?.params })
                    }
                    None => None,
                };
                if places.len() > 2 || (places.len() == 2 && back != Back::No) {
                    return None;
                }
                steps.push(Step::Conv { c, p: Box::new(p), room: Room { a: 0..0, b: 0..0, weights }, input, places, back, residual, shares: is_shortcut(l) });
            }
            Op::Reshape => steps.push(Step::Reshape),
            Op::Add(_) if add_after(l - 1).is_some() => steps.push(Step::Add),
            Op::AveragePool2d(p) => {
                let (_, a0, b0) = pool?;
                let pixels = p.input.h * p.input.w;
                let plan = GemmPlan::within(g, p.input.c, pixels, 1, a0..a0 + p.input.c.div_ceil(rows) * pixels, b0..b0 + pixels);
                if plan.k_chunk != pixels || plan.groups().len() != 1 {
                    return None;
                }
                let q = Requant { params: pool_requant(p)?, bias: None, channels: None, residual: None };
                steps.push(Step::Pool { plan, twos: Matrix::from_fn(pixels, 1, |_, _| 2), q, place: None });
            }
            Op::FullyConnected(f) => {
                let (_, b) = fc.clone()?;
                let a = a_end.checked_sub(f.depth)?..a_end;
                a_end = a.start;
                let plan = GemmPlan::within(g, 1, f.depth, f.outputs, a.clone(), b);
                if plan.k_chunk != f.depth || plan.group_n != plan.n_blocks() || f.depth > usize::from(u16::MAX) {
                    return None;
                }
                // The producer's output, flattened into lane 0 of the operand
                // (a pool's channels, its output rows, one after another).
                match steps.iter_mut().rev().find(|s| matches!(s, Step::Conv { .. } | Step::Pool { .. })) {
                    Some(Step::Conv { c, places, back, .. }) => {
                        if c.out_channels * c.rows.output * c.cols.output != f.depth || !places.is_empty() {
                            return None;
                        }
                        places.push(Placement::into_operand(a.start, 0, rows, c.rows.output, c.cols.output, c.out_channels));
                        *back = Back::No;
                    }
                    Some(Step::Pool { plan: pooled, place, .. }) if pooled.m == f.depth => *place = Some(Placement::into_operand(a.start, 0, rows, f.depth, 1, 1)),
                    _ => return None,
                }
                steps.push(Step::Fc { f: Box::new(FullyConnected { batch: 1, ..f.clone() }), weights: f.weights(), plan, bias: f.folded_bias() });
            }
            _ => return None,
        }
    }
    if steps.iter().any(|s| matches!(s, Step::Pool { place: None, .. })) {
        return None;
    }
    // Every convolution builds its operand below the maps, and stages it
    // below the weights. A shortcut reading the chain's input reads the
    // first convolution's map (the host's), which the others keep off.
    let input = model.layers[chain.first].inputs[0];
    let host_map_shared = chain.adds.iter().any(|a| a.shortcut.is_some_and(|s| model.layers[s].inputs[0] == input));
    let mut first_map: Option<FeatureMap> = None;
    for (i, step) in steps.iter_mut().enumerate() {
        if let Step::Conv { c, p, room, input, shares, .. } = step {
            room.a = 0..a_end;
            room.b = 0..b_end;
            if let Some(map) = first_map {
                let end = map.first_byte + map.height * map.width * map.pixel_bytes;
                match map.bank {
                    Bank::A => room.a.end = room.a.end.min(map.first_byte / rows),
                    _ => room.b.start = end.div_ceil(g.cols),
                }
                if *shares && input.is_none() {
                    *input = Some(map);
                }
            }
            let source = match input {
                Some(map) => MapSource::OnChip(*map),
                None => MapSource::Host(&[]),
            };
            let layout = ConvLayout::new(info, &p.on_chip(c, source), room)?;
            if i == 0 && host_map_shared {
                first_map = Some(layout.map);
            }
        }
    }
    Some(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use npu_spec::NpuConfig;

    fn model(name: &str) -> Model {
        Model::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(name)).unwrap()
    }

    fn info(a_depth: usize, b_depth: usize) -> Info {
        let mut c = NpuConfig::default();
        c.memory.mover = true;
        c.memory.a_depth = a_depth;
        c.memory.b_depth = b_depth;
        Info::of(&c)
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
    fn residual_blocks_join_into_one_chain_whose_maps_stay_on_chip() {
        let m = model("resnet8_cifar10.tflite");
        let blocks = chains(&m, true);
        // All three blocks, then the first two, then the last two.
        let joins = joined(&m, &blocks);
        assert_eq!(joins.iter().map(|c| (c.first, c.last, c.adds.len())).collect::<Vec<_>>(), vec![(0, 14, 3), (0, 7, 2), (4, 14, 2)]);
        let whole = joins[0].clone();
        assert_eq!((whole.first, whole.last, whole.tees.clone()), (0, 14, vec![]));
        assert_eq!(whole.adds.iter().map(|a| (a.layer, a.kept, a.shortcut)).collect::<Vec<_>>(), vec![(3, 0, None), (7, 5, Some(6)), (11, 9, Some(10))]);
        assert_eq!(whole.without_add(), None, "several blocks fall back block by block");
        // Without ADDs on chip nothing joins: each chain's output goes back.
        assert!(joined(&m, &chains(&m, false)).is_empty());
        // The ULX3S 16x16's memories with 8 tables hold it all.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/ulx3s-16x16.toml");
        let mut c = NpuConfig::load(&path).unwrap();
        c.memory.add_tables = 8;
        let steps = plan(&Info::of(&c), &m, &whole, true).expect("fits the 16x16");
        // Block 1's ADD (done with layer 2) goes into block 2's map, which
        // its first convolution pads and its shortcut shares.
        let conv = |s: usize| match &steps[s] {
            Step::Conv { input, places, back, residual, shares, .. } => (*input, places.clone(), *back, residual.is_some(), *shares),
            _ => panic!("step {s} is not a convolution"),
        };
        let (_, places, back, residual, _) = conv(2);
        assert!(residual && back == Back::No && places.len() == 1 && places[0].bank == Bank::A);
        let (map, _, _, _, shares) = conv(4);
        assert!(!shares && map.is_some_and(|m| m.bank == Bank::A && places[0].first_byte >= m.first_byte));
        assert_eq!((conv(6).0, conv(6).4), (map, true));
        // Block 3's ADD (its tables the fifth and sixth) goes into the
        // pool's operand in A, 4 blocks of 16 channels by 64 pixels; the
        // pool's sums into the FULLY_CONNECTED's, whose sums alone come back.
        let Step::Conv { residual: Some(r), back: Back::No, places, .. } = &steps[10] else { panic!("the last shortcut does the last ADD") };
        assert_eq!((r.table1, r.table2), (4, 5));
        let [pooled] = places.as_slice() else { panic!("into the pool's operand alone") };
        assert_eq!((pooled.bank, pooled.blocks), (Bank::A, Some((16, 64 * 16))));
        let Step::Pool { plan: pooling, place: Some(into_fc), .. } = &steps[12] else { panic!("the pool on chip") };
        let Step::Fc { plan: fc, .. } = &steps[14] else { panic!("the FULLY_CONNECTED last") };
        assert_eq!((pooling.m, pooling.k, pooling.n, pooling.a_base * 16), (64, 64, 1, pooled.first_byte));
        assert_eq!((into_fc.bank, into_fc.first_byte), (Bank::A, fc.a_base * 16));
        // Six tables are needed, and more memory than the iCE40's; with
        // four, two blocks join (the runtime tries the longest first).
        c.memory.add_tables = 4;
        assert_eq!(joins.iter().map(|j| plan(&Info::of(&c), &m, j, true).is_some()).collect::<Vec<_>>(), vec![false, true, true]);
        let mut small = info(16384, 16384);
        small.add_tables = 8;
        assert!(joins.iter().all(|c| plan(&small, &m, c, true).is_none()), "the UP5K's 64 KB scratchpads take no join of ResNet-8's blocks");
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

    #[test]
    fn a_chain_fits_or_is_refused_before_anything_is_sent() {
        let m = model("micro_speech.tflite");
        let c = Chain { first: 0, last: 2, tees: vec![], adds: vec![] };
        let steps = plan(&info(16384, 16384), &m, &c, true).expect("fits the default config");
        // The convolution's output goes to lane 0 of the operand at the top of A.
        let Step::Conv { places, room, back: Back::No, .. } = &steps[0] else { panic!("a placed convolution") };
        let [placed] = places.as_slice() else { panic!("placed once") };
        assert_eq!((placed.bank, placed.first_byte), (Bank::A, (16384 - 4000) * 4));
        // Its weights (80 taps, 2 blocks of 4 channels) below the FULLY_CONNECTED's.
        assert_eq!((room.a.clone(), room.b.clone(), room.weights.clone()), (0..16384 - 4000, 0..16384 - 4160, Some(16384 - 4160..16384 - 4000)));
        let Step::Fc { plan: p, .. } = &steps[2] else { panic!("the FULLY_CONNECTED last") };
        assert_eq!((p.a_base, p.b_base, p.k_chunk), (16384 - 4000, 16384 - 4000, 4000));
        // Its operand and weights leave the convolution no room.
        assert!(plan(&info(4096, 16384), &m, &c, true).is_none());
        assert!(plan(&info(16384, 4096), &m, &c, true).is_none());
    }

    #[test]
    fn an_adds_kept_tensor_sits_at_the_top_of_b_in_the_outputs_blocks() {
        let m = model("resnet8_cifar10.tflite");
        let chain = Chain { first: 0, last: 3, tees: vec![], adds: vec![ChainAdd { layer: 3, kept: 0, shortcut: None }] };
        let mut i = info(16384, 16384);
        assert!(plan(&i, &m, &chain, true).is_none(), "no tables, no ADD");
        i.add_tables = 2;
        let steps = plan(&i, &m, &chain, true).expect("fits");
        // The stem's 32 x 32 x 16 output: 4 blocks of 4 channels, 1,024
        // entries each, at the top of B; the weights below it.
        let kept = 16384 - 4 * 1024;
        let Step::Conv { places, back: Back::No, room, .. } = &steps[0] else { panic!("the stem keeps its output") };
        let [_, s] = places.as_slice() else { panic!("into the next map and kept") };
        assert_eq!((s.bank, s.first_byte, s.blocks), (Bank::B, kept * 4, Some((4, 1024 * 4))));
        assert!(room.weights.as_ref().is_some_and(|w| w.end <= kept));
        let Step::Conv { residual: Some(r), places, back: Back::Output, .. } = &steps[2] else { panic!("the last convolution does the ADD") };
        assert!(places.is_empty());
        assert_eq!((r.skip_entry, r.pixels, r.pixel0, r.table1, r.table2), (kept, 1024, 0, 0, 1));
        assert!(matches!(steps[3], Step::Add));
        // The kept tensor alone would fill a 16 KB B.
        i.b_depth = 4096;
        assert!(plan(&i, &m, &chain, true).is_none());
    }

    #[test]
    fn a_shortcut_reads_the_blocks_first_map_and_the_add_follows_it() {
        let m = model("resnet8_cifar10.tflite");
        let chain = Chain { first: 4, last: 7, tees: vec![], adds: vec![ChainAdd { layer: 7, kept: 5, shortcut: Some(6) }] };
        let mut i = info(16384, 16384);
        i.add_tables = 2;
        let steps = plan(&i, &m, &chain, true).expect("fits");
        let (Step::Conv { room: first_room, input: None, .. }, Step::Conv { places: second_places, room: second_room, .. }, Step::Conv { input: Some(map), shares: true, residual: Some(r), back: Back::Output, room, .. }) = (&steps[0], &steps[1], &steps[2]) else { panic!("{} steps", steps.len()) };
        assert!(matches!(steps[3], Step::Add));
        // The block's first map, the host's (33 x 33 x 16, in B after the
        // first convolution's room starts), read by the shortcut.
        let (c4, p4) = match &steps[0] { Step::Conv { c, p, .. } => (c, p), _ => unreachable!() };
        let layout = ConvLayout::new(&i, &p4.on_chip(c4, MapSource::Host(&[])), first_room).unwrap();
        assert_eq!(*map, layout.map);
        let map_end = (map.first_byte + 33 * 33 * 16).div_ceil(4);
        assert!(map.bank == Bank::B && room.b.start >= map_end && second_room.b.start >= map_end);
        // The second convolution's 16 x 16 x 32 output kept in B's top (8 blocks of 256 pixels), the ADD's second input.
        let top = 16384 - 8 * 256;
        let [kept] = second_places.as_slice() else { panic!("kept alone") };
        assert_eq!((kept.bank, kept.first_byte, kept.blocks), (Bank::B, top * 4, Some((4, 256 * 4))));
        assert_eq!((r.skip_entry, r.pixels), (top, 256));
    }

    #[test]
    fn a_convolutions_map_sits_at_the_top_of_a_with_its_zero_point_after_it() {
        let m = model("resnet8_cifar10.tflite");
        let steps = plan(&info(16384, 16384), &m, &Chain { first: 1, last: 2, tees: vec![], adds: vec![] }, true).expect("fits");
        let Step::Conv { input: Some(map), .. } = &steps[1] else { panic!("the second takes its map on chip") };
        // 34 x 34 pixels of 16 channels, and one entry for the zero point.
        let entries = (34 * 34 * 16usize).div_ceil(4);
        assert_eq!((map.height, map.width, map.first_byte), (34, 34, (16384 - entries - 1) * 4));
        let Step::Conv { places, .. } = &steps[0] else { panic!("the first places its output") };
        let [placed] = places.as_slice() else { panic!("placed once") };
        assert_eq!(placed.first_byte, map.first_byte + (34 + 1) * 16);
        // The third block's weights (4,608 and 9,216 entries) leave B too
        // little room for the first one's map beside its staging: the map
        // goes to the top of A's room, below the second one's.
        let third = Chain { first: 8, last: 9, tees: vec![], adds: vec![] };
        let steps = plan(&info(16384, 16384), &m, &third, true).expect("kept apart");
        let (Step::Conv { c, p, room, .. }, Step::Conv { input: Some(next), .. }) = (&steps[0], &steps[1]) else { panic!("two convolutions") };
        let layout = ConvLayout::new(&info(16384, 16384), &p.on_chip(c, MapSource::Host(&[])), room).expect("fits");
        let entries = (17 * 17 * 32usize).div_ceil(4);
        assert_eq!((layout.map.bank, layout.map.first_byte), (Bank::A, (room.a.end - entries) * 4));
        assert_eq!((layout.a_first, layout.a_end), (0, room.a.end - entries));
        assert_eq!(room.a.end * 4, next.first_byte);
        assert_eq!(room.weights.clone().map(|w| w.len()), Some(4608));
        // A device without the room for both is refused.
        assert!(plan(&info(4096, 16384), &m, &third, true).is_none());
    }
}
