//! The synthesised netlist of a board build, simulated in Verilator with
//! yosys's own models of the cells (`ice40/cells_sim.v`, `ecp5/cells_sim.v`):
//! the logic that went into the bitstream, LUT by LUT, driven through its
//! UART pins like the RTL.
//!
//! The PLLs have no model (yosys declares SB_PLL40_PAD and EHXPLLL as black
//! boxes); here each is an ideal one: the core clock is the board clock and
//! it is locked from the start. Cycle counts are therefore in core clocks,
//! as everywhere else. The ECP5's DP16KD and MULT18X18D are black boxes in
//! yosys too: they get the models of `ecp5_cells` and `npu_hdl::ecp5_dsp`.

use crate::npu_sim::VerilatedNpu;
use crate::verilated::{ModelError, ModelSpec, Port, VerilatedModel};

/// yosys's iCE40 cell models, made ready for Verilator: port default values
/// off (`NO_ICE40_DEFAULT_ASSIGNMENTS`; yosys connects every port it uses)
/// and the PLL black box replaced by an ideal PLL.
pub fn ice40_cell_models() -> Result<String, ModelError> {
    let dir = npu_spec::tools::yosys_share_dir().map_err(ModelError::Setup)?;
    let path = dir.join("ice40").join("cells_sim.v");
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Setup(format!("cannot read {}: {e}", path.display())))?;
    let renamed = text.replacen("module SB_PLL40_PAD (", "module SB_PLL40_PAD_black_box (", 1);
    if renamed == text {
        return Err(ModelError::Setup(format!("{} has no SB_PLL40_PAD module to replace", path.display())));
    }
    Ok(renamed + IDEAL_PLL)
}

/// SB_PLL40_PAD with its ports and parameters, passing the clock through.
const IDEAL_PLL: &str = "
// npu: an ideal PLL for simulation (the core clock is the board clock).
module SB_PLL40_PAD (
    input PACKAGEPIN, output PLLOUTCORE, output PLLOUTGLOBAL, input EXTFEEDBACK,
    input [7:0] DYNAMICDELAY, output LOCK, input BYPASS, input RESETB,
    input LATCHINPUTVALUE, output SDO, input SDI, input SCLK
);
    parameter FEEDBACK_PATH = \"SIMPLE\";
    parameter DELAY_ADJUSTMENT_MODE_FEEDBACK = \"FIXED\";
    parameter DELAY_ADJUSTMENT_MODE_RELATIVE = \"FIXED\";
    parameter SHIFTREG_DIV_MODE = 1'b0;
    parameter FDA_FEEDBACK = 4'b0000;
    parameter FDA_RELATIVE = 4'b0000;
    parameter PLLOUT_SELECT = \"GENCLK\";
    parameter DIVR = 4'b0000;
    parameter DIVF = 7'b0000000;
    parameter DIVQ = 3'b000;
    parameter FILTER_RANGE = 3'b000;
    parameter ENABLE_ICEGATE = 1'b0;
    parameter TEST_MODE = 1'b0;
    parameter EXTERNAL_DIVIDE_FACTOR = 1;
    assign PLLOUTCORE = PACKAGEPIN;
    assign PLLOUTGLOBAL = PACKAGEPIN;
    assign LOCK = 1'b1;
    assign SDO = 1'b0;
    wire unused_pll_inputs = &{1'b0, EXTFEEDBACK, DYNAMICDELAY, BYPASS, RESETB, LATCHINPUTVALUE, SDI, SCLK};
endmodule
";

/// yosys's ECP5 cell models with its included files inlined, the DP16KD
/// black box replaced by our model, and models of MULT18X18D and EHXPLLL.
pub fn ecp5_cell_models() -> Result<String, ModelError> {
    let dir = npu_spec::tools::yosys_share_dir().map_err(ModelError::Setup)?.join("ecp5");
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|e| ModelError::Setup(format!("cannot read {}: {e}", path.display())))
    };
    let mut text = read("cells_sim.v")?;
    for include in ["cells_ff.vh", "cells_io.vh"] {
        text = text.replace(&format!("`include \"{include}\""), &read(include)?);
    }
    let renamed = text.replacen("module DP16KD(", "module DP16KD_black_box(", 1);
    if renamed == text {
        return Err(ModelError::Setup(format!("{} has no DP16KD module to replace", dir.join("cells_sim.v").display())));
    }
    Ok(renamed + &crate::ecp5_cells::dp16kd_model() + &npu_hdl::ecp5_dsp::mult18x18d_model() + crate::ecp5_cells::IDEAL_EHXPLLL)
}

/// The FPGA family of a netlist, for its cell models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ice40,
    Ecp5,
}

/// A board build's netlist of `family` (top module `top`, ports as the
/// board wrapper writes them) behind the NPU's pins.
pub fn netlist_npu(family: Family, netlist: &str, top: &str, busy_active_low: bool) -> Result<VerilatedNpu, ModelError> {
    let port = |name: &str, input: bool| Port { name: name.into(), width: 1, input };
    let (cells, flags) = match family {
        Family::Ice40 => (ice40_cell_models()?, vec!["-DNO_ICE40_DEFAULT_ASSIGNMENTS".to_string()]),
        Family::Ecp5 => (ecp5_cell_models()?, vec![]),
    };
    let spec = ModelSpec {
        sources: vec![("cells_sim.v".into(), cells), ("netlist.v".into(), netlist.to_string())],
        top: top.into(),
        ports: vec![port("clock", true), port("uart_rx", true), port("uart_tx", false), port("led_busy", false), port("led_wait", false)],
        flags: flags.into_iter().chain(["--no-timing".to_string(), "-Wno-fatal".to_string()]).collect(),
    };
    VerilatedNpu::on_pins(VerilatedModel::build(&spec, None)?, "led_busy", busy_active_low)
}
