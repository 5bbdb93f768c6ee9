//! `stratus identity bootstrap`, like `keystone-manage bootstrap`: the
//! Default domain, the admin project and user, the admin ⊃ member ⊃ reader
//! roles, the region and the catalog entries. Running it again changes
//! nothing that is already there (except a changed admin password).

use crate::error::Result;
use crate::model::{
    ActorKind, Assignment, Credential, Domain, Endpoint, Project, Region, Role, Service, Target,
    User,
};
use crate::{new_id, Identity};

pub const DEFAULT_DOMAIN_ID: &str = "default";

#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub admin_username: String,
    pub admin_password: String,
    pub project_name: String,
    pub region_id: String,
    /// The identity service's own endpoint (`http://host:5000/v3`).
    pub identity_url: Option<String>,
    /// Further catalog entries, e.g. the object store.
    pub services: Vec<ServiceEndpoint>,
}

#[derive(Debug, Clone)]
pub struct ServiceEndpoint {
    pub kind: String,
    pub name: String,
    /// The same URL for the public, internal and admin interfaces.
    pub url: String,
}

fn ensure_role(id: &Identity, name: &str) -> Result<Role> {
    if let Some(r) = id.store.find_by_name::<Role>("", name)? {
        return Ok(r);
    }
    let r = Role {
        id: new_id(),
        name: name.into(),
        domain_id: None,
        description: String::new(),
    };
    id.store.create(&r)?;
    Ok(r)
}

fn ensure_service(id: &Identity, region: &str, s: &ServiceEndpoint) -> Result<()> {
    let existing = id
        .store
        .list::<Service>()?
        .into_iter()
        .find(|x| x.kind == s.kind);
    let service = match existing {
        Some(x) => x,
        None => {
            let x = Service {
                id: new_id(),
                kind: s.kind.clone(),
                name: s.name.clone(),
                description: String::new(),
                enabled: true,
            };
            id.store.create(&x)?;
            x
        }
    };
    let endpoints = id.store.list::<Endpoint>()?;
    for interface in ["public", "internal", "admin"] {
        let have = endpoints
            .iter()
            .find(|e| e.service_id == service.id && e.interface == interface);
        if let Some(e) = have.filter(|e| e.url != s.url) {
            // The service moved (e.g. another port): follow it.
            let mut moved = e.clone();
            moved.url = s.url.clone();
            id.store.update(e, &moved)?;
        }
        if have.is_none() {
            id.store.create(&Endpoint {
                id: new_id(),
                service_id: service.id.clone(),
                interface: interface.into(),
                region_id: Some(region.into()),
                url: s.url.clone(),
                enabled: true,
            })?;
        }
    }
    Ok(())
}

pub fn bootstrap(id: &Identity, b: &Bootstrap) -> Result<()> {
    let store = &id.store;
    if store.get::<Domain>(DEFAULT_DOMAIN_ID)?.is_none() {
        store.create(&Domain {
            id: DEFAULT_DOMAIN_ID.into(),
            name: "Default".into(),
            description: "The default domain".into(),
            enabled: true,
            tags: vec![],
        })?;
    }
    let project = match store.find_by_name::<Project>(DEFAULT_DOMAIN_ID, &b.project_name)? {
        Some(p) => p,
        None => {
            let p = Project {
                id: new_id(),
                name: b.project_name.clone(),
                domain_id: DEFAULT_DOMAIN_ID.into(),
                parent_id: DEFAULT_DOMAIN_ID.into(),
                description: "Bootstrap project for initializing the cloud.".into(),
                enabled: true,
                tags: vec![],
                extra: Default::default(),
            };
            store.create(&p)?;
            p
        }
    };
    let admin = ensure_role(id, "admin")?;
    let member = ensure_role(id, "member")?;
    let reader = ensure_role(id, "reader")?;
    store.imply(&admin.id, &member.id)?;
    store.imply(&member.id, &reader.id)?;
    let hash = || crate::password::hash(&b.admin_password).map_err(crate::error::Error::Internal);
    let user = match store.find_by_name::<User>(DEFAULT_DOMAIN_ID, &b.admin_username)? {
        Some(u) => {
            let same = u
                .password_hash
                .as_deref()
                .is_some_and(|h| crate::password::verify(&b.admin_password, h));
            if !same || !u.enabled {
                let mut v = u.clone();
                v.password_hash = Some(hash()?);
                v.enabled = true;
                store.update(&u, &v)?;
            }
            u
        }
        None => {
            let u = User {
                id: new_id(),
                name: b.admin_username.clone(),
                domain_id: DEFAULT_DOMAIN_ID.into(),
                enabled: true,
                password_hash: Some(hash()?),
                default_project_id: Some(project.id.clone()),
                extra: Default::default(),
            };
            store.create(&u)?;
            u
        }
    };
    for target in [Target::Project(project.id.clone()), Target::System] {
        store.grant(&Assignment {
            actor: ActorKind::User,
            actor_id: user.id.clone(),
            target,
            role_id: admin.id.clone(),
        })?;
    }
    if store.get::<Region>(&b.region_id)?.is_none() {
        store.create(&Region {
            id: b.region_id.clone(),
            description: String::new(),
            parent_region_id: None,
        })?;
    }
    let mut services = b.services.clone();
    if let Some(url) = &b.identity_url {
        services.insert(
            0,
            ServiceEndpoint {
                kind: "identity".into(),
                name: "keystone".into(),
                url: url.clone(),
            },
        );
    }
    for s in &services {
        ensure_service(id, &b.region_id, s)?;
    }
    Ok(())
}

fn ensure_project(id: &Identity, name: &str) -> Result<Project> {
    if let Some(p) = id.store.find_by_name::<Project>(DEFAULT_DOMAIN_ID, name)? {
        return Ok(p);
    }
    let p = Project {
        id: new_id(),
        name: name.into(),
        domain_id: DEFAULT_DOMAIN_ID.into(),
        parent_id: DEFAULT_DOMAIN_ID.into(),
        description: String::new(),
        enabled: true,
        tags: vec![],
        extra: Default::default(),
    };
    id.store.create(&p)?;
    Ok(p)
}

/// A service's own user (Default domain) with the admin and service roles
/// on `project`, as OpenStack deployments give their services; the
/// password is (re)set to `password`. Call after [`bootstrap`].
pub fn ensure_service_user(id: &Identity, name: &str, password: &str, project: &str) -> Result<()> {
    let project = ensure_project(id, project)?;
    let hash = || crate::password::hash(password).map_err(crate::error::Error::Internal);
    let user = match id.store.find_by_name::<User>(DEFAULT_DOMAIN_ID, name)? {
        Some(u) => {
            let same = u
                .password_hash
                .as_deref()
                .is_some_and(|h| crate::password::verify(password, h));
            if !same {
                let mut v = u.clone();
                v.password_hash = Some(hash()?);
                id.store.update(&u, &v)?;
            }
            u
        }
        None => {
            let u = User {
                id: new_id(),
                name: name.into(),
                domain_id: DEFAULT_DOMAIN_ID.into(),
                enabled: true,
                password_hash: Some(hash()?),
                default_project_id: Some(project.id.clone()),
                extra: Default::default(),
            };
            id.store.create(&u)?;
            u
        }
    };
    for role in ["admin", "service"] {
        let r = ensure_role(id, role)?;
        id.store.grant(&Assignment {
            actor: ActorKind::User,
            actor_id: user.id.clone(),
            target: Target::Project(project.id.clone()),
            role_id: r.id,
        })?;
    }
    Ok(())
}

/// An EC2 credential of `user` on `project` (both in the Default domain):
/// the first existing one, else a new one. Returns (access, secret).
pub fn ensure_ec2_credential(id: &Identity, user: &str, project: &str) -> Result<(String, String)> {
    let not_found = |kind, n: &str| crate::error::Error::not_found(kind, n);
    let u = id
        .store
        .find_by_name::<User>(DEFAULT_DOMAIN_ID, user)?
        .ok_or_else(|| not_found("user", user))?;
    let p = id
        .store
        .find_by_name::<Project>(DEFAULT_DOMAIN_ID, project)?
        .ok_or_else(|| not_found("project", project))?;
    let pair = |c: &Credential| {
        let v: serde_json::Value = serde_json::from_str(&c.blob).ok()?;
        Some((
            v["access"].as_str()?.to_string(),
            v["secret"].as_str()?.to_string(),
        ))
    };
    let existing = id.store.list::<Credential>()?.into_iter().find(|c| {
        c.kind == "ec2" && c.user_id == u.id && c.project_id.as_deref() == Some(p.id.as_str())
    });
    if let Some(found) = existing.as_ref().and_then(pair) {
        return Ok(found);
    }
    let (access, secret) = (crate::new_secret()?, crate::new_secret()?);
    let c = Credential {
        id: crate::api::ec2_credential_id(&access),
        user_id: u.id,
        project_id: Some(p.id),
        kind: "ec2".into(),
        blob: serde_json::json!({"access": access, "secret": secret, "trust_id": null}).to_string(),
    };
    id.store.create(&c)?;
    Ok((access, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn bootstrap_service_user_and_ec2_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        crate::token::Keys::setup(dir.path()).unwrap();
        let keys = crate::token::Keys::load(dir.path()).unwrap();
        let kv = Arc::new(stratus_common::kv::MemKv::default());
        let id = Identity::with_store(crate::IdentityConfig::default(), kv, keys);
        let b = Bootstrap {
            admin_username: "admin".into(),
            admin_password: "pw".into(),
            project_name: "admin".into(),
            region_id: "RegionOne".into(),
            identity_url: Some("http://h:5000/v3".into()),
            services: vec![],
        };
        for _ in 0..2 {
            bootstrap(&id, &b).unwrap();
            ensure_service_user(&id, "svc", "spw", "service").unwrap();
        }
        assert_eq!(id.store.list::<User>().unwrap().len(), 2);
        assert_eq!(id.store.list::<Endpoint>().unwrap().len(), 3);
        let svc: User = id
            .store
            .find_by_name(DEFAULT_DOMAIN_ID, "svc")
            .unwrap()
            .unwrap();
        let p: Project = id
            .store
            .find_by_name(DEFAULT_DOMAIN_ID, "service")
            .unwrap()
            .unwrap();
        let roles: Vec<String> = id
            .roles_on(&svc.id, &Target::Project(p.id))
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(roles, vec!["admin", "member", "reader", "service"]);
        let first = ensure_ec2_credential(&id, "admin", "admin").unwrap();
        assert_eq!(ensure_ec2_credential(&id, "admin", "admin").unwrap(), first);
        assert!(ensure_ec2_credential(&id, "nobody", "admin").is_err());
        // The endpoint follows a moved service.
        let moved = Bootstrap {
            identity_url: Some("http://h:5001/v3".into()),
            ..b
        };
        bootstrap(&id, &moved).unwrap();
        assert!(id
            .store
            .list::<Endpoint>()
            .unwrap()
            .iter()
            .all(|e| e.url == "http://h:5001/v3"));
    }
}
