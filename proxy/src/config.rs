//! Proxy configuration (TOML, unknown keys refused).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    pub bind: SocketAddr,
    /// Directory holding account.ring, container.ring and object.ring.
    pub rings: PathBuf,
    /// Users of Swift's v1.0 auth.
    pub users: Vec<User>,
    /// Lifetime of a v1 token.
    pub token_ttl_secs: u64,
    /// Connecting to a storage node may take this long.
    pub conn_timeout_ms: u64,
    /// A storage node must answer (and keep sending) within this.
    pub node_timeout_ms: u64,
    /// A node with this many errors is skipped...
    pub error_limit: u32,
    /// ...for this long after its last error.
    pub error_suppression_secs: u64,
    /// The identity service (`http://host:port`) that checks Keystone
    /// tokens; None: only v1.0 auth.
    pub identity_url: Option<String>,
    /// Keystone roles that own their project's account.
    pub operator_roles: Vec<String>,
    /// Keystone roles that may read their project's account.
    pub reader_roles: Vec<String>,
    /// The Keystone role that may act on every account.
    pub reseller_admin_role: String,
    /// A cached token is checked again with the identity service after
    /// this long (a revoked token works at most this much longer).
    pub token_recheck_secs: u64,
    /// The proxy's own identity account, with which it reads EC2
    /// credentials to check S3 signatures; None: no S3 API.
    pub identity_service: Option<ServiceAccountConfig>,
    /// S3 virtual-hosted addressing: `<bucket>.<s3_domain>` in the Host
    /// header names the bucket; None: path style only.
    pub s3_domain: Option<String>,
    /// The S3 region: requests must be signed for it, and buckets are in it.
    pub s3_region: String,
    /// Reseller admins may PUT (create) and DELETE accounts.
    pub allow_account_management: bool,
}

/// A Default-domain user with the admin role on `project`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountConfig {
    pub user: String,
    pub password: String,
    pub project: String,
}

/// A v1.0 auth user: `account:user` with a key and roles (`.admin` owns
/// the account, `.reseller_admin` may act on every account).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub account: String,
    pub user: String,
    pub key: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            rings: PathBuf::from("/etc/stratus"),
            users: Vec::new(),
            token_ttl_secs: 86_400,
            conn_timeout_ms: 500,
            node_timeout_ms: 10_000,
            error_limit: 10,
            error_suppression_secs: 60,
            identity_url: None,
            operator_roles: vec!["admin".into(), "member".into()],
            reader_roles: vec!["reader".into()],
            reseller_admin_role: "ResellerAdmin".into(),
            token_recheck_secs: 10,
            identity_service: None,
            s3_domain: None,
            s3_region: "us-east-1".into(),
            allow_account_management: false,
        }
    }
}

pub use stratus_common::config::ConfigError;

impl ProxyConfig {
    pub fn load(path: &std::path::Path) -> Result<ProxyConfig, ConfigError> {
        stratus_common::config::load_toml(path)
    }
}
