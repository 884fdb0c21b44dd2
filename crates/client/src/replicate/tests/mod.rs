//! cluster/replicate over memory bricks (replicate.md section numbers):
//! the changelog each brick is left with after clean writes here, after
//! faults in `faults`, without quorum and with an arbiter in `quorum`,
//! and where reads go in `reads`.

mod faults;
mod quorum;
mod reads;

use super::changelog::Changelog;
use super::read_child::read_child;
use super::{Replicate, ReplicateOptions};
use crate::graph::XlSpec;
use crate::memory_brick::MemoryBrick;
use crate::xlator::{Ctx, FdObj, FdRef, Xlator};
use bytes::Bytes;
use proto::dict::{DictValue, GfxDict};
use proto::errno;
use proto::fops::*;
use proto::Gfid;
use std::sync::Arc;

/// The post-op at the end of each write (no delayed post-op).
const NOW: (&str, &str) = ("post-op-delay-secs", "0");
/// One whole transaction per write (lock, pre-op, write, fsync, post-op).
const NO_EAGER: (&str, &str) = ("eager-lock", "off");
const ARBITER: (&str, &str) = ("arbiter-count", "1");

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

/// The options of "v-replicate-0" over v-client-0..2, as glusterd writes
/// them for a 10.x replica 3 volume, plus `extra`.
fn options(extra: &[(&str, &str)]) -> ReplicateOptions {
    let mut opts = vec![
        ("afr-pending-xattr", "v-client-0,v-client-1,v-client-2"),
        ("granular-entry-heal", "on"),
    ];
    opts.extend_from_slice(extra);
    let spec = XlSpec {
        name: "v-replicate-0".into(),
        xl_type: "cluster/replicate".into(),
        options: opts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        children: (0..3)
            .map(|i| XlSpec {
                name: format!("v-client-{i}"),
                xl_type: "protocol/client".into(),
                options: Vec::new(),
                children: Vec::new(),
            })
            .collect(),
    };
    ReplicateOptions::parse(&spec).unwrap()
}

/// The pending key accusing brick `j`.
fn key(j: usize) -> String {
    format!("trusted.afr.v-client-{j}")
}

fn e<T>(r: crate::Result<T>) -> i32 {
    match r {
        Ok(_) => panic!("should fail"),
        Err(e) => e.errno(),
    }
}

/// A replica 3 set over memory bricks.
struct Set {
    afr: Arc<Replicate>,
    b: Vec<Arc<MemoryBrick>>,
    ctx: Ctx,
}

impl Set {
    fn new(extra: &[(&str, &str)]) -> Set {
        let b = (0..3)
            .map(|i| MemoryBrick::new(&format!("v-client-{i}")))
            .collect();
        Set::over(b, extra)
    }

    fn over(b: Vec<Arc<MemoryBrick>>, extra: &[(&str, &str)]) -> Set {
        let children = b.iter().map(|b| b.clone() as Arc<dyn Xlator>).collect();
        Set {
            afr: Replicate::with_options("v-replicate-0", children, options(extra)),
            b,
            ctx: ctx(),
        }
    }

    /// Another client of the same bricks (nothing cached).
    fn client(&self, extra: &[(&str, &str)]) -> Set {
        Set::over(self.b.clone(), extra)
    }

    async fn create_as(&self, g: Gfid, name: &str) -> crate::Result<FdRef> {
        let flags = oflags::RDWR | oflags::CREAT | oflags::EXCL;
        let fd = FdObj::new(g, flags, false, false);
        let req = CreateReq {
            pargfid: Gfid::ROOT,
            flags,
            mode: 0o644,
            umask: 0o022,
            bname: name.into(),
            xdata: GfxDict::new().with("gfid-req", DictValue::Gfid(g)),
        };
        let r = self.afr.create(&self.ctx, &req, &fd).await?;
        assert_eq!(r.stat.gfid, g);
        Ok(fd)
    }

    async fn create(&self, name: &str) -> crate::Result<FdRef> {
        self.create_as(Gfid::random(), name).await
    }

    async fn mkdir(&self, name: &str) -> crate::Result<Gfid> {
        let g = Gfid::random();
        let req = MkdirReq {
            pargfid: Gfid::ROOT,
            mode: 0o755,
            umask: 0o022,
            bname: name.into(),
            xdata: GfxDict::new().with("gfid-req", DictValue::Gfid(g)),
        };
        self.afr.mkdir(&self.ctx, &req).await.map(|r| r.stat.gfid)
    }

    async fn open(&self, g: Gfid) -> crate::Result<FdRef> {
        let fd = FdObj::new(g, oflags::RDWR, false, false);
        self.afr.open(&self.ctx, &fd, GfxDict::new()).await?;
        Ok(fd)
    }

    async fn write(&self, fd: &FdRef, off: u64, data: &[u8]) -> crate::Result<TwoIattRsp> {
        let data = Bytes::copy_from_slice(data);
        self.afr
            .write(&self.ctx, fd, off, data, GfxDict::new())
            .await
    }

    async fn read(&self, fd: &FdRef, off: u64, size: u32) -> crate::Result<Bytes> {
        let r = self.afr.read(&self.ctx, fd, off, size, GfxDict::new());
        Ok(r.await?.1)
    }

    async fn flush(&self, fd: &FdRef) {
        self.afr.flush(&self.ctx, fd, GfxDict::new()).await.unwrap();
    }

    /// Changelog `key` of `path` on brick `i` (zeros when absent: only
    /// values count, §1.4).
    fn cl(&self, i: usize, path: &str, key: &str) -> Changelog {
        let v = self.b[i].xattr(path, key);
        v.map(|v| Changelog::decode(&v).expect("12 bytes"))
            .unwrap_or_default()
    }

    fn dirty(&self, i: usize, path: &str) -> [i32; 3] {
        self.cl(i, path, "trusted.afr.dirty").0
    }

    /// What brick `i` holds against brick `j` for `path`.
    fn pending(&self, i: usize, path: &str, j: usize) -> [i32; 3] {
        self.cl(i, path, &key(j)).0
    }

    /// Makes brick `i` accuse brick `j` for `path`, as a failed write
    /// would have.
    fn accuse(&self, i: usize, path: &str, j: usize, c: [i32; 3]) {
        assert!(self.b[i].put_xattr(path, &key(j), Some(&Changelog(c).encode())));
    }

    /// Dirty zero and nobody accused on brick `i`.
    fn assert_clean(&self, i: usize, path: &str) {
        assert_eq!(self.dirty(i, path), [0; 3], "dirty of {path} on brick {i}");
        for j in 0..3 {
            assert_eq!(
                self.pending(i, path, j),
                [0; 3],
                "{path}: brick {i} accuses {j}"
            );
        }
    }

    fn calls(&self, fop: Fop) -> Vec<u64> {
        self.b.iter().map(|b| b.calls(fop)).collect()
    }

    fn reset_calls(&self) {
        self.b.iter().for_each(|b| b.reset_calls());
    }
}

/// A gfid whose read-hash-mode 1 choice, all bricks readable, is brick
/// `i` (§4.2): a read avoiding `i` then shows that `i` was ruled out.
fn gfid_read_by(i: usize) -> Gfid {
    loop {
        let g = Gfid::random();
        if read_child(g, &[true; 3], None, 1) == Some(i) {
            return g;
        }
    }
}

#[tokio::test]
async fn clean_create_write_flush_leaves_every_copy_alike_and_clean() {
    let s = Set::new(&[]);
    let fd = s.create("f").await.unwrap();
    // §3.4: every brick locked, so the create has no pre-op or post-op.
    assert_eq!(s.calls(Fop::Xattrop), [0; 3]);
    assert_eq!(s.write(&fd, 0, b"hello").await.unwrap().op_ret, 5);
    assert_eq!(s.write(&fd, 5, b" world").await.unwrap().op_ret, 6);
    s.flush(&fd).await;
    for i in 0..3 {
        assert_eq!(s.b[i].contents("/f").unwrap(), b"hello world");
        s.assert_clean(i, "/f");
        s.assert_clean(i, "/");
    }
    assert_eq!(s.read(&fd, 0, 64).await.unwrap(), &b"hello world"[..]);
}

#[tokio::test]
async fn a_down_brick_is_accused_by_the_others_with_new_entry_marks() {
    let s = Set::new(&[NOW]);
    s.b[2].disconnect();
    let fd = s.create("f").await.unwrap();
    s.write(&fd, 0, b"data").await.unwrap();
    let d = s.mkdir("d").await.unwrap();
    assert!(s.b[0].resolve("/d") == Some(d) && s.b[2].resolve("/f").is_none());
    for i in 0..2 {
        // §1.7: the new file marked 1,1,0 for brick 2, then the write's
        // post-op +1 data (§3.6).
        assert_eq!(s.pending(i, "/f", 2), [2, 1, 0], "brick {i}");
        // A new directory: metadata + entry, and data with granular
        // entry heal (the full-crawl hint).
        assert_eq!(s.pending(i, "/d", 2), [1, 1, 1], "brick {i}");
        // The parent: one entry change per name it missed.
        assert_eq!(s.pending(i, "/", 2), [0, 0, 2], "brick {i}");
        for p in ["/f", "/d", "/"] {
            assert_eq!(s.dirty(i, p), [0; 3], "{p} on brick {i}");
            assert_eq!(s.pending(i, p, 1 - i), [0; 3]);
            assert_eq!(s.pending(i, p, i), [0; 3]);
        }
        assert_eq!(s.b[i].contents("/f").unwrap(), b"data");
    }
    // §3.4: with a brick unlocked, entry txns do a pre-op and a post-op
    // on the parent.
    assert_eq!(s.calls(Fop::Xattrop)[..2], [2 + 1 + 2 + 1; 2]);
}

/// Lets the unlocks sent behind a reply reach the bricks.
async fn behind_the_reply() {
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
}

#[tokio::test]
async fn eager_lock_one_lock_one_pre_op_one_post_op_for_a_run_of_writes() {
    let s = Set::new(&[]); // post-op-delay-secs 1, the default
    let fd = s.create("f").await.unwrap();
    s.reset_calls();
    for (i, w) in [b"aaaa", b"bbbb", b"cccc"].iter().enumerate() {
        s.write(&fd, 4 * i as u64, &w[..]).await.unwrap();
    }
    // §3.8: the run still holds its lock and dirty mark.
    assert_eq!(s.calls(Fop::Finodelk), [1; 3]);
    assert_eq!(s.calls(Fop::Fxattrop), [1; 3]);
    for i in 0..3 {
        assert_eq!(s.dirty(i, "/f"), [1, 0, 0]);
    }
    // Flush ends it at once: post-op, then unlock (behind the FLUSH).
    s.flush(&fd).await;
    behind_the_reply().await;
    assert_eq!(s.calls(Fop::Finodelk), [2; 3], "one lock + its unlock");
    assert_eq!(s.calls(Fop::Inodelk), [0; 3]);
    assert_eq!(s.calls(Fop::Fxattrop), [2; 3], "one pre-op + one post-op");
    assert_eq!(s.calls(Fop::Write), [3; 3]);
    assert_eq!(s.calls(Fop::Flush), [1; 3]);
    for i in 0..3 {
        s.assert_clean(i, "/f");
        assert_eq!(s.b[i].contents("/f").unwrap(), b"aaaabbbbcccc");
    }
    // Another client can now lock the file: the run's lock was let go.
    let t = s.client(&[NOW]);
    let fd2 = t.open(s.b[0].resolve("/f").unwrap()).await.unwrap();
    t.write(&fd2, 0, b"A").await.unwrap();
    t.flush(&fd2).await;
    for i in 0..3 {
        s.assert_clean(i, "/f");
    }
}

#[tokio::test]
async fn without_eager_lock_each_write_is_a_whole_transaction() {
    let s = Set::new(&[NO_EAGER]);
    let fd = s.create("f").await.unwrap();
    s.reset_calls();
    for i in 0..3u64 {
        s.write(&fd, 4 * i, b"xxxx").await.unwrap();
    }
    behind_the_reply().await;
    assert_eq!(s.calls(Fop::Finodelk), [6; 3]);
    assert_eq!(s.calls(Fop::Fxattrop), [6; 3]);
    // §3.8 ensure-durability: the data is stable before dirty goes.
    assert_eq!(s.calls(Fop::Fsync), [3; 3]);
    for i in 0..3 {
        s.assert_clean(i, "/f");
    }
}

#[tokio::test]
async fn a_run_ended_by_its_write_is_fsynced_before_dirty_goes() {
    // §3.8 ensure-durability: no delay, so the write ends its run and
    // FSYNCs every brick before the post-op.
    let s = Set::new(&[NOW]);
    let fd = s.create("f").await.unwrap();
    s.reset_calls();
    s.write(&fd, 0, b"x").await.unwrap();
    assert_eq!(s.calls(Fop::Fsync), [1; 3]);
    assert_eq!(s.calls(Fop::Fxattrop), [2; 3]);
    // Writes through an O_DSYNC fd are stable already.
    let sync = FdObj::new(fd.gfid(), oflags::RDWR | oflags::SYNC, false, false);
    s.afr.open(&s.ctx, &sync, GfxDict::new()).await.unwrap();
    s.write(&sync, 0, b"y").await.unwrap();
    assert_eq!(s.calls(Fop::Fsync), [1; 3]);
    // A run ended by flush (or the timer) skips the fsync.
    let s = Set::new(&[]);
    let fd = s.create("f").await.unwrap();
    s.write(&fd, 0, b"x").await.unwrap();
    s.flush(&fd).await;
    assert_eq!(s.calls(Fop::Fsync), [0; 3]);
    for i in 0..3 {
        s.assert_clean(i, "/f");
    }
}
