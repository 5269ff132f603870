//! The systolic array in rust-hdl's simulator against the reference GEMM.
//!
//! Random shapes (M and N up to the array, K from 1 to 64), random values
//! weighted towards -128 and 127, several tiles streamed back to back as
//! tightly as the array allows (so drains overlap the next tile's compute),
//! and random bubbles in the operand stream. Every element must be equal.

use npu_sim::ArraySim;
use npu_spec::{gemm_reference, Matrix};
use npu_tests::gemm_operands;
use proptest::prelude::*;

/// Array sizes under test: square, wide and tall, and the degenerate 1x1.
const SIZES: [(usize, usize); 4] = [(2, 2), (3, 4), (4, 3), (1, 1)];
const CASES: u32 = 192;

/// 1 to 3 tiles that fit a `rows x cols` array.
fn tiles(rows: usize, cols: usize) -> impl Strategy<Value = Vec<(Matrix<i8>, Matrix<i8>)>> {
    let tile = (1..=rows, 1..=64usize, 1..=cols).prop_flat_map(|(m, k, n)| gemm_operands(m, k, n));
    proptest::collection::vec(tile, 1..=3)
}

fn check_tiles(rows: usize, cols: usize, tiles: &[(Matrix<i8>, Matrix<i8>)], bubble_seed: Option<u64>) -> Result<(), TestCaseError> {
    // About one bubble per four steps.
    npu_tests::check_tiles(&mut ArraySim::new(rows, cols), tiles, bubble_seed.map(|s| (s, 4)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn tiles_equal_the_reference_2x2(t in tiles(2, 2)) { check_tiles(2, 2, &t, None)?; }

    #[test]
    fn tiles_equal_the_reference_3x4(t in tiles(3, 4)) { check_tiles(3, 4, &t, None)?; }

    #[test]
    fn tiles_equal_the_reference_4x3(t in tiles(4, 3)) { check_tiles(4, 3, &t, None)?; }

    #[test]
    fn tiles_equal_the_reference_1x1(t in tiles(1, 1)) { check_tiles(1, 1, &t, None)?; }
}

proptest! {
    // Wider than 8 columns, a row's A register is kept in copies, one per
    // group of PEs (three groups of four here), with bubbles in the stream.
    #![proptest_config(ProptestConfig::with_cases(CASES / 4))]

    #[test]
    fn tiles_equal_the_reference_2x12_with_its_a_copies(t in tiles(2, 12), seed in any::<u64>()) {
        assert_eq!(npu_hdl::systolic_array::timing::a_feed_group(12), 4);
        check_tiles(2, 12, &t, Some(seed))?;
    }
}

proptest! {
    // Multipliers of latency 2 to 4 (array.multiplier_latency, for the
    // ECP5's large arrays): the factors and the products pass registers of
    // their own, and valid and last wait for them; with bubbles, and an odd
    // PE count whose last pair is half idle.
    #![proptest_config(ProptestConfig::with_cases(CASES / 2))]

    #[test]
    fn tiles_equal_the_reference_3x3_with_multipliers_of_latency_4(t in tiles(3, 3), seed in any::<u64>()) {
        let mut sim = ArraySim::with_multiplier_latency(3, 3, 4);
        npu_tests::check_tiles(&mut sim, &t, Some((seed, 4)))?;
    }

    #[test]
    fn tiles_equal_the_reference_2x3_with_multipliers_of_latency_2(t in tiles(2, 3), seed in any::<u64>()) {
        let mut sim = ArraySim::with_multiplier_latency(2, 3, 2);
        npu_tests::check_tiles(&mut sim, &t, Some((seed, 4)))?;
    }

    #[test]
    fn tiles_equal_the_reference_3x3_with_multipliers_of_latency_3(t in tiles(3, 3), seed in any::<u64>()) {
        let mut sim = ArraySim::with_multiplier_latency(3, 3, 3);
        npu_tests::check_tiles(&mut sim, &t, Some((seed, 4)))?;
    }

    #[test]
    fn tiles_equal_the_reference_2x4_with_multipliers_of_latency_3(t in tiles(2, 4)) {
        npu_tests::check_tiles(&mut ArraySim::with_multiplier_latency(2, 4, 3), &t, None)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn bubbles_change_nothing(
        (size, t, seed) in (0..SIZES.len()).prop_flat_map(|s| (Just(s), tiles(SIZES[s].0, SIZES[s].1), any::<u64>()))
    ) {
        let (rows, cols) = SIZES[size];
        check_tiles(rows, cols, &t, Some(seed))?;
    }

    #[test]
    fn any_shape_gemm_equals_the_reference(
        (a, b) in (1..=9usize, 1..=40usize, 1..=9usize).prop_flat_map(|(m, k, n)| gemm_operands(m, k, n))
    ) {
        let mut sim = ArraySim::new(3, 4);
        let run = sim.gemm(&a, &b).unwrap();
        prop_assert_eq!(&run.results[0], &gemm_reference(&a, &b).unwrap());
    }
}

#[test]
fn extremes_fill_the_accumulator_exactly() {
    // K = 64 of (-128)(-128) per element: 1048576, beyond 16 bits, within 32.
    let (rows, cols, k) = (3, 4, 64);
    let a = Matrix::from_fn(rows, k, |_, _| i8::MIN);
    let b = Matrix::from_fn(k, cols, |_, _| i8::MIN);
    let run = ArraySim::new(rows, cols).run(&[(a.clone(), b.clone())]).unwrap();
    assert!(run.results[0].as_slice().iter().all(|&v| v == 64 * 16384));
    assert_eq!(run.results[0], gemm_reference(&a, &b).unwrap());
}
