//! Eager lock and delayed post-op (§3.8): a run of writes to one file pays
//! one lock, one pre-op and one post-op, as with the official client.
//!
//! The first write locks the whole file and marks it dirty; writes that
//! come while the run lasts share that lock and mark (overlapping ones
//! wait for each other, so every brick applies them in the same order).
//! When the last write of the run finishes, the post-op waits
//! `post-op-delay-secs` for more writes, then clears dirty, accuses the
//! bricks that missed a write, and unlocks. It ends at once when a brick
//! failed a write, when another client waits for the lock (the brick says
//! so in the write's reply), or when anything else on the file needs it
//! ended first: flush, fsync, and every other transaction on the inode
//! (their own locks would wait for ours).

use super::changelog::{pre_op, Kind};
use super::locking::Held;
use super::transaction::{fop_ok, symmetric_errno, Plan};
use super::{error_with, Replicate};
use crate::error::{Error, Result};
use crate::xlator::{Ctx, FdRef, Target};
use bytes::Bytes;
use parking_lot::Mutex;
use proto::dict::{DictValue, GfxDict};
use proto::errno;
use proto::fops::{oflags, TwoIattRsp};
use proto::Gfid;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

const INODELK_DOM_COUNT: &str = "glusterfs.inodelk-dom-count";
const INODELK_COUNT: &str = "glusterfs.inodelk-count";

/// The runs of writes, per inode.
#[derive(Default)]
pub(crate) struct EagerLocks {
    map: Mutex<HashMap<Gfid, Arc<Eager>>>,
}

#[derive(Default)]
struct Eager {
    st: Mutex<St>,
    changed: Notify,
}

#[derive(Default)]
struct St {
    phase: Phase,
    /// Byte ranges of the writes in flight (end exclusive).
    inflight: Vec<(u64, u64)>,
    /// Bumped by every write: a delayed post-op armed before is void.
    ticket: u64,
}

#[derive(Default)]
enum Phase {
    #[default]
    Idle,
    /// Locking, or ending a run.
    Busy,
    Held(Arc<Run>),
}

/// One run: its locks and what happened on each brick.
struct Run {
    held: Held,
    ictx: Ctx,
    /// The open file the changelog goes through (an unlinked file is
    /// reachable only through it); the latest writer's.
    fd: Mutex<FdRef>,
    /// Locked and pre-op'd.
    pre_ok: Vec<bool>,
    failed: Mutex<Vec<bool>>,
    /// End at the next chance: a brick failed, someone waits, a flush.
    ending: AtomicBool,
    /// A write lost quorum: leave dirty for shd, write no post-op.
    broken: AtomicBool,
    /// A write neither O_SYNC/O_DSYNC nor an append was done: the data
    /// must be made stable before dirty goes (ensure-durability, §3.8).
    unstable: AtomicBool,
}

impl EagerLocks {
    fn get(&self, gfid: Gfid) -> Arc<Eager> {
        self.map.lock().entry(gfid).or_default().clone()
    }

    /// Every inode with a run of writes.
    pub(crate) fn inodes(&self) -> Vec<Gfid> {
        self.map.lock().keys().copied().collect()
    }

    fn existing(&self, gfid: Gfid) -> Option<Arc<Eager>> {
        self.map.lock().get(&gfid).cloned()
    }

    /// Forgets an idle inode.
    fn tidy(&self, gfid: Gfid, e: &Arc<Eager>) {
        let mut m = self.map.lock();
        let idle = {
            let st = e.st.lock();
            matches!(st.phase, Phase::Idle) && st.inflight.is_empty()
        };
        // The map's and ours only: nobody waits on it.
        if idle && Arc::strong_count(e) == 2 {
            m.remove(&gfid);
        }
    }
}

fn overlaps(v: &[(u64, u64)], r: (u64, u64)) -> bool {
    v.iter().any(|&(s, e)| s < r.1 && r.0 < e)
}

impl Replicate {
    /// WRITE as part of a run (see the module doc).
    pub(crate) async fn eager_write(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        data: Bytes,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let gfid = fd.gfid();
        let e = self.eager.get(gfid);
        // An append's offset is the brick's to choose: it overlaps all.
        let range = if fd.flags & oflags::APPEND != 0 {
            (0, u64::MAX)
        } else {
            (
                offset,
                offset.saturating_add(data.len() as u64).max(offset + 1),
            )
        };
        let run = loop {
            let notified = e.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let begin = {
                let mut st = e.st.lock();
                match &st.phase {
                    Phase::Held(r)
                        if !r.ending.load(Ordering::Acquire) && !overlaps(&st.inflight, range) =>
                    {
                        let r = r.clone();
                        st.inflight.push(range);
                        st.ticket += 1;
                        break r;
                    }
                    Phase::Idle => {
                        st.phase = Phase::Busy;
                        true
                    }
                    _ => false,
                }
            };
            if begin {
                match self.eager_begin(ctx, fd).await {
                    Ok(r) => {
                        let mut st = e.st.lock();
                        st.phase = Phase::Held(r.clone());
                        st.inflight.push(range);
                        st.ticket += 1;
                        break r;
                    }
                    Err(err) => {
                        e.st.lock().phase = Phase::Idle;
                        e.changed.notify_waiters();
                        self.eager.tidy(gfid, &e);
                        return Err(err);
                    }
                }
            }
            notified.await;
        };
        *run.fd.lock() = fd.clone();
        let r = self.run_write(ctx, fd, &run, offset, data, xdata).await;
        let (end_now, ticket) = {
            let mut st = e.st.lock();
            if let Some(p) = st.inflight.iter().position(|x| *x == range) {
                st.inflight.swap_remove(p);
            }
            let idle = st.inflight.is_empty();
            let end =
                idle && (run.ending.load(Ordering::Acquire) || self.o.post_op_delay.is_zero());
            if end {
                st.phase = Phase::Busy;
            }
            (end, idle.then_some(st.ticket))
        };
        e.changed.notify_waiters();
        if end_now {
            // Ended by the write itself (no delay, a failure, a waiter):
            // its post-op is the "safe" one, after a durability fsync.
            // The timer's and a flush's are not (§3.8).
            let durable = self.o.ensure_durability && run.unstable.load(Ordering::Acquire);
            self.end_run(gfid, &e, run, durable, false).await;
        } else if let Some(t) = ticket {
            self.arm_post_op(gfid, e.clone(), t);
        }
        r
    }

    /// Lock and pre-op for a new run.
    async fn eager_begin(&self, ctx: &Ctx, fd: &FdRef) -> Result<Arc<Run>> {
        let plan = Plan::inode("write", Kind::Data, &Target::Fd(fd.clone()));
        let held = self.acquire(ctx, plan.lockees.clone(), &self.all()).await?;
        let locked = held.locked(self.n());
        if !locked.iter().any(|l| *l) || !self.o.quorum_met(&locked) {
            self.release(ctx, &held).await;
            return Err(super::locking::lock_failed(&self.name, "write"));
        }
        let ictx = Self::internal_ctx(ctx, &held.owner);
        let mut accused = vec![false; self.n()];
        let pre_ok = self
            .changelog_op(&ictx, &plan, &locked, &mut accused, |_| {
                (pre_op(&self.o, Kind::Data), GfxDict::new())
            })
            .await;
        let sources: Vec<bool> = (0..self.n()).map(|i| pre_ok[i] && !accused[i]).collect();
        let n_src = sources.iter().filter(|s| **s).count();
        let arbiter_alone = self.o.arbiter.is_some_and(|a| sources[a] && n_src < 2);
        let good = (0..self.n()).any(|i| sources[i] && !self.is_arbiter(i));
        if arbiter_alone || !good || !self.o.quorum_met(&pre_ok) {
            self.post_op(&ictx, &plan, &pre_ok, &vec![false; self.n()], true)
                .await;
            self.release(ctx, &held).await;
            return Err(if arbiter_alone || !self.o.quorum_met(&pre_ok) {
                self.no_quorum("write")
            } else {
                Error::errno_msg(
                    errno::EIO,
                    format!(
                        "{}: write to {}: no brick holds a good copy (split-brain)",
                        self.name,
                        fd.gfid()
                    ),
                )
            });
        }
        Ok(Arc::new(Run {
            failed: Mutex::new(pre_ok.iter().map(|o| !o).collect()),
            pre_ok,
            held,
            ictx,
            fd: Mutex::new(fd.clone()),
            ending: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            unstable: AtomicBool::new(false),
        }))
    }

    /// One write of a run, on every brick still good in it.
    async fn run_write(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        run: &Run,
        offset: u64,
        data: Bytes,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let go: Vec<bool> = {
            let f = run.failed.lock();
            (0..self.n()).map(|i| run.pre_ok[i] && !f[i]).collect()
        };
        if fd.flags & (oflags::SYNC | oflags::APPEND) == 0 {
            run.unstable.store(true, Ordering::Release);
        }
        let mut x = xdata;
        x.set(INODELK_DOM_COUNT, DictValue::Str(self.domain.clone()));
        let mut replies = self
            .each(&go, |i, c| {
                self.write_child(i, c, ctx, fd, offset, &data, x.clone())
            })
            .await;
        let ok = fop_ok(&replies);
        let contended = replies.iter().flatten().flatten().any(|r| {
            r.xdata
                .get(INODELK_COUNT)
                .and_then(DictValue::as_u64)
                .unwrap_or(0)
                > 1
        });
        if contended {
            run.ending.store(true, Ordering::Release);
        }
        if let Some(e) = symmetric_errno(&replies, &ok, &go) {
            return Err(error_with(&replies, e));
        }
        let newly: Vec<bool> = (0..self.n()).map(|i| go[i] && !ok[i]).collect();
        if newly.iter().any(|f| *f) {
            let mut f = run.failed.lock();
            for (i, n) in newly.iter().enumerate() {
                f[i] |= *n;
            }
            run.ending.store(true, Ordering::Release);
        }
        if !self.o.quorum_met(&ok) || !ok.iter().any(|o| *o) {
            run.broken.store(true, Ordering::Release);
            run.ending.store(true, Ordering::Release);
            // The highest errno of the failed replies, ENOTCONN if none
            // (§3.6, §5), as in a transaction of its own.
            let e = super::worst_errno(&replies);
            return Err(if e == errno::ENOTCONN {
                self.no_quorum("write")
            } else {
                error_with(&replies, e)
            });
        }
        let pick = (0..self.n())
            .find(|&i| ok[i] && !self.is_arbiter(i))
            .or_else(|| ok.iter().position(|o| *o));
        match pick.and_then(|i| replies[i].take()) {
            Some(r) => r,
            None => Err(self.no_quorum("write")),
        }
    }

    /// WRITE on child `i`: the data, or for the arbiter one 0xff byte whose
    /// one-byte answer stands for the whole write (§6.2: it keeps no data).
    #[allow(clippy::too_many_arguments)] // a WRITE's own arguments, as in the trait
    pub(crate) async fn write_child(
        &self,
        i: usize,
        c: &dyn crate::xlator::Xlator,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        data: &Bytes,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        if !self.is_arbiter(i) {
            return c.write(ctx, fd, offset, data.clone(), xdata).await;
        }
        let tick = Bytes::from_static(&[0xff]);
        let mut r = c.write(ctx, fd, offset, tick, xdata).await?;
        if r.op_ret == 1 {
            r.op_ret = data.len() as i32;
        }
        Ok(r)
    }

    /// The delayed post-op: ends the run after the delay unless another
    /// write came (`ticket` moved on).
    fn arm_post_op(&self, gfid: Gfid, e: Arc<Eager>, ticket: u64) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        let delay = self.o.post_op_delay;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let run = {
                let mut st = e.st.lock();
                if st.ticket != ticket || !st.inflight.is_empty() {
                    return;
                }
                match std::mem::replace(&mut st.phase, Phase::Busy) {
                    Phase::Held(r) => r,
                    other => {
                        st.phase = other;
                        return;
                    }
                }
            };
            me.end_run(gfid, &e, run, false, true).await;
        });
    }

    /// Post-op and unlock; the inode is free for the next run after.
    async fn end_run(
        &self,
        gfid: Gfid,
        e: &Arc<Eager>,
        run: Arc<Run>,
        durable: bool,
        behind: bool,
    ) {
        let fd = run.fd.lock().clone();
        let on = if fd.is_released() {
            Target::Inode(gfid)
        } else {
            Target::Fd(fd)
        };
        let plan = Plan::inode("write", Kind::Data, &on);
        let mut failed = run.failed.lock().clone();
        if !run.broken.load(Ordering::Acquire) {
            let mut ok: Vec<bool> = (0..self.n()).map(|i| run.pre_ok[i] && !failed[i]).collect();
            if let (true, Target::Fd(fd)) = (durable, &on) {
                // A brick whose fsync fails is as good as one whose write
                // failed.
                let fsynced = self.durable(&run.ictx, fd, &ok).await;
                for i in 0..self.n() {
                    if ok[i] && !fsynced[i] {
                        (ok[i], failed[i]) = (false, true);
                    }
                }
            }
            self.post_op(&run.ictx, &plan, &ok, &failed, true).await;
        }
        self.mark_stale(gfid, &failed);
        // Behind the caller only when nobody waits for it (the timer):
        // an unlock through the fd must reach the bricks before the file's
        // RELEASE does, or the brick refuses it (EBADF) and the lock stays.
        if behind {
            if let Some(me) = self.me.upgrade() {
                let run = run.clone();
                tokio::spawn(async move { me.release(&run.ictx, &run.held).await });
            } else {
                self.release(&run.ictx, &run.held).await;
            }
        } else {
            self.release(&run.ictx, &run.held).await;
        }
        e.st.lock().phase = Phase::Idle;
        e.changed.notify_waiters();
        self.eager.tidy(gfid, e);
    }

    /// Ends the run on `gfid`, if any, and waits until it has ended:
    /// before flush, fsync and any other transaction on the inode.
    pub(crate) async fn drain(&self, gfid: Gfid, behind: bool) {
        let Some(e) = self.eager.existing(gfid) else {
            return;
        };
        loop {
            let notified = e.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let take = {
                let mut st = e.st.lock();
                match &st.phase {
                    Phase::Idle => return,
                    Phase::Held(r) if st.inflight.is_empty() => {
                        let r = r.clone();
                        st.phase = Phase::Busy;
                        Some(r)
                    }
                    Phase::Held(r) => {
                        r.ending.store(true, Ordering::Release);
                        None
                    }
                    Phase::Busy => None,
                }
            };
            if let Some(run) = take {
                self.end_run(gfid, &e, run, false, behind).await;
                return;
            }
            notified.await;
        }
    }
}
