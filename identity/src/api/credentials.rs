//! Credentials (`/v3/credentials`), EC2 credentials (`OS-EC2`) and the
//! signature checks that turn them into tokens (`/v3/s3tokens`,
//! `/v3/ec2tokens`), application credentials, and the password change.

use base64::Engine;
use http::{HeaderValue, Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{
    field, flag_field, json_response, list, no_content, one, require, required, Req, Response,
};
use crate::auth::{now_us, TokenData};
use crate::error::{Error, Result};
use crate::model::{AppCredential, Credential, Project, Role, Target, User};
use crate::policy::Action;
use crate::token::{Method as AuthMethod, Scope};
use crate::{new_id, Identity};

pub fn route_unauthenticated(id: &Identity, req: &Req, segs: &[&str]) -> Result<Option<Response>> {
    Ok(Some(match (segs, &req.method) {
        (["users", uid, "password"], &Method::POST) => {
            super::resources::change_password(id, req, uid)?
        }
        (["s3tokens"], &Method::POST) => s3tokens(id, req)?,
        (["ec2tokens"], &Method::POST) => ec2tokens(id, req)?,
        _ => return Ok(None),
    }))
}

/// An EC2 credential's id is the SHA-256 of its access key, as in Keystone.
pub fn ec2_id(access: &str) -> String {
    hex::encode(Sha256::digest(access.as_bytes()))
}

#[derive(Debug, Deserialize)]
struct Ec2Blob {
    access: String,
    secret: String,
}

fn ec2_view(req: &Req, c: &Credential) -> Result<Value> {
    let b: Ec2Blob =
        serde_json::from_str(&c.blob).map_err(|_| Error::Internal("bad ec2 blob".into()))?;
    Ok(
        json!({"user_id": c.user_id, "tenant_id": c.project_id, "access": b.access,
              "secret": b.secret, "trust_id": null,
              "links": {"self": req.url(&format!("users/{}/credentials/OS-EC2/{}", c.user_id, b.access))}}),
    )
}

pub fn route(id: &Identity, req: &Req, t: &TokenData, segs: &[&str]) -> Result<Option<Response>> {
    let m = &req.method;
    let get = *m == Method::GET || *m == Method::HEAD;
    let r = match segs {
        ["credentials"] if *m == Method::POST => create_credential(id, req, t)?,
        ["credentials"] if get => {
            let c = t.caller();
            let all = c.is_admin();
            list(req, id.store.list::<Credential>()?, |x| {
                all || x.user_id == c.user_id
            })
        }
        ["credentials", cid] => {
            let old: Credential = id.store.fetch(cid)?;
            require(
                t,
                Action::OwnCredentials {
                    owner: &old.user_id,
                    create: false,
                },
            )?;
            match *m {
                _ if get => one(req, StatusCode::OK, &old),
                Method::PATCH => {
                    let o = req.entity("credential")?;
                    let mut c = old.clone();
                    if let Some(b) = field(&o, "blob")? {
                        if c.kind == "ec2" {
                            return Err(Error::bad("The blob of an EC2 credential cannot change"));
                        }
                        c.blob = b;
                    }
                    if o.contains_key("project_id") {
                        c.project_id = field(&o, "project_id")?;
                    }
                    id.store.update(&old, &c)?;
                    one(req, StatusCode::OK, &c)
                }
                Method::DELETE => {
                    id.store.delete(&old)?;
                    no_content()
                }
                _ => return Err(Error::MethodNotAllowed),
            }
        }
        ["users", uid, "credentials", "OS-EC2"] => {
            let u: User = id.store.fetch(uid)?;
            match *m {
                Method::POST => {
                    require(
                        t,
                        Action::OwnCredentials {
                            owner: &u.id,
                            create: true,
                        },
                    )?;
                    let v: Value = req.json()?;
                    let pid = v
                        .get("tenant_id")
                        .or(v.get("project_id"))
                        .and_then(Value::as_str);
                    let pid =
                        pid.ok_or_else(|| Error::bad("'tenant_id' is a required property"))?;
                    let p: Project = id.store.fetch(pid)?;
                    if id
                        .roles_on(&u.id, &Target::Project(p.id.clone()))?
                        .is_empty()
                    {
                        return Err(Error::Forbidden(
                            "The user has no role on that project".into(),
                        ));
                    }
                    let access = crate::new_secret()?;
                    let blob =
                        json!({"access": access, "secret": crate::new_secret()?, "trust_id": null});
                    let c = Credential {
                        id: ec2_id(&access),
                        user_id: u.id,
                        project_id: Some(p.id),
                        kind: "ec2".into(),
                        blob: blob.to_string(),
                    };
                    id.store.create(&c)?;
                    json_response(
                        StatusCode::CREATED,
                        &json!({"credential": ec2_view(req, &c)?}),
                    )
                }
                _ if get => {
                    require(
                        t,
                        Action::OwnCredentials {
                            owner: &u.id,
                            create: false,
                        },
                    )?;
                    let mut out = Vec::new();
                    for c in id.store.list::<Credential>()? {
                        if c.user_id == u.id && c.kind == "ec2" {
                            out.push(ec2_view(req, &c)?);
                        }
                    }
                    json_response(
                        StatusCode::OK,
                        &json!({"credentials": out,
                        "links": {"self": req.url(&format!("users/{}/credentials/OS-EC2", u.id)), "previous": null, "next": null}}),
                    )
                }
                _ => return Err(Error::MethodNotAllowed),
            }
        }
        ["users", uid, "credentials", "OS-EC2", access] => {
            require(
                t,
                Action::OwnCredentials {
                    owner: uid,
                    create: false,
                },
            )?;
            let c = id
                .store
                .get::<Credential>(&ec2_id(access))?
                .filter(|c| c.user_id == *uid && c.kind == "ec2")
                .ok_or_else(|| Error::not_found("credential", access))?;
            match *m {
                _ if get => {
                    json_response(StatusCode::OK, &json!({"credential": ec2_view(req, &c)?}))
                }
                Method::DELETE => {
                    id.store.delete(&c)?;
                    no_content()
                }
                _ => return Err(Error::MethodNotAllowed),
            }
        }
        ["users", uid, "application_credentials"] if *m == Method::POST => {
            create_app_cred(id, req, t, uid)?
        }
        ["users", uid, "application_credentials"] if get => {
            require(
                t,
                Action::OwnCredentials {
                    owner: uid,
                    create: false,
                },
            )?;
            let items: Vec<Value> = id
                .store
                .list::<AppCredential>()?
                .iter()
                .filter(|a| a.user_id == *uid)
                .map(|a| app_cred_view(id, req, a, None))
                .collect::<Result<_>>()?;
            let items: Vec<Value> = items
                .into_iter()
                .filter(|v| super::passes_filters(req, v))
                .collect();
            json_response(
                StatusCode::OK,
                &json!({"application_credentials": items,
                "links": {"self": req.url(&format!("users/{uid}/application_credentials")), "previous": null, "next": null}}),
            )
        }
        ["users", uid, "application_credentials", aid] => {
            require(
                t,
                Action::OwnCredentials {
                    owner: uid,
                    create: false,
                },
            )?;
            let a = id
                .store
                .get::<AppCredential>(aid)?
                .filter(|a| a.user_id == *uid)
                .ok_or_else(|| Error::not_found("application credential", aid))?;
            match *m {
                _ if get => json_response(
                    StatusCode::OK,
                    &json!({"application_credential": app_cred_view(id, req, &a, None)?}),
                ),
                Method::DELETE => {
                    id.store.delete(&a)?;
                    no_content()
                }
                _ => return Err(Error::MethodNotAllowed),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(r))
}

fn create_credential(id: &Identity, req: &Req, t: &TokenData) -> Result<Response> {
    let o = req.entity("credential")?;
    let user_id = required(&o, "user_id")?;
    require(
        t,
        Action::OwnCredentials {
            owner: &user_id,
            create: true,
        },
    )?;
    id.store.fetch::<User>(&user_id)?;
    let kind = required(&o, "type")?;
    let blob = field(&o, "blob")?.ok_or_else(|| Error::bad("'blob' is a required property"))?;
    let project_id = field(&o, "project_id")?;
    let cid = if kind == "ec2" {
        let b: Ec2Blob =
            serde_json::from_str(&blob).map_err(|_| Error::bad("Invalid blob in credential"))?;
        if project_id.is_none() || b.secret.is_empty() {
            return Err(Error::bad(
                "An EC2 credential needs a project_id and a secret",
            ));
        }
        ec2_id(&b.access)
    } else {
        new_id()
    };
    if let Some(p) = &project_id {
        id.store.fetch::<Project>(p)?;
    }
    let c = Credential {
        id: cid,
        user_id,
        project_id,
        kind,
        blob,
    };
    id.store.create(&c)?;
    Ok(one(req, StatusCode::CREATED, &c))
}

fn app_cred_view(
    id: &Identity,
    req: &Req,
    a: &AppCredential,
    secret: Option<&str>,
) -> Result<Value> {
    let mut v = super::view(req, a);
    v["links"] =
        json!({"self": req.url(&format!("users/{}/application_credentials/{}", a.user_id, a.id))});
    let mut roles = Vec::new();
    for r in &a.role_ids {
        if let Some(r) = id.store.get::<Role>(r)? {
            roles.push(json!({"id": r.id, "name": r.name, "domain_id": r.domain_id}));
        }
    }
    v["roles"] = json!(roles);
    if let Some(s) = secret {
        v["secret"] = json!(s);
    }
    Ok(v)
}

fn create_app_cred(id: &Identity, req: &Req, t: &TokenData, uid: &str) -> Result<Response> {
    // Only the user itself, and not through a restricted credential.
    let c = t.caller();
    if c.user_id != uid || c.restricted {
        return Err(Error::forbidden());
    }
    let Some((project, _)) = &t.project else {
        return Err(Error::bad(
            "Application credentials need a project-scoped token",
        ));
    };
    let o = req.entity("application_credential")?;
    let name = required(&o, "name")?;
    let secret = match field(&o, "secret")? {
        Some(s) if !s.is_empty() => s,
        _ => {
            let mut raw = [0u8; 64];
            getrandom::fill(&mut raw).map_err(|e| Error::Internal(e.to_string()))?;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        }
    };
    if secret.len() > crate::password::MAX_PASSWORD_LEN {
        return Err(Error::bad("Invalid input for field 'secret': too long"));
    }
    let expires_at = match field(&o, "expires_at")? {
        None => None,
        Some(s) => {
            let at = stratus_common::timestamp::parse_iso8601(&s)
                .ok_or_else(|| Error::bad("Invalid input for field 'expires_at'"))?;
            if at * 1_000_000 <= now_us() {
                return Err(Error::bad("The expiration time must be in the future"));
            }
            Some(at)
        }
    };
    let held: Vec<&Role> = t.roles.iter().collect();
    let role_ids = match o.get("roles") {
        // Keystone: no roles named means the token's roles.
        None | Some(Value::Null) => held.iter().map(|r| r.id.clone()).collect(),
        Some(Value::Array(list)) if list.is_empty() => held.iter().map(|r| r.id.clone()).collect(),
        Some(Value::Array(list)) => {
            let mut ids = Vec::new();
            for r in list {
                let by_id = r.get("id").and_then(Value::as_str);
                let by_name = r.get("name").and_then(Value::as_str);
                let found = held
                    .iter()
                    .find(|h| Some(h.id.as_str()) == by_id || Some(h.name.as_str()) == by_name);
                let found = found.ok_or_else(|| Error::Forbidden("The application credential may only hold roles the user has on the project".into()))?;
                ids.push(found.id.clone());
            }
            ids
        }
        Some(_) => return Err(Error::bad("'roles' must be a list")),
    };
    let a = AppCredential {
        id: new_id(),
        name,
        user_id: uid.to_string(),
        project_id: project.id.clone(),
        secret_hash: crate::password::hash(&secret).map_err(Error::Internal)?,
        description: field(&o, "description")?.unwrap_or_default(),
        expires_at,
        role_ids,
        unrestricted: flag_field(&o, "unrestricted", false)?,
    };
    id.store.create(&a)?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"application_credential": app_cred_view(id, req, &a, Some(&secret))?}),
    ))
}

#[derive(Debug, Deserialize)]
struct S3TokenBody {
    credentials: S3Credentials,
}

#[derive(Debug, Deserialize)]
struct S3Credentials {
    access: String,
    /// The request's string to sign, base64.
    token: String,
    signature: String,
}

/// The EC2 credential with this access key and its secret; 401 if none.
fn ec2_secret(id: &Identity, access: &str) -> Result<(Credential, String)> {
    let cred = id
        .store
        .get::<Credential>(&ec2_id(access))?
        .filter(|x| x.kind == "ec2")
        .ok_or(Error::Unauthorized)?;
    let blob: Ec2Blob = serde_json::from_str(&cred.blob).map_err(|_| Error::Unauthorized)?;
    Ok((cred, blob.secret))
}

/// A token for the credential's user and project, once its signature
/// checked out (200 with the token body, as Keystone answers).
fn ec2_token(
    id: &Identity,
    cred: &Credential,
    expected: Option<String>,
    given: &str,
) -> Result<Response> {
    let expected = expected.ok_or_else(|| Error::bad("Cannot check this kind of signature"))?;
    if !stratus_common::http::constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(Error::Unauthorized);
    }
    let project = cred.project_id.clone().ok_or(Error::Unauthorized)?;
    let (token, data) = id.issue(
        &cred.user_id,
        vec![AuthMethod::Ec2Credential],
        Scope::Project(project),
        None,
        None,
    )?;
    let mut r = json_response(StatusCode::OK, &id.token_view(&data, true)?);
    if let Ok(v) = HeaderValue::from_str(&token) {
        r.headers_mut().insert("x-subject-token", v);
    }
    Ok(r)
}

/// `POST /v3/s3tokens`: the S3 API's string to sign and signature.
fn s3tokens(id: &Identity, req: &Req) -> Result<Response> {
    let body: S3TokenBody = req.json()?;
    let c = body.credentials;
    let (cred, secret) = ec2_secret(id, &c.access)?;
    let sts = base64::engine::general_purpose::URL_SAFE
        .decode(c.token.trim())
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(c.token.trim()))
        .map_err(|_| Error::bad("Invalid token"))?;
    ec2_token(
        id,
        &cred,
        crate::ec2::s3_signature(&secret, &sts),
        &c.signature,
    )
}

#[derive(Debug, Deserialize)]
struct Ec2TokenBody {
    #[serde(alias = "ec2Credentials")]
    credentials: crate::ec2::Ec2Request,
}

/// `POST /v3/ec2tokens`: a request's parts; the signature is rebuilt.
fn ec2tokens(id: &Identity, req: &Req) -> Result<Response> {
    let body: Ec2TokenBody = req.json()?;
    let c = body.credentials;
    let (cred, secret) = ec2_secret(id, &c.access)?;
    ec2_token(id, &cred, c.expected_signature(&secret), &c.signature)
}
