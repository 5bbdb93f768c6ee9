//! What the index holds per object: the newest write, where its bytes are,
//! and the metadata HEAD answers from without touching the data.

use serde::{Deserialize, Serialize};

use crate::timestamp::Timestamp;

/// Index value, version 1 (JSON; `v` guards future changes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub v: u8,
    /// Timestamp of the PUT (or DELETE, for a tombstone).
    pub data_ts: Timestamp,
    /// Timestamp of the newest POST, or `data_ts`.
    pub meta_ts: Timestamp,
    pub loc: Location,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<ObjectMeta>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// Data in the record at `off` (record length `len`) of segment `seg`.
    Inline {
        seg: u64,
        off: u64,
        len: u64,
    },
    /// Data in large object file `id`.
    Large {
        id: u64,
    },
    Tombstone,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ObjectMeta {
    pub content_type: String,
    pub etag: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_at: Option<u64>,
    /// `X-Object-Meta-*` and the other headers kept with an object, as
    /// (name as sent, value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
}

impl Entry {
    pub fn is_tombstone(&self) -> bool {
        self.loc == Location::Tombstone
    }

    /// Last write wins: a newer PUT/DELETE, or a newer POST to the same data.
    pub fn supersedes(&self, current: &Entry) -> bool {
        self.data_ts > current.data_ts
            || (self.data_ts == current.data_ts && self.meta_ts > current.meta_ts)
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(b: &[u8]) -> Option<Entry> {
        serde_json::from_slice::<Entry>(b).ok().filter(|e| e.v == 1)
    }
}
