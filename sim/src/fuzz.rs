//! Link fuzzing: a long stream of valid and broken frames into the NPU's
//! UART pins, every answer checked against the device model, and at the
//! end the whole memory read back and compared.
//!
//! Kinds of input (each counted in the report):
//! - valid commands of every kind, with random fields (the model says which
//!   answer is right: OK, OUT_OF_RANGE, BAD_TILE, BAD_PARAM, BAD_BANK), some
//!   sent 3% slow or fast;
//! - unknown opcodes, wrong payload lengths, a length field of 0 or above the
//!   limit, a flipped bit in the payload or CRC;
//! - frames cut short (the device drops them after 40 quiet bit times),
//!   frames cut by a break, random bytes between frames.
//!
//! A hang is an expected answer that does not come within a generous bound;
//! a wrong answer is one with the wrong status or data, or any answer where
//! none is due.

use crate::npu_sim::{NpuPins, NpuSim};
use npu_spec::device_model::DeviceModel;
use npu_spec::protocol::{encode_frame, record_len, Bank, Counters, GemmTile, Info, LinkHealth, Move, Opcode, Place, RecordCommand, Request, Status, TableAdd, IDLE_TIMEOUT_BITS, COUNTER_FIELDS, INFO_FIELDS, MAX_REQUEST_PAYLOAD, SYNC};
use npu_spec::requant::RequantOutput;
use npu_spec::rng::XorShift;
use npu_spec::NpuConfig;
use std::collections::BTreeMap;

/// What a fuzzing run did and found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FuzzReport {
    pub frames: u64,
    /// Inputs by kind ("write", "bad_crc", "truncated", ...).
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Answers by status name.
    pub by_status: BTreeMap<&'static str, u64>,
    pub hangs: u64,
    pub wrong_answers: u64,
    /// Bytes of memory that differ from the model at the end.
    pub memory_mismatches: u64,
    /// Whether STATUS and COUNTERS agree with what was sent.
    pub counters_consistent: bool,
    pub cycles: u64,
    /// The first few problems, described.
    pub problems: Vec<String>,
}

impl FuzzReport {
    pub fn clean(&self) -> bool {
        self.hangs == 0 && self.wrong_answers == 0 && self.memory_mismatches == 0 && self.counters_consistent
    }
}

/// The answer a frame should get.
struct Expect {
    status: Status,
    /// The answer's data, when known exactly.
    data: Option<Vec<u8>>,
    answer_bytes: usize,
    /// Device cycles of work, for the wait bound.
    work: u64,
}

fn expect(status: Status, data: Option<Vec<u8>>, answer_bytes: usize, work: u64) -> Expect {
    Expect { status, data, answer_bytes, work }
}

struct Fuzzer<'a, P: NpuPins> {
    sim: &'a mut NpuSim<P>,
    config: &'a NpuConfig,
    model: DeviceModel,
    rng: XorShift,
    report: FuzzReport,
    ok: u64,
    bad: u64,
    macs: u64,
    tiles: u64,
    /// Programs written whole and not overwritten since: (first byte, records).
    programs: Vec<(u16, u16)>,
}

impl<P: NpuPins> Fuzzer<'_, P> {
    fn problem(&mut self, what: String) {
        if self.report.problems.len() < 10 {
            self.report.problems.push(what);
        }
    }

    /// Cycles to wait for an answer before calling it a hang.
    fn bound(&self, request_bytes: usize, answer_bytes: usize, work: u64) -> u64 {
        ((request_bytes + answer_bytes + 16) as u64 * 10 * self.config.clocks_per_bit()) * 2 + work + 20_000
    }

    /// Sends a frame and checks the answer's status (and data, when given).
    fn exchange(&mut self, kind: &'static str, frame: &[u8], skew: i64, e: Expect) {
        let Expect { status: want, data, answer_bytes, work } = e;
        *self.report.by_kind.entry(kind).or_default() += 1;
        self.sim.send_skewed(frame, skew);
        let bound = self.bound(frame.len(), answer_bytes, work);
        match self.sim.next_frame(bound) {
            None => {
                self.report.hangs += 1;
                self.problem(format!("{kind}: no answer within {bound} cycles"));
                self.sim.idle(2 * IDLE_TIMEOUT_BITS);
                self.sim.drain_line(0);
            }
            Some(Err(e)) => {
                self.report.wrong_answers += 1;
                self.problem(format!("{kind}: a damaged answer ({e})"));
            }
            Some(Ok(p)) => {
                let status = Status::from_u8(p[0]);
                *self.report.by_status.entry(status.map_or("invalid", Status::name)).or_default() += 1;
                if status == Some(Status::Ok) {
                    self.ok += 1;
                } else {
                    self.bad += 1;
                }
                if status != Some(want) {
                    self.report.wrong_answers += 1;
                    self.problem(format!("{kind}: answered {:?}, expected {}", status, want.name()));
                } else if let Some(d) = data {
                    if p[2..] != d[..] {
                        self.report.wrong_answers += 1;
                        let first = p[2..].iter().zip(&d).position(|(a, b)| a != b).unwrap_or(d.len().min(p.len() - 2));
                        self.problem(format!("{kind}: the answer's data differs from the model from byte {first} on ({:02x?} for {:02x?}; request {:02x?})", &p[2 + first..(2 + first + 8).min(p.len())], &d[first..(first + 8).min(d.len())], &frame[..frame.len().min(12)]));
                    }
                }
            }
        }
    }

    /// Sends bytes for which no answer is due, waits until the device must
    /// have dropped them, and checks that nothing came back.
    fn silent(&mut self, kind: &'static str, bytes: &[u8], then_break: bool) {
        *self.report.by_kind.entry(kind).or_default() += 1;
        self.sim.send(bytes);
        if then_break {
            self.sim.send_break(20);
        }
        self.sim.drain_line(IDLE_TIMEOUT_BITS + 10);
        if let Some(f) = self.sim.next_frame(1) {
            self.report.wrong_answers += 1;
            self.problem(format!("{kind}: an answer came where none was due: {f:?}"));
        }
    }

    fn random_bank(&mut self) -> u8 {
        if self.rng.below(20) == 0 {
            6 + self.rng.below(249) as u8
        } else {
            // (TABLE, 5, is no bank without ADD's tables.)
            self.rng.below(6) as u8
        }
    }

    /// A random command's frame with the answer the model gives: (kind,
    /// frame, status, data, answer bytes, work cycles).
    fn command(&mut self) -> (&'static str, Vec<u8>, Expect) {
        let c = self.config;
        let (rows, cols) = (c.array.rows, c.array.cols);
        // (MOVE, where the config builds it; PROGRAM and RUN, where it has
        // program memory.)
        let kinds = if c.memory.mover { 9 } else { 8 };
        let adds = u64::from(c.memory.add_tables > 0);
        let r = self.rng.below(kinds + adds + if c.memory.program_bytes > 0 { 2 } else { 0 });
        if r >= kinds + adds {
            return if r == kinds + adds { self.program_command() } else { self.run_command() };
        }
        if r >= kinds {
            let a = self.random_add();
            let status = self.model.add(&a);
            let work = 6 * u64::from(a.count) * cols as u64 + 200;
            return (if status == Status::Ok { "add" } else { "add_rejected" }, Request::Add(a).frame(), expect(status, None, 0, work));
        }
        match r {
            0 | 1 => {
                let bank = self.random_bank();
                let eb = Bank::from_u8(bank).map_or(4, |b| b.entry_bytes(c));
                let depth = Bank::from_u8(bank).map_or(16, |b| b.depth(c));
                let count = 1 + self.rng.below(((MAX_REQUEST_PAYLOAD - 4) / eb).min(8) as u64) as usize;
                let entry = self.rng.below(depth as u64 + 2) as u16;
                let data = self.rng.bytes(count * eb);
                let status = self.model.write(bank, entry, &data);
                let kind = if status == Status::Ok { "write" } else { "write_rejected" };
                // The model changed only on OK; the bank byte may be no bank.
                let mut payload = vec![Opcode::Write as u8, bank];
                payload.extend_from_slice(&entry.to_le_bytes());
                payload.extend_from_slice(&data);
                (kind, encode_frame(&payload), expect(status, None, 0, 64))
            }
            2 => {
                let bank = self.random_bank();
                let depth = Bank::from_u8(bank).map_or(16, |b| b.depth(c));
                let entry = self.rng.below(depth as u64 + 2) as u16;
                let count = self.rng.below(9) as u16;
                let answer = self.model.read(bank, entry, count);
                let (status, data) = match answer {
                    Ok(d) => (Status::Ok, Some(d)),
                    Err(s) => (s, None),
                };
                let bytes = data.as_ref().map_or(0, Vec::len);
                let mut payload = vec![Opcode::Read as u8, bank];
                payload.extend_from_slice(&entry.to_le_bytes());
                payload.extend_from_slice(&count.to_le_bytes());
                (if status == Status::Ok { "read" } else { "read_rejected" }, encode_frame(&payload), expect(status, data, bytes, 64))
            }
            3 | 4 => {
                let da = c.memory.a_depth as u64;
                let t = GemmTile {
                    a_entry: self.rng.below(da) as u16,
                    b_entry: self.rng.below(c.memory.b_depth as u64) as u16,
                    acc_entry: self.rng.below(c.memory.acc_depth as u64) as u16,
                    m: self.rng.below(rows as u64 + 2) as u8,
                    n: self.rng.below(cols as u64 + 2) as u8,
                    k: 1 + self.rng.below(12) as u16 - u16::from(self.rng.below(30) == 0),
                    accumulate: self.rng.below(2) == 0,
                    tiles: 1 + self.rng.below(3) as u16,
                    a_step: self.rng.below(6) as u16,
                    b_step: self.rng.below(6) as u16,
                    acc_step: self.rng.below(6) as u16,
                };
                let status = self.model.gemm(&t);
                if status == Status::Ok {
                    self.macs += u64::from(t.m) * u64::from(t.n) * u64::from(t.k) * u64::from(t.tiles);
                    self.tiles += u64::from(t.tiles);
                }
                let work = u64::from(t.tiles) * (u64::from(t.k) + 4 * (rows + cols) as u64) + 200;
                (if status == Status::Ok { "gemm" } else { "gemm_rejected" }, Request::Gemm(t).frame(), expect(status, None, 0, work))
            }
            5 => {
                let depth = c.memory.acc_depth as u64;
                let (lo, hi) = (self.rng.next_u64() as i8, self.rng.next_u64() as i8);
                // (Each column's multiplier and shift are whatever the random
                // WRITEs left in BIAS entries 1 and 2.)
                let output = RequantOutput {
                    zero_point: self.rng.next_u64() as i8,
                    min: if self.rng.below(10) == 0 { hi.max(lo) } else { lo.min(hi) },
                    max: if self.rng.below(10) == 0 { hi.min(lo) } else { lo.max(hi) },
                };
                let (src, dst, count) = (self.rng.below(depth + 1) as u16, self.rng.below(depth + 1) as u16, self.rng.below(5) as u16);
                let bias = self.rng.below(2) == 0;
                let status = self.model.requant(src, dst, count, &output, bias);
                let work = u64::from(count) * cols as u64 * 80 + 200;
                (if status == Status::Ok { "requant" } else { "requant_rejected" }, Request::Requant { src, dst, count, output, bias }.frame(), expect(status, None, 0, work))
            }
            6 => ("info", Request::Info.frame(), expect(Status::Ok, Some(Info::of(c).encode()), record_len(INFO_FIELDS), 10)),
            8 => {
                let m = self.random_move();
                let status = self.model.move_bytes(&m);
                let work = 10 * u64::from(m.count) * u64::from(m.runs) + 200;
                (if status == Status::Ok { "move" } else { "move_rejected" }, Request::Move(m).frame(), expect(status, None, 0, work))
            }
            _ => {
                if self.rng.below(2) == 0 {
                    ("status", Request::Status.frame(), expect(Status::Ok, None, 9, 10))
                } else {
                    ("counters", Request::Counters.frame(), expect(Status::Ok, None, record_len(COUNTER_FIELDS), 10))
                }
            }
        }
    }

    /// An ADD, mostly in range (the model decides).
    fn random_add(&mut self) -> TableAdd {
        let c = self.config;
        let tables = c.memory.add_tables as u64;
        let mut table = || if self.rng.below(12) == 0 { tables + self.rng.below(3) } else { self.rng.below(tables) } as u8;
        let (table1, table2) = (table(), table());
        let (acc, b) = (c.memory.acc_depth as u64, c.memory.b_depth as u64);
        let near_end = |rng: &mut XorShift, depth: u64| if rng.below(8) == 0 { depth - rng.below(4) } else { rng.below(depth - 4) } as u16;
        let (src1, src2, dst) = (near_end(&mut self.rng, acc), near_end(&mut self.rng, b), near_end(&mut self.rng, acc));
        TableAdd { src1, src2, dst, count: self.rng.below(5) as u16, table1, table2 }
    }

    /// A command a program may hold, valid or not (the model decides).
    fn random_record(&mut self) -> Vec<u8> {
        let c = self.config;
        if c.memory.add_tables > 0 && self.rng.below(8) == 0 {
            let a = self.random_add();
            return Request::Add(a).record();
        }
        let (rows, cols) = (c.array.rows as u64, c.array.cols as u64);
        match self.rng.below(if c.memory.mover { 16 } else { 13 }) {
            9 => {
                // A WRITE: a few entries of a random bank (a whole number
                // of them, or not).
                let bank = self.random_bank();
                let eb = Bank::from_u8(bank).map_or(4, |b| b.entry_bytes(c));
                let depth = Bank::from_u8(bank).map_or(16, |b| b.depth(c)) as u64;
                let n = (1 + self.rng.below(3) as usize) * eb + usize::from(self.rng.below(12) == 0);
                let mut r = vec![(4 + n) as u8, Opcode::Write as u8, bank];
                r.extend_from_slice(&(self.rng.below(depth + 1) as u16).to_le_bytes());
                r.extend(self.rng.bytes(n));
                r
            }
            0..=3 | 10..=11 => {
                // Mostly in range: a program of refused records runs little.
                let side = |rng: &mut XorShift, n: u64| if rng.below(10) == 0 { n + 1 } else { 1 + rng.below(n) };
                let m = side(&mut self.rng, rows) as u8;
                let n = side(&mut self.rng, cols) as u8;
                Request::Gemm(GemmTile {
                    a_entry: self.rng.below(c.memory.a_depth as u64 / 2) as u16,
                    b_entry: self.rng.below(c.memory.b_depth as u64 / 2) as u16,
                    acc_entry: self.rng.below(c.memory.acc_depth as u64 / 2) as u16,
                    m,
                    n,
                    k: 1 + self.rng.below(8) as u16,
                    accumulate: self.rng.below(2) == 0,
                    tiles: 1 + self.rng.below(2) as u16,
                    a_step: self.rng.below(4) as u16,
                    b_step: self.rng.below(4) as u16,
                    acc_step: self.rng.below(4) as u16,
                })
                .record()
            }
            4..=6 | 12 => {
                let depth = c.memory.acc_depth as u64;
                let (lo, hi) = (self.rng.next_u64() as i8, self.rng.next_u64() as i8);
                let output = RequantOutput { zero_point: self.rng.next_u64() as i8, min: lo.min(hi), max: if self.rng.below(10) == 0 { lo.min(hi) - 1 } else { lo.max(hi) } };
                let (src, dst, count) = (self.rng.below(depth / 2) as u16, self.rng.below(depth / 2 + 1) as u16, self.rng.below(4) as u16);
                Request::Requant { src, dst, count, output, bias: self.rng.below(2) == 0 }.record()
            }
            7 => {
                // Not a record a program may hold: length 0, no such command
                // in a program, or a wrong length.
                match self.rng.below(3) {
                    0 => vec![0],
                    1 => vec![1, [Opcode::Info as u8, Opcode::Write as u8, Opcode::Run as u8, 0x77][self.rng.below(4) as usize]],
                    _ => {
                        let mut r = Request::Gemm(GemmTile { a_entry: 0, b_entry: 0, acc_entry: 0, m: 1, n: 1, k: 1, accumulate: false, tiles: 1, a_step: 0, b_step: 0, acc_step: 0 }).record();
                        r[0] -= 1;
                        r.pop();
                        r
                    }
                }
            }
            8 => Request::Move(Move::run(Bank::A, Place::default(), Bank::B, Place::default(), 1)).record(),
            _ => {
                let m = self.random_move();
                Request::Move(m).record()
            }
        }
    }

    /// PROGRAM: a few records somewhere in the program memory (now and then
    /// none, or past its end), remembered for RUN when written whole.
    fn program_command(&mut self) -> (&'static str, Vec<u8>, Expect) {
        let size = self.config.memory.program_bytes;
        let n = self.rng.below(5);
        let records: Vec<Vec<u8>> = (0..n).map(|_| self.random_record()).collect();
        let data = records.concat();
        let at = if self.rng.below(10) == 0 { size - self.rng.below(8) as usize } else { self.rng.below((size - data.len().min(size)) as u64 + 1) as usize };
        let at = at as u16;
        let status = self.model.program(at, &data);
        if status == Status::Ok {
            let (lo, hi) = (usize::from(at), usize::from(at) + data.len());
            self.programs.retain(|&(a, r)| {
                let end = usize::from(a) + program_len(&self.model.program, a, r);
                end <= lo || usize::from(a) >= hi
            });
            self.programs.push((at, n as u16));
        }
        let frame = Request::Program { at, data }.frame();
        let work = 4 * frame.len() as u64 + 50;
        (if status == Status::Ok { "program" } else { "program_rejected" }, frame, expect(status, None, 0, work))
    }

    /// RUN: a program written whole, all of its records or the first few
    /// (now and then none).
    fn run_command(&mut self) -> (&'static str, Vec<u8>, Expect) {
        let (at, records) = match self.programs.len() {
            0 => (0, 0),
            n => self.programs[self.rng.below(n as u64) as usize],
        };
        let records = if self.rng.below(4) == 0 { self.rng.below(u64::from(records) + 1) as u16 } else { records };
        let before = self.model.program.clone();
        let (status, done) = self.model.run(at, records);
        // The GEMMs that ran, for the counters.
        let mut p = usize::from(at);
        for _ in 0..done {
            let len = usize::from(before[p]);
            if let Ok(RecordCommand::Other(Request::Gemm(t))) = Request::decode_record(&before[p + 1..p + 1 + len]) {
                self.macs += u64::from(t.m) * u64::from(t.n) * u64::from(t.k) * u64::from(t.tiles);
                self.tiles += u64::from(t.tiles);
            }
            p += 1 + len;
        }
        let work = 3_000 * u64::from(records) + 200;
        let kind = if status == Status::Ok { "run" } else { "run_rejected" };
        (kind, Request::Run { at, records }.frame(), expect(status, Some(done.to_le_bytes().to_vec()), 2, work))
    }

    /// A MOVE, mostly between byte banks and inside them, now and then a
    /// bank, a lane or a range the device must refuse.
    fn random_move(&mut self) -> Move {
        let c = self.config;
        let lanes = c.array.rows.min(c.array.cols) as u64;
        let depth = c.memory.a_depth.min(c.memory.b_depth).min(c.memory.acc_depth) as u64;
        let lane = |rng: &mut XorShift| if rng.below(30) == 0 { rng.below(lanes + 2) as u8 } else { rng.below(lanes) as u8 };
        let place = |rng: &mut XorShift, entries: u64| Place::new(rng.below(entries) as u16, lane(rng));
        let rng = &mut self.rng;
        let bank = |rng: &mut XorShift| [0u8, 1, 4][rng.below(3) as usize];
        Move {
            src_bank: if rng.below(20) == 0 { rng.below(6) as u8 } else { bank(rng) },
            dst_bank: if rng.below(20) == 0 { rng.below(6) as u8 } else { rng.below(2) as u8 },
            src: place(rng, depth / 2),
            dst: place(rng, depth / 2),
            count: rng.below(7) as u16,
            runs: rng.below(4) as u16,
            src_step: place(rng, 3),
            src_run: place(rng, 4),
            dst_step: place(rng, 3),
            dst_run: place(rng, 4),
            zeros: rng.below(8) == 0,
        }
    }

    /// A command that will not arrive whole: the model is left as it was
    /// (and the MAC and tile tallies with it).
    fn command_unapplied(&mut self) -> (&'static str, Vec<u8>, Expect) {
        let (model, macs, tiles) = (self.model.clone(), self.macs, self.tiles);
        let out = self.command();
        self.model = model;
        self.macs = macs;
        self.tiles = tiles;
        out
    }

    fn step(&mut self) {
        let roll = self.rng.below(100);
        match roll {
            0..=54 => {
                let (kind, frame, e) = self.command();
                self.exchange(kind, &frame, 0, e);
            }
            55..=59 => {
                let (_, frame, e) = self.command();
                // 3% off at 8 clocks a bit or more; 2% at fewer, where the
                // receiver finds the start edge to a quarter of a bit or
                // worse (it takes 2.5% at 4).
                let per_mille = if self.config.clocks_per_bit() >= 8 { 30 } else { 20 };
                let skew = if self.rng.below(2) == 0 { per_mille } else { -per_mille };
                self.exchange("skewed", &frame, skew, e);
            }
            60..=64 => {
                // (Past the last opcode the config builds: MOVE's with the
                // mover, RUN's with program memory.)
                // (ADD's with tables; those between unknown too.)
                let m = &self.config.memory;
                let first_unknown = if m.add_tables > 0 {
                    Opcode::Add as u8 + 1
                } else if m.program_bytes > 0 {
                    Opcode::Run as u8 + 1
                } else if m.mover {
                    Opcode::Move as u8 + 1
                } else {
                    Opcode::Move as u8
                };
                let between: Vec<u8> = (Opcode::Move as u8..first_unknown).filter(|&o| match Opcode::from_u8(o) {
                    Some(Opcode::Move) => !m.mover,
                    Some(Opcode::Program | Opcode::Run) => m.program_bytes == 0,
                    _ => false,
                }).collect();
                let op = match self.rng.below(3) {
                    0 => 0u8,
                    1 if !between.is_empty() => between[self.rng.below(between.len() as u64) as usize],
                    _ => first_unknown + self.rng.below(u64::from(255 - first_unknown) + 1) as u8,
                };
                let mut payload = vec![op];
                let extra = self.rng.below(8) as usize;
                payload.extend(self.rng.bytes(extra));
                self.exchange("unknown_command", &encode_frame(&payload), 0, expect(Status::UnknownCommand, None, 0, 10));
            }
            65..=69 => {
                let mut ops = vec![Opcode::Info, Opcode::Read, Opcode::Gemm, Opcode::Requant, Opcode::Status, Opcode::Counters, Opcode::ClearCounters];
                if self.config.memory.mover {
                    ops.push(Opcode::Move);
                }
                if self.config.memory.add_tables > 0 {
                    ops.push(Opcode::Add);
                }
                let op = ops[self.rng.below(ops.len() as u64) as usize];
                let right = op.request_len();
                let len = if right > 1 && self.rng.below(2) == 0 { right - 1 - self.rng.below(right as u64 - 1) as usize } else { right + 1 + self.rng.below(6) as usize };
                let mut payload = vec![op as u8];
                payload.extend(self.rng.bytes(len - 1));
                self.exchange("wrong_length", &encode_frame(&payload), 0, expect(Status::BadLength, None, 0, 10));
            }
            70..=77 => {
                let (_, mut frame, _) = self.command_unapplied();
                // Any bit after the length field: payload or CRC.
                let at = 3 + self.rng.below(frame.len() as u64 - 3) as usize;
                frame[at] ^= 1 << self.rng.below(8);
                self.exchange("bad_crc", &frame, 0, expect(Status::BadCrc, None, 0, 10));
            }
            78..=80 => {
                let len = if self.rng.below(4) == 0 { 0u16 } else { MAX_REQUEST_PAYLOAD as u16 + 1 + self.rng.below(60_000) as u16 };
                let mut frame = vec![SYNC];
                frame.extend_from_slice(&len.to_le_bytes());
                self.exchange("bad_length_field", &frame, 0, expect(Status::BadLength, None, 0, 10));
            }
            81..=87 => {
                let (_, frame, _) = self.command_unapplied();
                let cut = 1 + self.rng.below(frame.len() as u64 - 1) as usize;
                self.silent("truncated", &frame[..cut], false);
            }
            88..=92 => {
                let (_, frame, _) = self.command_unapplied();
                let cut = 1 + self.rng.below(frame.len() as u64 - 1) as usize;
                self.silent("break", &frame[..cut], true);
            }
            _ => {
                let n = 1 + self.rng.below(40) as usize;
                let bytes: Vec<u8> = self.rng.bytes(n).into_iter().map(|b| if b == SYNC { 0x5A } else { b }).collect();
                self.silent("garbage", &bytes, false);
            }
        }
        self.report.frames += 1;
    }
}

/// The bytes of `records` records from `at` (as far as they lie in `program`).
fn program_len(program: &[u8], at: u16, records: u16) -> usize {
    let mut p = usize::from(at);
    for _ in 0..records {
        match program.get(p) {
            Some(&len) => p += 1 + usize::from(len),
            None => break,
        }
    }
    p - usize::from(at)
}

/// Runs `frames` inputs from `seed` against the NPU behind `sim`, then reads
/// every bank back. `progress` gets the count every 1000 inputs.
pub fn fuzz<P: NpuPins>(sim: &mut NpuSim<P>, config: &NpuConfig, frames: u64, seed: u64, progress: &mut dyn FnMut(u64)) -> FuzzReport {
    let start = sim.cycles();
    let mut f = Fuzzer { sim, config, model: DeviceModel::new(config), rng: XorShift::new(seed), report: FuzzReport::default(), ok: 0, bad: 0, macs: 0, tiles: 0, programs: vec![] };
    f.exchange("clear_counters", &Request::ClearCounters.frame(), 0, expect(Status::Ok, None, 0, 10));
    let health0 = read_health(&mut f);
    for n in 0..frames {
        f.step();
        if (n + 1) % 1000 == 0 {
            progress(n + 1);
        }
    }
    // The whole memory, read back and compared.
    for bank in Bank::ALL {
        let depth = bank.depth(config);
        let eb = bank.entry_bytes(config);
        let per = (4096 / eb).max(1);
        let mut entry = 0;
        while entry < depth {
            let count = per.min(depth - entry);
            let req = Request::Read { bank, entry: entry as u16, count: count as u16 };
            let want = f.model.read(bank as u8, entry as u16, count as u16).expect("in range");
            f.sim.send(&req.frame());
            let bound = f.bound(8, want.len(), 100);
            match f.sim.next_frame(bound) {
                Some(Ok(p)) if p[0] == Status::Ok as u8 => {
                    f.ok += 1;
                    f.report.memory_mismatches += p[2..].iter().zip(&want).filter(|(a, b)| a != b).count() as u64;
                    f.report.memory_mismatches += want.len().abs_diff(p.len() - 2) as u64;
                }
                other => {
                    f.report.hangs += u64::from(other.is_none());
                    f.problem(format!("reading back {bank:?} from {entry}: {other:?}"));
                    f.report.memory_mismatches += want.len() as u64;
                }
            }
            entry += count;
        }
    }
    // STATUS counts every answer since power-up; COUNTERS the work since the clear.
    let health = read_health(&mut f);
    let counters = f.sim.request(&Request::Counters, f.bound(1, record_len(COUNTER_FIELDS), 10));
    let consistent_health = health.is_some_and(|h| {
        let h0 = health0.unwrap_or_default();
        // A STATUS answer counts the requests before it: the difference
        // covers the first STATUS and everything after, up to the last
        // STATUS (excluded); `ok` also holds the clear and that last STATUS.
        u64::from(h.frames_ok - h0.frames_ok) == f.ok - 2 && u64::from(h.frames_bad - h0.frames_bad) == f.bad
    });
    let consistent_counters = matches!(&counters, Some(Ok(p)) if Counters::decode(&p[2..]).is_some_and(|c| c.macs == f.macs && c.tiles == f.tiles));
    f.report.counters_consistent = consistent_health && consistent_counters;
    if !f.report.counters_consistent {
        let what = format!("counters: STATUS {health:?} vs {} OK / {} errors; COUNTERS {counters:?} vs {} MACs, {} tiles", f.ok, f.bad, f.macs, f.tiles);
        f.problem(what);
    }
    f.report.cycles = f.sim.cycles() - start;
    f.report
}

fn read_health<P: NpuPins>(f: &mut Fuzzer<P>) -> Option<LinkHealth> {
    let bound = f.bound(1, 9, 10);
    match f.sim.request(&Request::Status, bound) {
        Some(Ok(p)) if p[0] == Status::Ok as u8 => {
            f.ok += 1;
            LinkHealth::decode(&p[2..])
        }
        _ => None,
    }
}
