//! Helpers shared by the host's integration tests.
// Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

use npu_spec::protocol::{FrameDecoder, FrameError};
use std::io::{BufRead, Read};
use std::process::{Child, Command};
use std::sync::mpsc::Receiver;

/// Whether Verilator is here; in CI its absence is a failure, not a skip.
pub fn have_verilator() -> bool {
    if npu_spec::tools::VERILATOR.find().is_ok() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "CI must have verilator");
    eprintln!("SKIPPED: verilator is not installed");
    false
}

/// The default config's text with an 8 MHz core clock and a 2 Mbaud link (4
/// clocks per bit, as the default's 12 Mbaud at 48 MHz), so that simulated
/// traffic and work are short.
pub fn default_toml_at_8_mhz() -> String {
    let text = npu_spec::config::DEFAULT_TOML;
    assert!(text.lines().any(|l| l.starts_with("core_hz = ")), "the default config sets core_hz on a line of its own");
    assert!(text.lines().any(|l| l.starts_with("baud = ")), "the default config sets baud on a line of its own");
    text.lines()
        .map(|l| if l.starts_with("core_hz = ") { "core_hz = 8_000_000" } else if l.starts_with("baud = ") { "baud = 2_000_000" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `npu sim serve` in its own process, stopped when dropped.
pub struct VirtualBoard {
    child: Child,
    /// The pseudo-terminal it serves.
    pub path: String,
}

impl VirtualBoard {
    pub fn start(config_path: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_npu")).args(["sim", "serve", "--config", config_path]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().unwrap();
        let mut path = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut path).unwrap();
        let path = path.trim().to_string();
        assert!(path.starts_with("/dev/pts/"), "{path:?}");
        VirtualBoard { child, path }
    }
}

impl VirtualBoard {
    /// Its terminal, opened as a serial program would, and the frames that
    /// arrive on it.
    pub fn connect(&self) -> (std::fs::File, Receiver<Result<Vec<u8>, FrameError>>) {
        let port = std::fs::OpenOptions::new().read(true).write(true).open(&self.path).unwrap();
        let answers = frames(port.try_clone().unwrap());
        (port, answers)
    }
}

impl Drop for VirtualBoard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every frame that arrives on `port`, decoded, in order.
pub fn frames(mut port: std::fs::File) -> Receiver<Result<Vec<u8>, FrameError>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut decoder = FrameDecoder::new();
        let mut buf = [0u8; 256];
        loop {
            let n = port.read(&mut buf).unwrap_or(0);
            if n == 0 {
                return;
            }
            for frame in decoder.push(&buf[..n]) {
                let _ = tx.send(frame);
            }
        }
    });
    rx
}
