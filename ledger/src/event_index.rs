//! Event indexes in files beside the store (ADR 0021): which events have a kind, a subject, a
//! model, a signer, which event has an id, and which run of events a command id began (ADR
//! 0029), answered without opening sled.
//!
//! The index is a set of immutable *runs* in `<ledger>/index/`. A run covers the events
//! `[start, end)` of an aligned range whose length is [`BASE`] × [`FANOUT`]^k and whose start is
//! a multiple of its length. It holds, for every name of those events ([`Name`]), the sorted
//! list of the events under it, the events' ids sorted for lookup, and the ids of the commands
//! whose runs begin there, sorted for lookup. The store's writer
//! writes a run of [`BASE`] events as soon as they are committed, and merges [`FANOUT`]
//! neighbouring runs of one length into one of the next as soon as all of them exist (on
//! another thread, [`Indexer`]), so a ledger of `n` events is covered by at most
//! `(FANOUT - 1) × log_FANOUT(n / BASE)` runs and fewer than [`BASE`] events past them.
//!
//! A run is derived data: bound to the chain by the id of its last event, its header and
//! directory checked by a digest, its command ids by a digest of their own (read whole when
//! first looked up), its whole content compared byte for byte with the one the events give by
//! `pledge verify`. A reader that finds no usable cover falls back to the store.
//!
//! Layout of a run file (integers big-endian):
//!
//! | bytes | what |
//! |---|---|
//! | 8 | `PLEDGEIX` |
//! | 4 | version, 2 |
//! | 4 | zero |
//! | 8 | `start` |
//! | 8 | `end` |
//! | 8 | `names`: the directory's entries |
//! | 8 | `postings`: the lists' entries in all |
//! | 8 | `commands`: the runs of events that begin here |
//! | 32 | the id of event `end - 1` |
//! | 32 | blake3 of the command table |
//! | 32 | blake3 of the 120 bytes above and the directory |
//! | 32 × names | directory, ascending by key: key (16), first posting (8), count (8) |
//! | 4 × postings | the lists, in the directory's order: `seq - start`, ascending |
//! | 12 × (end - start) | ids: the first 8 bytes of an event's id, `seq - start`; ascending |
//! | 12 × commands | command table: the first 8 bytes of blake3 of a command's id, `seq - start` of its run's first event; ascending |

use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::StoreError;
use crate::event::{Cause, RecordedEvent};
use crate::keys::KeyId;
use crate::store::EventSource;
use uuid::Uuid;

/// The length of the shortest run, written as soon as its events are committed.
pub const BASE: u64 = 1024;
/// How many runs of one length merge into one of the next.
pub const FANOUT: u64 = 8;
/// The longest run: relative sequence numbers are 32 bits.
const LONGEST: u64 = BASE << 21;
/// The most events a reader reads itself past the runs before it declines (the store's
/// writer keeps the runs within [`BASE`] of the head).
pub const MAX_TAIL: u64 = 8 * BASE;
/// The runs' directory in a ledger.
pub const DIR: &str = "index";

const MAGIC: &[u8; 8] = b"PLEDGEIX";
const VERSION: u32 = 2;
const HEADER: usize = 152;
/// Where the header's digest of itself and the directory is.
const HEADER_DIGEST: usize = 120;
const ENTRY: usize = 32;
const ID_ENTRY: usize = 12;

/// What events are indexed under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Name<'a> {
    /// Events of this kind.
    Kind(&'a str),
    /// Events whose subject is this model, any segment.
    Model(&'a str),
    /// Events whose subject is exactly this: a segment, or the whole model (`None` or `""`).
    Subject(&'a str, Option<&'a str>),
    /// Events whose run's command this key signed.
    Signer(&'a KeyId),
}

/// A name's key in a run: the first 16 bytes of blake3 of a tag and the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub [u8; 16]);

impl Name<'_> {
    /// Its key: blake3 of `k` and the kind, `m` and the model, `s`, the model, a zero byte and
    /// the segment (empty for the whole model), or `a` and the key id's 32 bytes; truncated.
    pub fn key(&self) -> Key {
        let mut h = blake3::Hasher::new();
        match self {
            Name::Kind(k) => h.update(b"k").update(k.as_bytes()),
            Name::Model(m) => h.update(b"m").update(m.as_bytes()),
            Name::Subject(m, s) => {
                h.update(b"s").update(m.as_bytes()).update(&[0]).update(s.unwrap_or("").as_bytes())
            }
            Name::Signer(k) => h.update(b"a").update(k.0.as_bytes()),
        };
        Key(h.finalize().as_bytes()[..16].try_into().expect("16 bytes"))
    }
}

/// The key that signed `ev`'s command, when `ev` is the first event of a run.
pub(crate) fn run_signer(ev: &RecordedEvent) -> Option<KeyId> {
    match &ev.event.cause {
        Cause::Command(env) => env.signatures.first().map(|s| s.keyid),
        Cause::Event(_) => None,
    }
}

/// The keys `ev` is indexed under, its run signed by `signer`: its kind, its model and exact
/// subject when it has one, and the signer when known.
pub fn keys_of(ev: &RecordedEvent, signer: Option<&KeyId>) -> Vec<Key> {
    let mut keys = vec![Name::Kind(&ev.event.kind).key()];
    if let Some(s) = &ev.event.subject {
        keys.push(Name::Model(&s.model).key());
        keys.push(Name::Subject(&s.model, s.segment.as_deref()).key());
    }
    if let Some(k) = signer {
        keys.push(Name::Signer(k).key());
    }
    keys
}

/// The id of the command whose run `ev` begins (the command it embeds), `None` for an event
/// caused by another (or one whose command does not parse, which verification refuses).
pub fn run_command(ev: &RecordedEvent) -> Option<Uuid> {
    match &ev.event.cause {
        Cause::Command(env) => crate::command::SignedCommand::parse(env.clone()).ok().map(|c| c.command().id),
        Cause::Event(_) => None,
    }
}

/// The signer of the run event `seq` is in (found from the run's first event, at or before
/// `seq`), `None` for an empty range or a run whose first event names no key.
pub fn signer_at(events: &dyn EventSource, seq: u64) -> Result<Option<KeyId>, StoreError> {
    let mut at = seq.min(events.count());
    while at > 0 {
        at -= 1;
        let ev = events.event(at)?.ok_or_else(|| crate::store::missing_event(at))?;
        if matches!(ev.event.cause, Cause::Command(_)) {
            return Ok(run_signer(&ev));
        }
    }
    Ok(None)
}

/// Whether `[start, end)` is the range of a run: a length of [`BASE`] × [`FANOUT`]^k, at most
/// the longest, and a start that is a multiple of it.
pub fn is_run_range(start: u64, end: u64) -> bool {
    let len = end.wrapping_sub(start);
    if end <= start || len > LONGEST || start % len != 0 {
        return false;
    }
    let mut l = BASE;
    while l < len {
        l *= FANOUT;
    }
    l == len
}

/// A run's file name: `start` and `end` as 16 hexadecimal digits each.
pub fn file_name(start: u64, end: u64) -> String {
    format!("{start:016x}-{end:016x}.run")
}

fn parse_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".run")?;
    let (a, b) = stem.split_once('-')?;
    if a.len() != 16 || b.len() != 16 {
        return None;
    }
    let (start, end) = (u64::from_str_radix(a, 16).ok()?, u64::from_str_radix(b, 16).ok()?);
    is_run_range(start, end).then_some((start, end))
}

/// The run files in `index_dir` whose names are of a run, by start then end.
pub fn list(index_dir: &Path) -> Vec<(u64, u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(index_dir) else { return vec![] };
    let mut out: Vec<_> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let (s, t) = parse_name(e.file_name().to_str()?)?;
            Some((s, t, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// A run being built from its events in order.
#[derive(Clone, Debug)]
pub struct Builder {
    start: u64,
    end: u64,
    lists: BTreeMap<Key, Vec<u32>>,
    ids: Vec<(u64, u32)>,
    commands: Vec<(u64, u32)>,
    last: Option<Digest>,
}

impl Builder {
    /// An empty run starting at `start`.
    pub fn new(start: u64) -> Builder {
        Builder {
            start,
            end: start,
            lists: BTreeMap::new(),
            ids: Vec::new(),
            commands: Vec::new(),
            last: None,
        }
    }

    /// The first event it covers.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// One past the last event added.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Adds event `seq` (the next one), of id `hash`, under `keys`.
    pub fn add(&mut self, seq: u64, hash: &Digest, keys: &[Key]) {
        assert_eq!(seq, self.end, "events are added to a run in order");
        let rel = u32::try_from(seq - self.start).expect("a run is shorter than 2^32 events");
        for k in keys {
            let list = self.lists.entry(*k).or_default();
            if list.last() != Some(&rel) {
                list.push(rel);
            }
        }
        self.ids.push((u64::from_be_bytes(hash.0[..8].try_into().expect("8 bytes")), rel));
        self.last = Some(*hash);
        self.end += 1;
    }

    /// Records that the event just added (`seq`) begins the run of the command `id`.
    pub fn add_command(&mut self, seq: u64, id: &Uuid) {
        assert_eq!(seq + 1, self.end, "a command is added with its run's first event");
        let rel = u32::try_from(seq - self.start).expect("a run is shorter than 2^32 events");
        self.commands.push((command_prefix(id), rel));
    }

    /// Adds the events of `events` in `[from, to)` (their run signers found from the events).
    pub fn add_from(&mut self, events: &dyn EventSource, to: u64) -> Result<(), StoreError> {
        let mut signer = signer_at(events, self.end)?;
        // By position, as the runs index them, whatever an event says of itself.
        let mut read = events.events_in(self.end..to);
        for seq in self.end..to {
            let ev = read.next().unwrap_or_else(|| Err(crate::store::missing_event(seq)))?;
            signer = run_signer(&ev).or(signer);
            self.add(seq, &ev.hash, &keys_of(&ev, signer.as_ref()));
            if let Some(id) = run_command(&ev) {
                self.add_command(seq, &id);
            }
        }
        Ok(())
    }

    /// The run file's bytes (see the module's documentation).
    pub fn encode(mut self) -> Vec<u8> {
        self.ids.sort_unstable();
        self.commands.sort_unstable();
        let postings: usize = self.lists.values().map(Vec::len).sum();
        let count = (self.end - self.start) as usize;
        let mut table = Vec::with_capacity(ID_ENTRY * self.commands.len());
        for (prefix, rel) in &self.commands {
            table.extend_from_slice(&prefix.to_be_bytes());
            table.extend_from_slice(&rel.to_be_bytes());
        }
        let mut out = Vec::with_capacity(
            HEADER + ENTRY * self.lists.len() + 4 * postings + ID_ENTRY * count + table.len(),
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&self.start.to_be_bytes());
        out.extend_from_slice(&self.end.to_be_bytes());
        out.extend_from_slice(&(self.lists.len() as u64).to_be_bytes());
        out.extend_from_slice(&(postings as u64).to_be_bytes());
        out.extend_from_slice(&(self.commands.len() as u64).to_be_bytes());
        out.extend_from_slice(&self.last.map_or([0; 32], |d| d.0));
        out.extend_from_slice(blake3::hash(&table).as_bytes());
        out.extend_from_slice(&[0; 32]);
        let mut first = 0u64;
        for (k, list) in &self.lists {
            out.extend_from_slice(&k.0);
            out.extend_from_slice(&first.to_be_bytes());
            out.extend_from_slice(&(list.len() as u64).to_be_bytes());
            first += list.len() as u64;
        }
        let digest = header_digest(&out[..HEADER_DIGEST], &out[HEADER..]);
        out[HEADER_DIGEST..HEADER].copy_from_slice(&digest);
        for list in self.lists.values() {
            for rel in list {
                out.extend_from_slice(&rel.to_be_bytes());
            }
        }
        for (prefix, rel) in &self.ids {
            out.extend_from_slice(&prefix.to_be_bytes());
            out.extend_from_slice(&rel.to_be_bytes());
        }
        out.extend_from_slice(&table);
        out
    }
}

/// A command id's key in a run's command table: the first 8 bytes (big-endian) of blake3 of
/// its 16 bytes. Hashed, because clients choose the ids: ids alike in their first bytes (a
/// UUID v7's time) must not fall on one key.
fn command_prefix(id: &Uuid) -> u64 {
    u64::from_be_bytes(blake3::hash(id.as_bytes()).as_bytes()[..8].try_into().expect("8 bytes"))
}

fn header_digest(header: &[u8], directory: &[u8]) -> [u8; 32] {
    *blake3::Hasher::new().update(header).update(directory).finalize().as_bytes()
}

/// The bytes of the run of `events` in `[start, end)`, built from the events.
pub fn build(events: &dyn EventSource, start: u64, end: u64) -> Result<Vec<u8>, StoreError> {
    let mut b = Builder::new(start);
    b.add_from(events, end)?;
    Ok(b.encode())
}

/// A run file opened for reading: its header and directory read and checked.
#[derive(Debug)]
pub struct Run {
    file: File,
    /// Where it was read from.
    pub path: PathBuf,
    /// The first event it covers.
    pub start: u64,
    /// One past the last.
    pub end: u64,
    /// The id of event `end - 1`.
    pub last: Digest,
    dir: Vec<(Key, u64, u64)>,
    postings_at: u64,
    ids_at: u64,
    commands_at: u64,
    commands: u64,
    commands_digest: [u8; 32],
    /// The command table, read whole and checked against its digest when first needed.
    command_table: std::sync::OnceLock<Result<Vec<u8>, String>>,
}

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().expect("8 bytes"))
}

fn read_at(file: &File, at: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, at)?;
    Ok(buf)
}

impl Run {
    /// Opens the run at `path`: refused unless its header is of this version and format, its
    /// sizes add up to the file's, its range is a run's, and its digest matches its header and
    /// directory, whose keys ascend and whose lists follow one another.
    pub fn open(path: &Path) -> Result<Run, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        let size = file.metadata().map_err(|e| e.to_string())?.len();
        let head = read_at(&file, 0, HEADER).map_err(|_| "it is shorter than a run's header".to_string())?;
        if &head[..8] != MAGIC || head[8..12] != VERSION.to_be_bytes() || head[12..16] != [0; 4] {
            return Err("it is not a run of this version".into());
        }
        let (start, end, names, postings, commands) = (
            be64(&head[16..24]),
            be64(&head[24..32]),
            be64(&head[32..40]),
            be64(&head[40..48]),
            be64(&head[48..56]),
        );
        if !is_run_range(start, end) {
            return Err(format!("[{start}, {end}) is not the range of a run"));
        }
        let expected = (HEADER as u64)
            .checked_add(names.checked_mul(ENTRY as u64).ok_or("its sizes overflow")?)
            .and_then(|n| n.checked_add(postings.checked_mul(4)?))
            .and_then(|n| n.checked_add((end - start) * ID_ENTRY as u64))
            .and_then(|n| n.checked_add(commands.checked_mul(ID_ENTRY as u64)?))
            .ok_or("its sizes overflow")?;
        if commands > end - start {
            return Err(format!("it lists {commands} commands for {} events", end - start));
        }
        if expected != size {
            return Err(format!("it is {size} bytes, its header says {expected}"));
        }
        let directory = read_at(&file, HEADER as u64, names as usize * ENTRY).map_err(|e| e.to_string())?;
        if header_digest(&head[..HEADER_DIGEST], &directory)[..] != head[HEADER_DIGEST..HEADER] {
            return Err("its digest does not match its header and directory".into());
        }
        let mut dir = Vec::with_capacity(names as usize);
        let mut next = 0u64;
        for e in directory.chunks_exact(ENTRY) {
            let (key, first, count) =
                (Key(e[..16].try_into().expect("16 bytes")), be64(&e[16..24]), be64(&e[24..32]));
            if first != next
                || count == 0
                || count > end - start
                || dir.last().is_some_and(|(k, _, _)| *k >= key)
            {
                return Err("its directory is out of order".into());
            }
            next += count;
            dir.push((key, first, count));
        }
        if next != postings {
            return Err("its directory does not account for its lists".into());
        }
        let postings_at = HEADER as u64 + names * ENTRY as u64;
        Ok(Run {
            file,
            path: path.to_path_buf(),
            start,
            end,
            last: Digest(head[56..88].try_into().expect("32 bytes")),
            dir,
            postings_at,
            ids_at: postings_at + postings * 4,
            commands_at: postings_at + postings * 4 + (end - start) * ID_ENTRY as u64,
            commands,
            commands_digest: head[88..120].try_into().expect("32 bytes"),
            command_table: std::sync::OnceLock::new(),
        })
    }

    /// Reads the command table and checks it against its digest and its order (once; later
    /// lookups use what was read): whether lookups can use it.
    pub fn check_command_table(&self) -> Result<(), String> {
        self.command_table().map(|_| ())
    }

    /// The command table, checked against its digest (read once).
    fn command_table(&self) -> Result<&[u8], String> {
        let table = self.command_table.get_or_init(|| {
            let table = read_at(&self.file, self.commands_at, (self.commands * ID_ENTRY as u64) as usize)
                .map_err(|e| e.to_string())?;
            if blake3::hash(&table).as_bytes() != &self.commands_digest {
                return Err("its command table does not match its digest".into());
            }
            let span = self.end - self.start;
            let entries: Vec<&[u8]> = table.chunks_exact(ID_ENTRY).collect();
            if entries.windows(2).any(|w| w[0] >= w[1])
                || entries
                    .iter()
                    .any(|e| u64::from(u32::from_be_bytes(e[8..].try_into().expect("4 bytes"))) >= span)
            {
                return Err("its command table is out of order or names an event past its end".into());
            }
            Ok(table)
        });
        table.as_deref().map_err(Clone::clone)
    }

    /// The first events of the runs of this run's events whose command id has the key `id`
    /// has (the caller checks each).
    pub fn with_command(&self, id: &Uuid) -> Result<Vec<u64>, String> {
        let table = self.command_table()?;
        let prefix = command_prefix(id);
        let entry = |i: usize| {
            let e = &table[i * ID_ENTRY..(i + 1) * ID_ENTRY];
            (be64(&e[..8]), u64::from(u32::from_be_bytes(e[8..].try_into().expect("4 bytes"))))
        };
        let n = table.len() / ID_ENTRY;
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if entry(mid).0 < prefix {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok((lo..n).map(entry).take_while(|(p, _)| *p == prefix).map(|(_, rel)| self.start + rel).collect())
    }

    fn list(&self, key: Key) -> Option<(u64, u64)> {
        let i = self.dir.binary_search_by(|(k, _, _)| k.cmp(&key)).ok()?;
        Some((self.dir[i].1, self.dir[i].2))
    }

    fn posting(&self, first: u64, i: u64) -> Result<u64, String> {
        let b = read_at(&self.file, self.postings_at + (first + i) * 4, 4).map_err(|e| e.to_string())?;
        let rel = u64::from(u32::from_be_bytes(b.try_into().expect("4 bytes")));
        if rel >= self.end - self.start {
            return Err(format!("a list names event {} past its end", self.start + rel));
        }
        Ok(self.start + rel)
    }

    /// The first index in the list at `first` (of `count`) whose event is at or after `seq`.
    fn lower_bound(&self, first: u64, count: u64, seq: u64) -> Result<u64, String> {
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.posting(first, mid)? < seq {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// The events under `key` within `range`, read in chunks, ascending (descending with
    /// `reverse`).
    fn seqs(&self, key: Key, range: Range<u64>, reverse: bool) -> RunSeqs<'_> {
        let bounds = self.list(key).map(|(first, count)| {
            let lo = self.lower_bound(first, count, range.start)?;
            let hi = self.lower_bound(first, count, range.end)?;
            Ok((first, lo, hi))
        });
        let ((first, lo, hi), failed) = match bounds {
            None => ((0, 0, 0), None),
            Some(Err(e)) => ((0, 0, 0), Some(e)),
            Some(Ok(bounds)) => (bounds, None),
        };
        RunSeqs { run: self, first, lo, hi, reverse, buf: Vec::new(), failed }
    }

    /// The events of this run whose id begins with the 8 bytes of `hash`.
    fn with_id(&self, hash: &Digest) -> Result<Vec<u64>, String> {
        let prefix = be64(&hash.0[..8]);
        let n = self.end - self.start;
        let at = |i: u64| -> Result<(u64, u64), String> {
            let b = read_at(&self.file, self.ids_at + i * ID_ENTRY as u64, ID_ENTRY)
                .map_err(|e| e.to_string())?;
            Ok((be64(&b[..8]), u64::from(u32::from_be_bytes(b[8..].try_into().expect("4 bytes")))))
        };
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if at(mid)?.0 < prefix {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut out = vec![];
        while lo < n {
            let (p, rel) = at(lo)?;
            if p != prefix {
                break;
            }
            if rel >= n {
                return Err(format!("its ids name event {} past its end", self.start + rel));
            }
            out.push(self.start + rel);
            lo += 1;
        }
        Ok(out)
    }
}

/// The part of one run's list a query reads, a chunk at a time.
struct RunSeqs<'a> {
    run: &'a Run,
    first: u64,
    lo: u64,
    hi: u64,
    reverse: bool,
    buf: Vec<u64>,
    failed: Option<String>,
}

/// How many list entries a read takes at once.
const CHUNK: u64 = 1024;

impl Iterator for RunSeqs<'_> {
    type Item = Result<u64, StoreError>;
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(reason) = self.failed.take() {
            self.lo = self.hi;
            return Some(Err(StoreError::Corrupt {
                seq: self.run.start,
                reason: format!("event index run: {reason}"),
            }));
        }
        if self.buf.is_empty() && self.lo < self.hi {
            let n = (self.hi - self.lo).min(CHUNK);
            let from = if self.reverse { self.hi - n } else { self.lo };
            let read =
                read_at(&self.run.file, self.run.postings_at + (self.first + from) * 4, n as usize * 4);
            let span = self.run.end - self.run.start;
            let chunk = read.map_err(|e| e.to_string()).and_then(|b| {
                b.chunks_exact(4)
                    .map(|c| {
                        let rel = u64::from(u32::from_be_bytes(c.try_into().expect("4 bytes")));
                        if rel < span {
                            Ok(self.run.start + rel)
                        } else {
                            Err(format!("a list names event {} past its end", self.run.start + rel))
                        }
                    })
                    .collect::<Result<Vec<u64>, String>>()
            });
            match chunk {
                Ok(mut seqs) => {
                    if !self.reverse {
                        seqs.reverse();
                    }
                    self.buf = seqs;
                }
                Err(reason) => {
                    self.lo = self.hi;
                    return Some(Err(StoreError::Corrupt {
                        seq: self.run.start,
                        reason: format!("event index run: {reason}"),
                    }));
                }
            }
            if self.reverse {
                self.hi -= n;
            } else {
                self.lo += n;
            }
        }
        self.buf.pop().map(Ok)
    }
}

/// The runs that cover the events from genesis, in order, taken from `index_dir` for the
/// chain of `events`: at each point the longest run there whose header checks and whose last
/// event is the chain's; the first point with none ends the cover.
pub fn cover(index_dir: &Path, events: &dyn EventSource) -> Result<Vec<Run>, StoreError> {
    let count = events.count();
    let mut by_start: BTreeMap<u64, Vec<(u64, PathBuf)>> = BTreeMap::new();
    for (s, e, p) in list(index_dir) {
        if e <= count {
            by_start.entry(s).or_default().push((e, p));
        }
    }
    let mut runs = vec![];
    let mut at = 0;
    'cover: while let Some(mut candidates) = by_start.remove(&at) {
        candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
        for (end, path) in candidates {
            let Ok(run) = Run::open(&path) else { continue };
            let last = events.event(end - 1)?.map(|e| e.hash);
            if run.end == end && last == Some(run.last) {
                at = end;
                runs.push(run);
                continue 'cover;
            }
        }
        break;
    }
    Ok(runs)
}

/// Events by name, for a query's candidates: the event index's runs ([`Reader`]) or the
/// store's own indexes ([`crate::Store`]).
pub trait EventIndex {
    /// The events under `name` within `range`, ascending (descending with `reverse`); `None`
    /// when this index does not answer for that name (the caller reads every event of the
    /// range).
    fn seqs_under<'a>(
        &'a self,
        name: Name<'_>,
        range: Range<u64>,
        reverse: bool,
    ) -> Option<Box<dyn Iterator<Item = Result<u64, StoreError>> + 'a>>;
}

impl EventIndex for Reader {
    fn seqs_under<'a>(
        &'a self,
        name: Name<'_>,
        range: Range<u64>,
        reverse: bool,
    ) -> Option<Box<dyn Iterator<Item = Result<u64, StoreError>> + 'a>> {
        Some(self.seqs(name, range, reverse))
    }
}

/// The event index of a ledger for a reader: the runs that cover it and the events past them,
/// read by the reader itself.
#[derive(Debug)]
pub struct Reader {
    runs: Vec<Run>,
    tail: BTreeMap<Key, Vec<u64>>,
    tail_ids: Vec<(Digest, u64)>,
    count: u64,
}

impl Reader {
    /// The index of `events`, the events of the ledger in `ledger_dir`; `None` when the runs
    /// leave more than [`MAX_TAIL`] events uncovered (the caller reads the store's indexes).
    pub fn open(ledger_dir: &Path, events: &dyn EventSource) -> Result<Option<Reader>, StoreError> {
        let runs = cover(&ledger_dir.join(DIR), events)?;
        let covered = runs.last().map_or(0, |r| r.end);
        let count = events.count();
        if count - covered > MAX_TAIL {
            return Ok(None);
        }
        let mut tail: BTreeMap<Key, Vec<u64>> = BTreeMap::new();
        let mut tail_ids = vec![];
        let mut signer = signer_at(events, covered)?;
        let mut read = events.events_in(covered..count);
        for seq in covered..count {
            let ev = read.next().unwrap_or_else(|| Err(crate::store::missing_event(seq)))?;
            signer = run_signer(&ev).or(signer);
            for k in keys_of(&ev, signer.as_ref()) {
                tail.entry(k).or_default().push(seq);
            }
            tail_ids.push((ev.hash, seq));
        }
        Ok(Some(Reader { runs, tail, tail_ids, count }))
    }

    /// How many events it covers.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The events under `name` within `range`, ascending (descending with `reverse`).
    pub fn seqs<'a>(
        &'a self,
        name: Name<'_>,
        range: Range<u64>,
        reverse: bool,
    ) -> Box<dyn Iterator<Item = Result<u64, StoreError>> + 'a> {
        let key = name.key();
        let range = range.start..range.end.min(self.count);
        let tail: Vec<u64> =
            self.tail.get(&key).into_iter().flatten().copied().filter(|s| range.contains(s)).collect();
        let (lo, hi) = (range.start, range.end);
        let runs = self.runs.iter().filter(move |r| r.start < hi && r.end > lo);
        if reverse {
            let runs: Vec<&Run> = runs.collect();
            let in_runs = runs.into_iter().rev().flat_map(move |r| r.seqs(key, range.clone(), true));
            Box::new(tail.into_iter().rev().map(Ok).chain(in_runs))
        } else {
            let r2 = range.clone();
            Box::new(runs.flat_map(move |r| r.seqs(key, r2.clone(), false)).chain(tail.into_iter().map(Ok)))
        }
    }

    /// The events that may have the id `hash` (those whose id begins as it does, in runs, and
    /// the one that has it past them); the caller checks each.
    pub fn with_id(&self, hash: &Digest) -> Result<Vec<u64>, StoreError> {
        let mut out = with_id_in(&self.runs, hash)?;
        out.extend(self.tail_ids.iter().filter(|(h, _)| h == hash).map(|(_, s)| *s));
        Ok(out)
    }
}

/// The events of `runs` that may have the id `hash` (those whose id begins as it does); the
/// caller checks each.
pub(crate) fn with_id_in(runs: &[Run], hash: &Digest) -> Result<Vec<u64>, StoreError> {
    let mut out = vec![];
    for r in runs {
        out.extend(r.with_id(hash).map_err(|reason| StoreError::Corrupt {
            seq: r.start,
            reason: format!("event index run: {reason}"),
        })?);
    }
    Ok(out)
}

/// Writes a run's `bytes` as `index_dir`'s file for `[start, end)`: to a temporary file, synced,
/// then renamed, so a run file is whole or absent.
fn write_run(index_dir: &Path, start: u64, end: u64, bytes: &[u8]) -> std::io::Result<()> {
    let path = index_dir.join(file_name(start, end));
    let tmp = path.with_extension("run.tmp");
    let mut f = File::create(&tmp)?;
    crate::pieces::write_all(&mut f, bytes)?;
    f.sync_data()?;
    std::fs::rename(&tmp, &path)?;
    // The rename made durable: the store counts on a written run to find commands (ADR 0029).
    File::open(index_dir)?.sync_all()
}

/// The run of `parts`, runs of one length covering consecutive events in order: their lists
/// joined, their ids and their command tables merged. The same bytes as the run built from the events.
pub fn merge(parts: &[Run]) -> Result<Vec<u8>, String> {
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return Err("nothing to merge".into());
    };
    if parts.windows(2).any(|w| w[0].end != w[1].start) || !is_run_range(first.start, last.end) {
        return Err("the runs are not the parts of one run".into());
    }
    let mut b = Builder::new(first.start);
    for p in parts {
        let shift = u32::try_from(p.start - first.start).map_err(|_| "a run is too long".to_string())?;
        let span = p.end - p.start;
        let postings = read_at(&p.file, p.postings_at, (p.ids_at - p.postings_at) as usize)
            .map_err(|e| e.to_string())?;
        for (key, at, count) in &p.dir {
            let list = b.lists.entry(*key).or_default();
            for c in postings[*at as usize * 4..(*at + *count) as usize * 4].chunks_exact(4) {
                let rel = u32::from_be_bytes(c.try_into().expect("4 bytes"));
                if u64::from(rel) >= span {
                    return Err(format!("`{}` names an event past its end", p.path.display()));
                }
                list.push(rel + shift);
            }
        }
        let ids = read_at(&p.file, p.ids_at, span as usize * ID_ENTRY).map_err(|e| e.to_string())?;
        for c in ids.chunks_exact(ID_ENTRY) {
            let rel = u32::from_be_bytes(c[8..].try_into().expect("4 bytes"));
            if u64::from(rel) >= span {
                return Err(format!("`{}` names an event past its end", p.path.display()));
            }
            b.ids.push((be64(&c[..8]), rel + shift));
        }
        let table = p.command_table().map_err(|e| format!("`{}`: {e}", p.path.display()))?;
        for c in table.chunks_exact(ID_ENTRY) {
            let rel = u32::from_be_bytes(c[8..].try_into().expect("4 bytes"));
            b.commands.push((be64(&c[..8]), rel + shift));
        }
    }
    b.end = last.end;
    b.last = Some(last.last);
    Ok(b.encode())
}

/// One committed event for the [`Indexer`]: its sequence number, id and keys, and the id of
/// the command whose run it begins.
pub(crate) type Indexed = (u64, Digest, Vec<Key>, Option<Uuid>);

/// The store's writer of runs, on a thread of its own: on start it removes what is not part of
/// the cover of the store's events (temporary files, runs of another chain, parts a merge
/// replaced) and builds the runs the cover lacks, longest first; then it takes the events of
/// every commit, writes a run of each [`BASE`] of them, and merges [`FANOUT`] runs of one
/// length as soon as they exist. Dropping it waits for the work it was given.
#[derive(Debug)]
pub(crate) struct Indexer {
    tx: Option<std::sync::mpsc::Sender<Vec<Indexed>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Indexer {
    /// Starts the indexer of the ledger in `ledger_dir`, whose events are `events`.
    pub(crate) fn start(ledger_dir: &Path, events: Box<dyn EventSource + Send>) -> Indexer {
        let (tx, rx) = std::sync::mpsc::channel();
        let index = ledger_dir.join(DIR);
        let thread = std::thread::Builder::new()
            .name("pledge-index".into())
            .spawn(move || {
                if let Err(e) = index_events(&index, &*events, &rx) {
                    tracing::warn!(dir = %index.display(), error = %e, "the event index stopped; reads use the store's indexes until the next open");
                    // Drain what commits send, so that they never block on it.
                    rx.iter().for_each(drop);
                }
            })
            .expect("spawn the index thread");
        Indexer { tx: Some(tx), thread: Some(thread) }
    }

    /// Hands the events of a commit to the thread.
    pub(crate) fn add(&self, events: Vec<Indexed>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(events);
        }
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Io(e)
}

/// The longest run that starts at `at` and ends at or before `count`, if any.
fn longest_at(at: u64, count: u64) -> Option<u64> {
    let mut len = LONGEST;
    while len >= BASE {
        if at % len == 0 && at + len <= count {
            return Some(len);
        }
        len /= FANOUT;
    }
    None
}

fn index_events(
    index: &Path,
    events: &dyn EventSource,
    rx: &std::sync::mpsc::Receiver<Vec<Indexed>>,
) -> Result<(), StoreError> {
    std::fs::create_dir_all(index).map_err(io)?;
    let count = events.count();
    let runs = cover(index, events)?;
    let keep: std::collections::BTreeSet<PathBuf> = runs.iter().map(|r| r.path.clone()).collect();
    for entry in std::fs::read_dir(index).map_err(io)?.filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if (name.ends_with(".run") || name.ends_with(".run.tmp")) && !keep.contains(&path) {
            std::fs::remove_file(&path).map_err(io)?;
        }
    }
    let mut covered = runs.last().map_or(0, |r| r.end);
    drop(runs);
    if count - covered >= BASE {
        tracing::info!(from = covered, to = count, "indexing events by kind, subject and signer");
    }
    while let Some(len) = longest_at(covered, count) {
        let bytes = build(events, covered, covered + len)?;
        write_run(index, covered, covered + len, &bytes).map_err(io)?;
        covered += len;
    }
    let mut pending = Builder::new(covered);
    pending.add_from(events, count)?;
    for batch in rx {
        for (seq, hash, keys, command) in batch {
            if seq != pending.end() {
                return Err(StoreError::Corrupt {
                    seq,
                    reason: format!("the event index expected event {}", pending.end()),
                });
            }
            pending.add(seq, &hash, &keys);
            if let Some(id) = command {
                pending.add_command(seq, &id);
            }
            if pending.end() - pending.start() == BASE {
                let (start, end) = (pending.start(), pending.end());
                let done = std::mem::replace(&mut pending, Builder::new(end));
                write_run(index, start, end, &done.encode()).map_err(io)?;
                merge_up(index, start, end)?;
            }
        }
    }
    Ok(())
}

/// Merges the run `[start, end)` with the runs before it into longer ones while all the parts
/// of one exist, removing the parts.
fn merge_up(index: &Path, mut start: u64, end: u64) -> Result<(), StoreError> {
    loop {
        let len = end - start;
        let group = len * FANOUT;
        if group > LONGEST || end % group != 0 {
            return Ok(());
        }
        let from = end - group;
        let parts: Result<Vec<Run>, String> = (0..FANOUT)
            .map(|i| Run::open(&index.join(file_name(from + i * len, from + (i + 1) * len))))
            .collect();
        let Ok(parts) = parts else { return Ok(()) };
        let bytes = merge(&parts).map_err(|reason| StoreError::Corrupt { seq: from, reason })?;
        write_run(index, from, end, &bytes).map_err(io)?;
        for p in parts {
            std::fs::remove_file(&p.path).map_err(io)?;
        }
        start = from;
    }
}

/// Compares every run file in `ledger_dir`'s index with the run the events of `events` give,
/// byte for byte; the first that differs (or names events the ledger lacks) is named in the
/// error, with the first event it covers. Returns how many were checked.
pub fn check(ledger_dir: &Path, events: &dyn EventSource) -> Result<u64, (u64, String)> {
    RunCheck::default().finish(ledger_dir, events)
}

/// The runs of a ledger's index rebuilt from its events as a verifier reads them, in order
/// from genesis ([`RunCheck::add`]), so that [`RunCheck::finish`] compares the run files with
/// them without reading and decoding every event a second time. It keeps the digest of each
/// run it built, not the run.
#[derive(Clone, Debug, Default)]
pub struct RunCheck {
    /// The runs listed when it started and not yet begun, by start.
    pending: Vec<(u64, u64)>,
    /// The runs being built, with the signer of the run of commands their next event is in.
    open: Vec<(Builder, u64, Option<KeyId>)>,
    /// The digest of each run built: `(start, end)` to blake3 of its bytes.
    built: BTreeMap<(u64, u64), Digest>,
    /// The signer of the last event's run of commands (as [`signer_at`] finds it).
    signer: Option<KeyId>,
    /// The next event expected.
    next: u64,
}

impl RunCheck {
    /// Rebuilds the runs listed in `ledger_dir`'s index now from the events to be added.
    pub fn listed(ledger_dir: &Path) -> RunCheck {
        let mut pending: Vec<(u64, u64)> =
            list(&ledger_dir.join(DIR)).into_iter().map(|(s, e, _)| (s, e)).collect();
        pending.sort_by(|a, b| b.cmp(a));
        RunCheck { pending, ..RunCheck::default() }
    }

    /// Adds the next event, `ev` (the events are added in order from genesis; a gap ends the
    /// rebuilding, and [`RunCheck::finish`] then reads the events of the runs it did not
    /// build). `command` is the id of the command `ev` embeds, as [`run_command`] gives it:
    /// the caller has parsed that command already (verification, to check its signature), and
    /// parsing it again here cost about a tenth of the folding thread's time.
    pub fn add(&mut self, ev: &RecordedEvent, command: Option<&Uuid>) {
        let seq = ev.event.seq;
        if seq != self.next {
            self.pending.clear();
            self.open.clear();
            return;
        }
        self.next += 1;
        // A run listed with a start already passed (impossible for a run's range, which the
        // listing checks) is left to `finish`.
        while let Some(&(start, end)) = self.pending.last().filter(|(start, _)| *start <= seq) {
            self.pending.pop();
            if start == seq {
                self.open.push((Builder::new(start), end, self.signer));
            }
        }
        if matches!(ev.event.cause, Cause::Command(_)) {
            self.signer = run_signer(ev);
        }
        if self.open.is_empty() {
            return;
        }
        let mut keys = keys_of(ev, None);
        let base = keys.len();
        let mut i = 0;
        while i < self.open.len() {
            let (b, end, signer) = &mut self.open[i];
            *signer = run_signer(ev).or(*signer);
            keys.truncate(base);
            if let Some(k) = signer.as_ref() {
                keys.push(Name::Signer(k).key());
            }
            b.add(seq, &ev.hash, &keys);
            if let Some(id) = command {
                b.add_command(seq, id);
            }
            if b.end() == *end {
                let (b, end, _) = self.open.swap_remove(i);
                self.built.insert((b.start(), end), Digest::of(&b.encode()));
            } else {
                i += 1;
            }
        }
    }

    /// Compares every run file in `ledger_dir`'s index with the run the events give, as
    /// [`check`] does: with the run rebuilt from the events added where there is one, else
    /// with the one `events` give.
    pub fn finish(self, ledger_dir: &Path, events: &dyn EventSource) -> Result<u64, (u64, String)> {
        let mut checked = 0;
        for (start, end, path) in list(&ledger_dir.join(DIR)) {
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                // Removed by a merge since it was listed.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err((
                        start,
                        format!("the event index run `{}` cannot be read: {e}", path.display()),
                    ))
                }
            };
            if end > events.count() {
                return Err((
                    events.count(),
                    format!(
                        "the event index run `{}` covers events up to {} but the ledger holds {}: it is of another ledger; remove it",
                        path.display(),
                        end - 1,
                        events.count()
                    ),
                ));
            }
            let same = match self.built.get(&(start, end)) {
                Some(want) => Digest::of(&bytes) == *want,
                None => bytes == build(events, start, end).map_err(|e| (start, e.to_string()))?,
            };
            if !same {
                return Err((start, format!(
                    "the event index run `{}` is not the one events {start} to {} give: it was altered or written by a faulty build; remove it (the next open writes it again)",
                    path.display(),
                    end - 1
                )));
            }
            checked += 1;
        }
        Ok(checked)
    }
}
