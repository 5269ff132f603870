//! Helpers shared by the workspace tests: operand strategies and the rule for
//! tests that need an external tool.

pub mod fuzz_checks;

use npu_sim::array::{ArrayBackend, ArraySim};
use npu_spec::device_model::DeviceModel;
use npu_spec::tools::Tool;
use npu_spec::{gemm_reference, Matrix, NpuConfig};
use proptest::prelude::*;
use std::path::PathBuf;

/// A byte with the extremes well represented: -128 and 127 are where a
/// multiplier that forgot its sign goes wrong.
pub fn operand() -> impl Strategy<Value = i8> {
    prop_oneof![6 => any::<i8>(), 1 => Just(i8::MIN), 1 => Just(i8::MAX), 1 => Just(0i8), 1 => Just(-1i8)]
}

/// An `rows x cols` matrix of [`operand`]s.
pub fn matrix(rows: usize, cols: usize) -> impl Strategy<Value = Matrix<i8>> {
    proptest::collection::vec(operand(), rows * cols)
        .prop_map(move |v| Matrix::from_vec(rows, cols, v).expect("the strategy makes rows * cols values"))
}

/// One GEMM of the given shape: `(A, B)`.
pub fn gemm_operands(m: usize, k: usize, n: usize) -> impl Strategy<Value = (Matrix<i8>, Matrix<i8>)> {
    (matrix(m, k), matrix(k, n))
}

/// The tool's path, or `None` with the reason printed when it is absent
/// outside CI. In CI (the `CI` variable set) an absent tool fails the test:
/// CI installs every tool, so a skip there would hide a broken setup.
pub fn require(tool: &Tool) -> Option<PathBuf> {
    available(tool.find())
}

/// The tool check's result: `Some` when the tool is there; otherwise a
/// panic in CI (which must have every tool) or a note that the test is
/// skipped.
pub fn available<T, E: std::fmt::Display>(found: Result<T, E>) -> Option<T> {
    match found {
        Ok(value) => Some(value),
        Err(e) if std::env::var_os("CI").is_some() => panic!("CI must have every tool: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: {e}");
            None
        }
    }
}

/// A small deterministic generator (xorshift64) for test data and bubble
/// patterns that a seed reproduces.
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut rng = npu_spec::rng::XorShift::new(seed);
    move || rng.next_u64()
}

/// A device model of `c` with A, B and the accumulators filled from `seed`.
pub fn random_model(c: &NpuConfig, seed: u64) -> DeviceModel {
    let mut d = DeviceModel::new(c);
    let mut next = xorshift(seed);
    d.a.iter_mut().flatten().for_each(|v| *v = next() as i8);
    d.b.iter_mut().flatten().for_each(|v| *v = next() as i8);
    d.acc.iter_mut().flatten().for_each(|v| *v = next() as i32);
    d
}

/// Runs `tiles` back to back on `sim` (with about one bubble per
/// `bubble_one_in` steps when a seed is given) and checks every result
/// against the reference GEMM.
pub fn check_tiles<B: ArrayBackend>(
    sim: &mut ArraySim<B>,
    tiles: &[(Matrix<i8>, Matrix<i8>)],
    bubbles: Option<(u64, u64)>,
) -> Result<(), TestCaseError> {
    let run = match bubbles {
        None => sim.run(tiles),
        Some((seed, one_in)) => {
            let mut next = xorshift(seed);
            sim.run_with_bubbles(tiles, move || next().is_multiple_of(one_in))
        }
    }
    .expect("the strategy makes tiles that fit");
    for (n, (a, b)) in tiles.iter().enumerate() {
        let want = gemm_reference(a, b).unwrap();
        prop_assert_eq!(&run.results[n], &want, "tile {} of {} on {}x{}", n, tiles.len(), sim.rows(), sim.cols());
    }
    Ok(())
}

/// A config for link tests: `side x side`, small memories, and 4 clocks per
/// bit (8 MHz core, 2 Mbaud), the default's (12 Mbaud at 48 MHz), so that
/// simulated UART traffic is quick and the link is tested at its rate.
pub fn link_test_config(side: usize, a_depth: usize, b_depth: usize, acc_depth: usize) -> NpuConfig {
    let mut c = NpuConfig::default();
    c.array.rows = side;
    c.array.cols = side;
    c.memory.a_depth = a_depth;
    c.memory.b_depth = b_depth;
    c.memory.acc_depth = acc_depth;
    c.clock.core_hz = 8_000_000;
    c.link.baud = 2_000_000;
    c.validate().expect("a valid link test config");
    c
}

/// A MOVE for `c`'s banks: mostly valid (so that bytes move), sometimes a
/// bank, a lane or a range the device must refuse, sometimes zeros; runs
/// and strides that overlap, transpose (a stride of one entry) and carry
/// lanes into entries.
pub fn move_descriptor(c: &NpuConfig) -> impl Strategy<Value = npu_spec::protocol::Move> {
    use npu_spec::protocol::{Move, Place};
    let lanes = c.array.rows.max(c.array.cols) as u8;
    let depth = c.memory.a_depth.min(c.memory.b_depth).min(c.memory.acc_depth) as u16;
    // A lane, now and then one past the narrower bank's lanes.
    let lane = move || prop_oneof![40 => 0..lanes.min(c.array.rows.min(c.array.cols) as u8), 1 => 0..=lanes];
    let place = move || (0..depth / 4, lane()).prop_map(|(entry, lane)| Place::new(entry, lane));
    let stride = move || (prop_oneof![12 => 0..2u16, 4 => 0..4u16, 1 => Just(depth)], lane()).prop_map(|(entry, lane)| Place::new(entry, lane));
    let bank = || prop_oneof![8 => prop_oneof![Just(0u8), Just(1u8), Just(4u8)], 1 => 0..6u8];
    (
        (bank(), prop_oneof![8 => 0..2u8, 1 => 0..6u8], place(), place()),
        (prop_oneof![12 => 1..=6u16, 1 => Just(0u16)], prop_oneof![12 => 1..=3u16, 1 => Just(0u16)]),
        (stride(), stride(), stride(), stride()),
        prop_oneof![7 => Just(false), 1 => Just(true)],
    )
        .prop_map(|((src_bank, dst_bank, src, dst), (count, runs), (src_step, src_run, dst_step, dst_run), zeros)| Move {
            src_bank, dst_bank, src, dst, count, runs, src_step, src_run, dst_step, dst_run, zeros,
        })
}
