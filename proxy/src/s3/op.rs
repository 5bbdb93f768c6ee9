//! What an S3 request asks for: its operation, parsed from method,
//! path-style path and query at the edge, and S3's bucket naming rules.

use http::Method;

use super::errors::S3Error;

/// A sub-resource of a bucket or an object (`?acl`, `?cors`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    Acl,
    Cors,
    Tagging,
    Versioning,
}

/// What a request asks for, by method, path and query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    ListBuckets,
    CreateBucket {
        bucket: String,
    },
    HeadBucket {
        bucket: String,
    },
    DeleteBucket {
        bucket: String,
    },
    GetBucketLocation {
        bucket: String,
    },
    ListObjects {
        bucket: String,
        v2: bool,
    },
    PutObject {
        bucket: String,
        key: String,
    },
    GetObject {
        bucket: String,
        key: String,
        head: bool,
    },
    DeleteObjects {
        bucket: String,
    },
    ListMultipartUploads {
        bucket: String,
    },
    ListObjectVersions {
        bucket: String,
    },
    DeleteObject {
        bucket: String,
        key: String,
    },
    CreateMultipartUpload {
        bucket: String,
        key: String,
    },
    UploadPart {
        bucket: String,
        key: String,
        upload: String,
        part: u32,
    },
    ListParts {
        bucket: String,
        key: String,
        upload: String,
    },
    CompleteMultipartUpload {
        bucket: String,
        key: String,
        upload: String,
    },
    AbortMultipartUpload {
        bucket: String,
        key: String,
        upload: String,
    },
    GetBucketConfig {
        bucket: String,
        sub: Sub,
    },
    PutBucketConfig {
        bucket: String,
        sub: Sub,
    },
    DeleteBucketConfig {
        bucket: String,
        sub: Sub,
    },
    GetObjectConfig {
        bucket: String,
        key: String,
        sub: Sub,
    },
    PutObjectConfig {
        bucket: String,
        key: String,
        sub: Sub,
    },
    DeleteObjectConfig {
        bucket: String,
        key: String,
        sub: Sub,
    },
    GetObjectAttributes {
        bucket: String,
        key: String,
    },
}

pub(super) fn decode(s: &str) -> Result<String, S3Error> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| S3Error::new("InvalidURI", "Couldn't parse the specified URI."))
}

/// S3's bucket naming rules (3–63 of a–z, 0–9, `.`, `-`; letters or
/// digits at both ends).
pub fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.bytes().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.bytes().last().is_some_and(|c| c.is_ascii_alphanumeric())
        && !b.contains("..")
}

impl Op {
    /// Parses a path-style request into an operation.
    pub fn parse(method: &Method, path: &str, query: &[(String, String)]) -> Result<Op, S3Error> {
        let has = |k: &str| query.iter().any(|(n, _)| n == k);
        let rest = path.strip_prefix('/').unwrap_or(path);
        let (bucket, key) = match rest.split_once('/') {
            Some((b, k)) => (decode(b)?, decode(k)?),
            None => (decode(rest)?, String::new()),
        };
        let unsupported =
            || S3Error::new("NotImplemented", "This operation is not implemented yet.");
        if bucket.is_empty() {
            return match *method {
                Method::GET => Ok(Op::ListBuckets),
                _ => Err(S3Error::new(
                    "MethodNotAllowed",
                    "The specified method is not allowed against this resource.",
                )),
            };
        }
        if !valid_bucket(&bucket) {
            return Err(S3Error::new(
                "InvalidBucketName",
                "The specified bucket is not valid.",
            ));
        }
        // Sub-resources not served yet (versioning, tagging, ACLs, …).
        const KNOWN: &[&str] = &[
            "list-type",
            "prefix",
            "delimiter",
            "marker",
            "max-keys",
            "continuation-token",
            "start-after",
            "encoding-type",
            "fetch-owner",
            "location",
            "x-id",
            "response-content-type",
            "response-content-disposition",
            "response-content-encoding",
            "response-content-language",
            "response-cache-control",
            "response-expires",
            "uploads",
            "uploadId",
            "partNumber",
            "max-parts",
            "part-number-marker",
            "delete",
            "max-uploads",
            "key-marker",
            "upload-id-marker",
            "acl",
            "cors",
            "tagging",
            "versioning",
            "attributes",
            "versions",
            "versionId",
            "version-id-marker",
        ];
        let is_auth = |k: &str| {
            k.starts_with("X-Amz-") || ["AWSAccessKeyId", "Signature", "Expires"].contains(&k)
        };
        if query
            .iter()
            .any(|(k, _)| !KNOWN.contains(&k.as_str()) && !is_auth(k))
        {
            return Err(unsupported());
        }
        let sub = [
            ("acl", Sub::Acl),
            ("cors", Sub::Cors),
            ("tagging", Sub::Tagging),
            ("versioning", Sub::Versioning),
        ]
        .into_iter()
        .find(|(name, _)| has(name))
        .map(|(_, sub)| sub);
        let not_allowed = || {
            S3Error::new(
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            )
        };
        if let (Some(sub), true) = (sub, key.is_empty()) {
            return match *method {
                Method::GET => Ok(Op::GetBucketConfig { bucket, sub }),
                Method::PUT => Ok(Op::PutBucketConfig { bucket, sub }),
                Method::DELETE => Ok(Op::DeleteBucketConfig { bucket, sub }),
                _ => Err(not_allowed()),
            };
        }
        if key.is_empty() {
            return match *method {
                Method::PUT => Ok(Op::CreateBucket { bucket }),
                Method::HEAD => Ok(Op::HeadBucket { bucket }),
                Method::DELETE => Ok(Op::DeleteBucket { bucket }),
                Method::GET if has("location") => Ok(Op::GetBucketLocation { bucket }),
                Method::POST if has("delete") => Ok(Op::DeleteObjects { bucket }),
                Method::GET if has("uploads") => Ok(Op::ListMultipartUploads { bucket }),
                Method::GET if has("versions") => Ok(Op::ListObjectVersions { bucket }),
                Method::GET => Ok(Op::ListObjects {
                    bucket,
                    v2: query.iter().any(|(k, v)| k == "list-type" && v == "2"),
                }),
                _ => Err(unsupported()),
            };
        }
        if key.len() > crate::server::MAX_OBJECT_NAME {
            return Err(S3Error::new("KeyTooLongError", "Your key is too long"));
        }
        let val = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if let Some(upload) = val("uploadId") {
            return match *method {
                Method::PUT => {
                    let part = val("partNumber")
                        .and_then(|p| p.parse().ok())
                        .ok_or_else(|| {
                            S3Error::new(
                                "InvalidArgument",
                                "Part number must be an integer between 1 and 10000, inclusive",
                            )
                        })?;
                    Ok(Op::UploadPart {
                        bucket,
                        key,
                        upload,
                        part,
                    })
                }
                Method::GET => Ok(Op::ListParts {
                    bucket,
                    key,
                    upload,
                }),
                Method::POST => Ok(Op::CompleteMultipartUpload {
                    bucket,
                    key,
                    upload,
                }),
                Method::DELETE => Ok(Op::AbortMultipartUpload {
                    bucket,
                    key,
                    upload,
                }),
                _ => Err(unsupported()),
            };
        }
        if has("uploads") {
            return match *method {
                Method::POST => Ok(Op::CreateMultipartUpload { bucket, key }),
                _ => Err(unsupported()),
            };
        }
        if let Some(sub) = sub {
            return match *method {
                Method::GET => Ok(Op::GetObjectConfig { bucket, key, sub }),
                Method::PUT => Ok(Op::PutObjectConfig { bucket, key, sub }),
                Method::DELETE => Ok(Op::DeleteObjectConfig { bucket, key, sub }),
                _ => Err(not_allowed()),
            };
        }
        if has("attributes") {
            return match *method {
                Method::GET => Ok(Op::GetObjectAttributes { bucket, key }),
                _ => Err(not_allowed()),
            };
        }
        match *method {
            Method::PUT => Ok(Op::PutObject { bucket, key }),
            Method::GET => Ok(Op::GetObject {
                bucket,
                key,
                head: false,
            }),
            Method::HEAD => Ok(Op::GetObject {
                bucket,
                key,
                head: true,
            }),
            Method::DELETE => Ok(Op::DeleteObject { bucket, key }),
            _ => Err(unsupported()),
        }
    }

    pub fn writes(&self) -> bool {
        matches!(
            self,
            Op::CreateBucket { .. }
                | Op::DeleteBucket { .. }
                | Op::PutObject { .. }
                | Op::DeleteObject { .. }
                | Op::DeleteObjects { .. }
                | Op::CreateMultipartUpload { .. }
                | Op::UploadPart { .. }
                | Op::CompleteMultipartUpload { .. }
                | Op::AbortMultipartUpload { .. }
                | Op::PutBucketConfig { .. }
                | Op::DeleteBucketConfig { .. }
                | Op::PutObjectConfig { .. }
                | Op::DeleteObjectConfig { .. }
        )
    }

    /// The bucket the operation is about, if any.
    pub fn bucket(&self) -> Option<&str> {
        match self {
            Op::ListBuckets => None,
            Op::CreateBucket { bucket }
            | Op::HeadBucket { bucket }
            | Op::DeleteBucket { bucket }
            | Op::GetBucketLocation { bucket }
            | Op::ListObjects { bucket, .. }
            | Op::PutObject { bucket, .. }
            | Op::GetObject { bucket, .. }
            | Op::DeleteObjects { bucket }
            | Op::ListMultipartUploads { bucket }
            | Op::ListObjectVersions { bucket }
            | Op::DeleteObject { bucket, .. }
            | Op::CreateMultipartUpload { bucket, .. }
            | Op::UploadPart { bucket, .. }
            | Op::ListParts { bucket, .. }
            | Op::CompleteMultipartUpload { bucket, .. }
            | Op::AbortMultipartUpload { bucket, .. }
            | Op::GetBucketConfig { bucket, .. }
            | Op::PutBucketConfig { bucket, .. }
            | Op::DeleteBucketConfig { bucket, .. }
            | Op::GetObjectConfig { bucket, .. }
            | Op::PutObjectConfig { bucket, .. }
            | Op::DeleteObjectConfig { bucket, .. }
            | Op::GetObjectAttributes { bucket, .. } => Some(bucket),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn operations_from_requests() {
        assert_eq!(Op::parse(&Method::GET, "/", &[]).unwrap(), Op::ListBuckets);
        assert_eq!(
            Op::parse(&Method::PUT, "/my-bucket", &[]).unwrap(),
            Op::CreateBucket {
                bucket: "my-bucket".into()
            }
        );
        assert_eq!(
            Op::parse(
                &Method::GET,
                "/b12/",
                &q(&[("list-type", "2"), ("prefix", "a/")])
            )
            .unwrap(),
            Op::ListObjects {
                bucket: "b12".into(),
                v2: true
            }
        );
        assert_eq!(
            Op::parse(&Method::GET, "/b12/dir/a%20b.txt", &[]).unwrap(),
            Op::GetObject {
                bucket: "b12".into(),
                key: "dir/a b.txt".into(),
                head: false
            }
        );
        assert_eq!(
            Op::parse(&Method::GET, "/B_ad", &[]).unwrap_err().code,
            "InvalidBucketName"
        );
        assert_eq!(
            Op::parse(&Method::GET, "/bucket", &q(&[("website", "")]))
                .unwrap_err()
                .code,
            "NotImplemented"
        );
        assert_eq!(
            Op::parse(&Method::PUT, "/", &[]).unwrap_err().code,
            "MethodNotAllowed"
        );
        assert_eq!(
            Op::parse(&Method::GET, "/abc/%FF", &[]).unwrap_err().code,
            "InvalidURI"
        );
    }

    #[test]
    fn sub_resources_and_versions() {
        let sub = |m: &Method, path: &str, k: &str| Op::parse(m, path, &q(&[(k, "")])).unwrap();
        assert_eq!(
            sub(&Method::PUT, "/b12", "cors"),
            Op::PutBucketConfig {
                bucket: "b12".into(),
                sub: Sub::Cors
            }
        );
        assert_eq!(
            sub(&Method::DELETE, "/b12/k", "tagging"),
            Op::DeleteObjectConfig {
                bucket: "b12".into(),
                key: "k".into(),
                sub: Sub::Tagging
            }
        );
        assert_eq!(
            sub(&Method::GET, "/b12", "versions"),
            Op::ListObjectVersions {
                bucket: "b12".into()
            }
        );
        assert_eq!(
            sub(&Method::GET, "/b12/k", "attributes"),
            Op::GetObjectAttributes {
                bucket: "b12".into(),
                key: "k".into()
            }
        );
        assert_eq!(
            Op::parse(&Method::POST, "/b12", &q(&[("acl", "")]))
                .unwrap_err()
                .code,
            "MethodNotAllowed"
        );
        assert!(sub(&Method::PUT, "/b12/k", "acl").writes());
        assert_eq!(sub(&Method::GET, "/b12/k", "acl").bucket(), Some("b12"));
    }

    #[test]
    fn bucket_names() {
        for ok in ["abc", "a.b-c", "123", &"a".repeat(63)] {
            assert!(valid_bucket(ok), "{ok}");
        }
        for bad in ["ab", "ABC", "a_b", "-ab", "ab-", "a..b", &"a".repeat(64)] {
            assert!(!valid_bucket(bad), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_path_parses_or_errs(path in "/\\PC{0,80}", m in 0usize..5) {
            let method = [Method::GET, Method::PUT, Method::HEAD, Method::DELETE, Method::POST][m].clone();
            let _ = Op::parse(&method, &path, &[]);
        }
    }
}
