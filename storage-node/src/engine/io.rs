//! The two disk back-ends behind one trait: io_uring and plain syscalls.
//!
//! Everything above this module is the same for both, so the test suite runs
//! once per back-end and a benchmark compares them line by line.

use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;

pub type IoFuture<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send>>;

/// Which disk back-end to use (config `engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// io_uring where the kernel allows it, else synchronous.
    #[default]
    Auto,
    IoUring,
    Sync,
}

/// Disk I/O of one device.
pub trait DiskIo: Send + Sync + fmt::Debug {
    fn name(&self) -> &'static str;

    /// Reads exactly `len` bytes at `offset`.
    fn read_at(&self, file: Arc<File>, offset: u64, len: usize) -> IoFuture<Vec<u8>> {
        self.read_into(file, offset, vec![0; len], 0)
    }

    /// Fills `buf[start..]` from `offset` and hands `buf` back (an O_DIRECT
    /// read needs memory aligned where `start` is).
    fn read_into(
        &self,
        file: Arc<File>,
        offset: u64,
        buf: Vec<u8>,
        start: usize,
    ) -> IoFuture<Vec<u8>>;

    /// Writes all of `buf` at `offset` (not yet durable).
    fn write_at(&self, file: Arc<File>, offset: u64, buf: Bytes) -> IoFuture<()>;

    /// Group commit, called from the device's commit thread: makes `first`
    /// durable, then writes `bufs` back to back at `offset` of `log` and
    /// makes that durable. Blocks until done.
    fn commit(&self, first: &[&File], log: &File, offset: u64, bufs: &[&[u8]]) -> io::Result<()>;
}

/// Opens the back-end `kind` asks for; `Auto` falls back to synchronous
/// where io_uring cannot be set up (old kernel, seccomp, sysctl).
pub fn open(kind: EngineKind, device: &str) -> io::Result<Arc<dyn DiskIo>> {
    match kind {
        EngineKind::Sync => Ok(Arc::new(SyncIo)),
        EngineKind::IoUring => Ok(Arc::new(super::uring::UringIo::start(device)?)),
        EngineKind::Auto => match super::uring::UringIo::start(device) {
            Ok(io) => Ok(Arc::new(io)),
            Err(e) => {
                tracing::warn!(device, error = %e, "io_uring unavailable, using the synchronous engine");
                Ok(Arc::new(SyncIo))
            }
        },
    }
}

/// Plain `pread`/`pwrite`/`fdatasync` on tokio's blocking pool.
#[derive(Debug)]
pub struct SyncIo;

impl DiskIo for SyncIo {
    fn name(&self) -> &'static str {
        "sync"
    }

    fn read_into(
        &self,
        file: Arc<File>,
        offset: u64,
        mut buf: Vec<u8>,
        start: usize,
    ) -> IoFuture<Vec<u8>> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let into = buf.get_mut(start..).unwrap_or_default();
                file.read_exact_at(into, offset)?;
                Ok(buf)
            })
            .await
            .map_err(io::Error::other)?
        })
    }

    fn write_at(&self, file: Arc<File>, offset: u64, buf: Bytes) -> IoFuture<()> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || file.write_all_at(&buf, offset))
                .await
                .map_err(io::Error::other)?
        })
    }

    fn commit(&self, first: &[&File], log: &File, offset: u64, bufs: &[&[u8]]) -> io::Result<()> {
        for f in first {
            f.sync_data()?;
        }
        let mut at = offset;
        for b in bufs {
            log.write_all_at(b, at)?;
            at += b.len() as u64;
        }
        log.sync_data()
    }
}
