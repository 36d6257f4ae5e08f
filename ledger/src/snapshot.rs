//! Snapshots of the folded state (`docs/FORMAT.md`, section 19): the trust state and the
//! domain's state as of one event, bound to that event's hash, kept as files in
//! `<ledger>/snapshots/`. Opening a ledger loads the newest usable snapshot and folds only the
//! events after it; a missing, damaged, stale, mismatched or older-format snapshot is skipped
//! (the next older one is tried, then genesis), so a snapshot can make opening faster but never
//! the state different. `verify` re-derives every snapshot's state from the events and refuses
//! one that differs (see [`crate::verify_store`]).
//!
//! A snapshot is a cache of what the events give, not evidence: it carries no signature, and
//! nothing but opening speed depends on it.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::canonical::Timestamp;
use crate::digest::Digest;
use crate::store::Store;

/// The snapshot file format this build writes. It reads this one and the format before it
/// ([`FORMAT_NO_INDEX`]).
pub const FORMAT: u32 = 2;
/// The format before [`FORMAT`]: the same file without the index section (read as a snapshot
/// with an empty one).
pub const FORMAT_NO_INDEX: u32 = 1;
/// The first 16 bytes of every snapshot file.
pub const MAGIC: &[u8; 16] = b"pledge-snapshot\n";
/// The fixed-size header of [`FORMAT`]: magic, format, seq, event hash, recorded_at, three
/// section lengths.
const HEADER: usize = 16 + 4 + 8 + 32 + 8 + 8 + 8 + 8;
/// The header of [`FORMAT_NO_INDEX`]: two section lengths.
const HEADER_NO_INDEX: usize = HEADER - 8;
/// Snapshots kept in a ledger's directory; older ones are removed when a new one is written.
pub const KEEP: usize = 4;
/// Events folded beyond the newest snapshot after which opening or closing a ledger writes a
/// new one.
pub const EVERY: u64 = 2_000;

/// The directory holding a ledger's snapshots.
pub fn dir_of(ledger_dir: &Path) -> PathBuf {
    ledger_dir.join("snapshots")
}

/// One snapshot: the state after event `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The last event folded into it.
    pub seq: u64,
    /// That event's hash: the snapshot resumes only the chain holding this event at `seq`.
    pub event: Digest,
    /// That event's `recorded_at` (reads as of a time pick a snapshot by it).
    pub recorded_at: Timestamp,
    /// The trust state ([`crate::TrustState::to_snapshot`]).
    pub trust: Vec<u8>,
    /// The domain's state ([`crate::Domain::snapshot`]).
    pub domain: Vec<u8>,
    /// The domain's index of the events ([`crate::Domain::snapshot_index`]): what a question
    /// answered from this section alone reads, checked by a digest of its own; empty for none.
    pub index: Vec<u8>,
}

impl Snapshot {
    /// The file's bytes: the header, the three sections (the index section being the
    /// index's digest, [`index_digest`], then the index, or nothing for an empty index), then
    /// the blake3 hash of everything before it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.file_len());
        self.write_to(&mut out).expect("writing to memory does not fail");
        out
    }

    /// The length of [`Snapshot::encode`]'s bytes: the file's size.
    pub fn file_len(&self) -> usize {
        HEADER + self.trust.len() + self.domain.len() + self.index_len() + 32
    }

    fn index_len(&self) -> usize {
        if self.index.is_empty() {
            0
        } else {
            32 + self.index.len()
        }
    }

    /// Writes [`Snapshot::encode`]'s bytes to `w` from the sections where they are, hashing
    /// them on the way, in pieces ([`crate::pieces`]): no copy of the whole file is made.
    pub fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT.to_le_bytes());
        header.extend_from_slice(&self.seq.to_le_bytes());
        header.extend_from_slice(&self.event.0);
        header.extend_from_slice(&self.recorded_at.micros().to_le_bytes());
        header.extend_from_slice(&(self.trust.len() as u64).to_le_bytes());
        header.extend_from_slice(&(self.domain.len() as u64).to_le_bytes());
        header.extend_from_slice(&(self.index_len() as u64).to_le_bytes());
        let digest = (!self.index.is_empty()).then(|| index_digest(&header, &self.trust, &self.index));
        let mut check = blake3::Hasher::new();
        let sections: [&[u8]; 5] = [
            &header,
            &self.trust,
            &self.domain,
            digest.as_ref().map_or(&[][..], |d| &d[..]),
            if digest.is_some() { &self.index } else { &[] },
        ];
        for bytes in sections {
            check.update(bytes);
            crate::pieces::write_all(w, bytes)?;
        }
        w.write_all(check.finalize().as_bytes())
    }

    /// Reads a snapshot file's bytes, refusing anything but an intact file of [`FORMAT`] or
    /// [`FORMAT_NO_INDEX`] (whose index is empty); an index section whose digest does not match
    /// makes the whole file refused. The bytes are taken by value: the domain section (nearly
    /// all of them) stays in the same allocation instead of being copied.
    pub fn decode(mut bytes: Vec<u8>) -> Result<Snapshot, String> {
        let header = Header::parse(&bytes[..HEADER.min(bytes.len())], bytes.len() as u64)?;
        let body_len = bytes.len() - 32;
        if blake3::hash(&bytes[..body_len]).as_bytes() != &bytes[body_len..] {
            return Err("its checksum does not match its bytes".into());
        }
        bytes.truncate(body_len);
        let index = bytes.split_off(body_len - header.index_len as usize);
        let head: Vec<u8> = bytes.drain(..header.len + header.trust_len as usize).collect();
        let trust = head[header.len..].to_vec();
        let index = match index.split_first_chunk::<32>() {
            None => vec![],
            Some((digest, body)) if *digest == index_digest(&head[..header.len], &trust, body) => {
                body.to_vec()
            }
            Some(_) => return Err("its index section's digest does not match it".into()),
        };
        Ok(Snapshot {
            seq: header.seq,
            event: header.event,
            recorded_at: header.recorded_at,
            trust,
            domain: bytes,
            index,
        })
    }

    /// Reads and decodes the snapshot file at `path`.
    pub fn read(path: &Path) -> Result<Snapshot, String> {
        std::fs::read(path).map_err(|e| e.to_string()).and_then(Snapshot::decode)
    }
}

/// The digest that vouches for a snapshot's index section on its own: blake3 of the file's
/// header, its trust section and the index, so that a reader of the index alone need not
/// read the whole file to check it.
pub fn index_digest(header: &[u8], trust: &[u8], index: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(header);
    h.update(trust);
    h.update(index);
    *h.finalize().as_bytes()
}

/// The fixed-size header of a snapshot file, checked against the file's size.
struct Header {
    /// Its own length: [`HEADER`], or [`HEADER_NO_INDEX`] for the older format.
    len: usize,
    seq: u64,
    event: Digest,
    recorded_at: Timestamp,
    trust_len: u64,
    domain_len: u64,
    /// The index section's length: 0, or its digest's 32 bytes and the index.
    index_len: u64,
}

impl Header {
    /// Parses the header at the start of `head`, the first bytes of a file of `size` bytes:
    /// the magic, the format, and section lengths that add up to the size.
    fn parse(head: &[u8], size: u64) -> Result<Header, String> {
        if head.len() < HEADER_NO_INDEX || size < (HEADER_NO_INDEX + 32) as u64 || &head[..16] != MAGIC {
            return Err("not a snapshot file".into());
        }
        let u64_at = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().expect("8 bytes"));
        let format = u32::from_le_bytes(head[16..20].try_into().expect("4 bytes"));
        let len = match format {
            FORMAT if head.len() >= HEADER && size >= (HEADER + 32) as u64 => HEADER,
            FORMAT => return Err("not a snapshot file".into()),
            FORMAT_NO_INDEX => HEADER_NO_INDEX,
            _ => {
                return Err(format!(
                    "snapshot format {format}, this build reads {FORMAT_NO_INDEX} and {FORMAT}"
                ))
            }
        };
        let (trust_len, domain_len) = (u64_at(68), u64_at(76));
        let index_len = if len == HEADER { u64_at(84) } else { 0 };
        if index_len != 0 && index_len <= 32 {
            return Err("its index section is shorter than its digest".into());
        }
        let total = trust_len.checked_add(domain_len).and_then(|n| n.checked_add(index_len));
        if total != Some(size - (len + 32) as u64) {
            return Err("its section lengths do not add up to its size".into());
        }
        let micros = i64::from_le_bytes(head[60..68].try_into().expect("8 bytes"));
        let recorded_at = chrono::DateTime::from_timestamp_micros(micros)
            .map(Timestamp::from_datetime)
            .ok_or("its recorded_at is out of range")?;
        Ok(Header {
            len,
            seq: u64_at(20),
            event: Digest(head[28..60].try_into().expect("32 bytes")),
            recorded_at,
            trust_len,
            domain_len,
            index_len,
        })
    }
}

/// A snapshot file opened for resuming: its checksum checked over the whole file, its header
/// and trust section read, and its domain section left in the file until [`SnapshotFile::domain`]
/// reads it. Opening a ledger decodes the domain section straight from the file instead of
/// holding its bytes beside the state they decode to (210 MB at a million events), and a
/// reader of the trust state alone (`pledge log`) never reads it.
#[derive(Debug)]
pub struct SnapshotFile {
    /// The last event folded into it.
    pub seq: u64,
    /// That event's hash.
    pub event: Digest,
    /// That event's `recorded_at`.
    pub recorded_at: Timestamp,
    /// The trust section.
    pub trust: Vec<u8>,
    file: std::sync::Arc<std::fs::File>,
    /// Where the domain section starts.
    domain_at: u64,
    domain_len: u64,
    index_len: u64,
}

impl SnapshotFile {
    /// Opens the snapshot file at `path`, refusing anything [`Snapshot::decode`] refuses. The
    /// file is read once through blake3 in blocks; the domain section is read again, from the
    /// same open file, by [`SnapshotFile::domain`].
    pub fn open(path: &Path) -> Result<SnapshotFile, String> {
        let (snap, size) = SnapshotFile::open_unchecked(path)?;
        check_file(&snap.file, size)?;
        Ok(snap)
    }

    /// The file at `path` with its header checked against its size and its trust section
    /// read, but its checksum not checked; and its size.
    fn open_unchecked(path: &Path) -> Result<(SnapshotFile, u64), String> {
        use std::io::Read;
        let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let size = file.metadata().map_err(|e| e.to_string())?.len();
        if size < (HEADER_NO_INDEX + 32) as u64 {
            return Err("not a snapshot file".into());
        }
        let (header, head) = read_header(&mut file, size)?;
        let mut trust = vec![0u8; header.trust_len as usize];
        file.read_exact(&mut trust).map_err(|e| e.to_string())?;
        let snap = SnapshotFile {
            seq: header.seq,
            event: header.event,
            recorded_at: header.recorded_at,
            trust,
            file: std::sync::Arc::new(file),
            domain_at: head.len() as u64 + header.trust_len,
            domain_len: header.domain_len,
            index_len: header.index_len,
        };
        Ok((snap, size))
    }

    /// Whether it holds an index section (see [`Snapshot::index`]).
    pub fn has_index(&self) -> bool {
        self.index_len > 0
    }

    /// The domain section, read from the file (buffered); a reader may skip what it does not
    /// need: positions are relative to the section's start, and it ends where the section
    /// does.
    pub fn domain(&mut self) -> std::io::Result<impl std::io::Read + std::io::Seek + '_> {
        Ok(self.section().reader())
    }

    /// The domain section, for readers that read parts of it at once (each reader from its
    /// own position).
    pub fn section(&self) -> DomainSection<'_> {
        DomainSection { bytes: Bytes::File { file: &self.file, start: self.domain_at }, len: self.domain_len }
    }
}

/// A domain section that several readers may read at once, each from its own position (the
/// snapshot's parts decoded on several threads): the bytes of a snapshot file, read at
/// explicit offsets so that readers do not disturb each other, or bytes in memory.
#[derive(Clone, Copy, Debug)]
pub struct DomainSection<'a> {
    bytes: Bytes<'a>,
    len: u64,
}

#[derive(Clone, Copy, Debug)]
enum Bytes<'a> {
    File { file: &'a std::sync::Arc<std::fs::File>, start: u64 },
    Memory(&'a [u8]),
}

/// A domain section kept for reading later, after the snapshot it came from is closed: what
/// a state that decodes some of its parts only when they are first read holds
/// (`docs/adr/0027-keyed-parts-read-on-demand.md`). It shares the snapshot file opened (and
/// checksummed) when the ledger opened, so a file replaced since is not what it reads; what
/// it reads must still be checked by the reader (a keyed part's blocks carry their own
/// digests), since the same file may have been written over in place.
#[derive(Clone, Debug)]
pub struct SharedSection {
    bytes: SharedBytes,
    len: u64,
}

#[derive(Clone, Debug)]
enum SharedBytes {
    File { file: std::sync::Arc<std::fs::File>, start: u64 },
    Memory(std::sync::Arc<[u8]>),
}

impl SharedSection {
    /// The `len` bytes of `file` from `start`.
    pub fn of_file(file: std::sync::Arc<std::fs::File>, start: u64, len: u64) -> SharedSection {
        SharedSection { bytes: SharedBytes::File { file, start }, len }
    }

    /// The `len` bytes at `at` (relative to the section's start); an error when they are not
    /// all within the section, or cannot be read.
    pub fn read_at(&self, at: u64, len: u64) -> std::io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let end = at.checked_add(len).filter(|end| *end <= self.len).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "a range outside the domain section")
        })?;
        let len = usize::try_from(len).map_err(|_| std::io::Error::other("a range too long to read"))?;
        match &self.bytes {
            SharedBytes::File { file, start } => {
                let mut buf = vec![0u8; len];
                file.read_exact_at(&mut buf, start + at)?;
                Ok(buf)
            }
            SharedBytes::Memory(bytes) => Ok(bytes[at as usize..end as usize].to_vec()),
        }
    }

    /// The same bytes as a [`DomainSection`].
    pub fn section(&self) -> DomainSection<'_> {
        let bytes = match &self.bytes {
            SharedBytes::File { file, start } => Bytes::File { file, start: *start },
            SharedBytes::Memory(bytes) => Bytes::Memory(bytes),
        };
        DomainSection { bytes, len: self.len }
    }
}

impl<'a> DomainSection<'a> {
    /// A section held in memory.
    pub fn in_memory(bytes: &'a [u8]) -> DomainSection<'a> {
        DomainSection { bytes: Bytes::Memory(bytes), len: bytes.len() as u64 }
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The section kept for reading after this borrow ends: the same open file, or a copy of
    /// the bytes in memory.
    pub fn shared(&self) -> SharedSection {
        let bytes = match self.bytes {
            Bytes::File { file, start } => SharedBytes::File { file: file.clone(), start },
            Bytes::Memory(bytes) => SharedBytes::Memory(bytes.into()),
        };
        SharedSection { bytes, len: self.len }
    }

    /// A reader of it from its start (buffered), independent of every other: positions are
    /// relative to the section's start, and it ends where the section does.
    pub fn reader(&self) -> impl std::io::Read + std::io::Seek + Send + 'a {
        std::io::BufReader::with_capacity(1 << 16, At { bytes: self.bytes, len: self.len, pos: 0 })
    }
}

/// The event the snapshot file at `path` names in its header (its sequence number and id),
/// reading the header alone: nothing else of the file is checked. `None` when it cannot be
/// read or is not a snapshot's header.
pub fn bound_event(path: &Path) -> Option<(u64, Digest)> {
    let mut file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    if size < (HEADER_NO_INDEX + 32) as u64 {
        return None;
    }
    read_header(&mut file, size).ok().map(|(h, _)| (h.seq, h.event))
}

/// Reads the header of the snapshot file `file` (of `size` bytes) from its start, leaving the
/// file just after it: the header parsed, and its bytes.
fn read_header(file: &mut std::fs::File, size: u64) -> Result<(Header, Vec<u8>), String> {
    use std::io::Read;
    let mut head = vec![0u8; HEADER_NO_INDEX];
    file.read_exact(&mut head).map_err(|e| e.to_string())?;
    if u32::from_le_bytes(head[16..20].try_into().expect("4 bytes")) == FORMAT {
        head.resize(HEADER, 0);
        file.read_exact(&mut head[HEADER_NO_INDEX..]).map_err(|_| "not a snapshot file".to_string())?;
    }
    let header = Header::parse(&head, size)?;
    Ok((header, head))
}

/// The trust section and the index of the snapshot of the ledger in `ledger_dir` taken after
/// event `seq` with id `event`, read without reading its domain section or checking the
/// whole file: the index section's own digest vouches for the header, the trust section and
/// the index. `None` (logged) when no such file exists, it is of another event, holds no index
/// (an empty one, or the older format), or the digest does not match. The caller holds what
/// keeps `seq` the head (e.g. [`crate::store::CommittedEvents`]).
pub fn index_at(ledger_dir: &Path, seq: u64, event: Digest) -> Option<(Vec<u8>, Vec<u8>)> {
    /// The trust section and the index.
    type Sections = (Vec<u8>, Vec<u8>);
    use std::io::{Read, Seek, SeekFrom};
    let path = dir_of(ledger_dir).join(file_name(seq));
    let read = || -> Result<Option<Sections>, String> {
        let mut file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
        let size = file.metadata().map_err(|e| e.to_string())?.len();
        let (header, head) = read_header(&mut file, size)?;
        if header.seq != seq || header.event != event || header.index_len == 0 {
            return Ok(None);
        }
        let mut trust = vec![0u8; header.trust_len as usize];
        file.read_exact(&mut trust).map_err(|e| e.to_string())?;
        file.seek(SeekFrom::Current(i64::try_from(header.domain_len).map_err(|e| e.to_string())?))
            .map_err(|e| e.to_string())?;
        let mut section = vec![0u8; header.index_len as usize];
        file.read_exact(&mut section).map_err(|e| e.to_string())?;
        let index = section.split_off(32);
        if section[..] != index_digest(&head, &trust, &index) {
            return Err("its index section's digest does not match it".into());
        }
        Ok(Some((trust, index)))
    };
    match read() {
        Ok(found) => found,
        Err(reason) => {
            tracing::debug!(path = %path.display(), %reason, "snapshot index skipped");
            None
        }
    }
}

/// A reader of a [`DomainSection`]: its own position, within the section's bounds.
struct At<'a> {
    bytes: Bytes<'a>,
    len: u64,
    pos: u64,
}

impl std::io::Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let left = usize::try_from(self.len - self.pos).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        let n = match self.bytes {
            Bytes::File { file, start } => file.read_at(&mut buf[..want], start + self.pos)?,
            Bytes::Memory(bytes) => {
                let from = self.pos as usize;
                buf[..want].copy_from_slice(&bytes[from..from + want]);
                want
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for At<'_> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        use std::io::SeekFrom;
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
        };
        let Some(pos) = target.filter(|p| *p <= self.len) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "a position outside the domain section",
            ));
        };
        self.pos = pos;
        Ok(pos)
    }
}

/// A snapshot taken at a ledger's committed head, found without opening the store (see
/// [`at_committed_head`]), with the lock that keeps it at the head while it is held. Its
/// checksum is checked on another thread while [`AtHead::read`] reads it.
#[derive(Debug)]
pub struct AtHead {
    /// Keeps writers out until dropped.
    _lock: crate::store::SharedLock,
    /// The snapshot file, its header read; its domain section is still to be read.
    pub file: SnapshotFile,
    checked: std::thread::JoinHandle<Result<(), String>>,
}

impl AtHead {
    /// Runs `read` on the snapshot's trust state and file while the file's checksum is
    /// checked on another thread, and returns what it read only when the checksum matches:
    /// `None` when it does not, or when the trust section does not decode.
    pub fn read<T>(
        mut self,
        read: impl FnOnce(&crate::TrustState, &mut SnapshotFile) -> Option<T>,
    ) -> Option<T> {
        let result = match crate::TrustState::from_snapshot(&self.file.trust) {
            Ok(trust) => read(&trust, &mut self.file),
            Err(reason) => {
                tracing::debug!(seq = self.file.seq, %reason, "snapshot at the head not used");
                None
            }
        };
        match self.checked.join() {
            Ok(Ok(())) => result,
            Ok(Err(reason)) => {
                tracing::debug!(seq = self.file.seq, %reason, "snapshot at the head not used");
                None
            }
            Err(_) => None,
        }
    }
}

/// The snapshot of the ledger in `dir` taken at its committed head, when there is one: read
/// from the commit journal ([`crate::store::committed_head`]) and the snapshot files alone,
/// without opening sled, so that a question about the head is answered in the time it takes
/// to decode what it reads. `None` when the journal does not tell the head, or when no
/// snapshot file names exactly the head's sequence number and id; a file that does is
/// checked whole, while it is read ([`AtHead::read`]). The caller then opens the ledger
/// (which folds any events after the newest snapshot, or from genesis).
pub fn at_committed_head(ledger_dir: &Path) -> Result<Option<AtHead>, crate::StoreError> {
    let (lock, head) = crate::store::committed_head(ledger_dir)?;
    let Some((seq, event)) = head else { return Ok(None) };
    let Some((_, path)) = list(ledger_dir).into_iter().find(|(s, _)| *s == seq) else { return Ok(None) };
    let (file, size) = match SnapshotFile::open_unchecked(&path) {
        Ok((f, size)) if f.seq == seq && f.event == event => (f, size),
        Ok(_) => {
            tracing::debug!(path = %path.display(), seq, "snapshot skipped: it is not of the committed head");
            return Ok(None);
        }
        Err(reason) => {
            tracing::debug!(path = %path.display(), %reason, "snapshot skipped");
            return Ok(None);
        }
    };
    let other = file.file.try_clone()?;
    let checked = std::thread::spawn(move || check_file(&other, size));
    Ok(Some(AtHead { _lock: lock, file, checked }))
}

/// Checks that the last 32 bytes of `file` (of `size` bytes) are blake3 of the bytes before
/// them, reading it in blocks at explicit offsets (so that another reader of the same file
/// is not disturbed).
fn check_file(file: &std::fs::File, size: u64) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    let mismatch = || "its checksum does not match its bytes".to_string();
    let body = size.checked_sub(32).ok_or_else(mismatch)?;
    let mut hasher = blake3::Hasher::new();
    let mut block = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < body {
        let want = usize::try_from(body - at).unwrap_or(usize::MAX).min(block.len());
        file.read_exact_at(&mut block[..want], at).map_err(|e| e.to_string())?;
        hasher.update(&block[..want]);
        at += want as u64;
    }
    let mut check = [0u8; 32];
    file.read_exact_at(&mut check, body).map_err(|_| mismatch())?;
    if hasher.finalize().as_bytes() != &check {
        return Err(mismatch());
    }
    Ok(())
}

/// A snapshot file's name: the event sequence number, zero-padded so names sort by it.
fn file_name(seq: u64) -> String {
    format!("{seq:020}.snapshot")
}

/// The snapshot files in `ledger_dir`, newest (highest sequence number) first.
pub fn list(ledger_dir: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir_of(ledger_dir)) else { return vec![] };
    let mut found: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let seq = name.strip_suffix(".snapshot")?.parse::<u64>().ok()?;
            Some((seq, e.path()))
        })
        .collect();
    found.sort_by_key(|s| std::cmp::Reverse(s.0));
    found
}

/// The snapshots of `store` whose files are intact and bound to an event this store holds at
/// their sequence number, newest first, each with its path; files that fail are skipped with a
/// log line. `fits` picks among them (e.g. not after a point in the past).
pub fn usable<'a>(
    store: &'a Store,
    fits: impl Fn(&SnapshotFile) -> bool + 'a,
) -> impl Iterator<Item = (PathBuf, SnapshotFile)> + 'a {
    list(store.dir()).into_iter().filter_map(move |(seq, path)| {
        let snap = match SnapshotFile::open(&path) {
            Ok(s) => s,
            Err(reason) => {
                tracing::debug!(path = %path.display(), %reason, "snapshot skipped");
                return None;
            }
        };
        if snap.seq != seq {
            tracing::debug!(path = %path.display(), "snapshot skipped: its name and its contents disagree");
            return None;
        }
        if !fits(&snap) {
            return None;
        }
        match store.get(seq) {
            Ok(Some(ev)) if ev.hash == snap.event => Some((path, snap)),
            _ => {
                tracing::debug!(path = %path.display(), seq, "snapshot skipped: the store does not hold its event");
                None
            }
        }
    })
}

/// Writes `snap` into `ledger_dir`'s snapshot directory atomically (a temporary file, synced,
/// renamed into place), then removes all but the newest [`KEEP`].
pub fn write(ledger_dir: &Path, snap: &Snapshot) -> std::io::Result<PathBuf> {
    let dir = dir_of(ledger_dir);
    std::fs::create_dir_all(&dir)?;
    // One writer at a time holds the ledger: a temporary file left here is from a write that
    // did not finish.
    for entry in std::fs::read_dir(&dir)?.filter_map(|e| e.ok()) {
        if entry.file_name().to_str().is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp")) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let path = dir.join(file_name(snap.seq));
    let tmp = dir.join(format!(".{}.{}.tmp", file_name(snap.seq), std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        snap.write_to(&mut f)?;
        f.sync_data()?;
    }
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(&dir)?.sync_all()?;
    for (_, old) in list(ledger_dir).into_iter().skip(KEEP) {
        let _ = std::fs::remove_file(old);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(index: &[u8]) -> Snapshot {
        Snapshot {
            seq: 41,
            event: Digest::of(b"event 41"),
            recorded_at: Timestamp::from_datetime(
                chrono::DateTime::from_timestamp_micros(1_700_000_000_000_001).unwrap(),
            ),
            trust: b"the trust section".to_vec(),
            domain: b"the domain section, the largest".to_vec(),
            index: index.to_vec(),
        }
    }

    /// The same snapshot as the older format writes it: no index length, format 1.
    fn as_format_1(s: &Snapshot) -> Vec<u8> {
        assert!(s.index.is_empty());
        let mut b = s.encode();
        b.truncate(b.len() - 32);
        b.drain(84..92);
        b[16..20].copy_from_slice(&FORMAT_NO_INDEX.to_le_bytes());
        let check = blake3::hash(&b);
        b.extend_from_slice(check.as_bytes());
        b
    }

    fn in_ledger_dir(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir_of(tmp.path())).unwrap();
        let path = dir_of(tmp.path()).join(file_name(41));
        std::fs::write(&path, bytes).unwrap();
        (tmp, path)
    }

    #[test]
    fn a_snapshot_decodes_to_what_was_encoded_with_and_without_an_index_and_in_the_older_format() {
        for index in [&b""[..], b"pledge-timelines/1\n\x80"] {
            let s = snap(index);
            let bytes = s.encode();
            assert_eq!(u32::from_le_bytes(bytes[16..20].try_into().unwrap()), FORMAT);
            assert_eq!(Snapshot::decode(bytes.clone()).unwrap(), s);
            let (tmp, path) = in_ledger_dir(&bytes);
            let mut file = SnapshotFile::open(&path).unwrap();
            assert_eq!((file.seq, file.event, &file.trust), (s.seq, s.event, &s.trust));
            assert_eq!(file.has_index(), !index.is_empty());
            let mut domain = vec![];
            std::io::Read::read_to_end(&mut file.domain().unwrap(), &mut domain).unwrap();
            assert_eq!(domain, s.domain);
            // Readers of the section each keep their own position, within its bounds.
            let section = file.section();
            assert_eq!(section.len(), s.domain.len() as u64);
            let (mut a, mut b) = (section.reader(), section.reader());
            let (mut x, mut y) = ([0u8; 4], [0u8; 4]);
            std::io::Seek::seek(&mut b, std::io::SeekFrom::Start(4)).unwrap();
            std::io::Read::read_exact(&mut a, &mut x).unwrap();
            std::io::Read::read_exact(&mut b, &mut y).unwrap();
            assert_eq!((&x[..], &y[..]), (&s.domain[..4], &s.domain[4..8]));
            assert!(std::io::Seek::seek(&mut a, std::io::SeekFrom::Start(section.len() + 1)).is_err());
            let mut rest = vec![];
            std::io::Read::read_to_end(&mut b, &mut rest).unwrap();
            assert_eq!(rest, s.domain[8..]);
            let found = index_at(tmp.path(), 41, s.event);
            assert_eq!(found, (!index.is_empty()).then(|| (s.trust.clone(), s.index.clone())));
        }
        let s = snap(b"");
        let old = as_format_1(&s);
        assert_eq!(Snapshot::decode(old.clone()).unwrap(), s);
        let (tmp, path) = in_ledger_dir(&old);
        let mut file = SnapshotFile::open(&path).unwrap();
        assert!(!file.has_index());
        let mut domain = vec![];
        std::io::Read::read_to_end(&mut file.domain().unwrap(), &mut domain).unwrap();
        assert_eq!(domain, s.domain);
        assert_eq!(index_at(tmp.path(), 41, s.event), None);
    }

    #[test]
    fn a_written_snapshot_file_holds_exactly_the_encoded_bytes_whatever_its_size() {
        for index in [&b""[..], b"pledge-index/2\n\x92\x80\x80"] {
            let mut s = snap(index);
            // Sections longer than a piece, and not a whole number of pieces.
            s.domain = (0..3 * crate::pieces::PIECE + 5).map(|i| (i % 251) as u8).collect();
            s.trust = vec![9; crate::pieces::PIECE + 1];
            let tmp = tempfile::tempdir().unwrap();
            let path = write(tmp.path(), &s).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(bytes.len(), s.file_len());
            assert!(bytes == s.encode(), "the file differs from the encoding");
            assert_eq!(Snapshot::read(&path).unwrap(), s);
        }
    }

    #[test]
    fn the_index_is_read_alone_only_when_its_digest_vouches_for_the_header_the_trust_and_itself() {
        let s = snap(b"pledge-timelines/1\n\x81\xa1a\x01");
        let bytes = s.encode();
        let index_start = bytes.len() - 32 - s.index.len() - 32;
        let domain_at = HEADER + s.trust.len();
        // Every byte but the domain section's (which the index does not read) and the whole
        // file's checksum (which it does not check) is covered.
        for i in 0..bytes.len() - 32 {
            if (domain_at..domain_at + s.domain.len()).contains(&i) {
                continue;
            }
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            let (tmp, _) = in_ledger_dir(&b);
            assert_eq!(index_at(tmp.path(), 41, s.event), None, "byte {i} flipped");
        }
        // The domain section is not read: a flip there is left to the readers of it.
        let mut b = bytes.clone();
        b[domain_at] ^= 0x01;
        let (tmp, _) = in_ledger_dir(&b);
        assert_eq!(index_at(tmp.path(), 41, s.event), Some((s.trust.clone(), s.index.clone())));
        assert!(Snapshot::decode(b).is_err());
        // Another event, another sequence number.
        let (tmp, _) = in_ledger_dir(&bytes);
        assert_eq!(index_at(tmp.path(), 41, Digest::of(b"another")), None);
        assert_eq!(index_at(tmp.path(), 40, s.event), None);
        // A whole file whose checksum matches but whose index digest does not is refused whole.
        let mut b = bytes.clone();
        b[index_start + 40] ^= 0x01;
        let n = b.len() - 32;
        let check = blake3::hash(&b[..n]);
        b[n..].copy_from_slice(check.as_bytes());
        assert_eq!(Snapshot::decode(b.clone()).unwrap_err(), "its index section's digest does not match it");
        let (tmp, _) = in_ledger_dir(&b);
        assert_eq!(index_at(tmp.path(), 41, s.event), None);
    }
}
