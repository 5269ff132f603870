//! The requantization unit the config asks for (`[requant] unit`): the
//! serial [`Requantizer`] or the [`RequantPipeline`], behind one set of
//! ports, so that the NPU is wired once. Exactly one of the two is built.

use crate::requant_pipeline::RequantPipeline;
use crate::requantizer::Requantizer;
use crate::vecs::signals;
use npu_spec::config::RequantUnit as Kind;
use npu_spec::NpuConfig;
use rust_hdl::prelude::*;

/// The DSPs the config's unit uses.
pub fn dsps(config: &NpuConfig) -> u64 {
    match config.requant.unit {
        Kind::Serial => 0,
        Kind::Pipelined => crate::requant_pipeline::DSPS,
    }
}

/// The odd-lane paths (ports, and the NPU's register and multiplexer) the
/// config's unit needs: one for the pipelined unit's second slot, none for
/// the serial unit.
pub fn odd_lane_paths(config: &NpuConfig) -> usize {
    usize::from(config.requant.unit == Kind::Pipelined)
}

/// Ports as [`Requantizer`]'s (see there).
#[derive(LogicBlock)]
pub struct RequantUnit {
    pub clock: Signal<In, Clock>,
    pub start: Signal<In, Bit>,
    pub src: Signal<In, Bits<16>>,
    pub dst: Signal<In, Bits<16>>,
    pub count: Signal<In, Bits<16>>,
    pub zero_point: Signal<In, Bits<8>>,
    pub min: Signal<In, Bits<8>>,
    pub max: Signal<In, Bits<8>>,
    pub use_bias: Signal<In, Bit>,
    pub busy: Signal<Out, Bit>,
    pub busy_next: Signal<Out, Bit>,
    pub acc_address_next: Signal<Out, Bits<16>>,
    pub done: Signal<Out, Bit>,
    pub error: Signal<Out, Bits<8>>,
    pub acc_address: Signal<Out, Bits<16>>,
    pub lane_select: Signal<Out, Bits<8>>,
    pub param_entry: Signal<Out, Bits<2>>,
    pub acc_data: Signal<In, Bits<32>>,
    /// Lane `lane_select + 1`: the pipelined unit's second slot (one
    /// port with that unit, none with the serial one, which reads one lane
    /// and whose Verilog, and so the iCEBreaker's placement, stays as it was).
    pub acc_data_odd: Vec<Signal<In, Bits<32>>>,
    pub param: Signal<In, Bits<32>>,
    pub out_address: Signal<Out, Bits<16>>,
    /// The byte for the lane written (the pipelined unit: for the even lane
    /// of its pair), and the pipelined unit's byte for the odd lane (one
    /// port with that unit, none with the serial one).
    pub out_data: Signal<Out, Bits<8>>,
    pub out_data_odd: Vec<Signal<Out, Bits<8>>>,
    pub out_write_enable: Vec<Signal<Out, Bit>>,
    /// The unit's `out_lanes`, spread onto `out_write_enable`; the bits
    /// above the lanes are read by nothing (named so for the lint).
    lanes: Signal<Local, Bits<32>>,
    unused_lanes: Signal<Local, Bits<32>>,
    /// One of the two units (the other list is empty).
    serial: Vec<Requantizer>,
    pipelined: Vec<RequantPipeline>,
}

impl RequantUnit {
    pub fn new(config: &NpuConfig) -> Self {
        let pairs = odd_lane_paths(config);
        let (serial, pipelined) = match config.requant.unit {
            Kind::Serial => (vec![Requantizer::new(config)], vec![]),
            Kind::Pipelined => (vec![], vec![RequantPipeline::new(config)]),
        };
        Self {
            clock: Default::default(),
            start: Default::default(),
            src: Default::default(),
            dst: Default::default(),
            count: Default::default(),
            zero_point: Default::default(),
            min: Default::default(),
            max: Default::default(),
            use_bias: Default::default(),
            busy: Default::default(),
            busy_next: Default::default(),
            acc_address_next: Default::default(),
            done: Default::default(),
            error: Default::default(),
            acc_address: Default::default(),
            lane_select: Default::default(),
            param_entry: Default::default(),
            acc_data: Default::default(),
            acc_data_odd: signals(pairs),
            param: Default::default(),
            out_address: Default::default(),
            out_data: Default::default(),
            out_data_odd: signals(pairs),
            out_write_enable: signals(config.array.cols),
            lanes: Default::default(),
            unused_lanes: Default::default(),
            serial,
            pipelined,
        }
    }

    pub fn cols(&self) -> usize {
        self.out_write_enable.len()
    }
}

impl Logic for RequantUnit {
    #[hdl_gen]
    fn update(&mut self) {
        self.busy.next = false;
        self.busy_next.next = false;
        self.acc_address_next.next = 0.into();
        self.done.next = false;
        self.error.next = 0.into();
        self.acc_address.next = 0.into();
        self.lane_select.next = 0.into();
        self.param_entry.next = 0.into();
        self.out_address.next = 0.into();
        self.out_data.next = 0.into();
        self.lanes.next = 0.into();
        for u in 0..self.serial.len() {
            self.serial[u].clock.next = self.clock.val();
            self.serial[u].start.next = self.start.val();
            self.serial[u].src.next = self.src.val();
            self.serial[u].dst.next = self.dst.val();
            self.serial[u].count.next = self.count.val();
            self.serial[u].zero_point.next = self.zero_point.val();
            self.serial[u].min.next = self.min.val();
            self.serial[u].max.next = self.max.val();
            self.serial[u].use_bias.next = self.use_bias.val();
            self.serial[u].acc_data.next = self.acc_data.val();
            self.serial[u].param.next = self.param.val();
            self.busy.next = self.serial[u].busy.val();
            self.busy_next.next = self.serial[u].busy_next.val();
            self.acc_address_next.next = self.serial[u].acc_address_next.val();
            self.done.next = self.serial[u].done.val();
            self.error.next = self.serial[u].error.val();
            self.acc_address.next = self.serial[u].acc_address.val();
            self.lane_select.next = self.serial[u].lane_select.val();
            self.param_entry.next = self.serial[u].param_entry.val();
            self.out_address.next = self.serial[u].out_address.val();
            self.out_data.next = self.serial[u].out_data.val();
            self.lanes.next = self.serial[u].out_lanes.val();
        }
        for u in 0..self.pipelined.len() {
            self.pipelined[u].clock.next = self.clock.val();
            self.pipelined[u].start.next = self.start.val();
            self.pipelined[u].src.next = self.src.val();
            self.pipelined[u].dst.next = self.dst.val();
            self.pipelined[u].count.next = self.count.val();
            self.pipelined[u].zero_point.next = self.zero_point.val();
            self.pipelined[u].min.next = self.min.val();
            self.pipelined[u].max.next = self.max.val();
            self.pipelined[u].use_bias.next = self.use_bias.val();
            self.pipelined[u].acc_data.next = self.acc_data.val();
            self.pipelined[u].acc_data_odd.next = self.acc_data_odd[u].val();
            self.pipelined[u].param.next = self.param.val();
            self.busy.next = self.pipelined[u].busy.val();
            self.busy_next.next = self.pipelined[u].busy_next.val();
            self.acc_address_next.next = self.pipelined[u].acc_address_next.val();
            self.done.next = self.pipelined[u].done.val();
            self.error.next = self.pipelined[u].error.val();
            self.acc_address.next = self.pipelined[u].acc_address.val();
            self.lane_select.next = self.pipelined[u].lane_select.val();
            self.param_entry.next = self.pipelined[u].param_entry.val();
            self.out_address.next = self.pipelined[u].out_address.val();
            self.out_data.next = self.pipelined[u].out_data.val();
            self.out_data_odd[u].next = self.pipelined[u].out_data_odd.val();
            self.lanes.next = self.pipelined[u].out_lanes.val();
        }
        for j in 0..self.cols() {
            self.out_write_enable[j].next = self.lanes.val().get_bit(j);
        }
        self.unused_lanes.next = self.lanes.val();
    }
}
