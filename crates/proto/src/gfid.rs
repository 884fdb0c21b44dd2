//! GlusterFS file identifiers: 16-byte UUIDs in RFC 4122 byte order.

use std::fmt;
use std::str::FromStr;

/// A GlusterFS gfid. The root directory is `00000000-...-000000000001`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Gfid(pub [u8; 16]);

impl Gfid {
    pub const ZERO: Gfid = Gfid([0; 16]);
    pub const ROOT: Gfid = Gfid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

    /// A fresh random (v4) gfid, as sent in `gfid-req` for new inodes.
    pub fn random() -> Gfid {
        Gfid(*uuid::Uuid::new_v4().as_bytes())
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }

    pub fn is_root(&self) -> bool {
        *self == Self::ROOT
    }

    /// The inode number bricks derive from a gfid: the last 8 bytes, big-endian.
    pub fn ino(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[8..]);
        u64::from_be_bytes(b)
    }
}

impl fmt::Display for Gfid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&uuid::Uuid::from_bytes(self.0).hyphenated(), f)
    }
}

impl fmt::Debug for Gfid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gfid({self})")
    }
}

impl FromStr for Gfid {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(|u| Gfid(*u.as_bytes()))
    }
}

impl xdr::Xdr for Gfid {
    fn encode(&self, e: &mut xdr::Encoder) {
        e.fixed(&self.0);
    }
    fn decode(d: &mut xdr::Decoder<'_>) -> xdr::Result<Self> {
        d.fixed::<16>("gfid").map(Gfid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse() {
        assert_eq!(
            Gfid::ROOT.to_string(),
            "00000000-0000-0000-0000-000000000001"
        );
        let g: Gfid = "dcf7f343-aee3-44e4-8394-46c0f9034737".parse().unwrap();
        assert_eq!(g.to_string(), "dcf7f343-aee3-44e4-8394-46c0f9034737");
        // PROTOCOL.md 6.3a / fops.transcript CREATE: ino from the gfid tail.
        assert_eq!(g.ino(), 9481280910147143479);
        assert_ne!(Gfid::random(), Gfid::random());
    }
}
