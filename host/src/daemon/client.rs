//! A device through `npu daemon`: the [`Transport`] a client's link uses.
//!
//! A request frame is held until the link waits for its answer, then sent
//! with that wait's length as one exchange; the daemon runs the exchange on
//! the device's clock and returns what came back, with the device's clock
//! after it. So the link's time-outs mean what they mean on a port, and the
//! time a job waits for another to finish does not count against them.

use super::wire::{read_message, write_message, ClientMessage, DaemonMessage, Role};
use crate::transport::Transport;
use std::collections::VecDeque;
use std::io::{self, BufReader};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct DaemonTransport {
    socket: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
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

/// Connects to the daemon at `socket` as `role`, named `name` for watchers.
pub fn connect(socket: &Path, role: Role, name: &str) -> io::Result<(BufReader<UnixStream>, UnixStream, DaemonMessage)> {
    let stream = UnixStream::connect(socket).map_err(|e| io::Error::new(e.kind(), not_running(socket, &e)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    write_message(&mut writer, &ClientMessage::Hello { role, name: name.to_string() }.encode())?;
    let welcome = answer(&mut reader, socket)?;
    Ok((reader, writer, welcome))
}

/// Reads the daemon's next message; a closed socket is "the daemon went away".
pub fn answer(reader: &mut BufReader<UnixStream>, socket: &Path) -> io::Result<DaemonMessage> {
    match read_message(reader) {
        Ok(Some(body)) => DaemonMessage::decode(&body),
        Ok(None) => Err(io::Error::new(io::ErrorKind::BrokenPipe, format!("the npu daemon at {} went away", socket.display()))),
        Err(e) => Err(io::Error::new(e.kind(), format!("the npu daemon at {} went away ({e})", socket.display()))),
    }
}

impl DaemonTransport {
    /// A job's connection: it holds the device from its first exchange
    /// until it is dropped.
    pub fn connect(socket: &Path, name: &str) -> io::Result<Self> {
        let (reader, writer, welcome) = connect(socket, Role::Job, name)?;
        match welcome {
            DaemonMessage::Welcome { describe, slowdown, now, baud } => Ok(Self { socket: socket.to_path_buf(), reader, writer, describe, slowdown, baud, now, pending: vec![], received: VecDeque::new() }),
            other => Err(io::Error::new(io::ErrorKind::InvalidData, format!("the npu daemon at {} answered {other:?} to Hello", socket.display()))),
        }
    }

    /// The device's link rate, as the daemon opened it.
    pub fn baud(&self) -> u32 {
        self.baud
    }

    fn call(&mut self, message: ClientMessage) -> io::Result<DaemonMessage> {
        write_message(&mut self.writer, &message.encode()).map_err(|e| io::Error::new(e.kind(), format!("the npu daemon at {} went away ({e})", self.socket.display())))?;
        match answer(&mut self.reader, &self.socket)? {
            DaemonMessage::Error { message } => Err(io::Error::other(message)),
            m => Ok(m),
        }
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
            match self.call(ClientMessage::Exchange { timeout, bytes })? {
                DaemonMessage::Answer { now, bytes } => {
                    self.now = self.now.max(now);
                    self.received.extend(bytes);
                }
                other => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("the npu daemon answered {other:?} to an exchange"))),
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
        match self.call(ClientMessage::Resync { quiet })? {
            DaemonMessage::Done { now } => {
                self.now = self.now.max(now);
                Ok(())
            }
            other => Err(io::Error::new(io::ErrorKind::InvalidData, format!("the npu daemon answered {other:?} to a resync"))),
        }
    }

    fn now(&self) -> Duration {
        self.now
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn slowdown(&self) -> u32 {
        self.slowdown
    }
}

/// A watcher's connection: statistics only, never the device.
pub struct Watcher {
    socket: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Watcher {
    pub fn connect(socket: &Path, name: &str) -> io::Result<Self> {
        let (reader, writer, _) = connect(socket, Role::Watch, name)?;
        Ok(Self { socket: socket.to_path_buf(), reader, writer })
    }

    pub fn stats(&mut self) -> io::Result<super::DaemonStats> {
        write_message(&mut self.writer, &ClientMessage::Stats.encode()).map_err(|e| io::Error::new(e.kind(), format!("the npu daemon at {} went away ({e})", self.socket.display())))?;
        match answer(&mut self.reader, &self.socket)? {
            DaemonMessage::Stats { json } => serde_json::from_str(&json).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            other => Err(io::Error::new(io::ErrorKind::InvalidData, format!("the npu daemon answered {other:?} to Stats"))),
        }
    }
}
