//! A dual-port RAM of 32-bit words whose writes may take single bytes.
//!
//! The NPU's accumulator and bias banks hold INT32 words, but the link
//! writes them a byte at a time. With a byte write enable the executor
//! writes each byte where it belongs as it arrives, instead of assembling
//! the word in a 32-bit register behind a byte shifter (about 70 iCE40
//! logic cells). yosys maps the byte enables onto the block RAM's write
//! mask (iCE40 EBR in 256x16 mode, ECP5 DP16KD), so they cost no logic.
//!
//! Like [`crate::Ram`]: one registered read port, one write port, 16-bit
//! addresses of which the bits above the depth are ignored. A read of the
//! entry written in the same cycle returns a value its user ignores (no
//! bypass logic is built).

use crate::ram::{registered_read_timing, unused_address_bits, ADDRESS_BITS};
use rust_hdl::core::timing::TimingInfo;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct WordRam {
    pub clock: Signal<In, Clock>,
    /// Entry to read; its word appears on `read_data` after the next edge.
    pub read_address: Signal<In, Bits<ADDRESS_BITS>>,
    pub read_data: Signal<Out, Bits<32>>,
    /// Entry written at the edge: byte `b` of `write_data` where bit `b` of
    /// `write_bytes` is set (0xF writes the whole word, 0 nothing).
    pub write_address: Signal<In, Bits<ADDRESS_BITS>>,
    pub write_data: Signal<In, Bits<32>>,
    pub write_bytes: Signal<In, Bits<4>>,
    /// The contents, for rust-hdl's simulator (not part of the hardware).
    _contents: Vec<Bits<32>>,
}

impl WordRam {
    /// A RAM of `depth` words (a power of two, at most 65536), all zero.
    pub fn new(depth: usize) -> Self {
        assert!(depth.is_power_of_two() && (2..=1 << ADDRESS_BITS).contains(&depth), "RAM depth {depth}");
        Self {
            clock: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            write_address: Default::default(),
            write_data: Default::default(),
            write_bytes: Default::default(),
            _contents: vec![Bits::default(); depth],
        }
    }

    pub fn depth(&self) -> usize {
        self._contents.len()
    }

    /// The word at `index`, as the simulated hardware holds it now.
    pub fn peek(&self, index: usize) -> Bits<32> {
        self._contents[index]
    }

    /// Sets the word at `index` directly, for tests that preload memory.
    pub fn poke(&mut self, index: usize, value: Bits<32>) {
        self._contents[index] = value;
    }

    fn index(&self, address: Bits<ADDRESS_BITS>) -> usize {
        address.index() & (self.depth() - 1)
    }
}

impl Logic for WordRam {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            self.read_data.next = self._contents[self.index(self.read_address.val())];
            let bytes = self.write_bytes.val().to_u64();
            if bytes != 0 {
                let i = self.index(self.write_address.val());
                let mask: u64 = (0..4).filter(|b| bytes >> b & 1 == 1).map(|b| 0xFF << (8 * b)).sum();
                let old = self._contents[i].to_u64();
                let new = (old & !mask) | (self.write_data.val().to_u64() & mask);
                self._contents[i] = new.into();
            }
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn timing(&self) -> Vec<TimingInfo> {
        registered_read_timing("word_ram", "write_bytes")
    }

    fn hdl(&self) -> Verilog {
        let address_bits = self.depth().trailing_zeros() as usize;
        let unused = unused_address_bits(address_bits);
        Verilog::Custom(format!(
            "\
(* ram_style = \"block\", no_rw_check *) reg [31:0] mem [0:{last}];
{unused}always @(posedge clock) begin
    if (write_bytes[0]) mem[write_address[{amsb}:0]][7:0] <= write_data[7:0];
    if (write_bytes[1]) mem[write_address[{amsb}:0]][15:8] <= write_data[15:8];
    if (write_bytes[2]) mem[write_address[{amsb}:0]][23:16] <= write_data[23:16];
    if (write_bytes[3]) mem[write_address[{amsb}:0]][31:24] <= write_data[31:24];
    read_data <= mem[read_address[{amsb}:0]];
end
",
            last = self.depth() - 1,
            amsb = address_bits - 1,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(ram: &mut WordRam) {
        ram.clock.next = Clock::from(true);
        simulate(ram, 100);
        ram.clock.next = Clock::from(false);
        simulate(ram, 100);
    }

    #[test]
    fn writes_only_the_enabled_bytes() {
        let mut ram = WordRam::new(8);
        ram.connect_all();
        ram.write_address.next = 5.into();
        ram.write_data.next = 0x1122_3344.into();
        ram.write_bytes.next = 0xF.into();
        tick(&mut ram);
        ram.write_data.next = 0xAAAA_AAAA_u64.into();
        ram.write_bytes.next = 0b0100.into();
        tick(&mut ram);
        ram.write_bytes.next = 0.into();
        tick(&mut ram);
        // Bits above the depth are ignored: 13 is entry 5 of 8.
        ram.read_address.next = 13.into();
        tick(&mut ram);
        assert_eq!(ram.read_data.val().to_u64(), 0x11AA_3344);
        assert_eq!(ram.peek(5).to_u64(), 0x11AA_3344);
    }
}
