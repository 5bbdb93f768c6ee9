//! Ring lookup and rebalance speed.
//!
//! `cargo bench -p stratus-bench --bench ring`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use stratus_bench::cluster_builder;
use stratus_ring::{Path, RebalanceOptions};

fn lookup(c: &mut Criterion) {
    let mut b = cluster_builder(20, 3.0, 3, 4, 10).expect("builder");
    b.rebalance(RebalanceOptions { seed: 1, now: 0 })
        .expect("rebalance");
    let ring = b.to_ring().expect("ring");
    let names: Vec<String> = (0..4096).map(|i| format!("object-{i:08}")).collect();
    let mut group = c.benchmark_group("ring");
    group.throughput(Throughput::Elements(names.len() as u64));
    group.bench_function("get_nodes/part_power_20/4096_lookups", |bench| {
        bench.iter(|| {
            let mut sum = 0u32;
            for n in &names {
                let (part, mut devs) = ring.get_nodes(Path::Object("AUTH_test", "photos", n));
                sum = sum.wrapping_add(part) ^ u32::from(devs.next().map_or(0, |d| d.id));
            }
            black_box(sum)
        });
    });
    group.finish();
}

fn rebalance(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let fresh = cluster_builder(20, 3.0, 3, 4, 10).expect("builder");
    group.bench_function("rebalance/part_power_20/120_devices", |bench| {
        bench.iter_batched(
            || fresh.clone(),
            |mut b| {
                b.rebalance(RebalanceOptions { seed: 1, now: 0 })
                    .expect("rebalance")
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, lookup, rebalance);
criterion_main!(benches);
