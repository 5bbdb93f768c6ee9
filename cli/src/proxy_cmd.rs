//! `stratus proxy`: runs the Swift API proxy until killed.

use std::path::PathBuf;

use clap::Args;
use stratus_proxy::ProxyConfig;

use crate::Exit;

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// TOML config file (bind, rings, users, timeouts).
    #[arg(long)]
    config: PathBuf,
}

pub fn run(args: ProxyArgs) -> Exit {
    crate::init_tracing();
    let config = match ProxyConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Error;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return Exit::Error;
        }
    };
    match rt.block_on(stratus_proxy::run(config)) {
        Ok(()) => Exit::Success,
        Err(e) => {
            eprintln!("error: proxy failed: {e}");
            Exit::Error
        }
    }
}
