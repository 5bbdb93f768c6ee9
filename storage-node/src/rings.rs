//! The rings as a storage node sees them: loaded when they appear (a node
//! may start before the operator pushes rings), reloaded when they change,
//! and which of their devices are this node's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use stratus_common::ring_file::RingHandle;
use stratus_ring::{Device, Ring};

/// Which ring: what the partitions hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RingKind {
    Object,
    Container,
    Account,
}

impl RingKind {
    pub fn file_name(self) -> &'static str {
        match self {
            RingKind::Object => "object.ring",
            RingKind::Container => "container.ring",
            RingKind::Account => "account.ring",
        }
    }
}

#[derive(Debug)]
pub struct LocalRings {
    dir: Option<PathBuf>,
    handles: Mutex<HashMap<RingKind, Arc<RingHandle>>>,
}

impl LocalRings {
    pub fn new(dir: Option<PathBuf>) -> LocalRings {
        LocalRings {
            dir,
            handles: Mutex::new(HashMap::new()),
        }
    }

    /// The current ring of `kind`, loading or reloading its file as needed;
    /// `None` while there is none to load.
    pub fn get(&self, kind: RingKind) -> Option<Arc<Ring>> {
        let dir = self.dir.as_ref()?;
        let mut handles = self.handles.lock().ok()?;
        if let Some(h) = handles.get(&kind) {
            if let Err(e) = h.reload_if_changed() {
                tracing::warn!(error = %e, "keeping the previous ring");
            }
            return Some(h.current());
        }
        let path = dir.join(kind.file_name());
        if !path.exists() {
            return None;
        }
        match RingHandle::open(&path) {
            Ok(h) => {
                let ring = h.current();
                handles.insert(kind, Arc::new(h));
                Some(ring)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot load ring");
                None
            }
        }
    }
}

/// Where a ring device's servers are reached for replication.
pub fn replication_addr(d: &Device) -> String {
    format!(
        "{}:{}",
        stratus_ring::display_ip(&d.replication_ip),
        d.replication_port
    )
}

/// Whether ring device `d` is device `name` of the server bound to `bind`.
pub fn is_local(d: &Device, bind: SocketAddr, name: &str) -> bool {
    if d.device != name || d.replication_port != bind.port() {
        return false;
    }
    bind.ip().is_unspecified()
        || d.replication_ip
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip == bind.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(ip: &str, port: u16, name: &str) -> Device {
        Device {
            id: 0,
            region: 1,
            zone: 1,
            ip: ip.into(),
            port,
            replication_ip: ip.into(),
            replication_port: port,
            device: name.into(),
            weight: 1.0,
            meta: String::new(),
        }
    }

    #[test]
    fn local_devices_match_address_and_name() {
        let bind: SocketAddr = "127.0.0.1:6200".parse().unwrap();
        assert!(is_local(&dev("127.0.0.1", 6200, "d1"), bind, "d1"));
        assert!(!is_local(&dev("127.0.0.1", 6200, "d2"), bind, "d1"));
        assert!(!is_local(&dev("127.0.0.1", 6201, "d1"), bind, "d1"));
        assert!(!is_local(&dev("10.0.0.1", 6200, "d1"), bind, "d1"));
        let any: SocketAddr = "0.0.0.0:6200".parse().unwrap();
        assert!(is_local(&dev("10.0.0.1", 6200, "d1"), any, "d1"));
        let v6: SocketAddr = "[::1]:6200".parse().unwrap();
        assert!(is_local(&dev("::1", 6200, "d1"), v6, "d1"));
        assert_eq!(replication_addr(&dev("::1", 6200, "d1")), "[::1]:6200");
    }
}
