//! The output-stationary systolic array.
//!
//! `rows x cols` PEs; PE `(i, j)` computes `C[i][j]`. The user of the array
//! presents one K-step per cycle, unskewed: `a_in[i] = A[i][k]` and
//! `b_in[j] = B[k][j]`, with `valid` high and `last` high on the final step.
//! B moves down its column one PE per cycle, through a forwarding register
//! between rows; A and its control are broadcast along their row, row `i`
//! delayed `i + 1` cycles by a delay line at the left edge (B by one, at the
//! top), so `A[i][k]` and `B[k][j]` meet in PE `(i, j)`, and every PE of a
//! row works on the same step. Broadcasting A instead of passing it right
//! saves its forwarding registers (on a 4x4, 168 of the iCE40's logic cells
//! with the shorter B delay lines) and `cols - 1` cycles of latency; the
//! price is a fan-out of `cols` on each A bit. On a wide array that fan-out
//! crosses the die (a 16x16's DSP and LUT multipliers lie far apart on an
//! ECP5), so the last register of a row's A delay is kept in several copies,
//! each feeding a group of [`timing::a_feed_group`] PEs: the same delay,
//! with a shorter wire from each copy to its PEs ([`KeptRegister`]s, which
//! synthesis does not merge back into one).
//!
//! The multiplies happen in pairs of PEs ([`MultiplierPair`], one iCE40 DSP
//! or two ECP5 DSPs), which register each product, and with an even
//! multiplier latency (`array.multiplier_latency`, 1 to 4) each factor as
//! well (inside an ECP5 DSP). With a latency of 3 or 4, each PE's factors
//! also pass a register on their way to the pair and its product another on
//! the way back, so that the wires to a DSP across the die have clock
//! periods of their own; `valid` and `last` wait as much longer in their
//! skew lines to stay with the products.
//!
//! Read-out: [`SystolicArray::result_latency`] cycles after the cycle that
//! carried `last`, every PE holds its sum. Then a drain of `rows` cycles
//! shifts the result registers down their columns (`drain_next` high in the
//! cycle before each: the drain is registered per column): in drain cycle `s`
//! the `result` ports show row `rows - 1 - s` of C. The next GEMM may stream
//! in while the previous one drains, provided its `last` step comes at least
//! [`SystolicArray::min_tile_spacing`] cycles after the previous `last`.
//!
//! Size: R and C come from the config at elaboration time, so the PEs are a
//! flat row-major `Vec` (PE `(i, j)` at `i * cols + j`) and the edge ports are
//! `Vec`s of signals. rust-hdl also allows const generics, but those would fix
//! the size at compile time and the toolkit builds any size a config asks for.

use crate::kept_register::KeptRegister;
use crate::delay_line::DelayLine;
use crate::multiplier::MultiplierPair;
use crate::pe::ProcessingElement;
use crate::vecs::{dffs, signals};
use npu_spec::NpuConfig;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct SystolicArray {
    pub clock: Signal<In, Clock>,
    /// `A[i][k]` for each row `i`, in the cycle of step `k`.
    pub a_in: Vec<Signal<In, Bits<8>>>,
    /// `B[k][j]` for each column `j`, in the cycle of step `k`.
    pub b_in: Vec<Signal<In, Bits<8>>>,
    /// This cycle carries a step.
    pub valid: Signal<In, Bit>,
    /// This cycle carries the final step of the dot products.
    pub last: Signal<In, Bit>,
    /// Shift the finished sums down one row in the next cycle: registered
    /// in one copy per column (`drain`), beside the column's PEs.
    pub drain_next: Signal<In, Bit>,
    /// The bottom row's result registers, one per column.
    pub result: Vec<Signal<Out, Bits<32>>>,
    // Edge skew: row i of A (with its control) by i + 1, each column of B by 1.
    /// A's first i registers for row i >= 1, at i - 1 (row 0 has none).
    a_skew: Vec<DelayLine<Bits<8>>>,
    /// A's last register, one copy per group of PEs: row i's copy g at
    /// `i * groups + g` feeds PEs (i, g * group..(g + 1) * group). Kept:
    /// yosys would merge a row's copies into one register.
    a_feed: Vec<KeptRegister<Bits<8>>>,
    valid_skew: Vec<DelayLine<Bit>>,
    last_skew: Vec<DelayLine<Bit>>,
    b_skew: Vec<DelayLine<Bits<8>>>,
    /// Forwarding registers: B from PE (i, j) to (i + 1, j), at i * cols + j.
    b_fwd: Vec<DFF<Bits<8>>>,
    /// `drain_next` a cycle later, one copy per column: the drain enables
    /// every result register, a fan-out that spans a wide array's die (on
    /// the 16x16 ECP5 build, 10.8 ns of wire from the engine to one PE's
    /// enable). Kept, as the A copies are.
    drain: Vec<KeptRegister<Bit>>,
    /// The PEs, row by row.
    pes: Vec<ProcessingElement>,
    /// PEs `2p` and `2p + 1` (row-major) multiply in pair `p`; with an odd
    /// count, the last pair's second half is idle.
    pairs: Vec<MultiplierPair>,
    /// Multiplier latency 3 or 4 only (else empty): each PE's factors on
    /// their way to its pair, and its product on the way back.
    factor_a: Vec<DFF<Bits<8>>>,
    factor_b: Vec<DFF<Bits<8>>>,
    product: Vec<DFF<Bits<32>>>,
    /// Feeds the idle half of an odd count's last pair, and zeroes A in bubbles.
    zero_byte: Constant<Bits<8>>,
    /// The idle half's product (always 0), read by nothing.
    unused_odd_product: Signal<Local, Bits<32>>,
}

impl SystolicArray {
    /// An array of `rows x cols` PEs whose products are registered once.
    pub fn new(rows: usize, cols: usize) -> Self {
        Self::with_multiplier_latency(rows, cols, 1)
    }

    /// An array of `rows x cols` PEs whose multipliers take `latency` (1 to
    /// 4) clock edges from factors to product: the pair's 1 or 2 (the even
    /// latencies register the factors in the pair), and from 3 on 2 more
    /// for the registers between the pairs and their PEs.
    pub fn with_multiplier_latency(rows: usize, cols: usize, latency: usize) -> Self {
        assert!(rows >= 1 && cols >= 1, "an array has at least one PE");
        assert!((1..=4).contains(&latency), "a multiplier latency of 1 to 4");
        let staged = if latency >= 3 { rows * cols } else { 0 };
        let pair_latency = 2 - latency % 2;
        Self {
            clock: Default::default(),
            a_in: signals(rows),
            b_in: signals(cols),
            valid: Default::default(),
            last: Default::default(),
            drain_next: Default::default(),
            result: signals(cols),
            a_skew: (1..rows).map(DelayLine::new).collect(),
            a_feed: (0..rows * (cols / timing::a_feed_group(cols))).map(|_| KeptRegister::default()).collect(),
            valid_skew: (0..rows).map(|i| DelayLine::new(i + latency)).collect(),
            last_skew: (0..rows).map(|i| DelayLine::new(i + latency)).collect(),
            b_skew: (0..cols).map(|_| DelayLine::new(1)).collect(),
            b_fwd: dffs((rows - 1) * cols),
            drain: (0..cols).map(|_| KeptRegister::default()).collect(),
            pes: (0..rows * cols).map(|_| ProcessingElement::default()).collect(),
            pairs: (0..(rows * cols).div_ceil(2)).map(|p| MultiplierPair::with_latency(p, pair_latency)).collect(),
            factor_a: dffs(staged),
            factor_b: dffs(staged),
            product: dffs(staged),
            zero_byte: Constant::new(0.into()),
            unused_odd_product: Default::default(),
        }
    }

    /// The array a config describes.
    pub fn from_config(config: &NpuConfig) -> Self {
        Self::with_multiplier_latency(config.array.rows, config.array.cols, config.array.multiplier_latency)
    }

    pub fn rows(&self) -> usize {
        self.a_in.len()
    }

    pub fn cols(&self) -> usize {
        self.b_in.len()
    }

    /// Copies of a row's last A register, and the PEs each feeds.
    fn feed_groups(&self) -> usize {
        self.a_feed.len() / self.rows()
    }

    fn feed_group(&self) -> usize {
        self.cols() / self.feed_groups()
    }

    /// Pairs whose both halves serve a PE.
    fn full_pairs(&self) -> usize {
        self.pes.len() / 2
    }

    /// The multiplier latency: the pairs', plus 2 when the factors and
    /// products have registers between the pairs and the PEs.
    pub fn multiplier_latency(&self) -> usize {
        let staged = if self.product.is_empty() { 0 } else { 2 };
        self.pairs[0].latency() + staged
    }

    /// The pairs wired straight to their PEs (latency 1 or 2): the full
    /// ones, and up to `direct_pairs` the odd one. None at latency 3 or 4,
    /// where the pairs from there on (`direct_full_pairs..full_pairs`, and
    /// `direct_pairs..pairs.len()` for the odd one) go through the factor
    /// and product registers instead.
    fn direct_full_pairs(&self) -> usize {
        if self.product.is_empty() {
            self.full_pairs()
        } else {
            0
        }
    }

    fn direct_pairs(&self) -> usize {
        if self.product.is_empty() {
            self.pairs.len()
        } else {
            self.full_pairs()
        }
    }

    /// Cycles from the cycle that carries `last` to the first cycle in which
    /// `drain` may be raised: the bottom row's skew (B's hops down the
    /// columns), plus a PE's pipeline.
    pub fn result_latency(&self) -> usize {
        timing::result_latency(self.rows(), self.multiplier_latency())
    }

    /// The fewest cycles between the `last` steps of two GEMMs streamed back
    /// to back, so that the second's sums land only after the first's drain.
    pub fn min_tile_spacing(&self) -> usize {
        timing::min_tile_spacing(self.rows(), self.cols())
    }
}

/// The array's timing rules as functions of its size, for the controller and
/// the drivers that schedule it.
pub mod timing {
    use crate::pe::PE_LATENCY;

    /// The PEs that one copy of a row's A register feeds: the whole row up
    /// to 8 columns (one register, as on the iCE40's 4x4), else the smallest
    /// divisor of `cols` from 4 up (a 16-wide row gets four copies).
    pub fn a_feed_group(cols: usize) -> usize {
        if cols <= 8 {
            return cols;
        }
        (4..=cols).find(|d| cols.is_multiple_of(*d)).unwrap_or(cols)
    }

    /// Cycles from a PE's factors to its result register: the PE's own
    /// pipeline, its multiplier's extra stages included.
    pub fn pe_latency(multiplier_latency: usize) -> usize {
        PE_LATENCY + multiplier_latency - 1
    }

    /// See [`super::SystolicArray::result_latency`]. The columns work in step
    /// (A is broadcast along the rows), so the width does not add to it.
    pub fn result_latency(rows: usize, multiplier_latency: usize) -> usize {
        rows + pe_latency(multiplier_latency)
    }

    /// See [`super::SystolicArray::min_tile_spacing`]. The first GEMM drains
    /// in the `rows` cycles from `result_latency` after its `last`. The
    /// second's first sum (PE (0, 0)) is written at the clock edge that ends
    /// the cycle `pe_latency` after its own `last`; that edge may be the
    /// drain's final one (a capture wins over a shift) but no earlier, or the
    /// drain would shift the new sum down the column. (Every PE of row 0
    /// keeps PE (0, 0)'s time.) The multiplier's latency delays both alike,
    /// so the spacing does not depend on it.
    pub fn min_tile_spacing(rows: usize, _cols: usize) -> usize {
        result_latency(rows, 1) + rows - 1 - pe_latency(1)
    }
}

impl Logic for SystolicArray {
    #[hdl_gen]
    fn update(&mut self) {
        // Clocks and the edge skew.
        for i in 0..self.rows() {
            self.valid_skew[i].clock.next = self.clock.val();
            self.last_skew[i].clock.next = self.clock.val();
            self.valid_skew[i].data_in.next = self.valid.val();
            self.last_skew[i].data_in.next = self.last.val();
        }
        for f in 0..self.a_feed.len() {
            self.a_feed[f].clock.next = self.clock.val();
        }
        // A bubble enters with a zero A byte, so that its products are zero
        // all the way along the row (see ProcessingElement); the gate
        // becomes the first register's synchronous reset. Row 0's first
        // register is its feed; row i's is in its skew line, whose end feeds
        // the row's copies of the last register.
        // (`gg` takes the single value feed_groups(), for the indices.)
        for gg in self.feed_groups()..(self.feed_groups() + 1) {
            for g in 0..self.feed_groups() {
                self.a_feed[g].d.next = self.zero_byte.val();
                if self.valid.val() {
                    self.a_feed[g].d.next = self.a_in[0].val();
                }
            }
            for i in 1..self.rows() {
                self.a_skew[i - 1].clock.next = self.clock.val();
                self.a_skew[i - 1].data_in.next = self.zero_byte.val();
                if self.valid.val() {
                    self.a_skew[i - 1].data_in.next = self.a_in[i].val();
                }
                for g in 0..self.feed_groups() {
                    self.a_feed[i * gg + g].d.next = self.a_skew[i - 1].data_out.val();
                }
            }
        }
        for j in 0..self.cols() {
            self.b_skew[j].clock.next = self.clock.val();
            self.b_skew[j].data_in.next = self.b_in[j].val();
        }
        // `w` takes the single value cols() and `h` the single value rows():
        // rust-hdl evaluates index expressions from loop variables only, so
        // this is how the grid's pitch reaches `pes[i * w + j]`.
        for w in self.cols()..(self.cols() + 1) {
            for i in 0..self.rows() {
                // A's control, broadcast along the row from its skew line.
                for j in 0..self.cols() {
                    self.pes[i * w + j].valid_in.next = self.valid_skew[i].data_out.val();
                    self.pes[i * w + j].last_in.next = self.last_skew[i].data_out.val();
                }
            }
            // A, from the row's copy for the PE's group.
            for gs in self.feed_group()..(self.feed_group() + 1) {
                for gg in self.feed_groups()..(self.feed_groups() + 1) {
                    for i in 0..self.rows() {
                        for g in 0..self.feed_groups() {
                            for c in 0..self.feed_group() {
                                self.pes[i * w + g * gs + c].a_in.next = self.a_feed[i * gg + g].q.val();
                            }
                        }
                    }
                }
            }
            for j in 0..self.cols() {
                // Top edge: B from the column's skew line; zeros drain in.
                self.pes[j].b_in.next = self.b_skew[j].data_out.val();
                self.pes[j].result_in.next = bits::<32>(0);
                for i in 1..self.rows() {
                    self.b_fwd[(i - 1) * w + j].clock.next = self.clock.val();
                    self.b_fwd[(i - 1) * w + j].d.next = self.pes[(i - 1) * w + j].b_out.val();
                    self.pes[i * w + j].b_in.next = self.b_fwd[(i - 1) * w + j].q.val();
                    self.pes[i * w + j].result_in.next = self.pes[(i - 1) * w + j].result_out.val();
                }
            }
            for j in 0..self.cols() {
                self.drain[j].clock.next = self.clock.val();
                self.drain[j].d.next = self.drain_next.val();
            }
            for i in 0..self.rows() {
                for j in 0..self.cols() {
                    self.pes[i * w + j].clock.next = self.clock.val();
                    self.pes[i * w + j].drain.next = self.drain[j].q.val();
                }
            }
            for h in self.rows()..(self.rows() + 1) {
                for j in 0..self.cols() {
                    self.result[j].next = self.pes[(h - 1) * w + j].result_out.val();
                }
            }
        }
        // The multiplies: PE 2p in the low half of pair p, PE 2p + 1 in the
        // high. Latency 1 or 2: the pairs take the PEs' factors and give
        // back their products directly.
        self.unused_odd_product.next = bits::<32>(0);
        for p in 0..self.direct_full_pairs() {
            self.pairs[p].clock.next = self.clock.val();
            self.pairs[p].a0.next = self.pes[2 * p].a_out.val();
            self.pairs[p].b0.next = self.pes[2 * p].b_out.val();
            self.pairs[p].a1.next = self.pes[2 * p + 1].a_out.val();
            self.pairs[p].b1.next = self.pes[2 * p + 1].b_out.val();
            self.pes[2 * p].product_in.next = self.pairs[p].p0.val();
            self.pes[2 * p + 1].product_in.next = self.pairs[p].p1.val();
        }
        for p in self.full_pairs()..self.direct_pairs() {
            self.pairs[p].clock.next = self.clock.val();
            self.pairs[p].a0.next = self.pes[2 * p].a_out.val();
            self.pairs[p].b0.next = self.pes[2 * p].b_out.val();
            self.pairs[p].a1.next = self.zero_byte.val();
            self.pairs[p].b1.next = self.zero_byte.val();
            self.pes[2 * p].product_in.next = self.pairs[p].p0.val();
            self.unused_odd_product.next = self.pairs[p].p1.val();
        }
        // Latency 3 or 4: each PE's factors and product pass a register each way.
        for e in 0..self.product.len() {
            self.factor_a[e].clock.next = self.clock.val();
            self.factor_b[e].clock.next = self.clock.val();
            self.product[e].clock.next = self.clock.val();
            self.factor_a[e].d.next = self.pes[e].a_out.val();
            self.factor_b[e].d.next = self.pes[e].b_out.val();
            self.pes[e].product_in.next = self.product[e].q.val();
        }
        for p in self.direct_full_pairs()..self.full_pairs() {
            self.pairs[p].clock.next = self.clock.val();
            self.pairs[p].a0.next = self.factor_a[2 * p].q.val();
            self.pairs[p].b0.next = self.factor_b[2 * p].q.val();
            self.pairs[p].a1.next = self.factor_a[2 * p + 1].q.val();
            self.pairs[p].b1.next = self.factor_b[2 * p + 1].q.val();
            self.product[2 * p].d.next = self.pairs[p].p0.val();
            self.product[2 * p + 1].d.next = self.pairs[p].p1.val();
        }
        for p in self.direct_pairs()..self.pairs.len() {
            self.pairs[p].clock.next = self.clock.val();
            self.pairs[p].a0.next = self.factor_a[2 * p].q.val();
            self.pairs[p].b0.next = self.factor_b[2 * p].q.val();
            self.pairs[p].a1.next = self.zero_byte.val();
            self.pairs[p].b1.next = self.zero_byte.val();
            self.product[2 * p].d.next = self.pairs[p].p0.val();
            self.unused_odd_product.next = self.pairs[p].p1.val();
        }
    }
}
