//! AWS Signature Version 4: canonical request, string to sign, signing
//! key and signature, checked against AWS's published test suite. The load
//! generator signs with it; the identity service checks EC2 signatures
//! with it. Also the signature of the older Version 2 (HMAC-SHA1).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The payload hash S3 accepts when the body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Who signs, where and when.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    pub service: String,
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// `AWS4<secret>` → date → region → service → `aws4_request`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// RFC 3986 encoding as SigV4 wants it (unreserved characters kept).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                o.push(b as char)
            }
            b'/' if keep_slash => o.push('/'),
            _ => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

/// The canonical request and its signed-headers list.
///
/// `path` is already URI-encoded; `query` holds decoded (name, value)
/// pairs; `headers` are the ones to sign (`host` and `x-amz-date` at least).
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    payload_hash: &str,
) -> (String, String) {
    let mut q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    q.sort();
    let canonical_query = q
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut h: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    h.sort();
    let canonical_headers: String = h.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = h
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical = format!(
        "{method}\n{path}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}"
    );
    (canonical, signed_headers)
}

/// `AWS4-HMAC-SHA256\n<date>\n<scope>\n<hash of the canonical request>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The hex signature of `string_to_sign` under the key for `scope`'s
/// date, region and service.
pub fn signature(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> String {
    let key = signing_key(secret, date, region, service);
    hex::encode(hmac(&key, string_to_sign.as_bytes()))
}

/// A Signature Version 2 signature: HMAC-SHA1 of the string to sign
/// under the secret, base64.
pub fn sigv2_signature(secret: &str, string_to_sign: &[u8]) -> String {
    use base64::Engine;
    // HMAC takes keys of any length.
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!());
    mac.update(string_to_sign);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// HMAC-SHA256 of `msg` under a derived signing key, hex.
pub fn sign_with_key(key: &[u8], msg: &str) -> String {
    hex::encode(hmac(key, msg.as_bytes()))
}

/// What one chunk of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body signs:
/// the previous signature (the request's for the first chunk) chains them.
pub fn chunk_string_to_sign(amz_date: &str, scope: &str, previous: &str, chunk: &[u8]) -> String {
    format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{}\n{}",
        sha256_hex(b""),
        sha256_hex(chunk)
    )
}

/// Signs a request; returns the `Authorization` header value
/// (`amz_date` is `YYYYMMDDTHHMMSSZ`).
pub fn authorization(
    cred: &Credentials,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    payload_hash: &str,
    amz_date: &str,
) -> String {
    let (canonical, signed_headers) = canonical_request(method, path, query, headers, payload_hash);
    let date = &amz_date[..amz_date.len().min(8)];
    let scope = format!("{date}/{}/{}/aws4_request", cred.region, cred.service);
    let sts = string_to_sign(amz_date, &scope, &canonical);
    let signature = signature(&cred.secret_key, date, &cred.region, &cred.service, &sts);
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        cred.access_key
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite() -> Credentials {
        Credentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
            service: "service".into(),
        }
    }

    fn headers() -> Vec<(String, String)> {
        vec![
            ("host".into(), "example.amazonaws.com".into()),
            ("x-amz-date".into(), "20150830T123600Z".into()),
        ]
    }

    const PREFIX: &str =
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                          SignedHeaders=host;x-amz-date, Signature=";

    #[test]
    fn aws_test_suite_get_vanilla() {
        let a = authorization(
            &suite(),
            "GET",
            "/",
            &[],
            &headers(),
            &sha256_hex(b""),
            "20150830T123600Z",
        );
        assert_eq!(
            a,
            format!("{PREFIX}5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        );
    }

    #[test]
    fn aws_test_suite_get_vanilla_query_order_key_case() {
        let q = vec![
            ("Param2".into(), "value2".into()),
            ("Param1".into(), "value1".into()),
        ];
        let a = authorization(
            &suite(),
            "GET",
            "/",
            &q,
            &headers(),
            &sha256_hex(b""),
            "20150830T123600Z",
        );
        assert_eq!(
            a,
            format!("{PREFIX}b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
        );
    }

    #[test]
    fn encoding_keeps_unreserved_only() {
        assert_eq!(uri_encode("a b/c~d*e", true), "a%20b/c~d%2Ae");
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
        assert_eq!(uri_encode("é", false), "%C3%A9");
    }
}
