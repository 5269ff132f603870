//! `npu bench`'s report: the plots and the Markdown tables of a [`Bench`].

use super::bench::{Bench, ConfigThroughput, SimSpeed, SYNTH_POINTS};
use crate::bench::GemmPoint;
use crate::plot::{bar_chart, line_chart, value_text, Axis, Bar, Scale, Series, Titles};
use npu_fpga::flow::BuildReport;
use std::fmt::Write as _;
use std::path::Path;

/// The bars of the TOPS chart and rows of its table, largest first.
pub struct TopsEntry {
    pub label: String,
    pub tops: f64,
    /// The chart's group: see [`TOPS_GROUPS`].
    pub group: usize,
    pub what: String,
}

pub const TOPS_GROUPS: [&str; 4] = [
    "this NPU: peak, 2 x MACs per cycle x clock",
    "this NPU: measured (cycle-exact Verilated model)",
    "this machine's CPU: measured, same INT8 GEMM",
    "vendor's stated INT8 peak (sources in bench.md)",
];

fn short(c: &ConfigThroughput) -> String {
    format!("npu {}, {:.0} MHz", c.array, c.core_mhz)
}

/// Every figure of the TOPS comparison.
pub fn tops_entries(bench: &Bench) -> Vec<TopsEntry> {
    let mut e = vec![];
    for c in &bench.configs {
        let (s, p) = (short(c), &c.end_to_end);
        e.push(TopsEntry { label: format!("{s}: peak"), tops: c.peak_tops, group: 0, what: format!("{}: 2 x {} MACs x {:.0} MHz", c.name, c.array.replace('x', " x "), c.core_mhz) });
        e.push(TopsEntry { label: format!("{s}: on chip"), tops: c.on_chip_tops, group: 1, what: format!("{}: a {n}x{n}x{n} GEMM's commands, operands on chip ({:.1}% of peak)", c.name, 100.0 * c.on_chip_tops / c.peak_tops, n = c.on_chip.k) });
        e.push(TopsEntry { label: format!("{s}: end to end"), tops: p.effective_tops_end_to_end, group: 1, what: format!("{}: a {n}x{n}x{n} GEMM with its operands and results over the {} baud link ({:.2}% of peak)", c.name, c.baud, 100.0 * p.effective_tops_end_to_end / c.peak_tops, n = p.size) });
    }
    for g in &bench.cpu {
        e.push(TopsEntry { label: format!("CPU, {} thread{}", g.threads, if g.threads > 1 { "s" } else { "" }), tops: g.tops, group: 2, what: format!("{} on {}: {n}x{n}x{n} INT8 GEMM, INT32 sums, fastest of {} runs, equal to the reference", g.library, bench.machine, g.runs, n = g.size) });
    }
    for v in &bench.vendor_peaks {
        e.push(TopsEntry { label: v.name.clone(), tops: v.tops, group: 3, what: v.source.clone() });
    }
    e.sort_by(|a, b| b.tops.total_cmp(&a.tops));
    e
}

fn subtitle(bench: &Bench) -> String {
    let c = &bench.config;
    format!("{}: {}x{} array, {:.0} MHz, {} baud. Measured on {}", bench.config_name, c.array.rows, c.array.cols, c.clock.core_hz as f64 / 1e6, c.link.baud, bench.machine)
}

/// Every SVG of the report, into `out`.
pub fn write_plots(out: &Path, bench: &Bench) -> anyhow::Result<()> {
    let titles = |title: &str| Titles { title: title.into(), subtitle: subtitle(bench) };
    let k_series = |tiles: usize| Series { name: format!("{tiles} tile{} per command", if tiles > 1 { "s" } else { "" }), points: bench.k_sweep.iter().filter(|p| p.tiles == tiles).map(|p| (p.k as f64, 100.0 * p.utilization)).collect() };
    let whole = Series { name: "whole tiled GEMM, M = N = K".into(), points: bench.on_chip_gemms.iter().map(|p| (p.k as f64, 100.0 * p.utilization)).collect() };
    let pct = |label| Axis { label, scale: Scale::Linear };
    let sizes = Axis { label: "M = N = K", scale: Scale::Log2 };
    line_chart(&out.join("utilization_vs_k.svg"), &titles("MAC utilization on chip against K (cycle-exact Verilated NPU)"), Axis { label: "K, the dot product's length", scale: Scale::Log2 }, pct("MAC utilization (%)"), &[k_series(1), k_series(8), whole])?;

    let g = |f: fn(&GemmPoint) -> f64, name: &str| Series { name: name.into(), points: bench.gemms.iter().map(|p| (p.size as f64, f(p))).collect() };
    let peak = Series { name: "peak".into(), points: bench.gemms.iter().map(|p| (p.size as f64, bench.peak_tops * 1e3)).collect() };
    line_chart(&out.join("gops.svg"), &titles("INT8 GOPS of a whole GEMM: peak, on chip, end to end over the link"), sizes, Axis { label: "GOPS (log scale)", scale: Scale::Log10 }, &[peak, g(|p| p.effective_tops_on_chip * 1e3, "on chip"), g(|p| p.effective_tops_end_to_end * 1e3, "end to end over the link")])?;
    line_chart(&out.join("link_efficiency.svg"), &titles("Link efficiency of a whole GEMM: the byte bound's time / the measured time"), sizes, pct("% of the byte bound"), &[g(|p| 100.0 * p.link_efficiency, "link efficiency")])?;

    let side = |s: &SimSpeed| s.array.split('x').next().and_then(|v| v.parse::<f64>().ok()).unwrap_or(1.0);
    let sim = |f: fn(&SimSpeed) -> f64, name: &str| Series { name: name.into(), points: bench.simulation_speed.iter().map(|s| (side(s), f(s))).collect() };
    line_chart(&out.join("sim_speed.svg"), &titles("Simulation speed: the whole NPU driven through its UART pins"), Axis { label: "array side (rows = cols)", scale: Scale::Log2 }, Axis { label: "million simulated cycles per second (log scale)", scale: Scale::Log10 }, &[sim(|s| s.verilator_cycles_per_s / 1e6, "Verilator"), sim(|s| s.rust_hdl_cycles_per_s / 1e6, "rust-hdl's simulator")])?;

    if !bench.hardware.is_empty() {
        let pes = |r: &BuildReport| r.array.split('x').map(|v| v.parse::<f64>().unwrap_or(0.0)).product::<f64>();
        // A build that does not fit has no fmax: it is left out of that plot.
        let per_board = |f: fn(&BuildReport) -> f64, placed_only: bool| -> Vec<Series> {
            SYNTH_POINTS.iter().map(|(board, _, _, _)| Series { name: board.to_string(), points: bench.hardware.iter().filter(|r| r.board == *board && (r.fits || !placed_only)).map(|r| (pes(r), f(r))).collect() }).collect()
        };
        let hw_titles = |title: &str| Titles { title: title.into(), subtitle: format!("iCEBreaker: configs/default.toml, ULX3S: configs/ulx3s.toml, array side varied, and configs/ulx3s-16x16.toml. Built on {}", bench.machine) };
        let pe_axis = Axis { label: "PEs (rows x cols)", scale: Scale::Log2 };
        line_chart(&out.join("hw_scaling.svg"), &hw_titles("Logic used against PEs (iCE40UP5K logic cells, ECP5-85F LUT4)"), pe_axis, pct("% of the device's logic"), &per_board(|r| 100.0 * r.logic.used as f64 / r.logic.available as f64, false))?;
        line_chart(&out.join("hw_fmax.svg"), &hw_titles("fmax after place and route against PEs (builds that fit)"), pe_axis, Axis { label: "fmax (MHz)", scale: Scale::Linear }, &per_board(|r| r.fmax_mhz, true))?;
        // Peak GOPS at the config's clock, for the builds that meet it.
        let gops: Vec<Series> = SYNTH_POINTS
            .iter()
            .map(|(board, _, _, _)| Series {
                name: board.to_string(),
                points: bench.hardware.iter().filter(|r| r.board == *board && r.fits && r.timing_met).map(|r| (pes(r), r.peak_tops * 1e3)).collect(),
            })
            .collect();
        line_chart(&out.join("hw_gops.svg"), &hw_titles("Peak INT8 GOPS against PEs, at the config's clock (builds that meet it)"), pe_axis, Axis { label: "GOPS (log scale)", scale: Scale::Log10 }, &gops)?;
    }

    let bars: Vec<Bar> = tops_entries(bench).into_iter().map(|e| Bar { label: e.label, value: e.tops, group: e.group }).collect();
    let tops_titles = Titles { title: "INT8 TOPS: this NPU (peak and measured), this machine's CPU, and NPUs people compare".into(), subtitle: format!("TOPS = 2 x MACs per cycle x clock. NPU configs: {}. Measured on {}", bench.configs.iter().map(|c| format!("{} ({} at {:.0} MHz)", c.name, c.array, c.core_mhz)).collect::<Vec<_>>().join(", "), bench.machine) };
    bar_chart(&out.join("tops.svg"), &tops_titles, "INT8 TOPS (log scale)", &bars, &TOPS_GROUPS)?;
    Ok(())
}

/// The report's tables, in Markdown.
pub fn markdown(bench: &Bench) -> String {
    let mut ks: Vec<usize> = bench.k_sweep.iter().map(|p| p.k).collect();
    ks.sort_unstable();
    ks.dedup();
    let c = &bench.config;
    let (rows, cols, hz) = (c.array.rows, c.array.cols, c.clock.core_hz as f64);
    let mut md = String::new();
    let _ = writeln!(md, "Measured by `{}` on {} (config {}: {}x{} array, {:.0} MHz, {} baud; peak {:.3} GOPS = {:.6} TOPS INT8 at {}).\n", bench.command, bench.machine, bench.config_name, rows, cols, hz / 1e6, c.link.baud, bench.peak_tops * 1e3, bench.peak_tops, bench.clock_source);

    let _ = writeln!(md, "TOPS in context (`tops.svg`; TOPS = 2 x MACs per second, INT8):\n\n| | INT8 TOPS | GOPS | what, and where the figure comes from |\n|---|---|---|---|");
    for e in tops_entries(bench) {
        let _ = writeln!(md, "| {} | {} | {} | {} |", e.label, value_text(e.tops), value_text(e.tops * 1e3), e.what);
    }

    let _ = writeln!(md, "\n| K | MAC utilization, 1 tile | 8 tiles back to back |\n|---|---|---|");
    for k in &ks {
        let u = |t: usize| bench.k_sweep.iter().find(|p| p.k == *k && p.tiles == t).map_or(0.0, |p| 100.0 * p.utilization);
        let _ = writeln!(md, "| {k} | {:.1}% | {:.1}% |", u(1), u(8));
    }
    let _ = writeln!(md, "\n| whole tiled GEMM, M = N = K | GEMM commands' tiles | engine cycles | MAC utilization on chip |\n|---|---|---|---|");
    for p in &bench.on_chip_gemms {
        let _ = writeln!(md, "| {} | {} | {} | {:.1}% |", p.k, p.tiles, p.engine_cycles, 100.0 * p.utilization);
    }
    for l in &bench.large_on_chip {
        let _ = writeln!(md, "\n{} ({} at {:.0} MHz, peak {:.1} GOPS), operands on chip:\n\n| whole tiled GEMM, M = N = K | GEMM commands' tiles | engine cycles | MAC utilization on chip | GOPS at its clock |\n|---|---|---|---|---|", l.name, l.array, l.core_mhz, l.peak_tops * 1e3);
        for p in &l.points {
            let _ = writeln!(md, "| {} | {} | {} | {:.1}% | {:.1} |", p.k, p.tiles, p.engine_cycles, 100.0 * p.utilization, p.utilization * l.peak_tops * 1e3);
        }
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
        if let Some(command) = &bench.builds_command {
            let _ = writeln!(md, "\nThe bitstream builds below are not this run's: they come from an earlier run, `{command}`, and are of the HDL as it was then.");
        }
        let _ = writeln!(md, "\n| board | array | logic | DSPs | block RAM | SPRAM | fmax | required | fits, timing | build time |\n|---|---|---|---|---|---|---|---|---|---|");
        for r in &bench.hardware {
            let fmax = if r.fits { format!("{:.2} MHz", r.fmax_mhz) } else { "(does not fit)".into() };
            let _ = writeln!(md, "| {} | {} | {} / {} | {} / {} | {} / {} | {} / {} | {fmax} | {:.2} MHz | {}, {} | {:.0} s |", r.board, r.array, r.logic.used, r.logic.available, r.dsps.used, r.dsps.available, r.block_ram.used, r.block_ram.available, r.spram.used, r.spram.available, r.required_mhz, if r.fits { "fits" } else { "does not fit" }, if r.timing_met { "met" } else { "missed" }, r.seconds.values().sum::<f64>());
        }
    }
    let _ = writeln!(md, "\nPlots: tops.svg, utilization_vs_k.svg, gops.svg, link_efficiency.svg, sim_speed.svg{}.", if bench.hardware.is_empty() { "" } else { ", hw_scaling.svg, hw_fmax.svg, hw_gops.svg" });
    md
}
