//! A register that synthesis keeps even beside an identical one: for copies
//! of a register made to cut a long, heavily loaded wire.
//!
//! yosys merges registers with the same clock and input (`opt_merge`), and a
//! `keep` attribute on the register or its instance does not stop it
//! (measured with yosys 0.23 and 0.70: two such 4-bit registers become 4
//! TRELLIS_FF). Copies written as rust-hdl `DFF`s therefore end up as one
//! register driving every load, as if never copied. Under `NPU_ECP5` (the
//! ECP5 flow's define) this register is instead one TRELLIS_FF instance per
//! bit, which `opt_merge` leaves alone; everywhere else (Verilator, the iCE40
//! flow, where no config makes copies) it is the same Verilog as a `DFF`.

use rust_hdl::core::timing::TimingInfo;
use rust_hdl::prelude::*;

/// `q` is `d` a clock edge later, as a `DFF`, starting at zero.
#[derive(LogicBlock, Default)]
pub struct KeptRegister<T: Synth> {
    pub d: Signal<In, T>,
    pub q: Signal<Out, T>,
    pub clock: Signal<In, Clock>,
}

impl<T: Synth> Logic for KeptRegister<T> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            self.q.next = self.d.val();
        }
    }

    fn connect(&mut self) {
        self.q.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(verilog_body(T::BITS))
    }

    fn timing(&self) -> Vec<TimingInfo> {
        vec![TimingInfo { name: "kept_register".into(), clock: "clock".into(), inputs: vec!["d".into()], outputs: vec!["q".into()] }]
    }
}

/// The register's body: `kept_q` is the flip-flops, `q` follows it.
fn verilog_body(bits: usize) -> String {
    verilog("kept", "clock", "d", "kept_q", bits) + "always @(*) q = kept_q;\n"
}

/// Verilog of a `bits`-wide register `q` (declared here), `d` a rising edge
/// of `clock` later and zero at the start: under `NPU_ECP5` one TRELLIS_FF
/// per bit in a generate block named `name`, which yosys does not merge with
/// its copies, and elsewhere a plain `reg`. For any block that keeps copies
/// of a register in its own Verilog.
pub fn verilog(name: &str, clock: &str, d: &str, q: &str, bits: usize) -> String {
    format!(
        "`ifdef NPU_ECP5\n\
         wire [{top}:0] {q};\n\
         genvar {name}_bit;\n\
         generate for ({name}_bit = 0; {name}_bit < {bits}; {name}_bit = {name}_bit + 1) begin : {name}\n    \
         TRELLIS_FF #(.GSR(\"DISABLED\"), .CEMUX(\"1\"), .CLKMUX(\"CLK\"), .LSRMUX(\"LSR\"), .REGSET(\"RESET\")) ff (.CLK({clock}), .LSR(1'b0), .DI({d}[{name}_bit]), .Q({q}[{name}_bit]));\n\
         end endgenerate\n\
         `else\n\
         reg [{top}:0] {q};\n\
         initial {q} = 0;\n\
         always @(posedge {clock}) {q} <= {d};\n\
         `endif\n",
        top = bits - 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_by_one_edge() {
        let mut r = KeptRegister::<Bits<8>>::default();
        r.connect_all();
        for t in 1..5u64 {
            r.d.next = (t * 3).into();
            r.clock.next = Clock::from(false);
            simulate(&mut r, 100);
            assert_eq!(r.q.val().to_u64(), if t == 1 { 0 } else { (t - 1) * 3 });
            r.clock.next = Clock::from(true);
            simulate(&mut r, 100);
            assert_eq!(r.q.val().to_u64(), t * 3);
        }
    }

    #[test]
    fn is_a_primitive_per_bit_on_the_ecp5_and_a_dff_elsewhere() {
        let v = verilog_body(8);
        assert!(v.contains("kept_bit < 8;"), "{v}");
        assert!(v.contains(".DI(d[kept_bit]), .Q(kept_q[kept_bit])"), "{v}");
        assert!(v.contains("`else\nreg [7:0] kept_q;\ninitial kept_q = 0;\nalways @(posedge clock) kept_q <= d;\n`endif\nalways @(*) q = kept_q;"), "{v}");
    }
}
