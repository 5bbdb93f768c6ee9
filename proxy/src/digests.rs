//! The MD5 (the ETag) and crc32c of an upload, computed once in the proxy.
//!
//! MD5 runs at about 600 MB/s here — slower than the rest of a large
//! upload's path — so past a few MiB it moves to a thread of its own and
//! overlaps with forwarding the body to the replicas instead of taking
//! turns with it.

use bytes::Bytes;
use md5::Digest;
use openssl::hash::{Hasher, MessageDigest};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Bytes hashed inline before the hashing moves to its own thread: small
/// uploads never pay for a thread hand-off.
const INLINE_BYTES: u64 = 4 << 20;

/// Frames queued for the hashing thread; bounds the memory it holds.
const QUEUE: usize = 16;

/// MD5 from OpenSSL (assembly: 762 MB/s here against md-5's 590), or
/// md-5 where OpenSSL will not hash MD5 (a FIPS-only configuration).
pub(crate) enum Md5 {
    OpenSsl(Hasher),
    Portable(md5::Md5),
    /// OpenSSL failed mid-stream; the digest is lost.
    Failed,
}

impl std::fmt::Debug for Md5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Md5")
    }
}

impl Md5 {
    fn new() -> Md5 {
        match Hasher::new(MessageDigest::md5()) {
            Ok(h) => Md5::OpenSsl(h),
            Err(_) => Md5::Portable(md5::Md5::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Md5::OpenSsl(h) => {
                if h.update(data).is_err() {
                    *self = Md5::Failed;
                }
            }
            Md5::Portable(h) => h.update(data),
            Md5::Failed => {}
        }
    }

    fn finish(self) -> Option<Vec<u8>> {
        match self {
            Md5::OpenSsl(mut h) => h.finish().ok().map(|d| d.to_vec()),
            Md5::Portable(h) => Some(h.finalize().to_vec()),
            Md5::Failed => None,
        }
    }
}

type State = (Md5, u32);

fn update(state: &mut State, data: &[u8]) {
    state.0.update(data);
    state.1 = crc32c::crc32c_append(state.1, data);
}

#[derive(Debug)]
pub(crate) enum Digests {
    Inline {
        state: State,
        seen: u64,
    },
    Thread {
        tx: mpsc::Sender<Bytes>,
        done: JoinHandle<State>,
    },
}

impl Default for Digests {
    fn default() -> Self {
        Digests::Inline {
            state: (Md5::new(), 0),
            seen: 0,
        }
    }
}

impl Digests {
    pub async fn update(&mut self, chunk: &Bytes) {
        match self {
            Digests::Inline { state, seen } => {
                update(state, chunk);
                *seen += chunk.len() as u64;
                if *seen >= INLINE_BYTES {
                    let mut state = std::mem::replace(state, (Md5::new(), 0));
                    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
                    let done = tokio::task::spawn_blocking(move || {
                        while let Some(data) = rx.blocking_recv() {
                            update(&mut state, &data);
                        }
                        state
                    });
                    *self = Digests::Thread { tx, done };
                }
            }
            Digests::Thread { tx, .. } => {
                // The thread only stops once `tx` is dropped.
                let _ = tx.send(chunk.clone()).await;
            }
        }
    }

    /// The body's MD5 (hex) and crc32c, once all of it went through
    /// `update`; None if the hashing failed.
    pub async fn finish(self) -> Option<(String, u32)> {
        let (md5, crc) = match self {
            Digests::Inline { state, .. } => state,
            Digests::Thread { tx, done } => {
                drop(tx);
                done.await.ok()?
            }
        };
        Some((hex::encode(md5.finish()?), crc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn inline_and_threaded_digests_match_the_whole() {
        for size in [0usize, 1000, INLINE_BYTES as usize + 12_345] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 253) as u8).collect();
            let mut d = Digests::default();
            for piece in data.chunks(100_000) {
                d.update(&Bytes::copy_from_slice(piece)).await;
            }
            let threaded = matches!(d, Digests::Thread { .. });
            assert_eq!(threaded, size as u64 >= INLINE_BYTES);
            let (md5, crc) = d.finish().await.unwrap();
            assert_eq!(md5, hex::encode(md5::Md5::digest(&data)));
            assert_eq!(crc, crc32c::crc32c(&data));
        }
    }
}
