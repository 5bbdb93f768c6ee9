//! Object versioning, as Swift's versioned_writes middleware: a container
//! with `X-Versions-Location: <archive>` (stack mode) or
//! `X-History-Location: <archive>` (history mode) keeps each object it
//! overwrites in the archive container as `<name length, 3 hex
//! digits><name>/<its timestamp>`, copied as stored (a manifest as a
//! manifest). A DELETE in stack mode brings the newest archived version
//! back; in history mode it archives the object and leaves a delete
//! marker there instead.

use http::{HeaderMap, Method, StatusCode};

use crate::access::Access;
use crate::db::ContainerInfo;
use crate::errors::{empty, error, Response};
use crate::server::Proxy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Stack,
    History,
}

/// The container's versioning mode and archive, if it has one.
pub fn mode(info: &ContainerInfo) -> Option<(Mode, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    match (&info.versions_location, &info.history_location) {
        (Some(v), _) if !v.is_empty() => Some((Mode::Stack, decode(v))),
        (_, Some(h)) if !h.is_empty() => Some((Mode::History, decode(h))),
        _ => None,
    }
}

/// Where an object's versions are listed: `<len:03x><name>/`.
pub fn prefix(object: &str) -> String {
    format!("{:03x}{object}/", object.len())
}

/// A container write may name only one archive, and not itself.
pub fn check_settings(h: &HeaderMap) -> Result<(), Response> {
    let set = |n: &str| {
        h.get(n)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.is_empty())
    };
    if set("x-versions-location") && set("x-history-location") {
        return Err(crate::errors::explain(
            StatusCode::BAD_REQUEST,
            "Only one of X-Versions-Location or X-History-Location may be specified",
        ));
    }
    Ok(())
}

/// The archive must exist and the caller may write to it.
async fn usable(
    proxy: &Proxy,
    account: &str,
    archive: &str,
    access: &Access,
) -> Result<(), Response> {
    if crate::db::container_info(proxy, account, archive)
        .await
        .is_none()
    {
        return Err(error(StatusCode::PRECONDITION_FAILED));
    }
    if !access.may_write(proxy, account, archive).await {
        return Err(error(StatusCode::FORBIDDEN));
    }
    Ok(())
}

/// Copies the current object (if any) into the archive.
async fn archive_current(
    proxy: &Proxy,
    (account, container, object): (&str, &str, &str),
    archive: &str,
    access: &Access,
) -> Result<(), Response> {
    let Some(current) = crate::subrequest::stored(proxy, (account, container, object), Method::GET)
        .await
        .map_err(error)?
    else {
        return Ok(());
    };
    // Only something to keep needs the archive (there, and writable).
    usable(proxy, account, archive, access).await?;
    let ts = current
        .headers()
        .get("x-timestamp")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let name = format!("{}{ts}", prefix(object));
    let status =
        crate::subrequest::copy_stored(proxy, current, (account, archive, &name), false, |_| {})
            .await;
    // 409: that version is archived already.
    if status == StatusCode::CREATED || status == StatusCode::CONFLICT {
        Ok(())
    } else {
        Err(error(status))
    }
}

/// Before `object` is overwritten: its current version goes to the archive.
pub async fn before_overwrite(
    proxy: &Proxy,
    at: (&str, &str, &str),
    info: &ContainerInfo,
    access: &Access,
) -> Result<(), Response> {
    let Some((_, archive)) = mode(info) else {
        return Ok(());
    };
    archive_current(proxy, at, &archive, access).await
}

async fn remove(proxy: &Proxy, account: &str, container: &str, object: &str) -> StatusCode {
    crate::subrequest::delete_object(proxy, (account, container, object)).await
}

/// The newest archived version of `object`, if any.
async fn newest(
    proxy: &Proxy,
    account: &str,
    archive: &str,
    object: &str,
) -> Result<Option<String>, Response> {
    let enc = |s: &str| crate::backend::encode_path(s).replace('/', "%2F");
    let query = format!(
        "format=json&reverse=true&limit=1&prefix={}",
        enc(&prefix(object))
    );
    let body = match crate::db::read_listing(proxy, account, archive, &query).await {
        Ok(b) => b,
        Err(StatusCode::NOT_FOUND) => return Ok(None),
        Err(s) => return Err(error(s)),
    };
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
    Ok(rows
        .first()
        .and_then(|r| r["name"].as_str())
        .map(str::to_string))
}

/// A DELETE in a versioned container; None when the container is not.
pub async fn delete(
    proxy: &Proxy,
    at: (&str, &str, &str),
    info: &ContainerInfo,
    access: &Access,
) -> Option<Response> {
    let (mode, archive) = mode(info)?;
    let (account, container, object) = at;
    if let Err(r) = usable(proxy, account, &archive, access).await {
        return Some(r);
    }
    let done = |s: StatusCode| {
        if s.is_success() {
            empty(StatusCode::NO_CONTENT)
        } else {
            error(s)
        }
    };
    Some(match mode {
        Mode::History => {
            if let Err(r) = archive_current(proxy, at, &archive, access).await {
                return Some(r);
            }
            let marker = format!("{}{}", prefix(object), crate::object::now_timestamp());
            let s = crate::subrequest::put_delete_marker(proxy, (account, &archive, &marker)).await;
            if s != StatusCode::CREATED {
                return Some(error(s));
            }
            done(remove(proxy, account, container, object).await)
        }
        Mode::Stack => {
            let previous = match newest(proxy, account, &archive, object).await {
                Ok(p) => p,
                Err(r) => return Some(r),
            };
            let Some(previous) = previous else {
                return Some(done(remove(proxy, account, container, object).await));
            };
            // The newest archived version becomes the object again.
            match crate::subrequest::stored(proxy, (account, &archive, &previous), Method::GET)
                .await
            {
                Ok(Some(from)) => {
                    let s = crate::subrequest::copy_stored(proxy, from, at, true, |_| {}).await;
                    if s != StatusCode::CREATED {
                        return Some(error(s));
                    }
                    done(remove(proxy, account, &archive, &previous).await)
                }
                Ok(None) => done(remove(proxy, account, container, object).await),
                Err(s) => error(s),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_names() {
        let mut info = ContainerInfo::default();
        assert_eq!(mode(&info), None);
        info.versions_location = Some("arch%20ive".into());
        assert_eq!(mode(&info), Some((Mode::Stack, "arch ive".into())));
        info.versions_location = None;
        info.history_location = Some("hist".into());
        assert_eq!(mode(&info), Some((Mode::History, "hist".into())));
        assert_eq!(prefix("a/b"), "003a/b/");
        assert_eq!(prefix(&"x".repeat(300)), format!("12c{}/", "x".repeat(300)));
        let mut h = HeaderMap::new();
        h.insert("x-versions-location", "a".parse().unwrap());
        assert!(check_settings(&h).is_ok());
        h.insert("x-history-location", "b".parse().unwrap());
        assert!(check_settings(&h).is_err());
    }
}
