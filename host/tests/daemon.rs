//! `npu daemon` around a simulated NPU: clients at once, a client killed
//! mid-GEMM, a watcher beside a job, the socket's permissions, and the
//! errors a user meets (no daemon, a second daemon).

mod common;

use common::{default_toml_at_8_mhz, have_verilator};
use npu_host::daemon::client::Watcher;
use npu_host::daemon::Daemon;
use npu_host::transport::SimTransport;
use npu_host::Npu;
use npu_spec::{gemm_reference, Matrix, NpuConfig};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The default config at an 8 MHz core clock and 2 Mbaud (4 clocks per
/// bit, as the default), so that simulated link traffic is short.
fn quick_config() -> NpuConfig {
    NpuConfig::from_toml_str(&default_toml_at_8_mhz(), "quick").unwrap()
}

fn start_daemon(socket: &Path, poll_ms: u64) -> Daemon {
    let config = quick_config();
    let npu = Npu::open(Box::new(SimTransport::new(&config).unwrap()), config.link.baud).unwrap();
    Daemon::start(npu, socket, None, Duration::from_millis(poll_ms)).unwrap()
}

fn client(socket: &Path, name: &str) -> Npu {
    npu_host::daemon::client::open_npu(socket, name).unwrap()
}

fn random(rows: usize, cols: usize, seed: u64) -> Matrix<i8> {
    let mut rng = npu_spec::rng::XorShift::new(seed);
    Matrix::from_fn(rows, cols, |_, _| rng.next_u64() as i8)
}

fn socket_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("run").join("daemon.sock")
}

/// `npu gemm --daemon SOCKET` in its own process on two random n x n
/// matrices written to `dir`; its output would be `dir/c.npy`.
fn spawn_gemm(dir: &Path, socket: &Path, n: usize, seed: u64, stderr: std::process::Stdio) -> std::process::Child {
    let (a_path, b_path) = (dir.join("a.npy"), dir.join("b.npy"));
    std::fs::write(&a_path, npu_host::npy::encode(&random(n, n, seed)).unwrap()).unwrap();
    std::fs::write(&b_path, npu_host::npy::encode(&random(n, n, seed + 1)).unwrap()).unwrap();
    Command::new(env!("CARGO_BIN_EXE_npu"))
        .args(["gemm", "--a", a_path.to_str().unwrap(), "--b", b_path.to_str().unwrap(), "-o", dir.join("c.npy").to_str().unwrap(), "--daemon", socket.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

#[test]
fn two_clients_at_once_are_exact_and_their_macs_add_up() {
    if !have_verilator() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = socket_in(&dir);
    let _daemon = start_daemon(&socket, 100);
    let shapes = [(24, 40, 20, 1u64), (17, 33, 29, 2u64)];
    let runs: Vec<_> = shapes
        .iter()
        .map(|&(m, k, n, seed)| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let mut npu = client(&socket, &format!("test client {seed}"));
                let (a, b) = (random(m, k, seed), random(k, n, seed + 10));
                let c = npu.gemm(&a, &b).unwrap();
                assert_eq!(c, gemm_reference(&a, &b).unwrap(), "client {seed}'s GEMM through the daemon");
            })
        })
        .collect();
    for r in runs {
        r.join().unwrap();
    }
    let macs: u64 = shapes.iter().map(|&(m, k, n, _)| (m * k * n) as u64).sum();
    let mut reader = client(&socket, "counter reader");
    assert_eq!(reader.counters().unwrap().macs, macs, "the device's MACs are the two GEMMs'");
}

#[test]
fn a_client_killed_mid_gemm_leaves_the_device_exact_for_the_next() {
    if !have_verilator() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = socket_in(&dir);
    let daemon = start_daemon(&socket, 100);
    // A GEMM long enough to be killed in the middle, by another process.
    let out = dir.path().join("c.npy");
    let mut victim = spawn_gemm(dir.path(), &socket, 96, 5, std::process::Stdio::null());
    let tag = format!("pid {}", victim.id());
    let started = Instant::now();
    loop {
        let s = daemon.stats();
        if s.holder.as_deref().is_some_and(|h| h.contains(&tag)) && s.job_bytes_sent > 4096 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the victim never got going: {s:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    victim.kill().unwrap();
    victim.wait().unwrap();
    assert!(!out.exists(), "a killed GEMM leaves no output");
    // The next job gets the device, and exact results.
    let mut next = client(&socket, "after the kill");
    let (a, b) = (random(20, 30, 7), random(30, 12, 8));
    assert_eq!(next.gemm(&a, &b).unwrap(), gemm_reference(&a, &b).unwrap());
}

#[test]
fn a_watcher_sees_a_running_job() {
    if !have_verilator() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = socket_in(&dir);
    let _daemon = start_daemon(&socket, 50);
    let job = {
        let socket = socket.clone();
        std::thread::spawn(move || {
            let mut npu = client(&socket, "the job");
            let (a, b) = (random(64, 64, 3), random(64, 64, 4));
            assert_eq!(npu.gemm(&a, &b).unwrap(), gemm_reference(&a, &b).unwrap());
        })
    };
    let mut watcher = Watcher::connect(&socket, "the watcher").unwrap();
    let mut saw_job = false;
    let mut saw_work = false;
    while !job.is_finished() {
        let s = watcher.stats().unwrap();
        saw_job |= s.holder.as_deref() == Some("the job");
        saw_work |= s.samples.iter().any(|x| x.utilization > 0.0 && x.gops > 0.0 && x.job_bytes > 0 && x.holder.as_deref() == Some("the job"));
        std::thread::sleep(Duration::from_millis(30));
    }
    job.join().unwrap();
    // The last interval of the job may close after it ends.
    std::thread::sleep(Duration::from_millis(150));
    let s = watcher.stats().unwrap();
    saw_work |= s.samples.iter().any(|x| x.utilization > 0.0 && x.job_bytes > 0);
    assert!(saw_job, "the watcher never saw the job hold the device");
    assert!(saw_work, "no interval showed the job's MACs and bytes: {:?}", s.samples);
    assert!(s.poll_bytes > 0 && s.job_bytes_sent > 64 * 64 * 2, "the daemon's polling is counted apart from the job's bytes: {s:?}");
    assert_eq!(s.holder, None, "the job released the device");
}

#[test]
fn the_socket_is_owner_only_and_a_second_daemon_refuses() {
    if !have_verilator() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = socket_in(&dir);
    let daemon = start_daemon(&socket, 500);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600, "the socket");
    assert_eq!(mode(socket.parent().unwrap()), 0o700, "the folder the daemon made for it");
    let config = quick_config();
    let npu = Npu::open(Box::new(SimTransport::new(&config).unwrap()), config.link.baud).unwrap();
    let second = Daemon::start(npu, &socket, None, Duration::from_millis(500)).err().expect("a second daemon on the same socket").to_string();
    assert!(second.contains("already serving"), "{second}");
    // The CLI refuses too, before it opens a device.
    let o = Command::new(env!("CARGO_BIN_EXE_npu")).args(["daemon", "--sim", "--socket", socket.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already serving"));
    // Once stopped, its socket is gone and clients say so in one line.
    drop(daemon);
    assert!(!socket.exists());
    let o = Command::new(env!("CARGO_BIN_EXE_npu")).args(["info", "--daemon", socket.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("no npu daemon answers at") && err.contains("npu daemon --sim"), "{err}");
}

#[test]
fn stats_through_the_daemon_show_the_device_and_the_client() {
    if !have_verilator() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = socket_in(&dir);
    let _daemon = start_daemon(&socket, 50);
    let mut npu = client(&socket, "holder");
    npu.counters().unwrap();
    std::thread::sleep(Duration::from_millis(120));
    let o = Command::new(env!("CARGO_BIN_EXE_npu")).args(["stats", "--daemon", socket.to_str().unwrap()]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("in use by     holder") && out.contains("utilization") && out.contains("polling"), "{out}");
    let o = Command::new(env!("CARGO_BIN_EXE_npu")).args(["stats", "--daemon", socket.to_str().unwrap(), "--clear"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_daemon_that_dies_mid_job_is_one_line_for_its_client() {
    if !have_verilator() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = socket_in(&dir);
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_npu")).args(["daemon", "--sim", "--socket", socket.to_str().unwrap(), "--poll", "0.1"]).stderr(std::process::Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "the daemon never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = dir.path().join("c.npy");
    let job = spawn_gemm(dir.path(), &socket, 96, 11, std::process::Stdio::piped());
    // Let the job get going, then take the daemon away.
    let mut watcher = Watcher::connect(&socket, "test").unwrap();
    while watcher.stats().unwrap().job_bytes_sent < 4096 {
        assert!(started.elapsed() < Duration::from_secs(120), "the job never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let o = job.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("went away") && errors[0].matches("went away").count() == 1, "{err}");
    assert!(!out.exists(), "no output from a GEMM that did not finish");
}

#[test]
fn a_second_daemon_on_one_port_refuses_before_sending_anything() {
    if !have_verilator() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("quick.toml");
    std::fs::write(&config, default_toml_at_8_mhz()).unwrap();
    let config = config.to_str().unwrap();
    // A virtual board: the simulated NPU behind a pseudo-terminal.
    let board = common::VirtualBoard::start(config);
    let pty = board.path.clone();
    let (first_socket, second_socket) = (dir.path().join("first.sock"), dir.path().join("second.sock"));
    let first = Command::new(env!("CARGO_BIN_EXE_npu")).args(["daemon", "--port", &pty, "--config", config, "--socket", first_socket.to_str().unwrap()]).stderr(std::process::Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while std::os::unix::net::UnixStream::connect(&first_socket).is_err() {
        assert!(started.elapsed() < Duration::from_secs(120), "the first daemon never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = Command::new(env!("CARGO_BIN_EXE_npu")).args(["daemon", "--port", &pty, "--config", config, "--socket", second_socket.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains("another npu daemon already owns") && err.contains(&pty), "{err}");
    assert!(!second_socket.exists());
    // The first daemon's device is undisturbed.
    let mut npu = client(&first_socket, "after the refusal");
    let (a, b) = (random(8, 16, 1), random(16, 8, 2));
    assert_eq!(npu.gemm(&a, &b).unwrap(), gemm_reference(&a, &b).unwrap());
    drop(npu);
    let mut first = first;
    let _ = first.kill();
    let _ = first.wait();
    drop(board);
}
