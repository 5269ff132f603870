//! `npu bench`: the measured performance report, with plots.

use super::ConfigArg;
use crate::bench::{gemm_point, k_point, open_sim, GemmPoint, KPoint};
use crate::output::write_atomically;
use crate::plot::{line_chart, Series};
use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
#[command(after_help = "Examples:\n  npu bench --out bench/\n  npu bench --quick --out /tmp/bench\n  npu bench --synth --out bench/            (adds iCEBreaker builds of 1x1, 2x2, 4x4 and ULX3S builds of 2x2, 4x4, 8x8: about 9 minutes in all)\n\nWrites DIR/bench.json (every figure with the machine, the config and this\ncommand), DIR/bench.md and SVG plots. All timings of the NPU are device\ncycles of the cycle-exact Verilated model at the config's clock; simulation\nspeed is wall time on this machine.")]
pub struct BenchArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Output folder
    #[arg(long, value_name = "DIR", default_value = "bench")]
    out: PathBuf,
    /// Fewer and smaller runs (for tests)
    #[arg(long)]
    quick: bool,
    /// Also build bitstreams: iCEBreaker 1x1, 2x2, 4x4 and ULX3S (ECP5) 2x2, 4x4, 8x8 (minutes)
    #[arg(long)]
    synth: bool,
}

#[derive(Serialize)]
struct SimSpeed {
    array: String,
    rust_hdl_cycles_per_s: f64,
    verilator_cycles_per_s: f64,
    ratio: f64,
}

#[derive(Serialize)]
struct Bench {
    command: String,
    machine: String,
    config: npu_spec::NpuConfig,
    clock_source: String,
    peak_tops: f64,
    k_sweep: Vec<KPoint>,
    /// Whole tiled GEMMs, on chip only: `k` is the side M = N = K.
    on_chip_gemms: Vec<KPoint>,
    gemms: Vec<GemmPoint>,
    simulation_speed: Vec<SimSpeed>,
    hardware: Vec<npu_fpga::flow::BuildReport>,
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())).unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} cores, {} {}", std::env::consts::OS, std::env::consts::ARCH)
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let config = args.config.load()?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let started = Instant::now();
    let step = |what: &str| eprintln!("[{:>5.0} s] {what}", started.elapsed().as_secs_f64());
    if args.synth {
        // Fail before the long run, not after it.
        for family in [npu_fpga::board::Family::Ice40, npu_fpga::board::Family::Ecp5] {
            npu_fpga::flow::check_tools(family).context("npu bench --synth builds for iCE40 and ECP5")?;
        }
    }
    let (rows, cols) = (config.array.rows, config.array.cols);
    let hz = config.clock.core_hz as f64;
    let peak_tops = 2.0 * (rows * cols) as f64 * hz / 1e12;

    step("preparing the Verilated NPU");
    let mut npu = open_sim(&config)?;
    step("array efficiency against K");
    let ks: Vec<usize> = if args.quick { vec![1, 4, 16, 64] } else { vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] };
    let mut k_sweep = vec![];
    for &tiles in &[1usize, 8] {
        for &k in &ks {
            k_sweep.push(k_point(&mut npu, k, tiles)?);
        }
    }
    step("whole tiled GEMMs on chip (the plan's GEMM commands)");
    let sides: Vec<usize> = if args.quick { vec![16, 64] } else { vec![64, 128, 256, 512, 1024] };
    let mut on_chip_gemms = vec![];
    for &side in &sides {
        on_chip_gemms.push(crate::bench::on_chip_point(&mut npu, side)?);
    }
    let sizes: Vec<usize> = if args.quick { vec![16, 32] } else { vec![64, 128, 256] };
    let mut gemms = vec![];
    for &s in &sizes {
        step(&format!("{s}x{s}x{s} GEMM through the driver"));
        gemms.push(gemm_point(&mut npu, s, s as u64)?);
    }
    step("simulation speed: rust-hdl against Verilator");
    let mut simulation_speed = vec![];
    let sides: Vec<usize> = if args.quick { vec![2] } else { vec![2, 4, 8] };
    for side in sides {
        let mut c = config.clone();
        c.array.rows = side;
        c.array.cols = side;
        let rhdl = npu_sim::npu_sim::uart_rate(&mut npu_sim::npu_sim::NpuSim::new(&c), if args.quick { 2_000 } else { 20_000 });
        let pins = npu_sim::npu_sim::VerilatedNpu::new(&c, None)?;
        let v = npu_sim::npu_sim::uart_rate(&mut npu_sim::npu_sim::NpuSim::with_pins(pins, &c), if args.quick { 200_000 } else { 2_000_000 });
        simulation_speed.push(SimSpeed { array: format!("{side}x{side}"), rust_hdl_cycles_per_s: rhdl, verilator_cycles_per_s: v, ratio: v / rhdl });
    }
    let hardware = if args.synth { synth_points(&args.out, &|what: &str| step(what))? } else { vec![] };
    let bench = Bench {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine: machine(),
        config: config.clone(),
        clock_source: format!("the config's clock.core_hz ({:.2} MHz), not a synthesis fmax", hz / 1e6),
        peak_tops,
        k_sweep,
        on_chip_gemms,
        gemms,
        simulation_speed,
        hardware,
    };
    write_atomically(&args.out.join("bench.json"), serde_json::to_string_pretty(&bench)?.as_bytes())?;

    // The plots.
    let k_series = |tiles: usize| Series { name: format!("{tiles} tile{} per command", if tiles > 1 { "s" } else { "" }), points: bench.k_sweep.iter().filter(|p| p.tiles == tiles).map(|p| (p.k as f64, 100.0 * p.utilization)).collect() };
    let whole = Series { name: "whole tiled GEMM, M = N = K".into(), points: bench.on_chip_gemms.iter().map(|p| (p.k as f64, 100.0 * p.utilization)).collect() };
    line_chart(&args.out.join("utilization_vs_k.svg"), &format!("MAC utilization, {rows}x{cols} array (Verilator, cycle-exact)"), "K", "utilization %", &[k_series(1), k_series(8), whole], true)?;
    let g = |f: fn(&GemmPoint) -> f64, name: &str| Series { name: name.into(), points: bench.gemms.iter().map(|p| (p.size as f64, f(p))).collect() };
    let peak = Series { name: "peak".into(), points: bench.gemms.iter().map(|p| (p.size as f64, peak_tops * 1e3)).collect() };
    line_chart(&args.out.join("gops.svg"), &format!("INT8 GOPS at {:.0} MHz: peak, on chip, end to end", hz / 1e6), "M = N = K", "GOPS", &[peak, g(|p| p.effective_tops_on_chip * 1e3, "on chip"), g(|p| p.effective_tops_end_to_end * 1e3, "end to end over the link")], true)?;
    line_chart(&args.out.join("link_efficiency.svg"), &format!("Link efficiency at {} baud: byte bound / measured time", config.link.baud), "M = N = K", "% of the byte bound", &[g(|p| 100.0 * p.link_efficiency, "link efficiency")], true)?;
    let sim = |f: fn(&SimSpeed) -> f64, name: &str| Series { name: name.into(), points: bench.simulation_speed.iter().map(|s| (s.array[..s.array.find('x').unwrap()].parse::<f64>().unwrap(), f(s))).collect() };
    line_chart(&args.out.join("sim_speed.svg"), "Simulated cycles per second, whole NPU through its UART", "array side", "million cycles/s", &[sim(|s| s.verilator_cycles_per_s / 1e6, "Verilator"), sim(|s| s.rust_hdl_cycles_per_s / 1e6, "rust-hdl")], true)?;
    if !bench.hardware.is_empty() {
        let pes = |r: &npu_fpga::flow::BuildReport| r.array.split('x').map(|v| v.parse::<f64>().unwrap_or(0.0)).product::<f64>();
        // A build that does not fit has no fmax: it is left out of that plot.
        let per_board = |f: fn(&npu_fpga::flow::BuildReport) -> f64, placed_only: bool| -> Vec<Series> {
            SYNTH_POINTS.iter().map(|(board, ..)| Series { name: board.to_string(), points: bench.hardware.iter().filter(|r| r.board == *board && (r.fits || !placed_only)).map(|r| (pes(r), f(r))).collect() }).collect()
        };
        line_chart(&args.out.join("hw_scaling.svg"), "Logic used against PEs (% of the device: iCE40UP5K logic cells, ECP5-85F LUT4)", "PEs", "% of the device's logic", &per_board(|r| 100.0 * r.logic.used as f64 / r.logic.available as f64, false), true)?;
        line_chart(&args.out.join("hw_fmax.svg"), "fmax after place and route against PEs (builds that fit)", "PEs", "MHz", &per_board(|r| r.fmax_mhz, true), true)?;
    }

    // The Markdown report.
    let mut md = String::new();
    let _ = writeln!(md, "Measured by `{}` on {} (config: {}x{} array, {:.0} MHz, {} baud; peak {:.3} GOPS = {:.6} TOPS INT8 at {}).\n", bench.command, bench.machine, rows, cols, hz / 1e6, config.link.baud, peak_tops * 1e3, peak_tops, bench.clock_source);
    let _ = writeln!(md, "| K | MAC utilization, 1 tile | 8 tiles back to back |\n|---|---|---|");
    for k in &ks {
        let u = |t: usize| bench.k_sweep.iter().find(|p| p.k == *k && p.tiles == t).map_or(0.0, |p| 100.0 * p.utilization);
        let _ = writeln!(md, "| {k} | {:.1}% | {:.1}% |", u(1), u(8));
    }
    let _ = writeln!(md, "\n| whole tiled GEMM, M = N = K | GEMM commands' tiles | engine cycles | MAC utilization on chip |\n|---|---|---|---|");
    for p in &bench.on_chip_gemms {
        let _ = writeln!(md, "| {} | {} | {} | {:.1}% |", p.k, p.tiles, p.engine_cycles, 100.0 * p.utilization);
    }
    let _ = writeln!(md, "\n| M = N = K | on-chip utilization | on-chip GOPS | end-to-end GOPS | device time | byte bound | link efficiency | bytes on the wire / bound |\n|---|---|---|---|---|---|---|---|");
    for p in &bench.gemms {
        let _ = writeln!(md, "| {} | {:.1}% | {:.3} | {:.4} | {:.1} ms | {:.1} ms | {:.1}% | {:.2} |", p.size, 100.0 * p.utilization_on_chip, p.effective_tops_on_chip * 1e3, p.effective_tops_end_to_end * 1e3, p.seconds_end_to_end * 1e3, p.seconds_byte_bound * 1e3, 100.0 * p.link_efficiency, p.bytes_on_wire as f64 / p.bound_bytes as f64);
    }
    let _ = writeln!(md, "\n| array | rust-hdl cycles/s | Verilator cycles/s | ratio |\n|---|---|---|---|");
    for s in &bench.simulation_speed {
        let _ = writeln!(md, "| {} | {:.0} | {:.0} | {:.0}x |", s.array, s.rust_hdl_cycles_per_s, s.verilator_cycles_per_s, s.ratio);
    }
    if !bench.hardware.is_empty() {
        let _ = writeln!(md, "\n| board | array | logic | DSPs | block RAM | SPRAM | fmax | required | fits, timing | build time |\n|---|---|---|---|---|---|---|---|---|---|");
        for r in &bench.hardware {
            let fmax = if r.fits { format!("{:.2} MHz", r.fmax_mhz) } else { "(does not fit)".into() };
            let _ = writeln!(md, "| {} | {} | {} / {} | {} / {} | {} / {} | {} / {} | {fmax} | {:.2} MHz | {}, {} | {:.0} s |", r.board, r.array, r.logic.used, r.logic.available, r.dsps.used, r.dsps.available, r.block_ram.used, r.block_ram.available, r.spram.used, r.spram.available, r.required_mhz, if r.fits { "fits" } else { "does not fit" }, if r.timing_met { "met" } else { "missed" }, r.seconds.values().sum::<f64>());
        }
    }
    let _ = writeln!(md, "\nPlots: utilization_vs_k.svg, gops.svg, link_efficiency.svg, sim_speed.svg{}.", if bench.hardware.is_empty() { "" } else { ", hw_scaling.svg, hw_fmax.svg" });
    write_atomically(&args.out.join("bench.md"), md.as_bytes())?;
    print!("{md}");
    eprintln!("wrote {} in {:.0} s", args.out.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// The synthesis runs of `--synth`: board, its shipped config, the array sides.
const SYNTH_POINTS: [(&str, &str, &str, [usize; 3]); 2] = [
    ("icebreaker", include_str!("../../../configs/default.toml"), "configs/default.toml", [1, 2, 4]),
    ("ulx3s", include_str!("../../../configs/ulx3s.toml"), "configs/ulx3s.toml", [2, 4, 8]),
];

/// Builds every point of [`SYNTH_POINTS`] under `out/<board>-<side>x<side>/`,
/// the two boards side by side (one core each). A build that does not fit
/// or misses timing still gives its report; one that gives none is an error.
fn synth_points(out: &std::path::Path, step: &(dyn Fn(&str) + Sync)) -> Result<Vec<npu_fpga::flow::BuildReport>> {
    let per_board = std::thread::scope(|scope| {
        let runs: Vec<_> = SYNTH_POINTS
            .iter()
            .map(|&(name, toml, path, sides)| {
                scope.spawn(move || -> Result<Vec<npu_fpga::flow::BuildReport>> {
                    let board = npu_fpga::board::Board::named(name).map_err(anyhow::Error::msg)?;
                    let base = npu_spec::NpuConfig::from_toml_str(toml, path)?;
                    let mut reports = vec![];
                    for side in sides {
                        let mut c = base.clone();
                        c.array.rows = side;
                        c.array.cols = side;
                        let dir = out.join(format!("{name}-{side}x{side}"));
                        let _ = std::fs::remove_file(dir.join("report.json"));
                        step(&format!("{name} build of {side}x{side} ({path}) in {}", dir.display()));
                        let built = npu_fpga::flow::build(&board, &c, &dir, &mut |_, _| {});
                        if let Err(e) = &built {
                            step(&format!("{name} {side}x{side}: {e}"));
                        }
                        let text = std::fs::read_to_string(dir.join("report.json")).with_context(|| format!("the {name} build of {side}x{side} gave no report (logs in {})", dir.display()))?;
                        reports.push(serde_json::from_str(&text)?);
                    }
                    Ok(reports)
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().expect("a build thread panicked")).collect::<Result<Vec<_>>>()
    })?;
    Ok(per_board.into_iter().flatten().collect())
}
