//! The object replicator: makes every primary of each partition hold what
//! this device holds, and empties handoff partitions into their primaries.
//!
//! Per peer device, one request compares a digest of every partition both
//! hold; only partitions that differ are looked at closer: their per-suffix
//! hashes, then the entries of differing suffixes, and then the objects
//! and tombstones the peer lacks (or holds older) are pushed with their
//! original timestamps. A delete made while a node was away arrives there
//! as a tombstone, so nothing deleted comes back.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use stratus_common::backend;
use stratus_common::http::encode_path;
use stratus_ring::{DevId, Ring};

use super::client::{self, CallError, Payload};
use super::wire::{DigestsReply, DigestsRequest, EntriesReply, EntryLine, VERSION};
use crate::device::Device;
use crate::engine::scan::{digest_of, suffix_hashes_of, Listed};
use crate::engine::{object_key, suffix_of, Entry, Location, StoreError};
use crate::http::{Body, Node};
use crate::rings::{is_local, replication_addr, RingKind};
use crate::timestamp::Timestamp;
use crate::workers::RateLimiter;

/// Partitions a device syncs at once (each with up to
/// `replication_concurrency` pushes in flight).
const PARTITIONS_AT_ONCE: usize = 4;

/// What one pass did, for `stratus status`.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ObjectReport {
    pub devices: u64,
    pub partitions: u64,
    /// Partitions found to differ on some peer.
    pub partitions_synced: u64,
    pub handoff_partitions: u64,
    pub objects_pushed: u64,
    pub tombstones_pushed: u64,
    pub bytes_pushed: u64,
    /// Protocol bytes sent and received (digests, hashes, listings).
    pub protocol_bytes: u64,
    pub handoff_entries_removed: u64,
    pub tombstones_reclaimed: u64,
    pub failures: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// A peer device: where to reach it and its name there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Peer {
    host: String,
    device: String,
}

impl Peer {
    fn of(d: &stratus_ring::Device) -> Peer {
        Peer {
            host: replication_addr(d),
            device: d.device.clone(),
        }
    }
}

/// A partition of this device and the peers it must reach.
struct Job {
    part: u32,
    peers: Vec<Peer>,
    handoff: bool,
}

/// What every partition of a pass shares.
struct Pass {
    limiter: RateLimiter,
    timeout: Duration,
    /// Tombstones older than this are being reclaimed: never pushed.
    reclaim_before: Timestamp,
    pushes_at_once: usize,
}

pub async fn pass(node: &Node) -> ObjectReport {
    let mut report = ObjectReport::default();
    let Some(ring) = node.rings.get(RingKind::Object) else {
        report.skipped = Some("no object ring".into());
        return report;
    };
    let pass = Pass {
        limiter: RateLimiter::new(node.config.replication_bytes_per_sec),
        // Generous: a peer may be hashing a big partition for us.
        timeout: Duration::from_millis(node.config.container_update_timeout_ms.max(1000) * 10),
        reclaim_before: super::reclaim_before(node),
        pushes_at_once: node.config.replication_concurrency.max(1),
    };
    for dev in node.devices.iter() {
        report.devices += 1;
        if let Err(e) = replicate_device(node, &ring, dev, &pass, &mut report).await {
            tracing::error!(device = %dev.name, error = %e, "object replication failed");
            report.failures += 1;
        }
    }
    report
}

async fn replicate_device(
    node: &Node,
    ring: &Ring,
    dev: &Arc<Device>,
    pass: &Pass,
    report: &mut ObjectReport,
) -> Result<(), StoreError> {
    let local: Vec<DevId> = ring
        .devices()
        .filter(|d| is_local(d, node.config.bind, &dev.name))
        .map(|d| d.id)
        .collect();
    let mut jobs = Vec::new();
    let mut digests: HashMap<u32, String> = HashMap::new();
    for part in dev.objects.partitions()? {
        report.partitions += 1;
        // One read of the partition: reclaim old tombstones, hash the rest.
        let mut live = Vec::new();
        for l in dev.objects.entries(part, None)? {
            if l.entry.is_tombstone() && l.entry.data_ts < pass.reclaim_before {
                let key = object_key(part, &l.path);
                report.tombstones_reclaimed +=
                    u64::from(dev.objects.drop_entry(&key, &l.entry).await?);
            } else {
                live.push(l);
            }
        }
        digests.insert(part, digest_of(&suffix_hashes_of(&live)));
        let primaries: Vec<&stratus_ring::Device> = ring.primaries(part).collect();
        let handoff = !primaries.iter().any(|d| local.contains(&d.id));
        let peers = primaries
            .iter()
            .filter(|d| !local.contains(&d.id))
            .map(|d| Peer::of(d))
            .collect();
        report.handoff_partitions += u64::from(handoff);
        jobs.push(Job {
            part,
            peers,
            handoff,
        });
    }
    // One digest request per peer device for all partitions it shares.
    let mut by_peer: BTreeMap<Peer, Vec<u32>> = BTreeMap::new();
    for job in &jobs {
        for p in &job.peers {
            by_peer.entry(p.clone()).or_default().push(job.part);
        }
    }
    let t = pass.timeout;
    let mut differ: HashMap<(u32, Peer), bool> = HashMap::new();
    for (peer, parts) in &by_peer {
        let req = DigestsRequest {
            v: VERSION,
            parts: parts.iter().map(|p| (*p, digests[p].clone())).collect(),
        };
        let body = serde_json::to_vec(&req).unwrap_or_default();
        let uri = format!("/{}", encode_path(&peer.device));
        match client::replicate::<DigestsReply>(&peer.host, &uri, Some(body), t).await {
            Ok((reply, bytes)) => {
                report.protocol_bytes += bytes as u64;
                let differing: HashSet<u32> = reply.differ.into_iter().collect();
                for p in parts {
                    differ.insert((*p, peer.clone()), differing.contains(p));
                }
            }
            Err(e) => {
                tracing::warn!(peer = %peer.host, device = %peer.device, error = %e, "peer unreachable");
                report.failures += parts.len() as u64;
            }
        }
    }
    // Peers of a partition each push what a replica lacks; in a random
    // order they rarely push the same partition at the same moment, and
    // whoever comes second finds it done.
    shuffle(&mut jobs);
    let differ = &differ;
    let results: Vec<PartOutcome> = stream::iter(jobs)
        .map(|job| async move { sync_job(dev, &job, differ, pass).await })
        .buffer_unordered(PARTITIONS_AT_ONCE)
        .collect()
        .await;
    for out in results {
        report.partitions_synced += u64::from(out.synced);
        report.objects_pushed += out.objects;
        report.tombstones_pushed += out.tombstones;
        report.bytes_pushed += out.bytes;
        report.protocol_bytes += out.protocol;
        report.handoff_entries_removed += out.removed;
        report.failures += out.failures;
    }
    Ok(())
}

fn shuffle<T>(items: &mut [T]) {
    let mut seed = [0u8; 8];
    let _ = getrandom::fill(&mut seed);
    let mut x = u64::from_le_bytes(seed) | 1;
    for i in (1..items.len()).rev() {
        // xorshift64: plenty for an order that only needs to differ.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        items.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

#[derive(Default)]
struct PartOutcome {
    synced: bool,
    objects: u64,
    tombstones: u64,
    bytes: u64,
    protocol: u64,
    removed: u64,
    failures: u64,
}

async fn sync_job(
    dev: &Device,
    job: &Job,
    differ: &HashMap<(u32, Peer), bool>,
    pass: &Pass,
) -> PartOutcome {
    let mut out = PartOutcome::default();
    // A handoff's entries go once every primary holds them (or newer).
    let mut confirmed: HashMap<Version, usize> = HashMap::new();
    let mut reached = 0;
    for peer in &job.peers {
        let Some(&differs) = differ.get(&(job.part, peer.clone())) else {
            continue; // unreachable: counted already
        };
        if !differs && !job.handoff {
            continue;
        }
        out.synced |= differs;
        match sync_with(dev, job, peer, pass, &mut out).await {
            Ok(remote) => {
                reached += 1;
                for l in remote {
                    *confirmed.entry(l).or_default() += 1;
                }
            }
            Err(e) => {
                tracing::warn!(part = job.part, peer = %peer.host, error = %e, "partition sync failed");
                out.failures += 1;
            }
        }
    }
    if job.handoff && reached == job.peers.len() && reached > 0 {
        match remove_confirmed(dev, job.part, &confirmed, reached).await {
            Ok(n) => out.removed += n,
            Err(e) => {
                tracing::error!(part = job.part, error = %e, "cannot remove handoff entries");
                out.failures += 1;
            }
        }
    }
    out
}

/// An object path at one version of it (data and metadata times).
type Version = (String, Timestamp, Timestamp);

/// Pushes to `peer` what it lacks of partition `part`. For a handoff
/// partition, returns the versions the peer is now known to hold (or newer).
async fn sync_with(
    dev: &Device,
    job: &Job,
    peer: &Peer,
    pass: &Pass,
    out: &mut PartOutcome,
) -> Result<Vec<Version>, CallError> {
    let (part, handoff, t) = (job.part, job.handoff, pass.timeout);
    let base = format!("/{}/{part}", encode_path(&peer.device));
    let (remote_hashes, n) =
        client::replicate::<BTreeMap<String, String>>(&peer.host, &base, None, t).await?;
    out.protocol += n as u64;
    let local = dev
        .objects
        .entries(part, None)
        .map_err(|e| CallError::Reply("local".into(), e.to_string()))?;
    let local_hashes = suffix_hashes_of(&local);
    let differing: Vec<&str> = local_hashes
        .iter()
        .filter(|(s, h)| handoff || remote_hashes.get(s) != Some(h))
        .map(|(s, _)| s.as_str())
        .collect();
    if differing.is_empty() {
        return Ok(vec![]);
    }
    let uri = format!("{base}/{}", differing.join("-"));
    let (reply, n) = client::replicate::<EntriesReply>(&peer.host, &uri, None, t).await?;
    out.protocol += n as u64;
    let remote: HashMap<&str, &EntryLine> =
        reply.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let suffixes: Vec<u16> = differing
        .iter()
        .filter_map(|s| u16::from_str_radix(s, 16).ok())
        .collect();
    let local = local
        .into_iter()
        .filter(|l| suffixes.contains(&suffix_of(&l.path)));
    let mut held = Vec::new();
    let mut wanted = Vec::new();
    for l in local {
        let has = remote
            .get(l.path.as_str())
            .is_some_and(|r| r.covers(l.entry.data_ts, l.entry.meta_ts));
        // A tombstone past its reclaim age goes everywhere on its own;
        // pushing it would bring it back where it is already gone.
        let reclaimable = l.entry.is_tombstone() && l.entry.data_ts < pass.reclaim_before;
        if has || reclaimable {
            held.push((l.path, l.entry.data_ts, l.entry.meta_ts));
        } else {
            wanted.push(l);
        }
    }
    let pushes: Vec<(Listed, Result<Option<u64>, CallError>)> = stream::iter(wanted)
        .map(|l| async move {
            pass.limiter
                .take(l.entry.meta.as_ref().map_or(0, |m| m.size))
                .await;
            let r = push(dev, part, peer, &l, t).await;
            (l, r)
        })
        .buffer_unordered(pass.pushes_at_once)
        .collect()
        .await;
    for (l, r) in pushes {
        match r {
            Ok(Some(bytes)) => {
                if l.entry.is_tombstone() {
                    out.tombstones += 1;
                } else {
                    out.objects += 1;
                }
                out.bytes += bytes;
                held.push((l.path, l.entry.data_ts, l.entry.meta_ts));
            }
            Ok(None) => {} // no good local copy (quarantined): nothing to push
            Err(e) => {
                tracing::warn!(object = %l.path, peer = %peer.host, error = %e, "push failed");
                out.failures += 1;
            }
        }
    }
    Ok(held)
}

/// Sends one entry to a peer as it is here. Returns the data bytes sent,
/// or `None` when the local copy turned out bad (and was quarantined).
async fn push(
    dev: &Device,
    part: u32,
    peer: &Peer,
    l: &Listed,
    t: Duration,
) -> Result<Option<u64>, CallError> {
    let uri = format!(
        "/{}/{part}{}",
        encode_path(&peer.device),
        encode_path(&l.path)
    );
    let e = &l.entry;
    let mut headers = vec![
        ("x-timestamp".to_string(), e.data_ts.to_string()),
        (backend::REPLICATION.to_string(), "1".to_string()),
    ];
    let Some(meta) = e.meta.as_ref().filter(|_| !e.is_tombstone()) else {
        let (status, _) = client::call(
            &peer.host,
            "DELETE",
            &uri,
            &headers,
            Payload::Bytes(Bytes::new()),
            t,
        )
        .await?;
        // 404: the tombstone is stored (there was nothing to delete);
        // 409: the peer has something newer.
        return match status {
            200..=299 | 404 | 409 => Ok(Some(0)),
            s => Err(CallError::Status(format!("DELETE {}{uri}", peer.host), s)),
        };
    };
    let key = object_key(part, &l.path);
    let (body, crc) = match read_body(dev, &key, e).await {
        Ok(b) => b,
        Err(StoreError::NotFound | StoreError::Corrupt(_)) => return Ok(None),
        Err(err) => return Err(CallError::Reply("local".into(), err.to_string())),
    };
    headers.extend([
        (backend::META_TIMESTAMP.to_string(), e.meta_ts.to_string()),
        ("content-type".to_string(), meta.content_type.clone()),
        ("content-length".to_string(), meta.size.to_string()),
        ("etag".to_string(), meta.etag.clone()),
        (backend::DATA_CRC32C.to_string(), format!("{crc:08x}")),
    ]);
    if let Some(at) = meta.delete_at {
        headers.push(("x-delete-at".to_string(), at.to_string()));
    }
    headers.extend(meta.headers.iter().cloned());
    // Big objects get time in proportion to their size.
    let t = t + Duration::from_secs(meta.size / (8 << 20));
    let (status, _) = client::call(&peer.host, "PUT", &uri, &headers, body, t).await?;
    match status {
        200..=299 | 409 => Ok(Some(meta.size)),
        s => Err(CallError::Status(format!("PUT {}{uri}", peer.host), s)),
    }
}

/// The object's data as a request body, checked on the way out, and its
/// crc32c for the receiver to check on the way in.
async fn read_body(dev: &Device, key: &[u8], e: &Entry) -> Result<(Payload, u32), StoreError> {
    match e.loc {
        Location::Inline { .. } => {
            let data = dev.objects.read_inline(key, e).await?;
            let crc = crc32c::crc32c(&data);
            Ok((Payload::Bytes(data), crc))
        }
        Location::Large { .. } => {
            let reader = match dev.objects.large_reader(e) {
                Ok(r) => r,
                Err(err @ StoreError::Corrupt(_)) => {
                    dev.objects.quarantine(key, e, None, &err).await;
                    return Err(err);
                }
                Err(err) => return Err(err),
            };
            let crc = reader.crc32c().await?;
            let (tx, body) = Body::channel();
            let objects = dev.objects.clone();
            let (key, entry) = (key.to_vec(), e.clone());
            tokio::spawn(async move {
                for i in 0..reader.chunks() {
                    match reader.read_chunk(i).await {
                        Ok(c) => {
                            if tx.send(Ok(c)).await.is_err() {
                                return;
                            }
                        }
                        Err(err) => {
                            if matches!(err, StoreError::Corrupt(_)) {
                                objects.quarantine(&key, &entry, None, &err).await;
                            }
                            let _ = tx.send(Err(std::io::Error::other(err.to_string()))).await;
                            return;
                        }
                    }
                }
            });
            Ok((Payload::Stream(body), crc))
        }
        Location::Tombstone => Err(StoreError::NotFound),
    }
}

/// Removes the entries of a handoff partition that all `peers` primaries
/// confirmed, each only if it is still the version they confirmed.
async fn remove_confirmed(
    dev: &Device,
    part: u32,
    confirmed: &HashMap<Version, usize>,
    peers: usize,
) -> Result<u64, StoreError> {
    let mut n = 0;
    for l in dev.objects.entries(part, None)? {
        let version = (l.path, l.entry.data_ts, l.entry.meta_ts);
        if confirmed.get(&version).copied().unwrap_or(0) >= peers {
            let key = object_key(part, &version.0);
            n += u64::from(dev.objects.drop_entry(&key, &l.entry).await?);
        }
    }
    Ok(n)
}
