//! The request slots: two frame buffers, so that the next request arrives
//! while the executor works on this one.
//!
//! The frame receiver fills one slot while the executor reads the other.
//! Frames are presented in the order they arrived: a whole frame waits
//! (`pending`) until the one before it is answered, then its first
//! HEADER_BYTES bytes are copied from its slot into the header register
//! (zeros past the end of a shorter frame, or for a refused one), and it is
//! presented (`ready`) with its status and length until `answered`.
//!
//! So a host may send one request ahead of the answer it waits for: the
//! line to the device carries the next request while the device computes
//! and sends this one's answer. With both slots taken (one presented, one
//! pending) the receiver takes no frame (`room` is low): a request sent
//! further ahead is dropped, as is documented in docs/protocol.md.
//!
//! Copying the header costs HEADER_BYTES + 3 cycles a request (under half a
//! byte time on the line at 8 clocks a bit), and keeps the register single:
//! the units read their parameters from it while the request runs.
//!
//! The presented request's status and length are the receiver's record, not
//! a copy: it holds them until it takes the next frame, and it changes the
//! length no sooner than a whole byte after `room` rises (a SYNC taken as
//! `room` rises, then the length's first byte: 10 bits of at least 8
//! clocks), while the header's copy and the executor's reads of the record
//! (EXECUTOR_READS_RECORD_WITHIN cycles after `ready`) take fewer.

use crate::executor::EXECUTOR_READS_RECORD_WITHIN;
use crate::frame_receiver::HEADER_BYTES;
use crate::ram::Ram;
use crate::vecs::k;
use npu_spec::protocol::MAX_REQUEST_PAYLOAD;
use rust_hdl::prelude::*;

// A slot is 2^10 bytes: the slot is address bit 10.
const _: () = assert!(MAX_REQUEST_PAYLOAD == 1 << 10);
// The receiver's record outlasts the header's copy and the executor's reads
// of it: a byte at the fastest line (8 clocks a bit, see UartRx::new).
const _: () = assert!(HEADER_BYTES + 3 + EXECUTOR_READS_RECORD_WITHIN < 10 * 8);
// The header register's width (a literal in update).
const _: () = assert!(8 * HEADER_BYTES == 208);

#[derive(LogicBlock)]
pub struct RequestSlots {
    pub clock: Signal<In, Clock>,
    // ---- From the frame receiver.
    /// A payload byte for the slot being filled, at its offset.
    pub byte_write: Signal<In, Bit>,
    pub byte_offset: Signal<In, Bits<11>>,
    pub byte_data: Signal<In, Bits<8>>,
    /// One cycle: the frame in the slot being filled is whole. Its status,
    /// length, and how many of its first bytes it stored (0 when refused,
    /// else its length up to HEADER_BYTES) hold until the receiver takes
    /// another frame, which it does only with `room`: while the frame is
    /// pending they are its record, with no copy here.
    pub frame_done: Signal<In, Bit>,
    pub frame_status: Signal<In, Bits<8>>,
    pub frame_length: Signal<In, Bits<16>>,
    pub frame_head_bytes: Signal<In, Bits<5>>,
    /// A slot is free: the receiver may take the next frame.
    pub room: Signal<Out, Bit>,
    // ---- To the executor.
    /// A request is presented: its first bytes (byte i at bits 8i.., zeros
    /// past its end), holding until `answered`, and its status and length,
    /// holding for at least EXECUTOR_READS_RECORD_WITHIN cycles (see above).
    pub ready: Signal<Out, Bit>,
    pub status: Signal<Out, Bits<8>>,
    pub head: Signal<Out, Bits<208>>,
    pub length: Signal<Out, Bits<16>>,
    /// The presented payload, byte by byte (the byte arrives a cycle after
    /// its offset).
    pub read_address: Signal<In, Bits<11>>,
    pub read_data: Signal<Out, Bits<8>>,
    /// One cycle: the presented request is answered.
    pub answered: Signal<In, Bit>,
    /// One cycle: shift `program_byte` into the header register at its top,
    /// as the copy does (a stored program's record, see ProgramStore,
    /// while its RUN is presented; tied low without one).
    pub program_shift: Signal<In, Bit>,
    pub program_byte: Signal<In, Bits<8>>,
    /// One cycle: the header register takes `program_head` whole (the
    /// program store's next record, read while the one before ran).
    pub program_load: Signal<In, Bit>,
    pub program_head: Signal<In, Bits<208>>,
    /// The payloads: slot s at offsets s * MAX_REQUEST_PAYLOAD...
    frame: Ram<Bits<8>>,
    header_last: Constant<Bits<5>>,
    /// Where a byte enters the header register: its last byte's place.
    header_top: Constant<Bits<16>>,
    /// The slot the next frame fills, and the slot presented (or, while
    /// none is, the one presented next).
    fill_slot: DFF<Bit>,
    present_slot: DFF<Bit>,
    /// A whole frame waits for the presented one's answer (its record is
    /// the receiver's `frame_*`).
    pending: DFF<Bit>,
    /// The header is being copied (`loading`, then a cycle for the last
    /// byte and one for the executor's registered decodes: `settling`), or
    /// the request is presented (`presented`).
    loading: DFF<Bit>,
    settling: DFF<Bits<2>>,
    presented: DFF<Bit>,
    /// The header byte read now (offset `load_index`), and the bytes of
    /// the frame still to copy (zeros after).
    load_index: DFF<Bits<5>>,
    load_left: DFF<Bits<5>>,
    /// The byte read last cycle arrives now: shift it in, or a zero.
    shift: DFF<Bit>,
    shift_byte: DFF<Bit>,
    head_reg: DFF<Bits<208>>,
    // Combinational helpers.
    /// No request is in hand (none loading, settling or presented).
    empty: Signal<Local, Bit>,
    /// The slot the read port reads: the presented one, or while there is
    /// none and none pending, the one not being filled (so that a read and
    /// a write never meet at one address).
    read_slot: Signal<Local, Bit>,
    offset: Signal<Local, Bits<11>>,
}

impl RequestSlots {
    /// Slots whose header register keeps a request's first `header_bytes`
    /// bytes (at most HEADER_BYTES; the bytes above stay zero).
    pub fn new(header_bytes: usize) -> Self {
        assert!((1..=HEADER_BYTES).contains(&header_bytes));
        Self {
            clock: Default::default(),
            byte_write: Default::default(),
            byte_offset: Default::default(),
            byte_data: Default::default(),
            frame_done: Default::default(),
            frame_status: Default::default(),
            frame_length: Default::default(),
            frame_head_bytes: Default::default(),
            room: Default::default(),
            ready: Default::default(),
            status: Default::default(),
            head: Default::default(),
            length: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            answered: Default::default(),
            program_shift: Default::default(),
            program_byte: Default::default(),
            program_load: Default::default(),
            program_head: Default::default(),
            frame: Ram::without_collisions(2 * MAX_REQUEST_PAYLOAD),
            header_last: k(header_bytes as u64 - 1),
            header_top: k(8 * (header_bytes as u64 - 1)),
            fill_slot: Default::default(),
            present_slot: Default::default(),
            pending: Default::default(),
            loading: Default::default(),
            settling: Default::default(),
            presented: Default::default(),
            load_index: Default::default(),
            load_left: Default::default(),
            shift: Default::default(),
            shift_byte: Default::default(),
            head_reg: Default::default(),
            empty: Default::default(),
            read_slot: Default::default(),
            offset: Default::default(),
        }
    }
}

impl Logic for RequestSlots {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, fill_slot, present_slot, pending, loading, settling, presented,
            load_index, load_left, shift, shift_byte, head_reg
        );
        self.frame.clock.next = self.clock.val();
        self.empty.next = !self.loading.q.val() & (self.settling.q.val() == 0) & !self.presented.q.val();
        self.room.next = !(self.pending.q.val() & !self.empty.val());
        self.ready.next = self.presented.q.val();
        self.status.next = self.frame_status.val();
        self.head.next = self.head_reg.q.val();
        self.length.next = self.frame_length.val();
        self.read_data.next = self.frame.read_data.val();

        // The receiver's bytes go to the slot being filled.
        // (An offset is below MAX_REQUEST_PAYLOAD, 2^10, whenever a byte is
        // written or read: the slot's bit is ORed in, not added.)
        self.frame.write_address.next = (bit_cast::<16, 1>(self.fill_slot.q.val().into()) << 10) | bit_cast::<16, 11>(self.byte_offset.val());
        self.frame.write_data.next = self.byte_data.val();
        self.frame.write_enable.next = self.byte_write.val();
        // The read port: the header's copy while loading, else the executor.
        self.read_slot.next = self.present_slot.q.val();
        if self.empty.val() & !self.pending.q.val() {
            self.read_slot.next = !self.fill_slot.q.val();
        }
        self.offset.next = self.read_address.val();
        if self.loading.q.val() {
            self.offset.next = bit_cast::<11, 5>(self.load_index.q.val());
        }
        self.frame.read_address.next = (bit_cast::<16, 1>(self.read_slot.val().into()) << 10) | bit_cast::<16, 11>(self.offset.val());

        // A whole frame waiting is taken when none is in hand (with room,
        // the receiver may be taking the next frame, but its record changes
        // only a byte time later).
        if self.empty.val() & self.pending.q.val() {
            self.pending.d.next = false;
            self.loading.d.next = true;
            self.load_index.d.next = 0.into();
            self.load_left.d.next = self.frame_head_bytes.val();
        }
        // A whole frame waits.
        if self.frame_done.val() {
            self.pending.d.next = true;
            self.fill_slot.d.next = !self.fill_slot.q.val();
        }
        // The copy: one byte read a cycle, shifted in at the top of the
        // header register a cycle later; byte 0 is at the bottom after
        // HEADER_BYTES shifts.
        self.shift.d.next = false;
        if self.loading.q.val() {
            self.shift.d.next = true;
            self.shift_byte.d.next = self.load_left.q.val() != 0;
            if self.load_left.q.val() != 0 {
                self.load_left.d.next = self.load_left.q.val() - 1;
            }
            self.load_index.d.next = self.load_index.q.val() + 1;
            if self.load_index.q.val() == self.header_last.val() {
                self.loading.d.next = false;
                self.settling.d.next = 2.into();
            }
        }
        if self.shift.q.val() {
            self.head_reg.d.next = self.head_reg.q.val() >> 8;
            if self.shift_byte.q.val() {
                self.head_reg.d.next = (self.head_reg.q.val() >> 8) | (bit_cast::<208, 8>(self.frame.read_data.val()) << self.header_top.val());
            }
        }
        if self.program_shift.val() {
            self.head_reg.d.next = (self.head_reg.q.val() >> 8) | (bit_cast::<208, 8>(self.program_byte.val()) << self.header_top.val());
        }
        if self.program_load.val() {
            self.head_reg.d.next = self.program_head.val();
        }
        if self.settling.q.val() != 0 {
            self.settling.d.next = self.settling.q.val() - 1;
            if self.settling.q.val() == 1 {
                self.presented.d.next = true;
            }
        }
        if self.presented.q.val() & self.answered.val() {
            self.presented.d.next = false;
            self.present_slot.d.next = !self.present_slot.q.val();
        }
    }
}
