//! The device's program memory as the driver uses it.
//!
//! A stretch of commands that a program can hold (WRITE of at most 251
//! data bytes, GEMM, REQUANT, MOVE: the commands that answer no data) is
//! sent as it is the first time, stored with PROGRAM and run with one RUN
//! the second time, and from then on (the next inferences' layers) run
//! without being sent. So a network's commands cross the link about twice,
//! and an inference sends its input, a RUN for each stretch between the
//! host's own transfers, and the READs of its output.
//!
//! Why not store a stretch the first time: a PROGRAM is checked whole
//! before its RUN starts, so the device computes nothing while it arrives;
//! sent as they are, commands run while the next ones arrive (one request
//! ahead). A stretch that never comes again is faster that way, though
//! more bytes (a command on its own costs 12 bytes of frame and answer, a
//! record one).

use crate::link::{Command, WorkShares};
use npu_spec::protocol::{Opcode, Request};
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Range;

/// The shortest stretch worth a RUN: two commands on their own cost 24
/// bytes of framing and answers, about what PROGRAM and RUN add.
const MIN_STRETCH: usize = 3;

/// Device cycles a record costs besides its command's work, at most: its
/// length byte and header read from the program memory (36 cycles after a
/// WRITE; 7 after any other record, read while that one ran), and its
/// answer taken.
const CYCLES_PER_RECORD: u64 = 48;

/// What the driver knows of the device's program memory.
#[derive(Debug)]
pub struct ProgramCache {
    capacity: usize,
    /// The first byte not yet used.
    top: usize,
    /// Each stretch stored: its records' bytes, and where they start.
    stored: HashMap<Vec<u8>, u16>,
    /// The stretches sent as they are once (their records' hashes).
    seen: HashSet<u64>,
    /// Bytes of stretches that did not fit since a stored one last ran.
    missed: usize,
    /// Each stored stretch's bytes, by where it starts.
    lengths: HashMap<u16, usize>,
}

/// What each command as sent stands for, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// One of the commands given, sent as it is.
    Command(usize),
    /// A PROGRAM that stores a stretch (no command of its own).
    Program,
    /// A RUN of these commands.
    Run(Range<usize>),
}

impl ProgramCache {
    /// A program memory of `capacity` bytes whose contents are unknown.
    pub fn new(capacity: usize) -> Self {
        Self { capacity, top: 0, stored: HashMap::new(), seen: HashSet::new(), missed: 0, lengths: HashMap::new() }
    }

    /// The device's program memory is no longer known (another client
    /// wrote it, or a PROGRAM failed): every stretch is stored again.
    pub fn forget(&mut self) {
        self.top = 0;
        self.stored.clear();
        self.lengths.clear();
        self.missed = 0;
    }

    /// Whether the stretch of `commands` was stored (for tests).
    #[cfg(test)]
    fn holds(&self, commands: &[Command]) -> bool {
        self.stored.contains_key(&commands.iter().flat_map(|c| c.req.record()).collect::<Vec<u8>>())
    }

    /// The commands to send in place of `commands`: each stretch of at
    /// least MIN_STRETCH commands a program can hold, from its second time
    /// on, becomes a RUN, with a PROGRAM before it the second time
    /// (PROGRAM's data at most `max_request` payload bytes a frame). A
    /// stretch that does not fit the memory is sent as it is, and so is one
    /// that does not fit the space left, while the stretches stored still
    /// run: a network whose commands are more than the memory keeps running
    /// the part stored (starting afresh at each pass would store every
    /// stretch again and run none). Once a memory's worth of stretches went
    /// without a stored one running (another network now), the memory
    /// starts afresh.
    pub fn compile(&mut self, commands: &[Command], max_request: usize) -> (Vec<Command>, Vec<Sent>) {
        // Each command's record, where a program can hold it.
        let records: Vec<Option<Vec<u8>>> = commands.iter().map(|c| record(&c.req)).collect();
        let chunk = max_request - Opcode::Program.request_len();
        let mut sent = vec![];
        let mut what = vec![];
        // Commands `range` sent as they are.
        let as_they_are = |sent: &mut Vec<Command>, what: &mut Vec<Sent>, range: Range<usize>| {
            for n in range {
                sent.push(commands[n].clone());
                what.push(Sent::Command(n));
            }
        };
        let mut i = 0;
        while i < commands.len() {
            let end = i + records[i..].iter().take_while(|r| r.is_some()).count();
            let stretch = &commands[i..end];
            let bytes: Vec<u8> = records[i..end].iter().flatten().flatten().copied().collect();
            let eligible = stretch.len() >= MIN_STRETCH && bytes.len() <= self.capacity && stretch.len() <= usize::from(u16::MAX);
            if !eligible || (!self.stored.contains_key(&bytes) && self.seen.insert(hash(&bytes))) {
                // (A command a program cannot hold, alone, a stretch too
                // short or too long, or one seen for the first time.)
                let last = end.max(i + 1);
                as_they_are(&mut sent, &mut what, i..last);
                i = last;
                continue;
            }
            let at = match self.stored.get(&bytes) {
                Some(&at) => {
                    self.missed = 0;
                    at
                }
                None => {
                    if self.top + bytes.len() > self.capacity {
                        if self.missed + bytes.len() <= self.capacity {
                            self.missed += bytes.len();
                            as_they_are(&mut sent, &mut what, i..end);
                            i = end;
                            continue;
                        }
                        self.forget();
                    }
                    let at = self.top;
                    for (n, data) in bytes.chunks(chunk).enumerate() {
                        let req = Request::Program { at: (at + n * chunk) as u16, data: data.to_vec() };
                        sent.push(Command { req, answer_bytes: 0, work_cycles: 2 * data.len() as u64 + 16, shares: None });
                        what.push(Sent::Program);
                    }
                    self.top += bytes.len();
                    self.lengths.insert(at as u16, bytes.len());
                    self.stored.insert(bytes, at as u16);
                    at as u16
                }
            };
            let shares = stretch.iter().fold(WorkShares::default(), |mut s, c| {
                s.add(c.req.opcode(), c.work_cycles + CYCLES_PER_RECORD);
                s
            });
            let work_cycles = shares.total();
            sent.push(Command { req: Request::Run { at, records: stretch.len() as u16 }, answer_bytes: 2, work_cycles, shares: Some(shares) });
            what.push(Sent::Run(i..end));
            i = end;
        }
        (sent, what)
    }

    /// The byte after the stored stretch that starts at `at`.
    pub fn stretch_end(&self, at: u16) -> Option<usize> {
        self.lengths.get(&at).map(|len| usize::from(at) + len)
    }
}

/// Appends `these` (one call's commands, compiled, and what each stands
/// for) to `sent`, whose last command's RUN (if it is one) ends at
/// `run_end`: a first RUN of `these` whose records follow that one's in
/// the program memory joins it, one RUN and one answer rather than two.
/// Returns the commands appended and the end of the last RUN sent.
pub fn append_joined(cache: &ProgramCache, sent: &mut Vec<Command>, run_end: Option<usize>, mut these: Vec<Command>, what: &mut Vec<Sent>) -> (usize, Option<usize>) {
    let mut end = run_end;
    if let (Some(e), Some(Command { req: Request::Run { at, records }, work_cycles, shares, .. })) = (run_end, these.first()) {
        let stretch = cache.stretch_end(*at);
        if let (Some(Command { req: Request::Run { records: before, .. }, work_cycles: before_cycles, shares: before_shares, .. }), Some(stretch)) = (sent.last_mut(), stretch) {
            if usize::from(*at) == e && u32::from(*before) + u32::from(*records) <= u32::from(u16::MAX) {
                *before += *records;
                *before_cycles += *work_cycles;
                if let (Some(b), Some(s)) = (before_shares.as_mut(), shares) {
                    b.gemm += s.gemm;
                    b.requant += s.requant;
                    b.moves += s.moves;
                    b.other += s.other;
                }
                end = Some(stretch);
                these.remove(0);
                what.remove(0);
            }
        }
    }
    let n = these.len();
    if let Some(last) = these.last() {
        end = match last.req {
            Request::Run { at, .. } => cache.stretch_end(at),
            _ => None,
        };
    }
    sent.extend(these);
    (n, end)
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// `req` as a record, if a program can hold it (a record's length is one byte).
fn record(req: &Request) -> Option<Vec<u8>> {
    (req.opcode().in_program() && req.payload().len() <= usize::from(u8::MAX)).then(|| req.record())
}

/// The answers to the commands given, from the answers to those sent: a
/// RUN's commands answered no data.
pub fn expand(what: &[Sent], answers: Vec<Vec<u8>>, commands: usize) -> Vec<Vec<u8>> {
    let mut out = vec![vec![]; commands];
    for (w, a) in what.iter().zip(answers) {
        if let Sent::Command(i) = w {
            out[*i] = a;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use npu_spec::device_model::DeviceModel;
    use npu_spec::protocol::{Bank, GemmTile, Move, Place, Status, FRAME_HEAD, FRAME_TAIL, RESPONSE_HEAD};
    use npu_spec::NpuConfig;

    /// Bytes on the line for `commands` sent as they are: each frame, and
    /// its answer's (status, opcode, data).
    fn line_bytes(commands: &[Command]) -> usize {
        commands.iter().map(|c| c.req.frame().len() + FRAME_HEAD + RESPONSE_HEAD + c.answer_bytes + FRAME_TAIL).sum()
    }

    fn command(req: Request) -> Command {
        Command { req, answer_bytes: 0, work_cycles: 10, shares: None }
    }

    fn config() -> NpuConfig {
        let mut c = NpuConfig::default();
        c.memory.mover = true;
        c.memory.program_bytes = 256;
        c
    }

    /// A layer's worth: MOVEs, a GEMM, a bias WRITE; the READ stays.
    fn layer(to: u16) -> Vec<Command> {
        let tile = GemmTile { a_entry: 0, b_entry: 0, acc_entry: 0, m: 4, n: 4, k: 2, accumulate: false, tiles: 1, a_step: 0, b_step: 0, acc_step: 0 };
        vec![
            command(Request::Move(Move::run(Bank::B, Place::new(0, 0), Bank::A, Place::new(to, 0), 4))),
            command(Request::Move(Move::run(Bank::B, Place::new(1, 0), Bank::A, Place::new(to + 1, 0), 4))),
            command(Request::Gemm(tile)),
            command(Request::Write { bank: Bank::Bias, entry: 0, data: vec![3; 16] }),
            Command { req: Request::Read { bank: Bank::Acc, entry: 0, count: 1 }, answer_bytes: 16, work_cycles: 20, shares: None },
        ]
    }

    /// Runs what was sent on a device model, answering as the device would.
    fn run(model: &mut DeviceModel, sent: &[Command]) -> Vec<Vec<u8>> {
        sent.iter()
            .map(|c| match &c.req {
                Request::Program { at, data } => {
                    assert_eq!(model.program(*at, data), Status::Ok);
                    vec![]
                }
                Request::Run { at, records } => {
                    let (status, done) = model.run(*at, *records);
                    assert_eq!((status, done), (Status::Ok, *records));
                    done.to_le_bytes().to_vec()
                }
                Request::Read { bank, entry, count } => model.read(*bank as u8, *entry, *count).unwrap(),
                Request::Move(m) => {
                    assert_eq!(model.move_bytes(m), Status::Ok);
                    vec![]
                }
                other => panic!("not expected on its own here: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_stretch_is_stored_once_and_run_each_time_with_the_same_effect() {
        let c = config();
        let mut cache = ProgramCache::new(c.memory.program_bytes);
        let mut on_device = DeviceModel::new(&c);
        on_device.b[0] = vec![1, 2, 3, 4];
        on_device.b[1] = vec![5, 6, 7, 8];
        let mut direct = on_device.clone();
        let commands = layer(4);
        // The first time as they are.
        let (sent, what) = cache.compile(&commands, 1024);
        assert_eq!(what, (0..5).map(Sent::Command).collect::<Vec<_>>());
        assert_eq!(sent.len(), 5);
        assert!(!cache.holds(&commands[..4]));
        // The second time stored and run.
        let (sent, what) = cache.compile(&commands, 1024);
        assert_eq!(what, [Sent::Program, Sent::Run(0..4), Sent::Command(4)]);
        let answers = expand(&what, run(&mut on_device, &sent), commands.len());
        // The same commands one by one on another model.
        for c in &commands[..4] {
            let status = match &c.req {
                Request::Move(m) => direct.move_bytes(m),
                Request::Gemm(t) => direct.gemm(t),
                Request::Write { bank, entry, data } => direct.write(*bank as u8, *entry, data),
                _ => unreachable!(),
            };
            assert_eq!(status, Status::Ok);
        }
        assert_eq!(answers[4], direct.read(Bank::Acc as u8, 0, 1).unwrap());
        assert_eq!(on_device, DeviceModel { program: on_device.program.clone(), ..direct.clone() });
        // The third time: a RUN alone, far fewer bytes than the commands.
        let (again, what) = cache.compile(&commands, 1024);
        assert_eq!(what, [Sent::Run(0..4), Sent::Command(4)]);
        assert!(line_bytes(&again) < line_bytes(&commands) / 2, "{} vs {}", line_bytes(&again), line_bytes(&commands));
        run(&mut on_device, &again);
    }

    #[test]
    fn two_calls_stretches_stored_one_after_the_other_run_as_one_run() {
        let c = config();
        let mut cache = ProgramCache::new(c.memory.program_bytes);
        let (first, second) = (layer(4)[..4].to_vec(), layer(8)[..4].to_vec());
        // Sent as they are, then stored one after the other.
        for _ in 0..2 {
            cache.compile(&first, 1024);
            cache.compile(&second, 1024);
        }
        let mut sent = vec![];
        let (these, mut what) = cache.compile(&first, 1024);
        let (n, end) = append_joined(&cache, &mut sent, None, these, &mut what);
        assert_eq!((n, what.len()), (1, 1));
        let (these, mut what) = cache.compile(&second, 1024);
        let (n, _) = append_joined(&cache, &mut sent, end, these, &mut what);
        assert_eq!((n, what.len(), sent.len()), (0, 0, 1), "the second RUN joins the first");
        assert!(matches!(sent[0].req, Request::Run { at: 0, records: 8 }), "{:?}", sent[0].req);
        // The same effect as the commands one by one.
        let mut on_device = DeviceModel::new(&c);
        on_device.b[0] = vec![1, 2, 3, 4];
        on_device.b[1] = vec![5, 6, 7, 8];
        let mut direct = on_device.clone();
        // Store them on the model as the cache did, then run the joined RUN.
        let bytes: Vec<u8> = first.iter().chain(&second).flat_map(|c| c.req.record()).collect();
        assert_eq!(on_device.program(0, &bytes), Status::Ok);
        run(&mut on_device, &sent);
        for cmd in first.iter().chain(&second) {
            let status = match &cmd.req {
                Request::Move(m) => direct.move_bytes(m),
                Request::Gemm(t) => direct.gemm(t),
                Request::Write { bank, entry, data } => direct.write(*bank as u8, *entry, data),
                _ => unreachable!(),
            };
            assert_eq!(status, Status::Ok);
        }
        assert_eq!(on_device, DeviceModel { program: on_device.program.clone(), ..direct });
    }

    #[test]
    fn short_stretches_go_as_they_are_and_a_full_memory_keeps_what_runs() {
        let mut cache = ProgramCache::new(256);
        let two = &layer(4)[..2];
        let (sent, what) = cache.compile(two, 1024);
        assert_eq!((sent.len(), what), (2, vec![Sent::Command(0), Sent::Command(1)]));
        // Each layer's stretch is 4 records of about 100 bytes: two fit.
        let firsts: Vec<u16> = (0..2)
            .map(|n| {
                cache.compile(&layer(8 * n), 1024);
                let (sent, _) = cache.compile(&layer(8 * n), 1024);
                match sent[0].req {
                    Request::Program { at, .. } => at,
                    _ => panic!("a new stretch is stored"),
                }
            })
            .collect();
        assert_eq!(firsts[0], 0);
        assert!(firsts[1] > 0);
        // Three layers over and over, as a network's passes: the third does
        // not fit, goes as it is, and the first two still run stored.
        let runs = |sent: &[Command]| sent.iter().filter(|c| matches!(c.req, Request::Run { .. })).count();
        let programs = |sent: &[Command]| sent.iter().filter(|c| matches!(c.req, Request::Program { .. })).count();
        for _ in 0..3 {
            let pass: Vec<Vec<Command>> = (0..3).map(|n| cache.compile(&layer(8 * n), 1024).0).collect();
            assert_eq!(pass.iter().map(|s| (runs(s), programs(s))).collect::<Vec<_>>(), vec![(1, 0), (1, 0), (0, 0)]);
        }
        // Another network's stretches alone: once a memory's worth of them
        // went without a stored one running, the memory starts afresh.
        let stored_at: Vec<Option<u16>> = (0..4)
            .map(|_| match cache.compile(&layer(100), 1024).0[0].req {
                Request::Program { at, .. } => Some(at),
                _ => None,
            })
            .collect();
        assert_eq!(stored_at, vec![None, None, Some(0), None]);
        // A stretch longer than the memory is never stored.
        let long: Vec<Command> = (0..12).flat_map(|n| layer(8 * n)[..4].to_vec()).collect();
        cache.compile(&long, 1024);
        let (sent, _) = cache.compile(&long, 1024);
        assert!(sent.iter().all(|c| !matches!(c.req, Request::Program { .. } | Request::Run { .. })));
    }
}
