//! Checking signatures made with an EC2 credential's secret, for
//! `/v3/s3tokens` (the S3 API hands over its string to sign) and
//! `/v3/ec2tokens` (the EC2-style API hands over the request's parts and
//! the signature is rebuilt here): SigV4 in the Authorization header or in
//! the query, and SigV2.

use std::collections::BTreeMap;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use stratus_common::sigv4;

fn hmac_b64<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Option<String> {
    let mut mac = <M as Mac>::new_from_slice(key).ok()?;
    mac.update(msg);
    Some(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// The S3 signature of `string_to_sign`: SigV4 when it starts with `AWS4`
/// (the scope's service must be s3, iam or sts, as Keystone insists), else
/// SigV2 (HMAC-SHA1, base64).
pub fn s3_signature(secret: &str, string_to_sign: &[u8]) -> Option<String> {
    if !string_to_sign.starts_with(b"AWS4") {
        return Some(sigv4::sigv2_signature(secret, string_to_sign));
    }
    let text = std::str::from_utf8(string_to_sign).ok()?;
    let lines: Vec<&str> = text.split('\n').collect();
    if lines.len() != 4 || lines[0] != "AWS4-HMAC-SHA256" {
        return None;
    }
    let scope: Vec<&str> = lines[2].split('/').collect();
    if scope.len() != 4 || scope[3] != "aws4_request" || !matches!(scope[2], "s3" | "iam" | "sts") {
        return None;
    }
    Some(sigv4::signature(secret, scope[0], scope[1], scope[2], text))
}

/// The parts of a signed request, as `POST /v3/ec2tokens` carries them.
#[derive(Debug, Deserialize)]
pub struct Ec2Request {
    pub access: String,
    pub signature: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub verb: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body_hash: Option<String>,
}

impl Ec2Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The signature this request should carry if signed with `secret`.
    pub fn expected_signature(&self, secret: &str) -> Option<String> {
        if let Some(auth) = self
            .header("authorization")
            .filter(|a| a.starts_with("AWS4-HMAC-SHA256"))
        {
            let field = |name: &str| {
                auth.split([',', ' '])
                    .find_map(|p| p.trim().strip_prefix(name)?.strip_prefix('='))
            };
            return self.v4(
                secret,
                field("Credential")?,
                field("SignedHeaders")?,
                self.header("x-amz-date")?,
                &[],
            );
        }
        if self.params.get("X-Amz-Algorithm").map(String::as_str) == Some("AWS4-HMAC-SHA256") {
            let p = |k: &str| self.params.get(k).map(String::as_str);
            return self.v4(
                secret,
                p("X-Amz-Credential")?,
                p("X-Amz-SignedHeaders")?,
                p("X-Amz-Date")?,
                &["X-Amz-Signature"],
            );
        }
        if self.params.get("SignatureVersion").map(String::as_str) == Some("2") {
            return self.v2(secret);
        }
        None
    }

    fn v4(
        &self,
        secret: &str,
        credential: &str,
        signed: &str,
        amz_date: &str,
        skip: &[&str],
    ) -> Option<String> {
        let scope: Vec<&str> = credential.split_once('/')?.1.split('/').collect();
        if scope.len() != 4 || scope[3] != "aws4_request" {
            return None;
        }
        let headers: Vec<(String, String)> = signed
            .split(';')
            .map(|name| {
                let v = self
                    .header(name)
                    .or((name == "host").then_some(self.host.as_str()));
                v.map(|v| (name.to_string(), v.to_string()))
            })
            .collect::<Option<_>>()?;
        let query: Vec<(String, String)> = self
            .params
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let empty = sigv4::sha256_hex(b"");
        let payload = self
            .body_hash
            .as_deref()
            .or(self.header("x-amz-content-sha256"))
            .unwrap_or(&empty);
        let (canonical, _) =
            sigv4::canonical_request(&self.verb, &self.path, &query, &headers, payload);
        let sts = sigv4::string_to_sign(amz_date, &scope.join("/"), &canonical);
        Some(sigv4::signature(secret, scope[0], scope[1], scope[2], &sts))
    }

    /// SigV2: `verb\nhost\npath\nsorted-encoded-params`, HMAC-SHA256 or -SHA1.
    fn v2(&self, secret: &str) -> Option<String> {
        let query = self
            .params
            .iter()
            .filter(|(k, _)| k.as_str() != "Signature")
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    sigv4::uri_encode(k, false),
                    sigv4::uri_encode(v, false)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let msg = format!("{}\n{}\n{}\n{query}", self.verb, self.host, self.path);
        match self.params.get("SignatureMethod").map(String::as_str) {
            Some("HmacSHA1") => hmac_b64::<Hmac<sha1::Sha1>>(secret.as_bytes(), msg.as_bytes()),
            _ => hmac_b64::<Hmac<Sha256>>(secret.as_bytes(), msg.as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigv4_from_aws_documentation() {
        // AWS's "GET object" example (s3 sig-v4-header-based-auth).
        let sts = "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
                   7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972";
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_eq!(
            s3_signature(secret, sts.as_bytes()).unwrap(),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        let ec2_scope = "AWS4-HMAC-SHA256\nx\n20130524/us-east-1/ec2/aws4_request\ny";
        assert!(s3_signature(secret, ec2_scope.as_bytes()).is_none());
        assert!(s3_signature(secret, b"AWS4 nonsense").is_none());
    }

    #[test]
    fn sigv2_is_hmac_sha1_base64() {
        // AWS's SigV2 example (RESTAuthentication, GET object).
        let sts = "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg";
        assert_eq!(
            s3_signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", sts.as_bytes()).unwrap(),
            "bWq2s1WEIj+Ydj0vQ697zp+IXMU="
        );
    }

    fn request(headers: &[(&str, &str)], params: &[(&str, &str)]) -> Ec2Request {
        Ec2Request {
            access: "AKIDEXAMPLE".into(),
            signature: String::new(),
            host: "example.amazonaws.com".into(),
            verb: "GET".into(),
            path: "/".into(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body_hash: None,
        }
    }

    #[test]
    fn ec2_header_signature_matches_the_aws_test_suite() {
        // get-vanilla-query-order-key-case from AWS's SigV4 test suite.
        let auth =
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                    SignedHeaders=host;x-amz-date, Signature=x";
        let r = request(
            &[
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
                ("Authorization", auth),
            ],
            &[("Param2", "value2"), ("Param1", "value1")],
        );
        assert_eq!(
            r.expected_signature("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
                .unwrap(),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
    }

    #[test]
    fn ec2_query_signatures() {
        let q = request(
            &[],
            &[
                ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                (
                    "X-Amz-Credential",
                    "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request",
                ),
                ("X-Amz-Date", "20150830T123600Z"),
                ("X-Amz-SignedHeaders", "host"),
                ("X-Amz-Signature", "ignored"),
            ],
        );
        let a = q.expected_signature("secret").unwrap();
        let mut q2 = q;
        q2.params
            .insert("X-Amz-Signature".into(), "different".into());
        assert_eq!(
            q2.expected_signature("secret").unwrap(),
            a,
            "the signature is not signed"
        );
        assert_ne!(q2.expected_signature("other").unwrap(), a);
        let v2 = request(
            &[],
            &[
                ("SignatureVersion", "2"),
                ("Action", "DescribeInstances"),
                ("Signature", "x"),
            ],
        );
        let s = v2.expected_signature("secret").unwrap();
        assert_eq!(s.len(), 44, "base64 of a SHA-256 HMAC");
        assert!(request(&[], &[]).expected_signature("secret").is_none());
    }
}
