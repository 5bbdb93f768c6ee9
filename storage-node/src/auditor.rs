//! The auditor: re-reads every object at a bounded rate and checks it
//! against its checksums (the log record's crc32c, each large-object
//! chunk's crc32c). A bad copy is quarantined — moved aside and dropped
//! from the index — so that this node answers 404 for it and the
//! replicators restore it from a good replica. It also recounts each
//! container's and account's rows and corrects totals that drifted.

use serde::Serialize;

use crate::device::Device;
use crate::engine::{Entry, Location, StoreError};
use crate::http::Node;
use crate::listing::{ContainerRow, ObjectRow, Row, Table};
use crate::workers::{RateLimiter, Worker};

#[derive(Debug, Default, Clone, Serialize)]
pub struct AuditReport {
    pub objects_checked: u64,
    pub bytes_checked: u64,
    pub quarantined: u64,
    pub listings_checked: u64,
    pub listings_corrected: u64,
    pub errors: u64,
}

pub async fn pass(node: &Node) -> AuditReport {
    let mut report = AuditReport::default();
    let limiter = RateLimiter::new(node.config.auditor_bytes_per_sec);
    for dev in node.devices.iter() {
        if let Err(e) = audit_objects(node, dev, &limiter, &mut report).await {
            tracing::error!(device = %dev.name, error = %e, "object audit stopped");
            report.errors += 1;
        }
        let listings = [
            audit_listings::<ObjectRow>(&dev.containers, &mut report),
            audit_listings::<ContainerRow>(&dev.accounts, &mut report),
        ];
        for e in listings.into_iter().filter_map(Result::err) {
            tracing::error!(device = %dev.name, error = %e, "listing audit stopped");
            report.errors += 1;
        }
    }
    report
}

async fn audit_objects(
    node: &Node,
    dev: &Device,
    limiter: &RateLimiter,
    report: &mut AuditReport,
) -> Result<(), StoreError> {
    let mut after = Vec::new();
    loop {
        let batch = dev.objects.entries_after(&after, 256)?;
        let Some((last, _)) = batch.last() else {
            return Ok(());
        };
        after = last.clone();
        let progress = serde_json::to_value(&*report).unwrap_or_default();
        node.workers.set_progress(Worker::Auditor, progress);
        for (key, entry) in batch {
            if entry.is_tombstone() {
                continue;
            }
            let size = entry.meta.as_ref().map_or(0, |m| m.size);
            limiter.take(size).await;
            let before = dev.objects.quarantined();
            match check(dev, &key, &entry).await {
                Ok(()) => {
                    report.objects_checked += 1;
                    report.bytes_checked += size;
                }
                // Reading the log record quarantined it already (or the
                // object went meanwhile).
                Err(StoreError::NotFound) => {
                    report.quarantined += u64::from(dev.objects.quarantined() > before);
                }
                Err(e @ StoreError::Corrupt(_)) => {
                    // Overwritten or moved while we read: not a bad copy.
                    if dev.objects.get_entry(&key)?.as_ref() != Some(&entry) {
                        continue;
                    }
                    dev.objects.quarantine(&key, &entry, None, &e).await;
                    report.quarantined += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Reads one object whole, verifying every checksum on the way.
async fn check(dev: &Device, key: &[u8], entry: &Entry) -> Result<(), StoreError> {
    match entry.loc {
        // A bad record is quarantined by the read itself (NotFound).
        Location::Inline { .. } => dev.objects.read_inline(key, entry).await.map(|_| ()),
        Location::Large { .. } => {
            let reader = dev.objects.large_reader(entry)?;
            for i in 0..reader.chunks() {
                reader.read_chunk(i).await?;
            }
            Ok(())
        }
        Location::Tombstone => Ok(()),
    }
}

fn audit_listings<R: Row>(table: &Table, report: &mut AuditReport) -> Result<(), StoreError> {
    let mut after = String::new();
    loop {
        let paths = table.paths_after(&after, 1000)?;
        let Some(last) = paths.last() else {
            return Ok(());
        };
        after = last.clone();
        for path in paths {
            report.listings_checked += 1;
            report.listings_corrected += u64::from(table.check_totals::<R>(&path)?);
        }
    }
}
