//! The Stratus proxy: the OpenStack Swift v1 API over a cluster of storage
//! nodes. It owns request parsing and authorisation at the edge, placement
//! through the rings, quorum writes with handoffs, failover reads and error
//! limiting. It is stateless apart from caches and v1 auth tokens, and
//! talks to storage nodes only over HTTP (it does not link them).

// Handlers return `Result<_, Response>` where the error is the response to
// send, built where the fault is found; it is the cold path.
#![allow(clippy::result_large_err)]

pub mod access;
pub mod acl;
pub mod auth;
pub mod backend;
pub mod bulk;
pub mod config;
mod cors;
pub mod db;
mod digests;
mod dlo;
pub mod errors;
pub mod extract;
pub mod formpost;
mod large;
pub mod object;
pub mod quorum;
pub mod quota;
pub mod replicas;
pub mod s3;
pub mod server;
pub mod slo;
pub mod subrequest;
pub mod tar;
pub mod tempurl;
pub mod versioned;

pub use config::ProxyConfig;
pub use server::{run, serve, Proxy};
