//! Reading the index in bulk, for the background workers: which partitions
//! a device holds, what replication compares (per-suffix hashes of the
//! entries' timestamps), the entries of some suffixes, batches for the
//! auditor, and objects whose `X-Delete-At` has passed.

use bytes::Bytes;
use md5::{Digest, Md5};
use rocksdb::{Direction, IteratorMode};

use super::{Cond, Entry, ObjectStore, StoreError, CF_ENGINE, CF_OBJECTS};

/// Expiry index keys in the engine column family: `E`, the time
/// (u64 BE seconds), then the object's index key.
const EXPIRY_TAG: u8 = b'E';

pub fn expiry_key(at: u64, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + key.len());
    k.push(EXPIRY_TAG);
    k.extend_from_slice(&at.to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// The object path (`/a/c/o`) of an index key.
pub fn key_path(key: &[u8]) -> Option<&str> {
    key.get(6..).and_then(|p| std::str::from_utf8(p).ok())
}

/// The partition of an index key.
pub fn key_partition(key: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(key.get(..4)?.try_into().ok()?))
}

/// What an entry contributes to its suffix's hash: everything two replicas
/// must agree on, nothing about where this node keeps the bytes.
fn hash_line(h: &mut Md5, path: &[u8], e: &Entry) {
    h.update(path);
    h.update(format!(" {} {} {}\n", e.data_ts, e.meta_ts, e.is_tombstone()).as_bytes());
}

/// Per-suffix hashes of a partition's entries, given in index order
/// (suffix, then path).
pub fn suffix_hashes_of(entries: &[Listed]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut current: Option<(u16, Md5)> = None;
    let finish = |(s, h): (u16, Md5)| (format!("{s:03x}"), hex::encode(h.finalize()));
    for l in entries {
        let suffix = super::suffix_of(&l.path);
        if current.as_ref().is_none_or(|(s, _)| *s != suffix) {
            out.extend(current.take().map(finish));
            current = Some((suffix, Md5::new()));
        }
        if let Some((_, h)) = current.as_mut() {
            hash_line(h, l.path.as_bytes(), &l.entry);
        }
    }
    out.extend(current.map(finish));
    out
}

/// One hash over a partition's suffix hashes: equal on two replicas
/// exactly when every suffix is.
pub fn digest_of(suffix_hashes: &[(String, String)]) -> String {
    let mut h = Md5::new();
    for (s, d) in suffix_hashes {
        h.update(s.as_bytes());
        h.update(d.as_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

/// An entry of a partition as replicas compare them.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub path: String,
    pub entry: Entry,
}

impl ObjectStore {
    fn objects_cf(&self) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db.cf_handle(CF_OBJECTS).ok_or(StoreError::Stopped)
    }

    /// The partitions with at least one entry, in order: one seek each.
    pub fn partitions(&self) -> Result<Vec<u32>, StoreError> {
        let cf = self.objects_cf()?;
        let mut out = Vec::new();
        let mut next = Some(0u32);
        while let Some(from) = next {
            let mut it = self.db.iterator_cf(
                cf,
                IteratorMode::From(&from.to_be_bytes(), Direction::Forward),
            );
            let Some(item) = it.next() else { break };
            let (k, _) = item?;
            let Some(p) = key_partition(&k) else { break };
            out.push(p);
            next = p.checked_add(1);
        }
        Ok(out)
    }

    /// Per-suffix hashes of a partition (3 hex digits → md5 of its entries),
    /// for replicators to find which suffixes differ.
    pub fn suffix_hashes(&self, partition: u32) -> Result<Vec<(String, String)>, StoreError> {
        Ok(suffix_hashes_of(&self.entries(partition, None)?))
    }

    /// One hash over a partition's suffix hashes (see [`digest_of`]).
    pub fn partition_digest(&self, partition: u32) -> Result<String, StoreError> {
        Ok(digest_of(&self.suffix_hashes(partition)?))
    }

    /// The entries of the given suffixes of a partition (all without), in
    /// index order: suffix, then path.
    pub fn entries(
        &self,
        partition: u32,
        suffixes: Option<&[u16]>,
    ) -> Result<Vec<Listed>, StoreError> {
        let start = partition.to_be_bytes();
        let iter = self.db.iterator_cf(
            self.objects_cf()?,
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter {
            let (k, v) = item?;
            if k.len() < 6 || k[..4] != start {
                break;
            }
            let suffix = u16::from_be_bytes([k[4], k[5]]);
            if suffixes.is_some_and(|s| !s.contains(&suffix)) {
                continue;
            }
            let entry = Entry::decode(&v).ok_or(StoreError::Corrupt("index entry"))?;
            if let Ok(path) = std::str::from_utf8(&k[6..]) {
                out.push(Listed {
                    path: path.to_string(),
                    entry,
                });
            }
        }
        Ok(out)
    }

    /// Up to `limit` entries after index key `after` (from the start when
    /// empty), for walking the whole index in bounded steps.
    pub fn entries_after(
        &self,
        after: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Entry)>, StoreError> {
        let iter = self.db.iterator_cf(
            self.objects_cf()?,
            IteratorMode::From(after, Direction::Forward),
        );
        let mut out = Vec::with_capacity(limit);
        for item in iter {
            let (k, v) = item?;
            if *k == *after {
                continue;
            }
            let Some(e) = Entry::decode(&v) else { continue };
            out.push((k.to_vec(), e));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Up to `limit` (time, index key) pairs of the expiry index due at or
    /// before `now` (seconds).
    pub fn expiring(&self, now: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let cf = self.db.cf_handle(CF_ENGINE).ok_or(StoreError::Stopped)?;
        let iter = self
            .db
            .iterator_cf(cf, IteratorMode::From(&[EXPIRY_TAG], Direction::Forward));
        let mut out = Vec::new();
        for item in iter {
            let (k, _) = item?;
            if k.first() != Some(&EXPIRY_TAG) || k.len() < 9 {
                break;
            }
            let at = u64::from_be_bytes(k[1..9].try_into().unwrap_or_default());
            if at > now || out.len() >= limit {
                break;
            }
            out.push((at, k[9..].to_vec()));
        }
        Ok(out)
    }

    /// Forgets an expiry index record (its object was handled or replaced).
    pub fn forget_expiry(&self, at: u64, key: &[u8]) -> Result<(), StoreError> {
        let cf = self.db.cf_handle(CF_ENGINE).ok_or(StoreError::Stopped)?;
        self.db.delete_cf(cf, expiry_key(at, key))?;
        Ok(())
    }

    /// Removes an entry (and a large object's file) if the index still
    /// holds exactly `entry`: a handoff's copy once the primaries have
    /// it, or a tombstone past its reclaim age. Returns whether it went.
    pub async fn drop_entry(&self, key: &[u8], entry: &Entry) -> Result<bool, StoreError> {
        let cond = Cond::Drop {
            loc: entry.loc,
            data_ts: entry.data_ts,
            meta_ts: entry.meta_ts,
        };
        match self
            .commit(key.to_vec(), entry.clone(), Bytes::new(), None, cond)
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// RocksDB's estimate of the entries in the index (objects and
    /// tombstones), cheap enough for status reports.
    pub fn estimated_entries(&self) -> u64 {
        self.objects_cf()
            .ok()
            .and_then(|cf| {
                self.db
                    .property_int_value_cf(cf, "rocksdb.estimate-num-keys")
                    .ok()
                    .flatten()
            })
            .unwrap_or(0)
    }
}
