//! The write transaction (§3.1): lock, pre-op, fop, post-op, unlock, with
//! the changelog the official client leaves, because the self-heal daemon
//! reads it to decide which copy is good.
//!
//! A brick that was not locked, whose pre-op failed or whose fop failed is
//! "failed": the post-op, written only to the bricks where everything
//! succeeded, accuses it (pending +1 at the transaction's type). A
//! transaction that failed unevenly writes no post-op at all, leaving the
//! pre-op's dirty +1 for shd to compare the copies.

use super::changelog::{post_op, pre_op, Changelog, Kind};
use super::locking::{lock_failed, Held, Lockee};
use super::{error_with, worst_errno, Replicate};
use crate::error::{Error, Result};
use crate::xlator::{Ctx, FdRef, Target, Xlator};
use proto::dict::{DictValue, GfxDict};
use proto::errno;
use proto::fops::*;
use proto::iatt::Iatt;
use proto::Gfid;
use std::future::Future;

const ENTRY_CREATE: &str = "glusterfs.xattrop-entry-create";
const ENTRY_DELETE: &str = "glusterfs.xattrop-entry-delete";
/// XATTROP's ADD_ARRAY: element-wise add of big-endian int32s.
pub(crate) const ADD_ARRAY: u32 = 0;

/// What a transaction needs to know of its fop's replies.
pub(crate) trait TxnReply: Send {
    /// Bytes written (WRITE): a brick that wrote less than another failed.
    fn written(&self) -> Option<i64> {
        None
    }
    /// The inode an entry fop made.
    fn new_entry(&self) -> Option<&Iatt> {
        None
    }
}

impl TxnReply for () {}
impl TxnReply for CommonRsp {}
impl TxnReply for DictRsp {}
impl TxnReply for RenameRsp {}
impl TxnReply for TwoIattRsp {
    fn written(&self) -> Option<i64> {
        Some(i64::from(self.op_ret))
    }
}
impl TxnReply for ThreeIattRsp {
    fn new_entry(&self) -> Option<&Iatt> {
        Some(&self.stat)
    }
}
impl TxnReply for CreateRsp {
    fn new_entry(&self) -> Option<&Iatt> {
        Some(&self.stat)
    }
}

/// One transaction's shape (§2).
pub(crate) struct Plan {
    pub what: &'static str,
    pub kind: Kind,
    pub lockees: Vec<Lockee>,
    /// Where the changelog is kept: the inode (data, metadata) or the
    /// parent directories (entry), each with the name the entry fop
    /// touches there (granular entry heal, §1.6).
    pub changelog: Vec<(Target, Option<Vec<u8>>)>,
    /// create/mknod/mkdir: mark the new inode on the bricks that got it
    /// for the ones that did not (§1.7).
    pub marks_new_entry: bool,
    /// Writes that are neither appends nor O_SYNC: make them stable
    /// before the post-op clears dirty (§3.8, ensure-durability).
    pub durability: Option<FdRef>,
    /// The inode whose readable sets the transaction changes.
    pub gfid: Option<Gfid>,
}

impl Plan {
    /// A data or metadata transaction on one inode (or open file).
    pub fn inode(what: &'static str, kind: Kind, on: &Target) -> Plan {
        Plan {
            what,
            kind,
            lockees: vec![Lockee::Inode {
                on: on.clone(),
                flock: super::txn::inodelk_range(kind),
            }],
            changelog: vec![(on.clone(), None)],
            marks_new_entry: false,
            durability: None,
            gfid: Some(on.gfid()),
        }
    }

    /// An entry transaction on `name` in `dir`.
    pub fn entry(what: &'static str, dir: Gfid, name: &[u8]) -> Plan {
        Plan {
            what,
            kind: Kind::Entry,
            lockees: vec![Lockee::Entry {
                dir,
                name: name.to_vec(),
            }],
            changelog: vec![(Target::Inode(dir), Some(name.to_vec()))],
            marks_new_entry: false,
            durability: None,
            gfid: Some(dir),
        }
    }
}

/// The fop's replies per child (None: not sent there) and where it
/// succeeded.
pub(crate) struct Done<T> {
    pub replies: Vec<Option<Result<T>>>,
    pub ok: Vec<bool>,
}

impl<T> Done<T> {
    /// The reply to hand up: a data brick's, the first that succeeded.
    pub fn take(mut self, r: &Replicate) -> Result<T> {
        let pick = (0..self.ok.len())
            .find(|&i| self.ok[i] && !r.is_arbiter(i))
            .or_else(|| self.ok.iter().position(|o| *o));
        match pick.and_then(|i| self.replies[i].take()) {
            Some(reply) => reply,
            None => Err(error_with(&self.replies, worst_errno(&self.replies))),
        }
    }
}

/// Where the fop succeeded: a reply, and no less written than the most
/// any brick wrote (a short write fails that brick).
pub(crate) fn fop_ok<T: TxnReply>(replies: &[Option<Result<T>>]) -> Vec<bool> {
    let written = |r: &Option<Result<T>>| r.as_ref()?.as_ref().ok()?.written();
    let most = replies.iter().filter_map(written).max();
    replies
        .iter()
        .map(|r| {
            matches!(r, Some(Ok(_))) && !matches!((written(r), most), (Some(w), Some(m)) if w < m)
        })
        .collect()
}

/// The errno every brick `tried` failed with, when they all failed the same
/// way and not for want of a connection: nothing differs between the
/// copies then, and nobody is accused (§3.1).
pub(crate) fn symmetric_errno<T>(
    replies: &[Option<Result<T>>],
    ok: &[bool],
    tried: &[bool],
) -> Option<i32> {
    let errs: Vec<i32> = replies
        .iter()
        .filter_map(|r| r.as_ref()?.as_ref().err().map(Error::errno))
        .collect();
    let first = *errs.first()?;
    let all_failed = !any(ok) && errs.len() == tried.iter().filter(|t| **t).count();
    (all_failed && first != errno::ENOTCONN && errs.iter().all(|e| *e == first)).then_some(first)
}

fn any(v: &[bool]) -> bool {
    v.iter().any(|b| *b)
}

fn and_not(a: &[bool], b: &[bool]) -> Vec<bool> {
    a.iter().zip(b).map(|(x, y)| *x && !*y).collect()
}

impl Replicate {
    /// Runs `fop` on the replica set as one transaction of `plan`'s shape.
    pub(crate) async fn transact<'a, T, Fut>(
        &'a self,
        ctx: &'a Ctx,
        plan: Plan,
        fop: impl Fn(usize, &'a dyn Xlator) -> Fut,
    ) -> Result<Done<T>>
    where
        T: TxnReply,
        Fut: Future<Output = Result<T>> + 'a,
    {
        let n = self.n();
        if plan.kind != Kind::Entry {
            // Our own run of writes would hold the lock we are about to ask
            // for.
            if let Some(g) = plan.gfid {
                self.drain(g, false).await;
            }
        }
        let held = self.acquire(ctx, plan.lockees.clone(), &self.all()).await?;
        let locked = held.locked(n);
        if !any(&locked) || !self.o.quorum_met(&locked) {
            self.release(ctx, &held).await;
            return Err(lock_failed(&self.name, plan.what));
        }
        let r = self.locked_txn(ctx, &plan, &held, &locked, fop).await;
        // An entry change where nothing failed: answer now and unlock
        // behind the reply, as the official client does. Names rarely see
        // two changes in a row; an inode's data and metadata do, and a
        // lock still held would make the next transaction fall back to
        // waiting locks, so those unlock before answering.
        let clean = plan.kind == Kind::Entry
            && matches!(&r, Ok(d) if locked.iter().all(|l| *l) && d.ok.iter().all(|o| *o));
        self.unlock_maybe_behind(ctx, held, clean).await;
        r
    }

    /// Releases `held` now, or in the background when `behind`.
    pub(crate) async fn unlock_maybe_behind(&self, ctx: &Ctx, held: Held, behind: bool) {
        if behind {
            if let Some(me) = self.me.upgrade() {
                let ctx = ctx.clone();
                tokio::spawn(async move { me.release(&ctx, &held).await });
                return;
            }
        }
        self.release(ctx, &held).await;
    }

    /// The transaction between lock and unlock.
    async fn locked_txn<'a, T, Fut>(
        &'a self,
        ctx: &'a Ctx,
        plan: &Plan,
        held: &Held,
        locked: &[bool],
        fop: impl Fn(usize, &'a dyn Xlator) -> Fut,
    ) -> Result<Done<T>>
    where
        T: TxnReply,
        Fut: Future<Output = Result<T>> + 'a,
    {
        let ictx = Self::internal_ctx(ctx, &held.owner);
        let mut failed: Vec<bool> = locked.iter().map(|l| !l).collect();
        // Optimistic change-log: metadata and entry transactions with
        // every brick locked skip the pre-op (§3.4).
        let pre =
            plan.kind == Kind::Data || !self.o.optimistic_change_log || locked.iter().any(|l| !l);
        let mut accused = vec![false; self.n()];
        if pre {
            let sent = and_not(locked, &failed);
            let ok = self
                .changelog_op(&ictx, plan, &sent, &mut accused, |name| {
                    let mut x = GfxDict::new();
                    if let Some(name) = self.entry_name(plan, name) {
                        x.set(ENTRY_CREATE, DictValue::Str(name));
                    }
                    (pre_op(&self.o, plan.kind), x)
                })
                .await;
            failed = and_not(&sent, &ok)
                .iter()
                .zip(&failed)
                .map(|(a, b)| *a || *b)
                .collect();
        }
        let preop_ok: Vec<bool> = failed.iter().map(|f| !f).collect();
        // Arbitration (§6.3) and "never write only to stale copies" (§3.1).
        let sources = and_not(&preop_ok, &accused);
        let arbiter_alone = self.o.arbiter.is_some_and(|a| {
            sources.get(a) == Some(&true) && sources.iter().filter(|s| **s).count() < 2
        });
        let no_good_copy = pre
            && plan.kind == Kind::Data
            && !(0..self.n()).any(|i| sources[i] && !self.is_arbiter(i));
        if arbiter_alone || no_good_copy || !self.o.quorum_met(&preop_ok) {
            // Nothing was changed: the pre-op's dirty goes, nobody is
            // accused.
            if pre {
                self.post_op(&ictx, plan, &preop_ok, &vec![false; self.n()], true)
                    .await;
            }
            return Err(if arbiter_alone || !self.o.quorum_met(&preop_ok) {
                self.no_quorum(plan.what)
            } else {
                Error::errno_msg(
                    errno::EIO,
                    format!(
                        "{}: {} on {}: no brick holds a good copy (split-brain)",
                        self.name,
                        plan.what,
                        plan.gfid.unwrap_or_default()
                    ),
                )
            });
        }
        let mut replies = self.each(&preop_ok, &fop).await;
        let tried = preop_ok.clone();
        let mut ok = fop_ok(&replies);
        let symmetric = symmetric_errno(&replies, &ok, &tried).is_some();
        // rmdir of a non-empty directory changed nothing anywhere.
        let harmless =
            |i: usize| matches!(&replies[i], Some(Err(e)) if e.errno() == errno::ENOTEMPTY);
        for i in 0..self.n() {
            if tried[i] && !ok[i] && !symmetric && !harmless(i) {
                failed[i] = true;
            }
        }
        if symmetric {
            // Failed the same way everywhere: nothing differs, nobody is
            // accused; the pre-op's dirty goes.
            if pre {
                self.post_op(&ictx, plan, &tried, &vec![false; self.n()], true)
                    .await;
            }
            return Ok(Done { replies, ok });
        }
        if !self.o.quorum_met(&ok) || !any(&ok) {
            // Too few bricks changed: fail, and never let a minority
            // accuse the others (§3.6).
            if !pre && any(&ok) {
                let d = self.entry_dirty_only(plan.kind);
                self.xattrop_all(&ictx, plan, &ok, d).await;
            }
            let e = worst_errno(&replies);
            let mut err = error_with(&replies, e);
            if any(&ok) {
                err = self.no_quorum(plan.what);
            }
            replies.iter_mut().for_each(|r| {
                if matches!(r, Some(Ok(_))) {
                    *r = Some(Err(err.clone()));
                }
            });
            return Ok(Done {
                replies,
                ok: vec![false; self.n()],
            });
        }
        if pre {
            if let Some(fd) = &plan.durability {
                let fsynced = self.durable(&ictx, fd, &ok).await;
                for i in 0..self.n() {
                    if ok[i] && !fsynced[i] {
                        ok[i] = false;
                        failed[i] = true;
                    }
                }
            }
        }
        if any(&failed) || pre {
            let wrote = self.post_op(&ictx, plan, &ok, &failed, pre).await;
            if !self.o.quorum_met(&wrote) {
                return Err(self.no_quorum(plan.what));
            }
        }
        if plan.marks_new_entry && any(&failed) {
            self.mark_new_entry(&ictx, &replies, &ok, &failed).await;
        }
        if let Some(g) = plan.gfid {
            self.mark_stale(g, &failed);
        }
        Ok(Done { replies, ok })
    }

    /// The entry name to record in a directory's index (granular entry
    /// heal), NUL-terminated as the brick expects a string.
    fn entry_name(&self, plan: &Plan, name: Option<&[u8]>) -> Option<Vec<u8>> {
        if plan.kind != Kind::Entry || !self.o.granular_entry_heal {
            return None;
        }
        let mut name = name?.to_vec();
        name.push(0);
        Some(name)
    }

    /// Sends one XATTROP per changelog target to the children `on`;
    /// returns where every one succeeded, and sets `accused[j]` for every
    /// child a reply's pending key accuses at the plan's type.
    pub(crate) async fn changelog_op(
        &self,
        ictx: &Ctx,
        plan: &Plan,
        on: &[bool],
        accused: &mut [bool],
        make: impl Fn(Option<&[u8]>) -> (GfxDict, GfxDict),
    ) -> Vec<bool> {
        let mut ok = on.to_vec();
        for (t, name) in &plan.changelog {
            let (dict, xdata) = make(name.as_deref());
            let rs = self
                .each(on, |_, c| {
                    c.xattrop(ictx, t, ADD_ARRAY, dict.clone(), xdata.clone())
                })
                .await;
            for (i, r) in rs.into_iter().enumerate() {
                match r {
                    Some(Ok(rsp)) => {
                        for (j, key) in self.o.pending_keys.iter().enumerate() {
                            let v = rsp.dict.get(key).and_then(|v| v.as_bytes());
                            let c = v.and_then(Changelog::decode).unwrap_or_default();
                            if c.get(plan.kind) != 0 {
                                accused[j] = true;
                            }
                        }
                    }
                    Some(Err(e)) => {
                        tracing::debug!("{}: changelog on child {i}: {e}", self.name);
                        ok[i] = false;
                    }
                    None => {}
                }
            }
        }
        ok
    }

    /// The post-op (§1.4, §3.6) on the children `on`: dirty −1 if `pre`,
    /// pending +1 for every `failed` child. Returns where it was written.
    pub(crate) async fn post_op(
        &self,
        ictx: &Ctx,
        plan: &Plan,
        on: &[bool],
        failed: &[bool],
        pre: bool,
    ) -> Vec<bool> {
        let Some(dict) = post_op(&self.o, plan.kind, pre, failed) else {
            return on.to_vec();
        };
        let some_failed = any(failed);
        let mut acc = vec![false; self.n()];
        self.changelog_op(ictx, plan, on, &mut acc, |name| {
            let mut x = GfxDict::new();
            if let Some(name) = self.entry_name(plan, name) {
                // A name recorded by the pre-op stays for shd when a brick
                // missed the change, and goes when none did (§1.6).
                let key = if some_failed {
                    ENTRY_CREATE
                } else {
                    ENTRY_DELETE
                };
                if some_failed || pre {
                    x.set(key, DictValue::Str(name));
                }
            }
            (dict.clone(), x)
        })
        .await
    }

    /// Entry transactions without a pre-op that lost quorum after the fop:
    /// dirty +1 at the entry slot only (§3.6).
    fn entry_dirty_only(&self, kind: Kind) -> GfxDict {
        let mut d = GfxDict::new();
        let dirty = Changelog::delta(kind, 1);
        d.set(&self.o.dirty_key, DictValue::Ptr(dirty.encode()));
        for k in &self.o.pending_keys {
            d.set(k, DictValue::Ptr(Changelog::default().encode()));
        }
        d
    }

    async fn xattrop_all(&self, ictx: &Ctx, plan: &Plan, on: &[bool], dict: GfxDict) {
        let mut acc = vec![false; self.n()];
        self.changelog_op(ictx, plan, on, &mut acc, |_| (dict.clone(), GfxDict::new()))
            .await;
    }

    /// FSYNC(datasync) of our writes before dirty is cleared; returns where
    /// it succeeded.
    pub(crate) async fn durable(&self, ictx: &Ctx, fd: &FdRef, on: &[bool]) -> Vec<bool> {
        let x = GfxDict::new()
            .with("glusterfs-internal-fop", DictValue::Str(b"yes\0".to_vec()))
            .with("batch-fsync", DictValue::Int(1));
        let rs = self
            .each(on, |_, c| c.fsync(ictx, fd, true, x.clone()))
            .await;
        rs.iter().map(|r| matches!(r, Some(Ok(())))).collect()
    }

    /// New-entry marking (§1.7): the new inode accuses, on the bricks that
    /// have it, the bricks that do not.
    async fn mark_new_entry<T: TxnReply>(
        &self,
        ictx: &Ctx,
        replies: &[Option<Result<T>>],
        ok: &[bool],
        failed: &[bool],
    ) {
        let Some(stat) = (0..self.n())
            .filter(|&i| ok[i])
            .find_map(|i| replies[i].as_ref()?.as_ref().ok()?.new_entry().copied())
        else {
            return;
        };
        let mark = if stat.is_dir() {
            Changelog([i32::from(self.o.granular_entry_heal), 1, 1])
        } else if stat.is_reg() {
            Changelog([1, 1, 0])
        } else {
            Changelog([0, 1, 0])
        };
        let mut d = GfxDict::new();
        for (j, k) in self.o.pending_keys.iter().enumerate() {
            let v = if failed[j] {
                mark
            } else {
                Changelog::default()
            };
            d.set(k, DictValue::Ptr(v.encode()));
        }
        let t = Target::Inode(stat.gfid);
        let rs = self
            .each(ok, |_, c| {
                c.xattrop(ictx, &t, ADD_ARRAY, d.clone(), GfxDict::new())
            })
            .await;
        for r in rs.into_iter().flatten() {
            if let Err(e) = r {
                tracing::warn!("{}: marking new entry {}: {e}", self.name, stat.gfid);
            }
        }
    }
}
