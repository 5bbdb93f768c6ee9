//! The read-only ring servers load: partition → primary devices, and a
//! deterministic, failure-domain-diverse handoff order.

use std::collections::HashMap;

use crate::device::NO_DEV;
use crate::hash::{Path, PathHasher};
use crate::rng::mix;
use crate::{DevId, Device};

/// A built ring: what proxies and storage nodes consult on every request.
#[derive(Clone, Debug, PartialEq)]
pub struct Ring {
    pub(crate) version: u64,
    pub(crate) part_power: u8,
    pub(crate) replicas: f64,
    pub(crate) hasher: PathHasher,
    pub(crate) devs: Vec<Option<Device>>,
    /// Replica slots per partition: `ceil(replicas)`.
    pub(crate) slots: usize,
    /// `part2dev[part * slots + r]`; `NO_DEV` where a partition has fewer replicas.
    pub(crate) part2dev: Vec<DevId>,
    /// Dense failure-domain ids per device id, for handoff diversity.
    tiers: Vec<DevTiers>,
    tier_counts: DevTiers,
}

/// Dense region, zone and host numbers of one device.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct DevTiers {
    region: u32,
    zone: u32,
    host: u32,
    dev: u32,
}

impl Ring {
    pub(crate) fn from_assignment(
        version: u64,
        part_power: u8,
        replicas: f64,
        hash_key: [u8; 16],
        devs: Vec<Option<Device>>,
        rows: &[Vec<DevId>],
    ) -> Ring {
        let parts = 1usize << part_power;
        let slots = rows.len();
        let mut part2dev = vec![NO_DEV; parts * slots];
        for (r, row) in rows.iter().enumerate() {
            for (p, &d) in row.iter().enumerate() {
                part2dev[p * slots + r] = d;
            }
        }
        Ring::new(
            version, part_power, replicas, hash_key, devs, slots, part2dev,
        )
    }

    pub(crate) fn new(
        version: u64,
        part_power: u8,
        replicas: f64,
        hash_key: [u8; 16],
        devs: Vec<Option<Device>>,
        slots: usize,
        part2dev: Vec<DevId>,
    ) -> Ring {
        let (tiers, tier_counts) = dense_tiers(&devs, &part2dev);
        Ring {
            version,
            part_power,
            replicas,
            hasher: PathHasher::new(hash_key),
            devs,
            slots,
            part2dev,
            tiers,
            tier_counts,
        }
    }

    /// The builder version this ring was made from; grows with every rebalance.
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn part_power(&self) -> u8 {
        self.part_power
    }

    pub fn partition_count(&self) -> usize {
        1 << self.part_power
    }

    pub fn replicas(&self) -> f64 {
        self.replicas
    }

    /// Devices in id order.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devs.iter().flatten()
    }

    pub fn device(&self, id: DevId) -> Option<&Device> {
        self.devs.get(usize::from(id)).and_then(Option::as_ref)
    }

    /// The partition a path belongs to.
    #[inline]
    pub fn partition(&self, path: Path<'_>) -> u32 {
        self.hasher.partition(path, self.part_power)
    }

    /// The partition of `path` and the devices holding its primary replicas.
    #[inline]
    pub fn get_nodes(&self, path: Path<'_>) -> (u32, Primaries<'_>) {
        let part = self.partition(path);
        (part, self.primaries(part))
    }

    /// Primary devices of a partition, in replica order. An out-of-range
    /// partition has none.
    #[inline]
    pub fn primaries(&self, part: u32) -> Primaries<'_> {
        let start = part as usize * self.slots;
        let ids = self.part2dev.get(start..start + self.slots).unwrap_or(&[]);
        Primaries { ring: self, ids }
    }

    /// Further devices for `part` when primaries fail: first devices in
    /// regions no primary is in, then new zones, then new hosts, then any
    /// other device. The order is fixed for a given ring and partition.
    pub fn handoffs(&self, part: u32) -> Handoffs<'_> {
        let parts = self.partition_count();
        let seed = mix(u64::from(part) ^ 0x5354_5241_5455_5321);
        let mut h = Handoffs {
            ring: self,
            used_region: vec![false; self.tier_counts.region as usize],
            used_zone: vec![false; self.tier_counts.zone as usize],
            used_host: vec![false; self.tier_counts.host as usize],
            used_dev: vec![false; self.tier_counts.dev as usize],
            left: [
                self.tier_counts.region,
                self.tier_counts.zone,
                self.tier_counts.host,
                self.tier_counts.dev,
            ],
            level: 0,
            step: 0,
            slot: 0,
            start: (seed as usize) & (parts - 1),
            // Odd strides visit every partition of a power-of-two ring once.
            stride: ((seed >> 32) as usize | 1) & (parts - 1).max(1),
        };
        for d in self.primaries(part) {
            h.mark_used(d.id);
        }
        h
    }
}

/// Iterator over a partition's primary devices.
#[derive(Clone, Debug)]
pub struct Primaries<'a> {
    ring: &'a Ring,
    ids: &'a [DevId],
}

impl<'a> Iterator for Primaries<'a> {
    type Item = &'a Device;

    #[inline]
    fn next(&mut self) -> Option<&'a Device> {
        while let Some((&id, rest)) = self.ids.split_first() {
            self.ids = rest;
            if let Some(d) = self.ring.device(id) {
                return Some(d);
            }
        }
        None
    }
}

/// Lazy iterator over handoff devices; see [`Ring::handoffs`].
#[derive(Debug)]
pub struct Handoffs<'a> {
    ring: &'a Ring,
    used_region: Vec<bool>,
    used_zone: Vec<bool>,
    used_host: Vec<bool>,
    used_dev: Vec<bool>,
    /// Unused regions, zones, hosts and devices left.
    left: [u32; 4],
    /// 0: new region wanted, 1: new zone, 2: new host, 3: any unused device.
    level: usize,
    /// Partitions visited at this level.
    step: usize,
    slot: usize,
    start: usize,
    stride: usize,
}

impl Handoffs<'_> {
    fn mark_used(&mut self, dev: DevId) {
        let t = self.ring.tiers[usize::from(dev)];
        let sets = [
            (&mut self.used_region, t.region),
            (&mut self.used_zone, t.zone),
            (&mut self.used_host, t.host),
            (&mut self.used_dev, t.dev),
        ];
        for (i, (set, id)) in sets.into_iter().enumerate() {
            if !set[id as usize] {
                set[id as usize] = true;
                self.left[i] -= 1;
            }
        }
    }

    fn is_new_at_level(&self, dev: DevId) -> bool {
        let t = self.ring.tiers[usize::from(dev)];
        !self.used_dev[t.dev as usize]
            && match self.level {
                0 => !self.used_region[t.region as usize],
                1 => !self.used_zone[t.zone as usize],
                2 => !self.used_host[t.host as usize],
                _ => true,
            }
    }
}

impl<'a> Iterator for Handoffs<'a> {
    type Item = &'a Device;

    fn next(&mut self) -> Option<&'a Device> {
        let ring = self.ring;
        let parts = ring.partition_count();
        while self.level < 4 {
            if self.left[self.level] == 0 || self.step >= parts {
                self.level += 1;
                self.step = 0;
                self.slot = 0;
                continue;
            }
            let part = (self.start + self.step.wrapping_mul(self.stride)) & (parts - 1);
            let id = ring.part2dev[part * ring.slots + self.slot];
            self.slot += 1;
            if self.slot == ring.slots {
                self.slot = 0;
                self.step += 1;
            }
            if id != NO_DEV && self.is_new_at_level(id) {
                self.mark_used(id);
                return ring.device(id);
            }
        }
        None
    }
}

/// Numbers the regions, zones, hosts and devices that hold partitions densely.
fn dense_tiers(devs: &[Option<Device>], part2dev: &[DevId]) -> (Vec<DevTiers>, DevTiers) {
    let mut in_use = vec![false; devs.len()];
    for &d in part2dev {
        if let Some(u) = in_use.get_mut(usize::from(d)) {
            *u = true;
        }
    }
    let mut regions = HashMap::new();
    let mut zones = HashMap::new();
    let mut hosts = HashMap::new();
    let mut tiers = vec![DevTiers::default(); devs.len()];
    let mut devices = 0;
    for (i, d) in devs.iter().enumerate() {
        let Some(d) = d.as_ref().filter(|_| in_use[i]) else {
            continue;
        };
        let next = |m: &mut HashMap<_, u32>, k| {
            let n = m.len() as u32;
            *m.entry(k).or_insert(n)
        };
        tiers[i] = DevTiers {
            region: next(&mut regions, (d.region, 0, String::new())),
            zone: next(&mut zones, (d.region, d.zone, String::new())),
            host: next(&mut hosts, (d.region, d.zone, d.ip.clone())),
            dev: devices,
        };
        devices += 1;
    }
    let counts = DevTiers {
        region: regions.len() as u32,
        zone: zones.len() as u32,
        host: hosts.len() as u32,
        dev: devices,
    };
    (tiers, counts)
}
