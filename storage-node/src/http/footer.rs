//! The footer a proxy sends after an object's body (see
//! `stratus_common::backend::FOOTER`): sysmeta known only at the body's
//! end and the proxy's digests of the body.

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use stratus_common::backend;

use super::{header, text, Response};

/// Longest footer (see `stratus_common::backend::FOOTER`).
const MAX_FOOTER: usize = 4096;

pub(super) fn footer_length(parts: &http::request::Parts) -> Result<usize, Response> {
    match header(parts, backend::FOOTER) {
        None => Ok(0),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_FOOTER)
            .ok_or_else(|| text(StatusCode::BAD_REQUEST, "Invalid footer length")),
    }
}

pub(super) fn parse_crc(v: &str) -> Result<u32, Response> {
    u32::from_str_radix(v, 16).map_err(|_| text(StatusCode::BAD_REQUEST, "Invalid data checksum"))
}

/// What a footer may carry: sysmeta, and the proxy's digests of the body.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Footer {
    pub sysmeta: Vec<(String, String)>,
    pub etag: Option<String>,
    pub crc: Option<u32>,
}

pub(super) fn parse_footer(raw: &[u8]) -> Result<Footer, Response> {
    let bad = || text(StatusCode::BAD_REQUEST, "Invalid footer");
    let map: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(raw).map_err(|_| bad())?;
    let mut footer = Footer::default();
    for (k, v) in map {
        let k = k.to_ascii_lowercase();
        match k.as_str() {
            backend::FOOTER_ETAG if v.len() <= 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
                footer.etag = Some(v)
            }
            backend::DATA_CRC32C => footer.crc = Some(parse_crc(&v)?),
            _ if k.starts_with("x-object-sysmeta-")
                && http::HeaderName::from_bytes(k.as_bytes()).is_ok()
                && http::HeaderValue::from_str(&v).is_ok() =>
            {
                footer.sysmeta.push((super::meta::canonical(&k), v));
            }
            _ => return Err(bad()),
        }
    }
    Ok(footer)
}

/// Holds back the last `len` bytes of a body, its footer, until the body
/// ends. Only those bytes are copied; the rest passes through as slices of
/// the frames it came in (a copy of every frame cost a memmove of each
/// replica's whole body).
#[derive(Debug)]
pub(super) struct HoldBack {
    len: usize,
    tail: BytesMut,
}

impl HoldBack {
    pub fn new(len: usize) -> HoldBack {
        HoldBack {
            len,
            tail: BytesMut::new(),
        }
    }

    /// The bytes of body (not footer) that `chunk` frees, in order; either
    /// may be empty.
    pub fn push(&mut self, chunk: Bytes) -> [Bytes; 2] {
        if self.len == 0 {
            return [chunk, Bytes::new()];
        }
        if chunk.len() >= self.len {
            let keep = chunk.len() - self.len;
            let before = std::mem::take(&mut self.tail).freeze();
            self.tail.extend_from_slice(&chunk[keep..]);
            return [before, chunk.slice(..keep)];
        }
        self.tail.extend_from_slice(&chunk);
        let freed = self.tail.len().saturating_sub(self.len);
        [self.tail.split_to(freed).freeze(), Bytes::new()]
    }

    /// What was held back: the footer, if the body was long enough.
    pub fn into_tail(self) -> BytesMut {
        self.tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn holds_back_exactly_the_footer(
            body in proptest::collection::vec(any::<u8>(), 0..300),
            cuts in proptest::collection::vec(0usize..300, 0..12),
            len in 0usize..40,
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(body.len())).collect();
            cuts.push(0);
            cuts.push(body.len());
            cuts.sort_unstable();
            let mut hold = HoldBack::new(len);
            let mut passed = Vec::new();
            for w in cuts.windows(2) {
                for piece in hold.push(Bytes::copy_from_slice(&body[w[0]..w[1]])) {
                    passed.extend_from_slice(&piece);
                }
            }
            let tail = hold.into_tail();
            let split = body.len().saturating_sub(len);
            prop_assert_eq!(&passed[..], &body[..split]);
            prop_assert_eq!(&tail[..], &body[split..]);
        }
    }
}
