//! `npu daemon`: one process owns one device and serves local programs over
//! a Unix socket, so that several programs share a board (or one simulated
//! NPU) and a watcher sees the device's counters while a job runs.
//!
//! - A client relays whole link exchanges ([`wire`]): its request frame out,
//!   the device's answer frame back. Its own link layer, time-outs and
//!   retries run unchanged, on the device's clock.
//! - **A job holds the device from its first exchange until it
//!   disconnects.** A GEMM's writes, runs and reads, and what its driver
//!   believes is on chip, are never interleaved with another client's
//!   commands; the next job waits (watchers see it waiting). A job that dies
//!   mid-command releases the device when its exchange ends: the daemon
//!   always finishes an exchange it started, so the device is left between
//!   commands, and the next job's driver starts with no belief about what
//!   is on chip.
//! - **Watchers never hold the device.** The daemon itself reads the
//!   device's counters between exchanges, every poll interval, and keeps a
//!   history of intervals: utilization, delivered GOPS, the jobs' bytes, and
//!   its own polling bytes apart from them.
//! - The socket is created owner-only (0600, in a 0700 folder): another
//!   user cannot drive the board. A second daemon on the same socket or the
//!   same serial port refuses to start.

pub mod client;
pub mod wire;

use crate::driver::Npu;
use anyhow::{bail, Context, Result};
use npu_spec::protocol::Counters;
use serde::{Deserialize, Serialize};
use std::io::{BufReader, BufWriter};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use wire::{read_message, write_message, ClientMessage, DaemonMessage, Role};

/// Intervals kept for watchers' history graphs.
const HISTORY: usize = 240;

/// The default socket: per user, under `$XDG_RUNTIME_DIR` (or the temporary
/// folder, per user id, where there is none).
pub fn default_socket() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("npu").join("daemon.sock"),
        None => std::env::temp_dir().join(format!("npu-{}", current_uid())).join("daemon.sock"),
    }
}

/// The socket `NPU_DAEMON` names, if it is set.
pub fn socket_from_env() -> Option<PathBuf> {
    std::env::var_os("NPU_DAEMON").filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The socket a `--daemon [SOCKET]` argument means: the path given, or for a
/// bare `--daemon` (an empty path) `NPU_DAEMON`, else the default socket.
pub fn socket_named(arg: &Path) -> PathBuf {
    if arg.as_os_str().is_empty() {
        socket_from_env().unwrap_or_else(default_socket)
    } else {
        arg.to_path_buf()
    }
}

/// The user id, from the owner of this process's /proc entry.
fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0)
}

/// One poll interval as watchers see it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// Wall seconds since the daemon started, at the interval's end.
    pub at_s: f64,
    /// Device time that passed in the interval (its cycles at its clock).
    pub device_s: f64,
    /// Useful MACs per PE per device cycle.
    pub utilization: f64,
    /// 2 x MACs per second of device time.
    pub gops: f64,
    /// Bytes the jobs moved over the link in the interval (both ways).
    pub job_bytes: u64,
    /// Of those, the bytes sent to the device (requests)...
    pub job_bytes_in: u64,
    /// ...and the bytes it sent back (answers).
    pub job_bytes_out: u64,
    /// The daemon's own polling bytes in the interval (both ways).
    pub poll_bytes: u64,
    /// The job holding the device at the interval's end.
    pub holder: Option<String>,
}

/// What `npu stats --daemon` shows.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DaemonStats {
    pub device: String,
    pub rows: usize,
    pub cols: usize,
    pub core_hz: u64,
    pub poll_s: f64,
    /// The job holding the device, and the jobs waiting for it.
    pub holder: Option<String>,
    pub waiting: Vec<String>,
    pub watchers: u64,
    /// Jobs served since the daemon started.
    pub jobs: u64,
    /// Bytes the jobs sent to the device and received from it.
    pub job_bytes_sent: u64,
    pub job_bytes_received: u64,
    /// The daemon's own COUNTERS polling, both ways.
    pub poll_bytes: u64,
    /// The device's counters at the last poll.
    pub macs: u64,
    pub cycles: u64,
    pub samples: Vec<Sample>,
    /// The device's link failure, if its last poll failed.
    pub error: Option<String>,
}

/// Which job holds the device, and which wait for it.
#[derive(Default)]
struct Hold {
    holder: Option<(u64, String)>,
    waiting: Vec<(u64, String)>,
}

/// Everything the poller counts between polls.
struct Tally {
    stats: DaemonStats,
    /// The jobs' bytes to and from the device since the last poll.
    interval_in: u64,
    interval_out: u64,
    last: Option<Counters>,
}

struct Shared {
    device: Mutex<Npu>,
    hold: Mutex<Hold>,
    hold_changed: Condvar,
    tally: Mutex<Tally>,
    started: Instant,
    next_id: AtomicU64,
    stop: AtomicBool,
    pes: usize,
}

/// A running daemon: its socket, and what stops it.
pub struct Daemon {
    shared: Arc<Shared>,
    socket: PathBuf,
    _port_lock: Option<std::fs::File>,
}

/// Refuses a second daemon on `port` (a serial port path): an exclusive
/// lock on a file named after it, to be held for the daemon's life. Take it
/// before opening the port, so that a refused daemon sends nothing.
pub fn lock_port(port: &str) -> Result<std::fs::File> {
    let canonical = std::fs::canonicalize(port).unwrap_or_else(|_| PathBuf::from(port));
    let name: String = canonical.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let dir = std::env::temp_dir().join("npu-port-locks");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{name}.lock"));
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!("another npu daemon already owns {port} (lock {}): stop it, or point clients at its socket with --daemon", path.display()),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

/// Refuses a second daemon on `socket`: one answers there already. (The CLI
/// asks before opening its device, so that a refused daemon sends nothing.)
pub fn refuse_if_served(socket: &Path) -> Result<()> {
    if UnixStream::connect(socket).is_ok() {
        bail!("an npu daemon is already serving {}: stop it first, or give this one another --socket", socket.display());
    }
    Ok(())
}

/// Binds `socket` owner-only; refuses when a daemon answers there already,
/// and replaces a socket file that nothing answers on (a daemon that died).
fn bind(socket: &Path) -> Result<UnixListener> {
    let dir = socket.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(|| format!("cannot make {} owner-only", dir.display()))?;
    }
    if socket.exists() {
        refuse_if_served(socket)?;
        std::fs::remove_file(socket).with_context(|| format!("cannot remove the stale socket {}", socket.display()))?;
    }
    // Created owner-only from the start: no moment in which another user
    // could connect.
    let listener = {
        let old = unsafe_umask(0o177);
        let bound = UnixListener::bind(socket);
        unsafe_umask(old);
        bound.with_context(|| format!("cannot listen on {}", socket.display()))?
    };
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600)).with_context(|| format!("cannot make {} owner-only", socket.display()))?;
    Ok(listener)
}

/// Sets the process's file-creation mask and returns the old one.
fn unsafe_umask(mask: u32) -> u32 {
    extern "C" {
        fn umask(mask: u32) -> u32;
    }
    // SAFETY: umask has no preconditions and cannot fail.
    unsafe { umask(mask) }
}

impl Daemon {
    /// Takes the device (already opened: INFO read) and listens on `socket`.
    /// `port_lock` is the [`lock_port`] of the serial port it owns, if any,
    /// kept for the daemon's life.
    pub fn start(npu: Npu, socket: &Path, port_lock: Option<std::fs::File>, poll: Duration) -> Result<Daemon> {
        let listener = bind(socket)?;
        let info = npu.info().clone();
        let stats = DaemonStats { device: npu.port(), rows: info.rows, cols: info.cols, core_hz: info.core_hz, poll_s: poll.as_secs_f64(), ..Default::default() };
        let shared = Arc::new(Shared {
            device: Mutex::new(npu),
            hold: Mutex::new(Hold::default()),
            hold_changed: Condvar::new(),
            tally: Mutex::new(Tally { stats, interval_in: 0, interval_out: 0, last: None }),
            started: Instant::now(),
            next_id: AtomicU64::new(1),
            stop: AtomicBool::new(false),
            pes: info.rows * info.cols,
        });
        poll_once(&shared);
        {
            let shared = shared.clone();
            std::thread::spawn(move || {
                while !shared.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(poll);
                    poll_once(&shared);
                }
            });
        }
        {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if shared.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let shared = shared.clone();
                        std::thread::spawn(move || serve_client(&shared, stream));
                    }
                }
            });
        }
        Ok(Daemon { shared, socket: socket.to_path_buf(), _port_lock: port_lock })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The statistics watchers see.
    pub fn stats(&self) -> DaemonStats {
        snapshot(&self.shared)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the listener so that it sees the stop.
        let _ = UnixStream::connect(&self.socket);
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn snapshot(shared: &Shared) -> DaemonStats {
    let mut s = shared.tally.lock().expect("tally").stats.clone();
    let hold = shared.hold.lock().expect("hold");
    s.holder = hold.holder.as_ref().map(|h| h.1.clone());
    s.waiting = hold.waiting.iter().map(|w| w.1.clone()).collect();
    s
}

/// Reads the device's counters (between exchanges) and closes an interval.
fn poll_once(shared: &Shared) {
    let (result, poll_bytes) = {
        let mut npu = shared.device.lock().expect("device");
        let before = npu.link_stats();
        let result = npu.counters();
        let after = npu.link_stats();
        (result, (after.bytes_sent + after.bytes_received) - (before.bytes_sent + before.bytes_received))
    };
    let holder = shared.hold.lock().expect("hold").holder.as_ref().map(|h| h.1.clone());
    let mut tally = shared.tally.lock().expect("tally");
    tally.stats.poll_bytes += poll_bytes;
    match result {
        Ok(now) => {
            tally.stats.error = None;
            if let Some(before) = tally.last {
                // A job's CLEAR_COUNTERS makes them go back: count from zero.
                let delta = if now.cycles < before.cycles { now } else { now.since(&before) };
                let hz = tally.stats.core_hz.max(1) as f64;
                let device_s = delta.cycles as f64 / hz;
                let sample = Sample {
                    at_s: shared.started.elapsed().as_secs_f64(),
                    device_s,
                    utilization: if delta.cycles == 0 { 0.0 } else { delta.macs as f64 / (shared.pes as f64 * delta.cycles as f64) },
                    gops: if delta.cycles == 0 { 0.0 } else { 2.0 * delta.macs as f64 / device_s / 1e9 },
                    job_bytes: tally.interval_in + tally.interval_out,
                    job_bytes_in: std::mem::take(&mut tally.interval_in),
                    job_bytes_out: std::mem::take(&mut tally.interval_out),
                    poll_bytes,
                    holder,
                };
                let samples = &mut tally.stats.samples;
                samples.push(sample);
                if samples.len() > HISTORY {
                    samples.remove(0);
                }
            }
            tally.stats.macs = now.macs;
            tally.stats.cycles = now.cycles;
            tally.last = Some(now);
        }
        Err(e) => tally.stats.error = Some(e.to_string()),
    }
}

/// Waits until the device is free and takes it for client `id`.
fn acquire(shared: &Shared, id: u64, name: &str) {
    let mut hold = shared.hold.lock().expect("hold");
    if hold.holder.as_ref().is_some_and(|h| h.0 == id) {
        return;
    }
    hold.waiting.push((id, name.to_string()));
    while hold.holder.is_some() {
        hold = shared.hold_changed.wait(hold).expect("hold");
    }
    hold.waiting.retain(|w| w.0 != id);
    hold.holder = Some((id, name.to_string()));
    drop(hold);
    shared.tally.lock().expect("tally").stats.jobs += 1;
}

fn release(shared: &Shared, id: u64) {
    let mut hold = shared.hold.lock().expect("hold");
    if hold.holder.as_ref().is_some_and(|h| h.0 == id) {
        hold.holder = None;
        shared.hold_changed.notify_all();
    }
}

/// One client's connection, until it closes.
fn serve_client(shared: &Shared, stream: UnixStream) {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut writer = BufWriter::new(stream);
    let mut role = None;
    let mut name = String::new();
    let _ = (|| -> std::io::Result<()> {
        while let Some(body) = read_message(&mut reader)? {
            let message = ClientMessage::decode(&body)?;
            let answer = match (message, role) {
                (ClientMessage::Hello { role: r, name: n }, None) => {
                    role = Some(r);
                    name = n;
                    if r == Role::Watch {
                        shared.tally.lock().expect("tally").stats.watchers += 1;
                    }
                    let npu = shared.device.lock().expect("device");
                    DaemonMessage::Welcome { describe: format!("{} (through the npu daemon)", npu.port()), slowdown: npu.slowdown(), now: npu.device_now(), baud: npu.info().baud }
                }
                (ClientMessage::Stats, Some(_)) => DaemonMessage::Stats { json: serde_json::to_string(&snapshot(shared)).expect("stats serialize") },
                (ClientMessage::Exchange { timeout, bytes }, Some(Role::Job)) => {
                    acquire(shared, id, &name);
                    let mut npu = shared.device.lock().expect("device");
                    match npu.relay(&bytes, timeout) {
                        Ok(answer) => {
                            let mut tally = shared.tally.lock().expect("tally");
                            tally.stats.job_bytes_sent += bytes.len() as u64;
                            tally.stats.job_bytes_received += answer.len() as u64;
                            tally.interval_in += bytes.len() as u64;
                            tally.interval_out += answer.len() as u64;
                            DaemonMessage::Answer { now: npu.device_now(), bytes: answer }
                        }
                        Err(e) => DaemonMessage::Error { message: format!("the device's link failed: {e}") },
                    }
                }
                (ClientMessage::Resync { quiet }, Some(Role::Job)) => {
                    acquire(shared, id, &name);
                    let mut npu = shared.device.lock().expect("device");
                    match npu.resync_link(quiet) {
                        Ok(()) => DaemonMessage::Done { now: npu.device_now() },
                        Err(e) => DaemonMessage::Error { message: format!("the device's link failed: {e}") },
                    }
                }
                (m, r) => DaemonMessage::Error { message: format!("{m:?} is not allowed {}", if r.is_none() { "before Hello" } else { "here" }) },
            };
            write_message(&mut writer, &answer.encode())?;
        }
        Ok(())
    })();
    // Gone, cleanly or not: its hold ends (the exchange it started, if any, has finished).
    {
        let mut hold = shared.hold.lock().expect("hold");
        hold.waiting.retain(|w| w.0 != id);
    }
    release(shared, id);
    if role == Some(Role::Watch) {
        let mut tally = shared.tally.lock().expect("tally");
        tally.stats.watchers = tally.stats.watchers.saturating_sub(1);
    }
}

/// Serves until the process is stopped: `npu daemon`'s body. (A socket
/// left behind by a killed daemon is replaced by the next one.)
pub fn run_forever(daemon: Daemon) -> ! {
    loop {
        std::thread::park();
        // Spurious wake-ups: keep serving.
        let _ = &daemon;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_socket_is_per_user() {
        let s = default_socket();
        assert!(s.ends_with("daemon.sock"), "{}", s.display());
    }

    #[test]
    fn a_port_is_locked_once() {
        let dir = tempfile::tempdir().unwrap();
        let port = dir.path().join("ttyFAKE");
        std::fs::write(&port, b"").unwrap();
        let first = lock_port(port.to_str().unwrap()).unwrap();
        let second = lock_port(port.to_str().unwrap()).unwrap_err().to_string();
        assert!(second.contains("another npu daemon already owns"), "{second}");
        drop(first);
        lock_port(port.to_str().unwrap()).unwrap();
    }
}
