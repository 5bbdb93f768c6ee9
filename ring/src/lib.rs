//! The consistent-hash ring that places every account, container and object
//! in a Stratus cluster.
//!
//! This crate owns the [`RingBuilder`] (devices, partition assignment,
//! rebalance with dispersion, weights, overload and `min_part_hours`), the
//! read-only [`Ring`] that servers load to find primaries and handoffs, and
//! the versioned, checksummed binary formats of both.
//!
//! It is pure computation: no files, sockets, clocks, threads or async.
//! Callers hand in bytes ([`Ring::from_bytes`], [`RingBuilder::from_bytes`])
//! and the current time ([`RebalanceOptions::now`]); reading, writing and
//! reloading files belongs to `stratus-common`.

mod builder;
mod device;
mod error;
mod format;
mod hash;
mod parse;
mod rebalance;
mod report;
mod ring;
mod rng;
mod tiers;

pub use builder::{RingBuilder, MAX_PART_POWER};
pub use device::{display_ip, DevId, Device, NewDevice, MAX_DEVICES};
pub use error::RingError;
pub use format::FormatError;
pub use hash::{Path, PathHasher};
pub use parse::{parse_add_value, parse_change_value, ChangeValue, SearchValue};
pub use rebalance::{RebalanceOptions, RebalanceReport};
pub use report::{DispersionReport, TierDispersion};
pub use ring::{Handoffs, Primaries, Ring};
