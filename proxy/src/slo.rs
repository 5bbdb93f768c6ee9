//! Static large objects, as Swift's SLO middleware: `PUT
//! ?multipart-manifest=put` with a JSON list of segments (`path`, and
//! optionally `etag`, `size_bytes`, `range`) checks every segment and
//! stores a manifest; a GET or HEAD reads as the segments' bytes in order
//! (nested SLOs expanded, ranges across segments); `?multipart-manifest=get`
//! returns the manifest and `?multipart-manifest=delete` removes it with
//! its segments. The whole's ETag is the MD5 of the segments' ETags (with
//! `:<range>;` for ranged ones), as Swift computes it.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use stratus_ring::Path as RingPath;

use crate::access::Access;
use crate::backend::{Kind, Placement};
use crate::bulk::{Format, Outcome};
use crate::errors::{empty, error, explain, Response};
use crate::large::Piece;
use crate::server::Proxy;

pub const MAX_SEGMENTS: usize = 1000;
/// The largest manifest a client may PUT (Swift's max_manifest_size).
const MAX_MANIFEST_PUT: usize = 8 * 1024 * 1024;
/// The largest stored manifest read back.
const MAX_MANIFEST: usize = 16 * 1024 * 1024;
/// Nested SLOs deeper than this are refused (Swift's max_nesting_depth).
const MAX_DEPTH: usize = 10;

pub const SLO_HEADER: &str = "x-static-large-object";
const ETAG_SYSMETA: &str = "x-object-sysmeta-slo-etag";
const SIZE_SYSMETA: &str = "x-object-sysmeta-slo-size";

/// A segment as a client names it in `?multipart-manifest=put`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutSegment {
    pub path: String,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub size_bytes: Option<u64>,
    #[serde(default)]
    pub range: Option<String>,
}

/// A segment as the stored manifest keeps it (Swift's format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// `/container/object`.
    pub name: String,
    /// The segment object's size (an SLO's: its whole size).
    pub bytes: u64,
    pub hash: String,
    #[serde(default)]
    pub content_type: String,
    #[serde(default)]
    pub last_modified: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sub_slo: bool,
}

impl Segment {
    /// `[from, to)` of the segment that the SLO uses.
    fn span(&self) -> Option<(u64, u64)> {
        match &self.range {
            None => Some((0, self.bytes)),
            Some(r) => parse_range(r, self.bytes),
        }
    }

    fn container_and_object(&self) -> Option<(&str, &str)> {
        self.name
            .trim_start_matches('/')
            .split_once('/')
            .filter(|(c, o)| !c.is_empty() && !o.is_empty())
    }
}

/// `a-b`, `a-` or `-n` within `len` bytes, as `[from, to)`.
pub fn parse_range(r: &str, len: u64) -> Option<(u64, u64)> {
    let (a, b) = r.trim().split_once('-')?;
    let (from, to) = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(a), Some(b)) if a <= b => (a, b + 1),
        (Some(a), None) if b.is_empty() => (a, len),
        (None, Some(n)) if a.is_empty() && n > 0 => (len.saturating_sub(n), len),
        _ => return None,
    };
    (from < to && to <= len).then_some((from, to))
}

/// The SLO ETag of its segments, as Swift computes it.
pub fn slo_etag(segments: &[Segment]) -> String {
    let mut md5 = Md5::new();
    for s in segments {
        match &s.range {
            Some(r) => md5.update(format!("{}:{r};", s.hash).as_bytes()),
            None => md5.update(s.hash.as_bytes()),
        }
    }
    hex::encode(md5.finalize())
}

fn total(segments: &[Segment]) -> u64 {
    segments
        .iter()
        .filter_map(Segment::span)
        .map(|(a, b)| b - a)
        .sum()
}

fn header<'a>(h: &'a HeaderMap, n: &str) -> Option<&'a str> {
    h.get(n).and_then(|v| v.to_str().ok())
}

pub fn is_slo(h: &HeaderMap) -> bool {
    header(h, SLO_HEADER).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

async fn head(
    proxy: &Proxy,
    account: &str,
    container: &str,
    object: &str,
) -> Result<HeaderMap, StatusCode> {
    match crate::subrequest::stored(proxy, (account, container, object), Method::HEAD).await? {
        Some(r) => Ok(r.headers().clone()),
        None => Err(StatusCode::NOT_FOUND),
    }
}

/// Checks one segment of a manifest PUT against the object it names.
async fn check_segment(
    proxy: &Proxy,
    account: &str,
    access: &Access,
    seg: &PutSegment,
) -> Result<Segment, String> {
    let name = seg.path.trim_start_matches('/');
    let Some((container, object)) = name
        .split_once('/')
        .filter(|(c, o)| !c.is_empty() && !o.is_empty())
    else {
        return Err("400 Bad Request".into());
    };
    if !access.may_read(proxy, account, container).await {
        return Err("403 Forbidden".into());
    }
    let h = match head(proxy, account, container, object).await {
        Ok(h) => h,
        Err(s) => {
            return Err(format!(
                "{} {}",
                s.as_u16(),
                s.canonical_reason().unwrap_or_default()
            ))
        }
    };
    let sub_slo = is_slo(&h);
    let (size, etag) = if sub_slo {
        (
            header(&h, SIZE_SYSMETA)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            header(&h, ETAG_SYSMETA).unwrap_or_default().to_string(),
        )
    } else {
        (
            header(&h, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            header(&h, "etag")
                .unwrap_or_default()
                .trim_matches('"')
                .to_string(),
        )
    };
    if seg.size_bytes.is_some_and(|s| s != size) {
        return Err("Size Mismatch".into());
    }
    if seg
        .etag
        .as_deref()
        .is_some_and(|e| e.trim_matches('"') != etag)
    {
        return Err("Etag Mismatch".into());
    }
    if let Some(r) = &seg.range {
        if parse_range(r, size).is_none() {
            return Err("Unsatisfiable Range".into());
        }
    }
    if size == 0 {
        return Err("Too small; each segment must be at least 1 byte.".into());
    }
    Ok(Segment {
        name: format!("/{container}/{object}"),
        bytes: size,
        hash: etag,
        content_type: header(&h, "content-type").unwrap_or_default().to_string(),
        last_modified: header(&h, "last-modified").unwrap_or_default().to_string(),
        range: seg.range.clone(),
        sub_slo,
    })
}

fn refused(format: Format, errors: Vec<(String, String)>) -> Response {
    let mut outcome = Outcome {
        errors,
        ..Default::default()
    };
    outcome.settle(StatusCode::OK);
    let mut r = explain(StatusCode::BAD_REQUEST, &outcome.render(format, "upload"));
    let ct = match format {
        Format::Json => "application/json",
        Format::Xml => "application/xml",
        Format::Text => "text/plain",
    };
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(ct));
    r
}

/// `PUT ?multipart-manifest=put`: checks the segments, stores the manifest.
pub async fn put(
    proxy: &Arc<Proxy>,
    (account, container, object): (&str, &str, &str),
    access: &Access,
    parts: http::request::Parts,
    body: hyper::body::Incoming,
) -> Response {
    let format = Format::of(&parts.headers);
    let raw = match http_body_util::Limited::new(body, MAX_MANIFEST_PUT)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return explain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Manifest File > 8388608 bytes",
            )
        }
    };
    let wanted: Vec<PutSegment> = match serde_json::from_slice(&raw) {
        Ok(w) => w,
        Err(_) => return explain(StatusCode::BAD_REQUEST, "Manifest must be valid JSON."),
    };
    if wanted.is_empty() {
        return explain(
            StatusCode::BAD_REQUEST,
            "Manifest must have at least one segment.",
        );
    }
    if wanted.len() > MAX_SEGMENTS {
        return explain(
            StatusCode::BAD_REQUEST,
            &format!("Number of segments must be <= {MAX_SEGMENTS}"),
        );
    }
    // Owned per task: borrowed futures in a buffered stream trip the
    // compiler's Send checks.
    let checked: Vec<Result<Segment, String>> = futures_util::stream::iter(wanted.clone())
        .map(|w| {
            let (proxy, account, access) = (proxy.clone(), account.to_string(), access.clone());
            async move { check_segment(&proxy, &account, &access, &w).await }
        })
        .buffered(10)
        .collect()
        .await;
    let mut segments = Vec::with_capacity(checked.len());
    let mut errors = Vec::new();
    for (w, c) in wanted.iter().zip(checked) {
        match c {
            Ok(s) => segments.push(s),
            Err(e) => errors.push((w.path.clone(), e)),
        }
    }
    if !errors.is_empty() {
        return refused(format, errors);
    }
    let etag = slo_etag(&segments);
    if let Some(want) = header(&parts.headers, "etag") {
        if want.trim_matches('"') != etag {
            return error(StatusCode::UNPROCESSABLE_ENTITY);
        }
    }
    let size = total(&segments);
    let Ok(json) = serde_json::to_vec(&segments) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let mut h = HeaderMap::new();
    for (k, v) in &parts.headers {
        if crate::object::passes_to_object(k.as_str())
            && !matches!(
                k.as_str(),
                "etag" | "content-length" | "transfer-encoding" | "range"
            )
        {
            h.insert(k.clone(), v.clone());
        }
    }
    if !h.contains_key("content-type") {
        h.insert(
            "content-type",
            HeaderValue::from_static(crate::object::guess_content_type(object)),
        );
    }
    let mut set = |n: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(n, v);
        }
    };
    set(SLO_HEADER, "True".into());
    set(ETAG_SYSMETA, etag.clone());
    set(SIZE_SYSMETA, size.to_string());
    set(
        "x-object-sysmeta-container-update-override-etag",
        etag.clone(),
    );
    set(
        "x-object-sysmeta-container-update-override-size",
        size.to_string(),
    );
    set("content-length", json.len().to_string());
    set("x-timestamp", crate::object::now_timestamp());
    let Some(info) = crate::db::container_info(proxy, account, container).await else {
        return error(StatusCode::NOT_FOUND);
    };
    let at = (account, container, object);
    if let Err(r) = crate::versioned::before_overwrite(proxy, at, &info, access).await {
        return r;
    }
    let mut body = stratus_common::body::Body::full(Bytes::from(json));
    let mut r = crate::subrequest::upload_to(proxy, at, &h, &mut body).await;
    if r.status() == StatusCode::CREATED {
        if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
            r.headers_mut().insert("etag", v);
        }
    }
    r
}

/// A stored manifest's segments (read whole, bounded).
async fn read_manifest(
    proxy: &Proxy,
    placement: &Placement,
    path: &str,
) -> Result<(HeaderMap, Vec<Segment>), StatusCode> {
    let resp = crate::object::fetch(proxy, placement, path, &HeaderMap::new(), Method::GET).await?;
    parse_manifest(resp).await
}

/// A manifest from the object servers' whole answer to its GET.
async fn parse_manifest(
    resp: http::Response<hyper::body::Incoming>,
) -> Result<(HeaderMap, Vec<Segment>), StatusCode> {
    if !resp.status().is_success() {
        return Err(resp.status());
    }
    let (p, body) = resp.into_parts();
    let raw = http_body_util::Limited::new(body, MAX_MANIFEST)
        .collect()
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
        .to_bytes();
    let segs = serde_json::from_slice(&raw).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok((p.headers, segs))
}

/// The pieces of `segments`, nested SLOs expanded and ranges applied;
/// Err(403) for a segment container the caller may not read.
async fn expand(
    proxy: &Proxy,
    account: &str,
    access: &Access,
    segments: Vec<Segment>,
    depth: usize,
) -> Result<Vec<Piece>, StatusCode> {
    let mut out = Vec::new();
    for s in segments {
        let Some((container, object)) = s.container_and_object() else {
            return Err(StatusCode::CONFLICT);
        };
        let (container, object) = (container.to_string(), object.to_string());
        if !access.may_read(proxy, account, &container).await {
            return Err(StatusCode::FORBIDDEN);
        }
        let (from, to) = s.span().ok_or(StatusCode::CONFLICT)?;
        if !s.sub_slo {
            out.push(Piece {
                container,
                name: object,
                from,
                to,
                etag: Some(s.hash.clone()),
            });
            continue;
        }
        if depth >= MAX_DEPTH {
            return Err(StatusCode::CONFLICT);
        }
        let placement = proxy
            .backend
            .place(Kind::Object, RingPath::Object(account, &container, &object));
        let path = format!("/{account}/{container}/{object}");
        let (h, inner) = read_manifest(proxy, &placement, &path).await?;
        if header(&h, ETAG_SYSMETA) != Some(s.hash.as_str()) {
            return Err(StatusCode::CONFLICT); // the sub-SLO changed
        }
        let inner = Box::pin(expand(proxy, account, access, inner, depth + 1)).await?;
        // Keep [from, to) of the sub-SLO's whole.
        let mut at = 0;
        for p in inner {
            let (a, b) = (at, at + p.len());
            at = b;
            if b <= from || a >= to {
                continue;
            }
            out.push(Piece {
                from: p.from + (from.max(a) - a),
                to: p.from + (to.min(b) - a),
                ..p
            });
        }
    }
    Ok(out)
}

/// A GET or HEAD of an SLO: `first` is the object servers' answer to the
/// request as it was (with its range and conditions, which apply to the
/// whole, not to the manifest).
pub async fn serve(
    proxy: Arc<Proxy>,
    (account, placement, path): (&str, &Placement, &str),
    access: &Access,
    method: &Method,
    req: &HeaderMap,
    first: http::Response<hyper::body::Incoming>,
) -> Response {
    // A plain GET already brought the whole manifest; a HEAD, a range or
    // a condition (which apply to the whole, not the manifest) did not.
    let conditional = [
        "range",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
    ]
    .iter()
    .any(|n| req.contains_key(*n));
    let whole = *method == Method::GET && first.status() == StatusCode::OK && !conditional;
    let manifest = if whole {
        parse_manifest(first).await
    } else {
        drop(first);
        read_manifest(&proxy, placement, path).await
    };
    let (h, segments) = match manifest {
        Ok(m) => m,
        Err(s) => return error(s),
    };
    let etag = header(&h, ETAG_SYSMETA).map_or_else(|| slo_etag(&segments), str::to_string);
    let pieces = match expand(&proxy, account, access, segments, 0).await {
        Ok(p) => p,
        Err(s) => return error(s),
    };
    crate::large::answer(proxy, account, method, req, (&h, SLO_HEADER), &etag, pieces)
}

/// `?multipart-manifest=get&format=raw`: the manifest as a client PUTs it.
pub fn raw_format(stored: &[Segment]) -> serde_json::Value {
    stored
        .iter()
        .map(|s| {
            let mut v = serde_json::json!({"path": s.name, "etag": s.hash, "size_bytes": s.bytes});
            if let Some(r) = &s.range {
                v["range"] = r.clone().into();
            }
            v
        })
        .collect()
}

/// `?multipart-manifest=get`: the stored manifest (Swift's format, or
/// with `format=raw` the PUT format).
pub async fn manifest(proxy: &Proxy, placement: &Placement, path: &str, raw: bool) -> Response {
    let (h, segments) = match read_manifest(proxy, placement, path).await {
        Ok(m) => m,
        Err(s) => return error(s),
    };
    let body = if raw {
        raw_format(&segments).to_string()
    } else {
        serde_json::to_string(&segments).unwrap_or_default()
    };
    let mut r = explain(StatusCode::OK, &body);
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r.headers_mut()
        .insert(SLO_HEADER, HeaderValue::from_static("True"));
    for n in ["last-modified", "x-timestamp"] {
        if let Some(v) = h.get(n) {
            r.headers_mut().insert(n, v.clone());
        }
    }
    r
}

/// Every object an SLO is made of (nested SLOs' segments, then their
/// manifests), for `?multipart-manifest=delete`.
async fn all_segments(
    proxy: &Proxy,
    account: &str,
    segments: Vec<Segment>,
    depth: usize,
    out: &mut Vec<String>,
) {
    for s in segments {
        if s.sub_slo && depth < MAX_DEPTH {
            if let Some((c, o)) = s.container_and_object() {
                let placement = proxy
                    .backend
                    .place(Kind::Object, RingPath::Object(account, c, o));
                let path = format!("/{account}/{c}/{o}");
                if let Ok((_, inner)) = read_manifest(proxy, &placement, &path).await {
                    Box::pin(all_segments(proxy, account, inner, depth + 1, out)).await;
                }
            }
        }
        out.push(s.name.clone());
    }
}

/// `DELETE ?multipart-manifest=delete`: the segments, then the manifest.
pub async fn delete(
    proxy: &Arc<Proxy>,
    (account, container, object): (&str, &str, &str),
    access: &Access,
    req: &HeaderMap,
) -> Response {
    let placement = proxy
        .backend
        .place(Kind::Object, RingPath::Object(account, container, object));
    let path = format!("/{account}/{container}/{object}");
    let (h, segments) = match read_manifest(proxy, &placement, &path).await {
        Ok(m) => m,
        Err(s) => return error(s),
    };
    if !is_slo(&h) {
        return explain(StatusCode::BAD_REQUEST, "Not an SLO manifest");
    }
    let mut names = Vec::new();
    all_segments(proxy, account, segments, 0, &mut names).await;
    let mut outcome = Outcome::default();
    let (mut deleted, mut not_found) = (0, 0);
    names.push(format!("/{container}/{object}"));
    for name in names {
        let Some((c, o)) = name.trim_start_matches('/').split_once('/') else {
            continue;
        };
        if !access.may_write(proxy, account, c).await {
            outcome.errors.push((name.clone(), "403 Forbidden".into()));
            continue;
        }
        let status = crate::subrequest::delete_object(proxy, (account, c, o)).await;
        match status {
            s if s.is_success() => deleted += 1,
            StatusCode::NOT_FOUND => not_found += 1,
            s => outcome.errors.push((
                name.clone(),
                format!(
                    "{} {}",
                    s.as_u16(),
                    s.canonical_reason().unwrap_or_default()
                ),
            )),
        }
    }
    outcome.counts = vec![("Number Deleted", deleted), ("Number Not Found", not_found)];
    outcome.settle(StatusCode::OK);
    let format = Format::of(req);
    let mut r = empty(StatusCode::OK);
    *r.body_mut() = stratus_common::body::Body::full(Bytes::from(outcome.render(format, "delete")));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(hash: &str, bytes: u64, range: Option<&str>) -> Segment {
        Segment {
            name: "/c/o".into(),
            bytes,
            hash: hash.into(),
            content_type: String::new(),
            last_modified: String::new(),
            range: range.map(str::to_string),
            sub_slo: false,
        }
    }

    #[test]
    fn etags_sizes_and_ranges() {
        let a = seg("aa", 10, None);
        let b = seg("bb", 10, Some("2-5"));
        let mut md5 = Md5::new();
        md5.update(b"aa");
        md5.update(b"bb:2-5;");
        assert_eq!(
            slo_etag(&[a.clone(), b.clone()]),
            hex::encode(md5.finalize())
        );
        assert_eq!(total(&[a, b]), 14);
        assert_eq!(parse_range("0-0", 1), Some((0, 1)));
        assert_eq!(parse_range("5-", 10), Some((5, 10)));
        assert_eq!(parse_range("-3", 10), Some((7, 10)));
        assert_eq!(parse_range("5-20", 10), None);
        assert_eq!(parse_range("x", 10), None);
    }

    #[test]
    fn manifests_parse_strictly() {
        let ok: Vec<PutSegment> = serde_json::from_str(
            r#"[{"path":"/c/o","etag":null,"size_bytes":5},{"path":"/c/p","range":"1-2"}]"#,
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert!(serde_json::from_str::<Vec<PutSegment>>(r#"[{"path":"/c/o","nope":1}]"#).is_err());
        assert!(serde_json::from_str::<Vec<PutSegment>>(r#"{"path":"/c/o"}"#).is_err());
        let stored = vec![seg("aa", 3, Some("0-1"))];
        let raw = raw_format(&stored);
        assert_eq!(raw[0]["path"], "/c/o");
        assert_eq!(raw[0]["range"], "0-1");
    }
}
