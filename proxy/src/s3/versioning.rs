//! Bucket versioning, in the manner of Swift's history mode: a key's
//! current version is the Swift object of that name, exactly as without
//! versioning (Swift clients and the plain GET path see no difference and
//! pay nothing), while older versions and delete markers live in the
//! hidden container `<bucket>+versions` as `<key>\x01<inverted version
//! time><kind>`, so that a prefix listing yields a key's versions newest
//! first. Overwriting or deleting a current version first copies the
//! stored object there (a multipart manifest as a manifest, not its data).
//! Version ids are the version's time in Swift ticks (10 µs); objects
//! written while versioning was off or suspended are the "null" version.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use stratus_common::timestamp::Timestamp;

use super::errors::S3Error;
use super::{bucket, from_status, locate, Caller};
use crate::server::Proxy;

/// Container sysmeta name (after `x-container-sysmeta-`) of the state.
pub const SYSMETA: &str = "s3-versioning";
/// Object sysmeta holding a version's id (absent: the null version).
pub const VERSION_ID: &str = "x-object-sysmeta-s3-version-id";
pub(super) const SEP: char = '\u{1}';
const INVERT: u64 = 9_999_999_999_999_999;
const NULL: &str = "null";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Off,
    Enabled,
    Suspended,
}

pub fn versions_container(bucket: &str) -> String {
    format!("{bucket}+versions")
}

/// A bucket's versioning state; NoSuchBucket when there is no bucket.
pub async fn state(proxy: &Proxy, c: &Caller, bucket: &str) -> Result<State, S3Error> {
    let info = crate::db::container_info(proxy, &c.account, bucket)
        .await
        .ok_or_else(|| from_status(StatusCode::NOT_FOUND, "NoSuchBucket"))?;
    Ok(match info.sysmeta.get(SYSMETA).map(String::as_str) {
        Some("Enabled") => State::Enabled,
        Some("Suspended") => State::Suspended,
        _ => State::Off,
    })
}

/// The `VersioningConfiguration` answer.
pub fn config_xml(state: State) -> String {
    let status = match state {
        State::Off => String::new(),
        State::Enabled => "<Status>Enabled</Status>".into(),
        State::Suspended => "<Status>Suspended</Status>".into(),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VersioningConfiguration xmlns=\"{}\">{status}</VersioningConfiguration>",
        bucket::XMLNS
    )
}

/// A PutBucketVersioning body: the state it asks for.
pub fn parse_config(body: &[u8]) -> Result<State, S3Error> {
    let inside = super::xml::root(body, "VersioningConfiguration")?;
    if super::xml::text(inside, "MfaDelete").is_some_and(|m| m == "Enabled") {
        return Err(S3Error::new(
            "NotImplemented",
            "MFA Delete is not implemented.",
        ));
    }
    match super::xml::text(inside, "Status").as_deref() {
        Some("Enabled") => Ok(State::Enabled),
        Some("Suspended") => Ok(State::Suspended),
        _ => Err(super::xml::malformed()),
    }
}

/// One entry of the versions container, parsed from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archived {
    pub key: String,
    /// A tick count, or "null".
    pub version: String,
    pub delete_marker: bool,
}

fn inverted(ticks: u64) -> String {
    format!("{:016}", INVERT.saturating_sub(ticks))
}

impl Archived {
    fn name(key: &str, ticks: u64, null: bool, delete_marker: bool) -> String {
        let kind = match (delete_marker, null) {
            (false, false) => "",
            (false, true) => "n",
            (true, false) => "d",
            (true, true) => "dn",
        };
        format!("{key}{SEP}{}{kind}", inverted(ticks))
    }

    pub fn parse(name: &str) -> Option<Archived> {
        let (key, rest) = name.rsplit_once(SEP)?;
        let digits = rest.get(..16)?;
        let ticks = INVERT.checked_sub(digits.parse().ok()?)?;
        let (delete_marker, null) = match &rest[16..] {
            "" => (false, false),
            "n" => (false, true),
            "d" => (true, false),
            "dn" => (true, true),
            _ => return None,
        };
        Some(Archived {
            key: key.to_string(),
            version: if null {
                NULL.to_string()
            } else {
                ticks.to_string()
            },
            delete_marker,
        })
    }
}

/// The version id of a stored object's headers.
pub fn version_of(h: &HeaderMap) -> String {
    h.get(VERSION_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(NULL)
        .to_string()
}

fn ticks_of(h: &HeaderMap) -> u64 {
    h.get("x-timestamp")
        .and_then(|v| Timestamp::parse(v.to_str().ok()?))
        .map_or(0, |t| t.ticks)
}

/// A listing row of a container.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub bytes: u64,
    pub hash: String,
    pub last_modified: String,
}

/// Up to `limit` rows of `container` after `marker` under `prefix`.
pub(super) async fn rows(
    proxy: &Proxy,
    c: &Caller,
    container: &str,
    prefix: &str,
    marker: &str,
    limit: usize,
) -> Result<Vec<Row>, S3Error> {
    let enc = |s: &str| crate::backend::encode_path(s).replace('/', "%2F");
    let query = format!(
        "format=json&limit={limit}&prefix={}&marker={}",
        enc(prefix),
        enc(marker)
    );
    let body = match crate::db::read_listing(proxy, &c.account, container, &query).await {
        Ok(b) => b,
        Err(StatusCode::NOT_FOUND) => return Ok(Vec::new()),
        Err(s) => return Err(from_status(s, "NoSuchBucket")),
    };
    let values: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
    Ok(values
        .iter()
        .map(|r| Row {
            name: r["name"].as_str().unwrap_or_default().to_string(),
            bytes: r["bytes"].as_u64().unwrap_or(0),
            hash: r["hash"].as_str().unwrap_or_default().to_string(),
            last_modified: r["last_modified"].as_str().unwrap_or_default().to_string(),
        })
        .collect())
}

/// A key's archived entries, newest first.
async fn archived_of(
    proxy: &Proxy,
    c: &Caller,
    bucket: &str,
    key: &str,
) -> Result<Vec<(Row, Archived)>, S3Error> {
    let container = versions_container(bucket);
    let prefix = format!("{key}{SEP}");
    let mut out = Vec::new();
    let mut marker = String::new();
    loop {
        let page = rows(proxy, c, &container, &prefix, &marker, 1000).await?;
        let Some(last) = page.last() else {
            return Ok(out);
        };
        marker = last.name.clone();
        out.extend(page.into_iter().filter_map(|r| {
            let a = Archived::parse(&r.name).filter(|a| a.key == key)?;
            Some((r, a))
        }));
    }
}

/// The stored object (a manifest as itself), if there is one.
async fn stored(
    proxy: &Proxy,
    c: &Caller,
    container: &str,
    name: &str,
    method: Method,
) -> Result<Option<http::Response<hyper::body::Incoming>>, S3Error> {
    crate::subrequest::stored(proxy, (&c.account, container, name), method)
        .await
        .map_err(|s| from_status(s, "NoSuchKey"))
}

/// How a stored copy is dated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dated {
    /// As the original: an archived version keeps its time.
    AsOriginal,
    /// Now (a version made current again).
    Now,
}

/// Copies a stored object as it is (headers, body; a manifest stays a
/// manifest) to `to`, with `version` recorded. Ok(false): a newer object
/// or tombstone at `to` refused a copy dated as the original.
async fn copy_stored(
    proxy: &Proxy,
    c: &Caller,
    from: http::Response<hyper::body::Incoming>,
    to: (&str, &str),
    version: &str,
    dated: Dated,
) -> Result<bool, S3Error> {
    let status = crate::subrequest::copy_stored(
        proxy,
        from,
        (&c.account, to.0, to.1),
        dated == Dated::Now,
        |h| {
            h.remove(VERSION_ID);
            if version != NULL {
                if let Ok(v) = HeaderValue::from_str(version) {
                    h.insert(VERSION_ID, v);
                }
            }
        },
    )
    .await;
    match status {
        StatusCode::CREATED => Ok(true),
        StatusCode::CONFLICT if dated == Dated::AsOriginal => Ok(false),
        s => Err(from_status(s, "NoSuchKey")),
    }
}

/// Keeps the current object of `key` as the archived entry `name`.
async fn archive(
    proxy: &Proxy,
    c: &Caller,
    bucket: &str,
    key: &str,
    name: &str,
    version: &str,
) -> Result<(), S3Error> {
    let container = versions_container(bucket);
    let to = (container.as_str(), name);
    let Some(current) = stored(proxy, c, bucket, key, Method::GET).await? else {
        return Ok(());
    };
    if copy_stored(proxy, c, current, to, version, Dated::AsOriginal).await? {
        return Ok(());
    }
    // Refused: the same copy is there already (an earlier attempt), or
    // a tombstone of an entry once restored from is newer — copy anew.
    if stored(proxy, c, to.0, to.1, Method::HEAD).await?.is_some() {
        return Ok(());
    }
    if let Some(current) = stored(proxy, c, bucket, key, Method::GET).await? {
        copy_stored(proxy, c, current, to, version, Dated::Now).await?;
    }
    Ok(())
}

async fn remove(proxy: &Proxy, c: &Caller, container: &str, name: &str) -> StatusCode {
    crate::subrequest::delete_object(proxy, (&c.account, container, name)).await
}

/// Removes an archived entry (with the parts of a multipart version).
async fn remove_archived(proxy: &Arc<Proxy>, c: &Caller, bucket: &str, name: &str) {
    let container = versions_container(bucket);
    let manifest = super::multipart::manifest_of(proxy, c, &container, name).await;
    remove(proxy, c, &container, name).await;
    if let Some(m) = manifest {
        super::multipart::delete_parts_of(proxy, c, bucket, &m).await;
    }
}

/// Keeps the current version of `key` before it is overwritten or deleted
/// (in a suspended bucket the null version is replaced, not kept, and an
/// archived null version goes); answers the `x-amz-version-id` of the
/// write that follows (None when versioning is off) and the sysmeta it
/// must carry.
pub async fn before_write(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket: &str,
    key: &str,
    state: State,
) -> Result<Option<(String, Option<String>)>, S3Error> {
    if state == State::Off {
        return Ok(None);
    }
    if state == State::Suspended {
        for (row, a) in archived_of(proxy, c, bucket, key).await? {
            if a.version == NULL {
                remove_archived(proxy, c, bucket, &row.name).await;
            }
        }
    }
    if let Some(head) = stored(proxy, c, bucket, key, Method::HEAD).await? {
        let version = version_of(head.headers());
        if !(state == State::Suspended && version == NULL) {
            let ticks = match version.parse() {
                Ok(t) => t,
                Err(_) => ticks_of(head.headers()),
            };
            let name = Archived::name(key, ticks, version == NULL, false);
            archive(proxy, c, bucket, key, &name, &version).await?;
        }
    }
    Ok(Some(match state {
        State::Enabled => {
            let id = Timestamp::now().ticks.to_string();
            (id.clone(), Some(id))
        }
        _ => (NULL.to_string(), None),
    }))
}

/// What a versioned delete did, for the answer's headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    pub version_id: Option<String>,
    pub delete_marker: bool,
}

impl Deleted {
    pub fn headers(&self, h: &mut HeaderMap) {
        if let Some(v) = self
            .version_id
            .as_ref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            h.insert("x-amz-version-id", v);
        }
        if self.delete_marker {
            h.insert("x-amz-delete-marker", HeaderValue::from_static("true"));
        }
    }
}

/// DeleteObject without a version in a versioned bucket: the current
/// version is kept and a delete marker becomes the latest.
pub async fn delete_current(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket: &str,
    key: &str,
    state: State,
) -> Result<Deleted, S3Error> {
    let (version, _) = before_write(proxy, c, bucket, key, state)
        .await?
        .unwrap_or_default();
    let status = remove(proxy, c, bucket, key).await;
    if !(status.is_success() || status == StatusCode::NOT_FOUND) {
        return Err(from_status(status, "NoSuchKey"));
    }
    let null = version == NULL;
    let ticks = if null {
        Timestamp::now().ticks
    } else {
        version.parse().unwrap_or_else(|_| Timestamp::now().ticks)
    };
    let name = Archived::name(key, ticks, null, true);
    let container = versions_container(bucket);
    let status = crate::subrequest::put_delete_marker(proxy, (&c.account, &container, &name)).await;
    if status != StatusCode::CREATED {
        return Err(from_status(status, "NoSuchKey"));
    }
    Ok(Deleted {
        version_id: Some(version),
        delete_marker: true,
    })
}

/// Where a version is: the current object, an archived entry, or nowhere.
#[derive(Debug)]
pub enum Found {
    Current,
    Archived(String, Archived),
    Missing,
}

pub fn check_version_id(v: &str) -> Result<(), S3Error> {
    if v == NULL || (!v.is_empty() && v.len() <= 16 && v.bytes().all(|b| b.is_ascii_digit())) {
        Ok(())
    } else {
        Err(S3Error::new(
            "InvalidArgument",
            "Invalid version id specified",
        ))
    }
}

pub async fn find(
    proxy: &Proxy,
    c: &Caller,
    bucket: &str,
    key: &str,
    version: &str,
) -> Result<Found, S3Error> {
    check_version_id(version)?;
    let (placement, path) = locate(proxy, c, bucket, key);
    let head = HeaderMap::new();
    if let Ok(r) = crate::object::fetch(proxy, &placement, &path, &head, Method::HEAD).await {
        if r.status().is_success() && version_of(r.headers()) == version {
            return Ok(Found::Current);
        }
    }
    let hit = if version == NULL {
        archived_of(proxy, c, bucket, key)
            .await?
            .into_iter()
            .find(|(_, a)| a.version == NULL)
    } else {
        let ticks: u64 = version.parse().unwrap_or(0);
        let prefix = format!("{key}{SEP}{}", inverted(ticks));
        rows(proxy, c, &versions_container(bucket), &prefix, "", 4)
            .await?
            .into_iter()
            .filter_map(|r| Some((r.clone(), Archived::parse(&r.name)?)))
            .find(|(_, a)| a.key == key && a.version == version)
    };
    Ok(match hit {
        Some((row, a)) => Found::Archived(row.name, a),
        None => Found::Missing,
    })
}

/// When a key has no current object and its newest archived entry is a
/// version (not a delete marker), that version becomes current again.
async fn settle(proxy: &Arc<Proxy>, c: &Caller, bucket: &str, key: &str) -> Result<(), S3Error> {
    if stored(proxy, c, bucket, key, Method::HEAD).await?.is_some() {
        return Ok(());
    }
    let Some((row, a)) = archived_of(proxy, c, bucket, key).await?.into_iter().next() else {
        return Ok(());
    };
    if a.delete_marker {
        return Ok(());
    }
    let container = versions_container(bucket);
    if let Some(from) = stored(proxy, c, &container, &row.name, Method::GET).await? {
        copy_stored(proxy, c, from, (bucket, key), &a.version, Dated::Now).await?;
        // The restored copy owns the parts now: drop only the entry.
        remove(proxy, c, &container, &row.name).await;
    }
    Ok(())
}

/// DeleteObject with a version id: that version goes for good.
pub async fn delete_version(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket: &str,
    key: &str,
    version: &str,
) -> Result<Deleted, S3Error> {
    let deleted = match find(proxy, c, bucket, key, version).await? {
        Found::Current => {
            let manifest = super::multipart::manifest_of(proxy, c, bucket, key).await;
            let status = remove(proxy, c, bucket, key).await;
            if !(status.is_success() || status == StatusCode::NOT_FOUND) {
                return Err(from_status(status, "NoSuchKey"));
            }
            if let Some(m) = manifest {
                super::multipart::delete_parts_of(proxy, c, bucket, &m).await;
            }
            Deleted {
                version_id: Some(version.to_string()),
                delete_marker: false,
            }
        }
        Found::Archived(name, a) => {
            remove_archived(proxy, c, bucket, &name).await;
            Deleted {
                version_id: Some(version.to_string()),
                delete_marker: a.delete_marker,
            }
        }
        // Deleting a version that is not there succeeds, as in S3.
        Found::Missing => Deleted {
            version_id: Some(version.to_string()),
            delete_marker: false,
        },
    };
    settle(proxy, c, bucket, key).await?;
    Ok(deleted)
}

/// Whether a bucket still holds versions (it cannot be deleted then).
pub async fn has_versions(proxy: &Proxy, c: &Caller, bucket: &str) -> Result<bool, S3Error> {
    Ok(!rows(proxy, c, &versions_container(bucket), "", "", 1)
        .await?
        .is_empty())
}

/// PutBucketVersioning: the state, and the versions container it needs.
pub async fn set_state(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket: &str,
    state: State,
) -> Result<(), S3Error> {
    if state == State::Enabled {
        let r = crate::db::container(
            proxy,
            &c.account,
            &versions_container(bucket),
            &bucket::parts(Method::PUT, ""),
        )
        .await;
        if !r.status().is_success() {
            return Err(from_status(r.status(), "NoSuchBucket"));
        }
    }
    let value = if state == State::Enabled {
        "Enabled"
    } else {
        "Suspended"
    };
    let name = format!("x-container-sysmeta-{SYSMETA}");
    super::config::post_bucket(proxy, c, bucket, &[(&name, value)]).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn archived_names_sort_newest_first_and_parse_back() {
        let older = Archived::name("k", 100, false, false);
        let newer = Archived::name("k", 200, false, true);
        assert!(newer < older);
        assert_eq!(
            Archived::parse(&newer).unwrap(),
            Archived {
                key: "k".into(),
                version: "200".into(),
                delete_marker: true
            }
        );
        let null = Archived::parse(&Archived::name("a/b", 5, true, false)).unwrap();
        assert_eq!(null.version, "null");
        // Every version of "a" sorts before any key that extends "a".
        assert!(Archived::name("a", 1, false, false).as_str() < "a/b");
        assert!(Archived::parse("no separator").is_none());
        assert!(Archived::parse("k\u{1}123").is_none());
        assert!(check_version_id("12345").is_ok() && check_version_id("null").is_ok());
        assert!(check_version_id("x/../y").is_err());
    }

    #[test]
    fn configuration_bodies() {
        let on = b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
        assert_eq!(parse_config(on).unwrap(), State::Enabled);
        assert!(config_xml(State::Suspended).contains("<Status>Suspended</Status>"));
        assert!(!config_xml(State::Off).contains("Status"));
        assert_eq!(
            parse_config(b"<VersioningConfiguration><Status>On</Status></VersioningConfiguration>")
                .unwrap_err()
                .code,
            "MalformedXML"
        );
    }

    proptest! {
        #[test]
        fn names_round_trip(key in "[^\u{1}]{1,40}", ticks in 0u64..9_000_000_000_000_000, null: bool, marker: bool) {
            let a = Archived::parse(&Archived::name(&key, ticks, null, marker)).unwrap();
            prop_assert_eq!(a.key, key);
            prop_assert_eq!(a.delete_marker, marker);
            prop_assert_eq!(a.version, if null { "null".to_string() } else { ticks.to_string() });
        }

        #[test]
        fn garbage_names_never_panic(s in "\\PC{0,60}") {
            let _ = Archived::parse(&s);
        }
    }
}
