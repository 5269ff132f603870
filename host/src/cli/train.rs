//! `npu train digits`: trains and quantizes the digits network.

use anyhow::Result;
use clap::{Args, Subcommand};
use crate::digits::train::{train, TrainOptions};
use crate::digits::Digits;
use crate::output::write_atomically;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Subcommand)]
pub enum TrainCommand {
    /// The 64-32-10 INT8 MLP on the UCI optical digits (float SGD, then INT8 quantization)
    Digits(TrainDigitsArgs),
}

#[derive(Args)]
#[command(after_help = "Examples:\n  npu train digits -o data/digits/mlp-64-32-10.toml     (rewrites the shipped weights, bit for bit)\n  npu train digits -o my.toml --epochs 100 --seed 7\n  npu infer digits --sim --weights my.toml\n\nImages with index divisible by 5 (360) are held out; the other 1437 train.\nThe accuracies printed are on the held-out images.")]
pub struct TrainDigitsArgs {
    /// Where the weight file goes
    #[arg(long, short = 'o', value_name = "FILE")]
    output: PathBuf,
    /// Passes over the training images
    #[arg(long, default_value_t = TrainOptions::default().epochs, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u32).range(1..=10_000), |v| v as usize))]
    epochs: usize,
    /// Seed of the initial weights and the shuffles
    #[arg(long, default_value_t = TrainOptions::default().seed)]
    seed: u64,
}

pub fn run(cmd: &TrainCommand) -> Result<()> {
    let TrainCommand::Digits(args) = cmd;
    let data = Digits::load()?;
    let options = TrainOptions { epochs: args.epochs, seed: args.seed, ..TrainOptions::default() };
    eprintln!("training 64-32-10 on 1437 images, {} epochs ...", options.epochs);
    let started = Instant::now();
    let (mlp, float_accuracy) = train(&data, &options);
    let out = mlp.reference(&data.pixels);
    let classes = out.classes();
    let test: Vec<usize> = (0..data.len()).filter(|&i| Digits::is_test(i)).collect();
    let right = test.iter().filter(|&&i| classes[i] == usize::from(data.labels[i])).count();
    write_atomically(&args.output, mlp.to_text().as_bytes())?;
    println!("trained in {:.1} s", started.elapsed().as_secs_f64());
    println!("held-out accuracy: float {:.2}%, int8 {:.2}% ({right}/{})", 100.0 * float_accuracy, 100.0 * right as f64 / test.len() as f64, test.len());
    println!("layer 1 requantization: multiplier {} shift {}", mlp.multiplier, mlp.shift);
    println!("wrote {}", args.output.display());
    Ok(())
}
