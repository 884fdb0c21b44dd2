//! GlusterFS wire types: ONC RPC messages and credentials, the two dict
//! encodings, attribute structures, the management programs (DUMP, GETSPEC,
//! PORTBYBRICK, SETVOLUME) and the gfx (v400) file-operation program.
//!
//! Pure data and codecs, no I/O. Every decoder is bounded by the record it
//! is given (see the `xdr` crate) and never panics.

pub mod dict;
pub mod errno;
pub mod fops;
pub mod gfid;
pub mod iatt;
pub mod mgmt;
pub mod rpc_msg;

pub use dict::{DictValue, GfxDict, OldDict};
pub use gfid::Gfid;
pub use iatt::{Iatt, Statfs};
pub use xdr::{Decoder, Encoder, Error as XdrError, Xdr};
