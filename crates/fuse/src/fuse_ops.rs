//! The kernel side: fuser's `Filesystem` over [`crate::ops`].
//!
//! fuser calls these methods on its reader threads. Each one copies what it
//! needs out of the request into plain values, hands the operation to the
//! tokio runtime and returns at once; [`GlusterFuse::run`] sends the reply
//! from the task (fuser replies are Send). No reader thread ever waits on
//! the network. Only translation lives here: fuser types in and out.

use crate::fs::{request_ctx, FsState};
use crate::ops::dirs::DirBatch;
use crate::ops::posix_locks::LockRange;
use crate::ops::xattr::XattrAnswer;
use crate::ops::{attr, dirs, files, names, posix_locks, xattr, Node};
use crate::options::DirectIo;
use client::{Ctx, Error, Iatt, SetAttr, SetTime, Statfs};
use fuser::{
    AccessFlags, CopyFileRangeFlags, Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyLock, ReplyLseek,
    ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use proto::errno;
use std::ffi::OsStr;
use std::future::Future;
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

/// A fuser reply: answered with a `T` or an errno.
trait Answer<T>: Send + 'static {
    fn answer(self, value: T);
    fn fail(self, e: Errno);
}

/// `Answer::fail` is each reply's `error`.
macro_rules! answer {
    ($($reply:ty: $t:ty => |$r:ident, $v:pat_param| $body:expr;)*) => {$(
        impl Answer<$t> for $reply {
            fn answer(self, $v: $t) {
                let $r = self;
                $body
            }
            fn fail(self, e: Errno) {
                self.error(e)
            }
        }
    )*};
}

answer! {
    ReplyEmpty: () => |r, ()| r.ok();
    ReplyEntry: Node => |r, n| r.entry(&n.ttl, &file_attr(n.ino, &n.st), Generation(0));
    ReplyAttr: Node => |r, n| r.attr(&n.ttl, &file_attr(n.ino, &n.st));
    ReplyData: Vec<u8> => |r, d| r.data(&d);
    ReplyData: bytes::Bytes => |r, d| r.data(&d);
    ReplyWrite: u32 => |r, n| r.written(n);
    ReplyOpen: (u64, FopenFlags) => |r, (fh, flags)| r.opened(FileHandle(fh), flags);
    ReplyCreate: (Node, u64, FopenFlags) => |r, (n, fh, flags)| {
        r.created(&n.ttl, &file_attr(n.ino, &n.st), Generation(0), FileHandle(fh), flags)
    };
    ReplyLseek: i64 => |r, off| r.offset(off);
    ReplyLock: LockRange => |r, l| r.locked(l.start, l.end, l.typ, l.pid);
    ReplyXattr: XattrAnswer => |r, x| match x {
        XattrAnswer::Size(n) => r.size(n),
        XattrAnswer::Data(v) => r.data(&v),
    };
    ReplyStatfs: Statfs => |r, st| r.statfs(
        st.blocks,
        st.bfree,
        st.bavail,
        st.files,
        st.ffree,
        st.bsize as u32,
        st.namemax as u32,
        st.frsize as u32,
    );
    ReplyDirectory: DirBatch => |r, b| fill_dir(r, b);
    ReplyDirectoryPlus: DirBatch => |r, b| fill_dir_plus(r, b);
}

fn fill_dir(mut r: ReplyDirectory, mut batch: DirBatch) {
    while let Some(e) = batch.next_item() {
        let name = OsStr::from_bytes(&e.name);
        if r.add(INodeNo(e.ino), e.offset, kind(e.mode), name) {
            batch.full(e);
            break;
        }
    }
    r.ok()
}

fn fill_dir_plus(mut r: ReplyDirectoryPlus, mut batch: DirBatch) {
    while let Some(e) = batch.next_item() {
        let (name, attr) = (
            OsStr::from_bytes(&e.name),
            file_attr(e.attr.ino, &e.attr.st),
        );
        if r.add(
            INodeNo(e.ino),
            e.offset,
            name,
            &e.attr.ttl,
            &attr,
            Generation(0),
        ) {
            batch.full(e);
            break;
        }
    }
    r.ok()
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

fn lock_range(start: u64, end: u64, typ: i32, pid: u32) -> LockRange {
    LockRange {
        start,
        end,
        typ,
        pid,
    }
}

impl GlusterFuse {
    /// Runs `work` on the runtime and answers `reply` with its result or
    /// its errno: the one way every request is answered.
    fn run<T, R, F>(&self, reply: R, op: &'static str, work: F)
    where
        R: Answer<T>,
        F: Future<Output = crate::fs::Result<T>> + Send + 'static,
    {
        self.rt.spawn(async move {
            match work.await {
                Ok(v) => reply.answer(v),
                Err(e) => reply.fail(errno_of(&e, op)),
            }
        });
    }

    /// The state and the caller, for an operation.
    fn with(&self, req: &Request) -> (Arc<FsState>, Ctx) {
        (self.state.clone(), ctx(req))
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
        let (s, c) = self.with(req);
        self.run(reply, "lookup", attr::lookup(s, c, parent.0, name_of(name)));
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.state.forget(ino.0, nlookup);
    }

    fn getattr(&self, req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let (s, c) = self.with(req);
        self.run(
            reply,
            "getattr",
            attr::getattr(s, c, ino.0, fh.map(|f| f.0)),
        );
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
        let (s, c) = self.with(req);
        let attr = SetAttr {
            mode,
            uid,
            gid,
            atime: atime.map(set_time),
            mtime: mtime.map(set_time),
        };
        let fh = fh.map(|f| f.0);
        self.run(reply, "setattr", attr::setattr(s, c, ino.0, fh, size, attr));
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        let (s, c) = self.with(req);
        self.run(reply, "readlink", async move {
            s.vol.readlink(&c, s.gfid(ino.0)?).await
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
        let (s, c) = self.with(req);
        let work = names::mknod(s, c, parent.0, name_of(name), mode, umask, rdev);
        self.run(reply, "mknod", work);
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
        let (s, c) = self.with(req);
        let work = names::mkdir(s, c, parent.0, name_of(name), mode, umask);
        self.run(reply, "mkdir", work);
    }

    fn unlink(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let (s, c) = self.with(req);
        self.run(
            reply,
            "unlink",
            names::unlink(s, c, parent.0, name_of(name)),
        );
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let (s, c) = self.with(req);
        self.run(reply, "rmdir", names::rmdir(s, c, parent.0, name_of(name)));
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let (s, c) = self.with(req);
        let target = target.as_os_str().as_bytes().to_vec();
        let work = names::symlink(s, c, parent.0, name_of(link_name), target);
        self.run(reply, "symlink", work);
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
        let (s, c) = self.with(req);
        let (name, newname) = (name_of(name), name_of(newname));
        let work = names::rename(s, c, parent.0, name, newparent.0, newname, flags.bits());
        self.run(reply, "rename", work);
    }

    fn link(
        &self,
        req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let (s, c) = self.with(req);
        let work = names::link(s, c, ino.0, newparent.0, name_of(newname));
        self.run(reply, "link", work);
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let (s, c) = self.with(req);
        let fopen = self.open_flags();
        self.run(reply, "open", async move {
            Ok((files::open(s, c, ino.0, flags.0).await?, fopen))
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
        let (s, c) = self.with(req);
        self.run(reply, "read", files::read(s, c, fh.0, offset, size));
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
        let (s, c) = self.with(req);
        // The one copy out of fuser's buffer; from here on it is shared.
        let data = bytes::Bytes::copy_from_slice(data);
        self.run(reply, "write", files::write(s, c, fh.0, offset, data));
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
        self.run(reply, "flush", files::flush(s, c, fh.0, lock_owner.0));
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
        // Answered at once; the RELEASE itself goes out in the background.
        reply.ok();
        let owner = lock_owner.map(|o| o.0);
        self.rt
            .spawn(files::release(self.state.clone(), fh.0, owner));
    }

    fn fsync(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let (s, c) = self.with(req);
        self.run(reply, "fsync", files::fsync(s, c, fh.0, datasync));
    }

    fn opendir(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let (s, c) = self.with(req);
        self.run(reply, "opendir", async move {
            Ok((dirs::opendir(s, c, ino.0).await?, FopenFlags::empty()))
        });
    }

    fn readdir(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        let (s, c) = self.with(req);
        let work = dirs::readdir(s, c, ino.0, fh.0, offset, false);
        self.run(reply, "readdir", work);
    }

    fn readdirplus(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectoryPlus,
    ) {
        let (s, c) = self.with(req);
        let work = dirs::readdir(s, c, ino.0, fh.0, offset, true);
        self.run(reply, "readdirplus", work);
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        reply.ok();
        self.rt.spawn(dirs::releasedir(self.state.clone(), fh.0));
    }

    fn fsyncdir(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let (s, c) = self.with(req);
        self.run(reply, "fsyncdir", dirs::fsyncdir(s, c, fh.0, datasync));
    }

    fn statfs(&self, req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let (s, c) = self.with(req);
        self.run(reply, "statfs", dirs::statfs(s, c));
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
        let (s, c) = self.with(req);
        let work = xattr::setxattr(s, c, ino.0, name_of(name), value.to_vec(), flags);
        self.run(reply, "setxattr", work);
    }

    fn getxattr(&self, req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let (s, c) = self.with(req);
        let work = xattr::getxattr(s, c, ino.0, name_of(name), size);
        self.run(reply, "getxattr", work);
    }

    fn listxattr(&self, req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let (s, c) = self.with(req);
        self.run(reply, "listxattr", xattr::listxattr(s, c, ino.0, size));
    }

    fn removexattr(&self, req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let (s, c) = self.with(req);
        let work = xattr::removexattr(s, c, ino.0, name_of(name));
        self.run(reply, "removexattr", work);
    }

    fn access(&self, req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        let (s, c) = self.with(req);
        self.run(reply, "access", async move {
            s.vol.access(&c, s.gfid(ino.0)?, mask.bits() as u32).await
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
        let (s, c) = self.with(req);
        let fopen = self.open_flags();
        let work = files::create(s, c, parent.0, name_of(name), mode, umask, flags);
        self.run(reply, "create", async move {
            let (node, fh) = work.await?;
            Ok((node, fh, fopen))
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
        let range = lock_range(start, end, typ, pid);
        self.run(reply, "getlk", posix_locks::getlk(s, c, fh.0, range));
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
        let range = lock_range(start, end, typ, pid);
        let work = posix_locks::setlk(s, c, fh.0, lock_owner.0, range, sleep);
        self.run(reply, "setlk", work);
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
        let (s, c) = self.with(req);
        let work = files::fallocate(s, c, fh.0, offset, length, mode);
        self.run(reply, "fallocate", work);
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
        let (s, c) = self.with(req);
        self.run(reply, "lseek", files::lseek(s, c, fh.0, offset, whence));
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
        let (s, c) = self.with(req);
        let (src, dst) = ((fh_in.0, offset_in), (fh_out.0, offset_out));
        let work = files::copy_file_range(s, c, src, dst, len);
        self.run(reply, "copy_file_range", work);
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
        let before = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(
            set_time(TimeOrNow::SpecificTime(before)),
            SetTime::At {
                sec: -2,
                nsec: 500_000_000
            }
        );
    }

    #[test]
    fn rdev_and_kinds() {
        assert_eq!(linux_rdev((1 << 32) | 3), libc::makedev(1, 3) as u32);
        assert_eq!(kind(0), FileType::RegularFile);
        assert_eq!(kind(proto::iatt::S_IFDIR | 0o755), FileType::Directory);
    }
}
