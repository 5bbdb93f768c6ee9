//! Talking to storage nodes: which nodes hold a path (rings), requests with
//! connect and response timeouts, and error limiting (a node that keeps
//! failing is skipped for a while).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use stratus_common::body::Body;
use stratus_common::http::{self as http_util, ConnPool};
use stratus_common::ring_file::{RingFileError, RingHandle};
use stratus_ring::Path as RingPath;

use crate::config::ProxyConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Account,
    Container,
    Object,
}

/// One device on one storage node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `ip:port` (IPv6 in brackets).
    pub addr: String,
    pub device: String,
}

/// Where a path lives: its partition, primaries, then handoffs to try.
#[derive(Debug, Clone)]
pub struct Placement {
    pub partition: u32,
    pub primaries: Vec<Node>,
    pub handoffs: Vec<Node>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("connect to {0} timed out")]
    ConnectTimeout(String),
    #[error("{0} did not answer in time")]
    Timeout(String),
    #[error("{addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr}: {source}")]
    Http { addr: String, source: hyper::Error },
    #[error("bad request to {0}")]
    Request(String),
}

#[derive(Debug)]
pub struct Backend {
    account: Arc<RingHandle>,
    container: Arc<RingHandle>,
    object: Arc<RingHandle>,
    conn_timeout: Duration,
    pub node_timeout: Duration,
    errors: ErrorLimiter,
    /// Idle keep-alive connections per node, reused by the next request.
    idle: ConnPool<Body>,
}

/// Counts errors per node; a node with `limit` errors is skipped until
/// `suppression` has passed since its last one.
#[derive(Debug)]
pub struct ErrorLimiter {
    limit: u32,
    suppression: Duration,
    errors: Mutex<HashMap<String, (u32, Instant)>>,
}

impl ErrorLimiter {
    pub fn new(limit: u32, suppression: Duration) -> ErrorLimiter {
        ErrorLimiter {
            limit,
            suppression,
            errors: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_limited(&self, addr: &str) -> bool {
        let Ok(mut errors) = self.errors.lock() else {
            return false;
        };
        match errors.get(addr) {
            Some((_, last)) if last.elapsed() > self.suppression => {
                errors.remove(addr);
                false
            }
            Some((n, _)) => *n >= self.limit,
            None => false,
        }
    }

    /// Counts one error; true when this one puts the node over the limit.
    pub fn record(&self, addr: &str) -> bool {
        let Ok(mut errors) = self.errors.lock() else {
            return false;
        };
        let e = errors
            .entry(addr.to_string())
            .or_insert((0, Instant::now()));
        e.0 += 1;
        e.1 = Instant::now();
        e.0 == self.limit
    }
}

/// Idle connections kept per node.
const IDLE_PER_NODE: usize = 64;

pub use stratus_common::http::encode_path;

fn node_of(d: &stratus_ring::Device) -> Node {
    let addr = if d.ip.contains(':') {
        format!("[{}]:{}", d.ip, d.port)
    } else {
        format!("{}:{}", d.ip, d.port)
    };
    Node {
        addr,
        device: d.device.clone(),
    }
}

impl Backend {
    /// Loads the three rings from `config.rings` and watches them.
    pub fn new(config: &ProxyConfig) -> Result<Backend, RingFileError> {
        let open = |name: &str| -> Result<Arc<RingHandle>, RingFileError> {
            let h = Arc::new(RingHandle::open(
                Path::new(&config.rings).join(format!("{name}.ring")),
            )?);
            h.watch(Duration::from_secs(5));
            Ok(h)
        };
        Ok(Backend {
            account: open("account")?,
            container: open("container")?,
            object: open("object")?,
            conn_timeout: Duration::from_millis(config.conn_timeout_ms),
            node_timeout: Duration::from_millis(config.node_timeout_ms),
            errors: ErrorLimiter::new(
                config.error_limit,
                Duration::from_secs(config.error_suppression_secs),
            ),
            idle: ConnPool::new(IDLE_PER_NODE),
        })
    }

    /// The nodes for a path; handoffs are limited to as many as primaries.
    pub fn place(&self, kind: Kind, path: RingPath<'_>) -> Placement {
        let ring = match kind {
            Kind::Account => self.account.current(),
            Kind::Container => self.container.current(),
            Kind::Object => self.object.current(),
        };
        let (partition, primaries) = ring.get_nodes(path);
        let primaries: Vec<Node> = primaries.map(node_of).collect();
        let handoffs = ring
            .handoffs(partition)
            .take(primaries.len().max(1))
            .map(node_of)
            .collect();
        Placement {
            partition,
            primaries,
            handoffs,
        }
    }

    pub fn replicas(&self, kind: Kind) -> usize {
        let ring = match kind {
            Kind::Account => self.account.current(),
            Kind::Container => self.container.current(),
            Kind::Object => self.object.current(),
        };
        ring.replicas().ceil() as usize
    }

    /// Whether a node has failed often enough lately to be skipped.
    pub fn is_limited(&self, node: &Node) -> bool {
        self.errors.is_limited(&node.addr)
    }

    pub fn record_error(&self, node: &Node, why: &dyn std::fmt::Display) {
        if self.errors.record(&node.addr) {
            tracing::warn!(node = %node.addr, error = %why, "error limiting node");
        }
    }

    /// A connection to a node: an idle keep-alive one, else a new one
    /// (connect timeout applies).
    pub async fn connect(&self, node: &Node) -> Result<Sender, BackendError> {
        let inner = match self.idle.take(&node.addr) {
            Some(inner) => inner,
            None => http_util::connect(&node.addr, self.conn_timeout)
                .await
                .map_err(|source| {
                    if source.kind() == std::io::ErrorKind::TimedOut {
                        BackendError::ConnectTimeout(node.addr.clone())
                    } else {
                        BackendError::Io {
                            addr: node.addr.clone(),
                            source,
                        }
                    }
                })?,
        };
        Ok(Sender {
            inner,
            node: node.clone(),
        })
    }

    /// Sends a request on an open connection: `/<device>/<partition><path>`;
    /// waits for the response head at most `node_timeout`.
    pub async fn send(
        &self,
        conn: Sender,
        call: Call<'_>,
        body: Body,
    ) -> Result<http::Response<Incoming>, BackendError> {
        self.send_inner(conn, call, body, false).await
    }

    /// Like [`Backend::send`] for an upload whose body streams: no limit
    /// on the wait for the answer, which comes after the body.
    pub async fn send_upload(
        &self,
        conn: Sender,
        call: Call<'_>,
        body: Body,
    ) -> Result<http::Response<Incoming>, BackendError> {
        self.send_inner(conn, call, body, true).await
    }

    async fn send_inner(
        &self,
        mut conn: Sender,
        call: Call<'_>,
        body: Body,
        streaming: bool,
    ) -> Result<http::Response<Incoming>, BackendError> {
        let Call {
            method,
            partition,
            path,
            query,
            headers,
        } = call;
        let addr = conn.node.addr.clone();
        let mut uri = format!(
            "/{}/{partition}{}",
            encode_path(&conn.node.device),
            encode_path(path)
        );
        if let Some(q) = query {
            uri.push('?');
            uri.push_str(q);
        }
        let mut req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", &addr);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let req = req
            .body(body)
            .map_err(|_| BackendError::Request(addr.clone()))?;
        let head_only = req.method() == http::Method::HEAD;
        // An upload's answer comes after its whole body: its caller bounds
        // the wait once the body is sent; everything else gets node_timeout.
        let sent = conn.inner.send_request(req);
        let resp = if streaming {
            sent.await
        } else {
            tokio::time::timeout(self.node_timeout, sent)
                .await
                .map_err(|_| BackendError::Timeout(addr.clone()))?
        }
        .map_err(|source| BackendError::Http { addr, source })?;
        // A response without a body leaves the connection ready for reuse;
        // one with a body is read by the caller, so its connection goes.
        if http_util::is_bodiless(&resp, head_only) {
            self.idle.put(&conn.node.addr, conn.inner);
        }
        Ok(resp)
    }

    /// Connects and sends in one go.
    pub async fn request(
        &self,
        node: &Node,
        call: Call<'_>,
        body: Body,
    ) -> Result<http::Response<Incoming>, BackendError> {
        let conn = self.connect(node).await?;
        self.send(conn, call, body).await
    }
}

/// What to ask a node: `/<device>/<partition><path>[?query]`.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    pub method: http::Method,
    pub partition: u32,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a http::HeaderMap,
}

/// An open connection to one node.
#[derive(Debug)]
pub struct Sender {
    inner: hyper::client::conn::http1::SendRequest<Body>,
    pub node: Node,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_skipped_after_limit_errors_until_suppression_passes() {
        let l = ErrorLimiter::new(3, Duration::from_millis(50));
        assert!(!l.record("a") && !l.record("a"));
        assert!(!l.is_limited("a"));
        assert!(l.record("a"));
        assert!(l.is_limited("a") && !l.is_limited("b"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!l.is_limited("a"), "suppression over");
        assert!(!l.record("a"), "the count starts again");
    }
}
