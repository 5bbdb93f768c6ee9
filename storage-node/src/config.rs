//! Storage node configuration (TOML, unknown keys refused).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::engine::EngineKind;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Object server address (internal API: proxies and other nodes only).
    pub bind: SocketAddr,
    /// Container server address.
    pub container_bind: SocketAddr,
    /// Account server address.
    pub account_bind: SocketAddr,
    /// Every directory directly under this one is a device.
    pub devices: PathBuf,
    /// `auto` (io_uring if available), `io_uring` or `sync`.
    pub engine: EngineKind,
    /// PUTs are refused with 507 when they would leave less free space
    /// than this. The room is kept for the index and the journal: RocksDB
    /// aborts rather than start on a device with no space at all.
    pub reserve_bytes: u64,
    /// How long an object server waits for a container server before it
    /// queues the update on disk instead.
    pub container_update_timeout_ms: u64,
    /// How often queued container updates are retried.
    pub updater_interval_secs: u64,
    /// How often changed container totals are reported to accounts.
    pub account_report_interval_ms: u64,
    /// Size of a log segment before the next one starts.
    pub segment_bytes: u64,
    /// How often sealed segments are checked for compaction.
    pub compact_interval_secs: u64,
    /// A sealed segment is compacted once at most this share of it is live.
    pub compact_max_live: f64,
    /// Directory of `object.ring`, `container.ring` and `account.ring`.
    /// Without it (or before the files appear) the node serves requests
    /// but does not replicate.
    pub rings: Option<PathBuf>,
    /// Pause between replication passes (objects, containers, accounts).
    pub replication_interval_secs: u64,
    /// Most object bytes the replicator pushes per second (0: no limit).
    pub replication_bytes_per_sec: u64,
    /// Objects the replicator pushes to one peer at once, per partition
    /// (four partitions are synced at a time).
    pub replication_concurrency: usize,
    /// Tombstones (and deleted databases) older than this are removed.
    pub reclaim_age_secs: u64,
    /// Pause between auditor passes.
    pub auditor_interval_secs: u64,
    /// Most bytes per second the auditor reads (0: no limit).
    pub auditor_bytes_per_sec: u64,
    /// Pause between expirer passes.
    pub expirer_interval_secs: u64,
    /// Most expired objects the expirer deletes per second (0: no limit).
    pub expirer_objects_per_sec: u64,
    /// Most queued updates the updater sends per second (0: no limit).
    pub updater_per_sec: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 6200)),
            container_bind: SocketAddr::from(([127, 0, 0, 1], 6201)),
            account_bind: SocketAddr::from(([127, 0, 0, 1], 6202)),
            devices: PathBuf::from("/srv/node"),
            engine: EngineKind::Auto,
            reserve_bytes: 64 << 20,
            container_update_timeout_ms: 1000,
            updater_interval_secs: 30,
            account_report_interval_ms: 1000,
            segment_bytes: 256 << 20,
            compact_interval_secs: 60,
            compact_max_live: 0.5,
            rings: None,
            replication_interval_secs: 30,
            replication_bytes_per_sec: 200 << 20,
            replication_concurrency: 4,
            reclaim_age_secs: 7 * 24 * 3600,
            auditor_interval_secs: 600,
            auditor_bytes_per_sec: 10 << 20,
            expirer_interval_secs: 60,
            expirer_objects_per_sec: 500,
            updater_per_sec: 1000,
        }
    }
}

pub use stratus_common::config::ConfigError;

impl StorageConfig {
    pub fn load(path: &std::path::Path) -> Result<StorageConfig, ConfigError> {
        stratus_common::config::load_toml(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_unknown_keys() {
        let c: StorageConfig =
            toml::from_str("bind = \"127.0.0.1:0\"\nengine = \"sync\"\n").unwrap();
        assert_eq!(c.engine, EngineKind::Sync);
        assert!(toml::from_str::<StorageConfig>("bogus = 1").is_err());
        assert!(toml::from_str::<StorageConfig>("engine = \"fast\"").is_err());
    }
}
