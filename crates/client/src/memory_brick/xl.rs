//! The memory brick as a translator: one method per fop, each a call on
//! the brick's state (see `calls` for how calls arrive and wait).

use super::calls::{access_on, common, owner, setattr_on};
use super::io::SpaceOp;
use super::locks::{range_of, EntryLk, RangeLk};
use super::state::R;
use super::{statfs_of, MemoryBrick};
use crate::error::Result;
use crate::xlator::*;
use async_trait::async_trait;
use bytes::Bytes;
use proto::dict::GfxDict;
use proto::errno;
use proto::fops::*;
use proto::iatt::{lock, Flock, Iatt};

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
