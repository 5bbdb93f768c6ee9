//! Who may do what: Keystone's default roles and rules in one table.
//!
//! Roles `admin` ⊃ `member` ⊃ `reader` (bootstrap makes admin imply member
//! and member imply reader; a token carries the implied roles too). An
//! admin may do everything; a system-scoped reader may read everything; a
//! domain-scoped reader may read its domain; users manage their own
//! credentials and application credentials and may check their own token.

use crate::token::Scope;

/// The caller, as its validated token describes it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub scope: Scope,
    /// Role names, implied roles included.
    pub roles: Vec<String>,
    /// A restricted application credential may not make credentials.
    pub restricted: bool,
}

/// What is asked, with the attributes the rules look at.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// Create, update or delete anything in the catalog, domains, projects,
    /// users, groups, roles and grants.
    Manage,
    /// Read a record that lives in `domain` (None: a global record).
    Read { domain: Option<&'a str> },
    /// Read a project (members of a project may read it).
    ReadProject { id: &'a str, domain: &'a str },
    /// Read a user (users may read themselves).
    ReadUser { id: &'a str, domain: &'a str },
    /// Anything on a user's own credentials, EC2 credentials and
    /// application credentials.
    OwnCredentials { owner: &'a str, create: bool },
    /// Regions and the caller's own catalog: any valid token.
    Authenticated,
    /// Validate or revoke `subject`'s token.
    Token { subject: &'a str },
}

impl Caller {
    fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn is_admin(&self) -> bool {
        self.has("admin")
    }

    fn system_reader(&self) -> bool {
        self.is_admin() || (self.has("reader") && self.scope == Scope::System)
    }

    fn domain_reader(&self, domain: &str) -> bool {
        self.system_reader()
            || (self.has("reader") && matches!(&self.scope, Scope::Domain(d) if d == domain))
    }

    pub fn may(&self, action: Action<'_>) -> bool {
        match action {
            Action::Manage => self.is_admin(),
            Action::Read { domain: None } => self.system_reader(),
            Action::Read { domain: Some(d) } => self.domain_reader(d),
            Action::ReadProject { id, domain } => {
                self.domain_reader(domain) || matches!(&self.scope, Scope::Project(p) if p == id)
            }
            Action::ReadUser { id, domain } => self.user_id == id || self.domain_reader(domain),
            Action::OwnCredentials { owner, create } => {
                (self.user_id == owner && !(create && self.restricted)) || self.is_admin()
            }
            Action::Authenticated => true,
            Action::Token { subject } => {
                self.user_id == subject || self.system_reader() || self.has("service")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[&str], scope: Scope) -> Caller {
        let mut roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        // As tokens carry them: admin ⊃ member ⊃ reader.
        if roles.iter().any(|r| r == "admin") {
            roles.push("member".into());
        }
        if roles.iter().any(|r| r == "member") {
            roles.push("reader".into());
        }
        Caller {
            user_id: "u1".into(),
            scope,
            roles,
            restricted: false,
        }
    }

    fn project(p: &str) -> Scope {
        Scope::Project(p.into())
    }

    #[test]
    fn admin_manages_everything() {
        let a = caller(&["admin"], project("p1"));
        assert!(a.may(Action::Manage));
        assert!(a.may(Action::Read { domain: None }));
        assert!(a.may(Action::ReadUser {
            id: "u2",
            domain: "d2"
        }));
        assert!(a.may(Action::OwnCredentials {
            owner: "u2",
            create: true
        }));
        assert!(a.may(Action::Token { subject: "u2" }));
    }

    #[test]
    fn member_and_reader_cannot_manage() {
        for c in [
            caller(&["member"], project("p1")),
            caller(&["reader"], project("p1")),
            caller(&["reader"], Scope::System),
            caller(&["member"], Scope::Domain("d1".into())),
        ] {
            assert!(!c.may(Action::Manage), "{c:?}");
        }
    }

    #[test]
    fn readers_read_within_their_scope() {
        let sys = caller(&["reader"], Scope::System);
        assert!(sys.may(Action::Read { domain: None }));
        assert!(sys.may(Action::Read { domain: Some("d9") }));
        let dom = caller(&["reader"], Scope::Domain("d1".into()));
        assert!(dom.may(Action::Read { domain: Some("d1") }));
        assert!(!dom.may(Action::Read { domain: Some("d2") }));
        assert!(!dom.may(Action::Read { domain: None }));
        let proj = caller(&["member"], project("p1"));
        assert!(!proj.may(Action::Read { domain: Some("d1") }));
        assert!(proj.may(Action::ReadProject {
            id: "p1",
            domain: "d1"
        }));
        assert!(!proj.may(Action::ReadProject {
            id: "p2",
            domain: "d1"
        }));
    }

    #[test]
    fn users_own_their_credentials_and_tokens() {
        let mut me = caller(&["member"], project("p1"));
        assert!(me.may(Action::ReadUser {
            id: "u1",
            domain: "d1"
        }));
        assert!(!me.may(Action::ReadUser {
            id: "u2",
            domain: "d1"
        }));
        assert!(me.may(Action::OwnCredentials {
            owner: "u1",
            create: true
        }));
        assert!(!me.may(Action::OwnCredentials {
            owner: "u2",
            create: false
        }));
        assert!(me.may(Action::Token { subject: "u1" }));
        assert!(!me.may(Action::Token { subject: "u2" }));
        me.restricted = true;
        assert!(!me.may(Action::OwnCredentials {
            owner: "u1",
            create: true
        }));
        assert!(me.may(Action::OwnCredentials {
            owner: "u1",
            create: false
        }));
        assert!(me.may(Action::Authenticated));
    }

    #[test]
    fn service_role_validates_tokens() {
        let svc = caller(&["service"], project("service"));
        assert!(svc.may(Action::Token { subject: "u2" }));
        assert!(!svc.may(Action::Manage));
    }
}
