//! The io_uring back-end: one I/O thread per device owns a ring and keeps
//! many reads and writes in flight; the commit thread has a second ring so a
//! group commit can sync many files in parallel and chain write → fdatasync.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use io_uring::{opcode, squeue, types, IoUring};
use tokio::sync::oneshot;

use super::io::{DiskIo, IoFuture};

const RING_ENTRIES: u32 = 256;

enum Op {
    /// Fills `buf[done..]` from `offset + done - start`.
    Read {
        file: Arc<File>,
        offset: u64,
        buf: Vec<u8>,
        start: usize,
        done: usize,
        reply: oneshot::Sender<io::Result<Vec<u8>>>,
    },
    Write {
        file: Arc<File>,
        offset: u64,
        buf: Bytes,
        done: usize,
        reply: oneshot::Sender<io::Result<()>>,
    },
}

pub struct UringIo {
    ops: Mutex<mpsc::Sender<Op>>,
    commit_ring: Mutex<IoUring>,
}

impl std::fmt::Debug for UringIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UringIo")
    }
}

impl UringIo {
    pub fn start(device: &str) -> io::Result<Self> {
        let ring = IoUring::new(RING_ENTRIES)?;
        let commit_ring = IoUring::new(RING_ENTRIES)?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("uring-{device}"))
            .spawn(move || io_thread(ring, rx))?;
        Ok(UringIo {
            ops: Mutex::new(tx),
            commit_ring: Mutex::new(commit_ring),
        })
    }

    fn send(&self, op: Op) {
        // A send only fails once the I/O thread is gone; the dropped reply
        // sender then surfaces as an error to the caller.
        if let Ok(tx) = self.ops.lock() {
            let _ = tx.send(op);
        }
    }
}

fn closed() -> io::Error {
    io::Error::other("io_uring thread stopped")
}

impl DiskIo for UringIo {
    fn name(&self) -> &'static str {
        "io_uring"
    }

    fn read_into(
        &self,
        file: Arc<File>,
        offset: u64,
        buf: Vec<u8>,
        start: usize,
    ) -> IoFuture<Vec<u8>> {
        let (reply, rx) = oneshot::channel();
        let start = start.min(buf.len());
        self.send(Op::Read {
            file,
            offset,
            buf,
            start,
            done: start,
            reply,
        });
        Box::pin(async move { rx.await.map_err(|_| closed())? })
    }

    fn write_at(&self, file: Arc<File>, offset: u64, buf: Bytes) -> IoFuture<()> {
        let (reply, rx) = oneshot::channel();
        self.send(Op::Write {
            file,
            offset,
            buf,
            done: 0,
            reply,
        });
        Box::pin(async move { rx.await.map_err(|_| closed())? })
    }

    fn commit(&self, first: &[&File], log: &File, offset: u64, bufs: &[&[u8]]) -> io::Result<()> {
        let mut ring = self.commit_ring.lock().map_err(|_| closed())?;
        // All the large files sync in parallel: one round trip, not one per file.
        for chunk in first.chunks(RING_ENTRIES as usize) {
            for (i, f) in chunk.iter().enumerate() {
                let sqe = opcode::Fsync::new(types::Fd(f.as_raw_fd()))
                    .flags(types::FsyncFlags::DATASYNC)
                    .build()
                    .user_data(i as u64);
                push(&mut ring, &sqe)?;
            }
            wait_all(&mut ring, chunk.len())?;
        }
        // Then the log: the writes and the fdatasync as one linked chain.
        let mut at = offset;
        let n = bufs.len().min(RING_ENTRIES as usize - 1);
        let (linked, rest) = bufs.split_at(n);
        for b in linked {
            let sqe = opcode::Write::new(types::Fd(log.as_raw_fd()), b.as_ptr(), b.len() as u32)
                .offset(at)
                .build()
                .flags(squeue::Flags::IO_LINK)
                .user_data(0);
            push(&mut ring, &sqe)?;
            at += b.len() as u64;
        }
        if rest.is_empty() {
            let sqe = opcode::Fsync::new(types::Fd(log.as_raw_fd()))
                .flags(types::FsyncFlags::DATASYNC)
                .build()
                .user_data(1);
            push(&mut ring, &sqe)?;
        }
        let expected: Vec<usize> = linked.iter().map(|b| b.len()).collect();
        let results = wait_all(&mut ring, n + usize::from(rest.is_empty()));
        let short = match &results {
            Ok(r) => r
                .iter()
                .take(n)
                .zip(&expected)
                .any(|(got, want)| *got as usize != *want),
            Err(_) => true,
        };
        if short || !rest.is_empty() {
            // A short write cancels the rest of the chain; finish plainly.
            let mut at = offset;
            for b in bufs {
                log.write_all_at(b, at)?;
                at += b.len() as u64;
            }
            log.sync_data()?;
        }
        Ok(())
    }
}

fn push(ring: &mut IoUring, sqe: &squeue::Entry) -> io::Result<()> {
    loop {
        // SAFETY: every buffer and fd an entry points at outlives its
        // completion: the callers wait for all completions before returning.
        if unsafe { ring.submission().push(sqe) }.is_ok() {
            return Ok(());
        }
        ring.submit()?;
    }
}

/// Waits for `n` completions; errors on the first failed one.
fn wait_all(ring: &mut IoUring, n: usize) -> io::Result<Vec<i32>> {
    let mut results = Vec::with_capacity(n);
    let mut first_err = None;
    while results.len() < n {
        ring.submit_and_wait(1)?;
        for cqe in ring.completion() {
            let r = cqe.result();
            if r < 0 && first_err.is_none() {
                first_err = Some(io::Error::from_raw_os_error(-r));
            }
            results.push(r);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(results),
    }
}

fn io_thread(mut ring: IoUring, rx: mpsc::Receiver<Op>) {
    let mut inflight: HashMap<u64, Op> = HashMap::new();
    let mut next_id = 0u64;
    loop {
        if inflight.is_empty() {
            match rx.recv() {
                Ok(op) => submit(&mut ring, &mut inflight, &mut next_id, op),
                Err(_) => return,
            }
        }
        while inflight.len() < RING_ENTRIES as usize {
            match rx.try_recv() {
                Ok(op) => submit(&mut ring, &mut inflight, &mut next_id, op),
                Err(_) => break,
            }
        }
        if let Err(e) = ring.submit_and_wait(1) {
            if e.kind() != io::ErrorKind::Interrupted {
                tracing::error!(error = %e, "io_uring submit failed");
                for (_, op) in inflight.drain() {
                    fail(op, io::Error::new(e.kind(), e.to_string()));
                }
            }
            continue;
        }
        let done: Vec<(u64, i32)> = ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        for (id, res) in done {
            let Some(op) = inflight.remove(&id) else {
                continue;
            };
            if res < 0 {
                fail(op, io::Error::from_raw_os_error(-res));
                continue;
            }
            match op {
                Op::Read {
                    file,
                    offset,
                    buf,
                    start,
                    done,
                    reply,
                } => {
                    let done = done + res as usize;
                    if done == buf.len() {
                        let _ = reply.send(Ok(buf));
                    } else if res == 0 {
                        let _ = reply.send(Err(io::ErrorKind::UnexpectedEof.into()));
                    } else {
                        submit(
                            &mut ring,
                            &mut inflight,
                            &mut next_id,
                            Op::Read {
                                file,
                                offset,
                                buf,
                                start,
                                done,
                                reply,
                            },
                        );
                    }
                }
                Op::Write {
                    file,
                    offset,
                    buf,
                    done,
                    reply,
                } => {
                    let done = done + res as usize;
                    if done == buf.len() {
                        let _ = reply.send(Ok(()));
                    } else if res == 0 {
                        let _ = reply.send(Err(io::ErrorKind::WriteZero.into()));
                    } else {
                        submit(
                            &mut ring,
                            &mut inflight,
                            &mut next_id,
                            Op::Write {
                                file,
                                offset,
                                buf,
                                done,
                                reply,
                            },
                        );
                    }
                }
            }
        }
    }
}

fn fail(op: Op, e: io::Error) {
    match op {
        Op::Read { reply, .. } => drop(reply.send(Err(e))),
        Op::Write { reply, .. } => drop(reply.send(Err(e))),
    }
}

fn submit(ring: &mut IoUring, inflight: &mut HashMap<u64, Op>, next_id: &mut u64, mut op: Op) {
    let id = *next_id;
    *next_id += 1;
    let sqe = match &mut op {
        Op::Read {
            file,
            offset,
            buf,
            start,
            done,
            ..
        } => {
            let rest = &mut buf[*done..];
            opcode::Read::new(
                types::Fd(file.as_raw_fd()),
                rest.as_mut_ptr(),
                rest.len() as u32,
            )
            .offset(*offset + (*done - *start) as u64)
            .build()
        }
        Op::Write {
            file,
            offset,
            buf,
            done,
            ..
        } => {
            let rest = &buf[*done..];
            opcode::Write::new(
                types::Fd(file.as_raw_fd()),
                rest.as_ptr(),
                rest.len() as u32,
            )
            .offset(*offset + *done as u64)
            .build()
        }
    }
    .user_data(id);
    // The op (and so its buffer and file) stays in `inflight` until its
    // completion arrives; a Vec's heap buffer does not move with the Vec.
    if let Err(e) = push(ring, &sqe) {
        fail(op, e);
        return;
    }
    inflight.insert(id, op);
}
