//! Free space per subvolume: `min-free-disk` / `min-free-inodes` decide
//! whether a new file may go to its hashed subvolume (§7.3), and brick
//! sizes weight the ranges of new directories (§2.4).

use super::Distribute;
use parking_lot::Mutex;
use proto::fops::StatfsReq;
use proto::iatt::Statfs;
use proto::rpc_msg::Identity;
use proto::Gfid;
use std::time::{Duration, Instant};

/// `min-free-disk`: below 100 a percentage, otherwise bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeLimit {
    Percent(u64),
    Bytes(u64),
}

impl FreeLimit {
    /// "10%", "10", "20GB", "1048576".
    pub fn parse(v: &str) -> Option<FreeLimit> {
        let v = v.trim();
        if let Some(p) = v.strip_suffix('%') {
            return p
                .trim()
                .parse::<f64>()
                .ok()
                .map(|p| FreeLimit::Percent(p as u64));
        }
        let up = v.to_ascii_uppercase();
        let digits = up
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .count();
        let n: f64 = up[..digits].parse().ok()?;
        let mult: u64 = match up[digits..].trim() {
            "" | "B" => 1,
            "KB" | "K" => 1 << 10,
            "MB" | "M" => 1 << 20,
            "GB" | "G" => 1 << 30,
            "TB" | "T" => 1 << 40,
            _ => return None,
        };
        if mult == 1 && n < 100.0 {
            Some(FreeLimit::Percent(n as u64))
        } else {
            Some(FreeLimit::Bytes((n * mult as f64) as u64))
        }
    }
}

const REFRESH: Duration = Duration::from_secs(1);

pub(crate) struct SpaceCache {
    state: Mutex<(Option<Instant>, Vec<Option<Statfs>>)>,
}

impl SpaceCache {
    pub fn new(n: usize) -> SpaceCache {
        SpaceCache {
            state: Mutex::new((None, vec![None; n])),
        }
    }
}

/// Adds one brick's statfs to a sum, in the larger block size (§7.1).
pub(crate) fn add_statfs(acc: Option<Statfs>, s: Statfs) -> Statfs {
    let Some(mut a) = acc else { return s };
    let scale = |v: u64, from: u64, to: u64| {
        if to == 0 || from == to {
            v
        } else {
            (u128::from(v) * u128::from(from) / u128::from(to)) as u64
        }
    };
    let frsize = a.frsize.max(s.frsize);
    let (af, sf) = (a.frsize, s.frsize);
    a.blocks = scale(a.blocks, af, frsize).saturating_add(scale(s.blocks, sf, frsize));
    a.bfree = scale(a.bfree, af, frsize).saturating_add(scale(s.bfree, sf, frsize));
    a.bavail = scale(a.bavail, af, frsize).saturating_add(scale(s.bavail, sf, frsize));
    a.frsize = frsize;
    a.bsize = a.bsize.max(s.bsize);
    a.files = a.files.saturating_add(s.files);
    a.ffree = a.ffree.saturating_add(s.ffree);
    a.favail = a.favail.saturating_add(s.favail);
    a.fsid = s.fsid;
    a.flag = s.flag;
    a.namemax = s.namemax;
    a
}

impl Distribute {
    /// The cached statfs of every subvolume, refreshed when older than a
    /// second. Like the official client the refresh happens in the
    /// background; the current operation uses what is known.
    fn space(&self, ctx: &Identity) -> Vec<Option<Statfs>> {
        let mut st = self.space.state.lock();
        let stale = st.0.is_none_or(|t| t.elapsed() >= REFRESH);
        if stale {
            st.0 = Some(Instant::now());
            if let (Ok(rt), Some(me)) = (tokio::runtime::Handle::try_current(), self.me()) {
                let ctx = super::as_root(ctx);
                rt.spawn(async move {
                    let req = StatfsReq {
                        gfid: Gfid::ROOT,
                        xdata: Default::default(),
                    };
                    let all = me.call_all(&ctx, &req).await;
                    let mut st = me.space.state.lock();
                    for (slot, r) in st.1.iter_mut().zip(all) {
                        if let Ok(r) = r {
                            *slot = Some(r.statfs);
                        }
                    }
                });
            }
        }
        st.1.clone()
    }

    /// Whether subvolume `i` is below the free space or inode limits.
    fn filled_in(&self, s: &Statfs) -> bool {
        let disk = match self.opts.min_free_disk {
            FreeLimit::Percent(p) => s.blocks > 0 && s.bavail.saturating_mul(100) / s.blocks < p,
            FreeLimit::Bytes(b) => s.bavail.saturating_mul(s.frsize.max(1)) < b,
        };
        let inodes =
            s.files > 0 && s.ffree.saturating_mul(100) / s.files < self.opts.min_free_inodes;
        disk || inodes
    }

    /// Which subvolumes are below the free space or inode limits, as far
    /// as known (an unknown one is not).
    pub(crate) fn filled(&self, ctx: &Identity) -> Vec<bool> {
        self.space(ctx)
            .iter()
            .map(|s| s.as_ref().is_some_and(|s| self.filled_in(s)))
            .collect()
    }

    /// Where a new file named for `hashed` should put its data: `hashed`
    /// unless it is filled and another subvolume has room (§7.3).
    pub(crate) fn placement(&self, ctx: &Identity, hashed: usize) -> usize {
        let space = self.space(ctx);
        let Some(Some(h)) = space.get(hashed) else {
            return hashed;
        };
        if !self.filled_in(h) {
            return hashed;
        }
        // The roomiest subvolume above the limits; failing that the
        // roomiest with a free inode; failing that the hashed one.
        let avail = |s: &Statfs| s.bavail.saturating_mul(s.frsize.max(1));
        let roomiest = |want_unfilled: bool| {
            let mut best: Option<(usize, u64)> = None;
            for (i, s) in space.iter().enumerate() {
                let Some(s) = s else { continue };
                if self.is_decommissioned(i) || s.ffree == 0 || (want_unfilled && self.filled_in(s))
                {
                    continue;
                }
                if best.is_none_or(|(_, a)| avail(s) > a) {
                    best = Some((i, avail(s)));
                }
            }
            best.map(|(i, _)| i)
        };
        roomiest(true).or_else(|| roomiest(false)).unwrap_or(hashed)
    }

    /// Range weights for a new directory: brick sizes in MiB when every
    /// eligible brick's size is known (weighted-rebalance), else equal.
    pub(crate) fn weights(&self, ctx: &Identity, eligible: &[bool]) -> Vec<u64> {
        let space = self.space(ctx);
        let chunks: Vec<Option<u64>> = space
            .iter()
            .map(|s| {
                s.as_ref().and_then(|s| {
                    let per_mib = (1u64 << 20) / s.bsize.max(1);
                    (per_mib > 0 && s.blocks > 0).then(|| s.blocks.div_ceil(per_mib))
                })
            })
            .collect();
        let known = eligible.iter().zip(&chunks).all(|(e, c)| !e || c.is_some());
        (0..eligible.len())
            .map(
                |i| match (self.opts.weighted_rebalance && known, chunks[i]) {
                    (true, Some(c)) => c,
                    _ => 1,
                },
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_limits_parse_as_glusterd_writes_them() {
        assert_eq!(FreeLimit::parse("10%"), Some(FreeLimit::Percent(10)));
        assert_eq!(FreeLimit::parse("99"), Some(FreeLimit::Percent(99)));
        assert_eq!(FreeLimit::parse("1GB"), Some(FreeLimit::Bytes(1 << 30)));
        assert_eq!(FreeLimit::parse("4096"), Some(FreeLimit::Bytes(4096)));
        assert_eq!(FreeLimit::parse("lots"), None);
    }

    #[test]
    fn statfs_sums_in_the_larger_block_size() {
        let a = Statfs {
            frsize: 4096,
            bsize: 4096,
            blocks: 100,
            bfree: 50,
            bavail: 40,
            files: 10,
            ffree: 5,
            ..Statfs::default()
        };
        let b = Statfs {
            frsize: 1024,
            bsize: 1024,
            blocks: 400,
            ..a
        };
        let s = add_statfs(Some(a), b);
        assert_eq!((s.frsize, s.blocks, s.files), (4096, 200, 20));
    }
}
