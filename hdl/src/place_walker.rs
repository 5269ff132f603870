//! A place walker: one side of a MOVE, a byte's place (entry, lane) in a
//! byte bank, stepped through runs of bytes by two strides.
//!
//! A place and a stride are both an entry and a lane below the bank's
//! `lanes`; adding them (a `PlaceAdder`) carries a lane sum at or past
//! `lanes` into the entry, which is the byte index `entry * lanes + lane`
//! added without a multiplier. The walker keeps the place and the first place of its run:
//! `step` moves the place by `step_*`, `next_run` moves the run's first place
//! by `run_*` and the place with it, `restart` goes back to `base_*`. An
//! entry that carries past 65535 sets `overflow` until the restart: no bank
//! is that deep, so the place is past its bank.
//!
//! While the strides hold (`settled`, as when a MOVE's bytes are served),
//! a step or a run takes a sum registered the cycle before: the walker
//! keeps the place plus a step and the run's start plus a run ahead, so
//! that the next place (`entry_next`, which B's address copies take across
//! the die) is a multiplexer of flip-flops, not two adders deep. While the
//! strides change each cycle (the mover's walk by digits) the sums are the
//! adders' of the cycle itself.

use crate::place_adder::PlaceAdder;
use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct PlaceWalker {
    pub clock: Signal<In, Clock>,
    /// The bank's bytes an entry (1..=32), and every lane below it: six bits.
    pub lanes: Signal<In, Bits<6>>,
    /// The first place, and the strides (lanes below `lanes`).
    pub base_entry: Signal<In, Bits<16>>,
    pub base_lane: Signal<In, Bits<6>>,
    pub step_entry: Signal<In, Bits<16>>,
    pub step_lane: Signal<In, Bits<6>>,
    pub run_entry: Signal<In, Bits<16>>,
    pub run_lane: Signal<In, Bits<6>>,
    /// One cycle each, one at a time: back to the base; to the next byte of
    /// the run; to the next run's first byte.
    pub restart: Signal<In, Bit>,
    pub step: Signal<In, Bit>,
    pub next_run: Signal<In, Bit>,
    /// The strides and `lanes` held in the cycle before this one: `step`
    /// and `next_run` take the registered sums.
    pub settled: Signal<In, Bit>,
    /// The place (flip-flops), and whether an entry carried past 65535.
    pub entry: Signal<Out, Bits<16>>,
    pub lane: Signal<Out, Bits<6>>,
    pub overflow: Signal<Out, Bit>,
    /// Next cycle's `entry` (for copies of an address registered beside
    /// a memory).
    pub entry_next: Signal<Out, Bits<16>>,
    // ---- State.
    /// The place, and the first place of its run.
    place_entry: DFF<Bits<16>>,
    /// (Lanes are below 32, so their sums below 64: six bits.)
    place_lane: DFF<Bits<6>>,
    run_start_entry: DFF<Bits<16>>,
    run_start_lane: DFF<Bits<6>>,
    overflow_reg: DFF<Bit>,
    /// The next place plus a step and the next run's start plus a run,
    /// worked out a cycle ahead (17 entry bits: the top one a carry past
    /// 65535); right whenever the strides held, see `settled`.
    ahead_step_entry: DFF<Bits<17>>,
    ahead_step_lane: DFF<Bits<6>>,
    ahead_run_entry: DFF<Bits<17>>,
    ahead_run_lane: DFF<Bits<6>>,
    // ---- The adders: the place plus a step and the run's start plus a
    // run (while walking), and the registered sums' next values.
    stepped: PlaceAdder,
    ran: PlaceAdder,
    ahead_step: PlaceAdder,
    ahead_run: PlaceAdder,
    // ---- Combinational.
    /// A step's and a run's sum: the adders' of this cycle, or the
    /// registered ones.
    stepped_entry: Signal<Local, Bits<17>>,
    stepped_lane: Signal<Local, Bits<6>>,
    ran_entry: Signal<Local, Bits<17>>,
    ran_lane: Signal<Local, Bits<6>>,
}

impl Logic for PlaceWalker {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, place_entry, place_lane, run_start_entry, run_start_lane, overflow_reg, ahead_step_entry, ahead_step_lane,
            ahead_run_entry, ahead_run_lane
        );
        self.entry.next = self.place_entry.q.val();
        self.lane.next = self.place_lane.q.val();
        self.overflow.next = self.overflow_reg.q.val();
        self.stepped.lanes.next = self.lanes.val();
        self.stepped.entry.next = self.place_entry.q.val();
        self.stepped.lane.next = self.place_lane.q.val();
        self.stepped.stride_entry.next = self.step_entry.val();
        self.stepped.stride_lane.next = self.step_lane.val();
        self.ran.lanes.next = self.lanes.val();
        self.ran.entry.next = self.run_start_entry.q.val();
        self.ran.lane.next = self.run_start_lane.q.val();
        self.ran.stride_entry.next = self.run_entry.val();
        self.ran.stride_lane.next = self.run_lane.val();
        self.stepped_entry.next = self.stepped.sum_entry.val();
        self.stepped_lane.next = self.stepped.sum_lane.val();
        self.ran_entry.next = self.ran.sum_entry.val();
        self.ran_lane.next = self.ran.sum_lane.val();
        if self.settled.val() {
            // The sums registered a cycle ago.
            self.stepped_entry.next = self.ahead_step_entry.q.val();
            self.stepped_lane.next = self.ahead_step_lane.q.val();
            self.ran_entry.next = self.ahead_run_entry.q.val();
            self.ran_lane.next = self.ahead_run_lane.q.val();
        }
        if self.step.val() {
            self.place_entry.d.next = self.stepped_entry.val().get_bits::<16>(0);
            self.place_lane.d.next = self.stepped_lane.val();
            if self.stepped_entry.val().get_bit(16) {
                self.overflow_reg.d.next = true;
            }
        }
        if self.next_run.val() {
            self.place_entry.d.next = self.ran_entry.val().get_bits::<16>(0);
            self.place_lane.d.next = self.ran_lane.val();
            self.run_start_entry.d.next = self.ran_entry.val().get_bits::<16>(0);
            self.run_start_lane.d.next = self.ran_lane.val();
            if self.ran_entry.val().get_bit(16) {
                self.overflow_reg.d.next = true;
            }
        }
        if self.restart.val() {
            self.place_entry.d.next = self.base_entry.val();
            self.place_lane.d.next = self.base_lane.val();
            self.run_start_entry.d.next = self.base_entry.val();
            self.run_start_lane.d.next = self.base_lane.val();
            self.overflow_reg.d.next = false;
        }
        self.entry_next.next = self.place_entry.d.val();
        // The next cycle's sums, from the next place and run start as the
        // registered sums give them, so that no adder feeds another (while
        // walking they are not needed, and the restart after the walk
        // starts them again).
        self.ahead_step.lanes.next = self.lanes.val();
        self.ahead_step.stride_entry.next = self.step_entry.val();
        self.ahead_step.stride_lane.next = self.step_lane.val();
        self.ahead_run.lanes.next = self.lanes.val();
        self.ahead_run.stride_entry.next = self.run_entry.val();
        self.ahead_run.stride_lane.next = self.run_lane.val();
        self.ahead_step.entry.next = self.place_entry.q.val();
        self.ahead_step.lane.next = self.place_lane.q.val();
        self.ahead_run.entry.next = self.run_start_entry.q.val();
        self.ahead_run.lane.next = self.run_start_lane.q.val();
        if self.step.val() {
            self.ahead_step.entry.next = self.ahead_step_entry.q.val().get_bits::<16>(0);
            self.ahead_step.lane.next = self.ahead_step_lane.q.val();
        }
        if self.next_run.val() {
            self.ahead_step.entry.next = self.ahead_run_entry.q.val().get_bits::<16>(0);
            self.ahead_step.lane.next = self.ahead_run_lane.q.val();
            self.ahead_run.entry.next = self.ahead_run_entry.q.val().get_bits::<16>(0);
            self.ahead_run.lane.next = self.ahead_run_lane.q.val();
        }
        if self.restart.val() {
            self.ahead_step.entry.next = self.base_entry.val();
            self.ahead_step.lane.next = self.base_lane.val();
            self.ahead_run.entry.next = self.base_entry.val();
            self.ahead_run.lane.next = self.base_lane.val();
        }
        self.ahead_step_entry.d.next = self.ahead_step.sum_entry.val();
        self.ahead_step_lane.d.next = self.ahead_step.sum_lane.val();
        self.ahead_run_entry.d.next = self.ahead_run.sum_entry.val();
        self.ahead_run_lane.d.next = self.ahead_run.sum_lane.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives the walker one clock edge with these controls.
    fn edge(w: &mut PlaceWalker, restart: bool, step: bool, next_run: bool) {
        w.restart.next = restart;
        w.step.next = step;
        w.next_run.next = next_run;
        w.clock.next = Clock::from(false);
        simulate(w, 100);
        w.clock.next = Clock::from(true);
        simulate(w, 100);
    }

    /// The same walk with the sums of the cycle (`settled` low) and with the
    /// registered ones: the strides hold from the restart on, and change
    /// only a cycle before they are used.
    #[test]
    fn steps_and_runs_are_byte_index_sums() {
        for settled in [false, true] {
            // lanes 3: base 5*3+2 = 17, step 0*3+2 = 2, run 1*3+1 = 4.
            let mut w = PlaceWalker::default();
            w.connect_all();
            w.settled.next = settled;
            w.lanes.next = 3.into();
            w.base_entry.next = 5.into();
            w.base_lane.next = 2.into();
            w.step_entry.next = 0.into();
            w.step_lane.next = 2.into();
            w.run_entry.next = 1.into();
            w.run_lane.next = 1.into();
            edge(&mut w, true, false, false);
            let place = |w: &PlaceWalker| w.entry.val().index() * 3 + w.lane.val().index();
            assert_eq!(place(&w), 17);
            let next = |w: &PlaceWalker| w.entry_next.val().index();
            w.restart.next = false;
            w.step.next = true;
            assert!(simulate(&mut w, 100));
            assert_eq!(next(&w), 19 / 3, "settled {settled}");
            edge(&mut w, false, true, false);
            assert_eq!(place(&w), 19, "settled {settled}");
            edge(&mut w, false, true, false);
            assert_eq!(place(&w), 21);
            edge(&mut w, false, false, true);
            assert_eq!(place(&w), 21);
            edge(&mut w, false, true, false);
            assert_eq!(place(&w), 23);
            edge(&mut w, false, false, false);
            assert_eq!(place(&w), 23);
            edge(&mut w, false, false, true);
            assert_eq!(place(&w), 25, "settled {settled}");
            edge(&mut w, false, true, false);
            assert_eq!(place(&w), 27);
            assert!(!w.overflow.val());
            w.run_entry.next = 0xFFFF.into();
            edge(&mut w, false, false, false);
            edge(&mut w, false, false, true);
            assert!(w.overflow.val());
            edge(&mut w, true, false, false);
            assert!(!w.overflow.val());
            assert_eq!(place(&w), 17);
        }
    }
}
