//! The whole NPU: the command link over a UART, the on-chip memories, the
//! GEMM engine, the requantizer and the performance counters.
//!
//! Three processes, each a state machine in its own block, meet here:
//!
//! - the **frame receiver** ([`FrameReceiver`]) hands over one checked
//!   request at a time: its status, header fields, length and a read port
//!   on its payload, and takes it back (`answered`) once the answer is out;
//! - the **executor** (this block's `update`) decodes the request, checks it
//!   (length, bank, ranges: a bad request changes nothing), runs it (copying
//!   WRITE data from the frame buffer, starting the engine or the
//!   requantizer), and serves the answer's data byte by byte from the INFO
//!   record, the counters or the memories;
//! - the **response sender** ([`ResponseSender`]) frames the answer (SYNC,
//!   length, status, opcode, data, CRC) and asks for each data byte.
//!
//! The wire format is `npu_spec::protocol`'s: field offsets, lengths, limits
//! and codes come from there (opcode and bank numbers appear as literal match
//! patterns, which rust-hdl requires; compile-time assertions tie them to the
//! protocol's definitions).

use crate::counter_bank::CounterBank;
use crate::frame_receiver::{FrameReceiver, FrameState, HEADER_BYTES};
use crate::gemm_engine::GemmEngine;
use crate::ram::Ram;
use crate::requant_unit::RequantUnit;
use crate::response_sender::ResponseSender;
use crate::scratchpad::Scratchpad;
use crate::word_ram::WordRam;
use crate::vecs::{dffs, k, signals};
use npu_spec::protocol::{
    offset, record_len, request_offset, Bank, Info, Opcode, Status, COUNTER_FIELDS,
    INFO_FIELDS, MAX_REQUEST_PAYLOAD, RESPONSE_HEAD, STATUS_FIELDS, WRITE_FIELDS,
};
use npu_spec::NpuConfig;
use rust_hdl::prelude::*;

// The BIAS bank's range check compares with the literal 3.
const _: () = assert!(npu_spec::protocol::BIAS_ENTRIES == 3);

// The literal patterns below are these protocol numbers.
const _: () = assert!(Opcode::Info as u8 == 1 && Opcode::Write as u8 == 2 && Opcode::Read as u8 == 3);
const _: () = assert!(Opcode::Gemm as u8 == 4 && Opcode::Requant as u8 == 5 && Opcode::Status as u8 == 6);
const _: () = assert!(Opcode::Counters as u8 == 7 && Opcode::ClearCounters as u8 == 8);
const _: () = assert!(Bank::A as u8 == 0 && Bank::B as u8 == 1 && Bank::Acc as u8 == 2);
const _: () = assert!(Bank::Bias as u8 == 3 && Bank::Out as u8 == 4);
const _: () = assert!(RESPONSE_HEAD == 2);

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum ExecState {
    Idle,
    Decode,
    Dispatch,
    Size,
    SizeStep,
    Range,
    Copy,
    CopyData,
    Gemm,
    Requant,
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
pub struct Npu {
    pub clock: Signal<In, Clock>,
    /// Serial line from the host.
    pub uart_rx: Signal<In, Bit>,
    /// Serial line to the host.
    pub uart_tx: Signal<Out, Bit>,
    /// High while a command executes and its answer goes out.
    pub busy: Signal<Out, Bit>,
    /// The frame receiver: serial line in, one checked request out.
    receiver: FrameReceiver,
    /// The response sender: one answer frame out on the serial line.
    sender: ResponseSender,
    // The banks.
    a_mem: Scratchpad,
    b_mem: Scratchpad,
    acc_mem: Vec<WordRam>,
    out_mem: Vec<Ram<Bits<8>>>,
    /// The BIAS bank: entry e, lane j at word `e * bias_depth + j` (bias,
    /// multiplier, shift), addressed by WRITE and READ like any bank, and by
    /// the requantizer, which asks for each entry when its step needs it.
    bias_mem: WordRam,
    engine: GemmEngine,
    requant: RequantUnit,
    // Limits and records from the config and the protocol.
    /// (Padded with zeros to the width its byte index can reach: its byte
    /// is read every cycle.)
    info: Constant<Bits<256>>,
    rows: Constant<Bits<8>>,
    cols: Constant<Bits<8>>,
    cols_x4: Constant<Bits<8>>,
    rows_less_one: Constant<Bits<8>>,
    /// The bits a row's or a column's lane number can use (a lane index is
    /// below the count, so the lane tests need compare only these bits).
    row_mask: Constant<Bits<8>>,
    /// log2 of the BIAS bank's words per entry.
    bias_lane_bits: Constant<Bits<16>>,
    col_mask: Constant<Bits<8>>,
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
    last_opcode: Constant<Bits<8>>,
    macs_mask: Constant<Bits<16>>,
    last_bank: Constant<Bits<8>>,
    info_len: Constant<Bits<16>>,
    status_len: Constant<Bits<16>>,
    counters_len: Constant<Bits<16>>,
    /// WRITE's bytes before its data; READ's, GEMM's and REQUANT's lengths.
    write_head: Constant<Bits<16>>,
    write_head_plus_one: Constant<Bits<16>>,
    read_len: Constant<Bits<16>>,
    gemm_len: Constant<Bits<16>>,
    requant_len: Constant<Bits<16>>,
    /// Bit offsets of the request fields in `head`.
    at_entry: Constant<Bits<16>>,
    at_count: Constant<Bits<16>>,
    at_g_a_entry: Constant<Bits<16>>,
    at_g_b_entry: Constant<Bits<16>>,
    at_g_acc_entry: Constant<Bits<16>>,
    at_g_m: Constant<Bits<16>>,
    at_g_n: Constant<Bits<16>>,
    at_g_k: Constant<Bits<16>>,
    at_g_flags: Constant<Bits<16>>,
    at_g_tiles: Constant<Bits<16>>,
    at_g_a_step: Constant<Bits<16>>,
    at_g_b_step: Constant<Bits<16>>,
    at_g_acc_step: Constant<Bits<16>>,
    at_r_src: Constant<Bits<16>>,
    at_r_dst: Constant<Bits<16>>,
    at_r_count: Constant<Bits<16>>,
    at_r_zero_point: Constant<Bits<16>>,
    at_r_min: Constant<Bits<16>>,
    at_r_max: Constant<Bits<16>>,
    at_r_flags: Constant<Bits<16>>,
    // Executor.
    exec: DFF<ExecState>,
    /// Start the GEMM engine, the requantizer (one cycle, after Dispatch).
    start_engine: DFF<Bit>,
    /// Clear the counters (one cycle, after Dispatch).
    clear_counters: DFF<Bit>,
    start_requant: DFF<Bit>,
    status: DFF<Bits<8>>,
    /// Decode's tests, made a cycle earlier: the length suits the opcode,
    /// the bank exists, a READ's count is zero.
    length_ok: DFF<Bit>,
    /// The request's length against each opcode's, registered every cycle
    /// (rx_len holds from the length bytes until the answer is out): 1, more
    /// than WRITE's head, READ's, GEMM's, REQUANT's.
    len_one: DFF<Bit>,
    len_write: DFF<Bit>,
    len_read: DFF<Bit>,
    len_gemm: DFF<Bit>,
    len_requant: DFF<Bit>,
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
    // The byte cursor over a bank, for WRITE and READ.
    cursor_entry: DFF<Bits<16>>,
    cursor_lane: DFF<Bits<8>>,
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
    bank_a: DFF<Bit>,
    bank_b: DFF<Bit>,
    bank_acc: DFF<Bit>,
    bank_bias: DFF<Bit>,
    /// end_entry is past each bank's last entry (A, B, ACC and OUT, bias),
    /// registered every cycle; past_end picks the request's bank's a cycle
    /// later (Range comes at least two cycles after end_entry settles).
    past_a: DFF<Bit>,
    past_b: DFF<Bit>,
    past_acc: DFF<Bit>,
    past_bias: DFF<Bit>,
    past_end: DFF<Bit>,
    /// WRITE: the memory lane the byte arriving in CopyData completes.
    write_a: DFF<Bit>,
    write_b: DFF<Bit>,
    /// WRITE: the byte of the bias word the byte arriving in CopyData goes
    /// to (the memory's byte enables, from flip-flops). ACC and OUT hold
    /// results, which the link only reads: the engine and the requantizer
    /// are their only writers, and no multiplexer sits on their write ports.
    write_bias: DFF<Bits<4>>,
    /// OUT's write port, registered: the requantizer's writes land a cycle
    /// late (nothing reads OUT that soon), and the memories' inputs come
    /// from flip-flops, not from a multiplexer on the requantizer's state.
    out_write_address: DFF<Bits<16>>,
    out_write_data: DFF<Bits<8>>,
    /// The odd lanes' byte: the pipelined requantizer writes a lane pair
    /// (one register with that unit, none with the serial one).
    out_write_data_odd: Vec<DFF<Bits<8>>>,
    out_write_lane: Vec<DFF<Bit>>,
    copy_index: DFF<Bits<11>>,
    /// Frame bytes still to copy after this one.
    copy_left: DFF<Bits<11>>,
    // The answer's data source.
    /// The answer's data byte the cursor is at (records are indexed by it).
    tx_index: DFF<Bits<6>>,
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
    /// The snapshot's byte index (tx_index's low bits; STATUS's two counts
    /// take four bytes each).
    snapshot_byte: Signal<Local, Bits<3>>,
    /// The snapshot, widened so that every byte index reads within it.
    snapshot_wide: Signal<Local, Bits<64>>,
    /// The data byte the sender asked for, and that it is there (TxPick).
    tx_data: DFF<Bits<8>>,
    tx_data_valid: DFF<Bit>,
    /// Start the sender (one cycle, after Reply).
    start_reply: DFF<Bit>,
    /// The COUNTERS record's counters, in its order, as counters 0..=7 (each
    /// 40 bits or more: over 6 hours of cycles at 48 MHz; the record's bytes
    /// above read 0), and the STATUS record's frame counts as 8 and 9.
    counters: CounterBank,
    /// The STATUS record's last error (its frame counts are the bank's
    /// counters 8 and 9).
    last_error: DFF<Bits<8>>,
    // Combinational helpers.
    field_entry: Signal<Local, Bits<16>>,
    field_count: Signal<Local, Bits<16>>,
    /// The cursor's lane of the bank: byte lanes in lane_u8, word lanes in lane_u32.
    lane_u8: Signal<Local, Bits<8>>,
    lane_u32: Signal<Local, Bits<32>>,
    /// The BIAS entry the bank's read port shows (0 while requantizing).
    bias_entry: Signal<Local, Bits<2>>,
    /// The ACC read address of the requantizer (while busy) or else the
    /// cursor, a cycle ago (each holds its address a cycle before it reads:
    /// see Requantizer::acc_address and TxSettle), so that only the engine's
    /// address is a multiplexer away from the memories.
    acc_read_other: DFF<Bits<16>>,
    /// The lane the requantizer or the cursor selected a cycle ago (ORed:
    /// each shows lane 0 while the other works), and that lane's accumulator.
    lane_select: DFF<Bits<8>>,
    /// The requantizer's BIAS entry, a register away like its lane.
    param_entry: DFF<Bits<2>>,
    acc_lane: Signal<Local, Bits<32>>,
    /// The lane beside it (the pipelined requantizer's second slot; as
    /// `out_write_data_odd`, one or none).
    acc_lane_odd: Vec<Signal<Local, Bits<32>>>,
    data_byte: Signal<Local, Bits<8>>,
    /// WRITE: the frame byte in all four bytes of a word, and the cursor's
    /// byte as a write enable (ACC and bias take a byte at a time).
    frame_word: Signal<Local, Bits<32>>,
    byte_lanes: Signal<Local, Bits<4>>,
    /// The cursor is at its lane's last byte; at its entry's last byte.
    byte_last: DFF<Bit>,
    cursor_last: DFF<Bit>,
}

/// RAMs that are never read and written in the same cycle: the executor
/// writes them only while nothing else reads them, and ignores what its
/// cursor reads during a write.
fn rams<T: Synth>(n: usize, depth: usize) -> Vec<Ram<T>> {
    (0..n).map(|_| Ram::without_collisions(depth)).collect()
}

impl Npu {
    pub fn new(config: &NpuConfig) -> Self {
        config.validate().expect("a checked config");
        let (rows, cols) = (config.array.rows, config.array.cols);
        let m = &config.memory;
        let requant_pairs = crate::requant_unit::odd_lane_paths(config);
        let cpb = config.clocks_per_bit();
        let info_bytes = Info::of(config).encode();
        assert!(info_bytes.len() * 8 <= 256);
        let mut info = Bits::<256>::default();
        for (i, b) in info_bytes.iter().enumerate() {
            info = info | (bit_cast::<256, 8>(u64::from(*b).into()) << (8 * i as u64));
        }
        assert_eq!(record_len(COUNTER_FIELDS), 64);
        assert_eq!(record_len(STATUS_FIELDS), 9);
        assert_eq!(offset(STATUS_FIELDS, "frames_bad"), 4);
        assert_eq!(request_offset(Opcode::Write, "bank"), request_offset(Opcode::Read, "bank"));
        assert_eq!(request_offset(Opcode::Write, "entry"), request_offset(Opcode::Read, "entry"));
        assert!(Opcode::Gemm.request_len() <= HEADER_BYTES && Opcode::Requant.request_len() <= HEADER_BYTES);
        // Frame indices are 11 bits, record indices 6.
        assert!(MAX_REQUEST_PAYLOAD < 1 << 11 && record_len(INFO_FIELDS) <= 32);
        Self {
            clock: Default::default(),
            uart_rx: Default::default(),
            uart_tx: Default::default(),
            busy: Default::default(),
            receiver: FrameReceiver::new(cpb),
            sender: ResponseSender::new(cpb),
            a_mem: Scratchpad::new(rows, m.a_depth),
            b_mem: Scratchpad::new(cols, m.b_depth),
            // The engine reads ahead in ACC while it writes sums back, but
            // never the entry it writes in that cycle (see GemmEngine:
            // steps are unsigned and range-checked, and tiles are spaced at
            // least 3 cycles apart), so no bypass logic is needed.
            acc_mem: (0..cols).map(|_| WordRam::new(m.acc_depth)).collect(),
            out_mem: rams(cols, m.acc_depth),
            // Written only while nothing reads it.
            bias_mem: WordRam::new(4 * crate::requantizer::bias_depth(cols)),
            engine: GemmEngine::new(config),
            requant: RequantUnit::new(config),
            info: Constant::new(info),
            rows: k(rows as u64),
            cols: k(cols as u64),
            cols_x4: k(4 * cols as u64),
            rows_less_one: k(rows as u64 - 1),
            row_mask: k(rows.next_power_of_two() as u64 - 1),
            bias_lane_bits: k(crate::requantizer::bias_depth(cols).trailing_zeros() as u64),
            col_mask: k(cols.next_power_of_two() as u64 - 1),
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
            last_opcode: k(Opcode::ClearCounters as u64),
            macs_mask: k(((rows * cols + 1).next_power_of_two() - 1) as u64),
            last_bank: k(Bank::Out as u64),
            info_len: k(record_len(INFO_FIELDS) as u64),
            status_len: k(record_len(STATUS_FIELDS) as u64),
            counters_len: k(record_len(COUNTER_FIELDS) as u64),
            write_head: k((1 + record_len(WRITE_FIELDS)) as u64),
            write_head_plus_one: k((2 + record_len(WRITE_FIELDS)) as u64),
            read_len: k(Opcode::Read.request_len() as u64),
            gemm_len: k(Opcode::Gemm.request_len() as u64),
            requant_len: k(Opcode::Requant.request_len() as u64),
            at_entry: k(8 * request_offset(Opcode::Read, "entry") as u64),
            at_count: k(8 * request_offset(Opcode::Read, "count") as u64),
            at_g_a_entry: k(8 * request_offset(Opcode::Gemm, "a_entry") as u64),
            at_g_b_entry: k(8 * request_offset(Opcode::Gemm, "b_entry") as u64),
            at_g_acc_entry: k(8 * request_offset(Opcode::Gemm, "acc_entry") as u64),
            at_g_m: k(8 * request_offset(Opcode::Gemm, "m") as u64),
            at_g_n: k(8 * request_offset(Opcode::Gemm, "n") as u64),
            at_g_k: k(8 * request_offset(Opcode::Gemm, "k") as u64),
            at_g_flags: k(8 * request_offset(Opcode::Gemm, "flags") as u64),
            at_g_tiles: k(8 * request_offset(Opcode::Gemm, "tiles") as u64),
            at_g_a_step: k(8 * request_offset(Opcode::Gemm, "a_step") as u64),
            at_g_b_step: k(8 * request_offset(Opcode::Gemm, "b_step") as u64),
            at_g_acc_step: k(8 * request_offset(Opcode::Gemm, "acc_step") as u64),
            at_r_src: k(8 * request_offset(Opcode::Requant, "src") as u64),
            at_r_dst: k(8 * request_offset(Opcode::Requant, "dst") as u64),
            at_r_count: k(8 * request_offset(Opcode::Requant, "count") as u64),
            at_r_zero_point: k(8 * request_offset(Opcode::Requant, "zero_point") as u64),
            at_r_min: k(8 * request_offset(Opcode::Requant, "min") as u64),
            at_r_max: k(8 * request_offset(Opcode::Requant, "max") as u64),
            at_r_flags: k(8 * request_offset(Opcode::Requant, "flags") as u64),
            exec: Default::default(),
            start_engine: Default::default(),
            clear_counters: Default::default(),
            start_requant: Default::default(),
            status: Default::default(),
            length_ok: Default::default(),
            len_one: Default::default(),
            len_write: Default::default(),
            len_read: Default::default(),
            len_gemm: Default::default(),
            len_requant: Default::default(),
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
            cursor_entry: Default::default(),
            cursor_lane: Default::default(),
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
            bank_a: Default::default(),
            bank_b: Default::default(),
            bank_acc: Default::default(),
            bank_bias: Default::default(),
            past_a: Default::default(),
            past_b: Default::default(),
            past_acc: Default::default(),
            past_bias: Default::default(),
            past_end: Default::default(),
            write_a: Default::default(),
            write_b: Default::default(),
            write_bias: Default::default(),
            out_write_address: Default::default(),
            out_write_data: Default::default(),
            out_write_data_odd: dffs(requant_pairs),
            out_write_lane: dffs(cols),
            copy_index: Default::default(),
            copy_left: Default::default(),
            tx_index: Default::default(),
            tx_data: Default::default(),
            tx_data_valid: Default::default(),
            start_reply: Default::default(),
            counters: CounterBank::new(rows * cols),
            last_error: Default::default(),
            field_entry: Default::default(),
            field_count: Default::default(),
            lane_u8: Default::default(),
            lane_u32: Default::default(),
            bias_entry: Default::default(),
            lane_select: Default::default(),
            param_entry: Default::default(),
            acc_read_other: Default::default(),
            acc_lane: Default::default(),
            acc_lane_odd: signals(requant_pairs),
            data_byte: Default::default(),
            tx_word: Default::default(),
            tx_byte_lane: Default::default(),
            record_byte: Default::default(),
            is_record: Default::default(),
            snapshot_byte: Default::default(),
            snapshot_wide: Default::default(),
            frame_word: Default::default(),
            byte_lanes: Default::default(),
            byte_last: Default::default(),
            cursor_last: Default::default(),
        }
    }

    pub fn rows(&self) -> usize {
        self.a_mem.lanes()
    }

    pub fn cols(&self) -> usize {
        self.b_mem.lanes()
    }

    /// The lanes 1, 3, 5, ... there are.
    fn odd_lanes(&self) -> usize {
        self.cols() / 2
    }

    /// The receiver's and the executor's states, for tests.
    pub fn states(&self) -> (FrameState, ExecState) {
        (self.receiver.state(), self.exec.q.val())
    }

    /// The BIAS memory's word of an entry's lane (entries are bias_depth
    /// words apart, as the hardware addresses them).
    fn bias_word(&self, entry: usize, lane: usize) -> usize {
        entry * crate::requantizer::bias_depth(self.cols()) + lane
    }

    /// Sets a bank's lane in the simulated memories, for tests: ACC and OUT,
    /// which the link only reads, get test values this way.
    pub fn poke(&mut self, bank: Bank, entry: usize, lane: usize, value: u32) {
        match bank {
            Bank::A => self.a_mem.poke(lane, entry, u64::from(value as u8).into()),
            Bank::B => self.b_mem.poke(lane, entry, u64::from(value as u8).into()),
            Bank::Acc => self.acc_mem[lane].poke(entry, u64::from(value).into()),
            Bank::Bias => self.bias_mem.poke(self.bias_word(entry, lane), u64::from(value).into()),
            Bank::Out => self.out_mem[lane].poke(entry, u64::from(value as u8).into()),
        }
    }

    /// The simulated contents of a bank's lane, for tests.
    pub fn peek(&self, bank: Bank, entry: usize, lane: usize) -> u32 {
        match bank {
            Bank::A => self.a_mem.peek(lane, entry).to_u32(),
            Bank::B => self.b_mem.peek(lane, entry).to_u32(),
            Bank::Acc => self.acc_mem[lane].peek(entry).to_u32(),
            Bank::Bias => self.bias_mem.peek(self.bias_word(entry, lane)).to_u32(),
            Bank::Out => self.out_mem[lane].peek(entry).to_u32(),
        }
    }
}

impl Logic for Npu {
    // (Dispatch's arms test `refused` inside the arm: #[hdl_gen] takes no
    // match guards.)
    #[allow(clippy::collapsible_match)]
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, byte_last, cursor_last, lane_select, param_entry, acc_read_other, exec, start_engine, clear_counters, start_requant, status, length_ok, len_one, len_write, len_read, len_gemm, len_requant, frame_ok, op_index, bank_ok, count_zero, refused, refusal,
            opcode, data_len, bank, last_lane, last_byte, entry_bytes, cursor_entry, cursor_lane, cursor_byte,
            size_bytes, size_entries, end_entry, too_long, size_eq, size_gt, size_long, size_count, is_write, is_info, is_status, is_counters, bank_a, bank_b, bank_acc, bank_bias, past_a, past_b, past_acc, past_bias, past_end, tx_byte_lane, record_byte, is_record, write_a, write_b, write_bias, copy_index, copy_left, tx_index, tx_word, tx_data, tx_data_valid, start_reply, last_error, out_write_address, out_write_data
        );
        // Clocks and fixed wiring.
        self.receiver.clock.next = self.clock.val();
        self.sender.clock.next = self.clock.val();
        self.engine.clock.next = self.clock.val();
        self.requant.clock.next = self.clock.val();
        self.receiver.rx.next = self.uart_rx.val();
        self.receiver.answered.next = false;
        self.uart_tx.next = self.sender.tx.val();
        // Busy until the answer's last byte is on the line.
        self.busy.next = (self.exec.q.val() != ExecState::Idle) | self.sender.busy.val();
        // The answer: its head from the executor's registers, its data
        // served byte by byte (TxFetch to TxPick).
        self.sender.start.next = self.start_reply.q.val();
        self.start_reply.d.next = false;
        self.sender.status.next = self.status.q.val();
        self.sender.opcode.next = self.opcode.q.val();
        self.sender.length.next = self.data_len.q.val();
        self.sender.data.next = self.tx_data.q.val();
        self.sender.data_valid.next = self.tx_data_valid.q.val();
        self.tx_data_valid.d.next = false;

        // ---- Request fields, from the header register.
        self.field_entry.next = self.receiver.head.val().get_bits::<16>(self.at_entry.val().index());
        self.field_count.next = self.receiver.head.val().get_bits::<16>(self.at_count.val().index());
        self.engine.a_entry.next = self.receiver.head.val().get_bits::<16>(self.at_g_a_entry.val().index());
        self.engine.b_entry.next = self.receiver.head.val().get_bits::<16>(self.at_g_b_entry.val().index());
        self.engine.acc_entry.next = self.receiver.head.val().get_bits::<16>(self.at_g_acc_entry.val().index());
        self.engine.m.next = self.receiver.head.val().get_bits::<8>(self.at_g_m.val().index());
        self.engine.n.next = self.receiver.head.val().get_bits::<8>(self.at_g_n.val().index());
        self.engine.k.next = self.receiver.head.val().get_bits::<16>(self.at_g_k.val().index());
        self.engine.accumulate.next = self.receiver.head.val().get_bit(self.at_g_flags.val().index());
        self.engine.tiles.next = self.receiver.head.val().get_bits::<16>(self.at_g_tiles.val().index());
        self.engine.a_step.next = self.receiver.head.val().get_bits::<16>(self.at_g_a_step.val().index());
        self.engine.b_step.next = self.receiver.head.val().get_bits::<16>(self.at_g_b_step.val().index());
        self.engine.acc_step.next = self.receiver.head.val().get_bits::<16>(self.at_g_acc_step.val().index());
        self.requant.src.next = self.receiver.head.val().get_bits::<16>(self.at_r_src.val().index());
        self.requant.dst.next = self.receiver.head.val().get_bits::<16>(self.at_r_dst.val().index());
        self.requant.count.next = self.receiver.head.val().get_bits::<16>(self.at_r_count.val().index());
        self.requant.zero_point.next = self.receiver.head.val().get_bits::<8>(self.at_r_zero_point.val().index());
        self.requant.min.next = self.receiver.head.val().get_bits::<8>(self.at_r_min.val().index());
        self.requant.max.next = self.receiver.head.val().get_bits::<8>(self.at_r_max.val().index());
        self.requant.use_bias.next = self.receiver.head.val().get_bit(self.at_r_flags.val().index());
        // Starts are registered: the decode's tests end at a flip-flop, and
        // each unit starts in the executor's first Gemm or Requant cycle.
        self.engine.start.next = self.start_engine.q.val();
        self.requant.start.next = self.start_requant.q.val();
        self.start_engine.d.next = false;
        self.start_requant.d.next = false;

        // WRITE: the frame byte, written into its byte of an ACC or bias word.
        self.frame_word.next = bit_cast::<32, 8>(self.receiver.read_data.val())
            | (bit_cast::<32, 8>(self.receiver.read_data.val()) << 8)
            | (bit_cast::<32, 8>(self.receiver.read_data.val()) << 16)
            | (bit_cast::<32, 8>(self.receiver.read_data.val()) << 24);
        self.byte_lanes.next = bits::<4>(1) << self.cursor_byte.q.val();
        // ---- Memories: the engine and the requantizer own their ports while
        // busy; otherwise the executor's cursor addresses every lane. A
        // scratchpad has a single address (the executor writes only while
        // the engine is idle).
        self.a_mem.clock.next = self.clock.val();
        self.b_mem.clock.next = self.clock.val();
        self.a_mem.address.next = self.cursor_entry.q.val();
        self.b_mem.address.next = self.cursor_entry.q.val();
        if self.engine.busy.val() {
            self.a_mem.address.next = self.engine.a_address.val();
            self.b_mem.address.next = self.engine.b_address.val();
        }
        self.a_mem.write_data.next = self.receiver.read_data.val();
        self.b_mem.write_data.next = self.receiver.read_data.val();
        // (Masked to the bits a lane number uses: each lane's write test
        // is then a LUT, on the way to the SPRAMs' far-off write enables.)
        self.a_mem.write_lane.next = self.cursor_lane.q.val() & self.row_mask.val();
        self.b_mem.write_lane.next = self.cursor_lane.q.val() & self.col_mask.val();
        // The executor writes only while the engine and the requantizer are
        // idle, so its write flags (high in CopyData alone) simply OR in.
        self.a_mem.write_enable.next = self.write_a.q.val();
        self.b_mem.write_enable.next = self.write_b.q.val();
        self.write_a.d.next = false;
        self.write_b.d.next = false;
        self.write_bias.d.next = 0.into();
        for i in 0..self.rows() {
            self.engine.a_data[i].next = self.a_mem.read_data[i].val();
        }
        for j in 0..self.cols() {
            self.engine.b_data[j].next = self.b_mem.read_data[j].val();

            self.acc_mem[j].clock.next = self.clock.val();
            // (The engine shows acc_read_other while idle.)
            self.acc_mem[j].read_address.next = self.engine.acc_read_address.val();
            self.acc_mem[j].write_address.next = self.engine.acc_write_address.val();
            self.acc_mem[j].write_data.next = self.engine.acc_write_data[j].val();
            self.acc_mem[j].write_bytes.next = 0.into();
            if self.engine.acc_write_enable[j].val() {
                self.acc_mem[j].write_bytes.next = 0xF.into();
            }
            self.engine.acc_read_data[j].next = self.acc_mem[j].read_data.val();

            self.out_mem[j].clock.next = self.clock.val();
            self.out_mem[j].read_address.next = self.cursor_entry.q.val();
            self.out_mem[j].write_address.next = self.out_write_address.q.val();
            self.out_mem[j].write_data.next = self.out_write_data.q.val();
            self.out_mem[j].write_enable.next = self.out_write_lane[j].q.val();
            self.out_write_lane[j].clock.next = self.clock.val();
            self.out_write_lane[j].d.next = self.requant.out_write_enable[j].val();
        }
        self.out_write_address.d.next = self.requant.out_address.val();
        self.out_write_data.d.next = self.requant.out_data.val();
        // The pipelined requantizer's odd lanes take their own byte.
        for u in 0..self.out_write_data_odd.len() {
            self.out_write_data_odd[u].clock.next = self.clock.val();
            self.out_write_data_odd[u].d.next = self.requant.out_data_odd[u].val();
            for p in 0..self.odd_lanes() {
                self.out_mem[2 * p + 1].write_data.next = self.out_write_data_odd[u].q.val();
            }
        }
        // One lane multiplexer for the accumulators and one bias read port,
        // shared by the requantizer and the executor's cursor. Each shows
        // lane 0 while the other works (the requantizer ends on lane 0, the
        // cursor starts there), so an OR selects without waiting for `busy`;
        // registered, off the memories' paths (each user shows its lane a
        // cycle ahead: see Requantizer::lane_select and TxSettle).
        self.lane_select.d.next = self.cursor_lane.q.val() | self.requant.lane_select.val();
        self.engine.acc_read_idle.next = self.acc_read_other.q.val();
        self.acc_read_other.d.next = self.cursor_entry.q.val();
        if self.requant.busy.val() {
            self.acc_read_other.d.next = self.requant.acc_address.val();
        }
        self.acc_lane.next = 0.into();
        for j in 0..self.cols() {
            if (self.lane_select.q.val() & self.col_mask.val()).index() == j {
                self.acc_lane.next = self.acc_mem[j].read_data.val();
            }
        }
        self.requant.acc_data.next = self.acc_lane.val();
        for u in 0..self.acc_lane_odd.len() {
            self.acc_lane_odd[u].next = 0.into();
            for j in 0..self.cols() {
                if (self.lane_select.q.val() & self.col_mask.val()).index() + 1 == j {
                    self.acc_lane_odd[u].next = self.acc_mem[j].read_data.val();
                }
            }
            self.requant.acc_data_odd[u].next = self.acc_lane_odd[u].val();
        }
        // The entry's bits sit above the lane's (bias_depth is a power of
        // two); while requantizing, the requantizer picks the entry.
        self.param_entry.d.next = self.requant.param_entry.val();
        self.bias_entry.next = self.cursor_entry.q.val().get_bits::<2>(0);
        if self.requant.busy.val() {
            self.bias_entry.next = self.param_entry.q.val();
        }
        self.bias_mem.clock.next = self.clock.val();
        self.bias_mem.read_address.next = bit_cast::<16, 8>(self.lane_select.q.val()) | (bit_cast::<16, 2>(self.bias_entry.val()) << self.bias_lane_bits.val());
        self.bias_mem.write_address.next = bit_cast::<16, 8>(self.cursor_lane.q.val()) | (bit_cast::<16, 2>(self.cursor_entry.q.val().get_bits::<2>(0)) << self.bias_lane_bits.val());
        self.bias_mem.write_data.next = self.frame_word.val();
        self.bias_mem.write_bytes.next = self.write_bias.q.val();
        self.requant.param.next = self.bias_mem.read_data.val();

        // ---- Counters, in the COUNTERS record's order.
        self.counters.clock.next = self.clock.val();
        self.counters.increment[0].next = 1.into();
        self.counters.increment[1].next = bit_cast::<17, 1>((self.exec.q.val() != ExecState::Idle).into());
        self.counters.increment[2].next = bit_cast::<17, 1>(self.engine.step.val().into());
        self.counters.increment[3].next = 0.into();
        if self.engine.step.val() {
            // (Masked to the widest m * n, so that synthesis sees how narrow it is.)
            self.counters.increment[3].next = bit_cast::<17, 16>(self.engine.macs_per_step.val() & self.macs_mask.val());
        }
        self.counters.increment[4].next = bit_cast::<17, 1>(self.engine.stall.val().into());
        self.counters.increment[5].next = bit_cast::<17, 1>(self.receiver.byte_valid.val().into());
        self.counters.increment[6].next =
            bit_cast::<17, 1>(self.sender.byte_sent.val().into());
        self.counters.increment[7].next = bit_cast::<17, 1>(self.engine.tile_done.val().into());
        // The STATUS record's frame counts: answered OK, answered with an error.
        self.counters.increment[8].next = 0.into();
        self.counters.increment[9].next = 0.into();
        if self.exec.q.val() == ExecState::Done {
            if self.status.q.val() == self.st_ok.val() {
                self.counters.increment[8].next = 1.into();
            } else {
                self.counters.increment[9].next = 1.into();
            }
        }
        for c in 10..crate::counter_bank::COUNTERS {
            self.counters.increment[c].next = 0.into();
        }
        // CLEAR_COUNTERS, a cycle after Dispatch (from a flip-flop: the clear
        // reaches every low part and pending bit).
        self.counters.clear.next = self.clear_counters.q.val();
        self.clear_counters.d.next = false;
        // The sender asks for each counter as its first byte is fetched.
        self.counters.snapshot_request.next = false;
        // (COUNTERS: counter tx_index / 8; STATUS: 8 for bytes 0..=3, 9 for 4..=7.)
        self.counters.snapshot_counter.next = bit_cast::<4, 3>(self.tx_index.q.val().get_bits::<3>(3));
        if self.is_status.q.val() {
            self.counters.snapshot_counter.next = bits::<4>(8) | bit_cast::<4, 1>(self.tx_index.q.val().get_bit(2).into());
        }

        // ---- Data sources for answers and copies.
        // (Bank flags rather than the bank number: each lane multiplexer is
        // a few LUTs after the memory's output.)
        self.lane_u8.next = 0.into();
        for j in 0..self.cols() {
            if (self.cursor_lane.q.val() & self.col_mask.val()).index() == j {
                if self.bank_b.q.val() {
                    self.lane_u8.next = self.b_mem.read_data[j].val();
                } else {
                    self.lane_u8.next = self.out_mem[j].read_data.val();
                }
            }
        }
        if self.bank_a.q.val() {
            self.lane_u8.next = 0.into();
            for i in 0..self.rows() {
                if (self.cursor_lane.q.val() & self.row_mask.val()).index() == i {
                    self.lane_u8.next = self.a_mem.read_data[i].val();
                }
            }
        }
        self.lane_u32.next = self.bias_mem.read_data.val();
        if self.bank_acc.q.val() {
            self.lane_u32.next = self.acc_lane.val();
        }
        // The record's byte at tx_index, registered every cycle. COUNTERS:
        // the snapshot's 6 bytes, then zeros; STATUS: bytes 0..=7 from the
        // frame counts' snapshots, byte 8 the last error.
        self.snapshot_byte.next = self.tx_index.q.val().get_bits::<3>(0);
        if self.is_status.q.val() {
            self.snapshot_byte.next = self.tx_index.q.val().get_bits::<3>(0) & 3;
        }
        self.snapshot_wide.next = bit_cast::<64, 48>(self.counters.snapshot.val());
        self.record_byte.d.next = self.snapshot_wide.val().get_bits::<8>(self.snapshot_byte.val().index() * 8);
        if self.is_counters.q.val() & (self.tx_index.q.val().get_bits::<3>(0).index() >= 6) {
            self.record_byte.d.next = 0.into();
        }
        if self.is_status.q.val() & self.tx_index.q.val().get_bit(3) {
            self.record_byte.d.next = self.last_error.q.val();
        }
        if self.is_info.q.val() {
            self.record_byte.d.next = self.info.val().get_bits::<8>(self.tx_index.q.val().get_bits::<5>(0).index() * 8);
        }
        // The answer's next data byte (selected in TxPick, when the memory's
        // lane is in tx_word or tx_byte_lane).
        self.data_byte.next = self.tx_byte_lane.q.val();
        if self.bank_acc.q.val() | self.bank_bias.q.val() {
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
        self.past_bias.d.next = self.end_entry.q.val() > 3;
        self.past_end.d.next = self.past_acc.q.val();
        if self.bank_a.q.val() {
            self.past_end.d.next = self.past_a.q.val();
        }
        if self.bank_b.q.val() {
            self.past_end.d.next = self.past_b.q.val();
        }
        if self.bank_bias.q.val() {
            self.past_end.d.next = self.past_bias.q.val();
        }
        self.cursor_last.d.next =
            (self.cursor_byte.q.val() == self.last_byte.q.val()) & (self.cursor_lane.q.val() == self.last_lane.q.val());
        self.receiver.read_address.next = self.copy_index.q.val();

        // ---- Executor and sender.
        // Size's tests, registered every cycle (no enable: SizeStep reads
        // them a cycle after Size, in which their inputs hold).
        self.size_eq.d.next = self.size_bytes.q.val() == bit_cast::<17, 16>(self.data_len.q.val());
        self.size_gt.d.next = self.size_bytes.q.val() > bit_cast::<17, 16>(self.data_len.q.val());
        // Past 0xFFFD, the longest answer's data, as plain logic.
        self.size_long.d.next = self.size_bytes.q.val().get_bit(16) | (self.size_bytes.q.val().get_bits::<15>(1) == 0x7FFF);
        self.size_count.d.next = self.size_entries.q.val() == self.field_count.val();
        self.len_one.d.next = self.receiver.length.val() == 1;
        self.len_write.d.next = self.receiver.length.val() > self.write_head.val();
        self.len_read.d.next = self.receiver.length.val() == self.read_len.val();
        self.len_gemm.d.next = self.receiver.length.val() == self.gemm_len.val();
        self.len_requant.d.next = self.receiver.length.val() == self.requant_len.val();
        match self.exec.q.val() {
            ExecState::Idle => {
                // The request's kind and bank as flags, for every later
                // decision (written in every Idle cycle: the enable does not
                // wait for the frame).
                self.is_write.d.next = self.receiver.head.val().get_bits::<8>(0) == self.op_write.val();
                self.is_info.d.next = self.receiver.head.val().get_bits::<8>(0) == self.op_info.val();
                self.is_status.d.next = self.receiver.head.val().get_bits::<8>(0) == self.op_status.val();
                self.is_counters.d.next = self.receiver.head.val().get_bits::<8>(0) == self.op_counters.val();
                self.is_record.d.next = (self.receiver.head.val().get_bits::<8>(0) == self.op_info.val())
                    | (self.receiver.head.val().get_bits::<8>(0) == self.op_status.val())
                    | (self.receiver.head.val().get_bits::<8>(0) == self.op_counters.val());
                self.bank_a.d.next = self.receiver.head.val().get_bits::<8>(8) == 0;
                self.bank_b.d.next = self.receiver.head.val().get_bits::<8>(8) == 1;
                self.bank_acc.d.next = self.receiver.head.val().get_bits::<8>(8) == 2;
                self.bank_bias.d.next = self.receiver.head.val().get_bits::<8>(8) == 3;
                if self.receiver.ready.val() {
                    self.status.d.next = self.receiver.status.val();
                    self.opcode.d.next = self.receiver.head.val().get_bits::<8>(0);
                    self.data_len.d.next = 0.into();
                    self.exec.d.next = ExecState::Decode;
                    // The request's tests, registered for Decode.
                    self.length_ok.d.next = self.len_one.q.val();
                    match self.receiver.head.val().get_bits::<8>(0).index() {
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
                        _ => {}
                    }
                    // (WRITE takes the operand banks A, B and BIAS; READ any.)
                    self.bank_ok.d.next = self.receiver.head.val().get_bits::<8>(8) <= self.last_bank.val();
                    if (self.receiver.head.val().get_bits::<8>(0) == self.op_write.val())
                        & ((self.receiver.head.val().get_bits::<8>(8) == 2) | (self.receiver.head.val().get_bits::<8>(8) == 4))
                    {
                        self.bank_ok.d.next = false;
                    }
                    self.frame_ok.d.next = self.receiver.status.val() == self.st_ok.val();
                    // The opcode in 4 bits for Decode and Dispatch: 0 if unknown.
                    self.op_index.d.next = 0.into();
                    if self.receiver.head.val().get_bits::<8>(0) <= self.last_opcode.val() {
                        self.op_index.d.next = self.receiver.head.val().get_bits::<4>(0);
                    }
                    self.count_zero.d.next = self.field_count.val() == 0;
                }
            }
            ExecState::Decode => {
                self.bank.d.next = self.receiver.head.val().get_bits::<3>(8);
                self.cursor_entry.d.next = self.field_entry.val();
                self.cursor_lane.d.next = 0.into();
                self.cursor_byte.d.next = 0.into();
                self.size_bytes.d.next = 0.into();
                self.size_entries.d.next = 0.into();
                self.too_long.d.next = false;
                self.end_entry.d.next = bit_cast::<17, 16>(self.field_entry.val());
                if !self.is_write.q.val() {
                    self.end_entry.d.next = bit_cast::<17, 16>(self.field_entry.val()) + bit_cast::<17, 16>(self.field_count.val());
                }
                self.copy_index.d.next = bit_cast::<11, 16>(self.write_head.val());
                self.copy_left.d.next = bit_cast::<11, 16>(self.receiver.length.val() - self.write_head_plus_one.val());
                // Every bank's geometry; the bank number is checked below.
                match self.receiver.head.val().get_bits::<8>(8).index() {
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
                    _ => {
                        self.last_lane.d.next = self.cols_less_one.val();
                        self.last_byte.d.next = 0.into();
                        self.entry_bytes.d.next = self.cols.val();
                    }
                }
                // The request's verdict, registered for Dispatch: refused,
                // and with which status (an unknown opcode first, then the
                // length, the bank, a READ of no entries).
                self.exec.d.next = ExecState::Dispatch;
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
                self.exec.d.next = ExecState::Reply;
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
                            self.data_len.d.next = self.receiver.length.val() - self.write_head.val();
                            if !self.refused.q.val() {
                                self.exec.d.next = ExecState::Size;
                            }
                        }
                        3 => {
                            if !self.refused.q.val() {
                                self.exec.d.next = ExecState::Size;
                            }
                        }
                        4 => {
                            if !self.refused.q.val() {
                                self.start_engine.d.next = true;
                                self.exec.d.next = ExecState::Gemm;
                            }
                        }
                        5 => {
                            if !self.refused.q.val() {
                                self.start_requant.d.next = true;
                                self.exec.d.next = ExecState::Requant;
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
                                self.clear_counters.d.next = true;
                            }
                        }
                        _ => {}
                    }
                }
            }
            ExecState::Size => {
                // Entries x entry bytes, by repeated addition (no divider),
                // one entry every two cycles: Size lets the tests (below)
                // see the registers, SizeStep acts on the tests (every
                // decision reads a flip-flop).
                self.exec.d.next = ExecState::SizeStep;
            }
            ExecState::SizeStep => {
                // (past_end follows end_entry two cycles later: Range, at
                // least two cycles after the last change, sees the end the
                // loop stopped at.)
                self.exec.d.next = ExecState::Size;
                if self.is_write.q.val() {
                    if self.size_eq.q.val() {
                        // Whole entries, ending before end_entry.
                        self.exec.d.next = ExecState::Range;
                    } else if self.size_gt.q.val() {
                        self.status.d.next = self.st_bad_length.val();
                        self.exec.d.next = ExecState::Reply;
                    } else {
                        self.size_bytes.d.next = self.size_bytes.q.val() + bit_cast::<17, 8>(self.entry_bytes.q.val());
                        self.end_entry.d.next = self.end_entry.q.val() + 1;
                    }
                } else if self.size_long.q.val() {
                    self.too_long.d.next = true;
                    self.exec.d.next = ExecState::Range;
                } else if self.size_count.q.val() {
                    // size_bytes holds the answer's length.
                    self.exec.d.next = ExecState::Range;
                } else {
                    self.size_bytes.d.next = self.size_bytes.q.val() + bit_cast::<17, 8>(self.entry_bytes.q.val());
                    self.size_entries.d.next = self.size_entries.q.val() + 1;
                }
            }
            ExecState::Range => {
                // Out of range first, then too long: a WRITE's data goes in
                // and its answer carries none; a READ answers its bytes.
                self.data_len.d.next = 0.into();
                self.exec.d.next = ExecState::Reply;
                if self.past_end.q.val() {
                    self.status.d.next = self.st_out_of_range.val();
                } else if self.too_long.q.val() {
                    self.status.d.next = self.st_bad_length.val();
                } else if self.is_write.q.val() {
                    self.exec.d.next = ExecState::Copy;
                } else {
                    self.data_len.d.next = self.size_bytes.q.val().get_bits::<16>(0);
                }
            }
            ExecState::Copy => {
                // frame.read_address shows copy_index; its byte arrives next
                // cycle, and which memory it goes to is decided now, into
                // flip-flops (every byte is written as it comes: a byte-wide
                // bank's lane, or one byte of the bias word; Decode let
                // WRITE name A, B and BIAS only).
                self.exec.d.next = ExecState::CopyData;
                match self.bank.q.val().index() {
                    0 => {
                        self.write_a.d.next = true;
                    }
                    1 => {
                        self.write_b.d.next = true;
                    }
                    _ => {
                        self.write_bias.d.next = self.byte_lanes.val();
                    }
                }
            }
            ExecState::CopyData => {
                // (The write flags, set in Copy for this cycle alone, drive
                // the write enables directly: see the memories' wiring.)
                self.exec.d.next = ExecState::Copy;
                if self.copy_left.q.val() == 0 {
                    self.exec.d.next = ExecState::Reply;
                }
                self.copy_index.d.next = self.copy_index.q.val() + 1;
                self.copy_left.d.next = self.copy_left.q.val() - 1;
                self.cursor_byte.d.next = self.cursor_byte.q.val() + 1;
                if self.byte_last.q.val() {
                    self.cursor_byte.d.next = 0.into();
                    self.cursor_lane.d.next = self.cursor_lane.q.val() + 1;
                    if self.cursor_last.q.val() {
                        self.cursor_lane.d.next = 0.into();
                        self.cursor_entry.d.next = self.cursor_entry.q.val() + 1;
                    }
                }
            }
            ExecState::Gemm => {
                if self.engine.done.val() {
                    self.status.d.next = self.engine.error.val();
                    self.exec.d.next = ExecState::Reply;
                }
            }
            ExecState::Requant => {
                if self.requant.done.val() {
                    self.status.d.next = self.requant.error.val();
                    self.exec.d.next = ExecState::Reply;
                }
            }
            ExecState::Reply => {
                // (An answer other than OK carries no data.)
                if self.status.q.val() != self.st_ok.val() {
                    self.data_len.d.next = 0.into();
                }
                self.tx_index.d.next = 0.into();
                self.start_reply.d.next = true;
                self.exec.d.next = ExecState::Replying;
            }
            ExecState::Replying => {
                if self.sender.fetch.val() {
                    self.exec.d.next = ExecState::TxFetch;
                }
                if self.sender.done.val() {
                    self.exec.d.next = ExecState::Done;
                }
            }
            ExecState::TxFetch => {
                // The cursor addresses the memories; their data arrives next
                // cycle. A counter's first byte asks for its snapshot, and
                // so does each of the STATUS record's frame counts.
                if self.is_counters.q.val() & (self.tx_index.q.val().get_bits::<3>(0) == 0) {
                    self.counters.snapshot_request.next = true;
                }
                if self.is_status.q.val() & (self.tx_index.q.val().get_bits::<2>(0) == 0) & !self.tx_index.q.val().get_bit(3) {
                    self.counters.snapshot_request.next = true;
                }
                self.exec.d.next = ExecState::TxSettle;
            }
            ExecState::TxSettle => {
                // The lane select is a register: the bias bank's data for
                // the cursor's lane arrives a cycle after it.
                self.exec.d.next = ExecState::TxWait;
            }
            ExecState::TxWait => {
                self.tx_word.d.next = self.lane_u32.val();
                self.tx_byte_lane.d.next = self.lane_u8.val();
                if !(self.is_counters.q.val() | self.is_status.q.val()) | self.counters.snapshot_ready.val() {
                    self.exec.d.next = ExecState::TxPick;
                }
            }
            ExecState::TxPick => {
                // The byte goes to the sender; the cursor moves on to the next.
                self.tx_data.d.next = self.data_byte.val();
                self.tx_data_valid.d.next = true;
                self.tx_index.d.next = self.tx_index.q.val() + 1;
                self.cursor_byte.d.next = self.cursor_byte.q.val() + 1;
                if self.byte_last.q.val() {
                    self.cursor_byte.d.next = 0.into();
                    self.cursor_lane.d.next = self.cursor_lane.q.val() + 1;
                    if self.cursor_last.q.val() {
                        self.cursor_lane.d.next = 0.into();
                        self.cursor_entry.d.next = self.cursor_entry.q.val() + 1;
                    }
                }
                self.exec.d.next = ExecState::Replying;
            }
            ExecState::Done => {
                // (The frame counts count this answer: see the counters.)
                if self.status.q.val() != self.st_ok.val() {
                    self.last_error.d.next = self.status.q.val();
                }
                self.receiver.answered.next = true;
                self.exec.d.next = ExecState::Idle;
            }
            _ => {
                self.exec.d.next = ExecState::Idle;
            }
        }
    }
}
