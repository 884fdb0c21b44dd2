//! The translator interface: every layer of the graph (protocol/client,
//! cluster/distribute, features/utime, and the replicate, shard and
//! disperse translators to come) is an `Arc<dyn Xlator>` over its children.
//!
//! Each fop is one method with a default that hands the call to the first
//! child unchanged, so a translator overrides only what it changes. Fops
//! that exist in a gfid- and an fd-addressed form on the wire (stat/fstat,
//! setattr/fsetattr, xattrs, inodelk/finodelk, ...) are one method taking a
//! [`Target`]; protocol/client picks the wire form.
//!
//! Open files are graph objects ([`FdObj`]): the same object travels down
//! the tree and every translator keeps its own per-fd state in it (the
//! brick's fd number in protocol/client, which child holds the file in
//! distribute), keyed by the translator's id, as upstream's fd contexts
//! are. Releasing an fd runs every translator's release hook.
//!
//! Replies are the wire reply types, so entry operations hand back the
//! parent's attributes after the change (postparent) to whoever caches
//! them (crates/fuse).

use crate::error::{Error, Result};
use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use proto::dict::GfxDict;
use proto::errno;
use proto::fops::*;
use proto::iatt::{Flock, Iatt};
use proto::rpc_msg::Identity;
use proto::Gfid;
use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The caller of one operation: uid/gid/groups for permission checks on
/// the brick, pid and lock owner for locks, and the utime credential
/// flags features/utime sets.
pub type Ctx = Identity;

/// Identifies one translator instance (the key of its per-fd state).
pub type XlId = u64;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh translator id.
pub fn new_id() -> XlId {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// What an inode-or-fd fop addresses.
#[derive(Clone, Debug)]
pub enum Target {
    Inode(Gfid),
    Fd(FdRef),
}

impl Target {
    pub fn gfid(&self) -> Gfid {
        match self {
            Target::Inode(g) => *g,
            Target::Fd(fd) => fd.gfid(),
        }
    }

    pub fn fd(&self) -> Option<&FdRef> {
        match self {
            Target::Inode(_) => None,
            Target::Fd(fd) => Some(fd),
        }
    }
}

/// A translator's state for one open fd. `release` is called once when
/// the fd is released (RELEASE/RELEASEDIR to the brick, for example).
pub trait FdCtx: Any + Send + Sync {
    fn release(&self, _fd: &FdObj) -> Option<BoxFuture<'static, ()>> {
        None
    }
}

/// An open file or directory as the graph sees it.
pub struct FdObj {
    gfid: Mutex<Gfid>,
    /// GlusterFS open flags.
    pub flags: u32,
    pub is_dir: bool,
    /// Opened without a round trip (open-behind): translators open it
    /// where and when it is first needed; read-only reads before that
    /// may use the brick's anonymous fd.
    pub lazy: bool,
    ctxs: Mutex<Vec<(XlId, Arc<dyn FdCtx>)>>,
    released: AtomicBool,
    /// A translator above truncates for O_TRUNC itself (replicate, as a
    /// data transaction): the bricks' OPEN must not.
    trunc_above: AtomicBool,
}

pub type FdRef = Arc<FdObj>;

impl std::fmt::Debug for FdObj {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FdObj({})", self.gfid())
    }
}

impl FdObj {
    pub fn new(gfid: Gfid, flags: u32, is_dir: bool, lazy: bool) -> FdRef {
        Arc::new(FdObj {
            gfid: Mutex::new(gfid),
            flags,
            is_dir,
            lazy,
            ctxs: Mutex::new(Vec::new()),
            released: AtomicBool::new(false),
            trunc_above: AtomicBool::new(false),
        })
    }

    pub fn gfid(&self) -> Gfid {
        *self.gfid.lock()
    }

    /// CREATE of an existing name (no O_EXCL) opens that file: its gfid
    /// is the one the brick answers with, not the one we proposed.
    pub fn set_gfid(&self, gfid: Gfid) {
        *self.gfid.lock() = gfid;
    }

    /// O_TRUNC is done above the bricks (see `trunc_above`).
    pub fn set_trunc_above(&self) {
        self.trunc_above.store(true, Ordering::Release);
    }

    /// Whether the bricks' OPEN must leave O_TRUNC out.
    pub fn trunc_above(&self) -> bool {
        self.trunc_above.load(Ordering::Acquire)
    }

    pub fn read_only(&self) -> bool {
        self.flags & oflags::ACCMODE == oflags::RDONLY
    }

    pub fn is_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }

    /// Fails with EBADF once released.
    pub fn check_open(&self) -> Result<()> {
        if self.is_released() {
            Err(Error::errno_msg(
                errno::EBADF,
                "file handle already released",
            ))
        } else {
            Ok(())
        }
    }

    /// The state translator `id` keeps for this fd.
    pub fn ctx<T: FdCtx>(&self, id: XlId) -> Option<Arc<T>> {
        let c = self
            .ctxs
            .lock()
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, c)| c.clone())?;
        let any: Arc<dyn Any + Send + Sync> = c;
        any.downcast::<T>().ok()
    }

    /// Translator `id`'s state, made by `make` if there is none yet.
    pub fn ctx_or_insert<T: FdCtx>(&self, id: XlId, make: impl FnOnce() -> T) -> Result<Arc<T>> {
        let mut v = self.ctxs.lock();
        if let Some((_, c)) = v.iter().find(|(i, _)| *i == id) {
            let any: Arc<dyn Any + Send + Sync> = c.clone();
            return any
                .downcast::<T>()
                .map_err(|_| Error::errno_msg(errno::EINVAL, "fd state of another kind"));
        }
        let c = Arc::new(make());
        v.push((id, c.clone()));
        Ok(c)
    }

    /// Sets (or replaces) translator `id`'s state; returns what it
    /// replaced, whose release the caller owns.
    pub fn set_ctx(&self, id: XlId, c: Arc<dyn FdCtx>) -> Option<Arc<dyn FdCtx>> {
        let mut v = self.ctxs.lock();
        match v.iter_mut().find(|(i, _)| *i == id) {
            Some(slot) => Some(std::mem::replace(&mut slot.1, c)),
            None => {
                v.push((id, c));
                None
            }
        }
    }

    /// Releases the fd in every translator that holds state for it.
    /// Idempotent.
    pub async fn release(&self) {
        for f in self.take_releases() {
            f.await;
        }
    }

    /// Releases the state of the translators `ids` only.
    fn take_some(&self, ids: &[XlId]) -> Vec<BoxFuture<'static, ()>> {
        let taken: Vec<_> = {
            let mut v = self.ctxs.lock();
            let (out, keep) = std::mem::take(&mut *v)
                .into_iter()
                .partition(|(i, _)| ids.contains(i));
            *v = keep;
            out
        };
        taken.iter().filter_map(|(_, c)| c.release(self)).collect()
    }

    fn take_releases(&self) -> Vec<BoxFuture<'static, ()>> {
        if self.released.swap(true, Ordering::AcqRel) {
            return Vec::new();
        }
        let ctxs = std::mem::take(&mut *self.ctxs.lock());
        ctxs.iter().filter_map(|(_, c)| c.release(self)).collect()
    }
}

impl Drop for FdObj {
    fn drop(&mut self) {
        let work = self.take_releases();
        if work.is_empty() {
            return;
        }
        // Without a runtime the connections are going away anyway.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                for f in work {
                    f.await;
                }
            });
        }
    }
}

/// Releases `fd` in `xl` and every translator under it: its state there
/// is stale (the file moved away from that subtree).
pub async fn release_subtree(fd: &FdObj, xl: &dyn Xlator) {
    fn ids(xl: &dyn Xlator, out: &mut Vec<XlId>) {
        out.push(xl.id());
        for c in xl.children() {
            ids(&**c, out);
        }
    }
    let mut all = Vec::new();
    ids(xl, &mut all);
    for f in fd.take_some(&all) {
        f.await;
    }
}

fn no_child(xl: &(impl Xlator + ?Sized), fop: &str) -> Error {
    Error::errno_msg(
        errno::ENOSYS,
        format!("translator '{}' has no child for {fop}", xl.name()),
    )
}

/// Declares the translator trait: the methods every translator defines,
/// then one method per fop whose default hands the call, unchanged, to the
/// first child (ENOSYS naming the fop for a leaf that lacks it).
macro_rules! xlator_trait {
    ($(
        $(#[$m:meta])*
        fn $fop:ident(&self, $($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;
    )*) => {
        #[async_trait]
        pub trait Xlator: Send + Sync {
    /// The volfile section name ("vol-client-0", "vol-dht").
    fn name(&self) -> &str;
    /// The volfile type ("protocol/client").
    fn xl_type(&self) -> &str;
    /// The key of this instance's per-fd state.
    fn id(&self) -> XlId;
    fn children(&self) -> &[Arc<dyn Xlator>] {
        &[]
    }
    /// Whether this is a brick on this machine (replicate's choose-local
    /// reads from it).
    fn is_local(&self) -> bool {
        false
    }
    /// Whether `name` is an xattr this translator keeps for itself: users
    /// never see or set it (the official client hides the same ones).
    fn hides_xattr(&self, _name: &[u8]) -> bool {
        false
    }
    /// Closes connections now (volume teardown).
    fn close(&self) {
        for c in self.children() {
            c.close();
        }
    }
    /// Finishes what the translator deferred (replicate's delayed
    /// post-ops), before the volume closes.
    async fn settle(&self) {
        for c in self.children() {
            c.settle().await;
        }
    }
    /// Learns the translator's view of the volume again (a volume change
    /// was announced).
    async fn refresh(&self, ctx: &Ctx) {
        for c in self.children() {
            c.refresh(ctx).await;
        }
    }

            $(
                $(#[$m])*
                #[allow(clippy::too_many_arguments)]
                async fn $fop(&self, $($arg: $ty),*) -> Result<$ret> {
                    self.children()
                        .first()
                        .ok_or_else(|| no_child(self, stringify!($fop)))?
                        .$fop($($arg),*)
                        .await
                }
            )*
        }
    };
}

xlator_trait! {
    // ---- inodes and names ----

    /// Named (pargfid + bname) or nameless (gfid) lookup: `prestat` is the
    /// entry, `poststat` the parent.
    fn lookup(&self, ctx: &Ctx, req: &LookupReq) -> TwoIattRsp;
    fn stat(&self, ctx: &Ctx, on: &Target, xdata: GfxDict) -> IattRsp;
    fn setattr(&self, ctx: &Ctx, on: &Target, stbuf: Iatt, valid: i32, xdata: GfxDict) -> TwoIattRsp;
    fn truncate(&self, ctx: &Ctx, on: &Target, offset: u64, xdata: GfxDict) -> TwoIattRsp;
    fn access(&self, ctx: &Ctx, req: &AccessReq) -> CommonRsp;
    fn readlink(&self, ctx: &Ctx, req: &ReadlinkReq) -> ReadlinkRsp;
    fn statfs(&self, ctx: &Ctx, req: &StatfsReq) -> StatfsRsp;
    fn mknod(&self, ctx: &Ctx, req: &MknodReq) -> ThreeIattRsp;
    fn mkdir(&self, ctx: &Ctx, req: &MkdirReq) -> ThreeIattRsp;
    fn symlink(&self, ctx: &Ctx, req: &SymlinkReq) -> ThreeIattRsp;
    fn link(&self, ctx: &Ctx, req: &LinkReq) -> ThreeIattRsp;
    fn unlink(&self, ctx: &Ctx, req: &UnlinkReq) -> TwoIattRsp;
    fn rmdir(&self, ctx: &Ctx, req: &RmdirReq) -> TwoIattRsp;
    fn rename(&self, ctx: &Ctx, req: &RenameReq) -> RenameRsp;

    // ---- xattrs and cluster locks (inode or fd) ----

    /// `name` empty lists every xattr.
    fn getxattr(&self, ctx: &Ctx, on: &Target, name: &[u8], xdata: GfxDict) -> DictRsp;
    fn setxattr(&self, ctx: &Ctx, on: &Target, dict: GfxDict, flags: u32, xdata: GfxDict) -> CommonRsp;
    fn removexattr(&self, ctx: &Ctx, on: &Target, name: &[u8], xdata: GfxDict) -> CommonRsp;
    /// INODELK in lock domain `domain`; `cmd` is lock::GETLK/SETLK/SETLKW.
    fn inodelk(&self, ctx: &Ctx, on: &Target, domain: &[u8], cmd: u32, flock: &Flock, xdata: GfxDict) -> CommonRsp;
    /// ENTRYLK on `name` in directory `on` (empty name: the directory).
    fn entrylk(&self, ctx: &Ctx, on: &Target, domain: &[u8], name: &[u8], cmd: u32, kind: u32, xdata: GfxDict) -> CommonRsp;
    /// XATTROP: `optype` e.g. 0 = ADD_ARRAY of big-endian int32s.
    fn xattrop(&self, ctx: &Ctx, on: &Target, optype: u32, dict: GfxDict, xdata: GfxDict) -> DictRsp;

    // ---- open files ----

    /// CREATE: `fd` (already carrying the proposed gfid and the flags)
    /// becomes the open file.
    fn create(&self, ctx: &Ctx, req: &CreateReq, fd: &FdRef) -> CreateRsp;
    /// OPEN or OPENDIR (by `fd.is_dir`) of `fd.gfid()` with `fd.flags`.
    fn open(&self, ctx: &Ctx, fd: &FdRef, xdata: GfxDict) -> ();
    /// READ; the data follows the reply.
    fn read(&self, ctx: &Ctx, fd: &FdRef, offset: u64, size: u32, xdata: GfxDict) -> (ReadRsp, Bytes);
    fn write(&self, ctx: &Ctx, fd: &FdRef, offset: u64, data: Bytes, xdata: GfxDict) -> TwoIattRsp;
    fn flush(&self, ctx: &Ctx, fd: &FdRef, xdata: GfxDict) -> ();
    /// FSYNC, or FSYNCDIR for a directory fd.
    fn fsync(&self, ctx: &Ctx, fd: &FdRef, datasync: bool, xdata: GfxDict) -> ();
    /// FALLOCATE with FALLOC_FL_* `mode` (no PUNCH_HOLE/ZERO_RANGE: those
    /// are `discard` and `zerofill`).
    fn fallocate(&self, ctx: &Ctx, fd: &FdRef, mode: u32, offset: u64, len: u64, xdata: GfxDict) -> TwoIattRsp;
    fn discard(&self, ctx: &Ctx, fd: &FdRef, offset: u64, len: u64, xdata: GfxDict) -> TwoIattRsp;
    fn zerofill(&self, ctx: &Ctx, fd: &FdRef, offset: u64, len: u64, xdata: GfxDict) -> TwoIattRsp;
    /// SEEK with `what` = [`SEEK_DATA`] or [`SEEK_HOLE`] as the wire has
    /// them (0 / 1, upstream's gf_seek_what_t), not lseek(2)'s 3 / 4.
    fn seek(&self, ctx: &Ctx, fd: &FdRef, offset: u64, what: i32, xdata: GfxDict) -> SeekRsp;
    /// POSIX record lock; the owner is `ctx.lk_owner`.
    fn lk(&self, ctx: &Ctx, fd: &FdRef, cmd: u32, flock: &Flock, xdata: GfxDict) -> LkRsp;
    /// Plain READDIR after cookie `offset`.
    fn readdir(&self, ctx: &Ctx, fd: &FdRef, offset: u64, size: u32, xdata: GfxDict) -> ReaddirRsp;
    /// READDIRP after cookie `offset`; an empty batch is the end.
    fn readdirp(&self, ctx: &Ctx, fd: &FdRef, offset: u64, size: u32, xdata: GfxDict) -> ReaddirpRsp;
    fn copy_file_range(&self, ctx: &Ctx, fd_in: &FdRef, off_in: u64, fd_out: &FdRef, off_out: u64, len: u32, xdata: GfxDict) -> ThreeIattRsp;
}

/// A wire request that a translator can be asked for as a whole: lets
/// cluster translators send "this request to child i" generically.
pub trait XlRequest: Sync {
    type Reply: Send;
    fn send<'a>(&'a self, xl: &'a dyn Xlator, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self::Reply>>;
}

macro_rules! xl_request {
    ($req:ty => $rsp:ty, |$s:ident, $xl:ident, $ctx:ident| $call:expr) => {
        impl XlRequest for $req {
            type Reply = $rsp;
            fn send<'a>(
                &'a self,
                $xl: &'a dyn Xlator,
                $ctx: &'a Ctx,
            ) -> BoxFuture<'a, Result<$rsp>> {
                let $s = self;
                Box::pin(async move { $call.await })
            }
        }
    };
}

xl_request!(LookupReq => TwoIattRsp, |r, xl, ctx| xl.lookup(ctx, r));
xl_request!(AccessReq => CommonRsp, |r, xl, ctx| xl.access(ctx, r));
xl_request!(ReadlinkReq => ReadlinkRsp, |r, xl, ctx| xl.readlink(ctx, r));
xl_request!(StatfsReq => StatfsRsp, |r, xl, ctx| xl.statfs(ctx, r));
xl_request!(MknodReq => ThreeIattRsp, |r, xl, ctx| xl.mknod(ctx, r));
xl_request!(MkdirReq => ThreeIattRsp, |r, xl, ctx| xl.mkdir(ctx, r));
xl_request!(SymlinkReq => ThreeIattRsp, |r, xl, ctx| xl.symlink(ctx, r));
xl_request!(LinkReq => ThreeIattRsp, |r, xl, ctx| xl.link(ctx, r));
xl_request!(UnlinkReq => TwoIattRsp, |r, xl, ctx| xl.unlink(ctx, r));
xl_request!(RmdirReq => TwoIattRsp, |r, xl, ctx| xl.rmdir(ctx, r));
xl_request!(RenameReq => RenameRsp, |r, xl, ctx| xl.rename(ctx, r));
xl_request!(StatReq => IattRsp, |r, xl, ctx| xl.stat(
    ctx,
    &Target::Inode(r.gfid),
    r.xdata.clone()
));
xl_request!(SetattrReq => TwoIattRsp, |r, xl, ctx| xl.setattr(
    ctx,
    &Target::Inode(r.gfid),
    r.stbuf,
    r.valid,
    r.xdata.clone()
));
xl_request!(TruncateReq => TwoIattRsp, |r, xl, ctx| xl.truncate(
    ctx,
    &Target::Inode(r.gfid),
    r.offset,
    r.xdata.clone()
));
xl_request!(GetxattrReq => DictRsp, |r, xl, ctx| xl.getxattr(
    ctx,
    &Target::Inode(r.gfid),
    &r.name,
    r.xdata.clone()
));
xl_request!(SetxattrReq => CommonRsp, |r, xl, ctx| xl.setxattr(
    ctx,
    &Target::Inode(r.gfid),
    r.dict.clone(),
    r.flags,
    r.xdata.clone()
));
xl_request!(RemovexattrReq => CommonRsp, |r, xl, ctx| xl.removexattr(
    ctx,
    &Target::Inode(r.gfid),
    &r.name,
    r.xdata.clone()
));
xl_request!(InodelkReq => CommonRsp, |r, xl, ctx| xl.inodelk(
    ctx,
    &Target::Inode(r.gfid),
    &r.volume,
    r.cmd,
    &r.flock,
    r.xdata.clone()
));
xl_request!(EntrylkReq => CommonRsp, |r, xl, ctx| xl.entrylk(
    ctx,
    &Target::Inode(r.gfid),
    &r.volume,
    &r.name,
    r.cmd,
    r.kind,
    r.xdata.clone()
));
xl_request!(XattropReq => DictRsp, |r, xl, ctx| xl.xattrop(
    ctx,
    &Target::Inode(r.gfid),
    r.flags,
    r.dict.clone(),
    r.xdata.clone()
));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_brick::MemoryBrick;
    use proto::dict::DictValue;

    /// The whole of a translator that changes nothing: the four identity
    /// methods; every fop is the trait's pass-through default.
    struct PassThrough {
        id: XlId,
        children: Vec<Arc<dyn Xlator>>,
    }

    #[async_trait]
    impl Xlator for PassThrough {
        fn name(&self) -> &str {
            "v-pass"
        }
        fn xl_type(&self) -> &str {
            "debug/pass-through"
        }
        fn id(&self) -> XlId {
            self.id
        }
        fn children(&self) -> &[Arc<dyn Xlator>] {
            &self.children
        }
    }

    #[tokio::test]
    async fn a_pass_through_translator_changes_nothing() {
        let brick = MemoryBrick::new("v-client-0");
        let top = PassThrough {
            id: new_id(),
            children: vec![brick.clone()],
        };
        let ctx = Ctx::current();
        let gfid = Gfid::random();
        let req = CreateReq {
            pargfid: Gfid::ROOT,
            flags: oflags::RDWR,
            mode: 0o100644,
            umask: 0,
            bname: b"f".to_vec(),
            xdata: GfxDict::new().with("gfid-req", DictValue::Gfid(gfid)),
        };
        let fd = FdObj::new(gfid, oflags::RDWR, false, false);
        let r = top.create(&ctx, &req, &fd).await.unwrap();
        assert_eq!(r.stat.gfid, gfid);
        top.write(&ctx, &fd, 0, Bytes::from_static(b"hello"), GfxDict::new())
            .await
            .unwrap();
        let (rsp, data) = top.read(&ctx, &fd, 0, 16, GfxDict::new()).await.unwrap();
        assert_eq!((rsp.op_ret, &data[..]), (5, &b"hello"[..]));
        let on = Target::Fd(fd.clone());
        let st = top.stat(&ctx, &on, GfxDict::new()).await.unwrap().stat;
        assert_eq!(st.size, 5);
        fd.release().await;
        assert_eq!(brick.contents("/f").unwrap(), b"hello");
        // One wire call per fop, nothing added on the way.
        assert_eq!(
            [Fop::Create, Fop::Write, Fop::Read, Fop::Fstat].map(|f| brick.calls(f)),
            [1, 1, 1, 1]
        );
    }

    #[tokio::test]
    async fn a_leaf_without_the_fop_says_which() {
        let leaf = PassThrough {
            id: new_id(),
            children: Vec::new(),
        };
        let e = leaf
            .statfs(
                &Ctx::current(),
                &StatfsReq {
                    gfid: Gfid::ROOT,
                    xdata: GfxDict::new(),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(e.errno(), errno::ENOSYS);
        assert!(e.to_string().contains("statfs"), "{e}");
    }
}
