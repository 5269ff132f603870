//! The messages between `npu daemon` and its clients, over a Unix socket.
//!
//! Each message is a 4-byte little-endian length, then that many bytes: a
//! kind byte and its fields. Clients relay whole link exchanges (a request
//! frame out, the device's answer frame back), so the host's link layer, its
//! time-outs and its retries work through the daemon exactly as on a port.

use std::io::{self, Read, Write};
use std::time::Duration;

/// The longest message either side accepts (a request frame is at most
/// about 1 KB; a stats answer a few KB).
pub const MAX_MESSAGE: usize = 1 << 20;

/// What a client is to the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Drives the device: holds it from its first exchange until it
    /// disconnects, so that its on-chip data stays its own.
    Job = 0,
    /// Only reads the daemon's statistics: never holds the device.
    Watch = 1,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// First message: who the client is (shown by watchers).
    Hello { role: Role, name: String },
    /// Send `bytes` to the device, then wait up to `timeout` of the device's
    /// clock for one answer frame.
    Exchange { timeout: Duration, bytes: Vec<u8> },
    /// Let `quiet` pass with nothing sent, then drop what was received.
    Resync { quiet: Duration },
    /// The daemon's statistics, as JSON.
    Stats,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonMessage {
    /// The answer to Hello: the device, how much slower than a board it may
    /// run, its clock, and its link's baud.
    Welcome { describe: String, slowdown: u32, now: Duration, baud: u32 },
    /// The bytes received for an exchange (a whole frame, or what came
    /// before the time-out) and the device's clock after it.
    Answer { now: Duration, bytes: Vec<u8> },
    /// A resync is done.
    Done { now: Duration },
    /// The statistics, as JSON ([`super::DaemonStats`]).
    Stats { json: String },
    /// The device's link failed; the text says how.
    Error { message: String },
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_duration(out: &mut Vec<u8>, d: Duration) {
    out.extend_from_slice(&(d.as_nanos().min(u128::from(u64::MAX)) as u64).to_le_bytes());
}

/// Reads fields off a message body, with a clear error when it ends early.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.0.len() < n {
            return Err(bad("a message ends early"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn duration(&mut self) -> io::Result<Duration> {
        Ok(Duration::from_nanos(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"))))
    }
    fn rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0).to_vec()
    }
    fn text(&mut self) -> io::Result<String> {
        String::from_utf8(self.rest()).map_err(|_| bad("a message's text is not UTF-8"))
    }
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

impl ClientMessage {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![];
        match self {
            ClientMessage::Hello { role, name } => {
                b.push(1);
                b.push(*role as u8);
                b.extend_from_slice(name.as_bytes());
            }
            ClientMessage::Exchange { timeout, bytes } => {
                b.push(2);
                put_duration(&mut b, *timeout);
                b.extend_from_slice(bytes);
            }
            ClientMessage::Resync { quiet } => {
                b.push(3);
                put_duration(&mut b, *quiet);
            }
            ClientMessage::Stats => b.push(4),
        }
        b
    }

    pub fn decode(body: &[u8]) -> io::Result<Self> {
        let (&kind, rest) = body.split_first().ok_or_else(|| bad("an empty message"))?;
        let mut f = Fields(rest);
        Ok(match kind {
            1 => {
                let role = match f.take(1)?[0] {
                    0 => Role::Job,
                    1 => Role::Watch,
                    r => return Err(bad(&format!("role {r} is not a role"))),
                };
                ClientMessage::Hello { role, name: f.text()? }
            }
            2 => ClientMessage::Exchange { timeout: f.duration()?, bytes: f.rest() },
            3 => ClientMessage::Resync { quiet: f.duration()? },
            4 => ClientMessage::Stats,
            k => return Err(bad(&format!("message kind {k} is not a client's"))),
        })
    }
}

impl DaemonMessage {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![];
        match self {
            DaemonMessage::Welcome { describe, slowdown, now, baud } => {
                b.push(0x81);
                put_u32(&mut b, *slowdown);
                put_u32(&mut b, *baud);
                put_duration(&mut b, *now);
                b.extend_from_slice(describe.as_bytes());
            }
            DaemonMessage::Answer { now, bytes } => {
                b.push(0x82);
                put_duration(&mut b, *now);
                b.extend_from_slice(bytes);
            }
            DaemonMessage::Done { now } => {
                b.push(0x83);
                put_duration(&mut b, *now);
            }
            DaemonMessage::Stats { json } => {
                b.push(0x84);
                b.extend_from_slice(json.as_bytes());
            }
            DaemonMessage::Error { message } => {
                b.push(0x85);
                b.extend_from_slice(message.as_bytes());
            }
        }
        b
    }

    pub fn decode(body: &[u8]) -> io::Result<Self> {
        let (&kind, rest) = body.split_first().ok_or_else(|| bad("an empty message"))?;
        let mut f = Fields(rest);
        Ok(match kind {
            0x81 => DaemonMessage::Welcome { slowdown: f.u32()?, baud: f.u32()?, now: f.duration()?, describe: f.text()? },
            0x82 => DaemonMessage::Answer { now: f.duration()?, bytes: f.rest() },
            0x83 => DaemonMessage::Done { now: f.duration()? },
            0x84 => DaemonMessage::Stats { json: f.text()? },
            0x85 => DaemonMessage::Error { message: f.text()? },
            k => return Err(bad(&format!("message kind {k:#04x} is not the daemon's"))),
        })
    }
}

/// Writes one message body with its length.
pub fn write_message(w: &mut impl Write, body: &[u8]) -> io::Result<()> {
    let mut m = Vec::with_capacity(4 + body.len());
    m.extend_from_slice(&(body.len() as u32).to_le_bytes());
    m.extend_from_slice(body);
    w.write_all(&m)?;
    w.flush()
}

/// Reads one message body; `Ok(None)` when the other side closed cleanly
/// between messages.
pub fn read_message(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 || len > MAX_MESSAGE {
        return Err(bad(&format!("a message of {len} bytes")));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let client = [
            ClientMessage::Hello { role: Role::Watch, name: "npu stats (pid 7)".into() },
            ClientMessage::Exchange { timeout: Duration::from_millis(270), bytes: vec![0xA5, 1, 0, 1, 2, 3] },
            ClientMessage::Resync { quiet: Duration::from_micros(850) },
            ClientMessage::Stats,
        ];
        for m in client {
            assert_eq!(ClientMessage::decode(&m.encode()).unwrap(), m);
        }
        let daemon = [
            DaemonMessage::Welcome { describe: "the simulated NPU".into(), slowdown: 64, now: Duration::from_nanos(123), baud: 1_000_000 },
            DaemonMessage::Answer { now: Duration::from_secs(2), bytes: vec![0xA5, 2, 0] },
            DaemonMessage::Done { now: Duration::ZERO },
            DaemonMessage::Stats { json: "{}".into() },
            DaemonMessage::Error { message: "gone".into() },
        ];
        for m in daemon {
            assert_eq!(DaemonMessage::decode(&m.encode()).unwrap(), m);
        }
    }

    #[test]
    fn bad_messages_are_errors_not_panics() {
        assert!(ClientMessage::decode(&[]).is_err());
        assert!(ClientMessage::decode(&[2, 1, 2]).is_err());
        assert!(ClientMessage::decode(&[1, 9]).is_err());
        assert!(ClientMessage::decode(&[0x81]).is_err());
        assert!(DaemonMessage::decode(&[4]).is_err());
        let mut framed = vec![];
        write_message(&mut framed, &[4]).unwrap();
        assert_eq!(read_message(&mut framed.as_slice()).unwrap(), Some(vec![4]));
        assert_eq!(read_message(&mut [].as_slice()).unwrap(), None);
        assert!(read_message(&mut [0u8, 0, 0, 0].as_slice()).is_err());
        assert!(read_message(&mut [255u8, 255, 255, 255].as_slice()).is_err());
    }
}
