//! The pipelined requantization unit: the same results as
//! [`crate::Requantizer`] (gemmlowp's rules of `npu_spec::requant`, bit for
//! bit) and the same ports, at one element a cycle, for boards with DSPs
//! and logic to spare (the ECP5). The config chooses (`[requant] unit`).
//!
//! A REQUANT runs in three phases:
//! 1. **Load**: every lane's bias (when used), multiplier and shift come
//!    from the BIAS bank, one word a cycle through its one read port, into
//!    registers: `2 * cols` or `3 * cols` cycles;
//! 2. **Stream**: one element a cycle, entry by entry and lane by lane,
//!    down a pipeline of twelve stages, each a register apart;
//! 3. **Drain**: the last element leaves the pipeline.
//!
//! The pipeline, for an element issued at cycle t (its entry on
//! `acc_address`; its lane on `lane_select` at t + 1; the NPU reads the
//! entry through a register and shows the lane on `acc_data` at t + 2):
//! - t + 2: the accumulator, the lane's bias, multiplier and shift, taken;
//! - t + 3: `x = acc + bias` (wraps, like the GEMM's sums);
//! - t + 4: four 18 x 18 signed products of `x` and the multiplier (high
//!   and low halves; a low half is unsigned, so 17 bits);
//! - t + 5: the two middle products summed, plus 2^14, which lands at bit
//!   30 as gemmlowp's nudge: `(p + 2^30) >> 31` is exactly
//!   SaturatingRoundingDoublingHighMul's quotient for either sign of `p`
//!   (for `p < 0`, `(p + 1 - 2^30)` divided toward zero is the same floor);
//! - t + 6: the 64-bit sum, its bits 62..31 (`x = m = INT32_MIN`, the one
//!   overflow, saturates to INT32_MAX at the next stage);
//! - t + 7: RoundingDivideByPOT's rounding added: `2^(shift-1)`, less one
//!   for a negative value (half away from zero, then a floor shift);
//! - t + 8, t + 9: the arithmetic shift, by multiples of 8 and then 0..7;
//! - t + 10: plus the zero point; t + 11: compared with `min` and `max`;
//! - t + 12: the clamped byte written to OUT, lane by lane.

use crate::multiplier18::Multiplier18;
use crate::vecs::{dffs, k};
use npu_spec::protocol::Status;
use npu_spec::NpuConfig;
use rust_hdl::prelude::*;

/// Pipeline stages an element passes after its issue, to its OUT write.
pub const STAGES: usize = 12;
/// The DSPs the unit uses (four 18 x 18 products).
pub const DSPS: u64 = 4;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum PipeState {
    Idle,
    Check,
    Verdict,
    Load,
    Stream,
    Drain,
    Finish,
}

#[derive(LogicBlock)]
pub struct RequantPipeline {
    pub clock: Signal<In, Clock>,
    /// Take the parameters below and run; they hold until `done`.
    pub start: Signal<In, Bit>,
    pub src: Signal<In, Bits<16>>,
    pub dst: Signal<In, Bits<16>>,
    pub count: Signal<In, Bits<16>>,
    pub zero_point: Signal<In, Bits<8>>,
    pub min: Signal<In, Bits<8>>,
    pub max: Signal<In, Bits<8>>,
    pub use_bias: Signal<In, Bit>,
    pub busy: Signal<Out, Bit>,
    /// One cycle: finished; `error` is the protocol status (0 = OK).
    pub done: Signal<Out, Bit>,
    pub error: Signal<Out, Bits<8>>,
    /// The ACC entry to read (the NPU registers it; its lanes come a cycle
    /// after that), and the lane it shows on `acc_data` (registered too).
    pub acc_address: Signal<Out, Bits<16>>,
    /// The lane wanted, and the BIAS entry (0 bias, 1 multiplier, 2 shift):
    /// `param` is the BIAS word at (`param_entry`, `lane_select`) of two
    /// cycles before; `acc_data` is lane `lane_select` (of the cycle
    /// before) of the entry read. 0 while idle.
    pub lane_select: Signal<Out, Bits<8>>,
    pub param_entry: Signal<Out, Bits<2>>,
    pub acc_data: Signal<In, Bits<32>>,
    pub param: Signal<In, Bits<32>>,
    /// OUT write port: one lane per write, bit j of `out_lanes` for lane j
    /// (one word, not a port per lane: a wrapper picks it up whole).
    pub out_address: Signal<Out, Bits<16>>,
    pub out_data: Signal<Out, Bits<8>>,
    pub out_lanes: Signal<Out, Bits<32>>,
    acc_depth: Constant<Bits<17>>,
    acc_depth_log: Constant<Bits<17>>,
    last_lane: Constant<Bits<8>>,
    lane_mask: Constant<Bits<8>>,
    bad_param: Constant<Bits<8>>,
    out_of_range: Constant<Bits<8>>,
    drain_cycles: Constant<Bits<5>>,
    state: DFF<PipeState>,
    error_reg: DFF<Bits<8>>,
    /// High in Finish, so that `done` is a flip-flop.
    finishing: DFF<Bit>,
    /// The request's checks, registered every cycle (the inputs hold).
    acc_end_start: DFF<Bits<17>>,
    out_end_start: DFF<Bits<17>>,
    params_bad: DFF<Bit>,
    count_zero: DFF<Bit>,
    out_of_bounds: DFF<Bit>,
    /// Load: the BIAS entry and lane shown, and the same two and a cycle
    /// later (`param` answers the second).
    load_entry: DFF<Bits<2>>,
    load_lane: DFF<Bits<8>>,
    loaded_valid: Vec<DFF<Bit>>,
    loaded_entry: Vec<DFF<Bits<2>>>,
    loaded_lane: Vec<DFF<Bits<8>>>,
    /// Each lane's parameters.
    bias: Vec<DFF<Bits<32>>>,
    multiplier: Vec<DFF<Bits<32>>>,
    shift: Vec<DFF<Bits<5>>>,
    /// Stream: the element issued (entry from 0, lane), and whether each is
    /// the last.
    entry: DFF<Bits<16>>,
    lane: DFF<Bits<8>>,
    entry_last: DFF<Bit>,
    lane_last: DFF<Bit>,
    /// Drain: cycles left.
    drain: DFF<Bits<5>>,
    /// Each stage's element: valid, lane, entry (index s: s + 1 cycles after issue).
    tag_valid: Vec<DFF<Bit>>,
    tag_lane: Vec<DFF<Bits<8>>>,
    tag_entry: Vec<DFF<Bits<16>>>,
    /// t + 2: the accumulator and the lane's parameters; the lane's shift
    /// then rides along (`shift_at[s]` is the element's at t + 3 + s).
    acc: DFF<Bits<32>>,
    lane_bias: DFF<Bits<32>>,
    lane_multiplier: DFF<Bits<32>>,
    shift_at: Vec<DFF<Bits<5>>>,
    /// t + 3: the multiply's factors.
    x: DFF<Bits<32>>,
    m: DFF<Bits<32>>,
    /// t + 4: the products (in the multipliers), and the overflow case.
    products: Vec<Multiplier18>,
    saturate: Vec<DFF<Bit>>,
    /// t + 5: the middle products' sum plus the nudge, and the outer two side by side.
    middle: DFF<Bits<35>>,
    outer: DFF<Bits<64>>,
    /// t + 6: the high-mul quotient, and the rounding for each sign.
    quotient: DFF<Bits<32>>,
    half: DFF<Bits<33>>,
    half_less_one: DFF<Bits<33>>,
    /// t + 7: the quotient with its rounding, 33 bits.
    rounded: DFF<Bits<33>>,
    /// t + 8, t + 9: shifted by the multiple of 8, then by the rest.
    coarse: DFF<Bits<40>>,
    shifted: DFF<Bits<33>>,
    /// t + 10: plus the zero point (34 bits); t + 11: the clamp's tests.
    offset: DFF<Bits<34>>,
    below_min: DFF<Bit>,
    above_max: DFF<Bit>,
    low_byte: DFF<Bits<8>>,
    // Combinational helpers.
    /// The middle products, sign-extended to 35 bits.
    middle_a: Signal<Local, Bits<35>>,
    middle_b: Signal<Local, Bits<35>>,
    sum64: Signal<Local, Bits<64>>,
    rounded_wide: Signal<Local, Bits<64>>,
    coarse_wide: Signal<Local, Bits<64>>,
    /// The two shifts' whole results (rust-hdl selects bits of a signal only).
    coarse_full: Signal<Local, Bits<64>>,
    shifted_full: Signal<Local, Bits<64>>,
    zero_point_wide: Signal<Local, Bits<34>>,
    min_wide: Signal<Local, Bits<34>>,
    max_wide: Signal<Local, Bits<34>>,
    issuing: Signal<Local, Bit>,
}

impl RequantPipeline {
    pub fn new(config: &NpuConfig) -> Self {
        assert!(config.memory.acc_depth.is_power_of_two());
        let cols = config.array.cols;
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
            done: Default::default(),
            error: Default::default(),
            acc_address: Default::default(),
            lane_select: Default::default(),
            param_entry: Default::default(),
            acc_data: Default::default(),
            param: Default::default(),
            out_address: Default::default(),
            out_data: Default::default(),
            out_lanes: Default::default(),
            acc_depth: k(config.memory.acc_depth as u64),
            acc_depth_log: k(config.memory.acc_depth.trailing_zeros() as u64),
            last_lane: k((cols - 1) as u64),
            lane_mask: k((cols.next_power_of_two() - 1) as u64),
            bad_param: k(Status::BadParam as u64),
            out_of_range: k(Status::OutOfRange as u64),
            drain_cycles: k(STAGES as u64),
            state: Default::default(),
            error_reg: Default::default(),
            finishing: Default::default(),
            acc_end_start: Default::default(),
            out_end_start: Default::default(),
            params_bad: Default::default(),
            count_zero: Default::default(),
            out_of_bounds: Default::default(),
            load_entry: Default::default(),
            load_lane: Default::default(),
            loaded_valid: dffs(2),
            loaded_entry: dffs(2),
            loaded_lane: dffs(2),
            bias: dffs(cols),
            multiplier: dffs(cols),
            shift: dffs(cols),
            entry: Default::default(),
            lane: Default::default(),
            entry_last: Default::default(),
            lane_last: Default::default(),
            drain: Default::default(),
            tag_valid: dffs(STAGES),
            tag_lane: dffs(STAGES),
            tag_entry: dffs(STAGES),
            acc: Default::default(),
            lane_bias: Default::default(),
            lane_multiplier: Default::default(),
            shift_at: dffs(7),
            x: Default::default(),
            m: Default::default(),
            products: (0..4).map(|_| Multiplier18::default()).collect(),
            saturate: dffs(3),
            middle: Default::default(),
            outer: Default::default(),
            quotient: Default::default(),
            half: Default::default(),
            half_less_one: Default::default(),
            rounded: Default::default(),
            coarse: Default::default(),
            shifted: Default::default(),
            offset: Default::default(),
            below_min: Default::default(),
            above_max: Default::default(),
            low_byte: Default::default(),
            middle_a: Default::default(),
            middle_b: Default::default(),
            sum64: Default::default(),
            rounded_wide: Default::default(),
            coarse_wide: Default::default(),
            coarse_full: Default::default(),
            shifted_full: Default::default(),
            zero_point_wide: Default::default(),
            min_wide: Default::default(),
            max_wide: Default::default(),
            issuing: Default::default(),
        }
    }

    pub fn cols(&self) -> usize {
        self.shift.len()
    }

    /// Cycles a REQUANT of `count` entries takes from start to done.
    pub fn cycles(cols: usize, count: usize, use_bias: bool) -> usize {
        let loads = if use_bias { 3 * cols } else { 2 * cols };
        2 + loads + count * cols + STAGES + 1
    }
}

impl Logic for RequantPipeline {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            error_reg,
            finishing,
            acc_end_start,
            out_end_start,
            params_bad,
            count_zero,
            out_of_bounds,
            load_entry,
            load_lane,
            entry,
            lane,
            entry_last,
            lane_last,
            drain,
            acc,
            lane_bias,
            lane_multiplier,
            x,
            m,
            middle,
            outer,
            quotient,
            half,
            half_less_one,
            rounded,
            coarse,
            shifted,
            offset,
            below_min,
            above_max,
            low_byte
        );
        self.busy.next = self.state.q.val() != PipeState::Idle;
        self.done.next = self.finishing.q.val();
        self.finishing.d.next = false;
        self.error.next = self.error_reg.q.val();
        // The request's checks, every cycle.
        self.acc_end_start.d.next = bit_cast::<17, 16>(self.src.val()) + bit_cast::<17, 16>(self.count.val());
        self.out_end_start.d.next = bit_cast::<17, 16>(self.dst.val()) + bit_cast::<17, 16>(self.count.val());
        self.params_bad.d.next = (self.min.val() ^ 0x80) > (self.max.val() ^ 0x80);
        self.count_zero.d.next = self.count.val() == 0;

        // ---- Outputs to the memories. Load shows BIAS words; Stream shows
        // an entry at issue and its lane a cycle later (stage 0's tag).
        self.acc_address.next = self.src.val() + self.entry.q.val();
        self.param_entry.next = self.load_entry.q.val();
        self.lane_select.next = self.tag_lane[0].q.val();
        if self.state.q.val() == PipeState::Load {
            self.lane_select.next = self.load_lane.q.val();
        }

        // ---- Load: a BIAS word shown at t arrives at t + 2, into its lane's register.
        for s in 0..2 {
            self.loaded_valid[s].clock.next = self.clock.val();
            self.loaded_entry[s].clock.next = self.clock.val();
            self.loaded_lane[s].clock.next = self.clock.val();
        }
        self.loaded_valid[0].d.next = self.state.q.val() == PipeState::Load;
        self.loaded_entry[0].d.next = self.load_entry.q.val();
        self.loaded_lane[0].d.next = self.load_lane.q.val();
        self.loaded_valid[1].d.next = self.loaded_valid[0].q.val();
        self.loaded_entry[1].d.next = self.loaded_entry[0].q.val();
        self.loaded_lane[1].d.next = self.loaded_lane[0].q.val();
        for j in 0..self.cols() {
            self.bias[j].clock.next = self.clock.val();
            self.multiplier[j].clock.next = self.clock.val();
            self.shift[j].clock.next = self.clock.val();
            self.bias[j].d.next = self.bias[j].q.val();
            self.multiplier[j].d.next = self.multiplier[j].q.val();
            self.shift[j].d.next = self.shift[j].q.val();
            if self.loaded_valid[1].q.val() & ((self.loaded_lane[1].q.val() & self.lane_mask.val()).index() == j) {
                if self.loaded_entry[1].q.val() == 0 {
                    self.bias[j].d.next = self.param.val();
                }
                if self.loaded_entry[1].q.val() == 1 {
                    self.multiplier[j].d.next = self.param.val();
                }
                if self.loaded_entry[1].q.val() == 2 {
                    self.shift[j].d.next = self.param.val().get_bits::<5>(0);
                }
            }
        }

        // ---- The element tags: issued by Stream, one stage a cycle.
        self.issuing.next = self.state.q.val() == PipeState::Stream;
        for s in 0..STAGES {
            self.tag_valid[s].clock.next = self.clock.val();
            self.tag_lane[s].clock.next = self.clock.val();
            self.tag_entry[s].clock.next = self.clock.val();
        }
        self.tag_valid[0].d.next = self.issuing.val();
        self.tag_lane[0].d.next = 0.into();
        if self.issuing.val() {
            self.tag_lane[0].d.next = self.lane.q.val();
        }
        self.tag_entry[0].d.next = self.entry.q.val();
        for s in 1..STAGES {
            self.tag_valid[s].d.next = self.tag_valid[s - 1].q.val();
            self.tag_lane[s].d.next = self.tag_lane[s - 1].q.val();
            self.tag_entry[s].d.next = self.tag_entry[s - 1].q.val();
        }

        // ---- t + 2: the accumulator and its lane's parameters.
        self.acc.d.next = self.acc_data.val();
        self.lane_bias.d.next = 0.into();
        self.lane_multiplier.d.next = 0.into();
        for s in 0..7 {
            self.shift_at[s].clock.next = self.clock.val();
        }
        self.shift_at[0].d.next = 0.into();
        for j in 0..self.cols() {
            if (self.tag_lane[1].q.val() & self.lane_mask.val()).index() == j {
                if self.use_bias.val() {
                    self.lane_bias.d.next = self.bias[j].q.val();
                }
                self.lane_multiplier.d.next = self.multiplier[j].q.val();
                self.shift_at[0].d.next = self.shift[j].q.val();
            }
        }
        for s in 1..7 {
            self.shift_at[s].d.next = self.shift_at[s - 1].q.val();
        }
        // ---- t + 3: x = acc + bias.
        self.x.d.next = self.acc.q.val() + self.lane_bias.q.val();
        self.m.d.next = self.lane_multiplier.q.val();
        // ---- t + 4: the four products: x = xh * 2^16 + xl (xh signed,
        // xl unsigned), likewise m; products 0: xh*mh, 1: xh*ml, 2: xl*mh, 3: xl*ml.
        for p in 0..4 {
            self.products[p].clock.next = self.clock.val();
        }
        self.products[0].a.next = bit_cast::<18, 16>(self.x.q.val().get_bits::<16>(16));
        self.products[1].a.next = bit_cast::<18, 16>(self.x.q.val().get_bits::<16>(16));
        if self.x.q.val().get_bit(31) {
            self.products[0].a.next = bit_cast::<18, 16>(self.x.q.val().get_bits::<16>(16)) | 0x3_0000;
            self.products[1].a.next = bit_cast::<18, 16>(self.x.q.val().get_bits::<16>(16)) | 0x3_0000;
        }
        self.products[2].a.next = bit_cast::<18, 16>(self.x.q.val().get_bits::<16>(0));
        self.products[3].a.next = bit_cast::<18, 16>(self.x.q.val().get_bits::<16>(0));
        self.products[0].b.next = bit_cast::<18, 16>(self.m.q.val().get_bits::<16>(16));
        self.products[2].b.next = bit_cast::<18, 16>(self.m.q.val().get_bits::<16>(16));
        if self.m.q.val().get_bit(31) {
            self.products[0].b.next = bit_cast::<18, 16>(self.m.q.val().get_bits::<16>(16)) | 0x3_0000;
            self.products[2].b.next = bit_cast::<18, 16>(self.m.q.val().get_bits::<16>(16)) | 0x3_0000;
        }
        self.products[1].b.next = bit_cast::<18, 16>(self.m.q.val().get_bits::<16>(0));
        self.products[3].b.next = bit_cast::<18, 16>(self.m.q.val().get_bits::<16>(0));
        for s in 0..3 {
            self.saturate[s].clock.next = self.clock.val();
        }
        self.saturate[0].d.next = (self.x.q.val() == 0x8000_0000_u64) & (self.m.q.val() == 0x8000_0000_u64);
        self.saturate[1].d.next = self.saturate[0].q.val();
        self.saturate[2].d.next = self.saturate[1].q.val();
        // ---- t + 5: middle = xh*ml + xl*mh + 2^14 (each below 2^31 in
        // magnitude: 35 bits hold the sum); outer = xh*mh * 2^32 + xl*ml.
        self.middle_a.next = bit_cast::<35, 34>(self.products[1].p.val().get_bits::<34>(0));
        if self.products[1].p.val().get_bit(35) {
            self.middle_a.next = bit_cast::<35, 34>(self.products[1].p.val().get_bits::<34>(0)) | 0x4_0000_0000_u64;
        }
        self.middle_b.next = bit_cast::<35, 34>(self.products[2].p.val().get_bits::<34>(0));
        if self.products[2].p.val().get_bit(35) {
            self.middle_b.next = bit_cast::<35, 34>(self.products[2].p.val().get_bits::<34>(0)) | 0x4_0000_0000_u64;
        }
        self.middle.d.next = self.middle_a.val() + self.middle_b.val() + 0x4000;
        self.outer.d.next =
            (bit_cast::<64, 32>(self.products[0].p.val().get_bits::<32>(0)) << 32) | bit_cast::<64, 32>(self.products[3].p.val().get_bits::<32>(0));
        // ---- t + 6: p + 2^30 = outer + middle * 2^16; the quotient is its bits 62..31.
        self.sum64.next = self.outer.q.val() + (bit_cast::<64, 35>(self.middle.q.val()) << 16);
        if self.middle.q.val().get_bit(34) {
            self.sum64.next = self.outer.q.val() + ((bit_cast::<64, 35>(self.middle.q.val()) | 0xFFFF_FFF8_0000_0000_u64) << 16);
        }
        self.quotient.d.next = self.sum64.val().get_bits::<32>(31);
        // The rounding of the divide: 2^(shift-1), or 0 for shift 0.
        self.half.d.next = 0.into();
        if self.shift_at[3].q.val() != 0 {
            self.half.d.next = bits::<33>(1) << (self.shift_at[3].q.val() - 1);
        }
        self.half_less_one.d.next = 0.into();
        if self.shift_at[3].q.val() != 0 {
            self.half_less_one.d.next = (bits::<33>(1) << (self.shift_at[3].q.val() - 1)) - 1;
        }
        // ---- t + 7: the saturated quotient (33 bits, sign-extended) plus its rounding.
        if self.saturate[2].q.val() {
            self.rounded.d.next = bits::<33>(0x7FFF_FFFF) + self.half.q.val();
        } else if self.quotient.q.val().get_bit(31) {
            self.rounded.d.next = (bit_cast::<33, 32>(self.quotient.q.val()) | 0x1_0000_0000_u64) + self.half_less_one.q.val();
        } else {
            self.rounded.d.next = bit_cast::<33, 32>(self.quotient.q.val()) + self.half.q.val();
        }
        // ---- t + 8, t + 9: the arithmetic shift right, in two steps.
        self.rounded_wide.next = bit_cast::<64, 33>(self.rounded.q.val());
        if self.rounded.q.val().get_bit(32) {
            self.rounded_wide.next = bit_cast::<64, 33>(self.rounded.q.val()) | 0xFFFF_FFFE_0000_0000_u64;
        }
        self.coarse_full.next = self.rounded_wide.val() >> (self.shift_at[5].q.val() & 0x18);
        self.coarse.d.next = self.coarse_full.val().get_bits::<40>(0);
        self.coarse_wide.next = bit_cast::<64, 40>(self.coarse.q.val());
        if self.coarse.q.val().get_bit(39) {
            self.coarse_wide.next = bit_cast::<64, 40>(self.coarse.q.val()) | 0xFFFF_FF00_0000_0000_u64;
        }
        self.shifted_full.next = self.coarse_wide.val() >> (self.shift_at[6].q.val() & 0x07);
        self.shifted.d.next = self.shifted_full.val().get_bits::<33>(0);
        // ---- t + 10: plus the zero point, 34 bits.
        self.zero_point_wide.next = bit_cast::<34, 8>(self.zero_point.val());
        if self.zero_point.val().get_bit(7) {
            self.zero_point_wide.next = bit_cast::<34, 8>(self.zero_point.val()) | 0x3_FFFF_FF00_u64;
        }
        self.offset.d.next = bit_cast::<34, 33>(self.shifted.q.val()) + self.zero_point_wide.val();
        if self.shifted.q.val().get_bit(32) {
            self.offset.d.next = (bit_cast::<34, 33>(self.shifted.q.val()) | 0x2_0000_0000_u64) + self.zero_point_wide.val();
        }
        // ---- t + 11: the clamp's tests (signed: compared with the sign bit flipped).
        self.min_wide.next = bit_cast::<34, 8>(self.min.val());
        if self.min.val().get_bit(7) {
            self.min_wide.next = bit_cast::<34, 8>(self.min.val()) | 0x3_FFFF_FF00_u64;
        }
        self.max_wide.next = bit_cast::<34, 8>(self.max.val());
        if self.max.val().get_bit(7) {
            self.max_wide.next = bit_cast::<34, 8>(self.max.val()) | 0x3_FFFF_FF00_u64;
        }
        self.below_min.d.next = (self.offset.q.val() ^ 0x2_0000_0000_u64) < (self.min_wide.val() ^ 0x2_0000_0000_u64);
        self.above_max.d.next = (self.offset.q.val() ^ 0x2_0000_0000_u64) > (self.max_wide.val() ^ 0x2_0000_0000_u64);
        self.low_byte.d.next = self.offset.q.val().get_bits::<8>(0);
        // ---- t + 12: the write.
        self.out_data.next = self.low_byte.q.val();
        if self.below_min.q.val() {
            self.out_data.next = self.min.val();
        }
        if self.above_max.q.val() {
            self.out_data.next = self.max.val();
        }
        self.out_address.next = self.dst.val() + self.tag_entry[11].q.val();
        self.out_lanes.next = 0.into();
        if self.tag_valid[11].q.val() {
            self.out_lanes.next = bits::<32>(1) << bit_cast::<32, 8>(self.tag_lane[11].q.val() & self.lane_mask.val());
        }

        // ---- The phases.
        match self.state.q.val() {
            PipeState::Idle => {
                if self.start.val() {
                    self.error_reg.d.next = 0.into();
                    self.state.d.next = PipeState::Check;
                }
            }
            PipeState::Check => {
                // (A power-of-two depth 2^d: plain logic, see GemmEngine.)
                self.out_of_bounds.d.next = (((self.acc_end_start.q.val() >> self.acc_depth_log.val()) != 0)
                    & (self.acc_end_start.q.val() != self.acc_depth.val()))
                    | (((self.out_end_start.q.val() >> self.acc_depth_log.val()) != 0) & (self.out_end_start.q.val() != self.acc_depth.val()));
                self.state.d.next = PipeState::Verdict;
            }
            PipeState::Verdict => {
                self.load_entry.d.next = 0.into();
                if !self.use_bias.val() {
                    self.load_entry.d.next = 1.into();
                }
                self.load_lane.d.next = 0.into();
                self.state.d.next = PipeState::Load;
                if self.params_bad.q.val() {
                    self.error_reg.d.next = self.bad_param.val();
                    self.finishing.d.next = true;
                    self.state.d.next = PipeState::Finish;
                } else if self.count_zero.q.val() | self.out_of_bounds.q.val() {
                    self.error_reg.d.next = self.out_of_range.val();
                    self.finishing.d.next = true;
                    self.state.d.next = PipeState::Finish;
                }
            }
            PipeState::Load => {
                self.load_lane.d.next = self.load_lane.q.val() + 1;
                if self.load_lane.q.val() == self.last_lane.val() {
                    self.load_lane.d.next = 0.into();
                    self.load_entry.d.next = self.load_entry.q.val() + 1;
                    if self.load_entry.q.val() == 2 {
                        self.load_entry.d.next = 0.into();
                        self.entry.d.next = 0.into();
                        self.lane.d.next = 0.into();
                        self.entry_last.d.next = self.count.val() == 1;
                        self.lane_last.d.next = self.last_lane.val() == 0;
                        self.state.d.next = PipeState::Stream;
                    }
                }
            }
            PipeState::Stream => {
                self.lane.d.next = self.lane.q.val() + 1;
                self.lane_last.d.next = self.lane.q.val() + 1 == self.last_lane.val();
                if self.lane_last.q.val() {
                    self.lane.d.next = 0.into();
                    self.lane_last.d.next = self.last_lane.val() == 0;
                    self.entry.d.next = self.entry.q.val() + 1;
                    self.entry_last.d.next = self.entry.q.val() + 2 == self.count.val();
                    if self.entry_last.q.val() {
                        self.entry.d.next = 0.into();
                        self.drain.d.next = self.drain_cycles.val();
                        self.state.d.next = PipeState::Drain;
                    }
                }
            }
            PipeState::Drain => {
                self.drain.d.next = self.drain.q.val() - 1;
                if self.drain.q.val() == 1 {
                    self.finishing.d.next = true;
                    self.state.d.next = PipeState::Finish;
                }
            }
            PipeState::Finish => {
                self.state.d.next = PipeState::Idle;
            }
            _ => {
                self.state.d.next = PipeState::Idle;
            }
        }
    }
}
