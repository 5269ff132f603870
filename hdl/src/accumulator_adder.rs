//! The PE's accumulator input: `load ? product : acc + product`, in one
//! iCE40 logic cell per bit. The GEMM engine uses it too, for the drained
//! sum plus the old accumulator value (`load` = not accumulating).
//!
//! An iCE40 logic cell holds a 4-input LUT, a carry cell and a flip-flop.
//! The carry cell adds the LUT's inputs I1 and I2 (carry in on I3), and the
//! LUT may compute any function of its four inputs: with I0 = `load`, the
//! LUT gives `load ? I2 : I1 ^ I2 ^ I3`, the sum or the product, and the
//! accumulator's flip-flop in the same cell takes it. yosys maps an adder
//! followed by a multiplexer into two LUTs a bit, so the block is a leaf
//! with hand-written Verilog in two variants, chosen when the Verilog is
//! read (like [`crate::MultiplierPair`]):
//! - with `NPU_ICE40_DSP` defined (the iCE40 board flow): `SB_LUT4` and
//!   `SB_CARRY` instances, one pair a bit;
//! - otherwise: the same function as a Verilog expression.
//!
//! When `load` is set the carry chain still adds (its carries are unused).
//! The Rust `update` is the model rust-hdl's simulator runs; the netlist
//! check of the board build runs the iCE40 variant on yosys's cell models.

use rust_hdl::core::timing::TimingInfo;
use rust_hdl::prelude::*;

/// `sum = load ? product : acc + product` (32 bits, wrapping), combinational.
#[derive(LogicBlock, Default)]
pub struct AccumulatorAdder {
    /// Start a new sum with this product instead of adding it.
    pub load: Signal<In, Bit>,
    /// The running sum.
    pub acc: Signal<In, Bits<32>>,
    /// The product to add.
    pub product: Signal<In, Bits<32>>,
    /// The accumulator's next value.
    pub sum: Signal<Out, Bits<32>>,
}

/// LUT_INIT of `I0 ? I2 : I1 ^ I2 ^ I3` (bit `{I3, I2, I1, I0}`).
pub const LOAD_OR_ADD_LUT: u16 = 0xE1B4;

/// The Verilog body of [`AccumulatorAdder`].
pub fn verilog_body() -> String {
    format!(
        "\
`ifdef NPU_ICE40_DSP
// Bit i: a LUT gives load ? product[i] : acc[i] ^ product[i] ^ carry[i]; the
// carry cell beside it adds acc[i] and product[i] (its inputs are the LUT's
// I1 and I2, carry in on I3), so LUT, carry and the accumulator's flip-flop
// share one logic cell.
wire [32:0] carry;
wire [31:0] lut_out;
assign carry[0] = 1'b0;
genvar i;
generate
    for (i = 0; i < 32; i = i + 1) begin : bit_cell
        SB_LUT4 #(.LUT_INIT(16'h{lut:04X})) lut (
            .O(lut_out[i]), .I0(load), .I1(acc[i]), .I2(product[i]), .I3(carry[i])
        );
        SB_CARRY add (.CO(carry[i + 1]), .I0(acc[i]), .I1(product[i]), .CI(carry[i]));
    end
endgenerate
always @(*) sum = lut_out;
`else
always @(*) sum = load ? product : acc + product;
`endif
",
        lut = LOAD_OR_ADD_LUT
    )
}

impl Logic for AccumulatorAdder {
    fn update(&mut self) {
        self.sum.next = if self.load.val() { self.product.val() } else { self.acc.val() + self.product.val() };
    }

    fn connect(&mut self) {
        self.sum.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(verilog_body())
    }

    fn timing(&self) -> Vec<TimingInfo> {
        vec![]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lut_is_load_or_add() {
        for index in 0..16u16 {
            let (load, acc, product, carry) = (index & 1, (index >> 1) & 1, (index >> 2) & 1, (index >> 3) & 1);
            let want = if load == 1 { product } else { acc ^ product ^ carry };
            assert_eq!((LOAD_OR_ADD_LUT >> index) & 1, want, "LUT input {index:04b}");
        }
    }
}
