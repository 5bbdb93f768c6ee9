//! Container ACLs as Swift's tempauth reads them: `X-Container-Read` and
//! `X-Container-Write` hold comma-separated entries, each an
//! `account:user`, an `account` (any of its users), `*:user`, or for reads
//! a referrer rule `.r:*` (anyone, even without a token) with
//! `.rlistings` also allowing container listings.

/// Who asks, as ACL entries may name it: (`account` without its prefix,
/// user) pairs — for Keystone users both (project id, user id) and
/// (project name, user name). Empty: no token.
pub type Who<'a> = &'a [(String, String)];

fn entries(acl: &str) -> impl Iterator<Item = &str> {
    acl.split(',').map(str::trim).filter(|e| !e.is_empty())
}

fn names(acl: &str, who: Who<'_>) -> bool {
    who.iter().any(|(account, user)| {
        entries(acl).any(|e| match e.split_once(':') {
            Some((a, u)) => (a == account || a == "*") && (u == user || u == "*"),
            None => e == account || e == "*",
        })
    })
}

/// May `who` (empty: no token) read objects under this read ACL?
pub fn may_read(acl: Option<&str>, who: Who<'_>) -> bool {
    let Some(acl) = acl else { return false };
    entries(acl).any(|e| e == ".r:*") || names(acl, who)
}

/// May `who` list the container under this read ACL?
pub fn may_list(acl: Option<&str>, who: Who<'_>) -> bool {
    let Some(acl) = acl else { return false };
    (entries(acl).any(|e| e == ".r:*") && entries(acl).any(|e| e == ".rlistings"))
        || names(acl, who)
}

/// May `who` write (PUT, POST, DELETE objects) under this write ACL?
pub fn may_write(acl: Option<&str>, who: Who<'_>) -> bool {
    acl.is_some_and(|acl| names(acl, who))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tempauth_semantics() {
        let bob = &[("other".to_string(), "bob".to_string())][..];
        let none: Who<'_> = &[];
        assert!(may_read(Some(".r:*"), none));
        assert!(!may_list(Some(".r:*"), none));
        assert!(may_list(Some(".r:*,.rlistings"), none));
        assert!(may_read(Some("other:bob"), bob) && may_list(Some("other:bob"), bob));
        assert!(may_read(Some("other"), bob));
        assert!(may_read(Some("*:bob"), bob));
        assert!(!may_read(Some("other:alice"), bob));
        assert!(!may_read(Some("other:bob"), none));
        assert!(may_read(Some("*:*"), bob));
        assert!(may_read(Some("other:*"), bob));
        assert!(!may_read(None, bob));
        assert!(may_write(Some("other:bob, test"), bob));
        assert!(!may_write(Some(".r:*"), none));
        assert!(!may_write(Some(".r:*"), bob));
    }
}
