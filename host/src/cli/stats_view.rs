//! `npu stats --daemon`: the live view of a device that `npu daemon` shares,
//! from the daemon's own polling (the watcher never touches the device).

use crate::daemon::client::Watcher;
use crate::daemon::{DaemonStats, Sample};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// Columns of the history graphs.
const GRAPH: usize = 48;

/// A one-line graph of `values` scaled to `top`, newest on the right.
pub fn sparkline(values: &[f64], top: f64) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let start = values.len().saturating_sub(GRAPH);
    let mut line: String = values[start..]
        .iter()
        .map(|v| if top <= 0.0 || *v <= 0.0 { ' ' } else { BARS[((v / top).clamp(0.0, 1.0) * 7.0).round() as usize] })
        .collect();
    // Fixed width, so that the view does not shift as the history fills.
    let missing = GRAPH - line.chars().count();
    line.insert_str(0, &" ".repeat(missing));
    line
}

/// The view's lines for one snapshot of the daemon's statistics.
pub fn render(socket: &Path, s: &DaemonStats) -> Vec<String> {
    let peak_gops = 2.0 * (s.rows * s.cols) as f64 * s.core_hz as f64 / 1e9;
    let last = s.samples.last().cloned().unwrap_or_default();
    let history = |f: fn(&Sample) -> f64| s.samples.iter().map(f).collect::<Vec<f64>>();
    // Each graph is scaled to its largest value shown: a job over the link
    // keeps the array busy a few percent of the time, which a 0-100% scale
    // would flatten.
    let top = |v: &[f64]| v[v.len().saturating_sub(GRAPH)..].iter().fold(0f64, |m, x| m.max(*x));
    let (util, gops) = (history(|x| x.utilization), history(|x| x.gops));
    let waiting = if s.waiting.is_empty() { "none".to_string() } else { s.waiting.join(", ") };
    let mut out = vec![
        format!("npu daemon at {}: {}", socket.display(), s.device),
        format!("  {}x{} at {:.1} MHz, peak {peak_gops:.3} GOPS INT8; the daemon reads the counters every {:.1} s", s.rows, s.cols, s.core_hz as f64 / 1e6, s.poll_s),
        format!("  in use by     {}", s.holder.as_deref().unwrap_or("nobody (idle)")),
        format!("  waiting       {waiting}   (watchers {}, jobs served {})", s.watchers, s.jobs),
        format!("  utilization   {:>6.2}%   |{}| last {} intervals, 0 to {:.2}%", 100.0 * last.utilization, sparkline(&util, top(&util)), s.samples.len().min(GRAPH), 100.0 * top(&util)),
        format!("  delivered     {:>7.4}  |{}| GOPS, 0 to {:.4} (peak {peak_gops:.3})", last.gops, sparkline(&gops, top(&gops)), top(&gops)),
        format!("  device time   {:>9.4} s in the last interval; {:.3} s since power-up, {} MACs", last.device_s, s.cycles as f64 / s.core_hz.max(1) as f64, s.macs),
        format!("  job traffic   {:>9} B in, {} B out in the last interval; in all {} B in, {} B out (to the device, and back)", last.job_bytes_in, last.job_bytes_out, s.job_bytes_sent, s.job_bytes_received),
        format!("  polling       {:>9} B in the last interval; in all {} B (the daemon's own COUNTERS reads, not the jobs')", last.poll_bytes, s.poll_bytes),
    ];
    if let Some(e) = &s.error {
        out.push(format!("  device error  {e}"));
    }
    out
}

pub fn run(socket: &Path, watch: bool, interval: f64, count: Option<u64>) -> anyhow::Result<()> {
    let mut watcher = Watcher::connect(socket, &super::device::client_name()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut drawn = 0;
    let mut n = 0;
    loop {
        let stats = watcher.stats().map_err(|e| anyhow::anyhow!("{e}"))?;
        let lines = render(socket, &stats);
        let mut stdout = std::io::stdout().lock();
        if drawn > 0 {
            // Move up over the last view and draw over it.
            let _ = write!(stdout, "\x1b[{drawn}A");
        }
        for line in &lines {
            let _ = writeln!(stdout, "{line}{}", if watch { "\x1b[K" } else { "" });
        }
        let _ = stdout.flush();
        drawn = lines.len();
        n += 1;
        if !watch || count.is_some_and(|c| n >= c) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs_f64(interval));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_the_top() {
        let line = sparkline(&[0.0, 0.5, 1.0, 2.0], 1.0);
        assert_eq!(line.chars().count(), GRAPH);
        assert!(line.ends_with(" ▅██"), "{line:?}");
        let long: Vec<f64> = (0..100).map(|i| i as f64).collect();
        assert_eq!(sparkline(&long, 99.0).chars().count(), GRAPH);
    }
}
