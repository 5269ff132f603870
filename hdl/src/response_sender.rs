//! The response sender: one answer frame out on the serial line.
//!
//! It frames an answer (SYNC, length, status, opcode, data, CRC) and keeps
//! its CRC; the data comes from whoever started it, a byte at a time: the
//! sender asks (`fetch`, one cycle) and the source shows the byte in `data`
//! with `data_valid` (one cycle), in any number of cycles. The sender asks
//! for the next byte as soon as the UART has taken the current one, so the
//! source's fetch overlaps the byte's time on the line.

use crate::crc16::Crc16Step;
use crate::uart_tx::UartTx;
use npu_spec::protocol::SYNC;
use rust_hdl::prelude::*;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum SendState {
    Idle,
    Sync,
    Len0,
    Len1,
    Status,
    Opcode,
    /// Ask the source for the next data byte.
    Ask,
    /// Wait for it.
    Wait,
    Data,
    Crc0,
    Crc1,
}

#[derive(LogicBlock)]
pub struct ResponseSender {
    pub clock: Signal<In, Clock>,
    /// The serial line to the host.
    pub tx: Signal<Out, Bit>,
    /// One cycle: send an answer of `length` data bytes with `status` and
    /// `opcode` (all three hold until `done`).
    pub start: Signal<In, Bit>,
    pub status: Signal<In, Bits<8>>,
    pub opcode: Signal<In, Bits<8>>,
    pub length: Signal<In, Bits<16>>,
    /// One cycle: the sender wants the next data byte.
    pub fetch: Signal<Out, Bit>,
    /// The byte asked for, valid in the cycle `data_valid` is high.
    pub data: Signal<In, Bits<8>>,
    pub data_valid: Signal<In, Bit>,
    /// One cycle: the answer's last byte is with the UART.
    pub done: Signal<Out, Bit>,
    /// An answer is under way, or its last byte is still on the line.
    pub busy: Signal<Out, Bit>,
    /// One cycle per byte the UART takes (for the counters).
    pub byte_sent: Signal<Out, Bit>,
    uart: UartTx,
    crc: Crc16Step,
    sync: Constant<Bits<8>>,
    state: DFF<SendState>,
    /// The answer's length field (`length` + 2) and whether it has no data,
    /// registered in Sync (which lasts at least a cycle).
    length_field: DFF<Bits<16>>,
    empty: DFF<Bit>,
    /// The data byte in hand, counted from 1, and whether it is the last:
    /// `sent == length`, registered every cycle (a data byte is at least
    /// three cycles from the one before: Ask, Wait, Data), so that no
    /// down-counter with its load of `length - 1` is needed, and the
    /// count's flip-flops take nothing but its incrementer.
    sent: DFF<Bits<16>>,
    at_last: DFF<Bit>,
    /// The data byte to send.
    data_byte: DFF<Bits<8>>,
    /// The CRC of the answer so far, and whether it still has to take the
    /// byte just sent, `hold` (a cycle later, off the sender's path: the
    /// UART needs ten bit times before the CRC bytes can go).
    crc_reg: DFF<Bits<16>>,
    crc_due: DFF<Bit>,
    /// The UART's start and byte, registered.
    go: DFF<Bit>,
    hold: DFF<Bits<8>>,
    /// `fetch` and `done`, from flip-flops.
    asking: DFF<Bit>,
    finished: DFF<Bit>,
    /// The byte chosen this cycle (it goes to the UART if `go` is set).
    chosen: Signal<Local, Bits<8>>,
    /// The UART can take a byte this cycle.
    ready: Signal<Local, Bit>,
}

impl ResponseSender {
    /// A sender for `clocks_per_bit` core clocks per bit.
    pub fn new(clocks_per_bit: u64) -> Self {
        Self {
            clock: Default::default(),
            tx: Default::default(),
            start: Default::default(),
            status: Default::default(),
            opcode: Default::default(),
            length: Default::default(),
            fetch: Default::default(),
            data: Default::default(),
            data_valid: Default::default(),
            done: Default::default(),
            busy: Default::default(),
            byte_sent: Default::default(),
            uart: UartTx::new(clocks_per_bit),
            crc: Default::default(),
            sync: Constant::new(u64::from(SYNC).into()),
            state: Default::default(),
            length_field: Default::default(),
            empty: Default::default(),
            sent: Default::default(),
            at_last: Default::default(),
            data_byte: Default::default(),
            crc_reg: Default::default(),
            crc_due: Default::default(),
            go: Default::default(),
            hold: Default::default(),
            asking: Default::default(),
            finished: Default::default(),
            chosen: Default::default(),
            ready: Default::default(),
        }
    }
}

impl Logic for ResponseSender {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, state, length_field, empty, sent, at_last, data_byte, crc_reg, crc_due, go, hold, asking, finished);
        self.uart.clock.next = self.clock.val();
        self.tx.next = self.uart.tx.val();
        // The start and byte reach the UART from flip-flops; the UART is
        // ready for the next only once it has taken this one.
        self.uart.start.next = self.go.q.val();
        self.uart.data.next = self.hold.q.val();
        self.byte_sent.next = self.uart.start.val() & self.uart.ready.val();
        self.ready.next = self.uart.ready.val() & !self.go.q.val();
        self.busy.next = (self.state.q.val() != SendState::Idle) | self.go.q.val() | !self.uart.ready.val();
        self.fetch.next = self.asking.q.val();
        self.done.next = self.finished.q.val();
        self.go.d.next = false;
        self.asking.d.next = false;
        self.finished.d.next = false;
        // hold is the byte chosen last cycle: the one sent, if any.
        self.crc.crc_in.next = self.crc_reg.q.val();
        self.crc.data.next = self.hold.q.val();
        self.crc_due.d.next = false;
        if self.crc_due.q.val() {
            self.crc_reg.d.next = self.crc.crc_out.val();
        }
        self.chosen.next = self.sync.val();
        self.at_last.d.next = self.sent.q.val() == self.length.val();
        match self.state.q.val() {
            SendState::Idle => {
                if self.start.val() {
                    self.state.d.next = SendState::Sync;
                }
            }
            SendState::Sync => {
                self.length_field.d.next = self.length.val() + 2;
                self.empty.d.next = self.length.val() == 0;
                if self.ready.val() {
                    self.go.d.next = true;
                    self.crc_reg.d.next = 0xFFFF.into();
                    self.state.d.next = SendState::Len0;
                }
            }
            SendState::Len0 => {
                self.chosen.next = self.length_field.q.val().get_bits::<8>(0);
                if self.ready.val() {
                    self.go.d.next = true;
                    self.crc_due.d.next = true;
                    self.state.d.next = SendState::Len1;
                }
            }
            SendState::Len1 => {
                self.chosen.next = self.length_field.q.val().get_bits::<8>(8);
                if self.ready.val() {
                    self.go.d.next = true;
                    self.crc_due.d.next = true;
                    self.state.d.next = SendState::Status;
                }
            }
            SendState::Status => {
                self.chosen.next = self.status.val();
                if self.ready.val() {
                    self.go.d.next = true;
                    self.crc_due.d.next = true;
                    self.state.d.next = SendState::Opcode;
                }
            }
            SendState::Opcode => {
                self.chosen.next = self.opcode.val();
                if self.ready.val() {
                    self.go.d.next = true;
                    self.crc_due.d.next = true;
                    self.sent.d.next = 1.into();
                    self.state.d.next = SendState::Ask;
                    if self.empty.q.val() {
                        self.state.d.next = SendState::Crc0;
                    }
                }
            }
            SendState::Ask => {
                self.asking.d.next = true;
                self.state.d.next = SendState::Wait;
            }
            SendState::Wait => {
                if self.data_valid.val() {
                    self.data_byte.d.next = self.data.val();
                    self.state.d.next = SendState::Data;
                }
            }
            SendState::Data => {
                self.chosen.next = self.data_byte.q.val();
                if self.ready.val() {
                    self.go.d.next = true;
                    self.crc_due.d.next = true;
                    self.sent.d.next = self.sent.q.val() + 1;
                    self.state.d.next = SendState::Ask;
                    if self.at_last.q.val() {
                        self.state.d.next = SendState::Crc0;
                    }
                }
            }
            SendState::Crc0 => {
                self.chosen.next = self.crc_reg.q.val().get_bits::<8>(0);
                if self.ready.val() {
                    self.go.d.next = true;
                    self.state.d.next = SendState::Crc1;
                }
            }
            SendState::Crc1 => {
                self.chosen.next = self.crc_reg.q.val().get_bits::<8>(8);
                if self.ready.val() {
                    self.go.d.next = true;
                    self.finished.d.next = true;
                    self.state.d.next = SendState::Idle;
                }
            }
            _ => {
                self.state.d.next = SendState::Idle;
            }
        }
        // The byte chosen above goes to the UART, and into the CRC a cycle
        // later (the CRC bytes themselves are not part of it).
        self.hold.d.next = self.chosen.val();
    }
}
