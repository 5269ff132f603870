//! A chain by taps (see [`crate::tap_map`]): where its maps lie in A, and
//! what an item costs by taps or by im2col operands, for the runtime to
//! choose.

use super::plan::Step;
use super::{Chain, ConvParams};
use crate::plan::{GemmPlan, Geometry};
use crate::tap_map::TapMap;
use crate::tflite::model::{Model, Op};
use npu_spec::protocol::{Bank, Info, Opcode};
use std::ops::Range;

/// What one item of a chain costs, roughly: the bytes its MOVEs copy, and
/// the bytes its commands take as program records (counted for
/// convolutions by taps alone: each GEMM, one a tap and group, the MOVEs
/// that place its output, the host's input and padding refilled for every
/// item, and each group's WRITEs, REQUANT and ADD). A convolution by im2col
/// copies its operand twice (map to staging, staging to A) and places its
/// output; one by taps places its output in each map copy, but is many
/// small commands, which pay where they are stored (see
/// [`crate::program`]), not sent one by one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ItemCost {
    pub moved: usize,
    /// Of those, the bytes a MOVE streams (from OUT, or zeros: a byte a
    /// cycle; the rest take 4 to 6).
    pub streamed: usize,
    /// Each convolution's records: one stretch of commands (see
    /// [`crate::program`]), stored only if it fits the program memory.
    pub records: Vec<usize>,
}

impl ItemCost {
    /// The bytes of records sent for every item with `capacity` bytes of
    /// program memory: the stretches longer than it, and what the rest
    /// exceed it by.
    pub fn unstored(&self, capacity: usize) -> usize {
        let (long, short): (Vec<usize>, Vec<usize>) = self.records.iter().partition(|&&r| r > capacity);
        long.iter().sum::<usize>() + short.iter().sum::<usize>().saturating_sub(capacity)
    }
}

pub(super) fn item_cost(info: &Info, steps: &[Step]) -> ItemCost {
    let g = Geometry::from(info);
    let record = |op: Opcode| op.request_len() + 1;
    let scales = 2 * (record(Opcode::Write) + 8 * g.cols);
    let mut cost = ItemCost::default();
    // (Bytes copied, of them streamed, record bytes.)
    let moves = |moves: Result<Vec<npu_spec::protocol::Move>, String>| {
        moves.unwrap_or_default().iter().fold((0, 0, 0), |(b, s, r), m| {
            let bytes = usize::from(m.count) * usize::from(m.runs);
            (b + bytes, s + if m.streams() { bytes } else { 0 }, r + record(Opcode::Move))
        })
    };
    for step in steps {
        let Step::Conv { c, p, room, places, residual, taps, .. } = step else { continue };
        let pixels = c.rows.output * c.cols.output;
        let Some(t) = taps else {
            // (Map to staging, A into B, does not stream; staging to A,
            // B into A, and the placements from OUT do.)
            cost.moved += (2 * p.weights.rows() + places.len() * c.out_channels) * pixels;
            cost.streamed += (p.weights.rows() + places.len() * c.out_channels) * pixels;
            continue;
        };
        let Some(plan) = room.weights.clone().and_then(|w| GemmPlan::taps(g, t.read.map.pixels(), p.weights.rows(), c.out_channels, t.read.map.tile, w)) else { continue };
        let groups = plan.groups();
        let mut records = groups.len() * (t.read.kernel_h * record(Opcode::Gemm) + scales + record(Opcode::Requant) + residual.map_or(0, |_| scales + record(Opcode::Add) + record(Opcode::Requant)));
        let mut all = vec![];
        for placed in places {
            let lanes = if placed.bank == Bank::A { g.rows } else { g.cols };
            for (ms, ns) in &groups {
                let pixels = ms.start * plan.block_rows..(ms.end * plan.block_rows).min(plan.m);
                let columns = ns.start * g.cols..(ns.end * g.cols).min(plan.n);
                all.push(moves(placed.moves(plan.acc_entry(0, 0), pixels, columns, g.cols, lanes)));
            }
        }
        let map = &t.read.map;
        if t.staging.is_some() {
            all.push(moves(map.place_moves(Bank::B, 0, map.channels, g.cols, 0, 0..map.height * map.width, 0..map.channels)));
        }
        if t.fill == Some(true) {
            all.push(moves(map.padding_moves(Bank::B, t.zero_point_entry * g.cols, g.cols)));
        }
        for (bytes, streamed, r) in all {
            cost.moved += bytes;
            cost.streamed += streamed;
            records += r;
        }
        cost.records.push(records);
    }
    cost
}

/// A tensor's tap map in a chain by taps.
pub(super) struct ChainTapMap {
    pub tensor: usize,
    pub map: TapMap,
    /// The convolution it is laid out for, which fills its padding.
    pub reader: usize,
    /// Another map takes some of its entries while it is not in use.
    pub shared: bool,
}

/// The tap maps of a chain by taps, below A's entry `a_end`: one for each
/// tensor convolutions read, laid out for its first reader that is not a
/// shortcut, each with an entry of its input's zero point after it. A map
/// lives from the layer that places it (the chain's first for its input)
/// to its last reader, and takes the highest entries that no map living at
/// the same time takes. `None` when they do not fit.
pub(super) fn tap_maps(info: &Info, model: &Model, chain: &Chain, a_end: usize) -> Option<Vec<ChainTapMap>> {
    let layers = chain.first..=chain.last;
    let conv_at = |l: usize| match &model.layers[l].op {
        Op::Conv2d(c) => Some(c),
        _ => None,
    };
    let mut out: Vec<(ChainTapMap, Range<usize>, (usize, usize))> = vec![];
    for reader in layers.clone().filter(|&l| !chain.is_shortcut(l)) {
        let Some(c) = conv_at(reader) else { continue };
        let tensor = model.layers[reader].inputs[0];
        if out.iter().any(|m| m.0.tensor == tensor) {
            continue;
        }
        let placer = if reader == chain.first { reader } else { layers.clone().find(|&l| conv_at(l).is_some() && chain.leaves(model, l) == tensor)? };
        let last = layers.clone().filter(|&l| conv_at(l).is_some() && model.layers[l].inputs[0] == tensor).max()?;
        let map = TapMap::new(&ConvParams::of(c)?.window, c.input.h, c.input.w, c.input.c, info.rows, 0)?;
        let size = map.entries() + 1;
        let live = |(a, b): (usize, usize)| a <= last && placer <= b;
        let taken: Vec<Range<usize>> = out.iter().filter(|m| live(m.2)).map(|m| m.1.clone()).collect();
        let clear = |top: usize| top >= size && taken.iter().all(|r| r.end <= top - size || top <= r.start);
        let top = std::iter::once(a_end).chain(taken.iter().map(|r| r.start)).filter(|&t| t <= a_end && clear(t)).max()?;
        let at = top - size..top;
        let shared = out.iter().any(|m| m.1.start < at.end && at.start < m.1.end);
        for m in out.iter_mut().filter(|m| m.1.start < at.end && at.start < m.1.end) {
            m.0.shared = true;
        }
        out.push((ChainTapMap { tensor, map: TapMap { first_entry: at.start, ..map }, reader, shared }, at, (placer, last)));
    }
    Some(out.into_iter().map(|m| m.0).collect())
}

#[cfg(test)]
mod tests {
    use super::super::plan::plan;
    use super::super::{chains, joined};
    use super::*;
    use npu_spec::NpuConfig;

    fn model(name: &str) -> Model {
        Model::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models").join(name)).unwrap()
    }

    #[test]
    fn a_chain_by_taps_lays_its_maps_where_no_other_lives_and_copies_a_fifth_of_the_bytes() {
        let m = model("resnet8_cifar10.tflite");
        let whole = joined(&m, &chains(&m, true))[0].clone();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/ulx3s-16x16.toml");
        let c = NpuConfig::load(&path).unwrap();
        assert_eq!(c.memory.add_tables, 8, "the shipped 16x16 holds ResNet-8's six ADD tables");
        let i = Info::of(&c);
        let steps = plan(&i, &m, &whole, true, true).expect("ResNet-8 by taps fits the 16x16");
        // Each convolution reads a map and places its output in another,
        // or in B, the pool's operand: never where the map it reads is.
        let span = |t: &TapMap| t.first_entry..t.first_entry + t.entries() + 1;
        let mut maps = 0;
        for step in &steps {
            let Step::Conv { taps: Some(t), places, room, .. } = step else { continue };
            assert!(room.weights.is_some(), "by taps, the weights stay");
            for p in places {
                if let Some((out, _)) = p.taps {
                    let (a, b) = (span(&t.read.map), span(&out));
                    assert!(a.end <= b.start || b.end <= a.start, "{a:?} and {b:?}");
                    maps += 1;
                } else if p.bank == Bank::A {
                    assert!(p.first_byte / 16 >= span(&t.read.map).end, "the pool's operand above the maps");
                }
            }
        }
        assert_eq!(maps, 6, "the maps of block 1's two convolutions, block 2's (from ADD 1) and its second's, block 3's and its second's");
        // The stem's map (host's input), read by the first convolution.
        let Step::Conv { taps: Some(stem), .. } = &steps[0] else { panic!("the stem by taps") };
        assert_eq!((stem.staging, stem.read.map.copies, stem.read.map.tile, stem.read.map.tiles_x), (Some(0), 3, 16, 2));
        // Block 2's shortcut (1x1, stride 2) reads tap (0, 0) of its first
        // convolution's map and fills nothing.
        let (Step::Conv { taps: Some(first), .. }, Step::Conv { taps: Some(short), shares: true, .. }) = (&steps[4], &steps[6]) else { panic!("block 2 by taps") };
        assert_eq!((short.read.map, short.read.kernel_h, short.read.dy, short.read.dx, short.fill), (first.read.map, 1, 0, 0, None));
        // A fifth of the bytes of the im2col operands.
        let (taps, im2col) = (item_cost(&i, &steps), item_cost(&i, &plan(&i, &m, &whole, true, false).unwrap()));
        assert_eq!(im2col.moved, 1_091_584, "two passes of the operands and the placements");
        assert!(taps.moved * 4 < im2col.moved && taps.records.iter().sum::<usize>() < 40_000, "{taps:?}");
        // Each convolution's commands fit 32 KB of program; not all of them.
        assert!(taps.unstored(32768) < 4096 && taps.unstored(0) == taps.records.iter().sum::<usize>());
        // On the 4x4 (tiles of 4 pixels) the commands are many: 188 KB.
        let mut small = NpuConfig::default();
        (small.memory.mover, small.memory.a_depth, small.memory.b_depth, small.memory.add_tables) = (true, 32768, 32768, 8);
        let small = Info::of(&small);
        let steps = plan(&small, &m, &whole, true, true).expect("by taps in 128 KB scratchpads");
        assert!(item_cost(&small, &steps).unstored(65535) > 100_000);
    }
}
