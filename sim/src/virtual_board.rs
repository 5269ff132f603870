//! The virtual board: the Verilated NPU behind a pseudo-terminal.
//!
//! Bytes written to the terminal by any serial program are driven onto the
//! NPU's `uart_rx` pin bit by bit at the configured clocks per bit; the
//! NPU's `uart_tx` pin is sampled back into bytes and written to the
//! terminal. The simulation runs as fast as it can while the line or the NPU
//! is busy, and sleeps while both are idle. After the last activity it runs
//! on through the line's silence, one chunk per millisecond of wall time,
//! until the device's idle time-out has passed in simulated time: a frame
//! cut short is then dropped, as on a board, instead of waiting forever for
//! its rest and swallowing the next request.

use crate::npu_sim::{NpuSim, VerilatedNpu};
use crate::verilated::ModelError;
use npu_spec::protocol::IDLE_TIMEOUT_BITS;
use npu_spec::NpuConfig;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Why the virtual board stopped.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("could not open a pseudo-terminal: {0}")]
    Pty(std::io::Error),
    #[error("the pseudo-terminal failed: {0}")]
    Io(std::io::Error),
}

/// A pseudo-terminal: the master end this process serves, the path of the
/// slave end that serial programs open.
pub struct Pty {
    master: File,
    /// Held open so the terminal lives while no client has it open.
    _slave: File,
    pub path: PathBuf,
}

impl Pty {
    /// A new raw (no echo, no line editing, 8-bit clean) pseudo-terminal.
    pub fn open() -> std::io::Result<Self> {
        let (mut master, mut slave): (RawFd, RawFd) = (-1, -1);
        let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let master_file = unsafe { File::from_raw_fd(master) };
        let slave_file = unsafe { File::from_raw_fd(slave) };
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(slave, &mut t) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::cfmakeraw(&mut t);
            if libc::tcsetattr(slave, libc::TCSANOW, &t) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let flags = libc::fcntl(master, libc::F_GETFL);
            if libc::fcntl(master, libc::F_SETFL, flags | libc::O_NONBLOCK) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        let path = std::fs::read_link(format!("/proc/self/fd/{slave}"))?;
        Ok(Self { master: master_file, _slave: slave_file, path })
    }
}

/// Counts of what the board did.
#[derive(Debug, Default, Clone, Copy)]
pub struct BoardStats {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub cycles: u64,
}

/// Builds the Verilated NPU, opens a pseudo-terminal, calls `ready` with its
/// path, and serves until `stop` is set.
pub fn serve(config: &NpuConfig, stop: &AtomicBool, ready: impl FnOnce(&std::path::Path)) -> Result<BoardStats, BoardError> {
    let pins = VerilatedNpu::new(config, None)?;
    let mut sim = NpuSim::with_pins(pins, config);
    sim.keep_raw_bytes();
    let mut pty = Pty::open().map_err(BoardError::Pty)?;
    ready(&pty.path);
    let mut stats = BoardStats::default();
    let chunk = 10 * config.clocks_per_bit();
    let mut buf = [0u8; 4096];
    // One more chunk after the last sign of activity: the device raises
    // `busy` a few cycles after a frame's last stop bit has left the line.
    let mut was_active = false;
    // Simulated silence still owed after the last activity: the idle
    // time-out and ten bit times more.
    let silence = (IDLE_TIMEOUT_BITS + 10) * config.clocks_per_bit();
    let mut silence_left = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut got_input = false;
        match pty.master.read(&mut buf) {
            Ok(n) if n > 0 => {
                sim.send(&buf[..n]);
                stats.bytes_in += n as u64;
                got_input = true;
            }
            Ok(_) => {}
            // EIO: no client has the terminal open right now.
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::EIO) => {}
            Err(e) => return Err(BoardError::Io(e)),
        }
        let active = got_input || sim.sending() || sim.receiving() || sim.device_busy();
        if active || was_active {
            for _ in 0..chunk {
                sim.tick();
            }
            was_active = active;
            silence_left = silence;
        } else {
            std::thread::sleep(Duration::from_millis(1));
            // The line was quiet for this millisecond: let the device see
            // quiet too, until its time-out has surely passed.
            let n = chunk.min(silence_left);
            for _ in 0..n {
                sim.tick();
            }
            silence_left -= n;
        }
        let out = sim.take_raw();
        if !out.is_empty() {
            stats.bytes_out += out.len() as u64;
            let mut rest = &out[..];
            while !rest.is_empty() {
                match pty.master.write(rest) {
                    Ok(n) => rest = &rest[n..],
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(1)),
                    Err(e) => return Err(BoardError::Io(e)),
                }
            }
        }
    }
    stats.cycles = sim.cycles();
    Ok(stats)
}
