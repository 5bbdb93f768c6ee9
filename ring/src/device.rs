//! Devices: the disks (or directories) that hold partition replicas.

use crate::RingError;

/// A device id: an index into the ring's device table.
pub type DevId = u16;

/// The marker for "no device" in assignment tables. Ids are `0..NO_DEV`.
pub(crate) const NO_DEV: DevId = DevId::MAX;

/// Most devices one ring can hold (ids are 16 bits, one value is reserved).
pub const MAX_DEVICES: usize = NO_DEV as usize;

/// One device of the ring, as operators describe it to the builder.
#[derive(Clone, Debug, PartialEq)]
pub struct Device {
    pub id: DevId,
    pub region: u32,
    pub zone: u32,
    /// Address the proxy uses (an IPv4/IPv6 address or a host name).
    pub ip: String,
    pub port: u16,
    /// Address the replicator uses; the same as `ip`/`port` unless split.
    pub replication_ip: String,
    pub replication_port: u16,
    /// Device directory name under the node's devices root, e.g. `sdb1`.
    pub device: String,
    /// Relative capacity; a device receives partitions in proportion to it.
    pub weight: f64,
    /// Free-form operator notes.
    pub meta: String,
}

/// A device to add: a [`Device`] without its id, which the builder assigns
/// unless one is asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct NewDevice {
    pub id: Option<DevId>,
    pub region: u32,
    pub zone: u32,
    pub ip: String,
    pub port: u16,
    pub replication_ip: Option<String>,
    pub replication_port: Option<u16>,
    pub device: String,
    pub weight: f64,
    pub meta: String,
}

impl NewDevice {
    pub(crate) fn into_device(self, id: DevId) -> Device {
        Device {
            id,
            replication_ip: self.replication_ip.unwrap_or_else(|| self.ip.clone()),
            replication_port: self.replication_port.unwrap_or(self.port),
            region: self.region,
            zone: self.zone,
            ip: self.ip,
            port: self.port,
            device: self.device,
            weight: self.weight,
            meta: self.meta,
        }
    }
}

impl Device {
    /// `r1z2-10.0.0.1:6200/sdb1`, the form swift-ring-builder prints.
    pub fn label(&self) -> String {
        format!(
            "r{}z{}-{}:{}/{}",
            self.region,
            self.zone,
            display_ip(&self.ip),
            self.port,
            self.device
        )
    }

    pub(crate) fn validate(&self) -> Result<(), RingError> {
        validate_weight(self.weight)?;
        let bad = |what: &str| Err(RingError::InvalidDevice(what.to_string()));
        if self.ip.is_empty() || self.replication_ip.is_empty() {
            return bad("ip must not be empty");
        }
        if self.port == 0 || self.replication_port == 0 {
            return bad("port must be 1-65535");
        }
        if self.device.is_empty() {
            return bad("device name must not be empty");
        }
        if self.device.contains(['/', '\0']) || self.device == "." || self.device == ".." {
            return bad("device name must be a plain directory name");
        }
        Ok(())
    }
}

pub(crate) fn validate_weight(weight: f64) -> Result<(), RingError> {
    if weight.is_finite() && weight >= 0.0 {
        Ok(())
    } else {
        Err(RingError::InvalidWeight(weight.to_string()))
    }
}

/// IPv6 addresses are shown in brackets so the port stays unambiguous.
pub fn display_ip(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}
