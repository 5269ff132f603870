//! Verilog text of one ECP5 MULT18X18D used as a plain signed multiplier,
//! for the leaves that put their products in the ECP5's DSPs.
//!
//! yosys infers MULT18X18D from any `$mul`, but the 85F has 156 of them
//! and a 16x16 array has 256 products: the ECP5 flow turns inference off
//! (`synth_ecp5 -nodsp`, every other multiply becomes LUTs) and defines
//! `NPU_ECP5_DSP_PAIRS`, the number of PE pairs that get DSPs; each leaf
//! that may use one instantiates it under that define. The instance is
//! combinational (no input, pipeline or output register inside: nextpnr
//! places MULT18X18D in that basic form), and the leaf registers its
//! product in the fabric as it does in every other build.

/// A MULT18X18D named `name` with both factors signed: `p = a * b`, where
/// `a` and `b` are Verilog expressions of 18 bits and `p` a 36-bit wire.
pub fn mult18x18d(name: &str, a: &str, b: &str, p: &str) -> String {
    let bits = |port: char, wire: &str, n: usize| (0..n).map(|i| format!(".{port}{i}({wire}[{i}])")).collect::<Vec<_>>().join(", ");
    format!(
        "wire [17:0] {name}_a = {a};\nwire [17:0] {name}_b = {b};\n\
         MULT18X18D {name} (\n    {}, \n    {},\n    {},\n    \
         .SIGNEDA(1'b1), .SIGNEDB(1'b1), .SOURCEA(1'b0), .SOURCEB(1'b0),\n    \
         .CLK0(1'b0), .CLK1(1'b0), .CLK2(1'b0), .CLK3(1'b0), .CE0(1'b1), .CE1(1'b1), .CE2(1'b1), .CE3(1'b1),\n    \
         .RST0(1'b0), .RST1(1'b0), .RST2(1'b0), .RST3(1'b0),\n    {}\n);\n",
        bits('A', &format!("{name}_a"), 18),
        bits('B', &format!("{name}_b"), 18),
        (0..18).map(|i| format!(".C{i}(1'b0)")).collect::<Vec<_>>().join(", "),
        bits('P', p, 36),
    )
}

/// `{{10{x[7]}}, x}`: a signed byte as the DSP's 18-bit factor.
pub fn byte_factor(x: &str) -> String {
    format!("{{{{10{{{x}[7]}}}}, {x}}}")
}


/// A simulation model of MULT18X18D in the one form [`mult18x18d`] uses
/// (no registers, the factors' signedness from the SIGNEDA and SIGNEDB
/// pins), for Verilator: yosys ships the cell as a black box only. The
/// model takes the parameters yosys may write and refuses any register
/// mode it does not model.
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
        "// MULT18X18D without registers: P = A * B (each signed when its pin says so).\n\
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
         initial if ({}) $fatal(1, \"MULT18X18D model: registers are not modelled\");\n\
         wire [17:0] a = {{{}}};\n\
         wire [17:0] b = {{{}}};\n\
         wire [35:0] a_wide = {{{{18{{SIGNEDA & a[17]}}}}, a}};\n\
         wire [35:0] b_wide = {{{{18{{SIGNEDB & b[17]}}}}, b}};\n\
         wire [35:0] p = a_wide * b_wide;\n\
         assign {{{}}} = p;\n\
         endmodule\n",
        inputs.join(", "),
        outputs.join(", "),
        inputs.join(", "),
        outputs.join(", "),
        registers.iter().map(|r| format!("parameter {r} = \"NONE\";")).collect::<Vec<_>>().join("\n"),
        registers.iter().map(|r| format!("{r} != \"NONE\"")).collect::<Vec<_>>().join(" || "),
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
        let v = mult18x18d("m", "x", "y", "p");
        for port in ["A17", "B0", "C17", "P35", "SIGNEDA", "SIGNEDB"] {
            assert_eq!(v.matches(&format!(".{port}(")).count(), 1, "{port}");
        }
        assert_eq!(byte_factor("a0"), "{{10{a0[7]}}, a0}");
    }
}
