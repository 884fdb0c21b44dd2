use proto::errno;
use proto::rpc_msg::{AcceptError, AuthTooLarge, ReplyStatus};
use std::time::Duration;

/// Why a call failed below the file-system level.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    #[error("cannot connect to {peer}: {reason}")]
    Connect { peer: String, reason: String },
    #[error("connection to {peer} timed out after {after:?}")]
    ConnectTimeout { peer: String, after: Duration },
    #[error("not connected to {peer}")]
    NotConnected { peer: String },
    #[error("{peer}: no reply to program {program} procedure {procedure} within {after:?}")]
    Timeout {
        peer: String,
        program: u32,
        procedure: u32,
        after: Duration,
    },
    #[error("{peer}: program {program} procedure {procedure} rejected: {status:?}")]
    Rejected {
        peer: String,
        program: u32,
        procedure: u32,
        status: ReplyStatus,
    },
    #[error("{peer}: malformed reply to program {program} procedure {procedure}: {source}")]
    Decode {
        peer: String,
        program: u32,
        procedure: u32,
        source: xdr::Error,
    },
    #[error(transparent)]
    Auth(#[from] AuthTooLarge),
}

impl RpcError {
    /// The errno a file-system caller should see. Upstream turns every
    /// RPC-level failure into ENOTCONN; we keep that, but say EINVAL for
    /// arguments the server could not decode and E2BIG for an oversized
    /// credential.
    pub fn errno(&self) -> i32 {
        match self {
            RpcError::Rejected {
                status: ReplyStatus::Accepted(AcceptError::GarbageArgs),
                ..
            } => errno::EINVAL,
            RpcError::Rejected {
                status: ReplyStatus::Accepted(AcceptError::ProcUnavail),
                ..
            } => errno::EOPNOTSUPP,
            RpcError::Decode { .. } => errno::EIO,
            RpcError::Auth(_) => errno::E2BIG,
            RpcError::Timeout { .. } => errno::ETIMEDOUT,
            RpcError::Connect { .. }
            | RpcError::ConnectTimeout { .. }
            | RpcError::NotConnected { .. }
            | RpcError::Rejected { .. } => errno::ENOTCONN,
        }
    }
}
