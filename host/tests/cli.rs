//! The `npu` binary as a user meets it: help everywhere, exit codes scripts
//! can trust, clear one-line errors, and nothing half-written on failure.

mod common;

use common::{default_toml_at_8_mhz, have_verilator, VirtualBoard};
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
    let commands = [
        vec![],
        vec!["config"],
        vec!["verilog"],
        vec!["sim"],
        vec!["sim", "gemm"],
        vec!["sim", "bench"],
        vec!["sim", "serve"],
        vec!["sim", "fuzz"],
        vec!["info"],
        vec!["gemm"],
        vec!["stats"],
        vec!["infer"],
        vec!["infer", "digits"],
        vec!["run"],
        vec!["train"],
        vec!["train", "digits"],
        vec!["synth"],
        vec!["flash"],
        vec!["bench"],
    ];
    for args in commands {
        let mut with_help = args.clone();
        with_help.push("--help");
        let o = npu(&with_help);
        assert_eq!(o.status.code(), Some(0), "npu {with_help:?}: {}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains("Usage: npu"), "npu {with_help:?}:\n{text}");
        if args.len() != 1 || !["sim", "infer", "train"].contains(&args[0]) {
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

/// A frame cut short on the virtual board's line is dropped after the idle
/// time-out, as on a board, and does not swallow the next request: the
/// simulation advances its clock through the line's silence.
#[test]
fn a_cut_frame_on_the_virtual_board_does_not_swallow_the_next_request() {
    use npu_spec::protocol::{Info, Request, Status, SYNC};
    use std::io::Write;
    if !have_verilator() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = quick_config(dir.path());
    let config = npu_spec::NpuConfig::load(Path::new(&cfg)).unwrap();
    let board = VirtualBoard::start(&cfg);
    let (mut port, answers) = board.connect();
    // SYNC, a length of 100, then three bytes of payload, and silence.
    port.write_all(&[SYNC, 100, 0, 2, 0, 0]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    port.write_all(&Request::Info.frame()).unwrap();
    let payload = answers.recv_timeout(std::time::Duration::from_secs(20)).expect("an answer to INFO after the cut frame").expect("a well-formed frame");
    assert_eq!(payload[0], Status::Ok as u8, "the cut frame swallowed INFO: the answer is {payload:?}");
    assert_eq!(Info::decode(&payload[2..]), Some(Info::of(&config)));
    assert!(answers.try_recv().is_err(), "one answer, to INFO; the cut frame gets none");
}

/// `npu sim serve` in its own process answers INFO over its pseudo-terminal,
/// read and written here as any serial program would.
#[test]
fn the_virtual_board_answers_info_from_another_process() {
    use npu_spec::protocol::{Info, Request, Status};
    use std::io::Write;
    if !have_verilator() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = quick_config(dir.path());
    let config = npu_spec::NpuConfig::load(Path::new(&cfg)).unwrap();
    let board = VirtualBoard::start(&cfg);
    let (mut port, answers) = board.connect();
    port.write_all(&Request::Info.frame()).unwrap();
    let payload = answers.recv_timeout(std::time::Duration::from_secs(120)).expect("an answer within two minutes").expect("a well-formed frame");
    assert_eq!(payload[0], Status::Ok as u8);
    assert_eq!(Info::decode(&payload[2..]), Some(Info::of(&config)));
}

/// A config with a quick link (8 clocks per bit), so simulated traffic is short.
fn quick_config(dir: &Path) -> String {
    let cfg = dir.join("quick.toml");
    let text = default_toml_at_8_mhz();
    std::fs::write(&cfg, text).unwrap();
    cfg.to_str().unwrap().to_string()
}

fn save<T: npyz::AutoSerialize + Copy>(dir: &Path, name: &str, m: &npu_spec::Matrix<T>) -> String {
    let p = dir.join(name);
    std::fs::write(&p, npu_host::npy::encode(m).unwrap()).unwrap();
    p.to_str().unwrap().to_string()
}

fn load<T: npyz::Deserialize>(path: &Path) -> (Vec<u64>, Vec<T>) {
    let bytes = std::fs::read(path).unwrap();
    let f = npyz::NpyFile::new(&bytes[..]).unwrap();
    (f.shape().to_vec(), f.into_vec().unwrap())
}

#[test]
fn gemm_reads_and_writes_numpy_files_on_the_simulated_npu() {
    if !have_verilator() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = quick_config(dir.path());
    let a = npu_spec::Matrix::from_fn(7, 19, |i, k| ((i * 31 + k * 17) % 256) as u8 as i8);
    let b = npu_spec::Matrix::from_fn(19, 5, |k, j| ((k * 13 + j * 101) % 256) as u8 as i8);
    let (pa, pb) = (save(dir.path(), "a.npy", &a), save(dir.path(), "b.npy", &b));
    let out = dir.path().join("c.npy");
    let o = npu(&["gemm", "--a", &pa, "--b", &pb, "-o", out.to_str().unwrap(), "--sim", "--config", &cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let want = npu_spec::gemm_reference(&a, &b).unwrap();
    assert_eq!(load::<i32>(&out), (vec![7, 5], want.as_slice().to_vec()));

    // Requantized: int8 out, with a bias per column.
    let bias = npu_spec::Matrix::from_fn(1, 5, |_, j| j as i32 * 700 - 1400);
    let pbias = save(dir.path(), "bias.npy", &bias);
    let out8 = dir.path().join("c8.npy");
    let o = npu(&[
        "gemm", "--a", &pa, "--b", &pb, "-o", out8.to_str().unwrap(), "--sim", "--config", &cfg,
        "--requant-multiplier", "1518500250", "--requant-shift", "7", "--zero-point", "-5", "--min", "-100", "--max", "100", "--bias", &pbias,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let p = npu_spec::requant::RequantParams { multiplier: 1_518_500_250, shift: 7, zero_point: -5, min: -100, max: 100 };
    let want8: Vec<i8> = (0..35).map(|e| npu_spec::requant::requantize(want.as_slice()[e], bias.get(0, e % 5), &p)).collect();
    assert_eq!(load::<i8>(&out8), (vec![7, 5], want8));
}

#[test]
fn gemm_input_errors_are_clear_and_leave_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = save(d, "a.npy", &npu_spec::Matrix::from_fn(3, 4, |_, _| 1i8));
    let b = save(d, "b.npy", &npu_spec::Matrix::from_fn(4, 2, |_, _| 1i8));
    let b_wrong = save(d, "b5.npy", &npu_spec::Matrix::from_fn(5, 2, |_, _| 1i8));
    let wide = save(d, "wide.npy", &npu_spec::Matrix::from_fn(3, 4, |_, _| 1i32));
    let out = d.join("c.npy");
    let o_s = out.to_str().unwrap();
    // A pseudo-terminal that nobody serves: requests go out, no answer comes.
    let silent = npu_sim::virtual_board::Pty::open().unwrap();
    let silent_path = silent.path.to_str().unwrap().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["gemm", "--a", &wide, "--b", &b, "-o", o_s, "--sim"], "not int8"),
        (vec!["gemm", "--a", &a, "--b", &b_wrong, "-o", o_s, "--sim"], "shapes do not chain"),
        (vec!["gemm", "--a", "/no/such/a.npy", "--b", &b, "-o", o_s, "--sim"], "cannot read /no/such/a.npy"),
        (vec!["gemm", "--a", &a, "--b", &b, "-o", "/no/such/dir/c.npy", "--sim"], "does not exist"),
        (vec!["gemm", "--a", &a, "--b", &b, "-o", o_s, "--port", "/dev/ttyNOSUCH9"], "/dev/ttyNOSUCH9 does not exist"),
        (vec!["gemm", "--a", &a, "--b", &b, "-o", o_s, "--port", &silent_path], "INFO: no answer"),
        (vec!["gemm", "--a", &a, "--b", &b, "-o", o_s], "no device given"),
        (vec!["info", "--port", &silent_path], "INFO: no answer"),
    ];
    for (args, message) in cases {
        let o = npu(&args);
        assert_eq!(o.status.code(), Some(1), "npu {args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "npu {args:?} should say {message:?}:\n{}", stderr(&o));
        assert!(!out.exists(), "npu {args:?} left an output file");
    }
}

#[test]
fn info_stats_and_digits_on_the_simulated_npu() {
    if !have_verilator() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = quick_config(dir.path());
    let o = npu(&["info", "--sim", "--config", &cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("4 x 4 PEs") && text.contains("0.0003 TOPS") && text.contains("256000000 ops/s"), "{text}");

    let o = npu(&["stats", "--sim", "--config", &cfg, "--watch", "--count", "2", "--interval", "0.05"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("last interval") && text.contains("utilization"), "{text}");

    let o = npu(&["infer", "digits", "--sim", "--config", &cfg, "--limit", "40", "--batch", "16"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("bit for bit") && text.contains("accuracy (all images)"), "{text}");
}

#[test]
fn sim_gemm_runs_through_the_command_link() {
    if !have_verilator() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = quick_config(dir.path());
    let o = npu(&["sim", "gemm", "--m", "9", "--k", "40", "--n", "6", "--seed", "2", "--config", &cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("match: all 54 elements") && text.contains("requests"), "{text}");
}

#[test]
fn flash_prints_its_command_and_fails_fast_without_a_board() {
    let o = npu(&["flash", "--board", "icebreaker", "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "openFPGALoader -b ice40_generic build/icebreaker/npu.bin");
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("npu.bin");
    std::fs::write(&bin, [0u8; 16]).unwrap();
    let started = std::time::Instant::now();
    let o = npu(&["flash", "--board", "icebreaker", "--bitstream", bin.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no icebreaker is attached") && stderr(&o).contains("0403:6010"), "{}", stderr(&o));
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "it fails fast");
    let o = npu(&["flash", "--board", "icebreaker", "--bitstream", "/no/such.bin"]);
    assert!(stderr(&o).contains("npu synth --board icebreaker"), "{}", stderr(&o));
    let o = npu(&["synth", "--board", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("icebreaker, ulx3s"), "{}", stderr(&o));
}

fn npu_env(args: &[&str], path: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_npu")).args(args).env("PATH", path).output().expect("the npu binary runs")
}

/// One line on stderr, no panic, no backtrace.
fn assert_clean_error(o: &Output, code: i32, says: &str, what: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{what}: {err}");
    assert!(err.contains(says), "{what} should say {says:?}:\n{err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{what} panicked:\n{err}");
}

#[test]
fn absent_tools_are_named_with_their_install_command() {
    let dir = tempfile::tempdir().unwrap();
    let empty_path = dir.path().to_str().unwrap();
    let out = dir.path().join("npu.v");
    let o = npu_env(&["verilog", "-o", out.to_str().unwrap(), "--check"], empty_path);
    assert_clean_error(&o, 1, "sudo apt-get install verilator", "verilog --check without verilator");
    assert!(!out.exists() || std::fs::metadata(&out).unwrap().len() > 0);
    let o = npu_env(&["synth", "--board", "icebreaker", "--out", dir.path().join("b").to_str().unwrap()], empty_path);
    assert_clean_error(&o, 1, "sudo apt-get install yosys", "synth without yosys");
    let o = npu_env(&["sim", "gemm", "--m", "2", "--k", "2", "--n", "2"], empty_path);
    assert_clean_error(&o, 1, "sudo apt-get install verilator", "sim gemm without verilator");
    let o = npu_env(&["synth", "--board", "ulx3s", "--config", "configs/ulx3s.toml"], empty_path);
    assert!(o.status.code() == Some(1) && !stderr(&o).contains("panicked"), "{}", stderr(&o));
}

#[test]
fn malformed_inputs_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let write = |name: &str, text: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let empty_cfg = write("empty.toml", b"");
    let bad_toml = write("bad.toml", b"[array\nrows = 4");
    let wrong_type = write("type.toml", npu_spec::config::DEFAULT_TOML.replace("rows = 4 ", "rows = \"four\" ").as_bytes());
    // The error names the line of `rows` in the default config, wherever it is.
    let rows_line = npu_spec::config::DEFAULT_TOML.lines().position(|l| l.starts_with("rows = 4 ")).expect("the default config sets rows") + 1;
    let wrong_type_says = format!("line {rows_line}: invalid type");
    let impossible = write("baud.toml", npu_spec::config::DEFAULT_TOML.replace("baud = 12_000_000", "baud = 30_000_000").as_bytes());
    let empty_npy = write("empty.npy", b"");
    let b = save(d, "b.npy", &npu_spec::Matrix::from_fn(2, 2, |_, _| 1i8));
    let out = d.join("c.npy");
    let o_s = out.to_str().unwrap();
    for (args, says) in [
        (vec!["config", "--config", &empty_cfg], "config"),
        (vec!["config", "--config", &bad_toml], "config"),
        (vec!["config", "--config", &wrong_type], wrong_type_says.as_str()),
        (vec!["config", "--config", &impossible], "baud"),
        (vec!["verilog", "-o", o_s, "--config", &impossible], "baud"),
        (vec!["gemm", "--a", &empty_npy, "--b", &b, "-o", o_s, "--sim"], "not a NumPy .npy file"),
        (vec!["gemm", "--a", d.to_str().unwrap(), "--b", &b, "-o", o_s, "--sim"], "cannot read"),
        (vec!["infer", "digits", "--sim", "--weights", &bad_toml], "not a weight file"),
        (vec!["infer", "digits", "--sim", "--limit", "0"], "--limit 0"),
        (vec!["flash", "--board", "nosuch"], "icebreaker, ulx3s"),
    ] {
        let o = npu(&args);
        assert_clean_error(&o, 1, says, &format!("npu {args:?}"));
        assert_eq!(stderr(&o).trim().lines().count(), 1, "npu {args:?}: one line:\n{}", stderr(&o));
        assert!(!out.exists(), "npu {args:?} left an output file");
    }
    for args in [
        vec!["gemm", "--a", "x.npy"],
        vec!["sim", "fuzz", "--frames", "0"],
        vec!["stats", "--interval", "0"],
        vec!["infer", "digits", "--batch", "zero"],
        vec!["synth"],
        vec!["gemm", "--a", "a.npy", "--b", "b.npy", "-o", "c.npy", "--sim", "--port", "/dev/x"],
    ] {
        let o = npu(&args);
        assert_clean_error(&o, 2, "error:", &format!("npu {args:?}"));
    }
}

#[test]
fn bench_writes_its_report_and_plots() {
    if !have_verilator() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let o = npu(&["bench", "--quick", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for f in ["bench.json", "bench.md", "tops.svg", "utilization_vs_k.svg", "gops.svg", "link_efficiency.svg", "sim_speed.svg"] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("bench.json")).unwrap()).unwrap();
    assert!(json["machine"].as_str().unwrap().contains("cores") && json["command"].as_str().unwrap().contains("bench"));
    assert!(json["gemms"][0]["utilization_on_chip"].as_f64().unwrap() > 0.5);
    // TOPS in context: both board configs measured, the CPU exact, the vendors' peaks.
    let configs = json["configs"].as_array().unwrap();
    assert_eq!(configs.len(), 2, "the bench's config and the ULX3S config");
    for c in configs {
        let (peak, on_chip, e2e) = (c["peak_tops"].as_f64().unwrap(), c["on_chip_tops"].as_f64().unwrap(), c["end_to_end"]["effective_tops_end_to_end"].as_f64().unwrap());
        assert!(0.0 < e2e && e2e < on_chip && on_chip <= peak, "{c}");
    }
    assert!(json["cpu"].as_array().unwrap().iter().all(|g| g["exact"] == true && g["tops"].as_f64().unwrap() > 0.0));
    assert_eq!(json["vendor_peaks"].as_array().unwrap().len(), 6);
    let md = std::fs::read_to_string(dir.path().join("bench.md")).unwrap();
    assert!(md.contains("| Google Coral Edge TPU | 4.00 |") && md.contains("CPU, 1 thread"), "{md}");
}

/// A model with TANH (operator 1), which `npu run` lacks.
fn tanh_model(dir: &Path) -> String {
    use npu_host::tflite::builder::ModelBuilder;
    use npu_tflite_schema::BuiltinOperator;
    let mut b = ModelBuilder::new();
    let x = b.int8("input", &[1, 4], 0.1, 0);
    let y = b.int8("reshaped", &[1, 4], 0.1, 0);
    let z = b.int8("output", &[1, 4], 0.1, 0);
    b.op(BuiltinOperator::Reshape, &[x], &[y], None);
    b.op(BuiltinOperator::Tanh, &[y], &[z], None);
    let p = dir.join("tanh.tflite");
    std::fs::write(&p, b.finish(x, z, "")).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn run_refuses_bad_models_and_inputs_in_one_line_with_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let x = save(dir.path(), "x.npy", &npu_spec::Matrix::<i8>::zeros(3, 4));
    let out = dir.path().join("y.npy");
    let o = npu(&["run", &tanh_model(dir.path()), "--input", &x, "-o", out.to_str().unwrap(), "--sim"]);
    assert_clean_error(&o, 1, "operator 1 is TANH, which `npu run` does not support", "an unsupported operator");
    assert_eq!(stderr(&o).lines().count(), 1, "one line:\n{}", stderr(&o));
    assert!(!out.exists(), "no output file after a refusal");
    // The right model, the wrong input shape: named with the model's.
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/micro_speech.tflite");
    let o = npu(&["run", model, "--input", &x, "-o", out.to_str().unwrap(), "--sim"]);
    assert_clean_error(&o, 1, "the model's input 'input_1_int8' is int8 of shape [N, 49, 40, 1]", "a wrong input shape");
    assert!(!out.exists());
    let o = npu(&["run", "no-such-model.tflite", "--describe"]);
    assert_clean_error(&o, 1, "no-such-model.tflite", "a missing model");
}

#[test]
fn run_describes_a_model_and_runs_it_on_the_simulated_npu() {
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/tflite/models/conv_same_stride2_relu6.tflite");
    let o = npu(&["run", model, "--describe"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("input  'input': int8 [1, 9, 7, 3], scale 0.05, zero point -5"), "{}", stdout(&o));
    assert!(stdout(&o).contains("CONV_2D"), "{}", stdout(&o));
    if !have_verilator() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = (dir.path().join("y.npy"), dir.path().join("r.json"));
    let input = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/tflite/conv_same_stride2_relu6.input.npy");
    let o = npu(&["run", model, "--input", input, "-o", out.to_str().unwrap(), "--report", report.to_str().unwrap(), "--sim", "--config", &quick_config(dir.path())]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let expected = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/tflite/conv_same_stride2_relu6.expected.npy");
    assert_eq!(load::<i8>(&out), load::<i8>(Path::new(expected)), "the NPU's output is TFLite's");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["layers"][0]["op"], "CONV_2D");
    assert_eq!(json["layers"][0]["place"], "npu");
    for key in ["npu_mac_share", "device_ms_per_inference", "link_bytes_per_inference", "inferences_per_second"] {
        assert!(json["totals"][key].as_f64().is_some(), "totals.{key}");
    }
    assert_eq!(json["totals"]["npu_mac_share"], 1.0);
    assert!(stderr(&o).contains("per inference (batch 8)"), "{}", stderr(&o));
}

#[test]
fn config_shows_the_multiplier_latency() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let o = npu(&["config"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("multipliers       1 clock edge from factors to product"), "{}", stdout(&o));
    let big = root.join("configs/ulx3s-16x16.toml");
    let o = npu(&["config", "--config", big.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("multipliers       4 clock edges"), "{}", stdout(&o));
}
