//! File data, holes, space fops, lazy fds and STATFS.

use super::*;

#[tokio::test]
async fn file_data_holes_and_space_fops() {
    let b = MemoryBrick::new("v-client-0");
    let (_, fd) = create(&b, Gfid::ROOT, "f").await;
    write(&b, &fd, 0, &[1; 4101]).await;
    let w = write(&b, &fd, 1 << 20, b"TAIL!").await;
    assert_eq!(
        (w.op_ret, w.prestat.size, w.poststat.size),
        (5, 4101, (1 << 20) + 5)
    );
    // The live brick's answers (fixtures READ.eof, READ.past_eof, SEEK.*).
    let (r, data) = read(&b, &fd, 1 << 20, 4096).await;
    assert_eq!(
        (r.op_ret, r.op_errno, &data[..]),
        (5, errno::ENOENT, &b"TAIL!"[..])
    );
    let (r, data) = read(&b, &fd, 2 << 20, 16).await;
    assert_eq!((r.op_ret, r.op_errno, data.len()), (0, errno::ENOENT, 0));
    let (r, data) = read(&b, &fd, 524288, 512).await;
    assert_eq!((r.op_ret, r.op_errno, &data[..]), (512, 0, &[0u8; 512][..]));
    let seek = |off, what| b.seek(&CTX, &fd, off, what, GfxDict::new());
    assert_eq!(seek(0, SEEK_DATA).await.unwrap().offset, 0);
    assert_eq!(seek(0, SEEK_HOLE).await.unwrap().offset, 8192);
    assert_eq!(seek(65536, SEEK_DATA).await.unwrap().offset, 1 << 20);
    assert_eq!(e(seek(2 << 20, SEEK_DATA).await), errno::ENXIO);
    assert_eq!(e(seek(0, 3).await), errno::EINVAL);

    let on = Target::Fd(fd.clone());
    let t = b.truncate(&CTX, &on, 1000, GfxDict::new());
    assert_eq!(t.await.unwrap().poststat.size, 1000);
    let fa = b
        .fallocate(&CTX, &fd, 0, 0, 65536, GfxDict::new())
        .await
        .unwrap();
    assert_eq!((fa.poststat.size, fa.poststat.blocks), (65536, 128));
    let keep = b.fallocate(&CTX, &fd, 1, 65536, 65536, GfxDict::new());
    assert_eq!(keep.await.unwrap().poststat.size, 65536);
    write(&b, &fd, 16384, &[0xaa; 4096]).await;
    b.discard(&CTX, &fd, 16384, 16384, GfxDict::new())
        .await
        .unwrap();
    assert_eq!(&read(&b, &fd, 16384, 4).await.1[..], [0; 4]);
    assert_eq!(seek(0, SEEK_HOLE).await.unwrap().offset, 16384);
    let z = b
        .zerofill(&CTX, &fd, 65536, 100, GfxDict::new())
        .await
        .unwrap();
    assert_eq!(z.poststat.size, 65636);

    // O_APPEND writes at the end; copy_file_range copies.
    let (g, fd2) = create(&b, Gfid::ROOT, "g").await;
    let app = FdObj::new(g, oflags::WRONLY | oflags::APPEND, false, false);
    b.open(&CTX, &app, GfxDict::new()).await.unwrap();
    write(&b, &app, 0, b"ab").await;
    write(&b, &app, 0, b"cd").await;
    assert_eq!(b.contents("/g").unwrap(), b"abcd");
    let cp = b.copy_file_range(&CTX, &fd, 0, &fd2, 4, 10, GfxDict::new());
    let cp = cp.await.unwrap();
    assert_eq!((cp.op_ret, cp.postparent.size), (10, 14));
    assert_eq!(&b.contents("/g").unwrap()[4..], &[1; 10]);
    // Writing through a read-only fd is refused.
    let ro = FdObj::new(g, oflags::RDONLY, false, false);
    let w = b.write(&CTX, &ro, 0, Bytes::from_static(b"x"), GfxDict::new());
    assert_eq!(e(w.await), errno::EBADF);
}

#[tokio::test]
async fn lazy_fds_and_statfs() {
    let b = MemoryBrick::new("v-client-0");
    let (f, fd) = create(&b, Gfid::ROOT, "f").await;
    write(&b, &fd, 0, b"xyz").await;
    let lazy = FdObj::new(f, oflags::RDONLY, false, true);
    assert_eq!(&read(&b, &lazy, 0, 3).await.1[..], b"xyz");
    assert_eq!((b.calls(Fop::Open), b.open_count(f)), (0, 1));
    b.flush(&CTX, &lazy, GfxDict::new()).await.unwrap();
    assert_eq!(b.calls(Fop::Flush), 0);

    let req = StatfsReq {
        gfid: Gfid::ROOT,
        xdata: GfxDict::new(),
    };
    let s = b.statfs(&CTX, &req).await.unwrap().statfs;
    assert!(s.bfree < s.blocks && s.bsize == 4096);
    b.set_space(100 << 20, 5 << 20);
    let s = b.statfs(&CTX, &req).await.unwrap().statfs;
    assert_eq!((s.blocks, s.bavail), (25600, 1280));
    b.clear_statfs();
    let ac = AccessReq {
        gfid: f,
        mask: 2,
        xdata: GfxDict::new(),
    };
    let user = Ctx { uid: 1000, ..ctx() };
    assert_eq!(e(b.access(&user, &ac).await), errno::EACCES);
    b.access(&CTX, &ac).await.unwrap();
}
