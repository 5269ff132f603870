//! A convolution's im2col operand built on chip: the MOVEs that copy a
//! feature map's bytes, already in a byte bank, into the A entries a GEMM
//! reads, with zero padding at the edges.
//!
//! The feature map is pixel-major: pixel p (row-major, `width` pixels a
//! row) holds its `channels` bytes from byte index `p * pixel_bytes` of its
//! bank, channel c at `p * pixel_bytes + c`, as a layer's output lies in OUT
//! (one output row a pixel, its columns the channels; `pixel_bytes` is then
//! the bank's lanes). The A operand is what [`crate::plan`] would write for
//! `im2col(x) x weights`: tile t's step k (an A entry) holds in lane i the
//! patch value k of output pixel `t * rows + i`, k running over (ky, kx, c)
//! as TFLite lays out a filter.
//!
//! One MOVE zeroes the whole operand first (that is the padding), then each
//! (tile, ky, kx) copies the pixels it reads as runs: lane by lane, each run
//! the pixel's channels into consecutive entries. A run of lanes stops
//! where the output pixels wrap to the next row or leave the input.

use npu_spec::protocol::{Bank, Move, Place};

/// A feature map in a byte bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureMap {
    pub bank: Bank,
    /// Byte index of pixel 0's channel 0 (see [`Place::index`]).
    pub first_byte: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// Bytes from one pixel to the next (at least `channels`).
    pub pixel_bytes: usize,
}

/// A convolution's window: kernel, stride, zero padding at the top and left
/// (the bottom and right pad to the output size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub out_h: usize,
    pub out_w: usize,
}

impl Window {
    /// Patch values per output pixel for `channels` input channels: a GEMM's K.
    pub fn patch(&self, channels: usize) -> usize {
        self.kernel_h * self.kernel_w * channels
    }
}

/// The MOVEs that build the im2col operand of `x` under `w` in A from
/// entry `a_entry` on: `ceil(out_h * out_w / rows)` tiles of `patch`
/// entries each. `rows` is A's bytes an entry, `src_lanes` those of the
/// feature map's bank.
pub fn im2col_moves(x: &FeatureMap, w: &Window, a_entry: usize, rows: usize, src_lanes: usize) -> Result<Vec<Move>, String> {
    let k = w.patch(x.channels);
    let pixels = w.out_h * w.out_w;
    let tiles = pixels.div_ceil(rows);
    let entries = tiles * k;
    let mut moves = Vec::new();
    // The padding: the whole operand zero first.
    let zeros = Move::run(Bank::A, Place::default(), Bank::A, place(a_entry * rows, rows)?, count(entries * rows, "operand bytes")?);
    moves.push(Move { zeros: true, ..zeros });
    for t in 0..tiles {
        for ky in 0..w.kernel_h {
            for kx in 0..w.kernel_w {
                let first_step = a_entry + t * k + (ky * w.kernel_w + kx) * x.channels;
                // Lanes whose input pixel is inside the map, in runs along
                // one output row.
                let mut lane = 0;
                while lane < rows {
                    let source = |i: usize| -> Option<(usize, usize)> {
                        let p = t * rows + i;
                        if p >= pixels {
                            return None;
                        }
                        let (oy, ox) = (p / w.out_w, p % w.out_w);
                        let iy = (oy * w.stride + ky).checked_sub(w.pad_top).filter(|&v| v < x.height)?;
                        let ix = (ox * w.stride + kx).checked_sub(w.pad_left).filter(|&v| v < x.width)?;
                        Some((oy, iy * x.width + ix))
                    };
                    let Some((row, first)) = source(lane) else {
                        lane += 1;
                        continue;
                    };
                    let mut run = 1;
                    while lane + run < rows && source(lane + run).is_some_and(|(r, p)| r == row && p == first + run * w.stride) {
                        run += 1;
                    }
                    moves.push(Move {
                        src_bank: x.bank as u8,
                        dst_bank: Bank::A as u8,
                        src: place(x.first_byte + first * x.pixel_bytes, src_lanes)?,
                        dst: Place::new(count(first_step, "A entry")?, lane as u8),
                        count: count(x.channels, "channels")?,
                        runs: run as u16,
                        src_step: place(1, src_lanes)?,
                        src_run: place(w.stride * x.pixel_bytes, src_lanes)?,
                        dst_step: Place::new(1, 0),
                        dst_run: place(1, rows)?,
                        zeros: false,
                    });
                    lane += run;
                }
            }
        }
    }
    Ok(moves)
}

/// Byte `index` of a bank of `lanes` bytes an entry, as a place or stride.
fn place(index: usize, lanes: usize) -> Result<Place, String> {
    Place::of_index(index, lanes).ok_or_else(|| format!("byte {index} lies past entry 65535"))
}

/// A MOVE's count or runs.
fn count(n: usize, what: &str) -> Result<u16, String> {
    u16::try_from(n).map_err(|_| format!("{what} {n} exceeds a MOVE's 65535"))
}

/// Where an [`im2col_by_taps`] operand is staged: a byte bank's bytes
/// from `first_byte` on, `patch` rows of `pixels` bytes (tap-major).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Staging {
    pub bank: Bank,
    pub first_byte: usize,
    /// The bank's bytes an entry.
    pub lanes: usize,
}

/// The MOVEs that build the im2col operand of output rows `out_rows` of
/// `x` under `w`, in A from entry `a_entry` on (as [`im2col_moves`] lays it
/// out: tile t's step k in A entry `a_entry + t * patch`, lane i the output
/// pixel `t * rows + i` of these rows), in two passes through `staging`:
///
/// 1. into staging row `tap` (ky, kx, c), the tap's value under every
///    output pixel: one MOVE a tap (a rectangle of the map: a run an output
///    row, a step the stride), or, with more channels than output rows, one
///    MOVE a (ky, kx) and output row (a run a pixel's channels), or, when
///    the map is packed (`pixel_bytes == channels`), one MOVE a kernel row
///    and output row (a run a pixel's `kernel_w * channels` taps), whichever
///    takes fewest;
/// 2. one MOVE a lane: lane i of every tile, its `patch` bytes a staging
///    column apart (`rows` MOVEs).
///
/// So a convolution costs `kernel_h * min(kernel_w * min(channels, output
/// rows), output rows) + rows` commands, against one a tile and tap for [`im2col_moves`]. The map has no padding left to
/// add: `w.pad_top` and `w.pad_left` must be 0, and every window inside it
/// (store the map padded with the input's zero point, which is what a
/// padded tap must hold for the folded bias).
pub fn im2col_by_taps(x: &FeatureMap, w: &Window, out_rows: std::ops::Range<usize>, staging: &Staging, a_entry: usize, rows: usize, src_lanes: usize) -> Result<Vec<Move>, String> {
    if w.pad_top != 0 || w.pad_left != 0 {
        return Err("the map must be stored padded: the window has padding left".into());
    }
    if (w.out_h - 1) * w.stride + w.kernel_h > x.height || (w.out_w - 1) * w.stride + w.kernel_w > x.width {
        return Err(format!("a window falls outside the {}x{} map", x.height, x.width));
    }
    let k = w.patch(x.channels);
    let pixels = out_rows.len() * w.out_w;
    if pixels == 0 {
        return Ok(vec![]);
    }
    let mut moves = Vec::with_capacity(k + rows);
    // Each (ky, kx)'s C staging rows take one MOVE a channel (a run an
    // output row), or one an output row (a run a pixel's channels). A packed
    // map's kernel row (kx, c) is one stretch of bytes, as are its taps in
    // the patch: then one MOVE an output row may cover all of a kernel row's
    // kx. Whichever takes fewest commands.
    let r = out_rows.len();
    let packed = x.pixel_bytes == x.channels;
    let by_channel = x.channels <= r && !(packed && r < w.kernel_w * x.channels);
    let span = if packed && !by_channel { w.kernel_w } else { 1 };
    for ky in 0..w.kernel_h {
        for kx in (0..w.kernel_w).step_by(span) {
            let tap0 = (ky * w.kernel_w + kx) * x.channels;
            let src = |oy: usize, c: usize| place(x.first_byte + ((oy * w.stride + ky) * x.width + kx) * x.pixel_bytes + c, src_lanes);
            if by_channel {
                for c in 0..x.channels {
                    moves.push(Move {
                        src_bank: x.bank as u8,
                        dst_bank: staging.bank as u8,
                        src: src(out_rows.start, c)?,
                        dst: place(staging.first_byte + (tap0 + c) * pixels, staging.lanes)?,
                        count: count(w.out_w, "output width")?,
                        runs: count(r, "output rows")?,
                        src_step: place(w.stride * x.pixel_bytes, src_lanes)?,
                        src_run: place(w.stride * x.width * x.pixel_bytes, src_lanes)?,
                        dst_step: place(1, staging.lanes)?,
                        dst_run: place(w.out_w, staging.lanes)?,
                        zeros: false,
                    });
                }
            } else {
                for (i, oy) in out_rows.clone().enumerate() {
                    moves.push(Move {
                        src_bank: x.bank as u8,
                        dst_bank: staging.bank as u8,
                        src: src(oy, 0)?,
                        dst: place(staging.first_byte + tap0 * pixels + i * w.out_w, staging.lanes)?,
                        count: count(span * x.channels, "a MOVE's taps")?,
                        runs: count(w.out_w, "output width")?,
                        src_step: place(1, src_lanes)?,
                        src_run: place(w.stride * x.pixel_bytes, src_lanes)?,
                        dst_step: place(pixels, staging.lanes)?,
                        dst_run: place(1, staging.lanes)?,
                        zeros: false,
                    });
                }
            }
        }
    }
    for lane in 0..rows.min(pixels) {
        moves.push(Move {
            src_bank: staging.bank as u8,
            dst_bank: Bank::A as u8,
            src: place(staging.first_byte + lane, staging.lanes)?,
            dst: Place::new(count(a_entry, "A entry")?, lane as u8),
            count: count(k, "patch")?,
            runs: count((pixels - lane).div_ceil(rows), "tiles")?,
            src_step: place(pixels, staging.lanes)?,
            src_run: place(rows, staging.lanes)?,
            dst_step: Place::new(1, 0),
            dst_run: Place::new(count(k, "patch")?, 0),
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

    /// The operand as the host would build it: lane i of tile t's step k.
    fn im2col_reference(x: &[Vec<i8>], fm: &FeatureMap, w: &Window, rows: usize) -> Vec<Vec<i8>> {
        let k = w.patch(fm.channels);
        let pixels = w.out_h * w.out_w;
        let tiles = pixels.div_ceil(rows);
        let mut a = vec![vec![0i8; rows]; tiles * k];
        for p in 0..pixels {
            let (oy, ox) = (p / w.out_w, p % w.out_w);
            for ky in 0..w.kernel_h {
                for kx in 0..w.kernel_w {
                    let (iy, ix) = ((oy * w.stride + ky) as isize - w.pad_top as isize, (ox * w.stride + kx) as isize - w.pad_left as isize);
                    if iy < 0 || ix < 0 || iy >= fm.height as isize || ix >= fm.width as isize {
                        continue;
                    }
                    for c in 0..fm.channels {
                        a[(p / rows) * k + (ky * w.kernel_w + kx) * fm.channels + c][p % rows] = x[iy as usize * fm.width + ix as usize][c];
                    }
                }
            }
        }
        a
    }

    #[test]
    fn the_moves_build_the_operand_the_host_would_write() {
        let mut c = NpuConfig::default();
        c.memory.mover = true;
        for (h, wd, ch, kh, kw, stride, pad) in [(5usize, 5usize, 4usize, 3usize, 3usize, 1usize, 1usize), (6, 7, 3, 3, 3, 2, 1), (4, 6, 6, 2, 3, 1, 0), (3, 3, 1, 3, 3, 1, 1)] {
            let mut d = DeviceModel::new(&c);
            let pixel_bytes = ch.div_ceil(4) * 4;
            let x: Vec<Vec<i8>> = (0..h * wd).map(|p| (0..ch).map(|ci| (p * 7 + ci * 13 + 1) as i8).collect()).collect();
            for (p, v) in x.iter().enumerate() {
                for (ci, &b) in v.iter().enumerate() {
                    let i = 8 + p * pixel_bytes + ci;
                    d.out[i / 4][i % 4] = b;
                }
            }
            let fm = FeatureMap { bank: Bank::Out, first_byte: 8, height: h, width: wd, channels: ch, pixel_bytes };
            let out_h = (h + 2 * pad - kh) / stride + 1;
            let out_w = (wd + 2 * pad - kw) / stride + 1;
            let w = Window { kernel_h: kh, kernel_w: kw, stride, pad_top: pad, pad_left: pad, out_h, out_w };
            // Stale bytes where the operand goes: the zeros must clear them.
            d.a.iter_mut().take(400).for_each(|e| e.fill(99));
            for m in im2col_moves(&fm, &w, 10, 4, 4).unwrap() {
                assert_eq!(d.move_bytes(&m), Status::Ok, "{m:?}");
            }
            let want = im2col_reference(&x, &fm, &w, 4);
            assert_eq!(&d.a[10..10 + want.len()], &want[..], "{h}x{wd}x{ch} kernel {kh}x{kw} stride {stride} pad {pad}");
        }
    }

    #[test]
    fn two_passes_through_staging_build_the_same_operand() {
        let mut c = NpuConfig::default();
        c.memory.mover = true;
        // (map h, w, channels, kernel h, w, stride, output rows taken)
        for (h, wd, ch, kh, kw, stride, rows) in [(5usize, 5usize, 4usize, 3usize, 3usize, 1usize, 0..3usize), (7, 7, 3, 3, 3, 2, 1..3), (4, 6, 6, 2, 3, 1, 0..3), (3, 3, 1, 3, 3, 1, 0..1), (9, 8, 1, 4, 2, 2, 0..3), (8, 8, 5, 3, 3, 1, 1..5), (9, 9, 6, 3, 2, 2, 0..4)] {
            let mut d = DeviceModel::new(&c);
            let x: Vec<Vec<i8>> = (0..h * wd).map(|p| (0..ch).map(|ci| (p * 7 + ci * 13 + 1) as i8).collect()).collect();
            // The map packed (pixel_bytes = channels) in B from byte 6 on.
            for (p, v) in x.iter().enumerate() {
                for (ci, &b) in v.iter().enumerate() {
                    let i = 6 + p * ch + ci;
                    d.b[i / 4][i % 4] = b;
                }
            }
            let fm = FeatureMap { bank: Bank::B, first_byte: 6, height: h, width: wd, channels: ch, pixel_bytes: ch };
            let out_h = (h - kh) / stride + 1;
            let out_w = (wd - kw) / stride + 1;
            let w = Window { kernel_h: kh, kernel_w: kw, stride, pad_top: 0, pad_left: 0, out_h, out_w };
            let staging = Staging { bank: Bank::B, first_byte: 6 + h * wd * ch + 3, lanes: 4 };
            d.a.iter_mut().take(400).for_each(|e| e.fill(99));
            let moves = im2col_by_taps(&fm, &w, rows.clone(), &staging, 10, 4, 4).unwrap();
            assert_eq!(moves.len(), (kh * kw * ch.min(rows.len())).min(kh * rows.len()) + 4.min(rows.len() * out_w));
            for m in &moves {
                assert_eq!(d.move_bytes(m), Status::Ok, "{m:?}");
            }
            // The reference over the whole map, cut to the rows taken.
            let whole = im2col_reference(&x, &fm, &w, 4);
            let k = w.patch(ch);
            let pixels = rows.len() * out_w;
            for p in 0..pixels {
                let q = rows.start * out_w + p;
                for kk in 0..k {
                    assert_eq!(d.a[10 + (p / 4) * k + kk][p % 4], whole[(q / 4) * k + kk][q % 4], "{h}x{wd}x{ch} kernel {kh}x{kw} stride {stride} rows {rows:?}: pixel {p} tap {kk}");
                }
            }
        }
    }

    #[test]
    fn banks_of_one_lane_take_their_byte_steps_as_whole_entries() {
        // A 1x1 array: A and B have one byte an entry, so a one-byte step is
        // the next entry (a step of lane 1 would be refused).
        let mut c = NpuConfig::default();
        c.array.rows = 1;
        c.array.cols = 1;
        c.memory.mover = true;
        for (ch, rows) in [(3usize, 0..2usize), (1, 0..3)] {
            let mut d = DeviceModel::new(&c);
            let (h, wd) = (4, 4);
            let x: Vec<Vec<i8>> = (0..h * wd).map(|p| (0..ch).map(|ci| (p * 5 + ci * 3 + 2) as i8).collect()).collect();
            for (p, v) in x.iter().enumerate() {
                for (ci, &b) in v.iter().enumerate() {
                    d.b[p * ch + ci][0] = b;
                }
            }
            let fm = FeatureMap { bank: Bank::B, first_byte: 0, height: h, width: wd, channels: ch, pixel_bytes: ch };
            let w = Window { kernel_h: 2, kernel_w: 2, stride: 1, pad_top: 0, pad_left: 0, out_h: 3, out_w: 3 };
            let staging = Staging { bank: Bank::B, first_byte: h * wd * ch, lanes: 1 };
            for m in im2col_by_taps(&fm, &w, rows.clone(), &staging, 0, 1, 1).unwrap() {
                assert_eq!(d.move_bytes(&m), Status::Ok, "{m:?}");
            }
            let whole = im2col_reference(&x, &fm, &w, 1);
            let k = w.patch(ch);
            for p in 0..rows.len() * 3 {
                for kk in 0..k {
                    assert_eq!(d.a[p * k + kk][0], whole[(rows.start * 3 + p) * k + kk][0], "{ch} channels: pixel {p} tap {kk}");
                }
            }
        }
    }
}
