//! Rebuilding read models from the store: from genesis, as of a point in the past, or
//! incrementally from a checkpoint kept in the store's auxiliary tree.

use ledger::canonical::Timestamp;
use ledger::{Digest, Store, StoreError, Subject};
use serde::{Deserialize, Serialize};

use crate::events::{decode, Decoded};
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

fn read_chunk(raw: &mut impl Iterator<Item = Result<Raw, StoreError>>) -> Result<Vec<Raw>, StoreError> {
    raw.take(CHUNK).collect()
}

/// The part of an event a fold reads; the cause and the rest are skipped while parsing.
#[derive(serde::Deserialize)]
struct Lite {
    seq: u64,
    kind: String,
    subject: Option<Subject>,
    recorded_at: Timestamp,
    payload: serde_json::Value,
}

fn decode_chunk(chunk: Vec<Raw>) -> Vec<Result<(Digest, Lite, Decoded), StoreError>> {
    ledger::par::par_map_owned(chunk, |(seq, hash, bytes)| {
        let lite: Lite = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt { seq, reason: format!("not a valid event: {e}") })?;
        // Payloads are decoded here too, on the other cores; the fold only applies them.
        let decoded = decode(&lite.kind, &lite.payload)
            .map_err(|e| StoreError::Corrupt { seq, reason: e.to_string() })?;
        // Reads trust the stored hash; `pledge verify` is what checks it against the bytes.
        Ok((hash, lite, decoded))
    })
}

/// Folds the store's events with sequence numbers in `from..` into `state`, up to `at`.
/// Chunks are decoded on the other cores while this thread folds the previous chunk in order.
fn fold_from(store: &Store, state: &mut State, from: u64, at: AsOf) -> Result<(), StoreError> {
    let mut raw = store.raw_from(from);
    let mut decoded = decode_chunk(read_chunk(&mut raw)?);
    while !decoded.is_empty() {
        let next = read_chunk(&mut raw)?;
        let (next_decoded, done) = std::thread::scope(|s| {
            let worker = s.spawn(|| decode_chunk(next));
            let mut done = Ok(false);
            for ev in decoded {
                match ev {
                    // Sequence and time both grow along the chain: the first excluded event ends it.
                    Ok((_, lite, _)) if !at.includes(lite.seq, lite.recorded_at) => {
                        done = Ok(true);
                        break;
                    }
                    Ok((hash, lite, decoded)) => {
                        let meta = EventMeta {
                            seq: lite.seq,
                            hash,
                            kind: &lite.kind,
                            subject: lite.subject.as_ref(),
                            recorded_at: lite.recorded_at,
                            payload: &lite.payload,
                        };
                        if let Err(e) = state.apply_decoded(&meta, decoded) {
                            done = Err(StoreError::Corrupt { seq: lite.seq, reason: e.to_string() });
                            break;
                        }
                    }
                    Err(e) => {
                        done = Err(e);
                        break;
                    }
                }
            }
            (worker.join().expect("decoder thread panicked"), done)
        });
        if done? {
            return Ok(());
        }
        decoded = next_decoded;
    }
    Ok(())
}

/// Folds the store's events from genesis up to `at`.
pub fn replay(store: &Store, at: AsOf) -> Result<State, StoreError> {
    let mut state = State::default();
    fold_from(store, &mut state, 0, at)?;
    Ok(state)
}

const CHECKPOINT_TREE: &str = "projections";
const CHECKPOINT_KEY: &[u8] = b"state";

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    seq: u64,
    /// Hash of the event at `seq`: a checkpoint only resumes the chain it was taken from.
    event: Digest,
    digest: Digest,
    state: State,
}

/// Saves `state` as the checkpoint (it must reflect the events up to `state.last_seq`).
pub fn save_checkpoint(store: &Store, state: &State) -> Result<(), StoreError> {
    let Some(seq) = state.last_seq else { return Ok(()) };
    let event =
        store.get(seq)?.ok_or(StoreError::Corrupt { seq, reason: "checkpoint beyond the head".into() })?.hash;
    let cp = Checkpoint { seq, event, digest: state.digest(), state: state.clone() };
    let bytes = serde_json::to_vec(&cp).map_err(|e| StoreError::Encoding(e.to_string()))?;
    store.aux_tree(CHECKPOINT_TREE)?.insert(CHECKPOINT_KEY, bytes)?;
    Ok(())
}

/// Loads the checkpoint if it is intact and not ahead of the store, then folds the events
/// after it: the same state as [`replay`] to the head, without refolding history. Falls back
/// to a full rebuild when there is no usable checkpoint. Returns the state and the sequence
/// number the checkpoint covered (`None`: rebuilt from genesis).
pub fn resume(store: &Store) -> Result<(State, Option<u64>), StoreError> {
    let tree = store.aux_tree(CHECKPOINT_TREE)?;
    let cp = tree
        .get(CHECKPOINT_KEY)?
        .and_then(|b| serde_json::from_slice::<Checkpoint>(&b).ok())
        .filter(|cp| cp.state.digest() == cp.digest && cp.state.last_seq == Some(cp.seq))
        .filter(|cp| store.get(cp.seq).ok().flatten().is_some_and(|e| e.hash == cp.event));
    let Some(cp) = cp else { return Ok((replay(store, AsOf::Head)?, None)) };
    let mut state = cp.state;
    fold_from(store, &mut state, cp.seq + 1, AsOf::Head)?;
    Ok((state, Some(cp.seq)))
}
