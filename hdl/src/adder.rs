//! The table adder: ADD's checks and its sums, element after element.
//!
//! TFLite's int8 ADD rescales each input on its own, and each rescaled value
//! is a function of that input's one INT8: a table of 256 INT32 holds them
//! all. So the adder needs no multiplier: for entry e and lane j it looks up
//! OUT[src1 + e][j] in table `table1` and B[src2 + e][j] in table `table2`
//! and writes the sum to ACC[dst + e][j]. A REQUANT of those entries then
//! does the ADD's output rescale, zero point and clamp, as for a GEMM.
//!
//! It runs in two parts, as the protocol orders the checks:
//!
//! - **check** that both tables exist (BAD_PARAM), that `count` is not 0
//!   and that no range runs past its bank (OUT_OF_RANGE), and say so with
//!   `done` and `error` when one fails;
//! - **sum**: an entry's OUT and B bytes are read at once, all lanes; then
//!   two lanes a cycle (an even lane and the odd one beside it), pipelined:
//!   each lane's two lookups at once (the TABLE bank is kept four times,
//!   one copy for each input of each lane), their words a cycle later, the
//!   sums written to their ACC lanes the cycle after. Half a cycle an
//!   element, and one more an entry while its bytes are read (two with
//!   `memory.read_data_register`, whose lane registers the bytes pass).
//!
//! The request's fields must hold from `start` until `done` (the NPU wires
//! them to its request register). While `busy`, the adder owns OUT's and
//! B's read address, the table bank's read address and ACC's write port.

use crate::vecs::k;
use npu_spec::protocol::{Status, TABLE_ENTRIES};
use npu_spec::NpuConfig;
use rust_hdl::prelude::*;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum AdderState {
    Idle,
    /// The range ends, from the fields.
    Ends,
    /// The verdict, from the tests on the ends.
    Verdict,
    /// The entry's bytes are being read (OUT's and B's address moved).
    Entry,
    /// A lane's lookups issued each cycle, to the entry's last lane.
    Stream,
    /// The last lane's words are read, then summed.
    Drain1,
    Drain2,
    /// The last sum is being written.
    Finish,
    /// With the read data registered: the entry's bytes reach the lane
    /// registers (a cycle between Entry and Stream).
    EntryWait,
}

#[derive(LogicBlock)]
pub struct Adder {
    pub clock: Signal<In, Clock>,
    /// One cycle: check the request in the fields below, then run it.
    pub start: Signal<In, Bit>,
    // ---- ADD's fields (see the protocol), held until `done`.
    pub src1: Signal<In, Bits<16>>,
    pub src2: Signal<In, Bits<16>>,
    pub dst: Signal<In, Bits<16>>,
    pub count: Signal<In, Bits<16>>,
    pub table1: Signal<In, Bits<8>>,
    pub table2: Signal<In, Bits<8>>,
    // ---- The executor's side.
    /// One cycle: the command is over, with status `error` (OK or not).
    pub done: Signal<Out, Bit>,
    pub error: Signal<Out, Bits<8>>,
    /// A command is in hand, and next cycle (for the scratchpad's address
    /// copies, registered beside its memories).
    pub busy: Signal<Out, Bit>,
    pub busy_next: Signal<Out, Bit>,
    // ---- The memories' side.
    /// OUT's entry to read, and B's (and next cycle's, for B's copies).
    pub out_address: Signal<Out, Bits<16>>,
    pub b_address: Signal<Out, Bits<16>>,
    pub b_address_next: Signal<Out, Bits<16>>,
    /// The lane in hand (a flip-flop), and its byte of the entry read in
    /// OUT and in B (the NPU's lane multiplexers: a block in a vector
    /// takes no vector ports).
    pub lane: Signal<Out, Bits<8>>,
    pub x1: Signal<In, Bits<8>>,
    pub x2: Signal<In, Bits<8>>,
    /// The odd lane beside it, and its bytes (0 past the last lane).
    pub lane_odd: Signal<Out, Bits<8>>,
    pub x1_odd: Signal<In, Bits<8>>,
    pub x2_odd: Signal<In, Bits<8>>,
    /// The table bank's read addresses, one a copy (`table1`'s word, then
    /// `table2`'s), and their words after the next edge.
    pub table_address: Signal<Out, Bits<16>>,
    pub table_data: Signal<In, Bits<32>>,
    pub table_address2: Signal<Out, Bits<16>>,
    pub table_data2: Signal<In, Bits<32>>,
    /// The odd lane's: `table1`'s word and `table2`'s, from two more copies.
    pub table_address3: Signal<Out, Bits<16>>,
    pub table_data3: Signal<In, Bits<32>>,
    pub table_address4: Signal<Out, Bits<16>>,
    pub table_data4: Signal<In, Bits<32>>,
    /// ACC's write port: the entry and the word (flip-flops), and the
    /// write's lane and flags a cycle ahead (`acc_lane_ahead`,
    /// `acc_write_ahead`; the odd lane is the next one, written with
    /// `acc_data_odd` when `acc_write_odd_ahead`): the user registers the
    /// flags, one copy beside each lane's memory, so that the write lands
    /// with the entry and the word.
    pub acc_address: Signal<Out, Bits<16>>,
    pub acc_data: Signal<Out, Bits<32>>,
    pub acc_data_odd: Signal<Out, Bits<32>>,
    pub acc_lane_ahead: Signal<Out, Bits<8>>,
    pub acc_write_ahead: Signal<Out, Bit>,
    pub acc_write_odd_ahead: Signal<Out, Bit>,
    // ---- Limits from the config and the protocol.
    cols_less_one: Constant<Bits<8>>,
    /// `cols - 2` (255 for one lane: never a lane): the last pair's even
    /// lane, with `cols - 1` for an odd number of lanes.
    cols_less_two: Constant<Bits<8>>,
    /// `memory.read_data_register`: the user registers OUT's and B's lanes
    /// on their way to `x1`, `x2` (a cycle more an entry: EntryWait).
    read_data_registered: Constant<Bit>,
    b_depth: Constant<Bits<17>>,
    acc_depth: Constant<Bits<17>>,
    b_depth_log: Constant<Bits<17>>,
    acc_depth_log: Constant<Bits<17>>,
    tables_log: Constant<Bits<16>>,
    st_ok: Constant<Bits<8>>,
    st_bad_param: Constant<Bits<8>>,
    st_out_of_range: Constant<Bits<8>>,
    // ---- State.
    state: DFF<AdderState>,
    /// Each range's end: the entry after its last (17 bits).
    end1: DFF<Bits<17>>,
    end2: DFF<Bits<17>>,
    end_dst: DFF<Bits<17>>,
    /// A table number is past the tables; `count` is 0.
    bad_table: DFF<Bit>,
    empty: DFF<Bit>,
    /// The entry in hand, in each bank, and the entries left after it.
    out_entry: DFF<Bits<16>>,
    b_entry: DFF<Bits<16>>,
    dst_entry: DFF<Bits<16>>,
    left: DFF<Bits<16>>,
    /// The lane in hand.
    lane_reg: DFF<Bits<8>>,
    /// The table banks' read addresses (stage 1: the lookups).
    lookup1: DFF<Bits<16>>,
    lookup2: DFF<Bits<16>>,
    /// Where stage 1's element goes, and that there is one; then stage
    /// 2's (its words being read).
    valid1: DFF<Bit>,
    entry1: DFF<Bits<16>>,
    lane1: DFF<Bits<8>>,
    valid2: DFF<Bit>,
    entry2: DFF<Bits<16>>,
    lane2: DFF<Bits<8>>,
    /// The odd lane's lookups, and that it is a lane, at each stage.
    lookup3: DFF<Bits<16>>,
    lookup4: DFF<Bits<16>>,
    odd1: DFF<Bit>,
    odd2: DFF<Bit>,
    /// ACC's write: entry and words (its lane and flags are the user's
    /// registers, see `acc_lane_ahead`).
    write_entry: DFF<Bits<16>>,
    write_word: DFF<Bits<32>>,
    write_word_odd: DFF<Bits<32>>,
    done_reg: DFF<Bit>,
    error_reg: DFF<Bits<8>>,
}

impl Adder {
    pub fn new(config: &NpuConfig) -> Self {
        let (cols, m) = (config.array.cols, &config.memory);
        assert!(cols <= 255, "lanes fit 8 bits");
        assert!(m.add_tables.is_power_of_two() && TABLE_ENTRIES * m.add_tables <= 1 << 16, "tables fit the 16-bit table addresses");
        Self {
            clock: Default::default(),
            start: Default::default(),
            src1: Default::default(),
            src2: Default::default(),
            dst: Default::default(),
            count: Default::default(),
            table1: Default::default(),
            table2: Default::default(),
            done: Default::default(),
            error: Default::default(),
            busy: Default::default(),
            busy_next: Default::default(),
            out_address: Default::default(),
            b_address: Default::default(),
            b_address_next: Default::default(),
            lane: Default::default(),
            x1: Default::default(),
            x2: Default::default(),
            lane_odd: Default::default(),
            x1_odd: Default::default(),
            x2_odd: Default::default(),
            table_address: Default::default(),
            table_data: Default::default(),
            table_address2: Default::default(),
            table_data2: Default::default(),
            table_address3: Default::default(),
            table_data3: Default::default(),
            table_address4: Default::default(),
            table_data4: Default::default(),
            acc_address: Default::default(),
            acc_data: Default::default(),
            acc_data_odd: Default::default(),
            acc_lane_ahead: Default::default(),
            acc_write_ahead: Default::default(),
            acc_write_odd_ahead: Default::default(),
            cols_less_one: k(cols as u64 - 1),
            cols_less_two: k(if cols >= 2 { cols as u64 - 2 } else { 255 }),
            read_data_registered: Constant::new(m.read_data_register),
            b_depth: k(m.b_depth as u64),
            acc_depth: k(m.acc_depth as u64),
            b_depth_log: k(m.b_depth.trailing_zeros() as u64),
            acc_depth_log: k(m.acc_depth.trailing_zeros() as u64),
            tables_log: k(m.add_tables.trailing_zeros() as u64),
            st_ok: k(Status::Ok as u64),
            st_bad_param: k(Status::BadParam as u64),
            st_out_of_range: k(Status::OutOfRange as u64),
            state: Default::default(),
            end1: Default::default(),
            end2: Default::default(),
            end_dst: Default::default(),
            bad_table: Default::default(),
            empty: Default::default(),
            out_entry: Default::default(),
            b_entry: Default::default(),
            dst_entry: Default::default(),
            left: Default::default(),
            lane_reg: Default::default(),
            lookup1: Default::default(),
            lookup2: Default::default(),
            valid1: Default::default(),
            entry1: Default::default(),
            lane1: Default::default(),
            valid2: Default::default(),
            entry2: Default::default(),
            lane2: Default::default(),
            lookup3: Default::default(),
            lookup4: Default::default(),
            odd1: Default::default(),
            odd2: Default::default(),
            write_entry: Default::default(),
            write_word: Default::default(),
            write_word_odd: Default::default(),
            done_reg: Default::default(),
            error_reg: Default::default(),
        }
    }
}

impl Logic for Adder {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, end1, end2, end_dst, bad_table, empty, out_entry, b_entry, dst_entry, left, lane_reg, lookup1, lookup2, valid1,
            entry1, lane1, valid2, entry2, lane2, lookup3, lookup4, odd1, odd2, write_entry, write_word,
            write_word_odd, done_reg, error_reg
        );
        // ---- Outputs, each a flip-flop.
        self.done.next = self.done_reg.q.val();
        self.error.next = self.error_reg.q.val();
        self.done_reg.d.next = false;
        self.busy.next = self.state.q.val() != AdderState::Idle;
        self.out_address.next = self.out_entry.q.val();
        self.b_address.next = self.b_entry.q.val();
        self.table_address.next = self.lookup1.q.val();
        self.table_address2.next = self.lookup2.q.val();
        self.acc_address.next = self.write_entry.q.val();
        self.acc_data.next = self.write_word.q.val();
        self.acc_data_odd.next = self.write_word_odd.q.val();
        self.table_address3.next = self.lookup3.q.val();
        self.table_address4.next = self.lookup4.q.val();
        self.lane.next = self.lane_reg.q.val();
        self.lane_odd.next = self.lane_reg.q.val() + 1;
        // ---- The pipeline behind the lookups: stage 1 (addresses taken),
        // stage 2 (words read), the sum into the write registers.
        self.valid1.d.next = false;
        self.valid2.d.next = self.valid1.q.val();
        self.entry2.d.next = self.entry1.q.val();
        self.lane2.d.next = self.lane1.q.val();
        self.write_word.d.next = self.table_data.val() + self.table_data2.val();
        self.write_entry.d.next = self.entry2.q.val();
        self.acc_lane_ahead.next = self.lane2.q.val();
        self.acc_write_ahead.next = self.valid2.q.val();
        self.acc_write_odd_ahead.next = self.odd2.q.val();
        self.odd1.d.next = false;
        self.odd2.d.next = self.odd1.q.val();
        self.write_word_odd.d.next = self.table_data3.val() + self.table_data4.val();

        match self.state.q.val() {
            AdderState::Idle => {
                if self.start.val() {
                    self.state.d.next = AdderState::Ends;
                }
            }
            AdderState::Ends => {
                self.end1.d.next = bit_cast::<17, 16>(self.src1.val()) + bit_cast::<17, 16>(self.count.val());
                self.end2.d.next = bit_cast::<17, 16>(self.src2.val()) + bit_cast::<17, 16>(self.count.val());
                self.end_dst.d.next = bit_cast::<17, 16>(self.dst.val()) + bit_cast::<17, 16>(self.count.val());
                self.bad_table.d.next = (bit_cast::<16, 8>(self.table1.val()) >> self.tables_log.val()) != 0;
                if (bit_cast::<16, 8>(self.table2.val()) >> self.tables_log.val()) != 0 {
                    self.bad_table.d.next = true;
                }
                self.empty.d.next = self.count.val() == 0;
                self.out_entry.d.next = self.src1.val();
                self.b_entry.d.next = self.src2.val();
                self.dst_entry.d.next = self.dst.val();
                self.left.d.next = self.count.val() - 1;
                self.lane_reg.d.next = 0.into();
                self.state.d.next = AdderState::Verdict;
            }
            AdderState::Verdict => {
                // An end past a depth 2^d: `x >> d != 0 and x != 2^d`.
                self.error_reg.d.next = self.st_ok.val();
                self.state.d.next = AdderState::Entry;
                if self.empty.q.val()
                    | (((self.end1.q.val() >> self.acc_depth_log.val()) != 0) & (self.end1.q.val() != self.acc_depth.val()))
                    | (((self.end2.q.val() >> self.b_depth_log.val()) != 0) & (self.end2.q.val() != self.b_depth.val()))
                    | (((self.end_dst.q.val() >> self.acc_depth_log.val()) != 0) & (self.end_dst.q.val() != self.acc_depth.val()))
                {
                    self.error_reg.d.next = self.st_out_of_range.val();
                    self.done_reg.d.next = true;
                    self.state.d.next = AdderState::Idle;
                }
                if self.bad_table.q.val() {
                    self.error_reg.d.next = self.st_bad_param.val();
                    self.done_reg.d.next = true;
                    self.state.d.next = AdderState::Idle;
                }
            }
            AdderState::Entry => {
                // The memories take the entry's address at this edge; its
                // bytes are there in Stream (or in their registers a cycle
                // later).
                self.state.d.next = AdderState::Stream;
                if self.read_data_registered.val() {
                    self.state.d.next = AdderState::EntryWait;
                }
            }
            AdderState::EntryWait => {
                self.state.d.next = AdderState::Stream;
            }
            AdderState::Stream => {
                // The pair's four lookups; the sums are written two cycles on.
                self.lookup1.d.next = (bit_cast::<16, 8>(self.table1.val()) << 8) | bit_cast::<16, 8>(self.x1.val());
                self.lookup2.d.next = (bit_cast::<16, 8>(self.table2.val()) << 8) | bit_cast::<16, 8>(self.x2.val());
                self.lookup3.d.next = (bit_cast::<16, 8>(self.table1.val()) << 8) | bit_cast::<16, 8>(self.x1_odd.val());
                self.lookup4.d.next = (bit_cast::<16, 8>(self.table2.val()) << 8) | bit_cast::<16, 8>(self.x2_odd.val());
                self.valid1.d.next = true;
                self.odd1.d.next = self.lane_reg.q.val() != self.cols_less_one.val();
                self.entry1.d.next = self.dst_entry.q.val();
                self.lane1.d.next = self.lane_reg.q.val();
                self.lane_reg.d.next = self.lane_reg.q.val() + 2;
                if (self.lane_reg.q.val() == self.cols_less_one.val()) | (self.lane_reg.q.val() == self.cols_less_two.val()) {
                    self.lane_reg.d.next = 0.into();
                    self.out_entry.d.next = self.out_entry.q.val() + 1;
                    self.b_entry.d.next = self.b_entry.q.val() + 1;
                    self.dst_entry.d.next = self.dst_entry.q.val() + 1;
                    self.left.d.next = self.left.q.val() - 1;
                    self.state.d.next = AdderState::Entry;
                    if self.left.q.val() == 0 {
                        self.state.d.next = AdderState::Drain1;
                    }
                }
            }
            AdderState::Drain1 => {
                self.state.d.next = AdderState::Drain2;
            }
            AdderState::Drain2 => {
                self.state.d.next = AdderState::Finish;
            }
            AdderState::Finish => {
                // The last sum lands at this edge.
                self.done_reg.d.next = true;
                self.state.d.next = AdderState::Idle;
            }
            _ => {
                self.state.d.next = AdderState::Idle;
            }
        }
        self.busy_next.next = self.state.d.val() != AdderState::Idle;
        self.b_address_next.next = self.b_entry.d.val();
    }
}
