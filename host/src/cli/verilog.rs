//! `npu verilog`: the Verilog of the systolic array.

use super::ConfigArg;
use crate::output::write_atomically;
use anyhow::Context;
use clap::Args;
use npu_hdl::verilog::{array_verilog, npu_verilog, ARRAY_TOP, NPU_TOP};
use std::path::{Path, PathBuf};

#[derive(Args)]
#[command(after_help = "Examples:\n  npu verilog -o build/npu.v\n  npu verilog --config configs/default.toml -o npu.v --check\n  npu verilog --array -o build/npu_array.v\n\nThe top module is `npu` (ports clock, uart_rx, uart_tx, busy), or `npu_array` with --array.")]
pub struct VerilogArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Where to write the Verilog
    #[arg(long, short = 'o', value_name = "FILE.v")]
    output: PathBuf,
    /// Then lint it (verilator --lint-only -Wall) and synthesise it (yosys synth)
    #[arg(long)]
    check: bool,
    /// Only the systolic array (top module npu_array), not the whole NPU
    #[arg(long)]
    array: bool,
}

pub fn run(args: &VerilogArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let (text, top, what) = if args.array {
        (array_verilog(&config), ARRAY_TOP, "the systolic array")
    } else {
        (npu_verilog(&config), NPU_TOP, "the NPU (UART link, memories, array, requantizer)")
    };
    write_atomically(&args.output, text.as_bytes())?;
    println!(
        "wrote {}: module {top}, {what}, {}x{} PEs, {} lines",
        args.output.display(),
        config.array.rows,
        config.array.cols,
        text.lines().count()
    );
    if args.check {
        check(&args.output, top)?;
    }
    Ok(())
}

fn check(path: &Path, top: &str) -> anyhow::Result<()> {
    eprintln!("linting with verilator -Wall ...");
    npu_sim::verilator::lint(path, top)?;
    println!("verilator --lint-only -Wall: clean (waivers, with their reasons, at the top of the file)");
    let log = path.with_extension("yosys.log");
    if top == ARRAY_TOP {
        eprintln!("synthesising with yosys synth (log: {}) ...", log.display());
        let stats = npu_fpga::synth_generic(path, top, &log).context("yosys did not accept the Verilog")?;
        println!("yosys synth: {} cells, {} flip-flops", stats.cells, stats.count_matching("DFF"));
    } else {
        // The memories only stay memories with a target that has block RAM.
        eprintln!("synthesising with yosys synth_ice40, about a minute (log: {}) ...", log.display());
        let stats = npu_fpga::synth_ice40(path, top, &log).context("yosys did not accept the Verilog")?;
        println!(
            "yosys synth_ice40 -spram: {} LUTs, {} flip-flops, {} block RAMs (SB_RAM40_4K), {} SPRAMs, multipliers in LUTs",
            stats.count_matching("SB_LUT4"),
            stats.count_matching("DFF"),
            stats.count_matching("SB_RAM40_4K"),
            stats.count_matching("SB_SPRAM256KA")
        );
    }
    Ok(())
}
