//! Open files as posix serves them: OPEN/OPENDIR, READ (short at the end,
//! op_errno ENOENT when the end is reached), WRITE (O_APPEND at the end),
//! TRUNCATE, FALLOCATE/DISCARD/ZEROFILL, SEEK, COPY_FILE_RANGE, and
//! directory listings with resumable cookies, "." and "..", and the last
//! batch flagged with op_errno ENOENT.

use super::state::{Inode, Kind, State, DOT, DOTDOT, R};
use bytes::Bytes;
use proto::dict::GfxDict;
use proto::errno;
use proto::fops::*;
use proto::iatt::{Iatt, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};
use proto::Gfid;

/// Largest READ served (a bigger one would be a translator bug; the
/// brick's own limit is its iobuf size).
pub(super) const MAX_READ: u32 = 64 << 20;
/// What one listed entry costs of a READDIR(P) `size`, as posix counts it:
/// sizeof(gf_dirent_t) on x86_64, plus the name and its NUL (a 1024-byte
/// READDIRP of 6-letter names gets 4 entries, fixtures READDIRP.page1).
const DIRENT_COST: usize = 208;

const FALLOC_FL_KEEP_SIZE: u32 = 0x01;
const FALLOC_FL_PUNCH_HOLE: u32 = 0x02;
const FALLOC_FL_ZERO_RANGE: u32 = 0x10;

fn d_type(mode: u32) -> u32 {
    match mode & S_IFMT {
        S_IFDIR => 4,
        S_IFREG => 8,
        S_IFLNK => 10,
        S_IFCHR => 2,
        S_IFBLK => 6,
        S_IFIFO => 1,
        S_IFSOCK => 12,
        _ => 0,
    }
}

fn two(prestat: Iatt, poststat: Iatt) -> TwoIattRsp {
    TwoIattRsp {
        op_ret: 0,
        op_errno: 0,
        xdata: GfxDict::new(),
        prestat,
        poststat,
    }
}

/// One listed entry: name, cookie, inode (zero: outside the brick), stat.
pub(super) struct Listed {
    pub name: Vec<u8>,
    pub cookie: u64,
    pub gfid: Gfid,
    pub stat: Iatt,
}

impl State {
    pub fn open(&mut self, g: Gfid, flags: u32, is_dir: bool) -> R<u64> {
        let write = flags & oflags::ACCMODE != oflags::RDONLY;
        let i = self.live_mut(g)?;
        match (&mut i.kind, is_dir) {
            (Kind::Dir(_), false) if write => return Err(errno::EISDIR),
            (Kind::Dir(_), _) => {}
            (_, true) => return Err(errno::ENOTDIR),
            (Kind::Symlink(_), false) => return Err(errno::ELOOP),
            (Kind::File(c), false) => {
                if flags & oflags::TRUNC != 0 && write {
                    c.truncate(0)?;
                    i.changed();
                }
            }
            (Kind::Special, false) => {}
        }
        self.add_fd(g, flags)
    }

    /// The inode and open flags of brick fd `n`.
    pub fn fd_of(&self, n: u64) -> R<(Gfid, u32)> {
        let f = self.fds.get(&n).ok_or(errno::EBADF)?;
        Ok((f.gfid, f.flags))
    }

    fn file_mut(&mut self, g: Gfid) -> R<&mut Inode> {
        let i = self.inodes.get_mut(&g).ok_or(errno::ESTALE)?;
        match i.kind {
            Kind::File(_) => Ok(i),
            Kind::Dir(_) => Err(errno::EISDIR),
            _ => Err(errno::EINVAL),
        }
    }

    /// The writable file of fd `n` (EBADF for a read-only fd).
    fn writable(&self, n: u64) -> R<Gfid> {
        let (g, flags) = self.fd_of(n)?;
        if flags & oflags::ACCMODE == oflags::RDONLY {
            return Err(errno::EBADF);
        }
        Ok(g)
    }

    /// READ of inode `g` (through a brick fd or the anonymous fd).
    pub fn read(&mut self, g: Gfid, off: u64, size: u32) -> R<(ReadRsp, Bytes)> {
        if size > MAX_READ {
            return Err(errno::EINVAL);
        }
        let c = self.file_mut(g)?.content().ok_or(errno::EINVAL)?;
        let (data, size_now) = (c.read(off, u64::from(size)), c.size);
        let n = data.len() as u64;
        let eof = off.saturating_add(n) >= size_now;
        let len = u32::try_from(n).unwrap_or(u32::MAX);
        Ok((
            ReadRsp {
                op_ret: i32::try_from(n).unwrap_or(i32::MAX),
                op_errno: if eof { errno::ENOENT } else { 0 },
                stat: self.iatt(g),
                size: len,
                xdata: GfxDict::new(),
            },
            Bytes::from(data),
        ))
    }

    pub fn read_fd(&mut self, n: u64, off: u64, size: u32) -> R<(ReadRsp, Bytes)> {
        let (g, flags) = self.fd_of(n)?;
        if flags & oflags::ACCMODE == oflags::WRONLY {
            return Err(errno::EBADF);
        }
        self.read(g, off, size)
    }

    pub fn write(&mut self, n: u64, off: u64, data: &[u8]) -> R<TwoIattRsp> {
        let g = self.writable(n)?;
        let append = self.fd_of(n)?.1 & oflags::APPEND != 0;
        let pre = self.iatt(g);
        let i = self.file_mut(g)?;
        let c = i.content_mut().ok_or(errno::EINVAL)?;
        let at = if append { c.size } else { off };
        c.write(at, data)?;
        i.changed();
        let mut r = two(pre, self.iatt(g));
        r.op_ret = i32::try_from(data.len()).unwrap_or(i32::MAX);
        Ok(r)
    }

    /// TRUNCATE of inode `g`, or FTRUNCATE (`fd` given: must be writable,
    /// else EINVAL as ftruncate(2) says).
    pub fn truncate(&mut self, g: Gfid, fd: Option<u64>, size: u64) -> R<TwoIattRsp> {
        if let Some(n) = fd {
            self.writable(n).map_err(|_| errno::EINVAL)?;
        }
        let pre = self.iatt(g);
        let i = self.file_mut(g)?;
        i.content_mut().ok_or(errno::EINVAL)?.truncate(size)?;
        i.changed();
        Ok(two(pre, self.iatt(g)))
    }

    /// FALLOCATE (`mode` FALLOC_FL_*), DISCARD (`Punch`) and ZEROFILL.
    pub fn space_op(&mut self, n: u64, op: SpaceOp, off: u64, len: u64) -> R<TwoIattRsp> {
        let g = self.writable(n)?;
        let pre = self.iatt(g);
        let i = self.file_mut(g)?;
        let c = i.content_mut().ok_or(errno::EINVAL)?;
        match op {
            SpaceOp::Fallocate(mode) => {
                if len == 0 {
                    return Err(errno::EINVAL);
                }
                let keep = mode & FALLOC_FL_KEEP_SIZE != 0;
                match mode & !FALLOC_FL_KEEP_SIZE {
                    0 => c.allocate(off, len, keep)?,
                    FALLOC_FL_PUNCH_HOLE if keep => c.punch(off, len),
                    FALLOC_FL_ZERO_RANGE => {
                        let end = if keep {
                            off.saturating_add(len).min(c.size)
                        } else {
                            off.saturating_add(len)
                        };
                        c.zero(off, end.saturating_sub(off))?;
                    }
                    _ => return Err(errno::EOPNOTSUPP),
                }
            }
            SpaceOp::Punch => c.punch(off, len),
            SpaceOp::Zero => c.zero(off, len)?,
        }
        i.changed();
        Ok(two(pre, self.iatt(g)))
    }

    /// SEEK: `what` 0 = SEEK_DATA, 1 = SEEK_HOLE (gf_seek_what_t).
    pub fn seek(&self, n: u64, off: u64, what: i32) -> R<u64> {
        let (g, _) = self.fd_of(n)?;
        let c = self
            .inodes
            .get(&g)
            .and_then(Inode::content)
            .ok_or(errno::EINVAL)?;
        match what {
            SEEK_DATA => c.seek_data(off),
            SEEK_HOLE => c.seek_hole(off),
            _ => Err(errno::EINVAL),
        }
    }

    pub fn copy_file_range(
        &mut self,
        fd_in: u64,
        off_in: u64,
        fd_out: u64,
        off_out: u64,
        len: u32,
    ) -> R<ThreeIattRsp> {
        let (gin, fin) = self.fd_of(fd_in)?;
        if fin & oflags::ACCMODE == oflags::WRONLY {
            return Err(errno::EBADF);
        }
        let gout = self.writable(fd_out)?;
        if self.fd_of(fd_out)?.1 & oflags::APPEND != 0 {
            return Err(errno::EBADF);
        }
        let len = u64::from(len);
        if gin == gout
            && off_in < off_out.saturating_add(len)
            && off_out < off_in.saturating_add(len)
        {
            return Err(errno::EINVAL);
        }
        let src = self.file_mut(gin)?.content().ok_or(errno::EINVAL)?.clone();
        let pre = self.iatt(gout);
        let o = self.file_mut(gout)?;
        let n = o
            .content_mut()
            .ok_or(errno::EINVAL)?
            .copy_from(&src, off_in, len, off_out)?;
        if n > 0 {
            o.changed();
        }
        Ok(ThreeIattRsp {
            op_ret: i32::try_from(n).unwrap_or(i32::MAX),
            op_errno: 0,
            xdata: GfxDict::new(),
            stat: self.iatt(gin),
            preparent: pre,
            postparent: self.iatt(gout),
        })
    }

    /// The entries of directory fd `n` after cookie `off` that fit in
    /// `size`, and whether they reach the end.
    pub fn listing(&self, n: u64, off: u64, size: u32) -> R<(Vec<Listed>, bool)> {
        let (g, _) = self.fd_of(n)?;
        let d = self
            .inodes
            .get(&g)
            .and_then(Inode::dir)
            .ok_or(errno::ENOTDIR)?;
        if d.removed {
            return Ok((Vec::new(), true));
        }
        let dots = [(DOT, &b"."[..], g), (DOTDOT, &b".."[..], d.parent)];
        let all = dots
            .into_iter()
            .chain(d.by_cookie.iter().filter_map(|(c, name)| {
                d.entries.get(name).map(|(g, _)| (*c, name.as_slice(), *g))
            }))
            .filter(|(c, _, _)| *c > off);
        let mut out = Vec::new();
        let mut filled = 0usize;
        let mut eof = true;
        for (cookie, name, child) in all {
            let cost = DIRENT_COST + name.len() + 1;
            if filled + cost > size as usize {
                eof = false;
                break;
            }
            filled += cost;
            let outside = g.is_root() && name == b"..";
            out.push(Listed {
                name: name.to_vec(),
                cookie,
                gfid: if outside { Gfid::ZERO } else { child },
                stat: if outside {
                    self.outside_root()
                } else {
                    self.iatt(child)
                },
            });
        }
        Ok((out, eof))
    }

    pub fn readdir(&self, n: u64, off: u64, size: u32) -> R<ReaddirRsp> {
        let (list, eof) = self.listing(n, off, size)?;
        let entries: Vec<DirEntry> = list
            .into_iter()
            .map(|e| DirEntry {
                d_ino: e.stat.ino,
                d_off: e.cookie,
                d_type: d_type(e.stat.mode),
                name: e.name,
            })
            .collect();
        Ok(ReaddirRsp {
            op_ret: i32::try_from(entries.len()).unwrap_or(i32::MAX),
            op_errno: if eof { errno::ENOENT } else { 0 },
            xdata: GfxDict::new(),
            entries: DirList(entries),
        })
    }

    /// READDIRP: each entry with its stat and the xattrs `xdata` asks for.
    pub fn readdirp(&self, n: u64, off: u64, size: u32, xdata: &GfxDict) -> R<ReaddirpRsp> {
        let (list, eof) = self.listing(n, off, size)?;
        let entries: Vec<DirPEntry> = list
            .into_iter()
            .map(|e| DirPEntry {
                d_ino: e.stat.ino,
                d_off: e.cookie,
                d_type: d_type(e.stat.mode),
                dict: if e.gfid.is_zero() {
                    GfxDict::new()
                } else {
                    self.fill(e.gfid, xdata)
                },
                name: e.name,
                stat: e.stat,
            })
            .collect();
        Ok(ReaddirpRsp {
            op_ret: i32::try_from(entries.len()).unwrap_or(i32::MAX),
            op_errno: if eof { errno::ENOENT } else { 0 },
            xdata: GfxDict::new(),
            entries: DirPList(entries),
        })
    }
}

/// The space fops sharing one path.
#[derive(Clone, Copy, Debug)]
pub(super) enum SpaceOp {
    Fallocate(u32),
    Punch,
    Zero,
}
