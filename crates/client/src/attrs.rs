//! Attributes, extended attributes and cluster locks of an inode, by gfid
//! or through an open fd: one call each taking a [`Target`], with the
//! gfid forms on `Volume` and the fd forms on `Fd` as thin wrappers.

use crate::error::Result;
use crate::fd::Fd;
use crate::volume::{on_graph, setattr_args, xattr_value, Ctx, SetAttr, Volume};
use crate::xlator::Target;
use proto::dict::{DictValue, GfxDict};
use proto::iatt::{Flock, Iatt};
use proto::Gfid;

impl Volume {
    pub async fn stat_on(&self, ctx: &Ctx, on: &Target) -> Result<Iatt> {
        let r = on_graph!(self, |top| top.stat(ctx, on, GfxDict::new())).await?;
        crate::volume::valid_stat(r.stat, "STAT")
    }

    pub async fn setattr_on(&self, ctx: &Ctx, on: &Target, attr: &SetAttr) -> Result<Iatt> {
        let (stbuf, valid) = setattr_args(attr);
        let r = on_graph!(self, |top| top.setattr(
            ctx,
            on,
            stbuf,
            valid,
            GfxDict::new()
        ))
        .await?;
        Ok(r.poststat)
    }

    pub async fn truncate_on(&self, ctx: &Ctx, on: &Target, size: u64) -> Result<Iatt> {
        let r = on_graph!(self, |top| top.truncate(ctx, on, size, GfxDict::new())).await?;
        Ok(r.poststat)
    }

    pub async fn setxattr_on(
        &self,
        ctx: &Ctx,
        on: &Target,
        name: &str,
        value: &[u8],
        flags: u32,
    ) -> Result<()> {
        let dict = GfxDict::new().with(name, DictValue::Ptr(value.to_vec()));
        let top = self.top();
        top.setxattr(ctx, on, dict, flags, GfxDict::new()).await?;
        Ok(())
    }

    pub async fn getxattr_on(&self, ctx: &Ctx, on: &Target, name: &str) -> Result<Vec<u8>> {
        let r = on_graph!(self, |top| top.getxattr(
            ctx,
            on,
            name.as_bytes(),
            GfxDict::new()
        ))
        .await?;
        xattr_value(&r.dict, name)
    }

    /// Names of all extended attributes the bricks show.
    pub async fn listxattr_on(&self, ctx: &Ctx, on: &Target) -> Result<Vec<Vec<u8>>> {
        let r = on_graph!(self, |top| top.getxattr(ctx, on, b"", GfxDict::new())).await?;
        Ok(r.dict.pairs.into_iter().map(|(k, _)| k).collect())
    }

    pub async fn removexattr_on(&self, ctx: &Ctx, on: &Target, name: &str) -> Result<()> {
        let top = self.top();
        top.removexattr(ctx, on, name.as_bytes(), GfxDict::new())
            .await?;
        Ok(())
    }

    /// INODELK in lock `domain`: `cmd` is lock::GETLK/SETLK/SETLKW, the
    /// owner is `ctx.lk_owner`.
    pub async fn inodelk_on(
        &self,
        ctx: &Ctx,
        on: &Target,
        domain: &str,
        cmd: u32,
        flock: &Flock,
    ) -> Result<()> {
        let top = self.top();
        top.inodelk(ctx, on, domain.as_bytes(), cmd, flock, GfxDict::new())
            .await?;
        Ok(())
    }

    /// ENTRYLK on `name` in directory `on` (None: the whole directory).
    /// `cmd`: lock::ENTRYLK_LOCK/UNLOCK/LOCK_NB; `kind`: RDLCK or WRLCK.
    pub async fn entrylk_on(
        &self,
        ctx: &Ctx,
        on: &Target,
        domain: &str,
        name: Option<&[u8]>,
        cmd: u32,
        kind: u32,
    ) -> Result<()> {
        let (top, name) = (self.top(), name.unwrap_or_default());
        top.entrylk(ctx, on, domain.as_bytes(), name, cmd, kind, GfxDict::new())
            .await?;
        Ok(())
    }

    /// XATTROP: atomically combines `dict`'s values with the xattrs
    /// (`optype` e.g. 0 = ADD_ARRAY of big-endian int32s); returns the
    /// resulting values.
    pub async fn xattrop_on(
        &self,
        ctx: &Ctx,
        on: &Target,
        optype: u32,
        dict: GfxDict,
    ) -> Result<GfxDict> {
        // Not repeated after a graph switch: the arithmetic is not idempotent.
        let top = self.top();
        let r = top.xattrop(ctx, on, optype, dict, GfxDict::new()).await?;
        Ok(r.dict)
    }
}

/// The gfid forms.
impl Volume {
    pub async fn stat(&self, ctx: &Ctx, gfid: Gfid) -> Result<Iatt> {
        self.stat_on(ctx, &Target::Inode(gfid)).await
    }
    pub async fn setattr(&self, ctx: &Ctx, gfid: Gfid, attr: &SetAttr) -> Result<Iatt> {
        self.setattr_on(ctx, &Target::Inode(gfid), attr).await
    }
    pub async fn truncate(&self, ctx: &Ctx, gfid: Gfid, size: u64) -> Result<Iatt> {
        self.truncate_on(ctx, &Target::Inode(gfid), size).await
    }
    pub async fn setxattr(
        &self,
        ctx: &Ctx,
        gfid: Gfid,
        name: &str,
        value: &[u8],
        flags: u32,
    ) -> Result<()> {
        self.setxattr_on(ctx, &Target::Inode(gfid), name, value, flags)
            .await
    }
    pub async fn getxattr(&self, ctx: &Ctx, gfid: Gfid, name: &str) -> Result<Vec<u8>> {
        self.getxattr_on(ctx, &Target::Inode(gfid), name).await
    }
    pub async fn listxattr(&self, ctx: &Ctx, gfid: Gfid) -> Result<Vec<Vec<u8>>> {
        self.listxattr_on(ctx, &Target::Inode(gfid)).await
    }
    pub async fn removexattr(&self, ctx: &Ctx, gfid: Gfid, name: &str) -> Result<()> {
        self.removexattr_on(ctx, &Target::Inode(gfid), name).await
    }
    pub async fn inodelk(
        &self,
        ctx: &Ctx,
        gfid: Gfid,
        domain: &str,
        cmd: u32,
        flock: &Flock,
    ) -> Result<()> {
        self.inodelk_on(ctx, &Target::Inode(gfid), domain, cmd, flock)
            .await
    }
    pub async fn entrylk(
        &self,
        ctx: &Ctx,
        gfid: Gfid,
        domain: &str,
        name: Option<&[u8]>,
        cmd: u32,
        kind: u32,
    ) -> Result<()> {
        self.entrylk_on(ctx, &Target::Inode(gfid), domain, name, cmd, kind)
            .await
    }
    pub async fn xattrop(
        &self,
        ctx: &Ctx,
        gfid: Gfid,
        optype: u32,
        dict: GfxDict,
    ) -> Result<GfxDict> {
        self.xattrop_on(ctx, &Target::Inode(gfid), optype, dict)
            .await
    }
}

/// The fd forms.
impl Fd {
    fn on(&self) -> Target {
        Target::Fd(self.fd_ref().clone())
    }
    pub async fn fstat(&self, ctx: &Ctx) -> Result<Iatt> {
        // An fd's attributes may be of an unlinked file (nlink 0): valid.
        let on = &self.on();
        let r = on_graph!(self.volume(), |top| top.stat(ctx, on, GfxDict::new())).await?;
        Ok(r.stat)
    }
    pub async fn fsetattr(&self, ctx: &Ctx, attr: &SetAttr) -> Result<Iatt> {
        self.volume().setattr_on(ctx, &self.on(), attr).await
    }
    pub async fn ftruncate(&self, ctx: &Ctx, size: u64) -> Result<Iatt> {
        self.volume().truncate_on(ctx, &self.on(), size).await
    }
    pub async fn fsetxattr(&self, ctx: &Ctx, name: &str, value: &[u8], flags: u32) -> Result<()> {
        let on = self.on();
        self.volume()
            .setxattr_on(ctx, &on, name, value, flags)
            .await
    }
    pub async fn fgetxattr(&self, ctx: &Ctx, name: &str) -> Result<Vec<u8>> {
        self.volume().getxattr_on(ctx, &self.on(), name).await
    }
    pub async fn fremovexattr(&self, ctx: &Ctx, name: &str) -> Result<()> {
        self.volume().removexattr_on(ctx, &self.on(), name).await
    }
    /// FINODELK: as [`Volume::inodelk`], through this fd.
    pub async fn finodelk(&self, ctx: &Ctx, domain: &str, cmd: u32, flock: &Flock) -> Result<()> {
        let on = self.on();
        self.volume().inodelk_on(ctx, &on, domain, cmd, flock).await
    }
    /// FENTRYLK: as [`Volume::entrylk`], through this directory fd.
    pub async fn fentrylk(
        &self,
        ctx: &Ctx,
        domain: &str,
        name: Option<&[u8]>,
        cmd: u32,
        kind: u32,
    ) -> Result<()> {
        let on = self.on();
        self.volume()
            .entrylk_on(ctx, &on, domain, name, cmd, kind)
            .await
    }
    /// FXATTROP: as [`Volume::xattrop`], through this fd.
    pub async fn fxattrop(&self, ctx: &Ctx, optype: u32, dict: GfxDict) -> Result<GfxDict> {
        let on = self.on();
        self.volume().xattrop_on(ctx, &on, optype, dict).await
    }
}
