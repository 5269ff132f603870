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
    for args in [vec![], vec!["config"], vec!["verilog"], vec!["sim"], vec!["sim", "gemm"]] {
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
    let o = npu(&["sim", "gemm", "--m", "5", "--k", "9", "--n", "6", "--seed", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("match: all 30 elements equal the reference GEMM"), "{text}");
    assert!(text.contains("reference C"), "small results are shown beside the reference:\n{text}");
}
