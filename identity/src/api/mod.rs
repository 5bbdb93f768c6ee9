//! The Keystone v3 HTTP API: request parsing, routing, and the JSON
//! envelopes.

mod catalog;
mod credentials;
mod grants;
mod resources;
mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use stratus_common::body::Body;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::auth::TokenData;
use crate::error::{Error, Result};
use crate::model::Record;
use crate::policy::Action;
use crate::Identity;

pub use credentials::ec2_id as ec2_credential_id;

pub type Response = http::Response<Body>;

/// A parsed request: path segments after `/v3`, query, headers, body.
#[derive(Debug)]
pub struct Req {
    pub method: Method,
    pub segs: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `http://host:port`, for links.
    pub base: String,
}

impl Req {
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A query flag: present without a value, or with a true-ish one.
    pub fn flag(&self, key: &str) -> bool {
        self.q(key).is_some_and(|v| {
            v.is_empty() || !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no")
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::bad(format!(
                "Expecting to find valid JSON in the request body: {e}"
            ))
        })
    }

    /// The body's `{"<kind>": {...}}` object.
    pub fn entity(&self, kind: &str) -> Result<serde_json::Map<String, Value>> {
        let mut v: Value = self.json()?;
        match v.get_mut(kind).map(Value::take) {
            Some(Value::Object(o)) => Ok(o),
            _ => Err(Error::bad(format!("'{kind}' is a required property"))),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/v3/{path}", self.base)
    }
}

/// Binds and serves until the process ends.
pub async fn run(identity: Arc<Identity>) -> std::io::Result<()> {
    let bind = identity.config.bind;
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {bind}: {e}")))?;
    serve(listener, identity).await
}

pub async fn serve(listener: TcpListener, identity: Arc<Identity>) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "identity listening");
    let reloader = identity.clone();
    tokio::spawn(
        async move {
            let every = Duration::from_secs(reloader.config.key_reload_secs.max(1));
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = reloader.keys.reload() {
                    tracing::warn!(error = %e, "keeping the keys loaded before");
                }
            }
        }
        .instrument(tracing::info_span!("key_reload")),
    );
    stratus_common::http::serve(listener, move |req, peer| {
        handle(identity.clone(), req, peer)
    })
    .await
}

fn request_id() -> String {
    let mut raw = [0u8; 16];
    let _ = getrandom::fill(&mut raw);
    let h = hex::encode(raw);
    format!(
        "req-{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

async fn handle(
    identity: Arc<Identity>,
    req: http::Request<Incoming>,
    peer: SocketAddr,
) -> Response {
    let rid = request_id();
    // Never the query or body: they may hold secrets.
    let span = tracing::info_span!("request", %rid, method = %req.method(), path = %req.uri().path(), %peer);
    let mut resp = async {
        let resp = match parse(&identity, req).await {
            // Reads only touch the store (microseconds) and run inline;
            // writes may hash a password (argon2, tens of ms) or sync the
            // store, so they go to the blocking pool.
            Ok(r) if r.method == Method::GET || r.method == Method::HEAD => route(&identity, &r),
            Ok(r) => {
                let identity = identity.clone();
                tokio::task::spawn_blocking(move || route(&identity, &r))
                    .await
                    .unwrap_or_else(|e| Err(Error::Internal(e.to_string())))
            }
            Err(e) => Err(e),
        };
        let resp = resp.unwrap_or_else(Error::into_response);
        tracing::info!(status = resp.status().as_u16(), "done");
        resp
    }
    .instrument(span)
    .await;
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("x-openstack-request-id", v);
    }
    resp.headers_mut()
        .insert("vary", HeaderValue::from_static("X-Auth-Token"));
    resp
}

async fn parse(identity: &Identity, req: http::Request<Incoming>) -> Result<Req> {
    let (parts, body) = req.into_parts();
    let limit = identity.config.max_request_body_bytes;
    if parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .is_some_and(|n| n > limit)
    {
        return Err(Error::TooLarge);
    }
    let body = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Error::TooLarge
            } else {
                Error::bad("could not read the request body")
            }
        })?
        .to_bytes();
    let mut segs = Vec::new();
    for s in parts.uri.path().split('/').filter(|s| !s.is_empty()) {
        segs.push(stratus_common::http::decode_name(s).ok_or_else(|| Error::bad("invalid path"))?);
    }
    let query = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    let dec = |s: &str| {
                        percent_encoding::percent_decode_str(&s.replace('+', " "))
                            .decode_utf8_lossy()
                            .into_owned()
                    };
                    (dec(k), dec(v))
                })
                .collect()
        })
        .unwrap_or_default();
    let base = identity.config.public_url.clone().unwrap_or_else(|| {
        let host = parts
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    });
    Ok(Req {
        method: parts.method,
        segs,
        query,
        headers: parts.headers,
        body,
        base: base.trim_end_matches('/').to_string(),
    })
}

/// The caller's validated token, or 401.
pub fn caller(id: &Identity, req: &Req) -> Result<TokenData> {
    let token = req.header("x-auth-token").ok_or(Error::Unauthorized)?;
    id.validate(token).map_err(|e| match e {
        Error::Internal(_) => e,
        _ => Error::Unauthorized,
    })
}

/// What the caller may read of domain-owned records: all (None) for
/// admins and system readers, its own domain for domain readers, else 403.
pub fn read_scope(t: &TokenData) -> Result<Option<String>> {
    let c = t.caller();
    if c.may(Action::Read { domain: None }) {
        return Ok(None);
    }
    match &c.scope {
        crate::token::Scope::Domain(d) if c.may(Action::Read { domain: Some(d) }) => {
            Ok(Some(d.clone()))
        }
        _ => Err(Error::forbidden()),
    }
}

pub fn require(t: &TokenData, action: Action<'_>) -> Result<()> {
    if t.caller().may(action) {
        Ok(())
    } else {
        Err(Error::forbidden())
    }
}

pub fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut r = http::Response::new(Body::full(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

pub fn no_content() -> Response {
    let mut r = http::Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

/// A record's view with its self link.
pub fn view<R: Record>(req: &Req, r: &R) -> Value {
    let mut v = r.view();
    v["links"] = json!({"self": req.url(&format!("{}/{}", R::COLLECTION, r.id()))});
    v
}

/// `{"<kind>": view}` with `status`.
pub fn one<R: Record>(req: &Req, status: StatusCode, r: &R) -> Response {
    json_response(status, &json!({ R::KIND: view(req, r) }))
}

/// Query parameters that are not attribute filters.
const NOT_FILTERS: &[&str] = &["limit", "marker", "include_names", "effective", "nocatalog"];

/// Whether a view passes the query's attribute filters (`?name=x&enabled=true`).
pub fn passes_filters(req: &Req, v: &Value) -> bool {
    req.query.iter().all(|(k, want)| {
        if NOT_FILTERS.contains(&k.as_str()) || k.contains('.') {
            return true;
        }
        match v.get(k) {
            None => true,
            Some(Value::String(s)) => s == want,
            Some(Value::Bool(b)) => want.eq_ignore_ascii_case(&b.to_string()),
            Some(Value::Null) => false,
            Some(Value::Array(a)) if k == "tags" => want
                .split(',')
                .all(|t| a.iter().any(|x| x.as_str() == Some(t))),
            Some(other) => want.as_str() == other.to_string().as_str(),
        }
    })
}

/// `{"<collection>": [...], "links": {...}}` of the records that pass
/// `keep` and the query's filters.
pub fn list<R: Record>(req: &Req, records: Vec<R>, keep: impl Fn(&R) -> bool) -> Response {
    let items: Vec<Value> = records
        .iter()
        .filter(|r| keep(r))
        .map(|r| view(req, r))
        .filter(|v| passes_filters(req, v))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({ R::COLLECTION: items,
                 "links": {"self": req.url(R::COLLECTION), "previous": null, "next": null} }),
    )
}

/// A string field of a request entity.
pub fn field(o: &serde_json::Map<String, Value>, key: &str) -> Result<Option<String>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::bad(format!(
            "Invalid input for field '{key}': not a string"
        ))),
    }
}

pub fn required(o: &serde_json::Map<String, Value>, key: &str) -> Result<String> {
    match field(o, key)? {
        Some(s) if !s.trim().is_empty() && s.len() <= 255 => Ok(s),
        Some(s) if s.len() > 255 => Err(Error::bad(format!(
            "Invalid input for field '{key}': too long"
        ))),
        _ => Err(Error::bad(format!("'{key}' is a required property"))),
    }
}

pub fn flag_field(o: &serde_json::Map<String, Value>, key: &str, default: bool) -> Result<bool> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(Error::bad(format!(
            "Invalid input for field '{key}': not a boolean"
        ))),
    }
}

fn versions(req: &Req) -> Value {
    json!({
        "id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{}/v3/", req.base)}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

fn route(id: &Identity, req: &Req) -> Result<Response> {
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let get = req.method == Method::GET || req.method == Method::HEAD;
    match segs.as_slice() {
        [] if get => {
            return Ok(json_response(
                StatusCode::MULTIPLE_CHOICES,
                &json!({"versions": {"values": [versions(req)]}}),
            ))
        }
        ["v3"] if get => {
            return Ok(json_response(
                StatusCode::OK,
                &json!({"version": versions(req)}),
            ))
        }
        ["v3", rest @ ..] => {
            let rest = rest.to_vec();
            if let Some(r) = tokens::route(id, req, &rest)? {
                return Ok(r);
            }
            if let Some(r) = credentials::route_unauthenticated(id, req, &rest)? {
                return Ok(r);
            }
            let t = caller(id, req)?;
            for handler in [
                resources::route,
                grants::route,
                catalog::route,
                credentials::route,
            ] {
                if let Some(r) = handler(id, req, &t, &rest)? {
                    return Ok(r);
                }
            }
        }
        _ => {}
    }
    Err(Error::not_found(
        "resource",
        &format!("/{}", req.segs.join("/")),
    ))
}
