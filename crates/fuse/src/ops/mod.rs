//! What each kernel request does, free of fuser types: every operation
//! takes plain values, works on [`FsState`] and returns what to answer
//! (or the error). `fuse_ops` only translates between fuser and these.
//!
//! - [`attr`]: lookup, getattr, setattr;
//! - [`names`]: mknod, mkdir, symlink, link, unlink, rmdir, rename;
//! - [`files`]: open, create, read, write, flush, release, fsync,
//!   fallocate, lseek, copy_file_range;
//! - [`posix_locks`]: getlk, setlk and the lock ranges;
//! - [`xattr`]: the xattr calls, their cache and the official client's
//!   rules for GlusterFS's own xattrs;
//! - [`dirs`]: opendir, readdir(plus), releasedir, fsyncdir, statfs.

pub mod attr;
pub mod dirs;
pub mod files;
pub mod names;
pub mod posix_locks;
pub mod xattr;

use crate::fs::FsState;
use client::Iatt;
use std::time::Duration;

pub use crate::fs::Result;

/// A node as the kernel is told about it: its node id (0 for a negative
/// entry, or an entry the kernel takes no reference for), its attributes
/// and how long the kernel may keep them.
#[derive(Debug, Clone)]
pub struct Node {
    pub ino: u64,
    pub st: Iatt,
    pub ttl: Duration,
}

/// A new entry for the kernel, counting its reference to the node.
pub(crate) fn entry(s: &FsState, st: Iatt) -> Node {
    Node {
        ino: s.remember(st.gfid),
        st,
        ttl: s.timeouts.entry,
    }
}

/// The attributes of node `ino` for the kernel.
pub(crate) fn attr_of(s: &FsState, ino: u64, st: Iatt) -> Node {
    Node {
        ino,
        st,
        ttl: s.timeouts.attr,
    }
}

/// An errno as an error of ours.
pub(crate) fn fail<T>(errno: i32, what: &str) -> Result<T> {
    Err(client::Error::errno_msg(errno, what.to_string()))
}
