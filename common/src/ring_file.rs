//! Ring files on disk: load one, and keep a loaded ring current.
//!
//! Servers hold a [`RingHandle`]; a background check (or any caller) asks it
//! to reload when the file changes. A new file that fails to read or verify
//! is refused with an error and the previous ring stays in service.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use stratus_ring::{FormatError, Ring};

#[derive(Debug, thiserror::Error)]
pub enum RingFileError {
    #[error("cannot read ring file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ring file {path} is unusable: {source}")]
    Format { path: PathBuf, source: FormatError },
}

/// Reads and verifies a ring file.
pub fn load_ring(path: &Path) -> Result<Ring, RingFileError> {
    let bytes = std::fs::read(path).map_err(|source| RingFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ring::from_bytes(&bytes).map_err(|source| RingFileError::Format {
        path: path.to_path_buf(),
        source,
    })
}

/// What identifies one version of a file without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    modified: SystemTime,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(FileStamp {
        modified: meta.modified().ok()?,
        len: meta.len(),
        inode,
    })
}

/// The current ring of one file, swapped atomically on reload; readers
/// never block and always see a whole, verified ring.
#[derive(Debug)]
pub struct RingHandle {
    path: PathBuf,
    ring: ArcSwap<Ring>,
    loaded: Mutex<Option<FileStamp>>,
}

impl RingHandle {
    /// Loads `path`; fails if it cannot be read or verified.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, RingFileError> {
        let path = path.into();
        let before = stamp(&path);
        let ring = load_ring(&path)?;
        Ok(RingHandle {
            ring: ArcSwap::from_pointee(ring),
            loaded: Mutex::new(before),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ring in service now.
    pub fn current(&self) -> Arc<Ring> {
        self.ring.load_full()
    }

    /// Loads the file again if it changed since the last load. Returns
    /// whether a new ring went into service; on error the old one stays.
    pub fn reload_if_changed(&self) -> Result<bool, RingFileError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        let now = stamp(&self.path);
        if now.is_none() || now == *loaded {
            return Ok(false);
        }
        let ring = load_ring(&self.path);
        // Remember the stamp even on failure so a bad file is reported once.
        *loaded = now;
        let ring = ring?;
        let old = self.ring.load().version();
        self.ring.store(Arc::new(ring));
        tracing::info!(path = %self.path.display(), old, new = self.ring.load().version(), "ring reloaded");
        Ok(true)
    }

    /// Checks for a changed file every `interval` on a background thread for
    /// as long as the handle is alive elsewhere.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> std::thread::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        std::thread::spawn(move || loop {
            std::thread::sleep(interval);
            let Some(handle) = weak.upgrade() else {
                return;
            };
            let span = tracing::info_span!("ring_watch", path = %handle.path.display());
            let _guard = span.enter();
            if let Err(e) = handle.reload_if_changed() {
                tracing::warn!(error = %e, "keeping the previous ring");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::write_atomic;
    use stratus_ring::{NewDevice, RebalanceOptions, RingBuilder};

    fn ring_bytes(devices: usize, seed: u64) -> Vec<u8> {
        let mut b = RingBuilder::new(6, 3.0, 0, [1; 16]).unwrap();
        for i in 0..devices {
            b.add_dev(NewDevice {
                id: None,
                region: 1,
                zone: i as u32,
                ip: "127.0.0.1".into(),
                port: 6200 + i as u16,
                replication_ip: None,
                replication_port: None,
                device: format!("d{i}"),
                weight: 1.0,
                meta: String::new(),
            })
            .unwrap();
        }
        b.rebalance(RebalanceOptions { seed, now: 0 }).unwrap();
        b.to_ring().unwrap().to_bytes()
    }

    #[test]
    fn reloads_a_changed_ring_and_keeps_the_old_one_on_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("object.ring");
        write_atomic(&path, &ring_bytes(3, 1)).unwrap();
        let handle = RingHandle::open(&path).unwrap();
        assert_eq!(handle.current().devices().count(), 3);
        assert!(!handle.reload_if_changed().unwrap());

        write_atomic(&path, &ring_bytes(4, 1)).unwrap();
        assert!(handle.reload_if_changed().unwrap());
        assert_eq!(handle.current().devices().count(), 4);

        let mut bad = ring_bytes(5, 1);
        let mid = bad.len() / 2;
        bad[mid] ^= 0xff;
        write_atomic(&path, &bad).unwrap();
        let err = handle.reload_if_changed().unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        assert_eq!(handle.current().devices().count(), 4);

        write_atomic(&path, &ring_bytes(5, 1)[..100]).unwrap();
        assert!(handle.reload_if_changed().is_err());
        assert_eq!(handle.current().devices().count(), 4);
    }

    #[test]
    fn a_watcher_picks_up_a_new_ring() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("object.ring");
        write_atomic(&path, &ring_bytes(3, 1)).unwrap();
        let handle = Arc::new(RingHandle::open(&path).unwrap());
        let _watch = handle.watch(Duration::from_millis(10));
        write_atomic(&path, &ring_bytes(6, 1)).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while handle.current().devices().count() != 6 {
            assert!(std::time::Instant::now() < deadline, "ring not reloaded");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn opening_a_missing_or_garbage_file_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let err = RingHandle::open(dir.path().join("nope")).unwrap_err();
        assert!(err.to_string().contains("cannot read"), "{err}");
        let p = dir.path().join("garbage");
        std::fs::write(&p, b"hello").unwrap();
        let err = RingHandle::open(&p).unwrap_err();
        assert!(err.to_string().contains("bad magic"), "{err}");
    }
}
