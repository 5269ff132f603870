//! The driver under host-side faults, on the Verilated NPU behind a
//! transport that misbehaves on purpose: a device that vanishes mid-GEMM,
//! answers damaged on the way, answers that never come. The driver must
//! name the command in its error, retry only what is safe to repeat, and
//! never return a wrong result.

use npu_host::transport::{SimTransport, Transport};
use npu_host::Npu;
use npu_spec::tools::VERILATOR;
use npu_spec::{gemm_reference, Matrix, NpuConfig};
use npu_tests::{link_test_config, require, xorshift};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the faulty transport does; shared so a test can change it midway.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// Sending fails once this many bytes have gone out (cable pulled).
    VanishAfter(usize),
    /// The answer to the next request with this opcode arrives with a bit
    /// flipped (its CRC then fails), once.
    CorruptAnswerTo(u8),
    /// Every answer arrives with a bit flipped.
    CorruptAll,
    /// Received bytes are thrown away (answers lost or too late), this many frames' worth of calls.
    DropAnswers,
}

struct Faulty {
    inner: SimTransport,
    fault: Arc<Mutex<Fault>>,
    sent: usize,
    /// Requests sent and answers passed so far, and the answer to damage
    /// (the one to the request of that number: with requests pipelined, a
    /// request may be sent before the answer before it is in).
    requests: usize,
    answers: usize,
    target: Option<usize>,
    /// Position in the answer being received, and its payload length.
    pos: usize,
    len: usize,
}

impl Faulty {
    /// Follows the answer frames byte by byte, damaging the status byte of
    /// an answer when asked to.
    fn pass(&mut self, byte: &mut u8, corrupt_all: bool) {
        match self.pos {
            0 if *byte != npu_spec::protocol::SYNC => return,
            1 => self.len = usize::from(*byte),
            2 => self.len |= usize::from(*byte) << 8,
            3 if self.target == Some(self.answers) || corrupt_all => {
                *byte ^= 0x10;
                self.target = None;
            }
            _ => {}
        }
        self.pos += 1;
        if self.pos == 3 + self.len + 2 {
            self.pos = 0;
            self.answers += 1;
        }
    }
}

impl Transport for Faulty {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let fault = *self.fault.lock().unwrap();
        if let Fault::VanishAfter(n) = fault {
            if self.sent + bytes.len() > n {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the device disconnected"));
            }
        }
        self.sent += bytes.len();
        let fault = *self.fault.lock().unwrap();
        if let Fault::CorruptAnswerTo(op) = fault {
            if bytes.len() > 3 && bytes[3] == op {
                self.target = Some(self.requests);
                *self.fault.lock().unwrap() = Fault::None;
            }
        }
        self.requests += 1;
        self.inner.send(bytes)
    }

    fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        let fault = *self.fault.lock().unwrap();
        if let Fault::VanishAfter(n) = fault {
            if self.sent >= n {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the device disconnected"));
            }
        }
        let got = self.inner.receive(buf, timeout)?;
        if fault == Fault::DropAnswers {
            return Ok(0);
        }
        for b in &mut buf[..got] {
            self.pass(b, fault == Fault::CorruptAll);
        }
        Ok(got)
    }

    fn resync(&mut self, quiet: Duration) -> io::Result<()> {
        // Answers still on the line are dropped: count from here.
        self.pos = 0;
        self.answers = self.requests;
        self.inner.resync(quiet)
    }

    fn now(&self) -> Duration {
        self.inner.now()
    }

    fn describe(&self) -> String {
        "a faulty link to the simulated NPU".into()
    }
}

fn config() -> NpuConfig {
    link_test_config(4, 64, 64, 32)
}

fn faulty(c: &NpuConfig, fault: Fault) -> (Box<Faulty>, Arc<Mutex<Fault>>) {
    let shared = Arc::new(Mutex::new(fault));
    (Box::new(Faulty { inner: SimTransport::new(c).unwrap(), fault: shared.clone(), sent: 0, requests: 0, answers: 0, target: None, pos: 0, len: 0 }), shared)
}

fn random(rows: usize, cols: usize, seed: u64) -> Matrix<i8> {
    let mut next = xorshift(seed);
    Matrix::from_fn(rows, cols, |_, _| next() as i8)
}

#[test]
fn a_device_that_vanishes_mid_gemm_is_an_error_naming_the_command() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let c = config();
    let (t, fault) = faulty(&c, Fault::None);
    let mut npu = Npu::open(t, c.link.baud).unwrap();
    *fault.lock().unwrap() = Fault::VanishAfter(1500);
    let e = npu.gemm(&random(20, 100, 1), &random(100, 20, 2)).unwrap_err().to_string();
    assert!(e.contains("disconnected") && (e.contains("WRITE") || e.contains("GEMM") || e.contains("READ")), "{e}");
}

#[test]
fn a_damaged_answer_to_a_read_is_retried_and_the_result_is_exact() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let c = config();
    let (t, fault) = faulty(&c, Fault::None);
    let mut npu = Npu::open(t, c.link.baud).unwrap();
    let (a, b) = (random(7, 30, 3), random(30, 6, 4));
    *fault.lock().unwrap() = Fault::CorruptAnswerTo(npu_spec::protocol::Opcode::Read as u8);
    // Same operands: nothing is written again, so the next answer is a READ's.
    assert_eq!(npu.gemm(&a, &b).unwrap(), gemm_reference(&a, &b).unwrap());
    assert!(npu.link_stats().retries >= 1, "{:?}", npu.link_stats());
}

#[test]
fn damaged_answers_to_commands_that_change_memory_are_errors_never_wrong_results() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let c = config();
    let (t, fault) = faulty(&c, Fault::None);
    let mut npu = Npu::open(t, c.link.baud).unwrap();
    *fault.lock().unwrap() = Fault::CorruptAll;
    let (a, b) = (random(5, 12, 5), random(12, 5, 6));
    let e = npu.gemm(&a, &b).unwrap_err().to_string();
    assert!(e.contains("WRITE") && e.contains("damaged"), "{e}");
    // The link heals: the next GEMM writes everything again and is exact.
    *fault.lock().unwrap() = Fault::None;
    assert_eq!(npu.gemm(&a, &b).unwrap(), gemm_reference(&a, &b).unwrap());
}

#[test]
fn answers_that_never_come_time_out_naming_the_command() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let c = config();
    let (t, _) = faulty(&c, Fault::DropAnswers);
    let e = Npu::open(t, c.link.baud).err().expect("no answer").to_string();
    assert!(e.contains("INFO: no answer"), "{e}");
}

/// A device of protocol version 2, whose INFO record is a byte shorter
/// (it has no `mover` byte): it answers INFO and nothing else.
struct OldDevice {
    out: Vec<u8>,
}

impl Transport for OldDevice {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut info = npu_spec::protocol::Info::of(&config()).encode();
        info.truncate(info.len() - 1);
        info[0] = 2;
        let mut payload = vec![npu_spec::protocol::Status::Ok as u8, bytes[3]];
        payload.extend(info);
        self.out.extend(npu_spec::protocol::encode_frame(&payload));
        Ok(())
    }

    fn receive(&mut self, buf: &mut [u8], _timeout: Duration) -> io::Result<usize> {
        let n = buf.len().min(self.out.len());
        buf[..n].copy_from_slice(&self.out[..n]);
        self.out.drain(..n);
        Ok(n)
    }

    fn resync(&mut self, _quiet: Duration) -> io::Result<()> {
        self.out.clear();
        Ok(())
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }

    fn describe(&self) -> String {
        "a device of protocol version 2".into()
    }
}

#[test]
fn a_device_of_another_protocol_version_is_told_apart_from_a_garbled_answer() {
    let err = Npu::open(Box::new(OldDevice { out: Vec::new() }), config().link.baud).err().expect("the driver refuses it");
    let text = err.to_string();
    let version = format!("protocol version {}", npu_spec::protocol::FORMAT_VERSION);
    assert!(text.contains(&version) && text.contains("rebuild the bitstream or the host from the same tree"), "{text}");
}
