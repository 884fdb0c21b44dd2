//! Xattrs, XATTROP and the parent-layout guard.

use super::*;

#[tokio::test]
async fn xattrs_flags_encodings_and_entry_xdata() {
    let b = MemoryBrick::new("v-client-0");
    let (f, _fd) = create(&b, Gfid::ROOT, "f").await;
    let on = Target::Inode(f);
    let set = |k: &str, v: DictValue, flags| {
        b.setxattr(&CTX, &on, GfxDict::new().with(k, v), flags, GfxDict::new())
    };
    set("user.str", DictValue::Str(b"abc".to_vec()), 0)
        .await
        .unwrap();
    set("user.ptr", DictValue::Ptr(b"abc".to_vec()), 0)
        .await
        .unwrap();
    assert_eq!(
        e(set("user.ptr", DictValue::Ptr(b"z".to_vec()), 1).await),
        errno::EEXIST
    );
    assert_eq!(
        e(set("user.new", DictValue::Ptr(b"z".to_vec()), 2).await),
        errno::ENODATA
    );
    assert_eq!(
        e(set("bogus", DictValue::Ptr(b"z".to_vec()), 0).await),
        errno::EOPNOTSUPP
    );
    assert_eq!(b.xattr("/f", "user.str").unwrap(), b"abc\0");
    let get = |name: &'static str| b.getxattr(&CTX, &on, name.as_bytes(), GfxDict::new());
    let all = get("").await.unwrap().dict;
    assert_eq!(all.pairs.len(), 2);
    assert_eq!(
        get("user.ptr").await.unwrap().dict.get("user.ptr"),
        Some(&DictValue::Ptr(b"abc".to_vec()))
    );
    assert_eq!(e(get("user.missing").await), errno::ENODATA);
    let rm = |name: &'static str| b.removexattr(&CTX, &on, name.as_bytes(), GfxDict::new());
    rm("user.ptr").await.unwrap();
    assert_eq!(e(rm("user.ptr").await), errno::ENODATA);
    assert_eq!(e(rm("trusted.gfid").await), errno::EPERM);

    // An entry fop's xdata becomes xattrs, control keys excepted.
    let x = gfid_req(Gfid::random())
        .with(
            "trusted.glusterfs.dht.linkto",
            DictValue::Str(b"v-client-1".to_vec()),
        )
        .with("glusterfs-internal-fop", DictValue::Str(b"yes".to_vec()));
    let mk = MknodReq {
        pargfid: Gfid::ROOT,
        dev: 0,
        mode: S_IFREG | 0o1000,
        umask: 0,
        bname: b"l".to_vec(),
        xdata: x,
    };
    b.mknod(&CTX, &mk).await.unwrap();
    assert_eq!(
        b.xattr("/l", "trusted.glusterfs.dht.linkto").unwrap(),
        b"v-client-1\0"
    );
    assert!(b.xattr("/l", "glusterfs-internal-fop").is_none());
    assert!(b.is_linkto("/l"));
    // LOOKUP answers the keys it is asked for that the inode has.
    let req = named(
        Gfid::ROOT,
        "l",
        want(&[
            "trusted.glusterfs.dht.linkto",
            "trusted.glusterfs.dht",
            "glusterfs.open-fd-count",
        ]),
    );
    let r = b.lookup(&CTX, &req).await.unwrap();
    assert_eq!(r.xdata.pairs.len(), 2);
    assert_eq!(
        r.xdata.get("glusterfs.open-fd-count"),
        Some(&DictValue::Uint(0))
    );
    let req = named(Gfid::ROOT, "f", want(&["glusterfs.open-fd-count"]));
    let r = b.lookup(&CTX, &req).await.unwrap();
    assert_eq!(
        r.xdata.get("glusterfs.open-fd-count"),
        Some(&DictValue::Uint(1))
    );

    let a = mkdir(&b, Gfid::ROOT, "a").await.unwrap();
    let c = mkdir(&b, a, "c").await.unwrap();
    let on_c = Target::Inode(c);
    let anc = b.getxattr(&CTX, &on_c, b"glusterfs.ancestry.path", GfxDict::new());
    let anc = anc.await.unwrap().dict;
    assert_eq!(
        anc.get("glusterfs.ancestry.path"),
        Some(&DictValue::Str(b"/a/c\0".to_vec()))
    );
    let anc = b.getxattr(&CTX, &on, b"glusterfs.ancestry.path", GfxDict::new());
    assert_eq!(e(anc.await), errno::ENODATA);
}

#[tokio::test]
async fn xattrop_adds_arrays() {
    let b = MemoryBrick::new("v-client-0");
    let on = Target::Inode(Gfid::ROOT);
    let be = |v: &[i32]| v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<_>>();
    let op = |t, v: Vec<u8>| {
        let d = GfxDict::new().with("trusted.c", DictValue::Ptr(v));
        b.xattrop(&CTX, &on, t, d, GfxDict::new())
    };
    // Fixtures XATTROP / FXATTROP.
    let r = op(0, be(&[1, 2, 3])).await.unwrap();
    assert_eq!(
        r.dict.get("trusted.c"),
        Some(&DictValue::Ptr(be(&[1, 2, 3])))
    );
    let r = op(0, be(&[1, 1, 1])).await.unwrap();
    assert_eq!(
        r.dict.get("trusted.c"),
        Some(&DictValue::Ptr(be(&[2, 3, 4])))
    );
    assert_eq!(e(op(0, be(&[1])).await), errno::ERANGE);
    // An all-zero delta reads without creating.
    let d = GfxDict::new().with("trusted.z", DictValue::Ptr(vec![0; 8]));
    let r = b.xattrop(&CTX, &on, 1, d, GfxDict::new()).await.unwrap();
    assert_eq!(r.dict.get("trusted.z"), Some(&DictValue::Ptr(vec![0; 8])));
    assert!(b.xattr("/", "trusted.z").is_none());
    let d = GfxDict::new().with("trusted.z", DictValue::Ptr((-2i64).to_be_bytes().to_vec()));
    b.xattrop(&CTX, &on, 1, d, GfxDict::new()).await.unwrap();
    assert_eq!(b.xattr("/", "trusted.z").unwrap(), (-2i64).to_be_bytes());
    assert_eq!(e(op(2, be(&[1, 1, 1])).await), errno::EINVAL);
}

#[tokio::test]
async fn parent_layout_guard() {
    let b = MemoryBrick::new("v-client-0");
    let layout = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xfe];
    assert!(b.put_xattr("/", "trusted.glusterfs.dht", Some(&layout)));
    let guard = |g: Gfid, value: &[u8]| {
        gfid_req(g)
            .with(
                "glusterfs.preop.parent.key",
                DictValue::Str(b"trusted.glusterfs.dht".to_vec()),
            )
            .with("trusted.glusterfs.dht", DictValue::Ptr(value.to_vec()))
            .with("trusted.glusterfs.dht.mds", DictValue::Ptr(vec![0; 4]))
    };
    let mk = |name: &str, xdata| MkdirReq {
        pargfid: Gfid::ROOT,
        mode: 0o755,
        umask: 0,
        bname: name.into(),
        xdata,
    };
    b.mkdir(&CTX, &mk("ok", guard(Gfid::random(), &layout)))
        .await
        .unwrap();
    // The guard pair is consumed; the other keys are set.
    assert!(b.xattr("/ok", "trusted.glusterfs.dht").is_none());
    assert_eq!(b.xattr("/ok", "trusted.glusterfs.dht.mds").unwrap(), [0; 4]);
    let stale = [1u8; 16];
    assert_eq!(
        e(b.mkdir(&CTX, &mk("no", guard(Gfid::random(), &stale)))
            .await),
        errno::EIO
    );
    // A parent without the xattr: MKDIR ENODATA, CREATE EIO.
    let sub = b.resolve("/ok").unwrap();
    let mut m = mk("x", guard(Gfid::random(), &layout));
    m.pargfid = sub;
    assert_eq!(e(b.mkdir(&CTX, &m).await), errno::ENODATA);
    let g = Gfid::random();
    let fd = FdObj::new(g, oflags::RDWR | oflags::CREAT, false, false);
    let req = create_req(Gfid::ROOT, "f", fd.flags, guard(g, &stale));
    assert_eq!(e(b.create(&CTX, &req, &fd).await), errno::EIO);
    let req = create_req(Gfid::ROOT, "f", fd.flags, guard(g, &layout));
    b.create(&CTX, &req, &fd).await.unwrap();
    // An existing name is opened whatever the guard says.
    let fd2 = FdObj::new(Gfid::random(), oflags::RDWR | oflags::CREAT, false, false);
    let req = create_req(Gfid::ROOT, "f", fd2.flags, guard(fd2.gfid(), &stale));
    assert_eq!(b.create(&CTX, &req, &fd2).await.unwrap().stat.gfid, g);
}
