//! `stratus identity`: the identity service and its operator commands, as
//! `keystone-manage` offers them (bootstrap, Fernet key setup and rotation).

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use stratus_identity::{Bootstrap, Identity, IdentityConfig};

use crate::Exit;

#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// TOML config file (bind, data_dir, key_repository, token_expiration_secs, ...).
    #[arg(long)]
    config: PathBuf,
    #[command(subcommand)]
    command: IdentityCommand,
}

#[derive(Debug, Subcommand)]
enum IdentityCommand {
    /// Serve the Keystone v3 API until killed.
    Serve,
    /// Create the Default domain, admin project, user and roles, the region
    /// and the identity endpoint (idempotent).
    Bootstrap {
        /// The admin's password (or OS_BOOTSTRAP_PASSWORD).
        #[arg(long, env = "OS_BOOTSTRAP_PASSWORD", hide_env_values = true)]
        bootstrap_password: String,
        #[arg(long, default_value = "admin")]
        bootstrap_username: String,
        #[arg(long, default_value = "admin")]
        bootstrap_project_name: String,
        #[arg(long, default_value = "RegionOne")]
        bootstrap_region_id: String,
        /// The identity endpoint to register, e.g. http://127.0.0.1:5000/v3.
        #[arg(long)]
        bootstrap_public_url: Option<String>,
    },
    /// Create the Fernet key repository if it has no keys.
    FernetSetup,
    /// Promote the staged key to primary and drop the oldest beyond
    /// max_active_keys.
    FernetRotate,
}

fn fail(msg: impl std::fmt::Display) -> Exit {
    eprintln!("error: {msg}");
    Exit::Error
}

pub fn run(args: IdentityArgs) -> Exit {
    crate::init_tracing();
    let config = match IdentityConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    match args.command {
        IdentityCommand::FernetSetup => {
            match stratus_identity::token::Keys::setup(&config.keys_dir()) {
                Ok(()) => Exit::Success,
                Err(e) => fail(e),
            }
        }
        IdentityCommand::FernetRotate => {
            match stratus_identity::token::Keys::rotate(&config.keys_dir(), config.max_active_keys)
            {
                Ok(()) => Exit::Success,
                Err(e) => fail(e),
            }
        }
        IdentityCommand::Bootstrap {
            bootstrap_password,
            bootstrap_username,
            bootstrap_project_name,
            bootstrap_region_id,
            bootstrap_public_url,
        } => {
            let identity = match Identity::open(config) {
                Ok(i) => i,
                Err(e) => return fail(e),
            };
            let b = Bootstrap {
                admin_username: bootstrap_username,
                admin_password: bootstrap_password,
                project_name: bootstrap_project_name,
                region_id: bootstrap_region_id,
                identity_url: bootstrap_public_url,
                services: vec![],
            };
            match stratus_identity::bootstrap(&identity, &b) {
                Ok(()) => Exit::Success,
                Err(e) => fail(e),
            }
        }
        IdentityCommand::Serve => {
            let identity = match Identity::open(config) {
                Ok(i) => Arc::new(i),
                Err(e) => return fail(e),
            };
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return fail(format!("cannot start runtime: {e}")),
            };
            match rt.block_on(stratus_identity::api::run(identity)) {
                Ok(()) => Exit::Success,
                Err(e) => fail(format!("identity failed: {e}")),
            }
        }
    }
}
