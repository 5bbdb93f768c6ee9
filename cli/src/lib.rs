//! The `stratus` command: parses the command line and hands each
//! subcommand to the crate that does the work: `stratus ring` (the ring
//! builder, with swift-ring-builder's syntax), `stratus storage` (a storage
//! node), `stratus proxy` (the Swift API), `stratus identity` (Keystone v3) and `stratus up` (all of them on
//! one machine).

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod identity_cmd;
mod ops;
mod proxy_cmd;
mod ring_cmd;
mod storage_cmd;
mod up_cmd;

pub use ring_cmd::Exit;

#[derive(Debug, Parser)]
#[command(
    name = "stratus",
    version,
    about = "Stratus: object and block storage cloud"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build and inspect rings, with swift-ring-builder's commands and syntax.
    ///
    /// stratus ring <builder> create <part_power> <replicas> <min_part_hours>
    ///   | add r<region>z<zone>-<ip>:<port>[R<ip>:<port>]/<device>[_<meta>] <weight> ...
    ///   | add --region R --zone Z --ip IP --port P --device D --weight W
    ///   | remove <search-value> ...  | set_weight <search-value> <weight> ...
    ///   | set_info <search-value> <ip>:<port>[R<ip>:<port>]/<device>_<meta>
    ///   | set_overload <overload>[%] | set_min_part_hours <hours> | set_replicas <n>
    ///   | rebalance [--seed N] | pretend_min_part_hours_passed | dispersion [--verbose]
    ///   | search <search-value> | write_ring | validate | (nothing: summary)
    #[command(verbatim_doc_comment)]
    Ring {
        /// The builder file, e.g. object.builder; the ring goes to object.ring.
        builder: PathBuf,
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a storage node: object, container and account servers over the
    /// devices (directories) under --devices.
    Storage(storage_cmd::StorageArgs),
    /// Run the proxy (Swift API) from a config file.
    Proxy(proxy_cmd::ProxyArgs),
    /// The identity service (Keystone v3 API) and its operator commands.
    Identity(identity_cmd::IdentityArgs),
    /// Start a whole object store on this machine: three storage nodes and
    /// the proxy on loopback, in the foreground (Ctrl-C stops it).
    Up(up_cmd::UpArgs),
    /// Where a name lives: its partition and primary and handoff devices,
    /// like swift-get-nodes.
    GetNodes(ops::GetNodesArgs),
    /// Each storage node's state (space, objects, quarantined copies,
    /// queued updates, background workers' last passes), from the nodes
    /// in the object ring; `--run WORKER` runs a pass everywhere first.
    Status(ops::StatusArgs),
    /// Place sentinel containers and objects (`populate`), then report how
    /// many of their copies their primaries hold (`report`).
    Dispersion(ops::DispersionArgs),
}

/// Logs to stderr, `RUST_LOG` filtering (default info).
fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the command line `args` (program name first) and returns the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let mut out = std::io::stdout().lock();
    let exit = match cli.command {
        Command::Ring { builder, args } => ring_cmd::run(&builder, &args, &mut out),
        Command::Storage(args) => storage_cmd::run(args),
        Command::Proxy(args) => proxy_cmd::run(args),
        Command::Identity(args) => identity_cmd::run(args),
        Command::Up(args) => up_cmd::run(args),
        Command::GetNodes(args) => ops::get_nodes(args, &mut out),
        Command::Status(args) => ops::status(args, &mut out),
        Command::Dispersion(args) => ops::dispersion(args, &mut out),
    };
    let _ = out.flush();
    exit.into()
}
