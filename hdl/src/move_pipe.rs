//! The move pipe: a streamed MOVE's places, each delayed to the cycle its
//! byte needs it.
//!
//! When MOVE reads OUT (or writes zeros) into A or B, the source and the
//! destination are different memories with their own addresses, so the
//! executor takes a byte's places from the mover every cycle instead of one
//! byte every four or seven. A byte's source entry addresses OUT in the cycle
//! it is taken (`issue`); its lane must select the memories' data when that
//! data reaches the lane multiplexer (`read_lane`, `select_delay` cycles
//! later); its destination must reach the executor's cursor a cycle after
//! the byte is captured (`write_*`, `write_delay` cycles later), so that
//! the write meets the byte in the NPU's frame-byte register, as WRITE's do.

use crate::delay_line::DelayLine;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct MovePipe {
    pub clock: Signal<In, Clock>,
    /// One cycle: a byte's places are taken (its source entry addresses
    /// OUT now).
    pub issue: Signal<In, Bit>,
    /// The byte's source lane and destination (the mover's places).
    pub from_lane: Signal<In, Bits<8>>,
    pub to_entry: Signal<In, Bits<16>>,
    pub to_lane: Signal<In, Bits<8>>,
    /// The byte goes to B (else A).
    pub to_b: Signal<In, Bit>,
    /// The source lane of the byte whose data is at the lane multiplexer.
    pub read_lane: Signal<Out, Bits<8>>,
    /// One cycle: the byte captured a cycle ago is written at these places
    /// (through the cursor, a cycle from now).
    pub write: Signal<Out, Bit>,
    pub write_entry: Signal<Out, Bits<16>>,
    pub write_lane: Signal<Out, Bits<8>>,
    pub write_b: Signal<Out, Bit>,
    /// A byte is in flight.
    pub busy: Signal<Out, Bit>,
    // ---- The lines.
    /// The source lane, to the lane multiplexer.
    lane_line: DelayLine<Bits<8>>,
    /// The destination: issue (1), to B (1), lane (8), entry (16).
    place_line: DelayLine<Bits<26>>,
    /// A byte issued this many cycles ago or fewer is in flight.
    in_flight: DelayLine<Bits<8>>,
}

impl MovePipe {
    /// `select_delay`: cycles from a source address to its data at the
    /// lane multiplexer; `write_delay`: cycles from the address to the
    /// destination's turn at the cursor.
    pub fn new(select_delay: usize, write_delay: usize) -> Self {
        assert!(write_delay < 8, "a write leaves the in-flight window of 8 cycles before it closes");
        Self {
            clock: Default::default(),
            issue: Default::default(),
            from_lane: Default::default(),
            to_entry: Default::default(),
            to_lane: Default::default(),
            to_b: Default::default(),
            read_lane: Default::default(),
            write: Default::default(),
            write_entry: Default::default(),
            write_lane: Default::default(),
            write_b: Default::default(),
            busy: Default::default(),
            lane_line: DelayLine::new(select_delay),
            place_line: DelayLine::new(write_delay),
            in_flight: DelayLine::new(1),
        }
    }
}

impl Logic for MovePipe {
    #[hdl_gen]
    fn update(&mut self) {
        self.lane_line.clock.next = self.clock.val();
        self.place_line.clock.next = self.clock.val();
        self.in_flight.clock.next = self.clock.val();
        self.lane_line.data_in.next = self.from_lane.val();
        self.read_lane.next = self.lane_line.data_out.val();
        self.place_line.data_in.next = bit_cast::<26, 16>(self.to_entry.val())
            | (bit_cast::<26, 8>(self.to_lane.val()) << 16)
            | (bit_cast::<26, 1>(self.to_b.val().into()) << 24)
            | (bit_cast::<26, 1>(self.issue.val().into()) << 25);
        self.write_entry.next = self.place_line.data_out.val().get_bits::<16>(0);
        self.write_lane.next = self.place_line.data_out.val().get_bits::<8>(16);
        self.write_b.next = self.place_line.data_out.val().get_bit(24);
        self.write.next = self.place_line.data_out.val().get_bit(25);
        // A shift register of the last 8 cycles' issues: busy while any
        // is set (the write delay is at most 8).
        self.in_flight.data_in.next = (self.in_flight.data_out.val() << 1) | bit_cast::<8, 1>(self.issue.val().into());
        self.busy.next = self.in_flight.data_out.val() != 0;
    }
}
