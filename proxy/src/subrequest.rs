//! Subrequests: what middleware does to objects by name on its own —
//! upload, delete, copy an object as it is stored (old versions), write a
//! versioning delete marker — placed on the ring here, so callers name
//! objects, not partitions.

use http::{HeaderMap, Method, StatusCode};
use hyper::body::Incoming;
use stratus_common::body::Body;
use stratus_ring::Path as RingPath;

use crate::backend::Kind;
use crate::errors::Response;
use crate::object::{is_content_header, now_timestamp, write_meta};
use crate::replicas::{upload, UploadSource};
use crate::server::Proxy;

fn set(h: &mut HeaderMap, n: &'static str, v: &str) {
    if let Ok(v) = http::HeaderValue::from_str(v) {
        h.insert(n, v);
    }
}

/// Request parts for a controller: `method` with `query` ("" for none).
pub fn parts(method: Method, query: &str) -> http::request::Parts {
    let uri = if query.is_empty() {
        "/".to_string()
    } else {
        format!("/?{query}")
    };
    let mut p = http::Request::new(()).into_parts().0;
    p.method = method;
    p.uri = uri.parse().unwrap_or_default();
    p
}

/// The object `account/container/name` as stored (a manifest as itself,
/// HEAD or GET): None when there is none, Err for any other failure.
pub async fn stored(
    proxy: &Proxy,
    (account, container, name): (&str, &str, &str),
    method: Method,
) -> Result<Option<http::Response<Incoming>>, StatusCode> {
    let placement = proxy
        .backend
        .place(Kind::Object, RingPath::Object(account, container, name));
    let path = format!("/{account}/{container}/{name}");
    match crate::object::fetch(proxy, &placement, &path, &HeaderMap::new(), method).await {
        Ok(r) if r.status().is_success() => Ok(Some(r)),
        Ok(r) if r.status() == StatusCode::NOT_FOUND => Ok(None),
        Err(StatusCode::NOT_FOUND) => Ok(None),
        Ok(r) => Err(r.status()),
        Err(s) => Err(s),
    }
}

/// Uploads `body` as the object `account/container/name` with `headers`.
pub async fn upload_to(
    proxy: &Proxy,
    (account, container, name): (&str, &str, &str),
    headers: &HeaderMap,
    body: &mut impl UploadSource,
) -> Response {
    let placement = proxy
        .backend
        .place(Kind::Object, RingPath::Object(account, container, name));
    let path = format!("/{account}/{container}/{name}");
    upload(
        proxy,
        &placement,
        &path,
        (account, container),
        headers,
        body,
    )
    .await
}

/// Deletes the object `account/container/name`: the quorum's status.
pub async fn delete_object(
    proxy: &Proxy,
    (account, container, name): (&str, &str, &str),
) -> StatusCode {
    let placement = proxy
        .backend
        .place(Kind::Object, RingPath::Object(account, container, name));
    let path = format!("/{account}/{container}/{name}");
    write_meta(
        proxy,
        &placement,
        &path,
        (account, container),
        &parts(Method::DELETE, ""),
    )
    .await
    .status()
}

/// Writes a versioning delete marker (an empty object of Swift's
/// `application/x-deleted` type) as `account/container/name`.
pub async fn put_delete_marker(proxy: &Proxy, at: (&str, &str, &str)) -> StatusCode {
    let mut h = HeaderMap::new();
    set(&mut h, "content-length", "0");
    set(
        &mut h,
        "content-type",
        "application/x-deleted;swift_versions_deleted=1",
    );
    set(&mut h, "x-timestamp", &now_timestamp());
    upload_to(proxy, at, &h, &mut Body::empty()).await.status()
}

/// Copies an object as it is stored — headers, sysmeta and body; a
/// manifest stays a manifest — to `account/container/name`, dated as the
/// original unless `now`; `adjust` may change the headers first. Old
/// versions are kept this way (Swift's versioned writes, S3 versions).
pub async fn copy_stored(
    proxy: &Proxy,
    from: http::Response<Incoming>,
    (account, container, name): (&str, &str, &str),
    now: bool,
    adjust: impl FnOnce(&mut HeaderMap),
) -> StatusCode {
    let (parts, mut body) = from.into_parts();
    let mut h = HeaderMap::new();
    for (k, v) in &parts.headers {
        let n = k.as_str();
        if n.starts_with("x-object-meta-")
            || n.contains("-sysmeta-")
            || matches!(
                n,
                "content-type"
                    | "content-length"
                    | "etag"
                    | "x-object-manifest"
                    | "x-static-large-object"
                    | "x-timestamp"
            )
            || is_content_header(n)
        {
            h.append(k.clone(), v.clone());
        }
    }
    if now || !h.contains_key("x-timestamp") {
        set(&mut h, "x-timestamp", &now_timestamp());
    }
    adjust(&mut h);
    upload_to(proxy, (account, container, name), &h, &mut body)
        .await
        .status()
}
