//! cluster/distribute as a translator: which fop goes to which child.
//! The rules themselves live in lookup.rs, entry.rs, readdir.rs and
//! fd_ops.rs; this file routes each fop to them. (The inherent methods of
//! the same name take the arguments those rules need; `Distribute::x(self,
//! ..)` below always means the inherent one.)

use super::{merge_dir_iatt, migration, Distribute, Phase};
use crate::error::{Error, Result};
use crate::xlator::*;
use async_trait::async_trait;
use bytes::Bytes;
use proto::dict::GfxDict;
use proto::errno;
use proto::fops::*;
use proto::iatt::{Flock, Iatt};
use proto::Gfid;
use std::sync::Arc;

impl Distribute {
    /// A directory that lives on several subvolumes (setattr and xattrs go
    /// to all of them).
    async fn spread_dir(&self, ctx: &Ctx, on: &Target) -> Result<bool> {
        Ok(!self.single() && matches!(on, Target::Inode(_)) && self.is_dir(ctx, on.gfid()).await?)
    }
}

/// Sends a gfid-or-fd fop: by gfid to the inode's subvolume, by fd to the
/// fd's (following a moved file).
macro_rules! routed {
    ($self:ident, $ctx:ident, $on:ident, |$c:ident, $t:ident| $call:expr) => {
        match $on {
            Target::Inode(g) => {
                let $t = $on;
                $self
                    .to_inode($ctx, *g, |$c| Box::pin(async move { $call.await }))
                    .await
            }
            Target::Fd(fd) => {
                let $t = $on;
                $self
                    .on_fd($ctx, fd, |$c| Box::pin(async move { $call.await }))
                    .await
            }
        }
    };
}

/// Sends an fd fop to the fd's subvolume, following a moved file.
macro_rules! via_fd {
    ($self:ident, $ctx:ident, $fd:ident, |$c:ident| $call:expr) => {
        $self
            .on_fd($ctx, $fd, |$c| Box::pin(async move { $call.await }))
            .await
    };
}

impl Distribute {
    /// A parent's attributes from the one subvolume that answered, as the
    /// merged view of the directory looks (§4.4): what an entry
    /// operation hands up for caching.
    fn as_merged_dir(&self, st: Iatt) -> Iatt {
        if self.single() || !st.is_valid() {
            st
        } else {
            merge_dir_iatt(None, &st)
        }
    }

    fn parent_merged(&self, mut r: ThreeIattRsp) -> ThreeIattRsp {
        r.postparent = self.as_merged_dir(r.postparent);
        r
    }
}

fn dict_key(dict: &GfxDict) -> String {
    dict.pairs
        .first()
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .unwrap_or_default()
}

#[async_trait]
impl Xlator for Distribute {
    fn name(&self) -> &str {
        &self.name
    }
    fn xl_type(&self) -> &str {
        "cluster/distribute"
    }
    fn id(&self) -> XlId {
        self.id
    }
    fn children(&self) -> &[Arc<dyn Xlator>] {
        &self.subvols
    }
    fn hides_xattr(&self, name: &[u8]) -> bool {
        super::is_dht_xattr(name)
    }
    async fn refresh(&self, ctx: &Ctx) {
        // A rebalance may have started: learn the volume's commit hash
        // again (it lives on the root directory).
        let _ = self.lookup_gfid(ctx, Gfid::ROOT).await;
    }

    async fn lookup(&self, ctx: &Ctx, req: &LookupReq) -> Result<TwoIattRsp> {
        let st = if req.bname.is_empty() {
            self.lookup_gfid(ctx, req.gfid).await?
        } else {
            Distribute::lookup(self, ctx, req.pargfid, &req.bname).await?
        };
        Ok(TwoIattRsp {
            op_ret: 0,
            op_errno: 0,
            xdata: GfxDict::new(),
            prestat: st,
            poststat: Iatt::default(),
        })
    }

    async fn stat(&self, ctx: &Ctx, on: &Target, xdata: GfxDict) -> Result<IattRsp> {
        if self.spread_dir(ctx, on).await? {
            let stat = self.dir_stat(ctx, on.gfid()).await?;
            return Ok(IattRsp {
                op_ret: 0,
                op_errno: 0,
                xdata: GfxDict::new(),
                stat,
            });
        }
        let xdata = &xdata;
        let mut r = routed!(self, ctx, on, |c, t| c.stat(ctx, t, xdata.clone()))?;
        if !self.single() && migration::phase(&r.stat) == Phase::Moved {
            // A finished migration's empty source: ask where it went.
            match on {
                Target::Fd(fd) => {
                    self.follow(ctx, fd).await?;
                }
                Target::Inode(g) => self.forget(*g),
            }
            r = routed!(self, ctx, on, |c, t| c.stat(ctx, t, xdata.clone()))?;
        }
        migration::clean(&mut r.stat);
        Ok(r)
    }

    async fn setattr(
        &self,
        ctx: &Ctx,
        on: &Target,
        stbuf: Iatt,
        valid: i32,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        if self.spread_dir(ctx, on).await? {
            let req = SetattrReq {
                gfid: on.gfid(),
                stbuf,
                valid,
                xdata,
            };
            let all = self.to_all(ctx, &req).await?;
            let post = all
                .iter()
                .fold(None, |acc, r| Some(merge_dir_iatt(acc, &r.poststat)));
            let mut first = all.into_iter().next();
            return match (first.take(), post) {
                (Some(r), Some(p)) => Ok(TwoIattRsp { poststat: p, ..r }),
                _ => Err(Error::errno_msg(errno::EIO, "no reply")),
            };
        }
        let xdata = &xdata;
        let mut r = routed!(self, ctx, on, |c, t| c.setattr(
            ctx,
            t,
            stbuf,
            valid,
            xdata.clone()
        ))?;
        migration::clean(&mut r.poststat);
        Ok(r)
    }

    async fn truncate(
        &self,
        ctx: &Ctx,
        on: &Target,
        offset: u64,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let xdata = &xdata;
        routed!(self, ctx, on, |c, t| c.truncate(
            ctx,
            t,
            offset,
            xdata.clone()
        ))
    }
    async fn access(&self, ctx: &Ctx, req: &AccessReq) -> Result<CommonRsp> {
        self.to_inode(ctx, req.gfid, |c| {
            Box::pin(async move { req.send(&*c, ctx).await })
        })
        .await
    }
    async fn readlink(&self, ctx: &Ctx, req: &ReadlinkReq) -> Result<ReadlinkRsp> {
        self.to_inode(ctx, req.gfid, |c| {
            Box::pin(async move { req.send(&*c, ctx).await })
        })
        .await
    }
    async fn statfs(&self, ctx: &Ctx, req: &StatfsReq) -> Result<StatfsRsp> {
        let statfs = Distribute::statfs(self, ctx, req).await?;
        Ok(StatfsRsp {
            op_ret: 0,
            op_errno: 0,
            xdata: GfxDict::new(),
            statfs,
        })
    }
    async fn mknod(&self, ctx: &Ctx, req: &MknodReq) -> Result<ThreeIattRsp> {
        let r = Distribute::mknod(self, ctx, req).await?;
        Ok(self.parent_merged(r))
    }
    async fn mkdir(&self, ctx: &Ctx, req: &MkdirReq) -> Result<ThreeIattRsp> {
        let r = Distribute::mkdir(self, ctx, req).await?;
        Ok(self.parent_merged(r))
    }
    async fn symlink(&self, ctx: &Ctx, req: &SymlinkReq) -> Result<ThreeIattRsp> {
        let r = Distribute::symlink(self, ctx, req).await?;
        Ok(self.parent_merged(r))
    }
    async fn link(&self, ctx: &Ctx, req: &LinkReq) -> Result<ThreeIattRsp> {
        let r = Distribute::link(self, ctx, req).await?;
        Ok(self.parent_merged(r))
    }
    async fn unlink(&self, ctx: &Ctx, req: &UnlinkReq) -> Result<TwoIattRsp> {
        let mut r = Distribute::unlink(self, ctx, req).await?;
        r.poststat = self.as_merged_dir(r.poststat);
        Ok(r)
    }
    async fn rmdir(&self, ctx: &Ctx, req: &RmdirReq) -> Result<TwoIattRsp> {
        let mut r = Distribute::rmdir(self, ctx, req).await?;
        r.poststat = self.as_merged_dir(r.poststat);
        Ok(r)
    }
    async fn rename(&self, ctx: &Ctx, req: &RenameReq) -> Result<RenameRsp> {
        let mut r = Distribute::rename(self, ctx, req).await?;
        r.postoldparent = self.as_merged_dir(r.postoldparent);
        r.postnewparent = self.as_merged_dir(r.postnewparent);
        Ok(r)
    }

    async fn getxattr(
        &self,
        ctx: &Ctx,
        on: &Target,
        name: &[u8],
        xdata: GfxDict,
    ) -> Result<DictRsp> {
        let xdata = &xdata;
        routed!(self, ctx, on, |c, t| c.getxattr(
            ctx,
            t,
            name,
            xdata.clone()
        ))
    }
    async fn setxattr(
        &self,
        ctx: &Ctx,
        on: &Target,
        dict: GfxDict,
        flags: u32,
        xdata: GfxDict,
    ) -> Result<CommonRsp> {
        if self.spread_dir(ctx, on).await? {
            let key = dict_key(&dict);
            let req = SetxattrReq {
                gfid: on.gfid(),
                flags,
                dict,
                xdata,
            };
            return self.dir_xattr_fop(ctx, on.gfid(), &key, &req).await;
        }
        let (xdata, dict) = (&xdata, &dict);
        routed!(self, ctx, on, |c, t| c.setxattr(
            ctx,
            t,
            dict.clone(),
            flags,
            xdata.clone()
        ))
    }
    async fn removexattr(
        &self,
        ctx: &Ctx,
        on: &Target,
        name: &[u8],
        xdata: GfxDict,
    ) -> Result<CommonRsp> {
        if self.spread_dir(ctx, on).await? {
            let key = String::from_utf8_lossy(name).into_owned();
            let req = RemovexattrReq {
                gfid: on.gfid(),
                name: name.to_vec(),
                xdata,
            };
            return self.dir_xattr_fop(ctx, on.gfid(), &key, &req).await;
        }
        let xdata = &xdata;
        routed!(self, ctx, on, |c, t| c.removexattr(
            ctx,
            t,
            name,
            xdata.clone()
        ))
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
        let xdata = &xdata;
        routed!(self, ctx, on, |c, t| c.inodelk(
            ctx,
            t,
            domain,
            cmd,
            flock,
            xdata.clone()
        ))
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
        let xdata = &xdata;
        routed!(self, ctx, on, |c, t| c.entrylk(
            ctx,
            t,
            domain,
            name,
            cmd,
            kind,
            xdata.clone()
        ))
    }
    async fn xattrop(
        &self,
        ctx: &Ctx,
        on: &Target,
        optype: u32,
        dict: GfxDict,
        xdata: GfxDict,
    ) -> Result<DictRsp> {
        let (xdata, dict) = (&xdata, &dict);
        routed!(self, ctx, on, |c, t| c.xattrop(
            ctx,
            t,
            optype,
            dict.clone(),
            xdata.clone()
        ))
    }

    async fn create(&self, ctx: &Ctx, req: &CreateReq, fd: &FdRef) -> Result<CreateRsp> {
        let (at, mut rsp) = Distribute::create(self, ctx, req, fd).await?;
        if !self.single() {
            self.set_fd_child(fd, at);
        }
        rsp.postparent = self.as_merged_dir(rsp.postparent);
        Ok(rsp)
    }
    async fn open(&self, ctx: &Ctx, fd: &FdRef, xdata: GfxDict) -> Result<()> {
        if fd.is_dir && !self.single() {
            return self.opendir_all(ctx, fd, xdata).await;
        }
        self.on_fd(ctx, fd, |c| {
            let xdata = xdata.clone();
            Box::pin(async move { c.open(ctx, fd, xdata).await })
        })
        .await
    }
    async fn read(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        size: u32,
        xdata: GfxDict,
    ) -> Result<(ReadRsp, Bytes)> {
        self.read_fd(ctx, fd, offset, size, xdata).await
    }
    async fn write(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        data: Bytes,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        self.write_fd(ctx, fd, offset, data, xdata).await
    }
    async fn flush(&self, ctx: &Ctx, fd: &FdRef, xdata: GfxDict) -> Result<()> {
        let xdata = &xdata;
        via_fd!(self, ctx, fd, |c| c.flush(ctx, fd, xdata.clone()))
    }
    async fn fsync(&self, ctx: &Ctx, fd: &FdRef, datasync: bool, xdata: GfxDict) -> Result<()> {
        if let Some(dir) = self.spread_dir_fd(fd) {
            for (i, _) in dir.present.iter().enumerate().filter(|(_, p)| **p) {
                self.subvols[i]
                    .fsync(ctx, fd, datasync, xdata.clone())
                    .await?;
            }
            return Ok(());
        }
        let xdata = &xdata;
        via_fd!(self, ctx, fd, |c| c.fsync(ctx, fd, datasync, xdata.clone()))
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
        let xdata = &xdata;
        via_fd!(self, ctx, fd, |c| c.fallocate(
            ctx,
            fd,
            mode,
            offset,
            len,
            xdata.clone()
        ))
    }
    async fn discard(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        len: u64,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let xdata = &xdata;
        via_fd!(self, ctx, fd, |c| c.discard(
            ctx,
            fd,
            offset,
            len,
            xdata.clone()
        ))
    }
    async fn zerofill(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        len: u64,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let xdata = &xdata;
        via_fd!(self, ctx, fd, |c| c.zerofill(
            ctx,
            fd,
            offset,
            len,
            xdata.clone()
        ))
    }
    async fn seek(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        what: i32,
        xdata: GfxDict,
    ) -> Result<SeekRsp> {
        let xdata = &xdata;
        via_fd!(self, ctx, fd, |c| c.seek(
            ctx,
            fd,
            offset,
            what,
            xdata.clone()
        ))
    }
    async fn lk(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        cmd: u32,
        flock: &Flock,
        xdata: GfxDict,
    ) -> Result<LkRsp> {
        let xdata = &xdata;
        via_fd!(self, ctx, fd, |c| c.lk(ctx, fd, cmd, flock, xdata.clone()))
    }
    async fn readdir(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        size: u32,
        xdata: GfxDict,
    ) -> Result<ReaddirRsp> {
        if self.spread_dir_fd(fd).is_some() {
            // Over several subvolumes the linkto files must be told apart,
            // which needs their attributes: READDIRP, as upstream does.
            let r = self.readdirp(ctx, fd, offset, size, xdata).await?;
            let entries = r
                .entries
                .0
                .into_iter()
                .map(|e| DirEntry {
                    d_ino: e.d_ino,
                    d_off: e.d_off,
                    d_type: e.d_type,
                    name: e.name,
                })
                .collect();
            return Ok(ReaddirRsp {
                op_ret: r.op_ret,
                op_errno: r.op_errno,
                xdata: r.xdata,
                entries: DirList(entries),
            });
        }
        let i = self.fd_child(ctx, fd).await?;
        self.subvols[i].readdir(ctx, fd, offset, size, xdata).await
    }
    async fn readdirp(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        size: u32,
        xdata: GfxDict,
    ) -> Result<ReaddirpRsp> {
        let Some(dir) = self.spread_dir_fd(fd) else {
            let i = self.fd_child(ctx, fd).await?;
            return self.subvols[i].readdirp(ctx, fd, offset, size, xdata).await;
        };
        let entries = super::readdir::readdirp(self, ctx, fd, &dir.present, offset, size).await?;
        Ok(ReaddirpRsp {
            op_ret: entries.len() as i32,
            op_errno: 0,
            xdata: GfxDict::new(),
            entries: DirPList(entries),
        })
    }
    async fn copy_file_range(
        &self,
        ctx: &Ctx,
        fd_in: &FdRef,
        off_in: u64,
        fd_out: &FdRef,
        off_out: u64,
        len: u32,
        xdata: GfxDict,
    ) -> Result<ThreeIattRsp> {
        let (a, b) = (
            self.fd_child(ctx, fd_in).await?,
            self.fd_child(ctx, fd_out).await?,
        );
        if a != b {
            return Err(Error::errno_msg(
                errno::EXDEV,
                "files are on different bricks",
            ));
        }
        self.subvols[a]
            .copy_file_range(ctx, fd_in, off_in, fd_out, off_out, len, xdata)
            .await
    }
}
