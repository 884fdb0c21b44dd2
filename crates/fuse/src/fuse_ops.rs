//! The kernel side: fuser's `Filesystem` over [`FsState`].
//!
//! fuser calls these methods on its reader threads. Each one copies what it
//! needs out of the request, hands the work to the tokio runtime and
//! returns at once; the reply is sent from the task (fuser replies are
//! Send). No reader thread ever waits on the network.

use crate::fs::{
    is_hot_xattr, is_internal_xattr, request_ctx, virtual_xattr, DirStream, FsState, Handle,
};
use crate::options::DirectIo;
use client::{Ctx, Error, Iatt, SetAttr, SetTime};
use fuser::{
    AccessFlags, CopyFileRangeFlags, Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyLock, ReplyLseek,
    ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use proto::errno;
use proto::iatt::{lock, Flock};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::runtime::Handle as Rt;

/// Largest read/write the kernel may send us (the official client: 128 KiB).
pub const MAX_IO: u32 = 1024 * 1024;

pub struct GlusterFuse {
    pub state: Arc<FsState>,
    pub rt: Rt,
    pub direct_io: DirectIo,
    pub writeback_cache: bool,
    /// `acl`: the kernel enforces POSIX ACLs (kept in system.posix_acl_*
    /// xattrs on the bricks).
    pub acl: bool,
}

fn errno_of(e: &Error, op: &str) -> Errno {
    let n = e.errno();
    // Failures of the volume or the connection are worth a warning; the
    // ordinary answers of a file system (ENOENT, EEXIST, ...) are not.
    match n {
        errno::EIO
        | errno::ENOTCONN
        | errno::EBADF
        | errno::EBADFD
        | errno::ESTALE
        | errno::ETIMEDOUT
        | errno::EPROTO
        | errno::ENOSPC
        | errno::EROFS => {
            tracing::warn!("{op} failed: {e}")
        }
        _ => tracing::debug!("{op}: {e}"),
    }
    Errno::from_i32(if n > 0 { n } else { errno::EIO })
}

/// A brick's (seconds, nanoseconds) as a SystemTime; out-of-range values
/// (a corrupt iatt) become the epoch rather than a panic.
fn time(sec: i64, nsec: u32) -> SystemTime {
    let nsec = Duration::from_nanos(u64::from(nsec.min(999_999_999)));
    let t = if sec >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(sec as u64))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(sec.unsigned_abs()))
    };
    t.and_then(|t| t.checked_add(nsec)).unwrap_or(UNIX_EPOCH)
}

fn kind(mode: u32) -> FileType {
    use proto::iatt::*;
    match mode & S_IFMT {
        S_IFDIR => FileType::Directory,
        S_IFLNK => FileType::Symlink,
        S_IFIFO => FileType::NamedPipe,
        S_IFSOCK => FileType::Socket,
        S_IFCHR => FileType::CharDevice,
        S_IFBLK => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

fn file_attr(ino: u64, st: &Iatt) -> FileAttr {
    FileAttr {
        ino: INodeNo(ino),
        size: st.size,
        blocks: st.blocks,
        atime: time(st.atime, st.atime_nsec),
        mtime: time(st.mtime, st.mtime_nsec),
        ctime: time(st.ctime, st.ctime_nsec),
        crtime: time(st.btime, st.btime_nsec),
        kind: kind(st.mode),
        perm: (st.mode & 0o7777) as u16,
        nlink: st.nlink,
        uid: st.uid,
        gid: st.gid,
        rdev: linux_rdev(st.rdev),
        blksize: if st.blksize == 0 { 4096 } else { st.blksize },
        flags: 0,
    }
}

/// GlusterFS iatts carry rdev as (major << 32 | minor) (libglusterfs
/// ia_makedev); the kernel wants its own encoding. (MKNOD requests take the
/// Linux dev_t, which the brick hands to mknod(2) as is.)
fn linux_rdev(rdev: u64) -> u32 {
    libc::makedev((rdev >> 32) as u32, rdev as u32) as u32
}

fn set_time(t: TimeOrNow) -> SetTime {
    match t {
        TimeOrNow::Now => SetTime::Now,
        TimeOrNow::SpecificTime(st) => match st.duration_since(UNIX_EPOCH) {
            Ok(d) => SetTime::At {
                sec: d.as_secs() as i64,
                nsec: d.subsec_nanos(),
            },
            Err(e) => {
                let d = e.duration();
                let (mut sec, mut nsec) = (-(d.as_secs() as i64), d.subsec_nanos());
                if nsec > 0 {
                    sec -= 1;
                    nsec = 1_000_000_000 - nsec;
                }
                SetTime::At { sec, nsec }
            }
        },
    }
}

fn ctx(req: &Request) -> Ctx {
    request_ctx(req.uid(), req.gid(), req.pid(), None)
}

fn ctx_owner(req: &Request, owner: u64) -> Ctx {
    request_ctx(req.uid(), req.gid(), req.pid(), Some(owner))
}

fn name_of(name: &OsStr) -> Vec<u8> {
    name.as_bytes().to_vec()
}

impl GlusterFuse {
    fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.rt.spawn(fut);
    }

    /// Runs an entry-making operation on the runtime and replies with the
    /// entry it returns (counting the kernel's reference) or its errno.
    fn answer_entry<F, Fut>(&self, reply: ReplyEntry, op: &'static str, f: F)
    where
        F: FnOnce(Arc<FsState>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<Iatt, Error>> + Send,
    {
        let s = self.state.clone();
        self.spawn(async move {
            match f(s.clone()).await {
                Ok(st) => Self::reply_entry(&s, reply, &st),
                Err(e) => reply.error(errno_of(&e, op)),
            }
        });
    }

    /// The same for operations that answer nothing but success.
    fn answer_empty<F, Fut>(&self, reply: ReplyEmpty, op: &'static str, f: F)
    where
        F: FnOnce(Arc<FsState>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), Error>> + Send,
    {
        let s = self.state.clone();
        self.spawn(async move {
            match f(s).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno_of(&e, op)),
            }
        });
    }

    /// Replies with a new entry, counting the kernel's reference.
    fn reply_entry(state: &FsState, reply: ReplyEntry, st: &Iatt) {
        let ino = state.remember(st.gfid);
        reply.entry(&state.timeouts.entry, &file_attr(ino, st), Generation(0));
    }

    /// direct-io-mode=enable bypasses the page cache for every file; auto
    /// and disable leave it to the opener (O_DIRECT works either way).
    /// Cached pages are kept across opens: with FUSE_AUTO_INVAL_DATA the
    /// kernel drops them when it sees the file's mtime or size change
    /// (checked once the attribute timeout has passed), as with the official
    /// client's fopen-keep-cache.
    fn open_flags(&self) -> FopenFlags {
        if self.direct_io == DirectIo::Enable {
            FopenFlags::FOPEN_DIRECT_IO
        } else {
            FopenFlags::FOPEN_KEEP_CACHE
        }
    }
}

impl fuser::Filesystem for GlusterFuse {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_write(MAX_IO);
        let _ = config.set_max_readahead(MAX_IO);
        let _ = config.set_max_background(64);
        let _ = config.set_congestion_threshold(48);
        let mut wanted = InitFlags::FUSE_ASYNC_READ
            | InitFlags::FUSE_BIG_WRITES
            | InitFlags::FUSE_MAX_PAGES
            | InitFlags::FUSE_PARALLEL_DIROPS
            | InitFlags::FUSE_DO_READDIRPLUS
            | InitFlags::FUSE_READDIRPLUS_AUTO
            | InitFlags::FUSE_AUTO_INVAL_DATA
            | InitFlags::FUSE_ATOMIC_O_TRUNC
            | InitFlags::FUSE_POSIX_LOCKS
            | InitFlags::FUSE_FLOCK_LOCKS
            | InitFlags::FUSE_ASYNC_DIO
            | InitFlags::FUSE_EXPORT_SUPPORT;
        if self.writeback_cache {
            wanted |= InitFlags::FUSE_WRITEBACK_CACHE;
        }
        if self.acl {
            wanted |= InitFlags::FUSE_POSIX_ACL;
        }
        // Take what the kernel offers; drop the rest silently.
        let offered = config.capabilities() & wanted;
        if let Err(missing) = config.add_capabilities(offered) {
            tracing::info!("kernel lacks FUSE capabilities {missing:?}");
        }
        Ok(())
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let (s, c, name) = (self.state.clone(), ctx(req), name_of(name));
        self.spawn(async move {
            let r = async {
                let p = s.gfid(parent.0)?;
                let st = s.vol.lookup(&c, p, &name).await?;
                if s.writes_pending(&st.gfid) {
                    // Its size and times are about to change: report them
                    // after our queued writes landed.
                    s.settle(st.gfid).await;
                    return s.vol.stat(&c, st.gfid).await;
                }
                Ok(st)
            }
            .await;
            match r {
                Ok(st) => Self::reply_entry(&s, reply, &st),
                Err(e) if e.errno() == errno::ENOENT && !s.timeouts.negative.is_zero() => {
                    // A negative entry: node 0, cached for negative-timeout.
                    let attr = file_attr(0, &Iatt::default());
                    reply.entry(&s.timeouts.negative, &attr, Generation(0));
                }
                Err(e) => reply.error(errno_of(&e, "lookup")),
            }
        });
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.state.forget(ino.0, nlookup);
    }

    fn getattr(&self, req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let (s, c) = (self.state.clone(), ctx(req));
        self.spawn(async move {
            let r = async {
                let gfid = s.gfid(ino.0)?;
                s.settle(gfid).await;
                match fh.map(|f| s.file(f.0)) {
                    Some(Ok(fd)) => fd.fstat(&c).await,
                    _ => match s.vol.stat(&c, gfid).await {
                        Err(e) => {
                            s.via_open_file(gfid, e, |fd| {
                                let c = &c;
                                async move { fd.fstat(c).await }
                            })
                            .await
                        }
                        r => r,
                    },
                }
            }
            .await;
            match r {
                Ok(st) => reply.attr(&s.timeouts.attr, &file_attr(ino.0, &st)),
                Err(e) => reply.error(errno_of(&e, "getattr")),
            }
        });
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let (s, c) = (self.state.clone(), ctx(req));
        let attr = SetAttr {
            mode,
            uid,
            gid,
            atime: atime.map(set_time),
            mtime: mtime.map(set_time),
        };
        self.spawn(async move {
            let r = async {
                let gfid = s.gfid(ino.0)?;
                s.settle_with_error(gfid).await?;
                let fd = fh.and_then(|f| s.file(f.0).ok());
                if attr.uid.is_some() || attr.gid.is_some() {
                    // chown drops security.capability on the brick.
                    s.uncache_xattrs(gfid);
                }
                match set_attributes(&s, &c, gfid, fd.clone(), size, &attr).await {
                    Err(e) if fd.is_none() => {
                        s.via_open_file(gfid, e, |fd| {
                            set_attributes(&s, &c, gfid, Some(fd), size, &attr)
                        })
                        .await
                    }
                    r => r,
                }
            }
            .await;
            match r {
                Ok(st) => reply.attr(&s.timeouts.attr, &file_attr(ino.0, &st)),
                Err(e) => reply.error(errno_of(&e, "setattr")),
            }
        });
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        let (s, c) = (self.state.clone(), ctx(req));
        self.spawn(async move {
            let r = async { s.vol.readlink(&c, s.gfid(ino.0)?).await }.await;
            match r {
                Ok(target) => reply.data(&target),
                Err(e) => reply.error(errno_of(&e, "readlink")),
            }
        });
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let (c, name) = (ctx(req), name_of(name));
        self.answer_entry(reply, "mknod", move |s| async move {
            let p = s.gfid(parent.0)?;
            s.vol
                .mknod(&c, p, &name, mode, u64::from(rdev), umask)
                .await
        });
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let (c, name) = (ctx(req), name_of(name));
        self.answer_entry(reply, "mkdir", move |s| async move {
            let p = s.gfid(parent.0)?;
            s.vol.mkdir(&c, p, &name, mode, umask).await
        });
    }

    fn unlink(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let (c, name) = (ctx(req), name_of(name));
        self.answer_empty(reply, "unlink", move |s| async move {
            let p = s.gfid(parent.0)?;
            open_victim(&s, &c, p, &name).await;
            s.vol.unlink(&c, p, &name).await
        });
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let (c, name) = (ctx(req), name_of(name));
        self.answer_empty(reply, "rmdir", move |s| async move {
            s.vol.rmdir(&c, s.gfid(parent.0)?, &name).await
        });
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let (c, name) = (ctx(req), name_of(link_name));
        let target = target.as_os_str().as_bytes().to_vec();
        self.answer_entry(reply, "symlink", move |s| async move {
            let p = s.gfid(parent.0)?;
            s.vol.symlink(&c, p, &name, &target, 0).await
        });
    }

    fn rename(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        // RENAME_NOREPLACE is honoured; EXCHANGE and WHITEOUT are not
        // possible over the GlusterFS protocol.
        if !(flags - RenameFlags::RENAME_NOREPLACE).is_empty() {
            reply.error(Errno::from_i32(errno::EINVAL));
            return;
        }
        let noreplace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        let (s, c) = (self.state.clone(), ctx(req));
        let (name, newname) = (name_of(name), name_of(newname));
        self.spawn(async move {
            let r = async {
                let (p, np) = (s.gfid(parent.0)?, s.gfid(newparent.0)?);
                if !noreplace {
                    open_victim(&s, &c, np, &newname).await;
                }
                if noreplace {
                    match s.vol.lookup(&c, np, &newname).await {
                        Ok(_) => {
                            return Err(Error::errno_msg(errno::EEXIST, "target exists"));
                        }
                        Err(e) if e.is_enoent() => {}
                        Err(e) => return Err(e),
                    }
                }
                s.vol.rename(&c, p, &name, np, &newname).await
            }
            .await;
            match r {
                Ok(_) => reply.ok(),
                Err(e) => reply.error(errno_of(&e, "rename")),
            }
        });
    }

    fn link(
        &self,
        req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let (c, name) = (ctx(req), name_of(newname));
        self.answer_entry(reply, "link", move |s| async move {
            let (g, np) = (s.gfid(ino.0)?, s.gfid(newparent.0)?);
            s.vol.link(&c, g, np, &name).await
        });
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let (s, c) = (self.state.clone(), ctx(req));
        let fopen = self.open_flags();
        // Every open is answered at once and reaches the brick on first use
        // (open-behind). O_TRUNC must take effect now: it goes out as a
        // TRUNCATE, which (unlike an OPEN with O_TRUNC) makes the brick
        // update mtime and ctime, as open(2) must.
        let trunc = flags.0 & libc::O_TRUNC != 0;
        let oflags = (flags.0 & !libc::O_TRUNC) as u32;
        self.spawn(async move {
            let r = async {
                let gfid = s.gfid(ino.0)?;
                if trunc {
                    s.settle_with_error(gfid).await?;
                    s.vol.truncate(&c, gfid, 0).await?;
                }
                Ok::<_, Error>((gfid, s.vol.open_lazy(&c, gfid, oflags).await?))
            }
            .await;
            match r {
                Ok((gfid, fd)) => {
                    let fh = s.add_handle(Handle::file(fd));
                    s.opened_lazily(gfid, fh, c);
                    reply.opened(FileHandle(fh), fopen);
                }
                Err(e) => reply.error(errno_of(&e, "open")),
            }
        });
    }

    fn read(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let (s, c) = (self.state.clone(), ctx(req));
        self.spawn(async move {
            let r = async {
                let fd = s.file(fh.0)?;
                s.settle(fd.gfid()).await;
                fd.read(&c, offset, size as usize).await
            }
            .await;
            match r {
                Ok(data) => reply.data(&data),
                Err(e) => reply.error(errno_of(&e, "read")),
            }
        });
    }

    fn write(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let (s, c) = (self.state.clone(), ctx(req));
        // The one copy out of fuser's buffer; from here on it is shared.
        let data = bytes::Bytes::copy_from_slice(data);
        self.spawn(async move {
            let r = async { s.write(c, s.file(fh.0)?, offset, data).await }.await;
            match r {
                Ok(n) => reply.written(n as u32),
                Err(e) => reply.error(errno_of(&e, "write")),
            }
        });
    }

    fn flush(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        let (s, c) = (self.state.clone(), ctx_owner(req, lock_owner.0));
        let behind = s.wb_policy.is_some_and(|p| p.flush_behind);
        self.spawn(async move {
            let fd = match s.file(fh.0) {
                Ok(fd) => fd,
                Err(e) => return reply.error(errno_of(&e, "flush")),
            };
            // FLUSH lets go of every POSIX lock of this owner on the file.
            s.locks.forget_owner(fd.gfid(), lock_owner.0);
            // A write that already failed in the background fails close().
            if let Some(e) = s.wb.as_ref().and_then(|wb| wb.take_error(&fd.gfid())) {
                return reply.error(errno_of(&e, "flush"));
            }
            if behind {
                // flush-behind (the volume's default): close() returns now;
                // the queued writes and the FLUSH complete in the background,
                // and RELEASE waits for them through the closing lock.
                let Some(lock) = s.closing_lock(fh.0) else {
                    return reply.error(Errno::from_i32(errno::EBADF));
                };
                let _closing = lock.lock().await;
                reply.ok();
                if let Err(e) = s.settle_with_error(fd.gfid()).await {
                    tracing::warn!("write before close failed: {e}");
                }
                if let Err(e) = fd.flush(&c).await {
                    tracing::warn!("background flush failed: {e}");
                }
                return;
            }
            let r = async {
                s.settle_with_error(fd.gfid()).await?;
                fd.flush(&c).await
            }
            .await;
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno_of(&e, "flush")),
            }
        });
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let s = self.state.clone();
        // Answer at once; the RELEASE itself goes out in the background.
        reply.ok();
        self.spawn(async move {
            if let Some(Handle::File(f)) = s.take_handle(fh.0) {
                // RELEASE drops the locks held through this open file
                // (OFD and flock locks are owned by it).
                if let Some(o) = lock_owner {
                    s.locks.forget_owner(f.fd.gfid(), o.0);
                }
                // After a background FLUSH of this fd, and after the
                // queued writes that use it.
                let _flushed = f.closing.lock().await;
                s.settle(f.fd.gfid()).await;
                f.fd.release().await;
            }
        });
    }

    fn fsync(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let (s, c) = (self.state.clone(), ctx(req));
        self.spawn(async move {
            let r = async {
                let fd = s.file(fh.0)?;
                s.settle_with_error(fd.gfid()).await?;
                fd.fsync(&c, datasync).await
            }
            .await;
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno_of(&e, "fsync")),
            }
        });
    }

    fn opendir(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let (s, c) = (self.state.clone(), ctx(req));
        self.spawn(async move {
            let r = async { s.vol.opendir(&c, s.gfid(ino.0)?).await }.await;
            match r {
                Ok(fd) => {
                    let fh = s.add_handle(Handle::Dir(Arc::new(DirStream {
                        fd,
                        pending: Default::default(),
                    })));
                    reply.opened(FileHandle(fh), FopenFlags::empty());
                }
                Err(e) => reply.error(errno_of(&e, "opendir")),
            }
        });
    }

    fn readdir(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let (s, c) = (self.state.clone(), ctx(req));
        self.spawn(async move {
            let r = async {
                let dir = s.dir(fh.0)?;
                let mut entries = s.dir_entries(&c, &dir, offset).await?;
                let mut last = offset;
                while let Some(e) = entries.pop_front() {
                    let child = if e.name == b"." { ino.0 } else { e.d_ino };
                    let k = e.stat.map_or(FileType::RegularFile, |st| kind(st.mode));
                    if reply.add(INodeNo(child), e.d_off, k, OsStr::from_bytes(&e.name)) {
                        entries.push_front(e);
                        *dir.pending.lock() = Some((last, entries));
                        break;
                    }
                    last = e.d_off;
                }
                Ok::<_, Error>(())
            }
            .await;
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno_of(&e, "readdir")),
            }
        });
    }

    fn readdirplus(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let (s, c) = (self.state.clone(), ctx(req));
        self.spawn(async move {
            let r = async {
                let dir = s.dir(fh.0)?;
                let mut entries = s.dir_entries(&c, &dir, offset).await?;
                let mut last = offset;
                let ttl = s.timeouts.entry;
                while let Some(e) = entries.pop_front() {
                    let dot = e.name == b"." || e.name == b"..";
                    // The kernel takes no reference for . and .., nor for
                    // entries without attributes (node 0).
                    let stat = e.stat.filter(|st| !s.writes_pending(&st.gfid));
                    let (node, attr) = match (&stat, dot) {
                        (Some(st), false) => {
                            let n = s.remember(st.gfid);
                            (n, file_attr(n, st))
                        }
                        (Some(st), true) => (
                            0,
                            file_attr(if e.name == b"." { ino.0 } else { st.ino }, st),
                        ),
                        (None, _) => (0, file_attr(0, &Iatt::default())),
                    };
                    let attr = if node == 0 && !dot {
                        FileAttr {
                            ino: INodeNo(e.d_ino),
                            ..attr
                        }
                    } else {
                        attr
                    };
                    let full = reply.add(
                        INodeNo(if dot { attr.ino.0 } else { node }),
                        e.d_off,
                        OsStr::from_bytes(&e.name),
                        &ttl,
                        &attr,
                        Generation(0),
                    );
                    if full {
                        if node != 0 {
                            s.forget(node, 1);
                        }
                        entries.push_front(e);
                        *dir.pending.lock() = Some((last, entries));
                        break;
                    }
                    last = e.d_off;
                }
                Ok::<_, Error>(())
            }
            .await;
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno_of(&e, "readdirplus")),
            }
        });
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        let s = self.state.clone();
        reply.ok();
        self.spawn(async move {
            if let Some(Handle::Dir(d)) = s.take_handle(fh.0) {
                d.fd.release().await;
            }
        });
    }

    fn fsyncdir(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let (s, c) = (self.state.clone(), ctx(req));
        self.spawn(async move {
            let r = async { s.dir(fh.0)?.fd.fsync(&c, datasync).await }.await;
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno_of(&e, "fsyncdir")),
            }
        });
    }

    fn statfs(&self, req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let (s, c) = (self.state.clone(), ctx(req));
        self.spawn(async move {
            match s.vol.statfs(&c, client::Gfid::ROOT).await {
                Ok(st) => reply.statfs(
                    st.blocks,
                    st.bfree,
                    st.bavail,
                    st.files,
                    st.ffree,
                    st.bsize as u32,
                    st.namemax as u32,
                    st.frsize as u32,
                ),
                Err(e) => reply.error(errno_of(&e, "statfs")),
            }
        });
    }

    fn setxattr(
        &self,
        req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        let name = name_of(name);
        if is_internal_xattr(&name) {
            reply.error(Errno::from_i32(errno::EPERM));
            return;
        }
        let Ok(name) = String::from_utf8(name) else {
            reply.error(Errno::from_i32(errno::EINVAL));
            return;
        };
        let (s, c, value) = (self.state.clone(), ctx(req), value.to_vec());
        self.spawn(async move {
            let r = async {
                let gfid = s.gfid(ino.0)?;
                // A queued write landing after this call would undo it: the
                // brick's write drops security.capability.
                s.settle(gfid).await;
                s.uncache_xattrs(gfid);
                let r = s.vol.setxattr(&c, gfid, &name, &value, flags as u32).await;
                // Again: a getxattr racing with the call may have cached
                // the old answer.
                s.uncache_xattrs(gfid);
                r
            }
            .await;
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno_of(&e, "setxattr")),
            }
        });
    }

    fn getxattr(&self, req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let name = name_of(name);
        if is_internal_xattr(&name) {
            reply.error(Errno::from_i32(errno::ENODATA));
            return;
        }
        let Ok(name) = String::from_utf8(name) else {
            reply.error(Errno::from_i32(errno::ENODATA));
            return;
        };
        let (s, c) = (self.state.clone(), ctx(req));
        self.spawn(async move {
            let r = async {
                let gfid = s.gfid(ino.0)?;
                if let Some(v) = virtual_xattr(name.as_bytes(), gfid) {
                    return Ok(v);
                }
                let hot = is_hot_xattr(name.as_bytes());
                if hot {
                    match s.cached_xattr(gfid, name.as_bytes()) {
                        Some(Some(v)) => return Ok(v),
                        Some(None) => {
                            return Err(Error::errno_msg(errno::ENODATA, "no such attribute"))
                        }
                        None => {}
                    }
                }
                let r = s.vol.getxattr(&c, gfid, &name).await;
                if hot {
                    match &r {
                        Ok(v) => s.cache_xattr(gfid, name.as_bytes(), Some(v.clone())),
                        Err(e) if e.errno() == errno::ENODATA => {
                            s.cache_xattr(gfid, name.as_bytes(), None)
                        }
                        Err(_) => {}
                    }
                }
                r
            }
            .await;
            match r {
                Ok(v) => reply_xattr(reply, size, &v),
                Err(e) => reply.error(errno_of(&e, "getxattr")),
            }
        });
    }

    fn listxattr(&self, req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let (s, c) = (self.state.clone(), ctx(req));
        self.spawn(async move {
            let r = async { s.vol.listxattr(&c, s.gfid(ino.0)?).await }.await;
            match r {
                Ok(names) => {
                    let mut buf = Vec::new();
                    for n in names.iter().filter(|n| !is_internal_xattr(n)) {
                        buf.extend_from_slice(n);
                        buf.push(0);
                    }
                    reply_xattr(reply, size, &buf);
                }
                Err(e) => reply.error(errno_of(&e, "listxattr")),
            }
        });
    }

    fn removexattr(&self, req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name_of(name);
        if is_internal_xattr(&name) {
            reply.error(Errno::from_i32(errno::EPERM));
            return;
        }
        let Ok(name) = String::from_utf8(name) else {
            reply.error(Errno::from_i32(errno::ENODATA));
            return;
        };
        let (s, c) = (self.state.clone(), ctx(req));
        self.spawn(async move {
            let r = async {
                let gfid = s.gfid(ino.0)?;
                s.settle(gfid).await;
                s.uncache_xattrs(gfid);
                let r = s.vol.removexattr(&c, gfid, &name).await;
                s.uncache_xattrs(gfid);
                r
            }
            .await;
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno_of(&e, "removexattr")),
            }
        });
    }

    fn access(&self, req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        let (s, c) = (self.state.clone(), ctx(req));
        self.spawn(async move {
            let r = async { s.vol.access(&c, s.gfid(ino.0)?, mask.bits() as u32).await }.await;
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno_of(&e, "access")),
            }
        });
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let (s, c, name) = (self.state.clone(), ctx(req), name_of(name));
        let fopen = self.open_flags();
        self.spawn(async move {
            let r = async {
                let p = s.gfid(parent.0)?;
                s.vol.create(&c, p, &name, flags as u32, mode, umask).await
            }
            .await;
            match r {
                Ok((fd, st)) => {
                    // A new file has no capabilities: spare the kernel's
                    // pre-write check a round trip.
                    s.cache_xattr(st.gfid, b"security.capability", None);
                    let fh = s.add_handle(Handle::file(fd));
                    let ino = s.remember(st.gfid);
                    reply.created(
                        &s.timeouts.entry,
                        &file_attr(ino, &st),
                        Generation(0),
                        FileHandle(fh),
                        fopen,
                    );
                }
                Err(e) => reply.error(errno_of(&e, "create")),
            }
        });
    }

    fn getlk(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        lock_owner: LockOwner,
        start: u64,
        end: u64,
        typ: i32,
        pid: u32,
        reply: ReplyLock,
    ) {
        let (s, c) = (self.state.clone(), ctx_owner(req, lock_owner.0));
        let flock = to_flock(start, end, typ, pid);
        self.spawn(async move {
            let r = async { s.file(fh.0)?.lk(&c, lock::GETLK, &flock).await }.await;
            match r {
                Ok(f) => {
                    let (start, end) = from_range(f.start, f.len);
                    let typ = match f.kind {
                        lock::RDLCK => libc::F_RDLCK,
                        lock::WRLCK => libc::F_WRLCK,
                        _ => libc::F_UNLCK,
                    };
                    reply.locked(start, end, typ, f.pid);
                }
                Err(e) => reply.error(errno_of(&e, "getlk")),
            }
        });
    }

    fn setlk(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        lock_owner: LockOwner,
        start: u64,
        end: u64,
        typ: i32,
        pid: u32,
        sleep: bool,
        reply: ReplyEmpty,
    ) {
        let (s, c) = (self.state.clone(), ctx_owner(req, lock_owner.0));
        let flock = to_flock(start, end, typ, pid);
        let cmd = if sleep { lock::SETLKW } else { lock::SETLK };
        let owner = lock_owner.0;
        self.spawn(async move {
            let r = async {
                let fd = s.file(fh.0)?;
                let gfid = fd.gfid();
                if flock.kind == lock::UNLCK && !s.locks.may_hold(gfid, owner, start, end) {
                    return Ok(()); // nothing of ours to unlock there
                }
                fd.lk(&c, cmd, &flock).await?;
                if flock.kind == lock::UNLCK {
                    s.locks.released(gfid, owner, start, end);
                } else {
                    s.locks.granted(gfid, owner, start, end);
                }
                Ok::<_, Error>(())
            }
            .await;
            match r {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno_of(&e, "setlk")),
            }
        });
    }

    fn fallocate(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let (s, c) = (self.state.clone(), ctx(req));
        self.spawn(async move {
            let r = async {
                // Queued writes first: a hole punched under a write still
                // in flight would be filled again by it.
                let fd = s.file(fh.0)?;
                s.settle_with_error(fd.gfid()).await?;
                fd.fallocate(&c, mode as u32, offset, length).await
            }
            .await;
            match r {
                Ok(_) => reply.ok(),
                Err(e) => reply.error(errno_of(&e, "fallocate")),
            }
        });
    }

    fn lseek(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        let what = match whence {
            libc::SEEK_DATA => proto::fops::SEEK_DATA,
            libc::SEEK_HOLE => proto::fops::SEEK_HOLE,
            _ => {
                reply.error(Errno::from_i32(errno::EINVAL));
                return;
            }
        };
        if offset < 0 {
            reply.error(Errno::from_i32(errno::ENXIO));
            return;
        }
        let (s, c) = (self.state.clone(), ctx(req));
        self.spawn(async move {
            let r = async {
                let fd = s.file(fh.0)?;
                s.settle(fd.gfid()).await;
                fd.seek(&c, offset as u64, what).await
            }
            .await;
            match r {
                Ok(off) => reply.offset(off as i64),
                Err(e) => reply.error(errno_of(&e, "lseek")),
            }
        });
    }

    fn copy_file_range(
        &self,
        req: &Request,
        _ino_in: INodeNo,
        fh_in: FileHandle,
        offset_in: u64,
        _ino_out: INodeNo,
        fh_out: FileHandle,
        offset_out: u64,
        len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        let (s, c) = (self.state.clone(), ctx(req));
        let len = len.min(0xFFFF_F000) as u32; // one call, page-aligned
        self.spawn(async move {
            let r = async {
                let (src, dst) = (s.file(fh_in.0)?, s.file(fh_out.0)?);
                s.settle(src.gfid()).await;
                s.settle_with_error(dst.gfid()).await?;
                src.copy_file_range(&c, offset_in, &dst, offset_out, len)
                    .await
            }
            .await;
            match r {
                Ok(n) => reply.written(n as u32),
                Err(e) => reply.error(errno_of(&e, "copy_file_range")),
            }
        });
    }
}

/// setattr: the size first (truncate), then the other attributes, through
/// `fd` when there is one; returns the attributes after them.
async fn set_attributes(
    s: &FsState,
    c: &Ctx,
    gfid: client::Gfid,
    fd: Option<client::Fd>,
    size: Option<u64>,
    attr: &SetAttr,
) -> Result<Iatt, Error> {
    let mut last = None;
    if let Some(size) = size {
        last = Some(match &fd {
            Some(fd) => fd.ftruncate(c, size).await?,
            None => s.vol.truncate(c, gfid, size).await?,
        });
    }
    // Nothing at all to set (chown(f, -1, -1)) still moves ctime: a
    // SETATTR with no valid bits, as upstream sends.
    if *attr != SetAttr::default() || size.is_none() {
        last = Some(match &fd {
            Some(fd) => fd.fsetattr(c, attr).await?,
            None => s.vol.setattr(c, gfid, attr).await?,
        });
    }
    match (last, fd) {
        (Some(st), _) if st.is_valid() => Ok(st),
        (_, Some(fd)) => fd.fstat(c).await,
        (_, None) => s.vol.stat(c, gfid).await,
    }
}

/// Before `name` in `parent` may lose its last link (unlink, rename over
/// it): opens the lazily opened handles of the file it names, so that they
/// keep working on the unlinked file. Looks the name up only when some
/// file is open lazily at all.
async fn open_victim(s: &FsState, c: &Ctx, parent: client::Gfid, name: &[u8]) {
    if !s.has_lazy_opens() {
        return;
    }
    if let Ok(st) = s.vol.lookup(c, parent, name).await {
        s.open_pending(st.gfid).await;
    }
}

fn reply_xattr(reply: ReplyXattr, size: u32, value: &[u8]) {
    if size == 0 {
        reply.size(value.len() as u32);
    } else if value.len() > size as usize {
        reply.error(Errno::from_i32(errno::ERANGE));
    } else {
        reply.data(value);
    }
}

/// FUSE gives [start, end] inclusive (end = OFFSET_MAX for "to EOF");
/// GlusterFS takes start and length (0 = to EOF).
fn to_flock(start: u64, end: u64, typ: i32, pid: u32) -> Flock {
    let kind = match typ {
        libc::F_RDLCK => lock::RDLCK,
        libc::F_WRLCK => lock::WRLCK,
        _ => lock::UNLCK,
    };
    let len = if end >= i64::MAX as u64 {
        0
    } else {
        end.saturating_sub(start) + 1
    };
    Flock {
        kind,
        whence: 0,
        start,
        len,
        pid,
        lk_owner: Vec::new(),
    }
}

fn from_range(start: u64, len: u64) -> (u64, u64) {
    if len == 0 {
        (start, i64::MAX as u64)
    } else {
        (start, start.saturating_add(len - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_never_panic() {
        assert_eq!(time(0, 0), UNIX_EPOCH);
        let _ = time(i64::MIN, u32::MAX);
        let _ = time(i64::MAX, u32::MAX);
        assert_eq!(
            time(-1, 500_000_000),
            UNIX_EPOCH - Duration::from_millis(500)
        );
    }

    #[test]
    fn rdev_and_lock_ranges() {
        assert_eq!(linux_rdev((1 << 32) | 3), libc::makedev(1, 3) as u32);
        let f = to_flock(10, u64::MAX, libc::F_WRLCK, 7);
        assert_eq!((f.start, f.len, f.kind), (10, 0, lock::WRLCK));
        assert_eq!(from_range(10, 0), (10, i64::MAX as u64));
        assert_eq!(from_range(10, 5), (10, 14));
    }
}
