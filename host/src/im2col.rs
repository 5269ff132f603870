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
    let place = |index: usize, lanes: usize| Place::of_index(index, lanes).ok_or_else(|| format!("byte {index} lies past entry 65535"));
    let count = |n: usize, what: &str| u16::try_from(n).map_err(|_| format!("{what} {n} exceeds a MOVE's 65535"));
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
                        dst_run: Place::new(0, 1),
                        zeros: false,
                    });
                    lane += run;
                }
            }
        }
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
}
