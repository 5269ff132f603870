//! The measurements of `npu bench`, on the Verilated NPU (cycle-exact):
//! array efficiency against K, whole tiled GEMMs (on-chip and end to end
//! over the link, against the link's byte bound), and simulation speed.

use crate::driver::{DriverError, Npu};
use crate::transport::SimTransport;
use npu_spec::protocol::{Bank, Counters, GemmTile, Request};
use npu_spec::{gemm_reference, Matrix, NpuConfig};
use serde::{Deserialize, Serialize};

/// One on-chip GEMM command of K steps (and `tiles` back to back).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KPoint {
    pub k: usize,
    pub tiles: usize,
    pub macs: u64,
    /// Engine cycles: MAC steps plus stalls (fill, drain, spacing).
    pub engine_cycles: u64,
    pub utilization: f64,
}

/// One whole GEMM through the driver.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GemmPoint {
    pub size: usize,
    pub macs: u64,
    pub engine_cycles: u64,
    pub device_cycles: u64,
    pub utilization_on_chip: f64,
    pub effective_tops_on_chip: f64,
    pub effective_tops_end_to_end: f64,
    /// Bytes that must cross: A and B in, C (INT32) out.
    pub bound_bytes: u64,
    pub bytes_on_wire: u64,
    pub seconds_end_to_end: f64,
    pub seconds_byte_bound: f64,
    pub link_efficiency: f64,
}

fn engine_cycles(c: &Counters) -> u64 {
    c.mac_cycles + c.stall
}

/// The simulated NPU of `config`, opened.
pub fn open_sim(config: &NpuConfig) -> Result<Npu, DriverError> {
    Npu::open(Box::new(SimTransport::new(config).map_err(|e| DriverError::Unsupported(e.to_string()))?), config.link.baud)
}

/// Array efficiency: one GEMM command of `k` steps (`tiles` tiles back to
/// back) on operands already in the scratchpads; K beyond the scratchpad
/// depth runs as several commands with accumulate.
pub fn k_point(npu: &mut Npu, k: usize, tiles: usize) -> Result<KPoint, DriverError> {
    let info = npu.info().clone();
    let (rows, cols) = (info.rows, info.cols);
    let depth = info.a_depth.min(info.b_depth);
    let chunk = k.min(depth);
    // Fill the entries the commands read (once per call: cheap beside the GEMM).
    let max_entries = (info.max_request - 4) / rows.max(cols);
    for (bank, lanes) in [(Bank::A, rows), (Bank::B, cols)] {
        let mut e = 0;
        while e < chunk {
            let n = max_entries.min(chunk - e);
            let data: Vec<u8> = (0..n * lanes).map(|i| (i * 37 + e) as u8).collect();
            npu.command(&Request::Write { bank, entry: e as u16, data }, 0, 0)?;
            e += n;
        }
    }
    npu.command(&Request::ClearCounters, 0, 10)?;
    let mut done = 0;
    while done < k {
        let kk = chunk.min(k - done);
        let t = GemmTile { a_entry: 0, b_entry: 0, acc_entry: 0, m: rows as u8, n: cols as u8, k: kk as u16, accumulate: done > 0, tiles: tiles as u16, a_step: 0, b_step: 0, acc_step: rows.min(info.acc_depth / tiles.max(1)) as u16 };
        npu.command(&Request::Gemm(t), 0, (tiles * (kk + 3 * (rows + cols))) as u64 + 100)?;
        done += kk;
    }
    let c = npu.counters()?;
    let ec = engine_cycles(&c);
    Ok(KPoint { k, tiles, macs: c.macs, engine_cycles: ec, utilization: c.macs as f64 / ((rows * cols) as f64 * ec as f64) })
}

/// The on-chip part of a `size`-cubed GEMM: exactly the GEMM commands the
/// driver's plan sends, without the WRITEs and READs around them (the
/// engine's timing does not depend on the values), so sizes whose operands
/// would take hours over a simulated UART are measured cycle-exactly.
pub fn on_chip_point(npu: &mut Npu, size: usize) -> Result<KPoint, DriverError> {
    let info = npu.info().clone();
    let plan = crate::plan::GemmPlan::new(crate::plan::Geometry::from(&info), size, size, size);
    npu.command(&Request::ClearCounters, 0, 10)?;
    for tile in plan.all_tiles() {
        let work = u64::from(tile.tiles) * (u64::from(tile.k) + 3 * (info.rows + info.cols) as u64) + 100;
        npu.command(&Request::Gemm(tile), 0, work)?;
    }
    let c = npu.counters()?;
    let ec = engine_cycles(&c);
    Ok(KPoint { k: size, tiles: c.tiles as usize, macs: c.macs, engine_cycles: ec, utilization: c.macs as f64 / ((info.rows * info.cols) as f64 * ec as f64) })
}

/// A random `size`-cubed GEMM through the driver, checked against the
/// reference, with its counters.
pub fn gemm_point(npu: &mut Npu, size: usize, seed: u64) -> Result<GemmPoint, DriverError> {
    let info = npu.info().clone();
    let mut rng = npu_spec::rng::XorShift::new(seed);
    let a = Matrix::from_fn(size, size, |_, _| rng.next_u64() as i8);
    let b = Matrix::from_fn(size, size, |_, _| rng.next_u64() as i8);
    npu.command(&Request::ClearCounters, 0, 10)?;
    let wire_before = npu.link_stats();
    let c = npu.gemm(&a, &b)?;
    let counters = npu.counters()?;
    let wire_after = npu.link_stats();
    if c != gemm_reference(&a, &b).expect("square") {
        return Err(DriverError::Unsupported("the NPU's GEMM differs from the reference".into()));
    }
    let hz = info.core_hz as f64;
    let macs = (size * size * size) as u64;
    let ec = engine_cycles(&counters);
    // The clear's answer and the COUNTERS request and answer are not the GEMM's.
    let device_cycles = counters.cycles;
    let bound_bytes = (2 * size * size + 4 * size * size) as u64;
    let seconds_end_to_end = device_cycles as f64 / hz;
    let seconds_byte_bound = bound_bytes as f64 * 10.0 / f64::from(info.baud);
    Ok(GemmPoint {
        size,
        macs,
        engine_cycles: ec,
        device_cycles,
        utilization_on_chip: macs as f64 / ((info.rows * info.cols) as f64 * ec as f64),
        effective_tops_on_chip: 2.0 * macs as f64 / (ec as f64 / hz) / 1e12,
        effective_tops_end_to_end: 2.0 * macs as f64 / seconds_end_to_end / 1e12,
        bound_bytes,
        bytes_on_wire: (wire_after.bytes_sent + wire_after.bytes_received) - (wire_before.bytes_sent + wire_before.bytes_received),
        seconds_end_to_end,
        seconds_byte_bound,
        link_efficiency: seconds_byte_bound / seconds_end_to_end,
    })
}
