//! The reference GEMM: the exact arithmetic the NPU must reproduce.
//!
//! Semantics (every simulation path and the hardware are tested equal to this,
//! element by element):
//!
//! - A is `M x K` of `i8`, B is `K x N` of `i8`, C is `M x N` of `i32`;
//! - `C[i][j] = sum over k of (A[i][k] as i32) * (B[k][j] as i32)`;
//! - each product is exact (at most 2^14 in magnitude, -128 * -128 = 16384);
//! - the sum is taken in 32-bit two's complement and wraps on overflow, as a
//!   32-bit hardware adder does (reachable only for K above 131072);
//! - the order of summation does not matter, since wrapping addition is
//!   associative and commutative.

use crate::matrix::{Matrix, ShapeError};

/// `C = A x B` with the semantics above.
pub fn gemm_reference(a: &Matrix<i8>, b: &Matrix<i8>) -> Result<Matrix<i32>, ShapeError> {
    if a.cols() != b.rows() {
        return Err(ShapeError::Inner {
            a_rows: a.rows(),
            a_cols: a.cols(),
            b_rows: b.rows(),
            b_cols: b.cols(),
        });
    }
    let (m, n) = (a.rows(), b.cols());
    // Row by row: each A element scales a whole B row into the output row,
    // so every memory access runs along a row (fast enough for 1024-cubed
    // checks); the order of the wrapping sums does not change them.
    let mut c = vec![0i32; m * n];
    for (i, c_row) in c.chunks_mut(n.max(1)).enumerate().take(m) {
        for (kk, &a_ik) in a.row(i).iter().enumerate() {
            let a_ik = i32::from(a_ik);
            for (acc, &b_kj) in c_row.iter_mut().zip(b.row(kk)) {
                *acc = acc.wrapping_add(a_ik * i32::from(b_kj));
            }
        }
    }
    Matrix::from_vec(m, n, c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_example() {
        let a = Matrix::from_vec(2, 3, vec![1, 2, 3, 4, 5, 6]).unwrap();
        let b = Matrix::from_vec(3, 2, vec![7, 8, 9, 10, 11, 12]).unwrap();
        let c = gemm_reference(&a, &b).unwrap();
        assert_eq!(c.as_slice(), &[58, 64, 139, 154]);
    }

    #[test]
    fn extremes_are_exact() {
        let a = Matrix::from_vec(1, 2, vec![-128, 127]).unwrap();
        let b = Matrix::from_vec(2, 2, vec![-128, 127, -128, -128]).unwrap();
        let c = gemm_reference(&a, &b).unwrap();
        assert_eq!(c.as_slice(), &[16384 - 16256, -16256 - 16256]);
    }

    #[test]
    fn wraps_like_a_32_bit_adder() {
        // 131073 products of 16384 overflow i32 exactly once.
        let k = 131_073;
        let a = Matrix::from_vec(1, k, vec![-128i8; k]).unwrap();
        let b = Matrix::from_vec(k, 1, vec![-128i8; k]).unwrap();
        let c = gemm_reference(&a, &b).unwrap();
        let exact = 16384i64 * k as i64;
        assert_eq!(c.get(0, 0), exact as i32);
        assert_ne!(i64::from(c.get(0, 0)), exact);
    }

    #[test]
    fn mismatched_shapes_are_an_error() {
        let a = Matrix::<i8>::zeros(2, 3);
        let b = Matrix::<i8>::zeros(4, 2);
        let e = gemm_reference(&a, &b).unwrap_err();
        assert_eq!(e.to_string(), "A is 2x3 and B is 4x2: A's columns must equal B's rows");
    }

    proptest! {
        // The reference against an independent i64 formulation.
        #[test]
        fn equals_the_wide_sum(m in 1usize..6, k in 1usize..20, n in 1usize..6, seed in any::<u64>()) {
            let mut s = seed;
            let mut next = move || { s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); (s >> 56) as i8 };
            let a = Matrix::from_fn(m, k, |_, _| next());
            let b = Matrix::from_fn(k, n, |_, _| next());
            let c = gemm_reference(&a, &b).unwrap();
            for i in 0..m { for j in 0..n {
                let wide: i64 = (0..k).map(|kk| i64::from(a.get(i, kk)) * i64::from(b.get(kk, j))).sum();
                prop_assert_eq!(i64::from(c.get(i, j)), wide);
            }}
        }
    }
}
