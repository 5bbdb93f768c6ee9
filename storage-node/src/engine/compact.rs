//! Compaction: reclaims log segments whose records were mostly overwritten
//! or deleted. Live records are rewritten at the log's head through the
//! commit thread (which skips any that changed meanwhile), then the old
//! segment is deleted once the index that no longer needs it is durable.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::record::{self, Header, Kind, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};
use super::{segment_path, Cond, Entry, Location, ObjectStore, StoreError};

/// What one compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactReport {
    pub segments_removed: u64,
    pub records_moved: u64,
    pub bytes_reclaimed: u64,
}

/// A live record found in a segment.
struct Live {
    key: Vec<u8>,
    entry: Entry,
    data: Bytes,
}

impl ObjectStore {
    /// Compacts every sealed segment of which at most `max_live` (0..1)
    /// is still referenced by the index.
    pub async fn compact(&self, max_live: f64) -> Result<CompactReport, StoreError> {
        let mut report = CompactReport::default();
        let head = self.head.load(Ordering::Acquire);
        let mut sealed: Vec<u64> = self
            .segments
            .read()
            .map_err(|_| StoreError::Stopped)?
            .keys()
            .copied()
            .filter(|s| *s < head)
            .collect();
        sealed.sort_unstable();
        for seg in sealed {
            let (live, live_bytes, total) = self.scan_segment(seg)?;
            if total > 0 && live_bytes as f64 > max_live * total as f64 {
                continue;
            }
            for l in live {
                let from = l.entry.loc;
                let entry = Entry {
                    loc: Location::Inline {
                        seg: 0,
                        off: 0,
                        len: 0,
                    },
                    ..l.entry
                };
                match self
                    .commit(l.key, entry, l.data, None, Cond::Relocate { from })
                    .await
                {
                    Ok(_) => report.records_moved += 1,
                    Err(StoreError::NotFound) => {} // overwritten meanwhile: nothing to keep
                    Err(e) => return Err(e),
                }
            }
            // The index must not lose the new locations to a power cut
            // once the only other copy of those records is gone.
            self.db.flush_wal(true)?;
            self.segments
                .write()
                .map_err(|_| StoreError::Stopped)?
                .remove(&seg);
            std::fs::remove_file(segment_path(&self.dirs.segments, seg))?;
            std::fs::File::open(&self.dirs.segments)?.sync_all()?;
            report.segments_removed += 1;
            report.bytes_reclaimed += total.saturating_sub(live_bytes);
            tracing::info!(device = %self.device, segment = seg, live_bytes, total, "compacted log segment");
        }
        Ok(report)
    }

    /// Reads a sealed segment; returns its live records (those the index
    /// points at), their bytes, and the segment's record bytes.
    fn scan_segment(&self, seg: u64) -> Result<(Vec<Live>, u64, u64), StoreError> {
        let file = std::fs::File::open(segment_path(&self.dirs.segments, seg))?;
        let len = file.metadata()?.len();
        let mut r = BufReader::with_capacity(1 << 20, file);
        r.seek(SeekFrom::Start(SEGMENT_HEADER_LEN))?;
        let mut pos = SEGMENT_HEADER_LEN;
        let mut live = Vec::new();
        let mut live_bytes = 0;
        let mut buf = Vec::new();
        while pos + RECORD_HEADER_LEN as u64 <= len {
            buf.resize(RECORD_HEADER_LEN, 0);
            r.read_exact(&mut buf)?;
            let h = Header::parse(&buf)?;
            let total = h.total_len();
            buf.resize(total as usize, 0);
            r.read_exact(&mut buf[RECORD_HEADER_LEN..])?;
            let here = Location::Inline {
                seg,
                off: pos,
                len: total,
            };
            pos += total;
            if h.kind != Kind::Put {
                continue; // journal-only: the index holds what it said
            }
            let Ok(rec) = record::decode(&buf) else {
                // A bad copy is not worth keeping; the auditor and the
                // replicator deal with it through the index.
                continue;
            };
            if let Some(entry) = self.get_entry(rec.key)?.filter(|e| e.loc == here) {
                live_bytes += total;
                live.push(Live {
                    key: rec.key.to_vec(),
                    entry,
                    data: Bytes::copy_from_slice(rec.data),
                });
            }
        }
        Ok((live, live_bytes, pos - SEGMENT_HEADER_LEN))
    }
}
