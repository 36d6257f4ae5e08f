//! Rebuilding read models from the store: from genesis, as of a point in the past, or
//! incrementally from a checkpoint kept in the store's auxiliary tree.

use ledger::canonical::Timestamp;
use ledger::{Digest, Store, StoreError};
use serde::{Deserialize, Serialize};

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

    fn includes(&self, ev: &ledger::RecordedEvent) -> bool {
        match self {
            AsOf::Head => true,
            AsOf::Seq(n) => ev.seq() <= *n,
            AsOf::Time(t) => ev.event.recorded_at <= *t,
        }
    }
}

/// Folds the store's events from genesis up to `at`.
pub fn replay(store: &Store, at: AsOf) -> Result<State, StoreError> {
    let mut state = State::default();
    for ev in store.iter() {
        let ev = ev?;
        // Sequence and time both grow along the chain, so the first excluded event ends it.
        if !at.includes(&ev) {
            break;
        }
        state.apply(&ev);
    }
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
    for ev in store.range(cp.seq + 1..) {
        state.apply(&ev?);
    }
    Ok((state, Some(cp.seq)))
}
