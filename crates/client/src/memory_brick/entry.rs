//! Entry fops as posix-entry-ops.c does them: LOOKUP, MKNOD, MKDIR,
//! CREATE, SYMLINK, LINK, UNLINK, RMDIR, RENAME, with posix's DHT hooks
//! (the parent-layout guard, `force-replace`, linkto-only unlinks,
//! internal MKNOD of an existing gfid making a hard link).

use super::data::Content;
use super::state::{check_name, gfid_req, linkto_mode, Dir, Inode, Kind, State, R};
use super::xattr::{flag, guard};
use crate::xlator::Ctx;
use proto::dict::{DictValue, GfxDict};
use proto::errno;
use proto::fops::*;
use proto::iatt::{Iatt, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};
use proto::Gfid;

const GET_LINK_COUNT: &str = "get-link-count";
/// Not in proto::errno (the client never makes it up itself).
const EBUSY: i32 = 16;

fn three(stat: Iatt, preparent: Iatt, postparent: Iatt) -> ThreeIattRsp {
    ThreeIattRsp {
        op_ret: 0,
        op_errno: 0,
        xdata: GfxDict::new(),
        stat,
        preparent,
        postparent,
    }
}

impl State {
    pub fn lookup(&self, req: &LookupReq) -> R<TwoIattRsp> {
        let (g, parent) = if req.pargfid.is_zero() || req.bname.is_empty() {
            // Nameless: the gfid handle. An inode without names is gone
            // (posix answers ENOENT here, ESTALE on other fops).
            let i = self.inodes.get(&req.gfid).filter(|i| i.linked());
            (i.map(|_| req.gfid).ok_or(errno::ENOENT)?, None)
        } else {
            if req.bname.contains(&b'/') {
                return Err(errno::EPERM);
            }
            let c = self.child(req.pargfid, &req.bname)?;
            (c.ok_or(errno::ENOENT)?, Some(req.pargfid))
        };
        let stat = if parent.is_some_and(|p| p.is_root()) && req.bname == b".." {
            self.outside_root()
        } else {
            self.iatt(g)
        };
        Ok(TwoIattRsp {
            op_ret: 0,
            op_errno: 0,
            xdata: self.fill(g, &req.xdata),
            prestat: stat,
            poststat: parent.map(|p| self.iatt(p)).unwrap_or_default(),
        })
    }

    /// Checks common to every new entry: a valid name in a live parent,
    /// and the gfid the caller chose.
    fn new_entry(&self, parent: Gfid, name: &[u8], xdata: &GfxDict) -> R<(Gfid, Option<Gfid>)> {
        check_name(name)?;
        self.dir(parent)?;
        let g = gfid_req(xdata)?;
        let existing = self.child(parent, name)?;
        Ok((g, existing))
    }

    /// A gfid already in use by another inode: posix cannot make the
    /// gfid handle (EEXIST).
    fn gfid_free(&self, g: Gfid) -> R<()> {
        if self.inodes.contains_key(&g) {
            Err(errno::EEXIST)
        } else {
            Ok(())
        }
    }

    /// `force-replace`: a linkto file in the way of a MKNOD or LINK goes
    /// (posix_unlink_stale_linkto); anything else stays and it is EEXIST.
    fn clear_for(
        &mut self,
        parent: Gfid,
        name: &[u8],
        existing: Option<Gfid>,
        xdata: &GfxDict,
    ) -> R<()> {
        let Some(e) = existing else {
            return Ok(());
        };
        let replaceable = xdata.get("force-replace").is_some()
            && self
                .inodes
                .get(&e)
                .is_some_and(|i| !i.is_dir() && linkto_mode(i.mode));
        if !replaceable {
            return Err(errno::EEXIST);
        }
        self.remove_name(parent, name).map(drop)
    }

    /// The parent-layout guard (§5.1): the parent's xattr must hold the
    /// value the caller expects. `missing` is the errno when the parent
    /// lacks the xattr (ENODATA for MKDIR, EIO for CREATE). Returns the
    /// key so that it is not set on the new inode.
    fn check_guard(&self, parent: Gfid, xdata: &GfxDict, missing: i32) -> R<Option<Vec<u8>>> {
        let Some((key, arg)) = guard(xdata) else {
            return Ok(None);
        };
        match self.live(parent)?.xattrs.get(&key) {
            None => Err(missing),
            Some(v) if *v != arg => Err(errno::EIO),
            Some(_) => Ok(Some(key)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_new(
        &mut self,
        ctx: &Ctx,
        g: Gfid,
        parent: Gfid,
        name: &[u8],
        mode: u32,
        kind: Kind,
        xdata: &GfxDict,
        skip: Option<&[u8]>,
    ) -> R<()> {
        let (uid, gid, mode) = self.new_owner(ctx, parent, mode);
        self.inodes.insert(g, Inode::new(mode, uid, gid, kind));
        self.set_entry_xattrs(g, xdata, skip);
        self.add_name(parent, name, g)
    }

    pub fn mknod(&mut self, ctx: &Ctx, req: &MknodReq) -> R<ThreeIattRsp> {
        let (g, existing) = self.new_entry(req.pargfid, &req.bname, &req.xdata)?;
        let pre = self.iatt(req.pargfid);
        // DHT's linkto for a hard-linked file: an internal MKNOD of a gfid
        // the brick has links that inode (posix_create_link_if_gfid_exists).
        let internal = req.xdata.get("glusterfs-internal-fop").is_some();
        if internal && existing.is_none() && self.inodes.get(&g).is_some_and(|i| !i.is_dir()) {
            self.add_name(req.pargfid, &req.bname, g)?;
            self.set_entry_xattrs(g, &req.xdata, None);
            return Ok(three(self.iatt(g), pre, self.iatt(req.pargfid)));
        }
        let kind = match req.mode & S_IFMT {
            0 | S_IFREG => Kind::File(Content::default()),
            S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK => Kind::Special,
            S_IFDIR => return Err(errno::EPERM),
            _ => return Err(errno::EINVAL),
        };
        self.clear_for(req.pargfid, &req.bname, existing, &req.xdata)?;
        self.gfid_free(g)?;
        let ty = match req.mode & S_IFMT {
            0 => S_IFREG,
            t => t,
        };
        let mode = ty | (req.mode & 0o7777 & !req.umask);
        self.insert_new(
            ctx,
            g,
            req.pargfid,
            &req.bname,
            mode,
            kind,
            &req.xdata,
            None,
        )?;
        if matches!(ty, S_IFCHR | S_IFBLK) {
            if let Some(i) = self.inodes.get_mut(&g) {
                i.rdev = req.dev;
            }
        }
        Ok(three(self.iatt(g), pre, self.iatt(req.pargfid)))
    }

    pub fn mkdir(&mut self, ctx: &Ctx, req: &MkdirReq) -> R<ThreeIattRsp> {
        let (g, existing) = self.new_entry(req.pargfid, &req.bname, &req.xdata)?;
        if existing == Some(g) {
            return Err(errno::EEXIST);
        }
        let skip = self.check_guard(req.pargfid, &req.xdata, errno::ENODATA)?;
        if existing.is_some() {
            return Err(errno::EEXIST);
        }
        self.gfid_free(g)?;
        let pre = self.iatt(req.pargfid);
        let mode = S_IFDIR | (req.mode & 0o7777 & !req.umask);
        let kind = Kind::Dir(Dir::new(req.pargfid, &req.bname));
        self.insert_new(
            ctx,
            g,
            req.pargfid,
            &req.bname,
            mode,
            kind,
            &req.xdata,
            skip.as_deref(),
        )?;
        Ok(three(self.iatt(g), pre, self.iatt(req.pargfid)))
    }

    pub fn symlink(&mut self, ctx: &Ctx, req: &SymlinkReq) -> R<ThreeIattRsp> {
        let (g, existing) = self.new_entry(req.pargfid, &req.bname, &req.xdata)?;
        if existing.is_some() {
            return Err(errno::EEXIST);
        }
        if req.linkname.is_empty() {
            return Err(errno::ENOENT);
        }
        self.gfid_free(g)?;
        let pre = self.iatt(req.pargfid);
        let kind = Kind::Symlink(req.linkname.clone());
        self.insert_new(
            ctx,
            g,
            req.pargfid,
            &req.bname,
            S_IFLNK | 0o777,
            kind,
            &req.xdata,
            None,
        )?;
        Ok(three(self.iatt(g), pre, self.iatt(req.pargfid)))
    }

    /// CREATE: the new (or, without O_EXCL, existing) file and the open
    /// flags its fd gets.
    pub fn create(&mut self, ctx: &Ctx, req: &CreateReq) -> R<(CreateRsp, Gfid, u32)> {
        let (g, existing) = self.new_entry(req.pargfid, &req.bname, &req.xdata)?;
        let flags = if req.flags == 0 {
            oflags::RDWR | oflags::CREAT | oflags::EXCL
        } else {
            req.flags | oflags::CREAT
        };
        let pre = self.iatt(req.pargfid);
        let at = match existing {
            Some(e) => {
                if flags & oflags::EXCL != 0 {
                    return Err(errno::EEXIST);
                }
                let i = self.live_mut(e)?;
                match &mut i.kind {
                    Kind::Dir(_) => return Err(errno::EISDIR),
                    Kind::File(c) => {
                        if flags & oflags::TRUNC != 0 && flags & oflags::ACCMODE != 0 {
                            c.truncate(0)?;
                            i.changed();
                        }
                    }
                    _ => return Err(errno::EEXIST),
                }
                e
            }
            None => {
                let skip = self.check_guard(req.pargfid, &req.xdata, errno::EIO)?;
                self.gfid_free(g)?;
                let mode = S_IFREG | (req.mode & 0o7777 & !req.umask);
                let kind = Kind::File(Content::default());
                self.insert_new(
                    ctx,
                    g,
                    req.pargfid,
                    &req.bname,
                    mode,
                    kind,
                    &req.xdata,
                    skip.as_deref(),
                )?;
                g
            }
        };
        let rsp = CreateRsp {
            op_ret: 0,
            op_errno: 0,
            xdata: GfxDict::new().with("gfid-req", DictValue::Gfid(g)),
            stat: self.iatt(at),
            fd: 0,
            preparent: pre,
            postparent: self.iatt(req.pargfid),
        };
        Ok((rsp, at, flags))
    }

    pub fn link(&mut self, req: &LinkReq) -> R<ThreeIattRsp> {
        if self.live(req.oldgfid)?.is_dir() {
            return Err(errno::EPERM);
        }
        check_name(&req.newbname)?;
        let existing = self.child(req.newgfid, &req.newbname)?;
        let pre = self.iatt(req.newgfid);
        self.clear_for(req.newgfid, &req.newbname, existing, &req.xdata)?;
        self.add_name(req.newgfid, &req.newbname, req.oldgfid)?;
        Ok(three(self.iatt(req.oldgfid), pre, self.iatt(req.newgfid)))
    }

    pub fn unlink(&mut self, req: &UnlinkReq) -> R<TwoIattRsp> {
        let c = self.child(req.pargfid, &req.bname)?.ok_or(errno::ENOENT)?;
        let i = self.live(c)?;
        if i.is_dir() {
            return Err(errno::EISDIR);
        }
        if flag(&req.xdata, "dont-unlink-for-open-fd") && i.open > 0 {
            return Err(EBUSY);
        }
        if flag(&req.xdata, "unlink-only-if-dht-linkto-file") && !self.is_linkto(c) {
            return Err(EBUSY);
        }
        let links = i.links;
        let pre = self.iatt(req.pargfid);
        self.remove_name(req.pargfid, &req.bname)?;
        let count = if req.xdata.get(GET_LINK_COUNT).is_some() {
            links
        } else {
            0
        };
        Ok(TwoIattRsp {
            op_ret: 0,
            op_errno: 0,
            xdata: GfxDict::new().with(GET_LINK_COUNT, DictValue::Uint(u64::from(count))),
            prestat: pre,
            poststat: self.iatt(req.pargfid),
        })
    }

    /// RMDIR; non-zero flags move the whole tree away (posix renames it
    /// into its landfill), empty or not.
    pub fn rmdir(&mut self, req: &RmdirReq) -> R<TwoIattRsp> {
        if req.bname == b"." || req.bname == b".." {
            return Err(errno::EINVAL);
        }
        let c = self.child(req.pargfid, &req.bname)?.ok_or(errno::ENOENT)?;
        let d = self.live(c)?.dir().ok_or(errno::ENOTDIR)?;
        if req.xflags == 0 && !d.entries.is_empty() {
            return Err(errno::ENOTEMPTY);
        }
        let pre = self.iatt(req.pargfid);
        if req.xflags != 0 {
            self.remove_tree(c);
        }
        self.remove_name(req.pargfid, &req.bname)?;
        Ok(TwoIattRsp {
            op_ret: 0,
            op_errno: 0,
            xdata: GfxDict::new(),
            prestat: pre,
            poststat: self.iatt(req.pargfid),
        })
    }

    fn remove_tree(&mut self, dir: Gfid) {
        let names: Vec<(Vec<u8>, Gfid)> = match self.inodes.get(&dir).and_then(Inode::dir) {
            Some(d) => d
                .entries
                .iter()
                .map(|(n, (g, _))| (n.clone(), *g))
                .collect(),
            None => return,
        };
        for (name, g) in names {
            if self.inodes.get(&g).is_some_and(Inode::is_dir) {
                self.remove_tree(g);
            }
            let _ = self.remove_name(dir, &name);
        }
    }

    /// RENAME with rename(2)'s rules.
    pub fn rename(&mut self, req: &RenameReq) -> R<RenameRsp> {
        for n in [&req.oldbname, &req.newbname] {
            if n.as_slice() == b"." || n.as_slice() == b".." {
                return Err(errno::EINVAL);
            }
        }
        check_name(&req.newbname)?;
        let src = self
            .child(req.oldgfid, &req.oldbname)?
            .ok_or(errno::ENOENT)?;
        let dst = self.child(req.newgfid, &req.newbname)?;
        let (pre_old, pre_new) = (self.iatt(req.oldgfid), self.iatt(req.newgfid));
        let reply = |st: &State, xdata| RenameRsp {
            op_ret: 0,
            op_errno: 0,
            xdata,
            stat: st.iatt(src),
            preoldparent: pre_old,
            postoldparent: st.iatt(req.oldgfid),
            prenewparent: pre_new,
            postnewparent: st.iatt(req.newgfid),
        };
        if dst == Some(src) {
            return Ok(reply(self, GfxDict::new()));
        }
        let src_dir = self.live(src)?.is_dir();
        if src_dir && self.is_ancestor(src, req.newgfid) {
            return Err(errno::EINVAL);
        }
        let mut xdata = GfxDict::new();
        if let Some(d) = dst {
            let di = self.live(d)?;
            match (src_dir, di.dir()) {
                (true, None) => return Err(errno::ENOTDIR),
                (false, Some(_)) => return Err(errno::EISDIR),
                (true, Some(dd)) if !dd.entries.is_empty() => return Err(errno::ENOTEMPTY),
                _ => {}
            }
            if req.xdata.get(GET_LINK_COUNT).is_some() {
                let n = self.iatt(d).nlink;
                xdata.set(GET_LINK_COUNT, DictValue::Uint(u64::from(n)));
            }
            self.remove_name(req.newgfid, &req.newbname)?;
        }
        self.take_name(req.oldgfid, &req.oldbname)?;
        self.add_name(req.newgfid, &req.newbname, src)?;
        Ok(reply(self, xdata))
    }
}
