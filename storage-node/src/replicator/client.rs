//! The replicators' side of the backend protocol: JSON requests to other
//! nodes and object pushes, over keep-alive connections.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use serde::de::DeserializeOwned;
use stratus_common::http::{self as http_util, ConnPool};

use crate::http::Body;

/// Longest reply a replicator reads (suffix listings of a big partition).
const MAX_REPLY: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("cannot reach {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("{0} timed out")]
    Timeout(String),
    #[error("{0} answered {1}")]
    Status(String, u16),
    #[error("bad reply from {0}: {1}")]
    Reply(String, String),
}

fn pool() -> &'static ConnPool<Body> {
    static POOL: std::sync::OnceLock<ConnPool<Body>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| ConnPool::new(16))
}

/// What a request carries: bytes at hand (sent over a pooled connection,
/// and sent again on a fresh one if the pooled one turns out closed), or a
/// stream (over a connection of its own).
#[derive(Debug)]
pub enum Payload {
    Bytes(Bytes),
    Stream(Body),
}

/// A backend request; returns the status and body of the answer.
pub async fn call(
    host: &str,
    method: &str,
    uri: &str,
    headers: &[(String, String)],
    payload: Payload,
    timeout: Duration,
) -> Result<(u16, Bytes), CallError> {
    let attempt = async {
        match payload {
            Payload::Bytes(b) => {
                if let Some(conn) = pool().take(host) {
                    let body = Body::full(b.clone());
                    // A peer may have closed it (after refusing a body
                    // early, say): then once more on a new connection.
                    if let Ok(answer) = send(conn, host, method, uri, headers, body, true).await {
                        return Ok(answer);
                    }
                }
                let conn = connect(host, timeout).await?;
                send(conn, host, method, uri, headers, Body::full(b), true).await
            }
            Payload::Stream(body) => {
                let conn = connect(host, timeout).await?;
                send(conn, host, method, uri, headers, body, false).await
            }
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| CallError::Timeout(format!("{method} {host}{uri}")))?
}

async fn connect(host: &str, timeout: Duration) -> Result<SendRequest<Body>, CallError> {
    http_util::connect(host, timeout)
        .await
        .map_err(|e| CallError::Connect(host.to_string(), e))
}

async fn send(
    mut conn: SendRequest<Body>,
    host: &str,
    method: &str,
    uri: &str,
    headers: &[(String, String)],
    body: Body,
    reuse: bool,
) -> Result<(u16, Bytes), CallError> {
    let mut req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", host);
    for (n, v) in headers {
        req = req.header(n.as_str(), v.as_str());
    }
    let req = req
        .body(body)
        .map_err(|e| CallError::Reply(host.to_string(), e.to_string()))?;
    let resp = conn
        .send_request(req)
        .await
        .map_err(|e| CallError::Connect(host.to_string(), std::io::Error::other(e)))?;
    let status = resp.status().as_u16();
    let data = http_body_util::Limited::new(resp.into_body(), MAX_REPLY)
        .collect()
        .await
        .map_err(|e| CallError::Reply(host.to_string(), e.to_string()))?
        .to_bytes();
    if reuse {
        pool().put(host, conn);
    }
    Ok((status, data))
}

/// A `REPLICATE` call whose 2xx answer is JSON.
pub async fn replicate<T: DeserializeOwned>(
    host: &str,
    uri: &str,
    body: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<(T, usize), CallError> {
    let body = Bytes::from(body.unwrap_or_default());
    let sent = body.len();
    let (status, data) = call(host, "REPLICATE", uri, &[], Payload::Bytes(body), timeout).await?;
    if !(200..300).contains(&status) {
        return Err(CallError::Status(format!("REPLICATE {host}{uri}"), status));
    }
    let value = serde_json::from_slice(&data)
        .map_err(|e| CallError::Reply(host.to_string(), e.to_string()))?;
    Ok((value, sent + data.len()))
}
