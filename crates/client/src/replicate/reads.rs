//! Reads (§4): only from a brick no other brick accuses, never from the
//! arbiter, chosen as the official client chooses (read-hash-mode), with
//! the next good brick tried when the chosen one fails. The readable sets
//! come from the last lookup of the inode, or from a refresh (a nameless
//! lookup on every brick) when a child went up or down since.

use super::changelog::{readable, Readable, Seen};
use super::lookup::{lookup_xdata, split_brain};
use super::read_child::read_child;
use super::{Known, Replicate};
use crate::error::{Error, Result};
use crate::xlator::{Ctx, Xlator};
use proto::errno;
use proto::fops::LookupReq;
use proto::Gfid;
use std::future::Future;

/// What a read needs to be good on the brick that serves it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ReadKind {
    /// Contents and size: readv, stat, readlink, seek.
    Data,
    /// Attributes and xattrs: access, getxattr.
    Metadata,
}

/// Errors after which another good brick is worth asking.
fn try_next(e: &Error) -> bool {
    matches!(
        e.errno(),
        errno::ENOTCONN | errno::EIO | errno::EBADFD | errno::EBADF | errno::ETIMEDOUT
    )
}

impl Replicate {
    /// Asks every brick about `gfid` and remembers its readable sets.
    pub(crate) async fn refresh(&self, ctx: &Ctx, gfid: Gfid) -> Result<Known> {
        let epoch = self.epoch();
        let req = LookupReq {
            gfid,
            pargfid: Gfid::default(),
            flags: 0,
            bname: Vec::new(),
            xdata: lookup_xdata(&self.o),
        };
        let rs = self.each(&self.all(), |_, c| c.lookup(ctx, &req)).await;
        let seen: Vec<Option<Seen>> = rs
            .iter()
            .map(|r| match r {
                Some(Ok(rsp)) => Some(Seen {
                    stat: rsp.prestat,
                    xdata: &rsp.xdata,
                }),
                _ => None,
            })
            .collect();
        if seen.iter().all(Option::is_none) {
            return Err(super::error_with(&rs, super::worst_errno(&rs)));
        }
        let is_dir = seen.iter().flatten().any(|s| s.stat.is_dir());
        let sets = readable(&self.o, &seen);
        self.learn(gfid, sets.clone(), is_dir, epoch);
        Ok(Known {
            epoch,
            sets,
            is_dir,
        })
    }

    /// The children that may serve a `kind` read of `gfid`, the preferred
    /// one first.
    pub(crate) async fn readers(
        &self,
        ctx: &Ctx,
        gfid: Gfid,
        kind: ReadKind,
    ) -> Result<Vec<usize>> {
        let known = match self.known(gfid) {
            Some(k) => Some(k),
            None => match self.refresh(ctx, gfid).await {
                Ok(k) => Some(k),
                // An unlinked file still open, say: no accusations to
                // read, every data brick is as good as the others.
                Err(e) if matches!(e.errno(), errno::ENOENT | errno::ESTALE) => None,
                Err(e) => return Err(e),
            },
        };
        // Reads need quorum too (§5), of the bricks up as last seen; bricks
        // seen down may be back: ask them all once before refusing.
        let mut known = known;
        if !self.quorum_up() {
            known = self.refresh(ctx, gfid).await.ok();
            if !self.quorum_up() {
                return Err(self.no_quorum("read"));
            }
        }
        let Some(known) = known else {
            return Ok(self.order(gfid, &self.data_bricks()));
        };
        if split_brain(&known.sets, known.is_dir) {
            return Err(self.split_brain_error(gfid, &known.sets));
        }
        let both = known.sets.both();
        let cands = if both.iter().any(|b| *b) {
            both
        } else if kind == ReadKind::Data {
            known.sets.data.clone()
        } else {
            known.sets.meta.clone()
        };
        if !cands.iter().any(|c| *c) {
            return Err(self.no_quorum("no readable brick is up"));
        }
        Ok(self.order(gfid, &cands))
    }

    fn quorum_up(&self) -> bool {
        let up = self.up.lock().clone();
        self.o.quorum_met(&up)
    }

    fn data_bricks(&self) -> Vec<bool> {
        (0..self.n()).map(|i| !self.is_arbiter(i)).collect()
    }

    /// `cands` with the read-hash choice first.
    fn order(&self, gfid: Gfid, cands: &[bool]) -> Vec<usize> {
        let first = read_child(gfid, cands, self.preferred, self.o.read_hash_mode);
        let mut v: Vec<usize> = first.into_iter().collect();
        v.extend((0..cands.len()).filter(|&i| cands[i] && Some(i) != first));
        v
    }

    pub(crate) fn split_brain_error(&self, gfid: Gfid, sets: &Readable) -> Error {
        let names: Vec<&str> = self.children.iter().map(|c| c.name()).collect();
        tracing::error!(
            "{}: {gfid} is in split-brain: no brick is a good copy \
             (data readable {:?}, metadata readable {:?} over {:?}); \
             resolve with 'gluster volume heal <vol> split-brain'",
            self.name,
            sets.data,
            sets.meta,
            names
        );
        Error::errno_msg(
            errno::EIO,
            format!("{}: {gfid} is in split-brain", self.name),
        )
    }

    /// Runs a read on the best readable child of `gfid`, then the next
    /// ones while it fails for want of that brick.
    pub(crate) async fn read_from<'a, T, Fut>(
        &'a self,
        ctx: &'a Ctx,
        gfid: Gfid,
        kind: ReadKind,
        f: impl Fn(usize, &'a dyn Xlator) -> Fut,
    ) -> Result<T>
    where
        Fut: Future<Output = Result<T>> + 'a,
    {
        let epoch = self.epoch();
        let order = self.readers(ctx, gfid, kind).await?;
        let mut last = None;
        for i in order {
            match self.one(i, |c| f(i, c)).await {
                Ok(v) if self.epoch() == epoch => return Ok(v),
                Ok(v) => {
                    // A brick went up or down meanwhile: the answer stands
                    // only if this brick is still a good copy.
                    let again = self.readers(ctx, gfid, kind).await?;
                    if again.contains(&i) {
                        return Ok(v);
                    }
                    return match again.first() {
                        Some(&j) => self.one(j, |c| f(j, c)).await,
                        None => Err(self.no_quorum("no readable brick is up")),
                    };
                }
                Err(e) if try_next(&e) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| self.no_quorum("no readable brick answered")))
    }
}
