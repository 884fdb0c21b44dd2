//! glusterfs-rs's FUSE file system: the kernel side (`fuse_ops`) over the
//! file-system semantics (`fs`, `inode`) over `client::Volume`, and the
//! mount daemon (`daemon`, `options`, `logging`) shared by `glusterfs-rs
//! mount` and `mount.glusterfs-rs`.

pub mod daemon;
pub mod fs;
pub mod fuse_ops;
pub mod inode;
pub mod logging;
pub mod mount_sys;
pub mod options;
