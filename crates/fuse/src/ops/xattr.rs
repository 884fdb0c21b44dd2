//! Extended attributes: the calls, the cached answers for the ones the
//! kernel asks about on every write, and the official client's rules for
//! GlusterFS's own xattrs.

use super::{fail, Result};
use crate::fs::FsState;
use client::{Ctx, Error, Gfid};
use proto::errno;
use std::sync::Arc;

/// The kernel looks up security.capability before every write (to drop
/// file capabilities) and IMA may ask for security.ima: without a cache
/// each write waits for a GETXATTR round trip, which serialised writes.
/// The official client answers these from md-cache too.
pub fn is_hot_xattr(name: &[u8]) -> bool {
    name == b"security.capability" || name == b"security.ima"
}

/// Virtual xattrs answered by the client, as upstream does.
pub fn virtual_xattr(name: &[u8], gfid: Gfid) -> Option<Vec<u8>> {
    match name {
        b"glusterfs.gfid.string" => Some(gfid.to_string().into_bytes()),
        _ => None,
    }
}

/// What getxattr/listxattr answer: the size the caller needs (it passed
/// size 0), or the value.
#[derive(Debug, PartialEq, Eq)]
pub enum XattrAnswer {
    Size(u32),
    Data(Vec<u8>),
}

/// `value` for a caller with a `size`-byte buffer: its size when `size`
/// is 0, ERANGE when it does not fit.
pub fn sized(size: u32, value: Vec<u8>) -> Result<XattrAnswer> {
    if size == 0 {
        Ok(XattrAnswer::Size(value.len() as u32))
    } else if value.len() > size as usize {
        fail(errno::ERANGE, "xattr larger than the buffer")
    } else {
        Ok(XattrAnswer::Data(value))
    }
}

/// A name the volume may be asked about: not one the graph's translators
/// keep for themselves (`hidden`; `refused` then), and UTF-8 (`bad_name`
/// otherwise).
fn user_name(hidden: bool, name: Vec<u8>, refused: i32, bad_name: i32) -> Result<String> {
    if hidden {
        return fail(refused, "GlusterFS's own xattr");
    }
    String::from_utf8(name).or_else(|_| fail(bad_name, "xattr name is not UTF-8"))
}

pub async fn setxattr(
    s: Arc<FsState>,
    c: Ctx,
    ino: u64,
    name: Vec<u8>,
    value: Vec<u8>,
    flags: i32,
) -> Result<()> {
    let name = user_name(s.vol.hides_xattr(&name), name, errno::EPERM, errno::EINVAL)?;
    let gfid = s.gfid(ino)?;
    // A queued write landing after this call would undo it: the brick's
    // write drops security.capability.
    s.settle(gfid).await;
    s.uncache_xattrs(gfid);
    let r = s.vol.setxattr(&c, gfid, &name, &value, flags as u32).await;
    // Again: a getxattr racing with the call may have cached the old answer.
    s.uncache_xattrs(gfid);
    r
}

pub async fn getxattr(
    s: Arc<FsState>,
    c: Ctx,
    ino: u64,
    name: Vec<u8>,
    size: u32,
) -> Result<XattrAnswer> {
    let name = user_name(
        s.vol.hides_xattr(&name),
        name,
        errno::ENODATA,
        errno::ENODATA,
    )?;
    let gfid = s.gfid(ino)?;
    let value = match virtual_xattr(name.as_bytes(), gfid) {
        Some(v) => v,
        None => cached_getxattr(&s, &c, gfid, &name).await?,
    };
    sized(size, value)
}

/// GETXATTR, answered from the cache for the hot names.
async fn cached_getxattr(s: &FsState, c: &Ctx, gfid: Gfid, name: &str) -> Result<Vec<u8>> {
    let key = name.as_bytes();
    if !is_hot_xattr(key) {
        return s.vol.getxattr(c, gfid, name).await;
    }
    match s.cached_xattr(gfid, key) {
        Some(Some(v)) => return Ok(v),
        Some(None) => return Err(Error::errno_msg(errno::ENODATA, "no such attribute")),
        None => {}
    }
    let r = s.vol.getxattr(c, gfid, name).await;
    match &r {
        Ok(v) => s.cache_xattr(gfid, key, Some(v.clone())),
        Err(e) if e.errno() == errno::ENODATA => s.cache_xattr(gfid, key, None),
        Err(_) => {}
    }
    r
}

pub async fn listxattr(s: Arc<FsState>, c: Ctx, ino: u64, size: u32) -> Result<XattrAnswer> {
    let names = s.vol.listxattr(&c, s.gfid(ino)?).await?;
    sized(size, name_list(&names, |n| s.vol.hides_xattr(n)))
}

/// The NUL-separated list the kernel wants, without the `hidden` ones.
pub fn name_list(names: &[Vec<u8>], hidden: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut buf = Vec::new();
    for n in names.iter().filter(|n| !hidden(n)) {
        buf.extend_from_slice(n);
        buf.push(0);
    }
    buf
}

pub async fn removexattr(s: Arc<FsState>, c: Ctx, ino: u64, name: Vec<u8>) -> Result<()> {
    let name = user_name(s.vol.hides_xattr(&name), name, errno::EPERM, errno::ENODATA)?;
    let gfid = s.gfid(ino)?;
    s.settle(gfid).await;
    s.uncache_xattrs(gfid);
    let r = s.vol.removexattr(&c, gfid, &name).await;
    s.uncache_xattrs(gfid);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_volume_is_asked_about() {
        let hidden = |n: &[u8]| n.starts_with(b"trusted.gfid");
        let name = |n: &[u8], refused, bad| user_name(hidden(n), n.to_vec(), refused, bad);
        assert_eq!(name(b"user.a", 1, 2).unwrap(), "user.a");
        assert_eq!(
            name(b"trusted.gfid", errno::EPERM, 2).unwrap_err().errno(),
            errno::EPERM
        );
        assert_eq!(
            name(b"user.\xff", 1, errno::EINVAL).unwrap_err().errno(),
            errno::EINVAL
        );
    }

    #[test]
    fn sizes_and_lists() {
        assert_eq!(sized(0, b"abc".to_vec()).unwrap(), XattrAnswer::Size(3));
        assert_eq!(
            sized(3, b"abc".to_vec()).unwrap(),
            XattrAnswer::Data(b"abc".to_vec())
        );
        assert_eq!(
            sized(2, b"abc".to_vec()).unwrap_err().errno(),
            errno::ERANGE
        );
        let names = [
            b"user.a".to_vec(),
            b"trusted.gfid".to_vec(),
            b"user.b".to_vec(),
        ];
        let hidden = |n: &[u8]| n == b"trusted.gfid";
        assert_eq!(name_list(&names, hidden), b"user.a\0user.b\0");
        assert_eq!(
            virtual_xattr(b"glusterfs.gfid.string", Gfid::ROOT).unwrap(),
            Gfid::ROOT.to_string().into_bytes()
        );
    }
}
