//! `npu gemm`: C = A x B on the NPU, from and to NumPy files.

use super::device::DeviceArgs;
use anyhow::{bail, Result};
use clap::Args;
use crate::npy;
use crate::output::write_atomically;
use crate::{Cluster, Requant};
use npu_spec::requant::RequantParams;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
#[command(after_help = "Examples:\n  npu gemm --a a.npy --b b.npy -o c.npy --sim\n  npu gemm --a a.npy --b b.npy -o c.npy --port /dev/ttyUSB1\n  npu gemm --a x.npy --b w.npy -o y.npy --sim --requant-multiplier 1518500250 --requant-shift 8 --min 0\n\nA is M x K int8, B is K x N int8 (np.int8, 2-D). The output is M x N int32,\nor int8 with --requant-multiplier (the hardware's requantization:\nround(acc * multiplier / 2^31 / 2^shift) + zero point, clamped).\nThe result is checked against the CPU reference unless --no-check; the\noutput file is written only when everything succeeded.")]
pub struct GemmArgs {
    /// A: M x K, int8
    #[arg(long, value_name = "A.npy")]
    a: PathBuf,
    /// B: K x N, int8
    #[arg(long, value_name = "B.npy")]
    b: PathBuf,
    /// Where C goes (int32, or int8 when requantized)
    #[arg(long, short = 'o', value_name = "C.npy")]
    output: PathBuf,
    /// Requantize to int8 with this Q31 multiplier (real scale x 2^31)
    #[arg(long, value_name = "Q31")]
    requant_multiplier: Option<i32>,
    /// Rounding right shift after the multiply, 0..=31
    #[arg(long, value_name = "BITS", default_value_t = 0, requires = "requant_multiplier", value_parser = clap::value_parser!(u8).range(0..=31))]
    requant_shift: u8,
    /// Output zero point
    #[arg(long, default_value_t = 0, requires = "requant_multiplier", allow_negative_numbers = true)]
    zero_point: i8,
    /// Lower clamp of the int8 output (0 with zero point 0 is a ReLU)
    #[arg(long, default_value_t = -128, requires = "requant_multiplier", allow_negative_numbers = true)]
    min: i8,
    /// Upper clamp of the int8 output
    #[arg(long, default_value_t = 127, requires = "requant_multiplier", allow_negative_numbers = true)]
    max: i8,
    /// Per-column int32 bias added before requantizing (a 1-D or 1 x N .npy of int32)
    #[arg(long, value_name = "BIAS.npy", requires = "requant_multiplier")]
    bias: Option<PathBuf>,
    /// Skip the comparison with the CPU reference
    #[arg(long)]
    no_check: bool,
    #[command(flatten)]
    device: DeviceArgs,
}

pub fn run(args: &GemmArgs) -> Result<()> {
    // Everything about the inputs is checked before a device is touched.
    let a = npy::read_i8_matrix(&args.a)?;
    let b = npy::read_i8_matrix(&args.b)?;
    if a.cols() != b.rows() {
        bail!("shapes do not chain: A ({}) is {}x{}, so B ({}) must have {} rows, but it is {}x{}", args.a.display(), a.rows(), a.cols(), args.b.display(), a.cols(), b.rows(), b.cols());
    }
    let requant = match args.requant_multiplier {
        None => None,
        Some(multiplier) => {
            if args.min > args.max {
                bail!("--min {} is above --max {}", args.min, args.max);
            }
            let bias = args.bias.as_deref().map(|p| npy::read_i32_vector(p, b.cols())).transpose()?;
            Some(Requant { params: RequantParams { multiplier, shift: args.requant_shift, zero_point: args.zero_point, min: args.min, max: args.max }, bias, channels: None, residual: None })
        }
    };
    let out_dir = args.output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    if !out_dir.is_dir() {
        bail!("cannot write {}: the folder {} does not exist", args.output.display(), out_dir.display());
    }
    let mut cluster = Cluster::new(args.device.open()?);
    let (m, k, n) = (a.rows(), a.cols(), b.cols());
    eprintln!("GEMM {m}x{k} x {k}x{n} on {} device(s) ...", cluster.devices().len());
    let started = Instant::now();
    let wide = npu_spec::gemm_reference(&a, &b)?;
    let bytes = match &requant {
        None => {
            let c = cluster.gemm(&a, &b)?;
            if !args.no_check && c != wide {
                bail!("the NPU's result differs from the CPU reference in {} of {} elements: no output written", count_diff(c.as_slice(), wide.as_slice()), m * n);
            }
            npy::encode(&c)?
        }
        Some(q) => {
            let c = cluster.gemm_requant(&a, &b, q)?;
            if !args.no_check {
                let want = npu_spec::Matrix::from_fn(m, n, |i, j| npu_spec::requant::requantize(wide.get(i, j), q.bias.as_ref().map_or(0, |v| v[j]), &q.params));
                if c != want {
                    bail!("the NPU's result differs from the CPU reference in {} of {} elements: no output written", count_diff(c.as_slice(), want.as_slice()), m * n);
                }
            }
            npy::encode(&c)?
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    write_atomically(&args.output, &bytes)?;
    println!(
        "wrote {} ({m}x{n} {}) in {seconds:.2} s{}",
        args.output.display(),
        if requant.is_some() { "int8" } else { "int32" },
        if args.no_check { "" } else { "; equal to the CPU reference" }
    );
    Ok(())
}

fn count_diff<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}
