//! Directory attributes: what we last told the kernel, and what our own
//! entry operations reported since.
//!
//! After every entry operation (create, mkdir, unlink, rename, ...) the
//! kernel drops the parent directory's cached attributes and asks for them
//! again. The operation's reply already carries them (postparent), so they
//! are kept here for the attribute timeout and the kernel's next GETATTR
//! is answered without a round trip, as the official client's md-cache
//! does. On a distributed volume the reply comes from one subvolume while
//! a directory's attributes are merged over all of them (times: the
//! latest), so a reply is folded into what we last saw of the directory
//! rather than taken as the whole truth. Entries live for the attribute
//! timeout only: another client's change shows as soon as the kernel's
//! own cache would have let it.

use crate::ttl_map::TtlMap;
use client::{Gfid, Iatt};
use std::time::Duration;

/// Bound on directories remembered at once.
const MAX: usize = 65536;

pub struct DirAttrs {
    map: TtlMap<Gfid, Iatt>,
}

impl DirAttrs {
    pub fn new(ttl: Duration) -> DirAttrs {
        DirAttrs {
            map: TtlMap::new(ttl, MAX),
        }
    }

    /// We told the kernel these attributes of a directory (a GETATTR or
    /// LOOKUP answer: the whole, merged view).
    pub fn seen(&self, st: &Iatt) {
        if st.is_valid() && st.is_dir() {
            self.map.insert(st.gfid, *st);
        }
    }

    /// An operation in `dir` left it with attributes `post` (invalid: the
    /// operation did not say, so forget what we had). Times are folded
    /// into what we knew (the latest wins); the rest is taken as is.
    pub fn changed(&self, dir: Gfid, post: &Iatt) {
        if !(post.is_valid() && post.is_dir() && post.gfid == dir) {
            self.forget(dir);
            return;
        }
        let mut st = *post;
        if let Some(old) = self.get(dir) {
            (st.atime, st.atime_nsec) = (st.atime, st.atime_nsec).max((old.atime, old.atime_nsec));
            (st.mtime, st.mtime_nsec) = (st.mtime, st.mtime_nsec).max((old.mtime, old.mtime_nsec));
            (st.ctime, st.ctime_nsec) = (st.ctime, st.ctime_nsec).max((old.ctime, old.ctime_nsec));
        }
        self.map.insert(dir, st);
    }

    /// `dir` changed in a way whose result we do not know.
    pub fn forget(&self, dir: Gfid) {
        self.map.remove(&dir);
    }

    /// The attributes of `dir` if an operation of ours reported them
    /// within the attribute timeout.
    pub fn get(&self, dir: Gfid) -> Option<Iatt> {
        self.map.get(&dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(g: Gfid, mtime: i64) -> Iatt {
        Iatt {
            gfid: g,
            ino: 1,
            mode: proto::iatt::S_IFDIR | 0o755,
            mtime,
            ..Iatt::default()
        }
    }

    #[test]
    fn kept_for_the_timeout_and_forgotten_on_unknown_changes() {
        let g = Gfid::random();
        let c = DirAttrs::new(Duration::from_millis(200));
        assert!(c.get(g).is_none());
        c.changed(g, &dir(g, 5));
        assert_eq!(c.get(g).map(|s| s.mtime), Some(5));
        // A reply without the parent's attributes: forget.
        c.changed(g, &Iatt::default());
        assert!(c.get(g).is_none());
        // Another directory's attributes never land under this one.
        c.changed(g, &dir(Gfid::random(), 6));
        assert!(c.get(g).is_none());
        // A reply from one subvolume never moves a time backwards.
        c.seen(&dir(g, 9));
        c.changed(g, &dir(g, 7));
        assert_eq!(c.get(g).map(|s| s.mtime), Some(9));
        std::thread::sleep(Duration::from_millis(250));
        assert!(c.get(g).is_none());
        // attribute-timeout=0: nothing is cached.
        let off = DirAttrs::new(Duration::ZERO);
        off.changed(g, &dir(g, 8));
        assert!(off.get(g).is_none());
    }
}
