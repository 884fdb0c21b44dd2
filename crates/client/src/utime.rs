//! features/utime: the AUTH v3 credential flags that make the brick set
//! times from the client's clock (PROTOCOL.md 2.4). Without them, times do
//! not advance on volumes with ctime enabled (the 10.x default). As a
//! translator it stamps each fop's caller context with the flags of that
//! fop; protocol/client puts them in the credential.

use crate::error::Result;
use crate::graph::{is_true, XlSpec};
use crate::xlator::*;
use async_trait::async_trait;
use bytes::Bytes;
use proto::dict::GfxDict;
use proto::fops::*;
use proto::rpc_msg::mdata_flags::*;
use std::sync::Arc;

/// Whether the volume has features/utime and its noatime option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Utime {
    pub enabled: bool,
    pub noatime: bool,
}

impl Utime {
    /// The options of a features/utime section.
    pub fn from_spec(x: &XlSpec) -> Utime {
        Utime {
            enabled: true,
            noatime: x.option("noatime").is_none_or(is_true),
        }
    }

    /// The flags to send with `fop`.
    pub fn flags(&self, fop: Fop) -> u32 {
        if !self.enabled {
            return 0;
        }
        let atime = if self.noatime { 0 } else { ATIME };
        match fop {
            Fop::Setxattr | Fop::Fsetxattr | Fop::Removexattr | Fop::Fremovexattr => CTIME,
            // Upstream (utime-autogen SETATTR template) sends CTIME when
            // `valid` is 0 or has UID, GID or MODE, and for times alone
            // sends no flag but the current time (the given time for
            // *_NOW), which the brick's posix_update_utime_in_mdata makes
            // the ctime. CTIME with the current time does both.
            Fop::Setattr | Fop::Fsetattr => CTIME,
            Fop::Write | Fop::Truncate | Fop::Ftruncate => MTIME | CTIME,
            // Upstream's choice (utime-helpers.c), odd as it is.
            Fop::Fallocate | Fop::Zerofill => MTIME | ATIME,
            Fop::Open | Fop::Opendir | Fop::Read => atime,
            Fop::Mknod | Fop::Mkdir | Fop::Symlink | Fop::Create => {
                ATIME | CTIME | MTIME | PAR_CTIME | PAR_MTIME
            }
            Fop::Unlink | Fop::Rmdir | Fop::Link | Fop::Rename => CTIME | PAR_CTIME | PAR_MTIME,
            Fop::CopyFileRange => CTIME | MTIME | atime,
            _ => 0,
        }
    }
}

/// The features/utime translator.
pub struct UtimeXl {
    name: String,
    id: XlId,
    utime: Utime,
    children: Vec<Arc<dyn Xlator>>,
}

impl UtimeXl {
    pub fn new(spec: &XlSpec, children: Vec<Arc<dyn Xlator>>) -> Arc<UtimeXl> {
        Arc::new(UtimeXl {
            name: spec.name.clone(),
            id: new_id(),
            utime: Utime::from_spec(spec),
            children,
        })
    }

    fn child(&self) -> Result<&Arc<dyn Xlator>> {
        self.children.first().ok_or_else(|| {
            crate::Error::errno_msg(
                proto::errno::ENOSYS,
                format!("features/utime '{}' has no subvolume", self.name),
            )
        })
    }

    /// `ctx` stamped for `fop`.
    fn stamp(&self, ctx: &Ctx, fop: Fop) -> Ctx {
        Ctx {
            utime_flags: self.utime.flags(fop),
            utime_ns: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            ..ctx.clone()
        }
    }
}

/// Picks the wire fop of an inode-or-fd call.
fn either(on: &Target, inode: Fop, fd: Fop) -> Fop {
    match on {
        Target::Inode(_) => inode,
        Target::Fd(_) => fd,
    }
}

#[async_trait]
impl Xlator for UtimeXl {
    fn name(&self) -> &str {
        &self.name
    }
    fn xl_type(&self) -> &str {
        "features/utime"
    }
    fn id(&self) -> XlId {
        self.id
    }
    fn children(&self) -> &[Arc<dyn Xlator>] {
        &self.children
    }

    async fn setattr(
        &self,
        ctx: &Ctx,
        on: &Target,
        stbuf: proto::iatt::Iatt,
        valid: i32,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let ctx = self.stamp(ctx, either(on, Fop::Setattr, Fop::Fsetattr));
        self.child()?.setattr(&ctx, on, stbuf, valid, xdata).await
    }
    async fn truncate(
        &self,
        ctx: &Ctx,
        on: &Target,
        offset: u64,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let ctx = self.stamp(ctx, either(on, Fop::Truncate, Fop::Ftruncate));
        self.child()?.truncate(&ctx, on, offset, xdata).await
    }
    async fn mknod(&self, ctx: &Ctx, req: &MknodReq) -> Result<ThreeIattRsp> {
        self.child()?.mknod(&self.stamp(ctx, Fop::Mknod), req).await
    }
    async fn mkdir(&self, ctx: &Ctx, req: &MkdirReq) -> Result<ThreeIattRsp> {
        self.child()?.mkdir(&self.stamp(ctx, Fop::Mkdir), req).await
    }
    async fn symlink(&self, ctx: &Ctx, req: &SymlinkReq) -> Result<ThreeIattRsp> {
        self.child()?
            .symlink(&self.stamp(ctx, Fop::Symlink), req)
            .await
    }
    async fn link(&self, ctx: &Ctx, req: &LinkReq) -> Result<ThreeIattRsp> {
        self.child()?.link(&self.stamp(ctx, Fop::Link), req).await
    }
    async fn unlink(&self, ctx: &Ctx, req: &UnlinkReq) -> Result<TwoIattRsp> {
        self.child()?
            .unlink(&self.stamp(ctx, Fop::Unlink), req)
            .await
    }
    async fn rmdir(&self, ctx: &Ctx, req: &RmdirReq) -> Result<TwoIattRsp> {
        self.child()?.rmdir(&self.stamp(ctx, Fop::Rmdir), req).await
    }
    async fn rename(&self, ctx: &Ctx, req: &RenameReq) -> Result<RenameRsp> {
        self.child()?
            .rename(&self.stamp(ctx, Fop::Rename), req)
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
        let ctx = self.stamp(ctx, either(on, Fop::Setxattr, Fop::Fsetxattr));
        self.child()?.setxattr(&ctx, on, dict, flags, xdata).await
    }
    async fn removexattr(
        &self,
        ctx: &Ctx,
        on: &Target,
        name: &[u8],
        xdata: GfxDict,
    ) -> Result<CommonRsp> {
        let ctx = self.stamp(ctx, either(on, Fop::Removexattr, Fop::Fremovexattr));
        self.child()?.removexattr(&ctx, on, name, xdata).await
    }
    async fn create(&self, ctx: &Ctx, req: &CreateReq, fd: &FdRef) -> Result<CreateRsp> {
        self.child()?
            .create(&self.stamp(ctx, Fop::Create), req, fd)
            .await
    }
    async fn open(&self, ctx: &Ctx, fd: &FdRef, xdata: GfxDict) -> Result<()> {
        let fop = if fd.is_dir { Fop::Opendir } else { Fop::Open };
        self.child()?.open(&self.stamp(ctx, fop), fd, xdata).await
    }
    async fn read(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        size: u32,
        xdata: GfxDict,
    ) -> Result<(ReadRsp, Bytes)> {
        let ctx = self.stamp(ctx, Fop::Read);
        self.child()?.read(&ctx, fd, offset, size, xdata).await
    }
    async fn write(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        data: Bytes,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let ctx = self.stamp(ctx, Fop::Write);
        self.child()?.write(&ctx, fd, offset, data, xdata).await
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
        let ctx = self.stamp(ctx, Fop::Fallocate);
        self.child()?
            .fallocate(&ctx, fd, mode, offset, len, xdata)
            .await
    }
    async fn discard(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        len: u64,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let ctx = self.stamp(ctx, Fop::Discard);
        self.child()?.discard(&ctx, fd, offset, len, xdata).await
    }
    async fn zerofill(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        len: u64,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let ctx = self.stamp(ctx, Fop::Zerofill);
        self.child()?.zerofill(&ctx, fd, offset, len, xdata).await
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
        let ctx = self.stamp(ctx, Fop::CopyFileRange);
        self.child()?
            .copy_file_range(&ctx, fd_in, off_in, fd_out, off_out, len, xdata)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_official_client_on_the_wire() {
        // PROTOCOL.md 2.4: FUSE sent 0x1f with CREATE, 0x3 with WRITE,
        // 0x19 with UNLINK, 0 with OPEN/READ/LOOKUP/FLUSH under noatime.
        let u = Utime {
            enabled: true,
            noatime: true,
        };
        assert_eq!(u.flags(Fop::Create), 0x1f);
        assert_eq!(u.flags(Fop::Write), 0x3);
        assert_eq!(u.flags(Fop::Unlink), 0x19);
        assert_eq!(u.flags(Fop::Open), 0);
        assert_eq!(u.flags(Fop::Lookup), 0);
        // chmod, chown, utimes: the brick moves ctime to the sent time.
        assert_eq!(u.flags(Fop::Setattr), 0x1);
        assert_eq!(u.flags(Fop::Fsetattr), 0x1);
        assert_eq!(Utime::default().flags(Fop::Write), 0);
    }
}
