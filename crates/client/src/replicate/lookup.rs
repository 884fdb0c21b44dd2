//! A replica set's lookup (§4.3-4.5): what every brick is asked, and how
//! the replies become one answer: the brick whose attributes are returned,
//! or the errno the official client gives.

use super::changelog::{readable, Readable, Seen};
use super::options::ReplicateOptions;
use super::read_child::read_child;
use proto::dict::{DictValue, GfxDict};
use proto::errno;

const INODELK_COUNT: &str = "glusterfs.inodelk-count";
const ENTRYLK_COUNT: &str = "glusterfs.entrylk-count";
const PARENT_ENTRYLK: &str = "glusterfs.parent-entrylk";
const GFID_CHANGED: &str = "gfid-changed";

/// The xdata of a lookup to every brick (§4.3): the changelog keys and the
/// lock counts that decide readability, the heal-needed hint, and user
/// xattrs. The caller's `gfid-req` must not be in it.
pub fn lookup_xdata(o: &ReplicateOptions) -> GfxDict {
    let mut x = GfxDict::new().with(&o.dirty_key, DictValue::Uint(12));
    for k in &o.pending_keys {
        x.set(k, DictValue::Uint(12));
    }
    x.set(INODELK_COUNT, DictValue::Uint(0));
    x.set(ENTRYLK_COUNT, DictValue::Uint(0));
    x.set(PARENT_ENTRYLK, DictValue::Uint(0));
    x.set(
        "link-count",
        DictValue::Str(b"glusterfs.xattrop_index_count".to_vec()),
    );
    x.set("list-xattr", DictValue::Int(1));
    x
}

fn positive(x: &GfxDict, key: &str) -> bool {
    x.get(key)
        .and_then(DictValue::as_u64)
        .is_some_and(|n| n > 0)
}

/// Rank of a failure's errno when every brick failed: the "highest" wins.
fn rank(e: i32) -> u8 {
    match e {
        errno::ENODATA => 4,
        errno::ENOENT => 3,
        errno::ESTALE => 2,
        errno::ENOSPC => 1,
        _ => 0,
    }
}

/// The brick whose reply answers the lookup, or the errno (§4.4, §6.4).
/// `replies[i]` is child i's reply or its errno (ENOTCONN when down).
pub fn merge(o: &ReplicateOptions, replies: &[Result<Seen, i32>]) -> Result<usize, i32> {
    let ok: Vec<usize> = (0..replies.len()).filter(|&i| replies[i].is_ok()).collect();
    let seen = |i: usize| replies[i].as_ref().ok();
    if ok
        .iter()
        .any(|&i| seen(i).is_some_and(|s| s.xdata.get(GFID_CHANGED).is_some()))
    {
        return Err(errno::ESTALE);
    }
    if ok.is_empty() {
        let worst = replies
            .iter()
            .filter_map(|r| r.as_ref().err().copied())
            .max_by_key(|e| rank(*e));
        return Err(worst.unwrap_or(errno::ENOTCONN));
    }
    let mut up = vec![false; o.children()];
    for &i in &ok {
        if let Some(u) = up.get_mut(i) {
            *u = true;
        }
    }
    let in_flight = ok
        .iter()
        .any(|&i| seen(i).is_some_and(|s| positive(s.xdata, PARENT_ENTRYLK)));
    let quorum = o.quorum_met(&up);
    if !quorum {
        let enoent = replies
            .iter()
            .any(|r| matches!(r, Err(e) if *e == errno::ENOENT));
        return Err(if enoent && in_flight {
            errno::ENOENT
        } else {
            errno::ENOTCONN
        });
    }
    let all: Vec<Option<Seen>> = replies
        .iter()
        .map(|r| {
            r.as_ref().ok().map(|s| Seen {
                stat: s.stat,
                xdata: s.xdata,
            })
        })
        .collect();
    let sets = readable(o, &all);
    let gfid = |i: usize| seen(i).map(|s| s.stat.gfid);
    let first = ok[0];
    let chosen = read_child(
        gfid(first).unwrap_or_default(),
        &sets.both(),
        o.read_subvolume,
        o.read_hash_mode,
    )
    .or_else(|| {
        // No brick readable for both kinds: the type-specific sets, then,
        // with quorum off, any brick that answered.
        let data = sets.data.iter().filter(|d| **d).count();
        let fallback = o.quorum_met(&sets.data) || matches!(o.quorum, super::Quorum::None);
        sets.data
            .iter()
            .position(|d| *d)
            .or_else(|| sets.meta.iter().position(|m| *m))
            .or((fallback && data == 0).then_some(first))
    });
    let Some(c) = chosen else {
        return Err(errno::ENOTCONN);
    };
    if Some(c) == o.arbiter {
        return Err(errno::ENOTCONN);
    }
    // Bricks that answered with another gfid: a gfid split-brain unless a
    // create/unlink of the name is in flight or only unreadable bricks
    // disagree.
    let want = gfid(c);
    let disagree = ok.iter().any(|&i| {
        gfid(i) != want && (sets.data.get(i) == Some(&true) || sets.meta.get(i) == Some(&true))
    });
    if disagree && !in_flight {
        return Err(errno::EIO);
    }
    Ok(c)
}

/// Whether an inode is in split-brain for reads and metadata changes
/// (§4.5): a file with no data- or no metadata-readable brick, a
/// directory with no metadata-readable brick (entry split-brain of a
/// directory does not block listing).
pub fn split_brain(sets: &Readable, is_dir: bool) -> bool {
    let none = |v: &[bool]| !v.iter().any(|b| *b);
    none(&sets.meta) || (!is_dir && none(&sets.data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::XlSpec;
    use crate::replicate::changelog::Changelog;
    use proto::iatt::Iatt;
    use proto::Gfid;

    fn opts(n: usize, extra: &[(&str, &str)]) -> ReplicateOptions {
        let spec = XlSpec {
            name: "v-replicate-0".into(),
            xl_type: "cluster/replicate".into(),
            options: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            children: (0..n)
                .map(|i| XlSpec {
                    name: format!("v-client-{i}"),
                    xl_type: "protocol/client".into(),
                    options: Vec::new(),
                    children: Vec::new(),
                })
                .collect(),
        };
        ReplicateOptions::parse(&spec).unwrap()
    }

    fn file(g: Gfid) -> Iatt {
        Iatt {
            gfid: g,
            mode: proto::iatt::S_IFREG | 0o644,
            size: 10,
            ..Iatt::default()
        }
    }

    #[test]
    fn asks_for_every_changelog_key_and_no_gfid_req() {
        let x = lookup_xdata(&opts(3, &[]));
        for k in ["trusted.afr.dirty", "trusted.afr.v-client-2", INODELK_COUNT] {
            assert!(x.get(k).is_some(), "{k}");
        }
        assert!(x.get("gfid-req").is_none());
    }

    #[test]
    fn one_gfid_with_quorum_answers_from_a_readable_brick() {
        let o = opts(3, &[]);
        let g = Gfid::random();
        let none = GfxDict::new();
        let accuse0 = GfxDict::new().with(
            "trusted.afr.v-client-0",
            DictValue::Ptr(Changelog([1, 0, 0]).encode()),
        );
        let r = merge(
            &o,
            &[
                Ok(Seen {
                    stat: file(g),
                    xdata: &none,
                }),
                Ok(Seen {
                    stat: file(g),
                    xdata: &accuse0,
                }),
                Err(errno::ENOTCONN),
            ],
        );
        assert_eq!(r, Ok(1));
        // Below quorum: ENOTCONN, whatever answered.
        let r = merge(
            &o,
            &[
                Ok(Seen {
                    stat: file(g),
                    xdata: &none,
                }),
                Err(errno::ENOTCONN),
                Err(errno::ENOTCONN),
            ],
        );
        assert_eq!(r, Err(errno::ENOTCONN));
        // Everyone failed: the highest errno.
        let r = merge(
            &o,
            &[Err(errno::ENOTCONN), Err(errno::ENOENT), Err(errno::ESTALE)],
        );
        assert_eq!(r, Err(errno::ENOENT));
    }

    #[test]
    fn gfid_split_brain_is_eio_unless_a_create_is_in_flight() {
        let o = opts(3, &[]);
        let (a, b) = (Gfid::random(), Gfid::random());
        let none = GfxDict::new();
        let r = merge(
            &o,
            &[
                Ok(Seen {
                    stat: file(a),
                    xdata: &none,
                }),
                Ok(Seen {
                    stat: file(b),
                    xdata: &none,
                }),
                Ok(Seen {
                    stat: file(a),
                    xdata: &none,
                }),
            ],
        );
        assert_eq!(r, Err(errno::EIO));
        let busy = GfxDict::new().with(PARENT_ENTRYLK, DictValue::Uint(1));
        let r = merge(
            &o,
            &[
                Ok(Seen {
                    stat: file(a),
                    xdata: &busy,
                }),
                Ok(Seen {
                    stat: file(b),
                    xdata: &none,
                }),
                Ok(Seen {
                    stat: file(a),
                    xdata: &none,
                }),
            ],
        );
        assert!(r.is_ok());
    }

    #[test]
    fn the_arbiter_alone_is_not_an_answer() {
        let o = opts(3, &[("arbiter-count", "1")]);
        let g = Gfid::random();
        let none = GfxDict::new();
        let accuse1 = GfxDict::new().with(
            "trusted.afr.v-client-1",
            DictValue::Ptr(Changelog([1, 1, 0]).encode()),
        );
        // Brick 0 down, brick 1 accused by the arbiter: no good data copy.
        let r = merge(
            &o,
            &[
                Err(errno::ENOTCONN),
                Ok(Seen {
                    stat: file(g),
                    xdata: &none,
                }),
                Ok(Seen {
                    stat: file(g),
                    xdata: &accuse1,
                }),
            ],
        );
        assert_eq!(r, Err(errno::ENOTCONN));
    }

    #[test]
    fn split_brain_rules() {
        let s = |data: Vec<bool>, meta: Vec<bool>| Readable { data, meta };
        assert!(split_brain(&s(vec![false, false], vec![true, true]), false));
        assert!(!split_brain(&s(vec![false, false], vec![true, true]), true));
        assert!(split_brain(&s(vec![true, true], vec![false, false]), true));
        assert!(!split_brain(
            &s(vec![true, false], vec![false, true]),
            false
        ));
    }
}
