//! The object engine of one device: a log of segment files that journals
//! every write, large objects in their own files, and an index in the
//! device's RocksDB.
//!
//! Writes go through one commit thread per device. It takes every write
//! waiting at that moment, appends their records in one write, makes them
//! durable with one fdatasync (group commit) and only then updates the
//! index and acknowledges. The index is written without its own sync: on
//! start the log is replayed from the last indexed position, so the log is
//! the single source of truth and a torn tail is cut off.

mod commit;
mod compact;
pub mod entry;
pub mod io;
pub mod large;
pub mod record;
pub mod scan;
mod uring;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};

use bytes::Bytes;
use rocksdb::DB;
use tokio::sync::oneshot;

use self::commit::{CommitOp, LogState};
pub use self::commit::{Cond, Outcome};
pub use self::compact::CompactReport;
pub use self::entry::{Entry, Location, ObjectMeta};
pub use self::io::{DiskIo, EngineKind};
pub use self::large::LargeWriter;
use self::record::{Header, Kind, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};

pub const CF_OBJECTS: &str = "objects";
/// Engine bookkeeping: the replay position and large-file references.
pub const CF_ENGINE: &str = "engine";
const TAIL_KEY: &[u8] = b"tail";
/// Objects up to this size are stored inline in the log.
pub const INLINE_MAX: usize = 128 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("index error: {0}")]
    Index(#[from] rocksdb::Error),
    #[error("corrupt {0}")]
    Corrupt(&'static str),
    #[error("a newer write exists ({0})")]
    Conflict(crate::timestamp::Timestamp),
    #[error("not found")]
    NotFound,
    #[error("device is full")]
    Full,
    #[error("engine stopped")]
    Stopped,
}

impl StoreError {
    pub fn from_io(e: std::io::Error) -> StoreError {
        if e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT) {
            StoreError::Full
        } else {
            StoreError::Io(e)
        }
    }
}

/// Index key: partition, hash suffix, then the path, so that a partition
/// and each of its suffixes are contiguous ranges.
pub fn object_key(partition: u32, path: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(6 + path.len());
    k.extend_from_slice(&partition.to_be_bytes());
    k.extend_from_slice(&suffix_of(path).to_be_bytes());
    k.extend_from_slice(path.as_bytes());
    k
}

/// One of 4096 groups per partition that replication compares by hash.
pub fn suffix_of(path: &str) -> u16 {
    (crc32c::crc32c(path.as_bytes()) >> 20) as u16
}

/// Engine tuning (from the node's config).
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Log segment size before a new one starts.
    pub segment_bytes: u64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            segment_bytes: 256 << 20,
        }
    }
}

#[derive(Debug)]
pub struct ObjectStore {
    device: String,
    head: Arc<std::sync::atomic::AtomicU64>,
    db: Arc<DB>,
    io: Arc<dyn DiskIo>,
    dirs: Dirs,
    segments: Arc<RwLock<HashMap<u64, Arc<File>>>>,
    commits: Mutex<mpsc::Sender<CommitOp>>,
    quarantined: AtomicU64,
}

#[derive(Debug, Clone)]
struct Dirs {
    segments: PathBuf,
    large: PathBuf,
    quarantine: PathBuf,
}

impl ObjectStore {
    /// Opens the engine under `root/objects`, replaying the log tail.
    pub fn open(
        device: &str,
        root: &Path,
        db: Arc<DB>,
        io: Arc<dyn DiskIo>,
        options: EngineOptions,
    ) -> Result<ObjectStore, StoreError> {
        let base = root.join("objects");
        let dirs = Dirs {
            segments: base.join("segments"),
            large: base.join("large"),
            quarantine: base.join("quarantined"),
        };
        for d in [&dirs.segments, &dirs.large, &dirs.quarantine] {
            fs::create_dir_all(d)?;
        }
        let mut segs = list_segments(&dirs.segments)?;
        if segs.is_empty() {
            create_segment(&dirs.segments, 1)?;
            segs.push(1);
        }
        let tail = read_tail(&db)?.unwrap_or((segs[0], SEGMENT_HEADER_LEN));
        let mut open = HashMap::new();
        for &s in &segs {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(segment_path(&dirs.segments, s))?;
            open.insert(s, Arc::new(f));
        }
        let last = *segs.last().unwrap_or(&1);
        let mut end = SEGMENT_HEADER_LEN;
        for &s in segs.iter().filter(|&&s| s >= tail.0) {
            let from = if s == tail.0 {
                tail.1
            } else {
                SEGMENT_HEADER_LEN
            };
            let file = &open[&s];
            let stop = replay_segment(&db, s, file, from)?;
            if s == last {
                end = stop;
            }
        }
        if tail.0 > last {
            return Err(StoreError::Corrupt("replay position beyond the log"));
        }
        if last != tail.0 || end != tail.1 {
            tracing::info!(device, segment = last, offset = end, "replayed object log");
        }
        write_tail(&db, last, end)?;
        remove_orphans(&db, &dirs.large)?;

        let segments = Arc::new(RwLock::new(open));
        let head = Arc::new(AtomicU64::new(last));
        let state = LogState {
            device: device.to_string(),
            db: db.clone(),
            io: io.clone(),
            dir: dirs.segments.clone(),
            large_dir: dirs.large.clone(),
            segments: segments.clone(),
            seg: last,
            offset: end,
            segment_bytes: options.segment_bytes.max(1 << 16),
            head: head.clone(),
        };
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("commit-{device}"))
            .spawn(move || commit::run(state, rx))?;
        Ok(ObjectStore {
            device: device.to_string(),
            head,
            db,
            io,
            dirs,
            segments,
            commits: Mutex::new(tx),
            quarantined: AtomicU64::new(0),
        })
    }

    pub fn engine_name(&self) -> &'static str {
        self.io.name()
    }

    /// Copies quarantined since the engine started.
    pub fn quarantined(&self) -> u64 {
        self.quarantined.load(Ordering::Relaxed)
    }

    /// Quarantined copies kept on disk (for operators to inspect and clear).
    pub fn quarantined_on_disk(&self) -> u64 {
        fs::read_dir(&self.dirs.quarantine).map_or(0, |d| d.count() as u64)
    }

    pub fn get_entry(&self, key: &[u8]) -> Result<Option<Entry>, StoreError> {
        let cf = self.db.cf_handle(CF_OBJECTS).ok_or(StoreError::Stopped)?;
        match self.db.get_pinned_cf(&cf, key)? {
            Some(v) => Entry::decode(&v)
                .map(Some)
                .ok_or(StoreError::Corrupt("index entry")),
            None => Ok(None),
        }
    }

    /// Journals a write and waits until it is durable and indexed.
    /// `sync` is a large object's file, made durable in the same commit.
    pub async fn commit(
        &self,
        key: Vec<u8>,
        entry: Entry,
        data: Bytes,
        sync: Option<Arc<File>>,
        cond: Cond,
    ) -> Result<Outcome, StoreError> {
        let (reply, rx) = oneshot::channel();
        let op = CommitOp {
            key,
            entry,
            data,
            sync,
            cond,
            reply,
        };
        self.commits
            .lock()
            .map_err(|_| StoreError::Stopped)?
            .send(op)
            .map_err(|_| StoreError::Stopped)?;
        rx.await.map_err(|_| StoreError::Stopped)?
    }

    /// Starts writing a large object's data to its own file, `size`
    /// bytes of it if known.
    pub fn large_writer(&self, size: Option<u64>) -> Result<LargeWriter, StoreError> {
        LargeWriter::create(&self.dirs.large, self.io.clone(), size)
    }

    /// The inline data of `entry`, checksum-verified; a bad copy is
    /// quarantined and reported as not found.
    pub async fn read_inline(&self, key: &[u8], entry: &Entry) -> Result<Bytes, StoreError> {
        let Location::Inline { seg, off, len } = entry.loc else {
            return Err(StoreError::NotFound);
        };
        let file = self
            .segments
            .read()
            .map_err(|_| StoreError::Stopped)?
            .get(&seg)
            .cloned();
        let Some(file) = file else {
            return Err(StoreError::Corrupt("missing segment"));
        };
        let buf = self
            .io
            .read_at(file, off, len as usize)
            .await
            .map_err(StoreError::from_io)?;
        let verified = record::decode(&buf).and_then(|r| {
            if r.key == key && r.kind == Kind::Put {
                Ok(r.data.len())
            } else {
                Err(StoreError::Corrupt("record does not match its index entry"))
            }
        });
        match verified {
            Ok(n) => {
                let start = buf.len() - n;
                Ok(Bytes::from(buf).slice(start..))
            }
            Err(e) => {
                self.quarantine(key, entry, Some(&buf), &e).await;
                Err(StoreError::NotFound)
            }
        }
    }

    /// Opens a large object's data for reading in checksummed chunks.
    pub fn large_reader(&self, entry: &Entry) -> Result<large::LargeReader, StoreError> {
        let Location::Large { id } = entry.loc else {
            return Err(StoreError::NotFound);
        };
        let size = entry.meta.as_ref().map_or(0, |m| m.size);
        large::LargeReader::open(&self.dirs.large, id, size, self.io.clone())
    }

    /// Moves a bad copy aside and drops it from the index, so that this
    /// node answers as if it never had it and replication restores it.
    pub async fn quarantine(
        &self,
        key: &[u8],
        entry: &Entry,
        bytes: Option<&[u8]>,
        why: &StoreError,
    ) {
        let name = format!("{}-{}", hex::encode(&key[..6]), entry.data_ts);
        tracing::error!(device = %self.device, object = %String::from_utf8_lossy(&key[6..]), error = %why, "quarantining object");
        let dest = self.dirs.quarantine.join(&name);
        let moved = match (entry.loc, bytes) {
            (Location::Large { id }, _) => fs::rename(large::path(&self.dirs.large, id), dest),
            (_, Some(b)) => fs::write(dest, b),
            _ => Ok(()),
        };
        if let Err(e) = moved {
            tracing::error!(device = %self.device, error = %e, "could not keep quarantined copy");
        }
        self.quarantined.fetch_add(1, Ordering::Relaxed);
        let cond = Cond::Quarantine { loc: entry.loc };
        let _ = self
            .commit(key.to_vec(), entry.clone(), Bytes::new(), None, cond)
            .await;
    }
}

fn segment_path(dir: &Path, seg: u64) -> PathBuf {
    dir.join(format!("{seg:016x}.seg"))
}

fn list_segments(dir: &Path) -> Result<Vec<u64>, StoreError> {
    let mut segs = Vec::new();
    for e in fs::read_dir(dir)? {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name
            .strip_suffix(".seg")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
        {
            segs.push(n);
        }
    }
    segs.sort_unstable();
    Ok(segs)
}

/// Creates a segment with its header, durably (file and directory entry).
fn create_segment(dir: &Path, seg: u64) -> Result<File, StoreError> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(segment_path(dir, seg))?;
    std::os::unix::fs::FileExt::write_all_at(&f, &record::segment_header(), 0)?;
    f.sync_all()?;
    File::open(dir)?.sync_all()?;
    Ok(f)
}

fn read_tail(db: &DB) -> Result<Option<(u64, u64)>, StoreError> {
    let cf = db.cf_handle(CF_ENGINE).ok_or(StoreError::Stopped)?;
    Ok(db.get_cf(&cf, TAIL_KEY)?.and_then(|v| {
        let seg = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
        let off = u64::from_be_bytes(v.get(8..16)?.try_into().ok()?);
        Some((seg, off))
    }))
}

fn tail_value(seg: u64, off: u64) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&seg.to_be_bytes());
    v[8..].copy_from_slice(&off.to_be_bytes());
    v
}

fn write_tail(db: &DB, seg: u64, off: u64) -> Result<(), StoreError> {
    let cf = db.cf_handle(CF_ENGINE).ok_or(StoreError::Stopped)?;
    db.put_cf(&cf, TAIL_KEY, tail_value(seg, off))?;
    Ok(())
}

fn large_ref_key(id: u64) -> [u8; 9] {
    let mut k = [b'L'; 9];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// Re-applies the records from `from` to the end of a segment; returns the
/// offset after the last good record and cuts off anything after it (a
/// write torn by a crash was never acknowledged).
fn replay_segment(db: &DB, seg: u64, file: &File, from: u64) -> Result<u64, StoreError> {
    use std::io::{BufReader, Seek, SeekFrom};
    let len = file.metadata()?.len();
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    if std::os::unix::fs::FileExt::read_exact_at(file, &mut header, 0).is_err()
        || !record::check_segment_header(&header)
    {
        return Err(StoreError::Corrupt("segment header"));
    }
    let mut reader = BufReader::with_capacity(1 << 20, file);
    reader.seek(SeekFrom::Start(from))?;
    let mut pos = from;
    let mut buf = Vec::new();
    while pos + RECORD_HEADER_LEN as u64 <= len {
        buf.resize(RECORD_HEADER_LEN, 0);
        reader.read_exact(&mut buf)?;
        let Ok(h) = Header::parse(&buf) else { break };
        let total = h.total_len();
        if pos + total > len {
            break;
        }
        buf.resize(total as usize, 0);
        reader.read_exact(&mut buf[RECORD_HEADER_LEN..])?;
        let Ok(rec) = record::decode(&buf) else { break };
        let Some(mut entry) = Entry::decode(rec.meta) else {
            break;
        };
        if rec.kind == Kind::Put {
            entry.loc = Location::Inline {
                seg,
                off: pos,
                len: total,
            };
        }
        commit::apply_replayed(db, rec.key, entry)?;
        pos += total;
    }
    if pos < len {
        tracing::warn!(
            segment = seg,
            offset = pos,
            cut = len - pos,
            "cutting torn tail of object log"
        );
        file.set_len(pos)?;
        file.sync_all()?;
    }
    Ok(pos)
}

/// Large files without an index reference were written by PUTs that never
/// committed (crash, disconnect); nothing points at them.
fn remove_orphans(db: &DB, dir: &Path) -> Result<(), StoreError> {
    let cf = db.cf_handle(CF_ENGINE).ok_or(StoreError::Stopped)?;
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(id) = name.to_str().and_then(large::parse_name) else {
            continue;
        };
        if db.get_pinned_cf(&cf, large_ref_key(id))?.is_none() {
            fs::remove_file(e.path())?;
        }
    }
    Ok(())
}
