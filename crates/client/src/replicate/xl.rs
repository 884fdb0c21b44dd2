//! cluster/replicate's fops: lookups merged over every brick, reads from
//! one good brick, every change a transaction (§3), opens and flushes on
//! every brick, application locks brick by brick (§7).

use super::changelog::{readable, Kind, Seen};
use super::lookup::{lookup_xdata, merge};
use super::reads::ReadKind;
use super::transaction::Plan;
use super::txn::is_afr_xattr;
use super::{error_with, worst_errno, Replicate};
use crate::error::{Error, Result};
use crate::xlator::*;
use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use proto::dict::GfxDict;
use proto::errno;
use proto::fops::*;
use proto::iatt::{lock, Flock, Iatt};
use proto::Gfid;
use std::sync::Arc;

/// In `/` of every brick with use-anonymous-inode; never shown (§10.19).
const ANON_INODE_PREFIX: &[u8] = b".glusterfs-anonymous-inode-";

fn hidden(dir: Gfid, name: &[u8]) -> bool {
    dir.is_root() && name.starts_with(ANON_INODE_PREFIX)
}

fn eperm_afr(name: &[u8]) -> Error {
    Error::errno_msg(
        errno::EPERM,
        format!(
            "{} is kept by the replica set itself",
            String::from_utf8_lossy(name)
        ),
    )
}

/// Which child serves a directory stream (its offsets are that brick's).
#[derive(Default)]
struct DirChild(Mutex<Option<usize>>);
impl FdCtx for DirChild {}

impl Replicate {
    fn data_txn(what: &'static str, on: &Target) -> Plan {
        Plan::inode(what, Kind::Data, on)
    }

    fn meta_txn(what: &'static str, on: &Target) -> Plan {
        Plan::inode(what, Kind::Metadata, on)
    }

    /// The child a directory stream reads from: chosen at offset 0 from
    /// the good copies, kept after.
    async fn dir_child(&self, ctx: &Ctx, fd: &FdRef, offset: u64) -> Result<Vec<usize>> {
        let c = fd.ctx_or_insert(self.id, DirChild::default)?;
        let kept = *c.0.lock();
        match kept {
            Some(i) if offset != 0 => Ok(vec![i]),
            _ => self.readers(ctx, fd.gfid(), ReadKind::Data).await,
        }
    }

    fn keep_dir_child(&self, fd: &FdRef, i: usize) {
        if let Some(c) = fd.ctx::<DirChild>(self.id) {
            *c.0.lock() = Some(i);
        }
    }

    /// READDIR(P) from the directory's child, `/`'s hidden entry left out.
    async fn list<'a, T, Fut>(
        &'a self,
        ctx: &'a Ctx,
        fd: &'a FdRef,
        offset: u64,
        call: impl Fn(&'a dyn Xlator, u64) -> Fut,
        filter: impl Fn(&mut T, usize) -> Option<u64>,
    ) -> Result<T>
    where
        Fut: std::future::Future<Output = Result<T>> + 'a,
    {
        let order = self.dir_child(ctx, fd, offset).await?;
        let mut last = None;
        for i in order {
            let mut off = offset;
            loop {
                match self.one(i, |c| call(c, off)).await {
                    Ok(mut v) => {
                        self.keep_dir_child(fd, i);
                        // Everything in the batch was hidden: go on after it
                        // rather than answer "end of directory".
                        match filter(&mut v, i) {
                            Some(next) => off = next,
                            None => return Ok(v),
                        }
                    }
                    Err(e) if offset == 0 && e.errno() == errno::ENOTCONN => {
                        last = Some(e);
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Err(last.unwrap_or_else(|| self.no_quorum("readdir")))
    }

    /// Application locks (§7): brick by brick in order; a conflict on any
    /// undoes the others.
    async fn app_lock(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        cmd: u32,
        flock: &Flock,
        xdata: GfxDict,
    ) -> Result<LkRsp> {
        let n = self.n();
        let mut replies: Vec<Option<Result<LkRsp>>> = (0..n).map(|_| None).collect();
        for (i, slot) in replies.iter_mut().enumerate() {
            let r = self
                .one(i, |c| c.lk(ctx, fd, cmd, flock, xdata.clone()))
                .await;
            let conflict = matches!(&r, Err(e) if e.errno() == errno::EAGAIN);
            if cmd == lock::GETLK {
                if let Ok(rsp) = &r {
                    if rsp.flock.kind != lock::UNLCK {
                        return r; // somebody holds it
                    }
                }
            }
            *slot = Some(r);
            if conflict {
                break;
            }
        }
        let granted: Vec<bool> = replies.iter().map(|r| matches!(r, Some(Ok(_)))).collect();
        let busy = replies
            .iter()
            .any(|r| matches!(r, Some(Err(e)) if e.errno() == errno::EAGAIN));
        let setting = cmd != lock::GETLK && flock.kind != lock::UNLCK;
        if setting && (busy || !self.o.quorum_met(&granted) || !granted.iter().any(|g| *g)) {
            let mut un = flock.clone();
            un.kind = lock::UNLCK;
            self.each(&granted, |_, c| {
                c.lk(ctx, fd, lock::SETLK, &un, GfxDict::new())
            })
            .await;
            let e = if busy {
                errno::EAGAIN
            } else {
                worst_errno(&replies)
            };
            return Err(error_with(&replies, e));
        }
        // The reply of the last brick that granted it.
        let last = granted.iter().rposition(|g| *g);
        match last.and_then(|i| replies[i].take()) {
            Some(r) => r,
            None => Err(error_with(&replies, worst_errno(&replies))),
        }
    }

    /// INODELK/ENTRYLK from above (distribute's own locks): on every brick;
    /// waiting ones brick by brick in order, others at once; granted on
    /// too few bricks is undone and fails (§5).
    async fn cluster_lock<'a, Fut>(
        &'a self,
        blocking: bool,
        unlock: bool,
        call: impl Fn(&'a dyn Xlator, bool) -> Fut,
    ) -> Result<CommonRsp>
    where
        Fut: std::future::Future<Output = Result<CommonRsp>> + 'a,
    {
        let n = self.n();
        let replies: Vec<Option<Result<CommonRsp>>> = if blocking {
            let mut v = Vec::with_capacity(n);
            for i in 0..n {
                v.push(Some(self.one(i, |c| call(c, false)).await));
            }
            v
        } else {
            self.each(&self.all(), |_, c| call(c, false)).await
        };
        let granted: Vec<bool> = replies.iter().map(|r| matches!(r, Some(Ok(_)))).collect();
        if unlock {
            return self.first_ok(replies);
        }
        if !granted.iter().any(|g| *g)
            || !self.o.quorum_met(&granted)
            || granted
                .iter()
                .zip(&replies)
                .any(|(g, r)| !g && matches!(r, Some(Err(e)) if e.errno() != errno::ENOTCONN))
        {
            self.each(&granted, |_, c| call(c, true)).await;
            let e = worst_errno(&replies);
            let e = if replies
                .iter()
                .any(|r| matches!(r, Some(Err(x)) if x.errno() == errno::EAGAIN))
            {
                errno::EAGAIN
            } else {
                e
            };
            return Err(error_with(&replies, e));
        }
        self.first_ok(replies)
    }

    fn first_ok<T>(&self, mut replies: Vec<Option<Result<T>>>) -> Result<T> {
        let i = replies.iter().position(|r| matches!(r, Some(Ok(_))));
        match i.and_then(|i| replies[i].take()) {
            Some(r) => r,
            None => Err(error_with(&replies, worst_errno(&replies))),
        }
    }
}

#[async_trait]
impl Xlator for Replicate {
    fn name(&self) -> &str {
        &self.name
    }
    fn xl_type(&self) -> &str {
        "cluster/replicate"
    }
    fn id(&self) -> XlId {
        self.id
    }
    fn children(&self) -> &[Arc<dyn Xlator>] {
        &self.children
    }
    fn hides_xattr(&self, name: &[u8]) -> bool {
        is_afr_xattr(name) || self.children.iter().any(|c| c.hides_xattr(name))
    }
    async fn settle(&self) {
        for g in self.eager.inodes() {
            self.drain(g, false).await;
        }
    }

    async fn lookup(&self, ctx: &Ctx, req: &LookupReq) -> Result<TwoIattRsp> {
        if hidden(req.pargfid, &req.bname) {
            return Err(Error::errno_msg(errno::EPERM, "internal directory"));
        }
        let epoch = self.epoch();
        let mut xdata = lookup_xdata(&self.o);
        for (k, v) in &req.xdata.pairs {
            if k != b"gfid-req" {
                xdata.set_bytes_key(k, v.clone());
            }
        }
        let q = LookupReq {
            xdata,
            ..req.clone()
        };
        let mut rs = self.each(&self.all(), |_, c| c.lookup(ctx, &q)).await;
        let seen: Vec<std::result::Result<Seen, i32>> = rs
            .iter()
            .map(|r| match r {
                Some(Ok(rsp)) => Ok(Seen {
                    stat: rsp.prestat,
                    xdata: &rsp.xdata,
                }),
                Some(Err(e)) => Err(e.errno()),
                None => Err(errno::ENOTCONN),
            })
            .collect();
        let chosen = merge(&self.o, &seen);
        let opts: Vec<Option<Seen>> = seen
            .iter()
            .map(|s| {
                s.as_ref().ok().map(|s| Seen {
                    stat: s.stat,
                    xdata: s.xdata,
                })
            })
            .collect();
        let sets = readable(&self.o, &opts);
        let is_dir = opts.iter().flatten().any(|s| s.stat.is_dir());
        match chosen {
            Ok(i) => {
                let Some(Ok(rsp)) = rs[i].take() else {
                    return Err(self.no_quorum("lookup"));
                };
                self.learn(rsp.prestat.gfid, sets, is_dir, epoch);
                Ok(rsp)
            }
            Err(e) if e == errno::EIO => {
                let g = opts
                    .iter()
                    .flatten()
                    .next()
                    .map(|s| s.stat.gfid)
                    .unwrap_or_default();
                let name = String::from_utf8_lossy(&req.bname).into_owned();
                tracing::error!(
                    "{}: '{name}' in {}: bricks disagree on its gfid (gfid split-brain)",
                    self.name,
                    req.pargfid
                );
                Err(self.split_brain_error(g, &sets))
            }
            Err(e) if e == errno::ENOTCONN => Err(self.no_quorum("lookup")),
            Err(e) => Err(error_with(&rs, e)),
        }
    }

    async fn stat(&self, ctx: &Ctx, on: &Target, xdata: GfxDict) -> Result<IattRsp> {
        self.read_from(ctx, on.gfid(), ReadKind::Data, |_, c| {
            c.stat(ctx, on, xdata.clone())
        })
        .await
    }
    async fn setattr(
        &self,
        ctx: &Ctx,
        on: &Target,
        stbuf: Iatt,
        valid: i32,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let plan = Self::meta_txn("setattr", on);
        self.transact(ctx, plan, |_, c| {
            c.setattr(ctx, on, stbuf, valid, xdata.clone())
        })
        .await?
        .take(self)
    }
    async fn truncate(
        &self,
        ctx: &Ctx,
        on: &Target,
        offset: u64,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let plan = Self::data_txn("truncate", on);
        self.transact(ctx, plan, |_, c| c.truncate(ctx, on, offset, xdata.clone()))
            .await?
            .take(self)
    }
    async fn access(&self, ctx: &Ctx, req: &AccessReq) -> Result<CommonRsp> {
        self.read_from(ctx, req.gfid, ReadKind::Metadata, |_, c| c.access(ctx, req))
            .await
    }
    async fn readlink(&self, ctx: &Ctx, req: &ReadlinkReq) -> Result<ReadlinkRsp> {
        self.read_from(ctx, req.gfid, ReadKind::Data, |_, c| c.readlink(ctx, req))
            .await
    }
    async fn statfs(&self, ctx: &Ctx, req: &StatfsReq) -> Result<StatfsRsp> {
        // The least room any data brick has is the room there is.
        let data: Vec<bool> = (0..self.n()).map(|i| !self.is_arbiter(i)).collect();
        let mut rs = self.each(&data, |_, c| c.statfs(ctx, req)).await;
        let best = (0..self.n())
            .filter(|&i| matches!(rs[i], Some(Ok(_))))
            .min_by_key(|&i| match &rs[i] {
                Some(Ok(r)) => r.statfs.bavail.saturating_mul(r.statfs.frsize.max(1)),
                _ => u64::MAX,
            });
        match best.and_then(|i| rs[i].take()) {
            Some(r) => r,
            None => Err(error_with(&rs, worst_errno(&rs))),
        }
    }
    async fn mknod(&self, ctx: &Ctx, req: &MknodReq) -> Result<ThreeIattRsp> {
        self.mknod_txn(ctx, req).await
    }
    async fn mkdir(&self, ctx: &Ctx, req: &MkdirReq) -> Result<ThreeIattRsp> {
        self.mkdir_txn(ctx, req).await
    }
    async fn symlink(&self, ctx: &Ctx, req: &SymlinkReq) -> Result<ThreeIattRsp> {
        self.symlink_txn(ctx, req).await
    }
    async fn link(&self, ctx: &Ctx, req: &LinkReq) -> Result<ThreeIattRsp> {
        self.link_txn(ctx, req).await
    }
    async fn unlink(&self, ctx: &Ctx, req: &UnlinkReq) -> Result<TwoIattRsp> {
        self.unlink_txn(ctx, req).await
    }
    async fn rmdir(&self, ctx: &Ctx, req: &RmdirReq) -> Result<TwoIattRsp> {
        self.rmdir_txn(ctx, req).await
    }
    async fn rename(&self, ctx: &Ctx, req: &RenameReq) -> Result<RenameRsp> {
        self.rename_txn(ctx, req).await
    }

    async fn getxattr(
        &self,
        ctx: &Ctx,
        on: &Target,
        name: &[u8],
        xdata: GfxDict,
    ) -> Result<DictRsp> {
        self.read_from(ctx, on.gfid(), ReadKind::Metadata, |_, c| {
            c.getxattr(ctx, on, name, xdata.clone())
        })
        .await
    }
    async fn setxattr(
        &self,
        ctx: &Ctx,
        on: &Target,
        dict: GfxDict,
        flags: u32,
        xdata: GfxDict,
    ) -> Result<CommonRsp> {
        if let Some((k, _)) = dict.pairs.iter().find(|(k, _)| is_afr_xattr(k)) {
            return Err(eperm_afr(k));
        }
        let plan = Self::meta_txn("setxattr", on);
        self.transact(ctx, plan, |_, c| {
            c.setxattr(ctx, on, dict.clone(), flags, xdata.clone())
        })
        .await?
        .take(self)
    }
    async fn removexattr(
        &self,
        ctx: &Ctx,
        on: &Target,
        name: &[u8],
        xdata: GfxDict,
    ) -> Result<CommonRsp> {
        if is_afr_xattr(name) {
            return Err(eperm_afr(name));
        }
        let plan = Self::meta_txn("removexattr", on);
        self.transact(ctx, plan, |_, c| {
            c.removexattr(ctx, on, name, xdata.clone())
        })
        .await?
        .take(self)
    }
    async fn inodelk(
        &self,
        ctx: &Ctx,
        on: &Target,
        domain: &[u8],
        cmd: u32,
        flock: &Flock,
        xdata: GfxDict,
    ) -> Result<CommonRsp> {
        if cmd == lock::GETLK {
            return self
                .read_from(ctx, on.gfid(), ReadKind::Metadata, |_, c| {
                    c.inodelk(ctx, on, domain, cmd, flock, xdata.clone())
                })
                .await;
        }
        let unlock = flock.kind == lock::UNLCK;
        self.cluster_lock(cmd == lock::SETLKW, unlock, |c, undo| {
            let mut f = flock.clone();
            let mut cmd = cmd;
            if undo {
                f.kind = lock::UNLCK;
                cmd = lock::SETLK;
            }
            let x = xdata.clone();
            async move { c.inodelk(ctx, on, domain, cmd, &f, x).await }
        })
        .await
    }
    async fn entrylk(
        &self,
        ctx: &Ctx,
        on: &Target,
        domain: &[u8],
        name: &[u8],
        cmd: u32,
        kind: u32,
        xdata: GfxDict,
    ) -> Result<CommonRsp> {
        let unlock = cmd == lock::ENTRYLK_UNLOCK;
        self.cluster_lock(cmd == lock::ENTRYLK_LOCK, unlock, |c, undo| {
            let cmd = if undo { lock::ENTRYLK_UNLOCK } else { cmd };
            c.entrylk(ctx, on, domain, name, cmd, kind, xdata.clone())
        })
        .await
    }
    async fn xattrop(
        &self,
        ctx: &Ctx,
        on: &Target,
        optype: u32,
        dict: GfxDict,
        xdata: GfxDict,
    ) -> Result<DictRsp> {
        let plan = Self::meta_txn("xattrop", on);
        self.transact(ctx, plan, |_, c| {
            c.xattrop(ctx, on, optype, dict.clone(), xdata.clone())
        })
        .await?
        .take(self)
    }

    async fn create(&self, ctx: &Ctx, req: &CreateReq, fd: &FdRef) -> Result<CreateRsp> {
        self.create_txn(ctx, req, fd).await
    }
    async fn open(&self, ctx: &Ctx, fd: &FdRef, xdata: GfxDict) -> Result<()> {
        // O_TRUNC is a data transaction of its own, never the bricks' OPEN
        // (§2).
        let trunc = !fd.is_dir && fd.flags & oflags::TRUNC != 0 && !fd.lazy;
        if trunc {
            fd.set_trunc_above();
        }
        let rs = self
            .each(&self.all(), |_, c| c.open(ctx, fd, xdata.clone()))
            .await;
        let ok: Vec<bool> = rs.iter().map(|r| matches!(r, Some(Ok(())))).collect();
        if !self.o.quorum_met(&ok) || !ok.iter().any(|o| *o) {
            return Err(if ok.iter().any(|o| *o) {
                self.no_quorum("open")
            } else {
                error_with(&rs, worst_errno(&rs))
            });
        }
        if trunc {
            let on = Target::Fd(fd.clone());
            let plan = Self::data_txn("open(O_TRUNC)", &on);
            self.transact(ctx, plan, |_, c| c.truncate(ctx, &on, 0, GfxDict::new()))
                .await?
                .take(self)?;
        }
        Ok(())
    }
    async fn read(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        size: u32,
        xdata: GfxDict,
    ) -> Result<(ReadRsp, Bytes)> {
        self.read_from(ctx, fd.gfid(), ReadKind::Data, |_, c| {
            c.read(ctx, fd, offset, size, xdata.clone())
        })
        .await
    }
    async fn write(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        data: Bytes,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        if self.o.eager_lock {
            return self.eager_write(ctx, fd, offset, data, xdata).await;
        }
        let on = Target::Fd(fd.clone());
        let mut plan = Self::data_txn("write", &on);
        let stable = fd.flags & oflags::SYNC != 0; // O_DSYNC, part of O_SYNC too
        if self.o.ensure_durability && !stable && fd.flags & oflags::APPEND == 0 {
            plan.durability = Some(fd.clone());
        }
        self.transact(ctx, plan, |i, c| {
            self.write_child(i, c, ctx, fd, offset, &data, xdata.clone())
        })
        .await?
        .take(self)
    }
    async fn flush(&self, ctx: &Ctx, fd: &FdRef, xdata: GfxDict) -> Result<()> {
        self.drain(fd.gfid(), false).await;
        let rs = self
            .each(&self.all(), |_, c| c.flush(ctx, fd, xdata.clone()))
            .await;
        self.first_ok(rs)
    }
    async fn fsync(&self, ctx: &Ctx, fd: &FdRef, datasync: bool, xdata: GfxDict) -> Result<()> {
        if fd.is_dir {
            let rs = self
                .each(&self.all(), |_, c| {
                    c.fsync(ctx, fd, datasync, xdata.clone())
                })
                .await;
            return self.first_ok(rs);
        }
        let on = Target::Fd(fd.clone());
        let plan = Self::data_txn("fsync", &on);
        self.transact(ctx, plan, |_, c| c.fsync(ctx, fd, datasync, xdata.clone()))
            .await?
            .take(self)
    }
    async fn fallocate(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        mode: u32,
        offset: u64,
        len: u64,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let plan = Self::data_txn("fallocate", &Target::Fd(fd.clone()));
        self.transact(ctx, plan, |_, c| {
            c.fallocate(ctx, fd, mode, offset, len, xdata.clone())
        })
        .await?
        .take(self)
    }
    async fn discard(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        len: u64,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let plan = Self::data_txn("discard", &Target::Fd(fd.clone()));
        self.transact(ctx, plan, |_, c| {
            c.discard(ctx, fd, offset, len, xdata.clone())
        })
        .await?
        .take(self)
    }
    async fn zerofill(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        len: u64,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let plan = Self::data_txn("zerofill", &Target::Fd(fd.clone()));
        self.transact(ctx, plan, |_, c| {
            c.zerofill(ctx, fd, offset, len, xdata.clone())
        })
        .await?
        .take(self)
    }
    async fn seek(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        what: i32,
        xdata: GfxDict,
    ) -> Result<SeekRsp> {
        self.read_from(ctx, fd.gfid(), ReadKind::Data, |_, c| {
            c.seek(ctx, fd, offset, what, xdata.clone())
        })
        .await
    }
    async fn lk(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        cmd: u32,
        flock: &Flock,
        xdata: GfxDict,
    ) -> Result<LkRsp> {
        self.app_lock(ctx, fd, cmd, flock, xdata).await
    }
    async fn readdir(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        size: u32,
        xdata: GfxDict,
    ) -> Result<ReaddirRsp> {
        let dir = fd.gfid();
        self.list(
            ctx,
            fd,
            offset,
            |c, off| c.readdir(ctx, fd, off, size, xdata.clone()),
            |r: &mut ReaddirRsp, _| {
                let last = r.entries.0.last().map(|e| e.d_off);
                r.entries.0.retain(|e| !hidden(dir, &e.name));
                if r.entries.0.is_empty() {
                    last
                } else {
                    None
                }
            },
        )
        .await
    }
    async fn readdirp(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        size: u32,
        xdata: GfxDict,
    ) -> Result<ReaddirpRsp> {
        let dir = fd.gfid();
        self.list(
            ctx,
            fd,
            offset,
            |c, off| c.readdirp(ctx, fd, off, size, xdata.clone()),
            |r: &mut ReaddirpRsp, i| {
                let last = r.entries.0.last().map(|e| e.d_off);
                r.entries.0.retain(|e| !hidden(dir, &e.name));
                // Attributes from a brick known to be a stale copy of the
                // entry are not handed up: a lookup will fetch good ones.
                for e in &mut r.entries.0 {
                    let stale = self.known(e.stat.gfid).is_some_and(|k| {
                        !k.sets.data.get(i).copied().unwrap_or(false)
                            || !k.sets.meta.get(i).copied().unwrap_or(false)
                    });
                    if stale {
                        e.stat = Iatt::default();
                    }
                }
                if r.entries.0.is_empty() {
                    last
                } else {
                    None
                }
            },
        )
        .await
    }
    async fn copy_file_range(
        &self,
        _ctx: &Ctx,
        _fd_in: &FdRef,
        _off_in: u64,
        _fd_out: &FdRef,
        _off_out: u64,
        _len: u32,
        _xdata: GfxDict,
    ) -> Result<ThreeIattRsp> {
        // A server-side copy would bypass the transaction; the kernel
        // copies through read and write instead.
        Err(Error::errno_msg(
            errno::ENOSYS,
            "copy_file_range on a replica set",
        ))
    }
}
