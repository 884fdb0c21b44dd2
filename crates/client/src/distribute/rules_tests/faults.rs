//! What faults on one brick leave behind, and that distribute's locks are
//! always let go.

use super::*;
use crate::memory_brick::Fault;
use proto::iatt::lock;

/// Whether every DHT lock on `dir` is free on every brick that has it:
/// another owner can take the layout lock and the whole-directory entry
/// lock at once.
async fn unlocked(v: &Vol, dir: Gfid) -> bool {
    let other = Ctx {
        lk_owner: vec![0x77; 8],
        ..ctx()
    };
    let on = Target::Inode(dir);
    let flock = |kind| proto::iatt::Flock {
        kind,
        ..Default::default()
    };
    let (wr, un) = (flock(lock::WRLCK), flock(lock::UNLCK));
    let (heal, sync) = (b"dht.layout.heal", b"dht.entry.sync");
    for b in v.bricks.iter().filter(|b| b.has_inode(dir)) {
        let lock_wr = b.inodelk(&other, &on, heal, lock::SETLK, &wr, GfxDict::new());
        if let Err(err) = lock_wr.await {
            eprintln!("{}: {err}", b.name());
            return false;
        }
        let unlock = b.inodelk(&other, &on, heal, lock::SETLK, &un, GfxDict::new());
        unlock.await.unwrap();
        let nb = lock::ENTRYLK_LOCK_NB;
        let take = b.entrylk(&other, &on, sync, b"", nb, lock::WRLCK, GfxDict::new());
        if let Err(err) = take.await {
            eprintln!("{}: {err}", b.name());
            return false;
        }
        let ul = lock::ENTRYLK_UNLOCK;
        let give = b.entrylk(&other, &on, sync, b"", ul, lock::WRLCK, GfxDict::new());
        give.await.unwrap();
    }
    true
}

#[tokio::test]
async fn mkdir_failing_on_the_hashed_brick_creates_nothing() {
    let v = volume(3, &[]);
    v.lookup(Gfid::ROOT, "warm-up").await.ok();
    let h = v.hashed("/", "d");
    v.bricks[h].fail_nth(Fop::Mkdir, 1, errno::EIO);
    assert_eq!(e(v.mkdir(Gfid::ROOT, "d").await), errno::EIO);
    assert!(v.where_is("/d").is_empty());
    assert!(unlocked(&v, Gfid::ROOT).await);
    v.mkdir(Gfid::ROOT, "d").await.unwrap();
    assert_eq!(v.where_is("/d").len(), 3);
}

#[tokio::test]
async fn mkdir_failing_on_another_brick_is_healed_by_lookup() {
    let v = volume(3, &[]);
    v.lookup(Gfid::ROOT, "warm-up").await.ok();
    let h = v.hashed("/", "d");
    let k = (h + 1) % 3;
    v.bricks[k].fail_nth(Fop::Mkdir, 1, errno::EIO);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let present: Vec<usize> = v.where_is("/d").iter().map(|(i, _)| *i).collect();
    assert_eq!(present.len(), 2);
    assert!(!present.contains(&k));
    // The layout covers the hash space with the bricks that have it.
    assert!(v.layout("/d").is_complete());
    assert!(v.layout("/d").ranges[k].is_none());
    assert!(unlocked(&v, Gfid::ROOT).await && unlocked(&v, d).await);
    // Files still land by that layout.
    for i in 0..10 {
        let name = format!("f{i}");
        v.create(d, &name).await.unwrap();
        assert_eq!(
            v.where_is(&format!("/d/{name}"))[0].0,
            v.hashed("/d", &name)
        );
    }
    // Another client's lookup makes the directory on the brick that
    // lacks it, with the same gfid.
    let w = v.again();
    assert_eq!(w.lookup(Gfid::ROOT, "d").await.unwrap().gfid, d);
    assert_eq!(v.bricks[k].resolve("/d"), Some(d));
}

#[tokio::test]
async fn a_disconnected_brick() {
    let v = volume(3, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let on_0 = v.name_on("/d", 0, "a");
    let on_1 = v.name_on("/d", 1, "b");
    let (g0, fd0) = v.create(d, &on_0).await.unwrap();
    v.create(d, &on_1).await.unwrap();
    v.bricks[1].disconnect();
    // Files elsewhere are reachable; new names hashing to it fail.
    assert_eq!(v.again().lookup(d, &on_0).await.unwrap().gfid, g0);
    let c = v.name_on("/d", 1, "c");
    assert_eq!(e(v.create(d, &c).await), errno::ENOTCONN);
    // STATFS sums what answers.
    let req = StatfsReq {
        gfid: Gfid::ROOT,
        xdata: GfxDict::new(),
    };
    let one = v.bricks[0].statfs_now().blocks;
    assert_eq!(
        v.top.statfs(&v.ctx, &req).await.unwrap().statfs.blocks,
        2 * one
    );
    // A directory made meanwhile is completed by a later lookup.
    let xname = v.name_on("/", 0, "x");
    let x = v.mkdir(Gfid::ROOT, &xname).await.unwrap();
    assert!(!v.bricks[1].has_inode(x));
    v.bricks[1].reconnect();
    v.again().lookup(Gfid::ROOT, &xname).await.unwrap();
    assert_eq!(v.bricks[1].resolve(&format!("/{xname}")), Some(x));
    // Fds on the brick that stayed up were never reopened; writes go on.
    v.top
        .write(&v.ctx, &fd0, 0, Bytes::from_static(b"ok"), GfxDict::new())
        .await
        .unwrap();
    assert_eq!(v.bricks[0].calls(Fop::Open), 0);
}

#[tokio::test]
async fn fds_are_reopened_after_a_reconnect() {
    let v = volume(2, &[]);
    v.lookup(Gfid::ROOT, "warm-up").await.ok();
    let name = v.name_on("/", 1, "f");
    let (g, fd) = v.create(Gfid::ROOT, &name).await.unwrap();
    v.bricks[1].disconnect();
    let w = v
        .top
        .write(&v.ctx, &fd, 0, Bytes::from_static(b"a"), GfxDict::new());
    assert_eq!(e(w.await), errno::ENOTCONN);
    v.bricks[1].reconnect();
    v.top
        .write(&v.ctx, &fd, 0, Bytes::from_static(b"b"), GfxDict::new())
        .await
        .unwrap();
    assert_eq!(v.bricks[1].calls(Fop::Open), 1);
    assert_eq!(v.bricks[1].open_count(g), 1);
    assert_eq!(v.bricks[1].contents(&format!("/{name}")).unwrap(), b"b");
}

#[tokio::test]
async fn rename_whose_link_fails_undoes_its_linkto() {
    let v = volume(3, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let src = v.name_on("/d", 0, "s");
    let dst = v.name_on("/d", 2, "t");
    let (g, _) = v.create(d, &src).await.unwrap();
    v.bricks[0].fail_nth(Fop::Link, 1, errno::EIO);
    assert_eq!(e(v.rename(d, &src, d, &dst).await), errno::EIO);
    // As before: the data under its old name, no linkto left behind.
    assert_eq!(v.where_is(&format!("/d/{src}")), [(0, false)]);
    assert!(v.where_is(&format!("/d/{dst}")).is_empty());
    assert_eq!(v.again().lookup(d, &src).await.unwrap().gfid, g);
    assert!(unlocked(&v, d).await);
}

#[tokio::test]
async fn create_whose_data_side_fails_removes_its_linkto() {
    let v = volume(2, &[]);
    v.bricks[0].set_space(1 << 40, 1 << 20);
    v.lookup(Gfid::ROOT, "warm-up").await.ok();
    v.settle().await;
    let name = v.name_on("/", 0, "f");
    v.bricks[1].inject(Fop::Create, Fault::nth(1, errno::ENOSPC));
    assert_eq!(e(v.create(Gfid::ROOT, &name).await), errno::ENOSPC);
    assert!(v.where_is(&format!("/{name}")).is_empty());
}

#[tokio::test]
async fn unlink_whose_reply_is_lost_still_removes_the_linkto_on_retry() {
    let v = volume(2, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let a = v.name_on("/d", 0, "a");
    let b = v.name_on("/d", 1, "b");
    let (_, fd) = v.create(d, &a).await.unwrap();
    drop(fd);
    v.rename(d, &a, d, &b).await.unwrap(); // data on 0, linkto on 1
    v.bricks[0].inject(Fop::Unlink, Fault::nth(1, errno::ENOTCONN).after_applying());
    assert_eq!(e(v.unlink(d, &b).await), errno::ENOTCONN);
    // The data went; the linkto is stale now and a lookup clears it.
    assert_eq!(v.where_is(&format!("/d/{b}")), [(1, true)]);
    assert_eq!(e(v.again().lookup(d, &b).await), errno::ENOENT);
    assert!(v.where_is(&format!("/d/{b}")).is_empty());
}

/// A file whose hashed (and data) brick is down must not read as absent:
/// the lookup falls back to asking every brick (§4.2), and ENOENT from
/// the bricks that never had it would make the kernel cache a negative
/// entry for a file that exists. Upstream answers whichever error arrived
/// last (dht_lookup_dir_cbk), so either; ENOTCONN is the safe one.
#[tokio::test]
async fn a_file_on_a_disconnected_brick_is_not_absent() {
    let v = volume(3, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let name = v.name_on("/d", 1, "b");
    v.create(d, &name).await.unwrap();
    v.bricks[1].disconnect();
    assert_eq!(e(v.lookup(d, &name).await), errno::ENOTCONN);
    assert_eq!(e(v.again().lookup(d, &name).await), errno::ENOTCONN);
}

/// The hashed brick's LOOKUP fails once with ENOTCONN; distribute asks
/// every brick again (§4.2), which finds the file, and with no directory
/// in the replies decides as lookup-everywhere does (§4.4: "A
/// non-directory on any subvol triggers lookup-everywhere"), not by the
/// first error (ENOENT from a brick without the name).
#[tokio::test]
async fn lookup_of_a_file_after_a_transient_enotconn() {
    let v = volume(3, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let name = v.name_on("/d", 0, "f");
    let (g, _) = v.create(d, &name).await.unwrap();
    v.bricks[0].fail_nth(Fop::Lookup, 1, errno::ENOTCONN);
    assert_eq!(v.lookup(d, &name).await.unwrap().gfid, g);
}

/// The same ENOTCONN during a rename's lookup of its destination: taking
/// the existing destination for absent would leave its data file (off
/// its hashed brick here) next to the renamed one: two data files of one
/// name, listed twice.
#[tokio::test]
async fn rename_over_a_file_after_a_transient_enotconn() {
    let v = volume(3, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let src = v.name_on("/d", 2, "s");
    let dst = v.name_on("/d", 0, "t");
    let (gs, _) = v.create(d, &src).await.unwrap();
    // The destination's data on brick 1, a linkto on its hashed brick 0.
    let t1 = v.name_on("/d", 1, "t");
    v.create(d, &t1).await.unwrap();
    v.rename(d, &t1, d, &dst).await.unwrap();
    assert_eq!(v.where_is(&format!("/d/{dst}")), [(0, true), (1, false)]);
    v.bricks[0].fail_nth(Fop::Lookup, 1, errno::ENOTCONN);
    let r = v.rename(d, &src, d, &dst).await;
    let all = v.where_is(&format!("/d/{dst}"));
    let data = all.iter().filter(|c| !c.1).count();
    assert!(r.is_err() || data == 1, "{r:?}: {all:?}");
    if r.is_ok() {
        assert_eq!(v.again().lookup(d, &dst).await.unwrap().gfid, gs);
    }
}

/// §3.3: "Linktos found on non-hashed subvols during lookup-everywhere
/// are unlinked the same way when their open-fd-count is 0"
/// (dht_lookup_everywhere_cbk), not only the one on the hashed brick, so
/// that strays (left by a rename whose linkto-side RENAME failed, for
/// one) go.
#[tokio::test]
async fn lookup_everywhere_removes_stray_linkto_files() {
    let v = volume(3, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let name = v.name_on("/d", 0, "f");
    make_linkto(&v.bricks[1], d, &name, Gfid::random(), "v-client-2").await;
    assert_eq!(e(v.again().lookup(d, &name).await), errno::ENOENT);
    assert!(v.where_is(&format!("/d/{name}")).is_empty());
}

/// Rename step B on the destination's hashed brick (R = D_h != S_c)
/// fails: §5.5 (and upstream's dht_rename_cbk) log and go on, so the
/// rename would succeed, but when the destination's data sat on D_h it is
/// never replaced: the old file would stay where lookups find it, the
/// renamed data on S_c under the same name, and a linkto named after the
/// source on D_h. distribute undoes step A and fails instead.
#[tokio::test]
async fn rename_whose_linkto_side_fails_is_not_a_silent_success() {
    let v = volume(2, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let src = v.name_on("/d", 1, "s");
    let dst = v.name_on("/d", 0, "t");
    let (gs, _) = v.create(d, &src).await.unwrap();
    v.create(d, &dst).await.unwrap();
    v.bricks[0].fail_nth(Fop::Rename, 1, errno::EIO);
    let r = v.rename(d, &src, d, &dst).await;
    if r.is_ok() {
        assert_eq!(v.again().lookup(d, &dst).await.unwrap().gfid, gs);
    }
}

#[tokio::test]
async fn rmdir_failing_on_one_brick_is_healed_back() {
    let v = volume(3, &[]);
    v.lookup(Gfid::ROOT, "warm-up").await.ok();
    let h = v.hashed("/", "d");
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let k = (h + 1) % 3;
    v.bricks[k].fail_nth(Fop::Rmdir, 1, errno::EIO);
    let req = RmdirReq {
        pargfid: Gfid::ROOT,
        xflags: 0,
        bname: b"d".to_vec(),
        xdata: GfxDict::new(),
    };
    assert_eq!(e(v.top.rmdir(&v.ctx, &req).await), errno::EIO);
    // The hashed brick (last in line) kept it; a lookup puts it back
    // where it went, with a complete layout.
    assert!(v.bricks[h].has_inode(d));
    assert_eq!(v.again().lookup(Gfid::ROOT, "d").await.unwrap().gfid, d);
    assert_eq!(v.where_is("/d").len(), 3);
    assert!(v.layout("/d").is_complete());
    assert!(unlocked(&v, Gfid::ROOT).await);
    v.create(d, "f").await.unwrap();
}

/// Upstream opens a directory on the subvolumes that answer and lists
/// those (dht_fd_cbk succeeds if one did; readdirp skips down
/// subvolumes); failing opendir with the first error other than ENOENT
/// would make one disconnected brick fail every listing.
#[tokio::test]
async fn listing_with_a_disconnected_brick() {
    let v = volume(3, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let name = v.name_on("/d", 0, "f");
    v.create(d, &name).await.unwrap();
    v.bricks[2].disconnect();
    let fd = FdObj::new(d, 0, true, false);
    v.top.open(&v.ctx, &fd, GfxDict::new()).await.unwrap();
    let r = v.top.readdirp(&v.ctx, &fd, 0, 4096, GfxDict::new()).await;
    let names: Vec<Vec<u8>> = r.unwrap().entries.0.into_iter().map(|e| e.name).collect();
    assert!(names.contains(&name.into_bytes()));
}

/// §6.1: a directory entry whose hashed subvolume is down is listed from
/// the first subvolume that is up (dht_readdirp_cbk), so subdirectories
/// (and "." / "..") never vanish with a brick; its files do.
#[tokio::test]
async fn listing_with_a_disconnected_brick_keeps_every_directory() {
    let v = volume(3, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let mut want = vec![".".to_string(), "..".to_string()];
    for i in 0..3 {
        let sub = v.name_on("/d", i, "sub");
        v.mkdir(d, &sub).await.unwrap();
        want.push(sub);
        let f = v.name_on("/d", i, "f");
        v.create(d, &f).await.unwrap();
        if i != 2 {
            want.push(f);
        }
    }
    v.bricks[2].disconnect();
    let mut names: Vec<String> = v.list(d, 4096).await.into_iter().map(|x| x.0).collect();
    names.sort();
    want.sort();
    assert_eq!(names, want);
}
