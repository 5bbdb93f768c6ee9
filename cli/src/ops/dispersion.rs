//! `stratus dispersion populate|report`, after swift-dispersion-populate
//! and -report: sentinel containers and objects spread over a share of
//! the partitions (through the proxy, as a user), then every primary of
//! each is asked directly whether it holds its copy.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, ValueEnum};
use stratus_ring::{Path, Ring};

use super::client::{self, split_url};
use super::{addr, fail, ring_at, runtime};
use crate::Exit;

const OBJECT_CONTAINER: &str = "dispersion_objects";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Step {
    /// Create the sentinel containers and objects.
    Populate,
    /// Count their copies on their primaries.
    Report,
}

#[derive(Debug, Args)]
pub struct DispersionArgs {
    step: Step,
    /// The directory holding the rings.
    #[arg(long)]
    rings: PathBuf,
    /// Percentage of partitions to cover.
    #[arg(long, default_value_t = 1.0)]
    coverage: f64,
    /// Swift v1 auth URL, user and key (as in `stratus.env`).
    #[arg(long, env = "ST_AUTH")]
    auth: String,
    #[arg(long, env = "ST_USER")]
    user: String,
    #[arg(long, env = "ST_KEY", hide_env_values = true)]
    key: String,
}

pub fn run(args: DispersionArgs, out: &mut impl std::io::Write) -> Exit {
    if !(args.coverage > 0.0 && args.coverage <= 100.0) {
        return fail("--coverage must be in (0, 100]");
    }
    match runtime().and_then(|rt| rt.block_on(dispersion(&args, out))) {
        Ok(true) => Exit::Success,
        Ok(false) => Exit::Error,
        Err(e) => fail(&e),
    }
}

const T: Duration = Duration::from_secs(30);

/// Names `dispersion_<n>` whose partitions are all different, enough to
/// cover `coverage` percent of the ring's partitions.
fn sentinels(ring: &Ring, coverage: f64, partition: impl Fn(&str) -> u32) -> Vec<(String, u32)> {
    let parts = ring.partition_count();
    let want = ((parts as f64 * coverage / 100.0).ceil() as usize).clamp(1, parts);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for i in 0..want.saturating_mul(64) {
        let name = format!("dispersion_{i}");
        let part = partition(&name);
        if seen.insert(part) {
            out.push((name, part));
            if out.len() == want {
                break;
            }
        }
    }
    out
}

async fn dispersion(args: &DispersionArgs, out: &mut impl std::io::Write) -> Result<bool, String> {
    let (auth_host, auth_path) = split_url(&args.auth)?;
    let a = client::call(
        &auth_host,
        "GET",
        &auth_path,
        &[("x-auth-user", &args.user), ("x-auth-key", &args.key)],
        Bytes::new(),
        T,
    )
    .await?;
    let (Some(url), Some(token)) = (a.header("x-storage-url"), a.header("x-auth-token")) else {
        return Err(format!("authentication failed: status {}", a.status));
    };
    let (host, base) = split_url(url)?;
    let account = base.rsplit('/').next().unwrap_or_default().to_string();
    let token = token.to_string();
    let container_ring = ring_at(&args.rings, "container")?;
    let object_ring = ring_at(&args.rings, "object")?;
    let containers = sentinels(&container_ring, args.coverage, |n| {
        container_ring.partition(Path::Container(&account, n))
    });
    let objects = sentinels(&object_ring, args.coverage, |n| {
        object_ring.partition(Path::Object(&account, OBJECT_CONTAINER, n))
    });
    match args.step {
        Step::Populate => {
            let put = |path: String, body: &'static [u8]| {
                let (host, token) = (host.clone(), token.clone());
                async move {
                    let a = client::call(
                        &host,
                        "PUT",
                        &path,
                        &[("x-auth-token", &token)],
                        Bytes::from_static(body),
                        T,
                    )
                    .await?;
                    if (200..300).contains(&a.status) {
                        Ok(())
                    } else {
                        Err(format!("PUT {path}: status {}", a.status))
                    }
                }
            };
            let enc = stratus_common::http::encode_path;
            for (c, _) in &containers {
                put(format!("{base}/{}", enc(c)), b"").await?;
            }
            put(format!("{base}/{OBJECT_CONTAINER}"), b"").await?;
            for (o, _) in &objects {
                put(
                    format!("{base}/{OBJECT_CONTAINER}/{}", enc(o)),
                    b"dispersion",
                )
                .await?;
            }
            let _ = writeln!(
                out,
                "Created {} containers and {} objects for dispersion reporting",
                containers.len(),
                objects.len()
            );
            Ok(true)
        }
        Step::Report => {
            let c = report(out, "container", &container_ring, &containers, |n| {
                format!("/{account}/{n}")
            })
            .await;
            let o = report(out, "object", &object_ring, &objects, |n| {
                format!("/{account}/{OBJECT_CONTAINER}/{n}")
            })
            .await;
            Ok(c && o)
        }
    }
}

/// Asks every primary of each sentinel for its copy; prints the summary
/// and returns whether every copy was found.
async fn report(
    out: &mut impl std::io::Write,
    what: &str,
    ring: &Ring,
    names: &[(String, u32)],
    path: impl Fn(&str) -> String,
) -> bool {
    let started = Instant::now();
    let replicas = ring.replicas().ceil() as usize;
    // missing[k]: sentinels with k copies missing.
    let mut missing = vec![0usize; replicas + 1];
    let (mut found, mut expected) = (0usize, 0usize);
    for (name, part) in names {
        let uri = stratus_common::http::encode_path(&path(name));
        let mut have = 0;
        let primaries: Vec<_> = ring.primaries(*part).collect();
        for d in &primaries {
            let full = format!(
                "/{}/{part}{uri}",
                stratus_common::http::encode_path(&d.device)
            );
            let ok = client::call(&addr(d), "HEAD", &full, &[], Bytes::new(), T)
                .await
                .is_ok_and(|a| (200..300).contains(&a.status));
            have += usize::from(ok);
        }
        expected += primaries.len();
        found += have;
        missing[(primaries.len() - have).min(replicas)] += 1;
    }
    let pct = |n: usize, of: usize| {
        if of == 0 {
            100.0
        } else {
            100.0 * n as f64 / of as f64
        }
    };
    let _ = writeln!(
        out,
        "Queried {} {what}s for dispersion reporting, {:.1}s",
        names.len(),
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        out,
        "{:.2}% of {what} copies found ({found} of {expected})",
        pct(found, expected)
    );
    let _ = writeln!(
        out,
        "Sample represents {:.2}% of the {what} partition space",
        pct(names.len(), ring.partition_count())
    );
    for (k, n) in missing.iter().enumerate() {
        if *n > 0 {
            let _ = writeln!(out, "There were {n} partitions missing {k} copies.");
        }
    }
    found == expected
}
