//! CopyObject and UploadPartCopy: the source (`x-amz-copy-source`, a
//! version of it, a range for a part, its `x-amz-copy-source-if-*`
//! conditions) is read through GetObject — a multipart source reads as
//! the whole object — and streamed straight into the destination.

use std::sync::Arc;

use http::{HeaderMap, Method, StatusCode};

use super::errors::S3Error;
use super::object::{answer_version, get, new_version, object_headers, set};
use super::versioning;
use super::{bucket, from_status, Caller, Response};
use crate::server::Proxy;

/// A copy's source: `x-amz-copy-source` (`/bucket/key`, URL-encoded,
/// perhaps with `?versionId=`).
struct CopySource {
    bucket: String,
    key: String,
    version: Option<String>,
}

fn copy_source(req: &HeaderMap) -> Result<CopySource, S3Error> {
    let source = req
        .get("x-amz-copy-source")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (path, query) = source.split_once('?').unwrap_or((source, ""));
    let version = super::auth::query_pairs(Some(query))
        .into_iter()
        .find(|(k, _)| k == "versionId")
        .map(|(_, v)| v);
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| S3Error::new("InvalidArgument", "Invalid copy source encoding"))?;
    decoded
        .trim_start_matches('/')
        .split_once('/')
        .filter(|(b, k)| super::valid_bucket(b) && !k.is_empty())
        .map(|(b, k)| CopySource {
            bucket: b.to_string(),
            key: k.to_string(),
            version,
        })
        .ok_or_else(|| {
            S3Error::new(
                "InvalidArgument",
                "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            )
        })
}

/// Opens a copy's source for reading, with its `x-amz-copy-source-if-*`
/// conditions and, for a part, `x-amz-copy-source-range`: its S3 headers,
/// body and length.
async fn read_source(
    proxy: &Arc<Proxy>,
    c: &Caller,
    source: &CopySource,
    req: &HeaderMap,
) -> Result<(http::response::Parts, stratus_common::body::Body, u64), S3Error> {
    let mut headers = HeaderMap::new();
    for (from, to) in [
        ("x-amz-copy-source-if-match", "if-match"),
        ("x-amz-copy-source-if-none-match", "if-none-match"),
        ("x-amz-copy-source-if-modified-since", "if-modified-since"),
        (
            "x-amz-copy-source-if-unmodified-since",
            "if-unmodified-since",
        ),
        ("x-amz-copy-source-range", "range"),
    ] {
        if let Some(v) = req.get(from) {
            headers.insert(to, v.clone());
        }
    }
    let ranged = headers.contains_key("range");
    let mut get_parts = bucket::parts(Method::GET, "");
    get_parts.headers = headers;
    let query: Vec<(String, String)> = source
        .version
        .iter()
        .map(|v| ("versionId".to_string(), v.clone()))
        .collect();
    let source = get(
        proxy,
        c,
        &source.bucket,
        &source.key,
        false,
        &get_parts,
        &query,
    )
    .await?;
    let expected = if ranged {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    if source.status() != expected {
        if ranged && source.status() == StatusCode::OK {
            return Err(S3Error::new(
                "InvalidArgument",
                "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
            ));
        }
        // A copy condition that does not hold is a 412, whichever it was.
        return Err(from_status(StatusCode::PRECONDITION_FAILED, "NoSuchKey"));
    }
    let (src, body) = source.into_parts();
    let len = src
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .ok_or_else(|| S3Error::new("InternalError", "The source has no length"))?;
    Ok((src, body, len))
}

/// Streams a copy's source into `container/name`; the new ETag.
pub(super) async fn copy_into(
    proxy: &Arc<Proxy>,
    c: &Caller,
    (container, name): (&str, &str),
    mut headers: HeaderMap,
    mut body: stratus_common::body::Body,
    len: u64,
) -> Result<String, S3Error> {
    headers.remove("etag");
    set(&mut headers, "content-length", &len.to_string())?;
    set(&mut headers, "x-timestamp", &crate::object::now_timestamp())?;
    let at = (c.account.as_str(), container, name);
    let resp = crate::subrequest::upload_to(proxy, at, &headers, &mut body).await;
    if resp.status() != StatusCode::CREATED {
        return Err(from_status(resp.status(), "NoSuchKey"));
    }
    Ok(resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim_matches('"')
        .to_string())
}

/// `<CopyObjectResult>` or `<CopyPartResult>` for a new ETag.
pub(super) fn copy_result(element: &str, etag: &str) -> Response {
    let now = stratus_common::timestamp::iso8601_micros(stratus_common::timestamp::unix_micros());
    bucket::xml(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{element} xmlns=\"{}\">\
             <LastModified>{}Z</LastModified><ETag>&quot;{etag}&quot;</ETag></{element}>",
            bucket::XMLNS,
            &now[..23]
        ),
    )
}

/// UploadPartCopy: a part read from `x-amz-copy-source` (a range of it
/// with `x-amz-copy-source-range`).
pub(super) async fn copy_part(
    proxy: &Arc<Proxy>,
    c: &Caller,
    (container, name): (&str, &str),
    req: &HeaderMap,
) -> Result<Response, S3Error> {
    let source = copy_source(req)?;
    let (_, body, len) = read_source(proxy, c, &source, req).await?;
    let etag = copy_into(proxy, c, (container, name), HeaderMap::new(), body, len).await?;
    Ok(copy_result("CopyPartResult", &etag))
}

/// CopyObject (`x-amz-copy-source: /bucket/key`, within the caller's
/// account): metadata copied or, with `x-amz-metadata-directive:
/// REPLACE`, taken from the request; `x-amz-copy-source-if-*` honoured.
pub(super) async fn copy(
    proxy: &Arc<Proxy>,
    c: &Caller,
    (bucket_name, key): (&str, &str),
    req: &HeaderMap,
    state: versioning::State,
) -> Result<Response, S3Error> {
    let source = copy_source(req)?;
    let replace = match req
        .get("x-amz-metadata-directive")
        .and_then(|v| v.to_str().ok())
    {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(_) => {
            return Err(S3Error::new(
                "InvalidArgument",
                "Unknown metadata directive.",
            ))
        }
    };
    if source.bucket == bucket_name && source.key == key && source.version.is_none() && !replace {
        return Err(S3Error::new(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    if req.contains_key("x-amz-copy-source-range") {
        return Err(S3Error::new(
            "InvalidArgument",
            "Range specified is not valid for source object",
        ));
    }
    // The version replaced is kept before the source is opened (a long
    // copy of it must not leave the source's read idle).
    let mut versioned = HeaderMap::new();
    let version = new_version(proxy, c, (bucket_name, key), state, &mut versioned).await?;
    let replaced = super::multipart::replaced_manifest(proxy, c, bucket_name, key, state).await;
    let (src, body, len) = read_source(proxy, c, &source, req).await?;
    let mut headers = if replace {
        object_headers(req)?
    } else {
        let mut h = HeaderMap::new();
        for (k, v) in &src.headers {
            let n = k.as_str();
            if let Some(meta) = n.strip_prefix("x-amz-meta-") {
                set(
                    &mut h,
                    &format!("x-object-meta-{meta}"),
                    v.to_str().unwrap_or_default(),
                )?;
            } else if crate::object::is_content_header(n) {
                h.insert(k.clone(), v.clone());
            }
        }
        h
    };
    headers.extend(versioned);
    let etag = copy_into(proxy, c, (bucket_name, key), headers, body, len).await?;
    if let Some(m) = replaced {
        super::multipart::delete_parts_of(proxy, c, bucket_name, &m).await;
    }
    let mut r = copy_result("CopyObjectResult", &etag);
    answer_version(&mut r, version);
    Ok(r)
}
