//! The executor: one checked request in, its effect and its answer's data out.
//!
//! It sits between the frame receiver and the response sender, as VTA's and
//! Gemmini's execute stage sits between load and store:
//!
//! - from the **frame receiver** it takes a whole request (`request_ready`,
//!   its status, header and length), reads WRITE's data through the frame
//!   buffer's address (`frame_address`), and hands the frame back
//!   (`answered`) once the answer is out;
//! - it **decodes and checks** the request (length, bank, ranges: a refused
//!   request changes nothing), then **runs** it: a WRITE's bytes go to the
//!   bank under its byte cursor (`cursor_*`, `write_*`: the NPU wires the
//!   frame byte to the memories), GEMM and REQUANT start their unit and wait
//!   for it, CLEAR_COUNTERS clears;
//! - it starts the **response sender** (`reply_*`) and serves each data byte
//!   it asks for: a record's (INFO, a counter snapshot, STATUS) or a bank's,
//!   from the lane the NPU's multiplexers show for the cursor (`lane_u8`,
//!   `lane_u32`).
//!
//! Every decision reads a flip-flop: tests are registered a cycle before the
//! state that acts on them (Decode before Dispatch, Size before SizeStep,
//! TxFetch to TxPick for a data byte).

use crate::frame_receiver::HEADER_BYTES;
use crate::move_pipe::MovePipe;
use crate::vecs::{above, k};
use npu_spec::protocol::{
    offset, record_len, request_offset, Bank, Info, Opcode, Status, COUNTER_FIELDS, INFO_FIELDS,
    MAX_REQUEST_PAYLOAD, RESPONSE_HEAD, STATUS_FIELDS, TABLE_ENTRIES, WRITE_FIELDS,
};
use npu_spec::NpuConfig;
use rust_hdl::prelude::*;

// The BIAS bank's range check compares with the literal 3.
const _: () = assert!(npu_spec::protocol::BIAS_ENTRIES == 3);

// The literal patterns below are these protocol numbers (rust-hdl takes
// only literals as match patterns).
const _: () = assert!(Opcode::Info as u8 == 1 && Opcode::Write as u8 == 2 && Opcode::Read as u8 == 3);
const _: () = assert!(Opcode::Gemm as u8 == 4 && Opcode::Requant as u8 == 5 && Opcode::Status as u8 == 6);
const _: () = assert!(Opcode::Counters as u8 == 7 && Opcode::ClearCounters as u8 == 8 && Opcode::Move as u8 == 9);
const _: () = assert!(Bank::A as u8 == 0 && Bank::B as u8 == 1 && Bank::Acc as u8 == 2);
const _: () = assert!(Bank::Bias as u8 == 3 && Bank::Out as u8 == 4);
const _: () = assert!(RESPONSE_HEAD == 2);

/// The header bits the executor reads: opcode, bank, entry and count, the
/// first six bytes of every request it decodes (`new` checks the offsets).
pub const EXECUTOR_HEAD_BITS: usize = 48;

/// The executor reads a request's `request_status` and `length` only in
/// the cycles Idle, Decode and Dispatch, the first three after
/// `request_ready` (the request slots pass the receiver's record through,
/// which holds at least that long: see RequestSlots).
pub const EXECUTOR_READS_RECORD_WITHIN: usize = 3;

/// A READ/WRITE field's bit offset in `head`, checked to lie within it.
fn head_bit(op: Opcode, field: &str) -> u64 {
    let bit = 8 * request_offset(op, field);
    assert!(bit + 16 <= EXECUTOR_HEAD_BITS, "{op:?}.{field} lies beyond the executor's header bits");
    bit as u64
}

/// The opcodes the executor runs on a device built from `config`, a bit
/// each: PROGRAM and RUN never reach it (the program store takes them, or
/// without one they are unknown).
fn known_opcodes(config: &NpuConfig) -> u64 {
    let mut ops: Vec<Opcode> = Opcode::ALL.into_iter().filter(|&o| o as u8 <= Opcode::ClearCounters as u8).collect();
    if config.memory.mover {
        ops.push(Opcode::Move);
    }
    if config.memory.add_tables > 0 {
        ops.push(Opcode::Add);
    }
    ops.iter().fold(0, |mask, &o| mask | 1 << (o as u8))
}

/// With `memory.read_data_register`, the registers a byte read from a bank
/// passes on its way to the executor: the memory's read register and the
/// NPU's late lane register before the lane multiplexer, and the NPU's
/// register after it. The move pipe's delays follow from them, and so do
/// the settle states' extra cycles (`settle_more` counts to
/// `LANE_REGISTERS`).
pub const LANE_REGISTERS_BEFORE_MULTIPLEXER: usize = 2;
/// All of them, the one after the multiplexer with.
pub const LANE_REGISTERS: usize = LANE_REGISTERS_BEFORE_MULTIPLEXER + 1;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum ExecState {
    Idle,
    Decode,
    Dispatch,
    Size,
    SizeStep,
    Range,
    Copy,
    CopyWait,
    CopyData,
    Gemm,
    Requant,
    /// MOVE: the mover's verdict, the cursor at the first byte's source
    /// (MoveFrom), then each byte: the lane read (MoveFetch, MoveSettle),
    /// the cursor at its destination (MoveTo) and the write, with the cursor
    /// at the next byte's source (MoveWrite): 4 cycles, 7 with the read data
    /// registered. A MOVE from OUT, or of zeros, into A or B streams
    /// instead (MoveStream: a byte's places each cycle, through the move
    /// pipe; MoveDrain: the last bytes' writes).
    MoveCheck,
    MoveStream,
    MoveDrain,
    MoveFrom,
    MoveFetch,
    MoveSettle,
    MoveTo,
    MoveWrite,
    /// The answer: settle its length, start the sender, and serve it the
    /// data bytes it asks for (TxFetch to TxPick, one byte each).
    Reply,
    Replying,
    TxFetch,
    TxSettle,
    TxWait,
    TxPick,
    Done,
}

#[derive(LogicBlock)]
pub struct Executor {
    pub clock: Signal<In, Clock>,
    // ---- The frame receiver's side.
    /// A whole request waits: its status (OK, BAD_CRC, BAD_LENGTH), its
    /// first bytes and its length. The first bytes hold until `answered`,
    /// the status and length for EXECUTOR_READS_RECORD_WITHIN cycles. The
    /// executor reads only the first six bytes (opcode, bank, entry, count);
    /// the units' fields go to them straight from the receiver.
    pub request_ready: Signal<In, Bit>,
    pub request_status: Signal<In, Bits<8>>,
    pub head: Signal<In, Bits<48>>,
    pub length: Signal<In, Bits<16>>,
    /// The frame buffer's byte to read (WRITE's data; the byte arrives a
    /// cycle later and the NPU registers it on its way to the memories'
    /// write data: it is there two cycles after the address).
    /// With a program store it holds for two cycles before each cycle that
    /// reads it (Copy: it moves on at Copy's end, and is set in Decode, well
    /// before the first), so that the program store may register its read
    /// address from it and its memory's byte after the read.
    pub frame_address: Signal<Out, Bits<11>>,
    /// One cycle: the answer is out, the receiver may take the next frame.
    pub answered: Signal<Out, Bit>,
    // ---- The response sender's side.
    /// One cycle: send the answer (`reply_status`, `reply_opcode` and
    /// `reply_length` hold until `reply_done`).
    pub reply_start: Signal<Out, Bit>,
    pub reply_status: Signal<Out, Bits<8>>,
    pub reply_opcode: Signal<Out, Bits<8>>,
    pub reply_length: Signal<Out, Bits<16>>,
    /// The sender asks for a data byte; the executor shows it a few cycles
    /// later in `reply_data` with `reply_data_valid` (one cycle).
    pub reply_fetch: Signal<In, Bit>,
    pub reply_data: Signal<Out, Bits<8>>,
    pub reply_data_valid: Signal<Out, Bit>,
    pub reply_done: Signal<In, Bit>,
    // ---- The units it starts and waits for (their parameters are the
    // header's fields, which the NPU wires to them).
    pub start_engine: Signal<Out, Bit>,
    pub engine_done: Signal<In, Bit>,
    pub engine_error: Signal<In, Bits<8>>,
    pub start_requant: Signal<Out, Bit>,
    pub requant_done: Signal<In, Bit>,
    pub requant_error: Signal<In, Bits<8>>,
    /// ADD's table adder (with `memory.add_tables`), awaited like the
    /// requantizer, in the same state.
    pub start_adder: Signal<Out, Bit>,
    pub adder_done: Signal<In, Bit>,
    pub adder_error: Signal<In, Bits<8>>,
    /// MOVE: the mover checks the request (`mover_checked`, one cycle, with
    /// `mover_error`), then shows each byte's places; the executor moves
    /// the byte and says so (`move_advance`, one cycle) until `move_last`.
    pub start_mover: Signal<Out, Bit>,
    pub mover_checked: Signal<In, Bit>,
    pub mover_error: Signal<In, Bits<8>>,
    pub move_from_entry: Signal<In, Bits<16>>,
    pub move_from_entry_next: Signal<In, Bits<16>>,
    pub move_from_lane: Signal<In, Bits<8>>,
    pub move_to_entry: Signal<In, Bits<16>>,
    pub move_to_lane: Signal<In, Bits<8>>,
    pub move_last: Signal<In, Bit>,
    /// The byte shown is the last (this cycle: a streamed MOVE takes a
    /// byte a cycle).
    pub move_showing_last: Signal<In, Bit>,
    pub move_advance: Signal<Out, Bit>,
    /// MOVE's flag: write zeros, read nothing.
    pub move_zeros: Signal<In, Bit>,
    /// A MOVE is in hand (a flip-flop): the NPU writes `move_data`, the
    /// byte read, where WRITE's frame byte would go.
    pub moving: Signal<Out, Bit>,
    pub move_data: Signal<Out, Bits<8>>,
    /// One cycle: zero the COUNTERS record's counters.
    pub clear_counters: Signal<Out, Bit>,
    /// One cycle: snapshot counter `snapshot_counter`; the bank raises
    /// `snapshot_ready` when `snapshot_byte` shows its low byte.
    pub snapshot_request: Signal<Out, Bit>,
    pub snapshot_counter: Signal<Out, Bits<4>>,
    pub snapshot_ready: Signal<In, Bit>,
    pub snapshot_byte: Signal<In, Bits<8>>,
    /// One cycle: a data byte was taken; the snapshot moves down a byte, so
    /// that its low byte is always the next one (COUNTERS: five bytes, then
    /// zeros; STATUS: four bytes of each frame count).
    pub snapshot_shift: Signal<Out, Bit>,
    // ---- The byte cursor over a bank (WRITE and READ).
    pub cursor_entry: Signal<Out, Bits<16>>,
    /// Next cycle's `cursor_entry` (for copies of the scratchpads' address
    /// registered beside their memories).
    pub cursor_entry_next: Signal<Out, Bits<16>>,
    pub cursor_lane: Signal<Out, Bits<8>>,
    /// Where OUT is read and which lane the byte banks' multiplexer shows:
    /// the cursor's, but for a streamed MOVE, whose cursor is at the
    /// destination: then the mover's source entry and the move pipe's lane.
    pub source_entry: Signal<Out, Bits<16>>,
    pub source_lane: Signal<Out, Bits<8>>,
    /// B's address, and next cycle's: the cursor's, but the mover's source
    /// for a MOVE streamed from B into A.
    pub b_entry: Signal<Out, Bits<16>>,
    pub b_entry_next: Signal<Out, Bits<16>>,
    /// One cycle each: the registered frame byte goes to the cursor's lane
    /// of A, of B, or to these bytes of the bias word.
    pub write_a: Signal<Out, Bit>,
    pub write_b: Signal<Out, Bit>,
    pub write_bias: Signal<Out, Bits<4>>,
    /// ... or to these bytes of the table word (with `memory.add_tables`).
    pub write_table: Signal<Out, Bits<4>>,
    /// Next cycle's `cursor_lane`, `write_a` and `write_b` (for the
    /// scratchpads' copies of their write enables).
    pub cursor_lane_next: Signal<Out, Bits<8>>,
    pub write_a_next: Signal<Out, Bit>,
    pub write_b_next: Signal<Out, Bit>,
    /// The request's bank is A, B, ACC (flip-flops, for the lane
    /// multiplexers).
    pub bank_a: Signal<Out, Bit>,
    pub bank_b: Signal<Out, Bit>,
    pub bank_acc: Signal<Out, Bit>,
    /// The request's bank is TABLE (a flip-flop; never without tables).
    pub bank_table: Signal<Out, Bit>,
    /// The cursor's lane of its bank, as the NPU's multiplexers show it a
    /// cycle after the cursor moves: a byte bank's (A, B, OUT), a word bank's
    /// (ACC, BIAS).
    pub lane_u8: Signal<In, Bits<8>>,
    pub lane_u32: Signal<In, Bits<32>>,
    // ---- Status.
    /// A request is in hand.
    pub busy: Signal<Out, Bit>,
    /// One cycle, as the answer is handed back: it was OK, or an error
    /// (the STATUS record's frame counts).
    pub answered_ok: Signal<Out, Bit>,
    pub answered_error: Signal<Out, Bit>,
    /// A command is being decoded or run, not answered: the busy counter's
    /// cycles (an answer's time is the line's).
    pub executing: Signal<Out, Bit>,
    /// One cycle: another block answered with error `noted_status` (the
    /// program store's PROGRAM and RUN), kept as STATUS's last error.
    pub note_error: Signal<In, Bit>,
    pub noted_status: Signal<In, Bits<8>>,
    // ---- Limits and records from the config and the protocol.
    /// (Padded with zeros to the width its byte index can reach: its byte
    /// is read every cycle.)
    info: Constant<Bits<512>>,
    rows: Constant<Bits<8>>,
    cols: Constant<Bits<8>>,
    cols_x4: Constant<Bits<8>>,
    rows_less_one: Constant<Bits<8>>,
    cols_less_one: Constant<Bits<8>>,
    a_depth: Constant<Bits<17>>,
    b_depth: Constant<Bits<17>>,
    acc_depth: Constant<Bits<17>>,
    a_depth_log: Constant<Bits<17>>,
    b_depth_log: Constant<Bits<17>>,
    acc_depth_log: Constant<Bits<17>>,
    st_ok: Constant<Bits<8>>,
    st_bad_length: Constant<Bits<8>>,
    st_unknown_command: Constant<Bits<8>>,
    st_bad_bank: Constant<Bits<8>>,
    st_out_of_range: Constant<Bits<8>>,
    op_write: Constant<Bits<8>>,
    op_counters: Constant<Bits<8>>,
    op_info: Constant<Bits<8>>,
    op_status: Constant<Bits<8>>,
    /// The opcodes the executor runs, a bit each (1..=8, MOVE with the
    /// mover, ADD with tables: PROGRAM and RUN are the program store's);
    /// `v > x` for the last bank, and WRITE's head length, by the low bits
    /// v of a field (see `vecs::above`).
    known_opcodes: Constant<Bits<16>>,
    above_last_bank: Constant<Bits<8>>,
    above_write_head: Constant<Bits<16>>,
    info_len: Constant<Bits<16>>,
    status_len: Constant<Bits<16>>,
    counters_len: Constant<Bits<16>>,
    /// WRITE's bytes before its data; READ's, GEMM's and REQUANT's lengths.
    write_head: Constant<Bits<16>>,
    write_head_plus_one: Constant<Bits<16>>,
    read_len: Constant<Bits<16>>,
    gemm_len: Constant<Bits<16>>,
    requant_len: Constant<Bits<16>>,
    move_len: Constant<Bits<16>>,
    add_len: Constant<Bits<16>>,
    /// ADD and TABLE are built (`memory.add_tables`), and TABLE's entries
    /// (a power of two; 1 without tables).
    has_adder: Constant<Bit>,
    table_depth: Constant<Bits<17>>,
    table_depth_log: Constant<Bits<17>>,
    /// MOVE is built (`memory.mover`; else its opcode is unknown).
    has_mover: Constant<Bit>,
    /// `memory.program_bytes` > 0: the program store reads WRITE records'
    /// bytes at `frame_address`, which then moves on at Copy's end (see
    /// the port). Without it, it moves on in CopyData, as it long did: the
    /// iCEBreaker's netlist, and its placements, stay as they were.
    has_program: Constant<Bit>,
    op_move: Constant<Bits<8>>,
    /// Bit offsets of WRITE's and READ's fields in `head`.
    at_entry: Constant<Bits<16>>,
    at_count: Constant<Bits<16>>,
    // ---- State.
    state: DFF<ExecState>,
    /// Start the GEMM engine, the requantizer (one cycle, after Dispatch).
    start_engine_reg: DFF<Bit>,
    start_requant_reg: DFF<Bit>,
    start_mover_reg: DFF<Bit>,
    start_adder_reg: DFF<Bit>,
    /// Clear the counters (one cycle, after Dispatch).
    clear_counters_reg: DFF<Bit>,
    status: DFF<Bits<8>>,
    /// Decode's tests, made a cycle earlier: the length suits the opcode,
    /// the bank exists, a READ's count is zero.
    length_ok: DFF<Bit>,
    /// The request's length against each opcode's, registered every cycle
    /// (`length` holds from the length bytes until the answer is out): 1, more
    /// than WRITE's head, READ's, GEMM's, REQUANT's.
    len_one: DFF<Bit>,
    len_write: DFF<Bit>,
    len_read: DFF<Bit>,
    len_gemm: DFF<Bit>,
    len_requant: DFF<Bit>,
    len_move: DFF<Bit>,
    len_add: DFF<Bit>,
    /// The frame arrived whole; its opcode if known (1..=8), else 0.
    frame_ok: DFF<Bit>,
    op_index: DFF<Bits<4>>,
    bank_ok: DFF<Bit>,
    count_zero: DFF<Bit>,
    /// Decode's verdict: the request is refused, with this status.
    refused: DFF<Bit>,
    refusal: DFF<Bits<8>>,
    opcode: DFF<Bits<8>>,
    data_len: DFF<Bits<16>>,
    bank: DFF<Bits<3>>,
    /// The bank's geometry: its last lane and a lane's last byte (for
    /// equality tests, no adder), bytes per entry.
    last_lane: DFF<Bits<8>>,
    /// (A lane is one byte or four: two bits.)
    last_byte: DFF<Bits<2>>,
    entry_bytes: DFF<Bits<8>>,
    /// The byte cursor over a bank, for WRITE and READ.
    entry: DFF<Bits<16>>,
    lane: DFF<Bits<8>>,
    cursor_byte: DFF<Bits<2>>,
    /// Size loop: bytes and entries counted so far (a READ stops before
    /// its bytes pass 17 bits), and the end of the entry range: the entry
    /// after the WRITE's entries counted so far, or the READ's last.
    size_bytes: DFF<Bits<17>>,
    size_entries: DFF<Bits<16>>,
    end_entry: DFF<Bits<17>>,
    /// A READ's bytes passed the longest answer.
    too_long: DFF<Bit>,
    /// Size's tests, registered every cycle for SizeStep: size_bytes
    /// equals, exceeds data_len (WRITE); size_bytes is past the longest
    /// answer, size_entries has reached the count (READ).
    size_eq: DFF<Bit>,
    size_gt: DFF<Bit>,
    size_long: DFF<Bit>,
    size_count: DFF<Bit>,
    /// The opcode is WRITE, INFO, STATUS, COUNTERS; the bank is A, B, ACC, bias
    /// (registered in Idle from the request: decisions read a flip-flop).
    is_write: DFF<Bit>,
    is_info: DFF<Bit>,
    is_status: DFF<Bit>,
    is_counters: DFF<Bit>,
    is_bank_a: DFF<Bit>,
    is_bank_b: DFF<Bit>,
    is_bank_acc: DFF<Bit>,
    is_bank_bias: DFF<Bit>,
    is_bank_table: DFF<Bit>,
    /// The opcode is MOVE; MOVE's destination bank is B (else A: the
    /// mover refuses any other).
    is_move: DFF<Bit>,
    move_to_b: DFF<Bit>,
    /// MOVE's source bank is OUT; it is B and the destination A. Either
    /// streams (and so do zeros).
    move_from_out: DFF<Bit>,
    move_reads_b: DFF<Bit>,
    /// `move_advance`, a flip-flop: the state is MoveStream or MoveTo
    /// (registered from the next state, so the mover's walkers take their
    /// step from a register, not from the state's decoding).
    move_advance_reg: DFF<Bit>,
    /// B's next address is the mover's: a MOVE that reads B is in MoveCheck,
    /// MoveStream or MoveDrain (registered from the next state). Only B's
    /// address copies read it, and the states it covers beyond the stream's
    /// (MoveCheck, and Reply's first cycle after it) read nothing from B.
    b_follows_mover: DFF<Bit>,
    /// With `memory.mover` (else empty): a streamed MOVE's places, delayed
    /// to its reads and writes.
    pipe: Vec<MovePipe>,
    /// MOVE: the byte read, to be written.
    move_byte: DFF<Bits<8>>,
    /// end_entry is past each bank's last entry (A, B, ACC and OUT, bias),
    /// registered every cycle; past_end picks the request's bank's a cycle
    /// later (Range comes at least two cycles after end_entry settles).
    past_a: DFF<Bit>,
    past_b: DFF<Bit>,
    past_acc: DFF<Bit>,
    past_bias: DFF<Bit>,
    past_table: DFF<Bit>,
    past_end: DFF<Bit>,
    /// WRITE: the memory the byte arriving in CopyData goes to (the
    /// memories' write enables, from flip-flops): a lane of A or B, or
    /// these bytes of the bias word. ACC and OUT hold results, which the
    /// link only reads.
    write_a_reg: DFF<Bit>,
    write_b_reg: DFF<Bit>,
    write_bias_reg: DFF<Bits<4>>,
    write_table_reg: DFF<Bits<4>>,
    copy_index: DFF<Bits<11>>,
    /// Frame bytes still to copy after this one.
    copy_left: DFF<Bits<11>>,
    // The answer's data source.
    /// The answer's data byte the cursor is at (records are indexed by it).
    tx_index: DFF<Bits<7>>,
    /// The lane the cursor reads, taken in TxWait (the memories' data is
    /// a block RAM's output: the byte is chosen from a register).
    tx_word: DFF<Bits<32>>,
    tx_byte_lane: DFF<Bits<8>>,
    /// The request's record's byte at tx_index (INFO, STATUS or COUNTERS),
    /// registered every cycle: TxPick reads it two cycles after tx_index
    /// moves, and a cycle after the snapshot is ready.
    record_byte: DFF<Bits<8>>,
    /// The request answers a record (INFO, STATUS, COUNTERS).
    is_record: DFF<Bit>,
    /// The data byte the sender asked for, and that it is there (TxPick).
    tx_data: DFF<Bits<8>>,
    tx_data_valid: DFF<Bit>,
    /// Start the sender (one cycle, after Reply).
    start_reply: DFF<Bit>,
    /// The STATUS record's last error (its frame counts are counters 8
    /// and 9 of the counter bank).
    last_error: DFF<Bits<8>>,
    /// The cursor is at its lane's last byte; at its entry's last byte.
    byte_last: DFF<Bit>,
    cursor_last: DFF<Bit>,
    /// The cursor moved past its entry's last byte last cycle: the entry
    /// steps now, a cycle after the lane (nothing reads the entry in the
    /// cycle after CopyData or TxPick), so that its enable is one LUT from
    /// flip-flops.
    entry_step: DFF<Bit>,
    /// With `memory.read_data_register` (else empty): TxSettle and
    /// MoveSettle last four cycles (counted here), for the NPU's registers on the bias bank's
    /// read data, its late lane registers and its register on the lane it
    /// shows the executor. (Needed if the
    /// sender asked for the next byte the cycle after TxPick; today's
    /// sender asks once a UART byte, long after the cursor moved, so no
    /// test can tell: the link tests pass with no extra cycle at all, tried;
    /// it costs three cycles a byte of 10 bit times.)
    settle_more: Vec<DFF<Bits<2>>>,
    // Combinational helpers.
    field_entry: Signal<Local, Bits<16>>,
    field_count: Signal<Local, Bits<16>>,
    data_byte: Signal<Local, Bits<8>>,
    /// The cursor's byte as a write enable (ACC and bias take a byte at a time).
    byte_lanes: Signal<Local, Bits<4>>,
    /// A settle state stays another cycle (see `settle_more`).
    settle_wait: Signal<Local, Bit>,
}

impl Executor {
    pub fn new(config: &NpuConfig) -> Self {
        let (rows, cols) = (config.array.rows, config.array.cols);
        let m = &config.memory;
        // WRITE's bytes before its data: the opcode and its fields.
        let write_head = 1 + record_len(WRITE_FIELDS);
        let info_bytes = Info::of(config).encode();
        assert!(info_bytes.len() * 8 <= 512);
        let mut info = Bits::<512>::default();
        for (i, b) in info_bytes.iter().enumerate() {
            info = info | (bit_cast::<512, 8>(u64::from(*b).into()) << (8 * i as u64));
        }
        assert_eq!(record_len(COUNTER_FIELDS), 80);
        assert_eq!(record_len(STATUS_FIELDS), 9);
        assert_eq!(offset(STATUS_FIELDS, "frames_bad"), 4);
        assert_eq!(request_offset(Opcode::Write, "bank"), request_offset(Opcode::Read, "bank"));
        assert_eq!(request_offset(Opcode::Write, "entry"), request_offset(Opcode::Read, "entry"));
        assert!(Opcode::Gemm.request_len() <= HEADER_BYTES && Opcode::Requant.request_len() <= HEADER_BYTES);
        assert!(Opcode::Move.request_len() <= HEADER_BYTES);
        assert!(Opcode::ClearCounters as u8 + 1 == Opcode::Move as u8, "MOVE is the last opcode, present or not");
        // MOVE's banks are bytes 1 and 2: the first is where READ's bank is
        // (the lane multiplexers' flags), the second is read in Idle.
        assert_eq!((request_offset(Opcode::Move, "src_bank"), request_offset(Opcode::Move, "dst_bank")), (1, 2));
        // Frame indices are 11 bits, record indices 6.
        assert!(MAX_REQUEST_PAYLOAD < 1 << 11 && record_len(INFO_FIELDS) <= 64);
        Self {
            clock: Default::default(),
            request_ready: Default::default(),
            request_status: Default::default(),
            head: Default::default(),
            length: Default::default(),
            frame_address: Default::default(),
            answered: Default::default(),
            reply_start: Default::default(),
            reply_status: Default::default(),
            reply_opcode: Default::default(),
            reply_length: Default::default(),
            reply_fetch: Default::default(),
            reply_data: Default::default(),
            reply_data_valid: Default::default(),
            reply_done: Default::default(),
            start_engine: Default::default(),
            engine_done: Default::default(),
            engine_error: Default::default(),
            start_requant: Default::default(),
            requant_done: Default::default(),
            requant_error: Default::default(),
            start_adder: Default::default(),
            adder_done: Default::default(),
            adder_error: Default::default(),
            start_mover: Default::default(),
            mover_checked: Default::default(),
            mover_error: Default::default(),
            move_from_entry: Default::default(),
            move_from_entry_next: Default::default(),
            move_from_lane: Default::default(),
            move_to_entry: Default::default(),
            move_to_lane: Default::default(),
            move_last: Default::default(),
            move_showing_last: Default::default(),
            move_advance: Default::default(),
            move_zeros: Default::default(),
            moving: Default::default(),
            move_data: Default::default(),
            clear_counters: Default::default(),
            snapshot_request: Default::default(),
            snapshot_counter: Default::default(),
            snapshot_ready: Default::default(),
            snapshot_byte: Default::default(),
            snapshot_shift: Default::default(),
            cursor_entry: Default::default(),
            cursor_entry_next: Default::default(),
            source_entry: Default::default(),
            source_lane: Default::default(),
            b_entry: Default::default(),
            b_entry_next: Default::default(),
            cursor_lane_next: Default::default(),
            write_a_next: Default::default(),
            write_b_next: Default::default(),
            cursor_lane: Default::default(),
            write_a: Default::default(),
            write_b: Default::default(),
            write_bias: Default::default(),
            write_table: Default::default(),
            bank_table: Default::default(),
            bank_a: Default::default(),
            bank_b: Default::default(),
            bank_acc: Default::default(),
            lane_u8: Default::default(),
            lane_u32: Default::default(),
            busy: Default::default(),
            answered_ok: Default::default(),
            answered_error: Default::default(),
            info: Constant::new(info),
            rows: k(rows as u64),
            cols: k(cols as u64),
            cols_x4: k(4 * cols as u64),
            rows_less_one: k(rows as u64 - 1),
            cols_less_one: k(cols as u64 - 1),
            a_depth: k(m.a_depth as u64),
            b_depth: k(m.b_depth as u64),
            acc_depth: k(m.acc_depth as u64),
            a_depth_log: k(m.a_depth.trailing_zeros() as u64),
            b_depth_log: k(m.b_depth.trailing_zeros() as u64),
            acc_depth_log: k(m.acc_depth.trailing_zeros() as u64),
            st_ok: k(Status::Ok as u64),
            st_bad_length: k(Status::BadLength as u64),
            st_unknown_command: k(Status::UnknownCommand as u64),
            st_bad_bank: k(Status::BadBank as u64),
            st_out_of_range: k(Status::OutOfRange as u64),
            op_write: k(Opcode::Write as u64),
            op_counters: k(Opcode::Counters as u64),
            op_info: k(Opcode::Info as u64),
            op_status: k(Opcode::Status as u64),
            known_opcodes: k(known_opcodes(config)),
            has_mover: Constant::new(config.memory.mover),
            has_program: Constant::new(config.memory.program_bytes > 0),
            has_adder: Constant::new(m.add_tables > 0),
            table_depth: k((TABLE_ENTRIES * m.add_tables).max(1) as u64),
            table_depth_log: k((TABLE_ENTRIES * m.add_tables).max(1).trailing_zeros() as u64),
            above_last_bank: above(if m.add_tables > 0 { Bank::Table } else { Bank::Out } as usize),
            above_write_head: above(write_head),
            info_len: k(record_len(INFO_FIELDS) as u64),
            status_len: k(record_len(STATUS_FIELDS) as u64),
            counters_len: k(record_len(COUNTER_FIELDS) as u64),
            write_head: k(write_head as u64),
            write_head_plus_one: k(write_head as u64 + 1),
            read_len: k(Opcode::Read.request_len() as u64),
            gemm_len: k(Opcode::Gemm.request_len() as u64),
            requant_len: k(Opcode::Requant.request_len() as u64),
            move_len: k(Opcode::Move.request_len() as u64),
            add_len: k(Opcode::Add.request_len() as u64),
            op_move: k(Opcode::Move as u64),
            at_entry: k(head_bit(Opcode::Read, "entry")),
            at_count: k(head_bit(Opcode::Read, "count")),
            state: Default::default(),
            start_engine_reg: Default::default(),
            start_requant_reg: Default::default(),
            start_mover_reg: Default::default(),
            start_adder_reg: Default::default(),
            clear_counters_reg: Default::default(),
            status: Default::default(),
            length_ok: Default::default(),
            len_one: Default::default(),
            len_write: Default::default(),
            len_read: Default::default(),
            len_gemm: Default::default(),
            len_requant: Default::default(),
            len_move: Default::default(),
            len_add: Default::default(),
            frame_ok: Default::default(),
            op_index: Default::default(),
            bank_ok: Default::default(),
            count_zero: Default::default(),
            refused: Default::default(),
            refusal: Default::default(),
            opcode: Default::default(),
            data_len: Default::default(),
            bank: Default::default(),
            last_lane: Default::default(),
            last_byte: Default::default(),
            entry_bytes: Default::default(),
            entry: Default::default(),
            lane: Default::default(),
            cursor_byte: Default::default(),
            size_bytes: Default::default(),
            size_entries: Default::default(),
            end_entry: Default::default(),
            too_long: Default::default(),
            size_eq: Default::default(),
            size_gt: Default::default(),
            size_long: Default::default(),
            size_count: Default::default(),
            is_write: Default::default(),
            is_info: Default::default(),
            is_status: Default::default(),
            is_counters: Default::default(),
            is_bank_a: Default::default(),
            is_bank_b: Default::default(),
            is_bank_acc: Default::default(),
            is_bank_bias: Default::default(),
            is_bank_table: Default::default(),
            is_move: Default::default(),
            move_to_b: Default::default(),
            move_from_out: Default::default(),
            move_reads_b: Default::default(),
            move_advance_reg: Default::default(),
            b_follows_mover: Default::default(),
            // (A byte's lane is selected once it has passed the registers
            // before the multiplexer; its write waits for all of them.)
            pipe: if m.mover {
                let registered = usize::from(m.read_data_register);
                vec![MovePipe::new(1 + registered * LANE_REGISTERS_BEFORE_MULTIPLEXER, 2 + registered * LANE_REGISTERS)]
            } else {
                vec![]
            },
            move_byte: Default::default(),
            past_a: Default::default(),
            past_b: Default::default(),
            past_acc: Default::default(),
            past_bias: Default::default(),
            past_table: Default::default(),
            past_end: Default::default(),
            write_a_reg: Default::default(),
            write_b_reg: Default::default(),
            write_bias_reg: Default::default(),
            write_table_reg: Default::default(),
            copy_index: Default::default(),
            copy_left: Default::default(),
            tx_index: Default::default(),
            tx_word: Default::default(),
            tx_byte_lane: Default::default(),
            record_byte: Default::default(),
            is_record: Default::default(),
            tx_data: Default::default(),
            tx_data_valid: Default::default(),
            start_reply: Default::default(),
            last_error: Default::default(),
            note_error: Default::default(),
            executing: Default::default(),
            noted_status: Default::default(),
            byte_last: Default::default(),
            cursor_last: Default::default(),
            entry_step: Default::default(),
            settle_more: crate::vecs::dffs(usize::from(m.read_data_register)),
            field_entry: Default::default(),
            field_count: Default::default(),
            data_byte: Default::default(),
            byte_lanes: Default::default(),
            settle_wait: Default::default(),
        }
    }

    /// The state, for tests.
    pub fn state(&self) -> ExecState {
        self.state.q.val()
    }
}

impl Logic for Executor {
    // (Dispatch's arms test `refused` inside the arm: #[hdl_gen] takes no
    // match guards.)
    #[allow(clippy::collapsible_match)]
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, start_engine_reg, start_requant_reg, start_mover_reg, start_adder_reg, clear_counters_reg, status, length_ok, len_one, len_write, len_read, len_gemm, len_requant, len_move, len_add,
            is_bank_table, past_table, write_table_reg,
            is_move, move_to_b, move_from_out, move_reads_b, move_advance_reg, b_follows_mover, move_byte,
            frame_ok, op_index, bank_ok, count_zero, refused, refusal, opcode, data_len, bank, last_lane, last_byte, entry_bytes, entry, lane, cursor_byte,
            size_bytes, size_entries, end_entry, too_long, size_eq, size_gt, size_long, size_count, is_write, is_info, is_status, is_counters,
            is_bank_a, is_bank_b, is_bank_acc, is_bank_bias, past_a, past_b, past_acc, past_bias, past_end, write_a_reg, write_b_reg, write_bias_reg,
            copy_index, copy_left, tx_index, tx_word, tx_byte_lane, record_byte, is_record, tx_data, tx_data_valid, start_reply, last_error,
            byte_last, cursor_last, entry_step
        );
        // The settle states (TxSettle, MoveSettle) wait three cycles more
        // with the read data registered (LANE_REGISTERS, written out: an
        // hdl_gen comparison takes a literal), counted here for both.
        self.settle_wait.next = false;
        for e in 0..self.settle_more.len() {
            self.settle_more[e].clock.next = self.clock.val();
            self.settle_more[e].d.next = 0.into();
            if ((self.state.q.val() == ExecState::TxSettle) | (self.state.q.val() == ExecState::MoveSettle)) & (self.settle_more[e].q.val() != 3) {
                self.settle_more[e].d.next = self.settle_more[e].q.val() + 1;
                self.settle_wait.next = true;
            }
        }
        // ---- Outputs, each a flip-flop (or, for the counts, the Done state).
        self.busy.next = self.state.q.val() != ExecState::Idle;
        self.executing.next = (self.state.q.val() != ExecState::Idle)
            & (self.state.q.val() != ExecState::Reply)
            & (self.state.q.val() != ExecState::Replying)
            & (self.state.q.val() != ExecState::TxFetch)
            & (self.state.q.val() != ExecState::TxSettle)
            & (self.state.q.val() != ExecState::TxWait)
            & (self.state.q.val() != ExecState::TxPick)
            & (self.state.q.val() != ExecState::Done);
        self.answered.next = false;
        self.answered_ok.next = (self.state.q.val() == ExecState::Done) & (self.status.q.val() == self.st_ok.val());
        self.answered_error.next = (self.state.q.val() == ExecState::Done) & (self.status.q.val() != self.st_ok.val());
        self.reply_start.next = self.start_reply.q.val();
        self.start_reply.d.next = false;
        self.reply_status.next = self.status.q.val();
        self.reply_opcode.next = self.opcode.q.val();
        self.reply_length.next = self.data_len.q.val();
        self.reply_data.next = self.tx_data.q.val();
        self.reply_data_valid.next = self.tx_data_valid.q.val();
        self.tx_data_valid.d.next = false;
        // Starts are registered: the decode's tests end at a flip-flop, and
        // each unit starts in the executor's first Gemm or Requant cycle.
        self.start_engine.next = self.start_engine_reg.q.val();
        self.start_requant.next = self.start_requant_reg.q.val();
        self.start_engine_reg.d.next = false;
        self.start_requant_reg.d.next = false;
        self.start_mover.next = self.start_mover_reg.q.val();
        self.start_mover_reg.d.next = false;
        self.start_adder.next = self.start_adder_reg.q.val();
        self.start_adder_reg.d.next = false;
        self.move_advance.next = self.move_advance_reg.q.val();
        self.moving.next = self.is_move.q.val() & self.has_mover.val();
        self.move_data.next = self.move_byte.q.val();
        // CLEAR_COUNTERS, a cycle after Dispatch (from a flip-flop: the clear
        // reaches every low part and pending bit).
        self.clear_counters.next = self.clear_counters_reg.q.val();
        self.clear_counters_reg.d.next = false;
        self.cursor_entry.next = self.entry.q.val();
        self.entry_step.d.next = false;
        if self.entry_step.q.val() {
            self.entry.d.next = self.entry.q.val() + 1;
        }
        self.cursor_lane.next = self.lane.q.val();
        self.write_a.next = self.write_a_reg.q.val();
        self.write_b.next = self.write_b_reg.q.val();
        self.write_bias.next = self.write_bias_reg.q.val();
        self.write_table.next = self.write_table_reg.q.val();
        self.write_a_reg.d.next = false;
        self.write_b_reg.d.next = false;
        self.write_bias_reg.d.next = 0.into();
        self.write_table_reg.d.next = 0.into();
        self.bank_a.next = self.is_bank_a.q.val();
        self.bank_b.next = self.is_bank_b.q.val();
        self.bank_acc.next = self.is_bank_acc.q.val();
        self.bank_table.next = self.is_bank_table.q.val();
        self.frame_address.next = self.copy_index.q.val();

        // ---- Request fields, from the header.
        self.field_entry.next = self.head.val().get_bits::<16>(self.at_entry.val().index());
        self.field_count.next = self.head.val().get_bits::<16>(self.at_count.val().index());
        self.byte_lanes.next = bits::<4>(1) << self.cursor_byte.q.val();

        // ---- Snapshots: a counter's first byte asks for its snapshot as it
        // is fetched (see TxFetch). COUNTERS: counter tx_index / 8; STATUS:
        // 14 for bytes 0..=3, 15 for 4..=7.
        self.snapshot_request.next = false;
        self.snapshot_shift.next = false;
        self.snapshot_counter.next = self.tx_index.q.val().get_bits::<4>(3);
        if self.is_status.q.val() {
            self.snapshot_counter.next = bits::<4>(14) | bit_cast::<4, 1>(self.tx_index.q.val().get_bit(2).into());
        }

        // ---- The answer's data.
        // The record's byte at tx_index, registered every cycle. COUNTERS
        // and STATUS's bytes 0..=7: the snapshot's low byte (it moves down a
        // byte as each is taken, see TxPick); STATUS's byte 8 the last error.
        self.record_byte.d.next = self.snapshot_byte.val();
        if self.is_status.q.val() & self.tx_index.q.val().get_bit(3) {
            self.record_byte.d.next = self.last_error.q.val();
        }
        if self.is_info.q.val() {
            self.record_byte.d.next = self.info.val().get_bits::<8>(self.tx_index.q.val().get_bits::<6>(0).index() * 8);
        }
        // The answer's next data byte (selected in TxPick, when the memory's
        // lane is in tx_word or tx_byte_lane).
        self.data_byte.next = self.tx_byte_lane.q.val();
        if self.is_bank_acc.q.val() | self.is_bank_bias.q.val() | self.is_bank_table.q.val() {
            self.data_byte.next = self.tx_word.q.val().get_bits::<8>(self.cursor_byte.q.val().index() * 8);
        }
        if self.is_record.q.val() {
            self.data_byte.next = self.record_byte.q.val();
        }
        // (Registered every cycle: the cursor moves in CopyData and TxPick
        // alone, and each comes back at least two cycles later.)
        self.byte_last.d.next = self.cursor_byte.q.val() == self.last_byte.q.val();
        // end_entry > a bank's depth, a power of two 2^d: `x >> d != 0 and
        // x != 2^d`, plain logic; then the request's bank's test.
        self.past_a.d.next =
            ((self.end_entry.q.val() >> self.a_depth_log.val()) != 0) & (self.end_entry.q.val() != self.a_depth.val());
        self.past_b.d.next =
            ((self.end_entry.q.val() >> self.b_depth_log.val()) != 0) & (self.end_entry.q.val() != self.b_depth.val());
        self.past_acc.d.next =
            ((self.end_entry.q.val() >> self.acc_depth_log.val()) != 0) & (self.end_entry.q.val() != self.acc_depth.val());
        self.past_bias.d.next = (self.end_entry.q.val() >> 2) != 0;
        self.past_table.d.next =
            ((self.end_entry.q.val() >> self.table_depth_log.val()) != 0) & (self.end_entry.q.val() != self.table_depth.val());
        self.past_end.d.next = self.past_acc.q.val();
        if self.is_bank_a.q.val() {
            self.past_end.d.next = self.past_a.q.val();
        }
        if self.is_bank_b.q.val() {
            self.past_end.d.next = self.past_b.q.val();
        }
        if self.is_bank_bias.q.val() {
            self.past_end.d.next = self.past_bias.q.val();
        }
        if self.is_bank_table.q.val() {
            self.past_end.d.next = self.past_table.q.val();
        }
        self.cursor_last.d.next = (self.cursor_byte.q.val() == self.last_byte.q.val()) & (self.lane.q.val() == self.last_lane.q.val());

        // ---- The state machine.
        // Size's tests, registered every cycle (no enable: SizeStep reads
        // them a cycle after Size, in which their inputs hold).
        self.size_eq.d.next = self.size_bytes.q.val() == bit_cast::<17, 16>(self.data_len.q.val());
        self.size_gt.d.next = self.size_bytes.q.val() > bit_cast::<17, 16>(self.data_len.q.val());
        // Past 0xFFFD, the longest answer's data, as plain logic.
        self.size_long.d.next = self.size_bytes.q.val().get_bit(16) | (self.size_bytes.q.val().get_bits::<15>(1) == 0x7FFF);
        self.size_count.d.next = self.size_entries.q.val() == self.field_count.val();
        self.len_one.d.next = self.length.val() == 1;
        self.len_write.d.next = ((self.length.val() >> 4) != 0) | self.above_write_head.val().get_bit(self.length.val().get_bits::<4>(0).index());
        self.len_read.d.next = self.length.val() == self.read_len.val();
        self.len_gemm.d.next = self.length.val() == self.gemm_len.val();
        self.len_requant.d.next = self.length.val() == self.requant_len.val();
        self.len_move.d.next = self.length.val() == self.move_len.val();
        self.len_add.d.next = self.length.val() == self.add_len.val();
        match self.state.q.val() {
            ExecState::Idle => {
                // The request's kind and bank as flags, for every later
                // decision (written in every Idle cycle: the enable does not
                // wait for the frame).
                self.is_write.d.next = self.head.val().get_bits::<8>(0) == self.op_write.val();
                self.is_info.d.next = self.head.val().get_bits::<8>(0) == self.op_info.val();
                self.is_status.d.next = self.head.val().get_bits::<8>(0) == self.op_status.val();
                self.is_counters.d.next = self.head.val().get_bits::<8>(0) == self.op_counters.val();
                self.is_record.d.next = (self.head.val().get_bits::<8>(0) == self.op_info.val())
                    | (self.head.val().get_bits::<8>(0) == self.op_status.val())
                    | (self.head.val().get_bits::<8>(0) == self.op_counters.val());
                self.is_bank_a.d.next = self.head.val().get_bits::<8>(8) == 0;
                self.is_bank_b.d.next = self.head.val().get_bits::<8>(8) == 1;
                self.is_bank_acc.d.next = self.head.val().get_bits::<8>(8) == 2;
                self.is_bank_bias.d.next = self.head.val().get_bits::<8>(8) == 3;
                self.is_bank_table.d.next = (self.head.val().get_bits::<8>(8) == 5) & self.has_adder.val();
                self.is_move.d.next = self.head.val().get_bits::<8>(0) == self.op_move.val();
                self.move_to_b.d.next = self.head.val().get_bits::<8>(16) == 1;
                // (Constant 0 without the mover: nothing of the stream is built.)
                self.move_from_out.d.next = (self.head.val().get_bits::<8>(8) == 4) & self.has_mover.val();
                self.move_reads_b.d.next = (self.head.val().get_bits::<8>(8) == 1) & (self.head.val().get_bits::<8>(16) != 1) & self.has_mover.val();
                if self.request_ready.val() {
                    self.status.d.next = self.request_status.val();
                    self.opcode.d.next = self.head.val().get_bits::<8>(0);
                    self.data_len.d.next = 0.into();
                    self.state.d.next = ExecState::Decode;
                    // The request's tests, registered for Decode.
                    self.length_ok.d.next = self.len_one.q.val();
                    match self.head.val().get_bits::<8>(0).index() {
                        2 => {
                            self.length_ok.d.next = self.len_write.q.val();
                        }
                        3 => {
                            self.length_ok.d.next = self.len_read.q.val();
                        }
                        4 => {
                            self.length_ok.d.next = self.len_gemm.q.val();
                        }
                        5 => {
                            self.length_ok.d.next = self.len_requant.q.val();
                        }
                        9 => {
                            self.length_ok.d.next = self.len_move.q.val();
                        }
                        12 => {
                            self.length_ok.d.next = self.len_add.q.val();
                        }
                        _ => {}
                    }
                    // (WRITE takes the operand banks A, B and BIAS; READ any.)
                    self.bank_ok.d.next = ((self.head.val().get_bits::<8>(8) >> 3) == 0) & !self.above_last_bank.val().get_bit(self.head.val().get_bits::<3>(8).index());
                    if (self.head.val().get_bits::<8>(0) == self.op_write.val())
                        & ((self.head.val().get_bits::<8>(8) == 2) | (self.head.val().get_bits::<8>(8) == 4))
                    {
                        self.bank_ok.d.next = false;
                    }
                    self.frame_ok.d.next = self.request_status.val() == self.st_ok.val();
                    // The opcode in 4 bits for Decode and Dispatch: 0 if unknown.
                    self.op_index.d.next = 0.into();
                    if ((self.head.val().get_bits::<8>(0) >> 4) == 0) & self.known_opcodes.val().get_bit(self.head.val().get_bits::<4>(0).index()) {
                        self.op_index.d.next = self.head.val().get_bits::<4>(0);
                    }
                    self.count_zero.d.next = self.field_count.val() == 0;
                }
            }
            ExecState::Decode => {
                self.bank.d.next = self.head.val().get_bits::<3>(8);
                self.entry.d.next = self.field_entry.val();
                self.lane.d.next = 0.into();
                self.cursor_byte.d.next = 0.into();
                self.size_bytes.d.next = 0.into();
                self.size_entries.d.next = 0.into();
                self.too_long.d.next = false;
                self.end_entry.d.next = bit_cast::<17, 16>(self.field_entry.val());
                if !self.is_write.q.val() {
                    self.end_entry.d.next = bit_cast::<17, 16>(self.field_entry.val()) + bit_cast::<17, 16>(self.field_count.val());
                }
                self.copy_index.d.next = bit_cast::<11, 16>(self.write_head.val());
                self.copy_left.d.next = bit_cast::<11, 16>(self.length.val() - self.write_head_plus_one.val());
                // Every bank's geometry; the bank number is checked below.
                match self.head.val().get_bits::<8>(8).index() {
                    0 => {
                        self.last_lane.d.next = self.rows_less_one.val();
                        self.last_byte.d.next = 0.into();
                        self.entry_bytes.d.next = self.rows.val();
                    }
                    1 => {
                        self.last_lane.d.next = self.cols_less_one.val();
                        self.last_byte.d.next = 0.into();
                        self.entry_bytes.d.next = self.cols.val();
                    }
                    2 => {
                        self.last_lane.d.next = self.cols_less_one.val();
                        self.last_byte.d.next = 3.into();
                        self.entry_bytes.d.next = self.cols_x4.val();
                    }
                    3 => {
                        self.last_lane.d.next = self.cols_less_one.val();
                        self.last_byte.d.next = 3.into();
                        self.entry_bytes.d.next = self.cols_x4.val();
                    }
                    5 => {
                        // TABLE: one word an entry (without tables, no bank:
                        // as OUT's, so the build without is as before).
                        self.last_lane.d.next = self.cols_less_one.val();
                        self.last_byte.d.next = 0.into();
                        self.entry_bytes.d.next = self.cols.val();
                        if self.has_adder.val() {
                            self.last_lane.d.next = 0.into();
                            self.last_byte.d.next = 3.into();
                            self.entry_bytes.d.next = 4.into();
                        }
                    }
                    _ => {
                        self.last_lane.d.next = self.cols_less_one.val();
                        self.last_byte.d.next = 0.into();
                        self.entry_bytes.d.next = self.cols.val();
                    }
                }
                // The request's verdict, registered for Dispatch: refused,
                // and with which status (an unknown opcode first, then the
                // length, the bank, a READ of no entries).
                self.state.d.next = ExecState::Dispatch;
                self.refusal.d.next = self.st_out_of_range.val();
                if !self.bank_ok.q.val() {
                    self.refusal.d.next = self.st_bad_bank.val();
                }
                if !self.length_ok.q.val() {
                    self.refusal.d.next = self.st_bad_length.val();
                }
                if self.op_index.q.val() == 0 {
                    self.refusal.d.next = self.st_unknown_command.val();
                }
                self.refused.d.next = self.frame_ok.q.val()
                    & ((self.op_index.q.val() == 0)
                        | !self.length_ok.q.val()
                        | (((self.op_index.q.val() == 2) | (self.op_index.q.val() == 3)) & !self.bank_ok.q.val())
                        | ((self.op_index.q.val() == 3) & self.count_zero.q.val()));
            }
            ExecState::Dispatch => {
                // Acts on Decode's verdict: every decision here reads a
                // flip-flop (the verdict's tests are three levels of logic,
                // too many before the status register's own).
                self.state.d.next = ExecState::Reply;
                if self.refused.q.val() {
                    self.status.d.next = self.refusal.q.val();
                }
                if self.frame_ok.q.val() {
                    match self.op_index.q.val().index() {
                        1 => {
                            self.data_len.d.next = self.info_len.val();
                        }
                        2 => {
                            // Size compares the entries' bytes with the data's.
                            self.data_len.d.next = self.length.val() - self.write_head.val();
                            if !self.refused.q.val() {
                                self.state.d.next = ExecState::Size;
                            }
                        }
                        3 => {
                            if !self.refused.q.val() {
                                self.state.d.next = ExecState::Size;
                            }
                        }
                        4 => {
                            if !self.refused.q.val() {
                                self.start_engine_reg.d.next = true;
                                self.state.d.next = ExecState::Gemm;
                            }
                        }
                        5 => {
                            if !self.refused.q.val() {
                                self.start_requant_reg.d.next = true;
                                self.state.d.next = ExecState::Requant;
                            }
                        }
                        6 => {
                            self.data_len.d.next = self.status_len.val();
                        }
                        7 => {
                            self.data_len.d.next = self.counters_len.val();
                        }
                        8 => {
                            if !self.refused.q.val() {
                                self.clear_counters_reg.d.next = true;
                            }
                        }
                        9 => {
                            if !self.refused.q.val() & self.has_mover.val() {
                                self.start_mover_reg.d.next = true;
                                self.state.d.next = ExecState::MoveCheck;
                            }
                        }
                        12 => {
                            if !self.refused.q.val() & self.has_adder.val() {
                                self.start_adder_reg.d.next = true;
                                self.state.d.next = ExecState::Requant;
                            }
                        }
                        _ => {}
                    }
                }
            }
            ExecState::Size => {
                // Entries x entry bytes, by repeated addition (no divider),
                // one entry every two cycles: Size lets the tests (above)
                // see the registers, SizeStep acts on the tests (every
                // decision reads a flip-flop).
                self.state.d.next = ExecState::SizeStep;
            }
            ExecState::SizeStep => {
                // (past_end follows end_entry two cycles later: Range, at
                // least two cycles after the last change, sees the end the
                // loop stopped at.)
                self.state.d.next = ExecState::Size;
                if self.is_write.q.val() {
                    if self.size_eq.q.val() {
                        // Whole entries, ending before end_entry.
                        self.state.d.next = ExecState::Range;
                    } else if self.size_gt.q.val() {
                        self.status.d.next = self.st_bad_length.val();
                        self.state.d.next = ExecState::Reply;
                    } else {
                        self.size_bytes.d.next = self.size_bytes.q.val() + bit_cast::<17, 8>(self.entry_bytes.q.val());
                        self.end_entry.d.next = self.end_entry.q.val() + 1;
                    }
                } else if self.size_long.q.val() {
                    self.too_long.d.next = true;
                    self.state.d.next = ExecState::Range;
                } else if self.size_count.q.val() {
                    // size_bytes holds the answer's length.
                    self.state.d.next = ExecState::Range;
                } else {
                    self.size_bytes.d.next = self.size_bytes.q.val() + bit_cast::<17, 8>(self.entry_bytes.q.val());
                    self.size_entries.d.next = self.size_entries.q.val() + 1;
                }
            }
            ExecState::Range => {
                // Out of range first, then too long: a WRITE's data goes in
                // and its answer carries none; a READ answers its bytes.
                self.data_len.d.next = 0.into();
                self.state.d.next = ExecState::Reply;
                if self.past_end.q.val() {
                    self.status.d.next = self.st_out_of_range.val();
                } else if self.too_long.q.val() {
                    self.status.d.next = self.st_bad_length.val();
                } else if self.is_write.q.val() {
                    self.state.d.next = ExecState::Copy;
                } else {
                    self.data_len.d.next = self.size_bytes.q.val().get_bits::<16>(0);
                }
            }
            ExecState::Copy => {
                // frame_address shows copy_index; its byte arrives next
                // cycle, and the NPU registers it (so that the frame buffer's
                // block RAM is a flip-flop away from the banks' write data,
                // which on a big part lie across the die). The byte is read:
                // the frame address moves on to the next.
                self.state.d.next = ExecState::CopyWait;
                if self.has_program.val() {
                    self.copy_index.d.next = self.copy_index.q.val() + 1;
                }
            }
            ExecState::CopyWait => {
                // Which memory the registered byte goes to is decided now,
                // into flip-flops (every byte is written as it comes: a
                // byte-wide bank's lane, or one byte of the bias word; Decode
                // let WRITE name A, B and BIAS only).
                self.state.d.next = ExecState::CopyData;
                match self.bank.q.val().index() {
                    0 => {
                        self.write_a_reg.d.next = true;
                    }
                    1 => {
                        self.write_b_reg.d.next = true;
                    }
                    5 => {
                        self.write_bias_reg.d.next = self.byte_lanes.val();
                        if self.has_adder.val() {
                            self.write_bias_reg.d.next = 0.into();
                            self.write_table_reg.d.next = self.byte_lanes.val();
                        }
                    }
                    _ => {
                        self.write_bias_reg.d.next = self.byte_lanes.val();
                    }
                }
            }
            ExecState::CopyData => {
                // (The write flags, set in Copy for this cycle alone, drive
                // the write enables directly.)
                self.state.d.next = ExecState::Copy;
                if self.copy_left.q.val() == 0 {
                    self.state.d.next = ExecState::Reply;
                }
                if !self.has_program.val() {
                    self.copy_index.d.next = self.copy_index.q.val() + 1;
                }
                self.copy_left.d.next = self.copy_left.q.val() - 1;
                self.cursor_byte.d.next = self.cursor_byte.q.val() + 1;
                if self.byte_last.q.val() {
                    self.cursor_byte.d.next = 0.into();
                    self.lane.d.next = self.lane.q.val() + 1;
                    if self.cursor_last.q.val() {
                        self.lane.d.next = 0.into();
                        self.entry_step.d.next = true;
                    }
                }
            }
            ExecState::Gemm => {
                if self.engine_done.val() {
                    self.status.d.next = self.engine_error.val();
                    self.state.d.next = ExecState::Reply;
                }
            }
            ExecState::Requant => {
                // (ADD's table adder is awaited here too.)
                if self.requant_done.val() {
                    self.status.d.next = self.requant_error.val();
                    self.state.d.next = ExecState::Reply;
                }
                if self.adder_done.val() {
                    self.status.d.next = self.adder_error.val();
                    self.state.d.next = ExecState::Reply;
                }
            }
            ExecState::MoveCheck => {
                if self.mover_checked.val() {
                    self.status.d.next = self.mover_error.val();
                    self.state.d.next = ExecState::Reply;
                    if self.mover_error.val() == self.st_ok.val() {
                        self.state.d.next = ExecState::MoveFrom;
                        if self.move_from_out.q.val() | self.move_reads_b.q.val() | self.move_zeros.val() {
                            self.state.d.next = ExecState::MoveStream;
                        }
                    }
                }
            }
            ExecState::MoveStream => {
                // A byte a cycle into the pipe (see the streaming below),
                // up to the last (`move_advance` is high in this state).
                if self.move_showing_last.val() {
                    self.state.d.next = ExecState::MoveDrain;
                }
            }
            ExecState::MoveDrain => {
                for u in 0..self.pipe.len() {
                    if !self.pipe[u].busy.val() {
                        self.state.d.next = ExecState::Reply;
                    }
                }
            }
            ExecState::MoveFrom => {
                // The cursor goes to the first byte's source (the lane
                // multiplexers show the source bank: its number is where
                // READ's is).
                self.entry.d.next = self.move_from_entry.val();
                self.lane.d.next = self.move_from_lane.val();
                self.state.d.next = ExecState::MoveFetch;
            }
            ExecState::MoveFetch => {
                self.state.d.next = ExecState::MoveSettle;
            }
            ExecState::MoveSettle => {
                // The lane is here in this state's last cycle: the memory's
                // read a cycle after MoveFetch, then (with the read data
                // registered, two cycles more, as TxSettle waits) its
                // register and the lane's.
                self.move_byte.d.next = self.lane_u8.val();
                if self.move_zeros.val() {
                    self.move_byte.d.next = 0.into();
                }
                self.state.d.next = ExecState::MoveTo;
                if self.settle_wait.val() {
                    self.state.d.next = ExecState::MoveSettle;
                }
            }
            ExecState::MoveTo => {
                // The cursor goes to the destination, and the byte (through
                // the NPU's frame-byte register, as WRITE's) is written there
                // next cycle. The mover has the places in hand: it shows the
                // next byte's from next cycle on.
                self.entry.d.next = self.move_to_entry.val();
                self.lane.d.next = self.move_to_lane.val();
                self.write_a_reg.d.next = !self.move_to_b.q.val();
                self.write_b_reg.d.next = self.move_to_b.q.val();
                // (`move_advance` is high in this state.)
                self.state.d.next = ExecState::MoveWrite;
            }
            ExecState::MoveWrite => {
                // The write takes the cursor as it is; the cursor goes on to
                // the next byte's source. (`move_last` is a cycle late, so
                // it still says whether the byte written is the last: the
                // mover showed it at least three cycles before the advance.)
                self.entry.d.next = self.move_from_entry.val();
                self.lane.d.next = self.move_from_lane.val();
                self.state.d.next = ExecState::MoveFetch;
                if self.move_last.val() {
                    self.state.d.next = ExecState::Reply;
                }
            }
            ExecState::Reply => {
                // (An answer other than OK carries no data.)
                if self.status.q.val() != self.st_ok.val() {
                    self.data_len.d.next = 0.into();
                }
                self.tx_index.d.next = 0.into();
                self.start_reply.d.next = true;
                self.state.d.next = ExecState::Replying;
            }
            ExecState::Replying => {
                if self.reply_fetch.val() {
                    self.state.d.next = ExecState::TxFetch;
                }
                if self.reply_done.val() {
                    self.state.d.next = ExecState::Done;
                }
            }
            ExecState::TxFetch => {
                // The cursor addresses the memories; their data arrives next
                // cycle. A counter's first byte asks for its snapshot, and
                // so does each of the STATUS record's frame counts.
                if self.is_counters.q.val() & (self.tx_index.q.val().get_bits::<3>(0) == 0) {
                    self.snapshot_request.next = true;
                }
                if self.is_status.q.val() & (self.tx_index.q.val().get_bits::<2>(0) == 0) & !self.tx_index.q.val().get_bit(3) {
                    self.snapshot_request.next = true;
                }
                self.state.d.next = ExecState::TxSettle;
            }
            ExecState::TxSettle => {
                // The lane select is a register: the bias bank's data for
                // the cursor's lane arrives a cycle after it.
                self.state.d.next = ExecState::TxWait;
                if self.settle_wait.val() {
                    self.state.d.next = ExecState::TxSettle;
                }
            }
            ExecState::TxWait => {
                self.tx_word.d.next = self.lane_u32.val();
                self.tx_byte_lane.d.next = self.lane_u8.val();
                if !(self.is_counters.q.val() | self.is_status.q.val()) | self.snapshot_ready.val() {
                    self.state.d.next = ExecState::TxPick;
                }
            }
            ExecState::TxPick => {
                // The byte goes to the sender; the cursor moves on to the
                // next, and the snapshot to its next byte.
                self.snapshot_shift.next = true;
                self.tx_data.d.next = self.data_byte.val();
                self.tx_data_valid.d.next = true;
                self.tx_index.d.next = self.tx_index.q.val() + 1;
                self.cursor_byte.d.next = self.cursor_byte.q.val() + 1;
                if self.byte_last.q.val() {
                    self.cursor_byte.d.next = 0.into();
                    self.lane.d.next = self.lane.q.val() + 1;
                    if self.cursor_last.q.val() {
                        self.lane.d.next = 0.into();
                        self.entry_step.d.next = true;
                    }
                }
                self.state.d.next = ExecState::Replying;
            }
            ExecState::Done => {
                // (The frame counts count this answer: see answered_ok.)
                if self.status.q.val() != self.st_ok.val() {
                    self.last_error.d.next = self.status.q.val();
                }
                self.answered.next = true;
                self.state.d.next = ExecState::Idle;
            }
            _ => {
                self.state.d.next = ExecState::Idle;
            }
        }
        if self.note_error.val() {
            self.last_error.d.next = self.noted_status.val();
        }
        // ---- A streamed MOVE (MoveStream, MoveDrain). Each cycle a byte's
        // source entry addresses OUT; its lane selects the data when it
        // reaches the lane multiplexer; the byte is captured as it arrives,
        // and its destination goes to the cursor a cycle later, with the
        // write flag, as MoveTo's (the byte is then in the frame-byte
        // register). OUT and the scratchpads are different memories, so
        // reads and writes overlap.
        self.source_entry.next = self.entry.q.val();
        self.source_lane.next = self.lane.q.val();
        for u in 0..self.pipe.len() {
            self.pipe[u].clock.next = self.clock.val();
            self.pipe[u].issue.next = self.state.q.val() == ExecState::MoveStream;
            self.pipe[u].from_lane.next = self.move_from_lane.val();
            self.pipe[u].to_entry.next = self.move_to_entry.val();
            self.pipe[u].to_lane.next = self.move_to_lane.val();
            self.pipe[u].to_b.next = self.move_to_b.q.val();
            if (self.state.q.val() == ExecState::MoveStream) | (self.state.q.val() == ExecState::MoveDrain) {
                self.source_entry.next = self.move_from_entry.val();
                self.source_lane.next = self.pipe[u].read_lane.val();
                self.move_byte.d.next = self.lane_u8.val();
                if self.move_zeros.val() {
                    self.move_byte.d.next = 0.into();
                }
                if self.pipe[u].write.val() {
                    self.entry.d.next = self.pipe[u].write_entry.val();
                    self.lane.d.next = self.pipe[u].write_lane.val();
                    self.write_a_reg.d.next = !self.pipe[u].write_b.val();
                    self.write_b_reg.d.next = self.pipe[u].write_b.val();
                }
            }
        }
        // Next cycle's cursor entry: its flip-flop's input, read after every
        // assignment to it above.
        self.cursor_entry_next.next = self.entry.d.val();
        self.b_entry.next = self.entry.q.val();
        self.b_entry_next.next = self.entry.d.val();
        if self.move_reads_b.q.val() & ((self.state.q.val() == ExecState::MoveStream) | (self.state.q.val() == ExecState::MoveDrain)) {
            self.b_entry.next = self.move_from_entry.val();
        }
        if self.b_follows_mover.q.val() {
            self.b_entry_next.next = self.move_from_entry_next.val();
        }
        self.move_advance_reg.d.next = (self.state.d.val() == ExecState::MoveStream) | (self.state.d.val() == ExecState::MoveTo);
        self.b_follows_mover.d.next = self.move_reads_b.d.val()
            & ((self.state.d.val() == ExecState::MoveCheck) | (self.state.d.val() == ExecState::MoveStream) | (self.state.d.val() == ExecState::MoveDrain));
        self.cursor_lane_next.next = self.lane.d.val();
        self.write_a_next.next = self.write_a_reg.d.val();
        self.write_b_next.next = self.write_b_reg.d.val();
    }
}
