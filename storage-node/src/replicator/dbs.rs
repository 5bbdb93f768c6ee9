//! The container and account replicators: each container (account) of a
//! device is brought to its other primaries row by row. A replica is sent
//! the shared state, answers up to which of this device's row sequences it
//! has merged, and gets only the rows changed since; with nothing new a
//! container costs one small request per peer. A copy on a handoff device
//! goes once every primary has it.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use stratus_common::http::encode_path;
use stratus_ring::{DevId, Path, Ring};

use super::client::{self, CallError};
use super::wire::{DbMessage, DbReply, VERSION};
use crate::device::Device;
use crate::http::Node;
use crate::listing::sync::SharedInfo;
use crate::listing::{ContainerRow, Info, ObjectRow, Row, Table};
use crate::rings::{is_local, replication_addr, RingKind};

/// Rows per request.
const BATCH: usize = 1000;

#[derive(Debug, Default, Clone, Serialize)]
pub struct DbReport {
    pub containers: u64,
    pub accounts: u64,
    pub rows_sent: u64,
    /// Request and reply bytes.
    pub protocol_bytes: u64,
    pub handoffs_removed: u64,
    /// Deleted containers and accounts gone for good after the reclaim age.
    pub reclaimed: u64,
    pub failures: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

pub async fn pass(node: &Node) -> DbReport {
    let mut report = DbReport::default();
    for (kind, bind) in [
        (RingKind::Container, node.config.container_bind),
        (RingKind::Account, node.config.account_bind),
    ] {
        let Some(ring) = node.rings.get(kind) else {
            report.skipped.push(format!("no {} ring", kind.file_name()));
            continue;
        };
        for dev in node.devices.iter() {
            let local: Vec<DevId> = ring
                .devices()
                .filter(|d| is_local(d, bind, &dev.name))
                .map(|d| d.id)
                .collect();
            let r = match kind {
                RingKind::Account => {
                    replicate_table::<ContainerRow>(node, &ring, &local, dev, kind, &mut report)
                        .await
                }
                _ => {
                    replicate_table::<ObjectRow>(node, &ring, &local, dev, kind, &mut report).await
                }
            };
            if let Err(e) = r {
                tracing::error!(device = %dev.name, error = %e, "listing replication failed");
                report.failures += 1;
            }
        }
    }
    report
}

fn table(dev: &Device, kind: RingKind) -> &Table {
    match kind {
        RingKind::Account => &dev.accounts,
        _ => &dev.containers,
    }
}

/// The ring path of a table path (`/a` or `/a/c`).
fn ring_path(path: &str) -> Option<Path<'_>> {
    let rest = path.strip_prefix('/')?;
    Some(match rest.split_once('/') {
        Some((a, c)) => Path::Container(a, c),
        None => Path::Account(rest),
    })
}

async fn replicate_table<R: Row>(
    node: &Node,
    ring: &Ring,
    local: &[DevId],
    dev: &Arc<Device>,
    kind: RingKind,
    report: &mut DbReport,
) -> Result<(), crate::engine::StoreError> {
    let t = Duration::from_millis(node.config.container_update_timeout_ms.max(1000) * 10);
    let reclaim_before = super::reclaim_before(node);
    let mut after = String::new();
    loop {
        let paths = table(dev, kind).paths_after(&after, 1000)?;
        let Some(last) = paths.last() else { break };
        after = last.clone();
        for path in paths {
            let Some(rp) = ring_path(&path) else { continue };
            match kind {
                RingKind::Account => report.accounts += 1,
                _ => report.containers += 1,
            }
            let part = ring.partition(rp);
            let primaries: Vec<_> = ring.primaries(part).collect();
            let handoff = !primaries.iter().any(|d| local.contains(&d.id));
            let peers: Vec<_> = primaries
                .into_iter()
                .filter(|d| !local.contains(&d.id))
                .collect();
            let Some(info) = table(dev, kind).info(&path)? else {
                continue;
            };
            // Deleted long enough ago that every replica knows: forget it.
            // (Like Swift, this trusts no replica stays away longer.)
            if info.is_deleted() && info.delete_ts < reclaim_before && info.object_count == 0 {
                report.reclaimed += u64::from(table(dev, kind).remove(&path, info.seq)?);
                continue;
            }
            // Rows that arrive while the peers are synced keep a handoff copy.
            let seq = info.seq;
            let mut reached = 0;
            for peer in &peers {
                let host = replication_addr(peer);
                match sync_one::<R>(dev, kind, peer, part, &path, &info, t).await {
                    Ok((rows, bytes)) => {
                        reached += 1;
                        report.rows_sent += rows;
                        report.protocol_bytes += bytes;
                    }
                    Err(e) => {
                        tracing::warn!(path, peer = %host, error = %e, "listing sync failed");
                        report.failures += 1;
                    }
                }
            }
            if handoff && reached == peers.len() && reached > 0 {
                report.handoffs_removed += u64::from(table(dev, kind).remove(&path, seq)?);
            }
        }
    }
    Ok(())
}

/// Brings one peer up to date with `path`; returns rows and bytes sent.
async fn sync_one<R: Row>(
    dev: &Device,
    kind: RingKind,
    peer: &stratus_ring::Device,
    part: u32,
    path: &str,
    info: &Info,
    t: Duration,
) -> Result<(u64, u64), CallError> {
    let local_err = |e: crate::engine::StoreError| CallError::Reply("local".into(), e.to_string());
    let table = table(dev, kind);
    let host = &replication_addr(peer);
    let uri = format!("/{}/{part}{}", encode_path(&peer.device), encode_path(path));
    let hello: DbMessage<R> = DbMessage::Sync {
        v: VERSION,
        from: dev.id.clone(),
        info: SharedInfo::of(info),
    };
    let body = serde_json::to_vec(&hello).unwrap_or_default();
    let (reply, mut bytes) = client::replicate::<DbReply>(host, &uri, Some(body), t).await?;
    let mut point = reply.point;
    let mut rows_sent = 0;
    while point < info.seq {
        let rows = table
            .rows_since::<R>(path, point, BATCH)
            .map_err(local_err)?;
        let Some(upto) = rows.last().map(|(s, _, _)| *s) else {
            break;
        };
        rows_sent += rows.len() as u64;
        let msg: DbMessage<R> = DbMessage::Rows {
            v: VERSION,
            from: dev.id.clone(),
            upto,
            rows: rows.into_iter().map(|(_, n, r)| (n, r)).collect(),
        };
        let body = serde_json::to_vec(&msg).unwrap_or_default();
        let (reply, n) = client::replicate::<DbReply>(host, &uri, Some(body), t).await?;
        bytes += n;
        if reply.point < upto {
            return Err(CallError::Reply(host.to_string(), "rows not merged".into()));
        }
        point = reply.point;
    }
    Ok((rows_sent, bytes as u64))
}
