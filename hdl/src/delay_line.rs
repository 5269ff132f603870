//! A fixed-length shift register.
//!
//! The array's edges use one per row and per column to skew the operands:
//! row `i` of A must reach the array `i` cycles after row 0, column `j` of B
//! `j` cycles after column 0, so that matching A and B elements meet in every
//! PE. The length is chosen at elaboration time (a `Vec` of registers), since
//! it differs from row to row.

use rust_hdl::prelude::*;

/// `data_out` is `data_in` delayed by `len()` clock cycles.
#[derive(LogicBlock)]
pub struct DelayLine<T: Synth> {
    pub clock: Signal<In, Clock>,
    /// The value entering the line.
    pub data_in: Signal<In, T>,
    /// The value that entered `len()` cycles ago.
    pub data_out: Signal<Out, T>,
    /// The registers, oldest value last.
    stages: Vec<DFF<T>>,
}

impl<T: Synth> DelayLine<T> {
    /// A line of `len` registers; `len` is at least 1 (a zero-length line
    /// would be a wire, which rust-hdl cannot express as a block).
    pub fn new(len: usize) -> Self {
        assert!(len >= 1, "a DelayLine has at least one stage");
        Self {
            clock: Default::default(),
            data_in: Default::default(),
            data_out: Default::default(),
            stages: (0..len).map(|_| DFF::default()).collect(),
        }
    }

    /// The delay in cycles.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// Never true: a line has at least one stage.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }
}

impl<T: Synth> Logic for DelayLine<T> {
    #[hdl_gen]
    fn update(&mut self) {
        for k in 0..self.stages.len() {
            self.stages[k].clock.next = self.clock.val();
        }
        self.stages[0].d.next = self.data_in.val();
        for k in 1..self.stages.len() {
            self.stages[k].d.next = self.stages[k - 1].q.val();
        }
        // `n` takes the single value len(): rust-hdl evaluates index
        // expressions from loop variables only, so this is how the last
        // stage's index reaches the generated Verilog.
        for n in self.stages.len()..(self.stages.len() + 1) {
            self.data_out.next = self.stages[n - 1].q.val();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_by_its_length() {
        for len in 1..5 {
            let mut line = DelayLine::<Bits<8>>::new(len);
            line.connect_all();
            let mut seen = vec![];
            for t in 0..12u64 {
                line.data_in.next = (t + 1).into();
                line.clock.next = Clock::from(false);
                simulate(&mut line, 100);
                line.clock.next = Clock::from(true);
                simulate(&mut line, 100);
                seen.push(line.data_out.val().to_u64());
            }
            // After the edge ending cycle t data_out holds data_in(t - len + 1).
            for (t, &v) in seen.iter().enumerate() {
                let expect = if t + 1 >= len { (t + 2 - len) as u64 } else { 0 };
                assert_eq!(v, expect, "len {len}, cycle {t}");
            }
        }
    }
}
