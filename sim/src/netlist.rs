//! The synthesised iCE40 netlist of a board build, simulated in Verilator
//! with yosys's own models of the iCE40 cells (`ice40/cells_sim.v`): the
//! logic that went into the bitstream, LUT by LUT, driven through its UART
//! pins like the RTL.
//!
//! The PLL is the one cell with no model (yosys declares SB_PLL40_PAD as a
//! black box); here it is an ideal one: the core clock is the board clock
//! and it is locked from the start. Cycle counts are therefore in core
//! clocks, as everywhere else.

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

/// A board build's netlist (top module `top`, ports as the board wrapper
/// writes them) behind the NPU's pins.
pub fn netlist_npu(netlist: &str, top: &str, busy_active_low: bool) -> Result<VerilatedNpu, ModelError> {
    let port = |name: &str, input: bool| Port { name: name.into(), width: 1, input };
    let spec = ModelSpec {
        sources: vec![("cells_sim.v".into(), ice40_cell_models()?), ("netlist.v".into(), netlist.to_string())],
        top: top.into(),
        ports: vec![port("clock", true), port("uart_rx", true), port("uart_tx", false), port("led_busy", false), port("led_wait", false)],
        flags: vec!["-DNO_ICE40_DEFAULT_ASSIGNMENTS".into(), "--no-timing".into(), "-Wno-fatal".into()],
    };
    VerilatedNpu::on_pins(VerilatedModel::build(&spec, None)?, "led_busy", busy_active_low)
}
