//! Rebalance: gather the partition-replicas that should move, then place
//! each on the device its failure domains want most.
//!
//! A replica is gathered when its device is gone or being removed (always),
//! when its partition is more concentrated in one tier than the tier's target
//! allows (dispersion), or when its device holds more than its target
//! (balance). The last two only touch partitions that have not moved within
//! `min_part_hours`, and at most one replica of a partition per pass, so a
//! partition never loses two replicas to moves within `min_part_hours`.
//!
//! Placement walks the tier tree from the root, at each level choosing the
//! child that (1) still lacks its minimum share of this partition, (2) may
//! take another replica of it, and (3) is furthest below its target.

use crate::builder::RingBuilder;
use crate::device::NO_DEV;
use crate::rng::SplitMix64;
use crate::tiers::{TierTree, LEVELS, ROOT};
use crate::{DevId, RingError};

/// Balancing passes per rebalance; each moves only replicas that improve balance.
const MAX_PASSES: usize = 16;
/// Replica rows a ring can have (`replicas` is at most 255).
const MAX_ROWS: usize = 256;
/// `surplus + deficit` a balancing move must fix; see `improve_balance`.
const MIN_GAIN: f64 = 1.5;
/// Slack for comparing fractional partition counts.
const EPS: f64 = 1e-9;

/// Inputs of a rebalance that callers control.
#[derive(Clone, Copy, Debug)]
pub struct RebalanceOptions {
    /// Same seed and same builder give the same ring.
    pub seed: u64,
    /// Current Unix time in seconds, for `min_part_hours`.
    pub now: u64,
}

/// What a rebalance did.
#[derive(Clone, Debug, PartialEq)]
pub struct RebalanceReport {
    /// Partitions with at least one replica placed on a new device.
    pub parts_moved: usize,
    /// Partition-replicas placed on a new device.
    pub replicas_moved: usize,
    /// Devices deleted because they were marked for removal.
    pub removed_devices: Vec<DevId>,
}

/// One partition-replica taken off its device, waiting to be placed.
#[derive(Clone, Copy, Debug)]
struct Gathered {
    part: usize,
    row: usize,
    from: DevId,
}

/// Per tier node: partition-replicas assigned now, and wanted.
struct Load {
    assigned: Vec<f64>,
    target: Vec<f64>,
}

impl Load {
    fn new(tree: &TierTree, parts_per_replica: f64) -> Self {
        Load {
            assigned: vec![0.0; tree.nodes.len()],
            target: tree
                .nodes
                .iter()
                .map(|n| n.target * parts_per_replica)
                .collect(),
        }
    }

    fn add(&mut self, path: &[usize; LEVELS], delta: f64) {
        for &n in path {
            self.assigned[n] += delta;
        }
    }

    fn wanted(&self, node: usize) -> f64 {
        self.target[node] - self.assigned[node]
    }
}

impl RingBuilder {
    /// Reassigns partitions after device, weight or replica changes.
    pub fn rebalance(&mut self, opts: RebalanceOptions) -> Result<RebalanceReport, RingError> {
        self.update_last_part_moves(opts.now);
        let active = self
            .devices()
            .filter(|d| d.weight > 0.0 && !self.removing.contains(&d.id));
        let tree = TierTree::new(active, self.devs.len(), self.replicas, self.overload);
        let needed = self.rows.len();
        if tree.device_count() < needed {
            return Err(RingError::NotEnoughDevices {
                replicas: needed,
                devices: tree.device_count(),
            });
        }
        let total: usize = self.rows.iter().map(Vec::len).sum();
        let mut load = Load::new(&tree, total as f64 / self.replicas);
        for &d in self.rows.iter().flatten() {
            if let Some(path) = tree.path(d) {
                load.add(path, 1.0);
            }
        }
        let before = self.rows.clone();
        // A partition that moved in this rebalance may not move again if
        // min_part_hours applies; one placed for the first time may.
        let mut locked: Vec<bool> = (0..self.parts())
            .map(|p| self.last_part_moves[p] < self.min_part_hours)
            .collect();

        let mut rng = SplitMix64::new(opts.seed);
        let mut gathered = self.gather(&tree, &mut load, &locked);
        rng.shuffle(&mut gathered);
        for g in gathered {
            let to = self.place_replica(&tree, &load, g.part, g.row);
            self.assign(&tree, &mut load, g.part, g.row, to);
            if g.from != NO_DEV && to != g.from && self.min_part_hours > 0 {
                locked[g.part] = true;
            }
        }
        for _ in 0..MAX_PASSES {
            if self.improve_balance(&tree, &mut load, &mut locked, &mut rng) == 0 {
                break;
            }
        }

        let (parts_moved, replicas_moved) = self.record_moves(&before);
        let removed_devices = self.drop_removed_devices();
        if parts_moved > 0 || self.devs_changed {
            self.version += 1;
        }
        self.devs_changed = false;
        Ok(RebalanceReport {
            parts_moved,
            replicas_moved,
            removed_devices,
        })
    }

    /// Takes off their devices the replicas that must or should move:
    /// unassigned ones, those on devices that take no partitions, and one
    /// replica of each unlocked partition crowded into one tier.
    fn gather(&mut self, tree: &TierTree, load: &mut Load, locked: &[bool]) -> Vec<Gathered> {
        let mut out = Vec::new();
        let mut taken = vec![false; self.parts()];
        for (row, devs) in self.rows.iter_mut().enumerate() {
            for (part, dev) in devs.iter_mut().enumerate() {
                if tree.path(*dev).is_none() {
                    out.push(Gathered {
                        part,
                        row,
                        from: *dev,
                    });
                    *dev = NO_DEV;
                    taken[part] = true;
                }
            }
        }
        for part in 0..self.parts() {
            if locked[part] || taken[part] {
                continue;
            }
            if let Some(row) = self.overcrowded_replica(tree, load, part) {
                let from = self.rows[row][part];
                self.unassign(tree, load, part, row);
                out.push(Gathered { part, row, from });
            }
        }
        out
    }

    /// One pass moving single replicas from devices above their target to
    /// devices below theirs, where placement rules allow. A move from a
    /// device `s` replicas over target to one `d` under is made only if
    /// `d >= 0.5` and `s + d >= 1.5`: it then cuts the squared imbalance by
    /// at least one; moving data for smaller differences is not worth it.
    /// Returns the moves made.
    fn improve_balance(
        &mut self,
        tree: &TierTree,
        load: &mut Load,
        locked: &mut [bool],
        rng: &mut SplitMix64,
    ) -> usize {
        let most_wanted = tree
            .level(LEVELS - 1)
            .map(|(n, _)| load.wanted(n))
            .fold(f64::MIN, f64::max);
        let min_surplus = (MIN_GAIN - most_wanted).max(EPS);
        if tree
            .level(LEVELS - 1)
            .all(|(n, _)| -load.wanted(n) < min_surplus)
        {
            return 0;
        }
        let mut order: Vec<usize> = (0..self.parts()).collect();
        rng.shuffle(&mut order);
        let mut moves = 0;
        for part in order {
            if locked[part] {
                continue;
            }
            for row in 0..self.rows.len() {
                let from = self.rows[row].get(part).copied().unwrap_or(NO_DEV);
                let Some(leaf) = tree.path(from).map(|p| p[LEVELS - 1]) else {
                    continue;
                };
                if -load.wanted(leaf) < min_surplus {
                    continue;
                }
                self.unassign(tree, load, part, row);
                let to = self.place_replica(tree, load, part, row);
                // With the replica lifted, `from` wants it back by 1 - s.
                let gains = tree.path(to).is_some_and(|p| {
                    let want_to = load.wanted(p[LEVELS - 1]);
                    want_to >= 0.5 - EPS && want_to - load.wanted(leaf) >= MIN_GAIN - 1.0 - EPS
                });
                if to != from && gains {
                    self.assign(tree, load, part, row, to);
                    locked[part] = self.min_part_hours > 0;
                    moves += 1;
                    break;
                }
                self.assign(tree, load, part, row, from);
            }
        }
        moves
    }

    fn unassign(&mut self, tree: &TierTree, load: &mut Load, part: usize, row: usize) {
        if let Some(path) = tree.path(self.rows[row][part]) {
            load.add(path, -1.0);
        }
        self.rows[row][part] = NO_DEV;
    }

    fn assign(&mut self, tree: &TierTree, load: &mut Load, part: usize, row: usize, to: DevId) {
        if let Some(path) = tree.path(to) {
            load.add(path, 1.0);
        }
        self.rows[row][part] = to;
    }

    /// Where the unassigned replica `row` of `part` should go.
    fn place_replica(&self, tree: &TierTree, load: &Load, part: usize, row: usize) -> DevId {
        let mut others: [&[usize; LEVELS]; MAX_ROWS] = [&[0; LEVELS]; MAX_ROWS];
        let mut n = 0;
        for r in (0..self.rows.len()).filter(|&r| r != row) {
            if let Some(path) = self.rows[r].get(part).and_then(|&d| tree.path(d)) {
                others[n] = path;
                n += 1;
            }
        }
        // The caller checked there are at least as many devices as replicas.
        place(tree, load, &others[..n]).unwrap_or(NO_DEV)
    }

    /// Counts moves against the assignment `before` and restarts the
    /// min_part_hours clock of every partition that moved.
    fn record_moves(&mut self, before: &[Vec<DevId>]) -> (usize, usize) {
        let (mut parts, mut replicas) = (0, 0);
        for part in 0..self.parts() {
            let old = |d: DevId| before.iter().any(|row| row.get(part) == Some(&d));
            let new_here = self
                .rows
                .iter()
                .filter_map(|row| row.get(part))
                .filter(|&&d| !old(d))
                .count();
            if new_here > 0 {
                parts += 1;
                replicas += new_here;
                self.last_part_moves[part] = 0;
            }
        }
        (parts, replicas)
    }

    /// A replica of `part` to move because some tier holds more replicas of
    /// it than the tier's target allows. Of the replicas in such tiers, the
    /// one crowded at the most levels goes, then the one on the fullest device.
    fn overcrowded_replica(&self, tree: &TierTree, load: &Load, part: usize) -> Option<usize> {
        let replicas: Vec<(usize, &[usize; LEVELS])> = (0..self.rows.len())
            .filter_map(|r| {
                self.rows[r]
                    .get(part)
                    .and_then(|&d| tree.path(d))
                    .map(|p| (r, p))
            })
            .collect();
        let crowded = |path: &[usize; LEVELS], depth: usize| {
            let node = path[depth];
            replicas.iter().filter(|(_, p)| p[depth] == node).count() > tree.nodes[node].ceil()
        };
        let crowding =
            |path: &[usize; LEVELS]| (1..LEVELS - 1).filter(|&d| crowded(path, d)).count();
        replicas
            .iter()
            .map(|&(row, path)| (row, crowding(path), -load.wanted(path[LEVELS - 1])))
            .filter(|&(_, c, _)| c > 0)
            .max_by(|a, b| a.1.cmp(&b.1).then(a.2.total_cmp(&b.2)))
            .map(|(row, _, _)| row)
    }

    /// Deletes devices marked for removal; they hold nothing after a rebalance.
    fn drop_removed_devices(&mut self) -> Vec<DevId> {
        let removed: Vec<DevId> = std::mem::take(&mut self.removing).into_iter().collect();
        for &id in &removed {
            if let Some(slot) = self.devs.get_mut(usize::from(id)) {
                *slot = None;
            }
        }
        while self.devs.last().is_some_and(Option::is_none) {
            self.devs.pop();
        }
        removed
    }
}

/// The device for one more replica of a partition whose other replicas sit
/// at `others`, chosen top-down through the tier tree.
fn place(tree: &TierTree, load: &Load, others: &[&[usize; LEVELS]]) -> Option<DevId> {
    let mut node = ROOT;
    for depth in 1..LEVELS {
        let mut best: Option<(usize, (bool, bool, f64))> = None;
        for &child in &tree.nodes[node].children {
            let tier = &tree.nodes[child];
            let used = others.iter().filter(|p| p[depth] == child).count();
            if used >= tier.devices {
                continue; // every device below already holds this partition
            }
            let key = (used < tier.floor(), used < tier.ceil(), load.wanted(child));
            let better = match &best {
                None => true,
                Some((_, b)) => {
                    (key.0, key.1) > (b.0, b.1) || ((key.0, key.1) == (b.0, b.1) && key.2 > b.2)
                }
            };
            if better {
                best = Some((child, key));
            }
        }
        node = best?.0;
    }
    Some(tree.nodes[node].dev)
}
