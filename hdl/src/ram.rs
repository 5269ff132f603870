//! A simple dual-port RAM: one synchronous read port, one write port.
//!
//! The depth comes from the config at elaboration time, so this is a leaf
//! with hand-written Verilog in the one shape yosys maps onto block RAM (iCE40
//! EBR, ECP5 DP16KD): a registered read and a write enable on one clock. The
//! address ports are 16 bits wide whatever the depth; the bits above the
//! depth are ignored (the controller checks every address before use), and
//! are gathered into a signal named `unused_*`, Verilator's convention for
//! bits that are deliberately not read.

use rust_hdl::core::timing::TimingInfo;
use rust_hdl::prelude::*;

/// Widest address any config allows (65536 entries).
pub const ADDRESS_BITS: usize = 16;

#[derive(LogicBlock)]
pub struct Ram<T: Synth> {
    pub clock: Signal<In, Clock>,
    /// Entry to read; its value appears on `read_data` after the next edge.
    pub read_address: Signal<In, Bits<ADDRESS_BITS>>,
    pub read_data: Signal<Out, T>,
    /// Entry written at the edge when `write_enable` is high.
    pub write_address: Signal<In, Bits<ADDRESS_BITS>>,
    pub write_data: Signal<In, T>,
    pub write_enable: Signal<In, Bit>,
    /// The contents, for rust-hdl's simulator (not part of the hardware).
    _contents: Vec<T>,
    /// What a read of the entry written in the same cycle must do.
    _read_during_write: ReadDuringWrite,
}

/// A read of the entry being written in the same cycle...
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum ReadDuringWrite {
    /// ...sees the old value. Block RAM does not promise that, so it costs
    /// bypass registers and comparators beside each RAM.
    OldValue,
    /// ...happens, but its value is not used: the RAM is the block RAM alone.
    Ignored,
    /// ...never happens: the block RAM alone, and rust-hdl's simulator
    /// panics if it does, so every simulation checks the user's claim.
    Never,
}

impl<T: Synth> Ram<T> {
    /// A RAM of `depth` entries (a power of two, at most 65536), all zero.
    pub fn new(depth: usize) -> Self {
        assert!(depth.is_power_of_two() && (2..=1 << ADDRESS_BITS).contains(&depth), "RAM depth {depth}");
        Self {
            clock: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            write_address: Default::default(),
            write_data: Default::default(),
            write_enable: Default::default(),
            _contents: vec![T::default(); depth],
            _read_during_write: ReadDuringWrite::OldValue,
        }
    }

    /// A RAM whose user never reads an entry in the cycle it writes it (or
    /// ignores what that read returns): no bypass logic is built, so the RAM
    /// is the block RAM alone.
    pub fn without_collisions(depth: usize) -> Self {
        Self { _read_during_write: ReadDuringWrite::Ignored, ..Self::new(depth) }
    }

    /// A RAM whose user never reads the entry it writes in that cycle: no
    /// bypass logic, and the simulation checks the claim.
    pub fn never_colliding(depth: usize) -> Self {
        Self { _read_during_write: ReadDuringWrite::Never, ..Self::new(depth) }
    }

    pub fn depth(&self) -> usize {
        self._contents.len()
    }

    /// The entry at `index`, as the simulated hardware holds it now.
    pub fn peek(&self, index: usize) -> T {
        self._contents[index]
    }

    /// Sets the entry at `index` directly, for tests that preload memory.
    pub fn poke(&mut self, index: usize, value: T) {
        self._contents[index] = value;
    }

    fn index(&self, address: Bits<ADDRESS_BITS>) -> usize {
        address.index() & (self.depth() - 1)
    }
}

impl<T: Synth> Logic for Ram<T> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            // Read before write: a read of the entry being written sees the old value.
            self.read_data.next = self._contents[self.index(self.read_address.val())];
            if self.write_enable.val() {
                let i = self.index(self.write_address.val());
                assert!(
                    self._read_during_write != ReadDuringWrite::Never || i != self.index(self.read_address.val()),
                    "a RAM built never_colliding read entry {i} in the cycle it was written"
                );
                self._contents[i] = self.write_data.val();
            }
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn timing(&self) -> Vec<TimingInfo> {
        registered_read_timing("ram", "write_enable")
    }

    fn hdl(&self) -> Verilog {
        let address_bits = self.depth().trailing_zeros() as usize;
        let unused = unused_address_bits(address_bits);
        // Block RAM even when small (the bias bank has a few entries): logic
        // cells are what the iCE40 runs out of, and block RAM is spare.
        let attribute = if self._read_during_write == ReadDuringWrite::OldValue {
            "(* ram_style = \"block\" *) "
        } else {
            "(* ram_style = \"block\", no_rw_check *) "
        };
        Verilog::Custom(format!(
            "\
{attribute}reg [{msb}:0] mem [0:{last}];
{unused}always @(posedge clock) begin
    if (write_enable) mem[write_address[{amsb}:0]] <= write_data;
    read_data <= mem[read_address[{amsb}:0]];
end
",
            msb = T::BITS - 1,
            last = self.depth() - 1,
            amsb = address_bits - 1,
        ))
    }
}

/// A RAM's timing for rust-hdl: every output is registered, so no
/// combinational path crosses it (`write_enable` names its write-enable port).
pub(crate) fn registered_read_timing(name: &str, write_enable: &str) -> Vec<TimingInfo> {
    vec![TimingInfo {
        name: name.into(),
        clock: "clock".into(),
        inputs: vec!["read_address".into(), "write_address".into(), "write_data".into(), write_enable.into()],
        outputs: vec!["read_data".into()],
    }]
}

/// The Verilog that gathers a RAM's address bits above its depth into a
/// signal named `unused_*` (Verilator's convention for bits deliberately not
/// read), or nothing when the depth uses them all.
pub(crate) fn unused_address_bits(address_bits: usize) -> String {
    if address_bits < ADDRESS_BITS {
        format!(
            "wire unused_address_bits = &{{1'b0, read_address[{top}:{address_bits}], write_address[{top}:{address_bits}]}};\n",
            top = ADDRESS_BITS - 1
        )
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_was_written_one_cycle_later() {
        let mut ram = Ram::<Bits<8>>::new(16);
        ram.connect_all();
        let tick = |ram: &mut Ram<Bits<8>>| {
            ram.clock.next = Clock::from(true);
            simulate(ram, 100);
            ram.clock.next = Clock::from(false);
            simulate(ram, 100);
        };
        ram.write_enable.next = true;
        ram.write_address.next = 3.into();
        ram.write_data.next = 0x5A.into();
        tick(&mut ram);
        ram.write_enable.next = false;
        // Bits above the depth are ignored: 19 is entry 3 of 16.
        ram.read_address.next = 19.into();
        tick(&mut ram);
        assert_eq!(ram.read_data.val().to_u64(), 0x5A);
        assert_eq!(ram.peek(3).to_u64(), 0x5A);
    }

    #[test]
    #[should_panic(expected = "never_colliding")]
    fn a_collision_in_a_never_colliding_ram_is_caught() {
        let mut ram = Ram::<Bits<8>>::never_colliding(16);
        ram.connect_all();
        ram.write_enable.next = true;
        ram.write_address.next = 5.into();
        ram.read_address.next = 5.into();
        ram.clock.next = Clock::from(true);
        simulate(&mut ram, 100);
    }
}
