//! The processing element of the output-stationary array.
//!
//! A PE sits at row `i`, column `j`. Every cycle it multiplies the A byte
//! of its row (broadcast along the row) by the B byte arriving from above
//! and adds the product to its accumulator. Its inputs are already
//! registered (by the row's skew line, by the column's skew line or the
//! forwarding register above it), and the same registers carry B on down,
//! so a PE holds no copy of its operands. Control travels with A:
//! `valid` says the pair is real (bubbles leave the sum alone) and `last`
//! says it is the final pair of this output's dot product, at which point the
//! finished sum moves to the result register and the accumulator restarts.
//! The result registers of a column form a shift chain that the array drains
//! downwards while the next dot product is already accumulating.
//!
//! Pipeline: product register, accumulator, result register. The multiply
//! and its register live outside the PE, in a [`crate::MultiplierPair`]
//! that two PEs share (one iCE40 DSP); the PE gets the registered product of
//! the operands it showed on `a_in`/`b_in` one cycle earlier, and keeps
//! `valid` and `last` in step with it. A bubble (valid low) carries a zero A
//! byte, so its product is zero (the array sees to that) and the
//! accumulator can add every cycle. The accumulator adds each product,
//! except the first of a dot product, which it loads (an
//! [`AccumulatorAdder`], one logic cell a bit on the iCE40); the finished sum
//! moves from the accumulator to the result register one cycle after the
//! last product, while the next dot product's first product loads. So the
//! adder feeds only the accumulator, and neither register needs a
//! multiplexer of its own: about 68 logic cells a PE instead of 101.

use crate::accumulator_adder::AccumulatorAdder;
use rust_hdl::prelude::*;

/// Cycles from a PE's inputs to its result register: the product register,
/// the accumulator, the result register.
pub const PE_LATENCY: usize = 3;

#[derive(LogicBlock, Default)]
pub struct ProcessingElement {
    pub clock: Signal<In, Clock>,
    /// A byte from the left (registered by the array).
    pub a_in: Signal<In, Bits<8>>,
    /// B byte from above (registered by the array).
    pub b_in: Signal<In, Bits<8>>,
    /// The pair on `a_in`/`b_in` is real.
    pub valid_in: Signal<In, Bit>,
    /// The pair on `a_in`/`b_in` ends this output's dot product.
    pub last_in: Signal<In, Bit>,
    /// Shift the column's result registers down by one.
    pub drain: Signal<In, Bit>,
    /// The result register of the PE above (zero in row 0).
    pub result_in: Signal<In, Bits<32>>,
    /// This PE's finished sum.
    pub result_out: Signal<Out, Bits<32>>,
    /// `a_in * b_in` of the previous cycle, from the multiplier pair
    /// (sign-extended to the accumulator's width).
    pub product_in: Signal<In, Bits<32>>,
    /// `a_in` and `b_in` as they are, for the multiplier pair.
    pub a_out: Signal<Out, Bits<8>>,
    pub b_out: Signal<Out, Bits<8>>,
    /// The accumulator's next value: the sum, or the product when loading.
    adder: AccumulatorAdder,
    // The control that goes with the product register.
    product_valid: DFF<Bit>,
    product_last: DFF<Bit>,
    /// The accumulator holds a finished sum (or nothing): the next product loads.
    fresh: DFF<Bit>,
    /// The accumulator holds a finished sum this cycle: move it to the result.
    capture: DFF<Bit>,
    /// The running sum of the current dot product.
    acc: DFF<Bits<32>>,
    /// The last finished sum, until drained.
    result: DFF<Bits<32>>,
}

impl Logic for ProcessingElement {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, product_valid, product_last, fresh, capture, acc, result);
        // Stage 1: the multiply happens in the pair; its control waits here.
        self.a_out.next = self.a_in.val();
        self.b_out.next = self.b_in.val();
        self.product_valid.d.next = self.valid_in.val();
        self.product_last.d.next = self.last_in.val();
        // Stage 2: accumulate, or load the first product of a dot product.
        self.adder.load.next = self.fresh.q.val();
        self.adder.acc.next = self.acc.q.val();
        self.adder.product.next = self.product_in.val();
        // The accumulator takes the adder every cycle, with no clock enable:
        // a bubble's product is zero (the array zeroes A where `valid` is
        // low), so it adds nothing, or loads a zero into an accumulator whose
        // sum has already moved on. Without the enable, eight adder bits with
        // their flip-flops fit one iCE40 tile's 32 local inputs, and
        // nextpnr keeps the 32-bit carry chain whole (with it, the chain
        // is cut twice, each cut a detour through the fabric).
        self.acc.d.next = self.adder.sum.val();
        if self.product_valid.q.val() {
            self.fresh.d.next = self.product_last.q.val();
        }
        self.capture.d.next = self.product_valid.q.val() & self.product_last.q.val();
        // Stage 3: the finished sum moves to the result register, taking
        // precedence over the drain (the array's users never ask for both in
        // one cycle). One if/else chain, so that synthesis sees a clock
        // enable rather than a hold multiplexer.
        if self.capture.q.val() {
            self.result.d.next = self.acc.q.val();
        } else if self.drain.val() {
            // Drain: the column's results move down one PE.
            self.result.d.next = self.result_in.val();
        }
        self.result_out.next = self.result.q.val();
    }
}
