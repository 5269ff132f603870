//! GEMM tiles through the systolic array in rust-hdl's simulator.
//!
//! [`ArraySim`] presents each tile's K steps at the array's edge ports, one
//! step per cycle, streams tiles back to back as closely as the array's
//! timing rules allow, drains every tile's sums while the next one computes,
//! and collects the results. Optional bubbles (cycles with `valid` low) test
//! that the array holds its sums when the operand stream stalls.

use npu_hdl::systolic_array::timing;
use npu_hdl::SystolicArray;
use npu_spec::Matrix;
use rust_hdl::prelude::*;
use std::collections::VecDeque;

use crate::clocked::Clocked;

/// A tile the array cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    #[error("tile {tile}: A is {a_rows}x{a_cols} and B is {b_rows}x{b_cols}: A's columns must equal B's rows")]
    Inner { tile: usize, a_rows: usize, a_cols: usize, b_rows: usize, b_cols: usize },
    #[error("tile {tile}: A has {m} rows; the {rows}x{cols} array takes 1..={rows} per tile")]
    TooManyRows { tile: usize, m: usize, rows: usize, cols: usize },
    #[error("tile {tile}: B has {n} columns; the {rows}x{cols} array takes 1..={cols} per tile")]
    TooManyCols { tile: usize, n: usize, rows: usize, cols: usize },
    #[error("tile {tile}: K = 0; a tile needs at least one step")]
    EmptyK { tile: usize },
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct ArrayRun {
    /// `A x B` of every tile, in order.
    pub results: Vec<Matrix<i32>>,
    /// Clock cycles from the first step to the last drained row.
    pub cycles: u64,
    /// Multiply-accumulates that belong to the tiles (`m * n * k` summed).
    pub useful_macs: u64,
}

impl ArrayRun {
    /// Useful MACs over the MACs the array could have done in `cycles`.
    pub fn utilization(&self, rows: usize, cols: usize) -> f64 {
        self.useful_macs as f64 / (rows * cols) as f64 / self.cycles.max(1) as f64
    }
}

/// The array's ports, as a simulator exposes them.
pub trait ArrayBackend {
    /// Drives one cycle's inputs: a step (`a` lanes, `b` lanes, `last`) or a
    /// bubble, and whether the next cycle drains (the array registers it).
    fn drive(&mut self, step: Option<(&[i8], &[i8], bool)>, drain_next: bool);
    /// The bottom row's result register of column `j`, this cycle.
    fn result(&self, j: usize) -> i32;
    /// One clock edge.
    fn tick(&mut self);
    fn cycles(&self) -> u64;
}

/// The array in rust-hdl's simulator.
pub struct RustHdlArray(Clocked<SystolicArray>);

impl ArrayBackend for RustHdlArray {
    fn drive(&mut self, step: Option<(&[i8], &[i8], bool)>, drain_next: bool) {
        let uut = &mut self.0.uut;
        match step {
            Some((a, b, last)) => {
                for (port, &v) in uut.a_in.iter_mut().zip(a) {
                    port.next = byte(v);
                }
                for (port, &v) in uut.b_in.iter_mut().zip(b) {
                    port.next = byte(v);
                }
                uut.valid.next = true;
                uut.last.next = last;
            }
            None => {
                uut.valid.next = false;
                uut.last.next = false;
            }
        }
        uut.drain_next.next = drain_next;
    }

    fn result(&self, j: usize) -> i32 {
        self.0.uut.result[j].val().to_u32() as i32
    }

    fn tick(&mut self) {
        self.0.tick()
    }

    fn cycles(&self) -> u64 {
        self.0.cycles()
    }
}

/// The systolic array in a simulator (rust-hdl's by default), driven with
/// whole tiles.
pub struct ArraySim<B: ArrayBackend = RustHdlArray> {
    sim: B,
    rows: usize,
    cols: usize,
    /// Clock edges from a PE's factors to its product (1 or 3).
    multiplier_latency: usize,
}

/// A tile whose sums are waiting to be drained.
struct PendingDrain {
    /// First cycle of the drain.
    start: u64,
    /// Where the tile's result goes.
    tile: usize,
}

impl ArraySim<RustHdlArray> {
    /// A fresh `rows x cols` array in rust-hdl's simulator (every register zero).
    pub fn new(rows: usize, cols: usize) -> Self {
        Self::with_multiplier_latency(rows, cols, 1)
    }

    /// The same, with multipliers of `latency` (1 or 3) clock edges.
    pub fn with_multiplier_latency(rows: usize, cols: usize, latency: usize) -> Self {
        let sim = Clocked::new(SystolicArray::with_multiplier_latency(rows, cols, latency), |a| &mut a.clock);
        Self { sim: RustHdlArray(sim), rows, cols, multiplier_latency: latency }
    }
}

impl<B: ArrayBackend> ArraySim<B> {
    /// An array behind any backend, its products registered once.
    pub fn with_backend(sim: B, rows: usize, cols: usize) -> Self {
        Self { sim, rows, cols, multiplier_latency: 1 }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `A x B` for any shapes: the output is cut into tiles of at most
    /// `rows x cols`, each computed with the whole K, streamed back to back.
    /// The run's `results` hold the single assembled product.
    pub fn gemm(&mut self, a: &Matrix<i8>, b: &Matrix<i8>) -> Result<ArrayRun, TileError> {
        if a.cols() != b.rows() {
            return Err(TileError::Inner { tile: 0, a_rows: a.rows(), a_cols: a.cols(), b_rows: b.rows(), b_cols: b.cols() });
        }
        let mut tiles = vec![];
        let mut origins = vec![];
        for i0 in (0..a.rows()).step_by(self.rows) {
            let m = self.rows.min(a.rows() - i0);
            let a_tile = Matrix::from_fn(m, a.cols(), |i, k| a.get(i0 + i, k));
            for j0 in (0..b.cols()).step_by(self.cols) {
                let n = self.cols.min(b.cols() - j0);
                let b_tile = Matrix::from_fn(b.rows(), n, |k, j| b.get(k, j0 + j));
                tiles.push((a_tile.clone(), b_tile));
                origins.push((i0, j0));
            }
        }
        let run = self.run(&tiles)?;
        let mut c = Matrix::zeros(a.rows(), b.cols());
        for (tile, &(i0, j0)) in run.results.iter().zip(&origins) {
            for i in 0..tile.rows() {
                for j in 0..tile.cols() {
                    c.set(i0 + i, j0 + j, tile.get(i, j));
                }
            }
        }
        Ok(ArrayRun { results: vec![c], ..run })
    }

    /// Runs the tiles back to back, with no bubbles.
    pub fn run(&mut self, tiles: &[(Matrix<i8>, Matrix<i8>)]) -> Result<ArrayRun, TileError> {
        self.run_with_bubbles(tiles, || false)
    }

    /// Runs the tiles back to back; before every step, cycles with `valid`
    /// low are inserted for as long as `bubble()` says true.
    pub fn run_with_bubbles(
        &mut self,
        tiles: &[(Matrix<i8>, Matrix<i8>)],
        mut bubble: impl FnMut() -> bool,
    ) -> Result<ArrayRun, TileError> {
        for (tile, (a, b)) in tiles.iter().enumerate() {
            self.check(tile, a, b)?;
        }
        let (rows, cols) = (self.rows, self.cols);
        let latency = timing::result_latency(rows, self.multiplier_latency) as u64;
        let spacing = timing::min_tile_spacing(rows, cols) as u64;
        let mut results: Vec<Matrix<i32>> =
            tiles.iter().map(|(a, b)| Matrix::zeros(a.rows(), b.cols())).collect();
        let mut drains: VecDeque<PendingDrain> = VecDeque::new();
        let start = self.sim.cycles();
        let mut previous_last: Option<u64> = None;

        for (tile, (a, b)) in tiles.iter().enumerate() {
            let k_steps = a.cols();
            for k in 0..k_steps {
                while bubble() {
                    self.cycle(None, &mut drains, &mut results);
                }
                let is_last = k + 1 == k_steps;
                if is_last {
                    // Hold the final step until the previous tile has drained far enough.
                    if let Some(prev) = previous_last {
                        while self.sim.cycles() < prev + spacing {
                            self.cycle(None, &mut drains, &mut results);
                        }
                    }
                    let now = self.sim.cycles();
                    drains.push_back(PendingDrain { start: now + latency, tile });
                    previous_last = Some(now);
                }
                self.cycle(Some((a, b, k, is_last)), &mut drains, &mut results);
            }
        }
        while !drains.is_empty() {
            self.cycle(None, &mut drains, &mut results);
        }
        let useful_macs = tiles.iter().map(|(a, b)| (a.rows() * a.cols() * b.cols()) as u64).sum();
        Ok(ArrayRun { results, cycles: self.sim.cycles() - start, useful_macs })
    }

    fn check(&self, tile: usize, a: &Matrix<i8>, b: &Matrix<i8>) -> Result<(), TileError> {
        let (rows, cols) = (self.rows, self.cols);
        if a.cols() != b.rows() {
            return Err(TileError::Inner { tile, a_rows: a.rows(), a_cols: a.cols(), b_rows: b.rows(), b_cols: b.cols() });
        }
        if a.rows() == 0 || a.rows() > rows {
            return Err(TileError::TooManyRows { tile, m: a.rows(), rows, cols });
        }
        if b.cols() == 0 || b.cols() > cols {
            return Err(TileError::TooManyCols { tile, n: b.cols(), rows, cols });
        }
        if a.cols() == 0 {
            return Err(TileError::EmptyK { tile });
        }
        Ok(())
    }

    /// One cycle: present a step (or a bubble), drain if a tile is due, and
    /// record the row the drain shows.
    fn cycle(
        &mut self,
        step: Option<(&Matrix<i8>, &Matrix<i8>, usize, bool)>,
        drains: &mut VecDeque<PendingDrain>,
        results: &mut [Matrix<i32>],
    ) {
        let now = self.sim.cycles();
        let draining = drains.front().filter(|d| now >= d.start);
        let lanes = step.map(|(a, b, k, last)| {
            // Rows and columns beyond the tile carry zeros.
            let a_lanes: Vec<i8> = (0..self.rows).map(|i| if i < a.rows() { a.get(i, k) } else { 0 }).collect();
            let b_lanes: Vec<i8> = (0..self.cols).map(|j| if j < b.cols() { b.get(k, j) } else { 0 }).collect();
            (a_lanes, b_lanes, last)
        });
        // The array registers its drain: it is told a cycle ahead.
        let rows = self.rows as u64;
        let drain_next = drains.iter().any(|d| now + 1 >= d.start && now + 1 < d.start + rows);
        self.sim.drive(lanes.as_ref().map(|(a, b, last)| (&a[..], &b[..], *last)), drain_next);
        if let Some(d) = draining {
            // Drain cycle s shows row rows - 1 - s of the tile's result.
            let s = (now - d.start) as usize;
            let row = self.rows - 1 - s;
            let out = &mut results[d.tile];
            if row < out.rows() {
                for j in 0..out.cols() {
                    out.set(row, j, self.sim.result(j));
                }
            }
            if s + 1 == self.rows {
                drains.pop_front();
            }
        }
        self.sim.tick();
    }
}

fn byte(v: i8) -> Bits<8> {
    u64::from(v as u8).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use npu_spec::gemm_reference;

    #[test]
    fn a_small_gemm_equals_the_reference() {
        let a = Matrix::from_vec(2, 3, vec![1, -2, 3, -128, 127, 0]).unwrap();
        let b = Matrix::from_vec(3, 2, vec![-128, 5, -128, 6, 7, -8]).unwrap();
        let mut sim = ArraySim::new(2, 2);
        let run = sim.run(&[(a.clone(), b.clone())]).unwrap();
        assert_eq!(run.results[0], gemm_reference(&a, &b).unwrap());
    }

    #[test]
    fn any_shape_is_tiled_onto_the_array() {
        let a = Matrix::from_fn(5, 7, |i, k| ((i * 37 + k * 91) % 256) as u8 as i8);
        let b = Matrix::from_fn(7, 3, |k, j| ((k * 53 + j * 29 + 128) % 256) as u8 as i8);
        let mut sim = ArraySim::new(2, 2);
        let run = sim.gemm(&a, &b).unwrap();
        assert_eq!(run.results[0], gemm_reference(&a, &b).unwrap());
    }

    #[test]
    fn oversized_tiles_are_refused_with_the_limit() {
        let mut sim = ArraySim::new(2, 2);
        let e = sim.run(&[(Matrix::zeros(3, 1), Matrix::zeros(1, 2))]).unwrap_err();
        assert_eq!(e.to_string(), "tile 0: A has 3 rows; the 2x2 array takes 1..=2 per tile");
        let e = sim.run(&[(Matrix::zeros(1, 2), Matrix::zeros(3, 2))]).unwrap_err();
        assert!(e.to_string().contains("A's columns must equal B's rows"), "{e}");
    }

    #[test]
    fn back_to_back_tiles_keep_the_array_busy() {
        // With K well above the tile spacing, streaming many tiles costs only
        // one fill and one drain: utilisation approaches 1. Registered
        // factors and products (latency 2 to 4) add cycles to the fill alone.
        let (rows, cols, k, tiles) = (2, 3, 64, 8);
        let t: Vec<_> = (0..tiles)
            .map(|n| {
                let a = Matrix::from_fn(rows, k, |i, kk| ((i * 7 + kk * 3 + n) % 256) as u8 as i8);
                let b = Matrix::from_fn(k, cols, |kk, j| ((kk * 5 + j * 11 + n) % 256) as u8 as i8);
                (a, b)
            })
            .collect();
        for latency in 1..=4 {
            let mut sim = ArraySim::with_multiplier_latency(rows, cols, latency);
            let run = sim.run(&t).unwrap();
            for (n, (a, b)) in t.iter().enumerate() {
                assert_eq!(run.results[n], gemm_reference(a, b).unwrap(), "latency {latency}, tile {n}");
            }
            // The steps take cycles 0..T; the last drain starts `latency`
            // cycles after cycle T - 1 and lasts `rows` cycles.
            let fill_and_drain = (timing::result_latency(rows, latency) + rows - 1) as u64;
            assert_eq!(run.cycles, (tiles * k) as u64 + fill_and_drain, "latency {latency}");
            assert!(run.utilization(rows, cols) > 0.98);
        }
    }
}
