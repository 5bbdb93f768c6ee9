//! `stratus-bench`: a bounded load generator. Today it drives a storage
//! node's internal API (`storage` target); it only sends to the address it
//! is given, which must be loopback or a test namespace.

// A command-line tool: its results go to stdout.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use stratus_bench::load::{self, Op, Plan};

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
enum Verb {
    Put,
    Get,
    Delete,
}

#[derive(Debug, Parser)]
#[command(name = "stratus-bench", about = "Bounded load generator for Stratus")]
struct Args {
    /// Storage node object server address (ip:port).
    #[arg(long)]
    target: SocketAddr,
    #[arg(long, default_value = "d1")]
    device: String,
    #[arg(long, value_enum)]
    op: Verb,
    /// Object size in bytes (PUT; GET expects objects of this size).
    #[arg(long, default_value_t = 4096)]
    size: usize,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Stop after this many requests...
    #[arg(long, default_value_t = 10_000)]
    requests: u64,
    /// ...or after this many seconds, whichever comes first.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Object names are <prefix>-<i> over this many distinct objects.
    #[arg(long, default_value_t = 10_000)]
    objects: u64,
    #[arg(long, default_value = "bench")]
    prefix: String,
    /// Check every GET body byte for byte.
    #[arg(long)]
    verify: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

fn payload(i: u64, size: usize) -> Bytes {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    Bytes::from(
        (0..size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect::<Vec<u8>>(),
    )
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    anyhow::ensure!(a.target.ip().is_loopback() || std::env::var_os("STRATUS_BENCH_ANY_TARGET").is_some(),
        "refusing to load {}: only loopback targets (or set STRATUS_BENCH_ANY_TARGET for a test namespace)", a.target);
    anyhow::ensure!(
        a.concurrency > 0 && a.objects > 0,
        "--concurrency and --objects must be positive"
    );
    anyhow::ensure!(a.duration > 0.0, "--duration must be positive");
    let plan = Plan {
        target: a.target,
        concurrency: a.concurrency,
        requests: a.requests,
        duration: Duration::from_secs_f64(a.duration),
    };
    let body = payload(0, a.size);
    let (dev, prefix, objects, size, verb, verify) = (
        a.device.clone(),
        a.prefix.clone(),
        a.objects,
        a.size,
        a.op,
        a.verify,
    );
    let make: load::MakeOp = Arc::new(move |i| {
        let n = i % objects;
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let ts = format!("{}.{:05}", ts.as_secs(), ts.subsec_micros() / 10);
        let path = format!("/{dev}/{}/AUTH_bench/c/{prefix}-{n}", n % 1024);
        let data = if verify {
            payload(n, size)
        } else {
            body.clone()
        };
        match verb {
            Verb::Put => Op {
                method: http::Method::PUT,
                path,
                headers: vec![
                    ("x-timestamp".into(), ts),
                    ("content-type".into(), "application/octet-stream".into()),
                ],
                body: data,
                expect: None,
            },
            Verb::Get => Op {
                method: http::Method::GET,
                path,
                headers: vec![],
                body: Bytes::new(),
                expect: verify.then_some(data),
            },
            Verb::Delete => Op {
                method: http::Method::DELETE,
                path,
                headers: vec![("x-timestamp".into(), ts)],
                body: Bytes::new(),
                expect: None,
            },
        }
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let rep = rt
        .block_on(load::run(&plan, make))
        .with_context(|| format!("cannot run against {}", a.target))?;
    if a.json {
        let mut j = rep.to_json();
        j["op"] = format!("{:?}", a.op).to_lowercase().into();
        j["size"] = a.size.into();
        j["concurrency"] = a.concurrency.into();
        println!("{j}");
    } else {
        println!(
            "{:<6} {:>9} {:>5} {:>10} {:>9} {:>8} {:>8} {:>8} {:>8}  errors",
            "op", "size", "conc", "ops/s", "MiB/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        println!(
            "{:<6} {:>9} {:>5} {:>10.0} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {:?}",
            format!("{:?}", a.op).to_lowercase(),
            a.size,
            a.concurrency,
            rep.ops_per_sec(),
            rep.mib_per_sec(),
            rep.percentile_ms(0.5),
            rep.percentile_ms(0.9),
            rep.percentile_ms(0.99),
            rep.percentile_ms(1.0),
            rep.errors
        );
    }
    Ok(())
}
