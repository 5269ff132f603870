//! Board definitions, read from `fpga/boards/<name>.toml` (one file per
//! board, built into the binary): device, package, pins, clock, programmer.

use serde::Deserialize;

/// The boards the flow knows, by name.
const BOARD_FILES: &[(&str, &str)] = &[
    ("icebreaker", include_str!("../boards/icebreaker.toml")),
    ("ulx3s", include_str!("../boards/ulx3s.toml")),
];

/// FPGA families the flow drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ice40,
    Ecp5,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    pub name: String,
    pub description: String,
    pub family: Family,
    /// nextpnr's device option (`up5k`, `85k`).
    pub device: String,
    pub package: String,
    /// ECP5 speed grade.
    #[serde(default)]
    pub speed: Option<u8>,
    pub clock: BoardClock,
    pub uart: BoardUart,
    pub leds: BoardLeds,
    pub resources: Resources,
    pub programmer: Programmer,
    /// Where the device's DSPs are, for the array's floorplan (ECP5; see
    /// [`crate::floorplan`]). None: nextpnr places the DSPs itself.
    #[serde(default)]
    pub dsp_sites: Option<DspSites>,
}

/// The DSP multiplier sites of an ECP5 device: nextpnr names a site
/// `X<x>/Y<y>/MULT18_<n>`, and the device has one at every column of
/// `columns` in every row of `rows`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DspSites {
    /// The die rows (nextpnr's Y) that hold DSPs.
    pub rows: Vec<u32>,
    /// The DSP sites of a row, left to right: nextpnr's X and the site's
    /// MULT18 number.
    pub columns: Vec<[u32; 2]>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardClock {
    pub pin: String,
    pub hz: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardUart {
    /// Into the FPGA (the USB bridge's TXD).
    pub rx: String,
    /// Out of the FPGA.
    pub tx: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardLeds {
    /// Lit while the NPU executes a command.
    pub busy: String,
    /// Lit until the PLL has locked.
    pub locked: String,
    pub active_low: bool,
}

/// What the device has, for the report's "used / available".
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub luts: u64,
    pub dsps: u64,
    pub block_rams: u64,
    pub spram: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Programmer {
    pub tool: String,
    /// Arguments; `{bitstream}` is replaced by the file's path.
    pub args: Vec<String>,
    /// USB vendor:product of the board's programmer, to tell whether one is attached.
    pub usb_ids: Vec<String>,
    /// Another command that programs the board.
    pub alternative: String,
}

impl Board {
    /// The board called `name`, or an error listing the known ones.
    pub fn named(name: &str) -> Result<Self, String> {
        match BOARD_FILES.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => toml::from_str(text).map_err(|e| format!("board file {name}.toml: {e}")),
            None => Err(format!("no board called {name:?}; the flow knows: {}", Self::names().join(", "))),
        }
    }

    pub fn names() -> Vec<&'static str> {
        BOARD_FILES.iter().map(|(n, _)| *n).collect()
    }

    /// The programmer's command line for `bitstream`.
    pub fn program_command(&self, bitstream: &str) -> Vec<String> {
        std::iter::once(self.programmer.tool.clone()).chain(self.programmer.args.iter().map(|a| a.replace("{bitstream}", bitstream))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_board_file_parses_and_names_itself() {
        for name in Board::names() {
            let b = Board::named(name).unwrap();
            assert_eq!(b.name, name);
        }
        let ib = Board::named("icebreaker").unwrap();
        assert_eq!((ib.family, ib.clock.pin.as_str(), ib.clock.hz, ib.uart.rx.as_str(), ib.uart.tx.as_str()), (Family::Ice40, "35", 12_000_000, "6", "9"));
        assert_eq!(ib.program_command("b.bin"), vec!["openFPGALoader", "-b", "ice40_generic", "b.bin"]);
        assert!(Board::named("nope").unwrap_err().contains("icebreaker, ulx3s"));
        let ulx3s = Board::named("ulx3s").unwrap();
        let sites = ulx3s.dsp_sites.expect("the ULX3S's DSP sites");
        assert_eq!(sites.rows.len() * sites.columns.len(), ulx3s.resources.dsps as usize, "one site per MULT18X18D");
        assert!(ib.dsp_sites.is_none());
    }
}
