//! The whole NPU: the command link over a UART, the on-chip memories, the
//! GEMM engine, the requantizer and the performance counters.
//!
//! Three processes, each a state machine in its own block, meet here, as
//! VTA's and Gemmini's load, execute and store stages do:
//!
//! - the **frame receiver** ([`FrameReceiver`]) checks each frame and
//!   stores it in the **request slots** ([`RequestSlots`]), which hand the
//!   executor one request at a time (its status, header fields, length and
//!   a read port on its payload) and take it back once the answer is out,
//!   while the next request arrives in the other slot;
//! - the **executor** ([`Executor`]) decodes and checks the request, runs
//!   it (WRITE's bytes through its cursor, GEMM and REQUANT by starting
//!   their unit, MOVE's bytes through its cursor from the places the
//!   [`Mover`] shows, ADD by starting the [`Adder`]) and serves the answer's data byte by byte;
//! - the **response sender** ([`ResponseSender`]) frames the answer (SYNC,
//!   length, status, opcode, data, CRC) and asks for each data byte.
//!
//! This block is the wiring between them and the datapath they share: the
//! memories, whose ports the engine and the requantizer own while they run
//! and the executor's cursor otherwise; the lane multiplexers; the request
//! fields wired to the units; and the counters' events.

use crate::adder::Adder;
use crate::counter_bank::CounterBank;
use crate::executor::{ExecState, Executor, EXECUTOR_HEAD_BITS};

// The executor's `head` port is the header's low 48 bits (a literal in update).
const _: () = assert!(EXECUTOR_HEAD_BITS == 48);
use crate::frame_receiver::{header_bytes, FrameReceiver, FrameState};
use crate::request_slots::RequestSlots;
use crate::gemm_engine::GemmEngine;
use crate::kept_register::KeptRegister;
use crate::mover::Mover;
use crate::program_store::ProgramStore;
use crate::ram::Ram;
use crate::requant_unit::RequantUnit;
use crate::response_sender::ResponseSender;
use crate::scratchpad::Scratchpad;
use crate::vecs::{dffs, k, signals};
use crate::word_ram::WordRam;
use npu_spec::protocol::{request_offset, Bank, Opcode, TABLE_ENTRIES};
use npu_spec::NpuConfig;
use rust_hdl::prelude::*;

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
    /// Two frame buffers: the request the executor has, and the next.
    slots: RequestSlots,
    /// The executor: one request in, its effect and its answer's data out.
    executor: Executor,
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
    /// With `memory.mover` (else empty): MOVE's checks and places (the
    /// executor's cursor moves the bytes).
    mover: Vec<Mover>,
    /// With `memory.program_bytes` (else empty): the program memory, PROGRAM
    /// and RUN, between the slots and the executor (none: requests go
    /// straight from the slots to the executor, its answers to the sender).
    program_store: Vec<ProgramStore>,
    /// With `memory.add_tables` (else empty): ADD's table adder, and the
    /// TABLE bank it reads (entry e at word e), written and read by the
    /// cursor like the bias bank; kept four times, so that the adder looks
    /// up both inputs of two elements in one cycle (the copies are written
    /// with the bank and read only by the adder).
    adder: Vec<Adder>,
    table_mem: Vec<WordRam>,
    /// The copies: `table2`'s for the even lane, `table1`'s and `table2`'s
    /// for the odd lane.
    table_copies: Vec<WordRam>,
    /// With the adder (else empty), per accumulator lane memory: the adder
    /// owns the write port (a kept copy of its `busy`, one a memory), and
    /// it writes this lane's even or odd word, registered from the adder's
    /// next-cycle outputs. So each memory's write multiplexers start at
    /// flip-flops of their own rather than at one decode across the die
    /// (at 100 MHz on the 16x16, the adder's state through the lane tests
    /// to 16 memories' data inputs missed by 6.4 ns).
    adder_owns_acc: Vec<KeptRegister<Bit>>,
    adder_writes_even: Vec<DFF<Bit>>,
    adder_writes_odd: Vec<DFF<Bit>>,
    /// The COUNTERS record's counters, in its order, as counters 0..=7 (each
    /// 40 bits or more: over 6 hours of cycles at 48 MHz; the record's bytes
    /// above read 0), and the STATUS record's frame counts as 14 and 15.
    counters: CounterBank,
    // Limits from the config and the protocol.
    /// The bits a row's or a column's lane number can use (a lane index is
    /// below the count, so the lane tests need compare only these bits).
    row_mask: Constant<Bits<8>>,
    col_mask: Constant<Bits<8>>,
    /// log2 of the BIAS bank's words per entry.
    bias_lane_bits: Constant<Bits<16>>,
    macs_mask: Constant<Bits<16>>,
    /// Bit offsets of GEMM's and REQUANT's fields in the header.
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
    /// Bit offsets of MOVE's fields in the header.
    at_m_src_bank: Constant<Bits<16>>,
    at_m_dst_bank: Constant<Bits<16>>,
    at_m_src_entry: Constant<Bits<16>>,
    at_m_src_lane: Constant<Bits<16>>,
    at_m_dst_entry: Constant<Bits<16>>,
    at_m_dst_lane: Constant<Bits<16>>,
    at_m_count: Constant<Bits<16>>,
    at_m_runs: Constant<Bits<16>>,
    at_m_src_step_entry: Constant<Bits<16>>,
    at_m_src_step_lane: Constant<Bits<16>>,
    at_m_src_run_entry: Constant<Bits<16>>,
    at_m_src_run_lane: Constant<Bits<16>>,
    at_m_dst_step_entry: Constant<Bits<16>>,
    at_m_dst_step_lane: Constant<Bits<16>>,
    at_m_dst_run_entry: Constant<Bits<16>>,
    at_m_dst_run_lane: Constant<Bits<16>>,
    at_m_flags: Constant<Bits<16>>,
    /// Bit offsets of ADD's fields in the header.
    at_a_src1: Constant<Bits<16>>,
    at_a_src2: Constant<Bits<16>>,
    at_a_dst: Constant<Bits<16>>,
    at_a_count: Constant<Bits<16>>,
    at_a_table1: Constant<Bits<16>>,
    at_a_table2: Constant<Bits<16>>,
    /// OUT's write port, registered: the requantizer's writes land a cycle
    /// late (nothing reads OUT that soon), and the memories' inputs come
    /// from flip-flops, not from a multiplexer on the requantizer's state.
    out_write_address: DFF<Bits<16>>,
    out_write_data: DFF<Bits<8>>,
    /// The odd lanes' byte: the pipelined requantizer writes a lane pair
    /// (one register with that unit, none with the serial one).
    out_write_data_odd: Vec<DFF<Bits<8>>>,
    out_write_lane: Vec<DFF<Bit>>,
    /// The ACC read address of the requantizer (while busy) or else the
    /// cursor, a cycle ago (each holds its address a cycle before it reads:
    /// see Requantizer::acc_address and the executor's TxSettle), so that
    /// only the engine's address is a multiplexer away from the memories.
    acc_read_other: DFF<Bits<16>>,
    /// With `memory.read_data_register` (else empty): each lane's read data,
    /// registered, for the lane multiplexers; the address then goes to the
    /// memories unregistered, so the cycles are the same.
    acc_read_data: Vec<DFF<Bits<32>>>,
    /// With `memory.read_data_register` (else empty): each accumulator
    /// memory's own copy of the read address, registered from the engine's
    /// next-cycle address (equal cycle for cycle to the address it stands
    /// for), so that a flip-flop beside the memory, not the engine's and
    /// the requantizer's multiplexers, drives it.
    acc_address_copy: Vec<KeptRegister<Bits<16>>>,
    /// With `memory.read_data_register` (else empty): the byte banks' read
    /// data for READ's lane multiplexer, each lane registered. The cursor
    /// moves in TxPick and holds through Replying and TxFetch, so the
    /// memories' data is in these registers by TxWait (see the executor).
    out_read_data: Vec<DFF<Bits<8>>>,
    a_read_data: Vec<DFF<Bits<8>>>,
    b_read_data: Vec<DFF<Bits<8>>>,
    /// With `memory.read_data_register` (else empty): those registers
    /// again, for the lane multiplexers alone. On an ECP5 the registers
    /// above are the block RAMs' own output registers (the flow folds
    /// them, see npu_fpga::bram_output_register), all over the die; these
    /// lie between them and the multiplexers, which then start at a
    /// flip-flop placed on the way (on the 16x16, 10.6 ns of wire from a B
    /// block RAM to the multiplexers ended its slowest path). A cycle more
    /// for the executor (its `settle_more`, its move pipe).
    out_lane_late: Vec<DFF<Bits<8>>>,
    a_lane_late: Vec<DFF<Bits<8>>>,
    b_lane_late: Vec<DFF<Bits<8>>>,
    /// With `memory.read_data_register` (else empty): the bias bank's read
    /// data, registered, for READ and the requantizer; the bank's address
    /// then skips its registers (`lane_select`, `param_entry`), so the
    /// requantizer's cycles are the same.
    bias_read_data: Vec<DFF<Bits<32>>>,
    /// With `memory.read_data_register` (else empty): the cursor's lane,
    /// registered on its way to the executor (which waits a cycle more for
    /// it, see its `settle_more`): on the 16x16 ECP5 build the lane
    /// multiplexers' inputs come from memories across the die, and the
    /// path through them to the executor's byte was the slowest (15.2 ns).
    lane_u8_reg: Vec<DFF<Bits<8>>>,
    lane_u32_reg: Vec<DFF<Bits<32>>>,
    /// The lane the requantizer or the cursor selected a cycle ago (ORed:
    /// each shows lane 0 while the other works), and that lane's accumulator.
    lane_select: DFF<Bits<8>>,
    /// The requantizer's BIAS entry, a register away like its lane.
    param_entry: DFF<Bits<2>>,
    /// WRITE's frame byte, registered from the frame buffer's read port:
    /// the block RAM's output is a flip-flop away from every bank's write
    /// data (on a big part the banks lie across the die).
    frame_byte: DFF<Bits<8>>,
    // Combinational helpers.
    acc_lane: Signal<Local, Bits<32>>,
    /// The lane beside it (the pipelined requantizer's second slot; as
    /// `out_write_data_odd`, one or none).
    acc_lane_odd: Vec<Signal<Local, Bits<32>>>,
    /// The BIAS entry the bank's read port shows (0 while requantizing).
    bias_entry: Signal<Local, Bits<2>>,
    /// The cursor's lane of its bank: byte lanes in lane_u8, word lanes in lane_u32.
    lane_u8: Signal<Local, Bits<8>>,
    lane_u32: Signal<Local, Bits<32>>,
    /// WRITE: the frame byte in all four bytes of a word (ACC and bias
    /// take it a byte at a time, by their write enables).
    frame_word: Signal<Local, Bits<32>>,
    /// The next cycle's addresses and busy, which only the address copies
    /// read, and the mover's controls, which only a mover reads (named so
    /// for the lint when there are none).
    unused_next: Signal<Local, Bits<16>>,
    adder_unused: Signal<Local, Bits<16>>,
    /// A frame answered OK, or with an error (STATUS's counts).
    frame_ok: Signal<Local, Bit>,
    frame_bad: Signal<Local, Bit>,
    /// A command executes, or a RUN is between records (the busy counter).
    command_busy: Signal<Local, Bit>,
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
        // ACC lane memories whose writes the adder takes (all, with ADD).
        let adder_lanes = if m.add_tables > 0 { cols } else { 0 };
        Self {
            clock: Default::default(),
            uart_rx: Default::default(),
            uart_tx: Default::default(),
            busy: Default::default(),
            receiver: FrameReceiver::new(cpb, header_bytes(config)),
            slots: RequestSlots::new(header_bytes(config)),
            executor: Executor::new(config),
            sender: ResponseSender::new(cpb),
            a_mem: if m.read_data_register { Scratchpad::with_address_copies(rows, m.a_depth) } else { Scratchpad::new(rows, m.a_depth) },
            b_mem: if m.read_data_register { Scratchpad::with_address_copies(cols, m.b_depth) } else { Scratchpad::new(cols, m.b_depth) },
            // The engine reads ahead in ACC while it writes sums back, but
            // never the entry it writes in that cycle (see GemmEngine:
            // steps are unsigned and range-checked, and tiles are spaced at
            // least 3 cycles apart, 4 with its stage), so no bypass logic is needed.
            acc_mem: (0..cols).map(|_| WordRam::new(m.acc_depth)).collect(),
            out_mem: rams(cols, m.acc_depth),
            // Written only while nothing reads it.
            bias_mem: WordRam::new(4 * crate::requantizer::bias_depth(cols)),
            engine: GemmEngine::new(config),
            requant: RequantUnit::new(config),
            mover: (0..usize::from(m.mover)).map(|_| Mover::new(config)).collect(),
            program_store: (0..usize::from(m.program_bytes > 0)).map(|_| ProgramStore::new(config)).collect(),
            adder: (0..usize::from(m.add_tables > 0)).map(|_| Adder::new(config)).collect(),
            // Written only while nothing reads it.
            table_mem: (0..usize::from(m.add_tables > 0)).map(|_| WordRam::new(TABLE_ENTRIES * m.add_tables)).collect(),
            table_copies: (0..3 * usize::from(m.add_tables > 0)).map(|_| WordRam::new(TABLE_ENTRIES * m.add_tables)).collect(),
            adder_owns_acc: (0..adder_lanes).map(|_| KeptRegister::default()).collect(),
            adder_writes_even: dffs(adder_lanes),
            adder_writes_odd: dffs(adder_lanes),
            counters: CounterBank::new(rows * cols, m.read_data_register),
            row_mask: k(rows.next_power_of_two() as u64 - 1),
            col_mask: k(cols.next_power_of_two() as u64 - 1),
            bias_lane_bits: k(crate::requantizer::bias_depth(cols).trailing_zeros() as u64),
            macs_mask: k(((rows * cols + 1).next_power_of_two() - 1) as u64),
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
            at_m_src_bank: k(8 * request_offset(Opcode::Move, "src_bank") as u64),
            at_m_dst_bank: k(8 * request_offset(Opcode::Move, "dst_bank") as u64),
            at_m_src_entry: k(8 * request_offset(Opcode::Move, "src_entry") as u64),
            at_m_src_lane: k(8 * request_offset(Opcode::Move, "src_lane") as u64),
            at_m_dst_entry: k(8 * request_offset(Opcode::Move, "dst_entry") as u64),
            at_m_dst_lane: k(8 * request_offset(Opcode::Move, "dst_lane") as u64),
            at_m_count: k(8 * request_offset(Opcode::Move, "count") as u64),
            at_m_runs: k(8 * request_offset(Opcode::Move, "runs") as u64),
            at_m_src_step_entry: k(8 * request_offset(Opcode::Move, "src_step_entry") as u64),
            at_m_src_step_lane: k(8 * request_offset(Opcode::Move, "src_step_lane") as u64),
            at_m_src_run_entry: k(8 * request_offset(Opcode::Move, "src_run_entry") as u64),
            at_m_src_run_lane: k(8 * request_offset(Opcode::Move, "src_run_lane") as u64),
            at_m_dst_step_entry: k(8 * request_offset(Opcode::Move, "dst_step_entry") as u64),
            at_m_dst_step_lane: k(8 * request_offset(Opcode::Move, "dst_step_lane") as u64),
            at_m_dst_run_entry: k(8 * request_offset(Opcode::Move, "dst_run_entry") as u64),
            at_m_dst_run_lane: k(8 * request_offset(Opcode::Move, "dst_run_lane") as u64),
            at_m_flags: k(8 * request_offset(Opcode::Move, "flags") as u64),
            at_a_src1: k(8 * request_offset(Opcode::Add, "src1") as u64),
            at_a_src2: k(8 * request_offset(Opcode::Add, "src2") as u64),
            at_a_dst: k(8 * request_offset(Opcode::Add, "dst") as u64),
            at_a_count: k(8 * request_offset(Opcode::Add, "count") as u64),
            at_a_table1: k(8 * request_offset(Opcode::Add, "table1") as u64),
            at_a_table2: k(8 * request_offset(Opcode::Add, "table2") as u64),
            out_write_address: Default::default(),
            out_write_data: Default::default(),
            out_write_data_odd: dffs(requant_pairs),
            out_write_lane: dffs(cols),
            acc_read_other: Default::default(),
            acc_read_data: dffs(if m.read_data_register { cols } else { 0 }),
            acc_address_copy: (0..if m.read_data_register { cols } else { 0 }).map(|_| KeptRegister::default()).collect(),
            out_read_data: dffs(if m.read_data_register { cols } else { 0 }),
            a_read_data: dffs(if m.read_data_register { rows } else { 0 }),
            b_read_data: dffs(if m.read_data_register { cols } else { 0 }),
            out_lane_late: dffs(if m.read_data_register { cols } else { 0 }),
            a_lane_late: dffs(if m.read_data_register { rows } else { 0 }),
            b_lane_late: dffs(if m.read_data_register { cols } else { 0 }),
            bias_read_data: dffs(usize::from(m.read_data_register)),
            lane_select: Default::default(),
            param_entry: Default::default(),
            frame_byte: Default::default(),
            acc_lane: Default::default(),
            acc_lane_odd: signals(requant_pairs),
            bias_entry: Default::default(),
            lane_u8: Default::default(),
            lane_u32: Default::default(),
            lane_u8_reg: dffs(usize::from(m.read_data_register)),
            lane_u32_reg: dffs(usize::from(m.read_data_register)),
            frame_word: Default::default(),
            unused_next: Default::default(),
            adder_unused: Default::default(),
            frame_ok: Default::default(),
            frame_bad: Default::default(),
            command_busy: Default::default(),
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

    /// 1 with `memory.read_data_register`, else 0 (a loop bound).
    fn acc_data_registered(&self) -> usize {
        usize::from(!self.acc_read_data.is_empty())
    }

    /// The receiver's and the executor's states, for tests.
    pub fn states(&self) -> (FrameState, ExecState) {
        (self.receiver.state(), self.executor.state())
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
            Bank::Table => {
                self.table_mem[0].poke(entry, u64::from(value).into());
                for copy in &mut self.table_copies {
                    copy.poke(entry, u64::from(value).into());
                }
            }
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
            Bank::Table => self.table_mem[0].peek(entry).to_u32(),
        }
    }
}


impl Logic for Npu {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, lane_select, param_entry, frame_byte, acc_read_other, out_write_address, out_write_data);
        // Clocks and the serial line.
        self.receiver.clock.next = self.clock.val();
        self.slots.clock.next = self.clock.val();
        self.executor.clock.next = self.clock.val();
        self.sender.clock.next = self.clock.val();
        self.engine.clock.next = self.clock.val();
        self.requant.clock.next = self.clock.val();
        self.receiver.rx.next = self.uart_rx.val();
        self.uart_tx.next = self.sender.tx.val();
        // Busy until the answer's last byte is on the line.
        self.busy.next = self.executor.busy.val() | self.sender.busy.val();

        // ---- Receiver to slots to executor to sender.
        self.receiver.room.next = self.slots.room.val();
        self.slots.byte_write.next = self.receiver.byte_write.val();
        self.slots.byte_offset.next = self.receiver.byte_offset.val();
        self.slots.byte_data.next = self.receiver.byte_data.val();
        self.slots.frame_done.next = self.receiver.frame_done.val();
        self.slots.frame_status.next = self.receiver.frame_status.val();
        self.slots.frame_length.next = self.receiver.frame_length.val();
        self.slots.frame_head_bytes.next = self.receiver.frame_head_bytes.val();
        self.executor.request_ready.next = self.slots.ready.val();
        self.executor.request_status.next = self.slots.status.val();
        self.executor.head.next = self.slots.head.val().get_bits::<48>(0);
        self.executor.length.next = self.slots.length.val();
        self.slots.read_address.next = self.executor.frame_address.val();
        self.slots.answered.next = self.executor.answered.val();
        self.sender.start.next = self.executor.reply_start.val();
        self.sender.status.next = self.executor.reply_status.val();
        self.sender.opcode.next = self.executor.reply_opcode.val();
        self.sender.length.next = self.executor.reply_length.val();
        self.sender.data.next = self.executor.reply_data.val();
        self.sender.data_valid.next = self.executor.reply_data_valid.val();
        self.executor.reply_fetch.next = self.sender.fetch.val();
        self.executor.reply_done.next = self.sender.done.val();
        self.slots.program_shift.next = false;
        self.slots.program_byte.next = 0.into();
        self.slots.program_load.next = false;
        self.slots.program_head.next = 0.into();
        self.executor.note_error.next = false;
        self.executor.noted_status.next = 0.into();
        // With a program store, it stands between: the slots' request and a
        // RUN's records go through it to the executor, and the executor's
        // answers through it to the sender.
        for u in 0..self.program_store.len() {
            self.program_store[u].clock.next = self.clock.val();
            self.program_store[u].slot_ready.next = self.slots.ready.val();
            self.program_store[u].slot_status.next = self.slots.status.val();
            self.program_store[u].slot_length.next = self.slots.length.val();
            self.program_store[u].slot_head.next = self.slots.head.val().get_bits::<40>(0);
            self.program_store[u].slot_read_data.next = self.slots.read_data.val();
            self.slots.read_address.next = self.program_store[u].slot_read_address.val();
            self.slots.answered.next = self.program_store[u].slot_answered.val();
            self.slots.program_shift.next = self.program_store[u].head_shift.val();
            self.slots.program_byte.next = self.program_store[u].head_byte.val();
            self.slots.program_load.next = self.program_store[u].head_load.val();
            self.slots.program_head.next = self.program_store[u].next_head.val();
            self.executor.request_ready.next = self.program_store[u].request_ready.val();
            self.executor.request_status.next = self.program_store[u].request_status.val();
            self.executor.length.next = self.program_store[u].request_length.val();
            self.program_store[u].frame_address.next = self.executor.frame_address.val();
            self.program_store[u].exec_answered.next = self.executor.answered.val();
            self.program_store[u].exec_reply_start.next = self.executor.reply_start.val();
            self.program_store[u].exec_reply_status.next = self.executor.reply_status.val();
            self.program_store[u].exec_reply_opcode.next = self.executor.reply_opcode.val();
            self.program_store[u].exec_reply_length.next = self.executor.reply_length.val();
            self.program_store[u].exec_reply_data.next = self.executor.reply_data.val();
            self.program_store[u].exec_reply_data_valid.next = self.executor.reply_data_valid.val();
            self.executor.reply_fetch.next = self.program_store[u].exec_reply_fetch.val();
            self.executor.reply_done.next = self.program_store[u].exec_reply_done.val();
            self.sender.start.next = self.program_store[u].reply_start.val();
            self.sender.status.next = self.program_store[u].reply_status.val();
            self.sender.opcode.next = self.program_store[u].reply_opcode.val();
            self.sender.length.next = self.program_store[u].reply_length.val();
            self.sender.data.next = self.program_store[u].reply_data.val();
            self.sender.data_valid.next = self.program_store[u].reply_data_valid.val();
            self.program_store[u].reply_fetch.next = self.sender.fetch.val();
            self.program_store[u].reply_done.next = self.sender.done.val();
            self.executor.note_error.next = self.program_store[u].answered_error.val();
            self.executor.noted_status.next = self.program_store[u].error_status.val();
            self.busy.next = self.executor.busy.val() | self.sender.busy.val() | self.program_store[u].busy.val();
        }

        // ---- The units: their parameters are the header's fields (which
        // hold until the answer is out), started and awaited by the executor.
        self.engine.a_entry.next = self.slots.head.val().get_bits::<16>(self.at_g_a_entry.val().index());
        self.engine.b_entry.next = self.slots.head.val().get_bits::<16>(self.at_g_b_entry.val().index());
        self.engine.acc_entry.next = self.slots.head.val().get_bits::<16>(self.at_g_acc_entry.val().index());
        self.engine.m.next = self.slots.head.val().get_bits::<8>(self.at_g_m.val().index());
        self.engine.n.next = self.slots.head.val().get_bits::<8>(self.at_g_n.val().index());
        self.engine.k.next = self.slots.head.val().get_bits::<16>(self.at_g_k.val().index());
        self.engine.accumulate.next = self.slots.head.val().get_bit(self.at_g_flags.val().index());
        self.engine.tiles.next = self.slots.head.val().get_bits::<16>(self.at_g_tiles.val().index());
        self.engine.a_step.next = self.slots.head.val().get_bits::<16>(self.at_g_a_step.val().index());
        self.engine.b_step.next = self.slots.head.val().get_bits::<16>(self.at_g_b_step.val().index());
        self.engine.acc_step.next = self.slots.head.val().get_bits::<16>(self.at_g_acc_step.val().index());
        self.requant.src.next = self.slots.head.val().get_bits::<16>(self.at_r_src.val().index());
        self.requant.dst.next = self.slots.head.val().get_bits::<16>(self.at_r_dst.val().index());
        self.requant.count.next = self.slots.head.val().get_bits::<16>(self.at_r_count.val().index());
        self.requant.zero_point.next = self.slots.head.val().get_bits::<8>(self.at_r_zero_point.val().index());
        self.requant.min.next = self.slots.head.val().get_bits::<8>(self.at_r_min.val().index());
        self.requant.max.next = self.slots.head.val().get_bits::<8>(self.at_r_max.val().index());
        self.requant.use_bias.next = self.slots.head.val().get_bit(self.at_r_flags.val().index());
        self.engine.start.next = self.executor.start_engine.val();
        self.requant.start.next = self.executor.start_requant.val();
        self.executor.engine_done.next = self.engine.done.val();
        self.executor.engine_error.next = self.engine.error.val();
        self.executor.requant_done.next = self.requant.done.val();
        self.executor.requant_error.next = self.requant.error.val();
        // MOVE: the mover, if built (none: MOVE is an unknown opcode, and
        // the executor never starts it).
        self.executor.mover_checked.next = false;
        self.executor.mover_error.next = 0.into();
        self.executor.move_from_entry.next = 0.into();
        self.executor.move_from_entry_next.next = 0.into();
        self.executor.move_from_lane.next = 0.into();
        self.executor.move_to_entry.next = 0.into();
        self.executor.move_to_lane.next = 0.into();
        self.executor.move_last.next = false;
        self.executor.move_showing_last.next = false;
        self.executor.move_zeros.next = false;
        for u in 0..self.mover.len() {
            self.mover[u].src_bank.next = self.slots.head.val().get_bits::<8>(self.at_m_src_bank.val().index());
            self.mover[u].dst_bank.next = self.slots.head.val().get_bits::<8>(self.at_m_dst_bank.val().index());
            self.mover[u].src_entry.next = self.slots.head.val().get_bits::<16>(self.at_m_src_entry.val().index());
            self.mover[u].src_lane.next = self.slots.head.val().get_bits::<8>(self.at_m_src_lane.val().index());
            self.mover[u].dst_entry.next = self.slots.head.val().get_bits::<16>(self.at_m_dst_entry.val().index());
            self.mover[u].dst_lane.next = self.slots.head.val().get_bits::<8>(self.at_m_dst_lane.val().index());
            self.mover[u].count.next = self.slots.head.val().get_bits::<16>(self.at_m_count.val().index());
            self.mover[u].runs.next = self.slots.head.val().get_bits::<16>(self.at_m_runs.val().index());
            self.mover[u].src_step_entry.next = self.slots.head.val().get_bits::<16>(self.at_m_src_step_entry.val().index());
            self.mover[u].src_step_lane.next = self.slots.head.val().get_bits::<8>(self.at_m_src_step_lane.val().index());
            self.mover[u].src_run_entry.next = self.slots.head.val().get_bits::<16>(self.at_m_src_run_entry.val().index());
            self.mover[u].src_run_lane.next = self.slots.head.val().get_bits::<8>(self.at_m_src_run_lane.val().index());
            self.mover[u].dst_step_entry.next = self.slots.head.val().get_bits::<16>(self.at_m_dst_step_entry.val().index());
            self.mover[u].dst_step_lane.next = self.slots.head.val().get_bits::<8>(self.at_m_dst_step_lane.val().index());
            self.mover[u].dst_run_entry.next = self.slots.head.val().get_bits::<16>(self.at_m_dst_run_entry.val().index());
            self.mover[u].dst_run_lane.next = self.slots.head.val().get_bits::<8>(self.at_m_dst_run_lane.val().index());
            self.mover[u].zeros.next = self.slots.head.val().get_bit(self.at_m_flags.val().index());
            self.mover[u].clock.next = self.clock.val();
            self.mover[u].start.next = self.executor.start_mover.val();
            self.mover[u].advance.next = self.executor.move_advance.val();
            self.executor.mover_checked.next = self.mover[u].checked.val();
            self.executor.mover_error.next = self.mover[u].error.val();
            self.executor.move_from_entry.next = self.mover[u].from_entry.val();
            self.executor.move_from_entry_next.next = self.mover[u].from_entry_next.val();
            self.executor.move_from_lane.next = self.mover[u].from_lane.val();
            self.executor.move_to_entry.next = self.mover[u].to_entry.val();
            self.executor.move_to_lane.next = self.mover[u].to_lane.val();
            self.executor.move_last.next = self.mover[u].last.val();
            self.executor.move_showing_last.next = self.mover[u].showing_last.val();
            self.executor.move_zeros.next = self.mover[u].zeros.val();
        }

        // ADD: the table adder, if built (none: ADD is an unknown opcode,
        // and the executor never starts it).
        self.executor.adder_done.next = false;
        self.executor.adder_error.next = 0.into();
        for u in 0..self.adder.len() {
            self.adder[u].clock.next = self.clock.val();
            self.adder[u].src1.next = self.slots.head.val().get_bits::<16>(self.at_a_src1.val().index());
            self.adder[u].src2.next = self.slots.head.val().get_bits::<16>(self.at_a_src2.val().index());
            self.adder[u].dst.next = self.slots.head.val().get_bits::<16>(self.at_a_dst.val().index());
            self.adder[u].count.next = self.slots.head.val().get_bits::<16>(self.at_a_count.val().index());
            self.adder[u].table1.next = self.slots.head.val().get_bits::<8>(self.at_a_table1.val().index());
            self.adder[u].table2.next = self.slots.head.val().get_bits::<8>(self.at_a_table2.val().index());
            self.adder[u].start.next = self.executor.start_adder.val();
            self.executor.adder_done.next = self.adder[u].done.val();
            self.executor.adder_error.next = self.adder[u].error.val();
        }

        // WRITE: the frame byte, written into its byte of an ACC or bias word.
        // MOVE: the byte it read, by the same register to the same places.
        // (A WRITE record's bytes come from the program memory.)
        self.frame_byte.d.next = self.slots.read_data.val();
        for u in 0..self.program_store.len() {
            self.frame_byte.d.next = self.program_store[u].read_data.val();
        }
        if self.executor.moving.val() {
            self.frame_byte.d.next = self.executor.move_data.val();
        }
        self.frame_word.next = bit_cast::<32, 8>(self.frame_byte.q.val())
            | (bit_cast::<32, 8>(self.frame_byte.q.val()) << 8)
            | (bit_cast::<32, 8>(self.frame_byte.q.val()) << 16)
            | (bit_cast::<32, 8>(self.frame_byte.q.val()) << 24);
        // ---- Memories: the engine and the requantizer own their ports while
        // busy; otherwise the executor's cursor addresses every lane. A
        // scratchpad has a single address (the executor writes only while
        // the engine is idle).
        self.a_mem.clock.next = self.clock.val();
        self.b_mem.clock.next = self.clock.val();
        self.a_mem.address.next = self.executor.cursor_entry.val();
        self.b_mem.address.next = self.executor.b_entry.val();
        if self.engine.busy.val() {
            self.a_mem.address.next = self.engine.a_address.val();
            self.b_mem.address.next = self.engine.b_address.val();
        }
        // ADD reads B's second input (the engine is idle then).
        for u in 0..self.adder.len() {
            if self.adder[u].busy.val() {
                self.b_mem.address.next = self.adder[u].b_address.val();
            }
        }
        // (The adder's next-cycle B address and busy, which only B's
        // address copies read.)
        self.adder_unused.next = 0.into();
        for u in 0..self.adder.len() {
            self.adder_unused.next = self.adder[u].b_address_next.val();
            if self.adder[u].busy_next.val() {
                self.adder_unused.next = !self.adder[u].b_address_next.val();
            }
        }
        // With `memory.read_data_register` the scratchpads register a copy
        // of the address for each memory, from the next cycle's address.
        self.unused_next.next = self.executor.cursor_entry_next.val() ^ self.executor.b_entry_next.val() ^ self.engine.a_address_next.val() ^ self.engine.b_address_next.val() ^ self.engine.acc_read_address_next.val() ^ bit_cast::<16, 1>(self.engine.busy_next.val().into())
            ^ bit_cast::<16, 8>(self.executor.cursor_lane_next.val()) ^ (bit_cast::<16, 1>(self.executor.write_a_next.val().into()) << 8) ^ (bit_cast::<16, 1>(self.executor.write_b_next.val().into()) << 9)
            ^ (bit_cast::<16, 1>(self.executor.start_mover.val().into()) << 10) ^ (bit_cast::<16, 1>(self.executor.move_advance.val().into()) << 11)
            ^ bit_cast::<16, 4>(self.executor.write_table.val()) ^ (bit_cast::<16, 1>(self.executor.bank_table.val().into()) << 4) ^ (bit_cast::<16, 1>(self.executor.start_adder.val().into()) << 5)
            ^ self.adder_unused.val();
        for e in 0..self.a_mem.address_next.len() {
            self.a_mem.address_next[e].next = self.executor.cursor_entry_next.val();
            self.b_mem.address_next[e].next = self.executor.b_entry_next.val();
            self.a_mem.write_data_next[e].next = self.frame_byte.d.val();
            self.b_mem.write_data_next[e].next = self.frame_byte.d.val();
            self.a_mem.write_enable_next[e].next = self.executor.write_a_next.val();
            self.b_mem.write_enable_next[e].next = self.executor.write_b_next.val();
            self.a_mem.write_lane_next[e].next = self.executor.cursor_lane_next.val() & self.row_mask.val();
            self.b_mem.write_lane_next[e].next = self.executor.cursor_lane_next.val() & self.col_mask.val();
            if self.engine.busy_next.val() {
                self.a_mem.address_next[e].next = self.engine.a_address_next.val();
                self.b_mem.address_next[e].next = self.engine.b_address_next.val();
            }
            for u in 0..self.adder.len() {
                if self.adder[u].busy_next.val() {
                    self.b_mem.address_next[e].next = self.adder[u].b_address_next.val();
                }
            }
        }
        self.a_mem.write_data.next = self.frame_byte.q.val();
        self.b_mem.write_data.next = self.frame_byte.q.val();
        // (Masked to the bits a lane number uses: each lane's write test
        // is then a LUT, on the way to the SPRAMs' far-off write enables.)
        self.a_mem.write_lane.next = self.executor.cursor_lane.val() & self.row_mask.val();
        self.b_mem.write_lane.next = self.executor.cursor_lane.val() & self.col_mask.val();
        // The executor writes only while the engine and the requantizer are
        // idle, so its write flags (flip-flops, one cycle each) simply OR in.
        self.a_mem.write_enable.next = self.executor.write_a.val();
        self.b_mem.write_enable.next = self.executor.write_b.val();
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
            // ADD's sums (the engine is idle then), by this memory's flags.
            for u in 0..self.adder.len() {
                self.adder_owns_acc[j].clock.next = self.clock.val();
                self.adder_owns_acc[j].d.next = self.adder[u].busy_next.val();
                self.adder_writes_even[j].clock.next = self.clock.val();
                self.adder_writes_even[j].d.next = self.adder[u].acc_write_ahead.val() & (self.adder[u].acc_lane_ahead.val().index() == j);
                self.adder_writes_odd[j].clock.next = self.clock.val();
                self.adder_writes_odd[j].d.next = self.adder[u].acc_write_odd_ahead.val() & (self.adder[u].acc_lane_ahead.val().index() + 1 == j);
                if self.adder_owns_acc[j].q.val() {
                    self.acc_mem[j].write_address.next = self.adder[u].acc_address.val();
                    self.acc_mem[j].write_data.next = self.adder[u].acc_data.val();
                }
                if self.adder_writes_even[j].q.val() {
                    self.acc_mem[j].write_bytes.next = 0xF.into();
                }
                if self.adder_writes_odd[j].q.val() {
                    self.acc_mem[j].write_data.next = self.adder[u].acc_data_odd.val();
                    self.acc_mem[j].write_bytes.next = 0xF.into();
                }
            }
        }
        // ADD's inputs: the lane in hand of OUT's entry and of B's.
        for u in 0..self.adder.len() {
            self.adder[u].x1.next = 0.into();
            self.adder[u].x2.next = 0.into();
            self.adder[u].x1_odd.next = 0.into();
            self.adder[u].x2_odd.next = 0.into();
            for j in 0..self.cols() {
                if self.adder[u].lane.val().index() == j {
                    self.adder[u].x1.next = self.out_mem[j].read_data.val();
                    self.adder[u].x2.next = self.b_mem.read_data[j].val();
                }
                if self.adder[u].lane_odd.val().index() == j {
                    self.adder[u].x1_odd.next = self.out_mem[j].read_data.val();
                    self.adder[u].x2_odd.next = self.b_mem.read_data[j].val();
                }
            }
            // With the read data registered, from the lanes' registers (the
            // adder waits a cycle more an entry): the block RAMs' slow
            // outputs end beside them, not at the lookups across the die.
            for j in 0..self.out_read_data.len() {
                if self.adder[u].lane.val().index() == j {
                    self.adder[u].x1.next = self.out_read_data[j].q.val();
                    self.adder[u].x2.next = self.b_read_data[j].q.val();
                }
                if self.adder[u].lane_odd.val().index() == j {
                    self.adder[u].x1_odd.next = self.out_read_data[j].q.val();
                    self.adder[u].x2_odd.next = self.b_read_data[j].q.val();
                }
            }
        }
        for j in 0..self.acc_address_copy.len() {
            self.acc_address_copy[j].clock.next = self.clock.val();
            self.acc_address_copy[j].d.next = self.engine.acc_read_address_next.val();
            self.acc_mem[j].read_address.next = self.acc_address_copy[j].q.val();
        }
        for j in 0..self.cols() {
            self.out_mem[j].clock.next = self.clock.val();
            self.out_mem[j].read_address.next = self.executor.source_entry.val();
            for u in 0..self.adder.len() {
                if self.adder[u].busy.val() {
                    self.out_mem[j].read_address.next = self.adder[u].out_address.val();
                }
            }
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
        // cycle ahead: see Requantizer::lane_select and the executor's TxSettle).
        self.lane_select.d.next = self.executor.cursor_lane.val() | self.requant.lane_select.val();
        self.engine.acc_read_idle.next = self.acc_read_other.q.val();
        self.acc_read_other.d.next = self.executor.cursor_entry.val();
        self.engine.acc_read_idle_next.next = self.executor.cursor_entry_next.val();
        if self.requant.busy_next.val() {
            self.engine.acc_read_idle_next.next = self.requant.acc_address_next.val();
        }
        if self.requant.busy.val() {
            self.acc_read_other.d.next = self.requant.acc_address.val();
        }
        // With the data registers the address skips its register (the
        // loop runs once, or not at all).
        for _r in 0..self.acc_data_registered() {
            self.engine.acc_read_idle.next = self.acc_read_other.d.val();
        }
        for j in 0..self.acc_read_data.len() {
            self.acc_read_data[j].clock.next = self.clock.val();
            self.acc_read_data[j].d.next = self.acc_mem[j].read_data.val();
        }
        // Each multiplexer takes the memories' data, or the registers'.
        self.acc_lane.next = 0.into();
        for j in 0..self.cols() {
            if (self.lane_select.q.val() & self.col_mask.val()).index() == j {
                self.acc_lane.next = self.acc_mem[j].read_data.val();
            }
        }
        for j in 0..self.acc_read_data.len() {
            if (self.lane_select.q.val() & self.col_mask.val()).index() == j {
                self.acc_lane.next = self.acc_read_data[j].q.val();
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
            for j in 0..self.acc_read_data.len() {
                if (self.lane_select.q.val() & self.col_mask.val()).index() + 1 == j {
                    self.acc_lane_odd[u].next = self.acc_read_data[j].q.val();
                }
            }
            self.requant.acc_data_odd[u].next = self.acc_lane_odd[u].val();
        }
        // The entry's bits sit above the lane's (bias_depth is a power of
        // two); while requantizing, the requantizer picks the entry.
        self.param_entry.d.next = self.requant.param_entry.val();
        self.bias_entry.next = self.executor.cursor_entry.val().get_bits::<2>(0);
        if self.requant.busy.val() {
            self.bias_entry.next = self.param_entry.q.val();
        }
        self.bias_mem.clock.next = self.clock.val();
        self.bias_mem.read_address.next = bit_cast::<16, 8>(self.lane_select.q.val()) | (bit_cast::<16, 2>(self.bias_entry.val()) << self.bias_lane_bits.val());
        self.bias_mem.write_address.next = bit_cast::<16, 8>(self.executor.cursor_lane.val())
            | (bit_cast::<16, 2>(self.executor.cursor_entry.val().get_bits::<2>(0)) << self.bias_lane_bits.val());
        self.bias_mem.write_data.next = self.frame_word.val();
        self.bias_mem.write_bytes.next = self.executor.write_bias.val();
        self.requant.param.next = self.bias_mem.read_data.val();
        // With the read data registered, the address skips its registers:
        // the same cycles, and the bank's slow output ends at a register
        // beside it rather than across the die at the requantizer's.
        for e in 0..self.bias_read_data.len() {
            if self.requant.busy.val() {
                self.bias_entry.next = self.param_entry.d.val();
            }
            self.bias_mem.read_address.next = bit_cast::<16, 8>(self.lane_select.d.val()) | (bit_cast::<16, 2>(self.bias_entry.val()) << self.bias_lane_bits.val());
            self.requant.param.next = self.bias_read_data[e].q.val();
        }

        // ---- The cursor's lane of its bank, for the executor's answers.
        // (Bank flags rather than the bank number: each lane multiplexer is
        // a few LUTs after the memory's output, or after its register.)
        self.lane_u8.next = 0.into();
        for j in 0..self.cols() {
            if (self.executor.source_lane.val() & self.col_mask.val()).index() == j {
                if self.executor.bank_b.val() {
                    self.lane_u8.next = self.b_mem.read_data[j].val();
                } else {
                    self.lane_u8.next = self.out_mem[j].read_data.val();
                }
            }
        }
        for j in 0..self.out_read_data.len() {
            self.out_read_data[j].clock.next = self.clock.val();
            self.out_read_data[j].d.next = self.out_mem[j].read_data.val();
            self.b_read_data[j].clock.next = self.clock.val();
            self.b_read_data[j].d.next = self.b_mem.read_data[j].val();
            self.out_lane_late[j].clock.next = self.clock.val();
            self.out_lane_late[j].d.next = self.out_read_data[j].q.val();
            self.b_lane_late[j].clock.next = self.clock.val();
            self.b_lane_late[j].d.next = self.b_read_data[j].q.val();
            if (self.executor.source_lane.val() & self.col_mask.val()).index() == j {
                if self.executor.bank_b.val() {
                    self.lane_u8.next = self.b_lane_late[j].q.val();
                } else {
                    self.lane_u8.next = self.out_lane_late[j].q.val();
                }
            }
        }
        if self.executor.bank_a.val() {
            self.lane_u8.next = 0.into();
            for i in 0..self.rows() {
                if (self.executor.source_lane.val() & self.row_mask.val()).index() == i {
                    self.lane_u8.next = self.a_mem.read_data[i].val();
                }
            }
            for i in 0..self.a_lane_late.len() {
                if (self.executor.source_lane.val() & self.row_mask.val()).index() == i {
                    self.lane_u8.next = self.a_lane_late[i].q.val();
                }
            }
        }
        for i in 0..self.a_read_data.len() {
            self.a_read_data[i].clock.next = self.clock.val();
            self.a_read_data[i].d.next = self.a_mem.read_data[i].val();
            self.a_lane_late[i].clock.next = self.clock.val();
            self.a_lane_late[i].d.next = self.a_read_data[i].q.val();
        }
        self.lane_u32.next = self.bias_mem.read_data.val();
        for e in 0..self.bias_read_data.len() {
            self.bias_read_data[e].clock.next = self.clock.val();
            self.bias_read_data[e].d.next = self.bias_mem.read_data.val();
            self.lane_u32.next = self.bias_read_data[e].q.val();
        }
        if self.executor.bank_acc.val() {
            self.lane_u32.next = self.acc_lane.val();
        }
        // The TABLE bank: written and read by the cursor a word an entry,
        // read by the adder while it runs.
        for u in 0..self.table_mem.len() {
            self.table_mem[u].clock.next = self.clock.val();
            self.table_mem[u].write_address.next = self.executor.cursor_entry.val();
            self.table_mem[u].write_data.next = self.frame_word.val();
            self.table_mem[u].write_bytes.next = self.executor.write_table.val();
            self.table_mem[u].read_address.next = self.executor.cursor_entry.val();
            if self.adder[u].busy.val() {
                self.table_mem[u].read_address.next = self.adder[u].table_address.val();
            }
            self.adder[u].table_data.next = self.table_mem[u].read_data.val();
            if self.executor.bank_table.val() {
                self.lane_u32.next = self.table_mem[u].read_data.val();
            }
            // (The copies exist with the adder: three of them.)
            self.table_copies[0].read_address.next = self.adder[u].table_address2.val();
            self.adder[u].table_data2.next = self.table_copies[0].read_data.val();
            self.table_copies[1].read_address.next = self.adder[u].table_address3.val();
            self.adder[u].table_data3.next = self.table_copies[1].read_data.val();
            self.table_copies[2].read_address.next = self.adder[u].table_address4.val();
            self.adder[u].table_data4.next = self.table_copies[2].read_data.val();
        }
        // Each copy is written with the bank.
        for c in 0..self.table_copies.len() {
            self.table_copies[c].clock.next = self.clock.val();
            self.table_copies[c].write_address.next = self.executor.cursor_entry.val();
            self.table_copies[c].write_data.next = self.frame_word.val();
            self.table_copies[c].write_bytes.next = self.executor.write_table.val();
        }
        self.executor.lane_u8.next = self.lane_u8.val();
        self.executor.lane_u32.next = self.lane_u32.val();
        for e in 0..self.lane_u8_reg.len() {
            self.lane_u8_reg[e].clock.next = self.clock.val();
            self.lane_u32_reg[e].clock.next = self.clock.val();
            self.lane_u8_reg[e].d.next = self.lane_u8.val();
            self.lane_u32_reg[e].d.next = self.lane_u32.val();
            self.executor.lane_u8.next = self.lane_u8_reg[e].q.val();
            self.executor.lane_u32.next = self.lane_u32_reg[e].q.val();
        }

        // ---- Counters, in the COUNTERS record's order.
        self.counters.clock.next = self.clock.val();
        self.counters.increment[0].next = 1.into();
        // (Busy: a command executes, or a RUN reads its next record; an
        // answer on the line is not.)
        self.command_busy.next = self.executor.executing.val();
        for u in 0..self.program_store.len() {
            self.command_busy.next = self.executor.executing.val() | self.program_store[u].running.val();
        }
        self.counters.increment[1].next = bit_cast::<17, 1>(self.command_busy.val().into());
        self.counters.increment[2].next = bit_cast::<17, 1>(self.engine.step.val().into());
        self.counters.increment[3].next = 0.into();
        if self.engine.step.val() {
            // (Masked to the widest m * n, so that synthesis sees how narrow it is.)
            self.counters.increment[3].next = bit_cast::<17, 16>(self.engine.macs_per_step.val() & self.macs_mask.val());
        }
        self.counters.increment[4].next = bit_cast::<17, 1>(self.engine.stall.val().into());
        self.counters.increment[5].next = bit_cast::<17, 1>(self.receiver.byte_valid.val().into());
        self.counters.increment[6].next = bit_cast::<17, 1>(self.sender.byte_sent.val().into());
        self.counters.increment[7].next = bit_cast::<17, 1>(self.engine.tile_done.val().into());
        // The STATUS record's frame counts: answered OK, answered with an error.
        // (A RUN's records are not frames; PROGRAM and RUN are.)
        self.frame_ok.next = self.executor.answered_ok.val();
        self.frame_bad.next = self.executor.answered_error.val();
        for u in 0..self.program_store.len() {
            self.frame_ok.next = (self.executor.answered_ok.val() & !self.program_store[u].busy.val()) | self.program_store[u].answered_ok.val();
            self.frame_bad.next = (self.executor.answered_error.val() & !self.program_store[u].busy.val()) | self.program_store[u].answered_error.val();
        }
        // Where the busy cycles went besides the array: the requantizer's
        // and the MOVEs' (a COUNTERS record's last two).
        self.counters.increment[8].next = bit_cast::<17, 1>(self.requant.busy.val().into());
        self.counters.increment[9].next = bit_cast::<17, 1>((self.executor.moving.val() & self.executor.executing.val()).into());
        // (ADD's cycles count as data moved: its inputs' bytes.)
        for u in 0..self.adder.len() {
            if self.adder[u].busy.val() {
                self.counters.increment[9].next = 1.into();
            }
        }
        for c in 10..14 {
            self.counters.increment[c].next = 0.into();
        }
        self.counters.increment[14].next = bit_cast::<17, 1>(self.frame_ok.val().into());
        self.counters.increment[15].next = bit_cast::<17, 1>(self.frame_bad.val().into());
        self.counters.clear.next = self.executor.clear_counters.val();
        self.counters.snapshot_request.next = self.executor.snapshot_request.val();
        self.counters.snapshot_counter.next = self.executor.snapshot_counter.val();
        self.executor.snapshot_ready.next = self.counters.snapshot_ready.val();
        self.executor.snapshot_byte.next = self.counters.snapshot_byte.val();
        self.counters.snapshot_shift.next = self.executor.snapshot_shift.val();
    }
}
