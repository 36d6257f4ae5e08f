//! Event bodies in two append-only files beside sled (ADR 0020).
//!
//! - `events.log`: for every event in sequence order, its hash (32 bytes) followed by its
//!   canonical bytes, with nothing between one event and the next;
//! - `events.idx`: for every event in sequence order, the offset in `events.log` where its
//!   entry ends (u64 big-endian, 8 bytes). Event `n`'s entry is the bytes of `events.log` from
//!   entry `n - 1` of the index (0 for event 0) to entry `n`.
//!
//! The files are written only by applying a commit the journal has made durable, at offsets
//! that depend on nothing but the events before it, so that applying the same commit again
//! (an open replaying the journal) writes the same bytes at the same places. They are made
//! durable at checkpoints, before the journal forgets the commits they hold. Nothing read from
//! them is trusted: a read checks an entry's bounds, and every reader of an event's bytes checks
//! them against its hash and its links as it did when sled held them.
//!
//! A commit reserves the space its events take ([`EventFiles::reserve`], `fallocate` keeping
//! the files' sizes) before the journal makes it durable, so that a full disk refuses the
//! commit there, with nothing written, rather than failing the write that applies it: sled,
//! whose changes a commit applies alongside, is then never left half-written by a full disk
//! it did not meet itself.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::digest::Digest;
use crate::error::StoreError;
use crate::event::MAX_EVENT_BYTES;

/// The event bodies' file.
pub(crate) const LOG: &str = "events.log";
/// The index of the event bodies' file.
pub(crate) const IDX: &str = "events.idx";

/// How many events a sequential read takes from the files at once.
const CHUNK: u64 = 512;

/// The largest entry a well-formed `events.log` holds: a hash and an event of the largest size.
const MAX_ENTRY: u64 = 32 + MAX_EVENT_BYTES as u64;

/// Space reserved at the end of `events.log` at a time (less when the disk has less).
const LOG_RESERVE: u64 = 1 << 20;
/// Space reserved at the end of `events.idx` at a time.
const IDX_RESERVE: u64 = 64 << 10;

/// The two files of a store, open for reading and writing.
#[derive(Debug)]
pub(crate) struct EventFiles {
    log: File,
    idx: File,
    /// How many events the files hold complete: readers see no further.
    len: AtomicU64,
    /// How far each file's blocks are known to be allocated ([`EventFiles::reserve`]).
    reserved: [AtomicU64; 2],
}

fn corrupt(seq: u64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt { seq, reason: reason.into() }
}

/// Reads exactly `buf.len()` bytes at `at`, or says how many there were.
fn read_exact_at(file: &File, buf: &mut [u8], at: u64) -> Result<Result<(), usize>, StoreError> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], at + done as u64) {
            Ok(0) => return Ok(Err(done)),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StoreError::Io(e)),
        }
    }
    Ok(Ok(()))
}

impl EventFiles {
    /// Opens (creating them empty if missing) the files in `files`. Their length is the number
    /// of whole index entries; [`EventFiles::flaw`] says whether they are well formed.
    pub(crate) fn open(files: &Path) -> Result<EventFiles, StoreError> {
        let open = |name: &str| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(files.join(name))
        };
        let (log, idx) = (open(LOG)?, open(IDX)?);
        let idx_bytes = idx.metadata()?.len();
        let reserved = [AtomicU64::new(log.metadata()?.len()), AtomicU64::new(idx_bytes)];
        Ok(EventFiles { log, idx, len: AtomicU64::new(idx_bytes / 8), reserved })
    }

    /// Opens the files in `files` for reading only (a reader that does not open the store);
    /// `None` when either is missing.
    pub(crate) fn open_read(files: &Path) -> Result<Option<EventFiles>, StoreError> {
        let open = |name: &str| match File::open(files.join(name)) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        };
        let (Some(log), Some(idx)) = (open(LOG)?, open(IDX)?) else { return Ok(None) };
        let idx_bytes = idx.metadata()?.len();
        let reserved = [AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)];
        Ok(Some(EventFiles { log, idx, len: AtomicU64::new(idx_bytes / 8), reserved }))
    }

    /// Makes sure that writing `events` more events of `log_bytes` entry bytes in all after
    /// those the files hold needs no more space from the file system: allocates the blocks
    /// (`fallocate`, the files' sizes unchanged), a chunk ahead when the disk has room for it.
    /// Fails with the file system's error (a full disk) having written nothing. A file system
    /// that cannot reserve space (no `fallocate`) is left to meet a full disk in the write.
    pub(crate) fn reserve(&self, events: u64, log_bytes: u64) -> Result<(), StoreError> {
        let len = self.len();
        let log_end = self.end_of(len)? + log_bytes;
        let idx_end = (len + events) * 8;
        for (file, reserved, end, chunk) in [
            (&self.log, &self.reserved[0], log_end, LOG_RESERVE),
            (&self.idx, &self.reserved[1], idx_end, IDX_RESERVE),
        ] {
            let from = reserved.load(Ordering::Acquire);
            if end <= from {
                continue;
            }
            let ahead = end.div_ceil(chunk) * chunk;
            let allocate =
                |to: u64| rustix::fs::fallocate(file, rustix::fs::FallocateFlags::KEEP_SIZE, from, to - from);
            let done = match allocate(ahead) {
                Ok(()) => Ok(ahead),
                Err(rustix::io::Errno::NOSPC) => allocate(end).map(|()| end),
                Err(e) => Err(e),
            };
            match done {
                Ok(to) => reserved.store(to, Ordering::Release),
                Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => {
                    reserved.store(u64::MAX, Ordering::Release)
                }
                Err(e) => return Err(StoreError::Io(e.into())),
            }
        }
        Ok(())
    }

    /// What is wrong with the files, if anything: an index whose size is not a multiple of 8,
    /// or a log longer or shorter than its last index entry says. (An entry with impossible
    /// bounds is found when it is read.)
    pub(crate) fn flaw(&self) -> Result<Option<String>, StoreError> {
        let idx_bytes = self.idx.metadata()?.len();
        if idx_bytes % 8 != 0 {
            return Ok(Some(format!(
                "`{IDX}` is {idx_bytes} bytes, not a whole number of 8-byte entries: it was cut or extended"
            )));
        }
        let len = self.len();
        let end = self.end_of(len)?;
        let log_bytes = self.log.metadata()?.len();
        Ok((log_bytes != end).then(|| {
            if log_bytes > end {
                format!(
                    "`{LOG}` holds {} bytes past the end of its last event ({len} events end at byte {end}): it was extended",
                    log_bytes - end
                )
            } else {
                format!("`{LOG}` ends at byte {log_bytes}, before its {len} events end (byte {end}): it was cut")
            }
        }))
    }

    /// How many events the files hold.
    pub(crate) fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// Where the first `n` events' entries end (index entry `n - 1`; 0 for none).
    fn end_of(&self, n: u64) -> Result<u64, StoreError> {
        if n == 0 {
            return Ok(0);
        }
        let mut b = [0u8; 8];
        match read_exact_at(&self.idx, &mut b, (n - 1) * 8)? {
            Ok(()) => Ok(u64::from_be_bytes(b)),
            Err(_) => Err(corrupt(n - 1, format!("`{IDX}` has no entry for event {}", n - 1))),
        }
    }

    /// Writes event `seq`'s entry (its hash and bytes) after event `seq - 1`'s, and its index
    /// entry. `seq` is at most the number of events held: a journal replay rewrites events the
    /// files already hold, byte for byte.
    pub(crate) fn write(&self, seq: u64, value: &[u8]) -> Result<(), StoreError> {
        let len = self.len();
        if seq > len {
            return Err(corrupt(
                seq,
                format!("event {seq} cannot be written: `{IDX}` holds only {len} events before it"),
            ));
        }
        let start = self.end_of(seq)?;
        crate::pieces::write_all_at(&self.log, value, start)?;
        let end = start + value.len() as u64;
        self.idx.write_all_at(&end.to_be_bytes(), seq * 8)?;
        if seq == len {
            self.len.store(seq + 1, Ordering::Release);
        }
        Ok(())
    }

    /// Makes what was written durable (`fdatasync` of both files).
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        self.log.sync_data()?;
        self.idx.sync_data()?;
        Ok(())
    }

    /// Empties both files (a conversion starting over).
    pub(crate) fn clear(&self) -> Result<(), StoreError> {
        self.log.set_len(0)?;
        self.idx.set_len(0)?;
        self.len.store(0, Ordering::Release);
        self.reserved.iter().for_each(|r| r.store(0, Ordering::Release));
        Ok(())
    }

    /// Event `seq`'s stored hash and bytes; `None` past the end.
    pub(crate) fn get(&self, seq: u64) -> Result<Option<(Digest, Vec<u8>)>, StoreError> {
        if seq >= self.len() {
            return Ok(None);
        }
        Ok(self.chunk(seq, seq + 1)?.pop().map(|(_, h, b)| (h, b)))
    }

    /// The entries of events `lo..hi` (all held), read with one read of the index and one of
    /// the log; an entry with impossible bounds ends the chunk with an error naming its event.
    pub(crate) fn chunk(&self, lo: u64, hi: u64) -> Result<Vec<(u64, Digest, Vec<u8>)>, StoreError> {
        let hi = hi.min(self.len());
        if lo >= hi {
            return Ok(Vec::new());
        }
        // Entries lo - 1 ..= hi - 1 of the index: where each event starts and ends.
        let first = lo.saturating_sub(1);
        let mut idx = vec![0u8; ((hi - first) * 8) as usize];
        if let Err(got) = read_exact_at(&self.idx, &mut idx, first * 8)? {
            return Err(corrupt(
                first + got as u64 / 8,
                format!("`{IDX}` ends before the entry of this event"),
            ));
        }
        let mut ends: Vec<u64> =
            idx.chunks_exact(8).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes"))).collect();
        if lo == 0 {
            ends.insert(0, 0);
        }
        // Bounds first, so that a damaged entry never makes a read huge, nor one past the log.
        let log_bytes = self.log.metadata()?.len();
        let mut good = 0;
        let mut bad = None;
        for (i, w) in ends.windows(2).enumerate() {
            let seq = lo + i as u64;
            if w[1] < w[0] || w[1] - w[0] < 32 || w[1] - w[0] > MAX_ENTRY {
                bad = Some(corrupt(
                    seq,
                    format!(
                        "`{IDX}` gives event {seq} the bytes {}..{} of `{LOG}`: not a hash and an event",
                        w[0], w[1]
                    ),
                ));
                break;
            }
            if w[1] > log_bytes {
                bad = Some(corrupt(
                    seq,
                    format!(
                        "`{LOG}` ends at byte {log_bytes}, before event {seq}'s entry does (byte {})",
                        w[1]
                    ),
                ));
                break;
            }
            good += 1;
        }
        let mut out = Vec::with_capacity(good);
        if good > 0 {
            let (start, end) = (ends[0], ends[good]);
            let mut data = vec![0u8; (end - start) as usize];
            if let Err(got) = read_exact_at(&self.log, &mut data, start)? {
                let at = start + got as u64;
                let seq = lo + ends[1..].iter().position(|e| *e > at).unwrap_or(0) as u64;
                return Err(corrupt(seq, format!("`{LOG}` ends at byte {at}, inside event {seq}")));
            }
            for (i, w) in ends[..=good].windows(2).enumerate() {
                let v = &data[(w[0] - start) as usize..(w[1] - start) as usize];
                let mut h = [0u8; 32];
                h.copy_from_slice(&v[..32]);
                out.push((lo + i as u64, Digest(h), v[32..].to_vec()));
            }
        }
        match bad {
            Some(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }

    /// Events `lo..hi` (those held), read a chunk at a time from either end.
    pub(crate) fn entries(files: Arc<EventFiles>, lo: u64, hi: u64) -> Entries {
        let hi = hi.min(files.len()).max(lo);
        Entries { files, lo, hi, front: Vec::new(), back: Vec::new(), failed: false }
    }
}

/// A double-ended iterator over the entries of a range of events (see [`EventFiles::entries`]).
/// After an error it ends.
pub(crate) struct Entries {
    files: Arc<EventFiles>,
    /// The events not yet read into a buffer.
    lo: u64,
    hi: u64,
    /// Read ahead from the front, reversed (the next one last).
    front: Vec<(u64, Digest, Vec<u8>)>,
    /// Read ahead from the back, in order (the next one last).
    back: Vec<(u64, Digest, Vec<u8>)>,
    failed: bool,
}

type Entry = Result<(u64, Digest, Vec<u8>), StoreError>;

impl Entries {
    fn fail(&mut self, e: StoreError) -> Option<Entry> {
        self.failed = true;
        Some(Err(e))
    }
}

impl Iterator for Entries {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        if self.failed {
            return None;
        }
        if self.front.is_empty() && self.lo < self.hi {
            let hi = self.hi.min(self.lo + CHUNK);
            match self.files.chunk(self.lo, hi) {
                Ok(c) if c.is_empty() => return self.fail(corrupt(self.lo, "event is missing")),
                Ok(mut c) => {
                    self.lo += c.len() as u64;
                    c.reverse();
                    self.front = c;
                }
                Err(e) => return self.fail(e),
            }
        }
        if let Some(e) = self.front.pop() {
            return Some(Ok(e));
        }
        // Nothing left between: what the back read ahead comes next.
        if self.back.is_empty() {
            return None;
        }
        Some(Ok(self.back.remove(0)))
    }
}

impl DoubleEndedIterator for Entries {
    fn next_back(&mut self) -> Option<Entry> {
        if self.failed {
            return None;
        }
        if self.back.is_empty() && self.lo < self.hi {
            let lo = self.lo.max(self.hi.saturating_sub(CHUNK));
            match self.files.chunk(lo, self.hi) {
                Ok(c) if c.len() as u64 != self.hi - lo => {
                    // A damaged entry cut the chunk short: its error, read alone.
                    let seq = lo + c.len() as u64;
                    let e = self.files.chunk(seq, seq + 1).err();
                    return self.fail(e.unwrap_or_else(|| corrupt(seq, "event is missing")));
                }
                Ok(c) => {
                    self.hi = lo;
                    self.back = c;
                }
                Err(e) => return self.fail(e),
            }
        }
        if let Some(e) = self.back.pop() {
            return Some(Ok(e));
        }
        if self.front.is_empty() {
            return None;
        }
        Some(Ok(self.front.remove(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn sizes(f: &EventFiles) -> (u64, u64) {
        (f.log.metadata().unwrap().len(), f.idx.metadata().unwrap().len())
    }

    #[test]
    fn a_reservation_allocates_the_space_ahead_and_changes_no_size() {
        let dir = tempfile::tempdir().unwrap();
        let files = EventFiles::open(dir.path()).unwrap();
        files.write(0, &[7u8; 100]).unwrap();
        let before = sizes(&files);
        files.reserve(3, 5_000).unwrap();
        assert_eq!(sizes(&files), before, "a reservation changes no file's size");
        assert_eq!(files.flaw().unwrap(), None);
        if files.reserved[0].load(Ordering::Acquire) == u64::MAX {
            eprintln!("skipped the allocation check: this file system has no fallocate");
        } else {
            // A chunk ahead, not just the 5,000 bytes asked for: `st_blocks` counts 512-byte units.
            assert!(files.log.metadata().unwrap().blocks() * 512 >= LOG_RESERVE);
            assert!(files.idx.metadata().unwrap().blocks() * 512 >= IDX_RESERVE);
            assert_eq!(
                files.reserved.each_ref().map(|r| r.load(Ordering::Acquire)),
                [LOG_RESERVE, IDX_RESERVE]
            );
        }
        // Writes into the reserved space read back and leave the files well formed.
        for seq in 1..4u8 {
            files.write(u64::from(seq), &[seq; 1_000]).unwrap();
        }
        assert_eq!(sizes(&files), (3_100, 32));
        assert_eq!(files.get(2).unwrap().unwrap().1, vec![2u8; 1_000 - 32]);
        assert_eq!(files.flaw().unwrap(), None);
        // Within what is reserved, nothing more is asked of the file system.
        files.reserve(1, 10).unwrap();
        assert!(files.reserved[0].load(Ordering::Acquire) >= LOG_RESERVE);
    }
}
