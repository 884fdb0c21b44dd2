//! distribute's rules on memory bricks (distribute.md section numbers):
//! placement, directories, listings here; linkto files in `linkto`;
//! faults in `faults`.

mod faults;
mod linkto;
mod model;

use super::{DhtOptions, Distribute, LAYOUT_XATTR, LINKTO_XATTR, MDS_XATTR};
use crate::dht_hash::name_hash;
use crate::dht_layout::{new_directory_layout, Layout, Range};
use crate::graph::XlSpec;
use crate::memory_brick::MemoryBrick;
use crate::xlator::{Ctx, FdObj, FdRef, Target, Xlator};
use bytes::Bytes;
use proto::dict::{DictValue, GfxDict};
use proto::errno;
use proto::fops::*;
use proto::Gfid;
use std::sync::Arc;

fn ctx() -> Ctx {
    Ctx {
        pid: 42,
        uid: 0,
        gid: 0,
        groups: Vec::new(),
        lk_owner: vec![9; 8],
        utime_flags: 0,
        utime_ns: 0,
    }
}

/// A distribute volume over `n` memory bricks ("v-client-0", ...).
struct Vol {
    top: Arc<dyn Xlator>,
    dht: Arc<Distribute>,
    bricks: Vec<Arc<MemoryBrick>>,
    ctx: Ctx,
}

fn volume(n: usize, options: &[(&str, &str)]) -> Vol {
    let bricks: Vec<Arc<MemoryBrick>> = (0..n)
        .map(|i| MemoryBrick::new(&format!("v-client-{i}")))
        .collect();
    Vol::over(bricks, options)
}

impl Vol {
    /// A fresh distribute (no cached layouts) over `bricks`.
    fn over(bricks: Vec<Arc<MemoryBrick>>, options: &[(&str, &str)]) -> Vol {
        let spec = XlSpec {
            name: "v-dht".into(),
            xl_type: "cluster/distribute".into(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            children: bricks
                .iter()
                .map(|b| XlSpec {
                    name: b.name().to_string(),
                    xl_type: "protocol/client".into(),
                    options: Vec::new(),
                    children: Vec::new(),
                })
                .collect(),
        };
        let children: Vec<Arc<dyn Xlator>> = bricks
            .iter()
            .map(|b| b.clone() as Arc<dyn Xlator>)
            .collect();
        let dht = Distribute::new("v-dht".into(), children, DhtOptions::parse(&spec).unwrap());
        Vol {
            top: dht.clone(),
            dht,
            bricks,
            ctx: ctx(),
        }
    }

    /// Another client on the same bricks.
    fn again(&self) -> Vol {
        Vol::over(self.bricks.clone(), &[])
    }

    fn names(&self) -> Vec<&str> {
        self.bricks.iter().map(|b| b.name()).collect()
    }

    /// The layout of directory `path` as the bricks store it.
    fn layout(&self, path: &str) -> Layout {
        Layout {
            ranges: self
                .bricks
                .iter()
                .map(|b| b.xattr(path, LAYOUT_XATTR).and_then(|v| Range::decode(&v)))
                .collect(),
        }
    }

    /// The brick `name` in directory `dir` hashes to, by the stored layout.
    fn hashed(&self, dir: &str, name: &str) -> usize {
        self.layout(dir).search(name_hash(name.as_bytes())).unwrap()
    }

    /// The first "{prefix}{i}" hashing to brick `want` in `dir`.
    fn name_on(&self, dir: &str, want: usize, prefix: &str) -> String {
        (0..10_000)
            .map(|i| format!("{prefix}{i}"))
            .find(|n| self.hashed(dir, n) == want)
            .unwrap()
    }

    /// Which bricks have `path`, and as a linkto file or not.
    fn where_is(&self, path: &str) -> Vec<(usize, bool)> {
        self.bricks
            .iter()
            .enumerate()
            .filter(|(_, b)| b.resolve(path).is_some())
            .map(|(i, b)| (i, b.is_linkto(path)))
            .collect()
    }

    fn reset_calls(&self) {
        for b in &self.bricks {
            b.reset_calls();
        }
    }

    async fn lookup(&self, parent: Gfid, name: &str) -> crate::Result<proto::iatt::Iatt> {
        let req = LookupReq {
            gfid: Gfid::ZERO,
            pargfid: parent,
            flags: 0,
            bname: name.into(),
            xdata: GfxDict::new(),
        };
        Ok(self.top.lookup(&self.ctx, &req).await?.prestat)
    }

    async fn mkdir(&self, parent: Gfid, name: &str) -> crate::Result<Gfid> {
        let g = Gfid::random();
        let req = MkdirReq {
            pargfid: parent,
            mode: 0o755,
            umask: 0o022,
            bname: name.into(),
            xdata: GfxDict::new().with("gfid-req", DictValue::Gfid(g)),
        };
        let r = self.top.mkdir(&self.ctx, &req).await?;
        assert_eq!(r.stat.gfid, g);
        Ok(g)
    }

    async fn create(&self, parent: Gfid, name: &str) -> crate::Result<(Gfid, FdRef)> {
        let g = Gfid::random();
        let flags = oflags::RDWR | oflags::CREAT | oflags::EXCL;
        let fd = FdObj::new(g, flags, false, false);
        let req = CreateReq {
            pargfid: parent,
            flags,
            mode: 0o644,
            umask: 0o022,
            bname: name.into(),
            xdata: GfxDict::new().with("gfid-req", DictValue::Gfid(g)),
        };
        self.top.create(&self.ctx, &req, &fd).await?;
        Ok((g, fd))
    }

    async fn unlink(&self, parent: Gfid, name: &str) -> crate::Result<TwoIattRsp> {
        let req = UnlinkReq {
            pargfid: parent,
            bname: name.into(),
            xflags: 0,
            xdata: GfxDict::new(),
        };
        self.top.unlink(&self.ctx, &req).await
    }

    async fn rename(&self, op: Gfid, on: &str, np: Gfid, nn: &str) -> crate::Result<RenameRsp> {
        let req = RenameReq {
            oldgfid: op,
            newgfid: np,
            oldbname: on.into(),
            newbname: nn.into(),
            xdata: GfxDict::new(),
        };
        self.top.rename(&self.ctx, &req).await
    }

    /// Every entry of `dir` through distribute, batch by batch of
    /// `size`, with the offsets returned.
    async fn list(&self, dir: Gfid, size: u32) -> Vec<(String, u64)> {
        let fd = FdObj::new(dir, 0, true, false);
        self.top.open(&self.ctx, &fd, GfxDict::new()).await.unwrap();
        let mut out = Vec::new();
        let mut off = 0;
        for _ in 0..10_000 {
            let r = self
                .top
                .readdirp(&self.ctx, &fd, off, size, GfxDict::new())
                .await
                .unwrap();
            if r.entries.0.is_empty() {
                return out;
            }
            for e in r.entries.0 {
                out.push((String::from_utf8(e.name).unwrap(), e.d_off));
                off = e.d_off;
            }
        }
        panic!("listing never ended");
    }

    /// Lets the background STATFS refresh distribute started run.
    async fn settle(&self) {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }
}

fn e<T: std::fmt::Debug>(r: crate::Result<T>) -> i32 {
    r.expect_err("should fail").errno()
}

/// A linkto file as DHT makes it (§3.2), directly on a brick.
async fn make_linkto(b: &MemoryBrick, parent: Gfid, name: &str, gfid: Gfid, to: &str) {
    let req = MknodReq {
        pargfid: parent,
        dev: 0,
        mode: proto::iatt::S_IFREG | 0o1000,
        umask: 0,
        bname: name.into(),
        xdata: GfxDict::new()
            .with("gfid-req", DictValue::Gfid(gfid))
            .with(LINKTO_XATTR, DictValue::Str(to.as_bytes().to_vec())),
    };
    b.mknod(&ctx(), &req).await.unwrap();
}

/// A data file directly on a brick.
async fn make_file(b: &MemoryBrick, parent: Gfid, name: &str, gfid: Gfid) {
    let req = MknodReq {
        pargfid: parent,
        dev: 0,
        mode: proto::iatt::S_IFREG | 0o644,
        umask: 0,
        bname: name.into(),
        xdata: GfxDict::new().with("gfid-req", DictValue::Gfid(gfid)),
    };
    b.mknod(&ctx(), &req).await.unwrap();
}

#[tokio::test]
async fn root_layout_comes_from_the_first_lookup_heal() {
    for n in [2, 3, 4] {
        let v = volume(n, &[]);
        assert!(v.layout("/").ranges.iter().all(Option::is_none));
        v.top
            .stat(&v.ctx, &Target::Inode(Gfid::ROOT), GfxDict::new())
            .await
            .unwrap();
        // §2.6: a heal writes the new-directory layout with commit 1.
        assert_eq!(
            v.layout("/"),
            new_directory_layout("/", &v.names(), 1),
            "{n}"
        );
    }
}

#[tokio::test]
async fn mkdir_everywhere_with_mds_and_the_official_layout() {
    for n in [2, 3, 4] {
        let v = volume(n, &[]);
        let d = v.mkdir(Gfid::ROOT, "d1").await.unwrap();
        let mds = v.hashed("/", "d1");
        for (i, b) in v.bricks.iter().enumerate() {
            assert_eq!(b.resolve("/d1"), Some(d), "on every brick, one gfid");
            let marker = b.xattr("/d1", MDS_XATTR);
            assert_eq!(
                marker.is_some(),
                i == mds,
                "MDS marker on the hashed brick only"
            );
        }
        // §2.4, commit = the volume's (0: never rebalanced).
        assert_eq!(v.layout("/d1"), new_directory_layout("/d1", &v.names(), 0));
        assert_eq!(e(v.mkdir(Gfid::ROOT, "d1").await), errno::EEXIST);
        // A second client sees the same directory and layout.
        let w = v.again();
        assert_eq!(w.lookup(Gfid::ROOT, "d1").await.unwrap().gfid, d);
        assert_eq!(v.layout("/d1"), new_directory_layout("/d1", &v.names(), 0));
    }
}

#[tokio::test]
async fn files_land_on_their_hashed_brick() {
    for n in [2, 3, 4] {
        let v = volume(n, &[]);
        let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
        let names: Vec<String> = (0..40)
            .map(|i| format!("file{i}"))
            .chain([".foo.txt.AbCd12".to_string(), "über.txt".into()])
            .collect();
        for name in &names {
            let (g, _) = v.create(d, name).await.unwrap();
            let path = format!("/d/{name}");
            let h = v.dht.hashed(&v.ctx, d, name.as_bytes()).await.unwrap();
            assert_eq!(h, v.hashed("/d", name), "distribute's own answer");
            assert_eq!(v.where_is(&path), [(h, false)], "{name}");
            let w = v.again();
            assert_eq!(w.lookup(d, name).await.unwrap().gfid, g);
        }
        // The rsync munging: ".foo.txt.AbCd12" hashes as "foo.txt".
        assert_eq!(v.hashed("/d", ".foo.txt.AbCd12"), v.hashed("/d", "foo.txt"));
    }
}

#[tokio::test]
async fn readdirp_lists_each_entry_once_and_resumes() {
    let v = volume(3, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let mut expect = vec![".".to_string(), "..".to_string()];
    for i in 0..30 {
        v.create(d, &format!("f{i}")).await.unwrap();
        expect.push(format!("f{i}"));
    }
    for i in 0..4 {
        v.mkdir(d, &format!("sub{i}")).await.unwrap();
        expect.push(format!("sub{i}"));
    }
    // A linkto (its data lives elsewhere) must not show.
    let target = v.name_on("/d", 0, "moved");
    let (g, _) = v.create(d, &target).await.unwrap();
    v.rename(d, &target, d, &v.name_on("/d", 1, "renamed"))
        .await
        .unwrap();
    expect.push(v.name_on("/d", 1, "renamed"));
    assert!(v
        .where_is(&format!("/d/{}", v.name_on("/d", 1, "renamed")))
        .contains(&(1, true)));
    let _ = g;
    expect.sort();
    for size in [600, 4096, 128 * 1024] {
        let all = v.list(d, size).await;
        let mut names: Vec<String> = all.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        assert_eq!(names, expect, "size {size}");
        // Resuming from any offset gives exactly what followed it.
        for cut in [1, all.len() / 2, all.len() - 1] {
            let fd = FdObj::new(d, 0, true, false);
            v.top.open(&v.ctx, &fd, GfxDict::new()).await.unwrap();
            let mut rest = Vec::new();
            let mut off = all[cut - 1].1;
            loop {
                let r = v
                    .top
                    .readdirp(&v.ctx, &fd, off, size, GfxDict::new())
                    .await
                    .unwrap();
                if r.entries.0.is_empty() {
                    break;
                }
                for e in r.entries.0 {
                    off = e.d_off;
                    rest.push(String::from_utf8(e.name).unwrap());
                }
            }
            let want: Vec<String> = all[cut..].iter().map(|(n, _)| n.clone()).collect();
            assert_eq!(rest, want, "resume after {cut} (size {size})");
        }
    }
}

#[tokio::test]
async fn rmdir_refuses_real_entries_and_clears_stale_linkto_files() {
    let v = volume(3, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let (_, fd) = v.create(d, "keep").await.unwrap();
    drop(fd);
    let rmdir = |name: &str| RmdirReq {
        pargfid: Gfid::ROOT,
        xflags: 0,
        bname: name.into(),
        xdata: GfxDict::new(),
    };
    assert_eq!(e(v.top.rmdir(&v.ctx, &rmdir("d")).await), errno::ENOTEMPTY);
    assert_eq!(v.where_is("/d").len(), 3, "nothing removed");
    v.unlink(d, "keep").await.unwrap();
    // Only stale linkto files left: invisible, and rmdir removes them.
    make_linkto(&v.bricks[0], d, "ghost", Gfid::random(), "v-client-2").await;
    make_linkto(&v.bricks[1], d, "self", Gfid::random(), "v-client-1").await;
    assert!(v
        .list(d, 4096)
        .await
        .iter()
        .all(|(n, _)| n == "." || n == ".."));
    v.top.rmdir(&v.ctx, &rmdir("d")).await.unwrap();
    assert!(v.where_is("/d").is_empty());
    // A linkto whose data exists is an entry: ENOTEMPTY.
    let d = v.mkdir(Gfid::ROOT, "e").await.unwrap();
    let g = Gfid::random();
    make_file(&v.bricks[2], d, "real", g).await;
    make_linkto(&v.bricks[0], d, "real", g, "v-client-2").await;
    assert_eq!(e(v.top.rmdir(&v.ctx, &rmdir("e")).await), errno::ENOTEMPTY);
    assert!(v.bricks[0].is_linkto("/e/real"));
}

#[tokio::test]
async fn directory_xattrs_go_through_the_mds_counter() {
    let v = volume(3, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let mds = v.hashed("/", "d");
    let on = Target::Inode(d);
    let set = |value: &'static [u8]| {
        let dict = GfxDict::new().with("user.k", DictValue::Ptr(value.to_vec()));
        v.top.setxattr(&v.ctx, &on, dict, 0, GfxDict::new())
    };
    set(b"1").await.unwrap();
    for b in &v.bricks {
        assert_eq!(b.xattr("/d", "user.k").unwrap(), b"1");
    }
    assert_eq!(v.bricks[mds].xattr("/d", MDS_XATTR).unwrap(), [0; 4]);
    assert_eq!(v.bricks[mds].calls(Fop::Xattrop), 2, "-1 then +1");
    // A non-MDS brick refusing it leaves the counter at -1 for heals.
    let other = (mds + 1) % 3;
    v.bricks[other].fail_nth(Fop::Setxattr, 1, errno::EIO);
    set(b"2").await.unwrap();
    assert_eq!(
        v.bricks[mds].xattr("/d", MDS_XATTR).unwrap(),
        (-1i32).to_be_bytes()
    );
    assert_eq!(v.bricks[other].xattr("/d", "user.k").unwrap(), b"1");
    // Files' data: read back what was written through the fd of create.
    let (_, fd) = v.create(d, "f").await.unwrap();
    v.top
        .write(&v.ctx, &fd, 0, Bytes::from_static(b"data"), GfxDict::new())
        .await
        .unwrap();
    let (r, data) = v
        .top
        .read(&v.ctx, &fd, 0, 10, GfxDict::new())
        .await
        .unwrap();
    assert_eq!((r.op_ret, &data[..]), (4, &b"data"[..]));
}

#[tokio::test]
async fn a_stale_cached_layout_is_caught_by_the_parent_guard() {
    let v = volume(2, &[]);
    let d = v.mkdir(Gfid::ROOT, "d").await.unwrap();
    let old = v.layout("/d");
    let file = v.name_on("/d", 0, "f");
    let dir = v.name_on("/d", 0, "sub");
    // Another client's fix-layout swaps the two ranges.
    for (i, b) in v.bricks.iter().enumerate() {
        let r = old.ranges[1 - i].unwrap();
        assert!(b.put_xattr("/d", LAYOUT_XATTR, Some(&r.encode())));
    }
    assert_eq!(v.hashed("/d", &file), 1);
    // Our cached layout still says brick 0: the brick refuses (EIO), we
    // re-read the layout and place by the new one.
    v.create(d, &file).await.unwrap();
    assert_eq!(v.where_is(&format!("/d/{file}")), [(1, false)]);
    v.mkdir(d, &dir).await.unwrap();
    let mds: Vec<bool> = v
        .bricks
        .iter()
        .map(|b| b.xattr(&format!("/d/{dir}"), MDS_XATTR).is_some())
        .collect();
    assert_eq!(mds, [false, true]);
    assert_eq!(v.bricks[0].calls(Fop::Create), 1, "one refused CREATE");
}

#[tokio::test]
async fn mkdir_gives_a_filled_brick_no_range() {
    // §7.3: "mkdir on a filled subvol still succeeds, but that subvol
    // gets no hash range in the new directory (unless every subvol is
    // filled)".
    let v = volume(3, &[]);
    v.bricks[2].set_space(1 << 40, 1 << 20);
    v.lookup(Gfid::ROOT, "warm-up").await.ok();
    v.settle().await;
    v.mkdir(Gfid::ROOT, "d").await.unwrap();
    assert_eq!(v.where_is("/d").len(), 3);
    let l = v.layout("/d");
    assert!(l.is_complete());
    assert!(!l.ranges[2].is_some_and(|r| r.participates()), "{l:?}");
}
