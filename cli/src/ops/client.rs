//! A small HTTP client for the operator commands.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// An answer: status, headers and the whole (small) body.
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One request to `host` (`ip:port`).
pub async fn call(
    host: &str,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Bytes,
    timeout: Duration,
) -> Result<Answer, String> {
    let attempt = async {
        let mut sender = stratus_common::http::connect::<Full<Bytes>>(host, timeout)
            .await
            .map_err(|e| format!("{host}: {e}"))?;
        let mut req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", host);
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("{host}: {e}"))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("{host}: {e}"))?
            .to_bytes();
        Ok(Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| format!("{method} {host}{uri} timed out"))?
}

/// Splits `http://host:port/path` into (`host:port`, `/path`).
pub fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    Ok((host.to_string(), format!("/{path}")))
}
