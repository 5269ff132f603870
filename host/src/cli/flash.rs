//! `npu flash`: programs a board with a bitstream.

use anyhow::{bail, Result};
use clap::Args;
use npu_fpga::board::Board;
use std::path::PathBuf;

#[derive(Args)]
#[command(after_help = "Examples:\n  npu flash --board icebreaker                  (build/icebreaker/npu.bin)\n  npu flash --board icebreaker --dry-run        (print the command only)\n  npu flash --board ulx3s --bitstream build/ulx3s/npu.bit\n\nFails at once, naming what to check, when no board's programmer is on USB.")]
pub struct FlashArgs {
    /// Board to program (icebreaker, ulx3s)
    #[arg(long)]
    board: String,
    /// Bitstream (default: build/<board>/npu.bin, or npu.bit for ECP5)
    #[arg(long, value_name = "FILE")]
    bitstream: Option<PathBuf>,
    /// Print the command that would program the board, and do nothing
    #[arg(long)]
    dry_run: bool,
}

/// USB vendor:product ids present, from sysfs.
fn usb_ids() -> Vec<String> {
    let mut out = vec![];
    if let Ok(dir) = std::fs::read_dir("/sys/bus/usb/devices") {
        for entry in dir.flatten() {
            let read = |f: &str| std::fs::read_to_string(entry.path().join(f)).map(|s| s.trim().to_string());
            if let (Ok(v), Ok(p)) = (read("idVendor"), read("idProduct")) {
                out.push(format!("{v}:{p}"));
            }
        }
    }
    out
}

pub fn run(args: &FlashArgs) -> Result<()> {
    let board = Board::named(&args.board).map_err(anyhow::Error::msg)?;
    let default_name = match board.family {
        npu_fpga::board::Family::Ice40 => "npu.bin",
        npu_fpga::board::Family::Ecp5 => "npu.bit",
    };
    let bitstream = args.bitstream.clone().unwrap_or_else(|| PathBuf::from("build").join(&board.name).join(default_name));
    let command = board.program_command(&bitstream.display().to_string());
    if args.dry_run {
        println!("{}", command.join(" "));
        return Ok(());
    }
    if !bitstream.is_file() {
        bail!("no bitstream at {}: build it first with `npu synth --board {}`", bitstream.display(), board.name);
    }
    let present = usb_ids();
    if !board.programmer.usb_ids.iter().any(|id| present.contains(id)) {
        bail!(
            "no {} is attached: no USB device {} found (plug the board in, check the cable, and that this machine sees it in lsusb); the command would be: {}",
            board.name,
            board.programmer.usb_ids.join(" or "),
            command.join(" ")
        );
    }
    let program = npu_spec::tools::OPENFPGALOADER.find()?;
    eprintln!("programming: {}", command.join(" "));
    let status = std::process::Command::new(program).args(&command[1..]).status()?;
    if !status.success() {
        bail!("{} failed ({status}); also try: {}", command[0], board.programmer.alternative.replace("{bitstream}", &bitstream.display().to_string()));
    }
    println!("programmed {} with {}", board.name, bitstream.display());
    Ok(())
}
