//! A chain run item by item on one device: the ADDs' tables and what
//! stays in B written once, then each item's layers as [`super::plan`]
//! lays them out.

use super::plan::{plan, Back, Step};
use super::taps::item_cost;
use super::{add_tables, Chain, ConvParams};
use crate::conv_by_taps::TapConv;
use crate::conv_on_chip::{MapSource, Room};
use crate::driver::{AOperand, DriverError, Npu, Requant, Sink};
use crate::im2col::FeatureMap;
use crate::link::DeviceTime;
use crate::placement::pad_moves;
use crate::tflite::kernels::conv_2d::Conv2d;
use crate::tflite::model::{Model, Op};
use npu_spec::protocol::Bank;
use npu_spec::Matrix;

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

/// The link's device time and bytes so far, to measure a step from.
fn mark(npu: &Npu) -> (DeviceTime, u64) {
    let s = npu.link_stats();
    (s.time, s.bytes_sent + s.bytes_received)
}

impl StepCost {
    /// Adds what the link counted since `mark` (see [`mark`]), and returns it.
    fn add_since(&mut self, npu: &Npu, since: (DeviceTime, u64)) -> (DeviceTime, u64) {
        self.add_between(since, mark(npu))
    }

    /// Adds what the link counted from one mark to another, and returns it.
    fn add_between(&mut self, (time, bytes): (DeviceTime, u64), (now, now_bytes): (DeviceTime, u64)) -> (DeviceTime, u64) {
        let (device, link_bytes) = (now.since(&time), now_bytes - bytes);
        self.device += device;
        self.link_bytes += link_bytes;
        (device, link_bytes)
    }
}

/// A chain's run: the last layer's output for every item, each tee's
/// (in the order of `Chain::tees`), and each layer's cost (in order,
/// `first..=last`).
pub struct ChainRun {
    pub output: Vec<i8>,
    /// Its convolutions ran by taps (see [`crate::tap_map`]).
    pub by_taps: bool,
    pub tees: Vec<Vec<i8>>,
    pub costs: Vec<StepCost>,
}

/// Runs `chain` for `batch` items of `x` (the first layer's input) on
/// `npu`. `Ok(None)` when it does not fit the device's memories: nothing
/// was sent.
pub fn run(npu: &mut Npu, model: &Model, chain: &Chain, x: &[i8], batch: usize) -> Result<Option<ChainRun>, DriverError> {
    let result = run_held(npu, model, chain, x, batch);
    npu.drop_held();
    result
}

/// [`run`], an item's commands held and sent as one pipeline (see
/// [`Npu::hold`]): a layer's MOVEs, GEMMs and REQUANTs are several calls
/// of the driver, and each layer follows the one before, each of which
/// would otherwise wait for its last answer (with programs, a RUN's)
/// before the next's first request leaves. The first step (the input's
/// transfer) goes on its own, on a quiet line. Each step's time and bytes
/// are still measured, by a mark at its end (see [`Npu::mark`]): from
/// the last answer of the step before to its own last answer.
fn run_held(npu: &mut Npu, model: &Model, chain: &Chain, x: &[i8], batch: usize) -> Result<Option<ChainRun>, DriverError> {
    // By taps where every convolution can be and that costs less than by
    // im2col operands.
    let info = npu.info().clone();
    let fits = |taps: bool, resident: bool| plan(&info, model, chain, resident, taps);
    let by_im2col = fits(false, true);
    let by_taps = fits(true, true).filter(|t| by_im2col.as_ref().is_none_or(|i| cycles(&info, t) < cycles(&info, i)));
    let Some(steps) = by_taps.or(by_im2col).or_else(|| fits(false, false).filter(|s| worth_resending(s, batch))) else { return Ok(None) };
    let by_taps = steps.iter().any(|s| matches!(s, Step::Conv { taps: Some(_), .. }));
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
        let since = mark(npu);
        match step {
            Step::Conv { p, room: Room { weights: Some(w), .. }, .. } => npu.write_panels(w.start, &p.weights)?,
            Step::Pool { plan, twos, .. } => npu.write_panels(plan.b_base, twos)?,
            Step::Fc { plan, weights, .. } => npu.write_panels(plan.b_base, weights)?,
            _ => {}
        }
        costs[s].add_since(npu, since);
    }
    for n in 0..batch {
        let mut since = mark(npu);
        npu.take_marks();
        npu.hold();
        for (s, step) in steps.iter().enumerate() {
            match step {
                Step::Conv { c, p, room, input, places, back, residual, shares, taps } => {
                    let sink = match (places.as_slice(), back) {
                        ([], _) => Sink::Host,
                        ([placed], Back::No) => Sink::OnChip(*placed),
                        ([placed], _) => Sink::Both(*placed),
                        ([placed, kept], _) => Sink::Twice(*placed, *kept),
                        _ => unreachable!("the plan places an output at most twice"),
                    };
                    let with_add = residual.map(|r| Requant { residual: Some(r), ..p.requant.clone() });
                    let q = with_add.as_ref().unwrap_or(&p.requant);
                    let x = &x[n * item..(n + 1) * item];
                    let y = match taps {
                        Some(t) => {
                            // Its map's padding: once, unless another map
                            // takes some of its entries in between.
                            if t.fill.is_some_and(|every| every || n == 0) {
                                npu.fill_tap_padding(&t.read.map, p.zero_point, t.zero_point_entry)?;
                            }
                            let weights_at = room.weights.clone().expect("a chain by taps keeps its weights");
                            npu.conv_taps(&TapConv { read: t.read, host: t.staging.map(|s| (x, s)), weights: &p.weights, weights_at }, q, sink)?
                        }
                        None => {
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
                                None => MapSource::Host(x),
                            };
                            let y = npu.conv_step(&p.on_chip(c, source), q, room, sink)?;
                            y.ok_or_else(|| DriverError::Unsupported("a convolution of a chain no longer fits".into()))?
                        }
                    };
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
            npu.mark();
            if s == 0 {
                npu.release()?;
                npu.hold();
            }
        }
        npu.release()?;
        for (cost, at) in costs.iter_mut().zip(npu.take_marks()) {
            let now = (at.time, at.bytes_sent + at.bytes_received);
            (cost.last_item_device, cost.last_item_bytes) = cost.add_between(since, now);
            since = now;
        }
    }
    Ok(Some(ChainRun { output: out, by_taps, tees, costs }))
}

/// Device cycles a MOVE takes a byte, about: 4, or 6 with the block RAMs'
/// read data registered, where it reads a scratchpad; 1 where it streams
/// (from OUT, or zeros).
const MOVE_CYCLES_PER_BYTE: f64 = 5.0;
const STREAMED_CYCLES_PER_BYTE: f64 = 1.0;

/// An item's device cycles spent on MOVEs and on sending the commands the
/// program memory cannot hold (see [`item_cost`]), to choose between two
/// plans of a chain.
fn cycles(info: &npu_spec::protocol::Info, steps: &[Step]) -> f64 {
    let cost = item_cost(info, steps);
    let link_cycles_per_byte = info.core_hz as f64 * 10.0 / f64::from(info.baud.max(1));
    (cost.moved - cost.streamed) as f64 * MOVE_CYCLES_PER_BYTE + cost.streamed as f64 * STREAMED_CYCLES_PER_BYTE + cost.unstored(info.program_bytes) as f64 * link_cycles_per_byte
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
