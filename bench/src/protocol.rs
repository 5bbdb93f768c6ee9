//! How a request for object `name` looks in each protocol, and how the
//! load generator logs in first: the storage node's backend API, Swift
//! (v1 auth or a Keystone v3 token) and S3 (SigV4, path style).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use stratus_common::timestamp::Timestamp;

use crate::sigv4::{self, Credentials};

#[derive(Debug, Clone)]
pub enum Protocol {
    /// A storage node's internal API: `/<device>/<partition>/AUTH_bench/<container>/<name>`.
    Backend { device: String },
    /// Swift v1 API with a token; `path` is the storage URL's path (`/v1/AUTH_x`).
    Swift { token: String, path: String },
    /// S3, path-style, SigV4 in the Authorization header, unsigned payload.
    S3 { cred: Credentials },
}

/// A request as the runner sends it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: http::Method,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

fn timestamp() -> String {
    Timestamp::now().to_string()
}

/// `YYYYMMDDTHHMMSSZ`, as SigV4 dates requests.
fn amz_date() -> String {
    let iso = Timestamp::now().iso8601().replace(['-', ':'], "");
    format!("{}Z", &iso[..15])
}

impl Protocol {
    /// The request for `method` on `name` in `container` (`name` None: the
    /// container itself, for LIST and for creating it).
    pub fn request(
        &self,
        target: SocketAddr,
        method: http::Method,
        container: &str,
        name: Option<&str>,
        body: Bytes,
    ) -> Request {
        let obj = name
            .map(|n| format!("/{}", sigv4::uri_encode(n, true)))
            .unwrap_or_default();
        let writes = method == http::Method::PUT || method == http::Method::DELETE;
        match self {
            Protocol::Backend { device } => {
                let part = name.map_or(0, |n| {
                    n.bytes()
                        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
                        % 1024
                });
                let mut headers = vec![];
                if writes {
                    headers.push(("x-timestamp".into(), timestamp()));
                    headers.push(("content-type".into(), "application/octet-stream".into()));
                }
                Request {
                    method,
                    path: format!("/{device}/{part}/AUTH_bench/{container}{obj}"),
                    headers,
                    body,
                }
            }
            Protocol::Swift { token, path } => {
                let mut headers = vec![("x-auth-token".into(), token.clone())];
                let mut p = format!("{path}/{container}{obj}");
                if name.is_none() && method == http::Method::GET {
                    p.push_str("?format=json&limit=1000");
                }
                if method == http::Method::PUT && name.is_some() {
                    headers.push(("content-type".into(), "application/octet-stream".into()));
                }
                Request {
                    method,
                    path: p,
                    headers,
                    body,
                }
            }
            Protocol::S3 { cred } => {
                let date = amz_date();
                let host = target.to_string();
                let path = format!("/{container}{obj}");
                let query: Vec<(String, String)> = if name.is_none() && method == http::Method::GET
                {
                    vec![
                        ("list-type".into(), "2".into()),
                        ("max-keys".into(), "1000".into()),
                    ]
                } else {
                    vec![]
                };
                let mut headers = vec![
                    ("host".to_string(), host),
                    (
                        "x-amz-content-sha256".to_string(),
                        sigv4::UNSIGNED_PAYLOAD.to_string(),
                    ),
                    ("x-amz-date".to_string(), date.clone()),
                ];
                let auth = sigv4::authorization(
                    cred,
                    method.as_str(),
                    &path,
                    &query,
                    &headers,
                    sigv4::UNSIGNED_PAYLOAD,
                    &date,
                );
                headers.push(("authorization".into(), auth));
                headers.retain(|(k, _)| k != "host");
                let qs = query
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&");
                let path = if qs.is_empty() {
                    path
                } else {
                    format!("{path}?{qs}")
                };
                Request {
                    method,
                    path,
                    headers,
                    body,
                }
            }
        }
    }
}

/// One request outside the measured run (log-in, container creation).
pub async fn call(
    target: SocketAddr,
    req: Request,
) -> anyhow::Result<(u16, http::HeaderMap, Bytes)> {
    let stream = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(target),
    )
    .await
    .map_err(|_| anyhow::anyhow!("connecting to {target} timed out"))?
    .with_context(|| format!("cannot connect to {target}"))?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut b = http::Request::builder()
        .method(req.method)
        .uri(&req.path)
        .header("host", target.to_string());
    for (k, v) in &req.headers {
        b = b.header(k, v);
    }
    let resp = tokio::time::timeout(
        Duration::from_secs(30),
        sender.send_request(b.body(Full::new(req.body))?),
    )
    .await
    .map_err(|_| anyhow::anyhow!("{target} did not answer in 30 s"))??;
    let (parts, body) = resp.into_parts();
    Ok((
        parts.status.as_u16(),
        parts.headers,
        body.collect().await?.to_bytes(),
    ))
}

/// Swift v1 auth (`GET <auth_path>` with X-Auth-User/-Key): token and
/// storage path.
pub async fn swift_v1_login(
    target: SocketAddr,
    auth_path: &str,
    user: &str,
    key: &str,
) -> anyhow::Result<Protocol> {
    let req = Request {
        method: http::Method::GET,
        path: auth_path.into(),
        headers: vec![
            ("x-auth-user".into(), user.into()),
            ("x-auth-key".into(), key.into()),
        ],
        body: Bytes::new(),
    };
    let (status, h, _) = call(target, req).await?;
    if !(200..300).contains(&status) {
        bail!("Swift auth at {auth_path} answered {status}");
    }
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (Some(token), Some(url)) = (get("x-auth-token"), get("x-storage-url")) else {
        bail!("Swift auth answered without X-Auth-Token or X-Storage-Url");
    };
    let path = url
        .parse::<http::Uri>()
        .map(|u| u.path().to_string())
        .context("bad X-Storage-Url")?;
    Ok(Protocol::Swift { token, path })
}

/// Keystone v3 password auth of a Default-domain user, project-scoped.
pub fn keystone_password_request(user: &str, password: &str, project: &str) -> Request {
    let body = serde_json::json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}});
    Request {
        method: http::Method::POST,
        path: "/v3/auth/tokens".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from(body.to_string()),
    }
}

/// Sends a Keystone log-in: the token and the token body.
pub async fn keystone_token(
    keystone: SocketAddr,
    login: &Request,
) -> anyhow::Result<(String, serde_json::Value)> {
    let (status, h, body) = call(keystone, login.clone()).await?;
    if status != 201 {
        bail!("Keystone answered {status} to the password login");
    }
    let token = h
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .context("no X-Subject-Token")?
        .to_string();
    let v: serde_json::Value =
        serde_json::from_slice(&body).context("Keystone's token body is not JSON")?;
    Ok((token, v))
}

/// Keystone v3 password auth, project-scoped; the object-store endpoint
/// comes from the catalog (its path is used against `target`).
pub async fn keystone_login(
    keystone: SocketAddr,
    user: &str,
    password: &str,
    project: &str,
) -> anyhow::Result<Protocol> {
    let login = keystone_password_request(user, password, project);
    let (token, v) = keystone_token(keystone, &login).await?;
    let url = v["token"]["catalog"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["type"] == "object-store")
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .find(|e| e["interface"] == "public")
        .and_then(|e| e["url"].as_str().map(str::to_string))
        .context("no public object-store endpoint in the catalog")?;
    let path = url
        .parse::<http::Uri>()
        .map(|u| u.path().to_string())
        .context("bad endpoint URL")?;
    Ok(Protocol::Swift { token, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_is_well_formed() {
        let d = amz_date();
        assert_eq!(d.len(), 16);
        assert!(d.ends_with('Z') && d.as_bytes()[8] == b'T');
    }

    #[test]
    fn s3_requests_are_signed_path_style() {
        let cred = Credentials {
            access_key: "AK".into(),
            secret_key: "SK".into(),
            region: "us-east-1".into(),
            service: "s3".into(),
        };
        let r = Protocol::S3 { cred }.request(
            "127.0.0.1:9000".parse().unwrap(),
            http::Method::GET,
            "b",
            None,
            Bytes::new(),
        );
        assert_eq!(r.path, "/b?list-type=2&max-keys=1000");
        let auth = &r
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AK/"),
            "{auth}"
        );
        assert!(auth.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date"));
    }
}
