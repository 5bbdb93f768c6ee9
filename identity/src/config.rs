//! Identity service configuration (TOML, unknown keys refused).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    pub bind: SocketAddr,
    /// Records (RocksDB) go to `<data_dir>/db`.
    pub data_dir: PathBuf,
    /// The Fernet key repository (default `<data_dir>/fernet-keys`).
    pub key_repository: Option<PathBuf>,
    /// How long a token lives (Keystone's default: one hour).
    pub token_expiration_secs: u64,
    /// Keys kept by `fernet-rotate`, the staged key included.
    pub max_active_keys: usize,
    /// The running service rereads the key repository this often, so a
    /// rotation takes effect without a restart.
    pub key_reload_secs: u64,
    /// Larger request bodies get 413 (Keystone's default).
    pub max_request_body_bytes: usize,
    /// The URL clients reach this service at, for links; default: from
    /// the request's Host header.
    pub public_url: Option<String>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 5000)),
            data_dir: PathBuf::from("/var/lib/stratus/identity"),
            key_repository: None,
            token_expiration_secs: 3600,
            max_active_keys: 3,
            key_reload_secs: 30,
            max_request_body_bytes: 114_688,
            public_url: None,
        }
    }
}

impl IdentityConfig {
    pub fn load(
        path: &std::path::Path,
    ) -> Result<IdentityConfig, stratus_common::config::ConfigError> {
        stratus_common::config::load_toml(path)
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.key_repository
            .clone()
            .unwrap_or_else(|| self.data_dir.join("fernet-keys"))
    }
}
