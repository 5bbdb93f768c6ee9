//! `/v3/auth/...`: issuing, validating and revoking tokens, and what a
//! token may be scoped to.

use http::{HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

use super::{caller, json_response, no_content, require, view, Req, Response};
use crate::auth::{AuthRequest, TokenData};
use crate::error::{Error, Result};
use crate::model::{Domain, Project, RevokeEvent, Target};
use crate::policy::Action;
use crate::Identity;

fn with_subject(mut r: Response, token: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(token) {
        r.headers_mut().insert("x-subject-token", v);
    }
    r
}

/// The token named by `X-Subject-Token`, checked against the caller.
fn subject(id: &Identity, req: &Req) -> Result<(String, TokenData)> {
    let t = caller(id, req)?;
    let token = req
        .header("x-subject-token")
        .ok_or_else(|| Error::bad("X-Subject-Token is required"))?
        .to_string();
    // A token checking itself (as services do) was validated just now.
    let s = if req.header("x-auth-token") == Some(token.as_str()) {
        t.clone()
    } else {
        id.validate(&token)?
    };
    require(
        &t,
        Action::Token {
            subject: &s.user.id,
        },
    )?;
    Ok((token, s))
}

pub fn route(id: &Identity, req: &Req, segs: &[&str]) -> Result<Option<Response>> {
    let get = req.method == Method::GET || req.method == Method::HEAD;
    let r = match (segs, &req.method) {
        (["auth", "tokens"], &Method::POST) => {
            let body: AuthRequest = req.json()?;
            let (token, data) = id.authenticate(body)?;
            let v = id.token_view(&data, !req.flag("nocatalog"))?;
            with_subject(json_response(StatusCode::CREATED, &v), &token)
        }
        (["auth", "tokens"], &Method::DELETE) => {
            let (_, s) = subject(id, req)?;
            let audit = s.payload.audit_ids.first().map(crate::token::audit_text);
            id.revoke(RevokeEvent {
                audit_id: audit,
                issued_before: s.payload.issued_us,
                ..Default::default()
            })?;
            no_content()
        }
        (["auth", "tokens"], _) if get => {
            let (token, s) = subject(id, req)?;
            let v = id.token_view(&s, !req.flag("nocatalog"))?;
            with_subject(json_response(StatusCode::OK, &v), &token)
        }
        (["auth", "catalog"], _) if get => {
            let t = caller(id, req)?;
            let project = t.project.as_ref().map(|(p, _)| p.id.as_str());
            let catalog = id.catalog(project, t.payload.scope == crate::token::Scope::Unscoped)?;
            json_response(
                StatusCode::OK,
                &json!({"catalog": catalog, "links": {"self": req.url("auth/catalog")}}),
            )
        }
        (["auth", "projects"], _) if get => {
            let t = caller(id, req)?;
            let projects = projects_of(id, &t.user.id)?;
            let items: Vec<Value> = projects.iter().map(|p| view(req, p)).collect();
            json_response(
                StatusCode::OK,
                &json!({"projects": items, "links": {"self": req.url("auth/projects")}}),
            )
        }
        (["auth", "domains"], _) if get => {
            let t = caller(id, req)?;
            let mut items = Vec::new();
            for d in id.store.list::<Domain>()? {
                if d.enabled
                    && !id
                        .roles_on(&t.user.id, &Target::Domain(d.id.clone()))?
                        .is_empty()
                {
                    items.push(view(req, &d));
                }
            }
            json_response(
                StatusCode::OK,
                &json!({"domains": items, "links": {"self": req.url("auth/domains")}}),
            )
        }
        (["auth", "system"], _) if get => {
            let t = caller(id, req)?;
            let system: Vec<Value> = if id.roles_on(&t.user.id, &Target::System)?.is_empty() {
                vec![]
            } else {
                vec![json!({"all": true})]
            };
            json_response(
                StatusCode::OK,
                &json!({"system": system, "links": {"self": req.url("auth/system")}}),
            )
        }
        _ => return Ok(None),
    };
    Ok(Some(r))
}

/// Enabled projects on which `user_id` holds a role.
pub fn projects_of(id: &Identity, user_id: &str) -> Result<Vec<Project>> {
    let mut out = Vec::new();
    for p in id.store.list::<Project>()? {
        if p.enabled
            && !id
                .roles_on(user_id, &Target::Project(p.id.clone()))?
                .is_empty()
        {
            out.push(p);
        }
    }
    Ok(out)
}
