//! `npu daemon`: owns one device and serves local programs over a Unix socket.

use super::ConfigArg;
use crate::daemon::{default_socket, Daemon};
use crate::transport::{SerialTransport, SimTransport};
use crate::Npu;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
#[command(after_help = "Examples:\n  npu daemon --sim                            (the simulated NPU, shared)\n  npu daemon --port /dev/ttyUSB1              (a board)\n  npu gemm --a a.npy --b b.npy -o c.npy --daemon      (in another terminal)\n  npu stats --watch --daemon                  (utilization, GOPS and bytes, live)\n\nThe default socket is $XDG_RUNTIME_DIR/npu/daemon.sock (per user, owner-only);\nclients find it with --daemon, or with NPU_DAEMON=SOCKET. A job holds the\ndevice from its first command until it exits, so its on-chip data stays its\nown; other jobs wait their turn. Ctrl-C stops the daemon.")]
pub struct DaemonArgs {
    /// Serial port of the board (or virtual board) to own
    #[arg(long, short = 'p', value_name = "PORT", conflicts_with = "sim", required_unless_present = "sim")]
    port: Option<String>,
    /// Own an NPU simulated in this process (Verilator)
    #[arg(long)]
    sim: bool,
    /// The socket to serve on (default: $XDG_RUNTIME_DIR/npu/daemon.sock)
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Seconds between the daemon's reads of the device's counters
    #[arg(long, value_name = "SECONDS", default_value_t = 0.5)]
    poll: f64,
    /// Baud rate of the serial port (default: the config's link.baud)
    #[arg(long, value_name = "BAUD")]
    baud: Option<u32>,
    #[command(flatten)]
    config: ConfigArg,
}

pub fn run(args: &DaemonArgs) -> Result<()> {
    if !(0.05..=60.0).contains(&args.poll) {
        bail!("--poll {}: must be 0.05..=60 seconds", args.poll);
    }
    let config = args.config.load()?;
    let socket = args.socket.clone().unwrap_or_else(default_socket);
    // Refuse a second daemon before opening the device (which would disturb the first's).
    crate::daemon::refuse_if_served(&socket)?;
    // And a second daemon on one port, before sending it anything.
    let port_lock = args.port.as_deref().map(crate::daemon::lock_port).transpose()?;
    let npu = if args.sim {
        eprintln!("preparing the simulated NPU ({}x{}, Verilator) ...", config.array.rows, config.array.cols);
        Npu::open(Box::new(SimTransport::new(&config)?), config.link.baud).context("the simulated NPU did not answer INFO")?
    } else {
        let port = args.port.as_deref().expect("clap requires --port without --sim");
        let baud = args.baud.unwrap_or(config.link.baud);
        Npu::open(Box::new(SerialTransport::open(port, baud)?), baud).with_context(|| format!("{port} is not answering as an NPU"))?
    };
    let device = npu.port();
    let daemon = Daemon::start(npu, &socket, port_lock, Duration::from_secs_f64(args.poll))?;
    eprintln!("npu daemon: serving {device} on {} (owner-only); Ctrl-C stops it", daemon.socket().display());
    eprintln!("  clients: npu info --daemon {0}   npu stats --watch --daemon {0}", daemon.socket().display());
    crate::daemon::run_forever(daemon)
}
