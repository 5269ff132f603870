//! `npu info`: the hardware, as the device describes itself.

use super::device::DeviceArgs;
use clap::Args;

#[derive(Args)]
#[command(after_help = "Examples:\n  npu info --sim\n  npu info --port /dev/ttyUSB1\n  npu info --port /dev/pts/5         (a virtual board from `npu sim serve`)")]
pub struct InfoArgs {
    #[command(flatten)]
    device: DeviceArgs,
}

pub fn run(args: &InfoArgs) -> anyhow::Result<()> {
    for npu in args.device.open()? {
        let i = npu.info().clone();
        println!("{}", npu.port());
        let rows = [
            ("protocol version", i.version.to_string()),
            ("array", format!("{} x {} PEs, output-stationary, INT8 x INT8 -> INT{}", i.rows, i.cols, i.acc_bits)),
            ("A scratchpad", format!("{} entries x {} B = {} B", i.a_depth, i.rows, i.a_depth * i.rows)),
            ("B scratchpad", format!("{} entries x {} B = {} B", i.b_depth, i.cols, i.b_depth * i.cols)),
            ("accumulators", format!("{} entries x {} B = {} B", i.acc_depth, 4 * i.cols, i.acc_depth * 4 * i.cols)),
            ("core clock", format!("{:.3} MHz", i.core_hz as f64 / 1e6)),
            ("link", format!("{} baud 8N1, requests up to {} B", i.baud, i.max_request)),
            ("on-chip copies", if i.mover { "MOVE (A, B, OUT into A, B; strided runs)".to_string() } else { "none (MOVE not built: memory.mover = false)".to_string() }),
            ("program memory", if i.program_bytes > 0 { format!("{} B (PROGRAM, RUN: the driver keeps stretches of commands there)", i.program_bytes) } else { "none (PROGRAM and RUN not built: memory.program_bytes = 0)".to_string() }),
            ("add tables", if i.add_tables > 0 { format!("{} of 256 INT32 (ADD: TFLite's ADD on chip)", i.add_tables) } else { "none (ADD not built: memory.add_tables = 0)".to_string() }),
            ("peak INT8", format!("{:.4} TOPS (2 x {} x {} x {:.3} MHz; exact: {} ops/s)", npu.peak_ops_per_s() / 1e12, i.rows, i.cols, i.core_hz as f64 / 1e6, npu.peak_ops_per_s() as u64)),
        ];
        for (k, v) in rows {
            println!("  {k:<18} {v}");
        }
    }
    Ok(())
}
