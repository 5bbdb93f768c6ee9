//! Fault tests of the background workers on real `stratus storage`
//! processes behind a `stratus proxy`: a corrupted copy is quarantined by
//! the auditor and restored by the replicator; a node that was down while
//! objects were written and deleted catches up in one pass, listings too;
//! a fourth node joins under load without a failed read; expired objects
//! go from every replica and listing; status and dispersion reports.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{bytes, request, stratus, try_request, Cluster, MANUAL_WORKERS};

fn put(c: &Cluster, token: &str, path: &str, body: &[u8]) {
    let r = request(
        c.addr,
        "PUT",
        &format!("/v1/AUTH_test/{path}"),
        &[("X-Auth-Token", token)],
        body,
    );
    assert_eq!(r.status, 201, "PUT {path}: {}", r.text());
}

/// What node `n`'s object server answers for `c/name`.
fn direct(c: &Cluster, n: usize, method: &str, name: &str) -> common::Resp {
    let (part, _) = c.placement("object", &["AUTH_test", "c", name]);
    request(
        c.nodes[n].object,
        method,
        &format!("/d1/{part}/AUTH_test/c/{name}"),
        &[],
        b"",
    )
}

fn flip_byte(path: &std::path::Path, at: usize) {
    let mut data = std::fs::read(path).unwrap();
    data[at] ^= 0x5a;
    std::fs::write(path, data).unwrap();
}

fn files_in(dir: std::path::PathBuf, ext: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect()
}

#[test]
fn a_corrupt_copy_is_quarantined_and_restored_from_the_others() {
    let c = Cluster::with_config(MANUAL_WORKERS, "");
    let t = c.token();
    put(&c, &t, "c", b"");
    let small = bytes(11, 5000);
    let large = bytes(12, 3 * 1024 * 1024 + 5);
    put(&c, &t, "c/small", &small);
    put(&c, &t, "c/large", &large);

    // Rot one byte of each on node 0: the large object's file, and the
    // small object's record in the log.
    let objects = c.dir.path().join("node0/d1/objects");
    let large_files = files_in(objects.join("large"), "large");
    assert_eq!(large_files.len(), 1);
    flip_byte(&large_files[0], 4096 + 1_000_000);
    let mut rotted = false;
    for seg in files_in(objects.join("segments"), "seg") {
        let data = std::fs::read(&seg).unwrap();
        if let Some(pos) = data.windows(small.len()).position(|w| w == small) {
            flip_byte(&seg, pos + 100);
            rotted = true;
        }
    }
    assert!(rotted, "small object not found in node 0's log");

    let report = c.run(0, "auditor");
    assert_eq!(report["quarantined"], 2, "{report}");
    for name in ["small", "large"] {
        assert_eq!(
            direct(&c, 0, "HEAD", name).status,
            404,
            "{name} still served"
        );
    }
    // Reads through the proxy never noticed.
    let r = request(
        c.addr,
        "GET",
        "/v1/AUTH_test/c/large",
        &[("X-Auth-Token", &t)],
        b"",
    );
    assert!(r.status == 200 && r.body == large);

    let reports = c.run_everywhere("object-replicator", &[0, 1, 2]);
    let pushed: u64 = reports
        .iter()
        .map(|r| r["objects_pushed"].as_u64().unwrap())
        .sum();
    assert!(pushed >= 2, "{reports:?}");
    for n in 0..3 {
        assert_eq!(direct(&c, n, "GET", "small").body, small, "node {n}");
        assert_eq!(direct(&c, n, "GET", "large").body, large, "node {n}");
    }
    let again = c.run(0, "auditor");
    assert_eq!(again["quarantined"], 0, "{again}");
    assert!(again["objects_checked"].as_u64().unwrap() >= 2, "{again}");
    // Operators see what happened.
    let status = stratus(&["status", "--rings", c.rings.to_str().unwrap()]);
    assert!(status.contains("quarantined 2"), "{status}");
    // With nothing left to do, a pass moves nothing.
    let idle = c.run_everywhere("object-replicator", &[0, 1, 2]);
    for r in idle {
        assert_eq!(
            (r["objects_pushed"].as_u64(), r["failures"].as_u64()),
            (Some(0), Some(0)),
            "{r}"
        );
    }
}

#[test]
fn a_node_that_was_down_catches_up_in_one_pass() {
    let mut c = Cluster::with_config(MANUAL_WORKERS, "");
    let t = c.token();
    put(&c, &t, "c", b"");
    for i in 0..100 {
        put(&c, &t, &format!("c/old-{i}"), &bytes(i, 100));
    }
    c.nodes[2].kill9();
    for i in 0..1000u64 {
        put(&c, &t, &format!("c/new-{i}"), &bytes(1000 + i, 1024));
    }
    for i in 0..100 {
        let r = request(
            c.addr,
            "DELETE",
            &format!("/v1/AUTH_test/c/old-{i}"),
            &[("X-Auth-Token", &t)],
            b"",
        );
        assert_eq!(r.status, 204);
    }
    c.nodes[2].restart();
    assert_eq!(direct(&c, 2, "HEAD", "new-0").status, 404);
    assert_eq!(direct(&c, 2, "HEAD", "old-0").status, 200);

    let reports = c.run_everywhere("object-replicator", &[0, 1, 2]);
    let sum = |k: &str| -> u64 { reports.iter().map(|r| r[k].as_u64().unwrap()).sum() };
    assert!(sum("objects_pushed") >= 1000, "{reports:?}");
    assert!(sum("tombstones_pushed") >= 100, "{reports:?}");
    for i in 0..1000u64 {
        let r = direct(&c, 2, "GET", &format!("new-{i}"));
        assert!(
            r.status == 200 && r.body == bytes(1000 + i, 1024),
            "new-{i}"
        );
    }
    for i in 0..100 {
        assert_eq!(
            direct(&c, 2, "HEAD", &format!("old-{i}")).status,
            404,
            "old-{i} came back"
        );
    }

    // The container's listing on node 2 missed every update; the listing
    // replicator brings its rows, counts and bytes.
    c.run_everywhere("db-replicator", &[0, 1, 2]);
    let (cpart, _) = c.placement("container", &["AUTH_test", "c"]);
    let listing = |n: usize| {
        request(
            c.nodes[n].container,
            "GET",
            &format!("/d1/{cpart}/AUTH_test/c?format=json&limit=10000"),
            &[],
            b"",
        )
    };
    let on2 = listing(2);
    assert_eq!(on2.header("x-container-object-count"), Some("1000"));
    assert_eq!(on2.header("x-container-bytes-used"), Some("1024000"));
    let names = |r: &common::Resp| {
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&on2), names(&listing(0)));
    assert_eq!(names(&on2).len(), 1000);

    // The updates queued for node 2 while it was down get delivered and
    // change nothing more; the account's totals agree everywhere.
    let sent: u64 = c
        .run_everywhere("updater", &[0, 1, 2])
        .iter()
        .map(|r| r["left"].as_u64().unwrap())
        .sum();
    assert_eq!(sent, 0);
    let (apart, _) = c.placement("account", &["AUTH_test"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        c.run_everywhere("db-replicator", &[0, 1, 2]);
        let counts: Vec<Option<String>> = (0..3)
            .map(|n| {
                let r = request(
                    c.nodes[n].account,
                    "HEAD",
                    &format!("/d1/{apart}/AUTH_test"),
                    &[],
                    b"",
                );
                r.header("x-account-object-count").map(str::to_string)
            })
            .collect();
        if counts.iter().all(|x| x.as_deref() == Some("1000")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "account totals: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_fourth_node_joins_under_load_without_a_failed_read() {
    let mut c = Cluster::with_config(MANUAL_WORKERS, "");
    let t = c.token();
    put(&c, &t, "c", b"");
    let size = |i: u64| {
        if i.is_multiple_of(10) {
            200_000 + i as usize
        } else {
            1000 + i as usize
        }
    };
    for i in 0..200u64 {
        put(&c, &t, &format!("c/obj-{i}"), &bytes(i, size(i)));
    }
    let n3 = c.start_node(MANUAL_WORKERS);
    c.add_to_rings(n3);
    c.rebalance();

    let stop = Arc::new(AtomicBool::new(false));
    let (reads, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (stop, reads, failed) = (stop.clone(), reads.clone(), failed.clone());
        let (addr, t) = (c.addr, t.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let path = format!("/v1/AUTH_test/c/obj-{}", i % 200);
                let ok = try_request(addr, "GET", &path, &[("X-Auth-Token", &t)], b"")
                    .is_ok_and(|r| r.status == 200 && r.body == bytes(i % 200, size(i % 200)));
                reads.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        })
    };
    // The proxy checks its rings every 5 s; the storage nodes at each pass.
    std::thread::sleep(Duration::from_secs(6));
    let all = [0, 1, 2, n3];
    let first = c.run_everywhere("object-replicator", &all);
    let moved: u64 = first
        .iter()
        .map(|r| r["handoff_partitions"].as_u64().unwrap())
        .sum();
    assert!(moved > 0, "no partition moved: {first:?}");
    c.run_everywhere("db-replicator", &all);
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    assert!(reads.load(Ordering::Relaxed) > 100);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "reads failed during the move"
    );

    // Every object is on each of its new primaries, and the old places
    // that are now handoffs were emptied.
    for i in 0..200u64 {
        let name = format!("obj-{i}");
        let (part, primaries) = c.placement("object", &["AUTH_test", "c", &name]);
        for n in primaries {
            let r = request(
                c.nodes[n].object,
                "GET",
                &format!("/d1/{part}/AUTH_test/c/{name}"),
                &[],
                b"",
            );
            assert!(
                r.status == 200 && r.body == bytes(i, size(i)),
                "{name} on node {n}"
            );
        }
    }
    for r in c.run_everywhere("object-replicator", &all) {
        assert_eq!(r["handoff_partitions"], 0, "{r}");
        assert_eq!(r["failures"], 0, "{r}");
    }
}

#[test]
fn expired_objects_leave_every_replica_and_the_listing() {
    let c = Cluster::with_config(MANUAL_WORKERS, "");
    let t = c.token();
    put(&c, &t, "c", b"");
    let r = request(
        c.addr,
        "PUT",
        "/v1/AUTH_test/c/brief",
        &[("X-Auth-Token", &t), ("X-Delete-After", "1")],
        b"soon gone",
    );
    assert_eq!(r.status, 201);
    put(&c, &t, "c/stays", b"here");
    std::thread::sleep(Duration::from_millis(2100));
    let reports = c.run_everywhere("expirer", &[0, 1, 2]);
    let expired: u64 = reports.iter().map(|r| r["expired"].as_u64().unwrap()).sum();
    assert_eq!(expired, 3, "{reports:?}");
    // Every replica wrote the same tombstone: their hashes agree.
    let stamps: Vec<Option<String>> = (0..3)
        .map(|n| {
            let r = direct(&c, n, "HEAD", "brief");
            assert_eq!(r.status, 404);
            r.header("x-backend-timestamp").map(str::to_string)
        })
        .collect();
    assert!(
        stamps[0].is_some() && stamps.iter().all(|s| *s == stamps[0]),
        "{stamps:?}"
    );
    for r in c.run_everywhere("object-replicator", &[0, 1, 2]) {
        assert_eq!(r["partitions_synced"], 0, "{r}");
    }
    let l = request(
        c.addr,
        "GET",
        "/v1/AUTH_test/c",
        &[("X-Auth-Token", &t)],
        b"",
    );
    assert_eq!(l.text(), "stays\n");
    assert_eq!(l.header("x-container-object-count"), Some("1"));
}

#[test]
fn status_and_dispersion_show_a_missing_node() {
    let mut c = Cluster::with_config(MANUAL_WORKERS, "");
    let rings = c.rings.to_str().unwrap().to_string();
    let auth = format!("http://{}/auth/v1.0", c.addr);
    let dispersion = |step: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_stratus"))
            .args(["dispersion", step, "--rings", &rings, "--coverage", "5"])
            .env("ST_AUTH", &auth)
            .env("ST_USER", "test:tester")
            .env("ST_KEY", "testing")
            .output()
            .unwrap()
    };
    let out = dispersion("populate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dispersion("report");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("100.00% of object copies found (39 of 39)"),
        "{text}"
    );
    assert!(text.contains("100.00% of container copies found"), "{text}");

    c.nodes[1].kill9();
    let out = dispersion("report");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("66.67% of object copies found (26 of 39)"),
        "{text}"
    );
    assert!(
        text.contains("There were 13 partitions missing 1 copies."),
        "{text}"
    );
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_stratus"))
        .args(["status", "--rings", &rings])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(
        !status.status.success() && shown.contains("UNREACHABLE"),
        "{shown}"
    );

    c.nodes[1].restart();
    assert!(dispersion("report").status.success());
    let json = stratus(&["status", "--rings", &rings, "--run", "auditor", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for (_, node) in v.as_object().unwrap() {
        assert_eq!(node["devices"][0]["mounted"], true);
        assert_eq!(node["workers"]["auditor"]["passes"], 1);
    }
}

#[test]
fn old_tombstones_and_deleted_containers_are_reclaimed_without_coming_back() {
    let c = Cluster::with_config(&format!("{MANUAL_WORKERS}reclaim_age_secs = 2\n"), "");
    let t = c.token();
    put(&c, &t, "c", b"");
    put(&c, &t, "c/o", b"short-lived");
    put(&c, &t, "gone", b"");
    for path in ["c/o", "gone"] {
        let r = request(
            c.addr,
            "DELETE",
            &format!("/v1/AUTH_test/{path}"),
            &[("X-Auth-Token", &t)],
            b"",
        );
        assert_eq!(r.status, 204, "{path}");
    }
    // Young tombstones are kept (and would be pushed to a replica lacking them).
    let young = c.run_everywhere("object-replicator", &[0, 1, 2]);
    assert!(
        young.iter().all(|r| r["tombstones_reclaimed"] == 0),
        "{young:?}"
    );
    std::thread::sleep(Duration::from_millis(2500));
    let sum = |rs: &[serde_json::Value], k: &str| -> u64 {
        rs.iter().map(|r| r[k].as_u64().unwrap()).sum()
    };
    let objects = c.run_everywhere("object-replicator", &[0, 1, 2]);
    assert_eq!(sum(&objects, "tombstones_reclaimed"), 3, "{objects:?}");
    let dbs = c.run_everywhere("db-replicator", &[0, 1, 2]);
    assert_eq!(sum(&dbs, "reclaimed"), 3, "{dbs:?}");
    // Nothing brings them back: every node has forgotten them.
    let again = c.run_everywhere("object-replicator", &[0, 1, 2]);
    assert_eq!(
        sum(&again, "tombstones_pushed") + sum(&again, "partitions"),
        0,
        "{again:?}"
    );
    let (cpart, _) = c.placement("container", &["AUTH_test", "gone"]);
    for n in 0..3 {
        let r = request(
            c.nodes[n].container,
            "HEAD",
            &format!("/d1/{cpart}/AUTH_test/gone"),
            &[],
            b"",
        );
        assert_eq!(r.status, 404);
        assert_eq!(
            r.header("x-backend-timestamp"),
            None,
            "node {n} still knows the container"
        );
    }
    assert_eq!(
        direct(&c, 0, "HEAD", "o").header("x-backend-timestamp"),
        None
    );
}
