//! One brick failing one step of a write transaction (§3.1, §3.6), each
//! on the eager-lock path (post-op at the end of the write) and on the
//! whole-transaction path; and errors every brick shares (§1.4).

use super::*;
use crate::memory_brick::Fault;

/// The two ways a write runs, each ending its transaction by itself.
const PATHS: [&[(&str, &str)]; 2] = [&[NOW], &[NO_EAGER]];

#[tokio::test]
async fn a_brick_failing_the_write_is_accused_and_the_app_succeeds() {
    for opts in PATHS {
        let s = Set::new(opts);
        let fd = s.create("f").await.unwrap();
        s.b[2].fail(Fop::Write, errno::EIO);
        let r = s.write(&fd, 0, b"hello").await;
        assert_eq!(r.unwrap().op_ret, 5, "{opts:?}");
        for i in 0..2 {
            assert_eq!(s.pending(i, "/f", 2), [1, 0, 0], "{opts:?} brick {i}");
            assert_eq!(s.dirty(i, "/f"), [0; 3], "{opts:?} brick {i}");
            assert_eq!(s.pending(i, "/f", 1 - i), [0; 3]);
            assert_eq!(s.b[i].contents("/f").unwrap(), b"hello");
        }
        // No post-op where the write failed: its pre-op's dirty stays for
        // shd, and it accuses nobody.
        assert_eq!(s.dirty(2, "/f"), [1, 0, 0], "{opts:?}");
        assert_eq!(s.pending(2, "/f", 0), [0; 3]);
        assert_eq!(s.pending(2, "/f", 1), [0; 3]);
        assert_eq!(s.b[2].contents("/f").unwrap(), b"");
        // The stale copy is not read, even by a client that knew nothing.
        let t = s.client(&[]);
        let fd2 = t.open(s.b[0].resolve("/f").unwrap()).await.unwrap();
        assert_eq!(t.read(&fd2, 0, 16).await.unwrap(), &b"hello"[..]);
        assert_eq!(s.calls(Fop::Read)[2], 0);
    }
}

#[tokio::test]
async fn a_brick_failing_the_pre_op_gets_no_write_and_is_accused() {
    for opts in PATHS {
        let s = Set::new(opts);
        let fd = s.create("f").await.unwrap();
        s.reset_calls();
        // A write's pre-op goes through its fd: FXATTROP (§2).
        s.b[2].fail(Fop::Fxattrop, errno::EIO);
        s.write(&fd, 0, b"hello").await.unwrap();
        assert_eq!(s.calls(Fop::Fxattrop), [2, 2, 1], "{opts:?}");
        assert_eq!(s.calls(Fop::Xattrop), [0; 3], "{opts:?}");
        assert_eq!(s.calls(Fop::Write), [1, 1, 0], "{opts:?}");
        for i in 0..2 {
            assert_eq!(s.pending(i, "/f", 2), [1, 0, 0], "{opts:?} brick {i}");
            assert_eq!(s.dirty(i, "/f"), [0; 3]);
        }
        s.b[2].clear_faults();
        s.assert_clean(2, "/f");
    }
}

#[tokio::test]
async fn a_brick_failing_the_post_op_keeps_its_dirty_mark() {
    for opts in PATHS {
        let s = Set::new(opts);
        let fd = s.create("f").await.unwrap();
        // The pre-op passes, the post-op (the next FXATTROP) fails.
        s.b[1].fail_nth(Fop::Fxattrop, 2, errno::EIO);
        let r = s.write(&fd, 0, b"hello").await;
        assert_eq!(r.unwrap().op_ret, 5, "{opts:?}");
        assert_eq!(s.calls(Fop::Fxattrop), [2; 3], "{opts:?}");
        // shd's hint: this copy may differ; nobody is accused.
        assert_eq!(s.dirty(1, "/f"), [1, 0, 0], "{opts:?}");
        for j in 0..3 {
            assert_eq!(s.pending(1, "/f", j), [0; 3]);
        }
        s.assert_clean(0, "/f");
        s.assert_clean(2, "/f");
        for i in 0..3 {
            assert_eq!(s.b[i].contents("/f").unwrap(), b"hello");
        }
    }
}

#[tokio::test]
async fn the_same_error_everywhere_accuses_nobody() {
    for opts in [&[NOW][..], &[NO_EAGER], &[]] {
        let s = Set::new(opts);
        let fd = s.create("f").await.unwrap();
        for b in &s.b {
            b.fail(Fop::Write, errno::ENOSPC);
        }
        assert_eq!(
            e(s.write(&fd, 0, b"hello").await),
            errno::ENOSPC,
            "{opts:?}"
        );
        s.flush(&fd).await; // ends the run of the delayed post-op
        for i in 0..3 {
            s.assert_clean(i, "/f");
            assert_eq!(s.b[i].contents("/f").unwrap(), b"");
        }
    }
    // An entry txn too: the create fails the same way on every brick.
    let s = Set::new(&[]);
    for b in &s.b {
        b.fail(Fop::Create, errno::EACCES);
    }
    assert_eq!(e(s.create("g").await), errno::EACCES);
    for i in 0..3 {
        s.assert_clean(i, "/");
    }
}

#[tokio::test]
async fn a_write_applied_but_unanswered_counts_as_failed() {
    let s = Set::new(&[NOW]);
    let fd = s.create("f").await.unwrap();
    // The brick wrote, then the reply was lost: it is accused all the
    // same (the client cannot know), and shd will find nothing to copy.
    s.b[0].inject(Fop::Write, Fault::nth(1, errno::ENOTCONN).after_applying());
    s.write(&fd, 0, b"abc").await.unwrap();
    assert_eq!(s.b[0].contents("/f").unwrap(), b"abc");
    for i in 1..3 {
        assert_eq!(s.pending(i, "/f", 0), [1, 0, 0]);
        assert_eq!(s.dirty(i, "/f"), [0; 3]);
    }
}

#[tokio::test]
async fn a_brick_failing_the_durability_fsync_is_accused() {
    for opts in PATHS {
        let s = Set::new(opts);
        let fd = s.create("f").await.unwrap();
        s.b[2].fail(Fop::Fsync, errno::EIO);
        s.write(&fd, 0, b"hello").await.unwrap();
        assert_eq!(s.calls(Fop::Fsync), [1; 3], "{opts:?}");
        for i in 0..2 {
            assert_eq!(s.pending(i, "/f", 2), [1, 0, 0], "{opts:?} brick {i}");
            assert_eq!(s.dirty(i, "/f"), [0; 3], "{opts:?} brick {i}");
        }
        assert_eq!(s.dirty(2, "/f"), [1, 0, 0], "{opts:?}");
    }
}
