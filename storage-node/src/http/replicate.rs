//! The receiving side of replication (`REPLICATE` requests from other
//! nodes' replicators); the messages are in [`crate::replicator::wire`].

use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{set, store_error, text, Body, Request, Response, ServerKind, Target};
use crate::device::Device;
use crate::listing::{ContainerRow, ObjectRow, Row, Table};
use crate::replicator::wire::{
    DbMessage, DbReply, DigestsReply, DigestsRequest, EntriesReply, EntryLine, VERSION,
};

/// Largest request body: a batch of rows or every partition's digest.
const MAX_BODY: usize = 32 << 20;

pub async fn handle(dev: &Device, kind: ServerKind, target: Target, req: Request) -> Response {
    let r = match (kind, target) {
        (ServerKind::Object, Target::Device { .. }) => digests(dev, req).await,
        (
            ServerKind::Object,
            Target::Partition {
                partition,
                suffixes,
                ..
            },
        ) if suffixes.is_empty() => suffix_hashes(dev, partition),
        (
            ServerKind::Object,
            Target::Partition {
                partition,
                suffixes,
                ..
            },
        ) => entries(dev, partition, &suffixes),
        (
            ServerKind::Container,
            Target::Container {
                account, container, ..
            },
        ) => merge::<ObjectRow>(&dev.containers, &format!("/{account}/{container}"), req).await,
        (ServerKind::Account, Target::Account { account, .. }) => {
            merge::<ContainerRow>(&dev.accounts, &format!("/{account}"), req).await
        }
        _ => Err(text(StatusCode::BAD_REQUEST, "Invalid path")),
    };
    r.unwrap_or_else(|r| r)
}

type Handled = Result<Response, Response>;

async fn read_json<T: DeserializeOwned>(req: Request) -> Result<T, Response> {
    let body = http_body_util::Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| text(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|_| text(StatusCode::BAD_REQUEST, "Invalid message"))
}

fn json<T: Serialize>(v: &T) -> Response {
    let mut r = http::Response::new(Body::full(Bytes::from(
        serde_json::to_vec(v).unwrap_or_default(),
    )));
    set(&mut r, "content-type", "application/json");
    r
}

fn bad_version() -> Response {
    text(StatusCode::BAD_REQUEST, "Unsupported replication version")
}

/// Which of the sender's partitions differ from this device's.
async fn digests(dev: &Device, req: Request) -> Handled {
    let msg: DigestsRequest = read_json(req).await?;
    if msg.v != VERSION {
        return Err(bad_version());
    }
    let mut differ = Vec::new();
    for (part, digest) in msg.parts {
        let mine = dev
            .objects
            .partition_digest(part)
            .map_err(|e| store_error(&e))?;
        if mine != digest {
            differ.push(part);
        }
    }
    Ok(json(&DigestsReply { v: VERSION, differ }))
}

fn suffix_hashes(dev: &Device, partition: u32) -> Handled {
    let hashes = dev
        .objects
        .suffix_hashes(partition)
        .map_err(|e| store_error(&e))?;
    let map: std::collections::BTreeMap<String, String> = hashes.into_iter().collect();
    Ok(json(&map))
}

fn entries(dev: &Device, partition: u32, suffixes: &[String]) -> Handled {
    let wanted: Vec<u16> = suffixes
        .iter()
        .map(|s| {
            u16::from_str_radix(s, 16)
                .ok()
                .filter(|n| s.len() == 3 && *n < 4096)
        })
        .collect::<Option<_>>()
        .ok_or_else(|| text(StatusCode::BAD_REQUEST, "Invalid suffix"))?;
    let listed = dev
        .objects
        .entries(partition, Some(&wanted))
        .map_err(|e| store_error(&e))?;
    Ok(json(&EntriesReply {
        v: VERSION,
        entries: listed.iter().map(EntryLine::from).collect(),
    }))
}

/// Merges a container's or account's state or rows from another replica.
async fn merge<R: Row>(table: &Table, path: &str, req: Request) -> Handled {
    let msg: DbMessage<R> = read_json(req).await?;
    if msg.version() != VERSION {
        return Err(bad_version());
    }
    let point = match msg {
        DbMessage::Sync { from, info, .. } => table
            .sync_info(path, &from, &info)
            .map_err(|e| store_error(&e))?,
        DbMessage::Rows {
            from, upto, rows, ..
        } => {
            let merged = table
                .merge_rows(path, &from, &rows, upto)
                .map_err(|e| store_error(&e))?;
            if !merged {
                return Err(text(StatusCode::NOT_FOUND, "Not Found"));
            }
            upto
        }
    };
    Ok(json(&DbReply { v: VERSION, point }))
}
