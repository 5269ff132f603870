//! A place adder: a byte's place (entry, lane) in a bank plus a stride of
//! the same form, without a multiplier.
//!
//! Both lanes are below the bank's `lanes`, so their sum wraps at most once,
//! and the wrap carries into the entries' sum: the result is the byte index
//! `entry * lanes + lane + stride_entry * lanes + stride_lane` as a place
//! again. The entries' sum has 17 bits; the top one says it passed 65535.

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct PlaceAdder {
    /// The bank's bytes an entry (1..=32).
    pub lanes: Signal<In, Bits<6>>,
    /// The place and the stride (lanes below `lanes`).
    pub entry: Signal<In, Bits<16>>,
    pub lane: Signal<In, Bits<6>>,
    pub stride_entry: Signal<In, Bits<16>>,
    pub stride_lane: Signal<In, Bits<6>>,
    /// The sum (combinational).
    pub sum_entry: Signal<Out, Bits<17>>,
    pub sum_lane: Signal<Out, Bits<6>>,
    /// The lanes' sum (below 64: both are below 32), and that it wraps.
    lane_sum: Signal<Local, Bits<6>>,
    wrap: Signal<Local, Bit>,
}

impl Logic for PlaceAdder {
    #[hdl_gen]
    fn update(&mut self) {
        self.lane_sum.next = self.lane.val() + self.stride_lane.val();
        self.wrap.next = self.lane_sum.val() >= self.lanes.val();
        self.sum_lane.next = self.lane_sum.val();
        if self.wrap.val() {
            self.sum_lane.next = self.lane.val() + self.stride_lane.val() - self.lanes.val();
        }
        self.sum_entry.next = bit_cast::<17, 16>(self.entry.val())
            + bit_cast::<17, 16>(self.stride_entry.val())
            + bit_cast::<17, 1>(self.wrap.val().into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every place and stride of a 5-lane bank near both ends of the
    /// entries: the sum is the byte indexes' sum, as a place.
    #[test]
    fn sums_are_byte_index_sums() {
        let mut a = PlaceAdder::default();
        a.connect_all();
        let lanes = 5u64;
        a.lanes.next = lanes.into();
        for entry in [0u64, 1, 7, 65534, 65535] {
            for stride_entry in [0u64, 1, 3, 65535] {
                for lane in 0..lanes {
                    for stride_lane in 0..lanes {
                        a.entry.next = entry.into();
                        a.lane.next = lane.into();
                        a.stride_entry.next = stride_entry.into();
                        a.stride_lane.next = stride_lane.into();
                        assert!(simulate(&mut a, 100));
                        let index = (entry + stride_entry) * lanes + lane + stride_lane;
                        assert_eq!(a.sum_entry.val().index() as u64, index / lanes);
                        assert_eq!(a.sum_lane.val().index() as u64, index % lanes);
                    }
                }
            }
        }
    }
}
