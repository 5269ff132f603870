//! `npu synth`: the bitstream for a board, with its report.

use super::ConfigArg;
use anyhow::{Context, Result};
use clap::Args;
use npu_fpga::board::Board;
use npu_fpga::flow::Stage;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
#[command(after_help = "Examples:\n  npu synth --board icebreaker\n  npu synth --board icebreaker --config my-npu.toml --out build/mine\n  npu synth --board ulx3s --config configs/ulx3s.toml      (ECP5: needs scripts/setup-ecp5 once)\n\nWrites DIR/npu.bin (iCE40) or DIR/npu.bit (ECP5), the tools' logs, the\nsynthesised netlist (DIR/netlist.v), every routed delay (DIR/npu.sdf: each\nendpoint's slack with scripts/sdf_slack.py DIR/npu.sdf PERIOD_NS) and\nDIR/report.json. Exit code 1 when the design does not fit or misses timing; the report names the numbers.")]
pub struct SynthArgs {
    /// Board to build for (icebreaker, ulx3s)
    #[arg(long)]
    board: String,
    /// Output folder (default: build/<board>)
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    config: ConfigArg,
}

pub fn run(args: &SynthArgs) -> Result<()> {
    let board = Board::named(&args.board).map_err(anyhow::Error::msg)?;
    let config = args.config.load()?;
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("build").join(&board.name));
    println!("building the {}x{} NPU for {} at {:.2} MHz into {}", config.array.rows, config.array.cols, board.description, config.clock.core_hz as f64 / 1e6, out.display());
    let started = Instant::now();
    let result = npu_fpga::flow::build(&board, &config, &out, &mut |stage, what| {
        eprintln!("[{}/{}] {what} ... ({:.0} s so far)", stage.number(), Stage::COUNT, started.elapsed().as_secs_f64());
    });
    match result {
        Ok(report) => {
            print!("{}", report.table());
            println!("wrote {} and {} in {:.1} s", report.bitstream.as_ref().expect("built").display(), out.join("report.json").display(), started.elapsed().as_secs_f64());
            Ok(())
        }
        Err(e) => {
            // The report exists for a design that did not fit or missed timing.
            if let Ok(text) = std::fs::read_to_string(out.join("report.json")) {
                if let Ok(report) = serde_json::from_str::<npu_fpga::flow::BuildReport>(&text) {
                    print!("{}", report.table());
                }
            }
            Err(e).with_context(|| format!("the {} build failed", board.name))
        }
    }
}
