//! The proxy's HTTP front: transaction ids, auth, routing of `/v1/...`
//! requests to the account, container and object controllers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use hyper::body::Incoming;
use stratus_common::body::Body;
use tokio::net::TcpListener;
use tracing::Instrument;

use stratus_common::token_check::{Ec2Secrets, ServiceAccount, TokenChecker};

use crate::access::Access;
use crate::auth::{Auth, Identity, KeystoneRoles, RESELLER_PREFIX};
use crate::backend::Backend;
use crate::config::ProxyConfig;
use crate::errors::{empty, error, explain, Response};
use crate::tempurl::TempUrl;
use crate::{acl, db, object};

pub const MAX_OBJECT_NAME: usize = 1024;
pub const MAX_CONTAINER_NAME: usize = 256;
pub const MAX_ACCOUNT_NAME: usize = 256;
pub const MAX_FILE_SIZE: u64 = 5 * 1024 * 1024 * 1024 + 2;

pub type Request = http::Request<Incoming>;

#[derive(Debug)]
pub struct Proxy {
    pub config: ProxyConfig,
    pub backend: Backend,
    pub auth: Auth,
    /// Checks Keystone tokens, when an identity service is configured.
    pub keystone: Option<(TokenChecker, KeystoneRoles)>,
    /// EC2 credentials for the S3 API, when a service account is configured.
    pub s3: Option<Ec2Secrets>,
    /// Containers recently seen to exist (`/account/container` → when).
    pub containers: std::sync::Mutex<
        std::collections::HashMap<String, (std::time::Instant, db::ContainerInfo)>,
    >,
    /// Accounts recently looked at (`AUTH_…` → when, what).
    pub accounts:
        std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, db::AccountInfo)>>,
}

/// What a Swift API request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Account {
        account: String,
    },
    Container {
        account: String,
        container: String,
    },
    Object {
        account: String,
        container: String,
        object: String,
    },
}

impl Target {
    pub fn account(&self) -> &str {
        match self {
            Target::Account { account }
            | Target::Container { account, .. }
            | Target::Object { account, .. } => account,
        }
    }

    /// Parses `/v1/<account>[/<container>[/<object>]]`.
    pub fn parse(path: &str) -> Result<Target, Response> {
        let Some(rest) = path.strip_prefix("/v1/") else {
            return Err(error(StatusCode::NOT_FOUND));
        };
        let mut parts = rest.splitn(3, '/');
        let dec = |s: &str| {
            stratus_common::http::decode_name(s).ok_or_else(|| {
                explain(
                    StatusCode::PRECONDITION_FAILED,
                    "Invalid UTF8 or contains NULL",
                )
            })
        };
        let account = dec(parts.next().unwrap_or(""))?;
        if account.is_empty() {
            return Err(error(StatusCode::NOT_FOUND));
        }
        if account.len() > MAX_ACCOUNT_NAME {
            return Err(explain(
                StatusCode::BAD_REQUEST,
                &format!(
                    "Account name length of {} longer than {MAX_ACCOUNT_NAME}",
                    account.len()
                ),
            ));
        }
        let container = match parts.next() {
            None => return Ok(Target::Account { account }),
            Some("") if parts.clone().next().is_none() => return Ok(Target::Account { account }),
            Some(c) => dec(c)?,
        };
        if container.is_empty() {
            return Err(error(StatusCode::NOT_FOUND));
        }
        if container.len() > MAX_CONTAINER_NAME {
            return Err(explain(
                StatusCode::BAD_REQUEST,
                &format!(
                    "Container name length of {} longer than {MAX_CONTAINER_NAME}",
                    container.len()
                ),
            ));
        }
        match parts.next() {
            None | Some("") => Ok(Target::Container { account, container }),
            Some(o) => {
                let object = dec(o)?;
                if object.len() > MAX_OBJECT_NAME {
                    return Err(explain(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            "Object name length of {} longer than {MAX_OBJECT_NAME}",
                            object.len()
                        ),
                    ));
                }
                Ok(Target::Object {
                    account,
                    container,
                    object,
                })
            }
        }
    }
}

/// `tx<21 hex>-<hex time>`, as Swift makes them.
fn trans_id() -> String {
    let mut raw = [0u8; 11];
    let _ = getrandom::fill(&mut raw);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    format!("tx{}-{secs:010x}", &hex::encode(raw)[..21])
}

/// Binds and serves until the process ends.
pub async fn run(config: ProxyConfig) -> std::io::Result<()> {
    let listener = TcpListener::bind(config.bind).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.bind))
    })?;
    let proxy = Arc::new(Proxy::new(config)?);
    serve(listener, proxy).await
}

impl Proxy {
    pub fn new(config: ProxyConfig) -> std::io::Result<Proxy> {
        let backend = Backend::new(&config).map_err(std::io::Error::other)?;
        let auth = Auth::new(
            config.users.clone(),
            Duration::from_secs(config.token_ttl_secs),
        );
        let keystone = match &config.identity_url {
            None => None,
            Some(url) => {
                let checker = TokenChecker::new(
                    url,
                    Duration::from_secs(config.token_recheck_secs),
                    Duration::from_millis(config.node_timeout_ms),
                )
                .map_err(std::io::Error::other)?;
                let roles = KeystoneRoles {
                    operator: config.operator_roles.clone(),
                    reader: config.reader_roles.clone(),
                    reseller_admin: config.reseller_admin_role.clone(),
                };
                Some((checker, roles))
            }
        };
        let s3 = match (&config.identity_url, &config.identity_service) {
            (Some(url), Some(a)) => Some(
                Ec2Secrets::new(
                    url,
                    ServiceAccount {
                        user: a.user.clone(),
                        password: a.password.clone(),
                        project: a.project.clone(),
                    },
                    Duration::from_secs(config.token_recheck_secs),
                    Duration::from_millis(config.node_timeout_ms),
                )
                .map_err(std::io::Error::other)?,
            ),
            _ => None,
        };
        Ok(Proxy {
            config,
            backend,
            auth,
            keystone,
            s3,
            containers: Default::default(),
            accounts: Default::default(),
        })
    }
}

pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "proxy listening");
    stratus_common::http::serve(listener, move |req, peer| handle(proxy.clone(), req, peer)).await
}

async fn handle(proxy: Arc<Proxy>, req: Request, peer: SocketAddr) -> Response {
    let txn = trans_id();
    let span = tracing::info_span!("request", %txn, method = %req.method(), path = %req.uri().path(), %peer);
    let mut resp = async {
        let resp = route(&proxy, req, &txn, peer).await;
        tracing::info!(status = resp.status().as_u16(), "done");
        resp
    }
    .instrument(span)
    .await;
    if let Ok(v) = HeaderValue::from_str(&txn) {
        resp.headers_mut().insert("x-trans-id", v.clone());
        resp.headers_mut().insert("x-openstack-request-id", v);
    }
    resp
}

/// Swift's `max_header_size`: no header line may be longer.
pub const MAX_HEADER_SIZE: usize = 8192;
/// More headers than this is not a client we serve.
const MAX_HEADER_COUNT: usize = 256;

async fn route(proxy: &Arc<Proxy>, req: Request, txn: &str, peer: SocketAddr) -> Response {
    let s3 = proxy.s3.is_some() && crate::s3::is_s3_path(req.uri().path());
    let too_many = req.headers().len() > MAX_HEADER_COUNT;
    let too_long = req
        .headers()
        .iter()
        .any(|(k, v)| k.as_str().len() + v.len() + 2 > MAX_HEADER_SIZE);
    if too_many || too_long {
        if s3 {
            let e = crate::s3::errors::S3Error::new(
                "RequestHeaderSectionTooLarge",
                "Your request header section exceeds the maximum allowed size.",
            );
            return e.into_response(txn, req.uri().path());
        }
        let why = if too_many {
            "Too many headers"
        } else {
            "Header line too long"
        };
        return explain(StatusCode::BAD_REQUEST, why);
    }
    if s3 {
        return crate::s3::handle(proxy, req, txn).await;
    }
    match req.uri().path() {
        "/healthcheck" => return text(StatusCode::OK, "OK"),
        "/info" if req.method() == Method::GET || req.method() == Method::HEAD => {
            return info(proxy)
        }
        "/auth/v1.0" | "/auth/v1.0/" => return login(proxy, &req),
        _ => {}
    }
    // System metadata is the proxy's own: clients neither set it (as
    // Swift's gatekeeper) nor see it (below).
    let mut req = req;
    strip_sysmeta(req.headers_mut());
    let target = match Target::parse(req.uri().path()) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !target.account().starts_with(RESELLER_PREFIX) {
        return error(StatusCode::UNAUTHORIZED);
    }
    // CORS: the container whose rules apply, and the browser's origin.
    let origin = req
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let info = match (&target, &origin) {
        (
            Target::Container { account, container }
            | Target::Object {
                account, container, ..
            },
            Some(_),
        ) => db::container_info(proxy, account, container).await,
        _ => None,
    };
    if req.method() == Method::OPTIONS {
        return crate::cors::preflight(info.as_ref(), req.headers());
    }
    // A signed HTML form uploads without a token.
    if crate::formpost::is_form(req.method(), req.headers()) {
        match &target {
            Target::Container { account, container } => {
                return crate::formpost::handle(proxy, (account, container, ""), req).await
            }
            Target::Object {
                account,
                container,
                object,
            } => return crate::formpost::handle(proxy, (account, container, object), req).await,
            Target::Account { .. } => {}
        }
    }
    // A TempURL stands in for a token, for its object and method only.
    let temp_url = match &target {
        Target::Object {
            account,
            container,
            object,
        } => match TempUrl::parse(req.uri().query()) {
            None => None,
            Some(Err(r)) => return r,
            Some(Ok(t)) => {
                let path = format!("/v1/{account}/{container}/{object}");
                let keys = crate::tempurl::keys(proxy, account, container).await;
                if !t.allows(req.method(), &path, peer.ip(), now_secs(), &keys) {
                    return crate::tempurl::invalid();
                }
                // It names one object: no manifests reaching elsewhere, no
                // bulk operations.
                let reaching = has_query(&req, "multipart-manifest")
                    || has_query(&req, "extract-archive")
                    || req.headers().contains_key("x-object-manifest");
                if reaching && req.method() != Method::GET && req.method() != Method::HEAD {
                    return crate::tempurl::invalid();
                }
                Some((t, path))
            }
        },
        _ => None,
    };
    let access = match temp_url {
        // Its object may be a large object whose segments are elsewhere in
        // the account: those are read, never written.
        Some(_) => Access::reader(Vec::new()),
        None => match authorize(proxy, &req, &target).await {
            Ok(a) => a,
            Err(r) => return r,
        },
    };
    let downloading = req.method() == Method::GET;
    if req.method() == Method::PUT {
        if let Some(kind) = crate::extract::requested(req.uri().query()) {
            let kind = match kind {
                Ok(k) => k,
                Err(r) => return r,
            };
            let (account, base) = match target {
                Target::Account { account } => (account, (None, String::new())),
                Target::Container { account, container } => {
                    (account, (Some(container), String::new()))
                }
                Target::Object {
                    account,
                    container,
                    object,
                } => (
                    account,
                    (
                        Some(container),
                        format!("{}/", object.trim_end_matches('/')),
                    ),
                ),
            };
            return crate::extract::extract(proxy.clone(), account, base, access, kind, req).await;
        }
    }
    let mut resp = match target {
        Target::Object {
            account,
            container,
            object,
        } => object::handle(proxy, (&account, &container, &object), &access, req).await,
        Target::Container { account, container } => {
            let (parts, _) = req.into_parts();
            db::container(proxy, &account, &container, &parts).await
        }
        Target::Account { account } if has_query(&req, "bulk-delete") => {
            let deleting = req.method() == Method::POST || req.method() == Method::DELETE;
            match deleting {
                true => crate::bulk::delete(proxy.clone(), account, req).await,
                false => error(StatusCode::METHOD_NOT_ALLOWED),
            }
        }
        Target::Account { account } => {
            let (parts, _) = req.into_parts();
            db::account(proxy, &account, &parts).await
        }
    };
    if let (Some(info), Some(origin)) = (&info, &origin) {
        crate::cors::decorate(&mut resp, info, origin);
    }
    if let (Some((t, path)), true) = (&temp_url, downloading && resp.status().is_success()) {
        if let Ok(v) = HeaderValue::from_str(&t.disposition(path)) {
            resp.headers_mut().insert("content-disposition", v);
        }
    }
    strip_sysmeta(resp.headers_mut());
    resp
}

/// Whether the query has parameter `name` (with a value or not).
fn has_query(req: &Request, name: &str) -> bool {
    query_param(req.uri().query(), name).is_some()
}

/// A query parameter's decoded value ("" when it has none), if present.
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (k == name).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn strip_sysmeta(h: &mut http::HeaderMap) {
    let sysmeta: Vec<_> = h
        .keys()
        .filter(|k| k.as_str().contains("-sysmeta-"))
        .cloned()
        .collect();
    for k in sysmeta {
        h.remove(k);
    }
}

/// Owners may do anything in their account; others only what the
/// container's ACLs grant. 401 without a valid token, 403 with one.
/// What the caller may do elsewhere in the account comes back.
async fn authorize(proxy: &Proxy, req: &Request, target: &Target) -> Result<Access, Response> {
    let token = req
        .headers()
        .get("x-auth-token")
        .or_else(|| req.headers().get("x-storage-token"));
    let token = token.and_then(|t| t.to_str().ok());
    let id = match token {
        Some(t) => Some(
            identify(proxy, t)
                .await?
                .ok_or_else(|| error(StatusCode::UNAUTHORIZED))?,
        ),
        None => None,
    };
    if let Target::Account { .. } = target {
        // Creating and deleting accounts, and their quotas, are the
        // reseller admin's (as Swift's allow_account_management and
        // account_quotas have it).
        let method = req.method();
        let bulk = has_query(req, "extract-archive") || has_query(req, "bulk-delete");
        let managing = (method == Method::PUT || method == Method::DELETE) && !bulk;
        if managing && !proxy.config.allow_account_management {
            return Err(error(StatusCode::METHOD_NOT_ALLOWED));
        }
        if managing || (method == Method::POST && crate::quota::sets_account_quota(req.headers())) {
            return match &id {
                Some(i) if i.reseller_admin => Ok(Access::owner()),
                Some(_) => Err(error(StatusCode::FORBIDDEN)),
                None => Err(error(StatusCode::UNAUTHORIZED)),
            };
        }
    }
    let reading = matches!(req.method().as_str(), "GET" | "HEAD");
    if let Some(i) = &id {
        if i.owns(target.account()) {
            return Ok(Access::owner());
        }
        if reading && i.reads(target.account()) {
            return Ok(Access::reader(i.acl_names.clone()));
        }
    }
    let deny = || {
        Err(error(if id.is_some() {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNAUTHORIZED
        }))
    };
    let (container, is_object) = match target {
        Target::Account { .. } => return deny(),
        Target::Container { container, .. } => (container, false),
        Target::Object { container, .. } => (container, true),
    };
    let Some(info) = db::container_info(proxy, target.account(), container).await else {
        return deny();
    };
    let who: &[(String, String)] = id.as_ref().map_or(&[], |i| &i.acl_names);
    let (read, write) = (info.read_acl.as_deref(), info.write_acl.as_deref());
    let allowed = match (req.method().as_str(), is_object) {
        ("GET" | "HEAD", true) => acl::may_read(read, who),
        ("GET" | "HEAD", false) => acl::may_list(read, who),
        ("PUT" | "POST" | "DELETE" | "COPY", true) => acl::may_write(write, who),
        _ => false,
    };
    if allowed {
        Ok(Access::acl(who.to_vec()))
    } else {
        deny()
    }
}

/// The identity behind a token: a v1.0 token (`AUTH_tk…`) from this
/// proxy, else a Keystone token checked with the identity service.
/// Ok(None): not valid. 503 when the identity service cannot answer.
async fn identify(proxy: &Proxy, token: &str) -> Result<Option<Identity>, Response> {
    if token.starts_with("AUTH_tk") {
        return Ok(proxy.auth.identify(token));
    }
    let Some((checker, roles)) = &proxy.keystone else {
        return Ok(None);
    };
    match checker.check(token).await {
        Ok(info) => Ok(info.and_then(|t| Identity::from_keystone(&t, roles))),
        Err(e) => {
            tracing::warn!(error = %e, "token check failed");
            Err(error(StatusCode::SERVICE_UNAVAILABLE))
        }
    }
}

fn login(proxy: &Proxy, req: &Request) -> Response {
    let h = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    let (Some(user), Some(key)) = (
        h("x-auth-user").or(h("x-storage-user")),
        h("x-auth-key").or(h("x-storage-pass")),
    ) else {
        return error(StatusCode::UNAUTHORIZED);
    };
    let Some((token, id, ttl)) = proxy.auth.login(user, key) else {
        return error(StatusCode::UNAUTHORIZED);
    };
    let host = h("host").unwrap_or("127.0.0.1");
    let url = format!("http://{host}/v1/{}", id.account);
    let mut r = empty(StatusCode::OK);
    for (n, v) in [
        ("x-storage-url", url.as_str()),
        ("x-auth-token", token.as_str()),
        ("x-storage-token", token.as_str()),
        ("x-auth-token-expires", &ttl.as_secs().to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut().insert(n, v);
        }
    }
    r
}

pub fn text(status: StatusCode, s: &str) -> Response {
    let mut r = http::Response::new(Body::full(Bytes::from(s.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));
    r
}

/// `/info`: the cluster's constraints, as Swift publishes them.
fn info(proxy: &Proxy) -> Response {
    let mut v = serde_json::json!({
        "swift": {
            "version": concat!("stratus-", env!("CARGO_PKG_VERSION")),
            "max_file_size": MAX_FILE_SIZE,
            "max_meta_name_length": 128,
            "max_meta_value_length": 256,
            "max_meta_count": 90,
            "max_meta_overall_size": 4096,
            "max_header_size": MAX_HEADER_SIZE,
            "max_object_name_length": MAX_OBJECT_NAME,
            "max_container_name_length": MAX_CONTAINER_NAME,
            "max_account_name_length": MAX_ACCOUNT_NAME,
            "container_listing_limit": 10_000,
            "account_listing_limit": 10_000,
            "extra_header_count": 0,
            "valid_api_versions": ["v1", "v1.0"],
            "policies": [{"name": "Policy-0", "default": true}],
            "strict_cors_mode": true,
        },
        "tempauth": {"account_acls": false},
        "tempurl": {
            "methods": ["GET", "HEAD", "PUT", "POST", "DELETE"],
            "allowed_digests": ["sha1", "sha256", "sha512"],
        },
        "formpost": {},
        "container_quotas": {},
        "account_quotas": {},
        "slo": {
            "max_manifest_segments": crate::slo::MAX_SEGMENTS,
            "max_manifest_size": 8 * 1024 * 1024,
            "min_segment_size": 1,
        },
        "bulk_upload": {
            "max_containers_per_extraction": crate::extract::MAX_CONTAINERS,
            "max_failed_extractions": 1000,
        },
        "bulk_delete": {
            "max_deletes_per_request": crate::bulk::MAX_DELETES,
            "max_failed_deletes": 1000,
        },
    });
    if proxy.keystone.is_some() {
        v["keystoneauth"] = serde_json::json!({});
    }
    let mut r = http::Response::new(Body::full(Bytes::from(v.to_string())));
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_swift_paths() {
        assert_eq!(
            Target::parse("/v1/AUTH_a").unwrap(),
            Target::Account {
                account: "AUTH_a".into()
            }
        );
        assert_eq!(
            Target::parse("/v1/AUTH_a/").unwrap(),
            Target::Account {
                account: "AUTH_a".into()
            }
        );
        assert_eq!(
            Target::parse("/v1/AUTH_a/c/").unwrap(),
            Target::Container {
                account: "AUTH_a".into(),
                container: "c".into()
            }
        );
        assert_eq!(
            Target::parse("/v1/AUTH_a/c/d/e%20f").unwrap(),
            Target::Object {
                account: "AUTH_a".into(),
                container: "c".into(),
                object: "d/e f".into()
            }
        );
        assert_eq!(Target::parse("/v2/AUTH_a").unwrap_err().status(), 404);
        assert_eq!(Target::parse("/v1/AUTH_a/c/%FF").unwrap_err().status(), 412);
        let long = format!("/v1/AUTH_a/c/{}", "o".repeat(1025));
        assert_eq!(Target::parse(&long).unwrap_err().status(), 400);
        let long = format!("/v1/AUTH_a/{}", "c".repeat(257));
        assert_eq!(Target::parse(&long).unwrap_err().status(), 400);
    }

    proptest! {
        #[test]
        fn path_parser_never_panics(s in "\\PC{0,60}") {
            let _ = Target::parse(&s);
            let _ = Target::parse(&format!("/v1/{s}"));
        }
    }
}
