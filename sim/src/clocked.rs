//! A synchronous driver for rust-hdl blocks.
//!
//! rust-hdl's `Simulation` runs testbenches in threads that exchange the
//! circuit over channels, which suits free-running testbenches. A driver that
//! decides each cycle's inputs from the last cycle's outputs is simpler and
//! faster stepping the circuit itself: set inputs, settle, clock edge, settle.

use rust_hdl::prelude::*;

/// How many delta cycles a change may take to settle before the circuit is
/// declared to oscillate (a combinational loop).
const MAX_DELTAS: usize = 1000;

/// A block with a single clock, stepped one cycle at a time.
pub struct Clocked<B: Block> {
    /// The circuit. Set its inputs' `.next` between [`Clocked::tick`]s and read
    /// its outputs' `.val()` after them.
    pub uut: B,
    clock: fn(&mut B) -> &mut Signal<In, Clock>,
    cycles: u64,
}

impl<B: Block> Clocked<B> {
    /// Connects the block and settles it with the clock low.
    pub fn new(mut uut: B, clock: fn(&mut B) -> &mut Signal<In, Clock>) -> Self {
        uut.connect_all();
        let mut me = Self { uut, clock, cycles: 0 };
        (me.clock)(&mut me.uut).next = Clock::from(false);
        me.settle();
        me
    }

    /// Propagates the inputs set since the last call through the logic.
    pub fn settle(&mut self) {
        assert!(
            simulate(&mut self.uut, MAX_DELTAS),
            "the circuit did not settle in {MAX_DELTAS} delta cycles: a combinational loop"
        );
    }

    /// One clock cycle: the inputs as set now are taken at the rising edge;
    /// afterwards the outputs show the state after that edge.
    pub fn tick(&mut self) {
        self.settle();
        (self.clock)(&mut self.uut).next = Clock::from(true);
        self.settle();
        (self.clock)(&mut self.uut).next = Clock::from(false);
        self.settle();
        self.cycles += 1;
    }

    /// Clock cycles run so far.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }
}
