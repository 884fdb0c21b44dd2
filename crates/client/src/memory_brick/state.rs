//! The brick's inodes, keyed by gfid as posix keeps them (its gfid
//! handles), with the names in each directory, attributes, xattrs and
//! open counts; and the helpers every fop shares (resolution, iatts,
//! xattr values as posix stores them).

use super::data::Content;
use super::locks::Locks;
use crate::xlator::Ctx;
use proto::dict::DictValue;
use proto::errno;
use proto::iatt::{Iatt, Statfs, S_IFDIR, S_IFMT};
use proto::Gfid;
use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

/// Results inside the brick: errno on failure.
pub(super) type R<T> = std::result::Result<T, i32>;

const S_ISGID: u32 = 0o2000;
/// `ia_flags` of every iatt posix fills (type, mode, nlink, uid, gid,
/// times, ino, size, blocks, gfid: 0x17ff in the live replies).
const IATT_FLAGS: u64 = 0x17ff;
pub(super) const NAME_MAX: usize = 255;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Time {
    pub sec: i64,
    pub nsec: u32,
}

pub(super) fn now() -> Time {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Time {
        sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nsec: d.subsec_nanos(),
    }
}

pub(super) struct Dir {
    /// name → (inode, listing cookie).
    pub entries: BTreeMap<Vec<u8>, (Gfid, u64)>,
    /// Listing order: cookie → name. Cookies only grow, so an offset
    /// stays valid whatever is added or removed meanwhile.
    pub by_cookie: BTreeMap<u64, Vec<u8>>,
    next_cookie: u64,
    pub parent: Gfid,
    pub name: Vec<u8>,
    pub subdirs: u32,
    /// rmdir'ed while open.
    pub removed: bool,
}

/// Cookies of "." and ".."; entries start after them.
pub(super) const DOT: u64 = 1;
pub(super) const DOTDOT: u64 = 2;

impl Dir {
    pub fn new(parent: Gfid, name: &[u8]) -> Dir {
        Dir {
            entries: BTreeMap::new(),
            by_cookie: BTreeMap::new(),
            next_cookie: DOTDOT + 1,
            parent,
            name: name.to_vec(),
            subdirs: 0,
            removed: false,
        }
    }
}

pub(super) enum Kind {
    Dir(Dir),
    File(Content),
    Symlink(Vec<u8>),
    /// Devices, fifos, sockets.
    Special,
}

pub(super) struct Inode {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub atime: Time,
    pub mtime: Time,
    pub ctime: Time,
    /// Names of a non-directory (hard links).
    pub links: u32,
    pub kind: Kind,
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Brick fds open on it.
    pub open: u32,
}

impl Inode {
    pub fn new(mode: u32, uid: u32, gid: u32, kind: Kind) -> Inode {
        let t = now();
        Inode {
            mode,
            uid,
            gid,
            rdev: 0,
            atime: t,
            mtime: t,
            ctime: t,
            links: 0,
            kind,
            xattrs: BTreeMap::new(),
            open: 0,
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir(_))
    }

    pub fn dir(&self) -> Option<&Dir> {
        match &self.kind {
            Kind::Dir(d) => Some(d),
            _ => None,
        }
    }

    pub fn dir_mut(&mut self) -> Option<&mut Dir> {
        match &mut self.kind {
            Kind::Dir(d) => Some(d),
            _ => None,
        }
    }

    pub fn content(&self) -> Option<&Content> {
        match &self.kind {
            Kind::File(c) => Some(c),
            _ => None,
        }
    }

    pub fn content_mut(&mut self) -> Option<&mut Content> {
        match &mut self.kind {
            Kind::File(c) => Some(c),
            _ => None,
        }
    }

    /// Still has a name (or is a directory not removed).
    pub fn linked(&self) -> bool {
        match &self.kind {
            Kind::Dir(d) => !d.removed,
            _ => self.links > 0,
        }
    }

    pub fn changed(&mut self) {
        let t = now();
        self.mtime = t;
        self.ctime = t;
    }
}

/// A brick fd: what it is open on, and how.
pub(super) struct OpenFd {
    pub gfid: Gfid,
    pub flags: u32,
}

pub(super) struct State {
    pub inodes: HashMap<Gfid, Inode>,
    pub fds: HashMap<u64, OpenFd>,
    next_fd: u64,
    /// Bumped by every disconnect: fds of an older generation are gone.
    pub generation: u64,
    pub connected: bool,
    pub locks: Locks,
    /// A fixed STATFS answer (None: computed from what is stored).
    pub statfs: Option<Statfs>,
    pub dev: u64,
}

impl State {
    pub fn new(dev: u64) -> State {
        let mut inodes = HashMap::new();
        inodes.insert(
            Gfid::ROOT,
            Inode::new(S_IFDIR | 0o755, 0, 0, Kind::Dir(Dir::new(Gfid::ROOT, b""))),
        );
        State {
            inodes,
            fds: HashMap::new(),
            next_fd: 0,
            generation: 1,
            connected: true,
            locks: Locks::default(),
            statfs: None,
            dev,
        }
    }

    /// An inode that still has a name (what a gfid resolves to on the
    /// brick); ESTALE otherwise, as the server's resolver answers.
    pub fn live(&self, g: Gfid) -> R<&Inode> {
        self.inodes
            .get(&g)
            .filter(|i| i.linked())
            .ok_or(errno::ESTALE)
    }

    pub fn live_mut(&mut self, g: Gfid) -> R<&mut Inode> {
        self.inodes
            .get_mut(&g)
            .filter(|i| i.linked())
            .ok_or(errno::ESTALE)
    }

    /// A live directory (entry fops' parent).
    pub fn dir(&self, g: Gfid) -> R<&Dir> {
        self.live(g)?.dir().ok_or(errno::ENOTDIR)
    }

    /// What `name` in `parent` is, if anything. "." and ".." are the
    /// directory and its parent, as lstat on the brick sees them.
    pub fn child(&self, parent: Gfid, name: &[u8]) -> R<Option<Gfid>> {
        let d = self.dir(parent)?;
        Ok(match name {
            b"." => Some(parent),
            b".." => Some(d.parent),
            _ => d.entries.get(name).map(|(g, _)| *g),
        })
    }

    pub fn iatt(&self, g: Gfid) -> Iatt {
        let Some(i) = self.inodes.get(&g) else {
            return Iatt::default();
        };
        let (nlink, size, blocks) = match &i.kind {
            Kind::Dir(d) => (if d.removed { 0 } else { 2 + d.subdirs }, 4096, 8),
            Kind::File(c) => (i.links, c.size, c.blocks()),
            Kind::Symlink(t) => (i.links, t.len() as u64, 0),
            Kind::Special => (i.links, 0, 0),
        };
        Iatt {
            gfid: g,
            flags: IATT_FLAGS,
            ino: g.ino(),
            dev: self.dev,
            rdev: i.rdev,
            size,
            blocks,
            attributes: 0,
            attributes_mask: 0,
            atime: i.atime.sec,
            mtime: i.mtime.sec,
            ctime: i.ctime.sec,
            btime: 0,
            atime_nsec: i.atime.nsec,
            mtime_nsec: i.mtime.nsec,
            ctime_nsec: i.ctime.nsec,
            btime_nsec: 0,
            nlink,
            uid: i.uid,
            gid: i.gid,
            blksize: 4096,
            mode: i.mode,
        }
    }

    /// The stat of ".." in the brick root: the brick's own parent has no
    /// gfid (posix answers a zero gfid and ino -1).
    pub fn outside_root(&self) -> Iatt {
        Iatt {
            gfid: Gfid::ZERO,
            ino: u64::MAX,
            flags: IATT_FLAGS & !0x1100,
            ..self.iatt(Gfid::ROOT)
        }
    }

    /// Owner and mode of a new entry in `parent` made by `ctx`: a setgid
    /// parent gives its group (and its setgid bit to directories).
    pub fn new_owner(&self, ctx: &Ctx, parent: Gfid, mode: u32) -> (u32, u32, u32) {
        match self.inodes.get(&parent) {
            Some(p) if p.mode & S_ISGID != 0 => {
                let mode = if mode & S_IFMT == S_IFDIR {
                    mode | S_ISGID
                } else {
                    mode
                };
                (ctx.uid, p.gid, mode)
            }
            _ => (ctx.uid, ctx.gid, mode),
        }
    }

    /// Links `name` in `parent` to `child` (which must exist).
    pub fn add_name(&mut self, parent: Gfid, name: &[u8], child: Gfid) -> R<()> {
        let child_is_dir = self.inodes.get(&child).ok_or(errno::ESTALE)?.is_dir();
        let p = self.live_mut(parent)?;
        p.changed();
        let d = p.dir_mut().ok_or(errno::ENOTDIR)?;
        let cookie = d.next_cookie;
        d.next_cookie += 1;
        d.entries.insert(name.to_vec(), (child, cookie));
        d.by_cookie.insert(cookie, name.to_vec());
        if child_is_dir {
            d.subdirs += 1;
        }
        let c = self.inodes.get_mut(&child).ok_or(errno::ESTALE)?;
        c.ctime = now();
        match &mut c.kind {
            Kind::Dir(cd) => {
                cd.parent = parent;
                cd.name = name.to_vec();
                cd.removed = false;
            }
            _ => c.links += 1,
        }
        Ok(())
    }

    /// Removes `name` from `parent`; the inode it named loses a link (a
    /// directory is marked removed) and goes once nothing holds it.
    pub fn remove_name(&mut self, parent: Gfid, name: &[u8]) -> R<Gfid> {
        let child = self.take_name(parent, name)?;
        self.reap(child);
        Ok(child)
    }

    /// As `remove_name`, keeping the inode (rename links it again).
    pub fn take_name(&mut self, parent: Gfid, name: &[u8]) -> R<Gfid> {
        let p = self.live_mut(parent)?;
        let d = p.dir_mut().ok_or(errno::ENOTDIR)?;
        let (child, cookie) = d.entries.remove(name).ok_or(errno::ENOENT)?;
        d.by_cookie.remove(&cookie);
        p.changed();
        if let Some(c) = self.inodes.get_mut(&child) {
            c.ctime = now();
            match &mut c.kind {
                Kind::Dir(cd) => cd.removed = true,
                _ => c.links = c.links.saturating_sub(1),
            }
            if c.is_dir() {
                if let Some(pd) = self.inodes.get_mut(&parent).and_then(Inode::dir_mut) {
                    pd.subdirs = pd.subdirs.saturating_sub(1);
                }
            }
        }
        Ok(child)
    }

    /// Frees an inode nothing names and nothing holds open.
    pub fn reap(&mut self, g: Gfid) {
        if g.is_root() {
            return;
        }
        if self
            .inodes
            .get(&g)
            .is_some_and(|i| !i.linked() && i.open == 0)
        {
            self.inodes.remove(&g);
        }
    }

    /// A new fd number on `gfid` (counted as open on the inode).
    pub fn add_fd(&mut self, gfid: Gfid, flags: u32) -> R<u64> {
        self.inodes.get_mut(&gfid).ok_or(errno::ESTALE)?.open += 1;
        self.next_fd += 1;
        self.fds.insert(self.next_fd, OpenFd { gfid, flags });
        Ok(self.next_fd)
    }

    /// RELEASE: the fd goes, with its posix locks; an unlinked inode it
    /// kept goes with it.
    pub fn drop_fd(&mut self, num: u64) {
        let Some(f) = self.fds.remove(&num) else {
            return;
        };
        if let Some(i) = self.inodes.get_mut(&f.gfid) {
            i.open = i.open.saturating_sub(1);
        }
        self.locks.posix_release_fd(f.gfid, num);
        self.reap(f.gfid);
    }

    /// The connection dropped: the brick releases every fd and lock of
    /// its client.
    pub fn drop_connection(&mut self) {
        let fds: Vec<u64> = self.fds.keys().copied().collect();
        for n in fds {
            self.drop_fd(n);
        }
        self.locks.clear();
        self.generation += 1;
    }

    /// "/a/b" of a directory, from its parents (the ancestry path posix
    /// builds from its gfid handles).
    pub fn path(&self, g: Gfid) -> Option<String> {
        let mut parts = Vec::new();
        let mut cur = g;
        while !cur.is_root() {
            let d = self.inodes.get(&cur)?.dir()?;
            if d.removed || parts.len() > 4096 {
                return None;
            }
            parts.push(String::from_utf8_lossy(&d.name).into_owned());
            cur = d.parent;
        }
        parts.reverse();
        Some(format!("/{}", parts.join("/")))
    }

    /// Whether directory `a` is `b` or one of its ancestors.
    pub fn is_ancestor(&self, a: Gfid, b: Gfid) -> bool {
        let mut cur = b;
        for _ in 0..4096 {
            if cur == a {
                return true;
            }
            if cur.is_root() {
                return false;
            }
            match self.inodes.get(&cur).and_then(Inode::dir) {
                Some(d) => cur = d.parent,
                None => return false,
            }
        }
        false
    }

    /// Bytes stored and inodes used (for a computed STATFS).
    pub fn usage(&self) -> (u64, u64) {
        let blocks: u64 = self
            .inodes
            .values()
            .map(|i| match &i.kind {
                Kind::File(c) => c.blocks(),
                Kind::Dir(_) => 8,
                _ => 0,
            })
            .sum();
        (blocks * 512, self.inodes.len() as u64)
    }
}

/// A name the brick accepts for a new entry.
pub(super) fn check_name(name: &[u8]) -> R<()> {
    if name.is_empty() || name == b"." || name == b".." {
        return Err(errno::EINVAL);
    }
    if name.contains(&b'/') {
        return Err(errno::EPERM); // the server refuses it (server-resolve.c)
    }
    if name.len() > NAME_MAX {
        return Err(errno::ENAMETOOLONG);
    }
    Ok(())
}

/// The bytes posix stores for a dict value: strings up to their first
/// NUL plus one NUL, numbers as decimal text plus NUL (libglusterfs keeps
/// them as text), blobs and gfids raw.
pub(super) fn stored_bytes(v: &DictValue) -> Vec<u8> {
    use xdr::Xdr;
    match v {
        DictValue::Str(b) => {
            let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            let mut out = b[..end].to_vec();
            out.push(0);
            out
        }
        DictValue::StrOld(b) | DictValue::Ptr(b) => b.clone(),
        DictValue::Int(i) => format!("{i}\0").into_bytes(),
        DictValue::Uint(u) => format!("{u}\0").into_bytes(),
        DictValue::Double(f) => format!("{f:.6}\0").into_bytes(),
        DictValue::Gfid(g) => g.0.to_vec(),
        DictValue::Iatt(i) => i.to_xdr(),
        DictValue::Mdata(m) => m.to_xdr(),
    }
}

/// The `gfid-req` of an entry fop: any value, its first 16 bytes
/// (dict_get_gfuuid); EINVAL when absent or null (posix.h
/// GFID_NULL_CHECK_AND_GOTO).
pub(super) fn gfid_req(xdata: &proto::dict::GfxDict) -> R<Gfid> {
    let v = xdata.get("gfid-req").ok_or(errno::EINVAL)?;
    let bytes = stored_bytes(v);
    let mut g = [0u8; 16];
    let n = bytes.len().min(16);
    g[..n].copy_from_slice(&bytes[..n]);
    let g = Gfid(g);
    if g.is_zero() {
        return Err(errno::EINVAL);
    }
    Ok(g)
}

/// Keys the kernel accepts as xattr names.
pub(super) fn valid_namespace(key: &[u8]) -> bool {
    [&b"trusted."[..], b"security.", b"system.", b"user."]
        .iter()
        .any(|p| key.starts_with(p))
}

pub(super) const GFID_KEY: &[u8] = b"trusted.gfid";
pub(super) const GFID2PATH_PREFIX: &[u8] = b"trusted.gfid2path.";

/// Permission bits exactly S_ISVTX: what posix takes for a DHT linkto
/// file (IS_DHT_LINKFILE_MODE).
pub(super) fn linkto_mode(mode: u32) -> bool {
    mode & !S_IFMT == 0o1000
}
