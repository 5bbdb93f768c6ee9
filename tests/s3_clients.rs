//! End-to-end tests of the S3 API's bucket and object settings (canned
//! ACLs and anonymous access, CORS and browsers' preflights, tagging,
//! GetObjectAttributes, UploadPartCopy, the global bucket namespace)
//! with boto3, and of the other clients people use: s3cmd, the minio
//! Python client (parallel, out-of-order multipart) and `aws s3 sync`
//! with 100 MiB multipart files — each read back byte for byte, also
//! through Swift.
#![allow(clippy::unwrap_used)]

mod common;

use common::{bytes, tool, tool_ok as ok, Up};

const SETTINGS_SCRIPT: &str = r#"
import hashlib, os, urllib.request, urllib.error
end = os.environ["AWS_ENDPOINT_URL"]
def anon(method, path, headers={}):
    req = urllib.request.Request(end + path, method=method, headers=headers)
    try:
        r = urllib.request.urlopen(req)
        return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()

# Canned ACLs: private by default; public-read opens reads (not writes) to anyone.
s3.create_bucket(Bucket="site")
s3.put_object(Bucket="site", Key="index.html", Body=b"<h1>hi</h1>", ContentType="text/html")
s3.put_object(Bucket="site", Key="secret.txt", Body=b"no")
assert anon("GET", "/site/index.html")[0] == 403
assert anon("GET", "/site?list-type=2")[0] == 403
assert [g["Permission"] for g in s3.get_bucket_acl(Bucket="site")["Grants"]] == ["FULL_CONTROL"]
s3.put_bucket_acl(Bucket="site", ACL="public-read")
grants = s3.get_bucket_acl(Bucket="site")["Grants"]
assert any(g["Grantee"].get("URI", "").endswith("/AllUsers") and g["Permission"] == "READ" for g in grants), grants
st, h, body = anon("GET", "/site/index.html")
assert st == 200 and body == b"<h1>hi</h1>" and h["Content-Type"] == "text/html", (st, body)
st, _, body = anon("GET", "/site?list-type=2")
assert st == 200 and b"<Key>secret.txt</Key>" in body, body
assert anon("PUT", "/site/new.txt")[0] == 403
assert anon("DELETE", "/site/index.html")[0] == 403
assert anon("GET", "/site?acl")[0] == 403
assert anon("GET", "/nobody-has-this/x")[0] == 403
s3.put_bucket_acl(Bucket="site", ACL="private")
assert anon("GET", "/site/index.html")[0] == 403
assert code(lambda: s3.put_bucket_acl(Bucket="site", ACL="public-read-write")) == "NotImplemented"
# An object's own ACL.
s3.put_object(Bucket="site", Key="pub.txt", Body=b"public", ACL="public-read", Metadata={"m": "1"})
assert anon("GET", "/site/pub.txt")[2] == b"public"
grants = s3.get_object_acl(Bucket="site", Key="pub.txt")["Grants"]
assert any(g["Permission"] == "READ" for g in grants), grants
s3.put_object_acl(Bucket="site", Key="pub.txt", ACL="private")
assert anon("GET", "/site/pub.txt")[0] == 403
assert s3.head_object(Bucket="site", Key="pub.txt")["Metadata"] == {"m": "1"}
assert code(lambda: s3.get_object_acl(Bucket="site", Key="absent")) == "NoSuchKey"

# CORS: rules stored and shown; preflights answered from them, anonymously.
assert code(lambda: s3.get_bucket_cors(Bucket="site")) == "NoSuchCORSConfiguration"
pre = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
       "Access-Control-Request-Headers": "content-type, x-amz-date"}
assert anon("OPTIONS", "/site/index.html", pre)[0] == 403
s3.put_bucket_cors(Bucket="site", CORSConfiguration={"CORSRules": [
    {"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"],
     "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]})
rules = s3.get_bucket_cors(Bucket="site")["CORSRules"]
assert rules[0]["AllowedOrigins"] == ["https://*.example.com"] and rules[0]["MaxAgeSeconds"] == 600, rules
st, h, _ = anon("OPTIONS", "/site/index.html", pre)
assert st == 200, st
assert h["Access-Control-Allow-Origin"] == "https://app.example.com", dict(h)
assert "PUT" in h["Access-Control-Allow-Methods"] and h["Access-Control-Max-Age"] == "600", dict(h)
assert h["Access-Control-Allow-Headers"] == "content-type, x-amz-date", dict(h)
assert anon("OPTIONS", "/site/index.html", dict(pre, Origin="https://evil.org"))[0] == 403
assert anon("OPTIONS", "/site/index.html", dict(pre, **{"Access-Control-Request-Method": "DELETE"}))[0] == 403
assert anon("OPTIONS", "/site/index.html", {"Origin": "https://app.example.com"})[0] == 400
# An actual (here anonymous, public) request from an allowed origin carries the grant.
s3.put_object_acl(Bucket="site", Key="pub.txt", ACL="public-read")
st, h, _ = anon("GET", "/site/pub.txt", {"Origin": "https://app.example.com"})
assert st == 200 and h["Access-Control-Allow-Origin"] == "https://app.example.com", dict(h)
assert h["Access-Control-Expose-Headers"] == "ETag"
assert "Access-Control-Allow-Origin" not in anon("GET", "/site/pub.txt", {"Origin": "https://evil.org"})[1]
bad = {"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]}
assert code(lambda: s3.put_bucket_cors(Bucket="site", CORSConfiguration=bad)) == "InvalidRequest"
s3.delete_bucket_cors(Bucket="site")
assert code(lambda: s3.get_bucket_cors(Bucket="site")) == "NoSuchCORSConfiguration"
assert anon("OPTIONS", "/site/index.html", pre)[0] == 403

# Tagging of objects (on PUT, replaced, removed; metadata kept) and buckets.
s3.put_object(Bucket="site", Key="t.txt", Body=b"t", Tagging="project=stratus&tier=gold", Metadata={"keep": "me"})
assert s3.get_object(Bucket="site", Key="t.txt")["TagCount"] == 2
tags = lambda: sorted((t["Key"], t["Value"]) for t in s3.get_object_tagging(Bucket="site", Key="t.txt")["TagSet"])
assert tags() == [("project", "stratus"), ("tier", "gold")], tags()
s3.put_object_tagging(Bucket="site", Key="t.txt", Tagging={"TagSet": [{"Key": "a b", "Value": "c&d"}]})
assert tags() == [("a b", "c&d")], tags()
assert s3.head_object(Bucket="site", Key="t.txt")["Metadata"] == {"keep": "me"}
s3.delete_object_tagging(Bucket="site", Key="t.txt")
assert tags() == []
eleven = {"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]}
assert code(lambda: s3.put_object_tagging(Bucket="site", Key="t.txt", Tagging=eleven)) == "BadRequest"
assert code(lambda: s3.put_object_tagging(Bucket="site", Key="absent", Tagging={"TagSet": []})) == "NoSuchKey"
assert code(lambda: s3.get_bucket_tagging(Bucket="site")) == "NoSuchTagSet"
s3.put_bucket_tagging(Bucket="site", Tagging={"TagSet": [{"Key": "cost", "Value": "42"}]})
assert s3.get_bucket_tagging(Bucket="site")["TagSet"] == [{"Key": "cost", "Value": "42"}]
s3.delete_bucket_tagging(Bucket="site")
assert code(lambda: s3.get_bucket_tagging(Bucket="site")) == "NoSuchTagSet"
assert "Status" not in s3.get_bucket_versioning(Bucket="site")

# GetObjectAttributes and UploadPartCopy (ranges of a source, then a plain part).
a = s3.get_object_attributes(Bucket="site", Key="t.txt", ObjectAttributes=["ETag", "ObjectSize", "StorageClass"])
assert a["ETag"] == hashlib.md5(b"t").hexdigest() and a["ObjectSize"] == 1 and a["StorageClass"] == "STANDARD", a
src = bytes(range(256)) * (11 * 4096)
s3.put_object(Bucket="site", Key="src.bin", Body=src)
uid = s3.create_multipart_upload(Bucket="site", Key="joined.bin")["UploadId"]
five = 5 * 1024 * 1024
e1 = s3.upload_part_copy(Bucket="site", Key="joined.bin", UploadId=uid, PartNumber=1,
                         CopySource={"Bucket": "site", "Key": "src.bin"}, CopySourceRange=f"bytes=0-{five - 1}")["CopyPartResult"]["ETag"]
e2 = s3.upload_part_copy(Bucket="site", Key="joined.bin", UploadId=uid, PartNumber=2,
                         CopySource={"Bucket": "site", "Key": "src.bin"}, CopySourceRange=f"bytes={five}-{len(src) - 1}")["CopyPartResult"]["ETag"]
e3 = s3.upload_part(Bucket="site", Key="joined.bin", UploadId=uid, PartNumber=3, Body=b"end")["ETag"]
assert e1 == '"%s"' % hashlib.md5(src[:five]).hexdigest(), e1
s3.complete_multipart_upload(Bucket="site", Key="joined.bin", UploadId=uid, MultipartUpload={"Parts": [
    {"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}, {"PartNumber": 3, "ETag": e3}]})
assert s3.get_object(Bucket="site", Key="joined.bin")["Body"].read() == src + b"end"
a = s3.get_object_attributes(Bucket="site", Key="joined.bin", ObjectAttributes=["ObjectParts", "ObjectSize"])
assert a["ObjectParts"]["TotalPartsCount"] == 3 and a["ObjectSize"] == len(src) + 3, a
assert code(lambda: s3.upload_part_copy(Bucket="site", Key="joined.bin", UploadId=uid, PartNumber=1,
                                        CopySource="site/src.bin")) == "NoSuchUpload"

# Conditional PUTs.
s3.put_object(Bucket="site", Key="once", Body=b"1", IfNoneMatch="*")
assert code(lambda: s3.put_object(Bucket="site", Key="once", Body=b"2", IfNoneMatch="*")) == "PreconditionFailed"
etag = s3.head_object(Bucket="site", Key="once")["ETag"]
assert code(lambda: s3.put_object(Bucket="site", Key="once", Body=b"3", IfMatch='"' + "0" * 32 + '"')) == "PreconditionFailed"
s3.put_object(Bucket="site", Key="once", Body=b"4", IfMatch=etag)
assert s3.get_object(Bucket="site", Key="once")["Body"].read() == b"4"
assert code(lambda: s3.put_object(Bucket="site", Key="never", Body=b"5", IfMatch=etag)) == "NoSuchKey"

# Bucket names are global: another project's credential cannot take "site".
other = boto3.client("s3", aws_access_key_id=os.environ["OTHER_KEY"], aws_secret_access_key=os.environ["OTHER_SECRET"])
assert code(lambda: other.create_bucket(Bucket="site")) == "BucketAlreadyExists"
assert code(lambda: other.get_object(Bucket="site", Key="t.txt")) == "NoSuchBucket"
other.create_bucket(Bucket="theirs")
assert code(lambda: s3.create_bucket(Bucket="theirs")) == "BucketAlreadyExists"
other.delete_bucket(Bucket="theirs")
s3.create_bucket(Bucket="theirs")
print("settings ok")
"#;

/// An EC2 credential for a second project of the admin: (access, secret).
fn second_account(up: &Up) -> (String, String) {
    let os = up.env_of("OS_");
    let w = up.dir.path();
    ok("openstack", &os, &["project", "create", "other"], w);
    ok(
        "openstack",
        &os,
        &[
            "role",
            "add",
            "--project",
            "other",
            "--user",
            "admin",
            "member",
        ],
        w,
    );
    let out = ok(
        "openstack",
        &os,
        &[
            "ec2",
            "credentials",
            "create",
            "--project",
            "other",
            "-f",
            "json",
        ],
        w,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    (
        v["access"].as_str().unwrap().to_string(),
        v["secret"].as_str().unwrap().to_string(),
    )
}

#[test]
fn bucket_and_object_settings_with_boto3() {
    let up = Up::start();
    let (key, secret) = second_account(&up);
    let mut env = up.env_of("AWS_");
    env.push(("OTHER_KEY".into(), key));
    env.push(("OTHER_SECRET".into(), secret));
    let out = common::boto3(&env, SETTINGS_SCRIPT, up.dir.path());
    assert!(out.contains("settings ok"), "{out}");
}

/// s3cmd's configuration for `stratus up` (path-style, no TLS), signing
/// with SigV4 or, `v2`, with the older SigV2.
fn s3cmd_config(up: &Up, dir: &std::path::Path, v2: bool) -> std::path::PathBuf {
    let aws = up.env_of("AWS_");
    let get = |k: &str| aws.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let host = format!("{}", up.proxy);
    let cfg = dir.join(if v2 { "s3cfg-v2" } else { "s3cfg" });
    std::fs::write(
        &cfg,
        format!(
            "[default]\naccess_key = {}\nsecret_key = {}\nhost_base = {host}\n\
             host_bucket = {host}\nuse_https = False\nsignature_v2 = {}\n\
             bucket_location = us-east-1\n",
            get("AWS_ACCESS_KEY_ID"),
            get("AWS_SECRET_ACCESS_KEY"),
            if v2 { "True" } else { "False" }
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn s3cmd_works() {
    let up = Up::start();
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let cfg = s3cmd_config(&up, w, false);
    let cfg = cfg.to_str().unwrap();
    let s3cmd = |args: &[&str]| {
        let mut a = vec!["-c", cfg];
        a.extend(args);
        ok("s3cmd", &[], &a, w)
    };
    let small = bytes(1, 1000);
    let big = bytes(2, 12 * 1024 * 1024 + 17);
    std::fs::write(w.join("small.bin"), &small).unwrap();
    std::fs::write(w.join("big.bin"), &big).unwrap();
    s3cmd(&["mb", "s3://cmd"]);
    s3cmd(&["put", "small.bin", "s3://cmd/dir/small.bin"]);
    // s3cmd's own multipart upload, 5 MiB parts.
    s3cmd(&[
        "put",
        "--multipart-chunk-size-mb=5",
        "big.bin",
        "s3://cmd/big.bin",
    ]);
    let ls = s3cmd(&["ls", "s3://cmd/"]);
    assert!(
        ls.contains("DIR") && ls.contains("s3://cmd/big.bin"),
        "{ls}"
    );
    let la = s3cmd(&["ls", "--recursive", "s3://cmd"]);
    assert!(la.contains("s3://cmd/dir/small.bin"), "{la}");
    s3cmd(&["get", "s3://cmd/big.bin", "big.back"]);
    assert_eq!(std::fs::read(w.join("big.back")).unwrap(), big);
    s3cmd(&["get", "s3://cmd/dir/small.bin", "small.back"]);
    assert_eq!(std::fs::read(w.join("small.back")).unwrap(), small);
    let info = s3cmd(&["info", "s3://cmd/big.bin"]);
    assert!(info.contains(&format!("{}", big.len())), "{info}");
    // Read back through Swift too.
    let os = up.env_of("OS_");
    ok(
        "swift",
        &os,
        &["download", "cmd", "big.bin", "-o", "big.swift"],
        w,
    );
    assert_eq!(std::fs::read(w.join("big.swift")).unwrap(), big);
    // The same with SigV2 signatures.
    let v2 = s3cmd_config(&up, w, true);
    let v2 = v2.to_str().unwrap();
    let s3cmd_v2 = |args: &[&str]| {
        let mut a = vec!["-c", v2];
        a.extend(args);
        ok("s3cmd", &[], &a, w)
    };
    s3cmd_v2(&["put", "small.bin", "s3://cmd/v2/small.bin"]);
    s3cmd_v2(&["get", "s3://cmd/v2/small.bin", "small.v2"]);
    assert_eq!(std::fs::read(w.join("small.v2")).unwrap(), small);
    assert!(s3cmd_v2(&["ls", "s3://cmd/v2/"]).contains("s3://cmd/v2/small.bin"));
    let rb = tool("s3cmd", &[], &["-c", cfg, "rb", "s3://cmd"], w);
    assert!(!rb.status.success(), "a bucket with objects was removed");
    s3cmd(&["del", "--recursive", "--force", "s3://cmd"]);
    s3cmd(&["rb", "s3://cmd"]);
    assert!(!s3cmd(&["ls"]).contains("s3://cmd"));
}

const MINIO_SCRIPT: &str = r#"
import io, os, urllib.parse
from minio import Minio
from minio.error import S3Error
u = urllib.parse.urlparse(os.environ["AWS_ENDPOINT_URL"])
mc = Minio(u.netloc, access_key=os.environ["AWS_ACCESS_KEY_ID"],
           secret_key=os.environ["AWS_SECRET_ACCESS_KEY"], secure=False, region="us-east-1")
mc.make_bucket("mini")
assert mc.bucket_exists("mini") and not mc.bucket_exists("no-such")
data = bytes((i * 7 + i // 4096) % 251 for i in range(23 * 1024 * 1024 + 3))
with open("mini.bin", "wb") as f:
    f.write(data)
# 5 MiB parts sent by 4 threads at once: parts arrive in parallel, out of order.
r = mc.fput_object("mini", "a/mini.bin", "mini.bin", part_size=5 * 1024 * 1024, num_parallel_uploads=4)
assert r.etag.endswith("-5"), r.etag
assert mc.get_object("mini", "a/mini.bin").read() == data
mc.fget_object("mini", "a/mini.bin", "mini.back")
assert open("mini.back", "rb").read() == data
mc.put_object("mini", "small", io.BytesIO(b"tiny"), 4, metadata={"x-amz-meta-color": "red"})
st = mc.stat_object("mini", "small")
assert st.size == 4 and st.metadata["x-amz-meta-color"] == "red", st.metadata
assert mc.get_object("mini", "a/mini.bin", offset=5 * 1024 * 1024 - 2, length=4).read() == data[5 * 1024 * 1024 - 2:5 * 1024 * 1024 + 2]
names = sorted(o.object_name for o in mc.list_objects("mini", recursive=True))
assert names == ["a/mini.bin", "small"], names
try:
    mc.stat_object("mini", "absent")
    raise SystemExit("absent object found")
except S3Error as e:
    assert e.code == "NoSuchKey", e.code
print("minio ok")
"#;

#[test]
fn minio_client_parallel_multipart() {
    let up = Up::start();
    let dir = tempfile::tempdir().unwrap();
    let out = ok(
        "python",
        &up.env_of("AWS_"),
        &["-c", MINIO_SCRIPT],
        dir.path(),
    );
    assert!(out.contains("minio ok"), "{out}");
    // What minio wrote is Swift's too.
    let data = std::fs::read(dir.path().join("mini.bin")).unwrap();
    ok(
        "swift",
        &up.env_of("OS_"),
        &["download", "mini", "a/mini.bin", "-o", "swift.bin"],
        dir.path(),
    );
    assert_eq!(std::fs::read(dir.path().join("swift.bin")).unwrap(), data);
}

#[test]
fn aws_s3_sync_with_100_mib_files() {
    let up = Up::start();
    let aws = up.env_of("AWS_");
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let src = w.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    let big = bytes(5, 100 * 1024 * 1024);
    std::fs::write(src.join("big.bin"), &big).unwrap();
    std::fs::write(src.join("sub/a.txt"), b"a").unwrap();
    std::fs::write(src.join("sub/b.txt"), b"bb").unwrap();
    ok("aws", &aws, &["s3", "mb", "s3://mirror"], w);
    ok("aws", &aws, &["s3", "sync", "src", "s3://mirror/data"], w);
    // A second sync finds nothing to do.
    let again = ok("aws", &aws, &["s3", "sync", "src", "s3://mirror/data"], w);
    assert!(!again.contains("upload:"), "{again}");
    ok("aws", &aws, &["s3", "sync", "s3://mirror/data", "dst"], w);
    assert_eq!(std::fs::read(w.join("dst/big.bin")).unwrap(), big);
    assert_eq!(std::fs::read(w.join("dst/sub/b.txt")).unwrap(), b"bb");
    // A deletion propagates with --delete.
    std::fs::remove_file(src.join("sub/a.txt")).unwrap();
    let out = ok(
        "aws",
        &aws,
        &["s3", "sync", "--delete", "src", "s3://mirror/data"],
        w,
    );
    assert!(out.contains("delete: s3://mirror/data/sub/a.txt"), "{out}");
    let names = ok("swift", &up.env_of("OS_"), &["list", "mirror"], w);
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        vec!["data/big.bin", "data/sub/b.txt"]
    );
    ok(
        "swift",
        &up.env_of("OS_"),
        &["download", "mirror", "data/big.bin", "-o", "big.swift"],
        w,
    );
    assert_eq!(std::fs::read(w.join("big.swift")).unwrap(), big);
}

const VERSIONING_SCRIPT: &str = r#"
def body(key, **kw):
    return s3.get_object(Bucket="ver", Key=key, **kw)["Body"].read()
def versions(**kw):
    r = s3.list_object_versions(Bucket="ver", **kw)
    return ([(v["Key"], v["VersionId"], v["IsLatest"]) for v in r.get("Versions", [])],
            [(m["Key"], m["VersionId"], m["IsLatest"]) for m in r.get("DeleteMarkers", [])], r)

s3.create_bucket(Bucket="ver")
s3.put_object(Bucket="ver", Key="k", Body=b"v0")  # before versioning: the null version
assert "Status" not in s3.get_bucket_versioning(Bucket="ver")
s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Enabled"})
assert s3.get_bucket_versioning(Bucket="ver")["Status"] == "Enabled"
v1 = s3.put_object(Bucket="ver", Key="k", Body=b"v1")["VersionId"]
v2 = s3.put_object(Bucket="ver", Key="k", Body=b"v2")["VersionId"]
assert v1 != v2 and "null" not in (v1, v2), (v1, v2)
assert body("k") == b"v2" and body("k", VersionId=v1) == b"v1" and body("k", VersionId="null") == b"v0"
assert s3.head_object(Bucket="ver", Key="k")["VersionId"] == v2
assert s3.head_object(Bucket="ver", Key="k", VersionId=v1)["ContentLength"] == 2
vs, ms, _ = versions()
assert vs == [("k", v2, True), ("k", v1, False), ("k", "null", False)] and ms == [], vs
# A delete without a version leaves a marker; the versions stay.
d = s3.delete_object(Bucket="ver", Key="k")
assert d["DeleteMarker"] and d["VersionId"] not in (v1, v2), d
assert code(lambda: body("k")) == "NoSuchKey"
vs, ms, _ = versions()
assert ms == [("k", d["VersionId"], True)] and [v[2] for v in vs] == [False] * 3, (vs, ms)
assert body("k", VersionId=v2) == b"v2"
assert code(lambda: s3.get_object(Bucket="ver", Key="k", VersionId=d["VersionId"])) == "MethodNotAllowed"
# Removing the marker brings v2 back; removing v2 for good brings v1.
s3.delete_object(Bucket="ver", Key="k", VersionId=d["VersionId"])
assert body("k") == b"v2"
s3.delete_object(Bucket="ver", Key="k", VersionId=v2)
assert body("k") == b"v1" and s3.head_object(Bucket="ver", Key="k")["VersionId"] == v1
assert code(lambda: body("k", VersionId=v2)) == "NoSuchVersion"
assert code(lambda: body("k", VersionId="bogus/../id")) == "InvalidArgument"
# Copies from an old version; multipart uploads make versions too.
s3.copy_object(Bucket="ver", Key="copy", CopySource={"Bucket": "ver", "Key": "k", "VersionId": "null"})
assert body("copy") == b"v0"
five = 5 * 1024 * 1024
for round in (1, 2):
    uid = s3.create_multipart_upload(Bucket="ver", Key="mp")["UploadId"]
    parts = [{"PartNumber": n, "ETag": s3.upload_part(Bucket="ver", Key="mp", UploadId=uid, PartNumber=n,
              Body=bytes([round]) * (five if n == 1 else 10))["ETag"]} for n in (1, 2)]
    done = s3.complete_multipart_upload(Bucket="ver", Key="mp", UploadId=uid, MultipartUpload={"Parts": parts})
    if round == 1:
        first = done["VersionId"]
assert body("mp") == b"\x02" * (five + 10) and body("mp", VersionId=first) == b"\x01" * (five + 10)
# Listing: prefix, delimiter, pages.
for i in range(3):
    s3.put_object(Bucket="ver", Key="dir/a", Body=b"%d" % i)
    s3.put_object(Bucket="ver", Key="dir/sub/b", Body=b"%d" % i)
vs, _, r = versions(Prefix="dir/", Delimiter="/")
assert [v[0] for v in vs] == ["dir/a"] * 3 and [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir/sub/"], r
full, fullm, _ = versions()
paged, pagedm, kw = [], [], {}
while True:
    vs, ms, r = versions(MaxKeys=2, **kw)
    paged += vs
    pagedm += ms
    if not r["IsTruncated"]:
        break
    kw = {"KeyMarker": r["NextKeyMarker"], "VersionIdMarker": r.get("NextVersionIdMarker", "")}
assert paged == full and pagedm == fullm, (paged, full)
assert [v[0] for v in full] == ["copy"] + ["dir/a"] * 3 + ["dir/sub/b"] * 3 + ["k"] * 2 + ["mp"] * 2, full
# Suspended: writes make the null version, replacing the earlier null one.
s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Suspended"})
assert s3.get_bucket_versioning(Bucket="ver")["Status"] == "Suspended"
r = s3.put_object(Bucket="ver", Key="k", Body=b"s1")
assert r.get("VersionId") == "null", r
vs, _, _ = versions(Prefix="k")
assert vs == [("k", "null", True), ("k", v1, False)], vs
assert body("k", VersionId="null") == b"s1"
# DeleteObjects with versions; a bucket with versions cannot go.
r = s3.delete_objects(Bucket="ver", Delete={"Objects": [{"Key": "k", "VersionId": v1}]})
assert r["Deleted"] == [{"Key": "k", "VersionId": v1}], r
assert code(lambda: s3.delete_bucket(Bucket="ver")) == "BucketNotEmpty"
vs, ms, _ = versions()
objs = [{"Key": k, "VersionId": v} for k, v, _ in vs + ms]
s3.delete_objects(Bucket="ver", Delete={"Objects": objs})
vs, ms, _ = versions()
assert vs == [] and ms == [], (vs, ms)
s3.delete_bucket(Bucket="ver")
print("versioning ok")
"#;

#[test]
fn versioning_with_boto3() {
    let up = Up::start();
    let dir = tempfile::tempdir().unwrap();
    let aws = up.env_of("AWS_");
    let out = common::boto3(&aws, VERSIONING_SCRIPT, dir.path());
    assert!(out.contains("versioning ok"), "{out}");
    // Nothing is left behind: no bucket, no versions, no parts.
    let containers = ok("swift", &up.env_of("OS_"), &["list"], dir.path());
    assert!(!containers.contains("ver"), "{containers}");
}

/// The `aws s3api` calls the issue names, with the CLI itself.
#[test]
fn aws_s3api_versioning_tagging_copy_presign() {
    let up = Up::start();
    let aws = up.env_of("AWS_");
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let json = |args: &[&str]| -> serde_json::Value {
        let out = ok("aws", &aws, args, w);
        serde_json::from_str(if out.trim().is_empty() { "{}" } else { &out }).unwrap()
    };
    std::fs::write(w.join("one"), b"one").unwrap();
    std::fs::write(w.join("two"), b"two").unwrap();
    ok("aws", &aws, &["s3", "mb", "s3://cli"], w);
    json(&[
        "s3api",
        "put-bucket-versioning",
        "--bucket",
        "cli",
        "--versioning-configuration",
        "Status=Enabled",
    ]);
    let v = json(&["s3api", "get-bucket-versioning", "--bucket", "cli"]);
    assert_eq!(v["Status"], "Enabled");
    let put = |file: &str| {
        json(&[
            "s3api",
            "put-object",
            "--bucket",
            "cli",
            "--key",
            "k",
            "--body",
            file,
        ])["VersionId"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let v1 = put("one");
    let v2 = put("two");
    let listed = json(&["s3api", "list-object-versions", "--bucket", "cli"]);
    let ids: Vec<&str> = listed["Versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["VersionId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![v2.as_str(), v1.as_str()]);
    json(&[
        "s3api",
        "get-object",
        "--bucket",
        "cli",
        "--key",
        "k",
        "--version-id",
        &v1,
        "old",
    ]);
    assert_eq!(std::fs::read(w.join("old")).unwrap(), b"one");
    json(&[
        "s3api",
        "put-object-tagging",
        "--bucket",
        "cli",
        "--key",
        "k",
        "--tagging",
        "TagSet=[{Key=env,Value=prod}]",
    ]);
    let tags = json(&[
        "s3api",
        "get-object-tagging",
        "--bucket",
        "cli",
        "--key",
        "k",
    ]);
    assert_eq!(tags["TagSet"][0]["Key"], "env");
    assert_eq!(tags["TagSet"][0]["Value"], "prod");
    json(&[
        "s3api",
        "copy-object",
        "--bucket",
        "cli",
        "--key",
        "k2",
        "--copy-source",
        &format!("cli/k?versionId={v1}"),
    ]);
    assert_eq!(ok("aws", &aws, &["s3", "cp", "s3://cli/k2", "-"], w), "one");
    let failed = tool(
        "aws",
        &aws,
        &[
            "s3api",
            "put-object",
            "--bucket",
            "cli",
            "--key",
            "k2",
            "--body",
            "two",
            "--if-none-match",
            "*",
        ],
        w,
    );
    assert!(String::from_utf8_lossy(&failed.stderr).contains("PreconditionFailed"));
    // A presigned URL works without credentials, for its lifetime only.
    let url = ok(
        "aws",
        &aws,
        &["s3", "presign", "s3://cli/k", "--expires-in", "60"],
        w,
    );
    let target = url.trim().split_once(&up.proxy.to_string()).unwrap().1;
    let r = common::request(up.proxy, "GET", target, &[], b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"two"[..]));
    let forged = target.replace("Signature=", "Signature=AA");
    assert_eq!(
        common::request(up.proxy, "GET", &forged, &[], b"").status,
        403
    );
}
