//! The driver: an NPU behind a link, known from its INFO answer, running
//! GEMMs of any shape exactly as the reference computes them.

use crate::link::{Command, Link, LinkError, LinkStats, LinkTiming};
use crate::placement::Placement;
use crate::plan::{GemmPlan, Geometry};
use crate::shadow::BankShadow;
use crate::tap_map::TapRead;
use crate::program::ProgramCache;
use crate::transport::Transport;
use npu_spec::protocol::{record_len, Bank, Counters, Info, LinkHealth, Move, Request, TableAdd, TABLE_ENTRIES, COUNTER_FIELDS, FORMAT_VERSION, INFO_FIELDS, STATUS_FIELDS};
use npu_spec::requant::{RequantParams, MAX_SHIFT};
use npu_spec::Matrix;

/// Why a driver call failed.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("the device is not an NPU this host can drive: {0}")]
    Unsupported(String),
    #[error("shapes do not chain: {0}")]
    Shape(String),
    #[error("bad requantization: {0}")]
    Requant(String),
}

/// Requantization of a GEMM's INT32 results to INT8, done by the hardware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requant {
    pub params: RequantParams,
    /// One INT32 per output column, added before the multiply.
    pub bias: Option<Vec<i32>>,
    /// One multiplier and shift per output column (TFLite's per-channel
    /// weights), in place of `params`' own.
    pub channels: Option<Vec<ChannelScale>>,
    /// An ADD done on chip on the requantized results, before they go
    /// where the sink says.
    pub residual: Option<Residual>,
}

/// TFLite's ADD of a layer's requantized output (in OUT: the first input)
/// and a tensor kept in B (the second), done on chip right after the
/// layer's REQUANT: ADD's two table lookups into ACC, then a REQUANT to the
/// ADD's output scale. The kept tensor lies in B as the layer's output
/// would lie in OUT: N block by N block (`cols` channels, lane j channel
/// `block * cols + j`), each block's `pixels` pixels in consecutive
/// entries, block 0 from entry `skip_entry` (see
/// [`Placement::into_blocks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Residual {
    pub skip_entry: usize,
    pub pixels: usize,
    /// The pixel of the kept tensor that the layer's output row 0 is (a
    /// layer done in chunks of rows).
    pub pixel0: usize,
    /// TABLE's tables for the layer's output and for the kept tensor.
    pub table1: u8,
    pub table2: u8,
    /// The ADD's output: its scale (one for every lane), zero point and range.
    pub params: RequantParams,
}

impl Residual {
    /// The same ADD for the layer's output from pixel `pixel` on.
    pub fn from_pixel(&self, pixel: usize) -> Self {
        Self { pixel0: self.pixel0 + pixel, ..*self }
    }
}

/// One output column's scale: a Q31 multiplier and a right shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelScale {
    pub multiplier: i32,
    pub shift: u8,
}

impl Requant {
    /// The requantization of output columns `cols` alone.
    pub fn columns(&self, cols: std::ops::Range<usize>) -> Self {
        Self { params: self.params, bias: self.bias.as_ref().map(|v| v[cols.clone()].to_vec()), channels: self.channels.as_ref().map(|v| v[cols].to_vec()), residual: self.residual }
    }

    /// The parameters of output column `j`.
    pub fn column(&self, j: usize) -> RequantParams {
        match &self.channels {
            Some(c) => RequantParams { multiplier: c[j].multiplier, shift: c[j].shift, ..self.params },
            None => self.params,
        }
    }
}

/// Utilization computed from two counter snapshots (or from power-up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Utilization {
    /// Share of cycles spent executing commands.
    pub busy: f64,
    /// Useful MACs per PE per cycle while executing commands.
    pub mac_while_busy: f64,
    /// Useful MACs per PE per cycle, over all cycles.
    pub mac_overall: f64,
}

impl Utilization {
    pub fn of(c: &Counters, pes: usize) -> Self {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        Self {
            busy: ratio(c.busy, c.cycles),
            mac_while_busy: ratio(c.macs, c.busy.saturating_mul(pes as u64)),
            mac_overall: ratio(c.macs, c.cycles.saturating_mul(pes as u64)),
        }
    }
}

/// The largest READ answer asked for at once, in bytes: no longer than the
/// largest request, so every wait stays short (a lost answer costs little
/// to ask again); framing costs about 2% at this size.
const MAX_READ_BYTES: usize = 1024;
/// Cycles the requantizer spends per INT32 element (with margin).
const REQUANT_CYCLES_PER_ELEMENT: u64 = npu_hdl::requantizer::MAX_CYCLES_PER_ELEMENT;
/// An ADD's cycles per element at most, for time-outs (the adder takes a
/// half, two lanes a cycle, and 1 more an entry, 2 with the read data
/// registered: at most 3 for an entry of one lane).
const ADD_CYCLES_PER_ELEMENT: u64 = 4;

/// One NPU.
pub struct Npu {
    link: Link,
    info: Info,
    a: BankShadow,
    b: BankShadow,
    bias: BankShadow,
    /// With program memory: the stretches of commands stored there (see
    /// [`ProgramCache`]).
    programs: Option<ProgramCache>,
    /// While holding (see [`Npu::hold`]): the commands not sent yet, each
    /// call's apart, so that each compiles into the stretches it would alone.
    held: Option<Vec<Vec<Command>>>,
    /// Marks among them (see [`Npu::mark`]): the calls held before each.
    held_marks: Vec<usize>,
    /// The link's stats at each mark reached and not yet taken.
    reached: Vec<LinkStats>,
}

impl Npu {
    /// Asks the device behind `transport` for its INFO and checks it is a
    /// device this host speaks to. `baud` is the line's rate, for time-outs.
    pub fn open(transport: Box<dyn Transport>, baud: u32) -> Result<Self, DriverError> {
        // Until INFO tells the clock, assume a slow one for the time-out.
        let mut link = Link::new(transport, LinkTiming { baud, core_hz: 1_000_000 });
        // (A device of another protocol version answers another INFO length.)
        let data = link.request(&Request::Info, record_len(INFO_FIELDS), 100).map_err(|e| match e {
            LinkError::Mismatch { why, .. } => DriverError::Unsupported(format!(
                "its INFO answer is not protocol version {FORMAT_VERSION}'s ({why}): rebuild the bitstream or the host from the same tree"
            )),
            e => e.into(),
        })?;
        let info = Info::decode(&data).ok_or_else(|| DriverError::Unsupported("its INFO record does not decode".into()))?;
        if info.version != FORMAT_VERSION {
            return Err(DriverError::Unsupported(format!("protocol version {} (this host speaks {FORMAT_VERSION}): rebuild the bitstream or the host from the same tree", info.version)));
        }
        if info.dataflow != 0 || info.acc_bits != 32 || info.rows == 0 || info.cols == 0 || info.a_depth == 0 || info.b_depth == 0 || info.acc_depth == 0 || info.max_request < 8 {
            return Err(DriverError::Unsupported(format!("{info:?}")));
        }
        if info.baud != baud {
            return Err(DriverError::Unsupported(format!("it says its link runs at {} baud but the port is open at {baud}", info.baud)));
        }
        link.set_timing(LinkTiming { baud, core_hz: info.core_hz.max(1) });
        let (r, c) = (info.rows, info.cols);
        Ok(Self {
            a: BankShadow::new(info.a_depth, r),
            b: BankShadow::new(info.b_depth, c),
            bias: BankShadow::new(npu_spec::protocol::BIAS_ENTRIES, 4 * c),
            programs: (info.program_bytes > 0).then(|| ProgramCache::new(info.program_bytes)),
            held: None,
            held_marks: vec![],
            reached: vec![],
            link,
            info,
        })
    }

    /// The hardware, as the device described itself.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// What the link is connected to.
    pub fn port(&self) -> String {
        self.link.port()
    }

    /// For `npu daemon`: relays a client's exchange (see [`Link::relay`]).
    /// The client changes what is on chip, so this driver forgets what it
    /// believed was there.
    pub fn relay(&mut self, bytes: &[u8], timeout: std::time::Duration) -> std::io::Result<Vec<u8>> {
        self.drop_held();
        self.forget_on_chip();
        self.link.relay(bytes, timeout)
    }

    /// For `npu daemon`: a client's resync.
    pub fn resync_link(&mut self, quiet: std::time::Duration) -> std::io::Result<()> {
        self.link.resync_transport(quiet)
    }

    /// The device's clock (simulated time for a simulation).
    pub fn device_now(&self) -> std::time::Duration {
        self.link.now()
    }

    /// How much slower than a board the device may run (see `Transport::slowdown`).
    pub fn slowdown(&self) -> u32 {
        self.link.slowdown()
    }

    /// Requests and bytes sent over the link so far.
    pub fn link_stats(&self) -> LinkStats {
        self.link.stats
    }

    /// Peak INT8 operations per second: 2 per PE per cycle.
    pub fn peak_ops_per_s(&self) -> f64 {
        2.0 * (self.info.rows * self.info.cols) as f64 * self.info.core_hz as f64
    }

    pub fn counters(&mut self) -> Result<Counters, DriverError> {
        let data = self.call(&Request::Counters, record_len(COUNTER_FIELDS), 10)?;
        Ok(Counters::decode(&data).expect("length checked by the link"))
    }

    pub fn clear_counters(&mut self) -> Result<(), DriverError> {
        self.call(&Request::ClearCounters, 0, 10)?;
        Ok(())
    }

    /// The link's health as the device counts it.
    pub fn health(&mut self) -> Result<LinkHealth, DriverError> {
        let data = self.call(&Request::Status, record_len(STATUS_FIELDS), 10)?;
        Ok(LinkHealth::decode(&data).expect("length checked by the link"))
    }

    /// Sends one protocol command as it is and returns the answer's data:
    /// for tools that drive the hardware directly (benchmarks). What the
    /// driver believed about the scratchpads is forgotten.
    pub fn command(&mut self, req: &Request, answer_bytes: usize, work_cycles: u64) -> Result<Vec<u8>, DriverError> {
        self.forget_on_chip();
        self.call(req, answer_bytes, work_cycles)
    }

    /// Forgets what the driver believed its banks hold: after commands it
    /// did not plan, or a failure.
    fn forget_on_chip(&mut self) {
        self.a.forget();
        self.b.forget();
        self.bias.forget();
        if let Some(p) = &mut self.programs {
            p.forget();
        }
    }

    /// `commands` with one request ahead (see [`Link::pipeline`]): with
    /// program memory, each stretch of them a program can hold is stored
    /// once and run by a RUN (see [`ProgramCache`]); the answers are the
    /// commands' own either way.
    ///
    /// While holding, commands that answer no data wait, and go with the
    /// next that does, or at [`Npu::release`].
    fn pipeline(&mut self, commands: &[Command]) -> Result<Vec<Vec<u8>>, LinkError> {
        let mut calls = match &mut self.held {
            Some(held) if commands.iter().all(|c| c.answer_bytes == 0) => {
                held.push(commands.to_vec());
                return Ok(vec![vec![]; commands.len()]);
            }
            Some(held) => std::mem::take(held),
            None => vec![],
        };
        calls.push(commands.to_vec());
        Ok(self.send(&calls)?.pop().unwrap_or_default())
    }

    /// Marks the end of a part of the work: [`Npu::take_marks`] then gives
    /// the link's stats (device time, bytes) at that point, once what was
    /// held before it is answered. While holding, the parts go on one
    /// pipeline, and each part's cost is still measured, not estimated:
    /// the time to its last answer from the last answer before it, and the
    /// bytes of its own frames and answers.
    pub fn mark(&mut self) {
        match &self.held {
            Some(held) if !held.is_empty() => self.held_marks.push(held.len()),
            _ => self.reached.push(self.link.stats),
        }
    }

    /// The link's stats at each mark reached since the last call, in order.
    pub fn take_marks(&mut self) -> Vec<LinkStats> {
        std::mem::take(&mut self.reached)
    }

    /// Several calls' commands in one pipeline, each call's compiled on its
    /// own (a call's first RUN joining the one before when its records
    /// follow, see [`crate::program::append_joined`]); each call's answers,
    /// and the link's stats at each mark among them.
    fn send(&mut self, calls: &[Vec<Command>]) -> Result<Vec<Vec<Vec<u8>>>, LinkError> {
        let before = self.link.stats;
        let marks = std::mem::take(&mut self.held_marks);
        let mut sent = vec![];
        let mut compiled = vec![];
        // The end of the last RUN sent, while it is the last command: a
        // call's first RUN whose records follow its joins it (one RUN, one
        // answer), unless a mark lies between the calls.
        let mut run_end = None;
        for (c, commands) in calls.iter().enumerate() {
            match &mut self.programs {
                Some(programs) => {
                    let (these, mut what) = programs.compile(commands, self.info.max_request);
                    let joinable = if c > 0 && !marks.contains(&c) { run_end } else { None };
                    let (n, end) = crate::program::append_joined(programs, &mut sent, joinable, these, &mut what);
                    run_end = end;
                    compiled.push((n, Some(what)));
                }
                None => {
                    compiled.push((commands.len(), None));
                    sent.extend(commands.iter().cloned());
                }
            }
        }
        let answers = self.link.pipeline(&sent)?;
        // Each mark's stats: those after the last command sent for the
        // calls before it.
        let mut ends = vec![before];
        let mut count = 0;
        for (n, _) in &compiled {
            count += n;
            ends.push(if count == 0 { before } else { self.link.answered()[count - 1] });
        }
        self.reached.extend(marks.iter().map(|&k| ends[k]));
        let mut answers = answers.into_iter();
        Ok(calls
            .iter()
            .zip(compiled)
            .map(|(commands, (n, what))| {
                let these: Vec<Vec<u8>> = answers.by_ref().take(n).collect();
                match what {
                    Some(what) => crate::program::expand(&what, these, commands.len()),
                    None => these,
                }
            })
            .collect())
    }

    /// From now on, commands that answer no data (WRITE, GEMM, REQUANT,
    /// MOVE, ADD) are held and sent together with the next command that
    /// answers data, or at [`Npu::release`]: one pipeline, with one
    /// request ahead throughout, where each call alone would wait for its
    /// last answer before the next call's first request leaves. A failure
    /// then shows where the held commands are sent.
    pub fn hold(&mut self) {
        self.held.get_or_insert_with(Vec::new);
    }

    /// Sends what is held and stops holding.
    pub fn release(&mut self) -> Result<(), DriverError> {
        let result = self.send_held();
        self.held = None;
        result
    }

    /// Stops holding, after a failure: what is held is not sent, and what
    /// the driver believed of the banks is forgotten with it.
    pub fn drop_held(&mut self) {
        self.held_marks.clear();
        self.reached.clear();
        if self.held.take().is_some_and(|calls| !calls.is_empty()) {
            self.forget_on_chip();
        }
    }

    /// Sends what is held (holding goes on).
    fn send_held(&mut self) -> Result<(), DriverError> {
        let calls = self.held.as_mut().map(std::mem::take).unwrap_or_default();
        if calls.is_empty() {
            return Ok(());
        }
        let result = self.send(&calls).map(drop).map_err(DriverError::from);
        self.forget_on_failure(result)
    }

    /// One MOVE: bytes copied on chip (see the protocol's MOVE semantics).
    /// A device built without the mover says so before anything is sent;
    /// a refused MOVE is the device's status as a link error. What the
    /// driver believed of the bank written is forgotten.
    pub fn move_bytes(&mut self, m: &Move) -> Result<(), DriverError> {
        self.require_mover()?;
        let command = self.move_command(m);
        self.call(&command.req, 0, command.work_cycles)?;
        Ok(())
    }

    /// MOVEs sent with one request ahead (see [`Link::pipeline`]); the
    /// entries they write are forgotten first.
    pub fn move_all(&mut self, moves: &[Move]) -> Result<(), DriverError> {
        self.require_mover()?;
        let commands: Vec<Command> = moves.iter().map(|m| self.move_command(m)).collect();
        let result = self.pipeline(&commands).map_err(DriverError::from);
        self.forget_on_failure(result).map(drop)
    }

    fn require_mover(&self) -> Result<(), DriverError> {
        if !self.info.mover {
            return Err(DriverError::Unsupported("this NPU has no MOVE (its config has memory.mover = false)".into()));
        }
        Ok(())
    }

    /// `result`, with what the driver believed is on chip forgotten when it
    /// failed (the device's memories are no longer known).
    fn forget_on_failure<T>(&mut self, result: Result<T, DriverError>) -> Result<T, DriverError> {
        if result.is_err() {
            self.forget_on_chip();
        }
        result
    }

    /// `data` (whole entries) written into `bank` from entry `first` on,
    /// skipping the entries the driver knows it holds.
    pub(crate) fn write_entries(&mut self, bank: Bank, first: usize, data: &[u8]) -> Result<(), DriverError> {
        let mut commands = vec![];
        self.write(&mut commands, bank, first, data);
        let result = self.pipeline(&commands).map_err(DriverError::from);
        self.forget_on_failure(result).map(drop)
    }

    /// `b` into B from entry `first` on as a plan whose B panels each have
    /// their own place lays it out (N block after N block, K entries each,
    /// lanes past the last column 0): weights written ahead of the GEMMs
    /// that read them, which then find them there (see [`Self::write`]).
    pub(crate) fn write_panels(&mut self, first: usize, b: &Matrix<i8>) -> Result<(), DriverError> {
        let cols = self.info.cols;
        let data: Vec<u8> = (0..b.cols().div_ceil(cols)).flat_map(|nb| b_panel(b, 0..b.rows(), nb, cols)).collect();
        self.write_entries(Bank::B, first, &data)
    }

    /// ADD's tables into TABLE from table `first` on, 256 INT32 each
    /// (entry u of a table for the INT8 whose bits are u).
    pub fn write_tables(&mut self, first: usize, tables: &[Vec<i32>]) -> Result<(), DriverError> {
        if first + tables.len() > self.info.add_tables {
            return Err(DriverError::Unsupported(format!("{} ADD tables from table {first} do not fit this NPU's {} (memory.add_tables)", tables.len(), self.info.add_tables)));
        }
        let words: Vec<u8> = tables.iter().flat_map(|t| {
            assert_eq!(t.len(), TABLE_ENTRIES, "a table has an entry per INT8");
            t.iter().flat_map(|v| v.to_le_bytes())
        }).collect();
        let per = (self.info.max_request - 4) / 4;
        let commands: Vec<Command> = words
            .chunks(4 * per)
            .enumerate()
            .map(|(n, data)| Command::new(Request::Write { bank: Bank::Table, entry: (first * TABLE_ENTRIES + n * per) as u16, data: data.to_vec() }, 0, data.len() as u64 + 16))
            .collect();
        self.pipeline(&commands).map_err(DriverError::from).map(drop)
    }

    /// [`Self::run_plan`] with the requantization checked first, and what
    /// is on chip forgotten on a failure.
    pub(crate) fn run_plan_checked(&mut self, p: &GemmPlan, a: AOperand, b: &Matrix<i8>, q: &Requant, sink: Sink, narrow: &mut Matrix<i8>) -> Result<(), DriverError> {
        check_requant(q, p.n)?;
        let mut wide = Matrix::<i32>::zeros(0, 0);
        let result = self.run_plan(p, a, b, Some(q), sink, (&mut wide, narrow));
        self.forget_on_failure(result)
    }

    /// A MOVE's command, with what the driver believed of the entries it
    /// writes forgotten.
    fn move_command(&mut self, m: &Move) -> Command {
        let bytes = usize::from(m.count) * usize::from(m.runs);
        if let Some(bank) = Bank::from_u8(m.dst_bank).filter(|b| matches!(b, Bank::A | Bank::B) && bytes > 0) {
            let lanes = self.entry_bytes(bank);
            // The farthest byte written is the last run's last (strides are unsigned).
            let last = m.dst.index(lanes) + (usize::from(m.runs) - 1) * m.dst_run.index(lanes) + (usize::from(m.count) - 1) * m.dst_step.index(lanes);
            let (first, last) = (m.dst.index(lanes) / lanes, last / lanes);
            let shadow = if bank == Bank::A { &mut self.a } else { &mut self.b };
            shadow.forget_range(first, last + 1 - first);
        }
        // 8 cycles a byte at most, and the range check's walk (a cycle a
        // binary digit of count and runs: 34 at most).
        let work_cycles = 8 * bytes as u64 + 34 + 16;
        Command::new(Request::Move(*m), 0, work_cycles)
    }

    /// Utilization from a counter snapshot.
    pub fn utilization(&self, c: &Counters) -> Utilization {
        Utilization::of(c, self.info.rows * self.info.cols)
    }

    /// `a` (M x K) times `b` (K x N), INT32 results with wrap, exactly as
    /// [`npu_spec::gemm_reference`].
    pub fn gemm(&mut self, a: &Matrix<i8>, b: &Matrix<i8>) -> Result<Matrix<i32>, DriverError> {
        self.run_gemm(a, b, None).map(|out| match out {
            Output::Wide(c) => c,
            Output::Narrow(_) => unreachable!(),
        })
    }

    /// `a` times `b`, requantized to INT8 by the hardware, exactly as
    /// [`npu_spec::requant::requantize`] of the reference GEMM.
    pub fn gemm_requant(&mut self, a: &Matrix<i8>, b: &Matrix<i8>, q: &Requant) -> Result<Matrix<i8>, DriverError> {
        self.run_gemm(a, b, Some(q)).map(|out| match out {
            Output::Narrow(c) => c,
            Output::Wide(_) => unreachable!(),
        })
    }

    fn run_gemm(&mut self, a: &Matrix<i8>, b: &Matrix<i8>, q: Option<&Requant>) -> Result<Output, DriverError> {
        let (m, k, n) = (a.rows(), a.cols(), b.cols());
        if b.rows() != k {
            return Err(DriverError::Shape(format!("A is {m}x{k}, so B must have {k} rows, but it is {}x{n}", b.rows())));
        }
        if let Some(q) = q {
            check_requant(q, n)?;
        }
        let mut wide = Matrix::<i32>::zeros(m, n);
        let mut narrow = Matrix::<i8>::zeros(m, n);
        if m == 0 || n == 0 {
            return Ok(if q.is_some() { Output::Narrow(narrow) } else { Output::Wide(wide) });
        }
        if k == 0 {
            // Nothing to multiply: the sums are 0, requantized on the host
            // (no device command takes K = 0).
            if let Some(q) = q {
                narrow = Matrix::from_fn(m, n, |_, j| npu_spec::requant::requantize(0, q.bias.as_ref().map_or(0, |b| b[j]), &q.column(j)));
                return Ok(Output::Narrow(narrow));
            }
            return Ok(Output::Wide(wide));
        }
        let g = Geometry::from(&self.info);
        let plan = GemmPlan::new(g, m, k, n).resident(g);
        let result = self.run_plan(&plan, AOperand::Host(a), b, q, Sink::Host, (&mut wide, &mut narrow));
        self.forget_on_failure(result)?;
        Ok(if q.is_some() { Output::Narrow(narrow) } else { Output::Wide(wide) })
    }

    /// The plan's GEMM with its A operand already on chip (M block `mb` at
    /// entry `p.a_entry(0) + mb * k`, one K chunk), B written by the plan:
    /// the INT32 sums.
    pub fn gemm_a_on_chip(&mut self, p: &GemmPlan, b: &Matrix<i8>) -> Result<Matrix<i32>, DriverError> {
        if b.rows() != p.k || b.cols() != p.n || p.k_chunk != p.k {
            return Err(DriverError::Shape(format!("B is {}x{} for a {}x{}x{} plan of one K chunk", b.rows(), b.cols(), p.m, p.k, p.n)));
        }
        let mut wide = Matrix::<i32>::zeros(p.m, p.n);
        let mut narrow = Matrix::<i8>::zeros(0, 0);
        let result = self.run_plan(p, AOperand::OnChip, b, None, Sink::Host, (&mut wide, &mut narrow));
        self.forget_on_failure(result)?;
        Ok(wide)
    }

    /// The plan's commands, run with one request ahead (see
    /// [`Link::pipeline`]). Group by group: the operands' WRITEs, the GEMMs,
    /// the requantization, and the READs of the results, each READ followed
    /// by one of the next group's first WRITEs, so that the results stream
    /// back while the next operands stream in.
    ///
    /// With `a` as [`AOperand::OnChip`], A is not written: M block `mb`'s
    /// panel is already at entry `mb * k` (one K chunk only).
    ///
    /// With `sink` as [`Sink::OnChip`] or [`Sink::Both`] (requantized
    /// results only), MOVEs place each group's results where the next layer
    /// reads them; with `OnChip`, in place of the READs, and `narrow` is
    /// left as it was.
    pub(crate) fn run_plan(&mut self, p: &GemmPlan, a: AOperand, b: &Matrix<i8>, q: Option<&Requant>, sink: Sink, (wide, narrow): (&mut Matrix<i32>, &mut Matrix<i8>)) -> Result<(), DriverError> {
        assert!(q.is_some() || matches!(sink, Sink::Host), "only INT8 results are placed on chip");
        assert!(matches!(a, AOperand::Host(_)) || p.k_chunk == p.k, "an A on chip is one K chunk");
        let (rows, cols) = (self.info.rows, self.info.cols);
        let mut batch = Batch::default();
        // The previous group's READs, placed once the next group's first
        // WRITEs are known.
        let mut reads: Vec<Command> = vec![];
        for (ms, ns) in p.groups() {
            // The first chunk's WRITEs go between the previous group's READs;
            // the rest of the group's commands follow them.
            let mut first_writes = vec![];
            let mut body = vec![];
            // An A built on chip, or kept there, has M block mb's panel at
            // entry mb * k: the group's panels from its first M block's.
            // (A tap map's GEMMs address their tiles themselves.)
            let a_offset = match a {
                AOperand::OnChip => ms.start * p.k_chunk,
                AOperand::Host(_) if p.a_by_block => ms.start * p.k_chunk,
                _ => 0,
            };
            for (chunk, (k0, kl)) in p.k_chunks().enumerate() {
                let mut writes = vec![];
                if let AOperand::Host(a) = a {
                    for (slot, mb) in ms.clone().enumerate() {
                        // Entry kk, lane i: A[mb*block_rows + i][k0 + kk]; lanes past the block are 0.
                        let mut data = vec![0u8; kl * rows];
                        for kk in 0..kl {
                            for i in 0..p.rows_of(mb) {
                                data[kk * rows + i] = a.get(mb * p.block_rows + i, k0 + kk) as u8;
                            }
                        }
                        self.write(&mut writes, Bank::A, p.a_entry(slot) + a_offset, &data);
                    }
                }
                for (slot, nb) in ns.clone().enumerate() {
                    self.write(&mut writes, Bank::B, p.b_panel(slot, nb), &b_panel(b, k0..k0 + kl, nb, cols));
                }
                if chunk == 0 {
                    first_writes = writes;
                } else {
                    body.extend(writes);
                }
                let tiles = match a {
                    AOperand::Taps(read) => ns.clone().enumerate().flat_map(|(n_slot, nb)| read.gemms(ms.clone(), p.b_panel(n_slot, nb), p.acc_entry(0, n_slot), p.cols_of(nb))).collect(),
                    _ => p.chunk_tiles(ms.clone(), ns.clone(), chunk, kl),
                };
                for mut tile in tiles {
                    tile.a_entry += a_offset as u16;
                    let work = u64::from(tile.tiles) * (usize::from(tile.k) + 2 * rows + cols) as u64 + (rows + cols) as u64 + 16;
                    body.push(Command::new(Request::Gemm(tile), 0, work));
                }
            }
            batch.interleave(std::mem::take(&mut reads), first_writes);
            batch.commands.extend(body);
            // The group's results: each N block's rows are contiguous.
            let row0 = ms.start * p.block_rows;
            let group_rows = (ms.end * p.block_rows).min(p.m) - row0;
            let bank = match q {
                None => Bank::Acc,
                Some(q) => {
                    for (n_slot, nb) in ns.clone().enumerate() {
                        let acc0 = p.acc_entry(0, n_slot);
                        // The block's columns of BIAS entry 0 (bias) and
                        // entries 1 and 2 (multiplier, shift: the request's
                        // own in every lane, or each channel's).
                        let col0 = nb * p.block_cols;
                        let lanes = |value: &dyn Fn(usize) -> i32| {
                            let mut data = vec![0u8; 4 * cols];
                            for j in 0..p.cols_of(nb) {
                                data[4 * j..4 * j + 4].copy_from_slice(&value(col0 + j).to_le_bytes());
                            }
                            data
                        };
                        let mut writes = vec![];
                        if let Some(bias) = &q.bias {
                            self.write(&mut writes, Bank::Bias, 0, &lanes(&|j| bias[j]));
                        }
                        // BIAS entries 1 and 2: each lane's multiplier, then its shift.
                        let scales = |column: &dyn Fn(usize) -> RequantParams| {
                            let mut data = lanes(&|j| column(j).multiplier);
                            data.extend(lanes(&|j| i32::from(column(j).shift)));
                            data
                        };
                        self.write(&mut writes, Bank::Bias, 1, &scales(&|j| q.column(j)));
                        batch.commands.extend(writes);
                        let req = Request::Requant { src: acc0 as u16, dst: acc0 as u16, count: group_rows as u16, output: q.params.output(), bias: q.bias.is_some() };
                        batch.commands.push(Command::new(req, 0, group_rows as u64 * cols as u64 * REQUANT_CYCLES_PER_ELEMENT + 32));
                        if let Some(r) = &q.residual {
                            // The ADD: its sums over the block's rows, then
                            // their REQUANT at the ADD's one output scale.
                            let mut writes = vec![];
                            self.write(&mut writes, Bank::Bias, 1, &scales(&|_| r.params));
                            let src2 = r.skip_entry + nb * r.pixels + r.pixel0 + row0;
                            let add = TableAdd { src1: acc0 as u16, src2: u16::try_from(src2).map_err(|_| DriverError::Shape(format!("the kept tensor's entry {src2} is past 16 bits")))?, dst: acc0 as u16, count: group_rows as u16, table1: r.table1, table2: r.table2 };
                            batch.commands.push(Command::new(Request::Add(add), 0, group_rows as u64 * cols as u64 * ADD_CYCLES_PER_ELEMENT + 32));
                            batch.commands.extend(writes);
                            let req = Request::Requant { src: acc0 as u16, dst: acc0 as u16, count: group_rows as u16, output: r.params.output(), bias: false };
                            batch.commands.push(Command::new(req, 0, group_rows as u64 * cols as u64 * REQUANT_CYCLES_PER_ELEMENT + 32));
                        }
                    }
                    Bank::Out
                }
            };
            for placed in sink.placements() {
                for (n_slot, nb) in ns.clone().enumerate() {
                    let moves = placed.moves(p.acc_entry(0, n_slot), row0..row0 + group_rows, nb * p.block_cols..nb * p.block_cols + p.cols_of(nb), cols, self.entry_bytes(placed.bank)).map_err(DriverError::Shape)?;
                    reads.extend(moves.iter().map(|m| self.move_command(m)));
                }
            }
            if sink.to_host() {
                let group_reads = self.read_blocks(bank, p, ns.len(), group_rows);
                batch.results.push(GroupResult { bank, row0, rows: group_rows, blocks: ns.clone(), reads: group_reads.iter().map(|r| r.len()).collect() });
                reads.extend(group_reads.into_iter().flatten());
            }
        }
        batch.interleave(reads, vec![]);
        let answers = self.pipeline(&batch.commands)?;
        // The READs' answers, in order, group by group.
        let mut data = batch.commands.iter().zip(answers).filter(|(c, _)| matches!(c.req, Request::Read { .. })).map(|(_, d)| d);
        for g in &batch.results {
            let blocks: Vec<Vec<u8>> = g.reads.iter().map(|&n| data.by_ref().take(n).flatten().collect()).collect();
            // A full group's blocks came in one run of READs: split it.
            let blocks: Vec<Vec<u8>> = if blocks.len() == 1 && g.blocks.len() > 1 {
                let per = blocks[0].len() / g.blocks.len();
                blocks[0].chunks(per).map(<[u8]>::to_vec).collect()
            } else {
                blocks
            };
            for (nb, bytes) in g.blocks.clone().zip(blocks) {
                let col0 = nb * p.block_cols;
                for r in 0..g.rows {
                    for j in 0..p.cols_of(nb) {
                        match g.bank {
                            Bank::Acc => {
                                let at = (r * cols + j) * 4;
                                wide.set(g.row0 + r, col0 + j, i32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()));
                            }
                            _ => narrow.set(g.row0 + r, col0 + j, bytes[r * cols + j] as i8),
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The READs of the first `rows` entries of each of the group's first
    /// `blocks` N blocks (ACC or OUT): one run for a full group, whose blocks
    /// lie back to back (as few READs as the answer size allows), or one run
    /// a block for a short one, not to carry the unused rows between them.
    fn read_blocks(&self, bank: Bank, p: &GemmPlan, blocks: usize, rows: usize) -> Vec<Vec<Command>> {
        let stride = p.acc_entry(0, 1) - p.acc_entry(0, 0);
        if rows == stride {
            return vec![self.read(bank, p.acc_entry(0, 0), blocks * stride)];
        }
        (0..blocks).map(|n_slot| self.read(bank, p.acc_entry(0, n_slot), rows)).collect()
    }

    /// WRITEs of whole entries of a bank, skipping those it already holds
    /// (the shadow takes them as written: the commands run in order, and a
    /// failed run forgets the shadow).
    fn write(&mut self, out: &mut Vec<Command>, bank: Bank, first: usize, data: &[u8]) {
        let entry_bytes = self.entry_bytes(bank);
        let max_entries = ((self.info.max_request - 4) / entry_bytes).max(1);
        let shadow = match bank {
            Bank::A => &self.a,
            Bank::B => &self.b,
            Bank::Bias => &self.bias,
            _ => unreachable!("the host writes only operand banks"),
        };
        for (entry, bytes) in shadow.runs(first, data, max_entries) {
            match bank {
                Bank::A => self.a.wrote(entry, &bytes),
                Bank::B => self.b.wrote(entry, &bytes),
                _ => self.bias.wrote(entry, &bytes),
            }
            let work_cycles = bytes.len() as u64 + 16;
            out.push(Command::new(Request::Write { bank, entry: entry as u16, data: bytes }, 0, work_cycles));
        }
    }

    /// The READs of `count` entries of a bank from `first` on.
    fn read(&self, bank: Bank, first: usize, count: usize) -> Vec<Command> {
        let entry_bytes = self.entry_bytes(bank);
        let per_read = (MAX_READ_BYTES / entry_bytes).max(1);
        (0..count)
            .step_by(per_read)
            .map(|at| {
                let c = per_read.min(count - at);
                Command::new(Request::Read { bank, entry: (first + at) as u16, count: c as u16 }, c * entry_bytes, (c * entry_bytes) as u64 + 16)
            })
            .collect()
    }

    fn entry_bytes(&self, bank: Bank) -> usize {
        match bank {
            Bank::A => self.info.rows,
            Bank::B | Bank::Out => self.info.cols,
            Bank::Acc | Bank::Bias => 4 * self.info.cols,
            Bank::Table => 4,
        }
    }

    fn call(&mut self, req: &Request, answer_bytes: usize, work_cycles: u64) -> Result<Vec<u8>, DriverError> {
        self.send_held()?;
        Ok(self.link.request(req, answer_bytes, work_cycles)?)
    }
}

/// N block `nb`'s B panel over K steps `ks`: entry kk, lane j holds
/// `b[ks.start + kk][nb * cols + j]`, lanes past B's last column 0.
fn b_panel(b: &Matrix<i8>, ks: std::ops::Range<usize>, nb: usize, cols: usize) -> Vec<u8> {
    let mut data = vec![0u8; ks.len() * cols];
    for (kk, k) in ks.enumerate() {
        for j in 0..cols.min(b.cols() - nb * cols) {
            data[kk * cols + j] = b.get(k, nb * cols + j) as u8;
        }
    }
    data
}

/// Where a layer's requantized results go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// (A Sink is made once a layer and copied a few times: its size is no matter.)
#[allow(clippy::large_enum_variant)]
pub enum Sink {
    /// READ back to the host.
    Host,
    /// MOVEd from OUT to where the next layer reads them.
    OnChip(Placement),
    /// Both: the next layer reads them on chip, another on the host.
    Both(Placement),
    /// Two places on chip, none on the host: the next layer's input, and
    /// a later ADD's kept tensor.
    Twice(Placement, Placement),
}

impl Sink {
    /// Where on chip the results go.
    pub fn placements(&self) -> Vec<Placement> {
        match self {
            Sink::Host => vec![],
            Sink::OnChip(p) | Sink::Both(p) => vec![*p],
            Sink::Twice(p, q) => vec![*p, *q],
        }
    }

    pub fn to_host(&self) -> bool {
        matches!(self, Sink::Host | Sink::Both(_))
    }

    /// The same sink for a layer's output from row `row` on (see
    /// [`Placement::from_row`]).
    pub fn from_row(&self, row: usize) -> Self {
        match self {
            Sink::Host => Sink::Host,
            Sink::OnChip(p) => Sink::OnChip(p.from_row(row)),
            Sink::Both(p) => Sink::Both(p.from_row(row)),
            Sink::Twice(p, q) => Sink::Twice(p.from_row(row), q.from_row(row)),
        }
    }
}

/// Where a plan's A operand comes from.
#[derive(Clone, Copy)]
pub(crate) enum AOperand<'a> {
    /// Written by the plan, group by group.
    Host(&'a Matrix<i8>),
    /// Already in A, built there by MOVEs: M block `mb` at entry `mb * k`.
    OnChip,
    /// A tap map in A (see [`crate::tap_map`]): a GEMM a kernel row, M block `mb`
    /// the map's tile `mb`.
    Taps(TapRead),
}

enum Output {
    Wide(Matrix<i32>),
    Narrow(Matrix<i8>),
}

/// A GEMM's commands, and where its results are among the READs' answers.
#[derive(Default)]
struct Batch {
    commands: Vec<Command>,
    results: Vec<GroupResult>,
}

impl Batch {
    /// Appends `reads`, each followed by the next of `writes` while they
    /// last, then the rest of `writes`.
    fn interleave(&mut self, reads: Vec<Command>, writes: Vec<Command>) {
        let mut writes = writes.into_iter();
        for read in reads {
            self.commands.push(read);
            self.commands.extend(writes.next());
        }
        self.commands.extend(writes);
    }
}

/// One group's results: the bank read, its first row and row count, its N
/// blocks, and how many READs each run of them took (one run for the whole
/// group, or one per block).
struct GroupResult {
    bank: Bank,
    row0: usize,
    rows: usize,
    blocks: std::ops::Range<usize>,
    reads: Vec<usize>,
}

fn check_requant(q: &Requant, n: usize) -> Result<(), DriverError> {
    let p = &q.params;
    if p.shift > MAX_SHIFT {
        return Err(DriverError::Requant(format!("shift {} is above {MAX_SHIFT}", p.shift)));
    }
    if p.min > p.max {
        return Err(DriverError::Requant(format!("clamp min {} is above max {}", p.min, p.max)));
    }
    if let Some(c) = &q.channels {
        if c.len() != n {
            return Err(DriverError::Requant(format!("{} channel scales for {n} output columns", c.len())));
        }
        if let Some(s) = c.iter().find(|s| s.shift > MAX_SHIFT) {
            return Err(DriverError::Requant(format!("a channel's shift {} is above {MAX_SHIFT}", s.shift)));
        }
    }
    if let Some(b) = &q.bias {
        if b.len() != n {
            return Err(DriverError::Requant(format!("{} bias values for {n} output columns", b.len())));
        }
    }
    Ok(())
}
