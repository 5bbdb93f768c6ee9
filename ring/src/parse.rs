//! swift-ring-builder's compact device syntax, so operators' habits and
//! scripts carry over:
//! - add value:    `[r<region>]z<zone>-<ip>:<port>[R<ip>:<port>]/<device>[_<meta>]`
//! - search value: `[d<id>][r<region>][z<zone>][-<ip>][:<port>][R<ip>][:<port>][/<device>][_<meta>]`
//! - change value: `[<ip>][:<port>][R<ip>][:<port>][/<device>][_<meta>]`
//!
//! IPv6 addresses go in brackets: `z1-[::1]:6200/d1`.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::{DevId, Device, NewDevice, RingError};

/// A device filter; every field that is set must match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchValue {
    pub id: Option<DevId>,
    pub region: Option<u32>,
    pub zone: Option<u32>,
    pub ip: Option<String>,
    pub port: Option<u16>,
    pub replication_ip: Option<String>,
    pub replication_port: Option<u16>,
    pub device: Option<String>,
    /// Matches devices whose meta contains this text.
    pub meta: Option<String>,
}

/// New addresses, name or meta for a device; unset fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangeValue {
    pub ip: Option<String>,
    pub port: Option<u16>,
    pub replication_ip: Option<String>,
    pub replication_port: Option<u16>,
    pub device: Option<String>,
    pub meta: Option<String>,
}

/// Parses `r1z2-10.0.0.1:6200R10.1.0.1:6300/sdb1_meta` with its weight.
pub fn parse_add_value(value: &str, weight: f64) -> Result<NewDevice, RingError> {
    let mut c = Cursor::new("device", value);
    let region = if c.eat('r') { c.number("region")? } else { 1 };
    if !c.eat('z') {
        return Err(c.error("expected z<zone> after the region"));
    }
    let zone = c.number("zone")?;
    if !c.eat('-') {
        return Err(c.error("expected -<ip> after the zone"));
    }
    let ip = c.ip()?;
    if !c.eat(':') {
        return Err(c.error("expected :<port> after the ip"));
    }
    let port = c.number("port")?;
    let (mut replication_ip, mut replication_port) = (None, None);
    if c.eat('R') {
        replication_ip = Some(c.ip()?);
        if !c.eat(':') {
            return Err(c.error("expected :<port> after the replication ip"));
        }
        replication_port = Some(c.number("replication port")?);
    }
    if !c.eat('/') {
        return Err(c.error("expected /<device name>"));
    }
    let device = c.device_name()?;
    let meta = if c.eat('_') { c.rest() } else { String::new() };
    Ok(NewDevice {
        id: None,
        region,
        zone,
        ip,
        port,
        replication_ip,
        replication_port,
        device,
        weight,
        meta,
    })
}

impl SearchValue {
    /// Parses `d3`, `r1z2`, `z1-10.0.0.1:6200/sdb1`, `10.0.0.1`, `/sdb1` …
    pub fn parse(value: &str) -> Result<SearchValue, RingError> {
        let mut c = Cursor::new("search value", value);
        let mut s = SearchValue::default();
        if c.eat('d') {
            s.id = Some(c.number("device id")?);
        }
        if c.eat('r') {
            s.region = Some(c.number("region")?);
        }
        if c.eat('z') {
            s.zone = Some(c.number("zone")?);
        }
        let had_dash = c.eat('-');
        if had_dash || c.starts_ip() {
            s.ip = Some(c.ip()?);
        }
        if c.eat(':') {
            s.port = Some(c.number("port")?);
        }
        if c.eat('R') {
            s.replication_ip = Some(c.ip()?);
            if c.eat(':') {
                s.replication_port = Some(c.number("replication port")?);
            }
        }
        if c.eat('/') {
            s.device = Some(c.device_name()?);
        }
        if c.eat('_') {
            s.meta = Some(c.rest());
        }
        if !c.is_done() {
            return Err(c.error("unexpected text"));
        }
        if s == SearchValue::default() {
            return Err(c.error("matches every device; name at least one field"));
        }
        Ok(s)
    }

    pub fn matches(&self, d: &Device) -> bool {
        fn eq<T: PartialEq>(want: &Option<T>, have: &T) -> bool {
            want.as_ref().is_none_or(|w| w == have)
        }
        eq(&self.id, &d.id)
            && eq(&self.region, &d.region)
            && eq(&self.zone, &d.zone)
            && eq(&self.ip, &d.ip)
            && eq(&self.port, &d.port)
            && eq(&self.replication_ip, &d.replication_ip)
            && eq(&self.replication_port, &d.replication_port)
            && eq(&self.device, &d.device)
            && self
                .meta
                .as_ref()
                .is_none_or(|m| d.meta.contains(m.as_str()))
    }
}

/// Parses `10.0.0.2:6201R10.1.0.2:6301/sdc1_new meta`; every part optional.
pub fn parse_change_value(value: &str) -> Result<ChangeValue, RingError> {
    let mut c = Cursor::new("change value", value);
    let mut v = ChangeValue::default();
    if c.starts_ip() {
        v.ip = Some(c.ip()?);
    }
    if c.eat(':') {
        v.port = Some(c.number("port")?);
    }
    if c.eat('R') {
        if c.starts_ip() {
            v.replication_ip = Some(c.ip()?);
        }
        if c.eat(':') {
            v.replication_port = Some(c.number("replication port")?);
        }
    }
    if c.eat('/') {
        v.device = Some(c.device_name()?);
    }
    if c.eat('_') {
        v.meta = Some(c.rest());
    }
    if !c.is_done() {
        return Err(c.error("unexpected text"));
    }
    if v == ChangeValue::default() {
        return Err(c.error("changes nothing"));
    }
    Ok(v)
}

impl ChangeValue {
    pub(crate) fn apply(&self, d: &mut Device) {
        let set = |dst: &mut String, src: &Option<String>| {
            if let Some(s) = src {
                dst.clone_from(s);
            }
        };
        set(&mut d.ip, &self.ip);
        set(&mut d.replication_ip, &self.replication_ip);
        set(&mut d.device, &self.device);
        set(&mut d.meta, &self.meta);
        d.port = self.port.unwrap_or(d.port);
        d.replication_port = self.replication_port.unwrap_or(d.replication_port);
    }
}

struct Cursor<'a> {
    what: &'static str,
    whole: &'a str,
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn new(what: &'static str, whole: &'a str) -> Self {
        Cursor {
            what,
            whole,
            rest: whole,
        }
    }

    fn error(&self, reason: &str) -> RingError {
        RingError::Parse {
            what: self.what,
            value: self.whole.to_string(),
            reason: reason.to_string(),
        }
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    fn is_done(&self) -> bool {
        self.rest.is_empty()
    }

    fn rest(&mut self) -> String {
        std::mem::take(&mut self.rest).to_string()
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let end = self.rest.find(|c| !keep(c)).unwrap_or(self.rest.len());
        let (head, tail) = self.rest.split_at(end);
        self.rest = tail;
        head
    }

    fn number<T: FromStr>(&mut self, what: &str) -> Result<T, RingError> {
        let digits = self.take_while(|c| c.is_ascii_digit());
        digits
            .parse()
            .map_err(|_| self.error(&format!("{what} must be a number in range")))
    }

    fn starts_ip(&self) -> bool {
        self.rest
            .starts_with(|c: char| c.is_ascii_digit() || c == '[' || c.is_ascii_lowercase())
    }

    /// An IPv4 address, a bracketed IPv6 address or a host name.
    fn ip(&mut self) -> Result<String, RingError> {
        if self.eat('[') {
            let inner = self.take_while(|c| c != ']');
            if !self.eat(']') || inner.parse::<Ipv6Addr>().is_err() {
                return Err(self.error("bad IPv6 address (use [addr])"));
            }
            return Ok(inner.to_string());
        }
        let host =
            self.take_while(|c| c.is_ascii_alphanumeric() && c != 'R' || c == '.' || c == '-');
        let looks_v4 = host.chars().all(|c| c.is_ascii_digit() || c == '.');
        let valid = if looks_v4 {
            Ipv4Addr::from_str(host).is_ok()
        } else {
            !host.is_empty()
                && host.len() <= 253
                && !host.starts_with(['-', '.'])
                && !host.ends_with(['-', '.'])
        };
        if !valid {
            return Err(self.error("bad ip address or host name"));
        }
        Ok(host.to_ascii_lowercase())
    }

    fn device_name(&mut self) -> Result<String, RingError> {
        let name = self.take_while(|c| c != '_' && c != '/' && !c.is_whitespace());
        if name.is_empty() || name == "." || name == ".." {
            return Err(self.error("bad device name"));
        }
        Ok(name.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn add_value_full_form() {
        let d = parse_add_value("r2z3-10.0.0.1:6200R10.1.0.1:6300/sdb1_fast ssd", 100.0).unwrap();
        assert_eq!((d.region, d.zone, d.port), (2, 3, 6200));
        assert_eq!(d.ip, "10.0.0.1");
        assert_eq!(d.replication_ip.as_deref(), Some("10.1.0.1"));
        assert_eq!(d.replication_port, Some(6300));
        assert_eq!((d.device.as_str(), d.meta.as_str()), ("sdb1", "fast ssd"));
    }

    #[test]
    fn add_value_defaults_region_and_takes_ipv6_and_hosts() {
        let d = parse_add_value("z1-[::1]:6200/d1", 1.0).unwrap();
        assert_eq!((d.region, d.ip.as_str()), (1, "::1"));
        let d = parse_add_value("r1z1-node-1.example:6200/d1", 1.0).unwrap();
        assert_eq!(d.ip, "node-1.example");
    }

    #[test]
    fn add_value_errors_are_clear() {
        for bad in [
            "",
            "r1-127.0.0.1:6200/d1",
            "r1z1-127.0.0.1/d1",
            "r1z1-127.0.0.1:99999/d1",
            "r1z1-300.1.1.1:6200/d1",
            "r1z1-[zz]:6200/d1",
            "r1z1-127.0.0.1:6200",
            "r1z1-127.0.0.1:6200/",
            "rxz1-127.0.0.1:6200/d1",
        ] {
            let err = parse_add_value(bad, 1.0).unwrap_err().to_string();
            assert!(err.contains("invalid device"), "{bad}: {err}");
        }
    }

    #[test]
    fn search_values() {
        let s = SearchValue::parse("d7").unwrap();
        assert_eq!(s.id, Some(7));
        let s = SearchValue::parse("r1z2-10.0.0.1:6200/sdb1_ssd").unwrap();
        assert_eq!(
            (
                s.region,
                s.zone,
                s.ip.as_deref(),
                s.port,
                s.device.as_deref(),
                s.meta.as_deref()
            ),
            (
                Some(1),
                Some(2),
                Some("10.0.0.1"),
                Some(6200),
                Some("sdb1"),
                Some("ssd")
            )
        );
        assert_eq!(
            SearchValue::parse("10.0.0.1").unwrap().ip.as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            SearchValue::parse("/sdb1").unwrap().device.as_deref(),
            Some("sdb1")
        );
        assert!(SearchValue::parse("").is_err());
        assert!(SearchValue::parse("d1 junk").is_err());
    }

    #[test]
    fn change_values() {
        let c = parse_change_value("10.0.0.9:7000R10.1.0.9:7001/sdz_new").unwrap();
        assert_eq!(c.ip.as_deref(), Some("10.0.0.9"));
        assert_eq!((c.port, c.replication_port), (Some(7000), Some(7001)));
        assert_eq!(
            (c.device.as_deref(), c.meta.as_deref()),
            (Some("sdz"), Some("new"))
        );
        assert_eq!(parse_change_value(":7000").unwrap().port, Some(7000));
        assert!(parse_change_value("").is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,40}") {
            let _ = parse_add_value(&s, 1.0);
            let _ = SearchValue::parse(&s);
            let _ = parse_change_value(&s);
        }

        #[test]
        fn add_values_round_trip_through_their_label(
            region in 0u32..1000, zone in 0u32..1000,
            ip in (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()),
            port in 1u16.., name in "[a-z0-9]{1,12}",
        ) {
            let ip = format!("{}.{}.{}.{}", ip.0, ip.1, ip.2, ip.3);
            let text = format!("r{region}z{zone}-{ip}:{port}/{name}");
            let d = parse_add_value(&text, 1.0).unwrap().into_device(0);
            prop_assert_eq!(d.label(), text);
        }
    }
}
