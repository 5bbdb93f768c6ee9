//! HTTP plumbing every Stratus server and its clients share: the accept
//! loop, names in URL paths, and a pool of keep-alive client connections.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use crate::body::Body;

/// The largest request head a server reads; longer ones get 431.
const MAX_HEAD: usize = 64 * 1024;

/// Accepts connections on `listener` forever and answers every request with
/// `handler(request, peer)`. Sockets get TCP_NODELAY; a failing accept
/// (EMFILE and friends) backs off instead of spinning.
pub async fn serve<F, Fut>(listener: TcpListener, handler: F) -> std::io::Result<()>
where
    F: Fn(http::Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = http::Response<Body>> + Send + 'static,
{
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler(req, peer).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
}

/// `/a/c/o` → a URL path: percent-encoded except `/` and unreserved bytes.
pub fn encode_path(p: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(p, SET).to_string()
}

/// A percent-decoded path segment; None if it is not UTF-8 or holds NUL
/// (Swift answers both with 412).
pub fn decode_name(s: &str) -> Option<String> {
    let d = percent_encoding::percent_decode_str(s).decode_utf8().ok()?;
    (!d.contains('\0')).then(|| d.into_owned())
}

/// Text made safe for XML content and attributes (control characters as
/// character references, as S3 and Swift listings show them).
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                o.push_str(&format!("&#x{:X};", c as u32))
            }
            c => o.push(c),
        }
    }
    o
}

/// Compares secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Opens an HTTP/1.1 client connection to `addr` within `timeout`.
pub async fn connect<B>(addr: &str, timeout: Duration) -> std::io::Result<SendRequest<B>>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("connect to {addr} timed out"),
            )
        })??;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Idle keep-alive client connections per host, for the next request.
#[derive(Debug)]
pub struct ConnPool<B> {
    idle: Mutex<HashMap<String, Vec<SendRequest<B>>>>,
    per_host: usize,
}

impl<B> ConnPool<B> {
    pub fn new(per_host: usize) -> ConnPool<B> {
        ConnPool {
            idle: Mutex::new(HashMap::new()),
            per_host,
        }
    }

    /// An idle connection to `host` that is ready for a request.
    pub fn take(&self, host: &str) -> Option<SendRequest<B>> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(host)?;
        while let Some(s) = list.pop() {
            if s.is_ready() {
                return Some(s);
            }
        }
        None
    }

    /// Keeps a connection whose last response had no body to read.
    pub fn put(&self, host: &str, s: SendRequest<B>) {
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(host.to_string()).or_default();
            if list.len() < self.per_host {
                list.push(s);
            }
        }
    }
}

/// Whether a response leaves nothing to read, so its connection can be
/// reused without draining it.
pub fn is_bodiless<T>(resp: &http::Response<T>, head_request: bool) -> bool {
    head_request
        || matches!(resp.status().as_u16(), 204 | 304)
        || resp
            .headers()
            .get("content-length")
            .is_some_and(|v| v == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn names_round_trip() {
        let p = "/a/c/d e%/é";
        assert_eq!(encode_path(p), "/a/c/d%20e%25/%C3%A9");
        assert_eq!(decode_name("d%20e%25").as_deref(), Some("d e%"));
        assert_eq!(decode_name("%FF"), None);
        assert_eq!(decode_name("a%00"), None);
    }
}
