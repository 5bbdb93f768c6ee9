//! On-disk formats of the object engine, version 1.
//!
//! Segment file: a 16-byte header (`STRSEG\0\0`, u32 version, u32 zero),
//! then records back to back. A record is the journal entry of one write:
//!
//! ```text
//! 0  magic "SREC"   4  version u8   5  kind u8   6  zero u16
//! 8  key_len u32    12 meta_len u32 16 data_len u64
//! 24 crc32c u32 over bytes 0..24, key, meta and data
//! 28 key, meta (JSON), data
//! ```
//!
//! Large object file: a 4096-byte header (`STRLARGE`, u32 version, u32
//! chunk size), the data, then one crc32c (u32 LE) per chunk.

use super::StoreError;

pub const SEGMENT_MAGIC: &[u8; 8] = b"STRSEG\0\0";
pub const SEGMENT_HEADER_LEN: u64 = 16;
pub const FORMAT_VERSION: u32 = 1;
const RECORD_MAGIC: &[u8; 4] = b"SREC";
pub const RECORD_HEADER_LEN: usize = 28;

pub const LARGE_MAGIC: &[u8; 8] = b"STRLARGE";
pub const LARGE_HEADER_LEN: u64 = 4096;
pub const LARGE_CHUNK: usize = 1 << 20;

pub fn segment_header() -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

pub fn check_segment_header(h: &[u8]) -> bool {
    h.len() >= SEGMENT_HEADER_LEN as usize
        && &h[..8] == SEGMENT_MAGIC
        && u32::from_le_bytes([h[8], h[9], h[10], h[11]]) == FORMAT_VERSION
}

pub fn large_header() -> Vec<u8> {
    let mut h = vec![0u8; LARGE_HEADER_LEN as usize];
    h[..8].copy_from_slice(LARGE_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(LARGE_CHUNK as u32).to_le_bytes());
    h
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The entry and its data inline.
    Put = 1,
    /// Entry only: a tombstone, a metadata update or a large object.
    Entry = 2,
}

/// Appends an encoded record to `out`; returns its length.
pub fn encode(out: &mut Vec<u8>, kind: Kind, key: &[u8], meta: &[u8], data: &[u8]) -> usize {
    let start = out.len();
    out.extend_from_slice(RECORD_MAGIC);
    out.push(FORMAT_VERSION as u8);
    out.push(kind as u8);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    let mut crc = crc32c::crc32c(&out[start..]);
    for part in [key, meta, data] {
        crc = crc32c::crc32c_append(crc, part);
    }
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(meta);
    out.extend_from_slice(data);
    out.len() - start
}

/// A record's header, parsed and sanity-checked but not yet crc-verified.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub kind: Kind,
    pub key_len: usize,
    pub meta_len: usize,
    pub data_len: u64,
    crc: u32,
}

impl Header {
    pub fn total_len(&self) -> u64 {
        RECORD_HEADER_LEN as u64 + self.key_len as u64 + self.meta_len as u64 + self.data_len
    }

    pub fn parse(h: &[u8]) -> Result<Header, StoreError> {
        let bad = || StoreError::Corrupt("record header");
        if h.len() < RECORD_HEADER_LEN || &h[..4] != RECORD_MAGIC || h[4] != FORMAT_VERSION as u8 {
            return Err(bad());
        }
        let kind = match h[5] {
            1 => Kind::Put,
            2 => Kind::Entry,
            _ => return Err(bad()),
        };
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let key_len = u32_at(8) as usize;
        let meta_len = u32_at(12) as usize;
        let mut d = [0u8; 8];
        d.copy_from_slice(&h[16..24]);
        let data_len = u64::from_le_bytes(d);
        // Keys and entries are bounded by the API's name and metadata limits.
        if key_len > 8192 || meta_len > 1 << 20 || data_len > 1 << 40 {
            return Err(bad());
        }
        Ok(Header {
            kind,
            key_len,
            meta_len,
            data_len,
            crc: u32_at(24),
        })
    }
}

/// A whole record, crc-verified.
#[derive(Debug)]
pub struct Record<'a> {
    pub kind: Kind,
    pub key: &'a [u8],
    pub meta: &'a [u8],
    pub data: &'a [u8],
}

/// Decodes and verifies the record at the start of `buf`.
pub fn decode(buf: &[u8]) -> Result<Record<'_>, StoreError> {
    let h = Header::parse(buf)?;
    let total = usize::try_from(h.total_len()).map_err(|_| StoreError::Corrupt("record length"))?;
    if buf.len() < total {
        return Err(StoreError::Corrupt("record truncated"));
    }
    let mut crc = crc32c::crc32c(&buf[..24]);
    crc = crc32c::crc32c_append(crc, &buf[RECORD_HEADER_LEN..total]);
    if crc != h.crc {
        return Err(StoreError::Corrupt("record checksum"));
    }
    let k = RECORD_HEADER_LEN;
    let m = k + h.key_len;
    let d = m + h.meta_len;
    Ok(Record {
        kind: h.kind,
        key: &buf[k..m],
        meta: &buf[m..d],
        data: &buf[d..total],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roundtrip() {
        let mut buf = Vec::new();
        let n = encode(&mut buf, Kind::Put, b"key", b"{}", b"data!");
        assert_eq!(n, buf.len());
        let r = decode(&buf).unwrap();
        assert_eq!(
            (r.kind, r.key, r.meta, r.data),
            (Kind::Put, &b"key"[..], &b"{}"[..], &b"data!"[..])
        );
    }

    proptest! {
        #[test]
        fn every_bit_flip_is_caught(data in proptest::collection::vec(any::<u8>(), 0..300), bit in any::<usize>()) {
            let mut buf = Vec::new();
            encode(&mut buf, Kind::Put, b"/a/c/o", b"{\"v\":1}", &data);
            let bit = bit % (buf.len() * 8);
            buf[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(decode(&buf).is_err());
        }

        #[test]
        fn garbage_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = decode(&buf);
        }
    }
}
