//! The requantization unit: INT32 accumulators (plus an optional per-column
//! bias) to INT8 with the gemmlowp rules of `npu_spec::requant`, bit for bit.
//!
//! It works one element at a time and is built to be small (the iCE40's
//! DSPs all serve the array): no multiplier, no barrel shifter, no adder
//! wider than 32 bits.
//!
//! 1. `x = acc + bias`; the multiply works on magnitudes: `P = |x| * |m|`, a
//!    shift-and-add of 32 steps (the product's high half accumulates while
//!    both halves shift right; a negative multiplier enters as `!m` with the
//!    product started at `|x|`, so no adder negates it). Each step adds in
//!    two cycles, the low 17 bits and then the high 16 with the carry, so
//!    that no carry chain is longer than 17 bits (a 33-bit chain in one
//!    cycle was the UP5K build's slowest path, at 45.8 MHz against 48);
//! 2. SaturatingRoundingDoublingHighMul on the magnitude: `R = (P + 2^30 -
//!    neg) >> 31` (gemmlowp divides the signed sum toward zero). The
//!    shift-and-add adds its starting high half at the product's bit 0, so
//!    the nudge `2^30 - neg` goes in there and `R` is wiring: no 64-bit add,
//!    no rounding add (`x = m = INT32_MIN` saturates to INT32_MAX);
//! 3. RoundingDivideByPOT by `shift`: gemmlowp rounds half away from zero,
//!    which on a magnitude is `(R >> shift) + half`, `half` being the last bit
//!    shifted out: one logical shift per cycle;
//! 4. the sign goes back on, plus the zero point, clamped to `[min, max]`.
//!    Past 512 every quotient clamps the same way whatever the zero point, so
//!    this last step is 12 bits wide.
//!
//! The request's inputs must hold from `start` until `done` (the NPU wires
//! them to its request register), and each lane's multiplier and shift
//! while the lane is in hand (a block RAM read at `lane_select`, like the
//! bias): the unit keeps no copy of them.
//!
//! About 85 + shift cycles an element (each step a register apart, for the
//! clock): less than the link needs to carry the result away (an 8N1 byte
//! takes ten bit times of 8 clocks or more).

use npu_spec::protocol::Status;
use npu_spec::requant::MAX_SHIFT;
use npu_spec::NpuConfig;

use rust_hdl::prelude::*;

/// Entries of the bias bank the unit reads (entry j: lane j's bias): the
/// lanes, rounded up to a RAM's power-of-two depth.
pub fn bias_depth(cols: usize) -> usize {
    cols.next_power_of_two().max(2)
}

/// Cycles per element at most (shift 31), for drivers that bound a wait.
pub const MAX_CYCLES_PER_ELEMENT: u64 = 117;

/// The steps, in the order of their codes (rust-hdl numbers the variants
/// 0, 1, 2, ...), which is not the order they run in: the states that write
/// one wide register share a pattern of state bits, so that one LUT
/// decodes its enable. `magnitude` is written in 4..=7 (`001xx`), `low` and
/// `step` in 3, 7, 11, 15 (`0xx11`), `high` in 12..=15 (`011xx`; 13 is a
/// spare), `offset` in 16..=18 (`100xx`; 19 is a spare), `half` in 3 and
/// 11; the waits for the sum register, the lane and the entry are `11xxx`. Spare codes go back to
/// Idle. Idle is 0, the flip-flops' power-up value. (The iCE40 build
/// recodes the state one-hot, see npu_hdl::verilog::STATE_REGISTERS; the
/// patterns serve the other builds.)
#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum RequantState {
    Idle,
    Check,
    Store,
    High,
    Wait,
    Sum,
    Negate,
    Setup,
    Verdict,
    Read,
    Bias,
    Shift,
    Prime,
    Spare13,
    MultiplyLow,
    MultiplyHigh,
    Round,
    Sign,
    Offset,
    Spare19,
    Cap,
    Clamp,
    Finish,
    Spare23,
    /// A cycle for the sum register to take magnitude + addend, before
    /// Sum, Negate and Prime read it (codes 24..=26, `110xx`: they write
    /// none of the wide registers).
    SumWait,
    NegateWait,
    PrimeWait,
    /// The next lane shows for a cycle before Wait reads it (code 27, `110xx`).
    LaneWait,
    /// Likewise the next entry's address before Read (code 28, `11100`).
    EntryWait,
}

#[derive(LogicBlock)]
pub struct Requantizer {
    pub clock: Signal<In, Clock>,
    /// Take the parameters below and run.
    pub start: Signal<In, Bit>,
    pub src: Signal<In, Bits<16>>,
    pub dst: Signal<In, Bits<16>>,
    pub count: Signal<In, Bits<16>>,
    pub zero_point: Signal<In, Bits<8>>,
    pub min: Signal<In, Bits<8>>,
    pub max: Signal<In, Bits<8>>,
    pub use_bias: Signal<In, Bit>,
    pub busy: Signal<Out, Bit>,
    /// Next cycle's `busy` and `acc_address` (for the NPU's copies of the
    /// ACC read address).
    pub busy_next: Signal<Out, Bit>,
    pub acc_address_next: Signal<Out, Bits<16>>,
    /// One cycle: finished; `error` is the protocol status (0 = OK).
    pub done: Signal<Out, Bit>,
    pub error: Signal<Out, Bits<8>>,
    /// Accumulator read port: the entry (every lane's value a cycle later).
    /// It holds for a cycle before the entry is read, so that the user may
    /// take it through a register.
    pub acc_address: Signal<Out, Bits<16>>,
    /// The lane in hand, and the BIAS entry wanted next (0 bias, 1
    /// multiplier, 2 shift). The user shows on `acc_data` lane `lane` of the
    /// accumulator entry read, and on `param` the BIAS bank's word at
    /// (`param_entry`, `lane_select`) as they were two cycles earlier (a
    /// block RAM's read behind a register): one read port serves the bias,
    /// the multiplier and the shift, each when its step needs it. `lane`
    /// holds for a cycle before `acc_data` is read and two before `param`.
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
    /// The lane before the last (unused with one lane).
    lane_before_last: Constant<Bits<8>>,
    /// The bits a lane number can use (lanes are below the count, so the
    /// lane tests compare only these).
    lane_mask: Constant<Bits<8>>,
    bad_param: Constant<Bits<8>>,
    out_of_range: Constant<Bits<8>>,
    state: DFF<RequantState>,
    error_reg: DFF<Bits<8>>,
    /// High in Finish: set by the step that goes there, so that `done` is
    /// a flip-flop and the NPU's answer logic does not decode the state.
    finishing: DFF<Bit>,
    /// Entry (from count - 1 down to 0; count itself in Check) and lane of
    /// the element in hand.
    entry: DFF<Bits<16>>,
    lane: DFF<Bits<8>>,
    /// `entry == 0` and `lane == last lane`, registered with their counters,
    /// and the shift's low bits `== 0` and `== 1`, registered every cycle
    /// (the input holds): the state's decisions read flip-flops only.
    entry_zero: DFF<Bit>,
    lane_last: DFF<Bit>,
    shift_zero: DFF<Bit>,
    shift_one: DFF<Bit>,
    /// x = acc + bias (Sum), then |x|, the multiplicand (Setup).
    magnitude: DFF<Bits<32>>,
    /// The product's sign.
    negative: DFF<Bit>,
    /// Check's test that the count is zero, for Verdict.
    saturate: DFF<Bit>,
    /// The product: high half (33 bits for the adder's carry) and low half,
    /// which starts as the multiplier's bits and is consumed from bit 0.
    /// After the multiply, `low` holds the magnitude being divided by
    /// 2^shift (High, Shift): it shifts right in both.
    high: DFF<Bits<33>>,
    low: DFF<Bits<32>>,
    /// The carry out of a step's low 17 bits (MultiplyLow), for its high
    /// bits (MultiplyHigh).
    low_carry: DFF<Bit>,
    /// What the next Multiply step adds to the high half: the multiplicand
    /// or zero (and before that, for Sum, the bias or zero; for Negate, the
    /// one that completes `!x + 1`, or zero; for Prime, the nudge).
    addend: DFF<Bits<33>>,
    /// Steps left in Multiply (31 down to 0) and Shift (`shift` down to 1),
    /// and whether this step is the last, registered with the count so that
    /// no comparison decides the state.
    step: DFF<Bits<5>>,
    last_step: DFF<Bit>,
    /// The last bit shifted out: the rounding increment.
    half: DFF<Bit>,
    /// src + count and dst + count (the ranges' ends, one bit wider), the
    /// bounds out of order, and `count == 0`: registered every
    /// cycle (the inputs hold from `start`), so that Check reads flip-flops.
    acc_end_start: DFF<Bits<17>>,
    out_end_start: DFF<Bits<17>>,
    params_bad: DFF<Bit>,
    count_zero: DFF<Bit>,
    /// Check: the source or destination range passes the memory's end.
    acc_beyond: DFF<Bit>,
    out_beyond: DFF<Bit>,
    /// The quotient's magnitude is past 511 (Cap), for Round's cap.
    big: DFF<Bit>,
    /// The rounded quotient (Round), inverted if negative (Sign), plus the zero point
    /// (Offset): the result before the clamp.
    offset: DFF<Bits<12>>,
    /// The result is below `min`, above `max` (tested in Clamp): Store
    /// writes `min`, `max` or the result's low byte.
    below_min: DFF<Bit>,
    above_max: DFF<Bit>,
    // Combinational helpers.
    x: DFF<Bits<32>>,
    /// `magnitude`'s sign bit in every bit.
    sign_fill: Signal<Local, Bits<32>>,
    /// entry - 1.
    entry_less_one: Signal<Local, Bits<16>>,
    /// The multiplier's bit for the next Multiply step (low[0] before the
    /// first, low[1] during the steps, as low shifts right).
    next_bit: Signal<Local, Bit>,
    /// The state is MultiplyHigh (MultiplyLow's successor, registered).
    at_high: DFF<Bit>,
    /// A Multiply step's sum: its low 17 bits with their carry out
    /// (MultiplyLow), then its high 16 bits (MultiplyHigh: computed one bit
    /// wider, a one below both operands, so that the carry comes in).
    partial_low: Signal<Local, Bits<18>>,
    partial_high: Signal<Local, Bits<17>>,
    /// The bit `low` takes at the top as it shifts right: the sum's bit 0
    /// in MultiplyHigh, zero in Shift.
    shift_in: Signal<Local, Bit>,
    /// The rounding nudge, `2^30 - neg`; `(P + nudge) >> 31` (High).
    nudge: Signal<Local, Bits<33>>,
    truncated: Signal<Local, Bits<32>>,
    /// The quotient's magnitude, capped at 512, rounded; then signed, plus
    /// the zero point (all 12-bit two's complement).
    capped: Signal<Local, Bits<12>>,
    quotient: Signal<Local, Bits<12>>,
    zero_point_wide: Signal<Local, Bits<12>>,
    /// The zero point, plus one for a negative product, registered every
    /// cycle (`negative` holds from High to Store): Sign only inverts the
    /// quotient, and Offset's add completes its negation, `-q + z = !q + 1 +
    /// z`, so `offset` takes one adder fewer.
    zero_point_addend: DFF<Bits<12>>,
    with_zero: Signal<Local, Bits<12>>,
    min_wide: Signal<Local, Bits<12>>,
    max_wide: Signal<Local, Bits<12>>,
    /// The result less min, max less the result, one bit wider (the sign
    /// of each is a comparison on the carry chain).
    below_diff: Signal<Local, Bits<13>>,
    above_diff: Signal<Local, Bits<13>>,
}

// A shift is 5 bits: 0..=MAX_SHIFT.
const _: () = assert!(MAX_SHIFT == 31);

impl Requantizer {
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
            busy_next: Default::default(),
            acc_address_next: Default::default(),
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
            acc_depth: Constant::new((config.memory.acc_depth as u64).into()),
            acc_depth_log: Constant::new((config.memory.acc_depth.trailing_zeros() as u64).into()),
            last_lane: Constant::new(((cols - 1) as u64).into()),
            lane_before_last: Constant::new((((cols + 254) % 256) as u64).into()),
            lane_mask: Constant::new(((cols.next_power_of_two() - 1) as u64).into()),
            bad_param: Constant::new((Status::BadParam as u64).into()),
            out_of_range: Constant::new((Status::OutOfRange as u64).into()),
            state: Default::default(),
            error_reg: Default::default(),
            finishing: Default::default(),
            entry: Default::default(),
            lane: Default::default(),
            entry_zero: Default::default(),
            lane_last: Default::default(),
            shift_zero: Default::default(),
            shift_one: Default::default(),
            magnitude: Default::default(),
            negative: Default::default(),
            saturate: Default::default(),
            high: Default::default(),
            low: Default::default(),
            low_carry: Default::default(),
            step: Default::default(),
            last_step: Default::default(),
            addend: Default::default(),
            half: Default::default(),
            big: Default::default(),
            acc_end_start: Default::default(),
            out_end_start: Default::default(),
            params_bad: Default::default(),
            count_zero: Default::default(),
            acc_beyond: Default::default(),
            out_beyond: Default::default(),
            offset: Default::default(),
            below_min: Default::default(),
            above_max: Default::default(),
            x: Default::default(),
            sign_fill: Default::default(),
            entry_less_one: Default::default(),
            next_bit: Default::default(),
            at_high: Default::default(),
            partial_low: Default::default(),
            partial_high: Default::default(),
            shift_in: Default::default(),
            nudge: Default::default(),
            truncated: Default::default(),
            capped: Default::default(),
            quotient: Default::default(),
            zero_point_addend: Default::default(),
            zero_point_wide: Default::default(),
            with_zero: Default::default(),
            min_wide: Default::default(),
            max_wide: Default::default(),
            below_diff: Default::default(),
            above_diff: Default::default(),
        }
    }

    pub fn cols(&self) -> usize {
        self.last_lane.val().index() + 1
    }
}

impl Logic for Requantizer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, error_reg, finishing, entry, lane, entry_zero, lane_last, shift_zero, shift_one, magnitude, negative,
            saturate, zero_point_addend, high, low, low_carry, step, last_step, addend, half, big, acc_end_start, out_end_start, params_bad, count_zero, acc_beyond, out_beyond, offset, below_min, above_max, x, at_high
        );
        // Which BIAS entry `param` carries two cycles from now: the
        // multiplier for Setup (all of it) and Prime (its sign); the shift from the second Multiply step until
        // High (`shift_zero`, `shift_one` and the step count); otherwise the
        // bias, which Bias reads.
        self.param_entry.next = 0.into();
        if (self.state.q.val() == RequantState::SumWait)
            | (self.state.q.val() == RequantState::Sum)
            | (self.state.q.val() == RequantState::Setup)
            | (self.state.q.val() == RequantState::NegateWait)
            | (self.state.q.val() == RequantState::Negate)
        {
            self.param_entry.next = 1.into();
        }
        if (self.state.q.val() == RequantState::Prime)
            | (self.state.q.val() == RequantState::MultiplyLow)
            | (self.state.q.val() == RequantState::MultiplyHigh)
            | (self.state.q.val() == RequantState::High)
        {
            self.param_entry.next = 2.into();
        }
        self.busy.next = self.state.q.val() != RequantState::Idle;
        self.done.next = self.finishing.q.val();
        self.finishing.d.next = false;
        self.error.next = self.error_reg.q.val();
        // Check's tests, from the inputs.
        self.acc_end_start.d.next = bit_cast::<17, 16>(self.src.val()) + bit_cast::<17, 16>(self.count.val());
        self.out_end_start.d.next = bit_cast::<17, 16>(self.dst.val()) + bit_cast::<17, 16>(self.count.val());
        self.params_bad.d.next = (self.min.val() ^ 0x80) > (self.max.val() ^ 0x80);
        self.count_zero.d.next = self.count.val() == 0;
        // The elements' addresses: they run from the last entry down to the first.
        self.acc_address.next = self.src.val() + self.entry.q.val();
        self.out_address.next = self.dst.val() + self.entry.q.val();
        // The lane in hand, with its bias (the user selects both).
        self.lane_select.next = self.lane.q.val();
        self.out_lanes.next = 0.into();
        // Sum adds the bias to the lane's accumulator, which Wait kept in
        // `magnitude`; Setup takes the magnitude of the sum.
        self.entry_less_one.next = self.entry.q.val() - 1;
        // Sum: x = acc + bias, the bias from the addend register (Bias put
        // it there, or zero), so that the adder starts from flip-flops;
        // Negate uses the same adder to add the one after the inversion,
        // and Prime to add the nudge to |x|.
        // (Registered, every cycle: the 32-bit carry chain ends at a
        // flip-flop in its own logic cells, and each user waits a cycle.)
        self.x.d.next = self.magnitude.q.val() + self.addend.q.val().get_bits::<32>(0);
        self.shift_zero.d.next = self.param.val().get_bits::<5>(0) == 0;
        self.shift_one.d.next = self.param.val().get_bits::<5>(0) == 1;
        self.sign_fill.next = bits::<32>(0);
        if self.magnitude.q.val().get_bit(31) {
            self.sign_fill.next = bits::<32>(0xFFFF_FFFF_u64);
        }
        // Multiply step: add the multiplicand to the high half when the
        // multiplier's bit is set; the addend is chosen a cycle ahead, into
        // a register, so that the step's adder starts from flip-flops.
        self.at_high.d.next = self.state.q.val() == RequantState::MultiplyLow;
        self.next_bit.next = self.low.q.val().get_bit(0);
        if self.at_high.q.val() {
            self.next_bit.next = self.low.q.val().get_bit(1);
        }
        self.addend.d.next = bits::<33>(0);
        if self.next_bit.val() {
            self.addend.d.next = bit_cast::<33, 32>(self.magnitude.q.val());
        }
        self.partial_low.next = bit_cast::<18, 17>(self.high.q.val().get_bits::<17>(0))
            + bit_cast::<18, 17>(self.addend.q.val().get_bits::<17>(0));
        self.partial_high.next = ((bit_cast::<17, 16>(self.high.q.val().get_bits::<16>(17)) << 1) | 1)
            + ((bit_cast::<17, 16>(self.addend.q.val().get_bits::<16>(17)) << 1) | bit_cast::<17, 1>(self.low_carry.q.val().into()));
        // MultiplyHigh and Shift both shift `low` right (one enable, one
        // multiplexer input): MultiplyHigh takes the sum's bit 0 (in
        // high's bit 0 since MultiplyLow) in at the top.
        self.shift_in.next = false;
        if self.state.q.val() == RequantState::MultiplyHigh {
            self.shift_in.next = self.high.q.val().get_bit(0);
        }
        // The rounding nudge, 2^30 (2^30 - 1 when negative), which starts the
        // product (Negate, Prime), and R = (P + nudge) >> 31, read in High.
        self.nudge.next = bits::<33>(0x4000_0000);
        if self.negative.q.val() {
            self.nudge.next = bits::<33>(0x3FFF_FFFF);
        }
        self.truncated.next = (bit_cast::<32, 33>(self.high.q.val()) << 1) | bit_cast::<32, 1>(self.low.q.val().get_bit(31).into());
        // The quotient: its magnitude capped at 512 (beyond, every result
        // clamps the same way), rounded (Round), signed (Sign), plus the zero
        // point (Offset), each kept in `offset`; tested against the bounds (Clamp,
        // into flags) and written (Store, clamped by the flags). Each step is a register apart,
        // for the clock.
        self.capped.next = bit_cast::<12, 10>(self.low.q.val().get_bits::<10>(0));
        if self.big.q.val() {
            self.capped.next = bits::<12>(512);
        }
        self.quotient.next = self.capped.val() + bit_cast::<12, 1>(self.half.q.val().into());
        self.zero_point_wide.next = bit_cast::<12, 8>(self.zero_point.val());
        if self.zero_point.val().get_bit(7) {
            self.zero_point_wide.next = bit_cast::<12, 8>(self.zero_point.val()) | bits::<12>(0xF00);
        }
        self.min_wide.next = bit_cast::<12, 8>(self.min.val());
        if self.min.val().get_bit(7) {
            self.min_wide.next = bit_cast::<12, 8>(self.min.val()) | bits::<12>(0xF00);
        }
        self.max_wide.next = bit_cast::<12, 8>(self.max.val());
        if self.max.val().get_bit(7) {
            self.max_wide.next = bit_cast::<12, 8>(self.max.val()) | bits::<12>(0xF00);
        }
        self.zero_point_addend.d.next = self.zero_point_wide.val() + bit_cast::<12, 1>(self.negative.q.val().into());
        self.with_zero.next = self.offset.q.val() + self.zero_point_addend.q.val();
        // 13-bit sign extensions: bit 12 copies bit 11.
        self.below_diff.next = (bit_cast::<13, 12>(self.offset.q.val()) | (bit_cast::<13, 12>(self.offset.q.val() & 0x800) << 1))
            - (bit_cast::<13, 12>(self.min_wide.val()) | (bit_cast::<13, 12>(self.min_wide.val() & 0x800) << 1));
        self.above_diff.next = (bit_cast::<13, 12>(self.max_wide.val()) | (bit_cast::<13, 12>(self.max_wide.val() & 0x800) << 1))
            - (bit_cast::<13, 12>(self.offset.q.val()) | (bit_cast::<13, 12>(self.offset.q.val() & 0x800) << 1));
        // The clamp: the tests are flip-flops (Clamp), so the byte written
        // is a multiplexer away from them.
        self.out_data.next = self.offset.q.val().get_bits::<8>(0);
        if self.below_min.q.val() {
            self.out_data.next = self.min.val();
        }
        if self.above_max.q.val() {
            self.out_data.next = self.max.val();
        }

        if (self.state.q.val() == RequantState::MultiplyHigh) | (self.state.q.val() == RequantState::Shift) {
            self.low.d.next = (self.low.q.val() >> 1) | (bit_cast::<32, 1>(self.shift_in.val().into()) << 31);
        }
        match self.state.q.val() {
            RequantState::Idle => {
                if self.start.val() {
                    self.error_reg.d.next = 0.into();
                    // Check starts the elements at count - 1.
                    self.entry.d.next = self.count.val();
                    self.lane.d.next = 0.into();
                    self.lane_last.d.next = self.last_lane.val() == 0;
                    self.state.d.next = RequantState::Check;
                }
            }
            RequantState::Check => {
                // The tests land in flip-flops (negative, free until the first
                // element: bad parameters; saturate, likewise, and the beyond
                // flags: out of range), and Verdict acts on them.
                self.state.d.next = RequantState::Verdict;
                self.negative.d.next = self.params_bad.q.val();
                self.saturate.d.next = self.count_zero.q.val();
                // (A power-of-two depth 2^d: plain logic, see GemmEngine.)
                self.acc_beyond.d.next = ((self.acc_end_start.q.val() >> self.acc_depth_log.val()) != 0)
                    & (self.acc_end_start.q.val() != self.acc_depth.val());
                self.out_beyond.d.next = ((self.out_end_start.q.val() >> self.acc_depth_log.val()) != 0)
                    & (self.out_end_start.q.val() != self.acc_depth.val());
                // The last element first.
                self.entry.d.next = self.entry_less_one.val();
                self.entry_zero.d.next = self.entry.q.val() == 1;
            }
            RequantState::Verdict => {
                self.state.d.next = RequantState::Read;
                if self.negative.q.val() {
                    self.error_reg.d.next = self.bad_param.val();
                    self.finishing.d.next = true;
                    self.state.d.next = RequantState::Finish;
                } else if self.saturate.q.val() | self.acc_beyond.q.val() | self.out_beyond.q.val() {
                    self.error_reg.d.next = self.out_of_range.val();
                    self.finishing.d.next = true;
                    self.state.d.next = RequantState::Finish;
                }
            }
            RequantState::Read => {
                // acc_address shows the entry; its lanes arrive next cycle.
                self.state.d.next = RequantState::Wait;
            }
            RequantState::Wait => {
                // The lane's accumulator is here; its bias comes next cycle
                // (lane_select will have shown the lane for a cycle).
                self.magnitude.d.next = self.acc_data.val();
                self.state.d.next = RequantState::Bias;
            }
            RequantState::Bias => {
                self.addend.d.next = 0.into();
                if self.use_bias.val() {
                    self.addend.d.next = bit_cast::<33, 32>(self.param.val());
                }
                self.state.d.next = RequantState::SumWait;
            }
            RequantState::SumWait => {
                self.state.d.next = RequantState::Sum;
            }
            RequantState::NegateWait => {
                self.state.d.next = RequantState::Negate;
            }
            RequantState::PrimeWait => {
                self.state.d.next = RequantState::Prime;
            }
            RequantState::LaneWait => {
                self.state.d.next = RequantState::Wait;
            }
            RequantState::EntryWait => {
                self.state.d.next = RequantState::Read;
            }
            RequantState::Sum => {
                self.magnitude.d.next = self.x.q.val();
                self.state.d.next = RequantState::Setup;
            }
            RequantState::Setup => {
                // |x| in two steps, so that no adder follows the inversion
                // in one cycle: !x here, + 1 in Negate (Sum's adder, with
                // the one in the addend register). The inversion is an XOR
                // with the sign, so that `magnitude` is written either way
                // and its enable is the state alone.
                self.magnitude.d.next = self.magnitude.q.val() ^ self.sign_fill.val();
                self.addend.d.next = 0.into();
                if self.magnitude.q.val().get_bit(31) {
                    self.addend.d.next = 1.into();
                }
                self.negative.d.next = self.magnitude.q.val().get_bit(31) ^ self.param.val().get_bit(31);
                // The multiplier's magnitude without an adder: a negative
                // multiplier's is !m + 1, so `low` takes !m and Prime adds
                // |x| to the product's start (the input holds: no copy).
                self.low.d.next = self.param.val();
                if self.param.val().get_bit(31) {
                    self.low.d.next = !self.param.val();
                }
                // 32 Multiply steps: 31 down to 0.
                self.step.d.next = 31.into();
                self.last_step.d.next = false;
                self.state.d.next = RequantState::NegateWait;
            }
            RequantState::Negate => {
                self.magnitude.d.next = self.x.q.val();
                // (Setup decided the sign: the nudge is known.)
                self.addend.d.next = self.nudge.val();
                self.state.d.next = RequantState::PrimeWait;
            }
            RequantState::Prime => {
                // The shift-and-add ends with {high, low} = high's start +
                // |x| * low's start: starting high at the nudge rounds, and
                // adding |x| to it (Sum's adder) adds the multiplier's
                // missing 1: |x| * (!m + 1) = |x| * |m|.
                self.high.d.next = self.nudge.val();
                if self.param.val().get_bit(31) {
                    self.high.d.next = bit_cast::<33, 32>(self.x.q.val());
                }
                // The saturating case: |x| = 2^31 (x = INT32_MIN) and m = INT32_MIN.
                self.state.d.next = RequantState::MultiplyLow;
            }
            RequantState::MultiplyLow => {
                // {high, low} = ({high + addend, low}) >> 1, 32 times: the
                // low 17 bits of the sum here, into high, and their carry.
                self.high.d.next = (self.high.q.val() & 0x1_FFFE_0000_u64) | bit_cast::<33, 17>(self.partial_low.val().get_bits::<17>(0));
                self.low_carry.d.next = self.partial_low.val().get_bit(17);
                self.state.d.next = RequantState::MultiplyHigh;
            }
            RequantState::MultiplyHigh => {
                // The high 16 bits of the sum with the carry, and the shift
                // (`low` shifts above, with Shift's).
                self.high.d.next = (bit_cast::<33, 17>(self.partial_high.val() >> 1) << 16)
                    | bit_cast::<33, 16>(self.high.q.val().get_bits::<16>(1));
                self.state.d.next = RequantState::MultiplyLow;
                self.step.d.next = self.step.q.val() - 1;
                self.last_step.d.next = self.step.q.val() == 1;
                if self.last_step.q.val() {
                    self.state.d.next = RequantState::High;
                }
            }
            RequantState::Spare13 => {
                // (Writes `high` like the other codes of its pattern.)
                self.high.d.next = bits::<33>(0);
                self.state.d.next = RequantState::Idle;
            }
            RequantState::High => {
                // SaturatingRoundingDoublingHighMul's magnitude, (P + nudge)
                // >> 31. Both magnitudes are at most 2^31, so R is at most
                // 2^31, and reaches it only for x = m = INT32_MIN, whose
                // product is positive: that one case saturates to INT32_MAX.
                self.low.d.next = self.truncated.val();
                if self.truncated.val().get_bit(31) {
                    self.low.d.next = bits::<32>(0x7FFF_FFFF);
                }
                self.half.d.next = false;
                // `shift` Shift steps (5 bits: below 32), the
                // last when `step` is 1.
                self.step.d.next = self.param.val().get_bits::<5>(0);
                self.last_step.d.next = self.shift_one.q.val();
                self.state.d.next = RequantState::Shift;
                if self.shift_zero.q.val() {
                    self.state.d.next = RequantState::Cap;
                }
            }
            RequantState::Shift => {
                // Shift right by one (below), remembering the bit that falls
                // out (every Shift step shifts: the enables of `low` and
                // `half` are the state alone). The last is at `step == 1`.
                self.half.d.next = self.low.q.val().get_bit(0);
                self.step.d.next = self.step.q.val() - 1;
                self.last_step.d.next = self.step.q.val() == 2;
                if self.last_step.q.val() {
                    self.state.d.next = RequantState::Cap;
                }
            }
            RequantState::Cap => {
                self.big.d.next = self.low.q.val().get_bits::<23>(9) != 0;
                self.state.d.next = RequantState::Round;
            }
            RequantState::Round => {
                self.offset.d.next = self.quotient.val();
                self.state.d.next = RequantState::Sign;
            }
            RequantState::Sign => {
                if self.negative.q.val() {
                    self.offset.d.next = !self.offset.q.val();
                }
                self.state.d.next = RequantState::Offset;
            }
            RequantState::Offset => {
                self.offset.d.next = self.with_zero.val();
                self.state.d.next = RequantState::Clamp;
            }
            RequantState::Clamp => {
                // Signed comparisons as the signs of 13-bit differences.
                // (Read whole, shifted: only the sign bit matters.)
                self.below_min.d.next = (self.below_diff.val() >> 12) != 0;
                self.above_max.d.next = (self.above_diff.val() >> 12) != 0;
                self.state.d.next = RequantState::Store;
            }
            RequantState::Store => {
                self.out_lanes.next = bits::<32>(1) << bit_cast::<32, 8>(self.lane.q.val() & self.lane_mask.val());
                self.lane.d.next = self.lane.q.val() + 1;
                self.lane_last.d.next = (self.lane.q.val() & self.lane_mask.val()) == self.lane_before_last.val();
                self.state.d.next = RequantState::LaneWait;
                if self.lane_last.q.val() {
                    self.lane.d.next = 0.into();
                    self.lane_last.d.next = self.last_lane.val() == 0;
                    self.entry.d.next = self.entry_less_one.val();
                    self.entry_zero.d.next = self.entry.q.val() == 1;
                    self.state.d.next = RequantState::EntryWait;
                    if self.entry_zero.q.val() {
                        self.finishing.d.next = true;
                        self.state.d.next = RequantState::Finish;
                    }
                }
            }
            RequantState::Finish => {
                self.state.d.next = RequantState::Idle;
            }
            RequantState::Spare19 => {
                // (Writes `offset` like the other codes of its pattern.)
                self.offset.d.next = bits::<12>(0);
                self.state.d.next = RequantState::Idle;
            }
            _ => {
                self.state.d.next = RequantState::Idle;
            }
        }
        // Next cycle's busy and ACC address, read after every assignment above.
        self.busy_next.next = self.state.d.val() != RequantState::Idle;
        self.acc_address_next.next = self.src.val() + self.entry.d.val();
    }
}

