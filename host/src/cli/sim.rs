//! `npu sim`: the NPU in simulation.

use super::ConfigArg;
use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use npu_sim::ArraySim;
use npu_spec::{gemm_reference, Matrix};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;

#[derive(Subcommand)]
pub enum SimCommand {
    /// Run a random GEMM on the simulated array and compare it with the reference
    Gemm(GemmArgs),
}

/// Which simulator runs the hardware.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// rust-hdl's own simulator of the systolic array (about 20k cycles/s)
    RustHdl,
}

impl Engine {
    fn describe(self) -> &'static str {
        match self {
            Engine::RustHdl => "rust-hdl's simulator",
        }
    }
}

#[derive(Args)]
#[command(after_help = "Examples:\n  npu sim gemm --m 4 --k 16 --n 4\n  npu sim gemm --m 10 --k 64 --n 7 --seed 42\n\nShapes larger than the array are cut into array-sized output tiles that stream\nthrough it back to back. Exit code 1 if any element differs from the reference.")]
pub struct GemmArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Rows of A and C
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=4096))]
    m: u32,
    /// Columns of A, rows of B
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=65536))]
    k: u32,
    /// Columns of B and C
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=4096))]
    n: u32,
    /// Seed of the random operands (default: a fresh one, printed)
    #[arg(long)]
    seed: Option<u64>,
    /// Simulator
    #[arg(long, value_enum, default_value_t = Engine::RustHdl)]
    engine: Engine,
}

pub fn run(cmd: &SimCommand) -> anyhow::Result<()> {
    match cmd {
        SimCommand::Gemm(args) => gemm(args),
    }
}

fn gemm(args: &GemmArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let (m, k, n) = (args.m as usize, args.k as usize, args.n as usize);
    let seed = args.seed.unwrap_or_else(rand::random);
    let mut rng = StdRng::seed_from_u64(seed);
    let a = Matrix::from_fn(m, k, |_, _| rng.gen::<i8>());
    let b = Matrix::from_fn(k, n, |_, _| rng.gen::<i8>());
    let (rows, cols) = (config.array.rows, config.array.cols);
    let tiles = m.div_ceil(rows) * n.div_ceil(cols);
    println!("GEMM {m}x{k} times {k}x{n} on a {rows}x{cols} array ({tiles} output tiles), seed {seed}");
    eprintln!("simulating in {} ...", args.engine.describe());
    let started = Instant::now();
    let mut sim = ArraySim::new(rows, cols);
    let run = sim.gemm(&a, &b)?;
    let elapsed = started.elapsed();
    let got = &run.results[0];
    let want = gemm_reference(&a, &b)?;
    if m <= 8 && n <= 8 {
        print_side_by_side(got, &want);
    }
    println!(
        "cycles {}   MAC utilization {:.1}%   simulated in {:.2} s ({:.0} cycles/s)",
        run.cycles,
        100.0 * run.utilization(rows, cols),
        elapsed.as_secs_f64(),
        run.cycles as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    let wrong = got.as_slice().iter().zip(want.as_slice()).filter(|(g, w)| g != w).count();
    if wrong > 0 {
        bail!("MISMATCH: {wrong} of {} elements differ from the reference GEMM (seed {seed})", m * n);
    }
    println!("match: all {} elements equal the reference GEMM", m * n);
    Ok(())
}

fn print_side_by_side(got: &Matrix<i32>, want: &Matrix<i32>) {
    let width = 8 * got.cols();
    println!("{:<width$}   {}", "simulated C", "reference C");
    for i in 0..got.rows() {
        let row = |m: &Matrix<i32>| m.row(i).iter().map(|v| format!("{v:>8}")).collect::<String>();
        println!("{:<width$}   {}", row(got), row(want));
    }
}
