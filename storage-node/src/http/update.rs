//! Updates one server sends another: an object's row to its container
//! servers, a container's row to its account servers. One that cannot be
//! delivered within the timeout is queued on the device (an "async
//! pending") and retried by the updater until it succeeds.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use serde::{Deserialize, Serialize};
use stratus_common::http::{self as http_util, ConnPool};

use super::{header, Node};
use crate::device::{Device, CF_ASYNC};
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Update {
    pub method: String,
    /// `/account/container[/object]`, not yet percent-encoded.
    pub path: String,
    pub ts: Timestamp,
    pub headers: Vec<(String, String)>,
}

impl Update {
    pub fn new(method: &str, path: &str, ts: Timestamp, headers: Vec<(String, String)>) -> Update {
        Update {
            method: method.to_string(),
            path: path.to_string(),
            ts,
            headers,
        }
    }
}

/// Where an update goes: `host:port`, device, partition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Destination {
    pub host: String,
    pub device: String,
    pub partition: String,
}

/// A queued update, version 1.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    v: u8,
    to: Destination,
    update: Update,
}

impl Destination {
    pub fn to_triple(&self) -> (String, String, String) {
        (
            self.host.clone(),
            self.device.clone(),
            self.partition.clone(),
        )
    }

    pub fn from_triple(t: &(String, String, String)) -> Destination {
        Destination {
            host: t.0.clone(),
            device: t.1.clone(),
            partition: t.2.clone(),
        }
    }
}

/// The servers a request names in `<prefix>-Host` (comma-separated
/// `ip:port`), `<prefix>-Device` (same order) and `<prefix>-Partition`.
pub fn destinations(parts: &http::request::Parts, prefix: &str) -> Vec<Destination> {
    let (Some(hosts), Some(devices), Some(partition)) = (
        header(parts, &format!("{prefix}-host")),
        header(parts, &format!("{prefix}-device")),
        header(parts, &format!("{prefix}-partition")),
    ) else {
        return vec![];
    };
    hosts
        .split(',')
        .zip(devices.split(','))
        .map(|(h, d)| Destination {
            host: h.trim().into(),
            device: d.trim().into(),
            partition: partition.trim().into(),
        })
        .collect()
}

/// Sends an object's row change to the container servers the request names
/// (`X-Container-Host`, `-Device`, `-Partition`).
pub async fn container(node: &Node, dev: &Device, parts: &http::request::Parts, update: Update) {
    send_to(node, dev, destinations(parts, "x-container"), update).await;
}

/// Sends `update` to each destination, queueing it for any that fails.
pub async fn send_to(node: &Node, dev: &Device, dests: Vec<Destination>, update: Update) {
    let timeout = Duration::from_millis(node.config.container_update_timeout_ms);
    for to in dests {
        if !send(&to, &update, timeout).await {
            queue(dev, to, update.clone());
        }
    }
}

fn queue(dev: &Device, to: Destination, update: Update) {
    let mut key = update.ts.to_bytes().to_vec();
    let mut rnd = [0u8; 8];
    let _ = getrandom::fill(&mut rnd);
    key.extend_from_slice(&rnd);
    let pending = Pending { v: 1, to, update };
    let Some(cf) = dev.db.cf_handle(CF_ASYNC) else {
        return;
    };
    let mut wo = rocksdb::WriteOptions::default();
    wo.set_sync(true);
    let value = serde_json::to_vec(&pending).unwrap_or_default();
    match dev.db.put_cf_opt(cf, key, value, &wo) {
        Ok(()) => {
            tracing::info!(device = %dev.name, path = %pending.update.path, to = %pending.to.host, "update queued")
        }
        Err(e) => {
            tracing::error!(device = %dev.name, error = %e, "cannot queue update; it is lost until replication")
        }
    }
}

/// One backend request; true on a 2xx answer.
pub async fn send(to: &Destination, update: &Update, timeout: Duration) -> bool {
    let uri = format!(
        "/{}/{}{}",
        http_util::encode_path(&to.device),
        to.partition,
        http_util::encode_path(&update.path)
    );
    let attempt = async {
        let mut sender = match pool().take(&to.host) {
            Some(s) => s,
            None => http_util::connect(&to.host, timeout).await.ok()?,
        };
        let mut req = http::Request::builder()
            .method(update.method.as_str())
            .uri(uri)
            .header("host", &to.host)
            .header("x-timestamp", update.ts.to_string());
        for (n, v) in &update.headers {
            req = req.header(n, v);
        }
        let resp = sender
            .send_request(req.body(Empty::<Bytes>::new()).ok()?)
            .await
            .ok()?;
        // Row updates answer without a body: the connection stays usable.
        if http_util::is_bodiless(&resp, false) {
            pool().put(&to.host, sender);
        }
        Some(resp.status().is_success())
    };
    matches!(tokio::time::timeout(timeout, attempt).await, Ok(Some(true)))
}

/// Keep-alive connections to other servers, shared by all updates of the
/// process (one update per object PUT makes this the hot path).
fn pool() -> &'static ConnPool<Empty<Bytes>> {
    static POOL: std::sync::OnceLock<ConnPool<Empty<Bytes>>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| ConnPool::new(64))
}

/// Reports changed container totals to accounts every
/// `account_report_interval_ms` (queued updates are the updater worker's).
pub fn spawn_reporter(node: Arc<Node>) {
    tokio::spawn(async move {
        let every = Duration::from_millis(node.config.account_report_interval_ms.max(10));
        loop {
            tokio::time::sleep(every).await;
            node.report_changed_containers().await;
        }
    });
}

/// What one updater pass did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct UpdaterReport {
    pub sent: u64,
    pub left: u64,
}

/// The updater: tries every queued update once, at most `updater_per_sec`.
pub async fn pass(node: &Node) -> UpdaterReport {
    let mut report = UpdaterReport::default();
    let limiter = crate::workers::RateLimiter::new(node.config.updater_per_sec);
    let timeout = Duration::from_millis(node.config.container_update_timeout_ms);
    for dev in node.devices.iter() {
        let (sent, left) = replay(dev, timeout, &limiter).await;
        report.sent += sent as u64;
        report.left += left as u64;
    }
    report
}

/// The number of updates queued on `dev`.
pub fn queued(dev: &Device) -> u64 {
    dev.db.cf_handle(CF_ASYNC).map_or(0, |cf| {
        dev.db
            .iterator_cf(cf, rocksdb::IteratorMode::Start)
            .take_while(Result::is_ok)
            .count() as u64
    })
}

/// Tries every queued update of `dev` once; returns (delivered, still queued).
pub async fn replay(
    dev: &Device,
    timeout: Duration,
    limiter: &crate::workers::RateLimiter,
) -> (usize, usize) {
    type Kv = (Box<[u8]>, Box<[u8]>);
    let items: Vec<Kv> = match dev.db.cf_handle(CF_ASYNC) {
        Some(cf) => dev
            .db
            .iterator_cf(cf, rocksdb::IteratorMode::Start)
            .filter_map(Result::ok)
            .take(10_000)
            .collect(),
        None => return (0, 0),
    };
    let forget = |k: &[u8]| {
        if let Some(cf) = dev.db.cf_handle(CF_ASYNC) {
            let _ = dev.db.delete_cf(cf, k);
        }
    };
    let (mut sent, mut left) = (0, 0);
    for (k, v) in items {
        let Ok(p) = serde_json::from_slice::<Pending>(&v) else {
            tracing::error!("dropping unreadable queued update");
            forget(&k);
            continue;
        };
        limiter.take(1).await;
        if send(&p.to, &p.update, timeout).await {
            forget(&k);
            sent += 1;
        } else {
            left += 1;
        }
    }
    (sent, left)
}
