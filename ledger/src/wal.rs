//! The commit journal: the durability barrier of the store.
//!
//! Every commit is first appended to `<dir>/pledge.wal` as one record and `fdatasync`ed; only
//! then is it applied to sled (whose own writes are made durable later, at a checkpoint). On
//! open, complete records are re-applied to sled (idempotently: the same keys get the same
//! values); a torn final record, which was never acknowledged, is cut off; any other
//! unreadable record is an acknowledged commit lost, reported and never skipped (see
//! [`Wal::open`] and `docs/adr/0004-journal-damage.md`).
//!
//! The file is kept zero-filled to [`PREALLOC`] bytes beyond its records, so that appending a
//! record overwrites allocated blocks and `fdatasync` need not also journal a new file size
//! (measured here: about 140 µs instead of 190 µs per append). Recovery therefore reads
//! records until the first all-zero region. A commit larger than that grows the file; once
//! the journal is emptied it is cut back to [`PREALLOC`], since every open reads it whole.
//!
//! Record layout, starting at a multiple of [`SECTOR`] bytes: `"PLW2"` | body length (u32 LE)
//! | header check (the first 8 bytes of blake3 of the 8 bytes before it) | blake3(body) (32
//! bytes) | body | zeros up to the next multiple of [`SECTOR`]; body = pair count (u32 LE) then,
//! per pair, key length (u32 LE) | key | value length (u32 LE) | value. A record's header thus
//! lies in its first sector, which a device writes whole or not at all.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

const MAGIC: &[u8; 4] = b"PLW2";
const HEADER: usize = 4 + 4 + 8 + 32;
/// Records start at multiples of this: the smallest unit a device persists atomically. A
/// record torn by a crash or a power loss has at least one such block of its extent that was
/// never written and still holds the zeros the journal is filled with (a killed process leaves
/// whole pages unwritten; a power loss whole sectors).
const SECTOR: usize = 512;
/// The last block of a record says it was not written only when its part of the record is at
/// least this long: a commit record ends with a blake3 hash, whose last bytes may be zero by
/// chance (4 bytes: 1 in 2^32).
const MIN_EVIDENCE: usize = 4;
/// Bytes kept allocated (zero-filled) for the journal.
pub(crate) const PREALLOC: u64 = 4 * 1024 * 1024;

/// One commit: the sled key/value pairs it inserts.
pub(crate) type Record = Vec<(Vec<u8>, Vec<u8>)>;

pub(crate) struct Wal {
    file: File,
    len: u64,
    /// Set when the journal takes no more appends: it is damaged (and kept as found), or a
    /// failed append could not be wiped (its bytes may still be on disk). Reopening the store
    /// reads it again.
    frozen: Option<String>,
}

/// A journal record that cannot be read although it was not torn: a commit acknowledged as
/// durable was altered or lost on disk. See [`Wal::open`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Damage {
    /// Byte offset of the damaged record.
    pub offset: u64,
    /// What is wrong, for a person.
    pub reason: String,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
}

fn header_check(magic_and_len: &[u8]) -> [u8; 8] {
    let mut c = [0u8; 8];
    c.copy_from_slice(&blake3::hash(magic_and_len).as_bytes()[..8]);
    c
}

fn align(n: usize) -> usize {
    n.div_ceil(SECTOR) * SECTOR
}

/// The body length of the record at `at`, if its header is intact.
fn header_at(data: &[u8], at: usize) -> Option<usize> {
    let h = data.get(at..at + HEADER)?;
    (&h[..4] == MAGIC && h[8..16] == header_check(&h[..8])).then(|| u32_at(h, 4).map(|l| l as usize))?
}

/// The record at `at` and where the next one starts, if it is complete and intact.
fn record_at(data: &[u8], at: usize) -> Option<(Record, usize)> {
    let len = header_at(data, at)?;
    let body = data.get(at + HEADER..at + HEADER + len)?;
    if blake3::hash(body).as_bytes() != &data[at + 16..at + 48] {
        return None;
    }
    Some((decode_body(body)?, align(at + HEADER + len)))
}

/// Was the unreadable record at `at`, after which no intact record follows, torn (never
/// completely written, so never acknowledged) rather than damaged after it was written?
///
/// Torn means a block of its extent was never written: its first block (header included) is
/// all zeros, or its header is intact and another block's part of the record is all zeros. A
/// record with a damaged header, or whose every block holds data, was written completely and
/// altered afterwards.
fn torn(data: &[u8], at: usize) -> bool {
    let first = &data[at..(at + SECTOR).min(data.len())];
    if all_zero(first) {
        return true;
    }
    let Some(len) = header_at(data, at) else { return false };
    let end = at + HEADER + len;
    if end > data.len() {
        return false;
    }
    (at + SECTOR..end).step_by(SECTOR).any(|start| {
        let piece = &data[start..(start + SECTOR).min(end)];
        let last = start + SECTOR >= end;
        (!last || piece.len() >= MIN_EVIDENCE) && all_zero(piece)
    })
}

/// Whether every byte of `b` is zero. The journal's preallocated tail (4 MiB) is checked on
/// every open and every read of the committed head: OR-ing each 4 KiB block whole lets the
/// compiler use vector instructions where a byte-by-byte `all` stops to test every byte.
fn all_zero(b: &[u8]) -> bool {
    b.chunks(4096).all(|block| block.iter().fold(0u8, |acc, x| acc | x) == 0)
}

fn decode_body(body: &[u8]) -> Option<Record> {
    let n = u32_at(body, 0)? as usize;
    let mut at = 4;
    let mut out = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let kl = u32_at(body, at)? as usize;
        let k = body.get(at + 4..at + 4 + kl)?.to_vec();
        at += 4 + kl;
        let vl = u32_at(body, at)? as usize;
        let v = body.get(at + 4..at + 4 + vl)?.to_vec();
        at += 4 + vl;
        out.push((k, v));
    }
    (at == body.len()).then_some(out)
}

impl Wal {
    /// Opens the journal, returning the complete records it holds.
    ///
    /// A record that cannot be read is told apart as follows (`docs/adr/0004`):
    /// - the last record, torn by a crash during its write (see [`torn`]): it was never
    ///   acknowledged, and is cut off;
    /// - any other unreadable record (an intact record follows it, or it was written
    ///   completely and altered since): an acknowledged commit is lost. The records before it
    ///   are returned with the [`Damage`], the journal is left exactly as found (it is the
    ///   evidence), and it refuses appends.
    pub(crate) fn open(path: &Path) -> io::Result<(Wal, Vec<Record>, Option<Damage>)> {
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        let zero_from = |i: usize| data.get(i..).is_none_or(all_zero);
        let mut records = Vec::new();
        let mut at = 0usize;
        // Whether only zeros follow the records (no torn tail was met).
        let mut zeros_after = true;
        while !zero_from(at) {
            if let Some((rec, next)) = record_at(&data, at) {
                records.push(rec);
                at = next;
                continue;
            }
            let later = (at + SECTOR..data.len()).step_by(SECTOR).find(|p| record_at(&data, *p).is_some());
            if later.is_none() && torn(&data, at) {
                // The process died (or the power failed) during this append, which was
                // therefore never acknowledged.
                tracing::warn!(path = %path.display(), kept = at, "cutting a torn journal tail");
                zeros_after = false;
                break;
            }
            let reason = format!(
                "the commit journal `{}` is damaged at byte {at}: a commit acknowledged as durable cannot be read{}",
                path.display(),
                if later.is_some() { ", and the commits journaled after it cannot be applied" } else { "" }
            );
            tracing::error!(path = %path.display(), offset = at, "damaged commit journal");
            let wal = Wal { file, len: at as u64, frozen: Some(reason.clone()) };
            return Ok((wal, records, Some(Damage { offset: at as u64, reason })));
        }
        let mut wal = Wal { file, len: at as u64, frozen: None };
        // Zero everything after the records (a torn tail included) and keep the preallocation;
        // beyond it, only what the records use.
        let (size, keep) = (data.len() as u64, wal.len.max(PREALLOC));
        if zeros_after && size >= keep {
            // Only zeros to cut, if any.
            wal.cut_to(keep)?;
        } else {
            // Zeros are written, never left as a hole, so the blocks are allocated.
            wal.zero(wal.len, size.max(keep))?;
            wal.cut_to(keep)?;
        }
        Ok((wal, records, None))
    }

    /// The records of the journal at `path` without changing it, when it is clean: every
    /// record complete and intact, and only zeros after them. `None` when it holds anything
    /// [`Wal::open`] would cut off, wipe or report (a torn tail, damage), or does not exist:
    /// then only opening the store tells what it holds.
    pub(crate) fn read_clean(path: &Path) -> io::Result<Option<Vec<Record>>> {
        let mut data = Vec::new();
        match File::open(path) {
            Ok(mut f) => f.read_to_end(&mut data)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut records = Vec::new();
        let mut at = 0usize;
        while let Some((rec, next)) = record_at(&data, at) {
            records.push(rec);
            at = next;
        }
        Ok(data.get(at..).is_none_or(all_zero).then_some(records))
    }

    /// Zero-fills `[from, to)`, makes it durable, and positions the next append at the end of
    /// the records.
    fn zero(&mut self, from: u64, to: u64) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(from))?;
        let zeros = vec![0u8; 1 << 20];
        let mut at = from;
        while at < to {
            let n = (to - at).min(zeros.len() as u64) as usize;
            self.file.write_all(&zeros[..n])?;
            at += n as u64;
        }
        self.file.sync_all()?;
        self.file.seek(SeekFrom::Start(self.len))?;
        Ok(())
    }

    /// Appends one record and makes it durable. On failure the journal is cut back to where it
    /// was, so a half-written record never precedes a later one.
    pub(crate) fn append(&mut self, record: &[(Vec<u8>, Vec<u8>)]) -> io::Result<()> {
        self.check_open()?;
        let mut body =
            Vec::with_capacity(4 + record.iter().map(|(k, v)| 8 + k.len() + v.len()).sum::<usize>());
        body.extend_from_slice(&(record.len() as u32).to_le_bytes());
        for (k, v) in record {
            body.extend_from_slice(&(k.len() as u32).to_le_bytes());
            body.extend_from_slice(k);
            body.extend_from_slice(&(v.len() as u32).to_le_bytes());
            body.extend_from_slice(v);
        }
        let body_len = u32::try_from(body.len()).map_err(|_| io::Error::other("commit larger than 4 GiB"))?;
        let mut buf = Vec::with_capacity(align(HEADER + body.len()));
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&body_len.to_le_bytes());
        let check = header_check(&buf);
        buf.extend_from_slice(&check);
        buf.extend_from_slice(blake3::hash(&body).as_bytes());
        buf.extend_from_slice(&body);
        buf.resize(align(buf.len()), 0);
        let result = crate::pieces::write_all(&mut self.file, &buf).and_then(|_| self.file.sync_data());
        match result {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Wipe the half-written record so that it never precedes a later one, and so
                // that a commit answered with an error is not found on disk at the next open.
                let len = self.len;
                let wiped = self
                    .file
                    .seek(SeekFrom::Start(len))
                    .and_then(|_| self.file.write_all(&vec![0u8; buf.len()]))
                    .and_then(|_| self.file.sync_data())
                    .and_then(|_| self.file.seek(SeekFrom::Start(len)));
                if let Err(w) = wiped {
                    self.frozen = Some(format!(
                        "an append to the commit journal failed ({e}) and could not be wiped ({w}); reopen the ledger"
                    ));
                }
                Err(e)
            }
        }
    }

    /// Empties the journal (after its records are durable in sled), and cuts it back to
    /// [`PREALLOC`] bytes if a large commit grew it (every open reads the whole file).
    pub(crate) fn reset(&mut self) -> io::Result<()> {
        self.check_open()?;
        let used = self.len;
        self.len = 0;
        self.zero(0, used)?;
        // Only zeros are cut: a crash before the new size is durable leaves an empty journal
        // of the old size.
        self.cut_to(PREALLOC)
    }

    /// Cuts the file to `len` bytes if it is longer, makes that durable, and positions the
    /// next append at the end of the records.
    fn cut_to(&mut self, len: u64) -> io::Result<()> {
        if self.file.metadata()?.len() > len {
            self.file.set_len(len)?;
            self.file.sync_all()?;
        }
        self.file.seek(SeekFrom::Start(self.len))?;
        Ok(())
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Why the journal takes no appends, if it does not.
    pub(crate) fn frozen(&self) -> Option<&str> {
        self.frozen.as_deref()
    }

    fn check_open(&self) -> io::Result<()> {
        match &self.frozen {
            Some(why) => Err(io::Error::other(why.clone())),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `all_zero` finds one non-zero byte at any place, in slices around its 4 KiB blocks.
    #[test]
    fn all_zero_finds_any_non_zero_byte() {
        for len in [0, 1, 15, 4095, 4096, 4097, 8192 + 17] {
            let mut b = vec![0u8; len];
            assert!(all_zero(&b), "{len} zeros");
            for at in 0..len {
                b[at] = 1 << (at % 8);
                assert!(!all_zero(&b), "{len} bytes, byte {at} set");
                b[at] = 0;
            }
        }
    }

    fn rec(n: u8) -> Record {
        vec![(vec![b'k', n], vec![n; 10]), (vec![b'x', n], vec![])]
    }

    /// A record spanning several sectors, ending like a commit (with a hash-like value).
    fn big(n: u8) -> Record {
        let tail: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37).wrapping_add(n) | 1).collect();
        vec![(vec![b'e', n], vec![n | 0x80; 3000]), (b"m:head".to_vec(), tail)]
    }

    fn open(path: &Path) -> (Wal, Vec<Record>, Option<Damage>) {
        Wal::open(path).unwrap()
    }

    #[test]
    fn records_survive_reopen_and_a_torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w");
        let (good, end) = {
            let (mut w, recs, damage) = open(&path);
            assert!(recs.is_empty() && damage.is_none());
            w.append(&rec(1)).unwrap();
            w.append(&rec(2)).unwrap();
            let good = w.len() as usize;
            w.append(&big(3)).unwrap();
            (good, w.len() as usize)
        };
        assert_eq!(std::fs::metadata(&path).unwrap().len(), PREALLOC, "the journal stays preallocated");
        let full = std::fs::read(&path).unwrap();
        let sector = |i: usize| (good / SECTOR + i) * SECTOR;
        // The third record as a crash leaves it: sectors of it never written (still zero), at
        // the end, in the middle, or at its start while later ones reached the disk.
        let tears: [(usize, usize); 4] =
            [(sector(1), end), (sector(2), sector(3)), (good, sector(1)), (sector(5), end)];
        for (from, to) in tears {
            let mut torn = full.clone();
            torn[from..to].fill(0);
            std::fs::write(&path, &torn).unwrap();
            let (w, recs, damage) = open(&path);
            assert_eq!((recs, damage), (vec![rec(1), rec(2)], None), "torn {from}..{to}");
            assert_eq!(w.len() as usize, good);
            let after = std::fs::read(&path).unwrap();
            assert!(after[good..].iter().all(|b| *b == 0), "the torn record is wiped");
        }
    }

    #[test]
    fn a_damaged_acknowledged_record_is_reported_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w");
        let (mut w, _, _) = open(&path);
        w.append(&rec(1)).unwrap();
        let first = w.len() as usize;
        w.append(&big(2)).unwrap();
        let second = w.len() as usize;
        w.append(&rec(3)).unwrap();
        drop(w);
        let clean = std::fs::read(&path).unwrap();
        // A flipped bit in a record followed by others, in the last record (complete: every
        // sector holds data), and in the last record's magic number or length.
        for (at, name) in [
            (first + HEADER + 100, "a record before the last"),
            (second + HEADER + 3, "the last record's body"),
            (second, "the last record's magic number"),
            (second + 6, "the last record's length"),
        ] {
            let mut data = clean.clone();
            data[at] ^= 0x10;
            std::fs::write(&path, &data).unwrap();
            let (mut w, recs, damage) = open(&path);
            let damage = damage.unwrap_or_else(|| panic!("{name}: damage must be reported"));
            let expect_offset = if at < second { first } else { second };
            assert_eq!(damage.offset as usize, expect_offset, "{name}");
            assert_eq!(recs.len(), if at < second { 1 } else { 2 }, "{name}: the records before it");
            assert!(w.append(&rec(9)).is_err(), "{name}: a damaged journal takes no appends");
            assert!(w.reset().is_err());
            drop(w);
            assert_eq!(std::fs::read(&path).unwrap(), data, "{name}: the journal is kept as found");
        }
    }

    #[test]
    fn a_clean_journal_is_read_without_changing_it_and_any_other_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w");
        assert_eq!(Wal::read_clean(&path).unwrap(), None, "no journal");
        let (mut w, _, _) = open(&path);
        assert_eq!(Wal::read_clean(&path).unwrap(), Some(vec![]));
        w.append(&rec(1)).unwrap();
        let first = w.len() as usize;
        w.append(&big(2)).unwrap();
        drop(w);
        let clean = std::fs::read(&path).unwrap();
        assert_eq!(Wal::read_clean(&path).unwrap(), Some(vec![rec(1), big(2)]));
        assert_eq!(std::fs::read(&path).unwrap(), clean, "reading changes nothing");
        // A torn last record, a damaged one, and one whose first sector was zeroed while the
        // rest survived: none of them is read as clean, and none is changed.
        for (at, name) in [(first + SECTOR, "torn"), (first + HEADER + 5, "damaged"), (0, "zeroed start")] {
            let mut data = clean.clone();
            if name == "zeroed start" {
                data[..SECTOR].fill(0);
            } else if name == "torn" {
                data[at..at + SECTOR].fill(0);
            } else {
                data[at] ^= 1;
            }
            std::fs::write(&path, &data).unwrap();
            assert_eq!(Wal::read_clean(&path).unwrap(), None, "{name}");
            assert_eq!(std::fs::read(&path).unwrap(), data, "{name}: unchanged");
        }
    }

    #[test]
    fn reset_empties_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w");
        let (mut w, _, _) = open(&path);
        w.append(&rec(1)).unwrap();
        w.reset().unwrap();
        w.append(&rec(2)).unwrap();
        drop(w);
        assert_eq!(open(&path).1, vec![rec(2)]);
    }

    #[test]
    fn a_journal_grown_by_a_large_commit_is_cut_back_once_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w");
        let size = || std::fs::metadata(&path).unwrap().len();
        let mut large = big(1);
        large[0].1 = vec![0x5a; PREALLOC as usize + 100_000];
        let (mut w, _, _) = open(&path);
        w.append(&large).unwrap();
        let grown = size();
        assert!(grown > PREALLOC, "{grown}");
        drop(w);
        // Reopened before it is applied: the record is kept whole, and nothing is cut.
        let (mut w, records, damage) = open(&path);
        assert_eq!((records, damage), (vec![large], None));
        assert_eq!(size(), grown);
        w.reset().unwrap();
        assert_eq!(size(), PREALLOC, "emptied, the journal is back to its preallocation");
        w.append(&rec(2)).unwrap();
        drop(w);
        assert_eq!(open(&path).1, vec![rec(2)]);
        assert_eq!(size(), PREALLOC);
    }

    #[test]
    fn a_journal_longer_than_its_records_and_the_preallocation_is_cut_back_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w");
        let size = || std::fs::metadata(&path).unwrap().len();
        let (mut w, _, _) = open(&path);
        w.append(&rec(1)).unwrap();
        drop(w);
        // As a build that never cut the file left it after a large commit: zeros after the
        // records, far beyond the preallocation; and then with a torn tail out there as well.
        for tail in [None, Some(2 * PREALLOC as usize + 512)] {
            let mut data = std::fs::read(&path).unwrap();
            data.resize(3 * PREALLOC as usize, 0);
            if let Some(at) = tail {
                data[at..at + 4].copy_from_slice(MAGIC);
            }
            std::fs::write(&path, &data).unwrap();
            let (w, records, damage) = open(&path);
            assert_eq!((records, damage), (vec![rec(1)], None), "{tail:?}");
            assert_eq!(size(), PREALLOC, "{tail:?}");
            drop(w);
            assert_eq!(Wal::read_clean(&path).unwrap(), Some(vec![rec(1)]), "{tail:?}");
        }
    }
}
