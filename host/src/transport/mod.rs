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
}
