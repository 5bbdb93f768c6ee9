//! The load generator core: workers on keep-alive HTTP/1.1 connections
//! (TCP_NODELAY), bounded by request count and duration, recording every
//! latency for exact percentiles.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// One request of a workload.
#[derive(Debug, Clone)]
pub struct Op {
    /// The operation's name in reports (`put`, `get`, …).
    pub kind: &'static str,
    pub req: crate::protocol::Request,
    /// Verify the response body equals this (GET in verify mode).
    pub expect: Option<Bytes>,
}

/// Produces the i-th request of a run.
pub type MakeOp = Arc<dyn Fn(u64) -> Op + Send + Sync>;

#[derive(Debug, Clone)]
pub struct Plan {
    pub target: SocketAddr,
    pub concurrency: usize,
    /// Measured requests (warm-up ones do not count).
    pub requests: u64,
    /// Measured time, after the warm-up.
    pub duration: Duration,
    /// Requests in the first `warmup` are sent but not recorded.
    pub warmup: Duration,
    /// Print a progress line to stderr every second.
    pub progress: bool,
}

/// Reports per operation kind, plus their sum under "all".
pub type Reports = std::collections::BTreeMap<&'static str, Report>;

#[derive(Debug, Default, Clone)]
pub struct Report {
    pub ok: u64,
    pub errors: std::collections::BTreeMap<String, u64>,
    pub bytes: u64,
    pub elapsed: Duration,
    /// Sorted latencies in microseconds.
    pub latencies_us: Vec<u32>,
}

impl Report {
    pub fn ops_per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The q-quantile (0..=1) by nearest rank, in milliseconds.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        percentile(&self.latencies_us, q) as f64 / 1000.0
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": self.ok, "errors": self.errors, "seconds": self.elapsed.as_secs_f64(),
            "ops_per_sec": self.ops_per_sec(), "mib_per_sec": self.mib_per_sec(),
            "p50_ms": self.percentile_ms(0.5), "p90_ms": self.percentile_ms(0.9),
            "p99_ms": self.percentile_ms(0.99), "max_ms": self.percentile_ms(1.0),
        })
    }
}

/// Nearest-rank percentile of sorted values (0 for none).
pub fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow::anyhow!("connecting to {addr} timed out"))?
        .map_err(|e| anyhow::anyhow!("cannot connect to {addr}: {e}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Runs `make` with `plan.concurrency` workers until `plan.requests` are
/// measured or `plan.duration` passes after the warm-up, whichever is first.
pub async fn run(plan: &Plan, make: MakeOp) -> anyhow::Result<Reports> {
    // Fail fast and clearly on an unreachable endpoint.
    connect(plan.target).await?;
    let next = Arc::new(AtomicU64::new(0));
    let warm_next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let deadline = measure_from + plan.duration;
    let progress = plan.progress.then(|| {
        let (done, failed) = (done.clone(), failed.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let t = start.elapsed().as_secs_f64();
                eprint!(
                    "\r{t:6.1} s  {} done  {} errors   ",
                    done.load(Ordering::Relaxed),
                    failed.load(Ordering::Relaxed)
                );
            }
        })
    });
    let mut tasks = Vec::new();
    for _ in 0..plan.concurrency {
        let (next, warm_next, make, plan) =
            (next.clone(), warm_next.clone(), make.clone(), plan.clone());
        let (done, failed) = (done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut reps = Reports::new();
            let mut sender: Option<Sender> = None;
            loop {
                let warm = Instant::now() < measure_from;
                if Instant::now() >= deadline {
                    break;
                }
                let i = if warm {
                    warm_next.fetch_add(1, Ordering::Relaxed)
                } else {
                    next.fetch_add(1, Ordering::Relaxed)
                };
                if !warm && i >= plan.requests {
                    break;
                }
                let op = make(i);
                let t0 = Instant::now();
                let result = once(&mut sender, plan.target, &op).await;
                let us = t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                if warm {
                    continue;
                }
                let rep = reps.entry(op.kind).or_default();
                match result {
                    Ok((status, n))
                        if status < 300
                            || (status == 404 && op.req.method == http::Method::DELETE) =>
                    {
                        done.fetch_add(1, Ordering::Relaxed);
                        rep.ok += 1;
                        rep.bytes += n;
                        rep.latencies_us.push(us);
                    }
                    Ok((status, _)) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        *rep.errors.entry(status.to_string()).or_default() += 1;
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        sender = None;
                        *rep.errors.entry(e.to_string()).or_default() += 1;
                    }
                }
            }
            reps
        }));
    }
    let mut total = Reports::new();
    for t in tasks {
        for (kind, r) in t.await? {
            for key in [kind, "all"] {
                let e = total.entry(key).or_default();
                e.ok += r.ok;
                e.bytes += r.bytes;
                e.latencies_us.extend(&r.latencies_us);
                for (k, v) in &r.errors {
                    *e.errors.entry(k.clone()).or_default() += v;
                }
            }
        }
    }
    if let Some(p) = progress {
        p.abort();
        eprintln!();
    }
    let elapsed = start.elapsed().saturating_sub(plan.warmup);
    for r in total.values_mut() {
        r.elapsed = elapsed;
        r.latencies_us.sort_unstable();
    }
    Ok(total)
}

/// One request; returns status and payload bytes moved.
async fn once(
    sender: &mut Option<Sender>,
    addr: SocketAddr,
    op: &Op,
) -> anyhow::Result<(u16, u64)> {
    if sender.as_ref().is_none_or(|s| s.is_closed()) {
        *sender = Some(connect(addr).await?);
    }
    let Some(s) = sender.as_mut() else {
        anyhow::bail!("no connection")
    };
    s.ready().await?;
    let mut req = http::Request::builder()
        .method(op.req.method.clone())
        .uri(&op.req.path)
        .header("host", addr.to_string());
    for (k, v) in &op.req.headers {
        req = req.header(k, v);
    }
    let req = req.body(Full::new(op.req.body.clone()))?;
    let resp = tokio::time::timeout(Duration::from_secs(60), s.send_request(req))
        .await
        .map_err(|_| anyhow::anyhow!("timeout"))??;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let received = match &op.expect {
        Some(want) => {
            let body = body.collect().await?.to_bytes();
            if status == 200 && body != *want {
                anyhow::bail!("verify: body differs");
            }
            body.len()
        }
        // Counted as it streams, not gathered: gathering a large object
        // costs the client a copy of it (and its memory), slowing what is
        // measured.
        None => {
            let mut n = 0;
            while let Some(frame) = body.frame().await {
                n += frame?.data_ref().map_or(0, |d| d.len());
            }
            n
        }
    };
    Ok((status, (op.req.body.len() + received) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(percentile(&[7], 0.99), 7);
    }
}
