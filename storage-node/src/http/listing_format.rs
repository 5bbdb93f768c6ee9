//! Listing query parameters and the three output formats Swift offers.

use bytes::Bytes;
use http::StatusCode;
use stratus_common::http::xml_escape;

use super::{set, text, Body, Response};
use crate::listing::query::MAX_LIMIT;
use crate::listing::{ContainerRow, ListItem, ListParams, ObjectRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Json,
    Xml,
}

/// Parses `limit`, `marker`, `end_marker`, `prefix`, `delimiter`,
/// `reverse`, `path` and `format` (or the Accept header).
pub fn parse(query: Option<&str>, accept: Option<&str>) -> Result<(ListParams, Format), Response> {
    let mut p = ListParams {
        limit: MAX_LIMIT,
        ..ListParams::default()
    };
    let mut format = match accept {
        Some(a) if a.contains("application/json") => Format::Json,
        Some(a) if a.contains("application/xml") || a.contains("text/xml") => Format::Xml,
        _ => Format::Plain,
    };
    let mut path = None;
    for (k, v) in form_urlencoded(query.unwrap_or("")) {
        match k.as_str() {
            "limit" => {
                let n: usize = v.parse().map_err(|_| {
                    text(
                        StatusCode::PRECONDITION_FAILED,
                        "Value of limit must be a positive integer",
                    )
                })?;
                if n > MAX_LIMIT {
                    return Err(text(
                        StatusCode::PRECONDITION_FAILED,
                        &format!("Maximum limit is {MAX_LIMIT}"),
                    ));
                }
                p.limit = n;
            }
            "marker" => p.marker = v,
            "end_marker" => p.end_marker = v,
            "prefix" => p.prefix = v,
            "delimiter" => {
                if v.chars().count() > 1 || v.contains('\0') {
                    return Err(text(StatusCode::PRECONDITION_FAILED, "Bad delimiter"));
                }
                p.delimiter = (!v.is_empty()).then_some(v);
            }
            "reverse" => {
                p.reverse = matches!(
                    v.to_ascii_lowercase().as_str(),
                    "true" | "1" | "yes" | "on" | "t" | "y"
                )
            }
            "path" => path = Some(v),
            "format" => {
                format = match v.as_str() {
                    "json" => Format::Json,
                    "xml" => Format::Xml,
                    _ => Format::Plain,
                }
            }
            _ => {}
        }
    }
    if let Some(path) = path {
        p.prefix = if path.is_empty() || path.ends_with('/') {
            path
        } else {
            format!("{path}/")
        };
        p.delimiter = Some("/".into());
        p.path_only = true;
    }
    if [&p.marker, &p.end_marker, &p.prefix]
        .iter()
        .any(|s| s.len() > 1024 * 4)
    {
        return Err(text(StatusCode::BAD_REQUEST, "Listing parameter too long"));
    }
    Ok((p, format))
}

fn form_urlencoded(q: &str) -> impl Iterator<Item = (String, String)> + '_ {
    q.split('&').filter(|s| !s.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        (dec(k), dec(v))
    })
}

/// A listing response; an empty plain-text listing is 204 as in Swift.
fn respond(mut r: Response, format: Format, body: String, empty: bool) -> Response {
    let ct = match format {
        Format::Plain => "text/plain; charset=utf-8",
        Format::Json => "application/json; charset=utf-8",
        Format::Xml => "application/xml; charset=utf-8",
    };
    set(&mut r, "content-type", ct);
    if empty && format == Format::Plain {
        *r.status_mut() = StatusCode::NO_CONTENT;
        return r;
    }
    set(&mut r, "content-length", &body.len().to_string());
    *r.body_mut() = Body::full(Bytes::from(body));
    r
}

/// Renders a listing: the row-specific parts come from `json` and `xml`,
/// the rest (plain names, subdirs, the XML root) is the same for all.
fn render<R>(
    r: Response,
    root: (&str, &str),
    items: &[ListItem<R>],
    format: Format,
    json: impl Fn(&str, &R) -> serde_json::Value,
    xml: impl Fn(&str, &R) -> String,
) -> Response {
    let body = match format {
        Format::Plain => items
            .iter()
            .map(|i| match i {
                ListItem::Row(n, _) | ListItem::Subdir(n) => format!("{n}\n"),
            })
            .collect(),
        Format::Json => serde_json::Value::Array(
            items
                .iter()
                .map(|i| match i {
                    ListItem::Subdir(n) => serde_json::json!({ "subdir": n }),
                    ListItem::Row(n, row) => json(n, row),
                })
                .collect(),
        )
        .to_string(),
        Format::Xml => {
            let (tag, name) = root;
            let mut x = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{tag} name=\"{}\">",
                xml_escape(name)
            );
            for i in items {
                match i {
                    ListItem::Subdir(n) => {
                        let n = xml_escape(n);
                        x.push_str(&format!("<subdir name=\"{n}\"><name>{n}</name></subdir>"));
                    }
                    ListItem::Row(n, row) => x.push_str(&xml(n, row)),
                }
            }
            x.push_str(&format!("</{tag}>"));
            x
        }
    };
    respond(r, format, body, items.is_empty())
}

pub fn objects(
    r: Response,
    container: &str,
    items: &[ListItem<ObjectRow>],
    format: Format,
) -> Response {
    render(
        r,
        ("container", container),
        items,
        format,
        |n, o| {
            serde_json::json!({
                "hash": o.etag, "last_modified": o.ts.iso8601(), "bytes": o.size,
                "name": n, "content_type": o.content_type,
            })
        },
        |n, o| {
            format!(
                "<object><name>{}</name><hash>{}</hash><bytes>{}</bytes><content_type>{}</content_type><last_modified>{}</last_modified></object>",
                xml_escape(n), o.etag, o.size, xml_escape(&o.content_type), o.ts.iso8601()
            )
        },
    )
}

pub fn containers(
    r: Response,
    account: &str,
    items: &[ListItem<ContainerRow>],
    format: Format,
) -> Response {
    render(
        r,
        ("account", account),
        items,
        format,
        |n, c| {
            serde_json::json!({
                "name": n, "count": c.object_count, "bytes": c.bytes_used,
                "last_modified": c.put_ts.iso8601(),
            })
        },
        |n, c| {
            format!(
                "<container><name>{}</name><count>{}</count><bytes>{}</bytes><last_modified>{}</last_modified></container>",
                xml_escape(n), c.object_count, c.bytes_used, c.put_ts.iso8601()
            )
        },
    )
}
