//! The requantization unit wired to accumulator, OUT and BIAS memories as
//! the NPU wires them, for tests: preload the accumulators and BIAS, run,
//! read OUT back.
//!
//! As in the NPU, the ACC read address and the lane are each a register
//! away from the unit (the lane selects both the accumulator's lane and
//! the BIAS word), and the BIAS entry too.

use crate::requant_unit::RequantUnit;
use crate::requantizer::bias_depth;
use npu_spec::NpuConfig;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct RequantBench {
    pub clock: Signal<In, Clock>,
    pub unit: RequantUnit,
    pub acc_mem: Vec<crate::Ram<Bits<32>>>,
    pub out_mem: Vec<crate::Ram<Bits<8>>>,
    /// The BIAS bank: entry e, lane j at word `e * bias_depth + j`.
    pub bias_mem: crate::Ram<Bits<32>>,
    /// The unit's lane, BIAS entry and ACC entry, registered (as in the NPU).
    lane_reg: DFF<Bits<8>>,
    entry_reg: DFF<Bits<2>>,
    acc_address_reg: DFF<Bits<16>>,
    lane_bits: Constant<Bits<16>>,
}

impl RequantBench {
    pub fn new(config: &NpuConfig) -> Self {
        let depth = config.memory.acc_depth;
        let lanes = bias_depth(config.array.cols);
        Self {
            clock: Default::default(),
            unit: RequantUnit::new(config),
            acc_mem: (0..config.array.cols).map(|_| crate::Ram::new(depth)).collect(),
            out_mem: (0..config.array.cols).map(|_| crate::Ram::new(depth)).collect(),
            bias_mem: crate::Ram::new(4 * lanes),
            lane_reg: Default::default(),
            entry_reg: Default::default(),
            acc_address_reg: Default::default(),
            lane_bits: Constant::new((lanes.trailing_zeros() as u64).into()),
        }
    }

    /// The lanes 1, 3, 5, ... there are.
    fn odd_lanes(&self) -> usize {
        self.acc_mem.len() / 2
    }

    /// The BIAS word of entry `entry`, lane `lane`.
    pub fn bias_index(&self, entry: usize, lane: usize) -> usize {
        entry * bias_depth(self.acc_mem.len()) + lane
    }
}

impl Logic for RequantBench {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, lane_reg, entry_reg, acc_address_reg);
        self.unit.clock.next = self.clock.val();
        self.lane_reg.d.next = self.unit.lane_select.val();
        self.entry_reg.d.next = self.unit.param_entry.val();
        self.acc_address_reg.d.next = self.unit.acc_address.val();
        self.bias_mem.clock.next = self.clock.val();
        self.bias_mem.read_address.next = bit_cast::<16, 8>(self.lane_reg.q.val()) | (bit_cast::<16, 2>(self.entry_reg.q.val()) << self.lane_bits.val());
        self.bias_mem.write_address.next = 0.into();
        self.bias_mem.write_data.next = 0.into();
        self.bias_mem.write_enable.next = false;
        self.unit.param.next = self.bias_mem.read_data.val();
        self.unit.acc_data.next = 0.into();
        for j in 0..self.acc_mem.len() {
            self.acc_mem[j].clock.next = self.clock.val();
            self.acc_mem[j].read_address.next = self.acc_address_reg.q.val();
            self.acc_mem[j].write_address.next = 0.into();
            self.acc_mem[j].write_data.next = 0.into();
            self.acc_mem[j].write_enable.next = false;
            if self.lane_reg.q.val().index() == j {
                self.unit.acc_data.next = self.acc_mem[j].read_data.val();
            }
            self.out_mem[j].clock.next = self.clock.val();
            self.out_mem[j].read_address.next = 0.into();
            self.out_mem[j].write_address.next = self.unit.out_address.val();
            self.out_mem[j].write_data.next = self.unit.out_data.val();
            self.out_mem[j].write_enable.next = self.unit.out_write_enable[j].val();
        }
        // The pipelined unit's second lane and its odd lanes' byte.
        for u in 0..self.unit.acc_data_odd.len() {
            self.unit.acc_data_odd[u].next = 0.into();
            for j in 0..self.acc_mem.len() {
                if self.lane_reg.q.val().index() + 1 == j {
                    self.unit.acc_data_odd[u].next = self.acc_mem[j].read_data.val();
                }
            }
            for p in 0..self.odd_lanes() {
                self.out_mem[2 * p + 1].write_data.next = self.unit.out_data_odd[u].val();
            }
        }
    }
}
