//! The quantized network: its weight file, the CPU INT8 reference, and
//! inference on NPUs (layer 1 as a requantized GEMM with bias and ReLU,
//! layer 2 as a GEMM whose INT32 sums get their bias on the host).

use super::train::argmax;
use crate::driver::{DriverError, Npu, Requant};
use anyhow::{bail, Context, Result};
use npu_spec::requant::{requantize, RequantParams, MAX_SHIFT};
use npu_spec::{gemm_reference, Matrix};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The shipped weights (`npu train digits` writes this file).
pub const SHIPPED: &str = include_str!("../../../data/digits/mlp-64-32-10.toml");

/// Everything the INT8 network is, as its file stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantizedMlp {
    pub inputs: usize,
    pub hidden: usize,
    pub outputs: usize,
    /// inputs x hidden, row-major (input-major).
    pub w1: Vec<i8>,
    /// One per hidden unit, at the scale of layer 1's accumulators.
    pub b1: Vec<i32>,
    /// Layer 1's requantization to the hidden scale (Q31 and shift).
    pub multiplier: i32,
    pub shift: u8,
    /// hidden x outputs, row-major.
    pub w2: Vec<i8>,
    pub b2: Vec<i32>,
}

/// What a batch of images gives: layer 1's INT8 output and the logits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    pub hidden: Matrix<i8>,
    pub logits: Matrix<i32>,
}

impl Outputs {
    pub fn classes(&self) -> Vec<usize> {
        (0..self.logits.rows()).map(|i| argmax(self.logits.row(i))).collect()
    }
}

impl QuantizedMlp {
    /// The shipped network.
    pub fn shipped() -> Self {
        Self::parse(SHIPPED).expect("the shipped weight file parses")
    }

    pub fn parse(text: &str) -> Result<Self> {
        let m: Self = toml::from_str(text).map_err(|e| anyhow::anyhow!("not a weight file of the digits network: {}", e.message().lines().collect::<Vec<_>>().join("; ")))?;
        m.check()?;
        Ok(m)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    pub fn to_text(&self) -> String {
        let mut s = String::from(
            "# The int8 MLP of `npu infer digits` (64-32-10, ReLU), written by `npu train digits`.\n\
             # Data: UCI Optical Recognition of Handwritten Digits (Alpaydin & Kaynak, 1998), CC BY 4.0.\n",
        );
        s.push_str(&toml::to_string(self).expect("plain numbers serialize"));
        s
    }

    fn check(&self) -> Result<()> {
        if self.w1.len() != self.inputs * self.hidden || self.b1.len() != self.hidden || self.w2.len() != self.hidden * self.outputs || self.b2.len() != self.outputs {
            bail!("the weight and bias lengths do not match inputs = {}, hidden = {}, outputs = {}", self.inputs, self.hidden, self.outputs);
        }
        if self.shift > MAX_SHIFT {
            bail!("shift {} is above {MAX_SHIFT}", self.shift);
        }
        Ok(())
    }

    pub fn w1(&self) -> Matrix<i8> {
        Matrix::from_vec(self.inputs, self.hidden, self.w1.clone()).expect("checked")
    }

    pub fn w2(&self) -> Matrix<i8> {
        Matrix::from_vec(self.hidden, self.outputs, self.w2.clone()).expect("checked")
    }

    /// Layer 1's requantization: bias, multiplier, shift, ReLU into 0..127.
    pub fn layer1_requant(&self) -> Requant {
        Requant { params: RequantParams { multiplier: self.multiplier, shift: self.shift, zero_point: 0, min: 0, max: 127 }, bias: Some(self.b1.clone()), channels: None, residual: None }
    }

    fn add_b2(&self, mut sums: Matrix<i32>) -> Matrix<i32> {
        for i in 0..sums.rows() {
            for j in 0..self.outputs {
                sums.set(i, j, sums.get(i, j).wrapping_add(self.b2[j]));
            }
        }
        sums
    }

    /// The CPU INT8 reference: what the NPU must give, bit for bit.
    pub fn reference(&self, x: &Matrix<i8>) -> Outputs {
        let acc1 = gemm_reference(x, &self.w1()).expect("64 pixels per image");
        let q = self.layer1_requant();
        let hidden = Matrix::from_fn(acc1.rows(), self.hidden, |i, j| requantize(acc1.get(i, j), self.b1[j], &q.params));
        let logits = self.add_b2(gemm_reference(&hidden, &self.w2()).expect("chained"));
        Outputs { hidden, logits }
    }

    /// The network on one NPU.
    pub fn run(&self, npu: &mut Npu, x: &Matrix<i8>) -> Result<Outputs, DriverError> {
        let hidden = npu.gemm_requant(x, &self.w1(), &self.layer1_requant())?;
        let logits = self.add_b2(npu.gemm(&hidden, &self.w2())?);
        Ok(Outputs { hidden, logits })
    }
}
