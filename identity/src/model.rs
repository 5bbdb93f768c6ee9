//! The identity records as stored (format version 1, JSON) and as Keystone's
//! API shows them. Secrets (password and application-credential hashes)
//! are stored but never rendered.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// A stored record kind: its key space and the name that must be unique.
pub trait Record: Serialize + serde::de::DeserializeOwned + Clone {
    /// Singular name, as in error messages and JSON envelopes (`project`).
    const KIND: &'static str;
    /// Collection name in URLs and JSON (`projects`).
    const COLLECTION: &'static str;
    fn id(&self) -> &str;
    /// The scope and name that identify it besides its id, if any.
    fn unique_name(&self) -> Option<(String, String)>;
    /// The API's JSON view, without links.
    fn view(&self) -> Value;
    /// The snapshot (see `Store`) a change to this record invalidates.
    const GENERATION: Option<&'static str> = None;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Domain {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    /// The parent project, or the domain for a top-level project.
    pub parent_id: String,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub enabled: bool,
    /// PHC string (argon2id); None: cannot log in with a password.
    pub password_hash: Option<String>,
    pub default_project_id: Option<String>,
    #[serde(default)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub domain_id: Option<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub service_id: String,
    /// public, internal or admin.
    pub interface: String,
    pub region_id: Option<String>,
    pub url: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Region {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub parent_region_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credential {
    pub id: String,
    pub user_id: String,
    pub project_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    /// Opaque to Keystone except for type `ec2`: `{"access", "secret"}`.
    pub blob: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppCredential {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    pub secret_hash: String,
    #[serde(default)]
    pub description: String,
    /// Unix seconds.
    pub expires_at: Option<u64>,
    pub role_ids: Vec<String>,
    pub unrestricted: bool,
}

fn tags_of(v: &[String]) -> Value {
    json!(v)
}

impl Record for Domain {
    const KIND: &'static str = "domain";
    const COLLECTION: &'static str = "domains";
    fn id(&self) -> &str {
        &self.id
    }
    fn unique_name(&self) -> Option<(String, String)> {
        Some((String::new(), self.name.clone()))
    }
    fn view(&self) -> Value {
        json!({"id": self.id, "name": self.name, "description": self.description,
               "enabled": self.enabled, "tags": tags_of(&self.tags), "options": {}})
    }
}

impl Record for Project {
    const KIND: &'static str = "project";
    const COLLECTION: &'static str = "projects";
    fn id(&self) -> &str {
        &self.id
    }
    fn unique_name(&self) -> Option<(String, String)> {
        Some((self.domain_id.clone(), self.name.clone()))
    }
    fn view(&self) -> Value {
        let mut v = json!({"id": self.id, "name": self.name, "domain_id": self.domain_id,
               "parent_id": self.parent_id, "description": self.description,
               "enabled": self.enabled, "is_domain": false, "tags": tags_of(&self.tags),
               "options": {}});
        merge_extra(&mut v, &self.extra);
        v
    }
}

impl Record for User {
    const KIND: &'static str = "user";
    const COLLECTION: &'static str = "users";
    fn id(&self) -> &str {
        &self.id
    }
    fn unique_name(&self) -> Option<(String, String)> {
        Some((self.domain_id.clone(), self.name.clone()))
    }
    fn view(&self) -> Value {
        let mut v = json!({"id": self.id, "name": self.name, "domain_id": self.domain_id,
               "enabled": self.enabled, "password_expires_at": null, "options": {}});
        if let Some(p) = &self.default_project_id {
            v["default_project_id"] = json!(p);
        }
        merge_extra(&mut v, &self.extra);
        v
    }
}

impl Record for Group {
    const KIND: &'static str = "group";
    const COLLECTION: &'static str = "groups";
    fn id(&self) -> &str {
        &self.id
    }
    fn unique_name(&self) -> Option<(String, String)> {
        Some((self.domain_id.clone(), self.name.clone()))
    }
    fn view(&self) -> Value {
        json!({"id": self.id, "name": self.name, "domain_id": self.domain_id,
               "description": self.description})
    }
}

impl Record for Role {
    const GENERATION: Option<&'static str> = Some("roles");
    const KIND: &'static str = "role";
    const COLLECTION: &'static str = "roles";
    fn id(&self) -> &str {
        &self.id
    }
    fn unique_name(&self) -> Option<(String, String)> {
        Some((
            self.domain_id.clone().unwrap_or_default(),
            self.name.clone(),
        ))
    }
    fn view(&self) -> Value {
        json!({"id": self.id, "name": self.name, "domain_id": self.domain_id,
               "description": self.description, "options": {}})
    }
}

impl Record for Service {
    const GENERATION: Option<&'static str> = Some("catalog");
    const KIND: &'static str = "service";
    const COLLECTION: &'static str = "services";
    fn id(&self) -> &str {
        &self.id
    }
    fn unique_name(&self) -> Option<(String, String)> {
        None
    }
    fn view(&self) -> Value {
        json!({"id": self.id, "type": self.kind, "name": self.name,
               "description": self.description, "enabled": self.enabled})
    }
}

impl Record for Endpoint {
    const GENERATION: Option<&'static str> = Some("catalog");
    const KIND: &'static str = "endpoint";
    const COLLECTION: &'static str = "endpoints";
    fn id(&self) -> &str {
        &self.id
    }
    fn unique_name(&self) -> Option<(String, String)> {
        None
    }
    fn view(&self) -> Value {
        json!({"id": self.id, "service_id": self.service_id, "interface": self.interface,
               "region_id": self.region_id, "region": self.region_id, "url": self.url,
               "enabled": self.enabled})
    }
}

impl Record for Region {
    const GENERATION: Option<&'static str> = Some("catalog");
    const KIND: &'static str = "region";
    const COLLECTION: &'static str = "regions";
    fn id(&self) -> &str {
        &self.id
    }
    fn unique_name(&self) -> Option<(String, String)> {
        None
    }
    fn view(&self) -> Value {
        json!({"id": self.id, "description": self.description,
               "parent_region_id": self.parent_region_id})
    }
}

impl Record for Credential {
    const KIND: &'static str = "credential";
    const COLLECTION: &'static str = "credentials";
    fn id(&self) -> &str {
        &self.id
    }
    fn unique_name(&self) -> Option<(String, String)> {
        None
    }
    fn view(&self) -> Value {
        json!({"id": self.id, "user_id": self.user_id, "project_id": self.project_id,
               "type": self.kind, "blob": self.blob})
    }
}

impl Record for AppCredential {
    const KIND: &'static str = "application_credential";
    const COLLECTION: &'static str = "application_credentials";
    fn id(&self) -> &str {
        &self.id
    }
    fn unique_name(&self) -> Option<(String, String)> {
        Some((self.user_id.clone(), self.name.clone()))
    }
    fn view(&self) -> Value {
        json!({"id": self.id, "name": self.name, "user_id": self.user_id,
               "project_id": self.project_id, "description": self.description,
               "expires_at": self.expires_at.map(|s| stratus_common::timestamp::iso8601_micros(s * 1_000_000)),
               "unrestricted": self.unrestricted, "access_rules": []})
    }
}

/// Attributes Keystone keeps though it does not know them (e.g. `email`).
fn merge_extra(v: &mut Value, extra: &Map<String, Value>) {
    if let Value::Object(o) = v {
        for (k, x) in extra {
            o.entry(k.clone()).or_insert_with(|| x.clone());
        }
    }
}

/// Who holds a role: a user or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorKind {
    User,
    Group,
}

/// Where a role is held.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Project(String),
    Domain(String),
    System,
}

/// One role assignment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Assignment {
    pub actor: ActorKind,
    pub actor_id: String,
    pub target: Target,
    pub role_id: String,
}

/// Tokens issued before `issued_before` (unix µs) that match are revoked.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RevokeEvent {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub audit_id: Option<String>,
    pub issued_before: u64,
}
