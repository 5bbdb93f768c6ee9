//! What a run does: the mix of operations, object sizes, object names and
//! their deterministic payloads (so any reader can verify any body).

use std::str::FromStr;

use anyhow::{bail, Context};
use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Put,
    Get,
    Head,
    Delete,
    List,
}

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Put => "put",
            OpKind::Get => "get",
            OpKind::Head => "head",
            OpKind::Delete => "delete",
            OpKind::List => "list",
        }
    }

    pub fn method(self) -> http::Method {
        match self {
            OpKind::Put => http::Method::PUT,
            OpKind::Get | OpKind::List => http::Method::GET,
            OpKind::Head => http::Method::HEAD,
            OpKind::Delete => http::Method::DELETE,
        }
    }
}

/// Weighted operations, e.g. `put=1,get=3` (a bare `get` means `get=1`).
#[derive(Debug, Clone, PartialEq)]
pub struct Mix(Vec<(OpKind, u32)>);

impl FromStr for Mix {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Mix> {
        let mut v = Vec::new();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (name, weight) = part.split_once('=').unwrap_or((part, "1"));
            let kind = match name.trim() {
                "put" => OpKind::Put,
                "get" => OpKind::Get,
                "head" => OpKind::Head,
                "delete" => OpKind::Delete,
                "list" => OpKind::List,
                other => bail!("unknown operation {other:?} (put, get, head, delete, list)"),
            };
            let w: u32 = weight
                .trim()
                .parse()
                .with_context(|| format!("bad weight in {part:?}"))?;
            if w > 0 {
                v.push((kind, w));
            }
        }
        if v.is_empty() {
            bail!("the mix has no operation with a positive weight");
        }
        Ok(Mix(v))
    }
}

impl Mix {
    /// The operation for request `i`: a deterministic interleaving in
    /// proportion to the weights.
    pub fn pick(&self, i: u64) -> OpKind {
        let total: u64 = self.0.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut r = mix64(i) % total;
        for (k, w) in &self.0 {
            if r < u64::from(*w) {
                return *k;
            }
            r -= u64::from(*w);
        }
        self.0[0].0
    }

    pub fn reads(&self) -> bool {
        self.0
            .iter()
            .any(|(k, _)| matches!(k, OpKind::Get | OpKind::Head))
    }
}

/// Object sizes: `4096`, `4k`, `1m`, or a uniform range `1k-1m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub min: u64,
    pub max: u64,
}

fn parse_bytes(s: &str) -> anyhow::Result<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.chars().last() {
        Some('k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('m') => (&s[..s.len() - 1], 1 << 20),
        Some('g') => (&s[..s.len() - 1], 1 << 30),
        _ => (&s[..], 1),
    };
    let n: u64 = num.parse().with_context(|| format!("bad size {s:?}"))?;
    n.checked_mul(mult).context("size too large")
}

impl FromStr for Sizes {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Sizes> {
        let (min, max) = match s.split_once('-') {
            Some((a, b)) => (parse_bytes(a)?, parse_bytes(b)?),
            None => {
                let n = parse_bytes(s)?;
                (n, n)
            }
        };
        if min > max || max > 5 << 30 {
            bail!("sizes must be min ≤ max ≤ 5 GiB");
        }
        Ok(Sizes { min, max })
    }
}

impl Sizes {
    /// The size of object `n`, fixed per object so reads can verify it.
    pub fn of(&self, n: u64) -> usize {
        (self.min + mix64(n ^ 0x5151) % (self.max - self.min + 1)) as usize
    }
}

/// SplitMix64 finaliser: spreads request and object numbers.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The bytes of object `n`: the same for every writer and reader.
pub fn payload(n: u64, size: usize) -> Bytes {
    let mut out = Vec::with_capacity(size + 8);
    let mut x = mix64(n);
    while out.len() < size {
        x = mix64(x);
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(size);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_follow_their_weights() {
        let m: Mix = "put=1,get=3".parse().unwrap();
        let gets = (0..100_000).filter(|&i| m.pick(i) == OpKind::Get).count();
        assert!((73_000..77_000).contains(&gets), "{gets}");
        assert!(m.reads());
        assert!("put=0".parse::<Mix>().is_err());
        assert!("fly=1".parse::<Mix>().is_err());
        assert!("put=x".parse::<Mix>().is_err());
        assert_eq!("get".parse::<Mix>().unwrap(), Mix(vec![(OpKind::Get, 1)]));
    }

    #[test]
    fn sizes_parse_and_stay_in_range() {
        assert_eq!(
            "4k".parse::<Sizes>().unwrap(),
            Sizes {
                min: 4096,
                max: 4096
            }
        );
        let s: Sizes = "1k-1m".parse().unwrap();
        assert!((0..1000)
            .map(|n| s.of(n))
            .all(|x| (1024..=1 << 20).contains(&x)));
        assert_eq!(s.of(7), s.of(7));
        assert!("2m-1m".parse::<Sizes>().is_err());
        assert!("lots".parse::<Sizes>().is_err());
        assert!("6g".parse::<Sizes>().is_err());
    }

    #[test]
    fn payloads_are_deterministic() {
        assert_eq!(payload(3, 100), payload(3, 100));
        assert_ne!(payload(3, 100), payload(4, 100));
        assert_eq!(payload(9, 13).len(), 13);
    }
}
