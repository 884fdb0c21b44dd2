//! cluster/distribute (DHT). Present in every 10.x volume; with one
//! subvolume it only keeps directory layouts the way the official client
//! writes them, so that adding bricks later finds well-formed directories.
//! Placement over several subvolumes is not implemented yet and such
//! volumes are refused when the graph is built.

use crate::error::Result;
use crate::protocol_client::Brick;
use bytes::Bytes;
use proto::dict::{DictValue, GfxDict};
use proto::fops::SetxattrReq;
use proto::rpc_msg::Identity;
use proto::Gfid;
use std::sync::Arc;

/// Name of the layout xattr (option `xattr-name`, default).
pub const LAYOUT_XATTR: &str = "trusted.glusterfs.dht";

pub struct Distribute {
    pub name: String,
    pub subvols: Vec<Arc<Brick>>,
}

impl Distribute {
    /// The subvolume that holds (or will hold) `name` in `parent`.
    pub fn hashed(&self, _parent: Gfid, _name: &[u8]) -> &Arc<Brick> {
        &self.subvols[0]
    }

    /// The subvolume holding the data of an inode.
    pub fn cached(&self, _gfid: Gfid) -> &Arc<Brick> {
        &self.subvols[0]
    }

    /// Writes the layout of a directory just made: with one subvolume the
    /// whole hash range, commit 0, type 0 (what the official client writes,
    /// checked on a brick with getfattr).
    pub async fn write_new_layout(&self, ctx: &Identity, dir: Gfid) -> Result<()> {
        let mut layout = Vec::with_capacity(16);
        for v in [0u32, 0, 0, u32::MAX] {
            layout.extend_from_slice(&v.to_be_bytes());
        }
        let req = SetxattrReq {
            gfid: dir,
            flags: 0,
            dict: GfxDict::new().with(LAYOUT_XATTR, DictValue::Ptr(layout)),
            xdata: GfxDict::new(),
        };
        self.subvols[0].fop(ctx, &req, Bytes::new()).await?;
        Ok(())
    }
}
