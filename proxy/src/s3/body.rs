//! An S3 request body as the object store takes it: `aws-chunked` bodies
//! decoded (chunk signatures checked), plain bodies checked against their
//! signed SHA-256, and the length the client declared checked — each
//! failing the upload before the last byte reaches the replicas, so a bad
//! body is never stored.

use std::collections::VecDeque;

use bytes::Bytes;
use http::StatusCode;
use sha2::{Digest, Sha256};

use super::checksum::{Algorithm, Hasher};
use super::chunked::{ChunkDecoder, ChunkError};
use super::errors::S3Error;
use crate::replicas::UploadSource;

#[derive(Debug)]
enum Decode {
    Plain {
        /// The signed SHA-256 (hex) and the running hash.
        sha256: Option<(String, Sha256)>,
    },
    Chunked(Option<ChunkDecoder>),
}

#[derive(Debug)]
pub struct S3Body<S> {
    inner: S,
    decode: Decode,
    pending: VecDeque<Bytes>,
    /// The length the body must come to (Content-Length, or
    /// x-amz-decoded-content-length for aws-chunked).
    expected_len: Option<u64>,
    seen: u64,
    done: bool,
    /// Why the body was refused, for the S3 error.
    pub failure: Option<S3Error>,
    /// Trailer lines of an aws-chunked body, once it ended.
    pub trailers: Vec<(String, String)>,
    /// The additional checksum being computed and the value it must have
    /// (None: from a trailer, or none given).
    checksum: Option<(Hasher, Option<String>)>,
    /// The additional checksum of the whole body, once it ended.
    pub checksum_value: Option<(Algorithm, String)>,
    /// The newest piece, released only once more arrives or all checks
    /// passed.
    held: Option<Bytes>,
}

impl<S: UploadSource> S3Body<S> {
    /// A plain body; `sha256` is the signed hash, if the payload is signed.
    pub fn plain(inner: S, sha256: Option<String>, expected_len: Option<u64>) -> S3Body<S> {
        S3Body::new(
            inner,
            Decode::Plain {
                sha256: sha256.map(|h| (h, Sha256::new())),
            },
            expected_len,
        )
    }

    /// An aws-chunked body decoded by `decoder`.
    pub fn chunked(inner: S, decoder: ChunkDecoder, decoded_len: Option<u64>) -> S3Body<S> {
        S3Body::new(inner, Decode::Chunked(Some(decoder)), decoded_len)
    }

    fn new(inner: S, decode: Decode, expected_len: Option<u64>) -> S3Body<S> {
        S3Body {
            inner,
            decode,
            pending: VecDeque::new(),
            expected_len,
            seen: 0,
            done: false,
            failure: None,
            trailers: Vec::new(),
            checksum: None,
            checksum_value: None,
            held: None,
        }
    }

    /// Also computes `algorithm` over the body and, at its end, checks it
    /// against `expected` or the trailer of that name.
    pub fn with_checksum(mut self, algorithm: Algorithm, expected: Option<String>) -> S3Body<S> {
        self.checksum = Some((Hasher::new(algorithm), expected));
        self
    }

    fn fail(&mut self, e: S3Error) -> Option<Result<Bytes, StatusCode>> {
        let status = e.status();
        self.failure = Some(e);
        self.done = true;
        self.held = None;
        Some(Err(status))
    }

    fn take(&mut self, data: Bytes) -> Option<Result<Bytes, StatusCode>> {
        self.seen += data.len() as u64;
        if let Some((h, _)) = self.checksum.as_mut() {
            h.update(&data);
        }
        if self.expected_len.is_some_and(|n| self.seen > n) {
            return self.fail(S3Error::new(
                "IncompleteBody",
                "The request body is longer than declared",
            ));
        }
        Some(Ok(data))
    }

    /// The body ended: checks what can only be checked at the end.
    fn end(&mut self) -> Option<Result<Bytes, StatusCode>> {
        self.done = true;
        match &mut self.decode {
            Decode::Plain { sha256 } => {
                if let Some((want, hasher)) = sha256.take() {
                    if hex::encode(hasher.finalize()) != want {
                        return self.fail(S3Error::new(
                            "XAmzContentSHA256Mismatch",
                            "The provided 'x-amz-content-sha256' header does not match what was computed.",
                        ));
                    }
                }
            }
            Decode::Chunked(decoder) => match decoder.take().map(ChunkDecoder::finish) {
                Some(Ok(trailers)) => self.trailers = trailers,
                Some(Err(e)) => return self.fail(chunk_error(e)),
                None => {}
            },
        }
        if self.expected_len.is_some_and(|n| n != self.seen) {
            return self.fail(S3Error::new(
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header",
            ));
        }
        if let Some((hasher, expected)) = self.checksum.take() {
            let alg = hasher.algorithm;
            let value = hasher.finish();
            let expected = expected.or_else(|| {
                let name = alg.header();
                self.trailers
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            });
            if expected.is_some_and(|e| e != value) {
                return self.fail(S3Error::new(
                    "BadDigest",
                    format!(
                        "The {} you specified did not match the calculated checksum.",
                        alg.name()
                    ),
                ));
            }
            self.checksum_value = Some((alg, value));
        }
        None
    }
}

fn chunk_error(e: ChunkError) -> S3Error {
    match e {
        ChunkError::Signature => S3Error::signature_mismatch(),
        ChunkError::Truncated => S3Error::new("IncompleteBody", "The aws-chunked body ended early"),
        ChunkError::Malformed(what) => S3Error::new(
            "InvalidRequest",
            format!("Malformed aws-chunked body: {what}"),
        ),
    }
}

/// Room for one checksum sysmeta header in a footer.
const CHECKSUM_FOOTER: usize = 160;

impl<S: UploadSource> UploadSource for S3Body<S> {
    /// A checksum that comes in a trailer is kept through a footer.
    fn footer_len(&self) -> usize {
        match &self.checksum {
            Some((_, None)) => CHECKSUM_FOOTER,
            _ => 0,
        }
    }

    fn footer(&self) -> Vec<(String, String)> {
        self.checksum_value
            .iter()
            .map(|(alg, v)| (alg.sysmeta(), v.clone()))
            .collect()
    }

    async fn next_chunk(&mut self) -> Option<Result<Bytes, StatusCode>> {
        loop {
            if let Some(d) = self.pending.pop_front() {
                match self.take(d) {
                    // The newest piece is held back until the next one (or
                    // the checks at the end) lets it go: replicas that had
                    // every byte would store the object before a failed
                    // end-of-body check could stop them.
                    Some(Ok(d)) => match self.held.replace(d) {
                        Some(prev) => return Some(Ok(prev)),
                        None => continue,
                    },
                    other => return other,
                }
            }
            if self.done {
                return self.held.take().map(Ok);
            }
            let raw = match self.inner.next_chunk().await {
                None => match self.end() {
                    Some(failed) => return Some(failed),
                    None => continue,
                },
                Some(Err(s)) => {
                    self.done = true;
                    self.held = None;
                    return Some(Err(s));
                }
                Some(Ok(raw)) => raw,
            };
            match &mut self.decode {
                Decode::Plain { sha256 } => {
                    if let Some((_, h)) = sha256 {
                        h.update(&raw);
                    }
                    self.pending.push_back(raw);
                }
                Decode::Chunked(Some(decoder)) => match decoder.push(&raw) {
                    Ok(out) => self.pending.extend(out),
                    Err(e) => return self.fail(chunk_error(e)),
                },
                Decode::Chunked(None) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client body in given pieces.
    struct Pieces(VecDeque<Bytes>);

    impl UploadSource for Pieces {
        async fn next_chunk(&mut self) -> Option<Result<Bytes, StatusCode>> {
            self.0.pop_front().map(Ok)
        }
    }

    fn pieces(parts: &[&[u8]]) -> Pieces {
        Pieces(parts.iter().map(|p| Bytes::copy_from_slice(p)).collect())
    }

    async fn drain<S: UploadSource>(b: &mut S3Body<S>) -> Result<Vec<u8>, StatusCode> {
        let mut out = Vec::new();
        while let Some(c) = b.next_chunk().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn plain_bodies_are_hash_and_length_checked() {
        let good = hex::encode(Sha256::digest(b"hello world"));
        let mut b = S3Body::plain(pieces(&[b"hello ", b"world"]), Some(good.clone()), Some(11));
        assert_eq!(run(drain(&mut b)).unwrap(), b"hello world");
        let mut b = S3Body::plain(pieces(&[b"hello ", b"w0rld"]), Some(good), Some(11));
        assert_eq!(run(drain(&mut b)), Err(StatusCode::BAD_REQUEST));
        assert_eq!(b.failure.unwrap().code, "XAmzContentSHA256Mismatch");
        let mut b = S3Body::plain(pieces(&[b"hello"]), None, Some(11));
        assert!(run(drain(&mut b)).is_err());
        assert_eq!(b.failure.unwrap().code, "IncompleteBody");
        let mut b = S3Body::plain(pieces(&[b"hello world!"]), None, Some(11));
        assert!(run(drain(&mut b)).is_err());
    }

    #[test]
    fn the_last_piece_waits_for_the_checks() {
        let wrong = hex::encode(Sha256::digest(b"something else"));
        let mut b = S3Body::plain(pieces(&[b"hello ", b"world"]), Some(wrong), Some(11));
        let mut released = Vec::new();
        let outcome = run(async {
            while let Some(c) = b.next_chunk().await {
                match c {
                    Ok(d) => released.extend_from_slice(&d),
                    Err(s) => return Err(s),
                }
            }
            Ok(())
        });
        assert!(outcome.is_err());
        assert_eq!(released, b"hello ", "the end was held back");
    }

    #[test]
    fn checksums_from_headers_and_trailers() {
        // CRC32 of "hello world" is 0x0D4A1185.
        let crc = "DUoRhQ==".to_string();
        let mut b = S3Body::plain(pieces(&[b"hello ", b"world"]), None, Some(11))
            .with_checksum(Algorithm::Crc32, Some(crc.clone()));
        assert_eq!(run(drain(&mut b)).unwrap(), b"hello world");
        assert_eq!(b.checksum_value, Some((Algorithm::Crc32, crc.clone())));
        let mut b = S3Body::plain(pieces(&[b"hello w0rld"]), None, Some(11))
            .with_checksum(Algorithm::Crc32, Some(crc.clone()));
        assert!(run(drain(&mut b)).is_err());
        assert_eq!(b.failure.unwrap().code, "BadDigest");
        let body: &[u8] = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let mut b = S3Body::chunked(pieces(&[body]), ChunkDecoder::new(None, true), Some(11))
            .with_checksum(Algorithm::Crc32, None);
        assert_eq!(run(drain(&mut b)).unwrap(), b"hello world");
        let forged: &[u8] = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
        let mut b = S3Body::chunked(pieces(&[forged]), ChunkDecoder::new(None, true), Some(11))
            .with_checksum(Algorithm::Crc32, None);
        assert!(run(drain(&mut b)).is_err());
    }

    #[test]
    fn chunked_bodies_decode_and_keep_trailers() {
        let body: &[u8] = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32c:abc=\r\n\r\n";
        let (a, rest) = body.split_at(9);
        let mut b = S3Body::chunked(pieces(&[a, rest]), ChunkDecoder::new(None, true), Some(11));
        assert_eq!(run(drain(&mut b)).unwrap(), b"hello world");
        assert_eq!(
            b.trailers,
            vec![("x-amz-checksum-crc32c".to_string(), "abc=".to_string())]
        );
        // Cut short: refused at the end, before the upload could commit.
        let mut b = S3Body::chunked(pieces(&[a]), ChunkDecoder::new(None, true), Some(11));
        assert!(run(drain(&mut b)).is_err());
        assert_eq!(b.failure.unwrap().code, "IncompleteBody");
        // Declared length wrong.
        let mut b = S3Body::chunked(pieces(&[body]), ChunkDecoder::new(None, true), Some(12));
        assert!(run(drain(&mut b)).is_err());
        let mut b = S3Body::chunked(pieces(&[b"zz\r\n"]), ChunkDecoder::new(None, false), None);
        assert!(run(drain(&mut b)).is_err());
        assert_eq!(b.failure.unwrap().code, "InvalidRequest");
    }
}
