//! A regular file's contents, sparse: written ranges and allocated zero
//! ranges as extents; everything else below the size reads as zeros and
//! is a hole. Allocation is reported at 4 KiB block granularity as ext4
//! does (a 4101-byte file has data up to 8192: the brick's SEEK_HOLE
//! answers 8192, PROTOCOL fixtures), so `blocks`, SEEK_DATA and SEEK_HOLE
//! see blocks, while reads see bytes.

use super::state::R;
use proto::errno;
use std::collections::BTreeMap;

pub(super) const BLOCK: u64 = 4096;
/// Largest file offset (ext4 refuses beyond 16 TiB with EFBIG; we allow
/// anything an `off_t` can hold).
pub(super) const MAX_SIZE: u64 = i64::MAX as u64;

#[derive(Clone, Debug, PartialEq)]
enum Ext {
    Data(Vec<u8>),
    /// Allocated, reads as zeros (fallocate, zerofill).
    Zero(u64),
}

impl Ext {
    fn len(&self) -> u64 {
        match self {
            Ext::Data(d) => d.len() as u64,
            Ext::Zero(n) => *n,
        }
    }

    /// The part [from, to) of this extent (relative offsets).
    fn slice(&self, from: u64, to: u64) -> Ext {
        match self {
            Ext::Data(d) => Ext::Data(d[from as usize..to as usize].to_vec()),
            Ext::Zero(_) => Ext::Zero(to - from),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub(super) struct Content {
    /// Non-overlapping extents by start offset.
    ext: BTreeMap<u64, Ext>,
    pub size: u64,
}

/// `off + len`, or EFBIG past the largest file.
pub(super) fn end_of(off: u64, len: u64) -> R<u64> {
    off.checked_add(len)
        .filter(|e| *e <= MAX_SIZE)
        .ok_or(errno::EFBIG)
}

impl Content {
    /// Start offsets of the extents overlapping [start, end).
    fn overlapping(&self, start: u64, end: u64) -> Vec<u64> {
        let mut keys = Vec::new();
        if let Some((&k, e)) = self.ext.range(..start).next_back() {
            if k + e.len() > start {
                keys.push(k);
            }
        }
        keys.extend(self.ext.range(start..end).map(|(k, _)| *k));
        keys
    }

    /// Removes [start, end) from the extents (it becomes a hole).
    fn cut(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        for k in self.overlapping(start, end) {
            let Some(e) = self.ext.remove(&k) else {
                continue;
            };
            let e_end = k + e.len();
            if k < start {
                self.ext.insert(k, e.slice(0, start - k));
            }
            if e_end > end {
                self.ext.insert(end, e.slice(end - k, e_end - k));
            }
        }
    }

    pub fn write(&mut self, off: u64, data: &[u8]) -> R<()> {
        let end = end_of(off, data.len() as u64)?;
        if data.is_empty() {
            return Ok(());
        }
        self.cut(off, end);
        self.ext.insert(off, Ext::Data(data.to_vec()));
        self.size = self.size.max(end);
        Ok(())
    }

    /// Up to `len` bytes from `off`, short at the end of the file.
    pub fn read(&self, off: u64, len: u64) -> Vec<u8> {
        if off >= self.size {
            return Vec::new();
        }
        let n = len.min(self.size - off);
        let end = off + n;
        let mut out = vec![0u8; n as usize];
        for k in self.overlapping(off, end) {
            if let Some(Ext::Data(d)) = self.ext.get(&k) {
                let from = off.max(k);
                let to = end.min(k + d.len() as u64);
                out[(from - off) as usize..(to - off) as usize]
                    .copy_from_slice(&d[(from - k) as usize..(to - k) as usize]);
            }
        }
        out
    }

    pub fn truncate(&mut self, size: u64) -> R<()> {
        if size > MAX_SIZE {
            return Err(errno::EFBIG);
        }
        if size < self.size {
            self.cut(size, u64::MAX);
        }
        self.size = size;
        Ok(())
    }

    /// Allocates [off, off+len) as zeros where nothing is allocated yet
    /// (FALLOCATE); grows the file unless `keep_size` (then only the part
    /// below the size is allocated).
    pub fn allocate(&mut self, off: u64, len: u64, keep_size: bool) -> R<()> {
        let mut end = end_of(off, len)?;
        if keep_size {
            end = end.min(self.size);
        } else {
            self.size = self.size.max(end);
        }
        let mut pos = off;
        let mut gaps = Vec::new();
        for k in self.overlapping(off, end) {
            let e_len = self.ext.get(&k).map_or(0, Ext::len);
            if k > pos {
                gaps.push((pos, k - pos));
            }
            pos = pos.max(k + e_len);
        }
        if end > pos {
            gaps.push((pos, end - pos));
        }
        for (start, n) in gaps {
            self.ext.insert(start, Ext::Zero(n));
        }
        Ok(())
    }

    /// Zeros [off, off+len), allocated (ZEROFILL); grows the file.
    pub fn zero(&mut self, off: u64, len: u64) -> R<()> {
        let end = end_of(off, len)?;
        if len == 0 {
            return Ok(());
        }
        self.cut(off, end);
        self.ext.insert(off, Ext::Zero(len));
        self.size = self.size.max(end);
        Ok(())
    }

    /// Punches a hole (DISCARD); the size does not change.
    pub fn punch(&mut self, off: u64, len: u64) {
        let end = off.saturating_add(len).min(self.size);
        self.cut(off, end);
    }

    /// Block ranges [first, last+1) holding data, merged, in order.
    fn data_blocks(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (&k, e) in &self.ext {
            let (a, b) = (k / BLOCK, (k + e.len()).div_ceil(BLOCK));
            match out.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        out
    }

    /// 512-byte units allocated, as `st_blocks`.
    pub fn blocks(&self) -> u64 {
        self.data_blocks().iter().map(|(a, b)| b - a).sum::<u64>() * (BLOCK / 512)
    }

    /// SEEK_DATA: the first data at or after `off`; ENXIO if none before
    /// the end.
    pub fn seek_data(&self, off: u64) -> R<u64> {
        if off >= self.size {
            return Err(errno::ENXIO);
        }
        let b = off / BLOCK;
        let pos = self
            .data_blocks()
            .iter()
            .find(|(_, end)| *end > b)
            .map(|(start, _)| off.max(start * BLOCK));
        match pos {
            Some(p) if p < self.size => Ok(p),
            _ => Err(errno::ENXIO),
        }
    }

    /// SEEK_HOLE: the first hole at or after `off` (the end of the file
    /// counts as one); ENXIO at or past the end.
    pub fn seek_hole(&self, off: u64) -> R<u64> {
        if off >= self.size {
            return Err(errno::ENXIO);
        }
        let mut b = off / BLOCK;
        for (start, end) in self.data_blocks() {
            if end <= b {
                continue;
            }
            if start > b {
                break;
            }
            b = end;
        }
        Ok(off.max(b.saturating_mul(BLOCK)).min(self.size))
    }

    /// The extents of [off, off+len) of `self`, clipped to the size, as
    /// (relative offset, extent) pairs; holes stay holes.
    fn extract(&self, off: u64, len: u64) -> (u64, Vec<(u64, Ext)>) {
        if off >= self.size {
            return (0, Vec::new());
        }
        let n = len.min(self.size - off);
        let end = off + n;
        let parts = self
            .overlapping(off, end)
            .into_iter()
            .filter_map(|k| {
                let e = self.ext.get(&k)?;
                let from = off.max(k);
                let to = end.min(k + e.len());
                Some((from - off, e.slice(from - k, to - k)))
            })
            .collect();
        (n, parts)
    }

    /// COPY_FILE_RANGE from `src` (which may be `self`'s own copy):
    /// returns the bytes copied.
    pub fn copy_from(&mut self, src: &Content, off_in: u64, len: u64, off_out: u64) -> R<u64> {
        let (n, parts) = src.extract(off_in, len);
        let end = end_of(off_out, n)?;
        if n == 0 {
            return Ok(0);
        }
        self.cut(off_out, end);
        for (rel, e) in parts {
            self.ext.insert(off_out + rel, e);
        }
        self.size = self.size.max(end);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reads_and_holes() {
        let mut c = Content::default();
        c.write(0, &[1; 4101]).unwrap();
        c.write(1 << 20, b"TAIL!").unwrap();
        assert_eq!(c.size, (1 << 20) + 5);
        // As the live brick answers (fixtures SEEK.*).
        assert_eq!(c.seek_data(0), Ok(0));
        assert_eq!(c.seek_hole(0), Ok(8192));
        assert_eq!(c.seek_data(65536), Ok(1 << 20));
        assert_eq!(c.seek_data(2 << 20), Err(errno::ENXIO));
        assert_eq!(c.seek_hole((1 << 20) + 1), Ok((1 << 20) + 5));
        assert_eq!(c.read(1 << 20, 4096), b"TAIL!");
        assert_eq!(c.read(524288, 4), [0; 4]);
        assert!(c.read(2 << 20, 16).is_empty());
        assert_eq!(c.blocks(), 3 * 8);
        // Overwrite across the boundary of two extents.
        c.write(4095, &[7, 7, 7]).unwrap();
        assert_eq!(c.read(4094, 4), [1, 7, 7, 7]);
        assert_eq!(c.read(4098, 4), [1, 1, 1, 0]);
    }

    #[test]
    fn truncate_allocate_punch_zero_copy() {
        let mut c = Content::default();
        c.write(0, &[9; 100]).unwrap();
        c.truncate(10).unwrap();
        assert_eq!(c.read(0, 100), [9; 10]);
        c.truncate(1 << 40).unwrap(); // sparse: no memory
        assert_eq!(c.blocks(), 8);
        assert_eq!(c.seek_hole(0), Ok(4096));
        c.truncate(0).unwrap();
        c.allocate(0, 65536, false).unwrap();
        assert_eq!((c.size, c.blocks()), (65536, 128));
        c.allocate(65536, 65536, true).unwrap();
        assert_eq!(c.size, 65536);
        c.write(16384, &[0xaa; 4096]).unwrap();
        c.punch(16384, 16384);
        assert_eq!(c.read(16384, 4), [0; 4]);
        assert_eq!(c.seek_hole(0), Ok(16384));
        assert_eq!(c.seek_data(16384), Ok(32768));
        c.zero(65536, 10).unwrap();
        assert_eq!(c.size, 65546);
        let mut d = Content::default();
        assert_eq!(d.copy_from(&c, 16000, 1000, 5), Ok(1000));
        assert_eq!(d.size, 1005);
        assert_eq!(c.zero(u64::MAX - 1, 5), Err(errno::EFBIG));
        assert_eq!(c.write(MAX_SIZE, b"x"), Err(errno::EFBIG));
    }
}
