//! The frame receiver: serial bytes in, one checked request out.
//!
//! It hunts for SYNC, takes the length, stores the payload in the frame
//! buffer (its first HEADER_BYTES bytes also in a header register, for
//! decoding) and checks the CRC. A whole frame waits in `Ready` until the
//! executor has answered it (`answered`); bytes arriving meanwhile are
//! dropped.
//!
//! Every frame whose length arrived is answered exactly once:
//!
//! - a length of 0 or above the limit is **skipped whole**: its payload and
//!   CRC bytes are counted off the line but not stored, the header reads
//!   zero (opcode 0x00: no opcode was taken), and the status is BAD_LENGTH.
//!   Should such a frame stop short, or be cut by a break, it is answered
//!   after the idle time-out, so that a SYNC inside its payload is never
//!   taken for a frame;
//! - any other frame is answered OK or BAD_CRC once its CRC arrives; one that
//!   stops arriving (IDLE_TIMEOUT_BITS of silence) or is cut by a break (a
//!   framing error) is dropped without an answer, and never swallows the
//!   next request.

use crate::crc16::Crc16Step;
use crate::ram::Ram;
use crate::uart_rx::UartRx;
use crate::vecs::k;
use npu_spec::protocol::{Status, IDLE_TIMEOUT_BITS, MAX_REQUEST_PAYLOAD, SYNC};
use rust_hdl::prelude::*;

/// Request bytes kept in registers: the longest fixed request (GEMM).
pub const HEADER_BYTES: usize = 20;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum FrameState {
    Hunt,
    Len0,
    Len1,
    /// The length is in `length`: test it (the next byte is ten bit times away).
    LenCheck,
    Payload,
    Crc0,
    Crc1,
    /// A refused frame that stopped short: zeros shift into the header
    /// register, as after a short frame's payload, then it is answered.
    Pad,
    Ready,
}

#[derive(LogicBlock)]
pub struct FrameReceiver {
    pub clock: Signal<In, Clock>,
    /// The serial line from the host.
    pub rx: Signal<In, Bit>,
    /// One cycle per byte received (for the counters).
    pub byte_valid: Signal<Out, Bit>,
    /// A frame is whole and waits for its answer: its status (OK, BAD_CRC,
    /// BAD_LENGTH), its first bytes (byte i at bits 8i.., zeros past the end
    /// of a shorter frame) and its length.
    pub ready: Signal<Out, Bit>,
    pub status: Signal<Out, Bits<8>>,
    pub head: Signal<Out, Bits<160>>,
    pub length: Signal<Out, Bits<16>>,
    /// The payload, byte by byte (a block RAM: the byte arrives a cycle
    /// after its address).
    pub read_address: Signal<In, Bits<11>>,
    pub read_data: Signal<Out, Bits<8>>,
    /// One cycle: the frame is answered; hunt for the next.
    pub answered: Signal<In, Bit>,
    uart: UartRx,
    crc: Crc16Step,
    /// The payload.
    frame: Ram<Bits<8>>,
    sync: Constant<Bits<8>>,
    st_ok: Constant<Bits<8>>,
    st_bad_crc: Constant<Bits<8>>,
    st_bad_length: Constant<Bits<8>>,
    idle_limit_less_one: Constant<Bits<22>>,
    /// The bits the idle timer needs (the rest read 0 and synthesis drops
    /// them: 9 of 22 at 8 clocks a bit).
    idle_mask: Constant<Bits<22>>,
    max_request: Constant<Bits<16>>,
    /// log2 of max_request (a power of two: `> max` is plain logic).
    max_request_log: Constant<Bits<16>>,
    /// The header register's last byte index.
    header_last: Constant<Bits<11>>,
    state: DFF<FrameState>,
    /// The frame's first bytes, a shift register (see `update`).
    head_reg: DFF<Bits<160>>,
    length_reg: DFF<Bits<16>>,
    status_reg: DFF<Bits<8>>,
    /// The length is refused: the frame is skipped, not stored.
    refused: DFF<Bit>,
    index: DFF<Bits<11>>,
    /// Payload bytes still to come after the next one.
    left: DFF<Bits<16>>,
    /// `index < HEADER_BYTES`: the header register takes a byte at index.
    in_header: DFF<Bit>,
    /// The line has been idle for IDLE_TIMEOUT_BITS bit times.
    idle: DFF<Bits<22>>,
    idle_over: DFF<Bit>,
    crc_reg: DFF<Bits<16>>,
    crc_low: DFF<Bits<8>>,
    /// The CRC's bytes (the one arriving and crc_low) equal the CRC of the
    /// payload, registered every cycle: in Crc1 its inputs have held since
    /// the byte's last data bit.
    crc_match: DFF<Bit>,
    /// The frame's length, as its second length byte arrives.
    full_length: Signal<Local, Bits<16>>,
    /// The header register shifts, taking head_byte at its top.
    head_shift: Signal<Local, Bit>,
    head_byte: Signal<Local, Bits<8>>,
}

impl FrameReceiver {
    /// A receiver for `clocks_per_bit` core clocks per bit.
    pub fn new(clocks_per_bit: u64) -> Self {
        let idle_limit = IDLE_TIMEOUT_BITS * clocks_per_bit;
        assert!(idle_limit <= 1 << 22, "{clocks_per_bit} clocks per bit: the idle timer is 22 bits");
        assert!(MAX_REQUEST_PAYLOAD < 1 << 11 && MAX_REQUEST_PAYLOAD.is_power_of_two(), "the length test's plain-logic form");
        Self {
            clock: Default::default(),
            rx: Default::default(),
            byte_valid: Default::default(),
            ready: Default::default(),
            status: Default::default(),
            head: Default::default(),
            length: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            answered: Default::default(),
            uart: UartRx::new(clocks_per_bit),
            crc: Default::default(),
            // Written while receiving, read while the executor works: never both.
            frame: Ram::without_collisions(MAX_REQUEST_PAYLOAD),
            sync: k(u64::from(SYNC)),
            st_ok: k(Status::Ok as u64),
            st_bad_crc: k(Status::BadCrc as u64),
            st_bad_length: k(Status::BadLength as u64),
            idle_limit_less_one: k(idle_limit - 1),
            idle_mask: k(idle_limit.next_power_of_two() - 1),
            max_request: k(MAX_REQUEST_PAYLOAD as u64),
            max_request_log: k(MAX_REQUEST_PAYLOAD.trailing_zeros() as u64),
            header_last: k(HEADER_BYTES as u64 - 1),
            state: Default::default(),
            head_reg: Default::default(),
            length_reg: Default::default(),
            status_reg: Default::default(),
            refused: Default::default(),
            index: Default::default(),
            left: Default::default(),
            in_header: Default::default(),
            idle: Default::default(),
            idle_over: Default::default(),
            crc_reg: Default::default(),
            crc_low: Default::default(),
            crc_match: Default::default(),
            full_length: Default::default(),
            head_shift: Default::default(),
            head_byte: Default::default(),
        }
    }

    /// The receiver's state, for tests.
    pub fn state(&self) -> FrameState {
        self.state.q.val()
    }
}

impl Logic for FrameReceiver {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, state, head_reg, length_reg, status_reg, refused, index, left, in_header, idle, idle_over, crc_reg, crc_low, crc_match);
        self.uart.clock.next = self.clock.val();
        self.frame.clock.next = self.clock.val();
        self.uart.rx.next = self.rx.val();
        self.byte_valid.next = self.uart.valid.val();
        self.ready.next = self.state.q.val() == FrameState::Ready;
        self.status.next = self.status_reg.q.val();
        self.head.next = self.head_reg.q.val();
        self.length.next = self.length_reg.q.val();
        self.frame.read_address.next = bit_cast::<16, 11>(self.read_address.val());
        self.read_data.next = self.frame.read_data.val();
        self.crc.crc_in.next = self.crc_reg.q.val();
        self.crc.data.next = self.uart.data.val();

        // The idle timer: bit times since the last byte, up to the time-out.
        if self.uart.valid.val() {
            self.idle.d.next = 0.into();
            self.idle_over.d.next = false;
        } else if !self.idle_over.q.val() {
            self.idle.d.next = (self.idle.q.val() + 1) & self.idle_mask.val();
            self.idle_over.d.next = self.idle.q.val() == self.idle_limit_less_one.val();
        }
        self.frame.write_address.next = bit_cast::<16, 11>(self.index.q.val());
        self.full_length.next = (bit_cast::<16, 8>(self.uart.data.val()) << 8) | self.length_reg.q.val();
        self.frame.write_data.next = self.uart.data.val();
        self.frame.write_enable.next = false;
        // The header is a shift register: byte 0 enters at the top and has
        // moved to the bottom after HEADER_BYTES shifts (a shorter frame, or
        // a refused one, shifts zeros in for the rest). Its only logic is
        // the enable and the top byte's gate.
        self.head_shift.next = false;
        self.head_byte.next = 0.into();
        match self.state.q.val() {
            FrameState::Hunt => {
                if self.uart.valid.val() & (self.uart.data.val() == self.sync.val()) {
                    self.crc_reg.d.next = 0xFFFF.into();
                    self.state.d.next = FrameState::Len0;
                }
            }
            FrameState::Len0 => {
                if self.uart.valid.val() {
                    self.length_reg.d.next = bit_cast::<16, 8>(self.uart.data.val());
                    self.crc_reg.d.next = self.crc.crc_out.val();
                    self.state.d.next = FrameState::Len1;
                }
            }
            FrameState::Len1 => {
                if self.uart.valid.val() {
                    self.length_reg.d.next = self.full_length.val();
                    self.crc_reg.d.next = self.crc.crc_out.val();
                    self.state.d.next = FrameState::LenCheck;
                }
            }
            FrameState::LenCheck => {
                self.index.d.next = 0.into();
                self.in_header.d.next = true;
                self.left.d.next = self.length_reg.q.val() - 1;
                self.state.d.next = FrameState::Payload;
                // Empty, or longer than max_request (a power of two, so
                // the test is plain logic rather than a carry chain).
                self.refused.d.next = (((self.length_reg.q.val() >> self.max_request_log.val()) != 0)
                    & (self.length_reg.q.val() != self.max_request.val()))
                    | (self.length_reg.q.val() == 0);
                if self.length_reg.q.val() == 0 {
                    self.state.d.next = FrameState::Crc0;
                }
            }
            FrameState::Payload => {
                if self.uart.valid.val() {
                    // (A refused frame's bytes go nowhere: the header takes
                    // zeros, and its frame buffer is never read.)
                    self.frame.write_enable.next = !self.refused.q.val();
                    if !self.refused.q.val() {
                        self.head_byte.next = self.uart.data.val();
                    }
                    self.head_shift.next = self.in_header.q.val();
                    self.crc_reg.d.next = self.crc.crc_out.val();
                    self.index.d.next = self.index.q.val() + 1;
                    self.in_header.d.next = self.in_header.q.val() & (self.index.q.val() != self.header_last.val());
                    self.left.d.next = self.left.q.val() - 1;
                    if self.left.q.val() == 0 {
                        self.state.d.next = FrameState::Crc0;
                    }
                }
            }
            FrameState::Crc0 => {
                // A frame shorter than the header: shift zeros in until byte 0
                // is at the bottom (at most HEADER_BYTES cycles, far less than
                // the CRC byte's time on the line).
                self.head_shift.next = self.in_header.q.val();
                if self.in_header.q.val() {
                    self.index.d.next = self.index.q.val() + 1;
                    self.in_header.d.next = self.index.q.val() != self.header_last.val();
                }
                if self.uart.valid.val() {
                    self.crc_low.d.next = self.uart.data.val();
                    self.state.d.next = FrameState::Crc1;
                }
            }
            FrameState::Crc1 => {
                if self.uart.valid.val() {
                    self.status_reg.d.next = self.st_bad_crc.val();
                    if self.crc_match.q.val() {
                        self.status_reg.d.next = self.st_ok.val();
                    }
                    if self.refused.q.val() {
                        self.status_reg.d.next = self.st_bad_length.val();
                    }
                    self.state.d.next = FrameState::Ready;
                }
            }
            FrameState::Pad => {
                // Zeros fill the header, then the refused frame is answered.
                self.status_reg.d.next = self.st_bad_length.val();
                self.head_shift.next = self.in_header.q.val();
                if self.in_header.q.val() {
                    self.index.d.next = self.index.q.val() + 1;
                    self.in_header.d.next = self.index.q.val() != self.header_last.val();
                } else {
                    self.state.d.next = FrameState::Ready;
                }
            }
            FrameState::Ready => {
                if self.answered.val() {
                    self.state.d.next = FrameState::Hunt;
                }
            }
            _ => {
                self.state.d.next = FrameState::Hunt;
            }
        }
        if self.head_shift.val() {
            self.head_reg.d.next = (self.head_reg.q.val() >> 8) | (bit_cast::<160, 8>(self.head_byte.val()) << 152);
        }
        self.crc_match.d.next =
            ((bit_cast::<16, 8>(self.uart.data.val()) << 8) | bit_cast::<16, 8>(self.crc_low.q.val())) == self.crc_reg.q.val();
        // A frame that stops arriving, or is cut by a break on the line, is
        // dropped; a refused one is answered all the same (from Payload,
        // Crc0 or Crc1: its length was taken).
        if ((self.state.q.val() == FrameState::Len0)
            | (self.state.q.val() == FrameState::Len1)
            | (self.state.q.val() == FrameState::Payload)
            | (self.state.q.val() == FrameState::Crc0)
            | (self.state.q.val() == FrameState::Crc1))
            & (self.idle_over.q.val() | self.uart.framing_error.val())
        {
            self.state.d.next = FrameState::Hunt;
            if self.refused.q.val() & (self.state.q.val() != FrameState::Len0) & (self.state.q.val() != FrameState::Len1) {
                self.state.d.next = FrameState::Pad;
            }
        }
    }
}
