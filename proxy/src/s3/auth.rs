//! Who signed an S3 request and what they signed: the SigV4 (or SigV2,
//! [`super::sigv2`]) `Authorization` header or a presigned URL's query, parsed and checked
//! for shape and time (15 minutes of clock skew, presigned expiry) into a
//! [`SignedRequest`] holding the string to sign. Checking the signature
//! needs the access key's secret ([`SignedRequest::verify`]).

use http::request::Parts;
use stratus_common::sigv4;

use super::errors::S3Error;

/// How the body is covered by the signature (`x-amz-content-sha256`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Unsigned,
    /// The body's SHA-256, hex; the body must hash to it.
    Sha256(String),
    /// `aws-chunked`: chunk signatures when `signed`, trailers when `trailer`.
    Streaming {
        signed: bool,
        trailer: bool,
    },
}

/// Which signature scheme signed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigVersion {
    V4,
    /// The older HMAC-SHA1 scheme ([`super::sigv2`]).
    V2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub version: SigVersion,
    pub access_key: String,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: String,
    pub region: String,
    pub service: String,
    pub signature: String,
    pub string_to_sign: String,
    pub payload: Payload,
    pub presigned: bool,
}

/// Clock skew S3 tolerates.
pub const MAX_SKEW_SECS: u64 = 15 * 60;
/// A presigned URL lives at most a week.
const MAX_EXPIRES_SECS: u64 = 7 * 24 * 3600;

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The query as decoded (name, value) pairs, in order.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn payload(value: Option<&str>) -> Result<Payload, S3Error> {
    Ok(match value {
        None | Some("UNSIGNED-PAYLOAD") => Payload::Unsigned,
        Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD") => Payload::Streaming {
            signed: true,
            trailer: false,
        },
        Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") => Payload::Streaming {
            signed: true,
            trailer: true,
        },
        Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER") => Payload::Streaming {
            signed: false,
            trailer: true,
        },
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Payload::Sha256(h.to_ascii_lowercase())
        }
        Some(_) => {
            return Err(S3Error::new(
                "InvalidArgument",
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING- value or a SHA-256",
            ))
        }
    })
}

/// `AK/20130524/us-east-1/s3/aws4_request` → (key, date, region, service).
fn credential(c: &str) -> Option<(String, String, String, String)> {
    let mut parts = c.rsplitn(5, '/');
    let term = parts.next()?;
    let service = parts.next()?;
    let region = parts.next()?;
    let date = parts.next()?;
    let key = parts.next()?;
    let ok = term == "aws4_request"
        && date.len() == 8
        && date.bytes().all(|b| b.is_ascii_digit())
        && !key.is_empty();
    ok.then(|| (key.into(), date.into(), region.into(), service.into()))
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Parses the request's signature; Ok(None) for an anonymous request.
/// `path` is the path-style path as sent (SigV2 signs it, with the
/// bucket of a virtual host).
pub fn parse(parts: &Parts, path: &str, now_secs: u64) -> Result<Option<SignedRequest>, S3Error> {
    let query = query_pairs(parts.uri.query());
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if let Some(auth) = header(parts, "authorization").filter(|a| a.starts_with("AWS ")) {
        return super::sigv2::from_header(parts, auth, path, now_secs).map(Some);
    }
    if let Some(auth) = header(parts, "authorization") {
        let rest = auth
            .strip_prefix("AWS4-HMAC-SHA256")
            .ok_or_else(|| S3Error::new("InvalidArgument", "Unsupported Authorization Type"))?;
        let field = |name: &str| {
            rest.split(',')
                .find_map(|p| p.trim().strip_prefix(name)?.strip_prefix('='))
        };
        let bad = || S3Error::malformed_auth("The authorization header is malformed.");
        let (access_key, date, region, service) =
            credential(field("Credential").ok_or_else(bad)?).ok_or_else(bad)?;
        let signed = field("SignedHeaders").ok_or_else(bad)?;
        let signature = field("Signature").ok_or_else(bad)?.to_string();
        let amz_date = header(parts, "x-amz-date")
            .ok_or_else(S3Error::access_denied)?
            .to_string();
        check_time(&amz_date, &date, now_secs, None)?;
        let credential = (access_key, date, region, service);
        return v4(
            parts, &query, signed, credential, amz_date, signature, false,
        )
        .map(Some);
    }
    let Some(alg) = q("X-Amz-Algorithm") else {
        return super::sigv2::from_query(parts, &query, path, now_secs);
    };
    if alg != "AWS4-HMAC-SHA256" {
        return Err(S3Error::query_auth(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
        ));
    }
    let need = |k: &str| {
        q(k).ok_or_else(|| S3Error::query_auth(format!("Query-string authentication requires {k}")))
    };
    let (access_key, date, region, service) = credential(need("X-Amz-Credential")?)
        .ok_or_else(|| S3Error::query_auth("Error parsing the X-Amz-Credential parameter"))?;
    let amz_date = need("X-Amz-Date")?.to_string();
    let expires: u64 = need("X-Amz-Expires")?
        .parse()
        .ok()
        .filter(|e| (1..=MAX_EXPIRES_SECS).contains(e))
        .ok_or_else(|| S3Error::query_auth("X-Amz-Expires must be between 1 and 604800 seconds"))?;
    check_time(&amz_date, &date, now_secs, Some(expires))?;
    let signed = need("X-Amz-SignedHeaders")?.to_string();
    let signature = need("X-Amz-Signature")?.to_string();
    let unsigned: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .cloned()
        .collect();
    let credential = (access_key, date, region, service);
    v4(
        parts, &unsigned, &signed, credential, amz_date, signature, true,
    )
    .map(Some)
}

/// A SigV4 request from its parsed parts (header or presigned alike).
fn v4(
    parts: &Parts,
    query: &[(String, String)],
    signed_headers: &str,
    (access_key, date, region, service): (String, String, String, String),
    amz_date: String,
    signature: String,
    presigned: bool,
) -> Result<SignedRequest, S3Error> {
    let declared = header(parts, "x-amz-content-sha256");
    let payload = payload(declared)?;
    let hash = declared.unwrap_or(sigv4::UNSIGNED_PAYLOAD);
    let sts = string_to_sign(
        parts,
        query,
        signed_headers,
        hash,
        &amz_date,
        &date,
        &region,
        &service,
    )?;
    Ok(SignedRequest {
        version: SigVersion::V4,
        access_key,
        amz_date,
        region,
        service,
        signature,
        string_to_sign: sts,
        payload,
        presigned,
    })
}

/// The request's time is its credential's day and within the skew (or,
/// presigned, not yet expired).
fn check_time(amz_date: &str, date: &str, now: u64, expires: Option<u64>) -> Result<(), S3Error> {
    let at = stratus_common::timestamp::parse_iso8601(amz_date)
        .filter(|_| amz_date.len() == 16 && amz_date.starts_with(date))
        .ok_or_else(|| {
            S3Error::malformed_auth("X-Amz-Date does not match the credential's date")
        })?;
    if at > now + MAX_SKEW_SECS {
        return Err(S3Error::new(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        ));
    }
    match expires {
        Some(e) if at + e < now => Err(S3Error::new("AccessDenied", "Request has expired")),
        None if at + MAX_SKEW_SECS < now => Err(S3Error::new(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )),
        _ => Ok(()),
    }
}

#[allow(clippy::too_many_arguments)]
fn string_to_sign(
    parts: &Parts,
    query: &[(String, String)],
    signed: &str,
    payload_hash: &str,
    amz_date: &str,
    date: &str,
    region: &str,
    service: &str,
) -> Result<String, S3Error> {
    let names: Vec<&str> = signed.split(';').filter(|n| !n.is_empty()).collect();
    if !names.contains(&"host") {
        return Err(S3Error::malformed_auth("The host header must be signed"));
    }
    let mut headers = Vec::with_capacity(names.len());
    for name in names {
        let values: Vec<&str> = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(S3Error::signature_mismatch());
        }
        headers.push((name.to_string(), values.join(",")));
    }
    // The path as S3 canonicalises it: decoded, then encoded once.
    let path = sigv4::uri_encode(&decode(parts.uri.path()), true);
    let (canonical, _) =
        sigv4::canonical_request(parts.method.as_str(), &path, query, &headers, payload_hash);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    Ok(sigv4::string_to_sign(amz_date, &scope, &canonical))
}

impl SignedRequest {
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            &self.amz_date[..8],
            self.region,
            self.service
        )
    }

    pub fn signing_key(&self, secret: &str) -> Vec<u8> {
        sigv4::signing_key(secret, &self.amz_date[..8], &self.region, &self.service)
    }

    /// Whether `secret` made this signature (constant-time comparison).
    pub fn verify(&self, secret: &str) -> bool {
        let expected = match self.version {
            SigVersion::V4 => sigv4::sign_with_key(&self.signing_key(secret), &self.string_to_sign),
            SigVersion::V2 => sigv4::sigv2_signature(secret, self.string_to_sign.as_bytes()),
        };
        stratus_common::http::constant_time_eq(expected.as_bytes(), self.signature.as_bytes())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    /// 2013-05-24T00:00:00Z, the time of AWS's examples.
    const THEN: u64 = 1_369_353_600;

    /// A request's head, for signature tests here and in sigv2.
    pub(in crate::s3) fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn aws_header_example_get_object() {
        let auth =
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
                    SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
                    Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
        let p = parts(
            "GET",
            "/test.txt",
            &[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("range", "bytes=0-9"),
                (
                    "x-amz-content-sha256",
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                ),
                ("x-amz-date", "20130524T000000Z"),
                ("authorization", auth),
            ],
        );
        let s = parse(&p, "/", THEN + 60).unwrap().unwrap();
        assert_eq!(s.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert!(matches!(s.payload, Payload::Sha256(_)));
        assert!(s.verify(SECRET));
        assert!(!s.verify("another secret"));
        // Skewed clocks either way.
        assert_eq!(
            parse(&p, "/", THEN + 16 * 60).unwrap_err().code,
            "RequestTimeTooSkewed"
        );
        assert_eq!(
            parse(&p, "/", THEN - 16 * 60).unwrap_err().code,
            "RequestTimeTooSkewed"
        );
    }

    #[test]
    fn aws_presigned_example() {
        let uri = "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                   &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
                   &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
                   &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
        let p = parts("GET", uri, &[("host", "examplebucket.s3.amazonaws.com")]);
        let s = parse(&p, "/", THEN + 3600).unwrap().unwrap();
        assert!(s.presigned);
        assert!(s.verify(SECRET));
        assert_eq!(
            parse(&p, "/", THEN + 86_401).unwrap_err().message,
            "Request has expired"
        );
    }

    #[test]
    fn anonymous_and_malformed() {
        assert_eq!(
            parse(&parts("GET", "/b/k", &[("host", "h")]), "/b/k", THEN).unwrap(),
            None
        );
        for auth in [
            "AWS AKID:sig",
            "AWS4-HMAC-SHA256 Credential=AK/2013/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x",
            "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=x",
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, Signature=x",
        ] {
            let p = parts("GET", "/b", &[("host", "h"), ("x-amz-date", "20130524T000000Z"), ("authorization", auth)]);
            assert!(parse(&p, "/", THEN).is_err(), "{auth}");
        }
        // The host header must be signed; the date must match the scope.
        let unsigned_host = "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, \
                             SignedHeaders=x-amz-date, Signature=x";
        let p = parts(
            "GET",
            "/b",
            &[
                ("host", "h"),
                ("x-amz-date", "20130524T000000Z"),
                ("authorization", unsigned_host),
            ],
        );
        assert_eq!(
            parse(&p, "/", THEN).unwrap_err().code,
            "AuthorizationHeaderMalformed"
        );
        let other_day = "AWS4-HMAC-SHA256 Credential=AK/20130525/us-east-1/s3/aws4_request, \
                         SignedHeaders=host, Signature=x";
        let p = parts(
            "GET",
            "/b",
            &[
                ("host", "h"),
                ("x-amz-date", "20130524T000000Z"),
                ("authorization", other_day),
            ],
        );
        assert!(parse(&p, "/", THEN).is_err());
        let p = parts(
            "GET",
            "/b?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=999999",
            &[("host", "h")],
        );
        assert_eq!(
            parse(&p, "/", THEN).unwrap_err().code,
            "AuthorizationQueryParametersError"
        );
    }

    #[test]
    fn payload_modes() {
        assert_eq!(
            payload(Some("UNSIGNED-PAYLOAD")).unwrap(),
            Payload::Unsigned
        );
        assert_eq!(
            payload(Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER")).unwrap(),
            Payload::Streaming {
                signed: false,
                trailer: true
            }
        );
        assert!(payload(Some("nonsense")).is_err());
    }

    proptest! {
        #[test]
        fn any_authorization_header_is_answered(auth in "\\PC{0,200}", date in "[0-9TZ]{0,20}") {
            let mut b = http::Request::builder().uri("/b/k").header("host", "h");
            if let Ok(v) = http::HeaderValue::from_str(&auth) {
                b = b.header("authorization", v);
            }
            if let Ok(v) = http::HeaderValue::from_str(&date) {
                b = b.header("x-amz-date", v);
            }
            let p = b.body(()).unwrap().into_parts().0;
            let _ = parse(&p, "/", THEN);
        }
    }
}
