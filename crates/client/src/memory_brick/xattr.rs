//! Extended attributes as posix serves them (posix-inode-fd-ops.c,
//! posix-helpers.c): GETXATTR/SETXATTR/REMOVEXATTR/XATTROP, the xattrs a
//! LOOKUP or READDIRP asks for in its xdata, and those an entry fop's
//! xdata sets on the new inode.

use super::state::{
    linkto_mode, stored_bytes, valid_namespace, State, GFID2PATH_PREFIX, GFID_KEY, R,
};
use proto::dict::{DictValue, GfxDict};
use proto::errno;
use proto::fops::DictRsp;
use proto::iatt::Iatt;
use proto::Gfid;

pub(super) const ANCESTRY_KEY: &[u8] = b"glusterfs.ancestry.path";
const OPEN_FD_COUNT: &[u8] = b"glusterfs.open-fd-count";
const INODELK_COUNT: &[u8] = b"glusterfs.inodelk-count";
const ENTRYLK_COUNT: &[u8] = b"glusterfs.entrylk-count";
const POSIXLK_COUNT: &[u8] = b"glusterfs.posixlk-count";
const MDATA_KEY: &[u8] = b"trusted.glusterfs.mdata";
pub(super) const LINKTO_KEY: &[u8] = b"trusted.glusterfs.dht.linkto";
pub(super) const PARENT_KEY: &str = "glusterfs.preop.parent.key";

/// Keys posix never takes from a request (posix_ignore_xattrs and the
/// control keys entry fops carry).
fn ignorable(key: &[u8]) -> bool {
    const KEYS: [&[u8]; 11] = [
        b"gfid-req",
        b"glusterfs-internal-fop",
        b"glusterfs.entrylk-count",
        b"glusterfs.inodelk-count",
        b"glusterfs.posixlk-count",
        b"glusterfs.parent-entrylk",
        b"gfidless-lookup",
        b"glusterfs.inodelk-dom-count",
        b"glusterfs.internal-ctx",
        b"force-replace",
        b"glusterfs.preop.parent.key",
    ];
    KEYS.contains(&key)
}

/// An integer as libglusterfs reads one from any value type.
pub(super) fn int_of(v: &DictValue) -> Option<i64> {
    match v {
        DictValue::Int(i) => Some(*i),
        DictValue::Uint(u) => i64::try_from(*u).ok(),
        DictValue::Str(b) | DictValue::StrOld(b) | DictValue::Ptr(b) => {
            let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            std::str::from_utf8(&b[..end]).ok()?.trim().parse().ok()
        }
        _ => None,
    }
}

/// Whether `xdata` has `key` set to a non-zero integer.
pub(super) fn flag(xdata: &GfxDict, key: &str) -> bool {
    xdata.get(key).and_then(int_of).is_some_and(|v| v != 0)
}

/// The parent-layout guard's key pair (§5.1): the xattr name
/// `glusterfs.preop.parent.key` names, and the value the caller expects
/// it to have on the parent. None when the request carries no guard.
pub(super) fn guard(xdata: &GfxDict) -> Option<(Vec<u8>, Vec<u8>)> {
    let name = stored_bytes(xdata.get(PARENT_KEY)?);
    let name = name.split(|&c| c == 0).next().unwrap_or_default().to_vec();
    let arg = xdata
        .pairs
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| stored_bytes(v))?;
    Some((name, arg))
}

impl State {
    /// The xattrs `req` asks for that `g` has (plus the virtual counts),
    /// as LOOKUP, READDIRP and XATTROP replies carry them.
    pub fn fill(&self, g: Gfid, req: &GfxDict) -> GfxDict {
        let mut out = GfxDict::new();
        let Some(i) = self.inodes.get(&g) else {
            return out;
        };
        for (k, _) in &req.pairs {
            let count = |n: usize| DictValue::Int(i64::try_from(n).unwrap_or(i64::MAX));
            let v = match k.as_slice() {
                OPEN_FD_COUNT => Some(DictValue::Uint(u64::from(i.open))),
                INODELK_COUNT => Some(count(self.locks.inodelk_count(g))),
                ENTRYLK_COUNT => Some(count(self.locks.entrylk_count(g))),
                POSIXLK_COUNT => Some(count(self.locks.posixlk_count(g))),
                ANCESTRY_KEY => self.ancestry(g).ok(),
                k if ignorable(k) || k == GFID_KEY => None,
                k => i.xattrs.get(k).map(|v| DictValue::Ptr(v.clone())),
            };
            if let Some(v) = v {
                out.set_bytes_key(k, v);
            }
        }
        out
    }

    fn ancestry(&self, g: Gfid) -> R<DictValue> {
        let mut p = self.path(g).ok_or(errno::ENODATA)?.into_bytes();
        p.push(0);
        Ok(DictValue::Str(p))
    }

    /// The xattrs an entry fop's xdata sets on its new inode (each as
    /// XATTR_CREATE, failures ignored, as posix_entry_create_xattr_set
    /// does), except the control keys and `skip`.
    pub fn set_entry_xattrs(&mut self, g: Gfid, xdata: &GfxDict, skip: Option<&[u8]>) {
        let Some(i) = self.inodes.get_mut(&g) else {
            return;
        };
        for (k, v) in &xdata.pairs {
            if ignorable(k)
                || Some(k.as_slice()) == skip
                || !valid_namespace(k)
                || k == GFID_KEY
                || k.starts_with(GFID2PATH_PREFIX)
                || k == MDATA_KEY
                || k.ends_with(b"pathinfo")
                || i.xattrs.contains_key(k)
            {
                continue;
            }
            i.xattrs.insert(k.clone(), stored_bytes(v));
        }
    }

    pub fn getxattr(&self, g: Gfid, name: &[u8]) -> R<DictRsp> {
        let i = self.inodes.get(&g).ok_or(errno::ESTALE)?;
        let mut dict = GfxDict::new();
        match name {
            b"" => {
                for (k, v) in &i.xattrs {
                    if k != MDATA_KEY && !k.starts_with(GFID2PATH_PREFIX) {
                        dict.set_bytes_key(k, DictValue::Ptr(v.clone()));
                    }
                }
            }
            ANCESTRY_KEY => dict.set_bytes_key(name, self.ancestry(g)?),
            OPEN_FD_COUNT => dict.set_bytes_key(name, DictValue::Uint(u64::from(i.open > 0))),
            GFID_KEY => dict.set_bytes_key(name, DictValue::Ptr(g.0.to_vec())),
            _ => {
                let v = i.xattrs.get(name).ok_or(errno::ENODATA)?;
                dict.set_bytes_key(name, DictValue::Ptr(v.clone()));
            }
        }
        let size: usize = dict
            .pairs
            .iter()
            .filter_map(|(_, v)| v.as_bytes().map(<[u8]>::len))
            .sum();
        Ok(DictRsp {
            op_ret: i32::try_from(size).unwrap_or(i32::MAX),
            op_errno: 0,
            xdata: GfxDict::new(),
            dict,
            prestat: Iatt::default(),
            poststat: Iatt::default(),
        })
    }

    /// SETXATTR with XATTR_CREATE (1: EEXIST if present) / XATTR_REPLACE
    /// (2: ENODATA if absent). `trusted.gfid` is silently dropped.
    pub fn setxattr(&mut self, g: Gfid, dict: &GfxDict, flags: u32) -> R<GfxDict> {
        let pre = self.iatt(g);
        let i = self.inodes.get_mut(&g).ok_or(errno::ESTALE)?;
        for (k, v) in &dict.pairs {
            if k == GFID_KEY {
                continue;
            }
            if !valid_namespace(k) {
                return Err(errno::EOPNOTSUPP);
            }
            let exists = i.xattrs.contains_key(k);
            if flags & 1 != 0 && exists {
                return Err(errno::EEXIST);
            }
            if flags & 2 != 0 && !exists {
                return Err(errno::ENODATA);
            }
            i.xattrs.insert(k.clone(), stored_bytes(v));
            i.ctime = super::state::now();
        }
        let post = self.iatt(g);
        // posix answers every SETXATTR with the iatts in xdata.
        Ok(GfxDict::new()
            .with("virt-gf-poststat", DictValue::Iatt(Box::new(post)))
            .with("virt-gf-prestat", DictValue::Iatt(Box::new(pre)))
            .with("dht-get-iatt-in-xattr", DictValue::Iatt(Box::new(post))))
    }

    pub fn removexattr(&mut self, g: Gfid, name: &[u8]) -> R<()> {
        let i = self.inodes.get_mut(&g).ok_or(errno::ESTALE)?;
        if name == GFID_KEY || name == b"trusted.glusterfs.volume-id" {
            return Err(errno::EPERM);
        }
        i.xattrs.remove(name).ok_or(errno::ENODATA)?;
        i.ctime = super::state::now();
        Ok(())
    }

    /// XATTROP: for each key, the stored array combined with the given
    /// one (missing = zeros, a longer stored value = ERANGE); an all-zero
    /// request only reads (nothing is created). Returns the new values.
    pub fn xattrop(&mut self, g: Gfid, optype: u32, dict: &GfxDict) -> R<GfxDict> {
        let i = self.inodes.get_mut(&g).ok_or(errno::ESTALE)?;
        let mut out = GfxDict::new();
        for (k, v) in &dict.pairs {
            let arg = stored_bytes(v);
            let count = match optype {
                5 | 6 => arg.len() / 2, // *_WITH_DEFAULT: values, then defaults
                _ => arg.len(),
            };
            let mut cur = vec![0u8; count];
            let stored = i.xattrs.get(k);
            if let Some(s) = stored {
                if s.len() > count {
                    return Err(errno::ERANGE);
                }
                cur[..s.len()].copy_from_slice(s);
            }
            if optype != 4 && arg.iter().all(|&b| b == 0) {
                out.set_bytes_key(k, DictValue::Ptr(cur));
                continue;
            }
            let (new, reply) = match optype {
                0 => (add::<4>(&cur, &arg, None), None),
                1 => (add::<8>(&cur, &arg, None), None),
                5 => (add::<4>(&cur, &arg, Some(&arg[count..])), None),
                6 => (add::<8>(&cur, &arg, Some(&arg[count..])), None),
                // GET_AND_SET: stores the argument, answers the old value.
                4 => (arg.clone(), Some(stored.cloned())),
                _ => return Err(errno::EINVAL),
            };
            i.xattrs.insert(k.clone(), new.clone());
            match reply {
                None => out.set_bytes_key(k, DictValue::Ptr(new)),
                Some(Some(old)) => out.set_bytes_key(k, DictValue::Ptr(old)),
                Some(None) => {}
            }
        }
        Ok(out)
    }

    /// UNLINK's `unlink-only-if-dht-linkto-file` test: the entry must be
    /// a linkto (mode and xattr) or the unlink is refused with EBUSY.
    pub fn is_linkto(&self, g: Gfid) -> bool {
        self.inodes.get(&g).is_some_and(|i| {
            linkto_mode(i.mode) && i.xattrs.get(LINKTO_KEY).is_some_and(|v| !v.is_empty())
        })
    }
}

/// Element-wise big-endian addition of `N`-byte integers (wrapping, as
/// the C code does); `default` is added where the stored value is 0.
fn add<const N: usize>(cur: &[u8], arg: &[u8], default: Option<&[u8]>) -> Vec<u8> {
    let n = cur.len() / N * N;
    let mut out = cur.to_vec();
    for off in (0..n).step_by(N) {
        let get = |b: &[u8]| -> i64 {
            let mut w = [0u8; 8];
            if let Some(s) = b.get(off..off + N) {
                w[8 - N..].copy_from_slice(s);
            }
            let v = i64::from_be_bytes(w);
            if N == 4 {
                i64::from(v as u32 as i32)
            } else {
                v
            }
        };
        let (c, a) = (get(cur), get(arg));
        let sum = match default {
            Some(d) if c == 0 => a.wrapping_add(get(d)),
            _ => c.wrapping_add(a),
        };
        out[off..off + N].copy_from_slice(&sum.to_be_bytes()[8 - N..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_arrays_wrap_and_default() {
        let be = |v: &[i32]| v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<_>>();
        assert_eq!(
            add::<4>(&be(&[1, 2, 3]), &be(&[1, 1, -4]), None),
            be(&[2, 3, -1])
        );
        assert_eq!(add::<4>(&be(&[i32::MAX]), &be(&[1]), None), be(&[i32::MIN]));
        assert_eq!(
            add::<4>(&be(&[0, 5]), &be(&[1, 1]), Some(&be(&[10, 10]))),
            be(&[11, 6])
        );
        let be64 = |v: &[i64]| v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<_>>();
        assert_eq!(add::<8>(&be64(&[7]), &be64(&[-8]), None), be64(&[-1]));
    }
}
