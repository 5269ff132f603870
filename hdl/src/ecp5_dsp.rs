//! Verilog text of one ECP5 MULT18X18D used as a plain signed multiplier,
//! for the leaves that put their products in the ECP5's DSPs.
//!
//! yosys infers MULT18X18D from any `$mul`, but the 85F has 156 of them
//! and a 16x16 array has 256 products: the ECP5 flow turns inference off
//! (`synth_ecp5 -nodsp`, every other multiply becomes LUTs) and defines
//! `NPU_ECP5_DSP_PAIRS`, the number of PE pairs that get DSPs; each leaf
//! that may use one instantiates it under that define. The instance is
//! either combinational, the leaf registering its product in the fabric as
//! it does in every other build, or registered inside: its factors on the
//! way in and its product on the way out (`REG_INPUTA_CLK`,
//! `REG_INPUTB_CLK` and `REG_OUTPUT_CLK` on `CLK0`), two clock edges from
//! factors to product. Registered, the multiply has a clock period of its
//! own and the wires to and from the DSP one each, with no logic on them:
//! the form a large array at 100 MHz needs, its DSPs lying far from their
//! PEs. nextpnr places both forms (it lacks only the cascades).

/// A MULT18X18D named `name` with both factors signed: `p = a * b`, where
/// `a` and `b` are Verilog expressions of 18 bits and `p` a 36-bit wire.
/// With `clock`, the factors and the product are registered inside the DSP
/// on that clock's rising edge (`p` is the product of the factors two edges
/// before); without, the DSP is combinational.
pub fn mult18x18d(name: &str, a: &str, b: &str, p: &str, clock: Option<&str>) -> String {
    placed_mult18x18d(name, a, b, p, clock, "")
}

/// [`mult18x18d`] with `placement` written just before the cell: an
/// attribute, such as [`floorplan_site`]'s, or nothing.
pub fn placed_mult18x18d(name: &str, a: &str, b: &str, p: &str, clock: Option<&str>, placement: &str) -> String {
    let bits = |port: char, wire: &str, n: usize| (0..n).map(|i| format!(".{port}{i}({wire}[{i}])")).collect::<Vec<_>>().join(", ");
    let (registers, clk0) = match clock {
        Some(clock) => (" #(.REG_INPUTA_CLK(\"CLK0\"), .REG_INPUTB_CLK(\"CLK0\"), .REG_OUTPUT_CLK(\"CLK0\"))", clock),
        None => ("", "1'b0"),
    };
    format!(
        "wire [17:0] {name}_a = {a};\nwire [17:0] {name}_b = {b};\n\
         {placement}MULT18X18D{registers} {name} (\n    {}, \n    {},\n    {},\n    \
         .SIGNEDA(1'b1), .SIGNEDB(1'b1), .SOURCEA(1'b0), .SOURCEB(1'b0),\n    \
         .CLK0({clk0}), .CLK1(1'b0), .CLK2(1'b0), .CLK3(1'b0), .CE0(1'b1), .CE1(1'b1), .CE2(1'b1), .CE3(1'b1),\n    \
         .RST0(1'b0), .RST1(1'b0), .RST2(1'b0), .RST3(1'b0),\n    {}\n);\n",
        bits('A', &format!("{name}_a"), 18),
        bits('B', &format!("{name}_b"), 18),
        (0..18).map(|i| format!(".C{i}(1'b0)")).collect::<Vec<_>>().join(", "),
        bits('P', p, 36),
    )
}

/// The placement of DSP `n` (0 or 1) of an array's multiplier pair
/// `pair`, when the flow gives one: the flow's floorplan header (see
/// `npu_fpga::floorplan`) defines `NPU_DSP_SITE_<pair>_<n>` as the DSP's
/// site for each pair that gets DSPs, and nextpnr places the cell there
/// (the `BEL` attribute). Without the define, nothing (the pairs without
/// DSPs have the cell's text too, in the branch not generated).
pub fn floorplan_site(pair: usize, n: usize) -> String {
    format!("`ifdef NPU_DSP_SITE_{pair}_{n}\n(* BEL = `NPU_DSP_SITE_{pair}_{n} *)\n`endif\n")
}

/// `{{10{x[7]}}, x}`: a signed byte as the DSP's 18-bit factor.
pub fn byte_factor(x: &str) -> String {
    format!("{{{{10{{{x}[7]}}}}, {x}}}")
}


/// A simulation model of MULT18X18D in the two forms [`mult18x18d`] uses
/// (the factors' signedness from the SIGNEDA and SIGNEDB pins; no
/// registers, or the A, B and output registers on CLK0, enabled by CE0 and
/// reset synchronously by RST0), for Verilator: yosys ships the cell as a
/// black box only. The model takes the parameters yosys may write and
/// refuses any register mode it does not model.
pub fn mult18x18d_model() -> String {
    let names = |port: char, n: usize| (0..n).map(|i| format!("{port}{i}")).collect::<Vec<_>>();
    let mut inputs = Vec::new();
    for (port, n) in [('A', 18), ('B', 18), ('C', 18)] {
        inputs.extend(names(port, n));
    }
    inputs.extend(["SIGNEDA", "SIGNEDB", "SOURCEA", "SOURCEB"].map(String::from));
    for group in ["CLK", "CE", "RST"] {
        inputs.extend((0..4).map(|i| format!("{group}{i}")));
    }
    let outputs = names('P', 36);
    let bus = |port: char, n: usize| (0..n).rev().map(|i| format!("{port}{i}")).collect::<Vec<_>>().join(", ");
    let registers = ["REG_INPUTA_CLK", "REG_INPUTB_CLK", "REG_INPUTC_CLK", "REG_PIPELINE_CLK", "REG_OUTPUT_CLK"];
    format!(
        "// MULT18X18D: P = A * B (each signed when its pin says so), with or\n\
         // without the A, B and output registers on CLK0.\n\
         module MULT18X18D({}, {});\n\
         input {};\n\
         output {};\n\
         {}\n\
         parameter GSR = \"ENABLED\";\n\
         parameter RESETMODE = \"SYNC\";\n\
         parameter MULT_BYPASS = \"DISABLED\";\n\
         parameter SOURCEB_MODE = \"B_SHIFT\";\n\
         parameter CAS_MATCH_REG = \"FALSE\";\n\
         parameter HIGHSPEED_CLK = \"NONE\";\n\
         initial if (REG_INPUTC_CLK != \"NONE\" || REG_PIPELINE_CLK != \"NONE\") $fatal(1, \"MULT18X18D model: the C and pipeline registers are not modelled\");\n\
         initial if ({}) $fatal(1, \"MULT18X18D model: only CLK0 is modelled\");\n\
         wire [17:0] a_pins = {{{}}};\n\
         wire [17:0] b_pins = {{{}}};\n\
         reg [17:0] a_reg = 18'd0;\n\
         reg [17:0] b_reg = 18'd0;\n\
         reg [35:0] p_reg = 36'd0;\n\
         wire [17:0] a = REG_INPUTA_CLK == \"CLK0\" ? a_reg : a_pins;\n\
         wire [17:0] b = REG_INPUTB_CLK == \"CLK0\" ? b_reg : b_pins;\n\
         wire [35:0] a_wide = {{{{18{{SIGNEDA & a[17]}}}}, a}};\n\
         wire [35:0] b_wide = {{{{18{{SIGNEDB & b[17]}}}}, b}};\n\
         wire [35:0] p = a_wide * b_wide;\n\
         always @(posedge CLK0) if (RST0) begin\n\
             a_reg <= 18'd0;\n\
             b_reg <= 18'd0;\n\
             p_reg <= 36'd0;\n\
         end else if (CE0) begin\n\
             a_reg <= a_pins;\n\
             b_reg <= b_pins;\n\
             p_reg <= p;\n\
         end\n\
         assign {{{}}} = REG_OUTPUT_CLK == \"CLK0\" ? p_reg : p;\n\
         endmodule\n",
        inputs.join(", "),
        outputs.join(", "),
        inputs.join(", "),
        outputs.join(", "),
        registers.iter().map(|r| format!("parameter {r} = \"NONE\";")).collect::<Vec<_>>().join("\n"),
        registers.iter().map(|r| format!("({r} != \"NONE\" && {r} != \"CLK0\")")).collect::<Vec<_>>().join(" || "),
        bus('A', 18),
        bus('B', 18),
        bus('P', 36),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_port_is_wired_once() {
        for clock in [None, Some("clock")] {
            let v = mult18x18d("m", "x", "y", "p", clock);
            for port in ["A17", "B0", "C17", "P35", "SIGNEDA", "SIGNEDB", "CLK0"] {
                assert_eq!(v.matches(&format!(".{port}(")).count(), 1, "{port}");
            }
            assert_eq!(v.contains(".CLK0(clock)"), clock.is_some());
            assert_eq!(v.matches("(\"CLK0\")").count(), if clock.is_some() { 3 } else { 0 });
        }
        assert_eq!(byte_factor("a0"), "{{10{a0[7]}}, a0}");
        let placed = placed_mult18x18d("m", "x", "y", "p", None, &floorplan_site(3, 1));
        assert!(placed.contains("`ifdef NPU_DSP_SITE_3_1\n(* BEL = `NPU_DSP_SITE_3_1 *)\n`endif\nMULT18X18D m ("), "{placed}");
    }
}
