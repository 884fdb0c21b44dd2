//! The calls that make and remove names: mknod, mkdir, symlink, link,
//! unlink, rmdir, rename.

use super::{entry, fail, Node, Result};
use crate::fs::FsState;
use client::{Ctx, Gfid};
use proto::errno;
use std::sync::Arc;

pub async fn mknod(
    s: Arc<FsState>,
    c: Ctx,
    parent: u64,
    name: Vec<u8>,
    mode: u32,
    umask: u32,
    rdev: u32,
) -> Result<Node> {
    let p = s.gfid(parent)?;
    let e = s
        .vol
        .mknod(&c, p, &name, mode, u64::from(rdev), umask)
        .await?;
    s.dir_attrs.changed(p, &e.parent);
    Ok(entry(&s, e.stat))
}

pub async fn mkdir(
    s: Arc<FsState>,
    c: Ctx,
    parent: u64,
    name: Vec<u8>,
    mode: u32,
    umask: u32,
) -> Result<Node> {
    let p = s.gfid(parent)?;
    let e = s.vol.mkdir(&c, p, &name, mode, umask).await?;
    s.dir_attrs.changed(p, &e.parent);
    s.dir_attrs.seen(&e.stat);
    Ok(entry(&s, e.stat))
}

pub async fn symlink(
    s: Arc<FsState>,
    c: Ctx,
    parent: u64,
    name: Vec<u8>,
    target: Vec<u8>,
) -> Result<Node> {
    let p = s.gfid(parent)?;
    let e = s.vol.symlink(&c, p, &name, &target, 0).await?;
    s.dir_attrs.changed(p, &e.parent);
    Ok(entry(&s, e.stat))
}

pub async fn link(
    s: Arc<FsState>,
    c: Ctx,
    ino: u64,
    newparent: u64,
    name: Vec<u8>,
) -> Result<Node> {
    let (g, np) = (s.gfid(ino)?, s.gfid(newparent)?);
    let e = s.vol.link(&c, g, np, &name).await?;
    s.dir_attrs.changed(np, &e.parent);
    Ok(entry(&s, e.stat))
}

pub async fn unlink(s: Arc<FsState>, c: Ctx, parent: u64, name: Vec<u8>) -> Result<()> {
    let p = s.gfid(parent)?;
    open_victim(&s, &c, p, &name).await;
    let post = s.vol.unlink(&c, p, &name).await?;
    s.dir_attrs.changed(p, &post);
    Ok(())
}

pub async fn rmdir(s: Arc<FsState>, c: Ctx, parent: u64, name: Vec<u8>) -> Result<()> {
    let p = s.gfid(parent)?;
    let post = s.vol.rmdir(&c, p, &name).await?;
    s.dir_attrs.changed(p, &post);
    Ok(())
}

/// renameat2(2) flags the GlusterFS protocol can honour: RENAME_NOREPLACE
/// (decided by distribute under the target name's lock). EXCHANGE and WHITEOUT are EINVAL. Returns
/// whether the target must not exist.
pub fn rename_noreplace(flags: u32) -> Result<bool> {
    let noreplace = libc::RENAME_NOREPLACE;
    if flags & !noreplace != 0 {
        return fail(errno::EINVAL, "only RENAME_NOREPLACE is supported");
    }
    Ok(flags & noreplace != 0)
}

pub async fn rename(
    s: Arc<FsState>,
    c: Ctx,
    parent: u64,
    name: Vec<u8>,
    newparent: u64,
    newname: Vec<u8>,
    flags: u32,
) -> Result<()> {
    let noreplace = rename_noreplace(flags)?;
    let (p, np) = (s.gfid(parent)?, s.gfid(newparent)?);
    let r = if noreplace {
        // Decided under the target name's lock, not by a racy lookup.
        s.vol.rename_noreplace(&c, p, &name, np, &newname).await?
    } else {
        open_victim(&s, &c, np, &newname).await;
        s.vol.rename(&c, p, &name, np, &newname).await?
    };
    s.dir_attrs.changed(p, &r.old_parent);
    s.dir_attrs.changed(np, &r.new_parent);
    // A renamed directory's ctime and `..` changed too.
    s.dir_attrs.forget(r.stat.gfid);
    Ok(())
}

/// Before `name` in `parent` may lose its last link (unlink, rename over
/// it): opens the lazily opened handles of the file it names, so that they
/// keep working on the unlinked file. Looks the name up only when some
/// file is open lazily at all.
async fn open_victim(s: &FsState, c: &Ctx, parent: Gfid, name: &[u8]) {
    if !s.has_lazy_opens() {
        return;
    }
    if let Ok(st) = s.vol.lookup(c, parent, name).await {
        s.open_pending(st.gfid).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_flags() {
        assert!(!rename_noreplace(0).unwrap());
        assert!(rename_noreplace(libc::RENAME_NOREPLACE).unwrap());
        for bad in [libc::RENAME_EXCHANGE, libc::RENAME_WHITEOUT, 1 << 10] {
            let e = rename_noreplace(bad).unwrap_err();
            assert_eq!(e.errno(), errno::EINVAL);
        }
    }
}
