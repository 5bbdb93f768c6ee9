//! Identity records on the ordered key-value store. Key spaces:
//!
//! - `r/<kind>/<id>` → record (version byte 1, then JSON)
//! - `n/<kind>/<scope>\0<name>` → id, claimed with compare-and-swap so two
//!   creators of one name cannot both win (also on etcd)
//! - `m/<group>/<user>` and `M/<user>/<group>`: group membership
//! - `a/<target>/<actor>/<role>`: role assignments (`p:<id>`, `d:<id>`,
//!   `s:all`; `u:<id>`, `g:<id>`)
//! - `i/<prior>/<implied>`: implied roles
//! - `x/<issued_before>/<nonce>`: token revocation events
//! - `g/<name>`: generation counters of the catalog and of the roles
//!
//! Every token validation needs the catalog and the roles with their
//! implications, which change rarely: they are kept as in-memory snapshots
//! and reloaded when their generation counter in the store moved (so
//! several identity processes on one shared store stay coherent).
//!
//! A crash between claiming a name and writing its record leaves a claim
//! pointing at nothing; the next creator of that name takes it over.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use stratus_common::kv::KvStore;

use crate::error::{Error, Result};
use crate::model::{
    ActorKind, Assignment, Endpoint, Record, Region, RevokeEvent, Role, Service, Target,
};

const RECORD_VERSION: u8 = 1;

/// The catalog's records as of one generation.
#[derive(Debug, Default)]
pub struct CatalogSnapshot {
    pub services: Vec<Service>,
    pub endpoints: Vec<Endpoint>,
    pub regions: Vec<Region>,
}

/// Roles by id and (prior, implied) pairs as of one generation.
#[derive(Debug, Default)]
pub struct RoleSnapshot {
    pub roles: HashMap<String, Role>,
    pub implications: Vec<(String, String)>,
}

/// Snapshot name → (generation it was loaded at, value).
type Snapshots = HashMap<&'static str, (u64, Arc<dyn Any + Send + Sync>)>;

#[derive(Debug, Clone)]
pub struct Store {
    kv: Arc<dyn KvStore>,
    snapshots: Arc<Mutex<Snapshots>>,
}

fn record_key(kind: &str, id: &str) -> Vec<u8> {
    format!("r/{kind}/{id}").into_bytes()
}

fn name_key(kind: &str, scope: &str, name: &str) -> Vec<u8> {
    format!("n/{kind}/{scope}\0{name}").into_bytes()
}

fn encode<R: Record>(r: &R) -> Result<Vec<u8>> {
    let mut out = vec![RECORD_VERSION];
    serde_json::to_writer(&mut out, r).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(out)
}

fn decode<R: Record>(b: &[u8]) -> Result<R> {
    match b.split_first() {
        Some((&RECORD_VERSION, json)) => {
            serde_json::from_slice(json).map_err(|e| Error::Internal(e.to_string()))
        }
        _ => Err(Error::Internal(format!(
            "unknown {} record format",
            R::KIND
        ))),
    }
}

fn target_key(t: &Target) -> String {
    match t {
        Target::Project(id) => format!("p:{id}"),
        Target::Domain(id) => format!("d:{id}"),
        Target::System => "s:all".into(),
    }
}

fn actor_key(kind: ActorKind, id: &str) -> String {
    match kind {
        ActorKind::User => format!("u:{id}"),
        ActorKind::Group => format!("g:{id}"),
    }
}

fn utf8(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Store {
    pub fn new(kv: Arc<dyn KvStore>) -> Store {
        Store {
            kv,
            snapshots: Arc::default(),
        }
    }

    fn generation(&self, name: &str) -> Result<u64> {
        Ok(self
            .kv
            .get(format!("g/{name}").as_bytes())?
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }

    fn bump(&self, name: Option<&str>) -> Result<()> {
        let Some(name) = name else { return Ok(()) };
        let key = format!("g/{name}");
        loop {
            let cur = self.kv.get(key.as_bytes())?;
            let n = cur
                .as_deref()
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            let next = (n + 1).to_be_bytes();
            if self
                .kv
                .compare_and_swap(key.as_bytes(), cur.as_deref(), Some(&next))?
            {
                return Ok(());
            }
        }
    }

    fn snapshots(&self) -> Result<std::sync::MutexGuard<'_, Snapshots>> {
        self.snapshots
            .lock()
            .map_err(|_| Error::Internal("snapshot lock poisoned".into()))
    }

    /// The value `load` makes, kept until generation `name` moves.
    fn snapshot<T: Any + Send + Sync>(
        &self,
        name: &'static str,
        load: impl FnOnce(&Store) -> Result<T>,
    ) -> Result<Arc<T>> {
        let g = self.generation(name)?;
        if let Some((at, v)) = self.snapshots()?.get(name) {
            if *at == g {
                if let Ok(t) = v.clone().downcast::<T>() {
                    return Ok(t);
                }
            }
        }
        let t = Arc::new(load(self)?);
        self.snapshots()?.insert(name, (g, t.clone()));
        Ok(t)
    }

    /// Services, endpoints and regions.
    pub fn catalog(&self) -> Result<Arc<CatalogSnapshot>> {
        self.snapshot("catalog", |s| {
            Ok(CatalogSnapshot {
                services: s.list()?,
                endpoints: s.list()?,
                regions: s.list()?,
            })
        })
    }

    /// Roles and implications.
    pub fn roles(&self) -> Result<Arc<RoleSnapshot>> {
        self.snapshot("roles", |s| {
            Ok(RoleSnapshot {
                roles: s
                    .list::<Role>()?
                    .into_iter()
                    .map(|r| (r.id.clone(), r))
                    .collect(),
                implications: s.implications()?,
            })
        })
    }

    /// Every role assignment.
    pub fn all_assignments(&self) -> Result<Arc<Vec<Assignment>>> {
        self.snapshot("assignments", |s| s.assignments(None))
    }

    /// User id → the groups it is a member of.
    pub fn memberships(&self) -> Result<Arc<HashMap<String, Vec<String>>>> {
        self.snapshot("members", |s| {
            let mut m: HashMap<String, Vec<String>> = HashMap::new();
            for k in s.tails("M/")? {
                if let Some((user, group)) = k.split_once('/') {
                    m.entry(user.into()).or_default().push(group.into());
                }
            }
            Ok(m)
        })
    }

    /// Every token revocation event.
    pub fn revocations(&self) -> Result<Arc<Vec<RevokeEvent>>> {
        self.snapshot("revocations", |s| {
            Ok(s.kv
                .scan(b"x/")?
                .iter()
                .filter_map(|(_, v)| serde_json::from_slice(v).ok())
                .collect())
        })
    }

    pub fn get<R: Record>(&self, id: &str) -> Result<Option<R>> {
        self.kv
            .get(&record_key(R::KIND, id))?
            .map(|b| decode(&b))
            .transpose()
    }

    /// The record or Keystone's 404.
    pub fn fetch<R: Record>(&self, id: &str) -> Result<R> {
        self.get(id)?.ok_or_else(|| Error::not_found(R::KIND, id))
    }

    pub fn list<R: Record>(&self) -> Result<Vec<R>> {
        let prefix = format!("r/{}/", R::KIND);
        self.kv
            .scan(prefix.as_bytes())?
            .iter()
            .map(|(_, v)| decode(v))
            .collect()
    }

    pub fn find_by_name<R: Record>(&self, scope: &str, name: &str) -> Result<Option<R>> {
        let Some(id) = self.kv.get(&name_key(R::KIND, scope, name))? else {
            return Ok(None);
        };
        let r: Option<R> = self.get(&utf8(&id))?;
        Ok(r.filter(|r| {
            r.unique_name()
                .is_some_and(|(s, n)| s == scope && n == name)
        }))
    }

    fn claim<R: Record>(&self, r: &R) -> Result<()> {
        let Some((scope, name)) = r.unique_name() else {
            return Ok(());
        };
        let key = name_key(R::KIND, &scope, &name);
        loop {
            let current = self.kv.get(&key)?;
            if let Some(holder) = &current {
                let holder = utf8(holder);
                let live: Option<R> = self.get(&holder)?;
                if holder == r.id() {
                    return Ok(());
                }
                if live.is_some_and(|l| l.unique_name() == r.unique_name()) {
                    return Err(Error::Conflict {
                        kind: R::KIND,
                        detail: format!("Duplicate entry found with name {name}"),
                    });
                }
            }
            if self
                .kv
                .compare_and_swap(&key, current.as_deref(), Some(r.id().as_bytes()))?
            {
                return Ok(());
            }
        }
    }

    fn release<R: Record>(&self, r: &R) -> Result<()> {
        if let Some((scope, name)) = r.unique_name() {
            let key = name_key(R::KIND, &scope, &name);
            self.kv
                .compare_and_swap(&key, Some(r.id().as_bytes()), None)?;
        }
        Ok(())
    }

    /// Stores a new record; 409 if its id or unique name is taken.
    pub fn create<R: Record>(&self, r: &R) -> Result<()> {
        let key = record_key(R::KIND, r.id());
        if self.kv.get(&key)?.is_some() {
            return Err(Error::Conflict {
                kind: R::KIND,
                detail: format!("Duplicate ID, {}", r.id()),
            });
        }
        self.claim(r)?;
        if !self.kv.compare_and_swap(&key, None, Some(&encode(r)?))? {
            return Err(Error::Conflict {
                kind: R::KIND,
                detail: format!("Duplicate ID, {}", r.id()),
            });
        }
        self.bump(R::GENERATION)
    }

    /// Replaces `old` by `new` (same id), moving its name claim if renamed.
    pub fn update<R: Record>(&self, old: &R, new: &R) -> Result<()> {
        let renamed = old.unique_name() != new.unique_name();
        if renamed {
            self.claim(new)?;
        }
        self.kv.put(&record_key(R::KIND, new.id()), &encode(new)?)?;
        if renamed {
            self.release(old)?;
        }
        self.bump(R::GENERATION)
    }

    pub fn delete<R: Record>(&self, r: &R) -> Result<()> {
        self.kv.delete(&record_key(R::KIND, r.id()))?;
        self.release(r)?;
        self.bump(R::GENERATION)
    }

    // Group membership.

    pub fn add_member(&self, group: &str, user: &str) -> Result<()> {
        self.kv.put(format!("m/{group}/{user}").as_bytes(), b"")?;
        self.kv.put(format!("M/{user}/{group}").as_bytes(), b"")?;
        self.bump(Some("members"))
    }

    pub fn remove_member(&self, group: &str, user: &str) -> Result<()> {
        self.kv.delete(format!("M/{user}/{group}").as_bytes())?;
        self.kv.delete(format!("m/{group}/{user}").as_bytes())?;
        self.bump(Some("members"))
    }

    pub fn is_member(&self, group: &str, user: &str) -> Result<bool> {
        Ok(self
            .kv
            .get(format!("m/{group}/{user}").as_bytes())?
            .is_some())
    }

    fn tails(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .kv
            .scan(prefix.as_bytes())?
            .into_iter()
            .map(|(k, _)| utf8(&k[prefix.len()..]))
            .collect())
    }

    pub fn members(&self, group: &str) -> Result<Vec<String>> {
        self.tails(&format!("m/{group}/"))
    }

    pub fn groups_of(&self, user: &str) -> Result<Vec<String>> {
        self.tails(&format!("M/{user}/"))
    }

    // Role assignments.

    fn assignment_key(a: &Assignment) -> Vec<u8> {
        format!(
            "a/{}/{}/{}",
            target_key(&a.target),
            actor_key(a.actor, &a.actor_id),
            a.role_id
        )
        .into_bytes()
    }

    pub fn grant(&self, a: &Assignment) -> Result<()> {
        self.kv.put(&Self::assignment_key(a), b"")?;
        self.bump(Some("assignments"))
    }

    pub fn revoke(&self, a: &Assignment) -> Result<()> {
        self.kv.delete(&Self::assignment_key(a))?;
        self.bump(Some("assignments"))
    }

    pub fn has_grant(&self, a: &Assignment) -> Result<bool> {
        Ok(self.kv.get(&Self::assignment_key(a))?.is_some())
    }

    /// Assignments on `target`, or on every target when None.
    pub fn assignments(&self, target: Option<&Target>) -> Result<Vec<Assignment>> {
        let prefix = match target {
            Some(t) => format!("a/{}/", target_key(t)),
            None => "a/".into(),
        };
        let mut out = Vec::new();
        for (k, _) in self.kv.scan(prefix.as_bytes())? {
            let key = utf8(&k[2..]);
            let mut parts = key.splitn(3, '/');
            let (Some(t), Some(actor), Some(role)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let target = match t.split_once(':') {
                Some(("p", id)) => Target::Project(id.into()),
                Some(("d", id)) => Target::Domain(id.into()),
                Some(("s", _)) => Target::System,
                _ => continue,
            };
            let (actor, actor_id) = match actor.split_once(':') {
                Some(("u", id)) => (ActorKind::User, id.to_string()),
                Some(("g", id)) => (ActorKind::Group, id.to_string()),
                _ => continue,
            };
            out.push(Assignment {
                actor,
                actor_id,
                target,
                role_id: role.into(),
            });
        }
        Ok(out)
    }

    /// Removes every assignment naming `id` as actor, target or role.
    pub fn forget_in_assignments(&self, id: &str) -> Result<()> {
        for a in self.assignments(None)? {
            let hit = a.actor_id == id
                || a.role_id == id
                || matches!(&a.target, Target::Project(t) | Target::Domain(t) if t == id);
            if hit {
                self.revoke(&a)?;
            }
        }
        Ok(())
    }

    // Implied roles.

    pub fn imply(&self, prior: &str, implied: &str) -> Result<()> {
        self.kv
            .put(format!("i/{prior}/{implied}").as_bytes(), b"")?;
        self.bump(Some("roles"))
    }

    pub fn unimply(&self, prior: &str, implied: &str) -> Result<()> {
        self.kv.delete(format!("i/{prior}/{implied}").as_bytes())?;
        self.bump(Some("roles"))
    }

    /// Every (prior, implied) pair.
    pub fn implications(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .tails("i/")?
            .into_iter()
            .filter_map(|k| {
                k.split_once('/')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            })
            .collect())
    }

    // Revocations.

    /// Records a revocation and drops events about tokens issued before
    /// `oldest_relevant_us` (they have expired anyway).
    pub fn add_revocation(&self, e: &RevokeEvent, oldest_relevant_us: u64) -> Result<()> {
        for (k, v) in self.kv.scan(b"x/")? {
            let old = serde_json::from_slice::<RevokeEvent>(&v).ok();
            if old.is_none_or(|o| o.issued_before < oldest_relevant_us) {
                self.kv.delete(&k)?;
            }
        }
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| Error::Internal(e.to_string()))?;
        let key = format!("x/{:020}/{}", e.issued_before, hex::encode(nonce));
        let v = serde_json::to_vec(e).map_err(|e| Error::Internal(e.to_string()))?;
        self.kv.put(key.as_bytes(), &v)?;
        self.bump(Some("revocations"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Project;
    use stratus_common::kv::MemKv;

    fn project(id: &str, name: &str) -> Project {
        Project {
            id: id.into(),
            name: name.into(),
            domain_id: "default".into(),
            parent_id: "default".into(),
            description: String::new(),
            enabled: true,
            tags: vec![],
            extra: Default::default(),
        }
    }

    #[test]
    fn names_are_unique_and_move_on_rename() {
        let s = Store::new(Arc::new(MemKv::default()));
        s.create(&project("1", "a")).unwrap();
        assert!(matches!(
            s.create(&project("2", "a")),
            Err(Error::Conflict { .. })
        ));
        assert!(matches!(
            s.create(&project("1", "b")),
            Err(Error::Conflict { .. })
        ));
        s.update(&project("1", "a"), &project("1", "b")).unwrap();
        s.create(&project("2", "a")).unwrap();
        let found: Project = s.find_by_name("default", "b").unwrap().unwrap();
        assert_eq!(found.id, "1");
        s.delete(&found).unwrap();
        assert!(s.find_by_name::<Project>("default", "b").unwrap().is_none());
        assert_eq!(s.list::<Project>().unwrap().len(), 1);
    }

    #[test]
    fn snapshots_follow_changes() {
        let kv: Arc<dyn KvStore> = Arc::new(MemKv::default());
        let (a, b) = (Store::new(kv.clone()), Store::new(kv));
        let role = |id: &str, name: &str| Role {
            id: id.into(),
            name: name.into(),
            domain_id: None,
            description: String::new(),
        };
        assert!(a.roles().unwrap().roles.is_empty());
        // A change through another store (another process) is seen.
        b.create(&role("r1", "admin")).unwrap();
        assert_eq!(a.roles().unwrap().roles["r1"].name, "admin");
        b.update(&role("r1", "admin"), &role("r1", "boss")).unwrap();
        assert_eq!(a.roles().unwrap().roles["r1"].name, "boss");
        b.imply("r1", "r2").unwrap();
        assert_eq!(
            a.roles().unwrap().implications,
            vec![("r1".into(), "r2".into())]
        );
        b.delete(&role("r1", "boss")).unwrap();
        assert!(a.roles().unwrap().roles.is_empty());
        assert!(a.catalog().unwrap().services.is_empty());
    }

    #[test]
    fn stale_name_claim_is_taken_over() {
        let kv = Arc::new(MemKv::default());
        kv.put(&name_key("project", "default", "a"), b"ghost")
            .unwrap();
        let s = Store::new(kv);
        s.create(&project("1", "a")).unwrap();
        let p: Project = s.find_by_name("default", "a").unwrap().unwrap();
        assert_eq!(p.id, "1");
    }

    #[test]
    fn assignments_round_trip() {
        let s = Store::new(Arc::new(MemKv::default()));
        let a = Assignment {
            actor: ActorKind::Group,
            actor_id: "g1".into(),
            target: Target::Project("p1".into()),
            role_id: "r1".into(),
        };
        let b = Assignment {
            actor: ActorKind::User,
            actor_id: "u1".into(),
            target: Target::System,
            role_id: "r1".into(),
        };
        s.grant(&a).unwrap();
        s.grant(&b).unwrap();
        assert_eq!(s.assignments(None).unwrap().len(), 2);
        assert_eq!(
            s.assignments(Some(&Target::Project("p1".into()))).unwrap(),
            vec![a.clone()]
        );
        s.forget_in_assignments("g1").unwrap();
        assert_eq!(s.assignments(None).unwrap(), vec![b]);
    }
}
