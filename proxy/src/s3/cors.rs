//! Bucket CORS as S3 does it: a `CORSConfiguration` of rules (origins
//! with at most one `*`, methods, allowed and exposed headers, max age),
//! kept as JSON in the bucket's container sysmeta; browsers' preflight
//! `OPTIONS` (anonymous) and actual requests are answered from the first
//! rule that matches.

use http::{HeaderMap, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use stratus_common::body::Body;

use super::errors::{xml_escape, S3Error};
use super::xml;

/// Container sysmeta name (after `x-container-sysmeta-`).
pub const SYSMETA: &str = "s3-cors";
const MAX_RULES: usize = 100;
/// The stored form must fit in one backend header.
const MAX_STORED: usize = 16 * 1024;
const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    #[serde(default)]
    pub headers: Vec<String>,
    #[serde(default)]
    pub expose: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
}

/// `*` matches any run of characters, once at most (as S3 allows).
fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(s),
        Some((pre, post)) => {
            s.len() >= pre.len() + post.len()
                && s.get(..pre.len())
                    .is_some_and(|h| h.eq_ignore_ascii_case(pre))
                && s.get(s.len() - post.len()..)
                    .is_some_and(|t| t.eq_ignore_ascii_case(post))
        }
    }
}

impl Rule {
    fn allows(&self, origin: &str, method: &str, headers: &[&str]) -> bool {
        self.origins.iter().any(|o| glob(o, origin))
            && self.methods.iter().any(|m| m == method)
            && headers
                .iter()
                .all(|h| self.headers.iter().any(|p| glob(p, h)))
    }
}

fn invalid(message: &str) -> S3Error {
    S3Error::new("InvalidRequest", message.to_string())
}

/// A `CORSConfiguration` request body, checked.
pub fn from_xml(body: &[u8]) -> Result<Vec<Rule>, S3Error> {
    let inside = xml::root(body, "CORSConfiguration")?;
    let rules = xml::elements(inside, "CORSRule", MAX_RULES)?;
    if rules.is_empty() {
        return Err(xml::malformed());
    }
    let all = |r: &str, tag: &str| -> Result<Vec<String>, S3Error> {
        xml::elements(r, tag, 100)?
            .into_iter()
            .map(|e| xml::unescape(e.trim()).ok_or_else(xml::malformed))
            .collect()
    };
    let mut out = Vec::new();
    for r in rules {
        let rule = Rule {
            id: xml::text(r, "ID"),
            origins: all(r, "AllowedOrigin")?,
            methods: all(r, "AllowedMethod")?,
            headers: all(r, "AllowedHeader")?,
            expose: all(r, "ExposeHeader")?,
            max_age: match xml::text(r, "MaxAgeSeconds") {
                Some(s) => Some(s.trim().parse().map_err(|_| xml::malformed())?),
                None => None,
            },
        };
        if rule.origins.is_empty() || rule.methods.is_empty() {
            return Err(xml::malformed());
        }
        if let Some(m) = rule.methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(invalid(&format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            )));
        }
        if rule.origins.iter().any(|o| o.matches('*').count() > 1) {
            return Err(invalid(&format!(
                "AllowedOrigin can not have more than one wildcard: {}",
                rule.origins.join(", ")
            )));
        }
        if rule.headers.iter().any(|h| h.matches('*').count() > 1) {
            return Err(invalid(
                "AllowedHeader can not have more than one wildcard.",
            ));
        }
        out.push(rule);
    }
    Ok(out)
}

/// The stored form.
pub fn encode(rules: &[Rule]) -> Result<String, S3Error> {
    let s = serde_json::to_string(rules).map_err(|_| xml::malformed())?;
    if s.len() > MAX_STORED {
        return Err(S3Error::new(
            "EntityTooLarge",
            "The CORS configuration is too large.",
        ));
    }
    Ok(s)
}

pub fn decode(s: &str) -> Vec<Rule> {
    serde_json::from_str(s).unwrap_or_default()
}

/// The `CORSConfiguration` answer.
pub fn to_xml(rules: &[Rule]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CORSConfiguration xmlns=\"{}\">",
        super::bucket::XMLNS
    );
    for r in rules {
        out.push_str("<CORSRule>");
        if let Some(id) = &r.id {
            out.push_str(&format!("<ID>{}</ID>", xml_escape(id)));
        }
        for (tag, list) in [
            ("AllowedHeader", &r.headers),
            ("AllowedMethod", &r.methods),
            ("AllowedOrigin", &r.origins),
            ("ExposeHeader", &r.expose),
        ] {
            for v in list {
                out.push_str(&format!("<{tag}>{}</{tag}>", xml_escape(v)));
            }
        }
        if let Some(age) = r.max_age {
            out.push_str(&format!("<MaxAgeSeconds>{age}</MaxAgeSeconds>"));
        }
        out.push_str("</CORSRule>");
    }
    out.push_str("</CORSConfiguration>");
    out
}

fn set(h: &mut HeaderMap, n: &'static str, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(n, v);
    }
}

/// Adds what the rule grants `origin` to an answer.
fn grant(h: &mut HeaderMap, rule: &Rule, origin: &str) {
    if rule.origins.iter().any(|o| o == "*") {
        set(h, "access-control-allow-origin", "*");
    } else {
        set(h, "access-control-allow-origin", origin);
        set(h, "access-control-allow-credentials", "true");
    }
    set(h, "access-control-allow-methods", &rule.methods.join(", "));
    if !rule.expose.is_empty() {
        set(h, "access-control-expose-headers", &rule.expose.join(", "));
    }
    if let Some(age) = rule.max_age {
        set(h, "access-control-max-age", &age.to_string());
    }
    set(
        h,
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    );
}

/// A browser's preflight `OPTIONS` against the bucket's rules.
pub fn preflight(rules: &[Rule], req: &HeaderMap) -> Result<http::Response<Body>, S3Error> {
    let get = |n: &str| req.get(n).and_then(|v| v.to_str().ok());
    let origin = get("origin").ok_or_else(|| {
        S3Error::new(
            "BadRequest",
            "Insufficient information. Origin request header needed.",
        )
    })?;
    let method = get("access-control-request-method")
        .ok_or_else(|| S3Error::new("BadRequest", "Invalid Access-Control-Request-Method: null"))?;
    let asked = get("access-control-request-headers").unwrap_or_default();
    let headers: Vec<&str> = asked
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let rule = rules
        .iter()
        .find(|r| r.allows(origin, method, &headers))
        .ok_or_else(|| {
            S3Error::new(
                "AccessForbidden",
                "CORSResponse: This CORS request is not allowed. This is usually because the \
                 evalution of Origin, request method / Access-Control-Request-Method or \
                 Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
            )
        })?;
    let mut r = http::Response::new(Body::empty());
    *r.status_mut() = StatusCode::OK;
    grant(r.headers_mut(), rule, origin);
    if !asked.is_empty() {
        set(r.headers_mut(), "access-control-allow-headers", asked);
    }
    Ok(r)
}

/// CORS headers on an actual request's answer, when a rule allows it.
pub fn decorate(rules: &[Rule], origin: &str, method: &str, resp: &mut http::Response<Body>) {
    if let Some(rule) = rules.iter().find(|r| r.allows(origin, method, &[])) {
        grant(resp.headers_mut(), rule, origin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CONFIG: &[u8] = b"<CORSConfiguration><CORSRule><ID>web</ID>\
        <AllowedOrigin>https://*.example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>\
        <AllowedMethod>PUT</AllowedMethod><AllowedHeader>x-amz-*</AllowedHeader>\
        <AllowedHeader>content-type</AllowedHeader><ExposeHeader>ETag</ExposeHeader>\
        <MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>\
        <CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>HEAD</AllowedMethod></CORSRule>\
        </CORSConfiguration>";

    fn preflight_of(origin: &str, method: &str, headers: &str) -> Result<HeaderMap, String> {
        let rules = from_xml(CONFIG).unwrap();
        let mut h = HeaderMap::new();
        h.insert("origin", origin.parse().unwrap());
        h.insert("access-control-request-method", method.parse().unwrap());
        if !headers.is_empty() {
            h.insert("access-control-request-headers", headers.parse().unwrap());
        }
        preflight(&rules, &h)
            .map(|r| r.headers().clone())
            .map_err(|e| e.code.to_string())
    }

    #[test]
    fn rules_parse_store_and_render() {
        let rules = from_xml(CONFIG).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].max_age, Some(3000));
        assert_eq!(decode(&encode(&rules).unwrap()), rules);
        assert_eq!(from_xml(to_xml(&rules).as_bytes()).unwrap(), rules);
        let bad = b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>\
            <AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>";
        assert_eq!(from_xml(bad).unwrap_err().code, "InvalidRequest");
        let two = b"<CORSConfiguration><CORSRule><AllowedOrigin>*.*</AllowedOrigin>\
            <AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>";
        assert_eq!(from_xml(two).unwrap_err().code, "InvalidRequest");
        assert_eq!(
            from_xml(b"<CORSConfiguration></CORSConfiguration>")
                .unwrap_err()
                .code,
            "MalformedXML"
        );
    }

    #[test]
    fn preflight_matches_origin_method_and_headers() {
        let h = preflight_of("https://app.example.com", "PUT", "x-amz-date, Content-Type").unwrap();
        assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
        assert_eq!(h["access-control-allow-methods"], "GET, PUT");
        assert_eq!(
            h["access-control-allow-headers"],
            "x-amz-date, Content-Type"
        );
        assert_eq!(h["access-control-expose-headers"], "ETag");
        assert_eq!(h["access-control-max-age"], "3000");
        assert_eq!(
            preflight_of("https://evil.com", "PUT", "").unwrap_err(),
            "AccessForbidden"
        );
        assert_eq!(
            preflight_of("https://app.example.com", "DELETE", "").unwrap_err(),
            "AccessForbidden"
        );
        assert_eq!(
            preflight_of("https://app.example.com", "GET", "authorization").unwrap_err(),
            "AccessForbidden"
        );
        // The wildcard rule: any origin, HEAD only, answered with `*`.
        let h = preflight_of("http://other.org", "HEAD", "").unwrap();
        assert_eq!(h["access-control-allow-origin"], "*");
    }

    proptest! {
        #[test]
        fn garbage_never_panics(s in "\\PC{0,300}", o in "\\PC{0,30}", p in "\\PC{0,10}") {
            let _ = from_xml(s.as_bytes());
            let _ = glob(&p, &o);
        }
    }
}
