//! The same property tests on the Verilated model of the generated Verilog:
//! more cases and bigger arrays (8x8, 16x16) than rust-hdl's simulator can
//! afford. Exact equality with the reference GEMM only.

use npu_sim::array::ArraySim;
use npu_sim::verilated::VerilatedArray;
use npu_spec::tools::VERILATOR;
use npu_spec::{gemm_reference, Matrix};
use npu_tests::{gemm_operands, require};
use proptest::prelude::*;

fn array(rows: usize, cols: usize) -> Option<ArraySim<VerilatedArray>> {
    require(&VERILATOR)?;
    let backend = VerilatedArray::new(rows, cols, None).unwrap_or_else(|e| panic!("{rows}x{cols}: {e}"));
    Some(ArraySim::with_backend(backend, rows, cols))
}

fn tiles(rows: usize, cols: usize, max_k: usize) -> impl Strategy<Value = Vec<(Matrix<i8>, Matrix<i8>)>> {
    let tile = (1..=rows, 1..=max_k, 1..=cols).prop_flat_map(|(m, k, n)| gemm_operands(m, k, n));
    proptest::collection::vec(tile, 1..=4)
}

fn check(sim: &mut ArraySim<VerilatedArray>, t: &[(Matrix<i8>, Matrix<i8>)], bubbles: Option<u64>) -> Result<(), TestCaseError> {
    // About one bubble per five steps.
    npu_tests::check_tiles(sim, t, bubbles.map(|s| (s, 5)))
}

macro_rules! size_props {
    ($name:ident, $rows:expr, $cols:expr, $max_k:expr, $cases:expr) => {
        #[test]
        fn $name() {
            let Some(sim) = array($rows, $cols) else { return };
            // One model for every case: the runner's closure is `Fn`.
            let sim = std::cell::RefCell::new(sim);
            let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases($cases));
            runner
                .run(&(tiles($rows, $cols, $max_k), proptest::option::of(any::<u64>())), |(t, bubbles)| check(&mut sim.borrow_mut(), &t, bubbles))
                .unwrap();
        }
    };
}

size_props!(verilated_2x2_equals_the_reference, 2, 2, 64, 512);
size_props!(verilated_3x4_equals_the_reference, 3, 4, 64, 512);
size_props!(verilated_8x8_equals_the_reference, 8, 8, 128, 384);
size_props!(verilated_16x16_equals_the_reference, 16, 16, 256, 256);

#[test]
fn a_second_model_of_the_same_verilog_comes_from_the_cache() {
    if require(&VERILATOR).is_none() {
        return;
    }
    let _first = VerilatedArray::new(2, 3, None).unwrap();
    let second = VerilatedArray::new(2, 3, None).unwrap();
    assert!(second.model().build_info().cached);
}

#[test]
fn any_shape_gemm_on_a_verilated_8x8() {
    let Some(mut sim) = array(8, 8) else { return };
    let a = Matrix::from_fn(37, 29, |i, k| ((i * 31 + k * 17) % 256) as u8 as i8);
    let b = Matrix::from_fn(29, 41, |k, j| ((k * 13 + j * 7 + 100) % 256) as u8 as i8);
    let run = sim.gemm(&a, &b).unwrap();
    assert_eq!(run.results[0], gemm_reference(&a, &b).unwrap());
}
