//! Which POSIX lock ranges each lock owner holds through this mount, so
//! that unlocking a range nobody here holds is answered without a round
//! trip. qemu-img, for one, "unlocks" a dozen never-locked bytes when it
//! opens an image, one LK round trip each.
//!
//! The table only ever errs on the side of sending: a range is added after
//! the brick granted it and removed after the brick released it (or after
//! FLUSH/RELEASE, which release every lock of the owner on the brick). A
//! reconnect loses the brick's locks while we still list them, which costs
//! an unneeded UNLCK, never a skipped one.
//!
//! It also orders lock requests after the FLUSHes that flush-behind left
//! running: the brick's FLUSH drops every lock of the closing process on
//! the inode, so a FLUSH overtaken by the same process's next F_SETLK
//! would silently drop the lock it was just granted (close(fd1); fd2 =
//! open(); fcntl(fd2, F_SETLK) is common, and another process then got the
//! "held" lock under load).

use client::Gfid;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{OwnedRwLockReadGuard, RwLock};

/// Inclusive byte ranges.
type Ranges = Vec<(u64, u64)>;

#[derive(Default)]
pub struct HeldLocks {
    /// (inode, lock owner) -> ranges held.
    held: Mutex<HashMap<(Gfid, u64), Ranges>>,
    /// Per inode with background FLUSHes: each holds a read guard until
    /// the brick answered; a lock request takes the write side first.
    flushes: Mutex<HashMap<Gfid, Arc<RwLock<()>>>>,
}

impl HeldLocks {
    /// True if `owner` may hold a lock overlapping [start, end].
    pub fn may_hold(&self, gfid: Gfid, owner: u64, start: u64, end: u64) -> bool {
        self.held
            .lock()
            .get(&(gfid, owner))
            .is_some_and(|r| r.iter().any(|&(s, e)| s <= end && start <= e))
    }

    /// The brick granted [start, end].
    pub fn granted(&self, gfid: Gfid, owner: u64, start: u64, end: u64) {
        self.held
            .lock()
            .entry((gfid, owner))
            .or_default()
            .push((start, end));
    }

    /// The brick released [start, end].
    pub fn released(&self, gfid: Gfid, owner: u64, start: u64, end: u64) {
        let mut map = self.held.lock();
        let Some(ranges) = map.get_mut(&(gfid, owner)) else {
            return;
        };
        let mut left = Vec::with_capacity(ranges.len());
        for &(s, e) in ranges.iter() {
            if e < start || s > end {
                left.push((s, e));
                continue;
            }
            if s < start {
                left.push((s, start - 1));
            }
            if e > end {
                left.push((end + 1, e));
            }
        }
        if left.is_empty() {
            map.remove(&(gfid, owner));
        } else {
            *ranges = left;
        }
    }

    /// A FLUSH of `gfid` goes on in the background: later lock requests on
    /// the inode wait until the returned guard is dropped.
    pub async fn flush_started(&self, gfid: Gfid) -> OwnedRwLockReadGuard<()> {
        let barrier = self.flushes.lock().entry(gfid).or_default().clone();
        barrier.read_owned().await
    }

    /// Waits for the background FLUSHes of `gfid` started before this call.
    pub async fn after_flushes(&self, gfid: Gfid) {
        let Some(barrier) = self.flushes.lock().get(&gfid).cloned() else {
            return;
        };
        drop(barrier.write().await);
        let mut map = self.flushes.lock();
        // Only the map and our clone left: no flush holds or awaits it.
        if map.get(&gfid).is_some_and(|b| Arc::strong_count(b) == 2) {
            map.remove(&gfid);
        }
    }

    /// Every lock of `owner` on `gfid` is gone (FLUSH or RELEASE).
    pub fn forget_owner(&self, gfid: Gfid, owner: u64) {
        self.held.lock().remove(&(gfid, owner));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_and_vanish() {
        let t = HeldLocks::default();
        let g = Gfid::ROOT;
        assert!(!t.may_hold(g, 1, 0, u64::MAX));
        t.granted(g, 1, 100, 200);
        assert!(t.may_hold(g, 1, 150, 150));
        assert!(!t.may_hold(g, 2, 150, 150));
        assert!(!t.may_hold(g, 1, 201, 300));
        t.released(g, 1, 120, 130);
        assert!(!t.may_hold(g, 1, 125, 125));
        assert!(t.may_hold(g, 1, 119, 119) && t.may_hold(g, 1, 131, 131));
        t.released(g, 1, 0, u64::MAX);
        assert!(!t.may_hold(g, 1, 0, u64::MAX));
        t.granted(g, 3, 0, u64::MAX);
        t.forget_owner(g, 3);
        assert!(!t.may_hold(g, 3, 5, 5));
    }

    #[tokio::test]
    async fn lock_requests_wait_for_background_flushes() {
        let t = Arc::new(HeldLocks::default());
        let g = Gfid::ROOT;
        t.after_flushes(g).await; // none: returns at once
        let guard = t.flush_started(g).await;
        let waiter = tokio::spawn({
            let t = t.clone();
            async move { t.after_flushes(g).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "lock request overtook the flush");
        drop(guard);
        waiter.await.unwrap();
        assert!(t.flushes.lock().is_empty(), "barrier not cleaned up");
    }
}
