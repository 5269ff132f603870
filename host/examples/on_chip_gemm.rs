//! On-chip throughput of a config: on its Verilated model, the GEMM
//! commands of a tiled `side`-cubed GEMM (operands already on chip), with
//! the MAC utilization and GOPS the NPU's counters give; then its
//! requantization unit (rust-hdl's simulator, cycle-exact) requantizing
//! every accumulator entry, start to done.
//!
//! cargo run --release -p npu-host --example on_chip_gemm -- configs/ulx3s-16x16.toml 256 1024

use npu_host::bench::{on_chip_point, open_sim};
use npu_spec::NpuConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: on_chip_gemm CONFIG SIDE...")?;
    let config = NpuConfig::load(std::path::Path::new(&path))?;
    let mut npu = open_sim(&config)?;
    let hz = config.clock.core_hz as f64;
    for side in args {
        let side: usize = side.parse()?;
        let p = on_chip_point(&mut npu, side)?;
        let gops = 2.0 * p.macs as f64 / (p.engine_cycles as f64 / hz) / 1e9;
        println!(
            "{path}: {side}-cubed GEMM on chip: {} tiles, {} MACs in {} engine cycles: MAC utilization {:.2}%, {gops:.2} GOPS at {} MHz",
            p.tiles,
            p.macs,
            p.engine_cycles,
            100.0 * p.utilization,
            hz / 1e6
        );
    }
    let mut model = npu_spec::device_model::DeviceModel::new(&config);
    let p = npu_spec::requant::RequantParams { multiplier: 1_518_500_250, shift: 7, zero_point: -3, min: -128, max: 127 };
    model.set_scale(&p);
    let count = config.memory.acc_depth as u16;
    let mut unit = npu_sim::requant_bench::RequantBenchSim::new(&config);
    unit.load(&model);
    let (status, cycles) = unit.run(0, 0, count, &p.output(), true);
    let elements = usize::from(count) * config.array.cols;
    println!(
        "{path}: {} requantizer: {elements} elements (REQUANT of {count} entries, bias on) in {cycles} cycles, {status:?}: {:.3} elements a cycle, {:.1} M elements/s",
        config.requant.unit,
        elements as f64 / cycles as f64,
        elements as f64 / cycles as f64 * hz / 1e6
    );
    Ok(())
}
