//! ONC RPC over TCP for GlusterFS, on tokio.
//!
//! One [`Connection`] is one TCP connection to glusterd or a brick. Many
//! calls are outstanding at once and matched to replies by xid; the server
//! may also send calls of its own (callbacks) on the same socket.
//!
//! The lifecycle rule this crate exists for: **everything a connection
//! starts belongs to it.** Its two tasks (reader and writer) and its ping
//! timer live inside the connection; closing it, or dropping the last
//! handle, aborts them and completes every outstanding call with ENOTCONN
//! at once. Per-call deadlines are owned by the waiting call itself and
//! vanish with it. Nothing can keep a connection, or a process, alive after
//! close — unlike upstream's rpc-clnt, whose 10 s `call_bail` timer holds a
//! reference that delays libgfapi teardown (PROTOCOL.md 4.8).

mod conn;
mod error;

pub use conn::{Callback, Connection, ConnectionOptions, Reply};
pub use error::RpcError;

/// Largest record we accept or send: 1 MiB I/O plus headers is typical;
/// 4 MiB reads are allowed, and anything above 64 MiB is a broken peer.
pub const MAX_RECORD: usize = 64 * 1024 * 1024;
