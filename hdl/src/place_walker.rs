//! A place walker: one side of a MOVE, a byte's place (entry, lane) in a
//! byte bank, stepped through runs of bytes by two strides.
//!
//! A place and a stride are both an entry and a lane below the bank's
//! `lanes`; adding them carries a lane sum at or past `lanes` into the
//! entry, which is the byte index `entry * lanes + lane` added without a
//! multiplier. The walker keeps the place and the first place of its run:
//! `step` moves the place by `step_*`, `next_run` moves the run's first place
//! by `run_*` and the place with it, `restart` goes back to `base_*`. An
//! entry that carries past 65535 sets `overflow` until the restart: no bank
//! is that deep, so the place is past its bank.

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
    // ---- Combinational: the place plus a step, the run's start plus a run.
    stepped_lane: Signal<Local, Bits<6>>,
    stepped_wrap: Signal<Local, Bit>,
    stepped_entry: Signal<Local, Bits<17>>,
    ran_lane: Signal<Local, Bits<6>>,
    ran_wrap: Signal<Local, Bit>,
    ran_entry: Signal<Local, Bits<17>>,
}

impl Logic for PlaceWalker {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, place_entry, place_lane, run_start_entry, run_start_lane, overflow_reg);
        self.entry.next = self.place_entry.q.val();
        self.lane.next = self.place_lane.q.val();
        self.overflow.next = self.overflow_reg.q.val();
        // The lanes add, wrap once at most (both are below `lanes`), and
        // carry into the entries' sum.
        self.stepped_lane.next = self.place_lane.q.val() + self.step_lane.val();
        self.stepped_wrap.next = self.stepped_lane.val() >= self.lanes.val();
        if self.stepped_wrap.val() {
            self.stepped_lane.next = self.place_lane.q.val() + self.step_lane.val() - self.lanes.val();
        }
        self.stepped_entry.next = bit_cast::<17, 16>(self.place_entry.q.val())
            + bit_cast::<17, 16>(self.step_entry.val())
            + bit_cast::<17, 1>(self.stepped_wrap.val().into());
        self.ran_lane.next = self.run_start_lane.q.val() + self.run_lane.val();
        self.ran_wrap.next = self.ran_lane.val() >= self.lanes.val();
        if self.ran_wrap.val() {
            self.ran_lane.next = self.run_start_lane.q.val() + self.run_lane.val() - self.lanes.val();
        }
        self.ran_entry.next = bit_cast::<17, 16>(self.run_start_entry.q.val())
            + bit_cast::<17, 16>(self.run_entry.val())
            + bit_cast::<17, 1>(self.ran_wrap.val().into());
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

    #[test]
    fn steps_and_runs_are_byte_index_sums() {
        // lanes 3: base 5*3+2 = 17, step 0*3+2 = 2, run 1*3+1 = 4.
        let mut w = PlaceWalker::default();
        w.connect_all();
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
        edge(&mut w, false, true, false);
        assert_eq!(place(&w), 19);
        edge(&mut w, false, true, false);
        assert_eq!(place(&w), 21);
        edge(&mut w, false, false, true);
        assert_eq!(place(&w), 21);
        edge(&mut w, false, true, false);
        assert_eq!(place(&w), 23);
        assert!(!w.overflow.val());
        w.run_entry.next = 0xFFFF.into();
        edge(&mut w, false, false, true);
        assert!(w.overflow.val());
        edge(&mut w, true, false, false);
        assert!(!w.overflow.val());
    }
}
