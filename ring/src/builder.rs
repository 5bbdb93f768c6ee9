//! The ring builder: the operator's editable description of a ring (devices,
//! replicas, part power) together with the current partition assignment.

use std::collections::BTreeSet;

use crate::device::{validate_weight, NO_DEV};
use crate::parse::{ChangeValue, SearchValue};
use crate::ring::Ring;
use crate::{DevId, Device, NewDevice, RingError, MAX_DEVICES};

/// Largest supported part power: 2^26 partitions (64 Mi).
pub const MAX_PART_POWER: u8 = 26;
/// Most replicas a ring supports.
const MAX_REPLICAS: f64 = 255.0;
/// Saturation value of `last_part_moves`: "moved long ago".
pub(crate) const LONG_AGO: u8 = u8::MAX;

/// Everything needed to (re)build a ring.
#[derive(Clone, Debug, PartialEq)]
pub struct RingBuilder {
    pub(crate) hash_key: [u8; 16],
    /// Bumped by every rebalance that changed the assignment or devices.
    pub(crate) version: u64,
    pub(crate) part_power: u8,
    pub(crate) replicas: f64,
    pub(crate) min_part_hours: u8,
    pub(crate) overload: f64,
    /// Indexed by device id; `None` for ids not in use.
    pub(crate) devs: Vec<Option<Device>>,
    /// Devices to drop once the next rebalance has moved their partitions off.
    pub(crate) removing: BTreeSet<DevId>,
    /// `rows[r][p]`: the device of replica `r` of partition `p`. With a
    /// fractional replica count the last row covers only some partitions.
    pub(crate) rows: Vec<Vec<DevId>>,
    /// Hours since each partition last moved (saturating at 255).
    pub(crate) last_part_moves: Vec<u8>,
    /// Unix time `last_part_moves` was last brought up to date.
    pub(crate) last_part_moves_epoch: u64,
    /// Devices were added, removed or changed since the last rebalance.
    pub(crate) devs_changed: bool,
}

impl RingBuilder {
    /// A builder for `2^part_power` partitions; `hash_key` is the cluster
    /// secret that keys path hashing (see [`crate::PathHasher`]).
    pub fn new(
        part_power: u8,
        replicas: f64,
        min_part_hours: u32,
        hash_key: [u8; 16],
    ) -> Result<Self, RingError> {
        if part_power > MAX_PART_POWER {
            return Err(RingError::InvalidPartPower(part_power));
        }
        let mut b = RingBuilder {
            hash_key,
            version: 0,
            part_power,
            replicas: 0.0,
            min_part_hours: 0,
            overload: 0.0,
            devs: Vec::new(),
            removing: BTreeSet::new(),
            rows: Vec::new(),
            last_part_moves: vec![LONG_AGO; 1 << part_power],
            last_part_moves_epoch: 0,
            devs_changed: false,
        };
        b.set_replicas(replicas)?;
        b.set_min_part_hours(min_part_hours)?;
        Ok(b)
    }

    pub fn part_power(&self) -> u8 {
        self.part_power
    }

    pub fn parts(&self) -> usize {
        1 << self.part_power
    }

    pub fn replicas(&self) -> f64 {
        self.replicas
    }

    pub fn min_part_hours(&self) -> u8 {
        self.min_part_hours
    }

    pub fn overload(&self) -> f64 {
        self.overload
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn hash_key(&self) -> [u8; 16] {
        self.hash_key
    }

    pub fn devs_changed(&self) -> bool {
        self.devs_changed
    }

    /// Devices in id order.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devs.iter().flatten()
    }

    pub fn device(&self, id: DevId) -> Option<&Device> {
        self.devs.get(usize::from(id)).and_then(Option::as_ref)
    }

    /// Whether `id` is marked for removal at the next rebalance.
    pub fn is_removing(&self, id: DevId) -> bool {
        self.removing.contains(&id)
    }

    /// Whether partitions have been assigned at all.
    pub fn is_rebalanced(&self) -> bool {
        !self.rows.is_empty() && self.rows.iter().all(|r| r.iter().all(|&d| d != NO_DEV))
    }

    /// Partition-replicas held by each device id.
    pub fn parts_per_device(&self) -> Vec<usize> {
        let mut counts = vec![0; self.devs.len()];
        for &d in self.rows.iter().flatten() {
            if let Some(c) = counts.get_mut(usize::from(d)) {
                *c += 1;
            }
        }
        counts
    }

    /// Seconds until partitions moved by the last rebalance may move again.
    pub fn min_part_seconds_left(&self, now: u64) -> u64 {
        let elapsed = now.saturating_sub(self.last_part_moves_epoch);
        (u64::from(self.min_part_hours) * 3600).saturating_sub(elapsed)
    }

    pub fn add_dev(&mut self, new: NewDevice) -> Result<DevId, RingError> {
        let id = match new.id {
            Some(id) if usize::from(id) >= MAX_DEVICES => return Err(RingError::TooManyDevices),
            Some(id) if self.device(id).is_some() => return Err(RingError::DuplicateDeviceId(id)),
            Some(id) => id,
            None => self.free_id()?,
        };
        let dev = new.into_device(id);
        dev.validate()?;
        self.check_unique(&dev)?;
        let slot = usize::from(id);
        if self.devs.len() <= slot {
            self.devs.resize(slot + 1, None);
        }
        self.devs[slot] = Some(dev);
        self.devs_changed = true;
        Ok(id)
    }

    /// Marks a device for removal: it takes no new partitions and is dropped
    /// by the next rebalance, which moves its partitions elsewhere.
    pub fn remove_dev(&mut self, id: DevId) -> Result<(), RingError> {
        self.device_mut(id)?.weight = 0.0;
        self.removing.insert(id);
        self.devs_changed = true;
        Ok(())
    }

    pub fn set_dev_weight(&mut self, id: DevId, weight: f64) -> Result<(), RingError> {
        validate_weight(weight)?;
        self.device_mut(id)?.weight = weight;
        self.devs_changed = true;
        Ok(())
    }

    /// Changes a device's addresses, name or meta. Placement does not move.
    pub fn set_dev_info(&mut self, id: DevId, change: &ChangeValue) -> Result<(), RingError> {
        let mut dev = self.device(id).ok_or(RingError::NoSuchDevice(id))?.clone();
        change.apply(&mut dev);
        dev.validate()?;
        self.check_unique(&dev)?;
        *self.device_mut(id)? = dev;
        self.devs_changed = true;
        Ok(())
    }

    /// Devices matching a search value, in id order.
    pub fn search(&self, value: &SearchValue) -> Vec<&Device> {
        self.devices().filter(|d| value.matches(d)).collect()
    }

    pub fn set_overload(&mut self, overload: f64) -> Result<(), RingError> {
        if !overload.is_finite() || overload < 0.0 {
            return Err(RingError::InvalidOverload(overload.to_string()));
        }
        self.overload = overload;
        self.devs_changed = true;
        Ok(())
    }

    pub fn set_min_part_hours(&mut self, hours: u32) -> Result<(), RingError> {
        self.min_part_hours =
            u8::try_from(hours).map_err(|_| RingError::InvalidMinPartHours(hours))?;
        Ok(())
    }

    /// Sets the replica count (fractions allowed: 2.5 gives half the
    /// partitions a third replica). New replicas are placed by the next
    /// rebalance; dropped ones are forgotten at once.
    pub fn set_replicas(&mut self, replicas: f64) -> Result<(), RingError> {
        if !replicas.is_finite() || !(1.0..=MAX_REPLICAS).contains(&replicas) {
            return Err(RingError::InvalidReplicas(replicas.to_string()));
        }
        let lens = row_lengths(replicas, self.parts());
        self.rows.truncate(lens.len());
        for (r, &len) in lens.iter().enumerate() {
            match self.rows.get_mut(r) {
                Some(row) => row.resize(len, NO_DEV),
                None => self.rows.push(vec![NO_DEV; len]),
            }
        }
        if self.replicas != replicas {
            self.devs_changed = true;
        }
        self.replicas = replicas;
        Ok(())
    }

    /// Lets the next rebalance move any partition, as if `min_part_hours`
    /// had passed since the last one.
    pub fn pretend_min_part_hours_passed(&mut self) {
        self.last_part_moves.fill(LONG_AGO);
    }

    /// The read-only ring servers load.
    pub fn to_ring(&self) -> Result<Ring, RingError> {
        if !self.is_rebalanced() {
            return Err(RingError::NotRebalanced);
        }
        Ok(Ring::from_assignment(
            self.version,
            self.part_power,
            self.replicas,
            self.hash_key,
            self.devs.clone(),
            &self.rows,
        ))
    }

    /// Ages `last_part_moves` by the whole hours since the last update.
    pub(crate) fn update_last_part_moves(&mut self, now: u64) {
        let hours = now.saturating_sub(self.last_part_moves_epoch) / 3600;
        if hours == 0 {
            return;
        }
        let add = u8::try_from(hours).unwrap_or(LONG_AGO);
        for h in &mut self.last_part_moves {
            *h = h.saturating_add(add);
        }
        // Keep the part-hour remainder so elapsed time is never lost.
        self.last_part_moves_epoch = if self.last_part_moves_epoch == 0 {
            now
        } else {
            self.last_part_moves_epoch + hours * 3600
        };
    }

    fn free_id(&self) -> Result<DevId, RingError> {
        let slot = self
            .devs
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.devs.len());
        DevId::try_from(slot)
            .ok()
            .filter(|&id| id != NO_DEV)
            .ok_or(RingError::TooManyDevices)
    }

    fn device_mut(&mut self, id: DevId) -> Result<&mut Device, RingError> {
        self.devs
            .get_mut(usize::from(id))
            .and_then(Option::as_mut)
            .ok_or(RingError::NoSuchDevice(id))
    }

    /// Two devices may not share ip, port and device name.
    fn check_unique(&self, dev: &Device) -> Result<(), RingError> {
        match self.devices().find(|d| {
            d.id != dev.id && d.ip == dev.ip && d.port == dev.port && d.device == dev.device
        }) {
            Some(other) => Err(RingError::DuplicateDevice {
                id: other.id,
                ip: other.ip.clone(),
                port: other.port,
                device: other.device.clone(),
            }),
            None => Ok(()),
        }
    }
}

/// Lengths of the assignment rows for `replicas` replicas of `parts`
/// partitions: whole rows, then a partial one for a fractional replica.
pub(crate) fn row_lengths(replicas: f64, parts: usize) -> Vec<usize> {
    let full = replicas.floor() as usize;
    let partial = ((replicas - replicas.floor()) * parts as f64).round() as usize;
    let mut lens = vec![parts; full];
    if partial > 0 {
        lens.push(partial.min(parts));
    }
    lens
}
