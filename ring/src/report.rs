//! Balance and dispersion: how well a builder's assignment meets its goals.

use crate::builder::RingBuilder;
use crate::tiers::{TierTree, LEVELS, LEVEL_NAMES};
use crate::DevId;

/// Reported balance of a device holding partitions it should not (Swift's figure).
pub const MAX_BALANCE: f64 = 999.99;

/// How the replicas of partitions spread over one tier.
#[derive(Clone, Debug, PartialEq)]
pub struct TierDispersion {
    /// e.g. `r1z2-10.0.0.1`.
    pub tier: String,
    /// `region`, `zone`, `host` or `device`.
    pub level: &'static str,
    /// Most replicas of one partition this tier should hold under perfect dispersion.
    pub max_replicas: usize,
    /// Partitions holding more than `max_replicas` replicas here.
    pub parts_over: usize,
    /// `histogram[n]`: partitions with exactly `n` replicas in this tier.
    pub histogram: Vec<usize>,
}

/// Swift's dispersion: the share of partitions whose replicas are more
/// concentrated somewhere than the topology requires.
#[derive(Clone, Debug, PartialEq)]
pub struct DispersionReport {
    /// Percent of partitions with too many replicas in some tier.
    pub dispersion: f64,
    pub parts_at_risk: usize,
    pub tiers: Vec<TierDispersion>,
}

impl RingBuilder {
    /// Partition-replicas each device should hold by weight alone.
    pub fn weighted_parts(&self, id: DevId) -> f64 {
        let total_weight: f64 = self.devices().map(|d| d.weight).sum();
        match self.device(id) {
            Some(d) if total_weight > 0.0 => {
                self.parts() as f64 * self.replicas * d.weight / total_weight
            }
            _ => 0.0,
        }
    }

    /// Per device: percent above (+) or below (−) its weighted share.
    pub fn device_balance(&self, id: DevId, parts: usize) -> f64 {
        let wanted = self.weighted_parts(id);
        if wanted > 0.0 {
            100.0 * (parts as f64 - wanted) / wanted
        } else if parts > 0 {
            MAX_BALANCE
        } else {
            0.0
        }
    }

    /// The largest `|device_balance|` over all devices, as swift-ring-builder reports it.
    pub fn balance(&self) -> f64 {
        let parts = self.parts_per_device();
        self.devices()
            .map(|d| self.device_balance(d.id, parts[usize::from(d.id)]).abs())
            .fold(0.0, f64::max)
            .min(MAX_BALANCE)
    }

    /// Dispersion of the current assignment over the devices with weight.
    pub fn dispersion(&self) -> DispersionReport {
        let active = self.devices().filter(|d| d.weight > 0.0);
        let tree = TierTree::new(active, self.devs.len(), self.replicas, self.overload);
        let width = self.rows.len() + 1;
        let mut histogram = vec![0usize; tree.nodes.len() * width];
        let mut over = vec![0usize; tree.nodes.len()];
        let mut at_risk = 0;
        let mut counts: Vec<(usize, usize)> = Vec::new();
        for part in 0..self.parts() {
            counts.clear();
            for row in &self.rows {
                let Some(path) = row.get(part).and_then(|&d| tree.path(d)) else {
                    continue;
                };
                for &node in &path[1..] {
                    match counts.iter_mut().find(|(n, _)| *n == node) {
                        Some((_, c)) => *c += 1,
                        None => counts.push((node, 1)),
                    }
                }
            }
            let mut risky = false;
            for &(node, c) in &counts {
                histogram[node * width + c] += 1;
                if c > tree.nodes[node].max_dispersed {
                    over[node] += 1;
                    risky = true;
                }
            }
            at_risk += usize::from(risky);
        }
        let parts = self.parts();
        let tiers = (1..LEVELS)
            .flat_map(|depth| tree.level(depth))
            .map(|(i, node)| {
                let mut h = histogram[i * width..(i + 1) * width].to_vec();
                h[0] = parts - h[1..].iter().sum::<usize>();
                TierDispersion {
                    tier: node.label.clone(),
                    level: LEVEL_NAMES[node.depth - 1],
                    max_replicas: node.max_dispersed,
                    parts_over: over[i],
                    histogram: h,
                }
            })
            .collect();
        DispersionReport {
            dispersion: 100.0 * at_risk as f64 / parts as f64,
            parts_at_risk: at_risk,
            tiers,
        }
    }
}
