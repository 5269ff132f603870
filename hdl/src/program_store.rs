//! The program store: the device's program memory, PROGRAM and RUN.
//!
//! It sits between the request slots and the executor (and between the
//! executor and the response sender), with `memory.program_bytes` > 0:
//!
//! - every request but a well-formed PROGRAM or RUN passes through to the
//!   executor, and its answer from the executor to the sender, unchanged;
//! - **PROGRAM**: its checks, then its data copied from the slot's payload
//!   into the program memory, two cycles a byte, and its answer;
//! - **RUN**: record after record, its length byte read, checked (0, or
//!   past the memory), its first bytes shifted into the request slots'
//!   header register (which the executor and the units read as they read a
//!   request's), its opcode checked (WRITE, GEMM, REQUANT, MOVE, ADD), then presented
//!   to the executor as a request (a WRITE record's data read from here as
//!   the executor asks for it). The executor's answer goes no further:
//!   this block takes it as the sender would (a record's answer has no
//!   data) and goes on to the next record, or stops at the first that is
//!   not OK. Then RUN's one answer: the status and the records run OK.
//!   While a record other than a WRITE runs, the next one's length and
//!   header are read ahead, and the header register takes them whole when
//!   the record is answered: 2 cycles from one record to the next rather
//!   than the 32 of reading it then (a WRITE's data comes from the
//!   program memory, so the record after a WRITE is read after it).
//!
//! The executor never sees PROGRAM or RUN, and needs no change to run a
//! record: a record is a request whose header came from here.

use crate::vecs::k;
use npu_spec::protocol::{request_offset, Opcode, Status};
use npu_spec::NpuConfig;
use rust_hdl::prelude::*;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum ProgramState {
    /// Requests pass through to the executor.
    Idle,
    /// PROGRAM or RUN taken: its checks.
    Check,
    /// PROGRAM: the slot's byte addressed, then written.
    CopyRead,
    CopyWrite,
    /// RUN: the record's length byte addressed, then out of the memory,
    /// then taken from `write_data` (the memory's byte a register later:
    /// its block RAMs lie across the die), then checked.
    Fetch,
    Length,
    LengthTake,
    Verdict,
    /// RUN: the record's first bytes read and shifted into the header.
    Load,
    /// The last byte read comes out of the memory, shifts in, then the
    /// executor's decodes are registered and the opcode checked. (A header
    /// read ahead is taken whole in Settle, and SettleWait is skipped.)
    Settle,
    SettleWait,
    SettleCheck,
    /// The executor runs the record.
    Present,
    /// This block's own answer: started, then served.
    Answer,
    Answering,
    /// The request is answered: the slots take it back.
    Done,
}

/// RUN's read of the next record while the executor runs one (not a WRITE,
/// whose data the executor reads from the program memory): its length
/// byte, then its header bytes into `next_reg`, which the slots' header
/// register takes whole when the record before is answered.
#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum PrefetchState {
    /// The length byte addressed.
    Idle,
    /// The length byte out of the memory, then taken from `write_data`.
    Length,
    LengthTake,
    /// The header's bytes addressed, each shifted in a cycle later.
    Load,
    /// The last byte comes out of the memory, then shifts in.
    Last,
    Shifted,
    /// The header is whole in `next_reg`.
    Ready,
}

#[derive(LogicBlock)]
pub struct ProgramStore {
    pub clock: Signal<In, Clock>,
    // ---- The request slots' side.
    /// The presented request: its record and first five bytes (opcode, then
    /// PROGRAM's and RUN's `at`, RUN's `records`).
    pub slot_ready: Signal<In, Bit>,
    pub slot_status: Signal<In, Bits<8>>,
    pub slot_length: Signal<In, Bits<16>>,
    pub slot_head: Signal<In, Bits<40>>,
    /// The presented payload's byte (a cycle after its offset).
    pub slot_read_address: Signal<Out, Bits<11>>,
    pub slot_read_data: Signal<In, Bits<8>>,
    /// One cycle: the presented request is answered.
    pub slot_answered: Signal<Out, Bit>,
    /// One cycle: shift `head_byte` into the slots' header register at its
    /// top (a record's byte, or a zero past its end).
    pub head_shift: Signal<Out, Bit>,
    pub head_byte: Signal<Out, Bits<8>>,
    /// One cycle: the slots' header register takes `next_head` whole (the
    /// next record, read ahead).
    pub head_load: Signal<Out, Bit>,
    pub next_head: Signal<Out, Bits<208>>,
    // ---- The executor's side: a request (the slots' or a record) in,
    // its answer out.
    pub request_ready: Signal<Out, Bit>,
    pub request_status: Signal<Out, Bits<8>>,
    pub request_length: Signal<Out, Bits<16>>,
    /// The request's payload byte at `frame_address` (a WRITE's data), a
    /// cycle later: the slot's, or a WRITE record's from the program memory.
    /// The executor holds it for two cycles before each cycle that reads
    /// it: the program memory's address is registered from it, and the
    /// memory read a cycle early, its byte registered (`write_data`).
    pub frame_address: Signal<In, Bits<11>>,
    pub read_data: Signal<Out, Bits<8>>,
    pub exec_answered: Signal<In, Bit>,
    pub exec_reply_start: Signal<In, Bit>,
    pub exec_reply_status: Signal<In, Bits<8>>,
    pub exec_reply_opcode: Signal<In, Bits<8>>,
    pub exec_reply_length: Signal<In, Bits<16>>,
    pub exec_reply_data: Signal<In, Bits<8>>,
    pub exec_reply_data_valid: Signal<In, Bit>,
    pub exec_reply_fetch: Signal<Out, Bit>,
    pub exec_reply_done: Signal<Out, Bit>,
    // ---- The response sender's side.
    pub reply_start: Signal<Out, Bit>,
    pub reply_status: Signal<Out, Bits<8>>,
    pub reply_opcode: Signal<Out, Bits<8>>,
    pub reply_length: Signal<Out, Bits<16>>,
    pub reply_data: Signal<Out, Bits<8>>,
    pub reply_data_valid: Signal<Out, Bit>,
    pub reply_fetch: Signal<In, Bit>,
    pub reply_done: Signal<In, Bit>,
    // ---- For the NPU's counters and STATUS.
    /// PROGRAM or RUN is under way: the executor's answers are a record's,
    /// not frames.
    pub busy: Signal<Out, Bit>,
    /// PROGRAM's copy or RUN's records under way, not its answer (the
    /// busy counter's cycles).
    pub running: Signal<Out, Bit>,
    /// One cycle each: this block answered a frame OK, or with an error
    /// (`error_status`, for STATUS's last error).
    pub answered_ok: Signal<Out, Bit>,
    pub answered_error: Signal<Out, Bit>,
    pub error_status: Signal<Out, Bits<8>>,
    /// The program memory: PROGRAM writes it, RUN reads it, never both.
    program_ram: crate::ram::Ram<Bits<8>>,
    // Constants.
    op_program: Constant<Bits<8>>,
    op_run: Constant<Bits<8>>,
    op_write: Constant<Bits<8>>,
    op_gemm: Constant<Bits<8>>,
    op_requant: Constant<Bits<8>>,
    /// MOVE's opcode, or one no byte equals without the mover (0: no request
    /// reaches a record with opcode 0 past the check below: it is no command).
    op_move: Constant<Bits<8>>,
    /// ADD's opcode, or 0 without tables (as MOVE's).
    op_add: Constant<Bits<8>>,
    st_ok: Constant<Bits<8>>,
    st_bad_length: Constant<Bits<8>>,
    st_out_of_range: Constant<Bits<8>>,
    st_unknown: Constant<Bits<8>>,
    program_bytes: Constant<Bits<17>>,
    header_last: Constant<Bits<5>>,
    /// Where a byte enters the header: its last byte's place.
    header_top: Constant<Bits<16>>,
    // State.
    state: DFF<ProgramState>,
    /// The request taken is RUN (else PROGRAM).
    is_run: DFF<Bit>,
    /// Its length fits: PROGRAM at least 4, RUN exactly 5.
    length_ok: DFF<Bit>,
    /// The answer's status (a record's, while one runs).
    status: DFF<Bits<8>>,
    /// PROGRAM: the next byte written; RUN: the record's length byte, then
    /// (from Length on) its payload's first byte.
    at: DFF<Bits<16>>,
    /// PROGRAM: bytes still to copy; RUN: records still to run.
    left: DFF<Bits<16>>,
    /// RUN: records run OK.
    done: DFF<Bits<16>>,
    /// PROGRAM: the payload offset of the next byte copied.
    src: DFF<Bits<11>>,
    /// RUN: the record's payload length.
    record_len: DFF<Bits<8>>,
    /// RUN: the header byte read now, the record's bytes still to read, and
    /// last cycle's read shifting in now (a zero past the record's end).
    load_index: DFF<Bits<5>>,
    load_left: DFF<Bits<8>>,
    shift: DFF<Bit>,
    shift_byte: DFF<Bit>,
    /// The executor's answer to a record, taken as the sender's `done`.
    exec_done: DFF<Bit>,
    /// Which byte of `done` the sender takes next, and that byte.
    tx_high: DFF<Bit>,
    tx_data: DFF<Bits<8>>,
    tx_valid: DFF<Bit>,
    /// RUN's read ahead (see PrefetchState): the program memory's byte
    /// addressed, the next record's payload start and length, its bytes
    /// still to read and the header byte read now, last cycle's read
    /// shifting in now, that the record is one to run (not empty, within
    /// the memory: else the record is read again, and refused, as it
    /// always was), and its header.
    pf_state: DFF<PrefetchState>,
    pf_at: DFF<Bits<16>>,
    pf_base: DFF<Bits<16>>,
    pf_len: DFF<Bits<8>>,
    pf_left: DFF<Bits<8>>,
    pf_index: DFF<Bits<5>>,
    pf_shift: DFF<Bit>,
    pf_shift_byte: DFF<Bit>,
    /// The header bytes' shifts a cycle later, from `write_data`: the
    /// memory's output is a register away from the slots' header and
    /// `next_reg` (for the ECP5 16x16's clock: 8 ns of wire lay between).
    shift_late: DFF<Bit>,
    shift_byte_late: DFF<Bit>,
    pf_shift_late: DFF<Bit>,
    pf_shift_byte_late: DFF<Bit>,
    pf_ok: DFF<Bit>,
    next_reg: DFF<Bits<208>>,
    /// Settle takes the header read ahead (rather than a last shift).
    taking: DFF<Bit>,
    /// The program memory's read address (but the read ahead's, which is
    /// `pf_at`), registered from flip-flops alone: the memory's block RAMs
    /// lie across the die. Worked out from this cycle's state for the next:
    /// `at` (Check, Fetch, Verdict: the length byte, then the payload's
    /// first byte), counting up (Load: the header's bytes), `at` plus the
    /// executor's payload offset (Present: a WRITE record's data, read the
    /// cycle before the executor's Copy, into `write_data` in Copy), and the
    /// next record's length byte (`record_end`, once answered). From the
    /// flip-flops' inputs (the executor's next state, the adder) the 8x8 at
    /// 60 MHz missed by 1.3 ns.
    read_address: DFF<Bits<16>>,
    /// A WRITE record's byte, registered from the program memory: its block
    /// RAMs lie across the die from the scratchpads' write-data copies,
    /// which the byte reaches through two multiplexers (on the ECP5 16x16
    /// that path was the slowest, 9 ns short of 100 MHz).
    write_data: DFF<Bits<8>>,
    /// `at` plus the record's length: its end, the next record's length
    /// byte (registered every cycle: both hold from Settle through Present).
    record_end: DFF<Bits<16>>,
    /// The program memory's read port is the read ahead's: a record other
    /// than a WRITE runs, and another follows it (the opcode holds from
    /// SettleCheck through Present).
    prefetching: DFF<Bit>,
    // Combinational helpers.
    /// The presented request is a checked PROGRAM or RUN.
    intercept: Signal<Local, Bit>,
    /// The range checks' adder: `at` plus `offset`, which is PROGRAM's
    /// length (Check: its range's end) or the record's length (Verdict: its
    /// end). `past_end`: that sum is beyond the program memory.
    offset: Signal<Local, Bits<16>>,
    at_plus: Signal<Local, Bits<17>>,
    past_end: Signal<Local, Bit>,
    opcode: Signal<Local, Bits<8>>,
    /// The byte the read ahead takes: the memory's, or a zero past the
    /// record's end.
    pf_byte: Signal<Local, Bits<8>>,
}

impl ProgramStore {
    pub fn new(config: &NpuConfig) -> Self {
        let bytes = config.memory.program_bytes;
        assert!(bytes > 0, "a program store needs memory.program_bytes");
        let header_bytes = crate::frame_receiver::header_bytes(config);
        // The fields' bit offsets in `slot_head` are literals in update.
        assert!(request_offset(Opcode::Run, "records") == 3 && request_offset(Opcode::Program, "at") == 1 && request_offset(Opcode::Run, "at") == 1);
        Self {
            clock: Default::default(),
            slot_ready: Default::default(),
            slot_status: Default::default(),
            slot_length: Default::default(),
            slot_head: Default::default(),
            slot_read_address: Default::default(),
            slot_read_data: Default::default(),
            slot_answered: Default::default(),
            head_shift: Default::default(),
            head_byte: Default::default(),
            head_load: Default::default(),
            next_head: Default::default(),
            request_ready: Default::default(),
            request_status: Default::default(),
            request_length: Default::default(),
            frame_address: Default::default(),
            read_data: Default::default(),
            exec_answered: Default::default(),
            exec_reply_start: Default::default(),
            exec_reply_status: Default::default(),
            exec_reply_opcode: Default::default(),
            exec_reply_length: Default::default(),
            exec_reply_data: Default::default(),
            exec_reply_data_valid: Default::default(),
            exec_reply_fetch: Default::default(),
            exec_reply_done: Default::default(),
            reply_start: Default::default(),
            reply_status: Default::default(),
            reply_opcode: Default::default(),
            reply_length: Default::default(),
            reply_data: Default::default(),
            reply_data_valid: Default::default(),
            reply_fetch: Default::default(),
            reply_done: Default::default(),
            busy: Default::default(),
            running: Default::default(),
            answered_ok: Default::default(),
            answered_error: Default::default(),
            error_status: Default::default(),
            program_ram: crate::ram::Ram::without_collisions(bytes),
            op_program: k(Opcode::Program as u64),
            op_run: k(Opcode::Run as u64),
            op_write: k(Opcode::Write as u64),
            op_gemm: k(Opcode::Gemm as u64),
            op_requant: k(Opcode::Requant as u64),
            op_move: k(if config.memory.mover { Opcode::Move as u64 } else { 0 }),
            op_add: k(if config.memory.add_tables > 0 { Opcode::Add as u64 } else { 0 }),
            st_ok: k(Status::Ok as u64),
            st_bad_length: k(Status::BadLength as u64),
            st_out_of_range: k(Status::OutOfRange as u64),
            st_unknown: k(Status::UnknownCommand as u64),
            program_bytes: k(bytes as u64),
            header_last: k(header_bytes as u64 - 1),
            header_top: k(8 * (header_bytes as u64 - 1)),
            state: Default::default(),
            is_run: Default::default(),
            length_ok: Default::default(),
            status: Default::default(),
            at: Default::default(),
            left: Default::default(),
            done: Default::default(),
            src: Default::default(),
            record_len: Default::default(),
            load_index: Default::default(),
            load_left: Default::default(),
            shift: Default::default(),
            shift_byte: Default::default(),
            exec_done: Default::default(),
            tx_high: Default::default(),
            tx_data: Default::default(),
            tx_valid: Default::default(),
            pf_state: Default::default(),
            pf_at: Default::default(),
            pf_base: Default::default(),
            pf_len: Default::default(),
            pf_left: Default::default(),
            pf_index: Default::default(),
            pf_shift: Default::default(),
            pf_shift_byte: Default::default(),
            shift_late: Default::default(),
            shift_byte_late: Default::default(),
            pf_shift_late: Default::default(),
            pf_shift_byte_late: Default::default(),
            pf_ok: Default::default(),
            next_reg: Default::default(),
            taking: Default::default(),
            intercept: Default::default(),
            offset: Default::default(),
            at_plus: Default::default(),
            past_end: Default::default(),
            opcode: Default::default(),
            pf_byte: Default::default(),
            read_address: Default::default(),
            record_end: Default::default(),
            write_data: Default::default(),
            prefetching: Default::default(),
        }
    }
}

impl Logic for ProgramStore {
    // (hdl_gen takes no match guards.)
    #[allow(clippy::collapsible_match)]
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, is_run, length_ok, status, at, left, done, src, record_len, load_index, load_left,
            shift, shift_byte, exec_done, tx_high, tx_data, tx_valid, pf_state, pf_at, pf_base, pf_len, pf_left, pf_index,
            pf_shift, pf_shift_byte, shift_late, shift_byte_late, pf_shift_late, pf_shift_byte_late, pf_ok, next_reg, taking, read_address, record_end, write_data, prefetching
        );
        self.program_ram.clock.next = self.clock.val();
        self.opcode.next = self.slot_head.val().get_bits::<8>(0);
        self.intercept.next = self.slot_ready.val()
            & (self.slot_status.val() == self.st_ok.val())
            & ((self.opcode.val() == self.op_program.val()) | (self.opcode.val() == self.op_run.val()));
        self.busy.next = self.state.q.val() != ProgramState::Idle;
        self.running.next = (self.state.q.val() != ProgramState::Idle)
            & (self.state.q.val() != ProgramState::Answer)
            & (self.state.q.val() != ProgramState::Answering)
            & (self.state.q.val() != ProgramState::Done);

        // ---- Pass-through, unless a PROGRAM or RUN is under way.
        self.request_ready.next = self.slot_ready.val() & !self.intercept.val() & (self.state.q.val() == ProgramState::Idle);
        self.request_status.next = self.slot_status.val();
        self.request_length.next = self.slot_length.val();
        self.slot_read_address.next = self.frame_address.val();
        self.read_data.next = self.slot_read_data.val();
        self.write_data.d.next = self.program_ram.read_data.val();
        if self.state.q.val() == ProgramState::Present {
            self.read_data.next = self.write_data.q.val();
        }
        self.slot_answered.next = self.exec_answered.val() & (self.state.q.val() == ProgramState::Idle);
        self.reply_start.next = self.exec_reply_start.val();
        self.reply_status.next = self.exec_reply_status.val();
        self.reply_opcode.next = self.exec_reply_opcode.val();
        self.reply_length.next = self.exec_reply_length.val();
        self.reply_data.next = self.exec_reply_data.val();
        self.reply_data_valid.next = self.exec_reply_data_valid.val();
        self.exec_reply_fetch.next = self.reply_fetch.val();
        self.exec_reply_done.next = self.reply_done.val();
        if self.state.q.val() != ProgramState::Idle {
            // A record's answer stops here (it has no data: see Present);
            // the sender carries this block's answer alone.
            self.reply_start.next = self.state.q.val() == ProgramState::Answer;
            self.reply_status.next = self.status.q.val();
            self.reply_opcode.next = self.op_program.val();
            self.reply_length.next = 0.into();
            if self.is_run.q.val() {
                self.reply_opcode.next = self.op_run.val();
                self.reply_length.next = 2.into();
            }
            self.reply_data.next = self.tx_data.q.val();
            self.reply_data_valid.next = self.tx_valid.q.val();
            self.exec_reply_fetch.next = false;
            self.exec_reply_done.next = self.exec_done.q.val();
            // (The record's length from before it is presented: the
            // executor registers its length tests every cycle.)
            self.request_status.next = self.st_ok.val();
            self.request_length.next = bit_cast::<16, 8>(self.record_len.q.val());
        }
        if self.state.q.val() == ProgramState::Present {
            self.request_ready.next = true;
        }
        self.answered_ok.next = (self.state.q.val() == ProgramState::Done) & (self.status.q.val() == self.st_ok.val());
        self.answered_error.next = (self.state.q.val() == ProgramState::Done) & (self.status.q.val() != self.st_ok.val());
        self.error_status.next = self.status.q.val();

        // ---- The program memory: PROGRAM's writes, RUN's reads.
        self.program_ram.write_address.next = self.at.q.val();
        self.program_ram.write_data.next = self.slot_read_data.val();
        self.program_ram.write_enable.next = self.state.q.val() == ProgramState::CopyWrite;
        // (From Length on, `at` is the record's payload.)
        self.offset.next = 0.into();
        if self.state.q.val() == ProgramState::Check {
            self.offset.next = self.left.q.val();
        }
        if self.state.q.val() == ProgramState::Verdict {
            self.offset.next = bit_cast::<16, 8>(self.record_len.q.val());
        }
        self.at_plus.next = bit_cast::<17, 16>(self.at.q.val()) + bit_cast::<17, 16>(self.offset.val());
        self.past_end.next = self.at_plus.val() > self.program_bytes.val();
        // The record's length byte, then its payload: the header's bytes,
        // and a WRITE record's data as the executor asks for it; or the
        // read ahead's bytes.
        self.program_ram.read_address.next = self.read_address.q.val();
        if self.prefetching.q.val() {
            self.program_ram.read_address.next = self.pf_at.q.val();
        }
        self.record_end.d.next = self.at.q.val() + bit_cast::<16, 8>(self.record_len.q.val());
        self.read_address.d.next = self.at.q.val();
        if self.state.q.val() == ProgramState::Load {
            self.read_address.d.next = self.read_address.q.val() + 1;
        }
        if self.state.q.val() == ProgramState::Present {
            self.read_address.d.next = self.at.q.val() + bit_cast::<16, 11>(self.frame_address.val());
            if self.exec_answered.val() {
                self.read_address.d.next = self.record_end.q.val();
            }
        }
        // A header byte read last cycle shifts in now.
        self.shift_late.d.next = self.shift.q.val();
        self.shift_byte_late.d.next = self.shift_byte.q.val();
        self.head_shift.next = self.shift_late.q.val();
        self.head_byte.next = 0.into();
        if self.shift_byte_late.q.val() {
            self.head_byte.next = self.write_data.q.val();
        }
        self.shift.d.next = false;
        self.exec_done.d.next = false;
        self.tx_valid.d.next = false;

        // ---- RUN's read ahead of the next record (see PrefetchState).
        self.next_head.next = self.next_reg.q.val();
        self.head_load.next = (self.state.q.val() == ProgramState::Settle) & self.taking.q.val();
        self.pf_shift.d.next = false;
        self.pf_shift_late.d.next = self.pf_shift.q.val();
        self.pf_shift_byte_late.d.next = self.pf_shift_byte.q.val();
        self.pf_byte.next = 0.into();
        if self.pf_shift_byte_late.q.val() {
            self.pf_byte.next = self.write_data.q.val();
        }
        if self.pf_shift_late.q.val() {
            self.next_reg.d.next = (self.next_reg.q.val() >> 8) | (bit_cast::<208, 8>(self.pf_byte.val()) << self.header_top.val());
        }
        match self.pf_state.q.val() {
            PrefetchState::Idle => {
                if self.prefetching.q.val() {
                    // (The length byte is read at this edge.)
                    self.pf_at.d.next = self.pf_at.q.val() + 1;
                    self.pf_base.d.next = self.pf_at.q.val() + 1;
                    self.pf_state.d.next = PrefetchState::Length;
                }
            }
            PrefetchState::Length => {
                self.pf_state.d.next = PrefetchState::LengthTake;
            }
            PrefetchState::LengthTake => {
                self.pf_len.d.next = self.write_data.q.val();
                self.pf_left.d.next = self.write_data.q.val();
                self.pf_index.d.next = 0.into();
                self.pf_state.d.next = PrefetchState::Load;
            }
            PrefetchState::Load => {
                self.pf_ok.d.next = (self.pf_len.q.val() != 0) & ((bit_cast::<17, 16>(self.pf_base.q.val()) + bit_cast::<17, 8>(self.pf_len.q.val())) <= self.program_bytes.val());
                self.pf_shift.d.next = true;
                self.pf_shift_byte.d.next = self.pf_left.q.val() != 0;
                if self.pf_left.q.val() != 0 {
                    self.pf_left.d.next = self.pf_left.q.val() - 1;
                }
                self.pf_at.d.next = self.pf_at.q.val() + 1;
                self.pf_index.d.next = self.pf_index.q.val() + 1;
                if self.pf_index.q.val() == self.header_last.val() {
                    self.pf_state.d.next = PrefetchState::Last;
                }
            }
            PrefetchState::Last => {
                self.pf_state.d.next = PrefetchState::Shifted;
            }
            PrefetchState::Shifted => {
                self.pf_state.d.next = PrefetchState::Ready;
            }
            _ => {}
        }
        if !self.prefetching.q.val() {
            self.pf_state.d.next = PrefetchState::Idle;
        }

        match self.state.q.val() {
            ProgramState::Idle => {
                // (Registered every cycle; taken with the request.)
                self.is_run.d.next = self.opcode.val() == self.op_run.val();
                self.at.d.next = self.slot_head.val().get_bits::<16>(8);
                self.left.d.next = self.slot_length.val() - 3;
                self.length_ok.d.next = self.slot_length.val() > 3;
                if self.opcode.val() == self.op_run.val() {
                    self.left.d.next = self.slot_head.val().get_bits::<16>(24);
                    self.length_ok.d.next = self.slot_length.val() == 5;
                }
                self.src.d.next = 3.into();
                self.done.d.next = 0.into();
                self.status.d.next = self.st_ok.val();
                self.tx_high.d.next = false;
                if self.intercept.val() {
                    self.state.d.next = ProgramState::Check;
                }
            }
            ProgramState::Check => {
                self.state.d.next = ProgramState::Answer;
                if !self.length_ok.q.val() {
                    self.status.d.next = self.st_bad_length.val();
                } else if self.is_run.q.val() {
                    if self.left.q.val() == 0 {
                        self.status.d.next = self.st_out_of_range.val();
                    } else {
                        self.state.d.next = ProgramState::Fetch;
                    }
                } else if self.past_end.val() {
                    self.status.d.next = self.st_out_of_range.val();
                } else {
                    self.state.d.next = ProgramState::CopyRead;
                }
            }
            ProgramState::CopyRead => {
                self.slot_read_address.next = self.src.q.val();
                self.state.d.next = ProgramState::CopyWrite;
            }
            ProgramState::CopyWrite => {
                // (The byte is written at `at` this cycle.)
                self.slot_read_address.next = self.src.q.val();
                self.src.d.next = self.src.q.val() + 1;
                self.at.d.next = self.at.q.val() + 1;
                self.left.d.next = self.left.q.val() - 1;
                self.state.d.next = ProgramState::CopyRead;
                if self.left.q.val() == 1 {
                    self.state.d.next = ProgramState::Answer;
                }
            }
            ProgramState::Fetch => {
                self.state.d.next = ProgramState::Length;
            }
            ProgramState::Length => {
                self.at.d.next = self.at.q.val() + 1;
                self.state.d.next = ProgramState::LengthTake;
            }
            ProgramState::LengthTake => {
                self.record_len.d.next = self.write_data.q.val();
                self.state.d.next = ProgramState::Verdict;
            }
            ProgramState::Verdict => {
                self.load_index.d.next = 0.into();
                self.load_left.d.next = self.record_len.q.val();
                self.state.d.next = ProgramState::Load;
                if self.record_len.q.val() == 0 {
                    self.status.d.next = self.st_bad_length.val();
                    self.state.d.next = ProgramState::Answer;
                } else if self.past_end.val() {
                    self.status.d.next = self.st_out_of_range.val();
                    self.state.d.next = ProgramState::Answer;
                }
            }
            ProgramState::Load => {
                self.shift.d.next = true;
                self.shift_byte.d.next = self.load_left.q.val() != 0;
                if self.load_left.q.val() != 0 {
                    self.load_left.d.next = self.load_left.q.val() - 1;
                }
                self.load_index.d.next = self.load_index.q.val() + 1;
                if self.load_index.q.val() == self.header_last.val() {
                    self.state.d.next = ProgramState::Settle;
                }
            }
            ProgramState::Settle => {
                // The last byte comes out of the memory (or the header read
                // ahead is taken whole).
                self.state.d.next = ProgramState::SettleWait;
                if self.taking.q.val() {
                    self.state.d.next = ProgramState::SettleCheck;
                }
            }
            ProgramState::SettleWait => {
                // The last byte shifts in.
                self.state.d.next = ProgramState::SettleCheck;
            }
            ProgramState::SettleCheck => {
                // The executor's decodes of the header are registered now.
                // The next record's length byte follows this one's payload.
                self.taking.d.next = false;
                self.pf_at.d.next = self.record_end.q.val();
                self.state.d.next = ProgramState::Present;
                if !((self.opcode.val() == self.op_write.val()) | (self.opcode.val() == self.op_gemm.val()) | (self.opcode.val() == self.op_requant.val()) | (self.opcode.val() == self.op_move.val()) | (self.opcode.val() == self.op_add.val())) {
                    self.status.d.next = self.st_unknown.val();
                    self.state.d.next = ProgramState::Answer;
                }
            }
            ProgramState::Present => {
                // The executor's answer is taken as the sender would take
                // an answer without data, the cycle after it starts.
                if self.exec_reply_start.val() {
                    self.status.d.next = self.exec_reply_status.val();
                    self.exec_done.d.next = true;
                }
                if self.exec_answered.val() {
                    self.state.d.next = ProgramState::Answer;
                    if self.status.q.val() == self.st_ok.val() {
                        self.done.d.next = self.done.q.val() + 1;
                        self.left.d.next = self.left.q.val() - 1;
                        self.at.d.next = self.record_end.q.val();
                        if self.left.q.val() != 1 {
                            self.state.d.next = ProgramState::Fetch;
                            if (self.pf_state.q.val() == PrefetchState::Ready) & self.pf_ok.q.val() {
                                // Read ahead: its header is taken in Settle.
                                self.at.d.next = self.pf_base.q.val();
                                self.record_len.d.next = self.pf_len.q.val();
                                self.taking.d.next = true;
                                self.state.d.next = ProgramState::Settle;
                            }
                        }
                    }
                }
            }
            ProgramState::Answer => {
                self.state.d.next = ProgramState::Answering;
            }
            ProgramState::Answering => {
                // RUN's data: `done`, low byte first.
                if self.reply_fetch.val() {
                    self.tx_valid.d.next = true;
                    self.tx_data.d.next = self.done.q.val().get_bits::<8>(0);
                    if self.tx_high.q.val() {
                        self.tx_data.d.next = self.done.q.val().get_bits::<8>(8);
                    }
                    self.tx_high.d.next = true;
                }
                if self.reply_done.val() {
                    self.state.d.next = ProgramState::Done;
                }
            }
            ProgramState::Done => {
                self.slot_answered.next = true;
                self.state.d.next = ProgramState::Idle;
            }
            _ => {
                self.state.d.next = ProgramState::Idle;
            }
        }
        // ---- Whether the read ahead has the memory's port next cycle.
        self.prefetching.d.next = (self.state.d.val() == ProgramState::Present) & (self.opcode.val() != self.op_write.val()) & (self.left.d.val() != 1);
    }
}
