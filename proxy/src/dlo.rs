//! Dynamic large objects: a manifest object with `X-Object-Manifest:
//! <container>/<prefix>` reads as the concatenation of every object under
//! that prefix, in name order (what `swift upload --segment-size` makes).

use std::sync::Arc;

use http::{HeaderMap, Method, StatusCode};
use md5::{Digest, Md5};

use crate::errors::{error, Response};
use crate::large::Piece;
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

/// Answers a GET or HEAD of a manifest with the segments' bytes.
pub async fn serve(
    proxy: Arc<Proxy>,
    account: &str,
    access: &crate::access::Access,
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
    if !access.may_read(&proxy, account, container).await {
        return error(StatusCode::FORBIDDEN);
    }
    let (segs, etag) = match segments(&proxy, account, container, prefix).await {
        Ok(s) => s,
        Err(s) => return error(s),
    };
    let pieces = segs
        .into_iter()
        .map(|s| Piece {
            container: container.to_string(),
            name: s.name,
            from: 0,
            to: s.bytes,
            etag: None,
        })
        .collect();
    crate::large::answer(
        proxy,
        account,
        method,
        req,
        (head, "x-object-manifest"),
        &etag,
        pieces,
    )
}
