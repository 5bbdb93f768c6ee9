//! Roles, implied roles, role grants on projects, domains and the system,
//! and `GET /v3/role_assignments`.

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::{
    field, json_response, list, no_content, one, read_scope, require, required, Req, Response,
};
use crate::auth::TokenData;
use crate::error::{Error, Result};
use crate::model::{
    ActorKind, Assignment, Domain, Group, Project, RevokeEvent, Role, Target, User,
};
use crate::policy::Action;
use crate::{new_id, Identity};

pub fn route(id: &Identity, req: &Req, t: &TokenData, segs: &[&str]) -> Result<Option<Response>> {
    let m = &req.method;
    let get = *m == Method::GET || *m == Method::HEAD;
    let r = match segs {
        ["roles"] if *m == Method::POST => {
            require(t, Action::Manage)?;
            let o = req.entity("role")?;
            let domain_id = field(&o, "domain_id")?;
            if let Some(d) = &domain_id {
                id.store.fetch::<Domain>(d)?;
            }
            let r = Role {
                id: new_id(),
                name: required(&o, "name")?,
                domain_id,
                description: field(&o, "description")?.unwrap_or_default(),
            };
            id.store.create(&r)?;
            one(req, StatusCode::CREATED, &r)
        }
        ["roles"] if get => {
            read_scope(t)?;
            list(req, id.store.list::<Role>()?, |_| true)
        }
        ["roles", rid] if get => {
            read_scope(t)?;
            one(req, StatusCode::OK, &id.store.fetch::<Role>(rid)?)
        }
        ["roles", rid] if *m == Method::PATCH => {
            require(t, Action::Manage)?;
            let old: Role = id.store.fetch(rid)?;
            let o = req.entity("role")?;
            let mut r = old.clone();
            if o.contains_key("name") {
                r.name = required(&o, "name")?;
            }
            if let Some(d) = field(&o, "description")? {
                r.description = d;
            }
            id.store.update(&old, &r)?;
            one(req, StatusCode::OK, &r)
        }
        ["roles", rid] if *m == Method::DELETE => {
            require(t, Action::Manage)?;
            let r: Role = id.store.fetch(rid)?;
            id.store.forget_in_assignments(&r.id)?;
            for (p, i) in id.store.implications()? {
                if p == r.id || i == r.id {
                    id.store.unimply(&p, &i)?;
                }
            }
            id.store.delete(&r)?;
            no_content()
        }
        ["roles", prior, "implies"] if get => {
            read_scope(t)?;
            let p: Role = id.store.fetch(prior)?;
            let implied: Vec<Value> = id
                .store
                .implications()?
                .into_iter()
                .filter(|(a, _)| *a == p.id)
                .filter_map(|(_, i)| id.store.get::<Role>(&i).ok().flatten())
                .map(|r| role_ref(req, &r))
                .collect();
            json_response(
                StatusCode::OK,
                &json!({"role_inference": {"prior_role": role_ref(req, &p), "implies": implied}}),
            )
        }
        ["roles", prior, "implies", implied] => {
            let p: Role = id.store.fetch(prior)?;
            let i: Role = id.store.fetch(implied)?;
            let exists = id
                .store
                .implications()?
                .contains(&(p.id.clone(), i.id.clone()));
            match *m {
                Method::PUT => {
                    require(t, Action::Manage)?;
                    if id.expand(std::slice::from_ref(&i.id))?.contains(&p.id) {
                        return Err(Error::Forbidden(
                            "Implied roles may not form a cycle".into(),
                        ));
                    }
                    id.store.imply(&p.id, &i.id)?;
                    json_response(
                        StatusCode::CREATED,
                        &json!({"role_inference": {"prior_role": role_ref(req, &p), "implies": role_ref(req, &i)}}),
                    )
                }
                Method::DELETE => {
                    require(t, Action::Manage)?;
                    if !exists {
                        return Err(Error::not_found("implied role", &i.id));
                    }
                    id.store.unimply(&p.id, &i.id)?;
                    no_content()
                }
                _ if get => {
                    read_scope(t)?;
                    if !exists {
                        return Err(Error::not_found("implied role", &i.id));
                    }
                    if *m == Method::HEAD {
                        no_content()
                    } else {
                        json_response(
                            StatusCode::OK,
                            &json!({"role_inference": {"prior_role": role_ref(req, &p), "implies": role_ref(req, &i)}}),
                        )
                    }
                }
                _ => return Err(Error::MethodNotAllowed),
            }
        }
        ["role_inferences"] if get => {
            read_scope(t)?;
            let mut by_prior: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for (p, i) in id.store.implications()? {
                if let Some(r) = id.store.get::<Role>(&i)? {
                    by_prior.entry(p).or_default().push(role_ref(req, &r));
                }
            }
            let mut out = Vec::new();
            for (p, implies) in by_prior {
                if let Some(r) = id.store.get::<Role>(&p)? {
                    out.push(json!({"prior_role": role_ref(req, &r), "implies": implies}));
                }
            }
            json_response(StatusCode::OK, &json!({"role_inferences": out}))
        }
        [kind @ ("projects" | "domains"), tid, actor @ ("users" | "groups"), aid, "roles", rest @ ..]
            if rest.len() <= 1 =>
        {
            let target = if *kind == "projects" {
                Target::Project(id.store.fetch::<Project>(tid)?.id)
            } else {
                Target::Domain(id.store.fetch::<Domain>(tid)?.id)
            };
            grant(id, req, t, target, actor, aid, rest.first().copied())?
        }
        ["system", actor @ ("users" | "groups"), aid, "roles", rest @ ..] if rest.len() <= 1 => {
            grant(
                id,
                req,
                t,
                Target::System,
                actor,
                aid,
                rest.first().copied(),
            )?
        }
        ["role_assignments"] if get => assignments(id, req, t)?,
        _ => return Ok(None),
    };
    Ok(Some(r))
}

fn role_ref(req: &Req, r: &Role) -> Value {
    json!({"id": r.id, "name": r.name, "links": {"self": req.url(&format!("roles/{}", r.id))}})
}

fn target_domain(id: &Identity, target: &Target) -> Result<Option<String>> {
    Ok(match target {
        Target::Project(p) => Some(id.store.fetch::<Project>(p)?.domain_id),
        Target::Domain(d) => Some(d.clone()),
        Target::System => None,
    })
}

fn grant(
    id: &Identity,
    req: &Req,
    t: &TokenData,
    target: Target,
    actor: &str,
    actor_id: &str,
    role: Option<&str>,
) -> Result<Response> {
    let actor = if actor == "users" {
        ActorKind::User
    } else {
        ActorKind::Group
    };
    match actor {
        ActorKind::User => id.store.fetch::<User>(actor_id).map(drop)?,
        ActorKind::Group => id.store.fetch::<Group>(actor_id).map(drop)?,
    }
    let domain = target_domain(id, &target)?;
    let read = || {
        require(
            t,
            Action::Read {
                domain: domain.as_deref(),
            },
        )
    };
    let Some(role) = role else {
        if !(req.method == Method::GET || req.method == Method::HEAD) {
            return Err(Error::MethodNotAllowed);
        }
        read()?;
        let roles: Vec<String> = id
            .store
            .assignments(Some(&target))?
            .into_iter()
            .filter(|a| a.actor == actor && a.actor_id == actor_id)
            .map(|a| a.role_id)
            .collect();
        return Ok(list(req, id.store.list::<Role>()?, |r| {
            roles.contains(&r.id)
        }));
    };
    let role: Role = id.store.fetch(role)?;
    let a = Assignment {
        actor,
        actor_id: actor_id.to_string(),
        target,
        role_id: role.id.clone(),
    };
    match req.method {
        Method::PUT => {
            require(t, Action::Manage)?;
            id.store.grant(&a)?;
        }
        Method::DELETE => {
            require(t, Action::Manage)?;
            if !id.store.has_grant(&a)? {
                return Err(Error::not_found("grant", &role.id));
            }
            id.store.revoke(&a)?;
            if actor == ActorKind::User {
                // Tokens recompute roles when validated; caches of other
                // services drop them on their next check.
                let project_id = match &a.target {
                    Target::Project(p) => Some(p.clone()),
                    _ => None,
                };
                id.revoke(RevokeEvent {
                    user_id: Some(a.actor_id.clone()),
                    project_id,
                    issued_before: crate::auth::now_us(),
                    ..Default::default()
                })?;
            }
        }
        Method::GET | Method::HEAD => {
            read()?;
            if !id.store.has_grant(&a)? {
                return Err(Error::not_found("grant", &role.id));
            }
        }
        _ => return Err(Error::MethodNotAllowed),
    }
    Ok(no_content())
}

/// `GET /v3/role_assignments` with `user.id`, `group.id`, `role.id`,
/// `scope.project.id`, `scope.domain.id`, `scope.system`, `effective`
/// (groups expanded to their users, implied roles added) and
/// `include_names`.
fn assignments(id: &Identity, req: &Req, t: &TokenData) -> Result<Response> {
    read_scope(t)?;
    let effective = req.flag("effective");
    let names = req.flag("include_names");
    let mut rows: Vec<(Assignment, Option<String>, Option<String>)> = Vec::new(); // (a, via group, prior role)
    for a in id.store.assignments(None)? {
        if effective && a.actor == ActorKind::Group {
            for u in id.store.members(&a.actor_id)? {
                let row = Assignment {
                    actor: ActorKind::User,
                    actor_id: u,
                    ..a.clone()
                };
                rows.push((row, Some(a.actor_id.clone()), None));
            }
        } else {
            rows.push((a, None, None));
        }
    }
    if effective {
        let implications = id.store.implications()?;
        let mut i = 0;
        while i < rows.len() {
            let (a, via, _) = rows[i].clone();
            for (_, implied) in implications.iter().filter(|(p, _)| *p == a.role_id) {
                let row = Assignment {
                    role_id: implied.clone(),
                    ..a.clone()
                };
                if !rows.iter().any(|(x, _, _)| *x == row) {
                    rows.push((row, via.clone(), Some(a.role_id.clone())));
                }
            }
            i += 1;
        }
    }
    let q = |k: &str| req.q(k);
    let keep = |a: &Assignment| {
        q("user.id").is_none_or(|u| a.actor == ActorKind::User && a.actor_id == u)
            && q("group.id").is_none_or(|g| a.actor == ActorKind::Group && a.actor_id == g)
            && q("role.id").is_none_or(|r| a.role_id == r)
            && q("scope.project.id").is_none_or(|p| a.target == Target::Project(p.into()))
            && q("scope.domain.id").is_none_or(|d| a.target == Target::Domain(d.into()))
            && q("scope.system").is_none_or(|_| a.target == Target::System)
    };
    let mut out = Vec::new();
    for (a, via, prior) in rows.iter().filter(|(a, _, _)| keep(a)) {
        out.push(assignment_view(
            id,
            req,
            a,
            via.as_deref(),
            prior.as_deref(),
            names,
        )?);
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"role_assignments": out,
                "links": {"self": req.url("role_assignments"), "previous": null, "next": null}}),
    ))
}

fn named_with_domain(id: &Identity, name: &str, domain_id: &str) -> Result<Value> {
    let dname = id
        .store
        .get::<Domain>(domain_id)?
        .map(|d| d.name)
        .unwrap_or_default();
    Ok(json!({"name": name, "domain": {"id": domain_id, "name": dname}}))
}

fn assignment_view(
    id: &Identity,
    req: &Req,
    a: &Assignment,
    via_group: Option<&str>,
    prior: Option<&str>,
    names: bool,
) -> Result<Value> {
    let mut role = json!({"id": a.role_id});
    let mut actor = json!({"id": a.actor_id});
    let (scope_key, mut scope_val, scope_path) = match &a.target {
        Target::Project(p) => ("project", json!({"id": p}), format!("projects/{p}")),
        Target::Domain(d) => ("domain", json!({"id": d}), format!("domains/{d}")),
        Target::System => ("system", json!({"all": true}), "system".to_string()),
    };
    if names {
        if let Some(r) = id.store.get::<Role>(&a.role_id)? {
            role["name"] = json!(r.name);
        }
        let extra = match a.actor {
            ActorKind::User => id
                .store
                .get::<User>(&a.actor_id)?
                .map(|u| (u.name, u.domain_id)),
            ActorKind::Group => id
                .store
                .get::<Group>(&a.actor_id)?
                .map(|g| (g.name, g.domain_id)),
        };
        if let Some((n, d)) = extra {
            merge(&mut actor, named_with_domain(id, &n, &d)?);
        }
        match &a.target {
            Target::Project(p) => {
                if let Some(p) = id.store.get::<Project>(p)? {
                    merge(
                        &mut scope_val,
                        named_with_domain(id, &p.name, &p.domain_id)?,
                    );
                }
            }
            Target::Domain(d) => {
                if let Some(d) = id.store.get::<Domain>(d)? {
                    scope_val["name"] = json!(d.name);
                }
            }
            Target::System => {}
        }
    }
    let actor_key = match a.actor {
        ActorKind::User => "user",
        ActorKind::Group => "group",
    };
    let (link_actor, link_id) = match via_group {
        Some(g) => ("groups", g),
        None => (
            if actor_key == "user" {
                "users"
            } else {
                "groups"
            },
            a.actor_id.as_str(),
        ),
    };
    let link_role = prior.unwrap_or(&a.role_id);
    let mut links = json!({"assignment": req.url(&format!("{scope_path}/{link_actor}/{link_id}/roles/{link_role}"))});
    if let Some(g) = via_group {
        links["membership"] = json!(req.url(&format!("groups/{g}/users/{}", a.actor_id)));
    }
    let mut v =
        json!({"role": role, actor_key: actor, "scope": {scope_key: scope_val}, "links": links});
    if let Some(p) = prior {
        v["prior_role"] = json!({"id": p});
    }
    Ok(v)
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}
