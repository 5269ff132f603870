//! One byte into a CRC-16/CCITT-FALSE, combinationally.
//!
//! The Rust model is the host's own function (`npu_spec::protocol::crc16_update`),
//! so the hardware and the host compute the CRC from one definition; the
//! Verilog is the same byte-wise formula, checked against it by the tests.

use npu_spec::protocol::crc16_update;
use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct Crc16Step {
    /// The CRC so far.
    pub crc_in: Signal<In, Bits<16>>,
    /// The next byte.
    pub data: Signal<In, Bits<8>>,
    /// The CRC including `data`.
    pub crc_out: Signal<Out, Bits<16>>,
}

/// x = (crc >> 8) ^ data; x ^= x >> 4; crc' = (crc << 8) ^ (x << 12) ^ (x << 5) ^ x.
pub const VERILOG_BODY: &str = "\
wire [7:0] x0 = crc_in[15:8] ^ data;
wire [7:0] x = x0 ^ {4'b0000, x0[7:4]};
always @(*) crc_out = {crc_in[7:0], 8'h00} ^ {x[3:0], 12'h000} ^ {3'b000, x, 5'b00000} ^ {8'h00, x};
";

impl Logic for Crc16Step {
    fn update(&mut self) {
        let next = crc16_update(self.crc_in.val().to_u16(), self.data.val().to_u8());
        self.crc_out.next = u64::from(next).into();
    }

    fn connect(&mut self) {
        self.crc_out.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(VERILOG_BODY.into())
    }
}
