//! Human-readable reports, laid out like swift-ring-builder's.

use std::io::{self, Write};
use std::path::Path;

use stratus_ring::{display_ip, Device, Ring, RingBuilder};

pub(super) fn summary(
    builder_path: &Path,
    ring_path: &Path,
    b: &RingBuilder,
    now: u64,
    out: &mut dyn Write,
) -> io::Result<()> {
    let devs: Vec<&Device> = b.devices().collect();
    let count = |f: &dyn Fn(&Device) -> String| {
        let mut v: Vec<String> = devs.iter().map(|d| f(d)).collect();
        v.sort();
        v.dedup();
        v.len()
    };
    let regions = count(&|d| d.region.to_string());
    let zones = count(&|d| format!("{}/{}", d.region, d.zone));
    let dispersion = if b.is_rebalanced() {
        b.dispersion().dispersion
    } else {
        0.0
    };
    writeln!(
        out,
        "{}, build version {}",
        builder_path.display(),
        b.version()
    )?;
    writeln!(
        out,
        "{} partitions, {:.6} replicas, {regions} regions, {zones} zones, {} devices, {:.2} balance, {dispersion:.2} dispersion",
        b.parts(),
        b.replicas(),
        devs.len(),
        b.balance()
    )?;
    let left = b.min_part_seconds_left(now);
    writeln!(
        out,
        "The minimum number of hours before a partition can be reassigned is {} ({}:{:02}:{:02} remaining)",
        b.min_part_hours(),
        left / 3600,
        left / 60 % 60,
        left % 60
    )?;
    writeln!(
        out,
        "The overload factor is {:.2}% ({:.6})",
        b.overload() * 100.0,
        b.overload()
    )?;
    writeln!(out, "{}", ring_status(ring_path, b))?;
    if !devs.is_empty() {
        devices(b, &devs, out)?;
    }
    Ok(())
}

fn ring_status(ring_path: &Path, b: &RingBuilder) -> String {
    let name = ring_path.display();
    let Ok(bytes) = std::fs::read(ring_path) else {
        return format!("Ring file {name} not found, probably it hasn't been written yet");
    };
    let current = b.to_ring().map(|r| r.to_bytes()).ok();
    match Ring::from_bytes(&bytes) {
        Err(e) => format!("Ring file {name} is invalid: {e}"),
        Ok(_) if current.as_deref() == Some(&bytes[..]) => {
            format!("Ring file {name} is up-to-date")
        }
        Ok(_) => format!("Ring file {name} is obsolete"),
    }
}

pub(super) fn devices(b: &RingBuilder, devs: &[&Device], out: &mut dyn Write) -> io::Result<()> {
    let parts = b.parts_per_device();
    writeln!(
        out,
        "Devices:   id region zone {:>21} {:>21} {:>10} {:>8} {:>10} {:>8} flags meta",
        "ip address:port", "replication ip:port", "name", "weight", "partitions", "balance"
    )?;
    for d in devs {
        let held = parts.get(usize::from(d.id)).copied().unwrap_or(0);
        writeln!(
            out,
            "         {:>4} {:>6} {:>4} {:>21} {:>21} {:>10} {:>8.2} {:>10} {:>8.2} {:>5} {}",
            d.id,
            d.region,
            d.zone,
            format!("{}:{}", display_ip(&d.ip), d.port),
            format!("{}:{}", display_ip(&d.replication_ip), d.replication_port),
            d.device,
            d.weight,
            held,
            b.device_balance(d.id, held),
            if b.is_removing(d.id) { "DEL" } else { "" },
            d.meta
        )?;
    }
    Ok(())
}

pub(super) fn dispersion(b: &RingBuilder, verbose: bool, out: &mut dyn Write) -> io::Result<()> {
    if !b.is_rebalanced() {
        return writeln!(out, "The builder has not been rebalanced yet.");
    }
    let report = b.dispersion();
    writeln!(
        out,
        "Dispersion is {:.6}, Balance is {:.6}, Overload is {:.2}%",
        report.dispersion,
        b.balance(),
        b.overload() * 100.0
    )?;
    writeln!(
        out,
        "{} of {} partitions have more replicas in some tier than dispersion allows",
        report.parts_at_risk,
        b.parts()
    )?;
    writeln!(
        out,
        "{:<32} {:>7} {:>8} {:>9}  replicas→partitions",
        "Tier", "Level", "Max", "Over"
    )?;
    for t in report.tiers.iter().filter(|t| verbose || t.parts_over > 0) {
        let histogram: Vec<String> = t.histogram.iter().map(usize::to_string).collect();
        writeln!(
            out,
            "{:<32} {:>7} {:>8} {:>9}  {}",
            t.tier,
            t.level,
            t.max_replicas,
            t.parts_over,
            histogram.join(" ")
        )?;
    }
    Ok(())
}
