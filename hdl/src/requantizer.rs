//! The requantization unit: INT32 accumulators (plus an optional per-column
//! bias) to INT8 with the gemmlowp rules of `npu_spec::requant`, bit for bit.
//!
//! It works one element at a time: the 32x32 multiply is a shift-and-add over
//! 32 cycles (no DSP, about a hundred LUTs), followed by one cycle each for
//! the rounding nudge, the high half, the rounding shift and the clamp. About
//! 37 cycles an element is still far faster than the link can carry the
//! result away (an 8N1 byte takes ten bit times of many clocks each).
//!
//! Signed comparisons flip the sign bit and compare unsigned; arithmetic
//! shifts fill the vacated bits with the sign.

use npu_spec::protocol::Status;
use npu_spec::requant::MAX_SHIFT;
use npu_spec::NpuConfig;
use crate::vecs::signals;
use rust_hdl::prelude::*;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum RequantState {
    Idle,
    Check,
    Read,
    Wait,
    Setup,
    Multiply,
    Nudge,
    High,
    Shift,
    Clamp,
    Finish,
}

#[derive(LogicBlock)]
pub struct Requantizer {
    pub clock: Signal<In, Clock>,
    /// Take the parameters below and run.
    pub start: Signal<In, Bit>,
    pub src: Signal<In, Bits<16>>,
    pub dst: Signal<In, Bits<16>>,
    pub count: Signal<In, Bits<16>>,
    pub multiplier: Signal<In, Bits<32>>,
    pub shift: Signal<In, Bits<8>>,
    pub zero_point: Signal<In, Bits<8>>,
    pub min: Signal<In, Bits<8>>,
    pub max: Signal<In, Bits<8>>,
    pub use_bias: Signal<In, Bit>,
    pub busy: Signal<Out, Bit>,
    /// One cycle: finished; `error` is the protocol status (0 = OK).
    pub done: Signal<Out, Bit>,
    pub error: Signal<Out, Bits<8>>,
    /// Accumulator read port (shared entry for all lanes, data a cycle later).
    pub acc_address: Signal<Out, Bits<16>>,
    pub acc_data: Vec<Signal<In, Bits<32>>>,
    /// The bias of each column.
    pub bias: Vec<Signal<In, Bits<32>>>,
    /// OUT write port: one lane per write.
    pub out_address: Signal<Out, Bits<16>>,
    pub out_data: Signal<Out, Bits<8>>,
    pub out_write_enable: Vec<Signal<Out, Bit>>,
    acc_depth: Constant<Bits<32>>,
    last_lane: Constant<Bits<8>>,
    max_shift: Constant<Bits<8>>,
    bad_param: Constant<Bits<8>>,
    out_of_range: Constant<Bits<8>>,
    state: DFF<RequantState>,
    // Parameters, latched at start.
    src_reg: DFF<Bits<16>>,
    dst_reg: DFF<Bits<16>>,
    count_reg: DFF<Bits<16>>,
    multiplier_reg: DFF<Bits<32>>,
    shift_reg: DFF<Bits<32>>,
    zero_point_reg: DFF<Bits<8>>,
    min_reg: DFF<Bits<8>>,
    max_reg: DFF<Bits<8>>,
    use_bias_reg: DFF<Bit>,
    error_reg: DFF<Bits<8>>,
    /// Entry and lane of the element in hand.
    entry: DFF<Bits<16>>,
    lane: DFF<Bits<8>>,
    /// The element (accumulator plus bias).
    x: DFF<Bits<32>>,
    // Shift-and-add multiply of the magnitudes.
    multiplicand: DFF<Bits<64>>,
    multiplier_bits: DFF<Bits<32>>,
    product: DFF<Bits<64>>,
    negative: DFF<Bit>,
    saturate: DFF<Bit>,
    step: DFF<Bits<6>>,
    /// Signed product plus the rounding nudge.
    nudged: DFF<Bits<64>>,
    /// SaturatingRoundingDoublingHighMul's result.
    high: DFF<Bits<32>>,
    /// RoundingDivideByPOT's result.
    divided: DFF<Bits<32>>,
    // Combinational helpers.
    lane_acc: Signal<Local, Bits<32>>,
    lane_bias: Signal<Local, Bits<32>>,
    signed_product: Signal<Local, Bits<64>>,
    nudged_adjusted: Signal<Local, Bits<64>>,
    high_candidate: Signal<Local, Bits<32>>,
    clamped: Signal<Local, Bits<8>>,
    /// `-x` in 32 bits. A signal of its own: inside a 64-bit cast, Verilog
    /// would widen `x` before inverting it (rust-hdl's simulator does not).
    x_magnitude: Signal<Local, Bits<32>>,
    mask: Signal<Local, Bits<32>>,
    threshold: Signal<Local, Bits<32>>,
    shifted: Signal<Local, Bits<32>>,
    // 40 bits: the sum of a 32-bit and an 8-bit signed value cannot wrap.
    divided_wide: Signal<Local, Bits<40>>,
    zero_point_wide: Signal<Local, Bits<40>>,
    with_zero: Signal<Local, Bits<40>>,
    min_wide: Signal<Local, Bits<40>>,
    max_wide: Signal<Local, Bits<40>>,
}

impl Requantizer {
    pub fn new(config: &NpuConfig) -> Self {
        let cols = config.array.cols;
        Self {
            clock: Default::default(),
            start: Default::default(),
            src: Default::default(),
            dst: Default::default(),
            count: Default::default(),
            multiplier: Default::default(),
            shift: Default::default(),
            zero_point: Default::default(),
            min: Default::default(),
            max: Default::default(),
            use_bias: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            error: Default::default(),
            acc_address: Default::default(),
            acc_data: signals(cols),
            bias: signals(cols),
            out_address: Default::default(),
            out_data: Default::default(),
            out_write_enable: signals(cols),
            acc_depth: Constant::new((config.memory.acc_depth as u64).into()),
            last_lane: Constant::new(((cols - 1) as u64).into()),
            max_shift: Constant::new(u64::from(MAX_SHIFT).into()),
            bad_param: Constant::new((Status::BadParam as u64).into()),
            out_of_range: Constant::new((Status::OutOfRange as u64).into()),
            state: Default::default(),
            src_reg: Default::default(),
            dst_reg: Default::default(),
            count_reg: Default::default(),
            multiplier_reg: Default::default(),
            shift_reg: Default::default(),
            zero_point_reg: Default::default(),
            min_reg: Default::default(),
            max_reg: Default::default(),
            use_bias_reg: Default::default(),
            error_reg: Default::default(),
            entry: Default::default(),
            lane: Default::default(),
            x: Default::default(),
            multiplicand: Default::default(),
            multiplier_bits: Default::default(),
            product: Default::default(),
            negative: Default::default(),
            saturate: Default::default(),
            step: Default::default(),
            nudged: Default::default(),
            high: Default::default(),
            divided: Default::default(),
            lane_acc: Default::default(),
            lane_bias: Default::default(),
            signed_product: Default::default(),
            nudged_adjusted: Default::default(),
            high_candidate: Default::default(),
            clamped: Default::default(),
            x_magnitude: Default::default(),
            mask: Default::default(),
            threshold: Default::default(),
            shifted: Default::default(),
            divided_wide: Default::default(),
            zero_point_wide: Default::default(),
            with_zero: Default::default(),
            min_wide: Default::default(),
            max_wide: Default::default(),
        }
    }

    pub fn cols(&self) -> usize {
        self.acc_data.len()
    }
}

impl Logic for Requantizer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, src_reg, dst_reg, count_reg, multiplier_reg, shift_reg, zero_point_reg, min_reg,
            max_reg, use_bias_reg, error_reg, entry, lane, x, multiplicand, multiplier_bits, product, negative,
            saturate, step, nudged, high, divided
        );
        self.busy.next = self.state.q.val() != RequantState::Idle;
        self.done.next = false;
        self.error.next = self.error_reg.q.val();
        self.acc_address.next = self.src_reg.q.val() + self.entry.q.val();
        self.out_address.next = self.dst_reg.q.val() + self.entry.q.val();
        // The lane in hand, with its bias.
        self.lane_acc.next = bits::<32>(0);
        self.lane_bias.next = bits::<32>(0);
        for j in 0..self.cols() {
            self.out_write_enable[j].next = false;
            if self.lane.q.val().index() == j {
                self.lane_acc.next = self.acc_data[j].val();
                self.lane_bias.next = self.bias[j].val();
            }
        }
        self.x_magnitude.next = !self.x.q.val() + 1;
        // Sign-extend to 40 bits for the zero point and the clamp.
        self.min_wide.next = bit_cast::<40, 8>(self.min_reg.q.val());
        if self.min_reg.q.val().get_bit(7) {
            self.min_wide.next = bit_cast::<40, 8>(self.min_reg.q.val()) | bits::<40>(0xFF_FFFF_FF00_u64);
        }
        self.max_wide.next = bit_cast::<40, 8>(self.max_reg.q.val());
        if self.max_reg.q.val().get_bit(7) {
            self.max_wide.next = bit_cast::<40, 8>(self.max_reg.q.val()) | bits::<40>(0xFF_FFFF_FF00_u64);
        }
        self.zero_point_wide.next = bit_cast::<40, 8>(self.zero_point_reg.q.val());
        if self.zero_point_reg.q.val().get_bit(7) {
            self.zero_point_wide.next = bit_cast::<40, 8>(self.zero_point_reg.q.val()) | bits::<40>(0xFF_FFFF_FF00_u64);
        }
        self.divided_wide.next = bit_cast::<40, 32>(self.divided.q.val());
        if self.divided.q.val().get_bit(31) {
            self.divided_wide.next = bit_cast::<40, 32>(self.divided.q.val()) | bits::<40>(0xFF_0000_0000_u64);
        }
        self.with_zero.next = self.divided_wide.val() + self.zero_point_wide.val();
        // Signed product from the magnitudes' product, and C's truncating
        // division by 2^31 as an arithmetic shift of a biased value.
        self.signed_product.next = self.product.q.val();
        if self.negative.q.val() {
            self.signed_product.next = !self.product.q.val() + 1;
        }
        self.nudged_adjusted.next = self.nudged.q.val();
        if self.nudged.q.val().get_bit(63) {
            self.nudged_adjusted.next = self.nudged.q.val() + bits::<64>(0x7FFF_FFFF);
        }
        self.high_candidate.next = bit_cast::<32, 64>(self.nudged_adjusted.val() >> 31);
        self.mask.next = (bits::<32>(1) << self.shift_reg.q.val()) - 1;
        self.threshold.next = self.mask.val() >> 1;
        if self.high.q.val().get_bit(31) {
            self.threshold.next = (self.mask.val() >> 1) + 1;
        }
        self.shifted.next = self.high.q.val() >> self.shift_reg.q.val();
        if self.high.q.val().get_bit(31) {
            self.shifted.next = (self.high.q.val() >> self.shift_reg.q.val()) | !(bits::<32>(0xFFFF_FFFF_u64) >> self.shift_reg.q.val());
        }
        // z + zero_point, clamped to [min, max].
        self.clamped.next = self.with_zero.val().get_bits::<8>(0);
        if (self.with_zero.val() ^ 0x80_0000_0000_u64) < (self.min_wide.val() ^ 0x80_0000_0000_u64) {
            self.clamped.next = self.min_reg.q.val();
        }
        if (self.with_zero.val() ^ 0x80_0000_0000_u64) > (self.max_wide.val() ^ 0x80_0000_0000_u64) {
            self.clamped.next = self.max_reg.q.val();
        }
        self.out_data.next = self.clamped.val();

        match self.state.q.val() {
            RequantState::Idle => {
                if self.start.val() {
                    self.src_reg.d.next = self.src.val();
                    self.dst_reg.d.next = self.dst.val();
                    self.count_reg.d.next = self.count.val();
                    self.multiplier_reg.d.next = self.multiplier.val();
                    self.shift_reg.d.next = bit_cast::<32, 8>(self.shift.val());
                    self.zero_point_reg.d.next = self.zero_point.val();
                    self.min_reg.d.next = self.min.val();
                    self.max_reg.d.next = self.max.val();
                    self.use_bias_reg.d.next = self.use_bias.val();
                    self.error_reg.d.next = 0.into();
                    self.entry.d.next = 0.into();
                    self.lane.d.next = 0.into();
                    self.state.d.next = RequantState::Check;
                }
            }
            RequantState::Check => {
                self.state.d.next = RequantState::Read;
                if (self.shift_reg.q.val() > bit_cast::<32, 8>(self.max_shift.val()))
                    | ((self.min_reg.q.val() ^ 0x80) > (self.max_reg.q.val() ^ 0x80))
                {
                    self.error_reg.d.next = self.bad_param.val();
                    self.state.d.next = RequantState::Finish;
                } else if (self.count_reg.q.val() == 0)
                    | ((bit_cast::<32, 16>(self.src_reg.q.val()) + bit_cast::<32, 16>(self.count_reg.q.val()))
                        > self.acc_depth.val())
                    | ((bit_cast::<32, 16>(self.dst_reg.q.val()) + bit_cast::<32, 16>(self.count_reg.q.val()))
                        > self.acc_depth.val())
                {
                    self.error_reg.d.next = self.out_of_range.val();
                    self.state.d.next = RequantState::Finish;
                }
            }
            RequantState::Read => {
                // acc_address shows the entry; its lanes arrive next cycle.
                self.state.d.next = RequantState::Wait;
            }
            RequantState::Wait => {
                self.state.d.next = RequantState::Setup;
            }
            RequantState::Setup => {
                self.x.d.next = self.lane_acc.val();
                if self.use_bias_reg.q.val() {
                    self.x.d.next = self.lane_acc.val() + self.lane_bias.val();
                }
                self.step.d.next = 0.into();
                self.product.d.next = 0.into();
                self.state.d.next = RequantState::Multiply;
                // The magnitudes are taken from `x` in the first multiply cycle.
            }
            RequantState::Multiply => {
                if self.step.q.val() == 0 {
                    self.multiplicand.d.next = bit_cast::<64, 32>(self.x.q.val());
                    if self.x.q.val().get_bit(31) {
                        self.multiplicand.d.next = bit_cast::<64, 32>(self.x_magnitude.val());
                    }
                    self.multiplier_bits.d.next = self.multiplier_reg.q.val();
                    if self.multiplier_reg.q.val().get_bit(31) {
                        self.multiplier_bits.d.next = !self.multiplier_reg.q.val() + 1;
                    }
                    self.negative.d.next = self.x.q.val().get_bit(31) ^ self.multiplier_reg.q.val().get_bit(31);
                    self.saturate.d.next = (self.x.q.val() == 0x8000_0000_u64) & (self.multiplier_reg.q.val() == 0x8000_0000_u64);
                    self.step.d.next = 1.into();
                } else {
                    if self.multiplier_bits.q.val().get_bit(0) {
                        self.product.d.next = self.product.q.val() + self.multiplicand.q.val();
                    }
                    self.multiplicand.d.next = self.multiplicand.q.val() << 1;
                    self.multiplier_bits.d.next = self.multiplier_bits.q.val() >> 1;
                    self.step.d.next = self.step.q.val() + 1;
                    if self.step.q.val() == 32 {
                        self.state.d.next = RequantState::Nudge;
                    }
                }
            }
            RequantState::Nudge => {
                // ab >= 0: + 2^30; ab < 0: + (1 - 2^30).
                self.nudged.d.next = self.signed_product.val() + bits::<64>(0x4000_0000);
                if self.signed_product.val().get_bit(63) {
                    self.nudged.d.next = self.signed_product.val() + bits::<64>(0xFFFF_FFFF_C000_0001_u64);
                }
                self.state.d.next = RequantState::High;
            }
            RequantState::High => {
                self.high.d.next = self.high_candidate.val();
                if self.saturate.q.val() {
                    self.high.d.next = bits::<32>(0x7FFF_FFFF);
                }
                self.state.d.next = RequantState::Shift;
            }
            RequantState::Shift => {
                self.divided.d.next = self.shifted.val();
                if (self.high.q.val() & self.mask.val()) > self.threshold.val() {
                    self.divided.d.next = self.shifted.val() + 1;
                }
                self.state.d.next = RequantState::Clamp;
            }
            RequantState::Clamp => {
                for j in 0..self.cols() {
                    if self.lane.q.val().index() == j {
                        self.out_write_enable[j].next = true;
                    }
                }
                self.lane.d.next = self.lane.q.val() + 1;
                self.state.d.next = RequantState::Setup;
                if self.lane.q.val() == self.last_lane.val() {
                    self.lane.d.next = 0.into();
                    self.entry.d.next = self.entry.q.val() + 1;
                    self.state.d.next = RequantState::Read;
                    if (self.entry.q.val() + 1) == self.count_reg.q.val() {
                        self.state.d.next = RequantState::Finish;
                    }
                }
            }
            RequantState::Finish => {
                self.done.next = true;
                self.state.d.next = RequantState::Idle;
            }
            _ => {
                self.state.d.next = RequantState::Idle;
            }
        }
    }
}

/// The requantizer wired to accumulator and OUT memories and bias inputs,
/// for tests: preload the accumulators, run, read OUT back.
#[derive(LogicBlock)]
pub struct RequantBench {
    pub clock: Signal<In, Clock>,
    pub unit: Requantizer,
    pub acc_mem: Vec<crate::Ram<Bits<32>>>,
    pub out_mem: Vec<crate::Ram<Bits<8>>>,
}

impl RequantBench {
    pub fn new(config: &NpuConfig) -> Self {
        let depth = config.memory.acc_depth;
        Self {
            clock: Default::default(),
            unit: Requantizer::new(config),
            acc_mem: (0..config.array.cols).map(|_| crate::Ram::new(depth)).collect(),
            out_mem: (0..config.array.cols).map(|_| crate::Ram::new(depth)).collect(),
        }
    }
}

impl Logic for RequantBench {
    #[hdl_gen]
    fn update(&mut self) {
        self.unit.clock.next = self.clock.val();
        for j in 0..self.acc_mem.len() {
            self.acc_mem[j].clock.next = self.clock.val();
            self.acc_mem[j].read_address.next = self.unit.acc_address.val();
            self.acc_mem[j].write_address.next = 0.into();
            self.acc_mem[j].write_data.next = 0.into();
            self.acc_mem[j].write_enable.next = false;
            self.unit.acc_data[j].next = self.acc_mem[j].read_data.val();
            self.out_mem[j].clock.next = self.clock.val();
            self.out_mem[j].read_address.next = 0.into();
            self.out_mem[j].write_address.next = self.unit.out_address.val();
            self.out_mem[j].write_data.next = self.unit.out_data.val();
            self.out_mem[j].write_enable.next = self.unit.out_write_enable[j].val();
        }
    }
}
