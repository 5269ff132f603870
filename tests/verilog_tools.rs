//! The generated Verilog under the external tools: Verilator's lint with every
//! warning class on, yosys synthesis, and yosys's evaluator on the multiplier.
//! Each test says SKIPPED with the install command where a tool is absent;
//! in CI an absent tool is a failure.

use npu_hdl::verilog::{array_verilog, block_verilog, npu_verilog, ARRAY_TOP, NPU_TOP};
use npu_hdl::MultiplierPair;
use npu_spec::tools::{VERILATOR, YOSYS};
use npu_spec::NpuConfig;
use npu_tests::require;
use std::path::PathBuf;

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

/// Every operand pair through the multiplier pair's Verilog in Verilator:
/// the generic variant; with `NPU_ICE40_DSP` the SB_MAC16 variant on
/// yosys's own cell model of the DSP; with `NPU_ECP5_DSP_PAIRS` both ECP5
/// variants (pair 0 in MULT18X18D, on our model of it; pair 1 in LUTs).
#[derive(Debug, Clone, Copy, PartialEq)]
enum PairVariant {
    Generic,
    Ice40Dsp,
    Ecp5Dsp,
    Ecp5Luts,
}

fn check_pair_verilog(variant: PairVariant, latency: usize) {
    use npu_sim::verilated::{ModelSpec, VerilatedModel};
    let mut pair = MultiplierPair::with_latency(usize::from(variant == PairVariant::Ecp5Luts), latency);
    let verilog = block_verilog(&mut pair, "pair");
    let ports = npu_sim::verilated::top_ports(&verilog, "pair").unwrap();
    let mut spec = ModelSpec { sources: vec![("pair.v".into(), verilog)], top: "pair".into(), ports, flags: vec![] };
    match variant {
        PairVariant::Generic => {}
        PairVariant::Ice40Dsp => {
            let cells = npu_fpga::yosys::share_dir().unwrap().join("ice40").join("cells_sim.v");
            spec.sources.insert(0, ("cells_sim.v".into(), std::fs::read_to_string(cells).unwrap()));
            spec.flags = vec!["-DNPU_ICE40_DSP".into(), "-DNO_ICE40_DEFAULT_ASSIGNMENTS".into(), "--no-timing".into()];
        }
        PairVariant::Ecp5Dsp | PairVariant::Ecp5Luts => {
            spec.sources.insert(0, ("mult18x18d.v".into(), npu_hdl::ecp5_dsp::mult18x18d_model()));
            spec.flags = vec!["-DNPU_ECP5_DSP_PAIRS=1".into()];
        }
    }
    let dsp = variant;
    let mut m = VerilatedModel::build(&spec, None).unwrap_or_else(|e| panic!("{e}"));
    let port = |m: &VerilatedModel, n: &str| m.port(n).unwrap();
    let (a0, b0, a1, b1, p0, p1) = (port(&m, "a0"), port(&m, "b0"), port(&m, "a1"), port(&m, "b1"), port(&m, "p0"), port(&m, "p1"));
    // A new operand pair every cycle; the products come `latency` edges
    // later, exactly: one edge early or late gives the neighbour's product.
    let mut sent = std::collections::VecDeque::new();
    for a in i8::MIN..=i8::MAX {
        for b in i8::MIN..=i8::MAX {
            // The high half gets other operands, so the halves cannot be swapped unnoticed.
            let (c, d) = (b.wrapping_mul(3).wrapping_add(1), a.wrapping_neg());
            m.set(a0, u64::from(a as u8));
            m.set(b0, u64::from(b as u8));
            m.set(a1, u64::from(c as u8));
            m.set(b1, u64::from(d as u8));
            m.tick(1);
            sent.push_back((a, b, c, d));
            if sent.len() < latency {
                continue;
            }
            let (a, b, c, d) = sent.pop_front().unwrap();
            let (x, y) = (m.get(p0) as u32 as i32, m.get(p1) as u32 as i32);
            assert_eq!(x, i32::from(a) * i32::from(b), "{dsp:?}, latency {latency}: {a} * {b}");
            assert_eq!(y, i32::from(c) * i32::from(d), "{dsp:?}, latency {latency}: {c} * {d}");
        }
    }
}

#[test]
fn the_multiplier_pair_verilog_is_exact_for_every_pair() {
    if require(&VERILATOR).is_none() || require(&YOSYS).is_none() {
        return;
    }
    for variant in [PairVariant::Generic, PairVariant::Ice40Dsp, PairVariant::Ecp5Dsp, PairVariant::Ecp5Luts] {
        for latency in [1, 2] {
            check_pair_verilog(variant, latency);
        }
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
    // And with the pipelined requantizer and multipliers of latency 3 and 4
    // (the ECP5's large arrays), an odd and an even side, the even one with
    // its accumulator lanes' read data registered.
    for (rows, cols, latency) in [(3, 3, 3), (16, 16, 4)] {
        let mut c = config(rows, cols);
        c.requant.unit = npu_spec::config::RequantUnit::Pipelined;
        c.array.multiplier_latency = latency;
        c.memory.read_data_register = latency == 4;
        let dir = tempfile::tempdir().unwrap();
        let path = npu_file(&dir, &c);
        if let Err(e) = npu_sim::verilator::lint(&path, NPU_TOP) {
            panic!("{rows}x{cols}, pipelined requantizer, multiplier latency {latency}: {e}");
        }
    }
    // And with every optional unit (the mover, program memory, ADD's
    // tables), the read data registered or not.
    for (rows, cols, registered) in [(2, 2, false), (4, 4, true)] {
        let mut c = config(rows, cols);
        c.memory.mover = true;
        c.memory.program_bytes = 256;
        c.memory.add_tables = 2;
        c.memory.read_data_register = registered;
        let dir = tempfile::tempdir().unwrap();
        let path = npu_file(&dir, &c);
        if let Err(e) = npu_sim::verilator::lint(&path, NPU_TOP) {
            panic!("{rows}x{cols} with the mover, program memory and ADD's tables, read data registered {registered}: {e}");
        }
    }
}

/// iCE40 block RAMs (SB_RAM40_4K: 4 kbit, at most 16 bits wide) that a
/// `depth x width` memory needs.
fn ebr(depth: usize, width: usize) -> u64 {
    (depth * width).div_ceil(4096).max(width.div_ceil(16)) as u64
}

#[test]
fn every_memory_maps_to_spram_or_block_ram() {
    if require(&YOSYS).is_none() {
        return;
    }
    let c = NpuConfig::default();
    let dir = tempfile::tempdir().unwrap();
    let path = npu_file(&dir, &c);
    let stats = npu_fpga::synth_ice40(&path, NPU_TOP, &dir.path().join("yosys.log")).unwrap();
    let (rows, cols, m) = (c.array.rows as u64, c.array.cols as u64, &c.memory);
    // The scratchpads in SPRAM (16K x 16: a pair of lanes), the rest in block RAM.
    let spram = |lanes: u64, depth: usize| lanes.div_ceil(2) * (depth as u64).div_ceil(16384);
    assert_eq!(stats.count_matching("SB_SPRAM256KA"), spram(rows, m.a_depth) + spram(cols, m.b_depth), "the scratchpads in SPRAM: {stats:?}");
    // Accumulators, OUT, the two request frames, the bias bank (a few entries, in
    // block RAM on purpose) and the counters' words (16 of 256 entries).
    let want = cols * ebr(m.acc_depth, 32)
        + cols * ebr(m.acc_depth, 8)
        + ebr(2 * npu_spec::protocol::MAX_REQUEST_PAYLOAD, 8)
        + ebr(cols as usize, 32)
        + ebr(256, npu_spec::protocol::COUNTER_BITS);
    let brams = stats.count_matching("SB_RAM40_4K");
    assert_eq!(brams, want, "every accumulator, OUT, frame, bias and counter memory in block RAM: {stats:?}");
    // Had one become registers, its bits would show up as flip-flops.
    let memory_bits = (rows * m.a_depth as u64 + cols * m.b_depth as u64) * 8 + cols * m.acc_depth as u64 * 40;
    let flops = stats.count_matching("DFF");
    assert!(flops < memory_bits / 4, "{flops} flip-flops for {memory_bits} memory bits: {stats:?}");
    eprintln!("default NPU on iCE40: {brams} SB_RAM40_4K, {flops} flip-flops, {} LUTs", stats.count_matching("SB_LUT4"));
}

/// The requantizer's 18 x 18 multiplier leaf in Verilator, the generic
/// variant and the ECP5 one (a MULT18X18D with its input and output
/// registers, on our model of it), on the factors' edges and a spread
/// between, streamed at its latency of 2.
#[test]
fn the_18x18_multiplier_verilog_is_exact() {
    use npu_hdl::multiplier18::Multiplier18;
    use npu_sim::verilated::{ModelSpec, VerilatedModel};
    if require(&VERILATOR).is_none() {
        return;
    }
    let verilog = block_verilog(&mut Multiplier18::default(), "mul18");
    let ports = npu_sim::verilated::top_ports(&verilog, "mul18").unwrap();
    let mut values: Vec<i64> = vec![-(1 << 17), -(1 << 17) + 1, -65536, -1, 0, 1, 65535, 65536, (1 << 17) - 1];
    let mut next = npu_tests::xorshift(18);
    values.extend((0..60).map(|_| ((next() as i64) << 46) >> 46));
    for ecp5 in [false, true] {
        let mut spec = ModelSpec { sources: vec![("mul18.v".into(), verilog.clone())], top: "mul18".into(), ports: ports.clone(), flags: vec![] };
        if ecp5 {
            spec.sources.insert(0, ("mult18x18d.v".into(), npu_hdl::ecp5_dsp::mult18x18d_model()));
            spec.flags = vec!["-DNPU_ECP5_DSP_PAIRS=1".into()];
        }
        let mut m = VerilatedModel::build(&spec, None).unwrap_or_else(|e| panic!("{e}"));
        let (a, b, p) = (m.port("a").unwrap(), m.port("b").unwrap(), m.port("p").unwrap());
        // Streamed, a pair a cycle: after the edge that takes pair n, the
        // product is pair n - 1's (two edges from factors to product), so a
        // cycle early or late fails.
        let pairs: Vec<(i64, i64)> = values.iter().flat_map(|&x| values.iter().map(move |&y| (x, y))).collect();
        for (n, &(x, y)) in pairs.iter().enumerate() {
            m.set(a, x as u64 & 0x3_FFFF);
            m.set(b, y as u64 & 0x3_FFFF);
            m.tick(1);
            if n >= 1 {
                let (px, py) = pairs[n - 1];
                let got = ((m.get(p) << 28) as i64) >> 28;
                assert_eq!(got, px * py, "ecp5 {ecp5}: {px} * {py}");
            }
        }
    }
}

/// Copies of a register survive ECP5 synthesis. yosys merges identical
/// registers, so a scratchpad's address copies (one per memory, a pair of
/// lanes) are kept registers: TRELLIS_FFs under the flow's `NPU_ECP5`.
/// Without the define the copies are plain registers and merge into one,
/// which is what the array's A copies and these were before.
#[test]
fn register_copies_survive_ecp5_synthesis() {
    use npu_hdl::scratchpad::Scratchpad;
    if require(&YOSYS).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pad.v");
    // 8 lanes: 4 memories, each with its copies of the address (10 bits),
    // of the write data (8 bits) and of the write enable (1 bit, its read
    // enable); the byte enables (2 bits a memory) differ from memory to
    // memory, so yosys keeps them all either way. (Before the scratchpad
    // told yosys that a read never meets a write, `no_rw_check`, yosys
    // also kept a flip-flop per memory beside its read port, for the read
    // word's hold: 60 more in all; now 57.)
    std::fs::write(&path, block_verilog(&mut Scratchpad::with_address_copies(8, 1024), "pad")).unwrap();
    let log = dir.path().join("yosys.log");
    let kept = npu_fpga::synth_ecp5(&path, "pad", &["NPU_ECP5"], &log).unwrap_or_else(|e| panic!("{e}"));
    let merged = npu_fpga::synth_ecp5(&path, "pad", &[], &log).unwrap_or_else(|e| panic!("{e}"));
    let (kept_ff, merged_ff) = (kept.count_matching("TRELLIS_FF"), merged.count_matching("TRELLIS_FF"));
    assert_eq!(kept_ff, merged_ff + 3 * (10 + 8 + 1), "three more copies of 10 address, 8 write data and 1 write enable bits: kept {kept:?}, merged {merged:?}");
}
