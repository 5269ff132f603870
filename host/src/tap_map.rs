//! A convolution by shift and accumulate: its input map laid out in A so
//! that each kernel row is one GEMM command over consecutive A entries, the
//! rows summed in the accumulators (GEMM's accumulate flag), in place of an
//! im2col operand.
//!
//! A GEMM tile reads an A entry a step, its lanes the tile's output pixels.
//! So the map lies transposed, its lanes along x, in copies shifted by each
//! kernel column: entry (phase `py`, row `yq`, tile `xt`, copy `dx`,
//! channel `c`), lane i, holds the padded map's value at row `s * yq + py`,
//! column `s * (xt * tile + i) + dx` (s the stride). Kernel row ky of
//! output tile t = (oy, xt) then reads phase ky % s, row oy + ky / s, every
//! copy: entries `base(ky) + t * kw * C + (kx, c)`, K = kw * C consecutive
//! entries (the copies side by side, as the filter's taps (kx, c) are), one
//! step `kw * C` from each tile to the next, for every tile of the layer. A
//! convolution is then `kh` GEMM commands (K = kw * C each) an N block and
//! group of tiles.
//!
//! The map holds `kw / s` copies of the input where the im2col operand holds
//! `kh * kw / s²`: a layer's output is placed that many times, a byte a
//! cycle or so each, and nothing is staged.

use crate::im2col::Window;
use npu_spec::protocol::{Bank, GemmTile, Move, Place};
use std::ops::Range;

/// A feature map laid out for [`TapRead`]s, in A from `first_entry` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapMap {
    pub first_entry: usize,
    /// A's bytes an entry.
    pub lanes: usize,
    /// The input, unpadded.
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// The padding above and left of the input (the rest pads to the
    /// window).
    pub pad_top: usize,
    pub pad_left: usize,
    pub stride: usize,
    /// Column shifts kept: the kernel's width.
    pub copies: usize,
    /// Output pixels a tile (lanes used), tiles an output row, output rows.
    pub tile: usize,
    pub tiles_x: usize,
    pub out_h: usize,
    /// Padded rows a phase (`ceil(padded height / stride)`).
    pub phase_rows: usize,
}

impl TapMap {
    /// The map a convolution with window `w` reads from a `height x width x
    /// channels` input, on a device with `lanes` A lanes. A tile is the
    /// widest that cuts an output row into whole tiles: `lanes` pixels, or
    /// the row when it is narrower, else the largest divisor of the row
    /// below `lanes` (20 pixels on 16 lanes: tiles of 10), so that the
    /// sums lie a pixel an entry, in order.
    pub fn new(w: &Window, height: usize, width: usize, channels: usize, lanes: usize, first_entry: usize) -> Option<Self> {
        let s = w.stride;
        if s == 0 || w.out_w == 0 || w.out_h == 0 || w.kernel_h == 0 || w.kernel_w == 0 || channels == 0 || lanes == 0 {
            return None;
        }
        let tile = (1..=lanes.min(w.out_w)).rev().find(|&t| w.out_w.is_multiple_of(t))?;
        let padded_h = (w.out_h - 1) * s + w.kernel_h;
        Some(Self { first_entry, lanes, height, width, channels, pad_top: w.pad_top, pad_left: w.pad_left, stride: s, copies: w.kernel_w, tile, tiles_x: w.out_w / tile, out_h: w.out_h, phase_rows: padded_h.div_ceil(s) })
    }

    /// A entries the map takes.
    pub fn entries(&self) -> usize {
        self.stride * self.phase_rows * self.row_entries()
    }

    /// Output pixels.
    pub fn pixels(&self) -> usize {
        self.out_h * self.tiles_x * self.tile
    }

    /// Entries a tile of a padded row takes: its copies' channels.
    fn tile_entries(&self) -> usize {
        self.copies * self.channels
    }

    /// Entries a padded row of a phase takes (every tile and copy).
    fn row_entries(&self) -> usize {
        self.tiles_x * self.tile_entries()
    }

    /// The entry of copy `dx`, padded row `y`, tile `xt`, channel 0.
    fn entry(&self, dx: usize, y: usize, xt: usize) -> usize {
        let s = self.stride;
        self.first_entry + ((y % s) * self.phase_rows + y / s) * self.row_entries() + xt * self.tile_entries() + dx * self.channels
    }

    /// The padded column lane `i` of tile `xt` in copy `dx` holds.
    fn column(&self, dx: usize, xt: usize, i: usize) -> usize {
        self.stride * (xt * self.tile + i) + dx
    }

    /// The lanes of tile `xt` in copy `dx` whose column lies in the input's
    /// columns `xs` (a range: columns grow with the lane).
    fn lanes_in(&self, dx: usize, xt: usize, xs: &Range<usize>) -> Range<usize> {
        let inside = |i: usize| self.column(dx, xt, i).checked_sub(self.pad_left).is_some_and(|x| xs.contains(&x));
        let first = (0..self.tile).find(|&i| inside(i)).unwrap_or(self.tile);
        let end = (first..self.tile).find(|&i| !inside(i)).unwrap_or(self.tile);
        first..end
    }

    /// The MOVEs that fill the map's padding, everything outside the
    /// input, with the byte at index `zero_point` of `bank`: the input's
    /// zero point, which a padded tap must hold. Rows of padding take a MOVE
    /// each run of them, padded lanes one each over a phase's inside rows.
    pub fn padding_moves(&self, bank: Bank, zero_point: usize, bank_lanes: usize) -> Result<Vec<Move>, String> {
        let (s, lanes, row_bytes) = (self.stride, self.lanes, self.row_entries() * self.lanes);
        let zp = place(zero_point, bank_lanes)?;
        let fill = |dst: usize, count: usize, step: usize, runs: usize, run: usize| -> Result<Move, String> {
            Ok(Move { src_bank: bank as u8, dst_bank: Bank::A as u8, src: zp, dst: place(dst, lanes)?, count: u16_of(count, "bytes")?, runs: u16_of(runs, "runs")?, src_step: Place::default(), src_run: Place::default(), dst_step: place(step, lanes)?, dst_run: place(run, lanes)?, zeros: false })
        };
        let mut moves = vec![];
        for py in 0..s {
            // The phase's rows inside the input: one stretch.
            let inside = |yq: usize| (s * yq + py).checked_sub(self.pad_top).is_some_and(|y| y < self.height);
            let first = (0..self.phase_rows).find(|&yq| inside(yq)).unwrap_or(self.phase_rows);
            let end = (first..self.phase_rows).find(|&yq| !inside(yq)).unwrap_or(self.phase_rows);
            for rows in [0..first, end..self.phase_rows].into_iter().filter(|r| !r.is_empty()) {
                // Whole entries, one after another (every copy): as runs
                // of about the square root of them (a MOVE's count and
                // runs each take 16 bits).
                let at = self.entry(0, s * rows.start + py, 0) * lanes;
                let entries = rows.len() * self.row_entries();
                let per_run = (1..=entries).filter(|&d| entries.is_multiple_of(d) && d * d <= entries).max().unwrap_or(1);
                moves.push(fill(at, per_run * lanes, 1, entries / per_run, per_run * lanes)?);
            }
            if first == end {
                continue;
            }
            for dx in 0..self.copies {
                for xt in 0..self.tiles_x {
                    let kept = self.lanes_in(dx, xt, &(0..self.width));
                    for i in (0..self.tile).filter(|i| !kept.contains(i)) {
                        let at = self.entry(dx, s * first + py, xt) * lanes + i;
                        moves.push(fill(at, self.channels, lanes, end - first, row_bytes)?);
                    }
                }
            }
        }
        Ok(moves)
    }

    /// The MOVEs that place pixels `pixels` and channels `columns` of the
    /// input into the map, from `src_bank`: pixel p (row-major, `width` a
    /// row, row 0 the input's row `row0`) has its channel `columns.start +
    /// l` at byte `src + (p - pixels.start) * pixel_bytes + l` of a bank of
    /// `src_lanes` bytes an entry. A layer's output in OUT is such a source
    /// (`pixel_bytes` OUT's lanes), and so is the host's input in B.
    ///
    /// Each (copy, tile) stretch of a row is one MOVE (a run a pixel, a
    /// step a channel); where more rows of a phase have the same stretch
    /// than there are channels, one MOVE a channel covers them.
    #[allow(clippy::too_many_arguments)]
    pub fn place_moves(&self, src_bank: Bank, src: usize, pixel_bytes: usize, src_lanes: usize, row0: usize, pixels: Range<usize>, columns: Range<usize>) -> Result<Vec<Move>, String> {
        let (s, lanes, w) = (self.stride, self.lanes, self.width);
        if pixels.is_empty() || columns.is_empty() {
            return Ok(vec![]);
        }
        let from = |i: usize| place(i, src_lanes);
        let to = |i: usize| place(i, lanes);
        let n = columns.len();
        let mut moves = vec![];
        let first_row = pixels.start / w;
        let last_row = (pixels.end - 1) / w;
        for dx in 0..self.copies {
            for xt in 0..self.tiles_x {
                for py in 0..s {
                    // (source byte, destination byte, lanes): a stretch a row.
                    let mut stretches: Vec<(usize, usize, Range<usize>)> = vec![];
                    for r in first_row..=last_row {
                        let y = row0 + r;
                        let padded = y + self.pad_top;
                        if y >= self.height || padded % s != py || padded / s >= self.phase_rows {
                            continue;
                        }
                        let xs = (pixels.start.max(r * w) - r * w)..(pixels.end.min((r + 1) * w) - r * w);
                        let kept = self.lanes_in(dx, xt, &xs);
                        if kept.is_empty() {
                            continue;
                        }
                        let x = self.column(dx, xt, kept.start) - self.pad_left;
                        let src_byte = src + (r * w + x - pixels.start) * pixel_bytes;
                        let dst_byte = (self.entry(dx, padded, xt) + columns.start) * lanes + kept.start;
                        stretches.push((src_byte, dst_byte, kept));
                    }
                    // Rows with the same stretch one phase row apart, in runs.
                    let mut i = 0;
                    while i < stretches.len() {
                        let (src0, dst0, kept) = stretches[i].clone();
                        let mut rows = 1;
                        while i + rows < stretches.len() && stretches[i + rows].2 == kept && stretches[i + rows].0 == src0 + rows * s * w * pixel_bytes && stretches[i + rows].1 == dst0 + rows * self.row_entries() * lanes {
                            rows += 1;
                        }
                        if rows > n {
                            for l in 0..n {
                                moves.push(Move { src_bank: src_bank as u8, dst_bank: Bank::A as u8, src: from(src0 + l)?, dst: to(dst0 + l * lanes)?, count: u16_of(kept.len(), "lanes")?, runs: u16_of(rows, "rows")?, src_step: from(s * pixel_bytes)?, src_run: from(s * w * pixel_bytes)?, dst_step: to(1)?, dst_run: to(self.row_entries() * lanes)?, zeros: false });
                            }
                        } else {
                            for k in 0..rows {
                                let (src_byte, dst_byte, _) = stretches[i + k];
                                moves.push(Move { src_bank: src_bank as u8, dst_bank: Bank::A as u8, src: from(src_byte)?, dst: to(dst_byte)?, count: u16_of(n, "channels")?, runs: u16_of(kept.len(), "lanes")?, src_step: from(1)?, src_run: from(s * pixel_bytes)?, dst_step: to(lanes)?, dst_run: to(1)?, zeros: false });
                            }
                        }
                        i += rows;
                    }
                }
            }
        }
        Ok(moves)
    }
}

/// What a convolution reads from a [`TapMap`]: its taps, offset by (`dy`,
/// `dx`) in the map's padded rows and columns (a shortcut with less padding
/// than the convolution the map was laid out for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapRead {
    pub map: TapMap,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub dy: usize,
    pub dx: usize,
}

impl TapRead {
    /// How a convolution with window `w` reads `map`, or `None` when some
    /// of its taps are not in it (another stride or output size, more
    /// padding or a wider kernel than the map's).
    pub fn new(map: &TapMap, w: &Window) -> Option<Self> {
        if w.stride != map.stride || w.out_h != map.out_h || w.out_w != map.tiles_x * map.tile {
            return None;
        }
        let (dy, dx) = (map.pad_top.checked_sub(w.pad_top)?, map.pad_left.checked_sub(w.pad_left)?);
        let last_row = (dy + w.kernel_h - 1) / map.stride + map.out_h - 1;
        (dx + w.kernel_w <= map.copies && last_row < map.phase_rows).then_some(Self { map: *map, kernel_h: w.kernel_h, kernel_w: w.kernel_w, dy, dx })
    }

    /// The GEMM commands of output tiles `tiles` (of the map's `tile`
    /// pixels each, in row-major order) for the N block whose B panel (the
    /// filter's K = (ky, kx, c) steps) starts at `b_entry` and has `n`
    /// columns, its sums in the accumulators from `acc_entry` on, a pixel an
    /// entry: a command a kernel row (K = kw * C: its taps' copies lie side
    /// by side), each but the first adding to the sums.
    pub fn gemms(&self, tiles: Range<usize>, b_entry: usize, acc_entry: usize, n: usize) -> Vec<GemmTile> {
        let (m, c) = (self.map, self.map.channels);
        let k = self.kernel_w * c;
        (0..self.kernel_h)
            .map(|ky| GemmTile {
                a_entry: (m.entry(self.dx, self.dy + ky, 0) + tiles.start * m.tile_entries()) as u16,
                b_entry: (b_entry + ky * k) as u16,
                acc_entry: acc_entry as u16,
                m: m.tile as u8,
                n: n as u8,
                k: k as u16,
                accumulate: ky > 0,
                tiles: tiles.len() as u16,
                a_step: m.tile_entries() as u16,
                b_step: 0,
                acc_step: m.tile as u16,
            })
            .collect()
    }
}

/// Byte `index` of a bank of `lanes` bytes an entry, as a place or stride.
fn place(index: usize, lanes: usize) -> Result<Place, String> {
    Place::of_index(index, lanes).ok_or_else(|| format!("byte {index} lies past entry 65535"))
}

fn u16_of(n: usize, what: &str) -> Result<u16, String> {
    u16::try_from(n).map_err(|_| format!("{n} {what} exceed a MOVE's 65535"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use npu_spec::device_model::DeviceModel;
    use npu_spec::protocol::Status;
    use npu_spec::rng::XorShift;
    use npu_spec::NpuConfig;

    /// The convolution's INT32 sums the GEMMs must give: every tap of the
    /// padded input (the zero point outside) times the filter.
    fn reference(x: &[i8], (h, w, c): (usize, usize, usize), win: &Window, zp: i8, weights: &[Vec<i8>], n: usize) -> Vec<Vec<i32>> {
        let mut out = vec![vec![0i32; n]; win.out_h * win.out_w];
        for oy in 0..win.out_h {
            for ox in 0..win.out_w {
                for ky in 0..win.kernel_h {
                    for kx in 0..win.kernel_w {
                        let y = (oy * win.stride + ky).checked_sub(win.pad_top).filter(|&v| v < h);
                        let xx = (ox * win.stride + kx).checked_sub(win.pad_left).filter(|&v| v < w);
                        for ch in 0..c {
                            let v = match (y, xx) {
                                (Some(y), Some(xx)) => x[(y * w + xx) * c + ch],
                                _ => zp,
                            };
                            for j in 0..n {
                                out[oy * win.out_w + ox][j] += i32::from(v) * i32::from(weights[(ky * win.kernel_w + kx) * c + ch][j]);
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Places a random input from B into a map, fills its padding, runs
    /// the GEMMs of each window in `reads` on the device model, and checks
    /// every sum against the reference.
    fn check(lanes: usize, (h, w, c): (usize, usize, usize), win: Window, reads: &[Window], row_chunks: usize) {
        let mut cfg = NpuConfig::default();
        cfg.array.rows = lanes;
        cfg.array.cols = lanes;
        cfg.memory.mover = true;
        let mut d = DeviceModel::new(&cfg);
        let mut rng = XorShift::new((h * 31 + w * 7 + c) as u64);
        let x: Vec<i8> = (0..h * w * c).map(|_| rng.next_u64() as i8).collect();
        let zp = -7i8;
        // The input in B from entry 0, its zero point in the entry after it.
        let staged: Vec<u8> = x.iter().map(|&v| v as u8).collect();
        for (e, chunk) in staged.chunks(lanes).enumerate() {
            let mut entry = chunk.to_vec();
            entry.resize(lanes, 0);
            assert_eq!(d.write(Bank::B as u8, e as u16, &entry), Status::Ok);
        }
        let zp_entry = staged.len().div_ceil(lanes);
        assert_eq!(d.write(Bank::B as u8, zp_entry as u16, &vec![zp as u8; lanes]), Status::Ok);
        // Stale bytes where the map goes: the moves must leave none.
        for e in 100..3000 {
            d.a[e] = vec![99; lanes];
        }
        let map = TapMap::new(&win, h, w, c, lanes, 100).expect("a tap map");
        assert!(map.first_entry + map.entries() <= 3000);
        for m in map.padding_moves(Bank::B, zp_entry * lanes, lanes).unwrap() {
            assert_eq!(d.move_bytes(&m), Status::Ok);
        }
        // Placed in chunks of rows, and of channels.
        let rows_a_chunk = h.div_ceil(row_chunks);
        for r0 in (0..h).step_by(rows_a_chunk) {
            let r1 = (r0 + rows_a_chunk).min(h);
            for j0 in (0..c).step_by(lanes) {
                let j1 = (j0 + lanes).min(c);
                let src = r0 * w * c + j0;
                for m in map.place_moves(Bank::B, src, c, lanes, r0, 0..(r1 - r0) * w, j0..j1).unwrap() {
                    assert_eq!(d.move_bytes(&m), Status::Ok, "{m:?}");
                }
            }
        }
        for read in reads {
            let tr = TapRead::new(&map, read).expect("the map has the window's taps");
            let n = lanes.min(5);
            let weights: Vec<Vec<i8>> = (0..read.patch(c)).map(|_| (0..n).map(|_| rng.next_u64() as i8).collect()).collect();
            let b0 = 3000;
            for (k, row) in weights.iter().enumerate() {
                let mut entry: Vec<u8> = row.iter().map(|&v| v as u8).collect();
                entry.resize(lanes, 0);
                assert_eq!(d.write(Bank::B as u8, (b0 + k) as u16, &entry), Status::Ok);
            }
            let tiles = map.pixels() / map.tile;
            for t in tr.gemms(0..tiles, b0, 0, n) {
                assert_eq!(d.gemm(&t), Status::Ok, "{t:?}");
            }
            let want = reference(&x, (h, w, c), read, zp, &weights, n);
            for (p, row) in want.iter().enumerate() {
                assert_eq!(&d.acc[p][..n], row.as_slice(), "pixel {p} of window {read:?}");
            }
        }
    }

    fn window(k: usize, stride: usize, pad: usize, out_h: usize, out_w: usize) -> Window {
        Window { kernel_h: k, kernel_w: k, stride, pad_top: pad, pad_left: pad, out_h, out_w }
    }

    #[test]
    fn a_3x3_same_convolution_is_three_accumulated_gemms() {
        // 8 x 8 x 3 on 4 lanes: two tiles a row.
        check(4, (8, 8, 3), window(3, 1, 1, 8, 8), &[window(3, 1, 1, 8, 8)], 3);
        // A row narrower than the lanes: a tile is the row.
        check(8, (6, 6, 5), window(3, 1, 1, 6, 6), &[window(3, 1, 1, 6, 6)], 1);
        // A row wider than the lanes and no multiple of them: tiles of 5.
        check(8, (7, 10, 2), window(3, 1, 1, 7, 10), &[window(3, 1, 1, 7, 10)], 2);
    }

    #[test]
    fn a_strided_convolution_and_its_shortcut_read_one_map() {
        // ResNet-8's downsampling: 3x3 at stride 2, padding only below and
        // right; the 1x1 shortcut at stride 2 reads its tap (0, 0).
        check(4, (8, 8, 6), window(3, 2, 0, 4, 4), &[window(3, 2, 0, 4, 4), window(1, 2, 0, 4, 4)], 2);
        // Padding above and left too, and more rows of a phase than channels.
        check(4, (12, 8, 2), window(3, 2, 1, 6, 4), &[window(3, 2, 1, 6, 4)], 1);
    }

    #[test]
    fn a_map_refuses_what_it_cannot_hold() {
        // 6 pixels a row on 4 lanes: tiles of 3.
        let map = TapMap::new(&window(3, 1, 1, 6, 6), 6, 6, 3, 4, 0).unwrap();
        assert_eq!((map.tile, map.tiles_x), (3, 2));
        let map = TapMap::new(&window(3, 2, 0, 4, 4), 8, 8, 6, 4, 0).unwrap();
        assert!(TapRead::new(&map, &window(3, 1, 1, 4, 4)).is_none(), "another stride");
        assert!(TapRead::new(&map, &window(3, 2, 1, 4, 4)).is_none(), "more padding than the map");
        assert!(TapRead::new(&map, &window(5, 2, 0, 4, 4)).is_none(), "a wider kernel");
        // Three copies of the 8 x 8 x 6 map's 9 padded rows (5 a phase, 2
        // phases), one tile a row: 2 * 5 * 3 * 6 entries.
        assert_eq!(map.entries(), 180);
    }
}
