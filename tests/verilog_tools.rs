//! The generated Verilog under the external tools: Verilator's lint with every
//! warning class on, yosys synthesis, and yosys's evaluator on the multiplier.
//! Each test says SKIPPED with the install command where a tool is absent;
//! in CI an absent tool is a failure.

use npu_hdl::verilog::{array_verilog, block_verilog, npu_verilog, ARRAY_TOP, NPU_TOP};
use npu_hdl::SignedMultiplier;
use npu_spec::tools::{VERILATOR, YOSYS};
use npu_spec::NpuConfig;
use npu_tests::require;
use std::path::PathBuf;
use std::process::Command;

fn config(rows: usize, cols: usize) -> NpuConfig {
    let mut c = NpuConfig::default();
    c.array.rows = rows;
    c.array.cols = cols;
    c.validate().expect("a valid test config");
    c
}

/// The array's Verilog for `rows x cols`, in a scratch folder.
fn array_file(dir: &tempfile::TempDir, rows: usize, cols: usize) -> PathBuf {
    let path = dir.path().join(format!("{ARRAY_TOP}.v"));
    std::fs::write(&path, array_verilog(&config(rows, cols))).unwrap();
    path
}

#[test]
fn verilator_lints_every_array_size_clean() {
    if require(&VERILATOR).is_none() {
        return;
    }
    for (rows, cols) in [(1, 1), (2, 2), (3, 4), (4, 4), (1, 7), (8, 8), (16, 16)] {
        let dir = tempfile::tempdir().unwrap();
        let path = array_file(&dir, rows, cols);
        if let Err(e) = npu_sim::verilator::lint(&path, ARRAY_TOP) {
            panic!("{rows}x{cols}: {e}");
        }
    }
}

#[test]
fn yosys_synthesises_the_array() {
    if require(&YOSYS).is_none() {
        return;
    }
    for (rows, cols) in [(2, 2), (3, 4), (4, 4)] {
        let dir = tempfile::tempdir().unwrap();
        let path = array_file(&dir, rows, cols);
        let stats = npu_fpga::synth_generic(&path, ARRAY_TOP, &dir.path().join("yosys.log"))
            .unwrap_or_else(|e| panic!("{rows}x{cols}: {e}"));
        // Every PE keeps at least its accumulator and result (64 flip-flops);
        // fewer would mean yosys found logic that drives nothing and removed it.
        let flops = stats.count_matching("DFF");
        assert!(flops >= (64 * rows * cols) as u64, "{rows}x{cols}: only {flops} flip-flops: {stats:?}");
    }
}

/// `a * b` as yosys evaluates the multiplier's Verilog, for many pairs at once.
fn yosys_products(pairs: &[(i8, i8)]) -> Vec<i32> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mul.v");
    std::fs::write(&path, block_verilog(&mut SignedMultiplier::default(), "mul")).unwrap();
    let mut script = String::from("read_verilog mul.v; prep -top mul;");
    for (a, b) in pairs {
        script.push_str(&format!(" eval -set a {} -set b {} -show product;", *a as u8, *b as u8));
    }
    let out = Command::new("yosys").args(["-p", &script]).current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "yosys eval failed: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Eval result: \\product = "))
        .map(|v| {
            let v = v.trim_end_matches('.');
            match v.split_once('\'') {
                Some((_, bin)) => u32::from_str_radix(bin, 2).unwrap() as i32,
                None => v.parse::<u32>().unwrap() as i32,
            }
        })
        .collect()
}

#[test]
fn the_verilog_multiplier_is_signed() {
    if require(&YOSYS).is_none() {
        return;
    }
    let edges = [i8::MIN, i8::MIN + 1, -2, -1, 0, 1, 2, i8::MAX - 1, i8::MAX];
    let mut pairs: Vec<(i8, i8)> = edges.iter().flat_map(|&a| edges.iter().map(move |&b| (a, b))).collect();
    pairs.extend((0..64).map(|i: i32| ((i * 37 - 100) as i8, (i * 91 + 7) as i8)));
    let got = yosys_products(&pairs);
    assert_eq!(got.len(), pairs.len(), "one result per pair");
    for ((a, b), p) in pairs.iter().zip(got) {
        assert_eq!(p, i32::from(*a) * i32::from(*b), "{a} * {b}");
    }
}

fn npu_file(dir: &tempfile::TempDir, c: &NpuConfig) -> PathBuf {
    let path = dir.path().join(format!("{NPU_TOP}.v"));
    std::fs::write(&path, npu_verilog(c)).unwrap();
    path
}

#[test]
fn verilator_lints_the_whole_npu_clean() {
    if require(&VERILATOR).is_none() {
        return;
    }
    for (rows, cols) in [(1, 1), (2, 2), (3, 4), (4, 4), (8, 8), (16, 16)] {
        let dir = tempfile::tempdir().unwrap();
        let path = npu_file(&dir, &config(rows, cols));
        if let Err(e) = npu_sim::verilator::lint(&path, NPU_TOP) {
            panic!("{rows}x{cols}: {e}");
        }
    }
}

/// iCE40 block RAMs (SB_RAM40_4K: 4 kbit, at most 16 bits wide) that a
/// `depth x width` memory needs.
fn ebr(depth: usize, width: usize) -> u64 {
    (depth * width).div_ceil(4096).max(width.div_ceil(16)) as u64
}

#[test]
fn every_memory_maps_to_block_ram() {
    if require(&YOSYS).is_none() {
        return;
    }
    let c = NpuConfig::default();
    let dir = tempfile::tempdir().unwrap();
    let path = npu_file(&dir, &c);
    let stats = npu_fpga::synth_ice40(&path, NPU_TOP, &dir.path().join("yosys.log")).unwrap();
    let (rows, cols, m) = (c.array.rows as u64, c.array.cols as u64, &c.memory);
    let want = rows * ebr(m.a_depth, 8)
        + cols * ebr(m.b_depth, 8)
        + cols * ebr(m.acc_depth, 32)
        + cols * ebr(m.acc_depth, 8)
        + ebr(npu_spec::protocol::MAX_REQUEST_PAYLOAD, 8);
    let brams = stats.count_matching("SB_RAM40_4K");
    assert_eq!(brams, want, "every scratchpad, accumulator, OUT and frame memory in block RAM: {stats:?}");
    // Had one become registers, its bits would show up as flip-flops.
    let memory_bits = (rows * m.a_depth as u64 + cols * m.b_depth as u64) * 8 + cols * m.acc_depth as u64 * 40;
    let flops = stats.count_matching("DFF");
    assert!(flops < memory_bits / 4, "{flops} flip-flops for {memory_bits} memory bits: {stats:?}");
    eprintln!("default NPU on iCE40: {brams} SB_RAM40_4K, {flops} flip-flops, {} LUTs", stats.count_matching("SB_LUT4"));
}
