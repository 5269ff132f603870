//! Verilator: lint of the generated Verilog (the simulation binding follows).

use npu_spec::tools::{ToolMissing, VERILATOR};
use std::path::Path;
use std::process::Command;

/// Why a Verilog file did not lint clean.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error(transparent)]
    Missing(#[from] ToolMissing),
    #[error("could not start verilator: {0}")]
    Spawn(std::io::Error),
    #[error("verilator --lint-only -Wall found {count} problem(s) in {file}:\n{report}")]
    Findings { file: String, count: usize, report: String },
}

/// `verilator --lint-only -Wall` on `verilog` with top module `top`: every
/// warning class on; clean means no output and exit 0.
pub fn lint(verilog: &Path, top: &str) -> Result<(), LintError> {
    let program = VERILATOR.find()?;
    let out = Command::new(program)
        .args(["--lint-only", "-Wall", "--top-module", top])
        .arg(verilog)
        .output()
        .map_err(LintError::Spawn)?;
    let mut report = String::from_utf8_lossy(&out.stdout).into_owned();
    report.push_str(&String::from_utf8_lossy(&out.stderr));
    let count = report.lines().filter(|l| l.starts_with("%Warning") || l.starts_with("%Error")).count();
    if out.status.success() && count == 0 {
        return Ok(());
    }
    Err(LintError::Findings { file: verilog.display().to_string(), count: count.max(1), report })
}
