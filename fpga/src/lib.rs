//! The open FPGA flow.
//!
//! - [`run`]: running an external tool with its log kept and its failure explained;
//! - [`yosys`]: synthesis and the statistics yosys reports.

pub mod run;
pub mod yosys;

pub use run::ToolError;
pub use yosys::{synth_generic, synth_ice40, SynthStats};
