//! cluster/replicate (AFR): a replica set written and read as the official
//! 10.3 client does, so that it, the official clients and the self-heal
//! daemon share the bricks. Facts: ../shared/translators/replicate.md
//! (section numbers below refer to it).
//!
//! The pieces:
//! - `options`: the volfile options and the quorum rule (§0, §5);
//! - `changelog`: the 12-byte pending/dirty values, pre-op and post-op
//!   deltas, readable sets (§1, §4.1);
//! - `lookup`, `read_child`: merging lookups and choosing the read brick
//!   (§4);
//! - `locking`: AFR-domain inodelk/entrylk, non-blocking in parallel then
//!   blocking in brick order (§3.3);
//! - `transaction`: lock, pre-op, fop, post-op, unlock (§3);
//! - `eager`: eager lock and delayed post-op for runs of writes (§3.8);
//! - `reads`: readable-set cache and reads with fallback;
//! - `xl`, `entry_ops`: the translator's fops.

pub mod changelog;
mod eager;
mod entry_ops;
mod locking;
pub mod lookup;
pub mod options;
pub mod read_child;
mod reads;
#[cfg(test)]
mod tests;
mod transaction;
pub mod txn;
mod xl;

pub use changelog::{Changelog, Kind};
pub use options::{Quorum, ReplicateOptions};

use crate::error::{Error, Result};
use crate::graph::XlSpec;
use crate::xlator::{new_id, Ctx, XlId, Xlator};
use changelog::Readable;
use lru::LruCache;
use parking_lot::Mutex;
use proto::errno;
use proto::Gfid;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Inodes whose readable sets we remember between a lookup and the reads
/// that follow it; beyond this, the least recently used are asked again.
const READABLE_CACHE: usize = 64 * 1024;

/// What we know of one inode: which children may serve reads.
#[derive(Clone, Debug)]
pub(crate) struct Known {
    /// `Replicate::epoch` when learnt: any child going up or down since
    /// makes it stale (§4.1).
    epoch: u64,
    sets: Readable,
    is_dir: bool,
}

pub struct Replicate {
    name: String,
    id: XlId,
    children: Vec<Arc<dyn Xlator>>,
    pub(crate) o: ReplicateOptions,
    /// The lock domain of every AFR lock: the section's name (§3.3).
    domain: Vec<u8>,
    /// Lock owners unique within our connections: a random high half
    /// and a counter (§3.3: never one owner for two transactions).
    owner_base: u64,
    owners: AtomicU64,
    /// Whether each child answered its last call (false: ENOTCONN).
    up: Mutex<Vec<bool>>,
    /// Bumped whenever a child is seen going up or down.
    epoch: AtomicU64,
    known: Mutex<LruCache<Gfid, Known>>,
    /// Held write locks and delayed post-ops, per inode (§3.8).
    pub(crate) eager: eager::EagerLocks,
    /// The child reads prefer: read-subvolume, else with choose-local the
    /// one data brick on this machine (several local ones: the hash
    /// spreads reads over them).
    pub(crate) preferred: Option<usize>,
    /// Ourselves, for the delayed post-op's timer task.
    me: std::sync::Weak<Replicate>,
}

impl Replicate {
    pub fn new(spec: &XlSpec, children: Vec<Arc<dyn Xlator>>) -> Result<Arc<Replicate>> {
        let o = ReplicateOptions::parse(spec)?;
        if children.len() != o.children() {
            return Err(Error::Invalid(format!(
                "{}: {} subvolumes built for {} in the volfile",
                spec.name,
                children.len(),
                o.children()
            )));
        }
        Ok(Self::with_options(&spec.name, children, o))
    }

    pub fn with_options(
        name: &str,
        children: Vec<Arc<dyn Xlator>>,
        o: ReplicateOptions,
    ) -> Arc<Replicate> {
        let n = children.len();
        let local: Vec<usize> = (0..n)
            .filter(|&i| o.arbiter != Some(i) && children[i].is_local())
            .collect();
        let preferred = o
            .read_subvolume
            .or_else(|| (o.choose_local && local.len() == 1).then(|| local[0]));
        let cache = NonZeroUsize::new(READABLE_CACHE).unwrap_or(NonZeroUsize::MIN);
        Arc::new_cyclic(|me| Replicate {
            me: me.clone(),
            preferred,
            name: name.to_string(),
            id: new_id(),
            children,
            domain: name.as_bytes().to_vec(),
            owner_base: u64::from(uuid::Uuid::new_v4().as_u128() as u32) << 32,
            owners: AtomicU64::new(1),
            up: Mutex::new(vec![true; n]),
            epoch: AtomicU64::new(0),
            known: Mutex::new(LruCache::new(cache)),
            eager: eager::EagerLocks::default(),
            o,
        })
    }

    pub(crate) fn n(&self) -> usize {
        self.children.len()
    }

    /// A lock owner no other transaction of ours uses.
    pub(crate) fn new_owner(&self) -> Vec<u8> {
        let v = self.owner_base | self.owners.fetch_add(1, Ordering::Relaxed);
        v.to_le_bytes().to_vec()
    }

    /// The credential of our own calls (locks, xattrops, durability
    /// fsyncs): root, with lock owner `owner`.
    pub(crate) fn internal_ctx(ctx: &Ctx, owner: &[u8]) -> Ctx {
        Ctx {
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            lk_owner: owner.to_vec(),
            utime_flags: 0,
            ..ctx.clone()
        }
    }

    pub(crate) fn is_arbiter(&self, i: usize) -> bool {
        self.o.arbiter == Some(i)
    }

    /// Records what a call to child `i` says about its connection.
    fn observe<T>(&self, i: usize, r: &Result<T>) {
        let now_up = !matches!(r, Err(e) if e.errno() == errno::ENOTCONN);
        let mut up = self.up.lock();
        if let Some(u) = up.get_mut(i) {
            if *u != now_up {
                *u = now_up;
                self.epoch.fetch_add(1, Ordering::AcqRel);
                let child = self.children[i].name();
                if now_up {
                    tracing::info!("{}: subvolume {child} is back", self.name);
                } else {
                    tracing::warn!("{}: subvolume {child} is down", self.name);
                }
            }
        }
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Runs `f` on every child `i` with `which[i]`, all at once; None for
    /// the others.
    pub(crate) async fn each<'a, T, Fut>(
        &'a self,
        which: &[bool],
        f: impl Fn(usize, &'a dyn Xlator) -> Fut,
    ) -> Vec<Option<Result<T>>>
    where
        Fut: Future<Output = Result<T>> + 'a,
    {
        let calls = (0..self.n()).map(|i| {
            let go = which.get(i).copied().unwrap_or(false);
            let fut = go.then(|| f(i, &*self.children[i]));
            async move {
                match fut {
                    Some(fut) => {
                        let r = fut.await;
                        self.observe(i, &r);
                        Some(r)
                    }
                    None => None,
                }
            }
        });
        futures::future::join_all(calls).await
    }

    /// Runs `f` on child `i` alone.
    pub(crate) async fn one<'a, T, Fut>(
        &'a self,
        i: usize,
        f: impl FnOnce(&'a dyn Xlator) -> Fut,
    ) -> Result<T>
    where
        Fut: Future<Output = Result<T>> + 'a,
    {
        let r = f(&*self.children[i]).await;
        self.observe(i, &r);
        r
    }

    pub(crate) fn all(&self) -> Vec<bool> {
        vec![true; self.n()]
    }

    /// The readable sets last learnt for `gfid`, if still current.
    pub(crate) fn known(&self, gfid: Gfid) -> Option<Known> {
        let epoch = self.epoch();
        let mut k = self.known.lock();
        match k.get(&gfid) {
            Some(v) if v.epoch == epoch => Some(v.clone()),
            Some(_) => {
                k.pop(&gfid);
                None
            }
            None => None,
        }
    }

    pub(crate) fn learn(&self, gfid: Gfid, sets: Readable, is_dir: bool, epoch: u64) {
        self.known.lock().put(
            gfid,
            Known {
                epoch,
                sets,
                is_dir,
            },
        );
    }

    /// After a transaction in which `failed` children missed a change of
    /// `gfid`: they are no longer readable for it.
    pub(crate) fn mark_stale(&self, gfid: Gfid, failed: &[bool]) {
        if !failed.iter().any(|f| *f) {
            return;
        }
        let mut k = self.known.lock();
        if let Some(v) = k.get_mut(&gfid) {
            for (i, f) in failed.iter().enumerate() {
                if *f {
                    if let Some(d) = v.sets.data.get_mut(i) {
                        *d = false;
                    }
                    if let Some(m) = v.sets.meta.get_mut(i) {
                        *m = false;
                    }
                }
            }
        }
    }

    pub(crate) fn forget(&self, gfid: Gfid) {
        self.known.lock().pop(&gfid);
    }

    /// ENOTCONN naming this replica set: too few bricks (§5).
    pub(crate) fn no_quorum(&self, what: &str) -> Error {
        Error::errno_msg(
            errno::ENOTCONN,
            format!("{}: {what}: quorum not met", self.name),
        )
    }
}

/// The "highest" errno among failures (§3.6, §4.4), ENOTCONN if none.
pub(crate) fn worst_errno<'a, T: 'a>(
    replies: impl IntoIterator<Item = &'a Option<Result<T>>>,
) -> i32 {
    let rank = |e: i32| match e {
        errno::ENODATA => 5,
        errno::ENOENT => 4,
        errno::ESTALE => 3,
        errno::ENOSPC => 2,
        errno::ENOTCONN => 0,
        _ => 1,
    };
    replies
        .into_iter()
        .filter_map(|r| r.as_ref().and_then(|r| r.as_ref().err()).map(Error::errno))
        .max_by_key(|e| rank(*e))
        .unwrap_or(errno::ENOTCONN)
}

/// The first failure among `replies` with errno `e`, for its message.
pub(crate) fn error_with<T>(replies: &[Option<Result<T>>], e: i32) -> Error {
    replies
        .iter()
        .filter_map(|r| r.as_ref().and_then(|r| r.as_ref().err()))
        .find(|x| x.errno() == e)
        .cloned()
        .unwrap_or_else(|| Error::errno_msg(e, "replica set: no brick answered"))
}
