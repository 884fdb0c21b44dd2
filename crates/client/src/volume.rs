//! The volume: what libgfapi should have been. Connect once, then
//! gfid-addressed (and path-convenience) async operations; `close()` is
//! instant because every connection owns all of its timers.

use crate::error::{Error, Result};
use crate::fd::Fd;
use crate::graph::Graph;
use crate::mgmt::{Mgmt, GLUSTERD_PORT};
use crate::registry::{BuildEnv, Built};
use crate::volfile::Volfile;
use crate::xlator::XlRequest;
use crate::xlator::{FdObj, Xlator};
use parking_lot::RwLock;
use proto::dict::{DictValue, GfxDict};
use proto::errno;
use proto::fops::*;
use proto::iatt::{valid, Iatt, Statfs};
use proto::Gfid;
use rpc::ConnectionOptions;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use crate::xlator::Ctx;

/// How to connect.
#[derive(Debug, Clone)]
pub struct VolumeOptions {
    /// glusterd port on every volfile server.
    pub port: u16,
    pub connect_timeout: Duration,
    /// Deadline of one call (upstream's frame-timeout default is 1800 s).
    pub call_timeout: Duration,
    /// Sent to bricks as `process-name` (shows in their logs).
    pub process_name: String,
}

impl Default for VolumeOptions {
    fn default() -> Self {
        Self {
            port: GLUSTERD_PORT,
            connect_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(1800),
            process_name: "glusterfs-rs".into(),
        }
    }
}

/// Attributes to change with [`Volume::setattr`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub atime: Option<SetTime>,
    pub mtime: Option<SetTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetTime {
    Now,
    At { sec: i64, nsec: u32 },
}

/// `$vol.on_graph(..)` for one translator call: runs `top.<call>` on the
/// graph in use, again on a new one if a graph switch broke it.
macro_rules! on_graph {
    ($vol:expr, |$top:ident| $call:expr) => {
        $vol.on_graph(|$top| Box::pin(async move { $call.await }))
    };
}
pub(crate) use on_graph;

/// What an entry operation made: the entry, and its parent directory's
/// attributes after the operation (invalid when the graph did not report
/// them), which crates/fuse caches. Derefs to the entry's attributes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    pub stat: Iatt,
    pub parent: Iatt,
}

impl Entry {
    fn of(r: ThreeIattRsp, fop: &str) -> Result<Entry> {
        Ok(Entry {
            stat: valid_stat(r.stat, fop)?,
            parent: r.postparent,
        })
    }
}

impl std::ops::Deref for Entry {
    type Target = Iatt;
    fn deref(&self) -> &Iatt {
        &self.stat
    }
}

/// What a rename did: the renamed inode and both parents after it
/// (invalid when not reported). Derefs to the renamed inode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Renamed {
    pub stat: Iatt,
    pub old_parent: Iatt,
    pub new_parent: Iatt,
}

impl std::ops::Deref for Renamed {
    type Target = Iatt;
    fn deref(&self) -> &Iatt {
        &self.stat
    }
}

/// A directory entry. `stat` is None when the brick could not stat the
/// entry (a zero gfid), e.g. `..` of the volume root.
#[derive(Debug, Clone, PartialEq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    /// The inode number the brick reports (derived from the gfid).
    pub d_ino: u64,
    pub d_off: u64,
    pub d_type: u32,
    pub stat: Option<Iatt>,
}

/// A graph and the translators running it.
pub(crate) struct Active {
    pub graph: Arc<Graph>,
    pub built: Built,
}

pub(crate) struct Inner {
    pub name: String,
    pub server: String,
    /// The graph in use and its running translators; replaced as a whole
    /// when glusterd announces a new volfile (graph_switch.rs).
    pub current: RwLock<Arc<Active>>,
    /// The glusterd connection: volfile changes are announced on it.
    pub mgmt: parking_lot::Mutex<Mgmt>,
    pub options: VolumeOptions,
    pub conn_opts: ConnectionOptions,
    pub closed: std::sync::atomic::AtomicBool,
    /// Serialises graph refreshes; holds when the last one was asked for
    /// by a failing operation (see `Volume::on_graph`).
    pub refreshing: tokio::sync::Mutex<Option<std::time::Instant>>,
}

/// A connected volume. Cheap to clone.
#[derive(Clone)]
pub struct Volume {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Volume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Volume({}:{})", self.inner.server, self.inner.name)
    }
}

impl Volume {
    /// Fetches the volfile from the first server that answers, builds the
    /// graph and connects to every brick.
    pub async fn connect(
        servers: &[String],
        volume: &str,
        options: VolumeOptions,
    ) -> Result<Volume> {
        let conn_opts = ConnectionOptions {
            connect_timeout: options.connect_timeout,
            call_timeout: options.call_timeout,
            ..Default::default()
        };
        let mut last_err = Error::Invalid("no volfile server given".into());
        let mut fetched = None;
        for server in servers {
            let attempt = async {
                let mgmt = Mgmt::connect(server, options.port, conn_opts.clone()).await?;
                let text = mgmt.getspec(volume).await?;
                Ok::<_, Error>((mgmt, text))
            };
            match attempt.await {
                Ok(ok) => {
                    fetched = Some((server.clone(), ok));
                    break;
                }
                Err(e) => {
                    tracing::debug!(server, "volfile fetch failed: {e}");
                    last_err = e;
                }
            }
        }
        let Some((server, (mgmt, text))) = fetched else {
            return Err(last_err);
        };
        let volfile = Volfile::parse(&text).map_err(|e| Error::Volfile {
            server: server.clone(),
            msg: e.to_string(),
        })?;
        let graph = Graph::build(&volfile)?;
        let built = build(&graph, volume, &conn_opts, &mgmt, &options, None)?;
        let connecting = built.clone();
        let vol = Volume {
            inner: Arc::new(Inner {
                name: volume.to_string(),
                server,
                current: RwLock::new(Arc::new(Active {
                    graph: Arc::new(graph),
                    built,
                })),
                mgmt: parking_lot::Mutex::new(mgmt),
                options,
                conn_opts,
                closed: std::sync::atomic::AtomicBool::new(false),
                refreshing: tokio::sync::Mutex::new(None),
            }),
        };
        // Connect all bricks now so that errors surface at connect time.
        if let Err(e) = connecting.connect_new(None).await {
            vol.close();
            return Err(e);
        }
        vol.watch_volfile();
        Ok(vol)
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The volfile server that answered.
    pub fn server(&self) -> &str {
        &self.inner.server
    }

    /// The graph in use.
    pub fn graph(&self) -> Arc<Graph> {
        self.inner.current.read().graph.clone()
    }

    /// The top translator of the graph in use: every operation starts
    /// there.
    pub fn top(&self) -> Arc<dyn Xlator> {
        self.inner.current.read().built.top.clone()
    }

    /// Runs `op` on the graph in use. If it fails with ENOTCONN and the
    /// graph was switched meanwhile (a brick left the volume: remove-brick
    /// commit stops it), it runs once more on the new graph, where the
    /// file is found on the subvolume that holds it now. For operations
    /// that are safe to repeat.
    pub(crate) async fn on_graph<'a, T>(
        &'a self,
        op: impl Fn(Arc<dyn Xlator>) -> futures::future::BoxFuture<'a, Result<T>>,
    ) -> Result<T> {
        let before = self.inner.current.read().clone();
        match op(before.built.top.clone()).await {
            Err(e) if e.errno() == errno::ENOTCONN => {
                // The brick may have left the volume a moment ago, before
                // glusterd's announcement reached us: ask now.
                self.refresh_after_failure(&before).await;
                let now = self.inner.current.read().clone();
                if Arc::ptr_eq(&now, &before) {
                    return Err(e);
                }
                tracing::debug!("retrying on the new graph after: {e}");
                op(now.built.top.clone()).await
            }
            r => r,
        }
    }

    /// Fetches the volfile again after an operation failed on `seen`,
    /// unless the graph changed since or a failure refreshed it within
    /// the last second (a brick that is merely down must not cost a
    /// GETSPEC per operation).
    async fn refresh_after_failure(&self, seen: &Arc<Active>) {
        let mut last = self.inner.refreshing.lock().await;
        if !Arc::ptr_eq(&self.inner.current.read().clone(), seen) {
            return; // someone switched while we waited
        }
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return;
        }
        *last = Some(std::time::Instant::now());
        if let Err(e) = self.refresh_graph_locked().await {
            tracing::debug!("volfile refetch after a failure: {e}");
        }
    }

    /// Whether an xattr is one the graph's translators keep for
    /// themselves (users never see or set those).
    pub fn hides_xattr(&self, name: &[u8]) -> bool {
        fn any(xl: &dyn Xlator, name: &[u8]) -> bool {
            xl.hides_xattr(name) || xl.children().iter().any(|c| any(&**c, name))
        }
        any(&*self.top(), name)
    }

    /// Finishes the work translators deferred (delayed post-ops of a
    /// replica set, which would otherwise leave files marked dirty for the
    /// self-heal daemon); call before `close` when leaving cleanly.
    pub async fn settle(&self) {
        self.top().settle().await;
    }

    /// Closes every connection now. Outstanding calls fail with ENOTCONN;
    /// nothing waits for a timer.
    pub fn close(&self) {
        self.inner.current.read().built.close();
        self.inner
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.inner.mgmt.lock().conn.close();
    }

    /// Sends `req` through the graph.
    async fn send<Q: XlRequest>(&self, ctx: &Ctx, req: &Q) -> Result<Q::Reply> {
        req.send(&*self.top(), ctx).await
    }

    /// Sends `req`, which is safe to repeat, through the graph (again on a
    /// new graph if a switch broke it).
    async fn send_again<Q: XlRequest>(&self, ctx: &Ctx, req: &Q) -> Result<Q::Reply> {
        self.on_graph(|top| Box::pin(async move { req.send(&*top, ctx).await }))
            .await
    }

    // ---- lookup and attributes ----

    /// Named lookup of `name` in `parent`.
    pub async fn lookup(&self, ctx: &Ctx, parent: Gfid, name: &[u8]) -> Result<Iatt> {
        check_name(name)?;
        let req = LookupReq {
            gfid: Gfid::ZERO,
            pargfid: parent,
            flags: 0,
            bname: name.to_vec(),
            xdata: GfxDict::new(),
        };
        valid_stat(self.send_again(ctx, &req).await?.prestat, "LOOKUP")
    }

    /// Nameless lookup by gfid.
    pub async fn lookup_gfid(&self, ctx: &Ctx, gfid: Gfid) -> Result<Iatt> {
        let req = LookupReq {
            gfid,
            pargfid: Gfid::ZERO,
            flags: 0,
            bname: Vec::new(),
            xdata: GfxDict::new(),
        };
        valid_stat(self.send_again(ctx, &req).await?.prestat, "LOOKUP")
    }

    /// Resolves an absolute path inside the volume ("/" is the root).
    /// Symbolic links are not followed.
    pub async fn resolve(&self, ctx: &Ctx, path: &str) -> Result<Iatt> {
        let mut cur = self.lookup_gfid(ctx, Gfid::ROOT).await?;
        for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
            if !cur.is_dir() {
                return Err(Error::errno_msg(
                    errno::ENOTDIR,
                    format!("{path}: a component is not a directory"),
                ));
            }
            cur = self.lookup(ctx, cur.gfid, comp.as_bytes()).await?;
        }
        Ok(cur)
    }

    /// Resolves the parent directory of `path` and returns it with the
    /// final name.
    pub async fn resolve_parent<'p>(&self, ctx: &Ctx, path: &'p str) -> Result<(Iatt, &'p str)> {
        let trimmed = path.trim_end_matches('/');
        let (dir, name) = match trimmed.rfind('/') {
            Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
            None => ("", trimmed),
        };
        if name.is_empty() || name == "." || name == ".." {
            return Err(Error::Invalid(format!("'{path}' does not name an entry")));
        }
        let parent = self.resolve(ctx, dir).await?;
        if !parent.is_dir() {
            return Err(Error::errno_msg(
                errno::ENOTDIR,
                format!("{dir}: not a directory"),
            ));
        }
        Ok((parent, name))
    }

    pub async fn access(&self, ctx: &Ctx, gfid: Gfid, mask: u32) -> Result<()> {
        let req = AccessReq {
            gfid,
            mask,
            xdata: GfxDict::new(),
        };
        self.send_again(ctx, &req).await?;
        Ok(())
    }

    pub async fn readlink(&self, ctx: &Ctx, gfid: Gfid) -> Result<Vec<u8>> {
        let req = ReadlinkReq {
            gfid,
            size: 4096,
            xdata: GfxDict::new(),
        };
        let rsp = self.send_again(ctx, &req).await?;
        Ok(rsp.path)
    }

    pub async fn statfs(&self, ctx: &Ctx, gfid: Gfid) -> Result<Statfs> {
        let req = StatfsReq {
            gfid,
            xdata: GfxDict::new(),
        };
        Ok(self.send_again(ctx, &req).await?.statfs)
    }

    // ---- namespace ----

    pub async fn mknod(
        &self,
        ctx: &Ctx,
        parent: Gfid,
        name: &[u8],
        mode: u32,
        rdev: u64,
        umask: u32,
    ) -> Result<Entry> {
        check_name(name)?;
        let req = MknodReq {
            pargfid: parent,
            dev: rdev,
            mode,
            umask,
            bname: name.to_vec(),
            xdata: gfid_req(),
        };
        Entry::of(self.send(ctx, &req).await?, "MKNOD")
    }

    pub async fn mkdir(
        &self,
        ctx: &Ctx,
        parent: Gfid,
        name: &[u8],
        mode: u32,
        umask: u32,
    ) -> Result<Entry> {
        check_name(name)?;
        let req = MkdirReq {
            pargfid: parent,
            mode,
            umask,
            bname: name.to_vec(),
            xdata: gfid_req(),
        };
        Entry::of(self.send(ctx, &req).await?, "MKDIR")
    }

    pub async fn symlink(
        &self,
        ctx: &Ctx,
        parent: Gfid,
        name: &[u8],
        target: &[u8],
        umask: u32,
    ) -> Result<Entry> {
        check_name(name)?;
        let req = SymlinkReq {
            pargfid: parent,
            bname: name.to_vec(),
            umask,
            linkname: target.to_vec(),
            xdata: gfid_req(),
        };
        Entry::of(self.send(ctx, &req).await?, "SYMLINK")
    }

    /// Hard link: a new name `newname` in `newparent` for inode `gfid`.
    pub async fn link(
        &self,
        ctx: &Ctx,
        gfid: Gfid,
        newparent: Gfid,
        newname: &[u8],
    ) -> Result<Entry> {
        check_name(newname)?;
        let req = LinkReq {
            oldgfid: gfid,
            newgfid: newparent,
            newbname: newname.to_vec(),
            xdata: GfxDict::new(),
        };
        Entry::of(self.send(ctx, &req).await?, "LINK")
    }

    /// Returns the parent's attributes after the unlink (invalid when the
    /// graph did not report them).
    pub async fn unlink(&self, ctx: &Ctx, parent: Gfid, name: &[u8]) -> Result<Iatt> {
        check_name(name)?;
        let req = UnlinkReq {
            pargfid: parent,
            bname: name.to_vec(),
            xflags: 0,
            xdata: GfxDict::new(),
        };
        Ok(self.send(ctx, &req).await?.poststat)
    }

    /// Returns the parent's attributes after the rmdir (invalid when the
    /// graph did not report them).
    pub async fn rmdir(&self, ctx: &Ctx, parent: Gfid, name: &[u8]) -> Result<Iatt> {
        check_name(name)?;
        let req = RmdirReq {
            pargfid: parent,
            xflags: 0,
            bname: name.to_vec(),
            xdata: GfxDict::new(),
        };
        Ok(self.send(ctx, &req).await?.poststat)
    }

    /// Renames; an existing target is replaced atomically (POSIX rename).
    pub async fn rename(
        &self,
        ctx: &Ctx,
        oldparent: Gfid,
        oldname: &[u8],
        newparent: Gfid,
        newname: &[u8],
    ) -> Result<Renamed> {
        self.rename_with(
            ctx,
            (oldparent, oldname),
            (newparent, newname),
            GfxDict::new(),
        )
        .await
    }

    /// renameat2(RENAME_NOREPLACE): EEXIST if the target exists, decided
    /// under the target name's namespace lock (see distribute's rename).
    pub async fn rename_noreplace(
        &self,
        ctx: &Ctx,
        oldparent: Gfid,
        oldname: &[u8],
        newparent: Gfid,
        newname: &[u8],
    ) -> Result<Renamed> {
        let x = GfxDict::new().with(
            crate::distribute::NOREPLACE_KEY,
            DictValue::Str(b"yes".to_vec()),
        );
        self.rename_with(ctx, (oldparent, oldname), (newparent, newname), x)
            .await
    }

    async fn rename_with(
        &self,
        ctx: &Ctx,
        (oldparent, oldname): (Gfid, &[u8]),
        (newparent, newname): (Gfid, &[u8]),
        xdata: GfxDict,
    ) -> Result<Renamed> {
        check_name(oldname)?;
        check_name(newname)?;
        let req = RenameReq {
            oldgfid: oldparent,
            newgfid: newparent,
            oldbname: oldname.to_vec(),
            newbname: newname.to_vec(),
            xdata,
        };
        let r = self.send(ctx, &req).await?;
        Ok(Renamed {
            stat: r.stat,
            old_parent: r.postoldparent,
            new_parent: r.postnewparent,
        })
    }

    // ---- files and directories ----

    /// Creates and opens `name` in `parent`. `flags` are Linux open flags
    /// (O_CREAT is implied; O_EXCL makes an existing name EEXIST).
    pub async fn create(
        &self,
        ctx: &Ctx,
        parent: Gfid,
        name: &[u8],
        flags: u32,
        mode: u32,
        umask: u32,
    ) -> Result<(Fd, Entry)> {
        check_name(name)?;
        let gflags = crate::fd::to_gf_flags(flags) | oflags::CREAT;
        let req = CreateReq {
            pargfid: parent,
            flags: gflags,
            mode,
            umask,
            bname: name.to_vec(),
            xdata: gfid_req(),
        };
        let fd = FdObj::new(gfid_of(&req.xdata), gflags, false, false);
        let rsp = self.top().create(ctx, &req, &fd).await?;
        let stat = valid_stat(rsp.stat, "CREATE")?;
        fd.set_gfid(stat.gfid);
        let entry = Entry {
            stat,
            parent: rsp.postparent,
        };
        Ok((Fd::new(self.clone(), fd), entry))
    }

    /// Opens an existing file. `flags` are Linux open flags.
    pub async fn open(&self, ctx: &Ctx, gfid: Gfid, flags: u32) -> Result<Fd> {
        let gflags = crate::fd::to_gf_flags(flags) & !(oflags::CREAT | oflags::EXCL);
        let fd = FdObj::new(gfid, gflags, false, false);
        self.top().open(ctx, &fd, GfxDict::new()).await?;
        Ok(Fd::new(self.clone(), fd))
    }

    /// Opens without a round trip: the brick sees the OPEN when the fd is
    /// first used for something other than reading (open-behind). Not for
    /// O_TRUNC, whose effect must be immediate.
    pub async fn open_lazy(&self, _ctx: &Ctx, gfid: Gfid, flags: u32) -> Result<Fd> {
        let gflags = crate::fd::to_gf_flags(flags) & !(oflags::CREAT | oflags::EXCL);
        Ok(Fd::new(self.clone(), FdObj::new(gfid, gflags, false, true)))
    }

    pub async fn opendir(&self, ctx: &Ctx, gfid: Gfid) -> Result<Fd> {
        let fd = FdObj::new(gfid, 0, true, false);
        self.top().open(ctx, &fd, GfxDict::new()).await?;
        Ok(Fd::new(self.clone(), fd))
    }

    /// Lists a whole directory (with attributes).
    pub async fn read_dir_all(&self, ctx: &Ctx, gfid: Gfid) -> Result<Vec<DirEntry>> {
        let dir = self.opendir(ctx, gfid).await?;
        let mut out = Vec::new();
        let mut offset = 0;
        let result = loop {
            match dir.readdirp(ctx, offset, 128 * 1024).await {
                Ok(batch) if batch.is_empty() => break Ok(()),
                Ok(batch) => {
                    offset = batch.last().map_or(offset, |e| e.d_off);
                    out.extend(batch);
                }
                Err(e) => break Err(e),
            }
        };
        dir.release().await;
        result.map(|()| out)
    }
}

pub(crate) fn xattr_value(dict: &GfxDict, name: &str) -> Result<Vec<u8>> {
    match dict.get(name) {
        Some(DictValue::Int(i)) => Ok(i.to_string().into_bytes()),
        Some(DictValue::Uint(u)) => Ok(u.to_string().into_bytes()),
        Some(v) => Ok(v.as_bytes().map(<[u8]>::to_vec).unwrap_or_default()),
        None => Err(Error::errno_msg(
            errno::ENODATA,
            format!("no attribute {name}"),
        )),
    }
}

/// The gfid a request proposes for its new inode.
fn gfid_of(xdata: &GfxDict) -> Gfid {
    match xdata.get("gfid-req") {
        Some(DictValue::Gfid(g)) => *g,
        _ => Gfid::ZERO,
    }
}

/// The new inode's gfid, chosen here so that every brick gets the same.
fn gfid_req() -> GfxDict {
    GfxDict::new().with("gfid-req", DictValue::Gfid(Gfid::random()))
}

pub(crate) fn valid_stat(stat: Iatt, fop: &str) -> Result<Iatt> {
    if stat.is_valid() {
        Ok(stat)
    } else {
        Err(Error::errno_msg(
            errno::EIO,
            format!("{fop} succeeded but returned no attributes"),
        ))
    }
}

/// Names are single path components: no '/', no NUL, at most 255 bytes.
pub(crate) fn check_name(name: &[u8]) -> Result<()> {
    if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
        return Err(Error::errno_msg(
            errno::EINVAL,
            format!("invalid name '{}'", String::from_utf8_lossy(name)),
        ));
    }
    if name.len() > 255 {
        return Err(Error::errno_msg(
            errno::ENAMETOOLONG,
            "name longer than 255 bytes",
        ));
    }
    Ok(())
}

pub(crate) fn setattr_args(attr: &SetAttr) -> (Iatt, i32) {
    let mut st = Iatt::default();
    let mut v = 0;
    if let Some(m) = attr.mode {
        st.mode = m & 0o7777;
        v |= valid::MODE;
    }
    if let Some(u) = attr.uid {
        st.uid = u;
        v |= valid::UID;
    }
    if let Some(g) = attr.gid {
        st.gid = g;
        v |= valid::GID;
    }
    let now = || {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        (d.as_secs() as i64, d.subsec_nanos())
    };
    // (time, its valid bit, its "now" bit) for atime and mtime.
    let time = |t: Option<SetTime>, set: i32, now_bit: i32| match t {
        Some(SetTime::At { sec, nsec }) => Some(((sec, nsec), set)),
        Some(SetTime::Now) => Some((now(), set | now_bit)),
        None => None,
    };
    if let Some((t, bits)) = time(attr.atime, valid::ATIME, valid::ATIME_NOW) {
        (st.atime, st.atime_nsec) = t;
        v |= bits;
    }
    if let Some((t, bits)) = time(attr.mtime, valid::MTIME, valid::MTIME_NOW) {
        (st.mtime, st.mtime_nsec) = t;
        v |= bits;
    }
    (st, v)
}

/// Builds the running translators of `graph`, reusing the unchanged
/// subtrees of `keep` (a graph switch keeps their connections, and with
/// them every fd and lock opened through them).
pub(crate) fn build(
    graph: &Graph,
    volume: &str,
    conn_opts: &ConnectionOptions,
    mgmt: &Mgmt,
    options: &VolumeOptions,
    keep: Option<&Built>,
) -> Result<Built> {
    let env = BuildEnv {
        volume,
        conn_opts,
        mgmt: Some(mgmt),
        process_name: &options.process_name,
        new_bricks: Default::default(),
    };
    crate::registry::build(graph, &env, keep)
}
