//! POSIX record locks: getlk, setlk, and the conversion between the
//! kernel's inclusive ranges and GlusterFS's start and length.

use super::Result;
use crate::fs::FsState;
use client::Ctx;
use proto::iatt::{lock, Flock};
use std::sync::Arc;

/// A lock request as the kernel sends it: [start, end] inclusive (end =
/// OFFSET_MAX for "to EOF"), F_RDLCK/F_WRLCK/F_UNLCK, and the pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockRange {
    pub start: u64,
    pub end: u64,
    pub typ: i32,
    pub pid: u32,
}

/// The kernel's request as a GlusterFS flock (start and length, 0 = to
/// EOF).
pub fn to_flock(r: LockRange) -> Flock {
    let kind = match r.typ {
        libc::F_RDLCK => lock::RDLCK,
        libc::F_WRLCK => lock::WRLCK,
        _ => lock::UNLCK,
    };
    let len = if r.end >= i64::MAX as u64 {
        0
    } else {
        r.end.saturating_sub(r.start) + 1
    };
    Flock {
        kind,
        whence: 0,
        start: r.start,
        len,
        pid: r.pid,
        lk_owner: Vec::new(),
    }
}

/// A GlusterFS flock as the kernel wants it.
pub fn from_flock(f: &Flock) -> LockRange {
    let (start, end) = if f.len == 0 {
        (f.start, i64::MAX as u64)
    } else {
        (f.start, f.start.saturating_add(f.len - 1))
    };
    let typ = match f.kind {
        lock::RDLCK => libc::F_RDLCK,
        lock::WRLCK => libc::F_WRLCK,
        _ => libc::F_UNLCK,
    };
    LockRange {
        start,
        end,
        typ,
        pid: f.pid,
    }
}

/// GETLK: the lock that would conflict, or F_UNLCK.
pub async fn getlk(s: Arc<FsState>, c: Ctx, fh: u64, r: LockRange) -> Result<LockRange> {
    let fd = s.file(fh)?;
    s.locks.after_flushes(fd.gfid()).await;
    let f = fd.lk(&c, lock::GETLK, &to_flock(r)).await?;
    Ok(from_flock(&f))
}

/// SETLK/SETLKW for lock owner `owner`. Unlocking a range no owner here
/// holds is answered without a round trip (see [`crate::locks`]).
pub async fn setlk(
    s: Arc<FsState>,
    c: Ctx,
    fh: u64,
    owner: u64,
    r: LockRange,
    sleep: bool,
) -> Result<()> {
    let flock = to_flock(r);
    let cmd = if sleep { lock::SETLKW } else { lock::SETLK };
    let fd = s.file(fh)?;
    let gfid = fd.gfid();
    if flock.kind == lock::UNLCK && !s.locks.may_hold(gfid, owner, r.start, r.end) {
        return Ok(()); // nothing of ours to unlock there
    }
    s.locks.after_flushes(gfid).await;
    fd.lk(&c, cmd, &flock).await?;
    if flock.kind == lock::UNLCK {
        s.locks.released(gfid, owner, r.start, r.end);
    } else {
        s.locks.granted(gfid, owner, r.start, r.end);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_ranges() {
        let r = |start, end, typ| LockRange {
            start,
            end,
            typ,
            pid: 7,
        };
        let f = to_flock(r(10, u64::MAX, libc::F_WRLCK));
        assert_eq!((f.start, f.len, f.kind, f.pid), (10, 0, lock::WRLCK, 7));
        assert_eq!(from_flock(&f), r(10, i64::MAX as u64, libc::F_WRLCK));
        let f = to_flock(r(10, 14, libc::F_RDLCK));
        assert_eq!((f.start, f.len, f.kind), (10, 5, lock::RDLCK));
        assert_eq!(from_flock(&f), r(10, 14, libc::F_RDLCK));
        assert_eq!(to_flock(r(0, 0, libc::F_UNLCK)).kind, lock::UNLCK);
    }
}
