//! The frame receiver: serial bytes in, one checked request out.
//!
//! It hunts for SYNC, takes the length, hands the payload's bytes to the
//! request slots (crate::request_slots, which keep two frames: the one the
//! executor has and the next) and checks the CRC; a whole frame is handed
//! over in `Done`. It takes a frame only while a slot is free (`room`):
//! bytes arriving while both are taken are dropped.
//!
//! Every frame whose length arrived is answered exactly once:
//!
//! - a length of 0 or above the limit is **skipped whole**: its payload and
//!   CRC bytes are counted off the line but not stored, the header reads
//!   zero (opcode 0x00: no opcode was taken: it stores no header bytes),
//!   and the status is BAD_LENGTH.
//!   Should such a frame stop short, or be cut by a break, it is answered
//!   after the idle time-out, so that a SYNC inside its payload is never
//!   taken for a frame;
//! - any other frame is answered OK or BAD_CRC once its CRC arrives; one that
//!   stops arriving (IDLE_TIMEOUT_BITS of silence) or is cut by a break (a
//!   framing error) is dropped without an answer, and never swallows the
//!   next request.

use crate::crc16::Crc16Step;
use crate::uart_rx::UartRx;
use crate::vecs::k;
use npu_spec::protocol::{Status, IDLE_TIMEOUT_BITS, MAX_REQUEST_PAYLOAD, SYNC};
use rust_hdl::prelude::*;

/// Request bytes kept in registers, at most: the longest fixed request
/// (MOVE). Without the mover (`memory.mover`), GEMM's 20 (see
/// [`header_bytes`]): the register's bytes above are never written, and
/// synthesis drops them.
pub const HEADER_BYTES: usize = 26;
// (`frame_head_bytes` is 5 bits.)
const _: () = assert!(HEADER_BYTES < 32);

/// The header bytes a config's NPU keeps: its longest fixed request.
pub fn header_bytes(config: &npu_spec::NpuConfig) -> usize {
    use npu_spec::protocol::Opcode;
    let longest = if config.memory.mover { Opcode::Move } else { Opcode::Gemm };
    assert!(longest.request_len() <= HEADER_BYTES);
    longest.request_len()
}

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
    /// The frame is whole: handed to the request slots (one cycle).
    Done,
}

#[derive(LogicBlock)]
pub struct FrameReceiver {
    pub clock: Signal<In, Clock>,
    /// The serial line from the host.
    pub rx: Signal<In, Bit>,
    /// One cycle per byte received (for the counters).
    pub byte_valid: Signal<Out, Bit>,
    /// A slot is free for the next frame.
    pub room: Signal<In, Bit>,
    /// A payload byte to store, at its offset (refused frames store none).
    pub byte_write: Signal<Out, Bit>,
    pub byte_offset: Signal<Out, Bits<11>>,
    pub byte_data: Signal<Out, Bits<8>>,
    /// One cycle: a frame is whole, to be answered: its status (OK,
    /// BAD_CRC, BAD_LENGTH), its length and how many of its first
    /// HEADER_BYTES bytes it stored, which hold until the next frame is
    /// taken (a byte time after `room`, at the earliest).
    pub frame_done: Signal<Out, Bit>,
    pub frame_status: Signal<Out, Bits<8>>,
    pub frame_length: Signal<Out, Bits<16>>,
    pub frame_head_bytes: Signal<Out, Bits<5>>,
    uart: UartRx,
    crc: Crc16Step,
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
    header_len: Constant<Bits<5>>,
    state: DFF<FrameState>,
    length_reg: DFF<Bits<16>>,
    status_reg: DFF<Bits<8>>,
    /// The length is refused: the frame is skipped, not stored.
    refused: DFF<Bit>,
    /// The payload byte to come: its offset (the frame buffer takes the
    /// low 11 bits; a refused frame's bytes count on to its length).
    index: DFF<Bits<16>>,
    /// Every payload byte is in: `index == length`, registered every cycle
    /// (Payload moves on to the CRC a few cycles after the last byte, long
    /// before the CRC's first byte), so that no down-counter with its load
    /// of `length - 1` is needed, and the index's flip-flops take nothing
    /// but its incrementer.
    payload_done: DFF<Bit>,
    /// `index < HEADER_BYTES`: the bytes stored are all header bytes.
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
}

impl FrameReceiver {
    /// A receiver for `clocks_per_bit` core clocks per bit that stores a
    /// request's first `header_bytes` bytes (at most HEADER_BYTES).
    pub fn new(clocks_per_bit: u64, header_bytes: usize) -> Self {
        assert!((1..=HEADER_BYTES).contains(&header_bytes));
        let idle_limit = IDLE_TIMEOUT_BITS * clocks_per_bit;
        assert!(idle_limit <= 1 << 22, "{clocks_per_bit} clocks per bit: the idle timer is 22 bits");
        assert!(MAX_REQUEST_PAYLOAD < 1 << 11 && MAX_REQUEST_PAYLOAD.is_power_of_two(), "the length test's plain-logic form");
        Self {
            clock: Default::default(),
            rx: Default::default(),
            byte_valid: Default::default(),
            room: Default::default(),
            byte_write: Default::default(),
            byte_offset: Default::default(),
            byte_data: Default::default(),
            frame_done: Default::default(),
            frame_status: Default::default(),
            frame_length: Default::default(),
            frame_head_bytes: Default::default(),
            uart: UartRx::new(clocks_per_bit),
            crc: Default::default(),
            sync: k(u64::from(SYNC)),
            st_ok: k(Status::Ok as u64),
            st_bad_crc: k(Status::BadCrc as u64),
            st_bad_length: k(Status::BadLength as u64),
            idle_limit_less_one: k(idle_limit - 1),
            idle_mask: k(idle_limit.next_power_of_two() - 1),
            max_request: k(MAX_REQUEST_PAYLOAD as u64),
            max_request_log: k(MAX_REQUEST_PAYLOAD.trailing_zeros() as u64),
            header_last: k(header_bytes as u64 - 1),
            header_len: k(header_bytes as u64),
            state: Default::default(),
            length_reg: Default::default(),
            status_reg: Default::default(),
            refused: Default::default(),
            index: Default::default(),
            payload_done: Default::default(),
            in_header: Default::default(),
            idle: Default::default(),
            idle_over: Default::default(),
            crc_reg: Default::default(),
            crc_low: Default::default(),
            crc_match: Default::default(),
            full_length: Default::default(),
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
        dff_setup!(self, clock, state, length_reg, status_reg, refused, index, payload_done, in_header, idle, idle_over, crc_reg, crc_low, crc_match);
        self.uart.clock.next = self.clock.val();
        self.uart.rx.next = self.rx.val();
        self.byte_valid.next = self.uart.valid.val();
        self.frame_done.next = self.state.q.val() == FrameState::Done;
        self.frame_status.next = self.status_reg.q.val();
        self.frame_length.next = self.length_reg.q.val();
        // A refused frame stored nothing; a short one its length; any other
        // the whole header.
        self.frame_head_bytes.next = self.header_len.val();
        if self.in_header.q.val() {
            self.frame_head_bytes.next = self.index.q.val().get_bits::<5>(0);
        }
        if self.refused.q.val() {
            self.frame_head_bytes.next = 0.into();
        }
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
        self.byte_offset.next = self.index.q.val().get_bits::<11>(0);
        self.payload_done.d.next = self.index.q.val() == self.length_reg.q.val();
        self.full_length.next = (bit_cast::<16, 8>(self.uart.data.val()) << 8) | self.length_reg.q.val();
        self.byte_data.next = self.uart.data.val();
        self.byte_write.next = false;
        match self.state.q.val() {
            FrameState::Hunt => {
                // (With both slots taken, a frame is not taken: its bytes,
                // SYNC included, are dropped.)
                if self.uart.valid.val() & (self.uart.data.val() == self.sync.val()) & self.room.val() {
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
                // (Not the last frame's test: Payload's first cycle reads it.)
                self.payload_done.d.next = false;
                self.in_header.d.next = true;
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
                    // (A refused frame's bytes go nowhere.)
                    self.byte_write.next = !self.refused.q.val();
                    self.crc_reg.d.next = self.crc.crc_out.val();
                    self.index.d.next = self.index.q.val() + 1;
                    self.in_header.d.next = self.in_header.q.val() & (self.index.q.val().get_bits::<11>(0) != self.header_last.val());
                } else if self.payload_done.q.val() {
                    self.state.d.next = FrameState::Crc0;
                }
            }
            FrameState::Crc0 => {
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
                    self.state.d.next = FrameState::Done;
                }
            }
            FrameState::Done => {
                self.state.d.next = FrameState::Hunt;
            }
            _ => {
                self.state.d.next = FrameState::Hunt;
            }
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
                self.status_reg.d.next = self.st_bad_length.val();
                self.state.d.next = FrameState::Done;
            }
        }
    }
}
