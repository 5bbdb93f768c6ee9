//! Quotas, as Swift's container_quotas and account_quotas middleware:
//! `X-Container-Meta-Quota-Bytes` / `-Quota-Count` and
//! `X-Account-Meta-Quota-Bytes` (which only a reseller admin may set)
//! bound what object uploads may add; an upload over one is refused with
//! 413 "Upload exceeds quota.". A container or account with a quota is
//! looked at afresh for each upload, not from the cache, so a burst of
//! uploads cannot slip past it.

use http::{HeaderMap, StatusCode};

use crate::db::ContainerInfo;
use crate::errors::{explain, Response};
use crate::server::Proxy;

const CONTAINER_BYTES: &str = "x-container-meta-quota-bytes";
const CONTAINER_COUNT: &str = "x-container-meta-quota-count";
pub const ACCOUNT_BYTES: &str = "x-account-meta-quota-bytes";

fn exceeded() -> Response {
    explain(StatusCode::PAYLOAD_TOO_LARGE, "Upload exceeds quota.")
}

/// Quota values a container or account POST/PUT sets must be integers
/// (an empty value removes the quota).
pub fn check_settings(h: &HeaderMap) -> Result<(), Response> {
    for (name, what) in [
        (CONTAINER_BYTES, "Invalid bytes quota."),
        (CONTAINER_COUNT, "Invalid count quota."),
        (ACCOUNT_BYTES, "Invalid bytes quota."),
    ] {
        if let Some(v) = h.get(name) {
            let v = v.to_str().unwrap_or("x").trim();
            if !v.is_empty() && v.parse::<u64>().is_err() {
                return Err(explain(StatusCode::BAD_REQUEST, what));
            }
        }
    }
    Ok(())
}

/// Whether a request would change an account's quota.
pub fn sets_account_quota(h: &HeaderMap) -> bool {
    h.contains_key(ACCOUNT_BYTES) || h.contains_key("x-remove-account-meta-quota-bytes")
}

fn limit(meta: &std::collections::BTreeMap<String, String>, name: &str) -> Option<u64> {
    meta.get(name)?.trim().parse().ok()
}

/// May `length` more bytes (one more object) go into the container whose
/// (possibly cached) info is `info`?
pub async fn check_upload(
    proxy: &Proxy,
    account: &str,
    container: &str,
    info: &ContainerInfo,
    length: u64,
) -> Result<(), Response> {
    let bytes = limit(&info.meta, "quota-bytes");
    let count = limit(&info.meta, "quota-count");
    if bytes.is_some() || count.is_some() {
        let fresh = crate::db::fresh_container_info(proxy, account, container)
            .await
            .unwrap_or_else(|| info.clone());
        let bytes = limit(&fresh.meta, "quota-bytes");
        let count = limit(&fresh.meta, "quota-count");
        if bytes.is_some_and(|q| fresh.bytes_used.saturating_add(length) > q)
            || count.is_some_and(|q| fresh.object_count + 1 > q)
        {
            return Err(exceeded());
        }
    }
    let acct = crate::db::account_info(proxy, account).await;
    if limit(&acct.meta, "quota-bytes").is_some() {
        let fresh = crate::db::fresh_account_info(proxy, account).await;
        if limit(&fresh.meta, "quota-bytes")
            .is_some_and(|q| fresh.bytes_used.saturating_add(length) > q)
        {
            return Err(exceeded());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_must_be_integers() {
        let mut h = HeaderMap::new();
        h.insert(CONTAINER_BYTES, "1000".parse().unwrap());
        assert!(check_settings(&h).is_ok());
        h.insert(CONTAINER_COUNT, "".parse().unwrap());
        assert!(check_settings(&h).is_ok());
        h.insert(CONTAINER_COUNT, "ten".parse().unwrap());
        assert_eq!(check_settings(&h).unwrap_err().status(), 400);
        let mut a = HeaderMap::new();
        a.insert(ACCOUNT_BYTES, "-1".parse().unwrap());
        assert!(check_settings(&a).is_err());
        assert!(sets_account_quota(&a));
        assert!(!sets_account_quota(&h));
    }
}
