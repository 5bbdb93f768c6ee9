//! The node's internal HTTP API, shaped like Swift's backend servers:
//! `/<device>/<partition>/<account>[/<container>[/<object>]]`.
//!
//! Requests are parsed into a typed [`Target`] here; the handlers in
//! `object` and `db` act on those types.

// Handlers return `Result<Response, Response>`: the error is the response
// to send, built where the fault is found. It is the cold path, so its size
// does not matter.
#![allow(clippy::result_large_err)]

mod db;
mod footer;
mod listing_format;
mod meta;
pub mod object;
mod ranges;
mod recon;
mod replicate;
pub mod update;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::config::StorageConfig;
use crate::device::Devices;
use crate::engine::StoreError;
use crate::rings::LocalRings;
use crate::timestamp::Timestamp;
use crate::workers::Workers;
pub use stratus_common::body::Body;

pub type Request = http::Request<Incoming>;
pub type Response = http::Response<Body>;

/// Swift's name limits.
pub const MAX_ACCOUNT_NAME: usize = 256;
pub const MAX_CONTAINER_NAME: usize = 256;
pub const MAX_OBJECT_NAME: usize = 1024;

/// Shared state of one storage node process.
#[derive(Debug)]
pub struct Node {
    pub devices: Devices,
    pub config: StorageConfig,
    pub rings: LocalRings,
    pub workers: Workers,
}

impl Node {
    pub fn new(devices: Devices, config: StorageConfig) -> Node {
        Node {
            devices,
            rings: LocalRings::new(config.rings.clone()),
            config,
            workers: Workers::new(),
        }
    }

    /// Reports containers whose totals changed to the account servers each
    /// was created with. A report that fails is queued like any update.
    pub async fn report_changed_containers(&self) {
        for dev in self.devices.iter() {
            let changed = match dev.containers.changed(1000) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(device = %dev.name, error = %e, "cannot read container changes");
                    continue;
                }
            };
            for (path, mark) in changed {
                if let Ok(Some(info)) = dev.containers.info(&path) {
                    db::report(self, dev, &path, &info).await;
                }
                if let Err(e) = dev.containers.clear_changed(&path, &mark) {
                    tracing::error!(device = %dev.name, error = %e, "cannot clear a container change");
                }
            }
        }
    }
}

/// Which of the three servers a listener is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Object,
    Container,
    Account,
}

/// What a request addresses, decoded and length-checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `REPLICATE /<device>`: partition digests.
    Device { device: String },
    Partition {
        device: String,
        partition: u32,
        suffixes: Vec<String>,
    },
    Account {
        device: String,
        partition: u32,
        account: String,
    },
    Container {
        device: String,
        partition: u32,
        account: String,
        container: String,
    },
    Object {
        device: String,
        partition: u32,
        account: String,
        container: String,
        object: String,
    },
}

impl Target {
    pub fn device(&self) -> &str {
        match self {
            Target::Device { device }
            | Target::Partition { device, .. }
            | Target::Account { device, .. }
            | Target::Container { device, .. }
            | Target::Object { device, .. } => device,
        }
    }

    /// Parses a raw request path. `replicate` selects the partition form.
    pub fn parse(raw: &str, replicate: bool) -> Result<Target, Response> {
        let bad = |msg: &str| Err(text(StatusCode::BAD_REQUEST, msg));
        let Some(rest) = raw.strip_prefix('/') else {
            return bad("Invalid path");
        };
        let parts: Vec<&str> = rest.splitn(5, '/').collect();
        let decode = |s: &str| {
            stratus_common::http::decode_name(s).ok_or_else(|| {
                text(
                    StatusCode::PRECONDITION_FAILED,
                    "Invalid UTF8 or contains NULL",
                )
            })
        };
        if parts[0].is_empty() || (parts.len() < 2 && !replicate) {
            return bad("Invalid path");
        }
        let device = decode(parts[0])?;
        if device.contains("..") {
            return bad("Invalid device");
        }
        if parts.len() < 2 {
            return Ok(Target::Device { device });
        }
        let Ok(partition) = parts[1].parse::<u32>() else {
            return bad("Invalid partition");
        };
        if replicate {
            let suffixes = if parts.len() > 2 {
                parts[2..]
                    .join("/")
                    .split('-')
                    .map(str::to_string)
                    .collect()
            } else {
                vec![]
            };
            return Ok(Target::Partition {
                device,
                partition,
                suffixes,
            });
        }
        let names: Vec<String> = parts[2..]
            .iter()
            .map(|s| decode(s))
            .collect::<Result<_, _>>()?;
        match names.as_slice() {
            [a] if valid(a, MAX_ACCOUNT_NAME) => Ok(Target::Account {
                device,
                partition,
                account: a.clone(),
            }),
            [a, c] if valid(a, MAX_ACCOUNT_NAME) && valid(c, MAX_CONTAINER_NAME) => {
                Ok(Target::Container {
                    device,
                    partition,
                    account: a.clone(),
                    container: c.clone(),
                })
            }
            [a, c, o]
                if valid(a, MAX_ACCOUNT_NAME)
                    && valid(c, MAX_CONTAINER_NAME)
                    && valid(o, MAX_OBJECT_NAME) =>
            {
                Ok(Target::Object {
                    device,
                    partition,
                    account: a.clone(),
                    container: c.clone(),
                    object: o.clone(),
                })
            }
            [_, _, o] if o.len() > MAX_OBJECT_NAME => bad("Object name length exceeds the limit"),
            [_, c, ..] if c.len() > MAX_CONTAINER_NAME => {
                bad("Container name length exceeds the limit")
            }
            _ => bad("Invalid path"),
        }
    }
}

fn valid(name: &str, max: usize) -> bool {
    !name.is_empty() && name.len() <= max
}

pub fn text(status: StatusCode, body: &str) -> Response {
    let mut r = http::Response::new(Body::full(Bytes::from(format!("{body}\n"))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub fn empty(status: StatusCode) -> Response {
    let mut r = http::Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// The response for an engine error (the one place they map to statuses).
pub fn store_error(e: &StoreError) -> Response {
    match e {
        StoreError::NotFound => text(StatusCode::NOT_FOUND, "Not Found"),
        StoreError::Conflict(ts) => {
            let mut r = empty(StatusCode::CONFLICT);
            set(&mut r, "x-backend-timestamp", &ts.to_string());
            r
        }
        StoreError::Full => text(StatusCode::INSUFFICIENT_STORAGE, "Insufficient Storage"),
        other => {
            tracing::error!(error = %other, "storage error");
            text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

pub fn set(r: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

pub fn header<'a>(req: &'a http::request::Parts, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// `X-Timestamp`, required on every write.
pub fn request_timestamp(req: &http::request::Parts) -> Result<Timestamp, Response> {
    match header(req, "x-timestamp") {
        None => Err(text(StatusCode::BAD_REQUEST, "Missing timestamp")),
        Some(s) => {
            Timestamp::parse(s).ok_or_else(|| text(StatusCode::BAD_REQUEST, "Invalid X-Timestamp"))
        }
    }
}

/// Binds the object, container and account listeners and serves until
/// the process ends.
pub async fn run(config: StorageConfig) -> std::io::Result<()> {
    let listeners = [
        (TcpListener::bind(config.bind).await?, ServerKind::Object),
        (
            TcpListener::bind(config.container_bind).await?,
            ServerKind::Container,
        ),
        (
            TcpListener::bind(config.account_bind).await?,
            ServerKind::Account,
        ),
    ];
    let options = crate::engine::EngineOptions {
        segment_bytes: config.segment_bytes,
    };
    let devices = Devices::open_all(&config.devices, config.engine, options)?;
    let node = Arc::new(Node::new(devices, config));
    start(node, listeners).await
}

/// Serves already-bound listeners (tests bind port 0 and read the ports).
pub async fn start(
    node: Arc<Node>,
    listeners: [(TcpListener, ServerKind); 3],
) -> std::io::Result<()> {
    update::spawn_reporter(node.clone());
    spawn_compactor(node.clone());
    crate::workers::spawn_all(node.clone());
    let mut tasks = Vec::new();
    for (l, kind) in listeners {
        tracing::info!(addr = %l.local_addr()?, ?kind, "storage node listening");
        tasks.push(tokio::spawn(serve(l, node.clone(), kind)));
    }
    for t in tasks {
        t.await.map_err(std::io::Error::other)??;
    }
    Ok(())
}

pub async fn serve(
    listener: TcpListener,
    node: Arc<Node>,
    kind: ServerKind,
) -> std::io::Result<()> {
    stratus_common::http::serve(listener, move |req, peer| {
        handle(node.clone(), kind, req, peer)
    })
    .await
}

async fn handle(node: Arc<Node>, kind: ServerKind, req: Request, peer: SocketAddr) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::debug_span!("request", ?kind, %method, %path, %peer,
        txn = req.headers().get("x-trans-id").and_then(|v| v.to_str().ok()).unwrap_or("-"));
    let started = std::time::Instant::now();
    // `instrument`, not `enter`: a span entered across an await breaks.
    async move {
        let resp = route(&node, kind, req).await;
        let micros = started.elapsed().as_micros() as u64;
        tracing::debug!(status = resp.status().as_u16(), micros, "done");
        resp
    }
    .instrument(span)
    .await
}

async fn route(node: &Node, kind: ServerKind, req: Request) -> Response {
    if req.uri().path() == "/healthcheck" {
        return text(StatusCode::OK, "OK");
    }
    if kind == ServerKind::Object && req.uri().path().starts_with("/recon") {
        return recon::handle(node, req).await;
    }
    let replicate = req.method().as_str() == "REPLICATE";
    let target = match Target::parse(req.uri().path(), replicate && kind == ServerKind::Object) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(dev) = node.devices.get(target.device()) else {
        return text(StatusCode::INSUFFICIENT_STORAGE, "Insufficient Storage");
    };
    use db::Level;
    if replicate {
        return replicate::handle(&dev, kind, target, req).await;
    }
    match (kind, target) {
        (
            ServerKind::Object,
            Target::Object {
                partition,
                account,
                container,
                object,
                ..
            },
        ) => {
            let path = format!("/{account}/{container}/{object}");
            object::handle(node, &dev, partition, &path, req).await
        }
        (
            ServerKind::Container,
            Target::Container {
                account, container, ..
            },
        ) => {
            db::handle(
                node,
                &dev,
                Level::Container,
                &format!("/{account}/{container}"),
                &container,
                req,
            )
            .await
        }
        (
            ServerKind::Container,
            Target::Object {
                account,
                container,
                object,
                ..
            },
        ) => {
            db::row(
                &dev,
                Level::Container,
                &format!("/{account}/{container}"),
                &object,
                req,
            )
            .await
        }
        (ServerKind::Account, Target::Account { account, .. }) => {
            db::handle(
                node,
                &dev,
                Level::Account,
                &format!("/{account}"),
                &account,
                req,
            )
            .await
        }
        (
            ServerKind::Account,
            Target::Container {
                account, container, ..
            },
        ) => {
            db::row(
                &dev,
                Level::Account,
                &format!("/{account}"),
                &container,
                req,
            )
            .await
        }
        _ => text(StatusCode::BAD_REQUEST, "Invalid path"),
    }
}

/// Compacts each device's log every `compact_interval_secs`.
fn spawn_compactor(node: Arc<Node>) {
    tokio::spawn(async move {
        let every = std::time::Duration::from_secs(node.config.compact_interval_secs.max(1));
        loop {
            tokio::time::sleep(every).await;
            for dev in node.devices.iter() {
                let span = tracing::info_span!("compactor", device = %dev.name);
                match dev
                    .objects
                    .compact(node.config.compact_max_live)
                    .instrument(span.clone())
                    .await
                {
                    Ok(r) if r.segments_removed > 0 => {
                        span.in_scope(|| tracing::info!(?r, "compaction pass"))
                    }
                    Ok(_) => {}
                    Err(e) => span.in_scope(|| tracing::error!(error = %e, "compaction failed")),
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_backend_paths() {
        let t = Target::parse("/d1/12/AUTH_a/c/dir/o%20x", false).unwrap();
        assert_eq!(
            t,
            Target::Object {
                device: "d1".into(),
                partition: 12,
                account: "AUTH_a".into(),
                container: "c".into(),
                object: "dir/o x".into()
            }
        );
        assert!(matches!(
            Target::parse("/d1/3/a/c", false),
            Ok(Target::Container { .. })
        ));
        assert!(matches!(
            Target::parse("/d1/3/a", false),
            Ok(Target::Account { .. })
        ));
        let p = Target::parse("/d1/3/abc-def", true).unwrap();
        assert_eq!(
            p,
            Target::Partition {
                device: "d1".into(),
                partition: 3,
                suffixes: vec!["abc".into(), "def".into()]
            }
        );
        assert_eq!(
            Target::parse("/d1", true).unwrap(),
            Target::Device {
                device: "d1".into()
            }
        );
        assert!(Target::parse("/", true).is_err());
        for bad in [
            "", "/", "//1/a", "/d1", "/d1/-1/a", "/d1/1/a/", "/d1/1//c", "/../1/a", "d1/1/a",
        ] {
            assert!(Target::parse(bad, false).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn path_parser_never_panics(s in "\\PC{0,80}") {
            let _ = Target::parse(&s, false);
            let _ = Target::parse(&s, true);
        }

        #[test]
        fn listing_parser_never_panics(q in "[a-z_=&%0-9A-F/+-]{0,80}", accept in proptest::option::of("\\PC{0,30}")) {
            let _ = listing_format::parse(Some(&q), accept.as_deref());
        }
    }
}
