//! The device's memories and commands as plain Rust: the reference the
//! hardware's GEMM and REQUANT commands are tested against, and the host's
//! shadow copy when it checks that a command changed nothing else.

use crate::config::NpuConfig;
use crate::protocol::{Bank, GemmTile, Move, Place, RecordCommand, Request, Status, TableAdd, BIAS_ENTRIES, MAX_REQUEST_PAYLOAD, RESPONSE_HEAD, TABLE_ENTRIES};
use crate::requant::{requantize, RequantOutput, RequantParams};

/// Every bank, entry by entry, lane by lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceModel {
    pub rows: usize,
    pub cols: usize,
    pub a: Vec<Vec<i8>>,
    pub b: Vec<Vec<i8>>,
    pub acc: Vec<Vec<i32>>,
    /// BIAS entry 0: each column's bias.
    pub bias: Vec<i32>,
    /// BIAS entry 1: each column's multiplier.
    pub multipliers: Vec<i32>,
    /// BIAS entry 2: each column's shift word; REQUANT uses its bits 0..=4.
    pub shifts: Vec<i32>,
    pub out: Vec<Vec<i8>>,
    /// MOVE is built (`memory.mover`): else it is UNKNOWN_COMMAND.
    pub mover: bool,
    /// The program memory (`memory.program_bytes`; empty: PROGRAM and RUN
    /// are UNKNOWN_COMMAND).
    pub program: Vec<u8>,
    /// The TABLE bank, ADD's tables one after the other (`memory.add_tables`
    /// of 256 INT32; empty: ADD is UNKNOWN_COMMAND and TABLE no bank).
    pub table: Vec<i32>,
}

impl DeviceModel {
    /// All memories zero, as after power-up.
    pub fn new(c: &NpuConfig) -> Self {
        let (rows, cols) = (c.array.rows, c.array.cols);
        Self {
            rows,
            cols,
            a: vec![vec![0; rows]; c.memory.a_depth],
            b: vec![vec![0; cols]; c.memory.b_depth],
            acc: vec![vec![0; cols]; c.memory.acc_depth],
            bias: vec![0; cols],
            multipliers: vec![0; cols],
            shifts: vec![0; cols],
            out: vec![vec![0; cols]; c.memory.acc_depth],
            mover: c.memory.mover,
            program: vec![0; c.memory.program_bytes],
            table: vec![0; TABLE_ENTRIES * c.memory.add_tables],
        }
    }

    /// Sets BIAS entries 1 and 2 to one scale in every lane (a per-tensor
    /// REQUANT), as a WRITE of `p.scale_entries` does.
    pub fn set_scale(&mut self, p: &RequantParams) {
        self.multipliers = vec![p.multiplier; self.cols];
        self.shifts = vec![i32::from(p.shift); self.cols];
    }

    /// The GEMM command: the status the device answers, memory updated only on OK.
    pub fn gemm(&mut self, t: &GemmTile) -> Status {
        let (m, n, k, tiles) = (usize::from(t.m), usize::from(t.n), usize::from(t.k), usize::from(t.tiles));
        if m == 0 || m > self.rows || n == 0 || n > self.cols || k == 0 || tiles == 0 {
            return Status::BadTile;
        }
        let last = |base: u16, step: u16| usize::from(base) + (tiles - 1) * usize::from(step);
        if last(t.a_entry, t.a_step) + k > self.a.len()
            || last(t.b_entry, t.b_step) + k > self.b.len()
            || last(t.acc_entry, t.acc_step) + m > self.acc.len()
        {
            return Status::OutOfRange;
        }
        for tile in 0..tiles {
            let a0 = usize::from(t.a_entry) + tile * usize::from(t.a_step);
            let b0 = usize::from(t.b_entry) + tile * usize::from(t.b_step);
            let c0 = usize::from(t.acc_entry) + tile * usize::from(t.acc_step);
            for i in 0..m {
                for j in 0..n {
                    let mut sum = 0i32;
                    for kk in 0..k {
                        sum = sum.wrapping_add(i32::from(self.a[a0 + kk][i]) * i32::from(self.b[b0 + kk][j]));
                    }
                    let cell = &mut self.acc[c0 + i][j];
                    *cell = if t.accumulate { cell.wrapping_add(sum) } else { sum };
                }
            }
        }
        Status::Ok
    }

    /// Entries and bytes per entry of a bank.
    fn geometry(&self, bank: Bank) -> (usize, usize) {
        match bank {
            Bank::A => (self.a.len(), self.rows),
            Bank::B => (self.b.len(), self.cols),
            Bank::Acc => (self.acc.len(), 4 * self.cols),
            Bank::Bias => (BIAS_ENTRIES, 4 * self.cols),
            Bank::Out => (self.out.len(), self.cols),
            Bank::Table => (self.table.len(), 4),
        }
    }

    /// Bank number `bank`, if this device has it.
    fn bank(&self, bank: u8) -> Option<Bank> {
        Bank::from_u8(bank).filter(|&b| b != Bank::Table || !self.table.is_empty())
    }

    /// The WRITE command (`data`: whole entries, lane 0 first, INT32 lanes
    /// little-endian; banks A, B and BIAS): the status the device answers,
    /// memory updated only on OK.
    pub fn write(&mut self, bank: u8, entry: u16, data: &[u8]) -> Status {
        if data.is_empty() || 4 + data.len() > MAX_REQUEST_PAYLOAD {
            return Status::BadLength;
        }
        let Some(bank) = self.bank(bank).filter(|b| b.writable()) else { return Status::BadBank };
        let (depth, eb) = self.geometry(bank);
        if !data.len().is_multiple_of(eb) {
            return Status::BadLength;
        }
        let count = data.len() / eb;
        if usize::from(entry) + count > depth {
            return Status::OutOfRange;
        }
        for (n, chunk) in data.chunks(eb).enumerate() {
            let e = usize::from(entry) + n;
            let word = |l: usize| i32::from_le_bytes(chunk[4 * l..4 * l + 4].try_into().unwrap());
            match bank {
                Bank::A => self.a[e] = chunk.iter().map(|&v| v as i8).collect(),
                Bank::B => self.b[e] = chunk.iter().map(|&v| v as i8).collect(),
                Bank::Bias => match e {
                    0 => self.bias = (0..self.cols).map(word).collect(),
                    1 => self.multipliers = (0..self.cols).map(word).collect(),
                    _ => self.shifts = (0..self.cols).map(word).collect(),
                },
                Bank::Table => self.table[e] = word(0),
                Bank::Acc | Bank::Out => unreachable!("results are not writable"),
            }
        }
        Status::Ok
    }

    /// The READ command: the bytes answered, or the error status.
    pub fn read(&self, bank: u8, entry: u16, count: u16) -> Result<Vec<u8>, Status> {
        let Some(bank) = self.bank(bank) else { return Err(Status::BadBank) };
        let (depth, eb) = self.geometry(bank);
        let (entry, count) = (usize::from(entry), usize::from(count));
        if count == 0 || entry + count > depth {
            return Err(Status::OutOfRange);
        }
        if count * eb > 0xFFFF - RESPONSE_HEAD {
            return Err(Status::BadLength);
        }
        let mut out = Vec::with_capacity(count * eb);
        for e in entry..entry + count {
            match bank {
                Bank::A => out.extend(self.a[e].iter().map(|&v| v as u8)),
                Bank::B => out.extend(self.b[e].iter().map(|&v| v as u8)),
                Bank::Out => out.extend(self.out[e].iter().map(|&v| v as u8)),
                Bank::Acc => out.extend(self.acc[e].iter().flat_map(|v| v.to_le_bytes())),
                Bank::Table => out.extend(self.table[e].to_le_bytes()),
                Bank::Bias => match e {
                    0 => out.extend(self.bias.iter().flat_map(|v| v.to_le_bytes())),
                    1 => out.extend(self.multipliers.iter().flat_map(|v| v.to_le_bytes())),
                    _ => out.extend(self.shifts.iter().flat_map(|v| v.to_le_bytes())),
                },
            }
        }
        Ok(out)
    }

    /// The REQUANT command: column j's multiplier and shift are BIAS
    /// entries 1 and 2's lane j.
    pub fn requant(&mut self, src: u16, dst: u16, count: u16, o: &RequantOutput, use_bias: bool) -> Status {
        let (src, dst, count) = (usize::from(src), usize::from(dst), usize::from(count));
        if o.min > o.max {
            return Status::BadParam;
        }
        if count == 0 || src + count > self.acc.len() || dst + count > self.out.len() {
            return Status::OutOfRange;
        }
        for e in 0..count {
            for j in 0..self.cols {
                let bias = if use_bias { self.bias[j] } else { 0 };
                let column = RequantParams { multiplier: self.multipliers[j], shift: (self.shifts[j] & 31) as u8, zero_point: o.zero_point, min: o.min, max: o.max };
                self.out[dst + e][j] = requantize(self.acc[src + e][j], bias, &column);
            }
        }
        Status::Ok
    }

    /// The PROGRAM command: `data` into the program memory from byte `at`.
    pub fn program(&mut self, at: u16, data: &[u8]) -> Status {
        let at = usize::from(at);
        if self.program.is_empty() {
            return Status::UnknownCommand;
        }
        if data.is_empty() {
            return Status::BadLength;
        }
        if at + data.len() > self.program.len() {
            return Status::OutOfRange;
        }
        self.program[at..at + data.len()].copy_from_slice(data);
        Status::Ok
    }

    /// The RUN command: the status it answers and the records that ran OK
    /// (see the protocol's program semantics).
    pub fn run(&mut self, at: u16, records: u16) -> (Status, u16) {
        if self.program.is_empty() {
            return (Status::UnknownCommand, 0);
        }
        if records == 0 {
            return (Status::OutOfRange, 0);
        }
        let mut at = usize::from(at);
        for done in 0..records {
            let status = self.run_record(at);
            if status != Status::Ok {
                return (status, done);
            }
            at += 1 + usize::from(self.program[at]);
        }
        (Status::Ok, records)
    }

    /// One record, at byte `at`: the status its command answers.
    fn run_record(&mut self, at: usize) -> Status {
        let Some(&len) = self.program.get(at) else { return Status::OutOfRange };
        let len = usize::from(len);
        if len == 0 {
            return Status::BadLength;
        }
        if at + 1 + len > self.program.len() {
            return Status::OutOfRange;
        }
        let payload = &self.program[at + 1..at + 1 + len];
        if (payload[0] == crate::protocol::Opcode::Move as u8 && !self.mover) || (payload[0] == crate::protocol::Opcode::Add as u8 && self.table.is_empty()) {
            return Status::UnknownCommand;
        }
        match Request::decode_record(payload) {
            Ok(RecordCommand::Write { bank, entry, data }) => self.write(bank, entry, &data),
            Ok(RecordCommand::Other(Request::Gemm(t))) => self.gemm(&t),
            Ok(RecordCommand::Other(Request::Requant { src, dst, count, output, bias })) => self.requant(src, dst, count, &output, bias),
            Ok(RecordCommand::Other(Request::Move(m))) => self.move_bytes(&m),
            Ok(RecordCommand::Other(Request::Add(a))) => self.add(&a),
            Ok(RecordCommand::Other(_)) => unreachable!("decode_record gives only WRITE, GEMM, REQUANT, MOVE and ADD"),
            Err(status) => status,
        }
    }

    /// The ADD command (see the protocol's ADD semantics): the status the
    /// device answers, the accumulators updated only on OK.
    pub fn add(&mut self, a: &TableAdd) -> Status {
        let tables = self.table.len() / TABLE_ENTRIES;
        if tables == 0 {
            return Status::UnknownCommand;
        }
        if usize::from(a.table1) >= tables || usize::from(a.table2) >= tables {
            return Status::BadParam;
        }
        let (src1, src2, dst, count) = (usize::from(a.src1), usize::from(a.src2), usize::from(a.dst), usize::from(a.count));
        if count == 0 || src1 + count > self.out.len() || src2 + count > self.b.len() || dst + count > self.acc.len() {
            return Status::OutOfRange;
        }
        let (t1, t2) = (usize::from(a.table1) * TABLE_ENTRIES, usize::from(a.table2) * TABLE_ENTRIES);
        for e in 0..count {
            for j in 0..self.cols {
                let x1 = usize::from(self.out[src1 + e][j] as u8);
                let x2 = usize::from(self.b[src2 + e][j] as u8);
                self.acc[dst + e][j] = self.table[t1 + x1].wrapping_add(self.table[t2 + x2]);
            }
        }
        Status::Ok
    }

    /// A byte bank's entries and lanes (A, B, OUT), or None for any other.
    fn byte_bank(&self, bank: u8) -> Option<(Bank, usize, usize)> {
        match Bank::from_u8(bank)? {
            Bank::A => Some((Bank::A, self.a.len(), self.rows)),
            Bank::B => Some((Bank::B, self.b.len(), self.cols)),
            Bank::Out => Some((Bank::Out, self.out.len(), self.cols)),
            Bank::Acc | Bank::Bias | Bank::Table => None,
        }
    }

    fn byte_mut(&mut self, bank: Bank, index: usize, lanes: usize) -> &mut i8 {
        let (e, l) = (index / lanes, index % lanes);
        match bank {
            Bank::A => &mut self.a[e][l],
            Bank::B => &mut self.b[e][l],
            _ => &mut self.out[e][l],
        }
    }

    /// The MOVE command (see the protocol's MOVE semantics): the status the
    /// device answers, memory updated only on OK.
    pub fn move_bytes(&mut self, m: &Move) -> Status {
        if !self.mover {
            return Status::UnknownCommand;
        }
        let src = match (m.zeros, self.byte_bank(m.src_bank)) {
            (true, _) => None,
            (false, None) => return Status::BadBank,
            (false, g) => g,
        };
        let Some(dst) = self.byte_bank(m.dst_bank).filter(|g| g.0 != Bank::Out) else { return Status::BadBank };
        let lanes_fit = |lanes: usize, places: [Place; 3]| places.iter().all(|p| usize::from(p.lane) < lanes);
        if !src.is_none_or(|g| lanes_fit(g.2, [m.src, m.src_step, m.src_run])) || !lanes_fit(dst.2, [m.dst, m.dst_step, m.dst_run]) {
            return Status::BadParam;
        }
        if m.count == 0 || m.runs == 0 {
            return Status::OutOfRange;
        }
        let (count, runs) = (usize::from(m.count), usize::from(m.runs));
        let at = |base: Place, step: Place, run: Place, lanes: usize, r: usize, i: usize| {
            base.index(lanes) + r * run.index(lanes) + i * step.index(lanes)
        };
        let past = |g: (Bank, usize, usize), base, step, run| at(base, step, run, g.2, runs - 1, count - 1) >= g.1 * g.2;
        if src.is_some_and(|g| past(g, m.src, m.src_step, m.src_run)) || past(dst, m.dst, m.dst_step, m.dst_run) {
            return Status::OutOfRange;
        }
        for r in 0..runs {
            for i in 0..count {
                let v = match src {
                    Some(g) => *self.byte_mut(g.0, at(m.src, m.src_step, m.src_run, g.2, r, i), g.2),
                    None => 0,
                };
                *self.byte_mut(dst.0, at(m.dst, m.dst_step, m.dst_run, dst.2, r, i), dst.2) = v;
            }
        }
        Status::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Matrix;
    use crate::protocol::Opcode;
    use crate::reference::gemm_reference;

    #[test]
    fn one_tile_is_the_reference_gemm() {
        let c = NpuConfig::default();
        let mut d = DeviceModel::new(&c);
        let a = Matrix::from_fn(3, 5, |i, k| (i as i8 - 1) * (k as i8 + 3));
        let b = Matrix::from_fn(5, 2, |k, j| (k as i8 * 7) - j as i8 * 40);
        for k in 0..5 {
            for i in 0..3 {
                d.a[10 + k][i] = a.get(i, k);
            }
            for j in 0..2 {
                d.b[20 + k][j] = b.get(k, j);
            }
        }
        let t = GemmTile { a_entry: 10, b_entry: 20, acc_entry: 30, m: 3, n: 2, k: 5, accumulate: false, tiles: 1, a_step: 0, b_step: 0, acc_step: 0 };
        assert_eq!(d.gemm(&t), Status::Ok);
        let want = gemm_reference(&a, &b).unwrap();
        for i in 0..3 {
            assert_eq!(&d.acc[30 + i][..2], want.row(i));
            assert_eq!(&d.acc[30 + i][2..], &[0, 0]);
        }
    }

    #[test]
    fn bad_descriptors_change_nothing() {
        let c = NpuConfig::default();
        let mut d = DeviceModel::new(&c);
        let before = d.clone();
        let t = GemmTile { a_entry: 0, b_entry: 0, acc_entry: 0, m: 5, n: 1, k: 1, accumulate: false, tiles: 1, a_step: 0, b_step: 0, acc_step: 0 };
        assert_eq!(d.gemm(&t), Status::BadTile);
        // The third tile's A panel runs past the end of the scratchpad.
        let t = GemmTile { m: 1, tiles: 3, a_entry: (c.memory.a_depth - 7) as u16, a_step: 5, ..t };
        assert_eq!(d.gemm(&t), Status::OutOfRange);
        assert_eq!(d, before);
    }

    #[test]
    fn move_transposes_out_rows_into_a_columns() {
        // OUT rows (one output pixel each, lanes = channels) into A entries
        // (one channel each, lanes = pixels): a stride of one entry.
        let c = with_mover();
        let mut d = DeviceModel::new(&c);
        for e in 0..4 {
            d.out[e] = (0..4).map(|j| (10 * e + j) as i8).collect();
        }
        let mut m = Move::run(Bank::Out, Place::new(0, 0), Bank::A, Place::new(100, 0), 4);
        m.runs = 4;
        m.src_step = Place::new(0, 1);
        m.src_run = Place::new(1, 0);
        m.dst_step = Place::new(1, 0);
        m.dst_run = Place::new(0, 1);
        assert_eq!(d.move_bytes(&m), Status::Ok);
        for j in 0..4 {
            assert_eq!(d.a[100 + j], (0..4).map(|e| (10 * e + j) as i8).collect::<Vec<_>>());
        }
    }

    #[test]
    fn move_lanes_carry_into_entries_and_zeros_fill() {
        let c = with_mover();
        let mut d = DeviceModel::new(&c);
        d.b[0] = vec![1, 2, 3, 4];
        d.b[1] = vec![5, 6, 7, 8];
        // Every third byte from B index 1: 2, 5, 8, then to A from index 6.
        let mut m = Move::run(Bank::B, Place::new(0, 1), Bank::A, Place::new(1, 2), 3);
        m.src_step = Place::new(0, 3);
        assert_eq!(d.move_bytes(&m), Status::Ok);
        assert_eq!(d.a[1], vec![0, 0, 2, 5]);
        assert_eq!(d.a[2], vec![8, 0, 0, 0]);
        let z = Move { zeros: true, src_bank: 2, ..Move::run(Bank::A, Place::default(), Bank::A, Place::new(1, 3), 1) };
        assert_eq!(d.move_bytes(&z), Status::Ok);
        assert_eq!(d.a[1], vec![0, 0, 2, 0]);
    }

    #[test]
    fn bad_moves_change_nothing() {
        let c = with_mover();
        let mut d = DeviceModel::new(&c);
        d.a[0] = vec![1, 2, 3, 4];
        let before = d.clone();
        let good = Move::run(Bank::A, Place::new(0, 0), Bank::B, Place::new(0, 0), 4);
        let last = (c.memory.b_depth - 1) as u16;
        for (m, want) in [
            (Move { src_bank: 2, ..good }, Status::BadBank),
            (Move { dst_bank: 4, ..good }, Status::BadBank),
            (Move { src: Place::new(0, 4), ..good }, Status::BadParam),
            (Move { dst_run: Place::new(0, 4), ..good }, Status::BadParam),
            (Move { count: 0, ..good }, Status::OutOfRange),
            (Move { runs: 0, ..good }, Status::OutOfRange),
            (Move { dst: Place::new(last, 1), ..good }, Status::OutOfRange),
            (Move { runs: 2, src_run: Place::new(0xFFFF, 0), ..good }, Status::OutOfRange),
        ] {
            assert_eq!(d.move_bytes(&m), want, "{m:?}");
            assert_eq!(d, before);
        }
        assert_eq!(d.move_bytes(&Move { dst: Place::new(last, 0), ..good }), Status::Ok);
        assert_eq!(d.b[c.memory.b_depth - 1], vec![1, 2, 3, 4]);
        // Without the mover, MOVE is no command.
        let mut d = DeviceModel::new(&NpuConfig::default());
        assert_eq!(d.move_bytes(&good), Status::UnknownCommand);
    }

    #[test]
    fn a_program_runs_its_records_and_stops_at_the_first_refused() {
        let mut c = with_mover();
        c.memory.program_bytes = 256;
        let mut d = DeviceModel::new(&c);
        d.b[0] = vec![1, 2, 3, 4];
        let copy = |to: u16| Request::Move(Move::run(Bank::B, Place::new(0, 0), Bank::A, Place::new(to, 0), 4)).record();
        let bad = Request::Move(Move { count: 0, ..Move::run(Bank::B, Place::new(0, 0), Bank::A, Place::new(3, 0), 4) }).record();
        let program = [copy(1), copy(2), bad, copy(4)].concat();
        assert_eq!(d.program(0, &program), Status::Ok);
        assert_eq!(d.run(0, 2), (Status::Ok, 2));
        assert_eq!((d.a[1].clone(), d.a[2].clone()), (vec![1, 2, 3, 4], vec![1, 2, 3, 4]));
        // The third record is refused: the fourth does not run.
        assert_eq!(d.run(0, 4), (Status::OutOfRange, 2));
        assert_eq!(d.a[4], vec![0; 4]);
        // From the fourth record's byte on, it runs alone.
        let fourth = (3 * copy(0).len()) as u16;
        assert_eq!(d.run(fourth, 1), (Status::Ok, 1));
        assert_eq!(d.a[4], vec![1, 2, 3, 4]);
        assert_eq!(d.run(0, 0), (Status::OutOfRange, 0));
        // A record of length 0, one past the end, one that is not a command a program holds.
        let before = d.clone();
        assert_eq!(d.program(250, &[0]), Status::Ok);
        assert_eq!(d.run(250, 1), (Status::BadLength, 0));
        assert_eq!(d.program(250, &[6, Opcode::Move as u8]), Status::Ok);
        assert_eq!(d.run(250, 1), (Status::OutOfRange, 0));
        assert_eq!(d.program(250, &[1, Opcode::Info as u8]), Status::Ok);
        assert_eq!(d.run(250, 1), (Status::UnknownCommand, 0));
        assert_eq!((&d.a, &d.b), (&before.a, &before.b));
        // PROGRAM's own checks.
        assert_eq!(d.program(0, &[]), Status::BadLength);
        assert_eq!(d.program(255, &[1, 2]), Status::OutOfRange);
        // Without program memory there is no PROGRAM or RUN.
        let mut d = DeviceModel::new(&with_mover());
        assert_eq!(d.program(0, &program), Status::UnknownCommand);
        assert_eq!(d.run(0, 1), (Status::UnknownCommand, 0));
    }

    #[test]
    fn add_sums_two_table_lookups_into_the_accumulators() {
        let mut c = NpuConfig::default();
        c.memory.add_tables = 2;
        let mut d = DeviceModel::new(&c);
        // Table 0: 1000 + x; table 1: x * x, x the byte read as signed.
        let t0: Vec<u8> = (0..=255u8).flat_map(|u| (1000 + i32::from(u as i8)).to_le_bytes()).collect();
        let t1: Vec<u8> = (0..=255u8).flat_map(|u| (i32::from(u as i8) * i32::from(u as i8)).to_le_bytes()).collect();
        assert_eq!(d.write(Bank::Table as u8, 0, &t0[..1020]), Status::Ok);
        assert_eq!(d.write(Bank::Table as u8, 255, &t0[1020..]), Status::Ok);
        assert_eq!(d.write(Bank::Table as u8, 256, &t1[..1020]), Status::Ok);
        assert_eq!(d.write(Bank::Table as u8, 511, &t1[1020..]), Status::Ok);
        assert_eq!(d.read(Bank::Table as u8, 255, 2), Ok([t0[1020..].to_vec(), t1[..4].to_vec()].concat()));
        d.out[7] = vec![-128, -1, 0, 127];
        d.out[8] = vec![5, 6, 7, 8];
        d.b[30] = vec![3, -4, 127, -128];
        d.b[31] = vec![0, 1, 2, 3];
        let a = TableAdd { src1: 7, src2: 30, dst: 100, count: 2, table1: 0, table2: 1 };
        assert_eq!(d.add(&a), Status::Ok);
        assert_eq!(d.acc[100], vec![1000 - 128 + 9, 1000 - 1 + 16, 1000 + 127 * 127, 1000 + 127 + 128 * 128]);
        assert_eq!(d.acc[101], vec![1005, 1007, 1011, 1017]);
        // The same table twice; the sum wraps.
        d.table[2] = i32::MAX;
        d.out[0] = vec![2; 4];
        d.b[0] = vec![2; 4];
        assert_eq!(d.add(&TableAdd { src1: 0, src2: 0, dst: 0, count: 1, table1: 0, table2: 0 }), Status::Ok);
        assert_eq!(d.acc[0], vec![-2; 4]);
        // Refused, in order, and nothing changes.
        let before = d.clone();
        let depth = c.memory.acc_depth as u16;
        for (bad, want) in [
            (TableAdd { table2: 2, count: 0, ..a }, Status::BadParam),
            (TableAdd { count: 0, ..a }, Status::OutOfRange),
            (TableAdd { src1: depth - 1, ..a }, Status::OutOfRange),
            (TableAdd { src2: c.memory.b_depth as u16 - 1, ..a }, Status::OutOfRange),
            (TableAdd { dst: depth - 1, ..a }, Status::OutOfRange),
        ] {
            assert_eq!(d.add(&bad), want, "{bad:?}");
        }
        assert_eq!(d, before);
        // Past the tables; without tables, no ADD and no TABLE bank.
        assert_eq!(d.write(Bank::Table as u8, 511, &[0; 8]), Status::OutOfRange);
        let mut d = DeviceModel::new(&NpuConfig::default());
        assert_eq!(d.add(&a), Status::UnknownCommand);
        assert_eq!(d.write(Bank::Table as u8, 0, &[0; 4]), Status::BadBank);
        assert_eq!(d.read(Bank::Table as u8, 0, 1), Err(Status::BadBank));
    }

    fn with_mover() -> NpuConfig {
        let mut c = NpuConfig::default();
        c.memory.mover = true;
        c
    }
}
