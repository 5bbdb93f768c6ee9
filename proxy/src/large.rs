//! What dynamic and static large objects share: the object is a list of
//! pieces (byte ranges of segment objects); a GET answers one range over
//! the whole, streaming each piece from its segment in turn, never holding
//! more than the channel's few buffers.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use stratus_common::body::Body;
use stratus_ring::Path as RingPath;

use crate::backend::Kind;
use crate::errors::{empty, error, Response};
use crate::server::Proxy;

/// `[from, to)` of the object `container/name`; with `etag`, the segment
/// must still be the one the manifest named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub container: String,
    pub name: String,
    pub from: u64,
    pub to: u64,
    pub etag: Option<String>,
}

impl Piece {
    pub fn len(&self) -> u64 {
        self.to - self.from
    }
}

/// The one range Swift serves over a large object, `[start, end)`; None
/// for the whole object; Err for an unsatisfiable one.
pub fn range(h: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = h
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let r = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(a), Some(b)) if a <= b => (a, (b + 1).min(len)),
        (Some(a), None) if b.is_empty() => (a, len),
        (None, Some(n)) if a.is_empty() && n > 0 => (len.saturating_sub(n), len),
        _ => return Ok(None),
    };
    if r.0 >= len {
        return Err(());
    }
    Ok(Some(r))
}

/// If-Match / If-None-Match against the large object's own ETag (the
/// object servers only know the manifest's): the status to stop with.
pub fn precondition(req: &HeaderMap, etag: &str, method: &Method) -> Option<StatusCode> {
    let listed = |name: &str| {
        req.get(name).and_then(|v| v.to_str().ok()).map(|list| {
            list.split(',')
                .map(|e| e.trim().trim_start_matches("W/").trim_matches('"'))
                .any(|e| e == "*" || e == etag)
        })
    };
    if listed("if-match") == Some(false) {
        return Some(StatusCode::PRECONDITION_FAILED);
    }
    if listed("if-none-match") == Some(true) {
        return Some(if method == Method::GET || method == Method::HEAD {
            StatusCode::NOT_MODIFIED
        } else {
            StatusCode::PRECONDITION_FAILED
        });
    }
    None
}

/// The manifest's headers a large object answers with: its metadata,
/// content headers, times and the manifest marker (`marker`).
fn whole_headers(manifest: &HeaderMap, marker: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (k, v) in manifest {
        let n = k.as_str();
        if n.starts_with("x-object-meta-")
            || n.starts_with("x-object-sysmeta-")
            || n == marker
            || matches!(n, "last-modified" | "x-timestamp")
            || crate::object::is_content_header(n)
        {
            headers.insert(k.clone(), v.clone());
        }
    }
    headers
}

/// Answers a GET or HEAD of a large object made of `pieces`, with the
/// headers of its `manifest` (marked by the `marker` header) and the
/// whole's `etag`.
pub fn answer(
    proxy: Arc<Proxy>,
    account: &str,
    method: &Method,
    req: &HeaderMap,
    (manifest, marker): (&HeaderMap, &str),
    etag: &str,
    pieces: Vec<Piece>,
) -> Response {
    let total: u64 = pieces.iter().map(Piece::len).sum();
    let mut r = empty(StatusCode::OK);
    *r.headers_mut() = whole_headers(manifest, marker);
    let set = |r: &mut Response, n: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(n, v);
        }
    };
    set(&mut r, "etag", format!("\"{etag}\""));
    set(&mut r, "accept-ranges", "bytes".into());
    if let Some(status) = precondition(req, etag, method) {
        *r.status_mut() = status;
        return r;
    }
    let (start, end) = match range(req, total) {
        Ok(None) => (0, total),
        Ok(Some((s, e))) => {
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            set(
                &mut r,
                "content-range",
                format!("bytes {s}-{}/{total}", e - 1),
            );
            (s, e)
        }
        Err(()) => {
            let mut r = error(StatusCode::RANGE_NOT_SATISFIABLE);
            set(&mut r, "content-range", format!("bytes */{total}"));
            return r;
        }
    };
    set(&mut r, "content-length", (end - start).to_string());
    if method == Method::HEAD {
        return r;
    }
    // The pieces that overlap [start, end), clipped to it.
    let mut wanted = Vec::new();
    let mut at = 0u64;
    for p in pieces {
        let (from, to) = (at, at + p.len());
        at = to;
        if to <= start || from >= end || p.len() == 0 {
            continue;
        }
        let (a, b) = (start.max(from) - from, end.min(to) - from);
        wanted.push(Piece {
            from: p.from + a,
            to: p.from + b,
            ..p
        });
    }
    *r.body_mut() = stream(proxy, account.to_string(), wanted);
    r
}

/// A body fed from the pieces in turn, cut short if a segment is missing
/// or changed (as Swift does: the client sees a short body). The next
/// segment is requested as soon as the current one answers, so its object
/// server is already reading while this one streams: no pause at each
/// boundary, and never more than two segments' buffers at once.
fn stream(proxy: Arc<Proxy>, account: String, pieces: Vec<Piece>) -> Body {
    let (tx, body) = Body::channel();
    tokio::spawn(async move {
        let fetch = |p: &Piece| {
            let (proxy, account, p) = (proxy.clone(), account.clone(), p.clone());
            tokio::spawn(async move {
                let mut h = HeaderMap::new();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes={}-{}", p.from, p.to - 1)) {
                    h.insert("range", v);
                }
                let path = format!("/{account}/{}/{}", p.container, p.name);
                let placement = proxy.backend.place(
                    Kind::Object,
                    RingPath::Object(&account, &p.container, &p.name),
                );
                crate::object::fetch(&proxy, &placement, &path, &h, Method::GET).await
            })
        };
        let mut next = pieces.first().map(fetch);
        for (i, p) in pieces.iter().enumerate() {
            let Some(pending) = next.take() else {
                return;
            };
            let resp = pending.await;
            next = pieces.get(i + 1).map(fetch);
            let changed = |r: &http::Response<hyper::body::Incoming>| {
                let got = r.headers().get("etag").and_then(|v| v.to_str().ok());
                p.etag
                    .as_deref()
                    .is_some_and(|want| got.map(|g| g.trim_matches('"')) != Some(want))
            };
            let resp = match resp {
                Ok(Ok(r)) if r.status().is_success() && !changed(&r) => r,
                _ => {
                    let why = format!("segment {}/{} unavailable or changed", p.container, p.name);
                    let _ = tx.send(Err(std::io::Error::other(why))).await;
                    return;
                }
            };
            let mut incoming = resp.into_body();
            while let Some(frame) = incoming.frame().await {
                match frame {
                    Ok(f) => {
                        if let Ok(d) = f.into_data() {
                            if tx.send(Ok(d)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                        return;
                    }
                }
            }
        }
    });
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_preconditions() {
        let mut h = HeaderMap::new();
        assert_eq!(range(&h, 10), Ok(None));
        h.insert("range", "bytes=2-4".parse().unwrap());
        assert_eq!(range(&h, 10), Ok(Some((2, 5))));
        h.insert("range", "bytes=-3".parse().unwrap());
        assert_eq!(range(&h, 10), Ok(Some((7, 10))));
        h.insert("range", "bytes=10-".parse().unwrap());
        assert_eq!(range(&h, 10), Err(()));
        let mut c = HeaderMap::new();
        c.insert("if-match", "\"abc\"".parse().unwrap());
        assert_eq!(precondition(&c, "abc", &Method::GET), None);
        assert_eq!(
            precondition(&c, "xyz", &Method::GET),
            Some(StatusCode::PRECONDITION_FAILED)
        );
        let mut n = HeaderMap::new();
        n.insert("if-none-match", "abc".parse().unwrap());
        assert_eq!(
            precondition(&n, "abc", &Method::HEAD),
            Some(StatusCode::NOT_MODIFIED)
        );
    }
}
