//! Vectors of blocks and signals sized at elaboration time, and constants.

use rust_hdl::prelude::*;

/// `n` default signals (a port per row or column).
pub(crate) fn signals<D: Direction, T: Synth>(n: usize) -> Vec<Signal<D, T>> {
    (0..n).map(|_| Signal::default()).collect()
}

/// `n` registers.
pub(crate) fn dffs<T: Synth>(n: usize) -> Vec<DFF<T>> {
    (0..n).map(|_| DFF::default()).collect()
}

/// A constant of any width.
pub(crate) fn k<const N: usize>(v: u64) -> Constant<Bits<N>> {
    Constant::new(v.into())
}

/// The table of `v > c` for every `v` below `N` (bit v set when v > c),
/// so that `x > c` for a small constant `c` is a lookup of `x`'s low bits,
/// one or two LUTs, ORed with `x`'s high bits being nonzero: yosys maps a
/// comparison with a constant to an adder's carry chain, a logic cell a bit
/// on the iCE40.
pub(crate) fn above<const N: usize>(c: usize) -> Constant<Bits<N>> {
    assert!(c < N, "{c} lies beyond a {N}-entry table");
    let mut table = Bits::<N>::default();
    for v in c + 1..N {
        table = table | (Bits::<N>::from(1u64) << (v as u64));
    }
    Constant::new(table)
}
