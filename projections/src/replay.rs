//! Rebuilding read models from the store: from genesis, as of a point in the past, or from
//! the newest snapshot of the ledger's state (`<ledger>/snapshots/`) before that point.

use ledger::canonical::Timestamp;
use ledger::{Digest, Store, StoreError, Subject};

use crate::events::{decode_str, Decoded};
use crate::state::EventMeta;
use crate::State;

/// A point in the ledger's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOf {
    /// Everything.
    Head,
    /// Events up to and including this sequence number.
    Seq(u64),
    /// Events recorded at or before this time.
    Time(Timestamp),
}

impl AsOf {
    /// Parses `SEQ` (a number) or an RFC 3339 time (`2026-02-16T02:00:00Z`).
    pub fn parse(s: &str) -> Result<AsOf, String> {
        if let Ok(n) = s.parse::<u64>() {
            return Ok(AsOf::Seq(n));
        }
        let t = chrono::DateTime::parse_from_rfc3339(s)
            .map_err(|_| format!("`{s}` is neither a sequence number nor an RFC 3339 time"))?;
        Ok(AsOf::Time(Timestamp::from_datetime(t.with_timezone(&chrono::Utc))))
    }

    /// The last event of `store` this point includes: `None` when it includes none (a time
    /// before the first event, or an empty ledger). A time is found by a binary search over
    /// `recorded_at`, which never decreases along the chain ([`Store::seq_after_time`]).
    pub fn last_event(&self, events: &dyn ledger::EventSource) -> Result<Option<u64>, StoreError> {
        let len = events.count();
        let end = match self {
            AsOf::Head => len,
            AsOf::Seq(n) => n.saturating_add(1).min(len),
            AsOf::Time(t) => events.seq_after_time(*t)?,
        };
        Ok(end.checked_sub(1))
    }

    fn includes(&self, seq: u64, recorded_at: Timestamp) -> bool {
        match self {
            AsOf::Head => true,
            AsOf::Seq(n) => seq <= *n,
            AsOf::Time(t) => recorded_at <= *t,
        }
    }
}

/// Events are decoded in parallel chunks of this many, then folded in order.
const CHUNK: usize = 8192;

type Raw = (u64, Digest, Vec<u8>);

fn read_chunk(
    raw: &mut impl Iterator<Item = Result<Raw, StoreError>>,
    chunk: usize,
) -> Result<Vec<Raw>, StoreError> {
    raw.take(chunk).collect()
}

/// The part of an event a fold reads, borrowed from its bytes; the cause and the rest are
/// skipped while parsing, and the payload is kept as text for its typed decoder.
#[derive(serde::Deserialize)]
struct Parsed<'a> {
    seq: u64,
    kind: String,
    subject: Option<Subject>,
    recorded_at: Timestamp,
    #[serde(borrow)]
    payload: &'a serde_json::value::RawValue,
}

/// What the fold applies of an event: [`Parsed`], with the payload decoded to its type (and
/// as a JSON value only for trust events, whose policy the fold reads from it).
struct Lite {
    seq: u64,
    kind: String,
    subject: Option<Subject>,
    recorded_at: Timestamp,
    payload: serde_json::Value,
}

type DecodedEvent = Result<(Digest, Lite, Decoded), StoreError>;

fn decode_one((seq, hash, bytes): &Raw) -> DecodedEvent {
    let corrupt = |reason: String| StoreError::Corrupt { seq: *seq, reason };
    let p: Parsed<'_> =
        serde_json::from_slice(bytes).map_err(|e| corrupt(format!("not a valid event: {e}")))?;
    // Payloads are decoded here too, on the other cores, straight from their text; the fold
    // only applies them.
    let decoded = decode_str(&p.kind, p.payload.get()).map_err(|e| corrupt(e.to_string()))?;
    let payload = match decoded {
        Decoded::Trust => serde_json::from_str(p.payload.get()).map_err(|e| corrupt(e.to_string()))?,
        Decoded::Domain(_) => serde_json::Value::Null,
    };
    let lite = Lite { seq: p.seq, kind: p.kind, subject: p.subject, recorded_at: p.recorded_at, payload };
    // Reads trust the stored hash; `pledge verify` is what checks it against the bytes.
    Ok((*hash, lite, decoded))
}

/// Folds decoded events into `state` in order, up to `at`: `Ok(true)` when an event past `at`
/// ended it.
fn fold_chunk(state: &mut State, decoded: Vec<DecodedEvent>, at: AsOf) -> Result<bool, StoreError> {
    for ev in decoded {
        let (hash, lite, decoded) = ev?;
        // Sequence and time both grow along the chain: the first excluded event ends it.
        if !at.includes(lite.seq, lite.recorded_at) {
            return Ok(true);
        }
        let meta = EventMeta {
            seq: lite.seq,
            hash,
            kind: &lite.kind,
            subject: lite.subject.as_ref(),
            recorded_at: lite.recorded_at,
            payload: &lite.payload,
        };
        state
            .apply_decoded(&meta, decoded)
            .map_err(|e| StoreError::Corrupt { seq: lite.seq, reason: e.to_string() })?;
    }
    Ok(false)
}

/// Folds the store's events with sequence numbers in `from..` into `state`, up to `at`: a
/// pipeline over chunks, in which this thread folds chunk i in order and then reads chunk
/// i + 2 from the store, while the other cores decode chunk i + 1; this thread helps them once
/// it is done (`ledger::par::overlap`). An event that does not decode or fold is reported at
/// its own sequence number, after every event before it was folded; so is a chunk that cannot
/// be read.
fn fold_from(store: &Store, state: &mut State, from: u64, at: AsOf) -> Result<(), StoreError> {
    fold_in_chunks(store, state, from, at, CHUNK)
}

fn fold_in_chunks(
    store: &Store,
    state: &mut State,
    from: u64,
    at: AsOf,
    chunk: usize,
) -> Result<(), StoreError> {
    let mut raw = store.raw_from(from);
    let mut decoded = ledger::par::par_map(&read_chunk(&mut raw, chunk)?, decode_one);
    let mut next = read_chunk(&mut raw, chunk);
    while !decoded.is_empty() {
        let to_decode: &[Raw] = next.as_deref().unwrap_or_default();
        let (next_decoded, (done, after)) = ledger::par::overlap(to_decode, decode_one, || {
            let done = fold_chunk(state, std::mem::take(&mut decoded), at);
            let more = matches!(done, Ok(false)) && to_decode.len() == chunk;
            (done, if more { read_chunk(&mut raw, chunk) } else { Ok(Vec::new()) })
        });
        if done? {
            return Ok(());
        }
        // Every event before the chunk that could not be read is folded.
        std::mem::replace(&mut next, after)?;
        decoded = next_decoded;
    }
    Ok(())
}

/// Folds the store's events from genesis up to `at`, ignoring snapshots (a full rebuild).
pub fn rebuild(store: &Store, at: AsOf) -> Result<State, StoreError> {
    let mut state = State::default();
    fold_from(store, &mut state, 0, at)?;
    Ok(state)
}

/// [`rebuild`] with chunks of `chunk` events instead of 8,192: for tests of the pipeline
/// (chunk boundaries at every place), not for use.
#[doc(hidden)]
pub fn rebuild_in_chunks_of(store: &Store, at: AsOf, chunk: usize) -> Result<State, StoreError> {
    let mut state = State::default();
    fold_in_chunks(store, &mut state, 0, at, chunk.max(1))?;
    Ok(state)
}

/// Folds the store's events up to `at`, starting from the newest usable snapshot that `at`
/// includes (see [`ledger::snapshot`]): the same state as [`rebuild`], without refolding the
/// history before the snapshot.
pub fn replay(store: &Store, at: AsOf) -> Result<State, StoreError> {
    Ok(replay_from_snapshot(store, at)?.0)
}

/// [`replay`], also returning the sequence number of the snapshot it started from (`None`:
/// from genesis). A snapshot whose domain section does not decode is skipped for an older one;
/// when the events after a snapshot do not fold onto it, the state is rebuilt from genesis
/// (whose errors, if any, are the ones reported).
pub fn replay_from_snapshot(store: &Store, at: AsOf) -> Result<(State, Option<u64>), StoreError> {
    let fits = move |s: &ledger::snapshot::SnapshotFile| at.includes(s.seq, s.recorded_at);
    for (path, mut snap) in ledger::snapshot::usable(store, fits) {
        let section = snap.domain().map_err(|e| e.to_string());
        let mut state = match section.and_then(State::from_snapshot) {
            Ok(state) if state.last_seq == Some(snap.seq) => state,
            Ok(_) => {
                tracing::warn!(path = %path.display(), "snapshot skipped: its state is not of its event");
                continue;
            }
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "snapshot skipped");
                continue;
            }
        };
        match fold_from(store, &mut state, snap.seq + 1, at) {
            Ok(()) => return Ok((state, Some(snap.seq))),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "snapshot not used; rebuilding from genesis");
                break;
            }
        }
    }
    Ok((rebuild(store, at)?, None))
}
