//! The gfx (v400) file-operation program: procedure numbers, request
//! structures and reply families (PROTOCOL.md 6). Requests end with their
//! `xdata` dict; WRITE is followed by its raw payload and READ replies by
//! theirs, outside XDR.

use crate::dict::GfxDict;
use crate::iatt::{Flock, Iatt, Lease, Statfs};
use crate::Gfid;
use xdr::{xdr_struct, Decoder, Encoder, Result, Xdr};

/// Procedure numbers (`enum gf_fop_procnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Fop {
    Stat = 1,
    Readlink = 2,
    Mknod = 3,
    Mkdir = 4,
    Unlink = 5,
    Rmdir = 6,
    Symlink = 7,
    Rename = 8,
    Link = 9,
    Truncate = 10,
    Open = 11,
    Read = 12,
    Write = 13,
    Statfs = 14,
    Flush = 15,
    Fsync = 16,
    Setxattr = 17,
    Getxattr = 18,
    Removexattr = 19,
    Opendir = 20,
    Fsyncdir = 21,
    Access = 22,
    Create = 23,
    Ftruncate = 24,
    Fstat = 25,
    Lk = 26,
    Lookup = 27,
    Readdir = 28,
    Inodelk = 29,
    Finodelk = 30,
    Entrylk = 31,
    Fentrylk = 32,
    Xattrop = 33,
    Fxattrop = 34,
    Fgetxattr = 35,
    Fsetxattr = 36,
    Rchecksum = 37,
    Setattr = 38,
    Fsetattr = 39,
    Readdirp = 40,
    Release = 41,
    Releasedir = 42,
    Fremovexattr = 43,
    Fallocate = 44,
    Discard = 45,
    Zerofill = 46,
    Ipc = 47,
    Seek = 48,
    Lease = 50,
    Getactivelk = 51,
    CopyFileRange = 56,
}

impl Fop {
    pub fn name(self) -> &'static str {
        match self {
            Fop::Stat => "STAT",
            Fop::Readlink => "READLINK",
            Fop::Mknod => "MKNOD",
            Fop::Mkdir => "MKDIR",
            Fop::Unlink => "UNLINK",
            Fop::Rmdir => "RMDIR",
            Fop::Symlink => "SYMLINK",
            Fop::Rename => "RENAME",
            Fop::Link => "LINK",
            Fop::Truncate => "TRUNCATE",
            Fop::Open => "OPEN",
            Fop::Read => "READ",
            Fop::Write => "WRITE",
            Fop::Statfs => "STATFS",
            Fop::Flush => "FLUSH",
            Fop::Fsync => "FSYNC",
            Fop::Setxattr => "SETXATTR",
            Fop::Getxattr => "GETXATTR",
            Fop::Removexattr => "REMOVEXATTR",
            Fop::Opendir => "OPENDIR",
            Fop::Fsyncdir => "FSYNCDIR",
            Fop::Access => "ACCESS",
            Fop::Create => "CREATE",
            Fop::Ftruncate => "FTRUNCATE",
            Fop::Fstat => "FSTAT",
            Fop::Lk => "LK",
            Fop::Lookup => "LOOKUP",
            Fop::Readdir => "READDIR",
            Fop::Inodelk => "INODELK",
            Fop::Finodelk => "FINODELK",
            Fop::Entrylk => "ENTRYLK",
            Fop::Fentrylk => "FENTRYLK",
            Fop::Xattrop => "XATTROP",
            Fop::Fxattrop => "FXATTROP",
            Fop::Fgetxattr => "FGETXATTR",
            Fop::Fsetxattr => "FSETXATTR",
            Fop::Rchecksum => "RCHECKSUM",
            Fop::Setattr => "SETATTR",
            Fop::Fsetattr => "FSETATTR",
            Fop::Readdirp => "READDIRP",
            Fop::Release => "RELEASE",
            Fop::Releasedir => "RELEASEDIR",
            Fop::Fremovexattr => "FREMOVEXATTR",
            Fop::Fallocate => "FALLOCATE",
            Fop::Discard => "DISCARD",
            Fop::Zerofill => "ZEROFILL",
            Fop::Ipc => "IPC",
            Fop::Seek => "SEEK",
            Fop::Lease => "LEASE",
            Fop::Getactivelk => "GETACTIVELK",
            Fop::CopyFileRange => "COPY_FILE_RANGE",
        }
    }
}

/// A request: its procedure and its arguments.
pub trait FopRequest: Xdr {
    const FOP: Fop;
    /// The reply structure.
    type Reply: FopReply;
}

/// A reply: every one starts with op_ret and op_errno.
pub trait FopReply: Xdr {
    fn op_ret(&self) -> i32;
    fn op_errno(&self) -> i32;
}

macro_rules! reply {
    ($(#[$m:meta])* $name:ident { $($f:ident : $t:ty),* $(,)? }) => {
        xdr_struct! {
            $(#[$m])*
            #[derive(Debug, Clone, PartialEq)]
            pub struct $name { pub op_ret: i32, pub op_errno: i32, $(pub $f: $t),* }
        }
        impl FopReply for $name {
            fn op_ret(&self) -> i32 { self.op_ret }
            fn op_errno(&self) -> i32 { self.op_errno }
        }
    };
}

reply!(
    /// `gfx_common_rsp`.
    CommonRsp { xdata: GfxDict }
);
reply!(
    /// `gfx_common_iatt_rsp`.
    IattRsp { xdata: GfxDict, stat: Iatt }
);
reply!(
    /// `gfx_common_2iatt_rsp`. For LOOKUP: `prestat` = entry, `poststat` =
    /// parent; for UNLINK/RMDIR: pre/post parent; for data fops: pre/post.
    TwoIattRsp { xdata: GfxDict, prestat: Iatt, poststat: Iatt }
);
reply!(
    /// `gfx_common_3iatt_rsp`: stat, preparent, postparent.
    ThreeIattRsp { xdata: GfxDict, stat: Iatt, preparent: Iatt, postparent: Iatt }
);
reply!(
    /// `gfx_common_dict_rsp` (iatts are never filled by the server).
    DictRsp { xdata: GfxDict, dict: GfxDict, prestat: Iatt, poststat: Iatt }
);
reply!(ReadlinkRsp { xdata: GfxDict, buf: Iatt, path: Vec<u8> });
reply!(RenameRsp {
    xdata: GfxDict,
    stat: Iatt,
    preoldparent: Iatt,
    postoldparent: Iatt,
    prenewparent: Iatt,
    postnewparent: Iatt,
});
reply!(OpenRsp {
    xdata: GfxDict,
    fd: i64
});
reply!(
    /// READ reply; the data follows the structure to the end of the record.
    ReadRsp { stat: Iatt, size: u32, xdata: GfxDict }
);
reply!(StatfsRsp {
    xdata: GfxDict,
    statfs: Statfs
});
reply!(CreateRsp {
    xdata: GfxDict,
    stat: Iatt,
    fd: i64,
    preparent: Iatt,
    postparent: Iatt
});
reply!(LkRsp {
    xdata: GfxDict,
    flock: Flock
});
reply!(ReaddirRsp {
    xdata: GfxDict,
    entries: DirList
});
reply!(ReaddirpRsp {
    xdata: GfxDict,
    entries: DirPList
});
reply!(RchecksumRsp { xdata: GfxDict, flags: u32, weak_checksum: u32, strong_checksum: Vec<u8> });
reply!(SeekRsp {
    xdata: GfxDict,
    offset: u64
});
reply!(LeaseRsp {
    xdata: GfxDict,
    lease: Lease
});
reply!(GetactivelkRsp {
    xdata: GfxDict,
    locks: LockList
});

macro_rules! request {
    ($(#[$m:meta])* $name:ident = $fop:ident -> $rsp:ident { $($f:ident : $t:ty),* $(,)? }) => {
        xdr_struct! {
            $(#[$m])*
            #[derive(Debug, Clone, PartialEq)]
            pub struct $name { $(pub $f: $t),* }
        }
        impl FopRequest for $name {
            const FOP: Fop = Fop::$fop;
            type Reply = $rsp;
        }
    };
}

request!(
    /// Named lookup: `pargfid` + `bname`, `gfid` zero. Nameless: `gfid` set.
    LookupReq = Lookup -> TwoIattRsp { gfid: Gfid, pargfid: Gfid, flags: u32, bname: Vec<u8>, xdata: GfxDict }
);
request!(StatReq = Stat -> IattRsp { gfid: Gfid, xdata: GfxDict });
request!(FstatReq = Fstat -> IattRsp { gfid: Gfid, fd: i64, xdata: GfxDict });
request!(ReadlinkReq = Readlink -> ReadlinkRsp { gfid: Gfid, size: u32, xdata: GfxDict });
request!(MknodReq = Mknod -> ThreeIattRsp { pargfid: Gfid, dev: u64, mode: u32, umask: u32, bname: Vec<u8>, xdata: GfxDict });
request!(MkdirReq = Mkdir -> ThreeIattRsp { pargfid: Gfid, mode: u32, umask: u32, bname: Vec<u8>, xdata: GfxDict });
request!(UnlinkReq = Unlink -> TwoIattRsp { pargfid: Gfid, bname: Vec<u8>, xflags: u32, xdata: GfxDict });
request!(RmdirReq = Rmdir -> TwoIattRsp { pargfid: Gfid, xflags: i32, bname: Vec<u8>, xdata: GfxDict });
request!(SymlinkReq = Symlink -> ThreeIattRsp { pargfid: Gfid, bname: Vec<u8>, umask: u32, linkname: Vec<u8>, xdata: GfxDict });
request!(RenameReq = Rename -> RenameRsp { oldgfid: Gfid, newgfid: Gfid, oldbname: Vec<u8>, newbname: Vec<u8>, xdata: GfxDict });
request!(LinkReq = Link -> ThreeIattRsp { oldgfid: Gfid, newgfid: Gfid, newbname: Vec<u8>, xdata: GfxDict });
request!(TruncateReq = Truncate -> TwoIattRsp { gfid: Gfid, offset: u64, xdata: GfxDict });
request!(FtruncateReq = Ftruncate -> TwoIattRsp { gfid: Gfid, fd: i64, offset: u64, xdata: GfxDict });
request!(OpenReq = Open -> OpenRsp { gfid: Gfid, flags: u32, xdata: GfxDict });
request!(ReadReq = Read -> ReadRsp { gfid: Gfid, fd: i64, offset: u64, size: u32, flag: u32, xdata: GfxDict });
request!(
    /// WRITE arguments; the payload is appended raw after them.
    WriteReq = Write -> TwoIattRsp { gfid: Gfid, fd: i64, offset: u64, size: u32, flag: u32, xdata: GfxDict }
);
request!(StatfsReq = Statfs -> StatfsRsp { gfid: Gfid, xdata: GfxDict });
request!(FlushReq = Flush -> CommonRsp { gfid: Gfid, fd: i64, xdata: GfxDict });
request!(FsyncReq = Fsync -> TwoIattRsp { gfid: Gfid, fd: i64, datasync: u32, xdata: GfxDict });
request!(SetxattrReq = Setxattr -> CommonRsp { gfid: Gfid, flags: u32, dict: GfxDict, xdata: GfxDict });
request!(FsetxattrReq = Fsetxattr -> CommonRsp { gfid: Gfid, fd: i64, flags: u32, dict: GfxDict, xdata: GfxDict });
request!(GetxattrReq = Getxattr -> DictRsp { gfid: Gfid, namelen: u32, name: Vec<u8>, xdata: GfxDict });
request!(FgetxattrReq = Fgetxattr -> DictRsp { gfid: Gfid, fd: i64, namelen: u32, name: Vec<u8>, xdata: GfxDict });
request!(RemovexattrReq = Removexattr -> CommonRsp { gfid: Gfid, name: Vec<u8>, xdata: GfxDict });
request!(FremovexattrReq = Fremovexattr -> CommonRsp { gfid: Gfid, fd: i64, name: Vec<u8>, xdata: GfxDict });
request!(OpendirReq = Opendir -> OpenRsp { gfid: Gfid, xdata: GfxDict });
request!(FsyncdirReq = Fsyncdir -> CommonRsp { gfid: Gfid, fd: i64, datasync: i32, xdata: GfxDict });
request!(AccessReq = Access -> CommonRsp { gfid: Gfid, mask: u32, xdata: GfxDict });
request!(CreateReq = Create -> CreateRsp { pargfid: Gfid, flags: u32, mode: u32, umask: u32, bname: Vec<u8>, xdata: GfxDict });
request!(LkReq = Lk -> LkRsp { gfid: Gfid, fd: i64, cmd: u32, kind: u32, flock: Flock, xdata: GfxDict });
request!(InodelkReq = Inodelk -> CommonRsp { gfid: Gfid, cmd: u32, kind: u32, flock: Flock, volume: Vec<u8>, xdata: GfxDict });
request!(FinodelkReq = Finodelk -> CommonRsp { gfid: Gfid, fd: i64, cmd: u32, kind: u32, flock: Flock, volume: Vec<u8>, xdata: GfxDict });
request!(EntrylkReq = Entrylk -> CommonRsp { gfid: Gfid, cmd: u32, kind: u32, namelen: u64, name: Vec<u8>, volume: Vec<u8>, xdata: GfxDict });
request!(FentrylkReq = Fentrylk -> CommonRsp { gfid: Gfid, fd: i64, cmd: u32, kind: u32, namelen: u64, name: Vec<u8>, volume: Vec<u8>, xdata: GfxDict });
request!(XattropReq = Xattrop -> DictRsp { gfid: Gfid, flags: u32, dict: GfxDict, xdata: GfxDict });
request!(FxattropReq = Fxattrop -> DictRsp { gfid: Gfid, fd: i64, flags: u32, dict: GfxDict, xdata: GfxDict });
request!(SetattrReq = Setattr -> TwoIattRsp { gfid: Gfid, stbuf: Iatt, valid: i32, xdata: GfxDict });
request!(FsetattrReq = Fsetattr -> TwoIattRsp { gfid: Gfid, fd: i64, stbuf: Iatt, valid: i32, xdata: GfxDict });
request!(ReaddirReq = Readdir -> ReaddirRsp { gfid: Gfid, fd: i64, offset: u64, size: u32, xdata: GfxDict });
request!(ReaddirpReq = Readdirp -> ReaddirpRsp { gfid: Gfid, fd: i64, offset: u64, size: u32, xdata: GfxDict });
request!(ReleaseReq = Release -> CommonRsp { gfid: Gfid, fd: i64, xdata: GfxDict });
request!(ReleasedirReq = Releasedir -> CommonRsp { gfid: Gfid, fd: i64, xdata: GfxDict });
request!(FallocateReq = Fallocate -> TwoIattRsp { gfid: Gfid, fd: i64, flags: u32, offset: u64, size: u64, xdata: GfxDict });
request!(DiscardReq = Discard -> TwoIattRsp { gfid: Gfid, fd: i64, offset: u64, size: u64, xdata: GfxDict });
request!(ZerofillReq = Zerofill -> TwoIattRsp { gfid: Gfid, fd: i64, offset: u64, size: u64, xdata: GfxDict });
request!(RchecksumReq = Rchecksum -> RchecksumRsp { gfid: Gfid, fd: i64, offset: u64, len: u32, flags: u32, xdata: GfxDict });
request!(IpcReq = Ipc -> CommonRsp { op: i32, xdata: GfxDict });
request!(SeekReq = Seek -> SeekRsp { gfid: Gfid, fd: i64, offset: u64, what: i32, xdata: GfxDict });
request!(LeaseReq = Lease -> LeaseRsp { gfid: Gfid, lease: Lease, xdata: GfxDict });
request!(GetactivelkReq = Getactivelk -> GetactivelkRsp { gfid: Gfid, xdata: GfxDict });
request!(CopyFileRangeReq = CopyFileRange -> ThreeIattRsp {
    gfid1: Gfid, gfid2: Gfid, fd_in: i64, fd_out: i64, off_in: u64, off_out: u64, size: u32, flag: u32, xdata: GfxDict
});

/// SEEK `what`.
pub const SEEK_DATA: i32 = 0;
pub const SEEK_HOLE: i32 = 1;
/// The anonymous fd number.
pub const ANON_FD: i64 = -2;

/// One READDIR entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub d_ino: u64,
    pub d_off: u64,
    pub d_type: u32,
    pub name: Vec<u8>,
}

/// One READDIRP entry: the entry with its stat and per-entry dict.
#[derive(Debug, Clone, PartialEq)]
pub struct DirPEntry {
    pub d_ino: u64,
    pub d_off: u64,
    pub d_type: u32,
    pub name: Vec<u8>,
    pub stat: Iatt,
    pub dict: GfxDict,
}

/// `gfx_dirlist` optional-data chain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirList(pub Vec<DirEntry>);

/// `gfx_dirplist` optional-data chain.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DirPList(pub Vec<DirPEntry>);

fn decode_name(d: &mut Decoder<'_>) -> Result<(u64, u64, u32, Vec<u8>)> {
    let d_ino = d.u64("d_ino")?;
    let d_off = d.u64("d_off")?;
    let _d_len = d.u32("d_len")?;
    let d_type = d.u32("d_type")?;
    let name = d.opaque("d_name", xdr::MAX_STRING)?.to_vec();
    Ok((d_ino, d_off, d_type, name))
}

fn encode_name(e: &mut Encoder, d_ino: u64, d_off: u64, d_type: u32, name: &[u8]) {
    e.u64(d_ino)
        .u64(d_off)
        .u32(name.len() as u32)
        .u32(d_type)
        .opaque(name);
}

impl Xdr for DirList {
    fn encode(&self, e: &mut Encoder) {
        for ent in &self.0 {
            e.bool(true);
            encode_name(e, ent.d_ino, ent.d_off, ent.d_type, &ent.name);
        }
        e.bool(false);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self> {
        let mut out = Vec::new();
        // Each entry consumes at least 28 bytes: the loop ends with the record.
        while d.bool("dirlist next")? {
            let (d_ino, d_off, d_type, name) = decode_name(d)?;
            out.push(DirEntry {
                d_ino,
                d_off,
                d_type,
                name,
            });
        }
        Ok(DirList(out))
    }
}

impl Xdr for DirPList {
    fn encode(&self, e: &mut Encoder) {
        for ent in &self.0 {
            e.bool(true);
            encode_name(e, ent.d_ino, ent.d_off, ent.d_type, &ent.name);
            ent.stat.encode(e);
            ent.dict.encode(e);
        }
        e.bool(false);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self> {
        let mut out = Vec::new();
        while d.bool("dirplist next")? {
            let (d_ino, d_off, d_type, name) = decode_name(d)?;
            let stat = Iatt::decode(d)?;
            let dict = GfxDict::decode(d)?;
            out.push(DirPEntry {
                d_ino,
                d_off,
                d_type,
                name,
                stat,
                dict,
            });
        }
        Ok(DirPList(out))
    }
}

/// One lock in a GETACTIVELK reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveLock {
    pub flock: Flock,
    pub client_uid: Vec<u8>,
    pub lk_flags: u32,
}

/// `gfs3_locklist` chain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockList(pub Vec<ActiveLock>);

impl Xdr for LockList {
    fn encode(&self, e: &mut Encoder) {
        for l in &self.0 {
            e.bool(true);
            l.flock.encode(e);
            e.opaque(&l.client_uid).u32(l.lk_flags);
        }
        e.bool(false);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self> {
        let mut out = Vec::new();
        while d.bool("locklist next")? {
            let flock = Flock::decode(d)?;
            let client_uid = d.opaque("client_uid", xdr::MAX_STRING)?.to_vec();
            let lk_flags = d.u32("lk_flags")?;
            out.push(ActiveLock {
                flock,
                client_uid,
                lk_flags,
            });
        }
        Ok(LockList(out))
    }
}

/// Open flags in GlusterFS numbering (identical to Linux x86-64). The
/// client translates from the host's `O_*` explicitly.
pub mod oflags {
    pub const RDONLY: u32 = 0;
    pub const WRONLY: u32 = 0o1;
    pub const RDWR: u32 = 0o2;
    pub const ACCMODE: u32 = 0o3;
    pub const CREAT: u32 = 0o100;
    pub const EXCL: u32 = 0o200;
    pub const NOCTTY: u32 = 0o400;
    pub const TRUNC: u32 = 0o1000;
    pub const APPEND: u32 = 0o2000;
    pub const NONBLOCK: u32 = 0o4000;
    pub const SYNC: u32 = 0o10000;
    pub const ASYNC: u32 = 0o20000;
    pub const DIRECT: u32 = 0o40000;
    pub const LARGEFILE: u32 = 0o100000;
    pub const DIRECTORY: u32 = 0o200000;
    pub const NOFOLLOW: u32 = 0o400000;
    pub const NOATIME: u32 = 0o1000000;
    pub const CLOEXEC: u32 = 0o2000000;
}
