//! The requantization unit and its memories in rust-hdl's simulator.

use crate::clocked::Clocked;
use npu_hdl::RequantBench;
use npu_spec::device_model::DeviceModel;
use npu_spec::protocol::Status;
use npu_spec::requant::RequantOutput;
use npu_spec::NpuConfig;

pub struct RequantBenchSim {
    sim: Clocked<RequantBench>,
}

impl RequantBenchSim {
    pub fn new(config: &NpuConfig) -> Self {
        Self { sim: Clocked::new(RequantBench::new(config), |b| &mut b.clock) }
    }

    /// Copies the model's accumulators, bias and OUT bank into the simulation.
    pub fn load(&mut self, model: &DeviceModel) {
        let uut = &mut self.sim.uut;
        for (e, entry) in model.acc.iter().enumerate() {
            for (j, &v) in entry.iter().enumerate() {
                uut.acc_mem[j].poke(e, u64::from(v as u32).into());
            }
        }
        for (e, entry) in model.out.iter().enumerate() {
            for (j, &v) in entry.iter().enumerate() {
                uut.out_mem[j].poke(e, u64::from(v as u8).into());
            }
        }
        for (e, entry) in [&model.bias, &model.multipliers, &model.shifts].into_iter().enumerate() {
            for (j, &v) in entry.iter().enumerate() {
                let at = uut.bias_index(e, j);
                uut.bias_mem.poke(at, u64::from(v as u32).into());
            }
        }
    }

    /// The OUT bank as the simulated hardware holds it.
    pub fn out(&self) -> Vec<Vec<i8>> {
        let uut = &self.sim.uut;
        (0..uut.out_mem[0].depth()).map(|e| uut.out_mem.iter().map(|m| m.peek(e).to_u8() as i8).collect()).collect()
    }

    /// Runs one REQUANT to `done`; the status and the cycles it took.
    pub fn run(&mut self, src: u16, dst: u16, count: u16, p: &RequantOutput, bias: bool) -> (Status, u64) {
        let u = &mut self.sim.uut.unit;
        u.src.next = u64::from(src).into();
        u.dst.next = u64::from(dst).into();
        u.count.next = u64::from(count).into();
        u.zero_point.next = u64::from(p.zero_point as u8).into();
        u.min.next = u64::from(p.min as u8).into();
        u.max.next = u64::from(p.max as u8).into();
        u.use_bias.next = bias;
        u.start.next = true;
        self.sim.tick();
        self.sim.uut.unit.start.next = false;
        let mut cycles = 1;
        loop {
            let u = &self.sim.uut.unit;
            if u.done.val() {
                return (Status::from_u8(u.error.val().to_u8()).expect("a protocol code"), cycles);
            }
            assert!(cycles < 10_000_000, "the requantizer did not finish");
            self.sim.tick();
            cycles += 1;
        }
    }
}
