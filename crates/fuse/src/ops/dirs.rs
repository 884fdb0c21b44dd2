//! Directories: opendir, readdir and readdirplus, releasedir, fsyncdir;
//! and statfs.

use super::{Node, Result};
use crate::fs::{DirStream, FsState, Handle};
use client::{Ctx, DirEntry, Gfid, Iatt, Statfs};
use std::collections::VecDeque;
use std::sync::Arc;

pub async fn opendir(s: Arc<FsState>, c: Ctx, ino: u64) -> Result<u64> {
    let fd = s.vol.opendir(&c, s.gfid(ino)?).await?;
    Ok(s.add_handle(Handle::Dir(Arc::new(DirStream {
        fd,
        pending: Default::default(),
    }))))
}

/// RELEASEDIR, answered at once by the caller.
pub async fn releasedir(s: Arc<FsState>, fh: u64) {
    if let Some(Handle::Dir(d)) = s.take_handle(fh) {
        d.fd.release().await;
    }
}

pub async fn fsyncdir(s: Arc<FsState>, c: Ctx, fh: u64, datasync: bool) -> Result<()> {
    s.dir(fh)?.fd.fsync(&c, datasync).await
}

pub async fn statfs(s: Arc<FsState>, c: Ctx) -> Result<Statfs> {
    s.vol.statfs(&c, Gfid::ROOT).await
}

/// READDIR (`plus` false) or READDIRPLUS of directory node `ino` from
/// cookie `offset`: the entries to hand to the kernel, one by one, until
/// its buffer is full (see [`DirBatch::full`]).
pub async fn readdir(
    s: Arc<FsState>,
    c: Ctx,
    ino: u64,
    fh: u64,
    offset: u64,
    plus: bool,
) -> Result<DirBatch> {
    let dir = s.dir(fh)?;
    let entries = s.dir_entries(&c, &dir, offset).await?;
    Ok(DirBatch {
        s,
        dir,
        entries,
        last: offset,
        handed: None,
        dir_ino: ino,
        plus,
    })
}

/// Entries fetched for one READDIR(PLUS) request.
pub struct DirBatch {
    s: Arc<FsState>,
    dir: Arc<DirStream>,
    entries: VecDeque<DirEntry>,
    /// The cookie of the last entry the kernel took, and of the one
    /// handed out last (taken unless handed back).
    last: u64,
    handed: Option<u64>,
    dir_ino: u64,
    plus: bool,
}

/// One directory entry for the kernel: its node id (READDIRPLUS: the
/// kernel takes a reference to it unless it is 0), the cookie of the
/// next, its name, its mode (0 if unknown) and, for READDIRPLUS, its
/// attributes.
pub struct DirItem {
    pub ino: u64,
    pub offset: u64,
    pub name: Vec<u8>,
    pub mode: u32,
    pub attr: Node,
    entry: DirEntry,
}

impl DirBatch {
    /// The next entry for the kernel. For READDIRPLUS this counts the
    /// kernel's reference to the node; hand the entry back with
    /// [`DirBatch::full`] if the kernel did not take it.
    pub fn next_item(&mut self) -> Option<DirItem> {
        if let Some(taken) = self.handed.take() {
            self.last = taken;
        }
        let e = self.entries.pop_front()?;
        self.handed = Some(e.d_off);
        let item = if self.plus {
            self.plus_item(e)
        } else {
            DirItem {
                ino: if e.name == b"." {
                    self.dir_ino
                } else {
                    e.d_ino
                },
                offset: e.d_off,
                name: e.name.clone(),
                mode: e.stat.map_or(0, |st| st.mode),
                attr: Node {
                    ino: 0,
                    st: Iatt::default(),
                    ttl: self.s.timeouts.entry,
                },
                entry: e,
            }
        };
        Some(item)
    }

    fn plus_item(&self, e: DirEntry) -> DirItem {
        let s = &self.s;
        let dot = e.name == b"." || e.name == b"..";
        // The kernel takes no reference for . and .., nor for entries
        // without attributes (node 0); attributes of a file with writes in
        // flight would be stale.
        let stat = e.stat.filter(|st| !s.writes_pending(&st.gfid));
        let (node, attr_ino, st) = match (stat, dot) {
            (Some(st), false) => {
                let n = s.remember(st.gfid);
                (n, n, st)
            }
            (Some(st), true) => {
                let i = if e.name == b"." { self.dir_ino } else { st.ino };
                (0, i, st)
            }
            (None, true) => (0, 0, Iatt::default()),
            (None, false) => (0, e.d_ino, Iatt::default()),
        };
        DirItem {
            ino: if dot { attr_ino } else { node },
            offset: e.d_off,
            name: e.name.clone(),
            mode: st.mode,
            attr: Node {
                ino: attr_ino,
                st,
                ttl: s.timeouts.entry,
            },
            entry: e,
        }
    }

    /// The kernel's buffer is full: `item` (the last one handed out) and
    /// the rest wait for the next request, which continues from the entry
    /// before it.
    pub fn full(mut self, item: DirItem) {
        if self.plus && !matches!(&item.name[..], b"." | b"..") && item.ino != 0 {
            self.s.forget(item.ino, 1);
        }
        self.entries.push_front(item.entry);
        *self.dir.pending.lock() = Some((self.last, self.entries));
    }
}
