//! A convolution by shift and accumulate on chip: its input in a tap map
//! in A (see [`crate::tap_map`]), a GEMM command a kernel row (its taps'
//! copies of the map side by side), the rows summed in the accumulators, then the requantization and the placements
//! of any GEMM. Nothing is staged: the map is the operand.

use crate::driver::{AOperand, DriverError, Npu, Requant, Sink};
use crate::plan::{GemmPlan, Geometry};
use crate::tap_map::{TapMap, TapRead};
use npu_spec::protocol::Bank;
use npu_spec::Matrix;
use std::ops::Range;

/// One item of a convolution by taps.
#[derive(Debug, Clone)]
pub struct TapConv<'a> {
    /// The taps it reads and the map they are in.
    pub read: TapRead,
    /// The host's input (NHWC, one item) and the B entry it is staged at
    /// before it is placed into the map; `None` when the layer before
    /// placed it there.
    pub host: Option<(&'a [i8], usize)>,
    /// The filter as the GEMM's B: taps (ky, kx, c) down, output channels
    /// across.
    pub weights: &'a Matrix<i8>,
    /// The B entries its panels are in, written ahead (see
    /// [`Npu::write_panels`]; the driver skips them when B holds them).
    pub weights_at: Range<usize>,
}

impl Npu {
    /// One item of `conv`, requantized by `q`, its output where `sink`
    /// says: the output pixels (row-major) down, the channels across (an
    /// empty matrix when none of it comes back).
    pub fn conv_taps(&mut self, conv: &TapConv, q: &Requant, sink: Sink) -> Result<Matrix<i8>, DriverError> {
        let map = conv.read.map;
        let cols = self.info().cols;
        if let Some((x, staging)) = conv.host {
            let (h, w, c) = (map.height, map.width, map.channels);
            if x.len() != h * w * c {
                return Err(DriverError::Shape(format!("the input has {} values, not {h} x {w} x {c}", x.len())));
            }
            let mut data: Vec<u8> = x.iter().map(|&v| v as u8).collect();
            data.resize(data.len().div_ceil(cols) * cols, 0);
            self.write_entries(Bank::B, staging, &data)?;
            let moves = map.place_moves(Bank::B, staging * cols, c, cols, 0, 0..h * w, 0..c).map_err(DriverError::Shape)?;
            self.move_all(&moves)?;
        }
        let (k, n) = (conv.weights.rows(), conv.weights.cols());
        let plan = GemmPlan::taps(Geometry::from(self.info()), map.pixels(), k, n, map.tile, conv.weights_at.clone()).ok_or_else(|| DriverError::Shape(format!("a convolution by taps of {} pixels, K = {k}, N = {n} does not fit the device", map.pixels())))?;
        let mut out = Matrix::<i8>::zeros(if sink.to_host() { plan.m } else { 0 }, n);
        self.run_plan_checked(&plan, AOperand::Taps(conv.read), conv.weights, q, sink, &mut out)?;
        Ok(out)
    }

    /// Fills the padding of `map` with `zero_point`: written into B's
    /// entry `zp_entry` (a WRITE the driver skips when the entry holds it),
    /// then MOVEd into every padded place. (From B into A a MOVE streams,
    /// a byte a cycle; inside A it would take 4 to 6.)
    pub fn fill_tap_padding(&mut self, map: &TapMap, zero_point: i8, zp_entry: usize) -> Result<(), DriverError> {
        let lanes = self.info().cols;
        self.write_entries(Bank::B, zp_entry, &vec![zero_point as u8; lanes])?;
        let moves = map.padding_moves(Bank::B, zp_entry * lanes, lanes).map_err(DriverError::Shape)?;
        self.move_all(&moves)
    }
}
