//! End-to-end tests of the Swift middleware features against `stratus up`
//! with python-swiftclient, curl and raw HTTP: TempURL, FormPost (and, as
//! they land, quotas, bulk operations, static large objects, versioning).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{request, tool_ok, Up};

/// The v1 login of `stratus.env` (ST_*): swift's own account.
fn st_env(up: &Up) -> Vec<(String, String)> {
    up.env_of("ST_")
}

/// `swift stat`'s account name.
fn account(up: &Up, dir: &std::path::Path) -> String {
    let stat = tool_ok("swift", &st_env(up), &["stat"], dir);
    stat.lines()
        .find_map(|l| l.trim().strip_prefix("Account: "))
        .unwrap()
        .to_string()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn tempurls_from_swift_tempurl() {
    let up = Up::start();
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let st = st_env(&up);
    let swift = |args: &[&str]| tool_ok("swift", &st, args, w);
    let acct = account(&up, w);
    std::fs::create_dir_all(w.join("dir")).unwrap();
    std::fs::write(w.join("dir/report.txt"), b"quarterly numbers").unwrap();
    swift(&["upload", "docs", "dir/report.txt"]);
    let path = format!("/v1/{acct}/docs/dir/report.txt");
    let tempurl = |args: &[&str]| swift(&[&["tempurl"], args].concat()).trim().to_string();
    let get = |url: &str| request(up.proxy, "GET", url, &[], b"");

    // No key yet: nothing opens.
    let url = tempurl(&["GET", "60", &path, "secret"]);
    assert_eq!(get(&url).status, 401);
    swift(&["post", "-m", "Temp-URL-Key:secret"]);
    let r = get(&url);
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"quarterly numbers"[..])
    );
    assert!(
        r.header("content-disposition")
            .unwrap()
            .starts_with("attachment; filename=\"report.txt\""),
        "{:?}",
        r.header("content-disposition")
    );
    let inline = get(&format!("{url}&inline"));
    assert_eq!(inline.header("content-disposition"), Some("inline"));
    let named = get(&format!("{url}&filename=q3.txt"));
    assert!(named
        .header("content-disposition")
        .unwrap()
        .contains("filename=\"q3.txt\""));
    assert_eq!(request(up.proxy, "HEAD", &url, &[], b"").status, 200);
    // Only that method, that object, that signature, that key.
    assert_eq!(request(up.proxy, "DELETE", &url, &[], b"").status, 401);
    assert_eq!(request(up.proxy, "PUT", &url, &[], b"x").status, 401);
    let other = url.replace("report.txt", "other.txt");
    assert_eq!(get(&other).status, 401);
    let forged = url.replace("temp_url_sig=", "temp_url_sig=0");
    assert_eq!(get(&forged).status, 401);
    assert_eq!(get(&tempurl(&["GET", "60", &path, "wrong"])).status, 401);
    let r = get(&format!("{path}?temp_url_sig=abc"));
    assert_eq!(r.status, 401);
    assert!(r.text().contains("Temp URL invalid"), "{}", r.text());
    // Expired, by an absolute time in the past.
    let past = (now() - 10).to_string();
    assert_eq!(
        get(&tempurl(&["--absolute", "GET", &past, &path, "secret"])).status,
        401
    );
    // Other digests and forms of the expiry.
    for extra in [
        &["--digest", "sha1"][..],
        &["--digest", "sha512"],
        &["--iso8601"],
    ] {
        let url = tempurl(&[extra, &["GET", "60", &path, "secret"]].concat());
        assert_eq!(get(&url).status, 200, "{extra:?} {url}");
    }
    // A PUT URL uploads (and is no GET URL).
    let put_path = format!("/v1/{acct}/docs/uploaded.bin");
    let put_url = tempurl(&["PUT", "60", &put_path, "secret"]);
    assert_eq!(
        request(up.proxy, "PUT", &put_url, &[], b"via tempurl").status,
        201
    );
    assert_eq!(get(&put_url).status, 401);
    assert_eq!(
        swift(&["download", "docs", "uploaded.bin", "-o", "-"]),
        "via tempurl"
    );
    // A PUT URL makes no manifest that could reach other objects.
    let manifest = format!("{put_url}&multipart-manifest=put");
    let slo = br#"[{"path":"/docs/dir/report.txt"}]"#;
    assert_eq!(request(up.proxy, "PUT", &manifest, &[], slo).status, 401);
    let dlo = [("X-Object-Manifest", "docs/dir/")];
    assert_eq!(request(up.proxy, "PUT", &put_url, &dlo, b"").status, 401);
    // Prefix-based: any object under the prefix.
    let prefix_url = tempurl(&[
        "--prefix-based",
        "GET",
        "60",
        &format!("/v1/{acct}/docs/dir/"),
        "secret",
    ]);
    let (_, query) = prefix_url.split_once('?').unwrap();
    assert_eq!(get(&format!("{path}?{query}")).status, 200);
    assert_eq!(
        get(&format!("/v1/{acct}/docs/uploaded.bin?{query}")).status,
        401
    );
    // Restricted to an address range: loopback is in 127.0.0.0/8 only.
    let ok_ip = tempurl(&["--ip-range", "127.0.0.0/8", "GET", "60", &path, "secret"]);
    assert_eq!(get(&ok_ip).status, 200);
    let far = tempurl(&["--ip-range", "10.0.0.0/8", "GET", "60", &path, "secret"]);
    assert_eq!(get(&far).status, 401);
    // A container's own key works for its objects; the account's second key too.
    swift(&["post", "-m", "Temp-URL-Key:ckey", "docs"]);
    assert_eq!(get(&tempurl(&["GET", "60", &path, "ckey"])).status, 200);
    swift(&["post", "-m", "Temp-URL-Key-2:second"]);
    assert_eq!(get(&tempurl(&["GET", "60", &path, "second"])).status, 200);
    // The keys themselves stay private to the account's owners.
    assert_eq!(get(&format!("/v1/{acct}")).status, 401);
}

/// An HTML form's signature, as the page's server would compute it.
fn form_signature(
    key: &str,
    path: &str,
    redirect: &str,
    size: u64,
    count: u64,
    expires: u64,
) -> String {
    use hmac::{Hmac, Mac};
    let mut m = <Hmac<sha1::Sha1> as Mac>::new_from_slice(key.as_bytes()).unwrap();
    m.update(format!("{path}\n{redirect}\n{size}\n{count}\n{expires}").as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// `curl -F` of a form: (status, Location).
fn curl_form(url: &str, fields: &[(&str, String)], cwd: &std::path::Path) -> (u16, String) {
    let mut args = vec![
        "-s".to_string(),
        "-o".into(),
        "/dev/null".into(),
        "-w".into(),
        "%{http_code} %{redirect_url}".into(),
    ];
    for (k, v) in fields {
        args.push("-F".into());
        args.push(format!("{k}={v}"));
    }
    args.push(url.into());
    let out = std::process::Command::new("curl")
        .args(&args)
        .current_dir(cwd)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, location) = text.split_once(' ').unwrap_or((&text, ""));
    (code.parse().unwrap_or(0), location.to_string())
}

#[test]
fn formpost_uploads_from_curl() {
    let up = Up::start();
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let st = st_env(&up);
    let swift = |args: &[&str]| tool_ok("swift", &st, args, w);
    let acct = account(&up, w);
    swift(&["post", "forms"]);
    swift(&["post", "-m", "Temp-URL-Key:formkey"]);
    std::fs::write(w.join("a.txt"), b"first file").unwrap();
    std::fs::write(w.join("b.bin"), common::bytes(9, 300_000)).unwrap();
    std::fs::write(w.join("big.bin"), common::bytes(3, 5000)).unwrap();
    let path = format!("/v1/{acct}/forms/up/");
    let url = format!("http://{}{path}", up.proxy);
    let redirect = "https://app.example.com/done";
    let expires = now() + 300;
    let form = |size: u64, count: u64, expires: u64, files: &[&str], sig: Option<String>| {
        let sig =
            sig.unwrap_or_else(|| form_signature("formkey", &path, redirect, size, count, expires));
        let mut fields = vec![
            ("redirect", redirect.to_string()),
            ("max_file_size", size.to_string()),
            ("max_file_count", count.to_string()),
            ("expires", expires.to_string()),
            ("signature", sig),
        ];
        for (i, f) in files.iter().enumerate() {
            fields.push(if i == 0 {
                ("file1", format!("@{f}"))
            } else {
                ("file2", format!("@{f}"))
            });
        }
        curl_form(&url, &fields, w)
    };
    let (code, location) = form(1_000_000, 2, expires, &["a.txt", "b.bin"], None);
    assert_eq!(code, 303, "{location}");
    assert_eq!(location, format!("{redirect}?status=201&message="));
    assert_eq!(
        swift(&["download", "forms", "up/a.txt", "-o", "-"]),
        "first file"
    );
    swift(&["download", "forms", "up/b.bin", "-o", "b.back"]);
    assert_eq!(
        std::fs::read(w.join("b.back")).unwrap(),
        common::bytes(9, 300_000)
    );
    // Limits: a file over max_file_size, more files than max_file_count.
    let (code, location) = form(1000, 2, expires, &["big.bin"], None);
    assert_eq!(code, 303);
    assert!(
        location.ends_with("status=400&message=max_file_size%20exceeded"),
        "{location}"
    );
    let listed = swift(&["list", "forms"]);
    assert!(
        !listed.contains("big.bin"),
        "an oversized file was stored: {listed}"
    );
    let (_, location) = form(1_000_000, 1, expires, &["a.txt", "b.bin"], None);
    assert!(location.contains("max_file_count%20exceeded"), "{location}");
    // Expired, forged, or signed for another path: 401, nothing stored.
    std::fs::write(w.join("c.txt"), b"never").unwrap();
    assert_eq!(form(1_000_000, 2, now() - 1, &["c.txt"], None).0, 401);
    assert_eq!(
        form(1_000_000, 2, expires, &["c.txt"], Some("0".repeat(40))).0,
        401
    );
    let other = form_signature(
        "formkey",
        &format!("/v1/{acct}/forms/"),
        redirect,
        1_000_000,
        2,
        expires,
    );
    assert_eq!(form(1_000_000, 2, expires, &["c.txt"], Some(other)).0, 401);
    assert!(!swift(&["list", "forms"]).contains("c.txt"));
    // Garbage that claims to be a form: 400, never a 500.
    let r = request(
        up.proxy,
        "POST",
        &path,
        &[("content-type", "multipart/form-data; boundary=zz")],
        b"--zz\r\nContent-Disposition: form-data; name=\"expires\"\r\n\r\nnot the end",
    );
    assert_eq!(r.status, 400, "{}", r.text());
}

/// `n` small objects `<prefix><i>` in `container`, written by 8 threads.
fn fill(up: &Up, token: &str, path: &str, n: usize) {
    std::thread::scope(|s| {
        for t in 0..8 {
            s.spawn(move || {
                for i in (t..n).step_by(8) {
                    let r = request(
                        up.proxy,
                        "PUT",
                        &format!("{path}{i}"),
                        &[("X-Auth-Token", token)],
                        b"x",
                    );
                    assert_eq!(r.status, 201);
                }
            });
        }
    });
}

#[test]
fn bulk_delete_of_5000_objects() {
    let up = Up::start();
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let st = st_env(&up);
    let acct = account(&up, w);
    let token = up.token();
    let auth = [("X-Auth-Token", token.as_str())];
    assert_eq!(
        request(up.proxy, "PUT", &format!("/v1/{acct}/many"), &auth, b"").status,
        201
    );
    fill(&up, &token, &format!("/v1/{acct}/many/obj-"), 5000);
    let stat = tool_ok("swift", &st, &["stat", "many"], w);
    assert!(stat.contains("Objects: 5000"), "{stat}");
    // python-swiftclient deletes through ?bulk-delete (advertised in /info).
    tool_ok("swift", &st, &["delete", "many"], w);
    let r = request(up.proxy, "HEAD", &format!("/v1/{acct}/many"), &auth, b"");
    assert_eq!(
        r.status, 404,
        "the container and its 5,000 objects are gone"
    );

    // Raw: JSON results, a missing name, a container that is not empty.
    for c in ["keep", "gone"] {
        let path = format!("/v1/{acct}/{c}");
        assert_eq!(request(up.proxy, "PUT", &path, &auth, b"").status, 201);
        let obj = format!("{path}/o%20b");
        assert_eq!(request(up.proxy, "PUT", &obj, &auth, b"x").status, 201);
    }
    let body = b"/gone/o%20b\n/gone\n/gone/never\n/keep\n";
    let r = request(
        up.proxy,
        "POST",
        &format!("/v1/{acct}?bulk-delete"),
        &[
            ("X-Auth-Token", token.as_str()),
            ("Accept", "application/json"),
            ("Content-Type", "text/plain"),
        ],
        body,
    );
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_str(r.text().trim()).unwrap();
    assert_eq!(v["Number Not Found"], 1, "{v}");
    assert_eq!(v["Response Status"], "400 Bad Request", "{v}");
    assert_eq!(v["Errors"], serde_json::json!([["/keep", "409 Conflict"]]));
    // Objects go before containers: /gone went with its object.
    let r = request(up.proxy, "HEAD", &format!("/v1/{acct}/gone"), &auth, b"");
    assert_eq!(r.status, 404);
    let gone = request(
        up.proxy,
        "GET",
        &format!("/v1/{acct}/gone/o%20b"),
        &auth,
        b"",
    );
    assert_eq!(gone.status, 404);
    // Without a token: nothing.
    let r = request(
        up.proxy,
        "POST",
        &format!("/v1/{acct}?bulk-delete"),
        &[],
        b"/keep\n",
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        request(up.proxy, "HEAD", &format!("/v1/{acct}/keep"), &auth, b"").status,
        204
    );
}

#[test]
fn static_large_objects() {
    let up = Up::start();
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let st = st_env(&up);
    let swift = |args: &[&str]| tool_ok("swift", &st, args, w);
    let acct = account(&up, w);
    let token = up.token();
    let auth = [("X-Auth-Token", token.as_str())];

    // python-swiftclient's SLO upload of 100 MiB in 8 MiB segments.
    let data = common::bytes(11, 100 * 1024 * 1024);
    std::fs::write(w.join("big.bin"), &data).unwrap();
    swift(&[
        "upload",
        "--use-slo",
        "--segment-size",
        "8M",
        "vids",
        "big.bin",
    ]);
    let head = request(
        up.proxy,
        "HEAD",
        &format!("/v1/{acct}/vids/big.bin"),
        &auth,
        b"",
    );
    assert_eq!(head.header("x-static-large-object"), Some("True"));
    assert_eq!(
        head.header("content-length"),
        Some(data.len().to_string().as_str())
    );
    swift(&["download", "vids", "big.bin", "-o", "back.bin"]);
    assert!(
        std::fs::read(w.join("back.bin")).unwrap() == data,
        "download differs"
    );
    let listing = swift(&["list", "--long", "vids"]);
    assert!(listing.contains(&data.len().to_string()), "{listing}");
    // A range across the first segment boundary.
    let eight = 8 * 1024 * 1024;
    let range = format!("bytes={}-{}", eight - 3, eight + 2);
    let mut h = auth.to_vec();
    h.push(("Range", &range));
    let r = request(
        up.proxy,
        "GET",
        &format!("/v1/{acct}/vids/big.bin"),
        &h,
        b"",
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[eight - 3..eight + 3]);
    // swift delete takes the segments too.
    let segs = swift(&["list", "vids_segments"]);
    assert_eq!(segs.lines().count(), 13, "{segs}");
    swift(&["delete", "vids", "big.bin"]);
    assert_eq!(swift(&["list", "vids_segments"]), "");

    // Raw manifests: segments checked, ETag as Swift computes it.
    let put = |path: &str, body: &[u8]| {
        request(up.proxy, "PUT", &format!("/v1/{acct}/{path}"), &auth, body)
    };
    assert_eq!(put("parts", b"").status, 201);
    assert_eq!(put("parts/a", b"aaaaa").status, 201);
    assert_eq!(put("parts/b", b"bbbbb").status, 201);
    let md5 = |b: &[u8]| hex::encode(<md5::Md5 as md5::Digest>::digest(b));
    let (ea, eb) = (md5(b"aaaaa"), md5(b"bbbbb"));
    let manifest = format!(
        r#"[{{"path":"/parts/a","etag":"{ea}","size_bytes":5}},{{"path":"/parts/b","range":"1-3"}}]"#
    );
    let r = put("parts/whole?multipart-manifest=put", manifest.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    let want_etag = md5(format!("{ea}{eb}:1-3;").as_bytes());
    assert_eq!(r.header("etag"), Some(format!("\"{want_etag}\"").as_str()));
    let get = |path: &str| request(up.proxy, "GET", &format!("/v1/{acct}/{path}"), &auth, b"");
    let r = get("parts/whole");
    assert_eq!((r.status, r.text().as_str()), (200, "aaaaabbb"));
    assert_eq!(r.header("etag"), Some(format!("\"{want_etag}\"").as_str()));
    // Nested: an SLO of the SLO and a plain segment.
    let nested = br#"[{"path":"/parts/whole","range":"3-6"},{"path":"/parts/a"}]"#;
    assert_eq!(
        put("parts/nested?multipart-manifest=put", nested).status,
        201
    );
    assert_eq!(get("parts/nested").text(), "aabbaaaaa");
    // The manifest itself, in Swift's and in the PUT format.
    let m: serde_json::Value =
        serde_json::from_str(&get("parts/whole?multipart-manifest=get").text()).unwrap();
    assert_eq!(m[1]["name"], "/parts/b");
    assert_eq!(m[1]["range"], "1-3");
    let raw: serde_json::Value =
        serde_json::from_str(&get("parts/whole?multipart-manifest=get&format=raw").text()).unwrap();
    assert_eq!(raw[0]["path"], "/parts/a");
    assert_eq!(raw[0]["size_bytes"], 5);

    // Bad manifests: every problem listed, nothing stored.
    let bad = format!(
        r#"[{{"path":"/parts/missing"}},{{"path":"/parts/a","etag":"{eb}"}},{{"path":"/parts/b","size_bytes":9}},{{"path":"/parts/b","range":"7-9"}}]"#
    );
    let r = put("parts/bad?multipart-manifest=put", bad.as_bytes());
    assert_eq!(r.status, 400);
    let text = r.text();
    for e in [
        "/parts/missing, 404 Not Found",
        "/parts/a, Etag Mismatch",
        "/parts/b, Size Mismatch",
        "/parts/b, Unsatisfiable Range",
    ] {
        assert!(text.contains(e), "{e} not in {text}");
    }
    assert_eq!(
        put("parts/bad?multipart-manifest=put", b"{not json").status,
        400
    );
    assert_eq!(put("parts/bad?multipart-manifest=put", b"[]").status, 400);
    assert_eq!(
        put(
            "parts/bad?multipart-manifest=put",
            br#"[{"path":"/parts/a","bogus":1}]"#
        )
        .status,
        400
    );
    assert_eq!(get("parts/bad").status, 404);
    // A segment changed after the manifest: the body ends short.
    assert_eq!(put("parts/a", b"AAAAA").status, 201);
    let r = common::try_request(
        up.proxy,
        "GET",
        &format!("/v1/{acct}/parts/whole"),
        &auth,
        b"",
    );
    assert!(
        r.map_or(true, |r| r.body.len() < 8),
        "a changed segment was served"
    );
    // ?multipart-manifest=delete removes the manifest and its segments.
    let r = request(
        up.proxy,
        "DELETE",
        &format!("/v1/{acct}/parts/whole?multipart-manifest=delete"),
        &[
            ("X-Auth-Token", token.as_str()),
            ("Accept", "application/json"),
        ],
        b"",
    );
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(v["Number Deleted"], 3, "{v}");
    assert_eq!(get("parts/a").status, 404);
    assert_eq!(get("parts/whole").status, 404);
}

#[test]
fn versioned_writes_stack_and_history() {
    let up = Up::start();
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let st = st_env(&up);
    let swift = |args: &[&str]| tool_ok("swift", &st, args, w);
    let upload = |container: &str, text: &str| {
        std::fs::write(w.join("f.txt"), text).unwrap();
        swift(&["upload", container, "f.txt"]);
    };
    let current = |container: &str| {
        let out = common::tool(
            "swift",
            &st,
            &["download", container, "f.txt", "-o", "-"],
            w,
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    // Stack mode: overwrites are kept, deletes bring them back in turn.
    swift(&["post", "archive"]);
    swift(&["post", "-H", "X-Versions-Location: archive", "docs"]);
    for v in ["v1", "v2", "v3"] {
        upload("docs", v);
    }
    let archived = swift(&["list", "archive"]);
    assert_eq!(archived.lines().count(), 2, "{archived}");
    assert!(
        archived.lines().all(|l| l.starts_with("005f.txt/")),
        "{archived}"
    );
    assert_eq!(current("docs").as_deref(), Some("v3"));
    swift(&["delete", "docs", "f.txt"]);
    assert_eq!(current("docs").as_deref(), Some("v2"));
    swift(&["delete", "docs", "f.txt"]);
    assert_eq!(current("docs").as_deref(), Some("v1"));
    assert_eq!(swift(&["list", "archive"]), "");
    swift(&["delete", "docs", "f.txt"]);
    assert_eq!(current("docs"), None);

    // History mode: a delete archives the object and leaves a marker.
    swift(&["post", "hist"]);
    swift(&["post", "-H", "X-History-Location: hist", "log"]);
    upload("log", "h1");
    upload("log", "h2");
    swift(&["delete", "log", "f.txt"]);
    assert_eq!(current("log"), None);
    let kept = swift(&["list", "--long", "hist"]);
    assert_eq!(
        kept.lines().filter(|l| l.contains("005f.txt/")).count(),
        3,
        "{kept}"
    );
    assert!(kept.contains("application/x-deleted"), "{kept}");

    // Both modes at once, or an archive that is not there: refused.
    let both = common::tool(
        "swift",
        &st,
        &[
            "post",
            "-H",
            "X-Versions-Location: a",
            "-H",
            "X-History-Location: b",
            "bad",
        ],
        w,
    );
    assert!(!both.status.success());
    swift(&["post", "-H", "X-Versions-Location: nowhere", "orphan"]);
    upload("orphan", "o1");
    std::fs::write(w.join("f.txt"), "o2").unwrap();
    let r = common::tool("swift", &st, &["upload", "orphan", "f.txt"], w);
    assert!(
        !r.status.success(),
        "an overwrite without its archive container went through"
    );
    assert_eq!(current("orphan").as_deref(), Some("o1"));
    // Versioning off again: overwrites just replace.
    swift(&["post", "-H", "X-Remove-Versions-Location: x", "orphan"]);
    upload("orphan", "o3");
    assert_eq!(current("orphan").as_deref(), Some("o3"));
}

/// Makes `name` in `dir`: a tar archive of `members` (path, text), written
/// by Python's tarfile with `mode` ("w", "w:gz", "w:bz2").
fn make_archive(dir: &std::path::Path, name: &str, mode: &str, members: &[(String, String)]) {
    let spec = format!("{name}.json");
    std::fs::write(dir.join(&spec), serde_json::to_string(members).unwrap()).unwrap();
    let script = format!(
        "import io, json, tarfile\nwith tarfile.open({name:?}, {mode:?}) as t:\n    for p, d in json.load(open({spec:?})):\n        b = d.encode()\n        i = tarfile.TarInfo(p)\n        i.size = len(b)\n        t.addfile(i, io.BytesIO(b))\n"
    );
    tool_ok("python", &[], &["-c", &script], dir);
}

#[test]
fn extract_archives_and_their_bombs() {
    let up = Up::start();
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let st = st_env(&up);
    let swift = |args: &[&str]| tool_ok("swift", &st, args, w);
    let acct = account(&up, w);
    let token = up.token();
    let put = |path: &str, file: &str| {
        let body = std::fs::read(w.join(file)).unwrap();
        let r = request(
            up.proxy,
            "PUT",
            &format!("/v1/{acct}{path}"),
            &[
                ("X-Auth-Token", token.as_str()),
                ("Accept", "application/json"),
            ],
            &body,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        serde_json::from_str::<serde_json::Value>(r.text().trim()).unwrap()
    };
    let m = |p: &str, d: &str| (p.to_string(), d.to_string());
    // At the account: the first path component is the container.
    make_archive(
        w,
        "a.tar.gz",
        "w:gz",
        &[
            m("photos/2026/a.txt", "aaa"),
            m("docs/b.txt", "bb"),
            m("./docs/c.txt", "c"),
        ],
    );
    let v = put("?extract-archive=tar.gz", "a.tar.gz");
    assert_eq!(v["Number Files Created"], 3, "{v}");
    assert_eq!(v["Response Status"], "201 Created");
    assert_eq!(
        swift(&["download", "photos", "2026/a.txt", "-o", "-"]),
        "aaa"
    );
    assert_eq!(swift(&["list", "docs"]), "b.txt\nc.txt\n");
    // Into a container under a prefix, from bzip2 and plain tar.
    make_archive(w, "b.tar.bz2", "w:bz2", &[m("x/y.txt", "why")]);
    let v = put("/docs/pre?extract-archive=tar.bz2", "b.tar.bz2");
    assert_eq!(v["Number Files Created"], 1, "{v}");
    assert_eq!(
        swift(&["download", "docs", "pre/x/y.txt", "-o", "-"]),
        "why"
    );
    make_archive(w, "c.tar", "w", &[m("plain.txt", "p")]);
    assert_eq!(
        put("/docs?extract-archive=tar", "c.tar")["Number Files Created"],
        1
    );
    // Path traversal: refused, listed, nothing stored for it.
    make_archive(
        w,
        "evil.tar",
        "w",
        &[
            m("../../etc/passwd", "root"),
            m("docs/../x", "x"),
            m("docs/ok.txt", "ok"),
        ],
    );
    let v = put("?extract-archive=tar", "evil.tar");
    assert_eq!(v["Number Files Created"], 1, "{v}");
    assert_eq!(v["Response Status"], "400 Bad Request");
    assert_eq!(v["Errors"].as_array().unwrap().len(), 2, "{v}");
    assert!(!swift(&["list"]).contains(".."));
    // Too many files: the first 10,000 only, and the answer says so.
    let many: Vec<(String, String)> = (0..10_001)
        .map(|i| (format!("flood/{i}"), String::new()))
        .collect();
    make_archive(w, "many.tar", "w", &many);
    let v = put("?extract-archive=tar", "many.tar");
    assert_eq!(v["Number Files Created"], 10_000, "{v}");
    assert_eq!(v["Response Status"], "413 Payload Too Large", "{v}");
    // Not an archive, or an unknown format.
    std::fs::write(w.join("junk.tar"), vec![7u8; 5000]).unwrap();
    assert_eq!(
        put("?extract-archive=tar", "junk.tar")["Response Status"],
        "400 Bad Request"
    );
    let r = request(
        up.proxy,
        "PUT",
        &format!("/v1/{acct}?extract-archive=zip"),
        &[("X-Auth-Token", token.as_str())],
        b"PK",
    );
    assert_eq!(r.status, 400);
    let r = request(
        up.proxy,
        "PUT",
        &format!("/v1/{acct}?extract-archive=tar"),
        &[],
        b"",
    );
    assert_eq!(r.status, 401);
}
