//! ONC RPC v2 message headers (RFC 5531) and the AUTH_GLUSTERFS credentials
//! (PROTOCOL.md 2).

use xdr::{Decoder, Encoder, Error, Result};

/// Program numbers and versions (PROTOCOL.md 3).
pub mod prog {
    pub const DUMP: u32 = 123451501;
    pub const DUMP_VERS: u32 = 1;
    pub const HANDSHAKE: u32 = 14398633;
    pub const HANDSHAKE_VERS: u32 = 2;
    pub const PORTMAP: u32 = 34123456;
    pub const PORTMAP_VERS: u32 = 1;
    pub const FOP: u32 = 1298437;
    pub const FOP_VERS: u32 = 400;
    pub const CALLBACK: u32 = 52743234;
}

/// Procedures of the management programs.
pub mod procs {
    pub const DUMP_DUMP: u32 = 1;
    pub const DUMP_PING: u32 = 2;
    pub const HNDSK_SETVOLUME: u32 = 1;
    pub const HNDSK_GETSPEC: u32 = 2;
    pub const PMAP_PORTBYBRICK: u32 = 1;
    pub const CBK_FETCHSPEC: u32 = 1;
    pub const CBK_CACHE_INVALIDATION: u32 = 5;
    pub const CBK_CHILD_UP: u32 = 6;
    pub const CBK_CHILD_DOWN: u32 = 7;
}

pub const AUTH_NULL: u32 = 0;
pub const AUTH_GLUSTERFS_V2: u32 = 390039;
pub const AUTH_GLUSTERFS_V3: u32 = 390040;
/// RFC 5531 bound on a credential body.
pub const MAX_AUTH_BYTES: usize = 400;

/// Caller identity sent with every fop.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// Lock owner; empty means "the pid, little-endian" as upstream does.
    pub lk_owner: Vec<u8>,
    /// The utime credential flags for this call (`mdata_flags`), set by
    /// features/utime; 0 = the brick takes no times from our clock.
    pub utime_flags: u32,
    /// When the fop happened (ns since the epoch) for those flags; 0 =
    /// when it is sent. Set once above a cluster translator, so every
    /// brick of a replica set records the same times.
    pub utime_ns: u64,
}

impl Identity {
    /// This process, as root or whoever runs it.
    pub fn current() -> Self {
        Identity {
            pid: std::process::id() as i32,
            uid: effective_uid(),
            gid: effective_gid(),
            groups: Vec::new(),
            lk_owner: Vec::new(),
            utime_flags: 0,
            utime_ns: 0,
        }
    }

    fn lk_owner_bytes(&self) -> Vec<u8> {
        if self.lk_owner.is_empty() {
            self.pid.to_le_bytes().to_vec()
        } else {
            self.lk_owner.clone()
        }
    }
}

fn effective_uid() -> u32 {
    std::fs::metadata("/proc/self").map_or(0, |m| std::os::unix::fs::MetadataExt::uid(&m))
}

fn effective_gid() -> u32 {
    std::fs::metadata("/proc/self").map_or(0, |m| std::os::unix::fs::MetadataExt::gid(&m))
}

/// A credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Null,
    /// AUTH_GLUSTERFS v2, used by upstream for management calls.
    V2(Identity),
    /// AUTH_GLUSTERFS v3 with the utime flags and client timestamp.
    V3 {
        id: Identity,
        flags: u32,
        ctime_sec: u64,
        ctime_nsec: u32,
    },
}

/// utime credential flags (PROTOCOL.md 2.4).
pub mod mdata_flags {
    pub const CTIME: u32 = 0x01;
    pub const MTIME: u32 = 0x02;
    pub const ATIME: u32 = 0x04;
    pub const PAR_CTIME: u32 = 0x08;
    pub const PAR_MTIME: u32 = 0x10;
    pub const PAR_ATIME: u32 = 0x20;
}

impl Auth {
    /// Encodes flavor, length and body. Supplementary groups are truncated
    /// to fit the 400-byte limit, as upstream does; a lock owner too large
    /// to fit alone is an E2BIG-class error.
    pub fn encode(&self, e: &mut Encoder) -> std::result::Result<(), AuthTooLarge> {
        let (flavor, fixed_units, id) = match self {
            Auth::Null => {
                e.u32(AUTH_NULL).u32(0);
                return Ok(());
            }
            Auth::V2(id) => (AUTH_GLUSTERFS_V2, 5, id),
            Auth::V3 { id, .. } => (AUTH_GLUSTERFS_V3, 9, id),
        };
        let owner = id.lk_owner_bytes();
        let owner_units = owner.len().div_ceil(4);
        let max_units = MAX_AUTH_BYTES / 4;
        if fixed_units + owner_units > max_units {
            return Err(AuthTooLarge(owner.len()));
        }
        let ngroups = id.groups.len().min(max_units - fixed_units - owner_units);
        let mut body = Encoder::with_capacity(MAX_AUTH_BYTES);
        body.i32(id.pid).u32(id.uid).u32(id.gid);
        if let Auth::V3 {
            flags,
            ctime_sec,
            ctime_nsec,
            ..
        } = self
        {
            // Note the order: nsec (u32) before sec (u64).
            body.u32(*flags).u32(*ctime_nsec).u64(*ctime_sec);
        }
        body.u32(ngroups as u32);
        for g in &id.groups[..ngroups] {
            body.u32(*g);
        }
        body.opaque(&owner);
        e.u32(flavor).opaque(body.as_slice());
        Ok(())
    }
}

/// The lock owner alone does not fit in a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("lock owner of {0} bytes does not fit in an RPC credential")]
pub struct AuthTooLarge(pub usize);

/// Encodes a CALL header (without record mark) and returns the encoder so
/// that arguments can be appended.
pub fn encode_call(
    e: &mut Encoder,
    xid: u32,
    program: u32,
    version: u32,
    procedure: u32,
    auth: &Auth,
) -> std::result::Result<(), AuthTooLarge> {
    e.u32(xid)
        .u32(0)
        .u32(2)
        .u32(program)
        .u32(version)
        .u32(procedure);
    auth.encode(e)?;
    e.u32(AUTH_NULL).u32(0); // verifier
    Ok(())
}

/// Why an accepted call produced no results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptError {
    ProgUnavail,
    ProgMismatch { low: u32, high: u32 },
    ProcUnavail,
    GarbageArgs,
    SystemErr,
    Other(u32),
}

/// The status part of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyStatus {
    Success,
    Accepted(AcceptError),
    RpcMismatch { low: u32, high: u32 },
    AuthError(u32),
}

/// A decoded incoming message header. Calls come from the server
/// (callbacks) and carry the server's own xids (PROTOCOL.md 2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Reply {
        xid: u32,
        status: ReplyStatus,
        /// Offset of the results in the record.
        body: usize,
    },
    Call {
        xid: u32,
        program: u32,
        version: u32,
        procedure: u32,
        body: usize,
    },
}

/// Decodes the header of an incoming record.
pub fn decode_incoming(record: &[u8]) -> Result<Incoming> {
    let mut d = Decoder::new(record);
    let xid = d.u32("xid")?;
    let mtype_offset = d.position();
    match d.u32("msg_type")? {
        0 => {
            let _rpcvers = d.u32("rpcvers")?;
            let program = d.u32("prog")?;
            let version = d.u32("vers")?;
            let procedure = d.u32("proc")?;
            skip_auth(&mut d)?; // cred
            skip_auth(&mut d)?; // verf
            Ok(Incoming::Call {
                xid,
                program,
                version,
                procedure,
                body: d.position(),
            })
        }
        1 => {
            let stat_offset = d.position();
            let status = match d.u32("reply_stat")? {
                0 => {
                    skip_auth(&mut d)?;
                    match d.u32("accept_stat")? {
                        0 => ReplyStatus::Success,
                        1 => ReplyStatus::Accepted(AcceptError::ProgUnavail),
                        2 => ReplyStatus::Accepted(AcceptError::ProgMismatch {
                            low: d.u32("mismatch low")?,
                            high: d.u32("mismatch high")?,
                        }),
                        3 => ReplyStatus::Accepted(AcceptError::ProcUnavail),
                        4 => ReplyStatus::Accepted(AcceptError::GarbageArgs),
                        5 => ReplyStatus::Accepted(AcceptError::SystemErr),
                        s => ReplyStatus::Accepted(AcceptError::Other(s)),
                    }
                }
                1 => match d.u32("reject_stat")? {
                    0 => ReplyStatus::RpcMismatch {
                        low: d.u32("mismatch low")?,
                        high: d.u32("mismatch high")?,
                    },
                    _ => ReplyStatus::AuthError(d.u32("auth_stat")?),
                },
                v => {
                    return Err(Error::Invalid {
                        what: "reply_stat",
                        offset: stat_offset,
                        value: u64::from(v),
                    })
                }
            };
            Ok(Incoming::Reply {
                xid,
                status,
                body: d.position(),
            })
        }
        v => Err(Error::Invalid {
            what: "msg_type",
            offset: mtype_offset,
            value: u64::from(v),
        }),
    }
}

fn skip_auth(d: &mut Decoder<'_>) -> Result<()> {
    d.u32("auth flavor")?;
    d.opaque("auth body", MAX_AUTH_BYTES)?;
    Ok(())
}

/// Record marking: the 4-byte fragment header.
pub const LAST_FRAGMENT: u32 = 0x8000_0000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_credential_layout_matches_capture() {
        // PROTOCOL.md 10.1: pid 8139, flags 0, groups none, lk_owner = pid LE.
        let auth = Auth::V3 {
            id: Identity {
                pid: 8139,
                ..Default::default()
            },
            flags: 0,
            ctime_sec: 0x6b05e8e8,
            ctime_nsec: 0x0e3913fc,
        };
        let mut e = Encoder::new();
        auth.encode(&mut e).unwrap();
        let expect = "0005f398 00000028 00001fcb 00000000 00000000 00000000 0e3913fc 00000000 6b05e8e8 00000000 00000004 cb1f0000";
        let expect: Vec<u8> = expect
            .split(' ')
            .flat_map(|w| u32::from_str_radix(w, 16).unwrap().to_be_bytes())
            .collect();
        assert_eq!(e.as_slice(), expect.as_slice());
    }

    #[test]
    fn groups_are_truncated_to_fit() {
        let auth = Auth::V3 {
            id: Identity {
                groups: (0..500).collect(),
                lk_owner: vec![1; 8],
                ..Default::default()
            },
            flags: 0,
            ctime_sec: 0,
            ctime_nsec: 0,
        };
        let mut e = Encoder::new();
        auth.encode(&mut e).unwrap();
        assert_eq!(e.len(), 8 + MAX_AUTH_BYTES);
        let too_big = Auth::V2(Identity {
            lk_owner: vec![0; 1024],
            ..Default::default()
        });
        assert!(too_big.encode(&mut Encoder::new()).is_err());
    }

    #[test]
    fn garbage_headers_are_errors() {
        assert!(decode_incoming(&[0, 0, 0, 1, 0, 0, 0, 7]).is_err());
        assert!(decode_incoming(&[0, 0, 0, 1]).is_err());
    }
}
