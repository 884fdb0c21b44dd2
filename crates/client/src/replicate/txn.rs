//! Which transaction each modifying fop is on a replica set, and the
//! locks it takes (§2): the facts the transaction engine will follow.

use super::changelog::Kind;
use proto::fops::{oflags, Fop};
use proto::iatt::Flock;

/// Start of the lock range of metadata transactions (LLONG_MAX − 1, len
/// 0): data locks cover the whole file, so data and metadata transactions
/// on one file serialise (§2, [LIVE]).
pub const METADATA_LOCK_START: u64 = i64::MAX as u64 - 1;

/// The changelog type a modifying fop's transaction uses; None for fops
/// that are not transactions (reads, lookups, locks, opens).
pub fn kind_of(fop: Fop) -> Option<Kind> {
    use Fop::*;
    match fop {
        Write | Ftruncate | Truncate | Fallocate | Discard | Zerofill | Fsync => Some(Kind::Data),
        Setattr | Fsetattr | Setxattr | Fsetxattr | Removexattr | Fremovexattr | Xattrop
        | Fxattrop => Some(Kind::Metadata),
        Create | Mknod | Mkdir | Symlink | Unlink | Link | Rmdir | Rename => Some(Kind::Entry),
        _ => None,
    }
}

/// The inodelk range of a data or metadata transaction (every lock is a
/// write lock in the AFR-name domain; owner in the credential, none in
/// the flock). Data: the whole file (`full-lock`, the default).
pub fn inodelk_range(kind: Kind) -> Flock {
    let (start, len) = match kind {
        Kind::Metadata => (METADATA_LOCK_START, 0),
        Kind::Data | Kind::Entry => (0, 0),
    };
    Flock {
        kind: proto::iatt::lock::WRLCK,
        start,
        len,
        ..Flock::default()
    }
}

/// xattrs an application may not set or remove on a replicated volume:
/// AFR's own (EPERM before any transaction).
pub fn is_afr_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.afr.") || name.starts_with(b"trusted.glusterfs.afr.")
}

/// OPEN's flags as the bricks get them: O_TRUNC is done afterwards as an
/// ftruncate(0) data transaction, never by the OPEN (§2).
pub fn brick_open_flags(flags: u32) -> u32 {
    flags & !oflags::TRUNC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fops_map_to_their_transaction() {
        assert_eq!(kind_of(Fop::Write), Some(Kind::Data));
        assert_eq!(kind_of(Fop::Fsync), Some(Kind::Data));
        assert_eq!(kind_of(Fop::Fsetxattr), Some(Kind::Metadata));
        assert_eq!(kind_of(Fop::Rename), Some(Kind::Entry));
        assert_eq!(kind_of(Fop::Read), None);
        assert_eq!(kind_of(Fop::Lookup), None);
        assert_eq!(kind_of(Fop::Inodelk), None);
    }

    #[test]
    fn lock_ranges_as_on_the_wire() {
        let m = inodelk_range(Kind::Metadata);
        assert_eq!((m.start, m.len), (9_223_372_036_854_775_806, 0));
        let d = inodelk_range(Kind::Data);
        assert_eq!((d.start, d.len, d.kind), (0, 0, proto::iatt::lock::WRLCK));
        assert!(d.lk_owner.is_empty());
    }

    #[test]
    fn afr_xattrs_and_open_flags() {
        assert!(is_afr_xattr(b"trusted.afr.v-client-0"));
        assert!(is_afr_xattr(b"trusted.glusterfs.afr.x"));
        assert!(!is_afr_xattr(b"trusted.afrx"));
        assert!(!is_afr_xattr(b"user.afr"));
        let f = oflags::RDWR | oflags::TRUNC | oflags::APPEND;
        assert_eq!(brick_open_flags(f), oflags::RDWR | oflags::APPEND);
    }
}
