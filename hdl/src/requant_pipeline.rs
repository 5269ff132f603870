//! The pipelined requantization unit: the same results as
//! [`crate::Requantizer`] (gemmlowp's rules of `npu_spec::requant`, bit for
//! bit) and the same ports, at one element a cycle, for boards with DSPs
//! and logic to spare (the ECP5). The config chooses (`[requant] unit`).
//!
//! A REQUANT runs in three phases:
//! 1. **Load**: every lane's bias (when used), multiplier and shift come
//!    from the BIAS bank, one word a cycle through its one read port, into
//!    registers: `2 * cols` or `3 * cols` cycles;
//! 2. **Stream**: two elements a cycle, an even lane and the odd one beside
//!    it (`SLOTS`), entry by entry and lane pair by lane pair, each slot down
//!    its own [`RequantLane`];
//! 3. **Drain**: the last pair leaves the lanes.
//!
//! For a pair issued at cycle t (its entry on `acc_address`; its even lane
//! on `lane_select` at t + 1; the NPU reads the entry through a register
//! and shows lanes `lane_select` and `lane_select + 1` on `acc_data` and
//! `acc_data_odd` at t + 2), each slot's lane takes the accumulator and
//! the lane's parameters at t + 2 and gives its byte at t + 12, written to
//! OUT with both lanes' enables at once. With two slots a REQUANT of the
//! whole accumulator bank averages about two elements a cycle: the load
//! and drain are a few dozen cycles, the stream `count * cols / 2`.

use crate::requant_lane::{RequantLane, LATENCY};
use crate::vecs::{dffs, k};
use npu_spec::protocol::Status;
use npu_spec::NpuConfig;
use rust_hdl::prelude::*;

/// Pipeline stages an element passes after its issue, to its OUT write.
pub const STAGES: usize = 2 + LATENCY;
// The write reads tag 12 (rust-hdl indexes by literals only).
const _: () = assert!(STAGES == 13);
/// Elements issued a cycle: an even lane and the odd lane beside it.
pub const SLOTS: usize = 2;
/// The DSPs the unit uses (a lane's four 18 x 18 products, per slot).
pub const DSPS: u64 = SLOTS as u64 * crate::requant_lane::DSPS;

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
    /// Next cycle's `busy` and `acc_address` (for the NPU's copies of the
    /// ACC read address).
    pub busy_next: Signal<Out, Bit>,
    pub acc_address_next: Signal<Out, Bits<16>>,
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
    /// Lane `lane_select + 1` of the entry read (the second slot's).
    pub acc_data_odd: Signal<In, Bits<32>>,
    pub param: Signal<In, Bits<32>>,
    /// OUT write port: an even lane and the odd one beside it per write,
    /// bit j of `out_lanes` for lane j (one word, not a port per lane: a
    /// wrapper picks it up whole); `out_data` is the even lane's byte,
    /// `out_data_odd` the odd lane's.
    pub out_address: Signal<Out, Bits<16>>,
    pub out_data: Signal<Out, Bits<8>>,
    pub out_data_odd: Signal<Out, Bits<8>>,
    pub out_lanes: Signal<Out, Bits<32>>,
    acc_depth: Constant<Bits<17>>,
    acc_depth_log: Constant<Bits<17>>,
    last_lane: Constant<Bits<8>>,
    /// The last pair's even lane, and lanes that exist (bit j for lane j).
    last_pair: Constant<Bits<8>>,
    lanes_present: Constant<Bits<32>>,
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
    /// `src + entry`, counted beside `entry`: `acc_address` leaves a
    /// flip-flop, not an adder (on the ECP5 16x16 that adder's carry chain
    /// began the slowest path, into the 16 accumulator memories).
    acc_entry: DFF<Bits<16>>,
    entry_last: DFF<Bit>,
    lane_last: DFF<Bit>,
    /// Drain: cycles left.
    drain: DFF<Bits<5>>,
    /// Each stage's element: valid, lane, entry (index s: s + 1 cycles after issue).
    tag_valid: Vec<DFF<Bit>>,
    tag_lane: Vec<DFF<Bits<8>>>,
    tag_entry: Vec<DFF<Bits<16>>>,
    /// One arithmetic lane per slot (slot s takes lane `tag + s`).
    lanes: Vec<RequantLane>,
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
            busy_next: Default::default(),
            acc_address_next: Default::default(),
            done: Default::default(),
            error: Default::default(),
            acc_address: Default::default(),
            lane_select: Default::default(),
            param_entry: Default::default(),
            acc_data: Default::default(),
            acc_data_odd: Default::default(),
            param: Default::default(),
            out_address: Default::default(),
            out_data: Default::default(),
            out_data_odd: Default::default(),
            out_lanes: Default::default(),
            acc_depth: k(config.memory.acc_depth as u64),
            acc_depth_log: k(config.memory.acc_depth.trailing_zeros() as u64),
            last_lane: k((cols - 1) as u64),
            last_pair: k(((cols - 1) & !1) as u64),
            lanes_present: k((1u64 << cols) - 1),
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
            acc_entry: Default::default(),
            lane: Default::default(),
            entry_last: Default::default(),
            lane_last: Default::default(),
            drain: Default::default(),
            tag_valid: dffs(STAGES),
            tag_lane: dffs(STAGES),
            tag_entry: dffs(STAGES),
            lanes: (0..SLOTS).map(|_| RequantLane::default()).collect(),
            issuing: Default::default(),
        }
    }

    pub fn cols(&self) -> usize {
        self.shift.len()
    }

    /// Cycles a REQUANT of `count` entries takes from start to done.
    pub fn cycles(cols: usize, count: usize, use_bias: bool) -> usize {
        let loads = if use_bias { 3 * cols } else { 2 * cols };
        2 + loads + count * cols.div_ceil(SLOTS) + STAGES + 1
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
            acc_entry,
            entry_last,
            lane_last,
            drain
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
        self.acc_address.next = self.acc_entry.q.val();
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

        // ---- t + 2: each slot's accumulator and its lane's parameters,
        // into its lane (the odd slot of an odd `cols`' last pair reads no
        // lane and writes nothing).
        for s in 0..SLOTS {
            self.lanes[s].clock.next = self.clock.val();
            self.lanes[s].zero_point.next = self.zero_point.val();
            self.lanes[s].min.next = self.min.val();
            self.lanes[s].max.next = self.max.val();
            self.lanes[s].bias_in.next = 0.into();
            self.lanes[s].multiplier_in.next = 0.into();
            self.lanes[s].shift_in.next = 0.into();
            for j in 0..self.cols() {
                if (self.tag_lane[1].q.val() & self.lane_mask.val()).index() + s == j {
                    if self.use_bias.val() {
                        self.lanes[s].bias_in.next = self.bias[j].q.val();
                    }
                    self.lanes[s].multiplier_in.next = self.multiplier[j].q.val();
                    self.lanes[s].shift_in.next = self.shift[j].q.val();
                }
            }
        }
        self.lanes[0].acc_in.next = self.acc_data.val();
        self.lanes[1].acc_in.next = self.acc_data_odd.val();
        // ---- t + 12: the write, both lanes of the pair at once.
        self.out_data.next = self.lanes[0].out_data.val();
        self.out_data_odd.next = self.lanes[1].out_data.val();
        self.out_address.next = self.dst.val() + self.tag_entry[12].q.val();
        self.out_lanes.next = 0.into();
        if self.tag_valid[12].q.val() {
            self.out_lanes.next = (bits::<32>(3) << bit_cast::<32, 8>(self.tag_lane[12].q.val() & self.lane_mask.val())) & self.lanes_present.val();
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
                        self.acc_entry.d.next = self.src.val();
                        self.lane.d.next = 0.into();
                        self.entry_last.d.next = self.count.val() == 1;
                        self.lane_last.d.next = self.last_pair.val() == 0;
                        self.state.d.next = PipeState::Stream;
                    }
                }
            }
            PipeState::Stream => {
                self.lane.d.next = self.lane.q.val() + 2;
                self.lane_last.d.next = self.lane.q.val() + 2 == self.last_pair.val();
                if self.lane_last.q.val() {
                    self.lane.d.next = 0.into();
                    self.lane_last.d.next = self.last_pair.val() == 0;
                    self.entry.d.next = self.entry.q.val() + 1;
                    self.acc_entry.d.next = self.acc_entry.q.val() + 1;
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
        // Next cycle's busy and ACC address, read after every assignment above.
        self.busy_next.next = self.state.d.val() != PipeState::Idle;
        self.acc_address_next.next = self.acc_entry.d.val();
    }
}
