//! `npu run MODEL.tflite`: an int8 TensorFlow Lite model on the NPU, the
//! GEMM-shaped layers on the device and the rest with TFLite's reference
//! kernels on the host, bit-exact with TFLite's reference interpreter.

use super::device::DeviceArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use crate::tflite::model::{Model, Op};
use crate::tflite::runtime::Runtime;
use crate::Cluster;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Args)]
#[command(after_help = "Examples:
  npu run models/micro_speech.tflite --describe
  npu run models/micro_speech.tflite --input x.npy -o y.npy --sim
  npu run models/micro_speech.tflite --input x.npy -o expected.npy --cpu   (no device)
  npu run models/resnet8_cifar10.tflite --input images.npy -o logits.npy --sim --report run.json
  npu run model.tflite --input x.npy -o y.npy --port /dev/ttyUSB1
  npu run models/micro_speech.tflite -i tests/tflite/micro_speech.input.npy --sim --expect tests/tflite/micro_speech.expected.npy

The input has the model's input dtype and shape, except that its first
dimension is the batch: any number of items, run with the weights written
once. The output has the model's output dtype and shape, batch first.
CONV_2D and FULLY_CONNECTED run on the NPU; DEPTHWISE_CONV_2D, pools, ADD,
RESHAPE, SOFTMAX, QUANTIZE and DEQUANTIZE run on the host, each equal to
TFLite's reference kernel bit for bit. On a device with the mover
(memory.mover), a CONV_2D's im2col operand is built on chip from its input
map (the report says \"NPU, on chip\"), and on a single such device a
convolution read by the next layer leaves its output on chip for it (the
next convolution's map, or a FULLY_CONNECTED's operand after a RESHAPE):
such layers run item by item and say \"NPU, chained\". With ADD's tables too
(memory.add_tables), a residual block's ADD runs on chip after its last
convolution, and with tables and memory for all of them, residual blocks
chain into one another and into a global AVERAGE_POOL_2D and the
FULLY_CONNECTED after it (ResNet-8 on configs like ulx3s-16x16 with
add_tables = 8). With program memory
(memory.program_bytes) the driver stores each stretch of commands once and
runs it by one RUN request from then on; the report's link bytes \"for the
last\" inference are then about its input and output. A model with any other operator is
refused before anything is sent (exit 1, no output file).")]
pub struct RunArgs {
    /// The model: an int8 TensorFlow Lite flatbuffer
    #[arg(value_name = "MODEL.tflite")]
    model: PathBuf,
    /// Print the model's input and output (names, dtypes, shapes, quantization) and its operators, then stop
    #[arg(long)]
    describe: bool,
    /// The input batch (.npy)
    #[arg(long, short = 'i', value_name = "X.npy", required_unless_present = "describe")]
    input: Option<PathBuf>,
    /// Where to write the output batch (.npy); written only if the whole run succeeds
    #[arg(long, short = 'o', value_name = "Y.npy")]
    output: Option<PathBuf>,
    /// Compare the output with this .npy (TFLite's, say): exit 1 if any value differs (floats bit for bit)
    #[arg(long, value_name = "Y.npy")]
    expect: Option<PathBuf>,
    /// Run every layer on this host's CPU with the reference kernels (no device): the output the NPU must equal
    #[arg(long, conflicts_with_all = ["sim", "port", "daemon"])]
    cpu: bool,
    /// Also write the run's report as JSON (per layer, and totals)
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
}

pub fn run(args: &RunArgs) -> Result<()> {
    let model = Model::load(&args.model).with_context(|| format!("cannot run {}", args.model.display()))?;
    if args.describe {
        print!("{}", describe(&model));
        return Ok(());
    }
    let input_path = args.input.as_ref().expect("clap requires --input without --describe");
    let (shape, values) = crate::npy::read_array(input_path)?;
    let want = model.input();
    if values.dtype() != want.dtype || shape.len() != want.shape.len() || shape[1..] != want.shape[1..] {
        bail!(
            "{} is {} of shape {shape:?}; the model's input '{}' is {} of shape [N{}] (N items of {:?})",
            input_path.display(),
            values.dtype().name(),
            want.name,
            want.dtype.name(),
            want.shape[1..].iter().map(|d| format!(", {d}")).collect::<String>(),
            &want.shape[1..]
        );
    }
    let batch = shape[0];
    if batch == 0 {
        bail!("{} holds no item (its first dimension is 0)", input_path.display());
    }
    let mut cluster = if args.cpu { None } else { Some(Cluster::new(args.device.open()?)) };
    let (port, count) = match cluster.as_mut() {
        Some(c) => (c.devices()[0].port(), c.devices().len()),
        None => ("the host's CPU, reference kernels".to_string(), 0),
    };
    let mut runtime = match cluster.as_mut() {
        Some(c) => Runtime::new(c),
        None => Runtime::reference(),
    };
    let tty = std::io::stderr().is_terminal();
    runtime.progress = Some(Box::new(move |done, total| {
        if tty {
            eprint!("\rlayer {done}/{total} ");
            let _ = std::io::stderr().flush();
        }
    }));
    eprintln!("running {} ({} layers) on a batch of {batch} on {count} device(s) ({port}) ...", args.model.display(), model.layers.len());
    let (out, report) = runtime.run(&model, values, batch)?;
    if tty {
        eprintln!();
    }
    eprint!("{}", report.table());
    if let Some(path) = &args.report {
        crate::output::write_atomically(path, report.to_json().as_bytes())?;
    }
    let mut out_shape = model.output().shape.clone();
    out_shape[0] = batch;
    match &args.output {
        Some(path) => {
            crate::output::write_atomically(path, &crate::npy::encode_array(&out_shape, &out)?)?;
            eprintln!("wrote {} ({} of shape {out_shape:?})", path.display(), out.dtype().name());
        }
        None => eprintln!("(no -o: the output was not written)"),
    }
    if let Some(path) = &args.expect {
        let (shape, want) = crate::npy::read_array(path)?;
        if shape != out_shape || want.dtype() != out.dtype() {
            bail!("{} is {} of shape {shape:?}; the output is {} of shape {out_shape:?}", path.display(), want.dtype().name(), out.dtype().name());
        }
        let differ = out.differences(&want);
        if differ > 0 {
            bail!("MISMATCH: {differ} of {} output values differ from {}", out.len(), path.display());
        }
        println!("all {} output values equal {} bit for bit", out.len(), path.display());
    }
    Ok(())
}

/// `--describe`: what goes in, what comes out, and what runs where.
pub fn describe(model: &Model) -> String {
    let mut s = String::new();
    for (what, t) in [("input ", model.input()), ("output", model.output())] {
        let quant = if t.dtype == crate::tflite::model::DType::Int8 { format!(", scale {}, zero point {}", t.scale, t.zero_point) } else { String::new() };
        s += &format!("{what} '{}': {} {:?}{quant}\n", t.name, t.dtype.name(), t.shape);
    }
    s += &format!("{} operators:\n", model.layers.len());
    for l in &model.layers {
        let place = match l.op {
            Op::Conv2d(_) | Op::FullyConnected(_) => "NPU",
            _ => "host",
        };
        let out = model.tensors[l.output].as_ref().expect("an activation");
        s += &format!("  {:>3}  {:<18} -> {:<18} {:>10} MACs  on the {place}\n", l.index, l.op.name(), format!("{:?}", out.shape), l.op.macs());
    }
    s
}
