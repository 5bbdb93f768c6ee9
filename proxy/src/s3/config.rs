//! Sub-resources of buckets and objects — `?acl`, `?cors`, `?tagging`,
//! `?versioning` — and GetObjectAttributes. A bucket's settings live on
//! its container (the read ACL, sysmeta); an object's in its transient
//! sysmeta, which a POST replaces together with the user metadata, so
//! changing one re-posts the others as they were.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use hyper::body::Incoming;

use super::acl::Canned;
use super::errors::{xml_escape, S3Error};
use super::{bucket, cors, from_status, tagging, versioning, xml, Caller, Response, Sub};
use crate::db::ContainerInfo;
use crate::server::Proxy;

fn empty(status: StatusCode) -> Response {
    let mut r = http::Response::new(stratus_common::body::Body::empty());
    *r.status_mut() = status;
    r
}

async fn read_body(body: Incoming) -> Result<Bytes, S3Error> {
    http_body_util::BodyExt::collect(http_body_util::Limited::new(body, xml::MAX_BODY))
        .await
        .map(|b| b.to_bytes())
        .map_err(|_| xml::malformed())
}

async fn info(proxy: &Proxy, c: &Caller, bucket: &str) -> Result<ContainerInfo, S3Error> {
    crate::db::container_info(proxy, &c.account, bucket)
        .await
        .ok_or_else(|| from_status(StatusCode::NOT_FOUND, "NoSuchBucket"))
}

/// POSTs container headers (an empty value removes one).
pub(super) async fn post_bucket(
    proxy: &Proxy,
    c: &Caller,
    bucket: &str,
    headers: &[(&str, &str)],
) -> Result<(), S3Error> {
    let mut parts = bucket::parts(Method::POST, "");
    for (n, v) in headers {
        let name = http::HeaderName::from_bytes(n.as_bytes());
        let value = HeaderValue::from_str(v);
        let (Ok(name), Ok(value)) = (name, value) else {
            return Err(S3Error::new("InvalidArgument", "Invalid setting"));
        };
        parts.headers.insert(name, value);
    }
    let resp = crate::db::container(proxy, &c.account, bucket, &parts).await;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(from_status(resp.status(), "NoSuchBucket"))
    }
}

/// A PutBucketAcl's or PutObjectAcl's ACL: `x-amz-acl`, or the body's policy.
async fn requested_acl(c: &Caller, req: &HeaderMap, body: Incoming) -> Result<Canned, S3Error> {
    match Canned::from_headers(req)? {
        Some(canned) => Ok(canned),
        None => Canned::from_policy(&read_body(body).await?, &c.project_id),
    }
}

fn sysmeta(name: &str) -> String {
    format!("x-container-sysmeta-{name}")
}

pub async fn get_bucket(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket: &str,
    sub: Sub,
) -> Result<Response, S3Error> {
    let info = info(proxy, c, bucket).await?;
    let body = match sub {
        Sub::Acl => Canned::from_swift_read(info.read_acl.as_deref()).policy(&c.project_id),
        Sub::Cors => {
            let rules = info.sysmeta.get(cors::SYSMETA).map(|s| cors::decode(s));
            match rules.filter(|r| !r.is_empty()) {
                Some(r) => cors::to_xml(&r),
                None => {
                    return Err(S3Error::new(
                        "NoSuchCORSConfiguration",
                        "The CORS configuration does not exist",
                    ))
                }
            }
        }
        Sub::Tagging => match info.sysmeta.get(tagging::BUCKET_SYSMETA) {
            Some(t) if !t.is_empty() => tagging::to_xml(&tagging::decode(t)?),
            _ => return Err(S3Error::new("NoSuchTagSet", "The TagSet does not exist")),
        },
        Sub::Versioning => versioning::config_xml(versioning::state(proxy, c, bucket).await?),
    };
    Ok(bucket::xml(StatusCode::OK, body))
}

pub async fn put_bucket(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket: &str,
    sub: Sub,
    req: &HeaderMap,
    body: Incoming,
) -> Result<Response, S3Error> {
    info(proxy, c, bucket).await?;
    match sub {
        Sub::Acl => {
            let canned = requested_acl(c, req, body).await?;
            post_bucket(
                proxy,
                c,
                bucket,
                &[("x-container-read", canned.swift_read())],
            )
            .await?;
        }
        Sub::Cors => {
            let rules = cors::from_xml(&read_body(body).await?)?;
            let stored = cors::encode(&rules)?;
            post_bucket(proxy, c, bucket, &[(&sysmeta(cors::SYSMETA), &stored)]).await?;
        }
        Sub::Tagging => {
            let tags = tagging::from_xml(&read_body(body).await?, tagging::MAX_BUCKET_TAGS)?;
            let stored = tagging::encode(&tags);
            if stored.is_empty() {
                return delete_bucket(proxy, c, bucket, sub).await;
            }
            post_bucket(
                proxy,
                c,
                bucket,
                &[(&sysmeta(tagging::BUCKET_SYSMETA), &stored)],
            )
            .await?;
        }
        Sub::Versioning => {
            let state = versioning::parse_config(&read_body(body).await?)?;
            versioning::set_state(proxy, c, bucket, state).await?;
        }
    }
    Ok(empty(StatusCode::OK))
}

pub async fn delete_bucket(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket: &str,
    sub: Sub,
) -> Result<Response, S3Error> {
    info(proxy, c, bucket).await?;
    let name = match sub {
        Sub::Cors => cors::SYSMETA,
        Sub::Tagging => tagging::BUCKET_SYSMETA,
        Sub::Acl | Sub::Versioning => {
            return Err(S3Error::new(
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            ))
        }
    };
    post_bucket(proxy, c, bucket, &[(&sysmeta(name), "")]).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// The object's headers as stored; NoSuchKey (or NoSuchBucket) when absent.
async fn head_object(
    proxy: &Proxy,
    c: &Caller,
    bucket: &str,
    key: &str,
) -> Result<HeaderMap, S3Error> {
    let (placement, path) = super::locate(proxy, c, bucket, key);
    let status =
        match crate::object::fetch(proxy, &placement, &path, &HeaderMap::new(), Method::HEAD).await
        {
            Ok(r) if r.status().is_success() => return Ok(r.headers().clone()),
            Ok(r) => r.status(),
            Err(s) => s,
        };
    if status == StatusCode::NOT_FOUND && !bucket::exists(proxy, c, bucket).await {
        return Err(from_status(status, "NoSuchBucket"));
    }
    Err(from_status(status, "NoSuchKey"))
}

/// Headers a POST replaces, as the object has them now.
fn reposted(current: &HeaderMap) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in current {
        let n = k.as_str();
        if n.starts_with("x-object-meta-")
            || n.starts_with("x-object-transient-sysmeta-")
            || n == "x-delete-at"
            || n == "content-type"
            || crate::object::is_content_header(n)
        {
            h.append(k.clone(), v.clone());
        }
    }
    h
}

/// Sets (or with None removes) one transient sysmeta value of an object.
async fn set_object(
    proxy: &Proxy,
    c: &Caller,
    bucket: &str,
    key: &str,
    name: &'static str,
    value: Option<&str>,
) -> Result<(), S3Error> {
    let current = head_object(proxy, c, bucket, key).await?;
    let mut parts = bucket::parts(Method::POST, "");
    parts.headers = reposted(&current);
    parts.headers.remove(name);
    if let Some(v) = value {
        let v = HeaderValue::from_str(v).map_err(|_| xml::malformed())?;
        parts.headers.insert(name, v);
    }
    let (placement, path) = super::locate(proxy, c, bucket, key);
    let resp =
        crate::object::write_meta(proxy, &placement, &path, (&c.account, bucket), &parts).await;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(from_status(resp.status(), "NoSuchKey"))
    }
}

fn object_tags(h: &HeaderMap) -> Result<tagging::Tags, S3Error> {
    match h.get(tagging::OBJECT_SYSMETA).and_then(|v| v.to_str().ok()) {
        Some(t) => tagging::decode(t),
        None => Ok(Vec::new()),
    }
}

pub async fn get_object(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket: &str,
    key: &str,
    sub: Sub,
) -> Result<Response, S3Error> {
    let h = head_object(proxy, c, bucket, key).await?;
    let body = match sub {
        Sub::Acl => Canned::of_object(&h).policy(&c.project_id),
        Sub::Tagging => tagging::to_xml(&object_tags(&h)?),
        Sub::Cors | Sub::Versioning => return Err(not_for_objects()),
    };
    Ok(bucket::xml(StatusCode::OK, body))
}

fn not_for_objects() -> S3Error {
    S3Error::new(
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    )
}

pub async fn put_object(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket: &str,
    key: &str,
    sub: Sub,
    req: &HeaderMap,
    body: Incoming,
) -> Result<Response, S3Error> {
    match sub {
        Sub::Acl => {
            let canned = requested_acl(c, req, body).await?;
            let value = (canned != Canned::Private).then(|| canned.name());
            set_object(proxy, c, bucket, key, super::acl::OBJECT_SYSMETA, value).await?;
        }
        Sub::Tagging => {
            let tags = tagging::from_xml(&read_body(body).await?, tagging::MAX_OBJECT_TAGS)?;
            let stored = tagging::encode(&tags);
            let value = (!stored.is_empty()).then_some(stored.as_str());
            set_object(proxy, c, bucket, key, tagging::OBJECT_SYSMETA, value).await?;
        }
        Sub::Cors | Sub::Versioning => return Err(not_for_objects()),
    }
    Ok(empty(StatusCode::OK))
}

pub async fn delete_object(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket: &str,
    key: &str,
    sub: Sub,
) -> Result<Response, S3Error> {
    if sub != Sub::Tagging {
        return Err(not_for_objects());
    }
    set_object(proxy, c, bucket, key, tagging::OBJECT_SYSMETA, None).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// GetObjectAttributes: the attributes `x-amz-object-attributes` names.
pub async fn attributes(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket: &str,
    key: &str,
    req: &HeaderMap,
) -> Result<Response, S3Error> {
    let wanted: Vec<String> = req
        .get_all("x-amz-object-attributes")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    const KNOWN: [&str; 5] = [
        "ETag",
        "Checksum",
        "ObjectParts",
        "StorageClass",
        "ObjectSize",
    ];
    if wanted.is_empty() || wanted.iter().any(|a| !KNOWN.contains(&a.as_str())) {
        return Err(S3Error::new(
            "InvalidArgument",
            "Invalid attribute name specified.",
        ));
    }
    let h = head_object(proxy, c, bucket, key).await?;
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let etag = h
        .get(super::multipart::ETAG_SYSMETA)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| get("etag"))
        .trim_matches('"')
        .to_string();
    let size = h
        .get("x-object-sysmeta-container-update-override-size")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| get("content-length"));
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetObjectAttributesResponse xmlns=\"{}\">",
        bucket::XMLNS
    );
    let has = |a: &str| wanted.iter().any(|w| w == a);
    if has("ETag") {
        out.push_str(&format!("<ETag>{}</ETag>", xml_escape(&etag)));
    }
    if has("Checksum") {
        let sums: String = super::checksum::ALL
            .iter()
            .filter_map(|alg| {
                let v = h.get(alg.sysmeta())?.to_str().ok()?;
                Some(format!(
                    "<Checksum{0}>{1}</Checksum{0}>",
                    alg.name(),
                    xml_escape(v)
                ))
            })
            .collect();
        if !sums.is_empty() {
            out.push_str(&format!("<Checksum>{sums}</Checksum>"));
        }
    }
    if has("ObjectParts") {
        if let Some((_, n)) = etag.rsplit_once('-') {
            out.push_str(&format!(
                "<ObjectParts><PartsCount>{}</PartsCount></ObjectParts>",
                xml_escape(n)
            ));
        }
    }
    if has("StorageClass") {
        out.push_str("<StorageClass>STANDARD</StorageClass>");
    }
    if has("ObjectSize") {
        out.push_str(&format!("<ObjectSize>{}</ObjectSize>", xml_escape(size)));
    }
    out.push_str("</GetObjectAttributesResponse>");
    let mut r = bucket::xml(StatusCode::OK, out);
    if let Some(lm) = h.get("last-modified") {
        r.headers_mut().insert("last-modified", lm.clone());
    }
    Ok(r)
}
