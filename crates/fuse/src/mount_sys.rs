//! The kernel mount itself. We call mount(2) directly (we run as root, as
//! the official client does) so the mount is typed `fuse.glusterfs-rs` and
//! carries exactly the flags asked for; fuser then serves the /dev/fuse
//! descriptor.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub const FS_TYPE: &str = "fuse.glusterfs-rs";

/// Kernel mount flags (MS_*) for the generic options.
pub fn flags_for(read_only: bool, kernel_flags: &[String]) -> libc::c_ulong {
    let mut f = 0;
    if read_only {
        f |= libc::MS_RDONLY;
    }
    for k in kernel_flags {
        f |= match k.as_str() {
            "nosuid" => libc::MS_NOSUID,
            "nodev" => libc::MS_NODEV,
            "noexec" => libc::MS_NOEXEC,
            "noatime" => libc::MS_NOATIME,
            "nodiratime" => libc::MS_NODIRATIME,
            "relatime" => libc::MS_RELATIME,
            "strictatime" => libc::MS_STRICTATIME,
            "lazytime" => libc::MS_LAZYTIME,
            "sync" => libc::MS_SYNCHRONOUS,
            "dirsync" => libc::MS_DIRSYNC,
            "mand" => libc::MS_MANDLOCK,
            _ => 0,
        };
    }
    f
}

/// A mounted FUSE file system.
#[derive(Debug, Clone)]
pub struct KernelMount {
    target: CString,
}

impl KernelMount {
    /// Opens /dev/fuse and mounts it on `target`. Returns the device
    /// descriptor to serve.
    pub fn mount(
        source: &str,
        target: &Path,
        flags: libc::c_ulong,
        max_read: u32,
    ) -> std::io::Result<(OwnedFd, KernelMount)> {
        let invalid = |what| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
        let target_c = CString::new(target.as_os_str().as_bytes())
            .map_err(|_| invalid("NUL in mount point"))?;
        let source_c = CString::new(source).map_err(|_| invalid("NUL in source"))?;
        let fstype = CString::new(FS_TYPE).map_err(|_| invalid("fs type"))?;
        // SAFETY: a constant, NUL-terminated path.
        let raw = unsafe { libc::open(c"/dev/fuse".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: open succeeded; the descriptor is ours.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let data = format!(
            "fd={raw},rootmode=40000,user_id=0,group_id=0,default_permissions,allow_other,max_read={max_read}"
        );
        let data_c = CString::new(data).map_err(|_| invalid("mount data"))?;
        // SAFETY: all pointers are valid NUL-terminated strings for the call.
        let rc = unsafe {
            libc::mount(
                source_c.as_ptr(),
                target_c.as_ptr(),
                fstype.as_ptr(),
                flags,
                data_c.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((fd, KernelMount { target: target_c }))
    }

    /// Detaches the mount (lazily, so a busy mount point cannot keep the
    /// daemon alive); the kernel then ends the FUSE session.
    pub fn unmount(&self) -> std::io::Result<()> {
        // SAFETY: target is a valid NUL-terminated path.
        if unsafe { libc::umount2(self.target.as_ptr(), libc::MNT_DETACH) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}
