//! The ordered key-value store control-plane services keep their records
//! in: get, put, delete, prefix scan and compare-and-swap — the operations
//! etcd offers too, so a shared etcd can replace the embedded RocksDB when
//! several machines run the control plane. [`MemKv`] serves tests and
//! throwaway instances.
//!
//! Writes are durable when they return (RocksDB syncs its WAL): an
//! acknowledged change survives a kill -9.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("key-value store: {0}")]
    Backend(String),
}

/// Key-value pairs in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Keys and values are bytes; keys sort bytewise.
pub trait KvStore: Send + Sync + std::fmt::Debug {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), KvError>;
    fn delete(&self, key: &[u8]) -> Result<(), KvError>;
    /// Every pair whose key starts with `prefix`, in key order.
    fn scan(&self, prefix: &[u8]) -> Result<Pairs, KvError>;
    /// Sets `key` to `new` (None deletes it) only if its value is now
    /// `expected` (None: absent). Returns whether it did.
    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, KvError>;
}

/// RocksDB in a directory, every write synced.
#[derive(Debug)]
pub struct RocksKv {
    db: rocksdb::DB,
    /// Serialises compare-and-swap against other writers of this process.
    cas: Mutex<()>,
}

fn backend(e: impl std::fmt::Display) -> KvError {
    KvError::Backend(e.to_string())
}

impl RocksKv {
    pub fn open(dir: &Path) -> Result<RocksKv, KvError> {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let db = rocksdb::DB::open(&opts, dir).map_err(backend)?;
        Ok(RocksKv {
            db,
            cas: Mutex::new(()),
        })
    }

    fn synced() -> rocksdb::WriteOptions {
        let mut w = rocksdb::WriteOptions::default();
        w.set_sync(true);
        w
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, ()>, KvError> {
        self.cas.lock().map_err(|_| backend("lock poisoned"))
    }
}

impl KvStore for RocksKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        self.db.get(key).map_err(backend)
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        let _g = self.lock()?;
        self.db
            .put_opt(key, value, &Self::synced())
            .map_err(backend)
    }

    fn delete(&self, key: &[u8]) -> Result<(), KvError> {
        let _g = self.lock()?;
        self.db.delete_opt(key, &Self::synced()).map_err(backend)
    }

    fn scan(&self, prefix: &[u8]) -> Result<Pairs, KvError> {
        let mode = rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward);
        let mut opts = rocksdb::ReadOptions::default();
        if let Some(end) = prefix_end(prefix) {
            // Lets RocksDB stop at the prefix's end instead of reading on.
            opts.set_iterate_upper_bound(end);
        }
        let mut out = Vec::new();
        for item in self.db.iterator_opt(mode, opts) {
            let (k, v) = item.map_err(backend)?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }

    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, KvError> {
        let _g = self.lock()?;
        if self.db.get(key).map_err(backend)?.as_deref() != expected {
            return Ok(false);
        }
        match new {
            Some(v) => self.db.put_opt(key, v, &Self::synced()),
            None => self.db.delete_opt(key, &Self::synced()),
        }
        .map_err(backend)?;
        Ok(true)
    }
}

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// The first key after every key starting with `prefix`, if any.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// In memory, gone with the process.
#[derive(Debug, Default)]
pub struct MemKv {
    map: Mutex<Map>,
}

impl MemKv {
    fn map(&self) -> Result<std::sync::MutexGuard<'_, Map>, KvError> {
        self.map.lock().map_err(|_| backend("lock poisoned"))
    }
}

impl KvStore for MemKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.map()?.get(key).cloned())
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.map()?.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &[u8]) -> Result<(), KvError> {
        self.map()?.remove(key);
        Ok(())
    }

    fn scan(&self, prefix: &[u8]) -> Result<Pairs, KvError> {
        Ok(self
            .map()?
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, KvError> {
        let mut map = self.map()?;
        if map.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(v) => map.insert(key.to_vec(), v.to_vec()),
            None => map.remove(key),
        };
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(kv: &dyn KvStore) {
        kv.put(b"a/1", b"x").unwrap();
        kv.put(b"a/2", b"y").unwrap();
        kv.put(b"b/1", b"z").unwrap();
        assert_eq!(kv.get(b"a/1").unwrap().as_deref(), Some(&b"x"[..]));
        let keys: Vec<_> = kv.scan(b"a/").unwrap().into_iter().map(|p| p.0).collect();
        assert_eq!(keys, vec![b"a/1".to_vec(), b"a/2".to_vec()]);
        assert!(!kv.compare_and_swap(b"a/1", None, Some(b"q")).unwrap());
        assert!(kv.compare_and_swap(b"a/1", Some(b"x"), Some(b"q")).unwrap());
        assert!(kv.compare_and_swap(b"c", None, Some(b"new")).unwrap());
        assert!(!kv.compare_and_swap(b"c", None, Some(b"again")).unwrap());
        assert!(kv.compare_and_swap(b"c", Some(b"new"), None).unwrap());
        assert_eq!(kv.get(b"c").unwrap(), None);
        kv.delete(b"a/2").unwrap();
        assert_eq!(kv.scan(b"a").unwrap().len(), 1);
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"a/"), Some(b"a0".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn memory_store() {
        exercise(&MemKv::default());
    }

    #[test]
    fn rocksdb_store_persists() {
        let dir = tempfile::tempdir().unwrap();
        {
            let kv = RocksKv::open(dir.path()).unwrap();
            exercise(&kv);
        }
        let kv = RocksKv::open(dir.path()).unwrap();
        assert_eq!(kv.get(b"a/1").unwrap().as_deref(), Some(&b"q"[..]));
    }
}
