//! The brick's lock tables, as features/locks keeps them (v10.3
//! inodelk.c, entrylk.c, posix.c):
//! - inodelk: per (inode, domain), byte ranges; RD/WR conflict when they
//!   overlap, at least one is WR and the owners differ; locks of one owner
//!   stack (no merging); an unlock must name exactly a held range (else
//!   EINVAL); GETLK is not supported (EOPNOTSUPP);
//! - entrylk: per (directory, domain), one name or the whole directory;
//!   any two locks of different owners on conflicting names conflict,
//!   whatever their type; unlock of a lock not held: EINVAL;
//! - posix lk: per inode, POSIX record locks (owners' ranges split and
//!   replaced, unlock of nothing succeeds), dropped on flush by owner and
//!   on release by fd.
//!
//! A lock request that could be granted still waits behind an earlier
//! blocked request it conflicts with, unless its owner already holds a
//! lock in the domain (upstream's starvation rule). The owner is the
//! caller's lock owner (the connection is the same for every caller of
//! one memory brick).

use super::state::R;
use proto::errno;
use proto::iatt::{lock, Flock};
use proto::Gfid;
use std::collections::HashMap;

pub(super) type Owner = Vec<u8>;

/// Inclusive byte range of a flock (`len` 0 = to the end).
pub(super) fn range_of(f: &Flock) -> R<(u64, u64)> {
    if f.start > i64::MAX as u64 || f.len > i64::MAX as u64 {
        return Err(errno::EINVAL);
    }
    let end = if f.len == 0 {
        u64::MAX
    } else {
        f.start.saturating_add(f.len - 1)
    };
    Ok((f.start, end))
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct RangeLk {
    pub owner: Owner,
    pub kind: u32,
    pub start: u64,
    pub end: u64,
    pub pid: u32,
    /// The brick fd a posix lock was taken through.
    pub fd: u64,
}

impl RangeLk {
    fn overlaps(&self, o: &RangeLk) -> bool {
        self.end >= o.start && o.end >= self.start
    }

    fn conflicts(&self, o: &RangeLk) -> bool {
        self.owner != o.owner
            && self.overlaps(o)
            && (self.kind == lock::WRLCK || o.kind == lock::WRLCK)
    }

    /// As a flock for a GETLK reply.
    pub fn flock(&self) -> Flock {
        Flock {
            kind: self.kind,
            whence: 0,
            start: self.start,
            len: if self.end == u64::MAX {
                0
            } else {
                self.end - self.start + 1
            },
            pid: self.pid,
            lk_owner: self.owner.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct EntryLk {
    pub owner: Owner,
    pub kind: u32,
    /// None: the whole directory.
    pub name: Option<Vec<u8>>,
}

impl EntryLk {
    fn conflicts(&self, o: &EntryLk) -> bool {
        let names = match (&self.name, &o.name) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        names && self.owner != o.owner
    }
}

type Key = (Gfid, Vec<u8>);

/// A blocked request, in arrival order.
enum Blocked {
    Inode(u64, Key, RangeLk),
    Entry(u64, Key, EntryLk),
    Posix(u64, Gfid, RangeLk),
}

#[derive(Default)]
pub(super) struct Locks {
    inode: HashMap<Key, Vec<RangeLk>>,
    entry: HashMap<Key, Vec<EntryLk>>,
    posix: HashMap<Gfid, Vec<RangeLk>>,
    blocked: Vec<Blocked>,
    next_ticket: u64,
}

/// What a lock attempt came to.
pub(super) enum Try {
    Granted,
    /// Must wait; its ticket keeps its place in the queue.
    Wait,
}

impl Locks {
    pub fn ticket(&mut self) -> u64 {
        self.next_ticket += 1;
        self.next_ticket
    }

    /// Forgets a waiter that gave up (disconnect, or a non-blocking try).
    pub fn cancel(&mut self, ticket: u64) {
        self.blocked.retain(|b| match b {
            Blocked::Inode(t, ..) | Blocked::Entry(t, ..) | Blocked::Posix(t, ..) => *t != ticket,
        });
    }

    /// Everything goes (the connection dropped: the brick releases all
    /// of its client's locks).
    pub fn clear(&mut self) {
        *self = Locks {
            next_ticket: self.next_ticket,
            ..Locks::default()
        };
    }

    fn earlier(&self, ticket: u64) -> impl Iterator<Item = &Blocked> {
        self.blocked.iter().filter(move |b| match b {
            Blocked::Inode(t, ..) | Blocked::Entry(t, ..) | Blocked::Posix(t, ..) => *t < ticket,
        })
    }

    // ---- inodelk ----

    pub fn inodelk(&mut self, key: Key, l: RangeLk, ticket: u64) -> Try {
        let held = self.inode.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        let busy = held.iter().any(|h| h.conflicts(&l));
        let owner_holds = held.iter().any(|h| h.owner == l.owner);
        let queued = !owner_holds
            && self.earlier(ticket).any(|b| match b {
                Blocked::Inode(_, k, w) => *k == key && w.overlaps(&l) && w.conflicts_any(&l),
                _ => false,
            });
        if busy || queued {
            self.enqueue(ticket, || Blocked::Inode(ticket, key, l));
            return Try::Wait;
        }
        self.cancel(ticket);
        self.inode.entry(key).or_default().push(l);
        Try::Granted
    }

    pub fn inode_unlock(&mut self, key: &Key, l: &RangeLk) -> R<()> {
        let list = self.inode.get_mut(key).ok_or(errno::EINVAL)?;
        let at = list
            .iter()
            .position(|h| h.owner == l.owner && h.start == l.start && h.end == l.end)
            .ok_or(errno::EINVAL)?;
        list.remove(at);
        Ok(())
    }

    /// Granted and blocked inodelks on `gfid`, all domains (the
    /// `glusterfs.inodelk-count` lookup key).
    pub fn inodelk_count(&self, gfid: Gfid) -> usize {
        let granted: usize = self
            .inode
            .iter()
            .filter(|(k, _)| k.0 == gfid)
            .map(|(_, v)| v.len())
            .sum();
        let blocked = self
            .blocked
            .iter()
            .filter(|b| matches!(b, Blocked::Inode(_, k, _) if k.0 == gfid))
            .count();
        granted + blocked
    }

    // ---- entrylk ----

    pub fn entrylk(&mut self, key: Key, l: EntryLk, ticket: u64) -> Try {
        let held = self.entry.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        let busy = held.iter().any(|h| h.conflicts(&l));
        let owner_holds = held.iter().any(|h| h.owner == l.owner);
        let queued = !owner_holds
            && self.earlier(ticket).any(|b| match b {
                Blocked::Entry(_, k, w) => *k == key && w.conflicts_name(&l),
                _ => false,
            });
        if busy || queued {
            self.enqueue(ticket, || Blocked::Entry(ticket, key, l));
            return Try::Wait;
        }
        self.cancel(ticket);
        self.entry.entry(key).or_default().push(l);
        Try::Granted
    }

    pub fn entry_unlock(&mut self, key: &Key, l: &EntryLk) -> R<()> {
        let list = self.entry.get_mut(key).ok_or(errno::EINVAL)?;
        let at = list
            .iter()
            .position(|h| h.owner == l.owner && h.name == l.name && h.kind == l.kind)
            .ok_or(errno::EINVAL)?;
        list.remove(at);
        Ok(())
    }

    pub fn entrylk_count(&self, gfid: Gfid) -> usize {
        self.entry
            .iter()
            .filter(|(k, _)| k.0 == gfid)
            .map(|(_, v)| v.len())
            .sum()
    }

    // ---- posix locks ----

    /// The first lock of another owner that `l` conflicts with (GETLK).
    pub fn posix_conflict(&self, gfid: Gfid, l: &RangeLk) -> Option<&RangeLk> {
        self.posix.get(&gfid)?.iter().find(|h| h.conflicts(l))
    }

    pub fn posix_lock(&mut self, gfid: Gfid, l: RangeLk, ticket: u64) -> Try {
        let busy = self.posix_conflict(gfid, &l).is_some();
        let queued = self.earlier(ticket).any(|b| match b {
            Blocked::Posix(_, g, w) => *g == gfid && w.conflicts(&l),
            _ => false,
        });
        if busy || queued {
            self.enqueue(ticket, || Blocked::Posix(ticket, gfid, l));
            return Try::Wait;
        }
        self.cancel(ticket);
        self.posix_unlock(gfid, &l.owner, l.start, l.end);
        self.posix.entry(gfid).or_default().push(l);
        Try::Granted
    }

    /// Removes `owner`'s locks on [start, end], splitting partial ones.
    pub fn posix_unlock(&mut self, gfid: Gfid, owner: &[u8], start: u64, end: u64) {
        let Some(list) = self.posix.get_mut(&gfid) else {
            return;
        };
        let mut out = Vec::with_capacity(list.len() + 1);
        for h in list.drain(..) {
            if h.owner != owner || h.end < start || h.start > end {
                out.push(h);
                continue;
            }
            if h.start < start {
                out.push(RangeLk {
                    end: start - 1,
                    ..h.clone()
                });
            }
            if h.end > end {
                out.push(RangeLk {
                    start: end + 1,
                    ..h
                });
            }
        }
        *list = out;
    }

    /// FLUSH: the owner lets go of its posix locks on the inode.
    pub fn posix_flush(&mut self, gfid: Gfid, owner: &[u8]) {
        if let Some(list) = self.posix.get_mut(&gfid) {
            list.retain(|h| h.owner != owner);
        }
    }

    /// RELEASE: the locks taken through that fd go.
    pub fn posix_release_fd(&mut self, gfid: Gfid, fd: u64) {
        if let Some(list) = self.posix.get_mut(&gfid) {
            list.retain(|h| h.fd != fd);
        }
    }

    pub fn posixlk_count(&self, gfid: Gfid) -> usize {
        self.posix.get(&gfid).map_or(0, Vec::len)
    }

    fn enqueue(&mut self, ticket: u64, make: impl FnOnce() -> Blocked) {
        let known = self.blocked.iter().any(|b| match b {
            Blocked::Inode(t, ..) | Blocked::Entry(t, ..) | Blocked::Posix(t, ..) => *t == ticket,
        });
        if !known {
            self.blocked.push(make());
        }
    }
}

impl RangeLk {
    /// Type conflict regardless of owner (a blocked request queued ahead).
    fn conflicts_any(&self, o: &RangeLk) -> bool {
        self.kind == lock::WRLCK || o.kind == lock::WRLCK
    }
}

impl EntryLk {
    fn conflicts_name(&self, o: &EntryLk) -> bool {
        match (&self.name, &o.name) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rl(owner: u8, kind: u32, start: u64, end: u64) -> RangeLk {
        RangeLk {
            owner: vec![owner],
            kind,
            start,
            end,
            pid: 1,
            fd: 0,
        }
    }

    #[test]
    fn inodelks_conflict_by_range_type_and_owner() {
        let mut l = Locks::default();
        let k = (Gfid::ROOT, b"d".to_vec());
        let t = l.ticket();
        assert!(matches!(
            l.inodelk(k.clone(), rl(1, lock::RDLCK, 0, 9), t),
            Try::Granted
        ));
        let t = l.ticket();
        assert!(matches!(
            l.inodelk(k.clone(), rl(2, lock::RDLCK, 5, 20), t),
            Try::Granted
        ));
        let t = l.ticket();
        assert!(matches!(
            l.inodelk(k.clone(), rl(3, lock::WRLCK, 9, 9), t),
            Try::Wait
        ));
        // Owner 3 queued for [9]: a new WR of owner 4 on [9, 30] waits
        // behind it even after the others unlock.
        l.inode_unlock(&k, &rl(1, lock::RDLCK, 0, 9)).unwrap();
        l.inode_unlock(&k, &rl(2, lock::RDLCK, 5, 20)).unwrap();
        let t4 = l.ticket();
        assert!(matches!(
            l.inodelk(k.clone(), rl(4, lock::WRLCK, 9, 30), t4),
            Try::Wait
        ));
        assert!(matches!(
            l.inodelk(k.clone(), rl(3, lock::WRLCK, 9, 9), t),
            Try::Granted
        ));
        assert_eq!(
            l.inode_unlock(&k, &rl(3, lock::WRLCK, 9, 10)),
            Err(errno::EINVAL)
        );
        // Another domain is independent.
        let t = l.ticket();
        assert!(matches!(
            l.inodelk((Gfid::ROOT, b"e".to_vec()), rl(5, lock::WRLCK, 0, 9), t),
            Try::Granted
        ));
    }

    #[test]
    fn posix_locks_split_on_unlock() {
        let mut l = Locks::default();
        let t = l.ticket();
        assert!(matches!(
            l.posix_lock(Gfid::ROOT, rl(1, lock::WRLCK, 0, 99), t),
            Try::Granted
        ));
        l.posix_unlock(Gfid::ROOT, &[1], 10, 19);
        assert!(l
            .posix_conflict(Gfid::ROOT, &rl(2, lock::WRLCK, 10, 19))
            .is_none());
        let c = l
            .posix_conflict(Gfid::ROOT, &rl(2, lock::RDLCK, 15, 25))
            .unwrap();
        assert_eq!((c.start, c.end), (20, 99));
        assert_eq!(l.posixlk_count(Gfid::ROOT), 2);
    }
}
