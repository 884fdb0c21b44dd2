//! Entry operations over several subvolumes (§5): new names on their
//! hashed subvolume (with a linkto when the data goes elsewhere),
//! directories on all subvolumes with their layout, and the official
//! client's rules for unlink, link and rename of linkto files.

use super::locks::{Lock, FILE_MIGRATE};
use super::lookup::child_path;
use super::{
    as_root, internal_xdata, is_linkto, linkto_target, merge_dir_iatt, migration, DirCtx,
    Distribute, InodeCtx, LAYOUT_XATTR, LINKTO_XATTR, MDS_XATTR,
};
use crate::dht_layout::Layout;
use crate::error::{Error, Result};
use crate::xlator::{FdObj, FdRef};
use proto::dict::{DictValue, GfxDict};
use proto::errno;
use proto::fops::*;
use proto::iatt::{lock, valid, Iatt, S_IFREG};
use proto::rpc_msg::Identity;
use proto::Gfid;

const PARENT_KEY: &str = "glusterfs.preop.parent.key";
const FORCE_REPLACE: &str = "force-replace";

fn gfid_of(xdata: &GfxDict) -> Gfid {
    match xdata.get("gfid-req") {
        Some(DictValue::Gfid(g)) => *g,
        _ => Gfid::ZERO,
    }
}

fn name_str(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

impl Distribute {
    /// The parent-layout guard (§5.1): the brick refuses the create with
    /// EIO when our copy of the parent's range there is stale.
    fn with_guard(&self, mut xdata: GfxDict, layout: &Layout, subvol: usize) -> GfxDict {
        if let Some(r) = layout.ranges.get(subvol).copied().flatten() {
            xdata.set(PARENT_KEY, DictValue::Str(LAYOUT_XATTR.as_bytes().to_vec()));
            xdata.set(LAYOUT_XATTR, DictValue::Ptr(r.encode().to_vec()));
        }
        xdata
    }

    /// The hashed subvolume for a new name; a decommissioned one makes us
    /// read the parent's layout again first (§5.2).
    async fn hashed_for_new(
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
        self.dir_changed(req.pargfid, Some(&r.postparent));
        Ok((at, r))
    }

    fn parent_read_lock(&self, subvol: usize, parent: Gfid) -> Lock {
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
        self.dir_changed(req.pargfid, Some(&r.postparent));
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
        self.dir_changed(req.pargfid, Some(&r.postparent));
        Ok(r)
    }

    /// A new file whose data goes to `at` while its name hashes to `h`
    /// (§5.2): the linkto on `h` first, then `make` on `at`; the linkto
    /// then takes the new file's owner, or goes again if `make` failed.
    #[allow(clippy::too_many_arguments)]
    async fn make_redirected<T>(
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
    async fn fix_linkto_owner(&self, ctx: &Identity, at: usize, gfid: Gfid, st: &Iatt) {
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
    async fn remove_name(&self, ctx: &Identity, at: usize, parent: Gfid, name: &[u8]) {
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
    async fn locate(
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
                    self.dir_changed(req.pargfid, Some(&r.poststat));
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
        self.dir_changed(req.pargfid, Some(&r.poststat));
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
                self.dir_changed(req.newgfid, Some(&r.postparent));
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

    /// MKDIR (§5.4): on the hashed subvolume under the namespace lock,
    /// then on the others, then the layout under the layout lock.
    pub async fn mkdir(&self, ctx: &Identity, req: &MkdirReq) -> Result<ThreeIattRsp> {
        if self.single() {
            let r = self.call(0, ctx, req).await?;
            self.write_single_layout(ctx, r.stat.gfid).await?;
            return Ok(r);
        }
        let gfid = gfid_of(&req.xdata);
        let (mut h, mut layout) = self.hashed_for_new(ctx, req.pargfid, &req.bname).await?;
        let held = self
            .lock(ctx, Self::namespace_locks(h, req.pargfid, &req.bname))
            .await?;
        let first = async {
            let mut retried = false;
            loop {
                let mut hreq = req.clone();
                hreq.xdata = self.with_guard(req.xdata.clone(), &layout, h);
                hreq.xdata.set(MDS_XATTR, DictValue::Ptr(vec![0; 4]));
                match self.call(h, ctx, &hreq).await {
                    Err(e) if e.errno() == errno::EIO && !retried => {
                        retried = true;
                        let d = self.refresh_dir(ctx, req.pargfid).await?;
                        let before = layout.ranges.get(h).copied().flatten();
                        layout = d.layout.clone();
                        match self.search(&layout, &req.bname) {
                            Some(h2) if h2 != h || layout.ranges[h2] != before => h = h2,
                            _ => return Err(e),
                        }
                    }
                    r => return r,
                }
            }
        }
        .await;
        let first = match first {
            Ok(r) => r,
            Err(e) => {
                self.unlock(held).await;
                return Err(e);
            }
        };
        let others = (0..self.subvols.len())
            .filter(|&i| i != h)
            .map(|i| async move { (i, self.call(i, ctx, req).await) });
        let mut present = vec![false; self.subvols.len()];
        present[h] = true;
        let mut stat = merge_dir_iatt(None, &first.stat);
        for (i, r) in futures::future::join_all(others).await {
            match r {
                Ok(r) => {
                    present[i] = true;
                    stat = merge_dir_iatt(Some(stat), &r.stat);
                }
                Err(e) if e.errno() == errno::EEXIST => present[i] = true,
                Err(e) => tracing::warn!(
                    "mkdir '{}' on {}: {e}",
                    name_str(&req.bname),
                    self.subvol_name(i)
                ),
            }
        }
        self.unlock(held).await;
        let layout = self
            .lay_out_new_dir(ctx, gfid, req.pargfid, &req.bname, h, &present)
            .await?;
        stat.gfid = gfid;
        self.remember_dir(gfid, DirCtx::new(layout, Some(h), Some(stat)));
        self.dir_changed(req.pargfid, Some(&first.postparent));
        Ok(ThreeIattRsp { stat, ..first })
    }

    /// Step 4 of mkdir: compute and write the new directory's layout
    /// unless someone (a concurrent heal) already did.
    async fn lay_out_new_dir(
        &self,
        ctx: &Identity,
        gfid: Gfid,
        parent: Gfid,
        name: &[u8],
        hashed: usize,
        present: &[bool],
    ) -> Result<Layout> {
        let parent_path = self.ancestry_path(ctx, parent).await;
        let path = child_path(&parent_path, name);
        let eligible: Vec<bool> = (0..present.len())
            .map(|i| present[i] && !self.is_decommissioned(i))
            .collect();
        let commit = if self.opts.lookup_optimize {
            self.commit_hash()
        } else {
            1
        };
        let new = self.new_layout(ctx, gfid, &path, &eligible, commit);
        let held = self.lock(ctx, self.new_dir_lock(gfid, hashed)).await?;
        let result = async {
            let old = self.dir_layouts(ctx, gfid).await;
            if old.ranges.iter().flatten().any(|r| r.participates()) {
                return Ok(old);
            }
            self.write_layout(ctx, gfid, &old, &new, present).await?;
            Ok(new)
        }
        .await;
        self.unlock(held).await;
        result
    }

    /// Each subvolume's on-disk layout of a directory.
    async fn dir_layouts(&self, ctx: &Identity, gfid: Gfid) -> Layout {
        let req = GetxattrReq {
            gfid,
            namelen: LAYOUT_XATTR.len() as u32,
            name: LAYOUT_XATTR.as_bytes().to_vec(),
            xdata: GfxDict::new(),
        };
        let all = self.call_all(&as_root(ctx), &req).await;
        Layout {
            ranges: all
                .into_iter()
                .map(|r| {
                    r.ok().and_then(|r| {
                        r.dict
                            .get(LAYOUT_XATTR)
                            .and_then(|v| v.as_bytes())
                            .and_then(crate::dht_layout::Range::decode)
                    })
                })
                .collect(),
        }
    }

    /// One subvolume: the whole range, commit 0 (what the official client
    /// writes, checked on a brick with getfattr).
    async fn write_single_layout(&self, ctx: &Identity, dir: Gfid) -> Result<()> {
        let r = crate::dht_layout::Range {
            commit: 0,
            hash_type: 0,
            start: 0,
            stop: u32::MAX,
        };
        let req = SetxattrReq {
            gfid: dir,
            flags: 0,
            dict: super::layout_dict(&r),
            xdata: GfxDict::new(),
        };
        self.call(0, &as_root(ctx), &req).await?;
        Ok(())
    }

    /// Lists one subvolume's copy of a directory with the linkto xattr of
    /// each entry (for rmdir and directory rename).
    async fn list_subvol(&self, ctx: &Identity, i: usize, gfid: Gfid) -> Result<Vec<DirPEntry>> {
        let b = &self.subvols[i];
        let root = as_root(ctx);
        // Released when dropped; nobody waits for the close.
        let fd = FdObj::new(gfid, 0, true, false);
        b.open(&root, &fd, GfxDict::new()).await?;
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let xdata = GfxDict::new().with(LINKTO_XATTR, DictValue::Uint(256));
            let r = b.readdirp(&root, &fd, offset, 64 * 1024, xdata).await?;
            if r.entries.0.is_empty() {
                break;
            }
            offset = r.entries.0.last().map_or(offset, |e| e.d_off);
            // The brick flags its last batch with ENOENT.
            let eof = r.op_errno == errno::ENOENT;
            out.extend(r.entries.0);
            // One real entry settles every caller's question.
            let data = out
                .iter()
                .any(|e| e.name != b"." && e.name != b".." && !is_linkto(&e.stat, &e.dict));
            if eof || data || out.len() > 1_000_000 {
                break;
            }
        }
        Ok(out)
    }

    /// RMDIR (§5.4): refuse unless every subvolume holds only stale
    /// linkto files; remove those; rmdir the non-hashed subvolumes, then
    /// the hashed one, under the namespace lock.
    pub async fn rmdir(&self, ctx: &Identity, req: &RmdirReq) -> Result<TwoIattRsp> {
        if self.single() {
            return self.call(0, ctx, req).await;
        }
        let st = self.lookup(ctx, req.pargfid, &req.bname).await?;
        if !st.is_dir() {
            return Err(Error::errno_msg(errno::ENOTDIR, "not a directory"));
        }
        let dir = st.gfid;
        if req.xflags == 0 {
            let lists = futures::future::join_all(
                (0..self.subvols.len())
                    .map(|i| async move { (i, self.list_subvol(ctx, i, dir).await) }),
            )
            .await;
            for (i, list) in lists {
                let list = match list {
                    Ok(l) => l,
                    Err(e) if e.is_enoent() => continue,
                    Err(e) => return Err(e),
                };
                for e in list {
                    if e.name == b"." || e.name == b".." {
                        continue;
                    }
                    if !is_linkto(&e.stat, &e.dict) {
                        return Err(Error::errno_msg(errno::ENOTEMPTY, "directory not empty"));
                    }
                    self.clear_stale_linkto(ctx, i, dir, &e).await?;
                }
            }
        }
        let h = self.hashed(ctx, req.pargfid, &req.bname).await?;
        let held = self
            .lock(ctx, Self::namespace_locks(h, req.pargfid, &req.bname))
            .await?;
        let others = (0..self.subvols.len())
            .filter(|&i| i != h)
            .map(|i| async move { self.call(i, ctx, req).await });
        let mut failure = None;
        for r in futures::future::join_all(others).await {
            match r {
                Ok(_) => {}
                Err(e) if matches!(e.errno(), errno::ENOENT | errno::ESTALE) => {}
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        let result = match failure {
            Some(e) => Err(e),
            None => match self.call(h, ctx, req).await {
                Err(e) if matches!(e.errno(), errno::ENOENT | errno::ESTALE) => Ok(TwoIattRsp {
                    op_ret: 0,
                    op_errno: 0,
                    xdata: GfxDict::new(),
                    prestat: Iatt::default(),
                    poststat: Iatt::default(),
                }),
                r => r,
            },
        };
        self.unlock(held).await;
        self.dir_changed(req.pargfid, result.as_ref().ok().map(|r| &r.poststat));
        if result.is_ok() {
            self.forget(dir);
        } else {
            // Some subvolumes may have lost the directory: the next
            // lookup recreates it there (directory heal).
            self.forget(dir);
        }
        result
    }

    /// A linkto inside a directory being removed: ENOTEMPTY if its data
    /// exists, otherwise it is stale and goes.
    async fn clear_stale_linkto(
        &self,
        ctx: &Identity,
        at: usize,
        dir: Gfid,
        e: &DirPEntry,
    ) -> Result<()> {
        let target = linkto_target(&e.dict).and_then(|t| self.index_of(&t));
        if let Some(t) = target.filter(|t| *t != at) {
            let req = LookupReq {
                gfid: Gfid::ZERO,
                pargfid: dir,
                flags: 0,
                bname: e.name.clone(),
                xdata: GfxDict::new(),
            };
            match self.call(t, ctx, &req).await {
                Ok(_) => return Err(Error::errno_msg(errno::ENOTEMPTY, "directory not empty")),
                Err(err) if err.is_enoent() => {}
                Err(err) => return Err(err),
            }
        }
        let req = UnlinkReq {
            pargfid: dir,
            bname: e.name.clone(),
            xflags: 0,
            xdata: GfxDict::new()
                .with("unlink-only-if-dht-linkto-file", DictValue::Int(1))
                .with(super::INTERNAL_FOP, DictValue::Str(b"yes".to_vec())),
        };
        match self.call(at, &as_root(ctx), &req).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_enoent() => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// RENAME (§5.5).
    pub async fn rename(&self, ctx: &Identity, req: &RenameReq) -> Result<RenameRsp> {
        if self.single() {
            return self.call(0, ctx, req).await;
        }
        let r = self.rename_any(ctx, req).await;
        self.dir_changed(req.oldgfid, None);
        self.dir_changed(req.newgfid, None);
        // Both names changed meaning: no unlink may trust what we saw.
        self.take_entry(req.oldgfid, &req.oldbname);
        self.take_entry(req.newgfid, &req.newbname);
        r
    }

    async fn rename_any(&self, ctx: &Identity, req: &RenameReq) -> Result<RenameRsp> {
        let (s_h, s_c, src) = self.locate(ctx, req.oldgfid, &req.oldbname).await?;
        let dst = match self.locate(ctx, req.newgfid, &req.newbname).await {
            Ok(d) => Some(d),
            Err(e) if e.is_enoent() => None,
            Err(e) => return Err(e),
        };
        if let Some((_, _, d)) = &dst {
            if d.gfid == src.gfid {
                // Two names of one inode: POSIX says do nothing.
                return Ok(rename_reply(src));
            }
            if src.is_dir() && !d.is_dir() {
                return Err(Error::errno_msg(
                    errno::ENOTDIR,
                    "rename of a directory over a non-directory",
                ));
            }
            if !src.is_dir() && d.is_dir() {
                return Err(Error::errno_msg(
                    errno::EISDIR,
                    "rename of a non-directory over a directory",
                ));
            }
        }
        let d_h = self
            .hashed_for_new(ctx, req.newgfid, &req.newbname)
            .await?
            .0;
        if src.is_dir() {
            return self
                .rename_dir(ctx, req, s_h, d_h, src, dst.is_some())
                .await;
        }
        // Locks: migrate locks on both inodes, then both namespace locks,
        // each group in upstream's order.
        let mut migrate = vec![(s_c, src.gfid)];
        if let Some((_, d_c, d)) = &dst {
            migrate.push((*d_c, d.gfid));
        }
        migrate.sort_by_key(|(s, g)| self.sort_key(*s, *g));
        let mut locks: Vec<Lock> = migrate
            .into_iter()
            .map(|(subvol, gfid)| Lock::Inode {
                subvol,
                gfid,
                domain: FILE_MIGRATE,
                kind: lock::WRLCK,
            })
            .collect();
        locks.extend(self.rename_namespace_locks(req, s_h, d_h));
        let held = self.lock(ctx, locks).await?;
        let result = self
            .rename_file_locked(ctx, req, s_h, s_c, d_h, dst.map(|d| d.1), src)
            .await;
        self.unlock(held).await;
        result
    }

    /// Namespace locks of both names, the one on the subvolume whose name
    /// sorts first going first (§5.5).
    fn rename_namespace_locks(&self, req: &RenameReq, s_h: usize, d_h: usize) -> Vec<Lock> {
        let src_key = (
            self.subvol_name(s_h).to_string(),
            format!("{}{}", req.oldgfid, name_str(&req.oldbname)),
        );
        let dst_key = (
            self.subvol_name(d_h).to_string(),
            format!("{}{}", req.newgfid, name_str(&req.newbname)),
        );
        let mut a = Self::namespace_locks(s_h, req.oldgfid, &req.oldbname);
        let mut b = Self::namespace_locks(d_h, req.newgfid, &req.newbname);
        if dst_key < src_key {
            std::mem::swap(&mut a, &mut b);
        }
        a.extend(b);
        a
    }

    #[allow(clippy::too_many_arguments)]
    async fn rename_file_locked(
        &self,
        ctx: &Identity,
        req: &RenameReq,
        s_h: usize,
        s_c: usize,
        d_h: usize,
        d_c: Option<usize>,
        src: Iatt,
    ) -> Result<RenameRsp> {
        // The source may have moved while we waited for the locks.
        let check = LookupReq {
            gfid: Gfid::ZERO,
            pargfid: req.oldgfid,
            flags: 0,
            bname: req.oldbname.clone(),
            xdata: GfxDict::new().with(LINKTO_XATTR, DictValue::Uint(256)),
        };
        match self.call(s_c, ctx, &check).await {
            Ok(r) if !is_linkto(&r.prestat, &r.xdata) && r.prestat.gfid == src.gfid => {}
            Ok(_) => {
                return Err(Error::errno_msg(
                    errno::ENOENT,
                    "source moved during rename",
                ))
            }
            Err(e) => return Err(e),
        }
        let same_cached = d_c == Some(s_c);
        let force = || GfxDict::new().with(FORCE_REPLACE, DictValue::Str(b"yes".to_vec()));
        // Step A.
        let mut made_linkto = false;
        let mut made_link = false;
        if same_cached && d_h != s_c {
            self.remove_name(ctx, d_h, req.newgfid, &req.newbname).await;
        } else if !same_cached && s_c != d_h {
            if d_h != s_h {
                self.create_linkto(
                    ctx,
                    d_h,
                    s_c,
                    req.oldgfid,
                    &req.oldbname,
                    src.gfid,
                    None,
                    force(),
                )
                .await?;
                made_linkto = true;
            }
            let link = LinkReq {
                oldgfid: src.gfid,
                newgfid: req.newgfid,
                newbname: req.newbname.clone(),
                xdata: force(),
            };
            if let Err(e) = self.call(s_c, ctx, &link).await {
                if made_linkto {
                    self.remove_name(ctx, d_h, req.oldgfid, &req.oldbname).await;
                }
                return Err(e);
            }
            made_link = true;
        }
        // Step B.
        let r = if same_cached { s_c } else { d_h };
        let mut reply = match self.call(r, ctx, req).await {
            Ok(rsp) => rsp,
            Err(e) if r == s_c => {
                if made_link {
                    self.remove_name(ctx, s_c, req.newgfid, &req.newbname).await;
                }
                if made_linkto {
                    self.remove_name(ctx, d_h, req.oldgfid, &req.oldbname).await;
                }
                return Err(e);
            }
            Err(e) => {
                tracing::warn!("rename on {} (linkto side): {e}", self.subvol_name(r));
                rename_reply(src)
            }
        };
        // Step C.
        if same_cached && d_h != s_c {
            if let Err(e) = self
                .create_linkto(
                    ctx,
                    d_h,
                    s_c,
                    req.newgfid,
                    &req.newbname,
                    src.gfid,
                    Some(&src),
                    GfxDict::new(),
                )
                .await
            {
                tracing::warn!("linkto after rename: {e}");
            }
        }
        if s_c != d_h && !same_cached {
            self.remove_name(ctx, s_c, req.oldgfid, &req.oldbname).await;
        }
        if s_h != r && s_h != s_c {
            self.remove_name(ctx, s_h, req.oldgfid, &req.oldbname).await;
        }
        if let Some(d_c) = d_c {
            if d_c != d_h && d_c != s_c {
                self.remove_name(ctx, d_c, req.newgfid, &req.newbname).await;
            }
        }
        if r != s_c || !reply.stat.is_valid() || reply.stat.gfid != src.gfid {
            reply.stat = src; // not the linkto's attributes (dht_rename_cbk)
        }
        migration::clean(&mut reply.stat);
        self.remember_file(src.gfid, s_c);
        Ok(reply)
    }

    /// Directory rename (§5.5): on the destination's hashed subvolume
    /// first, then on the others; undone where it succeeded if any fails.
    async fn rename_dir(
        &self,
        ctx: &Identity,
        req: &RenameReq,
        s_h: usize,
        d_h: usize,
        src: Iatt,
        dst_exists: bool,
    ) -> Result<RenameRsp> {
        let held = self
            .lock(ctx, self.rename_namespace_locks(req, s_h, d_h))
            .await?;
        let result = async {
            if dst_exists {
                let d = self.lookup(ctx, req.newgfid, &req.newbname).await?;
                for i in 0..self.subvols.len() {
                    match self.list_subvol(ctx, i, d.gfid).await {
                        Ok(l) if l.len() > 2 => {
                            return Err(Error::errno_msg(errno::ENOTEMPTY, "directory not empty"))
                        }
                        Ok(_) => {}
                        Err(e) if e.is_enoent() => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            let first = self.call(d_h, ctx, req).await?;
            let others = (0..self.subvols.len())
                .filter(|&i| i != d_h)
                .map(|i| async move { (i, self.call(i, ctx, req).await) });
            let mut done = vec![d_h];
            let mut failure = None;
            for (i, r) in futures::future::join_all(others).await {
                match r {
                    Ok(_) => done.push(i),
                    Err(e) if e.is_enoent() => {}
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = failure {
                let back = RenameReq {
                    oldgfid: req.newgfid,
                    newgfid: req.oldgfid,
                    oldbname: req.newbname.clone(),
                    newbname: req.oldbname.clone(),
                    xdata: GfxDict::new(),
                };
                for i in done {
                    if let Err(e2) = self.call(i, ctx, &back).await {
                        tracing::error!(
                            "undoing directory rename on {}: {e2}",
                            self.subvol_name(i)
                        );
                    }
                }
                return Err(e);
            }
            let mut reply = first;
            reply.stat = merge_dir_iatt(None, &src);
            Ok(reply)
        }
        .await;
        self.unlock(held).await;
        if result.is_ok() {
            if let Some(InodeCtx::Dir(_)) = self.known(src.gfid) {
                self.forget(src.gfid);
            }
        }
        result
    }
}

fn rename_reply(stat: Iatt) -> RenameRsp {
    RenameRsp {
        op_ret: 0,
        op_errno: 0,
        xdata: GfxDict::new(),
        stat,
        preoldparent: Iatt::default(),
        postoldparent: Iatt::default(),
        prenewparent: Iatt::default(),
        postnewparent: Iatt::default(),
    }
}
