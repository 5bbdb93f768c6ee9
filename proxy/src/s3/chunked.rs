//! The `aws-chunked` body encoding S3 clients use for streaming uploads:
//! `<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n`… ending with a
//! zero-size chunk, then trailers (`x-amz-checksum-crc32:…`) when the
//! payload mode has them, and an empty line.
//!
//! A sans-I/O decoder: bytes go in as they arrive, verified data comes out.
//! With signatures (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`) each
//! chunk is held until its signature, chained from the request's, checks
//! out — nothing unverified is released — so a chunk may not exceed
//! [`MAX_CHUNK`]. Every malformed byte is an error, never a panic.

use bytes::{Buf, Bytes, BytesMut};
use stratus_common::sigv4;

/// The largest chunk accepted (clients send 64 KiB to 8 MiB).
pub const MAX_CHUNK: usize = 16 << 20;
/// The longest chunk-header or trailer line.
const MAX_LINE: usize = 4096;
/// At most this many trailer lines.
const MAX_TRAILERS: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChunkError {
    #[error("malformed aws-chunked body: {0}")]
    Malformed(&'static str),
    #[error("chunk signature does not match")]
    Signature,
    #[error("body ended before the last chunk")]
    Truncated,
}

/// What chunk signatures chain from, and the key that makes them.
#[derive(Debug, Clone)]
pub struct ChunkSigner {
    pub key: Vec<u8>,
    pub amz_date: String,
    /// `date/region/service/aws4_request`.
    pub scope: String,
    /// The request's signature, then each chunk's.
    pub previous: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Data {
        size: usize,
        signature: Option<[u8; 64]>,
    },
    DataEnd,
    Trailers,
    Done,
}

#[derive(Debug)]
pub struct ChunkDecoder {
    state: State,
    buf: BytesMut,
    signer: Option<ChunkSigner>,
    trailers_expected: bool,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
    decoded: u64,
    /// The zero-size chunk went by.
    last_chunk: bool,
}

fn line(buf: &mut BytesMut) -> Result<Option<Bytes>, ChunkError> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(i) => {
            let l = buf.split_to(i).freeze();
            buf.advance(2);
            Ok(Some(l))
        }
        None if buf.len() > MAX_LINE => Err(ChunkError::Malformed("line too long")),
        None => Ok(None),
    }
}

fn header(l: &[u8], signed: bool) -> Result<(usize, Option<[u8; 64]>), ChunkError> {
    let text = std::str::from_utf8(l).map_err(|_| ChunkError::Malformed("chunk header"))?;
    let (size, ext) = match text.split_once(';') {
        Some((s, e)) => (s, Some(e)),
        None => (text, None),
    };
    if size.is_empty() || size.len() > 8 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ChunkError::Malformed("chunk size"));
    }
    let size = usize::from_str_radix(size, 16).map_err(|_| ChunkError::Malformed("chunk size"))?;
    if size > MAX_CHUNK {
        return Err(ChunkError::Malformed("chunk too large"));
    }
    let signature = match ext.and_then(|e| e.strip_prefix("chunk-signature=")) {
        Some(sig) if sig.len() == 64 && sig.bytes().all(|b| b.is_ascii_hexdigit()) => {
            let mut s = [0u8; 64];
            s.copy_from_slice(sig.as_bytes());
            Some(s)
        }
        Some(_) => return Err(ChunkError::Malformed("chunk signature")),
        None if ext.is_some() => return Err(ChunkError::Malformed("chunk extension")),
        None => None,
    };
    if signed != signature.is_some() {
        return Err(ChunkError::Malformed("chunk signature presence"));
    }
    Ok((size, signature))
}

impl ChunkDecoder {
    /// `signer`: verify chunk signatures; `trailers`: the body ends with
    /// trailer lines (the `-TRAILER` payload modes).
    pub fn new(signer: Option<ChunkSigner>, trailers: bool) -> ChunkDecoder {
        ChunkDecoder {
            state: State::Header,
            buf: BytesMut::new(),
            signer,
            trailers_expected: trailers,
            trailers: Vec::new(),
            trailer_signature: None,
            decoded: 0,
            last_chunk: false,
        }
    }

    /// Payload bytes released so far.
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// Feeds `input`; returns the data it completes.
    pub fn push(&mut self, input: &[u8]) -> Result<Vec<Bytes>, ChunkError> {
        self.buf.extend_from_slice(input);
        let mut out = Vec::new();
        loop {
            match self.state {
                State::Header => {
                    let Some(l) = line(&mut self.buf)? else { break };
                    let (size, signature) = header(&l, self.signer.is_some())?;
                    self.state = State::Data { size, signature };
                }
                State::Data { size, signature } => {
                    if self.buf.len() < size {
                        break;
                    }
                    let data = self.buf.split_to(size).freeze();
                    if let (Some(s), Some(sig)) = (self.signer.as_mut(), signature) {
                        let sts =
                            sigv4::chunk_string_to_sign(&s.amz_date, &s.scope, &s.previous, &data);
                        let expected = sigv4::sign_with_key(&s.key, &sts);
                        if !stratus_common::http::constant_time_eq(expected.as_bytes(), &sig) {
                            return Err(ChunkError::Signature);
                        }
                        s.previous = expected;
                    }
                    if size == 0 {
                        self.last_chunk = true;
                        self.state = if self.trailers_expected {
                            State::Trailers
                        } else {
                            State::DataEnd
                        };
                    } else {
                        self.decoded += size as u64;
                        out.push(data);
                        self.state = State::DataEnd;
                    }
                }
                State::DataEnd => {
                    if self.buf.len() < 2 {
                        break;
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Err(ChunkError::Malformed("missing CRLF after chunk"));
                    }
                    self.buf.advance(2);
                    // The zero chunk's header line is followed by one more
                    // CRLF (an empty trailer section): then the body is over.
                    self.state = if self.last_chunk {
                        State::Done
                    } else {
                        State::Header
                    };
                }
                State::Trailers => {
                    let Some(l) = line(&mut self.buf)? else { break };
                    if l.is_empty() {
                        self.check_trailer_signature()?;
                        self.state = State::Done;
                        continue;
                    }
                    let text =
                        std::str::from_utf8(&l).map_err(|_| ChunkError::Malformed("trailer"))?;
                    let (k, v) = text
                        .split_once(':')
                        .ok_or(ChunkError::Malformed("trailer"))?;
                    let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
                    if k == "x-amz-trailer-signature" {
                        self.trailer_signature = Some(v);
                    } else if self.trailers.len() < MAX_TRAILERS {
                        self.trailers.push((k, v));
                    } else {
                        return Err(ChunkError::Malformed("too many trailers"));
                    }
                }
                State::Done => {
                    if !self.buf.is_empty() {
                        return Err(ChunkError::Malformed("data after the last chunk"));
                    }
                    break;
                }
            }
        }
        Ok(out)
    }

    fn check_trailer_signature(&mut self) -> Result<(), ChunkError> {
        let Some(s) = &self.signer else { return Ok(()) };
        let given = self.trailer_signature.take().ok_or(ChunkError::Signature)?;
        let lines: String = self
            .trailers
            .iter()
            .map(|(k, v)| format!("{k}:{v}\n"))
            .collect();
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            s.amz_date,
            s.scope,
            s.previous,
            sigv4::sha256_hex(lines.as_bytes())
        );
        let expected = sigv4::sign_with_key(&s.key, &sts);
        if stratus_common::http::constant_time_eq(expected.as_bytes(), given.as_bytes()) {
            Ok(())
        } else {
            Err(ChunkError::Signature)
        }
    }

    /// The body ended: Ok(trailers) if it was complete.
    pub fn finish(self) -> Result<Vec<(String, String)>, ChunkError> {
        match self.state {
            State::Done => Ok(self.trailers),
            _ => Err(ChunkError::Truncated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    /// AWS's example "PUT Object with chunked upload" (sigv4-streaming):
    /// 66,560 bytes of 'a' in chunks of 65,536 and 1,024.
    fn aws_example_signer() -> ChunkSigner {
        ChunkSigner {
            key: sigv4::signing_key(SECRET, "20130524", "us-east-1", "s3"),
            amz_date: "20130524T000000Z".into(),
            scope: "20130524/us-east-1/s3/aws4_request".into(),
            previous: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        }
    }

    fn aws_example_body() -> Vec<u8> {
        let mut b = Vec::new();
        for (size, sig) in [
            (
                65536,
                "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            ),
            (
                1024,
                "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            ),
            (
                0,
                "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
            ),
        ] {
            b.extend_from_slice(format!("{size:x};chunk-signature={sig}\r\n").as_bytes());
            b.extend(std::iter::repeat_n(b'a', size));
            b.extend_from_slice(b"\r\n");
        }
        b
    }

    #[test]
    fn aws_seed_signature_is_what_our_canonical_request_gives() {
        let headers: Vec<(String, String)> = [
            ("content-encoding", "aws-chunked"),
            ("content-length", "66824"),
            ("host", "s3.amazonaws.com"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-decoded-content-length", "66560"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (canonical, _) = sigv4::canonical_request(
            "PUT",
            "/examplebucket/chunkObject.txt",
            &[],
            &headers,
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        );
        let sts = sigv4::string_to_sign(
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            &canonical,
        );
        assert_eq!(
            sigv4::signature(SECRET, "20130524", "us-east-1", "s3", &sts),
            aws_example_signer().previous
        );
    }

    fn decode_all(d: &mut ChunkDecoder, body: &[u8], step: usize) -> Result<Vec<u8>, ChunkError> {
        let mut out = Vec::new();
        for piece in body.chunks(step.max(1)) {
            for b in d.push(piece)? {
                out.extend_from_slice(&b);
            }
        }
        Ok(out)
    }

    #[test]
    fn aws_example_verifies_in_any_split() {
        let body = aws_example_body();
        for step in [1, 7, 4096, body.len()] {
            let mut d = ChunkDecoder::new(Some(aws_example_signer()), false);
            let out = decode_all(&mut d, &body, step).unwrap();
            assert_eq!(out.len(), 66560);
            assert!(out.iter().all(|b| *b == b'a'));
            assert_eq!(d.decoded_len(), 66560);
            assert!(d.finish().unwrap().is_empty());
        }
    }

    #[test]
    fn a_changed_byte_or_signature_is_refused() {
        let body = aws_example_body();
        let mut tampered = body.clone();
        tampered[100] = b'b';
        let mut d = ChunkDecoder::new(Some(aws_example_signer()), false);
        assert_eq!(
            decode_all(&mut d, &tampered, 4096),
            Err(ChunkError::Signature)
        );
        let mut wrong_seed = aws_example_signer();
        wrong_seed.previous = "0".repeat(64);
        let mut d = ChunkDecoder::new(Some(wrong_seed), false);
        assert_eq!(decode_all(&mut d, &body, 4096), Err(ChunkError::Signature));
        // Unsigned chunks where signatures are required.
        let mut d = ChunkDecoder::new(Some(aws_example_signer()), false);
        assert!(d.push(b"5\r\nhello\r\n").is_err());
    }

    #[test]
    fn unsigned_chunks_with_trailers() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let mut d = ChunkDecoder::new(None, true);
        assert_eq!(decode_all(&mut d, body, 3).unwrap(), b"hello world");
        assert_eq!(
            d.finish().unwrap(),
            vec![("x-amz-checksum-crc32".to_string(), "DUoRhQ==".to_string())]
        );
        // Truncated anywhere: not finished.
        for cut in 0..body.len() {
            let mut d = ChunkDecoder::new(None, true);
            if decode_all(&mut d, &body[..cut], 5).is_ok() {
                assert_eq!(d.finish(), Err(ChunkError::Truncated), "cut at {cut}");
            }
        }
        let mut d = ChunkDecoder::new(None, false);
        assert!(d.push(b"0\r\n\r\nextra").is_err());
        assert!(ChunkDecoder::new(None, false)
            .push(b"fffffffff\r\n")
            .is_err());
        assert!(
            ChunkDecoder::new(None, false).push(b"2000000\r\n").is_err(),
            "over MAX_CHUNK"
        );
        assert!(
            ChunkDecoder::new(None, false).push(&[b'1'; 5000]).is_err(),
            "endless header"
        );
        assert!(
            ChunkDecoder::new(None, false).push(b"3\r\nabcXY").is_err(),
            "no CRLF after data"
        );
    }

    #[test]
    fn signed_trailer() {
        let mut signer = aws_example_signer();
        let key = signer.key.clone();
        let mut body = Vec::new();
        let mut prev = signer.previous.clone();
        for data in [&b"hello"[..], b""] {
            let sts = sigv4::chunk_string_to_sign(&signer.amz_date, &signer.scope, &prev, data);
            let sig = sigv4::sign_with_key(&key, &sts);
            body.extend_from_slice(
                format!("{:x};chunk-signature={sig}\r\n", data.len()).as_bytes(),
            );
            body.extend_from_slice(data);
            if !data.is_empty() {
                body.extend_from_slice(b"\r\n");
            }
            prev = sig;
        }
        let trailer = "x-amz-checksum-crc32:NhCmhg==\n";
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{prev}\n{}",
            signer.amz_date,
            signer.scope,
            sigv4::sha256_hex(trailer.as_bytes())
        );
        let tsig = sigv4::sign_with_key(&key, &sts);
        body.extend_from_slice(
            format!("x-amz-checksum-crc32:NhCmhg==\r\nx-amz-trailer-signature:{tsig}\r\n\r\n")
                .as_bytes(),
        );
        let mut d = ChunkDecoder::new(Some(signer.clone()), true);
        assert_eq!(decode_all(&mut d, &body, 9).unwrap(), b"hello");
        assert_eq!(d.finish().unwrap().len(), 1);
        // A forged trailer signature.
        let forged = String::from_utf8(body)
            .unwrap()
            .replace(&tsig, &"1".repeat(64));
        signer.previous = aws_example_signer().previous;
        let mut d = ChunkDecoder::new(Some(signer), true);
        assert_eq!(
            decode_all(&mut d, forged.as_bytes(), 9),
            Err(ChunkError::Signature)
        );
    }

    proptest! {
        #[test]
        fn garbage_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300), step in 1usize..50,
                                trailers: bool) {
            let mut d = ChunkDecoder::new(None, trailers);
            let _ = decode_all(&mut d, &body, step);
            let mut s = ChunkDecoder::new(Some(aws_example_signer()), trailers);
            let _ = decode_all(&mut s, &body, step);
        }

        #[test]
        fn round_trip(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..200), 0..8),
                      step in 1usize..64) {
            let mut body = Vec::new();
            let mut want = Vec::new();
            for c in &chunks {
                body.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                body.extend_from_slice(c);
                body.extend_from_slice(b"\r\n");
                want.extend_from_slice(c);
            }
            body.extend_from_slice(b"0\r\n\r\n");
            let mut d = ChunkDecoder::new(None, false);
            prop_assert_eq!(decode_all(&mut d, &body, step).unwrap(), want);
            prop_assert!(d.finish().is_ok());
        }
    }
}
