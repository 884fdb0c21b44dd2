//! Quorum (§5, §3.6) and the arbiter (§6): a minority never changes a
//! file alone and never accuses the majority; the arbiter keeps no data,
//! serves no reads and is never the only good copy a write relies on.

use super::*;

#[tokio::test]
async fn two_bricks_down_nothing_is_changed_and_nobody_accused() {
    let s = Set::new(&[NOW]);
    let fd = s.create("f").await.unwrap();
    s.write(&fd, 0, b"old").await.unwrap();
    s.reset_calls();
    s.b[1].disconnect();
    s.b[2].disconnect();
    assert_eq!(e(s.create("g").await), errno::ENOTCONN);
    assert_eq!(e(s.write(&fd, 0, b"new").await), errno::ENOTCONN);
    assert_eq!(e(s.mkdir("d").await), errno::ENOTCONN);
    // Locked on brick 0 alone: no pre-op, no fop there.
    assert_eq!(s.calls(Fop::Xattrop)[0] + s.calls(Fop::Fxattrop)[0], 0);
    assert_eq!(s.calls(Fop::Write)[0], 0);
    assert!(s.b[0].resolve("/g").is_none() && s.b[0].resolve("/d").is_none());
    assert_eq!(s.b[0].contents("/f").unwrap(), b"old");
    s.assert_clean(0, "/f");
    s.assert_clean(0, "/");
    // Reads need quorum too (§5), on an open fd as for a new open.
    assert_eq!(e(s.read(&fd, 0, 16).await), errno::ENOTCONN);
    assert_eq!(s.calls(Fop::Read), [0; 3]);
    let g = s.b[0].resolve("/f").unwrap();
    assert_eq!(e(s.client(&[]).open(g).await), errno::ENOTCONN);
}

#[tokio::test]
async fn a_fop_done_by_a_minority_fails_and_leaves_dirty_only() {
    for opts in [&[NOW][..], &[NO_EAGER]] {
        let s = Set::new(opts);
        let fd = s.create("f").await.unwrap();
        s.b[1].fail(Fop::Write, errno::EIO);
        s.b[2].fail(Fop::Write, errno::EIO);
        // §3.6, §5: the highest errno of the failed replies.
        assert_eq!(e(s.write(&fd, 0, b"abc").await), errno::EIO, "{opts:?}");
        // Every brick keeps its pre-op's dirty; brick 0 accuses no one.
        for i in 0..3 {
            assert_eq!(s.dirty(i, "/f"), [1, 0, 0], "{opts:?} brick {i}");
            for j in 0..3 {
                assert_eq!(s.pending(i, "/f", j), [0; 3], "{opts:?}");
            }
        }
    }
    // An entry txn without a pre-op (all locked): dirty +1 at the entry
    // slot where it was done, no pending keys.
    let s = Set::new(&[]);
    s.b[1].fail(Fop::Create, errno::EIO);
    s.b[2].fail(Fop::Create, errno::EIO);
    assert_eq!(e(s.create("g").await), errno::EIO);
    assert!(s.b[0].resolve("/g").is_some());
    assert_eq!(s.dirty(0, "/"), [0, 0, 1]);
    for i in 0..3 {
        for j in 0..3 {
            assert_eq!(s.pending(i, "/", j), [0; 3]);
        }
    }
    s.assert_clean(1, "/");
}

#[tokio::test]
async fn a_pre_op_short_of_quorum_changes_nothing() {
    let s = Set::new(&[]);
    s.b[2].disconnect();
    // Entry txn with a brick unlocked: a pre-op on the parent (XATTROP).
    s.b[1].fail(Fop::Xattrop, errno::EIO);
    assert_eq!(e(s.create("g").await), errno::ENOTCONN);
    assert_eq!(s.calls(Fop::Create), [0; 3]);
    s.assert_clean(0, "/");
    s.b[1].clear_faults();
    s.assert_clean(1, "/");
}

#[tokio::test]
async fn the_arbiter_gets_one_byte_writes_and_serves_no_reads() {
    let s = Set::new(&[ARBITER]);
    let mut files = Vec::new();
    for n in 0..6 {
        // Files the read hash would read from the arbiter, and others.
        let g = gfid_read_by(n % 3);
        let name = format!("f{n}");
        let fd = s.create_as(g, &name).await.unwrap();
        assert_eq!(s.write(&fd, 0, b"hello").await.unwrap().op_ret, 5);
        assert_eq!(s.write(&fd, 5, b" world").await.unwrap().op_ret, 6);
        s.flush(&fd).await;
        files.push((g, format!("/{name}")));
    }
    let t = s.client(&[ARBITER]);
    for (g, path) in &files {
        for i in 0..2 {
            assert_eq!(s.b[i].contents(path).unwrap(), b"hello world");
        }
        // One 0xff byte per write at its offset (a real arbiter brick
        // drops them: its file stays empty).
        assert_eq!(s.b[2].contents(path).unwrap(), [0xff, 0, 0, 0, 0, 0xff]);
        for i in 0..3 {
            s.assert_clean(i, path);
        }
        let fd = t.open(*g).await.unwrap();
        assert_eq!(t.read(&fd, 0, 64).await.unwrap(), &b"hello world"[..]);
    }
    assert_eq!(s.calls(Fop::Read)[2], 0);
    assert_eq!(s.calls(Fop::Read)[0] + s.calls(Fop::Read)[1], 6);
}

#[tokio::test]
async fn no_write_when_the_arbiter_is_the_only_good_copy() {
    for opts in [&[ARBITER, NOW][..], &[ARBITER, NO_EAGER]] {
        let s = Set::new(opts);
        let fd = s.create("f").await.unwrap();
        s.write(&fd, 0, b"good").await.unwrap();
        s.flush(&fd).await;
        // Brick 0 down, brick 1 accused by the arbiter: only the arbiter
        // is a source (§6.3).
        s.b[0].disconnect();
        s.accuse(2, "/f", 1, [1, 0, 0]);
        s.reset_calls();
        assert_eq!(
            e(s.write(&fd, 0, b"BAD!").await),
            errno::ENOTCONN,
            "{opts:?}"
        );
        assert_eq!(s.calls(Fop::Write), [0; 3], "{opts:?}");
        assert_eq!(s.b[1].contents("/f").unwrap(), b"good");
        // The pre-op's dirty is taken back; nobody new is accused.
        for i in 1..3 {
            assert_eq!(s.dirty(i, "/f"), [0; 3], "{opts:?}");
            assert_eq!(s.pending(i, "/f", 0), [0; 3], "{opts:?}");
        }
        assert_eq!(s.pending(1, "/f", 1), [0; 3]);
        assert_eq!(s.pending(2, "/f", 1), [1, 0, 0]);
    }
}

#[tokio::test]
async fn the_arbiter_and_one_data_brick_make_quorum() {
    let s = Set::new(&[ARBITER, NOW]);
    let fd = s.create("f").await.unwrap();
    s.b[1].disconnect();
    s.write(&fd, 0, b"two of three").await.unwrap();
    assert_eq!(s.b[0].contents("/f").unwrap(), b"two of three");
    for i in [0, 2] {
        assert_eq!(s.pending(i, "/f", 1), [1, 0, 0]);
        assert_eq!(s.dirty(i, "/f"), [0; 3]);
    }
}
