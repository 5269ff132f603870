//! The host side of the NPU.
//!
//! - [`transport`]: bytes to a device (serial port, in-process simulation);
//! - [`link`]: requests and answers, time-outs that name the command;
//! - [`driver`]: [`Npu`], any-shape GEMM and requantized GEMM, counters;
//! - [`plan`]: how a GEMM is cut to the array and the scratchpads;
//! - [`im2col`]: a convolution's operand built on chip by MOVEs;
//! - [`conv_on_chip`]: a convolution run that way, its map written once;
//! - [`program`]: stretches of commands stored in the device's program memory and run by RUN;
//! - [`cluster`]: one GEMM shared across several devices;
//! - [`daemon`]: one process owning a device, shared by local programs;
//! - [`digits`]: the end-to-end example, an INT8 MLP on the UCI digits;
//! - [`tops`]: TOPS in context (vendors' peaks, this machine's CPU measured);
//! - `cli`: the `npu` command line.

pub mod bench;
pub mod cli;
pub mod cluster;
pub mod conv_by_taps;
pub mod conv_on_chip;
pub mod daemon;
pub mod digits;
pub mod driver;
pub mod im2col;
pub mod link;
pub mod npy;
pub mod output;
pub mod placement;
pub mod plan;
pub mod plot;
pub mod program;
pub mod shadow;
pub mod tap_map;
pub mod tflite;
pub mod tops;
pub mod transport;

pub use cluster::Cluster;
pub use driver::{ChannelScale, DriverError, Npu, Requant, Utilization};
