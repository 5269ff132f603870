//! The NPU configuration: every hardware parameter, in one type.
//!
//! The hardware generator, the simulators, the FPGA flow, the host driver and
//! the reports all read an [`NpuConfig`]; none of them repeats its numbers.
//! A config is a TOML file (`configs/default.toml` is the default) and is
//! checked on load: every limit below is enforced by [`NpuConfig::validate`],
//! and a violation is reported as `field = value: rule`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The default configuration, as shipped in `configs/default.toml`.
pub const DEFAULT_TOML: &str = include_str!("../../configs/default.toml");

/// Largest array side. Bounded so that the generated Verilog (one module per
/// PE) and the simulators stay tractable.
pub const MAX_ARRAY_SIDE: usize = 32;
/// Smallest and largest scratchpad / accumulator depth (entries).
pub const MIN_DEPTH: usize = 16;
pub const MAX_DEPTH: usize = 65_536;
/// Core clock limits in Hz.
pub const MIN_CORE_HZ: u64 = 1_000_000;
pub const MAX_CORE_HZ: u64 = 500_000_000;
/// Link baud limits. The upper bound is the FT2232H's fastest UART rate.
pub const MIN_BAUD: u32 = 9_600;
pub const MAX_BAUD: u32 = 12_000_000;
/// The UART receiver samples each bit in its middle; it needs at least this
/// many core clocks per bit to find the middle. At 4 (12 Mbaud at 48 MHz)
/// it takes back-to-back bytes from a sender up to 2.5% off (hdl's
/// uart_rx tests; 3% fails), where two crystals differ by about 0.01%.
pub const MIN_CLOCKS_PER_BIT: u64 = 4;
/// The largest error (in parts per thousand) between the requested baud and
/// the one an integer clock divider achieves. 8N1 framing tolerates about 5%
/// between both ends; a 2% budget leaves the rest to the other end's clock.
pub const MAX_BAUD_ERROR_PER_MILLE: u64 = 20;

/// A whole NPU configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpuConfig {
    pub array: ArrayConfig,
    pub memory: MemoryConfig,
    pub clock: ClockConfig,
    pub link: LinkConfig,
    /// The requantization unit; the serial one when the section is absent.
    #[serde(default)]
    pub requant: RequantConfig,
}

/// The systolic array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrayConfig {
    /// PE rows (1..=32). Row `i` of the A operand enters row `i` of the array,
    /// so one tile computes up to `rows` rows of the output.
    pub rows: usize,
    /// PE columns (1..=32). Column `j` of the B operand enters column `j`, so
    /// one tile computes up to `cols` columns of the output.
    pub cols: usize,
    /// How operands move through the array.
    pub dataflow: Dataflow,
    /// Accumulator width in bits. Only 32 is built: INT8 x INT8 products summed
    /// in INT32 with two's-complement wrap (see `reference`).
    pub acc_bits: u32,
    /// Clock edges from a PE's operands to its product, 1 to 4: 1 (the
    /// product registered once, in the iCE40's DSP); 2 (the factors
    /// registered as well, inside the ECP5's DSP); 3 or 4 (1 or 2, with a
    /// register on the operands' way to the multiplier and one on the
    /// product's way back, for a large array whose DSPs lie far from their
    /// PEs, as on the ECP5: 32 flip-flops a PE). Each edge past 1 adds a
    /// cycle to every tile. 1 when absent.
    #[serde(default = "default_multiplier_latency")]
    pub multiplier_latency: usize,
}

/// The multiplier latency of a config that does not name one.
fn default_multiplier_latency() -> usize {
    1
}

/// The dataflow of the array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dataflow {
    /// Each PE holds one output element; A flows right, B flows down, and the
    /// finished sums are shifted out down the columns.
    OutputStationary,
}

impl fmt::Display for Dataflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dataflow::OutputStationary => "output-stationary",
        })
    }
}

/// The on-chip memories, in entries. Each must be a power of two (16..=65536)
/// so that addresses decode without comparators and map onto block RAM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// A scratchpad entries; one entry is `rows` INT8 values, the A operand
    /// of one cycle (one column of an A tile).
    pub a_depth: usize,
    /// B scratchpad entries; one entry is `cols` INT8 values, the B operand
    /// of one cycle (one row of a B tile).
    pub b_depth: usize,
    /// Accumulator entries; one entry is `cols` INT32 values, one row of an
    /// output tile. At least `rows`, so one whole tile fits.
    pub acc_depth: usize,
    /// Where the banks' reads for the requantizer and READ pass a register:
    /// on the address they present (false: 16 flip-flops, the iCE40's
    /// choice) or on each lane's read data (true: 32 flip-flops an ACC
    /// lane and 8 an A, B or OUT lane), so that a block RAM's slow output,
    /// 5.8 ns on an ECP5 DP16KD without its output register, is a register
    /// away from the lane multiplexers. The same cycles either way for
    /// those. The GEMM engine's accumulate path gets a register stage too
    /// (the old value and the drained row registered before the adders):
    /// each GEMM command takes a cycle more, and tiles are spaced at least
    /// 4 cycles apart (3 without); and the counter bank a hold stage
    /// between its block RAM and its adder (a snapshot a cycle later).
    /// And each A and B memory (pair of lanes) and each accumulator lane
    /// takes its own copy of its read address, registered from the next
    /// cycle's address (the same cycles): one flip-flop beside each memory
    /// drives it instead of one multiplexer across the die.
    /// false when absent; `acc_data_register`,
    /// its name before it covered the byte banks and the engine, is read as
    /// this.
    #[serde(default, alias = "acc_data_register")]
    pub read_data_register: bool,
    /// The MOVE command: on-chip copies from A, B or OUT into A or B with
    /// strided runs (a layer's output placed where the next GEMM reads it,
    /// a convolution's im2col operand, zero padding), so that data need not
    /// cross the link. It costs about 630 of the UP5K's logic cells (the
    /// mover's two address walkers and checks, and 6 more header bytes), so
    /// the iCEBreaker's 4x4 leaves it out for now. false when absent; INFO
    /// reports it.
    #[serde(default)]
    pub mover: bool,
    /// Bytes of program memory (PROGRAM and RUN): the commands of a network
    /// kept on chip, so that an inference sends only its input, one RUN and
    /// a READ. 0 (none) when absent, else a power of two from 256 to 65536.
    /// INFO reports it.
    #[serde(default)]
    pub program_bytes: usize,
    /// Tables of ADD (256 INT32 each, the TABLE bank): TFLite's int8 ADD on
    /// chip, its inputs' rescales looked up, so that a residual network's
    /// feature maps need not leave the chip. 0 (none, and no ADD command)
    /// when absent, else a power of two up to 64. INFO reports it.
    #[serde(default)]
    pub add_tables: usize,
}

/// Clocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockConfig {
    /// The core clock in Hz that the design is built and timed for.
    pub core_hz: u64,
}

/// The host link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    /// UART rate in bit/s (8N1).
    pub baud: u32,
}

/// The requantization unit (INT32 accumulators to INT8, gemmlowp's rules).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequantConfig {
    /// Which unit the hardware has.
    pub unit: RequantUnit,
}

/// The two requantization units: the same results, different cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequantUnit {
    /// One element at a time, 85 to 117 cycles each, no multiplier: a few
    /// hundred logic cells (the UP5K's DSPs all serve the array).
    #[default]
    Serial,
    /// One element a cycle once its lanes' parameters are loaded, through
    /// a 32x32 multiply of four 18x18 DSPs (for the ECP5).
    Pipelined,
}

impl fmt::Display for RequantUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequantUnit::Serial => "serial",
            RequantUnit::Pipelined => "pipelined",
        })
    }
}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("config {origin} is not valid TOML for an NPU config: {message}")]
    Parse { origin: String, message: String },
    #[error("config {origin}: {violation}")]
    Invalid {
        origin: String,
        violation: Violation,
    },
}

/// One broken limit: `field = value: rule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: &'static str,
    pub value: String,
    pub rule: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}: {}", self.field, self.value, self.rule)
    }
}

impl Default for NpuConfig {
    fn default() -> Self {
        Self::from_toml_str(DEFAULT_TOML, "configs/default.toml")
            .expect("the shipped default config is valid (checked by a test)")
    }
}

impl NpuConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| ConfigError::Read { path: path.to_owned(), error })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// The config in `path`, or the default when `path` is `None`.
    pub fn load_or_default(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            Some(p) => Self::load(p),
            None => Ok(Self::default()),
        }
    }

    /// Parses and checks TOML text; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: NpuConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            // One line, with where: "line 3, column 1: invalid table header; expected ...".
            message: {
                let at = e.span().map(|span| {
                    let line = text[..span.start].matches('\n').count() + 1;
                    format!("line {line}: ")
                });
                let flat = e.message().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
                format!("{}{flat}", at.unwrap_or_default())
            },
        })?;
        config.validate().map_err(|violation| ConfigError::Invalid {
            origin: origin.to_owned(),
            violation,
        })?;
        Ok(config)
    }

    /// The config as TOML text.
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("an NpuConfig always serialises")
    }

    /// Checks every limit; the first broken one is returned.
    pub fn validate(&self) -> Result<(), Violation> {
        let side = |field, v: usize| {
            check(field, v, (1..=MAX_ARRAY_SIDE).contains(&v), || {
                format!("must be 1..={MAX_ARRAY_SIDE}")
            })
        };
        side("array.rows", self.array.rows)?;
        side("array.cols", self.array.cols)?;
        check("array.acc_bits", self.array.acc_bits, self.array.acc_bits == 32, || {
            "must be 32 (the hardware accumulates in INT32)".into()
        })?;
        let latency = self.array.multiplier_latency;
        check("array.multiplier_latency", latency, (1..=4).contains(&latency), || {
            "must be 1 (product registered), 2 (factors too), 3 or 4 (1 or 2 with the operands and product registered on their way)".into()
        })?;
        let depth = |field, v: usize| {
            check(field, v, v.is_power_of_two() && (MIN_DEPTH..=MAX_DEPTH).contains(&v), || {
                format!("must be a power of two from {MIN_DEPTH} to {MAX_DEPTH}")
            })
        };
        depth("memory.a_depth", self.memory.a_depth)?;
        depth("memory.b_depth", self.memory.b_depth)?;
        depth("memory.acc_depth", self.memory.acc_depth)?;
        let program = self.memory.program_bytes;
        check("memory.program_bytes", program, program == 0 || (program.is_power_of_two() && (256..=65536).contains(&program)), || {
            "must be 0 (no program memory) or a power of two from 256 to 65536".into()
        })?;
        let tables = self.memory.add_tables;
        check("memory.add_tables", tables, tables == 0 || (tables.is_power_of_two() && tables <= 64), || {
            "must be 0 (no ADD) or a power of two up to 64".into()
        })?;
        check(
            "memory.acc_depth",
            self.memory.acc_depth,
            self.memory.acc_depth >= self.array.rows,
            || format!("must hold one output tile: at least array.rows = {}", self.array.rows),
        )?;
        let hz = self.clock.core_hz;
        check("clock.core_hz", hz, (MIN_CORE_HZ..=MAX_CORE_HZ).contains(&hz), || {
            format!("must be {MIN_CORE_HZ}..={MAX_CORE_HZ} Hz")
        })?;
        let baud = self.link.baud;
        check("link.baud", baud, (MIN_BAUD..=MAX_BAUD).contains(&baud), || {
            format!("must be {MIN_BAUD}..={MAX_BAUD} bit/s")
        })?;
        check("link.baud", baud, self.clocks_per_bit() >= MIN_CLOCKS_PER_BIT, || {
            format!(
                "needs at least {MIN_CLOCKS_PER_BIT} core clocks per bit; clock.core_hz = {hz} gives {}: \
                 lower the baud or raise the clock",
                hz / u64::from(baud)
            )
        })?;
        check(
            "link.baud",
            baud,
            self.baud_error_per_mille() <= MAX_BAUD_ERROR_PER_MILLE,
            || {
                format!(
                    "a divider of {} from clock.core_hz = {hz} gives {} bit/s, {}.{}% off (at most 2% works)",
                    self.clocks_per_bit(),
                    self.achieved_baud(),
                    self.baud_error_per_mille() / 10,
                    self.baud_error_per_mille() % 10
                )
            },
        )?;
        Ok(())
    }

    /// Core clocks per UART bit: the integer divider the link hardware uses.
    pub fn clocks_per_bit(&self) -> u64 {
        let baud = u64::from(self.link.baud.max(1));
        (self.clock.core_hz + baud / 2) / baud
    }

    /// The baud the integer divider really gives.
    pub fn achieved_baud(&self) -> u64 {
        self.clock.core_hz / self.clocks_per_bit().max(1)
    }

    /// |achieved - requested| / requested, in parts per thousand.
    pub fn baud_error_per_mille(&self) -> u64 {
        let want = u64::from(self.link.baud);
        self.achieved_baud().abs_diff(want) * 1000 / want.max(1)
    }

    /// Multiply-accumulates per cycle: one per PE.
    pub fn macs_per_cycle(&self) -> usize {
        self.array.rows * self.array.cols
    }

    /// Peak INT8 operations per second at `clock_hz`: 2 (multiply and add) per
    /// PE per cycle.
    pub fn peak_ops_per_s(&self, clock_hz: u64) -> f64 {
        2.0 * self.macs_per_cycle() as f64 * clock_hz as f64
    }
}

fn check<V: fmt::Display>(
    field: &'static str,
    value: V,
    ok: bool,
    rule: impl FnOnce() -> String,
) -> Result<(), Violation> {
    if ok {
        Ok(())
    } else {
        Err(Violation {
            field,
            value: value.to_string(),
            rule: rule(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(edit: impl FnOnce(&mut NpuConfig)) -> Result<(), Violation> {
        let mut c = NpuConfig::default();
        edit(&mut c);
        c.validate()
    }

    #[test]
    fn the_shipped_default_is_valid() {
        let c = NpuConfig::from_toml_str(DEFAULT_TOML, "default").unwrap();
        assert_eq!((c.array.rows, c.array.cols), (4, 4));
        assert_eq!(c.array.dataflow, Dataflow::OutputStationary);
        // Absent from the file: the product registered once.
        assert_eq!(c.array.multiplier_latency, 1);
    }

    #[test]
    fn round_trips_through_toml() {
        let c = NpuConfig::default();
        let again = NpuConfig::from_toml_str(&c.to_toml_string(), "round trip").unwrap();
        assert_eq!(c, again);
    }

    #[test]
    fn the_read_data_registers_earlier_name_still_reads() {
        for (line, want) in [("", false), ("read_data_register = true\n", true), ("acc_data_register = true\n", true)] {
            let text = DEFAULT_TOML.replace("[clock]", &format!("{line}\n[clock]"));
            let c = NpuConfig::from_toml_str(&text, "registers").unwrap();
            assert_eq!(c.memory.read_data_register, want, "{line:?}");
        }
    }

    #[test]
    fn zero_rows_says_the_range() {
        let v = with(|c| c.array.rows = 0).unwrap_err();
        assert_eq!(v.to_string(), "array.rows = 0: must be 1..=32");
    }

    #[test]
    fn every_limit_is_enforced() {
        assert!(with(|c| c.array.cols = 33).is_err());
        assert!(with(|c| c.array.acc_bits = 24).is_err());
        assert!(with(|c| c.array.multiplier_latency = 0).is_err());
        assert!(with(|c| c.array.multiplier_latency = 5).is_err());
        for latency in 1..=4 {
            assert!(with(|c| c.array.multiplier_latency = latency).is_ok());
        }
        assert!(with(|c| c.memory.a_depth = 500).is_err());
        assert!(with(|c| c.memory.b_depth = 8).is_err());
        assert!(with(|c| c.memory.acc_depth = 1 << 17).is_err());
        assert!(with(|c| {
            c.array.rows = 32;
            c.memory.acc_depth = 16
        })
        .is_err());
        assert!(with(|c| c.clock.core_hz = 999_999).is_err());
        assert!(with(|c| c.link.baud = 1200).is_err());
        // 12 MHz / 4 Mbaud = 3 clocks per bit: too few to sample mid-bit.
        assert!(with(|c| {
            c.clock.core_hz = 12_000_000;
            c.link.baud = 4_000_000
        })
        .is_err());
        // 12 MHz / 3 Mbaud = 4 exactly: fine.
        assert!(with(|c| {
            c.clock.core_hz = 12_000_000;
            c.link.baud = 3_000_000
        })
        .is_ok());
    }

    #[test]
    fn a_baud_the_divider_misses_is_rejected() {
        // 10 MHz / 1 Mbaud is exact; 10 MHz / 1.1 Mbaud divides to 9 (1.111 Mbaud, 1% off: ok);
        // 10 MHz / 1.17 Mbaud also divides to 9: 5% off.
        assert!(with(|c| {
            c.clock.core_hz = 10_000_000;
            c.link.baud = 1_000_000
        })
        .is_ok());
        let v = with(|c| {
            c.clock.core_hz = 10_000_000;
            c.link.baud = 1_170_000
        })
        .unwrap_err();
        assert!(v.rule.contains("off"), "{v}");
    }

    #[test]
    fn unknown_fields_and_bad_types_are_parse_errors() {
        let typo = DEFAULT_TOML.replace("rows = 4", "rowz = 4");
        let e = NpuConfig::from_toml_str(&typo, "typo.toml").unwrap_err();
        assert!(e.to_string().contains("rowz"), "{e}");
        let bad = DEFAULT_TOML.replace("\"output-stationary\"", "\"weight-stationary\"");
        let e = NpuConfig::from_toml_str(&bad, "bad.toml").unwrap_err();
        assert!(e.to_string().contains("weight-stationary"), "{e}");
    }

    #[test]
    fn peak_ops_is_two_per_pe_per_cycle() {
        let c = NpuConfig::default();
        assert_eq!(c.peak_ops_per_s(48_000_000), 2.0 * 16.0 * 48e6);
    }
}
