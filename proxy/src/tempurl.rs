//! TempURL, as Swift's middleware: an object URL carrying
//! `temp_url_sig` and `temp_url_expires` (a Unix time or ISO 8601) works
//! without a token until it expires, for the method it was signed for.
//! The signature is an HMAC (SHA-1, SHA-256 or SHA-512; hex, or
//! `<digest>:<base64>`) under one of the account's or the container's
//! `Temp-URL-Key`/`Temp-URL-Key-2` of `"<method>\n<expires>\n<path>"`,
//! with `temp_url_prefix` (`prefix:<path of the prefix>`) and
//! `temp_url_ip_range` (`ip=<range>\n…` first) variants. `filename` and
//! `inline` set the download's Content-Disposition.

use std::net::IpAddr;

use base64::Engine;
use hmac::{Hmac, Mac};
use http::{HeaderValue, Method, StatusCode};

use crate::errors::Response;
use crate::server::Proxy;

/// A TempURL's query, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempUrl {
    pub sig: String,
    pub expires: u64,
    pub prefix: Option<String>,
    pub ip_range: Option<String>,
    pub filename: Option<String>,
    pub inline: bool,
}

/// Swift's answer to a TempURL that does not check out.
pub fn invalid() -> Response {
    let mut r = crate::errors::explain(
        StatusCode::UNAUTHORIZED,
        "401 Unauthorized: Temp URL invalid\n",
    );
    r.headers_mut().insert(
        "www-authenticate",
        HeaderValue::from_static("Swift realm=\"unknown\""),
    );
    r
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

impl TempUrl {
    /// None when the query has no TempURL; Err when it has a broken one.
    pub fn parse(query: Option<&str>) -> Option<Result<TempUrl, Response>> {
        let pairs: Vec<(String, String)> = query?
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let (sig, expires) = (get("temp_url_sig"), get("temp_url_expires"));
        if sig.is_none() && expires.is_none() {
            return None;
        }
        let expires = expires.and_then(|e| {
            e.parse::<u64>()
                .ok()
                .or_else(|| stratus_common::timestamp::parse_iso8601(&e))
        });
        let (Some(sig), Some(expires)) = (sig, expires) else {
            return Some(Err(invalid()));
        };
        Some(Ok(TempUrl {
            sig,
            expires,
            prefix: get("temp_url_prefix"),
            ip_range: get("temp_url_ip_range"),
            filename: get("filename"),
            inline: pairs.iter().any(|(k, _)| k == "inline"),
        }))
    }

    /// The messages this URL may have signed for `method` on `path`.
    fn messages(&self, method: &Method, path: &str) -> Vec<String> {
        // HEAD may use a URL made for GET or PUT too, as in Swift.
        let methods: &[&str] = if method == Method::HEAD {
            &["HEAD", "GET", "PUT"]
        } else {
            &[method.as_str()]
        };
        let signed_path = match &self.prefix {
            Some(p) => {
                let container = path.len() - object_of(path).len();
                format!("prefix:{}{p}", &path[..container])
            }
            None => path.to_string(),
        };
        methods
            .iter()
            .map(|m| {
                let body = format!("{m}\n{}\n{signed_path}", self.expires);
                match &self.ip_range {
                    Some(ip) => format!("ip={ip}\n{body}"),
                    None => body,
                }
            })
            .collect()
    }

    /// Whether this URL lets `method` at `path` (`/v1/AUTH_a/c/o`, decoded)
    /// from `client` at `now`, under one of `keys`.
    pub fn allows(
        &self,
        method: &Method,
        path: &str,
        client: IpAddr,
        now: u64,
        keys: &[String],
    ) -> bool {
        if now >= self.expires || keys.is_empty() {
            return false;
        }
        if !matches!(method.as_str(), "GET" | "HEAD" | "PUT" | "POST" | "DELETE") {
            return false;
        }
        if self
            .prefix
            .as_ref()
            .is_some_and(|p| !object_of(path).starts_with(p.as_str()))
        {
            return false;
        }
        if let Some(range) = &self.ip_range {
            if !in_range(client, range) {
                return false;
            }
        }
        signature_matches(&self.sig, &self.messages(method, path), keys)
    }

    /// The Content-Disposition a GET through this URL answers with.
    pub fn disposition(&self, path: &str) -> String {
        let name = self.filename.clone().unwrap_or_else(|| {
            object_of(path)
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string()
        });
        let quoted = name.replace('"', "\\\"");
        let encoded =
            percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC);
        match (self.inline, &self.filename) {
            (true, None) => "inline".to_string(),
            (true, Some(_)) => format!("inline; filename=\"{quoted}\"; filename*=UTF-8''{encoded}"),
            (false, _) => format!("attachment; filename=\"{quoted}\"; filename*=UTF-8''{encoded}"),
        }
    }
}

/// A signature's digest and raw bytes: hex (its length tells SHA-1,
/// SHA-256 or SHA-512) or `<digest>:<base64>`.
fn parse_signature(sig: &str) -> Option<(Digest, Vec<u8>)> {
    if let Some((name, b64)) = sig.split_once(':') {
        let digest = match name {
            "sha1" => Digest::Sha1,
            "sha256" => Digest::Sha256,
            "sha512" => Digest::Sha512,
            _ => return None,
        };
        let b64 = b64
            .trim_end_matches('=')
            .replace('-', "+")
            .replace('_', "/");
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b64)
            .ok()?;
        return Some((digest, raw));
    }
    let digest = match sig.len() {
        40 => Digest::Sha1,
        64 => Digest::Sha256,
        128 => Digest::Sha512,
        _ => return None,
    };
    Some((digest, hex::decode(sig).ok()?))
}

/// Whether `sig` is the HMAC of one of `messages` under one of `keys`
/// (constant-time comparisons); TempURL and FormPost sign this way.
pub fn signature_matches(sig: &str, messages: &[String], keys: &[String]) -> bool {
    let Some((digest, sig)) = parse_signature(sig) else {
        return false;
    };
    messages.iter().any(|m| {
        keys.iter().any(|k| {
            let mac = digest.hmac(k.as_bytes(), m.as_bytes());
            stratus_common::http::constant_time_eq(&mac, &sig)
        })
    })
}

/// The object part of `/v1/<account>/<container>/<object>`.
fn object_of(path: &str) -> &str {
    path.splitn(5, '/').nth(4).unwrap_or_default()
}

#[derive(Debug, Clone, Copy)]
enum Digest {
    Sha1,
    Sha256,
    Sha512,
}

impl Digest {
    fn hmac(self, key: &[u8], msg: &[u8]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
            // HMAC takes keys of any length.
            let mut m = <M as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
        match self {
            Digest::Sha1 => run::<Hmac<sha1::Sha1>>(key, msg),
            Digest::Sha256 => run::<Hmac<sha2::Sha256>>(key, msg),
            Digest::Sha512 => run::<Hmac<sha2::Sha512>>(key, msg),
        }
    }
}

/// `client` is the address or within the CIDR range.
fn in_range(client: IpAddr, range: &str) -> bool {
    let (net, bits) = match range.split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (range, None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    let client = match (client, net) {
        (IpAddr::V6(c), IpAddr::V4(_)) => c.to_ipv4_mapped().map_or(client, IpAddr::V4),
        _ => client,
    };
    match (client, net) {
        (IpAddr::V4(c), IpAddr::V4(n)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(c) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(c), IpAddr::V6(n)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(c) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The keys that may sign URLs into `account`/`container`.
pub async fn keys(proxy: &Proxy, account: &str, container: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let names = ["temp-url-key", "temp-url-key-2"];
    let acct = crate::db::account_info(proxy, account).await;
    keys.extend(names.iter().filter_map(|n| acct.meta.get(*n).cloned()));
    if let Some(c) = crate::db::container_info(proxy, account, container).await {
        keys.extend(names.iter().filter_map(|n| c.meta.get(*n).cloned()));
    }
    keys.retain(|k| !k.is_empty());
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PATH: &str = "/v1/AUTH_a/c/dir/o.txt";

    fn sign(digest: Digest, key: &str, msg: &str) -> String {
        hex::encode(digest.hmac(key.as_bytes(), msg.as_bytes()))
    }

    fn url(sig: String, expires: u64, extra: &str) -> TempUrl {
        TempUrl::parse(Some(&format!(
            "temp_url_sig={sig}&temp_url_expires={expires}{extra}"
        )))
        .unwrap()
        .unwrap()
    }

    #[test]
    fn signatures_of_each_digest_and_form() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let keys = vec!["k1".to_string()];
        for d in [Digest::Sha1, Digest::Sha256, Digest::Sha512] {
            let sig = sign(d, "k1", &format!("GET\n2000\n{PATH}"));
            let u = url(sig.clone(), 2000, "");
            assert!(u.allows(&Method::GET, PATH, local, 1000, &keys), "{d:?}");
            assert!(u.allows(&Method::HEAD, PATH, local, 1000, &keys));
            assert!(!u.allows(&Method::PUT, PATH, local, 1000, &keys));
            assert!(!u.allows(&Method::GET, PATH, local, 2000, &keys), "expired");
            assert!(!u.allows(&Method::GET, "/v1/AUTH_a/c/other", local, 1000, &keys));
            assert!(!u.allows(&Method::GET, PATH, local, 1000, &["k2".into()]));
            let mut bad = sig.into_bytes();
            bad[0] = if bad[0] == b'0' { b'1' } else { b'0' };
            let forged = url(String::from_utf8(bad).unwrap(), 2000, "");
            assert!(!forged.allows(&Method::GET, PATH, local, 1000, &keys));
        }
        let raw = Digest::Sha512.hmac(b"k1", format!("GET\n2000\n{PATH}").as_bytes());
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let u = url(format!("sha512:{b64}"), 2000, "");
        assert!(u.allows(&Method::GET, PATH, local, 1000, &keys));
    }

    #[test]
    fn prefixes_ip_ranges_and_expiry_forms() {
        let keys = vec!["k".to_string()];
        let sig = sign(Digest::Sha256, "k", "GET\n2000\nprefix:/v1/AUTH_a/c/dir/");
        let u = url(sig, 2000, "&temp_url_prefix=dir/");
        let local: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(u.allows(&Method::GET, PATH, local, 1000, &keys));
        assert!(u.allows(&Method::GET, "/v1/AUTH_a/c/dir/x/y", local, 1000, &keys));
        assert!(!u.allows(&Method::GET, "/v1/AUTH_a/c/other", local, 1000, &keys));
        let sig = sign(
            Digest::Sha256,
            "k",
            &format!("ip=10.1.0.0/16\nGET\n2000\n{PATH}"),
        );
        let u = url(sig, 2000, "&temp_url_ip_range=10.1.0.0/16");
        assert!(u.allows(&Method::GET, PATH, local, 1000, &keys));
        assert!(!u.allows(&Method::GET, PATH, "10.2.0.1".parse().unwrap(), 1000, &keys));
        let iso = TempUrl::parse(Some(
            "temp_url_sig=ab&temp_url_expires=2026-11-23T12:00:00Z",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(iso.expires, 1_795_435_200);
        assert!(TempUrl::parse(Some("temp_url_sig=ab")).unwrap().is_err());
        assert!(
            TempUrl::parse(Some("temp_url_sig=ab&temp_url_expires=soon"))
                .unwrap()
                .is_err()
        );
        assert!(TempUrl::parse(Some("format=json")).is_none());
    }

    #[test]
    fn dispositions() {
        let u = url("ab".into(), 1, "");
        assert_eq!(
            u.disposition(PATH),
            "attachment; filename=\"o.txt\"; filename*=UTF-8''o%2Etxt"
        );
        let u = url("ab".into(), 1, "&inline");
        assert_eq!(u.disposition(PATH), "inline");
        let u = url("ab".into(), 1, "&filename=my%20file.txt");
        assert!(u
            .disposition(PATH)
            .starts_with("attachment; filename=\"my file.txt\""));
        assert!(in_range("::ffff:10.0.0.1".parse().unwrap(), "10.0.0.0/8"));
        assert!(!in_range("10.0.0.1".parse().unwrap(), "garbage"));
    }

    proptest! {
        #[test]
        fn any_query_is_answered(q in "\\PC{0,200}", m in 0usize..3) {
            let method = [Method::GET, Method::PUT, Method::HEAD][m].clone();
            if let Some(Ok(u)) = TempUrl::parse(Some(&q)) {
                let _ = u.allows(&method, PATH, "127.0.0.1".parse().unwrap(), 0, &["k".into()]);
                let _ = u.disposition(PATH);
            }
        }
    }
}
