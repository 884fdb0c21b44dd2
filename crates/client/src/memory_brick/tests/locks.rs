//! inodelk, entrylk and posix locks.

use super::*;

#[tokio::test]
async fn inodelks_conflict_wait_and_unlock() {
    let b = MemoryBrick::new("v-client-0");
    let on = Target::Inode(Gfid::ROOT);
    let lk = |o: u8, cmd, f: Flock| {
        let b = b.clone();
        let on = on.clone();
        async move {
            b.inodelk(&owner(o), &on, b"dom", cmd, &f, GfxDict::new())
                .await
        }
    };
    lk(1, lock::SETLK, flock(lock::WRLCK, 0, 0)).await.unwrap();
    assert_eq!(
        e(lk(2, lock::SETLK, flock(lock::RDLCK, 5, 1)).await),
        errno::EAGAIN
    );
    // Same owner stacks; another domain is free.
    lk(1, lock::SETLK, flock(lock::WRLCK, 0, 10)).await.unwrap();
    let (o2, wr) = (owner(2), flock(lock::WRLCK, 0, 0));
    let other = b.inodelk(&o2, &on, b"other", lock::SETLK, &wr, GfxDict::new());
    other.await.unwrap();
    assert_eq!(
        e(lk(2, lock::GETLK, flock(lock::WRLCK, 0, 0)).await),
        errno::EOPNOTSUPP
    );
    assert_eq!(
        e(lk(2, lock::SETLK, flock(lock::UNLCK, 0, 0)).await),
        errno::EINVAL
    );
    // A blocking request waits for the unlocks.
    let waiter = tokio::spawn(lk(2, lock::SETLKW, flock(lock::WRLCK, 0, 0)));
    for _ in 0..5 {
        tokio::task::yield_now().await;
    }
    assert!(!waiter.is_finished());
    lk(1, lock::SETLK, flock(lock::UNLCK, 0, 0)).await.unwrap();
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    lk(1, lock::SETLK, flock(lock::UNLCK, 0, 10)).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), waiter).await;
    got.unwrap().unwrap().unwrap();
    assert_eq!(b.calls(Fop::Inodelk), 9);
}

#[tokio::test]
async fn entrylks_by_name_and_whole_directory() {
    let b = MemoryBrick::new("v-client-0");
    let on = Target::Inode(Gfid::ROOT);
    let lk = |o: u8, name: &'static str, cmd, kind| {
        let b = b.clone();
        let on = on.clone();
        async move {
            b.entrylk(
                &owner(o),
                &on,
                b"dht.entry.sync",
                name.as_bytes(),
                cmd,
                kind,
                GfxDict::new(),
            )
            .await
        }
    };
    lk(1, "a", lock::ENTRYLK_LOCK_NB, lock::RDLCK)
        .await
        .unwrap();
    lk(2, "b", lock::ENTRYLK_LOCK_NB, lock::WRLCK)
        .await
        .unwrap();
    // Even two read locks on one name conflict (entrylk.c ignores types).
    let r = lk(2, "a", lock::ENTRYLK_LOCK_NB, lock::RDLCK).await;
    assert_eq!(e(r), errno::EAGAIN);
    assert_eq!(
        e(lk(3, "", lock::ENTRYLK_LOCK_NB, lock::WRLCK).await),
        errno::EAGAIN
    );
    assert_eq!(
        e(lk(3, "a", lock::ENTRYLK_UNLOCK, lock::RDLCK).await),
        errno::EINVAL
    );
    let waiter = tokio::spawn(lk(3, "", lock::ENTRYLK_LOCK, lock::WRLCK));
    tokio::task::yield_now().await;
    lk(1, "a", lock::ENTRYLK_UNLOCK, lock::RDLCK).await.unwrap();
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    lk(2, "b", lock::ENTRYLK_UNLOCK, lock::WRLCK).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), waiter).await;
    got.unwrap().unwrap().unwrap();
    assert_eq!(
        e(lk(1, "z", lock::ENTRYLK_LOCK_NB, lock::WRLCK).await),
        errno::EAGAIN
    );
}

#[tokio::test]
async fn posix_locks_getlk_and_flush() {
    let b = MemoryBrick::new("v-client-0");
    let (_, fd) = create(&b, Gfid::ROOT, "f").await;
    let lk = |o: u8, cmd, f: Flock| {
        let (b, fd) = (b.clone(), fd.clone());
        async move { b.lk(&owner(o), &fd, cmd, &f, GfxDict::new()).await }
    };
    lk(0x11, lock::SETLK, flock(lock::WRLCK, 0, 100))
        .await
        .unwrap();
    assert_eq!(
        e(lk(0x22, lock::SETLK, flock(lock::WRLCK, 50, 10)).await),
        errno::EAGAIN
    );
    let g = lk(0x22, lock::GETLK, flock(lock::WRLCK, 50, 10))
        .await
        .unwrap();
    assert_eq!(
        (g.flock.kind, g.flock.start, g.flock.len),
        (lock::WRLCK, 0, 100)
    );
    assert_eq!(g.flock.lk_owner, vec![0x11; 8]);
    lk(0x11, lock::SETLK, flock(lock::UNLCK, 40, 30))
        .await
        .unwrap();
    lk(0x22, lock::SETLK, flock(lock::WRLCK, 50, 10))
        .await
        .unwrap();
    let g = lk(0x33, lock::GETLK, flock(lock::RDLCK, 80, 1))
        .await
        .unwrap();
    assert_eq!(g.flock.start, 70);
    b.flush(&owner(0x11), &fd, GfxDict::new()).await.unwrap();
    let g = lk(0x33, lock::GETLK, flock(lock::WRLCK, 0, 0))
        .await
        .unwrap();
    assert_eq!(g.flock.lk_owner, vec![0x22; 8]);
    fd.release().await;
}
