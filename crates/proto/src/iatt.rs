//! Attribute structures: `gfx_iattx` (148 bytes), `gf_statfs`,
//! `gf_proto_flock`, the mdata times and the old 3.3 `gf_iatt` used by
//! cache-invalidation callbacks (PROTOCOL.md 6.3).

use crate::Gfid;
use xdr::xdr_struct;

xdr_struct! {
    /// `gfx_iattx`: the v400 stat structure. A zero `gfid` means "no usable
    /// stat" even when other fields are filled (`..` of the brick root).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct Iatt {
        pub gfid: Gfid,
        pub flags: u64,
        pub ino: u64,
        pub dev: u64,
        /// Device number as (major << 32) | minor.
        pub rdev: u64,
        pub size: u64,
        pub blocks: u64,
        pub attributes: u64,
        pub attributes_mask: u64,
        pub atime: i64,
        pub mtime: i64,
        pub ctime: i64,
        pub btime: i64,
        pub atime_nsec: u32,
        pub mtime_nsec: u32,
        pub ctime_nsec: u32,
        pub btime_nsec: u32,
        pub nlink: u32,
        pub uid: u32,
        pub gid: u32,
        pub blksize: u32,
        pub mode: u32,
    }
}

/// Encoded size of [`Iatt`].
pub const IATT_SIZE: usize = 148;

pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFIFO: u32 = 0o010000;
pub const S_IFSOCK: u32 = 0o140000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFBLK: u32 = 0o060000;

impl Iatt {
    /// True when the brick filled this iatt (tests the gfid, never the
    /// whole structure: PROTOCOL.md 6.2).
    pub fn is_valid(&self) -> bool {
        !self.gfid.is_zero()
    }

    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }

    pub fn is_dir(&self) -> bool {
        self.file_type() == S_IFDIR
    }

    pub fn is_reg(&self) -> bool {
        self.file_type() == S_IFREG
    }

    pub fn is_symlink(&self) -> bool {
        self.file_type() == S_IFLNK
    }

    pub fn perm(&self) -> u32 {
        self.mode & 0o7777
    }
}

/// SETATTR/FSETATTR `valid` bits.
pub mod valid {
    pub const MODE: i32 = 0x1;
    pub const UID: i32 = 0x2;
    pub const GID: i32 = 0x4;
    pub const ATIME: i32 = 0x10;
    pub const MTIME: i32 = 0x20;
    pub const CTIME: i32 = 0x40;
    pub const ATIME_NOW: i32 = 0x80;
    pub const MTIME_NOW: i32 = 0x100;
}

xdr_struct! {
    /// `gf_statfs`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct Statfs {
        pub bsize: u64,
        pub frsize: u64,
        pub blocks: u64,
        pub bfree: u64,
        pub bavail: u64,
        pub files: u64,
        pub ffree: u64,
        pub favail: u64,
        pub fsid: u64,
        pub flag: u64,
        pub namemax: u64,
    }
}

xdr_struct! {
    /// `gf_proto_flock`. `kind`: 0 RDLCK, 1 WRLCK, 2 UNLCK. `whence`: 0 SET.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct Flock {
        pub kind: u32,
        pub whence: u32,
        pub start: u64,
        pub len: u64,
        pub pid: u32,
        pub lk_owner: Vec<u8>,
    }
}

pub mod lock {
    pub const RDLCK: u32 = 0;
    pub const WRLCK: u32 = 1;
    pub const UNLCK: u32 = 2;
    /// LK/INODELK commands.
    pub const GETLK: u32 = 0;
    pub const SETLK: u32 = 1;
    pub const SETLKW: u32 = 2;
    /// ENTRYLK commands.
    pub const ENTRYLK_LOCK: u32 = 0;
    pub const ENTRYLK_UNLOCK: u32 = 1;
    pub const ENTRYLK_LOCK_NB: u32 = 2;
}

xdr_struct! {
    /// `gfx_mdata_iatt`: the MDATA dict value (times only).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct Mdata {
        pub atime: i64,
        pub mtime: i64,
        pub ctime: i64,
        pub atime_nsec: u32,
        pub mtime_nsec: u32,
        pub ctime_nsec: u32,
    }
}

xdr_struct! {
    /// The old 3.3 `gf_iatt` (100 bytes), still used by the
    /// cache-invalidation callback on v400 connections.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct OldIatt {
        pub gfid: Gfid,
        pub ino: u64,
        pub dev: u64,
        pub mode: u32,
        pub nlink: u32,
        pub uid: u32,
        pub gid: u32,
        pub rdev: u64,
        pub size: u64,
        pub blksize: u32,
        pub blocks: u64,
        pub atime: u32,
        pub atime_nsec: u32,
        pub mtime: u32,
        pub mtime_nsec: u32,
        pub ctime: u32,
        pub ctime_nsec: u32,
    }
}

xdr_struct! {
    /// `gf_proto_lease`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct Lease {
        pub cmd: u32,
        pub lease_type: u32,
        pub lease_id: Gfid,
        pub lease_flags: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xdr::Xdr;

    #[test]
    fn sizes_match_the_wire() {
        assert_eq!(Iatt::default().to_xdr().len(), IATT_SIZE);
        assert_eq!(OldIatt::default().to_xdr().len(), 100);
        assert_eq!(Mdata::default().to_xdr().len(), 36);
        assert_eq!(Statfs::default().to_xdr().len(), 88);
    }
}
