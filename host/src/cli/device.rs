//! Which NPUs a command talks to: boards (or virtual boards) on serial ports,
//! or NPUs simulated in this process.

use super::ConfigArg;
use anyhow::{bail, Context, Result};
use clap::Args;
use crate::transport::{SerialTransport, SimTransport};
use crate::Npu;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Clone, Debug)]
pub struct DeviceArgs {
    /// Serial port of a board or of a virtual board (`npu sim serve` prints its path); repeat for several devices
    #[arg(long, short = 'p', value_name = "PORT", conflicts_with = "sim")]
    pub port: Vec<String>,
    /// Go through `npu daemon`, which owns the device: its socket (default: NPU_DAEMON, else $XDG_RUNTIME_DIR/npu/daemon.sock)
    #[arg(long, value_name = "SOCKET", num_args = 0..=1, default_missing_value = "", conflicts_with_all = ["sim", "port"])]
    pub daemon: Option<PathBuf>,
    /// Use the NPU simulated in this process (Verilator) instead of a board
    #[arg(long)]
    pub sim: bool,
    /// How many simulated NPUs, with --sim (they run in parallel threads)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub sim_devices: u32,
    /// Baud rate of the serial ports (default: the config's link.baud)
    #[arg(long, value_name = "BAUD")]
    pub baud: Option<u32>,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// This program as a daemon's watchers see it: "npu gemm (pid 1234)".
pub fn client_name() -> String {
    let command = std::env::args().nth(1).unwrap_or_default();
    format!("npu {command} (pid {})", std::process::id())
}

impl DeviceArgs {
    /// The daemon to go through: `--daemon [SOCKET]`, or `NPU_DAEMON` when
    /// no other device is named.
    pub fn daemon_socket(&self) -> Option<PathBuf> {
        match &self.daemon {
            Some(p) => Some(crate::daemon::socket_named(p)),
            None if !self.sim && self.port.is_empty() => crate::daemon::socket_from_env(),
            None => None,
        }
    }

    /// Opens every device and reads its INFO.
    pub fn open(&self) -> Result<Vec<Npu>> {
        if let Some(socket) = self.daemon_socket() {
            return Ok(vec![crate::daemon::client::open_npu(&socket, &client_name())?]);
        }
        let config = self.config.load()?;
        let baud = self.baud.unwrap_or(config.link.baud);
        if self.sim {
            let started = Instant::now();
            eprintln!("preparing the simulated NPU ({}x{}, Verilator; the first build takes a few seconds) ...", config.array.rows, config.array.cols);
            let devices = (0..self.sim_devices)
                .map(|_| {
                    let t = SimTransport::new(&config)?;
                    Npu::open(Box::new(t), config.link.baud).context("the simulated NPU did not answer INFO")
                })
                .collect::<Result<Vec<_>>>()?;
            eprintln!("simulated NPU ready in {:.1} s", started.elapsed().as_secs_f64());
            return Ok(devices);
        }
        let ports: Vec<String> = if self.port.is_empty() {
            match std::env::var("NPU_PORT") {
                Ok(p) if !p.is_empty() => vec![p],
                _ => bail!("no device given: use --port PORT (a board, or the path `npu sim serve` prints), --sim (the NPU simulated in this process) or --daemon (a running `npu daemon`); NPU_PORT may also name the port"),
            }
        } else {
            self.port.clone()
        };
        ports
            .iter()
            .map(|p| {
                let t = SerialTransport::open(p, baud)?;
                Npu::open(Box::new(t), baud).with_context(|| format!("{p} is not answering as an NPU"))
            })
            .collect()
    }

    /// Opens exactly one device.
    pub fn open_one(&self) -> Result<Npu> {
        let mut devices = self.open()?;
        if devices.len() != 1 {
            bail!("this command talks to one device; {} were given", devices.len());
        }
        Ok(devices.remove(0))
    }
}
