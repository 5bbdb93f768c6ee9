//! Swift's v1.0 auth (as tempauth does it): users from the config log in
//! with `X-Auth-User: account:user` and `X-Auth-Key`, get a token and
//! their storage URL. Keystone tokens will plug in at [`Auth::identify`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::User;

/// Accounts are named `AUTH_<account>` in paths and on the storage nodes.
pub const RESELLER_PREFIX: &str = "AUTH_";

/// Who a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The account the user belongs to, with its prefix (`AUTH_test`).
    pub account: String,
    pub user: String,
    pub roles: Vec<String>,
}

impl Identity {
    pub fn is_reseller_admin(&self) -> bool {
        self.roles.iter().any(|r| r == ".reseller_admin")
    }

    /// Whether this identity owns `account` (may do anything in it).
    pub fn owns(&self, account: &str) -> bool {
        self.is_reseller_admin()
            || (self.account == account && self.roles.iter().any(|r| r == ".admin"))
    }
}

#[derive(Debug)]
pub struct Auth {
    users: Vec<User>,
    ttl: Duration,
    tokens: Mutex<HashMap<String, (Identity, Instant)>>,
}

/// Compares secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

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
        let id = Identity {
            account: format!("{RESELLER_PREFIX}{account}"),
            user: user.into(),
            roles: u.roles.clone(),
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
    fn tokens_expire() {
        let a = auth(Duration::from_millis(1));
        let (token, _, _) = a.login("test:tester", "testing").unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(a.identify(&token).is_none());
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
