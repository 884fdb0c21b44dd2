//! The memory brick against what a 10.3 brick answers (the live replies
//! in ../shared/fixtures/wire and posix's source).

mod faults;
mod files;
mod locks;
mod xattrs;

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
        utime_ns: 0,
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
    // As the live brick pages 1024 bytes: 4 entries.
    let r = b
        .readdirp(&CTX, &fd, 0, 1024, GfxDict::new())
        .await
        .unwrap();
    assert_eq!((r.entries.0.len(), r.op_errno), (4, 0));
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
