//! Typed errors with the context a user needs: which server, volume, brick
//! and operation.

use proto::errno;
use rpc::RpcError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The brick answered the fop with op_ret -1.
    #[error("{fop} on {brick}: {}", errno::describe(*.errno))]
    Fop {
        fop: &'static str,
        brick: String,
        errno: i32,
    },
    /// The call did not complete at the RPC level.
    #[error("{fop} on {brick}: {source}")]
    Rpc {
        fop: &'static str,
        brick: String,
        source: RpcError,
    },
    #[error("cannot reach the volfile server: {0}")]
    Mgmt(String),
    #[error("volume {volume} does not exist on {server}")]
    NoSuchVolume { volume: String, server: String },
    #[error("{server} refused the volfile of {volume}: {reason}")]
    VolfileRefused {
        volume: String,
        server: String,
        reason: String,
    },
    #[error("brick {brick} refused the connection: {reason}")]
    Handshake {
        brick: String,
        reason: String,
        errno: i32,
    },
    #[error("invalid volfile from {server}: {msg}")]
    Volfile { server: String, msg: String },
    #[error("volume uses translator '{name}' (type {xl_type}), which glusterfs-rs does not implement yet{detail}; refusing to mount rather than risk corrupting data")]
    Unsupported {
        name: String,
        xl_type: String,
        detail: String,
    },
    /// Something the caller passed is wrong.
    #[error("{0}")]
    Invalid(String),
    /// An error with an errno and a message made by the client itself.
    #[error("{msg}")]
    Errno { errno: i32, msg: String },
}

impl Error {
    /// The errno to hand to the kernel or a CLI user.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Fop { errno, .. } | Error::Errno { errno, .. } => *errno,
            Error::Handshake { errno, .. } => *errno,
            Error::Rpc { source, .. } => source.errno(),
            Error::Mgmt(_) => errno::ENOTCONN,
            Error::NoSuchVolume { .. } => errno::ENOENT,
            Error::VolfileRefused { .. } => errno::ENOTCONN,
            Error::Volfile { .. } | Error::Invalid(_) => errno::EINVAL,
            Error::Unsupported { .. } => errno::EOPNOTSUPP,
        }
    }

    pub fn errno_msg(errno: i32, msg: impl Into<String>) -> Error {
        Error::Errno {
            errno,
            msg: msg.into(),
        }
    }

    /// True for "no such entry".
    pub fn is_enoent(&self) -> bool {
        self.errno() == errno::ENOENT
    }
}

pub type Result<T> = std::result::Result<T, Error>;
