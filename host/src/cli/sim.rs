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
    /// Measure simulation speed: rust-hdl's simulator against Verilator
    Bench(BenchArgs),
    /// Run the virtual board: the Verilated NPU behind a pseudo-terminal, until Ctrl-C
    Serve(ServeArgs),
    /// Fuzz the command link: valid and broken frames into the Verilated NPU, every answer and the whole memory checked
    Fuzz(FuzzArgs),
}

#[derive(Args)]
#[command(after_help = "Examples:\n  npu sim fuzz                         (100,000 frames on the default config)\n  npu sim fuzz --frames 5000 --seed 3\n\nValid commands of every kind mixed with random bytes, frames cut short or by a\nbreak, bad lengths and CRCs, unknown commands, out-of-range requests and 3%\nbaud error, sent bit by bit into the Verilated NPU; every answer is checked\nagainst the device model, and at the end every bank is read back and the\nSTATUS and COUNTERS records are checked. Exit code 1 on any hang, wrong\nanswer, memory difference or inconsistent counter.")]
pub struct FuzzArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Inputs to send (frames, cut frames, garbage)
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    frames: u64,
    /// Seed of the random stream
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args)]
#[command(after_help = "Examples:\n  npu sim serve\n  npu sim serve --config configs/default.toml\n\nPrints the terminal's path (such as /dev/pts/5) on the first line of stdout;\nany serial program can then talk to it as to a board, e.g. picocom -b 1000000 /dev/pts/5.")]
pub struct ServeArgs {
    #[command(flatten)]
    config: ConfigArg,
}

#[derive(Args)]
#[command(after_help = "Examples:\n  npu sim bench\n  npu sim bench --sizes 2,4,8 --cycles 20000\n\nEach size is the config with rows = cols = size. Both simulators run the whole\nNPU top level, driven through its UART pins bit by bit with a stream of\nCOUNTERS requests; Verilator's model is also timed free-running.")]
pub struct BenchArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Array sizes (rows = cols) to measure
    #[arg(long, value_delimiter = ',', default_values_t = [2usize, 4, 8])]
    sizes: Vec<usize>,
    /// Cycles to run in rust-hdl's simulator (Verilator runs 100 times as many)
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1000..=10_000_000))]
    cycles: u64,
}

/// Which simulator runs the hardware.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The whole NPU (Verilated), driven through its UART command link by the host driver: WRITE, GEMM, READ
    Npu,
    /// rust-hdl's own simulator of the systolic array (about 20k cycles/s)
    RustHdl,
    /// The Verilated model of the array's generated Verilog (millions of cycles/s)
    Verilator,
}

impl Engine {
    fn describe(self) -> &'static str {
        match self {
            Engine::Npu => "the Verilated NPU, through its command link",
            Engine::RustHdl => "rust-hdl's simulator",
            Engine::Verilator => "Verilator",
        }
    }
}

#[derive(Args)]
#[command(after_help = "Examples:\n  npu sim gemm --m 4 --k 16 --n 4\n  npu sim gemm --m 10 --k 64 --n 7 --seed 42\n  npu sim gemm --engine verilator --m 64 --k 64 --n 64\n  npu sim gemm --engine rust-hdl --m 4 --k 8 --n 4\n  npu sim gemm --m 4 --k 8 --n 4 --vcd gemm.vcd\n  npu sim gemm --m 64 --k 64 --n 64 --port /dev/pts/5   (a virtual board from `npu sim serve`)\n  npu sim gemm --m 256 --k 256 --n 256 --daemon          (the device `npu daemon` shares)\n\nThe default engine is the whole NPU: the host driver cuts the GEMM into WRITE,\nGEMM and READ commands over the simulated UART, as it would for a board. The\narray engines stream array-sized output tiles through the systolic array\nalone. Exit code 1 if any element differs from the reference.")]
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
    #[arg(long, value_enum, default_value_t = Engine::Npu)]
    engine: Engine,
    /// With the npu engine: talk to the NPU on this serial port (a virtual board from `npu sim serve`, or a board) instead of simulating it in this process
    #[arg(long, value_name = "PORT", conflicts_with = "vcd")]
    port: Option<String>,
    /// With the npu engine: go through `npu daemon` (its socket; default: NPU_DAEMON, else $XDG_RUNTIME_DIR/npu/daemon.sock)
    #[arg(long, value_name = "SOCKET", num_args = 0..=1, default_missing_value = "", conflicts_with_all = ["vcd", "port"])]
    daemon: Option<std::path::PathBuf>,
    /// Trace every cycle to this VCD file (Verilator only; open it in GTKWave)
    #[arg(long, value_name = "FILE")]
    vcd: Option<std::path::PathBuf>,
}

pub fn run(cmd: &SimCommand) -> anyhow::Result<()> {
    match cmd {
        SimCommand::Gemm(args) => gemm(args),
        SimCommand::Bench(args) => bench(args),
        SimCommand::Serve(args) => serve(args),
        SimCommand::Fuzz(args) => fuzz(args),
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
    let mut started = Instant::now();
    let run = match args.engine {
        Engine::Npu => return gemm_over_link(args, &config, &a, &b, seed),
        _ if args.port.is_some() || args.daemon.is_some() => bail!("--port and --daemon need --engine npu"),
        Engine::RustHdl => {
            if args.vcd.is_some() {
                bail!("--vcd needs the Verilator model (--engine npu or verilator)");
            }
            ArraySim::new(rows, cols).gemm(&a, &b)?
        }
        Engine::Verilator => {
            let backend = npu_sim::verilated::VerilatedArray::new(rows, cols, args.vcd.as_deref())?;
            let info = backend.model().build_info();
            eprintln!(
                "Verilated model {} in {:.2} s",
                if info.cached { "loaded from the cache" } else { "built" },
                info.seconds
            );
            started = Instant::now();
            ArraySim::with_backend(backend, rows, cols).gemm(&a, &b)?
        }
    };
    let elapsed = started.elapsed();
    let got = &run.results[0];
    let want = gemm_reference(&a, &b)?;
    if m <= 8 && n <= 8 {
        print_side_by_side(got, &want);
    }
    println!(
        "cycles {}   MAC utilization {:.1}%   simulated in {:.3} s ({:.0} cycles/s)",
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

/// The GEMM through the whole NPU: the host driver tiles it into WRITE,
/// GEMM and READ commands sent over the simulated UART.
fn gemm_over_link(args: &GemmArgs, config: &npu_spec::NpuConfig, a: &Matrix<i8>, b: &Matrix<i8>, seed: u64) -> anyhow::Result<()> {
    let (m, n) = (a.rows(), b.cols());
    let baud = config.link.baud;
    let mut npu = match (&args.port, &args.daemon) {
        (Some(port), _) => crate::Npu::open(Box::new(crate::transport::SerialTransport::open(port, baud)?), baud)?,
        (None, Some(socket)) => crate::daemon::client::open_npu(&crate::daemon::socket_named(socket), &super::device::client_name())?,
        (None, None) => crate::Npu::open(Box::new(crate::transport::SimTransport::with_vcd(config, args.vcd.as_deref())?), baud)?,
    };
    // A shared device's counters are everyone's: take this GEMM's as a
    // difference instead of clearing them.
    let before = if args.daemon.is_some() { npu.counters()? } else { npu.clear_counters().map(|_| npu_spec::protocol::Counters::default())? };
    let started = Instant::now();
    let got = npu.gemm(a, b)?;
    let elapsed = started.elapsed();
    let c = npu.counters()?.since(&before);
    let want = gemm_reference(a, b)?;
    if m <= 8 && n <= 8 {
        print_side_by_side(&got, &want);
    }
    let link = npu.link_stats();
    let u = npu.utilization(&c);
    println!(
        "device cycles {} ({:.3} ms at {:.0} MHz)   busy {:.1}%   MAC utilization {:.1}% while busy   {} requests, {} bytes over the link   {:.2} s end to end",
        c.cycles,
        c.cycles as f64 / config.clock.core_hz as f64 * 1e3,
        config.clock.core_hz as f64 / 1e6,
        100.0 * u.busy,
        100.0 * u.mac_while_busy,
        link.requests,
        link.bytes_sent + link.bytes_received,
        elapsed.as_secs_f64()
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
    println!("{:<width$}   reference C", "simulated C");
    for i in 0..got.rows() {
        let row = |m: &Matrix<i32>| m.row(i).iter().map(|v| format!("{v:>8}")).collect::<String>();
        println!("{:<width$}   {}", row(got), row(want));
    }
}

use npu_sim::npu_sim::uart_rate;

fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    use npu_sim::npu_sim::{NpuSim, VerilatedNpu};
    let base = args.config.load()?;
    println!("| array | rust-hdl cycles/s | Verilator cycles/s (UART from Rust) | ratio | Verilator free-running cycles/s | model build s | cached load s |");
    println!("|---|---|---|---|---|---|---|");
    for &side in &args.sizes {
        let mut c = base.clone();
        c.array.rows = side;
        c.array.cols = side;
        c.validate().map_err(|v| anyhow::anyhow!("size {side}: {v}"))?;
        eprintln!("{side}x{side}: rust-hdl ...");
        let mut rhdl = NpuSim::new(&c);
        let rhdl_rate = uart_rate(&mut rhdl, args.cycles);
        eprintln!("{side}x{side}: Verilator (building the model if it is not cached) ...");
        // The first load builds the model unless an earlier run cached it.
        let first = VerilatedNpu::new(&c, None)?;
        let build = first.model().build_info();
        drop(first);
        let again = VerilatedNpu::new(&c, None)?;
        let cached = again.model().build_info();
        let mut vsim = NpuSim::with_pins(again, &c);
        let v_rate = uart_rate(&mut vsim, args.cycles * 100);
        let mut free = VerilatedNpu::new(&c, None)?;
        let started = Instant::now();
        let n = args.cycles * 1000;
        use npu_sim::npu_sim::NpuPins;
        free.set_rx(true);
        for _ in 0..n {
            free.tick();
        }
        let free_rate = n as f64 / started.elapsed().as_secs_f64();
        println!(
            "| {side}x{side} | {:.0} | {:.0} | {:.0}x | {:.0} | {:.1}{} | {:.3} |",
            rhdl_rate,
            v_rate,
            v_rate / rhdl_rate,
            free_rate,
            build.seconds,
            if build.cached { " (was cached)" } else { "" },
            cached.seconds
        );
    }
    Ok(())
}

fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let config = args.config.load()?;
    eprintln!("building the Verilated NPU ({}x{}) ...", config.array.rows, config.array.cols);
    let stop = std::sync::atomic::AtomicBool::new(false);
    npu_sim::virtual_board::serve(&config, &stop, |path| {
        println!("{}", path.display());
        let _ = std::io::stdout().flush();
        eprintln!(
            "virtual board on {} ({} baud 8N1 at {} clocks per bit); Ctrl-C stops it",
            path.display(),
            config.link.baud,
            config.clocks_per_bit()
        );
    })?;
    Ok(())
}

fn fuzz(args: &FuzzArgs) -> anyhow::Result<()> {
    use npu_sim::npu_sim::{NpuSim, VerilatedNpu};
    let config = args.config.load()?;
    eprintln!("building the Verilated NPU ({}x{}) ...", config.array.rows, config.array.cols);
    let mut sim = NpuSim::with_pins(VerilatedNpu::new(&config, None)?, &config);
    let started = Instant::now();
    let report = npu_sim::fuzz::fuzz(&mut sim, &config, args.frames, args.seed, &mut |n| {
        if n % 10_000 == 0 {
            eprintln!("{n} of {} inputs ({:.0} s)", args.frames, started.elapsed().as_secs_f64());
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    println!("inputs {} (seed {}), {} device cycles, {seconds:.1} s", report.frames, args.seed, report.cycles);
    println!("by kind:");
    for (kind, n) in &report.by_kind {
        println!("  {kind:<18} {n}");
    }
    println!("answers by status:");
    for (status, n) in &report.by_status {
        println!("  {status:<18} {n}");
    }
    println!("hangs {}   wrong answers {}   memory bytes differing {}   counters consistent {}", report.hangs, report.wrong_answers, report.memory_mismatches, report.counters_consistent);
    if !report.clean() {
        for p in &report.problems {
            eprintln!("problem: {p}");
        }
        bail!("the link fuzz found problems (seed {})", args.seed);
    }
    println!("clean: every answer as the model says, memory and counters intact");
    Ok(())
}
