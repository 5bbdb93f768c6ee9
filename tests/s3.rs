//! End-to-end tests of the S3 API against `stratus up`: the real aws CLI
//! and boto3 from the project's .venv with the AWS_* variables
//! `stratus up` writes, the same objects read through Swift, and raw
//! requests for what the clients do not send here (aws-chunked signed
//! uploads, forged signatures).
#![allow(clippy::unwrap_used)]

mod common;

use common::{bytes, request, tool, tool_ok as ok, Up};
use stratus_common::sigv4;

fn get(env: &[(String, String)], k: &str) -> String {
    env.iter().find(|(n, _)| n == k).unwrap().1.clone()
}

#[test]
fn aws_cli_and_swift_share_objects() {
    let up = Up::start();
    let aws = up.env_of("AWS_");
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let big = bytes(7, 7_000_000); // below the CLI's multipart threshold
    std::fs::write(w.join("big.bin"), &big).unwrap();
    std::fs::write(w.join("small.txt"), b"hello s3").unwrap();
    ok("aws", &aws, &["s3", "mb", "s3://photos"], w);
    let again = tool("aws", &aws, &["s3", "mb", "s3://photos"], w);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("BucketAlreadyOwnedByYou"));
    ok(
        "aws",
        &aws,
        &["s3", "cp", "big.bin", "s3://photos/2026/big.bin"],
        w,
    );
    ok(
        "aws",
        &aws,
        &["s3", "cp", "small.txt", "s3://photos/small.txt"],
        w,
    );
    assert!(ok("aws", &aws, &["s3", "ls"], w).contains("photos"));
    let listing = ok("aws", &aws, &["s3", "ls", "s3://photos/"], w);
    assert!(
        listing.contains("PRE 2026/") && listing.contains("small.txt"),
        "{listing}"
    );
    ok(
        "aws",
        &aws,
        &["s3", "cp", "s3://photos/2026/big.bin", "back.bin"],
        w,
    );
    assert_eq!(std::fs::read(w.join("back.bin")).unwrap(), big);
    // Above the CLI's 8 MiB threshold: a multipart upload and a ranged,
    // If-Match-checked multipart download.
    let huge = bytes(9, 30_000_000);
    std::fs::write(w.join("huge.bin"), &huge).unwrap();
    ok(
        "aws",
        &aws,
        &["s3", "cp", "huge.bin", "s3://photos/huge.bin"],
        w,
    );
    ok(
        "aws",
        &aws,
        &["s3", "cp", "s3://photos/huge.bin", "huge.back"],
        w,
    );
    assert_eq!(std::fs::read(w.join("huge.back")).unwrap(), huge);

    // The same objects through Swift, with the admin's Keystone login.
    let os = up.env_of("OS_");
    let names = ok("swift", &os, &["list", "photos"], w);
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        vec!["2026/big.bin", "huge.bin", "small.txt"]
    );
    ok(
        "swift",
        &os,
        &["download", "photos", "huge.bin", "-o", "huge.swift"],
        w,
    );
    assert_eq!(std::fs::read(w.join("huge.swift")).unwrap(), huge);
    assert_eq!(
        ok(
            "swift",
            &os,
            &["download", "photos", "small.txt", "-o", "-"],
            w
        ),
        "hello s3"
    );
    std::fs::write(w.join("from-swift.txt"), b"written by swift").unwrap();
    ok("swift", &os, &["upload", "photos", "from-swift.txt"], w);
    assert_eq!(
        ok(
            "aws",
            &aws,
            &["s3", "cp", "s3://photos/from-swift.txt", "-"],
            w
        ),
        "written by swift"
    );

    // Overwriting a multipart object drops its parts.
    assert!(!ok("swift", &os, &["list", "photos+segments"], w).is_empty());
    ok(
        "aws",
        &aws,
        &["s3", "cp", "small.txt", "s3://photos/huge.bin"],
        w,
    );
    assert_eq!(ok("swift", &os, &["list", "photos+segments"], w), "");
    let rb = tool("aws", &aws, &["s3", "rb", "s3://photos"], w);
    assert!(String::from_utf8_lossy(&rb.stderr).contains("BucketNotEmpty"));
    ok("aws", &aws, &["s3", "rm", "s3://photos", "--recursive"], w);
    // The multipart object's parts went with it.
    assert_eq!(ok("swift", &os, &["list", "photos+segments"], w), "");
    ok("aws", &aws, &["s3", "rb", "s3://photos"], w);
    assert_eq!(ok("swift", &os, &["list"], w), "");
    assert!(!ok("aws", &aws, &["s3", "ls"], w).contains("photos"));
}

const BOTO3_SCRIPT: &str = r#"
import os, sys, urllib.request, urllib.error
import botocore.config
s3.create_bucket(Bucket="docs")
s3.put_object(Bucket="docs", Key="a/one.txt", Body=b"0123456789", Metadata={"color": "blue"}, ContentType="text/plain")
for i in range(5):
    s3.put_object(Bucket="docs", Key=f"b/{i}", Body=b"x" * i)
h = s3.head_object(Bucket="docs", Key="a/one.txt")
assert h["Metadata"] == {"color": "blue"}, h["Metadata"]
assert h["ContentLength"] == 10 and h["ContentType"] == "text/plain", h
assert h["ETag"] == '"781e5e245d69b566979b86e28d23f2c7"', h["ETag"]
r = s3.get_object(Bucket="docs", Key="a/one.txt", Range="bytes=2-5")
assert r["Body"].read() == b"2345" and r["ContentRange"] == "bytes 2-5/10", r["ContentRange"]
r = s3.get_object(Bucket="docs", Key="a/one.txt", ResponseContentType="application/x-test")
assert r["ContentType"] == "application/x-test"
l = s3.list_objects_v2(Bucket="docs", Delimiter="/")
assert [p["Prefix"] for p in l["CommonPrefixes"]] == ["a/", "b/"], l
keys, token = [], None
while True:
    kw = {"ContinuationToken": token} if token else {}
    page = s3.list_objects_v2(Bucket="docs", Prefix="b/", MaxKeys=2, **kw)
    keys += [o["Key"] for o in page.get("Contents", [])]
    if not page["IsTruncated"]:
        break
    token = page["NextContinuationToken"]
assert keys == [f"b/{i}" for i in range(5)], keys
v1 = s3.list_objects(Bucket="docs", Prefix="b/", Marker="b/2")
assert [o["Key"] for o in v1["Contents"]] == ["b/3", "b/4"], v1
assert code(lambda: s3.get_object(Bucket="docs", Key="missing")) == "NoSuchKey"
assert code(lambda: s3.get_object(Bucket="nobucket", Key="k")) == "NoSuchBucket"
assert code(lambda: s3.create_bucket(Bucket="docs")) == "BucketAlreadyOwnedByYou"
assert code(lambda: s3.get_object(Bucket="docs", Key="a/one.txt", Range="bytes=50-60")) == "InvalidRange"
assert code(lambda: s3.list_objects_v2(Bucket="nobucket")) == "NoSuchBucket"
s3.delete_object(Bucket="docs", Key="a/one.txt")
s3.delete_object(Bucket="docs", Key="never-there")
assert code(lambda: s3.head_object(Bucket="docs", Key="a/one.txt")) == "404"
# Presigned GET: works as issued, refused when tampered with.
s3.put_object(Bucket="docs", Key="shared.txt", Body=b"shared")
v4 = boto3.client("s3", config=botocore.config.Config(signature_version="s3v4"))
url = v4.generate_presigned_url("get_object", Params={"Bucket": "docs", "Key": "shared.txt"}, ExpiresIn=300)
assert "X-Amz-Signature=" in url, url
assert urllib.request.urlopen(url).read() == b"shared"
try:
    urllib.request.urlopen(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
    raise SystemExit("tampered presigned URL accepted")
except urllib.error.HTTPError as e:
    assert e.code == 403, e.code
short = v4.generate_presigned_url("get_object", Params={"Bucket": "docs", "Key": "shared.txt"}, ExpiresIn=1)
import time
time.sleep(2.5)
try:
    urllib.request.urlopen(short)
    raise SystemExit("expired presigned URL accepted")
except urllib.error.HTTPError as e:
    assert e.code == 403 and b"Request has expired" in e.read(), e.code
# Wrong region; a bucket asked for elsewhere.
eu = boto3.client("s3", region_name="eu-west-1")
assert code(lambda: eu.list_buckets()) == "AuthorizationHeaderMalformed"
assert code(lambda: s3.create_bucket(Bucket="elsewhere", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})) == "IllegalLocationConstraintException"
assert s3.get_bucket_location(Bucket="docs")["LocationConstraint"] is None
# Wrong secret, unknown key.
bad = boto3.client("s3", aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"], aws_secret_access_key="wrong" * 8)
assert code(lambda: bad.list_buckets()) == "SignatureDoesNotMatch"
nokey = boto3.client("s3", aws_access_key_id="AKIDNOBODY", aws_secret_access_key="x" * 40)
assert code(lambda: nokey.list_buckets()) == "InvalidAccessKeyId"
# Multipart: parts out of order, list, the checks of Complete, abort.
up = s3.create_multipart_upload(Bucket="docs", Key="mp.bin", ContentType="application/x-mp", Metadata={"k": "v"})
uid = up["UploadId"]
five = 5 * 1024 * 1024
data = [bytes([i]) * five for i in range(1, 3)] + [b"tail"]
etags = {}
for n in (3, 1, 2):
    etags[n] = s3.upload_part(Bucket="docs", Key="mp.bin", UploadId=uid, PartNumber=n, Body=data[n - 1])["ETag"]
listed = s3.list_parts(Bucket="docs", Key="mp.bin", UploadId=uid)
assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2, 3], listed
assert [p["Size"] for p in listed["Parts"]] == [five, five, 4]
parts = [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]
def complete(p):
    return lambda: s3.complete_multipart_upload(Bucket="docs", Key="mp.bin", UploadId=uid, MultipartUpload={"Parts": p})
assert code(complete(list(reversed(parts)))) == "InvalidPartOrder"
assert code(complete([parts[0], {"PartNumber": 2, "ETag": '"' + "0" * 32 + '"'}, parts[2]])) == "InvalidPart"
assert code(complete([parts[0], parts[2], {"PartNumber": 4, "ETag": etags[1]}])) == "InvalidPart"
done = s3.complete_multipart_upload(Bucket="docs", Key="mp.bin", UploadId=uid, MultipartUpload={"Parts": parts})
assert done["ETag"].endswith('-3"'), done
got = s3.get_object(Bucket="docs", Key="mp.bin")
assert got["Body"].read() == b"".join(data) and got["ETag"] == done["ETag"], got["ETag"]
assert got["ContentType"] == "application/x-mp" and got["Metadata"] == {"k": "v"}
assert s3.list_objects_v2(Bucket="docs", Prefix="mp.bin")["Contents"][0]["Size"] == 2 * five + 4
assert s3.get_object(Bucket="docs", Key="mp.bin", Range="bytes=5242878-5242881")["Body"].read() == b"\x01\x01\x02\x02"
assert code(lambda: s3.list_parts(Bucket="docs", Key="mp.bin", UploadId=uid)) == "NoSuchUpload"
small = s3.create_multipart_upload(Bucket="docs", Key="small.bin")["UploadId"]
e1 = s3.upload_part(Bucket="docs", Key="small.bin", UploadId=small, PartNumber=1, Body=b"a")["ETag"]
e2 = s3.upload_part(Bucket="docs", Key="small.bin", UploadId=small, PartNumber=2, Body=b"b")["ETag"]
assert code(lambda: s3.complete_multipart_upload(Bucket="docs", Key="small.bin", UploadId=small,
    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})) == "EntityTooSmall"
pending = s3.list_multipart_uploads(Bucket="docs")
assert [(u["Key"], u["UploadId"]) for u in pending["Uploads"]] == [("small.bin", small)], pending
s3.abort_multipart_upload(Bucket="docs", Key="small.bin", UploadId=small)
assert "Uploads" not in s3.list_multipart_uploads(Bucket="docs")
assert code(lambda: s3.upload_part(Bucket="docs", Key="small.bin", UploadId=small, PartNumber=3, Body=b"c")) == "NoSuchUpload"
# DeleteObjects, verbose and quiet.
for k in ("d/1", "d/2", "d/3"):
    s3.put_object(Bucket="docs", Key=k, Body=b"x")
r = s3.delete_objects(Bucket="docs", Delete={"Objects": [{"Key": "d/1"}, {"Key": "d/2"}, {"Key": "d/none"}]})
assert sorted(d["Key"] for d in r["Deleted"]) == ["d/1", "d/2", "d/none"], r
r = s3.delete_objects(Bucket="docs", Delete={"Objects": [{"Key": "d/3"}], "Quiet": True})
assert "Deleted" not in r and "Errors" not in r, r
assert "Contents" not in s3.list_objects_v2(Bucket="docs", Prefix="d/")
# CopyObject: metadata copied or replaced, a multipart source read whole, conditions.
r = s3.copy_object(Bucket="docs", Key="copy.bin", CopySource={"Bucket": "docs", "Key": "mp.bin"})
assert r["CopyObjectResult"]["ETag"].startswith('"') and "-" not in r["CopyObjectResult"]["ETag"], r
c = s3.get_object(Bucket="docs", Key="copy.bin")
assert c["Body"].read() == b"".join(data) and c["Metadata"] == {"k": "v"}, c["Metadata"]
s3.copy_object(Bucket="docs", Key="copy2.bin", CopySource="docs/shared.txt", MetadataDirective="REPLACE",
               Metadata={"new": "1"}, ContentType="text/x-new")
c2 = s3.head_object(Bucket="docs", Key="copy2.bin")
assert c2["Metadata"] == {"new": "1"} and c2["ContentType"] == "text/x-new", c2
assert code(lambda: s3.copy_object(Bucket="docs", Key="x", CopySource="docs/shared.txt", CopySourceIfMatch='"nope"')) == "PreconditionFailed"
assert code(lambda: s3.copy_object(Bucket="docs", Key="x", CopySource="docs/absent")) == "NoSuchKey"
assert code(lambda: s3.copy_object(Bucket="docs", Key="shared.txt", CopySource="docs/shared.txt")) == "InvalidRequest"
# Additional checksums: checked, kept, shown on request (and checked by botocore).
import base64, hashlib
body = b"checksummed body"
want = base64.b64encode(hashlib.sha256(body).digest()).decode()
r = s3.put_object(Bucket="docs", Key="sum.txt", Body=body, ChecksumAlgorithm="SHA256")
assert r["ChecksumSHA256"] == want, r
h = s3.head_object(Bucket="docs", Key="sum.txt", ChecksumMode="ENABLED")
assert h["ChecksumSHA256"] == want, h
g = s3.get_object(Bucket="docs", Key="sum.txt", ChecksumMode="ENABLED")
assert g["Body"].read() == body and g["ChecksumSHA256"] == want
assert "ChecksumSHA256" not in s3.head_object(Bucket="docs", Key="sum.txt")
assert code(lambda: s3.put_object(Bucket="docs", Key="bad.txt", Body=body, ChecksumCRC32="AAAAAA==")) == "BadDigest"
assert code(lambda: s3.head_object(Bucket="docs", Key="bad.txt")) == "404"
print("boto3 ok")
"#;

#[test]
fn boto3_operations_and_errors() {
    let up = Up::start();
    let aws = up.env_of("AWS_");
    let dir = tempfile::tempdir().unwrap();
    let out = common::boto3(&aws, BOTO3_SCRIPT, dir.path());
    assert!(out.contains("boto3 ok"), "{out}");
}

/// A `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` upload signed chunk by chunk, as
/// SDKs send over HTTPS; a changed byte in a chunk is refused and nothing
/// is stored; no signature at all is AccessDenied.
#[test]
fn aws_chunked_signed_uploads() {
    let up = Up::start();
    let aws = up.env_of("AWS_");
    let (access, secret) = (
        get(&aws, "AWS_ACCESS_KEY_ID"),
        get(&aws, "AWS_SECRET_ACCESS_KEY"),
    );
    let dir = tempfile::tempdir().unwrap();
    ok("aws", &aws, &["s3", "mb", "s3://chunks"], dir.path());
    let host = up.proxy.to_string();
    let iso = stratus_common::timestamp::Timestamp::now().iso8601();
    let amz_date = format!("{}Z", &iso[..19].replace(['-', ':'], ""));
    let cred = sigv4::Credentials {
        access_key: access,
        secret_key: secret.clone(),
        region: "us-east-1".into(),
        service: "s3".into(),
    };
    // `headers` plus host, date and payload hash, signed: the request's
    // headers with its Authorization last.
    let sign_query = |method: &str,
                      path: &str,
                      query: &[(String, String)],
                      host: &str,
                      payload: &str,
                      mut headers: Vec<(String, String)>| {
        headers.push(("host".into(), host.into()));
        headers.push(("x-amz-content-sha256".into(), payload.into()));
        headers.push(("x-amz-date".into(), amz_date.clone()));
        let auth = sigv4::authorization(&cred, method, path, query, &headers, payload, &amz_date);
        headers.push(("authorization".into(), auth));
        headers
    };
    let sign = |method: &str, path: &str, host: &str, payload: &str, headers| {
        sign_query(method, path, &[], host, payload, headers)
    };
    let send = |method: &str, path: &str, headers: &[(String, String)], body: &[u8]| {
        // The client writes Content-Length from the body itself.
        let h: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(k, _)| k != "content-length")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        request(up.proxy, method, path, &h, body)
    };
    let stored = |key: &str| {
        let args = ["s3api", "head-object", "--bucket", "chunks", "--key", key];
        tool("aws", &aws, &args, dir.path()).status.success()
    };
    let data = bytes(3, 200_000);
    let streaming = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
    let upload = |path: &str, tamper: bool| {
        let chunks: Vec<&[u8]> = data.chunks(65_536).chain([&[][..]]).collect();
        let encoded_len: usize = chunks
            .iter()
            .map(|c| format!("{:x};chunk-signature=", c.len()).len() + 64 + 2 + c.len() + 2)
            .sum();
        let headers = sign(
            "PUT",
            path,
            &host,
            streaming,
            vec![
                ("content-encoding".into(), "aws-chunked".into()),
                ("content-length".into(), encoded_len.to_string()),
                (
                    "x-amz-decoded-content-length".into(),
                    data.len().to_string(),
                ),
            ],
        );
        // Chunk signatures chain from the request's.
        let auth = &headers.last().unwrap().1;
        let mut prev = auth.rsplit("Signature=").next().unwrap().to_string();
        let date = &amz_date[..8];
        let scope = format!("{date}/us-east-1/s3/aws4_request");
        let key = sigv4::signing_key(&secret, date, "us-east-1", "s3");
        let mut body = Vec::new();
        for c in &chunks {
            let sts = sigv4::chunk_string_to_sign(&amz_date, &scope, &prev, c);
            let sig = sigv4::sign_with_key(&key, &sts);
            body.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
            body.extend_from_slice(c);
            body.extend_from_slice(b"\r\n");
            prev = sig;
        }
        if tamper {
            body[70_000] ^= 1;
        }
        send("PUT", path, &headers, &body)
    };
    let r = upload("/chunks/streamed.bin", false);
    assert_eq!(r.status, 200, "{}", r.text());
    ok(
        "aws",
        &aws,
        &["s3", "cp", "s3://chunks/streamed.bin", "back.bin"],
        dir.path(),
    );
    assert_eq!(std::fs::read(dir.path().join("back.bin")).unwrap(), data);
    let r = upload("/chunks/tampered.bin", true);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("SignatureDoesNotMatch"));
    assert!(!stored("tampered.bin"), "a refused upload left an object");
    // STREAMING-UNSIGNED-PAYLOAD-TRAILER, as SDKs send their default
    // checksums: the CRC32 from the trailer is checked and kept.
    let crc = {
        use base64::Engine;
        let v = crc32fast::hash(&data).to_be_bytes();
        base64::engine::general_purpose::STANDARD.encode(v)
    };
    let trailed = |path: &str, checksum: &str| {
        let mut body = Vec::new();
        for c in data.chunks(65_536) {
            body.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            body.extend_from_slice(c);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("0\r\nx-amz-checksum-crc32:{checksum}\r\n\r\n").as_bytes());
        let headers = sign(
            "PUT",
            path,
            &host,
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            vec![
                ("content-encoding".into(), "aws-chunked".into()),
                ("x-amz-trailer".into(), "x-amz-checksum-crc32".into()),
                (
                    "x-amz-decoded-content-length".into(),
                    data.len().to_string(),
                ),
            ],
        );
        send("PUT", path, &headers, &body)
    };
    let r = trailed("/chunks/trailed.bin", &crc);
    assert_eq!(r.status, 200, "{}", r.text());
    let head = ok(
        "aws",
        &aws,
        &[
            "s3api",
            "head-object",
            "--bucket",
            "chunks",
            "--key",
            "trailed.bin",
            "--checksum-mode",
            "ENABLED",
        ],
        dir.path(),
    );
    let head: serde_json::Value = serde_json::from_str(&head).unwrap();
    assert_eq!(head["ChecksumCRC32"], crc.as_str(), "{head}");
    assert_eq!(head["ContentLength"], data.len());
    let r = trailed("/chunks/badsum.bin", "AAAAAA==");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("BadDigest"));
    assert!(!stored("badsum.bin"), "a refused upload left an object");
    // Virtual-hosted addressing: the bucket in the Host header.
    let vhost = format!("chunks.localhost:{}", up.proxy.port());
    let empty_hash = sigv4::sha256_hex(b"");
    let headers = sign("GET", "/streamed.bin", &vhost, &empty_hash, vec![]);
    let r = send("GET", "/streamed.bin", &headers, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, data);
    // A signed payload hash that the body does not match: refused, not stored.
    let claimed = sigv4::sha256_hex(b"the body that was signed");
    let headers = sign("PUT", "/chunks/mismatch.txt", &host, &claimed, vec![]);
    let r = send(
        "PUT",
        "/chunks/mismatch.txt",
        &headers,
        b"a different body of the same kind",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("XAmzContentSHA256Mismatch"));
    assert!(!stored("mismatch.txt"), "a refused upload left an object");
    // Malformed XML and an oversized header: S3's errors, nothing done.
    let garbage = b"<Delete><Object><Key>streamed.bin</Key></Object";
    let hash = sigv4::sha256_hex(garbage);
    let r = send(
        "POST",
        "/chunks?delete",
        &sign_query(
            "POST",
            "/chunks",
            &[("delete".into(), String::new())],
            &host,
            &hash,
            vec![],
        ),
        garbage,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("MalformedXML"), "{}", r.text());
    assert!(stored("streamed.bin"));
    let big = "x".repeat(9000);
    let mut headers = sign("PUT", "/chunks/big-meta", &host, &empty_hash, vec![]);
    headers.push(("x-amz-meta-big".into(), big));
    let r = send("PUT", "/chunks/big-meta", &headers, b"");
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("RequestHeaderSectionTooLarge"),
        "{}",
        r.text()
    );
    assert!(!stored("big-meta"));
    // Anonymous and garbage requests: S3 errors, never a 500.
    for (method, path, headers) in [
        ("GET", "/", vec![]),
        (
            "PUT",
            "/chunks/x",
            vec![("authorization", "AWS4-HMAC-SHA256 garbage")],
        ),
        ("GET", "/chunks?X-Amz-Algorithm=AWS4-HMAC-SHA256", vec![]),
        ("GET", "/Bad_Bucket", vec![]),
        ("POST", "/chunks/x", vec![]),
    ] {
        let r = request(up.proxy, method, path, &headers, b"");
        assert!(
            (400..500).contains(&r.status),
            "{method} {path} -> {}",
            r.status
        );
        assert!(r.header("x-amz-request-id").is_some());
    }
}
