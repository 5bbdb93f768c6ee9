//! S3's additional checksums (CRC32, CRC32C, CRC64NVME, SHA1, SHA256):
//! which one a request names (`x-amz-checksum-<alg>` header, a trailer
//! announced by `x-amz-trailer`, or `x-amz-sdk-checksum-algorithm`), and
//! computing it over a body as it streams. Values are base64 of the
//! big-endian digest, as S3 shows them.

use base64::Engine;
use http::HeaderMap;
use sha1::Digest as _;

use super::errors::S3Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

pub const ALL: [Algorithm; 5] = [
    Algorithm::Crc32,
    Algorithm::Crc32c,
    Algorithm::Crc64Nvme,
    Algorithm::Sha1,
    Algorithm::Sha256,
];

static CRC64_NVME: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_NVME);

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    /// `x-amz-checksum-crc32` and so on.
    pub fn header(self) -> String {
        format!("x-amz-checksum-{}", self.name().to_ascii_lowercase())
    }

    /// Where the object keeps it.
    pub fn sysmeta(self) -> String {
        format!(
            "x-object-sysmeta-s3api-checksum-{}",
            self.name().to_ascii_lowercase()
        )
    }

    fn from_name(s: &str) -> Option<Algorithm> {
        ALL.into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s.trim()))
    }
}

/// The checksum a request asks for: its algorithm and, when it came in a
/// header, the value the body must have (a trailer's comes at the end).
pub fn requested(h: &HeaderMap) -> Result<Option<(Algorithm, Option<String>)>, S3Error> {
    let given: Vec<(Algorithm, String)> = ALL
        .into_iter()
        .filter_map(|a| {
            let v = h.get(a.header())?.to_str().ok()?;
            Some((a, v.trim().to_string()))
        })
        .collect();
    if given.len() > 1 {
        return Err(S3Error::new(
            "InvalidRequest",
            "Expecting a single x-amz-checksum- header",
        ));
    }
    if let Some((a, v)) = given.into_iter().next() {
        return Ok(Some((a, Some(v))));
    }
    let named = |name: &str| -> Result<Option<Algorithm>, S3Error> {
        match h.get(name).and_then(|v| v.to_str().ok()) {
            None => Ok(None),
            Some(v) => {
                let v = v.trim().to_ascii_lowercase();
                let alg = v.strip_prefix("x-amz-checksum-").unwrap_or(&v).to_string();
                Algorithm::from_name(&alg).map(Some).ok_or_else(|| {
                    S3Error::new(
                        "InvalidRequest",
                        format!("Unsupported checksum algorithm in {name}"),
                    )
                })
            }
        }
    };
    Ok(named("x-amz-trailer")?
        .or(named("x-amz-sdk-checksum-algorithm")?)
        .map(|a| (a, None)))
}

/// A running checksum.
#[derive(Debug)]
pub struct Hasher {
    pub algorithm: Algorithm,
    state: State,
}

enum State {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64(crc::Digest<'static, u64>),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("State(..)")
    }
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Hasher {
        let state = match algorithm {
            Algorithm::Crc32 => State::Crc32(crc32fast::Hasher::new()),
            Algorithm::Crc32c => State::Crc32c(0),
            Algorithm::Crc64Nvme => State::Crc64(CRC64_NVME.digest()),
            Algorithm::Sha1 => State::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
        };
        Hasher { algorithm, state }
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc32(h) => h.update(data),
            State::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            State::Crc64(d) => d.update(data),
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
        }
    }

    /// The value as S3 shows it.
    pub fn finish(self) -> String {
        let raw: Vec<u8> = match self.state {
            State::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            State::Crc32c(c) => c.to_be_bytes().to_vec(),
            State::Crc64(d) => d.finalize().to_be_bytes().to_vec(),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
        };
        base64::engine::general_purpose::STANDARD.encode(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn check_values_of_123456789() {
        for (alg, want) in [
            (Algorithm::Crc32, b64(&0xCBF4_3926u32.to_be_bytes())),
            (Algorithm::Crc32c, b64(&0xE306_9283u32.to_be_bytes())),
            (
                Algorithm::Crc64Nvme,
                b64(&0xAE8B_1486_0A79_9888u64.to_be_bytes()),
            ),
            (Algorithm::Sha1, "98O8HYCOBHMq32eZZczDTKeuNEE=".to_string()),
            (
                Algorithm::Sha256,
                "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=".to_string(),
            ),
        ] {
            let mut h = Hasher::new(alg);
            h.update(b"1234");
            h.update(b"56789");
            assert_eq!(h.finish(), want, "{alg:?}");
        }
    }

    #[test]
    fn what_requests_name() {
        let mut h = HeaderMap::new();
        assert_eq!(requested(&h).unwrap(), None);
        h.insert("x-amz-sdk-checksum-algorithm", "crc32c".parse().unwrap());
        assert_eq!(requested(&h).unwrap(), Some((Algorithm::Crc32c, None)));
        h.insert("x-amz-trailer", "x-amz-checksum-sha256".parse().unwrap());
        assert_eq!(requested(&h).unwrap(), Some((Algorithm::Sha256, None)));
        h.insert("x-amz-checksum-crc32", "AAAAAA==".parse().unwrap());
        assert_eq!(
            requested(&h).unwrap(),
            Some((Algorithm::Crc32, Some("AAAAAA==".into())))
        );
        h.insert("x-amz-checksum-sha1", "x".parse().unwrap());
        assert!(requested(&h).is_err());
        let mut bad = HeaderMap::new();
        bad.insert("x-amz-sdk-checksum-algorithm", "md4".parse().unwrap());
        assert!(requested(&bad).is_err());
    }
}
