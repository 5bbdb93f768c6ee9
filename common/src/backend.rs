//! Names on the internal wire between proxies, storage nodes and
//! replicators (never accepted from clients: the proxy forwards only the
//! headers it knows).

/// `N`: the body ends in N bytes of footer, a space-padded JSON object
/// of sysmeta known only at the body's end and, with
/// [`ETAG_IN_FOOTER`], the body's digests. Version 1.
pub const FOOTER: &str = "x-backend-footer-v1";
/// The footer carries the body's MD5 ([`FOOTER_ETAG`]) and crc32c
/// ([`DATA_CRC32C`]) as the proxy computed them.
pub const ETAG_IN_FOOTER: &str = "x-backend-etag-in-footer";
/// Footer key of the body's MD5 (hex).
pub const FOOTER_ETAG: &str = "x-backend-etag";
/// The body's crc32c (8 hex digits): a header of a replicator's push, or
/// a footer key.
pub const DATA_CRC32C: &str = "x-backend-data-crc32c";
/// Marks a replicator's push: the entry as another node holds it.
pub const REPLICATION: &str = "x-backend-replication";
/// A pushed entry's metadata time.
pub const META_TIMESTAMP: &str = "x-backend-meta-timestamp";
