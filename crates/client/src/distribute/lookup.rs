//! Lookup (§4): hashed subvolume first, linkto files followed, lookup
//! everywhere when the parent's layout cannot promise where a name is;
//! directories looked up on every subvolume, merged, and healed when a
//! subvolume lacks them or their layout has holes (§2.6).

use super::locks::Lock;
use super::{
    as_root, internal_xdata, is_gone, is_linkto, layout_dict, linkto_target, merge_dir_iatt,
    migration, DirCtx, Distribute, InodeCtx, COMMITHASH_XATTR, LAYOUT_XATTR, LINKTO_XATTR,
    MDS_XATTR,
};
use crate::dht_layout::{Layout, Range};
use crate::error::{Error, Result};
use proto::dict::{DictValue, GfxDict};
use proto::errno;
use proto::fops::{GetxattrReq, LookupReq, MkdirReq, SetxattrReq, TwoIattRsp, UnlinkReq};
use proto::iatt::Iatt;
use proto::rpc_msg::Identity;
use proto::Gfid;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What DHT asks of every lookup (§4.1).
fn lookup_xdata(root: bool) -> GfxDict {
    let mut x = GfxDict::new()
        .with(LAYOUT_XATTR, DictValue::Uint(16))
        .with(MDS_XATTR, DictValue::Uint(4))
        .with(LINKTO_XATTR, DictValue::Uint(256))
        .with("glusterfs.open-fd-count", DictValue::Uint(0));
    if root {
        x.set(COMMITHASH_XATTR, DictValue::Uint(16));
    }
    x
}

fn named(parent: Gfid, name: &[u8], xdata: GfxDict) -> LookupReq {
    LookupReq {
        gfid: Gfid::ZERO,
        pargfid: parent,
        flags: 0,
        bname: name.to_vec(),
        xdata,
    }
}

fn nameless(gfid: Gfid, xdata: GfxDict) -> LookupReq {
    LookupReq {
        gfid,
        pargfid: Gfid::ZERO,
        flags: 0,
        bname: Vec::new(),
        xdata,
    }
}

/// A directory as the subvolumes reported it.
struct DirView {
    stat: Iatt,
    layout: Layout,
    mds: Option<usize>,
    /// Subvolumes answering ENOENT/ESTALE.
    missing: Vec<usize>,
    /// Subvolumes that had the directory.
    present: Vec<bool>,
    /// A subvolume was down or failed otherwise: no heal now.
    unhealthy: bool,
}

fn is_down(e: &Error) -> bool {
    e.errno() == errno::ENOTCONN
}

impl Distribute {
    /// Named lookup of `name` in `parent` (§4.2).
    pub async fn lookup(&self, ctx: &Identity, parent: Gfid, name: &[u8]) -> Result<Iatt> {
        let st = self.lookup_name(ctx, parent, name).await?;
        self.remember_entry(parent, name, &st);
        Ok(st)
    }

    async fn lookup_name(&self, ctx: &Identity, parent: Gfid, name: &[u8]) -> Result<Iatt> {
        if self.single() {
            let r = self
                .call(0, ctx, &named(parent, name, GfxDict::new()))
                .await?;
            return Ok(r.prestat);
        }
        let pdir = self.dir(ctx, parent).await?;
        let Some(h) = self.search(&pdir.layout, name) else {
            let all = self.named_on_all(ctx, parent, name, None).await;
            return self.lookup_dir_named(ctx, parent, name, None, all).await;
        };
        match self
            .call(h, ctx, &named(parent, name, lookup_xdata(false)))
            .await
        {
            Ok(r) if r.prestat.is_dir() => {
                let all = self.named_on_all(ctx, parent, name, Some((h, Ok(r)))).await;
                self.lookup_dir_named(ctx, parent, name, Some(h), all).await
            }
            Ok(r) if is_linkto(&r.prestat, &r.xdata) => {
                self.follow_linkto(ctx, parent, name, h, &r).await
            }
            Ok(mut r) => {
                migration::clean(&mut r.prestat);
                self.remember_file(r.prestat.gfid, h);
                Ok(r.prestat)
            }
            // With lookup-optimize on, the official client takes an ENOENT on the
            // hashed subvolume as final when the parent's layout carries the
            // volume's commit hash (§2.7). We do not: on 10.3 the rebalance writes
            // the new commit hash into a directory's layout while its worker
            // threads are still moving that directory's files (measured: commit
            // set with 106 of 184 files moved), so "final" loses files that are
            // merely not moved yet. A search everywhere costs one parallel round
            // trip; only negative lookups pay it.
            Err(e) if e.is_enoent() => {
                self.lookup_everywhere(ctx, parent, name, Some(h), Some(Err(e)))
                    .await
            }
            Err(e) if matches!(e.errno(), errno::ENOTCONN | errno::ENODATA) => {
                let all = self.named_on_all(ctx, parent, name, None).await;
                self.lookup_dir_named(ctx, parent, name, Some(h), all).await
            }
            Err(e) => Err(e),
        }
    }

    /// The hashed subvolume holds a linkto: the data should be where it
    /// points (§3.3).
    async fn follow_linkto(
        &self,
        ctx: &Identity,
        parent: Gfid,
        name: &[u8],
        hashed: usize,
        link: &TwoIattRsp,
    ) -> Result<Iatt> {
        let target = linkto_target(&link.xdata).and_then(|t| self.index_of(&t));
        if let Some(t) = target.filter(|t| *t != hashed) {
            match self
                .call(t, ctx, &named(parent, name, lookup_xdata(false)))
                .await
            {
                Ok(mut r)
                    if r.prestat.is_reg()
                        && !is_linkto(&r.prestat, &r.xdata)
                        && r.prestat.gfid == link.prestat.gfid =>
                {
                    migration::clean(&mut r.prestat);
                    self.remember_file(r.prestat.gfid, t);
                    return Ok(r.prestat);
                }
                Err(e) if is_down(&e) => return Err(e),
                _ => {}
            }
        }
        self.lookup_everywhere(ctx, parent, name, Some(hashed), None)
            .await
    }

    /// Looks `name` up on every subvolume and decides as the official
    /// client does (§4.2 table), repairing linkto files on the way.
    async fn lookup_everywhere(
        &self,
        ctx: &Identity,
        parent: Gfid,
        name: &[u8],
        hashed: Option<usize>,
        known: Option<Result<TwoIattRsp>>,
    ) -> Result<Iatt> {
        let known = hashed.zip(known);
        let all = self.named_on_all(ctx, parent, name, known).await;
        self.decide_everywhere(ctx, parent, name, hashed, all).await
    }

    /// Lookup-everywhere's decision (dht_lookup_everywhere_cbk and
    /// _done) over the named lookup's replies of every subvolume.
    /// `hashed`: the name's hashed subvolume, if the layout has one.
    async fn decide_everywhere(
        &self,
        ctx: &Identity,
        parent: Gfid,
        name: &[u8],
        hashed: Option<usize>,
        all: Vec<Result<TwoIattRsp>>,
    ) -> Result<Iatt> {
        let mut data: Option<(usize, Iatt)> = None;
        let mut hashed_link: Option<&TwoIattRsp> = None;
        let mut strays: Vec<usize> = Vec::new();
        let mut dirs = false;
        // A subvolume that may hold the file but did not say (down, or
        // the name without a gfid there): its error, ENOTCONN first.
        let mut unsure = None;
        for (i, r) in all.iter().enumerate() {
            match r {
                Ok(r) if r.prestat.is_dir() => dirs = true,
                Ok(r) if is_linkto(&r.prestat, &r.xdata) => {
                    // Off the hashed subvolume a linkto is stray; it goes
                    // only when the brick reported no open fd (upstream
                    // needs the count present and 0).
                    if Some(i) == hashed {
                        hashed_link = Some(r);
                    } else if r
                        .xdata
                        .get("glusterfs.open-fd-count")
                        .and_then(DictValue::as_u64)
                        == Some(0)
                    {
                        strays.push(i);
                    }
                }
                Ok(r) => {
                    if data.is_none() {
                        data = Some((i, r.prestat));
                    } else {
                        tracing::warn!(
                            "'{}' in {parent}: data files on several subvolumes",
                            String::from_utf8_lossy(name)
                        );
                    }
                }
                Err(e) if is_down(e) => unsure = Some(e.errno()),
                // posix: the name is there without a gfid
                // (dht_lookup_everywhere_done answers ENODATA).
                Err(e) if e.errno() == errno::ENODATA => {
                    unsure.get_or_insert(errno::ENODATA);
                }
                Err(_) => {}
            }
        }
        self.remove_strays(ctx, parent, name, strays, &all).await;
        if dirs {
            if data.is_some() {
                return Err(Error::errno_msg(
                    errno::EIO,
                    format!(
                        "'{}' is a directory on one subvolume and a file on another",
                        String::from_utf8_lossy(name)
                    ),
                ));
            }
            return self.settle_named_dir(ctx, parent, name, all).await;
        }
        let Some((at, mut st)) = data else {
            if let (Some(h), Some(link)) = (hashed, hashed_link) {
                if unsure.is_none() {
                    self.unlink_stale_linkto(ctx, h, parent, name, link).await;
                }
            }
            // A subvolume that is down may hold the file: answer its
            // error, never ENOENT, which the kernel would cache as a
            // negative entry for a file that exists. (Upstream's
            // dht_lookup_everywhere_done says ENOENT here, its directory
            // lookup whichever error came last; ENOTCONN is the safe one.)
            let e = unsure.unwrap_or(errno::ENOENT);
            return Err(Error::errno_msg(
                e,
                format!("'{}' not found", String::from_utf8_lossy(name)),
            ));
        };
        migration::clean(&mut st);
        self.remember_file(st.gfid, at);
        let Some(hashed) = hashed.filter(|&h| h != at) else {
            // On its hashed subvolume, or the layout has none for it
            // (upstream then makes no linkto either).
            return Ok(st);
        };
        let points_here =
            |l: &TwoIattRsp| linkto_target(&l.xdata).and_then(|t| self.index_of(&t)) == Some(at);
        match hashed_link {
            Some(l) if points_here(l) && l.prestat.gfid != st.gfid => {
                return Err(Error::errno_msg(
                    errno::ESTALE,
                    "linkto file and data file have different gfids",
                ));
            }
            Some(l) if points_here(l) => {}
            // A linkto to somewhere else: replace it unless open.
            Some(l) if open_fd_count(&l.xdata) == 0 => {
                self.unlink_stale_linkto(ctx, hashed, parent, name, l).await;
                self.heal_linkto(ctx, parent, name, hashed, at, &st).await;
            }
            Some(_) => {}
            None if unsure.is_none() => {
                // Our copy of the parent's layout may be older than the
                // file's placement (a fix-layout since): re-read it before
                // deciding that a linkto is missing.
                let fresh = self.refresh_dir(ctx, parent).await.ok();
                let now_hashed = fresh.and_then(|d| self.search(&d.layout, name));
                if let Some(h) = now_hashed.filter(|&h| h != at) {
                    self.heal_linkto(ctx, parent, name, h, at, &st).await;
                }
            }
            None => {}
        }
        Ok(st)
    }

    /// Linkto files on subvolumes other than the name's hashed one, that
    /// nobody has open, are removed (dht_lookup_everywhere_cbk, §3.3):
    /// left by a failed rename, or by a layout that changed since. Our
    /// copy of the parent's layout may be older than a fix-layout, so it
    /// is read again first: a linkto on the name's hashed subvolume by the
    /// current layout is not stray.
    async fn remove_strays(
        &self,
        ctx: &Identity,
        parent: Gfid,
        name: &[u8],
        strays: Vec<usize>,
        all: &[Result<TwoIattRsp>],
    ) {
        if strays.is_empty() {
            return;
        }
        let fresh = self.refresh_dir(ctx, parent).await;
        let hashed = match &fresh {
            Ok(d) => self.search(&d.layout, name),
            Err(e) => {
                tracing::debug!("stray linkto files kept: parent layout: {e}");
                return;
            }
        };
        for i in strays.into_iter().filter(|&i| Some(i) != hashed) {
            if let Some(Ok(link)) = all.get(i) {
                self.unlink_stale_linkto(ctx, i, parent, name, link).await;
            }
        }
    }

    /// Removes a linkto that points nowhere (only if it still is a linkto
    /// and nobody has it open: the brick checks both).
    async fn unlink_stale_linkto(
        &self,
        ctx: &Identity,
        subvol: usize,
        parent: Gfid,
        name: &[u8],
        link: &TwoIattRsp,
    ) {
        let req = UnlinkReq {
            pargfid: parent,
            bname: name.to_vec(),
            xflags: 0,
            xdata: GfxDict::new()
                .with("unlink-only-if-dht-linkto-file", DictValue::Int(1))
                .with("dont-unlink-for-open-fd", DictValue::Int(1)),
        };
        match self.call(subvol, &as_root(ctx), &req).await {
            Ok(_) => tracing::info!(
                "removed stale linkto '{}' (gfid {}) on {}",
                String::from_utf8_lossy(name),
                link.prestat.gfid,
                self.subvol_name(subvol)
            ),
            Err(e) => tracing::debug!("stale linkto unlink: {e}"),
        }
    }

    /// Data found off its hashed subvolume with no linkto there: make one
    /// under the namespace lock, unless the hashed subvolume meanwhile has
    /// an entry of that name.
    async fn heal_linkto(
        &self,
        ctx: &Identity,
        parent: Gfid,
        name: &[u8],
        hashed: usize,
        cached: usize,
        st: &Iatt,
    ) {
        let locks = Self::namespace_locks(hashed, parent, name);
        let Ok(held) = self.lock(ctx, locks).await else {
            return;
        };
        let again = self
            .call(hashed, ctx, &named(parent, name, GfxDict::new()))
            .await;
        if matches!(&again, Err(e) if e.is_enoent()) {
            if let Err(e) = self
                .create_linkto(
                    ctx,
                    hashed,
                    cached,
                    parent,
                    name,
                    st.gfid,
                    Some(st),
                    GfxDict::new(),
                )
                .await
            {
                tracing::warn!("linkto heal for '{}': {e}", String::from_utf8_lossy(name));
            }
        }
        self.unlock(held).await;
    }

    /// Nameless lookup by gfid: a file is wherever its data is, a
    /// directory is merged over all subvolumes.
    pub async fn lookup_gfid(&self, ctx: &Identity, gfid: Gfid) -> Result<Iatt> {
        if self.single() {
            return Ok(self
                .call(0, ctx, &nameless(gfid, GfxDict::new()))
                .await?
                .prestat);
        }
        let all = self
            .call_all(ctx, &nameless(gfid, lookup_xdata(gfid.is_root())))
            .await;
        if all.iter().any(|r| matches!(r, Ok(r) if r.prestat.is_dir())) {
            let view = self.dir_view(&all);
            let d = self.settle_dir(ctx, gfid, view, None).await?;
            return Ok(d);
        }
        let mut first_err = None;
        for (i, r) in all.into_iter().enumerate() {
            match r {
                Ok(r) if is_linkto(&r.prestat, &r.xdata) => {}
                Ok(mut r) => {
                    migration::clean(&mut r.prestat);
                    self.remember_file(gfid, i);
                    return Ok(r.prestat);
                }
                Err(e) => {
                    if first_err.is_none() || is_down(&e) {
                        first_err = Some(e);
                    }
                }
            }
        }
        Err(first_err.unwrap_or_else(|| {
            Error::errno_msg(errno::ESTALE, format!("{gfid}: only linkto files found"))
        }))
    }

    /// The directory context of `gfid`, looking it up if unknown.
    pub(crate) async fn dir(&self, ctx: &Identity, gfid: Gfid) -> Result<Arc<DirCtx>> {
        if let Some(InodeCtx::Dir(d)) = self.known(gfid) {
            return Ok(d);
        }
        let st = Box::pin(self.lookup_gfid(ctx, gfid)).await?;
        if !st.is_dir() {
            return Err(Error::errno_msg(
                errno::ENOTDIR,
                format!("{gfid}: not a directory"),
            ));
        }
        match self.known(gfid) {
            Some(InodeCtx::Dir(d)) => Ok(d),
            _ => Err(Error::errno_msg(errno::ESTALE, format!("{gfid}: vanished"))),
        }
    }

    /// Forgets a directory's layout so that the next use reads it again
    /// (after EIO from the parent-layout guard, or a graph change).
    pub(crate) async fn refresh_dir(&self, ctx: &Identity, gfid: Gfid) -> Result<Arc<DirCtx>> {
        self.forget(gfid);
        self.dir(ctx, gfid).await
    }

    /// The named lookup on every subvolume, in volfile order; a reply we
    /// already have (`known`: subvolume and its answer) is not asked again.
    async fn named_on_all(
        &self,
        ctx: &Identity,
        parent: Gfid,
        name: &[u8],
        known: Option<(usize, Result<TwoIattRsp>)>,
    ) -> Vec<Result<TwoIattRsp>> {
        let req = named(parent, name, lookup_xdata(false));
        let (known_at, mut known) = match known {
            Some((i, r)) => (Some(i), Some(r)),
            None => (None, None),
        };
        let asks = (0..self.subvols.len()).map(|i| {
            let reuse = if Some(i) == known_at {
                known.take()
            } else {
                None
            };
            let req = &req;
            async move {
                match reuse {
                    Some(r) => r,
                    None => self.call(i, ctx, req).await,
                }
            }
        });
        futures::future::join_all(asks).await
    }

    /// Directory lookup (§4.4) from the named lookup's replies of every
    /// subvolume, healing what is missing. Replies with no directory, or
    /// with a data file, are decided by lookup-everywhere's rules instead
    /// (dht_lookup_dir_cbk: "a non-directory on any subvol triggers
    /// lookup-everywhere"), so that a file found there is answered and a
    /// subvolume that is down makes the answer ENOTCONN, not ENOENT.
    /// `hashed`: the name's hashed subvolume, if the layout has one.
    async fn lookup_dir_named(
        &self,
        ctx: &Identity,
        parent: Gfid,
        name: &[u8],
        hashed: Option<usize>,
        all: Vec<Result<TwoIattRsp>>,
    ) -> Result<Iatt> {
        let dir = all.iter().any(|r| matches!(r, Ok(r) if r.prestat.is_dir()));
        let data = all
            .iter()
            .any(|r| matches!(r, Ok(r) if !r.prestat.is_dir() && !is_linkto(&r.prestat, &r.xdata)));
        if !dir || data {
            return self.decide_everywhere(ctx, parent, name, hashed, all).await;
        }
        self.settle_named_dir(ctx, parent, name, all).await
    }

    /// A directory found by a named lookup: merged, healed, remembered.
    async fn settle_named_dir(
        &self,
        ctx: &Identity,
        parent: Gfid,
        name: &[u8],
        all: Vec<Result<TwoIattRsp>>,
    ) -> Result<Iatt> {
        let view = self.dir_view(&all);
        if !view.stat.is_valid() {
            return Err(Error::errno_msg(
                errno::ENOENT,
                format!("'{}': no directory found", String::from_utf8_lossy(name)),
            ));
        }
        self.settle_dir(ctx, view.stat.gfid, view, Some((parent, name)))
            .await
    }

    fn dir_view(&self, all: &[Result<TwoIattRsp>]) -> DirView {
        let n = self.subvols.len();
        let mut v = DirView {
            stat: Iatt::default(),
            layout: Layout {
                ranges: vec![None; n],
            },
            mds: None,
            missing: Vec::new(),
            present: vec![false; n],
            unhealthy: false,
        };
        let mut merged = None;
        for (i, r) in all.iter().enumerate() {
            match r {
                Ok(r) if r.prestat.is_dir() => {
                    merged = Some(merge_dir_iatt(merged, &r.prestat));
                    v.present[i] = true;
                    v.layout.ranges[i] = r
                        .xdata
                        .get(LAYOUT_XATTR)
                        .and_then(|x| x.as_bytes())
                        .and_then(Range::decode);
                    if r.xdata.get(MDS_XATTR).is_some() {
                        v.mds = Some(i);
                    }
                    if let Some(c) = r.xdata.get(COMMITHASH_XATTR).and_then(parse_commithash) {
                        self.commit_hash.store(c, Ordering::Relaxed);
                    }
                }
                Ok(_) => v.unhealthy = true, // not a directory there
                Err(e) if is_gone(e) => v.missing.push(i),
                Err(_) => v.unhealthy = true,
            }
        }
        if let Some(m) = merged {
            v.stat = m;
        }
        v
    }

    /// Heals what a directory view lacks and remembers the directory.
    async fn settle_dir(
        &self,
        ctx: &Identity,
        gfid: Gfid,
        mut view: DirView,
        entry: Option<(Gfid, &[u8])>,
    ) -> Result<Iatt> {
        if !view.unhealthy && !view.missing.is_empty() {
            if let Some((parent, name)) = entry {
                self.heal_missing_dir(ctx, parent, name, &view).await;
                for &i in &view.missing {
                    view.present[i] = true;
                }
            }
        }
        if !view.unhealthy && !view.layout.is_complete() {
            match self.heal_layout(ctx, gfid, &view.present).await {
                Ok(l) => view.layout = l,
                Err(e) => tracing::warn!("layout heal of {gfid}: {e}"),
            }
        }
        self.remember_dir(gfid, DirCtx::new(view.layout, view.mds));
        Ok(view.stat)
    }

    /// Creates a directory on the subvolumes that lack it (§2.6 step 1).
    async fn heal_missing_dir(&self, ctx: &Identity, parent: Gfid, name: &[u8], view: &DirView) {
        let Ok(pdir) = self.dir(ctx, parent).await else {
            return;
        };
        let Some(h) = self.search(&pdir.layout, name) else {
            return;
        };
        let Ok(held) = self.lock(ctx, Self::namespace_locks(h, parent, name)).await else {
            return;
        };
        let req = MkdirReq {
            pargfid: parent,
            mode: view.stat.mode,
            umask: 0,
            bname: name.to_vec(),
            xdata: GfxDict::new().with("gfid-req", DictValue::Gfid(view.stat.gfid)),
        };
        let root = as_root(ctx);
        for &i in &view.missing {
            match self.call(i, &root, &req).await {
                Ok(_) => tracing::info!(
                    "healed directory '{}' on {}",
                    String::from_utf8_lossy(name),
                    self.subvol_name(i)
                ),
                Err(e) if e.errno() == errno::EEXIST => {}
                Err(e) => tracing::warn!("directory heal on {}: {e}", self.subvol_name(i)),
            }
        }
        self.unlock(held).await;
    }

    /// Writes a fresh layout over a holed or overlapping one, under the
    /// layout lock on every subvolume holding the directory (§2.6 step 3).
    async fn heal_layout(&self, ctx: &Identity, gfid: Gfid, present: &[bool]) -> Result<Layout> {
        let subvols: Vec<usize> = (0..present.len()).filter(|&i| present[i]).collect();
        let held = self.lock(ctx, self.layout_locks(gfid, &subvols)).await?;
        let result = async {
            let all = self
                .call_all(ctx, &nameless(gfid, lookup_xdata(gfid.is_root())))
                .await;
            let view = self.dir_view(&all);
            if view.layout.is_complete() {
                return Ok(view.layout); // someone else healed it
            }
            let eligible: Vec<bool> = (0..present.len())
                .map(|i| view.present[i] && !self.is_decommissioned(i))
                .collect();
            let key = self.ancestry_path(ctx, gfid).await;
            let new = self.new_layout(ctx, gfid, &key, &eligible, 1);
            self.write_layout(ctx, gfid, &view.layout, &new, &view.present)
                .await?;
            tracing::info!("healed the layout of {key} ({gfid})");
            Ok(new)
        }
        .await;
        self.unlock(held).await;
        result
    }

    /// The layout the official client gives a new directory (§2.4).
    pub(crate) fn new_layout(
        &self,
        ctx: &Identity,
        gfid: Gfid,
        path: &str,
        eligible: &[bool],
        commit: u32,
    ) -> Layout {
        let names: Vec<&str> = self.subvols.iter().map(|b| b.name()).collect();
        let weights = self.weights(ctx, eligible);
        let key = if self.opts.randomize_by_gfid {
            gfid.to_string()
        } else {
            path.to_string()
        };
        crate::dht_layout::weighted_directory_layout(&key, &names, eligible, &weights, commit)
    }

    /// SETXATTR of each subvolume's range where it differs from `old`.
    pub(crate) async fn write_layout(
        &self,
        ctx: &Identity,
        gfid: Gfid,
        old: &Layout,
        new: &Layout,
        present: &[bool],
    ) -> Result<()> {
        let root = as_root(ctx);
        let writes = (0..self.subvols.len())
            .filter(|&i| present[i])
            .map(|i| {
                let r = new.ranges[i].unwrap_or(Range {
                    commit: new.ranges.iter().flatten().next().map_or(1, |r| r.commit),
                    hash_type: 0,
                    start: 0,
                    stop: 0,
                });
                (i, r)
            })
            .filter(|(i, r)| old.ranges[*i] != Some(*r))
            .map(|(i, r)| {
                let req = SetxattrReq {
                    gfid,
                    flags: 0,
                    dict: layout_dict(&r),
                    xdata: internal_xdata(),
                };
                let root = &root;
                async move { self.call(i, root, &req).await }
            });
        for r in futures::future::join_all(writes).await {
            r?;
        }
        Ok(())
    }

    /// The path of a directory as the bricks know it (posix answers the
    /// virtual xattr `glusterfs.ancestry.path` from its gfid handles).
    pub(crate) async fn ancestry_path(&self, ctx: &Identity, gfid: Gfid) -> String {
        if gfid.is_root() {
            return "/".into();
        }
        const KEY: &str = "glusterfs.ancestry.path";
        let req = GetxattrReq {
            gfid,
            namelen: KEY.len() as u32,
            name: KEY.as_bytes().to_vec(),
            xdata: GfxDict::new(),
        };
        for i in 0..self.subvols.len() {
            if let Ok(r) = self.call(i, &as_root(ctx), &req).await {
                if let Some(v) = r.dict.get(KEY).and_then(|v| v.as_bytes()) {
                    let v = v.split(|&c| c == 0).next().unwrap_or_default();
                    if let Ok(s) = std::str::from_utf8(v) {
                        return s.to_string();
                    }
                }
            }
        }
        format!("<gfid:{gfid}>")
    }

    /// Locks for a layout write on a new directory: WR dht.layout.heal at
    /// its hashed subvolume only (§5.4 step 4).
    pub(crate) fn new_dir_lock(&self, dir: Gfid, hashed: usize) -> Vec<Lock> {
        self.layout_locks(dir, &[hashed])
    }
}

/// The path of `name` inside `parent_path`.
pub(crate) fn child_path(parent_path: &str, name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    if parent_path == "/" {
        format!("/{name}")
    } else {
        format!("{parent_path}/{name}")
    }
}

/// "1479840905\0" → 1479840905.
fn parse_commithash(v: &DictValue) -> Option<u32> {
    let b = v.as_bytes()?;
    let b = b.split(|&c| c == 0).next()?;
    std::str::from_utf8(b).ok()?.trim().parse().ok()
}

fn open_fd_count(xdata: &GfxDict) -> u64 {
    xdata
        .get("glusterfs.open-fd-count")
        .and_then(DictValue::as_u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commithash_and_paths() {
        let c = DictValue::Ptr(b"1479840905\0".to_vec());
        assert_eq!(parse_commithash(&c), Some(1479840905));
        assert_eq!(child_path("/", b"a"), "/a");
        assert_eq!(child_path("/a", b"b"), "/a/b");
    }
}
