//! The token check every Stratus API does, as keystonemiddleware does it:
//! `X-Auth-Token` is validated with the identity service
//! (`GET /v3/auth/tokens`, the token checking itself, which Keystone's
//! policy allows for the token's own subject), and the answer is cached
//! until the token expires but at most `recheck` long, so a revoked token
//! stops working within that bound. Invalid tokens are cached too, so a
//! client retrying a bad token does not load the identity service.

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
}

#[derive(Debug, Clone)]
enum Cached {
    Valid(Arc<TokenInfo>),
    Invalid,
}

/// Caches at most this many tokens; beyond it, the expired go first and
/// then everything (a flood of distinct tokens cannot grow memory).
const MAX_CACHED: usize = 10_000;

#[derive(Debug)]
pub struct TokenChecker {
    /// `host:port` of the identity service.
    addr: String,
    recheck: Duration,
    timeout: Duration,
    pool: ConnPool<Body>,
    cache: Mutex<HashMap<[u8; 32], (Cached, Instant)>>,
}

impl TokenChecker {
    /// `url` is the identity service's base URL (`http://host:port`, with
    /// or without `/v3`).
    pub fn new(url: &str, recheck: Duration, timeout: Duration) -> Result<TokenChecker, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("identity URL must be http://host:port, not {url}"))?;
        let addr = rest.split('/').next().unwrap_or_default().to_string();
        if addr.is_empty() {
            return Err(format!("identity URL has no host: {url}"));
        }
        Ok(TokenChecker {
            addr,
            recheck,
            timeout,
            pool: ConnPool::new(16),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The token's identity; None if it is not valid (401 for the caller).
    pub async fn check(&self, token: &str) -> Result<Option<Arc<TokenInfo>>, TokenCheckError> {
        if token.is_empty() || token.len() > 8192 {
            return Ok(None);
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        if let Ok(cache) = self.cache.lock() {
            if let Some((c, until)) = cache.get(&key) {
                if *until > now {
                    return Ok(match c {
                        Cached::Valid(i) => Some(i.clone()),
                        Cached::Invalid => None,
                    });
                }
            }
        }
        let (cached, lifetime) = match self.ask(token).await? {
            Some((info, left)) => (Cached::Valid(Arc::new(info)), left.min(self.recheck)),
            None => (Cached::Invalid, self.recheck),
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED {
                cache.retain(|_, (_, until)| *until > now);
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
            }
            cache.insert(key, (cached.clone(), now + lifetime));
        }
        Ok(match cached {
            Cached::Valid(i) => Some(i),
            Cached::Invalid => None,
        })
    }

    async fn ask(&self, token: &str) -> Result<Option<(TokenInfo, Duration)>, TokenCheckError> {
        let unavailable = |e: &dyn std::fmt::Display| TokenCheckError::Unavailable(e.to_string());
        let Ok(value) = http::HeaderValue::from_str(token) else {
            return Ok(None);
        };
        let req = http::Request::get("/v3/auth/tokens?nocatalog")
            .header("host", &self.addr)
            .header("x-auth-token", value.clone())
            .header("x-subject-token", value)
            .body(Body::empty())
            .map_err(|e| unavailable(&e))?;
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
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| unavailable(&e))?
                .to_bytes();
            self.pool.put(&self.addr, sender);
            Ok::<_, TokenCheckError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| unavailable(&"timed out"))??;
        match status.as_u16() {
            200 => {}
            401 | 403 | 404 => return Ok(None),
            s => return Err(unavailable(&format!("status {s}"))),
        }
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| unavailable(&e))?;
        Ok(parse_token(&v))
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
