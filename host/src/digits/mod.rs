//! The end-to-end example: a small INT8 MLP (64-32-10, ReLU) classifying the
//! UCI optical digits on the NPU.
//!
//! Data: E. Alpaydin and C. Kaynak (1998), *Optical Recognition of
//! Handwritten Digits*, UCI Machine Learning Repository, CC BY 4.0; the
//! 1797-image set as scikit-learn ships it (`data/digits/`).
//!
//! - [`dataset`]: the images and labels, and the fixed train/test split;
//! - [`train`]: float training (SGD) and INT8 quantization, deterministic;
//! - [`model`]: the quantized network, its file, the CPU INT8 reference and
//!   inference on NPUs.

pub mod dataset;
pub mod model;
pub mod train;

pub use dataset::Digits;
pub use model::QuantizedMlp;
