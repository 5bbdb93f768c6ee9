//! Object controller: PUT (written to every replica by [`crate::replicas`]),
//! COPY and X-Copy-From; GET and HEAD read one replica and fail over, large
//! objects answering for their whole; DELETE and POST go to every replica.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use stratus_common::body::Body;
use stratus_ring::Path as RingPath;

use crate::access::Access;
use crate::backend::{Call, Kind, Placement};
use crate::errors::{empty, error, explain, Response};
use crate::quorum::{best_status, fanout};
use crate::replicas::{container_update, upload};
use crate::server::{Proxy, Request, MAX_FILE_SIZE};

/// A request timestamp in Swift's form.
pub fn now_timestamp() -> String {
    stratus_common::timestamp::Timestamp::now().to_string()
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
pub(crate) fn passes_to_object(name: &str) -> bool {
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
                | "x-newest"
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
    proxy: &Arc<Proxy>,
    (account, container, object): (&str, &str, &str),
    access: &Access,
    req: Request,
) -> Response {
    let path = format!("/{account}/{container}/{object}");
    let placement = proxy
        .backend
        .place(Kind::Object, RingPath::Object(account, container, object));
    let (parts, body) = req.into_parts();
    let manifest_op = crate::server::query_param(parts.uri.query(), "multipart-manifest");
    match (&parts.method, manifest_op.as_deref()) {
        (&Method::PUT, Some("put")) => {
            return crate::slo::put(proxy, (account, container, object), access, parts, body).await
        }
        (&Method::DELETE, Some("delete")) => {
            return crate::slo::delete(proxy, (account, container, object), access, &parts.headers)
                .await
        }
        _ => {}
    }
    match parts.method {
        Method::GET | Method::HEAD => get(proxy, &placement, &path, account, access, &parts).await,
        Method::PUT => {
            let names = (account, container, object);
            put(proxy, &placement, &path, names, access, parts, Some(body)).await
        }
        _ if parts.method.as_str() == "COPY" => {
            copy(proxy, (account, container, object), access, parts, body).await
        }
        Method::DELETE => {
            if let Some(info) = crate::db::container_info(proxy, account, container).await {
                let at = (account, container, object);
                if let Some(r) = crate::versioned::delete(proxy, at, &info, access).await {
                    return r;
                }
            }
            write_meta(proxy, &placement, &path, (account, container), &parts).await
        }
        Method::POST => write_meta(proxy, &placement, &path, (account, container), &parts).await,
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
    access: &Access,
    parts: http::request::Parts,
    body: Option<Incoming>,
) -> Response {
    let (account, container, object) = names;
    let mut headers = base_headers(&parts.headers);
    let (mut body, length) = match (parts.headers.get("x-copy-from"), body) {
        (Some(from), body) => {
            drop(body);
            let from = from.to_str().unwrap_or_default();
            match copy_source(proxy, account, from, &parts.headers, &mut headers).await {
                Ok(src) => src,
                Err(r) => return r,
            }
        }
        (None, Some(b)) => match client_length(&parts.headers) {
            Ok(len) => (b, len),
            Err(r) => return r,
        },
        (None, None) => return error(StatusCode::BAD_REQUEST),
    };
    let Some(info) = crate::db::container_info(proxy, account, container).await else {
        return error(StatusCode::NOT_FOUND);
    };
    let adding = length.unwrap_or(0);
    if let Err(r) = crate::quota::check_upload(proxy, account, container, &info, adding).await {
        return r;
    }
    if let Err(r) = crate::versioned::before_overwrite(proxy, names, &info, access).await {
        return r;
    }
    match delete_at(&parts.headers) {
        Ok(Some(at)) => set(&mut headers, "x-delete-at", &at),
        Ok(None) => {}
        Err(r) => return r,
    }
    if !headers.contains_key("content-type") {
        set(&mut headers, "content-type", guess_content_type(object));
    }
    set(&mut headers, "x-timestamp", &now_timestamp());
    if let Some(l) = length {
        set(&mut headers, "content-length", &l.to_string());
    }
    let copied = headers.remove("x-copied-from");
    let mut r = upload(
        proxy,
        placement,
        path,
        (account, container),
        &headers,
        &mut body,
    )
    .await;
    if let (Some(c), StatusCode::CREATED) = (copied, r.status()) {
        r.headers_mut().insert("x-copied-from", c);
    }
    r
}

/// The client's declared length: 411 without one (and not chunked), 413
/// over Swift's maximum object size.
fn client_length(h: &HeaderMap) -> Result<Option<u64>, Response> {
    let length = match header(h, "content-length") {
        Some(v) => match v.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => return Err(explain(StatusCode::BAD_REQUEST, "Invalid Content-Length")),
        },
        None => None,
    };
    let chunked = header(h, "transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
    if length.is_none() && !chunked {
        return Err(error(StatusCode::LENGTH_REQUIRED));
    }
    if length.is_some_and(|l| l > MAX_FILE_SIZE) {
        return Err(error(StatusCode::PAYLOAD_TOO_LARGE));
    }
    Ok(length)
}

/// Headers of a copy's source that the copy keeps unless the request
/// sets them (user metadata only without `X-Fresh-Metadata: true`).
fn copied_from_source(name: &str, fresh: bool) -> bool {
    (!fresh && name.starts_with("x-object-meta-")) || is_content_header(name)
}

/// The headers that describe an object's content and travel with it.
pub fn is_content_header(name: &str) -> bool {
    matches!(
        name,
        "content-type"
            | "content-disposition"
            | "content-encoding"
            | "content-language"
            | "cache-control"
            | "expires"
    )
}

/// Opens the source of `X-Copy-From: <container>/<object>` (same account)
/// and merges its metadata under the request's; returns its body and length.
async fn copy_source(
    proxy: &Proxy,
    account: &str,
    from: &str,
    request: &HeaderMap,
    headers: &mut HeaderMap,
) -> Result<(Incoming, Option<u64>), Response> {
    let bad = || {
        explain(
            StatusCode::PRECONDITION_FAILED,
            "X-Copy-From header must be of the form <container name>/<object name>",
        )
    };
    let decoded = percent_encoding::percent_decode_str(from)
        .decode_utf8()
        .map_err(|_| bad())?;
    let (container, object) = decoded
        .trim_start_matches('/')
        .split_once('/')
        .ok_or_else(bad)?;
    if container.is_empty() || object.is_empty() {
        return Err(bad());
    }
    if header(request, "x-copy-from-account").is_some_and(|a| a != account) {
        return Err(error(StatusCode::FORBIDDEN));
    }
    let path = format!("/{account}/{container}/{object}");
    let placement = proxy
        .backend
        .place(Kind::Object, RingPath::Object(account, container, object));
    let src = fetch(proxy, &placement, &path, &HeaderMap::new(), Method::GET)
        .await
        .map_err(error)?;
    if src.status() != StatusCode::OK {
        return Err(error(src.status()));
    }
    let fresh = header(request, "x-fresh-metadata").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    for (k, v) in src.headers() {
        if copied_from_source(k.as_str(), fresh) && !request.contains_key(k) {
            headers.insert(k.clone(), v.clone());
        }
    }
    for h in [
        "range",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "transfer-encoding",
    ] {
        headers.remove(h);
    }
    set(headers, "x-copied-from", &format!("{container}/{object}"));
    let length = header(src.headers(), "content-length").and_then(|v| v.parse().ok());
    Ok((src.into_body(), length))
}

/// `COPY` with `Destination: <container>/<object>`: a PUT of the
/// destination copying from this object.
async fn copy(
    proxy: &Proxy,
    (account, container, object): (&str, &str, &str),
    access: &Access,
    mut parts: http::request::Parts,
    body: Incoming,
) -> Response {
    drop(body);
    let Some(dest) = header(&parts.headers, "destination").map(str::to_string) else {
        return explain(
            StatusCode::PRECONDITION_FAILED,
            "You must provide a Destination header",
        );
    };
    let decoded = percent_encoding::percent_decode_str(&dest)
        .decode_utf8_lossy()
        .into_owned();
    let Some((dc, dobj)) = decoded
        .trim_start_matches('/')
        .split_once('/')
        .filter(|(c, o)| !c.is_empty() && !o.is_empty())
    else {
        return explain(
            StatusCode::PRECONDITION_FAILED,
            "Destination header must be of the form <container name>/<object name>",
        );
    };
    if header(&parts.headers, "destination-account").is_some_and(|a| a != account) {
        return error(StatusCode::FORBIDDEN);
    }
    let source = crate::backend::encode_path(&format!("/{container}/{object}"));
    if let Ok(v) = HeaderValue::from_str(&source) {
        parts.headers.insert("x-copy-from", v);
    }
    parts.method = Method::PUT;
    let path = format!("/{account}/{dc}/{dobj}");
    let placement = proxy
        .backend
        .place(Kind::Object, RingPath::Object(account, dc, dobj));
    put(
        proxy,
        &placement,
        &path,
        (account, dc, dobj),
        access,
        parts,
        None,
    )
    .await
}

pub(crate) async fn get(
    proxy: &Arc<Proxy>,
    placement: &Placement,
    path: &str,
    account: &str,
    access: &Access,
    req: &http::request::Parts,
) -> Response {
    let headers = base_headers(&req.headers);
    let resp = match fetch(proxy, placement, path, &headers, req.method.clone()).await {
        Ok(resp) => resp,
        Err(status) => return error(status),
    };
    let manifest_itself =
        crate::server::query_param(req.uri.query(), "multipart-manifest").as_deref() == Some("get");
    // A large object answers for its whole, whatever the manifest's own
    // answer to the range or conditions was (its headers come with any).
    let dlo = header(resp.headers(), "x-object-manifest").map(str::to_string);
    let answered = resp.status().is_success()
        || matches!(
            resp.status(),
            StatusCode::RANGE_NOT_SATISFIABLE
                | StatusCode::NOT_MODIFIED
                | StatusCode::PRECONDITION_FAILED
        );
    if crate::slo::is_slo(resp.headers()) && answered {
        if manifest_itself {
            drop(resp);
            let raw =
                crate::server::query_param(req.uri.query(), "format").as_deref() == Some("raw");
            return crate::slo::manifest(proxy, placement, path, raw).await;
        }
        let at = (account, placement, path);
        return crate::slo::serve(proxy.clone(), at, access, &req.method, &req.headers, resp).await;
    }
    match dlo {
        Some(m) if !manifest_itself && answered => {
            let head = resp.headers().clone();
            drop(resp);
            crate::dlo::serve(
                proxy.clone(),
                account,
                access,
                &m,
                &req.method,
                &req.headers,
                &head,
            )
            .await
        }
        _ => relay(resp, proxy.backend.node_timeout),
    }
}

/// The answer of the first replica that has the object (or answers a
/// conditional or range request), never one older than a tombstone
/// another replica reported.
pub(crate) async fn fetch(
    proxy: &Proxy,
    placement: &Placement,
    path: &str,
    headers: &HeaderMap,
    method: Method,
) -> Result<http::Response<Incoming>, StatusCode> {
    let backend = &proxy.backend;
    // X-Newest: ask every replica and answer from the newest.
    let newest = header(headers, "x-newest").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut best: Option<(String, http::Response<Incoming>)> = None;
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
                    headers,
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
        if !newest {
            return Ok(resp);
        }
        let ts = ts.unwrap_or_default();
        if best.as_ref().is_none_or(|(b, _)| ts > *b) {
            best = Some((ts, resp));
        }
    }
    if let Some((ts, resp)) = best {
        if newest_404.as_ref().is_none_or(|t| ts >= *t) {
            return Ok(resp);
        }
    }
    Err(if answered {
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

pub(crate) async fn write_meta(
    proxy: &Proxy,
    placement: &Placement,
    path: &str,
    names: (&str, &str),
    req: &http::request::Parts,
) -> Response {
    let (account, container) = names;
    let method = req.method.clone();
    let mut headers = base_headers(&req.headers);
    if method == Method::POST {
        match delete_at(&req.headers) {
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
