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
