//! Rename (§5.5): files by the official client's table of linkto, link,
//! rename and unlink steps under the migrate and namespace locks;
//! directories on the destination's hashed subvolume first, then the rest,
//! undone on failure.

use super::locks::{Lock, FILE_MIGRATE};
use super::{is_linkto, merge_dir_iatt, migration, Distribute, InodeCtx, LINKTO_XATTR};
use crate::error::{Error, Result};
use proto::dict::{DictValue, GfxDict};
use proto::errno;
use proto::fops::*;
use proto::iatt::{lock, Iatt};
use proto::rpc_msg::Identity;
use proto::Gfid;

use super::entry::{name_str, FORCE_REPLACE};

/// Marks a RENAME that must not replace an existing target (renameat2's
/// RENAME_NOREPLACE). Ours only: distribute takes it out before any brick
/// sees the request, and protocol/client refuses a rename still carrying
/// it.
pub const NOREPLACE_KEY: &str = "glusterfs-rs.rename-noreplace";

impl Distribute {
    /// RENAME (§5.5). With [`NOREPLACE_KEY`] in its xdata, an existing
    /// target fails it with EEXIST: the brick has no such rename, so the
    /// target is checked under the namespace lock of its name, which every
    /// DHT rename and mkdir of that name (ours and the official client's)
    /// also takes.
    pub async fn rename(&self, ctx: &Identity, req: &RenameReq) -> Result<RenameRsp> {
        let noreplace = req.xdata.get(NOREPLACE_KEY).is_some();
        let stripped;
        let req = if noreplace {
            let mut r = req.clone();
            r.xdata.pairs.retain(|(k, _)| k != NOREPLACE_KEY.as_bytes());
            stripped = r;
            &stripped
        } else {
            req
        };
        if self.single() {
            if !noreplace {
                return self.call(0, ctx, req).await;
            }
            let held = self
                .lock(ctx, Self::namespace_locks(0, req.newgfid, &req.newbname))
                .await?;
            let r = match self.ensure_absent(ctx, req.newgfid, &req.newbname).await {
                Ok(()) => self.call(0, ctx, req).await,
                Err(e) => Err(e),
            };
            self.unlock(held).await;
            return r;
        }
        let r = self.rename_any(ctx, req, noreplace).await;
        // Both names changed meaning: no unlink may trust what we saw.
        self.take_entry(req.oldgfid, &req.oldbname);
        self.take_entry(req.newgfid, &req.newbname);
        r
    }

    /// EEXIST when `name` exists in `parent` (asked of the bricks now).
    async fn ensure_absent(&self, ctx: &Identity, parent: Gfid, name: &[u8]) -> Result<()> {
        match self.lookup(ctx, parent, name).await {
            Ok(_) => Err(Error::errno_msg(
                errno::EEXIST,
                format!("rename target '{}' exists", name_str(name)),
            )),
            Err(e) if e.is_enoent() => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn rename_any(
        &self,
        ctx: &Identity,
        req: &RenameReq,
        noreplace: bool,
    ) -> Result<RenameRsp> {
        let (s_h, s_c, src) = self.locate(ctx, req.oldgfid, &req.oldbname).await?;
        let dst = match self.locate(ctx, req.newgfid, &req.newbname).await {
            Ok(d) => Some(d),
            Err(e) if e.is_enoent() => None,
            Err(e) => return Err(e),
        };
        if noreplace && dst.is_some() {
            return Err(Error::errno_msg(errno::EEXIST, "rename target exists"));
        }
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
                .rename_dir(ctx, req, (s_h, d_h), src, dst.is_some(), noreplace)
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
        let result = match noreplace {
            true => self.ensure_absent(ctx, req.newgfid, &req.newbname).await,
            false => Ok(()),
        };
        let result = match result {
            Ok(()) => {
                self.rename_file_locked(ctx, req, s_h, s_c, d_h, dst.map(|d| d.1), src)
                    .await
            }
            Err(e) => Err(e),
        };
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
            // Upstream (dht_rename_cbk) takes a failure on R != S_c as
            // harmless: R only held linkto files. Not when the
            // destination's data lives on R = D_h: that RENAME is what
            // replaces it, and going on would report success while the old
            // file stays where lookups find it, next to the new one under
            // the same name. Undo steps A (as dht_rename_cleanup does) and
            // fail instead.
            Err(e) if r == s_c || d_c == Some(r) => {
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
        (s_h, d_h): (usize, usize),
        src: Iatt,
        dst_exists: bool,
        noreplace: bool,
    ) -> Result<RenameRsp> {
        let held = self
            .lock(ctx, self.rename_namespace_locks(req, s_h, d_h))
            .await?;
        let result = async {
            if noreplace {
                self.ensure_absent(ctx, req.newgfid, &req.newbname).await?;
            }
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
