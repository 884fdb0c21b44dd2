//! The DHT name hash (`gf_dm_hashfn`): a Davies-Meyer construction over a
//! TEA-like mixing function, and the name munging applied before it.
//! Facts and vectors: ../shared/translators/distribute.md §1.
//!
//! Placement must match the official client bit for bit, including its
//! quirk of reading the tail bytes through a *signed* char (x86).

const DELTA: u32 = 0x9E37_79B9;

/// The mixing step, with the Davies-Meyer feed-forward.
fn mix(rounds: u32, w: &[u32; 4], h0: u32, h1: u32) -> (u32, u32) {
    let (mut a, mut b, mut s) = (h0, h1, 0u32);
    for _ in 0..rounds {
        s = s.wrapping_add(DELTA);
        a = a.wrapping_add(
            (b << 4).wrapping_add(w[0]) ^ b.wrapping_add(s) ^ (b >> 5).wrapping_add(w[1]),
        );
        b = b.wrapping_add(
            (a << 4).wrapping_add(w[2]) ^ a.wrapping_add(s) ^ (a >> 5).wrapping_add(w[3]),
        );
    }
    (h0.wrapping_add(a), h1.wrapping_add(b))
}

fn le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The hash of a byte string (no terminating NUL).
pub fn dm_hash(m: &[u8]) -> u32 {
    let (mut h0, mut h1) = (0x9464_A485u32, 0x542E_1A94u32);
    let n = m.len() as u32;
    let mut pad = n | (n << 8);
    pad |= pad << 16;
    let mut blocks = m.chunks_exact(16);
    for b in &mut blocks {
        let w = [le(&b[0..]), le(&b[4..]), le(&b[8..]), le(&b[12..])];
        (h0, h1) = mix(6, &w, h0, h1);
    }
    let rest = blocks.remainder();
    let k = rest.len() / 4;
    let tail = &rest[k * 4..];
    let mut w = [pad; 4];
    for (j, slot) in w.iter_mut().enumerate().take(k) {
        *slot = le(&rest[j * 4..]);
    }
    if k < 4 {
        let mut v = pad;
        for &c in tail {
            // Sign-extended, as through a signed char.
            v = (v << 8) | (c as i8 as i32 as u32);
        }
        w[k] = v;
    }
    let (h0, h1) = mix(10, &w, h0, h1);
    h0 ^ h1
}

/// The default `rsync-hash-regex`, `^\.(.+)\.[^.]+$`: rsync's temporary
/// ".name.XXXXXX" hashes like "name", so the final rename stays on the
/// same subvolume. Returns the part to hash.
pub fn munge(name: &[u8]) -> &[u8] {
    if name.first() != Some(&b'.') {
        return name;
    }
    match name.iter().rposition(|&c| c == b'.') {
        // A group of at least one character, and a non-empty suffix.
        Some(p) if p >= 2 && p + 1 < name.len() => &name[1..p],
        _ => name,
    }
}

/// Hash of an entry name as DHT places it.
pub fn name_hash(name: &[u8]) -> u32 {
    dm_hash(munge(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vectors_from_the_live_server() {
        let cases: &[(&[u8], u32)] = &[
            (b"", 0x884774a2),
            (b"a", 0x3a17e4e6),
            (b"ab", 0xc3af40d9),
            (b"abc", 0xba8bd29a),
            (b"abcd", 0xd89627f6),
            (b"abcde", 0x0a45ccec),
            (b"file0", 0x8e5c9508),
            (b"foo.txt", 0xec803fce),
            (b"abcdefghijklmnop", 0x5f7662ef),
            (b"abcdefghijklmnopq", 0xee27cbd1),
            (b"mmmmmmmmmmmmmmmm", 0x7fe78403),
            ("é".as_bytes(), 0x65cfcaa1),
            ("ß".as_bytes(), 0x6b70df11),
            ("é1".as_bytes(), 0x031f57cc),
            ("abc€".as_bytes(), 0xc8106194),
            ("日本語".as_bytes(), 0xeecbaa7d),
            ("über.txt".as_bytes(), 0x5a154b6e),
            (b"..x", 0xda9d8f15),
            (b".", 0xd3d143b3),
            (b"..", 0xe1696c98),
            (b"/", 0x8619bd58),
            (b"/d1", 0x2514b7f2),
        ];
        for (name, want) in cases {
            assert_eq!(dm_hash(name), *want, "{:?}", String::from_utf8_lossy(name));
        }
        assert_eq!(dm_hash(&[b'n'; 255]), 0xd7770f82);
    }

    #[test]
    fn munged_names() {
        assert_eq!(munge(b".foo.txt.AbCd12"), b"foo.txt");
        assert_eq!(name_hash(b".foo.txt.AbCd12"), 0xec803fce);
        assert_eq!(munge(b".vimrc.swp"), b"vimrc");
        assert_eq!(name_hash(b".vimrc.swp"), 0x9c7bcdef);
        assert_eq!(munge(b".a.b"), b"a");
        assert_eq!(munge(b".x.y.z"), b"x.y");
        for same in [
            &b"..x"[..],
            b".hidden",
            b".",
            b"..",
            b"/a.b",
            b"x.y",
            b".trailing.",
        ] {
            assert_eq!(munge(same), same);
        }
    }

    proptest! {
        #[test]
        fn any_input_hashes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = name_hash(&bytes);
        }
    }
}
