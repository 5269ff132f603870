//! A convolution whose im2col operand is built on chip: the host writes the
//! input feature map once (padded with its zero point), and MOVEs spread it
//! into the GEMM's A operand ([`im2col_by_taps`]), so the link carries the
//! map, not k x k copies of it.
//!
//! B holds, in this order: the weights (the plan's panels, from entry 0),
//! the padded map, and the staging rows of the im2col's first pass. A holds
//! the operand of as many output rows as fit (a *chunk*); a larger output is
//! done chunk by chunk, the map written once.

use crate::driver::{AOperand, DriverError, Npu, Requant, Sink};
use crate::im2col::{im2col_by_taps, FeatureMap, Staging, Window};
use crate::placement::pad_moves;
use npu_spec::protocol::{Move, Place};
use std::ops::Range;
use crate::plan::{GemmPlan, Geometry};
use npu_spec::protocol::{Bank, Info};
use npu_spec::Matrix;

/// One item of a convolution, as the hardware needs it.
#[derive(Debug, Clone, Copy)]
pub struct ConvOnChip<'a> {
    /// Where the `height x width x channels` input values are.
    pub input: MapSource<'a>,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// Kernel, stride, padding (top and left; the rest pads to the output
    /// size) and output size.
    pub window: Window,
    /// The input's zero point: what a tap in the padding holds, so that it
    /// adds nothing once the bias is folded.
    pub zero_point: i8,
    /// The filter as the GEMM's B: taps (ky, kx, c) down, output channels across.
    pub weights: &'a Matrix<i8>,
}

/// Where a convolution's input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapSource<'a> {
    /// On the host (NHWC, one item): written into B, padded.
    Host(&'a [i8]),
    /// Already on chip, padded with the zero point ([`padded_map`]'s
    /// shape), placed there by the layer before.
    OnChip(FeatureMap),
}

/// The entries of A and B a convolution may use: what lies outside them
/// (another layer's input or weights) stays as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub a: Range<usize>,
    pub b: Range<usize>,
    /// B entries of the weights when they are kept apart from `b` (so
    /// that they stay from one item to the next); else they open `b`.
    pub weights: Option<Range<usize>>,
}

impl Room {
    /// All of both scratchpads.
    pub fn all(info: &Info) -> Self {
        Self { a: 0..info.a_depth, b: 0..info.b_depth, weights: None }
    }
}

/// The padded map a convolution with window `w` reads from a `height x
/// width x channels` input: every window inside it, nothing past the last
/// one. Its bank and first byte are the caller's.
pub fn padded_map(w: &Window, channels: usize, bank: Bank, first_byte: usize) -> FeatureMap {
    let (height, width) = ((w.out_h - 1) * w.stride + w.kernel_h, (w.out_w - 1) * w.stride + w.kernel_w);
    FeatureMap { bank, first_byte, height, width, channels, pixel_bytes: channels }
}

/// Where one convolution lies in the banks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvLayout {
    /// The padded map (in B when the host writes it; its window has no
    /// padding left).
    pub map: FeatureMap,
    pub window: Window,
    pub staging: Staging,
    /// Output rows a chunk.
    pub chunk_rows: usize,
    /// The weights' B entries.
    pub weights: Range<usize>,
    /// The operand's A entries: from `a_first` to `a_end`.
    pub a_first: usize,
    pub a_end: usize,
    /// The byte past the staging area.
    pub staging_end: usize,
}

impl ConvLayout {
    /// The layout on a device within `room`, or `None` when the device
    /// cannot build this operand on chip (no mover, a K longer than the
    /// scratchpads, not one output row fitting A and the staging rows).
    pub fn new(info: &Info, conv: &ConvOnChip, room: &Room) -> Option<Self> {
        let g = Geometry::from(info);
        let w = conv.window;
        let k = w.patch(conv.channels);
        let n = conv.weights.cols();
        if !info.mover || k == 0 || n == 0 || w.out_h == 0 || w.out_w == 0 || g.acc_depth < g.rows || conv.weights.rows() != k || room.a.end > g.a_depth || room.b.end > g.b_depth {
            return None;
        }
        let plan = GemmPlan::within(g, 1, k, n, room.a.clone(), room.weights.clone().unwrap_or(room.b.clone()));
        if plan.k_chunk != k || room.weights.as_ref().is_some_and(|w| w.end > g.b_depth || (w.start < room.b.end && room.b.start < w.end)) {
            return None;
        }
        let weights = match &room.weights {
            Some(w) => w.clone(),
            None => room.b.start..room.b.start + plan.group_n * k,
        };
        let weight_end = if room.weights.is_some() { room.b.start } else { weights.end };
        // The rows of output a chunk can have, with the operand in `a` and
        // the staging from B's entry `staging_entry` to the room's end.
        let chunk_rows = |a: &Range<usize>, staging_entry: usize| {
            let staging_room = (room.b.end * g.cols).checked_sub(staging_entry * g.cols)?;
            let fits = |r: usize| (r * w.out_w).div_ceil(g.rows) * k <= a.len() && r * w.out_w * k <= staging_room && r * w.out_w <= usize::from(u16::MAX);
            (1..=w.out_h).take_while(|&r| fits(r)).last()
        };
        let layout = |map: FeatureMap, a: Range<usize>, staging_entry: usize, chunk_rows: usize| Self {
            map,
            window: Window { pad_top: 0, pad_left: 0, ..w },
            staging: Staging { bank: Bank::B, first_byte: staging_entry * g.cols, lanes: g.cols },
            chunk_rows,
            weights: weights.clone(),
            a_first: a.start,
            a_end: a.end,
            staging_end: room.b.end * g.cols,
        };
        match conv.input {
            MapSource::OnChip(map) => Some(layout(map, room.a.clone(), weight_end, chunk_rows(&room.a, weight_end)?)),
            MapSource::Host(_) => {
                // The host's map after the weights in B; or, when that
                // leaves too little B to stage in (weights kept apart that
                // fill most of it), at the top of A's room.
                let map = padded_map(&w, conv.channels, Bank::B, weight_end * g.cols);
                let map_bytes = map.height * map.width * conv.channels;
                let map_end = weight_end + map_bytes.div_ceil(g.cols);
                if let Some(r) = chunk_rows(&room.a, map_end) {
                    return Some(layout(map, room.a.clone(), map_end, r));
                }
                let first = room.a.end.checked_sub(map_bytes.div_ceil(g.rows)).filter(|&f| f >= room.a.start)?;
                let a = room.a.start..first;
                let r = chunk_rows(&a, weight_end)?;
                Some(layout(FeatureMap { bank: Bank::A, first_byte: first * g.rows, ..map }, a, weight_end, r))
            }
        }
    }

    /// Bytes of B the staging area has.
    pub fn staging_bytes(&self) -> usize {
        self.staging_end - self.staging.first_byte
    }

    /// The map's bytes, padded with the zero point, in whole entries of
    /// its bank (`lanes` bytes each).
    pub fn padded_map(&self, conv: &ConvOnChip, input: &[i8], lanes: usize) -> Vec<u8> {
        let (w, c) = (conv.window, conv.channels);
        let mut data = vec![conv.zero_point as u8; self.map.height * self.map.width * c];
        for y in 0..self.map.height {
            let Some(iy) = y.checked_sub(w.pad_top).filter(|&v| v < conv.height) else { continue };
            for x in 0..self.map.width {
                let Some(ix) = x.checked_sub(w.pad_left).filter(|&v| v < conv.width) else { continue };
                let at = (iy * conv.width + ix) * c;
                for (ch, &v) in input[at..at + c].iter().enumerate() {
                    data[(y * self.map.width + x) * c + ch] = v as u8;
                }
            }
        }
        data.resize(data.len().div_ceil(lanes) * lanes, 0);
        data
    }
}

/// Bytes a MOVE's request and answer take on the link (frame and CRC
/// included), for choosing between writing bytes and moving them.
const MOVE_LINK_BYTES: usize = 40;

impl Npu {
    /// The host's input into the layout's map, padded: as it is, or, when
    /// that is fewer bytes on the link, unpadded into the staging area (its
    /// zero point in the entry after it) and spread into the map by MOVEs:
    /// one for the rows, a few for the padding around them.
    fn write_map(&mut self, conv: &ConvOnChip, input: &[i8], layout: &ConvLayout) -> Result<(), DriverError> {
        let map = &layout.map;
        // A map in A is written whole: the spread's MOVEs fill the padding
        // from a zero point in the map's own bank, which is B.
        if map.bank == Bank::A {
            let rows = self.info().rows;
            return self.write_entries(Bank::A, map.first_byte / rows, &layout.padded_map(conv, input, rows));
        }
        let cols = self.info().cols;
        let padded = layout.padded_map(conv, input, cols);
        let w = &conv.window;
        let row_bytes = conv.width * conv.channels;
        let rows_kept = conv.height.min(map.height.saturating_sub(w.pad_top));
        let cols_kept = conv.width.min(map.width.saturating_sub(w.pad_left));
        let raw = input.len().div_ceil(cols) * cols;
        let room = layout.staging_bytes();
        let pads = pad_moves(map, w, conv.height, conv.width, 0, cols).map_err(DriverError::Shape)?;
        let spread_cost = raw + cols + (pads.len() + 1) * MOVE_LINK_BYTES;
        if !self.info().mover || spread_cost >= padded.len() || raw + cols > room || row_bytes > usize::from(u16::MAX) || rows_kept == 0 || cols_kept == 0 {
            return self.write_entries(Bank::B, map.first_byte / cols, &padded);
        }
        let first = layout.staging.first_byte / cols;
        let mut data: Vec<u8> = input.iter().map(|&v| v as u8).collect();
        data.resize(raw, 0);
        data.extend(std::iter::repeat_n(conv.zero_point as u8, cols));
        self.write_entries(Bank::B, first, &data)?;
        let zero_point = layout.staging.first_byte + raw;
        let mut moves = pad_moves(map, w, conv.height, conv.width, zero_point, cols).map_err(DriverError::Shape)?;
        let at = |i: usize| Place::of_index(i, cols).ok_or_else(|| DriverError::Shape(format!("byte {i} of B is past the 16-bit entries")));
        moves.push(Move {
            src_bank: Bank::B as u8,
            dst_bank: Bank::B as u8,
            src: at(layout.staging.first_byte)?,
            dst: at(map.first_byte + (w.pad_top * map.width + w.pad_left) * map.pixel_bytes)?,
            count: (cols_kept * conv.channels) as u16,
            runs: rows_kept as u16,
            src_step: at(1)?,
            src_run: at(row_bytes)?,
            dst_step: at(1)?,
            dst_run: at(map.width * map.pixel_bytes)?,
            zeros: false,
        });
        self.move_all(&moves)
    }

    /// One item of a convolution, requantized by the hardware: the output
    /// pixels (row-major) down, the output channels across, exactly as the
    /// GEMM of its im2col. `Ok(None)` when this device cannot build the
    /// operand on chip (see [`ConvLayout::new`]): nothing was sent.
    pub fn conv_requant(&mut self, conv: &ConvOnChip, q: &Requant) -> Result<Option<Matrix<i8>>, DriverError> {
        let room = Room::all(self.info());
        self.conv_step(conv, q, &room, Sink::Host)
    }

    /// [`Self::conv_requant`] within `room`, its output where `sink` says
    /// (the answer is an empty matrix when none of it comes back).
    pub fn conv_step(&mut self, conv: &ConvOnChip, q: &Requant, room: &Room, sink: Sink) -> Result<Option<Matrix<i8>>, DriverError> {
        let (h, w, c) = (conv.height, conv.width, conv.channels);
        if let MapSource::Host(input) = conv.input {
            if input.len() != h * w * c {
                return Err(DriverError::Shape(format!("the input has {} values, not {h} x {w} x {c}", input.len())));
            }
        }
        let Some(layout) = ConvLayout::new(self.info(), conv, room) else { return Ok(None) };
        let (rows, cols) = (self.info().rows, self.info().cols);
        let g = Geometry::from(self.info());
        let (k, n) = (conv.weights.rows(), conv.weights.cols());
        let win = layout.window;
        if let MapSource::Host(input) = conv.input {
            self.write_map(conv, input, &layout)?;
        }
        let src_lanes = if layout.map.bank == Bank::A { rows } else { cols };
        let mut out = Matrix::<i8>::zeros(if sink.to_host() { win.out_h * win.out_w } else { 0 }, n);
        for r0 in (0..win.out_h).step_by(layout.chunk_rows) {
            let out_rows = r0..(r0 + layout.chunk_rows).min(win.out_h);
            let pixels = out_rows.len() * win.out_w;
            let moves = im2col_by_taps(&layout.map, &win, out_rows, &layout.staging, layout.a_first, rows, src_lanes).map_err(DriverError::Shape)?;
            self.move_all(&moves)?;
            let (a_part, b_part) = (layout.a_first..layout.a_end, if room.weights.is_some() { layout.weights.clone() } else { layout.weights.start..room.b.end });
            let plan = GemmPlan::within(g, pixels, k, n, a_part.clone(), b_part).by_block(g, a_part.len(), layout.weights.len());
            let mut narrow = Matrix::<i8>::zeros(pixels, n);
            // (A residual ADD's kept tensor from this chunk's first pixel on.)
            let chunk_q = q.residual.map(|r| Requant { residual: Some(r.from_pixel(r0 * win.out_w)), ..q.clone() });
            self.run_plan_checked(&plan, AOperand::OnChip, conv.weights, chunk_q.as_ref().unwrap_or(q), sink.from_row(r0), &mut narrow)?;
            if sink.to_host() {
                for p in 0..pixels {
                    for j in 0..n {
                        out.set(r0 * win.out_w + p, j, narrow.get(p, j));
                    }
                }
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use npu_spec::NpuConfig;

    fn info(mover: bool) -> Info {
        let mut c = NpuConfig::default();
        c.memory.mover = mover;
        Info::of(&c)
    }

    fn conv<'a>(input: &'a [i8], weights: &'a Matrix<i8>, h: usize, w: usize, c: usize) -> ConvOnChip<'a> {
        let window = Window { kernel_h: 3, kernel_w: 3, stride: 1, pad_top: 1, pad_left: 1, out_h: h, out_w: w };
        ConvOnChip { input: MapSource::Host(input), height: h, width: w, channels: c, window, zero_point: -5, weights }
    }

    #[test]
    fn no_mover_no_layout() {
        let (x, wt) = (vec![0i8; 8 * 8 * 2], Matrix::<i8>::zeros(18, 4));
        assert!(ConvLayout::new(&info(false), &conv(&x, &wt, 8, 8, 2), &Room::all(&info(false))).is_none());
        assert!(ConvLayout::new(&info(true), &conv(&x, &wt, 8, 8, 2), &Room::all(&info(true))).is_some());
    }

    #[test]
    fn a_large_map_is_done_in_chunks_that_fit() {
        // ResNet-8's first blocks: 32 x 32 x 16, 3x3, K = 144. The weights
        // (576 entries) and the padded map (34 x 34 x 16) leave 44 KB of B
        // for staging: 9 output rows of 32 pixels' patches.
        let (x, wt) = (vec![0i8; 32 * 32 * 16], Matrix::<i8>::zeros(144, 16));
        let i = info(true);
        let l = ConvLayout::new(&i, &conv(&x, &wt, 32, 32, 16), &Room::all(&i)).unwrap();
        assert_eq!((l.map.height, l.map.width, l.map.first_byte), (34, 34, 576 * 4));
        assert_eq!(l.chunk_rows, 9);
        assert!(l.staging.first_byte + 9 * 32 * 144 <= i.b_depth * 4);
        // A map larger than B is not done on chip.
        let x = vec![0i8; 128 * 128 * 16];
        assert!(ConvLayout::new(&i, &conv(&x, &wt, 128, 128, 16), &Room::all(&i)).is_none());
    }

    #[test]
    fn a_layout_within_a_room_stays_in_it() {
        // The map already on chip at the top of A: no map in B, the weights
        // and staging in B's room, the operand in A's, chunks that fit.
        let (x, wt) = (vec![0i8; 32 * 32 * 16], Matrix::<i8>::zeros(144, 16));
        let i = info(true);
        let map = padded_map(&conv(&x, &wt, 32, 32, 16).window, 16, Bank::A, 15_000 * 4);
        let on_chip = ConvOnChip { input: MapSource::OnChip(map), ..conv(&x, &wt, 32, 32, 16) };
        let room = Room { a: 100..15_000, b: 0..12_000, weights: None };
        let l = ConvLayout::new(&i, &on_chip, &room).unwrap();
        assert_eq!((l.map, l.a_first, l.weights.clone()), (map, 100, 0..576));
        assert_eq!(l.staging.first_byte, 576 * 4);
        // Weights kept apart: staging from the room's first entry.
        let apart = Room { weights: Some(12_000..12_576), ..room.clone() };
        let l = ConvLayout::new(&i, &on_chip, &apart).unwrap();
        assert_eq!((l.weights.clone(), l.staging.first_byte), (12_000..12_576, 0));
        assert!(ConvLayout::new(&i, &on_chip, &Room { weights: Some(11_000..11_576), ..room.clone() }).is_none());
        assert!(l.staging.first_byte + l.chunk_rows * 32 * 144 <= 12_000 * 4);
        assert!((l.chunk_rows * 32).div_ceil(4) * 144 <= 14_900);
        assert!(ConvLayout::new(&i, &on_chip, &Room { a: 0..100, b: 0..12_000, weights: None }).is_none());
    }

    #[test]
    fn a_host_map_goes_to_the_top_of_a_when_b_is_too_full_to_stage_beside_it() {
        // ResNet-8's last block's first convolution: 16 x 16 x 32 in, 3x3 at
        // stride 2, K = 288; its map is 17 x 17 x 32 (2,312 entries). Weights
        // kept apart leave B 2,400 entries: the map and one row's staging
        // (8 x 288 bytes) do not fit there together.
        let (x, wt) = (vec![0i8; 16 * 16 * 32], Matrix::<i8>::zeros(288, 64));
        let window = Window { kernel_h: 3, kernel_w: 3, stride: 2, pad_top: 0, pad_left: 0, out_h: 8, out_w: 8 };
        let cv = ConvOnChip { window, ..conv(&x, &wt, 16, 16, 32) };
        let i = info(true);
        let room = Room { a: 0..10_000, b: 0..2_400, weights: Some(2_400..2_400 + 288 * 16) };
        let l = ConvLayout::new(&i, &cv, &room).unwrap();
        assert_eq!((l.map.bank, l.map.first_byte), (Bank::A, (10_000 - 2_312) * 4));
        assert_eq!((l.a_first, l.a_end), (0, 10_000 - 2_312));
        assert_eq!(l.staging.first_byte, 0);
        assert!(l.staging.first_byte + l.chunk_rows * 8 * 288 <= 2_400 * 4);
        // With B to spare the map stays in B, after the weights.
        let wide = Room { b: 0..4_000, weights: Some(4_000..4_000 + 288 * 16), ..room.clone() };
        let l = ConvLayout::new(&i, &cv, &wide).unwrap();
        assert_eq!((l.map.bank, l.map.first_byte, l.a_end), (Bank::B, 0, 10_000));
        // Neither fits: no layout.
        assert!(ConvLayout::new(&i, &cv, &Room { a: 0..2_400, ..room }).is_none());
    }

    #[test]
    fn the_padded_map_holds_the_zero_point_around_the_input() {
        let x: Vec<i8> = (1..=4).collect();
        let wt = Matrix::<i8>::zeros(9, 1);
        let cv = conv(&x, &wt, 2, 2, 1);
        let l = ConvLayout::new(&info(true), &cv, &Room::all(&info(true))).unwrap();
        let m = l.padded_map(&cv, &x, 4);
        let zp = -5i8 as u8;
        assert_eq!(&m[..16], &[zp, zp, zp, zp, zp, 1, 2, zp, zp, 3, 4, zp, zp, zp, zp, zp]);
    }
}
