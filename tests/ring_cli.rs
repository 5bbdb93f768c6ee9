//! End-to-end tests of `stratus ring`: the real binary, a temporary
//! directory, swift-ring-builder's commands and exit codes.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use stratus_ring::{Path as RingPath, Ring};

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn builder(&self) -> PathBuf {
        self.dir.path().join("object.builder")
    }

    fn ring(&self) -> PathBuf {
        self.dir.path().join("object.ring")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_stratus"))
            .arg("ring")
            .arg(self.builder())
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs and checks the exit code; returns stdout.
    fn ok(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn three_zones(&self) {
        self.ok(&["create", "8", "3", "1"], 0);
        for z in 1..=3 {
            for d in 1..=2 {
                let dev = format!("r1z{z}-127.0.0.{z}:620{d}/sd{d}");
                self.ok(&["add", &dev, "100"], 0);
            }
        }
    }
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn create_add_rebalance_writes_a_ring_servers_can_load() {
    let d = Dir::new();
    d.three_zones();
    let out = d.ok(&["rebalance", "--seed", "3"], 0);
    assert!(
        out.starts_with("Reassigned 256 (100.00%) partitions."),
        "{out}"
    );
    let ring = Ring::from_bytes(&read(&d.ring())).unwrap();
    assert_eq!(ring.devices().count(), 6);
    let (_, nodes) = ring.get_nodes(RingPath::Object("AUTH_a", "c", "o"));
    let zones: std::collections::BTreeSet<u32> = nodes.map(|n| n.zone).collect();
    assert_eq!(zones.len(), 3, "one replica per zone");

    let summary = d.ok(&[], 0);
    assert!(summary.contains("256 partitions, 3.000000 replicas, 1 regions, 3 zones, 6 devices, 0.00 balance, 0.00 dispersion"), "{summary}");
    assert!(summary.contains("is up-to-date"), "{summary}");
    d.ok(&["validate"], 0);
}

#[test]
fn nothing_to_rebalance_is_a_warning_and_changes_nothing() {
    let d = Dir::new();
    d.three_zones();
    d.ok(&["rebalance", "--seed", "1"], 0);
    let before = read(&d.builder());
    let out = d.ok(&["rebalance"], 1);
    assert!(out.contains("No partitions could be reassigned"), "{out}");
    assert_eq!(read(&d.builder()), before);
}

#[test]
fn min_part_hours_blocks_moves_until_pretended_passed() {
    let d = Dir::new();
    d.three_zones();
    d.ok(&["rebalance", "--seed", "1"], 0);
    d.ok(
        &[
            "add",
            "--region",
            "1",
            "--zone",
            "4",
            "--ip",
            "127.0.0.4",
            "--port",
            "6200",
            "--device",
            "sd1",
            "--weight",
            "100",
        ],
        0,
    );
    // Device changed but min_part_hours keeps every partition where it is,
    // and the new device sits empty: a warning, as swift-ring-builder gives.
    let out = d.ok(&["rebalance", "--seed", "1"], 1);
    assert!(out.starts_with("Reassigned 0 (0.00%)"), "{out}");
    assert!(out.contains("NOTE: Balance of 100.00"), "{out}");
    d.ok(&["pretend_min_part_hours_passed"], 0);
    let out = d.ok(&["rebalance", "--seed", "1"], 0);
    assert!(!out.contains("NOTE"), "{out}");
    assert!(!out.starts_with("Reassigned 0 "), "{out}");
}

#[test]
fn remove_set_weight_set_info_and_search() {
    let d = Dir::new();
    d.three_zones();
    d.ok(&["rebalance", "--seed", "1"], 0);
    d.ok(&["set_weight", "z1-127.0.0.1:6201/sd1", "50"], 0);
    d.ok(&["set_info", "d1", "127.0.0.9:7000/sdz_moved"], 0);
    let found = d.ok(&["search", "/sdz"], 0);
    assert!(
        found.contains("127.0.0.9:7000") && found.contains("moved"),
        "{found}"
    );
    d.ok(&["remove", "d5"], 0);
    d.ok(&["pretend_min_part_hours_passed"], 0);
    d.ok(&["rebalance", "--seed", "2"], 0);
    let ring = Ring::from_bytes(&read(&d.ring())).unwrap();
    assert!(ring.device(5).is_none(), "removed device is gone");
    assert_eq!(ring.device(0).unwrap().weight, 50.0);
    assert_eq!(
        d.ok(&["search", "d5"], 1).trim(),
        "No matching devices found"
    );
}

#[test]
fn bad_arguments_fail_with_one_line_and_leave_the_builder_alone() {
    let d = Dir::new();
    d.three_zones();
    let before = read(&d.builder());
    for args in [
        vec!["add", "r1z1-127.0.0.1/sd9", "100"],
        vec!["add", "r1z1-127.0.0.1:6201/sd1", "100"],
        vec!["add", "r1z9-127.0.0.1:6299/sd9", "-5"],
        vec!["add", "r1z9-127.0.0.1:6299/sd9"],
        vec!["set_weight", "d99", "10"],
        vec!["set_overload", "lots"],
        vec!["set_min_part_hours", "1000"],
        vec!["set_replicas", "0"],
        vec!["remove", ""],
        vec!["frobnicate"],
        vec!["rebalance", "--seed", "x"],
    ] {
        let out = d.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert_eq!(read(&d.builder()), before, "{args:?} changed the builder");
    }
}

#[test]
fn too_few_devices_and_corrupt_builders_are_errors() {
    let d = Dir::new();
    d.ok(&["create", "4", "3", "1"], 0);
    d.ok(&["add", "r1z1-127.0.0.1:6200/sd1", "1"], 0);
    let out = d.run(&["rebalance"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 3 devices"));
    assert!(!d.ring().exists());
    d.ok(&["write_ring"], 2);

    let mut bytes = read(&d.builder());
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(d.builder(), &bytes).unwrap();
    let out = d.run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum"));
}

#[test]
fn same_seed_gives_byte_identical_rings() {
    let (a, b) = (Dir::new(), Dir::new());
    for d in [&a, &b] {
        d.ok(
            &[
                "create",
                "10",
                "3",
                "1",
                "--hash-key",
                "000102030405060708090a0b0c0d0e0f",
            ],
            0,
        );
        for i in 0..8 {
            let dev = format!("r{}z{}-10.0.0.{i}:6200/sd{i}", i % 2 + 1, i % 4 + 1);
            d.ok(&["add", &dev, &(100 + i * 10).to_string()], 0);
        }
        d.ok(&["rebalance", "--seed", "42"], 0);
    }
    assert_eq!(read(&a.ring()), read(&b.ring()));
}
