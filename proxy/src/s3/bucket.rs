//! Bucket operations, on the account's containers: ListBuckets,
//! CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation and
//! ListObjects (v1 and v2).

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use stratus_common::body::Body;

use super::errors::{xml_escape, S3Error};
use super::{from_status, Caller, Response};
use crate::server::Proxy;

pub(super) const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

pub(super) use crate::subrequest::parts;

/// A whole (small) answer: listings and empty replies.
pub(super) async fn collect(resp: Response) -> Result<(StatusCode, Bytes), S3Error> {
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|_| S3Error::new("InternalError", "Reading a listing failed."))?
        .to_bytes();
    Ok((status, body))
}

pub(super) fn xml(status: StatusCode, body: String) -> Response {
    let mut r = http::Response::new(Body::full(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    r
}

fn empty(status: StatusCode) -> Response {
    let mut r = http::Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Swift's `2026-11-23T15:57:42.123450` as S3's `2026-11-23T15:57:42.123Z`.
pub(super) fn s3_time(swift: &str) -> String {
    let base = swift.trim_end_matches('Z');
    match base.split_once('.') {
        Some((whole, frac)) => format!("{whole}.{:0<3.3}Z", frac),
        None if base.is_empty() => "1970-01-01T00:00:00.000Z".into(),
        None => format!("{base}.000Z"),
    }
}

pub(super) async fn exists(proxy: &Proxy, c: &Caller, bucket: &str) -> bool {
    crate::db::container_info(proxy, &c.account, bucket)
        .await
        .is_some()
}

pub async fn list_buckets(proxy: &Arc<Proxy>, c: &Caller) -> Result<Response, S3Error> {
    let resp = crate::db::account(proxy, &c.account, &parts(Method::GET, "format=json")).await;
    let (status, body) = collect(resp).await?;
    if !status.is_success() {
        return Err(from_status(status, "NoSuchBucket"));
    }
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"{XMLNS}\">\
         <Owner><ID>{0}</ID><DisplayName>{0}</DisplayName></Owner><Buckets>",
        xml_escape(&c.project_id)
    );
    for r in &rows {
        let Some(name) = r["name"].as_str() else {
            continue;
        };
        // Multipart parts live in hidden `<bucket>+segments` containers.
        if !super::valid_bucket(name) {
            continue;
        }
        let created = s3_time(r["last_modified"].as_str().unwrap_or_default());
        out.push_str(&format!(
            "<Bucket><Name>{}</Name><CreationDate>{created}</CreationDate></Bucket>",
            xml_escape(name)
        ));
    }
    out.push_str("</Buckets></ListAllMyBucketsResult>");
    Ok(xml(StatusCode::OK, out))
}

pub async fn create(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket: &str,
    req: &http::HeaderMap,
    body: hyper::body::Incoming,
) -> Result<Response, S3Error> {
    let canned = super::acl::Canned::from_headers(req)?;
    let raw = http_body_util::Limited::new(body, super::xml::MAX_BODY)
        .collect()
        .await
        .map_err(|_| super::xml::malformed())?
        .to_bytes();
    check_location(&raw, &proxy.config.s3_region)?;
    if exists(proxy, c, bucket).await {
        return Err(S3Error::new(
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
        ));
    }
    super::registry::claim(proxy, bucket, &c.account).await?;
    let mut put = parts(Method::PUT, "");
    if let Some(read) = canned.map(|c| c.swift_read()).filter(|r| !r.is_empty()) {
        put.headers
            .insert("x-container-read", HeaderValue::from_static(read));
    }
    let resp = crate::db::container(proxy, &c.account, bucket, &put).await;
    if !resp.status().is_success() {
        return Err(from_status(resp.status(), "NoSuchBucket"));
    }
    let mut r = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&format!("/{bucket}")) {
        r.headers_mut().insert("location", v);
    }
    Ok(r)
}

pub async fn head(proxy: &Arc<Proxy>, c: &Caller, bucket: &str) -> Result<Response, S3Error> {
    let resp = crate::db::container(proxy, &c.account, bucket, &parts(Method::HEAD, "")).await;
    if !resp.status().is_success() {
        return Err(from_status(resp.status(), "NoSuchBucket"));
    }
    let mut r = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&proxy.config.s3_region) {
        r.headers_mut().insert("x-amz-bucket-region", v);
    }
    Ok(r)
}

pub async fn delete(proxy: &Arc<Proxy>, c: &Caller, bucket: &str) -> Result<Response, S3Error> {
    if super::versioning::has_versions(proxy, c, bucket).await? {
        return Err(not_empty());
    }
    let resp = crate::db::container(proxy, &c.account, bucket, &parts(Method::DELETE, "")).await;
    match resp.status() {
        s if s.is_success() => {
            // Its (empty) segments container goes too; one holding parts
            // of unfinished uploads stays, as in Swift's s3api.
            for hidden in [
                super::multipart::segments_container(bucket),
                super::versioning::versions_container(bucket),
            ] {
                let _ =
                    crate::db::container(proxy, &c.account, &hidden, &parts(Method::DELETE, ""))
                        .await;
            }
            super::registry::release(proxy, bucket, &c.account).await;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        StatusCode::CONFLICT => Err(not_empty()),
        s => Err(from_status(s, "NoSuchBucket")),
    }
}

fn not_empty() -> S3Error {
    S3Error::new(
        "BucketNotEmpty",
        "The bucket you tried to delete is not empty",
    )
}

pub async fn location(proxy: &Arc<Proxy>, c: &Caller, bucket: &str) -> Result<Response, S3Error> {
    if !exists(proxy, c, bucket).await {
        return Err(from_status(StatusCode::NOT_FOUND, "NoSuchBucket"));
    }
    // us-east-1 is S3's empty location.
    let region = match proxy.config.s3_region.as_str() {
        "us-east-1" => String::new(),
        r => xml_escape(r),
    };
    Ok(xml(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{XMLNS}\">{region}</LocationConstraint>"
        ),
    ))
}

/// A CreateBucket body's location constraint must be our region.
pub(super) fn check_location(body: &[u8], region: &str) -> Result<(), S3Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let inside = super::xml::root(body, "CreateBucketConfiguration")?;
    match super::xml::text(inside, "LocationConstraint") {
        Some(asked) if !asked.is_empty() && asked != region => Err(S3Error::new(
            "IllegalLocationConstraintException",
            format!(
                "The {asked} location constraint is incompatible for the region specific endpoint this request was sent to."
            ),
        )),
        _ => Ok(()),
    }
}

/// A listing's `max-keys` (at most 1,000) and whether names are
/// URL-encoded (`encoding-type=url`).
pub(super) fn paging(query: &[(String, String)]) -> Result<(usize, bool), S3Error> {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let max_keys = match q("max-keys") {
        None => 1000,
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| {
                S3Error::new("InvalidArgument", "max-keys must be a non-negative integer")
            })?
            .min(1000),
    };
    let url = match q("encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => {
            return Err(S3Error::new(
                "InvalidArgument",
                "Invalid Encoding Method specified in Request",
            ))
        }
    };
    Ok((max_keys, url))
}

/// ListObjects (v1: `marker`; v2: `continuation-token`/`start-after`).
pub async fn list_objects(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket: &str,
    v2: bool,
    query: &[(String, String)],
) -> Result<Response, S3Error> {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let prefix = q("prefix").unwrap_or("");
    let delimiter = q("delimiter").unwrap_or("");
    let (max_keys, url_encoding) = paging(query)?;
    let token = q("continuation-token");
    let marker = if v2 {
        match token {
            Some(t) => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    S3Error::new(
                        "InvalidArgument",
                        "The continuation token provided is incorrect",
                    )
                })?,
            None => q("start-after").unwrap_or("").to_string(),
        }
    } else {
        q("marker").unwrap_or("").to_string()
    };
    let mut swift_query = format!("format=json&limit={}", max_keys + 1);
    for (k, v) in [
        ("prefix", prefix),
        ("delimiter", delimiter),
        ("marker", marker.as_str()),
    ] {
        if !v.is_empty() {
            swift_query.push_str(&format!("&{k}={}", enc(v)));
        }
    }
    let rows: Vec<serde_json::Value> = if max_keys == 0 {
        if !exists(proxy, c, bucket).await {
            return Err(from_status(StatusCode::NOT_FOUND, "NoSuchBucket"));
        }
        Vec::new()
    } else {
        let resp =
            crate::db::container(proxy, &c.account, bucket, &parts(Method::GET, &swift_query))
                .await;
        let (status, body) = collect(resp).await?;
        if !status.is_success() {
            return Err(from_status(status, "NoSuchBucket"));
        }
        if status == StatusCode::NO_CONTENT || body.is_empty() {
            Vec::new()
        } else {
            serde_json::from_slice(&body)
                .map_err(|_| S3Error::new("InternalError", "Bad listing"))?
        }
    };
    let truncated = rows.len() > max_keys;
    let rows = &rows[..rows.len().min(max_keys)];
    let name_of = |r: &serde_json::Value| {
        r["name"]
            .as_str()
            .or(r["subdir"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let shown = |s: &str| xml_escape(&if url_encoding { enc(s) } else { s.to_string() });
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"{XMLNS}\">\
         <Name>{}</Name><Prefix>{}</Prefix><MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
        xml_escape(bucket),
        shown(prefix)
    );
    if !delimiter.is_empty() {
        out.push_str(&format!("<Delimiter>{}</Delimiter>", shown(delimiter)));
    }
    if url_encoding {
        out.push_str("<EncodingType>url</EncodingType>");
    }
    let last = rows.last().map(name_of);
    if v2 {
        out.push_str(&format!("<KeyCount>{}</KeyCount>", rows.len()));
        if let Some(t) = token {
            out.push_str(&format!(
                "<ContinuationToken>{}</ContinuationToken>",
                xml_escape(t)
            ));
        }
        if let Some(s) = q("start-after") {
            out.push_str(&format!("<StartAfter>{}</StartAfter>", shown(s)));
        }
        if let (true, Some(l)) = (truncated, &last) {
            let next = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(l);
            out.push_str(&format!(
                "<NextContinuationToken>{next}</NextContinuationToken>"
            ));
        }
    } else {
        out.push_str(&format!("<Marker>{}</Marker>", shown(&marker)));
        if let (true, false, Some(l)) = (truncated, delimiter.is_empty(), &last) {
            out.push_str(&format!("<NextMarker>{}</NextMarker>", shown(l)));
        }
    }
    let owner = format!(
        "<Owner><ID>{0}</ID><DisplayName>{0}</DisplayName></Owner>",
        xml_escape(&c.project_id)
    );
    let with_owner = !v2 || q("fetch-owner") == Some("true");
    for r in rows {
        if let Some(p) = r["subdir"].as_str() {
            out.push_str(&format!(
                "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                shown(p)
            ));
            continue;
        }
        out.push_str(&format!(
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag>\
             <Size>{}</Size>{}<StorageClass>STANDARD</StorageClass></Contents>",
            shown(&name_of(r)),
            s3_time(r["last_modified"].as_str().unwrap_or_default()),
            xml_escape(r["hash"].as_str().unwrap_or_default()),
            r["bytes"].as_u64().unwrap_or(0),
            if with_owner { owner.as_str() } else { "" },
        ));
    }
    out.push_str("</ListBucketResult>");
    Ok(xml(StatusCode::OK, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_constraints_must_be_ours() {
        let asked = |r: &str| {
            format!("<CreateBucketConfiguration><LocationConstraint>{r}</LocationConstraint></CreateBucketConfiguration>")
        };
        assert!(check_location(b"", "us-east-1").is_ok());
        assert!(check_location(asked("us-east-1").as_bytes(), "us-east-1").is_ok());
        assert_eq!(
            check_location(asked("eu-west-1").as_bytes(), "us-east-1")
                .unwrap_err()
                .code,
            "IllegalLocationConstraintException"
        );
        assert_eq!(
            check_location(b"<nope>", "us-east-1").unwrap_err().code,
            "MalformedXML"
        );
    }

    #[test]
    fn times_become_s3_times() {
        assert_eq!(
            s3_time("2026-11-23T15:57:42.123450"),
            "2026-11-23T15:57:42.123Z"
        );
        assert_eq!(s3_time("2026-11-23T15:57:42"), "2026-11-23T15:57:42.000Z");
        assert_eq!(s3_time(""), "1970-01-01T00:00:00.000Z");
    }
}
