//! What a caller may do beyond the one path it asked for: a large object
//! reads segments from other containers, and a manifest delete removes
//! them, each of which the caller must be allowed, as Swift authorizes
//! every subrequest on its own.

use crate::server::Proxy;

#[derive(Debug, Clone, Default)]
pub struct Access {
    /// May read every container of the account (owners, readers, TempURLs).
    read_all: bool,
    /// May write every container of the account (owners).
    write_all: bool,
    /// Otherwise, who container ACLs must name.
    who: Vec<(String, String)>,
    /// A container readable whatever its ACLs say (an S3 bucket's parts,
    /// once the bucket let the caller in).
    also: Option<String>,
}

impl Access {
    /// The account's owner (or a reseller admin, or a TempURL).
    pub fn owner() -> Access {
        Access {
            read_all: true,
            write_all: true,
            ..Default::default()
        }
    }

    /// One who reads the whole account but writes through ACLs only.
    pub fn reader(who: Vec<(String, String)>) -> Access {
        Access {
            read_all: true,
            who,
            ..Default::default()
        }
    }

    /// One whom only container ACLs let in (empty: anonymous).
    pub fn acl(who: Vec<(String, String)>) -> Access {
        Access {
            who,
            ..Default::default()
        }
    }

    /// The same, also reading `container`.
    pub fn also_reading(self, container: String) -> Access {
        Access {
            also: Some(container),
            ..self
        }
    }

    pub async fn may_read(&self, proxy: &Proxy, account: &str, container: &str) -> bool {
        self.read_all
            || self.also.as_deref() == Some(container)
            || crate::db::container_info(proxy, account, container)
                .await
                .is_some_and(|i| crate::acl::may_read(i.read_acl.as_deref(), &self.who))
    }

    pub async fn may_write(&self, proxy: &Proxy, account: &str, container: &str) -> bool {
        self.write_all
            || crate::db::container_info(proxy, account, container)
                .await
                .is_some_and(|i| crate::acl::may_write(i.write_acl.as_deref(), &self.who))
    }
}
