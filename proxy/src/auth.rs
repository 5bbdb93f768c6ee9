//! Who a request is. Two token kinds lead to the same [`Identity`]:
//! Swift's v1.0 auth (as tempauth does it: users from the config log in
//! with `X-Auth-User: account:user` and `X-Auth-Key` and get an
//! `AUTH_tk…` token) and Keystone tokens, checked with the identity service
//! (as Swift's keystoneauth does it: project P is account `AUTH_P`; the
//! operator roles own it, reader roles may read it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use stratus_common::token_check::TokenInfo;

use crate::config::User;

/// Accounts are named `AUTH_<account>` in paths and on the storage nodes.
pub const RESELLER_PREFIX: &str = "AUTH_";

/// Who a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The account the user belongs to, with its prefix (`AUTH_test`).
    pub account: String,
    pub user: String,
    /// May do anything in its own account.
    pub operator: bool,
    /// May read (GET/HEAD) its own account.
    pub reader: bool,
    /// May do anything in every account.
    pub reseller_admin: bool,
    /// The `account:user` spellings container ACLs may name it by.
    pub acl_names: Vec<(String, String)>,
}

/// Role names that decide what a Keystone identity may do.
#[derive(Debug, Clone)]
pub struct KeystoneRoles {
    pub operator: Vec<String>,
    pub reader: Vec<String>,
    pub reseller_admin: String,
}

impl Identity {
    /// Whether this identity owns `account` (may do anything in it).
    pub fn owns(&self, account: &str) -> bool {
        self.reseller_admin || (self.operator && self.account == account)
    }

    /// Whether it may read `account` without an ACL.
    pub fn reads(&self, account: &str) -> bool {
        self.owns(account) || ((self.operator || self.reader) && self.account == account)
    }

    /// A project-scoped Keystone token as an identity; None for tokens
    /// scoped to a domain, the system or nothing (they name no account),
    /// unless they hold the reseller admin role.
    pub fn from_keystone(t: &TokenInfo, roles: &KeystoneRoles) -> Option<Identity> {
        let has = |set: &[String]| t.roles.iter().any(|r| set.contains(r));
        let reseller_admin = t.roles.contains(&roles.reseller_admin);
        let project = t.project_id.as_deref();
        if project.is_none() && !reseller_admin {
            return None;
        }
        let mut acl_names = vec![];
        if let Some(p) = project {
            acl_names.push((p.to_string(), t.user_id.clone()));
            if let Some(name) = &t.project_name {
                acl_names.push((name.clone(), t.user_name.clone()));
            }
        }
        Some(Identity {
            account: format!("{RESELLER_PREFIX}{}", project.unwrap_or_default()),
            user: t.user_id.clone(),
            operator: has(&roles.operator),
            reader: has(&roles.reader),
            reseller_admin,
            acl_names,
        })
    }
}

#[derive(Debug)]
pub struct Auth {
    users: Vec<User>,
    ttl: Duration,
    tokens: Mutex<HashMap<String, (Identity, Instant)>>,
}

pub use stratus_common::http::constant_time_eq;

impl Auth {
    pub fn new(users: Vec<User>, ttl: Duration) -> Auth {
        Auth {
            users,
            ttl,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// `account:user` + key → a fresh token and its lifetime left.
    pub fn login(&self, who: &str, key: &str) -> Option<(String, Identity, Duration)> {
        let (account, user) = who.split_once(':')?;
        let u = self
            .users
            .iter()
            .find(|u| u.account == account && u.user == user)?;
        if !constant_time_eq(u.key.as_bytes(), key.as_bytes()) {
            return None;
        }
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).ok()?;
        let token = format!("AUTH_tk{}", hex::encode(raw));
        let has = |r: &str| u.roles.iter().any(|x| x == r);
        let id = Identity {
            account: format!("{RESELLER_PREFIX}{account}"),
            user: user.into(),
            operator: has(".admin"),
            reader: false,
            reseller_admin: has(".reseller_admin"),
            acl_names: vec![(account.to_string(), user.to_string())],
        };
        let mut tokens = self.tokens.lock().ok()?;
        let now = Instant::now();
        tokens.retain(|_, (_, exp)| *exp > now);
        tokens.insert(token.clone(), (id.clone(), now + self.ttl));
        Some((token, id, self.ttl))
    }

    /// The identity behind a token, if it is known and not expired.
    pub fn identify(&self, token: &str) -> Option<Identity> {
        let tokens = self.tokens.lock().ok()?;
        // Tokens are random and long; a map lookup leaks nothing useful.
        let (id, exp) = tokens.get(token)?;
        (*exp > Instant::now()).then(|| id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(ttl: Duration) -> Auth {
        let u = User {
            account: "test".into(),
            user: "tester".into(),
            key: "testing".into(),
            roles: vec![".admin".into()],
        };
        Auth::new(vec![u], ttl)
    }

    #[test]
    fn login_and_identify() {
        let a = auth(Duration::from_secs(60));
        assert!(a.login("test:tester", "wrong").is_none());
        assert!(a.login("test:nobody", "testing").is_none());
        assert!(a.login("testtester", "testing").is_none());
        let (token, id, _) = a.login("test:tester", "testing").unwrap();
        assert_eq!(id.account, "AUTH_test");
        assert_eq!(a.identify(&token), Some(id.clone()));
        assert!(id.owns("AUTH_test") && !id.owns("AUTH_other"));
        assert!(a.identify("AUTH_tkbogus").is_none());
    }

    #[test]
    fn keystone_roles_decide_ownership() {
        let roles = KeystoneRoles {
            operator: vec!["admin".into(), "member".into()],
            reader: vec!["reader".into()],
            reseller_admin: "ResellerAdmin".into(),
        };
        let mut t = TokenInfo {
            user_id: "u1".into(),
            user_name: "alice".into(),
            user_domain_id: "default".into(),
            project_id: Some("p1".into()),
            project_name: Some("demo".into()),
            project_domain_id: Some("default".into()),
            domain_id: None,
            system: false,
            roles: vec!["member".into(), "reader".into()],
        };
        let member = Identity::from_keystone(&t, &roles).unwrap();
        assert_eq!(member.account, "AUTH_p1");
        assert!(member.owns("AUTH_p1") && !member.owns("AUTH_p2"));
        assert_eq!(member.acl_names[1], ("demo".into(), "alice".into()));
        t.roles = vec!["reader".into()];
        let reader = Identity::from_keystone(&t, &roles).unwrap();
        assert!(!reader.owns("AUTH_p1") && reader.reads("AUTH_p1") && !reader.reads("AUTH_p2"));
        t.project_id = None;
        assert!(Identity::from_keystone(&t, &roles).is_none());
        t.roles = vec!["ResellerAdmin".into()];
        assert!(Identity::from_keystone(&t, &roles)
            .unwrap()
            .owns("AUTH_any"));
    }

    #[test]
    fn tokens_expire() {
        let a = auth(Duration::from_millis(1));
        let (token, _, _) = a.login("test:tester", "testing").unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(a.identify(&token).is_none());
    }
}
