//! Canned ACLs on buckets and objects. A bucket's ACL is its container's
//! Swift read ACL (public-read is `.r:*,.rlistings`, authenticated-read
//! is `*:*`), so the Swift API and the S3 API agree on who may read; an
//! object's is kept in its transient sysmeta. Anonymous requests get what
//! these allow and nothing else.

use http::HeaderMap;

use super::errors::{xml_escape, S3Error};
use super::xml;

/// Object sysmeta holding an object's canned ACL (absent: private).
pub const OBJECT_SYSMETA: &str = "x-object-transient-sysmeta-s3-acl";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canned {
    Private,
    PublicRead,
    AuthenticatedRead,
}

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

fn not_implemented(what: &str) -> S3Error {
    S3Error::new(
        "NotImplemented",
        format!("{what} is not implemented; use a canned ACL (private, public-read, authenticated-read)."),
    )
}

impl Canned {
    pub fn parse(name: &str) -> Result<Canned, S3Error> {
        match name {
            // The bucket's owner is the object's owner: nothing to add.
            "private" | "bucket-owner-read" | "bucket-owner-full-control" => Ok(Canned::Private),
            "public-read" => Ok(Canned::PublicRead),
            "authenticated-read" => Ok(Canned::AuthenticatedRead),
            "public-read-write" | "aws-exec-read" | "log-delivery-write" => {
                Err(not_implemented(&format!("The canned ACL {name}")))
            }
            _ => Err(S3Error::new("InvalidArgument", "Invalid canned ACL.")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Canned::Private => "private",
            Canned::PublicRead => "public-read",
            Canned::AuthenticatedRead => "authenticated-read",
        }
    }

    /// The container read ACL that grants the same.
    pub fn swift_read(self) -> &'static str {
        match self {
            Canned::Private => "",
            Canned::PublicRead => ".r:*,.rlistings",
            Canned::AuthenticatedRead => "*:*",
        }
    }

    /// The bucket ACL a container read ACL amounts to.
    pub fn from_swift_read(acl: Option<&str>) -> Canned {
        if crate::acl::may_read(acl, &[]) {
            Canned::PublicRead
        } else if crate::acl::may_read(acl, &[("*".into(), "*".into())]) {
            Canned::AuthenticatedRead
        } else {
            Canned::Private
        }
    }

    /// The canned ACL of an object's headers.
    pub fn of_object(h: &HeaderMap) -> Canned {
        h.get(OBJECT_SYSMETA)
            .and_then(|v| Canned::parse(v.to_str().ok()?).ok())
            .unwrap_or(Canned::Private)
    }

    /// `x-amz-acl` of a request; grants by header are not served.
    pub fn from_headers(h: &HeaderMap) -> Result<Option<Canned>, S3Error> {
        if h.keys().any(|k| k.as_str().starts_with("x-amz-grant-")) {
            return Err(not_implemented("Granting by x-amz-grant-* headers"));
        }
        h.get("x-amz-acl")
            .map(|v| Canned::parse(v.to_str().unwrap_or_default()))
            .transpose()
    }

    /// An `AccessControlPolicy` body, when it amounts to a canned ACL.
    pub fn from_policy(body: &[u8], owner: &str) -> Result<Canned, S3Error> {
        let inside = xml::root(body, "AccessControlPolicy")?;
        let list = xml::root(inside.as_bytes(), "AccessControlList")?;
        let mut canned = Canned::Private;
        for grant in xml::elements(list, "Grant", 100)? {
            let permission = xml::text(grant, "Permission").ok_or_else(xml::malformed)?;
            match (xml::text(grant, "URI"), permission.as_str()) {
                (Some(uri), "READ") if uri == ALL_USERS => canned = Canned::PublicRead,
                (Some(uri), "READ") if uri == AUTHENTICATED_USERS => {
                    if canned == Canned::Private {
                        canned = Canned::AuthenticatedRead;
                    }
                }
                (None, "FULL_CONTROL") if xml::text(grant, "ID").as_deref() == Some(owner) => {}
                _ => return Err(not_implemented("This grant")),
            }
        }
        Ok(canned)
    }

    /// The `AccessControlPolicy` S3 answers for this ACL.
    pub fn policy(self, owner: &str) -> String {
        let owner = xml_escape(owner);
        let group = |uri: &str| {
            format!(
                "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
                 xsi:type=\"Group\"><URI>{uri}</URI></Grantee><Permission>READ</Permission></Grant>"
            )
        };
        let extra = match self {
            Canned::Private => String::new(),
            Canned::PublicRead => group(ALL_USERS),
            Canned::AuthenticatedRead => group(AUTHENTICATED_USERS),
        };
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AccessControlPolicy xmlns=\"{}\">\
             <Owner><ID>{owner}</ID><DisplayName>{owner}</DisplayName></Owner><AccessControlList>\
             <Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xsi:type=\"CanonicalUser\"><ID>{owner}</ID><DisplayName>{owner}</DisplayName></Grantee>\
             <Permission>FULL_CONTROL</Permission></Grant>{extra}</AccessControlList></AccessControlPolicy>",
            super::bucket::XMLNS
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn canned_acls_round_trip_through_swift_and_xml() {
        for c in [
            Canned::Private,
            Canned::PublicRead,
            Canned::AuthenticatedRead,
        ] {
            assert_eq!(Canned::parse(c.name()).unwrap(), c);
            let read = Some(c.swift_read()).filter(|r| !r.is_empty());
            assert_eq!(Canned::from_swift_read(read), c);
            assert_eq!(
                Canned::from_policy(c.policy("p1").as_bytes(), "p1").unwrap(),
                c
            );
        }
        assert_eq!(
            Canned::parse("public-read-write").unwrap_err().code,
            "NotImplemented"
        );
        assert_eq!(Canned::parse("nope").unwrap_err().code, "InvalidArgument");
        // A grant to someone else is not something we can represent.
        let other = Canned::Private.policy("p2");
        assert_eq!(
            Canned::from_policy(other.as_bytes(), "p1")
                .unwrap_err()
                .code,
            "NotImplemented"
        );
        assert_eq!(
            Canned::from_policy(b"<nope/>", "p1").unwrap_err().code,
            "MalformedXML"
        );
        let mut h = HeaderMap::new();
        h.insert("x-amz-grant-read", HeaderValue::from_static("id=x"));
        assert!(Canned::from_headers(&h).is_err());
    }
}
