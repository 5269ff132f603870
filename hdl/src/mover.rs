//! The mover: MOVE's checks and its places, byte after byte.
//!
//! The executor starts it with the request's fields in place (the header's
//! bytes, which hold until the answer is out) and moves the bytes itself,
//! through its cursor: the mover says where from and where to. It runs in
//! three parts, as the protocol orders the checks:
//!
//! - **check** the banks (A, B or OUT read, A or B written), the lanes
//!   (below each bank's lanes) and that `count` and `runs` are not 0;
//! - **walk** to the last byte of the last run (strides are unsigned, so it
//!   is the farthest of each side): `runs - 1` run strides, then `count - 1`
//!   steps, by their binary digits, a cycle a digit: the stride doubled
//!   each cycle (its lane wrapping once into the entry), added where the
//!   digit is 1 by the same adders that serve the bytes (no multiplier),
//!   and test it against the bank's depth. About 2 log2 of the bytes
//!   cycles, where a cycle a stride took `count + runs`;
//! - **serve**: `checked` with OK, then the first byte's places; each
//!   `advance` shows the next, `last` says the byte shown is the last.
//!
//! With `zeros` the source side is neither checked nor read.

use crate::place_adder::PlaceAdder;
use crate::place_walker::PlaceWalker;
use crate::vecs::k;
use npu_spec::protocol::{Bank, Status};
use npu_spec::NpuConfig;
use rust_hdl::prelude::*;

// The bank numbers are literals in update.
const _: () = assert!(Bank::A as u8 == 0 && Bank::B as u8 == 1 && Bank::Out as u8 == 4);

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum MoverState {
    Idle,
    Setup,
    Check,
    Decide,
    WalkRuns,
    WalkSteps,
    Past,
    Verdict,
    Serve,
}

#[derive(LogicBlock)]
pub struct Mover {
    pub clock: Signal<In, Clock>,
    /// One cycle: check the request in the fields below, then serve it.
    pub start: Signal<In, Bit>,
    // ---- MOVE's fields (see the protocol), held until the answer is out.
    pub src_bank: Signal<In, Bits<8>>,
    pub dst_bank: Signal<In, Bits<8>>,
    pub src_entry: Signal<In, Bits<16>>,
    pub src_lane: Signal<In, Bits<8>>,
    pub dst_entry: Signal<In, Bits<16>>,
    pub dst_lane: Signal<In, Bits<8>>,
    pub count: Signal<In, Bits<16>>,
    pub runs: Signal<In, Bits<16>>,
    pub src_step_entry: Signal<In, Bits<16>>,
    pub src_step_lane: Signal<In, Bits<8>>,
    pub src_run_entry: Signal<In, Bits<16>>,
    pub src_run_lane: Signal<In, Bits<8>>,
    pub dst_step_entry: Signal<In, Bits<16>>,
    pub dst_step_lane: Signal<In, Bits<8>>,
    pub dst_run_entry: Signal<In, Bits<16>>,
    pub dst_run_lane: Signal<In, Bits<8>>,
    pub zeros: Signal<In, Bit>,
    // ---- The executor's side.
    /// One cycle: the verdict is in `error` (OK: the places follow).
    pub checked: Signal<Out, Bit>,
    pub error: Signal<Out, Bits<8>>,
    /// The byte to move, from and to (flip-flops).
    pub from_entry: Signal<Out, Bits<16>>,
    /// Next cycle's `from_entry` (for B's address copies, when a stream
    /// reads B).
    pub from_entry_next: Signal<Out, Bits<16>>,
    pub from_lane: Signal<Out, Bits<8>>,
    pub to_entry: Signal<Out, Bits<16>>,
    pub to_lane: Signal<Out, Bits<8>>,
    /// The byte shown is the last (a cycle after it is shown).
    pub last: Signal<Out, Bit>,
    /// The byte shown is the last, in the cycle it is shown (for a stream
    /// that takes a byte every cycle).
    pub showing_last: Signal<Out, Bit>,
    /// One cycle: the byte shown is moved; show the next.
    pub advance: Signal<In, Bit>,
    // ---- The two sides.
    from: PlaceWalker,
    to: PlaceWalker,
    /// Each side's walk stride doubled (the entries' sum 17 bits: the top
    /// one an overflow).
    from_double: PlaceAdder,
    to_double: PlaceAdder,
    // ---- Limits from the config and the protocol.
    rows: Constant<Bits<8>>,
    cols: Constant<Bits<8>>,
    a_depth_log: Constant<Bits<16>>,
    b_depth_log: Constant<Bits<16>>,
    acc_depth_log: Constant<Bits<16>>,
    st_ok: Constant<Bits<8>>,
    st_bad_bank: Constant<Bits<8>>,
    st_bad_param: Constant<Bits<8>>,
    st_out_of_range: Constant<Bits<8>>,
    // ---- State.
    state: DFF<MoverState>,
    /// Each side's bank is A, B, OUT (registered in Setup).
    from_a: DFF<Bit>,
    from_b: DFF<Bit>,
    from_out: DFF<Bit>,
    to_a: DFF<Bit>,
    to_b: DFF<Bit>,
    /// That each side's three lanes are below its bank's lanes.
    from_lanes_ok: DFF<Bit>,
    to_lanes_ok: DFF<Bit>,
    /// `count` or `runs` is 0.
    empty: DFF<Bit>,
    /// Bytes left in this run and runs left, each counting the one shown
    /// (from `count` and `runs` down to 1: no subtractor on the reload).
    steps_left: DFF<Bits<16>>,
    runs_left: DFF<Bits<16>>,
    /// `steps_left == 1` and `runs_left == 1`, registered with them, so
    /// that an advance decides the walkers' controls from flip-flops.
    steps_one: DFF<Bit>,
    runs_one: DFF<Bit>,
    walking_reg: DFF<Bit>,
    /// The walk's end lies past its bank, on either side.
    past: DFF<Bit>,
    /// The walk: the digits of `runs - 1`, then of `count - 1`, not yet
    /// taken (shifted down a cycle); each side's stride times the digit's
    /// place (run stride, then step), and that a doubling overflowed 16
    /// entry bits with digits left (the end is then past any bank).
    walk_digits: DFF<Bits<16>>,
    from_pow_entry: DFF<Bits<16>>,
    from_pow_lane: DFF<Bits<6>>,
    to_pow_entry: DFF<Bits<16>>,
    to_pow_lane: DFF<Bits<6>>,
    from_walk_past: DFF<Bit>,
    to_walk_past: DFF<Bit>,
    checked_reg: DFF<Bit>,
    error_reg: DFF<Bits<8>>,
    last_reg: DFF<Bit>,
    // ---- Combinational.
    /// Each side's bank's lanes, from its flags (a constant for a square
    /// array, and the walkers' lane tests with it).
    from_lanes: Signal<Local, Bits<8>>,
    to_lanes: Signal<Local, Bits<8>>,
    /// The walkers' controls, for both sides at once.
    restart: Signal<Local, Bit>,
    step: Signal<Local, Bit>,
    next_run: Signal<Local, Bit>,
    from_past: Signal<Local, Bit>,
    to_past: Signal<Local, Bit>,
    /// The walk is under way (the walkers add its strides): the state is
    /// WalkRuns or WalkSteps, registered from the next state so that the
    /// walkers' stride multiplexers are not behind the state's decoding.
    walking: Signal<Local, Bit>,
    /// The destination walker's next entry, which nothing reads (the
    /// source's feeds B's address copies): named for Verilator's lint.
    unused_to_entry_next: Signal<Local, Bits<16>>,
}

impl Mover {
    pub fn new(config: &NpuConfig) -> Self {
        let m = &config.memory;
        assert!(config.array.rows <= 32 && config.array.cols <= 32, "lanes fit the walkers' 8-bit sums");
        Self {
            clock: Default::default(),
            start: Default::default(),
            src_bank: Default::default(),
            dst_bank: Default::default(),
            src_entry: Default::default(),
            src_lane: Default::default(),
            dst_entry: Default::default(),
            dst_lane: Default::default(),
            count: Default::default(),
            runs: Default::default(),
            src_step_entry: Default::default(),
            src_step_lane: Default::default(),
            src_run_entry: Default::default(),
            src_run_lane: Default::default(),
            dst_step_entry: Default::default(),
            dst_step_lane: Default::default(),
            dst_run_entry: Default::default(),
            dst_run_lane: Default::default(),
            zeros: Default::default(),
            checked: Default::default(),
            error: Default::default(),
            from_entry: Default::default(),
            from_entry_next: Default::default(),
            from_lane: Default::default(),
            to_entry: Default::default(),
            to_lane: Default::default(),
            last: Default::default(),
            showing_last: Default::default(),
            advance: Default::default(),
            from: Default::default(),
            to: Default::default(),
            from_double: Default::default(),
            to_double: Default::default(),
            rows: k(config.array.rows as u64),
            cols: k(config.array.cols as u64),
            a_depth_log: k(m.a_depth.trailing_zeros() as u64),
            b_depth_log: k(m.b_depth.trailing_zeros() as u64),
            acc_depth_log: k(m.acc_depth.trailing_zeros() as u64),
            st_ok: k(Status::Ok as u64),
            st_bad_bank: k(Status::BadBank as u64),
            st_bad_param: k(Status::BadParam as u64),
            st_out_of_range: k(Status::OutOfRange as u64),
            state: Default::default(),
            from_a: Default::default(),
            from_b: Default::default(),
            from_out: Default::default(),
            to_a: Default::default(),
            to_b: Default::default(),
            from_lanes_ok: Default::default(),
            to_lanes_ok: Default::default(),
            empty: Default::default(),
            steps_left: Default::default(),
            runs_left: Default::default(),
            steps_one: Default::default(),
            runs_one: Default::default(),
            walking_reg: Default::default(),
            past: Default::default(),
            walk_digits: Default::default(),
            from_pow_entry: Default::default(),
            from_pow_lane: Default::default(),
            to_pow_entry: Default::default(),
            to_pow_lane: Default::default(),
            from_walk_past: Default::default(),
            to_walk_past: Default::default(),
            checked_reg: Default::default(),
            error_reg: Default::default(),
            last_reg: Default::default(),
            restart: Default::default(),
            step: Default::default(),
            next_run: Default::default(),
            from_past: Default::default(),
            to_past: Default::default(),
            walking: Default::default(),
            unused_to_entry_next: Default::default(),
            from_lanes: Default::default(),
            to_lanes: Default::default(),
        }
    }

    /// The state, for tests.
    pub fn state(&self) -> MoverState {
        self.state.q.val()
    }
}

impl Logic for Mover {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, from_a, from_b, from_out, to_a, to_b, from_lanes_ok, to_lanes_ok, empty, steps_left, runs_left, steps_one, runs_one, walking_reg,
            past, walk_digits, from_pow_entry, from_pow_lane, to_pow_entry, to_pow_lane, from_walk_past, to_walk_past,
            checked_reg, error_reg, last_reg
        );
        self.from.clock.next = self.clock.val();
        self.to.clock.next = self.clock.val();
        self.from_lanes.next = self.cols.val();
        if self.from_a.q.val() {
            self.from_lanes.next = self.rows.val();
        }
        self.to_lanes.next = self.cols.val();
        if self.to_a.q.val() {
            self.to_lanes.next = self.rows.val();
        }
        // (Lanes are below 32: the walkers take six bits.)
        self.from.lanes.next = self.from_lanes.val().get_bits::<6>(0);
        self.to.lanes.next = self.to_lanes.val().get_bits::<6>(0);
        self.from.base_entry.next = self.src_entry.val();
        self.from.base_lane.next = self.src_lane.val().get_bits::<6>(0);
        self.from.step_entry.next = self.src_step_entry.val();
        self.from.step_lane.next = self.src_step_lane.val().get_bits::<6>(0);
        self.from.run_entry.next = self.src_run_entry.val();
        self.from.run_lane.next = self.src_run_lane.val().get_bits::<6>(0);
        self.to.base_entry.next = self.dst_entry.val();
        self.to.base_lane.next = self.dst_lane.val().get_bits::<6>(0);
        self.to.step_entry.next = self.dst_step_entry.val();
        self.to.step_lane.next = self.dst_step_lane.val().get_bits::<6>(0);
        self.to.run_entry.next = self.dst_run_entry.val();
        self.to.run_lane.next = self.dst_run_lane.val().get_bits::<6>(0);
        // While walking, both strides of each walker are the walk's.
        self.walking.next = self.walking_reg.q.val();
        if self.walking.val() {
            self.from.step_entry.next = self.from_pow_entry.q.val();
            self.from.step_lane.next = self.from_pow_lane.q.val();
            self.from.run_entry.next = self.from_pow_entry.q.val();
            self.from.run_lane.next = self.from_pow_lane.q.val();
            self.to.step_entry.next = self.to_pow_entry.q.val();
            self.to.step_lane.next = self.to_pow_lane.q.val();
            self.to.run_entry.next = self.to_pow_entry.q.val();
            self.to.run_lane.next = self.to_pow_lane.q.val();
        }
        // The walk strides doubled: each added to itself.
        self.from_double.lanes.next = self.from_lanes.val().get_bits::<6>(0);
        self.from_double.entry.next = self.from_pow_entry.q.val();
        self.from_double.lane.next = self.from_pow_lane.q.val();
        self.from_double.stride_entry.next = self.from_pow_entry.q.val();
        self.from_double.stride_lane.next = self.from_pow_lane.q.val();
        self.to_double.lanes.next = self.to_lanes.val().get_bits::<6>(0);
        self.to_double.entry.next = self.to_pow_entry.q.val();
        self.to_double.lane.next = self.to_pow_lane.q.val();
        self.to_double.stride_entry.next = self.to_pow_entry.q.val();
        self.to_double.stride_lane.next = self.to_pow_lane.q.val();
        self.restart.next = false;
        self.step.next = false;
        self.next_run.next = false;
        // ---- Outputs, each a flip-flop.
        self.checked.next = self.checked_reg.q.val();
        self.error.next = self.error_reg.q.val();
        self.checked_reg.d.next = false;
        self.from_entry.next = self.from.entry.val();
        self.from_entry_next.next = self.from.entry_next.val();
        self.unused_to_entry_next.next = self.to.entry_next.val();
        self.from_lane.next = bit_cast::<8, 6>(self.from.lane.val());
        self.to_entry.next = self.to.entry.val();
        self.to_lane.next = bit_cast::<8, 6>(self.to.lane.val());
        self.last.next = self.last_reg.q.val();
        self.showing_last.next = self.steps_one.q.val() & self.runs_one.q.val();
        self.last_reg.d.next = self.steps_one.q.val() & self.runs_one.q.val();
        // Each side's end past its bank (a depth is a power of two): the
        // entry's bits from the depth's up are not all 0, or it overflowed.
        self.from_past.next = self.from.overflow.val()
            | (self.from_a.q.val() & ((self.from.entry.val() >> self.a_depth_log.val()) != 0))
            | (self.from_b.q.val() & ((self.from.entry.val() >> self.b_depth_log.val()) != 0))
            | (self.from_out.q.val() & ((self.from.entry.val() >> self.acc_depth_log.val()) != 0));
        self.to_past.next = self.to.overflow.val()
            | (self.to_a.q.val() & ((self.to.entry.val() >> self.a_depth_log.val()) != 0))
            | (self.to_b.q.val() & ((self.to.entry.val() >> self.b_depth_log.val()) != 0));
        match self.state.q.val() {
            MoverState::Idle => {
                if self.start.val() {
                    self.state.d.next = MoverState::Setup;
                }
            }
            MoverState::Setup => {
                // The banks as flags and their lanes; the walkers at the
                // first places; the loop counts.
                self.from_a.d.next = self.src_bank.val() == 0;
                self.from_b.d.next = self.src_bank.val() == 1;
                self.from_out.d.next = self.src_bank.val() == 4;
                self.to_a.d.next = self.dst_bank.val() == 0;
                self.to_b.d.next = self.dst_bank.val() == 1;
                self.empty.d.next = (self.count.val() == 0) | (self.runs.val() == 0);
                self.steps_left.d.next = self.count.val();
                self.runs_left.d.next = self.runs.val();
                self.restart.next = true;
                self.state.d.next = MoverState::Check;
            }
            MoverState::Check => {
                self.from_lanes_ok.d.next = (self.src_lane.val() < self.from_lanes.val())
                    & (self.src_step_lane.val() < self.from_lanes.val())
                    & (self.src_run_lane.val() < self.from_lanes.val());
                self.to_lanes_ok.d.next = (self.dst_lane.val() < self.to_lanes.val())
                    & (self.dst_step_lane.val() < self.to_lanes.val())
                    & (self.dst_run_lane.val() < self.to_lanes.val());
                self.state.d.next = MoverState::Decide;
            }
            MoverState::Decide => {
                // In the protocol's order: banks, lanes, an empty range;
                // else walk to the end. (Zeros read no bank.)
                self.state.d.next = MoverState::Verdict;
                if !(self.to_a.q.val() | self.to_b.q.val())
                    | !(self.zeros.val() | self.from_a.q.val() | self.from_b.q.val() | self.from_out.q.val())
                {
                    self.error_reg.d.next = self.st_bad_bank.val();
                } else if !(self.to_lanes_ok.q.val() & (self.zeros.val() | self.from_lanes_ok.q.val())) {
                    self.error_reg.d.next = self.st_bad_param.val();
                } else if self.empty.q.val() {
                    self.error_reg.d.next = self.st_out_of_range.val();
                } else {
                    self.error_reg.d.next = self.st_ok.val();
                    self.state.d.next = MoverState::WalkRuns;
                }
                // The run strides, for `runs - 1` of them.
                self.walk_digits.d.next = self.runs.val() - 1;
                self.from_pow_entry.d.next = self.src_run_entry.val();
                self.from_pow_lane.d.next = self.src_run_lane.val().get_bits::<6>(0);
                self.to_pow_entry.d.next = self.dst_run_entry.val();
                self.to_pow_lane.d.next = self.dst_run_lane.val().get_bits::<6>(0);
                self.from_walk_past.d.next = false;
                self.to_walk_past.d.next = false;
            }
            MoverState::WalkRuns => {
                // A digit a cycle: a run stride times its place where it
                // is 1; then the step strides, for `count - 1` of them.
                if self.walk_digits.q.val() == 0 {
                    self.walk_digits.d.next = self.count.val() - 1;
                    self.from_pow_entry.d.next = self.src_step_entry.val();
                    self.from_pow_lane.d.next = self.src_step_lane.val().get_bits::<6>(0);
                    self.to_pow_entry.d.next = self.dst_step_entry.val();
                    self.to_pow_lane.d.next = self.dst_step_lane.val().get_bits::<6>(0);
                    self.state.d.next = MoverState::WalkSteps;
                } else {
                    self.next_run.next = self.walk_digits.q.val().get_bit(0);
                }
            }
            MoverState::WalkSteps => {
                if self.walk_digits.q.val() == 0 {
                    self.state.d.next = MoverState::Past;
                } else {
                    self.step.next = self.walk_digits.q.val().get_bit(0);
                }
            }
            MoverState::Past => {
                self.past.d.next = self.to_past.val() | self.to_walk_past.q.val() | (!self.zeros.val() & (self.from_past.val() | self.from_walk_past.q.val()));
                self.state.d.next = MoverState::Verdict;
            }
            MoverState::Verdict => {
                // Back to the first byte for serving (the walk, if any,
                // left the counts at 1).
                if self.past.q.val() {
                    self.error_reg.d.next = self.st_out_of_range.val();
                }
                self.past.d.next = false;
                self.checked_reg.d.next = true;
                self.restart.next = true;
                self.steps_left.d.next = self.count.val();
                self.runs_left.d.next = self.runs.val();
                self.state.d.next = MoverState::Idle;
                if (self.error_reg.q.val() == self.st_ok.val()) & !self.past.q.val() {
                    self.state.d.next = MoverState::Serve;
                }
            }
            MoverState::Serve => {
                if self.advance.val() {
                    if !self.steps_one.q.val() {
                        self.step.next = true;
                        self.steps_left.d.next = self.steps_left.q.val() - 1;
                    } else if !self.runs_one.q.val() {
                        self.next_run.next = true;
                        self.steps_left.d.next = self.count.val();
                        self.runs_left.d.next = self.runs_left.q.val() - 1;
                    } else {
                        self.state.d.next = MoverState::Idle;
                    }
                }
            }
            _ => {
                self.state.d.next = MoverState::Idle;
            }
        }
        // Each walk cycle with digits left: the next digit, the strides
        // doubled (an overflow with digits still left puts the end past
        // any bank).
        if self.walking.val() & (self.walk_digits.q.val() != 0) {
            self.walk_digits.d.next = self.walk_digits.q.val() >> 1;
            self.from_pow_entry.d.next = self.from_double.sum_entry.val().get_bits::<16>(0);
            self.from_pow_lane.d.next = self.from_double.sum_lane.val();
            self.to_pow_entry.d.next = self.to_double.sum_entry.val().get_bits::<16>(0);
            self.to_pow_lane.d.next = self.to_double.sum_lane.val();
            if (self.walk_digits.q.val() >> 1) != 0 {
                if self.from_double.sum_entry.val().get_bit(16) {
                    self.from_walk_past.d.next = true;
                }
                if self.to_double.sum_entry.val().get_bit(16) {
                    self.to_walk_past.d.next = true;
                }
            }
        }
        self.walking_reg.d.next = (self.state.d.val() == MoverState::WalkRuns) | (self.state.d.val() == MoverState::WalkSteps);
        self.steps_one.d.next = self.steps_left.d.val() == 1;
        self.runs_one.d.next = self.runs_left.d.val() == 1;
        // Serving, the strides are the request's and have held since the
        // walk ended: the walkers take their registered sums.
        self.from.settled.next = self.state.q.val() == MoverState::Serve;
        self.to.settled.next = self.state.q.val() == MoverState::Serve;
        self.from.restart.next = self.restart.val();
        self.from.step.next = self.step.val();
        self.from.next_run.next = self.next_run.val();
        self.to.restart.next = self.restart.val();
        self.to.step.next = self.step.val();
        self.to.next_run.next = self.next_run.val();
    }
}
