//! A device through `npu daemon`: the [`Transport`] a client's link uses.
//!
//! A request frame is held until the link waits for its answer, then sent
//! with that wait's length as one exchange; the daemon runs the exchange on
//! the device's clock and returns what came back, with the device's clock
//! after it. So the link's time-outs mean what they mean on a port, and the
//! time a job waits for another to finish does not count against them.

use super::wire::{read_message, write_message, ClientMessage, DaemonMessage, Role};
use crate::transport::Transport;
use crate::Npu;
use anyhow::Context;
use std::collections::VecDeque;
use std::io::{self, BufReader};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct DaemonTransport {
    connection: Connection,
    describe: String,
    slowdown: u32,
    baud: u32,
    /// The device's clock, as of the daemon's last answer.
    now: Duration,
    /// A frame sent and not yet exchanged.
    pending: Vec<u8>,
    /// Answer bytes not yet read by the link.
    received: VecDeque<u8>,
}

/// The one-line error for a socket nothing answers on.
pub fn not_running(socket: &Path, e: &io::Error) -> String {
    format!("no npu daemon answers at {} ({e}): start one with `npu daemon --sim` or `npu daemon --port PORT`, or name its socket with --daemon PATH", socket.display())
}

/// One client's socket to the daemon: a message out, the daemon's answer back.
struct Connection {
    socket: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Connection {
    /// Connects to the daemon at `socket` as `role`, named `name` for
    /// watchers, and returns the daemon's Welcome too.
    fn open(socket: &Path, role: Role, name: &str) -> io::Result<(Self, DaemonMessage)> {
        let stream = UnixStream::connect(socket).map_err(|e| io::Error::new(e.kind(), not_running(socket, &e)))?;
        let writer = stream.try_clone()?;
        let mut connection = Connection { socket: socket.to_path_buf(), reader: BufReader::new(stream), writer };
        let welcome = connection.call(ClientMessage::Hello { role, name: name.to_string() })?;
        Ok((connection, welcome))
    }

    /// Sends `message` and reads the daemon's answer. A closed socket is "the
    /// daemon went away"; the daemon's Error answer is an error too.
    fn call(&mut self, message: ClientMessage) -> io::Result<DaemonMessage> {
        let gone = |e: io::Error| io::Error::new(e.kind(), format!("the npu daemon at {} went away ({e})", self.socket.display()));
        write_message(&mut self.writer, &message.encode()).map_err(gone)?;
        match read_message(&mut self.reader).map_err(gone)? {
            None => Err(io::Error::new(io::ErrorKind::BrokenPipe, format!("the npu daemon at {} went away", self.socket.display()))),
            Some(body) => match DaemonMessage::decode(&body)? {
                DaemonMessage::Error { message } => Err(io::Error::other(message)),
                m => Ok(m),
            },
        }
    }
}

/// The error for an answer of the wrong kind.
fn unexpected(answer: DaemonMessage, to: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("the npu daemon answered {answer:?} to {to}"))
}

impl DaemonTransport {
    /// A job's connection: it holds the device from its first exchange
    /// until it is dropped.
    pub fn connect(socket: &Path, name: &str) -> io::Result<Self> {
        match Connection::open(socket, Role::Job, name)? {
            (connection, DaemonMessage::Welcome { describe, slowdown, now, baud }) => Ok(Self { connection, describe, slowdown, baud, now, pending: vec![], received: VecDeque::new() }),
            (_, other) => Err(unexpected(other, "Hello")),
        }
    }

    /// The device's link rate, as the daemon opened it.
    pub fn baud(&self) -> u32 {
        self.baud
    }
}

impl Transport for DaemonTransport {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(bytes);
        Ok(())
    }

    fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        if self.received.is_empty() {
            let bytes = std::mem::take(&mut self.pending);
            match self.connection.call(ClientMessage::Exchange { timeout, bytes })? {
                DaemonMessage::Answer { now, bytes } => {
                    self.now = self.now.max(now);
                    self.received.extend(bytes);
                }
                other => return Err(unexpected(other, "an exchange")),
            }
        }
        let n = buf.len().min(self.received.len());
        for (slot, byte) in buf.iter_mut().zip(self.received.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }

    fn resync(&mut self, quiet: Duration) -> io::Result<()> {
        self.pending.clear();
        self.received.clear();
        match self.connection.call(ClientMessage::Resync { quiet })? {
            DaemonMessage::Done { now } => {
                self.now = self.now.max(now);
                Ok(())
            }
            other => Err(unexpected(other, "a resync")),
        }
    }

    fn now(&self) -> Duration {
        self.now
    }

    fn full_duplex(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn slowdown(&self) -> u32 {
        self.slowdown
    }
}

/// The daemon's device as an [`Npu`] (INFO read), at the daemon's link rate:
/// a job's connection.
pub fn open_npu(socket: &Path, name: &str) -> anyhow::Result<Npu> {
    let transport = DaemonTransport::connect(socket, name).map_err(|e| anyhow::anyhow!("{e}"))?;
    let baud = transport.baud();
    Npu::open(Box::new(transport), baud).with_context(|| format!("the device of the npu daemon at {} is not answering as an NPU", socket.display()))
}

/// A watcher's connection: statistics only, never the device.
pub struct Watcher(Connection);

impl Watcher {
    pub fn connect(socket: &Path, name: &str) -> io::Result<Self> {
        Ok(Watcher(Connection::open(socket, Role::Watch, name)?.0))
    }

    pub fn stats(&mut self) -> io::Result<super::DaemonStats> {
        match self.0.call(ClientMessage::Stats)? {
            DaemonMessage::Stats { json } => serde_json::from_str(&json).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            other => Err(unexpected(other, "Stats")),
        }
    }
}
