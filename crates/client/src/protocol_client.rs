//! protocol/client: one brick, reached over one RPC connection.
//!
//! Connecting is: PORTBYBRICK on glusterd, TCP to the brick, SETVOLUME with
//! the volfile section's options (PROTOCOL.md 4.3-4.4). A lost connection
//! is re-established on the next call, with a fresh `process-uuid`; fds
//! opened on the old connection are reopened by their owners (see
//! `Fd`), because the brick released them when the connection dropped.

use crate::error::{Error, Result};
use crate::graph::ClientSpec;
use crate::mgmt::{Mgmt, GLUSTERD_PORT};
use bytes::Bytes;
use parking_lot::Mutex;
use proto::errno;
use proto::fops::{Fop, FopReply, FopRequest};
use proto::mgmt::{SetvolumeReq, SetvolumeRsp};
use proto::rpc_msg::{procs, prog, Auth, Identity};
use proto::OldDict;
use rpc::{Connection, ConnectionOptions, RpcError};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use xdr::{Decoder, Xdr};

/// Counts SETVOLUMEs in this process so every connection gets a unique
/// process-uuid (the brick keys fds and locks by it).
static CONNECTION_SERIAL: AtomicU32 = AtomicU32::new(0);

/// A connected brick: its connection and the generation of that connection
/// (bumped on every reconnect; remote fd numbers are only valid within one).
#[derive(Clone, Debug)]
pub struct Session {
    pub conn: Connection,
    pub generation: u64,
}

pub struct Brick {
    pub spec: ClientSpec,
    volume: String,
    options: ConnectionOptions,
    /// The glusterd to ask for our port (same host as the volfile server,
    /// usually).
    mgmt: Mutex<Option<Mgmt>>,
    state: tokio::sync::Mutex<State>,
    /// Fast path: the live session without taking the async lock.
    current: Mutex<Option<Session>>,
    process_name: String,
}

struct State {
    generation: u64,
    volume_id: Option<String>,
}

impl std::fmt::Debug for Brick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Brick({})", self.label())
    }
}

impl Brick {
    pub fn new(
        spec: ClientSpec,
        volume: &str,
        options: ConnectionOptions,
        mgmt: Option<Mgmt>,
        process_name: &str,
    ) -> Brick {
        let mut options = options;
        options.ping_timeout = spec.ping_timeout;
        Brick {
            spec,
            volume: volume.to_string(),
            options,
            mgmt: Mutex::new(mgmt),
            state: tokio::sync::Mutex::new(State {
                generation: 0,
                volume_id: None,
            }),
            current: Mutex::new(None),
            process_name: process_name.to_string(),
        }
    }

    /// "host:/brick/path (volume-client-N)", for messages.
    pub fn label(&self) -> String {
        format!(
            "{}:{} ({})",
            self.spec.remote_host, self.spec.remote_subvolume, self.spec.name
        )
    }

    /// The live session, connecting first if needed.
    pub async fn session(&self) -> Result<Session> {
        if let Some(s) = self.current.lock().as_ref() {
            if s.conn.is_alive() {
                return Ok(s.clone());
            }
        }
        let mut st = self.state.lock().await;
        // Someone else may have reconnected while we waited.
        if let Some(s) = self.current.lock().as_ref() {
            if s.conn.is_alive() {
                return Ok(s.clone());
            }
        }
        let conn = self.handshake(&mut st).await?;
        st.generation += 1;
        let s = Session {
            conn,
            generation: st.generation,
        };
        *self.current.lock() = Some(s.clone());
        Ok(s)
    }

    /// Closes the connection now; outstanding calls fail with ENOTCONN.
    pub fn close(&self) {
        if let Some(s) = self.current.lock().take() {
            s.conn.close();
        }
        if let Some(m) = self.mgmt.lock().take() {
            m.conn.close();
        }
    }

    async fn brick_port(&self) -> Result<u16> {
        if let Some(p) = self.spec.remote_port {
            return Ok(p);
        }
        let existing = self.mgmt.lock().clone();
        let mgmt = match existing {
            Some(m) if m.conn.is_alive() && m.host == self.spec.remote_host => m,
            _ => {
                let m = Mgmt::connect(&self.spec.remote_host, GLUSTERD_PORT, self.options.clone())
                    .await?;
                *self.mgmt.lock() = Some(m.clone());
                m
            }
        };
        match mgmt.port_by_brick(&self.spec.remote_subvolume).await? {
            Some(p) => Ok(p),
            None => Err(Error::Handshake {
                brick: self.label(),
                reason: "glusterd knows no port for this brick (is the brick process running? \
                         try 'gluster volume status')"
                    .into(),
                errno: errno::ENOTCONN,
            }),
        }
    }

    async fn handshake(&self, st: &mut State) -> Result<Connection> {
        // A brick that just (re)started answers EAGAIN until its graph is up.
        let mut attempt = 0;
        loop {
            let port = self.brick_port().await?;
            let conn = Connection::connect(&self.spec.remote_host, port, self.options.clone())
                .await
                .map_err(|e| Error::Handshake {
                    brick: self.label(),
                    reason: e.to_string(),
                    errno: errno::ENOTCONN,
                })?;
            match self.setvolume(&conn, st).await {
                Ok(()) => return Ok(conn),
                Err(e) if e.errno() == errno::EAGAIN && attempt < 20 => {
                    conn.close();
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    conn.close();
                    return Err(e);
                }
            }
        }
    }

    async fn setvolume(&self, conn: &Connection, st: &mut State) -> Result<()> {
        let mut dict = OldDict::new();
        for (k, v) in &self.spec.options {
            // Upstream normalises tcp to socket.
            let v = if k == "transport-type" && v == "tcp" {
                "socket"
            } else {
                v.as_str()
            };
            dict.set_str(k, v);
        }
        let serial = CONNECTION_SERIAL.fetch_add(1, Ordering::Relaxed);
        let uuid = uuid_of_process();
        dict.set_str(
            "process-uuid",
            &format!(
                "CTX_ID:{uuid}-GRAPH_ID:0-PID:{}-HOST:{}-PC_NAME:{}-RECON_NO:-{serial}",
                std::process::id(),
                hostname(),
                self.spec.name
            ),
        );
        dict.set_str("fops-version", &prog::FOP.to_string());
        dict.set_str("opversion", proto::mgmt::MAX_OP_VERSION);
        dict.set_str("clnt-lk-version", "1");
        dict.set_str("volfile-key", &self.volume);
        dict.set_str("client-version", "10.3");
        dict.set_str("process-name", &self.process_name);
        if let Some(id) = &st.volume_id {
            if !self.spec.options.iter().any(|(k, _)| k == "volume-id") {
                dict.set_str("volume-id", id);
            }
        }
        let req = SetvolumeReq { dict };
        let reply = conn
            .call_with_timeout(
                prog::HANDSHAKE,
                prog::HANDSHAKE_VERS,
                procs::HNDSK_SETVOLUME,
                &Auth::Null,
                |e| req.encode(e),
                Duration::from_secs(30),
            )
            .await
            .map_err(|e| Error::Handshake {
                brick: self.label(),
                reason: e.to_string(),
                errno: e.errno(),
            })?;
        let rsp = SetvolumeRsp::from_xdr(reply.body()).map_err(|e| Error::Handshake {
            brick: self.label(),
            reason: format!("malformed SETVOLUME reply: {e}"),
            errno: errno::EPROTO,
        })?;
        // On success op_errno is garbage: decide on op_ret only.
        if rsp.op_ret < 0 {
            let why = rsp.dict.get_str("ERROR").unwrap_or_default();
            let reason = match rsp.op_errno {
                errno::EACCES => format!("authentication failed ({why})"),
                errno::ENOENT => format!("no such brick on the server ({why})"),
                e => format!("{} ({why})", errno::describe(e)),
            };
            return Err(Error::Handshake {
                brick: self.label(),
                reason,
                errno: rsp.op_errno,
            });
        }
        if let Some(id) = rsp.dict.get_str("volume-id") {
            st.volume_id = Some(id);
        }
        tracing::debug!(brick = %self.label(), "connected");
        Ok(())
    }

    /// The credential on behalf of `ctx` (its utime flags were set by
    /// features/utime for the fop it serves).
    fn auth(&self, ctx: &Identity) -> Auth {
        let flags = ctx.utime_flags;
        let (sec, nsec) = if flags != 0 {
            let now = match ctx.utime_ns {
                0 => SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default(),
                ns => Duration::from_nanos(ns),
            };
            (now.as_secs(), now.subsec_nanos())
        } else {
            (0, 0)
        };
        Auth::V3 {
            id: ctx.clone(),
            flags,
            ctime_sec: sec,
            ctime_nsec: nsec,
        }
    }

    /// Sends one fop on the current session and decodes its reply.
    /// `payload` follows the arguments raw (WRITE). Returns the reply and
    /// whatever follows it in the record (READ data).
    pub async fn fop<Q: FopRequest>(
        &self,
        ctx: &Identity,
        req: &Q,
        payload: Bytes,
    ) -> Result<(Q::Reply, Bytes)> {
        let session = self.session().await?;
        self.fop_on(&session, ctx, req, payload).await
    }

    /// As [`Brick::fop`], on a given session (for fd-based calls whose fd
    /// number belongs to that session).
    pub async fn fop_on<Q: FopRequest>(
        &self,
        session: &Session,
        ctx: &Identity,
        req: &Q,
        payload: Bytes,
    ) -> Result<(Q::Reply, Bytes)> {
        let auth = self.auth(ctx);
        let rpc_err = |source: RpcError| Error::Rpc {
            fop: Q::FOP.name(),
            brick: self.label(),
            source,
        };
        let reply = session
            .conn
            .call_with_payload(
                prog::FOP,
                prog::FOP_VERS,
                Q::FOP as u32,
                &auth,
                |e| req.encode(e),
                payload,
            )
            .await
            .map_err(rpc_err)?;
        let body = reply.body_bytes();
        let mut d = Decoder::new(&body);
        let decode_err = |source| Error::Rpc {
            fop: Q::FOP.name(),
            brick: self.label(),
            source: RpcError::Decode {
                peer: session.conn.peer().to_string(),
                program: prog::FOP,
                procedure: Q::FOP as u32,
                source,
            },
        };
        let rsp = Q::Reply::decode(&mut d).map_err(decode_err)?;
        let rest = body.slice(d.position()..);
        if Q::FOP != Fop::Read && !rest.is_empty() {
            return Err(decode_err(xdr::Error::Trailing(rest.len())));
        }
        if rsp.op_ret() < 0 {
            // A bogus errno (0 or negative) still means failure.
            let e = if rsp.op_errno() > 0 {
                rsp.op_errno()
            } else {
                errno::EIO
            };
            return Err(Error::Fop {
                fop: Q::FOP.name(),
                brick: self.label(),
                errno: e,
            });
        }
        Ok((rsp, rest))
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// One random id per process, like upstream's CTX_ID.
fn uuid_of_process() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| proto::Gfid::random().to_string())
}
