//! The host link: frame format, command set, field layouts and error codes.
//!
//! This module is the one definition of the wire format. The hardware
//! (`npu-hdl`) takes its opcodes, offsets, lengths and codes from here, the
//! host encodes and decodes with the functions here, and `docs/protocol.md`
//! is generated from [`markdown`] (a test fails when the file is stale).
//!
//! All multi-byte fields are little-endian.

use crate::config::NpuConfig;
use crate::requant::RequantOutput;
use std::fmt::Write as _;

/// First byte of every frame.
pub const SYNC: u8 = 0xA5;
/// Version of this format, reported by INFO.
pub const FORMAT_VERSION: u8 = 5;
/// Bytes before the payload: SYNC and the 16-bit payload length.
pub const FRAME_HEAD: usize = 3;
/// Bytes after the payload: the CRC.
pub const FRAME_TAIL: usize = 2;
/// The longest request payload the device buffers (it checks a request's
/// CRC before acting on it, so it must hold the whole request).
pub const MAX_REQUEST_PAYLOAD: usize = 1024;
/// The longest response payload (the length field's range).
pub const MAX_RESPONSE_PAYLOAD: usize = u16::MAX as usize;
/// The device drops a partly received frame after this many bit times of
/// silence, so a frame cut short never swallows the next one.
pub const IDLE_TIMEOUT_BITS: u64 = 40;

/// CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF, no reflection, no
/// final xor) over the two length bytes and the payload.
pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0xFFFF, |crc, &b| crc16_update(crc, b))
}

/// One byte into the CRC, in the byte-wise form the hardware also uses.
pub fn crc16_update(crc: u16, byte: u8) -> u16 {
    let mut x = (crc >> 8) as u8 ^ byte;
    x ^= x >> 4;
    let x = u16::from(x);
    (crc << 8) ^ (x << 12) ^ (x << 5) ^ x
}

/// A whole frame around `payload` (at most [`MAX_RESPONSE_PAYLOAD`] bytes).
pub fn encode_frame(payload: &[u8]) -> Vec<u8> {
    assert!(
        !payload.is_empty() && payload.len() <= MAX_RESPONSE_PAYLOAD,
        "a payload has 1..={MAX_RESPONSE_PAYLOAD} bytes"
    );
    let len = (payload.len() as u16).to_le_bytes();
    let mut frame = Vec::with_capacity(FRAME_HEAD + payload.len() + FRAME_TAIL);
    frame.push(SYNC);
    frame.extend_from_slice(&len);
    frame.extend_from_slice(payload);
    let crc = crc16(&frame[1..]);
    frame.extend_from_slice(&crc.to_le_bytes());
    frame
}

/// Commands. The request payload starts with the opcode; the response
/// payload starts with a [`Status`] and the opcode echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    Info = 0x01,
    Write = 0x02,
    Read = 0x03,
    Gemm = 0x04,
    Requant = 0x05,
    Status = 0x06,
    Counters = 0x07,
    ClearCounters = 0x08,
    Move = 0x09,
    Program = 0x0A,
    Run = 0x0B,
    Add = 0x0C,
}

impl Opcode {
    pub const ALL: [Opcode; 12] = [
        Opcode::Info,
        Opcode::Write,
        Opcode::Read,
        Opcode::Gemm,
        Opcode::Requant,
        Opcode::Status,
        Opcode::Counters,
        Opcode::ClearCounters,
        Opcode::Move,
        Opcode::Program,
        Opcode::Run,
        Opcode::Add,
    ];

    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|o| *o as u8 == v)
    }

    pub fn name(self) -> &'static str {
        match self {
            Opcode::Info => "INFO",
            Opcode::Write => "WRITE",
            Opcode::Read => "READ",
            Opcode::Gemm => "GEMM",
            Opcode::Requant => "REQUANT",
            Opcode::Status => "STATUS",
            Opcode::Counters => "COUNTERS",
            Opcode::ClearCounters => "CLEAR_COUNTERS",
            Opcode::Move => "MOVE",
            Opcode::Program => "PROGRAM",
            Opcode::Run => "RUN",
            Opcode::Add => "ADD",
        }
    }

    /// The request's fields after the opcode.
    pub fn request_fields(self) -> &'static [Field] {
        match self {
            Opcode::Write => WRITE_FIELDS,
            Opcode::Read => READ_FIELDS,
            Opcode::Gemm => GEMM_FIELDS,
            Opcode::Requant => REQUANT_FIELDS,
            Opcode::Move => MOVE_FIELDS,
            Opcode::Program => PROGRAM_FIELDS,
            Opcode::Run => RUN_FIELDS,
            Opcode::Add => ADD_FIELDS,
            _ => &[],
        }
    }

    /// Whether a stored program's record may hold this command (see the
    /// protocol's program semantics): the commands that answer no data.
    pub fn in_program(self) -> bool {
        matches!(self, Opcode::Write | Opcode::Gemm | Opcode::Requant | Opcode::Move | Opcode::Add)
    }

    /// The request payload's length (for WRITE and PROGRAM: without the data).
    pub fn request_len(self) -> usize {
        1 + self.request_fields().iter().map(|f| f.bytes).sum::<usize>()
    }

    fn summary(self) -> &'static str {
        match self {
            Opcode::Info => "Describe the hardware. Answer: the INFO record below.",
            Opcode::Write => "Write whole entries of a bank from the data that follows the fields. Answer: no data.",
            Opcode::Read => "Read `count` entries of a bank. Answer: their bytes.",
            Opcode::Gemm => "Run `tiles` GEMM tiles through the array, the accumulators updated when the answer comes. Answer: no data.",
            Opcode::Requant => "Requantize `count` accumulator entries into OUT entries. Answer: no data.",
            Opcode::Status => "Link health. Answer: the STATUS record below.",
            Opcode::Counters => "The performance counters. Answer: the COUNTERS record below. Each counter is read whole (the device takes it as one snapshot just before its first byte goes out, so no counter tears while a carry crosses its bytes); events reach the counters a few cycles after they happen. Each counter is 40 bits wide (the upper three bytes of its field read 0) and wraps after 2^40 (over 6 hours of cycles at 48 MHz); the difference of two readings modulo 2^40 is what was counted between them.",
            Opcode::ClearCounters => "Zero the performance counters. Answer: no data.",
            Opcode::Program => "Write bytes of the program memory (`memory.program_bytes`, which INFO reports) from the data that follows the fields: records for RUN (see program semantics). The program stays until it is overwritten. Answer: no data.",
            Opcode::Run => "Run `records` records of the program memory, the first at byte `at`, one after the other as if each were a request, and answer once: OK when every record ran OK, else the first failing record's status, after which nothing more runs. Answer: the RUN record below, whatever the status.",
            Opcode::Move => "Copy bytes on chip, from A, B or OUT (or zeros) into A or B, in `runs` runs of `count` bytes each, with strides (see MOVE semantics). Answer: no data.",
            Opcode::Add => "Add two INT8 maps element by element through lookup tables, into the accumulators: the INT32 sums a REQUANT then brings to INT8, as TFLite's ADD does (see ADD semantics). Built with `memory.add_tables` above 0. Answer: no data.",
        }
    }
}

/// The first byte of every response payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Status {
    Ok = 0,
    /// The CRC did not match; nothing was done.
    BadCrc = 1,
    /// The payload length does not fit the command (or exceeds the limit).
    BadLength = 2,
    /// The opcode is not a command.
    UnknownCommand = 3,
    /// The bank number is not a bank.
    BadBank = 4,
    /// An entry range reaches past the end of its bank, or is empty.
    OutOfRange = 5,
    /// A GEMM tile is larger than the array (m, n) or empty (k, tiles).
    BadTile = 6,
    /// A parameter is outside its range (REQUANT: min > max; MOVE: a lane
    /// at or past its bank's lanes).
    BadParam = 7,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Ok,
        Status::BadCrc,
        Status::BadLength,
        Status::UnknownCommand,
        Status::BadBank,
        Status::OutOfRange,
        Status::BadTile,
        Status::BadParam,
    ];

    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as u8 == v)
    }

    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadCrc => "BAD_CRC",
            Status::BadLength => "BAD_LENGTH",
            Status::UnknownCommand => "UNKNOWN_COMMAND",
            Status::BadBank => "BAD_BANK",
            Status::OutOfRange => "OUT_OF_RANGE",
            Status::BadTile => "BAD_TILE",
            Status::BadParam => "BAD_PARAM",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Status::Ok => "done",
            Status::BadCrc => "the CRC did not match; nothing was done",
            Status::BadLength => "the payload length does not fit the command, or is above the limit",
            Status::UnknownCommand => "the opcode is not a command",
            Status::BadBank => "the bank number is not a bank, or a WRITE names ACC or OUT (results: READ them), or a MOVE reads other than A, B, OUT or writes other than A, B, or the bank is TABLE on a device without ADD tables",
            Status::OutOfRange => "an entry range is empty or reaches past the end of its bank",
            Status::BadTile => "a GEMM tile is larger than the array (m, n) or empty (k, tiles)",
            Status::BadParam => "a parameter is out of range: REQUANT's min > max, or a MOVE lane (place or stride) at or past its bank's lanes, or an ADD table at or past `add_tables`",
        }
    }
}

/// On-chip memories, addressed in entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Bank {
    /// A operand: an entry is `rows` INT8, lane i = A[i][k] of step k.
    A = 0,
    /// B operand: an entry is `cols` INT8, lane j = B[k][j] of step k.
    B = 1,
    /// Accumulators: an entry is `cols` INT32, one row of an output tile.
    Acc = 2,
    /// Requantization parameters per column, three entries of `cols` INT32,
    /// lane j for column j: entry 0 the bias, entry 1 the Q31 multiplier
    /// and entry 2 the right shift (bits 0..=4 used).
    Bias = 3,
    /// Requantized outputs: an entry is `cols` INT8, one row of an output tile.
    Out = 4,
    /// ADD's lookup tables: an entry is one INT32; table t is entries
    /// `256 * t ..= 256 * t + 255`, indexed by an INT8's bits as unsigned.
    Table = 5,
}

impl Bank {
    pub const ALL: [Bank; 6] = [Bank::A, Bank::B, Bank::Acc, Bank::Bias, Bank::Out, Bank::Table];

    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|b| *b as u8 == v)
    }

    /// WRITE takes this bank: the operands A and B, the bias and the
    /// tables, not the results ACC and OUT.
    pub fn writable(self) -> bool {
        matches!(self, Bank::A | Bank::B | Bank::Bias | Bank::Table)
    }

    /// Whether a device built from `c` has this bank (TABLE only with
    /// `memory.add_tables`).
    pub fn built(self, c: &NpuConfig) -> bool {
        self != Bank::Table || c.memory.add_tables > 0
    }

    pub fn name(self) -> &'static str {
        match self {
            Bank::A => "A",
            Bank::B => "B",
            Bank::Acc => "ACC",
            Bank::Bias => "BIAS",
            Bank::Out => "OUT",
            Bank::Table => "TABLE",
        }
    }

    /// Bytes in one entry of this bank.
    pub fn entry_bytes(self, c: &NpuConfig) -> usize {
        match self {
            Bank::A => c.array.rows,
            Bank::B | Bank::Out => c.array.cols,
            Bank::Acc | Bank::Bias => 4 * c.array.cols,
            Bank::Table => 4,
        }
    }

    /// Entries in this bank.
    pub fn depth(self, c: &NpuConfig) -> usize {
        match self {
            Bank::A => c.memory.a_depth,
            Bank::B => c.memory.b_depth,
            Bank::Acc | Bank::Out => c.memory.acc_depth,
            Bank::Bias => BIAS_ENTRIES,
            Bank::Table => TABLE_ENTRIES * c.memory.add_tables,
        }
    }
}

/// A field of a request or record: its name, width in bytes and meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub bytes: usize,
    pub doc: &'static str,
}

const fn f(name: &'static str, bytes: usize, doc: &'static str) -> Field {
    Field { name, bytes, doc }
}

pub const WRITE_FIELDS: &[Field] = &[
    f("bank", 1, "bank number: A, B or BIAS"),
    f("entry", 2, "first entry written"),
];
pub const READ_FIELDS: &[Field] = &[
    f("bank", 1, "bank number"),
    f("entry", 2, "first entry read"),
    f("count", 2, "entries to read, at least 1"),
];
pub const GEMM_FIELDS: &[Field] = &[
    f("a_entry", 2, "A entry of step 0 of tile 0"),
    f("b_entry", 2, "B entry of step 0 of tile 0"),
    f("acc_entry", 2, "accumulator entry of output row 0 of tile 0"),
    f("m", 1, "output rows per tile, 1..=rows"),
    f("n", 1, "output columns per tile, 1..=cols (lanes n.. are left alone)"),
    f("k", 2, "steps per tile, at least 1"),
    f("flags", 1, "bit 0: add onto the accumulators instead of overwriting them"),
    f("tiles", 2, "tiles to run back to back, at least 1"),
    f("a_step", 2, "A entries from one tile to the next"),
    f("b_step", 2, "B entries from one tile to the next"),
    f("acc_step", 2, "accumulator entries from one tile to the next"),
];
/// Entries of the BIAS bank: bias, multiplier, shift.
pub const BIAS_ENTRIES: usize = 3;

pub const REQUANT_FIELDS: &[Field] = &[
    f("src", 2, "first accumulator entry"),
    f("dst", 2, "first OUT entry"),
    f("count", 2, "entries, at least 1"),
    f("zero_point", 1, "output zero point (signed)"),
    f("min", 1, "lower clamp (signed)"),
    f("max", 1, "upper clamp (signed), at least min"),
    f("flags", 1, "bit 0: add BIAS entry 0's lane j to column j first"),
];
pub const MOVE_FIELDS: &[Field] = &[
    f("src_bank", 1, "bank read: A, B or OUT (ignored with flags bit 0)"),
    f("dst_bank", 1, "bank written: A or B"),
    f("src_entry", 2, "entry of the first byte read"),
    f("src_lane", 1, "lane of the first byte read, below the bank's lanes"),
    f("dst_entry", 2, "entry of the first byte written"),
    f("dst_lane", 1, "lane of the first byte written, below the bank's lanes"),
    f("count", 2, "bytes in a run, at least 1"),
    f("runs", 2, "runs, at least 1"),
    f("src_step_entry", 2, "read stride from a byte to the next in a run: entries"),
    f("src_step_lane", 1, "... and lanes, below the bank's lanes"),
    f("src_run_entry", 2, "read stride from a run's first byte to the next run's: entries"),
    f("src_run_lane", 1, "... and lanes"),
    f("dst_step_entry", 2, "write stride from a byte to the next in a run: entries"),
    f("dst_step_lane", 1, "... and lanes"),
    f("dst_run_entry", 2, "write stride from a run's first byte to the next run's: entries"),
    f("dst_run_lane", 1, "... and lanes"),
    f("flags", 1, "bit 0: write zeros (the src fields are ignored)"),
];
pub const ADD_FIELDS: &[Field] = &[
    f("src1", 2, "OUT entry of the first input's entry 0"),
    f("src2", 2, "B entry of the second input's entry 0"),
    f("dst", 2, "first accumulator entry written"),
    f("count", 2, "entries, at least 1"),
    f("table1", 1, "the first input's table, below `add_tables`"),
    f("table2", 1, "the second input's table, below `add_tables`"),
];
/// Entries (INT32) of one ADD table: one per INT8 value.
pub const TABLE_ENTRIES: usize = 256;
pub const PROGRAM_FIELDS: &[Field] = &[f("at", 2, "first program byte written")];
pub const RUN_FIELDS: &[Field] = &[
    f("at", 2, "program byte where the first record starts"),
    f("records", 2, "records to run, at least 1"),
];
/// RUN's answer data, sent whatever the status.
pub const RUN_RESULT_FIELDS: &[Field] = &[f("done", 2, "records that ran OK: `records` when the status is OK, else the failing record's index")];
pub const INFO_FIELDS: &[Field] = &[
    f("version", 1, "format version of this protocol"),
    f("rows", 1, "array rows"),
    f("cols", 1, "array columns"),
    f("dataflow", 1, "0 = output-stationary"),
    f("acc_bits", 1, "accumulator width"),
    f("a_depth", 4, "A scratchpad entries"),
    f("b_depth", 4, "B scratchpad entries"),
    f("acc_depth", 4, "accumulator (and OUT) entries"),
    f("core_hz", 4, "core clock in Hz"),
    f("baud", 4, "link baud"),
    f("max_request", 2, "longest request payload in bytes"),
    f("mover", 1, "1 if MOVE is built (`memory.mover`), else 0 (MOVE is then UNKNOWN_COMMAND)"),
    f("program_bytes", 4, "program memory bytes (`memory.program_bytes`); 0: none, and PROGRAM and RUN are UNKNOWN_COMMAND"),
    f("add_tables", 1, "ADD's tables of 256 INT32 (`memory.add_tables`); 0: none, and ADD is UNKNOWN_COMMAND and TABLE no bank"),
];
pub const STATUS_FIELDS: &[Field] = &[
    f("frames_ok", 4, "requests answered OK since power-up"),
    f("frames_bad", 4, "requests answered with an error since power-up"),
    f("last_error", 1, "status code of the last error (0 if none)"),
];
pub const COUNTER_FIELDS: &[Field] = &[
    f("cycles", 8, "clock cycles"),
    f("busy", 8, "cycles spent executing commands (decoding and running them; not sending their answers)"),
    f("mac_cycles", 8, "cycles in which the array took a GEMM step"),
    f("macs", 8, "useful multiply-accumulates (m * n per step)"),
    f("stall", 8, "cycles of GEMM commands in which the array took no step (fill, drain, spacing)"),
    f("bytes_in", 8, "bytes received"),
    f("bytes_out", 8, "bytes sent"),
    f("tiles", 8, "GEMM tiles completed"),
    f("requant_cycles", 8, "cycles the requantizer was busy (REQUANT commands)"),
    f("move_cycles", 8, "cycles of MOVE commands (data moved on chip)"),
];

/// Offset of `name` in a request payload of `op` (the opcode is byte 0).
pub fn request_offset(op: Opcode, name: &str) -> usize {
    offset(op.request_fields(), name) + 1
}

/// Offset of `name` in a record (a response's data).
pub fn offset(fields: &[Field], name: &str) -> usize {
    let mut at = 0;
    for fl in fields {
        if fl.name == name {
            return at;
        }
        at += fl.bytes;
    }
    panic!("no field {name}")
}

/// Total bytes of a record.
pub fn record_len(fields: &[Field]) -> usize {
    fields.iter().map(|f| f.bytes).sum()
}

/// Response payload bytes before the data: status and echoed opcode.
pub const RESPONSE_HEAD: usize = 2;

/// One GEMM command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmTile {
    pub a_entry: u16,
    pub b_entry: u16,
    pub acc_entry: u16,
    pub m: u8,
    pub n: u8,
    pub k: u16,
    pub accumulate: bool,
    pub tiles: u16,
    pub a_step: u16,
    pub b_step: u16,
    pub acc_step: u16,
}

/// A byte's place in a byte bank (A, B, OUT), or a stride between two
/// places: entries and lanes. A stride's lanes carry into its entries, as
/// the byte index `entry * lanes + lane` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Place {
    pub entry: u16,
    pub lane: u8,
}

impl Place {
    pub const fn new(entry: u16, lane: u8) -> Self {
        Self { entry, lane }
    }

    /// The place or stride as a byte index in a bank of `lanes` bytes an entry.
    pub fn index(self, lanes: usize) -> usize {
        usize::from(self.entry) * lanes + usize::from(self.lane)
    }

    /// The place or stride of byte index `index`, if its entry fits 16 bits.
    pub fn of_index(index: usize, lanes: usize) -> Option<Self> {
        Some(Self { entry: u16::try_from(index / lanes).ok()?, lane: (index % lanes) as u8 })
    }
}

/// One MOVE command: byte i of run r goes from `src + r * src_run + i *
/// src_step` to `dst + r * dst_run + i * dst_step`, in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    /// Bank numbers (raw, so that a refused bank can be sent).
    pub src_bank: u8,
    pub dst_bank: u8,
    pub src: Place,
    pub dst: Place,
    pub count: u16,
    pub runs: u16,
    pub src_step: Place,
    pub src_run: Place,
    pub dst_step: Place,
    pub dst_run: Place,
    /// Write zeros; the src fields are ignored.
    pub zeros: bool,
}

impl Move {
    /// `count` bytes in a row, from `src` in `src_bank` to `dst` in `dst_bank`.
    pub fn run(src_bank: Bank, src: Place, dst_bank: Bank, dst: Place, count: u16) -> Self {
        let one = Place::new(0, 1);
        Self { src_bank: src_bank as u8, dst_bank: dst_bank as u8, src, dst, count, runs: 1, src_step: one, src_run: Place::default(), dst_step: one, dst_run: Place::default(), zeros: false }
    }

    /// The device streams it, a byte a cycle: it reads OUT, or B into A,
    /// or nothing (zeros), so that it reads one memory and writes another,
    /// each at its own address. Other MOVEs (inside a scratchpad, or from
    /// A into B) take 4 cycles a byte, 7 with the read data registered.
    /// (Timing only: every MOVE does what the device model does.)
    pub fn streams(&self) -> bool {
        self.zeros || self.src_bank == Bank::Out as u8 || (self.src_bank == Bank::B as u8 && self.dst_bank == Bank::A as u8)
    }
}

/// One ADD command: for entry e < `count` and lane j < cols, ACC[dst + e][j]
/// = TABLE[256 * table1 + OUT[src1 + e][j] as u8] + TABLE[256 * table2 +
/// B[src2 + e][j] as u8], wrapping in INT32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableAdd {
    pub src1: u16,
    pub src2: u16,
    pub dst: u16,
    pub count: u16,
    pub table1: u8,
    pub table2: u8,
}

/// A request, as the host sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Info,
    Write { bank: Bank, entry: u16, data: Vec<u8> },
    Read { bank: Bank, entry: u16, count: u16 },
    Gemm(GemmTile),
    Requant { src: u16, dst: u16, count: u16, output: RequantOutput, bias: bool },
    Status,
    Counters,
    ClearCounters,
    Move(Move),
    Program { at: u16, data: Vec<u8> },
    Add(TableAdd),
    Run { at: u16, records: u16 },
}

impl Request {
    pub fn opcode(&self) -> Opcode {
        match self {
            Request::Info => Opcode::Info,
            Request::Write { .. } => Opcode::Write,
            Request::Read { .. } => Opcode::Read,
            Request::Gemm(_) => Opcode::Gemm,
            Request::Requant { .. } => Opcode::Requant,
            Request::Status => Opcode::Status,
            Request::Counters => Opcode::Counters,
            Request::ClearCounters => Opcode::ClearCounters,
            Request::Move(_) => Opcode::Move,
            Request::Program { .. } => Opcode::Program,
            Request::Run { .. } => Opcode::Run,
            Request::Add(_) => Opcode::Add,
        }
    }

    /// The request payload (fields in the order of the field tables).
    pub fn payload(&self) -> Vec<u8> {
        let mut p = vec![self.opcode() as u8];
        match self {
            Request::Info | Request::Status | Request::Counters | Request::ClearCounters => {}
            Request::Write { bank, entry, data } => {
                p.push(*bank as u8);
                p.extend_from_slice(&entry.to_le_bytes());
                p.extend_from_slice(data);
            }
            Request::Read { bank, entry, count } => {
                p.push(*bank as u8);
                p.extend_from_slice(&entry.to_le_bytes());
                p.extend_from_slice(&count.to_le_bytes());
            }
            Request::Gemm(t) => {
                for v in [t.a_entry, t.b_entry, t.acc_entry] {
                    p.extend_from_slice(&v.to_le_bytes());
                }
                p.push(t.m);
                p.push(t.n);
                p.extend_from_slice(&t.k.to_le_bytes());
                p.push(u8::from(t.accumulate));
                for v in [t.tiles, t.a_step, t.b_step, t.acc_step] {
                    p.extend_from_slice(&v.to_le_bytes());
                }
            }
            Request::Requant { src, dst, count, output, bias } => {
                for v in [src, dst, count] {
                    p.extend_from_slice(&v.to_le_bytes());
                }
                p.push(output.zero_point as u8);
                p.push(output.min as u8);
                p.push(output.max as u8);
                p.push(u8::from(*bias));
            }
            Request::Move(m) => {
                p.push(m.src_bank);
                p.push(m.dst_bank);
                let place = |p: &mut Vec<u8>, at: Place| {
                    p.extend_from_slice(&at.entry.to_le_bytes());
                    p.push(at.lane);
                };
                place(&mut p, m.src);
                place(&mut p, m.dst);
                p.extend_from_slice(&m.count.to_le_bytes());
                p.extend_from_slice(&m.runs.to_le_bytes());
                for at in [m.src_step, m.src_run, m.dst_step, m.dst_run] {
                    place(&mut p, at);
                }
                p.push(u8::from(m.zeros));
            }
            Request::Program { at, data } => {
                p.extend_from_slice(&at.to_le_bytes());
                p.extend_from_slice(data);
            }
            Request::Run { at, records } => {
                p.extend_from_slice(&at.to_le_bytes());
                p.extend_from_slice(&records.to_le_bytes());
            }
            Request::Add(a) => {
                for v in [a.src1, a.src2, a.dst, a.count] {
                    p.extend_from_slice(&v.to_le_bytes());
                }
                p.push(a.table1);
                p.push(a.table2);
            }
        }
        p
    }

    /// A program record's payload as a command: WRITE (its bank raw, and
    /// its data, which WRITE's own checks judge), GEMM, REQUANT or MOVE of
    /// the exact length; else the status the device answers (see program
    /// semantics: UNKNOWN_COMMAND for another opcode, BAD_LENGTH for a
    /// length that does not fit).
    pub fn decode_record(p: &[u8]) -> Result<RecordCommand, Status> {
        let op = p.first().and_then(|&b| Opcode::from_u8(b)).filter(|o| o.in_program()).ok_or(Status::UnknownCommand)?;
        if op == Opcode::Write {
            if p.len() <= op.request_len() {
                return Err(Status::BadLength);
            }
            return Ok(RecordCommand::Write { bank: p[1], entry: u16::from_le_bytes([p[2], p[3]]), data: p[4..].to_vec() });
        }
        if p.len() != op.request_len() {
            return Err(Status::BadLength);
        }
        let u16_at = |o: usize| u16::from_le_bytes([p[o], p[o + 1]]);
        let place_at = |o: usize| Place::new(u16_at(o), p[o + 2]);
        Ok(RecordCommand::Other(match op {
            Opcode::Gemm => Request::Gemm(GemmTile {
                a_entry: u16_at(1),
                b_entry: u16_at(3),
                acc_entry: u16_at(5),
                m: p[7],
                n: p[8],
                k: u16_at(9),
                accumulate: p[11] & 1 != 0,
                tiles: u16_at(12),
                a_step: u16_at(14),
                b_step: u16_at(16),
                acc_step: u16_at(18),
            }),
            Opcode::Requant => Request::Requant {
                src: u16_at(1),
                dst: u16_at(3),
                count: u16_at(5),
                output: RequantOutput { zero_point: p[7] as i8, min: p[8] as i8, max: p[9] as i8 },
                bias: p[10] & 1 != 0,
            },
            Opcode::Add => Request::Add(TableAdd { src1: u16_at(1), src2: u16_at(3), dst: u16_at(5), count: u16_at(7), table1: p[9], table2: p[10] }),
            _ => Request::Move(Move {
                src_bank: p[1],
                dst_bank: p[2],
                src: place_at(3),
                dst: place_at(6),
                count: u16_at(9),
                runs: u16_at(11),
                src_step: place_at(13),
                src_run: place_at(16),
                dst_step: place_at(19),
                dst_run: place_at(22),
                zeros: p[25] & 1 != 0,
            }),
        }))
    }

    /// This command as a program record: its length byte, then its payload.
    pub fn record(&self) -> Vec<u8> {
        let p = self.payload();
        assert!(self.opcode().in_program() && p.len() <= u8::MAX as usize, "only WRITE, GEMM, REQUANT, MOVE and ADD of at most 255 bytes are records");
        let mut r = vec![p.len() as u8];
        r.extend_from_slice(&p);
        r
    }

    /// The whole frame.
    pub fn frame(&self) -> Vec<u8> {
        encode_frame(&self.payload())
    }
}

/// A program record's command, as the device takes it: a WRITE with its
/// bank byte as sent (a bank number or not), or a GEMM, REQUANT or MOVE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordCommand {
    Write { bank: u8, entry: u16, data: Vec<u8> },
    Other(Request),
}

/// The hardware description INFO answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub version: u8,
    pub rows: usize,
    pub cols: usize,
    pub dataflow: u8,
    pub acc_bits: u8,
    pub a_depth: usize,
    pub b_depth: usize,
    pub acc_depth: usize,
    pub core_hz: u64,
    pub baud: u32,
    pub max_request: usize,
    pub mover: bool,
    pub program_bytes: usize,
    pub add_tables: usize,
}

impl Info {
    /// What a device built from `c` reports.
    pub fn of(c: &NpuConfig) -> Self {
        Self {
            version: FORMAT_VERSION,
            rows: c.array.rows,
            cols: c.array.cols,
            dataflow: 0,
            acc_bits: c.array.acc_bits as u8,
            a_depth: c.memory.a_depth,
            b_depth: c.memory.b_depth,
            acc_depth: c.memory.acc_depth,
            core_hz: c.clock.core_hz,
            baud: c.link.baud,
            max_request: MAX_REQUEST_PAYLOAD,
            mover: c.memory.mover,
            program_bytes: c.memory.program_bytes,
            add_tables: c.memory.add_tables,
        }
    }

    /// The record's bytes, laid out as [`INFO_FIELDS`].
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.version, self.rows as u8, self.cols as u8, self.dataflow, self.acc_bits];
        for x in [self.a_depth as u32, self.b_depth as u32, self.acc_depth as u32, self.core_hz as u32, self.baud] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(&(self.max_request as u16).to_le_bytes());
        v.push(u8::from(self.mover));
        v.extend_from_slice(&(self.program_bytes as u32).to_le_bytes());
        v.push(self.add_tables as u8);
        debug_assert_eq!(v.len(), record_len(INFO_FIELDS));
        v
    }

    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != record_len(INFO_FIELDS) {
            return None;
        }
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Some(Self {
            version: b[0],
            rows: b[1].into(),
            cols: b[2].into(),
            dataflow: b[3],
            acc_bits: b[4],
            a_depth: u32_at(5) as usize,
            b_depth: u32_at(9) as usize,
            acc_depth: u32_at(13) as usize,
            core_hz: u32_at(17).into(),
            baud: u32_at(21),
            max_request: u16::from_le_bytes([b[25], b[26]]).into(),
            mover: b[27] != 0,
            program_bytes: u32_at(28) as usize,
            add_tables: b[32].into(),
        })
    }
}

/// The performance counters, in [`COUNTER_FIELDS`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub cycles: u64,
    pub busy: u64,
    pub mac_cycles: u64,
    pub macs: u64,
    pub stall: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub tiles: u64,
    pub requant_cycles: u64,
    pub move_cycles: u64,
}

/// Width of each COUNTERS counter in the device: it wraps after
/// 2^COUNTER_BITS, and its field's bytes above read 0.
pub const COUNTER_BITS: usize = 40;

impl Counters {
    /// What was counted between `before` and `self`, modulo
    /// 2^[`COUNTER_BITS`], as the device's counters wrap.
    pub fn since(&self, before: &Counters) -> Counters {
        let d = |after: u64, before: u64| after.wrapping_sub(before) & ((1u64 << COUNTER_BITS) - 1);
        Counters {
            cycles: d(self.cycles, before.cycles),
            busy: d(self.busy, before.busy),
            mac_cycles: d(self.mac_cycles, before.mac_cycles),
            macs: d(self.macs, before.macs),
            stall: d(self.stall, before.stall),
            bytes_in: d(self.bytes_in, before.bytes_in),
            bytes_out: d(self.bytes_out, before.bytes_out),
            tiles: d(self.tiles, before.tiles),
            requant_cycles: d(self.requant_cycles, before.requant_cycles),
            move_cycles: d(self.move_cycles, before.move_cycles),
        }
    }

    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != record_len(COUNTER_FIELDS) {
            return None;
        }
        let v: Vec<u64> = b.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
        Some(Self {
            cycles: v[0],
            busy: v[1],
            mac_cycles: v[2],
            macs: v[3],
            stall: v[4],
            bytes_in: v[5],
            bytes_out: v[6],
            tiles: v[7],
            requant_cycles: v[8],
            move_cycles: v[9],
        })
    }
}

/// The STATUS record: the link's health, in [`STATUS_FIELDS`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkHealth {
    pub frames_ok: u32,
    pub frames_bad: u32,
    /// The last error's status code (0: none yet).
    pub last_error: u8,
}

impl LinkHealth {
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != record_len(STATUS_FIELDS) {
            return None;
        }
        Some(Self {
            frames_ok: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            frames_bad: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            last_error: b[8],
        })
    }
}

/// What went wrong with bytes that should have been a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {0} is outside the lengths expected")]
    BadLength(usize),
    #[error("frame CRC {got:#06x} does not match the computed {want:#06x}")]
    BadCrc { got: u16, want: u16 },
}

/// A stream decoder for frames: bytes in, payloads out. Anything before a
/// SYNC byte is skipped; a frame with a bad length or CRC is reported and the
/// search for the next SYNC resumes with the byte after the bad frame's SYNC,
/// so a frame hidden inside garbage is still found.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// The longest payload accepted; a longer length field is garbage.
    max_payload: usize,
    /// Garbage bytes skipped so far.
    pub skipped: u64,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder for payloads of any length.
    pub fn new() -> Self {
        Self::with_max_payload(MAX_RESPONSE_PAYLOAD)
    }

    /// A decoder that treats a length above `max_payload` as garbage, so a
    /// SYNC in noise cannot make it wait for a long frame that never comes.
    pub fn with_max_payload(max_payload: usize) -> Self {
        Self { buf: vec![], max_payload: max_payload.clamp(1, MAX_RESPONSE_PAYLOAD), skipped: 0 }
    }

    /// Adds bytes; returns every frame (or framing error) they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
        self.buf.extend_from_slice(bytes);
        let mut out = vec![];
        loop {
            let Some(start) = self.buf.iter().position(|&b| b == SYNC) else {
                self.skipped += self.buf.len() as u64;
                self.buf.clear();
                break;
            };
            self.skipped += start as u64;
            self.buf.drain(..start);
            if self.buf.len() < FRAME_HEAD {
                break;
            }
            let len = usize::from(u16::from_le_bytes([self.buf[1], self.buf[2]]));
            if len == 0 || len > self.max_payload {
                out.push(Err(FrameError::BadLength(len)));
                self.buf.drain(..1);
                self.skipped += 1;
                continue;
            }
            let total = FRAME_HEAD + len + FRAME_TAIL;
            if self.buf.len() < total {
                break;
            }
            let want = crc16(&self.buf[1..FRAME_HEAD + len]);
            let got = u16::from_le_bytes([self.buf[total - 2], self.buf[total - 1]]);
            if got == want {
                out.push(Ok(self.buf[FRAME_HEAD..FRAME_HEAD + len].to_vec()));
                self.buf.drain(..total);
            } else {
                out.push(Err(FrameError::BadCrc { got, want }));
                self.buf.drain(..1);
                self.skipped += 1;
            }
        }
        out
    }

    /// Bytes held while waiting for the rest of a frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Drops a partly received frame (after a time-out).
    pub fn reset(&mut self) {
        self.skipped += self.buf.len() as u64;
        self.buf.clear();
    }
}

fn field_table(out: &mut String, fields: &[Field], first_offset: usize) {
    out.push_str("| offset | field | bytes | meaning |\n|---|---|---|---|\n");
    let mut at = first_offset;
    for fl in fields {
        let _ = writeln!(out, "| {at} | `{}` | {} | {} |", fl.name, fl.bytes, fl.doc);
        at += fl.bytes;
    }
}

/// `docs/protocol.md`, generated from the definitions above.
pub fn markdown() -> String {
    let mut s = String::new();
    s.push_str("# The npu link protocol\n\n");
    s.push_str("Generated from `spec/src/protocol.rs` (`UPDATE_DOCS=1 cargo test -p npu-spec protocol` rewrites it); the hardware and the host both use that file.\n\n");
    let _ = writeln!(s, "Format version {FORMAT_VERSION}. UART 8N1 at the configured baud. All multi-byte fields are little-endian, the CRC included (low byte first).\n");
    s.push_str("## Frames\n\nRequests and responses are framed alike:\n\n");
    s.push_str("| bytes | field | meaning |\n|---|---|---|\n");
    let _ = writeln!(s, "| 1 | `sync` | {SYNC:#04X} |");
    s.push_str("| 2 | `len` | payload bytes, at least 1 |\n| len | `payload` | request or response |\n");
    s.push_str("| 2 | `crc` | CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF, no reflection, no final xor) over `len` and `payload` |\n\n");
    let _ = writeln!(
        s,
        "A request payload is at most {MAX_REQUEST_PAYLOAD} bytes: the device holds a whole request and checks its CRC before acting, so a damaged request changes nothing. \
         Bytes outside a frame are skipped until the next `sync`. A frame that stops arriving is dropped after {IDLE_TIMEOUT_BITS} bit times of silence, so it never swallows the next one. \
         A request whose `len` is 0 or above the limit is skipped whole: its `len` payload bytes and 2 CRC bytes are counted off the line and dropped, so nothing inside it is taken for a frame, and it is answered BAD_LENGTH once, with opcode byte 0x00 (no opcode was taken). \
         If such a frame stops short (or is cut by a break), its answer comes after the {IDLE_TIMEOUT_BITS} bit times of silence instead.\n"
    );
    let _ = writeln!(
        s,
        "Every request, a frame whose `len` arrived and that did not stop short, is answered by exactly one response frame whose payload starts with a status byte and the request's opcode (for BAD_CRC, the first payload byte as received; for BAD_LENGTH of the frame's `len`, 0x00), {RESPONSE_HEAD} bytes, then the command's data when the status is OK. \
         The device executes one request at a time, in the order they arrived, and holds **one request ahead**: it has two frame buffers, so a request sent while the one before it is executing or being answered is received in full and executed after that answer. A host may therefore keep one request in flight beyond the answer it awaits: send request *n + 1* right after request *n*, and request *n + 2* once the answer to *n* is in. The line to the device then carries the next request while the device computes and answers this one (a READ's answer and the next WRITE cross on the full-duplex line). A request that arrives while both buffers are taken (one executing, one waiting) is dropped whole, without an answer: its bytes are skipped, `sync` included, so never send more than one request ahead. `npu`'s driver runs a GEMM this way (`Link::pipeline` in `host/src/link.rs`); a request ahead that was sent before a failed one still runs, so the driver waits for its answer too before it reports the failure. \
         A response payload is at most {MAX_RESPONSE_PAYLOAD} bytes (its `len` has 2 bytes): a READ whose data would not fit is answered BAD_LENGTH. \
         Field offsets in the tables below count from the payload's first byte, the opcode at offset 0, not from `sync`.\n"
    );
    s.push_str("## Status codes\n\n| code | name | meaning |\n|---|---|---|\n");
    for st in Status::ALL {
        let _ = writeln!(s, "| {} | {} | {} |", st as u8, st.name(), st.meaning());
    }
    s.push_str("\nAn answer other than OK means the command changed nothing. A WRITE with no data is BAD_LENGTH (its length does not fit the command); a READ or REQUANT with `count` 0 is OUT_OF_RANGE (an empty range).\n\n## Banks\n\nMemories are addressed in entries; WRITE and READ move whole entries, lane 0 first, INT32 lanes little-endian. WRITE takes the operand banks A, B and BIAS, and TABLE; ACC and OUT hold results, which the engine and the requantizer write and the link only reads (a WRITE to them is BAD_BANK: leaving their write ports to one writer each saves the UP5K about 190 logic cells).\n\n");
    s.push_str("| number | bank | entry | entries |\n|---|---|---|---|\n");
    let entry_doc = |b: Bank| match b {
        Bank::A => ("`rows` INT8: lane i is A[i][k] of step k", "`memory.a_depth`"),
        Bank::B => ("`cols` INT8: lane j is B[k][j] of step k", "`memory.b_depth`"),
        Bank::Acc => ("`cols` INT32: one row of an output tile", "`memory.acc_depth`"),
        Bank::Bias => ("`cols` INT32, lane j for column j: entry 0 its bias, entry 1 its multiplier, entry 2 its shift (REQUANT uses bits 0..=4)", "3"),
        Bank::Out => ("`cols` INT8: one requantized output row", "`memory.acc_depth`"),
        Bank::Table => ("one INT32: table t is entries 256 t to 256 t + 255, indexed by an INT8's bits read unsigned (ADD's lookups)", "256 x `memory.add_tables` (none without: BAD_BANK)"),
    };
    for b in Bank::ALL {
        let (e, d) = entry_doc(b);
        let _ = writeln!(s, "| {} | {} | {e} | {d} |", b as u8, b.name());
    }
    s.push_str("\n## Commands\n\n");
    for op in Opcode::ALL {
        let _ = writeln!(s, "### {} ({:#04x})\n\n{}\n", op.name(), op as u8, op.summary());
        if op.request_fields().is_empty() {
            s.push_str("Request: the opcode alone.\n\n");
        } else {
            s.push_str("Request (offset 0 is the opcode):\n\n");
            field_table(&mut s, op.request_fields(), 1);
            if op == Opcode::Write {
                let _ = writeln!(s, "| {} | `data` | len - {} | whole entries of the bank |", op.request_len(), op.request_len());
            }
            if op == Opcode::Program {
                let _ = writeln!(s, "| {} | `data` | len - {} | program bytes, at least 1 |", op.request_len(), op.request_len());
            }
            s.push('\n');
        }
        let record = match op {
            Opcode::Info => Some(INFO_FIELDS),
            Opcode::Status => Some(STATUS_FIELDS),
            Opcode::Counters => Some(COUNTER_FIELDS),
            Opcode::Run => Some(RUN_RESULT_FIELDS),
            _ => None,
        };
        if let Some(fields) = record {
            let _ = writeln!(s, "Answer data (after the {RESPONSE_HEAD} head bytes):\n");
            field_table(&mut s, fields, RESPONSE_HEAD);
            s.push('\n');
        }
    }
    s.push_str("### GEMM semantics\n\nTile t (0-based) uses A entries `a_entry + t*a_step + kk` and B entries `b_entry + t*b_step + kk` for kk in 0..k, and writes output row i (i < m) of the tile to lanes 0..n of accumulator entry `acc_entry + t*acc_step + i`: C[i][j] = sum over kk of A-lane i times B-lane j, INT8 x INT8 summed in INT32 with wrap, added to the entry's old value when `flags` bit 0 is set. Every range of every tile is checked before the first step; a bad one is answered OUT_OF_RANGE and nothing runs.\n\n");
    s.push_str("### REQUANT semantics\n\nFor each entry e < count and lane j: OUT[dst+e][j] = requantize(ACC[src+e][j] + (bias ? BIAS[0][j] : 0)) with the gemmlowp rules: saturating rounding doubling high multiply by lane j's multiplier BIAS[1][j], rounding divide by 2^(BIAS[2][j] & 31), add `zero_point`, clamp to [`min`, `max`]. Every column has its own multiplier and shift, as TFLite's per-channel weights need; a per-tensor scale is the same value in every lane. The bias add wraps in INT32 (as the accumulators do); the zero-point add saturates (it is done wider, before the clamp).\n");
    s.push_str("\n### MOVE semantics\n\nA byte bank of L bytes an entry (A: L = `rows`; B and OUT: L = `cols`) is a row of bytes, byte `entry * L + lane`; a place (`entry`, `lane`) and a stride (`*_entry`, `*_lane`) both name such an index, with the lane below L. For run r < `runs` and byte i < `count`, in that order, one byte at a time: dst[`dst` + r * `dst_run` + i * `dst_step`] = src[`src` + r * `src_run` + i * `src_step`] (or 0 with flags bit 0). A byte written earlier in the same MOVE is read as written, so overlapping ranges copy as the loop says. Strides are unsigned, so the last byte of the last run is the farthest: it must lie inside its bank, else OUT_OF_RANGE and nothing moves. Checked in this order: the banks (BAD_BANK), the lanes (BAD_PARAM), `count` or `runs` 0 (OUT_OF_RANGE), the range (OUT_OF_RANGE). This is what places a layer's INT8 output (OUT) where the next GEMM reads it, a transposed placement included (a stride of one entry), and builds a convolution's im2col operand from a feature map (a run a kernel row, a stride a pixel); zeros make the padding.\n");
    s.push_str("\n### ADD semantics\n\nTFLite's int8 ADD rescales each input on its own, and each rescaled value depends on that one INT8 alone: a table of 256 INT32 holds all of them. For each entry e < `count` and lane j < `cols`: ACC[`dst` + e][j] = TABLE[256 `table1` + u] + TABLE[256 `table2` + v], where u and v are the bits of OUT[`src1` + e][j] and B[`src2` + e][j] read as unsigned, the sum wrapping in INT32. A REQUANT of those entries with BIAS entries 1 and 2 holding the output's scale then gives the ADD's INT8 output (its rescale, zero point and clamp are gemmlowp's, as for a GEMM). Checked in this order: a table at or past `add_tables` (BAD_PARAM), `count` 0 (OUT_OF_RANGE), a range past its bank's end (OUT_OF_RANGE). The first input is where a layer's REQUANT left it; MOVE places the second in B.\n");
    s.push_str("\n### Program semantics\n\nWith `memory.program_bytes` above 0 (INFO's `program_bytes`) the device keeps a program: a byte memory that PROGRAM writes and RUN reads, unchanged by anything else until PROGRAM overwrites it (it is not cleared at power-up: write before you run). A program is a list of records, each its payload's length in one byte (1..=255) followed by a request payload, opcode first, exactly as it would be sent in a frame. Only WRITE, GEMM, REQUANT, MOVE and ADD, the commands that answer no data, may be records (a WRITE's data is read from the record). RUN runs `records` records from byte `at` on, each as if it were a request: it is checked and runs, or is refused and changes nothing, with the same codes. RUN stops at the first record that is not OK and answers that status; the records before it have run. Each record is checked in this order: its length byte 0 (BAD_LENGTH), the record reaching past the program memory (OUT_OF_RANGE), an opcode other than WRITE, GEMM, REQUANT, MOVE or ADD (UNKNOWN_COMMAND), then the command's own checks. RUN with `records` 0 is OUT_OF_RANGE; PROGRAM with no data is BAD_LENGTH, and one whose bytes reach past the program memory is OUT_OF_RANGE (nothing is written). Either answer counts once in STATUS's frame counts, however many records ran. So a network's commands cross the link once: the host writes them as a program and then sends only the input, a RUN (10 bytes) and a READ of the output for each inference.\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_since_wraps_at_the_counters_width() {
        let before = Counters { cycles: (1 << COUNTER_BITS) - 3, macs: 5, ..Default::default() };
        let after = Counters { cycles: 4, macs: 12, ..Default::default() };
        let d = after.since(&before);
        assert_eq!((d.cycles, d.macs, d.tiles), (7, 7, 0));
    }

    #[test]
    fn crc_is_ccitt_false() {
        // The standard check value of CRC-16/CCITT-FALSE.
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn frames_round_trip_through_garbage() {
        let a = Request::Info.frame();
        let b = Request::Read { bank: Bank::Acc, entry: 3, count: 2 }.frame();
        let mut stream = vec![0x00, SYNC, 0xFF, 0x13];
        stream.extend_from_slice(&a);
        stream.extend_from_slice(&[SYNC, SYNC]);
        stream.extend_from_slice(&b);
        let mut d = FrameDecoder::with_max_payload(64);
        let mut good = vec![];
        for byte in stream {
            good.extend(d.push(&[byte]).into_iter().flatten());
        }
        assert_eq!(good, vec![Request::Info.payload(), Request::Read { bank: Bank::Acc, entry: 3, count: 2 }.payload()]);
    }

    #[test]
    fn a_short_bogus_frame_does_not_hide_the_next() {
        // A SYNC in garbage with a small length swallows the next frame's
        // first bytes as its CRC; the decoder resumes after the bogus SYNC.
        let mut stream = vec![0x00, SYNC, 0x01, 0x00, 0x13];
        stream.extend_from_slice(&Request::Status.frame());
        let got: Vec<_> = FrameDecoder::new().push(&stream).into_iter().filter_map(Result::ok).collect();
        assert_eq!(got, vec![Request::Status.payload()]);
    }

    #[test]
    fn a_flipped_bit_is_a_crc_error() {
        let mut f = Request::Status.frame();
        f[3] ^= 0x10;
        let r = FrameDecoder::new().push(&f);
        assert!(matches!(r[0], Err(FrameError::BadCrc { .. })), "{r:?}");
    }

    #[test]
    fn layouts_match_the_encoders() {
        let g = GemmTile { a_entry: 1, b_entry: 2, acc_entry: 3, m: 4, n: 5, k: 6, accumulate: true, tiles: 7, a_step: 8, b_step: 9, acc_step: 10 };
        let p = Request::Gemm(g).payload();
        assert_eq!(p.len(), Opcode::Gemm.request_len());
        assert_eq!(p[request_offset(Opcode::Gemm, "m")], 4);
        assert_eq!(p[request_offset(Opcode::Gemm, "n")], 5);
        assert_eq!(p[request_offset(Opcode::Gemm, "tiles")], 7);
        assert_eq!(p[request_offset(Opcode::Gemm, "acc_step")], 10);
        let output = RequantOutput { zero_point: -3, min: -4, max: 5 };
        let p = Request::Requant { src: 1, dst: 2, count: 3, output, bias: true }.payload();
        assert_eq!(p.len(), Opcode::Requant.request_len());
        assert_eq!(p[request_offset(Opcode::Requant, "zero_point")], 0xFD);
        assert_eq!(p[request_offset(Opcode::Requant, "max")], 5);
        assert_eq!(p[request_offset(Opcode::Requant, "flags")], 1);
        let p = Request::Read { bank: Bank::B, entry: 0x1234, count: 9 }.payload();
        assert_eq!(p.len(), Opcode::Read.request_len());
        assert_eq!(p[request_offset(Opcode::Read, "entry")], 0x34);
        let m = Move {
            src_bank: 4, dst_bank: 1, src: Place::new(0x0201, 3), dst: Place::new(0x0504, 6), count: 0x0807, runs: 0x0A09,
            src_step: Place::new(0x0C0B, 0x0D), src_run: Place::new(0x0F0E, 0x10), dst_step: Place::new(0x1211, 0x13), dst_run: Place::new(0x1514, 0x16), zeros: true,
        };
        let p = Request::Move(m).payload();
        assert_eq!(p.len(), Opcode::Move.request_len());
        assert_eq!(p[1..], [4, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xA, 0xB, 0xC, 0xD, 0xE, 0xF, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 1]);
        assert_eq!(request_offset(Opcode::Move, "flags"), 25);
        let a = TableAdd { src1: 0x0201, src2: 0x0403, dst: 0x0605, count: 0x0807, table1: 9, table2: 10 };
        let p = Request::Add(a).payload();
        assert_eq!(p.len(), Opcode::Add.request_len());
        assert_eq!(p[1..], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(Request::decode_record(&p), Ok(RecordCommand::Other(Request::Add(a))));
    }

    #[test]
    fn info_round_trips() {
        let i = Info::of(&NpuConfig::default());
        assert_eq!(Info::decode(&i.encode()), Some(i));
    }

    #[test]
    fn records_round_trip_and_refuse_what_a_program_cannot_hold() {
        let g = GemmTile { a_entry: 1, b_entry: 2, acc_entry: 3, m: 4, n: 5, k: 6, accumulate: true, tiles: 7, a_step: 8, b_step: 9, acc_step: 10 };
        let output = RequantOutput { zero_point: -3, min: -4, max: 5 };
        let m = Move {
            src_bank: 4, dst_bank: 1, src: Place::new(0x0201, 3), dst: Place::new(0x0504, 6), count: 0x0807, runs: 0x0A09,
            src_step: Place::new(0x0C0B, 0x0D), src_run: Place::new(0x0F0E, 0x10), dst_step: Place::new(0x1211, 0x13), dst_run: Place::new(0x1514, 0x16), zeros: true,
        };
        for r in [Request::Gemm(g), Request::Requant { src: 1, dst: 2, count: 3, output, bias: true }, Request::Move(m)] {
            let record = r.record();
            assert_eq!(usize::from(record[0]), record.len() - 1);
            assert_eq!(Request::decode_record(&record[1..]), Ok(RecordCommand::Other(r)));
        }
        let w = Request::Write { bank: Bank::Bias, entry: 1, data: vec![7; 8] };
        assert_eq!(Request::decode_record(&w.record()[1..]), Ok(RecordCommand::Write { bank: 3, entry: 1, data: vec![7; 8] }));
        assert_eq!(Request::decode_record(&[Opcode::Write as u8, 0, 0, 0]), Err(Status::BadLength));
        assert_eq!(Request::decode_record(&Request::Info.payload()), Err(Status::UnknownCommand));
        assert_eq!(Request::decode_record(&[]), Err(Status::UnknownCommand));
        let mut long = Request::Gemm(g).payload();
        long.push(0);
        assert_eq!(Request::decode_record(&long), Err(Status::BadLength));
        assert_eq!(Request::Run { at: 0x0201, records: 0x0403 }.payload(), [Opcode::Run as u8, 1, 2, 3, 4]);
        assert_eq!(Request::Program { at: 0x0201, data: vec![9] }.payload(), [Opcode::Program as u8, 1, 2, 9]);
    }

    #[test]
    fn docs_are_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
        let want = markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(have == want, "docs/protocol.md is stale: run `UPDATE_DOCS=1 cargo test -p npu-spec protocol`");
    }
}
