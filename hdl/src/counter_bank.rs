//! The performance counters and the frame counts, kept mostly in block RAM.
//!
//! The eight counters of the COUNTERS record each need 40 bits or more, and
//! the STATUS record's two frame counts 32; as registers with their adders
//! and the readout multiplexers they took about 850 iCE40 logic cells. Here
//! each counter is split:
//!
//! - a **low part** of `low_bits` bits in a register, which takes the
//!   counter's increment every cycle; its carry out sets the counter's
//!   **pending** bit;
//! - a **high part** of 32 bits in one block RAM word, which a round-robin
//!   service visits one counter per cycle: it reads the word and takes the
//!   pending bit (clearing it), and two cycles later writes the word back
//!   plus that bit (read, fetch and write-back are pipeline stages, a
//!   register apart). Every counter is visited every `COUNTERS` cycles, and
//!   `low_bits` is chosen so that a low part cannot carry twice in that time.
//!
//! The value of a counter is `(high + pending) * 2^low_bits + low`. A read
//! takes a **snapshot** of one counter, whole, as the service reads it: the
//! read stage takes the low part along with the pending bit, so the word
//! written back two cycles later and that low part are the counter's value
//! at the read. `snapshot_request` names the counter, `snapshot_ready`
//! rises at most `COUNTERS + 2` cycles later, and `snapshot` then holds the
//! value until the next request. So every counter is read as one consistent
//! number (a live register read byte by byte could tear when a carry
//! crossed bytes).
//!
//! `clear` zeroes the first CLEARABLE counters at once (the COUNTERS
//! record's; the frame counts stay): the low parts and pending bits
//! directly, the high parts by marking them stale until the service has
//! written each one back as zero.

use crate::ram::Ram;
use crate::vecs::{dffs, signals};
use rust_hdl::prelude::*;

/// Counter slots in the bank: the COUNTERS record's eight, the STATUS
/// record's two frame counts, and six unused (their increments are tied to
/// zero; sixteen slots let the service's counter wrap by itself).
pub const COUNTERS: usize = 16;
/// The counters `clear` zeroes: 0..CLEARABLE.
pub const CLEARABLE: usize = 8;
/// Width of the snapshot: `low_bits + 32` is at most this.
pub const SNAPSHOT_BITS: usize = 48;

#[derive(LogicBlock)]
pub struct CounterBank {
    pub clock: Signal<In, Clock>,
    /// What each counter adds this cycle (most are 0 or 1; the top bit must
    /// be 0). Registered on the way in, so an event is counted a cycle after
    /// it happens and the logic that signals it is not in series with the
    /// counters' adders.
    pub increment: Vec<Signal<In, Bits<17>>>,
    /// Zero every counter (increments not yet counted are dropped too).
    pub clear: Signal<In, Bit>,
    /// One cycle: take a snapshot of counter `snapshot_counter`.
    pub snapshot_request: Signal<In, Bit>,
    pub snapshot_counter: Signal<In, Bits<4>>,
    /// The snapshot asked for last is in `snapshot`.
    pub snapshot_ready: Signal<Out, Bit>,
    pub snapshot: Signal<Out, Bits<SNAPSHOT_BITS>>,
    /// Width of the low parts, and `2^low_bits - 1`.
    low_bits: Constant<Bits<8>>,
    low_mask: Constant<Bits<17>>,
    clearable: Constant<Bits<4>>,
    /// The high parts, entry c for counter c.
    high: Ram<Bits<32>>,
    /// The increments, registered.
    added: Vec<DFF<Bits<17>>>,
    /// The low parts, and a carry out of each not yet added to its high part.
    low: Vec<DFF<Bits<17>>>,
    pending: Vec<DFF<Bit>>,
    /// High parts to be read as zero: cleared since the service last wrote them.
    stale: Vec<DFF<Bit>>,
    /// The service, three counters in flight: the counter whose high part
    /// is read this cycle (its pending bit is taken), the one whose high part
    /// arrives (it is kept, zero if stale), and the one written back (the
    /// kept value plus the taken bit). Each stage a register apart.
    read_counter: DFF<Bits<4>>,
    fetch_counter: DFF<Bits<4>>,
    write_counter: DFF<Bits<4>>,
    taken: DFF<Bit>,
    taken_fetched: DFF<Bit>,
    fetched: DFF<Bits<32>>,
    /// The low part as the read stage found it, through the fetch stage.
    taken_low: DFF<Bits<17>>,
    fetched_low: DFF<Bits<17>>,
    /// The snapshot: which counter, whether taken, the value.
    wanted: DFF<Bits<4>>,
    ready: DFF<Bit>,
    value: DFF<Bits<SNAPSHOT_BITS>>,
    /// The counter written back next cycle is `wanted` (registered from the
    /// fetch stage; wrong for the cycle after a request, which `requested`
    /// marks), so that the snapshot's decision reads flip-flops only.
    at_wanted: DFF<Bit>,
    requested: DFF<Bit>,
    // Combinational helpers.
    /// Each low part plus its increment, one bit wider (the carry at `low_bits`).
    sum: Vec<Signal<Local, Bits<17>>>,
    /// The read counter's low part.
    read_low: Signal<Local, Bits<17>>,
}

impl CounterBank {
    /// A bank whose fastest counter adds at most `max_increment` a cycle.
    pub fn new(max_increment: usize) -> Self {
        let low_bits = Self::low_bits_for(max_increment);
        Self {
            clock: Default::default(),
            increment: signals(COUNTERS),
            clear: Default::default(),
            snapshot_request: Default::default(),
            snapshot_counter: Default::default(),
            snapshot_ready: Default::default(),
            snapshot: Default::default(),
            low_bits: Constant::new((low_bits as u64).into()),
            low_mask: Constant::new(((1u64 << low_bits) - 1).into()),
            clearable: Constant::new((CLEARABLE as u64).into()),
            // The service reads one entry while it writes another.
            high: Ram::never_colliding(256),
            added: dffs(COUNTERS),
            low: dffs(COUNTERS),
            pending: dffs(COUNTERS),
            stale: dffs(COUNTERS),
            read_counter: Default::default(),
            fetch_counter: Default::default(),
            write_counter: Default::default(),
            taken: Default::default(),
            taken_fetched: Default::default(),
            fetched: Default::default(),
            wanted: Default::default(),
            ready: Default::default(),
            value: Default::default(),
            taken_low: Default::default(),
            fetched_low: Default::default(),
            at_wanted: Default::default(),
            requested: Default::default(),
            sum: signals(COUNTERS),
            read_low: Default::default(),
        }
    }

    /// Low part width: between two visits (COUNTERS cycles) a low part gains
    /// at most `COUNTERS * max_increment`, which must stay below half its
    /// range so that it carries at most once; and at least 8 bits.
    pub fn low_bits_for(max_increment: usize) -> usize {
        let most = (COUNTERS * max_increment.max(1)) as u64;
        let bits = (64 - most.leading_zeros() as usize + 1).max(8);
        assert!(bits <= 16 && bits + 32 <= SNAPSHOT_BITS, "increments up to {max_increment} need {bits} low bits");
        bits
    }
}

impl Logic for CounterBank {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, read_counter, fetch_counter, write_counter, taken, taken_fetched, fetched, wanted, ready, value, taken_low, fetched_low, at_wanted, requested);
        self.high.clock.next = self.clock.val();
        self.snapshot_ready.next = self.ready.q.val();
        self.snapshot.next = self.value.q.val();

        // Low parts: add, keep the low bits; a carry makes the counter pending.
        for c in 0..self.low.len() {
            self.added[c].clock.next = self.clock.val();
            self.added[c].d.next = self.increment[c].val();
            self.low[c].clock.next = self.clock.val();
            self.pending[c].clock.next = self.clock.val();
            self.stale[c].clock.next = self.clock.val();
            self.stale[c].d.next = self.stale[c].q.val();
            self.sum[c].next = self.low[c].q.val() + self.added[c].q.val();
            self.low[c].d.next = self.sum[c].val() & self.low_mask.val();
            self.pending[c].d.next = self.pending[c].q.val() | self.sum[c].val().get_bit(self.low_bits.val().index());
        }

        // The service: read, fetch, write back.
        self.read_counter.d.next = self.read_counter.q.val() + 1;
        self.fetch_counter.d.next = self.read_counter.q.val();
        self.write_counter.d.next = self.fetch_counter.q.val();
        self.high.read_address.next = bit_cast::<16, 4>(self.read_counter.q.val());
        self.taken.d.next = false;
        self.taken_fetched.d.next = self.taken.q.val();
        self.fetched.d.next = self.high.read_data.val();
        self.read_low.next = 0.into();
        for c in 0..self.low.len() {
            if self.read_counter.q.val().index() == c {
                self.taken.d.next = self.pending[c].q.val();
                self.read_low.next = self.low[c].q.val();
                self.pending[c].d.next = self.sum[c].val().get_bit(self.low_bits.val().index());
            }
            if self.fetch_counter.q.val().index() == c {
                if self.stale[c].q.val() {
                    self.fetched.d.next = 0.into();
                }
                self.stale[c].d.next = false;
            }
        }
        self.taken_low.d.next = self.read_low.val();
        self.fetched_low.d.next = self.taken_low.q.val();
        self.high.write_address.next = bit_cast::<16, 4>(self.write_counter.q.val());
        self.high.write_data.next = self.fetched.q.val() + bit_cast::<32, 1>(self.taken_fetched.q.val().into());
        // (Not in the first cycle after power-up, when all are counter 0.)
        self.high.write_enable.next = self.write_counter.q.val() != self.read_counter.q.val();

        // Snapshot: the written-back counter's value at its read.
        self.at_wanted.d.next = self.fetch_counter.q.val() == self.wanted.q.val();
        self.requested.d.next = self.snapshot_request.val();
        if self.snapshot_request.val() {
            self.wanted.d.next = self.snapshot_counter.val();
            self.ready.d.next = false;
        } else if !self.ready.q.val() & self.at_wanted.q.val() & !self.requested.q.val() {
            self.value.d.next = (bit_cast::<SNAPSHOT_BITS, 32>(self.high.write_data.val()) << self.low_bits.val())
                | bit_cast::<SNAPSHOT_BITS, 17>(self.fetched_low.q.val());
            self.ready.d.next = true;
        }

        if self.clear.val() {
            for c in 0..CLEARABLE {
                self.low[c].d.next = 0.into();
                self.added[c].d.next = 0.into();
                self.pending[c].d.next = false;
                self.stale[c].d.next = true;
            }
            // A cleared counter's value in flight is from before the clear:
            // write zero (the read stage's taken bit, the fetch stage's
            // value; the write stage's counter is stale until next round).
            if self.read_counter.q.val() < self.clearable.val() {
                self.taken.d.next = false;
                self.taken_low.d.next = 0.into();
            }
            if self.fetch_counter.q.val() < self.clearable.val() {
                self.taken_fetched.d.next = false;
                self.fetched.d.next = 0.into();
                self.fetched_low.d.next = 0.into();
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
                return bank.snapshot.val().to_u64();
            }
            assert!(waited <= COUNTERS + 2, "the snapshot came within a service round");
        }
    }

    #[test]
    fn low_parts_carry_at_most_once_a_round() {
        assert_eq!(CounterBank::low_bits_for(1), 8);
        assert_eq!(CounterBank::low_bits_for(16), 10);
        assert_eq!(CounterBank::low_bits_for(64), 12);
        assert!(COUNTERS * 16 < 1 << (CounterBank::low_bits_for(16) - 1));
    }

    #[test]
    fn snapshots_equal_the_sum_of_the_increments() {
        let mut bank = CounterBank::new(200);
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
                if round == 20 && cycle == 700 {
                    // The clear drops the clearable counters' increments in
                    // flight; the others count on.
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
        assert!(tally[3] > 1 << 20, "the fast counter crossed many carries: {}", tally[3]);
    }
}
