//! `stratus ring <builder> <command> …`: swift-ring-builder's commands,
//! arguments and exit codes (0 done, 1 warning, 2 error) over our builder.
//! A command that fails changes no file; files are replaced atomically.

mod args;
mod show;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use stratus_common::fs::write_atomic;
use stratus_ring::{
    parse_change_value, DevId, RebalanceOptions, RingBuilder, RingError, SearchValue,
};

use args::Args;

/// swift-ring-builder's exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Warning = 1,
    Error = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CmdError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Ring(#[from] RingError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Warning(String),
}

fn usage(msg: impl Into<String>) -> CmdError {
    CmdError::Usage(msg.into())
}

/// Runs one ring command, printing results to `out` and errors to stderr.
pub fn run(builder: &Path, args: &[String], out: &mut dyn Write) -> Exit {
    match dispatch(builder, args, out) {
        Ok(exit) => exit,
        Err(CmdError::Warning(msg)) => {
            let _ = writeln!(out, "{msg}");
            Exit::Warning
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Error
        }
    }
}

fn dispatch(path: &Path, args: &[String], out: &mut dyn Write) -> Result<Exit, CmdError> {
    let Some((command, rest)) = args.split_first() else {
        let b = load(path)?;
        show::summary(path, &ring_path(path), &b, now(), out).map_err(|e| io_err(path, e))?;
        return Ok(Exit::Success);
    };
    let mut a = Args::new(rest);
    let exit = match command.as_str() {
        "create" => create(path, &mut a)?,
        "add" => edit(path, |b| add(b, &mut a, out))?,
        "remove" => edit(path, |b| {
            for_each_search(b, &mut a, out, "removal", |b, id| b.remove_dev(id))
        })?,
        "set_weight" => edit(path, |b| set_weight(b, &mut a, out))?,
        "set_info" => edit(path, |b| set_info(b, &mut a, out))?,
        "set_overload" => edit(path, |b| {
            let text = a.positional("overload")?;
            let value = parse_percent(&text)?;
            b.set_overload(value)?;
            say(
                out,
                &format!(
                    "The overload factor is now {:.2}% ({value:.6})",
                    value * 100.0
                ),
            )
        })?,
        "set_min_part_hours" => edit(path, |b| {
            let hours = a.number::<u32>("hours")?;
            b.set_min_part_hours(hours)?;
            say(out, &format!("The minimum number of hours before a partition can be reassigned is now set to {hours}"))
        })?,
        "set_replicas" => edit(path, |b| {
            let replicas = a.number::<f64>("replicas")?;
            b.set_replicas(replicas)?;
            say(out, &format!("The replica count is now {replicas:.6}.\nThe change will take effect after the next rebalance."))
        })?,
        "pretend_min_part_hours_passed" => edit(path, |b| {
            b.pretend_min_part_hours_passed();
            Ok(())
        })?,
        "rebalance" => rebalance(path, &mut a, out)?,
        "dispersion" => {
            let verbose = a.flag("--verbose");
            let b = load(path)?;
            a.finish()?;
            show::dispersion(&b, verbose, out).map_err(|e| io_err(path, e))?;
            Exit::Success
        }
        "search" => {
            let b = load(path)?;
            let value = SearchValue::parse(&a.positional("search value")?)?;
            a.finish()?;
            let found = b.search(&value);
            if found.is_empty() {
                return Err(CmdError::Warning("No matching devices found".into()));
            }
            show::devices(&b, &found, out).map_err(|e| io_err(path, e))?;
            Exit::Success
        }
        "write_ring" => {
            a.finish()?;
            write_ring(path, &load(path)?)?;
            Exit::Success
        }
        "validate" => {
            a.finish()?;
            let b = load(path)?;
            b.to_ring()?;
            Exit::Success
        }
        other => {
            return Err(usage(format!(
                "unknown command {other:?}; see `stratus ring --help`"
            )))
        }
    };
    Ok(exit)
}

fn create(path: &Path, a: &mut Args) -> Result<Exit, CmdError> {
    let part_power = a.number::<u8>("part_power")?;
    let replicas = a.number::<f64>("replicas")?;
    let min_part_hours = a.number::<u32>("min_part_hours")?;
    let key = match a.option("--hash-key")? {
        Some(hex) => parse_key(&hex)?,
        None => random_bytes()?,
    };
    a.finish()?;
    let b = RingBuilder::new(part_power, replicas, min_part_hours, key)?;
    save(path, &b)?;
    Ok(Exit::Success)
}

/// Loads the builder, applies `f`, and saves only if `f` succeeded.
fn edit(
    path: &Path,
    f: impl FnOnce(&mut RingBuilder) -> Result<(), CmdError>,
) -> Result<Exit, CmdError> {
    let mut b = load(path)?;
    f(&mut b)?;
    save(path, &b)?;
    Ok(Exit::Success)
}

fn add(b: &mut RingBuilder, a: &mut Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let devices = if a.peek().is_some_and(|s| s.starts_with("--")) {
        vec![args::new_device_from_flags(a)?]
    } else {
        let mut devs = Vec::new();
        while a.peek().is_some() {
            let value = a.positional("device")?;
            let weight = a.number::<f64>("weight")?;
            devs.push(stratus_ring::parse_add_value(&value, weight)?);
        }
        devs
    };
    if devices.is_empty() {
        return Err(usage(
            "add needs <device> <weight> (or --region … --weight)",
        ));
    }
    a.finish()?;
    for dev in devices {
        let id = b.add_dev(dev)?;
        if let Some(d) = b.device(id) {
            say(
                out,
                &format!("Device {} with {} weight got id {id}", d.label(), d.weight),
            )?;
        }
    }
    Ok(())
}

fn set_weight(b: &mut RingBuilder, a: &mut Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let mut pairs = Vec::new();
    if let Some(value) = a.search_from_flags()? {
        pairs.push((
            value,
            a.option_number::<f64>("--weight")?
                .ok_or_else(|| usage("--weight is required"))?,
        ));
    }
    while a.peek().is_some() {
        let value = SearchValue::parse(&a.positional("search value")?)?;
        pairs.push((value, a.number::<f64>("weight")?));
    }
    a.finish()?;
    if pairs.is_empty() {
        return Err(usage("set_weight needs <search-value> <weight>"));
    }
    for (value, weight) in pairs {
        for id in matching(b, &value)? {
            b.set_dev_weight(id, weight)?;
            say(out, &format!("{} weight set to {weight}", describe(b, id)))?;
        }
    }
    Ok(())
}

fn set_info(b: &mut RingBuilder, a: &mut Args, out: &mut dyn Write) -> Result<(), CmdError> {
    let value = SearchValue::parse(&a.positional("search value")?)?;
    let change = parse_change_value(&a.positional("change value")?)?;
    a.finish()?;
    let ids = matching(b, &value)?;
    if ids.len() > 1 && change.device.is_some() {
        return Err(usage("refusing to give several devices the same name"));
    }
    for id in ids {
        let before = describe(b, id);
        b.set_dev_info(id, &change)?;
        say(out, &format!("Device {before} is now {}", describe(b, id)))?;
    }
    Ok(())
}

/// Applies `f` to every device matched by each search value argument.
fn for_each_search(
    b: &mut RingBuilder,
    a: &mut Args,
    out: &mut dyn Write,
    what: &str,
    f: impl Fn(&mut RingBuilder, DevId) -> Result<(), RingError>,
) -> Result<(), CmdError> {
    let mut values: Vec<SearchValue> = a.search_from_flags()?.into_iter().collect();
    while a.peek().is_some() {
        values.push(SearchValue::parse(&a.positional("search value")?)?);
    }
    a.finish()?;
    if values.is_empty() {
        return Err(usage("needs at least one <search-value>"));
    }
    for value in values {
        for id in matching(b, &value)? {
            let label = describe(b, id);
            f(b, id)?;
            say(out, &format!("{label} marked for {what}"))?;
        }
    }
    Ok(())
}

fn rebalance(path: &Path, a: &mut Args, out: &mut dyn Write) -> Result<Exit, CmdError> {
    let seed = match a.option_number::<u64>("--seed")? {
        Some(s) => s,
        None => u64::from_le_bytes(random_bytes::<8>()?),
    };
    a.finish()?;
    let mut b = load(path)?;
    let devs_changed = b.devs_changed();
    let was_rebalanced = b.is_rebalanced();
    let report = b.rebalance(RebalanceOptions { seed, now: now() })?;
    if report.parts_moved == 0 && !devs_changed && was_rebalanced {
        return Err(CmdError::Warning(format!(
            "No partitions could be reassigned.\nEither none need to be or none can be due to min_part_hours [{}].",
            b.min_part_hours()
        )));
    }
    save(path, &b)?;
    write_ring(path, &b)?;
    let balance = b.balance();
    let dispersion = b.dispersion().dispersion;
    say(
        out,
        &format!(
            "Reassigned {} ({:.2}%) partitions. Balance is now {balance:.2}.  Dispersion is now {dispersion:.2}",
            report.parts_moved,
            100.0 * report.parts_moved as f64 / b.parts() as f64
        ),
    )?;
    if balance > 5.0 && balance / 100.0 > b.overload() {
        say(out, &format!(
            "NOTE: Balance of {balance:.2} indicates you should push this\n      ring, wait at least {} hours, and rebalance/repush.",
            b.min_part_hours()
        ))?;
        return Ok(Exit::Warning);
    }
    Ok(Exit::Success)
}

fn matching(b: &RingBuilder, value: &SearchValue) -> Result<Vec<DevId>, CmdError> {
    let ids: Vec<DevId> = b.search(value).iter().map(|d| d.id).collect();
    if ids.is_empty() {
        return Err(usage(format!("search value {value:?} matches no devices")));
    }
    Ok(ids)
}

fn describe(b: &RingBuilder, id: DevId) -> String {
    b.device(id)
        .map(|d| format!("d{id}{}_\"{}\"", d.label(), d.meta))
        .unwrap_or_default()
}

fn say(out: &mut dyn Write, line: &str) -> Result<(), CmdError> {
    writeln!(out, "{line}").map_err(|e| io_err(Path::new("stdout"), e))
}

fn load(path: &Path) -> Result<RingBuilder, CmdError> {
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
    RingBuilder::from_bytes(&bytes).map_err(|e| usage(format!("{}: {e}", path.display())))
}

fn save(path: &Path, b: &RingBuilder) -> Result<(), CmdError> {
    write_atomic(path, &b.to_bytes()).map_err(|e| io_err(path, e))
}

fn write_ring(path: &Path, b: &RingBuilder) -> Result<(), CmdError> {
    let ring = ring_path(path);
    write_atomic(&ring, &b.to_ring()?.to_bytes()).map_err(|e| io_err(&ring, e))
}

/// `object.builder` → `object.ring`.
fn ring_path(builder: &Path) -> PathBuf {
    let stem = builder
        .to_string_lossy()
        .strip_suffix(".builder")
        .map(str::to_string)
        .unwrap_or_else(|| builder.to_string_lossy().into_owned());
    PathBuf::from(format!("{stem}.ring"))
}

fn io_err(path: &Path, source: std::io::Error) -> CmdError {
    CmdError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn random_bytes<const N: usize>() -> Result<[u8; N], CmdError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| usage(format!("no randomness available: {e}")))?;
    Ok(b)
}

/// `10`, `10%` (percent) or `0.1` (fraction), as swift-ring-builder takes overload.
fn parse_percent(text: &str) -> Result<f64, CmdError> {
    let (num, scale) = match text.strip_suffix('%') {
        Some(n) => (n, 0.01),
        None => (text, 1.0),
    };
    num.parse::<f64>()
        .map(|v| v * scale)
        .map_err(|_| usage(format!("invalid overload {text:?}")))
}

fn parse_key(hex: &str) -> Result<[u8; 16], CmdError> {
    let bad = || usage("--hash-key takes 32 hex digits");
    if hex.len() != 32 {
        return Err(bad());
    }
    let mut key = [0u8; 16];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
            .map_err(|_| bad())?;
    }
    Ok(key)
}
