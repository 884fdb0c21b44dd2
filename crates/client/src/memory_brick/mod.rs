//! An in-memory brick: a leaf translator that answers like a GlusterFS
//! 10.3 brick (storage/posix under features/locks, reached through
//! protocol/client), so that translator rules (distribute now; replicate,
//! shard and disperse later) are tested in milliseconds, with faults
//! injected at will.
//!
//! What it emulates, from the v10.3 sources and the live replies in
//! ../shared/fixtures/wire:
//! - inodes keyed by gfid (root = `Gfid::ROOT`), new ones taking the
//!   `gfid-req` of their entry fop (EINVAL without it); iatts filled as
//!   posix fills them (ino from the gfid, type bits in the mode, nlink
//!   without the gfid handle, directories 4096 bytes, 4 KiB blocks, times
//!   with nsec, pre/post parent attributes);
//! - rename(2), link(2), unlink(2), rmdir(2) rules; files unlinked while
//!   open stay readable and writable through their fds (gfid fops on them
//!   fail ESTALE, nameless lookups ENOENT);
//! - sparse file data (holes at 4 KiB granularity for SEEK_DATA/HOLE and
//!   `blocks`), O_APPEND, truncate, fallocate/discard/zerofill,
//!   copy_file_range, symlinks, device nodes;
//! - xattrs with posix's value encodings and flags, the xattrs an entry
//!   fop's xdata sets, the ones LOOKUP/READDIRP xdata asks for
//!   (`glusterfs.open-fd-count` and the lock counts included), the
//!   virtual `glusterfs.ancestry.path`, XATTROP's array additions;
//! - DHT's brick-side hooks: the parent-layout guard, `force-replace`,
//!   `unlink-only-if-dht-linkto-file`, `dont-unlink-for-open-fd`,
//!   internal MKNOD of a known gfid making a hard link, `get-link-count`;
//! - features/locks: inodelk, entrylk, posix locks (see `locks`);
//! - protocol/client's fd handling: an fd is opened on first use where it
//!   never was, and reopened after a reconnect (the brick dropped every
//!   fd and lock of the connection); read-only reads of a never-opened
//!   lazy fd use the anonymous fd.
//!
//! Not emulated: permission checks (ACCESS alone looks at the mode),
//! quotas, ACL inheritance, `trusted.glusterfs.mdata` times (times are the
//! brick's clock), pathinfo/node-uuid xattrs, leases, upcalls, the
//! `.glusterfs` directory, two directories sharing one gfid (the second
//! MKDIR is refused with EEXIST where posix would let it through).
//!
//! Faults (see [`Fault`]): any wire fop can fail always or on its n-th
//! call, with or without taking effect; replies can be delayed; the brick
//! can be disconnected (every call ENOTCONN, fds and locks dropped) and
//! reconnected. Every call that reaches the brick is counted per fop.
//!
//! Use: build the translator over bricks as the registry would over
//! protocol/client leaves, then drive it through [`Xlator`] and look at
//! the bricks (distribute/rules_tests has many examples):
//!
//! ```text
//! let bricks: Vec<_> = (0..3).map(|i| MemoryBrick::new(&format!("v-client-{i}"))).collect();
//! let children = bricks.iter().map(|b| b.clone() as Arc<dyn Xlator>).collect();
//! let dht = Distribute::new("v-dht".into(), children, DhtOptions::parse(&spec)?);
//! bricks[1].fail_nth(Fop::Mkdir, 1, errno::EIO);     // its next MKDIR fails
//! dht.mkdir(&ctx, &req).await?;
//! assert!(bricks[0].xattr("/d", "trusted.glusterfs.dht").is_some());
//! ```
//!
//! [`Xlator`]: crate::xlator::Xlator

mod calls;
mod data;
mod entry;
mod faults;
mod io;
mod locks;
mod state;
#[cfg(test)]
mod tests;
mod xattr;
mod xl;

pub use faults::Fault;

use crate::xlator::{new_id, XlId};
use faults::Faults;
use parking_lot::Mutex;
use proto::dict::{DictValue, GfxDict};
use proto::fops::Fop;
use proto::iatt::{Iatt, Statfs};
use proto::Gfid;
use state::{Kind, State};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A brick in memory, usable wherever a protocol/client leaf is.
pub struct MemoryBrick {
    id: XlId,
    shared: Arc<Shared>,
}

/// What the brick's fds need to reach after the brick itself is gone.
pub(crate) struct Shared {
    name: String,
    state: Mutex<State>,
    faults: Mutex<Faults>,
    /// Woken whenever a lock may have become free.
    wake: Notify,
}

/// Default capacity a computed STATFS reports.
const CAPACITY: u64 = 1 << 40;
const FILES: u64 = 1 << 24;

impl MemoryBrick {
    /// An empty brick (just the root directory) named like the volfile's
    /// client section it stands for ("vol-client-0").
    pub fn new(name: &str) -> Arc<MemoryBrick> {
        // A device number per brick, like separate file systems.
        let dev = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        }) & 0xffff;
        Arc::new(MemoryBrick {
            id: new_id(),
            shared: Arc::new(Shared {
                name: name.to_string(),
                state: Mutex::new(State::new(dev)),
                faults: Mutex::new(Faults::default()),
                wake: Notify::new(),
            }),
        })
    }

    // ---- faults ----

    /// Adds a fault to calls of `fop` (several may be active).
    pub fn inject(&self, fop: Fop, fault: Fault) {
        self.shared.faults.lock().inject(fop, fault);
    }

    /// Every call of `fop` fails with `errno` from now on.
    pub fn fail(&self, fop: Fop, errno: i32) {
        self.inject(fop, Fault::always(errno));
    }

    /// The `n`-th call of `fop` from now on (1 = the next) fails.
    pub fn fail_nth(&self, fop: Fop, n: u64, errno: i32) {
        self.inject(fop, Fault::nth(n, errno));
    }

    /// Replies to `fop` come `d` late (zero: on time again).
    pub fn delay(&self, fop: Fop, d: Duration) {
        self.shared.faults.lock().delay(fop, d);
    }

    /// Removes every fault and delay (not the disconnection).
    pub fn clear_faults(&self) {
        self.shared.faults.lock().clear();
    }

    /// The connection drops: calls fail with ENOTCONN until `reconnect`;
    /// the brick releases every fd and lock the connection held, so fds
    /// are reopened on their next use after the reconnect.
    pub fn disconnect(&self) {
        let mut st = self.shared.state.lock();
        if st.connected {
            st.connected = false;
            st.drop_connection();
        }
        drop(st);
        self.shared.wake.notify_waiters();
    }

    pub fn reconnect(&self) {
        self.shared.state.lock().connected = true;
    }

    pub fn is_connected(&self) -> bool {
        self.shared.state.lock().connected
    }

    /// Calls of `fop` that reached the brick (while connected), failed
    /// ones and implicit OPENs/RELEASEs included.
    pub fn calls(&self, fop: Fop) -> u64 {
        self.shared.faults.lock().calls(fop)
    }

    pub fn total_calls(&self) -> u64 {
        self.shared.faults.lock().total()
    }

    pub fn reset_calls(&self) {
        self.shared.faults.lock().reset_calls();
    }

    // ---- space ----

    /// STATFS answers `s` from now on.
    pub fn set_statfs(&self, s: Statfs) {
        self.shared.state.lock().statfs = Some(s);
    }

    /// STATFS reports `total` bytes of which `free` are free (4 KiB
    /// blocks), whatever is stored.
    pub fn set_space(&self, total: u64, free: u64) {
        let mut s = self.statfs_now();
        s.blocks = total / s.frsize;
        s.bfree = free.min(total) / s.frsize;
        s.bavail = s.bfree;
        self.set_statfs(s);
    }

    /// STATFS computed from what is stored again.
    pub fn clear_statfs(&self) {
        self.shared.state.lock().statfs = None;
    }

    pub(crate) fn statfs_now(&self) -> Statfs {
        self.shared.statfs()
    }

    // ---- looking inside (tests) ----

    /// The inode at `path` ("/a/b"), if any.
    pub fn resolve(&self, path: &str) -> Option<Gfid> {
        let st = self.shared.state.lock();
        let mut g = Gfid::ROOT;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            g = st.child(g, part.as_bytes()).ok()??;
        }
        Some(g)
    }

    pub fn stat_path(&self, path: &str) -> Option<Iatt> {
        let g = self.resolve(path)?;
        Some(self.shared.state.lock().iatt(g))
    }

    /// The stored bytes of xattr `key` on `path`.
    pub fn xattr(&self, path: &str, key: &str) -> Option<Vec<u8>> {
        let g = self.resolve(path)?;
        let st = self.shared.state.lock();
        st.inodes.get(&g)?.xattrs.get(key.as_bytes()).cloned()
    }

    /// Sets (`Some`) or removes (`None`) an xattr directly, as a tool on
    /// the brick would; false if `path` does not exist.
    pub fn put_xattr(&self, path: &str, key: &str, value: Option<&[u8]>) -> bool {
        let Some(g) = self.resolve(path) else {
            return false;
        };
        let mut st = self.shared.state.lock();
        let Some(i) = st.inodes.get_mut(&g) else {
            return false;
        };
        match value {
            Some(v) => i.xattrs.insert(key.as_bytes().to_vec(), v.to_vec()),
            None => i.xattrs.remove(key.as_bytes()),
        };
        true
    }

    /// The names in directory `path` (without "." and ".."), sorted.
    pub fn names(&self, path: &str) -> Vec<String> {
        let Some(g) = self.resolve(path) else {
            return Vec::new();
        };
        let st = self.shared.state.lock();
        st.inodes
            .get(&g)
            .and_then(|i| i.dir())
            .map(|d| {
                d.entries
                    .keys()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A regular file's whole contents.
    pub fn contents(&self, path: &str) -> Option<Vec<u8>> {
        let g = self.resolve(path)?;
        let st = self.shared.state.lock();
        let c = st.inodes.get(&g)?.content()?;
        Some(c.read(0, c.size))
    }

    /// Brick fds open on `gfid` (0 when it does not exist).
    pub fn open_count(&self, gfid: Gfid) -> u32 {
        self.shared
            .state
            .lock()
            .inodes
            .get(&gfid)
            .map_or(0, |i| i.open)
    }

    /// Whether the brick still keeps inode `gfid` (named, or open).
    pub fn has_inode(&self, gfid: Gfid) -> bool {
        self.shared.state.lock().inodes.contains_key(&gfid)
    }

    /// Whether `path` is a DHT linkto file (mode and xattr).
    pub fn is_linkto(&self, path: &str) -> bool {
        self.resolve(path)
            .is_some_and(|g| self.shared.state.lock().is_linkto(g))
    }

    /// Whether `path` is a symlink (for tests of the entry kinds).
    pub fn is_symlink(&self, path: &str) -> bool {
        let Some(g) = self.resolve(path) else {
            return false;
        };
        let st = self.shared.state.lock();
        st.inodes
            .get(&g)
            .is_some_and(|i| matches!(i.kind, Kind::Symlink(_)))
    }
}

impl Shared {
    fn statfs(&self) -> Statfs {
        statfs_of(&self.state.lock())
    }
}

/// The fixed STATFS answer, or one computed from what is stored.
fn statfs_of(st: &State) -> Statfs {
    if let Some(s) = st.statfs {
        return s;
    }
    let (bytes, inodes) = st.usage();
    let blocks = CAPACITY / 4096;
    let bfree = blocks.saturating_sub(bytes.div_ceil(4096));
    let ffree = FILES.saturating_sub(inodes);
    Statfs {
        bsize: 4096,
        frsize: 4096,
        blocks,
        bfree,
        bavail: bfree,
        files: FILES,
        ffree,
        favail: ffree,
        fsid: st.dev,
        flag: 0,
        namemax: 255,
    }
}

/// An xdata asking for `keys` (what LOOKUP and READDIRP callers send).
pub fn want(keys: &[&str]) -> GfxDict {
    let mut d = GfxDict::new();
    for k in keys {
        d.set(k, DictValue::Uint(0));
    }
    d
}
