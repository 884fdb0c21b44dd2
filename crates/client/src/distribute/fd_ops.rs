//! Open files and directories over several subvolumes.
//!
//! A file's fd lives on the subvolume holding its data. A rebalance may
//! move the file while it is open (§8): the fd follows it when the old
//! subvolume says ENOENT/ESTALE/EBADFD or answers with the phase-2
//! marker (look the gfid up again, open on the new subvolume on next use,
//! resend), and writes acknowledged by a phase-1 source are replayed to
//! the destination. A directory fd is open on every subvolume that has
//! the directory.

use super::migration::{self, phase, Phase};
use super::{as_root, Distribute, LINKTO_XATTR};
use crate::error::{Error, Result};
use crate::xlator::{release_subtree, Ctx, FdCtx, FdObj, FdRef, Xlator};
use bytes::Bytes;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use proto::dict::{DictValue, GfxDict};
use proto::errno;
use proto::fops::{oflags, ReadRsp, TwoIattRsp};
use std::sync::Arc;

/// Distribute's state for one fd.
pub(super) struct DhtFd {
    /// The subvolume a file's fd is on.
    at: Mutex<usize>,
    /// For a directory: the subvolumes it is open on.
    pub present: Vec<bool>,
}

impl FdCtx for DhtFd {}

/// Errors meaning the inode is not on this subvolume any more.
fn is_moved_error(e: &Error) -> bool {
    matches!(e.errno(), errno::ENOENT | errno::ESTALE | errno::EBADFD)
}

impl Distribute {
    pub(super) fn fd_state(&self, fd: &FdObj) -> Option<Arc<DhtFd>> {
        fd.ctx::<DhtFd>(self.id)
    }

    /// A directory fd's state when it is open over several subvolumes.
    pub(super) fn spread_dir_fd(&self, fd: &FdObj) -> Option<Arc<DhtFd>> {
        self.fd_state(fd).filter(|s| !s.present.is_empty())
    }

    pub(super) fn set_fd_child(&self, fd: &FdObj, at: usize) {
        match self.fd_state(fd) {
            Some(s) => *s.at.lock() = at,
            None => {
                fd.set_ctx(
                    self.id,
                    Arc::new(DhtFd {
                        at: Mutex::new(at),
                        present: Vec::new(),
                    }),
                );
            }
        }
    }

    /// The subvolume `fd` is (to be) open on.
    pub(super) async fn fd_child(&self, ctx: &Ctx, fd: &FdObj) -> Result<usize> {
        if self.single() {
            return Ok(0);
        }
        if let Some(s) = self.fd_state(fd) {
            if !s.present.is_empty() {
                // A directory: fd fops other than listing go to the first
                // subvolume that has it.
                return Ok(s.present.iter().position(|p| *p).unwrap_or(0));
            }
            return Ok(*s.at.lock());
        }
        // Opened through an earlier graph, or lazily: where is it now?
        let at = self.cached(ctx, fd.gfid()).await?;
        self.set_fd_child(fd, at);
        Ok(at)
    }

    /// The file left the fd's subvolume (a rebalance moved it): find where
    /// it is now and point the fd there. Returns whether it moved.
    pub(super) async fn follow(&self, ctx: &Ctx, fd: &FdObj) -> Result<bool> {
        if self.single() || fd.is_dir {
            return Ok(false);
        }
        let old = self.fd_child(ctx, fd).await?;
        self.forget(fd.gfid());
        let at = self.cached(ctx, fd.gfid()).await?;
        if at == old {
            return Ok(false);
        }
        tracing::info!(gfid = %fd.gfid(), "file moved to {}", self.subvol_name(at));
        self.set_fd_child(fd, at);
        // The old subvolume's fd is on the emptied source: never use it
        // again, even if the file comes back there.
        release_subtree(fd, &*self.subvols[old]).await;
        Ok(true)
    }

    /// Runs `op` on the fd's subvolume, following the file once if it
    /// moved.
    pub(super) async fn on_fd<'a, T>(
        &'a self,
        ctx: &'a Ctx,
        fd: &'a FdRef,
        op: impl Fn(Arc<dyn Xlator>) -> BoxFuture<'a, Result<T>> + Send + Sync + 'a,
    ) -> Result<T> {
        let i = self.fd_child(ctx, fd).await?;
        match op(self.subvols[i].clone()).await {
            Err(e) if is_moved_error(&e) && self.follow(ctx, fd).await? => {
                let j = self.fd_child(ctx, fd).await?;
                op(self.subvols[j].clone()).await
            }
            r => r,
        }
    }

    /// OPENDIR on every subvolume. As upstream's dht_fd_cbk, it succeeds
    /// if one subvolume opened it: the listing then reads those (a
    /// subvolume that is down or lacks the directory contributes no
    /// entries). With none, the first error other than ENOENT is answered.
    pub(super) async fn opendir_all(&self, ctx: &Ctx, fd: &FdRef, xdata: GfxDict) -> Result<()> {
        let opens = self.subvols.iter().map(|c| c.open(ctx, fd, xdata.clone()));
        let mut present = Vec::with_capacity(self.subvols.len());
        let mut first_err = None;
        for (i, r) in futures::future::join_all(opens)
            .await
            .into_iter()
            .enumerate()
        {
            match r {
                Ok(()) => present.push(true),
                Err(e) => {
                    if !e.is_enoent() {
                        tracing::debug!("opendir {} on {}: {e}", fd.gfid(), self.subvol_name(i));
                        first_err.get_or_insert(e);
                    }
                    present.push(false);
                }
            }
        }
        if !present.iter().any(|p| *p) {
            return Err(first_err.unwrap_or_else(|| {
                Error::errno_msg(errno::ENOENT, format!("{}: no such directory", fd.gfid()))
            }));
        }
        fd.set_ctx(
            self.id,
            Arc::new(DhtFd {
                at: Mutex::new(0),
                present,
            }),
        );
        Ok(())
    }

    /// READ, redone on the destination when the source turned out to be
    /// an emptied phase-2 file.
    pub(super) async fn read_fd(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        size: u32,
        xdata: GfxDict,
    ) -> Result<(ReadRsp, Bytes)> {
        let op = |c: Arc<dyn Xlator>| -> BoxFuture<'_, _> {
            let xdata = xdata.clone();
            Box::pin(async move { c.read(ctx, fd, offset, size, xdata).await })
        };
        let r = self.on_fd(ctx, fd, op).await?;
        if phase(&r.0.stat) == Phase::Moved && self.follow(ctx, fd).await? {
            return self.on_fd(ctx, fd, op).await;
        }
        Ok(r)
    }

    /// WRITE, with the rebalance rules for the phase the reply shows.
    pub(super) async fn write_fd(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        data: Bytes,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let op = |c: Arc<dyn Xlator>| -> BoxFuture<'_, _> {
            let (data, xdata) = (data.clone(), xdata.clone());
            Box::pin(async move { c.write(ctx, fd, offset, data, xdata).await })
        };
        let mut r = self.on_fd(ctx, fd, op).await?;
        match phase(&r.poststat) {
            Phase::Moved if self.follow(ctx, fd).await? => {
                r = self.on_fd(ctx, fd, op).await?;
            }
            Phase::Copying => {
                self.replay_to_destination(ctx, fd, offset, data).await?;
            }
            _ => {}
        }
        migration::clean(&mut r.poststat);
        migration::clean(&mut r.prestat);
        Ok(r)
    }

    /// A write acknowledged by a source that is being migrated (phase 1)
    /// must reach the destination too, or the rebalance loses it (§8.2).
    /// `protect.writes` also makes the rebalance give up on this file.
    async fn replay_to_destination(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        data: Bytes,
    ) -> Result<()> {
        let root = as_root(ctx);
        let at = self.fd_child(ctx, fd).await?;
        let on = crate::xlator::Target::Fd(fd.clone());
        let rsp = self.subvols[at]
            .getxattr(&root, &on, LINKTO_XATTR.as_bytes(), GfxDict::new())
            .await?;
        let dest = crate::volume::xattr_value(&rsp.dict, LINKTO_XATTR)?;
        let to = self.index_of(&dest).ok_or_else(|| {
            Error::errno_msg(
                errno::EIO,
                format!(
                    "file under migration points to unknown subvolume '{}'",
                    String::from_utf8_lossy(&dest)
                ),
            )
        })?;
        let flags = fd.flags & !(oflags::CREAT | oflags::EXCL | oflags::TRUNC | oflags::APPEND);
        let tmp = FdObj::new(fd.gfid(), flags, false, false);
        let child = &self.subvols[to];
        child.open(&root, &tmp, GfxDict::new()).await?;
        let xdata = GfxDict::new().with("trusted.glusterfs.protect.writes", DictValue::Uint(1));
        let r = child.write(ctx, &tmp, offset, data, xdata).await;
        tmp.release().await;
        r.map(drop)
    }
}
