//! Fernet tokens: the token itself carries who, what scope and until when,
//! encrypted (AES-128-CBC) and authenticated (HMAC-SHA256) per the Fernet
//! spec, so no token is ever stored. Keys live in a repository directory
//! as Keystone keeps them: `0` is the staged key, the highest number the
//! primary that encrypts, every key decrypts; rotation promotes the staged
//! key and drops the oldest beyond `max_active_keys`.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key repository {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key repository {0}: no keys (run `stratus identity fernet-setup`)")]
    Empty(PathBuf),
    #[error("key file {0}: not a Fernet key")]
    BadKey(PathBuf),
    #[error("no randomness: {0}")]
    Random(String),
}

/// A 32-byte Fernet key: signing half, then encryption half.
#[derive(Clone)]
struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

fn random<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(b)
}

/// The key repository, loaded into memory; `primary` encrypts.
#[derive(Debug)]
pub struct Keys {
    dir: PathBuf,
    /// Highest number first.
    keys: RwLock<Vec<(u32, Key)>>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_key(path: &Path) -> Result<(), KeyError> {
    let text = URL_SAFE.encode(random::<32>()?);
    stratus_common::fs::write_secret(path, text.as_bytes()).map_err(io(path))
}

fn read_dir_keys(dir: &Path) -> Result<Vec<(u32, Key)>, KeyError> {
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let Some(n) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let raw = URL_SAFE
            .decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| KeyError::BadKey(path.clone()))?;
        keys.push((n, Key(raw)));
    }
    keys.sort_by_key(|k| std::cmp::Reverse(k.0));
    Ok(keys)
}

impl Keys {
    /// Creates the repository with a staged and a primary key if it has none.
    pub fn setup(dir: &Path) -> Result<(), KeyError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        if read_dir_keys(dir)?.is_empty() {
            write_key(&dir.join("0"))?;
            write_key(&dir.join("1"))?;
        }
        Ok(())
    }

    pub fn load(dir: &Path) -> Result<Keys, KeyError> {
        let keys = read_dir_keys(dir)?;
        if keys.is_empty() {
            return Err(KeyError::Empty(dir.into()));
        }
        Ok(Keys {
            dir: dir.into(),
            keys: RwLock::new(keys),
        })
    }

    /// Rereads the directory (after a rotation by another process).
    pub fn reload(&self) -> Result<(), KeyError> {
        let keys = read_dir_keys(&self.dir)?;
        if keys.is_empty() {
            return Err(KeyError::Empty(self.dir.clone()));
        }
        if let Ok(mut k) = self.keys.write() {
            *k = keys;
        }
        Ok(())
    }

    /// Keystone's rotation: staged `0` becomes the new primary (max + 1), a
    /// new staged key is made, and the oldest secondaries beyond
    /// `max_active` keys are removed.
    pub fn rotate(dir: &Path, max_active: usize) -> Result<(), KeyError> {
        Keys::setup(dir)?;
        let keys = read_dir_keys(dir)?;
        let next = keys.first().map_or(1, |k| k.0 + 1);
        let staged = dir.join("0");
        std::fs::rename(&staged, dir.join(next.to_string())).map_err(io(&staged))?;
        write_key(&staged)?;
        let mut numbers: Vec<u32> = read_dir_keys(dir)?.iter().map(|k| k.0).collect();
        numbers.retain(|n| *n != 0);
        numbers.sort_unstable_by(|a, b| b.cmp(a));
        // The staged key counts as one of the active keys.
        for old in numbers.iter().skip(max_active.max(2) - 1) {
            let p = dir.join(old.to_string());
            std::fs::remove_file(&p).map_err(io(&p))?;
        }
        Ok(())
    }

    /// Encrypts `payload` with the primary key into a token string.
    pub fn seal(&self, payload: &[u8], now_secs: u64) -> Result<String, KeyError> {
        let keys = self
            .keys
            .read()
            .map_err(|_| KeyError::Random("lock poisoned".into()))?;
        let (_, key) = keys
            .first()
            .ok_or_else(|| KeyError::Empty(self.dir.clone()))?;
        let iv = random::<16>()?;
        let enc = cbc::Encryptor::<aes::Aes128>::new((&key.0[16..]).into(), (&iv).into());
        let ct = enc.encrypt_padded_vec_mut::<Pkcs7>(payload);
        let mut msg = Vec::with_capacity(25 + ct.len() + 32);
        msg.push(0x80);
        msg.extend_from_slice(&now_secs.to_be_bytes());
        msg.extend_from_slice(&iv);
        msg.extend_from_slice(&ct);
        let mut mac = HmacSha256::new_from_slice(&key.0[..16])
            .map_err(|_| KeyError::Random("hmac".into()))?;
        mac.update(&msg);
        msg.extend_from_slice(&mac.finalize().into_bytes());
        // Keystone strips the padding; it is restored when reading.
        Ok(URL_SAFE_NO_PAD.encode(msg))
    }

    /// The payload of a token sealed by any active key; None if forged,
    /// damaged or sealed by a key no longer in the repository.
    pub fn open(&self, token: &str) -> Option<Vec<u8>> {
        if token.len() > 1024 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
        if raw.len() < 1 + 8 + 16 + 16 + 32 || raw[0] != 0x80 || (raw.len() - 57) % 16 != 0 {
            return None;
        }
        let (msg, tag) = raw.split_at(raw.len() - 32);
        let keys = self.keys.read().ok()?;
        keys.iter().find_map(|(_, key)| {
            let mut mac = HmacSha256::new_from_slice(&key.0[..16]).ok()?;
            mac.update(msg);
            // verify_slice compares in constant time.
            mac.verify_slice(tag).ok()?;
            let dec = cbc::Decryptor::<aes::Aes128>::new((&key.0[16..]).into(), msg[9..25].into());
            dec.decrypt_padded_vec_mut::<Pkcs7>(&msg[25..]).ok()
        })
    }
}

/// What a token says, in its encrypted payload (format version 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub user_id: String,
    pub methods: Vec<Method>,
    pub scope: Scope,
    pub issued_us: u64,
    pub expires_us: u64,
    /// This token's audit id, then the one of the token it was made from.
    pub audit_ids: Vec<[u8; 16]>,
    pub app_cred_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Password,
    Token,
    AppCredential,
    /// A signature made with an EC2 secret (`/v3/s3tokens`).
    Ec2Credential,
}

impl Method {
    pub const ALL: [Method; 4] = [
        Method::Password,
        Method::Token,
        Method::AppCredential,
        Method::Ec2Credential,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Password => "password",
            Method::Token => "token",
            Method::AppCredential => "application_credential",
            Method::Ec2Credential => "ec2credential",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Method::Password => 1,
            Method::Token => 2,
            Method::AppCredential => 4,
            Method::Ec2Credential => 8,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Unscoped,
    Project(String),
    Domain(String),
    System,
}

const PAYLOAD_VERSION: u8 = 1;

fn put_id(out: &mut Vec<u8>, id: &str) {
    match hex::decode(id) {
        Ok(raw) if raw.len() == 16 && id.bytes().all(|b| !b.is_ascii_uppercase()) => {
            out.push(0);
            out.extend_from_slice(&raw);
        }
        _ => {
            let b = &id.as_bytes()[..id.len().min(255)];
            out.push(1);
            out.push(b.len() as u8);
            out.extend_from_slice(b);
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn id(&mut self) -> Option<String> {
        match self.u8()? {
            0 => Some(hex::encode(self.take(16)?)),
            1 => {
                let n = usize::from(self.u8()?);
                String::from_utf8(self.take(n)?.to_vec()).ok()
            }
            _ => None,
        }
    }
}

impl Payload {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![PAYLOAD_VERSION];
        out.push(self.methods.iter().fold(0, |m, x| m | x.bit()));
        put_id(&mut out, &self.user_id);
        match &self.scope {
            Scope::Unscoped => out.push(0),
            Scope::Project(p) => {
                out.push(1);
                put_id(&mut out, p);
            }
            Scope::Domain(d) => {
                out.push(2);
                put_id(&mut out, d);
            }
            Scope::System => out.push(3),
        }
        out.extend_from_slice(&self.issued_us.to_be_bytes());
        out.extend_from_slice(&self.expires_us.to_be_bytes());
        out.push(self.audit_ids.len().min(2) as u8);
        for a in self.audit_ids.iter().take(2) {
            out.extend_from_slice(a);
        }
        match &self.app_cred_id {
            None => out.push(0),
            Some(id) => {
                out.push(1);
                put_id(&mut out, id);
            }
        }
        out
    }

    pub fn decode(b: &[u8]) -> Option<Payload> {
        let mut r = Reader(b);
        if r.u8()? != PAYLOAD_VERSION {
            return None;
        }
        let bits = r.u8()?;
        let methods = Method::ALL
            .into_iter()
            .filter(|m| bits & m.bit() != 0)
            .collect();
        let user_id = r.id()?;
        let scope = match r.u8()? {
            0 => Scope::Unscoped,
            1 => Scope::Project(r.id()?),
            2 => Scope::Domain(r.id()?),
            3 => Scope::System,
            _ => return None,
        };
        let issued_us = r.u64()?;
        let expires_us = r.u64()?;
        let n = r.u8()?;
        let mut audit_ids = Vec::new();
        for _ in 0..n.min(2) {
            audit_ids.push(r.take(16)?.try_into().ok()?);
        }
        let app_cred_id = match r.u8()? {
            0 => None,
            1 => Some(r.id()?),
            _ => return None,
        };
        r.0.is_empty().then_some(Payload {
            user_id,
            methods,
            scope,
            issued_us,
            expires_us,
            audit_ids,
            app_cred_id,
        })
    }
}

/// An audit id as the API shows it (URL-safe base64, no padding).
pub fn audit_text(a: &[u8; 16]) -> String {
    URL_SAFE_NO_PAD.encode(a)
}

pub fn new_audit_id() -> Result<[u8; 16], KeyError> {
    random::<16>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        Keys::setup(dir.path()).unwrap();
        let keys = Keys::load(dir.path()).unwrap();
        let t = keys.seal(b"hello payload", 1_700_000_000).unwrap();
        assert_eq!(keys.open(&t).unwrap(), b"hello payload");
        assert!(!t.contains('='));
        let mut raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
        for i in [0, 5, 12, 30, raw.len() - 1] {
            raw[i] ^= 1;
            assert!(
                keys.open(&URL_SAFE_NO_PAD.encode(&raw)).is_none(),
                "flip at {i}"
            );
            raw[i] ^= 1;
        }
        assert!(keys.open("").is_none());
        assert!(keys.open("not a token").is_none());
        assert!(keys.open(&t[..t.len() - 4]).is_none());
    }

    #[test]
    fn rotation_keeps_recent_keys() {
        let dir = tempfile::tempdir().unwrap();
        Keys::setup(dir.path()).unwrap();
        let before = Keys::load(dir.path()).unwrap();
        let old = before.seal(b"x", 1).unwrap();
        Keys::rotate(dir.path(), 3).unwrap();
        let after = Keys::load(dir.path()).unwrap();
        assert_eq!(after.open(&old).unwrap(), b"x", "secondary still decrypts");
        let newer = after.seal(b"y", 1).unwrap();
        // The new primary was the staged key every node already had.
        assert_eq!(before.open(&newer).unwrap(), b"y");
        Keys::rotate(dir.path(), 3).unwrap();
        Keys::rotate(dir.path(), 3).unwrap();
        let latest = Keys::load(dir.path()).unwrap();
        assert!(
            latest.open(&old).is_none(),
            "oldest key dropped after rotations"
        );
        let mut names: Vec<u32> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, vec![0, 3, 4]);
    }

    #[test]
    fn payload_round_trip() {
        let p = Payload {
            user_id: "0123456789abcdef0123456789abcdef".into(),
            methods: vec![Method::Password, Method::AppCredential],
            scope: Scope::Project("default".into()),
            issued_us: 1,
            expires_us: 2,
            audit_ids: vec![[7; 16], [8; 16]],
            app_cred_id: Some("ABCDEF".into()),
        };
        let b = p.encode();
        assert_eq!(Payload::decode(&b), Some(p.clone()));
        for n in 0..b.len() {
            assert_eq!(Payload::decode(&b[..n]), None);
        }
        let mut longer = b.clone();
        longer.push(0);
        assert_eq!(Payload::decode(&longer), None);
        for scope in [Scope::Unscoped, Scope::System, Scope::Domain("d".into())] {
            let q = Payload {
                scope,
                app_cred_id: None,
                ..p.clone()
            };
            assert_eq!(Payload::decode(&q.encode()), Some(q));
        }
    }

    proptest::proptest! {
        #[test]
        fn payload_decoder_never_panics(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100)) {
            let _ = Payload::decode(&b);
        }

        #[test]
        fn garbage_never_opens(s in "\\PC{0,200}") {
            let dir = tempfile::tempdir().unwrap();
            Keys::setup(dir.path()).unwrap();
            let keys = Keys::load(dir.path()).unwrap();
            proptest::prop_assert!(keys.open(&s).is_none());
        }
    }
}
