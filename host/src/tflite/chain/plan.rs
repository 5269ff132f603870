//! A chain's memory plan: where each layer's weights, maps, kept tensors
//! and operands lie, as the steps [`super::run`] takes.
//!
//! B from the top down: each ADD's kept tensor (N block by N block), the
//! FULLY_CONNECTED's weights, each convolution's. A from the top down: a
//! padded map (and an entry of its zero point) for each tensor that
//! convolutions read on chip, a pool's operand, the FULLY_CONNECTED's. Each
//! convolution builds its operand and stages it in what is left, so every
//! layer's weights stay on chip from one item to the next.

use super::taps::tap_maps;
use super::{add_requant, pool_requant, Chain, ConvParams};
use crate::conv_on_chip::{padded_map, ConvLayout, MapSource, Room};
use crate::driver::{Requant, Residual};
use crate::im2col::FeatureMap;
use crate::placement::Placement;
use crate::tap_map::TapRead;
use crate::plan::{GemmPlan, Geometry};
use crate::tflite::kernels::conv_2d::Conv2d;
use crate::tflite::kernels::fully_connected::FullyConnected;
use crate::tflite::model::{Model, Op};
use npu_spec::protocol::{Bank, Info};
use npu_spec::Matrix;

/// Where a convolution's output (or its ADD's) goes besides its places on
/// chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Back {
    /// Nowhere else.
    No,
    /// To the host: the chain's output.
    Output,
    /// To the host: tee `i`'s output.
    Tee(usize),
}

/// What runs a chain needs per layer.
pub(super) enum Step<'a> {
    /// `places`: where its output (its ADD's, with `residual`) goes on chip
    /// (the next convolution's map, a kept tensor in B, a FULLY_CONNECTED's
    /// operand); `back`: whether it also comes back. `shares`: its input map
    /// is its block's first convolution's (a shortcut), padded by that one.
    /// `taps`: done by taps (see [`crate::tap_map`]), in place of `room`'s
    /// operand and `input`'s padded map.
    Conv { c: &'a Conv2d, p: Box<ConvParams>, room: Room, input: Option<FeatureMap>, places: Vec<Placement>, back: Back, residual: Option<Residual>, shares: bool, taps: Option<TapStep> },
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

/// A convolution by taps.
#[derive(Debug, Clone, Copy)]
pub(super) struct TapStep {
    pub read: TapRead,
    /// The B entry the host's input is staged at (the chain's first
    /// convolution).
    pub staging: Option<usize>,
    /// For the map's first reader: whether its padding is filled for every
    /// item (another map shares its place) or for the first alone.
    pub fill: Option<bool>,
    /// The B entry that holds the zero point the padding is copied from
    /// (one for every map, above the weights).
    pub zero_point_entry: usize,
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
///
/// With `taps` every convolution is done by taps (its weights resident):
/// each tensor that convolutions read has a tap map in A instead, the
/// chain's input too (staged from B's entry 0), each map where no other
/// map lives at the same time (see [`tap_maps`]), and nothing is staged.
pub(super) fn plan<'a>(info: &Info, model: &'a Model, chain: &Chain, resident: bool, taps: bool) -> Option<Vec<Step<'a>>> {
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
    let tap_maps = match taps {
        true if resident => tap_maps(info, model, chain, a_end)?,
        true => return None,
        false => vec![],
    };
    if let Some(bottom) = tap_maps.iter().map(|m| m.map.first_entry).min() {
        a_end = bottom;
    }
    // Each map's zero point in an entry of its own: one entry for all was
    // written again wherever the next map's zero point differed, a WRITE
    // on the line every item.
    let zero_point_entry = if taps {
        b_end = b_end.checked_sub(tap_maps.len().max(1))?;
        b_end
    } else {
        0
    };
    for l in layers.clone().filter(|&l| !taps && l != chain.first && !chain.is_shortcut(l)) {
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
                let leaves = chain.leaves(model, l);
                let mut places = vec![];
                if let Some(&(_, map, reader)) = maps.iter().find(|m| m.0 == leaves) {
                    let next = conv_at(reader)?;
                    places.push(Placement::into_map(&map, &ConvParams::of(next)?.window, next.input.h, next.input.w));
                }
                if let Some(m) = tap_maps.iter().find(|m| m.tensor == leaves) {
                    places.push(Placement::into_taps(&m.map));
                }
                if let Some((_, a0, _)) = pool.filter(|&(p, _, _)| model.layers[p].inputs[0] == leaves) {
                    places.push(Placement::into_blocks(Bank::A, a0, rows, c.rows.output, c.cols.output));
                }
                if let Some(k) = chain.adds.iter().position(|a| a.kept == l) {
                    places.push(Placement::into_blocks(Bank::B, kept[k].0, g.cols, c.rows.output, c.cols.output));
                }
                let back = match chain.tees.iter().position(|&t| t == l) {
                    Some(t) => Back::Tee(t),
                    None if leaves == model.layers[chain.last].output => Back::Output,
                    None => Back::No,
                };
                let residual = match chain.add_after(l) {
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
                let tap_step = match tap_maps.iter().enumerate().find(|(_, m)| m.tensor == layer.inputs[0]) {
                    Some((i, m)) => Some(TapStep { read: TapRead::new(&m.map, &p.window)?, staging: (l == chain.first).then_some(0), fill: (m.reader == l).then_some(m.shared), zero_point_entry: zero_point_entry + i }),
                    None if taps => return None,
                    None => None,
                };
                steps.push(Step::Conv { c, p: Box::new(p), room: Room { a: 0..0, b: 0..0, weights }, input, places, back, residual, shares: chain.is_shortcut(l), taps: tap_step });
            }
            Op::Reshape => steps.push(Step::Reshape),
            Op::Add(_) if chain.add_after(l - 1).is_some() => steps.push(Step::Add),
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
    if taps {
        // The host's input staged below the weights; each GEMM plan fits.
        let g = Geometry::from(info);
        for step in &steps {
            if let Step::Conv { c, p, room, taps: Some(t), .. } = step {
                let weights = room.weights.clone()?;
                GemmPlan::taps(g, t.read.map.pixels(), p.weights.rows(), c.out_channels, t.read.map.tile, weights)?;
                if t.staging.is_some() && (c.input.h * c.input.w * c.input.c).div_ceil(g.cols) > b_end {
                    return None;
                }
            }
        }
        return Some(steps);
    }
    // Every convolution builds its operand below the maps, and stages it
    // below the weights. A shortcut reading the chain's input reads the
    // first convolution's map (the host's), which the others keep off.
    let input = model.layers[chain.first].inputs[0];
    let host_map_shared = chain.adds.iter().any(|a| a.shortcut.is_some_and(|s| model.layers[s].inputs[0] == input));
    let mut first_map: Option<FeatureMap> = None;
    for (i, step) in steps.iter_mut().enumerate() {
        if let Step::Conv { c, p, room, input, shares, .. } = step {
            // (A chain by taps has returned above.)
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
    use super::super::{chains, joined, ChainAdd};
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
        assert_eq!(c.memory.add_tables, 8, "the shipped 16x16 holds ResNet-8's six ADD tables");
        let steps = plan(&Info::of(&c), &m, &whole, true, false).expect("fits the 16x16");
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
        assert_eq!(joins.iter().map(|j| plan(&Info::of(&c), &m, j, true, false).is_some()).collect::<Vec<_>>(), vec![false, true, true]);
        let mut small = info(16384, 16384);
        small.add_tables = 8;
        assert!(joins.iter().all(|c| plan(&small, &m, c, true, false).is_none()), "the UP5K's 64 KB scratchpads take no join of ResNet-8's blocks");
    }

    #[test]
    fn a_chain_fits_or_is_refused_before_anything_is_sent() {
        let m = model("micro_speech.tflite");
        let c = Chain { first: 0, last: 2, tees: vec![], adds: vec![] };
        let steps = plan(&info(16384, 16384), &m, &c, true, false).expect("fits the default config");
        // The convolution's output goes to lane 0 of the operand at the top of A.
        let Step::Conv { places, room, back: Back::No, .. } = &steps[0] else { panic!("a placed convolution") };
        let [placed] = places.as_slice() else { panic!("placed once") };
        assert_eq!((placed.bank, placed.first_byte), (Bank::A, (16384 - 4000) * 4));
        // Its weights (80 taps, 2 blocks of 4 channels) below the FULLY_CONNECTED's.
        assert_eq!((room.a.clone(), room.b.clone(), room.weights.clone()), (0..16384 - 4000, 0..16384 - 4160, Some(16384 - 4160..16384 - 4000)));
        let Step::Fc { plan: p, .. } = &steps[2] else { panic!("the FULLY_CONNECTED last") };
        assert_eq!((p.a_base, p.b_base, p.k_chunk), (16384 - 4000, 16384 - 4000, 4000));
        // Its operand and weights leave the convolution no room.
        assert!(plan(&info(4096, 16384), &m, &c, true, false).is_none());
        assert!(plan(&info(16384, 4096), &m, &c, true, false).is_none());
    }

    #[test]
    fn an_adds_kept_tensor_sits_at_the_top_of_b_in_the_outputs_blocks() {
        let m = model("resnet8_cifar10.tflite");
        let chain = Chain { first: 0, last: 3, tees: vec![], adds: vec![ChainAdd { layer: 3, kept: 0, shortcut: None }] };
        let mut i = info(16384, 16384);
        assert!(plan(&i, &m, &chain, true, false).is_none(), "no tables, no ADD");
        i.add_tables = 2;
        let steps = plan(&i, &m, &chain, true, false).expect("fits");
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
        assert!(plan(&i, &m, &chain, true, false).is_none());
    }

    #[test]
    fn a_shortcut_reads_the_blocks_first_map_and_the_add_follows_it() {
        let m = model("resnet8_cifar10.tflite");
        let chain = Chain { first: 4, last: 7, tees: vec![], adds: vec![ChainAdd { layer: 7, kept: 5, shortcut: Some(6) }] };
        let mut i = info(16384, 16384);
        i.add_tables = 2;
        let steps = plan(&i, &m, &chain, true, false).expect("fits");
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
        let steps = plan(&info(16384, 16384), &m, &Chain { first: 1, last: 2, tees: vec![], adds: vec![] }, true, false).expect("fits");
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
        let steps = plan(&info(16384, 16384), &m, &third, true, false).expect("kept apart");
        let (Step::Conv { c, p, room, .. }, Step::Conv { input: Some(next), .. }) = (&steps[0], &steps[1]) else { panic!("two convolutions") };
        let layout = ConvLayout::new(&info(16384, 16384), &p.on_chip(c, MapSource::Host(&[])), room).expect("fits");
        let entries = (17 * 17 * 32usize).div_ceil(4);
        assert_eq!((layout.map.bank, layout.map.first_byte), (Bank::A, (room.a.end - entries) * 4));
        assert_eq!((layout.a_first, layout.a_end), (0, room.a.end - entries));
        assert_eq!(room.a.end * 4, next.first_byte);
        assert_eq!(room.weights.clone().map(|w| w.len()), Some(4608));
        // A device without the room for both is refused.
        assert!(plan(&info(4096, 16384), &m, &third, true, false).is_none());
    }
}
