//! Operator commands over a running cluster: `stratus get-nodes` (where a
//! name lives), `stratus status` (each node's recon report, optionally
//! after running a worker pass everywhere) and `stratus dispersion`
//! (sentinel objects and containers, and how many of their copies are on
//! their primaries).

mod client;
mod dispersion;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use serde_json::Value;
use stratus_common::ring_file::load_ring;
use stratus_ring::Ring;

pub use dispersion::{run as dispersion, DispersionArgs};

use crate::Exit;

fn fail(msg: &str) -> Exit {
    eprintln!("error: {msg}");
    Exit::Error
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start runtime: {e}"))
}

fn ring_at(dir: &Path, kind: &str) -> Result<Ring, String> {
    load_ring(&dir.join(format!("{kind}.ring"))).map_err(|e| e.to_string())
}

/// Where a ring device is reached for backend requests.
fn addr(d: &stratus_ring::Device) -> String {
    format!("{}:{}", stratus_ring::display_ip(&d.ip), d.port)
}

#[derive(Debug, Args)]
pub struct GetNodesArgs {
    /// A ring file (object.ring, container.ring or account.ring).
    ring: PathBuf,
    account: String,
    container: Option<String>,
    object: Option<String>,
}

/// Prints the partition of a name and its primary and handoff devices.
pub fn get_nodes(args: GetNodesArgs, out: &mut impl std::io::Write) -> Exit {
    let ring = match load_ring(&args.ring) {
        Ok(r) => r,
        Err(e) => return fail(&e.to_string()),
    };
    let path = match (&args.container, &args.object) {
        (Some(c), Some(o)) => stratus_ring::Path::Object(&args.account, c, o),
        (Some(c), None) => stratus_ring::Path::Container(&args.account, c),
        _ => stratus_ring::Path::Account(&args.account),
    };
    let (part, primaries) = ring.get_nodes(path);
    let _ = writeln!(out, "Partition {part}");
    let mut name = format!("/{}", args.account);
    for n in [&args.container, &args.object].into_iter().flatten() {
        name.push('/');
        name.push_str(n);
    }
    let encoded = stratus_common::http::encode_path(&name);
    for d in primaries {
        let _ = writeln!(out, "Primary {}/{}", addr(d), d.device);
        let _ = writeln!(
            out,
            "  curl -I http://{}/{}/{part}{encoded}",
            addr(d),
            d.device
        );
    }
    for d in ring.handoffs(part).take(ring.replicas().ceil() as usize) {
        let _ = writeln!(out, "Handoff {}/{}", addr(d), d.device);
    }
    Exit::Success
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The directory holding the rings (for `stratus up`: DATA_DIR/rings).
    #[arg(long)]
    rings: PathBuf,
    /// Run a pass of this worker on every node first (object-replicator,
    /// db-replicator, auditor, expirer, updater).
    #[arg(long)]
    run: Option<String>,
    /// Print the raw reports as JSON.
    #[arg(long)]
    json: bool,
}

/// The object servers of the object ring, each once.
fn nodes(ring: &Ring) -> Vec<String> {
    let mut hosts: Vec<String> = ring.devices().map(addr).collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

pub fn status(args: StatusArgs, out: &mut impl std::io::Write) -> Exit {
    let result = runtime().and_then(|rt| rt.block_on(gather(&args)));
    let reports = match result {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    if args.json {
        let all: Value = reports
            .iter()
            .map(|(h, r)| (h.clone(), r.clone()))
            .collect();
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&all).unwrap_or_default()
        );
    } else {
        for (host, r) in &reports {
            print_node(out, host, r);
        }
    }
    if reports.iter().any(|(_, r)| r.get("error").is_some()) {
        Exit::Error
    } else {
        Exit::Success
    }
}

async fn gather(args: &StatusArgs) -> Result<Vec<(String, Value)>, String> {
    let ring = ring_at(&args.rings, "object")?;
    let hosts = nodes(&ring);
    if let Some(w) = &args.run {
        let uri = format!("/recon/run/{w}");
        let runs = hosts.iter().map(|h| {
            client::call(
                h,
                "POST",
                &uri,
                &[],
                Bytes::new(),
                Duration::from_secs(3600),
            )
        });
        for (h, r) in hosts.iter().zip(futures_util::future::join_all(runs).await) {
            match r {
                Ok(a) if a.status == 200 => {}
                Ok(a) => return Err(format!("{h}: running {w}: status {}", a.status)),
                Err(e) => return Err(format!("running {w}: {e}")),
            }
        }
    }
    let mut out = Vec::new();
    for h in hosts {
        let r = client::call(
            &h,
            "GET",
            "/recon",
            &[],
            Bytes::new(),
            Duration::from_secs(10),
        )
        .await;
        let v = match r {
            Ok(a) if a.status == 200 => serde_json::from_slice(&a.body)
                .unwrap_or_else(|e| serde_json::json!({"error": e.to_string()})),
            Ok(a) => serde_json::json!({"error": format!("status {}", a.status)}),
            Err(e) => serde_json::json!({"error": e}),
        };
        out.push((h, v));
    }
    Ok(out)
}

fn print_node(out: &mut impl std::io::Write, host: &str, r: &Value) {
    if let Some(e) = r.get("error") {
        let _ = writeln!(out, "{host}: UNREACHABLE ({e})");
        return;
    }
    let _ = writeln!(out, "{host}");
    for d in r["devices"].as_array().into_iter().flatten() {
        let gib = |k: &str| d[k].as_u64().unwrap_or(0) as f64 / f64::from(1u32 << 30);
        let _ = writeln!(
            out,
            "  {:<8} {}  used {:.2} of {:.2} GiB  index entries ~{}  quarantined {}  async pendings {}",
            d["device"].as_str().unwrap_or("?"),
            if d["mounted"].as_bool() == Some(true) { "mounted  " } else { "UNMOUNTED" },
            gib("used_bytes"),
            gib("size_bytes"),
            d["index_entries"],
            d["quarantined"],
            d["async_pending"],
        );
    }
    let workers = r["workers"].as_object();
    for (name, w) in workers.into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {name:<17} passes {}  last {:.3} s, finished {}: {}",
            w["passes"],
            w["seconds"].as_f64().unwrap_or(0.0),
            w["finished"].as_str().unwrap_or("?"),
            w["report"]
        );
    }
}
