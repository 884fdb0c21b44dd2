//! glusterfs-rs's FUSE file system: the kernel side (`fuse_ops`, fuser types
//! only) over what each request does (`ops`) over the file system's state
//! (`fs`, `inode`, `writeback`, `locks`, `dir_attrs`) over `client::Volume`, and the
//! mount daemon (`daemon`, `options`, `logging`) shared by `glusterfs-rs
//! mount` and `mount.glusterfs-rs`.

pub mod daemon;
pub mod dir_attrs;
pub mod fs;
pub mod fuse_ops;
pub mod inode;
pub mod locks;
pub mod logging;
pub mod mount_sys;
pub mod ops;
pub mod options;
pub mod ttl_map;
pub mod writeback;

/// Keeps large I/O buffers (1 MiB records) in the heap instead of a fresh
/// mmap for each one: glibc maps every allocation of 128 KiB or more by
/// default, and the page faults and zeroing of a new mapping per WRITE or
/// READ dominated the client's CPU profile.
pub fn tune_allocator() {
    // SAFETY: mallopt only adjusts allocator parameters.
    // Two arenas and a modest trim threshold keep the resident size low
    // (every thread otherwise gets an arena that keeps its freed buffers).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 16 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
