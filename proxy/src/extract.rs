//! `?extract-archive=tar|tar.gz|tar.bz2`, as Swift's bulk middleware: a
//! PUT of an archive to an account makes containers and objects of its
//! files (`<container>/<object>` paths), to a container (or a prefix in
//! one) objects under it. The archive streams through the decompressor
//! and the tar reader into the object servers member by member. Bombs are
//! bounded: at most [`MAX_FILES`] files and [`MAX_CONTAINERS`] new
//! containers, names with `.`/`..` components or over the limits refused,
//! each file within the object size limit.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, BufReader};

use crate::access::Access;
use crate::bulk::{Format, Outcome};
use crate::errors::{explain, Response};
use crate::replicas::UploadSource;
use crate::server::{Proxy, Request, MAX_FILE_SIZE, MAX_OBJECT_NAME};
use crate::tar::{Kind, TarReader};

pub const MAX_FILES: u64 = 10_000;
pub const MAX_CONTAINERS: usize = 10_000;
/// Failures after which the extraction stops (Swift's max_failed_extractions).
const MAX_FAILURES: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
}

impl Compression {
    pub fn parse(v: &str) -> Option<Compression> {
        match v {
            "tar" => Some(Compression::None),
            "tar.gz" | "tgz" => Some(Compression::Gzip),
            "tar.bz2" | "tbz2" => Some(Compression::Bzip2),
            _ => None,
        }
    }
}

type Reader = Pin<Box<dyn AsyncRead + Send>>;

/// The request body as bytes, decompressed.
fn reader(body: hyper::body::Incoming, compression: Compression) -> Reader {
    let stream = body
        .into_data_stream()
        .map_err(|e| std::io::Error::other(e.to_string()));
    let raw = BufReader::new(tokio_util::io::StreamReader::new(stream));
    match compression {
        Compression::None => Box::pin(raw),
        Compression::Gzip => Box::pin(async_compression::tokio::bufread::GzipDecoder::new(raw)),
        Compression::Bzip2 => Box::pin(async_compression::tokio::bufread::BzDecoder::new(raw)),
    }
}

/// Where a member goes: (container, object), or why not.
fn destination(base: &(Option<String>, String), member: &str) -> Result<(String, String), String> {
    let path = member.trim_start_matches("./").trim_start_matches('/');
    if path.is_empty() || path.split('/').any(|c| c == "." || c == "..") {
        return Err("400 Bad Request".into());
    }
    let (container, object) = match base {
        (Some(c), prefix) => (c.clone(), format!("{prefix}{path}")),
        (None, _) => match path.split_once('/') {
            Some((c, o)) if !c.is_empty() && !o.is_empty() => (c.to_string(), o.to_string()),
            _ => return Err("400 Bad Request".into()),
        },
    };
    if container.len() > crate::server::MAX_CONTAINER_NAME || object.len() > MAX_OBJECT_NAME {
        return Err("400 Bad Request".into());
    }
    Ok((container, object))
}

/// One member's data, streamed into its object.
struct MemberBody<'a> {
    tar: &'a mut TarReader<Reader>,
    failed: bool,
}

impl UploadSource for MemberBody<'_> {
    async fn next_chunk(&mut self) -> Option<Result<Bytes, StatusCode>> {
        match self.tar.data().await {
            Ok(Some(d)) => Some(Ok(d)),
            Ok(None) => None,
            Err(_) => {
                self.failed = true;
                Some(Err(StatusCode::BAD_REQUEST))
            }
        }
    }
}

/// `PUT <account>[/<container>[/<prefix>]]?extract-archive=<kind>`.
pub async fn extract(
    proxy: Arc<Proxy>,
    account: String,
    base: (Option<String>, String),
    access: Access,
    compression: Compression,
    req: Request,
) -> Response {
    let format = Format::of(req.headers());
    let body = req.into_body();
    crate::bulk::streamed(format, "extract", async move {
        let mut tar = TarReader::new(reader(body, compression));
        let mut out = Outcome::default();
        let mut created = 0u64;
        let mut made = std::collections::HashSet::new();
        let mut cut_short: Option<(StatusCode, String)> = None;
        loop {
            let member = match tar.next().await {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => {
                    cut_short = Some((StatusCode::BAD_REQUEST, format!("Invalid Tar File: {e}")));
                    break;
                }
            };
            if member.kind != Kind::File {
                continue;
            }
            if created >= MAX_FILES {
                cut_short = Some((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("More than {MAX_FILES} files in the archive"),
                ));
                break;
            }
            let (container, object) = match destination(&base, &member.path) {
                Ok(d) => d,
                Err(status) => {
                    out.errors.push((member.path.clone(), status));
                    if out.errors.len() >= MAX_FAILURES {
                        break;
                    }
                    continue;
                }
            };
            if member.size > MAX_FILE_SIZE {
                out.errors
                    .push((member.path.clone(), "413 Request Entity Too Large".into()));
                continue;
            }
            match store(
                &proxy,
                &account,
                &access,
                (&container, &object),
                member.size,
                &mut tar,
                &mut made,
            )
            .await
            {
                Ok(()) => created += 1,
                Err(status) => {
                    let failed_read = status == StatusCode::BAD_REQUEST;
                    out.errors
                        .push((format!("/{container}/{object}"), status_text(status)));
                    if failed_read || out.errors.len() >= MAX_FAILURES {
                        break;
                    }
                }
            }
        }
        out.counts = vec![("Number Files Created", created)];
        match cut_short {
            Some((status, why)) => {
                out.body = why;
                out.status = status_text(status);
            }
            None => out.settle(StatusCode::CREATED),
        }
        out
    })
}

fn status_text(s: StatusCode) -> String {
    format!(
        "{} {}",
        s.as_u16(),
        s.canonical_reason().unwrap_or_default()
    )
}

/// Makes the member's container if needed (within the limit) and streams
/// the member into its object.
async fn store(
    proxy: &Proxy,
    account: &str,
    access: &Access,
    (container, object): (&str, &str),
    size: u64,
    tar: &mut TarReader<Reader>,
    made: &mut std::collections::HashSet<String>,
) -> Result<(), StatusCode> {
    if !made.contains(container) {
        let info = crate::db::container_info(proxy, account, container).await;
        if info.is_none() {
            if made.len() >= MAX_CONTAINERS || !access.may_write(proxy, account, container).await {
                return Err(StatusCode::FORBIDDEN);
            }
            let put = crate::subrequest::parts(http::Method::PUT, "");
            let r = crate::db::container(proxy, account, container, &put).await;
            if !r.status().is_success() {
                return Err(r.status());
            }
        }
        made.insert(container.to_string());
    }
    if !access.may_write(proxy, account, container).await {
        return Err(StatusCode::FORBIDDEN);
    }
    let Some(info) = crate::db::container_info(proxy, account, container).await else {
        return Err(StatusCode::NOT_FOUND);
    };
    crate::quota::check_upload(proxy, account, container, &info, size)
        .await
        .map_err(|r| r.status())?;
    let mut h = HeaderMap::new();
    let mut set = |n: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(n, v);
        }
    };
    set("content-length", size.to_string());
    set(
        "content-type",
        crate::object::guess_content_type(object).to_string(),
    );
    set("x-timestamp", crate::object::now_timestamp());
    let mut body = MemberBody { tar, failed: false };
    let r = crate::subrequest::upload_to(proxy, (account, container, object), &h, &mut body).await;
    if body.failed {
        return Err(StatusCode::BAD_REQUEST);
    }
    match r.status() {
        StatusCode::CREATED => Ok(()),
        s => Err(s),
    }
}

/// The `?extract-archive=` value, checked.
pub fn requested(query: Option<&str>) -> Option<Result<Compression, Response>> {
    let value = crate::server::query_param(query, "extract-archive")?;
    Some(
        Compression::parse(&value)
            .ok_or_else(|| explain(StatusCode::BAD_REQUEST, "Unsupported archive format")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let account = (None, String::new());
        assert_eq!(
            destination(&account, "./c/o/p.txt"),
            Ok(("c".into(), "o/p.txt".into()))
        );
        assert!(destination(&account, "just-a-file").is_err());
        assert!(destination(&account, "c/../../etc/passwd").is_err());
        assert!(destination(&account, "/c/./x").is_err());
        let under = (Some("c".to_string()), "pre/".to_string());
        assert_eq!(
            destination(&under, "a/b"),
            Ok(("c".into(), "pre/a/b".into()))
        );
        assert!(destination(&under, &"x".repeat(2000)).is_err());
        assert_eq!(Compression::parse("tar.bz2"), Some(Compression::Bzip2));
        assert!(requested(Some("extract-archive=zip")).unwrap().is_err());
        assert!(requested(Some("format=json")).is_none());
    }
}
