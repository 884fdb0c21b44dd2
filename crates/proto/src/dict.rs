//! The two dictionary encodings (PROTOCOL.md 5): the old serialized dict
//! used by GETSPEC/SETVOLUME/callbacks, and the typed `gfx_dict` of the v400
//! fop program.

use crate::iatt::{Iatt, Mdata};
use crate::Gfid;
use xdr::{Decoder, Encoder, Error, Result, Xdr};

/// Upper bound on the pairs in one dict (far above anything a brick sends;
/// each pair also costs at least 12 bytes of the record).
const MAX_PAIRS: usize = 1 << 16;

/// Old serialized dict: `count`, then per pair `keylen valuelen key\0 value`,
/// big-endian, no padding inside; carried in an XDR `opaque<>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OldDict {
    pub pairs: Vec<(String, Vec<u8>)>,
}

impl OldDict {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a string value the way GlusterFS does: with its trailing NUL.
    pub fn set_str(&mut self, key: &str, value: &str) {
        let mut v = value.as_bytes().to_vec();
        v.push(0);
        self.pairs.push((key.to_string(), v));
    }

    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    /// A value as a string, up to its first NUL.
    pub fn get_str(&self, key: &str) -> Option<String> {
        self.get(key).map(|v| {
            let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
            String::from_utf8_lossy(&v[..end]).into_owned()
        })
    }

    /// The serialized bytes (without the surrounding opaque).
    pub fn serialize(&self) -> Vec<u8> {
        if self.pairs.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(self.pairs.len() as u32).to_be_bytes());
        for (k, v) in &self.pairs {
            out.extend_from_slice(&(k.len() as u32).to_be_bytes());
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(k.as_bytes());
            out.push(0);
            out.extend_from_slice(v);
        }
        out
    }

    pub fn unserialize(buf: &[u8]) -> Result<Self> {
        let mut pairs = Vec::new();
        if buf.is_empty() {
            return Ok(Self { pairs });
        }
        let mut d = Decoder::new(buf);
        let count = d.u32("old dict count")? as usize;
        // Each pair needs at least 9 bytes: refuse counts the buffer cannot hold.
        if count > d.remaining_len() / 9 {
            return Err(Error::TooLong {
                what: "old dict count",
                len: count,
                max: d.remaining_len() / 9,
            });
        }
        for _ in 0..count {
            let klen = d.u32("old dict key length")? as usize;
            let vlen = d.u32("old dict value length")? as usize;
            let key = d.take("old dict key", klen)?;
            let offset = d.position();
            if d.take("old dict key NUL", 1)? != [0] {
                return Err(Error::Invalid {
                    what: "old dict key terminator",
                    offset,
                    value: 0,
                });
            }
            let value = d.take("old dict value", vlen)?;
            pairs.push((String::from_utf8_lossy(key).into_owned(), value.to_vec()));
        }
        d.finish()?;
        Ok(Self { pairs })
    }
}

/// `OldDict` on the wire: an opaque holding the serialized dict.
impl Xdr for OldDict {
    fn encode(&self, e: &mut Encoder) {
        e.opaque(&self.serialize());
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self> {
        let max = d.remaining_len();
        let raw = d.opaque("old dict", max)?;
        Self::unserialize(raw)
    }
}

/// A typed `gfx_value`.
#[derive(Debug, Clone, PartialEq)]
pub enum DictValue {
    StrOld(Vec<u8>),
    Int(i64),
    Uint(u64),
    Double(f64),
    /// A C string; the brick stores it with one trailing NUL.
    Str(Vec<u8>),
    /// Binary blob, stored byte-exact (xattr values).
    Ptr(Vec<u8>),
    Gfid(Gfid),
    Iatt(Box<Iatt>),
    Mdata(Mdata),
}

impl DictValue {
    fn type_code(&self) -> u32 {
        match self {
            DictValue::StrOld(_) => 1,
            DictValue::Int(_) => 2,
            DictValue::Uint(_) => 3,
            DictValue::Double(_) => 4,
            DictValue::Str(_) => 5,
            DictValue::Ptr(_) => 6,
            DictValue::Gfid(_) => 7,
            DictValue::Iatt(_) => 8,
            DictValue::Mdata(_) => 9,
        }
    }

    /// The value's bytes as GlusterFS would store them (strings with their
    /// NUL, numbers as decimal text is *not* applied: those return None).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            DictValue::StrOld(v) | DictValue::Str(v) | DictValue::Ptr(v) => Some(v),
            DictValue::Gfid(g) => Some(&g.0),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            DictValue::Int(v) => u64::try_from(*v).ok(),
            DictValue::Uint(v) => Some(*v),
            DictValue::Str(s) | DictValue::StrOld(s) => {
                let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
                std::str::from_utf8(&s[..end]).ok()?.parse().ok()
            }
            _ => None,
        }
    }
}

/// `gfx_dict`. An empty dict is sent as the NULL form (count -1), which
/// bricks accept everywhere; both NULL and empty decode to no pairs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GfxDict {
    /// Keys without their trailing NUL.
    pub pairs: Vec<(Vec<u8>, DictValue)>,
}

impl GfxDict {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub fn with(mut self, key: &str, value: DictValue) -> Self {
        self.set(key, value);
        self
    }

    pub fn set(&mut self, key: &str, value: DictValue) {
        self.set_bytes_key(key.as_bytes(), value);
    }

    pub fn set_bytes_key(&mut self, key: &[u8], value: DictValue) {
        if let Some(slot) = self.pairs.iter_mut().find(|(k, _)| k == key) {
            slot.1 = value;
        } else {
            self.pairs.push((key.to_vec(), value));
        }
    }

    pub fn get(&self, key: &str) -> Option<&DictValue> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v)
    }

    fn encode_pairs(&self, e: &mut Encoder) {
        for (k, v) in &self.pairs {
            let mut key = k.clone();
            key.push(0); // keys always carry their NUL (PROTOCOL.md 5b)
            e.opaque(&key);
            e.u32(v.type_code());
            match v {
                DictValue::StrOld(b) | DictValue::Str(b) | DictValue::Ptr(b) => {
                    e.opaque(b);
                }
                DictValue::Int(i) => {
                    e.i64(*i);
                }
                DictValue::Uint(u) => {
                    e.u64(*u);
                }
                DictValue::Double(f) => {
                    e.u64(f.to_bits());
                }
                DictValue::Gfid(g) => g.encode(e),
                DictValue::Iatt(i) => i.encode(e),
                DictValue::Mdata(m) => m.encode(e),
            }
        }
    }
}

impl Xdr for GfxDict {
    fn encode(&self, e: &mut Encoder) {
        if self.pairs.is_empty() {
            e.u32(0).i32(-1).u32(0);
            return;
        }
        let mut body = Encoder::new();
        self.encode_pairs(&mut body);
        // xdr_size is the byte length of the encoded pairs; it must be exact
        // (the brick's WRITE reader sizes its buffers with it).
        e.u32(body.len() as u32)
            .i32(self.pairs.len() as i32)
            .u32(self.pairs.len() as u32)
            .raw(body.as_slice());
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Self> {
        let _xdr_size = d.u32("gfx_dict xdr_size")?;
        let count_offset = d.position();
        let count = d.i32("gfx_dict count")?;
        let n = d.u32("gfx_dict pairs length")? as usize;
        if count != -1 && count as i64 != n as i64 {
            return Err(Error::Invalid {
                what: "gfx_dict count differs from its array length",
                offset: count_offset,
                value: count as u32 as u64,
            });
        }
        // Each pair takes at least 12 bytes: no count beyond what is there.
        let max = (d.remaining_len() / 12).min(MAX_PAIRS);
        if n > max {
            return Err(Error::TooLong {
                what: "gfx_dict pairs",
                len: n,
                max,
            });
        }
        let mut pairs = Vec::with_capacity(n);
        for _ in 0..n {
            let raw_key = d.opaque("gfx_dict key", xdr::MAX_STRING)?;
            let end = raw_key
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(raw_key.len());
            let key = raw_key[..end].to_vec();
            let type_offset = d.position();
            let max = d.remaining_len();
            let value = match d.u32("gfx_value type")? {
                1 => DictValue::StrOld(d.opaque("gfx_value", max)?.to_vec()),
                2 => DictValue::Int(d.i64("gfx_value int")?),
                3 => DictValue::Uint(d.u64("gfx_value uint")?),
                4 => DictValue::Double(f64::from_bits(d.u64("gfx_value double")?)),
                5 => DictValue::Str(d.opaque("gfx_value", max)?.to_vec()),
                6 => DictValue::Ptr(d.opaque("gfx_value", max)?.to_vec()),
                7 => DictValue::Gfid(Gfid::decode(d)?),
                8 => DictValue::Iatt(Box::new(Iatt::decode(d)?)),
                9 => DictValue::Mdata(Mdata::decode(d)?),
                t => {
                    return Err(Error::Invalid {
                        what: "gfx_value type",
                        offset: type_offset,
                        value: u64::from(t),
                    })
                }
            };
            pairs.push((key, value));
        }
        Ok(Self { pairs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn null_dict_encoding() {
        assert_eq!(
            GfxDict::new().to_xdr(),
            [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]
        );
    }

    #[test]
    fn xdr_size_matches_protocol_example() {
        // PROTOCOL.md 5b / 10.4: {"probe-key": STR "v\0"} has xdr_size 28.
        let d = GfxDict::new().with("probe-key", DictValue::Str(b"v\0".to_vec()));
        let b = d.to_xdr();
        assert_eq!(&b[..4], &[0, 0, 0, 0x1c]);
        assert_eq!(b.len(), 12 + 28);
        assert_eq!(GfxDict::from_xdr(&b).unwrap(), d);
    }

    #[test]
    fn old_dict_round_trip() {
        let mut d = OldDict::new();
        d.set_str("min-op-version", "1");
        d.set_str("max-op-version", "100000");
        let b = d.serialize();
        assert_eq!(OldDict::unserialize(&b).unwrap(), d);
        assert_eq!(d.get_str("max-op-version").unwrap(), "100000");
    }

    fn value() -> impl Strategy<Value = DictValue> {
        let bytes = proptest::collection::vec(any::<u8>(), 0..20);
        prop_oneof![
            bytes.clone().prop_map(DictValue::StrOld),
            any::<i64>().prop_map(DictValue::Int),
            any::<u64>().prop_map(DictValue::Uint),
            bytes.clone().prop_map(DictValue::Str),
            bytes.prop_map(DictValue::Ptr),
            any::<[u8; 16]>().prop_map(|g| DictValue::Gfid(Gfid(g))),
        ]
    }

    proptest! {
        #[test]
        fn gfx_dict_round_trip(pairs in proptest::collection::vec(("[a-z.]{1,12}", value()), 0..6)) {
            let mut d = GfxDict::new();
            for (k, v) in pairs { d.set(&k, v); }
            prop_assert_eq!(GfxDict::from_xdr(&d.to_xdr()).unwrap(), d);
        }

        #[test]
        fn decoders_survive_garbage(buf in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = GfxDict::from_xdr(&buf);
            let _ = OldDict::unserialize(&buf);
        }
    }
}
