//! The DHT lock domains (§5.6). All inodelks cover the whole file and
//! block; several are taken one at a time in (subvolume name, gfid)
//! order so that two clients never wait on each other crosswise. Each
//! operation has its own lock owner.

use super::{as_root, Distribute};
use crate::error::Result;
use proto::dict::GfxDict;
use proto::fops::{EntrylkReq, InodelkReq};
use proto::iatt::{lock, Flock};
use proto::rpc_msg::Identity;
use proto::Gfid;

pub(crate) const LAYOUT_HEAL: &str = "dht.layout.heal";
pub(crate) const ENTRY_SYNC: &str = "dht.entry.sync";
pub(crate) const FILE_MIGRATE: &str = "dht.file.migrate";

#[derive(Clone, Debug)]
pub(crate) enum Lock {
    Inode {
        subvol: usize,
        gfid: Gfid,
        domain: &'static str,
        kind: u32,
    },
    Entry {
        subvol: usize,
        dir: Gfid,
        name: Vec<u8>,
    },
}

/// Locks taken by one operation, released by [`Distribute::unlock`].
pub(crate) struct Held {
    ctx: Identity,
    locks: Vec<Lock>,
}

impl Distribute {
    /// An identity for one operation's locks: root, with a fresh owner.
    pub(crate) fn lock_ctx(ctx: &Identity) -> Identity {
        let mut c = as_root(ctx);
        c.lk_owner = Gfid::random().0[..8].to_vec();
        c
    }

    /// Takes `locks` in order; on failure releases what was taken.
    pub(crate) async fn lock(&self, ctx: &Identity, locks: Vec<Lock>) -> Result<Held> {
        let mut held = Held {
            ctx: Self::lock_ctx(ctx),
            locks: Vec::with_capacity(locks.len()),
        };
        for l in locks {
            if let Err(e) = self.lock_one(&held.ctx, &l, true).await {
                self.unlock(held).await;
                return Err(e);
            }
            held.locks.push(l);
        }
        Ok(held)
    }

    /// Releases in reverse order. Failures are logged: the brick drops a
    /// connection's locks when it goes away anyway.
    pub(crate) async fn unlock(&self, held: Held) {
        for l in held.locks.iter().rev() {
            if let Err(e) = self.lock_one(&held.ctx, l, false).await {
                tracing::warn!("DHT unlock {l:?}: {e}");
            }
        }
    }

    async fn lock_one(&self, ctx: &Identity, l: &Lock, take: bool) -> Result<()> {
        match l {
            Lock::Inode {
                subvol,
                gfid,
                domain,
                kind,
            } => {
                let kind = if take { *kind } else { lock::UNLCK };
                let req = InodelkReq {
                    gfid: *gfid,
                    cmd: lock::SETLKW,
                    kind,
                    flock: Flock {
                        kind,
                        whence: 0,
                        start: 0,
                        len: 0,
                        pid: ctx.pid as u32,
                        lk_owner: ctx.lk_owner.clone(),
                    },
                    volume: domain.as_bytes().to_vec(),
                    xdata: GfxDict::new(),
                };
                self.call(*subvol, ctx, &req).await?;
            }
            Lock::Entry { subvol, dir, name } => {
                let req = EntrylkReq {
                    gfid: *dir,
                    cmd: if take {
                        lock::ENTRYLK_LOCK
                    } else {
                        lock::ENTRYLK_UNLOCK
                    },
                    kind: lock::WRLCK,
                    namelen: name.len() as u64,
                    name: name.clone(),
                    volume: ENTRY_SYNC.as_bytes().to_vec(),
                    xdata: GfxDict::new(),
                };
                self.call(*subvol, ctx, &req).await?;
            }
        }
        Ok(())
    }

    /// The namespace lock of `name` in `parent` at `subvol`: RD inodelk on
    /// the parent in dht.layout.heal, then the entry lock in
    /// dht.entry.sync (what mkdir, rmdir, rename and heals take).
    pub(crate) fn namespace_locks(subvol: usize, parent: Gfid, name: &[u8]) -> Vec<Lock> {
        vec![
            Lock::Inode {
                subvol,
                gfid: parent,
                domain: LAYOUT_HEAL,
                kind: lock::RDLCK,
            },
            Lock::Entry {
                subvol,
                dir: parent,
                name: name.to_vec(),
            },
        ]
    }

    /// WR dht.layout.heal on a directory at each of `subvols`, in
    /// subvolume-name order.
    pub(crate) fn layout_locks(&self, dir: Gfid, subvols: &[usize]) -> Vec<Lock> {
        let mut s = subvols.to_vec();
        s.sort_by(|a, b| self.subvol_name(*a).cmp(self.subvol_name(*b)));
        s.into_iter()
            .map(|subvol| Lock::Inode {
                subvol,
                gfid: dir,
                domain: LAYOUT_HEAL,
                kind: lock::WRLCK,
            })
            .collect()
    }

    /// Orders lock groups by (subvolume name, gfid), as upstream does.
    pub(crate) fn sort_key(&self, subvol: usize, gfid: Gfid) -> (String, [u8; 16]) {
        (self.subvol_name(subvol).to_string(), gfid.0)
    }
}
