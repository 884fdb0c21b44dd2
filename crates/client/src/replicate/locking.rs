//! AFR's own locks (§3.3): write locks in the replica set's domain, taken
//! on every child at once without waiting; if any is busy, everything
//! granted is let go and the locks are taken again waiting, one child at
//! a time in brick order and lockees in a fixed order, which is what keeps
//! two clients from deadlocking each other.

use super::Replicate;
use crate::error::{Error, Result};
use crate::xlator::{Ctx, Target, Xlator};
use proto::dict::GfxDict;
use proto::errno;
use proto::iatt::{lock, Flock};
use proto::Gfid;

/// One thing a transaction locks.
#[derive(Clone, Debug)]
pub(crate) enum Lockee {
    /// A range of an inode (inodelk, or finodelk through an fd).
    Inode { on: Target, flock: Flock },
    /// A name in a directory; an empty name locks the whole directory.
    Entry { dir: Gfid, name: Vec<u8> },
}

impl Lockee {
    /// The order of blocking acquisition: by gfid bytes, then name, the
    /// whole-directory lock first.
    fn key(&self) -> (Gfid, &[u8]) {
        match self {
            Lockee::Inode { on, .. } => (on.gfid(), &[]),
            Lockee::Entry { dir, name } => (*dir, name),
        }
    }
}

/// Sorts lockees into acquisition order.
pub(crate) fn sort(lockees: &mut [Lockee]) {
    lockees.sort_by(|a, b| {
        let (ga, na) = a.key();
        let (gb, nb) = b.key();
        ga.0.cmp(&gb.0).then_with(|| na.cmp(nb))
    });
}

/// The locks one transaction holds: `held[l][i]` for lockee l on child i.
pub(crate) struct Held {
    pub lockees: Vec<Lockee>,
    pub held: Vec<Vec<bool>>,
    pub owner: Vec<u8>,
}

impl Held {
    /// Children holding every lockee.
    pub fn locked(&self, n: usize) -> Vec<bool> {
        (0..n)
            .map(|i| !self.lockees.is_empty() && self.held.iter().all(|h| h[i]))
            .collect()
    }
}

async fn lock_one(xl: &dyn Xlator, ctx: &Ctx, domain: &[u8], l: &Lockee, wait: bool) -> Result<()> {
    match l {
        Lockee::Inode { on, flock } => {
            let cmd = if wait { lock::SETLKW } else { lock::SETLK };
            xl.inodelk(ctx, on, domain, cmd, flock, GfxDict::new())
                .await
                .map(drop)
        }
        Lockee::Entry { dir, name } => {
            let cmd = if wait {
                lock::ENTRYLK_LOCK
            } else {
                lock::ENTRYLK_LOCK_NB
            };
            let on = Target::Inode(*dir);
            xl.entrylk(ctx, &on, domain, name, cmd, lock::WRLCK, GfxDict::new())
                .await
                .map(drop)
        }
    }
}

async fn unlock_one(xl: &dyn Xlator, ctx: &Ctx, domain: &[u8], l: &Lockee) -> Result<()> {
    match l {
        Lockee::Inode { on, flock } => {
            let mut f = flock.clone();
            f.kind = lock::UNLCK;
            // A lock outlives the fd it was taken through (a run of writes
            // ends after the file's release): the inode unlocks it the
            // same, the brick keys locks by owner and connection.
            let on = match on {
                Target::Fd(fd) if fd.is_released() => Target::Inode(fd.gfid()),
                other => other.clone(),
            };
            let r = xl
                .inodelk(ctx, &on, domain, lock::SETLK, &f, GfxDict::new())
                .await;
            match (r, &on) {
                // The fd went away meanwhile: the inode unlocks it the same.
                (Err(e), Target::Fd(fd)) if e.errno() == errno::EBADF => {
                    let by_inode = Target::Inode(fd.gfid());
                    xl.inodelk(ctx, &by_inode, domain, lock::SETLK, &f, GfxDict::new())
                        .await
                        .map(drop)
                }
                (r, _) => r.map(drop),
            }
        }
        Lockee::Entry { dir, name } => {
            let on = Target::Inode(*dir);
            xl.entrylk(
                ctx,
                &on,
                domain,
                name,
                lock::ENTRYLK_UNLOCK,
                lock::WRLCK,
                GfxDict::new(),
            )
            .await
            .map(drop)
        }
    }
}

impl Replicate {
    /// Locks `lockees` (sorted) on the children `up` with a fresh owner.
    /// Fails only when a brick has no locks translator (ENOSYS); the
    /// caller checks quorum on [`Held::locked`].
    pub(crate) async fn acquire(
        &self,
        ctx: &Ctx,
        mut lockees: Vec<Lockee>,
        up: &[bool],
    ) -> Result<Held> {
        sort(&mut lockees);
        let owner = self.new_owner();
        let ictx = Self::internal_ctx(ctx, &owner);
        let n = self.n();
        let mut held = Held {
            held: vec![vec![false; n]; lockees.len()],
            lockees,
            owner,
        };
        // Non-blocking, everything at once.
        let mut busy = false;
        let mut nosys = None;
        let tries = held
            .lockees
            .iter()
            .map(|lockee| self.each(up, |_, c| lock_one(c, &ictx, &self.domain, lockee, false)));
        let all = futures::future::join_all(tries).await;
        for (l, rs) in all.into_iter().enumerate() {
            for (i, r) in rs.into_iter().enumerate() {
                match r {
                    Some(Ok(())) => held.held[l][i] = true,
                    Some(Err(e)) if e.errno() == errno::ENOSYS => nosys = Some(e),
                    // A brick that is down is no reason to wait.
                    Some(Err(e)) if e.errno() == errno::ENOTCONN => {}
                    Some(Err(_)) => busy = true,
                    None => {}
                }
            }
        }
        if let Some(e) = nosys {
            self.release(ctx, &held).await;
            return Err(e);
        }
        if !busy {
            return Ok(held);
        }
        self.release(ctx, &held).await;
        for h in held.held.iter_mut() {
            h.fill(false);
        }
        // Blocking, one lockee and one child at a time, in order.
        for (l, lockee) in held.lockees.iter().enumerate() {
            for i in (0..n).filter(|&i| up[i]) {
                let r = self
                    .one(i, |c| lock_one(c, &ictx, &self.domain, lockee, true))
                    .await;
                match r {
                    Ok(()) => held.held[l][i] = true,
                    Err(e) if e.errno() == errno::ENOSYS => {
                        self.release(ctx, &held).await;
                        return Err(e);
                    }
                    Err(e) => {
                        tracing::debug!("{}: lock on child {i}: {e}", self.name);
                    }
                }
            }
        }
        Ok(held)
    }

    /// Unlocks every lock of `held` that was granted, all at once.
    pub(crate) async fn release(&self, ctx: &Ctx, held: &Held) {
        let ictx = Self::internal_ctx(ctx, &held.owner);
        let calls = held.lockees.iter().enumerate().map(|(l, lockee)| {
            let ictx = &ictx;
            async move {
                let rs = self
                    .each(&held.held[l], |_, c| {
                        unlock_one(c, ictx, &self.domain, lockee)
                    })
                    .await;
                for r in rs.into_iter().flatten() {
                    if let Err(e) = r {
                        if e.errno() != errno::ENOTCONN {
                            tracing::warn!("{}: unlock: {e}", self.name);
                        }
                    }
                }
            }
        });
        futures::future::join_all(calls).await;
    }
}

/// The error of a transaction that could not lock enough bricks.
pub(crate) fn lock_failed(name: &str, what: &str) -> Error {
    Error::errno_msg(
        errno::ENOTCONN,
        format!("{name}: {what}: could not lock a quorum of bricks"),
    )
}
