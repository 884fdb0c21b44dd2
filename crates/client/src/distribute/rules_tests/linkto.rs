//! Linkto files (§3): made when data goes off its hashed brick (full
//! brick, rename, link), followed and healed by lookup, removed when
//! stale.

use super::*;

#[tokio::test]
async fn create_on_a_full_hashed_brick_leaves_a_linkto() {
    let v = volume(2, &[]);
    // Brick 0 below min-free-disk (10%), same size as brick 1.
    v.bricks[0].set_space(1 << 40, 1 << 20);
    v.lookup(Gfid::ROOT, "warm-up").await.ok();
    v.settle().await; // the background STATFS has run
    let name = v.name_on("/", 0, "f");
    let (g, fd) = v.create(Gfid::ROOT, &name).await.unwrap();
    let path = format!("/{name}");
    assert_eq!(v.where_is(&path), [(0, true), (1, false)]);
    assert_eq!(
        v.bricks[0].xattr(&path, LINKTO_XATTR).unwrap(),
        b"v-client-1\0"
    );
    assert_eq!(v.bricks[0].resolve(&path), Some(g), "same gfid");
    // The fd is the data brick's.
    v.top
        .write(&v.ctx, &fd, 0, Bytes::from_static(b"x"), GfxDict::new())
        .await
        .unwrap();
    assert_eq!(v.bricks[1].contents(&path).unwrap(), b"x");
    // Found through the linkto, listed once, gone entirely with unlink.
    let st = v.again().lookup(Gfid::ROOT, &name).await.unwrap();
    assert_eq!((st.gfid, st.mode & 0o7777, st.size), (g, 0o644, 1));
    let listed = v.list(Gfid::ROOT, 4096).await;
    assert_eq!(listed.iter().filter(|(n, _)| *n == name).count(), 1);
    drop(fd);
    v.again().unlink(Gfid::ROOT, &name).await.unwrap();
    assert!(v.where_is(&path).is_empty());
}

#[tokio::test]
async fn lookup_follows_a_linkto_in_two_round_trips() {
    let v = volume(3, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let name = v.name_on("/d", 0, "f");
    let g = Gfid::random();
    make_file(&v.bricks[2], d, &name, g).await;
    make_linkto(&v.bricks[0], d, &name, g, "v-client-2").await;
    let w = v.again();
    w.lookup(Gfid::ROOT, "d").await.unwrap();
    w.reset_calls();
    assert_eq!(w.lookup(d, &name).await.unwrap().gfid, g);
    let lookups: Vec<u64> = w.bricks.iter().map(|b| b.calls(Fop::Lookup)).collect();
    assert_eq!(lookups, [1, 0, 1]);
}

#[tokio::test]
async fn lookup_heals_a_missing_linkto() {
    let v = volume(3, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let name = v.name_on("/d", 1, "f");
    let g = Gfid::random();
    make_file(&v.bricks[2], d, &name, g).await;
    let w = v.again();
    assert_eq!(w.lookup(d, &name).await.unwrap().gfid, g);
    let path = format!("/d/{name}");
    assert_eq!(v.where_is(&path), [(1, true), (2, false)]);
    assert_eq!(
        v.bricks[1].xattr(&path, LINKTO_XATTR).unwrap(),
        b"v-client-2\0"
    );
    assert_eq!(v.bricks[1].resolve(&path), Some(g));
    // The heal ran under the namespace lock, released since.
    let req = named_req(Gfid::ROOT, "d", "glusterfs.entrylk-count");
    for b in &v.bricks {
        let x = b.lookup(&v.ctx, &req).await.unwrap().xdata;
        assert_eq!(x.get("glusterfs.entrylk-count"), Some(&DictValue::Int(0)));
    }
}

fn named_req(parent: Gfid, name: &str, key: &str) -> LookupReq {
    LookupReq {
        gfid: Gfid::ZERO,
        pargfid: parent,
        flags: 0,
        bname: name.into(),
        xdata: crate::memory_brick::want(&[key]),
    }
}

#[tokio::test]
async fn stale_linkto_files_go() {
    let v = volume(3, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    // Pointing at a brick without the data: ENOENT, and the linkto goes.
    let name = v.name_on("/d", 0, "gone");
    make_linkto(&v.bricks[0], d, &name, Gfid::random(), "v-client-1").await;
    assert_eq!(e(v.again().lookup(d, &name).await), errno::ENOENT);
    assert!(v.where_is(&format!("/d/{name}")).is_empty());
    // Pointing at the wrong brick: replaced by one to the data.
    let name = v.name_on("/d", 0, "wrong");
    let g = Gfid::random();
    make_file(&v.bricks[2], d, &name, g).await;
    make_linkto(&v.bricks[0], d, &name, g, "v-client-1").await;
    assert_eq!(v.again().lookup(d, &name).await.unwrap().gfid, g);
    let path = format!("/d/{name}");
    assert_eq!(
        v.bricks[0].xattr(&path, LINKTO_XATTR).unwrap(),
        b"v-client-2\0"
    );
}

#[tokio::test]
async fn rename_across_hashed_bricks_leaves_data_in_place() {
    let v = volume(2, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let a = v.name_on("/d", 1, "a");
    let b = v.name_on("/d", 0, "b");
    let (g, fd) = v.create(d, &a).await.unwrap();
    drop(fd);
    // §5.5 live example: S_h = S_c = 1, D_h = 0.
    v.rename(d, &a, d, &b).await.unwrap();
    assert!(v.where_is(&format!("/d/{a}")).is_empty());
    assert_eq!(v.where_is(&format!("/d/{b}")), [(0, true), (1, false)]);
    assert_eq!(v.again().lookup(d, &b).await.unwrap().gfid, g);
    assert_eq!(e(v.again().lookup(d, &a).await), errno::ENOENT);
    // And back: only the data file is left.
    v.rename(d, &b, d, &a).await.unwrap();
    assert_eq!(v.where_is(&format!("/d/{a}")), [(1, false)]);
    assert!(v.where_is(&format!("/d/{b}")).is_empty());
    for b in &v.bricks {
        assert_eq!(b.open_count(g), 0);
    }
}

#[tokio::test]
async fn rename_over_a_file_on_another_brick() {
    let v = volume(3, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let src = v.name_on("/d", 0, "s");
    let dst = v.name_on("/d", 2, "t");
    let (gs, _) = v.create(d, &src).await.unwrap();
    let (gd, _) = v.create(d, &dst).await.unwrap();
    v.rename(d, &src, d, &dst).await.unwrap();
    let w = v.again();
    assert_eq!(w.lookup(d, &dst).await.unwrap().gfid, gs);
    assert_eq!(e(w.lookup(d, &src).await), errno::ENOENT);
    assert_eq!(v.where_is(&format!("/d/{dst}")), [(0, false), (2, true)]);
    // The overwritten file is gone from its brick (but still open here).
    assert_eq!(v.bricks[2].resolve(&format!("/d/{dst}")), Some(gs));
    assert!(!v.bricks.iter().any(|b| b.resolve("/d").is_some_and(|_| {
        b.names("/d")
            .iter()
            .any(|n| b.resolve(&format!("/d/{n}")) == Some(gd))
    })));
}

#[tokio::test]
async fn hard_link_to_a_name_hashing_elsewhere() {
    let v = volume(2, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let a = v.name_on("/d", 0, "a");
    let l = v.name_on("/d", 1, "l");
    let (g, _) = v.create(d, &a).await.unwrap();
    let req = LinkReq {
        oldgfid: g,
        newgfid: d,
        newbname: l.clone().into_bytes(),
        xdata: GfxDict::new(),
    };
    let r = v.top.link(&v.ctx, &req).await.unwrap();
    assert_eq!((r.stat.gfid, r.stat.nlink), (g, 2));
    assert_eq!(v.where_is(&format!("/d/{l}")), [(0, false), (1, true)]);
    assert_eq!(
        v.bricks[1].xattr(&format!("/d/{l}"), LINKTO_XATTR).unwrap(),
        b"v-client-0\0"
    );
    assert_eq!(v.again().lookup(d, &l).await.unwrap().gfid, g);
    // Unlinking one name keeps the other working.
    v.again().unlink(d, &a).await.unwrap();
    assert_eq!(v.again().lookup(d, &l).await.unwrap().nlink, 1);
    v.again().unlink(d, &l).await.unwrap();
    assert!(v.where_is(&format!("/d/{l}")).is_empty());
}

#[tokio::test]
async fn rename_onto_a_name_whose_data_shares_the_brick() {
    let v = volume(2, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    // dst: data on 0 under a name hashing to 1 (a linkto there).
    let t0 = v.name_on("/d", 0, "t");
    let t = v.name_on("/d", 1, "t");
    let (gt, fd) = v.create(d, &t0).await.unwrap();
    drop(fd);
    v.rename(d, &t0, d, &t).await.unwrap();
    assert_eq!(v.where_is(&format!("/d/{t}")), [(0, false), (1, true)]);
    // src on 0 too: S_c == D_c, D_h elsewhere (§5.5 first rows).
    let s = v.name_on("/d", 0, "s");
    let (gs, fd) = v.create(d, &s).await.unwrap();
    drop(fd);
    v.rename(d, &s, d, &t).await.unwrap();
    let path = format!("/d/{t}");
    assert_eq!(v.where_is(&path), [(0, false), (1, true)]);
    assert_eq!(v.bricks[0].resolve(&path), Some(gs));
    assert_eq!(
        v.bricks[1].resolve(&path),
        Some(gs),
        "the linkto follows src"
    );
    assert!(!v.bricks[0].has_inode(gt));
    assert_eq!(v.again().lookup(d, &t).await.unwrap().gfid, gs);
}

#[tokio::test]
async fn directory_rename_moves_every_copy_and_keeps_layout_and_mds() {
    let v = volume(3, &[]);
    v.lookup(Gfid::ROOT, "warm-up").await.ok();
    let a = v.name_on("/", 0, "a");
    let b = v.name_on("/", 2, "b");
    let g = v.mkdir(Gfid::ROOT, &a).await.unwrap();
    v.create(g, "inside").await.unwrap();
    let layout = v.layout(&format!("/{a}"));
    v.rename(Gfid::ROOT, &a, Gfid::ROOT, &b).await.unwrap();
    for (i, br) in v.bricks.iter().enumerate() {
        assert_eq!(br.resolve(&format!("/{b}")), Some(g), "brick {i}");
        assert!(br.resolve(&format!("/{a}")).is_none());
    }
    assert_eq!(v.layout(&format!("/{b}")), layout);
    assert!(v.bricks[0].xattr(&format!("/{b}"), MDS_XATTR).is_some());
    let w = v.again();
    assert_eq!(w.lookup(Gfid::ROOT, &b).await.unwrap().gfid, g);
    assert!(w.list(g, 4096).await.iter().any(|(n, _)| n == "inside"));
    // Onto a non-empty directory: refused, nothing moved.
    let c = v.mkdir(Gfid::ROOT, "c").await.unwrap();
    v.create(c, "x").await.unwrap();
    assert_eq!(
        e(v.rename(Gfid::ROOT, &b, Gfid::ROOT, "c").await),
        errno::ENOTEMPTY
    );
    assert_eq!(v.where_is(&format!("/{b}")).len(), 3);
}

/// The renamed file's attributes in the reply come from the brick that
/// did the RENAME; when that is the linkto side (R = D_h != S_c) they are
/// the linkto's (mode 01000, size 0). Upstream merges attributes from the
/// source's cached brick only (dht_rename_cbk).
#[tokio::test]
async fn rename_replies_with_the_file_not_its_linkto() {
    let v = volume(2, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let src = v.name_on("/d", 1, "s");
    let dst = v.name_on("/d", 0, "t");
    let (gs, fd) = v.create(d, &src).await.unwrap();
    v.top
        .write(&v.ctx, &fd, 0, Bytes::from_static(b"12345"), GfxDict::new())
        .await
        .unwrap();
    let st = v.rename(d, &src, d, &dst).await.unwrap().stat;
    assert_eq!((st.gfid, st.mode & 0o7777, st.size), (gs, 0o644, 5));
}
