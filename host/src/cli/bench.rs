//! `npu bench`: the measured performance report, with plots.

use super::ConfigArg;
use crate::bench::{gemm_point, k_point, on_chip_point, open_sim, GemmPoint, KPoint};
use crate::output::write_atomically;
use crate::tops::{cpu_int8_gemm, vendor_peaks, CpuGemm, VendorPeak};
use anyhow::{Context, Result};
use clap::Args;
use npu_spec::NpuConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
#[command(after_help = "Examples:\n  npu bench --out bench/                    (about 15 minutes on 2 cores)\n  npu bench --quick --out /tmp/bench        (half a minute)\n  npu bench --synth --out bench/            (adds iCEBreaker builds of 1x1, 2x2, 4x4 and ULX3S builds of 2x2, 4x4, 8x8 and of configs/ulx3s-16x16.toml: about an hour more, most of it the 16x16)\n  npu bench --from-json bench/bench.json --out bench/   (tables and plots again, measuring nothing)\n  npu bench --builds-from bench/bench.json --out bench/ (the simulations again, the builds from that run)\n\nWrites DIR/bench.json (every figure with the machine, the config and this\ncommand), DIR/bench.md and SVG plots, among them DIR/tops.svg: this NPU's\npeak and measured INT8 TOPS (the bench's config and the ULX3S config) beside\nthis machine's CPU on the same INT8 GEMM and the NPUs people compare. All\ntimings of the NPU are device cycles of the cycle-exact Verilated model at\nthe config's clock; the CPU's and the simulation speed are wall time on\nthis machine.")]
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
    /// Measure nothing: write the tables and plots again from an earlier run's bench.json
    #[arg(long, value_name = "BENCH_JSON", conflicts_with_all = ["quick", "synth"])]
    from_json: Option<PathBuf>,
    /// Measure the simulations again but take the bitstream builds from an earlier run's bench.json (named as such in bench.md)
    #[arg(long, value_name = "BENCH_JSON", conflicts_with_all = ["synth", "from_json"])]
    builds_from: Option<PathBuf>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct SimSpeed {
    pub array: String,
    pub rust_hdl_cycles_per_s: f64,
    pub verilator_cycles_per_s: f64,
    pub ratio: f64,
}

/// One board config's INT8 throughput: peak at its clock, and measured on
/// its cycle-exact Verilated model.
#[derive(Serialize, Deserialize)]
pub(super) struct ConfigThroughput {
    /// Which config, and the board it is built for.
    pub name: String,
    pub array: String,
    pub core_mhz: f64,
    pub baud: u32,
    /// 2 x rows x cols x core clock.
    pub peak_tops: f64,
    /// A whole tiled GEMM's commands, operands already on chip.
    pub on_chip: KPoint,
    pub on_chip_tops: f64,
    /// A whole GEMM through the driver: operands in and results out over the link.
    pub end_to_end: GemmPoint,
}

/// A large config's whole tiled GEMMs, operands on chip (its end to end
/// over a simulated UART would take hours at these sizes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LargeOnChip {
    pub name: String,
    pub array: String,
    pub core_mhz: f64,
    pub peak_tops: f64,
    /// `k` is the side M = N = K.
    pub points: Vec<KPoint>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct Bench {
    pub command: String,
    pub machine: String,
    pub config_name: String,
    pub config: NpuConfig,
    pub clock_source: String,
    pub peak_tops: f64,
    pub k_sweep: Vec<KPoint>,
    /// Whole tiled GEMMs, on chip only: `k` is the side M = N = K.
    pub on_chip_gemms: Vec<KPoint>,
    pub gemms: Vec<GemmPoint>,
    /// The bench's config and the other board's shipped config.
    pub configs: Vec<ConfigThroughput>,
    /// The large shipped configs ([`SYNTH_WHOLE`]): whole tiled GEMMs on chip.
    #[serde(default)]
    pub large_on_chip: Vec<LargeOnChip>,
    /// This machine's CPU on the same INT8 GEMM: one thread, all threads.
    pub cpu: Vec<CpuGemm>,
    pub vendor_peaks: Vec<VendorPeak>,
    pub simulation_speed: Vec<SimSpeed>,
    pub hardware: Vec<npu_fpga::flow::BuildReport>,
    /// The command of the earlier run `hardware` was taken from
    /// (`--builds-from`); none when this run built them or built none.
    #[serde(default)]
    pub builds_command: Option<String>,
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())).unwrap_or_else(|| "unknown CPU".into());
    format!("{cpu}, {} cores, {} {}", cores(), std::env::consts::OS, std::env::consts::ARCH)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}


/// Peak, on-chip and end-to-end throughput of `config`, from measurements
/// already made (the bench's config) or made now.
fn config_throughput(name: &str, config: &NpuConfig, on_chip: KPoint, end_to_end: GemmPoint) -> ConfigThroughput {
    let hz = config.clock.core_hz as f64;
    let on_chip_tops = 2.0 * on_chip.macs as f64 / (on_chip.engine_cycles as f64 / hz) / 1e12;
    ConfigThroughput {
        name: name.into(),
        array: format!("{}x{}", config.array.rows, config.array.cols),
        core_mhz: hz / 1e6,
        baud: config.link.baud,
        peak_tops: config.peak_ops_per_s(config.clock.core_hz) / 1e12,
        on_chip,
        on_chip_tops,
        end_to_end,
    }
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if let Some(path) = &args.from_json {
        let bench = read_bench(path)?;
        std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
        return write_report(&args.out, &bench, false);
    }
    let config = args.config.load()?;
    let config_name = match &args.config.config {
        Some(path) => path.display().to_string(),
        None => "configs/default.toml (iCEBreaker)".into(),
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let started = Instant::now();
    let step = |what: &str| eprintln!("[{:>5.0} s] {what}", started.elapsed().as_secs_f64());
    // Read the earlier builds first: a bad path fails now, not after the run.
    let earlier_builds = match &args.builds_from {
        Some(path) => {
            let earlier = read_bench(path)?;
            anyhow::ensure!(!earlier.hardware.is_empty(), "{} has no bitstream builds (it was not an `npu bench --synth` run); run npu bench --synth to build them", path.display());
            // (The run they were built in, through any runs that took them on.)
            Some((earlier.hardware, earlier.builds_command.unwrap_or(earlier.command)))
        }
        None => None,
    };
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
        on_chip_gemms.push(on_chip_point(&mut npu, side)?);
    }
    let sizes: Vec<usize> = if args.quick { vec![16, 32] } else { vec![64, 128, 256] };
    let mut gemms = vec![];
    for &s in &sizes {
        step(&format!("{s}x{s}x{s} GEMM through the driver"));
        gemms.push(gemm_point(&mut npu, s, s as u64)?);
    }
    drop(npu);

    // TOPS in context: the same largest GEMM on each board config.
    let largest = *sizes.last().expect("sizes");
    let mut configs = vec![config_throughput(&config_name, &config, on_chip_gemms.iter().find(|p| p.k == largest).cloned().unwrap_or_else(|| on_chip_gemms[0].clone()), gemms.last().expect("gemms").clone())];
    // The shipped ULX3S config (the one its synthesis points use), measured beside the bench's own.
    let (_, ulx3s_toml, ulx3s_path, _) = *SYNTH_POINTS.iter().find(|p| p.0 == "ulx3s").expect("SYNTH_POINTS has the ULX3S");
    let ulx3s_name = format!("{ulx3s_path} (ULX3S)");
    let ulx3s = NpuConfig::from_toml_str(ulx3s_toml, ulx3s_path)?;
    if ulx3s != config {
        step(&format!("{largest}x{largest}x{largest} GEMM on {ulx3s_name}: on chip, then through the driver"));
        let mut other = open_sim(&ulx3s)?;
        let on_chip = on_chip_point(&mut other, largest)?;
        let end_to_end = gemm_point(&mut other, largest, largest as u64)?;
        configs.push(config_throughput(&ulx3s_name, &ulx3s, on_chip, end_to_end));
    }
    let mut large_on_chip = vec![];
    for &(_, toml, path) in SYNTH_WHOLE.iter() {
        let large = NpuConfig::from_toml_str(toml, path)?;
        let sides: Vec<usize> = if args.quick { vec![64] } else { vec![256, 1024] };
        step(&format!("whole tiled GEMMs on chip on {path}: {}", sides.iter().map(|s| format!("{s}x{s}x{s}")).collect::<Vec<_>>().join(", ")));
        let mut npu = open_sim(&large)?;
        let points = sides.iter().map(|&side| on_chip_point(&mut npu, side)).collect::<Result<Vec<_>, _>>()?;
        large_on_chip.push(LargeOnChip {
            name: path.into(),
            array: format!("{}x{}", large.array.rows, large.array.cols),
            core_mhz: large.clock.core_hz as f64 / 1e6,
            peak_tops: large.peak_ops_per_s(large.clock.core_hz) / 1e12,
            points,
        });
    }
    let cpu_size = if args.quick { 256 } else { 1024 };
    let threads: Vec<usize> = if cores() > 1 { vec![1, cores()] } else { vec![1] };
    let mut rng = npu_spec::rng::XorShift::new(cpu_size as u64);
    let a = npu_spec::Matrix::from_fn(cpu_size, cpu_size, |_, _| rng.next_u64() as i8);
    let b = npu_spec::Matrix::from_fn(cpu_size, cpu_size, |_, _| rng.next_u64() as i8);
    let want = npu_spec::gemm_reference(&a, &b)?;
    let mut cpu = vec![];
    for t in threads {
        step(&format!("{cpu_size}x{cpu_size}x{cpu_size} INT8 GEMM on this machine's CPU, {t} thread{}", if t > 1 { "s" } else { "" }));
        let g = cpu_int8_gemm(&a, &b, &want, t, if args.quick { 2 } else { 10 })?;
        anyhow::ensure!(g.exact, "the CPU's INT8 GEMM ({}) differs from the reference GEMM: its figure would not be the same GEMM's", g.library);
        cpu.push(g);
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
    let (hardware, builds_command) = match earlier_builds {
        Some((hardware, command)) => (hardware, Some(command)),
        None if args.synth => (synth_points(&args.out, &|what: &str| step(what))?, None),
        None => (vec![], None),
    };
    let bench = Bench {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine: machine(),
        config_name,
        config: config.clone(),
        clock_source: format!("the config's clock.core_hz ({:.2} MHz), not a synthesis fmax", hz / 1e6),
        peak_tops,
        k_sweep,
        on_chip_gemms,
        gemms,
        configs,
        large_on_chip,
        cpu,
        vendor_peaks: vendor_peaks(),
        simulation_speed,
        hardware,
        builds_command,
    };
    write_report(&args.out, &bench, true)?;
    eprintln!("wrote {} in {:.0} s", args.out.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// An earlier run's bench.json.
fn read_bench(path: &std::path::Path) -> Result<Bench> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a bench.json of this version of npu bench", path.display()))
}

/// bench.json (when `json`), the plots and bench.md, into `out`.
fn write_report(out: &std::path::Path, bench: &Bench, json: bool) -> Result<()> {
    if json {
        write_atomically(&out.join("bench.json"), serde_json::to_string_pretty(bench)?.as_bytes())?;
    }
    super::bench_report::write_plots(out, bench)?;
    let md = super::bench_report::markdown(bench);
    write_atomically(&out.join("bench.md"), md.as_bytes())?;
    print!("{md}");
    Ok(())
}

/// The synthesis runs of `--synth`: board, its shipped config, the array sides.
pub(super) const SYNTH_POINTS: [(&str, &str, &str, [usize; 3]); 2] = [
    ("icebreaker", include_str!("../../../configs/default.toml"), "configs/default.toml", [1, 2, 4]),
    ("ulx3s", include_str!("../../../configs/ulx3s.toml"), "configs/ulx3s.toml", [2, 4, 8]),
];

/// Configs `--synth` also builds as they are, after their board's sides:
/// the ULX3S's VTA-sized 16x16 (most of an hour in the WebAssembly tools).
pub(super) const SYNTH_WHOLE: [(&str, &str, &str); 1] = [("ulx3s", include_str!("../../../configs/ulx3s-16x16.toml"), "configs/ulx3s-16x16.toml")];

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
                    let mut builds = vec![];
                    for side in sides {
                        let mut c = base.clone();
                        c.array.rows = side;
                        c.array.cols = side;
                        builds.push((c, path, format!("{name}-{side}x{side}")));
                    }
                    for &(_, whole_toml, whole_path) in SYNTH_WHOLE.iter().filter(|w| w.0 == name) {
                        let c = npu_spec::NpuConfig::from_toml_str(whole_toml, whole_path)?;
                        let dir = format!("{name}-whole-{}x{}", c.array.rows, c.array.cols);
                        builds.push((c, whole_path, dir));
                    }
                    let mut reports = vec![];
                    for (c, path, dir) in builds {
                        let array = format!("{}x{}", c.array.rows, c.array.cols);
                        let dir = out.join(dir);
                        let _ = std::fs::remove_file(dir.join("report.json"));
                        step(&format!("{name} build of {array} ({path}) in {}", dir.display()));
                        let built = npu_fpga::flow::build(&board, &c, &dir, &mut |_, _| {});
                        if let Err(e) = &built {
                            step(&format!("{name} {array}: {e}"));
                        }
                        let text = std::fs::read_to_string(dir.join("report.json")).with_context(|| format!("the {name} build of {array} gave no report (logs in {})", dir.display()))?;
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
