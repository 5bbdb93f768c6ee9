//! Stratus identity: an OpenStack Keystone v3-compatible service. It owns
//! domains, projects, users, groups, roles and their assignments, the
//! service catalog, EC2 and application credentials, and Fernet tokens
//! (encrypted, never stored). Records live on the ordered key-value store
//! of `stratus-common`; the HTTP API is in [`api`], who-may-do-what in
//! [`policy`].

pub mod api;
pub mod auth;
mod bootstrap;
pub mod config;
pub mod ec2;
pub mod error;
pub mod model;
pub mod password;
pub mod policy;
pub mod store;
pub mod token;

use std::sync::Arc;

pub use bootstrap::{
    bootstrap, ensure_ec2_credential, ensure_service_user, Bootstrap, ServiceEndpoint,
};
pub use config::IdentityConfig;
use stratus_common::kv::{KvStore, RocksKv};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Keys(#[from] token::KeyError),
    #[error(transparent)]
    Store(#[from] stratus_common::kv::KvError),
    #[error("cannot create {0}: {1}")]
    Dir(std::path::PathBuf, std::io::Error),
}

/// The identity service's state: config, records and token keys.
#[derive(Debug)]
pub struct Identity {
    pub config: IdentityConfig,
    pub store: store::Store,
    pub keys: token::Keys,
}

impl Identity {
    /// Opens the records and keys under the config's directories, creating
    /// the key repository on first start.
    pub fn open(config: IdentityConfig) -> Result<Identity, StartError> {
        let db = config.data_dir.join("db");
        std::fs::create_dir_all(&db).map_err(|e| StartError::Dir(db.clone(), e))?;
        let kv: Arc<dyn KvStore> = Arc::new(RocksKv::open(&db)?);
        token::Keys::setup(&config.keys_dir())?;
        let keys = token::Keys::load(&config.keys_dir())?;
        Ok(Identity::with_store(config, kv, keys))
    }

    pub fn with_store(config: IdentityConfig, kv: Arc<dyn KvStore>, keys: token::Keys) -> Identity {
        Identity {
            config,
            store: store::Store::new(kv),
            keys,
        }
    }
}

/// 128 random bits as 32 lowercase hex digits, for secrets and access
/// keys (unlike [`new_id`], a failing random source is an error).
pub fn new_secret() -> Result<String, error::Error> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| error::Error::Internal(e.to_string()))?;
    Ok(hex::encode(raw))
}

/// A fresh id as Keystone makes them: 32 lowercase hex digits.
pub fn new_id() -> String {
    let mut raw = [0u8; 16];
    let _ = getrandom::fill(&mut raw);
    hex::encode(raw)
}
