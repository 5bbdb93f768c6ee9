//! The service catalog's records: services, endpoints and regions.

use http::{Method, StatusCode};
use serde_json::{Map, Value};

use super::{field, flag_field, list, no_content, one, require, required, Req, Response};
use crate::auth::TokenData;
use crate::error::{Error, Result};
use crate::model::{Endpoint, Region, Service};
use crate::policy::Action;
use crate::{new_id, Identity};

const INTERFACES: [&str; 3] = ["public", "internal", "admin"];

fn interface(o: &Map<String, Value>, default: Option<&str>) -> Result<String> {
    let i = field(o, "interface")?.or(default.map(str::to_string));
    match i {
        Some(i) if INTERFACES.contains(&i.as_str()) => Ok(i),
        Some(i) => Err(Error::bad(format!(
            "Invalid input for field 'interface': '{i}'"
        ))),
        None => Err(Error::bad("'interface' is a required property")),
    }
}

fn region_of(
    id: &Identity,
    o: &Map<String, Value>,
    current: Option<String>,
) -> Result<Option<String>> {
    let r = match field(o, "region_id")?.or(field(o, "region")?) {
        Some(r) => Some(r),
        None => current,
    };
    if let Some(r) = &r {
        if id.store.get::<Region>(r)?.is_none() {
            return Err(Error::bad(format!("Could not find region: {r}.")));
        }
    }
    Ok(r)
}

fn url(o: &Map<String, Value>) -> Result<String> {
    let u = field(o, "url")?.ok_or_else(|| Error::bad("'url' is a required property"))?;
    if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() > 1024 {
        return Err(Error::bad("Invalid input for field 'url'"));
    }
    Ok(u)
}

pub fn route(id: &Identity, req: &Req, t: &TokenData, segs: &[&str]) -> Result<Option<Response>> {
    let m = &req.method;
    let get = *m == Method::GET || *m == Method::HEAD;
    let read_all = || require(t, Action::Read { domain: None });
    let r = match segs {
        ["services"] if *m == Method::POST => {
            require(t, Action::Manage)?;
            let o = req.entity("service")?;
            let s = Service {
                id: new_id(),
                kind: required(&o, "type")?,
                name: field(&o, "name")?.unwrap_or_default(),
                description: field(&o, "description")?.unwrap_or_default(),
                enabled: flag_field(&o, "enabled", true)?,
            };
            id.store.create(&s)?;
            one(req, StatusCode::CREATED, &s)
        }
        ["services"] if get => {
            read_all()?;
            list(req, id.store.list::<Service>()?, |_| true)
        }
        ["services", sid] if get => {
            read_all()?;
            one(req, StatusCode::OK, &id.store.fetch::<Service>(sid)?)
        }
        ["services", sid] if *m == Method::PATCH => {
            require(t, Action::Manage)?;
            let old: Service = id.store.fetch(sid)?;
            let o = req.entity("service")?;
            let mut s = old.clone();
            if o.contains_key("type") {
                s.kind = required(&o, "type")?;
            }
            if let Some(n) = field(&o, "name")? {
                s.name = n;
            }
            if let Some(d) = field(&o, "description")? {
                s.description = d;
            }
            s.enabled = flag_field(&o, "enabled", s.enabled)?;
            id.store.update(&old, &s)?;
            one(req, StatusCode::OK, &s)
        }
        ["services", sid] if *m == Method::DELETE => {
            require(t, Action::Manage)?;
            let s: Service = id.store.fetch(sid)?;
            for e in id
                .store
                .list::<Endpoint>()?
                .into_iter()
                .filter(|e| e.service_id == s.id)
            {
                id.store.delete(&e)?;
            }
            id.store.delete(&s)?;
            no_content()
        }
        ["endpoints"] if *m == Method::POST => {
            require(t, Action::Manage)?;
            let o = req.entity("endpoint")?;
            let service_id = required(&o, "service_id")?;
            if id.store.get::<Service>(&service_id)?.is_none() {
                return Err(Error::bad(format!("Could not find service: {service_id}.")));
            }
            let e = Endpoint {
                id: new_id(),
                service_id,
                interface: interface(&o, None)?,
                region_id: region_of(id, &o, None)?,
                url: url(&o)?,
                enabled: flag_field(&o, "enabled", true)?,
            };
            id.store.create(&e)?;
            one(req, StatusCode::CREATED, &e)
        }
        ["endpoints"] if get => {
            read_all()?;
            list(req, id.store.list::<Endpoint>()?, |_| true)
        }
        ["endpoints", eid] if get => {
            read_all()?;
            one(req, StatusCode::OK, &id.store.fetch::<Endpoint>(eid)?)
        }
        ["endpoints", eid] if *m == Method::PATCH => {
            require(t, Action::Manage)?;
            let old: Endpoint = id.store.fetch(eid)?;
            let o = req.entity("endpoint")?;
            let mut e = old.clone();
            if let Some(s) = field(&o, "service_id")? {
                id.store.fetch::<Service>(&s)?;
                e.service_id = s;
            }
            e.interface = interface(&o, Some(&old.interface))?;
            e.region_id = region_of(id, &o, old.region_id.clone())?;
            if o.contains_key("url") {
                e.url = url(&o)?;
            }
            e.enabled = flag_field(&o, "enabled", e.enabled)?;
            id.store.update(&old, &e)?;
            one(req, StatusCode::OK, &e)
        }
        ["endpoints", eid] if *m == Method::DELETE => {
            require(t, Action::Manage)?;
            let e: Endpoint = id.store.fetch(eid)?;
            id.store.delete(&e)?;
            no_content()
        }
        ["regions"] if *m == Method::POST => {
            require(t, Action::Manage)?;
            let o = req.entity("region")?;
            let rid = field(&o, "id")?.unwrap_or_else(new_id);
            create_region(id, req, &o, rid)?
        }
        ["regions"] if get => list(req, id.store.list::<Region>()?, |_| true),
        ["regions", rid] if get => one(req, StatusCode::OK, &id.store.fetch::<Region>(rid)?),
        ["regions", rid] if *m == Method::PUT => {
            require(t, Action::Manage)?;
            let o = req.entity("region")?;
            create_region(id, req, &o, rid.to_string())?
        }
        ["regions", rid] if *m == Method::PATCH => {
            require(t, Action::Manage)?;
            let old: Region = id.store.fetch(rid)?;
            let o = req.entity("region")?;
            let mut r = old.clone();
            if let Some(d) = field(&o, "description")? {
                r.description = d;
            }
            if o.contains_key("parent_region_id") {
                r.parent_region_id = parent_region(id, &o, &r.id)?;
            }
            id.store.update(&old, &r)?;
            one(req, StatusCode::OK, &r)
        }
        ["regions", rid] if *m == Method::DELETE => {
            require(t, Action::Manage)?;
            let r: Region = id.store.fetch(rid)?;
            if id
                .store
                .list::<Region>()?
                .iter()
                .any(|c| c.parent_region_id.as_deref() == Some(&r.id))
            {
                return Err(Error::Forbidden(
                    "Cannot delete a region with child regions".into(),
                ));
            }
            id.store.delete(&r)?;
            no_content()
        }
        _ => return Ok(None),
    };
    Ok(Some(r))
}

fn parent_region(id: &Identity, o: &Map<String, Value>, own: &str) -> Result<Option<String>> {
    let p = field(o, "parent_region_id")?;
    if let Some(p) = &p {
        if p == own || id.store.get::<Region>(p)?.is_none() {
            return Err(Error::bad(format!("Invalid parent region: {p}.")));
        }
    }
    Ok(p)
}

fn create_region(
    id: &Identity,
    req: &Req,
    o: &Map<String, Value>,
    rid: String,
) -> Result<Response> {
    if rid.is_empty() || rid.len() > 255 || rid.contains('/') {
        return Err(Error::bad("Invalid region id"));
    }
    let r = Region {
        parent_region_id: parent_region(id, o, &rid)?,
        id: rid,
        description: field(o, "description")?.unwrap_or_default(),
    };
    id.store.create(&r)?;
    Ok(one(req, StatusCode::CREATED, &r))
}
