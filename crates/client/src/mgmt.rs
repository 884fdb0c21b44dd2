//! Talking to glusterd: fetch the client volfile (GETSPEC) and find brick
//! ports (PORTBYBRICK). PROTOCOL.md 4.1 and 4.3.

use crate::error::{Error, Result};
use proto::errno;
use proto::mgmt::{
    GetspecReq, GetspecRsp, PortByBrickReq, PortByBrickRsp, GETSPEC_FLAG_SERVERS_LIST,
    MAX_OP_VERSION, MIN_OP_VERSION,
};
use proto::rpc_msg::{procs, prog, Auth};
use proto::OldDict;
use rpc::{Connection, ConnectionOptions};
use xdr::Xdr;

/// glusterd's port.
pub const GLUSTERD_PORT: u16 = 24007;

/// A connection to one glusterd.
#[derive(Clone, Debug)]
pub struct Mgmt {
    pub conn: Connection,
    pub host: String,
}

impl Mgmt {
    pub async fn connect(host: &str, port: u16, options: ConnectionOptions) -> Result<Mgmt> {
        let conn = Connection::connect(host, port, options)
            .await
            .map_err(|e| Error::Mgmt(e.to_string()))?;
        Ok(Mgmt {
            conn,
            host: host.to_string(),
        })
    }

    /// Fetches the client volfile of `volume`.
    pub async fn getspec(&self, volume: &str) -> Result<String> {
        let mut xdata = OldDict::new();
        // Without these glusterd assumes op-version 1 and refuses most volumes.
        xdata.set_str("min-op-version", MIN_OP_VERSION);
        xdata.set_str("max-op-version", MAX_OP_VERSION);
        let req = GetspecReq {
            flags: GETSPEC_FLAG_SERVERS_LIST,
            key: volume.trim_start_matches('/').as_bytes().to_vec(),
            xdata,
        };
        let reply = self
            .conn
            .call(
                prog::HANDSHAKE,
                prog::HANDSHAKE_VERS,
                procs::HNDSK_GETSPEC,
                &Auth::Null,
                |e| req.encode(e),
            )
            .await
            .map_err(|e| Error::Mgmt(format!("GETSPEC {volume}: {e}")))?;
        let rsp = GetspecRsp::from_xdr(reply.body())
            .map_err(|e| Error::Mgmt(format!("{}: malformed GETSPEC reply: {e}", self.host)))?;
        if rsp.op_ret < 0 {
            return Err(match rsp.op_errno {
                errno::ENOENT => Error::NoSuchVolume {
                    volume: volume.to_string(),
                    server: self.host.clone(),
                },
                e => Error::VolfileRefused {
                    volume: volume.to_string(),
                    server: self.host.clone(),
                    reason: errno::describe(e),
                },
            });
        }
        String::from_utf8(rsp.spec).map_err(|_| Error::Volfile {
            server: self.host.clone(),
            msg: "volfile is not UTF-8 text".into(),
        })
    }

    /// The port of the brick exported at `brick_path`, or None when glusterd
    /// does not know it (brick not running or not signed in yet).
    pub async fn port_by_brick(&self, brick_path: &str) -> Result<Option<u16>> {
        let req = PortByBrickReq {
            brick: brick_path.as_bytes().to_vec(),
        };
        let reply = self
            .conn
            .call(
                prog::PORTMAP,
                prog::PORTMAP_VERS,
                procs::PMAP_PORTBYBRICK,
                &Auth::Null,
                |e| req.encode(e),
            )
            .await
            .map_err(|e| Error::Mgmt(format!("PORTBYBRICK {brick_path}: {e}")))?;
        let rsp = PortByBrickRsp::from_xdr(reply.body())
            .map_err(|e| Error::Mgmt(format!("{}: malformed PORTBYBRICK reply: {e}", self.host)))?;
        // Decide on op_ret and the port; status and op_errno are never set.
        if rsp.op_ret < 0 || rsp.port <= 0 || rsp.port > i32::from(u16::MAX) {
            return Ok(None);
        }
        Ok(Some(rsp.port as u16))
    }
}
