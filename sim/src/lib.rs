//! Simulation of the NPU hardware.
//!
//! - [`clocked`]: steps any rust-hdl block one clock cycle at a time, in this
//!   thread, with rust-hdl's own simulator semantics;
//! - [`array`]: runs GEMM tiles through the systolic array in that simulator
//!   and reads the results back, cycle by cycle as the hardware would;
//! - [`verilator`]: Verilator lint of the generated Verilog.

pub mod array;
pub mod clocked;
pub mod ecp5_cells;
pub mod fuzz;
pub mod gemm_bench;
pub mod netlist;
pub mod npu_sim;
pub mod requant_bench;
pub mod verilated;
pub mod verilator;
pub mod virtual_board;

pub use array::{ArrayRun, ArraySim, TileError};
pub use clocked::Clocked;
