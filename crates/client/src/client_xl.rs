//! protocol/client as a translator: the leaf of the graph, one brick.
//!
//! Every fop becomes one RPC on the brick's connection ([`Brick`]). Open
//! fds keep the brick's fd number per connection generation in their
//! state: a remote fd number is valid only on the connection that opened
//! it, so after a reconnect the fd is reopened (OPEN/OPENDIR of the same
//! gfid with its flags minus O_CREAT|O_EXCL|O_TRUNC) on first use, as
//! upstream's protocol/client does (PROTOCOL.md 4.7). POSIX locks held
//! through the old fd are lost, as with the official client
//! (`strict-locks off`). An fd that reaches a brick it was never opened on
//! (open-behind, or a file a rebalance moved here) is opened the same way;
//! read-only reads of a never-opened lazy fd use the anonymous fd.

use crate::error::Result;
use crate::protocol_client::{Brick, Session};
use crate::xlator::*;
use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use proto::dict::GfxDict;
use proto::fops::*;
use proto::iatt::{Flock, Iatt};
use proto::Gfid;
use std::sync::Arc;

pub struct ClientXl {
    id: XlId,
    pub brick: Arc<Brick>,
    /// The brick's host is this machine.
    local: bool,
}

impl ClientXl {
    pub fn new(brick: Arc<Brick>) -> Arc<ClientXl> {
        let local = is_local_host(&brick.spec.remote_host);
        Arc::new(ClientXl {
            id: new_id(),
            brick,
            local,
        })
    }

    async fn call<Q: FopRequest>(&self, ctx: &Ctx, req: &Q) -> Result<Q::Reply> {
        Ok(self.brick.fop(ctx, req, Bytes::new()).await?.0)
    }

    /// The session and the fd's number on it, opening or reopening first
    /// when the fd has none on this connection. Such an OPEN serves
    /// another fop, so it never truncates and carries none of that fop's
    /// utime flags (a WRITE's would touch the times of a file that is
    /// only read, e.g. copy_file_range's source).
    async fn remote(&self, ctx: &Ctx, fd: &FdRef) -> Result<(Session, i64)> {
        let strip = oflags::CREAT | oflags::EXCL | oflags::TRUNC;
        self.remote_as(ctx, fd, strip, false).await
    }

    /// As `remote`, opening with the fd's flags minus `strip` and, unless
    /// `as_asked` (the caller's own OPEN), without `ctx`'s utime flags.
    async fn remote_as(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        strip: u32,
        as_asked: bool,
    ) -> Result<(Session, i64)> {
        fd.check_open()?;
        let session = self.brick.session().await?;
        let r = fd.ctx_or_insert(self.id, || RemoteFd::new(self.brick.clone()))?;
        let (generation, num) = *r.state.lock();
        if generation == session.generation {
            return Ok((session, num));
        }
        let flags = fd.flags & !strip;
        let unstamped;
        let open_ctx = if as_asked {
            ctx
        } else {
            unstamped = Ctx {
                utime_flags: 0,
                ..ctx.clone()
            };
            &unstamped
        };
        let new = open_remote(&self.brick, &session, open_ctx, fd.gfid(), flags, fd.is_dir).await?;
        let raced = {
            let mut st = r.state.lock();
            if st.0 == session.generation {
                Some(st.1) // someone opened it meanwhile: keep theirs
            } else {
                *st = (session.generation, new);
                None
            }
        };
        match raced {
            Some(theirs) => {
                release_remote(&self.brick, fd.gfid(), fd.is_dir, session.generation, new).await;
                Ok((session, theirs))
            }
            None => {
                if generation != 0 {
                    tracing::info!(gfid = %fd.gfid(), brick = %self.brick.label(), "reopened after reconnect");
                }
                Ok((session, new))
            }
        }
    }

    /// Whether the fd has ever been opened on this brick.
    fn opened(&self, fd: &FdObj) -> bool {
        fd.ctx::<RemoteFd>(self.id)
            .is_some_and(|r| r.state.lock().0 != 0)
    }

    /// Sends a fop built from the fd's number on this brick.
    async fn fd_call<Q: FopRequest>(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        build: impl FnOnce(Gfid, i64) -> Q,
        payload: Bytes,
    ) -> Result<(Q::Reply, Bytes)> {
        let (session, num) = self.remote(ctx, fd).await?;
        let req = build(fd.gfid(), num);
        self.brick.fop_on(&session, ctx, &req, payload).await
    }
}

/// Whether `host` (a name or an address) is this machine: loopback, or an
/// address a socket can be bound to here. Resolved once, when the graph
/// is built.
fn is_local_host(host: &str) -> bool {
    use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
    let addrs: Vec<SocketAddr> = (host, 0)
        .to_socket_addrs()
        .map(Iterator::collect)
        .unwrap_or_default();
    addrs
        .iter()
        .any(|a| a.ip().is_loopback() || UdpSocket::bind(SocketAddr::new(a.ip(), 0)).is_ok())
}

/// What storage/posix keeps on every inode for itself (the official
/// client hides these too: getxattr ENODATA, not listed, set EPERM).
pub fn is_posix_xattr(name: &[u8]) -> bool {
    const EXACT: &[&[u8]] = &[
        b"trusted.gfid",
        b"trusted.glusterfs.volume-id",
        b"trusted.glusterfs.mdata",
    ];
    EXACT.contains(&name) || name.starts_with(b"trusted.gfid2path.")
}

/// The brick's fd number for one open fd: (connection generation, fd);
/// generation 0 = not opened here.
struct RemoteFd {
    brick: Arc<Brick>,
    state: Mutex<(u64, i64)>,
}

impl RemoteFd {
    fn new(brick: Arc<Brick>) -> RemoteFd {
        RemoteFd {
            brick,
            state: Mutex::new((0, ANON_FD)),
        }
    }
}

impl FdCtx for RemoteFd {
    fn release(&self, fd: &FdObj) -> Option<BoxFuture<'static, ()>> {
        let (generation, num) = *self.state.lock();
        if generation == 0 {
            return None;
        }
        let (brick, gfid, is_dir) = (self.brick.clone(), fd.gfid(), fd.is_dir);
        Some(Box::pin(async move {
            release_remote(&brick, gfid, is_dir, generation, num).await;
        }))
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
        let req = ReleasedirReq { gfid, fd, xdata };
        brick
            .fop_on(&session, &ctx, &req, Bytes::new())
            .await
            .map(drop)
    } else {
        let req = ReleaseReq { gfid, fd, xdata };
        brick
            .fop_on(&session, &ctx, &req, Bytes::new())
            .await
            .map(drop)
    };
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
    Ok(if is_dir {
        let req = OpendirReq { gfid, xdata };
        brick.fop_on(session, ctx, &req, Bytes::new()).await?.0.fd
    } else {
        let req = OpenReq { gfid, flags, xdata };
        brick.fop_on(session, ctx, &req, Bytes::new()).await?.0.fd
    })
}

/// Picks the gfid- or fd-addressed wire form of a fop.
macro_rules! either {
    ($self:ident, $ctx:ident, $on:ident, |$g:ident| $inode:expr, |$fg:ident, $n:ident| $fd:expr) => {
        match $on {
            Target::Inode($g) => {
                let $g = *$g;
                $self.call($ctx, &$inode).await
            }
            Target::Fd(f) => Ok($self.fd_call($ctx, f, |$fg, $n| $fd, Bytes::new()).await?.0),
        }
    };
}

#[async_trait]
impl Xlator for ClientXl {
    fn name(&self) -> &str {
        &self.brick.spec.name
    }
    fn xl_type(&self) -> &str {
        "protocol/client"
    }
    fn id(&self) -> XlId {
        self.id
    }
    fn close(&self) {
        self.brick.close();
    }
    fn hides_xattr(&self, name: &[u8]) -> bool {
        is_posix_xattr(name)
    }
    fn is_local(&self) -> bool {
        self.local
    }
    async fn refresh(&self, _ctx: &Ctx) {}

    async fn lookup(&self, ctx: &Ctx, req: &LookupReq) -> Result<TwoIattRsp> {
        self.call(ctx, req).await
    }
    async fn stat(&self, ctx: &Ctx, on: &Target, xdata: GfxDict) -> Result<IattRsp> {
        if let Target::Fd(f) = on {
            if !self.opened(f) && f.lazy {
                // Never opened (open-behind): the inode answers the same.
                let req = StatReq {
                    gfid: f.gfid(),
                    xdata,
                };
                return self.call(ctx, &req).await;
            }
        }
        either!(self, ctx, on, |gfid| StatReq { gfid, xdata }, |gfid, fd| {
            FstatReq { gfid, fd, xdata }
        })
    }
    async fn setattr(
        &self,
        ctx: &Ctx,
        on: &Target,
        stbuf: Iatt,
        valid: i32,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        either!(
            self,
            ctx,
            on,
            |gfid| SetattrReq {
                gfid,
                stbuf,
                valid,
                xdata
            },
            |gfid, fd| FsetattrReq {
                gfid,
                fd,
                stbuf,
                valid,
                xdata
            }
        )
    }
    async fn truncate(
        &self,
        ctx: &Ctx,
        on: &Target,
        offset: u64,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        either!(
            self,
            ctx,
            on,
            |gfid| TruncateReq {
                gfid,
                offset,
                xdata
            },
            |gfid, fd| FtruncateReq {
                gfid,
                fd,
                offset,
                xdata
            }
        )
    }
    async fn access(&self, ctx: &Ctx, req: &AccessReq) -> Result<CommonRsp> {
        self.call(ctx, req).await
    }
    async fn readlink(&self, ctx: &Ctx, req: &ReadlinkReq) -> Result<ReadlinkRsp> {
        self.call(ctx, req).await
    }
    async fn statfs(&self, ctx: &Ctx, req: &StatfsReq) -> Result<StatfsRsp> {
        self.call(ctx, req).await
    }
    async fn mknod(&self, ctx: &Ctx, req: &MknodReq) -> Result<ThreeIattRsp> {
        self.call(ctx, req).await
    }
    async fn mkdir(&self, ctx: &Ctx, req: &MkdirReq) -> Result<ThreeIattRsp> {
        self.call(ctx, req).await
    }
    async fn symlink(&self, ctx: &Ctx, req: &SymlinkReq) -> Result<ThreeIattRsp> {
        self.call(ctx, req).await
    }
    async fn link(&self, ctx: &Ctx, req: &LinkReq) -> Result<ThreeIattRsp> {
        self.call(ctx, req).await
    }
    async fn unlink(&self, ctx: &Ctx, req: &UnlinkReq) -> Result<TwoIattRsp> {
        self.call(ctx, req).await
    }
    async fn rmdir(&self, ctx: &Ctx, req: &RmdirReq) -> Result<TwoIattRsp> {
        self.call(ctx, req).await
    }
    async fn rename(&self, ctx: &Ctx, req: &RenameReq) -> Result<RenameRsp> {
        if req.xdata.get(crate::distribute::NOREPLACE_KEY).is_some() {
            // No translator above enforced it; the brick would replace.
            return Err(crate::Error::errno_msg(
                proto::errno::EOPNOTSUPP,
                "RENAME_NOREPLACE reached a brick unenforced",
            ));
        }
        self.call(ctx, req).await
    }

    async fn getxattr(
        &self,
        ctx: &Ctx,
        on: &Target,
        name: &[u8],
        xdata: GfxDict,
    ) -> Result<DictRsp> {
        let namelen = name.len() as u32;
        let name = name.to_vec();
        either!(
            self,
            ctx,
            on,
            |gfid| GetxattrReq {
                gfid,
                namelen,
                name,
                xdata
            },
            |gfid, fd| FgetxattrReq {
                gfid,
                fd,
                namelen,
                name,
                xdata
            }
        )
    }
    async fn setxattr(
        &self,
        ctx: &Ctx,
        on: &Target,
        dict: GfxDict,
        flags: u32,
        xdata: GfxDict,
    ) -> Result<CommonRsp> {
        either!(
            self,
            ctx,
            on,
            |gfid| SetxattrReq {
                gfid,
                flags,
                dict,
                xdata
            },
            |gfid, fd| FsetxattrReq {
                gfid,
                fd,
                flags,
                dict,
                xdata
            }
        )
    }
    async fn removexattr(
        &self,
        ctx: &Ctx,
        on: &Target,
        name: &[u8],
        xdata: GfxDict,
    ) -> Result<CommonRsp> {
        let name = name.to_vec();
        either!(
            self,
            ctx,
            on,
            |gfid| RemovexattrReq { gfid, name, xdata },
            |gfid, fd| FremovexattrReq {
                gfid,
                fd,
                name,
                xdata
            }
        )
    }
    async fn inodelk(
        &self,
        ctx: &Ctx,
        on: &Target,
        domain: &[u8],
        cmd: u32,
        flock: &Flock,
        xdata: GfxDict,
    ) -> Result<CommonRsp> {
        let (kind, flock, volume) = (flock.kind, flock.clone(), domain.to_vec());
        either!(
            self,
            ctx,
            on,
            |gfid| InodelkReq {
                gfid,
                cmd,
                kind,
                flock,
                volume,
                xdata
            },
            |gfid, fd| FinodelkReq {
                gfid,
                fd,
                cmd,
                kind,
                flock,
                volume,
                xdata
            }
        )
    }
    async fn entrylk(
        &self,
        ctx: &Ctx,
        on: &Target,
        domain: &[u8],
        name: &[u8],
        cmd: u32,
        kind: u32,
        xdata: GfxDict,
    ) -> Result<CommonRsp> {
        let (namelen, name, volume) = (name.len() as u64, name.to_vec(), domain.to_vec());
        either!(
            self,
            ctx,
            on,
            |gfid| EntrylkReq {
                gfid,
                cmd,
                kind,
                namelen,
                name,
                volume,
                xdata
            },
            |gfid, fd| FentrylkReq {
                gfid,
                fd,
                cmd,
                kind,
                namelen,
                name,
                volume,
                xdata
            }
        )
    }
    async fn xattrop(
        &self,
        ctx: &Ctx,
        on: &Target,
        optype: u32,
        dict: GfxDict,
        xdata: GfxDict,
    ) -> Result<DictRsp> {
        let flags = optype;
        either!(
            self,
            ctx,
            on,
            |gfid| XattropReq {
                gfid,
                flags,
                dict,
                xdata
            },
            |gfid, fd| FxattropReq {
                gfid,
                fd,
                flags,
                dict,
                xdata
            }
        )
    }

    async fn create(&self, ctx: &Ctx, req: &CreateReq, fd: &FdRef) -> Result<CreateRsp> {
        fd.check_open()?;
        let session = self.brick.session().await?;
        let (rsp, _) = self.brick.fop_on(&session, ctx, req, Bytes::new()).await?;
        let r = fd.ctx_or_insert(self.id, || RemoteFd::new(self.brick.clone()))?;
        *r.state.lock() = (session.generation, rsp.fd);
        Ok(rsp)
    }
    async fn open(&self, ctx: &Ctx, fd: &FdRef, _xdata: GfxDict) -> Result<()> {
        // O_TRUNC acts on the caller's first OPEN only, never on a reopen.
        let mut strip = oflags::CREAT | oflags::EXCL;
        if fd.lazy || fd.trunc_above() || fd.ctx::<RemoteFd>(self.id).is_some() {
            strip |= oflags::TRUNC;
        }
        self.remote_as(ctx, fd, strip, true).await.map(drop)
    }
    async fn read(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        size: u32,
        xdata: GfxDict,
    ) -> Result<(ReadRsp, Bytes)> {
        let flag = fd.flags;
        if fd.lazy && fd.read_only() && !self.opened(fd) {
            fd.check_open()?;
            let gfid = fd.gfid();
            let req = ReadReq {
                gfid,
                fd: ANON_FD,
                offset,
                size,
                flag,
                xdata,
            };
            return self.brick.fop(ctx, &req, Bytes::new()).await;
        }
        self.fd_call(
            ctx,
            fd,
            |gfid, fd| ReadReq {
                gfid,
                fd,
                offset,
                size,
                flag,
                xdata,
            },
            Bytes::new(),
        )
        .await
    }
    async fn write(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        data: Bytes,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let (flag, size) = (fd.flags, data.len() as u32);
        let build = |gfid, fd| WriteReq {
            gfid,
            fd,
            offset,
            size,
            flag,
            xdata,
        };
        Ok(self.fd_call(ctx, fd, build, data).await?.0)
    }
    async fn flush(&self, ctx: &Ctx, fd: &FdRef, xdata: GfxDict) -> Result<()> {
        if !self.opened(fd) {
            return Ok(()); // never opened here: no data, no locks to let go of
        }
        let build = |gfid, fd| FlushReq { gfid, fd, xdata };
        self.fd_call(ctx, fd, build, Bytes::new()).await.map(drop)
    }
    async fn fsync(&self, ctx: &Ctx, fd: &FdRef, datasync: bool, xdata: GfxDict) -> Result<()> {
        if fd.is_dir {
            let datasync = i32::from(datasync);
            let build = |gfid, fd| FsyncdirReq {
                gfid,
                fd,
                datasync,
                xdata,
            };
            self.fd_call(ctx, fd, build, Bytes::new()).await.map(drop)
        } else {
            let datasync = u32::from(datasync);
            let build = |gfid, fd| FsyncReq {
                gfid,
                fd,
                datasync,
                xdata,
            };
            self.fd_call(ctx, fd, build, Bytes::new()).await.map(drop)
        }
    }
    async fn fallocate(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        mode: u32,
        offset: u64,
        len: u64,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let build = |gfid, fd| FallocateReq {
            gfid,
            fd,
            flags: mode,
            offset,
            size: len,
            xdata,
        };
        Ok(self.fd_call(ctx, fd, build, Bytes::new()).await?.0)
    }
    async fn discard(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        len: u64,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let build = |gfid, fd| DiscardReq {
            gfid,
            fd,
            offset,
            size: len,
            xdata,
        };
        Ok(self.fd_call(ctx, fd, build, Bytes::new()).await?.0)
    }
    async fn zerofill(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        len: u64,
        xdata: GfxDict,
    ) -> Result<TwoIattRsp> {
        let build = |gfid, fd| ZerofillReq {
            gfid,
            fd,
            offset,
            size: len,
            xdata,
        };
        Ok(self.fd_call(ctx, fd, build, Bytes::new()).await?.0)
    }
    async fn seek(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        what: i32,
        xdata: GfxDict,
    ) -> Result<SeekRsp> {
        let build = |gfid, fd| SeekReq {
            gfid,
            fd,
            offset,
            what,
            xdata,
        };
        Ok(self.fd_call(ctx, fd, build, Bytes::new()).await?.0)
    }
    async fn lk(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        cmd: u32,
        flock: &Flock,
        xdata: GfxDict,
    ) -> Result<LkRsp> {
        let (kind, flock) = (flock.kind, flock.clone());
        let build = |gfid, fd| LkReq {
            gfid,
            fd,
            cmd,
            kind,
            flock,
            xdata,
        };
        Ok(self.fd_call(ctx, fd, build, Bytes::new()).await?.0)
    }
    async fn readdir(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        size: u32,
        xdata: GfxDict,
    ) -> Result<ReaddirRsp> {
        let build = |gfid, fd| ReaddirReq {
            gfid,
            fd,
            offset,
            size,
            xdata,
        };
        Ok(self.fd_call(ctx, fd, build, Bytes::new()).await?.0)
    }
    async fn readdirp(
        &self,
        ctx: &Ctx,
        fd: &FdRef,
        offset: u64,
        size: u32,
        xdata: GfxDict,
    ) -> Result<ReaddirpRsp> {
        let build = |gfid, fd| ReaddirpReq {
            gfid,
            fd,
            offset,
            size,
            xdata,
        };
        Ok(self.fd_call(ctx, fd, build, Bytes::new()).await?.0)
    }
    async fn copy_file_range(
        &self,
        ctx: &Ctx,
        fd_in: &FdRef,
        off_in: u64,
        fd_out: &FdRef,
        off_out: u64,
        len: u32,
        xdata: GfxDict,
    ) -> Result<ThreeIattRsp> {
        let (_, out) = self.remote(ctx, fd_out).await?;
        let gfid2 = fd_out.gfid();
        let build = |gfid1, fd_in| CopyFileRangeReq {
            gfid1,
            gfid2,
            fd_in,
            fd_out: out,
            off_in,
            off_out,
            size: len,
            flag: 0,
            xdata,
        };
        Ok(self.fd_call(ctx, fd_in, build, Bytes::new()).await?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::{is_local_host, is_posix_xattr};
    use crate::distribute::is_dht_xattr;

    #[test]
    fn local_hosts() {
        assert!(is_local_host("127.0.0.2"));
        assert!(is_local_host("localhost"));
        // TEST-NET-1: never an address of this machine.
        assert!(!is_local_host("192.0.2.1"));
        assert!(!is_local_host("no-such-host.invalid"));
    }

    #[test]
    fn internal_xattrs() {
        let hidden = |n: &[u8]| is_posix_xattr(n) || is_dht_xattr(n);
        assert!(hidden(b"trusted.gfid"));
        assert!(hidden(b"trusted.glusterfs.dht"));
        assert!(hidden(b"trusted.glusterfs.dht.linkto"));
        assert!(hidden(b"trusted.gfid2path.3fb73d826dfd18fb"));
        // The official client lets these through (checked on a mount).
        assert!(!hidden(b"trusted.glusterfs.foo"));
        assert!(!hidden(b"trusted.afr.x"));
        assert!(!hidden(b"user.x"));
    }
}
