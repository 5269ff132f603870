//! Running an external tool: found on PATH (or explained how to install it),
//! its output kept in a log file, its failure reported with the log's end.

use npu_spec::tools::{Tool, ToolMissing};
use std::path::{Path, PathBuf};
use std::process::Command;

/// How many lines of a failed tool's log go into the error.
const LOG_TAIL_LINES: usize = 15;

/// An external tool that could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error(transparent)]
    Missing(#[from] ToolMissing),
    #[error("{0}")]
    Setup(String),
    #[error("could not start `{program}`: {error}")]
    Spawn { program: &'static str, error: std::io::Error },
    #[error("could not write the log {path}: {error}")]
    Log { path: PathBuf, error: std::io::Error },
    #[error("could not read {path}: {error}")]
    Input { path: PathBuf, error: std::io::Error },
    #[error("`{program}` failed ({status}); the end of its log {log}:\n{tail}")]
    Failed { program: &'static str, status: String, log: PathBuf, tail: String },
    #[error("`{program}` succeeded but its output {path} is unreadable: {detail}")]
    Output { program: &'static str, path: PathBuf, detail: String },
}

/// Runs `tool` with `args` in `dir`, output and errors to `log`.
pub fn run_logged(tool: &Tool, args: &[&str], dir: &Path, log: &Path) -> Result<(), ToolError> {
    let program = tool.find()?;
    run_program(&program, tool.program, args, dir, log)
}

/// Runs the program at `program` (called `name` in messages) like [`run_logged`].
pub fn run_program(program: &Path, name: &'static str, args: &[&str], dir: &Path, log: &Path) -> Result<(), ToolError> {
    let tool = Tool { program: name, purpose: "", install: "" };
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|error| ToolError::Spawn { program: tool.program, error })?;
    let mut text = output.stdout;
    text.extend_from_slice(&output.stderr);
    std::fs::write(log, &text).map_err(|error| ToolError::Log { path: log.to_owned(), error })?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
    Err(ToolError::Failed { program: tool.program, status: output.status.to_string(), log: log.to_owned(), tail })
}
