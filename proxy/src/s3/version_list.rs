//! ListObjectVersions: the current versions (the bucket's objects) merged
//! with the archived ones (`<bucket>+versions`), by key and then newest
//! first, with prefix, delimiter, key and version-id markers.

use std::sync::Arc;

use http::{HeaderMap, Method, StatusCode};

use super::errors::{xml_escape, S3Error};
use super::versioning::{
    check_version_id, find, rows, state, version_of, versions_container, Archived, Found, Row, SEP,
};
use super::{bucket, locate, Caller, Response};
use crate::server::Proxy;

/// One line of a ListObjectVersions answer.
struct Entry {
    key: String,
    version: String,
    latest: bool,
    delete_marker: bool,
    row: Row,
}

/// A paged walk over one container's listing.
struct Walk {
    container: String,
    prefix: String,
    marker: String,
    buf: std::collections::VecDeque<Row>,
    done: bool,
}

impl Walk {
    fn new(container: String, prefix: &str, marker: String) -> Walk {
        Walk {
            container,
            prefix: prefix.to_string(),
            marker,
            buf: Default::default(),
            done: false,
        }
    }

    async fn peek(&mut self, proxy: &Proxy, c: &Caller) -> Result<Option<&Row>, S3Error> {
        if self.buf.is_empty() && !self.done {
            let page = rows(proxy, c, &self.container, &self.prefix, &self.marker, 1000).await?;
            self.done = page.len() < 1000;
            if let Some(last) = page.last() {
                self.marker = last.name.clone();
            }
            self.buf.extend(page);
        }
        Ok(self.buf.front())
    }

    /// Skips to names after `marker`.
    fn seek(&mut self, marker: String) {
        self.buf.retain(|r| r.name > marker);
        if self.buf.is_empty() && self.marker < marker {
            self.marker = marker;
        }
    }
}

/// ListObjectVersions: current versions (from the bucket) merged with the
/// archived ones, by key and then newest first.
pub async fn list(
    proxy: &Arc<Proxy>,
    c: &Caller,
    bucket: &str,
    query: &[(String, String)],
) -> Result<Response, S3Error> {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let prefix = q("prefix").unwrap_or("");
    let delimiter = q("delimiter").unwrap_or("");
    let key_marker = q("key-marker").unwrap_or("");
    let version_marker = q("version-id-marker").unwrap_or("");
    let (max_keys, url) = bucket::paging(query)?;
    state(proxy, c, bucket).await?;
    if !version_marker.is_empty() {
        check_version_id(version_marker)?;
    }
    // Where each walk resumes: after the key-marker's current version,
    // and among its archived ones after the version-id-marker.
    let archived_marker = if key_marker.is_empty() {
        String::new()
    } else if version_marker.is_empty() {
        format!("{key_marker}\u{2}")
    } else {
        match find(proxy, c, bucket, key_marker, version_marker).await? {
            Found::Archived(name, _) => name,
            _ => format!("{key_marker}{SEP}"),
        }
    };
    let mut current = Walk::new(bucket.to_string(), prefix, key_marker.to_string());
    let mut archived = Walk::new(versions_container(bucket), prefix, archived_marker);
    let mut entries: Vec<Entry> = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    // The key whose latest version has been shown (resuming mid-key too).
    let mut latest_shown = (!version_marker.is_empty()).then(|| key_marker.to_string());
    let mut truncated = false;
    loop {
        let cur = current.peek(proxy, c).await?.cloned();
        let arc = loop {
            let next = archived.peek(proxy, c).await?;
            match next.map(|r| (r.clone(), Archived::parse(&r.name))) {
                None => break None,
                Some((r, Some(a))) => break Some((r, a)),
                // Not an entry of ours: skipped.
                Some((_, None)) => {
                    archived.buf.pop_front();
                }
            }
        };
        let from_current = match (&cur, &arc) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(r), Some((_, a))) => r.name <= a.key,
        };
        let key = if from_current {
            cur.as_ref().map(|r| r.name.clone())
        } else {
            arc.as_ref().map(|(_, a)| a.key.clone())
        }
        .unwrap_or_default();
        if entries.len() + prefixes.len() >= max_keys {
            truncated = true;
            break;
        }
        if let Some(cp) = common_prefix(&key, prefix, delimiter) {
            let past = format!("{cp}\u{10FFFF}");
            current.seek(past.clone());
            archived.seek(past);
            prefixes.push(cp);
            continue;
        }
        if from_current {
            let Some(row) = current.buf.pop_front() else {
                break;
            };
            let (placement, path) = locate(proxy, c, bucket, &row.name);
            let head = HeaderMap::new();
            let version =
                match crate::object::fetch(proxy, &placement, &path, &head, Method::HEAD).await {
                    Ok(r) if r.status().is_success() => version_of(r.headers()),
                    _ => continue, // gone since the listing
                };
            latest_shown = Some(key.clone());
            entries.push(Entry {
                key,
                version,
                latest: true,
                delete_marker: false,
                row,
            });
        } else {
            let (Some(row), Some((_, a))) = (archived.buf.pop_front(), arc) else {
                break;
            };
            // A copy left by an overwrite that failed is the current one.
            if entries
                .last()
                .is_some_and(|e| e.key == a.key && e.latest && e.version == a.version)
            {
                continue;
            }
            let latest = latest_shown.as_deref() != Some(a.key.as_str());
            latest_shown = Some(a.key.clone());
            entries.push(Entry {
                key: a.key,
                version: a.version,
                latest,
                delete_marker: a.delete_marker,
                row,
            });
        }
    }
    Ok(bucket::xml(
        StatusCode::OK,
        render(
            c, bucket, query, &entries, &prefixes, truncated, max_keys, url,
        ),
    ))
}

fn common_prefix(key: &str, prefix: &str, delimiter: &str) -> Option<String> {
    if delimiter.is_empty() {
        return None;
    }
    let rest = key.strip_prefix(prefix)?;
    let at = rest.find(delimiter)?;
    Some(format!("{prefix}{}", &rest[..at + delimiter.len()]))
}

#[allow(clippy::too_many_arguments)]
fn render(
    c: &Caller,
    bucket: &str,
    query: &[(String, String)],
    entries: &[Entry],
    prefixes: &[String],
    truncated: bool,
    max_keys: usize,
    url: bool,
) -> String {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let shown = |s: &str| {
        xml_escape(&if url {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        } else {
            s.to_string()
        })
    };
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListVersionsResult xmlns=\"{}\">\
         <Name>{}</Name><Prefix>{}</Prefix><KeyMarker>{}</KeyMarker>\
         <VersionIdMarker>{}</VersionIdMarker><MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
        bucket::XMLNS,
        xml_escape(bucket),
        shown(q("prefix").unwrap_or("")),
        shown(q("key-marker").unwrap_or("")),
        xml_escape(q("version-id-marker").unwrap_or("")),
    );
    if let Some(d) = q("delimiter").filter(|d| !d.is_empty()) {
        out.push_str(&format!("<Delimiter>{}</Delimiter>", shown(d)));
    }
    if url {
        out.push_str("<EncodingType>url</EncodingType>");
    }
    if truncated {
        let last_entry = entries.last().map(|e| (e.key.as_str(), e.version.as_str()));
        let last_prefix = prefixes.last().map(|p| (p.as_str(), ""));
        if let Some((k, v)) = std::cmp::max(last_entry, last_prefix) {
            out.push_str(&format!("<NextKeyMarker>{}</NextKeyMarker>", shown(k)));
            if !v.is_empty() {
                out.push_str(&format!(
                    "<NextVersionIdMarker>{}</NextVersionIdMarker>",
                    xml_escape(v)
                ));
            }
        }
    }
    let owner = format!(
        "<Owner><ID>{0}</ID><DisplayName>{0}</DisplayName></Owner>",
        xml_escape(&c.project_id)
    );
    for e in entries {
        let common = format!(
            "<Key>{}</Key><VersionId>{}</VersionId><IsLatest>{}</IsLatest><LastModified>{}</LastModified>",
            shown(&e.key),
            xml_escape(&e.version),
            e.latest,
            bucket::s3_time(&e.row.last_modified)
        );
        if e.delete_marker {
            out.push_str(&format!("<DeleteMarker>{common}{owner}</DeleteMarker>"));
        } else {
            out.push_str(&format!(
                "<Version>{common}<ETag>&quot;{}&quot;</ETag><Size>{}</Size>\
                 <StorageClass>STANDARD</StorageClass>{owner}</Version>",
                xml_escape(&e.row.hash),
                e.row.bytes
            ));
        }
    }
    for p in prefixes {
        out.push_str(&format!(
            "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
            shown(p)
        ));
    }
    out.push_str("</ListVersionsResult>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefixes_cut_at_the_delimiter() {
        assert_eq!(common_prefix("a/b/c", "a/", "/").as_deref(), Some("a/b/"));
        assert_eq!(common_prefix("a/b", "a/", "/"), None);
        assert_eq!(common_prefix("a/b", "a/", ""), None);
        assert_eq!(common_prefix("x/b", "a/", "/"), None);
    }
}
