//! The `npu` command line: one module per subcommand, each a thin layer over
//! the libraries. Exit codes: 0 success, 1 the work failed (message on
//! stderr), 2 the command line was wrong (clap's usage message).

use clap::{Args, Parser, Subcommand};
use npu_spec::NpuConfig;
use std::path::PathBuf;
use std::process::ExitCode;

mod bench;
mod bench_report;
mod config;
mod daemon;
mod device;
mod flash;
mod gemm;
mod infer;
mod info;
mod run;
mod sim;
mod stats;
mod stats_view;
mod synth;
mod train;
mod verilog;

#[derive(Parser)]
#[command(
    name = "npu",
    version,
    about = "A parameterised INT8 systolic-array NPU: Verilog, simulation, FPGA flow and host, from one config",
    after_help = "Examples:\n  npu infer digits --sim              the digits network on the simulated NPU, checked bit for bit\n  npu info --sim                      the hardware as the NPU describes itself\n  npu gemm --a a.npy --b b.npy -o c.npy --sim\n  npu config                          show the default hardware and its peak figures\n  npu verilog -o build/npu_array.v    write the array's Verilog\n  npu sim gemm --m 8 --k 32 --n 8     run a random GEMM in simulation and check it\n\nEvery command takes --config FILE (default: the built-in configs/default.toml)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a hardware config, checked, with its derived figures
    Config(config::ConfigArgs),
    /// Write the Verilog of the systolic array
    Verilog(verilog::VerilogArgs),
    /// Run the NPU in simulation
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// Describe an NPU: array, memories, clock, link, peak TOPS
    Info(info::InfoArgs),
    /// Multiply two int8 .npy matrices on the NPU (any shapes), int32 or requantized int8 out
    Gemm(gemm::GemmArgs),
    /// Show the NPU's performance counters and utilization (--watch: live)
    Stats(stats::StatsArgs),
    /// Run a network on the NPU and check it bit for bit against the CPU
    #[command(subcommand)]
    Infer(infer::InferCommand),
    /// Run an int8 TensorFlow Lite model on the NPU (.npy in, .npy out), bit-exact with TFLite
    Run(run::RunArgs),
    /// Train and quantize a network for `npu infer`
    #[command(subcommand)]
    Train(train::TrainCommand),
    /// Build the bitstream for a board (yosys, nextpnr, pack) and report LUTs, DSPs, RAM, fmax, TOPS
    Synth(synth::SynthArgs),
    /// Program a board with a bitstream (--dry-run prints the command)
    Flash(flash::FlashArgs),
    /// Own one device and share it with local programs over a Unix socket (--daemon)
    Daemon(daemon::DaemonArgs),
    /// Measure the NPU: array efficiency, effective vs peak TOPS, link efficiency, simulation speed; tables and SVG plots
    Bench(bench::BenchArgs),
}

/// `--config FILE`, shared by every subcommand.
#[derive(Args, Clone, Debug)]
pub struct ConfigArg {
    /// Hardware config (TOML); default: the built-in configs/default.toml
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    pub fn load(&self) -> anyhow::Result<NpuConfig> {
        Ok(NpuConfig::load_or_default(self.config.as_deref())?)
    }
}

/// Parses the command line and runs it; the process's exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version print to stdout and exit 0; usage errors exit 2.
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Config(args) => config::run(&args),
        Command::Verilog(args) => verilog::run(&args),
        Command::Sim(cmd) => sim::run(&cmd),
        Command::Info(args) => info::run(&args),
        Command::Gemm(args) => gemm::run(&args),
        Command::Stats(args) => stats::run(&args),
        Command::Infer(cmd) => infer::run(&cmd),
        Command::Run(args) => run::run(&args),
        Command::Train(cmd) => train::run(&cmd),
        Command::Synth(args) => synth::run(&args),
        Command::Flash(args) => flash::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Daemon(args) => daemon::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
