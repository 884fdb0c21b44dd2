//! Files under migration by a rebalance (§8). The rebalance marks the
//! source with mode bits: phase 1 (copying) = regular file with sticky
//! and setgid; phase 2 (done, source emptied) = permission bits exactly
//! the sticky bit. Replies from a phase-2 source are stale and must be
//! redone on the destination; writes acknowledged by a phase-1 source
//! must also be applied to the destination.

use proto::iatt::Iatt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    None,
    /// Data being copied: the source still serves, writes go to both.
    Copying,
    /// Copied: the source is an empty linkto; go to the destination.
    Moved,
}

const S_ISGID: u32 = 0o2000;
const S_ISVTX: u32 = 0o1000;

pub fn phase(st: &Iatt) -> Phase {
    if !st.is_reg() {
        Phase::None
    } else if st.mode & 0o7777 == S_ISVTX {
        Phase::Moved
    } else if st.mode & (S_ISGID | S_ISVTX) == S_ISGID | S_ISVTX {
        Phase::Copying
    } else {
        Phase::None
    }
}

/// Hides the phase-1 marker bits, as the official client does for every
/// regular file it reports.
pub fn clean(st: &mut Iatt) {
    if phase(st) == Phase::Copying {
        st.mode &= !(S_ISGID | S_ISVTX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::iatt::{S_IFDIR, S_IFREG};

    #[test]
    fn phases_follow_the_mode_bits() {
        let f = |mode| Iatt {
            mode,
            ..Iatt::default()
        };
        assert_eq!(phase(&f(S_IFREG | 0o644)), Phase::None);
        assert_eq!(phase(&f(S_IFREG | 0o3644)), Phase::Copying);
        assert_eq!(phase(&f(S_IFREG | 0o1000)), Phase::Moved);
        assert_eq!(phase(&f(S_IFDIR | 0o1777)), Phase::None);
        let mut st = f(S_IFREG | 0o3640);
        clean(&mut st);
        assert_eq!(st.mode, S_IFREG | 0o640);
        let mut st = f(S_IFREG | 0o1644);
        clean(&mut st);
        assert_eq!(st.mode, S_IFREG | 0o1644);
    }
}
