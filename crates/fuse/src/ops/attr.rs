//! lookup, getattr, setattr.

use super::{attr_of, entry, Node, Result};
use crate::fs::FsState;
use client::{Ctx, Fd, Gfid, Iatt, SetAttr};
use proto::errno;
use std::sync::Arc;

/// LOOKUP of `name` in `parent`. A file with writes in flight is stat'ed
/// again once they landed (its size and times are about to change). A
/// missing name is a negative entry (node 0) when negative-timeout allows.
pub async fn lookup(s: Arc<FsState>, c: Ctx, parent: u64, name: Vec<u8>) -> Result<Node> {
    let found = async {
        let p = s.gfid(parent)?;
        let st = s.vol.lookup(&c, p, &name).await?;
        if s.writes_pending(&st.gfid) {
            s.settle(st.gfid).await;
            return s.vol.stat(&c, st.gfid).await;
        }
        Ok(st)
    }
    .await;
    match found {
        Ok(st) => {
            s.dir_attrs.seen(&st);
            Ok(entry(&s, st))
        }
        Err(e) if e.errno() == errno::ENOENT && !s.timeouts.negative.is_zero() => Ok(Node {
            ino: 0,
            st: Iatt::default(),
            ttl: s.timeouts.negative,
        }),
        Err(e) => Err(e),
    }
}

/// GETATTR, after the node's queued writes: through the open file when
/// the kernel names one, else by gfid, else (the file lost its last name)
/// through any open file of the node.
pub async fn getattr(s: Arc<FsState>, c: Ctx, ino: u64, fh: Option<u64>) -> Result<Node> {
    let gfid = s.gfid(ino)?;
    if let Some(st) = s.dir_attrs.get(gfid) {
        // A directory we just changed: its reply said how it is now.
        return Ok(attr_of(&s, ino, st));
    }
    s.settle(gfid).await;
    let st = match fh.map(|f| s.file(f)) {
        Some(Ok(fd)) => fd.fstat(&c).await?,
        _ => match s.vol.stat(&c, gfid).await {
            Err(e) => {
                let c = &c;
                s.via_open_file(gfid, e, |fd| async move { fd.fstat(c).await })
                    .await?
            }
            r => r?,
        },
    };
    s.dir_attrs.seen(&st);
    Ok(attr_of(&s, ino, st))
}

/// SETATTR: after the node's queued writes, the size first (a truncate),
/// then the other attributes; through the open file when the kernel names
/// one, else by gfid, else through any open file of the node.
pub async fn setattr(
    s: Arc<FsState>,
    c: Ctx,
    ino: u64,
    fh: Option<u64>,
    size: Option<u64>,
    attr: SetAttr,
) -> Result<Node> {
    let gfid = s.gfid(ino)?;
    s.settle_with_error(gfid).await?;
    if attr.uid.is_some() || attr.gid.is_some() {
        // chown drops security.capability on the brick.
        s.uncache_xattrs(gfid);
    }
    let fd = fh.and_then(|f| s.file(f).ok());
    let st = match set(&s, &c, gfid, fd.clone(), size, &attr).await {
        Err(e) if fd.is_none() => {
            s.via_open_file(gfid, e, |fd| set(&s, &c, gfid, Some(fd), size, &attr))
                .await?
        }
        r => r?,
    };
    // A directory's new attributes (its ctime moved too).
    s.dir_attrs.changed(gfid, &st);
    Ok(attr_of(&s, ino, st))
}

/// The calls a SETATTR makes: (truncate to, attributes to set). Nothing
/// at all to set (chown(f, -1, -1)) is still a SETATTR, with no valid
/// bits, as upstream sends: it moves ctime.
fn steps(size: Option<u64>, attr: &SetAttr) -> (Option<u64>, Option<&SetAttr>) {
    let set = *attr != SetAttr::default() || size.is_none();
    (size, set.then_some(attr))
}

async fn set(
    s: &FsState,
    c: &Ctx,
    gfid: Gfid,
    fd: Option<Fd>,
    size: Option<u64>,
    attr: &SetAttr,
) -> Result<Iatt> {
    let (truncate, attrs) = steps(size, attr);
    let mut last = None;
    if let Some(size) = truncate {
        last = Some(match &fd {
            Some(fd) => fd.ftruncate(c, size).await?,
            None => s.vol.truncate(c, gfid, size).await?,
        });
    }
    if let Some(attr) = attrs {
        last = Some(match &fd {
            Some(fd) => fd.fsetattr(c, attr).await?,
            None => s.vol.setattr(c, gfid, attr).await?,
        });
    }
    match (last, fd) {
        (Some(st), _) if st.is_valid() => Ok(st),
        (_, Some(fd)) => fd.fstat(c).await,
        (_, None) => s.vol.stat(c, gfid).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use client::SetTime;

    #[test]
    fn setattr_truncates_first_and_always_sends_something() {
        let none = SetAttr::default();
        let chmod = SetAttr {
            mode: Some(0o600),
            ..SetAttr::default()
        };
        let touch = SetAttr {
            atime: Some(SetTime::Now),
            mtime: Some(SetTime::Now),
            ..SetAttr::default()
        };
        // truncate(2) / ftruncate(2): the size alone.
        assert_eq!(steps(Some(0), &none), (Some(0), None));
        // chown(f, -1, -1): a SETATTR with nothing in it.
        assert_eq!(steps(None, &none), (None, Some(&none)));
        assert_eq!(steps(None, &chmod), (None, Some(&chmod)));
        // Size and times together (open O_TRUNC without atomic_o_trunc).
        assert_eq!(steps(Some(5), &touch), (Some(5), Some(&touch)));
    }
}
