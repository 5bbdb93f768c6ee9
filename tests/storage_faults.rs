//! Fault tests of the storage node: kill -9 under concurrent writes, bytes
//! flipped on disk, a device that fills up. Both engines.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{bytes, request, temp_node, try_request, ts, StorageNode, ENGINES};

fn node(engine: &str) -> (tempfile::TempDir, StorageNode) {
    temp_node(engine, "")
}

/// What an object may hold: `Some(seed, len)` data or `None` (absent).
type State = Option<(u64, usize)>;
/// Per object: state after its last acknowledged write, and the state an
/// in-flight write would leave.
type History = Arc<Mutex<HashMap<String, (State, Option<State>)>>>;

#[test]
fn kill_9_during_concurrent_writes_loses_no_acknowledged_write() {
    for engine in ENGINES {
        let (_d, mut n) = node(engine);
        let addr = n.object;
        let stop = Arc::new(AtomicBool::new(false));
        // Per object: the state after its last acknowledged write, plus the
        // state an in-flight (unacknowledged) write would leave.
        let history: History = Arc::default();
        let mut threads = Vec::new();
        for t in 0..8u64 {
            let (stop, history) = (stop.clone(), history.clone());
            threads.push(std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let name = format!("t{t}-o{}", i % 25);
                    let seed = t * 1_000_000 + i;
                    let next: State = if i.is_multiple_of(5) {
                        None
                    } else {
                        let len = if i.is_multiple_of(11) { 300_000 + (seed as usize % 1_500_000) } else { 1 + (seed as usize * 37) % 20_000 };
                        Some((seed, len))
                    };
                    history.lock().unwrap().entry(name.clone()).or_insert((None, None)).1 = Some(next);
                    let path = format!("/d1/{}/acct/cont/{name}", (i % 25) % 4);
                    let t = ts();
                    let r = match next {
                        Some((seed, len)) => try_request(addr, "PUT", &path, &[("X-Timestamp", &t)], &bytes(seed, len)),
                        None => try_request(addr, "DELETE", &path, &[("X-Timestamp", &t)], b""),
                    };
                    let acked = matches!(r, Ok(ref r) if r.status == 201 || r.status == 204 || r.status == 404);
                    if !acked {
                        return; // the node is gone; this write stays "in flight"
                    }
                    let mut h = history.lock().unwrap();
                    let e = h.get_mut(&name).unwrap();
                    *e = (next, None);
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(2500));
        n.kill9();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        n.restart();
        let history = history.lock().unwrap();
        let mut checked = 0;
        for (name, (acked, in_flight)) in history.iter() {
            let part = name.rsplit('o').next().unwrap().parse::<u64>().unwrap() % 4;
            let r = request(
                n.object,
                "GET",
                &format!("/d1/{part}/acct/cont/{name}"),
                &[],
                b"",
            );
            let found = (r.status == 200).then_some(r.body);
            let matches = |s: &State| match (s, &found) {
                (None, None) => true,
                (Some((seed, len)), Some(b)) => b.len() == *len && *b == bytes(*seed, *len),
                _ => false,
            };
            assert!(
                matches(acked) || in_flight.as_ref().is_some_and(matches),
                "{engine}: {name} lost its acknowledged state {acked:?} (in flight {in_flight:?}), found {:?}",
                found.map(|b| b.len())
            );
            checked += 1;
        }
        assert!(
            checked >= 100,
            "{engine}: only {checked} objects written before the kill"
        );
        eprintln!("{engine}: {checked} objects verified after kill -9");
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn flipped_bytes_are_caught_and_quarantined() {
    for engine in ENGINES {
        let (_d, mut n) = node(engine);
        let o = n.object;
        let small = bytes(10, 5000);
        let large = bytes(11, 2_500_000);
        for (name, data) in [("small", &small), ("large", &large), ("other", &small)] {
            assert_eq!(
                request(
                    o,
                    "PUT",
                    &format!("/d1/1/a/c/{name}"),
                    &[("X-Timestamp", &ts())],
                    data
                )
                .status,
                201
            );
        }
        // Flip one byte inside the small object's record in the log...
        let seg_dir = n.devices.join("d1/objects/segments");
        let seg = std::fs::read_dir(&seg_dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut log = std::fs::read(&seg).unwrap();
        let at = find(&log, &small[1000..1100]).unwrap() + 10;
        log[at] ^= 0x40;
        std::fs::write(&seg, &log).unwrap();
        // ...and one inside the second chunk of the large object's file.
        let large_dir = n.devices.join("d1/objects/large");
        let lf = std::fs::read_dir(&large_dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut lb = std::fs::read(&lf).unwrap();
        lb[4096 + 1_500_000] ^= 1;
        std::fs::write(&lf, &lb).unwrap();

        assert_eq!(
            request(o, "GET", "/d1/1/a/c/small", &[], b"").status,
            404,
            "{engine}"
        );
        // The corrupt chunk is not the first: the body is cut short.
        let r = try_request(o, "GET", "/d1/1/a/c/large", &[], b"");
        assert!(
            r.map_or(true, |r| r.body != large),
            "{engine}: corrupt data served"
        );
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(request(o, "GET", "/d1/1/a/c/large", &[], b"").status, 404);
        assert_eq!(request(o, "HEAD", "/d1/1/a/c/small", &[], b"").status, 404);
        let quarantined = std::fs::read_dir(n.devices.join("d1/objects/quarantined"))
            .unwrap()
            .count();
        assert_eq!(quarantined, 2);
        // Another object in the same log is untouched, also after a restart.
        assert_eq!(request(o, "GET", "/d1/1/a/c/other", &[], b"").body, small);
        n.kill9();
        n.restart();
        assert_eq!(
            request(n.object, "GET", "/d1/1/a/c/other", &[], b"").body,
            small
        );
        assert_eq!(
            request(n.object, "GET", "/d1/1/a/c/small", &[], b"").status,
            404
        );
        // A fresh copy (as the replicator would push) is accepted.
        assert_eq!(
            request(
                n.object,
                "PUT",
                "/d1/1/a/c/small",
                &[("X-Timestamp", &ts())],
                &small
            )
            .status,
            201
        );
        assert_eq!(
            request(n.object, "GET", "/d1/1/a/c/small", &[], b"").body,
            small
        );
    }
}

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_device_answers_507_and_keeps_what_it_has() {
    for engine in ENGINES {
        let dir = tempfile::tempdir().unwrap();
        let devices = dir.path().join("node");
        let dev = devices.join("d1");
        std::fs::create_dir_all(&dev).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=112m", "tmpfs"])
            .arg(&dev)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipping: cannot mount a small tmpfs here (needs root)");
            return;
        }
        let _m = Mount(dev.clone());
        let mut n = StorageNode::start(&devices, engine, "");
        let mut stored = Vec::new();
        let mut full = false;
        // The default 64 MiB reserve leaves ~48 MiB for objects.
        for i in 0..400u64 {
            let len = if i % 2 == 0 { 1_400_000 } else { 60_000 };
            let r = request(
                n.object,
                "PUT",
                &format!("/d1/1/a/c/o{i}"),
                &[("X-Timestamp", &ts())],
                &bytes(i, len),
            );
            match r.status {
                201 => stored.push((i, len)),
                507 => {
                    full = true;
                    break;
                }
                s => panic!("{engine}: unexpected {s} on a filling device: {}", r.text()),
            }
        }
        assert!(full, "{engine}: device never filled");
        assert!(stored.len() > 5);
        // Smaller writes that still fail are 507 too, never 500.
        for i in 0..20u64 {
            let s = request(
                n.object,
                "PUT",
                &format!("/d1/1/a/c/s{i}"),
                &[("X-Timestamp", &ts())],
                &bytes(i, 100_000),
            )
            .status;
            assert!(s == 201 || s == 507, "{engine}: {s}");
        }
        let check = |n: &StorageNode| {
            for (i, len) in &stored {
                let r = request(n.object, "GET", &format!("/d1/1/a/c/o{i}"), &[], b"");
                assert!(
                    r.status == 200 && r.body == bytes(*i, *len),
                    "{engine}: o{i} damaged on a full device"
                );
            }
        };
        check(&n);
        n.kill9();
        n.restart();
        check(&n);
    }
}

#[test]
fn compaction_reclaims_overwritten_space_and_keeps_live_objects() {
    for engine in ENGINES {
        let dir = tempfile::tempdir().unwrap();
        let devices = dir.path().join("node");
        std::fs::create_dir_all(devices.join("d1")).unwrap();
        let mut n = StorageNode::start(
            &devices,
            engine,
            "segment_bytes = 65536\ncompact_interval_secs = 1\n",
        );
        let seg_dir = devices.join("d1/objects/segments");
        let log_bytes = || -> u64 {
            std::fs::read_dir(&seg_dir)
                .unwrap()
                .map(|e| e.unwrap().metadata().unwrap().len())
                .sum()
        };
        // Three generations of 100 objects, then half of them deleted, and
        // one metadata update that still points at old data.
        for generation in 0..3u64 {
            for i in 0..100u64 {
                let r = request(
                    n.object,
                    "PUT",
                    &format!("/d1/{}/a/c/o{i}", i % 3),
                    &[("X-Timestamp", &ts())],
                    &bytes(generation * 1000 + i, 3000),
                );
                assert_eq!(r.status, 201);
            }
        }
        assert_eq!(
            request(
                n.object,
                "POST",
                "/d1/0/a/c/o99",
                &[("X-Timestamp", &ts()), ("X-Object-Meta-K", "v")],
                b""
            )
            .status,
            202
        );
        for i in (0..100u64).step_by(2) {
            assert_eq!(
                request(
                    n.object,
                    "DELETE",
                    &format!("/d1/{}/a/c/o{i}", i % 3),
                    &[("X-Timestamp", &ts())],
                    b""
                )
                .status,
                204
            );
        }
        let before = log_bytes();
        assert!(before > 900_000, "{engine}: {before}");
        // Roll the head segment forward so the old ones are all sealed.
        for i in 0..30u64 {
            request(
                n.object,
                "PUT",
                "/d1/9/a/c/filler",
                &[("X-Timestamp", &ts())],
                &bytes(i, 3000),
            );
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while log_bytes() > before / 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "{engine}: log never shrank from {before} (now {})",
                log_bytes()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let check = |n: &StorageNode| {
            for i in 0..100u64 {
                let r = request(
                    n.object,
                    "GET",
                    &format!("/d1/{}/a/c/o{i}", i % 3),
                    &[],
                    b"",
                );
                if i % 2 == 0 {
                    assert_eq!(r.status, 404, "{engine}: o{i} came back");
                } else {
                    assert!(
                        r.status == 200 && r.body == bytes(2000 + i, 3000),
                        "{engine}: o{i} lost in compaction"
                    );
                }
            }
            assert_eq!(
                request(n.object, "HEAD", "/d1/0/a/c/o99", &[], b"").header("x-object-meta-k"),
                Some("v")
            );
        };
        check(&n);
        n.kill9();
        n.restart();
        check(&n);
        eprintln!("{engine}: log {before} -> {} bytes", log_bytes());
    }
}
