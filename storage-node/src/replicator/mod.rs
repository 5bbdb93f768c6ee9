//! Replication between storage nodes: the object replicator, the container
//! and account replicators, and the protocol they speak.

pub mod client;
pub mod dbs;
pub mod objects;
pub mod wire;

use crate::http::Node;
use crate::timestamp::Timestamp;

/// Tombstones and deleted databases older than this are reclaimed.
pub fn reclaim_before(node: &Node) -> Timestamp {
    Timestamp {
        ticks: Timestamp::now()
            .ticks
            .saturating_sub(node.config.reclaim_age_secs.saturating_mul(100_000)),
        offset: 0,
    }
}
