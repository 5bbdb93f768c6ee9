//! Metadata headers: which are kept with an object, container or account,
//! and Swift's limits on them.

use http::StatusCode;

use super::{text, Response};

/// Swift's metadata constraints.
pub const MAX_META_NAME_LENGTH: usize = 128;
pub const MAX_META_VALUE_LENGTH: usize = 256;
pub const MAX_META_COUNT: usize = 90;
pub const MAX_META_OVERALL_SIZE: usize = 4096;

/// Headers other than `X-Object-Meta-*` an object keeps (Swift's
/// `allowed_headers` plus the large-object markers and sysmeta).
const OBJECT_KEPT: &[&str] = &[
    "content-disposition",
    "content-encoding",
    "content-language",
    "cache-control",
    "expires",
    "x-robots-tag",
    "x-object-manifest",
    "x-static-large-object",
    "x-symlink-target",
    "x-symlink-target-account",
];

/// Headers a POST may replace: everything kept except sysmeta and the
/// large-object markers, which only a PUT sets.
pub fn object_post_replaces(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("x-object-meta-")
        || n.starts_with("x-object-transient-sysmeta-")
        || OBJECT_KEPT[..6].contains(&n.as_str())
}

/// Collects the headers an object keeps, as (name as sent, value).
pub fn object_headers(h: &http::HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .filter_map(|(n, v)| {
            let name = n.as_str();
            let keep = name.starts_with("x-object-meta-")
                || name.starts_with("x-object-sysmeta-")
                || name.starts_with("x-object-transient-sysmeta-")
                || OBJECT_KEPT.contains(&name);
            keep.then(|| Some((canonical(name), v.to_str().ok()?.to_string())))
                .flatten()
        })
        .collect()
}

/// Collects `<prefix>*` headers plus the listed exact ones (for containers
/// and accounts), as (canonical name, value); an empty value deletes.
pub fn prefixed_headers(
    h: &http::HeaderMap,
    prefixes: &[&str],
    exact: &[&str],
) -> Vec<(String, String)> {
    h.iter()
        .filter_map(|(n, v)| {
            let name = n.as_str();
            let keep = prefixes.iter().any(|p| name.starts_with(p)) || exact.contains(&name);
            keep.then(|| Some((canonical(name), v.to_str().ok()?.to_string())))
                .flatten()
        })
        .collect()
}

/// `x-object-meta-color` → `X-Object-Meta-Color`, as Swift answers.
pub fn canonical(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Checks user metadata (`<prefix>*` headers) against Swift's limits.
pub fn check_limits(headers: &[(String, String)], prefix: &str) -> Result<(), Response> {
    let bad = |m: String| Err(text(StatusCode::BAD_REQUEST, &m));
    let mut count = 0;
    let mut size = 0;
    for (name, value) in headers {
        let Some(key) = name
            .to_ascii_lowercase()
            .strip_prefix(prefix)
            .map(str::to_string)
        else {
            continue;
        };
        if key.is_empty() {
            return bad("Metadata name cannot be empty".into());
        }
        if key.len() > MAX_META_NAME_LENGTH {
            return bad(format!("Metadata name too long: {name}"));
        }
        if value.len() > MAX_META_VALUE_LENGTH {
            return bad(format!(
                "Metadata value longer than {MAX_META_VALUE_LENGTH}: {name}"
            ));
        }
        count += 1;
        size += key.len() + value.len();
    }
    if count > MAX_META_COUNT {
        return bad(format!("Too many metadata items; max {MAX_META_COUNT}"));
    }
    if size > MAX_META_OVERALL_SIZE {
        return bad(format!(
            "Total metadata too large; max {MAX_META_OVERALL_SIZE}"
        ));
    }
    Ok(())
}
