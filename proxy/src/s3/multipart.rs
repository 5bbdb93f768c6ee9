//! Multipart uploads, as Swift's s3api lays them out: parts are objects
//! `<key>/<upload id>/<part number>` of the hidden container
//! `<bucket>+segments`, next to a marker object `<key>/<upload id>`
//! holding the upload's content type and metadata. Completing checks the
//! part list (order, ETags, sizes), drops parts left out, and writes a
//! dynamic large object manifest at the key whose listing size and ETag
//! are those of the whole (`md5-of-md5s-N`).

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use hyper::body::Incoming;
use md5::{Digest, Md5};
use stratus_common::body::Body;

use super::bucket::{self, xml};
use super::errors::{xml_escape, S3Error};
use super::{from_status, object, Caller, Response};
use crate::server::Proxy;

/// Parts are numbered 1..=10,000; all but the last at least 5 MiB.
pub const MAX_PARTS: u32 = 10_000;
pub const MIN_PART: u64 = 5 << 20;
/// The ETag of the whole, kept on the manifest.
pub const ETAG_SYSMETA: &str = "x-object-sysmeta-s3api-etag";

pub fn segments_container(bucket: &str) -> String {
    format!("{bucket}+segments")
}

fn no_such_upload() -> S3Error {
    S3Error::new(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    )
}

/// Upload ids are 32 lowercase hex digits.
pub fn valid_upload_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Writes an empty object `container/name` with `headers`.
async fn put_empty(
    proxy: &Proxy,
    c: &Caller,
    container: &str,
    name: &str,
    mut headers: HeaderMap,
) -> Result<(), S3Error> {
    headers.insert("content-length", HeaderValue::from_static("0"));
    if let Ok(v) = HeaderValue::from_str(&crate::object::now_timestamp()) {
        headers.insert("x-timestamp", v);
    }
    let at = (c.account.as_str(), container, name);
    let r = crate::subrequest::upload_to(proxy, at, &headers, &mut Body::empty()).await;
    if r.status() == StatusCode::CREATED {
        Ok(())
    } else {
        Err(from_status(r.status(), "NoSuchBucket"))
    }
}

async fn delete_object(proxy: &Proxy, c: &Caller, container: &str, name: &str) {
    crate::subrequest::delete_object(proxy, (&c.account, container, name)).await;
}

/// The marker's headers; NoSuchUpload without one.
async fn marker(
    proxy: &Proxy,
    c: &Caller,
    bucket_name: &str,
    key: &str,
    upload: &str,
) -> Result<HeaderMap, S3Error> {
    if !valid_upload_id(upload) {
        return Err(no_such_upload());
    }
    let container = segments_container(bucket_name);
    let name = format!("{key}/{upload}");
    let (placement, path) = super::locate(proxy, c, &container, &name);
    match crate::object::fetch(proxy, &placement, &path, &HeaderMap::new(), Method::HEAD).await {
        Ok(r) if r.status().is_success() => Ok(r.headers().clone()),
        Ok(r) if r.status() == StatusCode::NOT_FOUND => Err(no_such_upload()),
        Err(StatusCode::NOT_FOUND) => Err(no_such_upload()),
        Ok(r) => Err(from_status(r.status(), "NoSuchUpload")),
        Err(s) => Err(from_status(s, "NoSuchUpload")),
    }
}

/// One part as the segments listing has it.
#[derive(Debug, Clone)]
struct Part {
    number: u32,
    etag: String,
    size: u64,
    last_modified: String,
    name: String,
}

/// Every part of an upload, in part order.
async fn parts_of(
    proxy: &Proxy,
    c: &Caller,
    bucket_name: &str,
    key: &str,
    upload: &str,
) -> Result<Vec<Part>, S3Error> {
    let container = segments_container(bucket_name);
    let prefix = format!("{key}/{upload}/");
    let mut out = Vec::new();
    let mut marker = String::new();
    loop {
        let enc = |s: &str| crate::backend::encode_path(s).replace('/', "%2F");
        let query = format!(
            "format=json&prefix={}&marker={}",
            enc(&prefix),
            enc(&marker)
        );
        let body = crate::db::read_listing(proxy, &c.account, &container, &query)
            .await
            .map_err(|s| from_status(s, "NoSuchUpload"))?;
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let name = r["name"].as_str().unwrap_or_default().to_string();
            marker = name.clone();
            let Some(number) = name.strip_prefix(&prefix).and_then(|n| n.parse().ok()) else {
                continue;
            };
            out.push(Part {
                number,
                etag: r["hash"].as_str().unwrap_or_default().to_string(),
                size: r["bytes"].as_u64().unwrap_or(0),
                last_modified: r["last_modified"].as_str().unwrap_or_default().to_string(),
                name,
            });
        }
    }
    out.sort_by_key(|p| p.number);
    Ok(out)
}

pub async fn create(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket_name: &str,
    key: &str,
    req: &http::request::Parts,
) -> Result<Response, S3Error> {
    if !bucket::exists(proxy, c, bucket_name).await {
        return Err(from_status(StatusCode::NOT_FOUND, "NoSuchBucket"));
    }
    let container = segments_container(bucket_name);
    let r = crate::db::container(
        proxy,
        &c.account,
        &container,
        &bucket::parts(Method::PUT, ""),
    )
    .await;
    if !r.status().is_success() {
        return Err(from_status(r.status(), "NoSuchBucket"));
    }
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|_| S3Error::new("InternalError", "no randomness"))?;
    let upload = hex::encode(raw);
    let mut headers = object::object_headers(&req.headers)?;
    headers.remove("etag");
    put_empty(proxy, c, &container, &format!("{key}/{upload}"), headers).await?;
    Ok(xml(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult xmlns=\"{}\">\
             <Bucket>{}</Bucket><Key>{}</Key><UploadId>{upload}</UploadId></InitiateMultipartUploadResult>",
            bucket::XMLNS,
            xml_escape(bucket_name),
            xml_escape(key)
        ),
    ))
}

#[allow(clippy::too_many_arguments)]
pub async fn upload_part(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket_name: &str,
    key: &str,
    upload: &str,
    number: u32,
    parts: http::request::Parts,
    body: Incoming,
) -> Result<Response, S3Error> {
    if !(1..=MAX_PARTS).contains(&number) {
        return Err(S3Error::new(
            "InvalidArgument",
            "Part number must be an integer between 1 and 10000, inclusive",
        ));
    }
    marker(proxy, c, bucket_name, key, upload).await?;
    let name = format!("{key}/{upload}/{number:05}");
    if parts.headers.contains_key("x-amz-copy-source") {
        let container = segments_container(bucket_name);
        return super::copy::copy_part(proxy, c, (&container, &name), &parts.headers).await;
    }
    object::store(
        proxy,
        c,
        &segments_container(bucket_name),
        &name,
        parts,
        body,
        HeaderMap::new(),
    )
    .await
}

pub async fn list_parts(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket_name: &str,
    key: &str,
    upload: &str,
    query: &[(String, String)],
) -> Result<Response, S3Error> {
    marker(proxy, c, bucket_name, key, upload).await?;
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let max: usize = q("max-parts")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let after: u32 = q("part-number-marker")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let all: Vec<Part> = parts_of(proxy, c, bucket_name, key, upload)
        .await?
        .into_iter()
        .filter(|p| p.number > after)
        .collect();
    let truncated = all.len() > max;
    let shown = &all[..all.len().min(max)];
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListPartsResult xmlns=\"{}\"><Bucket>{}</Bucket><Key>{}</Key>\
         <UploadId>{upload}</UploadId><PartNumberMarker>{after}</PartNumberMarker><MaxParts>{max}</MaxParts>\
         <IsTruncated>{truncated}</IsTruncated><StorageClass>STANDARD</StorageClass>",
        bucket::XMLNS,
        xml_escape(bucket_name),
        xml_escape(key)
    );
    if let (true, Some(last)) = (truncated, shown.last()) {
        out.push_str(&format!(
            "<NextPartNumberMarker>{}</NextPartNumberMarker>",
            last.number
        ));
    }
    for p in shown {
        out.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{}</Size></Part>",
            p.number,
            bucket::s3_time(&p.last_modified),
            xml_escape(&p.etag),
            p.size
        ));
    }
    out.push_str("</ListPartsResult>");
    Ok(xml(StatusCode::OK, out))
}

pub async fn abort(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket_name: &str,
    key: &str,
    upload: &str,
) -> Result<Response, S3Error> {
    marker(proxy, c, bucket_name, key, upload).await?;
    let container = segments_container(bucket_name);
    for p in parts_of(proxy, c, bucket_name, key, upload).await? {
        delete_object(proxy, c, &container, &p.name).await;
    }
    delete_object(proxy, c, &container, &format!("{key}/{upload}")).await;
    let mut r = http::Response::new(stratus_common::body::Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

/// ListMultipartUploads (`GET /bucket?uploads`): the uploads begun and
/// neither completed nor aborted, by key (with `prefix`), at most 1,000.
pub async fn list_uploads(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket_name: &str,
    query: &[(String, String)],
) -> Result<Response, S3Error> {
    if !bucket::exists(proxy, c, bucket_name).await {
        return Err(from_status(StatusCode::NOT_FOUND, "NoSuchBucket"));
    }
    let prefix = query
        .iter()
        .find(|(k, _)| k == "prefix")
        .map_or("", |(_, v)| v.as_str());
    let max: usize = query
        .iter()
        .find(|(k, _)| k == "max-uploads")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let container = segments_container(bucket_name);
    // Markers are `<key>/<upload id>`; parts end in a part number instead.
    let mut uploads = Vec::new();
    let mut marker = String::new();
    'pages: loop {
        let enc = |s: &str| crate::backend::encode_path(s).replace('/', "%2F");
        let query = format!("format=json&prefix={}&marker={}", enc(prefix), enc(&marker));
        let body = match crate::db::read_listing(proxy, &c.account, &container, &query).await {
            Ok(b) => b,
            Err(StatusCode::NOT_FOUND) => break,
            Err(s) => return Err(from_status(s, "NoSuchBucket")),
        };
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let name = r["name"].as_str().unwrap_or_default();
            marker = name.to_string();
            if let Some((key, upload)) = name.rsplit_once('/') {
                if valid_upload_id(upload) {
                    if uploads.len() == max + 1 {
                        break 'pages;
                    }
                    let when = bucket::s3_time(r["last_modified"].as_str().unwrap_or_default());
                    uploads.push((key.to_string(), upload.to_string(), when));
                }
            }
        }
    }
    let truncated = uploads.len() > max;
    uploads.truncate(max);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListMultipartUploadsResult xmlns=\"{}\">\
         <Bucket>{}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><Prefix>{}</Prefix>\
         <MaxUploads>{max}</MaxUploads><IsTruncated>{truncated}</IsTruncated>",
        bucket::XMLNS,
        xml_escape(bucket_name),
        xml_escape(prefix)
    );
    if let (true, Some((k, u, _))) = (truncated, uploads.last()) {
        out.push_str(&format!(
            "<NextKeyMarker>{}</NextKeyMarker><NextUploadIdMarker>{u}</NextUploadIdMarker>",
            xml_escape(k)
        ));
    }
    for (key, upload, when) in &uploads {
        out.push_str(&format!(
            "<Upload><Key>{}</Key><UploadId>{upload}</UploadId><Initiated>{when}</Initiated>\
             <StorageClass>STANDARD</StorageClass></Upload>",
            xml_escape(key)
        ));
    }
    out.push_str("</ListMultipartUploadsResult>");
    Ok(xml(StatusCode::OK, out))
}

/// The (part number, ETag) list of a CompleteMultipartUpload body.
pub fn parse_complete(body: &[u8]) -> Result<Vec<(u32, String)>, S3Error> {
    use super::xml;
    let inside = xml::root(body, "CompleteMultipartUpload")?;
    let mut out = Vec::new();
    for part in xml::elements(inside, "Part", MAX_PARTS as usize)? {
        let number = xml::text(part, "PartNumber")
            .and_then(|n| n.trim().parse::<u32>().ok())
            .ok_or_else(xml::malformed)?;
        let etag = xml::text(part, "ETag").ok_or_else(xml::malformed)?;
        out.push((number, etag.trim().trim_matches('"').to_string()));
    }
    if out.is_empty() {
        return Err(xml::malformed());
    }
    Ok(out)
}

/// The S3 ETag of a multipart object: MD5 of the parts' binary MD5s, `-N`.
pub fn multipart_etag(part_etags: &[&str]) -> Option<String> {
    let mut md5 = Md5::new();
    for e in part_etags {
        md5.update(hex::decode(e).ok()?);
    }
    Some(format!(
        "{}-{}",
        hex::encode(md5.finalize()),
        part_etags.len()
    ))
}

pub async fn complete(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket_name: &str,
    key: &str,
    upload: &str,
    body: Incoming,
) -> Result<Response, S3Error> {
    let marker_headers = marker(proxy, c, bucket_name, key, upload).await?;
    let raw = http_body_util::Limited::new(body, super::xml::MAX_BODY);
    let raw = http_body_util::BodyExt::collect(raw)
        .await
        .map_err(|_| {
            S3Error::new(
                "MalformedXML",
                "The XML you provided was too large or unreadable.",
            )
        })?
        .to_bytes();
    let wanted = parse_complete(&raw)?;
    if wanted.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(S3Error::new("InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be specified in order by part number."));
    }
    let stored = parts_of(proxy, c, bucket_name, key, upload).await?;
    let invalid = || {
        S3Error::new("InvalidPart", "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
    };
    // Every part must exist with its ETag before sizes are judged.
    let mut chosen = Vec::with_capacity(wanted.len());
    for (number, etag) in &wanted {
        let p = stored
            .iter()
            .find(|p| p.number == *number && p.etag == *etag)
            .ok_or_else(invalid)?;
        chosen.push(p.clone());
    }
    if chosen[..chosen.len() - 1].iter().any(|p| p.size < MIN_PART) {
        return Err(S3Error::new(
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed object size.",
        ));
    }
    let container = segments_container(bucket_name);
    // The manifest reads every part under the prefix: drop the others first.
    for p in stored
        .iter()
        .filter(|p| !chosen.iter().any(|c| c.number == p.number))
    {
        delete_object(proxy, c, &container, &p.name).await;
    }
    let etags: Vec<&str> = chosen.iter().map(|p| p.etag.as_str()).collect();
    let etag = multipart_etag(&etags).ok_or_else(invalid)?;
    let total: u64 = chosen.iter().map(|p| p.size).sum();
    let mut headers = HeaderMap::new();
    for (k, v) in &marker_headers {
        let n = k.as_str();
        if n.starts_with("x-object-meta-")
            || n.starts_with("x-object-transient-sysmeta-")
            || crate::object::is_content_header(n)
        {
            headers.insert(k.clone(), v.clone());
        }
    }
    let manifest = format!(
        "{}/{}",
        crate::backend::encode_path(&container),
        crate::backend::encode_path(&format!("{key}/{upload}/"))
    );
    let set = |h: &mut HeaderMap, n: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(n, v);
        }
    };
    set(&mut headers, "x-object-manifest", &manifest);
    set(&mut headers, ETAG_SYSMETA, &etag);
    set(
        &mut headers,
        "x-object-sysmeta-container-update-override-etag",
        &etag,
    );
    set(
        &mut headers,
        "x-object-sysmeta-container-update-override-size",
        &total.to_string(),
    );
    let state = super::versioning::state(proxy, c, bucket_name).await?;
    let replaced = replaced_manifest(proxy, c, bucket_name, key, state).await;
    let version = object::new_version(proxy, c, (bucket_name, key), state, &mut headers).await?;
    put_empty(proxy, c, bucket_name, key, headers).await?;
    delete_object(proxy, c, &container, &format!("{key}/{upload}")).await;
    if let Some(m) = replaced {
        delete_parts_of(proxy, c, bucket_name, &m).await;
    }
    let flagged = crate::db::container_info(proxy, &c.account, bucket_name)
        .await
        .is_some_and(|i| i.sysmeta.contains_key(HAS_MULTIPART));
    if !flagged {
        let name = format!("x-container-sysmeta-{HAS_MULTIPART}");
        super::config::post_bucket(proxy, c, bucket_name, &[(&name, "1")]).await?;
    }
    let mut r = xml(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult xmlns=\"{}\">\
             <Location>/{}/{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>&quot;{etag}&quot;</ETag>\
             </CompleteMultipartUploadResult>",
            bucket::XMLNS,
            xml_escape(bucket_name),
            xml_escape(key),
            xml_escape(bucket_name),
            xml_escape(key)
        ),
    );
    object::answer_version(&mut r, version);
    Ok(r)
}

/// Container sysmeta (after `x-container-sysmeta-`) set once a bucket has
/// held a multipart object: only then does an overwrite look for parts to
/// drop, so the PUTs of other buckets pay nothing for it.
const HAS_MULTIPART: &str = "s3-multipart";

/// The manifest of a multipart object that a write to `key` replaces, in
/// an unversioned bucket (in a versioned one the old version keeps them):
/// its parts go once the write succeeded ([`delete_parts_of`]).
pub async fn replaced_manifest(
    proxy: &Proxy,
    c: &Caller,
    bucket_name: &str,
    key: &str,
    state: super::versioning::State,
) -> Option<String> {
    if state != super::versioning::State::Off {
        return None;
    }
    let info = crate::db::container_info(proxy, &c.account, bucket_name).await?;
    if !info.sysmeta.contains_key(HAS_MULTIPART) {
        return None;
    }
    manifest_of(proxy, c, bucket_name, key).await
}

/// The `X-Object-Manifest` of a stored object, if it is a manifest.
pub async fn manifest_of(proxy: &Proxy, c: &Caller, container: &str, name: &str) -> Option<String> {
    let head = crate::subrequest::stored(proxy, (&c.account, container, name), Method::HEAD)
        .await
        .ok()??;
    head.headers()
        .get("x-object-manifest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// After a multipart object's manifest is deleted, its parts go too.
pub async fn delete_parts_of(proxy: &Arc<Proxy>, c: &Caller, bucket_name: &str, manifest: &str) {
    let decoded = percent_encoding::percent_decode_str(manifest)
        .decode_utf8_lossy()
        .into_owned();
    let container = segments_container(bucket_name);
    let Some(prefix) = decoded.strip_prefix(&format!("{container}/")) else {
        return;
    };
    let Some((key, upload)) = prefix.trim_end_matches('/').rsplit_once('/') else {
        return;
    };
    if let Ok(parts) = parts_of(proxy, c, bucket_name, key, upload).await {
        for p in parts {
            delete_object(proxy, c, &container, &p.name).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn complete_bodies() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part><ETag>"aa"</ETag><PartNumber>1</PartNumber></Part>
  <Part><PartNumber>3</PartNumber><ETag>&quot;bb&quot;</ETag></Part>
</CompleteMultipartUpload>"#;
        assert_eq!(
            parse_complete(body).unwrap(),
            vec![(1, "aa".into()), (3, "bb".into())]
        );
        for bad in [
            &b""[..],
            b"<CompleteMultipartUpload></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
            b"<Other/>",
            b"\xff\xfe",
        ] {
            assert_eq!(parse_complete(bad).unwrap_err().code, "MalformedXML");
        }
    }

    #[test]
    fn multipart_etags_as_s3_makes_them() {
        // Two parts whose MD5s are those of "a" and "b".
        let a = "0cc175b9c0f1b6a831c399e269772661";
        let b = "92eb5ffee6ae2fec3ad71c777531578f";
        let mut md5 = Md5::new();
        md5.update(hex::decode(a).unwrap());
        md5.update(hex::decode(b).unwrap());
        assert_eq!(
            multipart_etag(&[a, b]).unwrap(),
            format!("{}-2", hex::encode(md5.finalize()))
        );
        assert!(multipart_etag(&["zz"]).is_none());
    }

    #[test]
    fn upload_ids() {
        assert!(valid_upload_id(&"0a".repeat(16)));
        assert!(!valid_upload_id("../../etc"));
        assert!(!valid_upload_id(&"A".repeat(32)));
    }

    proptest! {
        #[test]
        fn complete_parser_never_panics(s in "\\PC{0,400}") {
            let _ = parse_complete(s.as_bytes());
            let wrapped = format!("<CompleteMultipartUpload>{s}</CompleteMultipartUpload>");
            let _ = parse_complete(wrapped.as_bytes());
        }
    }
}
