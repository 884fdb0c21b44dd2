//! Management programs: GF-DUMP (DUMP, PING), Handshake (GETSPEC,
//! SETVOLUME) and Portmap (PORTBYBRICK). PROTOCOL.md 3 and 4.

use crate::dict::OldDict;
use xdr::{xdr_struct, Decoder, Encoder, Result, Xdr};

xdr_struct! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct DumpReq { pub gfs_id: u64 }
}

/// One program a server serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramEntry {
    pub name: String,
    pub program: u64,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpRsp {
    pub gfs_id: u64,
    pub op_ret: i32,
    pub op_errno: i32,
    pub programs: Vec<ProgramEntry>,
}

impl Xdr for DumpRsp {
    fn encode(&self, e: &mut Encoder) {
        e.u64(self.gfs_id).i32(self.op_ret).i32(self.op_errno);
        for p in &self.programs {
            e.bool(true)
                .opaque(p.name.as_bytes())
                .u64(p.program)
                .u64(p.version);
        }
        e.bool(false);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self> {
        let gfs_id = d.u64("gfs_id")?;
        let op_ret = d.i32("op_ret")?;
        let op_errno = d.i32("op_errno")?;
        let mut programs = Vec::new();
        // Each entry takes at least 24 bytes, so the loop is bounded by the record.
        while d.bool("prog list next")? {
            let name = String::from_utf8_lossy(d.opaque("progname", xdr::MAX_STRING)?).into_owned();
            programs.push(ProgramEntry {
                name,
                program: d.u64("prognum")?,
                version: d.u64("progver")?,
            });
        }
        Ok(Self {
            gfs_id,
            op_ret,
            op_errno,
            programs,
        })
    }
}

xdr_struct! {
    /// `gf_common_rsp` (PING reply): xdata is an old-dict opaque.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CommonRsp { pub op_ret: i32, pub op_errno: i32, pub xdata: Vec<u8> }
}

xdr_struct! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct GetspecReq { pub flags: u32, pub key: Vec<u8>, pub xdata: OldDict }
}

xdr_struct! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct GetspecRsp { pub op_ret: i32, pub op_errno: i32, pub spec: Vec<u8>, pub xdata: OldDict }
}

xdr_struct! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PortByBrickReq { pub brick: Vec<u8> }
}

xdr_struct! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PortByBrickRsp { pub op_ret: i32, pub op_errno: i32, pub status: i32, pub port: i32 }
}

xdr_struct! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SetvolumeReq { pub dict: OldDict }
}

xdr_struct! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SetvolumeRsp { pub op_ret: i32, pub op_errno: i32, pub dict: OldDict }
}

/// GETSPEC flag upstream clients set.
pub const GETSPEC_FLAG_SERVERS_LIST: u32 = 1;
/// The op-version range a 10.x client announces.
pub const MIN_OP_VERSION: &str = "1";
pub const MAX_OP_VERSION: &str = "100000";
