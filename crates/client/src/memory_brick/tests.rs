//! The memory brick against what a 10.3 brick answers (the live replies
//! in ../shared/fixtures/wire and posix's source).

use super::*;
use crate::xlator::{Ctx, FdObj, FdRef, Target, Xlator};
use proto::errno;
use proto::fops::*;
use proto::iatt::{lock, Flock, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG};

static CTX: std::sync::LazyLock<Ctx> = std::sync::LazyLock::new(ctx);

pub(crate) fn ctx() -> Ctx {
    Ctx {
        pid: 7,
        uid: 0,
        gid: 0,
        groups: Vec::new(),
        lk_owner: vec![1; 8],
        utime_flags: 0,
    }
}

fn owner(o: u8) -> Ctx {
    Ctx {
        lk_owner: vec![o; 8],
        ..ctx()
    }
}

fn gfid_req(g: Gfid) -> GfxDict {
    GfxDict::new().with("gfid-req", DictValue::Gfid(g))
}

fn e(r: crate::Result<impl std::fmt::Debug>) -> i32 {
    r.expect_err("should fail").errno()
}

async fn mkdir(b: &MemoryBrick, parent: Gfid, name: &str) -> crate::Result<Gfid> {
    let g = Gfid::random();
    let req = MkdirReq {
        pargfid: parent,
        mode: 0o755,
        umask: 0o022,
        bname: name.into(),
        xdata: gfid_req(g),
    };
    b.mkdir(&CTX, &req).await.map(|r| r.stat.gfid)
}

fn create_req(parent: Gfid, name: &str, flags: u32, xdata: GfxDict) -> CreateReq {
    CreateReq {
        pargfid: parent,
        flags,
        mode: 0o644,
        umask: 0o022,
        bname: name.into(),
        xdata,
    }
}

async fn create(b: &MemoryBrick, parent: Gfid, name: &str) -> (Gfid, FdRef) {
    let g = Gfid::random();
    let flags = oflags::RDWR | oflags::CREAT | oflags::EXCL;
    let fd = FdObj::new(g, flags, false, false);
    let r = b
        .create(&CTX, &create_req(parent, name, flags, gfid_req(g)), &fd)
        .await
        .unwrap();
    assert_eq!(r.stat.gfid, g);
    (g, fd)
}

fn named(parent: Gfid, name: &str, xdata: GfxDict) -> LookupReq {
    LookupReq {
        gfid: Gfid::ZERO,
        pargfid: parent,
        flags: 0,
        bname: name.into(),
        xdata,
    }
}

fn nameless(g: Gfid) -> LookupReq {
    LookupReq {
        gfid: g,
        pargfid: Gfid::ZERO,
        flags: 0,
        bname: Vec::new(),
        xdata: GfxDict::new(),
    }
}

fn unlink_req(parent: Gfid, name: &str, xdata: GfxDict) -> UnlinkReq {
    UnlinkReq {
        pargfid: parent,
        bname: name.into(),
        xflags: 0,
        xdata,
    }
}

fn rename_req(op: Gfid, on: &str, np: Gfid, nn: &str) -> RenameReq {
    RenameReq {
        oldgfid: op,
        newgfid: np,
        oldbname: on.into(),
        newbname: nn.into(),
        xdata: GfxDict::new(),
    }
}

async fn write(b: &MemoryBrick, fd: &FdRef, off: u64, data: &[u8]) -> TwoIattRsp {
    b.write(&CTX, fd, off, Bytes::copy_from_slice(data), GfxDict::new())
        .await
        .unwrap()
}

async fn read(b: &MemoryBrick, fd: &FdRef, off: u64, size: u32) -> (ReadRsp, Bytes) {
    b.read(&CTX, fd, off, size, GfxDict::new()).await.unwrap()
}

use bytes::Bytes;

#[tokio::test]
async fn lookups_and_attributes_as_posix_fills_them() {
    let b = MemoryBrick::new("v-client-0");
    let root = b.lookup(&CTX, &nameless(Gfid::ROOT)).await.unwrap();
    assert_eq!((root.prestat.ino, root.prestat.mode), (1, S_IFDIR | 0o755));
    assert_eq!(
        (root.prestat.nlink, root.prestat.size, root.prestat.blocks),
        (2, 4096, 8)
    );
    assert_eq!(root.prestat.flags, 0x17ff);

    let d = mkdir(&b, Gfid::ROOT, "d").await.unwrap();
    let (f, _fd) = create(&b, d, "f").await;
    let r = b
        .lookup(&CTX, &named(d, "f", GfxDict::new()))
        .await
        .unwrap();
    assert_eq!(r.prestat.gfid, f);
    assert_eq!(r.prestat.ino, f.ino());
    assert_eq!(r.prestat.mode, S_IFREG | 0o644); // umask applied
    assert_eq!(
        (r.prestat.nlink, r.prestat.size, r.prestat.blocks),
        (1, 0, 0)
    );
    assert_eq!(r.poststat.gfid, d);
    let root = b.lookup(&CTX, &nameless(Gfid::ROOT)).await.unwrap();
    assert_eq!(root.prestat.nlink, 3);

    assert_eq!(
        e(b.lookup(&CTX, &named(d, "nope", GfxDict::new())).await),
        errno::ENOENT
    );
    assert_eq!(
        e(b.lookup(&CTX, &named(Gfid::random(), "f", GfxDict::new()))
            .await),
        errno::ESTALE
    );
    assert_eq!(
        e(b.lookup(&CTX, &nameless(Gfid::random())).await),
        errno::ENOENT
    );
    let stale = Target::Inode(Gfid::random());
    assert_eq!(e(b.stat(&CTX, &stale, GfxDict::new()).await), errno::ESTALE);
    // ".." of the root is outside the brick: no gfid.
    let up = named(Gfid::ROOT, "..", GfxDict::new());
    assert!(b.lookup(&CTX, &up).await.unwrap().prestat.gfid.is_zero());
}

#[tokio::test]
async fn entry_creation_rules() {
    let b = MemoryBrick::new("v-client-0");
    let d = mkdir(&b, Gfid::ROOT, "d").await.unwrap();
    assert_eq!(e(mkdir(&b, Gfid::ROOT, "d").await), errno::EEXIST);
    let no_gfid = MkdirReq {
        pargfid: Gfid::ROOT,
        mode: 0o755,
        umask: 0,
        bname: b"x".to_vec(),
        xdata: GfxDict::new(),
    };
    assert_eq!(e(b.mkdir(&CTX, &no_gfid).await), errno::EINVAL);
    assert_eq!(e(mkdir(&b, Gfid::ROOT, "a/b").await), errno::EPERM);

    let (f, _) = create(&b, d, "f").await;
    // O_EXCL on an existing name; without it the existing file opens.
    let excl = oflags::RDWR | oflags::CREAT | oflags::EXCL;
    let fd = FdObj::new(Gfid::random(), excl, false, false);
    let req = create_req(d, "f", excl, gfid_req(fd.gfid()));
    assert_eq!(e(b.create(&CTX, &req, &fd).await), errno::EEXIST);
    let fd = FdObj::new(Gfid::random(), oflags::RDWR | oflags::CREAT, false, false);
    let req = create_req(d, "f", fd.flags, gfid_req(fd.gfid()));
    assert_eq!(b.create(&CTX, &req, &fd).await.unwrap().stat.gfid, f);

    let sl = SymlinkReq {
        pargfid: d,
        bname: b"sl".to_vec(),
        umask: 0o022,
        linkname: b"f".to_vec(),
        xdata: gfid_req(Gfid::random()),
    };
    let s = b.symlink(&CTX, &sl).await.unwrap().stat;
    assert_eq!((s.mode, s.size), (S_IFLNK | 0o777, 1));
    let rl = ReadlinkReq {
        gfid: s.gfid,
        size: 4096,
        xdata: GfxDict::new(),
    };
    assert_eq!(b.readlink(&CTX, &rl).await.unwrap().path, b"f");
    assert!(b.is_symlink("/d/sl"));

    let mk = |name: &str, mode| MknodReq {
        pargfid: d,
        dev: (8 << 32) | 1,
        mode,
        umask: 0,
        bname: name.into(),
        xdata: gfid_req(Gfid::random()),
    };
    let c = b.mknod(&CTX, &mk("c", S_IFCHR | 0o600)).await.unwrap().stat;
    assert_eq!((c.mode, c.rdev), (S_IFCHR | 0o600, (8 << 32) | 1));
    assert_eq!(
        e(b.mknod(&CTX, &mk("dd", S_IFDIR | 0o755)).await),
        errno::EPERM
    );
    assert_eq!(e(b.mknod(&CTX, &mk("c", S_IFREG)).await), errno::EEXIST);
    // A uid/gid caller owns what it makes.
    let user = Ctx {
        uid: 1000,
        gid: 100,
        ..ctx()
    };
    let mut req = mk("u", S_IFREG | 0o640);
    req.dev = 0;
    let u = b.mknod(&user, &req).await.unwrap().stat;
    assert_eq!((u.uid, u.gid), (1000, 100));
}

#[tokio::test]
async fn rename_follows_rename_2() {
    let b = MemoryBrick::new("v-client-0");
    let r = Gfid::ROOT;
    let a = mkdir(&b, r, "a").await.unwrap();
    let sub = mkdir(&b, a, "sub").await.unwrap();
    let empty = mkdir(&b, r, "empty").await.unwrap();
    let (f1, _) = create(&b, r, "f1").await;
    let (f2, fd2) = create(&b, r, "f2").await;
    drop(fd2);
    let c = ctx();
    // File over file: the old one goes.
    let rsp = b.rename(&c, &rename_req(r, "f1", r, "f2")).await.unwrap();
    assert_eq!(rsp.stat.gfid, f1);
    assert_eq!(b.resolve("/f2"), Some(f1));
    assert!(!b.has_inode(f2));
    assert_eq!(
        e(b.rename(&c, &rename_req(r, "f1", r, "x")).await),
        errno::ENOENT
    );
    assert_eq!(
        e(b.rename(&c, &rename_req(r, "f2", r, "a")).await),
        errno::EISDIR
    );
    assert_eq!(
        e(b.rename(&c, &rename_req(r, "a", r, "f2")).await),
        errno::ENOTDIR
    );
    assert_eq!(
        e(b.rename(&c, &rename_req(r, "empty", r, "a")).await),
        errno::ENOTEMPTY
    );
    assert_eq!(
        e(b.rename(&c, &rename_req(r, "a", sub, "x")).await),
        errno::EINVAL
    );
    // Directory over an empty directory, and the link counts.
    b.rename(&c, &rename_req(r, "a", r, "empty")).await.unwrap();
    assert_eq!(b.resolve("/empty/sub"), Some(sub));
    assert!(!b.has_inode(empty));
    assert_eq!(b.stat_path("/").unwrap().nlink, 3);
    b.rename(&c, &rename_req(a, "sub", r, "top")).await.unwrap();
    assert_eq!(b.stat_path("/").unwrap().nlink, 4);
    assert_eq!(b.stat_path("/empty").unwrap().nlink, 2);
    // Two names of one inode: nothing happens.
    let link = LinkReq {
        oldgfid: f1,
        newgfid: r,
        newbname: b"h".to_vec(),
        xdata: GfxDict::new(),
    };
    b.link(&c, &link).await.unwrap();
    b.rename(&c, &rename_req(r, "f2", r, "h")).await.unwrap();
    assert_eq!(b.names("/"), ["empty", "f2", "h", "top"]);
}

#[tokio::test]
async fn hard_links_and_files_open_after_unlink() {
    let b = MemoryBrick::new("v-client-0");
    let r = Gfid::ROOT;
    let (f, fd) = create(&b, r, "f").await;
    write(&b, &fd, 0, b"hello").await;
    let link = LinkReq {
        oldgfid: f,
        newgfid: r,
        newbname: b"g".to_vec(),
        xdata: GfxDict::new(),
    };
    assert_eq!(b.link(&CTX, &link).await.unwrap().stat.nlink, 2);
    assert_eq!(e(b.link(&CTX, &link).await), errno::EEXIST);
    b.unlink(&CTX, &unlink_req(r, "f", GfxDict::new()))
        .await
        .unwrap();
    let want_count = GfxDict::new().with("get-link-count", DictValue::Uint(1));
    let u = b
        .unlink(&CTX, &unlink_req(r, "g", want_count))
        .await
        .unwrap();
    assert_eq!(u.xdata.get("get-link-count"), Some(&DictValue::Uint(1)));
    // Gone by name and gfid, alive through the fd.
    assert_eq!(e(b.lookup(&CTX, &nameless(f)).await), errno::ENOENT);
    let st = b.stat(&CTX, &Target::Inode(f), GfxDict::new()).await;
    assert_eq!(e(st), errno::ESTALE);
    write(&b, &fd, 5, b" world").await;
    assert_eq!(&read(&b, &fd, 0, 100).await.1[..], b"hello world");
    let fst = b.stat(&CTX, &Target::Fd(fd.clone()), GfxDict::new()).await;
    assert_eq!(fst.unwrap().stat.nlink, 0);
    assert!(b.has_inode(f));
    fd.release().await;
    assert!(!b.has_inode(f));
    assert_eq!(b.calls(Fop::Release), 1);
    assert_eq!(
        e(b.unlink(&CTX, &unlink_req(r, "g", GfxDict::new())).await),
        errno::ENOENT
    );
}

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

#[tokio::test]
async fn dht_hooks_on_unlink_mknod_and_link() {
    let b = MemoryBrick::new("v-client-0");
    let r = Gfid::ROOT;
    let (f, fd) = create(&b, r, "data").await;
    let linkto = |g: Gfid, extra: &str| {
        gfid_req(g)
            .with(
                "trusted.glusterfs.dht.linkto",
                DictValue::Str(b"v-client-1".to_vec()),
            )
            .with("glusterfs-internal-fop", DictValue::Str(b"yes".to_vec()))
            .with(extra, DictValue::Str(b"yes".to_vec()))
    };
    let mk = |name: &str, xdata| MknodReq {
        pargfid: r,
        dev: 0,
        mode: S_IFREG | 0o1000,
        umask: 0,
        bname: name.into(),
        xdata,
    };
    let only_linkto = GfxDict::new().with("unlink-only-if-dht-linkto-file", DictValue::Int(1));
    assert_eq!(
        e(b.unlink(&CTX, &unlink_req(r, "data", only_linkto.clone()))
            .await),
        EBUSY
    );
    let open_too = GfxDict::new().with("dont-unlink-for-open-fd", DictValue::Int(1));
    assert_eq!(
        e(b.unlink(&CTX, &unlink_req(r, "data", open_too.clone()))
            .await),
        EBUSY
    );
    drop(fd);
    // An internal MKNOD of a gfid the brick has is a hard link to it.
    b.mknod(&CTX, &mk("second", linkto(f, "x"))).await.unwrap();
    assert_eq!(b.resolve("/second"), Some(f));
    assert_eq!(b.stat_path("/data").unwrap().nlink, 2);
    // force-replace removes a linkto in the way, not data.
    let l = Gfid::random();
    b.mknod(&CTX, &mk("l", linkto(l, "x"))).await.unwrap();
    assert_eq!(
        e(b.mknod(&CTX, &mk("l", linkto(Gfid::random(), "x"))).await),
        errno::EEXIST
    );
    let g2 = Gfid::random();
    b.mknod(&CTX, &mk("l", linkto(g2, "force-replace")))
        .await
        .unwrap();
    assert_eq!(b.resolve("/l"), Some(g2));
    assert!(!b.has_inode(l));
    let link = |name: &str, xdata| LinkReq {
        oldgfid: g2,
        newgfid: r,
        newbname: name.into(),
        xdata,
    };
    let force = GfxDict::new().with("force-replace", DictValue::Str(b"yes".to_vec()));
    assert_eq!(
        e(b.link(&CTX, &link("data", force.clone())).await),
        errno::EEXIST
    );
    // A linkto goes with the linkto-only unlink.
    b.unlink(&CTX, &unlink_req(r, "l", only_linkto))
        .await
        .unwrap();
    assert!(!b.has_inode(g2));
}

/// Not in proto::errno.
const EBUSY: i32 = 16;

async fn opendir(b: &MemoryBrick, g: Gfid) -> FdRef {
    let fd = FdObj::new(g, 0, true, false);
    b.open(&CTX, &fd, GfxDict::new()).await.unwrap();
    fd
}

#[tokio::test]
async fn readdirp_lists_dots_entries_and_resumes() {
    let b = MemoryBrick::new("v-client-0");
    let d = mkdir(&b, Gfid::ROOT, "d").await.unwrap();
    for i in 0..10 {
        create(&b, d, &format!("f{i}")).await;
    }
    let x = gfid_req(Gfid::random()).with(
        "trusted.glusterfs.dht.linkto",
        DictValue::Str(b"v-client-1".to_vec()),
    );
    let mk = MknodReq {
        pargfid: d,
        dev: 0,
        mode: S_IFREG | 0o1000,
        umask: 0,
        bname: b"link".to_vec(),
        xdata: x,
    };
    b.mknod(&CTX, &mk).await.unwrap();
    let fd = opendir(&b, d).await;
    let ask = || want(&["trusted.glusterfs.dht.linkto"]);
    let mut names = Vec::new();
    let mut off = 0;
    let mut batches = 0;
    loop {
        let r = b.readdirp(&CTX, &fd, off, 1024, ask()).await.unwrap();
        batches += 1;
        let last = r.op_errno == errno::ENOENT;
        for en in &r.entries.0 {
            assert!(en.stat.is_valid());
            if en.name == b"link" {
                assert!(en.dict.get("trusted.glusterfs.dht.linkto").is_some());
            }
            if en.name == b"f3" && off > 0 {
                // Removing an entry already listed changes nothing.
                b.unlink(&CTX, &unlink_req(d, "f0", GfxDict::new()))
                    .await
                    .unwrap();
            }
            names.push(String::from_utf8(en.name.clone()).unwrap());
            off = en.d_off;
        }
        if last {
            break;
        }
    }
    assert!(batches > 2, "small sizes give several batches");
    let mut expect: Vec<String> = [".", ".."].iter().map(|s| s.to_string()).collect();
    expect.extend((0..10).map(|i| format!("f{i}")));
    expect.push("link".into());
    assert_eq!(names, expect);
    let end = b.readdirp(&CTX, &fd, off, 1024, ask()).await.unwrap();
    assert_eq!((end.entries.0.len(), end.op_errno), (0, errno::ENOENT));
    let plain = b
        .readdir(&CTX, &fd, 0, 64 * 1024, GfxDict::new())
        .await
        .unwrap();
    assert_eq!(plain.entries.0.len(), 12); // f0 is gone now
    assert_eq!(plain.op_errno, errno::ENOENT);
}

fn flock(kind: u32, start: u64, len: u64) -> Flock {
    Flock {
        kind,
        whence: 0,
        start,
        len,
        pid: 7,
        lk_owner: Vec::new(),
    }
}

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
