//! Entry operations over several subvolumes (§5): new names on their
//! hashed subvolume (with a linkto when the data goes elsewhere),
//! directories on all subvolumes with their layout, and the official
//! client's rules for unlink, link and rename of linkto files.

use super::locks::Lock;
use super::{as_root, internal_xdata, migration, Distribute, LAYOUT_XATTR, LINKTO_XATTR};
use crate::dht_layout::Layout;
use crate::error::{Error, Result};
use crate::xlator::FdRef;
use proto::dict::{DictValue, GfxDict};
use proto::errno;
use proto::fops::*;
use proto::iatt::{lock, valid, Iatt, S_IFREG};
use proto::rpc_msg::Identity;
use proto::Gfid;

const PARENT_KEY: &str = "glusterfs.preop.parent.key";
pub(super) const FORCE_REPLACE: &str = "force-replace";

pub(super) fn gfid_of(xdata: &GfxDict) -> Gfid {
    match xdata.get("gfid-req") {
        Some(DictValue::Gfid(g)) => *g,
        _ => Gfid::ZERO,
    }
}

pub(super) fn name_str(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

impl Distribute {
    /// The parent-layout guard (§5.1): the brick refuses the create with
    /// EIO when our copy of the parent's range there is stale.
    pub(super) fn with_guard(&self, mut xdata: GfxDict, layout: &Layout, subvol: usize) -> GfxDict {
        if let Some(r) = layout.ranges.get(subvol).copied().flatten() {
            xdata.set(PARENT_KEY, DictValue::Str(LAYOUT_XATTR.as_bytes().to_vec()));
            xdata.set(LAYOUT_XATTR, DictValue::Ptr(r.encode().to_vec()));
        }
        xdata
    }

    /// The hashed subvolume for a new name; a decommissioned one makes us
    /// read the parent's layout again first (§5.2).
    pub(super) async fn hashed_for_new(
        &self,
        ctx: &Identity,
        parent: Gfid,
        name: &[u8],
    ) -> Result<(usize, Layout)> {
        let mut dir = self.dir(ctx, parent).await?;
        let mut h = self.search(&dir.layout, name);
        if h.is_some_and(|h| self.is_decommissioned(h)) {
            dir = self.refresh_dir(ctx, parent).await?;
            h = self.search(&dir.layout, name);
        }
        let h = h.ok_or_else(|| {
            Error::errno_msg(
                errno::EIO,
                format!(
                    "no subvolume for '{}': the parent's layout has a hole",
                    name_str(name)
                ),
            )
        })?;
        Ok((h, dir.layout.clone()))
    }

    /// CREATE: on the hashed subvolume, or with a linkto there and the
    /// data on a subvolume with free space (§5.2). `fd` becomes the open
    /// file on the subvolume returned.
    pub async fn create(
        &self,
        ctx: &Identity,
        req: &CreateReq,
        fd: &FdRef,
    ) -> Result<(usize, CreateRsp)> {
        if self.single() {
            return Ok((0, self.subvols[0].create(ctx, req, fd).await?));
        }
        let (h, layout) = self.hashed_for_new(ctx, req.pargfid, &req.bname).await?;
        let at = self.placement(ctx, h);
        let send =
            |i: usize, req: CreateReq| async move { self.subvols[i].create(ctx, &req, fd).await };
        let (at, mut r) = if at != h {
            let gfid = gfid_of(&req.xdata);
            let make = send(at, req.clone());
            let r = self
                .make_redirected(ctx, h, at, req.pargfid, &req.bname, gfid, make, |m| &m.stat)
                .await?;
            (at, r)
        } else {
            let mut guarded = req.clone();
            guarded.xdata = self.with_guard(req.xdata.clone(), &layout, h);
            match send(h, guarded).await {
                Ok(r) => (h, r),
                Err(e) if e.errno() == errno::EIO => {
                    // Our copy of the parent's layout is stale: re-read it
                    // under the parent's read lock and resend unguarded.
                    let held = self
                        .lock(ctx, vec![self.parent_read_lock(h, req.pargfid)])
                        .await?;
                    let fresh = self.refresh_dir(ctx, req.pargfid).await;
                    let result = match fresh {
                        Ok(d) => match self.search(&d.layout, &req.bname) {
                            Some(h2) => send(h2, req.clone()).await.map(|r| (h2, r)),
                            None => Err(e),
                        },
                        Err(e2) => Err(e2),
                    };
                    self.unlock(held).await;
                    result?
                }
                Err(e) => return Err(e),
            }
        };
        migration::clean(&mut r.stat);
        self.remember_file(r.stat.gfid, at);
        self.remember_entry(req.pargfid, &req.bname, &r.stat);
        Ok((at, r))
    }

    pub(super) fn parent_read_lock(&self, subvol: usize, parent: Gfid) -> Lock {
        Lock::Inode {
            subvol,
            gfid: parent,
            domain: super::locks::LAYOUT_HEAL,
            kind: lock::RDLCK,
        }
    }

    /// MKNOD: placed like a created file.
    pub async fn mknod(&self, ctx: &Identity, req: &MknodReq) -> Result<ThreeIattRsp> {
        if self.single() {
            return self.call(0, ctx, req).await;
        }
        let (h, _) = self.hashed_for_new(ctx, req.pargfid, &req.bname).await?;
        let at = if req.mode & proto::iatt::S_IFMT == S_IFREG {
            self.placement(ctx, h)
        } else {
            h
        };
        let r = if at != h {
            let gfid = gfid_of(&req.xdata);
            let make = self.call(at, ctx, req);
            self.make_redirected(ctx, h, at, req.pargfid, &req.bname, gfid, make, |r| &r.stat)
                .await?
        } else {
            self.call(h, ctx, req).await?
        };
        self.remember_file(r.stat.gfid, at);
        Ok(r)
    }

    /// SYMLINK: always on the hashed subvolume.
    pub async fn symlink(&self, ctx: &Identity, req: &SymlinkReq) -> Result<ThreeIattRsp> {
        let (h, _) = if self.single() {
            (0, Layout { ranges: Vec::new() })
        } else {
            self.hashed_for_new(ctx, req.pargfid, &req.bname).await?
        };
        let r = self.call(h, ctx, req).await?;
        self.remember_file(r.stat.gfid, h);
        Ok(r)
    }

    /// A new file whose data goes to `at` while its name hashes to `h`
    /// (§5.2): the linkto on `h` first, then `make` on `at`; the linkto
    /// then takes the new file's owner, or goes again if `make` failed.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn make_redirected<T>(
        &self,
        ctx: &Identity,
        h: usize,
        at: usize,
        parent: Gfid,
        name: &[u8],
        gfid: Gfid,
        make: impl std::future::Future<Output = Result<T>>,
        stat: impl Fn(&T) -> &Iatt,
    ) -> Result<T> {
        self.create_linkto(ctx, h, at, parent, name, gfid, None, GfxDict::new())
            .await?;
        match make.await {
            Ok(r) => {
                self.fix_linkto_owner(ctx, h, gfid, stat(&r)).await;
                Ok(r)
            }
            Err(e) => {
                self.remove_name(ctx, h, parent, name).await;
                Err(e)
            }
        }
    }

    /// Makes a linkto file `name` in `parent` on `at`, pointing to
    /// `target`, for inode `gfid` (§3.2), with `extra` xdata keys. An
    /// existing linkto is fine. `owner`: the data file, whose owner the
    /// linkto takes.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn create_linkto(
        &self,
        ctx: &Identity,
        at: usize,
        target: usize,
        parent: Gfid,
        name: &[u8],
        gfid: Gfid,
        owner: Option<&Iatt>,
        extra: GfxDict,
    ) -> Result<()> {
        let mut xdata = internal_xdata();
        xdata.set("gfid-req", DictValue::Gfid(gfid));
        xdata.set(
            LINKTO_XATTR,
            DictValue::Str(self.subvol_name(target).as_bytes().to_vec()),
        );
        for (k, v) in extra.pairs {
            xdata.set_bytes_key(&k, v);
        }
        let req = MknodReq {
            pargfid: parent,
            dev: 0,
            mode: S_IFREG | 0o1000,
            umask: 0,
            bname: name.to_vec(),
            xdata,
        };
        match self.call(at, &as_root(ctx), &req).await {
            Ok(_) => {}
            Err(e) if e.errno() == errno::EEXIST => {
                tracing::debug!(
                    "linkto '{}' on {} exists",
                    name_str(name),
                    self.subvol_name(at)
                );
            }
            Err(e) => return Err(e),
        }
        if let Some(st) = owner {
            self.fix_linkto_owner(ctx, at, gfid, st).await;
        }
        Ok(())
    }

    /// The linkto takes the owner of the data file (§3.1).
    pub(super) async fn fix_linkto_owner(&self, ctx: &Identity, at: usize, gfid: Gfid, st: &Iatt) {
        let req = SetattrReq {
            gfid,
            stbuf: Iatt {
                uid: st.uid,
                gid: st.gid,
                ..Iatt::default()
            },
            valid: valid::UID | valid::GID,
            xdata: internal_xdata(),
        };
        if let Err(e) = self.call(at, &as_root(ctx), &req).await {
            tracing::debug!("linkto owner on {}: {e}", self.subvol_name(at));
        }
    }

    /// Best-effort UNLINK of a name on one subvolume (cleanup paths).
    pub(super) async fn remove_name(&self, ctx: &Identity, at: usize, parent: Gfid, name: &[u8]) {
        let req = UnlinkReq {
            pargfid: parent,
            bname: name.to_vec(),
            xflags: 0,
            xdata: internal_xdata(),
        };
        if let Err(e) = self.call(at, &as_root(ctx), &req).await {
            if !e.is_enoent() {
                tracing::warn!(
                    "removing '{}' on {}: {e}",
                    name_str(name),
                    self.subvol_name(at)
                );
            }
        }
    }

    /// Where `name` in `parent` is: (hashed, cached, attributes).
    pub(super) async fn locate(
        &self,
        ctx: &Identity,
        parent: Gfid,
        name: &[u8],
    ) -> Result<(usize, usize, Iatt)> {
        let st = self.lookup(ctx, parent, name).await?;
        let h = self.hashed(ctx, parent, name).await?;
        let c = if st.is_dir() {
            h
        } else {
            self.cached(ctx, st.gfid).await?
        };
        Ok((h, c, st))
    }

    /// UNLINK: the data on its subvolume, then the linkto on the hashed
    /// one (§3.3).
    pub async fn unlink(&self, ctx: &Identity, req: &UnlinkReq) -> Result<TwoIattRsp> {
        if self.single() {
            return self.call(0, ctx, req).await;
        }
        // Fast path: the file the kernel just looked up, on its subvolume.
        let hint = self.take_entry(req.pargfid, &req.bname);
        if let Some((gfid, c)) = hint.and_then(|g| Some((g, self.known_file(g)?))) {
            match self.call(c, ctx, req).await {
                Ok(r) => {
                    let h = self.hashed(ctx, req.pargfid, &req.bname).await?;
                    if h != c {
                        self.remove_name(ctx, h, req.pargfid, &req.bname).await;
                    }
                    self.forget(gfid);
                    return Ok(r);
                }
                Err(e) if e.is_enoent() => {} // it moved: find it
                Err(e) => return Err(e),
            }
        }
        let (h, c, st) = self.locate(ctx, req.pargfid, &req.bname).await?;
        let r = self.call(c, ctx, req).await?;
        if h != c {
            self.remove_name(ctx, h, req.pargfid, &req.bname).await;
        }
        if r.xdata.get("get-link-count").and_then(DictValue::as_u64) == Some(1) || st.nlink <= 1 {
            self.forget(st.gfid);
        }
        Ok(r)
    }

    /// LINK (§5.3): the new name is a hard link on the data's subvolume,
    /// with a linkto at the new name's hashed subvolume if that differs.
    pub async fn link(&self, ctx: &Identity, req: &LinkReq) -> Result<ThreeIattRsp> {
        if self.single() {
            return self.call(0, ctx, req).await;
        }
        let c = self.cached(ctx, req.oldgfid).await?;
        let (h, _) = self.hashed_for_new(ctx, req.newgfid, &req.newbname).await?;
        if h != c {
            self.create_linkto(
                ctx,
                h,
                c,
                req.newgfid,
                &req.newbname,
                req.oldgfid,
                None,
                GfxDict::new(),
            )
            .await?;
        }
        match self.call(c, ctx, req).await {
            Ok(mut r) => {
                if h != c {
                    self.fix_linkto_owner(ctx, h, req.oldgfid, &r.stat).await;
                }
                migration::clean(&mut r.stat);
                Ok(r)
            }
            Err(e) => {
                if h != c {
                    self.remove_name(ctx, h, req.newgfid, &req.newbname).await;
                }
                Err(e)
            }
        }
    }
}
