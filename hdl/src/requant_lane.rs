//! One requantization lane: gemmlowp's arithmetic on one element a cycle,
//! in eleven register stages, for the [`crate::requant_pipeline::RequantPipeline`]
//! (which issues the elements, holds each lane's parameters and feeds a
//! lane per slot).
//!
//! For an element on the inputs at cycle c (what the pipeline calls t + 2):
//! - c: the accumulator, the lane's bias (0 without bias), multiplier and
//!   shift, taken;
//! - c + 1: `x = acc + bias` (wraps, like the GEMM's sums);
//! - c + 2: the factors, registered in the multipliers (on the ECP5 inside
//!   the MULT18X18D, which may lie far from the lane);
//! - c + 3: four 18 x 18 signed products of `x` and the multiplier (high
//!   and low halves; a low half is unsigned, so 17 bits);
//! - c + 4: the two middle products summed, plus 2^14, which lands at bit
//!   30 as gemmlowp's nudge: `(p + 2^30) >> 31` is exactly
//!   SaturatingRoundingDoublingHighMul's quotient for either sign of `p`
//!   (for `p < 0`, `(p + 1 - 2^30)` divided toward zero is the same floor);
//! - c + 5: the 64-bit sum, its bits 62..31 (`x = m = INT32_MIN`, the one
//!   overflow, saturates to INT32_MAX at the next stage);
//! - c + 6: RoundingDivideByPOT's rounding added: `2^(shift-1)`, less one
//!   for a negative value (half away from zero, then a floor shift);
//! - c + 7, c + 8: the arithmetic shift, by multiples of 8 and then 0..7;
//! - c + 9: plus the zero point; c + 10: compared with `min` and `max`;
//! - c + 11: the clamped byte on `out_data`.

use crate::multiplier18::Multiplier18;
use crate::vecs::dffs;
use rust_hdl::prelude::*;

/// Cycles from an element on the inputs to its byte on `out_data`.
pub const LATENCY: usize = 11;
/// The DSPs a lane uses (four 18 x 18 products).
pub const DSPS: u64 = 4;

#[derive(LogicBlock)]
pub struct RequantLane {
    pub clock: Signal<In, Clock>,
    /// The element and its lane's parameters (bias 0 when unused).
    pub acc_in: Signal<In, Bits<32>>,
    pub bias_in: Signal<In, Bits<32>>,
    pub multiplier_in: Signal<In, Bits<32>>,
    pub shift_in: Signal<In, Bits<5>>,
    /// The request's output parameters (they hold while it runs).
    pub zero_point: Signal<In, Bits<8>>,
    pub min: Signal<In, Bits<8>>,
    pub max: Signal<In, Bits<8>>,
    /// The element's byte, `LATENCY` cycles after its inputs.
    pub out_data: Signal<Out, Bits<8>>,
    /// c: the inputs; the shift then rides along (`shift_at[s]` is the
    /// element's at c + 1 + s).
    acc: DFF<Bits<32>>,
    lane_bias: DFF<Bits<32>>,
    lane_multiplier: DFF<Bits<32>>,
    shift_at: Vec<DFF<Bits<5>>>,
    /// c + 1: the multiply's factors.
    x: DFF<Bits<32>>,
    m: DFF<Bits<32>>,
    /// c + 2, c + 3: the factors and then the products (in the
    /// multipliers), and the overflow case.
    products: Vec<Multiplier18>,
    saturate: Vec<DFF<Bit>>,
    /// c + 4: the middle products' sum plus the nudge, and the outer two side by side.
    middle: DFF<Bits<35>>,
    outer: DFF<Bits<64>>,
    /// c + 5: the high-mul quotient, and the rounding for each sign.
    quotient: DFF<Bits<32>>,
    half: DFF<Bits<33>>,
    half_less_one: DFF<Bits<33>>,
    /// c + 6: the quotient with its rounding, 33 bits.
    rounded: DFF<Bits<33>>,
    /// c + 7, c + 8: shifted by the multiple of 8, then by the rest.
    coarse: DFF<Bits<40>>,
    shifted: DFF<Bits<33>>,
    /// c + 9: plus the zero point (34 bits); c + 10: the clamp's tests.
    offset: DFF<Bits<34>>,
    below_min: DFF<Bit>,
    above_max: DFF<Bit>,
    low_byte: DFF<Bits<8>>,
    // Combinational helpers.
    /// The middle products, sign-extended to 35 bits.
    middle_a: Signal<Local, Bits<35>>,
    middle_b: Signal<Local, Bits<35>>,
    sum64: Signal<Local, Bits<64>>,
    rounded_wide: Signal<Local, Bits<64>>,
    coarse_wide: Signal<Local, Bits<64>>,
    /// The two shifts' whole results (rust-hdl selects bits of a signal only).
    coarse_full: Signal<Local, Bits<64>>,
    shifted_full: Signal<Local, Bits<64>>,
    zero_point_wide: Signal<Local, Bits<34>>,
    min_wide: Signal<Local, Bits<34>>,
    max_wide: Signal<Local, Bits<34>>,
    /// The products' and wide results' bits that no stage reads (named so
    /// for the lint): the sign bits above each product's range, and the
    /// 64-bit helpers' bits outside the fields taken.
    unused_products: Signal<Local, Bits<36>>,
    unused_wide: Signal<Local, Bits<64>>,
}

impl Default for RequantLane {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            acc_in: Default::default(),
            bias_in: Default::default(),
            multiplier_in: Default::default(),
            shift_in: Default::default(),
            zero_point: Default::default(),
            min: Default::default(),
            max: Default::default(),
            out_data: Default::default(),
            acc: Default::default(),
            lane_bias: Default::default(),
            lane_multiplier: Default::default(),
            shift_at: dffs(8),
            x: Default::default(),
            m: Default::default(),
            products: (0..4).map(|_| Multiplier18::default()).collect(),
            saturate: dffs(4),
            middle: Default::default(),
            outer: Default::default(),
            quotient: Default::default(),
            half: Default::default(),
            half_less_one: Default::default(),
            rounded: Default::default(),
            coarse: Default::default(),
            shifted: Default::default(),
            offset: Default::default(),
            below_min: Default::default(),
            above_max: Default::default(),
            low_byte: Default::default(),
            middle_a: Default::default(),
            middle_b: Default::default(),
            sum64: Default::default(),
            rounded_wide: Default::default(),
            coarse_wide: Default::default(),
            coarse_full: Default::default(),
            shifted_full: Default::default(),
            zero_point_wide: Default::default(),
            min_wide: Default::default(),
            max_wide: Default::default(),
            unused_products: Default::default(),
            unused_wide: Default::default(),
        }
    }
}

impl Logic for RequantLane {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            acc,
            lane_bias,
            lane_multiplier,
            x,
            m,
            middle,
            outer,
            quotient,
            half,
            half_less_one,
            rounded,
            coarse,
            shifted,
            offset,
            below_min,
            above_max,
            low_byte
        );
        // ---- c: the inputs.
        self.acc.d.next = self.acc_in.val();
        self.lane_bias.d.next = self.bias_in.val();
        self.lane_multiplier.d.next = self.multiplier_in.val();
        for s in 0..8 {
            self.shift_at[s].clock.next = self.clock.val();
        }
        self.shift_at[0].d.next = self.shift_in.val();
        for s in 1..8 {
            self.shift_at[s].d.next = self.shift_at[s - 1].q.val();
        }
        // ---- c + 1: x = acc + bias.
        self.x.d.next = self.acc.q.val() + self.lane_bias.q.val();
        self.m.d.next = self.lane_multiplier.q.val();
        // ---- c + 2, c + 3: the four products (their factors registered at
        // c + 2 in the multipliers): x = xh * 2^16 + xl (xh signed,
        // xl unsigned), likewise m; products 0: xh*mh, 1: xh*ml, 2: xl*mh, 3: xl*ml.
        for p in 0..4 {
            self.products[p].clock.next = self.clock.val();
        }
        self.products[0].a.next = bit_cast::<18, 16>(self.x.q.val().get_bits::<16>(16));
        self.products[1].a.next = bit_cast::<18, 16>(self.x.q.val().get_bits::<16>(16));
        if self.x.q.val().get_bit(31) {
            self.products[0].a.next = bit_cast::<18, 16>(self.x.q.val().get_bits::<16>(16)) | 0x3_0000;
            self.products[1].a.next = bit_cast::<18, 16>(self.x.q.val().get_bits::<16>(16)) | 0x3_0000;
        }
        self.products[2].a.next = bit_cast::<18, 16>(self.x.q.val().get_bits::<16>(0));
        self.products[3].a.next = bit_cast::<18, 16>(self.x.q.val().get_bits::<16>(0));
        self.products[0].b.next = bit_cast::<18, 16>(self.m.q.val().get_bits::<16>(16));
        self.products[2].b.next = bit_cast::<18, 16>(self.m.q.val().get_bits::<16>(16));
        if self.m.q.val().get_bit(31) {
            self.products[0].b.next = bit_cast::<18, 16>(self.m.q.val().get_bits::<16>(16)) | 0x3_0000;
            self.products[2].b.next = bit_cast::<18, 16>(self.m.q.val().get_bits::<16>(16)) | 0x3_0000;
        }
        self.products[1].b.next = bit_cast::<18, 16>(self.m.q.val().get_bits::<16>(0));
        self.products[3].b.next = bit_cast::<18, 16>(self.m.q.val().get_bits::<16>(0));
        for s in 0..4 {
            self.saturate[s].clock.next = self.clock.val();
        }
        self.saturate[0].d.next = (self.x.q.val() == 0x8000_0000_u64) & (self.m.q.val() == 0x8000_0000_u64);
        self.saturate[1].d.next = self.saturate[0].q.val();
        self.saturate[2].d.next = self.saturate[1].q.val();
        self.saturate[3].d.next = self.saturate[2].q.val();
        // ---- c + 4: middle = xh*ml + xl*mh + 2^14 (each below 2^31 in
        // magnitude: 35 bits hold the sum); outer = xh*mh * 2^32 + xl*ml.
        self.middle_a.next = bit_cast::<35, 34>(self.products[1].p.val().get_bits::<34>(0));
        if self.products[1].p.val().get_bit(35) {
            self.middle_a.next = bit_cast::<35, 34>(self.products[1].p.val().get_bits::<34>(0)) | 0x4_0000_0000_u64;
        }
        self.middle_b.next = bit_cast::<35, 34>(self.products[2].p.val().get_bits::<34>(0));
        if self.products[2].p.val().get_bit(35) {
            self.middle_b.next = bit_cast::<35, 34>(self.products[2].p.val().get_bits::<34>(0)) | 0x4_0000_0000_u64;
        }
        self.middle.d.next = self.middle_a.val() + self.middle_b.val() + 0x4000;
        self.outer.d.next =
            (bit_cast::<64, 32>(self.products[0].p.val().get_bits::<32>(0)) << 32) | bit_cast::<64, 32>(self.products[3].p.val().get_bits::<32>(0));
        // ---- c + 5: p + 2^30 = outer + middle * 2^16; the quotient is its bits 62..31.
        self.sum64.next = self.outer.q.val() + (bit_cast::<64, 35>(self.middle.q.val()) << 16);
        if self.middle.q.val().get_bit(34) {
            self.sum64.next = self.outer.q.val() + ((bit_cast::<64, 35>(self.middle.q.val()) | 0xFFFF_FFF8_0000_0000_u64) << 16);
        }
        self.quotient.d.next = self.sum64.val().get_bits::<32>(31);
        // The rounding of the divide: 2^(shift-1), or 0 for shift 0.
        self.half.d.next = 0.into();
        if self.shift_at[4].q.val() != 0 {
            self.half.d.next = bits::<33>(1) << (self.shift_at[4].q.val() - 1);
        }
        self.half_less_one.d.next = 0.into();
        if self.shift_at[4].q.val() != 0 {
            self.half_less_one.d.next = (bits::<33>(1) << (self.shift_at[4].q.val() - 1)) - 1;
        }
        // ---- c + 6: the saturated quotient (33 bits, sign-extended) plus its rounding.
        if self.saturate[3].q.val() {
            self.rounded.d.next = bits::<33>(0x7FFF_FFFF) + self.half.q.val();
        } else if self.quotient.q.val().get_bit(31) {
            self.rounded.d.next = (bit_cast::<33, 32>(self.quotient.q.val()) | 0x1_0000_0000_u64) + self.half_less_one.q.val();
        } else {
            self.rounded.d.next = bit_cast::<33, 32>(self.quotient.q.val()) + self.half.q.val();
        }
        // ---- c + 7, c + 8: the arithmetic shift right, in two steps.
        self.rounded_wide.next = bit_cast::<64, 33>(self.rounded.q.val());
        if self.rounded.q.val().get_bit(32) {
            self.rounded_wide.next = bit_cast::<64, 33>(self.rounded.q.val()) | 0xFFFF_FFFE_0000_0000_u64;
        }
        self.coarse_full.next = self.rounded_wide.val() >> (self.shift_at[6].q.val() & 0x18);
        self.coarse.d.next = self.coarse_full.val().get_bits::<40>(0);
        self.coarse_wide.next = bit_cast::<64, 40>(self.coarse.q.val());
        if self.coarse.q.val().get_bit(39) {
            self.coarse_wide.next = bit_cast::<64, 40>(self.coarse.q.val()) | 0xFFFF_FF00_0000_0000_u64;
        }
        self.shifted_full.next = self.coarse_wide.val() >> (self.shift_at[7].q.val() & 0x07);
        self.shifted.d.next = self.shifted_full.val().get_bits::<33>(0);
        // ---- c + 9: plus the zero point, 34 bits.
        self.zero_point_wide.next = bit_cast::<34, 8>(self.zero_point.val());
        if self.zero_point.val().get_bit(7) {
            self.zero_point_wide.next = bit_cast::<34, 8>(self.zero_point.val()) | 0x3_FFFF_FF00_u64;
        }
        self.offset.d.next = bit_cast::<34, 33>(self.shifted.q.val()) + self.zero_point_wide.val();
        if self.shifted.q.val().get_bit(32) {
            self.offset.d.next = (bit_cast::<34, 33>(self.shifted.q.val()) | 0x2_0000_0000_u64) + self.zero_point_wide.val();
        }
        // ---- c + 10: the clamp's tests (signed: compared with the sign bit flipped).
        self.min_wide.next = bit_cast::<34, 8>(self.min.val());
        if self.min.val().get_bit(7) {
            self.min_wide.next = bit_cast::<34, 8>(self.min.val()) | 0x3_FFFF_FF00_u64;
        }
        self.max_wide.next = bit_cast::<34, 8>(self.max.val());
        if self.max.val().get_bit(7) {
            self.max_wide.next = bit_cast::<34, 8>(self.max.val()) | 0x3_FFFF_FF00_u64;
        }
        self.below_min.d.next = (self.offset.q.val() ^ 0x2_0000_0000_u64) < (self.min_wide.val() ^ 0x2_0000_0000_u64);
        self.above_max.d.next = (self.offset.q.val() ^ 0x2_0000_0000_u64) > (self.max_wide.val() ^ 0x2_0000_0000_u64);
        self.low_byte.d.next = self.offset.q.val().get_bits::<8>(0);
        // ---- c + 11: the byte.
        self.out_data.next = self.low_byte.q.val();
        if self.below_min.q.val() {
            self.out_data.next = self.min.val();
        }
        if self.above_max.q.val() {
            self.out_data.next = self.max.val();
        }
        self.unused_products.next = self.products[0].p.val() ^ self.products[1].p.val() ^ self.products[2].p.val() ^ self.products[3].p.val();
        self.unused_wide.next = self.sum64.val() ^ self.coarse_full.val() ^ self.shifted_full.val();
    }
}
