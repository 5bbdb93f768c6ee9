//! Plumbing shared by the Stratus services and the `stratus` command:
//! crash-safe file writes, loading rings from disk with hot reload, typed
//! config files, the ordered key-value store of control-plane records, the
//! token check every API does against the identity service, AWS SigV4,
//! and the HTTP plumbing (accept loop, streaming body, path encoding,
//! keep-alive client pool) the servers share.
//!
//! It owns no API and no storage format of its own; formats belong to the
//! crates that define them (the ring file to `stratus-ring`).

pub mod backend;
pub mod body;
pub mod config;
pub mod fs;
pub mod http;
pub mod kv;
pub mod ring_file;
pub mod sigv4;
pub mod timestamp;
pub mod token_check;
