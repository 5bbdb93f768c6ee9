//! Container and account servers. Both keep an info record with metadata
//! and totals plus a table of rows, so one set of handlers serves both,
//! told apart by [`Level`].

use http::{Method, StatusCode};

use super::listing_format;
use super::meta::{check_limits, prefixed_headers};
use super::update::{self, Update};
use super::{empty, header, request_timestamp, set, store_error, text, Node, Request, Response};
use crate::device::Device;
use crate::listing::{ContainerRow, Info, ObjectRow, Table};
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Account,
    Container,
}

impl Level {
    fn table(self, dev: &Device) -> &Table {
        match self {
            Level::Account => &dev.accounts,
            Level::Container => &dev.containers,
        }
    }

    fn meta_prefix(self) -> &'static str {
        match self {
            Level::Account => "x-account-meta-",
            Level::Container => "x-container-meta-",
        }
    }

    fn kept_headers(self, h: &http::HeaderMap) -> Vec<(String, String)> {
        match self {
            Level::Account => prefixed_headers(
                h,
                &["x-account-meta-", "x-account-sysmeta-"],
                &["x-account-access-control"],
            ),
            Level::Container => prefixed_headers(
                h,
                &["x-container-meta-", "x-container-sysmeta-"],
                &[
                    "x-container-read",
                    "x-container-write",
                    "x-container-sync-to",
                    "x-container-sync-key",
                    "x-versions-location",
                    "x-history-location",
                ],
            ),
        }
    }
}

type Handled = Result<Response, Response>;

/// `/<dev>/<part>/<account>[/<container>]` on the account or container server.
pub async fn handle(
    node: &Node,
    dev: &Device,
    level: Level,
    path: &str,
    name: &str,
    req: Request,
) -> Response {
    let (parts, _body) = req.into_parts();
    let r = match parts.method {
        Method::PUT => put(node, dev, level, path, &parts).await,
        Method::POST => post(dev, level, path, &parts),
        Method::HEAD | Method::GET => get(dev, level, path, name, &parts),
        Method::DELETE => delete(node, dev, level, path, &parts).await,
        _ => Err(text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")),
    };
    r.unwrap_or_else(|r| r)
}

fn live_headers(info: &Info) -> Vec<(String, String)> {
    info.live_meta()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn existing(table: &Table, path: &str) -> Result<Info, Response> {
    match table.info(path).map_err(|e| store_error(&e))? {
        Some(i) if !i.is_deleted() => Ok(i),
        Some(i) => {
            let mut r = text(StatusCode::NOT_FOUND, "Not Found");
            set(&mut r, "x-backend-timestamp", &i.delete_ts.to_string());
            Err(r)
        }
        None => Err(text(StatusCode::NOT_FOUND, "Not Found")),
    }
}

async fn put(
    node: &Node,
    dev: &Device,
    level: Level,
    path: &str,
    parts: &http::request::Parts,
) -> Handled {
    let ts = request_timestamp(parts)?;
    let meta = level.kept_headers(&parts.headers);
    check_limits(&meta, level.meta_prefix())?;
    let created = level
        .table(dev)
        .update_info(path, |cur| {
            let (mut info, created) = match cur {
                Some(i) if !i.is_deleted() => (i, false),
                Some(i) if i.delete_ts >= ts => {
                    return Err(crate::engine::StoreError::Conflict(i.delete_ts))
                }
                Some(i) => (
                    Info {
                        put_ts: ts,
                        created_ts: ts,
                        delete_ts: i.delete_ts,
                        ..i
                    },
                    true,
                ),
                None => (
                    Info {
                        v: 1,
                        put_ts: ts,
                        created_ts: ts,
                        ..Info::default()
                    },
                    true,
                ),
            };
            info.put_ts = info.put_ts.max(ts);
            info.merge_meta(&meta, ts);
            match check_limits(&live_headers(&info), level.meta_prefix()) {
                Ok(()) => Ok((Some(info), Ok(created))),
                Err(r) => Ok((None, Err(r))),
            }
        })
        .map_err(|e| store_error(&e))??;
    if level == Level::Container {
        report_to_account(node, dev, path, parts).await;
    }
    Ok(empty(if created {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    }))
}

/// Tells the account servers named in the request about a container's
/// new state (created, deleted), and remembers them for later totals.
async fn report_to_account(node: &Node, dev: &Device, path: &str, parts: &http::request::Parts) {
    let dests = update::destinations(parts, "x-account");
    if !dests.is_empty() {
        let _ = dev.containers.update_info(path, |cur| {
            Ok((
                cur.map(|i| Info {
                    report_to: dests.iter().map(|d| d.to_triple()).collect(),
                    ..i
                }),
                (),
            ))
        });
    }
    let Ok(Some(info)) = dev.containers.info(path) else {
        return;
    };
    report(node, dev, path, &info).await;
}

/// Sends a container's state to the account servers it reports to.
pub async fn report(node: &Node, dev: &Device, path: &str, info: &Info) {
    let headers = vec![
        ("x-put-timestamp".to_string(), info.put_ts.to_string()),
        ("x-delete-timestamp".to_string(), info.delete_ts.to_string()),
        ("x-object-count".to_string(), info.object_count.to_string()),
        ("x-bytes-used".to_string(), info.bytes_used.to_string()),
    ];
    let update = Update::new("PUT", path, Timestamp::now(), headers);
    let dests = info
        .report_to
        .iter()
        .map(update::Destination::from_triple)
        .collect();
    update::send_to(node, dev, dests, update).await;
}

fn post(dev: &Device, level: Level, path: &str, parts: &http::request::Parts) -> Handled {
    let ts = request_timestamp(parts)?;
    let meta = level.kept_headers(&parts.headers);
    check_limits(&meta, level.meta_prefix())?;
    let table = level.table(dev);
    existing(table, path)?;
    table
        .update_info(path, |cur| {
            let mut info = cur.ok_or(crate::engine::StoreError::NotFound)?;
            info.merge_meta(&meta, ts);
            // Swift's limits hold for the merged whole, not one request.
            match check_limits(&live_headers(&info), level.meta_prefix()) {
                Ok(()) => Ok((Some(info), Ok(()))),
                Err(r) => Ok((None, Err(r))),
            }
        })
        .map_err(|e| store_error(&e))??;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn delete(
    node: &Node,
    dev: &Device,
    level: Level,
    path: &str,
    parts: &http::request::Parts,
) -> Handled {
    let ts = request_timestamp(parts)?;
    let table = level.table(dev);
    existing(table, path)?;
    table
        .update_info(path, |cur| {
            let mut info = cur.ok_or(crate::engine::StoreError::NotFound)?;
            if level == Level::Container && info.object_count > 0 {
                return Ok((
                    None,
                    Err(text(
                        StatusCode::CONFLICT,
                        "There was a conflict when trying to complete your request.",
                    )),
                ));
            }
            if ts <= info.put_ts {
                return Ok((
                    None,
                    Err(store_error(&crate::engine::StoreError::Conflict(
                        info.put_ts,
                    ))),
                ));
            }
            info.delete_ts = ts;
            Ok((Some(info), Ok(())))
        })
        .map_err(|e| store_error(&e))??;
    if level == Level::Container {
        report_to_account(node, dev, path, parts).await;
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

fn get(
    dev: &Device,
    level: Level,
    path: &str,
    name: &str,
    parts: &http::request::Parts,
) -> Handled {
    let table = level.table(dev);
    let info = existing(table, path)?;
    let mut r = empty(StatusCode::NO_CONTENT);
    match level {
        Level::Account => {
            set(
                &mut r,
                "x-account-container-count",
                &info.container_count.to_string(),
            );
            set(
                &mut r,
                "x-account-object-count",
                &info.object_count.to_string(),
            );
            set(&mut r, "x-account-bytes-used", &info.bytes_used.to_string());
        }
        Level::Container => {
            set(
                &mut r,
                "x-container-object-count",
                &info.object_count.to_string(),
            );
            set(
                &mut r,
                "x-container-bytes-used",
                &info.bytes_used.to_string(),
            );
        }
    }
    set(&mut r, "x-timestamp", &info.created_ts.to_string());
    set(&mut r, "x-put-timestamp", &info.put_ts.to_string());
    set(&mut r, "x-backend-put-timestamp", &info.put_ts.to_string());
    set(
        &mut r,
        "x-backend-delete-timestamp",
        &info.delete_ts.to_string(),
    );
    for (n, v) in info.live_meta() {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(n.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(n, v);
        }
    }
    let (params, format) = listing_format::parse(parts.uri.query(), header(parts, "accept"))?;
    if parts.method == Method::HEAD {
        *r.status_mut() = StatusCode::NO_CONTENT;
        return Ok(r);
    }
    *r.status_mut() = StatusCode::OK;
    Ok(match level {
        Level::Container => {
            let items = table
                .list::<ObjectRow>(path, &params)
                .map_err(|e| store_error(&e))?;
            listing_format::objects(r, name, &items, format)
        }
        Level::Account => {
            let items = table
                .list::<ContainerRow>(path, &params)
                .map_err(|e| store_error(&e))?;
            listing_format::containers(r, name, &items, format)
        }
    })
}

/// A row update: an object in a container (from an object server) or a
/// container in an account (from a container server).
pub async fn row(dev: &Device, level: Level, parent: &str, name: &str, req: Request) -> Response {
    let (parts, _body) = req.into_parts();
    let ts = match request_timestamp(&parts) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let num = |h: &str| {
        header(&parts, h)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let tstamp = |h: &str| {
        header(&parts, h)
            .and_then(Timestamp::parse)
            .unwrap_or_default()
    };
    let deleting = parts.method == Method::DELETE;
    if !deleting && parts.method != Method::PUT {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
    let stored = match level {
        Level::Container => {
            let row = ObjectRow {
                ts,
                size: num("x-size").max(0) as u64,
                content_type: header(&parts, "x-content-type")
                    .unwrap_or_default()
                    .to_string(),
                etag: header(&parts, "x-etag").unwrap_or_default().to_string(),
                deleted: deleting,
            };
            dev.containers.put_row(parent, name, &row, None)
        }
        Level::Account => {
            let row = ContainerRow {
                put_ts: tstamp("x-put-timestamp"),
                delete_ts: tstamp("x-delete-timestamp"),
                object_count: num("x-object-count"),
                bytes_used: num("x-bytes-used"),
                ts,
            };
            // Accounts come into being with their first container, as
            // Swift's account_autocreate has it.
            dev.accounts.put_row(parent, name, &row, Some(ts))
        }
    };
    match stored {
        Ok(true) => empty(if deleting {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::CREATED
        }),
        Ok(false) => text(StatusCode::NOT_FOUND, "Not Found"),
        Err(e) => store_error(&e),
    }
}
