//! Replicating listing databases row by row.
//!
//! Every row change takes the next sequence number of its container (or
//! account) and is findable by it (`S` keys), so a replica can send another
//! only the rows changed since the point that one has merged from it.
//! Receivers keep those points per sending device (`Info::sync_points`):
//! a replaced disk starts with none and is sent everything, as Swift's
//! incoming sync points do.

use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};

use super::{decode, encode, info_key, row_prefix, seq_key, Info, MetaMap, Row, Stored, Table};
use crate::engine::StoreError;
use crate::timestamp::Timestamp;

/// The state of a container or account that replicas merge (totals are
/// not sent: each replica counts its own rows).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SharedInfo {
    pub put_ts: Timestamp,
    pub delete_ts: Timestamp,
    pub created_ts: Timestamp,
    pub meta: MetaMap,
    #[serde(default)]
    pub report_to: Vec<(String, String, String)>,
}

impl SharedInfo {
    pub fn of(info: &Info) -> SharedInfo {
        SharedInfo {
            put_ts: info.put_ts,
            delete_ts: info.delete_ts,
            created_ts: info.created_ts,
            meta: info.meta.clone(),
            report_to: info.report_to.clone(),
        }
    }

    /// Merges into `info`: newest put and delete, first creation,
    /// metadata per key by time.
    fn merge_into(&self, info: &mut Info) {
        info.put_ts = info.put_ts.max(self.put_ts);
        info.delete_ts = info.delete_ts.max(self.delete_ts);
        if info.created_ts == Timestamp::default() || self.created_ts < info.created_ts {
            info.created_ts = self.created_ts;
        }
        for (k, (name, value, ts)) in &self.meta {
            if info.meta.get(k).is_none_or(|(_, _, t)| t < ts) {
                info.meta
                    .insert(k.clone(), (name.clone(), value.clone(), *ts));
            }
        }
        if info.report_to.is_empty() {
            info.report_to = self.report_to.clone();
        }
    }
}

impl Table {
    /// Up to `limit` container (or account) paths after `after`.
    pub fn paths_after(&self, after: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let start = info_key(after);
        let iter = self
            .db
            .iterator_cf(self.cf()?, IteratorMode::From(&start, Direction::Forward));
        let mut out = Vec::new();
        for item in iter {
            let (k, _) = item?;
            if k.first() != Some(&b'I') {
                break;
            }
            if *k == *start {
                continue;
            }
            out.push(String::from_utf8_lossy(&k[1..]).into_owned());
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Up to `limit` rows of `path` changed after sequence `since`, oldest
    /// change first, with their sequence numbers.
    pub fn rows_since<R: Row>(
        &self,
        path: &str,
        since: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String, R)>, StoreError> {
        let cf = self.cf()?;
        let start = seq_key(path, since.saturating_add(1));
        let end = seq_key(path, u64::MAX);
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(cf, IteratorMode::From(&start, Direction::Forward))
        {
            let (k, name) = item?;
            if *k > *end || k.len() < 8 {
                break;
            }
            let seq = u64::from_be_bytes(k[k.len() - 8..].try_into().unwrap_or_default());
            let mut key = row_prefix(path);
            key.extend_from_slice(&name);
            if let Some(v) = self.db.get_pinned_cf(cf, &key)? {
                let stored: Stored<R> = decode(&v)?;
                let name = String::from_utf8_lossy(&name).into_owned();
                out.push((seq, name, stored.row));
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Merges another replica's state of `path` (creating it here if
    /// needed); returns the sequence up to which rows from `from` are here.
    pub fn sync_info(
        &self,
        path: &str,
        from: &str,
        shared: &SharedInfo,
    ) -> Result<u64, StoreError> {
        self.update_info(path, |cur| {
            let mut info = cur.unwrap_or(Info {
                v: 1,
                ..Info::default()
            });
            shared.merge_into(&mut info);
            let point = info.sync_points.get(from).copied().unwrap_or(0);
            Ok((Some(info), point))
        })
    }

    /// Merges rows sent by device `from` up to its sequence `upto`.
    /// Returns false when `path` is unknown here (sync its info first).
    pub fn merge_rows<R: Row>(
        &self,
        path: &str,
        from: &str,
        rows: &[(String, R)],
        upto: u64,
    ) -> Result<bool, StoreError> {
        let _g = self.write.lock().map_err(|_| StoreError::Stopped)?;
        let Some(mut info) = self.info(path)? else {
            return Ok(false);
        };
        let mut b = WriteBatch::default();
        for (name, row) in rows {
            self.merge_row(&mut b, path, &mut info, name, row)?;
        }
        let point = info.sync_points.entry(from.to_string()).or_default();
        *point = (*point).max(upto);
        b.put_cf(self.cf()?, info_key(path), encode(&info));
        self.db.write(b)?;
        Ok(true)
    }

    /// Removes a container or account and all its rows (a handoff copy
    /// once the primaries have it) unless a row changed after sequence
    /// `seq`; returns whether it went.
    pub fn remove(&self, path: &str, seq: u64) -> Result<bool, StoreError> {
        let _g = self.write.lock().map_err(|_| StoreError::Stopped)?;
        if self.info(path)?.is_some_and(|i| i.seq != seq) {
            return Ok(false);
        }
        let cf = self.cf()?;
        let mut b = WriteBatch::default();
        for prefix in [
            row_prefix(path),
            seq_key(path, 0)[..path.len() + 2].to_vec(),
        ] {
            let mut end = prefix.clone();
            if let Some(last) = end.last_mut() {
                *last = 1; // the byte after the 0 that ends the path
            }
            b.delete_range_cf(cf, &prefix, &end);
        }
        b.delete_cf(cf, info_key(path));
        b.delete_cf(cf, super::change_key(path));
        self.db.write(b)?;
        Ok(true)
    }

    /// Recounts a container's or account's rows and corrects its totals if
    /// they disagree (the auditor's check). Returns whether they did.
    pub fn check_totals<R: Row>(&self, path: &str) -> Result<bool, StoreError> {
        let _g = self.write.lock().map_err(|_| StoreError::Stopped)?;
        let cf = self.cf()?;
        let Some(mut info) = self.info(path)? else {
            return Ok(false);
        };
        let prefix = row_prefix(path);
        let (mut c, mut o, mut n) = (0, 0, 0);
        for item in self
            .db
            .iterator_cf(cf, IteratorMode::From(&prefix, Direction::Forward))
        {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let stored: Stored<R> = decode(&v)?;
            let (dc, doo, dn) = stored.row.totals();
            (c, o, n) = (c + dc, o + doo, n + dn);
        }
        if (info.container_count, info.object_count, info.bytes_used) == (c, o, n) {
            return Ok(false);
        }
        tracing::warn!(path, old = ?(info.container_count, info.object_count, info.bytes_used),
            new = ?(c, o, n), "listing totals corrected");
        (info.container_count, info.object_count, info.bytes_used) = (c, o, n);
        let mut b = WriteBatch::default();
        b.put_cf(cf, info_key(path), encode(&info));
        if self.track_changes {
            b.put_cf(cf, super::change_key(path), Timestamp::now().to_bytes());
        }
        self.db.write(b)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::{ListParams, ObjectRow, CF_CONTAINERS};
    use std::sync::Arc;

    fn table() -> (tempfile::TempDir, Table) {
        let dir = tempfile::tempdir().unwrap();
        let mut o = rocksdb::Options::default();
        o.create_if_missing(true);
        o.create_missing_column_families(true);
        let db = rocksdb::DB::open_cf(&o, dir.path(), [CF_CONTAINERS]).unwrap();
        (dir, Table::new(Arc::new(db), CF_CONTAINERS))
    }

    fn row(ts: u64, size: u64, deleted: bool) -> ObjectRow {
        ObjectRow {
            ts: Timestamp {
                ticks: ts,
                offset: 0,
            },
            size,
            content_type: "text/plain".into(),
            etag: "e".into(),
            deleted,
        }
    }

    #[test]
    fn rows_travel_by_sequence_and_points_stop_resends() {
        let (_d1, a) = table();
        let (_d2, b) = table();
        let create = Some(Timestamp {
            ticks: 1,
            offset: 0,
        });
        a.put_row("/A/c", "x", &row(10, 5, false), create).unwrap();
        a.put_row("/A/c", "y", &row(11, 7, false), None).unwrap();
        a.put_row("/A/c", "x", &row(12, 9, false), None).unwrap();
        // x changed twice: it is listed once, at its newest sequence.
        let rows = a.rows_since::<ObjectRow>("/A/c", 0, 100).unwrap();
        let names: Vec<(u64, &str)> = rows.iter().map(|(s, n, _)| (*s, n.as_str())).collect();
        assert_eq!(names, vec![(2, "y"), (3, "x")]);

        let info = a.info("/A/c").unwrap().unwrap();
        assert_eq!(
            b.sync_info("/A/c", "devA", &SharedInfo::of(&info)).unwrap(),
            0
        );
        let sent: Vec<(String, ObjectRow)> = rows.into_iter().map(|(_, n, r)| (n, r)).collect();
        assert!(b.merge_rows("/A/c", "devA", &sent, 3).unwrap());
        assert_eq!(
            b.sync_info("/A/c", "devA", &SharedInfo::of(&info)).unwrap(),
            3
        );
        let got = b.info("/A/c").unwrap().unwrap();
        assert_eq!((got.object_count, got.bytes_used), (2, 16));
        let listed = b
            .list::<ObjectRow>(
                "/A/c",
                &ListParams {
                    limit: 10,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(listed.len(), 2);

        // Merging an older row changes nothing and takes no sequence.
        assert!(b
            .merge_rows("/A/c", "devC", &[("x".into(), row(5, 1, false))], 1)
            .unwrap());
        assert_eq!(b.info("/A/c").unwrap().unwrap().seq, 2);
        // A deletion travels as a row.
        a.put_row("/A/c", "y", &row(20, 0, true), None).unwrap();
        let more = a.rows_since::<ObjectRow>("/A/c", 3, 100).unwrap();
        assert_eq!(more.len(), 1);
        let sent: Vec<(String, ObjectRow)> = more.into_iter().map(|(_, n, r)| (n, r)).collect();
        b.merge_rows("/A/c", "devA", &sent, 4).unwrap();
        let got = b.info("/A/c").unwrap().unwrap();
        assert_eq!((got.object_count, got.bytes_used), (1, 9));
    }

    #[test]
    fn remove_and_recount() {
        let (_d, t) = table();
        let create = Some(Timestamp {
            ticks: 1,
            offset: 0,
        });
        t.put_row("/A/c", "x", &row(10, 5, false), create).unwrap();
        t.put_row("/A/c2", "x", &row(10, 5, false), create).unwrap();
        assert!(!t.check_totals::<ObjectRow>("/A/c").unwrap());
        t.update_info("/A/c", |i| {
            let mut i = i.unwrap();
            i.object_count = 40;
            Ok((Some(i), ()))
        })
        .unwrap();
        assert!(t.check_totals::<ObjectRow>("/A/c").unwrap());
        assert_eq!(t.info("/A/c").unwrap().unwrap().object_count, 1);
        let seq = t.info("/A/c").unwrap().unwrap().seq;
        assert!(!t.remove("/A/c", seq - 1).unwrap(), "a newer row keeps it");
        assert!(t.remove("/A/c", seq).unwrap());
        assert!(t.info("/A/c").unwrap().is_none());
        assert!(t.rows_since::<ObjectRow>("/A/c", 0, 10).unwrap().is_empty());
        assert_eq!(t.paths_after("", 10).unwrap(), vec!["/A/c2".to_string()]);
        assert_eq!(t.rows_since::<ObjectRow>("/A/c2", 0, 10).unwrap().len(), 1);
    }
}
