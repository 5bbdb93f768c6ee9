//! The Amazon S3 API, on the proxy's port beside Swift (any path outside
//! Swift's `/v1/`, `/auth/`, `/info` and `/healthcheck` is S3), over the
//! same objects: a bucket is a container of the account of the project
//! that owns the EC2 credential (`AUTH_<project id>`), so what `aws s3 cp`
//! writes, `swift download` reads.
//!
//! Requests are parsed at the edge — signature ([`auth`]), body
//! ([`chunked`], [`body`], [`xml`]), addressing and operation ([`Op`]) —
//! and errors are S3's XML ([`errors`]). Path-style and virtual-hosted
//! addressing; SigV4 in the header or a presigned query, secrets from the
//! identity service. Bucket names are global ([`registry`]), so anonymous
//! requests find the bucket's account and get what its ACLs ([`acl`]) or
//! CORS rules ([`cors`]) allow. Versions live beside the bucket
//! ([`versioning`]), multipart parts too ([`multipart`]).

pub mod acl;
pub mod auth;
pub mod body;
mod bucket;
pub mod checksum;
pub mod chunked;
mod config;
mod copy;
pub mod cors;
pub mod errors;
pub mod multipart;
mod object;
mod op;
pub mod registry;
pub mod sigv2;
pub mod tagging;
mod version_list;
pub mod versioning;
pub mod xml;

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method};
use stratus_common::body::Body;

use self::auth::SignedRequest;
use self::errors::S3Error;
use crate::auth::RESELLER_PREFIX;
use crate::server::{Proxy, Request};

pub use self::op::{valid_bucket, Op, Sub};

pub type Response = http::Response<Body>;

/// The path-style path of a request: with virtual-hosted addressing
/// (`Host: <bucket>.<domain>`) the bucket comes from the host.
pub fn path_style(domain: Option<&str>, host: Option<&str>, path: &str) -> String {
    let bucket = domain.zip(host).and_then(|(d, h)| {
        let name = h.rsplit_once(':').map_or(h, |(n, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                n
            } else {
                h
            }
        });
        name.strip_suffix(d)?
            .strip_suffix('.')
            .filter(|b| !b.is_empty())
    });
    match bucket {
        Some(b) => format!("/{b}{path}"),
        None => path.to_string(),
    }
}

/// Whether a path belongs to the S3 API rather than to Swift's.
pub fn is_s3_path(path: &str) -> bool {
    !(path.starts_with("/v1/")
        || path == "/v1"
        || path.starts_with("/auth/")
        || path == "/info"
        || path == "/healthcheck")
}

/// The caller, once its signature checked out (or, anonymous, once the
/// bucket's ACLs allowed what it asks).
#[derive(Debug, Clone)]
pub struct Caller {
    /// `AUTH_<project id>`: where its buckets are.
    pub account: String,
    pub project_id: String,
    /// May write (an operator role on the project).
    pub owner: bool,
    /// May read (an operator or reader role on the project).
    pub reader: bool,
    /// The signed request and the secret it was signed with; None for an
    /// anonymous caller.
    pub signed: Option<(SignedRequest, String)>,
}

fn now_secs() -> u64 {
    stratus_common::timestamp::unix_micros() / 1_000_000
}

/// Checks the signature and finds the caller's account and rights.
async fn authenticate(proxy: &Proxy, signed: SignedRequest) -> Result<Caller, S3Error> {
    let secrets = proxy.s3.as_ref().ok_or_else(S3Error::access_denied)?;
    let cred = secrets
        .lookup(&signed.access_key)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "EC2 credential lookup failed");
            S3Error::new("ServiceUnavailable", "Please reduce your request rate.")
        })?
        .ok_or_else(|| {
            S3Error::new(
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            )
        })?;
    if !signed.verify(&cred.secret) {
        return Err(S3Error::signature_mismatch());
    }
    let region = &proxy.config.s3_region;
    let v4 = signed.version == auth::SigVersion::V4;
    if v4 && (signed.region != *region || signed.service != "s3") {
        let message = format!(
            "The authorization header is malformed; the region '{}' is wrong; expecting '{region}'",
            signed.region
        );
        return Err(if signed.presigned {
            S3Error::query_auth(message)
        } else {
            S3Error::malformed_auth(message)
        });
    }
    let roles = &proxy.config;
    let has = |set: &[String]| cred.roles.iter().any(|r| set.contains(r));
    Ok(Caller {
        account: format!("{RESELLER_PREFIX}{}", cred.project_id),
        project_id: cred.project_id.clone(),
        owner: has(&roles.operator_roles) || cred.roles.contains(&roles.reseller_admin_role),
        reader: has(&roles.operator_roles)
            || has(&roles.reader_roles)
            || cred.roles.contains(&roles.reseller_admin_role),
        signed: Some((signed, cred.secret.clone())),
    })
}

/// An unsigned request: it acts in the account that owns the bucket, and
/// may read what the bucket's (or for GetObject the object's) ACL makes
/// public — nothing else.
async fn anonymous(proxy: &Proxy, op: &Op) -> Result<Caller, S3Error> {
    let bucket = op.bucket().ok_or_else(S3Error::access_denied)?;
    let account = registry::owner(proxy, bucket)
        .await?
        .ok_or_else(S3Error::access_denied)?;
    let info = crate::db::container_info(proxy, &account, bucket)
        .await
        .ok_or_else(S3Error::access_denied)?;
    let read = info.read_acl.as_deref();
    let caller = Caller {
        account,
        project_id: String::new(),
        owner: false,
        reader: true,
        signed: None,
    };
    let allowed = match op {
        Op::GetObject { key, .. } => {
            crate::acl::may_read(read, &[]) || {
                let (placement, path) = locate(proxy, &caller, bucket, key);
                let head = HeaderMap::new();
                match crate::object::fetch(proxy, &placement, &path, &head, Method::HEAD).await {
                    Ok(r) => acl::Canned::of_object(r.headers()) == acl::Canned::PublicRead,
                    Err(_) => false,
                }
            }
        }
        Op::ListObjects { .. } | Op::HeadBucket { .. } => crate::acl::may_list(read, &[]),
        _ => false,
    };
    if allowed {
        Ok(caller)
    } else {
        Err(S3Error::access_denied())
    }
}

/// A browser's CORS preflight: anonymous, against the bucket's rules.
async fn preflight(proxy: &Proxy, path: &str, req: &HeaderMap) -> Result<Response, S3Error> {
    let forbidden = || S3Error::new("AccessForbidden", "CORSResponse: Bucket not found");
    let bucket = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    let bucket = op::decode(bucket)?;
    let account = registry::owner(proxy, &bucket)
        .await?
        .ok_or_else(forbidden)?;
    let info = crate::db::container_info(proxy, &account, &bucket)
        .await
        .ok_or_else(forbidden)?;
    let rules = info.sysmeta.get(cors::SYSMETA).map(|s| cors::decode(s));
    cors::preflight(&rules.unwrap_or_default(), req)
}

/// Answers one S3 request; `request_id` goes out as `x-amz-request-id`.
pub async fn handle(proxy: &Arc<Proxy>, req: Request, request_id: &str) -> Response {
    let resource = req.uri().path().to_string();
    let head = req.method() == Method::HEAD;
    let mut resp = match serve(proxy, req).await {
        Ok(r) => r,
        Err(e) => {
            let mut r = e.into_response(request_id, &resource);
            if head {
                // HEAD answers carry no body, only the status.
                *r.body_mut() = Body::empty();
            }
            r
        }
    };
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amz-request-id", v);
    }
    resp
}

async fn serve(proxy: &Arc<Proxy>, req: Request) -> Result<Response, S3Error> {
    let (parts, body) = req.into_parts();
    let query = auth::query_pairs(parts.uri.query());
    let host = parts.headers.get("host").and_then(|h| h.to_str().ok());
    let path = path_style(proxy.config.s3_domain.as_deref(), host, parts.uri.path());
    if parts.method == Method::OPTIONS {
        return preflight(proxy, &path, &parts.headers).await;
    }
    // A signature is checked first: strangers learn nothing about what
    // exists from a forged one.
    let (caller, op) = match auth::parse(&parts, &path, now_secs())? {
        Some(signed) => {
            let caller = authenticate(proxy, signed).await?;
            (caller, Op::parse(&parts.method, &path, &query)?)
        }
        None => {
            // Strangers learn nothing, not even what we do not serve.
            let op =
                Op::parse(&parts.method, &path, &query).map_err(|_| S3Error::access_denied())?;
            (anonymous(proxy, &op).await?, op)
        }
    };
    if !caller.reader || (op.writes() && !caller.owner) {
        return Err(S3Error::access_denied());
    }
    tracing::debug!(?op, account = %caller.account, "s3");
    let origin = parts.headers.get("origin").and_then(|v| v.to_str().ok());
    let rules = match (origin, op.bucket()) {
        (Some(_), Some(b)) => crate::db::container_info(proxy, &caller.account, b)
            .await
            .and_then(|i| i.sysmeta.get(cors::SYSMETA).map(|s| cors::decode(s))),
        _ => None,
    };
    let method = parts.method.clone();
    let origin = origin.map(str::to_string);
    let mut resp = dispatch(proxy, &caller, op, parts, body, &query).await?;
    if let (Some(rules), Some(origin)) = (rules, origin) {
        cors::decorate(&rules, &origin, method.as_str(), &mut resp);
    }
    Ok(resp)
}

async fn dispatch(
    proxy: &Arc<Proxy>,
    caller: &Caller,
    op: Op,
    parts: http::request::Parts,
    body: hyper::body::Incoming,
    query: &[(String, String)],
) -> Result<Response, S3Error> {
    match op {
        Op::ListBuckets => bucket::list_buckets(proxy, caller).await,
        Op::CreateBucket { bucket } => {
            bucket::create(proxy, caller, &bucket, &parts.headers, body).await
        }
        Op::HeadBucket { bucket } => bucket::head(proxy, caller, &bucket).await,
        Op::DeleteBucket { bucket } => bucket::delete(proxy, caller, &bucket).await,
        Op::GetBucketLocation { bucket } => bucket::location(proxy, caller, &bucket).await,
        Op::ListObjects { bucket, v2 } => {
            bucket::list_objects(proxy, caller, &bucket, v2, query).await
        }
        Op::PutObject { bucket, key } => {
            object::put(proxy, caller, &bucket, &key, parts, body).await
        }
        Op::GetObject { bucket, key, head } => {
            object::get(proxy, caller, &bucket, &key, head, &parts, query).await
        }
        Op::DeleteObject { bucket, key } => {
            let version = query.iter().find(|(k, _)| k == "versionId");
            let version = version.map(|(_, v)| v.as_str());
            object::delete(proxy, caller, &bucket, &key, version).await
        }
        Op::ListObjectVersions { bucket } => {
            version_list::list(proxy, caller, &bucket, query).await
        }
        Op::DeleteObjects { bucket } => object::delete_many(proxy, caller, &bucket, body).await,
        Op::ListMultipartUploads { bucket } => {
            multipart::list_uploads(proxy, caller, &bucket, query).await
        }
        Op::CreateMultipartUpload { bucket, key } => {
            multipart::create(proxy, caller, &bucket, &key, &parts).await
        }
        Op::UploadPart {
            bucket,
            key,
            upload,
            part,
        } => multipart::upload_part(proxy, caller, &bucket, &key, &upload, part, parts, body).await,
        Op::ListParts {
            bucket,
            key,
            upload,
        } => multipart::list_parts(proxy, caller, &bucket, &key, &upload, query).await,
        Op::CompleteMultipartUpload {
            bucket,
            key,
            upload,
        } => multipart::complete(proxy, caller, &bucket, &key, &upload, body).await,
        Op::AbortMultipartUpload {
            bucket,
            key,
            upload,
        } => multipart::abort(proxy, caller, &bucket, &key, &upload).await,
        Op::GetBucketConfig { bucket, sub } => {
            config::get_bucket(proxy, caller, &bucket, sub).await
        }
        Op::PutBucketConfig { bucket, sub } => {
            config::put_bucket(proxy, caller, &bucket, sub, &parts.headers, body).await
        }
        Op::DeleteBucketConfig { bucket, sub } => {
            config::delete_bucket(proxy, caller, &bucket, sub).await
        }
        Op::GetObjectConfig { bucket, key, sub } => {
            config::get_object(proxy, caller, &bucket, &key, sub).await
        }
        Op::PutObjectConfig { bucket, key, sub } => {
            config::put_object(proxy, caller, &bucket, &key, sub, &parts.headers, body).await
        }
        Op::DeleteObjectConfig { bucket, key, sub } => {
            config::delete_object(proxy, caller, &bucket, &key, sub).await
        }
        Op::GetObjectAttributes { bucket, key } => {
            config::attributes(proxy, caller, &bucket, &key, &parts.headers).await
        }
    }
}

/// Where an object of the caller's account lives: its placement and path.
pub(crate) fn locate(
    proxy: &Proxy,
    c: &Caller,
    container: &str,
    name: &str,
) -> (crate::backend::Placement, String) {
    let placement = proxy.backend.place(
        crate::backend::Kind::Object,
        stratus_ring::Path::Object(&c.account, container, name),
    );
    (placement, format!("/{}/{container}/{name}", c.account))
}

/// S3's error for a Swift status from the object store.
pub fn from_status(status: http::StatusCode, missing: &'static str) -> S3Error {
    match status.as_u16() {
        404 if missing == "NoSuchBucket" => S3Error::new(missing, "The specified bucket does not exist"),
        404 => S3Error::new(missing, "The specified key does not exist."),
        401 | 403 => S3Error::access_denied(),
        411 => S3Error::new("MissingContentLength", "You must provide the Content-Length HTTP header."),
        412 => S3Error::new("PreconditionFailed", "At least one of the pre-conditions you specified did not hold"),
        413 => S3Error::new("EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size."),
        416 => S3Error::new("InvalidRange", "The requested range is not satisfiable"),
        422 => S3Error::new("BadDigest", "The Content-MD5 you specified did not match what we received."),
        408 | 499 => S3Error::new("RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period."),
        503 | 507 => S3Error::new("ServiceUnavailable", "Please reduce your request rate."),
        s if s < 500 => S3Error::new("InvalidRequest", format!("The object store answered {s}")),
        _ => S3Error::new("InternalError", "We encountered an internal error. Please try again."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_hosted_addressing() {
        let d = Some("s3.example");
        assert_eq!(
            path_style(d, Some("photos.s3.example:8080"), "/a/b"),
            "/photos/a/b"
        );
        assert_eq!(path_style(d, Some("photos.s3.example"), "/"), "/photos/");
        assert_eq!(
            path_style(d, Some("s3.example:8080"), "/photos/a"),
            "/photos/a"
        );
        assert_eq!(path_style(d, Some("127.0.0.1:8080"), "/photos"), "/photos");
        assert_eq!(path_style(None, Some("photos.s3.example"), "/a"), "/a");
        assert_eq!(path_style(d, Some("evil-s3.example"), "/a"), "/a");
    }

    #[test]
    fn s3_and_swift_paths() {
        assert!(!is_s3_path("/v1/AUTH_x/c"));
        assert!(!is_s3_path("/auth/v1.0"));
        assert!(!is_s3_path("/info"));
        assert!(is_s3_path("/"));
        assert!(is_s3_path("/bucket/key"));
    }
}
