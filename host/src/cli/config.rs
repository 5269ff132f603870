//! `npu config`: the hardware a config describes, checked, with derived figures.

use super::ConfigArg;
use clap::Args;

#[derive(Args)]
#[command(after_help = "Examples:\n  npu config\n  npu config --config configs/default.toml\n  npu config --toml > my.toml      start a config of your own")]
pub struct ConfigArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Print the config as TOML instead of a table
    #[arg(long)]
    toml: bool,
}

pub fn run(args: &ConfigArgs) -> anyhow::Result<()> {
    let c = args.config.load()?;
    if args.toml {
        print!("{}", c.to_toml_string());
        return Ok(());
    }
    let origin = args.config.config.as_ref().map_or("built-in default".to_string(), |p| p.display().to_string());
    println!("config            {origin}");
    println!("array             {} x {} PEs, {}, INT8 x INT8 -> INT{}", c.array.rows, c.array.cols, c.array.dataflow, c.array.acc_bits);
    let latency = match c.array.multiplier_latency {
        1 => "1 clock edge from factors to product (the product registered)",
        2 => "2 clock edges from factors to product (factors and product registered at the multiplier)",
        3 => "3 clock edges from factors to product (the product registered at the multiplier, factors and product also on the way to and from it)",
        _ => "4 clock edges from factors to product (factors and product registered at the multiplier, and on the way to and from it)",
    };
    println!("multipliers       {latency}");
    println!("A scratchpad      {} entries x {} B", c.memory.a_depth, c.array.rows);
    println!("B scratchpad      {} entries x {} B", c.memory.b_depth, c.array.cols);
    println!("accumulators      {} entries x {} x INT32", c.memory.acc_depth, c.array.cols);
    println!("core clock        {:.3} MHz", c.clock.core_hz as f64 / 1e6);
    println!(
        "link              {} baud 8N1 ({} clocks per bit, {} baud achieved)",
        c.link.baud,
        c.clocks_per_bit(),
        c.achieved_baud()
    );
    let peak = c.peak_ops_per_s(c.clock.core_hz);
    println!(
        "peak INT8         {:.3} GOPS = {:.6} TOPS at the config clock (2 ops x {} PEs x {:.3} MHz)",
        peak / 1e9,
        peak / 1e12,
        c.macs_per_cycle(),
        c.clock.core_hz as f64 / 1e6
    );
    Ok(())
}
