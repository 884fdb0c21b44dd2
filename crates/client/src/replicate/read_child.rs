//! Which brick of a replica set serves a read (§4.2): the configured
//! read-subvolume or the local brick when it is a candidate, else the
//! `read-hash-mode` choice, else the first candidate. Reading from the
//! brick the official clients pick keeps the bricks' caches warm for both.

use proto::Gfid;

/// Paul Hsieh's SuperFastHash over `data`, as libglusterfs computes it
/// (16-bit words little-endian; a lone trailing byte taken as a signed
/// char, as on x86). Inputs of 0 or 1 byte hash to 1.
pub fn super_fast_hash(data: &[u8]) -> u32 {
    if data.len() <= 1 {
        return 1;
    }
    let word = |b: &[u8]| u32::from(u16::from_le_bytes([b[0], b[1]]));
    let mut h = data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        h = h.wrapping_add(word(c));
        let t = (word(&c[2..]) << 11) ^ h;
        h = (h << 16) ^ t;
        h = h.wrapping_add(h >> 11);
    }
    let rest = chunks.remainder();
    let signed = |b: u8| i32::from(b as i8) as u32;
    match rest.len() {
        3 => {
            h = h.wrapping_add(word(rest));
            h ^= h << 16;
            h ^= signed(rest[2]) << 18;
            h = h.wrapping_add(h >> 11);
        }
        2 => {
            h = h.wrapping_add(word(rest));
            h ^= h << 11;
            h = h.wrapping_add(h >> 17);
        }
        1 => {
            h = h.wrapping_add(signed(rest[0]));
            h ^= h << 10;
            h = h.wrapping_add(h >> 1);
        }
        _ => {}
    }
    h ^= h << 3;
    h = h.wrapping_add(h >> 5);
    h ^= h << 4;
    h = h.wrapping_add(h >> 17);
    h ^= h << 25;
    h.wrapping_add(h >> 6)
}

/// The brick to read `gfid` from among `candidates` (by child index):
/// `preferred` (read-subvolume or the local brick) if it is one, else the
/// read-hash-mode 1 choice (hash of the gfid) if it is one, else the
/// first candidate; None when no brick is readable. Modes 0 (first
/// candidate) and 1 are implemented; the load- and latency-based modes
/// (3-5) fall back to the first candidate, which is always correct.
pub fn read_child(
    gfid: Gfid,
    candidates: &[bool],
    preferred: Option<usize>,
    hash_mode: u32,
) -> Option<usize> {
    let ok = |i: usize| candidates.get(i).copied().unwrap_or(false);
    if let Some(p) = preferred.filter(|p| ok(*p)) {
        return Some(p);
    }
    if hash_mode == 1 && !candidates.is_empty() {
        let i = (super_fast_hash(&gfid.0) % candidates.len() as u32) as usize;
        if ok(i) {
            return Some(i);
        }
    }
    candidates.iter().position(|c| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gfid(s: &str) -> Gfid {
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        let mut g = [0u8; 16];
        for (i, b) in g.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        Gfid(g)
    }

    /// Live, GlusterFS 10.3, replica 3 with `choose-local off` and the
    /// default read-hash-mode 1: the brick the official client's READ
    /// reached (from `gluster volume profile`) for each file.
    #[test]
    fn the_official_clients_read_brick() {
        for (g, brick) in [
            ("fb23edab-7294-4257-bde8-bbe4610305ad", 1),
            ("54a250a4-9440-4a4f-b200-53248f28b1a1", 2),
            ("bf899512-49ff-44c3-a71f-c09918c3b26b", 1),
            ("60267fcc-f6a9-431e-80ed-b30534472a89", 1),
            ("c863e466-2110-49e9-b352-b0332fba1d96", 2),
            ("f8eed4e0-4edc-46ba-8ff4-7bef7c164cd9", 2),
            ("2c1059e9-f6d8-40a1-adb5-c98244306202", 2),
            ("e7012a12-fbbc-4f4b-a897-036f51a0fb86", 2),
        ] {
            assert_eq!(read_child(gfid(g), &[true; 3], None, 1), Some(brick), "{g}");
        }
    }

    #[test]
    fn only_candidates_are_chosen() {
        let g = gfid("fb23edab-7294-4257-bde8-bbe4610305ad");
        assert_eq!(read_child(g, &[true, false, true], None, 1), Some(0));
        assert_eq!(read_child(g, &[false, false, true], Some(1), 1), Some(2));
        assert_eq!(read_child(g, &[true, true, true], Some(2), 1), Some(2));
        assert_eq!(read_child(g, &[false, true, true], None, 0), Some(1));
        assert_eq!(read_child(g, &[false; 3], None, 1), None);
        assert_eq!(super_fast_hash(b""), 1);
        assert_eq!(super_fast_hash(b"x"), 1);
        // Every tail length runs without overflow panics.
        for n in 2..9 {
            super_fast_hash(&[0xff; 16][..n]);
        }
    }
}
