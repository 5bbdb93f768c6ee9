//! `stratus storage`: runs one storage node until killed.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use stratus_storage::engine::EngineKind;
use stratus_storage::StorageConfig;

use crate::Exit;

#[derive(Debug, Args)]
pub struct StorageArgs {
    /// TOML config file; the flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory whose subdirectories are the devices.
    #[arg(long)]
    devices: Option<PathBuf>,
    /// Object server address.
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Container server address.
    #[arg(long)]
    container_bind: Option<SocketAddr>,
    /// Account server address.
    #[arg(long)]
    account_bind: Option<SocketAddr>,
    /// Disk back-end: auto, io_uring or sync.
    #[arg(long, value_parser = parse_engine)]
    engine: Option<EngineKind>,
}

fn parse_engine(s: &str) -> Result<EngineKind, String> {
    match s {
        "auto" => Ok(EngineKind::Auto),
        "io_uring" | "io-uring" | "uring" => Ok(EngineKind::IoUring),
        "sync" => Ok(EngineKind::Sync),
        _ => Err(format!("unknown engine {s:?} (auto, io_uring, sync)")),
    }
}

fn fail(msg: &str) -> Exit {
    eprintln!("error: {msg}");
    Exit::Error
}

pub fn run(args: StorageArgs) -> Exit {
    crate::init_tracing();
    let mut config = match &args.config {
        Some(p) => match StorageConfig::load(p) {
            Ok(c) => c,
            Err(e) => return fail(&e.to_string()),
        },
        None => StorageConfig::default(),
    };
    config.devices = args.devices.unwrap_or(config.devices);
    config.bind = args.bind.unwrap_or(config.bind);
    config.container_bind = args.container_bind.unwrap_or(config.container_bind);
    config.account_bind = args.account_bind.unwrap_or(config.account_bind);
    config.engine = args.engine.unwrap_or(config.engine);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start runtime: {e}")),
    };
    match rt.block_on(stratus_storage::http::run(config)) {
        Ok(()) => Exit::Success,
        Err(e) => fail(&format!("storage node failed: {e}")),
    }
}
