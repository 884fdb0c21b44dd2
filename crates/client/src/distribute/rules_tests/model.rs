//! A pseudo-random run of creates, renames, links and unlinks over a few
//! names, checking after every step what distribute promises on the
//! bricks (§3, §5): each name has one data copy; a copy off its hashed
//! brick has a linkto there pointing to it; nothing else is left behind;
//! another client finds every name and no removed one.

use super::*;
use std::collections::BTreeMap;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// Checks the bricks against the model (name → gfid).
async fn check(v: &Vol, d: Gfid, model: &BTreeMap<String, Gfid>, names: &[String], step: &str) {
    let w = v.again();
    for name in names {
        let path = format!("/d/{name}");
        let copies = v.where_is(&path);
        match model.get(name) {
            None => {
                assert!(copies.is_empty(), "{step}: {name} left as {copies:?}");
                assert_eq!(e(w.lookup(d, name).await), errno::ENOENT, "{step}: {name}");
            }
            Some(g) => {
                let data: Vec<usize> = copies.iter().filter(|c| !c.1).map(|c| c.0).collect();
                assert_eq!(data.len(), 1, "{step}: {name} data on {copies:?}");
                let at = data[0];
                assert_eq!(v.bricks[at].resolve(&path), Some(*g), "{step}: {name}");
                let h = v.hashed("/d", name);
                let links: Vec<usize> = copies.iter().filter(|c| c.1).map(|c| c.0).collect();
                if h == at {
                    assert!(
                        links.is_empty(),
                        "{step}: {name} needless linkto {copies:?}"
                    );
                } else {
                    assert_eq!(links, [h], "{step}: {name} linkto {copies:?}");
                    let to = v.bricks[h].xattr(&path, LINKTO_XATTR).unwrap();
                    assert_eq!(
                        to,
                        format!("v-client-{at}\0").into_bytes(),
                        "{step}: {name}"
                    );
                    assert_eq!(v.bricks[h].resolve(&path), Some(*g), "{step}: {name}");
                }
                assert_eq!(w.lookup(d, name).await.unwrap().gfid, *g, "{step}: {name}");
            }
        }
    }
}

#[tokio::test]
async fn names_stay_findable_through_renames_links_and_unlinks() {
    for (bricks, seed) in [(2, 1), (3, 2), (4, 3)] {
        let v = volume(bricks, &[]);
        let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
        let names: Vec<String> = (0..6).map(|i| format!("n{i}")).collect();
        let mut model: BTreeMap<String, Gfid> = BTreeMap::new();
        let mut rng = Lcg(seed);
        for step in 0..120 {
            let a = names[rng.next(names.len())].clone();
            let b = names[rng.next(names.len())].clone();
            let what = match (rng.next(4), model.contains_key(&a)) {
                (_, false) => {
                    let (g, _) = v.create(d, &a).await.unwrap();
                    model.insert(a.clone(), g);
                    format!("create {a}")
                }
                (0, true) => {
                    v.again().unlink(d, &a).await.unwrap();
                    model.remove(&a);
                    format!("unlink {a}")
                }
                (1, true) if !model.contains_key(&b) => {
                    let req = LinkReq {
                        oldgfid: model[&a],
                        newgfid: d,
                        newbname: b.clone().into_bytes(),
                        xdata: GfxDict::new(),
                    };
                    v.top.link(&v.ctx, &req).await.unwrap();
                    model.insert(b.clone(), model[&a]);
                    format!("link {a} {b}")
                }
                (_, true) => {
                    v.rename(d, &a, d, &b).await.unwrap();
                    let g = model[&a];
                    if model.get(&b) != Some(&g) {
                        model.remove(&a);
                        model.insert(b.clone(), g);
                    }
                    format!("rename {a} {b}")
                }
            };
            let step = format!("{bricks} bricks, step {step}: {what}");
            check(&v, d, &model, &names, &step).await;
        }
    }
}

/// What the bricks hold for `name`: (brick, is linkto, gfid) per copy.
fn copies(v: &Vol, name: &str) -> Vec<(usize, bool, Gfid)> {
    let path = format!("/d/{name}");
    v.bricks
        .iter()
        .enumerate()
        .filter_map(|(i, b)| Some((i, b.is_linkto(&path), b.resolve(&path)?)))
        .collect()
}

/// The same run with one injected failure per step: an entry fop or a
/// lookup on some brick fails without effect. Whatever a failed step
/// leaves, a name never has two data copies, and one lookup by another
/// client settles it: found with its linkto where it belongs and nowhere
/// else, or ENOENT with nothing left.
#[tokio::test]
async fn failed_steps_leave_names_consistent() {
    use crate::memory_brick::Fault;
    const FOPS: [Fop; 7] = [
        Fop::Create,
        Fop::Mknod,
        Fop::Link,
        Fop::Rename,
        Fop::Unlink,
        Fop::Lookup,
        Fop::Setattr,
    ];
    for (bricks, seed) in [(2, 100), (3, 8), (4, 9)] {
        let v = volume(bricks, &[]);
        let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
        let names: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        let mut rng = Lcg(seed);
        for step in 0..150 {
            let a = names[rng.next(names.len())].clone();
            let b = names[rng.next(names.len())].clone();
            let brick = rng.next(bricks);
            let fop = FOPS[rng.next(FOPS.len())];
            // ENOTCONN from a lookup too: lookup_of_a_file_after_a_transient_enotconn.
            let errno = [errno::EIO, errno::ENOTCONN][rng.next(2)];
            let nth = 1 + rng.next(2) as u64;
            let exists = copies(&v, &a).iter().any(|c| !c.1);
            let op = rng.next(3);
            // A rename's cleanup UNLINKs are best effort, upstream too.
            // (Its RENAME failing is covered: a failure on the linkto side
            // is harmless or, with the destination's data there, undone;
            // rename_whose_linkto_side_fails_is_not_a_silent_success.)
            let renaming = exists && op != 0;
            if !(renaming && matches!(fop, Fop::Unlink)) {
                v.bricks[brick].inject(fop, Fault::nth(nth, errno));
            }
            let what = format!("{op} {a} {b} ({fop:?} #{nth} on {brick} fails {errno})");
            let w = v.again();
            let run = async {
                match (op, exists) {
                    (_, false) => w.create(d, &a).await.map(drop),
                    (0, true) => w.unlink(d, &a).await.map(drop),
                    (_, true) => w.rename(d, &a, d, &b).await.map(drop),
                }
            };
            let r = tokio::time::timeout(std::time::Duration::from_secs(5), run).await;
            assert!(r.is_ok(), "step {step}: {what} hung");
            for br in &v.bricks {
                br.clear_faults();
            }
            let step = format!(
                "{bricks} bricks (seed {seed}), step {step}: {what} -> {:?}",
                r.ok()
            );
            for name in &names {
                let data: Vec<_> = copies(&v, name).into_iter().filter(|c| !c.1).collect();
                assert!(data.len() <= 1, "{step}: {name} data twice {data:?}");
                let found = v.again().lookup(d, name).await;
                let all = copies(&v, name);
                match data.first() {
                    Some(&(at, _, g)) => {
                        assert_eq!(found.unwrap().gfid, g, "{step}: {name}");
                        let h = v.hashed("/d", name);
                        let links: Vec<usize> = all.iter().filter(|c| c.1).map(|c| c.0).collect();
                        assert_eq!(links.contains(&h), h != at, "{step}: {name} {all:?}");
                        // Linkto files on other bricks: see
                        // lookup_everywhere_removes_stray_linkto_files.
                    }
                    None => {
                        assert_eq!(e(found), errno::ENOENT, "{step}: {name}");
                        let h = v.hashed("/d", name);
                        assert!(
                            all.iter().all(|c| c.1 && c.0 != h),
                            "{step}: {name} left {all:?}"
                        );
                    }
                }
            }
        }
    }
}
