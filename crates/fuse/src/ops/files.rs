//! Open files: open, create, read, write, flush, release, fsync,
//! fallocate, lseek, copy_file_range.

use super::{entry, fail, Node, Result};
use crate::fs::{FsState, Handle};
use client::{Ctx, Error};
use proto::errno;
use std::sync::Arc;

/// How an open(2) reaches the brick: (truncate first, flags of the open).
/// Every open is lazy (open-behind: the brick sees it on first use).
/// O_TRUNC must take effect now: it goes out as a TRUNCATE, which (unlike
/// an OPEN with O_TRUNC) makes the brick update mtime and ctime.
pub fn open_plan(flags: i32) -> (bool, u32) {
    (flags & libc::O_TRUNC != 0, (flags & !libc::O_TRUNC) as u32)
}

/// OPEN: returns the new handle.
pub async fn open(s: Arc<FsState>, c: Ctx, ino: u64, flags: i32) -> Result<u64> {
    let gfid = s.gfid(ino)?;
    let (truncate, flags) = open_plan(flags);
    if truncate {
        s.settle_with_error(gfid).await?;
        s.vol.truncate(&c, gfid, 0).await?;
    }
    let fd = s.vol.open_lazy(&c, gfid, flags).await?;
    let fh = s.add_handle(Handle::file(fd));
    s.opened_lazily(gfid, fh, c);
    Ok(fh)
}

/// CREATE: the new entry and its open handle.
pub async fn create(
    s: Arc<FsState>,
    c: Ctx,
    parent: u64,
    name: Vec<u8>,
    mode: u32,
    umask: u32,
    flags: i32,
) -> Result<(Node, u64)> {
    let p = s.gfid(parent)?;
    let (fd, e) = s
        .vol
        .create(&c, p, &name, flags as u32, mode, umask)
        .await?;
    s.dir_attrs.changed(p, &e.parent);
    let st = e.stat;
    // A new file has no capabilities: spare the kernel's pre-write check a
    // round trip.
    s.cache_xattr(st.gfid, b"security.capability", None);
    let fh = s.add_handle(Handle::file(fd));
    Ok((entry(&s, st), fh))
}

/// READ, after the file's queued writes.
pub async fn read(
    s: Arc<FsState>,
    c: Ctx,
    fh: u64,
    offset: u64,
    size: u32,
) -> Result<bytes::Bytes> {
    let fd = s.file(fh)?;
    s.settle(fd.gfid()).await;
    fd.read(&c, offset, size as usize).await
}

/// WRITE, through write-behind when the volume and the file allow it.
pub async fn write(
    s: Arc<FsState>,
    c: Ctx,
    fh: u64,
    offset: u64,
    data: bytes::Bytes,
) -> Result<u32> {
    let fd = s.file(fh)?;
    Ok(s.write(c, fd, offset, data).await? as u32)
}

/// FLUSH (each close(2)): lets go of the owner's POSIX locks and reports
/// a write that failed in the background. With flush-behind (the volume's
/// default) it returns at once; the queued writes and the FLUSH finish in
/// the background, holding the handle's closing lock so that RELEASE
/// waits for them.
pub async fn flush(s: Arc<FsState>, c: Ctx, fh: u64, lock_owner: u64) -> Result<()> {
    let fd = s.file(fh)?;
    s.locks.forget_owner(fd.gfid(), lock_owner);
    if let Some(e) = s.wb.as_ref().and_then(|wb| wb.take_error(&fd.gfid())) {
        return Err(e);
    }
    if s.wb_policy.is_some_and(|p| p.flush_behind) {
        let Some(lock) = s.closing_lock(fh) else {
            return fail(errno::EBADF, "no open file");
        };
        let closing = lock.lock_owned().await;
        let flushing = s.locks.flush_started(fd.gfid()).await;
        tokio::spawn(async move {
            let _closing = (closing, flushing);
            if let Err(e) = s.settle_with_error(fd.gfid()).await {
                tracing::warn!("write before close failed: {e}");
            }
            if let Err(e) = fd.flush(&c).await {
                tracing::warn!("background flush failed: {e}");
            }
        });
        return Ok(());
    }
    s.settle_with_error(fd.gfid()).await?;
    fd.flush(&c).await
}

/// RELEASE, answered at once by the caller: drops the locks held through
/// the handle (OFD and flock locks are owned by it), then, after a
/// background FLUSH and the queued writes, releases the fd on the brick.
pub async fn release(s: Arc<FsState>, fh: u64, lock_owner: Option<u64>) {
    if let Some(Handle::File(f)) = s.take_handle(fh) {
        if let Some(o) = lock_owner {
            s.locks.forget_owner(f.fd.gfid(), o);
        }
        let _flushed = f.closing.lock().await;
        s.settle(f.fd.gfid()).await;
        f.fd.release().await;
    }
}

pub async fn fsync(s: Arc<FsState>, c: Ctx, fh: u64, datasync: bool) -> Result<()> {
    let fd = s.file(fh)?;
    s.settle_with_error(fd.gfid()).await?;
    fd.fsync(&c, datasync).await
}

/// FALLOCATE (`mode` in FALLOC_FL_* bits, mapped to FALLOCATE, DISCARD or
/// ZEROFILL by the client), after the queued writes: a hole punched under
/// a write still in flight would be filled again by it.
pub async fn fallocate(
    s: Arc<FsState>,
    c: Ctx,
    fh: u64,
    offset: u64,
    length: u64,
    mode: i32,
) -> Result<()> {
    let fd = s.file(fh)?;
    s.settle_with_error(fd.gfid()).await?;
    fd.fallocate(&c, mode as u32, offset, length)
        .await
        .map(drop)
}

/// What lseek(2) asks of the brick: SEEK_DATA or SEEK_HOLE (the kernel
/// answers the others itself); a negative offset is ENXIO.
pub fn seek_what(whence: i32, offset: i64) -> Result<(i32, u64)> {
    let what = match whence {
        libc::SEEK_DATA => proto::fops::SEEK_DATA,
        libc::SEEK_HOLE => proto::fops::SEEK_HOLE,
        _ => return fail(errno::EINVAL, "lseek: only SEEK_DATA and SEEK_HOLE"),
    };
    if offset < 0 {
        return fail(errno::ENXIO, "lseek: negative offset");
    }
    Ok((what, offset as u64))
}

pub async fn lseek(s: Arc<FsState>, c: Ctx, fh: u64, offset: i64, whence: i32) -> Result<i64> {
    let (what, offset) = seek_what(whence, offset)?;
    let fd = s.file(fh)?;
    s.settle(fd.gfid()).await;
    Ok(fd.seek(&c, offset, what).await? as i64)
}

/// One COPY_FILE_RANGE call copies at most this much (page-aligned).
pub fn copy_len(len: u64) -> u32 {
    len.min(0xFFFF_F000) as u32
}

pub async fn copy_file_range(
    s: Arc<FsState>,
    c: Ctx,
    (fh_in, offset_in): (u64, u64),
    (fh_out, offset_out): (u64, u64),
    len: u64,
) -> Result<u32> {
    let (src, dst) = (s.file(fh_in)?, s.file(fh_out)?);
    s.settle(src.gfid()).await;
    s.settle_with_error(dst.gfid()).await?;
    let n = src
        .copy_file_range(&c, offset_in, &dst, offset_out, copy_len(len))
        .await?;
    u32::try_from(n).map_err(|_| Error::errno_msg(errno::EIO, "copy_file_range: bad count"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_truncates_through_truncate() {
        let (t, f) = open_plan(libc::O_WRONLY | libc::O_TRUNC);
        assert!(t);
        assert_eq!(f, libc::O_WRONLY as u32);
        let (t, f) = open_plan(libc::O_RDWR | libc::O_APPEND);
        assert!(!t);
        assert_eq!(f, (libc::O_RDWR | libc::O_APPEND) as u32);
    }

    #[test]
    fn seek_and_copy_limits() {
        assert_eq!(
            seek_what(libc::SEEK_DATA, 7).unwrap(),
            (proto::fops::SEEK_DATA, 7)
        );
        assert_eq!(
            seek_what(libc::SEEK_SET, 0).unwrap_err().errno(),
            errno::EINVAL
        );
        assert_eq!(
            seek_what(libc::SEEK_HOLE, -1).unwrap_err().errno(),
            errno::ENXIO
        );
        assert_eq!(copy_len(u64::MAX), 0xFFFF_F000);
        assert_eq!(copy_len(5), 5);
    }
}
