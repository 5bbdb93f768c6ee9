//! Object controller: PUT streams to every replica at once and answers
//! after a quorum; GET and HEAD read one replica and fail over; DELETE and
//! POST go to every replica.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use stratus_common::body::Body;
use stratus_ring::Path as RingPath;

use crate::backend::{Call, Kind, Placement};
use crate::errors::{empty, error, explain, Response};
use crate::quorum::{best_status, fanout, quorum};
use crate::server::{Proxy, Request, MAX_FILE_SIZE};

/// A request timestamp in Swift's form.
pub fn now_timestamp() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:010}.{:05}", d.as_secs(), d.subsec_micros() / 10)
}

fn header<'a>(h: &'a HeaderMap, n: &str) -> Option<&'a str> {
    h.get(n).and_then(|v| v.to_str().ok())
}

fn set(h: &mut HeaderMap, n: &'static str, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(n, v);
    }
}

/// Headers a client sends that travel to the object servers as they are.
fn passes_to_object(name: &str) -> bool {
    name.starts_with("x-object-meta-")
        || name.starts_with("x-object-transient-sysmeta-")
        || matches!(
            name,
            "content-type"
                | "content-length"
                | "etag"
                | "if-none-match"
                | "if-match"
                | "if-modified-since"
                | "if-unmodified-since"
                | "range"
                | "content-disposition"
                | "content-encoding"
                | "content-language"
                | "cache-control"
                | "expires"
                | "x-delete-at"
                | "x-object-manifest"
                | "x-static-large-object"
                | "x-trans-id"
                | "transfer-encoding"
        )
}

/// Response headers a backend sends that a client must not see.
fn hidden_from_client(name: &str) -> bool {
    name.starts_with("x-backend-")
        || matches!(
            name,
            "connection" | "keep-alive" | "transfer-encoding" | "date"
        )
}

/// A MIME type from the name's extension, as Swift guesses it.
pub fn guess_content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "text" | "log" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "xml" => "application/xml",
        "json" => "application/json",
        "js" => "application/javascript",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        "iso" => "application/x-iso9660-image",
        "qcow2" | "img" | "raw" | "bin" => "application/octet-stream",
        _ => "application/octet-stream",
    }
}

pub async fn handle(
    proxy: &Proxy,
    account: &str,
    container: &str,
    object: &str,
    req: Request,
) -> Response {
    let path = format!("/{account}/{container}/{object}");
    let placement = proxy
        .backend
        .place(Kind::Object, RingPath::Object(account, container, object));
    match *req.method() {
        Method::GET | Method::HEAD => get(proxy, &placement, &path, req).await,
        Method::PUT => put(proxy, &placement, &path, (account, container, object), req).await,
        Method::DELETE | Method::POST => {
            write_meta(proxy, &placement, &path, (account, container), req).await
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED),
    }
}

/// X-Delete-After becomes X-Delete-At; bad values are a 400.
fn delete_at(h: &HeaderMap) -> Result<Option<String>, Response> {
    if let Some(after) = header(h, "x-delete-after") {
        let secs: u64 = after
            .parse()
            .map_err(|_| explain(StatusCode::BAD_REQUEST, "Non-integer X-Delete-After"))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        return Ok(Some((now + secs).to_string()));
    }
    match header(h, "x-delete-at") {
        Some(at) if at.parse::<u64>().is_err() => {
            Err(explain(StatusCode::BAD_REQUEST, "Non-integer X-Delete-At"))
        }
        other => Ok(other.map(str::to_string)),
    }
}

/// The container servers' coordinates for the i-th object replica.
fn container_update(proxy: &Proxy, account: &str, container: &str, i: usize, h: &mut HeaderMap) {
    let c = proxy
        .backend
        .place(Kind::Container, RingPath::Container(account, container));
    if c.primaries.is_empty() {
        return;
    }
    let node = &c.primaries[i % c.primaries.len()];
    set(h, "x-container-host", &node.addr);
    set(h, "x-container-device", &node.device);
    set(h, "x-container-partition", &c.partition.to_string());
}

fn base_headers(req: &http::HeaderMap) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in req {
        if passes_to_object(k.as_str()) {
            h.insert(k.clone(), v.clone());
        }
    }
    h
}

async fn put(
    proxy: &Proxy,
    placement: &Placement,
    path: &str,
    names: (&str, &str, &str),
    req: Request,
) -> Response {
    let (account, container, object) = names;
    let (parts, mut body) = req.into_parts();
    let length = match header(&parts.headers, "content-length") {
        Some(v) => match v.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => return explain(StatusCode::BAD_REQUEST, "Invalid Content-Length"),
        },
        None => None,
    };
    let chunked = header(&parts.headers, "transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
    if length.is_none() && !chunked {
        return error(StatusCode::LENGTH_REQUIRED);
    }
    if length.is_some_and(|l| l > MAX_FILE_SIZE) {
        return error(StatusCode::PAYLOAD_TOO_LARGE);
    }
    if parts.headers.contains_key("x-copy-from") {
        return explain(StatusCode::BAD_REQUEST, "X-Copy-From is not supported yet");
    }
    if !crate::db::container_exists(proxy, account, container).await {
        return error(StatusCode::NOT_FOUND);
    }
    let mut headers = base_headers(&parts.headers);
    match delete_at(&parts.headers) {
        Ok(Some(at)) => set(&mut headers, "x-delete-at", &at),
        Ok(None) => {}
        Err(r) => return r,
    }
    if !headers.contains_key("content-type") {
        set(&mut headers, "content-type", guess_content_type(object));
    }
    set(&mut headers, "x-timestamp", &now_timestamp());

    // Connect to every replica first, a handoff standing in for a primary
    // that cannot be reached.
    let backend = &proxy.backend;
    let n = placement.primaries.len();
    let mut handoffs = placement.handoffs.iter();
    let mut streams = Vec::new();
    let mut pending = Vec::new();
    for (i, primary) in placement.primaries.iter().enumerate() {
        let mut conn = None;
        for node in std::iter::once(primary).chain(&mut handoffs) {
            if backend.is_limited(node) {
                continue;
            }
            match backend.connect(node).await {
                Ok(c) => {
                    conn = Some(c);
                    break;
                }
                Err(e) => backend.record_error(node, &e),
            }
        }
        let Some(conn) = conn else { continue };
        let mut h = headers.clone();
        container_update(proxy, account, container, i, &mut h);
        let (tx, body) = Body::channel();
        streams.push(tx);
        let node = conn.node.clone();
        pending.push(async move {
            let r = backend
                .send_upload(
                    conn,
                    Call {
                        method: Method::PUT,
                        partition: placement.partition,
                        path,
                        query: None,
                        headers: &h,
                    },
                    body,
                )
                .await;
            match r {
                Ok(resp) => Some((resp.status(), resp.headers().clone())),
                Err(e) => {
                    backend.record_error(&node, &e);
                    None
                }
            }
        });
    }
    if streams.len() < quorum(n) {
        return error(StatusCode::SERVICE_UNAVAILABLE);
    }
    let responses = futures_util::future::join_all(pending);
    let pump = async move {
        let result = loop {
            let frame = match tokio::time::timeout(Duration::from_secs(60), body.frame()).await {
                Err(_) => break Err(StatusCode::REQUEST_TIMEOUT),
                Ok(None) => break Ok(()),
                Ok(Some(Err(_))) => {
                    break Err(StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST))
                }
                Ok(Some(Ok(f))) => f,
            };
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            // A replica that stopped reading is dropped; the rest go on.
            let mut alive = Vec::with_capacity(streams.len());
            for tx in streams.drain(..) {
                if tx.send(Ok(chunk.clone())).await.is_ok() {
                    alive.push(tx);
                }
            }
            streams = alive;
            if streams.len() < quorum(n) {
                break Err(StatusCode::SERVICE_UNAVAILABLE);
            }
        };
        if result.is_err() {
            // Abort the uploads so no replica stores a truncated object.
            for tx in &streams {
                let _ = tx
                    .send(Err(std::io::Error::other("client upload failed")))
                    .await;
            }
        }
        result
    };
    // Drive uploads and pump together until the body is sent, then give
    // the replicas node_timeout to answer.
    let mut responses = std::pin::pin!(responses);
    let (early, pumped) =
        match futures_util::future::select(std::pin::pin!(pump), responses.as_mut()).await {
            futures_util::future::Either::Left((r, _)) => (None, r),
            futures_util::future::Either::Right((answers, pump)) => (Some(answers), pump.await),
        };
    let answers = match early {
        Some(a) => a,
        None => match tokio::time::timeout(proxy.backend.node_timeout, responses).await {
            Ok(a) => a,
            Err(_) => return error(StatusCode::SERVICE_UNAVAILABLE),
        },
    };
    if let Err(status) = pumped {
        // Replicas that refused early (full, conflict) explain better.
        let early = best_status(&answers, n);
        return error(if early.is_client_error() || early.as_u16() == 507 {
            early
        } else {
            status
        });
    }
    let status = best_status(&answers, n);
    if status != StatusCode::CREATED {
        return error(status);
    }
    let mut r = empty(StatusCode::CREATED);
    let etag = answers
        .iter()
        .flatten()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .find_map(|(_, h)| header(h, "etag").map(str::to_string));
    if let Some(etag) = etag {
        set(r.headers_mut(), "etag", &etag);
    }
    set(
        r.headers_mut(),
        "last-modified",
        &httpdate::fmt_http_date(SystemTime::now()),
    );
    set(r.headers_mut(), "content-type", "text/html; charset=UTF-8");
    r
}

async fn get(proxy: &Proxy, placement: &Placement, path: &str, req: Request) -> Response {
    let backend = &proxy.backend;
    let headers = base_headers(req.headers());
    let method = req.method().clone();
    // The newest tombstone seen: a replica older than it must not answer.
    let mut newest_404: Option<String> = None;
    let mut answered = false;
    for node in placement.primaries.iter().chain(&placement.handoffs) {
        if backend.is_limited(node) {
            continue;
        }
        let resp = match backend
            .request(
                node,
                Call {
                    method: method.clone(),
                    partition: placement.partition,
                    path,
                    query: None,
                    headers: &headers,
                },
                Body::empty(),
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                backend.record_error(node, &e);
                continue;
            }
        };
        let status = resp.status();
        let ts = header(resp.headers(), "x-backend-timestamp").map(str::to_string);
        if status == StatusCode::NOT_FOUND {
            answered = true;
            if ts > newest_404 {
                newest_404 = ts;
            }
            continue;
        }
        if status.is_server_error() {
            backend.record_error(node, &status);
            continue;
        }
        if newest_404.is_some() && ts < newest_404 {
            continue; // older than a deletion another replica knows of
        }
        return relay(resp, backend.node_timeout);
    }
    error(if answered {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    })
}

/// Passes a backend response to the client, streaming its body.
pub fn relay(resp: http::Response<Incoming>, timeout: Duration) -> Response {
    let (parts, mut incoming) = resp.into_parts();
    let mut r = empty(parts.status);
    for (k, v) in &parts.headers {
        if !hidden_from_client(k.as_str()) {
            r.headers_mut().append(HeaderName::from(k), v.clone());
        }
    }
    let (tx, body) = Body::channel();
    tokio::spawn(async move {
        loop {
            match tokio::time::timeout(timeout, incoming.frame()).await {
                Ok(None) => return,
                Ok(Some(Ok(f))) => {
                    if let Ok(d) = f.into_data() {
                        if tx.send(Ok(d)).await.is_err() {
                            return;
                        }
                    }
                }
                // A replica failing mid-body: cut the client's response
                // short rather than send wrong bytes.
                Ok(Some(Err(e))) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
                Err(_) => {
                    let _ = tx
                        .send(Err(std::io::Error::other("storage node timed out")))
                        .await;
                    return;
                }
            }
        }
    });
    *r.body_mut() = body;
    r
}

async fn write_meta(
    proxy: &Proxy,
    placement: &Placement,
    path: &str,
    names: (&str, &str),
    req: Request,
) -> Response {
    let (account, container) = names;
    let method = req.method().clone();
    let mut headers = base_headers(req.headers());
    if method == Method::POST {
        match delete_at(req.headers()) {
            Ok(Some(at)) => set(&mut headers, "x-delete-at", &at),
            Ok(None) => {}
            Err(r) => return r,
        }
    }
    set(&mut headers, "x-timestamp", &now_timestamp());
    let answers = fanout(&proxy.backend, placement, method.clone(), path, None, |i| {
        let mut h = headers.clone();
        if method == Method::DELETE {
            container_update(proxy, account, container, i, &mut h);
        }
        h
    })
    .await;
    let status = best_status(&answers, placement.primaries.len());
    match status {
        StatusCode::NO_CONTENT | StatusCode::ACCEPTED => {
            let mut r = empty(status);
            set(r.headers_mut(), "content-type", "text/html; charset=UTF-8");
            r
        }
        s => error(s),
    }
}
