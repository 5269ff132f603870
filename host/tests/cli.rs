//! The `npu` binary as a user meets it: help everywhere, exit codes scripts
//! can trust, clear one-line errors, and nothing half-written on failure.

use std::path::Path;
use std::process::{Command, Output};

fn npu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_npu")).args(args).output().expect("the npu binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn every_command_has_help_with_examples() {
    for args in [vec![], vec!["config"], vec!["verilog"], vec!["sim"], vec!["sim", "gemm"], vec!["sim", "bench"], vec!["sim", "serve"]] {
        let mut with_help = args.clone();
        with_help.push("--help");
        let o = npu(&with_help);
        assert_eq!(o.status.code(), Some(0), "npu {with_help:?}: {}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains("Usage: npu"), "npu {with_help:?}:\n{text}");
        if args.len() != 1 || args[0] != "sim" {
            assert!(text.contains("Examples"), "npu {with_help:?} shows no examples:\n{text}");
        }
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [vec!["verilog"], vec!["frobnicate"], vec!["sim", "gemm", "--m", "0"], vec!["sim", "gemm", "--k", "x"]] {
        let o = npu(&args);
        assert_eq!(o.status.code(), Some(2), "npu {args:?}: {}", stderr(&o));
    }
}

#[test]
fn a_bad_config_is_one_clear_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    let text = npu_spec::config::DEFAULT_TOML.replace("rows = 4 ", "rows = 0 ");
    std::fs::write(&cfg, text).unwrap();
    let out = dir.path().join("out.v");
    let o = npu(&["verilog", "--config", cfg.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("array.rows = 0: must be 1..=32"), "{err}");
    assert!(!out.exists(), "no output on failure");

    let o = npu(&["config", "--config", "/no/such/config.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot read config /no/such/config.toml"), "{}", stderr(&o));
}

#[test]
fn verilog_is_written_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("npu.v");
    let o = npu(&["verilog", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("module npu("), "the top module is npu");
    let opened = text.lines().filter(|l| l.starts_with("module ")).count();
    let closed = text.lines().filter(|l| l.starts_with("endmodule")).count();
    assert!(opened > 16 && opened == closed, "{opened} modules opened, {closed} closed");

    let missing = Path::new("/no/such/folder/npu_array.v");
    let o = npu(&["verilog", "-o", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
}

#[test]
fn sim_gemm_checks_itself_against_the_reference() {
    let o = npu(&["sim", "gemm", "--engine", "rust-hdl", "--m", "5", "--k", "9", "--n", "6", "--seed", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("match: all 30 elements equal the reference GEMM"), "{text}");
    assert!(text.contains("reference C"), "small results are shown beside the reference:\n{text}");
}

/// `npu sim serve` in its own process answers INFO over its pseudo-terminal,
/// read and written here as any serial program would.
#[test]
fn the_virtual_board_answers_info_from_another_process() {
    use npu_spec::protocol::{FrameDecoder, Info, Request, Status};
    use std::io::{BufRead, Read, Write};
    if npu_spec::tools::VERILATOR.find().is_err() && std::env::var_os("CI").is_none() {
        eprintln!("SKIPPED: verilator is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("fast.toml");
    let text = npu_spec::config::DEFAULT_TOML.replace("core_hz = 48_000_000", "core_hz = 8_000_000");
    std::fs::write(&cfg, &text).unwrap();
    let config = npu_spec::NpuConfig::load(&cfg).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_npu"))
        .args(["sim", "serve", "--config", cfg.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut path = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut path).unwrap();
    let path = path.trim().to_string();
    assert!(path.starts_with("/dev/pts/"), "{path:?}");
    let mut port = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    port.write_all(&Request::Info.frame()).unwrap();
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
    let answer = rx.recv_timeout(std::time::Duration::from_secs(120));
    let _ = child.kill();
    let _ = child.wait();
    let payload = answer.expect("an answer within two minutes").expect("a well-formed frame");
    assert_eq!(payload[0], Status::Ok as u8);
    assert_eq!(Info::decode(&payload[2..]), Some(Info::of(&config)));
}
