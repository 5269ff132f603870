//! int8 TensorFlow Lite models on the NPU (`npu run`).
//!
//! - [`model`]: a `.tflite` file read into operators with their tensors,
//!   refused with one clear line when it holds what this runtime lacks;
//! - [`kernels`]: TFLite's reference kernels, bit for bit;
//! - [`runtime`]: a batch through the model, GEMM-shaped layers on the NPU;
//! - [`chain`]: layers chained on chip, item by item, only the ends on the link;
//! - [`report`]: per layer and in total, what ran where and what it cost;
//! - [`builder`]: `.tflite` files written from Rust (the test models).

pub mod builder;
pub mod chain;
pub mod fixed_point;
pub mod kernels;
pub mod model;
pub mod report;
pub mod runtime;
