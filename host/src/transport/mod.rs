//! Byte transports to an NPU: a serial port (a board's `/dev/ttyUSB*` or the
//! virtual board's pseudo-terminal) and the in-process Verilated NPU.
//!
//! A transport only moves bytes; framing, time-outs per command and answers
//! are the [`crate::link`] layer's.

use std::io;
use std::time::Duration;

mod serial;
mod simulated;

pub use serial::SerialTransport;
pub use simulated::SimTransport;

/// A full-duplex byte stream to one device.
pub trait Transport: Send {
    /// Sends every byte of `bytes`.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Waits up to `timeout` for bytes and returns how many were put in
    /// `buf`; 0 means none came in time.
    fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;
    /// Lets `quiet` pass with nothing sent, then drops every byte received
    /// and not yet read: after a failed command, so the next answer starts
    /// clean (the device drops a partial request after 40 bit times).
    fn resync(&mut self, quiet: Duration) -> io::Result<()>;
    /// The transport's clock: wall time for a real port, the NPU's simulated
    /// time for a simulation (which runs slower than the hardware would, and
    /// must not time out for that).
    fn now(&self) -> Duration;
    /// What the transport is connected to, for messages ("/dev/ttyUSB1").
    fn describe(&self) -> String;
    /// How many times slower than the hardware the far end may run, on the
    /// transport's clock: 1 for a board, or for a simulation whose clock is
    /// its simulated time; more for a virtual board behind a serial port
    /// (see [`VIRTUAL_BOARD_SLOWDOWN`]). The link stretches its waits by it.
    fn slowdown(&self) -> u32 {
        1
    }
    /// Whether bytes may be sent while an answer is still coming, so that
    /// requests can be pipelined ([`crate::link::Link::pipeline`]): true for
    /// a port or a simulation; a daemon relays one request at a time.
    fn full_duplex(&self) -> bool {
        true
    }
}

/// How much longer than a board a virtual board (`npu sim serve`, a
/// pseudo-terminal) may take, on the wall clock. It simulates the NPU cycle
/// by cycle, about 3M cycles a second for the 4x4 (`npu sim bench`): 16
/// times slower than a 48 MHz board, and slower again when the machine is
/// busy, so a 1 KB answer could outlast a board's time-out. Four times 16
/// leaves room for a busy machine and keeps each wait on a dead port under
/// two seconds (a 1 KB READ's: 1.6 s).
pub const VIRTUAL_BOARD_SLOWDOWN: u32 = 64;
