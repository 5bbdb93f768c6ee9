//! Dynamic large objects: a manifest object with `X-Object-Manifest:
//! <container>/<prefix>` reads as the concatenation of every object under
//! that prefix, in name order (what `swift upload --segment-size` makes).

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use md5::{Digest, Md5};
use stratus_common::body::Body;
use stratus_ring::Path as RingPath;

use crate::backend::Kind;
use crate::errors::{empty, error, Response};
use crate::server::Proxy;

/// One segment: name and size as the container listing has them.
struct Segment {
    name: String,
    bytes: u64,
}

/// Lists every object of `container` under `prefix` (paging by marker).
async fn segments(
    proxy: &Proxy,
    account: &str,
    container: &str,
    prefix: &str,
) -> Result<(Vec<Segment>, String), StatusCode> {
    let mut out = Vec::new();
    let mut md5 = Md5::new();
    let mut marker = String::new();
    loop {
        let query = format!(
            "format=json&prefix={}&marker={}",
            crate::backend::encode_path(prefix).replace('/', "%2F"),
            crate::backend::encode_path(&marker).replace('/', "%2F")
        );
        let body = crate::db::read_listing(proxy, account, container, &query).await?;
        let rows: Vec<serde_json::Value> =
            serde_json::from_slice(&body).map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let name = row["name"].as_str().unwrap_or_default().to_string();
            md5.update(row["hash"].as_str().unwrap_or_default().as_bytes());
            out.push(Segment {
                bytes: row["bytes"].as_u64().unwrap_or(0),
                name: name.clone(),
            });
            marker = name;
        }
    }
    Ok((out, hex::encode(md5.finalize())))
}

/// The one range Swift serves over a large object, `[start, end)`; None
/// for the whole object; Err for an unsatisfiable one.
fn range(h: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, ()> {
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

/// Answers a GET or HEAD of a manifest with the segments' bytes.
pub async fn serve(
    proxy: Arc<Proxy>,
    account: &str,
    manifest: &str,
    method: &Method,
    req: &HeaderMap,
    head: &HeaderMap,
) -> Response {
    let decoded = percent_encoding::percent_decode_str(manifest)
        .decode_utf8_lossy()
        .into_owned();
    let Some((container, prefix)) = decoded.split_once('/') else {
        return error(StatusCode::BAD_REQUEST);
    };
    let (segs, etag) = match segments(&proxy, account, container, prefix).await {
        Ok(s) => s,
        Err(s) => return error(s),
    };
    let total: u64 = segs.iter().map(|s| s.bytes).sum();
    let mut r = empty(StatusCode::OK);
    for (k, v) in head {
        let n = k.as_str();
        if n.starts_with("x-object-meta-")
            || n.starts_with("x-object-sysmeta-")
            || matches!(
                n,
                "content-type"
                    | "last-modified"
                    | "x-timestamp"
                    | "x-object-manifest"
                    | "content-disposition"
                    | "content-encoding"
            )
        {
            r.headers_mut().insert(k.clone(), v.clone());
        }
    }
    let set = |r: &mut Response, n: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(n, v);
        }
    };
    set(&mut r, "etag", format!("\"{etag}\""));
    set(&mut r, "accept-ranges", "bytes".into());
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
    let (tx, body) = Body::channel();
    *r.body_mut() = body;
    let (account, container) = (account.to_string(), container.to_string());
    tokio::spawn(async move {
        let mut at = 0u64;
        for seg in segs {
            let (from, to) = (at, at + seg.bytes);
            at = to;
            if to <= start || from >= end {
                continue;
            }
            let (a, b) = (start.max(from) - from, end.min(to) - from);
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes={a}-{}", b - 1)) {
                h.insert("range", v);
            }
            let path = format!("/{account}/{container}/{}", seg.name);
            let placement = proxy.backend.place(
                Kind::Object,
                RingPath::Object(&account, &container, &seg.name),
            );
            let resp = match crate::object::fetch(&proxy, &placement, &path, &h, Method::GET).await
            {
                Ok(r) if r.status().is_success() => r,
                _ => {
                    // A segment gone missing: end the body short, as Swift does.
                    let _ = tx
                        .send(Err(std::io::Error::other(format!(
                            "segment {} unavailable",
                            seg.name
                        ))))
                        .await;
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
    r
}
