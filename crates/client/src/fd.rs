//! Open file and directory handles.
//!
//! A remote fd number is valid only on the connection that opened it. When
//! a brick connection is re-established, the brick has already released
//! the old fds, so an `Fd` reopens itself (OPEN/OPENDIR of the same gfid
//! with its flags minus O_CREAT|O_EXCL|O_TRUNC), as upstream's
//! protocol/client does (PROTOCOL.md 4.7). POSIX locks held through the
//! old fd are lost, as with the official client (`strict-locks off`).

use crate::distribute::migration::{phase, Phase};
use crate::error::{Error, Result};
use crate::protocol_client::{Brick, Session};
use crate::volume::{setattr_args, xattr_value, Ctx, DirEntry, SetAttr, Volume};
use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use proto::dict::{DictValue, GfxDict};
use proto::errno;
use proto::fops::*;
use proto::iatt::{Flock, Iatt};
use proto::Gfid;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Largest single READ/WRITE we send. Bricks accept 4 MiB (PROTOCOL.md
/// 6.5); 1 MiB keeps memory per call modest and pipelines well.
pub const MAX_IO: usize = 1024 * 1024;

/// Translates Linux open flags to GlusterFS's numbering explicitly (they
/// happen to match on x86-64, not on every architecture).
pub fn to_gf_flags(f: u32) -> u32 {
    let f = f as i32;
    let map: [(i32, u32); 16] = [
        (libc::O_WRONLY, oflags::WRONLY),
        (libc::O_RDWR, oflags::RDWR),
        (libc::O_CREAT, oflags::CREAT),
        (libc::O_EXCL, oflags::EXCL),
        (libc::O_NOCTTY, oflags::NOCTTY),
        (libc::O_TRUNC, oflags::TRUNC),
        (libc::O_APPEND, oflags::APPEND),
        (libc::O_NONBLOCK, oflags::NONBLOCK),
        (libc::O_DSYNC, oflags::SYNC),
        (libc::O_ASYNC, oflags::ASYNC),
        (libc::O_DIRECT, oflags::DIRECT),
        (libc::O_LARGEFILE, oflags::LARGEFILE),
        (libc::O_DIRECTORY, oflags::DIRECTORY),
        (libc::O_NOFOLLOW, oflags::NOFOLLOW),
        (libc::O_NOATIME, oflags::NOATIME),
        (libc::O_CLOEXEC, oflags::CLOEXEC),
    ];
    let mut out = 0;
    for (linux, gf) in map {
        if linux != 0 && f & linux == linux {
            out |= gf;
        }
    }
    out
}

struct Remote {
    /// The subvolume holding the inode; changes when a rebalance moves
    /// the file.
    brick: Arc<Brick>,
    generation: u64,
    fd: i64,
}

struct FdInner {
    vol: Volume,
    gfid: Gfid,
    /// GlusterFS open flags.
    flags: u32,
    is_dir: bool,
    remote: Mutex<Remote>,
    released: AtomicBool,
    /// A directory over several subvolumes: one fd per subvolume (None
    /// where the directory is missing), in volfile order.
    parts: Vec<Option<Fd>>,
}

/// An open file or directory. Cheap to clone; `release()` closes it on
/// the brick (dropping the last clone without it releases in the
/// background when a runtime is available).
#[derive(Clone)]
pub struct Fd {
    inner: Arc<FdInner>,
}

impl std::fmt::Debug for Fd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fd({})", self.inner.gfid)
    }
}

impl Drop for FdInner {
    fn drop(&mut self) {
        if self.released.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return; // the connection is going away with the runtime anyway
        };
        let (gfid, is_dir) = (self.gfid, self.is_dir);
        let (brick, generation, fd) = {
            let r = self.remote.lock();
            (r.brick.clone(), r.generation, r.fd)
        };
        rt.spawn(async move {
            release_remote(&brick, gfid, is_dir, generation, fd).await;
        });
    }
}

async fn release_remote(brick: &Brick, gfid: Gfid, is_dir: bool, generation: u64, fd: i64) {
    let Ok(session) = brick.session().await else {
        return;
    };
    if session.generation != generation {
        return; // the brick released it when the old connection dropped
    }
    let ctx = Ctx::current();
    let xdata = GfxDict::new();
    let _ = if is_dir {
        brick
            .fop_on(
                &session,
                &ctx,
                &ReleasedirReq { gfid, fd, xdata },
                Bytes::new(),
            )
            .await
            .map(|_| ())
    } else {
        brick
            .fop_on(
                &session,
                &ctx,
                &ReleaseReq { gfid, fd, xdata },
                Bytes::new(),
            )
            .await
            .map(|_| ())
    };
}

impl Fd {
    pub(crate) fn new(
        vol: Volume,
        brick: Arc<Brick>,
        gfid: Gfid,
        flags: u32,
        is_dir: bool,
        generation: u64,
        fd: i64,
    ) -> Fd {
        Fd {
            inner: Arc::new(FdInner {
                vol,
                gfid,
                flags,
                is_dir,
                remote: Mutex::new(Remote {
                    brick,
                    generation,
                    fd,
                }),
                released: AtomicBool::new(false),
                parts: Vec::new(),
            }),
        }
    }

    pub(crate) async fn open(
        vol: Volume,
        brick: Arc<Brick>,
        ctx: &Ctx,
        gfid: Gfid,
        flags: u32,
        is_dir: bool,
    ) -> Result<Fd> {
        let session = brick.session().await?;
        let fd = open_remote(&brick, &session, ctx, gfid, flags, is_dir).await?;
        Ok(Fd::new(
            vol,
            brick,
            gfid,
            flags,
            is_dir,
            session.generation,
            fd,
        ))
    }

    /// An fd that is opened on the brick only when first needed (as
    /// upstream's open-behind does); reads of a read-only fd that was never
    /// opened use the brick's anonymous fd and need no OPEN at all.
    pub(crate) fn lazy(vol: Volume, brick: Arc<Brick>, gfid: Gfid, flags: u32) -> Fd {
        // Generation 0 never matches a session: the first use opens.
        Fd::new(vol, brick, gfid, flags, false, 0, ANON_FD)
    }

    /// A directory fd over several subvolumes.
    pub(crate) fn striped_dir(
        vol: Volume,
        gfid: Gfid,
        first: Arc<Brick>,
        parts: Vec<Option<Fd>>,
    ) -> Fd {
        Fd {
            inner: Arc::new(FdInner {
                vol,
                gfid,
                flags: 0,
                is_dir: true,
                remote: Mutex::new(Remote {
                    brick: first,
                    generation: 0,
                    fd: ANON_FD,
                }),
                released: AtomicBool::new(false),
                parts,
            }),
        }
    }

    fn brick(&self) -> Arc<Brick> {
        self.inner.remote.lock().brick.clone()
    }

    /// True once the fd exists on the brick.
    fn opened(&self) -> bool {
        self.inner.remote.lock().generation != 0
    }

    fn read_only(&self) -> bool {
        self.inner.flags & oflags::ACCMODE == oflags::RDONLY
    }

    pub fn gfid(&self) -> Gfid {
        self.inner.gfid
    }

    pub fn volume(&self) -> &Volume {
        &self.inner.vol
    }

    /// GlusterFS open flags of this fd.
    pub fn flags(&self) -> u32 {
        self.inner.flags
    }

    /// The session and this fd's number on it, reopening after a reconnect.
    async fn remote(&self, ctx: &Ctx) -> Result<(Session, i64)> {
        let i = &self.inner;
        if i.released.load(Ordering::Acquire) {
            return Err(Error::errno_msg(
                errno::EBADF,
                "file handle already released",
            ));
        }
        let brick = self.brick();
        let session = brick.session().await?;
        {
            let r = i.remote.lock();
            if r.generation == session.generation && Arc::ptr_eq(&r.brick, &brick) {
                return Ok((session, r.fd));
            }
        }
        let reopen_flags = i.flags & !(oflags::CREAT | oflags::EXCL | oflags::TRUNC);
        let first = !self.opened();
        let fd = open_remote(&brick, &session, ctx, i.gfid, reopen_flags, i.is_dir).await?;
        if !first {
            tracing::info!(gfid = %i.gfid, "reopened after reconnect");
        }
        let mut r = i.remote.lock();
        if !Arc::ptr_eq(&r.brick, &brick) {
            // Moved meanwhile: the caller's retry opens on the new brick.
            return Ok((session, fd));
        }
        r.generation = session.generation;
        r.fd = fd;
        Ok((session, fd))
    }

    /// Opens a lazily opened fd (open-behind) on the brick now; nothing
    /// to do when it is open already. The FUSE layer calls it before an
    /// unlink or rename may remove the file's last name: the brick keeps
    /// an unlinked file only while an fd of it is open there.
    pub async fn open_now(&self, ctx: &Ctx) -> Result<()> {
        self.remote(ctx).await.map(|_| ())
    }

    /// Sends a fop built from this fd's number.
    async fn call<Q: FopRequest>(
        &self,
        ctx: &Ctx,
        build: impl Fn(Gfid, i64) -> Q,
        payload: Bytes,
    ) -> Result<(Q::Reply, Bytes)> {
        let once = || async {
            let brick = self.brick();
            let (session, fd) = self.remote(ctx).await?;
            let req = build(self.inner.gfid, fd);
            brick.fop_on(&session, ctx, &req, payload.clone()).await
        };
        match once().await {
            // Moved by a rebalance: follow the file and send it again.
            Err(e) if (is_moved_error(&e) || self.orphaned()) && self.follow(ctx).await? => {
                once().await
            }
            r => r,
        }
    }

    /// True when this fd's brick left the volume (remove-brick commit):
    /// its file lives elsewhere now.
    fn orphaned(&self) -> bool {
        let brick = self.brick();
        !self
            .inner
            .vol
            .dht()
            .subvols
            .iter()
            .any(|b| Arc::ptr_eq(b, &brick))
    }

    /// The file left this fd's subvolume (a rebalance moved it): find
    /// where it is now and point the fd there; an opened fd is reopened
    /// there on next use, with its flags minus O_CREAT|O_EXCL|O_TRUNC.
    /// Returns whether it moved.
    pub(crate) async fn follow(&self, ctx: &Ctx) -> Result<bool> {
        let i = &self.inner;
        let dht = i.vol.dht();
        if dht.subvols.len() == 1 || i.is_dir {
            return Ok(false);
        }
        dht.forget(i.gfid);
        let at = dht.cached(ctx, i.gfid).await?;
        let brick = dht.subvols[at].clone();
        let old = {
            let mut r = i.remote.lock();
            if Arc::ptr_eq(&r.brick, &brick) {
                return Ok(false);
            }
            let old = (r.brick.clone(), r.generation, r.fd);
            r.brick = brick.clone();
            // Never opened stays lazy; opened means "reopen on next use".
            if r.generation != 0 {
                r.generation = u64::MAX;
            }
            old
        };
        tracing::info!(gfid = %i.gfid, "file moved to {}", brick.label());
        release_remote(&old.0, i.gfid, false, old.1, old.2).await;
        Ok(true)
    }

    /// A write acknowledged by a source that is being migrated (phase 1)
    /// must reach the destination too, or the rebalance loses it (§8.2).
    /// `protect.writes` also makes the rebalance give up on this file.
    async fn replay_to_destination(&self, ctx: &Ctx, offset: u64, data: Bytes) -> Result<()> {
        use crate::distribute::{as_root, LINKTO_XATTR};
        let root = as_root(ctx);
        let dest = self.fgetxattr(&root, LINKTO_XATTR).await?;
        let dht = self.inner.vol.dht();
        let at = dht.index_of(&dest).ok_or_else(|| {
            Error::errno_msg(
                errno::EIO,
                format!(
                    "file under migration points to unknown subvolume '{}'",
                    String::from_utf8_lossy(&dest)
                ),
            )
        })?;
        let brick = dht.subvols[at].clone();
        let session = brick.session().await?;
        let flags =
            self.inner.flags & !(oflags::CREAT | oflags::EXCL | oflags::TRUNC | oflags::APPEND);
        let gfid = self.inner.gfid;
        let fd = open_remote(&brick, &session, &root, gfid, flags, false).await?;
        let req = WriteReq {
            gfid,
            fd,
            offset,
            size: data.len() as u32,
            flag: flags,
            xdata: GfxDict::new().with("trusted.glusterfs.protect.writes", DictValue::Uint(1)),
        };
        let r = brick.fop_on(&session, ctx, &req, data).await;
        release_remote(&brick, gfid, false, session.generation, fd).await;
        r.map(|_| ())
    }

    /// Reads up to `size` bytes at `offset`; fewer at end of file.
    pub async fn read(&self, ctx: &Ctx, offset: u64, size: usize) -> Result<Bytes> {
        if size <= MAX_IO {
            return self.read_one(ctx, offset, size).await;
        }
        // Large reads go out as concurrent 1 MiB calls.
        let chunks: Vec<_> = (0..size)
            .step_by(MAX_IO)
            .map(|start| {
                let len = MAX_IO.min(size - start);
                self.read_one(ctx, offset + start as u64, len)
            })
            .collect();
        let mut out = BytesMut::with_capacity(size);
        for (part, want) in futures::future::join_all(chunks)
            .await
            .into_iter()
            .zip((0..size).step_by(MAX_IO))
        {
            let part = part?;
            let full = part.len() == MAX_IO.min(size - want);
            out.extend_from_slice(&part);
            if !full {
                break; // end of file
            }
        }
        Ok(out.freeze())
    }

    async fn read_one(&self, ctx: &Ctx, offset: u64, size: usize) -> Result<Bytes> {
        let flag = self.inner.flags;
        let build = |gfid, fd| ReadReq {
            gfid,
            fd,
            offset,
            size: size as u32,
            flag,
            xdata: GfxDict::new(),
        };
        let (rsp, data) = if !self.opened() && self.read_only() {
            let anon = || async {
                let brick = self.brick();
                let session = brick.session().await?;
                let req = build(self.inner.gfid, ANON_FD);
                brick.fop_on(&session, ctx, &req, Bytes::new()).await
            };
            match anon().await {
                Err(e) if (is_moved_error(&e) || self.orphaned()) && self.follow(ctx).await? => {
                    anon().await?
                }
                r => r?,
            }
        } else {
            self.call(ctx, build, Bytes::new()).await?
        };
        if phase(&rsp.stat) == Phase::Moved && self.follow(ctx).await? {
            // A phase-2 source is empty: never return its data.
            return Box::pin(self.read_one(ctx, offset, size)).await;
        }
        let n = (rsp.op_ret as usize).min(data.len()).min(size);
        Ok(data.slice(..n))
    }

    /// Writes `data` at `offset` (at end of file for O_APPEND fds).
    /// Returns the bytes written and the attributes after the write.
    pub async fn write(&self, ctx: &Ctx, offset: u64, data: &[u8]) -> Result<(usize, Iatt)> {
        self.write_bytes(ctx, offset, Bytes::copy_from_slice(data))
            .await
    }

    /// As [`Fd::write`], without copying `data` again on its way out.
    pub async fn write_bytes(&self, ctx: &Ctx, offset: u64, data: Bytes) -> Result<(usize, Iatt)> {
        if data.len() <= MAX_IO || self.inner.flags & oflags::APPEND != 0 {
            return self.write_one(ctx, offset, data).await;
        }
        let parts: Vec<_> = (0..data.len())
            .step_by(MAX_IO)
            .map(|start| {
                let end = (start + MAX_IO).min(data.len());
                self.write_one(ctx, offset + start as u64, data.slice(start..end))
            })
            .collect();
        let mut total = 0;
        let mut last = Iatt::default();
        for r in futures::future::join_all(parts).await {
            let (n, st) = r?;
            total += n;
            if st.size >= last.size {
                last = st;
            }
        }
        Ok((total, last))
    }

    async fn write_one(&self, ctx: &Ctx, offset: u64, data: Bytes) -> Result<(usize, Iatt)> {
        let flag = self.inner.flags;
        let size = data.len() as u32;
        let (rsp, _) = self
            .call(
                ctx,
                |gfid, fd| WriteReq {
                    gfid,
                    fd,
                    offset,
                    size,
                    flag,
                    xdata: GfxDict::new(),
                },
                data.clone(),
            )
            .await?;
        let mut st = rsp.poststat;
        match phase(&st) {
            Phase::Moved if self.follow(ctx).await? => {
                return Box::pin(self.write_one(ctx, offset, data)).await;
            }
            Phase::Copying => {
                self.replay_to_destination(ctx, offset, data).await?;
                crate::distribute::migration::clean(&mut st);
            }
            _ => {}
        }
        Ok((rsp.op_ret as usize, st))
    }

    pub async fn fstat(&self, ctx: &Ctx) -> Result<Iatt> {
        if !self.opened() {
            return self.inner.vol.stat(ctx, self.inner.gfid).await;
        }
        let (rsp, _) = self
            .call(
                ctx,
                |gfid, fd| FstatReq {
                    gfid,
                    fd,
                    xdata: GfxDict::new(),
                },
                Bytes::new(),
            )
            .await?;
        if phase(&rsp.stat) == Phase::Moved && self.follow(ctx).await? {
            return Box::pin(self.fstat(ctx)).await;
        }
        let mut st = rsp.stat;
        crate::distribute::migration::clean(&mut st);
        Ok(st)
    }

    pub async fn ftruncate(&self, ctx: &Ctx, size: u64) -> Result<Iatt> {
        let (rsp, _) = self
            .call(
                ctx,
                |gfid, fd| FtruncateReq {
                    gfid,
                    fd,
                    offset: size,
                    xdata: GfxDict::new(),
                },
                Bytes::new(),
            )
            .await?;
        Ok(rsp.poststat)
    }

    pub async fn fsetattr(&self, ctx: &Ctx, attr: &SetAttr) -> Result<Iatt> {
        let (stbuf, valid) = setattr_args(attr);
        let (rsp, _) = self
            .call(
                ctx,
                |gfid, fd| FsetattrReq {
                    gfid,
                    fd,
                    stbuf,
                    valid,
                    xdata: GfxDict::new(),
                },
                Bytes::new(),
            )
            .await?;
        Ok(rsp.poststat)
    }

    pub async fn fsync(&self, ctx: &Ctx, datasync: bool) -> Result<()> {
        if !self.inner.parts.is_empty() {
            for p in self.inner.parts.iter().flatten() {
                Box::pin(p.fsync(ctx, datasync)).await?;
            }
            return Ok(());
        }
        if self.inner.is_dir {
            self.call(
                ctx,
                |gfid, fd| FsyncdirReq {
                    gfid,
                    fd,
                    datasync: i32::from(datasync),
                    xdata: GfxDict::new(),
                },
                Bytes::new(),
            )
            .await?;
        } else {
            self.call(
                ctx,
                |gfid, fd| FsyncReq {
                    gfid,
                    fd,
                    datasync: u32::from(datasync),
                    xdata: GfxDict::new(),
                },
                Bytes::new(),
            )
            .await?;
        }
        Ok(())
    }

    /// FLUSH: called on every close(2) of a file descriptor; releases the
    /// POSIX locks of `ctx`'s lock owner.
    pub async fn flush(&self, ctx: &Ctx) -> Result<()> {
        if !self.opened() {
            return Ok(()); // never opened: no data, no locks to let go of
        }
        self.call(
            ctx,
            |gfid, fd| FlushReq {
                gfid,
                fd,
                xdata: GfxDict::new(),
            },
            Bytes::new(),
        )
        .await?;
        Ok(())
    }

    /// fallocate(2): `mode` takes FALLOC_FL_* bits. PUNCH_HOLE goes out as
    /// DISCARD and ZERO_RANGE as ZEROFILL, as the official client does.
    pub async fn fallocate(&self, ctx: &Ctx, mode: u32, offset: u64, len: u64) -> Result<Iatt> {
        const KEEP_SIZE: u32 = 0x01;
        const PUNCH_HOLE: u32 = 0x02;
        const ZERO_RANGE: u32 = 0x10;
        let xdata = GfxDict::new;
        let (rsp, _) = if mode & PUNCH_HOLE != 0 {
            if mode & KEEP_SIZE == 0 {
                return Err(Error::errno_msg(
                    errno::EOPNOTSUPP,
                    "PUNCH_HOLE requires KEEP_SIZE",
                ));
            }
            self.call(
                ctx,
                |gfid, fd| DiscardReq {
                    gfid,
                    fd,
                    offset,
                    size: len,
                    xdata: xdata(),
                },
                Bytes::new(),
            )
            .await?
        } else if mode & ZERO_RANGE != 0 {
            let st = self
                .call(
                    ctx,
                    |gfid, fd| ZerofillReq {
                        gfid,
                        fd,
                        offset,
                        size: len,
                        xdata: xdata(),
                    },
                    Bytes::new(),
                )
                .await?;
            // ZEROFILL may extend; KEEP_SIZE with ZERO_RANGE must not.
            if mode & KEEP_SIZE != 0 && st.0.poststat.size > st.0.prestat.size {
                self.ftruncate(ctx, st.0.prestat.size).await?;
            }
            st
        } else {
            self.call(
                ctx,
                |gfid, fd| FallocateReq {
                    gfid,
                    fd,
                    flags: mode,
                    offset,
                    size: len,
                    xdata: xdata(),
                },
                Bytes::new(),
            )
            .await?
        };
        Ok(rsp.poststat)
    }

    /// SEEK_DATA / SEEK_HOLE from `offset`.
    pub async fn seek(&self, ctx: &Ctx, offset: u64, what: i32) -> Result<u64> {
        let (rsp, _) = self
            .call(
                ctx,
                |gfid, fd| SeekReq {
                    gfid,
                    fd,
                    offset,
                    what,
                    xdata: GfxDict::new(),
                },
                Bytes::new(),
            )
            .await?;
        Ok(rsp.offset)
    }

    /// POSIX record lock. The lock owner is `ctx.lk_owner` (it travels in
    /// the credential, which is what the brick uses).
    pub async fn lk(&self, ctx: &Ctx, cmd: u32, flock: &Flock) -> Result<Flock> {
        let mut flock = flock.clone();
        flock.lk_owner.clone_from(&ctx.lk_owner);
        let kind = flock.kind;
        let (rsp, _) = self
            .call(
                ctx,
                |gfid, fd| LkReq {
                    gfid,
                    fd,
                    cmd,
                    kind,
                    flock: flock.clone(),
                    xdata: GfxDict::new(),
                },
                Bytes::new(),
            )
            .await?;
        Ok(rsp.flock)
    }

    /// Copies `len` bytes from this fd at `off_in` to `dst` at `off_out`
    /// on the server. Returns the bytes copied.
    pub async fn copy_file_range(
        &self,
        ctx: &Ctx,
        off_in: u64,
        dst: &Fd,
        off_out: u64,
        len: u32,
    ) -> Result<usize> {
        if !Arc::ptr_eq(&self.brick(), &dst.brick()) {
            return Err(Error::errno_msg(
                errno::EXDEV,
                "files are on different bricks",
            ));
        }
        let (_, fd_out) = dst.remote(ctx).await?;
        let dst_gfid = dst.inner.gfid;
        let (rsp, _) = self
            .call(
                ctx,
                |gfid, fd_in| CopyFileRangeReq {
                    gfid1: gfid,
                    gfid2: dst_gfid,
                    fd_in,
                    fd_out,
                    off_in,
                    off_out,
                    size: len,
                    flag: 0,
                    xdata: GfxDict::new(),
                },
                Bytes::new(),
            )
            .await?;
        Ok(rsp.op_ret as usize)
    }

    pub async fn fsetxattr(&self, ctx: &Ctx, name: &str, value: &[u8], flags: u32) -> Result<()> {
        let dict = GfxDict::new().with(name, DictValue::Ptr(value.to_vec()));
        self.call(
            ctx,
            |gfid, fd| FsetxattrReq {
                gfid,
                fd,
                flags,
                dict: dict.clone(),
                xdata: GfxDict::new(),
            },
            Bytes::new(),
        )
        .await?;
        Ok(())
    }

    pub async fn fgetxattr(&self, ctx: &Ctx, name: &str) -> Result<Vec<u8>> {
        let (rsp, _) = self
            .call(
                ctx,
                |gfid, fd| FgetxattrReq {
                    gfid,
                    fd,
                    namelen: name.len() as u32,
                    name: name.as_bytes().to_vec(),
                    xdata: GfxDict::new(),
                },
                Bytes::new(),
            )
            .await?;
        xattr_value(&rsp.dict, name)
    }

    pub async fn fremovexattr(&self, ctx: &Ctx, name: &str) -> Result<()> {
        self.call(
            ctx,
            |gfid, fd| FremovexattrReq {
                gfid,
                fd,
                name: name.as_bytes().to_vec(),
                xdata: GfxDict::new(),
            },
            Bytes::new(),
        )
        .await?;
        Ok(())
    }

    /// FINODELK: as [`Volume::inodelk`], through this fd.
    pub async fn finodelk(&self, ctx: &Ctx, domain: &str, cmd: u32, flock: &Flock) -> Result<()> {
        let (kind, flock) = (flock.kind, flock.clone());
        self.call(
            ctx,
            |gfid, fd| FinodelkReq {
                gfid,
                fd,
                cmd,
                kind,
                flock: flock.clone(),
                volume: domain.as_bytes().to_vec(),
                xdata: GfxDict::new(),
            },
            Bytes::new(),
        )
        .await?;
        Ok(())
    }

    /// FENTRYLK: as [`Volume::entrylk`], through this directory fd.
    pub async fn fentrylk(
        &self,
        ctx: &Ctx,
        domain: &str,
        name: Option<&[u8]>,
        cmd: u32,
        kind: u32,
    ) -> Result<()> {
        let name = name.unwrap_or_default().to_vec();
        self.call(
            ctx,
            |gfid, fd| FentrylkReq {
                gfid,
                fd,
                cmd,
                kind,
                namelen: name.len() as u64,
                name: name.clone(),
                volume: domain.as_bytes().to_vec(),
                xdata: GfxDict::new(),
            },
            Bytes::new(),
        )
        .await?;
        Ok(())
    }

    /// FXATTROP: as [`Volume::xattrop`], through this fd.
    pub async fn fxattrop(&self, ctx: &Ctx, optype: u32, dict: GfxDict) -> Result<GfxDict> {
        let (rsp, _) = self
            .call(
                ctx,
                |gfid, fd| FxattropReq {
                    gfid,
                    fd,
                    flags: optype,
                    dict: dict.clone(),
                    xdata: GfxDict::new(),
                },
                Bytes::new(),
            )
            .await?;
        Ok(rsp.dict)
    }

    /// Plain READDIR (names only, no attributes) after cookie `offset`.
    pub async fn readdir(&self, ctx: &Ctx, offset: u64, size: u32) -> Result<Vec<DirEntry>> {
        if !self.inner.parts.is_empty() {
            // Over several subvolumes the linkto files must be told apart,
            // which needs their attributes: READDIRP, as upstream does.
            let mut v = self.readdirp(ctx, offset, size).await?;
            for e in &mut v {
                e.stat = None;
            }
            return Ok(v);
        }
        let (rsp, _) = self
            .call(
                ctx,
                |gfid, fd| ReaddirReq {
                    gfid,
                    fd,
                    offset,
                    size,
                    xdata: GfxDict::new(),
                },
                Bytes::new(),
            )
            .await?;
        Ok(rsp
            .entries
            .0
            .into_iter()
            .map(|e| DirEntry {
                name: e.name,
                d_ino: e.d_ino,
                d_off: e.d_off,
                d_type: e.d_type,
                stat: None,
            })
            .collect())
    }

    /// One batch of directory entries after cookie `offset` (0 = start).
    /// An empty batch is the end of the directory.
    pub async fn readdirp(&self, ctx: &Ctx, offset: u64, size: u32) -> Result<Vec<DirEntry>> {
        if !self.inner.parts.is_empty() {
            let dht = self.inner.vol.dht();
            return crate::distribute::readdir::readdirp(
                &dht,
                ctx,
                self.inner.gfid,
                &self.inner.parts,
                offset,
                size,
            )
            .await;
        }
        Ok(self
            .readdirp_raw(ctx, offset, size, GfxDict::new())
            .await?
            .into_iter()
            .map(|e| DirEntry {
                name: e.name,
                d_ino: e.d_ino,
                d_off: e.d_off,
                d_type: e.d_type,
                stat: e.stat.is_valid().then_some(e.stat),
            })
            .collect())
    }

    /// READDIRP on this fd's brick as the brick answers it.
    pub(crate) async fn readdirp_raw(
        &self,
        ctx: &Ctx,
        offset: u64,
        size: u32,
        xdata: GfxDict,
    ) -> Result<Vec<DirPEntry>> {
        let (rsp, _) = self
            .call(
                ctx,
                |gfid, fd| ReaddirpReq {
                    gfid,
                    fd,
                    offset,
                    size,
                    xdata: xdata.clone(),
                },
                Bytes::new(),
            )
            .await?;
        Ok(rsp.entries.0)
    }

    /// Closes the fd on the brick (RELEASE/RELEASEDIR). Idempotent.
    pub async fn release(&self) {
        let i = &self.inner;
        if i.released.swap(true, Ordering::AcqRel) {
            return;
        }
        let (brick, generation, fd) = {
            let r = i.remote.lock();
            (r.brick.clone(), r.generation, r.fd)
        };
        for p in i.parts.iter().flatten() {
            Box::pin(p.release()).await;
        }
        release_remote(&brick, i.gfid, i.is_dir, generation, fd).await;
    }
}

async fn open_remote(
    brick: &Brick,
    session: &Session,
    ctx: &Ctx,
    gfid: Gfid,
    flags: u32,
    is_dir: bool,
) -> Result<i64> {
    let xdata = GfxDict::new();
    let fd = if is_dir {
        brick
            .fop_on(session, ctx, &OpendirReq { gfid, xdata }, Bytes::new())
            .await?
            .0
            .fd
    } else {
        brick
            .fop_on(session, ctx, &OpenReq { gfid, flags, xdata }, Bytes::new())
            .await?
            .0
            .fd
    };
    Ok(fd)
}

/// Errors meaning the inode is not on this subvolume any more.
fn is_moved_error(e: &Error) -> bool {
    matches!(e.errno(), errno::ENOENT | errno::ESTALE | errno::EBADFD)
}
