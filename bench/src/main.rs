//! `stratus-bench`: a bounded load generator for the storage node's
//! backend API, the Swift API (v1 auth or Keystone) and the S3 API
//! (SigV4). It only sends to loopback unless told otherwise, and every run
//! stops by itself (request count and duration).

// A command-line tool: its results go to stdout.
#![allow(clippy::print_stdout)]

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use stratus_bench::load::{self, Op, Plan, Reports};
use stratus_bench::protocol::{self, Protocol};
use stratus_bench::sigv4::Credentials;
use stratus_bench::workload::{payload, Mix, OpKind, Sizes};

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
enum Proto {
    /// A storage node's internal API (no auth).
    Backend,
    /// Swift v1 API; log in with --auth (v1.0 path) or --keystone.
    Swift,
    /// Amazon S3 API, SigV4, path-style.
    S3,
    /// The identity service itself (Keystone v3): --identity-op says which.
    Keystone,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
enum IdentityOp {
    /// GET /v3/auth/tokens of one token (the check every API call makes).
    Validate,
    /// POST /v3/auth/tokens with a password (a log-in).
    Issue,
}

#[derive(Debug, Parser)]
#[command(
    name = "stratus-bench",
    about = "Bounded load generator for Stratus and its peers"
)]
struct Args {
    /// Address requests go to (ip:port; loopback only unless
    /// STRATUS_BENCH_ANY_TARGET is set, for a test namespace).
    #[arg(long)]
    target: SocketAddr,
    #[arg(long, value_enum, default_value = "backend")]
    protocol: Proto,
    /// Backend: the device.
    #[arg(long, default_value = "d1")]
    device: String,
    /// Swift v1 auth path on --target, e.g. /auth/v1.0.
    #[arg(long)]
    auth: Option<String>,
    /// Keystone address for Swift with tokens (password auth, project scope).
    #[arg(long)]
    keystone: Option<SocketAddr>,
    /// Swift user (v1: account:user) / Keystone user / S3 access key.
    #[arg(long, default_value = "test:tester")]
    user: String,
    /// Swift key / Keystone password / S3 secret key.
    #[arg(long, default_value = "testing")]
    key: String,
    /// Keystone project.
    #[arg(long, default_value = "admin")]
    project: String,
    /// With --protocol keystone: what to measure.
    #[arg(long, value_enum, default_value = "validate")]
    identity_op: IdentityOp,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Container (bucket) to use; created first.
    #[arg(long, default_value = "bench")]
    container: String,
    /// Operations and weights: put, get, head, delete, list (e.g. put=1,get=3).
    #[arg(long, default_value = "put")]
    mix: Mix,
    /// Object size: 4096, 4k, 1m, or a uniform range such as 1k-1m.
    #[arg(long, default_value = "4k")]
    size: Sizes,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Stop after this many measured requests...
    #[arg(long, default_value_t = 10_000)]
    requests: u64,
    /// ...or after this many measured seconds, whichever comes first.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of unmeasured load first.
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Objects are <prefix>-<n> for n below this.
    #[arg(long, default_value_t = 1000)]
    objects: u64,
    #[arg(long, default_value = "obj")]
    prefix: String,
    /// Skip writing every object before a mix that reads.
    #[arg(long)]
    no_prefill: bool,
    /// Check every GET body byte for byte.
    #[arg(long)]
    verify: bool,
    /// One JSON object on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

fn main() -> std::process::ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return std::process::ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stratus-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(a: Args) -> anyhow::Result<()> {
    if !a.target.ip().is_loopback() && std::env::var_os("STRATUS_BENCH_ANY_TARGET").is_none() {
        bail!("refusing to load {}: loopback only (set STRATUS_BENCH_ANY_TARGET for a test namespace)", a.target);
    }
    if a.concurrency == 0 || a.objects == 0 || a.requests == 0 {
        bail!("--concurrency, --objects and --requests must be positive");
    }
    let valid = |x: f64| x.is_finite() && x >= 0.0;
    if !(valid(a.duration) && a.duration > 0.0 && valid(a.warmup)) {
        bail!("--duration must be positive and --warmup not negative");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        if a.protocol == Proto::Keystone {
            return identity_run(&a).await;
        }
        let proto = login(&a).await?;
        ensure_container(&a, &proto).await?;
        let plan = |requests, duration, warmup, progress| Plan {
            target: a.target,
            concurrency: a.concurrency,
            requests,
            duration: Duration::from_secs_f64(duration),
            warmup: Duration::from_secs_f64(warmup),
            progress,
        };
        let tty = std::io::stderr().is_terminal() && !a.json;
        if a.mix.reads() && !a.no_prefill {
            let prefill = make_ops(&a, &proto, "put".parse()?, true);
            let r = load::run(&plan(a.objects, 3600.0, 0.0, tty), prefill).await?;
            if r.get("all").is_none_or(|r| !r.errors.is_empty()) {
                bail!("prefill failed: {:?}", r.get("all").map(|r| &r.errors));
            }
        }
        let reports = load::run(
            &plan(a.requests, a.duration, a.warmup, tty),
            make_ops(&a, &proto, a.mix.clone(), a.verify),
        )
        .await?;
        print(&a, &reports);
        Ok(())
    })
}

async fn login(a: &Args) -> anyhow::Result<Protocol> {
    Ok(match a.protocol {
        Proto::Backend => Protocol::Backend {
            device: a.device.clone(),
        },
        Proto::Swift => match (&a.auth, a.keystone) {
            (_, Some(ks)) => protocol::keystone_login(ks, &a.user, &a.key, &a.project).await?,
            (Some(path), None) => protocol::swift_v1_login(a.target, path, &a.user, &a.key).await?,
            (None, None) => bail!("--protocol swift needs --auth <v1 path> or --keystone <addr>"),
        },
        Proto::Keystone => bail!("--protocol keystone logs in by itself"),
        Proto::S3 => Protocol::S3 {
            cred: Credentials {
                access_key: a.user.clone(),
                secret_key: a.key.clone(),
                region: a.region.clone(),
                service: "s3".into(),
            },
        },
    })
}

/// Creates the container or bucket (the backend needs none).
async fn ensure_container(a: &Args, proto: &Protocol) -> anyhow::Result<()> {
    if matches!(proto, Protocol::Backend { .. }) {
        return Ok(());
    }
    let req = proto.request(
        a.target,
        http::Method::PUT,
        &a.container,
        None,
        Bytes::new(),
    );
    let (status, _, body) = protocol::call(a.target, req)
        .await
        .context("creating the container")?;
    // 409 from S3 when the bucket is ours already.
    if !(200..300).contains(&status) && status != 409 {
        bail!(
            "creating container {} answered {status}: {}",
            a.container,
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

/// Token validation or issue against the identity service at --target.
async fn identity_run(a: &Args) -> anyhow::Result<()> {
    let tty = std::io::stderr().is_terminal() && !a.json;
    let plan = Plan {
        target: a.target,
        concurrency: a.concurrency,
        requests: a.requests,
        duration: Duration::from_secs_f64(a.duration),
        warmup: Duration::from_secs_f64(a.warmup),
        progress: tty,
    };
    let issue = protocol::keystone_password_request(&a.user, &a.key, &a.project);
    let make: load::MakeOp = match a.identity_op {
        IdentityOp::Issue => Arc::new(move |_| Op {
            kind: "issue",
            req: issue.clone(),
            expect: None,
        }),
        IdentityOp::Validate => {
            let (token, _) = protocol::keystone_token(a.target, &issue).await?;
            let req = protocol::Request {
                method: http::Method::GET,
                path: "/v3/auth/tokens".into(),
                headers: vec![
                    ("x-auth-token".into(), token.clone()),
                    ("x-subject-token".into(), token),
                ],
                body: Bytes::new(),
            };
            Arc::new(move |_| Op {
                kind: "validate",
                req: req.clone(),
                expect: None,
            })
        }
    };
    let reports = load::run(&plan, make).await?;
    print(a, &reports);
    Ok(())
}

fn make_ops(a: &Args, proto: &Protocol, mix: Mix, verify: bool) -> load::MakeOp {
    let (proto, target, container, prefix) = (
        proto.clone(),
        a.target,
        a.container.clone(),
        a.prefix.clone(),
    );
    let (objects, sizes) = (a.objects, a.size);
    // Unverified PUTs of one size share one buffer.
    let shared = (sizes.min == sizes.max).then(|| payload(0, sizes.min as usize));
    Arc::new(move |i| {
        let kind = mix.pick(i);
        let n = i % objects;
        let name = format!("{prefix}-{n}");
        let data = || match (&shared, verify) {
            (Some(b), false) => b.clone(),
            _ => payload(n, sizes.of(n)),
        };
        let (obj, body, expect) = match kind {
            OpKind::Put => (Some(name.as_str()), data(), None),
            OpKind::Get => (Some(name.as_str()), Bytes::new(), verify.then(data)),
            OpKind::Head | OpKind::Delete => (Some(name.as_str()), Bytes::new(), None),
            OpKind::List => (None, Bytes::new(), None),
        };
        let req = proto.request(target, kind.method(), &container, obj, body);
        Op {
            kind: kind.name(),
            req,
            expect,
        }
    })
}

fn print(a: &Args, reports: &Reports) {
    if a.json {
        let mut j = serde_json::Map::new();
        for (k, r) in reports {
            j.insert((*k).to_string(), r.to_json());
        }
        let meta = serde_json::json!({"protocol": format!("{:?}", a.protocol).to_lowercase(),
            "size": format!("{}-{}", a.size.min, a.size.max), "concurrency": a.concurrency});
        j.insert("run".into(), meta);
        println!("{}", serde_json::Value::Object(j));
        return;
    }
    println!(
        "{:<7} {:>9} {:>10} {:>9} {:>8} {:>8} {:>8} {:>8}  errors",
        "op", "requests", "ops/s", "MiB/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for (k, r) in reports {
        println!(
            "{:<7} {:>9} {:>10.0} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {:?}",
            k,
            r.ok,
            r.ops_per_sec(),
            r.mib_per_sec(),
            r.percentile_ms(0.5),
            r.percentile_ms(0.9),
            r.percentile_ms(0.99),
            r.percentile_ms(1.0),
            r.errors
        );
    }
}
