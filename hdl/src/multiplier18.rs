//! One signed 18 x 18 multiply with registered factors and product: a
//! quarter of the pipelined requantizer's 32 x 32 multiply.
//!
//! A leaf with hand-written Verilog, like [`crate::MultiplierPair`]: with
//! `NPU_ECP5_DSP_PAIRS` defined (the ECP5 flow, which infers no DSPs) one
//! MULT18X18D with its input and output registers, otherwise a `$signed`
//! multiply between two fabric registers, which every simulator and
//! synthesis tool takes. rust-hdl's own multiply is 16 x 16 unsigned.
//!
//! The factors are registered inside the DSP because the DSP lies wherever
//! the placer finds one: on the ECP5 8x8 at 100 MHz the slowest path was a
//! factor register 5.13 ns of wire from its MULT18X18D, then the DSP's
//! unregistered multiply (3.93 ns). Registered at the DSP, the wire and the
//! multiply each have a clock period.

use rust_hdl::core::timing::TimingInfo;
use rust_hdl::prelude::*;

/// Clock edges from the factors to their product.
pub const LATENCY: usize = 2;

/// `p = a * b`, both signed, two clock edges after the factors.
#[derive(LogicBlock, Default)]
pub struct Multiplier18 {
    pub clock: Signal<In, Clock>,
    pub a: Signal<In, Bits<18>>,
    pub b: Signal<In, Bits<18>>,
    /// The product, 36-bit two's complement (exact).
    pub p: Signal<Out, Bits<36>>,
    /// The registered factors (inside the DSP on the ECP5).
    held_a: Signal<Local, Bits<18>>,
    held_b: Signal<Local, Bits<18>>,
}

/// The exact product of two signed 18-bit factors, as 36-bit two's complement.
pub fn product18(a: Bits<18>, b: Bits<18>) -> Bits<36> {
    let signed = |x: Bits<18>| ((x.to_u64() << 46) as i64) >> 46;
    let p = signed(a) * signed(b);
    (p as u64 & ((1u64 << 36) - 1)).into()
}

fn verilog_body() -> String {
    format!(
        "`ifdef NPU_ECP5_DSP_PAIRS\nwire [35:0] y;\n{}always @(*) begin\n    held_a = 18'd0;\n    held_b = 18'd0;\n    p = y;\nend\n`else\nalways @(posedge clock) begin\n    held_a <= a;\n    held_b <= b;\n    p <= $signed(held_a) * $signed(held_b);\nend\n`endif\n",
        crate::ecp5_dsp::mult18x18d("dsp", "a", "b", "y", Some("clock"))
    )
}

impl Logic for Multiplier18 {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            self.p.next = product18(self.held_a.val(), self.held_b.val());
            self.held_a.next = self.a.val();
            self.held_b.next = self.b.val();
        }
    }

    fn connect(&mut self) {
        self.p.connect();
        self.held_a.connect();
        self.held_b.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(verilog_body())
    }

    fn timing(&self) -> Vec<TimingInfo> {
        vec![TimingInfo { name: "multiplier18".into(), clock: "clock".into(), inputs: vec!["a".into(), "b".into()], outputs: vec!["p".into()] }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rust_model_is_exact_at_the_edges() {
        let max = (1i64 << 17) - 1;
        let min = -(1i64 << 17);
        for a in [min, min + 1, -1, 0, 1, 12345, max] {
            for b in [min, -77, -1, 0, 1, max - 3, max] {
                let to = |x: i64| Bits::<18>::from(x as u64 & ((1 << 18) - 1));
                let p = product18(to(a), to(b)).to_u64();
                assert_eq!(((p << 28) as i64) >> 28, a * b, "{a} * {b}");
            }
        }
    }
}
