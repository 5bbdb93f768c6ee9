//! Plumbing shared by the Stratus services and the `stratus` command:
//! crash-safe file writes, loading rings from disk with hot reload, and the
//! HTTP response body the servers stream with.
//!
//! It owns no API and no storage format of its own; formats belong to the
//! crates that define them (the ring file to `stratus-ring`).

pub mod body;
pub mod fs;
pub mod ring_file;
