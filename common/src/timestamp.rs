//! Swift timestamps: `1700000000.12345`, optionally `_<16 hex>` offset.
//!
//! They order every write to an object, container or account (last write
//! wins), so they are parsed strictly and compared as integers, never floats.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Ticks of 10 µs since the epoch plus Swift's tie-breaking offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    pub ticks: u64,
    pub offset: u64,
}

const TICKS_PER_SEC: u64 = 100_000;
/// Swift refuses timestamps at or beyond 10^10 seconds (ten integer digits).
const MAX_SECS: u64 = 9_999_999_999;

impl Timestamp {
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            ticks: d.as_secs() * TICKS_PER_SEC + u64::from(d.subsec_micros() / 10),
            offset: 0,
        }
    }

    /// Parses `secs[.frac][_offset]`; fractions beyond 5 digits are rounded
    /// as Swift does.
    pub fn parse(s: &str) -> Option<Self> {
        let (num, offset) = match s.split_once('_') {
            Some((n, o)) if !o.is_empty() && o.len() <= 16 => (n, u64::from_str_radix(o, 16).ok()?),
            Some(_) => return None,
            None => (s, 0),
        };
        let (secs, frac) = num.split_once('.').unwrap_or((num, ""));
        if secs.is_empty() || secs.len() > 10 || !secs.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 20 {
            return None;
        }
        let secs: u64 = secs.parse().ok()?;
        let mut ticks_frac = 0u64;
        for (i, b) in frac.bytes().take(5).enumerate() {
            ticks_frac += u64::from(b - b'0') * 10u64.pow(4 - i as u32);
        }
        if frac.len() > 5 && frac.as_bytes()[5] >= b'5' {
            ticks_frac += 1;
        }
        let ticks = secs.checked_mul(TICKS_PER_SEC)?.checked_add(ticks_frac)?;
        if ticks > MAX_SECS * TICKS_PER_SEC + (TICKS_PER_SEC - 1) {
            return None;
        }
        Some(Timestamp { ticks, offset })
    }

    /// Whole seconds, rounded up, as Swift does for `Last-Modified`.
    pub fn ceil_secs(self) -> u64 {
        self.ticks.div_ceil(TICKS_PER_SEC)
    }

    pub fn secs(self) -> u64 {
        self.ticks / TICKS_PER_SEC
    }

    pub fn http_date(self) -> String {
        httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(self.ceil_secs()))
    }

    /// ISO 8601 with microseconds, as listings show `last_modified`.
    pub fn iso8601(self) -> String {
        let secs = self.secs() as i64;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
            (self.ticks % TICKS_PER_SEC) * 10
        )
    }

    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ticks.to_be_bytes());
        b[8..].copy_from_slice(&self.offset.to_be_bytes());
        b
    }

    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        Some(Timestamp {
            ticks: u64::from_be_bytes(b.get(..8)?.try_into().ok()?),
            offset: u64::from_be_bytes(b.get(8..16)?.try_into().ok()?),
        })
    }
}

/// Now, in unix microseconds.
pub fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// `2026-11-23T15:00:00.000000Z` for a time in unix microseconds.
pub fn iso8601_micros(unix_us: u64) -> String {
    let secs = (unix_us / 1_000_000) as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        unix_us % 1_000_000
    )
}

/// Unix seconds of an ISO 8601 UTC time: `YYYY-MM-DDTHH:MM:SS` with an
/// optional fraction and an optional `Z` or `+00:00`, or `YYYYMMDDTHHMMSSZ`.
pub fn parse_iso8601(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s
        .strip_suffix('Z')
        .or_else(|| s.strip_suffix("+00:00"))
        .unwrap_or(s);
    let s = s.split_once('.').map_or(s, |(whole, frac)| {
        if frac.bytes().all(|b| b.is_ascii_digit()) {
            whole
        } else {
            ""
        }
    });
    let digits: String = s.chars().filter(|c| !matches!(c, '-' | ':')).collect();
    let (date, time) = digits.split_once('T')?;
    if date.len() != 8
        || time.len() != 6
        || !(date.bytes().chain(time.bytes())).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let num = |s: &str| s.parse::<u32>().ok();
    let (y, mo, d) = (num(&date[..4])?, num(&date[4..6])?, num(&date[6..])?);
    let (h, mi, se) = (num(&time[..2])?, num(&time[2..4])?, num(&time[4..])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + se);
    u64::try_from(secs).ok()
}

/// Howard Hinnant's civil-to-days conversion.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:010}.{:05}",
            self.ticks / TICKS_PER_SEC,
            self.ticks % TICKS_PER_SEC
        )?;
        if self.offset > 0 {
            write!(f, "_{:016x}", self.offset)?;
        }
        Ok(())
    }
}

/// Stored and sent as Swift's string form, so records stay readable.
impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&s).ok_or_else(|| serde::de::Error::custom("bad timestamp"))
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn iso8601_round_trip() {
        let us = 1_795_000_123_456_789;
        let text = iso8601_micros(us);
        assert_eq!(text, "2026-11-18T11:08:43.456789Z");
        assert_eq!(parse_iso8601(&text), Some(us / 1_000_000));
        assert_eq!(parse_iso8601("2026-11-18T11:08:43"), Some(us / 1_000_000));
        assert_eq!(parse_iso8601("20261118T110843Z"), Some(us / 1_000_000));
        assert_eq!(parse_iso8601("1970-01-01T00:00:00+00:00"), Some(0));
        for bad in [
            "",
            "2026-13-01T00:00:00",
            "2026-11-18",
            "x026-11-18T11:08:43",
            "2026-11-18T11:08:43.x",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_normalises() {
        let t = Timestamp::parse("1700000000.12345").unwrap();
        assert_eq!(t.to_string(), "1700000000.12345");
        assert_eq!(
            Timestamp::parse("1700000000").unwrap().to_string(),
            "1700000000.00000"
        );
        assert_eq!(
            Timestamp::parse("1.5").unwrap().to_string(),
            "0000000001.50000"
        );
        assert_eq!(
            Timestamp::parse("1.123456").unwrap().to_string(),
            "0000000001.12346"
        );
        assert_eq!(
            Timestamp::parse("1700000000.00001_000000000000000a")
                .unwrap()
                .to_string(),
            "1700000000.00001_000000000000000a"
        );
        for bad in [
            "",
            "abc",
            "-1",
            "1e5",
            "1.2.3",
            "12345678901",
            "1_",
            "1_xyz",
            " 1",
            "1.x",
        ] {
            assert!(Timestamp::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn dates() {
        let t = Timestamp::parse("1700000000.5").unwrap();
        assert_eq!(t.iso8601(), "2023-11-14T22:13:20.500000");
        assert_eq!(t.http_date(), "Tue, 14 Nov 2023 22:13:21 GMT");
    }

    proptest! {
        #[test]
        fn roundtrip_and_order(a in 0u64..999_999_999_999_999, b in 0u64..999_999_999_999_999) {
            let ta = Timestamp { ticks: a, offset: 0 };
            let tb = Timestamp { ticks: b, offset: 0 };
            prop_assert_eq!(Timestamp::parse(&ta.to_string()), Some(ta));
            prop_assert_eq!(ta.cmp(&tb), ta.to_string().cmp(&tb.to_string()));
            prop_assert_eq!(Timestamp::from_bytes(&ta.to_bytes()), Some(ta));
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = Timestamp::parse(&s);
        }
    }
}
