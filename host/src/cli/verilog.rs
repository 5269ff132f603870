//! `npu verilog`: the Verilog of the systolic array.

use super::ConfigArg;
use crate::output::write_atomically;
use anyhow::Context;
use clap::Args;
use npu_hdl::verilog::{array_verilog, ARRAY_TOP};
use std::path::{Path, PathBuf};

#[derive(Args)]
#[command(after_help = "Examples:\n  npu verilog -o build/npu_array.v\n  npu verilog --config configs/default.toml -o npu_array.v --check\n\nThe top module is `npu_array`.")]
pub struct VerilogArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Where to write the Verilog
    #[arg(long, short = 'o', value_name = "FILE.v")]
    output: PathBuf,
    /// Then lint it (verilator --lint-only -Wall) and synthesise it (yosys synth)
    #[arg(long)]
    check: bool,
}

pub fn run(args: &VerilogArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let text = array_verilog(&config);
    write_atomically(&args.output, text.as_bytes())?;
    println!(
        "wrote {}: module {ARRAY_TOP}, a {}x{} array, {} lines",
        args.output.display(),
        config.array.rows,
        config.array.cols,
        text.lines().count()
    );
    if args.check {
        check(&args.output)?;
    }
    Ok(())
}

fn check(path: &Path) -> anyhow::Result<()> {
    eprintln!("linting with verilator -Wall ...");
    npu_sim::verilator::lint(path, ARRAY_TOP)?;
    println!("verilator --lint-only -Wall: clean");
    let log = path.with_extension("yosys.log");
    eprintln!("synthesising with yosys (log: {}) ...", log.display());
    let stats = npu_fpga::synth_generic(path, ARRAY_TOP, &log).context("yosys did not accept the Verilog")?;
    println!("yosys synth: {} cells, {} flip-flops", stats.cells, stats.count_matching("DFF"));
    Ok(())
}
