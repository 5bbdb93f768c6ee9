//! Domains, projects (with tags and a parent), users and groups.

use http::{Method, StatusCode};
use serde_json::{json, Map, Value};

use super::{
    field, flag_field, json_response, list, no_content, one, read_scope, require, required, Req,
    Response,
};
use crate::auth::TokenData;
use crate::error::{Error, Result};
use crate::model::{AppCredential, Credential, Domain, Group, Project, RevokeEvent, Role, User};
use crate::policy::Action;
use crate::token::Scope;
use crate::{new_id, Identity};

fn in_scope(scope: &Option<String>, domain: &str) -> bool {
    scope.as_deref().is_none_or(|d| d == domain)
}

/// Where a new record goes when the body names no domain.
fn default_domain(t: &TokenData) -> String {
    match &t.payload.scope {
        Scope::Domain(d) => d.clone(),
        _ => crate::bootstrap::DEFAULT_DOMAIN_ID.to_string(),
    }
}

fn tags(o: &Map<String, Value>) -> Result<Option<Vec<String>>> {
    match o.get("tags") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| match t.as_str() {
                Some(s) if !s.is_empty() && s.len() <= 255 && !s.contains(['/', ',']) => {
                    Ok(s.to_string())
                }
                _ => Err(Error::bad("Invalid tag")),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(_) => Err(Error::bad("'tags' must be a list")),
    }
}

const KNOWN: &[&str] = &[
    "id",
    "name",
    "domain_id",
    "parent_id",
    "description",
    "enabled",
    "tags",
    "password",
    "default_project_id",
    "is_domain",
    "options",
    "links",
];

fn extras(o: &Map<String, Value>) -> Map<String, Value> {
    o.iter()
        .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn check_password(p: &str) -> Result<()> {
    if p.len() > crate::password::MAX_PASSWORD_LEN {
        return Err(Error::bad("Invalid input for field 'password': too long"));
    }
    Ok(())
}

fn hash_password(p: &str) -> Result<String> {
    check_password(p)?;
    crate::password::hash(p).map_err(Error::Internal)
}

pub fn route(id: &Identity, req: &Req, t: &TokenData, segs: &[&str]) -> Result<Option<Response>> {
    let m = &req.method;
    let get = *m == Method::GET || *m == Method::HEAD;
    let r = match segs {
        ["domains"] if *m == Method::POST => create_domain(id, req, t)?,
        ["domains"] if get => {
            let scope = read_scope(t)?;
            list(req, id.store.list::<Domain>()?, |d| in_scope(&scope, &d.id))
        }
        ["domains", did] if get => {
            let d: Domain = id.store.fetch(did)?;
            let own = t.project.as_ref().is_some_and(|(_, pd)| pd.id == d.id);
            if !own {
                require(
                    t,
                    Action::Read {
                        domain: Some(&d.id),
                    },
                )?;
            }
            one(req, StatusCode::OK, &d)
        }
        ["domains", did] if *m == Method::PATCH => update_domain(id, req, t, did)?,
        ["domains", did] if *m == Method::DELETE => delete_domain(id, t, did)?,
        ["projects"] if *m == Method::POST => create_project(id, req, t)?,
        ["projects"] if get => {
            let scope = read_scope(t)?;
            list(req, id.store.list::<Project>()?, |p| {
                in_scope(&scope, &p.domain_id)
            })
        }
        ["projects", pid] if get => {
            let p: Project = id.store.fetch(pid)?;
            require(
                t,
                Action::ReadProject {
                    id: &p.id,
                    domain: &p.domain_id,
                },
            )?;
            one(req, StatusCode::OK, &p)
        }
        ["projects", pid] if *m == Method::PATCH => update_project(id, req, t, pid)?,
        ["projects", pid] if *m == Method::DELETE => delete_project(id, t, pid)?,
        ["projects", pid, "tags", rest @ ..] => project_tags(id, req, t, pid, rest)?,
        ["users"] if *m == Method::POST => create_user(id, req, t)?,
        ["users"] if get => {
            let scope = read_scope(t)?;
            list(req, id.store.list::<User>()?, |u| {
                in_scope(&scope, &u.domain_id)
            })
        }
        ["users", uid] if get => {
            let u: User = id.store.fetch(uid)?;
            require(
                t,
                Action::ReadUser {
                    id: &u.id,
                    domain: &u.domain_id,
                },
            )?;
            one(req, StatusCode::OK, &u)
        }
        ["users", uid] if *m == Method::PATCH => update_user(id, req, t, uid)?,
        ["users", uid] if *m == Method::DELETE => delete_user(id, t, uid)?,
        ["users", uid, "projects"] if get => {
            let u: User = id.store.fetch(uid)?;
            require(
                t,
                Action::ReadUser {
                    id: &u.id,
                    domain: &u.domain_id,
                },
            )?;
            list(req, super::tokens::projects_of(id, &u.id)?, |_| true)
        }
        ["users", uid, "groups"] if get => {
            let u: User = id.store.fetch(uid)?;
            require(
                t,
                Action::ReadUser {
                    id: &u.id,
                    domain: &u.domain_id,
                },
            )?;
            let groups = id.store.groups_of(&u.id)?;
            list(req, id.store.list::<Group>()?, |g| groups.contains(&g.id))
        }
        ["groups"] if *m == Method::POST => {
            require(t, Action::Manage)?;
            let o = req.entity("group")?;
            let domain_id = field(&o, "domain_id")?.unwrap_or_else(|| default_domain(t));
            id.store.fetch::<Domain>(&domain_id)?;
            let g = Group {
                id: new_id(),
                name: required(&o, "name")?,
                domain_id,
                description: field(&o, "description")?.unwrap_or_default(),
            };
            id.store.create(&g)?;
            one(req, StatusCode::CREATED, &g)
        }
        ["groups"] if get => {
            let scope = read_scope(t)?;
            list(req, id.store.list::<Group>()?, |g| {
                in_scope(&scope, &g.domain_id)
            })
        }
        ["groups", gid] if get => {
            let g: Group = id.store.fetch(gid)?;
            require(
                t,
                Action::Read {
                    domain: Some(&g.domain_id),
                },
            )?;
            one(req, StatusCode::OK, &g)
        }
        ["groups", gid] if *m == Method::PATCH => {
            require(t, Action::Manage)?;
            let old: Group = id.store.fetch(gid)?;
            let o = req.entity("group")?;
            let mut g = old.clone();
            if let Some(n) = field(&o, "name")? {
                g.name = required(&o, "name").map(|_| n)?;
            }
            if let Some(d) = field(&o, "description")? {
                g.description = d;
            }
            id.store.update(&old, &g)?;
            one(req, StatusCode::OK, &g)
        }
        ["groups", gid] if *m == Method::DELETE => {
            require(t, Action::Manage)?;
            let g: Group = id.store.fetch(gid)?;
            for u in id.store.members(&g.id)? {
                id.store.remove_member(&g.id, &u)?;
            }
            id.store.forget_in_assignments(&g.id)?;
            id.store.delete(&g)?;
            no_content()
        }
        ["groups", gid, "users"] if get => {
            let g: Group = id.store.fetch(gid)?;
            require(
                t,
                Action::Read {
                    domain: Some(&g.domain_id),
                },
            )?;
            let members = id.store.members(&g.id)?;
            list(req, id.store.list::<User>()?, |u| members.contains(&u.id))
        }
        ["groups", gid, "users", uid] => {
            let g: Group = id.store.fetch(gid)?;
            let u: User = id.store.fetch(uid)?;
            match *m {
                Method::PUT => {
                    require(t, Action::Manage)?;
                    id.store.add_member(&g.id, &u.id)?;
                }
                Method::DELETE => {
                    require(t, Action::Manage)?;
                    if !id.store.is_member(&g.id, &u.id)? {
                        return Err(Error::not_found(
                            "membership",
                            &format!("{}/{}", g.id, u.id),
                        ));
                    }
                    id.store.remove_member(&g.id, &u.id)?;
                    // Roles held through the group end now.
                    id.revoke(RevokeEvent {
                        user_id: Some(u.id.clone()),
                        issued_before: crate::auth::now_us(),
                        ..Default::default()
                    })?;
                }
                _ if get => {
                    require(
                        t,
                        Action::Read {
                            domain: Some(&g.domain_id),
                        },
                    )?;
                    if !id.store.is_member(&g.id, &u.id)? {
                        return Err(Error::not_found(
                            "membership",
                            &format!("{}/{}", g.id, u.id),
                        ));
                    }
                }
                _ => return Err(Error::MethodNotAllowed),
            }
            no_content()
        }
        _ => return Ok(None),
    };
    Ok(Some(r))
}

fn create_domain(id: &Identity, req: &Req, t: &TokenData) -> Result<Response> {
    require(t, Action::Manage)?;
    let o = req.entity("domain")?;
    let d = Domain {
        id: new_id(),
        name: required(&o, "name")?,
        description: field(&o, "description")?.unwrap_or_default(),
        enabled: flag_field(&o, "enabled", true)?,
        tags: tags(&o)?.unwrap_or_default(),
    };
    id.store.create(&d)?;
    Ok(one(req, StatusCode::CREATED, &d))
}

fn update_domain(id: &Identity, req: &Req, t: &TokenData, did: &str) -> Result<Response> {
    require(t, Action::Manage)?;
    let old: Domain = id.store.fetch(did)?;
    let o = req.entity("domain")?;
    let mut d = old.clone();
    if o.contains_key("name") {
        d.name = required(&o, "name")?;
    }
    if let Some(x) = field(&o, "description")? {
        d.description = x;
    }
    d.enabled = flag_field(&o, "enabled", d.enabled)?;
    if let Some(x) = tags(&o)? {
        d.tags = x;
    }
    id.store.update(&old, &d)?;
    Ok(one(req, StatusCode::OK, &d))
}

fn delete_domain(id: &Identity, t: &TokenData, did: &str) -> Result<Response> {
    require(t, Action::Manage)?;
    let d: Domain = id.store.fetch(did)?;
    if d.enabled {
        return Err(Error::Forbidden(
            "Cannot delete a domain that is enabled, please disable it first.".into(),
        ));
    }
    for p in id
        .store
        .list::<Project>()?
        .into_iter()
        .filter(|p| p.domain_id == d.id)
    {
        id.store.forget_in_assignments(&p.id)?;
        id.store.delete(&p)?;
    }
    for u in id
        .store
        .list::<User>()?
        .into_iter()
        .filter(|u| u.domain_id == d.id)
    {
        forget_user(id, &u)?;
    }
    for g in id
        .store
        .list::<Group>()?
        .into_iter()
        .filter(|g| g.domain_id == d.id)
    {
        id.store.forget_in_assignments(&g.id)?;
        id.store.delete(&g)?;
    }
    for r in id
        .store
        .list::<Role>()?
        .into_iter()
        .filter(|r| r.domain_id.as_deref() == Some(&d.id))
    {
        id.store.forget_in_assignments(&r.id)?;
        id.store.delete(&r)?;
    }
    id.store.forget_in_assignments(&d.id)?;
    id.store.delete(&d)?;
    Ok(no_content())
}

fn create_project(id: &Identity, req: &Req, t: &TokenData) -> Result<Response> {
    require(t, Action::Manage)?;
    let o = req.entity("project")?;
    if flag_field(&o, "is_domain", false)? {
        return Err(Error::bad("Projects acting as domains are not supported"));
    }
    let parent = field(&o, "parent_id")?;
    let parent_project = match &parent {
        Some(p) => id.store.get::<Project>(p)?,
        None => None,
    };
    let domain_id = match (field(&o, "domain_id")?, &parent_project) {
        (Some(d), _) => d,
        (None, Some(pp)) => pp.domain_id.clone(),
        (None, None) => parent.clone().unwrap_or_else(|| default_domain(t)),
    };
    let domain: Domain = id
        .store
        .get(&domain_id)?
        .ok_or_else(|| Error::bad(format!("Could not find domain: {domain_id}.")))?;
    let parent_id = match (&parent, &parent_project) {
        (None, _) => domain.id.clone(),
        (Some(_), Some(pp)) if pp.domain_id == domain.id => pp.id.clone(),
        (Some(p), None) if *p == domain.id => domain.id.clone(),
        _ => {
            return Err(Error::bad(
                "The parent must be a project in the same domain",
            ))
        }
    };
    let p = Project {
        id: new_id(),
        name: required(&o, "name")?,
        domain_id: domain.id,
        parent_id,
        description: field(&o, "description")?.unwrap_or_default(),
        enabled: flag_field(&o, "enabled", true)?,
        tags: tags(&o)?.unwrap_or_default(),
        extra: extras(&o),
    };
    id.store.create(&p)?;
    Ok(one(req, StatusCode::CREATED, &p))
}

fn update_project(id: &Identity, req: &Req, t: &TokenData, pid: &str) -> Result<Response> {
    require(t, Action::Manage)?;
    let old: Project = id.store.fetch(pid)?;
    let o = req.entity("project")?;
    if field(&o, "domain_id")?.is_some_and(|d| d != old.domain_id) {
        return Err(Error::bad("Cannot change the domain of a project"));
    }
    if field(&o, "parent_id")?.is_some_and(|p| p != old.parent_id) {
        return Err(Error::bad("Cannot change the parent of a project"));
    }
    let mut p = old.clone();
    if o.contains_key("name") {
        p.name = required(&o, "name")?;
    }
    if let Some(x) = field(&o, "description")? {
        p.description = x;
    }
    p.enabled = flag_field(&o, "enabled", p.enabled)?;
    if let Some(x) = tags(&o)? {
        p.tags = x;
    }
    p.extra.extend(extras(&o));
    id.store.update(&old, &p)?;
    Ok(one(req, StatusCode::OK, &p))
}

fn delete_project(id: &Identity, t: &TokenData, pid: &str) -> Result<Response> {
    require(t, Action::Manage)?;
    let p: Project = id.store.fetch(pid)?;
    if id
        .store
        .list::<Project>()?
        .iter()
        .any(|c| c.parent_id == p.id)
    {
        return Err(Error::Forbidden(format!(
            "Cannot delete the project {} since it is not a leaf in the hierarchy.",
            p.id
        )));
    }
    id.store.forget_in_assignments(&p.id)?;
    id.store.delete(&p)?;
    id.revoke(RevokeEvent {
        project_id: Some(p.id),
        issued_before: crate::auth::now_us(),
        ..Default::default()
    })?;
    Ok(no_content())
}

fn project_tags(
    id: &Identity,
    req: &Req,
    t: &TokenData,
    pid: &str,
    rest: &[&str],
) -> Result<Response> {
    let old: Project = id.store.fetch(pid)?;
    let mut p = old.clone();
    let read = req.method == Method::GET || req.method == Method::HEAD;
    if read {
        require(
            t,
            Action::ReadProject {
                id: &p.id,
                domain: &p.domain_id,
            },
        )?;
    } else {
        require(t, Action::Manage)?;
    }
    match (rest, &req.method) {
        ([], _) if read => return Ok(json_response(StatusCode::OK, &json!({"tags": p.tags}))),
        ([], &Method::PUT) => {
            let v: Value = req.json()?;
            let o = v.as_object().cloned().unwrap_or_default();
            p.tags = tags(&o)?.ok_or_else(|| Error::bad("'tags' is a required property"))?;
        }
        ([], &Method::DELETE) => p.tags.clear(),
        ([tag], _) if read => {
            if !p.tags.iter().any(|x| x == tag) {
                return Err(Error::not_found("tag", tag));
            }
            return Ok(no_content());
        }
        ([tag], &Method::PUT) => {
            let mut o = Map::new();
            o.insert("tags".into(), json!([tag]));
            tags(&o)?;
            if !p.tags.iter().any(|x| x == tag) {
                p.tags.push(tag.to_string());
            }
        }
        ([tag], &Method::DELETE) => {
            if !p.tags.iter().any(|x| x == tag) {
                return Err(Error::not_found("tag", tag));
            }
            p.tags.retain(|x| x != tag);
        }
        _ => return Err(Error::MethodNotAllowed),
    }
    id.store.update(&old, &p)?;
    Ok(match (rest, &req.method) {
        ([_], &Method::PUT) => json_response(StatusCode::CREATED, &json!({"tags": p.tags})),
        (_, &Method::PUT) => json_response(StatusCode::OK, &json!({"tags": p.tags})),
        _ => no_content(),
    })
}

fn create_user(id: &Identity, req: &Req, t: &TokenData) -> Result<Response> {
    require(t, Action::Manage)?;
    let o = req.entity("user")?;
    let domain_id = field(&o, "domain_id")?.unwrap_or_else(|| default_domain(t));
    id.store
        .get::<Domain>(&domain_id)?
        .ok_or_else(|| Error::bad(format!("Could not find domain: {domain_id}.")))?;
    let password = field(&o, "password")?
        .map(|p| hash_password(&p))
        .transpose()?;
    let u = User {
        id: new_id(),
        name: required(&o, "name")?,
        domain_id,
        enabled: flag_field(&o, "enabled", true)?,
        password_hash: password,
        default_project_id: field(&o, "default_project_id")?,
        extra: extras(&o),
    };
    id.store.create(&u)?;
    Ok(one(req, StatusCode::CREATED, &u))
}

fn update_user(id: &Identity, req: &Req, t: &TokenData, uid: &str) -> Result<Response> {
    require(t, Action::Manage)?;
    let old: User = id.store.fetch(uid)?;
    let o = req.entity("user")?;
    if field(&o, "domain_id")?.is_some_and(|d| d != old.domain_id) {
        return Err(Error::bad("Cannot change the domain of a user"));
    }
    let mut u = old.clone();
    if o.contains_key("name") {
        u.name = required(&o, "name")?;
    }
    u.enabled = flag_field(&o, "enabled", u.enabled)?;
    if o.contains_key("default_project_id") {
        u.default_project_id = field(&o, "default_project_id")?;
    }
    let new_password = field(&o, "password")?;
    if let Some(p) = &new_password {
        u.password_hash = Some(hash_password(p)?);
    }
    u.extra.extend(extras(&o));
    id.store.update(&old, &u)?;
    if new_password.is_some() || !u.enabled {
        id.revoke(RevokeEvent {
            user_id: Some(u.id.clone()),
            issued_before: crate::auth::now_us(),
            ..Default::default()
        })?;
    }
    Ok(one(req, StatusCode::OK, &u))
}

/// Deletes a user with its memberships, assignments and credentials.
fn forget_user(id: &Identity, u: &User) -> Result<()> {
    for g in id.store.groups_of(&u.id)? {
        id.store.remove_member(&g, &u.id)?;
    }
    id.store.forget_in_assignments(&u.id)?;
    for c in id
        .store
        .list::<Credential>()?
        .into_iter()
        .filter(|c| c.user_id == u.id)
    {
        id.store.delete(&c)?;
    }
    for a in id
        .store
        .list::<AppCredential>()?
        .into_iter()
        .filter(|a| a.user_id == u.id)
    {
        id.store.delete(&a)?;
    }
    id.store.delete(u)
}

fn delete_user(id: &Identity, t: &TokenData, uid: &str) -> Result<Response> {
    require(t, Action::Manage)?;
    let u: User = id.store.fetch(uid)?;
    forget_user(id, &u)?;
    Ok(no_content())
}

/// `POST /v3/users/{id}/password`: the user proves the old password; all
/// of the user's tokens end.
pub fn change_password(id: &Identity, req: &Req, uid: &str) -> Result<Response> {
    let old: User = id.store.get(uid)?.ok_or(Error::Unauthorized)?;
    let o = req.entity("user")?;
    let original = field(&o, "original_password")?
        .ok_or_else(|| Error::bad("'original_password' is a required property"))?;
    let new =
        field(&o, "password")?.ok_or_else(|| Error::bad("'password' is a required property"))?;
    let ok = old
        .password_hash
        .as_deref()
        .is_some_and(|h| crate::password::verify(&original, h));
    if !ok || !old.enabled {
        return Err(Error::Unauthorized);
    }
    let mut u = old.clone();
    u.password_hash = Some(hash_password(&new)?);
    id.store.update(&old, &u)?;
    id.revoke(RevokeEvent {
        user_id: Some(u.id),
        issued_before: crate::auth::now_us(),
        ..Default::default()
    })?;
    Ok(no_content())
}
