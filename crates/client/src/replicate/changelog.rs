//! The AFR changelog (§1): what each brick of a replica set records about
//! the others, the deltas a transaction writes (§1.4), the readable sets a
//! lookup's replies give (§4.1). The self-heal daemon and the official
//! client read exactly these bytes, so they must be written the same way.

use super::options::ReplicateOptions;
use proto::dict::{DictValue, GfxDict};
use proto::iatt::Iatt;

/// The three counters of a changelog value, in value order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Data = 0,
    Metadata = 1,
    Entry = 2,
}

/// One 12-byte pending or dirty value: three big-endian signed counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Changelog(pub [i32; 3]);

impl Changelog {
    /// A value as the brick stores it; None when it is not 12 bytes (a
    /// foreign or damaged xattr is never taken for a changelog).
    pub fn decode(b: &[u8]) -> Option<Changelog> {
        if b.len() != 12 {
            return None;
        }
        let at = |i: usize| i32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(Changelog([at(0), at(4), at(8)]))
    }

    pub fn encode(&self) -> Vec<u8> {
        self.0.iter().flat_map(|c| c.to_be_bytes()).collect()
    }

    /// `v` at `kind`, zero elsewhere: an XATTROP delta.
    pub fn delta(kind: Kind, v: i32) -> Changelog {
        let mut c = [0; 3];
        c[kind as usize] = v;
        Changelog(c)
    }

    pub fn get(&self, kind: Kind) -> i32 {
        self.0[kind as usize]
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 3]
    }
}

fn put(d: &mut GfxDict, key: &str, c: Changelog) {
    d.set(key, DictValue::Ptr(c.encode()));
}

/// The pre-op XATTROP (ADD_ARRAY) dict: dirty +1 at `kind`, and every
/// pending key as zeros, which reads it without writing (§1.4).
pub fn pre_op(o: &ReplicateOptions, kind: Kind) -> GfxDict {
    let mut d = GfxDict::new();
    put(&mut d, &o.dirty_key, Changelog::delta(kind, 1));
    for k in &o.pending_keys {
        put(&mut d, k, Changelog::default());
    }
    d
}

/// The post-op XATTROP dict for the bricks where the transaction
/// succeeded (§1.4): dirty −1 if there was a pre-op, +1 at `kind` on the
/// pending key of every `failed` brick. None when there is nothing to
/// write (no pre-op and nothing failed).
pub fn post_op(
    o: &ReplicateOptions,
    kind: Kind,
    pre_op_done: bool,
    failed: &[bool],
) -> Option<GfxDict> {
    let any_failed = failed.iter().any(|f| *f);
    if !pre_op_done && !any_failed {
        return None;
    }
    let mut d = GfxDict::new();
    let dirty = if pre_op_done { -1 } else { 0 };
    put(&mut d, &o.dirty_key, Changelog::delta(kind, dirty));
    for (j, k) in o.pending_keys.iter().enumerate() {
        let v = i32::from(failed.get(j).copied().unwrap_or(false));
        put(&mut d, k, Changelog::delta(kind, v));
    }
    Some(d)
}

/// One brick's lookup (or refresh) reply, as far as readability goes.
pub struct Seen<'a> {
    pub stat: Iatt,
    pub xdata: &'a GfxDict,
}

/// Which children may serve data reads and metadata reads (§4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readable {
    pub data: Vec<bool>,
    pub meta: Vec<bool>,
}

impl Readable {
    /// Children good for both kinds of read.
    pub fn both(&self) -> Vec<bool> {
        self.data
            .iter()
            .zip(&self.meta)
            .map(|(d, m)| *d && *m)
            .collect()
    }
}

const BAD_INODE: &str = "glusterfs.bad-inode";
const INODELK_COUNT: &str = "glusterfs.inodelk-count";

fn count(v: &DictValue) -> u64 {
    match v {
        DictValue::Int(i) => (*i).max(0) as u64,
        DictValue::Uint(u) => *u,
        other => other
            .as_bytes()
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.trim_end_matches('\0').parse().ok())
            .unwrap_or(0),
    }
}

/// The readable sets from the replies of every child (None: no reply or
/// a failed one). Any accusation by any replying brick counts, even by
/// one that is itself accused; dirty does not; the arbiter never serves
/// reads; for a file that nobody holds a lock on, a brick smaller than
/// the largest unaccused copy is not readable ("small-file" rule).
pub fn readable(o: &ReplicateOptions, replies: &[Option<Seen>]) -> Readable {
    let n = o.children();
    let mut data = vec![true; n];
    let mut meta = vec![true; n];
    if let Some(a) = o.arbiter {
        data[a] = false;
        meta[a] = false;
    }
    let is_dir = replies.iter().flatten().any(|r| r.stat.is_dir());
    let data_kind = if is_dir { Kind::Entry } else { Kind::Data };
    let mut bad = vec![false; n];
    for i in 0..n {
        match replies.get(i).and_then(Option::as_ref) {
            Some(r) if r.xdata.get(BAD_INODE).is_none() => {}
            _ => {
                (data[i], meta[i], bad[i]) = (false, false, true);
            }
        }
    }
    for r in replies.iter().take(n).flatten() {
        for (j, key) in o.pending_keys.iter().enumerate() {
            let Some(c) = r
                .xdata
                .get(key)
                .and_then(|v| v.as_bytes())
                .and_then(Changelog::decode)
            else {
                continue;
            };
            if c.get(data_kind) != 0 {
                data[j] = false;
            }
            if c.get(Kind::Metadata) != 0 {
                meta[j] = false;
            }
        }
    }
    let locked = replies
        .iter()
        .flatten()
        .any(|r| r.xdata.get(INODELK_COUNT).is_some_and(|v| count(v) > 0));
    let is_reg = replies.iter().flatten().any(|r| r.stat.is_reg());
    if is_reg && !locked {
        let size = |i: usize| replies.get(i).and_then(Option::as_ref).map(|r| r.stat.size);
        let max = (0..n)
            .filter(|&i| data[i] && !bad[i])
            .filter_map(size)
            .max();
        if let Some(max) = max {
            for (i, ok) in data.iter_mut().enumerate() {
                if *ok && Some(i) != o.arbiter && size(i).is_some_and(|s| s < max) {
                    *ok = false;
                }
            }
        }
    }
    Readable { data, meta }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::XlSpec;

    fn opts(n: usize, arbiter: bool) -> ReplicateOptions {
        let mut options = vec![];
        if arbiter {
            options.push(("arbiter-count".to_string(), "1".to_string()));
        }
        let spec = XlSpec {
            name: "tafr3-replicate-0".into(),
            xl_type: "cluster/replicate".into(),
            options,
            children: (0..n)
                .map(|i| XlSpec {
                    name: format!("tafr3-client-{i}"),
                    xl_type: "protocol/client".into(),
                    options: Vec::new(),
                    children: Vec::new(),
                })
                .collect(),
        };
        ReplicateOptions::parse(&spec).unwrap()
    }

    #[test]
    fn values_are_three_big_endian_counters() {
        // §1.4, live: 1 data and 2 metadata changes brick 2 lacks.
        let v = [0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0];
        let c = Changelog::decode(&v).unwrap();
        assert_eq!(
            (c.get(Kind::Data), c.get(Kind::Metadata), c.get(Kind::Entry)),
            (1, 2, 0)
        );
        assert_eq!(c.encode(), v);
        assert_eq!(Changelog::delta(Kind::Entry, -1).encode()[8..], [0xff; 4]);
        assert!(Changelog::decode(&v[..11]).is_none());
        assert!(Changelog::default().is_zero());
    }

    #[test]
    fn pre_and_post_op_as_the_official_client_writes_them() {
        let o = opts(3, false);
        let pre = pre_op(&o, Kind::Data);
        let get = |d: &GfxDict, k: &str| Changelog::decode(d.get(k).unwrap().as_bytes().unwrap());
        assert_eq!(get(&pre, "trusted.afr.dirty"), Some(Changelog([1, 0, 0])));
        assert!(get(&pre, "trusted.afr.tafr3-client-2").unwrap().is_zero());
        assert_eq!(pre.pairs.len(), 4);
        // Nothing failed: dirty back down, nobody accused.
        let ok = post_op(&o, Kind::Metadata, true, &[false; 3]).unwrap();
        assert_eq!(get(&ok, "trusted.afr.dirty"), Some(Changelog([0, -1, 0])));
        assert!(get(&ok, "trusted.afr.tafr3-client-1").unwrap().is_zero());
        // Brick 2 failed: the good ones accuse it.
        let f = post_op(&o, Kind::Entry, true, &[false, false, true]).unwrap();
        assert_eq!(
            get(&f, "trusted.afr.tafr3-client-2"),
            Some(Changelog([0, 0, 1]))
        );
        // Optimistic (no pre-op): dirty untouched; nothing to do if all went well.
        let f = post_op(&o, Kind::Metadata, false, &[true, false, false]).unwrap();
        assert!(get(&f, "trusted.afr.dirty").unwrap().is_zero());
        assert!(post_op(&o, Kind::Metadata, false, &[false; 3]).is_none());
    }

    fn file(size: u64) -> Iatt {
        Iatt {
            gfid: proto::Gfid::ROOT,
            mode: proto::iatt::S_IFREG | 0o644,
            size,
            ..Iatt::default()
        }
    }

    #[test]
    fn accused_bad_and_smaller_copies_are_not_readable() {
        let o = opts(3, false);
        let accuse2 = GfxDict::new().with(
            "trusted.afr.tafr3-client-2",
            DictValue::Ptr(Changelog([1, 2, 0]).encode()),
        );
        let none = GfxDict::new();
        let r = readable(
            &o,
            &[
                Some(Seen {
                    stat: file(10),
                    xdata: &accuse2,
                }),
                Some(Seen {
                    stat: file(10),
                    xdata: &none,
                }),
                Some(Seen {
                    stat: file(10),
                    xdata: &none,
                }),
            ],
        );
        assert_eq!(r.data, [true, true, false]);
        assert_eq!(r.meta, [true, true, false]);
        // No reply from 0, and 1 is smaller than 2 with nobody locking.
        let r = readable(
            &o,
            &[
                None,
                Some(Seen {
                    stat: file(5),
                    xdata: &none,
                }),
                Some(Seen {
                    stat: file(10),
                    xdata: &none,
                }),
            ],
        );
        assert_eq!(r.data, [false, false, true]);
        assert_eq!(r.meta, [false, true, true]);
        // A lock holder: sizes may legitimately differ mid-write.
        let locked = GfxDict::new().with(INODELK_COUNT, DictValue::Int(1));
        let r = readable(
            &o,
            &[
                None,
                Some(Seen {
                    stat: file(5),
                    xdata: &locked,
                }),
                Some(Seen {
                    stat: file(10),
                    xdata: &none,
                }),
            ],
        );
        assert_eq!(r.data, [false, true, true]);
        assert_eq!(r.both(), [false, true, true]);
    }

    #[test]
    fn the_arbiter_never_serves_reads() {
        let o = opts(3, true);
        let none = GfxDict::new();
        let r = readable(
            &o,
            &[
                Some(Seen {
                    stat: file(7),
                    xdata: &none,
                }),
                Some(Seen {
                    stat: file(7),
                    xdata: &none,
                }),
                Some(Seen {
                    stat: file(0),
                    xdata: &none,
                }),
            ],
        );
        assert_eq!(r.data, [true, true, false]);
        assert_eq!(r.meta, [true, true, false]);
    }
}
