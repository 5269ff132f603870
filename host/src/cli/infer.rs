//! `npu infer digits`: every digit image through the NPU, checked bit for bit
//! against the CPU INT8 reference.

use super::device::DeviceArgs;
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use crate::digits::model::Outputs;
use crate::digits::{Digits, QuantizedMlp};
use crate::Npu;
use npu_spec::Matrix;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

#[derive(Subcommand)]
pub enum InferCommand {
    /// Classify the UCI optical digits with the shipped INT8 MLP (64-32-10)
    Digits(InferDigitsArgs),
}

#[derive(Args)]
#[command(after_help = "Examples:\n  npu infer digits --sim\n  npu infer digits --sim --sim-devices 2      (the images split across two simulated NPUs)\n  npu infer digits --port /dev/ttyUSB1\n  npu infer digits --sim --limit 100\n\nEach batch runs as two GEMMs on the NPU: layer 1 requantized by the hardware\n(bias, Q31 scale, ReLU), layer 2 in INT32 with its bias added on the host.\nExit code 1 if any NPU output differs from the CPU INT8 reference.\nData: UCI Optical Recognition of Handwritten Digits, E. Alpaydin and C. Kaynak\n(1998), CC BY 4.0.")]
pub struct InferDigitsArgs {
    /// Weight file (default: the shipped data/digits/mlp-64-32-10.toml)
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// Only the first N images
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Images per batch sent to a device
    #[arg(long, default_value_t = 256, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u32).range(1..=100_000), |v| v as usize))]
    batch: usize,
    #[command(flatten)]
    device: DeviceArgs,
}

pub fn run(cmd: &InferCommand) -> Result<()> {
    let InferCommand::Digits(args) = cmd;
    let mlp = match &args.weights {
        Some(p) => QuantizedMlp::load(p)?,
        None => QuantizedMlp::shipped(),
    };
    if mlp.inputs != 64 {
        bail!("the weights take {} inputs; the digits have 64 pixels", mlp.inputs);
    }
    let all = Digits::load()?;
    let data = match args.limit {
        Some(0) => bail!("--limit 0 leaves no image"),
        Some(n) => all.first(n),
        None => all,
    };
    let mut devices = args.device.open()?;
    let n = data.len();
    let reference = mlp.reference(&data.pixels);
    // Images split in contiguous slices, one per device, run in parallel.
    let per = n.div_ceil(devices.len());
    let done = AtomicUsize::new(0);
    let started = Instant::now();
    let results: Vec<Result<Outputs>> = std::thread::scope(|s| {
        let handles: Vec<_> = devices
            .iter_mut()
            .enumerate()
            .map(|(d, npu)| {
                let (mlp, data, done) = (&mlp, &data, &done);
                s.spawn(move || run_slice(npu, mlp, &data.pixels, d * per..((d + 1) * per).min(n), args.batch, done, n))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("device thread")).collect()
    });
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!();
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut hidden = Matrix::<i8>::zeros(n, mlp.hidden);
    let mut logits = Matrix::<i32>::zeros(n, mlp.outputs);
    let mut row = 0;
    for r in results {
        let part = r?;
        for i in 0..part.logits.rows() {
            for j in 0..mlp.hidden {
                hidden.set(row + i, j, part.hidden.get(i, j));
            }
            for j in 0..mlp.outputs {
                logits.set(row + i, j, part.logits.get(i, j));
            }
        }
        row += part.logits.rows();
    }
    let got = Outputs { hidden, logits };
    let classes = got.classes();
    let accuracy = |test: Option<bool>| {
        let idx: Vec<usize> = (0..n).filter(|&i| test.is_none_or(|t| Digits::is_test(i) == t)).collect();
        let right = idx.iter().filter(|&&i| classes[i] == usize::from(data.labels[i])).count();
        (right, idx.len())
    };
    let (rt, nt) = accuracy(Some(true));
    let (ra, na) = accuracy(None);
    println!("images {n} on {} device(s) ({})", devices.len(), devices[0].port());
    if nt > 0 {
        println!("accuracy (held-out images)  {:.2}%  ({rt}/{nt})", 100.0 * rt as f64 / nt as f64);
    }
    println!("accuracy (all images)       {:.2}%  ({ra}/{na})", 100.0 * ra as f64 / na as f64);
    let link: u64 = devices.iter().map(|d| d.link_stats().bytes_sent + d.link_stats().bytes_received).sum();
    println!("time {seconds:.2} s  ({:.0} images/s, {link} bytes over the link)", n as f64 / seconds);
    let hidden_diff = count_diff(got.hidden.as_slice(), reference.hidden.as_slice());
    let logit_diff = count_diff(got.logits.as_slice(), reference.logits.as_slice());
    if hidden_diff + logit_diff > 0 {
        bail!("MISMATCH: the NPU differs from the CPU int8 reference in {hidden_diff} hidden values and {logit_diff} logits");
    }
    println!("NPU outputs equal the CPU int8 reference bit for bit ({} hidden values, {} logits)", n * mlp.hidden, n * mlp.outputs);
    for d in devices.iter_mut() {
        let c = d.counters()?;
        let u = d.utilization(&c);
        println!(
            "{}: {} MACs, {} cycles ({:.2} s of device time at {:.0} MHz: what a board takes), busy {:.1}%, MAC utilization {:.1}% while busy",
            d.port(),
            c.macs,
            c.cycles,
            c.cycles as f64 / d.info().core_hz as f64,
            d.info().core_hz as f64 / 1e6,
            100.0 * u.busy,
            100.0 * u.mac_while_busy
        );
    }
    Ok(())
}

fn run_slice(npu: &mut Npu, mlp: &QuantizedMlp, x: &Matrix<i8>, rows: std::ops::Range<usize>, batch: usize, done: &AtomicUsize, total: usize) -> Result<Outputs> {
    let mut hidden = Matrix::<i8>::zeros(rows.len(), mlp.hidden);
    let mut logits = Matrix::<i32>::zeros(rows.len(), mlp.outputs);
    for start in rows.clone().step_by(batch) {
        let end = (start + batch).min(rows.end);
        let part = Matrix::from_fn(end - start, x.cols(), |i, j| x.get(start + i, j));
        let out = mlp.run(npu, &part)?;
        for i in 0..end - start {
            for j in 0..mlp.hidden {
                hidden.set(start - rows.start + i, j, out.hidden.get(i, j));
            }
            for j in 0..mlp.outputs {
                logits.set(start - rows.start + i, j, out.logits.get(i, j));
            }
        }
        let so_far = done.fetch_add(end - start, Ordering::Relaxed) + end - start;
        // In place on a terminal; a line per batch in a log.
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprint!("\rimages {so_far}/{total}");
        } else {
            eprintln!("images {so_far}/{total}");
        }
        let _ = std::io::stderr().flush();
    }
    Ok(Outputs { hidden, logits })
}

fn count_diff<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}
