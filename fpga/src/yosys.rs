//! yosys synthesis and its statistics.

use crate::run::{run_logged, ToolError};
use npu_spec::tools::YOSYS;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// yosys's data folder (see [`npu_spec::tools::yosys_share_dir`]).
pub fn share_dir() -> Result<std::path::PathBuf, ToolError> {
    npu_spec::tools::yosys_share_dir().map_err(ToolError::Setup)
}

/// The cell counts of a synthesised design, as yosys's `stat -json` reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SynthStats {
    /// Every cell of the flattened top module.
    pub cells: u64,
    /// Cells by type (`$_XOR_`, `SB_LUT4`, `SB_MAC16`, ...).
    pub cells_by_type: BTreeMap<String, u64>,
    /// Memories yosys kept as memories (not broken into registers).
    pub memories: u64,
}

impl SynthStats {
    /// Cells whose type name contains `pattern` (`"DFF"` counts flip-flops).
    pub fn count_matching(&self, pattern: &str) -> u64 {
        self.cells_by_type.iter().filter(|(t, _)| t.contains(pattern)).map(|(_, n)| n).sum()
    }

    /// Parses the output of `stat -json`, taking the whole design's totals.
    pub fn from_stat_json(text: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Stat {
            design: Totals,
        }
        #[derive(Deserialize)]
        struct Totals {
            num_cells: u64,
            #[serde(default)]
            num_memories: u64,
            #[serde(default)]
            num_cells_by_type: BTreeMap<String, u64>,
        }
        let stat: Stat = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Ok(Self {
            cells: stat.design.num_cells,
            cells_by_type: stat.design.num_cells_by_type,
            memories: stat.design.num_memories,
        })
    }
}

/// iCE40 UltraPlus synthesis (`synth_ice40 -spram`, no DSP inference) of
/// `verilog` with top module `top`: the cell counts in iCE40 primitives
/// (SB_LUT4, SB_DFF*, SB_RAM40_4K block RAM, SB_SPRAM256KA, ...), memories
/// placed as the board build places them. The log is `log`.
pub fn synth_ice40(verilog: &Path, top: &str, log: &Path) -> Result<SynthStats, ToolError> {
    run_script(verilog, &format!("synth_ice40 -spram -top {top}"), log)
}

/// Technology-independent synthesis of `verilog` with top module `top`:
/// yosys's `synth`, flattened, then `check -assert` (fails on undriven or
/// multiply driven nets and combinational loops). The log is `log`.
pub fn synth_generic(verilog: &Path, top: &str, log: &Path) -> Result<SynthStats, ToolError> {
    run_script(verilog, &format!("synth -flatten -top {top}; check -assert"), log)
}

/// ECP5 synthesis as the board build runs it (`synth_ecp5 -nodsp`) of
/// `verilog` read with the Verilog `defines` (names, such as `NPU_ECP5`):
/// the cell counts in ECP5 primitives. The log is `log`.
pub fn synth_ecp5(verilog: &Path, top: &str, defines: &[&str], log: &Path) -> Result<SynthStats, ToolError> {
    let read = defines.iter().map(|d| format!("-D{d} ")).collect::<String>();
    run_script_reading(verilog, &read, &format!("synth_ecp5 -nodsp -top {top}"), log)
}

/// Runs `synthesis` on a copy of `verilog` and reads the statistics.
fn run_script(verilog: &Path, synthesis: &str, log: &Path) -> Result<SynthStats, ToolError> {
    run_script_reading(verilog, "", synthesis, log)
}

/// [`run_script`] with `read_flags` (such as defines) for `read_verilog`.
fn run_script_reading(verilog: &Path, read_flags: &str, synthesis: &str, log: &Path) -> Result<SynthStats, ToolError> {
    let work = tempfile::tempdir().map_err(|error| ToolError::Log { path: log.to_owned(), error })?;
    // yosys scripts cannot quote file names, so the design is copied into a
    // scratch folder and named relative to it.
    let design = work.path().join("design.v");
    std::fs::copy(verilog, &design).map_err(|source| ToolError::Input { path: verilog.to_owned(), error: source })?;
    let stat_path = work.path().join("stat.json");
    let script = format!("read_verilog {read_flags}design.v; {synthesis}; tee -q -o stat.json stat -json");
    run_logged(&YOSYS, &["-q", "-p", &script], work.path(), log)?;
    let text = std::fs::read_to_string(&stat_path).map_err(|e| ToolError::Output {
        program: YOSYS.program,
        path: stat_path.clone(),
        detail: e.to_string(),
    })?;
    SynthStats::from_stat_json(&text).map_err(|detail| ToolError::Output { program: YOSYS.program, path: stat_path, detail })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stat_json() {
        let text = r#"{ "creator": "Yosys", "modules": {}, "design": {
            "num_wires": 3, "num_cells": 5, "num_memories": 1,
            "num_cells_by_type": { "$_DFF_P_": 2, "$_SDFFCE_PP0P_": 1, "$_XOR_": 2 } } }"#;
        let s = SynthStats::from_stat_json(text).unwrap();
        assert_eq!(s.cells, 5);
        assert_eq!(s.memories, 1);
        assert_eq!(s.count_matching("DFF"), 3);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(SynthStats::from_stat_json("not json").is_err());
    }
}
