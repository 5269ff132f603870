//! The GEMM engine with its memories (rust-hdl's simulator) against the
//! device model: random descriptors (several tiles, steps, accumulate, K
//! split), random memory contents; the whole accumulator bank must equal the
//! model's afterwards, including every entry no tile touched, and bad
//! descriptors must change nothing.

use npu_sim::gemm_bench::GemmBenchSim;
use npu_spec::device_model::DeviceModel;
use npu_spec::protocol::{GemmTile, Status};
use npu_spec::NpuConfig;
use proptest::prelude::*;

fn config(rows: usize, cols: usize) -> NpuConfig {
    let mut c = NpuConfig::default();
    c.array.rows = rows;
    c.array.cols = cols;
    c.memory.a_depth = 64;
    c.memory.b_depth = 64;
    c.memory.acc_depth = 32;
    c.validate().unwrap();
    c
}

fn filled(c: &NpuConfig, seed: u64) -> DeviceModel {
    npu_tests::random_model(c, seed)
}

fn descriptor(rows: usize, cols: usize) -> impl Strategy<Value = GemmTile> {
    (1..=rows as u8, 1..=cols as u8, 1..=12u16, 1..=3u16, any::<bool>(), 0..4u16, 0..4u16)
        .prop_flat_map(move |(m, n, k, tiles, accumulate, a_gap, b_gap)| {
            // Steps that keep every tile in range most of the time; acc_step 0
            // splits K, and steps below m make tiles overlap (the engine must
            // still never read an accumulator entry as it writes it).
            let a_step = k + a_gap;
            let b_step = k + b_gap;
            (0..=4u16, 0..=4u16, 0..=2u16, 0..=rows as u16 + 1).prop_map(
                move |(a0, b0, c0, acc_step)| GemmTile {
                    a_entry: a0,
                    b_entry: b0,
                    acc_entry: c0 * 3,
                    m,
                    n,
                    k,
                    accumulate,
                    tiles,
                    a_step,
                    b_step,
                    acc_step,
                },
            )
        })
}

fn check(rows: usize, cols: usize, t: GemmTile, seed: u64) -> Result<(), TestCaseError> {
    check_config(&config(rows, cols), t, seed)
}

/// With `memory.read_data_register`: the engine's register stage before its
/// accumulate adders (a write two cycles after its row drains).
fn check_staged(rows: usize, cols: usize, t: GemmTile, seed: u64) -> Result<(), TestCaseError> {
    let mut c = config(rows, cols);
    c.memory.read_data_register = true;
    check_config(&c, t, seed)
}

/// With the multiplier's longest pipeline (as the ULX3S configs build it):
/// on a small array a tile's sums come out long after its last step, so
/// that short tiles would have three drains pending at once.
fn check_slow_multiplier(rows: usize, cols: usize, t: GemmTile, seed: u64, staged: bool) -> Result<(), TestCaseError> {
    let mut c = config(rows, cols);
    c.array.multiplier_latency = 4;
    c.memory.read_data_register = staged;
    check_config(&c, t, seed)
}

fn check_config(c: &NpuConfig, t: GemmTile, seed: u64) -> Result<(), TestCaseError> {
    let c = c.clone();
    let mut model = filled(&c, seed);
    let mut sim = GemmBenchSim::new(&c);
    sim.load(&model);
    let want = model.gemm(&t);
    let got = sim.run(&t, 100_000);
    prop_assert_eq!(got.status, want, "{:?}", t);
    prop_assert_eq!(sim.acc(), model.acc.clone(), "accumulators after {:?}", t);
    if want == Status::Ok {
        prop_assert_eq!(got.tiles_done, u64::from(t.tiles));
        prop_assert_eq!(got.steps, u64::from(t.tiles) * u64::from(t.k));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn engine_equals_the_model_2x2(t in descriptor(2, 2), seed in any::<u64>()) { check(2, 2, t, seed)?; }

    #[test]
    fn engine_equals_the_model_3x4(t in descriptor(3, 4), seed in any::<u64>()) { check(3, 4, t, seed)?; }

    #[test]
    fn engine_equals_the_model_1x1(t in descriptor(1, 1), seed in any::<u64>()) { check(1, 1, t, seed)?; }

    #[test]
    fn staged_engine_equals_the_model_2x2(t in descriptor(2, 2), seed in any::<u64>()) { check_staged(2, 2, t, seed)?; }

    #[test]
    fn staged_engine_equals_the_model_3x4(t in descriptor(3, 4), seed in any::<u64>()) { check_staged(3, 4, t, seed)?; }

    #[test]
    fn staged_engine_equals_the_model_1x1(t in descriptor(1, 1), seed in any::<u64>()) { check_staged(1, 1, t, seed)?; }

    #[test]
    fn engine_with_a_four_stage_multiplier_equals_the_model_2x2(t in descriptor(2, 2), seed in any::<u64>(), staged in any::<bool>()) { check_slow_multiplier(2, 2, t, seed, staged)?; }

    #[test]
    fn engine_with_a_four_stage_multiplier_equals_the_model_1x1(t in descriptor(1, 1), seed in any::<u64>(), staged in any::<bool>()) { check_slow_multiplier(1, 1, t, seed, staged)?; }
}

#[test]
fn bad_tiles_and_ranges_change_nothing() {
    let base = GemmTile { a_entry: 0, b_entry: 0, acc_entry: 0, m: 2, n: 2, k: 4, accumulate: true, tiles: 1, a_step: 0, b_step: 0, acc_step: 0 };
    for (t, want) in [
        (GemmTile { m: 3, ..base }, Status::BadTile),
        (GemmTile { n: 0, ..base }, Status::BadTile),
        (GemmTile { k: 0, ..base }, Status::BadTile),
        (GemmTile { tiles: 0, ..base }, Status::BadTile),
        (GemmTile { a_entry: 61, ..base }, Status::OutOfRange),
        (GemmTile { tiles: 3, b_step: 31, ..base }, Status::OutOfRange),
        (GemmTile { acc_entry: 31, ..base }, Status::OutOfRange),
        (GemmTile { tiles: 65535, acc_step: 65535, ..base }, Status::OutOfRange),
    ] {
        check(2, 2, t, 7).unwrap();
        let c = config(2, 2);
        assert_eq!(filled(&c, 7).gemm(&t), want, "{t:?}");
    }
}

#[test]
fn a_k64_tile_keeps_the_default_array_busy() {
    // The default 4x4 array, one K = 64 tile, then many back to back.
    let c = NpuConfig::default();
    let model = filled(&c, 3);
    for tiles in [1u16, 8] {
        let t = GemmTile { a_entry: 0, b_entry: 0, acc_entry: 0, m: 4, n: 4, k: 64, accumulate: false, tiles, a_step: 64, b_step: 64, acc_step: 4 };
        let mut sim = GemmBenchSim::new(&c);
        sim.load(&model);
        let mut want = model.clone();
        assert_eq!(want.gemm(&t), Status::Ok);
        let got = sim.run(&t, 100_000);
        assert_eq!(sim.acc(), want.acc);
        let utilization = got.steps as f64 / got.cycles as f64;
        eprintln!("{tiles} tile(s) of K = 64 on 4x4: {} cycles, {} steps, utilization {:.1}%", got.cycles, got.steps, 100.0 * utilization);
        assert!(utilization > if tiles == 1 { 0.70 } else { 0.95 }, "utilization {utilization}");
    }
}
