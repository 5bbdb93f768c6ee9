//! Replication between storage nodes: the object replicator, the container
//! and account replicators, and the protocol they speak.

pub mod client;
pub mod dbs;
pub mod objects;
pub mod wire;
