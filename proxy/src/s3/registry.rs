//! The global bucket namespace: S3 bucket names are unique across all
//! accounts, and an anonymous request (a public bucket, a browser's CORS
//! preflight) names only the bucket. Each bucket is claimed by a
//! zero-byte object `/.s3-buckets/buckets/<bucket>` whose sysmeta names
//! the owning account; the claim is a conditional PUT (`If-None-Match:
//! *`), so two accounts racing for a name cannot both win.

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use stratus_common::body::Body;

use super::errors::S3Error;
use super::{bucket, from_status};
use crate::server::Proxy;

/// An internal account: not `AUTH_…`, so no client reaches it.
const ACCOUNT: &str = ".s3-buckets";
const CONTAINER: &str = "buckets";
const OWNER: &str = "x-object-sysmeta-s3-owner";

/// The account that owns `bucket`, if any has claimed it.
pub async fn owner(proxy: &Proxy, bucket: &str) -> Result<Option<String>, S3Error> {
    let record = crate::subrequest::stored(proxy, (ACCOUNT, CONTAINER, bucket), Method::HEAD)
        .await
        .map_err(|s| from_status(s, "NoSuchBucket"))?;
    Ok(record.and_then(|r| {
        r.headers()
            .get(OWNER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }))
}

/// Claims `bucket` for `account`: Ok when it is now (or already was)
/// the account's, `BucketAlreadyExists` when another account has it.
pub async fn claim(proxy: &Proxy, bucket: &str, account: &str) -> Result<(), S3Error> {
    let taken = || {
        S3Error::new(
            "BucketAlreadyExists",
            "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
        )
    };
    match owner(proxy, bucket).await? {
        Some(o) if o == account => return Ok(()),
        Some(_) => return Err(taken()),
        None => {}
    }
    // The registry's container is made on first use (PUT is idempotent).
    let made =
        crate::db::container(proxy, ACCOUNT, CONTAINER, &bucket::parts(Method::PUT, "")).await;
    if !made.status().is_success() {
        return Err(from_status(made.status(), "NoSuchBucket"));
    }
    let mut h = HeaderMap::new();
    h.insert("content-length", HeaderValue::from_static("0"));
    h.insert("if-none-match", HeaderValue::from_static("*"));
    h.insert("content-type", HeaderValue::from_static("text/plain"));
    let ts = crate::object::now_timestamp();
    for (n, v) in [("x-timestamp", ts.as_str()), (OWNER, account)] {
        let v = HeaderValue::from_str(v).map_err(|_| S3Error::access_denied())?;
        h.insert(http::HeaderName::from_static(n), v);
    }
    let at = (ACCOUNT, CONTAINER, bucket);
    let resp = crate::subrequest::upload_to(proxy, at, &h, &mut Body::empty()).await;
    match resp.status() {
        StatusCode::CREATED => Ok(()),
        // Someone claimed it between our look and our PUT: whose is it?
        StatusCode::PRECONDITION_FAILED => match owner(proxy, bucket).await? {
            Some(o) if o == account => Ok(()),
            _ => Err(taken()),
        },
        s => Err(from_status(s, "NoSuchBucket")),
    }
}

/// Gives `bucket` up, if `account` holds it (after the bucket is gone).
pub async fn release(proxy: &Proxy, bucket: &str, account: &str) {
    if !matches!(owner(proxy, bucket).await, Ok(Some(o)) if o == account) {
        return;
    }
    let status = crate::subrequest::delete_object(proxy, (ACCOUNT, CONTAINER, bucket)).await;
    if !status.is_success() {
        tracing::warn!(bucket, %status, "bucket name not released");
    }
}
