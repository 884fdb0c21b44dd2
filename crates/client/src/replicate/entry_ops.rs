//! Entry transactions (§2): create, mknod, mkdir, symlink, link, unlink,
//! rmdir, rename, each under the AFR entry locks of the names it touches,
//! with the parent's changelog (and the new inode's mark) written as the
//! official client writes them. The same request, so the same gfid-req,
//! goes to every brick.

use super::changelog::Kind;
use super::locking::Lockee;
use super::transaction::Plan;
use super::Replicate;
use crate::error::Result;
use crate::xlator::{Ctx, FdRef, Target};
use proto::dict::GfxDict;
use proto::fops::*;
use proto::Gfid;

impl Replicate {
    fn new_entry_plan(what: &'static str, dir: Gfid, name: &[u8]) -> Plan {
        Plan {
            marks_new_entry: true,
            ..Plan::entry(what, dir, name)
        }
    }

    pub(crate) async fn create_txn(
        &self,
        ctx: &Ctx,
        req: &CreateReq,
        fd: &FdRef,
    ) -> Result<CreateRsp> {
        let plan = Self::new_entry_plan("create", req.pargfid, &req.bname);
        let done = self
            .transact(ctx, plan, |_, c| c.create(ctx, req, fd))
            .await?;
        done.take(self)
    }

    pub(crate) async fn mknod_txn(&self, ctx: &Ctx, req: &MknodReq) -> Result<ThreeIattRsp> {
        let plan = Self::new_entry_plan("mknod", req.pargfid, &req.bname);
        self.transact(ctx, plan, |_, c| c.mknod(ctx, req))
            .await?
            .take(self)
    }

    pub(crate) async fn mkdir_txn(&self, ctx: &Ctx, req: &MkdirReq) -> Result<ThreeIattRsp> {
        let plan = Self::new_entry_plan("mkdir", req.pargfid, &req.bname);
        self.transact(ctx, plan, |_, c| c.mkdir(ctx, req))
            .await?
            .take(self)
    }

    pub(crate) async fn symlink_txn(&self, ctx: &Ctx, req: &SymlinkReq) -> Result<ThreeIattRsp> {
        let plan = Plan::entry("symlink", req.pargfid, &req.bname);
        self.transact(ctx, plan, |_, c| c.symlink(ctx, req))
            .await?
            .take(self)
    }

    pub(crate) async fn link_txn(&self, ctx: &Ctx, req: &LinkReq) -> Result<ThreeIattRsp> {
        let plan = Plan::entry("link", req.newgfid, &req.newbname);
        let r = self
            .transact(ctx, plan, |_, c| c.link(ctx, req))
            .await?
            .take(self);
        self.forget(req.oldgfid); // its link count changed
        r
    }

    pub(crate) async fn unlink_txn(&self, ctx: &Ctx, req: &UnlinkReq) -> Result<TwoIattRsp> {
        let plan = Plan::entry("unlink", req.pargfid, &req.bname);
        self.transact(ctx, plan, |_, c| c.unlink(ctx, req))
            .await?
            .take(self)
    }

    /// The gfid `name` in `dir` has, if a good brick knows it.
    async fn gfid_of(&self, ctx: &Ctx, dir: Gfid, name: &[u8]) -> Option<(Gfid, bool)> {
        let req = LookupReq {
            gfid: Gfid::default(),
            pargfid: dir,
            flags: 0,
            bname: name.to_vec(),
            xdata: GfxDict::new(),
        };
        let r = crate::xlator::Xlator::lookup(self, ctx, &req).await.ok()?;
        Some((r.prestat.gfid, r.prestat.is_dir()))
    }

    pub(crate) async fn rmdir_txn(&self, ctx: &Ctx, req: &RmdirReq) -> Result<TwoIattRsp> {
        let mut plan = Plan::entry("rmdir", req.pargfid, &req.bname);
        // The directory itself too, so nothing is created in it meanwhile.
        if let Some((g, _)) = self.gfid_of(ctx, req.pargfid, &req.bname).await {
            plan.lockees.push(Lockee::Entry {
                dir: g,
                name: Vec::new(),
            });
        }
        self.transact(ctx, plan, |_, c| c.rmdir(ctx, req))
            .await?
            .take(self)
    }

    pub(crate) async fn rename_txn(&self, ctx: &Ctx, req: &RenameReq) -> Result<RenameRsp> {
        let mut plan = Plan::entry("rename", req.oldgfid, &req.oldbname);
        plan.lockees.push(Lockee::Entry {
            dir: req.newgfid,
            name: req.newbname.clone(),
        });
        plan.changelog
            .push((Target::Inode(req.newgfid), Some(req.newbname.clone())));
        // A directory renamed over: lock it whole, as rmdir does.
        if let Some((g, true)) = self.gfid_of(ctx, req.newgfid, &req.newbname).await {
            plan.lockees.push(Lockee::Entry {
                dir: g,
                name: Vec::new(),
            });
        }
        debug_assert_eq!(plan.kind, Kind::Entry);
        self.transact(ctx, plan, |_, c| c.rename(ctx, req))
            .await?
            .take(self)
    }
}
