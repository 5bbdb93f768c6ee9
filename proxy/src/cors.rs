//! CORS as Swift does it: a container opts in with
//! `X-Container-Meta-Access-Control-Allow-Origin` (space-separated origins
//! or `*`), `-Max-Age` and `-Expose-Headers`; preflight `OPTIONS` needs no
//! token; answers to allowed origins carry the CORS headers.

use http::{HeaderMap, HeaderValue, StatusCode};

use crate::db::ContainerInfo;
use crate::errors::{empty, error, Response};

/// Headers every CORS answer exposes, as Swift's default list.
const EXPOSED: &str = "cache-control, content-language, content-type, expires, last-modified, pragma, etag, x-timestamp, x-trans-id, x-openstack-request-id";
const METHODS: &str = "HEAD, GET, PUT, POST, COPY, OPTIONS, DELETE";

pub fn origin_allowed(info: &ContainerInfo, origin: &str) -> bool {
    info.cors_origins
        .as_deref()
        .is_some_and(|list| list.split_whitespace().any(|o| o == "*" || o == origin))
}

fn set(h: &mut HeaderMap, n: &'static str, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(n, v);
    }
}

/// The answer to `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`: 200 with the grants, or 401.
pub fn preflight(info: Option<&ContainerInfo>, req: &HeaderMap) -> Response {
    let get = |n: &str| req.get(n).and_then(|v| v.to_str().ok());
    let (Some(origin), Some(method)) = (get("origin"), get("access-control-request-method")) else {
        // A plain OPTIONS: what the endpoint allows.
        let mut r = empty(StatusCode::OK);
        set(r.headers_mut(), "allow", METHODS);
        return r;
    };
    let Some(info) = info.filter(|i| origin_allowed(i, origin)) else {
        return error(StatusCode::UNAUTHORIZED);
    };
    if !METHODS.split(", ").any(|m| m == method) {
        return error(StatusCode::UNAUTHORIZED);
    }
    let mut r = empty(StatusCode::OK);
    let h = r.headers_mut();
    set(h, "access-control-allow-origin", origin);
    set(h, "access-control-allow-methods", METHODS);
    if let Some(age) = &info.cors_max_age {
        set(h, "access-control-max-age", age);
    }
    if let Some(asked) = get("access-control-request-headers") {
        set(h, "access-control-allow-headers", asked);
    }
    r
}

/// Adds the CORS headers to an answer for an allowed origin.
pub fn decorate(r: &mut Response, info: &ContainerInfo, origin: &str) {
    if !origin_allowed(info, origin) {
        return;
    }
    let h = r.headers_mut();
    set(h, "access-control-allow-origin", origin);
    let expose = match &info.cors_expose {
        Some(extra) => format!("{EXPOSED}, {extra}"),
        None => EXPOSED.to_string(),
    };
    set(h, "access-control-expose-headers", &expose);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(origins: &str) -> ContainerInfo {
        ContainerInfo {
            cors_origins: Some(origins.into()),
            cors_max_age: Some("600".into()),
            ..Default::default()
        }
    }

    #[test]
    fn preflight_grants_listed_origins_only() {
        let mut h = HeaderMap::new();
        h.insert("origin", "http://a.example".parse().unwrap());
        h.insert("access-control-request-method", "PUT".parse().unwrap());
        let r = preflight(Some(&info("http://a.example http://b.example")), &h);
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["access-control-allow-origin"],
            "http://a.example"
        );
        assert_eq!(r.headers()["access-control-max-age"], "600");
        assert_eq!(preflight(Some(&info("http://b.example")), &h).status(), 401);
        assert_eq!(preflight(None, &h).status(), 401);
        assert_eq!(preflight(Some(&info("*")), &h).status(), 200);
        h.insert("access-control-request-method", "TRACE".parse().unwrap());
        assert_eq!(preflight(Some(&info("*")), &h).status(), 401);
    }
}
