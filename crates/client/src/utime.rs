//! features/utime: the AUTH v3 credential flags that make the brick set
//! times from the client's clock (PROTOCOL.md 2.4). Without them, times do
//! not advance on volumes with ctime enabled (the 10.x default).

use proto::fops::Fop;
use proto::rpc_msg::mdata_flags::*;

/// Whether the volume has features/utime and its noatime option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Utime {
    pub enabled: bool,
    pub noatime: bool,
}

impl Utime {
    /// The flags to send with `fop`.
    pub fn flags(&self, fop: Fop) -> u32 {
        if !self.enabled {
            return 0;
        }
        let atime = if self.noatime { 0 } else { ATIME };
        match fop {
            Fop::Setxattr | Fop::Fsetxattr | Fop::Removexattr | Fop::Fremovexattr => CTIME,
            // Upstream (utime-autogen SETATTR template) sends CTIME when
            // `valid` is 0 or has UID, GID or MODE, and for times alone
            // sends no flag but the current time (the given time for
            // *_NOW), which the brick's posix_update_utime_in_mdata makes
            // the ctime. CTIME with the current time does both.
            Fop::Setattr | Fop::Fsetattr => CTIME,
            Fop::Write | Fop::Truncate | Fop::Ftruncate => MTIME | CTIME,
            // Upstream's choice (utime-helpers.c), odd as it is.
            Fop::Fallocate | Fop::Zerofill => MTIME | ATIME,
            Fop::Open | Fop::Opendir | Fop::Read => atime,
            Fop::Mknod | Fop::Mkdir | Fop::Symlink | Fop::Create => {
                ATIME | CTIME | MTIME | PAR_CTIME | PAR_MTIME
            }
            Fop::Unlink | Fop::Rmdir | Fop::Link | Fop::Rename => CTIME | PAR_CTIME | PAR_MTIME,
            Fop::CopyFileRange => CTIME | MTIME | atime,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_official_client_on_the_wire() {
        // PROTOCOL.md 2.4: FUSE sent 0x1f with CREATE, 0x3 with WRITE,
        // 0x19 with UNLINK, 0 with OPEN/READ/LOOKUP/FLUSH under noatime.
        let u = Utime {
            enabled: true,
            noatime: true,
        };
        assert_eq!(u.flags(Fop::Create), 0x1f);
        assert_eq!(u.flags(Fop::Write), 0x3);
        assert_eq!(u.flags(Fop::Unlink), 0x19);
        assert_eq!(u.flags(Fop::Open), 0);
        assert_eq!(u.flags(Fop::Lookup), 0);
        // chmod, chown, utimes: the brick moves ctime to the sent time.
        assert_eq!(u.flags(Fop::Setattr), 0x1);
        assert_eq!(u.flags(Fop::Fsetattr), 0x1);
        assert_eq!(Utime::default().flags(Fop::Write), 0);
    }
}
