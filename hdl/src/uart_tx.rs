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
    /// Stop bit, data, start bit: shifted out from the bottom.
    shift: DFF<Bits<10>>,
    /// Bits still to send (0: idle).
    bits_left: DFF<Bits<4>>,
    /// Cycles into the current bit.
    count: DFF<Bits<16>>,
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
            shift: Default::default(),
            bits_left: Default::default(),
            count: Default::default(),
            line_low: Default::default(),
        }
    }
}

impl Logic for UartTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, shift, bits_left, count, line_low);
        self.tx.next = !self.line_low.q.val();
        self.ready.next = self.bits_left.q.val() == 0;
        self.line_low.d.next = false;
        if self.bits_left.q.val() == 0 {
            if self.start.val() {
                self.shift.d.next = (bit_cast::<10, 8>(self.data.val()) << 1) | bits::<10>(0x200);
                self.bits_left.d.next = 10.into();
                self.count.d.next = 0.into();
            }
        } else {
            self.line_low.d.next = !self.shift.q.val().get_bit(0);
            self.count.d.next = self.count.q.val() + 1;
            if self.count.q.val() == self.last_count.val() {
                self.count.d.next = 0.into();
                self.shift.d.next = (self.shift.q.val() >> 1) | bits::<10>(0x200);
                self.bits_left.d.next = self.bits_left.q.val() - 1;
            }
        }
    }
}
