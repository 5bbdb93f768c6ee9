//! The failure-domain tree (root → region → zone → host → device) and the
//! share of every partition's replicas each tier should hold.
//!
//! Two shares are computed top-down for every tier, both capped by what the
//! tier can physically hold (one replica of a partition per device):
//! - *weighted*: in proportion to weight (balance);
//! - *dispersed*: as evenly as possible across siblings (durability).
//!
//! The *target* lies between them: it moves from the weighted share towards
//! the dispersed one as far as `overload` lets any tier exceed its weighted
//! share. With overload 0 balance wins; with enough overload dispersion does.

use std::collections::BTreeMap;

use crate::device::{Device, NO_DEV};
use crate::DevId;

pub(crate) const ROOT: usize = 0;
/// Depths of the tree: root, region, zone, host, device.
pub(crate) const LEVELS: usize = 5;
/// Names of the levels below the root, for reports.
pub(crate) const LEVEL_NAMES: [&str; 4] = ["region", "zone", "host", "device"];
/// Slack for comparing floating-point shares.
const EPS: f64 = 1e-9;

#[derive(Debug)]
pub(crate) struct TierNode {
    pub label: String,
    pub depth: usize,
    /// The device of a leaf; `NO_DEV` above the device level.
    pub dev: DevId,
    pub children: Vec<usize>,
    pub weight: f64,
    /// Devices with weight below this node: the most replicas of one partition it can hold.
    pub devices: usize,
    /// Replicas of an average partition this tier should hold.
    pub target: f64,
    /// Replicas of any one partition this tier holds under perfect dispersion, at most.
    pub max_dispersed: usize,
}

impl TierNode {
    /// Fewest replicas of one partition this tier should hold.
    pub fn floor(&self) -> usize {
        (self.target + EPS).floor() as usize
    }

    /// Most replicas of one partition this tier should hold.
    pub fn ceil(&self) -> usize {
        (self.target - EPS).ceil().max(0.0) as usize
    }
}

/// The tree of devices that take part in placement (weight > 0, not being removed).
#[derive(Debug)]
pub(crate) struct TierTree {
    pub nodes: Vec<TierNode>,
    /// Per device id: the node path root → device, or `None` if the device
    /// takes no partitions.
    paths: Vec<Option<[usize; LEVELS]>>,
}

impl TierTree {
    /// Builds the tree of `devices` and computes every tier's target for
    /// `replicas` replicas per partition.
    pub fn new<'a>(
        devices: impl Iterator<Item = &'a Device>,
        dev_slots: usize,
        replicas: f64,
        overload: f64,
    ) -> Self {
        let mut tree = TierTree {
            nodes: vec![TierNode::new(String::new(), 0, NO_DEV)],
            paths: vec![None; dev_slots],
        };
        // Sorted keys make the node order, and so the rebalance, deterministic.
        let mut sorted: BTreeMap<(u32, u32, &str, DevId), &Device> = BTreeMap::new();
        for d in devices {
            sorted.insert((d.region, d.zone, d.ip.as_str(), d.id), d);
        }
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for d in sorted.values() {
            let labels = [
                format!("r{}", d.region),
                format!("r{}z{}", d.region, d.zone),
                format!(
                    "r{}z{}-{}",
                    d.region,
                    d.zone,
                    crate::device::display_ip(&d.ip)
                ),
                format!(
                    "r{}z{}-{}/d{}",
                    d.region,
                    d.zone,
                    crate::device::display_ip(&d.ip),
                    d.id
                ),
            ];
            let mut path = [ROOT; LEVELS];
            for (i, label) in labels.into_iter().enumerate() {
                let parent = path[i];
                let node = *index.entry(label.clone()).or_insert_with(|| {
                    let dev = if i + 1 == LEVELS - 1 { d.id } else { NO_DEV };
                    tree.nodes.push(TierNode::new(label, i + 1, dev));
                    let id = tree.nodes.len() - 1;
                    tree.nodes[parent].children.push(id);
                    id
                });
                path[i + 1] = node;
            }
            for &n in &path {
                tree.nodes[n].weight += d.weight;
                tree.nodes[n].devices += 1;
            }
            tree.paths[usize::from(d.id)] = Some(path);
        }
        tree.compute_targets(replicas, overload);
        tree
    }

    pub fn path(&self, dev: DevId) -> Option<&[usize; LEVELS]> {
        if dev == NO_DEV {
            return None;
        }
        self.paths.get(usize::from(dev)).and_then(Option::as_ref)
    }

    pub fn device_count(&self) -> usize {
        self.nodes[ROOT].devices
    }

    /// Nodes at `depth` (1 = regions … 4 = devices).
    pub fn level(&self, depth: usize) -> impl Iterator<Item = (usize, &TierNode)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(move |(_, n)| n.depth == depth)
    }

    fn compute_targets(&mut self, replicas: f64, overload: f64) {
        let mut dispersed = vec![0.0; self.nodes.len()];
        let root = &mut self.nodes[ROOT];
        root.target = replicas.min(root.devices as f64);
        root.max_dispersed = (replicas - EPS).ceil() as usize;
        dispersed[ROOT] = root.target;
        // Nodes are created parent-first, so index order is top-down.
        for n in 0..self.nodes.len() {
            let children = self.nodes[n].children.clone();
            if children.is_empty() {
                continue;
            }
            let caps: Vec<f64> = children
                .iter()
                .map(|&c| (self.nodes[c].devices as f64).min(replicas))
                .collect();
            let weights: Vec<f64> = children.iter().map(|&c| self.nodes[c].weight).collect();
            let even = vec![1.0; children.len()];
            let weighted = water_fill(self.nodes[n].target, &weights, &caps);
            let spread = water_fill(self.nodes[n].target, &even, &caps);
            let pull = overload_pull(&weighted, &spread, overload);
            let perfect = water_fill(dispersed[n], &even, &caps);
            for (i, &c) in children.iter().enumerate() {
                self.nodes[c].target = weighted[i] + pull * (spread[i] - weighted[i]);
                dispersed[c] = perfect[i];
                self.nodes[c].max_dispersed = (perfect[i] - EPS).ceil().max(0.0) as usize;
            }
        }
    }
}

impl TierNode {
    fn new(label: String, depth: usize, dev: DevId) -> Self {
        TierNode {
            label,
            depth,
            dev,
            children: Vec::new(),
            weight: 0.0,
            devices: 0,
            target: 0.0,
            max_dispersed: 0,
        }
    }
}

/// How far (0 = weighted, 1 = dispersed) the targets may move towards
/// dispersion before some tier exceeds its weighted share by more than `overload`.
fn overload_pull(weighted: &[f64], dispersed: &[f64], overload: f64) -> f64 {
    let mut pull: f64 = 1.0;
    for (&w, &d) in weighted.iter().zip(dispersed) {
        if d > w + EPS {
            pull = pull.min(w * overload / (d - w));
        }
    }
    pull.clamp(0.0, 1.0)
}

/// Splits `total` in proportion to `weights` without giving anyone more than
/// its cap; what a capped share cannot take goes to the others.
pub(crate) fn water_fill(total: f64, weights: &[f64], caps: &[f64]) -> Vec<f64> {
    let mut share = vec![0.0; weights.len()];
    let mut fixed = vec![false; weights.len()];
    let mut remaining = total;
    loop {
        let free_weight: f64 = (0..weights.len())
            .filter(|&i| !fixed[i])
            .map(|i| weights[i])
            .sum();
        if free_weight <= 0.0 || remaining <= EPS {
            return share;
        }
        let over: Vec<usize> = (0..weights.len())
            .filter(|&i| !fixed[i] && remaining * weights[i] / free_weight >= caps[i] - EPS)
            .collect();
        if over.is_empty() {
            for i in (0..weights.len()).filter(|&i| !fixed[i]) {
                share[i] = remaining * weights[i] / free_weight;
            }
            return share;
        }
        for i in over {
            share[i] = caps[i];
            fixed[i] = true;
            remaining -= caps[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(id: DevId, region: u32, zone: u32, ip: &str, weight: f64) -> Device {
        Device {
            id,
            region,
            zone,
            ip: ip.into(),
            port: 6200,
            replication_ip: ip.into(),
            replication_port: 6200,
            device: format!("d{id}"),
            weight,
            meta: String::new(),
        }
    }

    #[test]
    fn water_fill_respects_caps_and_total() {
        let s = water_fill(3.0, &[10.0, 1.0, 1.0], &[1.0, 1.0, 1.0]);
        assert_eq!(s, vec![1.0, 1.0, 1.0]);
        let s = water_fill(2.0, &[3.0, 1.0], &[3.0, 3.0]);
        assert!((s[0] - 1.5).abs() < 1e-12 && (s[1] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn targets_follow_weight_without_overload() {
        // Two zones, weights 3:1, three replicas.
        let devs: Vec<Device> = (0..8)
            .map(|i| dev(i, 1, if i < 6 { 1 } else { 2 }, &format!("10.0.0.{i}"), 1.0))
            .collect();
        let t = TierTree::new(devs.iter(), 8, 3.0, 0.0);
        let zones: Vec<f64> = t.level(2).map(|(_, n)| n.target).collect();
        assert!((zones[0] - 2.25).abs() < 1e-9 && (zones[1] - 0.75).abs() < 1e-9);
        assert_eq!(
            t.level(2).map(|(_, n)| n.max_dispersed).collect::<Vec<_>>(),
            [2, 2]
        );
    }

    #[test]
    fn overload_moves_targets_towards_dispersion() {
        let devs: Vec<Device> = (0..8)
            .map(|i| dev(i, 1, if i < 6 { 1 } else { 2 }, &format!("10.0.0.{i}"), 1.0))
            .collect();
        let t = TierTree::new(devs.iter(), 8, 3.0, 10.0);
        let zones: Vec<f64> = t.level(2).map(|(_, n)| n.target).collect();
        assert!((zones[0] - 1.5).abs() < 1e-9 && (zones[1] - 1.5).abs() < 1e-9);
        // Every device target stays within one replica.
        assert!(t.level(4).all(|(_, n)| n.target <= 1.0 + 1e-9));
    }

    #[test]
    fn a_single_heavy_device_cannot_hold_two_replicas() {
        let devs = [
            dev(0, 1, 1, "a", 100.0),
            dev(1, 1, 1, "b", 1.0),
            dev(2, 1, 1, "c", 1.0),
        ];
        let t = TierTree::new(devs.iter(), 3, 3.0, 0.0);
        assert!(t.level(4).all(|(_, n)| (n.target - 1.0).abs() < 1e-9));
    }
}
