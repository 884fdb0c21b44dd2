//! The GlusterFS volume client library: "what libgfapi should have been".
//!
//! ```text
//! Volume::connect(servers, volume, options)
//!   -> glusterd: GETSPEC (volfile), PORTBYBRICK
//!   -> each brick: SETVOLUME
//!   -> gfid-addressed fops through the translator graph
//! Volume::close()  -- instant: every timer belongs to its connection
//! ```

mod attrs;
pub mod client_xl;
pub mod dht_hash;
pub mod dht_layout;
pub mod distribute;
pub mod error;
pub mod fd;
pub mod graph;
mod graph_switch;
pub mod memory_brick;
pub mod mgmt;
pub mod protocol_client;
pub mod registry;
pub mod replicate;
pub mod url;
pub mod utime;
pub mod volfile;
pub mod volume;
pub mod xlator;

pub use error::{Error, Result};
pub use fd::Fd;
pub use proto::iatt::{Flock, Iatt, Statfs};
pub use proto::Gfid;
pub use volume::{Ctx, DirEntry, Entry, Renamed, SetAttr, SetTime, Volume, VolumeOptions};
