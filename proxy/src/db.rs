//! Account and container controllers: writes go to every replica and a
//! quorum decides; reads come from the first replica that answers.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use stratus_common::body::Body;
use stratus_ring::Path as RingPath;

use crate::backend::{Call, Kind, Placement};
use crate::errors::{empty, error, Response};
use crate::object::{now_timestamp, relay};
use crate::quorum::{best_status, fanout};
use http::request::Parts;

use crate::server::Proxy;

/// How long a container seen to exist is trusted without asking again.
const CONTAINER_CACHE: Duration = Duration::from_secs(5);

fn kept(name: &str, kind: Kind) -> bool {
    match kind {
        Kind::Container => {
            name.starts_with("x-container-meta-")
                || name.starts_with("x-container-sysmeta-")
                || matches!(
                    name,
                    "x-container-read"
                        | "x-container-write"
                        | "x-versions-location"
                        | "x-history-location"
                )
        }
        _ => name.starts_with("x-account-meta-"),
    }
}

fn meta_headers(req: &HeaderMap, kind: Kind) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in req {
        if kept(k.as_str(), kind) {
            h.insert(k.clone(), v.clone());
        }
    }
    // `X-Remove-<name>` removes `X-<name>`, as an empty value does.
    for k in req.keys() {
        let Some(rest) = k.as_str().strip_prefix("x-remove-") else {
            continue;
        };
        let name = format!("x-{rest}");
        if kept(&name, kind) {
            if let Ok(n) = http::HeaderName::from_bytes(name.as_bytes()) {
                h.insert(n, HeaderValue::from_static(""));
            }
        }
    }
    if let Ok(v) = HeaderValue::from_str(&now_timestamp()) {
        h.insert("x-timestamp", v);
    }
    h
}

fn answer(status: StatusCode) -> Response {
    if status.is_success() {
        let mut r = empty(status);
        r.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("text/html; charset=UTF-8"),
        );
        r
    } else {
        error(status)
    }
}

/// The first replica's 2xx answer to a read, or 404 if all say so.
async fn read(
    proxy: &Proxy,
    placement: &Placement,
    path: &str,
    req: &Parts,
) -> Result<Response, StatusCode> {
    let backend = &proxy.backend;
    let mut headers = HeaderMap::new();
    if let Some(a) = req.headers.get("accept") {
        headers.insert("accept", a.clone());
    }
    let mut not_found = false;
    for node in placement.primaries.iter().chain(&placement.handoffs) {
        if backend.is_limited(node) {
            continue;
        }
        match backend
            .request(
                node,
                Call {
                    method: req.method.clone(),
                    partition: placement.partition,
                    path,
                    query: req.uri.query(),
                    headers: &headers,
                },
                Body::empty(),
            )
            .await
        {
            Ok(resp)
                if resp.status().is_success()
                    || resp.status() == StatusCode::PRECONDITION_FAILED =>
            {
                return Ok(relay(resp, backend.node_timeout));
            }
            Ok(resp) if resp.status() == StatusCode::NOT_FOUND => not_found = true,
            Ok(resp) => backend.record_error(node, &resp.status()),
            Err(e) => backend.record_error(node, &e),
        }
    }
    Err(if not_found {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    })
}

pub async fn container(proxy: &Proxy, account: &str, container: &str, req: &Parts) -> Response {
    let path = format!("/{account}/{container}");
    if req.method != Method::GET && req.method != Method::HEAD {
        // Its ACLs or its existence may change: forget what was cached.
        if let Ok(mut c) = proxy.containers.lock() {
            c.remove(&path);
        }
    }
    let placement = proxy
        .backend
        .place(Kind::Container, RingPath::Container(account, container));
    let acct = proxy
        .backend
        .place(Kind::Account, RingPath::Account(account));
    let account_headers = |i: usize, h: &mut HeaderMap| {
        if let Some(node) = acct.primaries.get(i % acct.primaries.len().max(1)) {
            for (n, v) in [
                ("x-account-host", node.addr.clone()),
                ("x-account-device", node.device.clone()),
                ("x-account-partition", acct.partition.to_string()),
            ] {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    h.insert(n, v);
                }
            }
        }
    };
    let n = placement.primaries.len();
    match req.method {
        Method::GET | Method::HEAD => read(proxy, &placement, &path, req)
            .await
            .unwrap_or_else(error),
        Method::PUT | Method::POST | Method::DELETE => {
            if let Err(r) = crate::quota::check_settings(&req.headers) {
                return r;
            }
            if let Err(r) = crate::versioned::check_settings(&req.headers) {
                return r;
            }
            let method = req.method.clone();
            if method == Method::PUT && !ensure_account(proxy, account).await {
                return error(StatusCode::SERVICE_UNAVAILABLE);
            }
            let base = meta_headers(&req.headers, Kind::Container);
            // Creating and deleting a container changes its account's listing.
            let tells_account = method != Method::POST;
            let answers = fanout(&proxy.backend, &placement, method, &path, None, |i| {
                let mut h = base.clone();
                if tells_account {
                    account_headers(i, &mut h);
                }
                h
            })
            .await;
            // A read racing this write may have cached the old state.
            if let Ok(mut c) = proxy.containers.lock() {
                c.remove(&path);
            }
            answer(best_status(&answers, n))
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED),
    }
}

/// A container listing's raw body (first replica that answers).
pub async fn read_listing(
    proxy: &Proxy,
    account: &str,
    container: &str,
    query: &str,
) -> Result<Bytes, StatusCode> {
    use http_body_util::BodyExt;
    let path = format!("/{account}/{container}");
    let placement = proxy
        .backend
        .place(Kind::Container, RingPath::Container(account, container));
    let none = HeaderMap::new();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for node in placement.primaries.iter().chain(&placement.handoffs) {
        if proxy.backend.is_limited(node) {
            continue;
        }
        let call = Call {
            method: Method::GET,
            partition: placement.partition,
            path: &path,
            query: Some(query),
            headers: &none,
        };
        match proxy.backend.request(node, call, Body::empty()).await {
            Ok(r) if r.status() == StatusCode::OK => {
                let body =
                    tokio::time::timeout(proxy.backend.node_timeout, r.into_body().collect()).await;
                if let Ok(Ok(b)) = body {
                    return Ok(b.to_bytes());
                }
            }
            Ok(r) if r.status() == StatusCode::NO_CONTENT => return Ok(Bytes::from_static(b"[]")),
            Ok(r) if r.status() == StatusCode::NOT_FOUND => status = StatusCode::NOT_FOUND,
            Ok(r) => proxy.backend.record_error(node, &r.status()),
            Err(e) => proxy.backend.record_error(node, &e),
        }
    }
    Err(status)
}

/// Accounts are created on first use (Swift's `account_autocreate`).
async fn ensure_account(proxy: &Proxy, account: &str) -> bool {
    let placement = proxy
        .backend
        .place(Kind::Account, RingPath::Account(account));
    let ts = now_timestamp();
    let answers = fanout(
        &proxy.backend,
        &placement,
        Method::PUT,
        &format!("/{account}"),
        None,
        |_| {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&ts) {
                h.insert("x-timestamp", v);
            }
            h
        },
    )
    .await;
    best_status(&answers, placement.primaries.len()).is_success()
}

/// What the proxy needs to know of a container: that it exists and its
/// ACLs. Cached briefly, as Swift caches container info.
#[derive(Debug, Clone, Default)]
pub struct ContainerInfo {
    pub read_acl: Option<String>,
    pub write_acl: Option<String>,
    /// `X-Container-Meta-Access-Control-Allow-Origin`, `-Max-Age`,
    /// `-Expose-Headers`.
    pub cors_origins: Option<String>,
    pub cors_max_age: Option<String>,
    pub cors_expose: Option<String>,
    /// `X-Container-Sysmeta-<name>` values by `<name>` (the proxy's own
    /// settings, e.g. the S3 API's bucket ACL and CORS rules).
    pub sysmeta: std::collections::BTreeMap<String, String>,
    /// `X-Container-Meta-<name>` values by lower-case `<name>` (TempURL
    /// keys, quotas).
    pub meta: std::collections::BTreeMap<String, String>,
    pub bytes_used: u64,
    pub object_count: u64,
    /// Versioned writes: `X-Versions-Location` (stack mode) and
    /// `X-History-Location` (history mode).
    pub versions_location: Option<String>,
    pub history_location: Option<String>,
}

/// `<prefix><name>` headers as a map of `<name>` to value.
fn prefixed(h: &HeaderMap, prefix: &str) -> std::collections::BTreeMap<String, String> {
    h.iter()
        .filter_map(|(k, v)| {
            let name = k.as_str().strip_prefix(prefix)?;
            Some((name.to_string(), v.to_str().ok()?.to_string()))
        })
        .collect()
}

fn number(h: &HeaderMap, name: &str) -> u64 {
    h.get(name)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0)
}

/// What the proxy needs to know of an account: its metadata (TempURL
/// keys, quota) and usage. Cached briefly, as containers are.
#[derive(Debug, Clone, Default)]
pub struct AccountInfo {
    /// `X-Account-Meta-<name>` values by lower-case `<name>`.
    pub meta: std::collections::BTreeMap<String, String>,
    pub bytes_used: u64,
}

/// The account's info, not from the cache.
pub async fn fresh_account_info(proxy: &Proxy, account: &str) -> AccountInfo {
    if let Ok(mut c) = proxy.accounts.lock() {
        c.remove(account);
    }
    account_info(proxy, account).await
}

/// The container's info, not from the cache.
pub async fn fresh_container_info(
    proxy: &Proxy,
    account: &str,
    container: &str,
) -> Option<ContainerInfo> {
    if let Ok(mut c) = proxy.containers.lock() {
        c.remove(&format!("/{account}/{container}"));
    }
    container_info(proxy, account, container).await
}

/// The account's info (an account nobody wrote to yet has none).
pub async fn account_info(proxy: &Proxy, account: &str) -> AccountInfo {
    if let Ok(c) = proxy.accounts.lock() {
        if let Some((t, info)) = c.get(account) {
            if t.elapsed() < CONTAINER_CACHE {
                return info.clone();
            }
        }
    }
    let head = crate::subrequest::parts(Method::HEAD, "");
    let resp = account_request(proxy, account, &head).await;
    let info = if resp.status().is_success() {
        AccountInfo {
            meta: prefixed(resp.headers(), "x-account-meta-"),
            bytes_used: number(resp.headers(), "x-account-bytes-used"),
        }
    } else {
        AccountInfo::default()
    };
    if let Ok(mut c) = proxy.accounts.lock() {
        c.insert(account.to_string(), (Instant::now(), info.clone()));
    }
    info
}

/// The container's info, or None when it does not exist.
pub async fn container_info(
    proxy: &Proxy,
    account: &str,
    container: &str,
) -> Option<ContainerInfo> {
    let path = format!("/{account}/{container}");
    if let Ok(c) = proxy.containers.lock() {
        if let Some((t, info)) = c.get(&path) {
            if t.elapsed() < CONTAINER_CACHE {
                return Some(info.clone());
            }
        }
    }
    let placement = proxy
        .backend
        .place(Kind::Container, RingPath::Container(account, container));
    let none = HeaderMap::new();
    for node in placement.primaries.iter().chain(&placement.handoffs) {
        if proxy.backend.is_limited(node) {
            continue;
        }
        let call = Call {
            method: Method::HEAD,
            partition: placement.partition,
            path: &path,
            query: None,
            headers: &none,
        };
        match proxy.backend.request(node, call, Body::empty()).await {
            Ok(r) if r.status().is_success() => {
                let get = |n: &str| {
                    r.headers()
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let info = ContainerInfo {
                    read_acl: get("x-container-read"),
                    write_acl: get("x-container-write"),
                    cors_origins: get("x-container-meta-access-control-allow-origin"),
                    cors_max_age: get("x-container-meta-access-control-max-age"),
                    cors_expose: get("x-container-meta-access-control-expose-headers"),
                    sysmeta: prefixed(r.headers(), "x-container-sysmeta-"),
                    meta: prefixed(r.headers(), "x-container-meta-"),
                    bytes_used: number(r.headers(), "x-container-bytes-used"),
                    object_count: number(r.headers(), "x-container-object-count"),
                    versions_location: get("x-versions-location"),
                    history_location: get("x-history-location"),
                };
                if let Ok(mut c) = proxy.containers.lock() {
                    c.insert(path, (Instant::now(), info.clone()));
                }
                return Some(info);
            }
            Ok(r) if r.status() == StatusCode::NOT_FOUND => {}
            Ok(r) => proxy.backend.record_error(node, &r.status()),
            Err(e) => proxy.backend.record_error(node, &e),
        }
    }
    None
}

/// Whether a container exists (cached briefly), for object PUTs.
pub async fn container_exists(proxy: &Proxy, account: &str, container: &str) -> bool {
    container_info(proxy, account, container).await.is_some()
}

pub async fn account(proxy: &Proxy, account: &str, req: &Parts) -> Response {
    if req.method != Method::GET && req.method != Method::HEAD {
        if let Ok(mut c) = proxy.accounts.lock() {
            c.remove(account);
        }
    }
    account_request(proxy, account, req).await
}

async fn account_request(proxy: &Proxy, account: &str, req: &Parts) -> Response {
    let path = format!("/{account}");
    let placement = proxy
        .backend
        .place(Kind::Account, RingPath::Account(account));
    match req.method {
        Method::GET | Method::HEAD => match read(proxy, &placement, &path, req).await {
            Ok(r) => r,
            // An account nobody wrote to yet looks empty, as with Swift's
            // account_autocreate.
            Err(StatusCode::NOT_FOUND) => empty_account(req),
            Err(s) => error(s),
        },
        // Only a reseller admin gets here with PUT or DELETE, and only
        // with allow_account_management.
        Method::PUT => match ensure_account(proxy, account).await {
            true => answer(StatusCode::CREATED),
            false => error(StatusCode::SERVICE_UNAVAILABLE),
        },
        Method::DELETE => {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&now_timestamp()) {
                h.insert("x-timestamp", v);
            }
            let answers = fanout(
                &proxy.backend,
                &placement,
                Method::DELETE,
                &path,
                None,
                |_| h.clone(),
            )
            .await;
            answer(best_status(&answers, placement.primaries.len()))
        }
        Method::POST => {
            if let Err(r) = crate::quota::check_settings(&req.headers) {
                return r;
            }
            if !ensure_account(proxy, account).await {
                return error(StatusCode::SERVICE_UNAVAILABLE);
            }
            let base = meta_headers(&req.headers, Kind::Account);
            let answers = fanout(
                &proxy.backend,
                &placement,
                Method::POST,
                &path,
                None,
                |_| base.clone(),
            )
            .await;
            answer(best_status(&answers, placement.primaries.len()))
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED),
    }
}

fn empty_account(req: &Parts) -> Response {
    let json = req
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "format=json"))
        || req
            .headers
            .get("accept")
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("application/json"));
    let mut r = empty(StatusCode::NO_CONTENT);
    if json && req.method == Method::GET {
        *r.status_mut() = StatusCode::OK;
        *r.body_mut() = Body::full(Bytes::from_static(b"[]"));
        r.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    } else {
        r.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    for n in [
        "x-account-container-count",
        "x-account-object-count",
        "x-account-bytes-used",
    ] {
        r.headers_mut().insert(n, HeaderValue::from_static("0"));
    }
    r
}
