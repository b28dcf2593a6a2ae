//! A minimal, allocation-bounded reader of TIFF directory structure (header, IFD entries, the
//! page chain), used before handing the file to the `tiff` crate: it identifies whole-slide
//! images and oversized images without reading any tag arrays or pixel data, walks the page
//! chain safely, and lets us present the `tiff` crate with a patched view of the file
//! ([`PatchReader`]).

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom};

/// Most IFD entries we accept in one directory (real files have a few dozen).
const MAX_ENTRIES: u64 = 4096;
/// Most pages we follow in the chain after page 0.
pub(crate) const MAX_PAGES: usize = 4096;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub big_endian: bool,
    pub bigtiff: bool,
    pub first_ifd: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub tag: u16,
    pub typ: u16,
    pub count: u64,
    /// The raw value/offset field (4 bytes in classic TIFF, 8 in BigTIFF), zero padded.
    pub field: [u8; 8],
    /// File position of the value/offset field.
    pub field_pos: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Ifd {
    pub entries: Vec<Entry>,
    pub next: u64,
    /// File position of the next-IFD pointer.
    pub next_pos: u64,
}

fn type_size(typ: u16) -> u64 {
    match typ {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16 | 17 | 18 => 8,
        _ => 0,
    }
}

impl Header {
    pub fn read<R: Read + Seek>(r: &mut R) -> io::Result<Header> {
        r.seek(SeekFrom::Start(0))?;
        let mut b = [0u8; 16];
        r.read_exact(&mut b[..8])?;
        let big_endian = &b[0..2] == b"MM";
        let mut h = Header {
            big_endian,
            bigtiff: false,
            first_ifd: 0,
        };
        let magic = h.u16(&b[2..4]);
        if magic == 43 {
            r.read_exact(&mut b[8..16])?;
            h.bigtiff = true;
            h.first_ifd = h.u64(&b[8..16]);
        } else {
            h.first_ifd = u64::from(h.u32(&b[4..8]));
        }
        Ok(h)
    }

    pub fn u16(&self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.big_endian {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }

    pub fn u32(&self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }

    pub fn u64(&self, b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        if self.big_endian {
            u64::from_be_bytes(a)
        } else {
            u64::from_le_bytes(a)
        }
    }

    fn field_len(&self) -> u64 {
        if self.bigtiff {
            8
        } else {
            4
        }
    }

    /// Reads the directory at `offset`; `Err` carries a description of what is wrong.
    pub fn read_ifd<R: Read + Seek>(
        &self,
        r: &mut R,
        offset: u64,
        file_len: u64,
    ) -> Result<Ifd, String> {
        if offset < 8 || offset >= file_len {
            return Err(format!(
                "it points to byte {offset}, but the file is only {file_len} bytes long"
            ));
        }
        let io = |e: io::Error| format!("it could not be read ({e})");
        r.seek(SeekFrom::Start(offset)).map_err(io)?;
        let (count, entry_len) = if self.bigtiff {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).map_err(io)?;
            (self.u64(&b), 20u64)
        } else {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).map_err(io)?;
            (u64::from(self.u16(&b)), 12u64)
        };
        if count == 0 || count > MAX_ENTRIES {
            return Err(format!("it declares {count} entries"));
        }
        let table_len = count * entry_len + self.field_len();
        if offset + table_len > file_len {
            return Err(format!(
                "its {count} entries run past the end of the file ({file_len} bytes)"
            ));
        }
        let mut raw = vec![0u8; table_len as usize];
        r.read_exact(&mut raw).map_err(io)?;
        let base = offset + if self.bigtiff { 8 } else { 2 };
        let mut entries = Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            let e = &raw[i * entry_len as usize..(i + 1) * entry_len as usize];
            let mut field = [0u8; 8];
            let (cnt, fstart) = if self.bigtiff {
                (self.u64(&e[4..12]), 12)
            } else {
                (u64::from(self.u32(&e[4..8])), 8)
            };
            let flen = self.field_len() as usize;
            field[..flen].copy_from_slice(&e[fstart..fstart + flen]);
            entries.push(Entry {
                tag: self.u16(&e[0..2]),
                typ: self.u16(&e[2..4]),
                count: cnt,
                field,
                field_pos: base + (i as u64) * entry_len + fstart as u64,
            });
        }
        let np = &raw[(count * entry_len) as usize..];
        let next = if self.bigtiff {
            self.u64(np)
        } else {
            u64::from(self.u32(np))
        };
        Ok(Ifd {
            entries,
            next,
            next_pos: base + count * entry_len,
        })
    }

    /// Whether the entry's values are stored in the entry itself.
    fn inline(&self, e: &Entry) -> bool {
        type_size(e.typ).saturating_mul(e.count) <= self.field_len()
    }

    /// The first value of an integer entry stored inline (BYTE, SHORT, LONG, LONG8).
    pub fn first_uint(&self, e: &Entry) -> Option<u64> {
        if e.count == 0 || !self.inline(e) {
            return None;
        }
        match e.typ {
            1 => Some(u64::from(e.field[0])),
            3 => Some(u64::from(self.u16(&e.field))),
            4 | 13 => Some(u64::from(self.u32(&e.field))),
            16 | 18 => Some(self.u64(&e.field)),
            _ => None,
        }
    }

    /// Up to `max` bytes of an entry's value (inline or out of line); `None` if unreadable.
    pub fn value_prefix<R: Read + Seek>(
        &self,
        r: &mut R,
        e: &Entry,
        max: usize,
        file_len: u64,
    ) -> Option<Vec<u8>> {
        let total = type_size(e.typ).checked_mul(e.count)?;
        let n = (total.min(max as u64)) as usize;
        if self.inline(e) {
            return Some(e.field[..n].to_vec());
        }
        let off = if self.bigtiff {
            self.u64(&e.field)
        } else {
            u64::from(self.u32(&e.field))
        };
        if off >= file_len {
            return None;
        }
        let n = n.min((file_len - off) as usize);
        let mut v = vec![0u8; n];
        r.seek(SeekFrom::Start(off)).ok()?;
        r.read_exact(&mut v).ok()?;
        Some(v)
    }

    /// A RATIONAL entry's first value as f64.
    pub fn rational<R: Read + Seek>(&self, r: &mut R, e: &Entry, file_len: u64) -> Option<f64> {
        if e.typ != 5 || e.count == 0 {
            return None;
        }
        let b = self.value_prefix(r, e, 8, file_len)?;
        if b.len() < 8 {
            return None;
        }
        let (num, den) = (self.u32(&b[0..4]), self.u32(&b[4..8]));
        if den == 0 || num == 0 {
            return None;
        }
        Some(f64::from(num) / f64::from(den))
    }

    /// Encodes an integer as the value field of an entry of type SHORT or LONG.
    pub fn encode_field(&self, typ: u16, v: u32) -> Vec<u8> {
        match typ {
            3 => {
                let v = v as u16;
                if self.big_endian {
                    v.to_be_bytes().to_vec()
                } else {
                    v.to_le_bytes().to_vec()
                }
            }
            _ => {
                if self.big_endian {
                    v.to_be_bytes().to_vec()
                } else {
                    v.to_le_bytes().to_vec()
                }
            }
        }
    }

    pub fn zero_pointer(&self) -> Vec<u8> {
        vec![0u8; self.field_len() as usize]
    }
}

impl Ifd {
    pub fn get(&self, tag: u16) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tag == tag)
    }
}

/// Summary of one page after page 0 (only sizes and the subfile type: never its pixels).
#[derive(Debug, Clone)]
pub(crate) struct PageInfo {
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub reduced: bool,
}

/// Walks the page chain after page 0. Returns the pages found and, if the chain is broken
/// (a loop, a pointer past the end, an unreadable directory, too many pages), a description.
pub(crate) fn walk_chain<R: Read + Seek>(
    r: &mut R,
    h: &Header,
    page0_offset: u64,
    first_next: u64,
    file_len: u64,
) -> (Vec<PageInfo>, Option<String>) {
    let mut seen = HashSet::new();
    seen.insert(page0_offset);
    let mut pages = Vec::new();
    let mut next = first_next;
    while next != 0 {
        if pages.len() >= MAX_PAGES {
            return (pages, Some(format!("it has more than {MAX_PAGES} pages")));
        }
        if !seen.insert(next) {
            let why = format!(
                "a loop: the directory of page {} points back to an earlier page",
                pages.len()
            );
            return (pages, Some(why));
        }
        match h.read_ifd(r, next, file_len) {
            Ok(ifd) => {
                let val = |tag| ifd.get(tag).and_then(|e| h.first_uint(e));
                pages.push(PageInfo {
                    width: val(256),
                    height: val(257),
                    reduced: val(254).is_some_and(|v| v & 1 == 1),
                });
                next = ifd.next;
            }
            Err(why) => {
                let why = format!(
                    "the directory of page {} is unreadable: {why}",
                    pages.len() + 1
                );
                return (pages, Some(why));
            }
        }
    }
    (pages, None)
}

/// A reader that presents patched bytes at given file positions (used to cut the page chain
/// after page 0 and to let the `tiff` crate read palette indices as gray samples).
pub(crate) struct PatchReader<R> {
    inner: R,
    pos: u64,
    patches: Vec<(u64, Vec<u8>)>,
}

impl<R: Read + Seek> PatchReader<R> {
    pub fn new(mut inner: R, patches: Vec<(u64, Vec<u8>)>) -> io::Result<Self> {
        let pos = inner.seek(SeekFrom::Start(0))?;
        Ok(Self {
            inner,
            pos,
            patches,
        })
    }
}

impl<R: Read> Read for PatchReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let start = self.pos;
        let end = start + n as u64;
        for (at, bytes) in &self.patches {
            let (p0, p1) = (*at, *at + bytes.len() as u64);
            let (lo, hi) = (p0.max(start), p1.min(end));
            if lo < hi {
                buf[(lo - start) as usize..(hi - start) as usize]
                    .copy_from_slice(&bytes[(lo - p0) as usize..(hi - p0) as usize]);
            }
        }
        self.pos = end;
        Ok(n)
    }
}

impl<R: Seek> Seek for PatchReader<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn patch_reader_overlays_bytes() {
        let data: Vec<u8> = (0u8..32).collect();
        let mut r = PatchReader::new(Cursor::new(data), vec![(5, vec![100, 101, 102])]).unwrap();
        let mut a = [0u8; 6];
        r.read_exact(&mut a).unwrap();
        assert_eq!(a, [0, 1, 2, 3, 4, 100]);
        let mut b = [0u8; 4];
        r.read_exact(&mut b).unwrap();
        assert_eq!(b, [101, 102, 8, 9]);
        r.seek(SeekFrom::Start(6)).unwrap();
        let mut c = [0u8; 1];
        r.read_exact(&mut c).unwrap();
        assert_eq!(c, [101]);
    }

    #[test]
    fn ifd_loop_is_detected() {
        // Page 0 at 8 whose next pointer is 8 again.
        let mut f = b"II*\0\x08\0\0\0".to_vec();
        f.extend_from_slice(&1u16.to_le_bytes());
        f.extend_from_slice(&256u16.to_le_bytes());
        f.extend_from_slice(&3u16.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(&[4, 0, 0, 0]);
        f.extend_from_slice(&8u32.to_le_bytes());
        let len = f.len() as u64;
        let mut r = Cursor::new(f);
        let h = Header::read(&mut r).unwrap();
        let ifd = h.read_ifd(&mut r, 8, len).unwrap();
        assert_eq!(h.first_uint(ifd.get(256).unwrap()), Some(4));
        let (pages, broken) = walk_chain(&mut r, &h, 8, ifd.next, len);
        assert!(pages.is_empty());
        assert!(broken.unwrap().contains("loop"));
    }
}
