//! Requests and answers over a [`Transport`]: frames out, frames in, one
//! answer per request, a time-out on every wait that names the command.

use crate::transport::Transport;
use npu_spec::protocol::{FrameDecoder, FrameError, Opcode, Request, Status, FRAME_HEAD, FRAME_TAIL, IDLE_TIMEOUT_BITS, RESPONSE_HEAD};
use std::time::Duration;

/// Why a command did not get its answer.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{command}: no answer from {port} within {waited:?} (is the board powered, programmed with the NPU bitstream, and at {baud} baud?)")]
    Timeout { command: &'static str, port: String, waited: Duration, baud: u32 },
    // The cause is in the message, and deliberately not a `source`: one line
    // on stderr, not the cause printed twice by the error chain.
    #[error("{command}: the link to {port} failed: {cause}")]
    Io { command: &'static str, port: String, cause: std::io::Error },
    #[error("{command}: the answer from {port} was damaged: {cause}")]
    Frame { command: &'static str, port: String, cause: FrameError },
    #[error("{command}: the device answered {status} ({meaning})")]
    Device { command: &'static str, status: &'static str, meaning: &'static str },
    #[error("{command}: the answer does not belong to it ({why})")]
    Mismatch { command: &'static str, why: String },
}

/// Extra attempts of a command that changes nothing.
pub const RETRIES: u32 = 2;

/// Whether running `op` twice is the same as once.
pub fn idempotent(op: Opcode) -> bool {
    matches!(op, Opcode::Info | Opcode::Read | Opcode::Status | Opcode::Counters)
}

/// Whether `op` may run again after it may already have run, in a pipelined
/// run that retries from a lost answer: a command that changes nothing, or a
/// WRITE (the same bytes again).
fn repeatable(op: Opcode) -> bool {
    idempotent(op) || op == Opcode::Write
}

/// One command of a [`Link::pipeline`] run: the request, its answer's data
/// bytes, and the device's compute cycles (both only set the time-out).
#[derive(Debug, Clone)]
pub struct Command {
    pub req: Request,
    pub answer_bytes: usize,
    pub work_cycles: u64,
    /// A RUN's commands' work by kind (see [`crate::program`]), by which
    /// its time is split in [`DeviceTime`]; None for any other command.
    pub shares: Option<WorkShares>,
}

impl Command {
    /// A command whose time counts as its own opcode's.
    pub fn new(req: Request, answer_bytes: usize, work_cycles: u64) -> Self {
        Self { req, answer_bytes, work_cycles, shares: None }
    }
}

/// Estimated device cycles by kind of command: a RUN's time is split in
/// these proportions, as its commands' would have been.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkShares {
    pub gemm: u64,
    pub requant: u64,
    pub moves: u64,
    pub other: u64,
}

impl WorkShares {
    pub fn add(&mut self, op: Opcode, cycles: u64) {
        match op {
            Opcode::Gemm => self.gemm += cycles,
            Opcode::Requant => self.requant += cycles,
            Opcode::Move | Opcode::Add => self.moves += cycles,
            _ => self.other += cycles,
        }
    }

    pub fn total(&self) -> u64 {
        self.gemm + self.requant + self.moves + self.other
    }
}

/// Timing of the link, for time-outs: the line's baud and the core clock.
#[derive(Debug, Clone, Copy)]
pub struct LinkTiming {
    pub baud: u32,
    pub core_hz: u64,
}

/// A link to one device.
pub struct Link {
    transport: Box<dyn Transport>,
    decoder: FrameDecoder,
    /// Frames decoded and not yet taken (two answers can arrive in one read
    /// when requests are pipelined).
    decoded: std::collections::VecDeque<Result<Vec<u8>, FrameError>>,
    timing: LinkTiming,
    /// Slack on every wait, for USB latency and the host's scheduling.
    pub slack: Duration,
    /// Requests sent and answered, and bytes each way.
    pub stats: LinkStats,
    /// `stats` as each command of the last [`Link::pipeline`] was
    /// answered, in order, its bytes those of the commands' own frames and
    /// answers so far (a frame sent ahead is the next command's).
    answered: Vec<LinkStats>,
}

/// Counts of what the host did over the link.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LinkStats {
    pub requests: u64,
    /// Commands sent again after a lost or damaged answer.
    pub retries: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// The device's time, split by what it was doing (see [`DeviceTime`]).
    pub time: DeviceTime,
}

/// Device time spent in requests, on the transport's clock (simulated time
/// on a simulation). `link` is the requests' and answers' bytes at the
/// line rate; the rest of each request's time is its command's work.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeviceTime {
    pub link: Duration,
    /// GEMM commands: the array.
    pub gemm: Duration,
    /// REQUANT commands: the requantizer.
    pub requant: Duration,
    /// MOVE commands: data moved on chip.
    pub moves: Duration,
    /// Every other command's work (WRITE, READ, INFO, ...).
    pub other: Duration,
}

impl DeviceTime {
    pub fn total(&self) -> Duration {
        self.link + self.gemm + self.requant + self.moves + self.other
    }

    pub fn since(&self, before: &DeviceTime) -> DeviceTime {
        DeviceTime {
            link: self.link.saturating_sub(before.link),
            gemm: self.gemm.saturating_sub(before.gemm),
            requant: self.requant.saturating_sub(before.requant),
            moves: self.moves.saturating_sub(before.moves),
            other: self.other.saturating_sub(before.other),
        }
    }
}

impl std::ops::AddAssign for DeviceTime {
    fn add_assign(&mut self, o: DeviceTime) {
        self.link += o.link;
        self.gemm += o.gemm;
        self.requant += o.requant;
        self.moves += o.moves;
        self.other += o.other;
    }
}

impl Link {
    pub fn new(transport: Box<dyn Transport>, timing: LinkTiming) -> Self {
        Self { transport, decoder: FrameDecoder::new(), decoded: Default::default(), timing, slack: Duration::from_millis(250), stats: LinkStats::default(), answered: vec![] }
    }

    pub fn set_timing(&mut self, timing: LinkTiming) {
        self.timing = timing;
    }

    pub fn port(&self) -> String {
        self.transport.describe()
    }

    /// The time `bytes` take on the line (10 bits each: 8N1).
    pub fn wire_time(&self, bytes: usize) -> Duration {
        Duration::from_secs_f64(bytes as f64 * 10.0 / f64::from(self.timing.baud))
    }

    /// Sends `req` and returns the answer's data (after status and opcode).
    /// `answer_bytes` is the data expected, `work_cycles` the device's
    /// compute time: both only set the time-out.
    pub fn request(&mut self, req: &Request, answer_bytes: usize, work_cycles: u64) -> Result<Vec<u8>, LinkError> {
        // Commands that change nothing are tried again after a lost or
        // damaged answer; the others are not (a GEMM with accumulate run
        // twice would be wrong), and their error goes up.
        let retries = if idempotent(req.opcode()) { RETRIES } else { 0 };
        let mut attempt = 0;
        loop {
            match self.request_once(req, answer_bytes, work_cycles) {
                Err(LinkError::Timeout { .. } | LinkError::Frame { .. }) if attempt < retries => {
                    attempt += 1;
                    self.stats.retries += 1;
                }
                other => return other,
            }
        }
    }

    fn request_once(&mut self, req: &Request, answer_bytes: usize, work_cycles: u64) -> Result<Vec<u8>, LinkError> {
        let op = req.opcode();
        let frame = req.frame();
        let timeout = self.answer_timeout(frame.len(), answer_bytes, work_cycles);
        let (started, received) = (self.transport.now(), self.stats.bytes_received);
        self.send_frame(op, &frame)?;
        let result = self.await_answer(op, timeout);
        self.account(op, started, frame.len() + (self.stats.bytes_received - received) as usize, None);
        if result.is_err() {
            self.resync();
        }
        self.check_answer(op, answer_bytes, result?)
    }

    /// How long to wait for an answer: twice the request's and answer's
    /// line time and the work, stretched by the transport's slowdown.
    fn answer_timeout(&self, frame_bytes: usize, answer_bytes: usize, work_cycles: u64) -> Duration {
        let wire = self.wire_time(frame_bytes + answer_bytes + 8);
        let work = Duration::from_secs_f64(work_cycles as f64 / self.timing.core_hz as f64);
        2 * (wire + work) * self.transport.slowdown() + self.slack
    }

    fn send_frame(&mut self, op: Opcode, frame: &[u8]) -> Result<(), LinkError> {
        self.transport.send(frame).map_err(|cause| LinkError::Io { command: op.name(), port: self.transport.describe(), cause })?;
        self.stats.bytes_sent += frame.len() as u64;
        Ok(())
    }

    /// Runs `commands` in order with one request ahead: each request is sent
    /// as soon as the answer before the one awaited is in, so the device
    /// receives it while it executes and answers the one before (it holds
    /// one request ahead, docs/protocol.md), and a READ's answer and the
    /// next WRITE cross on the line. Returns each answer's data, in order.
    ///
    /// The first failure stops the run, once the answer to the request sent
    /// ahead is in (or its time is up); a lost or damaged answer to a
    /// command that changes nothing is tried again from that command, as
    /// [`Link::request`] does, when the one sent ahead may run twice too.
    pub fn pipeline(&mut self, commands: &[Command]) -> Result<Vec<Vec<u8>>, LinkError> {
        self.answered.clear();
        if !self.transport.full_duplex() {
            let mut answers = vec![];
            for c in commands {
                answers.push(self.request(&c.req, c.answer_bytes, c.work_cycles)?);
                self.answered.push(self.stats);
            }
            return Ok(answers);
        }
        // Each frame encoded once: sent, and sized for its time-out.
        let frames: Vec<Vec<u8>> = commands.iter().map(|c| c.req.frame()).collect();
        let mut answers: Vec<Vec<u8>> = Vec::with_capacity(commands.len());
        let mut sent = 0;
        let mut attempts = 0;
        let mut since = self.transport.now();
        // The bytes each way of the commands answered so far: their frames
        // and answers, whichever crossed the line while another was awaited.
        let mut own = (self.stats.bytes_sent, self.stats.bytes_received);
        while answers.len() < commands.len() {
            let i = answers.len();
            // The command awaited and the one ahead are on their way.
            while sent < commands.len() && sent < i + 2 {
                self.send_frame(commands[sent].req.opcode(), &frames[sent])?;
                sent += 1;
            }
            let c = &commands[i];
            let op = c.req.opcode();
            let frame_bytes = frames[i].len();
            let received = self.stats.bytes_received;
            let result = self.await_answer(op, self.answer_timeout(frame_bytes, c.answer_bytes, c.work_cycles));
            self.account(op, since, frame_bytes + (self.stats.bytes_received - received) as usize, c.shares.as_ref());
            since = self.transport.now();
            let result = result.and_then(|payload| self.check_answer(op, c.answer_bytes, payload));
            match result {
                Ok(data) => {
                    own = (own.0 + frame_bytes as u64, own.1 + (FRAME_HEAD + RESPONSE_HEAD + data.len() + FRAME_TAIL) as u64);
                    answers.push(data);
                    self.answered.push(LinkStats { bytes_sent: own.0, bytes_received: own.1, ..self.stats });
                }
                Err(e) => {
                    let ahead = (sent > i + 1).then(|| &commands[i + 1]);
                    let lost = matches!(e, LinkError::Timeout { .. } | LinkError::Frame { .. });
                    if let Some(next) = ahead {
                        // Its answer comes after this one's: take it off the line.
                        let t = self.answer_timeout(frames[i + 1].len(), next.answer_bytes, next.work_cycles);
                        let _ = self.await_answer(next.req.opcode(), t);
                    }
                    if lost {
                        self.resync();
                    }
                    let again = lost && idempotent(op) && ahead.is_none_or(|n| repeatable(n.req.opcode())) && attempts < RETRIES;
                    if !again {
                        return Err(e);
                    }
                    attempts += 1;
                    self.stats.retries += 1;
                    sent = i;
                    since = self.transport.now();
                }
            }
        }
        Ok(answers)
    }

    /// [`Link::stats`] as each command of the last [`Link::pipeline`] was
    /// answered (those answered before a failure).
    pub fn answered(&self) -> &[LinkStats] {
        &self.answered
    }

    /// The answer's data, once its status, opcode and length are checked.
    fn check_answer(&mut self, op: Opcode, answer_bytes: usize, payload: Vec<u8>) -> Result<Vec<u8>, LinkError> {
        let command = op.name();
        self.stats.requests += 1;
        let status = Status::from_u8(payload[0]).ok_or_else(|| LinkError::Mismatch { command, why: format!("status byte {:#04x} is not a status", payload[0]) })?;
        if status != Status::Ok {
            return Err(LinkError::Device { command, status: status.name(), meaning: status.meaning() });
        }
        if payload[1] != op as u8 {
            return Err(LinkError::Mismatch { command, why: format!("it echoes opcode {:#04x}", payload[1]) });
        }
        let data = payload[RESPONSE_HEAD..].to_vec();
        if data.len() != answer_bytes {
            return Err(LinkError::Mismatch { command, why: format!("{} data bytes where {answer_bytes} were expected", data.len()) });
        }
        Ok(data)
    }

    fn account(&mut self, op: Opcode, started: Duration, bytes: usize, shares: Option<&WorkShares>) {
        let elapsed = self.transport.now().saturating_sub(started);
        let wire = self.wire_time(bytes).min(elapsed);
        let t = &mut self.stats.time;
        t.link += wire;
        let work = elapsed - wire;
        match shares.filter(|s| s.total() > 0) {
            // A RUN: its commands' estimated shares of the work it took.
            Some(s) => {
                let part = |cycles: u64| work.mul_f64(cycles as f64 / s.total() as f64);
                let (gemm, requant, moves) = (part(s.gemm), part(s.requant), part(s.moves));
                t.gemm += gemm;
                t.requant += requant;
                t.moves += moves;
                t.other += work.saturating_sub(gemm + requant + moves);
            }
            None => match op {
                Opcode::Gemm => t.gemm += work,
                Opcode::Requant => t.requant += work,
                Opcode::Move | Opcode::Add => t.moves += work,
                _ => t.other += work,
            },
        }
    }

    fn await_answer(&mut self, op: Opcode, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        let command = op.name();
        match self.next_frame(timeout, None).map_err(|cause| LinkError::Io { command, port: self.transport.describe(), cause })? {
            None => Err(LinkError::Timeout { command, port: self.transport.describe(), waited: timeout, baud: self.timing.baud }),
            Some(Ok(p)) if p.len() >= RESPONSE_HEAD => Ok(p),
            Some(Ok(p)) => Err(LinkError::Mismatch { command, why: format!("a {}-byte answer", p.len()) }),
            Some(Err(cause)) => Err(LinkError::Frame { command, port: self.transport.describe(), cause }),
        }
    }

    /// Waits up to `timeout` on the transport's clock for the next frame to
    /// complete (one answer per request: the first frame completed is it),
    /// keeping every byte received in `raw` when given; `None` when no frame
    /// completed in time.
    fn next_frame(&mut self, timeout: Duration, mut raw: Option<&mut Vec<u8>>) -> std::io::Result<Option<Result<Vec<u8>, FrameError>>> {
        if let Some(frame) = self.decoded.pop_front() {
            return Ok(Some(frame));
        }
        let mut buf = [0u8; 4096];
        let deadline = self.transport.now() + timeout;
        loop {
            let left = deadline.saturating_sub(self.transport.now());
            if left.is_zero() {
                return Ok(None);
            }
            let n = self.transport.receive(&mut buf, left)?;
            self.stats.bytes_received += n as u64;
            if let Some(raw) = raw.as_deref_mut() {
                raw.extend_from_slice(&buf[..n]);
            }
            self.decoded.extend(self.decoder.push(&buf[..n]));
            if let Some(frame) = self.decoded.pop_front() {
                return Ok(Some(frame));
            }
        }
    }

    /// For `npu daemon`: sends a client's `bytes` (a request frame, or none)
    /// and returns every byte received until an answer frame is complete or
    /// `timeout` has passed on the transport's clock. Nothing is decoded for
    /// the client: its own link checks the answer.
    pub fn relay(&mut self, bytes: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
        self.decoder.reset();
        self.decoded.clear();
        if !bytes.is_empty() {
            self.transport.send(bytes)?;
            self.stats.bytes_sent += bytes.len() as u64;
        }
        let mut received = vec![];
        self.next_frame(timeout, Some(&mut received))?;
        Ok(received)
    }

    /// For `npu daemon`: a client's resync, on the device's transport.
    pub fn resync_transport(&mut self, quiet: Duration) -> std::io::Result<()> {
        self.decoder.reset();
        self.decoded.clear();
        self.transport.resync(quiet)
    }

    /// The transport's clock (the device's simulated time for a simulation).
    pub fn now(&self) -> Duration {
        self.transport.now()
    }

    pub fn slowdown(&self) -> u32 {
        self.transport.slowdown()
    }

    /// After a failed command: wait for the device to drop any partial
    /// frame, and forget every byte in flight.
    fn resync(&mut self) {
        let quiet = self.wire_time(1) * (IDLE_TIMEOUT_BITS as u32) * 2 / 10 * self.transport.slowdown() + Duration::from_millis(20);
        let _ = self.resync_transport(quiet);
    }
}
