//! What the APIs ask the identity service. The token check every Stratus
//! API does, as keystonemiddleware does it:
//! `X-Auth-Token` is validated with the identity service
//! (`GET /v3/auth/tokens`, the token checking itself, which Keystone's
//! policy allows for the token's own subject), and the answer is cached
//! until the token expires but at most `recheck` long, so a revoked token
//! stops working within that bound. Invalid tokens are cached too, so a
//! client retrying a bad token does not load the identity service. And, for
//! the S3 API, EC2 credentials with their secrets ([`Ec2Secrets`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use crate::body::Body;
use crate::http::{connect, ConnPool};

/// Who a valid token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub user_id: String,
    pub user_name: String,
    pub user_domain_id: String,
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub project_domain_id: Option<String>,
    pub domain_id: Option<String>,
    pub system: bool,
    /// Role names, implied roles included.
    pub roles: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenCheckError {
    #[error("identity service unavailable: {0}")]
    Unavailable(String),
    /// The service account's cached token was refused (expired, revoked).
    #[error("the service account's token was refused")]
    ServiceTokenRefused,
}

/// Caches at most this many answers; beyond it, the expired go first and
/// then everything (a flood of distinct tokens cannot grow memory).
const MAX_CACHED: usize = 10_000;

/// Answers by the SHA-256 of what was asked (a token, an access key),
/// each until its own deadline; `None` caches a "no".
#[derive(Debug)]
struct TtlCache<V> {
    map: Mutex<HashMap<[u8; 32], Entry<V>>>,
}

/// An answer (None: "no") and until when it holds.
type Entry<V> = (Option<Arc<V>>, Instant);

impl<V> TtlCache<V> {
    fn new() -> TtlCache<V> {
        TtlCache {
            map: Mutex::new(HashMap::new()),
        }
    }

    fn key(asked: &str) -> [u8; 32] {
        Sha256::digest(asked.as_bytes()).into()
    }

    /// Some(answer) if cached and fresh.
    fn get(&self, asked: &str) -> Option<Option<Arc<V>>> {
        let map = self.map.lock().ok()?;
        let (v, until) = map.get(&Self::key(asked))?;
        (*until > Instant::now()).then(|| v.clone())
    }

    fn put(&self, asked: &str, v: Option<Arc<V>>, lifetime: Duration) {
        let now = Instant::now();
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= MAX_CACHED {
                map.retain(|_, (_, until)| *until > now);
                if map.len() >= MAX_CACHED {
                    map.clear();
                }
            }
            map.insert(Self::key(asked), (v, now + lifetime));
        }
    }
}

/// HTTP/1.1 to the identity service over pooled keep-alive connections.
#[derive(Debug)]
struct IdentityHttp {
    /// `host:port` of the identity service.
    addr: String,
    timeout: Duration,
    pool: ConnPool<Body>,
}

type Answer = (http::StatusCode, http::HeaderMap, bytes::Bytes);

impl IdentityHttp {
    /// `url` is the identity service's base URL (`http://host:port`, with
    /// or without `/v3`).
    fn new(url: &str, timeout: Duration) -> Result<IdentityHttp, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("identity URL must be http://host:port, not {url}"))?;
        let addr = rest.split('/').next().unwrap_or_default().to_string();
        if addr.is_empty() {
            return Err(format!("identity URL has no host: {url}"));
        }
        Ok(IdentityHttp {
            addr,
            timeout,
            pool: ConnPool::new(16),
        })
    }

    async fn call(
        &self,
        method: http::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Result<Answer, TokenCheckError> {
        let unavailable = |e: &dyn std::fmt::Display| TokenCheckError::Unavailable(e.to_string());
        let mut b = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.addr);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(body).map_err(|e| unavailable(&e))?;
        let work = async {
            let mut sender = match self.pool.take(&self.addr) {
                Some(s) => s,
                None => connect::<Body>(&self.addr, self.timeout)
                    .await
                    .map_err(|e| unavailable(&e))?,
            };
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| unavailable(&e))?;
            let status = resp.status();
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| unavailable(&e))?
                .to_bytes();
            self.pool.put(&self.addr, sender);
            Ok::<_, TokenCheckError>((status, parts.headers, body))
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| unavailable(&"timed out"))?
    }
}

#[derive(Debug)]
pub struct TokenChecker {
    http: IdentityHttp,
    recheck: Duration,
    cache: TtlCache<TokenInfo>,
}

impl TokenChecker {
    /// `url` is the identity service's base URL (`http://host:port`, with
    /// or without `/v3`).
    pub fn new(url: &str, recheck: Duration, timeout: Duration) -> Result<TokenChecker, String> {
        Ok(TokenChecker {
            http: IdentityHttp::new(url, timeout)?,
            recheck,
            cache: TtlCache::new(),
        })
    }

    /// The token's identity; None if it is not valid (401 for the caller).
    pub async fn check(&self, token: &str) -> Result<Option<Arc<TokenInfo>>, TokenCheckError> {
        if token.is_empty() || token.len() > 8192 {
            return Ok(None);
        }
        if let Some(hit) = self.cache.get(token) {
            return Ok(hit);
        }
        let (answer, lifetime) = match self.ask(token).await? {
            Some((info, left)) => (Some(Arc::new(info)), left.min(self.recheck)),
            None => (None, self.recheck),
        };
        self.cache.put(token, answer.clone(), lifetime);
        Ok(answer)
    }

    async fn ask(&self, token: &str) -> Result<Option<(TokenInfo, Duration)>, TokenCheckError> {
        if http::HeaderValue::from_str(token).is_err() {
            return Ok(None);
        }
        let h = [("x-auth-token", token), ("x-subject-token", token)];
        let (status, _, body) = self
            .http
            .call(
                http::Method::GET,
                "/v3/auth/tokens?nocatalog",
                &h,
                Body::empty(),
            )
            .await?;
        let unavailable = |e: &dyn std::fmt::Display| TokenCheckError::Unavailable(e.to_string());
        match status.as_u16() {
            200 => {}
            401 | 403 | 404 => return Ok(None),
            s => return Err(unavailable(&format!("status {s}"))),
        }
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| unavailable(&e))?;
        Ok(parse_token(&v))
    }
}

/// An EC2 credential as the S3 API needs it: the secret to check
/// signatures with, and whom it speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Credential {
    pub secret: String,
    pub user_id: String,
    pub project_id: String,
    /// Role names on the project, implied roles included.
    pub roles: Vec<String>,
}

/// The account a service reads EC2 credentials with (an admin of its
/// project, in the Default domain).
#[derive(Debug, Clone)]
pub struct ServiceAccount {
    pub user: String,
    pub password: String,
    pub project: String,
}

/// EC2 credentials fetched from the identity service with a service
/// account and cached for `recheck` (a deleted credential or a removed
/// role stops working within it), as Swift's s3token does with its secret
/// cache: the S3 API can then check every signature itself, chunk
/// signatures of streaming uploads included.
#[derive(Debug)]
pub struct Ec2Secrets {
    http: IdentityHttp,
    account: ServiceAccount,
    recheck: Duration,
    cache: TtlCache<Ec2Credential>,
    token: Mutex<Option<(String, Instant)>>,
}

impl Ec2Secrets {
    pub fn new(
        url: &str,
        account: ServiceAccount,
        recheck: Duration,
        timeout: Duration,
    ) -> Result<Ec2Secrets, String> {
        Ok(Ec2Secrets {
            http: IdentityHttp::new(url, timeout)?,
            account,
            recheck,
            cache: TtlCache::new(),
            token: Mutex::new(None),
        })
    }

    /// The credential with this access key; None if there is none.
    pub async fn lookup(
        &self,
        access: &str,
    ) -> Result<Option<Arc<Ec2Credential>>, TokenCheckError> {
        if access.is_empty() || access.len() > 256 {
            return Ok(None);
        }
        if let Some(hit) = self.cache.get(access) {
            return Ok(hit);
        }
        let answer = match self.fetch(access).await {
            Err(TokenCheckError::ServiceTokenRefused) => {
                // The cached service token expired or was revoked: once more.
                if let Ok(mut t) = self.token.lock() {
                    *t = None;
                }
                self.fetch(access).await?
            }
            other => other?,
        };
        let answer = answer.map(Arc::new);
        self.cache.put(access, answer.clone(), self.recheck);
        Ok(answer)
    }

    async fn fetch(&self, access: &str) -> Result<Option<Ec2Credential>, TokenCheckError> {
        let unavailable = |e: &dyn std::fmt::Display| TokenCheckError::Unavailable(e.to_string());
        let token = self.service_token().await?;
        let id = crate::sigv4::sha256_hex(access.as_bytes());
        let h = [("x-auth-token", token.as_str())];
        let (status, _, body) = self
            .http
            .call(
                http::Method::GET,
                &format!("/v3/credentials/{id}"),
                &h,
                Body::empty(),
            )
            .await?;
        match status.as_u16() {
            200 => {}
            404 => return Ok(None),
            401 => return Err(TokenCheckError::ServiceTokenRefused),
            s => return Err(unavailable(&format!("credential lookup answered {s}"))),
        }
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| unavailable(&e))?;
        let c = &v["credential"];
        let blob: serde_json::Value = c["blob"]
            .as_str()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or_default();
        let (Some(user_id), Some(project_id), Some(secret)) = (
            c["user_id"].as_str(),
            c["project_id"].as_str(),
            blob["secret"].as_str(),
        ) else {
            return Ok(None);
        };
        if c["type"] != "ec2" || blob["access"] != access {
            return Ok(None);
        }
        let path = format!(
            "/v3/role_assignments?effective&include_names&user.id={}&scope.project.id={}",
            crate::http::encode_path(user_id),
            crate::http::encode_path(project_id)
        );
        let (status, _, body) = self
            .http
            .call(http::Method::GET, &path, &h, Body::empty())
            .await?;
        if status.as_u16() != 200 {
            return Err(unavailable(&format!("role lookup answered {status}")));
        }
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| unavailable(&e))?;
        let mut roles: Vec<String> = v["role_assignments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["role"]["name"].as_str().map(str::to_string))
            .collect();
        roles.sort();
        roles.dedup();
        Ok(Some(Ec2Credential {
            secret: secret.to_string(),
            user_id: user_id.to_string(),
            project_id: project_id.to_string(),
            roles,
        }))
    }

    /// The service account's token, renewed a minute before it expires.
    async fn service_token(&self) -> Result<String, TokenCheckError> {
        if let Ok(t) = self.token.lock() {
            if let Some((tok, until)) = t.as_ref() {
                if *until > Instant::now() {
                    return Ok(tok.clone());
                }
            }
        }
        let unavailable = |e: &dyn std::fmt::Display| TokenCheckError::Unavailable(e.to_string());
        let a = &self.account;
        let body = serde_json::json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"name": a.user, "domain": {"id": "default"}, "password": a.password}}},
            "scope": {"project": {"name": a.project, "domain": {"id": "default"}}}}});
        let (status, headers, answer) = self
            .http
            .call(
                http::Method::POST,
                "/v3/auth/tokens?nocatalog",
                &[("content-type", "application/json")],
                Body::full(bytes::Bytes::from(body.to_string())),
            )
            .await?;
        if status.as_u16() != 201 {
            return Err(unavailable(&format!(
                "service account login answered {status}"
            )));
        }
        let token = headers
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unavailable(&"no X-Subject-Token"))?
            .to_string();
        let v: serde_json::Value = serde_json::from_slice(&answer).map_err(|e| unavailable(&e))?;
        let left = parse_token(&v).map_or(Duration::ZERO, |(_, l)| l);
        let until = Instant::now() + left.saturating_sub(Duration::from_secs(60));
        if let Ok(mut t) = self.token.lock() {
            *t = Some((token.clone(), until));
        }
        Ok(token)
    }
}

/// The identity and remaining lifetime in a Keystone token body.
pub fn parse_token(v: &serde_json::Value) -> Option<(TokenInfo, Duration)> {
    let t = v.get("token")?;
    let s = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let user = t.get("user")?;
    let project = t.get("project");
    let expires = crate::timestamp::parse_iso8601(t.get("expires_at")?.as_str()?)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    let left = Duration::from_secs(expires.checked_sub(now)?);
    let info = TokenInfo {
        user_id: s(user, "id")?,
        user_name: s(user, "name").unwrap_or_default(),
        user_domain_id: user
            .get("domain")
            .and_then(|d| s(d, "id"))
            .unwrap_or_default(),
        project_id: project.and_then(|p| s(p, "id")),
        project_name: project.and_then(|p| s(p, "name")),
        project_domain_id: project
            .and_then(|p| p.get("domain"))
            .and_then(|d| s(d, "id")),
        domain_id: t.get("domain").and_then(|d| s(d, "id")),
        system: t.get("system").is_some(),
        roles: t
            .get("roles")
            .and_then(|r| r.as_array())
            .map(|a| a.iter().filter_map(|r| s(r, "name")).collect())
            .unwrap_or_default(),
    };
    Some((info, left))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_keystone_token_body() {
        let v = serde_json::json!({"token": {
            "user": {"id": "u1", "name": "alice", "domain": {"id": "default", "name": "Default"}},
            "project": {"id": "p1", "name": "demo", "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": "r1", "name": "member"}, {"id": "r2", "name": "reader"}],
            "expires_at": "2999-01-01T00:00:00.000000Z",
        }});
        let (info, left) = parse_token(&v).unwrap();
        assert_eq!(info.project_id.as_deref(), Some("p1"));
        assert_eq!(info.roles, vec!["member", "reader"]);
        assert!(left > Duration::from_secs(3600));
        let expired = serde_json::json!({"token": {"user": {"id": "u"}, "expires_at": "2000-01-01T00:00:00Z"}});
        assert!(parse_token(&expired).is_none());
        assert!(parse_token(&serde_json::json!({"nope": 1})).is_none());
    }

    #[test]
    fn only_plain_http_urls() {
        let d = Duration::from_secs(1);
        assert!(TokenChecker::new("http://127.0.0.1:5000/v3", d, d).is_ok());
        assert!(TokenChecker::new("https://x", d, d).is_err());
        assert!(TokenChecker::new("http://", d, d).is_err());
    }
}
