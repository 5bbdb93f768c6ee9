//! Large objects: one file each, written in 1 MiB chunks, each chunk's
//! crc32c kept in a trailer so any range can be verified on read.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::io::DiskIo;
use super::record::{large_header, LARGE_CHUNK, LARGE_HEADER_LEN, LARGE_MAGIC};
use super::StoreError;

pub fn path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016x}.large"))
}

pub fn parse_name(name: &str) -> Option<u64> {
    name.strip_suffix(".large")
        .and_then(|h| u64::from_str_radix(h, 16).ok())
}

/// Streams one object into its own file; nothing refers to the file until
/// the commit that makes it durable.
#[derive(Debug)]
pub struct LargeWriter {
    id: u64,
    path: PathBuf,
    file: Arc<File>,
    /// The same file opened with O_DIRECT, where the filesystem allows:
    /// whole chunks go to the disk without a copy into the page cache,
    /// which costs more CPU than anything else in a large upload (about
    /// 2.6 CPU-s per GiB here, against 0.1 s direct). The last, partial
    /// chunk and the trailer go through `file`.
    direct: Option<Arc<File>>,
    io: Arc<dyn DiskIo>,
    pending: ChunkBuf,
    /// The chunk being written while the next one fills.
    in_flight: Option<tokio::task::JoinHandle<std::io::Result<bool>>>,
    /// crc32c of everything written so far (from the chunks' crcs).
    crc: u32,
    written: u64,
    crcs: Vec<u8>,
    committed: bool,
}

impl LargeWriter {
    /// A new file; `size`, where known, is allocated up front: the chunk
    /// writes then never extend the file, so io_uring issues them inline
    /// rather than handing each to a worker thread, and the file is laid
    /// out in few extents.
    pub fn create(
        dir: &Path,
        io: Arc<dyn DiskIo>,
        size: Option<u64>,
    ) -> Result<LargeWriter, StoreError> {
        let mut raw = [0u8; 8];
        getrandom::fill(&mut raw)
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?;
        let id = u64::from_le_bytes(raw);
        let path = path(dir, id);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(StoreError::from_io)?;
        std::os::unix::fs::FileExt::write_all_at(&file, &large_header(), 0)
            .map_err(StoreError::from_io)?;
        if let Some(size) = size {
            let chunks = size.div_ceil(LARGE_CHUNK as u64);
            let total = LARGE_HEADER_LEN + size + 4 * chunks + LARGE_MAGIC.len() as u64;
            // SAFETY: fallocate only reads the descriptor and integers;
            // `file` is open for the whole call. Failure (a filesystem
            // without it, no space) only loses the optimisation: the
            // writes report a full disk themselves.
            unsafe {
                libc::fallocate(
                    std::os::fd::AsRawFd::as_raw_fd(&file),
                    0,
                    0,
                    i64::try_from(total).unwrap_or(i64::MAX),
                );
            }
        }
        let direct = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
            .ok()
            .map(Arc::new);
        Ok(LargeWriter {
            id,
            path,
            file: Arc::new(file),
            direct,
            io,
            pending: ChunkBuf::new(),
            in_flight: None,
            crc: 0,
            written: 0,
            crcs: Vec::new(),
            committed: false,
        })
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn file(&self) -> Arc<File> {
        // Once handed to a commit, the file belongs to the index.
        self.file.clone()
    }

    pub fn mark_committed(&mut self) {
        self.committed = true;
    }

    /// Buffers `data`, writing out every full chunk.
    pub async fn write(&mut self, mut data: &[u8]) -> Result<(), StoreError> {
        while !data.is_empty() {
            let take = (LARGE_CHUNK - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == LARGE_CHUNK {
                self.flush_chunk().await?;
            }
        }
        Ok(())
    }

    /// The crc32c of the data written so far (all of it after `finish`).
    pub fn crc32c(&self) -> u32 {
        self.crc
    }

    /// Starts writing the filled chunk and waits for the one before it, so
    /// the body keeps arriving while a chunk is on its way to the disk.
    async fn flush_chunk(&mut self) -> Result<(), StoreError> {
        let chunk = std::mem::replace(&mut self.pending, ChunkBuf::new()).freeze();
        let chunk_crc = crc32c::crc32c(&chunk);
        self.crc = crc32c::crc32c_combine(self.crc, chunk_crc, chunk.len());
        self.crcs.extend_from_slice(&chunk_crc.to_le_bytes());
        let at = LARGE_HEADER_LEN + self.written;
        self.written += chunk.len() as u64;
        // Whole chunks start and end on 4 KiB boundaries of the file; the
        // buffer must be aligned too.
        let direct = self.direct.clone().filter(|_| chunk.len() == LARGE_CHUNK);
        let write = write_chunk(self.io.clone(), direct, self.file.clone(), at, chunk);
        let previous = self.in_flight.replace(tokio::spawn(write));
        self.wait_written(previous).await
    }

    async fn wait_written(
        &mut self,
        write: Option<tokio::task::JoinHandle<std::io::Result<bool>>>,
    ) -> Result<(), StoreError> {
        let Some(write) = write else {
            return Ok(());
        };
        let direct_worked = write
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
            .map_err(StoreError::from_io)?;
        if !direct_worked {
            self.direct = None;
        }
        Ok(())
    }

    /// Writes the last chunk and the checksum trailer; returns the size.
    pub async fn finish(&mut self) -> Result<u64, StoreError> {
        if !self.pending.is_empty() {
            self.flush_chunk().await?;
        }
        let last = self.in_flight.take();
        self.wait_written(last).await?;
        let mut trailer = std::mem::take(&mut self.crcs);
        trailer.extend_from_slice(LARGE_MAGIC);
        let at = LARGE_HEADER_LEN + self.written;
        self.io
            .write_at(self.file.clone(), at, Bytes::from(trailer))
            .await
            .map_err(StoreError::from_io)?;
        Ok(self.written)
    }
}

/// Writes one chunk, directly where given a direct descriptor; answers
/// whether direct I/O worked (a filesystem may refuse it with EINVAL, and
/// then the chunk goes through the page cache).
async fn write_chunk(
    io: Arc<dyn DiskIo>,
    direct: Option<Arc<File>>,
    file: Arc<File>,
    at: u64,
    chunk: Bytes,
) -> std::io::Result<bool> {
    let Some(d) = direct else {
        return io.write_at(file, at, chunk).await.map(|()| true);
    };
    match io.write_at(d, at, chunk.clone()).await {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            io.write_at(file, at, chunk).await.map(|()| false)
        }
        r => r.map(|()| true),
    }
}

/// A chunk being filled, in memory aligned for O_DIRECT (4 KiB) without
/// unsafe code: a buffer one page larger, used from where it is aligned.
#[derive(Debug)]
struct ChunkBuf {
    buf: Vec<u8>,
    start: usize,
}

impl ChunkBuf {
    const ALIGN: usize = 4096;

    fn new() -> ChunkBuf {
        let mut buf: Vec<u8> = Vec::with_capacity(LARGE_CHUNK + Self::ALIGN);
        let start = buf.as_ptr().align_offset(Self::ALIGN).min(Self::ALIGN);
        buf.resize(start, 0);
        ChunkBuf { buf, start }
    }

    /// `len` zeroed bytes to read into, aligned from the returned offset.
    fn zeroed(len: usize) -> (Vec<u8>, usize) {
        let mut b = ChunkBuf::new();
        b.buf.resize(b.start + len, 0);
        (b.buf, b.start)
    }

    fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn extend_from_slice(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The data, without copying (a write that finds it unaligned after
    /// all fails with EINVAL and goes through the page cache instead).
    fn freeze(self) -> Bytes {
        let (start, end) = (self.start, self.buf.len());
        Bytes::from(self.buf).slice(start..end)
    }
}

impl Drop for LargeWriter {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A read that ends early found the file shorter than its object.
fn read_error(e: std::io::Error) -> StoreError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        StoreError::Corrupt("large object file truncated")
    } else {
        StoreError::Io(e)
    }
}

/// Objects at least this large are read with O_DIRECT: caching them would
/// evict more than it saves (Swift's `keep_cache_size` reasoning), and a
/// read from the page cache costs a kernel copy that a direct read,
/// landing in our buffer, does not. Smaller ones may stay hot in the cache.
const DIRECT_READ_FROM: u64 = 8 << 20;

/// Reads a large object chunk by chunk, verifying each chunk's checksum.
#[derive(Debug)]
pub struct LargeReader {
    file: Arc<File>,
    /// The same file with O_DIRECT, for whole chunks of big objects.
    direct: Option<Arc<File>>,
    size: u64,
    io: Arc<dyn DiskIo>,
    /// The trailer's per-chunk crc32cs, read once on first use rather than
    /// four bytes per chunk read.
    crcs: tokio::sync::OnceCell<Vec<u8>>,
}

impl LargeReader {
    pub fn open(
        dir: &Path,
        id: u64,
        size: u64,
        io: Arc<dyn DiskIo>,
    ) -> Result<LargeReader, StoreError> {
        let file = File::open(path(dir, id)).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::Corrupt("large object file missing")
            } else {
                StoreError::Io(e)
            }
        })?;
        let direct = (size >= DIRECT_READ_FROM)
            .then(|| {
                OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_DIRECT)
                    .open(path(dir, id))
                    .ok()
            })
            .flatten()
            .map(Arc::new);
        if direct.is_none() {
            // Reads go front to back: let the kernel read ahead further.
            // SAFETY: posix_fadvise only reads the descriptor and integers;
            // `file` is open for the whole call.
            unsafe {
                libc::posix_fadvise(
                    std::os::fd::AsRawFd::as_raw_fd(&file),
                    0,
                    0,
                    libc::POSIX_FADV_SEQUENTIAL,
                );
            }
        }
        Ok(LargeReader {
            file: Arc::new(file),
            direct,
            size,
            io,
            crcs: tokio::sync::OnceCell::new(),
        })
    }

    pub fn chunks(&self) -> u64 {
        self.size.div_ceil(LARGE_CHUNK as u64)
    }

    pub fn chunk_range(&self, start: u64, end: u64) -> std::ops::Range<u64> {
        start / LARGE_CHUNK as u64..end.div_ceil(LARGE_CHUNK as u64)
    }

    /// The per-chunk crc32cs from the trailer, 4 bytes each.
    async fn chunk_crcs(&self) -> Result<&[u8], StoreError> {
        let crcs = self
            .crcs
            .get_or_try_init(|| {
                let len = 4 * self.chunks() as usize;
                self.io
                    .read_at(self.file.clone(), LARGE_HEADER_LEN + self.size, len)
            })
            .await
            .map_err(read_error)?;
        Ok(crcs)
    }

    /// The crc32c of the whole object, from the per-chunk checksums in the
    /// trailer (the data is not read: each chunk is checked as it is).
    pub async fn crc32c(&self) -> Result<u32, StoreError> {
        let mut crc = 0;
        let crcs = self
            .chunk_crcs()
            .await
            .map_err(|_| StoreError::Corrupt("large object trailer"))?;
        for (i, c) in crcs.chunks_exact(4).enumerate() {
            let start = i as u64 * LARGE_CHUNK as u64;
            let len = (self.size - start).min(LARGE_CHUNK as u64) as usize;
            let chunk_crc = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            crc = crc32c::crc32c_combine(crc, chunk_crc, len);
        }
        Ok(crc)
    }

    /// Chunk `i` (its offset in the object is `i * 1 MiB`), verified.
    pub async fn read_chunk(&self, i: u64) -> Result<Bytes, StoreError> {
        let start = i * LARGE_CHUNK as u64;
        if start >= self.size {
            return Err(StoreError::Corrupt("chunk beyond object"));
        }
        let len = (self.size - start).min(LARGE_CHUNK as u64) as usize;
        let at = LARGE_HEADER_LEN + start;
        let crc = self.chunk_crcs().await?;
        let crc = &crc[4 * i as usize..4 * i as usize + 4];
        // Whole chunks sit on 4 KiB boundaries, like the writer left them;
        // None: read through the page cache (a small object, a partial
        // chunk, or a filesystem that refuses O_DIRECT after all).
        let direct = match self.direct.clone().filter(|_| len == LARGE_CHUNK) {
            Some(direct) => {
                let (buf, from) = ChunkBuf::zeroed(len);
                match self.io.read_into(direct, at, buf, from).await {
                    Ok(buf) => Some(Ok(Bytes::from(buf).slice(from..))),
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => None,
                    Err(e) => Some(Err(e)),
                }
            }
            None => None,
        };
        let data = match direct {
            Some(read) => read,
            None => self
                .io
                .read_at(self.file.clone(), at, len)
                .await
                .map(Bytes::from),
        }
        .map_err(read_error)?;
        if crc32c::crc32c(&data).to_le_bytes()[..] != *crc {
            return Err(StoreError::Corrupt("large object chunk checksum"));
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::io::{self, EngineKind};

    #[tokio::test]
    async fn chunks_written_directly_read_back_with_their_crcs() {
        let dir = tempfile::tempdir().unwrap();
        for (kind, hinted) in [(EngineKind::Sync, true), (EngineKind::Auto, false)] {
            let io = io::open(kind, "t").unwrap();
            // Big enough to be read with O_DIRECT, with a partial last chunk.
            let data: Vec<u8> = (0..(DIRECT_READ_FROM as usize + 12_345))
                .map(|i| (i * 31 % 251) as u8)
                .collect();
            let mut w =
                LargeWriter::create(dir.path(), io.clone(), hinted.then_some(data.len() as u64))
                    .unwrap();
            for piece in data.chunks(70_000) {
                w.write(piece).await.unwrap();
            }
            assert_eq!(w.finish().await.unwrap(), data.len() as u64);
            assert_eq!(w.crc32c(), crc32c::crc32c(&data));
            w.mark_committed();
            let r = LargeReader::open(dir.path(), w.id(), data.len() as u64, io).unwrap();
            assert!(r.direct.is_some());
            assert_eq!(r.crc32c().await.unwrap(), crc32c::crc32c(&data));
            let mut back = Vec::new();
            for i in 0..r.chunks() {
                back.extend_from_slice(&r.read_chunk(i).await.unwrap());
            }
            assert_eq!(back, data);
        }
        let b = ChunkBuf::new();
        assert!(b.is_empty());
        assert_eq!(b.freeze().as_ptr() as usize % ChunkBuf::ALIGN, 0);
    }
}
