//! The commit thread: group commit of journal records, then index updates.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, RwLock};

use bytes::Bytes;
use rocksdb::{WriteBatch, DB};
use tokio::sync::oneshot;

use super::entry::{Entry, Location};
use super::io::DiskIo;
use super::record::{self, Kind, SEGMENT_HEADER_LEN};
use super::scan::expiry_key;
use super::{large, large_ref_key, tail_value, StoreError, CF_ENGINE, CF_OBJECTS, TAIL_KEY};
use crate::timestamp::Timestamp;

/// Upper bounds of one group commit.
const BATCH_OPS: usize = 512;
const BATCH_BYTES: usize = 16 << 20;

/// What must hold for a write to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    /// PUT or DELETE: newer than what is stored.
    Newer,
    /// POST: the object (not a tombstone) is still the one the handler saw.
    SameData,
    /// Drop the entry if it still points at `loc`; journals nothing.
    Quarantine { loc: Location },
    /// Compaction: rewrite the record now at `from` to the log's head, if
    /// the index still points there.
    Relocate { from: Location },
    /// Forget the entry (and unlink a large object's file) if it is still
    /// this one; journals nothing.
    Drop {
        loc: Location,
        data_ts: Timestamp,
        meta_ts: Timestamp,
    },
}

#[derive(Debug)]
pub struct Outcome {
    /// The entry this write replaced.
    pub previous: Option<Entry>,
}

#[derive(Debug)]
pub struct CommitOp {
    pub key: Vec<u8>,
    pub entry: Entry,
    pub data: Bytes,
    pub sync: Option<Arc<File>>,
    pub cond: Cond,
    pub reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

#[derive(Debug)]
pub struct LogState {
    pub device: String,
    pub db: Arc<DB>,
    pub io: Arc<dyn DiskIo>,
    pub dir: PathBuf,
    pub large_dir: PathBuf,
    pub segments: Arc<RwLock<HashMap<u64, Arc<File>>>>,
    pub seg: u64,
    pub offset: u64,
    /// A new segment is started once the current one passes this size.
    pub segment_bytes: u64,
    /// The segment being appended to, for the compactor to leave alone.
    pub head: Arc<std::sync::atomic::AtomicU64>,
}

pub fn run(mut state: LogState, rx: mpsc::Receiver<CommitOp>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let mut bytes = batch[0].data.len();
        while batch.len() < BATCH_OPS && bytes < BATCH_BYTES {
            match rx.try_recv() {
                Ok(op) => {
                    bytes += op.data.len();
                    batch.push(op);
                }
                Err(_) => break,
            }
        }
        let span = tracing::debug_span!("group_commit", device = %state.device, ops = batch.len());
        let _g = span.enter();
        commit_batch(&mut state, batch);
    }
}

fn current(
    db: &DB,
    overlay: &HashMap<Vec<u8>, Option<Entry>>,
    key: &[u8],
) -> Result<Option<Entry>, StoreError> {
    if let Some(e) = overlay.get(key) {
        return Ok(e.clone());
    }
    let cf = db.cf_handle(CF_OBJECTS).ok_or(StoreError::Stopped)?;
    match db.get_pinned_cf(&cf, key)? {
        Some(v) => Entry::decode(&v)
            .map(Some)
            .ok_or(StoreError::Corrupt("index entry")),
        None => Ok(None),
    }
}

/// Decides whether `op` applies on top of `cur`.
fn check(op: &CommitOp, cur: Option<&Entry>) -> Result<(), StoreError> {
    match op.cond {
        Cond::Newer => match cur {
            Some(c) if !op.entry.supersedes(c) => {
                Err(StoreError::Conflict(c.data_ts.max(c.meta_ts)))
            }
            _ => Ok(()),
        },
        Cond::SameData => match cur {
            None => Err(StoreError::NotFound),
            Some(c) if c.is_tombstone() || c.data_ts != op.entry.data_ts => {
                Err(StoreError::NotFound)
            }
            Some(c) if op.entry.meta_ts <= c.meta_ts => Err(StoreError::Conflict(c.meta_ts)),
            Some(_) => Ok(()),
        },
        Cond::Quarantine { loc } | Cond::Relocate { from: loc } => match cur {
            Some(c) if c.loc == loc => Ok(()),
            _ => Err(StoreError::NotFound),
        },
        Cond::Drop {
            loc,
            data_ts,
            meta_ts,
        } => match cur {
            Some(c) if c.loc == loc && c.data_ts == data_ts && c.meta_ts == meta_ts => Ok(()),
            _ => Err(StoreError::NotFound),
        },
    }
}

fn commit_batch(state: &mut LogState, batch: Vec<CommitOp>) {
    let db = state.db.clone();
    let mut overlay: HashMap<Vec<u8>, Option<Entry>> = HashMap::new();
    let mut accepted: Vec<(CommitOp, Option<Entry>)> = Vec::with_capacity(batch.len());
    for op in batch {
        let cur = match current(&db, &overlay, &op.key) {
            Ok(c) => c,
            Err(e) => {
                let _ = op.reply.send(Err(e));
                continue;
            }
        };
        if let Err(e) = check(&op, cur.as_ref()) {
            let _ = op.reply.send(Err(e));
            continue;
        }
        let next = match op.cond {
            Cond::Quarantine { .. } | Cond::Drop { .. } => None,
            _ => Some(op.entry.clone()),
        };
        overlay.insert(op.key.clone(), next);
        accepted.push((op, cur));
    }
    if accepted.is_empty() {
        return;
    }
    if let Err(e) = roll_if_full(state) {
        tracing::error!(device = %state.device, error = %e, "cannot start a new segment");
        fail_all(accepted, &e);
        return;
    }
    // Build the journal bytes and the index batch together.
    let mut log = Vec::new();
    let mut index = WriteBatch::default();
    let mut unlink = Vec::new();
    let (Some(objects), Some(engine)) = (db.cf_handle(CF_OBJECTS), db.cf_handle(CF_ENGINE)) else {
        fail_all(accepted, &StoreError::Stopped);
        return;
    };
    for (op, cur) in accepted.iter_mut() {
        if let Cond::Quarantine { loc } | Cond::Drop { loc, .. } = op.cond {
            index.delete_cf(&objects, &op.key);
            if let Location::Large { id } = loc {
                index.delete_cf(&engine, large_ref_key(id));
                if matches!(op.cond, Cond::Drop { .. }) {
                    unlink.push(large::path(&state.large_dir, id));
                }
            }
            continue;
        }
        let off = state.offset + log.len() as u64;
        let meta = op.entry.encode();
        if op.entry.loc
            == (Location::Inline {
                seg: 0,
                off: 0,
                len: 0,
            })
        {
            let len = record::encode(&mut log, Kind::Put, &op.key, &meta, &op.data);
            op.entry.loc = Location::Inline {
                seg: state.seg,
                off,
                len: len as u64,
            };
        } else {
            record::encode(&mut log, Kind::Entry, &op.key, &meta, &[]);
        }
        index.put_cf(&objects, &op.key, op.entry.encode());
        if let Location::Large { id } = op.entry.loc {
            index.put_cf(&engine, large_ref_key(id), &op.key);
        }
        if let Some(at) = op.entry.meta.as_ref().and_then(|m| m.delete_at) {
            index.put_cf(&engine, expiry_key(at, &op.key), []);
        }
        if let Some(Location::Large { id }) = cur.as_ref().map(|c| c.loc) {
            if op.entry.loc != (Location::Large { id }) {
                index.delete_cf(&engine, large_ref_key(id));
                unlink.push(large::path(&state.large_dir, id));
            }
        }
    }
    let new_offset = state.offset + log.len() as u64;
    index.put_cf(&engine, TAIL_KEY, tail_value(state.seg, new_offset));

    let syncs: Vec<&File> = accepted
        .iter()
        .filter_map(|(op, _)| op.sync.as_deref())
        .collect();
    let dir_file = if syncs.is_empty() {
        None
    } else {
        File::open(&state.large_dir).ok()
    };
    let mut first = syncs;
    first.extend(dir_file.as_ref());
    let log_file = state
        .segments
        .read()
        .ok()
        .and_then(|s| s.get(&state.seg).cloned());
    let Some(log_file) = log_file else {
        fail_all(accepted, &StoreError::Stopped);
        return;
    };
    let written = if log.is_empty() && first.is_empty() {
        Ok(())
    } else {
        state.io.commit(&first, &log_file, state.offset, &[&log])
    };
    if let Err(e) = written {
        let e = StoreError::from_io(e);
        tracing::error!(device = %state.device, error = %e, "group commit failed");
        fail_all(accepted, &e);
        return;
    }
    state.offset = new_offset;
    let mut wo = rocksdb::WriteOptions::default();
    wo.set_sync(false);
    if let Err(e) = db.write_opt(index, &wo) {
        fail_all(accepted, &StoreError::Index(e));
        return;
    }
    for p in unlink {
        if let Err(e) = std::fs::remove_file(&p) {
            tracing::warn!(path = %p.display(), error = %e, "could not remove replaced large object");
        }
    }
    for (op, cur) in accepted {
        let _ = op.reply.send(Ok(Outcome { previous: cur }));
    }
}

fn fail_all(ops: Vec<(CommitOp, Option<Entry>)>, e: &StoreError) {
    for (op, _) in ops {
        let err = match e {
            StoreError::Full => StoreError::Full,
            other => StoreError::Io(std::io::Error::other(other.to_string())),
        };
        let _ = op.reply.send(Err(err));
    }
}

fn roll_if_full(state: &mut LogState) -> Result<(), StoreError> {
    if state.offset < state.segment_bytes {
        return Ok(());
    }
    let next = state.seg + 1;
    let f = super::create_segment(&state.dir, next)?;
    state
        .segments
        .write()
        .map_err(|_| StoreError::Stopped)?
        .insert(next, Arc::new(f));
    state.seg = next;
    state.offset = SEGMENT_HEADER_LEN;
    state.head.store(next, std::sync::atomic::Ordering::Release);
    Ok(())
}

/// Applies a journal record found after the index's replay position.
pub fn apply_replayed(db: &DB, key: &[u8], entry: Entry) -> Result<(), StoreError> {
    let (Some(objects), Some(engine)) = (db.cf_handle(CF_OBJECTS), db.cf_handle(CF_ENGINE)) else {
        return Err(StoreError::Stopped);
    };
    let cur = match db.get_pinned_cf(&objects, key)? {
        Some(v) => Entry::decode(&v),
        None => None,
    };
    if cur
        .as_ref()
        .is_some_and(|c| !entry.supersedes(c) && c != &entry)
    {
        return Ok(());
    }
    let mut b = WriteBatch::default();
    if let Some(Location::Large { id }) = cur.as_ref().map(|c| c.loc) {
        if entry.loc != (Location::Large { id }) {
            // The file itself goes with the orphan sweep after replay.
            b.delete_cf(&engine, large_ref_key(id));
        }
    }
    b.put_cf(&objects, key, entry.encode());
    if let Location::Large { id } = entry.loc {
        b.put_cf(&engine, large_ref_key(id), key);
    }
    if let Some(at) = entry.meta.as_ref().and_then(|m| m.delete_at) {
        b.put_cf(&engine, expiry_key(at, key), []);
    }
    db.write(b)?;
    Ok(())
}
