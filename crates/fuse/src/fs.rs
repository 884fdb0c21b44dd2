//! The state of the mounted file system over a `client::Volume`: inode
//! numbers, open handles, directory streams, cached xattr answers, queued
//! writes, held locks. What each request does is in `ops`; `fuse_ops`
//! does the kernel side.

use crate::dir_attrs::DirAttrs;
use crate::inode::InodeTable;
use crate::locks::HeldLocks;
use crate::ttl_map::TtlMap;
use crate::writeback::WriteBehind;
use client::graph::WriteBehindSpec;
use client::{Ctx, DirEntry, Error, Fd, Gfid, Volume};
use parking_lot::Mutex;
use proto::errno;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub type Result<T> = std::result::Result<T, Error>;

/// Cache timeouts handed to the kernel.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub attr: Duration,
    pub entry: Duration,
    pub negative: Duration,
}

/// An open directory: its fd and the entries fetched but not yet handed
/// to the kernel (its buffer was full), with the cookie they follow.
pub struct DirStream {
    pub fd: Fd,
    pub pending: Mutex<Option<(u64, VecDeque<DirEntry>)>>,
}

/// An open file. `closing` is held by a flush that finishes in the
/// background (flush-behind), so that RELEASE waits for that FLUSH.
pub struct OpenFile {
    pub fd: Fd,
    pub closing: std::sync::Arc<tokio::sync::Mutex<()>>,
}

pub enum Handle {
    File(OpenFile),
    Dir(std::sync::Arc<DirStream>),
}

impl Handle {
    pub fn file(fd: Fd) -> Handle {
        Handle::File(OpenFile {
            fd,
            closing: Default::default(),
        })
    }
}

pub struct FsState {
    pub vol: Volume,
    pub inodes: Mutex<InodeTable>,
    handles: Mutex<HashMap<u64, Handle>>,
    next_fh: AtomicU64,
    pub timeouts: Timeouts,
    /// None when the volume has write-behind off.
    pub wb: Option<WriteBehind>,
    pub wb_policy: Option<WriteBehindSpec>,
    /// Recent answers for the xattrs the kernel asks about on every write
    /// (see [`crate::ops::xattr::is_hot_xattr`]), valid for the attribute
    /// timeout.
    hot_xattrs: TtlMap<(Gfid, Vec<u8>), Option<Vec<u8>>>,
    pub locks: HeldLocks,
    /// Directory attributes our own entry operations reported.
    pub dir_attrs: DirAttrs,
    /// Files opened lazily (open-behind) and not forced open since: per
    /// inode, the handles and their openers.
    lazy_opens: Mutex<HashMap<Gfid, Vec<(u64, Ctx)>>>,
}

/// Bound on cached hot-xattr answers.
const HOT_XATTR_MAX: usize = 65536;

impl FsState {
    pub fn new(vol: Volume, timeouts: Timeouts) -> FsState {
        let wb_policy = vol.graph().write_behind;
        // Our writes are up to 1 MiB: keep several in flight even with
        // the default 1 MB window.
        let wb = wb_policy.map(|p| WriteBehind::new(p.window.max(4 << 20)));
        FsState {
            vol,
            inodes: Mutex::new(InodeTable::new()),
            handles: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            timeouts,
            wb,
            wb_policy,
            hot_xattrs: TtlMap::new(timeouts.attr, HOT_XATTR_MAX),
            locks: HeldLocks::default(),
            dir_attrs: DirAttrs::new(timeouts.attr),
            lazy_opens: Mutex::new(HashMap::new()),
        }
    }

    /// Records handle `fh` of `gfid` as opened lazily by `opener`.
    pub fn opened_lazily(&self, gfid: Gfid, fh: u64, opener: Ctx) {
        self.lazy_opens
            .lock()
            .entry(gfid)
            .or_default()
            .push((fh, opener));
    }

    /// Handle `fh` of `gfid` is released.
    fn forget_lazy(&self, gfid: Gfid, fh: u64) {
        let mut map = self.lazy_opens.lock();
        if let Some(v) = map.get_mut(&gfid) {
            v.retain(|(h, _)| *h != fh);
            if v.is_empty() {
                map.remove(&gfid);
            }
        }
    }

    /// True when some file may still be open only lazily.
    pub fn has_lazy_opens(&self) -> bool {
        !self.lazy_opens.lock().is_empty()
    }

    /// Opens on the brick, as their openers, the lazily opened handles of
    /// `gfid`: the brick keeps an unlinked file only for fds open there,
    /// so this must happen before its last name may go (upstream's
    /// open-behind does the same before UNLINK and RENAME). A failure is
    /// left for the handle's next use to report.
    pub async fn open_pending(&self, gfid: Gfid) {
        let Some(pending) = self.lazy_opens.lock().remove(&gfid) else {
            return;
        };
        for (fh, opener) in pending {
            if let Ok(fd) = self.file(fh) {
                if let Err(e) = fd.open_now(&opener).await {
                    tracing::debug!(%gfid, "open before unlink failed: {e}");
                }
            }
        }
    }

    /// A cached answer for a hot xattr: Some(None) = known absent.
    pub fn cached_xattr(&self, gfid: Gfid, name: &[u8]) -> Option<Option<Vec<u8>>> {
        self.hot_xattrs.get(&(gfid, name.to_vec()))
    }

    pub fn cache_xattr(&self, gfid: Gfid, name: &[u8], value: Option<Vec<u8>>) {
        self.hot_xattrs.insert((gfid, name.to_vec()), value);
    }

    /// Forgets cached xattrs of an inode after we changed its xattrs (and,
    /// for a directory, the attributes an entry operation reported: its
    /// ctime moved).
    pub fn uncache_xattrs(&self, gfid: Gfid) {
        self.hot_xattrs.retain_keys(|(g, _)| *g != gfid);
        self.dir_attrs.forget(gfid);
    }

    /// Waits for `gfid`'s queued writes, so that what follows sees them.
    pub async fn settle(&self, gfid: Gfid) {
        if let Some(wb) = &self.wb {
            // An error stays recorded for the next write/fsync/flush.
            let _ = wb.settle(gfid, false).await;
        }
    }

    /// Waits for queued writes and reports a background failure.
    pub async fn settle_with_error(&self, gfid: Gfid) -> Result<()> {
        match &self.wb {
            Some(wb) => wb.settle(gfid, true).await,
            None => Ok(()),
        }
    }

    /// True when `gfid` has writes in flight (its attributes would be stale).
    pub fn writes_pending(&self, gfid: &Gfid) -> bool {
        self.wb.as_ref().is_some_and(|wb| wb.busy(gfid))
    }

    /// Writes through write-behind when the file and the volume allow it.
    pub async fn write(&self, ctx: Ctx, fd: Fd, offset: u64, data: bytes::Bytes) -> Result<usize> {
        use proto::fops::oflags;
        let flags = fd.flags();
        let strict_direct = self.wb_policy.is_some_and(|p| p.strict_o_direct);
        let sync = flags & oflags::SYNC != 0 || (flags & oflags::DIRECT != 0 && strict_direct);
        match &self.wb {
            Some(wb) if !sync => {
                let append = flags & oflags::APPEND != 0;
                wb.write(fd, ctx, offset, data, append).await
            }
            _ => {
                self.settle_with_error(fd.gfid()).await?;
                Ok(fd.write_bytes(&ctx, offset, data).await?.0)
            }
        }
    }

    /// The gfid behind a node id the kernel sent us.
    pub fn gfid(&self, ino: u64) -> Result<Gfid> {
        self.inodes
            .lock()
            .gfid(ino)
            .ok_or_else(|| Error::errno_msg(errno::ESTALE, format!("unknown inode {ino}")))
    }

    /// Counts one kernel reference to `gfid` and returns its node id.
    pub fn remember(&self, gfid: Gfid) -> u64 {
        self.inodes.lock().remember(gfid)
    }

    pub fn forget(&self, ino: u64, n: u64) {
        self.inodes.lock().forget(ino, n);
    }

    pub fn add_handle(&self, h: Handle) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.handles.lock().insert(fh, h);
        fh
    }

    pub fn file(&self, fh: u64) -> Result<Fd> {
        match self.handles.lock().get(&fh) {
            Some(Handle::File(f)) => Ok(f.fd.clone()),
            _ => Err(Error::errno_msg(errno::EBADF, format!("no open file {fh}"))),
        }
    }

    /// The open files of `gfid`.
    fn files_of(&self, gfid: Gfid) -> Vec<Fd> {
        self.handles
            .lock()
            .values()
            .filter_map(|h| match h {
                Handle::File(f) if f.fd.gfid() == gfid => Some(f.fd.clone()),
                _ => None,
            })
            .collect()
    }

    /// For a call by inode that failed with `err`: when the file has lost
    /// its last name (ENOENT, ESTALE) but is still open here, runs `f` on
    /// its open fds until one answers, as upstream's fuse-bridge sends
    /// FSTAT/FSETATTR on any open fd of the inode. The kernel passes no
    /// handle with fstat(2), fchmod(2) and the like.
    pub async fn via_open_file<T, F, Fut>(&self, gfid: Gfid, err: Error, f: F) -> Result<T>
    where
        F: Fn(Fd) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        if !matches!(err.errno(), errno::ENOENT | errno::ESTALE) {
            return Err(err);
        }
        for fd in self.files_of(gfid) {
            if let Ok(v) = f(fd).await {
                return Ok(v);
            }
        }
        Err(err)
    }

    /// The lock a background flush of `fh` holds.
    pub fn closing_lock(&self, fh: u64) -> Option<std::sync::Arc<tokio::sync::Mutex<()>>> {
        match self.handles.lock().get(&fh) {
            Some(Handle::File(f)) => Some(f.closing.clone()),
            _ => None,
        }
    }

    pub fn dir(&self, fh: u64) -> Result<std::sync::Arc<DirStream>> {
        match self.handles.lock().get(&fh) {
            Some(Handle::Dir(d)) => Ok(d.clone()),
            _ => Err(Error::errno_msg(
                errno::EBADF,
                format!("no open directory {fh}"),
            )),
        }
    }

    pub fn take_handle(&self, fh: u64) -> Option<Handle> {
        let h = self.handles.lock().remove(&fh);
        if let Some(Handle::File(f)) = &h {
            self.forget_lazy(f.fd.gfid(), fh);
        }
        h
    }

    pub fn open_handles(&self) -> usize {
        self.handles.lock().len()
    }

    /// Entries after cookie `offset`: the buffered rest of the previous
    /// batch when it continues there, else a fresh READDIRP.
    pub async fn dir_entries(
        &self,
        ctx: &Ctx,
        dir: &DirStream,
        offset: u64,
    ) -> Result<VecDeque<DirEntry>> {
        if let Some((after, entries)) = dir.pending.lock().take() {
            if after == offset {
                return Ok(entries);
            }
        }
        Ok(dir.fd.readdirp(ctx, offset, 128 * 1024).await?.into())
    }
}

/// The caller of a FUSE request as the bricks should see it. Supplementary
/// groups come from /proc (the official client's `send-gids`), skipped for
/// root, which needs none.
pub fn request_ctx(uid: u32, gid: u32, pid: u32, lock_owner: Option<u64>) -> Ctx {
    let groups = if uid == 0 {
        Vec::new()
    } else {
        proc_groups(pid)
    };
    Ctx {
        pid: pid as i32,
        uid,
        gid,
        groups,
        lk_owner: lock_owner
            .map(|o| o.to_le_bytes().to_vec())
            .unwrap_or_default(),
        utime_flags: 0,
        utime_ns: 0,
    }
}

fn proc_groups(pid: u32) -> Vec<u32> {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Vec::new();
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|g| {
            g.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctx_of_root_has_no_groups() {
        let c = request_ctx(0, 0, std::process::id(), Some(0x0102));
        assert!(c.groups.is_empty());
        assert_eq!(c.lk_owner, vec![2, 1, 0, 0, 0, 0, 0, 0]);
    }
}
