//! AWS Signature Version 2, which older clients still send (the presigned
//! URLs of awscli v1's `aws s3 presign`, s3cmd with `signature_v2`):
//! `Authorization: AWS <key>:<signature>` or the query `AWSAccessKeyId`,
//! `Expires`, `Signature`. The string to sign is the verb, Content-MD5,
//! Content-Type, the date (Expires when presigned; empty when
//! `x-amz-date` is sent), the `x-amz-*` headers and the resource: the
//! path-style path as sent plus the sub-resources of the query.

use http::request::Parts;

use super::auth::{query_pairs, Payload, SigVersion, SignedRequest, MAX_SKEW_SECS};
use super::errors::S3Error;

/// Query parameters that are part of the signed resource, sorted.
const SUBRESOURCES: &[&str] = &[
    "acl",
    "attributes",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// `x-amz-*` headers: lower-case names in order, values joined by commas.
fn amz_headers(parts: &Parts) -> String {
    let mut names: Vec<&str> = parts
        .headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("x-amz-"))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
        .iter()
        .map(|n| {
            let values: Vec<String> = parts
                .headers
                .get_all(*n)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            format!("{n}:{}\n", values.join(","))
        })
        .collect()
}

/// The path plus its signed sub-resources (`?acl`, `?versionId=…`).
fn resource(path: &str, query: &[(String, String)]) -> String {
    let mut subs: Vec<&(String, String)> = query
        .iter()
        .filter(|(k, _)| SUBRESOURCES.contains(&k.as_str()))
        .collect();
    subs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = path.to_string();
    for (i, (k, v)) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        if !v.is_empty() {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

pub fn string_to_sign(parts: &Parts, path: &str, date: &str) -> String {
    let query = query_pairs(parts.uri.query());
    format!(
        "{}\n{}\n{}\n{date}\n{}{}",
        parts.method.as_str(),
        header(parts, "content-md5").unwrap_or_default(),
        header(parts, "content-type").unwrap_or_default(),
        amz_headers(parts),
        resource(path, &query)
    )
}

fn signed(
    access_key: &str,
    signature: &str,
    string_to_sign: String,
    presigned: bool,
) -> SignedRequest {
    SignedRequest {
        version: SigVersion::V2,
        access_key: access_key.to_string(),
        amz_date: String::new(),
        region: String::new(),
        service: "s3".into(),
        signature: signature.to_string(),
        string_to_sign,
        payload: Payload::Unsigned,
        presigned,
    }
}

/// A SigV2 `Authorization: AWS key:signature` header. `path` is the
/// path-style path as sent (with the bucket of a virtual host).
pub fn from_header(
    parts: &Parts,
    auth: &str,
    path: &str,
    now: u64,
) -> Result<SignedRequest, S3Error> {
    let (key, signature) = auth
        .strip_prefix("AWS ")
        .and_then(|c| c.trim().split_once(':'))
        .filter(|(k, s)| !k.is_empty() && !s.is_empty())
        .ok_or_else(|| {
            S3Error::new(
                "InvalidArgument",
                "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            )
        })?;
    let amz_date = header(parts, "x-amz-date");
    let when = amz_date
        .or_else(|| header(parts, "date"))
        .and_then(|d| {
            // RFC 1123 with a numeric zone, as s3cmd and AWS's examples send.
            let d = d.trim();
            let gmt = d.strip_suffix("+0000").map(|s| format!("{s}GMT"));
            httpdate::parse_http_date(gmt.as_deref().unwrap_or(d)).ok()
        })
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .ok_or_else(|| {
            S3Error::access_denied_because(
                "AWS authentication requires a valid Date or x-amz-date header",
            )
        })?;
    if when.abs_diff(now) > MAX_SKEW_SECS {
        return Err(S3Error::new(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        ));
    }
    // With x-amz-date the Date line is empty (x-amz-date is signed below).
    let date = match amz_date {
        Some(_) => "",
        None => header(parts, "date").unwrap_or_default(),
    };
    Ok(signed(
        key,
        signature,
        string_to_sign(parts, path, date),
        false,
    ))
}

/// A SigV2 presigned URL (`AWSAccessKeyId`, `Expires`, `Signature`).
pub fn from_query(
    parts: &Parts,
    query: &[(String, String)],
    path: &str,
    now: u64,
) -> Result<Option<SignedRequest>, S3Error> {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(key) = q("AWSAccessKeyId") else {
        return Ok(None);
    };
    let (Some(signature), Some(expires)) = (q("Signature"), q("Expires")) else {
        return Err(S3Error::access_denied_because(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
        ));
    };
    let at: u64 = expires.parse().map_err(|_| S3Error::access_denied())?;
    if at < now {
        return Err(S3Error::access_denied_because("Request has expired"));
    }
    Ok(Some(signed(
        key,
        signature,
        string_to_sign(parts, path, expires),
        true,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::auth::tests::parts;
    use proptest::prelude::*;

    /// AWS's RESTAuthentication examples (S3 developer guide).
    #[test]
    fn aws_examples() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let get = parts(
            "GET",
            "/photos/puppy.jpg",
            &[("date", "Tue, 27 Mar 2007 19:36:42 +0000")],
        );
        let sts = string_to_sign(
            &get,
            "/awsexamplebucket1/photos/puppy.jpg",
            "Tue, 27 Mar 2007 19:36:42 +0000",
        );
        assert_eq!(
            sts,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
        assert_eq!(
            stratus_common::sigv4::sigv2_signature(secret, sts.as_bytes()),
            "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="
        );
        // x-amz-date replaces Date; x-amz-* headers and ?acl are signed.
        let put = parts(
            "PUT",
            "/db-backup.dat.gz?acl",
            &[
                ("x-amz-date", "Tue, 27 Mar 2007 21:06:08 +0000"),
                ("content-type", "application/x-download"),
                ("content-md5", "4gJE4saaMU4BqNR0kLY+lw=="),
                ("x-amz-meta-reviewedby", "joe@example.com"),
                ("x-amz-meta-reviewedby", "jane@example.com"),
                ("x-amz-meta-filechecksum", "0x02661779"),
            ],
        );
        let sts = string_to_sign(&put, "/static.example.com/db-backup.dat.gz", "");
        assert_eq!(
            sts,
            "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\n\nx-amz-date:Tue, 27 Mar 2007 21:06:08 +0000\n\
             x-amz-meta-filechecksum:0x02661779\nx-amz-meta-reviewedby:joe@example.com,jane@example.com\n\
             /static.example.com/db-backup.dat.gz?acl"
        );
    }

    #[test]
    fn shapes_and_times() {
        let now = 1_795_000_000;
        let date =
            httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(now));
        let p = parts("GET", "/b/k", &[("date", &date)]);
        let r = from_header(&p, "AWS AK:c2ln", "/b/k", now).unwrap();
        assert_eq!(
            (r.access_key.as_str(), r.signature.as_str()),
            ("AK", "c2ln")
        );
        assert_eq!(
            from_header(&p, "AWS AK:c2ln", "/b/k", now + 3600)
                .unwrap_err()
                .code,
            "RequestTimeTooSkewed"
        );
        assert_eq!(
            from_header(&p, "AWS nocolon", "/b/k", now)
                .unwrap_err()
                .code,
            "InvalidArgument"
        );
        let numeric = "Tue, 27 Mar 2007 19:36:42 +0000";
        let p2 = parts("GET", "/b/k", &[("x-amz-date", numeric)]);
        assert!(from_header(&p2, "AWS AK:x", "/b/k", 1_175_024_202).is_ok());
        let undated = parts("GET", "/b/k", &[]);
        assert_eq!(
            from_header(&undated, "AWS AK:x", "/b/k", now)
                .unwrap_err()
                .code,
            "AccessDenied"
        );
        let q = |e: &str| {
            vec![
                ("AWSAccessKeyId".to_string(), "AK".to_string()),
                ("Expires".into(), e.into()),
                ("Signature".into(), "x".into()),
            ]
        };
        assert!(from_query(&p, &q(&(now + 10).to_string()), "/b/k", now)
            .unwrap()
            .is_some());
        assert_eq!(
            from_query(&p, &q(&(now - 10).to_string()), "/b/k", now)
                .unwrap_err()
                .code,
            "AccessDenied"
        );
        assert!(from_query(&p, &[], "/b/k", now).unwrap().is_none());
    }

    proptest! {
        #[test]
        fn any_header_is_answered(auth in "AWS \\PC{0,60}", date in "\\PC{0,40}") {
            let p = parts("GET", "/b/k", &[]);
            let mut p2 = p.clone();
            if let Ok(v) = http::HeaderValue::from_str(&date) {
                p2.headers.insert("date", v);
            }
            let _ = from_header(&p2, &auth, "/b/k", 1_795_000_000);
        }
    }
}
