//! End-to-end tests of the storage node through its real HTTP API, for
//! both disk engines: objects, containers, accounts, listings, bad input.
#![allow(clippy::unwrap_used)]

mod common;

use common::{bytes, request, temp_node as node, ts, ENGINES};
use md5::{Digest, Md5};

fn md5_hex(b: &[u8]) -> String {
    hex::encode(Md5::digest(b))
}

#[test]
fn objects_put_get_head_post_delete() {
    for engine in ENGINES {
        let (_d, n) = node(engine, "");
        let o = n.object;
        let path = "/d1/7/AUTH_a/c/some%20dir/obj";
        let t1 = ts();
        let r = request(
            o,
            "PUT",
            path,
            &[
                ("X-Timestamp", &t1),
                ("Content-Type", "text/plain"),
                ("X-Object-Meta-Color", "blue"),
                ("Content-Disposition", "inline"),
            ],
            b"hello world",
        );
        assert_eq!(r.status, 201, "{engine}");
        assert_eq!(r.header("etag"), Some(md5_hex(b"hello world").as_str()));

        let r = request(o, "GET", path, &[], b"");
        assert_eq!((r.status, r.text().as_str()), (200, "hello world"));
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.header("x-object-meta-color"), Some("blue"));
        assert_eq!(r.header("content-disposition"), Some("inline"));
        assert_eq!(r.header("x-timestamp"), Some(t1.as_str()));
        let r = request(o, "HEAD", path, &[], b"");
        assert_eq!((r.status, r.header("content-length")), (200, Some("11")));

        // An older or equal PUT loses.
        let r = request(o, "PUT", path, &[("X-Timestamp", &t1)], b"older");
        assert_eq!(r.status, 409);
        assert_eq!(r.header("x-backend-timestamp"), Some(t1.as_str()));

        // POST replaces user metadata, keeps the data.
        let t2 = ts();
        let r = request(
            o,
            "POST",
            path,
            &[("X-Timestamp", &t2), ("X-Object-Meta-Shape", "round")],
            b"",
        );
        assert_eq!(r.status, 202);
        let r = request(o, "GET", path, &[], b"");
        assert_eq!(
            (
                r.header("x-object-meta-color"),
                r.header("x-object-meta-shape")
            ),
            (None, Some("round"))
        );
        assert_eq!(
            (r.text().as_str(), r.header("x-timestamp")),
            ("hello world", Some(t2.as_str()))
        );
        assert_eq!(
            request(o, "POST", path, &[("X-Timestamp", &t1)], b"").status,
            409
        );

        // DELETE leaves a tombstone that answers 404 with its timestamp.
        let t3 = ts();
        assert_eq!(
            request(o, "DELETE", path, &[("X-Timestamp", &t3)], b"").status,
            204
        );
        let r = request(o, "GET", path, &[], b"");
        assert_eq!(
            (r.status, r.header("x-backend-timestamp")),
            (404, Some(t3.as_str()))
        );
        assert_eq!(
            request(o, "PUT", path, &[("X-Timestamp", &t2)], b"stale").status,
            409
        );
        assert_eq!(
            request(o, "DELETE", path, &[("X-Timestamp", &ts())], b"").status,
            404
        );
        assert_eq!(
            request(o, "POST", path, &[("X-Timestamp", &ts())], b"").status,
            404
        );

        // Chunked upload, ETag check.
        let body = bytes(1, 5000);
        let r = request(
            o,
            "PUT",
            "/d1/7/AUTH_a/c/chunked",
            &[
                ("X-Timestamp", &ts()),
                ("Transfer-Encoding", "chunked"),
                ("ETag", &md5_hex(&body)),
            ],
            &body,
        );
        assert_eq!(r.status, 201);
        assert_eq!(
            request(o, "GET", "/d1/7/AUTH_a/c/chunked", &[], b"").body,
            body
        );
        let r = request(
            o,
            "PUT",
            "/d1/7/AUTH_a/c/badetag",
            &[
                ("X-Timestamp", &ts()),
                ("ETag", "0123456789abcdef0123456789abcdef"),
            ],
            b"x",
        );
        assert_eq!(r.status, 422);
        assert_eq!(
            request(o, "GET", "/d1/7/AUTH_a/c/badetag", &[], b"").status,
            404
        );

        // Conditional PUT.
        let r = request(
            o,
            "PUT",
            "/d1/7/AUTH_a/c/chunked",
            &[("X-Timestamp", &ts()), ("If-None-Match", "*")],
            b"x",
        );
        assert_eq!(r.status, 412);
    }
}

#[test]
fn large_objects_ranges_and_conditionals() {
    for engine in ENGINES {
        let (_d, n) = node(engine, "");
        let o = n.object;
        let data = bytes(2, 3 * 1024 * 1024 + 12345);
        let etag = md5_hex(&data);
        let path = "/d1/1/a/c/large";
        assert_eq!(
            request(o, "PUT", path, &[("X-Timestamp", &ts())], &data).status,
            201
        );
        let r = request(o, "GET", path, &[], b"");
        assert_eq!((r.status, r.body.len()), (200, data.len()));
        assert!(r.body == data, "{engine}: large object differs");

        // A range across the 1 MiB chunk boundary, a suffix range, several ranges.
        let r = request(o, "GET", path, &[("Range", "bytes=1048570-1048590")], b"");
        assert_eq!(r.status, 206);
        assert_eq!(r.body, &data[1048570..1048591]);
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes 1048570-1048590/{}", data.len()).as_str())
        );
        let r = request(o, "GET", path, &[("Range", "bytes=-100")], b"");
        assert_eq!(r.body, &data[data.len() - 100..]);
        let r = request(
            o,
            "GET",
            path,
            &[("Range", "bytes=0-9,2097150-2097160")],
            b"",
        );
        assert_eq!(r.status, 206);
        let ct = r.header("content-type").unwrap().to_string();
        let boundary = ct.split("boundary=").nth(1).unwrap();
        let text = r.body.clone();
        assert_eq!(
            text.windows(boundary.len())
                .filter(|w| *w == boundary.as_bytes())
                .count(),
            3
        );
        assert!(text.windows(11).any(|w| w == &data[2097150..2097161]));
        let r = request(
            o,
            "GET",
            path,
            &[("Range", &format!("bytes={}-", data.len()))],
            b"",
        );
        assert_eq!(
            (r.status, r.header("content-range")),
            (416, Some(format!("bytes */{}", data.len()).as_str()))
        );
        let r = request(o, "GET", path, &[("Range", "bytes=9-2")], b"");
        assert_eq!(r.status, 200, "malformed ranges are ignored");

        // Conditionals.
        let quoted = format!("\"{etag}\"");
        assert_eq!(
            request(o, "GET", path, &[("If-None-Match", &quoted)], b"").status,
            304
        );
        assert_eq!(
            request(o, "GET", path, &[("If-Match", "\"nope\"")], b"").status,
            412
        );
        assert_eq!(
            request(o, "HEAD", path, &[("If-Match", &quoted)], b"").status,
            200
        );
        let lm = request(o, "HEAD", path, &[], b"")
            .header("last-modified")
            .unwrap()
            .to_string();
        assert_eq!(
            request(o, "GET", path, &[("If-Modified-Since", &lm)], b"").status,
            304
        );
        assert_eq!(
            request(
                o,
                "GET",
                path,
                &[("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")],
                b""
            )
            .status,
            412
        );

        // Overwriting a large object with a small one frees its file.
        assert_eq!(
            request(o, "PUT", path, &[("X-Timestamp", &ts())], b"small").status,
            201
        );
        assert_eq!(request(o, "GET", path, &[], b"").body, b"small");
        let large_dir = n.devices.join("d1/objects/large");
        assert_eq!(std::fs::read_dir(large_dir).unwrap().count(), 0);
    }
}

#[test]
fn expiring_objects_and_replicate() {
    for engine in ENGINES {
        let (_d, n) = node(engine, "");
        let o = n.object;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let at = (now + 2).to_string();
        assert_eq!(
            request(
                o,
                "PUT",
                "/d1/3/a/c/exp",
                &[("X-Timestamp", &ts()), ("X-Delete-At", &at)],
                b"x"
            )
            .status,
            201
        );
        assert_eq!(
            request(o, "GET", "/d1/3/a/c/exp", &[], b"").header("x-delete-at"),
            Some(at.as_str())
        );
        let past = (now - 10).to_string();
        assert_eq!(
            request(
                o,
                "PUT",
                "/d1/3/a/c/p",
                &[("X-Timestamp", &ts()), ("X-Delete-At", &past)],
                b"x"
            )
            .status,
            400
        );
        assert_eq!(
            request(
                o,
                "PUT",
                "/d1/3/a/c/p",
                &[("X-Timestamp", &ts()), ("X-Delete-At", "soon")],
                b"x"
            )
            .status,
            400
        );

        let r = request(o, "REPLICATE", "/d1/3", &[], b"");
        let hashes: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&r.body).unwrap();
        assert_eq!(hashes.len(), 1);
        assert_eq!(request(o, "REPLICATE", "/d1/4", &[], b"").text(), "{}");
        std::thread::sleep(std::time::Duration::from_millis(3100));
        assert_eq!(request(o, "GET", "/d1/3/a/c/exp", &[], b"").status, 404);
    }
}

#[test]
fn bad_requests_get_4xx_and_store_nothing() {
    let (_d, n) = node("auto", "");
    let o = n.object;
    type Case = (&'static str, String, Vec<(&'static str, String)>, u16);
    let cases: Vec<Case> = vec![
        ("PUT", "/d1/1/a/c/o".into(), vec![], 400),
        (
            "PUT",
            "/d1/1/a/c/o".into(),
            vec![("X-Timestamp", "yesterday".into())],
            400,
        ),
        (
            "PUT",
            "/d1/x/a/c/o".into(),
            vec![("X-Timestamp", ts())],
            400,
        ),
        (
            "PUT",
            format!("/d1/1/a/c/{}", "o".repeat(1025)),
            vec![("X-Timestamp", ts())],
            400,
        ),
        (
            "PUT",
            format!("/d1/1/a/{}/o", "c".repeat(257)),
            vec![("X-Timestamp", ts())],
            400,
        ),
        (
            "PUT",
            "/d1/1/a/c/%FF".into(),
            vec![("X-Timestamp", ts())],
            412,
        ),
        (
            "PUT",
            "/d1/1/a/c/o%00".into(),
            vec![("X-Timestamp", ts())],
            412,
        ),
        (
            "PUT",
            "/d1/1/a/c/o".into(),
            vec![
                ("X-Timestamp", ts()),
                (("X-Object-Meta-K"), "v".repeat(257)),
            ],
            400,
        ),
        (
            "PUT",
            "/d1/1/a/c/o".into(),
            vec![
                ("X-Timestamp", ts()),
                (("Content-Length"), "6000000000".into()),
            ],
            413,
        ),
        (
            "PUT",
            "/nodev/1/a/c/o".into(),
            vec![("X-Timestamp", ts())],
            507,
        ),
        ("GET", "/d1".into(), vec![], 400),
        ("PATCH", "/d1/1/a/c/o".into(), vec![], 405),
    ];
    for (m, p, h, want) in cases {
        let h: Vec<(&str, &str)> = h.iter().map(|(a, b)| (*a, b.as_str())).collect();
        let r = request(o, m, &p, &h, b"body");
        assert_eq!(r.status, want, "{m} {}", &p[..p.len().min(60)]);
    }
    assert_eq!(request(o, "GET", "/d1/1/a/c/o", &[], b"").status, 404);
    // Too many metadata items.
    let many: Vec<(String, String)> = (0..91)
        .map(|i| (format!("X-Object-Meta-K{i}"), "v".into()))
        .collect();
    let mut h: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let t = ts();
    h.push(("X-Timestamp", &t));
    assert_eq!(request(o, "PUT", "/d1/1/a/c/o", &h, b"x").status, 400);
    // No length at all.
    let mut s = std::net::TcpStream::connect(o).unwrap();
    use std::io::{Read, Write};
    write!(
        s,
        "PUT /d1/1/a/c/o HTTP/1.1\r\nHost: x\r\nX-Timestamp: {}\r\nConnection: close\r\n\r\n",
        ts()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 411"), "{out}");
}

#[test]
fn client_disconnect_mid_put_leaves_nothing() {
    use std::io::Write;
    for engine in ENGINES {
        let (_d, n) = node(engine, "");
        for (name, sent) in [("small", 1000usize), ("large", 3 << 20)] {
            let mut s = std::net::TcpStream::connect(n.object).unwrap();
            write!(s, "PUT /d1/1/a/c/{name} HTTP/1.1\r\nHost: x\r\nX-Timestamp: {}\r\nContent-Length: 10000000\r\n\r\n", ts()).unwrap();
            s.write_all(&bytes(3, sent)).unwrap();
            drop(s);
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        for name in ["small", "large"] {
            assert_eq!(
                request(n.object, "GET", &format!("/d1/1/a/c/{name}"), &[], b"").status,
                404
            );
        }
        assert_eq!(
            std::fs::read_dir(n.devices.join("d1/objects/large"))
                .unwrap()
                .count(),
            0,
            "{engine}: partial large file left"
        );
    }
}

#[test]
fn garbage_on_the_wire_does_not_hurt() {
    use std::io::{Read, Write};
    let (_d, n) = node("auto", "");
    assert_eq!(
        request(
            n.object,
            "PUT",
            "/d1/1/a/c/keep",
            &[("X-Timestamp", &ts())],
            b"kept"
        )
        .status,
        201
    );
    for seed in 0..50u64 {
        let mut s = std::net::TcpStream::connect(n.object).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut junk = bytes(seed, 1 + (seed as usize * 97) % 3000);
        if seed % 2 == 0 {
            let mut v = b"GET /d1/1/a/c/o HTTP/1.1\r\n".to_vec();
            v.append(&mut junk);
            junk = v;
        }
        let _ = s.write_all(&junk);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
    }
    assert_eq!(
        request(n.object, "GET", "/d1/1/a/c/keep", &[], b"").body,
        b"kept"
    );
}

#[test]
fn bodies_stream_without_holding_objects_in_memory() {
    use std::io::{BufRead, BufReader, Read, Write};
    let (_d, n) = node("auto", "");
    const SIZE: usize = 256 << 20;
    let chunk = bytes(5, 1 << 20);
    let mut s = std::net::TcpStream::connect(n.object).unwrap();
    write!(s, "PUT /d1/1/a/c/huge HTTP/1.1\r\nHost: x\r\nX-Timestamp: {}\r\nContent-Length: {SIZE}\r\nConnection: close\r\n\r\n", ts()).unwrap();
    for _ in 0..SIZE / chunk.len() {
        s.write_all(&chunk).unwrap();
    }
    let mut status = String::new();
    BufReader::new(&s).read_line(&mut status).unwrap();
    assert!(status.contains(" 201 "), "{status}");

    let mut s = std::net::TcpStream::connect(n.object).unwrap();
    write!(
        s,
        "GET /d1/1/a/c/huge HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0usize;
    loop {
        let k = r.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        total += k;
    }
    assert!(total > SIZE, "short body: {total}");
    let peak = n.peak_rss();
    assert!(
        peak < 160 << 20,
        "node peaked at {} MiB moving a 256 MiB object",
        peak >> 20
    );
}

#[test]
fn a_device_that_goes_away_answers_507() {
    let (_d, n) = node("auto", "");
    assert_eq!(
        request(
            n.object,
            "PUT",
            "/d1/1/a/c/o",
            &[("X-Timestamp", &ts())],
            b"x"
        )
        .status,
        201
    );
    let dev = n.devices.join("d1");
    let moved = n.devices.join("d1-pulled");
    std::fs::rename(&dev, &moved).unwrap();
    assert_eq!(
        request(n.object, "GET", "/d1/1/a/c/o", &[], b"").status,
        507
    );
    assert_eq!(
        request(
            n.object,
            "PUT",
            "/d1/1/a/c/p",
            &[("X-Timestamp", &ts())],
            b"x"
        )
        .status,
        507
    );
    assert_eq!(
        request(
            n.container,
            "PUT",
            "/d1/1/a/c",
            &[("X-Timestamp", &ts())],
            b""
        )
        .status,
        507
    );
    std::fs::rename(&moved, &dev).unwrap();
    assert_eq!(request(n.object, "GET", "/d1/1/a/c/o", &[], b"").body, b"x");
}

/// `X-Backend-Footer-V1`: the body's last bytes carry sysmeta known only
/// at its end; the object is the bytes before them, with that sysmeta.
#[test]
fn footers_add_sysmeta_after_the_body() {
    for engine in ENGINES {
        let (_d, n) = node(engine, "");
        let o = n.object;
        for (name, data) in [("small", bytes(3, 100)), ("large", bytes(4, 300_000))] {
            let path = format!("/d1/7/AUTH_a/c/{name}");
            let footer = format!(
                "{:<100}",
                r#"{"X-Object-Sysmeta-S3api-Checksum-Crc32":"AAAAAA=="}"#
            );
            let mut body = data.clone();
            body.extend_from_slice(footer.as_bytes());
            let r = request(
                o,
                "PUT",
                &path,
                &[("X-Timestamp", &ts()), ("X-Backend-Footer-V1", "100")],
                &body,
            );
            assert_eq!(r.status, 201, "{engine} {name}");
            assert_eq!(r.header("etag"), Some(md5_hex(&data).as_str()));
            let r = request(o, "GET", &path, &[], b"");
            assert_eq!(r.body, data, "{engine} {name}");
            assert_eq!(
                r.header("x-object-sysmeta-s3api-checksum-crc32"),
                Some("AAAAAA==")
            );
        }
        // Bad footers: not JSON, not sysmeta, too short a body, too long a
        // length — refused, nothing stored.
        for (footer, len) in [
            ("not json at all".to_string(), "15"),
            (r#"{"X-Object-Meta-Color":"red"}"#.to_string(), "29"),
            ("{}".to_string(), "50"),
            ("{}".to_string(), "999999"),
        ] {
            let path = "/d1/7/AUTH_a/c/bad";
            let r = request(
                o,
                "PUT",
                path,
                &[("X-Timestamp", &ts()), ("X-Backend-Footer-V1", len)],
                footer.as_bytes(),
            );
            assert!((400..500).contains(&r.status), "{footer}: {}", r.status);
            assert_eq!(request(o, "HEAD", path, &[], b"").status, 404);
        }
        // A proxy's digests in the footer: the MD5 is kept as the ETag
        // after the crc32c checks out; a crc that does not match the data,
        // or an ETag the client asked for that is not the MD5, stores nothing.
        let data = bytes(5, 200_000);
        let digests = |crc: u32, etag: &str| {
            let json =
                format!(r#"{{"x-backend-data-crc32c":"{crc:08x}","x-backend-etag":"{etag}"}}"#);
            let mut body = data.clone();
            body.extend_from_slice(format!("{json:<120}").as_bytes());
            body
        };
        let md5 = md5_hex(&data);
        let good_crc = crc32c(&data);
        let cases: [(&str, Vec<u8>, Option<&str>, u16); 4] = [
            ("ok", digests(good_crc, &md5), None, 201),
            ("badcrc", digests(good_crc ^ 1, &md5), None, 422),
            (
                "badetag",
                digests(good_crc, &md5),
                Some("0123456789abcdef0123456789abcdef"),
                422,
            ),
            ("nothex", digests(good_crc, "zz\"<>"), None, 400),
        ];
        for (name, body, client_etag, want) in cases {
            let path = format!("/d1/7/AUTH_a/c/digest-{name}");
            let t = ts();
            let mut headers = vec![
                ("X-Timestamp", t.as_str()),
                ("X-Backend-Footer-V1", "120"),
                ("X-Backend-Etag-In-Footer", "1"),
            ];
            headers.extend(client_etag.map(|e| ("ETag", e)));
            let r = request(o, "PUT", &path, &headers, &body);
            assert_eq!(r.status, want, "{engine} {name}");
            let stored = request(o, "GET", &path, &[], b"");
            if want == 201 {
                assert_eq!(r.header("etag"), Some(md5.as_str()));
                assert_eq!(stored.body, data);
                assert_eq!(stored.header("etag"), Some(md5.as_str()));
            } else {
                assert_eq!(stored.status, 404, "{engine} {name}");
            }
        }
    }
}

fn crc32c(data: &[u8]) -> u32 {
    // Castagnoli, reflected (0x82F63B78), bit by bit: slow and obviously right.
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Malformed replication and recon requests get 4xx answers and change
/// nothing stored.
#[test]
fn bad_replication_requests_are_refused() {
    let (_d, n) = node("auto", "");
    let t = ts();
    let put = request(
        n.object,
        "PUT",
        "/d1/3/a/c/keep",
        &[("X-Timestamp", &t)],
        b"kept",
    );
    assert_eq!(put.status, 201);
    let o = n.object;
    let cases: [(std::net::SocketAddr, &str, &str, &[u8], u16); 9] = [
        (o, "REPLICATE", "/d1", b"not json", 400),
        (o, "REPLICATE", "/d1", br#"{"v":9,"parts":{}}"#, 400),
        (o, "REPLICATE", "/d1/3/zzz", b"", 400),
        (o, "REPLICATE", "/d1/3/1234", b"", 400),
        (o, "REPLICATE", "/nodev", br#"{"v":1,"parts":{}}"#, 507),
        (
            n.container,
            "REPLICATE",
            "/d1/3/a/c",
            b"{\"op\":\"rows\"}",
            400,
        ),
        (
            n.container,
            "REPLICATE",
            "/d1/3/a/c",
            br#"{"op":"rows","v":1,"from":"x","upto":1,"rows":[]}"#,
            404,
        ),
        (o, "POST", "/recon/run/nope", b"", 404),
        (o, "DELETE", "/recon", b"", 405),
    ];
    for (addr, method, path, body, want) in cases {
        let r = request(addr, method, path, &[], body);
        assert_eq!(r.status, want, "{method} {path}");
    }
    let big = vec![b' '; 33 << 20];
    assert_eq!(request(o, "REPLICATE", "/d1", &[], &big).status, 413);
    // The digest of what is stored still differs from a made-up one.
    let r = request(o, "REPLICATE", "/d1", &[], br#"{"v":1,"parts":{"3":"00"}}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"v":1,"differ":[3]}"#);
    assert_eq!(request(o, "GET", "/d1/3/a/c/keep", &[], b"").body, b"kept");
}
