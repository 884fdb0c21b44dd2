//! The memory brick as a translator: each fop arrives (counted, delayed,
//! failed as injected), then runs on the brick's state under its lock, so
//! every fop is atomic as it is on a brick. Fd fops go through the fd's
//! brick fd number, opened or reopened first the way protocol/client does.

use super::faults::Verdict;
use super::io::SpaceOp;
use super::locks::{range_of, EntryLk, RangeLk, Try};
use super::state::{State, R};
use super::{statfs_of, MemoryBrick, Shared};
use crate::error::{Error, Result};
use crate::xlator::*;
use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use proto::dict::GfxDict;
use proto::errno;
use proto::fops::*;
use proto::iatt::{lock, valid, Flock, Iatt, S_IFDIR, S_IFMT};
use proto::Gfid;
use std::sync::{Arc, Weak};

/// protocol/client's state for one fd, emulated: the brick fd number and
/// the connection generation it belongs to (generation 0: never opened).
struct MemFd {
    shared: Weak<Shared>,
    state: Mutex<(u64, u64)>,
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
fn owner(ctx: &Ctx) -> R<Vec<u8>> {
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

fn common(xdata: GfxDict) -> CommonRsp {
    CommonRsp {
        op_ret: 0,
        op_errno: 0,
        xdata,
    }
}

fn setattr_on(st: &mut State, g: Gfid, stbuf: &Iatt, v: i32) -> R<TwoIattRsp> {
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
fn access_on(st: &State, ctx: &Ctx, g: Gfid, mask: u32) -> R<()> {
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
    fn err(&self, fop: Fop, e: i32) -> Error {
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
    async fn arrive(&self, fop: Fop) -> Result<(u64, Option<i32>)> {
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

    fn settle<T>(&self, fop: Fop, after: Option<i32>, r: R<T>) -> Result<T> {
        let v = r.map_err(|e| self.err(fop, e))?;
        match after {
            Some(e) => Err(self.err(fop, e)),
            None => Ok(v),
        }
    }

    /// One fop on the brick's state.
    async fn run<T>(&self, fop: Fop, f: impl FnOnce(&mut State) -> R<T>) -> Result<T> {
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

    fn memfd(&self, fd: &FdObj) -> Result<Arc<MemFd>> {
        fd.ctx_or_insert(self.id, || MemFd {
            shared: Arc::downgrade(&self.shared),
            state: Mutex::new((0, 0)),
        })
    }

    /// Whether `fd` was ever opened on this brick.
    fn opened(&self, fd: &FdObj) -> bool {
        fd.ctx::<MemFd>(self.id)
            .is_some_and(|m| m.state.lock().0 != 0)
    }

    /// The brick fd of `fd` on the current connection, opened (OPEN or
    /// OPENDIR of its gfid, minus O_CREAT|O_EXCL|O_TRUNC) if it has none.
    async fn brick_fd(&self, fd: &FdRef, fop: Fop) -> Result<u64> {
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
    async fn fd_run<T>(
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
    async fn on_target<T>(
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
    async fn lock_wait(
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
    async fn unlock_run<T>(
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

#[async_trait]
impl Xlator for MemoryBrick {
    fn name(&self) -> &str {
        &self.shared.name
    }
    fn xl_type(&self) -> &str {
        "debug/memory-brick"
    }
    fn id(&self) -> XlId {
        self.id
    }
    fn close(&self) {}
    async fn refresh(&self, _ctx: &Ctx) {}

    async fn lookup(&self, _ctx: &Ctx, req: &LookupReq) -> Result<TwoIattRsp> {
        self.run(Fop::Lookup, |st| st.lookup(req)).await
    }
    async fn stat(&self, _ctx: &Ctx, on: &Target, _xdata: GfxDict) -> Result<IattRsp> {
        let on = match on {
            // Never opened (open-behind): the inode answers the same.
            Target::Fd(f) if f.lazy && !self.opened(f) => &Target::Inode(f.gfid()),
            on => on,
        };
        self.on_target(on, (Fop::Stat, Fop::Fstat), |st, g, _| {
            Ok(IattRsp {
                op_ret: 0,
                op_errno: 0,
                xdata: GfxDict::new(),
                stat: st.iatt(g),
            })
        })
        .await
    }
    async fn setattr(
        &self,
        _ctx: &Ctx,
        on: &Target,
        stbuf: Iatt,
        valid: i32,
        _xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        self.on_target(on, (Fop::Setattr, Fop::Fsetattr), |st, g, _| {
            setattr_on(st, g, &stbuf, valid)
        })
        .await
    }
    async fn truncate(
        &self,
        _ctx: &Ctx,
        on: &Target,
        offset: u64,
        _xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        self.on_target(on, (Fop::Truncate, Fop::Ftruncate), |st, g, n| {
            st.truncate(g, n, offset)
        })
        .await
    }
    async fn access(&self, ctx: &Ctx, req: &AccessReq) -> Result<CommonRsp> {
        self.run(Fop::Access, |st| access_on(st, ctx, req.gfid, req.mask))
            .await
            .map(|()| common(GfxDict::new()))
    }
    async fn readlink(&self, _ctx: &Ctx, req: &ReadlinkReq) -> Result<ReadlinkRsp> {
        self.run(Fop::Readlink, |st| {
            let i = st.live(req.gfid)?;
            let super::state::Kind::Symlink(t) = &i.kind else {
                return Err(errno::EINVAL);
            };
            if req.size == 0 {
                return Err(errno::EINVAL);
            }
            let path = t[..t.len().min(req.size as usize)].to_vec();
            Ok(ReadlinkRsp {
                op_ret: i32::try_from(path.len()).unwrap_or(i32::MAX),
                op_errno: 0,
                xdata: GfxDict::new(),
                buf: st.iatt(req.gfid),
                path,
            })
        })
        .await
    }
    async fn statfs(&self, _ctx: &Ctx, req: &StatfsReq) -> Result<StatfsRsp> {
        self.run(Fop::Statfs, |st| {
            st.live(req.gfid)?;
            Ok(StatfsRsp {
                op_ret: 0,
                op_errno: 0,
                xdata: GfxDict::new(),
                statfs: statfs_of(st),
            })
        })
        .await
    }
    async fn mknod(&self, ctx: &Ctx, req: &MknodReq) -> Result<ThreeIattRsp> {
        self.run(Fop::Mknod, |st| st.mknod(ctx, req)).await
    }
    async fn mkdir(&self, ctx: &Ctx, req: &MkdirReq) -> Result<ThreeIattRsp> {
        self.run(Fop::Mkdir, |st| st.mkdir(ctx, req)).await
    }
    async fn symlink(&self, ctx: &Ctx, req: &SymlinkReq) -> Result<ThreeIattRsp> {
        self.run(Fop::Symlink, |st| st.symlink(ctx, req)).await
    }
    async fn link(&self, _ctx: &Ctx, req: &LinkReq) -> Result<ThreeIattRsp> {
        self.run(Fop::Link, |st| st.link(req)).await
    }
    async fn unlink(&self, _ctx: &Ctx, req: &UnlinkReq) -> Result<TwoIattRsp> {
        self.run(Fop::Unlink, |st| st.unlink(req)).await
    }
    async fn rmdir(&self, _ctx: &Ctx, req: &RmdirReq) -> Result<TwoIattRsp> {
        self.run(Fop::Rmdir, |st| st.rmdir(req)).await
    }
    async fn rename(&self, _ctx: &Ctx, req: &RenameReq) -> Result<RenameRsp> {
        self.run(Fop::Rename, |st| st.rename(req)).await
    }

    async fn getxattr(
        &self,
        _ctx: &Ctx,
        on: &Target,
        name: &[u8],
        xdata: GfxDict,
    ) -> Result<DictRsp> {
        self.on_target(on, (Fop::Getxattr, Fop::Fgetxattr), |st, g, _| {
            let mut r = st.getxattr(g, name)?;
            r.xdata = st.fill(g, &xdata);
            Ok(r)
        })
        .await
    }
    async fn setxattr(
        &self,
        _ctx: &Ctx,
        on: &Target,
        dict: GfxDict,
        flags: u32,
        _xdata: GfxDict,
    ) -> Result<CommonRsp> {
        self.on_target(on, (Fop::Setxattr, Fop::Fsetxattr), |st, g, _| {
            st.setxattr(g, &dict, flags).map(common)
        })
        .await
    }
    async fn removexattr(
        &self,
        _ctx: &Ctx,
        on: &Target,
        name: &[u8],
        _xdata: GfxDict,
    ) -> Result<CommonRsp> {
        self.on_target(on, (Fop::Removexattr, Fop::Fremovexattr), |st, g, _| {
            st.removexattr(g, name).map(|()| common(GfxDict::new()))
        })
        .await
    }
    async fn inodelk(
        &self,
        ctx: &Ctx,
        on: &Target,
        domain: &[u8],
        cmd: u32,
        flock: &Flock,
        _xdata: GfxDict,
    ) -> Result<CommonRsp> {
        let fops = (Fop::Inodelk, Fop::Finodelk);
        let lk = |fd| -> R<RangeLk> {
            let (start, end) = range_of(flock)?;
            Ok(RangeLk {
                owner: owner(ctx)?,
                kind: flock.kind,
                start,
                end,
                pid: flock.pid,
                fd,
            })
        };
        match (cmd, flock.kind) {
            (lock::SETLK | lock::SETLKW, lock::UNLCK) => {
                self.unlock_run(on, fops, |st, g, _| {
                    st.locks.inode_unlock(&(g, domain.to_vec()), &lk(0)?)
                })
                .await?
            }
            (lock::SETLK | lock::SETLKW, lock::RDLCK | lock::WRLCK) => {
                self.lock_wait(on, fops, cmd == lock::SETLKW, |st, g, t| {
                    Ok(st.locks.inodelk((g, domain.to_vec()), lk(0)?, t))
                })
                .await?
            }
            (cmd, _) => {
                let e = if cmd == lock::GETLK {
                    errno::EOPNOTSUPP
                } else {
                    errno::EINVAL
                };
                self.on_target(on, fops, |_, _, _| Err::<(), _>(e)).await?
            }
        }
        Ok(common(GfxDict::new()))
    }
    async fn entrylk(
        &self,
        ctx: &Ctx,
        on: &Target,
        domain: &[u8],
        name: &[u8],
        cmd: u32,
        kind: u32,
        _xdata: GfxDict,
    ) -> Result<CommonRsp> {
        let fops = (Fop::Entrylk, Fop::Fentrylk);
        let lk = || -> R<EntryLk> {
            if kind > lock::WRLCK {
                return Err(errno::EINVAL);
            }
            Ok(EntryLk {
                owner: owner(ctx)?,
                kind,
                name: (!name.is_empty()).then(|| name.to_vec()),
            })
        };
        match cmd {
            lock::ENTRYLK_UNLOCK => {
                self.unlock_run(on, fops, |st, g, _| {
                    st.locks.entry_unlock(&(g, domain.to_vec()), &lk()?)
                })
                .await?
            }
            lock::ENTRYLK_LOCK | lock::ENTRYLK_LOCK_NB => {
                self.lock_wait(on, fops, cmd == lock::ENTRYLK_LOCK, |st, g, t| {
                    Ok(st.locks.entrylk((g, domain.to_vec()), lk()?, t))
                })
                .await?
            }
            _ => {
                self.on_target(on, fops, |_, _, _| Err::<(), _>(errno::EINVAL))
                    .await?
            }
        }
        Ok(common(GfxDict::new()))
    }
    async fn xattrop(
        &self,
        _ctx: &Ctx,
        on: &Target,
        optype: u32,
        dict: GfxDict,
        xdata: GfxDict,
    ) -> Result<DictRsp> {
        self.on_target(on, (Fop::Xattrop, Fop::Fxattrop), |st, g, _| {
            let dict = st.xattrop(g, optype, &dict)?;
            Ok(DictRsp {
                op_ret: 0,
                op_errno: 0,
                xdata: st.fill(g, &xdata),
                dict,
                prestat: Iatt::default(),
                poststat: Iatt::default(),
            })
        })
        .await
    }

    async fn create(&self, ctx: &Ctx, req: &CreateReq, fd: &FdRef) -> Result<CreateRsp> {
        fd.check_open()?;
        let m = self.memfd(fd)?;
        let (rsp, generation, n) = self
            .run(Fop::Create, |st| {
                let (mut rsp, g, flags) = st.create(ctx, req)?;
                let n = st.add_fd(g, flags)?;
                rsp.fd = i64::try_from(n).unwrap_or(i64::MAX);
                Ok((rsp, st.generation, n))
            })
            .await?;
        let old = std::mem::replace(&mut *m.state.lock(), (generation, n));
        if old.0 == generation {
            self.shared.state.lock().drop_fd(old.1);
        }
        Ok(rsp)
    }
    async fn open(&self, _ctx: &Ctx, fd: &FdRef, _xdata: GfxDict) -> Result<()> {
        let fop = if fd.is_dir { Fop::Opendir } else { Fop::Open };
        self.brick_fd(fd, fop).await.map(drop)
    }
    async fn read(
        &self,
        _ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        size: u32,
        _xdata: GfxDict,
    ) -> Result<(ReadRsp, Bytes)> {
        if fd.lazy && fd.read_only() && !self.opened(fd) {
            fd.check_open()?;
            let g = fd.gfid();
            return self
                .run(Fop::Read, |st| {
                    st.live(g)?; // the anonymous fd resolves the gfid
                    st.read(g, offset, size)
                })
                .await;
        }
        self.fd_run(fd, Fop::Read, |st, n| st.read_fd(n, offset, size))
            .await
    }
    async fn write(
        &self,
        _ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        data: Bytes,
        _xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        self.fd_run(fd, Fop::Write, |st, n| st.write(n, offset, &data))
            .await
    }
    async fn flush(&self, ctx: &Ctx, fd: &FdRef, _xdata: GfxDict) -> Result<()> {
        if !self.opened(fd) {
            return Ok(()); // never opened here: nothing to flush
        }
        let r = self
            .fd_run(fd, Fop::Flush, |st, n| {
                let (g, _) = st.fd_of(n)?;
                if let Ok(o) = owner(ctx) {
                    st.locks.posix_flush(g, &o);
                }
                Ok(())
            })
            .await;
        self.shared.wake.notify_waiters();
        r
    }
    async fn fsync(&self, _ctx: &Ctx, fd: &FdRef, _datasync: bool, _xdata: GfxDict) -> Result<()> {
        let fop = if fd.is_dir { Fop::Fsyncdir } else { Fop::Fsync };
        self.fd_run(fd, fop, |st, n| st.fd_of(n).map(drop)).await
    }
    async fn fallocate(
        &self,
        _ctx: &Ctx,
        fd: &FdRef,
        mode: u32,
        offset: u64,
        len: u64,
        _xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        self.fd_run(fd, Fop::Fallocate, |st, n| {
            st.space_op(n, SpaceOp::Fallocate(mode), offset, len)
        })
        .await
    }
    async fn discard(
        &self,
        _ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        len: u64,
        _xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        self.fd_run(fd, Fop::Discard, |st, n| {
            st.space_op(n, SpaceOp::Punch, offset, len)
        })
        .await
    }
    async fn zerofill(
        &self,
        _ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        len: u64,
        _xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        self.fd_run(fd, Fop::Zerofill, |st, n| {
            st.space_op(n, SpaceOp::Zero, offset, len)
        })
        .await
    }
    async fn seek(
        &self,
        _ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        what: i32,
        _xdata: GfxDict,
    ) -> Result<SeekRsp> {
        self.fd_run(fd, Fop::Seek, |st, n| {
            Ok(SeekRsp {
                op_ret: 0,
                op_errno: 0,
                xdata: GfxDict::new(),
                offset: st.seek(n, offset, what)?,
            })
        })
        .await
    }
    async fn lk(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        cmd: u32,
        flock: &Flock,
        _xdata: GfxDict,
    ) -> Result<LkRsp> {
        let on = Target::Fd(fd.clone());
        let fops = (Fop::Lk, Fop::Lk);
        let lk = |n| -> R<RangeLk> {
            let (start, end) = range_of(flock)?;
            Ok(RangeLk {
                owner: owner(ctx)?,
                kind: flock.kind,
                start,
                end,
                pid: flock.pid,
                fd: n,
            })
        };
        let reply = |flock: Flock| LkRsp {
            op_ret: 0,
            op_errno: 0,
            xdata: GfxDict::new(),
            flock,
        };
        match (cmd, flock.kind) {
            (lock::GETLK, lock::RDLCK | lock::WRLCK) => {
                self.on_target(&on, fops, |st, g, n| {
                    let l = lk(n.unwrap_or(0))?;
                    Ok(reply(match st.locks.posix_conflict(g, &l) {
                        Some(c) => c.flock(),
                        None => Flock {
                            kind: lock::UNLCK,
                            ..flock.clone()
                        },
                    }))
                })
                .await
            }
            (lock::SETLK | lock::SETLKW, lock::UNLCK) => {
                self.unlock_run(&on, fops, |st, g, n| {
                    let l = lk(n.unwrap_or(0))?;
                    st.locks.posix_unlock(g, &l.owner, l.start, l.end);
                    Ok(reply(flock.clone()))
                })
                .await
            }
            (lock::SETLK | lock::SETLKW, lock::RDLCK | lock::WRLCK) => {
                let n = self.brick_fd(fd, Fop::Lk).await?;
                self.lock_wait(&on, fops, cmd == lock::SETLKW, |st, g, t| {
                    Ok(st.locks.posix_lock(g, lk(n)?, t))
                })
                .await?;
                Ok(reply(flock.clone()))
            }
            _ => {
                self.on_target(&on, fops, |_, _, _| Err(errno::EINVAL))
                    .await
            }
        }
    }
    async fn readdir(
        &self,
        _ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        size: u32,
        _xdata: GfxDict,
    ) -> Result<ReaddirRsp> {
        self.fd_run(fd, Fop::Readdir, |st, n| st.readdir(n, offset, size))
            .await
    }
    async fn readdirp(
        &self,
        _ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        size: u32,
        xdata: GfxDict,
    ) -> Result<ReaddirpRsp> {
        self.fd_run(fd, Fop::Readdirp, |st, n| {
            st.readdirp(n, offset, size, &xdata)
        })
        .await
    }
    async fn copy_file_range(
        &self,
        _ctx: &Ctx,
        fd_in: &FdRef,
        off_in: u64,
        fd_out: &FdRef,
        off_out: u64,
        len: u32,
        _xdata: GfxDict,
    ) -> Result<ThreeIattRsp> {
        let out = self.brick_fd(fd_out, Fop::CopyFileRange).await?;
        self.fd_run(fd_in, Fop::CopyFileRange, |st, n| {
            st.copy_file_range(n, off_in, out, off_out, len)
        })
        .await
    }
}
