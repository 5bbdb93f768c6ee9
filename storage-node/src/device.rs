//! The devices a node serves: each a directory with its own RocksDB
//! (object index, listings, queued updates) and its own object engine.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, Options, DB};

use crate::engine::{
    self, EngineKind, EngineOptions, ObjectStore, StoreError, CF_ENGINE, CF_OBJECTS,
};
use crate::listing::{Table, CF_ACCOUNTS, CF_CONTAINERS};

pub const CF_ASYNC: &str = "async_pending";

#[derive(Debug)]
pub struct Device {
    pub name: String,
    /// Random id made when the device is first opened: replicas remember
    /// what they merged from a device by it, so a replaced disk is new.
    pub id: String,
    pub root: PathBuf,
    pub db: Arc<DB>,
    pub objects: Arc<ObjectStore>,
    pub containers: Table,
    pub accounts: Table,
}

impl Device {
    pub fn open(
        name: &str,
        root: &Path,
        engine: EngineKind,
        options: EngineOptions,
    ) -> Result<Device, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        // Bounded memory: all column families share one write buffer budget.
        opts.set_db_write_buffer_size(32 << 20);
        opts.set_max_open_files(512);
        opts.set_keep_log_file_num(2);
        opts.set_manifest_preallocation_size(1 << 20);
        let cfs = [CF_OBJECTS, CF_ENGINE, CF_CONTAINERS, CF_ACCOUNTS, CF_ASYNC].map(|n| {
            let mut o = Options::default();
            o.set_write_buffer_size(8 << 20);
            ColumnFamilyDescriptor::new(n, o)
        });
        let db = Arc::new(DB::open_cf_descriptors(&opts, root.join("db"), cfs)?);
        let id = device_id(&db)?;
        let io = engine::io::open(engine, name)?;
        let objects = Arc::new(ObjectStore::open(name, root, db.clone(), io, options)?);
        Ok(Device {
            name: name.to_string(),
            id,
            root: root.to_path_buf(),
            containers: Table::new(db.clone(), CF_CONTAINERS),
            accounts: Table::new(db.clone(), CF_ACCOUNTS),
            db,
            objects,
        })
    }

    /// A device whose directory went away (unmounted, pulled) serves nothing.
    pub fn is_mounted(&self) -> bool {
        self.root.join("db").is_dir()
    }

    /// Bytes free to unprivileged writers on the device's filesystem.
    pub fn free_bytes(&self) -> Option<u64> {
        self.space().map(|(_, avail)| avail)
    }

    /// The size of the device's filesystem and the bytes free to
    /// unprivileged writers on it.
    pub fn space(&self) -> Option<(u64, u64)> {
        let c = std::ffi::CString::new(self.root.as_os_str().as_encoded_bytes()).ok()?;
        let mut s = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `c` is a valid NUL-terminated path and `s` is writable
        // memory of the right type; statvfs initialises it on success.
        let rc = unsafe { libc::statvfs(c.as_ptr(), s.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        // SAFETY: statvfs returned 0, so it filled `s`.
        let s = unsafe { s.assume_init() };
        Some((s.f_blocks * s.f_frsize, s.f_bavail * s.f_frsize))
    }
}

fn device_id(db: &DB) -> Result<String, StoreError> {
    const KEY: &[u8] = b"device_id";
    let cf = db.cf_handle(CF_ENGINE).ok_or(StoreError::Stopped)?;
    if let Some(v) = db.get_cf(cf, KEY)? {
        return Ok(String::from_utf8_lossy(&v).into_owned());
    }
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?;
    let id = hex::encode(raw);
    let mut wo = rocksdb::WriteOptions::default();
    wo.set_sync(true);
    db.put_cf_opt(cf, KEY, id.as_bytes(), &wo)?;
    Ok(id)
}

/// All devices of a node, by name.
#[derive(Debug, Default)]
pub struct Devices {
    map: HashMap<String, Arc<Device>>,
}

impl Devices {
    /// Opens every directory under `root`. One that fails to open is logged
    /// and left out (its requests get 507), so a bad disk never keeps the
    /// node from starting.
    pub fn open_all(
        root: &Path,
        engine: EngineKind,
        options: EngineOptions,
    ) -> std::io::Result<Devices> {
        let mut map = HashMap::new();
        let mut names: Vec<String> = std::fs::read_dir(root)?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for name in names {
            match Device::open(&name, &root.join(&name), engine, options) {
                Ok(d) => {
                    tracing::info!(device = %name, engine = d.objects.engine_name(), "device online");
                    map.insert(name, Arc::new(d));
                }
                Err(e) => {
                    tracing::error!(device = %name, error = %e, "device failed to open; serving without it")
                }
            }
        }
        Ok(Devices { map })
    }

    pub fn get(&self, name: &str) -> Option<Arc<Device>> {
        self.map.get(name).filter(|d| d.is_mounted()).cloned()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Device>> {
        self.map.values()
    }
}
