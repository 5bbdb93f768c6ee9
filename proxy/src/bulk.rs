//! Bulk operations, as Swift's bulk middleware: `?bulk-delete` removes up
//! to 10,000 objects and (empty) containers named one per line in the
//! body, and `?extract-archive=tar|tar.gz|tar.bz2` makes objects of an
//! archive's files. The answer is 200 at once, then (while the work goes
//! on) a space every ten seconds to keep the client waiting, then the
//! result in the format the client accepts: plain text, JSON or XML.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use stratus_common::body::Body;

use crate::errors::{explain, Response};
use crate::server::{Proxy, Request};

pub const MAX_DELETES: usize = 10_000;
/// The longest line a bulk delete body may have (an encoded path).
const MAX_LINE: usize = 8192;
const KEEPALIVE: Duration = Duration::from_secs(10);
/// Deletes in flight at once.
const CONCURRENCY: usize = 8;

/// How the client wants the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Xml,
}

impl Format {
    pub fn of(h: &HeaderMap) -> Format {
        let accept = h
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if accept.contains("application/json") {
            Format::Json
        } else if accept.contains("application/xml") || accept.contains("text/xml") {
            Format::Xml
        } else {
            Format::Text
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain",
            Format::Json => "application/json",
            Format::Xml => "application/xml",
        }
    }
}

/// The outcome of a bulk request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// (label, count) pairs in the order Swift prints them.
    pub counts: Vec<(&'static str, u64)>,
    pub status: String,
    pub body: String,
    /// (name, status) of what failed.
    pub errors: Vec<(String, String)>,
}

fn status_line(s: StatusCode) -> String {
    format!(
        "{} {}",
        s.as_u16(),
        s.canonical_reason().unwrap_or_default()
    )
}

impl Outcome {
    /// `ok` when nothing failed, else 502 if a server failed, else 400.
    pub fn settle(&mut self, ok: StatusCode) {
        let server = self.errors.iter().any(|(_, s)| s.starts_with('5'));
        self.status = status_line(match (self.errors.is_empty(), server) {
            (true, _) => ok,
            (false, true) => StatusCode::BAD_GATEWAY,
            (false, false) => StatusCode::BAD_REQUEST,
        });
    }

    pub fn render(&self, format: Format, root: &str) -> String {
        match format {
            Format::Text => {
                let mut out = String::new();
                for (k, v) in &self.counts {
                    out.push_str(&format!("{k}: {v}\n"));
                }
                out.push_str(&format!(
                    "Response Body: {}\nResponse Status: {}\nErrors:\n",
                    self.body, self.status
                ));
                for (name, status) in &self.errors {
                    out.push_str(&format!("{name}, {status}\n"));
                }
                out
            }
            Format::Json => {
                let mut m = serde_json::Map::new();
                for (k, v) in &self.counts {
                    m.insert((*k).to_string(), (*v).into());
                }
                m.insert("Response Body".into(), self.body.clone().into());
                m.insert("Response Status".into(), self.status.clone().into());
                let errors: Vec<serde_json::Value> = self
                    .errors
                    .iter()
                    .map(|(n, s)| serde_json::json!([n, s]))
                    .collect();
                m.insert("Errors".into(), errors.into());
                serde_json::Value::Object(m).to_string()
            }
            Format::Xml => {
                let esc = stratus_common::http::xml_escape;
                let tag = |k: &str| k.to_ascii_lowercase().replace(' ', "_");
                let mut out = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root}>");
                for (k, v) in &self.counts {
                    out.push_str(&format!("<{0}>{v}</{0}>", tag(k)));
                }
                out.push_str(&format!(
                    "<response_body>{}</response_body><response_status>{}</response_status><errors>",
                    esc(&self.body),
                    esc(&self.status)
                ));
                for (n, s) in &self.errors {
                    out.push_str(&format!(
                        "<object><name>{}</name><status>{}</status></object>",
                        esc(n),
                        esc(s)
                    ));
                }
                out.push_str(&format!("</errors></{root}>"));
                out
            }
        }
    }
}

/// Answers 200 at once and the outcome of `work` when it is done,
/// keeping the connection alive meanwhile.
pub fn streamed<F>(format: Format, root: &'static str, work: F) -> Response
where
    F: std::future::Future<Output = Outcome> + Send + 'static,
{
    let (tx, body) = Body::channel();
    tokio::spawn(async move {
        let mut work = std::pin::pin!(work);
        let outcome = loop {
            tokio::select! {
                o = &mut work => break o,
                _ = tokio::time::sleep(KEEPALIVE) => {
                    if tx.send(Ok(Bytes::from_static(b" "))).await.is_err() {
                        return;
                    }
                }
            }
        };
        let _ = tx.send(Ok(Bytes::from(outcome.render(format, root)))).await;
    });
    let mut r = http::Response::new(body);
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static(format.content_type()),
    );
    r
}

/// One line of a bulk delete: `/container[/object]`, URL-encoded.
pub fn parse_line(line: &str) -> Option<(String, Option<String>)> {
    let decoded = percent_encoding::percent_decode_str(line.trim())
        .decode_utf8()
        .ok()?;
    let path = decoded.trim_start_matches('/');
    let (container, object) = match path.split_once('/') {
        Some((c, o)) if !o.is_empty() => (c, Some(o.to_string())),
        Some((c, _)) => (c, None),
        None => (path, None),
    };
    (!container.is_empty()).then(|| (container.to_string(), object))
}

/// `?bulk-delete` on an account (whose owner the caller is).
pub async fn delete(proxy: Arc<Proxy>, account: String, req: Request) -> Response {
    let format = Format::of(req.headers());
    let limit = MAX_DELETES * MAX_LINE;
    let raw = match http_body_util::Limited::new(req.into_body(), limit)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => return explain(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
    };
    let Ok(text) = String::from_utf8(raw.to_vec()) else {
        return explain(StatusCode::BAD_REQUEST, "Invalid UTF-8 in the request body");
    };
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if lines.len() > MAX_DELETES {
        return explain(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("Maximum Bulk Deletes: {MAX_DELETES} per request"),
        );
    }
    // Objects first, then containers, so that a container listed with
    // its objects can go in the same request.
    let (containers, objects): (Vec<String>, Vec<String>) = lines
        .into_iter()
        .partition(|l| parse_line(l).is_some_and(|(_, o)| o.is_none()));
    streamed(format, "delete", async move {
        let mut results = Vec::new();
        for batch in [objects, containers] {
            let done: Vec<(String, Result<StatusCode, StatusCode>)> =
                futures_util::stream::iter(batch)
                    .map(|line| {
                        let proxy = proxy.clone();
                        let account = account.clone();
                        async move {
                            let status = delete_one(&proxy, &account, &line).await;
                            (line, status)
                        }
                    })
                    .buffer_unordered(CONCURRENCY)
                    .collect()
                    .await;
            results.extend(done);
        }
        let mut deleted = 0;
        let mut not_found = 0;
        let mut out = Outcome::default();
        for (line, status) in results {
            match status {
                Ok(s) if s == StatusCode::NOT_FOUND => not_found += 1,
                Ok(_) => deleted += 1,
                Err(s) => out.errors.push((line, status_line(s))),
            }
        }
        out.counts = vec![("Number Deleted", deleted), ("Number Not Found", not_found)];
        out.settle(StatusCode::OK);
        out
    })
}

/// Deletes one line's object or container: Ok(2xx or 404), Err(status).
async fn delete_one(proxy: &Proxy, account: &str, line: &str) -> Result<StatusCode, StatusCode> {
    let (container, object) = parse_line(line).ok_or(StatusCode::BAD_REQUEST)?;
    let status = match object {
        Some(o) if o.len() > crate::server::MAX_OBJECT_NAME => return Err(StatusCode::BAD_REQUEST),
        Some(o) => crate::subrequest::delete_object(proxy, (account, &container, &o)).await,
        None => {
            let delete = crate::subrequest::parts(Method::DELETE, "");
            crate::db::container(proxy, account, &container, &delete)
                .await
                .status()
        }
    };
    if status.is_success() || status == StatusCode::NOT_FOUND {
        Ok(status)
    } else {
        Err(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_outcomes() {
        assert_eq!(
            parse_line("/c/a%20b/c"),
            Some(("c".into(), Some("a b/c".into())))
        );
        assert_eq!(parse_line("c"), Some(("c".into(), None)));
        assert_eq!(parse_line("/c/"), Some(("c".into(), None)));
        assert_eq!(parse_line("/"), None);
        assert_eq!(parse_line("%FF"), None);
        let mut o = Outcome {
            counts: vec![("Number Deleted", 2), ("Number Not Found", 1)],
            ..Default::default()
        };
        o.settle(StatusCode::OK);
        assert_eq!(
            o.render(Format::Text, "delete"),
            "Number Deleted: 2\nNumber Not Found: 1\nResponse Body: \nResponse Status: 200 OK\nErrors:\n"
        );
        o.errors.push(("/c".into(), "409 Conflict".into()));
        o.settle(StatusCode::OK);
        let json: serde_json::Value =
            serde_json::from_str(&o.render(Format::Json, "delete")).unwrap();
        assert_eq!(json["Response Status"], "400 Bad Request");
        assert_eq!(json["Errors"][0][1], "409 Conflict");
        let xml = o.render(Format::Xml, "delete");
        assert!(xml.contains("<number_deleted>2</number_deleted>"), "{xml}");
        assert!(xml.contains("<name>/c</name><status>409 Conflict</status>"));
    }
}
