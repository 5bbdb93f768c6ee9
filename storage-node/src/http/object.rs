//! Object server: PUT, GET, HEAD, POST, DELETE of one object.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use md5::{Digest, Md5};

use super::footer::{footer_length, parse_crc, parse_footer, HoldBack};
use super::meta::{check_limits, object_headers, object_post_replaces};
use super::ranges::{self, Precondition, Ranges};
use super::update::{self, Update};
use super::{
    empty, header, request_timestamp, set, store_error, text, Body, Node, Request, Response,
};
use crate::device::Device;
use crate::engine::large::LargeReader;
use crate::engine::{
    object_key, Cond, Entry, LargeWriter, Location, ObjectMeta, StoreError, INLINE_MAX,
};
use crate::timestamp::Timestamp;
use stratus_common::backend;

/// Swift's `max_file_size` (5 GiB) plus the two bytes it allows over.
pub const MAX_FILE_SIZE: u64 = 5 * 1024 * 1024 * 1024 + 2;
/// How long a client may pause mid-upload (Swift's `client_timeout`).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn handle(
    node: &Node,
    dev: &Device,
    partition: u32,
    path: &str,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let key = object_key(partition, path);
    let result = match parts.method {
        Method::GET | Method::HEAD => get(dev, &key, &parts).await,
        Method::PUT => put(node, dev, key, path, &parts, body).await,
        Method::POST => post(dev, key, &parts).await,
        Method::DELETE => delete(node, dev, key, path, &parts).await,
        _ => Err(text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")),
    };
    result.unwrap_or_else(|r| r)
}

type Handled = Result<Response, Response>;

fn now_secs() -> u64 {
    Timestamp::now().secs()
}

fn not_found_at(ts: Timestamp) -> Response {
    let mut r = text(StatusCode::NOT_FOUND, "Not Found");
    set(&mut r, "x-backend-timestamp", &ts.to_string());
    r
}

/// The live object, or the 404 to answer (carrying a tombstone's or an
/// expired object's timestamp).
fn live(dev: &Device, key: &[u8]) -> Result<(Entry, ObjectMeta), Response> {
    match dev.objects.get_entry(key).map_err(|e| store_error(&e))? {
        None => Err(text(StatusCode::NOT_FOUND, "Not Found")),
        Some(e) => match e.meta.clone() {
            Some(m) if m.delete_at.is_none_or(|at| at > now_secs()) => Ok((e, m)),
            _ => Err(not_found_at(e.meta_ts)),
        },
    }
}

fn parse_delete_at(parts: &http::request::Parts) -> Result<Option<u64>, Response> {
    match header(parts, "x-delete-at") {
        None => Ok(None),
        Some(v) => {
            let at: u64 = v
                .parse()
                .map_err(|_| text(StatusCode::BAD_REQUEST, "Non-integer X-Delete-At"))?;
            if at <= now_secs() {
                return Err(text(StatusCode::BAD_REQUEST, "X-Delete-At in past"));
            }
            Ok(Some(at))
        }
    }
}

async fn put(
    node: &Node,
    dev: &Device,
    key: Vec<u8>,
    path: &str,
    parts: &http::request::Parts,
    mut body: Incoming,
) -> Handled {
    let ts = request_timestamp(parts)?;
    let length = match header(parts, "content-length") {
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| text(StatusCode::BAD_REQUEST, "Invalid Content-Length"))?,
        ),
        None => None,
    };
    let chunked =
        header(parts, "transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
    if length.is_none() && !chunked {
        return Err(text(StatusCode::LENGTH_REQUIRED, "Length Required"));
    }
    if length.is_some_and(|l| l > MAX_FILE_SIZE) {
        return Err(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request Entity Too Large",
        ));
    }
    let mut headers = object_headers(&parts.headers);
    check_limits(&headers, "x-object-meta-")?;
    let footer_len = footer_length(parts)?;
    // A replicator's push carries the entry as another node holds it: its
    // metadata time, an X-Delete-At that may have passed, and a crc32c of
    // the data that stands in for recomputing the ETag it sends.
    let replication = header(parts, backend::REPLICATION).is_some();
    let delete_at = if replication {
        header(parts, "x-delete-at").and_then(|v| v.parse().ok())
    } else {
        parse_delete_at(parts)?
    };
    let pushed_crc = match header(parts, backend::DATA_CRC32C).filter(|_| replication) {
        Some(v) => Some(parse_crc(v)?),
        None => None,
    };
    let pushed_etag = header(parts, "etag").filter(|_| pushed_crc.is_some());
    // A proxy that hashed the body itself sends its MD5 and crc32c in the
    // footer: then this server only checks the crc32c (cheap) and keeps
    // the MD5, rather than every replica computing it again.
    let digest_in_footer = footer_len > 0 && header(parts, backend::ETAG_IN_FOOTER).is_some();
    let content_type = header(parts, "content-type")
        .unwrap_or("application/octet-stream")
        .to_string();
    let mut entry = Entry {
        v: 1,
        data_ts: ts,
        meta_ts: ts,
        loc: Location::Inline {
            seg: 0,
            off: 0,
            len: 0,
        },
        meta: None,
    };
    if let Some(m) = header(parts, backend::META_TIMESTAMP)
        .filter(|_| replication)
        .and_then(Timestamp::parse)
    {
        entry.meta_ts = m.max(ts);
    }
    // The commit decides conflicts; looking first only pays off before
    // writing a large body for nothing, or to answer If-None-Match.
    let if_none_match = header(parts, "if-none-match").is_some_and(|v| v.trim() == "*");
    let may_be_large = length.is_none_or(|l| l > INLINE_MAX as u64);
    let current = if if_none_match || may_be_large {
        dev.objects.get_entry(&key).map_err(|e| store_error(&e))?
    } else {
        None
    };
    if let Some(cur) = &current {
        if !entry.supersedes(cur) {
            return Err(store_error(&StoreError::Conflict(
                cur.data_ts.max(cur.meta_ts),
            )));
        }
        let exists = !cur.is_tombstone()
            && cur
                .meta
                .as_ref()
                .is_some_and(|m| m.delete_at.is_none_or(|at| at > now_secs()));
        if exists && if_none_match {
            return Err(text(StatusCode::PRECONDITION_FAILED, "Precondition Failed"));
        }
    }
    if let Some(free) = dev.free_bytes() {
        if free
            < length
                .unwrap_or(0)
                .saturating_add(node.config.reserve_bytes)
        {
            return Err(store_error(&StoreError::Full));
        }
    }

    // Stream the body: small objects stay in memory for the log, larger
    // ones spill to their own file chunk by chunk.
    // With a crc32c to check, the large-object writer's per-chunk crcs
    // give the whole body's; nothing is hashed on the way.
    let mut md5 = (pushed_crc.is_none() && !digest_in_footer).then(Md5::new);
    let mut inline = BytesMut::new();
    let mut large: Option<LargeWriter> = None;
    let mut size = 0u64;
    let mut received = 0u64;
    let mut footer = HoldBack::new(footer_len);
    loop {
        let frame = match tokio::time::timeout(CLIENT_TIMEOUT, body.frame()).await {
            Err(_) => return Err(text(StatusCode::REQUEST_TIMEOUT, "Request Timeout")),
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                return Err(text(
                    StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
                    "Client Disconnect",
                ))
            }
            Ok(Some(Ok(f))) => f,
        };
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        received += chunk.len() as u64;
        if received > MAX_FILE_SIZE + footer_len as u64 || length.is_some_and(|l| received > l) {
            return Err(text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request Entity Too Large",
            ));
        }
        for chunk in footer.push(chunk) {
            if chunk.is_empty() {
                continue;
            }
            size += chunk.len() as u64;
            if let Some(h) = md5.as_mut() {
                h.update(&chunk);
            }
            match large.as_mut() {
                Some(w) => w.write(&chunk).await.map_err(|e| store_error(&e))?,
                None => {
                    inline.extend_from_slice(&chunk);
                    if inline.len() > INLINE_MAX {
                        let expected = length.map(|l| l.saturating_sub(footer_len as u64));
                        let mut w = dev
                            .objects
                            .large_writer(expected)
                            .map_err(|e| store_error(&e))?;
                        w.write(&inline).await.map_err(|e| store_error(&e))?;
                        inline = BytesMut::new();
                        large = Some(w);
                    }
                }
            }
        }
    }
    let tail = footer.into_tail();
    if length.is_some_and(|l| received != l) || tail.len() != footer_len {
        return Err(text(
            StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            "Client Disconnect",
        ));
    }
    let (mut expected_crc, mut given_etag) = (pushed_crc, pushed_etag.map(str::to_string));
    if footer_len > 0 {
        let footer = parse_footer(&tail)?;
        let sysmeta = footer.sysmeta;
        headers.retain(|(n, _)| !sysmeta.iter().any(|(f, _)| f.eq_ignore_ascii_case(n)));
        headers.extend(sysmeta);
        if digest_in_footer {
            (expected_crc, given_etag) = (footer.crc, footer.etag);
        }
    }
    if let Some(w) = large.as_mut() {
        w.finish().await.map_err(|e| store_error(&e))?;
        entry.loc = Location::Large { id: w.id() };
    }
    let etag = match (md5, given_etag) {
        (Some(h), _) => hex::encode(h.finalize()),
        (None, Some(etag)) => {
            let crc = large
                .as_ref()
                .map_or_else(|| crc32c::crc32c(&inline), LargeWriter::crc32c);
            if Some(crc) != expected_crc {
                return Err(text(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Unprocessable Entity",
                ));
            }
            etag.trim_matches('"').to_ascii_lowercase()
        }
        (None, None) => {
            return Err(text(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Unprocessable Entity",
            ))
        }
    };
    if let Some(want) = header(parts, "etag") {
        if !want.trim_matches('"').eq_ignore_ascii_case(&etag) {
            return Err(text(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Unprocessable Entity",
            ));
        }
    }
    entry.meta = Some(ObjectMeta {
        content_type: content_type.clone(),
        etag: etag.clone(),
        size,
        delete_at,
        headers,
    });
    let data = inline.freeze();
    let sync = large.as_ref().map(LargeWriter::file);
    dev.objects
        .commit(key, entry, data, sync, Cond::Newer)
        .await
        .map_err(|e| store_error(&e))?;
    if let Some(w) = large.as_mut() {
        w.mark_committed();
    }
    // Large-object manifests list with the size and ETag of the whole
    // (Swift's container-update override sysmeta).
    let overridden = |what: &str| {
        parts
            .headers
            .get(format!("x-object-sysmeta-container-update-override-{what}"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let row = vec![
        (
            "x-size".to_string(),
            overridden("size").unwrap_or_else(|| size.to_string()),
        ),
        ("x-content-type".to_string(), content_type),
        (
            "x-etag".to_string(),
            overridden("etag").unwrap_or_else(|| etag.clone()),
        ),
    ];
    update::container(node, dev, parts, Update::new("PUT", path, ts, row)).await;
    let mut r = empty(StatusCode::CREATED);
    set(&mut r, "etag", &etag);
    Ok(r)
}

async fn post(dev: &Device, key: Vec<u8>, parts: &http::request::Parts) -> Handled {
    let ts = request_timestamp(parts)?;
    let posted: Vec<(String, String)> = object_headers(&parts.headers)
        .into_iter()
        .filter(|(n, _)| object_post_replaces(n))
        .collect();
    check_limits(&posted, "x-object-meta-")?;
    let delete_at = parse_delete_at(parts)?;
    let (cur, meta) = live(dev, &key)?;
    if ts <= cur.meta_ts {
        return Err(store_error(&StoreError::Conflict(cur.meta_ts)));
    }
    let mut headers: Vec<(String, String)> = meta
        .headers
        .iter()
        .filter(|(n, _)| !object_post_replaces(n))
        .cloned()
        .collect();
    headers.extend(posted);
    let content_type =
        header(parts, "content-type").map_or(meta.content_type.clone(), str::to_string);
    let entry = Entry {
        meta_ts: ts,
        meta: Some(ObjectMeta {
            content_type,
            headers,
            delete_at,
            ..meta
        }),
        ..cur
    };
    dev.objects
        .commit(key, entry, Bytes::new(), None, Cond::SameData)
        .await
        .map_err(|e| store_error(&e))?;
    Ok(empty(StatusCode::ACCEPTED))
}

async fn delete(
    node: &Node,
    dev: &Device,
    key: Vec<u8>,
    path: &str,
    parts: &http::request::Parts,
) -> Handled {
    let ts = request_timestamp(parts)?;
    if let Some(want) = header(parts, "x-if-delete-at") {
        let cur = dev.objects.get_entry(&key).map_err(|e| store_error(&e))?;
        let at = cur.and_then(|e| e.meta).and_then(|m| m.delete_at);
        if at.map(|a| a.to_string()).as_deref() != Some(want) {
            return Err(text(StatusCode::PRECONDITION_FAILED, "Precondition Failed"));
        }
    }
    let tomb = Entry {
        v: 1,
        data_ts: ts,
        meta_ts: ts,
        loc: Location::Tombstone,
        meta: None,
    };
    let out = dev
        .objects
        .commit(key, tomb, Bytes::new(), None, Cond::Newer)
        .await
        .map_err(|e| store_error(&e))?;
    update::container(node, dev, parts, Update::new("DELETE", path, ts, vec![])).await;
    let existed = out
        .previous
        .and_then(|p| p.meta)
        .is_some_and(|m| m.delete_at.is_none_or(|at| at > now_secs()));
    Ok(if existed {
        empty(StatusCode::NO_CONTENT)
    } else {
        not_found_at(ts)
    })
}

async fn get(dev: &Device, key: &[u8], parts: &http::request::Parts) -> Handled {
    let (entry, meta) = live(dev, key)?;
    let mut r = empty(StatusCode::OK);
    set(&mut r, "content-type", &meta.content_type);
    set(&mut r, "etag", &meta.etag);
    set(&mut r, "last-modified", &entry.meta_ts.http_date());
    set(&mut r, "x-timestamp", &entry.meta_ts.to_string());
    set(&mut r, "x-backend-timestamp", &entry.meta_ts.to_string());
    set(
        &mut r,
        "x-backend-data-timestamp",
        &entry.data_ts.to_string(),
    );
    set(&mut r, "accept-ranges", "bytes");
    for (n, v) in &meta.headers {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(n.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(n, v);
        }
    }
    if let Some(at) = meta.delete_at {
        set(&mut r, "x-delete-at", &at.to_string());
    }
    match ranges::evaluate(&parts.headers, &meta.etag, entry.meta_ts.ceil_secs()) {
        Precondition::Proceed => {}
        Precondition::Failed => {
            *r.status_mut() = StatusCode::PRECONDITION_FAILED;
            return Ok(r);
        }
        Precondition::NotModified => {
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            return Ok(r);
        }
    }
    let size = meta.size;
    let wanted = ranges::for_length(header(parts, "range"), size);
    let spans = match &wanted {
        Ranges::Whole => vec![(0, size)],
        Ranges::Partial(rs) => rs.clone(),
        Ranges::Unsatisfiable => {
            // The object's headers stay: a proxy may need them (a large
            // object manifest answers ranges over its segments).
            *r.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            set(&mut r, "content-range", &format!("bytes */{size}"));
            return Ok(r);
        }
    };
    // Multipart framing around each span (empty for one span).
    let boundary = hex::encode(Timestamp::now().to_bytes());
    let framing: Vec<String> = if spans.len() > 1 {
        spans
            .iter()
            .enumerate()
            .map(|(i, (s, e))| {
                let lead = if i == 0 { "" } else { "\r\n" };
                let head = format!(
                    "{lead}--{boundary}\r\nContent-Type: {}\r\nContent-Range: bytes {s}-{}/{size}\r\n\r\n",
                    meta.content_type,
                    e - 1
                );
                head
            })
            .collect()
    } else {
        vec![String::new()]
    };
    let closing = if spans.len() > 1 {
        format!("\r\n--{boundary}--")
    } else {
        String::new()
    };
    let length: u64 = spans.iter().map(|(s, e)| e - s).sum::<u64>()
        + framing.iter().map(|h| h.len() as u64).sum::<u64>()
        + closing.len() as u64;
    if let Ranges::Partial(_) = wanted {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let [(s, e)] = spans.as_slice() {
            set(
                &mut r,
                "content-range",
                &format!("bytes {s}-{}/{size}", e - 1),
            );
        } else {
            set(
                &mut r,
                "content-type",
                &format!("multipart/byteranges;boundary={boundary}"),
            );
        }
    }
    set(&mut r, "content-length", &length.to_string());
    if parts.method == Method::HEAD {
        return Ok(r);
    }
    let source = match entry.loc {
        Location::Inline { .. } => Source::Inline(
            dev.objects
                .read_inline(key, &entry)
                .await
                .map_err(|e| store_error(&e))?,
        ),
        Location::Large { .. } => {
            let reader = match dev.objects.large_reader(&entry) {
                Ok(rd) => rd,
                Err(e @ StoreError::Corrupt(_)) => {
                    dev.objects.quarantine(key, &entry, None, &e).await;
                    return Err(text(StatusCode::NOT_FOUND, "Not Found"));
                }
                Err(e) => return Err(store_error(&e)),
            };
            // Read the first chunk now so a corrupt copy is a clean 404.
            let first_chunk = reader.chunk_range(spans[0].0, spans[0].1).start;
            match reader.read_chunk(first_chunk).await {
                Ok(c) => Source::Large {
                    reader: Arc::new(reader),
                    first: Some((first_chunk, c)),
                },
                Err(e @ StoreError::Corrupt(_)) => {
                    dev.objects.quarantine(key, &entry, None, &e).await;
                    return Err(text(StatusCode::NOT_FOUND, "Not Found"));
                }
                Err(e) => return Err(store_error(&e)),
            }
        }
        Location::Tombstone => return Err(text(StatusCode::NOT_FOUND, "Not Found")),
    };
    if let Source::Inline(data) = &source {
        if spans.len() == 1 {
            let (s, e) = spans[0];
            *r.body_mut() = Body::full(data.slice(s as usize..e as usize));
            return Ok(r);
        }
    }
    let (tx, body) = Body::channel();
    *r.body_mut() = body;
    let quarantine = Quarantine {
        key: key.to_vec(),
        entry: entry.clone(),
    };
    let objects = dev.objects.clone();
    tokio::spawn(async move {
        let sent = stream(source, &spans, &framing, &closing, &tx).await;
        if let Err(e) = sent {
            if matches!(e, StoreError::Corrupt(_)) {
                objects
                    .quarantine(&quarantine.key, &quarantine.entry, None, &e)
                    .await;
            }
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    Ok(r)
}

struct Quarantine {
    key: Vec<u8>,
    entry: Entry,
}

enum Source {
    Inline(Bytes),
    Large {
        reader: Arc<LargeReader>,
        first: Option<(u64, Bytes)>,
    },
}

type Tx = tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>;

/// Chunks of a large object read ahead of the one being sent.
const READ_AHEAD: usize = 4;

async fn stream(
    mut source: Source,
    spans: &[(u64, u64)],
    framing: &[String],
    closing: &str,
    tx: &Tx,
) -> Result<(), StoreError> {
    let send = |b: Bytes| async move { tx.send(Ok(b)).await.map_err(|_| StoreError::Stopped) };
    for ((s, e), head) in spans.iter().zip(framing) {
        if !head.is_empty() {
            send(Bytes::from(head.clone())).await?;
        }
        match &mut source {
            Source::Inline(data) => send(data.slice(*s as usize..*e as usize)).await?,
            Source::Large { reader, first } => {
                use futures_util::stream::{self, StreamExt, TryStreamExt};
                let chunk = crate::engine::record::LARGE_CHUNK as u64;
                let first = first.take();
                // A few chunks are read ahead while one is sent, so a read
                // from disk overlaps the network instead of waiting on it.
                let mut chunks = stream::iter(reader.chunk_range(*s, *e))
                    .map(|i| {
                        let (reader, first) = (reader.clone(), first.clone());
                        async move {
                            match first {
                                Some((j, c)) if j == i => Ok((i, c)),
                                _ => reader.read_chunk(i).await.map(|c| (i, c)),
                            }
                        }
                    })
                    .buffered(READ_AHEAD);
                while let Some((i, data)) = chunks.try_next().await? {
                    let base = i * chunk;
                    let from = s.saturating_sub(base) as usize;
                    let to = ((*e - base) as usize).min(data.len());
                    send(data.slice(from..to)).await?;
                }
            }
        }
    }
    if !closing.is_empty() {
        send(Bytes::from(closing.to_string())).await?;
    }
    Ok(())
}
