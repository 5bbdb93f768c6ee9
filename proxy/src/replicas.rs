//! Writing an object to its replicas: the body streams to every replica
//! at once (a handoff standing in for an unreachable primary) and the
//! answer comes after a quorum; sysmeta known only at the body's end goes
//! after it as a footer. Every object write of the proxy comes through here.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use stratus_common::backend;
use stratus_common::body::Body;
use stratus_ring::Path as RingPath;

use crate::backend::{Call, Kind, Placement};
use crate::digests::Digests;
use crate::errors::{empty, error, Response};
use crate::quorum::{best_status, quorum};
use crate::server::Proxy;

fn header<'a>(h: &'a HeaderMap, n: &str) -> Option<&'a str> {
    h.get(n).and_then(|v| v.to_str().ok())
}

fn set(h: &mut HeaderMap, n: &'static str, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(n, v);
    }
}

/// The container servers' coordinates for the i-th object replica.
pub(crate) fn container_update(
    proxy: &Proxy,
    account: &str,
    container: &str,
    i: usize,
    h: &mut HeaderMap,
) {
    let c = proxy
        .backend
        .place(Kind::Container, RingPath::Container(account, container));
    if c.primaries.is_empty() {
        return;
    }
    let node = &c.primaries[i % c.primaries.len()];
    set(h, "x-container-host", &node.addr);
    set(h, "x-container-device", &node.device);
    set(h, "x-container-partition", &c.partition.to_string());
}

/// Where an upload's bytes come from: the client's body as it arrives,
/// or one decoded on the way (S3's aws-chunked).
pub trait UploadSource: Send {
    /// The next piece; None at the end; Err(status) if the client failed.
    fn next_chunk(
        &mut self,
    ) -> impl std::future::Future<Output = Option<Result<bytes::Bytes, StatusCode>>> + Send;

    /// Room for sysmeta known only at the body's end (S3's trailing
    /// checksums), sent to the object servers as a footer; 0 for none.
    fn footer_len(&self) -> usize {
        0
    }

    /// Once the body ended: the footer's sysmeta headers.
    fn footer(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Footer room for the two digests (JSON keys, 32 + 8 hex digits).
const DIGEST_ROOM: usize = 96;

/// A footer: JSON, space-padded to exactly `len` bytes.
fn render_footer(sysmeta: Vec<(String, String)>, len: usize) -> Option<bytes::Bytes> {
    let map: std::collections::BTreeMap<String, String> = sysmeta.into_iter().collect();
    let json = serde_json::to_string(&map).ok()?;
    (json.len() <= len).then(|| bytes::Bytes::from(format!("{json:<len$}")))
}

impl UploadSource for Incoming {
    async fn next_chunk(&mut self) -> Option<Result<bytes::Bytes, StatusCode>> {
        loop {
            match tokio::time::timeout(Duration::from_secs(60), self.frame()).await {
                Err(_) => return Some(Err(StatusCode::REQUEST_TIMEOUT)),
                Ok(None) => return None,
                // 499: the client went away mid-body.
                Ok(Some(Err(_))) => {
                    return Some(Err(
                        StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST)
                    ))
                }
                Ok(Some(Ok(f))) => {
                    if let Ok(data) = f.into_data() {
                        return Some(Ok(data));
                    }
                }
            }
        }
    }
}

/// A body the proxy has in hand or streams from elsewhere (a copy's
/// source, a manifest, nothing at all) uploads like a client's.
impl UploadSource for Body {
    async fn next_chunk(&mut self) -> Option<Result<bytes::Bytes, StatusCode>> {
        loop {
            match self.frame().await {
                None => return None,
                Some(Err(_)) => return Some(Err(StatusCode::SERVICE_UNAVAILABLE)),
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        return Some(Ok(d));
                    }
                }
            }
        }
    }
}

/// Streams `body` to every replica at once and answers after a quorum.
pub(crate) async fn upload(
    proxy: &Proxy,
    placement: &Placement,
    path: &str,
    names: (&str, &str),
    headers: &HeaderMap,
    body: &mut impl UploadSource,
) -> Response {
    let (account, container) = names;
    // The footer always carries the body's MD5 (the ETag) and crc32c,
    // computed here once: the object servers only check the crc32c.
    let sysmeta_room = body.footer_len();
    let footer_len = sysmeta_room + DIGEST_ROOM;
    let mut headers = headers.clone();
    if let Some(len) = header(&headers, "content-length").and_then(|l| l.parse::<u64>().ok()) {
        set(
            &mut headers,
            "content-length",
            &(len + footer_len as u64).to_string(),
        );
    }
    set(&mut headers, backend::FOOTER, &footer_len.to_string());
    set(&mut headers, backend::ETAG_IN_FOOTER, "1");
    // Connect to every replica first, a handoff standing in for a primary
    // that cannot be reached.
    let backend = &proxy.backend;
    let n = placement.primaries.len();
    let mut streams = Vec::new();
    let mut pending = Vec::new();
    for (i, conn) in crate::quorum::connect_replicas(backend, placement).await {
        let mut h = headers.clone();
        container_update(proxy, account, container, i, &mut h);
        let (tx, body) = Body::channel();
        streams.push(tx);
        let node = conn.node.clone();
        pending.push(async move {
            let r = backend
                .send_upload(
                    conn,
                    Call {
                        method: Method::PUT,
                        partition: placement.partition,
                        path,
                        query: None,
                        headers: &h,
                    },
                    body,
                )
                .await;
            match r {
                Ok(resp) => Some((resp.status(), resp.headers().clone())),
                Err(e) => {
                    backend.record_error(&node, &e);
                    None
                }
            }
        });
    }
    if streams.len() < quorum(n) {
        return error(StatusCode::SERVICE_UNAVAILABLE);
    }
    let responses = futures_util::future::join_all(pending);
    let pump = async move {
        let mut digests = Digests::default();
        let result = loop {
            let chunk = match body.next_chunk().await {
                None => {
                    let mut fields = if sysmeta_room > 0 {
                        body.footer()
                    } else {
                        Vec::new()
                    };
                    let Some((md5, crc)) = std::mem::take(&mut digests).finish().await else {
                        break Err(StatusCode::INTERNAL_SERVER_ERROR);
                    };
                    fields.push((backend::FOOTER_ETAG.into(), md5));
                    fields.push((backend::DATA_CRC32C.into(), format!("{crc:08x}")));
                    let Some(footer) = render_footer(fields, footer_len) else {
                        break Err(StatusCode::INTERNAL_SERVER_ERROR);
                    };
                    for tx in &streams {
                        let _ = tx.send(Ok(footer.clone())).await;
                    }
                    break Ok(());
                }
                Some(Err(status)) => break Err(status),
                Some(Ok(chunk)) => chunk,
            };
            digests.update(&chunk).await;
            // A replica that stopped reading is dropped; the rest go on.
            let mut alive = Vec::with_capacity(streams.len());
            for tx in streams.drain(..) {
                if tx.send(Ok(chunk.clone())).await.is_ok() {
                    alive.push(tx);
                }
            }
            streams = alive;
            if streams.len() < quorum(n) {
                break Err(StatusCode::SERVICE_UNAVAILABLE);
            }
        };
        if result.is_err() {
            // Abort the uploads so no replica stores a truncated object.
            for tx in &streams {
                let _ = tx
                    .send(Err(std::io::Error::other("client upload failed")))
                    .await;
            }
        }
        result
    };
    // Drive uploads and pump together until the body is sent, then give
    // the replicas node_timeout to answer.
    let mut responses = std::pin::pin!(responses);
    let (early, pumped) =
        match futures_util::future::select(std::pin::pin!(pump), responses.as_mut()).await {
            futures_util::future::Either::Left((r, _)) => (None, r),
            futures_util::future::Either::Right((answers, pump)) => (Some(answers), pump.await),
        };
    let answers = match early {
        Some(a) => a,
        None => match tokio::time::timeout(proxy.backend.node_timeout, responses).await {
            Ok(a) => a,
            Err(_) => return error(StatusCode::SERVICE_UNAVAILABLE),
        },
    };
    if let Err(status) = pumped {
        // Replicas that refused early (full, conflict) explain better.
        let early = best_status(&answers, n);
        return error(if early.is_client_error() || early.as_u16() == 507 {
            early
        } else {
            status
        });
    }
    let status = best_status(&answers, n);
    if status != StatusCode::CREATED {
        return error(status);
    }
    let mut r = empty(StatusCode::CREATED);
    let etag = answers
        .iter()
        .flatten()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .find_map(|(_, h)| header(h, "etag").map(str::to_string));
    if let Some(etag) = etag {
        set(r.headers_mut(), "etag", &etag);
    }
    set(
        r.headers_mut(),
        "last-modified",
        &httpdate::fmt_http_date(SystemTime::now()),
    );
    set(r.headers_mut(), "content-type", "text/html; charset=UTF-8");
    r
}
