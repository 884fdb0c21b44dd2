//! Write-behind: a write is acknowledged to the kernel as soon as it is
//! queued, and goes to the brick in the background, as the official
//! client's performance/write-behind does (we follow the volume's
//! write-behind settings: off, strict-O_DIRECT, flush-behind, window).
//!
//! The rules that keep this correct, per inode:
//! - writes whose ranges overlap are sent one after the other, in order
//!   (the brick runs requests concurrently); O_APPEND writes are ordered
//!   against everything;
//! - at most `window` bytes are in flight; the writer waits beyond that;
//! - anything that reads data or attributes of the inode (read, getattr,
//!   lookup, fsync, truncate, ...) first waits until its writes are done;
//! - a write that failed in the background fails the next write, fsync or
//!   flush of the inode (the error is reported once, as upstream).
//!
//! A global budget bounds the memory held by queued writes.

use client::{Ctx, Error, Fd, Gfid};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Notify, Semaphore};

/// Bytes of queued writes over all files (backpressure beyond that).
const GLOBAL_BUDGET: usize = 256 << 20;
/// The budget is counted in KiB so that it fits a semaphore's permits.
const UNIT: usize = 1024;

#[derive(Default)]
struct InodeState {
    /// In-flight writes: (id, start, end) with end exclusive.
    inflight: Vec<(u64, u64, u64)>,
    bytes: u64,
    next_id: u64,
    /// First background failure, reported once.
    error: Option<Error>,
}

#[derive(Default)]
struct InodeWb {
    state: Mutex<InodeState>,
    changed: Notify,
}

pub struct WriteBehind {
    window: u64,
    inodes: Mutex<HashMap<Gfid, Arc<InodeWb>>>,
    budget: Arc<Semaphore>,
}

impl WriteBehind {
    pub fn new(window: u64) -> WriteBehind {
        WriteBehind {
            window: window.max(1),
            inodes: Mutex::new(HashMap::new()),
            budget: Arc::new(Semaphore::new(GLOBAL_BUDGET / UNIT)),
        }
    }

    fn inode(&self, gfid: Gfid) -> Arc<InodeWb> {
        self.inodes.lock().entry(gfid).or_default().clone()
    }

    /// Queues a write and returns as soon as it may go out.
    pub async fn write(
        &self,
        fd: Fd,
        ctx: Ctx,
        offset: u64,
        data: bytes::Bytes,
        append: bool,
    ) -> Result<usize, Error> {
        let len = data.len();
        let units = len.div_ceil(UNIT).clamp(1, GLOBAL_BUDGET / UNIT) as u32;
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(units)
            .await
            .map_err(|_| Error::errno_msg(libc::EIO, "write-behind is shutting down"))?;
        let gfid = fd.gfid();
        let inode = self.inode(gfid);
        let (start, end) = if append {
            (0, u64::MAX)
        } else {
            (offset, offset.saturating_add(len as u64))
        };
        let id = loop {
            let changed = inode.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut st = inode.state.lock();
                if let Some(e) = st.error.take() {
                    return Err(e);
                }
                let overlaps = st.inflight.iter().any(|&(_, s, e)| s < end && start < e);
                let room = st.bytes == 0 || st.bytes + len as u64 <= self.window;
                if !overlaps && room {
                    let id = st.next_id;
                    st.next_id += 1;
                    st.inflight.push((id, start, end));
                    st.bytes += len as u64;
                    break id;
                }
            }
            changed.await;
        };
        tokio::spawn(async move {
            let result = fd.write_bytes(&ctx, offset, data).await;
            let mut st = inode.state.lock();
            st.inflight.retain(|&(i, _, _)| i != id);
            st.bytes -= len as u64;
            match result {
                Ok((n, _)) if n == len => {}
                Ok((n, _)) => {
                    st.error.get_or_insert(Error::errno_msg(
                        libc::EIO,
                        format!("short background write: {n} of {len} bytes at {offset}"),
                    ));
                }
                Err(e) => {
                    tracing::warn!(%gfid, "background write of {len} bytes at {offset} failed: {e}");
                    st.error.get_or_insert(e);
                }
            }
            drop(st);
            drop(permit);
            inode.changed.notify_waiters();
        });
        Ok(len)
    }

    /// True if `gfid` has writes in flight.
    pub fn busy(&self, gfid: &Gfid) -> bool {
        self.inodes
            .lock()
            .get(gfid)
            .is_some_and(|i| !i.state.lock().inflight.is_empty())
    }

    /// Waits until no write of `gfid` is in flight. Returns (and clears)
    /// a background failure when `take_error` is set.
    pub async fn settle(&self, gfid: Gfid, take_error: bool) -> Result<(), Error> {
        let Some(inode) = self.inodes.lock().get(&gfid).cloned() else {
            return Ok(());
        };
        let (err, idle) = loop {
            let changed = inode.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut st = inode.state.lock();
                if st.inflight.is_empty() {
                    let err = if take_error { st.error.take() } else { None };
                    break (err, st.error.is_none());
                }
            }
            changed.await;
        };
        drop(inode);
        if idle {
            self.forget_idle(gfid);
        }
        err.map_or(Ok(()), Err)
    }

    /// Takes a recorded background failure without waiting.
    pub fn take_error(&self, gfid: &Gfid) -> Option<Error> {
        self.inodes
            .lock()
            .get(gfid)
            .and_then(|i| i.state.lock().error.take())
    }

    /// Drops the bookkeeping of an inode with nothing in flight and no
    /// pending error, so the map does not grow with every file written.
    fn forget_idle(&self, gfid: Gfid) {
        let mut map = self.inodes.lock();
        let idle = map.get(&gfid).is_some_and(|i| {
            let st = i.state.lock();
            st.inflight.is_empty() && st.error.is_none()
        });
        // Only the map's reference and ours may remain for it to be unused.
        if idle && map.get(&gfid).is_some_and(|i| Arc::strong_count(i) == 1) {
            map.remove(&gfid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settle_on_unknown_inode_is_immediate() {
        let wb = WriteBehind::new(1 << 20);
        wb.settle(Gfid::ROOT, true).await.unwrap();
        assert!(!wb.busy(&Gfid::ROOT));
    }
}
