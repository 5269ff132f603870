//! UART transmitter, 8N1: start bit, eight data bits LSB first, stop bit.

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct UartTx {
    pub clock: Signal<In, Clock>,
    /// The byte to send, taken in the cycle `start` is high and `ready` is high.
    pub data: Signal<In, Bits<8>>,
    pub start: Signal<In, Bit>,
    /// Idle: a byte may be started.
    pub ready: Signal<Out, Bit>,
    /// The serial line (idle high).
    pub tx: Signal<Out, Bit>,
    last_count: Constant<Bits<16>>,
    /// The bits the bit timer needs (see UartRx's).
    count_mask: Constant<Bits<16>>,
    /// Stop bit, data, start bit: shifted out from the bottom.
    shift: DFF<Bits<10>>,
    /// Bits still to send, and whether any are (`ready` is its inverse,
    /// straight from a flip-flop).
    bits_left: DFF<Bits<4>>,
    sending: DFF<Bit>,
    /// Cycles left in the current bit, counting down, and `left == 0`
    /// (registered a cycle ahead, so that no comparison precedes a shift).
    left: DFF<Bits<16>>,
    bit_over: DFF<Bit>,
    /// The line, inverted so that the register's power-up zero means idle.
    line_low: DFF<Bit>,
}

impl UartTx {
    pub fn new(clocks_per_bit: u64) -> Self {
        assert!((2..1 << 16).contains(&clocks_per_bit), "clocks per bit {clocks_per_bit}");
        Self {
            clock: Default::default(),
            data: Default::default(),
            start: Default::default(),
            ready: Default::default(),
            tx: Default::default(),
            last_count: Constant::new((clocks_per_bit - 1).into()),
            count_mask: Constant::new((clocks_per_bit.next_power_of_two() - 1).into()),
            shift: Default::default(),
            bits_left: Default::default(),
            sending: Default::default(),
            left: Default::default(),
            bit_over: Default::default(),
            line_low: Default::default(),
        }
    }
}

impl Logic for UartTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, shift, bits_left, sending, left, bit_over, line_low);
        self.tx.next = !self.line_low.q.val();
        self.ready.next = !self.sending.q.val();
        self.line_low.d.next = false;
        if !self.sending.q.val() {
            if self.start.val() {
                self.shift.d.next = (bit_cast::<10, 8>(self.data.val()) << 1) | bits::<10>(0x200);
                self.bits_left.d.next = 10.into();
                self.sending.d.next = true;
                self.left.d.next = self.last_count.val();
                self.bit_over.d.next = false;
            }
        } else {
            self.line_low.d.next = !self.shift.q.val().get_bit(0);
            self.left.d.next = (self.left.q.val() - 1) & self.count_mask.val();
            self.bit_over.d.next = self.left.q.val() == 1;
            if self.bit_over.q.val() {
                self.left.d.next = self.last_count.val();
                self.bit_over.d.next = false;
                self.shift.d.next = (self.shift.q.val() >> 1) | bits::<10>(0x200);
                self.bits_left.d.next = self.bits_left.q.val() - 1;
                if self.bits_left.q.val() == 1 {
                    self.sending.d.next = false;
                }
            }
        }
    }
}
