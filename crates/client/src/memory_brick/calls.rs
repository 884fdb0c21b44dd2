//! How a call reaches the memory brick: it arrives (counted, delayed,
//! failed as injected), then runs on the brick's state under its lock, so
//! every fop is atomic as it is on a brick. Fd fops go through the fd's
//! brick fd number, opened or reopened first the way protocol/client does;
//! lock requests wait for their lock or the connection's end.

use super::faults::Verdict;
use super::locks::Try;
use super::state::{State, R};
use super::{MemoryBrick, Shared};
use crate::error::{Error, Result};
use crate::xlator::*;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use proto::dict::GfxDict;
use proto::errno;
use proto::fops::*;
use proto::iatt::{valid, Iatt, S_IFDIR, S_IFMT};
use proto::Gfid;
use std::sync::{Arc, Weak};

/// protocol/client's state for one fd, emulated: the brick fd number and
/// the connection generation it belongs to (generation 0: never opened).
pub(super) struct MemFd {
    shared: Weak<Shared>,
    pub state: Mutex<(u64, u64)>,
}

impl FdCtx for MemFd {
    fn release(&self, fd: &FdObj) -> Option<BoxFuture<'static, ()>> {
        let (generation, num) = *self.state.lock();
        if generation == 0 {
            return None;
        }
        let sh = self.shared.upgrade()?;
        let mut st = sh.state.lock();
        // After a reconnect the brick already let the old fd go.
        if st.connected && st.generation == generation {
            let fop = if fd.is_dir {
                Fop::Releasedir
            } else {
                Fop::Release
            };
            sh.faults.lock().count(fop);
            st.drop_fd(num);
            drop(st);
            sh.wake.notify_waiters();
        }
        None
    }
}

/// A queued lock request, withdrawn if its caller stops waiting.
struct Ticket<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.shared.state.lock().locks.cancel(self.id);
        self.shared.wake.notify_waiters();
    }
}

/// The caller's lock owner as the brick sees it (the pid when none is
/// set, as the credential carries it); a null owner is EINVAL.
pub(super) fn owner(ctx: &Ctx) -> R<Vec<u8>> {
    let o = if ctx.lk_owner.is_empty() {
        ctx.pid.to_le_bytes().to_vec()
    } else {
        ctx.lk_owner.clone()
    };
    if o.iter().all(|&b| b == 0) {
        return Err(errno::EINVAL);
    }
    Ok(o)
}

pub(super) fn common(xdata: GfxDict) -> CommonRsp {
    CommonRsp {
        op_ret: 0,
        op_errno: 0,
        xdata,
    }
}

pub(super) fn setattr_on(st: &mut State, g: Gfid, stbuf: &Iatt, v: i32) -> R<TwoIattRsp> {
    let pre = st.iatt(g);
    let i = st.inodes.get_mut(&g).ok_or(errno::ESTALE)?;
    let now = super::state::now();
    let time = |sec, nsec| super::state::Time { sec, nsec };
    if v & valid::MODE != 0 {
        i.mode = (i.mode & S_IFMT) | (stbuf.mode & 0o7777);
    }
    if v & valid::UID != 0 {
        i.uid = stbuf.uid;
    }
    if v & valid::GID != 0 {
        i.gid = stbuf.gid;
    }
    if v & valid::ATIME_NOW != 0 {
        i.atime = now;
    } else if v & valid::ATIME != 0 {
        i.atime = time(stbuf.atime, stbuf.atime_nsec);
    }
    if v & valid::MTIME_NOW != 0 {
        i.mtime = now;
    } else if v & valid::MTIME != 0 {
        i.mtime = time(stbuf.mtime, stbuf.mtime_nsec);
    }
    i.ctime = if v & valid::CTIME != 0 {
        time(stbuf.ctime, stbuf.ctime_nsec)
    } else {
        now
    };
    Ok(TwoIattRsp {
        op_ret: 0,
        op_errno: 0,
        xdata: GfxDict::new(),
        prestat: pre,
        poststat: st.iatt(g),
    })
}

/// ACCESS against the mode bits (the one permission check emulated).
pub(super) fn access_on(st: &State, ctx: &Ctx, g: Gfid, mask: u32) -> R<()> {
    let i = st.live(g)?;
    let mask = mask & 7;
    let ok = if ctx.uid == 0 {
        mask & 1 == 0 || i.mode & 0o111 != 0 || i.mode & S_IFMT == S_IFDIR
    } else {
        let bits = if ctx.uid == i.uid {
            (i.mode >> 6) & 7
        } else if ctx.gid == i.gid || ctx.groups.contains(&i.gid) {
            (i.mode >> 3) & 7
        } else {
            i.mode & 7
        };
        bits & mask == mask
    };
    if ok {
        Ok(())
    } else {
        Err(errno::EACCES)
    }
}

impl MemoryBrick {
    pub(super) fn err(&self, fop: Fop, e: i32) -> Error {
        Error::Fop {
            fop: fop.name(),
            brick: self.shared.name.clone(),
            errno: e,
        }
    }

    /// A call reaching the brick: ENOTCONN while disconnected, otherwise
    /// counted, delayed and judged by the injected faults. Returns the
    /// connection generation it came on and an errno to answer after
    /// doing the work, if any.
    pub(super) async fn arrive(&self, fop: Fop) -> Result<(u64, Option<i32>)> {
        let generation = {
            let st = self.shared.state.lock();
            if !st.connected {
                return Err(self.err(fop, errno::ENOTCONN));
            }
            st.generation
        };
        let (delay, verdict) = self.shared.faults.lock().arrive(fop);
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        match verdict {
            Verdict::Pass => Ok((generation, None)),
            Verdict::Fail(e) => Err(self.err(fop, e)),
            Verdict::FailAfter(e) => Ok((generation, Some(e))),
        }
    }

    pub(super) fn settle<T>(&self, fop: Fop, after: Option<i32>, r: R<T>) -> Result<T> {
        let v = r.map_err(|e| self.err(fop, e))?;
        match after {
            Some(e) => Err(self.err(fop, e)),
            None => Ok(v),
        }
    }

    /// One fop on the brick's state.
    pub(super) async fn run<T>(&self, fop: Fop, f: impl FnOnce(&mut State) -> R<T>) -> Result<T> {
        let (generation, after) = self.arrive(fop).await?;
        let r = {
            let mut st = self.shared.state.lock();
            if !st.connected || st.generation != generation {
                Err(errno::ENOTCONN) // the connection dropped meanwhile
            } else {
                f(&mut st)
            }
        };
        self.settle(fop, after, r)
    }

    pub(super) fn memfd(&self, fd: &FdObj) -> Result<Arc<MemFd>> {
        fd.ctx_or_insert(self.id, || MemFd {
            shared: Arc::downgrade(&self.shared),
            state: Mutex::new((0, 0)),
        })
    }

    /// Whether `fd` was ever opened on this brick.
    pub(super) fn opened(&self, fd: &FdObj) -> bool {
        fd.ctx::<MemFd>(self.id)
            .is_some_and(|m| m.state.lock().0 != 0)
    }

    /// The brick fd of `fd` on the current connection, opened (OPEN or
    /// OPENDIR of its gfid, minus O_CREAT|O_EXCL|O_TRUNC) if it has none.
    pub(super) async fn brick_fd(&self, fd: &FdRef, fop: Fop) -> Result<u64> {
        fd.check_open()?;
        let m = self.memfd(fd)?;
        let mine = *m.state.lock();
        {
            let st = self.shared.state.lock();
            if !st.connected {
                return Err(self.err(fop, errno::ENOTCONN));
            }
            if mine.0 == st.generation && st.fds.contains_key(&mine.1) {
                return Ok(mine.1);
            }
        }
        let open = if fd.is_dir { Fop::Opendir } else { Fop::Open };
        let flags = fd.flags & !(oflags::CREAT | oflags::EXCL | oflags::TRUNC);
        let (gfid, is_dir) = (fd.gfid(), fd.is_dir);
        let (generation, n) = self
            .run(open, |st| {
                Ok((st.generation, st.open(gfid, flags, is_dir)?))
            })
            .await?;
        let theirs = {
            let mut s = m.state.lock();
            if s.0 == generation && *s != mine {
                Some(s.1) // reopened by someone else meanwhile: keep theirs
            } else {
                *s = (generation, n);
                None
            }
        };
        match theirs {
            Some(t) => {
                self.shared.state.lock().drop_fd(n);
                Ok(t)
            }
            None => Ok(n),
        }
    }

    /// A fop on an open fd.
    pub(super) async fn fd_run<T>(
        &self,
        fd: &FdRef,
        fop: Fop,
        f: impl FnOnce(&mut State, u64) -> R<T>,
    ) -> Result<T> {
        let n = self.brick_fd(fd, fop).await?;
        self.run(fop, |st| f(st, n)).await
    }

    /// A fop on an inode or an fd (STAT/FSTAT, ...): `f` gets the inode
    /// and, for an fd, its brick fd.
    pub(super) async fn on_target<T>(
        &self,
        on: &Target,
        fops: (Fop, Fop),
        f: impl FnOnce(&mut State, Gfid, Option<u64>) -> R<T>,
    ) -> Result<T> {
        match on {
            Target::Inode(g) => {
                let g = *g;
                self.run(fops.0, |st| {
                    st.live(g)?;
                    f(st, g, None)
                })
                .await
            }
            Target::Fd(fd) => {
                self.fd_run(fd, fops.1, |st, n| {
                    let (g, _) = st.fd_of(n)?;
                    f(st, g, Some(n))
                })
                .await
            }
        }
    }

    /// A lock request: granted, refused (EAGAIN when it would wait and
    /// may not), or waited for until granted or the connection drops.
    pub(super) async fn lock_wait(
        &self,
        on: &Target,
        fops: (Fop, Fop),
        blocking: bool,
        mut attempt: impl FnMut(&mut State, Gfid, u64) -> R<Try>,
    ) -> Result<()> {
        let (fop, n) = match on {
            Target::Inode(_) => (fops.0, None),
            Target::Fd(fd) => (fops.1, Some(self.brick_fd(fd, fops.1).await?)),
        };
        let (generation, after) = self.arrive(fop).await?;
        let ticket = Ticket {
            shared: &self.shared,
            id: self.shared.state.lock().locks.ticket(),
        };
        loop {
            let notified = self.shared.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.shared.state.lock();
                if !st.connected || st.generation != generation {
                    return Err(self.err(fop, errno::ENOTCONN));
                }
                let g = match (on, n) {
                    (Target::Inode(g), _) => st.live(*g).map(|_| *g),
                    (_, Some(n)) => st.fd_of(n).map(|f| f.0),
                    _ => Err(errno::EBADF),
                };
                let r = g.and_then(|g| attempt(&mut st, g, ticket.id));
                match r {
                    Ok(Try::Wait) if blocking => {}
                    Ok(Try::Wait) => return self.settle(fop, after, Err(errno::EAGAIN)),
                    Ok(Try::Granted) => return self.settle(fop, after, Ok(())),
                    Err(e) => return self.settle(fop, after, Err(e)),
                }
            }
            notified.await;
        }
    }

    /// Runs `f` (an unlock) and wakes whoever waits for a lock.
    pub(super) async fn unlock_run<T>(
        &self,
        on: &Target,
        fops: (Fop, Fop),
        f: impl FnOnce(&mut State, Gfid, Option<u64>) -> R<T>,
    ) -> Result<T> {
        let r = self.on_target(on, fops, f).await;
        self.shared.wake.notify_waiters();
        r
    }
}
