//! cluster/distribute (DHT): which brick holds a name, as the official
//! client decides it, so that both clients can share a volume.
//!
//! Facts: ../shared/translators/distribute.md (section numbers below refer
//! to it). The pieces:
//! - `lookup`: hashed subvolume first, linkto files followed, lookup
//!   everywhere when the parent's layout cannot promise placement,
//!   directories merged over all subvolumes and their layouts healed;
//! - `entry`: create/mknod/symlink/link/unlink/mkdir/rmdir/rename with the
//!   official client's linkto and lock rules;
//! - `readdir`: listing over all subvolumes with resumable offsets;
//! - `locks`: the DHT lock domains;
//! - `migration`: the rebalance's markers on files being moved.
//!
//! With one subvolume everything passes straight through (the official
//! client does the same), except that new directories still get a layout.

mod dirs;
mod entry;
mod fd_ops;
mod locks;
mod lookup;
pub mod migration;
pub mod readdir;
mod rename;
#[cfg(test)]
mod rules_tests;
mod space;
mod xl;

use crate::dht_hash::name_hash;
use crate::dht_layout::{Layout, Range};
use crate::error::{Error, Result};
use crate::graph::XlSpec;
use crate::xlator::{XlId, XlRequest, Xlator};
use futures::future::BoxFuture;
use lru::LruCache;
use parking_lot::Mutex;
use proto::dict::{DictValue, GfxDict};
use proto::errno;
use proto::iatt::{Iatt, Statfs};
use proto::rpc_msg::Identity;
use proto::Gfid;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};

pub use migration::Phase;
pub use rename::NOREPLACE_KEY;
pub use space::FreeLimit;

/// Name of the layout xattr (option `xattr-name`, default).
pub const LAYOUT_XATTR: &str = "trusted.glusterfs.dht";
pub const LINKTO_XATTR: &str = "trusted.glusterfs.dht.linkto";
pub const MDS_XATTR: &str = "trusted.glusterfs.dht.mds";
pub const COMMITHASH_XATTR: &str = "trusted.glusterfs.dht.commithash";
const INTERNAL_FOP: &str = "glusterfs-internal-fop";

/// Inodes whose placement we remember. Beyond this the least recently
/// used are forgotten and found again by a lookup.
const INODE_CACHE: usize = 256 * 1024;

/// The distribute options that change placement (§7.4).
#[derive(Debug, Clone, PartialEq)]
pub struct DhtOptions {
    pub lookup_optimize: bool,
    /// `rsync-hash-regex none`: names are hashed as they are.
    pub no_munge: bool,
    pub min_free_disk: FreeLimit,
    /// Percent of inodes.
    pub min_free_inodes: u64,
    pub weighted_rebalance: bool,
    pub randomize_by_gfid: bool,
    pub readdir_optimize: bool,
    /// Subvolumes being removed: no new files or ranges there.
    pub decommissioned: Vec<String>,
}

impl DhtOptions {
    /// Reads the options; those we do not implement refuse the volume,
    /// because hashing differently from the official clients misplaces
    /// files.
    pub fn parse(spec: &XlSpec) -> Result<DhtOptions> {
        let opt = |k: &str| spec.option(k);
        let refuse = |what: String| Error::Unsupported {
            name: spec.name.clone(),
            xl_type: "cluster/distribute".into(),
            detail: format!(" with {what}"),
        };
        let flag = |k: &str, default: bool| {
            opt(k).map_or(default, |v| {
                matches!(
                    v.to_ascii_lowercase().as_str(),
                    "on" | "yes" | "true" | "enable" | "1"
                )
            })
        };
        let no_munge = match opt("rsync-hash-regex") {
            None => false,
            Some("none") => true,
            Some(r) => return Err(refuse(format!("a custom rsync-hash-regex '{r}'"))),
        };
        if let Some(r) = opt("extra-hash-regex") {
            return Err(refuse(format!("extra-hash-regex '{r}'")));
        }
        if let Some(x) = opt("xattr-name").filter(|x| *x != LAYOUT_XATTR) {
            return Err(refuse(format!("xattr-name '{x}'")));
        }
        if let Some(n) = opt("directory-layout-spread") {
            if n.parse::<usize>().ok() != Some(spec.children.len()) {
                return Err(refuse(format!("directory-layout-spread {n}")));
            }
        }
        let min_free_disk = match opt("min-free-disk") {
            None => FreeLimit::Percent(10),
            Some(v) => FreeLimit::parse(v)
                .ok_or_else(|| Error::Invalid(format!("{}: bad min-free-disk '{v}'", spec.name)))?,
        };
        let min_free_inodes = match opt("min-free-inodes") {
            None => 5,
            Some(v) => match FreeLimit::parse(v) {
                Some(FreeLimit::Percent(p)) => p,
                _ => {
                    return Err(Error::Invalid(format!(
                        "{}: bad min-free-inodes '{v}'",
                        spec.name
                    )))
                }
            },
        };
        Ok(DhtOptions {
            lookup_optimize: flag("lookup-optimize", true),
            no_munge,
            min_free_disk,
            min_free_inodes,
            weighted_rebalance: flag("weighted-rebalance", true),
            randomize_by_gfid: flag("randomize-hash-range-by-gfid", false),
            readdir_optimize: flag("readdir-optimize", false),
            decommissioned: opt("decommissioned-bricks")
                .map(|v| v.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
        })
    }
}

/// What we know of an inode: where a file's data is, or a directory's
/// layout.
#[derive(Clone)]
pub(crate) enum InodeCtx {
    File(usize),
    Dir(Arc<DirCtx>),
}

pub(crate) struct DirCtx {
    pub layout: Layout,
    /// The subvolume carrying the directory's MDS marker.
    pub mds: Option<usize>,
}

impl DirCtx {
    pub(crate) fn new(layout: Layout, mds: Option<usize>) -> DirCtx {
        DirCtx { layout, mds }
    }
}

pub struct Distribute {
    pub name: String,
    id: XlId,
    /// In volfile order (readdir order, d_off leaf index).
    pub subvols: Vec<Arc<dyn Xlator>>,
    pub opts: DhtOptions,
    /// What DHT knows of each inode (a file's subvolume, a directory's
    /// layout and MDS), as upstream keeps it in inode contexts.
    inodes: Mutex<LruCache<Gfid, InodeCtx>>,
    /// (parent, name) → inode of the files we looked up or made, so that
    /// an unlink goes straight to the data's subvolume, as the official
    /// client's does with the inode the kernel looked up just before.
    /// This is routing, not a cache of answers (so it stays here, not in
    /// crates/fuse): upstream's unlink carries the inode in its loc; ours
    /// carries only the name, and a wrong hint costs a lookup, never a
    /// wrong result.
    names: Mutex<LruCache<(Gfid, Vec<u8>), Gfid>>,
    /// The volume's commit hash, from `/`'s commithash xattr (§2.7).
    commit_hash: AtomicU32,
    space: space::SpaceCache,
    /// Ourselves, for background refreshes.
    me: Weak<Distribute>,
}

impl Distribute {
    pub fn new(name: String, subvols: Vec<Arc<dyn Xlator>>, opts: DhtOptions) -> Arc<Distribute> {
        let n = subvols.len();
        Arc::new_cyclic(|me| Distribute {
            me: me.clone(),
            id: crate::xlator::new_id(),
            name,
            subvols,
            opts,
            // Unbounded, bounded by hand: `LruCache::new` would allocate
            // the whole capacity up front (megabytes of RSS for nothing).
            inodes: Mutex::new(LruCache::unbounded()),
            names: Mutex::new(LruCache::unbounded()),
            commit_hash: AtomicU32::new(0),
            space: space::SpaceCache::new(n),
        })
    }

    fn me(&self) -> Option<Arc<Distribute>> {
        self.me.upgrade()
    }

    fn single(&self) -> bool {
        self.subvols.len() == 1
    }

    fn subvol_name(&self, i: usize) -> &str {
        self.subvols[i].name()
    }

    pub(crate) fn index_of(&self, name: &[u8]) -> Option<usize> {
        let name = name.strip_suffix(&[0]).unwrap_or(name);
        self.subvols
            .iter()
            .position(|b| b.name().as_bytes() == name)
    }

    fn is_decommissioned(&self, i: usize) -> bool {
        self.opts
            .decommissioned
            .iter()
            .any(|d| d == self.subvol_name(i))
    }

    fn hash(&self, name: &[u8]) -> u32 {
        if self.opts.no_munge {
            crate::dht_hash::dm_hash(name)
        } else {
            name_hash(name)
        }
    }

    pub fn commit_hash(&self) -> u32 {
        self.commit_hash.load(Ordering::Relaxed)
    }

    // ---- the inode context cache ----

    pub(crate) fn remember_file(&self, gfid: Gfid, subvol: usize) {
        if !self.single() {
            bounded_put(&mut self.inodes.lock(), gfid, InodeCtx::File(subvol));
        }
    }

    pub(crate) fn remember_dir(&self, gfid: Gfid, dir: DirCtx) -> Arc<DirCtx> {
        let d = Arc::new(dir);
        bounded_put(&mut self.inodes.lock(), gfid, InodeCtx::Dir(d.clone()));
        d
    }

    pub(crate) fn remember_entry(&self, parent: Gfid, name: &[u8], st: &Iatt) {
        if !self.single() && !st.is_dir() {
            bounded_put(&mut self.names.lock(), (parent, name.to_vec()), st.gfid);
        }
    }

    /// The file `name` in `parent` was last seen as, if we saw it.
    pub(crate) fn take_entry(&self, parent: Gfid, name: &[u8]) -> Option<Gfid> {
        self.names.lock().pop(&(parent, name.to_vec()))
    }

    /// The subvolume of a file we know (not a directory, not unknown).
    pub(crate) fn known_file(&self, gfid: Gfid) -> Option<usize> {
        match self.known(gfid) {
            Some(InodeCtx::File(i)) => Some(i),
            _ => None,
        }
    }

    /// A directory's attributes, merged from every subvolume. (Caching
    /// them is crates/fuse's business: entry operations hand up the
    /// parent's attributes for that.)
    pub async fn dir_stat(&self, ctx: &Identity, gfid: Gfid) -> Result<Iatt> {
        self.lookup_gfid(ctx, gfid).await
    }

    /// Drops what we know of `gfid` (it moved, or was removed).
    pub fn forget(&self, gfid: Gfid) {
        self.inodes.lock().pop(&gfid);
    }

    fn known(&self, gfid: Gfid) -> Option<InodeCtx> {
        self.inodes.lock().get(&gfid).cloned()
    }

    // ---- sending ----

    async fn call<Q: XlRequest>(&self, i: usize, ctx: &Identity, req: &Q) -> Result<Q::Reply> {
        req.send(&*self.subvols[i], ctx).await
    }

    /// The same request to every subvolume at once; results in volfile
    /// order.
    async fn call_all<Q: XlRequest>(&self, ctx: &Identity, req: &Q) -> Vec<Result<Q::Reply>> {
        futures::future::join_all((0..self.subvols.len()).map(|i| self.call(i, ctx, req))).await
    }

    /// The subvolume holding inode `gfid`'s data (for a directory: its MDS
    /// subvolume, or the first one).
    pub async fn cached(&self, ctx: &Identity, gfid: Gfid) -> Result<usize> {
        if self.single() {
            return Ok(0);
        }
        if let Some(c) = self.known(gfid) {
            return Ok(match c {
                InodeCtx::File(i) => i,
                InodeCtx::Dir(d) => d.mds.unwrap_or(0),
            });
        }
        self.lookup_gfid(ctx, gfid).await?;
        match self.known(gfid) {
            Some(InodeCtx::File(i)) => Ok(i),
            Some(InodeCtx::Dir(d)) => Ok(d.mds.unwrap_or(0)),
            None => Err(Error::errno_msg(
                errno::ESTALE,
                format!("{gfid}: not found on any subvolume"),
            )),
        }
    }

    /// Whether `gfid` is a directory (looked up if not known).
    pub async fn is_dir(&self, ctx: &Identity, gfid: Gfid) -> Result<bool> {
        match self.known(gfid) {
            Some(InodeCtx::Dir(_)) => Ok(true),
            Some(InodeCtx::File(_)) => Ok(false),
            None => Ok(self.lookup_gfid(ctx, gfid).await?.is_dir()),
        }
    }

    /// Runs `op` on the subvolume holding inode `gfid`. A file that is
    /// no longer where we saw it (ENOENT/ESTALE: migrated by a rebalance)
    /// is looked up again and `op` runs once more at its new place.
    pub(crate) async fn to_inode<'a, T>(
        &'a self,
        ctx: &'a Identity,
        gfid: Gfid,
        op: impl Fn(Arc<dyn Xlator>) -> BoxFuture<'a, Result<T>> + Send + Sync + 'a,
    ) -> Result<T> {
        let i = self.cached(ctx, gfid).await?;
        match op(self.subvols[i].clone()).await {
            Err(e) if !self.single() && is_gone(&e) => {
                self.forget(gfid);
                let j = self.cached(ctx, gfid).await?;
                if j == i {
                    return Err(e);
                }
                op(self.subvols[j].clone()).await
            }
            r => r,
        }
    }

    /// A directory fop that must reach every subvolume holding the
    /// directory (setattr, xattrs). Succeeds if one did; ENOENT from some
    /// subvolumes (not created there yet) is not an error.
    pub async fn to_all<Q: XlRequest>(&self, ctx: &Identity, req: &Q) -> Result<Vec<Q::Reply>> {
        let mut ok = Vec::new();
        let mut first_err = None;
        for r in self.call_all(ctx, req).await {
            match r {
                Ok(rsp) => ok.push(rsp),
                Err(e) if e.is_enoent() => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None if ok.is_empty() => Err(Error::errno_msg(
                errno::ENOENT,
                "directory not found on any subvolume",
            )),
            None => Ok(ok),
        }
    }

    /// A directory xattr change (SETXATTR/REMOVEXATTR of `key`) on every
    /// subvolume. For the keys other clients heal from the MDS subvolume
    /// the official protocol applies (§7.2): mark the MDS counter -1, change
    /// the MDS copy, then the others, then +1 if all of them took it, so
    /// that a partial update is repaired from the MDS copy, not undone.
    pub async fn dir_xattr_fop<Q: XlRequest>(
        &self,
        ctx: &Identity,
        gfid: Gfid,
        key: &str,
        req: &Q,
    ) -> Result<Q::Reply> {
        const HEALED: [&str; 6] = [
            "system.posix_acl_access",
            "system.posix_acl_default",
            "trusted.glusterfs.quota.limit-set",
            "trusted.glusterfs.quota.limit-objects",
            "security.selinux",
            "trusted.glusterfs.mdata",
        ];
        let healed = key.starts_with("user.") || HEALED.contains(&key);
        let mds = if healed && !gfid.is_root() && !self.single() {
            self.dir(ctx, gfid).await?.mds
        } else {
            None
        };
        let Some(m) = mds else {
            let mut all = self.to_all(ctx, req).await?;
            return all
                .pop()
                .ok_or_else(|| Error::errno_msg(errno::EIO, "no reply"));
        };
        let counter = |delta: i32| proto::fops::XattropReq {
            gfid,
            flags: 0, // GF_XATTROP_ADD_ARRAY
            dict: GfxDict::new().with(MDS_XATTR, DictValue::Ptr(delta.to_be_bytes().to_vec())),
            xdata: internal_xdata(),
        };
        let root = as_root(ctx);
        self.call(m, &root, &counter(-1)).await?;
        let first = match self.call(m, ctx, req).await {
            Ok(r) => r,
            Err(e) => {
                self.call(m, &root, &counter(1)).await?;
                return Err(e);
            }
        };
        let others = (0..self.subvols.len())
            .filter(|&i| i != m)
            .map(|i| async move { self.call(i, ctx, req).await });
        let all_ok = futures::future::join_all(others)
            .await
            .iter()
            .all(|r| match r {
                Ok(_) => true,
                Err(e) => e.is_enoent(),
            });
        if all_ok {
            self.call(m, &root, &counter(1)).await?;
        } else {
            tracing::warn!(
                "{key} on {gfid}: not every subvolume took it; lookups heal it from the MDS copy"
            );
        }
        Ok(first)
    }

    /// STATFS summed over the subvolumes (§7.1).
    pub async fn statfs(&self, ctx: &Identity, req: &proto::fops::StatfsReq) -> Result<Statfs> {
        if self.single() {
            return Ok(self.call(0, ctx, req).await?.statfs);
        }
        let mut root = req.clone();
        root.gfid = Gfid::ROOT;
        let mut sum: Option<Statfs> = None;
        let mut last_err = None;
        for r in self.call_all(ctx, &root).await {
            match r {
                Ok(rsp) => sum = Some(space::add_statfs(sum, rsp.statfs)),
                Err(e) => last_err = Some(e),
            }
        }
        match (sum, last_err) {
            (Some(s), _) => Ok(s),
            (None, Some(e)) => Err(e),
            (None, None) => Err(Error::errno_msg(errno::ENOTCONN, "no subvolume")),
        }
    }

    /// The hashed subvolume of `name` in `parent` (§2.2); EIO on a hole.
    pub async fn hashed(&self, ctx: &Identity, parent: Gfid, name: &[u8]) -> Result<usize> {
        if self.single() {
            return Ok(0);
        }
        let dir = self.dir(ctx, parent).await?;
        self.search(&dir.layout, name).ok_or_else(|| {
            Error::errno_msg(
                errno::EIO,
                format!(
                    "no subvolume for '{}': the parent's layout has a hole",
                    String::from_utf8_lossy(name)
                ),
            )
        })
    }

    fn search(&self, layout: &Layout, name: &[u8]) -> Option<usize> {
        layout.search(self.hash(name))
    }
}

/// Inserts, dropping the least recently used entry beyond INODE_CACHE.
fn bounded_put<K: std::hash::Hash + Eq, V>(c: &mut LruCache<K, V>, k: K, v: V) {
    c.put(k, v);
    while c.len() > INODE_CACHE {
        c.pop_lru();
    }
}

/// ENOENT or ESTALE: the inode is not (any more) where we looked.
fn is_gone(e: &Error) -> bool {
    matches!(e.errno(), errno::ENOENT | errno::ESTALE)
}

fn internal_xdata() -> GfxDict {
    GfxDict::new().with(INTERNAL_FOP, DictValue::Str(b"yes".to_vec()))
}

/// The caller's pid, but root: DHT's own fops (layouts, linkto files,
/// locks) must not fail on the caller's permissions.
pub(crate) fn as_root(ctx: &Identity) -> Identity {
    Identity {
        uid: 0,
        gid: 0,
        groups: Vec::new(),
        ..ctx.clone()
    }
}

/// DHT's own xattrs (layouts, linkto, MDS, commit hash): hidden from
/// users, as the official client hides them.
pub fn is_dht_xattr(name: &[u8]) -> bool {
    name.starts_with(LAYOUT_XATTR.as_bytes())
}

/// Whether a reply's entry is a linkto file (§3.1): permission bits
/// exactly the sticky bit, and the linkto xattr present.
pub fn is_linkto(st: &Iatt, xdata: &GfxDict) -> bool {
    st.is_reg() && st.mode & 0o7777 == 0o1000 && xdata.get(LINKTO_XATTR).is_some()
}

/// The subvolume name a linkto points to (without its NUL).
fn linkto_target(xdata: &GfxDict) -> Option<Vec<u8>> {
    let v = xdata.get(LINKTO_XATTR)?.as_bytes()?;
    let v = v.split(|&c| c == 0).next().unwrap_or_default();
    Some(v.to_vec())
}

/// Merges the attributes of one directory from several subvolumes
/// (§4.4): size 4096, blocks 8, owner and times the maximum.
pub(crate) fn merge_dir_iatt(acc: Option<Iatt>, st: &Iatt) -> Iatt {
    let mut out = *st;
    out.size = 4096;
    out.blocks = 8;
    if let Some(a) = acc {
        out.uid = out.uid.max(a.uid);
        out.gid = out.gid.max(a.gid);
        (out.atime, out.atime_nsec) = (out.atime, out.atime_nsec).max((a.atime, a.atime_nsec));
        (out.mtime, out.mtime_nsec) = (out.mtime, out.mtime_nsec).max((a.mtime, a.mtime_nsec));
        (out.ctime, out.ctime_nsec) = (out.ctime, out.ctime_nsec).max((a.ctime, a.ctime_nsec));
    }
    out
}

/// A layout range as it goes into a SETXATTR.
fn layout_dict(r: &Range) -> GfxDict {
    GfxDict::new().with(LAYOUT_XATTR, DictValue::Ptr(r.encode().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linkto_needs_exact_sticky_mode_and_the_xattr() {
        let mut st = Iatt {
            mode: proto::iatt::S_IFREG | 0o1000,
            ..Iatt::default()
        };
        let x = GfxDict::new().with(LINKTO_XATTR, DictValue::Ptr(b"v-client-1\0".to_vec()));
        assert!(is_linkto(&st, &x));
        assert_eq!(linkto_target(&x).unwrap(), b"v-client-1");
        assert!(!is_linkto(&st, &GfxDict::new()));
        st.mode |= 0o644;
        assert!(!is_linkto(&st, &x));
    }

    #[test]
    fn directory_attributes_merge_as_upstream() {
        let a = Iatt {
            mode: proto::iatt::S_IFDIR | 0o755,
            uid: 5,
            mtime: 10,
            mtime_nsec: 7,
            size: 80,
            ..Iatt::default()
        };
        let b = Iatt {
            uid: 3,
            gid: 9,
            mtime: 10,
            mtime_nsec: 3,
            ..a
        };
        let m = merge_dir_iatt(Some(merge_dir_iatt(None, &a)), &b);
        assert_eq!((m.size, m.blocks, m.uid, m.gid), (4096, 8, 5, 9));
        assert_eq!((m.mtime, m.mtime_nsec), (10, 7));
    }
}
