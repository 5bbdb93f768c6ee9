//! A streaming reader of tar archives (ustar, GNU long names, PAX `path`
//! records), for `?extract-archive`: members come one at a time and their
//! data is read in pieces, so an archive of any size is never held.
//! Headers are checked (checksum, octal fields); anything malformed is an
//! error, not a panic.

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};

const BLOCK: usize = 512;
/// GNU long names and PAX headers larger than this are refused.
const MAX_META: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TarError {
    #[error("the archive ended early")]
    Truncated,
    #[error("bad tar header: {0}")]
    Header(&'static str),
    #[error("reading the archive failed")]
    Io,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Directory,
    /// Links, devices, FIFOs: not extracted.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub path: String,
    pub size: u64,
    pub kind: Kind,
}

#[derive(Debug)]
pub struct TarReader<R> {
    inner: R,
    /// Data bytes of the current member not read yet.
    left: u64,
    /// Padding after the current member's data.
    padding: u64,
    done: bool,
}

/// An octal (or GNU base-256) numeric field.
fn number(field: &[u8]) -> Result<u64, TarError> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut n: u64 = u64::from(field[0] & 0x7f);
        for b in &field[1..] {
            n = n
                .checked_mul(256)
                .and_then(|n| n.checked_add(u64::from(*b)))
                .ok_or(TarError::Header("number too large"))?;
        }
        return Ok(n);
    }
    let text: String = field
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect();
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).map_err(|_| TarError::Header("bad number"))
}

fn text(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn checksum_ok(h: &[u8; BLOCK]) -> bool {
    let Ok(want) = number(&h[148..156]) else {
        return false;
    };
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(*b)
            }
        })
        .sum();
    sum == want
}

/// The `path` record of a PAX extended header (`<len> path=<value>\n`…).
fn pax_path(data: &[u8]) -> Option<String> {
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        let record = rest.get(space + 1..len)?;
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(v) = record.strip_prefix(b"path=") {
            return String::from_utf8(v.to_vec()).ok();
        }
        rest = &rest[len..];
    }
    None
}

impl<R: AsyncRead + Unpin + Send> TarReader<R> {
    pub fn new(inner: R) -> TarReader<R> {
        TarReader {
            inner,
            left: 0,
            padding: 0,
            done: false,
        }
    }

    async fn fill(&mut self, buf: &mut [u8]) -> Result<(), TarError> {
        match self.inner.read_exact(buf).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(TarError::Truncated),
            Err(_) => Err(TarError::Io),
        }
    }

    async fn skip(&mut self, mut n: u64) -> Result<(), TarError> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let k = n.min(buf.len() as u64) as usize;
            self.fill(&mut buf[..k]).await?;
            n -= k as u64;
        }
        Ok(())
    }

    /// A long name's or PAX header's data, whole (bounded).
    async fn meta(&mut self, size: u64) -> Result<Vec<u8>, TarError> {
        if size > MAX_META {
            return Err(TarError::Header("extended header too large"));
        }
        let mut data = vec![0u8; size as usize];
        self.fill(&mut data).await?;
        self.skip(size.next_multiple_of(BLOCK as u64) - size)
            .await?;
        Ok(data)
    }

    /// The next member, after skipping what is left of the current one;
    /// None at the end of the archive.
    pub async fn next(&mut self) -> Result<Option<Member>, TarError> {
        let mut long_name: Option<String> = None;
        loop {
            if self.done {
                return Ok(None);
            }
            self.skip(self.left + self.padding).await?;
            self.left = 0;
            self.padding = 0;
            let mut h = [0u8; BLOCK];
            match self.inner.read_exact(&mut h).await {
                Ok(_) => {}
                // An archive cut right after a member ends like one.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.done = true;
                    return Ok(None);
                }
                Err(_) => return Err(TarError::Io),
            }
            if h.iter().all(|b| *b == 0) {
                self.done = true;
                return Ok(None);
            }
            if !checksum_ok(&h) {
                return Err(TarError::Header("checksum mismatch"));
            }
            let size = number(&h[124..136])?;
            match h[156] {
                b'L' => {
                    let data = self.meta(size).await?;
                    long_name = Some(text(&data));
                    continue;
                }
                b'x' => {
                    let data = self.meta(size).await?;
                    if let Some(p) = pax_path(&data) {
                        long_name = Some(p);
                    }
                    continue;
                }
                b'g' | b'K' => {
                    self.meta(size).await?;
                    continue;
                }
                _ => {}
            }
            let kind = match h[156] {
                b'0' | 0 | b'7' => Kind::File,
                b'5' => Kind::Directory,
                _ => Kind::Other,
            };
            let path = long_name.take().unwrap_or_else(|| {
                let name = text(&h[0..100]);
                let prefix = if &h[257..262] == b"ustar" {
                    text(&h[345..500])
                } else {
                    String::new()
                };
                if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                }
            });
            // Links and such carry no data of their own in practice, but
            // whatever their size says is skipped all the same.
            self.left = size;
            self.padding = size.next_multiple_of(BLOCK as u64) - size;
            return Ok(Some(Member { path, size, kind }));
        }
    }

    /// The next piece of the current member's data; None at its end.
    pub async fn data(&mut self) -> Result<Option<Bytes>, TarError> {
        if self.left == 0 {
            return Ok(None);
        }
        let n = self.left.min(64 * 1024) as usize;
        let mut buf = vec![0u8; n];
        self.fill(&mut buf).await?;
        self.left -= n as u64;
        Ok(Some(Bytes::from(buf)))
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A ustar header for `name` of `size` bytes and type `kind`.
    pub fn header(name: &str, size: u64, kind: u8) -> [u8; BLOCK] {
        let mut h = [0u8; BLOCK];
        h[..name.len().min(100)].copy_from_slice(&name.as_bytes()[..name.len().min(100)]);
        h[100..107].copy_from_slice(b"0000644");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h
    }

    /// An archive of (name, data, type) members.
    pub fn archive(members: &[(&str, &[u8], u8)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data, kind) in members {
            if name.len() > 100 {
                let long = format!("{name}\0");
                out.extend_from_slice(&header("././@LongLink", long.len() as u64, b'L'));
                out.extend_from_slice(long.as_bytes());
                out.resize(out.len().next_multiple_of(BLOCK), 0);
            }
            out.extend_from_slice(&header(name, data.len() as u64, *kind));
            out.extend_from_slice(data);
            out.resize(out.len().next_multiple_of(BLOCK), 0);
        }
        out.extend_from_slice(&[0u8; BLOCK * 2]);
        out
    }

    async fn read_all(raw: Vec<u8>) -> Result<Vec<(Member, Vec<u8>)>, TarError> {
        let mut r = TarReader::new(std::io::Cursor::new(raw));
        let mut out = Vec::new();
        while let Some(m) = r.next().await? {
            let mut data = Vec::new();
            while let Some(d) = r.data().await? {
                data.extend_from_slice(&d);
            }
            out.push((m, data));
        }
        Ok(out)
    }

    #[tokio::test]
    async fn members_long_names_and_kinds() {
        let long = format!("deep/{}", "n".repeat(150));
        let raw = archive(&[
            ("c/", b"", b'5'),
            ("c/a.txt", b"hello", b'0'),
            (&long, b"x", b'0'),
            ("c/link", b"", b'2'),
        ]);
        let got = read_all(raw).await.unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].0.kind, Kind::Directory);
        assert_eq!(
            (got[1].0.path.as_str(), got[1].1.as_slice()),
            ("c/a.txt", &b"hello"[..])
        );
        assert_eq!(got[2].0.path, long);
        assert_eq!(got[3].0.kind, Kind::Other);
        // Unread data is skipped on the way to the next member.
        let mut r = TarReader::new(std::io::Cursor::new(archive(&[
            ("a", &[7; 3000], b'0'),
            ("b", b"z", b'0'),
        ])));
        assert_eq!(r.next().await.unwrap().unwrap().path, "a");
        assert_eq!(r.next().await.unwrap().unwrap().path, "b");
        assert_eq!(r.data().await.unwrap().unwrap().as_ref(), b"z");
    }

    #[tokio::test]
    async fn broken_archives_are_errors() {
        let mut raw = archive(&[("a", b"data", b'0')]);
        raw[0] ^= 1; // the checksum no longer holds
        assert_eq!(
            read_all(raw).await.unwrap_err(),
            TarError::Header("checksum mismatch")
        );
        let raw = archive(&[("a", &[1; 2000], b'0')]);
        assert_eq!(
            read_all(raw[..1200].to_vec()).await.unwrap_err(),
            TarError::Truncated
        );
        assert_eq!(pax_path(b"18 path=a/b/c.txt\n"), Some("a/b/c.txt".into()));
        assert_eq!(pax_path(b"999 path=x\n"), None);
        assert_eq!(number(b"0000012\0").unwrap(), 10);
        assert!(number(b"12x").is_err());
    }

    proptest! {
        #[test]
        fn garbage_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let _ = rt.block_on(read_all(raw));
        }

        #[test]
        fn headers_with_garbage_never_panic(name in "\\PC{0,50}", tail in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut raw = header(&name, tail.len() as u64, b'0').to_vec();
            raw.extend_from_slice(&tail);
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let _ = rt.block_on(read_all(raw));
        }
    }
}
