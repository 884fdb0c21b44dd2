//! Reads (§4.1, §4.2, §4.5): only from copies no brick accuses; EIO when
//! every copy is accused (data split-brain).

use super::*;

/// A file "/f" with `data` on every brick, read first by brick 2.
async fn file(s: &Set, data: &[u8]) -> Gfid {
    let g = gfid_read_by(2);
    let fd = s.create_as(g, "f").await.unwrap();
    s.write(&fd, 0, data).await.unwrap();
    s.flush(&fd).await;
    g
}

#[tokio::test]
async fn reads_avoid_an_accused_brick() {
    let s = Set::new(&[]);
    let g = file(&s, b"contents").await;
    // Unaccused, the read goes where the hash says: brick 2.
    let t = s.client(&[]);
    let fd = t.open(g).await.unwrap();
    assert_eq!(t.read(&fd, 0, 64).await.unwrap(), &b"contents"[..]);
    assert_eq!(s.calls(Fop::Read), [0, 0, 1]);
    // Bricks 0 and 1 accuse brick 2 for data.
    s.accuse(0, "/f", 2, [1, 0, 0]);
    s.accuse(1, "/f", 2, [1, 0, 0]);
    s.reset_calls();
    let t = s.client(&[]);
    let fd = t.open(g).await.unwrap();
    for _ in 0..4 {
        assert_eq!(t.read(&fd, 0, 64).await.unwrap(), &b"contents"[..]);
    }
    assert_eq!(s.calls(Fop::Read)[2], 0);
    assert_eq!(s.calls(Fop::Read)[0] + s.calls(Fop::Read)[1], 4);
    // One accusation by one brick is enough.
    s.accuse(1, "/f", 2, [0; 3]);
    s.reset_calls();
    let t = s.client(&[]);
    let fd = t.open(g).await.unwrap();
    t.read(&fd, 0, 64).await.unwrap();
    assert_eq!(s.calls(Fop::Read)[2], 0);
}

#[tokio::test]
async fn a_dirty_mark_alone_does_not_stop_reads() {
    let s = Set::new(&[]);
    let g = file(&s, b"contents").await;
    assert!(s.b[2].put_xattr(
        "/f",
        "trusted.afr.dirty",
        Some(&Changelog([1, 0, 0]).encode())
    ));
    let t = s.client(&[]);
    let fd = t.open(g).await.unwrap();
    t.read(&fd, 0, 64).await.unwrap();
    assert_eq!(s.calls(Fop::Read), [0, 0, 1]);
}

#[tokio::test]
async fn every_copy_accused_is_a_split_brain() {
    let s = Set::new(&[NOW]);
    let g = file(&s, b"contents").await;
    // Each brick accuses the next one for data.
    for i in 0..3 {
        s.accuse(i, "/f", (i + 1) % 3, [1, 0, 0]);
    }
    s.reset_calls();
    let t = s.client(&[NOW]);
    let fd = t.open(g).await.unwrap();
    assert_eq!(e(t.read(&fd, 0, 64).await), errno::EIO);
    assert_eq!(s.calls(Fop::Read), [0; 3]);
    // Nor is anything written over it (§3.1: never only to stale copies),
    // and the pre-op's dirty is taken back.
    assert_eq!(e(t.write(&fd, 0, b"x").await), errno::EIO);
    assert_eq!(s.calls(Fop::Write), [0; 3]);
    for i in 0..3 {
        assert_eq!(s.dirty(i, "/f"), [0; 3]);
        assert_eq!(s.pending(i, "/f", (i + 1) % 3), [1, 0, 0]);
    }
}
