//! Object operations: PutObject (plain, signed or aws-chunked bodies),
//! GetObject and HeadObject (ranges, conditionals, response overrides) and
//! DeleteObject, on the Swift object of the same name.

use std::sync::Arc;

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use hyper::body::Incoming;

use super::auth::Payload;
use super::body::S3Body;
use super::chunked::{ChunkDecoder, ChunkSigner};
use super::errors::S3Error;
use super::versioning::{self, Found};
use super::{bucket, from_status, Caller, Response};
use crate::server::{Proxy, MAX_FILE_SIZE};

pub(super) fn set(h: &mut HeaderMap, name: &str, value: &str) -> Result<(), S3Error> {
    let bad = || S3Error::new("InvalidArgument", format!("Invalid header {name}"));
    let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
    let v = HeaderValue::from_str(value).map_err(|_| bad())?;
    h.insert(n, v);
    Ok(())
}

/// Content-MD5 (base64) as the hex ETag the object servers check.
fn content_md5(req: &HeaderMap) -> Result<Option<String>, S3Error> {
    let Some(md5) = req.get("content-md5") else {
        return Ok(None);
    };
    let raw = md5
        .to_str()
        .ok()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .filter(|b| b.len() == 16)
        .ok_or_else(|| {
            S3Error::new(
                "InvalidDigest",
                "The Content-MD5 you specified was invalid.",
            )
        })?;
    Ok(Some(hex::encode(raw)))
}

/// Headers of a PutObject that the object keeps, in Swift's names.
pub(super) fn object_headers(req: &HeaderMap) -> Result<HeaderMap, S3Error> {
    let mut h = HeaderMap::new();
    for (name, value) in req {
        let n = name.as_str();
        let v = value
            .to_str()
            .map_err(|_| S3Error::new("InvalidArgument", format!("Invalid header {n}")))?;
        if let Some(meta) = n.strip_prefix("x-amz-meta-") {
            set(&mut h, &format!("x-object-meta-{meta}"), v)?;
        } else if matches!(
            n,
            "content-type"
                | "content-disposition"
                | "content-language"
                | "cache-control"
                | "expires"
        ) {
            set(&mut h, n, v)?;
        } else if n == "content-encoding" {
            // aws-chunked describes the transfer, not the object.
            let kept: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty() && *e != "aws-chunked")
                .collect();
            if !kept.is_empty() {
                set(&mut h, n, &kept.join(", "))?;
            }
        }
    }
    if !h.contains_key("content-type") {
        h.insert(
            "content-type",
            HeaderValue::from_static("binary/octet-stream"),
        );
    }
    if let Some(md5) = content_md5(req)? {
        // The object servers refuse (422) a body whose MD5 differs.
        set(&mut h, "etag", &md5)?;
    }
    if let Some(tags) = super::tagging::from_headers(req)? {
        set(&mut h, super::tagging::OBJECT_SYSMETA, &tags)?;
    }
    match super::acl::Canned::from_headers(req)? {
        Some(acl) if acl != super::acl::Canned::Private => {
            set(&mut h, super::acl::OBJECT_SYSMETA, acl.name())?
        }
        _ => {}
    }
    Ok(h)
}

fn length(h: &HeaderMap, name: &str) -> Result<u64, S3Error> {
    h.get(name)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .ok_or_else(|| {
            S3Error::new(
                "MissingContentLength",
                "You must provide the Content-Length HTTP header.",
            )
        })
}

pub async fn put(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket_name: &str,
    key: &str,
    parts: http::request::Parts,
    body: Incoming,
) -> Result<Response, S3Error> {
    let state = versioning::state(proxy, c, bucket_name).await?;
    if parts.headers.contains_key("x-amz-copy-source") {
        return super::copy::copy(proxy, c, (bucket_name, key), &parts.headers, state).await;
    }
    let mut headers = object_headers(&parts.headers)?;
    put_precondition(proxy, c, (bucket_name, key), &parts.headers, &mut headers).await?;
    let replaced = super::multipart::replaced_manifest(proxy, c, bucket_name, key, state).await;
    let version = new_version(proxy, c, (bucket_name, key), state, &mut headers).await?;
    let mut r = store(proxy, c, bucket_name, key, parts, body, headers).await?;
    if let Some(m) = replaced {
        super::multipart::delete_parts_of(proxy, c, bucket_name, &m).await;
    }
    answer_version(&mut r, version);
    Ok(r)
}

/// Conditional PutObject: `If-None-Match: *` (only if there is no object
/// — also checked by each object server as it commits, so two racing
/// creators cannot both win) and `If-Match` (only over that ETag).
async fn put_precondition(
    proxy: &Arc<Proxy>,
    c: &Caller,
    (bucket_name, key): (&str, &str),
    req: &HeaderMap,
    headers: &mut HeaderMap,
) -> Result<(), S3Error> {
    let if_none = req.get("if-none-match").and_then(|v| v.to_str().ok());
    let if_match = req.get("if-match");
    if if_none.is_none() && if_match.is_none() {
        return Ok(());
    }
    if if_none.is_some_and(|v| v.trim() != "*") {
        return Err(S3Error::new(
            "NotImplemented",
            "A header you provided implies functionality that is not implemented",
        ));
    }
    let (placement, path) = super::locate(proxy, c, bucket_name, key);
    let mut conditions = HeaderMap::new();
    if let Some(m) = if_match {
        conditions.insert("if-match", m.clone());
    }
    if if_none.is_some() {
        conditions.insert("if-none-match", HeaderValue::from_static("*"));
        headers.insert("if-none-match", HeaderValue::from_static("*"));
    }
    match etag_precondition(proxy, &placement, &path, &conditions).await {
        // No object: fine for If-None-Match, NoSuchKey for If-Match.
        Some(StatusCode::NOT_FOUND) if if_match.is_none() => Ok(()),
        Some(StatusCode::NOT_MODIFIED) => {
            Err(from_status(StatusCode::PRECONDITION_FAILED, "NoSuchKey"))
        }
        Some(s) => Err(from_status(s, "NoSuchKey")),
        None => Ok(()),
    }
}

/// Before a write to `key`: keeps the version it replaces (in a
/// versioned bucket) and marks the new one; its `x-amz-version-id`.
pub(super) async fn new_version(
    proxy: &Arc<Proxy>,
    c: &Caller,
    (bucket_name, key): (&str, &str),
    state: versioning::State,
    headers: &mut HeaderMap,
) -> Result<Option<String>, S3Error> {
    let Some((answer, id)) = versioning::before_write(proxy, c, bucket_name, key, state).await?
    else {
        return Ok(None);
    };
    headers.remove(versioning::VERSION_ID);
    if let Some(id) = id {
        set(headers, versioning::VERSION_ID, &id)?;
    }
    Ok(Some(answer))
}

pub(super) fn answer_version(r: &mut Response, version: Option<String>) {
    if let Some(v) = version.and_then(|v| HeaderValue::from_str(&v).ok()) {
        r.headers_mut().insert("x-amz-version-id", v);
    }
}

/// Streams the request's body (decoded and checked) into `container/name`
/// with `headers`; answers with the S3 ETag.
pub(super) async fn store(
    proxy: &Arc<Proxy>,
    c: &Caller,
    container: &str,
    name: &str,
    parts: http::request::Parts,
    body: Incoming,
    mut headers: HeaderMap,
) -> Result<Response, S3Error> {
    // Only signed callers write (anonymous ones never get here).
    let (signed, secret) = c.signed.as_ref().ok_or_else(S3Error::access_denied)?;
    let streaming = matches!(signed.payload, Payload::Streaming { .. });
    let len = if streaming {
        length(&parts.headers, "x-amz-decoded-content-length")?
    } else {
        length(&parts.headers, "content-length")?
    };
    if len > MAX_FILE_SIZE {
        return Err(S3Error::new(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed object size.",
        ));
    }
    if let Some(md5) = content_md5(&parts.headers)? {
        set(&mut headers, "etag", &md5)?;
    }
    set(&mut headers, "content-length", &len.to_string())?;
    set(&mut headers, "x-timestamp", &crate::object::now_timestamp())?;
    let mut src = match &signed.payload {
        Payload::Streaming {
            signed: chunks_signed,
            trailer,
        } => {
            let signer = chunks_signed.then(|| ChunkSigner {
                key: signed.signing_key(secret),
                amz_date: signed.amz_date.clone(),
                scope: signed.scope(),
                previous: signed.signature.clone(),
            });
            S3Body::chunked(body, ChunkDecoder::new(signer, *trailer), Some(len))
        }
        Payload::Sha256(h) => S3Body::plain(body, Some(h.clone()), Some(len)),
        Payload::Unsigned => S3Body::plain(body, None, Some(len)),
    };
    if let Some((alg, expected)) = super::checksum::requested(&parts.headers)? {
        // A value given up front is kept with the object; one from a
        // trailer follows the body as a footer.
        if let Some(v) = &expected {
            set(&mut headers, &alg.sysmeta(), v)?;
        }
        src = src.with_checksum(alg, expected);
    }
    let at = (c.account.as_str(), container, name);
    let resp = crate::subrequest::upload_to(proxy, at, &headers, &mut src).await;
    if let Some(f) = src.failure {
        return Err(f);
    }
    if resp.status() != StatusCode::CREATED {
        return Err(from_status(resp.status(), "NoSuchKey"));
    }
    let mut r = http::Response::new(stratus_common::body::Body::empty());
    if let Some(etag) = resp.headers().get("etag").and_then(|v| v.to_str().ok()) {
        set(
            r.headers_mut(),
            "etag",
            &format!("\"{}\"", etag.trim_matches('"')),
        )?;
    }
    if let Some((alg, value)) = &src.checksum_value {
        set(r.headers_mut(), &alg.header(), value)?;
    }
    Ok(r)
}

/// Response headers S3 clients know, from the object's Swift headers.
fn s3_headers(swift: &HeaderMap) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in swift {
        let n = name.as_str();
        if let Some(meta) = n.strip_prefix("x-object-meta-") {
            if let Ok(n) = HeaderName::from_bytes(format!("x-amz-meta-{meta}").as_bytes()) {
                h.append(n, value.clone());
            }
        } else if n == "etag" && !swift.contains_key(super::multipart::ETAG_SYSMETA) {
            let quoted = format!(
                "\"{}\"",
                value.to_str().unwrap_or_default().trim_matches('"')
            );
            if let Ok(v) = HeaderValue::from_str(&quoted) {
                h.insert("etag", v);
            }
        } else if n == versioning::VERSION_ID {
            h.insert("x-amz-version-id", value.clone());
        } else if n == super::tagging::OBJECT_SYSMETA {
            let count =
                super::tagging::decode(value.to_str().unwrap_or_default()).map_or(0, |t| t.len());
            h.insert("x-amz-tagging-count", HeaderValue::from(count));
        } else if n == super::multipart::ETAG_SYSMETA {
            let quoted = format!("\"{}\"", value.to_str().unwrap_or_default());
            if let Ok(v) = HeaderValue::from_str(&quoted) {
                h.insert("etag", v);
            }
        } else if matches!(
            n,
            "content-type"
                | "content-length"
                | "content-range"
                | "last-modified"
                | "accept-ranges"
                | "content-disposition"
                | "content-encoding"
                | "content-language"
                | "cache-control"
                | "expires"
        ) {
            h.append(name.clone(), value.clone());
        }
    }
    h
}

/// If-Match and If-None-Match, checked here against the S3 ETag (a
/// multipart object's differs from its Swift manifest's): Some(412 or
/// 304) when the request must stop, Some(404) when there is no object.
async fn etag_precondition(
    proxy: &Proxy,
    placement: &crate::backend::Placement,
    path: &str,
    req: &HeaderMap,
) -> Option<StatusCode> {
    let if_match = req.get("if-match").and_then(|v| v.to_str().ok());
    let if_none = req.get("if-none-match").and_then(|v| v.to_str().ok());
    if if_match.is_none() && if_none.is_none() {
        return None;
    }
    let head =
        match crate::object::fetch(proxy, placement, path, &HeaderMap::new(), Method::HEAD).await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => return Some(r.status()),
            Err(s) => return Some(s),
        };
    let h = head.headers();
    let etag = h
        .get(super::multipart::ETAG_SYSMETA)
        .or(h.get("etag"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim_matches('"')
        .to_string();
    let listed = |list: &str| {
        list.split(',')
            .map(|e| e.trim().trim_start_matches("W/").trim_matches('"'))
            .any(|e| e == "*" || e == etag)
    };
    if if_match.is_some_and(|l| !listed(l)) {
        return Some(StatusCode::PRECONDITION_FAILED);
    }
    if if_none.is_some_and(listed) {
        return Some(StatusCode::NOT_MODIFIED);
    }
    None
}

const OVERRIDES: [(&str, &str); 6] = [
    ("response-content-type", "content-type"),
    ("response-content-disposition", "content-disposition"),
    ("response-content-encoding", "content-encoding"),
    ("response-content-language", "content-language"),
    ("response-cache-control", "cache-control"),
    ("response-expires", "expires"),
];

#[allow(clippy::too_many_arguments)]
pub async fn get(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket_name: &str,
    key: &str,
    head: bool,
    parts: &http::request::Parts,
    query: &[(String, String)],
) -> Result<Response, S3Error> {
    let mut swift = bucket::parts(if head { Method::HEAD } else { Method::GET }, "");
    for n in ["range", "if-modified-since", "if-unmodified-since"] {
        if let Some(v) = parts.headers.get(n) {
            swift.headers.insert(n, v.clone());
        }
    }
    let version = query.iter().find(|(k, _)| k == "versionId");
    let (container, name) = match version.map(|(_, v)| v.as_str()) {
        None => (bucket_name.to_string(), key.to_string()),
        Some(v) => match versioning::find(proxy, c, bucket_name, key, v).await? {
            Found::Current => (bucket_name.to_string(), key.to_string()),
            Found::Archived(_, a) if a.delete_marker => {
                return Err(S3Error::new(
                    "MethodNotAllowed",
                    "The specified method is not allowed against this resource.",
                ))
            }
            Found::Archived(n, _) => (versioning::versions_container(bucket_name), n),
            Found::Missing => {
                return Err(S3Error::new(
                    "NoSuchVersion",
                    "The specified version does not exist.",
                ))
            }
        },
    };
    let (placement, path) = super::locate(proxy, c, &container, &name);
    if let Some(status) = etag_precondition(proxy, &placement, &path, &parts.headers).await {
        if status == StatusCode::NOT_MODIFIED {
            let mut r = http::Response::new(stratus_common::body::Body::empty());
            *r.status_mut() = status;
            return Ok(r);
        }
        return Err(from_status(status, "NoSuchKey"));
    }
    // The bucket let the caller in; its parts come with it.
    let access = if c.reader {
        crate::access::Access::reader(Vec::new())
    } else {
        crate::access::Access::acl(Vec::new())
            .also_reading(super::multipart::segments_container(bucket_name))
    };
    let resp = crate::object::get(proxy, &placement, &path, &c.account, &access, &swift).await;
    let status = resp.status();
    if status == StatusCode::NOT_MODIFIED {
        let (p, _) = resp.into_parts();
        let mut r = http::Response::new(stratus_common::body::Body::empty());
        *r.status_mut() = status;
        *r.headers_mut() = s3_headers(&p.headers);
        return Ok(r);
    }
    if status != StatusCode::OK && status != StatusCode::PARTIAL_CONTENT {
        if status == StatusCode::NOT_FOUND && !bucket::exists(proxy, c, bucket_name).await {
            return Err(from_status(status, "NoSuchBucket"));
        }
        return Err(from_status(status, "NoSuchKey"));
    }
    let (p, body) = resp.into_parts();
    let mut r = http::Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = s3_headers(&p.headers);
    // Stored checksums are shown when asked for, of whole objects only.
    let mode = parts.headers.get("x-amz-checksum-mode");
    if status == StatusCode::OK
        && mode.is_some_and(|m| m.as_bytes().eq_ignore_ascii_case(b"enabled"))
    {
        for alg in super::checksum::ALL {
            if let Some(v) = p.headers.get(alg.sysmeta()) {
                r.headers_mut().insert(
                    HeaderName::from_bytes(alg.header().as_bytes())
                        .map_err(|_| S3Error::new("InternalError", "bad header"))?,
                    v.clone(),
                );
            }
        }
    }
    for (param, header) in OVERRIDES {
        if let Some((_, v)) = query.iter().find(|(k, _)| k == param) {
            set(r.headers_mut(), header, v)?;
        }
    }
    Ok(r)
}

pub async fn delete(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket_name: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Response, S3Error> {
    let state = versioning::state(proxy, c, bucket_name).await?;
    let versioned = match version {
        Some(v) => Some(versioning::delete_version(proxy, c, bucket_name, key, v).await?),
        None if state != versioning::State::Off => {
            Some(versioning::delete_current(proxy, c, bucket_name, key, state).await?)
        }
        None => None,
    };
    if let Some(done) = versioned {
        let mut r = http::Response::new(stratus_common::body::Body::empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        done.headers(r.headers_mut());
        return Ok(r);
    }
    let (placement, path) = super::locate(proxy, c, bucket_name, key);
    // A multipart object's parts go with it.
    let manifest = super::multipart::manifest_of(proxy, c, bucket_name, key).await;
    let resp = crate::object::write_meta(
        proxy,
        &placement,
        &path,
        (&c.account, bucket_name),
        &bucket::parts(Method::DELETE, ""),
    )
    .await;
    match resp.status() {
        // Deleting what is not there is a success in S3.
        s if s.is_success() || s == StatusCode::NOT_FOUND => {
            if let Some(m) = manifest {
                super::multipart::delete_parts_of(proxy, c, bucket_name, &m).await;
            }
            let mut r = http::Response::new(stratus_common::body::Body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            Ok(r)
        }
        s => Err(from_status(s, "NoSuchKey")),
    }
}

/// DeleteObjects (`POST /bucket?delete`): up to 1,000 keys; per-key
/// results, only the errors when `<Quiet>true</Quiet>`.
pub async fn delete_many(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket_name: &str,
    body: Incoming,
) -> Result<Response, S3Error> {
    use super::xml;
    let raw = http_body_util::BodyExt::collect(http_body_util::Limited::new(body, xml::MAX_BODY))
        .await
        .map_err(|_| xml::malformed())?
        .to_bytes();
    let inside = xml::root(&raw, "Delete")?;
    let quiet = xml::text(inside, "Quiet").is_some_and(|q| q.trim() == "true");
    let keys: Vec<(String, Option<String>)> = xml::elements(inside, "Object", 1000)?
        .iter()
        .map(|o| {
            let key = xml::text(o, "Key").ok_or_else(xml::malformed)?;
            Ok((key, xml::text(o, "VersionId")))
        })
        .collect::<Result<_, S3Error>>()?;
    if keys.is_empty() {
        return Err(xml::malformed());
    }
    if !bucket::exists(proxy, c, bucket_name).await {
        return Err(from_status(StatusCode::NOT_FOUND, "NoSuchBucket"));
    }
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"{}\">",
        bucket::XMLNS
    );
    for (key, version) in keys {
        let esc = super::errors::xml_escape(&key);
        let result = if key.is_empty() || key.len() > crate::server::MAX_OBJECT_NAME {
            Err(S3Error::new("InvalidArgument", "Invalid key"))
        } else {
            delete(proxy, c, bucket_name, &key, version.as_deref()).await
        };
        match result {
            Ok(r) if !quiet => {
                let h = |n: &str| r.headers().get(n).and_then(|v| v.to_str().ok());
                let mut done = format!("<Deleted><Key>{esc}</Key>");
                let marker = h("x-amz-delete-marker") == Some("true");
                match (version, h("x-amz-version-id")) {
                    (Some(v), _) => {
                        done.push_str(&format!("<VersionId>{}</VersionId>", super::errors::xml_escape(&v)));
                        if marker {
                            done.push_str("<DeleteMarker>true</DeleteMarker>");
                        }
                    }
                    (None, Some(v)) if marker => done.push_str(&format!(
                        "<DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>{}</DeleteMarkerVersionId>",
                        super::errors::xml_escape(v)
                    )),
                    _ => {}
                }
                done.push_str("</Deleted>");
                out.push_str(&done);
            }
            Ok(_) => {}
            Err(e) => out.push_str(&format!(
                "<Error><Key>{esc}</Key><Code>{}</Code><Message>{}</Message></Error>",
                e.code,
                super::errors::xml_escape(&e.message)
            )),
        }
    }
    out.push_str("</DeleteResult>");
    Ok(bucket::xml(StatusCode::OK, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_headers_map_to_swift() {
        let mut req = HeaderMap::new();
        req.insert("x-amz-meta-color", HeaderValue::from_static("blue"));
        req.insert(
            "content-encoding",
            HeaderValue::from_static("aws-chunked,gzip"),
        );
        req.insert(
            "content-md5",
            HeaderValue::from_static("XUFAKrxLKna5cZ2REBfFkg=="),
        );
        req.insert("x-amz-date", HeaderValue::from_static("20130524T000000Z"));
        let h = object_headers(&req).unwrap();
        assert_eq!(h["x-object-meta-color"], "blue");
        assert_eq!(h["content-encoding"], "gzip");
        assert_eq!(h["content-type"], "binary/octet-stream");
        assert_eq!(h["etag"], "5d41402abc4b2a76b9719d911017c592");
        assert!(!h.contains_key("x-amz-date"));
        req.insert("content-md5", HeaderValue::from_static("nope"));
        assert_eq!(object_headers(&req).unwrap_err().code, "InvalidDigest");
    }

    #[test]
    fn get_headers_map_to_s3() {
        let mut swift = HeaderMap::new();
        swift.insert("etag", HeaderValue::from_static("abc"));
        swift.insert("x-object-meta-color", HeaderValue::from_static("blue"));
        swift.insert("x-timestamp", HeaderValue::from_static("1.0"));
        swift.insert("content-length", HeaderValue::from_static("3"));
        let h = s3_headers(&swift);
        assert_eq!(h["etag"], "\"abc\"");
        assert_eq!(h["x-amz-meta-color"], "blue");
        assert_eq!(h["content-length"], "3");
        assert!(!h.contains_key("x-timestamp"));
    }
}
