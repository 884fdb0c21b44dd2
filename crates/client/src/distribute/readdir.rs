//! Listing a directory over several subvolumes (§6): subvolumes one after
//! the other in volfile order, linkto files dropped, each directory entry
//! taken only from the subvolume its name hashes to, and offsets that say
//! which subvolume to resume on. The offsets use the official client's
//! encoding (§6.2), so telldir values match between the two clients.

use super::{is_linkto, merge_dir_iatt, migration, Distribute, LINKTO_XATTR};
use crate::error::Result;
use crate::xlator::FdRef;
use proto::dict::{DictValue, GfxDict};
use proto::fops::DirPEntry;
use proto::rpc_msg::Identity;

const TOP: u64 = 1 << 62;
const DT_DIR: u32 = 4;

/// Brick offset ⇄ (offset, leaf index) for `max` leaves.
#[derive(Debug, Clone, Copy)]
pub struct DoffCodec {
    max: u64,
    bits: u32,
}

impl DoffCodec {
    pub fn new(leaves: usize) -> DoffCodec {
        let max = leaves.max(1) as u64;
        let bits = 64 - (max - 1).leading_zeros(); // ceil(log2(max))
        DoffCodec { max, bits }
    }

    fn hi_mask(&self) -> u64 {
        !((i64::MAX as u64) >> (self.bits + 1))
    }

    pub fn encode(&self, x: u64, id: usize) -> u64 {
        let id = id as u64;
        if x == 0 || x == u64::MAX || self.max == 1 {
            return x;
        }
        if x & self.hi_mask() == 0 {
            x * self.max + id
        } else {
            TOP | ((x >> 1) & (!0u64 << self.bits)) | id
        }
    }

    pub fn decode(&self, y: u64) -> (u64, usize) {
        if y == 0 || y == u64::MAX || self.max == 1 {
            return (y, 0);
        }
        if y & TOP != 0 {
            let id = y & ((1u64 << self.bits) - 1);
            (((y & !TOP) & (!0u64 << self.bits)) << 1, id as usize)
        } else {
            (y / self.max, (y % self.max) as usize)
        }
    }
}

/// One batch of `fd`'s entries after `offset`, read through the
/// subvolumes where it is open (`present[i]`; false: the directory is
/// missing there).
pub(crate) async fn readdirp(
    dht: &Distribute,
    ctx: &Identity,
    fd: &FdRef,
    present: &[bool],
    offset: u64,
    size: u32,
) -> Result<Vec<DirPEntry>> {
    let dir = fd.gfid();
    let codec = DoffCodec::new(present.len());
    let (mut off, mut idx) = codec.decode(offset);
    let layout = match dht.dir(ctx, dir).await {
        Ok(d) => Some(d.layout.clone()),
        Err(e) => {
            tracing::debug!("readdir of {dir} without layout: {e}");
            None
        }
    };
    let xdata = || GfxDict::new().with(LINKTO_XATTR, DictValue::Uint(256));
    while idx < present.len() {
        if !present[idx] {
            (idx, off) = (idx + 1, 0);
            continue;
        }
        let batch = dht.subvols[idx]
            .readdirp(ctx, fd, off, size, xdata())
            .await?
            .entries
            .0;
        if batch.is_empty() {
            (idx, off) = (idx + 1, 0);
            continue;
        }
        let mut out = Vec::with_capacity(batch.len());
        for e in batch {
            off = e.d_off;
            if is_linkto(&e.stat, &e.dict) {
                continue;
            }
            let is_dir = if e.stat.is_valid() {
                e.stat.is_dir()
            } else {
                e.d_type == DT_DIR
            };
            let mut stat = e.stat;
            if is_dir {
                let home = if dht.opts.readdir_optimize {
                    None
                } else {
                    layout.as_ref().and_then(|l| dht.search(l, &e.name))
                };
                // No hashed subvolume, or one the directory is not open on
                // (down at opendir): the first one it is open on lists the
                // entry (dht_readdirp_cbk's first_up_subvol).
                let home = home
                    .filter(|&h| present.get(h) == Some(&true))
                    .or_else(|| present.iter().position(|&p| p));
                if home != Some(idx) {
                    continue;
                }
                if stat.is_valid() {
                    stat = merge_dir_iatt(None, &stat);
                }
            } else if stat.is_valid() {
                migration::clean(&mut stat);
                dht.remember_file(stat.gfid, idx);
            }
            out.push(DirPEntry {
                d_off: codec.encode(e.d_off, idx),
                stat,
                ..e
            });
        }
        if !out.is_empty() {
            return Ok(out);
        }
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_small_and_huge() {
        for leaves in [2usize, 3, 4, 6, 12] {
            let c = DoffCodec::new(leaves);
            for id in 0..leaves {
                for x in [1u64, 7, 12345, 1 << 40] {
                    assert_eq!(c.decode(c.encode(x, id)), (x, id), "{leaves} {x}");
                }
                // ext4 63-bit hash cookies take the "huge" path and lose
                // their low bits+1 bits, as upstream's do.
                let x = 0x6f3a_1234_5678_9abc_u64;
                let (back, got) = c.decode(c.encode(x, id));
                assert_eq!(got, id);
                assert!(back <= x && x - back < (1 << (c.bits + 1)));
            }
        }
        assert_eq!(DoffCodec::new(2).encode(0, 1), 0);
        assert_eq!(DoffCodec::new(1).encode(99, 0), 99);
    }

    #[test]
    fn live_encoding_of_an_ext4_offset() {
        // distribute.md §6.2: with 2 leaves, bits = 1; an ext4 cookie of
        // the brick takes the TOP path and keeps the leaf in bit 0.
        let c = DoffCodec::new(2);
        let y = c.encode(0x7fff_ffff_ffff_ffff, 1);
        assert_eq!(y, TOP | (0x3fff_ffff_ffff_ffff & !1) | 1);
    }
}
