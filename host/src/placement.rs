//! A layer's INT8 output left on chip: the MOVEs that copy it from OUT to
//! where the next layer reads it, in place of READs to the host.
//!
//! A GEMM's requantized results lie in OUT an output row an entry, an
//! output column a lane (one N block of columns at a time, its rows in
//! consecutive entries). For a convolution an output row is a pixel and a
//! column a channel. A [`Placement`] says which byte of the destination
//! bank each (pixel, channel) goes to: for the next convolution, the inside
//! of its padded feature map; for a FULLY_CONNECTED after a RESHAPE, its
//! operand's K entries in one lane of A.

use crate::im2col::{FeatureMap, Window};
use crate::tap_map::TapMap;
use npu_spec::protocol::{Bank, Move, Place};
use std::ops::Range;

/// Where output element (pixel `p`, channel `j`) goes: byte
/// `first_byte + (p / row_pixels) * row_bytes + (p % row_pixels) * pixel_bytes + j * channel_bytes`
/// of `bank`, for the pixels of the first `keep_rows` rows and `keep_pixels`
/// pixels a row (the others are not read by the next layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub bank: Bank,
    pub first_byte: usize,
    /// Output pixels a row (the producing layer's output width).
    pub row_pixels: usize,
    pub row_bytes: usize,
    pub pixel_bytes: usize,
    pub channel_bytes: usize,
    pub keep_rows: usize,
    pub keep_pixels: usize,
    /// Channels in blocks (`block_channels` a block, block b's bytes
    /// `b * block_bytes` further on), in place of `channel_bytes` apart
    /// across the blocks: see [`Placement::into_blocks`].
    pub blocks: Option<(usize, usize)>,
    /// Into a [`TapMap`] instead, pixel 0 its input's row `.1`: see
    /// [`Placement::into_taps`].
    pub taps: Option<(TapMap, usize)>,
}

impl Placement {
    /// Into the padded map `map` of a convolution with window `w` (its own
    /// padding), whose input is `height x width` pixels: the map's inside.
    pub fn into_map(map: &FeatureMap, w: &Window, height: usize, width: usize) -> Self {
        Self {
            bank: map.bank,
            first_byte: map.first_byte + (w.pad_top * map.width + w.pad_left) * map.pixel_bytes,
            row_pixels: width,
            row_bytes: map.width * map.pixel_bytes,
            pixel_bytes: map.pixel_bytes,
            channel_bytes: 1,
            keep_rows: height.min(map.height.saturating_sub(w.pad_top)),
            keep_pixels: width.min(map.width.saturating_sub(w.pad_left)),
            blocks: None,
            taps: None,
        }
    }

    /// Into `bank` from entry `first_entry` on as a GEMM's output lies in
    /// OUT: `cols` channels a block (the bank's lanes), lane j channel
    /// `block * cols + j`; block b's `out_h x out_w` pixels in consecutive
    /// entries from `first_entry + b * out_h * out_w`. In B, an ADD's kept
    /// tensor (see [`crate::driver::Residual`]); in A, a GEMM's A operand
    /// transposed, channels down and pixels along K (a pool's sums).
    pub fn into_blocks(bank: Bank, first_entry: usize, cols: usize, out_h: usize, out_w: usize) -> Self {
        Self {
            bank,
            first_byte: first_entry * cols,
            row_pixels: out_w,
            row_bytes: out_w * cols,
            pixel_bytes: cols,
            channel_bytes: 1,
            keep_rows: out_h,
            keep_pixels: out_w,
            blocks: Some((cols, out_h * out_w * cols)),
            taps: None,
        }
    }

    /// Into the tap map `map` (see [`crate::tap_map`]), which lies in A:
    /// the output is the map's input, pixel 0 its first row's first.
    pub fn into_taps(map: &TapMap) -> Self {
        Self { bank: Bank::A, first_byte: map.first_entry * map.lanes, row_pixels: map.width, row_bytes: 0, pixel_bytes: 0, channel_bytes: 0, keep_rows: map.height, keep_pixels: map.width, blocks: None, taps: Some((*map, 0)) }
    }

    /// The byte offset of channel `j`, the first of an N block.
    fn channel_offset(&self, j: usize) -> usize {
        match self.blocks {
            Some((per, bytes)) => j / per * bytes + j % per * self.channel_bytes,
            None => j * self.channel_bytes,
        }
    }

    /// Into lane `lane` of A entries `first_entry..`, value `k = p *
    /// channels + j` at entry `first_entry + k`: a FULLY_CONNECTED's
    /// operand, an `out_h x out_w` output flattened as a RESHAPE of NHWC
    /// does. `rows` is A's lanes.
    pub fn into_operand(first_entry: usize, lane: usize, rows: usize, out_h: usize, out_w: usize, channels: usize) -> Self {
        Self {
            bank: Bank::A,
            first_byte: first_entry * rows + lane,
            row_pixels: out_w,
            row_bytes: out_w * channels * rows,
            pixel_bytes: channels * rows,
            channel_bytes: rows,
            keep_rows: out_h,
            keep_pixels: out_w,
            blocks: None,
            taps: None,
        }
    }

    /// Whether the kept rows follow one another with nothing between, so
    /// that one run of pixels crosses rows.
    fn rows_back_to_back(&self) -> bool {
        self.keep_pixels == self.row_pixels && self.row_bytes == self.row_pixels * self.pixel_bytes
    }

    /// The same placement for the output from row `row` on, counted from
    /// its pixel 0: for a layer done in chunks of whole output rows.
    pub fn from_row(&self, row: usize) -> Self {
        let taps = self.taps.map(|(map, row0)| (map, row0 + row));
        Self { first_byte: self.first_byte + row * self.row_bytes, keep_rows: self.keep_rows.saturating_sub(row), taps, ..*self }
    }

    /// The MOVEs of output pixels `pixels` and columns `columns`, which lie
    /// in OUT from entry `out_entry` on (lane 0 the first column).
    /// `out_lanes` and `dst_lanes` are OUT's and the destination bank's
    /// bytes an entry. One MOVE a kept stretch of a row (of the kept rows
    /// when they lie back to back), or, for more whole rows in a row than
    /// columns, one MOVE a column over those rows.
    pub fn moves(&self, out_entry: usize, pixels: Range<usize>, columns: Range<usize>, out_lanes: usize, dst_lanes: usize) -> Result<Vec<Move>, String> {
        if let Some((map, row0)) = self.taps {
            return map.place_moves(Bank::Out, out_entry * out_lanes, out_lanes, out_lanes, row0, pixels, columns);
        }
        let (p0, j0) = (pixels.start, columns.start);
        let columns = columns.len();
        let place = |index: usize| Place::of_index(index, dst_lanes).ok_or_else(|| format!("byte {index} of {:?} is past the 16-bit entries", self.bank));
        let from = |index: usize| Place::of_index(index, out_lanes).ok_or_else(|| format!("byte {index} of OUT is past the 16-bit entries"));
        let runs = |n: usize| u16::try_from(n).map_err(|_| format!("{n} runs exceed a MOVE's 65535"));
        // The kept stretches of pixels: (first, count).
        let mut stretches = vec![];
        let mut p = p0;
        while p < pixels.end {
            let (row, x) = (p / self.row_pixels, p % self.row_pixels);
            // The rest of this row within the pixels asked for; when rows
            // lie back to back whole, the rest of the kept rows.
            let row_end = if self.rows_back_to_back() { self.keep_rows * self.row_pixels } else { p - x + self.row_pixels };
            let run_end = row_end.max(p + 1).min(pixels.end);
            let kept = if row >= self.keep_rows {
                0
            } else if self.rows_back_to_back() {
                run_end - p
            } else {
                run_end.min(p - x + self.keep_pixels).saturating_sub(p)
            };
            if kept > 0 {
                stretches.push((p, kept));
            }
            p = run_end;
        }
        let whole = |s: &(usize, usize)| !self.rows_back_to_back() && s.0.is_multiple_of(self.row_pixels) && s.1 == self.keep_pixels;
        let mut moves = vec![];
        let mut i = 0;
        while i < stretches.len() {
            let (first, kept) = stretches[i];
            let (row, x) = (first / self.row_pixels, first % self.row_pixels);
            let mut rows = 0;
            while i + rows < stretches.len() && whole(&stretches[i + rows]) && stretches[i + rows].0 == first + rows * self.row_pixels {
                rows += 1;
            }
            let src = (out_entry + first - p0) * out_lanes;
            let dst = self.first_byte + row * self.row_bytes + x * self.pixel_bytes + self.channel_offset(j0);
            if rows > columns {
                // A column a MOVE: a run a row, a step a pixel.
                for l in 0..columns {
                    moves.push(Move {
                        src_bank: Bank::Out as u8,
                        dst_bank: self.bank as u8,
                        src: from(src + l)?,
                        dst: place(dst + l * self.channel_bytes)?,
                        count: runs(self.keep_pixels)?,
                        runs: runs(rows)?,
                        src_step: from(out_lanes)?,
                        src_run: from(self.row_pixels * out_lanes)?,
                        dst_step: place(self.pixel_bytes)?,
                        dst_run: place(self.row_bytes)?,
                        zeros: false,
                    });
                }
                i += rows;
                continue;
            }
            // A stretch a MOVE: a run a pixel, a step a column.
            moves.push(Move {
                src_bank: Bank::Out as u8,
                dst_bank: self.bank as u8,
                src: from(src)?,
                dst: place(dst)?,
                count: columns as u16,
                runs: runs(kept)?,
                src_step: from(1)?,
                src_run: from(out_lanes)?,
                dst_step: place(self.channel_bytes)?,
                dst_run: place(self.pixel_bytes)?,
                zeros: false,
            });
            i += 1;
        }
        Ok(moves)
    }
}

/// The MOVEs that fill the padding of `map` (a convolution's padded input,
/// its inside `height x width` pixels at (`pad_top`, `pad_left`)) with the
/// byte at index `source` of the same bank: the zero point, which a padded
/// tap must hold. Rows above and below the inside are one run each, the
/// columns left and right of it a run a row.
pub fn pad_moves(map: &FeatureMap, w: &Window, height: usize, width: usize, source: usize, lanes: usize) -> Result<Vec<Move>, String> {
    let place = |index: usize| Place::of_index(index, lanes).ok_or_else(|| format!("byte {index} is past the 16-bit entries"));
    let row_bytes = map.width * map.pixel_bytes;
    let inside_rows = height.min(map.height.saturating_sub(w.pad_top));
    let inside_cols = width.min(map.width.saturating_sub(w.pad_left));
    let right = map.width - w.pad_left.min(map.width) - inside_cols;
    // (first byte, bytes a run, runs): what the padding is.
    let mut spans = vec![];
    let below = w.pad_top + inside_rows;
    for (first_row, rows) in [(0, w.pad_top.min(map.height)), (below, map.height.saturating_sub(below))] {
        if rows > 0 {
            spans.push((first_row * row_bytes, rows * row_bytes, 1));
        }
    }
    if inside_rows > 0 {
        let top = w.pad_top * row_bytes;
        spans.push((top, w.pad_left.min(map.width) * map.pixel_bytes, inside_rows));
        spans.push((top + (w.pad_left + inside_cols) * map.pixel_bytes, right * map.pixel_bytes, inside_rows));
    }
    let mut moves = vec![];
    for (first, bytes, runs) in spans.into_iter().filter(|s| s.1 > 0) {
        // A run longer than a MOVE's count is cut into runs of whole rows' worth.
        let per = bytes.min(usize::from(u16::MAX));
        let (count, runs, run) = if runs == 1 && bytes > per { (row_bytes, bytes / row_bytes, row_bytes) } else { (per, runs, row_bytes) };
        moves.push(Move {
            src_bank: map.bank as u8,
            dst_bank: map.bank as u8,
            src: place(source)?,
            dst: place(map.first_byte + first)?,
            count: u16::try_from(count).map_err(|_| "a map row longer than 65535 bytes")?,
            runs: runs as u16,
            src_step: Place::default(),
            src_run: Place::default(),
            dst_step: place(1)?,
            dst_run: place(run)?,
            zeros: false,
        });
    }
    Ok(moves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use npu_spec::device_model::DeviceModel;
    use npu_spec::protocol::Status;
    use npu_spec::NpuConfig;

    fn device() -> DeviceModel {
        let mut c = NpuConfig::default();
        c.memory.mover = true;
        DeviceModel::new(&c)
    }

    /// The map a 3x3 SAME convolution reads from a 5 x 6 x 3 input.
    fn map_and_window() -> (FeatureMap, Window) {
        let w = Window { kernel_h: 3, kernel_w: 3, stride: 1, pad_top: 1, pad_left: 1, out_h: 5, out_w: 6 };
        (FeatureMap { bank: Bank::A, first_byte: 40 * 4, height: 7, width: 8, channels: 3, pixel_bytes: 3 }, w)
    }

    #[test]
    fn an_output_lands_inside_a_padded_map_and_the_padding_holds_the_zero_point() {
        let (map, w) = map_and_window();
        let mut d = device();
        let (cols, rows) = (4, 4);
        // Output pixel p, channel j (3 channels: lanes 0..3 of one N block) is 10p + j, in OUT from entry 8.
        for p in 0..30 {
            for j in 0..3 {
                d.out[8 + p][j] = (10 * p + j) as u8 as i8;
            }
        }
        let zp_at = 200 * rows;
        d.a[200][0] = i8::MIN;
        let placed = Placement::into_map(&map, &w, 5, 6);
        let mut moves = pad_moves(&map, &w, 5, 6, zp_at, rows).unwrap();
        moves.extend(placed.moves(8, 0..30, 0..3, cols, rows).unwrap());
        for m in &moves {
            assert_eq!(d.move_bytes(m), Status::Ok, "{m:?}");
        }
        for y in 0..7 {
            for x in 0..8 {
                for c in 0..3 {
                    let at = map.first_byte + (y * 8 + x) * 3 + c;
                    let got = d.a[at / rows][at % rows] as u8;
                    let inside = (1..6).contains(&y) && (1..7).contains(&x);
                    let want = if inside { (10 * ((y - 1) * 6 + x - 1) + c) as u8 } else { 0x80 };
                    assert_eq!(got, want, "y {y} x {x} c {c}");
                }
            }
        }
        // One MOVE a column (5 whole rows, 3 columns), four for the padding.
        assert_eq!(moves.len(), 3 + 4);
    }

    #[test]
    fn an_output_kept_in_blocks_lies_in_b_as_it_lay_in_out() {
        // A 2 x 3 output of 6 channels: two N blocks of 4 lanes. Each block's
        // rows lie in OUT from entry 8 (block 0) and 20 (block 1), done in
        // two groups of rows; kept in B from entry 100, block b at 100 + 6b.
        let mut d = device();
        let cols = 4;
        for p in 0..6 {
            for j in 0..6 {
                let (entry, lane) = (8 + 12 * (j / 4) + p, j % 4);
                d.out[entry][lane] = (10 * p + j) as i8;
            }
        }
        let kept = Placement::into_blocks(Bank::B, 100, cols, 2, 3);
        for rows in [0..4, 4..6] {
            let part = if rows.start == 0 { kept } else { kept.from_row(0) };
            for (block, columns) in [(0, 0..4), (1, 4..6)] {
                for m in part.moves(8 + 12 * block + rows.start, rows.clone(), columns, cols, cols).unwrap() {
                    assert_eq!(d.move_bytes(&m), Status::Ok, "{m:?}");
                }
            }
        }
        for p in 0..6 {
            for j in 0..6 {
                assert_eq!(d.b[100 + 6 * (j / 4) + p][j % 4], (10 * p + j) as i8, "pixel {p} channel {j}");
            }
        }
    }

    #[test]
    fn a_group_that_starts_and_ends_inside_rows_places_the_same_bytes() {
        let (map, w) = map_and_window();
        let placed = Placement::into_map(&map, &w, 5, 6);
        let (cols, rows) = (4, 4);
        let run = |groups: &[(usize, usize)]| {
            let mut d = device();
            for p in 0..30 {
                for j in 0..3 {
                    d.out[p][j] = (7 * p + j) as i8;
                }
            }
            let mut n = 0;
            for &(first, end) in groups {
                for m in placed.moves(first, first..end, 0..3, cols, rows).unwrap() {
                    assert_eq!(d.move_bytes(&m), Status::Ok, "{m:?}");
                    n += 1;
                }
            }
            (d.a, n)
        };
        // Pixels 0..30 at once (a MOVE a column), or in groups cut inside rows.
        let (whole, n_whole) = run(&[(0, 30)]);
        let (cut, n_cut) = run(&[(0, 4), (4, 27), (27, 30)]);
        assert_eq!(whole, cut);
        assert_eq!((n_whole, n_cut), (3, 1 + 1 + 3 + 1 + 1));
    }

    #[test]
    fn pixels_the_next_layer_does_not_read_are_not_moved() {
        // A stride-2 window over 6 x 6 without bottom and right padding reads 5 rows and columns.
        let w = Window { kernel_h: 3, kernel_w: 3, stride: 2, pad_top: 0, pad_left: 0, out_h: 2, out_w: 2 };
        let map = FeatureMap { bank: Bank::A, first_byte: 0, height: 5, width: 5, channels: 1, pixel_bytes: 1 };
        let placed = Placement::into_map(&map, &w, 6, 6);
        let moves = placed.moves(0, 0..36, 0..1, 4, 4).unwrap();
        // 5 of the 6 rows, 5 of the 6 pixels a row: one MOVE for the one column.
        assert_eq!(moves.len(), 1);
        assert_eq!((moves[0].count, moves[0].runs), (5, 5));
        assert!(pad_moves(&map, &w, 6, 6, 99, 4).unwrap().is_empty());
    }

    #[test]
    fn an_output_flattened_into_one_lane_of_a() {
        let mut d = device();
        let (cols, rows) = (4, 4);
        // 6 pixels of 6 channels: two N blocks, the second of 2 columns.
        let placed = Placement::into_operand(100, 2, rows, 2, 3, 6);
        for (j0, width) in [(0, 4), (4, 2)] {
            for p in 0..6 {
                for j in 0..width {
                    d.out[p][j] = (p * 6 + j0 + j) as i8;
                }
            }
            for m in placed.moves(0, 0..6, j0..j0 + width, cols, rows).unwrap() {
                assert_eq!(d.move_bytes(&m), Status::Ok);
            }
        }
        for k in 0..36 {
            assert_eq!(d.a[100 + k][2], k as i8);
        }
    }
}
