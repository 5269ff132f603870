//! The host side of the NPU toolkit. For now: the `npu` command line over
//! the hardware generator, the simulators and the FPGA flow.

pub mod cli;
pub mod output;
