//! Listing queries over a row range: prefix, delimiter, markers, reverse.

use rocksdb::{ColumnFamily, Direction, IteratorMode, DB};

use super::{decode, Row};
use crate::engine::StoreError;

pub const MAX_LIMIT: usize = 10_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    pub limit: usize,
    pub marker: String,
    pub end_marker: String,
    pub prefix: String,
    pub delimiter: Option<String>,
    pub reverse: bool,
    /// Swift's `path`: only names directly under it, no subdirectories.
    pub path_only: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ListItem<R> {
    Row(String, R),
    Subdir(String),
}

/// The first key after every key starting with `k` (UTF-8 never holds 0xff,
/// so incrementing the last byte that is not 0xff is enough).
fn after_prefix(k: &[u8]) -> Vec<u8> {
    let mut v = k.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xff {
            v.push(last + 1);
            return v;
        }
    }
    vec![0xff; k.len() + 1]
}

pub fn list<R: Row>(
    db: &DB,
    cf: &ColumnFamily,
    base: &[u8],
    p: &ListParams,
) -> Result<Vec<ListItem<R>>, StoreError> {
    let key = |name: &str| {
        let mut k = base.to_vec();
        k.extend_from_slice(name.as_bytes());
        k
    };
    // The scan covers names in [lo, hi): the prefix range cut by the markers.
    let mut lo = key(&p.prefix);
    let mut hi = after_prefix(&key(&p.prefix));
    let (lower_marker, upper_marker) = if p.reverse {
        (&p.end_marker, &p.marker)
    } else {
        (&p.marker, &p.end_marker)
    };
    if !lower_marker.is_empty() {
        // Exclusive: the first key after the marker itself.
        let mut m = key(lower_marker);
        m.push(0);
        lo = lo.max(m);
    }
    if !upper_marker.is_empty() {
        hi = hi.min(key(upper_marker));
    }
    let mut out = Vec::new();
    if lo >= hi {
        return Ok(out);
    }
    let mode = if p.reverse {
        IteratorMode::From(&hi, Direction::Reverse)
    } else {
        IteratorMode::From(&lo, Direction::Forward)
    };
    let mut it = db.raw_iterator_cf(cf);
    match mode {
        IteratorMode::From(k, Direction::Forward) => it.seek(k),
        IteratorMode::From(k, Direction::Reverse) => {
            it.seek_for_prev(k);
            if it.key() == Some(k) {
                it.prev();
            }
        }
        _ => {}
    }
    while out.len() < p.limit {
        let Some(k) = it.key() else { break };
        if k < lo.as_slice() || k >= hi.as_slice() {
            break;
        }
        let name = std::str::from_utf8(&k[base.len()..])
            .map_err(|_| StoreError::Corrupt("row name"))?
            .to_string();
        if let Some(d) = p.delimiter.as_deref().filter(|d| !d.is_empty()) {
            if let Some(i) = name[p.prefix.len()..].find(d) {
                let subdir = name[..p.prefix.len() + i + d.len()].to_string();
                let sk = key(&subdir);
                if p.reverse {
                    it.seek_for_prev(&sk);
                    if it.key() == Some(sk.as_slice()) {
                        it.prev();
                    }
                } else {
                    it.seek(after_prefix(&sk));
                }
                // A client paging with the last subdir as marker must not
                // get it again (Swift skips it the same way).
                if !p.path_only && (p.reverse || subdir != p.marker) {
                    out.push(ListItem::Subdir(subdir));
                }
                continue;
            }
        }
        let row: R = decode(it.value().unwrap_or_default())?;
        if !row.deleted() {
            out.push(ListItem::Row(name, row));
        }
        if p.reverse {
            it.prev();
        } else {
            it.next();
        }
    }
    it.status()?;
    Ok(out)
}
