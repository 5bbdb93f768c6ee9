//! End-to-end tests of the storage node's container and account servers:
//! rows from object servers, listings, totals, queued updates, metadata.
#![allow(clippy::unwrap_used)]

mod common;

use common::{request, temp_node as node, ts, ENGINES};
use md5::{Digest, Md5};

fn md5_hex(b: &[u8]) -> String {
    hex::encode(Md5::digest(b))
}

#[test]
fn containers_accounts_and_listings() {
    for engine in ENGINES {
        let (_d, n) = node(engine, "account_report_interval_ms = 100\n");
        let (o, c, a) = (n.object, n.container, n.account);
        let acct_hdrs = [
            ("X-Account-Host", a.to_string()),
            ("X-Account-Device", "d1".into()),
            ("X-Account-Partition", "2".into()),
        ];
        let mut h: Vec<(&str, &str)> = acct_hdrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let t = ts();
        h.push(("X-Timestamp", &t));
        h.push(("X-Container-Meta-Owner", "me"));
        assert_eq!(
            request(c, "PUT", "/d1/5/acct/cont", &h, b"").status,
            201,
            "{engine}"
        );
        assert_eq!(
            request(c, "PUT", "/d1/5/acct/cont", &[("X-Timestamp", &ts())], b"").status,
            202
        );
        let r = request(c, "HEAD", "/d1/5/acct/cont", &[], b"");
        assert_eq!(
            (r.status, r.header("x-container-meta-owner")),
            (204, Some("me"))
        );

        // Objects report their rows to the container server.
        let ch = [
            ("X-Container-Host", c.to_string()),
            ("X-Container-Device", "d1".into()),
            ("X-Container-Partition", "5".into()),
        ];
        let names = ["a", "b/1", "b/2", "b/3/x", "c", "d/1", "é"];
        for (i, name) in names.iter().enumerate() {
            let t = ts();
            let mut h: Vec<(&str, &str)> = ch.iter().map(|(k, v)| (*k, v.as_str())).collect();
            h.push(("X-Timestamp", &t));
            h.push(("Content-Type", "text/plain"));
            let enc = name.replace('é', "%C3%A9");
            assert_eq!(
                request(
                    o,
                    "PUT",
                    &format!("/d1/9/acct/cont/{enc}"),
                    &h,
                    &vec![b'x'; i + 1]
                )
                .status,
                201
            );
        }
        let list = |q: &str| request(c, "GET", &format!("/d1/5/acct/cont?{q}"), &[], b"").text();
        assert_eq!(list(""), "a\nb/1\nb/2\nb/3/x\nc\nd/1\né\n");
        assert_eq!(list("delimiter=/"), "a\nb/\nc\nd/\né\n");
        // Paging with a subdir as marker moves on past it.
        assert_eq!(list("delimiter=/&marker=b/"), "c\nd/\né\n");
        assert_eq!(list("prefix=b/&delimiter=/"), "b/1\nb/2\nb/3/\n");
        assert_eq!(list("marker=b/2&end_marker=d"), "b/3/x\nc\n");
        assert_eq!(list("limit=2&reverse=true"), "é\nd/1\n");
        assert_eq!(list("reverse=on&delimiter=/&marker=c"), "b/\na\n");
        assert_eq!(list("path=b"), "b/1\nb/2\n");
        let r = request(c, "GET", "/d1/5/acct/cont?format=json&prefix=c", &[], b"");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v[0]["name"], "c");
        assert_eq!(v[0]["bytes"], 5);
        assert_eq!(v[0]["hash"], md5_hex(b"xxxxx"));
        assert_eq!(v[0]["content_type"], "text/plain");
        let r = request(
            c,
            "GET",
            "/d1/5/acct/cont?prefix=b/&delimiter=/",
            &[("Accept", "application/xml")],
            b"",
        );
        assert!(
            r.text()
                .contains("<container name=\"cont\"><object><name>b/1</name>"),
            "{}",
            r.text()
        );
        assert!(r
            .text()
            .contains("<subdir name=\"b/3/\"><name>b/3/</name></subdir>"));
        assert_eq!(
            request(c, "GET", "/d1/5/acct/cont?prefix=zzz", &[], b"").status,
            204
        );
        assert_eq!(
            request(c, "GET", "/d1/5/acct/cont?limit=10001", &[], b"").status,
            412
        );
        assert_eq!(
            request(c, "GET", "/d1/5/acct/cont?limit=-1", &[], b"").status,
            412
        );
        let r = request(c, "HEAD", "/d1/5/acct/cont", &[], b"");
        assert_eq!(r.header("x-container-object-count"), Some("7"));
        assert_eq!(r.header("x-container-bytes-used"), Some("28"));

        // A non-empty container cannot be deleted.
        assert_eq!(
            request(
                c,
                "DELETE",
                "/d1/5/acct/cont",
                &[("X-Timestamp", &ts())],
                b""
            )
            .status,
            409
        );
        // The account learns the container and, soon after, its totals.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let r = request(a, "GET", "/d1/2/acct?format=json", &[], b"");
            if r.status == 200 && r.header("x-account-object-count") == Some("7") {
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                assert_eq!(
                    (
                        v[0]["name"].as_str(),
                        v[0]["count"].as_i64(),
                        v[0]["bytes"].as_i64()
                    ),
                    (Some("cont"), Some(7), Some(28))
                );
                assert_eq!(r.header("x-account-container-count"), Some("1"));
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "account totals never arrived: {:?}",
                r.headers
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // Delete every object (rows go too), then the container.
        for name in names {
            let t = ts();
            let mut h: Vec<(&str, &str)> = ch.iter().map(|(k, v)| (*k, v.as_str())).collect();
            h.push(("X-Timestamp", &t));
            let enc = name.replace('é', "%C3%A9");
            assert_eq!(
                request(o, "DELETE", &format!("/d1/9/acct/cont/{enc}"), &h, b"").status,
                204
            );
        }
        assert_eq!(request(c, "GET", "/d1/5/acct/cont", &[], b"").status, 204);
        let t = ts();
        let mut h: Vec<(&str, &str)> = acct_hdrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        h.push(("X-Timestamp", &t));
        assert_eq!(request(c, "DELETE", "/d1/5/acct/cont", &h, b"").status, 204);
        assert_eq!(request(c, "HEAD", "/d1/5/acct/cont", &[], b"").status, 404);
        let r = request(a, "HEAD", "/d1/2/acct", &[], b"");
        assert_eq!(r.header("x-account-container-count"), Some("0"));
        // Account metadata.
        assert_eq!(
            request(
                a,
                "POST",
                "/d1/2/acct",
                &[("X-Timestamp", &ts()), ("X-Account-Meta-Quota", "9")],
                b""
            )
            .status,
            204
        );
        assert_eq!(
            request(a, "HEAD", "/d1/2/acct", &[], b"").header("x-account-meta-quota"),
            Some("9")
        );
    }
}

#[test]
fn unreachable_container_updates_are_queued_and_replayed() {
    let (_d, n) = node(
        "auto",
        "updater_interval_secs = 1\ncontainer_update_timeout_ms = 300\n",
    );
    let (o, c) = (n.object, n.container);
    // The container does not exist yet, so the update fails and is queued.
    let ch = [
        ("X-Container-Host", c.to_string()),
        ("X-Container-Device", "d1".into()),
        ("X-Container-Partition", "5".into()),
    ];
    let t = ts();
    let mut h: Vec<(&str, &str)> = ch.iter().map(|(k, v)| (*k, v.as_str())).collect();
    h.push(("X-Timestamp", &t));
    assert_eq!(
        request(o, "PUT", "/d1/9/acct/later/obj", &h, b"data").status,
        201
    );
    assert_eq!(
        request(c, "PUT", "/d1/5/acct/later", &[("X-Timestamp", &ts())], b"").status,
        201
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while request(c, "GET", "/d1/5/acct/later", &[], b"").text() != "obj\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "queued update was never replayed"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn container_metadata_limits_hold_across_posts() {
    let (_d, n) = node("auto", "");
    let c = n.container;
    assert_eq!(
        request(c, "PUT", "/d1/1/a/c", &[("X-Timestamp", &ts())], b"").status,
        201
    );
    let v = "v".repeat(200);
    let names: Vec<String> = (0..30)
        .map(|i| format!("X-Container-Meta-K{i:02}"))
        .collect();
    let mut accepted = 0;
    for name in &names {
        let s = request(
            c,
            "POST",
            "/d1/1/a/c",
            &[("X-Timestamp", &ts()), (name.as_str(), v.as_str())],
            b"",
        )
        .status;
        if s == 204 {
            accepted += 1;
        } else {
            assert_eq!(s, 400);
        }
    }
    // 4096 bytes of names and values fit 19 items of 4 + 200 bytes.
    assert_eq!(accepted, 4096 / 204);
    let r = request(c, "HEAD", "/d1/1/a/c", &[], b"");
    assert_eq!(
        r.headers
            .iter()
            .filter(|(k, _)| k.starts_with("x-container-meta-"))
            .count(),
        accepted
    );
    // Removing one (empty value) makes room again.
    assert_eq!(
        request(
            c,
            "POST",
            "/d1/1/a/c",
            &[("X-Timestamp", &ts()), ("X-Container-Meta-K00", "")],
            b""
        )
        .status,
        204
    );
    assert_eq!(
        request(
            c,
            "POST",
            "/d1/1/a/c",
            &[("X-Timestamp", &ts()), ("X-Container-Meta-New", "x")],
            b""
        )
        .status,
        204
    );
}

#[test]
fn container_totals_reach_the_account_after_a_crash() {
    let (_d, mut n) = node("auto", "account_report_interval_ms = 600000\n");
    let (o, c, a) = (n.object, n.container, n.account);
    let acct = [
        ("X-Account-Host", a.to_string()),
        ("X-Account-Device", "d1".into()),
        ("X-Account-Partition", "2".into()),
    ];
    let t = ts();
    let mut h: Vec<(&str, &str)> = acct.iter().map(|(k, v)| (*k, v.as_str())).collect();
    h.push(("X-Timestamp", &t));
    assert_eq!(request(c, "PUT", "/d1/5/acct/cont", &h, b"").status, 201);
    let ch = [
        ("X-Container-Host", c.to_string()),
        ("X-Container-Device", "d1".into()),
        ("X-Container-Partition", "5".into()),
    ];
    for i in 0..5 {
        let t = ts();
        let mut h: Vec<(&str, &str)> = ch.iter().map(|(k, v)| (*k, v.as_str())).collect();
        h.push(("X-Timestamp", &t));
        assert_eq!(
            request(o, "PUT", &format!("/d1/9/acct/cont/o{i}"), &h, b"abc").status,
            201
        );
    }
    // The account heard of the container at its PUT, not of its objects.
    assert_eq!(
        request(a, "HEAD", "/d1/2/acct", &[], b"").header("x-account-object-count"),
        Some("0")
    );
    n.kill9();
    n.write_config("account_report_interval_ms = 100\n");
    n.restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = request(n.account, "HEAD", "/d1/2/acct", &[], b"");
        if r.header("x-account-object-count") == Some("5") {
            assert_eq!(r.header("x-account-bytes-used"), Some("15"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "totals lost in the crash: {:?}",
            r.headers
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
