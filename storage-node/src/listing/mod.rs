//! Container and account databases: an info record per container or
//! account plus one row per object or container, in the device's RocksDB.
//!
//! Row keys are `R<path>\0<name>`, so a container's rows are one contiguous
//! range sorted by UTF-8 bytes, and a listing with prefix, markers and
//! delimiter is a range scan that seeks past each rolled-up subdirectory.

pub mod query;
pub mod sync;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rocksdb::{WriteBatch, DB};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use self::query::{ListItem, ListParams};
use crate::engine::StoreError;
use crate::timestamp::Timestamp;

pub const CF_CONTAINERS: &str = "containers";
pub const CF_ACCOUNTS: &str = "accounts";

/// Metadata name (lower-cased) → (value as sent, timestamp). An empty value
/// is kept as a deletion so that an older POST cannot bring it back.
pub type MetaMap = BTreeMap<String, (String, String, Timestamp)>;

/// Info of one container or account, version 1.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Info {
    pub v: u8,
    pub put_ts: Timestamp,
    pub delete_ts: Timestamp,
    /// The first PUT, shown as `X-Timestamp`.
    pub created_ts: Timestamp,
    pub meta: MetaMap,
    /// Containers in an account (zero for a container).
    pub container_count: i64,
    pub object_count: i64,
    pub bytes_used: i64,
    /// Containers: the account servers (host, device, partition) its
    /// state is reported to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub report_to: Vec<(String, String, String)>,
    /// Sequence number of the newest row change (see [`sync`]).
    #[serde(default)]
    pub seq: u64,
    /// Replication: per sending device id, the sequence number up to
    /// which its rows have been merged here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sync_points: BTreeMap<String, u64>,
}

impl Info {
    pub fn is_deleted(&self) -> bool {
        self.delete_ts > self.put_ts
    }

    /// Merges metadata, per key last write wins.
    pub fn merge_meta(&mut self, updates: &[(String, String)], ts: Timestamp) {
        for (name, value) in updates {
            let k = name.to_ascii_lowercase();
            if self.meta.get(&k).is_none_or(|(_, _, t)| *t < ts) {
                self.meta.insert(k, (name.clone(), value.clone(), ts));
            }
        }
    }

    pub fn live_meta(&self) -> impl Iterator<Item = (&str, &str)> {
        self.meta
            .values()
            .filter(|(_, v, _)| !v.is_empty())
            .map(|(n, v, _)| (n.as_str(), v.as_str()))
    }
}

/// A row in a listing: an object in a container or a container in an account.
pub trait Row: Serialize + DeserializeOwned + Clone {
    fn ts(&self) -> Timestamp;
    fn deleted(&self) -> bool;
    /// (containers, objects, bytes) this row adds to its parent's totals.
    fn totals(&self) -> (i64, i64, i64);
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ObjectRow {
    pub ts: Timestamp,
    pub size: u64,
    pub content_type: String,
    pub etag: String,
    pub deleted: bool,
}

impl Row for ObjectRow {
    fn ts(&self) -> Timestamp {
        self.ts
    }
    fn deleted(&self) -> bool {
        self.deleted
    }
    fn totals(&self) -> (i64, i64, i64) {
        if self.deleted {
            (0, 0, 0)
        } else {
            (0, 1, self.size as i64)
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContainerRow {
    pub put_ts: Timestamp,
    pub delete_ts: Timestamp,
    pub object_count: i64,
    pub bytes_used: i64,
    /// Newest of the timestamps the container server reported.
    pub ts: Timestamp,
}

impl Row for ContainerRow {
    fn ts(&self) -> Timestamp {
        self.ts
    }
    fn deleted(&self) -> bool {
        self.delete_ts > self.put_ts
    }
    fn totals(&self) -> (i64, i64, i64) {
        if self.deleted() {
            (0, 0, 0)
        } else {
            (1, self.object_count, self.bytes_used)
        }
    }
}

/// The containers or the accounts table of one device.
#[derive(Debug)]
pub struct Table {
    db: Arc<DB>,
    cf: &'static str,
    /// Containers mark each totals change (`C<path>` → change time) so
    /// that reporting them to the account survives a crash.
    track_changes: bool,
    /// Row updates read-modify-write the parent's totals; one writer at a time.
    write: Mutex<()>,
}

fn change_key(path: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + path.len());
    k.push(b'C');
    k.extend_from_slice(path.as_bytes());
    k
}

/// `S<path>\0<seq u64 BE>` → row name: a path's rows in change order.
fn seq_key(path: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(10 + path.len());
    k.push(b'S');
    k.extend_from_slice(path.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// A row as stored: the row and the sequence number of its last change.
#[derive(Serialize, Deserialize)]
struct Stored<R> {
    #[serde(flatten)]
    row: R,
    #[serde(default)]
    seq: u64,
}

fn info_key(path: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + path.len());
    k.push(b'I');
    k.extend_from_slice(path.as_bytes());
    k
}

pub fn row_prefix(path: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + path.len());
    k.push(b'R');
    k.extend_from_slice(path.as_bytes());
    k.push(0);
    k
}

fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b).map_err(|_| StoreError::Corrupt("listing record"))
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

impl Table {
    pub fn new(db: Arc<DB>, cf: &'static str) -> Table {
        Table {
            db,
            cf,
            track_changes: cf == CF_CONTAINERS,
            write: Mutex::new(()),
        }
    }

    /// Up to `limit` paths whose totals changed since last reported, with
    /// the mark to clear once they are.
    pub fn changed(&self, limit: usize) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf()?,
            rocksdb::IteratorMode::From(b"C", rocksdb::Direction::Forward),
        );
        for item in iter.take(limit) {
            let (k, v) = item?;
            if k.first() != Some(&b'C') {
                break;
            }
            let path = String::from_utf8(k[1..].to_vec())
                .map_err(|_| StoreError::Corrupt("change mark"))?;
            out.push((path, v.to_vec()));
        }
        Ok(out)
    }

    /// Clears a change mark unless another change came since it was read.
    pub fn clear_changed(&self, path: &str, mark: &[u8]) -> Result<(), StoreError> {
        let _g = self.write.lock().map_err(|_| StoreError::Stopped)?;
        let key = change_key(path);
        if self
            .db
            .get_pinned_cf(self.cf()?, &key)?
            .is_some_and(|v| *v == *mark)
        {
            self.db.delete_cf(self.cf()?, key)?;
        }
        Ok(())
    }

    fn cf(&self) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db.cf_handle(self.cf).ok_or(StoreError::Stopped)
    }

    pub fn info(&self, path: &str) -> Result<Option<Info>, StoreError> {
        self.db
            .get_pinned_cf(self.cf()?, info_key(path))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Read-modify-write of an info record; `f` returns what to store.
    pub fn update_info<T>(
        &self,
        path: &str,
        f: impl FnOnce(Option<Info>) -> Result<(Option<Info>, T), StoreError>,
    ) -> Result<T, StoreError> {
        let _g = self.write.lock().map_err(|_| StoreError::Stopped)?;
        let cur = self.info(path)?;
        let (next, out) = f(cur)?;
        if let Some(info) = next {
            let mut wo = rocksdb::WriteOptions::default();
            wo.set_sync(true);
            self.db
                .put_cf_opt(self.cf()?, info_key(path), encode(&info), &wo)?;
        }
        Ok(out)
    }

    /// Stores `row` under `name` if it is newer than the stored row and
    /// adjusts the parent's totals. Returns false when the parent does not
    /// exist (or is deleted) and `create` is not given.
    pub fn put_row<R: Row>(
        &self,
        path: &str,
        name: &str,
        row: &R,
        create: Option<Timestamp>,
    ) -> Result<bool, StoreError> {
        let _g = self.write.lock().map_err(|_| StoreError::Stopped)?;
        let mut info = match self.info(path)? {
            Some(i) if !i.is_deleted() => i,
            _ => match create {
                Some(ts) => Info {
                    v: 1,
                    put_ts: ts,
                    created_ts: ts,
                    ..Info::default()
                },
                None => return Ok(false),
            },
        };
        let mut b = WriteBatch::default();
        self.merge_row(&mut b, path, &mut info, name, row)?;
        b.put_cf(self.cf()?, info_key(path), encode(&info));
        self.db.write(b)?;
        Ok(true)
    }

    /// Adds to `b` the change of one row if `row` is newer than the stored
    /// one, and updates `info` (totals, sequence) to match; the caller
    /// holds the write lock and stores `info`.
    fn merge_row<R: Row>(
        &self,
        b: &mut WriteBatch,
        path: &str,
        info: &mut Info,
        name: &str,
        row: &R,
    ) -> Result<(), StoreError> {
        let cf = self.cf()?;
        let mut key = row_prefix(path);
        key.extend_from_slice(name.as_bytes());
        let old: Option<Stored<R>> = self
            .db
            .get_pinned_cf(cf, &key)?
            .map(|v| decode(&v))
            .transpose()?;
        if old.as_ref().is_some_and(|o| o.row.ts() >= row.ts()) {
            return Ok(());
        }
        let (oc, oo, ob) = old.as_ref().map_or((0, 0, 0), |o| o.row.totals());
        let (nc, no, nb) = row.totals();
        info.container_count += nc - oc;
        info.object_count += no - oo;
        info.bytes_used += nb - ob;
        if let Some(o) = old.as_ref().filter(|o| o.seq > 0) {
            b.delete_cf(cf, seq_key(path, o.seq));
        }
        info.seq += 1;
        b.put_cf(cf, seq_key(path, info.seq), name.as_bytes());
        let stored = Stored {
            row: row.clone(),
            seq: info.seq,
        };
        b.put_cf(cf, key, encode(&stored));
        if self.track_changes {
            b.put_cf(cf, change_key(path), Timestamp::now().to_bytes());
        }
        Ok(())
    }

    /// Lists rows of `path` by `params`: a range scan, never a full scan.
    pub fn list<R: Row>(
        &self,
        path: &str,
        params: &ListParams,
    ) -> Result<Vec<ListItem<R>>, StoreError> {
        query::list(&self.db, self.cf()?, &row_prefix(path), params)
    }
}
