//! The whole NPU in rust-hdl's simulator, driven through its UART pins bit by
//! bit, as a host on a serial line would.
//!
//! The host side is a model of a UART: bytes to send become line levels held
//! for a bit time each (optionally a few percent off the device's rate, or a
//! break), and the device's line is sampled mid-bit back into bytes, which a
//! [`FrameDecoder`] turns into response payloads.

use crate::clocked::Clocked;
use npu_hdl::Npu;
use npu_spec::protocol::{Bank, FrameDecoder, FrameError, Request};
use npu_spec::NpuConfig;
use std::collections::VecDeque;

/// The host's receiver state.
#[derive(Debug, Clone, Copy)]
enum HostRx {
    Idle,
    /// Cycles into the character, and the bits so far.
    Receiving { count: u64, bits: u16 },
}

/// The NPU's pins, as a simulator exposes them.
pub trait NpuPins {
    /// Drives the line into the NPU for the next edge.
    fn set_rx(&mut self, level: bool);
    /// The line out of the NPU after the last edge.
    fn tx(&self) -> bool;
    fn tick(&mut self);
    fn cycles(&self) -> u64;
    /// The NPU's `busy` pin: a command is executing.
    fn busy(&self) -> bool;
}

/// The NPU in rust-hdl's simulator.
pub struct RustHdlNpu(Clocked<Npu>);

impl NpuPins for RustHdlNpu {
    fn set_rx(&mut self, level: bool) {
        self.0.uut.uart_rx.next = level;
    }

    fn tx(&self) -> bool {
        self.0.uut.uart_tx.val()
    }

    fn tick(&mut self) {
        self.0.tick()
    }

    fn cycles(&self) -> u64 {
        self.0.cycles()
    }

    fn busy(&self) -> bool {
        self.0.uut.busy.val()
    }
}

/// The NPU as a Verilated model of its generated Verilog.
pub struct VerilatedNpu {
    model: crate::verilated::VerilatedModel,
    rx: crate::verilated::PortId,
    tx: crate::verilated::PortId,
    busy: crate::verilated::PortId,
    /// The busy pin is low while busy (a board's LED).
    busy_active_low: bool,
}

impl VerilatedNpu {
    pub fn new(config: &NpuConfig, vcd: Option<&std::path::Path>) -> Result<Self, crate::verilated::ModelError> {
        let verilog = npu_hdl::verilog::npu_verilog(config);
        let model = crate::verilated::VerilatedModel::new(&verilog, npu_hdl::verilog::NPU_TOP, vcd)?;
        Self::on_pins(model, "busy", false)
    }

    /// Any model with `uart_rx` and `uart_tx` ports and a busy pin of the
    /// given name and polarity (the RTL, or a board build's netlist).
    pub fn on_pins(model: crate::verilated::VerilatedModel, busy: &str, busy_active_low: bool) -> Result<Self, crate::verilated::ModelError> {
        Ok(Self { rx: model.port("uart_rx")?, tx: model.port("uart_tx")?, busy: model.port(busy)?, busy_active_low, model })
    }

    pub fn model(&self) -> &crate::verilated::VerilatedModel {
        &self.model
    }
}

impl NpuPins for VerilatedNpu {
    fn set_rx(&mut self, level: bool) {
        self.model.set(self.rx, u64::from(level));
    }

    fn tx(&self) -> bool {
        self.model.get(self.tx) != 0
    }

    fn tick(&mut self) {
        self.model.tick(1)
    }

    fn cycles(&self) -> u64 {
        self.model.cycles()
    }

    fn busy(&self) -> bool {
        (self.model.get(self.busy) != 0) != self.busy_active_low
    }
}

pub struct NpuSim<P: NpuPins = RustHdlNpu> {
    sim: P,
    cpb: u64,
    /// Line levels still to drive, one per cycle.
    line: VecDeque<bool>,
    rx: HostRx,
    decoder: FrameDecoder,
    frames: VecDeque<Result<Vec<u8>, FrameError>>,
    /// Every byte received from the device, for a caller that wants the raw
    /// stream (the virtual board); kept only when `keep_raw` is set.
    raw: VecDeque<u8>,
    keep_raw: bool,
}

impl NpuSim<RustHdlNpu> {
    /// The NPU in rust-hdl's simulator.
    pub fn new(config: &NpuConfig) -> Self {
        let sim = RustHdlNpu(Clocked::new(Npu::new(config), |n| &mut n.clock));
        Self::with_pins(sim, config)
    }

    /// The simulated circuit, for looking at its memories.
    pub fn npu(&self) -> &Npu {
        &self.sim.0.uut
    }

    /// The receiver's and the executor's states.
    pub fn states(&self) -> (npu_hdl::frame_receiver::FrameState, npu_hdl::executor::ExecState) {
        self.sim.0.uut.states()
    }

    /// Sets a lane of a bank entry in the simulated hardware (for tests of
    /// ACC and OUT, which the link only reads).
    pub fn poke(&mut self, bank: Bank, entry: usize, lane: usize, value: u32) {
        self.sim.0.uut.poke(bank, entry, lane, value)
    }

    /// A lane of a bank entry as the simulated hardware holds it.
    pub fn peek(&self, bank: Bank, entry: usize, lane: usize) -> u32 {
        self.sim.0.uut.peek(bank, entry, lane)
    }
}

impl<P: NpuPins> NpuSim<P> {
    /// The NPU behind any simulator's pins.
    pub fn with_pins(mut sim: P, config: &NpuConfig) -> Self {
        sim.set_rx(true);
        sim.tick();
        Self {
            sim,
            cpb: config.clocks_per_bit(),
            line: VecDeque::new(),
            rx: HostRx::Idle,
            decoder: FrameDecoder::new(),
            frames: VecDeque::new(),
            raw: VecDeque::new(),
            keep_raw: false,
        }
    }

    /// Clock cycles run so far.
    pub fn cycles(&self) -> u64 {
        self.sim.cycles()
    }

    /// Queues `bytes` at the device's baud.
    pub fn send(&mut self, bytes: &[u8]) {
        self.send_skewed(bytes, 0);
    }

    /// Queues `bytes` with every bit `per_mille` thousandths longer (or
    /// shorter, when negative) than the device expects.
    pub fn send_skewed(&mut self, bytes: &[u8], per_mille: i64) {
        let bit = |n: u64| ((self.cpb * (1000 + per_mille) as u64 * (n + 1)) / 1000) - ((self.cpb * (1000 + per_mille) as u64 * n) / 1000);
        for &b in bytes {
            let levels = std::iter::once(false).chain((0..8).map(|i| b >> i & 1 == 1)).chain(std::iter::once(true));
            for (n, level) in levels.enumerate() {
                for _ in 0..bit(n as u64) {
                    self.line.push_back(level);
                }
            }
        }
    }

    /// Queues a break: the line held low for `bits` bit times.
    pub fn send_break(&mut self, bits: u64) {
        for _ in 0..bits * self.cpb {
            self.line.push_back(false);
        }
        for _ in 0..2 * self.cpb {
            self.line.push_back(true);
        }
    }

    /// Queues silence for `bits` bit times.
    pub fn idle(&mut self, bits: u64) {
        for _ in 0..bits * self.cpb {
            self.line.push_back(true);
        }
    }

    /// One clock cycle of the device and both ends of the line.
    pub fn tick(&mut self) {
        let level = self.line.pop_front().unwrap_or(true);
        self.sim.set_rx(level);
        self.sim.tick();
        let tx = self.sim.tx();
        self.rx = match self.rx {
            HostRx::Idle if !tx => HostRx::Receiving { count: 0, bits: 0 },
            HostRx::Idle => HostRx::Idle,
            HostRx::Receiving { count, bits } => {
                let count = count + 1;
                // Sample mid-bit: bit n (0 = start) at n * cpb + cpb / 2.
                if count >= self.cpb / 2 && (count - self.cpb / 2).is_multiple_of(self.cpb) {
                    let n = (count - self.cpb / 2) / self.cpb;
                    let bits = bits | (u16::from(tx) << n);
                    if n == 9 {
                        if bits & 1 == 0 && bits >> 9 == 1 {
                            let byte = (bits >> 1) as u8;
                            if self.keep_raw {
                                self.raw.push_back(byte);
                            } else {
                                self.frames.extend(self.decoder.push(&[byte]));
                            }
                        }
                        HostRx::Idle
                    } else {
                        HostRx::Receiving { count, bits }
                    }
                } else {
                    HostRx::Receiving { count, bits }
                }
            }
        };
    }

    /// Runs until a response frame arrives (or `max_cycles` pass: `None`).
    pub fn next_frame(&mut self, max_cycles: u64) -> Option<Result<Vec<u8>, FrameError>> {
        for _ in 0..max_cycles {
            if let Some(f) = self.frames.pop_front() {
                return Some(f);
            }
            self.tick();
        }
        self.frames.pop_front()
    }

    /// Sends a request and waits for its response payload.
    pub fn request(&mut self, r: &Request, max_cycles: u64) -> Option<Result<Vec<u8>, FrameError>> {
        self.send(&r.frame());
        self.next_frame(max_cycles)
    }

    /// Runs until the line to the device has been sent and `bits` more bit times passed.
    pub fn drain_line(&mut self, bits: u64) {
        while !self.line.is_empty() {
            self.tick();
        }
        for _ in 0..bits * self.cpb {
            self.tick();
        }
    }

    /// From now on, bytes from the device are kept raw for [`NpuSim::take_raw`]
    /// instead of being decoded into frames.
    pub fn keep_raw_bytes(&mut self) {
        self.keep_raw = true;
    }

    /// The raw bytes received from the device since the last call.
    pub fn take_raw(&mut self) -> Vec<u8> {
        self.raw.drain(..).collect()
    }

    /// Whether the line to the device still has levels queued.
    pub fn sending(&self) -> bool {
        !self.line.is_empty()
    }

    /// Whether the device is executing a command.
    pub fn device_busy(&self) -> bool {
        self.sim.busy()
    }

    /// Whether a character from the device is being received.
    pub fn receiving(&self) -> bool {
        matches!(self.rx, HostRx::Receiving { .. })
    }

    /// The pins' simulator.
    pub fn pins(&self) -> &P {
        &self.sim
    }
}

/// Simulated cycles per second of wall time for the NPU behind `sim` under
/// a stream of COUNTERS requests (the UART busy both ways), over `cycles`.
pub fn uart_rate<P: NpuPins>(sim: &mut NpuSim<P>, cycles: u64) -> f64 {
    let frame = Request::Counters.frame();
    let start = sim.cycles();
    let started = std::time::Instant::now();
    while sim.cycles() - start < cycles {
        sim.send(&frame);
        sim.drain_line(0);
    }
    (sim.cycles() - start) as f64 / started.elapsed().as_secs_f64()
}
