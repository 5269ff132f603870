//! UART receiver, 8N1.
//!
//! The line is synchronised by two registers, a start bit is confirmed in its
//! middle, and every later bit is sampled one bit period after the previous
//! sample, so each sample lands mid-bit. The receiver restarts on every start
//! edge, which makes it tolerate a few percent of clock mismatch between the
//! two ends (the last sample, the stop bit, is 9.5 bits after the edge). A
//! stop bit that reads 0 (a break, or a badly mismatched baud) is reported as
//! a framing error and the receiver waits for the line to return high.

use rust_hdl::prelude::*;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum RxState {
    Idle,
    Start,
    Data,
    Stop,
    Break,
}

#[derive(LogicBlock)]
pub struct UartRx {
    pub clock: Signal<In, Clock>,
    /// The serial line (idle high).
    pub rx: Signal<In, Bit>,
    /// The byte received, valid in the cycle `valid` is high.
    pub data: Signal<Out, Bits<8>>,
    /// One cycle per byte received with a good stop bit (straight from a
    /// flip-flop, a cycle after the stop bit's sample).
    pub valid: Signal<Out, Bit>,
    /// One cycle per character whose stop bit was low (likewise).
    pub framing_error: Signal<Out, Bit>,
    /// Core clocks per bit less one, and half a bit.
    last_count: Constant<Bits<16>>,
    half_bit: Constant<Bits<16>>,
    /// The bits the bit timer needs: the rest read 0 and synthesis drops
    /// their flip-flops (3 of 16 at 8 clocks a bit).
    count_mask: Constant<Bits<16>>,
    /// `valid` and `framing_error`.
    valid_reg: DFF<Bit>,
    error_reg: DFF<Bit>,
    // The line, inverted so that the registers' power-up zero means idle.
    low_sync: DFF<Bit>,
    low: DFF<Bit>,
    state: DFF<RxState>,
    /// Cycles left before the next sample, counting down, and `left == 0`
    /// (registered a cycle ahead, so that no comparison precedes a sample).
    left: DFF<Bits<16>>,
    sample: DFF<Bit>,
    /// Data bits taken so far.
    bit_index: DFF<Bits<4>>,
    /// The byte being assembled, LSB first.
    shift: DFF<Bits<8>>,
}

impl UartRx {
    /// A receiver for `clocks_per_bit` core clocks per bit (at least 4).
    pub fn new(clocks_per_bit: u64) -> Self {
        assert!((4..1 << 16).contains(&clocks_per_bit), "clocks per bit {clocks_per_bit}");
        Self {
            clock: Default::default(),
            rx: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            framing_error: Default::default(),
            last_count: Constant::new((clocks_per_bit - 1).into()),
            // The Idle state sees the edge one cycle after the synchroniser
            // does; counting one less puts the start sample mid-bit.
            half_bit: Constant::new((clocks_per_bit / 2 - 1).into()),
            count_mask: Constant::new((clocks_per_bit.next_power_of_two() - 1).into()),
            low_sync: Default::default(),
            low: Default::default(),
            state: Default::default(),
            left: Default::default(),
            sample: Default::default(),
            bit_index: Default::default(),
            shift: Default::default(),
            valid_reg: Default::default(),
            error_reg: Default::default(),
        }
    }
}

impl Logic for UartRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, low_sync, low, state, left, sample, bit_index, shift, valid_reg, error_reg);
        self.low_sync.d.next = !self.rx.val();
        self.low.d.next = self.low_sync.q.val();
        self.valid.next = self.valid_reg.q.val();
        self.framing_error.next = self.error_reg.q.val();
        self.valid_reg.d.next = false;
        self.error_reg.d.next = false;
        self.data.next = self.shift.q.val();
        // The bit timer: counts down, and from a sample to the next bit's.
        self.left.d.next = (self.left.q.val() - 1) & self.count_mask.val();
        self.sample.d.next = self.left.q.val() == 1;
        if self.sample.q.val() {
            self.left.d.next = self.last_count.val();
            self.sample.d.next = false;
        }
        match self.state.q.val() {
            RxState::Idle => {
                self.left.d.next = self.half_bit.val();
                self.sample.d.next = false;
                if self.low.q.val() {
                    self.state.d.next = RxState::Start;
                }
            }
            RxState::Start => {
                if self.sample.q.val() {
                    self.bit_index.d.next = 0.into();
                    if self.low.q.val() {
                        self.state.d.next = RxState::Data;
                    } else {
                        // A glitch, not a start bit.
                        self.state.d.next = RxState::Idle;
                    }
                }
            }
            RxState::Data => {
                if self.sample.q.val() {
                    self.shift.d.next = (self.shift.q.val() >> 1) | (bit_cast::<8, 1>((!self.low.q.val()).into()) << 7);
                    self.bit_index.d.next = self.bit_index.q.val() + 1;
                    if self.bit_index.q.val() == 7 {
                        self.state.d.next = RxState::Stop;
                    }
                }
            }
            RxState::Stop => {
                if self.sample.q.val() {
                    if self.low.q.val() {
                        self.error_reg.d.next = true;
                        self.state.d.next = RxState::Break;
                    } else {
                        self.valid_reg.d.next = true;
                        self.state.d.next = RxState::Idle;
                    }
                }
            }
            RxState::Break => {
                if !self.low.q.val() {
                    self.state.d.next = RxState::Idle;
                }
            }
            _ => {
                self.state.d.next = RxState::Idle;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uart_tx::UartTx;

    /// A transmitter wired to a receiver, possibly at different rates.
    #[derive(LogicBlock)]
    struct Loopback {
        clock: Signal<In, Clock>,
        tx: UartTx,
        rx: UartRx,
    }

    impl Logic for Loopback {
        #[hdl_gen]
        fn update(&mut self) {
            self.tx.clock.next = self.clock.val();
            self.rx.clock.next = self.clock.val();
            self.rx.rx.next = self.tx.tx.val();
        }
    }

    fn send(tx_cpb: u64, rx_cpb: u64, bytes: &[u8]) -> (Vec<u8>, usize) {
        let mut l = Loopback { clock: Default::default(), tx: UartTx::new(tx_cpb), rx: UartRx::new(rx_cpb) };
        l.connect_all();
        let tick = |l: &mut Loopback| {
            l.clock.next = Clock::from(true);
            simulate(l, 100);
            l.clock.next = Clock::from(false);
            simulate(l, 100);
        };
        let (mut got, mut errors) = (vec![], 0);
        let mut pending = bytes.iter();
        let mut next = pending.next();
        for _ in 0..(bytes.len() as u64 + 2) * 12 * tx_cpb.max(rx_cpb) {
            l.tx.start.next = false;
            if let Some(&b) = next {
                if l.tx.ready.val() {
                    l.tx.data.next = u64::from(b).into();
                    l.tx.start.next = true;
                    next = pending.next();
                }
            }
            tick(&mut l);
            if l.rx.valid.val() {
                got.push(l.rx.data.val().to_u8());
            }
            errors += usize::from(l.rx.framing_error.val());
        }
        (got, errors)
    }

    #[test]
    fn bytes_cross_back_to_back() {
        let bytes: Vec<u8> = vec![0x00, 0xFF, 0x55, 0xAA, 0xA5, 0x01, 0x80, 0x7E];
        assert_eq!(send(8, 8, &bytes), (bytes.clone(), 0));
        assert_eq!(send(16, 16, &bytes), (bytes, 0));
    }

    /// What `UartRx::new(clocks_per_bit)` receives from a sender whose bit
    /// lasts `bit_clocks` core clocks (any real number: the host's UART
    /// bridge has its own crystal), the bytes sent back to back from a
    /// start edge `phase` clocks into the first cycle. The line is the
    /// sender's level at each rising clock edge.
    fn receive_at(clocks_per_bit: u64, bit_clocks: f64, phase: f64, bytes: &[u8]) -> (Vec<u8>, usize) {
        let mut rx = UartRx::new(clocks_per_bit);
        rx.connect_all();
        // The line's level at time t (in clocks): idle high before the first
        // start edge and after the last stop bit.
        let level = |t: f64| -> bool {
            let bit = ((t - phase) / bit_clocks).floor();
            if bit < 0.0 || bit >= 10.0 * bytes.len() as f64 {
                return true;
            }
            let (byte, index) = (bytes[bit as usize / 10], bit as usize % 10);
            match index {
                0 => false,
                9 => true,
                i => byte >> (i - 1) & 1 == 1,
            }
        };
        let (mut got, mut errors) = (vec![], 0);
        let cycles = ((bytes.len() as f64 * 10.0 + 4.0) * bit_clocks + phase) as u64;
        for cycle in 0..cycles {
            rx.rx.next = level(cycle as f64);
            rx.clock.next = Clock::from(true);
            simulate(&mut rx, 100);
            rx.clock.next = Clock::from(false);
            simulate(&mut rx, 100);
            if rx.valid.val() {
                got.push(rx.data.val().to_u8());
            }
            errors += usize::from(rx.framing_error.val());
        }
        (got, errors)
    }

    /// Every byte sent back to back by a sender 2% fast or slow (either
    /// way of computing it) or exact, its start edge anywhere in a clock.
    fn takes_every_byte_two_percent_off(clocks_per_bit: u64) {
        let bytes: Vec<u8> = (0..=255u8).step_by(5).chain([0x00, 0xFF, 0x55, 0xAA, 0x7F, 0xFE]).collect();
        let c = clocks_per_bit as f64;
        for bit_clocks in [c * 0.98, c / 0.98, c * 1.02, c / 1.02, c] {
            for phase in [0.0, 0.25, 0.5, 0.75, 0.99] {
                assert_eq!(receive_at(clocks_per_bit, bit_clocks, phase, &bytes), (bytes.clone(), 0), "a bit of {bit_clocks} clocks, phase {phase}");
            }
        }
    }

    #[test]
    fn takes_back_to_back_bytes_two_percent_off_at_eight_clocks_a_bit() {
        // 6 Mbaud at 48 MHz.
        takes_every_byte_two_percent_off(8);
    }

    #[test]
    fn takes_back_to_back_bytes_two_percent_off_at_four_clocks_a_bit() {
        // The iCEBreaker's link: 12 Mbaud at 48 MHz, the FT2232H's fastest
        // (it takes 2.5%, not 3%: the start edge is found to a quarter of a
        // bit).
        takes_every_byte_two_percent_off(4);
    }

    #[test]
    fn takes_back_to_back_bytes_two_percent_off_at_twenty_clocks_a_bit() {
        // The ULX3S's link: 3 Mbaud at 60 MHz.
        let bytes: Vec<u8> = (0..=255u8).step_by(9).collect();
        for bit_clocks in [20.0 * 0.98, 20.0 * 1.02] {
            for phase in [0.0, 0.5] {
                assert_eq!(receive_at(20, bit_clocks, phase, &bytes), (bytes.clone(), 0), "a bit of {bit_clocks} clocks, phase {phase}");
            }
        }
    }

    #[test]
    fn tolerates_three_percent_either_way() {
        let bytes: Vec<u8> = (0..=255u8).step_by(7).collect();
        // Receiver at 32 clocks per bit; sender 3% fast and 3% slow.
        assert_eq!(send(31, 32, &bytes), (bytes.clone(), 0));
        assert_eq!(send(33, 32, &bytes), (bytes, 0));
    }
}
