//! The store: atomic, durable appends with indexes by sequence, subject, kind, signer and
//! command id.
//!
//! The events themselves live in two plain files beside sled (ADR 0020, `event_files.rs`):
//! `events.log` holds each event's entry, its hash (32 bytes) then its canonical bytes, back
//! to back in sequence order; `events.idx` holds one big-endian u64 per event, the offset in
//! `events.log` where its entry ends. Event `seq` is the bytes between entries `seq - 1` and
//! `seq` of the index (from 0 for the first). Everything else is in sled, so that opening the
//! store costs what sled's small key set costs, not what the ledger's size does.
//!
//! Layout of sled (one tree, keys prefixed by one byte):
//!
//! | key | value |
//! |---|---|
//! | `m:events:files` | empty: the store keeps its events in the files above |
//! | `S` + model + `\0` + segment (empty for whole-model) + `\0` + block | bitmap of the block's events about that subject |
//! | `K` + kind + `\0` + block | bitmap of the block's events of that kind |
//! | `A` + signer key id (32 bytes) + block | bitmap of the block's events whose run that key signed |
//! | `m:indexed:blocks` | how many events (from genesis) the three bitmap indexes cover (u64 BE) |
//! | `c` + command id (16 bytes) | payload digest (32) + first seq (u64 BE) + event count (u32 BE), for a command whose run begins at or after `m:commands:runs` (and perhaps some before) |
//! | `m:commands:runs` | every command whose run begins before this event (u64 BE) is found through the event index's runs (absent: 0) |
//! | `m:head` | seq (u64 BE) + hash of the last committed event (the head anchor) |
//! | `t` + level (u8) + index (u64 BE) | the RFC 6962 Merkle tree node over leaves `index * 2^level ..` (SHA-256, 32 bytes), for every complete perfect subtree of level 8 or more |
//!
//! The Merkle tree's eight lowest levels are not stored: a node there is computed from its at
//! most 128 events when asked for (a leaf is the hash of the event's bytes), read with one
//! read of the event files; the store keeps one key per 128 events instead of one per two
//! (ADR 0029). A store written with more levels is converted like the indexes.
//!
//! The subject, kind and signer indexes are bitmaps over blocks of 64 events: `block` is
//! `seq / 64` (u64 BE) and bit `seq % 64` of the value (a u64, big-endian) is set when event
//! `seq` is indexed there. One key per block and name instead of one per event: sled's memory
//! and opening time grow with its number of keys (`docs/PERFORMANCE.md`). A store written with
//! the older layout (`s`, `k`, `a` + one key per event, `m:indexed`) is converted when it is
//! next opened for writing.
//!
//! Commands are found by id in sled for the last events and through the event index's command
//! tables (ADR 0029) for the others: after a commit, once the runs from genesis reach past
//! `m:commands:runs`, the writer raises it to their end and removes the `c` keys they cover
//! ([`Store::sweep_commands`]), so that sled holds a few thousand command records whatever
//! the ledger's length.
//!
//! Events are found by id through the event index's runs (`event_index.rs`) and the stored
//! ids past them, not through sled: an index of a million random 32-byte keys is what made
//! sled's open slow (ADR 0025). A store an older build wrote holds it as `h` + id → seq (u64
//! BE); those keys (with any its commit journal still held) are removed like the older
//! indexes when the store is next opened for writing.
//!
//! A store an older build wrote keeps its events in sled instead, as `e` + seq (u64 BE) →
//! hash + canonical bytes, and no `m:events:files`: opening it copies them into the files
//! (from the start, so a copy cut short is redone), makes those durable, writes the marker,
//! then removes the `e` keys in batches (finished by the next open if cut short).
//!
//! An append first writes all of its keys as one record to the commit journal
//! (`<dir>/pledge.wal`; events still as `e` keys there) and `fdatasync`s it, then applies them:
//! events to the files, the rest to sled. The event files and sled's own files are made durable
//! at checkpoints (`fdatasync` of both event files, then sled `flush`, `fdatasync` of its data
//! file, `fsync` of new blob files), after which the journal is emptied. Opening the store
//! re-applies whatever the journal still holds (an event written again lands where it was).
//! See `docs/ARCHITECTURE.md`, "Durability".

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::canonical::Timestamp;
use crate::digest::Digest;
use crate::dsse::Envelope;
use crate::error::StoreError;
use crate::event::{
    Cause, DraftCause, Event, EventDraft, RecordedEvent, Subject, FORMAT_VERSION, MAX_EVENT_BYTES,
};
use crate::event_files::{self, EventFiles};
use crate::keys::KeyId;
use crate::merkle::{self, CompactRange};
use crate::wal::{Record, Wal};

const EVENT: u8 = b'e';
const HASH: u8 = b'h';
const COMMAND: u8 = b'c';
const TREE: u8 = b't';
/// The lowest Merkle tree level the store keeps; nodes below are computed from the events.
pub(crate) const STORED_LEVELS_FROM: u8 = 8;
/// Events by subject: `S` + model + 0 + segment + 0 + block, a bitmap (see the module's doc).
const SUBJECT: u8 = b'S';
/// Events by kind: `K` + kind + 0 + block, a bitmap.
const KIND: u8 = b'K';
/// Events by the key that signed the command of their run: `A` + key id (32 bytes) + block,
/// a bitmap.
const SIGNER: u8 = b'A';
/// How many events (from genesis) the subject, kind and signer indexes cover, u64 BE: written
/// with every commit; a store written before these indexes (or by an older build) is indexed
/// from there when it is next opened for writing.
const INDEXED: &[u8] = b"m:indexed:blocks";
/// The older layout of the indexes, one key per event (`s`/`k`/`a` + ... + seq, empty value)
/// and its marker: removed when a store is opened for writing.
const OLD_INDEXES: [u8; 3] = [b's', b'k', b'a'];
const OLD_INDEXED: &[u8] = b"m:indexed";
/// log2 of the events a bitmap block of the indexes covers.
const BLOCK_BITS: u32 = 6;
/// The head as of the last commit: seq (u64 BE) + hash. Written with every commit, and kept in
/// the journal after a checkpoint, so that sled losing its tail is detected on open.
const ANCHOR: &[u8] = b"m:head";
/// Every command whose run begins before this event (u64 BE) is found through the event index's
/// runs, and its `c` key may have been removed (ADR 0029); absent means 0.
const COMMANDS_IN_RUNS: &[u8] = b"m:commands:runs";

/// Present once a store's events are in `events.log` (ADR 0020): a store an older build wrote
/// keeps them under `e` keys in sled, and opening it copies them to the files, writes this
/// marker, then removes the keys. A new store is marked when it is first opened.
const IN_FILES: &[u8] = b"m:events:files";

/// Journal size past which a commit also checkpoints sled and empties the journal.
const CHECKPOINT_BYTES: u64 = 3 * 1024 * 1024;

/// The last event of the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    /// Its sequence number (the ledger holds `seq + 1` events).
    pub seq: u64,
    /// Its hash.
    pub hash: Digest,
    /// When it was recorded.
    pub recorded_at: Timestamp,
}

/// What a writer believes the head is (optimistic concurrency).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedHead {
    /// Append wherever the head is.
    Any,
    /// The ledger must be empty.
    Empty,
    /// The head must be the event with this hash.
    At(Digest),
}

/// Where a command's events are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CommandRecord {
    /// blake3 of the command's payload bytes.
    pub digest: Digest,
    /// Sequence number of its first event.
    pub first_seq: u64,
    /// How many events it produced (contiguous).
    pub count: u32,
}

/// The command records of complete runs of events (`docs/FORMAT.md`, section 3): each run
/// starts with the event that embeds its command, and every later event of it names an
/// earlier one. For writing events that did not come through the append path (an import).
pub(crate) fn command_records(events: &[RecordedEvent]) -> Result<Vec<(Uuid, CommandRecord)>, String> {
    let mut records: Vec<(Uuid, CommandRecord)> = Vec::new();
    for ev in events {
        match &ev.event.cause {
            Cause::Command(env) => {
                let cmd = crate::command::SignedCommand::parse(env.clone())?;
                records.push((
                    cmd.command().id,
                    CommandRecord { digest: cmd.digest(), first_seq: ev.seq(), count: 1 },
                ));
            }
            Cause::Event(_) => match records.last_mut() {
                Some((_, rec)) => rec.count += 1,
                None => return Err(format!("event {} is caused by an event, but no run is open", ev.seq())),
            },
        }
    }
    Ok(records)
}

/// Assigns sequence numbers, links, times and hashes to drafts, continuing from a head.
#[derive(Clone, Debug)]
pub struct ChainCursor {
    next_seq: u64,
    prev: Option<Digest>,
    last_time: Option<Timestamp>,
}

impl ChainCursor {
    /// A cursor continuing after `head` (or starting a new ledger).
    pub fn after(head: Option<&Head>) -> ChainCursor {
        ChainCursor {
            next_seq: head.map_or(0, |h| h.seq + 1),
            prev: head.map(|h| h.hash),
            last_time: head.map(|h| h.recorded_at),
        }
    }

    /// The head as it will be once the events sealed so far are committed.
    pub fn head(&self) -> Option<Head> {
        match (self.prev, self.last_time) {
            (Some(hash), Some(recorded_at)) => Some(Head { seq: self.next_seq - 1, hash, recorded_at }),
            _ => None,
        }
    }

    /// Seals the drafts of one decision (one command's **run**) into events. `envelope` is
    /// the command they answer. The drafts must have the shape of a run (`docs/FORMAT.md`,
    /// section 3): the first caused by the command, every later one by an earlier draft.
    /// Every event of the run is recorded at `now`, raised to the previous event's time if the
    /// clock reads earlier (the append path passes that raised time to the decide step too).
    pub fn seal(
        &mut self,
        drafts: Vec<EventDraft>,
        envelope: &Envelope,
        now: Timestamp,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out: Vec<RecordedEvent> = Vec::with_capacity(drafts.len());
        self.seal_with(
            drafts,
            envelope,
            now,
            |_, bytes| Digest::of(bytes),
            |hash, bytes| {
                // Decoded back from its bytes, so that a fold sees on append exactly what it sees
                // on replay (JCS writes `1.0` as `1`, which decodes as an integer).
                let event =
                    serde_json::from_slice(&bytes).map_err(|e| StoreError::Encoding(e.to_string()))?;
                out.push(RecordedEvent { hash, event, bytes });
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// The canonical bytes and ids the drafts of one run would be recorded as after this
    /// cursor, without decoding them back: what verification compares with the recorded bytes.
    pub fn encode(
        &mut self,
        drafts: Vec<EventDraft>,
        envelope: &Envelope,
        now: Timestamp,
    ) -> Result<Vec<(Digest, Vec<u8>)>, StoreError> {
        self.encode_against(drafts, envelope, now, &[])
    }

    /// Like [`ChainCursor::encode`], for a run already recorded as `recorded` (the ids and
    /// bytes of its events, in order): an event encoded to exactly the bytes recorded at its
    /// place takes the recorded id, which is the hash of those bytes, instead of hashing them
    /// again. Verification re-derives every run this way.
    pub fn encode_against(
        &mut self,
        drafts: Vec<EventDraft>,
        envelope: &Envelope,
        now: Timestamp,
        recorded: &[(Digest, &[u8])],
    ) -> Result<Vec<(Digest, Vec<u8>)>, StoreError> {
        let mut out = Vec::with_capacity(drafts.len());
        let id = |i: usize, bytes: &[u8]| match recorded.get(i) {
            Some((hash, same)) if *same == bytes => *hash,
            _ => Digest::of(bytes),
        };
        self.seal_with(drafts, envelope, now, id, |hash, bytes| {
            out.push((hash, bytes));
            Ok(())
        })?;
        Ok(out)
    }

    fn seal_with(
        &mut self,
        drafts: Vec<EventDraft>,
        envelope: &Envelope,
        now: Timestamp,
        id: impl Fn(usize, &[u8]) -> Digest,
        mut sealed: impl FnMut(Digest, Vec<u8>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let recorded_at = self.time_after(now);
        let mut hashes: Vec<Digest> = Vec::with_capacity(drafts.len());
        for (i, d) in drafts.into_iter().enumerate() {
            if let Some(s) = &d.subject {
                s.validate().map_err(StoreError::Encoding)?;
            }
            let cause = match (i, d.cause) {
                (0, DraftCause::ThisCommand) => Cause::Command(envelope.clone()),
                (0, DraftCause::EarlierDraft(_)) => {
                    return Err(StoreError::Encoding("the first event of a run must be caused by its command".into()))
                }
                (_, DraftCause::ThisCommand) => {
                    return Err(StoreError::Encoding(format!(
                        "event {i} of a run names the command; only the first may (later ones name an earlier event of the run)"
                    )))
                }
                (_, DraftCause::EarlierDraft(j)) => Cause::Event(*hashes.get(j).ok_or_else(|| {
                    StoreError::Encoding(format!("event {i} of a run names event {j}, which is not earlier"))
                })?),
            };
            let ev = Event {
                format: FORMAT_VERSION,
                seq: self.next_seq,
                prev: self.prev,
                kind: d.kind,
                kind_version: d.kind_version,
                recorded_at,
                subject: d.subject,
                cause,
                payload: d.payload,
            };
            let bytes = ev.canonical_bytes().map_err(|e| StoreError::Encoding(e.to_string()))?;
            if bytes.len() > MAX_EVENT_BYTES {
                return Err(StoreError::Encoding(format!(
                    "`{}` event is {} bytes, the limit is {MAX_EVENT_BYTES}",
                    ev.kind,
                    bytes.len()
                )));
            }
            let hash = id(i, &bytes);
            self.next_seq += 1;
            self.prev = Some(hash);
            self.last_time = Some(recorded_at);
            hashes.push(hash);
            sealed(hash, bytes)?;
        }
        Ok(())
    }

    /// The time the next run is recorded at when the clock reads `now`: never earlier than
    /// the previous event's.
    pub fn time_after(&self, now: Timestamp) -> Timestamp {
        match self.last_time {
            Some(t) if t > now => t,
            _ => now,
        }
    }
}

/// The store's files: sled's database, its log file (`db`) to `fdatasync` it, and the event
/// bodies' files.
struct Sled {
    db: sled::Db,
    data_file: File,
    events: Arc<EventFiles>,
}

/// A ledger opened read-only ([`Store::open`] on a ledger the process may not write): sled
/// cannot open files it may not write, so its files and the journal are copied into a private
/// scratch directory and opened there. A shared lock on the ledger's `db` file keeps writers
/// (which lock it exclusively) out while the copy is made and used. The copy is removed when
/// the store closes.
struct ReadOnly {
    reason: String,
    _lock: File,
    scratch: PathBuf,
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// The event store. One process at a time may open a directory for writing (sled locks it).
pub struct Store {
    /// sled; `None` only after a recovery could not reopen it ([`Store::recover`]).
    sled: std::sync::RwLock<Option<Sled>>,
    /// The ledger directory.
    dir: PathBuf,
    /// Where sled's files and the journal are: `dir`, or the private copy of a read-only store.
    files: PathBuf,
    synced_blobs: Mutex<BTreeSet<OsString>>,
    head: Mutex<Option<Head>>,
    wal: Mutex<Wal>,
    /// Damage found when the store was opened: the last stored event cannot be decoded, the
    /// events do not reach the committed head, or the commit journal holds an acknowledged
    /// commit it cannot read. The store still opens, so that it can be verified and exported,
    /// but it takes no appends and [`crate::Ledger::open`] refuses it.
    damage: Option<String>,
    /// Set when a commit left the store needing its files reopened: sled failed to apply or
    /// checkpoint a commit the journal had made durable (a full disk). [`Store::recover`]
    /// reopens them; until then the store takes no appends.
    poisoned: Mutex<Option<String>>,
    /// Commits still to fail on purpose (see [`Store::fail_next_commits`]).
    failing: std::sync::atomic::AtomicU32,
    /// The right edge of the Merkle tree over the stored events (its perfect subtrees' roots).
    tree: Mutex<CompactRange>,
    /// Set for a read-only store; dropped after sled, removing its private copy.
    read_only: Option<ReadOnly>,
    /// The writer of the event index's runs (ADR 0021); `None` for a read-only or damaged
    /// store. Dropped first, so that it has finished before the store's lock is released.
    indexer: Option<crate::event_index::Indexer>,
    /// Every command whose run begins before this event is found through the event index's
    /// runs, its `c` key perhaps removed ([`COMMANDS_IN_RUNS`], ADR 0029). Raised before the
    /// keys go, so that a lookup that reads it before sled never misses a removed key.
    commands_below: std::sync::atomic::AtomicU64,
    /// The runs from genesis a lookup of a command last read (their command tables read once).
    command_runs: Mutex<Vec<crate::event_index::Run>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).field("head", &self.head()).finish()
    }
}

fn check_expected(expected: ExpectedHead, actual: Option<Head>) -> Result<(), StoreError> {
    let matches = match expected {
        ExpectedHead::Any => true,
        ExpectedHead::Empty => actual.is_none(),
        ExpectedHead::At(h) => actual.is_some_and(|a| a.hash == h),
    };
    if matches {
        return Ok(());
    }
    Err(StoreError::Conflict {
        expected: match expected {
            ExpectedHead::Any => "any".into(),
            ExpectedHead::Empty => "an empty ledger".into(),
            ExpectedHead::At(h) => h.to_string(),
        },
        actual: actual.map_or("an empty ledger".into(), |a| format!("{} (event {})", a.hash, a.seq)),
    })
}

fn seq_key(prefix: u8, seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn subject_prefix(model: &str, segment: Option<Option<&str>>) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + model.len() + 16);
    k.push(SUBJECT);
    k.extend_from_slice(model.as_bytes());
    k.push(0);
    if let Some(seg) = segment {
        k.extend_from_slice(seg.unwrap_or("").as_bytes());
        k.push(0);
    }
    k
}

fn kind_prefix(kind: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + kind.len() + 8);
    k.push(KIND);
    k.extend_from_slice(kind.as_bytes());
    k.push(0);
    k
}

fn signer_prefix(key: &KeyId) -> Vec<u8> {
    let mut k = Vec::with_capacity(41);
    k.push(SIGNER);
    k.extend_from_slice(key.0.as_bytes());
    k
}

use crate::event_index::run_signer;

/// Adds `ev`'s bits (its run signed by `signer`) to the subject, kind and signer index
/// blocks in `bits`.
fn index_bits(
    bits: &mut std::collections::BTreeMap<Vec<u8>, u64>,
    ev: &RecordedEvent,
    signer: Option<&KeyId>,
) {
    let seq = ev.event.seq;
    let (block, bit) = ((seq >> BLOCK_BITS).to_be_bytes(), 1u64 << (seq & ((1 << BLOCK_BITS) - 1)));
    let mut add = |mut key: Vec<u8>| {
        key.extend_from_slice(&block);
        *bits.entry(key).or_default() |= bit;
    };
    if let Some(s) = &ev.event.subject {
        add(subject_prefix(&s.model, Some(s.segment.as_deref())));
    }
    add(kind_prefix(&ev.event.kind));
    if let Some(key) = signer {
        add(signer_prefix(key));
    }
}

/// The index blocks `bits` merged with what `db` holds for them: the keys and values to write.
fn merged_blocks(
    db: &sled::Db,
    bits: std::collections::BTreeMap<Vec<u8>, u64>,
) -> Result<Record, StoreError> {
    bits.into_iter()
        .map(|(key, bits)| {
            let held = match db.get(&key)? {
                None => 0,
                Some(v) => block_value(&key, &v)?,
            };
            Ok((key, (held | bits).to_be_bytes().to_vec()))
        })
        .collect()
}

/// The bitmap an index block holds.
fn block_value(key: &[u8], v: &[u8]) -> Result<u64, StoreError> {
    let bad = || StoreError::Corrupt {
        seq: seq_from(key).map_or(0, |b| b << BLOCK_BITS),
        reason: "an index block is not 8 bytes".into(),
    };
    Ok(u64::from_be_bytes(v.try_into().map_err(|_| bad())?))
}

/// The sequence numbers in `range` set in block `block`'s bitmap `bits`, ascending (descending
/// with `reverse`).
fn block_seqs(block: u64, bits: u64, range: &std::ops::Range<u64>, reverse: bool) -> Vec<u64> {
    let base = block << BLOCK_BITS;
    let mut out: Vec<u64> =
        (0..64).filter(|i| bits >> i & 1 == 1).map(|i| base + i).filter(|s| range.contains(s)).collect();
    if reverse {
        out.reverse();
    }
    out
}

/// The sequence numbers indexed under `prefix` (the blocks of one name) within `range`, in
/// order or reversed.
fn seqs_under<'a>(
    store: &'a Store,
    prefix: Vec<u8>,
    range: std::ops::Range<u64>,
    reverse: bool,
) -> Box<dyn Iterator<Item = Result<u64, StoreError>> + 'a> {
    if range.is_empty() {
        return Box::new(std::iter::empty());
    }
    let (db, unavailable) = split(store.db());
    let mut lo = prefix.clone();
    lo.extend_from_slice(&(range.start >> BLOCK_BITS).to_be_bytes());
    let mut hi = prefix;
    hi.extend_from_slice(&(((range.end - 1) >> BLOCK_BITS) + 1).to_be_bytes());
    let scan = db.into_iter().flat_map(move |db| {
        let r = db.range(lo.clone()..hi.clone());
        let r: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
            if reverse { Box::new(r.rev()) } else { Box::new(r) };
        r
    });
    Box::new(unavailable.into_iter().map(Err).chain(scan.flat_map(move |kv| {
        let seqs = kv.map_err(|e| store.failed(e)).and_then(|(k, v)| {
            let block =
                seq_from(&k).ok_or(StoreError::Corrupt { seq: 0, reason: "bad index entry".into() })?;
            Ok(block_seqs(block, block_value(&k, &v)?, &range, reverse))
        });
        let (ok, err) = match seqs {
            Ok(s) => (s, None),
            Err(e) => (Vec::new(), Some(Err(e))),
        };
        err.into_iter().chain(ok.into_iter().map(Ok))
    })))
}

fn seq_from(bytes: &[u8]) -> Option<u64> {
    bytes.get(bytes.len().checked_sub(8)?..).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
}

/// How long opening a store waits for a lock another process holds, in milliseconds
/// ([`set_lock_wait`]; 2 s by default).
static LOCK_WAIT_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(2_000);

/// Sets how long opening a store waits while another process holds the ledger (a `pledge
/// serve`, another command) before giving up with [`StoreError::Locked`], for the whole
/// process (the CLI's `--wait SECONDS`). Zero still allows the few milliseconds sled needs to
/// release a lock this process held itself.
pub fn set_lock_wait(wait: std::time::Duration) {
    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    LOCK_WAIT_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

/// Waits until no process holds the lock of the store in `dir` (this process's closed stores
/// included: sled releases its lock from worker threads after the store is closed, and after
/// a large store that can take seconds), for at most `wait`; then [`StoreError::Locked`].
/// Takes and releases a shared lock, so it never holds the store. For a caller about to start
/// another process on the store and time it (`pledge bench`).
pub fn wait_until_unlocked(dir: &Path, wait: std::time::Duration) -> Result<(), StoreError> {
    let Ok(file) = File::open(dir.join("db")) else { return Ok(()) };
    let deadline = std::time::Instant::now() + wait;
    loop {
        if try_lock_shared(&file)? {
            rustix::fs::flock(&file, rustix::fs::FlockOperation::Unlock)
                .map_err(|e| StoreError::Io(e.into()))?;
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(StoreError::Locked(dir.to_path_buf()));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Takes a shared `flock` on `file` if no process holds it exclusively (true), without waiting.
fn try_lock_shared(file: &File) -> Result<bool, StoreError> {
    match rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockShared) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(StoreError::Io(e.into())),
    }
}

/// A shared lock on a ledger's `db` file: while it is held no process opens the store for
/// writing (sled locks that file exclusively), and other readers may hold it too. Released
/// when dropped.
#[derive(Debug)]
pub struct SharedLock(File);

/// Takes a [`SharedLock`] on the ledger in `dir`, waiting as opening the store does.
fn lock_shared(dir: &Path) -> Result<SharedLock, StoreError> {
    let lock = File::open(dir.join("db"))?;
    wait_for_lock(dir, || Ok(try_lock_shared(&lock)?.then_some(())))?;
    Ok(SharedLock(lock))
}

/// The committed head of the ledger in `dir` (its sequence number and id), read from the
/// commit journal without opening the store, and the [`SharedLock`] that keeps it the head
/// while it is held. Every commit record and every checkpoint ends the journal with the head
/// anchor, so the last anchor of a clean journal is the head the next open finds. `None` when
/// the journal does not tell: it is not clean (a crash left a torn tail or damage, which only
/// opening the store handles), or holds no anchor (an empty ledger, or a checkpoint cut short).
/// For a reader that answers from a snapshot taken at that head without opening sled; damage
/// to sled's own files is found by the next open and by `pledge verify`, not here.
pub fn committed_head(dir: &Path) -> Result<(SharedLock, Option<(u64, Digest)>), StoreError> {
    let lock = lock_shared(dir)?;
    let head = Wal::read_clean(&dir.join("pledge.wal"))?.and_then(|records| last_anchor(&records));
    Ok((lock, head))
}

/// The head anchor the journal's records end with: the last `m:head` value, if any.
fn last_anchor(records: &[Record]) -> Option<(u64, Digest)> {
    records
        .iter()
        .rev()
        .find_map(|r| r.iter().rev().find(|(k, _)| k.as_slice() == ANCHOR))
        .and_then(|(_, v)| parse_anchor(v))
}

/// Events read by sequence number: the open [`Store`], or the [`CommittedEvents`] read without
/// opening sled. What the questions that read a few events (timelines, single events) need.
pub trait EventSource {
    /// How many events there are (the head's `seq` + 1).
    fn count(&self) -> u64;
    /// The event at `seq`; `None` past the head.
    fn event(&self, seq: u64) -> Result<Option<RecordedEvent>, StoreError>;
    /// The event `ev`'s cause names, an earlier event of its run (`docs/FORMAT.md`, section 3);
    /// `None` for the first event of a run (caused by its command) or a cause not found. Read
    /// back from `ev` to the first event of its run, the one whose id the cause names.
    fn caused_by(&self, ev: &RecordedEvent) -> Result<Option<RecordedEvent>, StoreError> {
        let Cause::Event(h) = &ev.event.cause else { return Ok(None) };
        for seq in (0..ev.seq()).rev() {
            let Some(earlier) = self.event(seq)? else { return Ok(None) };
            if earlier.hash == *h {
                return Ok(Some(earlier));
            }
            if matches!(earlier.event.cause, Cause::Command(_)) {
                return Ok(None);
            }
        }
        Ok(None)
    }
    /// The first sequence number whose event was recorded after `t` (the number of events when
    /// none was): a binary search, since `recorded_at` never decreases along the chain.
    fn seq_after_time(&self, t: Timestamp) -> Result<u64, StoreError> {
        first_seq_where(self, |at| at > t)
    }
    /// The first sequence number whose event was recorded at or after `t` (the number of
    /// events when none was), by the same binary search.
    fn seq_at_time(&self, t: Timestamp) -> Result<u64, StoreError> {
        first_seq_where(self, |at| at >= t)
    }
    /// The events in `range`, in order (each one an error when missing); a source that reads
    /// many events at once better than one by one overrides it.
    fn events_in(
        &self,
        range: std::ops::Range<u64>,
    ) -> Box<dyn Iterator<Item = Result<RecordedEvent, StoreError>> + '_> {
        Box::new(range.map(|seq| self.event(seq)?.ok_or_else(|| missing_event(seq))))
    }
}

/// The store's indexes (bitmap blocks in sled): kinds, exact subjects and signers, when they
/// cover every event.
impl crate::event_index::EventIndex for Store {
    fn seqs_under<'a>(
        &'a self,
        name: crate::event_index::Name<'_>,
        range: std::ops::Range<u64>,
        reverse: bool,
    ) -> Option<Box<dyn Iterator<Item = Result<u64, StoreError>> + 'a>> {
        use crate::event_index::Name;
        if !self.indexed() {
            return None;
        }
        Some(match name {
            Name::Kind(kind) => seqs_under(self, kind_prefix(kind), range, reverse),
            Name::Subject(model, segment) => seqs_under(
                self,
                subject_prefix(model, Some(segment.filter(|s| !s.is_empty()))),
                range,
                reverse,
            ),
            Name::Signer(key) => seqs_under(self, signer_prefix(key), range, reverse),
            Name::Model(_) => return None,
        })
    }
}

/// The first sequence number of `events` whose event's `recorded_at` satisfies `after`, a test
/// that holds from some point of the chain on (the number of events when it never does): a
/// binary search reading about log2(n) events.
fn first_seq_where<E: EventSource + ?Sized>(
    events: &E,
    after: impl Fn(Timestamp) -> bool,
) -> Result<u64, StoreError> {
    let (mut lo, mut hi) = (0u64, events.count());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let ev =
            events.event(mid)?.ok_or(StoreError::Corrupt { seq: mid, reason: "event is missing".into() })?;
        if after(ev.event.recorded_at) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

impl EventSource for Store {
    fn count(&self) -> u64 {
        self.len()
    }
    /// Read in chunks ([`Store::range`]).
    fn events_in(
        &self,
        range: std::ops::Range<u64>,
    ) -> Box<dyn Iterator<Item = Result<RecordedEvent, StoreError>> + '_> {
        Box::new(self.range(range))
    }
    fn event(&self, seq: u64) -> Result<Option<RecordedEvent>, StoreError> {
        self.get(seq)
    }
}

impl EventSource for CommittedEvents {
    fn count(&self) -> u64 {
        self.head.0 + 1
    }
    fn event(&self, seq: u64) -> Result<Option<RecordedEvent>, StoreError> {
        self.get(seq)
    }
    /// The events the files hold read in chunks of [`EVENTS_PER_READ`] (one read of the index
    /// and one of the log each, [`EventFiles::chunk`]), those of the journal, those past the
    /// head and those of a chunk a damaged entry cuts short one by one: exactly what
    /// [`CommittedEvents::get`] gives one at a time, errors included.
    fn events_in(
        &self,
        range: std::ops::Range<u64>,
    ) -> Box<dyn Iterator<Item = Result<RecordedEvent, StoreError>> + '_> {
        let one_by_one = move |seqs: std::ops::Range<u64>| {
            seqs.map(|seq| self.get(seq)?.ok_or_else(|| missing_event(seq))).collect::<Vec<_>>()
        };
        let (lo, hi) = (range.start, range.end.max(range.start));
        Box::new((lo..hi).step_by(EVENTS_PER_READ as usize).flat_map(move |a| {
            let b = hi.min(a + EVENTS_PER_READ);
            if b > self.head.0 + 1 || self.journaled.range(a..b).next().is_some() {
                return one_by_one(a..b);
            }
            match self.files.chunk(a, b) {
                Err(_) => one_by_one(a..b),
                Ok(entries) => {
                    // A damaged entry ends a chunk early: from it on, one at a time, so that
                    // its error is the one `get` gives.
                    let rest = a + entries.len() as u64..b;
                    let mut out: Vec<_> =
                        entries.into_iter().map(|(seq, _, bytes)| decode_bytes(seq, bytes)).collect();
                    out.extend(one_by_one(rest));
                    out
                }
            }
        }))
    }
}

/// The error for an event a source should hold and does not.
pub(crate) fn missing_event(seq: u64) -> StoreError {
    StoreError::Corrupt { seq, reason: "event is missing".into() }
}

/// Events read at once by [`CommittedEvents::events_in`].
const EVENTS_PER_READ: u64 = 512;

/// The first `count` events of the event bodies' files, for the event index's writer, which
/// reads the events committed before it started from them.
struct FileEvents {
    files: Arc<EventFiles>,
    count: u64,
}

impl EventSource for FileEvents {
    fn count(&self) -> u64 {
        self.count
    }
    /// Read in chunks ([`EventFiles::entries`]).
    fn events_in(
        &self,
        range: std::ops::Range<u64>,
    ) -> Box<dyn Iterator<Item = Result<RecordedEvent, StoreError>> + '_> {
        let hi = range.end.min(self.count);
        Box::new(
            EventFiles::entries(self.files.clone(), range.start, hi)
                .map(|e| e.and_then(|(seq, _, bytes)| decode_bytes(seq, bytes))),
        )
    }
    fn event(&self, seq: u64) -> Result<Option<RecordedEvent>, StoreError> {
        if seq >= self.count {
            return Ok(None);
        }
        match self.files.get(seq)? {
            Some((_, bytes)) => decode_bytes(seq, bytes).map(Some),
            None => Err(StoreError::Corrupt { seq, reason: "event is missing".into() }),
        }
    }
}

/// The committed events of the ledger in `dir`, read without opening sled (ADR 0020): the
/// commit journal names the head and holds the events of the commits since the last
/// checkpoint; the event bodies' files hold every event before those, made durable by that
/// checkpoint. Holds a [`SharedLock`], so nothing is committed while it lives.
///
/// For a reader of single events (`pledge show SEQ`) that would otherwise pay for sled's
/// recovery. It trusts no more than [`Store::get`] does (an event's hash is computed from its
/// bytes, as the store computes it); what it cannot vouch for it declines, and the caller opens
/// the store, which repairs or reports it.
#[derive(Debug)]
pub struct CommittedEvents {
    _lock: SharedLock,
    files: EventFiles,
    /// The events of the journal's records: seq, then the stored value (hash and bytes).
    journaled: std::collections::BTreeMap<u64, Vec<u8>>,
    head: (u64, Digest),
}

impl CommittedEvents {
    /// The committed events, or `None` when they cannot be read without opening the store:
    /// the journal is not clean (a torn tail or damage) or names no head (an empty ledger, a
    /// checkpoint cut short), the events are not in their own files (a ledger in the older
    /// layout), the files lack events the journal does not hold or hold any past the head, a
    /// file is cut or extended, or the head's stored hash is not the one the journal names.
    pub fn open(dir: &Path) -> Result<Option<CommittedEvents>, StoreError> {
        let lock = lock_shared(dir)?;
        let Some(records) = Wal::read_clean(&dir.join("pledge.wal"))? else { return Ok(None) };
        let Some(head) = last_anchor(&records) else { return Ok(None) };
        let journaled: std::collections::BTreeMap<u64, Vec<u8>> =
            records.into_iter().flatten().filter_map(|(k, v)| event_seq(&k).map(|seq| (seq, v))).collect();
        let Some(files) = EventFiles::open_read(dir)? else { return Ok(None) };
        if journaled.keys().next_back().is_some_and(|last| *last != head.0)
            || journaled.values().any(|v| v.len() < 32)
        {
            return Ok(None);
        }
        // Every event before the journal's first was synced before the journal was emptied.
        let durable = journaled.keys().next().copied().unwrap_or(head.0 + 1);
        let held = files.len();
        if held < durable || held > head.0 + 1 || files.flaw()?.is_some() {
            return Ok(None);
        }
        let stored = match journaled.get(&head.0) {
            Some(v) => Some(Digest(v[..32].try_into().expect("32 bytes"))),
            None => files.get(head.0).ok().flatten().map(|(hash, _)| hash),
        };
        if stored != Some(head.1) {
            return Ok(None);
        }
        Ok(Some(CommittedEvents { _lock: lock, files, journaled, head }))
    }

    /// The head: its sequence number and id.
    pub fn head(&self) -> (u64, Digest) {
        self.head
    }

    /// How many of the events are read from the journal (committed since the last checkpoint)
    /// rather than from the files.
    pub fn journaled(&self) -> usize {
        self.journaled.len()
    }

    /// Checks the events after `after` (an event a snapshot was taken at; `None` for
    /// genesis) up to the head as opening the store from that snapshot checks them: each one's
    /// bytes hash to the id stored beside them, its `seq` is its place and its `prev` the id of
    /// the event before it, and the last is the head. The first that is not is `Corrupt`,
    /// naming the event.
    pub fn check_since(&self, after: Option<(u64, Digest)>) -> Result<(), StoreError> {
        let mut prev = after.map(|a| a.1);
        let from = after.map_or(0, |a| a.0 + 1);
        for seq in from..=self.head.0 {
            let (stored, bytes) = match self.journaled.get(&seq) {
                Some(v) => (Digest(v[..32].try_into().expect("32 bytes")), v[32..].to_vec()),
                None => self
                    .files
                    .get(seq)?
                    .ok_or(StoreError::Corrupt { seq, reason: "event is missing".into() })?,
            };
            let ev = decode_bytes(seq, bytes)?;
            let damaged = |reason: String| Err(StoreError::Corrupt { seq, reason });
            if ev.hash != stored {
                return damaged(format!(
                    "its bytes hash to {}, but {stored} was recorded for it: the event was altered",
                    ev.hash
                ));
            }
            if ev.event.seq != seq || ev.event.prev != prev {
                return damaged(format!(
                    "it does not follow event {} (its `seq` or `prev` was altered)",
                    seq.wrapping_sub(1)
                ));
            }
            prev = Some(ev.hash);
        }
        if prev != Some(self.head.1) {
            return Err(StoreError::Corrupt {
                seq: self.head.0,
                reason: "the events do not end at the head".into(),
            });
        }
        Ok(())
    }

    /// The event at `seq`; `None` past the head.
    pub fn get(&self, seq: u64) -> Result<Option<RecordedEvent>, StoreError> {
        if seq > self.head.0 {
            return Ok(None);
        }
        let bytes = match self.journaled.get(&seq) {
            Some(v) => v[32..].to_vec(),
            None => match self.files.get(seq)? {
                Some((_, bytes)) => bytes,
                None => return Err(StoreError::Corrupt { seq, reason: "event is missing".into() }),
            },
        };
        decode_bytes(seq, bytes).map(Some)
    }
}

/// The free space a commit requires on the ledger's file system, in bytes
/// ([`set_min_free_space`]; 32 MiB by default).
static MIN_FREE_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(32 << 20);

/// Sets the free space a commit requires on the file system holding the ledger, for the whole
/// process (the CLI's `--min-free-space`). Below it a commit is refused with
/// [`StoreError::NoSpace`] before anything is written, so that sled, which writes its own
/// files after the journal has made a commit durable, never runs out of space halfway. Zero
/// turns the check off (a full disk is then met by the journal append or by sled).
pub fn set_min_free_space(bytes: u64) {
    MIN_FREE_BYTES.store(bytes, std::sync::atomic::Ordering::Relaxed);
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
}

/// Runs `attempt` until it gets the lock (`Some`), waiting while it is contended (`None`).
///
/// sled 0.34 releases its `flock` from worker threads after `Db` is dropped, so a store closed
/// and reopened by one process can find the lock still held for a few milliseconds (sled
/// issues #1234, #1289): the wait is at least 100 ms for that. A lock held by another live
/// process lasts as long as that process; after [`set_lock_wait`]'s wait it is reported as
/// [`StoreError::Locked`].
fn wait_for_lock<T>(
    dir: &Path,
    mut attempt: impl FnMut() -> Result<Option<T>, StoreError>,
) -> Result<T, StoreError> {
    let wait = LOCK_WAIT_MS.load(std::sync::atomic::Ordering::Relaxed).max(100);
    let deadline = std::time::Instant::now()
        .checked_add(std::time::Duration::from_millis(wait))
        .unwrap_or_else(|| std::time::Instant::now() + std::time::Duration::from_secs(86_400 * 365));
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        if let Some(t) = attempt()? {
            return Ok(t);
        }
        if std::time::Instant::now() >= deadline {
            return Err(StoreError::Locked(dir.to_path_buf()));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(50));
    }
}

/// sled's page cache. Its default, 1 GiB, filled with events during every full scan (a
/// verification, a rebuild): `pledge verify` of a 100k-event ledger peaked at 470 MB with it
/// and at 370 MB with this, in the same time; opening and indexed reads do not change (the
/// operating system's page cache still holds the files). `docs/PERFORMANCE.md` has the figures.
const SLED_CACHE_BYTES: u64 = 64 << 20;

/// Opens sled in `files`, waiting while its lock is contended (see [`wait_for_lock`]).
fn open_sled(files: &Path, dir: &Path) -> Result<sled::Db, StoreError> {
    let config = sled::Config::new().path(files).flush_every_ms(None).cache_capacity(SLED_CACHE_BYTES);
    wait_for_lock(dir, || match config.open() {
        // sled wraps the `EWOULDBLOCK` of `flock` in an `Other` error with this text.
        Err(sled::Error::Io(e))
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.to_string().contains("could not acquire lock") =>
        {
            Ok(None)
        }
        other => Ok(Some(other?)),
    })
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// What opening sled's files and the journal found (see [`load`]).
struct Loaded {
    sled: Sled,
    wal: Wal,
    synced: BTreeSet<OsString>,
    head: Option<Head>,
    tree: CompactRange,
    damage: Option<String>,
    commands_below: u64,
}

/// Opens sled and the journal in `files`, re-applies what the journal holds, and finds the
/// head, the Merkle tree's edge and any damage. Used by [`Store::open`] and
/// [`Store::recover`].
fn load(files: &Path, dir: &Path) -> Result<Loaded, StoreError> {
    // No background flusher: every commit flushes and fsyncs itself, and without the
    // flusher thread (which holds the database open for up to one period after drop)
    // a closed store can be reopened at once by the same process.
    let db = open_sled(files, dir)?;
    // sled writes its log to `<dir>/db`; this handle exists to fdatasync it.
    let data_file = File::open(files.join("db"))?;
    let events = Arc::new(EventFiles::open(files)?);
    sync_dir(files)?;
    if let Some(parent) = files.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    let sled = Sled { db, data_file, events };
    let (mut wal, records, journal_damage) = Wal::open(&files.join("pledge.wal"))?;
    let mut damage = journal_damage.map(|d| d.reason);
    let synced = Mutex::new(BTreeSet::new());
    let replay = records.iter().any(|r| r.iter().any(|(k, _)| k.as_slice() != ANCHOR));
    if replay {
        tracing::info!(records = records.len(), dir = %dir.display(), "re-applying journaled commits to sled");
    }
    let marked = sled.db.contains_key(IN_FILES)?;
    let in_files = marked || sled.db.scan_prefix([EVENT]).next().is_none();
    if in_files && !marked {
        // A new store: marked before its first event, so that an `e` key someone adds to
        // sled later is never taken for an older layout's events.
        sled.db.insert(IN_FILES, &[])?;
    }
    // Commits acknowledged before a crash that sled had not made durable yet (and the
    // head anchor the last checkpoint left in the journal). A store still in the older layout
    // takes them as it was written, events in sled, and is then converted. The events' space
    // is reserved first, so that a full disk stops the replay before sled has taken any of it.
    if in_files {
        reserve_for(&sled.events, &records)?;
    }
    for record in records {
        let applied = if in_files { apply(&sled, record) } else { apply_to_sled(&sled.db, record) };
        match applied {
            Ok(()) => {}
            Err(e @ StoreError::Corrupt { .. }) => {
                damage.get_or_insert(format!("the commit journal cannot be re-applied: {e}"));
                break;
            }
            Err(e) => return Err(e),
        }
    }
    if replay && damage.is_none() {
        sled.checkpoint(files, &synced, &mut wal)?;
    }
    if !in_files {
        match move_events_to_files(&sled, files) {
            Ok(()) => {}
            Err(e @ StoreError::Corrupt { .. }) => {
                damage.get_or_insert(format!("the events could not be moved out of sled: {e}"));
            }
            Err(e) => return Err(e),
        }
    }
    if sled.db.contains_key(IN_FILES)? {
        remove_events_from_sled(&sled.db)?;
    }
    if let Some(flaw) = sled.events.flaw()? {
        damage.get_or_insert(flaw);
    }
    let head = match sled.events.len().checked_sub(1) {
        None => None,
        Some(seq) => match sled.events.get(seq).and_then(|e| {
            let (_, bytes) = e.ok_or(StoreError::Corrupt { seq, reason: "event is missing".into() })?;
            decode_bytes(seq, bytes)
        }) {
            Ok(ev) => Some(Head { seq, hash: ev.hash, recorded_at: ev.event.recorded_at }),
            Err(e) => {
                damage.get_or_insert(e.to_string());
                let epoch = Timestamp::from_datetime(chrono::DateTime::UNIX_EPOCH);
                Some(Head { seq, hash: Digest([0; 32]), recorded_at: epoch })
            }
        },
    };
    if let Some((seq, hash)) = anchor_in(&sled.db)? {
        if head.is_none_or(|h| h.seq != seq || h.hash != hash) {
            tracing::error!(anchor_seq = seq, "stored events do not reach the committed head");
            damage.get_or_insert(format!(
                "the last commit ended at event {seq} ({hash}), but the stored events end at {}: events were lost or rewritten",
                head.map_or("nothing".into(), |h| format!("event {} ({})", h.seq, h.hash))
            ));
        }
    }
    let size = head.map_or(0, |h| h.seq + 1);
    let tree = match load_tree(&sled, size) {
        Ok(range) => range,
        Err(e) => {
            damage.get_or_insert(format!("the Merkle tree of the {size} stored events is incomplete: {e}"));
            CompactRange::default()
        }
    };
    let commands_below = match sled.db.get(COMMANDS_IN_RUNS)? {
        None => 0,
        Some(v) => match <[u8; 8]>::try_from(v.as_ref()) {
            Ok(b) => u64::from_be_bytes(b),
            Err(_) => {
                damage.get_or_insert(
                    "the mark of the commands found through the event index is malformed".into(),
                );
                0
            }
        },
    };
    Ok(Loaded {
        sled,
        wal,
        synced: synced.into_inner().expect("blob lock"),
        head,
        tree,
        damage,
        commands_below,
    })
}

/// The tree's right edge for `size` leaves, from the stored peaks.
fn load_tree(sled: &Sled, size: u64) -> Result<CompactRange, String> {
    let peaks = merkle::peaks(size)
        .into_iter()
        .map(|(level, index)| node_in(sled, level, index))
        .collect::<Result<Vec<_>, _>>()?;
    CompactRange::from_peaks(size, peaks)
}

fn node_in(sled: &Sled, level: u8, index: u64) -> Result<merkle::Hash, String> {
    if level < STORED_LEVELS_FROM {
        return computed_node(&sled.events, level, index);
    }
    match sled.db.get(tree_key(level, index)) {
        Ok(Some(v)) => {
            v.as_ref().try_into().map_err(|_| format!("tree node ({level}, {index}) is not 32 bytes"))
        }
        Ok(None) => Err(format!("tree node ({level}, {index}) is missing")),
        Err(e) => Err(format!("tree node ({level}, {index}): {e}")),
    }
}

/// A node of a level the store does not keep, from the events it covers (at most
/// 2^([`STORED_LEVELS_FROM`] - 1) of them, read with one read of the index and one of the log).
fn computed_node(events: &EventFiles, level: u8, index: u64) -> Result<merkle::Hash, String> {
    let width = 1u64 << level;
    let lo =
        index.checked_mul(width).ok_or_else(|| format!("tree node ({level}, {index}) is out of range"))?;
    let entries = events.chunk(lo, lo + width).map_err(|e| format!("tree node ({level}, {index}): {e}"))?;
    if (entries.len() as u64) < width {
        let missing = lo + entries.len() as u64;
        return Err(format!("tree node ({level}, {index}) is missing: event {missing} is not stored"));
    }
    let mut hashes: Vec<merkle::Hash> =
        entries.iter().map(|(_, _, bytes)| merkle::leaf_hash(bytes)).collect();
    while hashes.len() > 1 {
        hashes = hashes.chunks_exact(2).map(|pair| merkle::node_hash(&pair[0], &pair[1])).collect();
    }
    Ok(hashes[0])
}

/// How many Merkle tree nodes a store of `n` events keeps: a tree of n leaves has
/// 2n - popcount(n), of which those of the levels below [`STORED_LEVELS_FROM`] are computed.
pub fn stored_tree_nodes(n: u64) -> u64 {
    (STORED_LEVELS_FROM..64).map(|l| n >> l).sum()
}

fn anchor_in(db: &sled::Db) -> Result<Option<(u64, Digest)>, StoreError> {
    let Some(v) = db.get(ANCHOR)? else { return Ok(None) };
    parse_anchor(&v)
        .map(Some)
        .ok_or_else(|| StoreError::Corrupt { seq: 0, reason: "the head anchor is malformed".into() })
}

/// A head anchor's value: the head's sequence number (u64 big-endian) and id.
fn parse_anchor(v: &[u8]) -> Option<(u64, Digest)> {
    let (seq, hash) = (v.len() == 40).then(|| v.split_at(8))?;
    Some((u64::from_be_bytes(seq.try_into().ok()?), Digest(hash.try_into().ok()?)))
}

fn decode_bytes(seq: u64, bytes: Vec<u8>) -> Result<RecordedEvent, StoreError> {
    let event: Event = serde_json::from_slice(&bytes)
        .map_err(|e| StoreError::Corrupt { seq, reason: format!("not a valid event: {e}") })?;
    Ok(RecordedEvent { hash: Digest::of(&bytes), event, bytes })
}

impl Sled {
    /// Makes everything applied to sled durable, then empties the journal.
    fn checkpoint(
        &self,
        files: &Path,
        synced: &Mutex<BTreeSet<OsString>>,
        wal: &mut Wal,
    ) -> Result<(), StoreError> {
        tracing::debug!(journal_bytes = wal.len(), "checkpoint");
        self.sync(files, synced)?;
        wal.reset()?;
        // Keep the head outside sled: if sled ever loses its tail, the next open notices.
        if let Some(anchor) = self.db.get(ANCHOR)? {
            wal.append(&[(ANCHOR.to_vec(), anchor.to_vec())])?;
        }
        Ok(())
    }

    /// sled's flush writes its buffers to `<dir>/db` (and only `sync_file_range`s them);
    /// `fdatasync` then makes them durable, including the file size. Blob files (sled's
    /// out-of-line pages) are written without any sync by sled, so new ones are fsynced here
    /// together with their directory.
    fn sync(&self, files: &Path, synced: &Mutex<BTreeSet<OsString>>) -> Result<(), StoreError> {
        // The event bodies first: sled's head anchor must never name an event they lack.
        self.events.sync()?;
        self.db.flush()?;
        self.data_file.sync_data()?;
        let blobs = files.join("blobs");
        let mut synced = synced.lock().expect("blob lock");
        let mut present = BTreeSet::new();
        let mut new_any = false;
        if let Ok(entries) = std::fs::read_dir(&blobs) {
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name();
                if !synced.contains(&name) {
                    File::open(entry.path())?.sync_all()?;
                    new_any = true;
                }
                present.insert(name);
            }
        }
        if new_any {
            sync_dir(&blobs)?;
        }
        *synced = present;
        Ok(())
    }
}

/// A private directory for the copy of a read-only ledger, under the temporary directory
/// (`TMPDIR`), readable by this user only.
fn scratch_dir() -> Result<PathBuf, StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let scratch = std::env::temp_dir().join(format!("pledge-read-only-{}-{nanos}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&scratch)?;
    Ok(scratch)
}

/// Copies sled's files and the journal of the ledger in `dir` into `to`, writable by this user
/// only (`fs::copy` would keep the originals' read-only modes).
fn copy_store_files(dir: &Path, to: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::PermissionsExt;
    let copy = |from: &Path, into: &Path| -> std::io::Result<u64> {
        let n = std::fs::copy(from, into)?;
        std::fs::set_permissions(into, std::fs::Permissions::from_mode(0o600))?;
        Ok(n)
    };
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let text = name.to_string_lossy();
        if text == "blobs" && entry.file_type()?.is_dir() {
            std::fs::create_dir(to.join("blobs"))?;
            for blob in std::fs::read_dir(entry.path())? {
                let blob = blob?;
                bytes += copy(&blob.path(), &to.join("blobs").join(blob.file_name()))?;
            }
        } else if matches!(text.as_ref(), "conf" | "db" | "pledge.wal" | event_files::LOG | event_files::IDX)
            || text.starts_with("snap.")
        {
            bytes += copy(&entry.path(), &to.join(&name))?;
        }
    }
    Ok(bytes)
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    ///
    /// A ledger this process may read but not write (another user's, or on a read-only mount)
    /// is opened read-only: sled's files are copied to a private temporary directory and
    /// opened there, a journal tail not yet in sled is applied to the copy, and nothing in
    /// `dir` is written. Such a store reads, verifies and exports; appends fail with
    /// [`StoreError::ReadOnly`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        match Store::open_in(dir.clone(), dir.clone(), None) {
            Err(e) if e.is_write_denied() && dir.join("db").is_file() => {
                let reason = match &e {
                    StoreError::Sled(sled::Error::Io(io)) | StoreError::Io(io) => io.to_string(),
                    other => other.to_string(),
                };
                Store::open_read_only(dir, reason)
            }
            other => other,
        }
    }

    fn open_in(dir: PathBuf, files: PathBuf, read_only: Option<ReadOnly>) -> Result<Store, StoreError> {
        let l = load(&files, &dir).map_err(|e| classify(e, &dir))?;
        let indexer = (read_only.is_none() && l.damage.is_none()).then(|| {
            let events = FileEvents { files: l.sled.events.clone(), count: l.head.map_or(0, |h| h.seq + 1) };
            crate::event_index::Indexer::start(&dir, Box::new(events))
        });
        let store = Store {
            sled: std::sync::RwLock::new(Some(l.sled)),
            dir,
            files,
            synced_blobs: Mutex::new(l.synced),
            head: Mutex::new(l.head),
            wal: Mutex::new(l.wal),
            damage: l.damage,
            poisoned: Mutex::new(None),
            failing: std::sync::atomic::AtomicU32::new(0),
            tree: Mutex::new(l.tree),
            read_only,
            indexer,
            commands_below: std::sync::atomic::AtomicU64::new(l.commands_below),
            command_runs: Mutex::new(Vec::new()),
        };
        store.complete_indexes()?;
        Ok(store)
    }

    fn open_read_only(dir: PathBuf, reason: String) -> Result<Store, StoreError> {
        let SharedLock(lock) = lock_shared(&dir)?;
        let scratch = scratch_dir()?;
        let guard = ReadOnly { reason, _lock: lock, scratch: scratch.clone() };
        let bytes = copy_store_files(&dir, &scratch).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("copying the read-only ledger to `{}`: {e}", scratch.display()),
            )
        })?;
        tracing::info!(dir = %dir.display(), copy = %scratch.display(), bytes, "opened read-only through a private copy");
        Store::open_in(dir, scratch, Some(guard))
    }

    /// sled's database, unless a recovery could not reopen it.
    fn db(&self) -> Result<sled::Db, StoreError> {
        match &*self.sled.read().expect("sled lock") {
            Some(s) => Ok(s.db.clone()),
            None => Err(StoreError::Poisoned(
                self.poisoned.lock().expect("poison lock").clone().unwrap_or_else(|| "sled is closed".into()),
            )),
        }
    }

    /// sled's error, noting an I/O failure as needing [`Store::recover`]: after one failed
    /// write (its own, in the background, e.g. on a full disk) sled answers every later
    /// operation with that error until it is reopened.
    fn failed(&self, e: sled::Error) -> StoreError {
        if matches!(e, sled::Error::Io(_)) && self.read_only.is_none() {
            let mut poisoned = self.poisoned.lock().expect("poison lock");
            if poisoned.is_none() {
                tracing::error!(error = %e, "sled failed; the store reopens its files before the next commit");
                *poisoned = Some(format!("sled failed: {e}"));
            }
        }
        classify(StoreError::Sled(e), &self.dir)
    }

    /// True when an earlier commit left the store needing [`Store::recover`]: sled could not
    /// apply or checkpoint a durable commit, or a failed journal append could not be wiped.
    pub fn needs_recovery(&self) -> bool {
        self.read_only.is_none()
            && self.damage.is_none()
            && (self.poisoned.lock().expect("poison lock").is_some()
                || self.wal.lock().expect("wal lock").frozen().is_some())
    }

    /// Reopens sled and the journal after a failed commit (see [`Store::needs_recovery`]),
    /// exactly as opening the store does: whatever the journal holds is applied to sled again.
    /// Fails with [`StoreError::NoSpace`] while the disk is still full, leaving the store as it
    /// was. Returns true when the head moved: an append that failed and could not be wiped was
    /// found complete on disk, so the caller must fold the store again.
    pub fn recover(&self) -> Result<bool, StoreError> {
        if !self.needs_recovery() {
            return Ok(false);
        }
        self.check_space()?;
        let mut head = self.head.lock().expect("head lock");
        let mut tree = self.tree.lock().expect("tree lock");
        let mut wal = self.wal.lock().expect("wal lock");
        let mut sled = self.sled.write().expect("sled lock");
        // sled allows one open database per directory: close this one first.
        *sled = None;
        let reopened =
            load(&self.files, &self.dir).map_err(|e| classify(e, &self.dir)).and_then(|l| match l.damage {
                Some(reason) => Err(StoreError::Corrupt { seq: l.head.map_or(0, |h| h.seq), reason }),
                None => Ok(l),
            });
        let loaded = match reopened {
            Ok(l) => l,
            Err(StoreError::NoSpace { dir, detail }) => {
                tracing::warn!(%detail, "reopening the store failed: the disk is still full");
                let e = StoreError::NoSpace {
                    dir,
                    detail: format!("reopening its files after a failed commit: {detail}"),
                };
                *self.poisoned.lock().expect("poison lock") = Some(e.to_string());
                return Err(e);
            }
            Err(e) => {
                tracing::error!(error = %e, "reopening the store failed");
                *self.poisoned.lock().expect("poison lock") =
                    Some(format!("reopening the store failed: {e}"));
                return Err(e);
            }
        };
        let moved = match (*head, loaded.head) {
            (before, after) if before == after => false,
            (before, Some(after)) if before.is_none_or(|b| b.seq < after.seq) => true,
            (before, after) => {
                let e = StoreError::Corrupt {
                    seq: before.map_or(0, |b| b.seq),
                    reason: format!(
                        "after reopening, the stored events end at {} instead of event {}: durable commits were lost",
                        after.map_or("nothing".into(), |h| format!("event {}", h.seq)),
                        before.map_or(0, |b| b.seq)
                    ),
                };
                *self.poisoned.lock().expect("poison lock") = Some(e.to_string());
                return Err(e);
            }
        };
        self.commands_below.store(loaded.commands_below, SeqCst);
        *sled = Some(loaded.sled);
        *wal = loaded.wal;
        *head = loaded.head;
        *tree = loaded.tree;
        *self.synced_blobs.lock().expect("blob lock") = loaded.synced;
        *self.poisoned.lock().expect("poison lock") = None;
        tracing::info!(moved, "the store recovered");
        Ok(moved)
    }

    /// Fails with [`StoreError::NoSpace`] when the ledger's file system has less free space
    /// than [`set_min_free_space`] asks for.
    fn check_space(&self) -> Result<(), StoreError> {
        let min = MIN_FREE_BYTES.load(std::sync::atomic::Ordering::Relaxed);
        if min == 0 {
            return Ok(());
        }
        // If the file system cannot say, the journal append meets a real shortage.
        let Ok(st) = rustix::fs::statvfs(&self.files) else { return Ok(()) };
        let available = st.f_bavail.saturating_mul(st.f_frsize);
        if available >= min {
            return Ok(());
        }
        Err(StoreError::NoSpace {
            dir: self.dir.clone(),
            detail: format!("{} available, below the {} a commit requires", mib(available), mib(min)),
        })
    }

    /// The directory holding the store.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last event, `None` for an empty ledger.
    pub fn head(&self) -> Option<Head> {
        *self.head.lock().expect("head lock")
    }

    /// How many events the ledger holds.
    pub fn len(&self) -> u64 {
        self.head().map_or(0, |h| h.seq + 1)
    }

    /// True before genesis.
    pub fn is_empty(&self) -> bool {
        self.head().is_none()
    }

    /// Makes the next `n` commits fail as a full disk makes them fail: with an I/O error from
    /// the journal, nothing written. For tests of what the append path and the server do when
    /// storage fails; nothing in Pledge calls it.
    #[doc(hidden)]
    pub fn fail_next_commits(&self, n: u32) {
        self.failing.store(n, SeqCst);
    }

    /// The damage found when the store was opened, if any (see [`crate::Ledger::open`]): such
    /// a store can be read, verified and exported, never extended.
    pub fn damage(&self) -> Option<&str> {
        self.damage.as_deref()
    }

    /// Fails unless the store takes appends: it is not damaged, no earlier commit left it
    /// needing a reopen, and its journal takes appends.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        if let Some(ro) = &self.read_only {
            return Err(StoreError::ReadOnly { dir: self.dir.clone(), reason: ro.reason.clone() });
        }
        if let Some(reason) = &self.damage {
            return Err(StoreError::Corrupt { seq: self.len().saturating_sub(1), reason: reason.clone() });
        }
        if let Some(reason) = self.poisoned.lock().expect("poison lock").clone() {
            return Err(StoreError::Poisoned(reason));
        }
        if let Some(reason) = self.wal.lock().expect("wal lock").frozen() {
            return Err(StoreError::Poisoned(reason.to_string()));
        }
        Ok(())
    }

    /// Fails with [`StoreError::Conflict`] unless the head is `expected`.
    pub fn check_head(&self, expected: ExpectedHead) -> Result<(), StoreError> {
        check_expected(expected, self.head())
    }

    /// Appends sealed events (and the command records they answer) atomically and durably.
    ///
    /// Fails with [`StoreError::Conflict`] if the head is not `expected`, and with
    /// [`StoreError::Discontinuous`] if the events do not continue the chain or a command id is
    /// already recorded; in both cases nothing is written. Returns only after `fdatasync`.
    pub fn commit(
        &self,
        expected: ExpectedHead,
        events: &[RecordedEvent],
        commands: &[(Uuid, CommandRecord)],
    ) -> Result<(), StoreError> {
        let sweep = self.commit_locked(expected, events, commands)?;
        if let Some(db) = sweep {
            // The commit is durable whatever happens here: a sweep that fails is redone after
            // the next commit.
            if let Err(e) = self.sweep_commands(&db) {
                tracing::warn!(error = %e, "command records not yet moved to the event index");
            }
        }
        Ok(())
    }

    /// [`Store::commit`] under the store's locks; sled when the commands' records are to be
    /// swept once the locks are released.
    fn commit_locked(
        &self,
        expected: ExpectedHead,
        events: &[RecordedEvent],
        commands: &[(Uuid, CommandRecord)],
    ) -> Result<Option<sled::Db>, StoreError> {
        self.check_writable()?;
        let mut head = self.head.lock().expect("head lock");
        check_expected(expected, *head)?;
        let actual = *head;
        let Some(last) = events.last() else { return Ok(None) };
        let mut expect_prev = actual.map(|a| a.hash);
        let mut record: Record = Vec::with_capacity(events.len() * 6 + commands.len());
        // A commit holds whole runs: every event after a run's first is signed by its key.
        let mut signer: Option<KeyId> = None;
        let mut bits = std::collections::BTreeMap::new();
        let mut indexed = Vec::with_capacity(if self.indexer.is_some() { events.len() } else { 0 });
        // The command whose run each event begins, for the event index's command table.
        let run_starts: std::collections::HashMap<u64, Uuid> = match self.indexer {
            Some(_) => commands.iter().map(|(id, rec)| (rec.first_seq, *id)).collect(),
            None => Default::default(),
        };
        for (expect_seq, ev) in (actual.map_or(0, |a| a.seq + 1)..).zip(events) {
            if ev.event.seq != expect_seq || ev.event.prev != expect_prev {
                return Err(StoreError::Discontinuous(format!(
                    "event {} does not follow event {}",
                    ev.event.seq,
                    expect_seq.wrapping_sub(1)
                )));
            }
            let mut value = Vec::with_capacity(32 + ev.bytes.len());
            value.extend_from_slice(ev.hash.as_bytes());
            value.extend_from_slice(&ev.bytes);
            record.push((seq_key(EVENT, ev.event.seq).to_vec(), value));
            signer = run_signer(ev).or(signer);
            index_bits(&mut bits, ev, signer.as_ref());
            if self.indexer.is_some() {
                // From the records when they name it (no decoding), else from the event, so
                // that the run holds what its events give whatever records came with them.
                let command = match &ev.event.cause {
                    Cause::Command(_) => {
                        run_starts.get(&ev.event.seq).copied().or_else(|| crate::event_index::run_command(ev))
                    }
                    Cause::Event(_) => None,
                };
                indexed.push((
                    ev.event.seq,
                    ev.hash,
                    crate::event_index::keys_of(ev, signer.as_ref()),
                    command,
                ));
            }
            expect_prev = Some(ev.hash);
        }
        record.extend(merged_blocks(&self.db()?, bits)?);
        record.push((INDEXED.to_vec(), (last.event.seq + 1).to_be_bytes().to_vec()));
        for (id, rec) in commands {
            if self.command(id)?.is_some() {
                return Err(StoreError::Discontinuous(format!("command `{id}` is already recorded")));
            }
            let mut v = Vec::with_capacity(44);
            v.extend_from_slice(rec.digest.as_bytes());
            v.extend_from_slice(&rec.first_seq.to_be_bytes());
            v.extend_from_slice(&rec.count.to_be_bytes());
            record.push((command_key(id).to_vec(), v));
        }
        // The Merkle tree grows with the events, in the same atomic record.
        let mut tree = self.tree.lock().expect("tree lock");
        let mut grown = tree.clone();
        if grown.size() != actual.map_or(0, |a| a.seq + 1) {
            return Err(StoreError::Discontinuous(format!(
                "the Merkle tree covers {} events, the store holds {}",
                grown.size(),
                actual.map_or(0, |a| a.seq + 1)
            )));
        }
        for ev in events {
            for (level, index, hash) in grown.push(merkle::leaf_hash(&ev.bytes)) {
                if level >= STORED_LEVELS_FROM {
                    record.push((tree_key(level, index).to_vec(), hash.to_vec()));
                }
            }
        }
        let mut anchor = last.event.seq.to_be_bytes().to_vec();
        anchor.extend_from_slice(last.hash.as_bytes());
        record.push((ANCHOR.to_vec(), anchor));
        let sled = self.sled.read().expect("sled lock");
        let Some(sled) = sled.as_ref() else { return Err(StoreError::Poisoned("sled is closed".into())) };
        self.check_space()?;
        // The events' space before the journal: a full disk refuses the commit here, nothing
        // written, rather than failing its application after it is durable.
        let entry_bytes = events.iter().map(|e| 32 + e.bytes.len() as u64).sum();
        sled.events.reserve(events.len() as u64, entry_bytes).map_err(|e| classify(e, &self.dir))?;
        let mut wal = self.wal.lock().expect("wal lock");
        let appended = if self.failing.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_ok() {
            Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device (injected by Store::fail_next_commits)",
            ))
        } else {
            // The durability barrier: once this returns the commit survives a crash.
            wal.append(&record)
        };
        if let Err(e) = appended {
            return Err(match wal.frozen() {
                // The record may be on disk: only reopening the journal tells.
                Some(_) => StoreError::InDoubt(e.to_string()),
                None => classify(StoreError::Io(e), &self.dir),
            });
        }
        // From here on the commit is durable and is reported as committed. If sled fails to
        // take it or to checkpoint (a full disk), the journal still holds it: the store takes
        // no appends until `recover` has reopened sled and applied the journal again.
        let trouble = match apply(sled, record) {
            Err(e) => Some(format!("sled could not apply a durable commit: {e}")),
            Ok(()) if wal.len() > CHECKPOINT_BYTES => self
                .checkpoint_with(sled, &mut wal)
                .err()
                .map(|e| format!("a checkpoint after a durable commit failed: {e}")),
            Ok(()) => None,
        };
        *head = Some(Head { seq: last.event.seq, hash: last.hash, recorded_at: last.event.recorded_at });
        *tree = grown;
        if let Some(ix) = &self.indexer {
            ix.add(indexed);
        }
        if let Some(reason) = trouble {
            tracing::error!(%reason, "the store needs to be reopened; the commit is durable in the journal");
            *self.poisoned.lock().expect("poison lock") = Some(reason);
            return Ok(None);
        }
        Ok(self.indexer.is_some().then(|| sled.db.clone()))
    }

    /// The Merkle tree node at `level`, `index` (see [`merkle::Nodes`]).
    pub fn node(&self, level: u8, index: u64) -> Result<merkle::Hash, String> {
        match &*self.sled.read().expect("sled lock") {
            Some(sled) => node_in(sled, level, index),
            None => Err(self.db().err().map_or_else(|| "sled is closed".into(), |e| e.to_string())),
        }
    }

    /// How many Merkle tree nodes of the kept levels the store holds ([`stored_tree_nodes`] of
    /// its length when it holds the right ones).
    pub fn tree_nodes(&self) -> u64 {
        self.db().map_or(0, |db| db.range(vec![TREE, STORED_LEVELS_FROM]..vec![TREE + 1]).count() as u64)
    }

    /// The stored nodes of the levels a store no longer keeps, as an older build wrote them
    /// (a store is converted when opened for writing, so only one opened read-only has any):
    /// level, index and the stored value.
    pub fn unkept_tree_nodes(&self) -> impl Iterator<Item = Result<(u8, u64, Vec<u8>), StoreError>> + '_ {
        let (db, unavailable) = split(self.db());
        let scan = db.into_iter().flat_map(|db| db.range(vec![TREE]..vec![TREE, STORED_LEVELS_FROM]));
        unavailable.into_iter().map(Err).chain(scan.map(move |kv| {
            let (k, v) = kv.map_err(|e| self.failed(e))?;
            let index = seq_from(&k).filter(|_| k.len() == 10);
            let index = index.ok_or(StoreError::Corrupt { seq: 0, reason: "bad tree node key".into() })?;
            Ok((k[1], index, v.to_vec()))
        }))
    }

    /// The stored value of a node of a level the store no longer keeps (see
    /// [`Store::unkept_tree_nodes`]), if an older build stored it.
    pub fn unkept_tree_node(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        if level >= STORED_LEVELS_FROM {
            return Ok(None);
        }
        Ok(self.db()?.get(tree_key(level, index)).map_err(|e| self.failed(e))?.map(|v| v.to_vec()))
    }

    /// The root of the Merkle tree over the stored events: its size and root.
    pub fn tree_head(&self) -> (u64, merkle::Hash) {
        let tree = self.tree.lock().expect("tree lock");
        (tree.size(), tree.root())
    }

    /// The root of the Merkle tree over the first `size` events.
    pub fn tree_root(&self, size: u64) -> Result<merkle::Hash, StoreError> {
        self.check_size(size)?;
        merkle::root(self, size).map_err(|reason| StoreError::Corrupt { seq: size.saturating_sub(1), reason })
    }

    /// The inclusion proof of event `seq` in the tree of the first `size` events.
    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<merkle::Hash>, StoreError> {
        self.check_size(size)?;
        merkle::inclusion_proof(self, seq, size).map_err(|reason| StoreError::Corrupt { seq, reason })
    }

    /// The consistency proof from the tree of the first `old` events to that of the first `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<merkle::Hash>, StoreError> {
        self.check_size(new)?;
        merkle::consistency_proof(self, old, new).map_err(|reason| StoreError::Corrupt { seq: old, reason })
    }

    fn check_size(&self, size: u64) -> Result<(), StoreError> {
        let len = self.len();
        if size > len {
            return Err(StoreError::Conflict {
                expected: format!("a ledger of at least {size} events"),
                actual: format!("{len} events"),
            });
        }
        Ok(())
    }

    fn checkpoint_with(&self, sled: &Sled, wal: &mut Wal) -> Result<(), StoreError> {
        sled.checkpoint(&self.files, &self.synced_blobs, wal)
    }

    /// The head recorded by the last commit (kept in the commit journal as well as in sled):
    /// verification checks that the events reach it, so a store that lost its last events
    /// does not verify as a shorter, valid ledger.
    pub fn anchor(&self) -> Result<Option<(u64, Digest)>, StoreError> {
        anchor_in(&self.db()?)
    }

    /// The event at `seq`.
    pub fn get(&self, seq: u64) -> Result<Option<RecordedEvent>, StoreError> {
        match self.events()?.get(seq)? {
            Some((_, bytes)) => decode_bytes(seq, bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The event with this id, found through the event index's runs (ADR 0021) and the
    /// stored ids of the events past them; when no run covers the ledger's first events (an
    /// index being rebuilt, or removed), by reading every stored id, newest first. The store
    /// keeps no index of its own by id (ADR 0025).
    pub fn get_by_hash(&self, hash: &Digest) -> Result<Option<RecordedEvent>, StoreError> {
        let runs = crate::event_index::cover(&self.dir.join(crate::event_index::DIR), self)?;
        self.find_by_id(hash, &runs)
    }

    /// The event with this id among those `runs` cover (the runs from genesis) and those past
    /// them.
    fn find_by_id(
        &self,
        hash: &Digest,
        runs: &[crate::event_index::Run],
    ) -> Result<Option<RecordedEvent>, StoreError> {
        for seq in crate::event_index::with_id_in(runs, hash)? {
            if let Some(ev) = self.get(seq)?.filter(|ev| ev.hash == *hash) {
                return Ok(Some(ev));
            }
        }
        let covered = runs.last().map_or(0, |r| r.end);
        for entry in self.entries(covered, self.len()).rev() {
            let (seq, stored, bytes) = entry?;
            // The id is computed again from the bytes read: a stored id is not trusted.
            if stored == *hash {
                let ev = decode_bytes(seq, bytes)?;
                if ev.hash == *hash {
                    return Ok(Some(ev));
                }
            }
        }
        Ok(None)
    }

    /// Events in `range` of sequence numbers, in order.
    pub fn range(
        &self,
        range: impl std::ops::RangeBounds<u64>,
    ) -> impl DoubleEndedIterator<Item = Result<RecordedEvent, StoreError>> + '_ {
        use std::ops::Bound::*;
        let lo = match range.start_bound() {
            Included(&s) => s,
            Excluded(&s) => s.saturating_add(1),
            Unbounded => 0,
        };
        let hi = match range.end_bound() {
            Included(&s) => s.saturating_add(1),
            Excluded(&s) => s,
            Unbounded => u64::MAX,
        };
        self.entries(lo, hi).map(|e| e.and_then(|(seq, _, bytes)| decode_bytes(seq, bytes)))
    }

    /// The event bodies' files, unless a recovery could not reopen the store.
    fn events(&self) -> Result<Arc<EventFiles>, StoreError> {
        match &*self.sled.read().expect("sled lock") {
            Some(s) => Ok(s.events.clone()),
            None => Err(self.db().err().unwrap_or(StoreError::Poisoned("sled is closed".into()))),
        }
    }

    /// Stored entries (seq, stored hash, bytes) of events `lo..hi`, as many as are stored, in
    /// order either way.
    fn entries(
        &self,
        lo: u64,
        hi: u64,
    ) -> impl DoubleEndedIterator<Item = Result<(u64, Digest, Vec<u8>), StoreError>> + '_ {
        let (files, unavailable) = split(self.events());
        unavailable
            .into_iter()
            .map(Err)
            .chain(files.into_iter().flat_map(move |f| EventFiles::entries(f, lo, hi)))
    }

    /// Every event, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Result<RecordedEvent, StoreError>> + '_ {
        self.range(..)
    }

    /// Raw stored entries, in key order: (seq from the key, stored hash, event bytes). Used by
    /// verification, which trusts none of it.
    pub fn raw(&self) -> impl Iterator<Item = Result<(u64, Digest, Vec<u8>), StoreError>> + '_ {
        self.raw_from(0)
    }

    /// Raw stored entries from sequence number `from` on.
    pub fn raw_from(
        &self,
        from: u64,
    ) -> impl Iterator<Item = Result<(u64, Digest, Vec<u8>), StoreError>> + '_ {
        self.entries(from, u64::MAX)
    }

    /// Sequence numbers of events about `model`: all its subjects when `segment` is `None`,
    /// otherwise only whole-model events (`Some(None)`) or one segment (`Some(Some(s))`).
    pub fn seqs_by_subject(
        &self,
        model: &str,
        segment: Option<Option<&str>>,
    ) -> Result<Vec<u64>, StoreError> {
        let len = self.len();
        if !self.indexed() {
            let mut out = Vec::new();
            for ev in self.range(0..len) {
                let ev = ev?;
                if ev.event.subject.as_ref().is_some_and(|s| {
                    s.model == model && segment.is_none_or(|seg| s.segment.as_deref() == seg)
                }) {
                    out.push(ev.event.seq);
                }
            }
            return Ok(out);
        }
        let prefix = subject_prefix(model, segment);
        let mut out = Vec::new();
        for kv in self.db()?.scan_prefix(&prefix) {
            let (k, v) = kv.map_err(|e| self.failed(e))?;
            let block = seq_from(&k)
                .ok_or(StoreError::Corrupt { seq: 0, reason: "bad subject index entry".into() })?;
            out.extend(block_seqs(block, block_value(&k, &v)?, &(0..len), false));
        }
        out.sort_unstable();
        Ok(out)
    }

    /// True when the subject, kind and signer indexes cover every stored event (a store
    /// written by an older build and opened read-only may lack them; queries then scan).
    pub fn indexed(&self) -> bool {
        self.indexed_len().is_ok_and(|n| n >= self.len())
    }

    fn indexed_len(&self) -> Result<u64, StoreError> {
        Ok(self
            .db()?
            .get(INDEXED)
            .map_err(|e| self.failed(e))?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }

    /// Sequence numbers of the events of `kind` in `range`, in order (reversed with
    /// `reverse`). Complete only when [`Store::indexed`].
    pub fn seqs_by_kind(
        &self,
        kind: &str,
        range: std::ops::Range<u64>,
        reverse: bool,
    ) -> impl Iterator<Item = Result<u64, StoreError>> + '_ {
        seqs_under(self, kind_prefix(kind), range, reverse)
    }

    /// Sequence numbers of the events in `range` about exactly this subject (a segment, or
    /// whole-model events when `segment` is `None`), in order (reversed with `reverse`).
    /// Complete only when [`Store::indexed`].
    pub fn seqs_by_exact_subject(
        &self,
        model: &str,
        segment: Option<&str>,
        range: std::ops::Range<u64>,
        reverse: bool,
    ) -> impl Iterator<Item = Result<u64, StoreError>> + '_ {
        seqs_under(self, subject_prefix(model, Some(segment)), range, reverse)
    }

    /// Sequence numbers of the events in `range` whose run's command `key` signed, in order
    /// (reversed with `reverse`). Complete only when [`Store::indexed`].
    pub fn seqs_by_signer(
        &self,
        key: &KeyId,
        range: std::ops::Range<u64>,
        reverse: bool,
    ) -> impl Iterator<Item = Result<u64, StoreError>> + '_ {
        seqs_under(self, signer_prefix(key), range, reverse)
    }

    /// The first sequence number whose event was recorded at or after `t` (the number of
    /// events when none was): `recorded_at` never decreases along the chain, so this is a
    /// binary search reading about log2(n) events.
    pub fn seq_at_time(&self, t: Timestamp) -> Result<u64, StoreError> {
        first_seq_where(self, |at| at >= t)
    }

    /// The first sequence number whose event was recorded after `t` (the number of events
    /// when none was), by the same binary search: the events up to `t` are those before it.
    pub fn seq_after_time(&self, t: Timestamp) -> Result<u64, StoreError> {
        first_seq_where(self, |at| at > t)
    }

    /// Adds the subject, kind and signer index blocks of the events the indexes do not cover
    /// yet (a store written before them), in batches, then records how far they reach. First
    /// removes the indexes' older layout, one key per event. Derived data: an interrupted pass
    /// starts again from the last batch recorded.
    fn complete_indexes(&self) -> Result<(), StoreError> {
        if self.read_only.is_some() || self.damage.is_some() {
            return Ok(());
        }
        let db = self.db()?;
        self.remove_old_indexes(&db)?;
        let from = self.indexed_len()?;
        let len = self.len();
        if from >= len {
            return Ok(());
        }
        // The signer of a run that began before `from` is found from its first event.
        let mut signer = None;
        let mut start = from;
        while start > 0 {
            let ev = self
                .get(start - 1)?
                .ok_or(StoreError::Corrupt { seq: start - 1, reason: "event is missing".into() })?;
            if let Some(k) = run_signer(&ev) {
                signer = Some(k);
                break;
            }
            start -= 1;
        }
        tracing::info!(from, to = len, "indexing events by subject, kind and signer");
        let mut bits = std::collections::BTreeMap::new();
        let mut pending = 0;
        for ev in self.range(from..len) {
            let ev = ev?;
            signer = run_signer(&ev).or(signer);
            index_bits(&mut bits, &ev, signer.as_ref());
            pending += 1;
            if pending == 10_000 || ev.event.seq + 1 == len {
                let mut batch = sled::Batch::default();
                for (k, v) in merged_blocks(&db, std::mem::take(&mut bits))? {
                    batch.insert(k, v);
                }
                batch.insert(INDEXED, (ev.event.seq + 1).to_be_bytes().to_vec());
                db.apply_batch(batch).map_err(|e| self.failed(e))?;
                pending = 0;
            }
        }
        db.flush().map_err(|e| self.failed(e))?;
        Ok(())
    }

    /// Removes what older layouts stored and this one does not: the indexes' keys per event
    /// (under `s`, `k` and `a`) and their marker, the Merkle tree's levels below
    /// [`STORED_LEVELS_FROM`], and the
    /// index by id (`h`, ADR 0025), in batches.
    fn remove_old_indexes(&self, db: &sled::Db) -> Result<(), StoreError> {
        let mut removed = 0u64;
        let lower_tree: Vec<Vec<u8>> = (0..STORED_LEVELS_FROM).map(|l| vec![TREE, l]).collect();
        let by_id = vec![HASH];
        for prefix in OLD_INDEXES.iter().map(|p| vec![*p]).chain(lower_tree).chain([by_id]) {
            loop {
                let keys: Vec<sled::IVec> = db
                    .scan_prefix(&prefix)
                    .keys()
                    .take(10_000)
                    .collect::<Result<_, _>>()
                    .map_err(|e| self.failed(e))?;
                if keys.is_empty() {
                    break;
                }
                if removed == 0 {
                    tracing::warn!(
                        "converting this store to the current layout of its indexes and Merkle tree (once; up to a minute per million events)"
                    );
                }
                let mut batch = sled::Batch::default();
                removed += keys.len() as u64;
                keys.into_iter().for_each(|k| batch.remove(k));
                db.apply_batch(batch).map_err(|e| self.failed(e))?;
            }
        }
        // Only written when there is something to remove: most opens find nothing.
        let marker = db.contains_key(OLD_INDEXED).map_err(|e| self.failed(e))?;
        if marker {
            db.remove(OLD_INDEXED).map_err(|e| self.failed(e))?;
        }
        if marker || removed > 0 {
            db.flush().map_err(|e| self.failed(e))?;
        }
        Ok(())
    }

    /// Events about exactly this subject (a segment, or whole-model events when the segment is
    /// `None`), in order.
    pub fn by_subject(&self, subject: &Subject) -> Result<Vec<RecordedEvent>, StoreError> {
        self.seqs_by_subject(&subject.model, Some(subject.segment.as_deref()))?
            .into_iter()
            .map(|s| {
                self.get(s)?.ok_or(StoreError::Corrupt {
                    seq: s,
                    reason: "subject index names a missing event".into(),
                })
            })
            .collect()
    }

    /// The stored events as an [`EventSource`] that takes none of the store's locks but sled's
    /// (a lookup made while a commit holds the head).
    fn file_events(&self) -> Result<FileEvents, StoreError> {
        let files = self.events()?;
        Ok(FileEvents { count: files.len(), files })
    }

    /// Where a command's events are, if the command was appended.
    pub fn command(&self, id: &Uuid) -> Result<Option<CommandRecord>, StoreError> {
        // Read before sled: a sweep raises it before it removes keys.
        let below = self.commands_below.load(SeqCst);
        if let Some(v) = self.db()?.get(command_key(id)).map_err(|e| self.failed(e))? {
            return parse_command_record(id, &v).map(Some);
        }
        if below == 0 {
            return Ok(None);
        }
        self.command_in_runs(id, below)
    }

    /// The command `id` among those whose runs begin before event `below`: looked up in the
    /// event index's runs from genesis, each candidate checked against the event it names;
    /// the events of a range no usable run covers are read instead.
    fn command_in_runs(&self, id: &Uuid, below: u64) -> Result<Option<CommandRecord>, StoreError> {
        let mut runs = self.command_runs.lock().expect("command runs lock");
        self.command_runs_to(&mut runs, below)?;
        let mut unread = Vec::new();
        let mut covered = 0;
        for run in runs.iter().take_while(|r| r.start < below) {
            match run.with_command(id) {
                Ok(seqs) => {
                    for seq in seqs {
                        if let Some(rec) = self.command_at(id, seq)? {
                            return Ok(Some(rec));
                        }
                    }
                }
                Err(reason) => {
                    tracing::warn!(run = %run.path.display(), %reason, "event index run not used to find a command; reading its events");
                    unread.push(run.start..run.end);
                }
            }
            covered = run.end;
        }
        if covered < below {
            unread.push(covered..below);
        }
        drop(runs);
        for range in unread {
            for ev in self.range(range) {
                let ev = ev?;
                if crate::event_index::run_command(&ev).as_ref() == Some(id) {
                    return self.command_at(id, ev.event.seq);
                }
            }
        }
        Ok(None)
    }

    /// The record of command `id` if event `seq` begins its run: the run is the events up to
    /// the next that embeds a command (FORMAT.md section 3).
    fn command_at(&self, id: &Uuid, seq: u64) -> Result<Option<CommandRecord>, StoreError> {
        let Some(ev) = self.get(seq)? else { return Ok(None) };
        let Cause::Command(env) = &ev.event.cause else { return Ok(None) };
        let Ok(cmd) = crate::command::SignedCommand::parse(env.clone()) else { return Ok(None) };
        if cmd.command().id != *id {
            return Ok(None);
        }
        let mut count = 1u32;
        while let Some(next) = self.get(seq + u64::from(count))? {
            if matches!(next.event.cause, Cause::Command(_)) {
                break;
            }
            count += 1;
        }
        Ok(Some(CommandRecord { digest: cmd.digest(), first_seq: seq, count }))
    }

    /// Reads every key sled holds (sled checks each message it reads against its checksum),
    /// and requires each command record to be the one the events give (its run's first event
    /// embeds that command; the digest and count are its run's) and every command whose run
    /// begins at or after `m:commands:runs` to have one. For `pledge verify`; on failure, the
    /// event to report at and why.
    pub fn check_sled_records(&self) -> Result<u64, (u64, String)> {
        let file = self.files.join("db");
        let unreadable =
            |e: &dyn std::fmt::Display| (0, format!("sled's file `{}` cannot be read: {e}", file.display()));
        let db = self.db().map_err(|e| unreadable(&e))?;
        let mut read = 0;
        let mut recorded = std::collections::HashSet::new();
        for kv in db.iter() {
            let (k, v) = kv.map_err(|e| unreadable(&e))?;
            read += 1;
            if k.len() != 17 || k[0] != COMMAND {
                continue;
            }
            let id = Uuid::from_slice(&k[1..]).expect("16 bytes");
            recorded.insert(id);
            let rec = parse_command_record(&id, &v).map_err(|e| (0, e.to_string()))?;
            let want = self.command_at(&id, rec.first_seq).map_err(|e| (rec.first_seq, e.to_string()))?;
            if want != Some(rec) {
                return Err((
                    rec.first_seq.min(self.len()),
                    format!(
                        "sled's record of command `{id}` (in `{}`) is not the one the events give",
                        file.display()
                    ),
                ));
            }
        }
        let below = self.commands_below.load(SeqCst);
        for ev in self.range(below..self.len()) {
            let ev = ev.map_err(|e| (below, e.to_string()))?;
            if let Some(id) = crate::event_index::run_command(&ev) {
                if !recorded.contains(&id) {
                    return Err((
                        ev.event.seq,
                        format!(
                            "sled (`{}`) holds no record of command `{id}`, whose run begins at event {}: sled lost part of its log",
                            file.display(),
                            ev.event.seq
                        ),
                    ));
                }
            }
        }
        Ok(read)
    }

    /// Reads what a lookup of a command below [`Store::commands_below`] reads first (the runs
    /// from genesis and their command tables, checked), so that a writer can do it while
    /// another thread restores its state; errors are left for the lookup to meet.
    pub fn prepare_command_lookups(&self) {
        let below = self.commands_below.load(SeqCst);
        if below == 0 {
            return;
        }
        let mut runs = self.command_runs.lock().expect("command runs lock");
        if self.command_runs_to(&mut runs, below).is_err() {
            return;
        }
        for run in runs.iter().take_while(|r| r.start < below) {
            let _ = run.check_command_table();
        }
    }

    /// Makes `runs` (the cached runs of [`Store::command_runs`]) reach event `below` when they
    /// end before it: the runs covering the events from genesis are listed again, keeping the
    /// command tables already read.
    fn command_runs_to(&self, runs: &mut Vec<crate::event_index::Run>, below: u64) -> Result<(), StoreError> {
        if runs.last().map_or(0, |r| r.end) < below {
            let fresh =
                crate::event_index::cover(&self.dir.join(crate::event_index::DIR), &self.file_events()?)?;
            keep_read_tables(runs, fresh);
        }
        Ok(())
    }

    /// Removes the `c` keys of the commands the event index's runs now cover from genesis
    /// (beyond [`Store::commands_below`]), once their command tables read back: sled then
    /// holds only the commands of the last events, whatever the ledger's length (ADR 0029).
    /// Called by the writer after a commit; cheap when no run was written since (a listing of
    /// the index's directory).
    fn sweep_commands(&self, db: &sled::Db) -> Result<(), StoreError> {
        // Held throughout: sweeps one at a time, so that the mark only rises.
        let mut cached = self.command_runs.lock().expect("command runs lock");
        let below = self.commands_below.load(SeqCst);
        let index = self.dir.join(crate::event_index::DIR);
        if crate::event_index::list(&index).iter().all(|(_, end, _)| *end <= below) {
            return Ok(());
        }
        let runs = crate::event_index::cover(&index, &self.file_events()?)?;
        let mut upto = 0;
        for run in &runs {
            if run.end > below && run.check_command_table().is_err() {
                break;
            }
            upto = run.end;
        }
        if upto <= below {
            return Ok(());
        }
        keep_read_tables(&mut cached, runs);
        self.commands_below.store(upto, SeqCst);
        let mut batch = sled::Batch::default();
        for kv in db.scan_prefix([COMMAND]) {
            let (k, v) = kv.map_err(|e| self.failed(e))?;
            if v.len() == 44 && u64::from_be_bytes(v[32..40].try_into().expect("8 bytes")) < upto {
                batch.remove(k);
            }
        }
        batch.insert(COMMANDS_IN_RUNS, upto.to_be_bytes().to_vec());
        db.apply_batch(batch).map_err(|e| self.failed(e))
    }

    /// The events a command produced.
    pub fn command_events(&self, rec: &CommandRecord) -> Result<Vec<RecordedEvent>, StoreError> {
        self.range(rec.first_seq..rec.first_seq + u64::from(rec.count)).collect()
    }

    /// A named sled tree beside the events, for data derived from them (projection
    /// checkpoints). The event tree itself is never handed out: events are written only by
    /// [`Store::commit`]. Writes to auxiliary trees are not fsynced by this crate; they must be
    /// rebuildable from the events.
    pub fn aux_tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db()?.open_tree(format!("aux:{name}"))?)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        drop(self.indexer.take());
        // A clean close leaves sled durable and the journal empty, so the next open has
        // nothing to re-apply. Failure here loses nothing: the journal still holds the commits.
        if self.read_only.is_some() {
            return;
        }
        if let (Ok(mut wal), Ok(sled)) = (self.wal.lock(), self.sled.read()) {
            if let Some(sled) = sled.as_ref().filter(|_| wal.len() > 0 && wal.frozen().is_none()) {
                let _ = self.checkpoint_with(sled, &mut wal);
            }
        }
    }
}

/// Applies a journaled commit to sled. Atomicity comes from the journal, not from sled: a
/// crash halfway through is repaired by re-applying the whole record at the next open, before
/// anything is read. (A `sled::Batch` would also be atomic, but sled writes every batch to disk
/// at once, competing with the journal's `fdatasync` for the device.)
///
/// The events (`e` keys in the journal's record) go to the event bodies' files, everything
/// else to sled.
fn apply(sled: &Sled, record: Record) -> Result<(), StoreError> {
    for (k, v) in record {
        match event_seq(&k) {
            Some(seq) => sled.events.write(seq, &v)?,
            None => {
                sled.db.insert(k, v)?;
            }
        }
    }
    Ok(())
}

/// Reserves the space in the event bodies' files that re-applying the journal's `records`
/// takes beyond the events the files hold (see [`EventFiles::reserve`]).
fn reserve_for(events: &EventFiles, records: &[Record]) -> Result<(), StoreError> {
    let held = events.len();
    let (mut count, mut bytes) = (0u64, 0u64);
    for (k, v) in records.iter().flatten() {
        if event_seq(k).is_some_and(|seq| seq >= held) {
            count += 1;
            bytes += v.len() as u64;
        }
    }
    if count == 0 {
        return Ok(());
    }
    events.reserve(count, bytes)
}

/// The sequence number of an event's key (`e` + seq, u64 BE), in the journal or in a store
/// still in the older layout; `None` for any other key.
fn event_seq(key: &[u8]) -> Option<u64> {
    (key.len() == 9 && key[0] == EVENT).then(|| seq_from(key)).flatten()
}

/// Applies a journaled commit to a store still in the older layout, events in sled.
fn apply_to_sled(db: &sled::Db, record: Record) -> Result<(), StoreError> {
    for (k, v) in record {
        db.insert(k, v)?;
    }
    Ok(())
}

/// Copies the events of a store in the older layout from sled's `e` keys into the event
/// bodies' files (from the start: a conversion cut short starts over), makes them durable,
/// and marks the store as converted. The keys are removed afterwards
/// ([`remove_events_from_sled`]).
fn move_events_to_files(sled: &Sled, files: &Path) -> Result<(), StoreError> {
    tracing::warn!("moving this store's events out of sled into `events.log` (once; ADR 0020)");
    sled.events.clear()?;
    for kv in sled.db.scan_prefix([EVENT]) {
        let (k, v) = kv?;
        let seq =
            event_seq(&k).ok_or(StoreError::Corrupt { seq: 0, reason: "event key is not 9 bytes".into() })?;
        sled.events.write(seq, &v)?;
    }
    sled.events.sync()?;
    sync_dir(files)?;
    sled.db.insert(IN_FILES, &[])?;
    sled.db.flush()?;
    sled.data_file.sync_data()?;
    Ok(())
}

/// Removes the `e` keys of a converted store from sled, in batches (derived from the files
/// now: an interrupted pass is finished by the next open).
fn remove_events_from_sled(db: &sled::Db) -> Result<(), StoreError> {
    let mut removed = 0u64;
    loop {
        let keys: Vec<sled::IVec> = db.scan_prefix([EVENT]).keys().take(10_000).collect::<Result<_, _>>()?;
        if keys.is_empty() {
            break;
        }
        let mut batch = sled::Batch::default();
        removed += keys.len() as u64;
        keys.into_iter().for_each(|k| batch.remove(k));
        db.apply_batch(batch)?;
    }
    if removed > 0 {
        db.flush()?;
    }
    Ok(())
}

/// Names what a storage error means for the ledger in `dir`: sled's corruption becomes
/// [`StoreError::Damaged`] (naming its file), a full disk [`StoreError::NoSpace`], so that
/// callers match those variants rather than I/O error kinds.
fn classify(e: StoreError, dir: &Path) -> StoreError {
    match e {
        StoreError::Sled(sled::Error::Corruption { at, .. }) => {
            StoreError::Damaged { file: dir.join("db"), offset: at.map(|p| p.lid()) }
        }
        StoreError::Sled(sled::Error::Io(io)) | StoreError::Io(io) if is_full(&io) => {
            StoreError::NoSpace { dir: dir.to_path_buf(), detail: io.to_string() }
        }
        e => e,
    }
}

fn is_full(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

/// A result as an optional value and an optional error, for iterators that start with the
/// error when there is one.
fn split<T>(r: Result<T, StoreError>) -> (Option<T>, Option<StoreError>) {
    match r {
        Ok(t) => (Some(t), None),
        Err(e) => (None, Some(e)),
    }
}

fn tree_key(level: u8, index: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = TREE;
    k[1] = level;
    k[2..].copy_from_slice(&index.to_be_bytes());
    k
}

impl merkle::Nodes for Store {
    fn node(&self, level: u8, index: u64) -> Result<merkle::Hash, String> {
        Store::node(self, level, index)
    }
}

/// Replaces the runs `cached` with `fresh` (a newer cover), keeping the cached one where a run
/// is the same (range and last event), so that a command table read and checked once is not
/// read again: runs are immutable, and a merge makes a new one.
fn keep_read_tables(cached: &mut Vec<crate::event_index::Run>, fresh: Vec<crate::event_index::Run>) {
    let mut old = std::mem::take(cached);
    *cached = fresh
        .into_iter()
        .map(|run| {
            match old.iter().position(|o| (o.start, o.end, o.last) == (run.start, run.end, run.last)) {
                Some(i) => old.swap_remove(i),
                None => run,
            }
        })
        .collect();
}

/// A `c` key's value: payload digest (32), first seq (u64 BE), event count (u32 BE).
fn parse_command_record(id: &Uuid, v: &[u8]) -> Result<CommandRecord, StoreError> {
    if v.len() != 44 {
        return Err(StoreError::Corrupt {
            seq: 0,
            reason: format!("command record for `{id}` is malformed"),
        });
    }
    Ok(CommandRecord {
        digest: Digest(v[..32].try_into().expect("32 bytes")),
        first_seq: u64::from_be_bytes(v[32..40].try_into().expect("8 bytes")),
        count: u32::from_be_bytes(v[40..44].try_into().expect("4 bytes")),
    })
}

fn command_key(id: &Uuid) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = COMMAND;
    k[1..].copy_from_slice(id.as_bytes());
    k
}

#[cfg(test)]
mod index_tests {
    use std::sync::Arc;

    use serde_json::json;

    use crate::canonical::{StepClock, Timestamp};
    use crate::error::StoreError;
    use crate::keys::SecretKey;
    use crate::trust::base_policy;
    use crate::{Cause, Command, ExpectedHead, Ledger, NoDomain, RecordedEvent, Store};
    use std::sync::atomic::Ordering::SeqCst;
    use uuid::Uuid;

    /// Every block of the subject, kind and signer indexes with its bitmap, and the marker.
    fn entries(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
        let db = store.db().unwrap();
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = db
            .iter()
            .map(|kv| kv.unwrap())
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .filter(|(k, _)| {
                [super::SUBJECT, super::KIND, super::SIGNER].contains(&k[0]) || k == super::INDEXED
            })
            .collect();
        out.sort();
        out
    }

    /// The Merkle tree nodes of the levels a store no longer keeps, from its events.
    fn lower_levels(store: &Store) -> Vec<(u8, u64, crate::merkle::Hash)> {
        let mut tree = crate::merkle::CompactRange::default();
        let mut out = Vec::new();
        for ev in store.iter() {
            out.extend(
                tree.push(crate::merkle::leaf_hash(&ev.unwrap().bytes))
                    .into_iter()
                    .filter(|n| n.0 < super::STORED_LEVELS_FROM),
            );
        }
        out
    }

    /// Every key of the older layouts: the indexes' with their marker, the tree's lowest
    /// levels, the index by id.
    fn old_entries(store: &Store) -> Vec<Vec<u8>> {
        let db = store.db().unwrap();
        let old = |k: &[u8]| {
            super::OLD_INDEXES.contains(&k[0])
                || k == super::OLD_INDEXED
                || (k[0] == super::TREE && k[1] < super::STORED_LEVELS_FROM)
                || k[0] == super::HASH
        };
        db.iter().keys().map(|k| k.unwrap().to_vec()).filter(|k| old(k)).collect()
    }

    /// A ledger of `rounds` grants and revocations of roles to maya, all signed by root, and
    /// root's key.
    fn granted(dir: &std::path::Path, rounds: usize) -> (SecretKey, SecretKey) {
        let t0 = Timestamp::parse_exact("2026-02-15T09:00:00.000000Z").unwrap();
        let (root, maya) = (SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32]));
        let ledger_id = uuid::Uuid::now_v7();
        let cmd = |kind: &str, body: serde_json::Value| {
            Command::new(ledger_id, t0, kind, body).sign(&root).unwrap()
        };
        let mut l = Ledger::open(dir, Arc::new(StepClock::new(t0, 1_000_000)), NoDomain).unwrap();
        let genesis = json!({"admins": [{"principal": "root", "public_key": root.public().to_string()}], "policy": base_policy()});
        l.submit(cmd("ledger.create", genesis), ExpectedHead::Any).unwrap();
        l.submit(
            cmd("key.enroll", json!({"principal": "maya", "public_key": maya.public().to_string()})),
            ExpectedHead::Any,
        )
        .unwrap();
        for _ in 0..rounds {
            for kind in ["role.grant", "role.revoke"] {
                l.submit(cmd(kind, json!({"principal": "maya", "role": "scientist"})), ExpectedHead::Any)
                    .unwrap();
            }
        }
        (root, maya)
    }

    /// Given: a store whose indexes an older build wrote, one key per event and its marker;
    /// when it is opened; then those keys are gone and the blocks are exactly what commits
    /// write, answering across blocks.
    #[test]
    fn the_older_layout_of_the_indexes_is_replaced_by_blocks_on_open() {
        let dir = tempfile::tempdir().unwrap();
        // 602 events: 10 blocks of the indexes, and three tree nodes of the kept levels.
        let (root, _) = granted(dir.path(), 300);
        let committed = {
            let store = Store::open(dir.path()).unwrap();
            let e = entries(&store);
            assert!(
                e.iter().any(|(k, _)| k[0] == super::KIND && k.ends_with(&9u64.to_be_bytes())),
                "602 events span 10 blocks"
            );
            let db = store.db().unwrap();
            for (k, _) in &e {
                db.remove(k).unwrap();
            }
            // What the older build wrote: `k` + kind + 0 + seq and `a` + key + seq, empty.
            for ev in store.iter() {
                let ev = ev.unwrap();
                let mut k = vec![b'k'];
                k.extend_from_slice(ev.event.kind.as_bytes());
                k.push(0);
                k.extend_from_slice(&ev.event.seq.to_be_bytes());
                db.insert(k, vec![]).unwrap();
                let mut a = vec![b'a'];
                a.extend_from_slice(root.public().key_id().0.as_bytes());
                a.extend_from_slice(&ev.event.seq.to_be_bytes());
                db.insert(a, vec![]).unwrap();
            }
            db.insert(super::OLD_INDEXED, store.len().to_be_bytes().to_vec()).unwrap();
            // And the Merkle tree's levels below the kept ones, which it stored too.
            assert_eq!(store.unkept_tree_nodes().count(), 0, "a new store keeps none");
            let lower = lower_levels(&store);
            for (level, index, hash) in &lower {
                db.insert(super::tree_key(*level, *index), hash.to_vec()).unwrap();
            }
            // And an index by id: `h` + id -> seq.
            assert_eq!(db.scan_prefix([super::HASH]).count(), 0, "a new store keeps none");
            for ev in store.iter() {
                let ev = ev.unwrap();
                let mut k = vec![super::HASH];
                k.extend_from_slice(ev.hash.as_bytes());
                db.insert(k, ev.event.seq.to_be_bytes().to_vec()).unwrap();
            }
            db.flush().unwrap();
            assert_eq!(lower.len(), 602 + 301 + 150 + 75 + 37 + 18 + 9 + 4);
            assert_eq!(old_entries(&store).len(), 2 * 602 + 1 + lower.len() + 602);
            e
        };
        let store = Store::open(dir.path()).unwrap();
        assert!(store.indexed());
        assert_eq!(old_entries(&store), Vec::<Vec<u8>>::new(), "the older layout is removed");
        assert_eq!(store.tree_nodes(), super::stored_tree_nodes(602));
        assert_eq!(store.tree_nodes(), 2 + 1);
        assert_eq!(entries(&store), committed, "the blocks opening writes are the ones commits write");
        let grants: Vec<u64> =
            store.seqs_by_kind("role.granted", 0..store.len(), false).map(|s| s.unwrap()).collect();
        assert_eq!(grants, (0..300).map(|i| 2 + 2 * i).collect::<Vec<u64>>());
        let back: Vec<u64> = store.seqs_by_kind("role.revoked", 60..130, true).map(|s| s.unwrap()).collect();
        assert_eq!(back, (29..64).rev().map(|i| 3 + 2 * i).collect::<Vec<u64>>());
        let by_root = store.seqs_by_signer(&root.public().key_id(), 63..66, false).map(|s| s.unwrap());
        assert_eq!(by_root.collect::<Vec<_>>(), vec![63, 64, 65]);
    }

    /// Given: a ledger of 562 events (three nodes of the kept levels 8 and 9, and the nodes below
    /// it computed from the events); when roots, inclusion and consistency proofs are asked
    /// for, then they are the ones of a tree built in memory from the leaves. Given: the store
    /// also holds the unkept levels (as one an older build wrote and opened read-only keeps
    /// them); when it is verified; then they pass as long as each is the node its events give;
    /// a changed one fails, named, at every unkept level, and so does one over events the
    /// store does not hold; roots and proofs never read them.
    #[test]
    fn nodes_of_the_unkept_levels_are_computed_and_stored_ones_checked() {
        let dir = tempfile::tempdir().unwrap();
        granted(dir.path(), 280);
        let store = Store::open(dir.path()).unwrap();
        let n = store.len();
        assert_eq!((n, store.tree_nodes()), (562, 3), "two nodes of level 8 and one of level 9 are kept");
        let mut tree = crate::merkle::MemoryTree::default();
        store.iter().for_each(|ev| tree.push(crate::merkle::leaf_hash(&ev.unwrap().bytes)));
        let sizes = |from: u64| {
            (from..=n).step_by(13).chain([255, 256, 257, 511, 512, 513, n]).filter(move |s| *s >= from)
        };
        for seq in (0..n).step_by(11).chain([0, 255, 256, 511, 512, n - 1]) {
            for size in sizes(seq + 1) {
                assert_eq!(
                    store.inclusion_proof(seq, size).unwrap(),
                    crate::merkle::inclusion_proof(&tree, seq, size).unwrap(),
                    "inclusion of {seq} in {size}"
                );
            }
        }
        for old in (1..n).step_by(17).chain([1, 255, 256, 257, 512]) {
            for new in sizes(old) {
                assert_eq!(
                    store.consistency_proof(old, new).unwrap(),
                    crate::merkle::consistency_proof(&tree, old, new).unwrap(),
                    "consistency of {old} with {new}"
                );
            }
        }
        for size in 1..=n {
            assert_eq!(store.tree_root(size).unwrap(), crate::merkle::root(&tree, size).unwrap());
        }
        let db = store.db().unwrap();
        let lower = lower_levels(&store);
        for (level, index, hash) in &lower {
            db.insert(super::tree_key(*level, *index), hash.to_vec()).unwrap();
        }
        assert_eq!(store.unkept_tree_nodes().count(), lower.len());
        crate::verify_store(&store, crate::Verifier::new()).expect("the right nodes verify");
        for level in 0..super::STORED_LEVELS_FROM {
            let &(_, index, hash) = lower.iter().rev().find(|(l, _, _)| *l == level).unwrap();
            db.insert(super::tree_key(level, index), vec![7; 32]).unwrap();
            let f = crate::verify_store(&store, crate::Verifier::new()).unwrap_err();
            assert!(f.to_string().contains(&format!("node (level {level}, index {index}) is not")), "{f}");
            // Not read by proofs: the root is still the events'.
            assert_eq!(store.tree_root(n).unwrap(), crate::merkle::root(&tree, n).unwrap());
            db.insert(super::tree_key(level, index), hash.to_vec()).unwrap();
        }
        // A node of an unkept level past the events.
        db.insert(super::tree_key(3, n / 8), vec![7; 32]).unwrap();
        let f = crate::verify_store(&store, crate::Verifier::new()).unwrap_err();
        assert!(
            f.to_string().contains(&format!("node (level 3, index {}) over events it does not hold", n / 8)),
            "{f}"
        );
        db.remove(super::tree_key(3, n / 8)).unwrap();
        crate::verify_store(&store, crate::Verifier::new()).expect("the right nodes verify again");
        // A kept node changed, then missing.
        let kept = db.get(super::tree_key(8, 1)).unwrap().unwrap();
        db.insert(super::tree_key(8, 1), vec![7; 32]).unwrap();
        let f = crate::verify_store(&store, crate::Verifier::new()).unwrap_err();
        assert!(f.to_string().contains("node (level 8, index 1) is BwcH"), "{f}");
        assert_eq!(f.seq, 511, "reported at the last event it covers");
        db.insert(super::tree_key(8, 1), kept).unwrap();
        db.remove(super::tree_key(8, 0)).unwrap();
        let f = crate::verify_store(&store, crate::Verifier::new()).unwrap_err();
        assert!(f.to_string().contains("node (8, 0) is missing"), "{f}");
    }

    /// Given: a ledger of 1,202 events, one run of the event index and 178 events past it;
    /// when each event is looked up by id, with the runs and after they are removed; then each
    /// is found, an id no event has is not, and sled holds no key by id.
    #[test]
    fn events_are_found_by_id_through_the_runs_and_without_them() {
        let dir = tempfile::tempdir().unwrap();
        granted(dir.path(), 600);
        let runs = crate::event_index::list(&dir.path().join(crate::event_index::DIR));
        assert_eq!(runs.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(), vec![(0, 1024)]);
        type Find<'a> = dyn Fn(&crate::Digest) -> Option<crate::RecordedEvent> + 'a;
        let check = |find: &Find<'_>, store: &Store| {
            assert_eq!(store.len(), 1202);
            for ev in store.iter() {
                let ev = ev.unwrap();
                let found = find(&ev.hash).expect("found by its id");
                assert_eq!((found.seq(), found.bytes), (ev.seq(), ev.bytes));
            }
            // One in the run, one past it: the same first 8 bytes (the run's key), another id.
            for seq in [7, 1100] {
                let mut other = store.get(seq).unwrap().unwrap().hash;
                other.0[31] ^= 1;
                assert!(find(&other).is_none(), "no event has that id");
            }
        };
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.db().unwrap().scan_prefix([super::HASH]).count(), 0);
        check(&|h| store.get_by_hash(h).unwrap(), &store);
        // Without runs (an index being rebuilt or removed): every stored id is read.
        check(&|h| store.find_by_id(h, &[]).unwrap(), &store);
    }

    /// Given: a ledger of 1,202 commands (one event each) written through one open ledger, so
    /// that the event index wrote its run of the first 1,024 events on the way; then sled holds
    /// the records of the 178 commands past the run only, and every command is found with the
    /// record its events give: through the run, then with the run's command table damaged,
    /// then with no run at all (by reading the events); an id one bit away from one in the run
    /// is not found; a command of the run sent again is a resend.
    #[test]
    fn commands_are_found_through_the_runs_once_sled_forgets_them() {
        let dir = tempfile::tempdir().unwrap();
        granted(dir.path(), 600);
        let store = Store::open(dir.path()).unwrap();
        let events: Vec<RecordedEvent> = store.iter().map(|e| e.unwrap()).collect();
        let records = super::command_records(&events).unwrap();
        assert_eq!(records.len(), 1202);
        let keys = |store: &Store| store.db().unwrap().scan_prefix([super::COMMAND]).count();
        assert_eq!(keys(&store), 178, "sled keeps the commands past the run");
        assert_eq!(store.commands_below.load(SeqCst), 1024);
        let mut near = *records[5].0.as_bytes();
        near[15] ^= 1;
        let check = |store: &Store| {
            for (id, rec) in &records {
                assert_eq!(store.command(id).unwrap(), Some(*rec), "command {id}");
            }
            assert_eq!(store.command(&Uuid::from_bytes(near)).unwrap(), None);
            assert_eq!(store.command(&Uuid::nil()).unwrap(), None);
        };
        check(&store);
        // The run's command table damaged (its last byte): the run is not used for commands.
        let run = dir.path().join(crate::event_index::DIR).join(crate::event_index::file_name(0, 1024));
        let mut bytes = std::fs::read(&run).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&run, &bytes).unwrap();
        store.command_runs.lock().unwrap().clear();
        check(&store);
        // No run at all.
        std::fs::remove_file(&run).unwrap();
        store.command_runs.lock().unwrap().clear();
        check(&store);
        drop(store);
        // A command of the run sent again (the run written again by the next open).
        let mut l =
            Ledger::open(dir.path(), Arc::new(StepClock::new(events[1201].event.recorded_at, 1)), NoDomain)
                .unwrap();
        let Cause::Command(env) = events[5].event.cause.clone() else { panic!("event 5 begins a run") };
        let receipt = l.submit(env, ExpectedHead::Any).unwrap();
        assert!(receipt.duplicate, "a resend");
        assert_eq!(receipt.events.iter().map(|e| e.seq()).collect::<Vec<_>>(), vec![5]);
        assert_eq!(l.store().len(), 1202, "nothing written");
    }

    /// Given: a store that keeps every command's record in sled and no mark (as an older build
    /// wrote it); when it is opened and one command committed; then every command is still
    /// found, and the records of the commands the runs cover are removed from sled.
    #[test]
    fn an_older_store_moves_its_command_records_to_the_runs() {
        let dir = tempfile::tempdir().unwrap();
        let (root, _) = granted(dir.path(), 600);
        let records = {
            let store = Store::open(dir.path()).unwrap();
            let events: Vec<RecordedEvent> = store.iter().map(|e| e.unwrap()).collect();
            let records = super::command_records(&events).unwrap();
            let db = store.db().unwrap();
            for (id, rec) in &records {
                let mut v = rec.digest.as_bytes().to_vec();
                v.extend_from_slice(&rec.first_seq.to_be_bytes());
                v.extend_from_slice(&rec.count.to_be_bytes());
                db.insert(super::command_key(id), v).unwrap();
            }
            db.remove(super::COMMANDS_IN_RUNS).unwrap();
            db.flush().unwrap();
            records
        };
        let t = Timestamp::parse_exact("2026-03-15T09:00:00.000000Z").unwrap();
        let mut l = Ledger::open(dir.path(), Arc::new(StepClock::new(t, 1)), NoDomain).unwrap();
        assert_eq!(l.store().commands_below.load(SeqCst), 0);
        for (id, rec) in &records {
            assert_eq!(l.store().command(id).unwrap(), Some(*rec));
        }
        let ledger_id = match &l.store().get(0).unwrap().unwrap().event.cause {
            Cause::Command(env) => {
                crate::command::SignedCommand::parse(env.clone()).unwrap().command().ledger
            }
            Cause::Event(_) => panic!("genesis embeds its command"),
        };
        let grant =
            Command::new(ledger_id, t, "role.grant", json!({"principal": "maya", "role": "scientist"}));
        l.submit(grant.sign(&root).unwrap(), ExpectedHead::Any).unwrap();
        let store = l.store();
        assert_eq!(store.commands_below.load(SeqCst), 1024);
        assert_eq!(store.db().unwrap().scan_prefix([super::COMMAND]).count(), 179);
        for (id, rec) in &records {
            assert_eq!(store.command(id).unwrap(), Some(*rec));
        }
    }

    #[test]
    fn waiting_for_a_stores_lock_ends_when_the_store_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let short = std::time::Duration::from_millis(30);
        assert!(super::wait_until_unlocked(dir.path(), short).is_ok(), "no store, nothing to wait for");
        let store = Store::open(dir.path()).unwrap();
        match super::wait_until_unlocked(dir.path(), short) {
            Err(StoreError::Locked(d)) => assert_eq!(d, dir.path()),
            other => panic!("an open store is locked: {other:?}"),
        }
        drop(store);
        super::wait_until_unlocked(dir.path(), std::time::Duration::from_secs(60)).unwrap();
        Store::open(dir.path()).expect("free once the wait ends");
    }

    #[test]
    fn a_damaged_index_block_is_an_error_not_an_answer() {
        let dir = tempfile::tempdir().unwrap();
        granted(dir.path(), 2);
        let store = Store::open(dir.path()).unwrap();
        let db = store.db().unwrap();
        let (k, _) = entries(&store).into_iter().find(|(k, _)| k[0] == super::KIND).unwrap();
        db.insert(&k, vec![1, 2, 3]).unwrap();
        let kind = std::str::from_utf8(&k[1..k.len() - 9]).unwrap().to_string();
        let got: Vec<_> = store.seqs_by_kind(&kind, 0..store.len(), false).collect();
        assert!(
            matches!(&got[..], [Err(StoreError::Corrupt { reason, .. })] if reason.contains("index block")),
            "{got:?}"
        );
    }

    #[test]
    fn a_store_written_without_the_indexes_is_indexed_on_open_exactly_as_commits_index() {
        let dir = tempfile::tempdir().unwrap();
        let (root, maya) = granted(dir.path(), 2);
        let committed = {
            let store = Store::open(dir.path()).unwrap();
            assert!(store.indexed());
            let kinds: Vec<u64> =
                store.seqs_by_kind("role.granted", 0..store.len(), false).map(|s| s.unwrap()).collect();
            assert_eq!(kinds, vec![2, 4]);
            let reversed: Vec<u64> =
                store.seqs_by_kind("role.revoked", 0..5, true).map(|s| s.unwrap()).collect();
            assert_eq!(reversed, vec![3]);
            let by_root: Vec<u64> = store
                .seqs_by_signer(&root.public().key_id(), 0..store.len(), false)
                .map(|s| s.unwrap())
                .collect();
            assert_eq!(by_root, vec![0, 1, 2, 3, 4, 5]);
            assert_eq!(store.seqs_by_signer(&maya.public().key_id(), 0..6, false).count(), 0);
            let e = entries(&store);
            // As an older build left it: no subject, kind or signer blocks, no marker.
            let db = store.db().unwrap();
            for (k, _) in &e {
                db.remove(k).unwrap();
            }
            db.flush().unwrap();
            e
        };
        let store = Store::open(dir.path()).unwrap();
        assert!(store.indexed());
        assert_eq!(entries(&store), committed, "the entries opening adds are the ones commits write");
    }
}
