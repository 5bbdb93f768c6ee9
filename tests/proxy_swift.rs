//! End-to-end tests of the proxy with the real python-swiftclient (from
//! the project's .venv) against `stratus up`, and of quorum behaviour with
//! storage nodes killed, against separate `stratus storage` processes.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{bytes, request, try_request, Cluster, Up};

#[test]
fn python_swiftclient_round_trip() {
    let up = Up::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let stat = up.swift(&["stat"], w);
    assert!(
        stat.contains("Account: AUTH_test") && stat.contains("Containers: 0"),
        "{stat}"
    );

    // Files and a directory tree, some above the storage node's inline size.
    std::fs::create_dir_all(w.join("tree/sub")).unwrap();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("a.txt", b"hello stratus\n".to_vec()),
        ("tree/b.bin", bytes(1, 300_000)),
        ("tree/sub/c.bin", bytes(2, 3 * 1024 * 1024 + 7)),
        ("tree/sub/d.json", b"{}".to_vec()),
    ];
    for (name, data) in &files {
        std::fs::write(w.join(name), data).unwrap();
    }
    up.swift(&["upload", "photos", "a.txt", "tree"], w);
    let listing = up.swift(&["list", "photos"], w);
    assert_eq!(
        listing,
        "a.txt\ntree/b.bin\ntree/sub/c.bin\ntree/sub/d.json\n"
    );
    assert_eq!(
        up.swift(&["list", "photos", "--prefix", "tree/sub/"], w),
        "tree/sub/c.bin\ntree/sub/d.json\n"
    );
    assert_eq!(
        up.swift(&["list", "photos", "--delimiter", "/"], w),
        "a.txt\ntree/\n"
    );
    assert_eq!(up.swift(&["list"], w), "photos\n");

    let out = w.join("out");
    std::fs::create_dir_all(&out).unwrap();
    up.swift(
        &["download", "photos", "--output-dir", out.to_str().unwrap()],
        w,
    );
    for (name, data) in &files {
        assert!(
            std::fs::read(out.join(name)).unwrap() == *data,
            "{name} differs after download"
        );
    }

    up.swift(&["post", "-m", "color:blue", "photos", "a.txt"], w);
    let stat = up.swift(&["stat", "photos", "a.txt"], w);
    assert!(stat.contains("Meta Color: blue"), "{stat}");
    assert!(stat.contains("Content Type: text/plain"), "{stat}");
    // Copy within and across containers keeps data and metadata.
    up.swift(
        &[
            "copy",
            "--destination",
            "/backup/a-copy.txt",
            "photos",
            "a.txt",
        ],
        w,
    );
    up.swift(
        &["copy", "--destination", "/photos/a2.txt", "photos", "a.txt"],
        w,
    );
    let copy = w.join("copy");
    up.swift(
        &[
            "download",
            "backup",
            "a-copy.txt",
            "-o",
            copy.to_str().unwrap(),
        ],
        w,
    );
    assert_eq!(std::fs::read(&copy).unwrap(), b"hello stratus\n");
    assert!(up
        .swift(&["stat", "photos", "a2.txt"], w)
        .contains("Meta Color: blue"));
    up.swift(&["delete", "photos", "a2.txt"], w);
    up.swift(&["delete", "backup"], w);
    up.swift(&["post", "-m", "owner:me", "photos"], w);
    assert!(up.swift(&["stat", "photos"], w).contains("Meta Owner: me"));

    // A 50 MiB file in 8 MiB segments (a dynamic large object).
    let big = bytes(3, 50 * 1024 * 1024);
    std::fs::write(w.join("big.bin"), &big).unwrap();
    up.swift(
        &[
            "upload",
            "--use-dlo",
            "--segment-size",
            "8388608",
            "large",
            "big.bin",
        ],
        w,
    );
    let stat = up.swift(&["stat", "large", "big.bin"], w);
    assert!(stat.contains("Manifest: large_segments/big.bin/"), "{stat}");
    assert!(stat.contains("Content Length: 52428800"), "{stat}");
    let back = w.join("big.back");
    up.swift(
        &["download", "large", "big.bin", "-o", back.to_str().unwrap()],
        w,
    );
    assert!(
        std::fs::read(&back).unwrap() == big,
        "segmented object differs after download"
    );
    let t = up.token();
    let r = request(
        up.proxy,
        "GET",
        "/v1/AUTH_test/large/big.bin",
        &[("X-Auth-Token", &t), ("Range", "bytes=8388600-8388615")],
        b"",
    );
    assert_eq!(
        (r.status, r.body.as_slice()),
        (206, &big[8_388_600..8_388_616])
    );
    up.swift(&["delete", "large", "big.bin"], w);
    assert_eq!(up.swift(&["list", "large_segments"], w), "");
    up.swift(&["delete", "large"], w);
    up.swift(&["delete", "large_segments"], w);

    let stat = up.swift(&["stat"], w);
    assert!(stat.contains("Containers: 1"), "{stat}");
    up.swift(&["delete", "photos", "a.txt"], w);
    assert_eq!(
        up.swift(&["list", "photos"], w),
        "tree/b.bin\ntree/sub/c.bin\ntree/sub/d.json\n"
    );
    up.swift(&["delete", "photos"], w);
    assert_eq!(up.swift(&["list"], w), "");
}

#[test]
fn swift_errors_and_housekeeping() {
    let up = Up::start();
    let p = up.proxy;
    let token = up.token();
    let t = token.as_str();
    // Every answer carries a transaction id.
    let r = request(p, "GET", "/v1/AUTH_test", &[], b"");
    assert_eq!(r.status, 401);
    assert!(r.text().starts_with("<html><h1>Unauthorized</h1>"));
    assert!(r.header("x-trans-id").is_some_and(|v| v.starts_with("tx")));
    assert_eq!(
        request(
            p,
            "GET",
            "/v1/AUTH_test",
            &[("X-Auth-Token", "AUTH_tkforged")],
            b""
        )
        .status,
        401
    );
    assert_eq!(
        request(p, "GET", "/v1/AUTH_other", &[("X-Auth-Token", t)], b"").status,
        403
    );
    assert_eq!(
        request(
            p,
            "GET",
            "/auth/v1.0",
            &[("X-Auth-User", "test:tester"), ("X-Auth-Key", "wrong")],
            b""
        )
        .status,
        401
    );
    let info: serde_json::Value =
        serde_json::from_slice(&request(p, "GET", "/info", &[], b"").body).unwrap();
    assert_eq!(info["swift"]["max_object_name_length"], 1024);

    assert_eq!(
        request(p, "PUT", "/v1/AUTH_test/c", &[("X-Auth-Token", t)], b"").status,
        201
    );
    assert_eq!(
        request(p, "PUT", "/v1/AUTH_test/c", &[("X-Auth-Token", t)], b"").status,
        202
    );
    let long = format!("/v1/AUTH_test/c/{}", "o".repeat(1025));
    let r = request(p, "PUT", &long, &[("X-Auth-Token", t)], b"x");
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "Object name length of 1025 longer than 1024")
    );
    assert_eq!(
        request(
            p,
            "PUT",
            "/v1/AUTH_test/nope/o",
            &[("X-Auth-Token", t)],
            b"x"
        )
        .status,
        404
    );
    let r = request(
        p,
        "PUT",
        "/v1/AUTH_test/c/o.json",
        &[
            ("X-Auth-Token", t),
            ("ETag", "0123456789abcdef0123456789abcdef"),
        ],
        b"{}",
    );
    assert_eq!(r.status, 422);
    let r = request(
        p,
        "PUT",
        "/v1/AUTH_test/c/o.json",
        &[("X-Auth-Token", t), ("X-Delete-After", "3600")],
        b"{}",
    );
    assert_eq!(r.status, 201);
    let r = request(
        p,
        "HEAD",
        "/v1/AUTH_test/c/o.json",
        &[("X-Auth-Token", t)],
        b"",
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("x-delete-at").is_some());
    let r = request(
        p,
        "GET",
        "/v1/AUTH_test/c/o.json",
        &[("X-Auth-Token", t), ("Range", "bytes=5-9")],
        b"",
    );
    assert_eq!(r.status, 416);
    let r = request(
        p,
        "GET",
        "/v1/AUTH_test/c/o.json",
        &[("X-Auth-Token", t), ("Range", "bytes=1-1")],
        b"",
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &b"}"[..]));
    assert_eq!(
        request(p, "DELETE", "/v1/AUTH_test/c", &[("X-Auth-Token", t)], b"").status,
        409
    );
    assert_eq!(
        request(
            p,
            "DELETE",
            "/v1/AUTH_test/c/o.json",
            &[("X-Auth-Token", t)],
            b""
        )
        .status,
        204
    );
    assert_eq!(
        request(
            p,
            "DELETE",
            "/v1/AUTH_test/c/o.json",
            &[("X-Auth-Token", t)],
            b""
        )
        .status,
        404
    );
    let huge = "x".repeat(9_000);
    let r = try_request(
        p,
        "GET",
        "/v1/AUTH_test",
        &[("X-Auth-Token", t), ("X-Huge", &huge)],
        b"",
    );
    let status = r.as_ref().map(|r| r.status).ok();
    assert!(
        status.is_none_or(|s| s == 431 || s == 400),
        "huge headers accepted: {status:?}"
    );
    assert_eq!(request(p, "GET", "/healthcheck", &[], b"").status, 200);
}

#[test]
fn quorum_survives_one_node_down_and_refuses_with_two() {
    let mut c = Cluster::start();
    let p = c.addr;
    let token = c.token();
    let t = token.as_str();
    assert_eq!(
        request(p, "PUT", "/v1/AUTH_test/c", &[("X-Auth-Token", t)], b"").status,
        201
    );
    let put = |name: &str, seed: u64| {
        request(
            p,
            "PUT",
            &format!("/v1/AUTH_test/c/{name}"),
            &[("X-Auth-Token", t)],
            &bytes(seed, 2000),
        )
        .status
    };
    let get = |name: &str| {
        request(
            p,
            "GET",
            &format!("/v1/AUTH_test/c/{name}"),
            &[("X-Auth-Token", t)],
            b"",
        )
    };
    for i in 0..20 {
        assert_eq!(put(&format!("before-{i}"), i), 201);
    }
    c.nodes[0].kill9();
    for i in 0..20 {
        assert_eq!(
            put(&format!("one-down-{i}"), 100 + i),
            201,
            "PUT with one node down"
        );
        let r = get(&format!("before-{i}"));
        assert!(
            r.status == 200 && r.body == bytes(i, 2000),
            "GET with one node down"
        );
    }
    c.nodes[1].kill9();
    let mut refused = 0;
    for i in 0..10 {
        let s = put(&format!("two-down-{i}"), 200 + i);
        assert!(s == 503 || s == 201, "{s}");
        refused += usize::from(s == 503);
    }
    assert_eq!(refused, 10, "PUTs were accepted without a quorum");
    c.nodes[0].restart();
    c.nodes[1].restart();
    for i in 0..20u64 {
        let r = get(&format!("before-{i}"));
        assert!(r.status == 200 && r.body == bytes(i, 2000));
        let r = get(&format!("one-down-{i}"));
        assert!(
            r.status == 200 && r.body == bytes(100 + i, 2000),
            "acknowledged PUT lost"
        );
    }
}

#[test]
fn container_acls_grant_reads_listings_and_writes() {
    let c = Cluster::start();
    let p = c.addr;
    let login = |user: &str, key: &str| {
        let r = request(
            p,
            "GET",
            "/auth/v1.0",
            &[("X-Auth-User", user), ("X-Auth-Key", key)],
            b"",
        );
        r.header("x-auth-token").unwrap().to_string()
    };
    let (owner, bob) = (
        login("test:tester", "testing"),
        login("other:bob", "bobkey"),
    );
    let (o, b) = (owner.as_str(), bob.as_str());
    assert_eq!(
        request(
            p,
            "PUT",
            "/v1/AUTH_test/shared",
            &[("X-Auth-Token", o)],
            b""
        )
        .status,
        201
    );
    assert_eq!(
        request(
            p,
            "PUT",
            "/v1/AUTH_test/shared/doc",
            &[("X-Auth-Token", o)],
            b"data"
        )
        .status,
        201
    );
    let obj = |tok: Option<&str>| {
        let h: Vec<(&str, &str)> = tok.map(|t| vec![("X-Auth-Token", t)]).unwrap_or_default();
        request(p, "GET", "/v1/AUTH_test/shared/doc", &h, b"").status
    };
    let list = |tok: Option<&str>| {
        let h: Vec<(&str, &str)> = tok.map(|t| vec![("X-Auth-Token", t)]).unwrap_or_default();
        request(p, "GET", "/v1/AUTH_test/shared", &h, b"").status
    };
    assert_eq!((obj(None), obj(Some(b)), list(Some(b))), (401, 403, 403));
    assert_eq!(
        request(p, "GET", "/v1/AUTH_test", &[("X-Auth-Token", b)], b"").status,
        403
    );
    let post = |acl: (&str, &str)| {
        request(
            p,
            "POST",
            "/v1/AUTH_test/shared",
            &[("X-Auth-Token", o), acl],
            b"",
        )
        .status
    };

    assert_eq!(post(("X-Container-Read", ".r:*")), 204);
    assert_eq!((obj(None), list(None)), (200, 401));
    assert_eq!(post(("X-Container-Read", ".r:*,.rlistings")), 204);
    assert_eq!(list(None), 200);
    assert_eq!(post(("X-Container-Read", "other:bob")), 204);
    assert_eq!((obj(None), obj(Some(b)), list(Some(b))), (401, 200, 200));

    let put = |tok: &str| {
        request(
            p,
            "PUT",
            "/v1/AUTH_test/shared/bobs",
            &[("X-Auth-Token", tok)],
            b"hi",
        )
        .status
    };
    assert_eq!(put(b), 403);
    assert_eq!(post(("X-Container-Write", "other")), 204);
    assert_eq!(put(b), 201);
    assert_eq!(
        request(
            p,
            "DELETE",
            "/v1/AUTH_test/shared/bobs",
            &[("X-Auth-Token", b)],
            b""
        )
        .status,
        204
    );
    // Writing objects does not let bob change the container itself.
    assert_eq!(
        request(
            p,
            "POST",
            "/v1/AUTH_test/shared",
            &[("X-Auth-Token", b)],
            b""
        )
        .status,
        403
    );
    assert_eq!(
        request(
            p,
            "GET",
            "/v1/AUTH_test/shared/doc",
            &[("X-Auth-Token", "AUTH_tkforged")],
            b""
        )
        .status,
        401
    );
}

/// A node that accepts connections but never answers costs each request
/// the node timeout only until it has `error_limit` errors; then the proxy
/// skips it and reads go straight to the other replicas.
#[test]
fn a_hung_node_is_error_limited() {
    // The cluster's node timeout is 3 s.
    let c = Cluster::with_config("", "error_limit = 2\nerror_suppression_secs = 60\n");
    let p = c.addr;
    let token = c.token();
    let h = [("X-Auth-Token", token.as_str())];
    assert_eq!(request(p, "PUT", "/v1/AUTH_test/c", &h, b"").status, 201);
    for i in 0..12 {
        let path = format!("/v1/AUTH_test/c/o{i}");
        assert_eq!(request(p, "PUT", &path, &h, &bytes(i, 100)).status, 201);
    }
    c.nodes[0].freeze(true);
    let mut slow = 0;
    for i in 0..12 {
        let started = Instant::now();
        let r = request(p, "GET", &format!("/v1/AUTH_test/c/o{i}"), &h, b"");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, bytes(i, 100));
        if started.elapsed() >= Duration::from_millis(2500) {
            slow += 1;
        }
    }
    c.nodes[0].freeze(false);
    // Each timeout is one error; after two the node is skipped.
    assert!(slow <= 2, "{slow} reads waited for the hung node");
}

/// Container and account quotas (the account's set by a reseller admin
/// only), and accounts made and removed by a reseller admin.
#[test]
fn quotas_and_account_management() {
    let c = Cluster::with_config("", "allow_account_management = true\n");
    let t = c.token();
    let admin = c.token_of("reseller:admin", "adminkey");
    let send = |method: &str, path: &str, token: &str, headers: &[(&str, &str)], body: &[u8]| {
        let mut h = vec![("X-Auth-Token", token)];
        h.extend_from_slice(headers);
        request(c.addr, method, path, &h, body)
    };
    let quota = [
        ("X-Container-Meta-Quota-Bytes", "10"),
        ("X-Container-Meta-Quota-Count", "2"),
    ];
    assert_eq!(send("PUT", "/v1/AUTH_test/q", &t, &quota, b"").status, 201);
    assert_eq!(
        send("PUT", "/v1/AUTH_test/q/a", &t, &[], b"123456").status,
        201
    );
    let over = send("PUT", "/v1/AUTH_test/q/b", &t, &[], b"123456");
    assert_eq!(
        (over.status, over.text().as_str()),
        (413, "Upload exceeds quota.")
    );
    assert_eq!(
        send("PUT", "/v1/AUTH_test/q/b", &t, &[], b"1234").status,
        201
    );
    assert_eq!(
        send("PUT", "/v1/AUTH_test/q/c", &t, &[], b"").status,
        413,
        "count"
    );
    let bad = [("X-Container-Meta-Quota-Bytes", "lots")];
    assert_eq!(send("POST", "/v1/AUTH_test/q", &t, &bad, b"").status, 400);

    // The account's quota: not the account owner's to set.
    let aq = [("X-Account-Meta-Quota-Bytes", "100")];
    assert_eq!(send("POST", "/v1/AUTH_test", &t, &aq, b"").status, 403);
    assert_eq!(send("POST", "/v1/AUTH_test", "", &aq, b"").status, 401);
    assert_eq!(send("POST", "/v1/AUTH_test", &admin, &aq, b"").status, 204);
    assert_eq!(send("PUT", "/v1/AUTH_test/big", &t, &[], b"").status, 201);
    let body = vec![7u8; 200];
    assert_eq!(
        send("PUT", "/v1/AUTH_test/big/x", &t, &[], &body).status,
        413
    );
    let lifted = [("X-Account-Meta-Quota-Bytes", "")];
    assert_eq!(
        send("POST", "/v1/AUTH_test", &admin, &lifted, b"").status,
        204
    );
    assert_eq!(
        send("PUT", "/v1/AUTH_test/big/x", &t, &[], &body).status,
        201
    );

    // Accounts made and removed by the reseller admin only.
    assert_eq!(send("PUT", "/v1/AUTH_fresh", &t, &[], b"").status, 403);
    assert_eq!(send("PUT", "/v1/AUTH_fresh", &admin, &[], b"").status, 201);
    assert_eq!(send("HEAD", "/v1/AUTH_fresh", &admin, &[], b"").status, 204);
    assert_eq!(send("DELETE", "/v1/AUTH_fresh", &t, &[], b"").status, 403);
    assert_eq!(
        send("DELETE", "/v1/AUTH_fresh", &admin, &[], b"").status,
        204
    );
    drop(c);
    let plain = Cluster::start();
    let admin = plain.token_of("reseller:admin", "adminkey");
    let r = request(
        plain.addr,
        "PUT",
        "/v1/AUTH_fresh",
        &[("X-Auth-Token", &admin)],
        b"",
    );
    assert_eq!(r.status, 405, "account management is off by default");
}
