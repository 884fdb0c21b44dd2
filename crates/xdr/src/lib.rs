//! XDR (RFC 4506) encoding and decoding.
//!
//! Everything GlusterFS puts on the wire is XDR: big-endian 32-bit units,
//! variable-length data prefixed by a length word and padded to four bytes.
//! The decoder never trusts a length it reads: every length is checked
//! against the bytes actually left in the record *before* anything is
//! allocated, so a hostile or corrupt peer can make decoding fail but can
//! neither panic it nor make it allocate more than the record it sent.

use std::fmt;

/// Why a decode failed. Carries enough to say where in the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("record truncated: {what} needs {need} bytes at offset {offset}, {have} left")]
    Truncated {
        what: &'static str,
        offset: usize,
        need: usize,
        have: usize,
    },
    #[error("{what}: length {len} exceeds the limit of {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what}: invalid value {value} at offset {offset}")]
    Invalid {
        what: &'static str,
        offset: usize,
        value: u64,
    },
    #[error("{0} unexpected bytes after the end of the structure")]
    Trailing(usize),
}

pub type Result<T> = std::result::Result<T, Error>;

fn pad_len(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// Appends XDR units to a byte buffer.
#[derive(Default, Clone)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Encoder({} bytes)", self.buf.len())
    }
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(cap: usize) -> Self {
        Self {
            buf: Vec::with_capacity(cap),
        }
    }

    /// Wraps an existing buffer; encoding appends to it.
    pub fn from_vec(buf: Vec<u8>) -> Self {
        Self { buf }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u32(u32::from(v))
    }

    /// Fixed-length opaque: the bytes, padded, no length word.
    pub fn fixed(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self.buf
            .extend_from_slice(&[0u8; 3][..pad_len(bytes.len())]);
        self
    }

    /// Variable-length opaque or string: length word, bytes, padding.
    pub fn opaque(&mut self, bytes: &[u8]) -> &mut Self {
        // XDR lengths are u32; nothing we send comes near 4 GiB, and the
        // RPC layer caps records far below that.
        self.u32(bytes.len() as u32);
        self.fixed(bytes)
    }

    /// Bytes appended as they are: no length, no padding (WRITE payloads).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// Overwrites a u32 written earlier at `offset` (for length fields known
    /// only after their contents are encoded).
    pub fn patch_u32(&mut self, offset: usize, v: u32) {
        if let Some(slot) = self.buf.get_mut(offset..offset + 4) {
            slot.copy_from_slice(&v.to_be_bytes());
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads XDR units from a byte slice. Every read is bounds-checked.
#[derive(Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl fmt::Debug for Decoder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decoder(at {} of {})", self.pos, self.buf.len())
    }
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining_len(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes `n` bytes exactly.
    pub fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining_len() {
            return Err(Error::Truncated {
                what,
                offset: self.pos,
                need: n,
                have: self.remaining_len(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(what, N)?);
        Ok(out)
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub fn i32(&mut self, what: &'static str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    pub fn i64(&mut self, what: &'static str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    pub fn bool(&mut self, what: &'static str) -> Result<bool> {
        let offset = self.pos;
        match self.u32(what)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(Error::Invalid {
                what,
                offset,
                value: u64::from(v),
            }),
        }
    }

    /// Fixed-length opaque of `N` bytes (plus padding).
    pub fn fixed<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let v = self.array::<N>(what)?;
        self.take(what, pad_len(N))?;
        Ok(v)
    }

    /// Variable-length opaque/string, at most `max` bytes. The length is
    /// checked against `max` and against the bytes left before anything is
    /// returned, so no allocation can be larger than the record.
    pub fn opaque(&mut self, what: &'static str, max: usize) -> Result<&'a [u8]> {
        let len = self.u32(what)? as usize;
        if len > max {
            return Err(Error::TooLong { what, len, max });
        }
        let data = self.take(what, len)?;
        self.take(what, pad_len(len))?;
        Ok(data)
    }

    /// Everything left, consumed.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Fails if bytes are left: every reply must decode exactly to the end
    /// of its record, or we have picked the wrong layout.
    pub fn finish(&self) -> Result<()> {
        match self.remaining_len() {
            0 => Ok(()),
            n => Err(Error::Trailing(n)),
        }
    }
}

/// Default bound for names and short strings (longer than any path a
/// GlusterFS brick accepts, PATH_MAX = 4096).
pub const MAX_STRING: usize = 64 * 1024;

/// A value with an XDR representation.
pub trait Xdr: Sized {
    fn encode(&self, e: &mut Encoder);
    fn decode(d: &mut Decoder<'_>) -> Result<Self>;

    /// Encodes into a fresh buffer.
    fn to_xdr(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.encode(&mut e);
        e.into_vec()
    }

    /// Decodes a whole buffer, requiring it to be consumed exactly.
    fn from_xdr(buf: &[u8]) -> Result<Self> {
        let mut d = Decoder::new(buf);
        let v = Self::decode(&mut d)?;
        d.finish()?;
        Ok(v)
    }
}

macro_rules! prim {
    ($t:ty, $m:ident) => {
        impl Xdr for $t {
            fn encode(&self, e: &mut Encoder) {
                e.$m(*self);
            }
            fn decode(d: &mut Decoder<'_>) -> Result<Self> {
                d.$m(stringify!($t))
            }
        }
    };
}
prim!(u32, u32);
prim!(i32, i32);
prim!(u64, u64);
prim!(i64, i64);
prim!(bool, bool);

/// `Vec<u8>` is a variable-length opaque (XDR `opaque<>` and `string<>`
/// share one encoding; GlusterFS names are bytes, not necessarily UTF-8).
impl Xdr for Vec<u8> {
    fn encode(&self, e: &mut Encoder) {
        e.opaque(self);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self> {
        // Bounded by the record, which the RPC layer caps.
        let max = d.remaining_len();
        d.opaque("opaque", max).map(<[u8]>::to_vec)
    }
}

/// Declares a struct whose XDR form is its fields in order.
#[macro_export]
macro_rules! xdr_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        pub struct $name { $($(#[$fm])* pub $f: $t),* }
        impl $crate::Xdr for $name {
            #[allow(unused_variables)]
            fn encode(&self, e: &mut $crate::Encoder) {
                $( $crate::Xdr::encode(&self.$f, e); )*
            }
            #[allow(unused_variables)]
            fn decode(d: &mut $crate::Decoder<'_>) -> $crate::Result<Self> {
                Ok(Self { $( $f: <$t as $crate::Xdr>::decode(d)? ),* })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn opaque_is_padded() {
        let mut e = Encoder::new();
        e.opaque(b"abcde");
        assert_eq!(e.as_slice(), b"\0\0\0\x05abcde\0\0\0");
        let mut d = Decoder::new(e.as_slice());
        assert_eq!(d.opaque("t", 10).unwrap(), b"abcde");
        d.finish().unwrap();
    }

    #[test]
    fn huge_length_is_refused_without_allocating() {
        let buf = [0xff, 0xff, 0xff, 0xf0, 1, 2, 3];
        let mut d = Decoder::new(&buf);
        assert!(matches!(
            d.opaque("name", usize::MAX),
            Err(Error::Truncated { .. })
        ));
        let mut d = Decoder::new(&buf);
        assert!(matches!(d.opaque("name", 16), Err(Error::TooLong { .. })));
        assert!(Vec::<u8>::from_xdr(&buf).is_err());
    }

    #[test]
    fn bool_rejects_other_values() {
        assert!(bool::from_xdr(&[0, 0, 0, 2]).is_err());
        assert!(bool::from_xdr(&[0, 0, 0, 1]).unwrap());
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        assert_eq!(u32::from_xdr(&[0, 0, 0, 1, 0]), Err(Error::Trailing(1)));
    }

    xdr_struct! {
        #[derive(Debug, Clone, PartialEq)]
        pub struct Sample { pub a: u32, pub b: i64, pub c: Vec<u8>, pub d: bool }
    }

    proptest! {
        #[test]
        fn struct_round_trip(a: u32, b: i64, c in proptest::collection::vec(any::<u8>(), 0..64), d: bool) {
            let s = Sample { a, b, c, d };
            prop_assert_eq!(Sample::from_xdr(&s.to_xdr()).unwrap(), s);
        }

        #[test]
        fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = Sample::from_xdr(&buf);
        }

        #[test]
        fn truncation_is_an_error(a: u32, c in proptest::collection::vec(any::<u8>(), 0..32), cut in 1usize..20) {
            let s = Sample { a, b: 7, c, d: true };
            let buf = s.to_xdr();
            let cut = cut.min(buf.len());
            prop_assert!(Sample::from_xdr(&buf[..buf.len() - cut]).is_err());
        }
    }
}
