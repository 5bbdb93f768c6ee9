//! The replication protocol's messages, version 1 (JSON bodies of
//! `REPLICATE` requests between storage nodes).
//!
//! Objects, on the object server:
//! - `REPLICATE /<dev>` with [`DigestsRequest`]: which of these partitions
//!   differ here? → [`DigestsReply`]. One request per peer device covers
//!   every partition they share, so a pass with nothing to do costs a few
//!   bytes per partition.
//! - `REPLICATE /<dev>/<part>` → per-suffix hashes (a JSON object).
//! - `REPLICATE /<dev>/<part>/<suf>-<suf>…` → [`EntriesReply`]: the entries
//!   of those suffixes, for the sender to push what is missing or older.
//!
//! Listings, on the container and account servers:
//! - `REPLICATE /<dev>/<part>/<account>[/<container>]` with a
//!   [`DbMessage`] → [`DbReply`]: merge this state or these rows, and say
//!   up to which of the sender's row sequences this replica has.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::scan::Listed;
use crate::listing::sync::SharedInfo;
use crate::timestamp::Timestamp;

pub const VERSION: u8 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct DigestsRequest {
    pub v: u8,
    /// Partition → the sender's digest of it.
    pub parts: BTreeMap<u32, String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DigestsReply {
    pub v: u8,
    pub differ: Vec<u32>,
}

/// An entry as replicas compare them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EntryLine {
    pub path: String,
    pub data_ts: Timestamp,
    pub meta_ts: Timestamp,
    #[serde(default)]
    pub tombstone: bool,
}

impl From<&Listed> for EntryLine {
    fn from(l: &Listed) -> EntryLine {
        EntryLine {
            path: l.path.clone(),
            data_ts: l.entry.data_ts,
            meta_ts: l.entry.meta_ts,
            tombstone: l.entry.is_tombstone(),
        }
    }
}

impl EntryLine {
    /// Whether this replica's entry is at least as new as `other`'s.
    pub fn covers(&self, data_ts: Timestamp, meta_ts: Timestamp) -> bool {
        (self.data_ts, self.meta_ts) >= (data_ts, meta_ts)
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EntriesReply {
    pub v: u8,
    pub entries: Vec<EntryLine>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DbMessage<R> {
    /// The sender's state of the container or account; creates it here if
    /// missing.
    Sync {
        v: u8,
        from: String,
        info: SharedInfo,
    },
    /// Rows the sender changed up to its sequence `upto`.
    Rows {
        v: u8,
        from: String,
        upto: u64,
        rows: Vec<(String, R)>,
    },
}

impl<R> DbMessage<R> {
    pub fn version(&self) -> u8 {
        match self {
            DbMessage::Sync { v, .. } | DbMessage::Rows { v, .. } => *v,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DbReply {
    pub v: u8,
    /// The sender's row sequence up to which this replica has merged.
    pub point: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::{ContainerRow, ObjectRow};
    use proptest::prelude::*;

    #[test]
    fn messages_round_trip_with_their_version() {
        let rows = vec![(
            "o".to_string(),
            ObjectRow {
                ts: Timestamp {
                    ticks: 5,
                    offset: 1,
                },
                size: 3,
                content_type: "text/plain".into(),
                etag: "e".into(),
                deleted: false,
            },
        )];
        let m = DbMessage::Rows {
            v: VERSION,
            from: "dev".into(),
            upto: 9,
            rows,
        };
        let text = serde_json::to_string(&m).unwrap();
        assert!(
            text.contains("\"op\":\"rows\"") && text.contains("\"v\":1"),
            "{text}"
        );
        let back: DbMessage<ObjectRow> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.version(), VERSION);
        let d = DigestsRequest {
            v: VERSION,
            parts: [(3, "ab".to_string())].into_iter().collect(),
        };
        let back: DigestsRequest =
            serde_json::from_slice(&serde_json::to_vec(&d).unwrap()).unwrap();
        assert_eq!(back.parts[&3], "ab");
    }

    proptest! {
        #[test]
        fn garbage_bodies_are_refused_not_panicked_on(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = serde_json::from_slice::<DbMessage<ObjectRow>>(&body);
            let _ = serde_json::from_slice::<DbMessage<ContainerRow>>(&body);
            let _ = serde_json::from_slice::<DigestsRequest>(&body);
        }
    }
}
