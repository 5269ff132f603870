//! The Verilated NPU in this process, driven through its UART pins bit by
//! bit: the same bytes, the same frames and the same cycle counts as a board,
//! with no pseudo-terminal in between.
//!
//! Time here is simulated time: a time-out of one second is one second of the
//! NPU's clock (`core_hz` cycles), however long the simulation takes.

use super::Transport;
use npu_sim::npu_sim::{NpuSim, VerilatedNpu};
use npu_spec::NpuConfig;
use std::io;
use std::time::Duration;

pub struct SimTransport {
    sim: NpuSim<VerilatedNpu>,
    core_hz: u64,
    /// Bytes received and not yet read.
    pending: Vec<u8>,
    label: String,
}

impl SimTransport {
    /// Builds (or loads from the cache) the Verilated NPU of `config`.
    pub fn new(config: &NpuConfig) -> anyhow::Result<Self> {
        Self::with_vcd(config, None)
    }

    /// The same, tracing every cycle into a VCD file when `vcd` is given.
    pub fn with_vcd(config: &NpuConfig, vcd: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let pins = VerilatedNpu::new(config, vcd)?;
        let mut sim = NpuSim::with_pins(pins, config);
        sim.keep_raw_bytes();
        let label = format!("the simulated NPU ({}x{}, Verilator, in process)", config.array.rows, config.array.cols);
        Ok(Self { sim, core_hz: config.clock.core_hz, pending: vec![], label })
    }

    /// Clock cycles simulated so far.
    pub fn cycles(&self) -> u64 {
        self.sim.cycles()
    }

    fn cycles_of(&self, t: Duration) -> u64 {
        (t.as_secs_f64() * self.core_hz as f64).ceil() as u64
    }
}

impl Transport for SimTransport {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sim.send(bytes);
        Ok(())
    }

    fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        let budget = self.cycles_of(timeout);
        let start = self.sim.cycles();
        while self.pending.is_empty() && self.sim.cycles() - start < budget {
            // One character time at most between looks at the output.
            for _ in 0..256 {
                self.sim.tick();
            }
            self.pending.extend(self.sim.take_raw());
        }
        let n = self.pending.len().min(buf.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }

    fn resync(&mut self, quiet: Duration) -> io::Result<()> {
        self.sim.drain_line(0);
        for _ in 0..self.cycles_of(quiet) {
            self.sim.tick();
        }
        self.sim.take_raw();
        self.pending.clear();
        Ok(())
    }

    fn now(&self) -> Duration {
        Duration::from_secs_f64(self.sim.cycles() as f64 / self.core_hz as f64)
    }

    fn describe(&self) -> String {
        self.label.clone()
    }
}
