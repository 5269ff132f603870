//! A serial port, through the `serialport` crate (8N1, no flow control).

use super::Transport;
use anyhow::Context;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

pub struct SerialTransport {
    port: Box<dyn serialport::SerialPort>,
    path: String,
    opened: Instant,
    /// The port is a pseudo-terminal: a virtual board, not a board's UART.
    pseudo_terminal: bool,
}

impl SerialTransport {
    /// Opens `path` at `baud`. The error names the port and what to check.
    pub fn open(path: &str, baud: u32) -> anyhow::Result<Self> {
        if !std::path::Path::new(path).exists() {
            anyhow::bail!("serial port {path} does not exist (is the board plugged in? for the virtual board, start `npu sim serve` and use the path it prints)");
        }
        let port = serialport::new(path, baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .timeout(Duration::from_millis(100))
            .open()
            .with_context(|| format!("could not open serial port {path} at {baud} baud (check its permissions: the user must be in the dialout group)"))?;
        Ok(Self { port, path: path.to_string(), opened: Instant::now(), pseudo_terminal: is_pseudo_terminal(path) })
    }
}

/// Whether `path` is a Unix98 pseudo-terminal (`/dev/pts/N`, also through
/// a symbolic link), as `npu sim serve` opens; a board's USB UART is a
/// `/dev/ttyUSB*` or `/dev/ttyACM*` device.
fn is_pseudo_terminal(path: &str) -> bool {
    std::fs::canonicalize(path).map(|p| p.starts_with("/dev/pts")).unwrap_or(false)
}

impl Transport for SerialTransport {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.port.write_all(bytes)?;
        self.port.flush()
    }

    fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.port.set_timeout(timeout.max(Duration::from_millis(1))).map_err(io::Error::other)?;
        match self.port.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(e),
        }
    }

    fn resync(&mut self, quiet: Duration) -> io::Result<()> {
        let until = Instant::now() + quiet;
        let mut buf = [0u8; 256];
        // Read and drop until the line has been quiet long enough.
        while Instant::now() < until {
            if self.receive(&mut buf, until - Instant::now())? > 0 {
                continue;
            }
        }
        self.port.clear(serialport::ClearBuffer::Input).map_err(io::Error::other)
    }

    fn now(&self) -> Duration {
        self.opened.elapsed()
    }

    fn describe(&self) -> String {
        self.path.clone()
    }

    fn slowdown(&self) -> u32 {
        if self.pseudo_terminal {
            super::VIRTUAL_BOARD_SLOWDOWN
        } else {
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_pseudo_terminal;

    #[test]
    fn only_pseudo_terminals_count_as_virtual_boards() {
        assert!(!is_pseudo_terminal("/dev/null"));
        assert!(!is_pseudo_terminal("/dev/ttyUSB-that-is-not-there"));
        assert!(!is_pseudo_terminal("/dev/pts/not-a-terminal-either"));
    }
}

#[cfg(test)]
mod rate_tests {
    use super::*;

    /// The bridges' fast rates are not standard termios speeds: the iCEBreaker's
    /// FT2232H takes 12 MHz / n (6 Mbaud exact), the ULX3S's FT231X up to
    /// 3 Mbaud. On Linux the port is set to them exactly (termios2, BOTHER),
    /// checked here on a pseudo-terminal, which keeps the rate it is given.
    #[test]
    fn non_standard_rates_are_set_exactly() {
        let pty = npu_sim::virtual_board::Pty::open().unwrap();
        let path = pty.path.to_str().unwrap();
        for baud in [1_000_000, 3_000_000, 6_000_000, 12_000_000, 1_234_567] {
            let t = SerialTransport::open(path, baud).unwrap();
            assert_eq!(t.port.baud_rate().unwrap(), baud, "{path} at {baud}");
        }
    }
}
