//! `npu stats`: the performance counters and the utilization they give,
//! once or refreshed in place.

use super::device::DeviceArgs;
use clap::Args;
use crate::Npu;
use npu_spec::protocol::Counters;
use std::io::Write;
use std::time::Duration;

#[derive(Args)]
#[command(after_help = "Examples:\n  npu stats --port /dev/ttyUSB1\n  npu stats --port /dev/pts/5 --watch          (Ctrl-C stops it)\n  npu stats --sim --watch --count 3 --interval 0.5\n  npu stats --watch --daemon                   (a device shared by `npu daemon`: live while jobs run)\n\nUtilization is useful MACs per PE per cycle; 'while busy' counts only the\ncycles in which the NPU executed commands. --watch shows each interval's\nfigures (deltas) under the totals.")]
pub struct StatsArgs {
    /// Refresh in place every --interval seconds
    #[arg(long)]
    watch: bool,
    /// Seconds between refreshes
    #[arg(long, default_value_t = 1.0, value_parser = parse_interval)]
    interval: f64,
    /// Stop after this many refreshes (default: until Ctrl-C)
    #[arg(long)]
    count: Option<u64>,
    /// Zero the counters first
    #[arg(long)]
    clear: bool,
    #[command(flatten)]
    device: DeviceArgs,
}

fn parse_interval(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s} is not a number of seconds"))?;
    if !(0.05..=3600.0).contains(&v) {
        return Err("the interval must be 0.05..=3600 seconds".into());
    }
    Ok(v)
}

pub fn run(args: &StatsArgs) -> anyhow::Result<()> {
    if let Some(socket) = args.device.daemon_socket() {
        if args.clear {
            anyhow::bail!("--clear with --daemon would change the counters other programs' figures use: leave it out (the daemon shows each interval's figures)");
        }
        return super::stats_view::run(&socket, args.watch, args.interval, args.count);
    }
    let mut npu = args.device.open_one()?;
    if args.clear {
        npu.clear_counters()?;
    }
    let mut before = npu.counters()?;
    let mut lines = print(&npu, &before, None, args.watch);
    if !args.watch {
        return Ok(());
    }
    let mut n = 0;
    while args.count.is_none_or(|c| n < c) {
        std::thread::sleep(Duration::from_secs_f64(args.interval));
        let now = npu.counters()?;
        let delta = now.since(&before);
        // Move the cursor up over the last table and draw over it.
        print!("\x1b[{lines}A");
        lines = print(&npu, &now, Some(&delta), true);
        before = now;
        n += 1;
    }
    Ok(())
}

/// Prints the table; returns how many lines it took.
fn print(npu: &Npu, c: &Counters, delta: Option<&Counters>, live: bool) -> usize {
    let i = npu.info();
    let secs = |cycles: u64| cycles as f64 / i.core_hz as f64;
    let mut out = vec![format!("{} ({}x{} at {:.1} MHz)", npu.port(), i.rows, i.cols, i.core_hz as f64 / 1e6)];
    let mut block = |title: &str, c: &Counters| {
        let u = npu.utilization(c);
        out.push(format!("  {title}"));
        out.push(format!("    cycles      {:>16}  ({:.3} s of device time)", c.cycles, secs(c.cycles)));
        out.push(format!("    busy        {:>16}  ({:5.1}% of cycles)", c.busy, 100.0 * u.busy));
        out.push(format!("    MACs        {:>16}  ({:.3} GOPS while busy)", c.macs, if c.busy == 0 { 0.0 } else { 2.0 * c.macs as f64 / secs(c.busy) / 1e9 }));
        out.push(format!("    MAC steps   {:>16}  stall {}", c.mac_cycles, c.stall));
        out.push(format!("    tiles       {:>16}", c.tiles));
        out.push(format!("    bytes in    {:>16}  out {}", c.bytes_in, c.bytes_out));
        out.push(format!("    utilization {:>15.1}%  while busy, {:.1}% overall", 100.0 * u.mac_while_busy, 100.0 * u.mac_overall));
    };
    block("since power-up or the last clear", c);
    if let Some(d) = delta {
        block("last interval", d);
    }
    let mut stdout = std::io::stdout().lock();
    for line in &out {
        // In place: clear the rest of each line drawn over.
        let _ = writeln!(stdout, "{line}{}", if live { "\x1b[K" } else { "" });
    }
    let _ = stdout.flush();
    out.len()
}
