//! The open FPGA flow.
//!
//! - [`run`]: running an external tool with its log kept and its failure explained;
//! - [`yosys`]: synthesis and the statistics yosys reports;
//! - [`board`], [`pll`], [`wrapper`]: board files, PLL settings, the board top level and pins;
//! - [`floorplan`]: where the array's DSPs go on an ECP5;
//! - [`bram_output_register`]: the registers after ECP5 block RAM reads folded into the block RAMs;
//! - [`flow`]: the whole board build (yosys, nextpnr, pack) and its report.

pub mod board;
pub mod bram_output_register;
pub mod floorplan;
pub mod flow;
pub mod pll;
pub mod run;
pub mod wrapper;
pub mod yosys;

pub use run::ToolError;
pub use yosys::{synth_ecp5, synth_generic, synth_ice40, SynthStats};
