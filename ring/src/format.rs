//! Versioned binary formats of ring and builder files.
//!
//! Both files are `magic (8) | format version u16 | reserved u16 |
//! payload length u64 | payload | crc32c u32` in little-endian. The checksum
//! covers everything before it, so a truncated, padded or corrupted file is
//! refused before any field is trusted.

use crate::builder::{row_lengths, RingBuilder};
use crate::device::NO_DEV;
use crate::ring::Ring;
use crate::{DevId, Device, MAX_DEVICES, MAX_PART_POWER};

const RING_MAGIC: &[u8; 8] = b"STRRING\0";
const BUILDER_MAGIC: &[u8; 8] = b"STRBLDR\0";
/// Version of both formats written by this code.
const FORMAT_VERSION: u16 = 1;
const HEADER_LEN: usize = 8 + 2 + 2 + 8;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FormatError {
    #[error("not a {0} file (bad magic)")]
    BadMagic(&'static str),
    #[error("{kind} file format version {version} is not supported (this build reads version {FORMAT_VERSION})")]
    UnsupportedVersion { kind: &'static str, version: u16 },
    #[error("file is truncated or has trailing bytes ({0} bytes)")]
    BadLength(usize),
    #[error("checksum mismatch: the file is corrupt")]
    BadChecksum,
    #[error("corrupt file: {0}")]
    Corrupt(String),
}

impl Ring {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u64(self.version);
        w.u8(self.part_power);
        w.f64(self.replicas);
        w.bytes(&self.hasher.key());
        w.devices(&self.devs);
        w.u8(self.slots as u8);
        w.dev_ids(&self.part2dev);
        seal(RING_MAGIC, w.0)
    }

    pub fn from_bytes(data: &[u8]) -> Result<Ring, FormatError> {
        let mut r = Reader::new(unseal("ring", RING_MAGIC, data)?);
        let version = r.u64()?;
        let part_power = r.part_power()?;
        let replicas = r.replicas()?;
        let hash_key = r.array::<16>()?;
        let devs = r.devices()?;
        let slots = usize::from(r.u8()?);
        if slots != row_lengths(replicas, 1 << part_power).len() {
            return Err(corrupt("replica slots do not match the replica count"));
        }
        let part2dev = r.dev_ids(&devs)?;
        if part2dev.len() != slots << part_power {
            return Err(corrupt("assignment table has the wrong size"));
        }
        r.finish()?;
        Ok(Ring::new(
            version, part_power, replicas, hash_key, devs, slots, part2dev,
        ))
    }
}

impl RingBuilder {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.bytes(&self.hash_key);
        w.u64(self.version);
        w.u8(self.part_power);
        w.f64(self.replicas);
        w.u8(self.min_part_hours);
        w.f64(self.overload);
        w.u64(self.last_part_moves_epoch);
        w.u8(u8::from(self.devs_changed));
        w.devices(&self.devs);
        w.dev_ids(&self.removing.iter().copied().collect::<Vec<_>>());
        w.u8(self.rows.len() as u8);
        for row in &self.rows {
            w.dev_ids(row);
        }
        w.u32(self.last_part_moves.len() as u32);
        w.bytes(&self.last_part_moves);
        seal(BUILDER_MAGIC, w.0)
    }

    pub fn from_bytes(data: &[u8]) -> Result<RingBuilder, FormatError> {
        let mut r = Reader::new(unseal("builder", BUILDER_MAGIC, data)?);
        let hash_key = r.array::<16>()?;
        let version = r.u64()?;
        let part_power = r.part_power()?;
        let replicas = r.replicas()?;
        let min_part_hours = r.u8()?;
        let overload = r.f64()?;
        if !overload.is_finite() || overload < 0.0 {
            return Err(corrupt("bad overload"));
        }
        let last_part_moves_epoch = r.u64()?;
        let devs_changed = r.u8()? != 0;
        let devs = r.devices()?;
        let removing = r.dev_ids(&devs)?.into_iter().collect();
        let parts = 1usize << part_power;
        let rows: Vec<Vec<DevId>> = (0..r.u8()?)
            .map(|_| r.dev_ids(&devs))
            .collect::<Result<_, _>>()?;
        let lens: Vec<usize> = rows.iter().map(Vec::len).collect();
        if lens != row_lengths(replicas, parts) {
            return Err(corrupt("assignment rows do not match the replica count"));
        }
        let moves_len = r.u32()? as usize;
        if moves_len != parts {
            return Err(corrupt("last_part_moves has the wrong size"));
        }
        let last_part_moves = r.take(moves_len)?.to_vec();
        r.finish()?;
        Ok(RingBuilder {
            hash_key,
            version,
            part_power,
            replicas,
            min_part_hours,
            overload,
            devs,
            removing,
            rows,
            last_part_moves,
            last_part_moves_epoch,
            devs_changed,
        })
    }
}

fn corrupt(what: &str) -> FormatError {
    FormatError::Corrupt(what.to_string())
}

fn seal(magic: &[u8; 8], payload: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + 4);
    out.extend_from_slice(magic);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks magic, version, length and checksum; returns the payload.
fn unseal<'a>(
    kind: &'static str,
    magic: &[u8; 8],
    data: &'a [u8],
) -> Result<&'a [u8], FormatError> {
    if data.len() < 8 || &data[..8] != magic {
        return Err(FormatError::BadMagic(kind));
    }
    if data.len() < HEADER_LEN + 4 {
        return Err(FormatError::BadLength(data.len()));
    }
    let version = u16::from_le_bytes([data[8], data[9]]);
    if version != FORMAT_VERSION {
        return Err(FormatError::UnsupportedVersion { kind, version });
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&data[12..20]);
    let payload_len = u64::from_le_bytes(len);
    if payload_len != (data.len() - HEADER_LEN - 4) as u64 {
        return Err(FormatError::BadLength(data.len()));
    }
    let (body, crc) = data.split_at(data.len() - 4);
    if crc32c::crc32c(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(FormatError::BadChecksum);
    }
    Ok(&body[HEADER_LEN..])
}

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.bytes(s.as_bytes());
    }
    fn dev_ids(&mut self, ids: &[DevId]) {
        self.u32(ids.len() as u32);
        self.0.reserve(ids.len() * 2);
        for &id in ids {
            self.u16(id);
        }
    }
    fn devices(&mut self, devs: &[Option<Device>]) {
        self.u32(devs.len() as u32);
        for d in devs {
            let Some(d) = d else {
                self.u8(0);
                continue;
            };
            self.u8(1);
            self.u32(d.region);
            self.u32(d.zone);
            self.str(&d.ip);
            self.u16(d.port);
            self.str(&d.replication_ip);
            self.u16(d.replication_port);
            self.str(&d.device);
            self.f64(d.weight);
            self.str(&d.meta);
        }
    }
}

struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if n > self.data.len() {
            return Err(corrupt("field runs past the end"));
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn f64(&mut self) -> Result<f64, FormatError> {
        Ok(f64::from_le_bytes(self.array()?))
    }
    fn str(&mut self) -> Result<String, FormatError> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| corrupt("string is not UTF-8"))
    }
    fn part_power(&mut self) -> Result<u8, FormatError> {
        let pp = self.u8()?;
        if pp > MAX_PART_POWER {
            return Err(corrupt("part power out of range"));
        }
        Ok(pp)
    }
    fn replicas(&mut self) -> Result<f64, FormatError> {
        let r = self.f64()?;
        if !r.is_finite() || !(1.0..=255.0).contains(&r) {
            return Err(corrupt("replica count out of range"));
        }
        Ok(r)
    }
    /// Device ids, each of which must name a device (or be "none").
    fn dev_ids(&mut self, devs: &[Option<Device>]) -> Result<Vec<DevId>, FormatError> {
        let len = self.u32()? as usize;
        let raw = self.take(len.checked_mul(2).ok_or_else(|| corrupt("length"))?)?;
        let ids: Vec<DevId> = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let known =
            |id: DevId| id == NO_DEV || devs.get(usize::from(id)).is_some_and(Option::is_some);
        if !ids.iter().all(|&id| known(id)) {
            return Err(corrupt("assignment names a device that does not exist"));
        }
        Ok(ids)
    }
    fn devices(&mut self) -> Result<Vec<Option<Device>>, FormatError> {
        let count = self.u32()? as usize;
        if count > MAX_DEVICES {
            return Err(corrupt("too many devices"));
        }
        let mut devs = Vec::with_capacity(count);
        for id in 0..count {
            if self.u8()? == 0 {
                devs.push(None);
                continue;
            }
            let dev = Device {
                id: id as DevId,
                region: self.u32()?,
                zone: self.u32()?,
                ip: self.str()?,
                port: self.u16()?,
                replication_ip: self.str()?,
                replication_port: self.u16()?,
                device: self.str()?,
                weight: self.f64()?,
                meta: self.str()?,
            };
            dev.validate()
                .map_err(|e| FormatError::Corrupt(format!("device {id}: {e}")))?;
            devs.push(Some(dev));
        }
        Ok(devs)
    }
    fn finish(self) -> Result<(), FormatError> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(corrupt("trailing bytes after the last field"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_single_byte_flip_is_detected() {
        let payload = b"hello ring".to_vec();
        let sealed = seal(RING_MAGIC, payload.clone());
        assert_eq!(unseal("ring", RING_MAGIC, &sealed).unwrap(), &payload[..]);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x40;
            assert!(unseal("ring", RING_MAGIC, &bad).is_err(), "flip at {i}");
        }
        for cut in 0..sealed.len() {
            assert!(unseal("ring", RING_MAGIC, &sealed[..cut]).is_err());
        }
    }

    #[test]
    fn a_builder_file_is_not_a_ring_file() {
        let sealed = seal(BUILDER_MAGIC, vec![1, 2, 3]);
        assert_eq!(
            unseal("ring", RING_MAGIC, &sealed),
            Err(FormatError::BadMagic("ring"))
        );
    }

    #[test]
    fn future_versions_are_refused_clearly() {
        let mut sealed = seal(RING_MAGIC, vec![]);
        sealed[8] = 9;
        let err = unseal("ring", RING_MAGIC, &sealed).unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
    }
}
