//! The expirer: deletes objects whose `X-Delete-At` has passed.
//!
//! Each replica expires its own copy from the device's expiry index, with a
//! tombstone whose time is the expiry time itself: every replica writes the
//! same tombstone, so their hashes agree without any replication, and a
//! newer write to the object (which replaced the entry) is never touched.
//! The container listing is told as for any delete (queued if need be).

use bytes::Bytes;
use serde::Serialize;
use stratus_ring::{Path, Ring};

use crate::device::Device;
use crate::engine::scan::key_path;
use crate::engine::{Cond, Entry, Location, StoreError};
use crate::http::update::{self, Destination, Update};
use crate::http::Node;
use crate::rings::RingKind;
use crate::timestamp::Timestamp;
use crate::workers::RateLimiter;

const BATCH: usize = 1000;

#[derive(Debug, Default, Clone, Serialize)]
pub struct ExpirerReport {
    pub expired: u64,
    /// Index records of objects replaced or deleted since.
    pub stale: u64,
    pub errors: u64,
}

pub async fn pass(node: &Node) -> ExpirerReport {
    let mut report = ExpirerReport::default();
    let limiter = RateLimiter::new(node.config.expirer_objects_per_sec);
    let ring = node.rings.get(RingKind::Container);
    for dev in node.devices.iter() {
        if let Err(e) = expire_device(node, ring.as_deref(), dev, &limiter, &mut report).await {
            tracing::error!(device = %dev.name, error = %e, "expirer stopped");
            report.errors += 1;
        }
    }
    report
}

async fn expire_device(
    node: &Node,
    ring: Option<&Ring>,
    dev: &Device,
    limiter: &RateLimiter,
    report: &mut ExpirerReport,
) -> Result<(), StoreError> {
    let now = Timestamp::now().secs();
    loop {
        let due = dev.objects.expiring(now, BATCH)?;
        for (at, key) in &due {
            let current = dev.objects.get_entry(key)?;
            let live = current
                .as_ref()
                .filter(|e| !e.is_tombstone())
                .filter(|e| e.meta.as_ref().and_then(|m| m.delete_at) == Some(*at));
            match live {
                None => report.stale += 1,
                Some(entry) => {
                    limiter.take(1).await;
                    let tomb = tombstone(entry, *at);
                    let ts = tomb.data_ts;
                    match dev
                        .objects
                        .commit(key.clone(), tomb, Bytes::new(), None, Cond::Newer)
                        .await
                    {
                        Ok(_) => {
                            report.expired += 1;
                            if let (Some(path), Some(ring)) = (key_path(key), ring) {
                                tell_container(node, ring, dev, path, ts).await;
                            }
                        }
                        Err(StoreError::Conflict(_)) => report.stale += 1,
                        Err(e) => return Err(e),
                    }
                }
            }
            dev.objects.forget_expiry(*at, key)?;
        }
        if due.len() < BATCH {
            return Ok(());
        }
    }
}

/// The tombstone that expires `entry` at `at`: the same on every
/// replica (so their hashes agree), newer than the entry.
fn tombstone(entry: &Entry, at: u64) -> Entry {
    let mut ts = Timestamp {
        ticks: at.saturating_mul(100_000),
        offset: 0,
    };
    if ts <= entry.meta_ts {
        ts = Timestamp {
            offset: entry.meta_ts.offset + 1,
            ..entry.meta_ts
        };
    }
    Entry {
        v: 1,
        data_ts: ts,
        meta_ts: ts,
        loc: Location::Tombstone,
        meta: None,
    }
}

/// Removes the object's row from its container's listing.
async fn tell_container(node: &Node, ring: &Ring, dev: &Device, path: &str, ts: Timestamp) {
    let mut it = path.trim_start_matches('/').splitn(3, '/');
    let (Some(a), Some(c)) = (it.next(), it.next()) else {
        return;
    };
    let (part, primaries) = ring.get_nodes(Path::Container(a, c));
    let dests = primaries
        .map(|d| Destination {
            host: format!("{}:{}", stratus_ring::display_ip(&d.ip), d.port),
            device: d.device.clone(),
            partition: part.to_string(),
        })
        .collect();
    update::send_to(node, dev, dests, Update::new("DELETE", path, ts, vec![])).await;
}
