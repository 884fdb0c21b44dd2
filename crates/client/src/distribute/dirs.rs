//! Directories over several subvolumes (§5.4): mkdir on the hashed
//! subvolume under the namespace lock, then on the others, then its
//! layout; rmdir only when every copy is empty but for stale linkto files.

use super::lookup::child_path;
use super::{
    as_root, is_linkto, linkto_target, merge_dir_iatt, DirCtx, Distribute, LAYOUT_XATTR,
    LINKTO_XATTR, MDS_XATTR,
};
use crate::dht_layout::Layout;
use crate::error::{Error, Result};
use crate::xlator::FdObj;
use proto::dict::{DictValue, GfxDict};
use proto::errno;
use proto::fops::*;
use proto::iatt::Iatt;
use proto::rpc_msg::Identity;
use proto::Gfid;

use super::entry::{gfid_of, name_str};

impl Distribute {
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
        self.remember_dir(gfid, DirCtx::new(layout, Some(h)));
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
        let mut eligible: Vec<bool> = (0..present.len())
            .map(|i| present[i] && !self.is_decommissioned(i))
            .collect();
        // §7.3: a filled subvolume gets the directory but no range
        // (dht_mkdir_cbk records it as ENOSPC in the layout), unless every
        // one is filled (dht_get_layout_count then takes them all back).
        let filled = self.filled(ctx);
        let roomy: Vec<bool> = (0..eligible.len())
            .map(|i| eligible[i] && !filled[i])
            .collect();
        if roomy.contains(&true) {
            eligible = roomy;
        }
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
    pub(super) async fn list_subvol(
        &self,
        ctx: &Identity,
        i: usize,
        gfid: Gfid,
    ) -> Result<Vec<DirPEntry>> {
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
}
