//! The inode table: FUSE node ids <-> gfids, with the kernel's lookup
//! counts.
//!
//! A node id is the gfid-derived inode number the bricks report (the last
//! 8 bytes of the gfid), so `stat` shows the same st_ino through
//! glusterfs-rs and through the official client. The root is node 1 (its
//! gfid ends in ...01). In the unlikely case of two live gfids with the
//! same tail, the second gets a synthetic id from a reserved range; ids
//! are never reused while the kernel may hold them.

use client::Gfid;
use std::collections::HashMap;

pub const ROOT_INO: u64 = 1;
/// Synthetic ids for tail collisions start here (the top 1/16 of the
/// space; a gfid whose tail falls there is treated as a collision too).
const SYNTHETIC_BASE: u64 = 0xF000_0000_0000_0000;

#[derive(Debug)]
struct Node {
    gfid: Gfid,
    /// Number of entry replies the kernel has not forgotten yet.
    nlookup: u64,
}

#[derive(Debug)]
pub struct InodeTable {
    by_ino: HashMap<u64, Node>,
    by_gfid: HashMap<Gfid, u64>,
    next_synthetic: u64,
}

impl Default for InodeTable {
    fn default() -> Self {
        Self::new()
    }
}

impl InodeTable {
    pub fn new() -> Self {
        let mut t = InodeTable {
            by_ino: HashMap::new(),
            by_gfid: HashMap::new(),
            next_synthetic: SYNTHETIC_BASE,
        };
        // The root is never forgotten.
        t.by_ino.insert(
            ROOT_INO,
            Node {
                gfid: Gfid::ROOT,
                nlookup: 1,
            },
        );
        t.by_gfid.insert(Gfid::ROOT, ROOT_INO);
        t
    }

    /// The gfid of a node the kernel knows.
    pub fn gfid(&self, ino: u64) -> Option<Gfid> {
        self.by_ino.get(&ino).map(|n| n.gfid)
    }

    /// The node id of a gfid, if the kernel holds it.
    pub fn ino_of(&self, gfid: &Gfid) -> Option<u64> {
        self.by_gfid.get(gfid).copied()
    }

    /// The node id to report for `gfid`, counting one lookup: call it
    /// exactly once per entry handed to the kernel.
    pub fn remember(&mut self, gfid: Gfid) -> u64 {
        if let Some(&ino) = self.by_gfid.get(&gfid) {
            if let Some(n) = self.by_ino.get_mut(&ino) {
                n.nlookup += 1;
            }
            return ino;
        }
        let natural = gfid.ino();
        let ino = if natural > ROOT_INO
            && natural < SYNTHETIC_BASE
            && !self.by_ino.contains_key(&natural)
        {
            natural
        } else {
            loop {
                let candidate = self.next_synthetic;
                self.next_synthetic = self.next_synthetic.wrapping_add(1).max(SYNTHETIC_BASE);
                if !self.by_ino.contains_key(&candidate) {
                    break candidate;
                }
            }
        };
        self.by_ino.insert(ino, Node { gfid, nlookup: 1 });
        self.by_gfid.insert(gfid, ino);
        ino
    }

    /// The kernel forgot `n` lookups of `ino`.
    pub fn forget(&mut self, ino: u64, n: u64) {
        if ino == ROOT_INO {
            return;
        }
        let gone = match self.by_ino.get_mut(&ino) {
            Some(node) => {
                node.nlookup = node.nlookup.saturating_sub(n);
                node.nlookup == 0
            }
            None => false,
        };
        if gone {
            if let Some(node) = self.by_ino.remove(&ino) {
                // Only unlink the gfid if it still points at this node.
                if self.by_gfid.get(&node.gfid) == Some(&ino) {
                    self.by_gfid.remove(&node.gfid);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_ino.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ino.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gfid(tail: u64, head: u8) -> Gfid {
        let mut b = [head; 16];
        b[8..].copy_from_slice(&tail.to_be_bytes());
        Gfid(b)
    }

    #[test]
    fn ids_are_gfid_tails_and_counted() {
        let mut t = InodeTable::new();
        let g = gfid(0x1234, 7);
        assert_eq!(t.remember(g), 0x1234);
        assert_eq!(t.remember(g), 0x1234);
        t.forget(0x1234, 1);
        assert_eq!(t.gfid(0x1234), Some(g));
        t.forget(0x1234, 1);
        assert_eq!(t.gfid(0x1234), None);
        assert_eq!(t.len(), 1);
        assert_eq!(t.gfid(ROOT_INO), Some(Gfid::ROOT));
        t.forget(ROOT_INO, 100);
        assert_eq!(t.gfid(ROOT_INO), Some(Gfid::ROOT));
    }

    #[test]
    fn collisions_get_synthetic_ids() {
        let mut t = InodeTable::new();
        let a = t.remember(gfid(42, 1));
        let b = t.remember(gfid(42, 2));
        assert_eq!(a, 42);
        assert!(b >= SYNTHETIC_BASE);
        assert_eq!(t.gfid(b), Some(gfid(42, 2)));
        // A gfid whose tail is 1 must not take the root's id.
        assert_ne!(t.remember(gfid(1, 9)), ROOT_INO);
    }

    #[test]
    fn a_million_cycles_leave_nothing_behind() {
        let mut t = InodeTable::new();
        for i in 0..1_000_000u64 {
            let ino = t.remember(gfid(i * 7 + 2, (i % 251) as u8));
            t.forget(ino, 1);
        }
        assert_eq!(t.len(), 1);
        assert_eq!(t.by_gfid.len(), 1);
    }
}
