//! Plumbing shared by the Stratus services and the `stratus` command:
//! crash-safe file writes and loading rings from disk with hot reload.
//!
//! It owns no API and no storage format of its own; formats belong to the
//! crates that define them (the ring file to `stratus-ring`).

pub mod fs;
pub mod ring_file;
