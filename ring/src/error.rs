//! The ring crate's error type.

use crate::{DevId, FormatError};

#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("part power {0} is out of range (0-{max})", max = crate::MAX_PART_POWER)]
    InvalidPartPower(u8),
    #[error("replica count {0} is out of range (at least 1, at most 255)")]
    InvalidReplicas(String),
    #[error("min_part_hours {0} is out of range (0-255)")]
    InvalidMinPartHours(u32),
    #[error("overload {0} is invalid (must be a finite number ≥ 0)")]
    InvalidOverload(String),
    #[error("weight {0} is invalid (must be a finite number ≥ 0)")]
    InvalidWeight(String),
    #[error("invalid device: {0}")]
    InvalidDevice(String),
    #[error("device id {0} is already in use")]
    DuplicateDeviceId(DevId),
    #[error("device {ip}:{port}/{device} already exists as id {id}")]
    DuplicateDevice {
        id: DevId,
        ip: String,
        port: u16,
        device: String,
    },
    #[error("no device with id {0}")]
    NoSuchDevice(DevId),
    #[error("the ring cannot hold more than {max} devices", max = crate::MAX_DEVICES)]
    TooManyDevices,
    #[error("{replicas} replicas need at least {replicas} devices with weight; the builder has {devices}")]
    NotEnoughDevices { replicas: usize, devices: usize },
    #[error("the builder has no partitions assigned yet; rebalance first")]
    NotRebalanced,
    #[error("invalid {what}: {value:?}: {reason}")]
    Parse {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error(transparent)]
    Format(#[from] FormatError),
}
