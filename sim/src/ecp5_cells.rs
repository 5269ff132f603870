//! Simulation models of the ECP5 cells that yosys ships only as black
//! boxes, for the netlist check of an ECP5 build (see `netlist`): DP16KD
//! block RAM in the forms yosys's memory mapping uses, MULT18X18D (from
//! npu-hdl, beside the leaves that instantiate it) and an ideal EHXPLLL.
//!
//! The DP16KD model follows Lattice's description of the cell (TN1264):
//! an 18-kbit array of 2048 nine-bit units. A port of width 9, 18 or 36
//! addresses 1, 2 or 4 units (address bits 13..3, 13..4, 13..5); at 18 the
//! two low address bits are the write's byte enables, at 36 (the pseudo
//! dual-port form: port A writes DIA and DIB, port B reads onto DOA and
//! DOB) the four low ones. Widths 1, 2 and 4 address the 16 kbits without
//! the ninth bits. A read is registered (REGMODE NOREG: the word appears
//! after the clock edge); on a write the port's output keeps its value
//! (NORMAL), shows the new word (WRITETHROUGH) or the old one
//! (READBEFOREWRITE). Both ports read before either writes. With REGMODE
//! OUTREG a port's word passes its output register, a cycle later: the
//! register takes it at each edge where OCE is high, and clears where RST
//! is (npu_fpga::bram_output_register folds a register after a read into
//! it). The model stops the simulation on any form it does not model
//! (the 36-bit form with an output register, chip-select decoding, a width
//! other than these).

/// The DP16KD model.
pub fn dp16kd_model() -> String {
    let pins = |p: &str, n: usize| (0..n).rev().map(|i| format!("{p}{i}")).collect::<Vec<_>>().join(", ");
    let initvals: String = (0..64).map(|i| format!("    parameter [319:0] INITVAL_{i:02X} = 320'h0;\n")).collect();
    let loads: String = (0..64).map(|i| format!("        load(INITVAL_{i:02X}, {i});\n")).collect();
    format!(
        r#"// npu: a model of the ECP5 DP16KD block RAM (see sim/src/ecp5_cells.rs).
module DP16KD(
    input {dia},
    input {ada},
    input CEA, OCEA, CLKA, WEA, RSTA, CSA2, CSA1, CSA0,
    output {doa},
    input {dib},
    input {adb},
    input CEB, OCEB, CLKB, WEB, RSTB, CSB2, CSB1, CSB0,
    output {dob}
);
    parameter DATA_WIDTH_A = 18;
    parameter DATA_WIDTH_B = 18;
    parameter REGMODE_A = "NOREG";
    parameter REGMODE_B = "NOREG";
    parameter RESETMODE = "SYNC";
    parameter ASYNC_RESET_RELEASE = "SYNC";
    parameter CSDECODE_A = "0b000";
    parameter CSDECODE_B = "0b000";
    parameter WRITEMODE_A = "NORMAL";
    parameter WRITEMODE_B = "NORMAL";
    parameter GSR = "ENABLED";
    parameter CLKAMUX = "CLKA";
    parameter CLKBMUX = "CLKB";
    parameter WID = 0;
    parameter INIT_DATA = "STATIC";
{initvals}
    reg [8:0] mem [0:2047];
    wire [13:0] ada = {{{ada}}};
    wire [13:0] adb = {{{adb}}};
    wire [17:0] dia = {{{dia}}};
    wire [17:0] dib = {{{dib}}};
    reg [17:0] doa = 18'h0;
    reg [17:0] dob = 18'h0;
    // The output registers (REGMODE OUTREG).
    reg [17:0] doa_reg = 18'h0;
    reg [17:0] dob_reg = 18'h0;
    assign {{{doa}}} = REGMODE_A == "OUTREG" ? doa_reg : doa;
    assign {{{dob}}} = REGMODE_B == "OUTREG" ? dob_reg : dob;

    task load(input [319:0] v, input integer idx);
        integer i;
        for (i = 0; i < 16; i = i + 1) begin
            mem[2 * (idx * 16 + i)] = v[i * 20 +: 9];
            mem[2 * (idx * 16 + i) + 1] = v[i * 20 + 9 +: 9];
        end
    endtask

    function ok_width(input integer w, input integer wide_ok);
        ok_width = w == 1 || w == 2 || w == 4 || w == 9 || w == 18 || (w == 36 && wide_ok != 0);
    endfunction

    integer u;
    initial begin
        if (!ok_width(DATA_WIDTH_A, 1) || !ok_width(DATA_WIDTH_B, 1) || (REGMODE_A != "NOREG" && REGMODE_A != "OUTREG")
            || (REGMODE_B != "NOREG" && REGMODE_B != "OUTREG") || ((DATA_WIDTH_A == 36 || DATA_WIDTH_B == 36) && (REGMODE_A != "NOREG" || REGMODE_B != "NOREG"))
            || CSDECODE_A != "0b000" || CSDECODE_B != "0b000" || CLKAMUX != "CLKA" || CLKBMUX != "CLKB")
            $fatal(1, "DP16KD model: a form it does not model");
        for (u = 0; u < 2048; u = u + 1) mem[u] = 9'h0;
{loads}    end

    // A read of `w` bits at address `a`, as the port's 18 output pins.
    function [17:0] read_word(input integer w, input [13:0] a);
        integer d;
        begin
            read_word = 18'h0;
            if (w == 9) read_word[8:0] = mem[a[13:3]];
            else if (w == 18) read_word = {{mem[{{a[13:4], 1'b1}}], mem[{{a[13:4], 1'b0}}]}};
            else begin
                for (d = 0; d < w; d = d + 1) read_word[d] = mem[({{2'b0, a}} / w * w + d) / 8][({{2'b0, a}} / w * w + d) % 8];
            end
        end
    endfunction

    // A write of `w` bits (up to 18) at address `a`; at 18 the two low
    // address bits enable the two nine-bit halves.
    task write_word(input integer w, input [13:0] a, input [17:0] di);
        integer d;
        if (w == 18) begin
            if (a[0]) mem[{{a[13:4], 1'b0}}] = di[8:0];
            if (a[1]) mem[{{a[13:4], 1'b1}}] = di[17:9];
        end else if (w == 9) mem[a[13:3]] = di[8:0];
        else for (d = 0; d < w; d = d + 1) mem[({{2'b0, a}} / w * w + d) / 8][({{2'b0, a}} / w * w + d) % 8] = di[d];
    endtask

    // The chip selects are unused: CSDECODE 0b000 with every CS pin low.
    wire a_on = CEA && {{CSA2, CSA1, CSA0}} == 3'b000;
    wire b_on = CEB && {{CSB2, CSB1, CSB0}} == 3'b000;
    // One clock for both ports (a port left unused has its clock tied low).
    wire clock = CLKA | CLKB;
    reg [17:0] old_a;
    reg [17:0] old_b;
    reg [35:0] old_wide;
    always @(posedge clock) begin
        // The output registers take the words read at the edge before.
        if (RSTA) doa_reg <= 18'h0;
        else if (OCEA) doa_reg <= doa;
        if (RSTB) dob_reg <= 18'h0;
        else if (OCEB) dob_reg <= dob;
        old_a = read_word(DATA_WIDTH_A == 36 ? 18 : DATA_WIDTH_A, ada);
        old_b = read_word(DATA_WIDTH_B == 36 ? 18 : DATA_WIDTH_B, adb);
        old_wide = {{mem[{{adb[13:5], 2'd3}}], mem[{{adb[13:5], 2'd2}}], mem[{{adb[13:5], 2'd1}}], mem[{{adb[13:5], 2'd0}}]}};
        // Writes.
        if (a_on && WEA) begin
            if (DATA_WIDTH_A == 36) begin
                if (ada[0]) mem[{{ada[13:5], 2'd0}}] = dia[8:0];
                if (ada[1]) mem[{{ada[13:5], 2'd1}}] = dia[17:9];
                if (ada[2]) mem[{{ada[13:5], 2'd2}}] = dib[8:0];
                if (ada[3]) mem[{{ada[13:5], 2'd3}}] = dib[17:9];
            end else write_word(DATA_WIDTH_A, ada, dia);
        end
        if (b_on && WEB && DATA_WIDTH_B != 36) write_word(DATA_WIDTH_B, adb, dib);
        // Reads.
        if (DATA_WIDTH_B == 36) begin
            if (b_on) begin
                if (RSTB) {{dob, doa}} <= 36'h0;
                else {{dob, doa}} <= old_wide;
            end
        end else begin
            if (a_on && DATA_WIDTH_A != 36) begin
                if (RSTA) doa <= 18'h0;
                else if (!WEA || WRITEMODE_A == "READBEFOREWRITE") doa <= old_a;
                else if (WRITEMODE_A == "WRITETHROUGH") doa <= read_word(DATA_WIDTH_A, ada);
            end
            if (b_on) begin
                if (RSTB) dob <= 18'h0;
                else if (!WEB || WRITEMODE_B == "READBEFOREWRITE") dob <= old_b;
                else if (WRITEMODE_B == "WRITETHROUGH") dob <= read_word(DATA_WIDTH_B, adb);
            end
        end
    end
endmodule
"#,
        dia = pins("DIA", 18),
        ada = pins("ADA", 14),
        doa = pins("DOA", 18),
        dib = pins("DIB", 18),
        adb = pins("ADB", 14),
        dob = pins("DOB", 18),
    )
}

/// EHXPLLL as an ideal PLL: the core clock is the board clock, locked from
/// the start (cycle counts are in core clocks, as everywhere else).
pub const IDEAL_EHXPLLL: &str = "
// npu: an ideal EHXPLLL for simulation (the core clock is the board clock).
module EHXPLLL (
    input CLKI, CLKFB, PHASESEL1, PHASESEL0, PHASEDIR, PHASESTEP, PHASELOADREG, STDBY, PLLWAKESYNC, RST, ENCLKOP, ENCLKOS, ENCLKOS2, ENCLKOS3,
    output CLKOP, CLKOS, CLKOS2, CLKOS3, LOCK, INTLOCK, REFCLK, CLKINTFB
);
    parameter CLKI_DIV = 1;
    parameter CLKFB_DIV = 1;
    parameter CLKOP_DIV = 8;
    parameter CLKOS_DIV = 8;
    parameter CLKOS2_DIV = 8;
    parameter CLKOS3_DIV = 8;
    parameter CLKOP_ENABLE = \"ENABLED\";
    parameter CLKOS_ENABLE = \"DISABLED\";
    parameter CLKOS2_ENABLE = \"DISABLED\";
    parameter CLKOS3_ENABLE = \"DISABLED\";
    parameter CLKOP_CPHASE = 0;
    parameter CLKOS_CPHASE = 0;
    parameter CLKOS2_CPHASE = 0;
    parameter CLKOS3_CPHASE = 0;
    parameter CLKOP_FPHASE = 0;
    parameter CLKOS_FPHASE = 0;
    parameter CLKOS2_FPHASE = 0;
    parameter CLKOS3_FPHASE = 0;
    parameter FEEDBK_PATH = \"CLKOP\";
    parameter CLKOP_TRIM_POL = \"RISING\";
    parameter CLKOP_TRIM_DELAY = 0;
    parameter CLKOS_TRIM_POL = \"RISING\";
    parameter CLKOS_TRIM_DELAY = 0;
    parameter OUTDIVIDER_MUXA = \"DIVA\";
    parameter OUTDIVIDER_MUXB = \"DIVB\";
    parameter OUTDIVIDER_MUXC = \"DIVC\";
    parameter OUTDIVIDER_MUXD = \"DIVD\";
    parameter PLL_LOCK_MODE = 0;
    parameter PLL_LOCK_DELAY = 200;
    parameter STDBY_ENABLE = \"DISABLED\";
    parameter REFIN_RESET = \"DISABLED\";
    parameter SYNC_ENABLE = \"DISABLED\";
    parameter INT_LOCK_STICKY = \"ENABLED\";
    parameter DPHASE_SOURCE = \"DISABLED\";
    parameter PLLRST_ENA = \"DISABLED\";
    parameter INTFB_WAKE = \"DISABLED\";
    assign CLKOP = CLKI;
    assign CLKOS = CLKI;
    assign CLKOS2 = CLKI;
    assign CLKOS3 = CLKI;
    assign LOCK = 1'b1;
    assign INTLOCK = 1'b1;
    assign REFCLK = CLKI;
    assign CLKINTFB = CLKI;
endmodule
";
