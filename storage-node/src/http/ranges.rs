//! `Range` and conditional headers, evaluated as Swift's swob does.

use std::time::{Duration, UNIX_EPOCH};

/// Swift ignores a Range header with more ranges than this.
const MAX_RANGES: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    Whole,
    /// Satisfiable ranges as half-open `[start, end)`.
    Partial(Vec<(u64, u64)>),
    Unsatisfiable,
}

#[derive(Debug, Clone, Copy)]
enum Spec {
    FromTo(u64, u64),
    From(u64),
    Last(u64),
}

fn parse_specs(header: &str) -> Option<Vec<Spec>> {
    let specs = header.trim().strip_prefix("bytes=")?;
    let mut out = Vec::new();
    for s in specs.split(',') {
        let s = s.trim();
        let (a, b) = s.split_once('-')?;
        let num = |x: &str| -> Option<u64> {
            if x.is_empty() || !x.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            x.parse().ok()
        };
        let spec = match (a.is_empty(), b.is_empty()) {
            (false, false) => {
                let (a, b) = (num(a)?, num(b)?);
                if b < a {
                    return None;
                }
                Spec::FromTo(a, b)
            }
            (false, true) => Spec::From(num(a)?),
            (true, false) => Spec::Last(num(b)?),
            (true, true) => return None,
        };
        out.push(spec);
    }
    (!out.is_empty() && out.len() <= MAX_RANGES).then_some(out)
}

/// The ranges of an object of `len` bytes a Range header asks for; a
/// malformed header is ignored (the whole object), as Swift does.
pub fn for_length(header: Option<&str>, len: u64) -> Ranges {
    let Some(specs) = header.and_then(parse_specs) else {
        return Ranges::Whole;
    };
    let mut out = Vec::new();
    for s in specs {
        let r = match s {
            Spec::FromTo(a, b) if a < len => Some((a, (b + 1).min(len))),
            Spec::From(a) if a < len => Some((a, len)),
            Spec::Last(n) if n > 0 && len > 0 => Some((len.saturating_sub(n), len)),
            _ => None,
        };
        out.extend(r);
    }
    if out.is_empty() {
        Ranges::Unsatisfiable
    } else {
        Ranges::Partial(out)
    }
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

fn parse_date(s: Option<&str>) -> Option<u64> {
    let t = httpdate::parse_http_date(s?).ok()?;
    Some(
        t.duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs(),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    Proceed,
    NotModified,
    Failed,
}

/// Evaluates If-Match, If-None-Match, If-Unmodified-Since and
/// If-Modified-Since (RFC 7232 order) for a GET or HEAD.
pub fn evaluate(h: &http::HeaderMap, etag: &str, last_modified_secs: u64) -> Precondition {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    if let Some(m) = get("if-match") {
        if !etag_matches(m, etag) {
            return Precondition::Failed;
        }
    } else if let Some(since) = parse_date(get("if-unmodified-since")) {
        if last_modified_secs > since {
            return Precondition::Failed;
        }
    }
    if let Some(m) = get("if-none-match") {
        if etag_matches(m, etag) {
            return Precondition::NotModified;
        }
    } else if let Some(since) = parse_date(get("if-modified-since")) {
        if last_modified_secs <= since {
            return Precondition::NotModified;
        }
    }
    Precondition::Proceed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn swift_range_semantics() {
        assert_eq!(
            for_length(Some("bytes=0-9"), 100),
            Ranges::Partial(vec![(0, 10)])
        );
        assert_eq!(
            for_length(Some("bytes=90-"), 100),
            Ranges::Partial(vec![(90, 100)])
        );
        assert_eq!(
            for_length(Some("bytes=-10"), 100),
            Ranges::Partial(vec![(90, 100)])
        );
        assert_eq!(
            for_length(Some("bytes=-1000"), 100),
            Ranges::Partial(vec![(0, 100)])
        );
        assert_eq!(
            for_length(Some("bytes=50-1000"), 100),
            Ranges::Partial(vec![(50, 100)])
        );
        assert_eq!(
            for_length(Some("bytes=0-0,-1"), 100),
            Ranges::Partial(vec![(0, 1), (99, 100)])
        );
        assert_eq!(for_length(Some("bytes=100-"), 100), Ranges::Unsatisfiable);
        assert_eq!(for_length(Some("bytes=-0"), 100), Ranges::Unsatisfiable);
        assert_eq!(
            for_length(Some("bytes=200-300,0-1"), 100),
            Ranges::Partial(vec![(0, 2)])
        );
        for ignored in [
            "bytes=5-1",
            "bytes=a-b",
            "items=0-1",
            "bytes=",
            "bytes=-",
            "0-1",
        ] {
            assert_eq!(for_length(Some(ignored), 100), Ranges::Whole, "{ignored}");
        }
        assert_eq!(for_length(Some("bytes=0-0"), 0), Ranges::Unsatisfiable);
    }

    #[test]
    fn conditionals() {
        let mut h = http::HeaderMap::new();
        h.insert("if-none-match", "\"abc\"".parse().unwrap());
        assert_eq!(evaluate(&h, "abc", 10), Precondition::NotModified);
        assert_eq!(evaluate(&h, "abd", 10), Precondition::Proceed);
        let mut h = http::HeaderMap::new();
        h.insert("if-match", "*".parse().unwrap());
        assert_eq!(evaluate(&h, "x", 10), Precondition::Proceed);
        h.insert("if-match", "nope".parse().unwrap());
        assert_eq!(evaluate(&h, "x", 10), Precondition::Failed);
        let mut h = http::HeaderMap::new();
        h.insert(
            "if-modified-since",
            "Thu, 01 Jan 1970 00:00:20 GMT".parse().unwrap(),
        );
        assert_eq!(evaluate(&h, "x", 20), Precondition::NotModified);
        assert_eq!(evaluate(&h, "x", 21), Precondition::Proceed);
    }

    proptest! {
        #[test]
        fn ranges_stay_inside_the_object(h in "\\PC{0,30}", len in 0u64..10_000) {
            if let Ranges::Partial(rs) = for_length(Some(&h), len) {
                for (s, e) in rs {
                    prop_assert!(s < e && e <= len);
                }
            }
        }

        #[test]
        fn byte_ranges_stay_inside(a in 0u64..20_000, b in 0u64..20_000, len in 0u64..10_000) {
            if let Ranges::Partial(rs) = for_length(Some(&format!("bytes={a}-{b}")), len) {
                for (s, e) in rs {
                    prop_assert!(s < e && e <= len);
                }
            }
        }
    }
}
