//! Link fuzzing on the Verilated NPU (CI's short run; `npu sim fuzz
//! --frames 100000` is the full one): valid commands mixed with random
//! bytes, cut and broken frames, bad lengths and CRCs, unknown commands,
//! out-of-range requests and a baud 2% off (3% at 8 clocks a bit or more); no hang, no wrong answer, memory equal
//! to the model at the end, counters consistent.

use npu_sim::fuzz::fuzz;
use npu_sim::npu_sim::{NpuSim, VerilatedNpu};
use npu_spec::tools::VERILATOR;
use npu_tests::{link_test_config, require};

#[test]
fn five_thousand_frames_change_nothing_they_should_not() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let config = link_test_config(2, 32, 32, 16);
    let mut sim = NpuSim::with_pins(VerilatedNpu::new(&config, None).unwrap(), &config);
    let report = fuzz(&mut sim, &config, 5_000, 7, &mut |_| {});
    eprintln!("{report:#?}");
    assert!(report.clean(), "{report:#?}");
    for kind in ["write", "read", "gemm", "requant", "bad_crc", "truncated", "break", "garbage", "unknown_command", "wrong_length", "bad_length_field", "skewed"] {
        assert!(report.by_kind.get(kind).copied().unwrap_or(0) > 10, "too few {kind}: {:?}", report.by_kind);
    }
}

/// The same with the mover built: MOVEs among the commands (and among the
/// cut, broken and damaged frames), opcode 9 no longer unknown.
#[test]
fn three_thousand_frames_with_the_mover() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let mut config = link_test_config(2, 32, 32, 16);
    config.memory.mover = true;
    let mut sim = NpuSim::with_pins(VerilatedNpu::new(&config, None).unwrap(), &config);
    let report = fuzz(&mut sim, &config, 3_000, 11, &mut |_| {});
    eprintln!("{report:#?}");
    assert!(report.clean(), "{report:#?}");
    for kind in ["move", "move_rejected", "write", "unknown_command", "wrong_length"] {
        assert!(report.by_kind.get(kind).copied().unwrap_or(0) > 10, "too few {kind}: {:?}", report.by_kind);
    }
}

/// The same with program memory: PROGRAMs of random records (some a
/// program may not hold) and RUNs of them, checked record by record against
/// the model (RUN's status and the records that ran), among the damaged
/// frames too; opcodes 10 and 11 no longer unknown.
#[test]
fn three_thousand_frames_with_programs() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let mut config = link_test_config(2, 32, 32, 16);
    config.memory.mover = true;
    config.memory.program_bytes = 256;
    let mut sim = NpuSim::with_pins(VerilatedNpu::new(&config, None).unwrap(), &config);
    let report = fuzz(&mut sim, &config, 3_000, 13, &mut |_| {});
    eprintln!("{report:#?}");
    assert!(report.clean(), "{report:#?}");
    for kind in ["program", "program_rejected", "run", "run_rejected", "move", "unknown_command"] {
        assert!(report.by_kind.get(kind).copied().unwrap_or(0) > 10, "too few {kind}: {:?}", report.by_kind);
    }
}

/// The same with ADD's tables (and neither mover nor program memory, so
/// that MOVE, PROGRAM and RUN stay unknown between the opcodes the device
/// runs): ADDs and TABLE WRITEs and READs, valid or not, against the
/// model, and every bank read back at the end.
#[test]
fn three_thousand_frames_with_add_tables() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let mut config = link_test_config(2, 32, 32, 16);
    config.memory.add_tables = 2;
    let mut sim = NpuSim::with_pins(VerilatedNpu::new(&config, None).unwrap(), &config);
    let report = fuzz(&mut sim, &config, 3_000, 17, &mut |_| {});
    eprintln!("{report:#?}");
    assert!(report.clean(), "{report:#?}");
    for kind in ["add", "add_rejected", "write", "read", "unknown_command"] {
        assert!(report.by_kind.get(kind).copied().unwrap_or(0) > 10, "too few {kind}: {:?}", report.by_kind);
    }
}
