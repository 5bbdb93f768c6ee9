//! The Stratus storage node: where bytes live.
//!
//! It owns the object engine (a group-committed, checksummed log per device
//! with an io_uring and a synchronous back-end), the container and account
//! databases (RocksDB per device), and the internal HTTP API that proxies
//! and other nodes call, shaped like Swift's object, container and account
//! servers. It knows nothing of the proxy; they meet only over HTTP.

pub mod auditor;
pub mod config;
pub mod device;
pub mod engine;
pub mod expirer;
pub mod http;
pub mod listing;
pub mod replicator;
pub mod rings;
pub mod workers;

pub use config::StorageConfig;
/// Swift timestamps, shared with the proxy (the wire format both speak).
pub use stratus_common::timestamp;
