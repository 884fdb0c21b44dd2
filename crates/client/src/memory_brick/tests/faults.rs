//! Injected faults, call counts and disconnections.

use super::*;

#[tokio::test]
async fn faults_counts_and_delays() {
    let b = MemoryBrick::new("v-client-0");
    b.fail_nth(Fop::Mkdir, 2, errno::EIO);
    mkdir(&b, Gfid::ROOT, "a").await.unwrap();
    assert_eq!(e(mkdir(&b, Gfid::ROOT, "b").await), errno::EIO);
    assert!(b.resolve("/b").is_none());
    mkdir(&b, Gfid::ROOT, "c").await.unwrap();
    // Done on the brick, lost on the way back.
    b.inject(Fop::Mkdir, Fault::nth(1, errno::ENOTCONN).after_applying());
    assert_eq!(e(mkdir(&b, Gfid::ROOT, "d").await), errno::ENOTCONN);
    assert!(b.resolve("/d").is_some());
    b.fail(Fop::Lookup, errno::EIO);
    for _ in 0..3 {
        assert_eq!(e(b.lookup(&CTX, &nameless(Gfid::ROOT)).await), errno::EIO);
    }
    b.clear_faults();
    b.lookup(&CTX, &nameless(Gfid::ROOT)).await.unwrap();
    assert_eq!((b.calls(Fop::Mkdir), b.calls(Fop::Lookup)), (4, 4));
    b.delay(Fop::Stat, Duration::from_millis(30));
    let t = std::time::Instant::now();
    b.stat(&CTX, &Target::Inode(Gfid::ROOT), GfxDict::new())
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(30));
    b.reset_calls();
    assert_eq!(b.total_calls(), 0);
}

#[tokio::test]
async fn disconnect_drops_fds_and_locks_and_fds_reopen() {
    let b = MemoryBrick::new("v-client-0");
    let (f, fd) = create(&b, Gfid::ROOT, "f").await;
    write(&b, &fd, 0, b"abc").await;
    let (g, gone) = create(&b, Gfid::ROOT, "gone").await;
    b.unlink(&CTX, &unlink_req(Gfid::ROOT, "gone", GfxDict::new()))
        .await
        .unwrap();
    let on = Target::Inode(Gfid::ROOT);
    let lock_it = |o: u8, cmd| {
        let (b, on) = (b.clone(), on.clone());
        async move {
            b.inodelk(
                &owner(o),
                &on,
                b"d",
                cmd,
                &flock(lock::WRLCK, 0, 0),
                GfxDict::new(),
            )
            .await
        }
    };
    lock_it(1, lock::SETLK).await.unwrap();
    let waiter = tokio::spawn(lock_it(2, lock::SETLKW));
    tokio::task::yield_now().await;

    b.disconnect();
    let w = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e(w), errno::ENOTCONN);
    assert_eq!(
        e(b.lookup(&CTX, &nameless(Gfid::ROOT)).await),
        errno::ENOTCONN
    );
    assert_eq!(b.open_count(f), 0);
    assert!(!b.has_inode(g), "the unlinked file went with its last fd");
    b.reconnect();
    // The lock went with the connection; the fd is opened again.
    lock_it(3, lock::SETLK).await.unwrap();
    let before = b.calls(Fop::Open);
    assert_eq!(&read(&b, &fd, 0, 10).await.1[..], b"abc");
    assert_eq!(b.calls(Fop::Open), before + 1);
    assert_eq!(b.open_count(f), 1);
    let r = b.read(&CTX, &gone, 0, 10, GfxDict::new()).await;
    assert_eq!(e(r), errno::ESTALE);
    // An open failing fails the fd fop.
    b.disconnect();
    b.reconnect();
    b.fail_nth(Fop::Open, 1, errno::EIO);
    assert_eq!(e(b.read(&CTX, &fd, 0, 1, GfxDict::new()).await), errno::EIO);
    read(&b, &fd, 0, 1).await;
    drop(fd);
    assert_eq!(b.open_count(f), 0);
}
