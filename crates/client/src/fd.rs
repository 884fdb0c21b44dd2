//! Open file and directory handles of the library API.
//!
//! An `Fd` is a graph fd ([`FdObj`]) and the volume: every call goes in at
//! the top of the graph in use, and each translator keeps what it needs
//! to know about the fd (the brick's fd number, the subvolume a file is
//! on) in the fd itself. Dropping the last clone releases it.

use crate::error::{Error, Result};
use crate::volume::{on_graph, Ctx, DirEntry, Volume};
use crate::xlator::FdRef;
use bytes::{Bytes, BytesMut};
use proto::dict::GfxDict;
use proto::errno;
use proto::fops::*;
use proto::iatt::{Flock, Iatt};
use proto::Gfid;

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

/// An open file or directory. Cheap to clone; `release()` closes it on
/// the bricks (dropping the last clone without it releases in the
/// background when a runtime is available).
#[derive(Clone)]
pub struct Fd {
    vol: Volume,
    fd: FdRef,
}

impl std::fmt::Debug for Fd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fd({})", self.fd.gfid())
    }
}

impl Fd {
    pub(crate) fn new(vol: Volume, fd: FdRef) -> Fd {
        Fd { vol, fd }
    }

    pub fn gfid(&self) -> Gfid {
        self.fd.gfid()
    }

    pub fn volume(&self) -> &Volume {
        &self.vol
    }

    /// GlusterFS open flags of this fd.
    pub fn flags(&self) -> u32 {
        self.fd.flags
    }

    pub(crate) fn fd_ref(&self) -> &FdRef {
        &self.fd
    }

    /// Makes sure a lazily opened fd exists on the bricks now (before the
    /// file's last name goes away, for example). Other fds are open
    /// already.
    pub async fn open_now(&self, ctx: &Ctx) -> Result<()> {
        if !self.fd.lazy {
            return Ok(());
        }
        self.vol.top().open(ctx, &self.fd, GfxDict::new()).await
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
        let (rsp, data) = on_graph!(self.vol, |top| top.read(
            ctx,
            &self.fd,
            offset,
            size as u32,
            GfxDict::new()
        ))
        .await?;
        let n = (rsp.op_ret.max(0) as usize).min(data.len()).min(size);
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
        if data.len() <= MAX_IO || self.fd.flags & oflags::APPEND != 0 {
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
        let data = &data;
        let rsp = on_graph!(self.vol, |top| top.write(
            ctx,
            &self.fd,
            offset,
            data.clone(),
            GfxDict::new()
        ))
        .await?;
        Ok((rsp.op_ret.max(0) as usize, rsp.poststat))
    }

    pub async fn fsync(&self, ctx: &Ctx, datasync: bool) -> Result<()> {
        on_graph!(self.vol, |top| top.fsync(
            ctx,
            &self.fd,
            datasync,
            GfxDict::new()
        ))
        .await
    }

    /// FLUSH: called on every close(2) of a file descriptor; releases the
    /// POSIX locks of `ctx`'s lock owner.
    pub async fn flush(&self, ctx: &Ctx) -> Result<()> {
        on_graph!(self.vol, |top| top.flush(ctx, &self.fd, GfxDict::new())).await
    }

    /// fallocate(2): `mode` takes FALLOC_FL_* bits. PUNCH_HOLE goes out as
    /// DISCARD and ZERO_RANGE as ZEROFILL, as the official client does.
    pub async fn fallocate(&self, ctx: &Ctx, mode: u32, offset: u64, len: u64) -> Result<Iatt> {
        const KEEP_SIZE: u32 = 0x01;
        const PUNCH_HOLE: u32 = 0x02;
        const ZERO_RANGE: u32 = 0x10;
        let (top, fd, x) = (self.vol.top(), &self.fd, GfxDict::new());
        let rsp = if mode & PUNCH_HOLE != 0 {
            if mode & KEEP_SIZE == 0 {
                return Err(Error::errno_msg(
                    errno::EOPNOTSUPP,
                    "PUNCH_HOLE requires KEEP_SIZE",
                ));
            }
            top.discard(ctx, fd, offset, len, x).await?
        } else if mode & ZERO_RANGE != 0 {
            let r = top.zerofill(ctx, fd, offset, len, x).await?;
            // ZEROFILL may extend; KEEP_SIZE with ZERO_RANGE must not.
            if mode & KEEP_SIZE != 0 && r.poststat.size > r.prestat.size {
                self.ftruncate(ctx, r.prestat.size).await?;
            }
            r
        } else {
            top.fallocate(ctx, fd, mode, offset, len, x).await?
        };
        Ok(rsp.poststat)
    }

    /// SEEK_DATA / SEEK_HOLE from `offset`.
    pub async fn seek(&self, ctx: &Ctx, offset: u64, what: i32) -> Result<u64> {
        let r = on_graph!(self.vol, |top| top.seek(
            ctx,
            &self.fd,
            offset,
            what,
            GfxDict::new()
        ))
        .await?;
        Ok(r.offset)
    }

    /// POSIX record lock. The lock owner is `ctx.lk_owner` (it travels in
    /// the credential, which is what the brick uses).
    pub async fn lk(&self, ctx: &Ctx, cmd: u32, flock: &Flock) -> Result<Flock> {
        let mut flock = flock.clone();
        flock.lk_owner.clone_from(&ctx.lk_owner);
        let top = self.vol.top();
        let r = top.lk(ctx, &self.fd, cmd, &flock, GfxDict::new()).await?;
        Ok(r.flock)
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
        let top = self.vol.top();
        let r = top
            .copy_file_range(ctx, &self.fd, off_in, &dst.fd, off_out, len, GfxDict::new())
            .await?;
        Ok(r.op_ret.max(0) as usize)
    }

    /// Plain READDIR (names only, no attributes) after cookie `offset`.
    pub async fn readdir(&self, ctx: &Ctx, offset: u64, size: u32) -> Result<Vec<DirEntry>> {
        let r = on_graph!(self.vol, |top| top.readdir(
            ctx,
            &self.fd,
            offset,
            size,
            GfxDict::new()
        ))
        .await?;
        Ok(r.entries
            .0
            .into_iter()
            .map(|e| dir_entry(e.name, e.d_ino, e.d_off, e.d_type, None))
            .collect())
    }

    /// One batch of directory entries after cookie `offset` (0 = start).
    /// An empty batch is the end of the directory.
    pub async fn readdirp(&self, ctx: &Ctx, offset: u64, size: u32) -> Result<Vec<DirEntry>> {
        let r = on_graph!(self.vol, |top| top.readdirp(
            ctx,
            &self.fd,
            offset,
            size,
            GfxDict::new()
        ))
        .await?;
        Ok(r.entries
            .0
            .into_iter()
            .map(|e| {
                let stat = e.stat.is_valid().then_some(e.stat);
                dir_entry(e.name, e.d_ino, e.d_off, e.d_type, stat)
            })
            .collect())
    }

    /// Closes the fd on the bricks (RELEASE/RELEASEDIR). Idempotent.
    pub async fn release(&self) {
        self.fd.release().await;
    }
}

fn dir_entry(name: Vec<u8>, d_ino: u64, d_off: u64, d_type: u32, stat: Option<Iatt>) -> DirEntry {
    DirEntry {
        name,
        d_ino,
        d_off,
        d_type,
        stat,
    }
}
