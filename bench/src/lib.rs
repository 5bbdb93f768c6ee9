//! Workloads shared by Stratus's benchmarks. Criterion benches live in
//! `benches/`, peer comparisons in the scripts beside this crate.

pub mod load;
pub mod protocol;
pub use stratus_common::sigv4;
pub mod workload;

use stratus_ring::{NewDevice, RingBuilder, RingError};

/// A builder with `regions × zones × devices` devices of equal weight, one
/// host per zone, as in the benchmark `part_power 20, 3 replicas, 3 regions
/// × 4 zones × 10 devices`.
pub fn cluster_builder(
    part_power: u8,
    replicas: f64,
    regions: u32,
    zones: u32,
    devices: u32,
) -> Result<RingBuilder, RingError> {
    let mut b = RingBuilder::new(part_power, replicas, 1, [7; 16])?;
    for r in 1..=regions {
        for z in 1..=zones {
            for d in 0..devices {
                b.add_dev(NewDevice {
                    id: None,
                    region: r,
                    zone: z,
                    ip: format!("10.{r}.{z}.1"),
                    port: 6200,
                    replication_ip: None,
                    replication_port: None,
                    device: format!("d{d}"),
                    weight: 100.0,
                    meta: String::new(),
                })?;
            }
        }
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn builds_the_requested_topology() {
        let b = super::cluster_builder(4, 3.0, 3, 4, 10).unwrap();
        assert_eq!(b.devices().count(), 120);
    }
}
