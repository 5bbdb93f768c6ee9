//! Authentication and token validation: who a request proves to be
//! (password, token or application credential), what scope it asks for,
//! which roles it holds there, and the token that says so. Validation
//! rereads the records every time, so a disabled user, a deleted project
//! or a removed role ends the tokens that depended on them at once.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::model::{ActorKind, AppCredential, Domain, Project, RevokeEvent, Role, Target, User};
use crate::policy::Caller;
use crate::token::{audit_text, new_audit_id, Method, Payload, Scope};
use crate::Identity;

pub use stratus_common::timestamp::unix_micros as now_us;

/// A validated token and everything it refers to.
#[derive(Debug, Clone)]
pub struct TokenData {
    pub payload: Payload,
    pub user: User,
    pub user_domain: Domain,
    pub project: Option<(Project, Domain)>,
    pub domain: Option<Domain>,
    pub roles: Vec<Role>,
    pub app_cred: Option<AppCredential>,
}

impl TokenData {
    pub fn caller(&self) -> Caller {
        Caller {
            user_id: self.user.id.clone(),
            scope: self.payload.scope.clone(),
            roles: self.roles.iter().map(|r| r.name.clone()).collect(),
            restricted: self.app_cred.as_ref().is_some_and(|a| !a.unrestricted),
        }
    }
}

// The request body of POST /v3/auth/tokens.

#[derive(Debug, Deserialize)]
pub struct AuthRequest {
    auth: AuthBody,
}

#[derive(Debug, Deserialize)]
struct AuthBody {
    identity: IdentityBody,
    #[serde(default)]
    scope: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct IdentityBody {
    methods: Vec<String>,
    password: Option<PasswordBody>,
    token: Option<TokenBody>,
    application_credential: Option<AppCredBody>,
}

#[derive(Debug, Deserialize)]
struct PasswordBody {
    user: UserRef,
}

#[derive(Debug, Deserialize)]
pub struct UserRef {
    id: Option<String>,
    name: Option<String>,
    domain: Option<NameRef>,
    password: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NameRef {
    pub id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenBody {
    id: String,
}

#[derive(Debug, Deserialize)]
struct AppCredBody {
    id: Option<String>,
    name: Option<String>,
    secret: String,
    user: Option<UserRef>,
}

/// What scope a request asks for, still by name or id.
enum WantScope {
    Default,
    Unscoped,
    Project(NameRef, Option<NameRef>),
    Domain(NameRef),
    System,
}

fn parse_scope(v: Option<Value>) -> Result<WantScope> {
    let bad = || Error::bad("Invalid scope");
    let named =
        |v: &Value| -> Result<NameRef> { serde_json::from_value(v.clone()).map_err(|_| bad()) };
    match v {
        None | Some(Value::Null) => Ok(WantScope::Default),
        Some(Value::String(s)) if s == "unscoped" => Ok(WantScope::Unscoped),
        Some(Value::Object(o)) if o.len() == 1 => {
            if let Some(p) = o.get("project") {
                let domain = p.get("domain").map(named).transpose()?;
                Ok(WantScope::Project(named(p)?, domain))
            } else if let Some(d) = o.get("domain") {
                Ok(WantScope::Domain(named(d)?))
            } else if o.get("system").and_then(|s| s.get("all")) == Some(&Value::Bool(true)) {
                Ok(WantScope::System)
            } else {
                Err(bad())
            }
        }
        _ => Err(bad()),
    }
}

/// The methods a client may name in `POST /v3/auth/tokens`.
fn parse_method(m: &str) -> Result<Method> {
    [Method::Password, Method::Token, Method::AppCredential]
        .into_iter()
        .find(|x| x.name() == m)
        .ok_or(Error::Unauthorized)
}

impl Identity {
    pub fn domain_by_ref(&self, r: &NameRef) -> Result<Domain> {
        match (&r.id, &r.name) {
            (Some(id), _) => self.store.fetch(id),
            (None, Some(name)) => self
                .store
                .find_by_name("", name)?
                .ok_or_else(|| Error::not_found("domain", name)),
            _ => Err(Error::bad("domain needs an id or a name")),
        }
    }

    fn user_by_ref(&self, r: &UserRef) -> Result<User> {
        let user = match (&r.id, &r.name, &r.domain) {
            (Some(id), _, _) => self.store.get::<User>(id)?,
            (None, Some(name), Some(d)) => {
                let domain = self.domain_by_ref(d).map_err(|_| Error::Unauthorized)?;
                self.store.find_by_name(&domain.id, name)?
            }
            _ => return Err(Error::bad("user needs an id, or a name and a domain")),
        };
        user.ok_or(Error::Unauthorized)
    }

    /// Checks a login and makes its token. Slow on purpose for passwords
    /// (argon2); call it off the async executor.
    pub fn authenticate(&self, req: AuthRequest) -> Result<(String, TokenData)> {
        let body = req.auth;
        let methods = body
            .identity
            .methods
            .iter()
            .map(|m| parse_method(m))
            .collect::<Result<Vec<_>>>()?;
        if methods.is_empty() {
            return Err(Error::bad("no authentication method"));
        }
        let mut want = parse_scope(body.scope)?;
        let mut audit_parent = None;
        let mut app_cred = None;
        let mut user: Option<User> = None;
        for m in &methods {
            let who = match m {
                Method::Password => {
                    let p = body
                        .identity
                        .password
                        .as_ref()
                        .ok_or_else(|| Error::bad("password missing"))?;
                    let u = self.user_by_ref(&p.user)?;
                    let given = p.user.password.as_deref().ok_or(Error::Unauthorized)?;
                    let ok = u
                        .password_hash
                        .as_deref()
                        .is_some_and(|h| crate::password::verify(given, h));
                    if !ok {
                        tracing::info!(user_id = %u.id, "wrong password");
                        return Err(Error::Unauthorized);
                    }
                    u
                }
                Method::Token => {
                    let t = body
                        .identity
                        .token
                        .as_ref()
                        .ok_or_else(|| Error::bad("token missing"))?;
                    let old = self.validate(&t.id).map_err(|_| Error::Unauthorized)?;
                    if old.app_cred.is_some() {
                        return Err(Error::Forbidden(
                            "Application credential tokens cannot be rescoped.".into(),
                        ));
                    }
                    audit_parent = old.payload.audit_ids.first().copied();
                    if matches!(want, WantScope::Default) {
                        want = WantScope::Unscoped;
                    }
                    old.user
                }
                Method::AppCredential => {
                    let a = body
                        .identity
                        .application_credential
                        .as_ref()
                        .ok_or_else(|| Error::bad("application_credential missing"))?;
                    let (cred, u) = self.app_cred_login(a)?;
                    want = WantScope::Project(
                        NameRef {
                            id: Some(cred.project_id.clone()),
                            name: None,
                        },
                        None,
                    );
                    app_cred = Some(cred);
                    u
                }
                Method::Ec2Credential => return Err(Error::Unauthorized),
            };
            if user.as_ref().is_some_and(|u: &User| u.id != who.id) {
                return Err(Error::Unauthorized);
            }
            user = Some(who);
        }
        let user = user.ok_or(Error::Unauthorized)?;
        let scope = self.resolve_scope(&user, want)?;
        self.issue(
            &user.id,
            methods,
            scope,
            audit_parent,
            app_cred.map(|a| a.id),
        )
    }

    /// A new token for `user_id` in `scope` (checked like a validation),
    /// and what it says.
    pub(crate) fn issue(
        &self,
        user_id: &str,
        methods: Vec<Method>,
        scope: Scope,
        audit_parent: Option<[u8; 16]>,
        app_cred_id: Option<String>,
    ) -> Result<(String, TokenData)> {
        let now = now_us();
        let mut audit_ids = vec![new_audit_id().map_err(|e| Error::Internal(e.to_string()))?];
        audit_ids.extend(audit_parent);
        let payload = Payload {
            user_id: user_id.to_string(),
            methods,
            scope,
            issued_us: now,
            expires_us: now + self.config.token_expiration_secs * 1_000_000,
            audit_ids,
            app_cred_id,
        };
        let data = self.describe(payload)?;
        let token = self
            .keys
            .seal(&data.payload.encode(), now / 1_000_000)
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok((token, data))
    }

    fn app_cred_login(&self, a: &AppCredBody) -> Result<(AppCredential, User)> {
        let cred = match (&a.id, &a.name, &a.user) {
            (Some(id), _, _) => self.store.get::<AppCredential>(id)?,
            (None, Some(name), Some(u)) => {
                let user = self.user_by_ref(u)?;
                self.store.find_by_name(&user.id, name)?
            }
            _ => {
                return Err(Error::bad(
                    "application credential needs an id, or a name and a user",
                ))
            }
        }
        .ok_or(Error::Unauthorized)?;
        if !crate::password::verify(&a.secret, &cred.secret_hash) {
            return Err(Error::Unauthorized);
        }
        if cred.expires_at.is_some_and(|e| e * 1_000_000 <= now_us()) {
            return Err(Error::Unauthorized);
        }
        let user = self
            .store
            .get::<User>(&cred.user_id)?
            .ok_or(Error::Unauthorized)?;
        Ok((cred, user))
    }

    fn resolve_scope(&self, user: &User, want: WantScope) -> Result<Scope> {
        let no_access = || Error::Unauthorized;
        let scope = match want {
            WantScope::Unscoped => return Ok(Scope::Unscoped),
            WantScope::Default => match &user.default_project_id {
                Some(p)
                    if self.store.get::<Project>(p)?.is_some_and(|p| p.enabled)
                        && !self
                            .roles_on(&user.id, &Target::Project(p.clone()))?
                            .is_empty() =>
                {
                    Scope::Project(p.clone())
                }
                _ => return Ok(Scope::Unscoped),
            },
            WantScope::System => Scope::System,
            WantScope::Domain(d) => {
                Scope::Domain(self.domain_by_ref(&d).map_err(|_| no_access())?.id)
            }
            WantScope::Project(p, domain) => {
                let project = match (&p.id, &p.name, domain) {
                    (Some(id), _, _) => self.store.get::<Project>(id)?,
                    (None, Some(name), Some(d)) => {
                        let d = self.domain_by_ref(&d).map_err(|_| no_access())?;
                        self.store.find_by_name(&d.id, name)?
                    }
                    _ => return Err(Error::bad("project needs an id, or a name and a domain")),
                };
                Scope::Project(project.ok_or_else(no_access)?.id)
            }
        };
        Ok(scope)
    }

    /// Opens, checks and describes a token; 404 as Keystone answers for a
    /// token that is not (or no longer) valid.
    pub fn validate(&self, token: &str) -> Result<TokenData> {
        let invalid = || Error::not_found("token", "");
        let raw = self.keys.open(token).ok_or_else(invalid)?;
        let payload = Payload::decode(&raw).ok_or_else(invalid)?;
        let now = now_us();
        if payload.expires_us <= now {
            return Err(invalid());
        }
        if self
            .store
            .revocations()?
            .iter()
            .any(|e| revokes(e, &payload))
        {
            return Err(invalid());
        }
        self.describe(payload).map_err(|e| match e {
            Error::Internal(_) => e,
            _ => invalid(),
        })
    }

    /// Loads what the payload names; fails if any of it is gone, disabled
    /// or no longer grants a role.
    pub(crate) fn describe(&self, payload: Payload) -> Result<TokenData> {
        let user: User = self
            .store
            .get(&payload.user_id)?
            .ok_or(Error::Unauthorized)?;
        let user_domain: Domain = self
            .store
            .get(&user.domain_id)?
            .ok_or(Error::Unauthorized)?;
        if !user.enabled || !user_domain.enabled {
            return Err(Error::Unauthorized);
        }
        let (target, project, domain) = match &payload.scope {
            Scope::Unscoped => (None, None, None),
            Scope::System => (Some(Target::System), None, None),
            Scope::Domain(d) => {
                let d = self
                    .store
                    .get::<Domain>(d)?
                    .filter(|d| d.enabled)
                    .ok_or(Error::Unauthorized)?;
                (Some(Target::Domain(d.id.clone())), None, Some(d))
            }
            Scope::Project(p) => {
                let p = self
                    .store
                    .get::<Project>(p)?
                    .filter(|p| p.enabled)
                    .ok_or(Error::Unauthorized)?;
                let pd = self
                    .store
                    .get::<Domain>(&p.domain_id)?
                    .filter(|d| d.enabled)
                    .ok_or(Error::Unauthorized)?;
                (Some(Target::Project(p.id.clone())), Some((p, pd)), None)
            }
        };
        let mut roles = match &target {
            Some(t) => self.roles_on(&user.id, t)?,
            None => Vec::new(),
        };
        if target.is_some() && roles.is_empty() {
            return Err(Error::Unauthorized);
        }
        let app_cred = match &payload.app_cred_id {
            None => None,
            Some(id) => {
                let a: AppCredential = self.store.get(id)?.ok_or(Error::Unauthorized)?;
                if a.expires_at.is_some_and(|e| e * 1_000_000 <= now_us()) {
                    return Err(Error::Unauthorized);
                }
                let granted: HashSet<String> = self.expand(&a.role_ids)?.into_iter().collect();
                roles.retain(|r| granted.contains(&r.id));
                if roles.is_empty() {
                    return Err(Error::Unauthorized);
                }
                Some(a)
            }
        };
        Ok(TokenData {
            payload,
            user,
            user_domain,
            project,
            domain,
            roles,
            app_cred,
        })
    }

    /// Role ids with every role they imply, transitively.
    pub fn expand(&self, role_ids: &[String]) -> Result<Vec<String>> {
        let snapshot = self.store.roles()?;
        let implications = &snapshot.implications;
        let mut out: Vec<String> = Vec::new();
        let mut todo: Vec<String> = role_ids.to_vec();
        while let Some(r) = todo.pop() {
            if out.contains(&r) {
                continue;
            }
            todo.extend(
                implications
                    .iter()
                    .filter(|(p, _)| *p == r)
                    .map(|(_, i)| i.clone()),
            );
            out.push(r);
        }
        Ok(out)
    }

    /// The roles `user_id` holds on `target`, directly or through its
    /// groups, with implied roles.
    pub fn roles_on(&self, user_id: &str, target: &Target) -> Result<Vec<Role>> {
        let members = self.store.memberships()?;
        let groups = members.get(user_id).map(Vec::as_slice).unwrap_or_default();
        let direct: Vec<String> = self
            .store
            .all_assignments()?
            .iter()
            .filter(|a| a.target == *target)
            .filter(|a| match a.actor {
                ActorKind::User => a.actor_id == user_id,
                ActorKind::Group => groups.contains(&a.actor_id),
            })
            .map(|a| a.role_id.clone())
            .collect();
        let snapshot = self.store.roles()?;
        let mut roles: Vec<Role> = self
            .expand(&direct)?
            .iter()
            .filter_map(|id| snapshot.roles.get(id).cloned())
            .collect();
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(roles)
    }

    pub fn revoke(&self, e: RevokeEvent) -> Result<()> {
        let max_life = self.config.token_expiration_secs * 1_000_000;
        self.store
            .add_revocation(&e, now_us().saturating_sub(max_life))
    }

    /// The token body Keystone returns for `POST`/`GET /v3/auth/tokens`.
    pub fn token_view(&self, t: &TokenData, with_catalog: bool) -> Result<Value> {
        let named = |id: &str, name: &str| json!({"id": id, "name": name});
        let mut tok = json!({
            "methods": t.payload.methods.iter().map(|m| m.name()).collect::<Vec<_>>(),
            "user": {
                "id": t.user.id, "name": t.user.name,
                "domain": named(&t.user_domain.id, &t.user_domain.name),
                "password_expires_at": null,
            },
            "audit_ids": t.payload.audit_ids.iter().map(audit_text).collect::<Vec<_>>(),
            "issued_at": stratus_common::timestamp::iso8601_micros(t.payload.issued_us),
            "expires_at": stratus_common::timestamp::iso8601_micros(t.payload.expires_us),
        });
        if let Some((p, d)) = &t.project {
            tok["project"] = json!({"id": p.id, "name": p.name, "domain": named(&d.id, &d.name)});
            tok["is_domain"] = json!(false);
        }
        if let Some(d) = &t.domain {
            tok["domain"] = named(&d.id, &d.name);
        }
        if t.payload.scope == Scope::System {
            tok["system"] = json!({"all": true});
        }
        if t.payload.scope != Scope::Unscoped {
            tok["roles"] = json!(t
                .roles
                .iter()
                .map(|r| named(&r.id, &r.name))
                .collect::<Vec<_>>());
        }
        if let Some(a) = &t.app_cred {
            tok["application_credential"] =
                json!({"id": a.id, "name": a.name, "restricted": !a.unrestricted});
        }
        if with_catalog {
            let project = t.project.as_ref().map(|(p, _)| p.id.as_str());
            tok["catalog"] = self.catalog(project, t.payload.scope == Scope::Unscoped)?;
        }
        Ok(json!({ "token": tok }))
    }

    /// The service catalog; `$(project_id)s` / `%(project_id)s` in URLs
    /// become the project, and endpoints needing a project are left out
    /// without one. Unscoped tokens get an empty catalog, as in Keystone.
    pub fn catalog(&self, project_id: Option<&str>, unscoped: bool) -> Result<Value> {
        if unscoped {
            return Ok(json!([]));
        }
        let snapshot = self.store.catalog()?;
        let mut out = Vec::new();
        for s in snapshot.services.iter().filter(|s| s.enabled) {
            let mut eps = Vec::new();
            for e in snapshot
                .endpoints
                .iter()
                .filter(|e| e.service_id == s.id && e.enabled)
            {
                let Some(url) = substitute(&e.url, project_id) else {
                    continue;
                };
                let region = e
                    .region_id
                    .as_ref()
                    .filter(|r| snapshot.regions.iter().any(|x| x.id == **r));
                eps.push(
                    json!({"id": e.id, "interface": e.interface, "region_id": region,
                                "region": region, "url": url}),
                );
            }
            out.push(json!({"id": s.id, "type": s.kind, "name": s.name, "endpoints": eps}));
        }
        Ok(Value::Array(out))
    }
}

fn substitute(url: &str, project_id: Option<&str>) -> Option<String> {
    let mut out = url.to_string();
    for pat in [
        "$(project_id)s",
        "%(project_id)s",
        "$(tenant_id)s",
        "%(tenant_id)s",
    ] {
        if out.contains(pat) {
            out = out.replace(pat, project_id?);
        }
    }
    Some(out)
}

fn revokes(e: &RevokeEvent, p: &Payload) -> bool {
    if p.issued_us > e.issued_before {
        return false;
    }
    let project = match &p.scope {
        Scope::Project(id) => Some(id.as_str()),
        _ => None,
    };
    let user_ok = e.user_id.as_deref().is_none_or(|u| u == p.user_id);
    let project_ok = e.project_id.as_deref().is_none_or(|x| Some(x) == project);
    let audit_ok = e
        .audit_id
        .as_deref()
        .is_none_or(|a| p.audit_ids.iter().any(|x| audit_text(x) == a));
    let something = e.user_id.is_some() || e.project_id.is_some() || e.audit_id.is_some();
    something && user_ok && project_ok && audit_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn identity() -> (tempfile::TempDir, Identity) {
        let dir = tempfile::tempdir().unwrap();
        crate::token::Keys::setup(dir.path()).unwrap();
        let keys = crate::token::Keys::load(dir.path()).unwrap();
        let kv = std::sync::Arc::new(stratus_common::kv::MemKv::default());
        let id = Identity::with_store(crate::IdentityConfig::default(), kv, keys);
        crate::bootstrap(
            &id,
            &crate::Bootstrap {
                admin_username: "admin".into(),
                admin_password: "pw".into(),
                project_name: "admin".into(),
                region_id: "RegionOne".into(),
                identity_url: None,
                services: vec![],
            },
        )
        .unwrap();
        (dir, id)
    }

    fn login(id: &Identity, body: Value) -> Result<(String, TokenData)> {
        id.authenticate(serde_json::from_value(body).map_err(|_| Error::bad("json"))?)
    }

    #[test]
    fn password_login_scopes_and_validation() {
        let (_d, id) = identity();
        let ident = json!({"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": "pw"}}});
        // No scope asked: the default project.
        let (token, data) = login(&id, json!({"auth": {"identity": ident}})).unwrap();
        assert!(data.project.is_some());
        let names: Vec<_> = data.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["admin", "member", "reader"], "implied roles");
        assert_eq!(id.validate(&token).unwrap().user.name, "admin");
        let (_, sys) = login(
            &id,
            json!({"auth": {"identity": ident, "scope": {"system": {"all": true}}}}),
        )
        .unwrap();
        assert_eq!(sys.payload.scope, Scope::System);
        let (t, un) = login(
            &id,
            json!({"auth": {"identity": ident, "scope": "unscoped"}}),
        )
        .unwrap();
        assert_eq!(un.payload.scope, Scope::Unscoped);
        // Rescope the unscoped token to the project with the token method.
        let rescope = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": t}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
        let (_, re) = login(&id, rescope).unwrap();
        assert!(re.project.is_some());
        assert_eq!(re.payload.audit_ids.len(), 2, "keeps the parent's audit id");
        // Wrong password, unknown project.
        let bad = json!({"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": "px"}}});
        assert!(matches!(
            login(&id, json!({"auth": {"identity": bad}})),
            Err(Error::Unauthorized)
        ));
        let nowhere = json!({"auth": {"identity": ident, "scope": {"project": {"id": "nope"}}}});
        assert!(matches!(login(&id, nowhere), Err(Error::Unauthorized)));
        // Revoking by audit id ends exactly that token.
        id.revoke(RevokeEvent {
            audit_id: Some(audit_text(&data.payload.audit_ids[0])),
            issued_before: now_us(),
            ..Default::default()
        })
        .unwrap();
        assert!(id.validate(&token).is_err());
        assert!(id.validate(&t).is_ok());
    }

    proptest! {
        // Each case bootstraps (an argon2 hash); fewer cases keep it quick.
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_auth_body_is_answered_without_panic(s in "\\PC{0,300}") {
            let (_d, id) = identity();
            if let Ok(req) = serde_json::from_str::<AuthRequest>(&s) {
                let _ = id.authenticate(req);
            }
            let _ = id.validate(&s);
        }

        #[test]
        fn structured_garbage_is_refused(methods in proptest::collection::vec("[a-z_]{0,24}", 0..4),
                                         scope in proptest::option::of("[a-z{}\\[\\]\":,]{0,40}")) {
            let (_d, id) = identity();
            let mut body = json!({"auth": {"identity": {"methods": methods}}});
            if let Some(sc) = scope.and_then(|s| serde_json::from_str::<Value>(&s).ok()) {
                body["auth"]["scope"] = sc;
            }
            prop_assert!(login(&id, body).is_err());
        }
    }

    #[test]
    fn catalog_urls_take_the_project() {
        assert_eq!(
            substitute("http://h/v1/AUTH_$(project_id)s", Some("p1")).as_deref(),
            Some("http://h/v1/AUTH_p1")
        );
        assert_eq!(substitute("http://h/v1/AUTH_%(tenant_id)s", None), None);
        assert_eq!(
            substitute("http://h:5000/v3", None).as_deref(),
            Some("http://h:5000/v3")
        );
    }

    #[test]
    fn revocation_matching() {
        let p = Payload {
            user_id: "u".into(),
            methods: vec![Method::Password],
            scope: Scope::Project("p".into()),
            issued_us: 10,
            expires_us: 100,
            audit_ids: vec![[1; 16]],
            app_cred_id: None,
        };
        let by_user = RevokeEvent {
            user_id: Some("u".into()),
            issued_before: 10,
            ..Default::default()
        };
        assert!(revokes(&by_user, &p));
        let later_token = Payload {
            issued_us: 11,
            ..p.clone()
        };
        assert!(!revokes(&by_user, &later_token));
        let other = RevokeEvent {
            user_id: Some("v".into()),
            issued_before: 10,
            ..Default::default()
        };
        assert!(!revokes(&other, &p));
        let by_audit = RevokeEvent {
            audit_id: Some(audit_text(&[1; 16])),
            issued_before: 99,
            ..Default::default()
        };
        assert!(revokes(&by_audit, &p));
        let by_project = RevokeEvent {
            project_id: Some("q".into()),
            issued_before: 99,
            ..Default::default()
        };
        assert!(!revokes(&by_project, &p));
        assert!(!revokes(
            &RevokeEvent {
                issued_before: 99,
                ..Default::default()
            },
            &p
        ));
    }
}
