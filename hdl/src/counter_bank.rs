//! The performance counters and the frame counts, kept in block RAM.
//!
//! The eight counters of the COUNTERS record each need 40 bits or more, and
//! the STATUS record's two frame counts 32; as registers with their adders
//! and the readout multiplexers they took about 850 iCE40 logic cells. Here
//! each counter is a 40-bit word in block RAM, and a round-robin service
//! visits one counter per cycle: it reads the word, and two cycles later
//! writes it back plus what the counter gained since its last visit (read,
//! fetch and write-back are pipeline stages, a register apart).
//!
//! What a counter gains between visits is kept in a small **tally** in
//! flip-flops: its increments, added every cycle. The service's read stage
//! takes the tally and starts it again from this cycle's increment (for an
//! event, 0 or 1, the tally's upper bits are then a synchronous reset, and
//! each tally bit shares its adder's logic cell). Every counter is visited
//! every `COUNTERS` cycles, so a tally holds at most `COUNTERS` increments:
//! 5 bits for a counter of events (0 or 1 a cycle), and more only for the
//! one wide counter ([`WIDE_COUNTER`], the MACs, up to `max_increment` a
//! cycle).
//!
//! A read takes a **snapshot** of one counter as the service writes it
//! back: that word is the counter's value at its read stage, whole.
//! `snapshot_request` names the counter, `snapshot_ready` rises at most
//! `COUNTERS + 2` cycles later (`COUNTERS + 3` with the hold stage), and the snapshot then holds the value until
//! the next request, shown a byte at a time from its low byte
//! (`snapshot_byte`, `snapshot_shift`). So every counter is read as one consistent number (a
//! live register read byte by byte could tear when a carry crossed bytes).
//!
//! `clear` zeroes the first CLEARABLE counters at once (the COUNTERS
//! record's; the frame counts stay): the tallies directly, the words by
//! marking them stale until the service has written each one back as zero.

use crate::ram::Ram;
use npu_spec::protocol::COUNTER_BITS;
use crate::vecs::{dffs, signals};
use rust_hdl::prelude::*;

/// Counter slots in the bank: the COUNTERS record's ten (0..=9), four
/// unused (their increments are tied to zero; sixteen slots let the
/// service's counter wrap by itself) and the STATUS record's two frame
/// counts (14 and 15).
pub const COUNTERS: usize = 16;
/// The counters `clear` zeroes: 0..CLEARABLE, the COUNTERS record's.
pub const CLEARABLE: usize = 10;
const _: () = assert!(CLEARABLE <= 14 && COUNTERS == 16);
// A counter is the protocol's COUNTER_BITS wide (2^40 cycles are over 6
// hours at 48 MHz; the record's 8-byte fields read 0 above); the
// write-back adds in two halves of 20 bits (`update`).
const _: () = assert!(COUNTER_BITS == 40);
/// The one counter whose increment may exceed 1 (the COUNTERS record's
/// MACs; `update` names it by this literal).
pub const WIDE_COUNTER: usize = 3;
const _: () = assert!(WIDE_COUNTER == 3);

#[derive(LogicBlock)]
pub struct CounterBank {
    pub clock: Signal<In, Clock>,
    /// What each counter adds this cycle: 0 or 1, and up to the bank's
    /// `max_increment` for [`WIDE_COUNTER`]. Registered on the way in, so an
    /// event is counted a cycle after it happens and the logic that signals
    /// it is not in series with the tallies' adders.
    pub increment: Vec<Signal<In, Bits<17>>>,
    /// Zero every clearable counter (increments not yet counted are dropped too).
    pub clear: Signal<In, Bit>,
    /// One cycle: take a snapshot of counter `snapshot_counter`.
    pub snapshot_request: Signal<In, Bit>,
    pub snapshot_counter: Signal<In, Bits<4>>,
    /// The snapshot asked for last is ready; its low byte.
    pub snapshot_ready: Signal<Out, Bit>,
    pub snapshot_byte: Signal<Out, Bits<8>>,
    /// One cycle: the snapshot moves down a byte, zeros coming in at the
    /// top (a reader takes it byte by byte from the low byte: no byte
    /// multiplexer, and the snapshot's flip-flops share their cells with
    /// the shift's).
    pub snapshot_shift: Signal<In, Bit>,
    /// The bits a tally can use: an event counter's, the wide counter's.
    event_mask: Constant<Bits<17>>,
    /// CLEARABLE, for the clear's tests of a counter's number.
    clearable: Constant<Bits<4>>,
    wide_mask: Constant<Bits<17>>,
    /// The counters, entry c for counter c.
    words: Ram<Bits<COUNTER_BITS>>,
    /// The increments, registered.
    added: Vec<DFF<Bits<17>>>,
    /// What each counter gained since the service last took it.
    tally: Vec<DFF<Bits<17>>>,
    /// Words to be read as zero: cleared since the service last wrote them.
    stale: Vec<DFF<Bit>>,
    /// The service, three counters in flight: the counter whose word is
    /// read this cycle (its tally is taken), the one whose word arrives
    /// (zero if stale; its low half plus the tally is added here), and the
    /// one written back (the high half plus that sum's carry). Each stage a
    /// register apart, and no carry chain longer than 21 bits.
    read_counter: DFF<Bits<4>>,
    fetch_counter: DFF<Bits<4>>,
    write_counter: DFF<Bits<4>>,
    taken: DFF<Bits<17>>,
    /// The word read is stale (taken with the tally, so that the fetch
    /// stage's zero is one LUT before its adder).
    taken_stale: DFF<Bit>,
    /// The fetched word's low half plus the tally, with its carry out
    /// (bit 20), and the word's high half.
    sum_low: DFF<Bits<21>>,
    fetched_high: DFF<Bits<20>>,
    /// The snapshot: which counter, whether taken, the value.
    wanted: DFF<Bits<4>>,
    ready: DFF<Bit>,
    value: DFF<Bits<COUNTER_BITS>>,
    /// The counter written back next cycle is `wanted` (registered from the
    /// fetch stage; wrong for the cycle after a request, which `requested`
    /// marks), so that the snapshot's decision reads flip-flops only.
    at_wanted: DFF<Bit>,
    requested: DFF<Bit>,
    /// With a hold stage (`new`'s `hold`; else empty): the fetched word
    /// (stale ones zeroed), its tally and its counter, registered between
    /// the block RAM and the adder, so that the RAM's slow output (5.6 ns
    /// on an ECP5 DP16KD) ends at a flip-flop. The write-back then comes a
    /// cycle later, and a snapshot at most `COUNTERS + 3` cycles after its
    /// request.
    /// (The word in its two halves, the low one and the tally widened for
    /// the add.)
    held_low: Vec<DFF<Bits<21>>>,
    held_high: Vec<DFF<Bits<20>>>,
    held_taken: Vec<DFF<Bits<21>>>,
    hold_counter: Vec<DFF<Bits<4>>>,
    // Combinational helpers.
    /// Each tally plus its increment, cut to the bits the tally can use
    /// (read by the tally alone: the read stage takes the tally's
    /// flip-flops, so that each sum bit and its flip-flop share a cell).
    sum: Vec<Signal<Local, Bits<17>>>,
    /// Which bits each tally can use.
    mask: Vec<Signal<Local, Bits<17>>>,
    /// The fetched word, zero if stale.
    kept: Signal<Local, Bits<COUNTER_BITS>>,
}

impl CounterBank {
    /// A bank whose wide counter adds at most `max_increment` a cycle.
    /// A bank whose widest counter gains up to `max_increment` a cycle,
    /// with a hold stage between its block RAM and its adder if `hold`.
    pub fn new(max_increment: usize, hold: bool) -> Self {
        let mask = |most: usize| Constant::new(((1u64 << Self::tally_bits_for(most)) - 1).into());
        Self {
            clock: Default::default(),
            increment: signals(COUNTERS),
            clear: Default::default(),
            snapshot_request: Default::default(),
            snapshot_counter: Default::default(),
            snapshot_ready: Default::default(),
            snapshot_byte: Default::default(),
            snapshot_shift: Default::default(),
            event_mask: mask(1),
            clearable: Constant::new((CLEARABLE as u64).into()),
            wide_mask: mask(max_increment),
            // The service reads one entry while it writes another; 256
            // entries, so that synthesis puts the words in block RAM.
            words: Ram::never_colliding(256),
            added: dffs(COUNTERS),
            tally: dffs(COUNTERS),
            stale: dffs(COUNTERS),
            read_counter: Default::default(),
            fetch_counter: Default::default(),
            write_counter: Default::default(),
            taken: Default::default(),
            taken_stale: Default::default(),
            sum_low: Default::default(),
            fetched_high: Default::default(),
            kept: Default::default(),
            wanted: Default::default(),
            ready: Default::default(),
            value: Default::default(),
            at_wanted: Default::default(),
            requested: Default::default(),
            held_low: dffs(usize::from(hold)),
            held_high: dffs(usize::from(hold)),
            held_taken: dffs(usize::from(hold)),
            hold_counter: dffs(usize::from(hold)),
            sum: signals(COUNTERS),
            mask: signals(COUNTERS),
        }
    }

    /// Width of a tally that takes up to `max_increment` a cycle: it holds
    /// the increments of `COUNTERS` cycles, at most `COUNTERS *
    /// max_increment`.
    pub fn tally_bits_for(max_increment: usize) -> usize {
        let most = (COUNTERS * max_increment.max(1)) as u64;
        let bits = 64 - most.leading_zeros() as usize;
        assert!(bits <= 17, "increments up to {max_increment} need {bits} tally bits");
        bits
    }
}

impl Logic for CounterBank {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, read_counter, fetch_counter, write_counter, taken, taken_stale, sum_low, fetched_high, wanted, ready, value, at_wanted, requested);
        self.words.clock.next = self.clock.val();
        self.snapshot_ready.next = self.ready.q.val();
        self.snapshot_byte.next = self.value.q.val().get_bits::<8>(0);

        // Tallies: add the increment; the read stage takes the tally and
        // starts it again from this cycle's increment.
        for c in 0..self.tally.len() {
            self.mask[c].next = self.event_mask.val();
        }
        self.mask[3].next = self.wide_mask.val();
        self.taken.d.next = 0.into();
        self.taken_stale.d.next = false;
        for c in 0..self.tally.len() {
            self.added[c].clock.next = self.clock.val();
            self.added[c].d.next = self.increment[c].val();
            self.tally[c].clock.next = self.clock.val();
            self.stale[c].clock.next = self.clock.val();
            self.stale[c].d.next = self.stale[c].q.val();
            self.sum[c].next = (self.tally[c].q.val() + self.added[c].q.val()) & self.mask[c].val();
            self.tally[c].d.next = self.sum[c].val();
            if self.read_counter.q.val().index() == c {
                self.taken.d.next = self.tally[c].q.val();
                self.taken_stale.d.next = self.stale[c].q.val();
                self.tally[c].d.next = self.added[c].q.val();
                self.stale[c].d.next = false;
            }
        }

        // The service: read, fetch, write back.
        self.read_counter.d.next = self.read_counter.q.val() + 1;
        self.fetch_counter.d.next = self.read_counter.q.val();
        self.write_counter.d.next = self.fetch_counter.q.val();
        self.words.read_address.next = bit_cast::<16, 4>(self.read_counter.q.val());
        self.kept.next = self.words.read_data.val();
        if self.taken_stale.q.val() {
            self.kept.next = 0.into();
        }
        self.sum_low.d.next = bit_cast::<21, 20>(self.kept.val().get_bits::<20>(0)) + bit_cast::<21, 17>(self.taken.q.val());
        self.fetched_high.d.next = self.kept.val().get_bits::<20>(20);
        self.words.write_address.next = bit_cast::<16, 4>(self.write_counter.q.val());
        self.words.write_data.next = (bit_cast::<COUNTER_BITS, 20>(self.fetched_high.q.val() + bit_cast::<20, 1>(self.sum_low.q.val().get_bit(20).into())) << 20)
            | bit_cast::<COUNTER_BITS, 20>(self.sum_low.q.val().get_bits::<20>(0));
        // The hold stage, when there is one: the add and the snapshot's
        // test take the held word, its tally and its counter.
        for h in 0..self.hold_counter.len() {
            self.held_low[h].clock.next = self.clock.val();
            self.held_high[h].clock.next = self.clock.val();
            self.held_taken[h].clock.next = self.clock.val();
            self.hold_counter[h].clock.next = self.clock.val();
            self.held_low[h].d.next = bit_cast::<21, 20>(self.kept.val().get_bits::<20>(0));
            self.held_high[h].d.next = self.kept.val().get_bits::<20>(20);
            self.held_taken[h].d.next = bit_cast::<21, 17>(self.taken.q.val());
            self.hold_counter[h].d.next = self.fetch_counter.q.val();
            self.sum_low.d.next = self.held_low[h].q.val() + self.held_taken[h].q.val();
            self.fetched_high.d.next = self.held_high[h].q.val();
            self.write_counter.d.next = self.hold_counter[h].q.val();
        }
        // (Not in the first cycle after power-up, when all are counter 0.)
        self.words.write_enable.next = self.write_counter.q.val() != self.read_counter.q.val();

        // Snapshot: the written-back word, the counter's value at its read.
        self.at_wanted.d.next = self.fetch_counter.q.val() == self.wanted.q.val();
        for h in 0..self.hold_counter.len() {
            self.at_wanted.d.next = self.hold_counter[h].q.val() == self.wanted.q.val();
        }
        self.requested.d.next = self.snapshot_request.val();
        if self.snapshot_request.val() {
            self.wanted.d.next = self.snapshot_counter.val();
            self.ready.d.next = false;
        } else if !self.ready.q.val() & self.at_wanted.q.val() & !self.requested.q.val() {
            self.value.d.next = self.words.write_data.val();
            self.ready.d.next = true;
        } else if self.snapshot_shift.val() {
            self.value.d.next = self.value.q.val() >> 8;
        }

        if self.clear.val() {
            for c in 0..CLEARABLE {
                self.tally[c].d.next = 0.into();
                self.added[c].d.next = 0.into();
                self.stale[c].d.next = true;
            }
            // A cleared counter's gains in flight are from before the
            // clear: write zero (the read stage's tally and word, the fetch
            // stage's sum; the write stage's counter is stale until next
            // round).
            if self.read_counter.q.val() < self.clearable.val() {
                self.taken.d.next = 0.into();
                self.taken_stale.d.next = true;
            }
            // With the hold stage the sum is the hold stage's counter's,
            // and it is not zeroed: the word goes stale anyway, and its
            // write-back comes before any snapshot asked for after the clear
            // could take it (see the test). Without, the fetch stage's is.
            for _unheld in self.hold_counter.len()..1 {
                if self.fetch_counter.q.val() < self.clearable.val() {
                    self.sum_low.d.next = 0.into();
                    self.fetched_high.d.next = 0.into();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(bank: &mut CounterBank) {
        bank.clock.next = Clock::from(true);
        simulate(bank, 100);
        bank.clock.next = Clock::from(false);
        simulate(bank, 100);
    }

    /// Snapshot of counter `c` through the request interface.
    fn read(bank: &mut CounterBank, c: usize, tally: &mut [u64; COUNTERS], incs: &[u64; COUNTERS]) -> u64 {
        bank.snapshot_request.next = true;
        bank.snapshot_counter.next = (c as u64).into();
        let mut waited = 0;
        loop {
            tick(bank);
            for (t, i) in tally.iter_mut().zip(incs) {
                *t += i;
            }
            bank.snapshot_request.next = false;
            waited += 1;
            if bank.snapshot_ready.val() {
                return bank.value.q.val().to_u64();
            }
            assert!(waited <= COUNTERS + 2 + bank.hold_counter.len(), "the snapshot came within a service round");
        }
    }

    #[test]
    fn a_tally_holds_a_round_of_increments() {
        assert_eq!(CounterBank::tally_bits_for(1), 5);
        assert_eq!(CounterBank::tally_bits_for(16), 9);
        assert_eq!(CounterBank::tally_bits_for(200), 12);
        for most in [1, 2, 16, 200] {
            assert!(COUNTERS * most < 1 << CounterBank::tally_bits_for(most));
        }
    }

    /// A snapshot right after a clear shows no count from before it, even
    /// of a counter whose write-back was in flight at the clear (its word
    /// goes stale, but the in-flight write is what the snapshot takes).
    #[test]
    fn a_snapshot_right_after_a_clear_counts_from_the_clear() {
        for hold in [false, true] {
            for offset in 0..COUNTERS {
                for c in 0..CLEARABLE {
                    let mut bank = CounterBank::new(16, hold);
                    bank.connect_all();
                    for i in 0..COUNTERS {
                        bank.increment[i].next = 1.into();
                    }
                    for _ in 0..(100 + offset) {
                        tick(&mut bank);
                    }
                    bank.clear.next = true;
                    tick(&mut bank);
                    bank.clear.next = false;
                    let mut tally = [0u64; COUNTERS];
                    let got = read(&mut bank, c, &mut tally, &[1; COUNTERS]);
                    assert!(got <= tally[c], "hold {hold}, clear at {offset}, counter {c}: {got} > {} cycles since the clear", tally[c]);
                }
            }
        }
    }

    #[test]
    fn snapshots_equal_the_sum_of_the_increments() {
        snapshots_equal_the_sum_of_the_increments_with(false);
    }

    #[test]
    fn snapshots_equal_the_sum_of_the_increments_with_the_hold_stage() {
        snapshots_equal_the_sum_of_the_increments_with(true);
    }

    fn snapshots_equal_the_sum_of_the_increments_with(hold: bool) {
        let mut bank = CounterBank::new(200, hold);
        bank.connect_all();
        let mut tally = [0u64; COUNTERS];
        let mut seed = 0x1234_5678u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            seed >> 33
        };
        for round in 0..40 {
            // A few thousand cycles of random increments, most counters busy.
            let mut incs = [0u64; COUNTERS];
            for cycle in 0..1500 {
                for (c, inc) in incs.iter_mut().enumerate() {
                    *inc = match c {
                        0 => 1,
                        3 => next() % 201,
                        _ => next() % 2,
                    };
                    bank.increment[c].next = (*inc).into();
                }
                if round % 2 == 0 && round <= 32 && cycle == 700 + round / 2 {
                    // The clear drops the clearable counters' increments in
                    // flight; the others count on. (Seventeen clears, each
                    // a cycle later in the service's round than the one
                    // before, so that clearable counters are in each of its
                    // stages at some clear.)
                    bank.clear.next = true;
                    tick(&mut bank);
                    bank.clear.next = false;
                    for (c, t) in tally.iter_mut().enumerate() {
                        *t = if c < CLEARABLE { 0 } else { *t + incs[c] };
                    }
                    continue;
                }
                tick(&mut bank);
                for (t, i) in tally.iter_mut().zip(&incs) {
                    *t += i;
                }
            }
            // Increments keep coming while the counters are read; each
            // snapshot equals the tally at the cycle it was taken, so compare
            // with the tally before and after and require it between.
            for c in 0..COUNTERS {
                let before = tally[c];
                let got = read(&mut bank, c, &mut tally, &incs);
                assert!(before <= got && got <= tally[c], "round {round} counter {c}: {got} not in {before}..={}", tally[c]);
            }
            // With the increments stopped, every snapshot is exact.
            let zero = [0u64; COUNTERS];
            for c in 0..COUNTERS {
                bank.increment[c].next = 0.into();
            }
            for c in 0..COUNTERS {
                assert_eq!(read(&mut bank, c, &mut tally, &zero), tally[c], "round {round} counter {c}");
            }
        }
        // (Past 2^20: the fetch stage's sum carried into the high half.)
        assert!(tally[3] > 1 << 20, "the fast counter crossed many carries: {}", tally[3]);
    }
}
