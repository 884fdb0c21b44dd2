//! DHT directory layouts: the `trusted.glusterfs.dht` xattr each brick
//! keeps on each directory, the search for a name's hashed subvolume, the
//! hole/overlap check, and the layout the official client gives a new
//! directory. Facts: ../shared/translators/distribute.md §2.

use crate::dht_hash::dm_hash;

/// One subvolume's share of a directory's hash space (inclusive range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The volume's commit hash when this directory was known balanced.
    pub commit: u32,
    /// 0 normal, 1 set by hand (never rewritten by fix-layout).
    pub hash_type: u32,
    pub start: u32,
    pub stop: u32,
}

/// Length of the on-disk value.
pub const LAYOUT_LEN: usize = 16;

impl Range {
    /// Decodes the 16-byte xattr: four big-endian u32. Anything else is
    /// rejected, as the official client does.
    pub fn decode(v: &[u8]) -> Option<Range> {
        if v.len() != LAYOUT_LEN {
            return None;
        }
        let w = |i: usize| u32::from_be_bytes([v[i], v[i + 1], v[i + 2], v[i + 3]]);
        let r = Range {
            commit: w(0),
            hash_type: w(4),
            start: w(8),
            stop: w(12),
        };
        (r.hash_type <= 1).then_some(r)
    }

    pub fn encode(&self) -> [u8; LAYOUT_LEN] {
        let mut out = [0u8; LAYOUT_LEN];
        for (i, v) in [self.commit, self.hash_type, self.start, self.stop]
            .iter()
            .enumerate()
        {
            out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
        }
        out
    }

    /// A subvolume with start == stop (normally 0,0) takes no part.
    pub fn participates(&self) -> bool {
        self.start != self.stop
    }

    pub fn contains(&self, h: u32) -> bool {
        self.participates() && self.start <= h && h <= self.stop
    }
}

/// A directory's layout: one optional range per subvolume (by index in
/// the volfile's subvolume order; None = no layout on that brick).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub ranges: Vec<Option<Range>>,
}

impl Layout {
    /// The subvolume index whose range holds hash `h`, if any (None: a
    /// hole; the official client then fails creates with EIO).
    pub fn search(&self, h: u32) -> Option<usize> {
        self.ranges
            .iter()
            .position(|r| r.is_some_and(|r| r.contains(h)))
    }

    /// True when the participating ranges cover the 32-bit space exactly
    /// once (no hole, no overlap).
    pub fn is_complete(&self) -> bool {
        let mut parts: Vec<(u32, u32)> = self
            .ranges
            .iter()
            .flatten()
            .filter(|r| r.participates())
            .map(|r| (r.start, r.stop))
            .collect();
        parts.sort_unstable();
        let mut next: u64 = 0;
        for (s, e) in parts {
            if u64::from(s) != next || e < s {
                return false;
            }
            next = u64::from(e) + 1;
        }
        next == 1 << 32
    }
}

/// The layout the official client writes for a new directory at `path`
/// over subvolumes named `names` (volfile order), all eligible, equal
/// weights, with commit hash `commit` (distribute.md §2.4).
pub fn new_directory_layout(path: &str, names: &[&str], commit: u32) -> Layout {
    let n = names.len();
    weighted_directory_layout(path, names, &vec![true; n], &vec![1; n], commit)
}

/// As [`new_directory_layout`], with only `eligible` subvolumes getting a
/// range, each sized by its weight (brick size in MiB when
/// weighted-rebalance is on). Non-eligible subvolumes get `0,0`.
pub fn weighted_directory_layout(
    path: &str,
    names: &[&str],
    eligible: &[bool],
    weights: &[u64],
    commit: u32,
) -> Layout {
    let n = names.len();
    let zero = Range {
        commit,
        hash_type: 0,
        start: 0,
        stop: 0,
    };
    let mut ranges = vec![Some(zero); n];
    let is_eligible = |i: usize| eligible.get(i).copied().unwrap_or(false);
    let weight = |i: usize| weights.get(i).copied().unwrap_or(1).max(1);
    let total: u64 = (0..n).filter(|&i| is_eligible(i)).map(weight).sum();
    if n == 0 || total == 0 {
        return Layout { ranges };
    }
    // Ranges go round the subvolumes in *string* order, starting at the
    // one the path's hash picks.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| names[a].cmp(names[b]));
    let unit = 4_294_967_295.0_f64 / total as f64;
    let use_count = (0..n).filter(|&i| is_eligible(i)).count();
    let first = dm_hash(path.as_bytes()) as usize % n;
    let mut start: u32 = 0;
    let mut used = 0;
    for k in 0..n {
        let idx = order[(first + k) % n];
        if !is_eligible(idx) {
            continue;
        }
        let size = (unit * weight(idx) as f64) as u32; // truncated, as the C code does
        used += 1;
        let stop = if used == use_count {
            u32::MAX
        } else {
            start.wrapping_add(size).wrapping_sub(1)
        };
        ranges[idx] = Some(Range {
            commit,
            hash_type: 0,
            start,
            stop,
        });
        if used == use_count {
            break;
        }
        start = start.wrapping_add(size);
    }
    Layout { ranges }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u32, stop: u32) -> Option<Range> {
        Some(Range {
            commit: 0,
            hash_type: 0,
            start,
            stop,
        })
    }

    #[test]
    fn live_examples_four_bricks() {
        // distribute.md §2.3: /d1 on a fresh 4-brick volume.
        let names = ["t-client-0", "t-client-1", "t-client-2", "t-client-3"];
        let l = new_directory_layout("/d1", &names, 0);
        assert_eq!(
            l.ranges,
            vec![
                r(0x7ffffffe, 0xbffffffc),
                r(0xbffffffd, 0xffffffff),
                r(0x00000000, 0x3ffffffe),
                r(0x3fffffff, 0x7ffffffd),
            ]
        );
        assert!(l.is_complete());
        assert_eq!(l.search(0), Some(2));
        assert_eq!(l.search(u32::MAX), Some(1));
    }

    #[test]
    fn live_examples_two_bricks_and_string_order() {
        let l = new_directory_layout("/", &["v-client-0", "v-client-1"], 1);
        assert_eq!(l.ranges[0].unwrap().stop, 0x7ffffffe);
        assert_eq!(l.ranges[1].unwrap().start, 0x7fffffff);
        // With 12 subvolumes "client-10" sorts before "client-2".
        let names: Vec<String> = (0..12).map(|i| format!("x-client-{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let l = new_directory_layout("/", &refs, 1);
        assert!(l.is_complete());
        // "/" hashes to index 4 of the string order: x-client-2 (§2.4).
        assert_eq!(l.ranges[2].unwrap().start, 0);
    }

    #[test]
    fn xattr_round_trip_and_holes() {
        let v = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xfe];
        let a = Range::decode(&v).unwrap();
        assert_eq!((a.commit, a.start, a.stop), (1, 0, 0x7ffffffe));
        assert_eq!(a.encode(), v);
        assert!(Range::decode(&v[..15]).is_none());
        let mut bad = v;
        bad[7] = 2; // unknown hash type
        assert!(Range::decode(&bad).is_none());
        let hole = Layout {
            ranges: vec![r(0, 0x7ffffffe), r(0x80000000, 0xffffffff)],
        };
        assert!(!hole.is_complete());
        assert_eq!(hole.search(0x7fffffff), None);
        let idle = Layout {
            ranges: vec![r(0, u32::MAX), r(0, 0), None],
        };
        assert!(idle.is_complete());
        assert_eq!(idle.search(5), Some(0));
    }
}
