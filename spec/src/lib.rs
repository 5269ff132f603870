//! Shared facts of the npu toolkit, used by the hardware (`npu-hdl`), the
//! simulators (`npu-sim`), the FPGA flow (`npu-fpga`) and the host (`npu-host`):
//!
//! - [`config`]: the one hardware configuration type, [`NpuConfig`], read from TOML;
//! - [`matrix`] and [`reference`]: the exact GEMM semantics the hardware must have;
//! - [`tools`]: the external programs the toolkit drives, and how to install them.
//!
//! Nothing here depends on rust-hdl, so the host can use it without the HDL.

pub mod config;
pub mod device_model;
pub mod matrix;
pub mod protocol;
pub mod reference;
pub mod requant;
pub mod tools;

pub mod rng;

pub use config::{ConfigError, Dataflow, NpuConfig};
pub use matrix::{Matrix, ShapeError};
pub use reference::gemm_reference;
