//! The GEMM engine and its memories in rust-hdl's simulator: preload the
//! scratchpads, run a descriptor, read every accumulator back.

use crate::clocked::Clocked;
use npu_hdl::GemmBench;
use npu_spec::device_model::DeviceModel;
use npu_spec::protocol::{GemmTile, Status};
use npu_spec::NpuConfig;

/// What one descriptor did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmOutcome {
    pub status: Status,
    /// Cycles from `start` to `done`.
    pub cycles: u64,
    /// Cycles in which the array took a step, and in which it stalled.
    pub steps: u64,
    pub stalls: u64,
    pub tiles_done: u64,
}

pub struct GemmBenchSim {
    sim: Clocked<GemmBench>,
}

impl GemmBenchSim {
    pub fn new(config: &NpuConfig) -> Self {
        Self { sim: Clocked::new(GemmBench::new(config), |b| &mut b.clock) }
    }

    /// Copies the model's A, B and accumulator banks into the simulated memories.
    pub fn load(&mut self, model: &DeviceModel) {
        let uut = &mut self.sim.uut;
        for (e, entry) in model.a.iter().enumerate() {
            for (i, &v) in entry.iter().enumerate() {
                uut.a_mem[i].poke(e, u64::from(v as u8).into());
            }
        }
        for (e, entry) in model.b.iter().enumerate() {
            for (j, &v) in entry.iter().enumerate() {
                uut.b_mem[j].poke(e, u64::from(v as u8).into());
            }
        }
        for (e, entry) in model.acc.iter().enumerate() {
            for (j, &v) in entry.iter().enumerate() {
                uut.acc_mem[j].poke(e, u64::from(v as u32).into());
            }
        }
    }

    /// The accumulator bank as the simulated hardware holds it.
    pub fn acc(&self) -> Vec<Vec<i32>> {
        let uut = &self.sim.uut;
        let depth = uut.acc_mem[0].depth();
        (0..depth).map(|e| uut.acc_mem.iter().map(|m| m.peek(e).to_u32() as i32).collect()).collect()
    }

    /// Runs one descriptor to `done` (at most `max_cycles`).
    pub fn run(&mut self, t: &GemmTile, max_cycles: u64) -> GemmOutcome {
        let e = &mut self.sim.uut.engine;
        e.a_entry.next = u64::from(t.a_entry).into();
        e.b_entry.next = u64::from(t.b_entry).into();
        e.acc_entry.next = u64::from(t.acc_entry).into();
        e.m.next = u64::from(t.m).into();
        e.n.next = u64::from(t.n).into();
        e.k.next = u64::from(t.k).into();
        e.accumulate.next = t.accumulate;
        e.tiles.next = u64::from(t.tiles).into();
        e.a_step.next = u64::from(t.a_step).into();
        e.b_step.next = u64::from(t.b_step).into();
        e.acc_step.next = u64::from(t.acc_step).into();
        // The descriptor is on the inputs a cycle before `start` (as the
        // NPU's request register has it): the engine registers its tests.
        self.sim.tick();
        self.sim.uut.engine.start.next = true;
        self.sim.tick();
        self.sim.uut.engine.start.next = false;
        let mut out = GemmOutcome { status: Status::Ok, cycles: 1, steps: 0, stalls: 0, tiles_done: 0 };
        loop {
            let e = &self.sim.uut.engine;
            out.steps += u64::from(e.step.val());
            out.stalls += u64::from(e.stall.val());
            out.tiles_done += u64::from(e.tile_done.val());
            if e.done.val() {
                out.status = Status::from_u8(e.error.val().to_u8()).expect("the engine reports protocol codes");
                // The last row is written at the edge that ends done's cycle.
                self.sim.tick();
                return out;
            }
            assert!(out.cycles < max_cycles, "the GEMM engine did not finish in {max_cycles} cycles");
            self.sim.tick();
            out.cycles += 1;
        }
    }
}
