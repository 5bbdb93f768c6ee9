//! Argument handling for ring commands: positionals in order, plus the
//! `--region/--zone/--ip/…` flag forms swift-ring-builder also accepts.

use std::str::FromStr;

use stratus_ring::{NewDevice, SearchValue};

use super::{usage, CmdError};

/// The device flags of `add`, `remove`, `set_weight` and `search`.
const DEVICE_FLAGS: [&str; 9] = [
    "--id",
    "--region",
    "--zone",
    "--ip",
    "--port",
    "--replication-ip",
    "--replication-port",
    "--device",
    "--meta",
];

pub(super) struct Args<'a> {
    rest: Vec<&'a str>,
}

impl<'a> Args<'a> {
    pub fn new(args: &'a [String]) -> Self {
        Args {
            rest: args.iter().map(String::as_str).collect(),
        }
    }

    pub fn peek(&self) -> Option<&str> {
        self.rest.first().copied()
    }

    pub fn positional(&mut self, what: &str) -> Result<String, CmdError> {
        match self.rest.first() {
            Some(s) if !s.starts_with("--") => Ok(self.rest.remove(0).to_string()),
            _ => Err(usage(format!("missing <{what}>"))),
        }
    }

    pub fn number<T: FromStr>(&mut self, what: &str) -> Result<T, CmdError> {
        let text = self.positional(what)?;
        text.parse()
            .map_err(|_| usage(format!("invalid <{what}>: {text:?}")))
    }

    /// Removes `--name value` (or `--name=value`) wherever it is.
    pub fn option(&mut self, name: &str) -> Result<Option<String>, CmdError> {
        let prefix = format!("{name}=");
        if let Some(i) = self.rest.iter().position(|a| a.starts_with(&prefix)) {
            let value = self.rest.remove(i)[prefix.len()..].to_string();
            return Ok(Some(value));
        }
        let Some(i) = self.rest.iter().position(|a| *a == name) else {
            return Ok(None);
        };
        if i + 1 >= self.rest.len() {
            return Err(usage(format!("{name} needs a value")));
        }
        let value = self.rest.remove(i + 1).to_string();
        self.rest.remove(i);
        Ok(Some(value))
    }

    pub fn option_number<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, CmdError> {
        self.option(name)?
            .map(|v| {
                v.parse()
                    .map_err(|_| usage(format!("invalid value for {name}: {v:?}")))
            })
            .transpose()
    }

    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|a| *a != name);
        self.rest.len() != before
    }

    /// A search value from device flags, if any were given.
    pub fn search_from_flags(&mut self) -> Result<Option<SearchValue>, CmdError> {
        if !self
            .rest
            .iter()
            .any(|a| DEVICE_FLAGS.iter().any(|f| a.starts_with(f)))
        {
            return Ok(None);
        }
        let s = SearchValue {
            id: self.option_number("--id")?,
            region: self.option_number("--region")?,
            zone: self.option_number("--zone")?,
            ip: self.option("--ip")?,
            port: self.option_number("--port")?,
            replication_ip: self.option("--replication-ip")?,
            replication_port: self.option_number("--replication-port")?,
            device: self.option("--device")?,
            meta: self.option("--meta")?,
        };
        Ok(Some(s))
    }

    /// Everything must have been consumed.
    pub fn finish(&self) -> Result<(), CmdError> {
        match self.rest.first() {
            None => Ok(()),
            Some(extra) => Err(usage(format!("unexpected argument {extra:?}"))),
        }
    }
}

/// `add --region 1 --zone 2 --ip 10.0.0.1 --port 6200 --device sdb --weight 100`.
pub(super) fn new_device_from_flags(a: &mut Args<'_>) -> Result<NewDevice, CmdError> {
    let required =
        |v: Option<String>, name: &str| v.ok_or_else(|| usage(format!("add needs {name}")));
    let id = a.option_number("--id")?;
    let region = a.option_number("--region")?.unwrap_or(1);
    let zone = a
        .option_number("--zone")?
        .ok_or_else(|| usage("add needs --zone"))?;
    let ip = required(a.option("--ip")?, "--ip")?;
    let port = a
        .option_number("--port")?
        .ok_or_else(|| usage("add needs --port"))?;
    let replication_ip = a.option("--replication-ip")?;
    let replication_port = a.option_number("--replication-port")?;
    let device = required(a.option("--device")?, "--device")?;
    let weight = a
        .option_number("--weight")?
        .ok_or_else(|| usage("add needs --weight"))?;
    let meta = a.option("--meta")?.unwrap_or_default();
    Ok(NewDevice {
        id,
        region,
        zone,
        ip: ip.trim_start_matches('[').trim_end_matches(']').to_string(),
        port,
        replication_ip,
        replication_port,
        device,
        weight,
        meta,
    })
}
