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
    let st = s
        .vol
        .mknod(&c, p, &name, mode, u64::from(rdev), umask)
        .await?;
    Ok(entry(&s, st))
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
    let st = s.vol.mkdir(&c, p, &name, mode, umask).await?;
    Ok(entry(&s, st))
}

pub async fn symlink(
    s: Arc<FsState>,
    c: Ctx,
    parent: u64,
    name: Vec<u8>,
    target: Vec<u8>,
) -> Result<Node> {
    let p = s.gfid(parent)?;
    let st = s.vol.symlink(&c, p, &name, &target, 0).await?;
    Ok(entry(&s, st))
}

pub async fn link(
    s: Arc<FsState>,
    c: Ctx,
    ino: u64,
    newparent: u64,
    name: Vec<u8>,
) -> Result<Node> {
    let (g, np) = (s.gfid(ino)?, s.gfid(newparent)?);
    let st = s.vol.link(&c, g, np, &name).await?;
    Ok(entry(&s, st))
}

pub async fn unlink(s: Arc<FsState>, c: Ctx, parent: u64, name: Vec<u8>) -> Result<()> {
    let p = s.gfid(parent)?;
    open_victim(&s, &c, p, &name).await;
    s.vol.unlink(&c, p, &name).await
}

pub async fn rmdir(s: Arc<FsState>, c: Ctx, parent: u64, name: Vec<u8>) -> Result<()> {
    s.vol.rmdir(&c, s.gfid(parent)?, &name).await
}

/// renameat2(2) flags the GlusterFS protocol can honour: RENAME_NOREPLACE
/// (checked here, not atomic). EXCHANGE and WHITEOUT are EINVAL. Returns
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
    if noreplace {
        // Decided under the target name's lock, not by a racy lookup.
        return s
            .vol
            .rename_noreplace(&c, p, &name, np, &newname)
            .await
            .map(drop);
    }
    open_victim(&s, &c, np, &newname).await;
    s.vol.rename(&c, p, &name, np, &newname).await.map(drop)
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
