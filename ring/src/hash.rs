//! Path hashing: which partition a name belongs to.
//!
//! The partition is the top `part_power` bits of SipHash-2-4 of the path,
//! keyed with the cluster's 128-bit hash key. Keying means a client that does
//! not know the key cannot choose names that all land in one partition.
//! SipHash-2-4 is a fixed specification, so placement is the same on every
//! machine and in every version of Stratus.

use std::hash::Hasher;

use siphasher::sip::SipHasher24;

/// The name of an account, a container or an object: what the ring places.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path<'a> {
    Account(&'a str),
    Container(&'a str, &'a str),
    Object(&'a str, &'a str, &'a str),
}

/// Keyed path hash of one cluster.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PathHasher {
    key: [u8; 16],
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for PathHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a cluster secret: never print it.
        f.write_str("PathHasher { .. }")
    }
}

impl PathHasher {
    pub fn new(key: [u8; 16]) -> Self {
        let (lo, hi) = key.split_at(8);
        let k0 = u64::from_le_bytes(lo.try_into().unwrap_or_default());
        let k1 = u64::from_le_bytes(hi.try_into().unwrap_or_default());
        PathHasher { key, k0, k1 }
    }

    pub fn key(&self) -> [u8; 16] {
        self.key
    }

    /// Hash of `/account[/container[/object]]`, hashed without building the
    /// string (SipHash streams, so the result equals hashing the joined path).
    pub fn hash(&self, path: Path<'_>) -> u64 {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        let mut part = |s: &str| {
            h.write(b"/");
            h.write(s.as_bytes());
        };
        match path {
            Path::Account(a) => part(a),
            Path::Container(a, c) => {
                part(a);
                part(c);
            }
            Path::Object(a, c, o) => {
                part(a);
                part(c);
                part(o);
            }
        }
        h.finish()
    }

    /// The partition of `path` in a ring of `2^part_power` partitions.
    #[inline]
    pub fn partition(&self, path: Path<'_>, part_power: u8) -> u32 {
        partition_of_hash(self.hash(path), part_power)
    }
}

/// Top `part_power` bits of `hash`; written so that part power 0 works.
#[inline]
pub(crate) fn partition_of_hash(hash: u64, part_power: u8) -> u32 {
    ((hash >> 1) >> (63 - u32::from(part_power))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(key: [u8; 16], msg: &[u8]) -> u64 {
        let h = PathHasher::new(key);
        let mut s = SipHasher24::new_with_keys(h.k0, h.k1);
        s.write(msg);
        s.finish()
    }

    fn test_key() -> [u8; 16] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn siphash_matches_the_reference_test_vector() {
        // From the SipHash paper (Aumasson & Bernstein), appendix A:
        // key 00..0f, message 00..0e.
        let msg: Vec<u8> = (0u8..15).collect();
        assert_eq!(sip(test_key(), &msg), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn path_hash_equals_hash_of_joined_path() {
        let h = PathHasher::new(test_key());
        assert_eq!(h.hash(Path::Account("AUTH_a")), sip(test_key(), b"/AUTH_a"));
        assert_eq!(
            h.hash(Path::Object("AUTH_a", "c", "o/x")),
            sip(test_key(), b"/AUTH_a/c/o/x")
        );
    }

    #[test]
    fn placement_is_pinned_across_versions() {
        // Changing this value silently moves every object of every cluster.
        let h = PathHasher::new(test_key());
        assert_eq!(h.partition(Path::Object("AUTH_test", "c", "o"), 16), {
            let v = sip(test_key(), b"/AUTH_test/c/o");
            (v >> 48) as u32
        });
        assert_eq!(partition_of_hash(u64::MAX, 0), 0);
        assert_eq!(partition_of_hash(u64::MAX, 1), 1);
        assert_eq!(partition_of_hash(u64::MAX, 32), u32::MAX);
        assert_eq!(partition_of_hash(1 << 63, 23), 1 << 22);
    }

    #[test]
    fn different_keys_place_differently() {
        let a = PathHasher::new(test_key());
        let b = PathHasher::new([7; 16]);
        let p = Path::Container("AUTH_a", "photos");
        assert_ne!(a.hash(p), b.hash(p));
    }

    #[test]
    fn debug_does_not_reveal_the_key() {
        let s = format!("{:?}", PathHasher::new([0xab; 16]));
        assert!(!s.contains("171") && !s.contains("ab"), "{s}");
    }
}
