//! The external programs the toolkit drives, and how a user gets each one.
//!
//! Every command that needs one calls [`Tool::find`], so a missing program is
//! always reported the same way: its name, what it is needed for, and the
//! command that installs it.

use std::path::{Path, PathBuf};

/// An external program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// The executable's name, looked up on `PATH`.
    pub program: &'static str,
    /// What the toolkit uses it for.
    pub purpose: &'static str,
    /// The command that installs it on Debian.
    pub install: &'static str,
}

pub const VERILATOR: Tool = Tool {
    program: "verilator",
    purpose: "linting and simulating the generated Verilog",
    install: "sudo apt-get install verilator",
};
pub const YOSYS: Tool = Tool {
    program: "yosys",
    purpose: "synthesising the generated Verilog",
    install: "sudo apt-get install yosys",
};
pub const NEXTPNR_ICE40: Tool = Tool {
    program: "nextpnr-ice40",
    purpose: "placing and routing for iCE40 boards",
    install: "sudo apt-get install nextpnr-ice40",
};
pub const ICEPACK: Tool = Tool {
    program: "icepack",
    purpose: "packing iCE40 bitstreams",
    install: "sudo apt-get install fpga-icestorm",
};

/// A tool that is not on `PATH`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{program}` was not found on PATH; it is needed for {purpose}. Install it with `{install}` (or run scripts/setup)")]
pub struct ToolMissing {
    pub program: &'static str,
    pub purpose: &'static str,
    pub install: &'static str,
}

pub const ICETIME: Tool = Tool {
    program: "icetime",
    purpose: "timing analysis of iCE40 bitstreams",
    install: "sudo apt-get install fpga-icestorm",
};
pub const OPENFPGALOADER: Tool = Tool {
    program: "openFPGALoader",
    purpose: "programming FPGA boards",
    install: "sudo apt-get install openfpgaloader",
};

/// yosys's data folder (`<prefix>/share/yosys`: cell libraries such as
/// `ice40/cells_sim.v`), found next to the `yosys` program.
pub fn yosys_share_dir() -> Result<PathBuf, String> {
    let yosys = YOSYS.find().map_err(|e| e.to_string())?;
    let yosys = std::fs::canonicalize(&yosys).unwrap_or(yosys);
    match yosys.parent().and_then(|bin| bin.parent()).map(|prefix| prefix.join("share").join("yosys")) {
        Some(dir) if dir.join("ice40").join("cells_sim.v").is_file() => Ok(dir),
        _ => Err(format!("yosys's cell library (share/yosys/ice40/cells_sim.v) was not found next to {}; reinstall yosys: sudo apt-get install yosys", yosys.display())),
    }
}

impl Tool {
    /// The full path of the program, or an error that says how to install it.
    pub fn find(&self) -> Result<PathBuf, ToolMissing> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join(self.program))
            .find(|candidate| is_executable(candidate))
            .ok_or(ToolMissing {
                program: self.program,
                purpose: self.purpose,
                install: self.install,
            })
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_its_install_command() {
        let ghost = Tool { program: "npu-no-such-tool", purpose: "testing", install: "apt-get install ghost" };
        let e = ghost.find().unwrap_err();
        assert_eq!(
            e.to_string(),
            "`npu-no-such-tool` was not found on PATH; it is needed for testing. \
             Install it with `apt-get install ghost` (or run scripts/setup)"
        );
    }

    #[test]
    fn a_present_tool_is_found() {
        let sh = Tool { program: "sh", purpose: "testing", install: "" };
        assert!(sh.find().unwrap().ends_with("sh"));
    }
}
