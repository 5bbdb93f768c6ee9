//! The node's background workers — object replicator, listing replicator,
//! auditor, expirer, updater — each a pass run every `*_interval_secs`,
//! at most one pass of a worker at a time, rate-limited, traced, and with
//! its last report kept for `GET /recon`. A pass can also be asked for
//! (`POST /recon/run/<worker>`), which operators and tests use to converge
//! now rather than at the next interval.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tracing::Instrument;

use crate::http::Node;
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Worker {
    Replicator,
    DbReplicator,
    Auditor,
    Expirer,
    Updater,
}

impl Worker {
    pub const ALL: [Worker; 5] = [
        Worker::Replicator,
        Worker::DbReplicator,
        Worker::Auditor,
        Worker::Expirer,
        Worker::Updater,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Worker::Replicator => "object-replicator",
            Worker::DbReplicator => "db-replicator",
            Worker::Auditor => "auditor",
            Worker::Expirer => "expirer",
            Worker::Updater => "updater",
        }
    }

    pub fn parse(s: &str) -> Option<Worker> {
        Worker::ALL.into_iter().find(|w| w.name() == s)
    }

    fn interval(self, node: &Node) -> Duration {
        let c = &node.config;
        Duration::from_secs(
            match self {
                Worker::Replicator | Worker::DbReplicator => c.replication_interval_secs,
                Worker::Auditor => c.auditor_interval_secs,
                Worker::Expirer => c.expirer_interval_secs,
                Worker::Updater => c.updater_interval_secs,
            }
            .max(1),
        )
    }
}

/// Per worker: a lock held during a pass, and the last pass's report.
#[derive(Debug, Default)]
pub struct Workers {
    running: BTreeMap<&'static str, tokio::sync::Mutex<u64>>,
    reports: Mutex<BTreeMap<&'static str, Value>>,
    progress: Mutex<BTreeMap<&'static str, Value>>,
}

impl Workers {
    pub fn new() -> Workers {
        Workers {
            running: Worker::ALL
                .iter()
                .map(|w| (w.name(), tokio::sync::Mutex::new(0)))
                .collect(),
            reports: Mutex::default(),
            progress: Mutex::default(),
        }
    }

    /// The last report of each worker that has run, and the progress of
    /// passes under way.
    pub fn reports(&self) -> BTreeMap<&'static str, Value> {
        let mut all = self.reports.lock().map(|r| r.clone()).unwrap_or_default();
        if let Ok(p) = self.progress.lock() {
            for (name, now) in p.iter() {
                let entry = all.entry(name).or_insert_with(|| json!({}));
                entry["running"] = now.clone();
            }
        }
        all
    }

    /// What a pass under way has done so far (shown until it ends).
    pub fn set_progress(&self, w: Worker, now: Value) {
        if let Ok(mut p) = self.progress.lock() {
            p.insert(w.name(), now);
        }
    }
}

/// Runs one pass of `w` (waiting for one under way to end first) and
/// returns its report.
pub async fn run(node: &Node, w: Worker) -> Value {
    let Some(lock) = node.workers.running.get(w.name()) else {
        return Value::Null;
    };
    let mut passes = lock.lock().await;
    let started = Instant::now();
    let span = tracing::info_span!("worker", worker = w.name());
    let report = async {
        match w {
            Worker::Replicator => to_value(crate::replicator::objects::pass(node).await),
            Worker::DbReplicator => to_value(crate::replicator::dbs::pass(node).await),
            Worker::Auditor => to_value(crate::auditor::pass(node).await),
            Worker::Expirer => to_value(crate::expirer::pass(node).await),
            Worker::Updater => to_value(crate::http::update::pass(node).await),
        }
    }
    .instrument(span.clone())
    .await;
    *passes += 1;
    let full = json!({
        "passes": *passes,
        "finished": Timestamp::now().iso8601(),
        "seconds": started.elapsed().as_secs_f64(),
        "report": report,
    });
    span.in_scope(|| tracing::info!(report = %full, "pass done"));
    if let Ok(mut r) = node.workers.reports.lock() {
        r.insert(w.name(), full.clone());
    }
    if let Ok(mut p) = node.workers.progress.lock() {
        p.remove(w.name());
    }
    full
}

fn to_value<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Starts every worker's loop.
pub fn spawn_all(node: Arc<Node>) {
    for w in Worker::ALL {
        let node = node.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(w.interval(&node)).await;
                run(&node, w).await;
            }
        });
    }
}

/// Spreads work so that no more than `per_sec` units (bytes, objects) are
/// done per second on average over a pass; 0 means no limit.
#[derive(Debug)]
pub struct RateLimiter {
    per_sec: u64,
    started: Instant,
    used: Mutex<u64>,
}

impl RateLimiter {
    pub fn new(per_sec: u64) -> RateLimiter {
        RateLimiter {
            per_sec,
            started: Instant::now(),
            used: Mutex::new(0),
        }
    }

    /// Accounts for `n` units, first waiting until the pass is on schedule.
    pub async fn take(&self, n: u64) {
        if self.per_sec == 0 {
            return;
        }
        let due = {
            let Ok(mut used) = self.used.lock() else {
                return;
            };
            let due = Duration::from_secs_f64(*used as f64 / self.per_sec as f64);
            *used += n;
            due
        };
        let elapsed = self.started.elapsed();
        if due > elapsed {
            tokio::time::sleep(due - elapsed).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rate_limiter_spreads_work() {
        let r = RateLimiter::new(1000);
        let t = Instant::now();
        for _ in 0..5 {
            r.take(100).await;
        }
        // 400 units were due before the fifth call: 0.4 s at 1000/s.
        assert!(
            t.elapsed() >= Duration::from_millis(390),
            "{:?}",
            t.elapsed()
        );
        let free = RateLimiter::new(0);
        let t = Instant::now();
        free.take(u64::MAX).await;
        free.take(u64::MAX).await;
        assert!(t.elapsed() < Duration::from_millis(50));
        assert_eq!(Worker::parse("auditor"), Some(Worker::Auditor));
        assert_eq!(Worker::parse("nope"), None);
    }
}
