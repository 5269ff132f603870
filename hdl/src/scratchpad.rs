//! A scratchpad: the A or B operand bank, one byte per array lane per entry,
//! behind a single address.
//!
//! Only one thing touches a scratchpad at a time (the executor's cursor while
//! it writes or reads a bank, the GEMM engine while it runs), so one address
//! serves reads and writes, as in a single-port RAM. Lanes are stored in pairs,
//! 16 bits wide with a byte write enable per lane: that is the shape of the
//! iCE40UP5K's SPRAM (SB_SPRAM256KA, 16K x 16, nibble write masks), so yosys
//! (`synth_ice40 -spram`) puts a 4x4 array's two banks of 16K entries into the
//! part's four SPRAMs and leaves the block RAM for the rest; on other parts the
//! same Verilog becomes block RAM with byte enables.
//!
//! Reads are registered and hold their value through a write cycle (what the
//! SPRAM does), so the read data of the entry addressed in the previous
//! non-writing cycle stays on `read_data`.

use crate::kept_register;
use crate::ram::ADDRESS_BITS;
use rust_hdl::core::timing::TimingInfo;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Scratchpad {
    pub clock: Signal<In, Clock>,
    /// The entry read (or written, when `write_enable`) at the next edge.
    /// Bits above the depth are ignored: the controller checks every address.
    pub address: Signal<In, Bits<ADDRESS_BITS>>,
    /// With copies (`with_address_copies`, else none): the next cycle's
    /// address, which the scratchpad registers once for each memory (pair
    /// of lanes), each memory then reading its copy and not `address`. On a
    /// large die one address net to every memory's block RAMs is a long
    /// wire (13.5 ns to the 16x16's 64 DP16KD of A); a copy lies beside its
    /// memory. The copies are kept registers (see crate::kept_register):
    /// yosys would merge plain ones back into one.
    pub address_next: Vec<Signal<In, Bits<ADDRESS_BITS>>>,
    /// With copies, likewise the next cycle's `write_data`: one register
    /// a memory, for the same reason (14 ns of wire from one register to
    /// the 16x16's B memories).
    pub write_data_next: Vec<Signal<In, Bits<8>>>,
    /// With copies, likewise the next cycle's `write_enable` and
    /// `write_lane`: each memory registers its own byte enables, decoded
    /// (and its read enable), so that no enable crosses the die from one
    /// register (on the 16x16 ECP5 build, 6.3 ns of wire to an A memory).
    pub write_enable_next: Vec<Signal<In, Bit>>,
    pub write_lane_next: Vec<Signal<In, Bits<8>>>,
    /// The byte written into lane `write_lane` of the entry.
    pub write_data: Signal<In, Bits<8>>,
    pub write_lane: Signal<In, Bits<8>>,
    pub write_enable: Signal<In, Bit>,
    /// Each lane's byte of the entry last read.
    pub read_data: Vec<Signal<Out, Bits<8>>>,
    /// The contents, lane by lane, for rust-hdl's simulator (not hardware).
    _contents: Vec<Vec<Bits<8>>>,
    /// The registered address copies (all equal), for the simulator.
    _address_copy: Bits<ADDRESS_BITS>,
    _write_data_copy: Bits<8>,
    _write_enable_copy: bool,
    _write_lane_copy: Bits<8>,
}

impl Scratchpad {
    /// A scratchpad of `lanes` bytes per entry and `depth` entries (a power of
    /// two, at most 65536), all zero.
    pub fn new(lanes: usize, depth: usize) -> Self {
        Self::with_copies(lanes, depth, false)
    }

    /// A scratchpad whose memories each register their own copy of the
    /// address from `address_next`, one per pair of lanes.
    pub fn with_address_copies(lanes: usize, depth: usize) -> Self {
        Self::with_copies(lanes, depth, true)
    }

    fn with_copies(lanes: usize, depth: usize, copies: bool) -> Self {
        assert!(depth.is_power_of_two() && (2..=1 << ADDRESS_BITS).contains(&depth), "scratchpad depth {depth}");
        assert!((1..=256).contains(&lanes), "scratchpad lanes {lanes}");
        Self {
            clock: Default::default(),
            address: Default::default(),
            address_next: (0..usize::from(copies)).map(|_| Default::default()).collect(),
            write_data_next: (0..usize::from(copies)).map(|_| Default::default()).collect(),
            write_enable_next: (0..usize::from(copies)).map(|_| Default::default()).collect(),
            write_lane_next: (0..usize::from(copies)).map(|_| Default::default()).collect(),
            write_data: Default::default(),
            write_lane: Default::default(),
            write_enable: Default::default(),
            read_data: (0..lanes).map(|_| Default::default()).collect(),
            _contents: vec![vec![Bits::default(); depth]; lanes],
            _address_copy: Bits::default(),
            _write_data_copy: Bits::default(),
            _write_enable_copy: false,
            _write_lane_copy: Bits::default(),
        }
    }

    pub fn lanes(&self) -> usize {
        self._contents.len()
    }

    pub fn depth(&self) -> usize {
        self._contents[0].len()
    }

    /// Lane `lane` of the entry at `index`, as the simulated hardware holds it now.
    pub fn peek(&self, lane: usize, index: usize) -> Bits<8> {
        self._contents[lane][index]
    }

    /// Sets lane `lane` of the entry at `index` directly, for tests that preload memory.
    pub fn poke(&mut self, lane: usize, index: usize, value: Bits<8>) {
        self._contents[lane][index] = value;
    }
}

impl Logic for Scratchpad {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            // (Every memory's copies hold the same values: one set stands
            // for all.)
            let copies = !self.address_next.is_empty();
            let (address, write_data, write_enable, write_lane) = if copies {
                (self._address_copy, self._write_data_copy, self._write_enable_copy, self._write_lane_copy)
            } else {
                (self.address.val(), self.write_data.val(), self.write_enable.val(), self.write_lane.val())
            };
            if copies {
                self._address_copy = self.address_next[0].val();
                self._write_data_copy = self.write_data_next[0].val();
                self._write_enable_copy = self.write_enable_next[0].val();
                self._write_lane_copy = self.write_lane_next[0].val();
            }
            let index = address.index() & (self.depth() - 1);
            if write_enable {
                let lane = write_lane.index();
                if lane < self.lanes() {
                    self._contents[lane][index] = write_data;
                }
            } else {
                for (lane, data) in self.read_data.iter_mut().enumerate() {
                    data.next = self._contents[lane][index];
                }
            }
        }
    }

    fn connect(&mut self) {
        for data in &mut self.read_data {
            data.connect();
        }
    }

    /// Every output is registered: no combinational path crosses the RAM.
    fn timing(&self) -> Vec<TimingInfo> {
        vec![TimingInfo {
            name: "scratchpad".into(),
            clock: "clock".into(),
            inputs: ["address", "write_data", "write_lane", "write_enable"].into_iter().map(String::from).chain((0..self.address_next.len()).flat_map(|i| {
                ["address_next", "write_data_next", "write_enable_next", "write_lane_next"].map(|port| format!("{port}${i}"))
            })).collect(),
            outputs: (0..self.lanes()).map(|i| format!("read_data${i}")).collect(),
        }]
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(verilog_body(self.lanes(), self.depth(), !self.address_next.is_empty()))
    }
}

/// One memory per pair of lanes (the last alone when the count is odd), each
/// with a byte write enable per lane, the read port idle while writing, and
/// with `copies` its own copy of the address, registered from `address_next`.
fn verilog_body(lanes: usize, depth: usize, copies: bool) -> String {
    let address_bits = depth.trailing_zeros() as usize;
    let mut out = String::new();
    let address = |pair: usize| if copies { format!("address_copy_{pair}") } else { "address".to_string() };
    let write_data = |pair: usize| if copies { format!("write_data_copy_{pair}") } else { "write_data".to_string() };
    // Lane `lane` (half `half` of its pair) is written; the pair's memory reads.
    let writes = |pair: usize, half: usize| {
        if copies { format!("write_half_copy_{pair}[{half}]") } else { format!("write_enable && write_lane == 8'd{}", 2 * pair + half) }
    };
    let reads = |pair: usize| if copies { format!("!write_enable_copy_{pair}[0]") } else { "!write_enable".to_string() };
    if copies {
        out += "wire unused_address = &{1'b0, address, write_data, write_enable, write_lane};\n";
        // (A vector, for the copies' bit-select.)
        out += "wire [0:0] write_enable_next = write_enable_next$0;\n";
        for pair in 0..lanes.div_ceil(2) {
            out += &kept_register::verilog(&format!("address_copy_{pair}_ff"), "clock", "address_next$0", &address(pair), ADDRESS_BITS);
            out += &kept_register::verilog(&format!("write_data_copy_{pair}_ff"), "clock", "write_data_next$0", &write_data(pair), 8);
            out += &format!(
                "wire [1:0] write_half_next_{pair} = {{write_enable_next$0 && write_lane_next$0 == 8'd{}, write_enable_next$0 && write_lane_next$0 == 8'd{}}};\n",
                2 * pair + 1,
                2 * pair
            );
            out += &kept_register::verilog(&format!("write_half_copy_{pair}_ff"), "clock", &format!("write_half_next_{pair}"), &format!("write_half_copy_{pair}"), 2);
            out += &kept_register::verilog(&format!("write_enable_copy_{pair}_ff"), "clock", "write_enable_next", &format!("write_enable_copy_{pair}"), 1);
        }
    }
    if address_bits < ADDRESS_BITS {
        let used = if copies { (0..lanes.div_ceil(2)).map(|p| format!(", {}[{}:{address_bits}]", address(p), ADDRESS_BITS - 1)).collect::<String>() } else { format!(", address[{}:{address_bits}]", ADDRESS_BITS - 1) };
        out += &format!("wire unused_address_bits = &{{1'b0{used}}};\n");
    }
    for pair in 0..lanes.div_ceil(2) {
        let width = 8 * (lanes - 2 * pair).min(2);
        // With copies (the ECP5 builds), `no_rw_check`: a memory never reads
        // in a cycle that writes it, which yosys cannot prove, so without
        // it yosys keeps the read word in flip-flops of its own behind a
        // LUT multiplexer (a read in a write's cycle must show the old
        // word). With it the read enable becomes the block RAM's clock
        // enable (in NORMAL mode a write leaves the output as it was), and
        // the word goes from the block RAM straight into the user's
        // register, which the flow folds into the block RAM's output
        // register (see npu_fpga::bram_output_register). And block RAM
        // even for a small memory (which would become LUT RAM once the
        // collision logic is gone): CI's small ECP5 build then checks
        // that form.
        let attribute = if copies { "(* no_rw_check, ram_style = \"block\" *) " } else { "" };
        out += &format!("{attribute}reg [{}:0] mem_{pair} [0:{}];\nreg [{}:0] word_{pair};\n", width - 1, depth - 1, width - 1);
    }
    out += "always @(posedge clock) begin\n";
    for pair in 0..lanes.div_ceil(2) {
        for half in 0..(lanes - 2 * pair).min(2) {
            out += &format!(
                "    if ({}) mem_{pair}[{}[{}:0]][{}:{}] <= {};\n",
                writes(pair, half),
                address(pair),
                address_bits - 1,
                8 * half + 7,
                8 * half,
                write_data(pair)
            );
        }
        out += &format!("    if ({}) word_{pair} <= mem_{pair}[{}[{}:0]];\n", reads(pair), address(pair), address_bits - 1);
    }
    out += "end\nalways @(*) begin\n";
    for lane in 0..lanes {
        out += &format!("    read_data${lane} = word_{}[{}:{}];\n", lane / 2, 8 * (lane % 2) + 7, 8 * (lane % 2));
    }
    out += "end\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(pad: &mut Scratchpad) {
        pad.clock.next = Clock::from(true);
        simulate(pad, 100);
        pad.clock.next = Clock::from(false);
        simulate(pad, 100);
    }

    #[test]
    fn writes_one_lane_and_reads_every_lane_a_cycle_later() {
        let mut pad = Scratchpad::new(3, 16);
        pad.connect_all();
        pad.poke(0, 3, 0x11.into());
        pad.poke(2, 3, 0x33.into());
        pad.write_enable.next = true;
        pad.write_lane.next = 1.into();
        pad.address.next = 3.into();
        pad.write_data.next = 0x5A.into();
        tick(&mut pad);
        assert_eq!(pad.peek(1, 3).to_u64(), 0x5A);
        // A write leaves the read data alone.
        assert_eq!(pad.read_data[1].val().to_u64(), 0);
        pad.write_enable.next = false;
        // Bits above the depth are ignored: 19 is entry 3 of 16.
        pad.address.next = 19.into();
        tick(&mut pad);
        let read: Vec<u64> = pad.read_data.iter().map(|d| d.val().to_u64()).collect();
        assert_eq!(read, vec![0x11, 0x5A, 0x33]);
    }

    #[test]
    fn lanes_are_paired_with_byte_enables() {
        let v = verilog_body(3, 16384, false);
        assert!(v.contains("reg [15:0] mem_0 [0:16383];"), "{v}");
        assert!(v.contains("reg [7:0] mem_1 [0:16383];"), "{v}");
        assert!(v.contains("mem_0[address[13:0]][15:8] <= write_data;"), "{v}");
        assert!(v.contains("read_data$2 = word_1[7:0];"), "{v}");
        let v = verilog_body(3, 8192, true);
        assert!(v.contains("mem_0[address_copy_0[12:0]][15:8] <= write_data_copy_0;"), "{v}");
        assert!(v.contains("always @(posedge clock) write_data_copy_1 <= write_data_next$0;\n`endif"), "{v}");
        assert!(v.contains("word_1 <= mem_1[address_copy_1[12:0]];"), "{v}");
        assert!(v.contains("always @(posedge clock) address_copy_1 <= address_next$0;\n`endif"), "{v}");
        assert!(v.contains(".DI(address_next$0[address_copy_1_ff_bit]), .Q(address_copy_1[address_copy_1_ff_bit])"), "{v}");
        assert!(!v.contains("[address["), "{v}");
    }
}
