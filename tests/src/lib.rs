//! Helpers shared by the workspace tests: operand strategies and the rule for
//! tests that need an external tool.

use npu_spec::tools::Tool;
use npu_spec::Matrix;
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
    match tool.find() {
        Ok(path) => Some(path),
        Err(e) if std::env::var_os("CI").is_some() => panic!("CI must have every tool: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: {e}");
            None
        }
    }
}
